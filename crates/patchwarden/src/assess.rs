//! `patchwarden assess`: the missing patches of one host, as a table or as JSON.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use patchwarden_domain::ecosystem::Ecosystem;
use patchwarden_domain::inventory::{self, InventoryFormat};
use patchwarden_domain::matching::{AdvisoryIndex, Finding, ThreatIntel, assess_host};
use patchwarden_feeds::{ImportReport, Importer, Limits, input};
use serde_json::json;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The host's package records: a dpkg status file, `rpm -qa` rows, or apk's installed database.
    #[arg(long)]
    inventory: PathBuf,
    /// dpkg-status, rpm-qa or apk; by default the one the --os ecosystem uses.
    #[arg(long, value_parser = parse_format)]
    inventory_format: Option<InventoryFormat>,
    /// The host's ecosystem as OSV names it: Debian:12, Ubuntu:20.04:LTS, AlmaLinux:8, Alpine:v3.18.
    #[arg(long = "os", value_parser = parse_ecosystem)]
    ecosystem: Ecosystem,
    /// OSV JSON files, directories or all.zip archives, or Debian Packages indexes; repeatable.
    #[arg(long = "advisories", required = true)]
    advisories: Vec<PathBuf>,
    /// CISA Known Exploited Vulnerabilities catalog (JSON).
    #[arg(long)]
    kev: Option<PathBuf>,
    /// FIRST EPSS scores (CSV, gzip or not).
    #[arg(long)]
    epss: Option<PathBuf>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

fn parse_format(name: &str) -> Result<InventoryFormat, String> {
    InventoryFormat::from_name(name).ok_or_else(|| format!("unknown format {name:?}: use dpkg-status, rpm-qa or apk"))
}

fn parse_ecosystem(name: &str) -> Result<Ecosystem, String> {
    Ecosystem::parse(name).map_err(|e| e.to_string())
}

fn default_format(ecosystem: &Ecosystem) -> InventoryFormat {
    use patchwarden_domain::version::VersionScheme;
    match ecosystem.scheme() {
        VersionScheme::Deb => InventoryFormat::DpkgStatus,
        VersionScheme::Rpm => InventoryFormat::RpmQa,
        VersionScheme::Apk => InventoryFormat::Apk,
    }
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let limits = Limits::default();
    let format = args.inventory_format.unwrap_or_else(|| default_format(&args.ecosystem));
    if format.scheme() != args.ecosystem.scheme() {
        return Err(anyhow!(
            "--inventory-format {} does not fit --os {}: its versions are not {} versions",
            format.name(),
            args.ecosystem,
            format.scheme().name()
        ));
    }
    let text = input::read_text(&args.inventory, limits.file_bytes)?;
    let packages = inventory::parse(format, &text)
        .map_err(|e| anyhow!("{}: {e}", args.inventory.display()))
        .context("reading the inventory")?;

    let mut importer = Importer::new(limits);
    for path in &args.advisories {
        importer.import_path(path)?;
    }
    let (advisories, report) = importer.finish();
    let mut intel = ThreatIntel::default();
    if let Some(path) = &args.kev {
        intel.kev = patchwarden_feeds::read_kev(path, &limits)?;
    }
    if let Some(path) = &args.epss {
        intel.epss = patchwarden_feeds::read_epss(path, &limits)?;
    }

    let index = AdvisoryIndex::new(advisories);
    let findings = assess_host(&index, &intel, &args.ecosystem, &packages);
    if args.json {
        let out = json!({
            "host": {
                "os": args.ecosystem.name(),
                "inventory": args.inventory.display().to_string(),
                "inventory_format": format.name(),
                "packages": packages.len(),
            },
            "findings": findings.iter().map(finding_json).collect::<Vec<_>>(),
            "summary": summary_json(&findings, &report),
        });
        let mut stdout = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut stdout, &out)?;
        writeln!(stdout)?;
    } else {
        for rejected in &report.rejected {
            eprintln!("warning: skipped {}: {}", rejected.source, rejected.reason);
        }
        eprintln!("advisories: {report}");
        let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
        match print_table(&mut stdout, &findings, packages.len()).and_then(|()| stdout.flush()) {
            // A reader that stopped early (`| head`) is not an error of ours.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            other => other?,
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn finding_json(f: &Finding) -> serde_json::Value {
    json!({
        "package": f.package,
        "source": f.source,
        "installed": f.installed.as_str(),
        "fixed": f.fixed.as_ref().map(|v| v.as_str()),
        "advisory": f.advisory,
        "cves": f.cves,
        "severity": f.severity.map(|s| s.name()),
        "kev": f.kev,
        "epss": f.epss,
    })
}

fn summary_json(findings: &[Finding], report: &ImportReport) -> serde_json::Value {
    let mut packages: Vec<&str> = findings.iter().map(|f| f.package.as_str()).collect();
    packages.sort_unstable();
    packages.dedup();
    let mut advisories: Vec<&str> = findings.iter().map(|f| f.advisory.as_str()).collect();
    advisories.sort_unstable();
    advisories.dedup();
    let mut by_severity = serde_json::Map::new();
    for f in findings {
        let key = f.severity.map_or("Unknown", |s| s.name());
        let count = by_severity.entry(key).or_insert(json!(0));
        *count = json!(count.as_u64().unwrap_or(0) + 1);
    }
    json!({
        "findings": findings.len(),
        "packages_affected": packages.len(),
        "advisories": advisories.len(),
        "kev": findings.iter().filter(|f| f.kev).count(),
        "by_severity": by_severity,
        "feeds": {
            "records": report.records,
            "advisories": report.advisories,
            "duplicates": report.duplicates,
            "withdrawn": report.withdrawn,
            "unknown_ecosystems": report.unknown_ecosystems,
            "rejected": report.rejected.iter()
                .map(|r| json!({"source": r.source, "reason": r.reason}))
                .collect::<Vec<_>>(),
        },
    })
}

fn print_table(out: &mut impl Write, findings: &[Finding], packages: usize) -> std::io::Result<()> {
    let rows: Vec<[String; 8]> = findings
        .iter()
        .map(|f| {
            let cves = match f.cves.len() {
                0 => String::new(),
                1..=2 => f.cves.join(" "),
                n => format!("{} +{}", f.cves[..2].join(" "), n - 2),
            };
            [
                if f.kev { "KEV".into() } else { String::new() },
                f.severity.map_or("-", |s| s.name()).into(),
                f.epss.map_or_else(|| "-".into(), |e| format!("{e:.3}")),
                f.package.clone(),
                f.installed.to_string(),
                f.fixed.as_ref().map_or_else(|| "(none)".into(), ToString::to_string),
                f.advisory.clone(),
                cves,
            ]
        })
        .collect();
    let header = [
        "KEV",
        "SEVERITY",
        "EPSS",
        "PACKAGE",
        "INSTALLED",
        "FIXED",
        "ADVISORY",
        "CVES",
    ]
    .map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        writeln!(out, "{}", cells.join("  ").trim_end())?;
    }
    let mut affected: Vec<&str> = findings.iter().map(|f| f.package.as_str()).collect();
    affected.sort_unstable();
    affected.dedup();
    writeln!(
        out,
        "\n{} findings: {} of {packages} installed packages miss a patch",
        findings.len(),
        affected.len()
    )
}
