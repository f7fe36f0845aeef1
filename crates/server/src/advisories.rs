//! The advisories in force: rebuilt from the stored feed sources at start and after every import, and
//! every host's findings recomputed when they change (§7.5.2).

use std::collections::HashMap;

use patchwarden_domain::ecosystem::Ecosystem;
use patchwarden_domain::inventory::InstalledPackage;
use patchwarden_domain::matching::{AdvisoryIndex, Finding, ThreatIntel, assess_host};
use patchwarden_domain::version::Version;
use patchwarden_feeds::{Importer, Limits};
use patchwarden_store::{Audit, FeedSource, FindingRow, SoftwareRow, Store, StoreError};

/// The settings key that changes whenever the stored feed sources do, so that every server process
/// on one database notices an import made by another (the CLI, or a second server).
pub const GENERATION_KEY: &str = "advisories_generation";

#[derive(Debug, Default)]
pub struct Advisories {
    pub index: AdvisoryIndex,
    pub intel: ThreatIntel,
    pub generation: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AdvisoryError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Feed(#[from] patchwarden_feeds::FeedError),
    #[error("stored feed source {name}: {message}")]
    Source { name: String, message: String },
}

/// What kind of source a file is, by its name: KEV and EPSS are told apart from advisories.
pub fn kind_of(name: &str) -> &'static str {
    let lower = name.to_ascii_lowercase();
    if lower.contains("known_exploited_vulnerabilities") {
        "kev"
    } else if lower.contains("epss") {
        "epss"
    } else {
        "advisories"
    }
}

impl AdvisoryError {
    pub fn from_input(error: patchwarden_feeds::InputError) -> AdvisoryError {
        AdvisoryError::Feed(error.into())
    }
}

/// Parses one source on its own, as an import checks it before storing.
pub fn check_source(source: &FeedSource) -> Result<patchwarden_feeds::ImportReport, AdvisoryError> {
    if source.kind == "advisories" {
        let mut importer = Importer::new(Limits::default());
        importer.import_bytes(&source.name, &source.content)?;
        return Ok(importer.finish().1);
    }
    let built = build(std::slice::from_ref(source), String::new())?;
    Ok(patchwarden_feeds::ImportReport {
        records: built.intel.kev.len() + built.intel.epss.len(),
        ..patchwarden_feeds::ImportReport::default()
    })
}

/// A source with the figures of checking it: records, advisories kept, records rejected.
pub fn counted(mut source: FeedSource) -> Result<FeedSource, AdvisoryError> {
    let report = check_source(&source)?;
    source.records = i64::try_from(report.records).unwrap_or(i64::MAX);
    source.advisories = i64::try_from(report.advisories).unwrap_or(i64::MAX);
    source.rejected = i64::try_from(report.rejected.len()).unwrap_or(i64::MAX);
    Ok(source)
}

/// Builds the advisories from stored sources.
pub fn build(sources: &[FeedSource], generation: String) -> Result<Advisories, AdvisoryError> {
    let limits = Limits::default();
    let mut importer = Importer::new(limits);
    let mut intel = ThreatIntel::default();
    // A source registered by URL has no content until its first sync.
    for source in sources.iter().filter(|s| !s.content.is_empty()) {
        let fail = |message: String| AdvisoryError::Source {
            name: source.name.clone(),
            message,
        };
        match source.kind.as_str() {
            "kev" => intel
                .kev
                .extend(patchwarden_feeds::parse_kev(&source.content).map_err(|e| fail(e.to_string()))?),
            "epss" => {
                let bytes = patchwarden_feeds::input::gunzip_if_compressed(&source.content, &limits)
                    .map_err(|e| fail(e.to_string()))?;
                intel
                    .epss
                    .extend(patchwarden_feeds::parse_epss(&bytes).map_err(|e| fail(e.to_string()))?);
            }
            _ => importer
                .import_bytes(&source.name, &source.content)
                .map_err(|e| fail(e.to_string()))?,
        }
    }
    let (advisories, _report) = importer.finish();
    Ok(Advisories {
        index: AdvisoryIndex::new(advisories),
        intel,
        generation,
    })
}

/// Loads the advisories from the store.
pub async fn load(store: &Store) -> Result<Advisories, AdvisoryError> {
    let generation = store.setting(GENERATION_KEY).await?.unwrap_or_default();
    let sources = store.feed_sources().await?;
    tokio::task::block_in_place(|| build(&sources, generation))
}

/// A stored package as the domain sees it; `None` if its version does not parse (never stored so).
pub fn installed(row: &SoftwareRow, ecosystem: &Ecosystem) -> Option<InstalledPackage> {
    let scheme = ecosystem.scheme();
    Some(InstalledPackage {
        name: row.name.clone(),
        version: Version::parse(scheme, &row.version).ok()?,
        arch: row.arch.clone(),
        source: row.source.clone(),
        source_version: match &row.source_version {
            Some(v) => Some(Version::parse(scheme, v).ok()?),
            None => None,
        },
        module: row.module.clone(),
    })
}

pub fn finding_row(f: &Finding) -> FindingRow {
    FindingRow {
        package: f.package.clone(),
        source: f.source.clone(),
        installed: f.installed.to_string(),
        fixed: f.fixed.as_ref().map(ToString::to_string),
        advisory: f.advisory.clone(),
        cves: f.cves.join(" "),
        severity: f.severity.map(|s| s.name().to_owned()),
        kev: f.kev,
        epss: f.epss,
    }
}

/// The findings of one host's packages.
pub fn findings(advisories: &Advisories, ecosystem: &Ecosystem, packages: &[InstalledPackage]) -> Vec<FindingRow> {
    assess_host(&advisories.index, &advisories.intel, ecosystem, packages)
        .iter()
        .map(finding_row)
        .collect()
}

/// Recomputes every host's findings against `advisories`.
pub async fn recompute_all(store: &Store, advisories: &Advisories, audit: &Audit) -> Result<usize, AdvisoryError> {
    let mut by_ecosystem: HashMap<String, Option<Ecosystem>> = HashMap::new();
    let mut hosts = 0;
    for host in store.hosts().await? {
        let ecosystem = by_ecosystem
            .entry(host.os.clone())
            .or_insert_with(|| Ecosystem::parse(&host.os).ok());
        let Some(ecosystem) = ecosystem.clone() else {
            continue;
        };
        let software = store.host_software(&host.id).await?;
        let packages: Vec<InstalledPackage> = software.iter().filter_map(|row| installed(row, &ecosystem)).collect();
        let rows = tokio::task::block_in_place(|| findings(advisories, &ecosystem, &packages));
        store.set_findings(audit, &host.id, &rows).await?;
        hosts += 1;
    }
    Ok(hosts)
}
