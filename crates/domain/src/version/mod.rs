//! Package versions and their ordering, one scheme per package format.
//!
//! A [`Version`] keeps the text it was read from and orders, compares and hashes by its scheme's
//! rules, so `1.09` and `1.9` are one key in every map and set (§7.5.2: a missed or doubled patch is
//! a wrong answer).

mod apk;
mod deb;
mod rpm;

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

/// The ordering rules of one package format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum VersionScheme {
    /// dpkg: Debian, Ubuntu.
    Deb,
    /// rpm: RHEL, AlmaLinux, Rocky, CentOS, Fedora, SUSE.
    Rpm,
    /// apk: Alpine.
    Apk,
}

impl VersionScheme {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            VersionScheme::Deb => "debian",
            VersionScheme::Rpm => "rpm",
            VersionScheme::Apk => "alpine",
        }
    }

    /// Reads a scheme from its command-line name (`debian`/`deb`, `rpm`, `alpine`/`apk`).
    pub fn from_name(name: &str) -> Option<VersionScheme> {
        match name {
            "debian" | "deb" | "dpkg" | "ubuntu" => Some(VersionScheme::Deb),
            "rpm" | "redhat" => Some(VersionScheme::Rpm),
            "alpine" | "apk" => Some(VersionScheme::Apk),
            _ => None,
        }
    }
}

/// Why a version string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("version is empty")]
    Empty,
    #[error("version has white space at byte {at}")]
    Whitespace { at: usize },
    #[error("epoch is not a number")]
    BadEpoch,
    #[error("nothing after the epoch's colon")]
    NothingAfterColon,
    #[error("revision after the last hyphen is empty")]
    EmptyRevision,
    #[error("upstream version is empty")]
    EmptyUpstream,
}

/// A version in one scheme. Equality and hashing follow the scheme's ordering, not the text.
#[derive(Clone)]
pub struct Version {
    scheme: VersionScheme,
    text: Box<str>,
}

impl Version {
    /// Checks `text` against the scheme's syntax and keeps it.
    pub fn parse(scheme: VersionScheme, text: &str) -> Result<Version, VersionError> {
        check(scheme, text)?;
        Ok(Version {
            scheme,
            text: text.into(),
        })
    }

    pub fn scheme(&self) -> VersionScheme {
        self.scheme
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

fn check(scheme: VersionScheme, text: &str) -> Result<(), VersionError> {
    match scheme {
        VersionScheme::Deb => deb::parse(text).map(drop),
        VersionScheme::Rpm => rpm::parse(text).map(drop),
        VersionScheme::Apk if text.is_empty() => Err(VersionError::Empty),
        VersionScheme::Apk => Ok(()),
    }
}

/// Compares two version strings under `scheme`, checking both.
pub fn compare(scheme: VersionScheme, a: &str, b: &str) -> Result<Ordering, VersionError> {
    Ok(match scheme {
        VersionScheme::Deb => deb::compare(&deb::parse(a)?, &deb::parse(b)?),
        VersionScheme::Rpm => rpm::compare(&rpm::parse(a)?, &rpm::parse(b)?),
        VersionScheme::Apk => {
            check(scheme, a)?;
            check(scheme, b)?;
            apk::compare(&apk::parse(a), &apk::parse(b))
        }
    })
}

/// Compares two already-checked versions of one scheme.
fn compare_checked(scheme: VersionScheme, a: &str, b: &str) -> Ordering {
    match scheme {
        VersionScheme::Deb => match (deb::parse(a), deb::parse(b)) {
            (Ok(a), Ok(b)) => deb::compare(&a, &b),
            // Unreachable for checked versions; falling back to text keeps the order total.
            _ => a.cmp(b),
        },
        VersionScheme::Rpm => match (rpm::parse(a), rpm::parse(b)) {
            (Ok(a), Ok(b)) => rpm::compare(&a, &b),
            _ => a.cmp(b),
        },
        VersionScheme::Apk => apk::compare(&apk::parse(a), &apk::parse(b)),
    }
}

/// A run of digits without its leading zeros: the digits that carry its value.
fn strip_zeros(digits: &[u8]) -> &[u8] {
    let zeros = digits.iter().take_while(|&&d| d == b'0').count();
    &digits[zeros..]
}

impl PartialEq for Version {
    fn eq(&self, other: &Version) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Version) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    /// Versions of different schemes never meet in practice; they order by scheme to stay total.
    fn cmp(&self, other: &Version) -> Ordering {
        self.scheme
            .cmp(&other.scheme)
            .then_with(|| compare_checked(self.scheme, &self.text, &other.text))
    }
}

impl Hash for Version {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.scheme.hash(state);
        match self.scheme {
            VersionScheme::Deb => {
                if let Ok(parts) = deb::parse(&self.text) {
                    deb::hash(&parts, state);
                }
            }
            VersionScheme::Rpm => {
                if let Ok(parts) = rpm::parse(&self.text) {
                    rpm::hash(&parts, state);
                }
            }
            VersionScheme::Apk => apk::hash(&apk::parse(&self.text), state),
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.scheme.name(), self.text)
    }
}

#[cfg(test)]
mod tests;
