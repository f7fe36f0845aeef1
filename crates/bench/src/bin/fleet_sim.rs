//! `fleet-sim`: drives simulated agents with realistic inventories against a real `patchwarden serve`
//! it starts itself (like Fleet's osquery-perf), and measures, in one run: full-inventory ingests per
//! second, unchanged check-ins per second, latency percentiles at a fleet's steady pace, the server's
//! memory, and the raw insert rate of the same rows into the same database (the database's own limit).
//!
//! `cargo run --release -p patchwarden-bench --bin fleet-sim -- --hosts 10000` (SQLite), add
//! `--database postgres://…` for PostgreSQL.

// A benchmark that cannot run should stop loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout)]

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use patchwarden_bench::server::{post, start_server};
use patchwarden_domain::inventory::{self, InventoryFormat};
use patchwarden_proto::{Address, Facts, Inventory, Package, Report};
use patchwarden_testkit::{Rng, shared};
use serde_json::json;
use sha2::Digest;

#[derive(Debug, Parser)]
struct Args {
    /// Simulated hosts.
    #[arg(long, default_value_t = 1000)]
    hosts: usize,
    /// Packages per host.
    #[arg(long, default_value_t = 2000)]
    packages: usize,
    /// Concurrent connections for the throughput phases.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Check-in interval of the paced phase, in seconds (the fleet's steady load is hosts/interval).
    #[arg(long, default_value_t = 60)]
    interval: u64,
    /// How long the paced phase runs, in seconds.
    #[arg(long, default_value_t = 30)]
    paced_seconds: u64,
    /// PostgreSQL URL; SQLite in a temporary data directory by default.
    #[arg(long)]
    database: Option<String>,
    /// The `patchwarden` binary.
    #[arg(long, default_value = "target/release/patchwarden")]
    server_binary: PathBuf,
}

/// A base of `n` real packages: the Debian 12 host's, then packages of the bookworm-security index.
fn base_packages(n: usize) -> Vec<Package> {
    let status = std::fs::read_to_string(shared("inventories/debian12.dpkg-status")).unwrap();
    let mut packages: Vec<Package> = inventory::parse(InventoryFormat::DpkgStatus, &status)
        .unwrap()
        .into_iter()
        .map(|p| Package {
            name: p.name.clone(),
            version: p.version.to_string(),
            arch: p.arch.clone(),
            source: p.source.clone(),
            source_version: p.source_version.as_ref().map(ToString::to_string),
            module: None,
        })
        .collect();
    let index =
        std::fs::read_to_string(shared("advisories/debian/bookworm-security_main_binary-amd64_Packages")).unwrap();
    let mut name = String::new();
    for line in index.lines() {
        if let Some(n) = line.strip_prefix("Package: ") {
            name = n.to_owned();
        } else if let Some(v) = line.strip_prefix("Version: ")
            && packages.len() < n
            && !packages.iter().any(|p| p.name == name)
        {
            packages.push(Package {
                name: name.clone(),
                version: v.to_owned(),
                arch: Some("amd64".into()),
                source: None,
                source_version: None,
                module: None,
            });
        }
    }
    packages.truncate(n);
    packages
}

struct Host {
    id: String,
    credential: String,
    inventory: Inventory,
    hash: String,
    sequence: AtomicUsize,
}

fn report(host: &Host, with_inventory: bool, i: usize) -> Vec<u8> {
    let report = Report {
        sequence: host.sequence.fetch_add(1, Ordering::SeqCst) as u64 + 1,
        created_at: "2026-12-04T12:00:00Z".into(),
        facts: Facts {
            hostname: format!("sim-{i:05}"),
            os: "Debian:12".into(),
            addresses: vec![Address {
                interface: "eth0".into(),
                ip: format!("10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255),
                mac: String::new(),
            }],
            ..Facts::default()
        },
        inventory_hash: host.hash.clone(),
        inventory: with_inventory.then(|| host.inventory.clone()),
        dropped: 0,
    };
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gzip.write_all(&serde_json::to_vec(&report).unwrap()).unwrap();
    gzip.finish().unwrap()
}

fn send(agent: &ureq::Agent, url: &str, host: &Host, body: &[u8]) -> Duration {
    let started = Instant::now();
    let response = agent
        .post(&format!("{url}/api/v1/agent/hosts/{}/reports", host.id))
        .set("Authorization", &format!("Bearer {}", host.credential))
        .set("Content-Encoding", "gzip")
        .send_bytes(body);
    match response {
        Ok(r) => {
            let _ = r.into_string();
        }
        Err(ureq::Error::Status(code, r)) => {
            panic!("report: {code} {}", r.into_string().unwrap_or_default())
        }
        Err(e) => panic!("report: {e}"),
    }
    started.elapsed()
}

/// Like [`send`], and counts the jobs the answer hands out.
fn send_counting(agent: &ureq::Agent, url: &str, host: &Host, body: &[u8]) -> (Duration, usize) {
    let started = Instant::now();
    let response = agent
        .post(&format!("{url}/api/v1/agent/hosts/{}/reports", host.id))
        .set("Authorization", &format!("Bearer {}", host.credential))
        .set("Content-Encoding", "gzip")
        .send_bytes(body)
        .unwrap_or_else(|e| panic!("report: {e}"));
    let answer: serde_json::Value = response.into_json().unwrap();
    (started.elapsed(), answer["jobs"].as_array().map_or(0, Vec::len))
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at].as_secs_f64() * 1000.0
}

/// Runs `work(host index)` over all hosts with `threads` workers; returns (elapsed, latencies).
fn phase(hosts: usize, threads: usize, work: impl Fn(usize) -> Duration + Sync) -> (Duration, Vec<Duration>) {
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let mut latencies: Vec<Duration> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        if i >= hosts {
                            break mine;
                        }
                        mine.push(work(i));
                    }
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    latencies.sort();
    (started.elapsed(), latencies)
}

fn rss_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // One advisory every simulated host misses: the change the deployment phase sends out.
    let base = base_packages(args.packages);
    let target = &base[0];
    let advisory_dir = tempfile::tempdir()?;
    let advisory_path = advisory_dir.path().join("PW-SIM-1.json");
    std::fs::write(
        &advisory_path,
        json!({"id": "PW-SIM-1", "modified": "2026-12-01T00:00:00Z", "published": "2026-12-01T00:00:00Z",
               "affected": [{"package": {"ecosystem": "Debian:12", "name": target.source.clone().unwrap_or_else(|| target.name.clone())},
                             "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"},
                                        {"fixed": format!("{}+pw1", target.source_version.clone().unwrap_or_else(|| target.version.clone()))}]}]}]})
        .to_string(),
    )?;
    let server = start_server(
        &args.server_binary,
        args.database.as_deref(),
        &[advisory_path.as_path()],
    )?;
    let url = server.url.clone();
    let (agent, admin, enrollment) = server.bootstrap(args.hosts);

    // Hosts share most versions, as real fleets do: each differs from the base in a few packages.
    let index =
        std::fs::read_to_string(shared("advisories/debian/bookworm-security_main_binary-amd64_Packages")).unwrap();
    let newer: Vec<(String, String)> = {
        let mut out = Vec::new();
        let mut name = String::new();
        for line in index.lines() {
            if let Some(n) = line.strip_prefix("Package: ") {
                name = n.to_owned();
            } else if let Some(v) = line.strip_prefix("Version: ") {
                out.push((name.clone(), v.to_owned()));
            }
        }
        out
    };
    let mut rng = Rng(42);
    let mut hosts = Vec::with_capacity(args.hosts);
    eprintln!("enrolling {} hosts…", args.hosts);
    for i in 0..args.hosts {
        let enrolled = post(
            &agent,
            &format!("{url}/api/v1/agent/enroll"),
            None,
            &json!({"token": enrollment, "hostname": format!("sim-{i:05}")}),
        );
        let mut packages = base.clone();
        for _ in 0..rng.below(20) {
            let (name, version) = rng.pick(&newer);
            if let Some(p) = packages.iter_mut().find(|p| &p.name == name) {
                p.version.clone_from(version);
            }
        }
        let inventory = Inventory {
            format: "dpkg-status".into(),
            packages,
        };
        let hash = hex::encode(sha2::Sha256::digest(serde_json::to_vec(&inventory).unwrap()));
        hosts.push(Host {
            id: enrolled["host_id"].as_str().unwrap().to_owned(),
            credential: enrolled["credential"].as_str().unwrap().to_owned(),
            inventory,
            hash,
            sequence: AtomicUsize::new(0),
        });
    }
    let pid = server.child.id();
    let rss_before = rss_kb(pid, "VmRSS:");

    eprintln!("full inventories…");
    let bodies: Vec<Vec<u8>> = hosts.iter().enumerate().map(|(i, h)| report(h, true, i)).collect();
    let (full_time, full_lat) = phase(hosts.len(), args.concurrency, |i| {
        send(&agent, &url, &hosts[i], &bodies[i])
    });
    let full_rate = hosts.len() as f64 / full_time.as_secs_f64();

    eprintln!("unchanged check-ins…");
    let rounds = 3;
    let total = hosts.len() * rounds;
    // Bodies are made before the clock starts: the simulator measures the server, not itself.
    let unchanged: Vec<Vec<u8>> = (0..total)
        .map(|k| report(&hosts[k % hosts.len()], false, k % hosts.len()))
        .collect();
    let (unchanged_time, unchanged_lat) = phase(total, args.concurrency, |k| {
        send(&agent, &url, &hosts[k % hosts.len()], &unchanged[k])
    });
    let unchanged_rate = total as f64 / unchanged_time.as_secs_f64();

    // Steady pace: every host once per interval, spread evenly.
    let rate = hosts.len() as f64 / args.interval as f64;
    let count = (rate * args.paced_seconds as f64) as usize;
    eprintln!("paced: {rate:.0} check-ins/s for {}s…", args.paced_seconds);
    let started = Instant::now();
    let (_, paced_lat) = phase(count, args.concurrency.max(8), |k| {
        let due = started + Duration::from_secs_f64(k as f64 / rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let i = k % hosts.len();
        send(&agent, &url, &hosts[i], &report(&hosts[i], false, i))
    });
    let rss_after = rss_kb(pid, "VmRSS:");
    let hwm = rss_kb(pid, "VmHWM:");

    // Deployment: a change to every host that misses PW-SIM-1, approved and started; then every
    // host checks in once, as fast as the server takes them, and receives its job.
    eprintln!("deployment…");
    let password = "quartz lemon wardrobe 97";
    let mut tokens = Vec::new();
    for (user, role) in [("op", "operator"), ("cm", "change_manager")] {
        post(
            &agent,
            &format!("{url}/api/v1/users"),
            Some(&admin),
            &json!({"username": user, "password": password, "role": role}),
        );
        let login = post(
            &agent,
            &format!("{url}/api/v1/sessions"),
            None,
            &json!({"username": user, "password": password}),
        );
        tokens.push(login["token"].as_str().unwrap().to_owned());
    }
    let (op, cm) = (&tokens[0], &tokens[1]);
    let started = Instant::now();
    let change = post(
        &agent,
        &format!("{url}/api/v1/changes"),
        Some(op),
        &json!({"title": "fleet-sim", "patches": ["PW-SIM-1"], "selector": "", "waves": [1.0], "notice": "simulated"}),
    );
    let id = change["id"].as_str().unwrap();
    for (token, action) in [(op, "submit"), (cm, "approve"), (op, "start_testing")] {
        post(
            &agent,
            &format!("{url}/api/v1/changes/{id}/actions"),
            Some(token),
            &json!({"action": action}),
        );
    }
    let action_time = started.elapsed();
    let with_jobs = AtomicUsize::new(0);
    let deploy_bodies: Vec<Vec<u8>> = hosts.iter().enumerate().map(|(i, h)| report(h, false, i)).collect();
    let (dispatch_time, dispatch_lat) = phase(hosts.len(), args.concurrency, |i| {
        let (elapsed, jobs) = send_counting(&agent, &url, &hosts[i], &deploy_bodies[i]);
        if jobs > 0 {
            with_jobs.fetch_add(1, Ordering::SeqCst);
        }
        elapsed
    });
    let dispatched = with_jobs.load(Ordering::SeqCst);

    // The database's own limit, in the same run: the same number of rows, the same batching.
    eprintln!("raw insert baseline…");
    let database = args
        .database
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", server.data.path().join("patchwarden.db").display()));
    let inventories = hosts.len().min(2000);
    let runtime = tokio::runtime::Runtime::new()?;
    let raw_time = runtime.block_on(async {
        let store = patchwarden_store::Store::open(&database).await.unwrap();
        let started = Instant::now();
        store.raw_insert_baseline(inventories, args.packages).await.unwrap();
        let elapsed = started.elapsed();
        store.close().await;
        elapsed
    });
    let raw_rate = inventories as f64 / raw_time.as_secs_f64();

    let backend = if args.database.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!(
        "backend: {backend}; hosts: {}; packages per host: {}; concurrency: {}",
        hosts.len(),
        args.packages,
        args.concurrency
    );
    println!(
        "full inventory ingests: {full_rate:.0}/s (p50 {:.1} ms, p99 {:.1} ms); raw insert of the same rows: {raw_rate:.0} inventories/s ({:.0} rows/s); ratio {:.2}",
        percentile(&full_lat, 0.5),
        percentile(&full_lat, 0.99),
        raw_rate * args.packages as f64,
        full_rate / raw_rate
    );
    println!(
        "unchanged check-ins: {unchanged_rate:.0}/s (p50 {:.1} ms, p99 {:.1} ms)",
        percentile(&unchanged_lat, 0.5),
        percentile(&unchanged_lat, 0.99)
    );
    println!(
        "paced {rate:.0}/s ({} hosts every {} s) for {} s: p50 {:.1} ms, p99 {:.1} ms",
        hosts.len(),
        args.interval,
        args.paced_seconds,
        percentile(&paced_lat, 0.5),
        percentile(&paced_lat, 0.99)
    );
    println!(
        "deployment: change to {dispatched} hosts created, approved and started in {:.0} ms; every host had its job \
         {:.1} s after approval; {:.0} jobs dispatched/s at check-in (p50 {:.1} ms, p99 {:.1} ms)",
        action_time.as_secs_f64() * 1000.0,
        (action_time + dispatch_time).as_secs_f64(),
        dispatched as f64 / dispatch_time.as_secs_f64(),
        percentile(&dispatch_lat, 0.5),
        percentile(&dispatch_lat, 0.99)
    );
    println!(
        "server memory: {} MB after enrollment, {} MB after the run, peak {} MB",
        rss_before / 1024,
        rss_after / 1024,
        hwm / 1024
    );
    Ok(())
}
