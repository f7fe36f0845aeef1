//! `patchwarden assess` on the real inventories and feeds, checked against the distributions' tools.

use crate::{assess, oracle, oracle_pairs, pairs, shared};

fn path(p: &str) -> String {
    shared(p).display().to_string()
}

/// Debian 12 against the real bookworm-security index: exactly the 94 packages apt_pkg finds older
/// than the index (DSA/DLA data: the index as of 2026-12-02).
#[test]
fn debian12_against_the_security_index() {
    let status = path("inventories/debian12.dpkg-status");
    let index = path("advisories/debian/bookworm-security_main_binary-amd64_Packages");
    let report = assess(&status, "Debian:12", &index, &[]);
    let ours: Vec<String> = pairs(&report).into_iter().map(|(package, _)| package).collect();
    let mut expected: Vec<String> = oracle("debian_index.py", &[&status, &index])
        .lines()
        .map(String::from)
        .collect();
    expected.sort();
    assert_eq!(ours, expected);
    assert_eq!(ours.len(), 94);
    for finding in report["findings"].as_array().unwrap() {
        assert_eq!(finding["advisory"], "bookworm-security_main_binary-amd64_Packages");
    }

    // apt itself listed 93 of them as security upgrades. The one it left out is openssh-client: the
    // main archive's point release has a newer build (1:9.2p1-2+deb12u10) than the security archive
    // (…+deb12u9), so apt's candidate comes from oldstable, not oldstable-security, and the line that
    // `apt list --upgradable` prints for it names no security suite. The host still misses the
    // security archive's fix, so it is a finding.
    let apt_list = std::fs::read_to_string(shared("advisories/debian/apt-list-upgradable-security.txt")).unwrap();
    let apt: Vec<String> = apt_list
        .lines()
        .filter_map(|l| l.split('/').next())
        .filter(|p| !p.is_empty() && !p.starts_with("Listing"))
        .map(String::from)
        .collect();
    assert_eq!(apt.len(), 93);
    let missing: Vec<&String> = ours.iter().filter(|p| !apt.contains(p)).collect();
    assert_eq!(missing, ["openssh-client"]);
    assert!(apt.iter().all(|p| ours.contains(p)));
    // And apt itself, simulating the upgrade over the same status file with the index as its only
    // repository, installs exactly these 94 packages.
    let root = tempfile::tempdir().unwrap();
    let apt = patchwarden_testkit::apt::AptSandbox::new(
        &root.path().join("apt"),
        &shared("inventories/debian12.dpkg-status"),
        &shared("advisories/debian/bookworm-security_main_binary-amd64_Packages"),
    )
    .unwrap();
    let mut upgrades = apt.simulated_upgrades().unwrap();
    upgrades.sort();
    assert_eq!(upgrades, ours);

    let openssh = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["package"] == "openssh-client")
        .unwrap();
    assert_eq!(openssh["fixed"], "1:9.2p1-2+deb12u9");
}

/// CentOS 8 as AlmaLinux 8 against the real AlmaLinux OSV corpus: for packages without a module
/// label, our findings equal what rpm's own comparison gives.
#[test]
fn centos8_against_almalinux_osv() {
    let rows = path("inventories/rpm-qa.centos8-modularitylabel.tsv");
    let archive = path("advisories/osv/AlmaLinux/all.zip");
    let report = assess(&rows, "AlmaLinux:8", &archive, &[]);
    let modular: Vec<String> = std::fs::read_to_string(&rows)
        .unwrap()
        .lines()
        .filter(|l| !l.ends_with("(none)"))
        .map(|l| l.split('\t').next().unwrap().to_owned())
        .collect();
    let ours: Vec<(String, String)> = pairs(&report)
        .into_iter()
        .filter(|(p, _)| !modular.contains(p))
        .collect();
    let expected = oracle_pairs("almalinux_osv.py", &[&rows, &archive, "8"]);
    assert!(expected.len() > 500, "only {} expected findings", expected.len());
    assert_eq!(ours, expected);
    // Module packages are assessed too, against fixes of their own stream.
    assert!(pairs(&report).iter().any(|(p, _)| modular.contains(p)));
}

/// Ubuntu 20.04 against the Ubuntu OSV records, per source package, by apt_pkg.
#[test]
fn ubuntu2004_against_ubuntu_osv() {
    let status = path("inventories/ubuntu20.04-armhf.dpkg-status");
    let dir = path("advisories/osv/Ubuntu");
    let report = assess(&status, "Ubuntu:20.04:LTS", &dir, &[]);
    let expected = oracle_pairs("ubuntu_osv.py", &[&status, &dir, "Ubuntu:20.04:LTS"]);
    assert!(!expected.is_empty());
    assert_eq!(pairs(&report), expected);
    // Binary packages are matched through their source: libblkid1 comes from util-linux.
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["source"].is_string())
    );
}

/// KEV and EPSS rank findings: known-exploited first.
#[test]
fn kev_and_epss_rank_the_findings() {
    let report = assess(
        &path("inventories/rpm-qa.centos8-modularitylabel.tsv"),
        "AlmaLinux:8",
        &path("advisories/osv/AlmaLinux/all.zip"),
        &[
            "--kev",
            &path("advisories/kev/known_exploited_vulnerabilities.json"),
            "--epss",
            &path("advisories/epss/epss_scores-2026-08-16.csv.gz"),
        ],
    );
    let findings = report["findings"].as_array().unwrap();
    let kev: Vec<bool> = findings.iter().map(|f| f["kev"].as_bool().unwrap()).collect();
    assert!(kev[0], "a KEV finding comes first");
    assert!(
        kev.windows(2).all(|w| w[0] >= w[1]),
        "KEV findings are all before the others"
    );
    // CVE-2021-4034 (pwnkit, polkit) is in the KEV catalog; CentOS 8.2's polkit misses its fix.
    let polkit = findings
        .iter()
        .find(|f| f["package"] == "polkit" && f["advisory"] == "ALSA-2022:0267")
        .unwrap();
    assert_eq!(polkit["kev"], true);
    assert!(polkit["epss"].as_f64().unwrap() > 0.5);
    assert_eq!(
        report["summary"]["kev"].as_u64().unwrap(),
        kev.iter().filter(|k| **k).count() as u64
    );
}
