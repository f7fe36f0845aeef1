//! The records the store reads and writes: plain data, no SQL.

/// Who makes a change, and when: every write records it in the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audit {
    /// `user:NAME`, `host:ID`, `system`, `cli`.
    pub actor: String,
    /// Unix seconds.
    pub at: i64,
}

/// A user to create. `password_hash` is an argon2id PHC string; the store never sees a password.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: String,
    pub username: String,
    pub password_hash: String,
    pub role: String,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub username: String,
    pub password_hash: String,
    pub role: String,
}

#[derive(Debug, Clone)]
pub struct NewApiToken {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub role: String,
    /// SHA-256 of the token, hex: tokens are long random secrets, so a fast hash suffices.
    pub token_hash: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOwner {
    pub token_id: String,
    pub user_id: String,
    pub username: String,
    pub role: String,
}

/// Labels an enrollment token gives every host enrolled with it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Labels {
    pub department: String,
    pub platform_class: String,
    pub environment: String,
}

#[derive(Debug, Clone)]
pub struct NewEnrollmentToken {
    pub id: String,
    pub token_hash: String,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub uses: i64,
    pub labels: Labels,
}

#[derive(Debug, Clone)]
pub struct NewHost {
    pub id: String,
    pub hostname: String,
    pub machine_id: String,
    pub credential_hash: String,
}

/// An agent's host as its credential finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSession {
    pub host_id: String,
    pub last_sequence: i64,
    pub inventory_hash: String,
    /// The facts last stored (JSON), to tell whether a report changes them.
    pub facts: String,
    pub platform_class: String,
    /// The server asked for a fresh inventory (a post-patch audit scan, §13.1).
    pub scan_requested: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressRow {
    pub interface: String,
    pub ip: String,
    pub mac: String,
}

/// One package record as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoftwareRow {
    pub name: String,
    pub version: String,
    pub arch: Option<String>,
    pub source: Option<String>,
    pub source_version: Option<String>,
    pub module: Option<String>,
}

impl SoftwareRow {
    /// The distinct-record key: equal records on hosts of one ecosystem share one row.
    pub fn key(&self, ecosystem: &str) -> String {
        let o = |v: &Option<String>| v.clone().unwrap_or_default();
        format!(
            "{ecosystem}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}",
            self.name,
            self.version,
            o(&self.arch),
            o(&self.source),
            o(&self.source_version),
            o(&self.module)
        )
    }
}

#[derive(Debug, Clone)]
pub struct InventoryRecord {
    pub hash: String,
    pub format: String,
    pub ecosystem: String,
    pub packages: Vec<SoftwareRow>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FindingRow {
    pub package: String,
    pub source: String,
    pub installed: String,
    pub fixed: Option<String>,
    pub advisory: String,
    /// Space-separated CVE ids.
    pub cves: String,
    pub severity: Option<String>,
    pub kev: bool,
    pub epss: Option<f64>,
}

/// One report and everything it brings, stored in one transaction.
#[derive(Debug, Clone)]
pub struct ReportRecord {
    pub host_id: String,
    pub sequence: i64,
    pub created_at: String,
    pub received_at: i64,
    pub hostname: String,
    pub os: String,
    pub facts_json: String,
    pub addresses: Vec<AddressRow>,
    /// The host's platform class label, under which its package names are remembered.
    pub platform_class: String,
    pub dropped: i64,
    pub inventory: Option<InventoryRecord>,
    /// New findings, when the report changed them.
    pub findings: Option<Vec<FindingRow>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    pub stored_through: i64,
    /// Whether this report was new (false: a re-sent one, acknowledged again).
    pub stored: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HostRow {
    pub id: String,
    pub hostname: String,
    pub os: String,
    pub labels: Labels,
    pub last_seen: Option<i64>,
    pub revoked: bool,
    pub last_sequence: i64,
    pub dropped_reports: i64,
    /// When the host last sent its whole inventory.
    pub inventory_at: Option<i64>,
    /// When the server asked it for a fresh inventory not yet received (§13.1).
    pub scan_requested_at: Option<i64>,
    pub findings: i64,
    pub packages: i64,
    pub addresses: Vec<AddressRow>,
    /// Directory groups (§7.2.2).
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchRow {
    pub advisory: String,
    pub package: String,
    pub fixed: Option<String>,
    pub severity: Option<String>,
    pub kev: bool,
    pub epss: Option<f64>,
    pub cves: String,
    pub hosts: i64,
}

impl FeedSource {
    /// A source with its content, not yet counted; a URL-registered source starts empty.
    pub fn new(
        name: &str,
        kind: &str,
        content: Vec<u8>,
        sha256: String,
        imported_at: i64,
        url: Option<String>,
    ) -> FeedSource {
        FeedSource {
            name: name.to_owned(),
            kind: kind.to_owned(),
            content,
            sha256,
            imported_at,
            url,
            etag: None,
            last_modified: None,
            records: 0,
            advisories: 0,
            rejected: 0,
            last_error: None,
        }
    }
}

/// An advisory source as imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedSource {
    pub name: String,
    /// `advisories`, `kev` or `epss`.
    pub kind: String,
    pub content: Vec<u8>,
    pub sha256: String,
    pub imported_at: i64,
    pub url: Option<String>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub records: i64,
    pub advisories: i64,
    pub rejected: i64,
    pub last_error: Option<String>,
}
