//! The matching engine: installed packages × advisories → findings (§7.5.2 missing patches).
//!
//! Rules, each chosen so that our answer agrees with the distribution's own tools:
//! - Debian and Ubuntu advisories name source packages and their versions; a binary package is
//!   compared by its source's name and version (dpkg's `Source: name (version)`), so binNMUs and
//!   renamed binaries are neither missed nor doubled. Archive indexes name binaries.
//! - RHEL-family advisories name binary packages.
//! - Within one advisory, ranges of one package that start at the same version are alternative
//!   builds of one fix (an erratum lists the fix once per minor release or module build): a host
//!   that reached any of them is fixed, and the fix reported is the lowest one above the host.
//! - A package installed from an RPM module stream is matched only by fixes built for a module and,
//!   when the advisory names its streams, only by advisories naming the package's stream; a package
//!   not from a module is matched only by non-module fixes.
//! - Each distinct (ecosystem, package, version) is evaluated once; a fleet costs its number of
//!   distinct package versions, not hosts × packages.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::advisory::{Advisory, NameKind, RangeEnd, Severity};
use crate::ecosystem::Ecosystem;
use crate::inventory::InstalledPackage;
use crate::version::Version;

/// Advisories indexed by ecosystem and package name.
#[derive(Debug, Default)]
pub struct AdvisoryIndex {
    advisories: Vec<Advisory>,
    ecosystems: HashMap<Ecosystem, PackageEntries>,
    by_id: HashMap<String, usize>,
}

#[derive(Debug, Default)]
struct PackageEntries {
    by_source: HashMap<String, Vec<EntryRef>>,
    by_binary: HashMap<String, Vec<EntryRef>>,
}

#[derive(Debug, Clone, Copy)]
struct EntryRef {
    advisory: usize,
    affected: usize,
}

/// One advisory that applies to one installed package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// Index into [`AdvisoryIndex::advisories`].
    pub advisory: usize,
    /// The lowest fixed version above the installed one, if the advisory names one.
    pub fixed: Option<Version>,
}

impl AdvisoryIndex {
    pub fn new(advisories: Vec<Advisory>) -> AdvisoryIndex {
        let mut ecosystems: HashMap<Ecosystem, PackageEntries> = HashMap::new();
        for (advisory, record) in advisories.iter().enumerate() {
            for (affected, entry) in record.affected.iter().enumerate() {
                let packages = ecosystems.entry(entry.ecosystem.clone()).or_default();
                let map = match entry.names {
                    NameKind::Source => &mut packages.by_source,
                    NameKind::Binary => &mut packages.by_binary,
                };
                map.entry(entry.package.clone())
                    .or_default()
                    .push(EntryRef { advisory, affected });
            }
        }
        let by_id = advisories.iter().enumerate().map(|(i, a)| (a.id.clone(), i)).collect();
        AdvisoryIndex {
            advisories,
            ecosystems,
            by_id,
        }
    }

    /// The advisory with this id.
    pub fn get(&self, id: &str) -> Option<&Advisory> {
        self.by_id.get(id).map(|&i| &self.advisories[i])
    }

    pub fn advisories(&self) -> &[Advisory] {
        &self.advisories
    }

    /// Whether any advisory names this package (by binary or source name) in this ecosystem: most
    /// installed packages have none, and need no further work.
    pub fn names(&self, ecosystem: &Ecosystem, package: &InstalledPackage) -> bool {
        self.ecosystems.get(ecosystem).is_some_and(|entries| {
            entries.by_binary.contains_key(&package.name) || entries.by_source.contains_key(package.source_name())
        })
    }

    /// Every advisory that applies to `package` on a host of `ecosystem`, evaluated from scratch.
    pub fn evaluate(&self, ecosystem: &Ecosystem, package: &InstalledPackage) -> Vec<Hit> {
        let Some(entries) = self.ecosystems.get(ecosystem) else {
            return Vec::new();
        };
        let binary = entries
            .by_binary
            .get(&package.name)
            .map(|refs| (refs, &package.version));
        let source = entries
            .by_source
            .get(package.source_name())
            .map(|refs| (refs, package.source_version()));
        let mut hits = Vec::new();
        for (refs, version) in binary.into_iter().chain(source) {
            // Entries of one advisory are contiguous: they were pushed in advisory order.
            for group in refs.chunk_by(|a, b| a.advisory == b.advisory) {
                if let Some(hit) = self.verdict(group, version, package.module.as_deref()) {
                    hits.push(hit);
                }
            }
        }
        hits
    }

    fn verdict(&self, group: &[EntryRef], version: &Version, module: Option<&str>) -> Option<Hit> {
        let advisory_index = group.first()?.advisory;
        let advisory = &self.advisories[advisory_index];
        if let Some(stream) = module
            && !advisory.modules.is_empty()
            && !advisory.modules.iter().any(|m| m == stream)
        {
            return None;
        }
        // Ranges sharing a start are alternatives: keep the lowest end per start.
        let mut starts: Vec<(Option<&Version>, &RangeEnd)> = Vec::new();
        let mut listed = false;
        for entry in group {
            let affected = &advisory.affected[entry.affected];
            if affected.module_build != module.is_some() {
                continue;
            }
            listed |= affected.versions.contains(version);
            for range in &affected.ranges {
                let start = range.introduced.as_ref();
                match starts.iter_mut().find(|(s, _)| *s == start) {
                    Some((_, end)) => *end = lower_end(end, &range.end),
                    None => starts.push((start, &range.end)),
                }
            }
        }
        let admitting = starts.iter().filter(|(start, end)| {
            start.is_none_or(|s| s <= version)
                && match end {
                    RangeEnd::Fixed(f) => version < f,
                    RangeEnd::LastAffected(l) => version <= l,
                    RangeEnd::Open => true,
                }
        });
        let mut affected = listed;
        let mut fixed: Option<&Version> = None;
        for (_, end) in admitting {
            affected = true;
            if let RangeEnd::Fixed(f) = end {
                fixed = Some(fixed.map_or(f, |g| g.min(f)));
            }
        }
        if !affected {
            return None;
        }
        if fixed.is_none() {
            // Listed one by one: report the lowest fix above the installed version, if any.
            fixed = starts
                .iter()
                .filter_map(|(_, end)| match end {
                    RangeEnd::Fixed(f) if version < f => Some(f),
                    _ => None,
                })
                .min();
        }
        Some(Hit {
            advisory: advisory_index,
            fixed: fixed.cloned(),
        })
    }
}

/// Of two alternative ends for one start, the one that leaves fewer versions affected.
fn lower_end<'a>(a: &'a RangeEnd, b: &'a RangeEnd) -> &'a RangeEnd {
    match (a, b) {
        (RangeEnd::Open, other) | (other, RangeEnd::Open) => other,
        (RangeEnd::Fixed(x), RangeEnd::Fixed(y)) => {
            if y < x {
                b
            } else {
                a
            }
        }
        (RangeEnd::LastAffected(x), RangeEnd::LastAffected(y)) => {
            if y < x {
                b
            } else {
                a
            }
        }
        (RangeEnd::Fixed(f), RangeEnd::LastAffected(l)) | (RangeEnd::LastAffected(l), RangeEnd::Fixed(f)) => {
            // `v <= l` admits fewer than `v < f` exactly when l < f.
            if l < f {
                if matches!(a, RangeEnd::LastAffected(_)) { a } else { b }
            } else if matches!(a, RangeEnd::Fixed(_)) {
                a
            } else {
                b
            }
        }
    }
}

#[derive(PartialEq, Eq, Hash)]
struct DistinctKey<'a> {
    ecosystem: &'a Ecosystem,
    name: &'a str,
    version: &'a Version,
    source: &'a str,
    source_version: &'a Version,
    module: Option<&'a str>,
}

impl<'a> DistinctKey<'a> {
    fn of(ecosystem: &'a Ecosystem, p: &'a InstalledPackage) -> DistinctKey<'a> {
        DistinctKey {
            ecosystem,
            name: &p.name,
            version: &p.version,
            source: p.source_name(),
            source_version: p.source_version(),
            module: p.module.as_deref(),
        }
    }
}

/// The hits of every (ecosystem, package), each distinct package version evaluated once; equal
/// versions written differently share one evaluation.
pub fn assess_packages<'a>(
    index: &AdvisoryIndex,
    packages: impl IntoIterator<Item = (&'a Ecosystem, &'a InstalledPackage)>,
) -> Vec<Arc<[Hit]>> {
    let mut seen: HashMap<DistinctKey<'a>, Arc<[Hit]>> = HashMap::new();
    let none: Arc<[Hit]> = Arc::from(Vec::new());
    packages
        .into_iter()
        .map(|(ecosystem, package)| {
            if !index.names(ecosystem, package) {
                return Arc::clone(&none);
            }
            seen.entry(DistinctKey::of(ecosystem, package))
                .or_insert_with(|| index.evaluate(ecosystem, package).into())
                .clone()
        })
        .collect()
}

/// Known-exploited and exploit-likelihood data that ranks findings.
#[derive(Debug, Clone, Default)]
pub struct ThreatIntel {
    /// CVE ids in CISA's Known Exploited Vulnerabilities catalog.
    pub kev: HashSet<String>,
    /// EPSS probability per CVE id.
    pub epss: HashMap<String, f64>,
}

/// A missing patch on one host: one per (installed binary package, advisory).
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub package: String,
    pub source: String,
    pub installed: Version,
    pub fixed: Option<Version>,
    pub advisory: String,
    pub cves: Vec<String>,
    pub severity: Option<Severity>,
    pub kev: bool,
    /// The highest EPSS probability among the advisory's CVEs.
    pub epss: Option<f64>,
}

/// Turns hits into findings, most urgent first: known exploited, then severity, then EPSS.
pub fn findings<'a>(
    index: &AdvisoryIndex,
    intel: &ThreatIntel,
    hits: impl IntoIterator<Item = (&'a InstalledPackage, &'a [Hit])>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for (package, package_hits) in hits {
        for hit in package_hits {
            let advisory = &index.advisories[hit.advisory];
            let kev = advisory.cves.iter().any(|c| intel.kev.contains(c));
            let epss = advisory
                .cves
                .iter()
                .filter_map(|c| intel.epss.get(c).copied())
                .reduce(f64::max);
            out.push(Finding {
                package: package.name.clone(),
                source: package.source_name().to_owned(),
                installed: package.version.clone(),
                fixed: hit.fixed.clone(),
                advisory: advisory.id.clone(),
                cves: advisory.cves.clone(),
                severity: advisory.severity,
                kev,
                epss,
            });
        }
    }
    out.sort_by(|a, b| {
        b.kev
            .cmp(&a.kev)
            .then_with(|| b.severity.cmp(&a.severity))
            .then_with(|| b.epss.unwrap_or(0.0).total_cmp(&a.epss.unwrap_or(0.0)))
            .then_with(|| a.package.cmp(&b.package))
            .then_with(|| a.advisory.cmp(&b.advisory))
    });
    out
}

/// The findings of one host.
pub fn assess_host(
    index: &AdvisoryIndex,
    intel: &ThreatIntel,
    ecosystem: &Ecosystem,
    packages: &[InstalledPackage],
) -> Vec<Finding> {
    let hits = assess_packages(index, packages.iter().map(|p| (ecosystem, p)));
    findings(index, intel, packages.iter().zip(hits.iter().map(|h| &h[..])))
}

#[cfg(test)]
mod tests;
