//! Ecosystems: which distribution release a host runs and an advisory speaks of, named as OSV names
//! them (`Debian:12`, `Ubuntu:20.04:LTS`, `AlmaLinux:8`, `Alpine:v3.18`).

use std::fmt;

use crate::version::VersionScheme;

/// The distribution families whose packages patchwarden can assess.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    Debian,
    Ubuntu,
    AlmaLinux,
    Rocky,
    RedHat,
    Alpine,
}

impl Family {
    pub fn scheme(self) -> VersionScheme {
        match self {
            Family::Debian | Family::Ubuntu => VersionScheme::Deb,
            Family::AlmaLinux | Family::Rocky | Family::RedHat => VersionScheme::Rpm,
            Family::Alpine => VersionScheme::Apk,
        }
    }

    /// Whether this family's advisories name source packages (Debian, Ubuntu) rather than the
    /// binary packages a host has installed (the RHEL family, Alpine's OSV also names origins).
    pub fn advisories_name_sources(self) -> bool {
        matches!(self, Family::Debian | Family::Ubuntu | Family::Alpine)
    }
}

/// One distribution release, e.g. `Ubuntu:20.04:LTS` or `Ubuntu:Pro:16.04:LTS`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ecosystem {
    family: Family,
    name: Box<str>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EcosystemError {
    #[error(
        "unknown ecosystem {0:?} (known: Debian:N, Ubuntu:N.N[:LTS], Ubuntu:Pro:…, AlmaLinux:N, Rocky Linux:N, Red Hat:…, Alpine:vN.N)"
    )]
    Unknown(String),
    #[error("ecosystem {0:?} names no release (write it as {1})")]
    NoRelease(String, &'static str),
    #[error("/etc/os-release has no {0}")]
    MissingField(&'static str),
    #[error(
        "/etc/os-release names ID={0:?}, which has no advisory feed; pass the ecosystem to assess it against (for example AlmaLinux:8 for CentOS 8)"
    )]
    UnsupportedOs(String),
}

impl Ecosystem {
    /// Reads an OSV ecosystem name. Only distribution ecosystems are known; language ecosystems
    /// (npm, PyPI…) are refused so that importers can count and skip them.
    pub fn parse(name: &str) -> Result<Ecosystem, EcosystemError> {
        let (prefix, release) = name.split_once(':').unwrap_or((name, ""));
        let (family, example) = match prefix {
            "Debian" => (Family::Debian, "Debian:12"),
            "Ubuntu" => (Family::Ubuntu, "Ubuntu:20.04:LTS"),
            "AlmaLinux" => (Family::AlmaLinux, "AlmaLinux:8"),
            "Rocky Linux" => (Family::Rocky, "Rocky Linux:8"),
            "Red Hat" => (Family::RedHat, "Red Hat:enterprise_linux:8"),
            "Alpine" => (Family::Alpine, "Alpine:v3.18"),
            _ => return Err(EcosystemError::Unknown(name.to_owned())),
        };
        if release.is_empty() {
            return Err(EcosystemError::NoRelease(name.to_owned(), example));
        }
        Ok(Ecosystem {
            family,
            name: name.into(),
        })
    }

    /// The ecosystem of a host from the text of its `/etc/os-release`.
    pub fn from_os_release(text: &str) -> Result<Ecosystem, EcosystemError> {
        let field = |key: &str| {
            text.lines().find_map(|line| {
                let value = line.strip_prefix(key)?.strip_prefix('=')?;
                Some(value.trim().trim_matches(|c| c == '"' || c == '\'').to_owned())
            })
        };
        let id = field("ID").ok_or(EcosystemError::MissingField("ID"))?;
        let version_id = || field("VERSION_ID").ok_or(EcosystemError::MissingField("VERSION_ID"));
        let major = |v: String| v.split('.').next().unwrap_or_default().to_owned();
        let name = match id.as_str() {
            "debian" => format!("Debian:{}", major(version_id()?)),
            "ubuntu" => {
                let version = version_id()?;
                let lts = field("VERSION").is_some_and(|v| v.contains("LTS"));
                if lts {
                    format!("Ubuntu:{version}:LTS")
                } else {
                    format!("Ubuntu:{version}")
                }
            }
            "almalinux" => format!("AlmaLinux:{}", major(version_id()?)),
            "rocky" => format!("Rocky Linux:{}", major(version_id()?)),
            "alpine" => {
                let version = version_id()?;
                let minor: Vec<&str> = version.split('.').take(2).collect();
                format!("Alpine:v{}", minor.join("."))
            }
            _ => return Err(EcosystemError::UnsupportedOs(id)),
        };
        Ecosystem::parse(&name)
    }

    pub fn family(&self) -> Family {
        self.family
    }

    pub fn scheme(&self) -> VersionScheme {
        self.family.scheme()
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl fmt::Debug for Ecosystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ecosystem({})", self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_names_the_osv_ecosystem() {
        let ubuntu = "NAME=\"Ubuntu\"\nVERSION=\"20.04 LTS (Focal Fossa)\"\nID=ubuntu\nVERSION_ID=\"20.04\"\n";
        assert_eq!(Ecosystem::from_os_release(ubuntu).unwrap().name(), "Ubuntu:20.04:LTS");
        let alma = "ID=\"almalinux\"\nVERSION_ID=\"8.10\"\n";
        assert_eq!(Ecosystem::from_os_release(alma).unwrap().name(), "AlmaLinux:8");
        let alpine = "ID=alpine\nVERSION_ID=3.18.4\n";
        assert_eq!(Ecosystem::from_os_release(alpine).unwrap().name(), "Alpine:v3.18");
        let debian = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_ID=\"12\"\nID=debian\n";
        assert_eq!(Ecosystem::from_os_release(debian).unwrap().name(), "Debian:12");
        assert!(matches!(
            Ecosystem::from_os_release("ID=centos\nVERSION_ID=8\n"),
            Err(EcosystemError::UnsupportedOs(_))
        ));
    }

    #[test]
    fn language_ecosystems_are_unknown() {
        assert!(matches!(Ecosystem::parse("npm"), Err(EcosystemError::Unknown(_))));
        assert!(matches!(Ecosystem::parse("Debian"), Err(EcosystemError::NoRelease(..))));
        assert_eq!(
            Ecosystem::parse("Ubuntu:Pro:16.04:LTS").unwrap().family(),
            Family::Ubuntu
        );
    }
}
