//! Version comparison throughput against libdpkg and librpm, on versions from the real inventories
//! and advisories, both sides comparing versions parsed or checked once.

// A benchmark that cannot read its data should stop loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cmp::Ordering;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use patchwarden_bench::baseline::{Library, Parsed};
use patchwarden_domain::version::{Version, VersionScheme};
use patchwarden_testkit::{Rng, shared};

const PAIRS: usize = 10_000;

fn deb_versions() -> Vec<String> {
    let mut out = Vec::new();
    for file in [
        "inventories/debian12.dpkg-status",
        "advisories/debian/bookworm-security_main_binary-amd64_Packages",
    ] {
        let text = std::fs::read_to_string(shared(file)).unwrap();
        out.extend(
            text.lines()
                .filter_map(|l| l.strip_prefix("Version: "))
                .map(String::from),
        );
    }
    out
}

fn rpm_versions() -> Vec<String> {
    let mut out = Vec::new();
    for file in ["rpm-qa.centos7-plain.tsv", "rpm-qa.centos8-modularitylabel.tsv"] {
        let text = std::fs::read_to_string(shared(&format!("inventories/{file}"))).unwrap();
        out.extend(text.lines().filter_map(|l| l.split('\t').nth(1)).map(String::from));
    }
    out
}

fn bench(c: &mut Criterion, name: &str, scheme: VersionScheme, library: Library, versions: &[String]) {
    let ours: Vec<Version> = versions.iter().map(|v| Version::parse(scheme, v).unwrap()).collect();
    let theirs = Parsed::new(library, versions).unwrap();
    let mut rng = Rng(7);
    let pairs: Vec<(usize, usize)> = (0..PAIRS)
        .map(|_| (rng.below(versions.len()), rng.below(versions.len())))
        .collect();
    // Same answers first: a fast wrong comparison is worth nothing.
    for &(i, j) in &pairs {
        let expected = match theirs.compare(i, j) {
            ..0 => Ordering::Less,
            0 => Ordering::Equal,
            _ => Ordering::Greater,
        };
        assert_eq!(ours[i].cmp(&ours[j]), expected, "{} vs {}", versions[i], versions[j]);
    }
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(PAIRS as u64));
    group.bench_function("c_library", |b| {
        b.iter(|| {
            pairs
                .iter()
                .map(|&(i, j)| theirs.compare(black_box(i), black_box(j)))
                .sum::<i32>()
        })
    });
    group.bench_function("patchwarden", |b| {
        b.iter(|| {
            pairs
                .iter()
                .map(|&(i, j)| black_box(&ours[i]).cmp(black_box(&ours[j])) as i32)
                .sum::<i32>()
        })
    });
    group.finish();
}

fn versions(c: &mut Criterion) {
    bench(
        c,
        "deb_compare_vs_libdpkg",
        VersionScheme::Deb,
        Library::Dpkg,
        &deb_versions(),
    );
    bench(
        c,
        "rpm_compare_vs_librpm",
        VersionScheme::Rpm,
        Library::Rpm,
        &rpm_versions(),
    );
}

criterion_group!(benches, versions);
criterion_main!(benches);
