//! `patchwarden serve`, and the administration commands that work on the server's database directly:
//! `feeds import`, `feeds status`, `hosts`, `host`, `patches`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use patchwarden_server::api::{HostFilter, host_json};
use patchwarden_server::{Config, clock};
use serde_json::json;

/// Where the server keeps its data.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct DataArgs {
    /// Data directory: the SQLite database, TLS keys, the setup token.
    #[arg(long, default_value = "./patchwarden-data")]
    data_dir: PathBuf,
    /// A PostgreSQL URL (postgres://user@host:port/db) instead of the embedded SQLite database.
    #[arg(long)]
    database: Option<String>,
}

impl DataArgs {
    fn config(&self, listen: SocketAddr) -> Config {
        Config {
            data_dir: self.data_dir.clone(),
            database: self.database.clone(),
            listen,
            names: Vec::new(),
            check_in_interval: 3600,
            feed_sync_interval: 0,
            tls: None,
            policy: patchwarden_domain::policy::Policy::default(),
        }
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Address and port to listen on; loopback only unless told otherwise.
    #[arg(long, default_value = "127.0.0.1:8443")]
    listen: SocketAddr,
    /// Extra DNS names or IP addresses for the generated certificate (repeatable).
    #[arg(long = "name")]
    names: Vec<String>,
    /// Seconds between agent check-ins.
    #[arg(long, default_value_t = 3600)]
    check_in_interval: u64,
    /// Seconds between syncs of the feeds registered with `feeds add-url`; 0 turns it off.
    #[arg(long, default_value_t = 6 * 3600)]
    feed_sync_interval: u64,
    /// The organisation's certificate chain (PEM), instead of the server's own CA; needs
    /// --tls-key and --tls-ca.
    #[arg(long, requires_all = ["tls_key", "tls_ca"])]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// The CA certificate agents pin (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_ca: Option<PathBuf>,
    /// The organisation's policy file (TOML); the policy document's numbers otherwise. An invalid
    /// file stops the server from starting, naming the line and the reason.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Import these advisory sources before serving (as `feeds import`; repeatable).
    #[arg(long = "import")]
    import: Vec<PathBuf>,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

pub(crate) fn serve(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    // Logs go to standard error; RUST_LOG chooses (`RUST_LOG=debug` logs every request).
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    runtime()?.block_on(async {
        let mut config = args.data.config(args.listen);
        config.names = args.names.clone();
        config.check_in_interval = args.check_in_interval;
        config.feed_sync_interval = args.feed_sync_interval;
        if let Some(path) = &args.policy {
            config.policy = patchwarden_server::policy_file::load(path)?;
        }
        if let (Some(cert), Some(key), Some(ca)) = (&args.tls_cert, &args.tls_key, &args.tls_ca) {
            config.tls = Some(patchwarden_server::TlsFiles { cert: cert.clone(), key: key.clone(), ca: ca.clone() });
        }
        if !args.import.is_empty() {
            let store = patchwarden_server::open_store(&config).await?;
            for s in patchwarden_server::import_feeds(&store, &args.import, &cli_audit()).await? {
                println!("imported {}: {} ({} records, {} advisories, {} rejected)", s.name, s.kind, s.records, s.advisories, s.rejected);
            }
            store.close().await;
        }
        let running = patchwarden_server::start(config).await?;
        println!("patchwarden listening on https://{}", running.addr);
        println!("CA fingerprint (SHA-256): {}", running.ca_fingerprint);
        if let Some(token) = &running.setup_token {
            println!(
                "No administrator yet. Create the first one within this run with the one-time setup token\n\
                 (also in {}):\n  curl --cacert {} -X POST https://{}/api/v1/setup \\\n    -d '{{\"token\":\"{token}\",\"username\":\"…\",\"password\":\"…\"}}'",
                args.data.data_dir.join("setup-token").display(),
                args.data.data_dir.join("tls/ca.pem").display(),
                running.addr,
            );
        }
        tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
        running.stop().await;
        Ok(ExitCode::SUCCESS)
    })
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum FeedsCommand {
    /// Import advisory sources (OSV files, directories or all.zip, Debian Packages indexes, KEV,
    /// EPSS) into the database and recompute every host's findings.
    Import {
        #[command(flatten)]
        data: DataArgs,
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// The imported sources.
    Status {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Register a feed URL (OSV zip or record, Debian Packages index, KEV, EPSS), synced on the
    /// server's schedule with ETag / If-Modified-Since.
    AddUrl {
        #[command(flatten)]
        data: DataArgs,
        /// The source's name; for a Debian index it starts with the codename
        /// (bookworm-security_main_binary-amd64_Packages).
        #[arg(long)]
        name: String,
        url: String,
    },
    /// Fetch every registered feed URL now.
    Sync {
        #[command(flatten)]
        data: DataArgs,
    },
}

pub(crate) fn feeds(command: &FeedsCommand) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        match command {
            FeedsCommand::Import { data, paths } => {
                let store = patchwarden_server::open_store(&data.config(loopback())).await?;
                let sources = patchwarden_server::import_feeds(&store, paths, &cli_audit()).await?;
                for s in &sources {
                    println!(
                        "{}: {} ({} records, {} advisories, {} rejected)",
                        s.name, s.kind, s.records, s.advisories, s.rejected
                    );
                }
                store.close().await;
            }
            FeedsCommand::AddUrl { data, name, url } => {
                let store = patchwarden_server::open_store(&data.config(loopback())).await?;
                patchwarden_server::sync::add_url(&store, &cli_audit(), name, url).await?;
                println!("{name}: {url} registered; run `patchwarden feeds sync` or wait for the server's schedule");
                store.close().await;
            }
            FeedsCommand::Sync { data } => {
                let store = patchwarden_server::open_store(&data.config(loopback())).await?;
                let mut failed = false;
                for (name, outcome) in patchwarden_server::sync::sync_all(&store, &cli_audit()).await? {
                    match outcome {
                        patchwarden_server::sync::Outcome::Unchanged => println!("{name}: unchanged"),
                        patchwarden_server::sync::Outcome::Updated {
                            records,
                            advisories,
                            rejected,
                        } => {
                            println!(
                                "{name}: updated ({records} records, {advisories} advisories, {rejected} rejected)"
                            );
                        }
                        patchwarden_server::sync::Outcome::Failed(message) => {
                            failed = true;
                            eprintln!("{name}: failed: {message}");
                        }
                    }
                }
                store.close().await;
                if failed {
                    return Ok(ExitCode::from(1));
                }
            }
            FeedsCommand::Status { data } => {
                let store = patchwarden_server::open_store(&data.config(loopback())).await?;
                for s in store.feed_sources().await? {
                    println!(
                        "{}  {}  imported {}  {} records  {} advisories  {} rejected",
                        s.name,
                        s.kind,
                        clock::rfc3339(s.imported_at),
                        s.records,
                        s.advisories,
                        s.rejected
                    );
                }
                store.close().await;
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Changes made from the command line on the server machine are recorded as the operating-system
/// user who ran it.
fn cli_audit() -> patchwarden_store::Audit {
    let user = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into());
    patchwarden_store::Audit {
        actor: format!("cli:{user}"),
        at: clock::now(),
    }
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

#[derive(Debug, clap::Args)]
pub(crate) struct HostsArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Only hosts with an address in this CIDR, a-b range or address.
    #[arg(long)]
    ip: Option<String>,
    /// Only hosts whose name matches this glob.
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    os: Option<String>,
    #[arg(long)]
    department: Option<String>,
    /// Only hosts missing at least one patch.
    #[arg(long)]
    missing: bool,
    /// A selector: `name:web-* -class:desktop ip:10.1.0.0/16 os:Ubuntu:*` (see ARCHITECTURE.md).
    #[arg(long)]
    select: Option<String>,
    #[arg(long)]
    json: bool,
}

pub(crate) fn hosts(args: &HostsArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let store = patchwarden_server::open_store(&args.data.config(loopback())).await?;
        let filter = HostFilter {
            ip: args.ip.clone(),
            name: args.name.clone(),
            os: args.os.clone(),
            department: args.department.clone(),
            missing: args.missing.then_some(true),
            select: args.select.clone(),
        };
        let hosts = filter
            .apply(store.hosts().await?)
            .map_err(|e| anyhow::anyhow!(e.message))?;
        if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({"hosts": hosts.iter().map(host_json).collect::<Vec<_>>()}))?
            );
        } else {
            println!(
                "{:<34} {:<24} {:<18} {:<16} {:>8} {:>8}  LAST SEEN",
                "ID", "HOSTNAME", "OS", "ADDRESS", "PACKAGES", "MISSING"
            );
            for h in &hosts {
                let ip = h.addresses.first().map_or("", |a| a.ip.as_str());
                let seen = h.last_seen.map_or_else(|| "never".to_owned(), clock::rfc3339);
                println!(
                    "{:<34} {:<24} {:<18} {:<16} {:>8} {:>8}  {seen}",
                    h.id, h.hostname, h.os, ip, h.packages, h.findings
                );
            }
        }
        store.close().await;
        Ok(ExitCode::SUCCESS)
    })
}

#[derive(Debug, clap::Args)]
pub(crate) struct HostArgs {
    #[command(flatten)]
    data: DataArgs,
    /// The host's id.
    id: String,
}

pub(crate) fn host(args: &HostArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let store = patchwarden_server::open_store(&args.data.config(loopback())).await?;
        let Some(out) = patchwarden_server::api::host_detail(&store, &args.id).await? else {
            anyhow::bail!("no host {}", args.id);
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
        store.close().await;
        Ok(ExitCode::SUCCESS)
    })
}

#[derive(Debug, clap::Args)]
pub(crate) struct JobsArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Only this change's jobs.
    #[arg(long)]
    change: Option<String>,
    /// Only this host's jobs (its id).
    #[arg(long)]
    host: Option<String>,
    /// Patches applied: succeeded, reboot required or verified (§7.5.4).
    #[arg(long, conflicts_with = "failed")]
    applied: bool,
    /// Patches that could not be applied: given up, or failed and waiting to retry (§7.5.5).
    #[arg(long)]
    failed: bool,
    /// One JSON object per line.
    #[arg(long)]
    json: bool,
}

/// Patches applied and patches that could not be applied, per host and change (§7.5.4, §7.5.5).
pub(crate) fn jobs(args: &JobsArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let store = patchwarden_server::open_store(&args.data.config(loopback())).await?;
        let states: Vec<String> = if args.applied {
            vec!["succeeded".into(), "reboot_required".into(), "verified".into()]
        } else if args.failed {
            vec!["given_up".into(), "pending".into()]
        } else {
            Vec::new()
        };
        let mut jobs = store
            .jobs(&patchwarden_store::JobFilter {
                change: args.change.clone(),
                host: args.host.clone(),
                states,
            })
            .await?;
        if args.failed {
            jobs.retain(|j| j.state == "given_up" || j.attempts > 0);
        }
        let names: std::collections::HashMap<String, String> =
            store.hosts().await?.into_iter().map(|h| (h.id, h.hostname)).collect();
        if !args.json {
            println!(
                "{:<16} {:<24} {:<32} {:>8} {:<20} ITEMS",
                "STATE", "HOST", "CHANGE", "ATTEMPTS", "FINISHED"
            );
        }
        for j in &jobs {
            let host = names.get(&j.host_id).cloned().unwrap_or_else(|| j.host_id.clone());
            let finished = j.finished_at.map_or_else(|| "-".to_owned(), clock::rfc3339);
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({"job": j.id, "state": j.state, "host": j.host_id, "hostname": host,
                                       "change": j.change_id, "attempts": j.attempts, "finished_at": finished,
                                       "exit_status": j.exit_status,
                                       "items": serde_json::from_str::<serde_json::Value>(&j.items).unwrap_or_default()})
                );
            } else {
                println!(
                    "{:<16} {:<24} {:<32} {:>8} {:<20} {}",
                    j.state, host, j.change_id, j.attempts, finished, j.items
                );
            }
        }
        store.close().await;
        Ok(ExitCode::SUCCESS)
    })
}

#[derive(Debug, clap::Args)]
pub(crate) struct PatchesArgs {
    #[command(flatten)]
    data: DataArgs,
}

pub(crate) fn patches(args: &PatchesArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let store = patchwarden_server::open_store(&args.data.config(loopback())).await?;
        println!(
            "{:>6}  {:<4} {:<10} {:<28} {:<20} FIXED",
            "HOSTS", "KEV", "SEVERITY", "PACKAGE", "ADVISORY"
        );
        for p in store.patches().await? {
            println!(
                "{:>6}  {:<4} {:<10} {:<28} {:<20} {}",
                p.hosts,
                if p.kev { "KEV" } else { "" },
                p.severity.as_deref().unwrap_or("-"),
                p.package,
                p.advisory,
                p.fixed.as_deref().unwrap_or("(none)")
            );
        }
        store.close().await;
        Ok(ExitCode::SUCCESS)
    })
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum PolicyCommand {
    /// Print the effective policy, each value with the clause it comes from (TOML; it reads back).
    Show {
        /// A policy file; the policy document's numbers otherwise.
        #[arg(long)]
        policy: Option<PathBuf>,
    },
}

pub(crate) fn policy(command: &PolicyCommand) -> anyhow::Result<ExitCode> {
    let PolicyCommand::Show { policy } = command;
    let effective = match policy {
        Some(path) => patchwarden_server::policy_file::load(path)?,
        None => patchwarden_domain::policy::Policy::default(),
    };
    print!("{}", patchwarden_server::policy_file::show(&effective));
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum AuditCommand {
    /// Check the hash chain of the audit trail; exit 1 naming the first bad event.
    Verify {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Remove events older than a date, never within the policy's retention period (§13.2).
    Purge {
        #[command(flatten)]
        data: DataArgs,
        /// YYYY-MM-DD: events before this day (UTC) go.
        #[arg(long)]
        before: String,
        /// The policy file whose retention applies; the policy document's 365 days otherwise.
        #[arg(long)]
        policy: Option<PathBuf>,
    },
}

pub(crate) fn audit(command: &AuditCommand) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        match command {
            AuditCommand::Verify { data } => {
                let store = patchwarden_server::open_store(&data.config(loopback())).await?;
                let ((anchor, anchor_hash), events) = store.audit_trail().await?;
                store.close().await;
                match patchwarden_domain::audit::verify((anchor, &anchor_hash), &events) {
                    Ok(checked) => {
                        println!("audit trail intact: {checked} events after event {anchor}");
                        Ok(ExitCode::SUCCESS)
                    }
                    Err(broken) => {
                        eprintln!("audit trail broken: {broken}");
                        Ok(ExitCode::from(1))
                    }
                }
            }
            AuditCommand::Purge { data, before, policy } => {
                let day: jiff::civil::Date = before
                    .parse()
                    .with_context(|| format!("--before {before:?} is not YYYY-MM-DD"))?;
                let before = day.to_zoned(jiff::tz::TimeZone::UTC)?.timestamp().as_second();
                let retention = match policy {
                    Some(path) => patchwarden_server::policy_file::load(path)?.retention_days,
                    None => patchwarden_domain::policy::Policy::default().retention_days,
                };
                let now = clock::now();
                let cutoff = now - i64::from(retention) * 86_400;
                let store = patchwarden_server::open_store(&data.config(loopback())).await?;
                let removed = store.purge_audit(&cli_audit(), before, cutoff).await;
                store.close().await;
                println!("removed {} audit events", removed?);
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}
