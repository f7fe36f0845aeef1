//! Changes (RTCs), their test records and their jobs. Every write is one transaction with its
//! audit event; state moves are conditional on the state the caller read, so of two racing
//! moves one wins and the other is told.

use std::collections::{BTreeSet, HashMap};

use serde_json::json;
use sqlx::Row;

use crate::{Audit, BATCH, Store, StoreError, append_event, placeholders};

/// A request for technical change as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeRow {
    pub id: String,
    pub title: String,
    /// Advisory ids.
    pub patches: Vec<String>,
    /// Patch store files (SHA-256) to install instead of the host's repositories where they fit.
    pub artifacts: Vec<String>,
    pub selector: String,
    pub emergency: bool,
    /// `{"waves": [...], "success_share": …, "failure_share": …}`.
    pub rollout: String,
    /// Maintenance windows (`Sat 01:00-05:00`).
    pub windows: Vec<String>,
    /// `never`, `if_required` or `always`.
    pub reboot: String,
    /// The staff notification text (§11.3).
    pub notice: String,
    pub start_at: i64,
    pub state: String,
    pub requested_by: String,
    pub requested_at: i64,
    pub approved_by: Option<String>,
    pub security_approved_by: Option<String>,
    /// Production waves dispatching (0: none yet).
    pub open_wave: i64,
    /// Why the rollout stopped by itself or was stopped; `None` while it runs.
    pub paused: Option<String>,
    pub released_at: Option<i64>,
    /// When its post-patch audit scan was requested (§13.1).
    pub scan_requested_at: Option<i64>,
}

/// A test of a change on one platform class or system image (§10.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRecord {
    pub change_id: String,
    pub platform_class: String,
    pub image: String,
    pub tested_by: String,
    pub tested_at: i64,
    pub passed: bool,
    pub notes: String,
}

/// One host's part of a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRow {
    pub id: String,
    pub change_id: String,
    pub host_id: String,
    /// `test` or `production`.
    pub ring: String,
    /// Production wave (1-based); 0 in the test ring.
    pub wave: i64,
    /// `pending`, `dispatched`, `succeeded`, `reboot_required`, `failed` (retries left),
    /// `given_up`, `verified`.
    pub state: String,
    pub attempts: i64,
    pub not_before: i64,
    /// What was sent: `[{"package", "version"}]`.
    pub items: String,
    pub exit_status: Option<i64>,
    /// The last lines of the package manager's output.
    pub output: String,
    pub created_at: i64,
    pub dispatched_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub verified_at: Option<i64>,
}

/// A file in the patch store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchFile {
    pub sha256: String,
    pub name: String,
    pub package: String,
    pub version: String,
    pub size: i64,
    pub uploaded_by: String,
    pub uploaded_at: i64,
}

/// Which jobs to list.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub change: Option<String>,
    pub host: Option<String>,
    pub states: Vec<String>,
}

const CHANGE_COLUMNS: &str = "id, title, patches, selector, emergency, rollout, windows, reboot, notice, start_at, state, \
                              requested_by, requested_at, approved_by, security_approved_by, open_wave, paused, artifacts, \
                              released_at, scan_requested_at";
const JOB_COLUMNS: &str = "id, change_id, host_id, ring, wave, state, attempts, not_before, items, exit_status, output, \
                           created_at, dispatched_at, finished_at, verified_at";

fn change_row(r: &sqlx::any::AnyRow) -> ChangeRow {
    ChangeRow {
        id: r.get(0),
        title: r.get(1),
        patches: serde_json::from_str(&r.get::<String, _>(2)).unwrap_or_default(),
        selector: r.get(3),
        emergency: r.get::<i64, _>(4) != 0,
        rollout: r.get(5),
        windows: serde_json::from_str(&r.get::<String, _>(6)).unwrap_or_default(),
        reboot: r.get(7),
        notice: r.get(8),
        start_at: r.get(9),
        state: r.get(10),
        requested_by: r.get(11),
        requested_at: r.get(12),
        approved_by: r.get(13),
        security_approved_by: r.get(14),
        open_wave: r.get(15),
        paused: r.get(16),
        artifacts: serde_json::from_str(&r.get::<String, _>(17)).unwrap_or_default(),
        released_at: r.get(18),
        scan_requested_at: r.get(19),
    }
}

fn job_row(r: &sqlx::any::AnyRow) -> JobRow {
    JobRow {
        id: r.get(0),
        change_id: r.get(1),
        host_id: r.get(2),
        ring: r.get(3),
        wave: r.get(4),
        state: r.get(5),
        attempts: r.get(6),
        not_before: r.get(7),
        items: r.get(8),
        exit_status: r.get(9),
        output: r.get(10),
        created_at: r.get(11),
        dispatched_at: r.get(12),
        finished_at: r.get(13),
        verified_at: r.get(14),
    }
}

fn change_json(c: &ChangeRow) -> serde_json::Value {
    json!({"state": c.state, "approved_by": c.approved_by, "security_approved_by": c.security_approved_by,
           "open_wave": c.open_wave, "paused": c.paused})
}

impl Store {
    pub async fn create_change(&self, audit: &Audit, c: &ChangeRow) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        sqlx::query(&format!(
            "INSERT INTO changes ({CHANGE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"
        ))
        .bind(&c.id)
        .bind(&c.title)
        .bind(json!(c.patches).to_string())
        .bind(&c.selector)
        .bind(i64::from(c.emergency))
        .bind(&c.rollout)
        .bind(json!(c.windows).to_string())
        .bind(&c.reboot)
        .bind(&c.notice)
        .bind(c.start_at)
        .bind(&c.state)
        .bind(&c.requested_by)
        .bind(c.requested_at)
        .bind(&c.approved_by)
        .bind(&c.security_approved_by)
        .bind(c.open_wave)
        .bind(&c.paused)
        .bind(json!(c.artifacts).to_string())
        .bind(c.released_at)
        .bind(c.scan_requested_at)
        .execute(&mut *tx)
        .await?;
        append_event(
            self,
            &mut tx,
            audit,
            "change.create",
            &format!("change:{}", c.id),
            &json!(null),
            &json!({"title": c.title, "patches": c.patches, "selector": c.selector, "emergency": c.emergency,
                    "rollout": c.rollout, "windows": c.windows, "reboot": c.reboot, "state": c.state,
                    "artifacts": c.artifacts}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn changes(&self) -> Result<Vec<ChangeRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {CHANGE_COLUMNS} FROM changes ORDER BY requested_at, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(change_row).collect())
    }

    pub async fn change(&self, id: &str) -> Result<Option<ChangeRow>, StoreError> {
        let row = sqlx::query(&format!("SELECT {CHANGE_COLUMNS} FROM changes WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(change_row))
    }

    /// Moves a change from `before` to `after` (state, approvals, open wave, pause) and adds the
    /// jobs the move creates, if no one moved it meanwhile; `false` otherwise.
    pub async fn update_change(
        &self,
        audit: &Audit,
        what: &str,
        before: &ChangeRow,
        after: &ChangeRow,
        new_jobs: &[JobRow],
    ) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "UPDATE changes SET state = $1, approved_by = $2, security_approved_by = $3, open_wave = $4, paused = $5, \
             released_at = $11 WHERE id = $6 AND state = $7 AND open_wave = $8 \
             AND approved_by IS NOT DISTINCT FROM $9 AND security_approved_by IS NOT DISTINCT FROM $10",
        )
        .bind(&after.state)
        .bind(&after.approved_by)
        .bind(&after.security_approved_by)
        .bind(after.open_wave)
        .bind(&after.paused)
        .bind(&after.id)
        .bind(&before.state)
        .bind(before.open_wave)
        .bind(&before.approved_by)
        .bind(&before.security_approved_by)
        .bind(after.released_at)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        // A change stopped for good takes back the jobs no host has carried out yet.
        if matches!(after.state.as_str(), "cancelled" | "rolled_back") {
            sqlx::query(
                "UPDATE jobs SET state = 'cancelled' WHERE change_id = $1 AND state IN ('pending', 'dispatched')",
            )
            .bind(&after.id)
            .execute(&mut *tx)
            .await?;
        }
        for chunk in new_jobs.chunks(BATCH / 2) {
            let sql = format!(
                "INSERT INTO jobs (id, change_id, host_id, ring, wave, state, attempts, not_before, items, created_at) VALUES {}",
                placeholders(self.backend, chunk.len(), 10, 1)
            );
            let mut query = sqlx::query(&sql);
            for j in chunk {
                query = query
                    .bind(&j.id)
                    .bind(&j.change_id)
                    .bind(&j.host_id)
                    .bind(&j.ring)
                    .bind(j.wave)
                    .bind(&j.state)
                    .bind(j.attempts)
                    .bind(j.not_before)
                    .bind(&j.items)
                    .bind(j.created_at);
            }
            query.execute(&mut *tx).await?;
        }
        let mut after_json = change_json(after);
        after_json["new_jobs"] = json!(new_jobs.len());
        append_event(
            self,
            &mut tx,
            audit,
            &format!("change.{what}"),
            &format!("change:{}", after.id),
            &change_json(before),
            &after_json,
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn add_test_record(&self, audit: &Audit, t: &TestRecord) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO change_tests (change_id, platform_class, image, tested_by, tested_at, passed, notes) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&t.change_id)
        .bind(&t.platform_class)
        .bind(&t.image)
        .bind(&t.tested_by)
        .bind(t.tested_at)
        .bind(i64::from(t.passed))
        .bind(&t.notes)
        .execute(&mut *tx)
        .await?;
        append_event(
            self,
            &mut tx,
            audit,
            "change.test",
            &format!("change:{}", t.change_id),
            &json!(null),
            &json!({"platform_class": t.platform_class, "image": t.image, "passed": t.passed, "notes": t.notes}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn test_records(&self, change_id: &str) -> Result<Vec<TestRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT change_id, platform_class, image, tested_by, tested_at, passed, notes FROM change_tests \
             WHERE change_id = $1 ORDER BY tested_at",
        )
        .bind(change_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| TestRecord {
                change_id: r.get(0),
                platform_class: r.get(1),
                image: r.get(2),
                tested_by: r.get(3),
                tested_at: r.get(4),
                passed: r.get::<i64, _>(5) != 0,
                notes: r.get(6),
            })
            .collect())
    }

    pub async fn jobs(&self, filter: &JobFilter) -> Result<Vec<JobRow>, StoreError> {
        let mut sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE 1 = 1");
        let mut n = 0;
        let mut next = || {
            n += 1;
            format!("${n}")
        };
        if filter.change.is_some() {
            sql += &format!(" AND change_id = {}", next());
        }
        if filter.host.is_some() {
            sql += &format!(" AND host_id = {}", next());
        }
        if !filter.states.is_empty() {
            let list: Vec<String> = filter.states.iter().map(|_| next()).collect();
            sql += &format!(" AND state IN ({})", list.join(", "));
        }
        sql += " ORDER BY created_at, id";
        let mut query = sqlx::query(&sql);
        if let Some(c) = &filter.change {
            query = query.bind(c);
        }
        if let Some(h) = &filter.host {
            query = query.bind(h);
        }
        for s in &filter.states {
            query = query.bind(s);
        }
        Ok(query.fetch_all(&self.pool).await?.iter().map(job_row).collect())
    }

    /// Records jobs handed to a host at check-in with what they carry (already-fixed ones are
    /// `verified` at once).
    pub async fn dispatch_jobs(&self, audit: &Audit, jobs: &[JobRow]) -> Result<(), StoreError> {
        if jobs.is_empty() {
            return Ok(());
        }
        let mut tx = self.write().await?;
        for j in jobs {
            sqlx::query(
                "UPDATE jobs SET state = $1, items = $2, dispatched_at = $3, verified_at = $4, finished_at = $5 WHERE id = $6",
            )
            .bind(&j.state)
            .bind(&j.items)
            .bind(j.dispatched_at)
            .bind(j.verified_at)
            .bind(j.finished_at)
            .bind(&j.id)
            .execute(&mut *tx)
            .await?;
        }
        append_event(
            self,
            &mut tx,
            audit,
            "job.dispatch",
            &format!("host:{}", jobs[0].host_id),
            &json!(null),
            &json!(
                jobs.iter()
                    .map(|j| json!({"job": j.id, "change": j.change_id, "state": j.state}))
                    .collect::<Vec<_>>()
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores a job's outcome if it is still the dispatched job of that host; `false` otherwise.
    pub async fn finish_job(&self, audit: &Audit, before: &JobRow, after: &JobRow) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "UPDATE jobs SET state = $1, attempts = $2, not_before = $3, exit_status = $4, output = $5, finished_at = $6 \
             WHERE id = $7 AND host_id = $8 AND state = $9",
        )
        .bind(&after.state)
        .bind(after.attempts)
        .bind(after.not_before)
        .bind(after.exit_status)
        .bind(&after.output)
        .bind(after.finished_at)
        .bind(&after.id)
        .bind(&after.host_id)
        .bind(&before.state)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        append_event(
            self,
            &mut tx,
            audit,
            "job.result",
            &format!("job:{}", after.id),
            &json!({"state": before.state}),
            &json!({"state": after.state, "exit_status": after.exit_status, "attempts": after.attempts}),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records an uploaded file; `false` if a file with that SHA-256 is already stored.
    pub async fn add_patch_file(&self, audit: &Audit, f: &PatchFile) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "INSERT INTO patch_files (sha256, name, package, version, size, uploaded_by, uploaded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        )
        .bind(&f.sha256)
        .bind(&f.name)
        .bind(&f.package)
        .bind(&f.version)
        .bind(f.size)
        .bind(&f.uploaded_by)
        .bind(f.uploaded_at)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        append_event(
            self,
            &mut tx,
            audit,
            "patch_file.upload",
            &format!("patch_file:{}", f.sha256),
            &json!(null),
            &json!({"name": f.name, "package": f.package, "version": f.version, "size": f.size}),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn patch_files(&self) -> Result<Vec<PatchFile>, StoreError> {
        let rows = sqlx::query(
            "SELECT sha256, name, package, version, size, uploaded_by, uploaded_at FROM patch_files ORDER BY uploaded_at, sha256",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| PatchFile {
                sha256: r.get(0),
                name: r.get(1),
                package: r.get(2),
                version: r.get(3),
                size: r.get(4),
                uploaded_by: r.get(5),
                uploaded_at: r.get(6),
            })
            .collect())
    }

    /// Asks hosts for a fresh inventory at their next check-in: a change's post-patch audit scan
    /// (§13.1). `false` if the change's scan was already requested.
    pub async fn request_scan(&self, audit: &Audit, change_id: &str, hosts: &[String]) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let done = sqlx::query("UPDATE changes SET scan_requested_at = $1 WHERE id = $2 AND scan_requested_at IS NULL")
            .bind(audit.at)
            .bind(change_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        for host in hosts {
            sqlx::query("UPDATE hosts SET scan_requested_at = $1 WHERE id = $2")
                .bind(audit.at)
                .bind(host)
                .execute(&mut *tx)
                .await?;
        }
        append_event(
            self,
            &mut tx,
            audit,
            "change.scan",
            &format!("change:{change_id}"),
            &json!(null),
            &json!({"hosts": hosts}),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The hosts missing any of these patches now, each with the ones it misses.
    pub async fn missing_by_host(&self, patches: &[String]) -> Result<HashMap<String, BTreeSet<String>>, StoreError> {
        let mut out: HashMap<String, BTreeSet<String>> = HashMap::new();
        for chunk in patches.chunks(BATCH) {
            let sql = format!(
                "SELECT DISTINCT host_id, advisory FROM findings WHERE advisory IN ({})",
                crate::list(self.backend, chunk.len(), 1)
            );
            let mut query = sqlx::query(&sql);
            for p in chunk {
                query = query.bind(p);
            }
            for row in query.fetch_all(&self.pool).await? {
                out.entry(row.get(0)).or_default().insert(row.get(1));
            }
        }
        Ok(out)
    }

    /// Marks jobs verified: a later inventory shows the fixed versions (§13.4).
    pub async fn verify_jobs(&self, audit: &Audit, ids: &[String]) -> Result<(), StoreError> {
        self.mark_verified(
            audit,
            ids,
            "UPDATE jobs SET state = 'verified', verified_at = $1 WHERE id = $2",
            "job.verify",
            "jobs",
        )
        .await
    }

    /// Sets `verified_at` through `update` (`$1` the time, `$2` the id) for each id, with one
    /// audit event for them all.
    async fn mark_verified(
        &self,
        audit: &Audit,
        ids: &[String],
        update: &str,
        action: &str,
        subject: &str,
    ) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut tx = self.write().await?;
        for id in ids {
            sqlx::query(update).bind(audit.at).bind(id).execute(&mut *tx).await?;
        }
        append_event(
            self,
            &mut tx,
            audit,
            action,
            subject,
            &json!(null),
            &json!({"verified": ids}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// An application, its owner and the hosts it runs on (§10.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    pub name: String,
    pub owner: String,
    pub selector: String,
}

/// An application owner's problem with a change (§10.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProblemReport {
    pub id: String,
    pub change_id: String,
    pub application: String,
    pub reported_by: String,
    pub at: i64,
    pub description: String,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<i64>,
}

fn problem_row(r: &sqlx::any::AnyRow) -> ProblemReport {
    ProblemReport {
        id: r.get(0),
        change_id: r.get(1),
        application: r.get(2),
        reported_by: r.get(3),
        at: r.get(4),
        description: r.get(5),
        resolved_by: r.get(6),
        resolved_at: r.get(7),
    }
}

impl Store {
    /// Records or updates an application.
    pub async fn put_application(&self, audit: &Audit, app: &Application) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let before = sqlx::query("SELECT owner, selector FROM applications WHERE name = $1")
            .bind(&app.name)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| json!({"owner": r.get::<String, _>(0), "selector": r.get::<String, _>(1)}));
        sqlx::query("DELETE FROM applications WHERE name = $1")
            .bind(&app.name)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO applications (name, owner, selector) VALUES ($1, $2, $3)")
            .bind(&app.name)
            .bind(&app.owner)
            .bind(&app.selector)
            .execute(&mut *tx)
            .await?;
        append_event(
            self,
            &mut tx,
            audit,
            "application.put",
            &format!("application:{}", app.name),
            &before.unwrap_or(json!(null)),
            &json!({"owner": app.owner, "selector": app.selector}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn applications(&self) -> Result<Vec<Application>, StoreError> {
        let rows = sqlx::query("SELECT name, owner, selector FROM applications ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| Application {
                name: r.get(0),
                owner: r.get(1),
                selector: r.get(2),
            })
            .collect())
    }

    /// Records a problem report and the notification it sends.
    pub async fn add_problem(
        &self,
        audit: &Audit,
        p: &ProblemReport,
        notify: &[crate::Notification],
    ) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO problem_reports (id, change_id, application, reported_by, at, description) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&p.id)
        .bind(&p.change_id)
        .bind(&p.application)
        .bind(&p.reported_by)
        .bind(p.at)
        .bind(&p.description)
        .execute(&mut *tx)
        .await?;
        for n in notify {
            crate::policy::insert_notification(&mut tx, n).await?;
        }
        append_event(
            self,
            &mut tx,
            audit,
            "change.problem",
            &format!("change:{}", p.change_id),
            &json!(null),
            &json!({"problem": p.id, "application": p.application, "description": p.description}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn problems(&self, change_id: &str) -> Result<Vec<ProblemReport>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, change_id, application, reported_by, at, description, resolved_by, resolved_at \
             FROM problem_reports WHERE change_id = $1 ORDER BY at, id",
        )
        .bind(change_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(problem_row).collect())
    }

    /// Marks an open problem report resolved; `false` if there is no such open report.
    pub async fn resolve_problem(
        &self,
        audit: &Audit,
        change_id: &str,
        id: &str,
        by: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "UPDATE problem_reports SET resolved_by = $1, resolved_at = $2 WHERE id = $3 AND change_id = $4 \
             AND resolved_at IS NULL",
        )
        .bind(by)
        .bind(audit.at)
        .bind(id)
        .bind(change_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        append_event(
            self,
            &mut tx,
            audit,
            "change.problem_resolved",
            &format!("change:{change_id}"),
            &json!({"problem": id, "resolved": false}),
            &json!({"problem": id, "resolved": true}),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}

/// A deployment done by hand (§12.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManualDeployment {
    pub id: String,
    pub host_id: String,
    pub patches: Vec<String>,
    pub evidence: String,
    pub recorded_by: String,
    pub performed_at: i64,
    pub recorded_at: i64,
    pub verified_at: Option<i64>,
}

impl Store {
    pub async fn add_manual_deployment(&self, audit: &Audit, m: &ManualDeployment) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO manual_deployments (id, host_id, patches, evidence, recorded_by, performed_at, recorded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&m.id)
        .bind(&m.host_id)
        .bind(json!(m.patches).to_string())
        .bind(&m.evidence)
        .bind(&m.recorded_by)
        .bind(m.performed_at)
        .bind(m.recorded_at)
        .execute(&mut *tx)
        .await?;
        append_event(
            self,
            &mut tx,
            audit,
            "manual_deployment.record",
            &format!("host:{}", m.host_id),
            &json!(null),
            &json!({"id": m.id, "patches": m.patches, "evidence": m.evidence, "performed_at": m.performed_at}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Manual deployments, of one host or all.
    pub async fn manual_deployments(&self, host: Option<&str>) -> Result<Vec<ManualDeployment>, StoreError> {
        let sql = format!(
            "SELECT id, host_id, patches, evidence, recorded_by, performed_at, recorded_at, verified_at \
             FROM manual_deployments {} ORDER BY recorded_at, id",
            if host.is_some() { "WHERE host_id = $1" } else { "" }
        );
        let mut query = sqlx::query(&sql);
        if let Some(h) = host {
            query = query.bind(h);
        }
        Ok(query
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|r| ManualDeployment {
                id: r.get(0),
                host_id: r.get(1),
                patches: serde_json::from_str(&r.get::<String, _>(2)).unwrap_or_default(),
                evidence: r.get(3),
                recorded_by: r.get(4),
                performed_at: r.get(5),
                recorded_at: r.get(6),
                verified_at: r.get(7),
            })
            .collect())
    }

    pub async fn verify_manual_deployments(&self, audit: &Audit, ids: &[String]) -> Result<(), StoreError> {
        self.mark_verified(
            audit,
            ids,
            "UPDATE manual_deployments SET verified_at = $1 WHERE id = $2 AND verified_at IS NULL",
            "manual_deployment.verify",
            "manual_deployments",
        )
        .await
    }
}
