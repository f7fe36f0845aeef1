//! The agent ⇄ server wire types, version 1 (`/api/v1/agent/…`).
//!
//! Architecture invariant: only this crate's types are `Serialize`/`Deserialize` on the agent path;
//! the server converts them into domain values at its edge and checks everything the domain needs.
//! Fields are only ever added, with defaults, so an older agent keeps working against a newer server.

use serde::{Deserialize, Serialize};

/// Exchanges an enrollment token for the host's own credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollRequest {
    pub token: String,
    pub hostname: String,
    #[serde(default)]
    pub machine_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollResponse {
    pub host_id: String,
    /// Secret shown once; the agent keeps it in a 0600 file, the server only its hash.
    pub credential: String,
}

/// What an agent knows about its host besides software (§8.5 hardware inventory).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    pub hostname: String,
    #[serde(default)]
    pub fqdn: String,
    #[serde(default)]
    pub machine_id: String,
    /// The OSV ecosystem from `/etc/os-release`, e.g. `Debian:12`; empty if unsupported.
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub os_pretty_name: String,
    #[serde(default)]
    pub kernel: String,
    #[serde(default)]
    pub domain: String,
    #[serde(default)]
    pub addresses: Vec<Address>,
    #[serde(default)]
    pub hardware: Hardware,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub interface: String,
    pub ip: String,
    #[serde(default)]
    pub mac: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hardware {
    #[serde(default)]
    pub cpu_model: String,
    #[serde(default)]
    pub cpus: u32,
    #[serde(default)]
    pub memory_bytes: u64,
    #[serde(default)]
    pub disks: Vec<Disk>,
    #[serde(default)]
    pub vendor: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub serial: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disk {
    pub name: String,
    pub size_bytes: u64,
}

/// One installed package as the agent read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    pub name: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
}

/// The host's software; sent only when its hash changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    /// `dpkg-status`, `rpm-qa` or `apk`: which version rules the packages follow.
    pub format: String,
    pub packages: Vec<Package>,
}

/// One report from the agent's outbox. `sequence` increases by one per report and host; the server
/// stores each sequence once, so a report sent twice (after a timeout, a crash, a restart) is
/// acknowledged again but not stored again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub sequence: u64,
    /// When the agent made the report (RFC 3339).
    pub created_at: String,
    pub facts: Facts,
    /// SHA-256 of the inventory, hex; the server asks for the inventory when it does not have it.
    pub inventory_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<Inventory>,
    /// Reports the agent's outbox had to drop since the last delivered one.
    #[serde(default)]
    pub dropped: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportResponse {
    /// The highest sequence stored for this host: everything up to it can leave the outbox.
    pub stored_through: u64,
    /// The server does not hold the inventory with this hash: send it with the next report.
    pub send_inventory: bool,
    /// How often to check in, in seconds.
    pub interval_seconds: u64,
    /// Jobs to carry out now, most urgent first (§12, §14.1).
    #[serde(default)]
    pub jobs: Vec<Job>,
}

/// One host's part of a change: packages to bring to the given versions through the host's
/// package manager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub id: String,
    pub change: String,
    pub emergency: bool,
    /// `never`, `if_required` or `always` (the agent reports a needed reboot; it never reboots on
    /// its own).
    pub reboot: String,
    pub items: Vec<JobItem>,
    /// A rolled-back change's job: bring the packages back to the versions it replaced.
    #[serde(default)]
    pub rollback: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobItem {
    pub package: String,
    pub version: String,
    /// A file from the server's patch store to install, by SHA-256; the agent checks the bytes it
    /// receives against it before installing (§14.4). Absent: from the host's repositories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The version installed before (what a rollback returns to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
}

/// What became of a job on the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobResult {
    /// `succeeded`, `failed` or `reboot_required`.
    pub status: String,
    /// The package manager's exit status, if it ran.
    #[serde(default)]
    pub exit_status: Option<i32>,
    /// The last lines of its output.
    #[serde(default)]
    pub output: String,
}

/// The error body of every API error: `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}
