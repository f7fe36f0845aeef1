//! The audit trail under attack: editing, deleting or reordering events directly in the database
//! (SQLite and PostgreSQL) is found by `patchwarden audit verify`, which names the first bad event.

use std::process::Command;

use serde_json::json;

use crate::patchwarden;
use crate::support::{Db, PASSWORD, TestServer};

/// Tampering done with the database's own tools, as an insider with database access would.
#[derive(Debug, Clone, Copy)]
enum Tamper {
    Edit,
    Delete,
    Reorder,
}

impl Tamper {
    fn sql(self) -> &'static str {
        match self {
            Tamper::Edit => "UPDATE audit_events SET after_state = '{\"role\":\"auditor\"}' WHERE sequence = 3",
            Tamper::Delete => "DELETE FROM audit_events WHERE sequence = 4",
            Tamper::Reorder => {
                "UPDATE audit_events SET sequence = -1 WHERE sequence = 2; \
                 UPDATE audit_events SET sequence = 2 WHERE sequence = 3; \
                 UPDATE audit_events SET sequence = 3 WHERE sequence = -1"
            }
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Tamper::Edit => "event 3: its content does not match its hash (edited)",
            Tamper::Delete => "event 5: expected event 4 here (deleted or reordered)",
            Tamper::Reorder => "event 2: it does not follow the event before it",
        }
    }
}

fn verify(server: &TestServer) -> (bool, String) {
    let mut args = vec!["audit".to_owned(), "verify".to_owned()];
    match &server.config.database {
        Some(url) => args.extend(["--database".to_owned(), url.clone()]),
        None => args.extend(["--data-dir".to_owned(), server.data.path().display().to_string()]),
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = patchwarden(&args);
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn tamper(server: &TestServer, how: Tamper) {
    let out = match &server.config.database {
        Some(url) => Command::new("psql")
            .arg(url)
            .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", how.sql()])
            .output()
            .unwrap(),
        None => {
            let db = server.data.path().join("patchwarden.db");
            let script = format!(
                "import sqlite3; c = sqlite3.connect({:?}); c.executescript({:?}); c.commit()",
                db.display().to_string(),
                how.sql()
            );
            Command::new("/usr/bin/python3").args(["-c", &script]).output().unwrap()
        }
    };
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn attack(db: Db, how: Tamper) {
    let mut server = TestServer::start(db, "127.0.0.1:0".parse().unwrap(), vec![], &[]);
    // Changes by people: users, a token, an enrollment token.
    for (user, role) in [("sec", "security"), ("ops", "operator")] {
        let made = server.api.call(
            "POST",
            "/api/v1/users",
            Some(&server.admin),
            Some(json!({"username": user, "password": PASSWORD, "role": role})),
        );
        assert_eq!(made.0, 201);
    }
    server.enrollment_token(json!({"uses": 3}));
    server.stop();
    let (ok, text) = verify(&server);
    assert!(ok, "{text}");
    assert!(text.contains("audit trail intact"), "{text}");
    tamper(&server, how);
    let (ok, text) = verify(&server);
    assert!(!ok, "{how:?} went unnoticed: {text}");
    assert!(text.contains(how.expected()), "{how:?}: {text}");
}

#[test]
fn tampering_in_sqlite_is_found() {
    for how in [Tamper::Edit, Tamper::Delete, Tamper::Reorder] {
        attack(Db::Sqlite, how);
    }
}

#[test]
fn tampering_in_postgres_is_found() {
    for how in [Tamper::Edit, Tamper::Delete, Tamper::Reorder] {
        attack(Db::Postgres, how);
    }
}
