//! What the agent knows about its host: identity, OS, hardware, network (§8.5) and installed
//! software (§7.5.3), read from a root directory (`/` on a real host, a prepared tree in tests).

use std::path::{Path, PathBuf};
use std::process::Command;

use patchwarden_domain::ecosystem::Ecosystem;
use patchwarden_domain::inventory::{self, InstalledPackage, InventoryFormat};
use patchwarden_proto::{Address, Disk, Facts, Hardware, Inventory, Package};

use crate::adapters::rpm::{self, RpmDatabase};

/// Where to read the host from.
#[derive(Debug, Clone)]
pub struct Sources {
    /// The root of the host's file system.
    pub root: PathBuf,
    /// Read rpm's database here instead of under the root (`--dbpath`).
    pub rpm_dbpath: Option<PathBuf>,
    pub rpm_berkeley_db: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error("{}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("{0}")]
    Rpm(#[from] rpm::RpmError),
    #[error("no package database found under {0} (looked for dpkg, rpm and apk)")]
    NoPackageDatabase(PathBuf),
}

/// The largest local file the agent reads (a dpkg status file of 20,000 packages is about 40 MB).
const MAX_FILE: u64 = 256 << 20;

fn read(path: &Path) -> Result<String, CollectError> {
    let fail = |source| CollectError::Read {
        path: path.to_owned(),
        source,
    };
    let size = std::fs::metadata(path).map_err(fail)?.len();
    if size > MAX_FILE {
        return Err(CollectError::Parse {
            path: path.to_owned(),
            message: format!("is {size} bytes, over {MAX_FILE}"),
        });
    }
    let bytes = std::fs::read(path).map_err(fail)?;
    patchwarden_domain::text::decode(&bytes).map_err(|e| CollectError::Parse {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn read_trimmed(path: &Path) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

impl Sources {
    fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// The host's facts. Identity and OS come from the root; kernel, network and hardware from the
    /// running system (`/proc`, `/sys`, `ip`), which a root directory cannot fake.
    pub fn facts(&self) -> Facts {
        let hostname = read_trimmed(Path::new("/proc/sys/kernel/hostname"));
        let domain = read_trimmed(Path::new("/proc/sys/kernel/domainname"));
        let os_release = std::fs::read_to_string(self.path("etc/os-release")).unwrap_or_default();
        let pretty = os_release
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map(|v| v.trim_matches('"').to_owned())
            .unwrap_or_default();
        // The kernel's NIS domain name is "(none)" on most hosts; a directory join wins over it.
        let kernel_domain = Some(domain).filter(|d| !d.is_empty() && d != "(none)");
        let domain = self.directory_domain().or(kernel_domain).unwrap_or_default();
        Facts {
            fqdn: if domain.is_empty() {
                hostname.clone()
            } else {
                format!("{hostname}.{domain}")
            },
            domain,
            hostname,
            machine_id: read_trimmed(&self.path("etc/machine-id")),
            os: self.ecosystem().map(|e| e.name().to_owned()).unwrap_or_default(),
            os_pretty_name: pretty,
            kernel: read_trimmed(Path::new("/proc/sys/kernel/osrelease")),
            addresses: addresses(),
            hardware: hardware(),
        }
    }

    /// The directory (Active Directory / Kerberos) domain the host is joined to: SSSD's first
    /// domain, else Kerberos's default realm, else none.
    pub fn directory_domain(&self) -> Option<String> {
        let sssd = std::fs::read_to_string(self.path("etc/sssd/sssd.conf")).unwrap_or_default();
        let krb5 = std::fs::read_to_string(self.path("etc/krb5.conf")).unwrap_or_default();
        let value = |text: &str, key: &str| {
            text.lines().find_map(|l| {
                let (k, v) = l.split_once('=')?;
                (k.trim() == key).then(|| v.split(',').next().unwrap_or_default().trim().to_owned())
            })
        };
        value(&sssd, "domains")
            .or_else(|| value(&krb5, "default_realm"))
            .filter(|d| !d.is_empty())
    }

    /// The host's ecosystem, from `etc/os-release` (CentOS has no feed: it is reported as AlmaLinux,
    /// whose packages it shares, with the same major release).
    pub fn ecosystem(&self) -> Option<Ecosystem> {
        let text = std::fs::read_to_string(self.path("etc/os-release")).ok()?;
        Ecosystem::from_os_release(&text).ok().or_else(|| {
            let id = text.lines().find_map(|l| l.strip_prefix("ID="))?.trim_matches('"');
            let version = text
                .lines()
                .find_map(|l| l.strip_prefix("VERSION_ID="))?
                .trim_matches('"');
            (id == "centos" || id == "rhel")
                .then(|| Ecosystem::parse(&format!("AlmaLinux:{}", version.split('.').next()?)).ok())?
        })
    }

    /// The installed packages and their format, from whichever package database the root has.
    pub fn software(&self) -> Result<(InventoryFormat, Vec<InstalledPackage>), CollectError> {
        let dpkg = self.path("var/lib/dpkg/status");
        let apk = self.path("lib/apk/db/installed");
        let parse = |format: InventoryFormat, path: &Path| -> Result<_, CollectError> {
            let packages = inventory::parse(format, &read(path)?).map_err(|e| CollectError::Parse {
                path: path.to_owned(),
                message: e.to_string(),
            })?;
            Ok((format, packages))
        };
        if let Some(dbpath) = &self.rpm_dbpath {
            let database = RpmDatabase {
                dbpath: Some(dbpath.clone()),
                berkeley_db: self.rpm_berkeley_db,
            };
            return Ok((InventoryFormat::RpmQa, rpm::installed(&database)?));
        }
        if dpkg.exists() {
            return parse(InventoryFormat::DpkgStatus, &dpkg);
        }
        if apk.exists() {
            return parse(InventoryFormat::Apk, &apk);
        }
        let rpmdb = self.path("var/lib/rpm");
        if rpmdb.exists() {
            let database = RpmDatabase {
                dbpath: Some(rpmdb),
                berkeley_db: self.rpm_berkeley_db,
            };
            return Ok((InventoryFormat::RpmQa, rpm::installed(&database)?));
        }
        Err(CollectError::NoPackageDatabase(self.root.clone()))
    }

    /// The inventory as it goes on the wire.
    pub fn inventory(&self) -> Result<Inventory, CollectError> {
        let (format, packages) = self.software()?;
        Ok(Inventory {
            format: format.name().to_owned(),
            packages: packages.iter().map(wire_package).collect(),
        })
    }
}

/// A package as it goes on the wire.
pub fn wire_package(p: &InstalledPackage) -> Package {
    Package {
        name: p.name.clone(),
        version: p.version.to_string(),
        arch: p.arch.clone(),
        source: p.source.clone(),
        source_version: p.source_version.as_ref().map(ToString::to_string),
        module: p.module.clone(),
    }
}

/// Addresses from `ip -json addr`, loopback left out.
fn addresses() -> Vec<Address> {
    let Ok(out) = Command::new("ip").args(["-json", "addr", "show"]).output() else {
        return Vec::new();
    };
    let Ok(links) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else {
        return Vec::new();
    };
    let mut addresses = Vec::new();
    for link in links.as_array().into_iter().flatten() {
        let interface = link["ifname"].as_str().unwrap_or_default();
        if interface == "lo" {
            continue;
        }
        let mac = link["address"].as_str().unwrap_or_default();
        for info in link["addr_info"].as_array().into_iter().flatten() {
            if let Some(ip) = info["local"].as_str() {
                addresses.push(Address {
                    interface: interface.to_owned(),
                    ip: ip.to_owned(),
                    mac: mac.to_owned(),
                });
            }
        }
    }
    addresses
}

fn hardware() -> Hardware {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_kb: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let mut disks = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/sys/block") {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("loop") || name.starts_with("ram") {
                continue;
            }
            let sectors: u64 = read_trimmed(&entry.path().join("size")).parse().unwrap_or(0);
            disks.push(Disk {
                name,
                size_bytes: sectors * 512,
            });
        }
    }
    disks.sort_by(|a, b| a.name.cmp(&b.name));
    let dmi = |field: &str| read_trimmed(&Path::new("/sys/class/dmi/id").join(field));
    Hardware {
        cpu_model: cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
            .unwrap_or_default(),
        cpus: u32::try_from(cpuinfo.lines().filter(|l| l.starts_with("processor")).count()).unwrap_or(0),
        memory_bytes: memory_kb * 1024,
        disks,
        vendor: dmi("sys_vendor"),
        model: dmi("product_name"),
        serial: dmi("product_serial"),
    }
}
