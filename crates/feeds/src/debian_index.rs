//! A Debian archive `Packages` index (for example `bookworm-security/main/binary-amd64`) as a source of
//! available security updates: every binary package it carries, at its newest version, fixes every
//! older installed version of that package. The index itself is the advisory.

use std::collections::HashMap;

use patchwarden_domain::advisory::{Advisory, Affected, Event, NameKind, Range};
use patchwarden_domain::ecosystem::Ecosystem;
use patchwarden_domain::text;
use patchwarden_domain::version::{Version, VersionScheme};

/// Debian release codenames and their numbers, for telling an index's release from its name.
const CODENAMES: [(&str, u32); 8] = [
    ("jessie", 8),
    ("stretch", 9),
    ("buster", 10),
    ("bullseye", 11),
    ("bookworm", 12),
    ("trixie", 13),
    ("forky", 14),
    ("duke", 15),
];

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(
        "cannot tell the Debian release of index {0:?}: its name should start with the codename (bookworm-security_main_binary-amd64_Packages)"
    )]
    UnknownRelease(String),
    #[error("{0}")]
    Stanza(#[from] text::StanzaError),
    #[error("line {line}: package record has no {field} field")]
    MissingField { line: usize, field: &'static str },
    #[error("line {line}: package {package}: version {version:?}: {error}")]
    Version {
        line: usize,
        package: String,
        version: String,
        error: patchwarden_domain::version::VersionError,
    },
}

/// The Debian release an index file's name speaks of, e.g. `Debian:12` for `bookworm-security_…`.
pub fn release_of(name: &str) -> Option<Ecosystem> {
    let codename = name.split(['-', '_', '/', '.']).next()?;
    let (_, number) = CODENAMES.iter().find(|(c, _)| *c == codename)?;
    Ecosystem::parse(&format!("Debian:{number}")).ok()
}

/// Reads an index into one advisory named `name`.
pub fn parse(name: &str, text: &str) -> Result<Advisory, IndexError> {
    let ecosystem = release_of(name).ok_or_else(|| IndexError::UnknownRelease(name.to_owned()))?;
    let mut newest: HashMap<&str, Version> = HashMap::new();
    for stanza in text::stanzas(text)? {
        let field = |field: &'static str| {
            stanza
                .get(field)
                .filter(|v| !v.is_empty())
                .ok_or(IndexError::MissingField {
                    line: stanza.line,
                    field,
                })
        };
        let package = field("Package")?;
        let version_text = field("Version")?;
        let version = Version::parse(VersionScheme::Deb, version_text).map_err(|error| IndexError::Version {
            line: stanza.line,
            package: package.to_owned(),
            version: version_text.to_owned(),
            error,
        })?;
        match newest.get_mut(package) {
            Some(known) if *known >= version => {}
            Some(known) => *known = version,
            None => {
                newest.insert(package, version);
            }
        }
    }
    let mut packages: Vec<(&str, Version)> = newest.into_iter().collect();
    packages.sort_by(|a, b| a.0.cmp(b.0));
    let affected = packages
        .into_iter()
        .map(|(package, fixed)| Affected {
            ecosystem: ecosystem.clone(),
            package: package.to_owned(),
            names: NameKind::Binary,
            ranges: Range::from_events(vec![Event::Introduced(None), Event::Fixed(fixed)]),
            versions: Vec::new(),
            module_build: false,
        })
        .collect();
    Ok(Advisory {
        id: name.to_owned(),
        summary: format!("updates available in the Debian archive index {name}"),
        modified: None,
        published: None,
        cves: Vec::new(),
        severity: None,
        modules: Vec::new(),
        affected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_version_in_the_index_is_the_fix() {
        let text = "Package: a\nVersion: 1.0-1\n\nPackage: a\nVersion: 1.0-2\n\nPackage: a\nVersion: 1.0-1+b1\n";
        let advisory = parse("bookworm-security_main_binary-amd64_Packages", text).unwrap();
        assert_eq!(advisory.affected.len(), 1);
        assert_eq!(advisory.affected[0].ecosystem.name(), "Debian:12");
        let patchwarden_domain::advisory::RangeEnd::Fixed(fixed) = &advisory.affected[0].ranges[0].end else {
            panic!("no fix");
        };
        assert_eq!(fixed.as_str(), "1.0-2");
    }

    #[test]
    fn errors_name_the_line() {
        let err = parse("bookworm_Packages", "Package: a\nVersion: 1\n\nPackage: b\n").unwrap_err();
        assert!(
            matches!(
                err,
                IndexError::MissingField {
                    line: 4,
                    field: "Version"
                }
            ),
            "{err}"
        );
        assert!(matches!(parse("Packages", ""), Err(IndexError::UnknownRelease(_))));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "(\\PC|\n){0,300}") {
            let _ = parse("bookworm_Packages", &text);
        }
    }
}
