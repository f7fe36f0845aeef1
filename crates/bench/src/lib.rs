//! Benchmark support: the C baselines behind a safe interface, and fleets built from the real
//! inventories in `shared/data`.

// The only unsafe code in the workspace: calls into libdpkg and librpm, the baselines we measure
// against. Nothing outside the benchmarks links this crate.
#![allow(unsafe_code)]

pub mod baseline;
pub mod fleet;
pub mod server;

use std::path::PathBuf;

/// A file under `shared/data`.
pub fn shared(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(path)
}
