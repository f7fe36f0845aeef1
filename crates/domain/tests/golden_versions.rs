//! Every line of the version-ordering golden files in `shared/data/versions` (osv-scalibr's test data,
//! which agrees with apt's `apt_pkg.version_compare`, rpm 4.18's `rpm.vercmp` and apk).

// Test helpers may fail loudly: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cmp::Ordering;
use std::path::PathBuf;

use patchwarden_domain::version::{VersionScheme, compare};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/versions")
        .join(name)
}

/// Checks every `A op B` line of a golden file; returns how many were checked.
fn check(scheme: VersionScheme, file: &str) -> usize {
    let text = std::fs::read_to_string(data(file)).unwrap();
    let mut wrong = Vec::new();
    let mut checked = 0;
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [a, op, b] = fields[..] else {
            panic!("{file}:{}: not `A op B`: {line}", number + 1)
        };
        let expected = match op {
            "<" => Ordering::Less,
            "=" => Ordering::Equal,
            ">" => Ordering::Greater,
            _ => panic!("{file}:{}: unknown operator {op}", number + 1),
        };
        checked += 1;
        match compare(scheme, a, b) {
            Ok(got) if got == expected => {}
            got => wrong.push(format!("{file}:{}: {line}: got {got:?}", number + 1)),
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {checked} lines disagree:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    checked
}

#[test]
fn debian_golden_files() {
    let n =
        check(VersionScheme::Deb, "debian-versions.txt") + check(VersionScheme::Deb, "debian-versions-generated.txt");
    assert!(n > 14_000, "only {n} lines read");
}

#[test]
fn redhat_golden_file() {
    assert!(check(VersionScheme::Rpm, "redhat-versions.txt") > 150);
}

#[test]
fn alpine_golden_files() {
    let n =
        check(VersionScheme::Apk, "alpine-versions.txt") + check(VersionScheme::Apk, "alpine-versions-generated.txt");
    assert!(n > 14_000, "only {n} lines read");
}
