//! The policy engine's records: finding spans, classifications with their revisions, class
//! packages, exceptions and declines, notifications, directory groups and certified compliance
//! forms. Like everything in the store, each write is one transaction with its audit event.

use std::collections::{HashMap, HashSet};

use patchwarden_domain::exception::{Exception, Kind, Request, State};
use serde_json::json;
use sqlx::Row;

use crate::{Audit, BATCH, Store, StoreError, append_event, list, placeholders};

/// One revision of a patch's classification for a platform class.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassificationRow {
    pub advisory: String,
    pub platform_class: String,
    pub revision: i64,
    pub at: i64,
    pub actor: String,
    pub category: String,
    /// Confirmed or overridden by Security.
    pub approved: bool,
    /// The category the thresholds suggested, and why.
    pub suggested: String,
    pub reasons: Vec<String>,
    pub note: String,
    pub severity: Option<String>,
    pub fleet_share: f64,
    pub released_at: i64,
}

/// When a host was missing a patch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanRow {
    pub host_id: String,
    pub advisory: String,
    pub opened_at: i64,
    pub closed_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub id: String,
    pub role: String,
    pub at: i64,
    pub subject: String,
    pub message: String,
}

/// An Appendix A form as Security certified it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertifiedReport {
    pub department: String,
    /// `YYYY-MM`.
    pub month: String,
    /// The form as JSON, exactly as certified.
    pub report: String,
    pub sha256: String,
    pub certified_by: String,
    pub name: String,
    pub job_title: String,
    /// The date written on the certification (`YYYY-MM-DD`).
    pub signed_on: String,
    pub certified_at: i64,
}

const CLASSIFICATION_COLUMNS: &str = "advisory, platform_class, revision, at, actor, category, approved, suggested, \
                                      reasons, note, severity, fleet_share, released_at";

fn classification_row(r: &sqlx::any::AnyRow) -> ClassificationRow {
    ClassificationRow {
        advisory: r.get(0),
        platform_class: r.get(1),
        revision: r.get(2),
        at: r.get(3),
        actor: r.get(4),
        category: r.get(5),
        approved: r.get::<i64, _>(6) != 0,
        suggested: r.get(7),
        reasons: serde_json::from_str(&r.get::<String, _>(8)).unwrap_or_default(),
        note: r.get(9),
        severity: r.get(10),
        fleet_share: r.get(11),
        released_at: r.get(12),
    }
}

fn classification_json(c: &ClassificationRow) -> serde_json::Value {
    json!({"revision": c.revision, "category": c.category, "approved": c.approved, "note": c.note})
}

fn time(seconds: i64, what: &str) -> Result<jiff::Timestamp, StoreError> {
    jiff::Timestamp::from_second(seconds)
        .map_err(|_| StoreError::Corrupt(format!("{what}: time {seconds} out of range")))
}

const EXCEPTION_COLUMNS: &str = "id, kind, selector, patches, reason, workaround, target_at, application_owner, \
                                 requested_by, requested_at, state, decided_by, decided_at, revoked_at";

fn exception_row(r: &sqlx::any::AnyRow) -> Result<Exception, StoreError> {
    let id: String = r.get(0);
    let kind: String = r.get(1);
    let state: String = r.get(10);
    let corrupt = |what: &str| StoreError::Corrupt(format!("exception {id}: {what}"));
    Ok(Exception {
        request: Request {
            kind: Kind::parse(&kind).ok_or_else(|| corrupt("kind"))?,
            selector: r.get(2),
            patches: serde_json::from_str(&r.get::<String, _>(3)).map_err(|_| corrupt("patches"))?,
            reason: r.get(4),
            workaround: r.get(5),
            target: time(r.get(6), &id)?,
            application_owner: r.get(7),
        },
        requested_by: r.get(8),
        requested_at: time(r.get(9), &id)?,
        state: State::parse(&state).ok_or_else(|| corrupt("state"))?,
        decided_by: r.get(11),
        decided_at: r.get::<Option<i64>, _>(12).map(|t| time(t, &id)).transpose()?,
        revoked_at: r.get::<Option<i64>, _>(13).map(|t| time(t, &id)).transpose()?,
        id,
    })
}

fn exception_json(e: &Exception) -> serde_json::Value {
    json!({
        "kind": e.request.kind.name(), "state": e.state.name(), "selector": e.request.selector,
        "patches": e.request.patches, "reason": e.request.reason, "workaround": e.request.workaround,
        "target": e.request.target.to_string(), "application_owner": e.request.application_owner,
        "decided_by": e.decided_by,
    })
}

/// Stores a notification inside the transaction of the change that calls for it.
pub(crate) async fn insert_notification(tx: &mut crate::Tx<'_>, n: &Notification) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO notifications (id, role, at, subject, message) VALUES ($1, $2, $3, $4, $5)")
        .bind(&n.id)
        .bind(&n.role)
        .bind(n.at)
        .bind(&n.subject)
        .bind(&n.message)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl Store {
    // ---- finding spans ----

    /// Spans that overlap `[from, at]`.
    pub async fn finding_spans(&self, from: i64, at: i64) -> Result<Vec<SpanRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT host_id, advisory, opened_at, closed_at FROM finding_spans \
             WHERE opened_at <= $1 AND (closed_at IS NULL OR closed_at >= $2)",
        )
        .bind(at)
        .bind(from)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| SpanRow {
                host_id: r.get(0),
                advisory: r.get(1),
                opened_at: r.get(2),
                closed_at: r.get(3),
            })
            .collect())
    }

    // ---- classifications ----

    /// Each patch with open findings and how many hosts miss it, and the number of hosts with an
    /// inventory (the fleet a share is taken of).
    pub async fn patch_reach(&self) -> Result<(Vec<(String, i64)>, i64), StoreError> {
        let rows =
            sqlx::query("SELECT advisory, COUNT(DISTINCT host_id) FROM findings GROUP BY advisory ORDER BY advisory")
                .fetch_all(&self.pool)
                .await?;
        let fleet: i64 = sqlx::query("SELECT COUNT(*) FROM hosts WHERE inventory_hash <> '' AND revoked = 0")
            .fetch_one(&self.pool)
            .await?
            .get(0);
        Ok((rows.into_iter().map(|r| (r.get(0), r.get(1))).collect(), fleet))
    }

    /// The classification in force at `at` (the last revision by then) of every classified
    /// (patch, class); `None`: now.
    pub async fn classifications(&self, at: Option<i64>) -> Result<Vec<ClassificationRow>, StoreError> {
        let sql = format!(
            "SELECT {CLASSIFICATION_COLUMNS} FROM classifications c WHERE c.revision = \
             (SELECT MAX(d.revision) FROM classifications d WHERE d.advisory = c.advisory \
              AND d.platform_class = c.platform_class AND d.at <= $1) ORDER BY advisory, platform_class"
        );
        let rows = sqlx::query(&sql)
            .bind(at.unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(classification_row).collect())
    }

    /// Every revision of a patch's classifications, oldest first.
    pub async fn classification_history(&self, advisory: &str) -> Result<Vec<ClassificationRow>, StoreError> {
        let sql = format!(
            "SELECT {CLASSIFICATION_COLUMNS} FROM classifications WHERE advisory = $1 ORDER BY platform_class, revision"
        );
        let rows = sqlx::query(&sql).bind(advisory).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(classification_row).collect())
    }

    /// Records suggestions: revision 1 for a pair not classified yet, or the next revision of one
    /// Security has not decided when the suggestion changed. Each row's `revision` is the one it
    /// means to write; one already written (a concurrent refresh) is left alone. Returns how many
    /// were written.
    pub async fn suggest_classifications(
        &self,
        audit: &Audit,
        suggestions: &[ClassificationRow],
    ) -> Result<usize, StoreError> {
        let mut tx = self.write().await?;
        let mut added = 0;
        for s in suggestions {
            let done = sqlx::query(
                "INSERT INTO classifications (advisory, platform_class, revision, at, actor, category, approved, \
                 suggested, reasons, note, severity, fleet_share, released_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, 0, $6, $7, '', $8, $9, $10) ON CONFLICT DO NOTHING",
            )
            .bind(&s.advisory)
            .bind(&s.platform_class)
            .bind(s.revision)
            .bind(audit.at)
            .bind(&audit.actor)
            .bind(&s.suggested)
            .bind(json!(s.reasons).to_string())
            .bind(&s.severity)
            .bind(s.fleet_share)
            .bind(s.released_at)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 1 {
                added += 1;
                append_event(
                    self,
                    &mut tx,
                    audit,
                    "classification.suggest",
                    &format!("patch:{}/{}", s.advisory, s.platform_class),
                    &json!(null),
                    &json!({"category": s.suggested, "reasons": s.reasons, "fleet_share": s.fleet_share}),
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(added)
    }

    /// Security confirms (same category) or overrides a patch's classification for a class: a new
    /// revision. `None` if the pair has never been classified.
    pub async fn classify(
        &self,
        audit: &Audit,
        advisory: &str,
        platform_class: &str,
        category: &str,
        note: &str,
    ) -> Result<Option<ClassificationRow>, StoreError> {
        let mut tx = self.write().await?;
        let sql = format!(
            "SELECT {CLASSIFICATION_COLUMNS} FROM classifications WHERE advisory = $1 AND platform_class = $2 \
             ORDER BY revision DESC LIMIT 1"
        );
        let Some(last) = sqlx::query(&sql)
            .bind(advisory)
            .bind(platform_class)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| classification_row(&r))
        else {
            return Ok(None);
        };
        let next = ClassificationRow {
            revision: last.revision + 1,
            at: audit.at,
            actor: audit.actor.clone(),
            category: category.to_owned(),
            approved: true,
            note: note.to_owned(),
            ..last.clone()
        };
        sqlx::query(
            "INSERT INTO classifications (advisory, platform_class, revision, at, actor, category, approved, \
             suggested, reasons, note, severity, fleet_share, released_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&next.advisory)
        .bind(&next.platform_class)
        .bind(next.revision)
        .bind(next.at)
        .bind(&next.actor)
        .bind(&next.category)
        .bind(&next.suggested)
        .bind(json!(next.reasons).to_string())
        .bind(&next.note)
        .bind(&next.severity)
        .bind(next.fleet_share)
        .bind(next.released_at)
        .execute(&mut *tx)
        .await?;
        append_event(
            self,
            &mut tx,
            audit,
            if next.category == last.suggested {
                "classification.confirm"
            } else {
                "classification.override"
            },
            &format!("patch:{advisory}/{platform_class}"),
            &classification_json(&last),
            &classification_json(&next),
        )
        .await?;
        tx.commit().await?;
        Ok(Some(next))
    }

    /// The (class, name) pairs of an inventory not yet known to be in `class_packages`; worked
    /// out before the write lock is taken.
    pub(crate) fn unknown_class_packages(
        &self,
        platform_class: &str,
        inventory: &crate::InventoryRecord,
    ) -> Vec<(String, String)> {
        let known = match self.class_packages.lock() {
            Ok(known) => known,
            Err(poisoned) => poisoned.into_inner(),
        };
        let names = known.get(platform_class);
        let mut fresh: Vec<(String, String)> = inventory
            .packages
            .iter()
            .flat_map(|p| std::iter::once(p.name.as_str()).chain(p.source.as_deref()))
            .filter(|n| names.is_none_or(|names| !names.contains(*n)))
            .map(|n| (platform_class.to_owned(), n.to_owned()))
            .collect();
        fresh.sort_unstable();
        fresh.dedup();
        fresh
    }

    /// Remembers that hosts of a platform class have these package names (§9.1.4).
    pub(crate) async fn record_class_packages(
        tx: &mut crate::Tx<'_>,
        backend: crate::Backend,
        fresh: &[(String, String)],
    ) -> Result<(), StoreError> {
        for chunk in fresh.chunks(BATCH) {
            let sql = format!(
                "INSERT INTO class_packages (platform_class, name) VALUES {} ON CONFLICT DO NOTHING",
                placeholders(backend, chunk.len(), 2, 1)
            );
            let mut query = sqlx::query(&sql);
            for (class, name) in chunk {
                query = query.bind(class).bind(name);
            }
            query.execute(&mut **tx).await?;
        }
        Ok(())
    }

    pub(crate) fn remember_class_packages(&self, learned: Vec<(String, String)>) {
        let mut known = match self.class_packages.lock() {
            Ok(known) => known,
            Err(poisoned) => poisoned.into_inner(),
        };
        for (class, name) in learned {
            known.entry(class).or_default().insert(name);
        }
    }

    /// For each platform class, which of `names` its hosts have had installed.
    pub async fn class_packages(&self, names: &[String]) -> Result<HashMap<String, HashSet<String>>, StoreError> {
        let mut out: HashMap<String, HashSet<String>> = HashMap::new();
        for chunk in names.chunks(BATCH) {
            let sql = format!(
                "SELECT platform_class, name FROM class_packages WHERE name IN ({})",
                list(self.backend, chunk.len(), 1)
            );
            let mut query = sqlx::query(&sql);
            for name in chunk {
                query = query.bind(name);
            }
            for row in query.fetch_all(&self.pool).await? {
                out.entry(row.get(0)).or_default().insert(row.get(1));
            }
        }
        Ok(out)
    }

    // ---- exceptions and declines ----

    pub async fn create_exception(&self, audit: &Audit, exception: &Exception) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let r = &exception.request;
        sqlx::query(&format!(
            "INSERT INTO exceptions ({EXCEPTION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        ))
        .bind(&exception.id)
        .bind(r.kind.name())
        .bind(&r.selector)
        .bind(json!(r.patches).to_string())
        .bind(&r.reason)
        .bind(&r.workaround)
        .bind(r.target.as_second())
        .bind(&r.application_owner)
        .bind(&exception.requested_by)
        .bind(exception.requested_at.as_second())
        .bind(exception.state.name())
        .bind(&exception.decided_by)
        .bind(exception.decided_at.map(|t| t.as_second()))
        .bind(exception.revoked_at.map(|t| t.as_second()))
        .execute(&mut *tx)
        .await?;
        append_event(
            self,
            &mut tx,
            audit,
            &format!("{}.request", r.kind.name()),
            &format!("exception:{}", exception.id),
            &json!(null),
            &exception_json(exception),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn exceptions(&self) -> Result<Vec<Exception>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {EXCEPTION_COLUMNS} FROM exceptions ORDER BY requested_at, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(exception_row).collect()
    }

    pub async fn exception(&self, id: &str) -> Result<Option<Exception>, StoreError> {
        let row = sqlx::query(&format!("SELECT {EXCEPTION_COLUMNS} FROM exceptions WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(exception_row).transpose()
    }

    /// Stores a decided, revoked or expired exception, if it is still in the state `before` saw
    /// (`false`: someone else changed it first), with the notification it calls for.
    pub async fn update_exception(
        &self,
        audit: &Audit,
        before: &Exception,
        after: &Exception,
        notify: Option<&Notification>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "UPDATE exceptions SET state = $1, decided_by = $2, decided_at = $3, revoked_at = $4 \
             WHERE id = $5 AND state = $6",
        )
        .bind(after.state.name())
        .bind(&after.decided_by)
        .bind(after.decided_at.map(|t| t.as_second()))
        .bind(after.revoked_at.map(|t| t.as_second()))
        .bind(&after.id)
        .bind(before.state.name())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        append_event(
            self,
            &mut tx,
            audit,
            &format!("{}.{}", after.request.kind.name(), after.state.name()),
            &format!("exception:{}", after.id),
            &exception_json(before),
            &exception_json(after),
        )
        .await?;
        if let Some(n) = notify {
            insert_notification(&mut tx, n).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// What `role` has been told, newest first.
    pub async fn notifications(&self, role: &str) -> Result<Vec<Notification>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, role, at, subject, message FROM notifications WHERE role = $1 ORDER BY at DESC, id",
        )
        .bind(role)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| Notification {
                id: r.get(0),
                role: r.get(1),
                at: r.get(2),
                subject: r.get(3),
                message: r.get(4),
            })
            .collect())
    }

    // ---- host labels and directory groups ----

    /// Sets a host's department, platform class, environment and directory groups; `false` if
    /// there is no such host.
    pub async fn set_host_labels(
        &self,
        audit: &Audit,
        host_id: &str,
        labels: &crate::Labels,
        groups: &[String],
    ) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let Some(before) = sqlx::query("SELECT department, platform_class, environment FROM hosts WHERE id = $1")
            .bind(host_id)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(false);
        };
        let old_groups: Vec<String> =
            sqlx::query("SELECT group_name FROM host_groups WHERE host_id = $1 ORDER BY group_name")
                .bind(host_id)
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .map(|r| r.get(0))
                .collect();
        sqlx::query("UPDATE hosts SET department = $1, platform_class = $2, environment = $3 WHERE id = $4")
            .bind(&labels.department)
            .bind(&labels.platform_class)
            .bind(&labels.environment)
            .bind(host_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM host_groups WHERE host_id = $1")
            .bind(host_id)
            .execute(&mut *tx)
            .await?;
        let mut groups: Vec<&String> = groups.iter().collect();
        groups.sort();
        groups.dedup();
        for group in &groups {
            sqlx::query("INSERT INTO host_groups (host_id, group_name) VALUES ($1, $2)")
                .bind(host_id)
                .bind(group)
                .execute(&mut *tx)
                .await?;
        }
        append_event(
            self,
            &mut tx,
            audit,
            "host.labels",
            &format!("host:{host_id}"),
            &json!({"department": before.get::<String, _>(0), "platform_class": before.get::<String, _>(1),
                    "environment": before.get::<String, _>(2), "groups": old_groups}),
            &json!({"department": labels.department, "platform_class": labels.platform_class,
                    "environment": labels.environment, "groups": groups}),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Sets the directory groups of each given host (directory sync), in one transaction.
    pub async fn set_directory_groups(&self, audit: &Audit, hosts: &[(String, Vec<String>)]) -> Result<(), StoreError> {
        let mut tx = self.write().await?;
        let mut changed = Vec::new();
        for (host_id, groups) in hosts {
            let old: Vec<String> =
                sqlx::query("SELECT group_name FROM host_groups WHERE host_id = $1 ORDER BY group_name")
                    .bind(host_id)
                    .fetch_all(&mut *tx)
                    .await?
                    .into_iter()
                    .map(|r| r.get(0))
                    .collect();
            let mut new = groups.clone();
            new.sort();
            new.dedup();
            if old == new {
                continue;
            }
            sqlx::query("DELETE FROM host_groups WHERE host_id = $1")
                .bind(host_id)
                .execute(&mut *tx)
                .await?;
            for group in &new {
                sqlx::query("INSERT INTO host_groups (host_id, group_name) VALUES ($1, $2)")
                    .bind(host_id)
                    .bind(group)
                    .execute(&mut *tx)
                    .await?;
            }
            changed.push(json!({"host": host_id, "before": old, "after": new}));
        }
        if !changed.is_empty() {
            append_event(
                self,
                &mut tx,
                audit,
                "directory.groups",
                "hosts",
                &json!(null),
                &json!(changed),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    // ---- certified compliance forms ----

    /// Archives a certified form; `false` if that department's month is already certified (a
    /// certified report is never replaced, §13.2).
    pub async fn certify(&self, audit: &Audit, report: &CertifiedReport) -> Result<bool, StoreError> {
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "INSERT INTO compliance_reports (department, month, report, sha256, certified_by, name, job_title, \
             signed_on, certified_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
        )
        .bind(&report.department)
        .bind(&report.month)
        .bind(&report.report)
        .bind(&report.sha256)
        .bind(&report.certified_by)
        .bind(&report.name)
        .bind(&report.job_title)
        .bind(&report.signed_on)
        .bind(report.certified_at)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        append_event(
            self,
            &mut tx,
            audit,
            "compliance.certify",
            &format!("compliance:{}/{}", report.department, report.month),
            &json!(null),
            &json!({"sha256": report.sha256, "name": report.name, "job_title": report.job_title,
                    "signed_on": report.signed_on}),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn certified_report(&self, department: &str, month: &str) -> Result<Option<CertifiedReport>, StoreError> {
        let row = sqlx::query(
            "SELECT department, month, report, sha256, certified_by, name, job_title, signed_on, certified_at \
             FROM compliance_reports WHERE department = $1 AND month = $2",
        )
        .bind(department)
        .bind(month)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| CertifiedReport {
            department: r.get(0),
            month: r.get(1),
            report: r.get(2),
            sha256: r.get(3),
            certified_by: r.get(4),
            name: r.get(5),
            job_title: r.get(6),
            signed_on: r.get(7),
            certified_at: r.get(8),
        }))
    }
}
