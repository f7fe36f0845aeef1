//! The patchwarden server: the agent API, the REST API, TLS, authentication and ingest.
//!
//! Architecture invariant: the only crate that speaks HTTP. Handlers never write SQL; they call the
//! store, and the domain for every rule.

pub mod advisories;
pub mod api;
pub mod auth;
pub mod changes;
pub mod changes_api;
pub mod clock;
pub mod compliance;
pub mod directory;
pub mod error;
pub mod ingest;
pub mod policy_api;
pub mod policy_file;
pub mod secrets;
pub mod state;
pub mod sync;
pub mod tls;

pub use axum::http::HeaderMap;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use patchwarden_store::Store;
use tokio::net::TcpListener;

use crate::state::{AppState, SETUP_TOKEN_KEY};

/// The OpenAPI document of `/api/v1`, served at `/api/v1/openapi.json`.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// How to run the server.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    /// `postgres://…`; the embedded SQLite database in `data_dir` when `None`.
    pub database: Option<String>,
    pub listen: SocketAddr,
    /// Extra names (DNS or IP) for the generated certificate besides the listen address, `localhost`
    /// and the machine's hostname.
    pub names: Vec<String>,
    /// Seconds between agent check-ins.
    pub check_in_interval: u64,
    /// Seconds between feed syncs from the registered URLs; 0 turns the schedule off.
    pub feed_sync_interval: u64,
    /// A certificate chain, its key and the CA agents pin, instead of the generated ones.
    pub tls: Option<TlsFiles>,
    /// The organisation's patch policy (the policy document's numbers by default).
    pub policy: patchwarden_domain::policy::Policy,
}

/// Certificate files an organisation provides.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{0}")]
    Store(#[from] patchwarden_store::StoreError),
    #[error("{0}")]
    Tls(#[from] tls::TlsError),
    #[error("{0}")]
    Advisories(#[from] advisories::AdvisoryError),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServerError {
    let context = context.into();
    move |source| ServerError::Io { context, source }
}

/// A server that is listening.
#[derive(Debug)]
pub struct Running {
    pub addr: SocketAddr,
    pub ca_fingerprint: String,
    pub ca_pem: String,
    /// The one-time setup token, when no administrator exists yet (also in `DATA_DIR/setup-token`).
    pub setup_token: Option<String>,
    pub store: Store,
    shutdown: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    background: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stops accepting, and waits for the accept loop and for the background step in progress
    /// (a recompute is finished, not cut in half).
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
        let _ = self.background.await;
        self.store.close().await;
    }
}

pub async fn open_store(config: &Config) -> Result<Store, ServerError> {
    std::fs::create_dir_all(&config.data_dir).map_err(io(format!("creating {}", config.data_dir.display())))?;
    Ok(match &config.database {
        Some(url) => Store::open(url).await?,
        None => Store::open_sqlite(&config.data_dir).await?,
    })
}

/// Makes the one-time setup token if no administrator exists and none is pending.
async fn ensure_setup_token(store: &Store, config: &Config) -> Result<Option<String>, ServerError> {
    if store.user_count().await? > 0 {
        let _ = std::fs::remove_file(config.data_dir.join("setup-token"));
        return Ok(None);
    }
    let token = secrets::token();
    let audit = patchwarden_store::Audit {
        actor: "system".into(),
        at: clock::now(),
    };
    store
        .set_setting(&audit, SETUP_TOKEN_KEY, &secrets::sha256_hex(&token))
        .await?;
    let path = config.data_dir.join("setup-token");
    let _ = std::fs::remove_file(&path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path).map_err(io(format!("writing {}", path.display())))?;
    std::io::Write::write_all(&mut file, format!("{token}\n").as_bytes())
        .map_err(io(format!("writing {}", path.display())))?;
    Ok(Some(token))
}

fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}

/// Opens the database, migrates it, loads TLS and the advisories, and starts listening.
pub async fn start(config: Config) -> Result<Running, ServerError> {
    let store = open_store(&config).await?;
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    names.push(config.listen.ip().to_string());
    names.extend(hostname());
    names.extend(config.names.iter().cloned());
    names.dedup();
    let material = match &config.tls {
        Some(files) => tls::load(&files.cert, &files.key, &files.ca)?,
        None => tls::load_or_create(&config.data_dir.join("tls"), &names)?,
    };
    let setup_token = ensure_setup_token(&store, &config).await?;
    let advisories = advisories::load(&store).await?;
    let state = AppState {
        store: store.clone(),
        advisories: Arc::new(RwLock::new(Arc::new(advisories))),
        check_in_interval: config.check_in_interval,
        ca_pem: material.ca_pem.clone().into(),
        policy: Arc::new(config.policy.clone()),
        patch_files: Arc::from(config.data_dir.join("patch-files").as_path()),
        secrets_key: Arc::new(
            directory::load_or_create_key(&config.data_dir)
                .map_err(|e| io("reading the secrets key")(std::io::Error::other(e.to_string())))?,
        ),
    };
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(io(format!("listening on {}", config.listen)))?;
    let addr = listener.local_addr().map_err(io("reading the listen address"))?;
    let (shutdown, mut stop) = tokio::sync::watch::channel(false);
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::clone(&material.config));
    let app = api::router(state.clone());
    let reload_state = state.clone();
    if config.feed_sync_interval > 0 {
        let store = store.clone();
        let every = std::time::Duration::from_secs(config.feed_sync_interval);
        let mut stopped = shutdown.subscribe();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = stopped.changed() => break,
                    // Failures are recorded per source (`last_error`); the schedule goes on.
                    _ = tick.tick() => {
                        let audit = patchwarden_store::Audit { actor: "feed-sync".into(), at: clock::now() };
                        match sync::sync_all(&store, &audit).await {
                            Ok(outcomes) => {
                                for (name, outcome) in outcomes {
                                    match outcome {
                                        sync::Outcome::Failed(message) => tracing::warn!(feed = %name, "feed sync failed: {message}"),
                                        other => tracing::info!(feed = %name, "feed sync: {other:?}"),
                                    }
                                }
                            }
                            Err(e) => tracing::error!("feed sync: {e}"),
                        }
                    }
                }
            }
        });
    }
    // Background work (advisory reloads, classification, exceptions, directory, scans) runs in its
    // own task: a slow directory or a fleet recompute never holds up accepting connections.
    let mut background_stop = shutdown.subscribe();
    let background = tokio::spawn(async move {
        let mut reload = tokio::time::interval(std::time::Duration::from_secs(5));
        let mut policy_tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = background_stop.changed() => break,
                _ = reload.tick() => reload_if_changed(&reload_state).await,
                _ = policy_tick.tick() => policy_upkeep(&reload_state).await,
            }
        }
    });
    let task = tokio::spawn(async move {
        // Connections live in this set so that stopping the server also ends kept-alive ones.
        let mut connections = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                accepted = listener.accept() => {
                    let Ok((tcp, _peer)) = accepted else { continue };
                    // Answers go out at once: Nagle's algorithm with delayed ACKs adds 40 ms stalls.
                    let _ = tcp.set_nodelay(true);
                    let acceptor = acceptor.clone();
                    let app = app.clone();
                    connections.spawn(async move {
                        // A client that fails the handshake is dropped; it gets no HTTP at all.
                        let Ok(tls) = acceptor.accept(tcp).await else { return };
                        let service = hyper_util::service::TowerToHyperService::new(app);
                        let builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
                        let _ = builder.serve_connection(hyper_util::rt::TokioIo::new(tls), service).await;
                    });
                }
            }
        }
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    });
    Ok(Running {
        addr,
        ca_fingerprint: material.ca_fingerprint,
        ca_pem: material.ca_pem,
        setup_token,
        store,
        shutdown,
        task,
        background,
    })
}

/// Another process (the CLI's `feeds import`, a second server) changed the feed sources: load them
/// and recompute every host's findings.
async fn reload_if_changed(state: &AppState) {
    let Ok(generation) = state.store.setting(advisories::GENERATION_KEY).await else {
        return;
    };
    let generation = generation.unwrap_or_default();
    if generation == state.advisories().generation {
        return;
    }
    let audit = patchwarden_store::Audit {
        actor: "system".into(),
        at: clock::now(),
    };
    let reloaded = match advisories::load(&state.store).await {
        Ok(fresh) => advisories::recompute_all(&state.store, &fresh, &audit)
            .await
            .map(|hosts| (fresh, hosts)),
        Err(e) => Err(e),
    };
    match reloaded {
        Ok((fresh, hosts)) => {
            tracing::info!(
                advisories = fresh.index.advisories().len(),
                hosts,
                "advisories changed: findings recomputed"
            );
            state.set_advisories(fresh);
            policy_upkeep(state).await;
        }
        Err(e) => tracing::error!("reloading advisories: {e}"),
    }
}

/// Syncs the directory when its refresh interval has passed.
async fn directory_upkeep(state: &AppState, now: i64) -> Result<(), directory::DirectoryError> {
    let Some(config) = state.store.setting(directory::SETTING).await? else {
        return Ok(());
    };
    let minutes = serde_json::from_str::<directory::DirectoryConfig>(&config).map_or(60, |c| c.refresh_minutes);
    let last = state
        .store
        .setting("directory_last_sync")
        .await?
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
        .and_then(|v| v["at"].as_i64())
        .unwrap_or(0);
    if now - last >= i64::try_from(minutes * 60).unwrap_or(i64::MAX)
        && let Some(report) = directory::sync(state, now).await?
    {
        tracing::info!(
            computers = report.computers,
            hosts = report.hosts_mapped,
            "directory synced"
        );
    }
    Ok(())
}

/// Suggests classifications for patches new to the fleet (§9) and lapses exceptions past their
/// target date (§7.7); runs every minute and after advisories change.
async fn policy_upkeep(state: &AppState) {
    let now = clock::now();
    let audit = patchwarden_store::Audit {
        actor: "system".into(),
        at: now,
    };
    match compliance::refresh_classifications(&state.store, &state.advisories(), &state.policy, &audit).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(suggestions = n, "patches classified (suggestions for Security)"),
        Err(e) => tracing::error!("classifying patches: {e}"),
    }
    if let Err(e) = directory_upkeep(state, now).await {
        tracing::warn!("directory sync: {e}");
    }
    match changes::schedule_scans(state, now).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(changes = n, "post-patch audit scans requested"),
        Err(e) => tracing::error!("scheduling post-patch audit scans: {}", e.message),
    }
    match compliance::sweep_exceptions(&state.store, now).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(expired = n, "exceptions reached their target date"),
        Err(e) => tracing::error!("expiring exceptions: {e}"),
    }
}

/// Imports advisory sources (files or directories) into the store, then recomputes every host's
/// findings and tells running servers to reload. Sources are checked before anything is stored.
pub async fn import_feeds(
    store: &Store,
    paths: &[PathBuf],
    audit: &patchwarden_store::Audit,
) -> Result<Vec<patchwarden_store::FeedSource>, ServerError> {
    let now = audit.at;
    let limits = patchwarden_feeds::Limits::default();
    let mut sources = Vec::new();
    for path in paths {
        let files = if path.is_dir() {
            json_files(path)?
        } else {
            vec![path.clone()]
        };
        for file in files {
            let content = patchwarden_feeds::input::read_file(&file, limits.file_bytes)
                .map_err(advisories::AdvisoryError::from_input)?;
            let name = file.display().to_string();
            let kind = advisories::kind_of(&name);
            let sha256 = secrets::sha256_hex(&content);
            let source = patchwarden_store::FeedSource::new(&name, kind, content, sha256, now, None);
            // Each source must parse on its own before anything is stored.
            let source = advisories::counted(source)?;
            sources.push(source);
        }
    }
    for source in &sources {
        store.put_feed_source(audit, source).await?;
    }
    let generation = secrets::id();
    store
        .set_setting(audit, advisories::GENERATION_KEY, &generation)
        .await?;
    let fresh = advisories::load(store).await?;
    advisories::recompute_all(store, &fresh, audit).await?;
    Ok(sources)
}

fn json_files(dir: &std::path::Path) -> Result<Vec<PathBuf>, ServerError> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).map_err(io(format!("reading {}", next.display())))? {
            let path = entry.map_err(io(format!("reading {}", next.display())))?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}
