//! Reader tests on small hand-made records; the real inventories are read in the integration tests.

use super::*;

#[test]
fn dpkg_source_with_its_own_version() {
    let text = "Package: libblkid1\nStatus: install ok installed\nArchitecture: armhf\n\
                Source: util-linux (2.34-0.1ubuntu9)\nVersion: 2.34-0.1ubuntu9.1\n\n\
                Package: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n";
    let packages = parse(InventoryFormat::DpkgStatus, text).unwrap();
    assert_eq!(packages.len(), 1);
    assert_eq!(packages[0].source_name(), "util-linux");
    assert_eq!(packages[0].source_version().as_str(), "2.34-0.1ubuntu9");
}

#[test]
fn missing_version_names_the_stanza() {
    let text = "Package: a\nStatus: install ok installed\nVersion: 1\n\nPackage: b\nStatus: install ok installed\n";
    let err = parse(InventoryFormat::DpkgStatus, text).unwrap_err();
    assert_eq!(err.line, 5);
    assert_eq!(err.problem, Problem::MissingField("Version"));
}

#[test]
fn truncated_stanza_is_an_error() {
    let text = "Package: a\nStatus: install ok installed\nVersion: 1\n\nPackage: b\nStat";
    assert_eq!(parse(InventoryFormat::DpkgStatus, text).unwrap_err().line, 6);
}

#[test]
fn rpm_rows_with_modules() {
    let text = "nodejs\t1:10.21.0-3.module_el8.2.0+391+8da3adc6\tx86_64\tnodejs-10.21.0-3.module_el8.2.0+391+8da3adc6.src.rpm\tnodejs:10:8020020200707141642:6a468ee4\n\
                audit-libs\t0:3.0-0.17.20191104git1c2f876.el8\tx86_64\taudit-3.0-0.17.20191104git1c2f876.el8.src.rpm\t(none)\n";
    let packages = parse(InventoryFormat::RpmQa, text).unwrap();
    assert_eq!(packages[0].module.as_deref(), Some("nodejs:10"));
    assert_eq!(packages[0].source, None);
    assert_eq!(packages[1].source.as_deref(), Some("audit"));
    assert_eq!(
        parse(InventoryFormat::RpmQa, "a\t1.0\n").unwrap_err().problem,
        Problem::Columns(2)
    );
}

#[test]
fn apk_origin_is_the_source() {
    let text = "C:Q1abc=\nP:busybox-binsh\nV:1.36.1-r2\nA:x86_64\no:busybox\n\nP:musl\nV:1.2.4-r1\n";
    let packages = parse(InventoryFormat::Apk, text).unwrap();
    assert_eq!(packages[0].source_name(), "busybox");
    assert_eq!(packages[1].source_name(), "musl");
}

proptest::proptest! {
    /// Arbitrary text never panics a reader, and every error names a line inside the text.
    #[test]
    fn readers_never_panic(text in "(\\PC|\n|\t){0,300}") {
        let lines = text.lines().count().max(1);
        for format in [InventoryFormat::DpkgStatus, InventoryFormat::RpmQa, InventoryFormat::Apk] {
            if let Err(e) = parse(format, &text) {
                proptest::prop_assert!(e.line >= 1 && e.line <= lines, "{e} in {lines} lines");
            }
        }
    }

    /// Cutting a valid status file anywhere gives packages or a located error, never a panic.
    #[test]
    fn truncation_is_never_a_panic(cut in 0usize..200) {
        let text = "Package: a\nStatus: install ok installed\nVersion: 1:2.0-1\nSource: b (2.0-1)\n\nPackage: c\nStatus: install ok installed\nVersion: 3\n";
        let cut = cut.min(text.len());
        let _ = parse(InventoryFormat::DpkgStatus, &text[..cut]);
    }
}
