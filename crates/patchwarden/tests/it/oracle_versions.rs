//! Differential tests of version ordering against the live oracles: apt's own comparison
//! (python3-apt), `dpkg --compare-versions`, and rpm 4.18's `rpm.vercmp`, over pairs drawn from the
//! real inventories and advisories plus random mutations. Zero disagreements allowed.

use std::io::Read;
use std::process::{Command, Stdio};

use patchwarden_testkit::Rng;

use crate::{here, shared};

fn field_values(text: &str, prefix: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix(prefix))
        .map(|v| v.trim().to_owned())
        .collect()
}

fn deb_versions() -> Vec<String> {
    let mut versions = Vec::new();
    for file in [
        "inventories/debian12.dpkg-status",
        "inventories/ubuntu20.04-armhf.dpkg-status",
        "advisories/debian/bookworm-security_main_binary-amd64_Packages",
    ] {
        versions.extend(field_values(
            &std::fs::read_to_string(shared(file)).unwrap(),
            "Version:",
        ));
    }
    for entry in std::fs::read_dir(shared("advisories/osv/Ubuntu")).unwrap() {
        let record: serde_json::Value = serde_json::from_slice(&std::fs::read(entry.unwrap().path()).unwrap()).unwrap();
        for affected in record["affected"].as_array().unwrap() {
            for v in affected["versions"].as_array().into_iter().flatten() {
                versions.push(v.as_str().unwrap().to_owned());
            }
        }
    }
    versions.sort();
    versions.dedup();
    versions
}

fn rpm_versions() -> Vec<String> {
    let mut versions = Vec::new();
    for file in [
        "rpm-qa.centos6-plain.tsv",
        "rpm-qa.centos7-plain.tsv",
        "rpm-qa.centos8-modularitylabel.tsv",
    ] {
        let text = std::fs::read_to_string(shared(&format!("inventories/{file}"))).unwrap();
        versions.extend(text.lines().filter_map(|l| l.split('\t').nth(1)).map(String::from));
    }
    let zip = std::fs::File::open(shared("advisories/osv/AlmaLinux/all.zip")).unwrap();
    let mut archive = zip::ZipArchive::new(zip).unwrap();
    for i in 0..archive.len() {
        let mut text = String::new();
        archive.by_index(i).unwrap().read_to_string(&mut text).unwrap();
        versions.extend(
            text.split("\"fixed\": \"")
                .skip(1)
                .filter_map(|s| s.split('"').next())
                .map(String::from),
        );
    }
    versions.sort();
    versions.dedup();
    versions
}

/// One random edit of the kinds that make version ordering hard.
fn mutate(rng: &mut Rng, version: &str, rpm: bool) -> String {
    let mut v = version.to_owned();
    for _ in 0..=rng.below(3) {
        let at = rng.below(v.len() + 1);
        let at = (0..=at).rev().find(|&i| v.is_char_boundary(i)).unwrap_or(0);
        let letters = ["a", "b", "z", "rc", "alpha", "pre", "p", "git", "dfsg", "ubuntu", "deb"];
        let edit: String = match rng.below(if rpm { 12 } else { 10 }) {
            0 => "~".into(),
            1 => format!("~{}", letters[rng.below(letters.len())]),
            2 => letters[rng.below(letters.len())].into(),
            3 => rng.below(100).to_string(),
            4 => format!("0{}", rng.below(10)),
            5 => ".".into(),
            6 => "..".into(),
            7 => "+".into(),
            8 => "00".into(),
            9 => format!(".{}", rng.below(20)),
            10 => "^".into(),
            _ => format!("^{}", letters[rng.below(letters.len())]),
        };
        v.insert_str(at, &edit);
    }
    match rng.below(6) {
        0 => v = format!("{}:{}", rng.below(3), v.split_once(':').map_or(v.as_str(), |(_, r)| r)),
        1 => v = v.split_once(':').map_or(v.clone(), |(_, r)| r.to_owned()),
        2 if !v.contains('-') => v.push_str(&format!("-{}", rng.below(5))),
        _ => {}
    }
    v
}

/// ≥ 100,000 pairs each side of which our parser accepts.
fn pairs(rng: &mut Rng, versions: &[String], scheme: &str, rpm: bool) -> String {
    let mut out = String::new();
    let mut count = 0;
    while count < 100_000 {
        let a = rng.pick(versions).clone();
        let b = match rng.below(4) {
            0 => rng.pick(versions).clone(),
            1 => a.clone(),
            _ => mutate(rng, &a, rpm),
        };
        let a = if rng.below(3) == 0 { mutate(rng, &a, rpm) } else { a };
        let valid = |v: &str| {
            !v.contains(char::is_whitespace)
                && patchwarden_domain::version::compare(
                    patchwarden_domain::version::VersionScheme::from_name(scheme).unwrap(),
                    v,
                    v,
                )
                .is_ok()
        };
        if valid(&a) && valid(&b) {
            out.push_str(&format!("{a} {b}\n"));
            count += 1;
        }
    }
    out
}

fn ours(scheme: &str, pairs_file: &std::path::Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_patchwarden"))
        .args(["version", "compare", "--ecosystem", scheme, "--batch"])
        .stdin(std::fs::File::open(pairs_file).unwrap())
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

fn assert_agree(pairs: &str, ours: &str, theirs: &str, oracle: &str) {
    let (ours, theirs): (Vec<&str>, Vec<&str>) = (ours.lines().collect(), theirs.lines().collect());
    assert_eq!(ours.len(), theirs.len(), "one answer per pair");
    assert!(ours.len() >= 100_000);
    let disagreements: Vec<String> = pairs
        .lines()
        .zip(ours.iter().zip(&theirs))
        .filter(|(_, (o, t))| o != t)
        .map(|(pair, (o, t))| format!("{pair}: ours {o}, {oracle} {t}"))
        .collect();
    assert!(
        disagreements.is_empty(),
        "{} disagreements with {oracle}:\n{}",
        disagreements.len(),
        disagreements[..disagreements.len().min(30)].join("\n")
    );
}

#[test]
fn debian_ordering_agrees_with_apt_and_dpkg() {
    let mut rng = Rng(0x05ee_ddeb);
    let pairs_text = pairs(&mut rng, &deb_versions(), "debian", false);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pairs");
    std::fs::write(&file, &pairs_text).unwrap();
    let theirs = Command::new("/usr/bin/python3")
        .arg(here("oracles/compare.py"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(theirs.status.success(), "{}", String::from_utf8_lossy(&theirs.stderr));
    let ours_out = ours("debian", &file);
    assert_agree(
        &pairs_text,
        &ours_out,
        &String::from_utf8(theirs.stdout).unwrap(),
        "apt_pkg",
    );

    // dpkg itself, on a sample (one process per pair).
    for (line, symbol) in pairs_text.lines().zip(ours_out.lines()).step_by(500) {
        let (a, b) = line.split_once(' ').unwrap();
        let op = match symbol {
            "<" => "lt",
            "=" => "eq",
            _ => "gt",
        };
        let status = Command::new("dpkg")
            .args(["--compare-versions", a, op, b])
            .status()
            .unwrap();
        assert!(status.success(), "dpkg disagrees: {a} {op} {b}");
    }
}

#[test]
fn rpm_ordering_agrees_with_rpm() {
    let mut rng = Rng(0x05ee_d0e9);
    let pairs_text = pairs(&mut rng, &rpm_versions(), "rpm", true);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pairs");
    std::fs::write(&file, &pairs_text).unwrap();
    let lua = format!(
        "%{{lua: for l in io.lines('{}') do local a, b = l:match('(%S+) (%S+)'); \
         local c = rpm.vercmp(a, b); io.write(c < 0 and '<' or c > 0 and '>' or '=', '\\n') end}}",
        file.display()
    );
    let theirs = Command::new("rpm").arg("--eval").arg(lua).output().unwrap();
    assert!(theirs.status.success(), "{}", String::from_utf8_lossy(&theirs.stderr));
    let theirs = String::from_utf8(theirs.stdout).unwrap();
    assert_agree(
        &pairs_text,
        &ours("rpm", &file),
        theirs.trim_end_matches('\n'),
        "rpm.vercmp",
    );
}
