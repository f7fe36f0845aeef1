//! Importer tests on made-up sources: duplicates, bad records, size limits, zip bombs.

use std::io::Write;

use super::*;

fn record(id: &str, modified: &str, fixed: &str) -> String {
    serde_json::json!({
        "id": id, "modified": modified, "summary": "Important: p security update",
        "affected": [{"package": {"ecosystem": "AlmaLinux:8", "name": "p"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}]
    })
    .to_string()
}

fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut writer = zip::ZipWriter::new(&mut out);
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in members {
        writer.start_file(*name, options).unwrap();
        writer.write_all(bytes).unwrap();
    }
    writer.finish().unwrap();
    out.into_inner()
}

#[test]
fn duplicates_keep_the_newest_and_bad_records_are_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.json"),
        record("ALSA-1", "2024-01-01T00:00:00Z", "1.0-1.el8"),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(
        dir.path().join("sub/b.json"),
        record("ALSA-1", "2024-02-01T00:00:00Z", "1.0-2.el8"),
    )
    .unwrap();
    std::fs::write(dir.path().join("c.json"), "{\"id\": \"broken\",").unwrap();
    let mut importer = Importer::new(Limits::default());
    importer.import_path(dir.path()).unwrap();
    let (advisories, report) = importer.finish();
    assert_eq!((report.records, report.advisories, report.duplicates), (3, 1, 1));
    assert_eq!(advisories[0].modified.as_deref(), Some("2024-02-01T00:00:00Z"));
    assert_eq!(report.rejected.len(), 1);
    assert!(report.rejected[0].source.ends_with("c.json"), "{:?}", report.rejected);
    assert!(report.rejected[0].reason.contains("line 1"), "{:?}", report.rejected);
}

#[test]
fn zip_members_are_read_and_bombs_refused() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("all.zip");
    std::fs::write(
        &good,
        zip_of(&[(
            "almalinux8/A.json",
            record("A", "2024-01-01T00:00:00Z", "1-1").as_bytes(),
        )]),
    )
    .unwrap();
    let mut importer = Importer::new(Limits::default());
    importer.import_path(&good).unwrap();
    assert_eq!(importer.finish().1.advisories, 1);

    // 64 MiB of zeros compress to about 64 KiB: past a 1 MiB member limit, refused by name.
    let bomb = dir.path().join("bomb.zip");
    std::fs::write(&bomb, zip_of(&[("x/bomb.json", &vec![b' '; 64 << 20])])).unwrap();
    let limits = Limits {
        entry_bytes: 1 << 20,
        ..Limits::default()
    };
    let err = Importer::new(limits).import_path(&bomb).unwrap_err().to_string();
    assert!(
        err.contains("bomb.zip (member x/bomb.json): decompresses to more than"),
        "{err}"
    );
}

#[test]
fn oversized_files_are_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("huge.json");
    // A sparse 1 GiB file: no disk used, but its size is what a reader would face.
    std::fs::File::create(&big).unwrap().set_len(1 << 30).unwrap();
    let err = Importer::new(Limits::default())
        .import_path(&big)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("huge.json: is 1073741824 bytes, over the limit of 536870912 bytes"),
        "{err}"
    );
}

#[test]
fn unrecognised_files_say_what_was_expected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "hello").unwrap();
    let err = Importer::new(Limits::default())
        .import_path(&path)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not an OSV record"), "{err}");
}
