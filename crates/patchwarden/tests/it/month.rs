//! A realistic month, November 2026, walked through the server's own code with the time of each
//! event given explicitly (time is a parameter below the clock): real Ubuntu 20.04 inventories on
//! five hosts in two departments, three real Ubuntu advisories released on known dates, Security's
//! classifications, an exception that lapses mid-month, a decline, and hosts patching on known
//! days. The Appendix A figures of both departments are worked out by hand below and checked.
//!
//! The advisories are the real records of `shared/data/advisories/osv/Ubuntu`; only their
//! `published` times are moved into the test month (deadlines run from the vendor's release, §12).
//!
//! November 2026 in London is GMT throughout; no bank holiday falls in it. The monthly cycle is the
//! second Tuesday (10 November; the next is 8 December). Business days used below:
//! Mon 2 Nov + 3 = Thu 5 Nov; Tue 10 Nov + 3 = Fri 13 Nov; Tue 10 Nov + 10 = Tue 24 Nov;
//! Wed 18 Nov + 3 = Mon 23 Nov.
//!
//! | patch | release | severity (Ubuntu) | suggested (all 5 hosts affected: share 100%) |
//! |---|---|---|---|
//! | USN-4705-1 sudo | Mon 2 Nov 10:00 | Important | Critical (severity ≥ Important) |
//! | USN-4570-1 python3-urllib3 | Tue 10 Nov 10:00 | Moderate | Critical (share ≥ 70%) |
//! | USN-4438-1 libsqlite3-0 | Wed 18 Nov 10:00 | none | Critical (share ≥ 70%) |
//!
//! Security's decisions and the deadlines they give (the stricter of SLA and Appendix B wins):
//! - USN-4705-1, Critical for desktops and servers: SLA 3 business days = Thu 5 Nov 10:00; the
//!   matrix cell Important × >70% is also 3 days, the same time.
//! - USN-4570-1, Critical for servers: Fri 13 Nov 10:00 (the matrix's Moderate × >70% = 10 days
//!   is later). Overridden to Not Critical for desktops: the SLA says the cycle after release,
//!   8 December, but the matrix says Tue 24 Nov 10:00, which is stricter and wins.
//! - USN-4438-1, overridden to Emergency for servers: 8 hours, Wed 18 Nov 18:00 (no severity,
//!   so no matrix cell). Critical for desktops: Mon 23 Nov 10:00.
//!
//! What the hosts do (— never patched this month):
//!
//! | host | dept, class | sudo (due 5 Nov 10:00) | urllib3 | sqlite |
//! |---|---|---|---|---|
//! | ops-desk-1 | Operations, desktop | 4 Nov, on time | 20 Nov (due 24 Nov), on time | 23 Nov 09:00 (due 23 Nov 10:00), on time |
//! | ops-desk-2 | Operations, desktop | 6 Nov, late | — (due 24 Nov): overdue | 25 Nov (due 23 Nov), late |
//! | ops-srv-1 | Operations, server | — ; exception 3–16 Nov, then overdue | 12 Nov (due 13 Nov), on time | 18 Nov 17:00 (due 18:00), on time |
//! | fin-desk-1 | Finance, desktop | 5 Nov 09:00, on time | — (due 24 Nov): overdue | — (due 23 Nov): overdue |
//! | fin-srv-1 | Finance, server | 20 Nov, late | — (due 13 Nov); declined 12 Nov to 31 Jan: excepted | 19 Nov (due 18 Nov 18:00), late |
//!
//! Appendix A at the end of the month (deployed, even late, and not-yet-due count as compliant):
//! - Operations. Emergency: ops-srv-1/sqlite → 1 of 1 = 100%, 0 patches not deployed.
//!   Critical: sudo ×3 (desk-1 ✓, desk-2 ✓ late, srv-1 ✗), urllib3 srv-1 ✓, sqlite desk-1 ✓ and
//!   desk-2 ✓ late → 5 of 6 = 83.3%, 1 patch not deployed (USN-4705-1).
//!   Not Critical: urllib3 desk-1 ✓, desk-2 ✗ → 1 of 2 = 50%, 1 patch not deployed (USN-4570-1).
//! - Finance. Emergency: fin-srv-1/sqlite ✓ late → 100%. Critical: sudo desk ✓, sudo srv ✓ late,
//!   urllib3 srv ✗ (declined), sqlite desk ✗ → 2 of 4 = 50%, 2 patches not deployed (USN-4570-1,
//!   USN-4438-1). Not Critical: urllib3 desk ✗ → 0 of 1 = 0%, 1 patch not deployed.
//!   Why: USN-4570-1 on fin-srv-1 is a decline with its target 31 January and no workaround; the
//!   rest are overdue with no exception.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use patchwarden_domain::compliance::{GroupBy, tally};
use patchwarden_domain::exception::{Exception, Kind, Request, State};
use patchwarden_domain::inventory::{self, InventoryFormat};
use patchwarden_domain::policy::{Category, Policy};
use patchwarden_proto::{Facts, Inventory, Package, Report};
use patchwarden_server::compliance::{Snapshot, refresh_classifications};
use patchwarden_server::state::AppState;
use patchwarden_server::{advisories, ingest, secrets};
use patchwarden_store::{Audit, Labels, NewEnrollmentToken, NewHost, NewUser, Store};
use patchwarden_testkit::{shared, tempdir};
use serde_json::Value;

fn at(text: &str) -> i64 {
    text.parse::<jiff::Timestamp>().unwrap().as_second()
}

fn audit(actor: &str, time: &str) -> Audit {
    Audit {
        actor: actor.into(),
        at: at(time),
    }
}

struct Host {
    credential: String,
    name: String,
    packages: Vec<Package>,
    sequence: u64,
}

struct Month {
    state: AppState,
    hosts: Vec<Host>,
    feeds: std::path::PathBuf,
    runtime: tokio::runtime::Runtime,
}

/// The real Ubuntu 20.04 package records.
fn ubuntu_packages() -> Vec<Package> {
    let status = std::fs::read_to_string(shared("inventories/ubuntu20.04-armhf.dpkg-status")).unwrap();
    inventory::parse(InventoryFormat::DpkgStatus, &status)
        .unwrap()
        .iter()
        .map(patchwarden_agent::collect::wire_package)
        .collect()
}

impl Month {
    fn store(&self) -> &Store {
        &self.state.store
    }

    /// A host sends its whole inventory at `time`, as an agent does when it changed.
    fn report(&mut self, host: usize, time: &str) {
        let h = &mut self.hosts[host];
        h.sequence += 1;
        let inventory = Inventory {
            format: "dpkg-status".into(),
            packages: h.packages.clone(),
        };
        let report = Report {
            sequence: h.sequence,
            created_at: time.into(),
            facts: Facts {
                hostname: h.name.clone(),
                os: "Ubuntu:20.04:LTS".into(),
                ..Facts::default()
            },
            inventory_hash: ingest::inventory_hash(&inventory),
            inventory: Some(inventory),
            dropped: 0,
        };
        let state = self.state.clone();
        let credential = secrets::sha256_hex(&h.credential);
        self.runtime.block_on(async {
            let session = state.store.agent_session(&credential).await.unwrap().unwrap();
            ingest::receive(&state, &session, report, at(time)).await.unwrap();
        });
    }

    /// The host installs the fixed version of `package` and reports at `time`.
    fn patch(&mut self, host: usize, package: &str, fixed: &str, time: &str) {
        let p = self.hosts[host]
            .packages
            .iter_mut()
            .find(|p| p.name == package)
            .unwrap();
        p.version = fixed.into();
        if p.source_version.is_some() {
            p.source_version = Some(fixed.into());
        }
        self.report(host, time);
    }

    /// The vendor's advisory arrives: imported at `time`, findings recomputed, suggestions made.
    fn release(&mut self, id: &str, published: &str, time: &str) {
        let mut record: Value = serde_json::from_str(
            &std::fs::read_to_string(shared(&format!("advisories/osv/Ubuntu/{id}.json"))).unwrap(),
        )
        .unwrap();
        record["published"] = published.into();
        record["modified"] = published.into();
        let path = self.feeds.join(format!("{id}.json"));
        std::fs::write(&path, record.to_string()).unwrap();
        let state = self.state.clone();
        let audit = audit("feed-sync", time);
        self.runtime.block_on(async {
            patchwarden_server::import_feeds(&state.store, &[path], &audit)
                .await
                .unwrap();
            let fresh = advisories::load(&state.store).await.unwrap();
            refresh_classifications(&state.store, &fresh, &state.policy, &audit)
                .await
                .unwrap();
            state.set_advisories(fresh);
        });
    }

    fn classify(&self, patch: &str, class: &str, category: Category, note: &str, time: &str) {
        let stored = self
            .runtime
            .block_on(
                self.store()
                    .classify(&audit("user:sam", time), patch, class, category.name(), note),
            )
            .unwrap()
            .unwrap();
        assert!(stored.approved);
    }

    fn exception(&self, request: Request, by: &str, time: &str) -> Exception {
        let now = at(time);
        request
            .validate(&self.state.policy, jiff::Timestamp::from_second(now).unwrap())
            .unwrap();
        let e = Exception {
            id: format!("{}-{}", request.kind.name(), request.patches[0]),
            request,
            requested_by: by.into(),
            requested_at: jiff::Timestamp::from_second(now).unwrap(),
            state: State::Requested,
            decided_by: None,
            decided_at: None,
            revoked_at: None,
        };
        self.runtime
            .block_on(self.store().create_exception(&audit(&format!("user:{by}"), time), &e))
            .unwrap();
        e
    }

    fn decide(&self, before: &Exception, by: &str, time: &str) {
        let mut after = before.clone();
        // The requester cannot decide it.
        assert!(
            after
                .clone()
                .decide(
                    &before.requested_by,
                    true,
                    jiff::Timestamp::from_second(at(time)).unwrap()
                )
                .is_err()
        );
        after
            .decide(by, true, jiff::Timestamp::from_second(at(time)).unwrap())
            .unwrap();
        assert!(
            self.runtime
                .block_on(
                    self.store()
                        .update_exception(&audit(&format!("user:{by}"), time), before, &after, None)
                )
                .unwrap()
        );
    }

    fn form(&self, department: &str) -> Value {
        let form = self
            .runtime
            .block_on(patchwarden_server::policy_api::department_form(
                &self.state,
                department,
                "2026-11",
            ))
            .unwrap();
        patchwarden_server::policy_api::form_json(&form)
    }

    /// Compliance by `by` as of `time`, from the start of November.
    fn compliance(&self, by: GroupBy, time: &str) -> BTreeMap<String, (usize, usize, usize)> {
        let from = at("2026-11-01T00:00:00Z");
        let calendar = self.state.policy.calendar().unwrap();
        let snapshot = self
            .runtime
            .block_on(Snapshot::load(self.store(), from, at(time)))
            .unwrap();
        let obligations = snapshot.obligations(&self.state.policy, &calendar, from, at(time));
        tally(&snapshot.hosts, &obligations, by)
            .into_iter()
            .map(|(k, t)| (k, (t.obligations, t.compliant(), t.excepted)))
            .collect()
    }
}

fn set_up() -> Month {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let data = tempdir();
    let store = runtime.block_on(Store::open_sqlite(data.path())).unwrap();
    let start = audit("setup", "2026-10-30T09:00:00Z");
    runtime
        .block_on(store.create_user(
            &start,
            &NewUser {
                id: "u-admin".into(),
                username: "alice".into(),
                password_hash: "not used".into(),
                role: "administrator".into(),
                created_at: start.at,
            },
        ))
        .unwrap();
    let state = AppState {
        advisories: Arc::new(RwLock::new(Arc::new(
            runtime.block_on(advisories::load(&store)).unwrap(),
        ))),
        store,
        check_in_interval: 3600,
        ca_pem: Arc::from(""),
        policy: Arc::new(Policy::default()),
        patch_files: Arc::from(data.path().join("patch-files").as_path()),
        secrets_key: Arc::new([0u8; 32]),
    };
    let base = ubuntu_packages();
    let mut hosts = Vec::new();
    for (name, department, class) in [
        ("ops-desk-1", "Operations", "desktop"),
        ("ops-desk-2", "Operations", "desktop"),
        ("ops-srv-1", "Operations", "server"),
        ("fin-desk-1", "Finance", "desktop"),
        ("fin-srv-1", "Finance", "server"),
    ] {
        let labels = Labels {
            department: department.into(),
            platform_class: class.into(),
            environment: "production".into(),
        };
        let token = format!("token-{name}");
        let credential = format!("credential-{name}");
        let id = format!("host-{name}");
        runtime.block_on(async {
            state
                .store
                .create_enrollment_token(
                    &start,
                    &NewEnrollmentToken {
                        id: format!("et-{name}"),
                        token_hash: secrets::sha256_hex(&token),
                        created_by: "u-admin".into(),
                        created_at: start.at,
                        expires_at: start.at + 86_400,
                        uses: 1,
                        labels: labels.clone(),
                    },
                )
                .await
                .unwrap();
            state
                .store
                .enroll_host(
                    &start,
                    &secrets::sha256_hex(&token),
                    &NewHost {
                        id: id.clone(),
                        hostname: name.into(),
                        machine_id: String::new(),
                        credential_hash: secrets::sha256_hex(&credential),
                    },
                )
                .await
                .unwrap()
                .unwrap();
        });
        hosts.push(Host {
            credential,
            name: name.into(),
            packages: base.clone(),
            sequence: 0,
        });
    }
    let feeds = data.path().join("feeds");
    std::fs::create_dir(&feeds).unwrap();
    // The data directory lives as long as the test: it is left to the OS's temp cleaning.
    std::mem::forget(data);
    Month {
        state,
        hosts,
        feeds,
        runtime,
    }
}

const OPS_DESK_1: usize = 0;
const OPS_DESK_2: usize = 1;
const OPS_SRV_1: usize = 2;
const FIN_DESK_1: usize = 3;
const FIN_SRV_1: usize = 4;

#[test]
fn november_appendix_a_for_two_departments() {
    let mut m = set_up();
    for host in 0..5 {
        m.report(host, "2026-11-01T09:00:00Z");
    }

    // ---- sudo, Mon 2 Nov ----
    m.release("USN-4705-1", "2026-11-02T10:00:00Z", "2026-11-02T11:00:00Z");
    let history = m
        .runtime
        .block_on(m.store().classification_history("USN-4705-1"))
        .unwrap();
    let suggested: BTreeMap<&str, &str> = history
        .iter()
        .map(|c| (c.platform_class.as_str(), c.suggested.as_str()))
        .collect();
    assert_eq!(suggested["desktop"], "Critical");
    assert_eq!(suggested["server"], "Critical");
    assert_eq!(suggested["laptop"], "Not applicable", "no laptop has sudo");
    let desktop = history.iter().find(|c| c.platform_class == "desktop").unwrap();
    assert_eq!(desktop.fleet_share, 1.0);
    assert_eq!(
        desktop.reasons,
        [
            "vendor severity Important ≥ Important",
            "100% of the fleet affected ≥ 70%"
        ]
    );
    m.classify("USN-4705-1", "desktop", Category::Critical, "", "2026-11-02T11:30:00Z");
    m.classify("USN-4705-1", "server", Category::Critical, "", "2026-11-02T11:30:00Z");

    let sudo = "1.8.31-1ubuntu1.2";
    let exception = m.exception(
        Request {
            kind: Kind::Exception,
            selector: "name:ops-srv-*".into(),
            patches: vec!["USN-4705-1".into()],
            reason: "the sudo update needs the ERP vendor's sign-off".into(),
            workaround: Some("sudo restricted to the admin group".into()),
            target: "2026-11-16T00:00:00Z".parse().unwrap(),
            application_owner: None,
        },
        "mike",
        "2026-11-03T09:00:00Z",
    );
    m.decide(&exception, "sam", "2026-11-03T14:00:00Z");
    m.patch(OPS_DESK_1, "sudo", sudo, "2026-11-04T15:00:00Z");
    m.patch(FIN_DESK_1, "sudo", sudo, "2026-11-05T09:00:00Z");
    m.patch(OPS_DESK_2, "sudo", sudo, "2026-11-06T09:00:00Z");

    // On 10 November (before urllib3 is known): Operations has 3 sudo obligations, desk-1 on
    // time, desk-2 late (both deployed), srv-1 excepted → 2 of 3 compliant, 1 excepted.
    let mid = m.compliance(GroupBy::Department, "2026-11-10T00:00:00Z");
    assert_eq!(mid["Operations"], (3, 2, 1));
    // Finance: fin-desk-1 deployed, fin-srv-1 overdue since 5 November → 1 of 2.
    assert_eq!(mid["Finance"], (2, 1, 0));

    // ---- urllib3, Tue 10 Nov ----
    m.release("USN-4570-1", "2026-11-10T10:00:00Z", "2026-11-10T11:00:00Z");
    m.classify("USN-4570-1", "server", Category::Critical, "", "2026-11-10T11:15:00Z");
    m.classify(
        "USN-4570-1",
        "desktop",
        Category::NotCritical,
        "urllib3 is only used by server-side tools",
        "2026-11-10T11:15:00Z",
    );
    let urllib3 = "1.25.8-2ubuntu0.1";
    m.patch(OPS_SRV_1, "python3-urllib3", urllib3, "2026-11-12T10:00:00Z");
    let decline = m.exception(
        Request {
            kind: Kind::Decline,
            selector: "name:fin-srv-1".into(),
            patches: vec!["USN-4570-1".into()],
            reason: "the ledger application pins urllib3 1.25.8; its vendor cannot fix this yet".into(),
            workaround: None,
            target: "2027-01-31T00:00:00Z".parse().unwrap(),
            application_owner: Some("olivia".into()),
        },
        "mike",
        "2026-11-12T11:00:00Z",
    );
    m.decide(&decline, "olivia", "2026-11-12T16:00:00Z");

    // The exception lapsed on 16 November: ops-srv-1's sudo is overdue again.
    let after_lapse = m.compliance(GroupBy::Host, "2026-11-17T00:00:00Z");
    assert_eq!(
        after_lapse["host-ops-srv-1"],
        (2, 1, 0),
        "sudo overdue, urllib3 deployed"
    );

    // ---- sqlite, Wed 18 Nov ----
    m.release("USN-4438-1", "2026-11-18T10:00:00Z", "2026-11-18T11:00:00Z");
    m.classify(
        "USN-4438-1",
        "server",
        Category::Emergency,
        "database servers take untrusted SQL from the web tier",
        "2026-11-18T11:15:00Z",
    );
    m.classify("USN-4438-1", "desktop", Category::Critical, "", "2026-11-18T11:15:00Z");
    let sqlite = "3.31.1-4ubuntu0.2";
    m.patch(OPS_SRV_1, "libsqlite3-0", sqlite, "2026-11-18T17:00:00Z");
    m.patch(FIN_SRV_1, "libsqlite3-0", sqlite, "2026-11-19T09:00:00Z");
    m.patch(FIN_SRV_1, "sudo", sudo, "2026-11-20T09:00:00Z");
    m.patch(OPS_DESK_1, "python3-urllib3", urllib3, "2026-11-20T10:00:00Z");
    m.patch(OPS_DESK_1, "libsqlite3-0", sqlite, "2026-11-23T09:00:00Z");
    m.patch(OPS_DESK_2, "libsqlite3-0", sqlite, "2026-11-25T09:00:00Z");

    // ---- Appendix A, November ----
    let ops = m.form("Operations");
    let lines = |form: &Value| -> Vec<(String, f64, u64, u64)> {
        form["compliance"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["category"].as_str().unwrap().to_owned(),
                    (l["percent"].as_f64().unwrap() * 10.0).round() / 10.0,
                    l["obligations"].as_u64().unwrap(),
                    l["patches_not_deployed"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(
        lines(&ops),
        [
            ("Emergency".to_owned(), 100.0, 1, 0),
            ("Critical".to_owned(), 83.3, 6, 1),
            ("Not Critical".to_owned(), 50.0, 2, 1),
        ]
    );
    let why = |form: &Value| -> Vec<(String, String, u64, String, Option<String>, bool)> {
        form["not_deployed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                (
                    n["patch"].as_str().unwrap().to_owned(),
                    n["category"].as_str().unwrap().to_owned(),
                    n["hosts"].as_u64().unwrap(),
                    n["why"].as_str().unwrap().to_owned(),
                    n["target"].as_str().map(ToOwned::to_owned),
                    n["workaround"].as_bool().unwrap(),
                )
            })
            .collect()
    };
    let overdue = "overdue; no exception covers it".to_owned();
    assert_eq!(
        why(&ops),
        [
            ("USN-4705-1".into(), "Critical".into(), 1, overdue.clone(), None, false),
            (
                "USN-4570-1".into(),
                "Not Critical".into(),
                1,
                overdue.clone(),
                None,
                false
            ),
        ]
    );
    assert_eq!(ops["all_mitigated"], false);

    let finance = m.form("Finance");
    assert_eq!(
        lines(&finance),
        [
            ("Emergency".to_owned(), 100.0, 1, 0),
            ("Critical".to_owned(), 50.0, 4, 2),
            ("Not Critical".to_owned(), 0.0, 1, 1),
        ]
    );
    assert_eq!(
        why(&finance),
        [
            ("USN-4438-1".into(), "Critical".into(), 1, overdue.clone(), None, false),
            (
                "USN-4570-1".into(),
                "Critical".into(),
                1,
                "decline: the ledger application pins urllib3 1.25.8; its vendor cannot fix this yet".into(),
                Some("2027-01-31T00:00:00Z".into()),
                false
            ),
            ("USN-4570-1".into(), "Not Critical".into(), 1, overdue, None, false),
        ]
    );

    // Deadlines as worked out above, with the rule that set each.
    let calendar = m.state.policy.calendar().unwrap();
    let from = at("2026-11-01T00:00:00Z");
    let end = at("2026-12-01T00:00:00Z");
    let snapshot = m.runtime.block_on(Snapshot::load(m.store(), from, end)).unwrap();
    let due: BTreeMap<(String, String), (String, String)> = snapshot
        .obligations(&m.state.policy, &calendar, from, end)
        .iter()
        .map(|o| {
            (
                (snapshot.hosts[o.host].id.clone(), o.patch.clone()),
                (o.deadline.due.to_string(), o.deadline.reason.clone()),
            )
        })
        .collect();
    let of = |host: &str, patch: &str| due[&(format!("host-{host}"), patch.to_owned())].clone();
    assert_eq!(of("ops-desk-1", "USN-4705-1").0, "2026-11-05T10:00:00Z");
    assert_eq!(of("ops-srv-1", "USN-4570-1").0, "2026-11-13T10:00:00Z");
    let (desk_urllib3, why_desk) = of("ops-desk-2", "USN-4570-1");
    assert_eq!(desk_urllib3, "2026-11-24T10:00:00Z");
    assert!(
        why_desk.starts_with("Appendix B: Moderate severity on 100% of PCs"),
        "{why_desk}"
    );
    let (srv_sqlite, why_srv) = of("fin-srv-1", "USN-4438-1");
    assert_eq!(srv_sqlite, "2026-11-18T18:00:00Z");
    assert!(why_srv.starts_with("§12.3 Emergency"), "{why_srv}");
    assert_eq!(of("fin-desk-1", "USN-4438-1").0, "2026-11-23T10:00:00Z");

    // The same obligations by platform class: 15 in all.
    let by_class = m.compliance(GroupBy::PlatformClass, "2026-12-01T00:00:00Z");
    assert_eq!(by_class["desktop"].0 + by_class["server"].0, 15);
}
