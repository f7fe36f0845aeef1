//! A fresh PostgreSQL database per test, on the server `.ci/test` starts
//! (`PATCHWARDEN_TEST_POSTGRES`).

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// The URL of a new, empty database. Panics with the fix when the suite was not started by
/// `.ci/test`: a test that needs PostgreSQL must not pass without it.
pub fn fresh_database() -> String {
    let Ok(base) = std::env::var("PATCHWARDEN_TEST_POSTGRES") else {
        panic!("PATCHWARDEN_TEST_POSTGRES is not set: run the tests with `bash .ci/test`, which starts PostgreSQL");
    };
    let name = format!("pw_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    let out = Command::new("psql")
        .arg(&base)
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", &format!("CREATE DATABASE {name}")])
        .output()
        .unwrap_or_else(|e| panic!("cannot run psql: {e}"));
    assert!(
        out.status.success(),
        "CREATE DATABASE: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (prefix, _) = base.rsplit_once('/').unwrap_or((&base, ""));
    format!("{prefix}/{name}")
}
