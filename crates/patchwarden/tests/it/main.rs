//! Integration tests of the `patchwarden` binary against the real data in `shared/data` and the
//! distributions' own tools as oracles (dpkg, python3-apt, rpm). One test binary, so that linking
//! happens once.

// Test helpers may fail loudly: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod assess_real;
mod audit;
mod deploy;
mod directory;
mod feeds;
mod fleet;
mod malformed;
mod month;
mod oracle_versions;
mod server;
mod support;
mod tidy;

use std::path::PathBuf;
use std::process::{Command, Output};

/// A file under `shared/data`.
pub fn shared(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(path)
}

/// A file beside these tests.
pub fn here(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it").join(path)
}

/// Runs the real binary.
pub fn patchwarden(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_patchwarden"))
        .args(args)
        .output()
        .expect("run patchwarden")
}

/// `patchwarden assess --json` for one inventory, ecosystem and advisory source, plus `extra` flags.
pub fn assess(inventory: &str, os: &str, advisories: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "assess",
        "--json",
        "--inventory",
        inventory,
        "--os",
        os,
        "--advisories",
        advisories,
    ];
    args.extend_from_slice(extra);
    let out = patchwarden(&args);
    assert!(
        out.status.success(),
        "assess failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("assess prints JSON")
}

/// The `package advisory` lines an oracle script prints, sorted and de-duplicated.
pub fn oracle_pairs(script: &str, args: &[&str]) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = oracle(script, args)
        .lines()
        .map(|l| {
            let (p, a) = l.split_once(' ').expect("`package advisory`");
            (p.to_owned(), a.to_owned())
        })
        .collect();
    pairs.sort();
    pairs.dedup();
    pairs
}

/// Runs an oracle script with the system Python (python3-apt and python3-rpm live there).
pub fn oracle(script: &str, args: &[&str]) -> String {
    let out = Command::new("/usr/bin/python3")
        .arg(here(&format!("oracles/{script}")))
        .args(args)
        .output()
        .expect("run /usr/bin/python3");
    assert!(
        out.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("oracle prints UTF-8")
}

/// The (package, advisory) pairs of an assessment, sorted.
pub fn pairs(report: &serde_json::Value) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["package"].as_str().unwrap().to_owned(),
                f["advisory"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    pairs.sort();
    pairs
}
