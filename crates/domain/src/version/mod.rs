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
    #[error("version is longer than 4 GiB")]
    TooLong,
}

/// A version in one scheme. Equality and hashing follow the scheme's ordering, not the text.
#[derive(Clone)]
pub struct Version {
    scheme: VersionScheme,
    text: Box<str>,
    /// Where the parts of `text` are, found once at parse time so that comparing stored versions
    /// (the matcher's inner loop) does not split them again.
    split: Split,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Split {
    Deb {
        epoch: u32,
        upstream: (u32, u32),
        revision: (u32, u32),
    },
    Rpm {
        epoch: Option<(u32, u32)>,
        version: (u32, u32),
        release: Option<(u32, u32)>,
    },
    Apk,
}

/// The byte range of `part` inside `whole`, which it borrows from.
fn span(whole: &[u8], part: &[u8]) -> (u32, u32) {
    let start = (part.as_ptr() as usize).saturating_sub(whole.as_ptr() as usize);
    let to_u32 = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    (to_u32(start), to_u32(start + part.len()))
}

fn slice(text: &str, (start, end): (u32, u32)) -> &[u8] {
    text.as_bytes().get(start as usize..end as usize).unwrap_or_default()
}

impl Version {
    /// Checks `text` against the scheme's syntax and keeps it.
    pub fn parse(scheme: VersionScheme, text: &str) -> Result<Version, VersionError> {
        if u32::try_from(text.len()).is_err() {
            return Err(VersionError::TooLong);
        }
        let bytes = text.as_bytes();
        let split = match scheme {
            VersionScheme::Deb => {
                let parts = deb::parse(text)?;
                Split::Deb {
                    epoch: parts.epoch,
                    upstream: span(bytes, parts.upstream),
                    revision: span(bytes, parts.revision),
                }
            }
            VersionScheme::Rpm => {
                let parts = rpm::parse(text)?;
                // An absent epoch borrows the constant "0", which is not inside `text`.
                let inside = bytes.as_ptr_range().contains(&parts.epoch.as_ptr());
                Split::Rpm {
                    epoch: inside.then(|| span(bytes, parts.epoch)),
                    version: span(bytes, parts.version),
                    release: parts.release.map(|r| span(bytes, r)),
                }
            }
            VersionScheme::Apk => {
                check(scheme, text)?;
                Split::Apk
            }
        };
        Ok(Version {
            scheme,
            text: text.into(),
            split,
        })
    }

    fn deb_parts(&self) -> Option<deb::Parts<'_>> {
        match self.split {
            Split::Deb {
                epoch,
                upstream,
                revision,
            } => Some(deb::Parts {
                epoch,
                upstream: slice(&self.text, upstream),
                revision: slice(&self.text, revision),
            }),
            _ => None,
        }
    }

    fn rpm_parts(&self) -> Option<rpm::Parts<'_>> {
        match self.split {
            Split::Rpm {
                epoch,
                version,
                release,
            } => Some(rpm::Parts {
                epoch: epoch.map_or(b"0", |e| slice(&self.text, e)),
                version: slice(&self.text, version),
                release: release.map(|r| slice(&self.text, r)),
            }),
            _ => None,
        }
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
        match (self.deb_parts(), other.deb_parts(), self.rpm_parts(), other.rpm_parts()) {
            (Some(a), Some(b), _, _) => deb::compare(&a, &b),
            (_, _, Some(a), Some(b)) => rpm::compare(&a, &b),
            _ if self.scheme == VersionScheme::Apk && other.scheme == VersionScheme::Apk => {
                apk::compare(&apk::parse(&self.text), &apk::parse(&other.text))
            }
            _ => self.scheme.cmp(&other.scheme),
        }
    }
}

impl Hash for Version {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.scheme.hash(state);
        if let Some(parts) = self.deb_parts() {
            deb::hash(&parts, state);
        } else if let Some(parts) = self.rpm_parts() {
            rpm::hash(&parts, state);
        } else {
            apk::hash(&apk::parse(&self.text), state);
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
