//! Matching at fleet scale and one host against apt.
//!
//! - `fleet_10k`: 10,000 hosts built from the real CentOS 8 inventory, assessed as AlmaLinux 8 against
//!   the whole AlmaLinux OSV corpus: the engine (each distinct package version once) against the
//!   naive hosts × packages loop, in the same run. `fleet_100k`: the engine alone.
//! - `assess_debian12`: the Debian 12 inventory against the bookworm-security index, read and parsed
//!   from disk in-process, against `apt-get -s upgrade` computing the same upgrades from the same
//!   status file and index in a sandbox.

// A benchmark that cannot read its data should stop loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use patchwarden_bench::fleet::{self, Fleet};
use patchwarden_domain::ecosystem::Ecosystem;
use patchwarden_domain::inventory::{self, InventoryFormat};
use patchwarden_domain::matching::{AdvisoryIndex, ThreatIntel, assess_host, assess_packages};
use patchwarden_feeds::{Importer, Limits};
use patchwarden_testkit::apt::AptSandbox;
use patchwarden_testkit::shared;

fn import(path: &Path) -> Vec<patchwarden_domain::advisory::Advisory> {
    let mut importer = Importer::new(Limits::default());
    importer.import_path(path).unwrap();
    importer.finish().0
}

/// The engine: evaluate the pool once (deduplicated), then hand every host its hits.
fn engine(index: &AdvisoryIndex, eco: &Ecosystem, fleet: &Fleet) -> usize {
    let hits = assess_packages(index, fleet.pool.iter().map(|p| (eco, p)));
    fleet
        .hosts
        .iter()
        .map(|host| host.iter().map(|&id| hits[id as usize].len()).sum::<usize>())
        .sum()
}

/// The naive loop: every package of every host evaluated from scratch.
fn naive(index: &AdvisoryIndex, eco: &Ecosystem, fleet: &Fleet) -> usize {
    fleet
        .hosts
        .iter()
        .map(|host| {
            host.iter()
                .map(|&id| index.evaluate(eco, &fleet.pool[id as usize]).len())
                .sum::<usize>()
        })
        .sum()
}

fn fleet_matching(c: &mut Criterion) {
    let advisories = import(&shared("advisories/osv/AlmaLinux/all.zip"));
    let text = std::fs::read_to_string(shared("inventories/rpm-qa.centos8-modularitylabel.tsv")).unwrap();
    let base = inventory::parse(InventoryFormat::RpmQa, &text).unwrap();
    let eco = Ecosystem::parse("AlmaLinux:8").unwrap();
    let fleet10k = fleet::build(&base, &advisories, 10_000, 1);
    let index = AdvisoryIndex::new(advisories.clone());
    assert_eq!(
        engine(&index, &eco, &fleet10k),
        naive(&index, &eco, &fleet10k),
        "same findings both ways"
    );

    let mut group = c.benchmark_group("fleet_10k");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    group.bench_function("patchwarden", |b| b.iter(|| engine(black_box(&index), &eco, &fleet10k)));
    group.bench_function("naive_loop", |b| b.iter(|| naive(black_box(&index), &eco, &fleet10k)));
    group.finish();
    drop(fleet10k);

    let fleet100k = fleet::build(&base, &advisories, 100_000, 2);
    let mut group = c.benchmark_group("fleet_100k");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    group.bench_function("patchwarden", |b| {
        b.iter(|| engine(black_box(&index), &eco, &fleet100k))
    });
    group.finish();
}

fn ours_debian12() -> usize {
    let status = std::fs::read_to_string(shared("inventories/debian12.dpkg-status")).unwrap();
    let packages = inventory::parse(InventoryFormat::DpkgStatus, &status).unwrap();
    let index = AdvisoryIndex::new(import(&shared(
        "advisories/debian/bookworm-security_main_binary-amd64_Packages",
    )));
    let eco = Ecosystem::parse("Debian:12").unwrap();
    assess_host(&index, &ThreatIntel::default(), &eco, &packages).len()
}

fn assess_vs_apt(c: &mut Criterion) {
    let root = std::env::temp_dir().join(format!("patchwarden-bench-apt-{}", std::process::id()));
    let apt = AptSandbox::new(
        &root,
        &shared("inventories/debian12.dpkg-status"),
        &shared("advisories/debian/bookworm-security_main_binary-amd64_Packages"),
    )
    .unwrap();
    assert_eq!(
        apt.simulated_upgrades().unwrap().len(),
        94,
        "apt computes the 94 upgrades"
    );
    assert_eq!(ours_debian12(), 94, "patchwarden finds the same 94");
    let mut group = c.benchmark_group("assess_debian12");
    group.sample_size(30);
    group.bench_function("patchwarden", |b| b.iter(ours_debian12));
    group.bench_function("apt_get_simulate_upgrade", |b| {
        b.iter(|| apt.simulated_upgrades().unwrap().len())
    });
    group.finish();
}

criterion_group!(benches, fleet_matching, assess_vs_apt);
criterion_main!(benches);
