//! `policy-bench`: the policy engine's two figures, each beside a baseline measured in the same run.
//!
//! 1. Recomputing every deadline and the compliance of a 10,000-host fleet (every obligation's
//!    deadline and standing, compliance by host, department, platform class and category, and the
//!    Appendix A form of every department), against one pass that only groups the same spans by
//!    (host, patch) — the least any evaluation has to do.
//! 2. Audit events appended per second on SQLite (hash-chained, one transaction each, several
//!    writers at once), against single-row inserts of the same columns into a plain table of the
//!    same database, one transaction each.
//!
//! `cargo run --release -p patchwarden-bench --bin policy-bench`

// A benchmark that cannot run should stop loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout)]

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use clap::Parser;
use jiff::Timestamp;
use patchwarden_domain::advisory::Severity;
use patchwarden_domain::calendar::{BusinessCalendar, Holidays};
use patchwarden_domain::classification::PlatformClass;
use patchwarden_domain::compliance::{self, Classified, Fleet, GroupBy, Host, Scope, Span};
use patchwarden_domain::exception::{Exception, Kind, Request, State};
use patchwarden_domain::policy::{Category, Policy};
use patchwarden_domain::selector::{HostFacts, Selector};
use patchwarden_testkit::Rng;

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, default_value_t = 10_000)]
    hosts: usize,
    /// Distinct patches in the fleet.
    #[arg(long, default_value_t = 400)]
    patches: usize,
    /// Patches each host misses (or missed this month).
    #[arg(long, default_value_t = 40)]
    per_host: usize,
    #[arg(long, default_value_t = 11)]
    runs: usize,
    /// Audit events to append.
    #[arg(long, default_value_t = 20_000)]
    events: usize,
    /// Concurrent writers appending them.
    #[arg(long, default_value_t = 8)]
    writers: usize,
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

const DEPARTMENTS: [&str; 10] = [
    "Operations",
    "Finance",
    "Control Room",
    "Fleet",
    "HR",
    "Estates",
    "Clinical",
    "IM&T",
    "Procurement",
    "Training",
];

/// The hosts, spans, classifications and exceptions of a simulated month.
type FleetData = (
    Vec<Host>,
    Vec<Span>,
    HashMap<(String, PlatformClass), Classified>,
    Vec<Scope>,
);

fn fleet_data(args: &Args) -> FleetData {
    let mut rng = Rng(7);
    let classes = [PlatformClass::Desktop, PlatformClass::Laptop, PlatformClass::Server];
    let hosts: Vec<Host> = (0..args.hosts)
        .map(|i| {
            let department = DEPARTMENTS[i % DEPARTMENTS.len()];
            let class = classes[rng.below(3)];
            Host {
                id: format!("host-{i:05}"),
                department: department.into(),
                class,
                facts: HostFacts {
                    name: format!("pc-{i:05}"),
                    department: department.into(),
                    platform_class: class.name().into(),
                    ..HostFacts::default()
                },
            }
        })
        .collect();
    let month = t("2026-11-01T00:00:00Z").as_second();
    let mut spans = Vec::with_capacity(args.hosts * args.per_host);
    for host in 0..args.hosts {
        for _ in 0..args.per_host {
            let opened = month + i64::try_from(rng.below(25 * 86_400)).unwrap();
            let closed = (rng.below(2) == 0).then(|| opened + i64::try_from(rng.below(10 * 86_400)).unwrap());
            spans.push(Span {
                host,
                patch: format!("USN-{}-1", 6000 + rng.below(args.patches)),
                opened: Timestamp::from_second(opened).unwrap(),
                closed: closed.map(|c| Timestamp::from_second(c).unwrap()),
            });
        }
    }
    let categories = [
        Category::Emergency,
        Category::Critical,
        Category::Critical,
        Category::NotCritical,
    ];
    let severities = [
        Severity::Critical,
        Severity::Important,
        Severity::Moderate,
        Severity::Low,
    ];
    let mut classified = HashMap::new();
    for p in 0..args.patches {
        let released = month + i64::try_from(rng.below(25 * 86_400)).unwrap();
        for class in classes {
            classified.insert(
                (format!("USN-{}-1", 6000 + p), class),
                Classified {
                    category: categories[rng.below(4)],
                    approved: rng.below(10) != 0,
                    severity: Some(severities[rng.below(4)]),
                    fleet_share: rng.below(100) as f64 / 100.0,
                    released: Timestamp::from_second(released).unwrap(),
                },
            );
        }
    }
    let exceptions = (0..10)
        .map(|i| {
            let selector = format!("department:\"{}\" class:server", DEPARTMENTS[i]);
            Scope {
                selector: Selector::parse(&selector).unwrap(),
                exception: Exception {
                    id: format!("x{i}"),
                    request: Request {
                        kind: Kind::Exception,
                        selector,
                        patches: (0..5).map(|k| format!("USN-{}-1", 6000 + i * 5 + k)).collect(),
                        reason: "vendor sign-off".into(),
                        workaround: Some("port closed".into()),
                        target: t("2026-12-15T00:00:00Z"),
                        application_owner: None,
                    },
                    requested_by: "mike".into(),
                    requested_at: t("2026-11-02T09:00:00Z"),
                    state: State::Approved,
                    decided_by: Some("sam".into()),
                    decided_at: Some(t("2026-11-02T10:00:00Z")),
                    revoked_at: None,
                },
            }
        })
        .collect();
    (hosts, spans, classified, exceptions)
}

fn compliance_figures(args: &Args) {
    let (hosts, spans, classified, exceptions) = fleet_data(args);
    let fleet = Fleet {
        hosts: &hosts,
        spans: &spans,
        classified: &classified,
        exceptions: &exceptions,
    };
    let policy = Policy::default();
    let calendar = BusinessCalendar::new("Europe/London", Holidays::EnglandAndWales, BTreeSet::new()).unwrap();
    let (from, at) = (t("2026-11-01T00:00:00Z"), t("2026-12-01T00:00:00Z"));
    let mut whole = Vec::new();
    let mut baseline = Vec::new();
    let mut count = 0;
    for _ in 0..args.runs {
        let started = Instant::now();
        let mut pairs: HashMap<(usize, &str), Option<Timestamp>> = HashMap::new();
        for s in &spans {
            pairs.insert((s.host, s.patch.as_str()), s.closed);
        }
        std::hint::black_box(&pairs);
        baseline.push(started.elapsed());

        let started = Instant::now();
        let obligations = compliance::obligations(&policy, &calendar, &fleet, from, at);
        for by in [
            GroupBy::Host,
            GroupBy::Department,
            GroupBy::PlatformClass,
            GroupBy::Category,
        ] {
            std::hint::black_box(compliance::tally(&hosts, &obligations, by));
        }
        for department in DEPARTMENTS {
            std::hint::black_box(compliance::form(&fleet, &obligations, department, from, at));
        }
        whole.push(started.elapsed());
        count = obligations.len();
    }
    let (whole, baseline) = (median(whole), median(baseline));
    println!(
        "compliance of {} hosts ({} spans, {count} obligations, {} patches × 3 classes, 10 exceptions): \
         median {:.0} ms over {} runs; grouping the spans alone: {:.0} ms; ratio {:.1}",
        hosts.len(),
        spans.len(),
        args.patches,
        whole.as_secs_f64() * 1000.0,
        args.runs,
        baseline.as_secs_f64() * 1000.0,
        whole.as_secs_f64() / baseline.as_secs_f64()
    );
}

async fn audit_figures(args: &Args) {
    let data = tempfile::tempdir().unwrap();
    let store = patchwarden_store::Store::open_sqlite(data.path()).await.unwrap();
    let started = Instant::now();
    store.raw_single_inserts(args.events, args.writers).await.unwrap();
    let raw = started.elapsed();
    let started = Instant::now();
    let per_writer = args.events / args.writers;
    let tasks: Vec<_> = (0..args.writers)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..per_writer {
                    let audit = patchwarden_store::Audit {
                        actor: format!("user:writer{w}"),
                        at: 1_790_000_000 + i64::try_from(i).unwrap(),
                    };
                    store
                        .record_event(
                            &audit,
                            "bench.event",
                            &format!("bench:{w}/{i}"),
                            &serde_json::json!({"i": i}),
                        )
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let chained = started.elapsed();
    // Bulk operations append their events in one transaction: 100 at a time.
    let started = Instant::now();
    for batch in 0..args.events / 100 {
        let audit = patchwarden_store::Audit {
            actor: "system".into(),
            at: 1_790_100_000 + i64::try_from(batch).unwrap(),
        };
        let events: Vec<(String, String, serde_json::Value)> = (0..100)
            .map(|i| {
                (
                    "bench.bulk".to_owned(),
                    format!("bench:{batch}/{i}"),
                    serde_json::json!({"i": i}),
                )
            })
            .collect();
        store.record_events(&audit, &events).await.unwrap();
    }
    let bulk = started.elapsed();
    let bulk_rate = (args.events / 100 * 100) as f64 / bulk.as_secs_f64();
    let (_, events) = store.audit_trail().await.unwrap();
    let appended = events.len() - args.events / 100 * 100;
    let verified = patchwarden_domain::audit::verify((0, patchwarden_domain::audit::GENESIS), &events).unwrap();
    assert_eq!(verified, events.len());
    let rate = appended as f64 / chained.as_secs_f64();
    let raw_rate = (per_writer * args.writers) as f64 / raw.as_secs_f64();
    println!(
        "audit events appended on SQLite: {rate:.0}/s ({appended} events, {} writers, chain verified); \
         plain single-row insert transactions, same database: {raw_rate:.0}/s; ratio {:.2}",
        args.writers,
        rate / raw_rate
    );
    println!(
        "audit events appended on SQLite, 100 per transaction (bulk operations): {bulk_rate:.0}/s; \
         ratio to the plain single-row transactions {:.1}",
        bulk_rate / raw_rate
    );
    store.close().await;
}

fn main() {
    let args = Args::parse();
    compliance_figures(&args);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(audit_figures(&args));
}
