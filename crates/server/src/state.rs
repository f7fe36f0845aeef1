//! What every request handler shares.

use std::sync::{Arc, RwLock};

use patchwarden_store::Store;

use crate::advisories::Advisories;

/// The settings key that holds the SHA-256 of the one-time setup token.
pub const SETUP_TOKEN_KEY: &str = "setup_token_sha256";

#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Store,
    pub advisories: Arc<RwLock<Arc<Advisories>>>,
    /// Seconds between agent check-ins.
    pub check_in_interval: u64,
    /// The CA certificate agents pin (PEM).
    pub ca_pem: Arc<str>,
    /// The policy in force, checked at start.
    pub policy: Arc<patchwarden_domain::policy::Policy>,
    /// Where uploaded patch files live, each under its SHA-256 (§14.4).
    pub patch_files: Arc<std::path::Path>,
    /// The key that seals secrets stored in the database (the directory's bind password).
    pub secrets_key: Arc<[u8; 32]>,
}

impl AppState {
    /// The advisories in force now (cheap: an `Arc` clone).
    pub fn advisories(&self) -> Arc<Advisories> {
        match self.advisories.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    pub fn set_advisories(&self, advisories: Advisories) {
        let fresh = Arc::new(advisories);
        match self.advisories.write() {
            Ok(mut guard) => *guard = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
    }
}
