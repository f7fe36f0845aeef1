//! Feed sync (§8.1, §8.4: monitor vendor advisories): every source with a URL is fetched on a
//! schedule with `If-None-Match` / `If-Modified-Since`, so an unchanged feed costs one small
//! request; a changed one is checked whole before it replaces the stored copy.

use patchwarden_store::{Audit, FeedSource, Store};

use crate::advisories::{self, AdvisoryError};
use crate::{ServerError, secrets};

/// What syncing one source did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The server said 304: nothing new.
    Unchanged,
    /// New content, checked and stored.
    Updated {
        records: i64,
        advisories: i64,
        rejected: i64,
    },
    /// Fetching or checking failed; the stored copy stays in force.
    Failed(String),
}

/// Registers a feed URL under a name; its content arrives with the next sync.
pub async fn add_url(store: &Store, audit: &Audit, name: &str, url: &str) -> Result<(), ServerError> {
    let now = audit.at;
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(ServerError::Io {
            context: format!("feed {name}"),
            source: std::io::Error::other(format!("{url:?} is not an http(s) URL")),
        });
    }
    let kind = advisories::kind_of(name);
    let source = FeedSource::new(name, kind, Vec::new(), String::new(), now, Some(url.to_owned()));
    store.put_feed_source(audit, &source).await?;
    Ok(())
}

/// The answer to one conditional GET.
enum Fetched {
    NotModified,
    Body {
        content: Vec<u8>,
        etag: Option<String>,
        last_modified: Option<String>,
    },
}

fn fetch(url: &str, etag: Option<&str>, last_modified: Option<&str>, limit: u64) -> Result<Fetched, String> {
    let agent = ureq::AgentBuilder::new()
        .timeout(std::time::Duration::from_secs(300))
        .build();
    let mut request = agent.get(url);
    if let Some(etag) = etag {
        request = request.set("If-None-Match", etag);
    }
    if let Some(since) = last_modified {
        request = request.set("If-Modified-Since", since);
    }
    let response = match request.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(code, _)) => return Err(format!("{url}: HTTP {code}")),
        Err(e) => return Err(format!("{url}: {e}")),
    };
    if response.status() == 304 {
        return Ok(Fetched::NotModified);
    }
    let etag = response.header("ETag").map(str::to_owned);
    let last_modified = response.header("Last-Modified").map(str::to_owned);
    let content = patchwarden_feeds::input::read_to_limit(
        response.into_reader(),
        limit,
        patchwarden_feeds::input::Problem::TooLarge { size: limit + 1, limit },
    )
    .map_err(|e| format!("{url}: {e}"))?;
    Ok(Fetched::Body {
        content,
        etag,
        last_modified,
    })
}

/// Syncs every source that has a URL; then, if anything changed, rebuilds the advisories and
/// recomputes every host's findings (running servers reload on the generation change).
pub async fn sync_all(store: &Store, audit: &Audit) -> Result<Vec<(String, Outcome)>, ServerError> {
    let now = audit.at;
    let limit = patchwarden_feeds::Limits::default().file_bytes;
    let mut outcomes = Vec::new();
    let mut changed = false;
    for source in store.feed_sources().await? {
        let Some(url) = source.url.clone() else {
            continue;
        };
        let (etag, since) = if source.content.is_empty() {
            (None, None)
        } else {
            (source.etag.clone(), source.last_modified.clone())
        };
        let fetched = tokio::task::spawn_blocking(move || fetch(&url, etag.as_deref(), since.as_deref(), limit))
            .await
            .map_err(|e| ServerError::Io {
                context: "feed sync".into(),
                source: std::io::Error::other(e),
            })?;
        let outcome = match fetched {
            Ok(Fetched::NotModified) => Outcome::Unchanged,
            Ok(Fetched::Body {
                content,
                etag,
                last_modified,
            }) => {
                let fresh = FeedSource {
                    sha256: secrets::sha256_hex(&content),
                    content,
                    imported_at: now,
                    etag,
                    last_modified,
                    last_error: None,
                    ..source.clone()
                };
                match advisories::counted(fresh) {
                    // A feed whose every record is bad is broken, not empty: keep the last good copy.
                    Ok(fresh) if fresh.records > 0 && fresh.rejected == fresh.records => {
                        Outcome::Failed("every record was rejected, the stored copy stays".to_owned())
                    }
                    Ok(fresh) => {
                        store.put_feed_source(audit, &fresh).await?;
                        changed = true;
                        Outcome::Updated {
                            records: fresh.records,
                            advisories: fresh.advisories,
                            rejected: fresh.rejected,
                        }
                    }
                    Err(e) => Outcome::Failed(e.to_string()),
                }
            }
            Err(message) => Outcome::Failed(message),
        };
        if let Outcome::Failed(message) = &outcome {
            store.feed_error(audit, &source.name, message).await?;
        }
        outcomes.push((source.name, outcome));
    }
    if changed {
        store
            .set_setting(audit, advisories::GENERATION_KEY, &secrets::id())
            .await?;
        let fresh = advisories::load(store).await.map_err(ServerError::from)?;
        advisories::recompute_all(store, &fresh, audit)
            .await
            .map_err(ServerError::from)?;
    }
    Ok(outcomes)
}

impl From<AdvisoryError> for Outcome {
    fn from(e: AdvisoryError) -> Outcome {
        Outcome::Failed(e.to_string())
    }
}
