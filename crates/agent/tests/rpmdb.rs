//! The rpm adapter over real CentOS 6, 7 and 8 rpm databases (BerkeleyDB `Packages` files from
//! Debian's golang-github-knqyf263-go-rpmdb-dev, fetched by `.ci/setup`): what it reads equals the
//! `rpm -qa` rows in `shared/data/inventories`, which rpm 4.18 printed from the same databases.

// Test helpers may fail loudly: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use patchwarden_agent::adapters::rpm::{RpmDatabase, RpmError, installed, query};
use patchwarden_domain::inventory::{self, InventoryFormat};

fn testdata(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/testdata/go-rpmdb/usr/share/gocode/src/github.com/knqyf263/go-rpmdb/pkg/testdata")
        .join(name);
    assert!(
        dir.join("Packages").exists(),
        "{} is missing: run `bash .ci/setup` first",
        dir.display()
    );
    dir
}

fn shared(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/inventories")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn real_rpm_databases_read_like_rpm_qa() {
    for release in ["centos6-plain", "centos7-plain", "centos8-modularitylabel"] {
        let database = RpmDatabase {
            dbpath: Some(testdata(release)),
            berkeley_db: true,
        };
        let mut rows: Vec<String> = query(&database).unwrap().lines().map(String::from).collect();
        let mut expected: Vec<String> = shared(&format!("rpm-qa.{release}.tsv"))
            .lines()
            .map(String::from)
            .collect();
        rows.sort();
        expected.sort();
        assert_eq!(rows, expected, "{release}");
        let key = |p: &inventory::InstalledPackage| (p.name.clone(), p.version.as_str().to_owned(), p.arch.clone());
        let mut packages = installed(&database).unwrap();
        packages.sort_by_key(key);
        let mut from_file = inventory::parse(InventoryFormat::RpmQa, &expected.join("\n")).unwrap();
        from_file.sort_by_key(key);
        assert_eq!(packages, from_file, "{release}");
    }
}

#[test]
fn a_missing_database_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let database = RpmDatabase {
        dbpath: Some(dir.path().join("nowhere")),
        berkeley_db: true,
    };
    match installed(&database) {
        // rpm reports an empty database as no packages, a missing one as an error; both are fine,
        // neither may be mistaken for a populated host.
        Ok(packages) => assert!(packages.is_empty()),
        Err(RpmError::Failed { stderr, .. }) => assert!(!stderr.is_empty()),
        Err(other) => panic!("unexpected error {other}"),
    }
}
