//! Bad input through the command line: each gets a clear error naming the file and where.

use std::io::Write;

use crate::{assess, patchwarden, shared};

fn assess_err(inventory: &std::path::Path, os: &str, advisories: &std::path::Path) -> String {
    let out = patchwarden(&[
        "assess",
        "--inventory",
        &inventory.display().to_string(),
        "--os",
        os,
        "--advisories",
        &advisories.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(2), "bad input must fail");
    assert!(out.stdout.is_empty(), "nothing is printed as a result");
    String::from_utf8(out.stderr).unwrap()
}

fn index() -> std::path::PathBuf {
    shared("advisories/debian/bookworm-security_main_binary-amd64_Packages")
}

#[test]
fn broken_inventories_are_located() {
    let dir = tempfile::tempdir().unwrap();
    let real = std::fs::read(shared("inventories/debian12.dpkg-status")).unwrap();

    // Truncated in the middle of a field name.
    let cut = dir.path().join("truncated");
    let at = real.windows(9).rposition(|w| w == b"\nPackage:").unwrap() + 5;
    std::fs::write(&cut, &real[..at]).unwrap();
    let lines = real[..at].iter().filter(|&&b| b == b'\n').count() + 1;
    let err = assess_err(&cut, "Debian:12", &index());
    assert!(err.contains(&format!("truncated: line {lines}: ")), "{err}");

    // A record without its Version.
    let text = String::from_utf8(real).unwrap().replacen("Version: 2.6.1\n", "", 1);
    let no_version = dir.path().join("no-version");
    std::fs::write(&no_version, text).unwrap();
    let err = assess_err(&no_version, "Debian:12", &index());
    assert!(
        err.contains("no-version: line ") && err.contains("has no Version field"),
        "{err}"
    );

    // Bad UTF-8 on line 3.
    let bad = dir.path().join("latin1");
    std::fs::write(&bad, b"Package: a\nStatus: install ok installed\nVersion: 1\xe9\n").unwrap();
    let err = assess_err(&bad, "Debian:12", &index());
    assert!(err.contains("latin1: line 3, column 11: not valid UTF-8"), "{err}");

    // 1 GiB (sparse): refused before it is read.
    let huge = dir.path().join("huge");
    std::fs::File::create(&huge).unwrap().set_len(1 << 30).unwrap();
    let err = assess_err(&huge, "Debian:12", &index());
    assert!(err.contains("huge: is 1073741824 bytes, over the limit"), "{err}");

    // rpm rows with a missing column.
    let rows = dir.path().join("rows.tsv");
    std::fs::write(
        &rows,
        "bash\t0:4.4.19-10.el8\tx86_64\tbash-4.4.19-10.el8.src.rpm\t(none)\nzsh\t5.5\n",
    )
    .unwrap();
    let err = assess_err(&rows, "AlmaLinux:8", &shared("advisories/osv/AlmaLinux/all.zip"));
    assert!(
        err.contains("rows.tsv: line 2: expected 5 tab-separated columns"),
        "{err}"
    );
}

#[test]
fn bad_advisories_are_named_and_skipped_or_refused() {
    let dir = tempfile::tempdir().unwrap();
    let osv = dir.path().join("osv");
    std::fs::create_dir(&osv).unwrap();
    std::fs::copy(
        shared("advisories/osv/Ubuntu/USN-4662-1.json"),
        osv.join("USN-4662-1.json"),
    )
    .unwrap();
    std::fs::write(osv.join("broken.json"), "{\"id\": \"USN-0\",\n \"affected\": [}").unwrap();
    std::fs::write(
        osv.join("npm.json"),
        r#"{"id":"GHSA-1","affected":[{"package":{"ecosystem":"npm","name":"x"}}]}"#,
    )
    .unwrap();
    let status = shared("inventories/ubuntu20.04-armhf.dpkg-status")
        .display()
        .to_string();
    let report = assess(&status, "Ubuntu:20.04:LTS", &osv.display().to_string(), &[]);
    let feeds = &report["summary"]["feeds"];
    assert_eq!(feeds["records"], 3);
    assert_eq!(feeds["advisories"], 1);
    assert_eq!(feeds["unknown_ecosystems"]["npm"], 1);
    let rejected = feeds["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 1);
    assert!(rejected[0]["source"].as_str().unwrap().ends_with("broken.json"));
    assert!(
        rejected[0]["reason"].as_str().unwrap().contains("line 2"),
        "{rejected:?}"
    );
    assert!(
        !report["findings"].as_array().unwrap().is_empty(),
        "the good record still counts"
    );

    // A zip bomb: 65 MiB of one byte, compressed to about 64 KiB, past the 64 MiB member limit.
    let bomb = dir.path().join("all.zip");
    let mut writer = zip::ZipWriter::new(std::fs::File::create(&bomb).unwrap());
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    writer.start_file("ubuntu/USN-1.json", options).unwrap();
    let block = vec![b' '; 1 << 20];
    for _ in 0..65 {
        writer.write_all(&block).unwrap();
    }
    writer.finish().unwrap();
    let inventory = shared("inventories/ubuntu20.04-armhf.dpkg-status");
    let err = assess_err(&inventory, "Ubuntu:20.04:LTS", &bomb);
    assert!(
        err.contains("all.zip (member ubuntu/USN-1.json): decompresses to more than"),
        "{err}"
    );
}

#[test]
fn mismatched_format_and_unknown_ecosystem_are_refused() {
    let status = shared("inventories/debian12.dpkg-status").display().to_string();
    let out = patchwarden(&[
        "assess",
        "--inventory",
        &status,
        "--inventory-format",
        "rpm-qa",
        "--os",
        "Debian:12",
        "--advisories",
        &status,
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not fit --os Debian:12"));
    let out = patchwarden(&[
        "assess",
        "--inventory",
        &status,
        "--os",
        "Windows:11",
        "--advisories",
        &status,
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown ecosystem \"Windows:11\""));
}

#[test]
fn version_compare_names_the_bad_line() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_patchwarden"))
        .args(["version", "compare", "--ecosystem", "debian", "--batch"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"1.0 1.1\nx:1 2\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "<\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2: cannot compare \"x:1\" with \"2\""));
    let out = patchwarden(&["version", "compare", "--ecosystem", "rpm", "1.0^git1", "1.0"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), ">\n");
}

/// `policy show` prints every value with its clause; a bad policy file stops `serve` at start,
/// naming the line and the reason.
#[test]
fn policy_files_are_checked_before_serving() {
    let shown = patchwarden(&["policy", "show"]);
    assert!(shown.status.success());
    let text = String::from_utf8(shown.stdout).unwrap();
    for clause in [
        "§12.1",
        "§12.2",
        "§12.3",
        "§13.1",
        "§13.2",
        "§13.3",
        "§7.7",
        "Appendix B",
        "§9",
    ] {
        assert!(text.contains(clause), "{clause} missing from:\n{text}");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.toml");
    std::fs::write(
        &file,
        "[sla]\ncritical_business_days = 5\n\n[matrix]\ncritical = [1, 2, 3, 4]\n",
    )
    .unwrap();
    let out = patchwarden(&[
        "serve",
        "--data-dir",
        &dir.path().join("data").display().to_string(),
        "--policy",
        &file.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("policy.toml: line 5:") && err.contains("expected an array of length 5"),
        "{err}"
    );
    assert!(
        !dir.path().join("data").exists(),
        "nothing is created for a refused policy"
    );
    std::fs::write(&file, "[sla]\ncritical_business_days = 5\n").unwrap();
    let shown = patchwarden(&["policy", "show", "--policy", &file.display().to_string()]);
    assert!(String::from_utf8_lossy(&shown.stdout).contains("critical_business_days = 5  # §12.1"));
}
