//! Threat intelligence that ranks findings: CISA's Known Exploited Vulnerabilities catalog and
//! FIRST's EPSS scores (§8.4: monitoring CERT and other advisories).

use std::collections::{HashMap, HashSet};

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ThreatError {
    #[error("not a KEV catalog at line {line}, column {column}: {message}")]
    KevJson {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("KEV entry {index}: {id:?} is not a CVE id")]
    KevId { index: usize, id: String },
    #[error("{0}")]
    Text(#[from] patchwarden_domain::text::NotUtf8),
    #[error("line {line}: expected `cve,epss,percentile` with a CVE id and a probability from 0 to 1, found {found:?}")]
    EpssRow { line: usize, found: String },
    #[error("no `cve,epss,percentile` header line: not an EPSS file")]
    EpssHeader,
}

#[derive(Deserialize)]
struct Catalog {
    vulnerabilities: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(rename = "cveID")]
    cve_id: String,
}

fn is_cve(id: &str) -> bool {
    id.strip_prefix("CVE-")
        .and_then(|rest| rest.split_once('-'))
        .is_some_and(|(year, number)| {
            year.len() == 4 && number.len() >= 4 && (year.bytes().chain(number.bytes())).all(|b| b.is_ascii_digit())
        })
}

/// The CVE ids of a KEV catalog (`known_exploited_vulnerabilities.json`).
pub fn parse_kev(bytes: &[u8]) -> Result<HashSet<String>, ThreatError> {
    let catalog: Catalog = serde_json::from_slice(bytes).map_err(|e| ThreatError::KevJson {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    catalog
        .vulnerabilities
        .into_iter()
        .enumerate()
        .map(|(index, entry)| {
            if is_cve(&entry.cve_id) {
                Ok(entry.cve_id)
            } else {
                Err(ThreatError::KevId {
                    index,
                    id: entry.cve_id,
                })
            }
        })
        .collect()
}

/// EPSS probabilities from FIRST's CSV (`#model_version…` comment, `cve,epss,percentile` header).
pub fn parse_epss(bytes: &[u8]) -> Result<HashMap<String, f64>, ThreatError> {
    let text = patchwarden_domain::text::decode(bytes)?;
    let mut scores = HashMap::new();
    let mut header = false;
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if !header {
            if line.trim() != "cve,epss,percentile" {
                return Err(ThreatError::EpssHeader);
            }
            header = true;
            continue;
        }
        let bad = || ThreatError::EpssRow {
            line: line_number,
            found: line.chars().take(80).collect(),
        };
        let mut fields = line.split(',');
        let (Some(cve), Some(epss), Some(percentile), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(bad());
        };
        let probability = |s: &str| s.trim().parse::<f64>().ok().filter(|p| (0.0..=1.0).contains(p));
        match (is_cve(cve), probability(epss), probability(percentile)) {
            (true, Some(epss), Some(_)) => {
                scores.insert(cve.to_owned(), epss);
            }
            _ => return Err(bad()),
        }
    }
    if !header {
        return Err(ThreatError::EpssHeader);
    }
    Ok(scores)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epss_rows_are_checked() {
        let ok = parse_epss(b"#model_version:x\ncve,epss,percentile\nCVE-2020-0001,0.5,0.9\n").unwrap();
        assert_eq!(ok["CVE-2020-0001"], 0.5);
        let err = parse_epss(b"cve,epss,percentile\nCVE-2020-0001,1.5,0.9\n").unwrap_err();
        assert!(matches!(err, ThreatError::EpssRow { line: 2, .. }));
        assert!(matches!(parse_epss(b"a,b\n"), Err(ThreatError::EpssHeader)));
    }

    #[test]
    fn kev_ids_are_checked() {
        assert!(
            parse_kev(br#"{"vulnerabilities":[{"cveID":"CVE-2021-44228"}]}"#)
                .unwrap()
                .contains("CVE-2021-44228")
        );
        assert!(matches!(
            parse_kev(br#"{"vulnerabilities":[{"cveID":"x"}]}"#),
            Err(ThreatError::KevId { index: 0, .. })
        ));
        assert!(matches!(parse_kev(b"{"), Err(ThreatError::KevJson { line: 1, .. })));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_input_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let _ = parse_kev(&bytes);
            let _ = parse_epss(&bytes);
        }
    }
}
