//! OSV records (<https://ossf.github.io/osv-schema/>) → advisories, with the distributions'
//! own conventions: Ubuntu names source packages and keeps its priority in `database_specific`,
//! AlmaLinux names binaries and puts the severity and module streams in the summary.

use serde::Deserialize;

use patchwarden_domain::advisory::{Advisory, Affected, Event, NameKind, Range, Severity};
use patchwarden_domain::ecosystem::{Ecosystem, EcosystemError, Family};
use patchwarden_domain::version::{Version, VersionError};

#[derive(Debug, Deserialize)]
struct Record {
    id: String,
    #[serde(default)]
    summary: String,
    modified: Option<String>,
    published: Option<String>,
    withdrawn: Option<String>,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    upstream: Vec<String>,
    #[serde(default)]
    related: Vec<String>,
    #[serde(default)]
    affected: Vec<RecordAffected>,
    database_specific: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct RecordAffected {
    package: Option<Package>,
    #[serde(default)]
    ranges: Vec<RecordRange>,
    #[serde(default)]
    versions: Vec<String>,
    database_specific: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Package {
    ecosystem: String,
    name: String,
}

#[derive(Debug, Deserialize)]
struct RecordRange {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    events: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// What one OSV record turned into.
#[derive(Debug)]
pub(crate) enum Outcome {
    Advisory(Advisory),
    /// Withdrawn by its publisher: not an advisory any more.
    Withdrawn,
    /// Nothing in a known ecosystem; the unknown ecosystems it named.
    OnlyUnknown(Vec<String>),
}

/// Why one OSV record was refused.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("invalid OSV JSON at line {line}, column {column}: {message}")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("advisory {id}: package {package}: version {version:?}: {error}")]
    Version {
        id: String,
        package: String,
        version: String,
        error: VersionError,
    },
    #[error("advisory {id}: range event {event} is not one of introduced, fixed, last_affected, limit")]
    Event { id: String, event: String },
    #[error("advisory {id}: affected entry without a package")]
    NoPackage { id: String },
}

/// Parses one OSV record; `unknown` collects ecosystems outside patchwarden's scope.
pub(crate) fn parse(bytes: &[u8], unknown: &mut Vec<String>) -> Result<Outcome, RecordError> {
    let record: Record = serde_json::from_slice(bytes).map_err(|e| RecordError::Json {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    if record.withdrawn.is_some() {
        return Ok(Outcome::Withdrawn);
    }
    let mut affected = Vec::new();
    let mut severity =
        severity_from_summary(&record.summary).or_else(|| database_severity(record.database_specific.as_ref()));
    let mut skipped = Vec::new();
    for entry in &record.affected {
        let Some(package) = &entry.package else {
            return Err(RecordError::NoPackage { id: record.id.clone() });
        };
        let ecosystem = match Ecosystem::parse(&package.ecosystem) {
            Ok(e) => e,
            Err(EcosystemError::Unknown(name) | EcosystemError::NoRelease(name, _)) => {
                skipped.push(name);
                continue;
            }
            Err(other) => {
                skipped.push(other.to_string());
                continue;
            }
        };
        let scheme = ecosystem.scheme();
        let version = |text: &str| {
            Version::parse(scheme, text).map_err(|error| RecordError::Version {
                id: record.id.clone(),
                package: package.name.clone(),
                version: text.to_owned(),
                error,
            })
        };
        let mut ranges = Vec::new();
        let mut module_build = false;
        for range in entry.ranges.iter().filter(|r| r.kind == "ECOSYSTEM") {
            let mut events = Vec::new();
            for event in &range.events {
                for (kind, value) in event {
                    let text = value.as_str().unwrap_or_default();
                    module_build |= text.contains(".module_") || text.contains(".module+");
                    events.push(match kind.as_str() {
                        "introduced" if text == "0" => Event::Introduced(None),
                        "introduced" => Event::Introduced(Some(version(text)?)),
                        "fixed" => Event::Fixed(version(text)?),
                        "last_affected" => Event::LastAffected(version(text)?),
                        // A limit only bounds commit ranges; it affects nothing in ECOSYSTEM ranges.
                        "limit" => continue,
                        other => {
                            return Err(RecordError::Event {
                                id: record.id.clone(),
                                event: other.to_owned(),
                            });
                        }
                    });
                }
            }
            ranges.extend(Range::from_events(events));
        }
        let versions = entry
            .versions
            .iter()
            .map(|v| version(v))
            .collect::<Result<Vec<_>, _>>()?;
        if ecosystem.family() == Family::Ubuntu {
            severity = severity.max(ubuntu_priority(entry.database_specific.as_ref()));
        }
        let names = if ecosystem.family().advisories_name_sources() {
            NameKind::Source
        } else {
            NameKind::Binary
        };
        affected.push(Affected {
            ecosystem,
            package: package.name.clone(),
            names,
            ranges,
            versions,
            module_build,
        });
    }
    if affected.is_empty() && !skipped.is_empty() {
        return Ok(Outcome::OnlyUnknown(skipped));
    }
    unknown.extend(skipped);
    let cves = cves(&record);
    let modules = module_streams(&record.summary);
    Ok(Outcome::Advisory(Advisory {
        id: record.id,
        summary: record.summary,
        modified: record.modified,
        published: record.published,
        cves,
        severity,
        modules,
        affected,
    }))
}

/// CVE ids from aliases, `upstream` and `related` (Ubuntu writes `UBUNTU-CVE-…` upstream).
fn cves(record: &Record) -> Vec<String> {
    let mut cves: Vec<String> = record
        .aliases
        .iter()
        .chain(&record.upstream)
        .chain(&record.related)
        .filter_map(|id| {
            let id = id.strip_prefix("UBUNTU-").unwrap_or(id);
            id.starts_with("CVE-").then(|| id.to_owned())
        })
        .collect();
    cves.sort();
    cves.dedup();
    cves
}

/// Red Hat-style summaries start with the severity: `Important: kernel security update`.
fn severity_from_summary(summary: &str) -> Option<Severity> {
    summary
        .split_once(':')
        .and_then(|(word, _)| Severity::from_vendor(word))
}

/// `database_specific.severity` as several feeds write it.
fn database_severity(value: Option<&serde_json::Value>) -> Option<Severity> {
    value?.get("severity")?.as_str().and_then(Severity::from_vendor)
}

/// The highest Ubuntu priority among the CVEs of one affected entry
/// (`database_specific.cves_map.cves[].severity[type=Ubuntu].score`).
fn ubuntu_priority(value: Option<&serde_json::Value>) -> Option<Severity> {
    let cves = value?.get("cves_map")?.get("cves")?.as_array()?;
    cves.iter()
        .flat_map(|cve| cve.get("severity").and_then(|s| s.as_array()).into_iter().flatten())
        .filter(|s| s.get("type").and_then(|t| t.as_str()) == Some("Ubuntu"))
        .filter_map(|s| s.get("score")?.as_str().and_then(Severity::from_vendor))
        .max()
}

/// Module streams named in a summary: `Moderate: container-tools:rhel8 security update` →
/// `container-tools:rhel8`.
fn module_streams(summary: &str) -> Vec<String> {
    let is_name = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+'))
    };
    let mut streams: Vec<String> = summary
        .split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')')
        .filter(|word| {
            word.split_once(':')
                .is_some_and(|(name, stream)| is_name(name) && is_name(stream))
        })
        .map(str::to_owned)
        .collect();
    streams.dedup();
    streams
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_streams_come_from_the_summary() {
        assert_eq!(
            module_streams("Moderate: container-tools:rhel8 security update"),
            ["container-tools:rhel8"]
        );
        assert_eq!(
            module_streams("Important: nodejs:12 and nodejs:14 update"),
            ["nodejs:12", "nodejs:14"]
        );
        assert!(module_streams("Important: kernel security update").is_empty());
    }

    #[test]
    fn ubuntu_priority_is_the_highest_of_its_cves() {
        let record = serde_json::json!({
            "id": "USN-1", "upstream": ["UBUNTU-CVE-2021-1", "UBUNTU-CVE-2021-2"],
            "affected": [{"package": {"ecosystem": "Ubuntu:20.04:LTS", "name": "p"},
                "database_specific": {"cves_map": {"cves": [
                    {"id": "CVE-2021-1", "severity": [{"type": "Ubuntu", "score": "low"}]},
                    {"id": "CVE-2021-2", "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N"},
                                                       {"type": "Ubuntu", "score": "high"}]}]}}}]
        });
        let Outcome::Advisory(advisory) = parse(record.to_string().as_bytes(), &mut Vec::new()).unwrap() else {
            panic!("not an advisory");
        };
        assert_eq!(advisory.severity, Some(Severity::Important));
        assert_eq!(advisory.cves, ["CVE-2021-1", "CVE-2021-2"]);
        assert_eq!(advisory.affected[0].names, NameKind::Source);
    }

    #[test]
    fn bad_json_is_located() {
        let err = parse(b"{\n \"id\": 1\n}", &mut Vec::new()).unwrap_err();
        assert!(matches!(err, RecordError::Json { line: 2, .. }), "{err}");
    }

    #[test]
    fn unknown_ecosystems_are_counted_not_fatal() {
        let record = br#"{"id":"X","affected":[{"package":{"ecosystem":"npm","name":"left-pad"}}]}"#;
        let outcome = parse(record, &mut Vec::new()).unwrap();
        assert!(matches!(outcome, Outcome::OnlyUnknown(ref e) if e == &["npm".to_string()]));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let _ = parse(&bytes, &mut Vec::new());
        }

        #[test]
        fn arbitrary_versions_in_a_valid_record_never_panic(fixed in "\\PC{0,20}", eco in "(Debian:12|Ubuntu:20.04:LTS|AlmaLinux:8|Alpine:v3.18)") {
            let record = serde_json::json!({
                "id": "X", "affected": [{"package": {"ecosystem": eco, "name": "p"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}]
            });
            let _ = parse(record.to_string().as_bytes(), &mut Vec::new());
        }
    }
}
