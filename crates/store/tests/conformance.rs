//! The storage conformance story, run against SQLite and PostgreSQL: one behaviour, both backends.

// Test helpers may fail loudly: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use patchwarden_store::*;

fn who() -> Audit {
    Audit {
        actor: "user:tester".into(),
        at: 1_000,
    }
}

fn user(name: &str) -> NewUser {
    NewUser {
        id: format!("u-{name}"),
        username: name.into(),
        password_hash: "$argon2id$x".into(),
        role: "administrator".into(),
        created_at: 1,
    }
}

fn package(name: &str, version: &str) -> SoftwareRow {
    SoftwareRow {
        name: name.into(),
        version: version.into(),
        arch: Some("amd64".into()),
        source: None,
        source_version: None,
        module: None,
    }
}

fn report(
    host: &str,
    sequence: i64,
    inventory: Option<Vec<SoftwareRow>>,
    findings: Option<Vec<FindingRow>>,
) -> ReportRecord {
    ReportRecord {
        host_id: host.into(),
        sequence,
        created_at: "2026-12-04T10:00:00Z".into(),
        received_at: 1_000 + sequence,
        hostname: "web-1".into(),
        os: "Debian:12".into(),
        facts_json: "{}".into(),
        addresses: vec![AddressRow {
            interface: "eth0".into(),
            ip: "10.1.2.3".into(),
            mac: "aa:bb".into(),
        }],
        platform_class: "server".into(),
        dropped: 0,
        inventory: inventory.map(|packages| InventoryRecord {
            hash: format!("h{sequence}"),
            format: "dpkg-status".into(),
            ecosystem: "Debian:12".into(),
            packages,
        }),
        findings,
    }
}

async fn story(store: Store) {
    // First administrator: only with the one-time setup token, only once.
    store.set_setting(&who(), "setup_token", "hash").await.unwrap();
    assert!(
        !store
            .create_first_admin(&who(), &user("eve"), "wrong_key")
            .await
            .unwrap()
    );
    assert!(
        store
            .create_first_admin(&who(), &user("alice"), "setup_token")
            .await
            .unwrap()
    );
    assert!(
        !store
            .create_first_admin(&who(), &user("mallory"), "setup_token")
            .await
            .unwrap()
    );
    assert_eq!(store.user_count().await.unwrap(), 1);
    assert!(matches!(
        store.create_user(&who(), &user("alice")).await,
        Err(StoreError::Conflict(_))
    ));
    store.create_user(&who(), &user("bob")).await.unwrap();

    // API tokens expire and resolve to their owner.
    let token = NewApiToken {
        id: "t1".into(),
        user_id: "u-alice".into(),
        name: "script".into(),
        role: "auditor".into(),
        token_hash: "th".into(),
        created_at: 1,
        expires_at: Some(100),
    };
    store.create_api_token(&who(), &token).await.unwrap();
    assert_eq!(store.api_token("th", 50).await.unwrap().unwrap().username, "alice");
    assert!(store.api_token("th", 100).await.unwrap().is_none());

    // Enrollment: uses run out, expiry holds, labels reach the host.
    let labels = Labels {
        department: "IM&T".into(),
        platform_class: "server".into(),
        environment: "production".into(),
    };
    store
        .create_enrollment_token(
            &who(),
            &NewEnrollmentToken {
                id: "e1".into(),
                token_hash: "eh".into(),
                created_by: "u-alice".into(),
                created_at: 1,
                expires_at: 500,
                uses: 1,
                labels: labels.clone(),
            },
        )
        .await
        .unwrap();
    let host = |id: &str| NewHost {
        id: id.into(),
        hostname: "web-1".into(),
        machine_id: "m".into(),
        credential_hash: format!("c-{id}"),
    };
    assert!(
        store
            .enroll_host(
                &Audit {
                    actor: "agent".into(),
                    at: 600
                },
                "eh",
                &host("h1")
            )
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
    assert_eq!(
        store
            .enroll_host(
                &Audit {
                    actor: "agent".into(),
                    at: 10
                },
                "eh",
                &host("h1")
            )
            .await
            .unwrap(),
        Some(labels)
    );
    assert!(
        store
            .enroll_host(
                &Audit {
                    actor: "agent".into(),
                    at: 10
                },
                "eh",
                &host("h2")
            )
            .await
            .unwrap()
            .is_none(),
        "used up"
    );
    let enrolled = store.agent_session("c-h1").await.unwrap().unwrap();
    assert_eq!((enrolled.host_id.as_str(), enrolled.last_sequence), ("h1", 0));

    // Reports: each sequence once, inventory history, findings replaced together.
    let finding = FindingRow {
        package: "openssl".into(),
        source: "openssl".into(),
        installed: "3.0.1-1".into(),
        fixed: Some("3.0.2-1".into()),
        advisory: "DSA-1".into(),
        cves: "CVE-2026-1".into(),
        severity: Some("Important".into()),
        kev: true,
        epss: Some(0.5),
    };
    let first = report(
        "h1",
        1,
        Some(vec![package("openssl", "3.0.1-1"), package("bash", "5.2-1")]),
        Some(vec![finding.clone()]),
    );
    assert_eq!(
        store.store_report(&who(), &first, "").await.unwrap(),
        Stored {
            stored_through: 1,
            stored: true
        }
    );
    assert_eq!(
        store.store_report(&who(), &first, "").await.unwrap(),
        Stored {
            stored_through: 1,
            stored: false
        },
        "a re-sent report is not stored twice"
    );
    assert_eq!(store.report_count("h1").await.unwrap(), 1);
    assert_eq!(store.host_findings("h1").await.unwrap(), vec![finding]);
    let upgraded = report(
        "h1",
        2,
        Some(vec![package("openssl", "3.0.2-1"), package("bash", "5.2-1")]),
        Some(vec![]),
    );
    store.store_report(&who(), &upgraded, "{}").await.unwrap();
    assert_eq!(
        store.host_software("h1").await.unwrap(),
        vec![package("bash", "5.2-1"), package("openssl", "3.0.2-1")]
    );
    assert!(store.host_findings("h1").await.unwrap().is_empty());
    // The first inventory is the baseline; the second records what changed (§7.5.3).
    assert_eq!(
        store.software_history("h1").await.unwrap(),
        vec![
            ("openssl".to_owned(), "3.0.1-1".to_owned(), "removed".to_owned(), 1002),
            ("openssl".to_owned(), "3.0.2-1".to_owned(), "added".to_owned(), 1002),
        ]
    );
    let session = store.agent_session("c-h1").await.unwrap().unwrap();
    assert_eq!((session.host_id.as_str(), session.last_sequence), ("h1", 2));
    store
        .store_report(&who(), &report("h1", 3, None, None), "{}")
        .await
        .unwrap();
    assert_eq!(store.agent_session("c-h1").await.unwrap().unwrap().inventory_hash, "h2");
    let hosts = store.hosts().await.unwrap();
    assert_eq!(hosts.len(), 1);
    assert_eq!(
        (hosts[0].packages, hosts[0].last_sequence, hosts[0].addresses.len()),
        (2, 3, 1)
    );

    // Revocation.
    assert!(store.revoke_host(&who(), "h1").await.unwrap());
    assert!(store.agent_session("c-h1").await.unwrap().is_none());
    assert!(!store.revoke_host(&who(), "nope").await.unwrap());

    // Feed sources keep their bytes exactly.
    let source = FeedSource {
        name: "kev.json".into(),
        kind: "kev".into(),
        content: vec![0, 159, 146, 150, 255],
        sha256: "x".into(),
        imported_at: 5,
        url: None,
        etag: Some("\"abc\"".into()),
        last_modified: None,
        records: 1,
        advisories: 0,
        rejected: 0,
        last_error: None,
    };
    store.put_feed_source(&who(), &source).await.unwrap();
    store.put_feed_source(&who(), &source).await.unwrap();
    assert_eq!(store.feed_sources().await.unwrap(), vec![source]);

    // Every change above is in the audit trail, chained; a purge inside retention is refused, and
    // one outside it leaves an anchor the chain still verifies from.
    let ((anchor, anchor_hash), events) = store.audit_trail().await.unwrap();
    assert_eq!(anchor, 0);
    let checked = patchwarden_domain::audit::verify((anchor, &anchor_hash), &events).unwrap();
    // A setting, two users, a token, an enrollment token, an enrollment, two reports that changed the
    // host (the unchanged check-in is a heartbeat, not an event), a revocation, two feed stores.
    assert_eq!(checked, 11);
    let actions: Vec<&str> = events.iter().map(|e| e.event.action.as_str()).collect();
    for action in [
        "user.create",
        "token.create",
        "enrollment_token.create",
        "host.enroll",
        "report.store",
        "host.revoke",
        "feed.store",
    ] {
        assert!(actions.contains(&action), "{action} missing from {actions:?}");
    }
    assert!(
        events
            .iter()
            .all(|e| !e.event.after.contains("th") || e.event.action != "token.create"),
        "no token hashes"
    );
    assert!(matches!(
        store.purge_audit(&who(), 2_000, 1_500).await,
        Err(StoreError::Retention { .. })
    ));
    let removed = store.purge_audit(&who(), 1_001, 1_500).await.unwrap();
    assert_eq!(removed, i64::try_from(checked).unwrap());
    let ((anchor, anchor_hash), events) = store.audit_trail().await.unwrap();
    assert_eq!(anchor, i64::try_from(checked).unwrap());
    assert_eq!(
        patchwarden_domain::audit::verify((anchor, &anchor_hash), &events),
        Ok(1)
    );
    store.close().await;
}

#[tokio::test]
async fn sqlite() {
    let dir = patchwarden_testkit::tempdir();
    story(Store::open_sqlite(dir.path()).await.unwrap()).await;
}

#[tokio::test]
async fn postgres() {
    let store = Store::open(&patchwarden_testkit::postgres::fresh_database())
        .await
        .unwrap();
    assert_eq!(store.backend(), Backend::Postgres);
    story(store).await;
}

/// Two processes (here two stores) on one SQLite file append to one chain: each notices the other's
/// events instead of trusting the head it remembers, and the chain stays whole and gap-free.
#[tokio::test(flavor = "multi_thread")]
async fn sqlite_appends_from_two_processes_keep_one_chain() {
    let dir = patchwarden_testkit::tempdir();
    let first = Store::open_sqlite(dir.path()).await.unwrap();
    let second = Store::open_sqlite(dir.path()).await.unwrap();
    for i in 0..20 {
        let store = if i % 3 == 0 { &second } else { &first };
        let audit = Audit {
            actor: format!("user:{i}"),
            at: 1_000 + i,
        };
        store
            .record_event(&audit, "test.event", &format!("n:{i}"), &serde_json::json!({"i": i}))
            .await
            .unwrap();
    }
    let ((anchor, anchor_hash), events) = first.audit_trail().await.unwrap();
    assert_eq!(
        patchwarden_domain::audit::verify((anchor, &anchor_hash), &events),
        Ok(20)
    );
    let sequences: Vec<i64> = events.iter().map(|e| e.event.sequence).collect();
    assert_eq!(sequences, (1..=20).collect::<Vec<_>>());
}
