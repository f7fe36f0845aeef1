//! Engine rules on small hand-made advisories; real feeds are matched in the integration tests.

use super::*;
use crate::advisory::{Affected, Event, Range};
use crate::version::VersionScheme;

fn v(text: &str) -> Version {
    Version::parse(VersionScheme::Rpm, text).unwrap()
}

fn alma() -> Ecosystem {
    Ecosystem::parse("AlmaLinux:8").unwrap()
}

fn package(name: &str, version: &str, module: Option<&str>) -> InstalledPackage {
    InstalledPackage {
        name: name.into(),
        version: v(version),
        arch: None,
        source: None,
        source_version: None,
        module: module.map(str::to_owned),
    }
}

fn advisory(id: &str, modules: &[&str], fixes: &[(&str, &str)]) -> Advisory {
    Advisory {
        id: id.into(),
        summary: String::new(),
        modified: None,
        published: None,
        cves: vec![format!("CVE-{id}")],
        severity: Some(Severity::Important),
        modules: modules.iter().map(|m| m.to_string()).collect(),
        affected: fixes
            .iter()
            .map(|(name, fixed)| Affected {
                ecosystem: alma(),
                package: name.to_string(),
                names: NameKind::Binary,
                ranges: Range::from_events(vec![Event::Introduced(None), Event::Fixed(v(fixed))]),
                versions: Vec::new(),
                module_build: fixed.contains(".module_"),
            })
            .collect(),
    }
}

#[test]
fn alternative_builds_of_one_fix_count_once_and_report_the_lowest() {
    let index = AdvisoryIndex::new(vec![advisory(
        "A-1",
        &[],
        &[("java", "1:21.0.5-3.el8.alma.1"), ("java", "1:21.0.5-3.el9.alma.1")],
    )]);
    let hits = index.evaluate(&alma(), &package("java", "1:21.0.4-1.el8", None));
    assert_eq!(
        hits,
        vec![Hit {
            advisory: 0,
            fixed: Some(v("1:21.0.5-3.el8.alma.1"))
        }]
    );
    // Having reached the el8 build is enough, although the el9 build sorts higher.
    assert!(
        index
            .evaluate(&alma(), &package("java", "1:21.0.5-3.el8.alma.1", None))
            .is_empty()
    );
}

#[test]
fn module_packages_only_meet_fixes_of_their_stream() {
    let index = AdvisoryIndex::new(vec![
        advisory(
            "NODE12",
            &["nodejs:12"],
            &[("nodejs", "1:12.22.1-1.module_el8.4.0+1+aaa")],
        ),
        advisory(
            "NODE10",
            &["nodejs:10"],
            &[("nodejs", "1:10.24.0-1.module_el8.3.0+2+bbb")],
        ),
        advisory("PLAIN", &[], &[("nodejs", "1:99-1.el8")]),
    ]);
    let installed = package("nodejs", "1:10.21.0-3.module_el8.2.0+391+8da3adc6", Some("nodejs:10"));
    let hits = index.evaluate(&alma(), &installed);
    assert_eq!(hits.len(), 1);
    assert_eq!(index.advisories()[hits[0].advisory].id, "NODE10");
}

#[test]
fn introduced_and_last_affected_bound_the_range() {
    let mut record = advisory("R", &[], &[("p", "1")]);
    record.affected[0].ranges = Range::from_events(vec![
        Event::Introduced(Some(v("2.0-1"))),
        Event::LastAffected(v("2.5-1")),
        Event::Introduced(Some(v("3.0-1"))),
        Event::Fixed(v("3.2-1")),
    ]);
    let index = AdvisoryIndex::new(vec![record]);
    let affected = |ver: &str| !index.evaluate(&alma(), &package("p", ver, None)).is_empty();
    assert!(!affected("1.9-1"));
    assert!(affected("2.0-1"));
    assert!(affected("2.5-1"));
    assert!(!affected("2.6-1"));
    assert!(affected("3.1-1"));
    assert!(!affected("3.2-1"));
}

#[test]
fn equal_versions_written_differently_share_one_evaluation() {
    let index = AdvisoryIndex::new(vec![advisory("A", &[], &[("p", "1.10-1")])]);
    let eco = alma();
    let a = package("p", "1.09-1", None);
    let b = package("p", "1.9-1", None);
    let hits = assess_packages(&index, [(&eco, &a), (&eco, &b)]);
    assert!(Arc::ptr_eq(&hits[0], &hits[1]));
    assert_eq!(hits[0].len(), 1);
}
