//! Unit tests for version ordering; the golden files and live oracles are tested in the
//! `patchwarden` crate's integration tests.

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};

use super::*;

fn cmp(scheme: VersionScheme, a: &str, b: &str) -> Ordering {
    compare(scheme, a, b).unwrap()
}

#[test]
fn equal_versions_written_differently_are_one_key() {
    let hasher = RandomState::new();
    let pairs = [
        (VersionScheme::Deb, "1.09", "1.9"),
        (VersionScheme::Deb, "0:1.0", "1.0"),
        (VersionScheme::Deb, "1.0-0", "1.0"),
        (VersionScheme::Deb, "1a", "1a0"),
        (VersionScheme::Rpm, "1.09", "1.9"),
        (VersionScheme::Rpm, "1_0", "1.0"),
        (VersionScheme::Rpm, "0:2.0-1", "2.0-01"),
        (VersionScheme::Apk, "1-r1", "1-r01"),
        (VersionScheme::Apk, "1.0", "1"),
    ];
    for (scheme, a, b) in pairs {
        let (va, vb) = (Version::parse(scheme, a).unwrap(), Version::parse(scheme, b).unwrap());
        assert_eq!(va, vb, "{a} = {b}");
        assert_eq!(hasher.hash_one(&va), hasher.hash_one(&vb), "{a} and {b} hash alike");
        let set: HashSet<Version> = [va, vb].into_iter().collect();
        assert_eq!(set.len(), 1);
    }
}

#[test]
fn deb_tilde_sorts_before_the_end() {
    assert_eq!(cmp(VersionScheme::Deb, "1.0~rc1", "1.0"), Ordering::Less);
    assert_eq!(cmp(VersionScheme::Deb, "1.0~~", "1.0~"), Ordering::Less);
    assert_eq!(cmp(VersionScheme::Deb, "1:0.1", "2.0"), Ordering::Greater);
}

#[test]
fn rpm_caret_and_tilde() {
    assert_eq!(cmp(VersionScheme::Rpm, "1.0^git1", "1.0"), Ordering::Greater);
    assert_eq!(cmp(VersionScheme::Rpm, "1.0^git1", "1.0.1"), Ordering::Less);
    assert_eq!(cmp(VersionScheme::Rpm, "1.0~rc1", "1.0"), Ordering::Less);
}

#[test]
fn malformed_versions_are_refused_with_a_reason() {
    assert_eq!(Version::parse(VersionScheme::Deb, ""), Err(VersionError::Empty));
    assert_eq!(Version::parse(VersionScheme::Deb, "a:1"), Err(VersionError::BadEpoch));
    assert_eq!(
        Version::parse(VersionScheme::Deb, "1:"),
        Err(VersionError::NothingAfterColon)
    );
    assert_eq!(
        Version::parse(VersionScheme::Deb, "1.0-"),
        Err(VersionError::EmptyRevision)
    );
    assert_eq!(
        Version::parse(VersionScheme::Deb, "1 0"),
        Err(VersionError::Whitespace { at: 1 })
    );
    assert_eq!(
        Version::parse(VersionScheme::Rpm, "-1"),
        Err(VersionError::EmptyUpstream)
    );
}

proptest::proptest! {
    #[test]
    fn ordering_is_antisymmetric_and_hash_follows_equality(
        scheme in proptest::sample::select(vec![VersionScheme::Deb, VersionScheme::Rpm, VersionScheme::Apk]),
        a in "[0-9]{0,2}:?[0-9a-z.~^+_-]{1,8}",
        b in "[0-9]{0,2}:?[0-9a-z.~^+_-]{1,8}",
    ) {
        let (Ok(va), Ok(vb)) = (Version::parse(scheme, &a), Version::parse(scheme, &b)) else {
            return Ok(());
        };
        proptest::prop_assert_eq!(va.cmp(&vb), vb.cmp(&va).reverse());
        if va == vb {
            let hasher = RandomState::new();
            proptest::prop_assert_eq!(hasher.hash_one(&va), hasher.hash_one(&vb));
        }
    }
}
