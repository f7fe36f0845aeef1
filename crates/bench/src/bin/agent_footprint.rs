//! `agent-footprint`: the agent's cost on an endpoint. Inventory collection time for the real
//! Debian 12 package records, beside `dpkg-query` listing the same database in the same run, and
//! the agent's memory while it idles between check-ins against a real server.
//!
//! `cargo build --release -p patchwarden -p patchwarden-agent && cargo run --release -p patchwarden-bench --bin agent-footprint`

// A benchmark that cannot run should stop loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use patchwarden_bench::server::start_server;
use patchwarden_testkit::shared;

const RUNS: usize = 21;

fn median(mut times: Vec<Duration>) -> f64 {
    times.sort();
    times[times.len() / 2].as_secs_f64() * 1000.0
}

fn time(mut command: impl FnMut() -> Command) -> f64 {
    let times = (0..RUNS)
        .map(|_| {
            let started = Instant::now();
            let out = command().stdout(Stdio::null()).status().unwrap();
            assert!(out.success());
            started.elapsed()
        })
        .collect();
    median(times)
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:")?.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn main() -> anyhow::Result<()> {
    let release = PathBuf::from("target/release");
    let agent = release.join("patchwarden-agent");
    let root = tempfile::tempdir()?;
    std::fs::create_dir_all(root.path().join("etc"))?;
    std::fs::create_dir_all(root.path().join("var/lib/dpkg"))?;
    std::fs::write(root.path().join("etc/os-release"), "ID=debian\nVERSION_ID=\"12\"\n")?;
    std::fs::copy(
        shared("inventories/debian12.dpkg-status"),
        root.path().join("var/lib/dpkg/status"),
    )?;
    let r = root.path().to_owned();

    let ours = time(|| {
        let mut c = Command::new(&agent);
        c.arg("--root").arg(&r).args(["inventory", "--json"]);
        c
    });
    let admindir = r.join("var/lib/dpkg");
    let dpkg = time(|| {
        let mut c = Command::new("dpkg-query");
        c.arg(format!("--admindir={}", admindir.display()))
            .args(["-W", "-f=${Package}\t${Version}\t${Architecture}\t${Source}\n"]);
        c
    });
    println!(
        "inventory collection, Debian 12 (707 packages), median of {RUNS}: patchwarden-agent inventory --json {ours:.1} ms; dpkg-query -W {dpkg:.1} ms; ratio {:.2}",
        ours / dpkg
    );

    // Idle memory: enrolled, one check-in done, sleeping until the next.
    let server = start_server(&release.join("patchwarden"), None, &[])?;
    let url = &server.url;
    let (_, _admin, token) = server.bootstrap(1);
    let fingerprint = std::fs::read_to_string(server.data.path().join("tls/ca.pem"))?;
    let fingerprint = {
        use sha2::Digest;
        let der = rustls_pemfile::certs(&mut fingerprint.as_bytes())
            .next()
            .unwrap()
            .unwrap();
        sha2::Sha256::digest(&der)
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":")
    };
    let state = tempfile::tempdir()?;
    let agent_args = |c: &mut Command| {
        c.arg("--state-dir").arg(state.path()).arg("--root").arg(&r);
    };
    let mut enroll = Command::new(&agent);
    agent_args(&mut enroll);
    assert!(
        enroll
            .args([
                "enroll",
                "--server",
                url,
                "--token",
                &token,
                "--ca-fingerprint",
                &fingerprint
            ])
            .status()?
            .success()
    );
    let mut run = Command::new(&agent);
    agent_args(&mut run);
    let mut child = run.arg("run").stdout(Stdio::null()).spawn()?;
    let outbox = state.path().join("outbox");
    let started = Instant::now();
    // Wait for the first report to be delivered (the outbox empties), then let it settle.
    loop {
        let delivered = std::fs::read(outbox.join("counters.state")).is_ok()
            && std::fs::read_dir(&outbox)?
                .filter_map(Result::ok)
                .all(|e| e.path().extension().is_none_or(|x| x != "json"));
        if delivered || started.elapsed() > Duration::from_secs(30) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(2));
    let idle = rss_kb(child.id());
    child.kill()?;
    child.wait()?;
    println!(
        "agent idle memory (RSS) after its first check-in: {:.1} MB",
        idle as f64 / 1024.0
    );
    Ok(())
}
