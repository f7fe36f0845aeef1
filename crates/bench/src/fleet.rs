//! Fleets made from the real inventories: each host starts from a real package list and has some
//! packages at other versions that really exist (fixed versions from the advisories), the way hosts
//! patched at different times differ.

use patchwarden_domain::advisory::{Advisory, RangeEnd};
use patchwarden_domain::inventory::InstalledPackage;
use patchwarden_testkit::Rng;
use std::collections::HashMap;

/// A fleet: a pool of package records (what a server stores once) and, per host, indices into it.
#[derive(Debug)]
pub struct Fleet {
    pub pool: Vec<InstalledPackage>,
    pub hosts: Vec<Vec<u32>>,
}

/// Builds `hosts` hosts from `base`: each package moves, with probability 1/8, to one of the versions
/// the advisories name as fixes for it (a host patched for that advisory).
pub fn build(base: &[InstalledPackage], advisories: &[Advisory], hosts: usize, seed: u64) -> Fleet {
    let mut fixes: HashMap<&str, Vec<&patchwarden_domain::version::Version>> = HashMap::new();
    for advisory in advisories {
        for affected in &advisory.affected {
            for range in &affected.ranges {
                if let RangeEnd::Fixed(v) = &range.end {
                    fixes.entry(affected.package.as_str()).or_default().push(v);
                }
            }
        }
    }
    let mut pool: Vec<InstalledPackage> = base.to_vec();
    // Variants per base package, added to the pool lazily.
    let mut variants: HashMap<(usize, usize), u32> = HashMap::new();
    let mut rng = Rng(seed);
    let mut fleet_hosts = Vec::with_capacity(hosts);
    for _ in 0..hosts {
        let mut host = Vec::with_capacity(base.len());
        for (i, package) in base.iter().enumerate() {
            let choices = fixes.get(package.name.as_str()).map_or(&[][..], |v| &v[..]);
            if choices.is_empty() || rng.below(8) != 0 {
                host.push(u32::try_from(i).unwrap_or(u32::MAX));
                continue;
            }
            let which = rng.below(choices.len());
            let id = *variants.entry((i, which)).or_insert_with(|| {
                let mut moved = package.clone();
                moved.version = choices[which].clone();
                pool.push(moved);
                u32::try_from(pool.len() - 1).unwrap_or(u32::MAX)
            });
            host.push(id);
        }
        fleet_hosts.push(host);
    }
    Fleet {
        pool,
        hosts: fleet_hosts,
    }
}
