//! Installed software: one host's packages, read from the package manager's own records
//! (§7.5.3: software versions; §8.5: the hardware and software inventory).

use std::fmt;

use crate::text::{self, Stanza};
use crate::version::{Version, VersionError, VersionScheme};

/// One installed binary package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledPackage {
    pub name: String,
    pub version: Version,
    pub arch: Option<String>,
    /// The source package it was built from, when it differs from `name` or is recorded.
    pub source: Option<String>,
    /// The source package's version, when the record gives one that differs from `version`
    /// (dpkg's `Source: name (version)`, a binNMU for example).
    pub source_version: Option<Version>,
    /// An RPM module stream (`name:stream`), for packages installed from a module.
    pub module: Option<String>,
}

impl InstalledPackage {
    /// The name advisories that speak of source packages use.
    pub fn source_name(&self) -> &str {
        self.source.as_deref().unwrap_or(&self.name)
    }

    /// The version advisories that speak of source packages compare.
    pub fn source_version(&self) -> &Version {
        self.source_version.as_ref().unwrap_or(&self.version)
    }
}

/// The package record formats patchwarden reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InventoryFormat {
    /// `/var/lib/dpkg/status`.
    DpkgStatus,
    /// `rpm -qa --qf '%{NAME}\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\t%{ARCH}\t%{SOURCERPM}\t%{MODULARITYLABEL}\n'`.
    RpmQa,
    /// `/lib/apk/db/installed`.
    Apk,
}

impl InventoryFormat {
    pub fn name(self) -> &'static str {
        match self {
            InventoryFormat::DpkgStatus => "dpkg-status",
            InventoryFormat::RpmQa => "rpm-qa",
            InventoryFormat::Apk => "apk",
        }
    }

    pub fn from_name(name: &str) -> Option<InventoryFormat> {
        [
            InventoryFormat::DpkgStatus,
            InventoryFormat::RpmQa,
            InventoryFormat::Apk,
        ]
        .into_iter()
        .find(|f| f.name() == name)
    }

    pub fn scheme(self) -> VersionScheme {
        match self {
            InventoryFormat::DpkgStatus => VersionScheme::Deb,
            InventoryFormat::RpmQa => VersionScheme::Rpm,
            InventoryFormat::Apk => VersionScheme::Apk,
        }
    }
}

/// The query format that makes `rpm -qa` print [`InventoryFormat::RpmQa`] rows.
pub const RPM_QUERY_FORMAT: &str =
    "%{NAME}\\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\\t%{ARCH}\\t%{SOURCERPM}\\t%{MODULARITYLABEL}\\n";

/// A record that could not be read, with the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryError {
    pub line: usize,
    pub problem: Problem,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("{0}")]
    Syntax(String),
    #[error("package record has no {0} field")]
    MissingField(&'static str),
    #[error("package {package}: version {version:?}: {error}")]
    BadVersion {
        package: String,
        version: String,
        error: VersionError,
    },
    #[error(
        "expected 5 tab-separated columns (name, epoch:version-release, arch, source rpm, module label), found {0}"
    )]
    Columns(usize),
}

impl fmt::Display for InventoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.problem)
    }
}

impl std::error::Error for InventoryError {}

/// Reads the installed packages of one host from its package records.
pub fn parse(format: InventoryFormat, text: &str) -> Result<Vec<InstalledPackage>, InventoryError> {
    match format {
        InventoryFormat::DpkgStatus => parse_dpkg_status(text),
        InventoryFormat::RpmQa => parse_rpm_qa(text),
        InventoryFormat::Apk => parse_apk(text),
    }
}

fn stanzas(text: &str) -> Result<Vec<Stanza<'_>>, InventoryError> {
    text::stanzas(text).map_err(|e| InventoryError {
        line: e.line,
        problem: Problem::Syntax(e.to_string()),
    })
}

fn version(scheme: VersionScheme, line: usize, package: &str, text: &str) -> Result<Version, InventoryError> {
    Version::parse(scheme, text).map_err(|error| InventoryError {
        line,
        problem: Problem::BadVersion {
            package: package.to_owned(),
            version: text.to_owned(),
            error,
        },
    })
}

fn required<'a>(stanza: &Stanza<'a>, key: &'static str) -> Result<&'a str, InventoryError> {
    stanza.get(key).filter(|v| !v.is_empty()).ok_or(InventoryError {
        line: stanza.line,
        problem: Problem::MissingField(key),
    })
}

fn parse_dpkg_status(text: &str) -> Result<Vec<InstalledPackage>, InventoryError> {
    let mut packages = Vec::new();
    for stanza in stanzas(text)? {
        let name = required(&stanza, "Package")?;
        let status = required(&stanza, "Status")?;
        // The third word is the package's state; only these leave its files on disk. A package
        // removed but with its configuration kept ("config-files") runs no code.
        let state = status.split_whitespace().nth(2).unwrap_or_default();
        if !matches!(
            state,
            "installed" | "half-configured" | "unpacked" | "triggers-awaited" | "triggers-pending"
        ) {
            continue;
        }
        let scheme = VersionScheme::Deb;
        let version_text = required(&stanza, "Version")?;
        let installed = version(scheme, stanza.line, name, version_text)?;
        let (source, source_version) = match stanza.get("Source") {
            Some(field) => {
                let (source, paren) = field.split_once('(').unwrap_or((field, ""));
                let source_version = match paren.trim().strip_suffix(')') {
                    Some(v) => Some(version(scheme, stanza.line, name, v.trim())?),
                    None => None,
                };
                (Some(source.trim().to_owned()), source_version)
            }
            None => (None, None),
        };
        packages.push(InstalledPackage {
            name: name.to_owned(),
            version: installed,
            arch: stanza.get("Architecture").map(str::to_owned),
            source,
            source_version,
            module: None,
        });
    }
    Ok(packages)
}

fn parse_apk(text: &str) -> Result<Vec<InstalledPackage>, InventoryError> {
    let mut packages = Vec::new();
    for stanza in stanzas(text)? {
        let name = required(&stanza, "P")?;
        let installed = version(VersionScheme::Apk, stanza.line, name, required(&stanza, "V")?)?;
        packages.push(InstalledPackage {
            name: name.to_owned(),
            version: installed,
            arch: stanza.get("A").map(str::to_owned),
            source: stanza.get("o").map(str::to_owned),
            source_version: None,
            module: None,
        });
    }
    Ok(packages)
}

fn parse_rpm_qa(text: &str) -> Result<Vec<InstalledPackage>, InventoryError> {
    let mut packages = Vec::new();
    for (index, row) in text.lines().enumerate() {
        let line = index + 1;
        if row.trim().is_empty() {
            continue;
        }
        let columns: Vec<&str> = row.split('\t').collect();
        let [name, evr, arch, source_rpm, module] = columns[..] else {
            return Err(InventoryError {
                line,
                problem: Problem::Columns(columns.len()),
            });
        };
        if name.is_empty() {
            return Err(InventoryError {
                line,
                problem: Problem::MissingField("NAME"),
            });
        }
        let installed = version(VersionScheme::Rpm, line, name, evr)?;
        let source = source_rpm_name(source_rpm).filter(|s| *s != name).map(str::to_owned);
        packages.push(InstalledPackage {
            name: name.to_owned(),
            version: installed,
            arch: none_to_option(arch).map(str::to_owned),
            source,
            source_version: None,
            module: none_to_option(module).and_then(module_stream),
        });
    }
    Ok(packages)
}

/// rpm prints `(none)` for an absent tag.
fn none_to_option(value: &str) -> Option<&str> {
    Some(value).filter(|v| !v.is_empty() && *v != "(none)")
}

/// `bash-4.4.19-10.el8.src.rpm` → `bash`: the name is all before the last two hyphens.
fn source_rpm_name(source_rpm: &str) -> Option<&str> {
    let stem = none_to_option(source_rpm)?
        .strip_suffix(".src.rpm")
        .or_else(|| source_rpm.strip_suffix(".nosrc.rpm"))?;
    let (rest, _release) = stem.rsplit_once('-')?;
    let (name, _version) = rest.rsplit_once('-')?;
    Some(name)
}

/// `nodejs:10:8020020200707141642:6a468ee4` → `nodejs:10`.
fn module_stream(label: &str) -> Option<String> {
    let mut parts = label.split(':');
    let (name, stream) = (parts.next()?, parts.next()?);
    Some(format!("{name}:{stream}"))
}

#[cfg(test)]
mod tests;
