//! patchwarden's structured database (§7.6, §8.5): SQLite in the data directory by default,
//! PostgreSQL for scale, one interface and one conformance suite for both.
//!
//! Architecture invariant: this is the only crate that speaks SQL. Each method is one transaction;
//! a report, its inventory, its history and its findings are stored together or not at all.

mod changes;
mod policy;
pub use changes::{Application, ChangeRow, JobFilter, JobRow, ManualDeployment, PatchFile, ProblemReport, TestRecord};
pub use policy::{CertifiedReport, ClassificationRow, Notification, SpanRow};
mod rows;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::json;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Row};

pub use rows::*;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migrating the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://…")]
    Url(String),
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    #[error("{0} already exists")]
    Conflict(String),
    #[error(
        "refusing to purge audit events up to {before}: events younger than {cutoff} are within the retention period (§13.2)"
    )]
    Retention { before: i64, cutoff: i64 },
}

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    /// Where write transactions run. On SQLite one connection: SQLite has one writer at a time
    /// anyway, the pool queues writers fairly (its busy handler polls and can starve one under
    /// steady contention), and a connection that is the only writer keeps its page cache warm (a
    /// connection drops its cache whenever another one wrote). On PostgreSQL the same pool.
    writes: AnyPool,
    backend: Backend,
    /// Package record key → id. Records never change once stored, so ids can be remembered; only
    /// ids of committed rows enter.
    software_ids: Arc<std::sync::Mutex<HashMap<String, i64>>>,
    /// (platform class, package name) pairs known to be in `class_packages`.
    class_packages: Arc<std::sync::Mutex<HashMap<String, std::collections::HashSet<String>>>>,
    /// The audit chain's head (sequence, hash) as this process last wrote it; checked against the
    /// stored head by each append that uses it.
    audit_head: Arc<std::sync::Mutex<Option<(i64, String)>>>,
}

/// Page cache of the SQLite writer connection, and of each reader: the writer walks the big
/// per-host tables' indexes on every report.
const WRITER_CACHE_KIB: u32 = 64 << 10;
const READER_CACHE_KIB: u32 = 16 << 10;

/// A pool of SQLite connections set up for the server: WAL, a busy timeout for other processes
/// (the admin CLI), foreign keys, and fsync at checkpoints only (a crash may lose the last
/// commits, never corrupt the database).
async fn sqlite_pool(url: &str, connections: u32, cache_kib: u32) -> Result<AnyPool, StoreError> {
    Ok(AnyPoolOptions::new()
        .max_connections(connections)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                for pragma in [
                    "PRAGMA journal_mode = WAL".to_owned(),
                    "PRAGMA busy_timeout = 10000".to_owned(),
                    "PRAGMA foreign_keys = ON".to_owned(),
                    "PRAGMA synchronous = NORMAL".to_owned(),
                    format!("PRAGMA cache_size = -{cache_kib}"),
                ] {
                    sqlx::query(&pragma).execute(&mut *conn).await?;
                }
                Ok(())
            })
        })
        .connect(url)
        .await?)
}

/// Beyond this many remembered ids the cache starts again (a fleet has far fewer distinct records).
const SOFTWARE_ID_CACHE: usize = 1 << 20;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Store {
    /// Opens (creating if needed) and migrates the database at `url`.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::Url(url.to_owned()));
        };
        let (pool, writes) = match backend {
            // WAL lets readers go on while the one writer writes.
            Backend::Sqlite => {
                let url = if url.contains('?') {
                    url.to_owned()
                } else {
                    format!("{url}?mode=rwc")
                };
                let writes = sqlite_pool(&url, 1, WRITER_CACHE_KIB).await?;
                SQLITE_MIGRATIONS.run(&writes).await?;
                (sqlite_pool(&url, 4, READER_CACHE_KIB).await?, writes)
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new().max_connections(16).connect(url).await?;
                POSTGRES_MIGRATIONS.run(&pool).await?;
                (pool.clone(), pool)
            }
        };
        Ok(Store {
            pool,
            writes,
            backend,
            software_ids: Arc::default(),
            class_packages: Arc::default(),
            audit_head: Arc::default(),
        })
    }

    /// The embedded default: `patchwarden.db` in the data directory.
    pub async fn open_sqlite(data_dir: &Path) -> Result<Store, StoreError> {
        Store::open(&format!("sqlite://{}", data_dir.join("patchwarden.db").display())).await
    }

    /// A write transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`), so that
    /// a read lock never has to be upgraded (which can fail instead of waiting).
    pub(crate) async fn write(&self) -> Result<Tx<'static>, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => self.writes.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.writes.begin().await?,
        })
    }

    fn remembered_head(&self) -> Option<(i64, String)> {
        match self.audit_head.lock() {
            Ok(head) => head.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn remember_head(&self, sequence: i64, hash: String) {
        let mut head = match self.audit_head.lock() {
            Ok(head) => head,
            Err(poisoned) => poisoned.into_inner(),
        };
        *head = Some((sequence, hash));
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub async fn close(&self) {
        self.pool.close().await;
        self.writes.close().await;
    }

    // ---- settings ----

    pub async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.get::<String, _>(0)))
    }

    /// Sets a setting. Its value is recorded in the audit trail only as "changed": settings hold
    /// hashes of secrets.
    pub async fn set_setting(&self, audit: &Audit, key: &str, value: &str) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&mut *tx)
        .await?;
        let subject = format!("setting:{key}");
        append_event(
            self,
            &mut tx,
            audit,
            "setting.set",
            &subject,
            &json!(null),
            &json!("changed"),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- users and tokens ----

    pub async fn user_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?
            .get::<i64, _>(0))
    }

    /// Creates the first administrator, atomically with consuming the one-time setup token: of two
    /// people racing with one token, one wins.
    pub async fn create_first_admin(&self, audit: &Audit, user: &NewUser, setup_key: &str) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let users: i64 = sqlx::query("SELECT COUNT(*) FROM users")
            .fetch_one(&mut *tx)
            .await?
            .get(0);
        let consumed = sqlx::query("DELETE FROM settings WHERE key = $1")
            .bind(setup_key)
            .execute(&mut *tx)
            .await?;
        if users > 0 || consumed.rows_affected() != 1 {
            return Ok(false);
        }
        insert_user(self, &mut tx, audit, user).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn create_user(&self, audit: &Audit, user: &NewUser) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let exists = sqlx::query("SELECT 1 FROM users WHERE username = $1")
            .bind(&user.username)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_some() {
            return Err(StoreError::Conflict(format!("user {}", user.username)));
        }
        insert_user(self, &mut tx, audit, user).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query("SELECT id, username, password_hash, role FROM users WHERE username = $1")
            .bind(username)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| User {
            id: r.get(0),
            username: r.get(1),
            password_hash: r.get(2),
            role: r.get(3),
        }))
    }

    pub async fn create_api_token(&self, audit: &Audit, token: &NewApiToken) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO api_tokens (id, user_id, name, role, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&token.id)
        .bind(&token.user_id)
        .bind(&token.name)
        .bind(&token.role)
        .bind(&token.token_hash)
        .bind(token.created_at)
        .bind(token.expires_at)
        .execute(&mut *tx)
        .await?;
        let after =
            json!({"name": token.name, "role": token.role, "user": token.user_id, "expires_at": token.expires_at});
        append_event(
            self,
            &mut tx,
            audit,
            "token.create",
            &format!("token:{}", token.id),
            &json!(null),
            &after,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The live token with this hash and its user.
    pub async fn api_token(&self, token_hash: &str, now: i64) -> Result<Option<TokenOwner>, StoreError> {
        let row = sqlx::query(
            "SELECT t.id, t.role, u.id, u.username FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND t.revoked = 0 AND (t.expires_at IS NULL OR t.expires_at > $2)",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| TokenOwner {
            token_id: r.get(0),
            role: r.get(1),
            user_id: r.get(2),
            username: r.get(3),
        }))
    }

    // ---- enrollment ----

    pub async fn create_enrollment_token(&self, audit: &Audit, token: &NewEnrollmentToken) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO enrollment_tokens (id, token_hash, created_by, created_at, expires_at, uses_left, department, platform_class, environment) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&token.id)
        .bind(&token.token_hash)
        .bind(&token.created_by)
        .bind(token.created_at)
        .bind(token.expires_at)
        .bind(token.uses)
        .bind(&token.labels.department)
        .bind(&token.labels.platform_class)
        .bind(&token.labels.environment)
        .execute(&mut *tx)
        .await?;
        let after = json!({"expires_at": token.expires_at, "uses": token.uses, "department": token.labels.department,
                           "platform_class": token.labels.platform_class, "environment": token.labels.environment});
        let subject = format!("enrollment-token:{}", token.id);
        append_event(
            self,
            &mut tx,
            audit,
            "enrollment_token.create",
            &subject,
            &json!(null),
            &after,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Uses one use of a live enrollment token and creates the host, in one transaction.
    /// `None` when the token is unknown, expired or used up.
    pub async fn enroll_host(
        &self,
        audit: &Audit,
        token_hash: &str,
        host: &NewHost,
    ) -> Result<Option<Labels>, StoreError> {
        let now = audit.at;
        let mut tx = self.write().await?;
        let used = sqlx::query(
            "UPDATE enrollment_tokens SET uses_left = uses_left - 1 WHERE token_hash = $1 AND uses_left > 0 AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if used.rows_affected() != 1 {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT id, department, platform_class, environment FROM enrollment_tokens WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_one(&mut *tx)
        .await?;
        let token_id: String = row.get(0);
        let labels = Labels {
            department: row.get(1),
            platform_class: row.get(2),
            environment: row.get(3),
        };
        sqlx::query(
            "INSERT INTO hosts (id, hostname, machine_id, credential_hash, enrolled_at, enrollment_token, department, platform_class, environment) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&host.id)
        .bind(&host.hostname)
        .bind(&host.machine_id)
        .bind(&host.credential_hash)
        .bind(now)
        .bind(&token_id)
        .bind(&labels.department)
        .bind(&labels.platform_class)
        .bind(&labels.environment)
        .execute(&mut *tx)
        .await?;
        let after = json!({"hostname": host.hostname, "machine_id": host.machine_id, "enrollment_token": token_id,
                           "department": labels.department, "platform_class": labels.platform_class,
                           "environment": labels.environment});
        append_event(
            self,
            &mut tx,
            audit,
            "host.enroll",
            &format!("host:{}", host.id),
            &json!(null),
            &after,
        )
        .await?;
        tx.commit().await?;
        Ok(Some(labels))
    }

    /// The host a credential belongs to, if it is not revoked, with what a report needs of it.
    pub async fn agent_session(&self, credential_hash: &str) -> Result<Option<AgentSession>, StoreError> {
        let row = sqlx::query(
            "SELECT id, last_sequence, inventory_hash, facts, platform_class, scan_requested_at FROM hosts \
             WHERE credential_hash = $1 AND revoked = 0",
        )
        .bind(credential_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| AgentSession {
            host_id: r.get(0),
            last_sequence: r.get(1),
            inventory_hash: r.get(2),
            facts: r.get(3),
            platform_class: r.get(4),
            scan_requested: r.get::<Option<i64>, _>(5).is_some(),
        }))
    }

    /// Revokes a host's credential; `false` if there is no such host.
    pub async fn revoke_host(&self, audit: &Audit, host_id: &str) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let done = sqlx::query("UPDATE hosts SET revoked = 1 WHERE id = $1 AND revoked = 0")
            .bind(host_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() != 1 {
            let exists = sqlx::query("SELECT 1 FROM hosts WHERE id = $1")
                .bind(host_id)
                .fetch_optional(&mut *tx)
                .await?;
            return Ok(exists.is_some());
        }
        let subject = format!("host:{host_id}");
        append_event(
            self,
            &mut tx,
            audit,
            "host.revoke",
            &subject,
            &json!({"revoked": false}),
            &json!({"revoked": true}),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    // ---- reports ----

    /// Stores one report with everything it brings, exactly once: a sequence at or below the
    /// host's last stored one is acknowledged and not stored again.
    pub async fn store_report(
        &self,
        audit: &Audit,
        report: &ReportRecord,
        previous_facts: &str,
    ) -> Result<Stored, StoreError> {
        // Work that needs no lock is done before taking it: writers queue for as short as possible.
        let known = report
            .inventory
            .as_ref()
            .map(|inventory| self.known_software_ids(inventory));
        let class_names = report
            .inventory
            .as_ref()
            .map(|inventory| self.unknown_class_packages(&report.platform_class, inventory))
            .unwrap_or_default();
        let mut tx = self.write().await?;
        // The sequence check and the update are one statement: of two deliveries of one report,
        // exactly one updates the host.
        let updated = sqlx::query(
            "UPDATE hosts SET hostname = $2, facts = $3, os = $4, last_seen = $5, last_sequence = $6, \
             dropped_reports = dropped_reports + $7 WHERE id = $1 AND last_sequence < $6",
        )
        .bind(&report.host_id)
        .bind(&report.hostname)
        .bind(&report.facts_json)
        .bind(&report.os)
        .bind(report.received_at)
        .bind(report.sequence)
        .bind(report.dropped)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            drop(tx);
            let last: i64 = sqlx::query("SELECT last_sequence FROM hosts WHERE id = $1")
                .bind(&report.host_id)
                .fetch_one(&self.pool)
                .await?
                .get(0);
            return Ok(Stored {
                stored_through: last,
                stored: false,
            });
        }
        sqlx::query("INSERT INTO reports (host_id, sequence, created_at, received_at, had_inventory) VALUES ($1, $2, $3, $4, $5)")
            .bind(&report.host_id)
            .bind(report.sequence)
            .bind(&report.created_at)
            .bind(report.received_at)
            .bind(i64::from(report.inventory.is_some()))
            .execute(&mut *tx)
            .await?;
        // Addresses come from the facts: rewritten only when the facts changed.
        let addresses_changed = previous_facts != report.facts_json.as_str();
        if addresses_changed {
            sqlx::query("DELETE FROM host_addresses WHERE host_id = $1")
                .bind(&report.host_id)
                .execute(&mut *tx)
                .await?;
            for address in &report.addresses {
                sqlx::query("INSERT INTO host_addresses (host_id, interface, ip, mac) VALUES ($1, $2, $3, $4)")
                    .bind(&report.host_id)
                    .bind(&address.interface)
                    .bind(&address.ip)
                    .bind(&address.mac)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let mut learned = Vec::new();
        if let (Some(inventory), Some(known)) = (&report.inventory, &known) {
            learned = replace_software(
                self.backend,
                &mut tx,
                &report.host_id,
                inventory,
                known,
                report.received_at,
                report.sequence,
            )
            .await?;
        }
        if !class_names.is_empty() {
            Store::record_class_packages(&mut tx, self.backend, &class_names).await?;
        }
        if let Some(findings) = &report.findings {
            replace_findings(self.backend, &mut tx, &report.host_id, findings, report.received_at).await?;
        }
        // A report that changes the host's software or facts is a state change and is audited; an
        // unchanged check-in is recorded once in `reports` (a heartbeat, not a change).
        if report.inventory.is_some() || addresses_changed {
            let after = json!({"sequence": report.sequence, "inventory": report.inventory.as_ref().map(|i| &i.hash),
                               "findings": report.findings.as_ref().map(Vec::len), "dropped": report.dropped});
            let subject = format!("host:{}", report.host_id);
            append_event(self, &mut tx, audit, "report.store", &subject, &json!(null), &after).await?;
        }
        tx.commit().await?;
        self.remember_software_ids(learned);
        self.remember_class_packages(class_names);
        Ok(Stored {
            stored_through: report.sequence,
            stored: true,
        })
    }

    /// The ids already known for an inventory's records, by position (`None`: not yet known).
    fn known_software_ids(&self, inventory: &InventoryRecord) -> Vec<Option<i64>> {
        let cache = match self.software_ids.lock() {
            Ok(cache) => cache,
            Err(poisoned) => poisoned.into_inner(),
        };
        inventory
            .packages
            .iter()
            .map(|p| cache.get(&p.key(&inventory.ecosystem)).copied())
            .collect()
    }

    fn remember_software_ids(&self, learned: Vec<(String, i64)>) {
        let mut cache = match self.software_ids.lock() {
            Ok(cache) => cache,
            Err(poisoned) => poisoned.into_inner(),
        };
        if cache.len() + learned.len() > SOFTWARE_ID_CACHE {
            cache.clear();
        }
        cache.extend(learned);
    }

    /// Replaces a host's findings (after the advisories changed).
    pub async fn set_findings(&self, audit: &Audit, host_id: &str, findings: &[FindingRow]) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        replace_findings(self.backend, &mut tx, host_id, findings, audit.at).await?;
        let after = json!({"findings": findings.len()});
        append_event(
            self,
            &mut tx,
            audit,
            "findings.recompute",
            &format!("host:{host_id}"),
            &json!(null),
            &after,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- reading ----

    pub async fn hosts(&self) -> Result<Vec<HostRow>, StoreError> {
        self.host_rows(None).await
    }

    /// One host, without reading the others.
    pub async fn host(&self, host_id: &str) -> Result<Option<HostRow>, StoreError> {
        Ok(self.host_rows(Some(host_id)).await?.pop())
    }

    async fn host_rows(&self, only: Option<&str>) -> Result<Vec<HostRow>, StoreError> {
        let filter = if only.is_some() { "WHERE h.id = $1" } else { "" };
        let sql = format!(
            "SELECT h.id, h.hostname, h.os, h.department, h.platform_class, h.environment, h.last_seen, h.revoked, \
             h.last_sequence, h.dropped_reports, h.inventory_at, h.scan_requested_at, \
             h.finding_count, h.package_count \
             FROM hosts h {filter} ORDER BY h.hostname, h.id"
        );
        let address_filter = if only.is_some() { "WHERE host_id = $1" } else { "" };
        let address_sql = format!(
            "SELECT host_id, interface, ip, mac FROM host_addresses {address_filter} ORDER BY host_id, interface, ip"
        );
        let (mut query, mut address_query) = (sqlx::query(&sql), sqlx::query(&address_sql));
        if let Some(id) = only {
            query = query.bind(id);
            address_query = address_query.bind(id);
        }
        let group_sql =
            format!("SELECT host_id, group_name FROM host_groups {address_filter} ORDER BY host_id, group_name");
        let mut group_query = sqlx::query(&group_sql);
        if let Some(id) = only {
            group_query = group_query.bind(id);
        }
        let rows = query.fetch_all(&self.pool).await?;
        let addresses = address_query.fetch_all(&self.pool).await?;
        let groups = group_query.fetch_all(&self.pool).await?;
        let mut hosts: Vec<HostRow> = rows
            .into_iter()
            .map(|r| HostRow {
                id: r.get(0),
                hostname: r.get(1),
                os: r.get(2),
                labels: Labels {
                    department: r.get(3),
                    platform_class: r.get(4),
                    environment: r.get(5),
                },
                last_seen: r.get(6),
                revoked: r.get::<i64, _>(7) != 0,
                last_sequence: r.get(8),
                dropped_reports: r.get(9),
                inventory_at: r.get(10),
                scan_requested_at: r.get(11),
                findings: r.get(12),
                packages: r.get(13),
                addresses: Vec::new(),
                groups: Vec::new(),
            })
            .collect();
        // Index by id: a fleet has tens of thousands of hosts and several addresses each.
        let position: HashMap<String, usize> = hosts.iter().enumerate().map(|(i, h)| (h.id.clone(), i)).collect();
        for row in addresses {
            let host_id: String = row.get(0);
            if let Some(&i) = position.get(&host_id) {
                hosts[i].addresses.push(AddressRow {
                    interface: row.get(1),
                    ip: row.get(2),
                    mac: row.get(3),
                });
            }
        }
        for row in groups {
            let host_id: String = row.get(0);
            if let Some(&i) = position.get(&host_id) {
                hosts[i].groups.push(row.get(1));
            }
        }
        Ok(hosts)
    }

    /// Every host's stored facts (JSON) by id, in one read.
    pub async fn all_host_facts(&self) -> Result<HashMap<String, String>, StoreError> {
        let rows = sqlx::query("SELECT id, facts FROM hosts").fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    pub async fn host_facts(&self, host_id: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT facts FROM hosts WHERE id = $1")
            .bind(host_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// The host's current packages.
    pub async fn host_software(&self, host_id: &str) -> Result<Vec<SoftwareRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT s.name, s.version, s.arch, s.source, s.source_version, s.module FROM host_software h \
             JOIN software s ON s.id = h.software_id WHERE h.host_id = $1 ORDER BY s.name, s.version",
        )
        .bind(host_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|r| software_row(&r)).collect())
    }

    /// What changed on a host and when: (package, version, `added`/`removed`, time), oldest first.
    pub async fn software_history(&self, host_id: &str) -> Result<Vec<(String, String, String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT s.name, s.version, h.change, h.at FROM software_history h JOIN software s ON s.id = h.software_id \
             WHERE h.host_id = $1 ORDER BY h.at, h.sequence, h.change DESC, s.name, s.version",
        )
        .bind(host_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect())
    }

    pub async fn host_findings(&self, host_id: &str) -> Result<Vec<FindingRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT package, source, installed, fixed, advisory, cves, severity, kev, epss FROM findings WHERE host_id = $1",
        )
        .bind(host_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| FindingRow {
                package: r.get(0),
                source: r.get(1),
                installed: r.get(2),
                fixed: r.get(3),
                advisory: r.get(4),
                cves: r.get(5),
                severity: r.get(6),
                kev: r.get::<i64, _>(7) != 0,
                epss: r.get(8),
            })
            .collect())
    }

    /// Every missing patch with the number of hosts missing it.
    pub async fn patches(&self) -> Result<Vec<PatchRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT advisory, package, MAX(fixed), MAX(severity), MAX(kev), MAX(epss), MAX(cves), COUNT(DISTINCT host_id) \
             FROM findings GROUP BY advisory, package ORDER BY MAX(kev) DESC, COUNT(DISTINCT host_id) DESC, advisory, package",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| PatchRow {
                advisory: r.get(0),
                package: r.get(1),
                fixed: r.get(2),
                severity: r.get(3),
                kev: r.get::<i64, _>(4) != 0,
                epss: r.get(5),
                cves: r.get(6),
                hosts: r.get(7),
            })
            .collect())
    }

    /// The number of stored reports of a host (each sequence once).
    pub async fn report_count(&self, host_id: &str) -> Result<i64, StoreError> {
        Ok(sqlx::query("SELECT COUNT(*) FROM reports WHERE host_id = $1")
            .bind(host_id)
            .fetch_one(&self.pool)
            .await?
            .get(0))
    }

    /// Hosts ids with their OS and inventory format, for recomputing findings.
    pub async fn host_ids(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT id FROM hosts ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|r| r.get(0)).collect())
    }

    /// The database's own limit, for benchmarks: inserts `inventories` × `rows_per_inventory`
    /// (host, package key) rows into a scratch table, one transaction per inventory, in the same
    /// batched statements an ingest uses, and drops the table. Returns the rows inserted.
    pub async fn raw_insert_baseline(
        &self,
        inventories: usize,
        rows_per_inventory: usize,
    ) -> Result<usize, StoreError> {
        sqlx::query("CREATE TABLE IF NOT EXISTS bench_raw_rows (host_id TEXT NOT NULL, key TEXT NOT NULL)")
            .execute(&self.pool)
            .await?;
        let rows: Vec<String> = (0..rows_per_inventory)
            .map(|i| format!("Debian:12\u{1f}package-{i}\u{1f}1.0-{i}\u{1f}amd64"))
            .collect();
        for inventory in 0..inventories {
            let host = format!("bench-host-{inventory}");
            let mut tx = self.write().await?;
            for chunk in rows.chunks(BATCH) {
                let sql = format!(
                    "INSERT INTO bench_raw_rows (host_id, key) VALUES {}",
                    placeholders(self.backend, chunk.len(), 2, 1)
                );
                let mut query = sqlx::query(&sql);
                for key in chunk {
                    query = query.bind(&host).bind(key);
                }
                query.execute(&mut *tx).await?;
            }
            tx.commit().await?;
        }
        sqlx::query("DROP TABLE bench_raw_rows").execute(&self.pool).await?;
        Ok(inventories * rows_per_inventory)
    }

    /// The database's own limit for single-row write transactions, for comparing audit appends
    /// with: `events` rows of the audit events' columns into a table made like `audit_events`
    /// (same key, same index), each inserted in its own transaction through the same writer,
    /// from `writers` tasks at once.
    pub async fn raw_single_inserts(&self, events: usize, writers: usize) -> Result<usize, StoreError> {
        let key = match self.backend {
            Backend::Sqlite => "INTEGER PRIMARY KEY",
            Backend::Postgres => "BIGINT PRIMARY KEY",
        };
        sqlx::query(&format!(
            "CREATE TABLE bench_raw_events (sequence {key}, at BIGINT NOT NULL, actor TEXT NOT NULL, \
             action TEXT NOT NULL, subject TEXT NOT NULL, before_state TEXT NOT NULL, after_state TEXT NOT NULL, \
             previous_hash TEXT NOT NULL, hash TEXT NOT NULL)"
        ))
        .execute(&self.pool)
        .await?;
        sqlx::query("CREATE INDEX bench_raw_events_at ON bench_raw_events(at)")
            .execute(&self.pool)
            .await?;
        let next = Arc::new(std::sync::atomic::AtomicI64::new(1));
        let per_writer = events / writers.max(1);
        let mut tasks = tokio::task::JoinSet::new();
        for w in 0..writers.max(1) {
            let store = self.clone();
            let next = Arc::clone(&next);
            tasks.spawn(async move {
                for i in 0..per_writer {
                    let sequence = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let mut tx = store.write().await?;
                    sqlx::query(
                        "INSERT INTO bench_raw_events (sequence, at, actor, action, subject, before_state, \
                         after_state, previous_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(sequence)
                    .bind(1_790_000_000_i64)
                    .bind(format!("user:writer{w}"))
                    .bind("bench.event")
                    .bind(format!("bench:{w}/{i}"))
                    .bind("null")
                    .bind(format!("{{\"i\":{i}}}"))
                    .bind(patchwarden_domain::audit::GENESIS)
                    .bind(patchwarden_domain::audit::GENESIS)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                }
                Ok::<(), StoreError>(())
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.map_err(|e| StoreError::Corrupt(format!("benchmark task: {e}")))??;
        }
        sqlx::query("DROP TABLE bench_raw_events").execute(&self.pool).await?;
        Ok(per_writer * writers.max(1))
    }

    // ---- audit ----

    /// Records an event that is not tied to one row's change (a feed import's result).
    pub async fn record_event(
        &self,
        audit: &Audit,
        action: &str,
        subject: &str,
        after: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        append_event(self, &mut tx, audit, action, subject, &json!(null), after).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records several events in one transaction (a bulk operation's results): one commit for
    /// all of them, the chain unbroken.
    pub async fn record_events(
        &self,
        audit: &Audit,
        events: &[(String, String, serde_json::Value)],
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let null = json!(null);
        let events: Vec<(&str, &str, &serde_json::Value, &serde_json::Value)> = events
            .iter()
            .map(|(action, subject, after)| (action.as_str(), subject.as_str(), &null, after))
            .collect();
        append_events(self, &mut tx, audit, &events).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every stored event in sequence order, and the anchor the chain starts from.
    pub async fn audit_trail(&self) -> Result<((i64, String), Vec<patchwarden_domain::audit::Stored>), StoreError> {
        let head = sqlx::query("SELECT anchor_sequence, anchor_hash FROM audit_head WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        let rows = sqlx::query(
            "SELECT sequence, at, actor, action, subject, before_state, after_state, previous_hash, hash FROM audit_events \
             ORDER BY sequence",
        )
        .fetch_all(&self.pool)
        .await?;
        let events = rows
            .into_iter()
            .map(|r| patchwarden_domain::audit::Stored {
                event: patchwarden_domain::audit::Event {
                    sequence: r.get(0),
                    at: r.get(1),
                    actor: r.get(2),
                    action: r.get(3),
                    subject: r.get(4),
                    before: r.get(5),
                    after: r.get(6),
                },
                previous_hash: r.get(7),
                hash: r.get(8),
            })
            .collect();
        Ok(((head.get(0), head.get(1)), events))
    }

    /// Removes events older than `before` (Unix seconds), never any younger than `retention_cutoff`
    /// (§13.2: kept at least a year). The last removed event becomes the chain's anchor, and the purge
    /// is itself an event. Returns how many were removed.
    pub async fn purge_audit(&self, audit: &Audit, before: i64, retention_cutoff: i64) -> Result<i64, StoreError> {
        if before > retention_cutoff {
            return Err(StoreError::Retention {
                before,
                cutoff: retention_cutoff,
            });
        }
        let mut tx = self.write().await?;
        let last = sqlx::query("SELECT sequence, hash FROM audit_events WHERE at < $1 ORDER BY sequence DESC LIMIT 1")
            .bind(before)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(last) = last else { return Ok(0) };
        let (sequence, hash): (i64, String) = (last.get(0), last.get(1));
        let removed = sqlx::query("DELETE FROM audit_events WHERE sequence <= $1")
            .bind(sequence)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE audit_head SET anchor_sequence = $1, anchor_hash = $2 WHERE id = 1")
            .bind(sequence)
            .bind(&hash)
            .execute(&mut *tx)
            .await?;
        let removed = i64::try_from(removed.rows_affected()).unwrap_or(i64::MAX);
        let after = json!({"removed": removed, "through_sequence": sequence, "before": before});
        append_event(self, &mut tx, audit, "audit.purge", "audit", &json!(null), &after).await?;
        tx.commit().await?;
        Ok(removed)
    }

    // ---- feeds ----

    /// Stores (or replaces) one advisory source with its import figures.
    pub async fn put_feed_source(&self, audit: &Audit, source: &FeedSource) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO feed_sources (name, kind, content, sha256, imported_at, url, etag, last_modified, records, advisories, rejected, last_error) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL) \
             ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, content = excluded.content, sha256 = excluded.sha256, \
             imported_at = excluded.imported_at, url = excluded.url, etag = excluded.etag, last_modified = excluded.last_modified, \
             records = excluded.records, advisories = excluded.advisories, rejected = excluded.rejected, last_error = NULL",
        )
        .bind(&source.name)
        .bind(&source.kind)
        .bind(&source.content)
        .bind(&source.sha256)
        .bind(source.imported_at)
        .bind(&source.url)
        .bind(&source.etag)
        .bind(&source.last_modified)
        .bind(source.records)
        .bind(source.advisories)
        .bind(source.rejected)
        .execute(&mut *tx)
        .await?;
        let after = json!({"kind": source.kind, "sha256": source.sha256, "url": source.url, "etag": source.etag,
                           "records": source.records, "advisories": source.advisories, "rejected": source.rejected});
        append_event(
            self,
            &mut tx,
            audit,
            "feed.store",
            &format!("feed:{}", source.name),
            &json!(null),
            &after,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn feed_error(&self, audit: &Audit, name: &str, error: &str) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        sqlx::query("UPDATE feed_sources SET last_error = $2 WHERE name = $1")
            .bind(name)
            .bind(error)
            .execute(&mut *tx)
            .await?;
        append_event(
            self,
            &mut tx,
            audit,
            "feed.error",
            &format!("feed:{name}"),
            &json!(null),
            &json!({"error": error}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn feed_sources(&self) -> Result<Vec<FeedSource>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, kind, content, sha256, imported_at, url, etag, last_modified, records, advisories, rejected, last_error \
             FROM feed_sources ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| FeedSource {
                name: r.get(0),
                kind: r.get(1),
                content: r.get(2),
                sha256: r.get(3),
                imported_at: r.get(4),
                url: r.get(5),
                etag: r.get(6),
                last_modified: r.get(7),
                records: r.get(8),
                advisories: r.get(9),
                rejected: r.get(10),
                last_error: r.get(11),
            })
            .collect())
    }
}

pub(crate) type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

/// Inserts a user and records it in the audit trail (never the password hash).
async fn insert_user(store: &Store, tx: &mut Tx<'_>, audit: &Audit, user: &NewUser) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO users (id, username, password_hash, role, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&user.id)
        .bind(&user.username)
        .bind(&user.password_hash)
        .bind(&user.role)
        .bind(user.created_at)
        .execute(&mut **tx)
        .await?;
    let after = json!({"username": user.username, "role": user.role});
    append_event(
        store,
        tx,
        audit,
        "user.create",
        &format!("user:{}", user.username),
        &json!(null),
        &after,
    )
    .await?;
    Ok(())
}

fn software_row(r: &sqlx::any::AnyRow) -> SoftwareRow {
    SoftwareRow {
        name: r.get(0),
        version: r.get(1),
        arch: r.get(2),
        source: r.get(3),
        source_version: r.get(4),
        module: r.get(5),
    }
}

/// Appends one event to the audit trail inside `tx`: the change and its record commit together.
pub(crate) async fn append_event(
    store: &Store,
    tx: &mut Tx<'_>,
    audit: &Audit,
    action: &str,
    subject: &str,
    before: &serde_json::Value,
    after: &serde_json::Value,
) -> Result<(), StoreError> {
    append_events(store, tx, audit, &[(action, subject, before, after)]).await
}

fn chain(
    mut last: i64,
    mut previous: String,
    audit: &Audit,
    events: &[(&str, &str, &serde_json::Value, &serde_json::Value)],
) -> Vec<(patchwarden_domain::audit::Event, String, String)> {
    let mut chained = Vec::with_capacity(events.len());
    for (action, subject, before, after) in events {
        let event = patchwarden_domain::audit::Event {
            sequence: last + 1,
            at: audit.at,
            actor: audit.actor.clone(),
            action: (*action).to_owned(),
            subject: (*subject).to_owned(),
            before: before.to_string(),
            after: after.to_string(),
        };
        let hash = patchwarden_domain::audit::hash(&previous, &event);
        last = event.sequence;
        chained.push((event, std::mem::replace(&mut previous, hash.clone()), hash));
    }
    chained
}

const AUDIT_COLUMNS: &str = "sequence, at, actor, action, subject, before_state, after_state, previous_hash, hash";

/// Appends events to the audit trail inside `tx`, in order, numbered without gaps, each hash
/// covering the one before. The chain's head is its last event, or the purge anchor when none is
/// left, so an append writes its rows and nothing else.
///
/// On SQLite this process is nearly always the only writer of the chain, so the head is
/// remembered: a single event is one conditional `INSERT` that succeeds only if the stored last
/// event is still the remembered one (SQLite's write lock is held). Otherwise — another process
/// appended, a transaction rolled back, several events, PostgreSQL — the head is read (PostgreSQL
/// first locks `audit_head`, so appenders queue) and the rows go in batched statements.
pub(crate) async fn append_events(
    store: &Store,
    tx: &mut Tx<'_>,
    audit: &Audit,
    events: &[(&str, &str, &serde_json::Value, &serde_json::Value)],
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let remembered = match store.backend {
        Backend::Sqlite if events.len() == 1 => store.remembered_head(),
        _ => None,
    };
    if let Some((last, previous)) = remembered {
        let chained = chain(last, previous, audit, events);
        let (event, previous, hash) = &chained[0];
        let done = sqlx::query(&format!(
            "INSERT INTO audit_events ({AUDIT_COLUMNS}) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ? \
             WHERE (SELECT MAX(sequence) FROM audit_events) = ?"
        ))
        .bind(event.sequence)
        .bind(event.at)
        .bind(&event.actor)
        .bind(&event.action)
        .bind(&event.subject)
        .bind(&event.before)
        .bind(&event.after)
        .bind(previous)
        .bind(hash)
        .bind(last)
        .execute(&mut **tx)
        .await?;
        if done.rows_affected() == 1 {
            store.remember_head(event.sequence, hash.clone());
            return Ok(());
        }
    }
    let anchor = match store.backend {
        Backend::Sqlite => "SELECT anchor_sequence, anchor_hash FROM audit_head WHERE id = 1",
        Backend::Postgres => "SELECT anchor_sequence, anchor_hash FROM audit_head WHERE id = 1 FOR UPDATE",
    };
    let anchor = sqlx::query(anchor).fetch_one(&mut **tx).await?;
    let last = sqlx::query("SELECT sequence, hash FROM audit_events ORDER BY sequence DESC LIMIT 1")
        .fetch_optional(&mut **tx)
        .await?;
    let (sequence, hash): (i64, String) = match last {
        Some(row) => (row.get(0), row.get(1)),
        None => (anchor.get(0), anchor.get(1)),
    };
    let chained = chain(sequence, hash, audit, events);
    // 9 values a row: 100 rows stay far under either backend's parameter limit.
    for chunk in chained.chunks(100) {
        let sql = format!(
            "INSERT INTO audit_events ({AUDIT_COLUMNS}) VALUES {}",
            placeholders(store.backend, chunk.len(), 9, 1)
        );
        let mut query = sqlx::query(&sql);
        for (event, previous, hash) in chunk {
            query = query
                .bind(event.sequence)
                .bind(event.at)
                .bind(&event.actor)
                .bind(&event.action)
                .bind(&event.subject)
                .bind(&event.before)
                .bind(&event.after)
                .bind(previous)
                .bind(hash);
        }
        query.execute(&mut **tx).await?;
    }
    if let Some((event, _, hash)) = chained.last() {
        store.remember_head(event.sequence, hash.clone());
    }
    Ok(())
}

pub(crate) fn placeholders(backend: Backend, rows: usize, columns: usize, first: usize) -> String {
    (0..rows)
        .map(|r| {
            let row: Vec<String> = (0..columns)
                .map(|c| match backend {
                    Backend::Sqlite => "?".to_owned(),
                    Backend::Postgres => format!("${}", first + r * columns + c),
                })
                .collect();
            format!("({})", row.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `?, ?, ?` or `$2, $3, $4`: a list of `n` values numbered from `first`.
pub(crate) fn list(backend: Backend, n: usize, first: usize) -> String {
    placeholders(backend, n, 1, first).replace(['(', ')'], "")
}

/// Rows per multi-row statement: 400 rows × 7 values stays under SQLite's 32,766 parameters.
pub(crate) const BATCH: usize = 400;

/// Makes the host's software the given set, recording what was added and removed (§7.5.3).
/// Distinct package records are inserted once, in batches; ids already known (`known`, by
/// position) are not looked up again. Returns the ids it learned, to remember after commit.
async fn replace_software(
    backend: Backend,
    tx: &mut Tx<'_>,
    host_id: &str,
    inventory: &InventoryRecord,
    known: &[Option<i64>],
    at: i64,
    sequence: i64,
) -> Result<Vec<(String, i64)>, StoreError> {
    let mut new_ids: Vec<i64> = known.iter().flatten().copied().collect();
    let unknown: Vec<(String, &SoftwareRow)> = inventory
        .packages
        .iter()
        .zip(known)
        .filter(|(_, id)| id.is_none())
        .map(|(p, _)| (p.key(&inventory.ecosystem), p))
        .collect();
    for chunk in unknown.chunks(BATCH) {
        let sql = format!(
            "INSERT INTO software (key, name, version, arch, source, source_version, module) VALUES {} \
             ON CONFLICT (key) DO NOTHING",
            placeholders(backend, chunk.len(), 7, 1)
        );
        let mut query = sqlx::query(&sql);
        for (key, p) in chunk {
            query = query
                .bind(key)
                .bind(&p.name)
                .bind(&p.version)
                .bind(&p.arch)
                .bind(&p.source)
                .bind(&p.source_version)
                .bind(&p.module);
        }
        query.execute(&mut **tx).await?;
    }
    let mut learned = Vec::with_capacity(unknown.len());
    for chunk in unknown.chunks(BATCH) {
        let sql = format!(
            "SELECT key, id FROM software WHERE key IN ({})",
            list(backend, chunk.len(), 1)
        );
        let mut query = sqlx::query(&sql);
        for (key, _) in chunk {
            query = query.bind(key);
        }
        for row in query.fetch_all(&mut **tx).await? {
            let id: i64 = row.get(1);
            new_ids.push(id);
            learned.push((row.get::<String, _>(0), id));
        }
    }
    new_ids.sort_unstable();
    new_ids.dedup();
    let mut old: Vec<i64> = sqlx::query("SELECT software_id FROM host_software WHERE host_id = $1")
        .bind(host_id)
        .fetch_all(&mut **tx)
        .await?
        .into_iter()
        .map(|r| r.get(0))
        .collect();
    old.sort_unstable();
    let removed: Vec<i64> = old
        .iter()
        .copied()
        .filter(|id| new_ids.binary_search(id).is_err())
        .collect();
    let added: Vec<i64> = new_ids
        .iter()
        .copied()
        .filter(|id| old.binary_search(id).is_err())
        .collect();
    // A host's first inventory is its baseline, not a change: history starts with the second.
    let changes: &[(&str, &Vec<i64>)] = if old.is_empty() {
        &[]
    } else {
        &[("removed", &removed), ("added", &added)]
    };
    for &(change, ids) in changes {
        for chunk in ids.chunks(BATCH) {
            let sql = format!(
                "INSERT INTO software_history (host_id, software_id, change, at, sequence) VALUES {}",
                placeholders(backend, chunk.len(), 5, 1)
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(host_id).bind(id).bind(change).bind(at).bind(sequence);
            }
            query.execute(&mut **tx).await?;
        }
    }
    for chunk in removed.chunks(BATCH) {
        let sql = match backend {
            Backend::Sqlite => format!(
                "DELETE FROM host_software WHERE host_id = ? AND software_id IN ({})",
                list(backend, chunk.len(), 2)
            ),
            Backend::Postgres => format!(
                "DELETE FROM host_software WHERE host_id = $1 AND software_id IN ({})",
                list(backend, chunk.len(), 2)
            ),
        };
        let mut query = sqlx::query(&sql).bind(host_id);
        for id in chunk {
            query = query.bind(id);
        }
        query.execute(&mut **tx).await?;
    }
    for chunk in added.chunks(BATCH) {
        let sql = format!(
            "INSERT INTO host_software (host_id, software_id) VALUES {}",
            placeholders(backend, chunk.len(), 2, 1)
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(host_id).bind(id);
        }
        query.execute(&mut **tx).await?;
    }
    // A whole inventory answers any scan the server asked for (§13.1).
    sqlx::query(
        "UPDATE hosts SET inventory_hash = $2, inventory_format = $3, inventory_at = $4, scan_requested_at = NULL, \
         package_count = $5 WHERE id = $1",
    )
    .bind(host_id)
    .bind(&inventory.hash)
    .bind(&inventory.format)
    .bind(at)
    .bind(i64::try_from(new_ids.len()).unwrap_or(i64::MAX))
    .execute(&mut **tx)
    .await?;
    Ok(learned)
}

/// Makes `findings` the host's current findings, and keeps the spans in step (§13: when each host
/// was missing each patch): a (patch, package) no longer found is closed at `at`, a new one opened.
async fn replace_findings(
    backend: Backend,
    tx: &mut Tx<'_>,
    host_id: &str,
    findings: &[FindingRow],
    at: i64,
) -> Result<(), StoreError> {
    let open: std::collections::HashSet<(String, String)> =
        sqlx::query("SELECT advisory, package FROM finding_spans WHERE host_id = $1 AND closed_at IS NULL")
            .bind(host_id)
            .fetch_all(&mut **tx)
            .await?
            .into_iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
    let now: std::collections::HashSet<(String, String)> = findings
        .iter()
        .map(|f| (f.advisory.clone(), f.package.clone()))
        .collect();
    for (advisory, package) in open.difference(&now) {
        sqlx::query(
            "UPDATE finding_spans SET closed_at = $1 WHERE host_id = $2 AND advisory = $3 AND package = $4 \
             AND closed_at IS NULL",
        )
        .bind(at)
        .bind(host_id)
        .bind(advisory)
        .bind(package)
        .execute(&mut **tx)
        .await?;
    }
    let opened: Vec<&(String, String)> = now.difference(&open).collect();
    for chunk in opened.chunks(BATCH) {
        let sql = format!(
            "INSERT INTO finding_spans (host_id, advisory, package, opened_at) VALUES {}",
            placeholders(backend, chunk.len(), 4, 1)
        );
        let mut query = sqlx::query(&sql);
        for (advisory, package) in chunk {
            query = query.bind(host_id).bind(advisory).bind(package).bind(at);
        }
        query.execute(&mut **tx).await?;
    }
    sqlx::query("DELETE FROM findings WHERE host_id = $1")
        .bind(host_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE hosts SET finding_count = $1 WHERE id = $2")
        .bind(i64::try_from(findings.len()).unwrap_or(i64::MAX))
        .bind(host_id)
        .execute(&mut **tx)
        .await?;
    for chunk in findings.chunks(BATCH) {
        let sql = format!(
            "INSERT INTO findings (host_id, package, source, installed, fixed, advisory, cves, severity, kev, epss) VALUES {}",
            placeholders(backend, chunk.len(), 10, 1)
        );
        let mut query = sqlx::query(&sql);
        for f in chunk {
            query = query
                .bind(host_id)
                .bind(&f.package)
                .bind(&f.source)
                .bind(&f.installed)
                .bind(&f.fixed)
                .bind(&f.advisory)
                .bind(&f.cves)
                .bind(&f.severity)
                .bind(i64::from(f.kev))
                .bind(f.epss);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}
