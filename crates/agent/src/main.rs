//! `patchwarden-agent`: enrolls the host, collects its inventory and reports it through the durable
//! outbox over pinned TLS (§7.2 automatic scanning; §14.1 roaming hosts report when they reconnect).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use patchwarden_agent::adapters::apt::{Apt, Target};
use patchwarden_agent::adapters::dnf::Dnf;
use patchwarden_agent::adapters::reboot;
use patchwarden_agent::client::{self, Client};
use patchwarden_agent::collect::Sources;
use patchwarden_agent::outbox::{Outbox, write_atomically};
use patchwarden_proto::{EnrollRequest, Inventory, Job, JobResult, Report};
use serde::{Deserialize, Serialize};
use sha2::Digest;

#[derive(Debug, Parser)]
#[command(name = "patchwarden-agent", version, about = "patchwarden's endpoint agent")]
struct Cli {
    /// Where the agent keeps its credential, pinned CA and outbox.
    #[arg(long, global = true, default_value = "/var/lib/patchwarden-agent")]
    state_dir: PathBuf,
    #[command(flatten)]
    sources: SourceArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Args)]
struct SourceArgs {
    /// The root of the file system to inventory.
    #[arg(long, global = true, default_value = "/")]
    root: PathBuf,
    /// Read rpm's database from this directory.
    #[arg(long, global = true)]
    rpm_dbpath: Option<PathBuf>,
    /// The rpm database is BerkeleyDB (copied from a RHEL/CentOS 7 or 8 host).
    #[arg(long, global = true)]
    rpm_berkeley_db: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Exchange an enrollment token for this host's own credential, pinning the server's CA.
    Enroll {
        /// https://server:port
        #[arg(long)]
        server: String,
        #[arg(long)]
        token: String,
        /// The CA fingerprint the server printed at first start (SHA-256).
        #[arg(long)]
        ca_fingerprint: String,
    },
    /// Print what the agent would send.
    Inventory {
        #[arg(long)]
        json: bool,
    },
    /// Check in on an interval (with jitter); reports go through the outbox first.
    Run {
        /// One check-in, then exit: 0 when the outbox is empty, 3 when reports still wait.
        #[arg(long)]
        once: bool,
    },
}

/// What enrollment leaves on disk (the credential is in its own 0600 file).
#[derive(Debug, Serialize, Deserialize)]
struct Enrollment {
    server: String,
    host_id: String,
}

fn write_secret(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    std::io::Write::write_all(&mut file, text.as_bytes()).with_context(|| format!("writing {}", path.display()))
}

fn enroll(state_dir: &Path, sources: &Sources, server: &str, token: &str, fingerprint: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(state_dir).with_context(|| format!("creating {}", state_dir.display()))?;
    let ca = client::fetch_ca(server, fingerprint)?;
    let facts = sources.facts();
    let client = Client::new(server, &ca)?;
    let response = client.enroll(&EnrollRequest {
        token: token.to_owned(),
        hostname: facts.hostname,
        machine_id: facts.machine_id,
    })?;
    std::fs::write(state_dir.join("ca.pem"), &ca).context("writing ca.pem")?;
    write_secret(&state_dir.join("credential"), &response.credential)?;
    let enrollment = Enrollment {
        server: server.trim_end_matches('/').to_owned(),
        host_id: response.host_id.clone(),
    };
    write_atomically(
        &state_dir.join("enrollment.json"),
        &serde_json::to_vec_pretty(&enrollment)?,
    )?;
    println!("enrolled as host {}", response.host_id);
    Ok(())
}

fn inventory_hash(inventory: &Inventory) -> String {
    hex::encode(sha2::Sha256::digest(serde_json::to_vec(inventory).unwrap_or_default()))
}

/// What one check-in came to.
struct CheckIn {
    /// Reports still waiting in the outbox.
    waiting: usize,
    interval: u64,
    /// Jobs the server handed out.
    jobs: Vec<Job>,
}

/// Collects, queues one report, and delivers everything queued.
fn check_in(state_dir: &Path, sources: &Sources) -> anyhow::Result<CheckIn> {
    let enrollment: Enrollment = serde_json::from_slice(
        &std::fs::read(state_dir.join("enrollment.json"))
            .context("this host is not enrolled: run `patchwarden-agent enroll`")?,
    )?;
    let credential = std::fs::read_to_string(state_dir.join("credential")).context("reading the credential")?;
    let ca = std::fs::read_to_string(state_dir.join("ca.pem")).context("reading the pinned CA")?;
    let client = Client::new(&enrollment.server, &ca)?;
    let outbox = Outbox::open(state_dir)?;

    let facts = sources.facts();
    let inventory = sources.inventory()?;
    let hash = inventory_hash(&inventory);
    let counters = outbox.counters()?;
    let send_inventory = counters.inventory_requested || counters.sent_inventory_hash != hash;
    let created_at = jiff::Timestamp::now().to_string();
    outbox.push(|sequence, dropped| Report {
        sequence,
        created_at,
        facts,
        inventory_hash: hash.clone(),
        inventory: send_inventory.then_some(inventory),
        dropped,
    })?;
    if send_inventory {
        let mut counters = outbox.counters()?;
        counters.sent_inventory_hash = hash;
        counters.inventory_requested = false;
        outbox.save_counters(&counters)?;
    }

    let mut interval = 3600;
    let mut jobs = Vec::new();
    for sequence in outbox.pending()? {
        let report = outbox.read(sequence)?;
        match client.send(&enrollment.host_id, credential.trim(), &report) {
            Ok(answer) => {
                outbox.acknowledge(answer.stored_through.max(sequence))?;
                interval = answer.interval_seconds;
                jobs = answer.jobs;
                if answer.send_inventory {
                    let mut counters = outbox.counters()?;
                    counters.inventory_requested = true;
                    outbox.save_counters(&counters)?;
                }
            }
            Err(e) if e.is_transient() => {
                eprintln!(
                    "patchwarden-agent: {e}; {} report(s) wait in the outbox",
                    outbox.pending()?.len()
                );
                break;
            }
            Err(client::ClientError::Refused {
                status: 400 | 413 | 422,
                message,
                ..
            }) => {
                // A report the server will never take would block the queue: drop it, say so.
                eprintln!("patchwarden-agent: report {sequence} refused and dropped: {message}");
                outbox.discard(sequence)?;
                let mut counters = outbox.counters()?;
                counters.dropped += 1;
                outbox.save_counters(&counters)?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(CheckIn {
        waiting: outbox.pending()?.len(),
        interval,
        jobs,
    })
}

/// Carries out the jobs through the host's package manager, most urgent first (the server's
/// order), and tells the server each outcome. Results that cannot be delivered wait in
/// `job-results/` and go with the next check-in.
fn run_jobs(state_dir: &Path, sources: &Sources, jobs: &[Job]) -> anyhow::Result<()> {
    let results = state_dir.join("job-results");
    std::fs::create_dir_all(&results)?;
    let mut restart = None;
    let dpkg = sources.root.join("var/lib/dpkg/status").exists();
    let rpm = sources.rpm_dbpath.is_none() && sources.root.join("var/lib/rpm").exists();
    for job in jobs {
        let result = if dpkg || rpm {
            match targets(state_dir, job, if dpkg { "deb" } else { "rpm" }) {
                Ok(targets) => {
                    let outcome = if dpkg {
                        Apt::new(&sources.root)
                            .allowing_downgrades(job.rollback)
                            .install(&targets)
                    } else {
                        Dnf::new(&sources.root).install(&targets)
                    };
                    JobResult {
                        status: outcome.status.to_owned(),
                        exit_status: outcome.exit_status,
                        output: outcome.output,
                    }
                }
                Err(refused) => JobResult {
                    status: "failed".into(),
                    exit_status: None,
                    output: refused,
                },
            }
        } else {
            JobResult {
                status: "failed".into(),
                exit_status: None,
                output:
                    "this agent installs through apt/dpkg or dnf/rpm; this host has neither database under its root"
                        .into(),
            }
        };
        write_atomically(&results.join(format!("{}.json", job.id)), &serde_json::to_vec(&result)?)?;
        if reboot::wanted(&job.reboot, &result.status, &sources.root) {
            restart = Some(job.change.clone());
        }
    }
    deliver_results(state_dir)?;
    // Results are delivered first: the server hears the outcome before the host goes down.
    if let Some(change) = restart {
        reboot::schedule(&change).context("scheduling the restart the change's reboot policy asks for")?;
    }
    Ok(())
}

/// What a job installs: repository versions, and patch store files fetched and checked against
/// the SHA-256 the job names (§14.4). A file that does not match refuses the whole job.
fn targets(state_dir: &Path, job: &Job, extension: &str) -> Result<Vec<Target>, String> {
    let mut out = Vec::new();
    for item in &job.items {
        let Some(expected) = &item.sha256 else {
            out.push(Target::Version {
                package: item.package.clone(),
                version: item.version.clone(),
            });
            continue;
        };
        let fetched = (|| -> anyhow::Result<Vec<u8>> {
            let enrollment: Enrollment = serde_json::from_slice(&std::fs::read(state_dir.join("enrollment.json"))?)?;
            let credential = std::fs::read_to_string(state_dir.join("credential"))?;
            let ca = std::fs::read_to_string(state_dir.join("ca.pem"))?;
            Ok(Client::new(&enrollment.server, &ca)?.patch_file(&enrollment.host_id, credential.trim(), expected)?)
        })()
        .map_err(|e| format!("could not fetch patch file {expected} for {}: {e:#}", item.package))?;
        let actual = hex::encode(sha2::Sha256::digest(&fetched));
        if !actual.eq_ignore_ascii_case(expected) {
            return Err(format!(
                "refused patch file for {} {}: its SHA-256 is {actual}, the job names {expected}; nothing was installed",
                item.package, item.version
            ));
        }
        let downloads = state_dir.join("downloads");
        let path = downloads.join(format!("{expected}.{extension}"));
        std::fs::create_dir_all(&downloads)
            .and_then(|()| std::fs::write(&path, &fetched))
            .map_err(|e| format!("could not keep patch file {expected}: {e}"))?;
        out.push(Target::File(path));
    }
    Ok(out)
}

/// Sends the job results waiting in `job-results/`; each leaves when the server has it (or
/// refuses it for good).
fn deliver_results(state_dir: &Path) -> anyhow::Result<()> {
    let results = state_dir.join("job-results");
    let Ok(entries) = std::fs::read_dir(&results) else {
        return Ok(());
    };
    let enrollment: Enrollment = serde_json::from_slice(&std::fs::read(state_dir.join("enrollment.json"))?)?;
    let credential = std::fs::read_to_string(state_dir.join("credential"))?;
    let ca = std::fs::read_to_string(state_dir.join("ca.pem"))?;
    let client = Client::new(&enrollment.server, &ca)?;
    for entry in entries {
        let path = entry?.path();
        let Some(job) = path.file_stem().and_then(|s| s.to_str()).map(ToOwned::to_owned) else {
            continue;
        };
        let result: JobResult = serde_json::from_slice(&std::fs::read(&path)?)?;
        match client.job_result(&enrollment.host_id, credential.trim(), &job, &result) {
            Ok(()) | Err(client::ClientError::Refused { status: 404 | 409, .. }) => std::fs::remove_file(&path)?,
            Err(e) if e.is_transient() => {
                eprintln!("patchwarden-agent: job result {job} waits: {e}");
                break;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// ±10% so that a fleet started together does not check in together.
fn jittered(seconds: u64) -> Duration {
    let nanos = jiff::Timestamp::now().subsec_nanosecond().unsigned_abs();
    let spread = seconds / 10;
    let offset = if spread == 0 {
        0
    } else {
        u64::from(nanos) % (2 * spread + 1)
    };
    Duration::from_secs(seconds.saturating_sub(spread) + offset)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let sources = Sources {
        root: cli.sources.root.clone(),
        rpm_dbpath: cli.sources.rpm_dbpath.clone(),
        rpm_berkeley_db: cli.sources.rpm_berkeley_db,
    };
    let result = match &cli.command {
        Command::Enroll {
            server,
            token,
            ca_fingerprint,
        } => enroll(&cli.state_dir, &sources, server, token, ca_fingerprint).map(|()| ExitCode::SUCCESS),
        Command::Inventory { json } => print_inventory(&sources, *json),
        Command::Run { once } => run(&cli.state_dir, &sources, *once),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("patchwarden-agent: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn print_inventory(sources: &Sources, json: bool) -> anyhow::Result<ExitCode> {
    let facts = sources.facts();
    let inventory = sources.inventory()?;
    if json {
        let out =
            serde_json::json!({"facts": facts, "inventory_hash": inventory_hash(&inventory), "inventory": inventory});
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{} ({}) {} packages ({})",
            facts.hostname,
            facts.os,
            inventory.packages.len(),
            inventory.format
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn run(state_dir: &Path, sources: &Sources, once: bool) -> anyhow::Result<ExitCode> {
    let mut backoff = 30u64;
    loop {
        let checked = check_in(state_dir, sources).and_then(|mut c| {
            deliver_results(state_dir)?;
            // After installing, check in again at once: the new inventory verifies the jobs
            // (§13.4), and the answer may carry the next ones.
            for _ in 0..10 {
                if c.jobs.is_empty() {
                    break;
                }
                run_jobs(state_dir, sources, &c.jobs)?;
                c = check_in(state_dir, sources)?;
            }
            Ok((c.waiting, c.interval))
        });
        match checked {
            Ok((0, interval)) => {
                if once {
                    return Ok(ExitCode::SUCCESS);
                }
                backoff = 30;
                std::thread::sleep(jittered(interval));
            }
            Ok((waiting, _)) => {
                if once {
                    eprintln!("patchwarden-agent: {waiting} report(s) still wait in the outbox");
                    return Ok(ExitCode::from(3));
                }
                std::thread::sleep(jittered(backoff));
                backoff = (backoff * 2).min(3600);
            }
            Err(e) if !once => {
                eprintln!("patchwarden-agent: {e:#}");
                std::thread::sleep(jittered(backoff));
                backoff = (backoff * 2).min(3600);
            }
            Err(e) => bail!(e),
        }
    }
}
