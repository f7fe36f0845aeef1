//! Changes on the server: moving a change through its life cycle and creating the jobs each move
//! calls for (test ring, production waves), handing jobs to agents at check-in, recording their
//! results with retries, opening or pausing waves, and verifying jobs from later inventories
//! (§10–§13). The rules are the domain's (`change.rs`); this module reads and writes the store.

use std::collections::{BTreeSet, HashMap};

use patchwarden_domain::change::{self, Action, Actor, Gate, Rollout, WaveTally, Window};
use patchwarden_domain::classification::PlatformClass;
use patchwarden_domain::selector::Selector;
use patchwarden_proto::{Job, JobItem, JobResult};
use patchwarden_store::{Audit, ChangeRow, HostRow, JobFilter, JobRow};

use crate::api::host_facts;
use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::secrets;
use crate::state::AppState;

/// A dispatched job the agent has not answered for this long is handed out again.
const REDISPATCH_SECONDS: i64 = 3600;
/// The environment label of production hosts; every other host is in the test ring (§10.3).
pub const PRODUCTION: &str = "production";

pub fn rollout_of(c: &ChangeRow) -> Rollout {
    serde_json::from_str::<serde_json::Value>(&c.rollout)
        .ok()
        .and_then(|v| {
            Some(Rollout {
                waves: v["waves"]
                    .as_array()?
                    .iter()
                    .filter_map(serde_json::Value::as_f64)
                    .collect(),
                success_share: v["success_share"].as_f64()?,
                failure_share: v["failure_share"].as_f64()?,
                retries: v["retries"]
                    .as_u64()
                    .map_or(Rollout::default().retries, |r| u32::try_from(r).unwrap_or(u32::MAX)),
            })
        })
        .unwrap_or_default()
}

fn domain_change(c: &ChangeRow, signed_off: bool) -> Result<change::Change, ApiError> {
    Ok(change::Change {
        state: change::State::parse(&c.state)
            .ok_or_else(|| ApiError::internal(format!("change {} has an unknown state", c.id)))?,
        emergency: c.emergency,
        requested_by: c.requested_by.clone(),
        approved_by: c.approved_by.clone(),
        security_approved_by: c.security_approved_by.clone(),
        signed_off,
    })
}

/// Hosts the change targets that still miss one of its patches, in a stable order.
async fn targets(state: &AppState, c: &ChangeRow) -> Result<Vec<HostRow>, ApiError> {
    let selector =
        Selector::parse(&c.selector).map_err(|e| ApiError::internal(format!("change {} selector: {e}", c.id)))?;
    let missing = state.store.missing_by_host(&c.patches).await?;
    let mut hosts: Vec<HostRow> = state
        .store
        .hosts()
        .await?
        .into_iter()
        .filter(|h| !h.revoked && missing.contains_key(&h.id) && selector.matches(&host_facts(h)))
        .collect();
    hosts.sort_by(|a, b| (&a.hostname, &a.id).cmp(&(&b.hostname, &b.id)));
    Ok(hosts)
}

fn new_job(c: &ChangeRow, host_id: &str, ring: &str, wave: i64, now: i64) -> JobRow {
    JobRow {
        id: secrets::id(),
        change_id: c.id.clone(),
        host_id: host_id.to_owned(),
        ring: ring.into(),
        wave,
        state: "pending".into(),
        attempts: 0,
        not_before: c.start_at.max(now),
        items: "[]".into(),
        exit_status: None,
        output: String::new(),
        created_at: now,
        dispatched_at: None,
        finished_at: None,
        verified_at: None,
    }
}

/// Whether every platform class of the test ring has a passing test record (§10.4).
async fn signed_off(state: &AppState, c: &ChangeRow) -> Result<bool, ApiError> {
    let tests = state.store.test_records(&c.id).await?;
    let passed: BTreeSet<String> = tests
        .iter()
        .filter(|t| t.passed)
        .map(|t| t.platform_class.clone())
        .collect();
    let jobs = state
        .store
        .jobs(&JobFilter {
            change: Some(c.id.clone()),
            ..JobFilter::default()
        })
        .await?;
    let hosts: HashMap<String, HostRow> = state
        .store
        .hosts()
        .await?
        .into_iter()
        .map(|h| (h.id.clone(), h))
        .collect();
    let classes: BTreeSet<String> = jobs
        .iter()
        .filter(|j| j.ring == "test")
        .filter_map(|j| hosts.get(&j.host_id))
        .map(|h| PlatformClass::of_label(&h.labels.platform_class).name().to_owned())
        .collect();
    Ok(if classes.is_empty() {
        !passed.is_empty()
    } else {
        classes.iter().all(|c| passed.contains(c))
    })
}

/// Who `principal` is to this change for `action`.
fn actor(principal: &Principal, c: &ChangeRow, action: Action) -> Result<Actor, ApiError> {
    if matches!(action, Action::Submit | Action::Cancel) && principal.username == c.requested_by {
        return Ok(Actor::Requester);
    }
    match principal.role {
        Role::ChangeManager => Ok(Actor::ChangeManager),
        Role::Security => Ok(Actor::Security),
        Role::Operator | Role::Administrator => Ok(Actor::Operator),
        other => Err(ApiError::forbidden(format!(
            "the {} role does not act on changes",
            other.name()
        ))),
    }
}

/// Applies `action` to a change and creates the jobs it calls for: starting the test sends the
/// change to the non-production hosts it targets; releasing sends it to production in waves (an
/// emergency released before testing goes to every target at once, §12.3).
pub async fn act(
    state: &AppState,
    principal: &Principal,
    id: &str,
    action: Action,
    now: i64,
) -> Result<ChangeRow, ApiError> {
    let before = state
        .store
        .change(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no change {id}")))?;
    let actor = actor(principal, &before, action)?;
    let mut domain = domain_change(&before, signed_off(state, &before).await?)?;
    let from = domain.state;
    let next = domain
        .apply(action, actor, &principal.username)
        .map_err(|e| ApiError::forbidden(e.to_string()))?;
    let mut after = ChangeRow {
        state: next.name().to_owned(),
        approved_by: domain.approved_by.clone(),
        security_approved_by: domain.security_approved_by.clone(),
        ..before.clone()
    };
    let mut jobs = Vec::new();
    match (action, from) {
        (Action::StartTesting, _) => {
            for host in targets(state, &before).await? {
                if host.labels.environment != PRODUCTION {
                    jobs.push(new_job(&before, &host.id, "test", 0, now));
                }
            }
        }
        (Action::Release, change::State::Approved) => {
            // Emergency before testing: everything at once; the test is recorded afterwards.
            for host in targets(state, &before).await? {
                let ring = if host.labels.environment == PRODUCTION {
                    "production"
                } else {
                    "test"
                };
                jobs.push(new_job(&before, &host.id, ring, 1, now));
            }
            after.open_wave = 1;
        }
        (Action::RollBack, _) => {
            // Every host that took the change gets a job bringing its packages back.
            let done = state
                .store
                .jobs(&JobFilter {
                    change: Some(before.id.clone()),
                    states: vec!["succeeded".into(), "reboot_required".into(), "verified".into()],
                    ..JobFilter::default()
                })
                .await?;
            for job in done.iter().filter(|j| j.ring != "rollback") {
                let items: Vec<JobItem> = serde_json::from_str::<Vec<JobItem>>(&job.items)
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|i| {
                        Some(JobItem {
                            version: i.previous.clone()?,
                            previous: Some(i.version),
                            package: i.package,
                            sha256: None,
                        })
                    })
                    .collect();
                if !items.is_empty() {
                    jobs.push(JobRow {
                        items: serde_json::to_string(&items).unwrap_or_else(|_| "[]".into()),
                        not_before: now,
                        ..new_job(&before, &job.host_id, "rollback", 0, now)
                    });
                }
            }
        }
        (Action::Release, _) => {
            let rollout = rollout_of(&before);
            let production: Vec<HostRow> = targets(state, &before)
                .await?
                .into_iter()
                .filter(|h| h.labels.environment == PRODUCTION)
                .collect();
            for (i, host) in production.iter().enumerate() {
                let wave = i64::try_from(rollout.wave_of(i, production.len())).unwrap_or(1);
                jobs.push(new_job(&before, &host.id, "production", wave, now));
            }
            after.open_wave = 1;
        }
        _ => {}
    }
    if action == Action::Release {
        after.released_at = Some(now);
    }
    let what = match action {
        Action::Submit => "submit",
        Action::Approve => "approve",
        Action::Reject => "reject",
        Action::StartTesting => "start_testing",
        Action::Release => "release",
        Action::Cancel => "cancel",
        Action::RollBack => "roll_back",
    };
    if !state
        .store
        .update_change(&principal.audit(now), what, &before, &after, &jobs)
        .await?
    {
        return Err(ApiError::conflict(format!(
            "change {id} changed meanwhile; read it again"
        )));
    }
    Ok(after)
}

/// The jobs a checking-in host should carry out now, most urgent first: its change is testing or
/// released and not paused, its wave is open, and it is inside a maintenance window unless the
/// change is an emergency (§12.3). What each job installs is the fixed versions the host's
/// findings name for the change's patches; a job with nothing left to install is verified.
pub async fn dispatch(state: &AppState, host_id: &str, now: i64) -> Result<Vec<Job>, ApiError> {
    let waiting = state
        .store
        .jobs(&JobFilter {
            host: Some(host_id.to_owned()),
            states: vec!["pending".into(), "dispatched".into()],
            ..JobFilter::default()
        })
        .await?;
    if waiting.is_empty() {
        return Ok(Vec::new());
    }
    let calendar = state.policy.calendar().map_err(|e| ApiError::internal(e.to_string()))?;
    let at = crate::clock::timestamp(now);
    let findings = state.store.host_findings(host_id).await?;
    let files = state.store.patch_files().await?;
    let mut changes: HashMap<String, Option<ChangeRow>> = HashMap::new();
    let held = held_changes(state, host_id, &waiting).await?;
    let mut chosen: Vec<(bool, i64, JobRow, ChangeRow)> = Vec::new();
    for job in waiting {
        if job.state == "dispatched" && job.dispatched_at.is_some_and(|d| now - d < REDISPATCH_SECONDS) {
            continue;
        }
        if job.not_before > now {
            continue;
        }
        if !changes.contains_key(&job.change_id) {
            let c = state.store.change(&job.change_id).await?;
            changes.insert(job.change_id.clone(), c);
        }
        let Some(Some(c)) = changes.get(&job.change_id) else {
            continue;
        };
        // A rolled-back change sends only its rollback jobs, at once.
        let rollback = job.ring == "rollback";
        let running = if rollback {
            c.state == "rolled_back"
        } else {
            change::State::parse(&c.state).is_some_and(change::State::dispatches) && c.paused.is_none()
        };
        let wave_open = job.ring != "production" || job.wave <= c.open_wave;
        let in_window = c.emergency
            || rollback
            || c.windows.is_empty()
            || c.windows
                .iter()
                .filter_map(|w| Window::parse(w).ok())
                .any(|w| w.contains(&calendar, at));
        if running && wave_open && in_window && !held.contains(&c.id) {
            chosen.push((c.emergency, job.created_at, job, c.clone()));
        }
    }
    // §14.1: a host back from the road installs the most urgent first.
    chosen.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut out = Vec::new();
    let mut updates = Vec::new();
    for (_, _, mut job, c) in chosen {
        if job.ring == "rollback" {
            job.state = "dispatched".into();
            job.dispatched_at = Some(now);
            out.push(Job {
                id: job.id.clone(),
                change: c.id.clone(),
                emergency: c.emergency,
                reboot: c.reboot.clone(),
                items: serde_json::from_str(&job.items).unwrap_or_default(),
                rollback: true,
            });
            updates.push(job);
            continue;
        }
        let mut items: Vec<JobItem> = findings
            .iter()
            .filter(|f| c.patches.contains(&f.advisory))
            .filter_map(|f| {
                let version = f.fixed.clone()?;
                // A change's patch store file for this package and version goes instead of
                // the host's repositories.
                let sha256 = files
                    .iter()
                    .find(|file| {
                        c.artifacts.contains(&file.sha256) && file.package == f.package && file.version == version
                    })
                    .map(|file| file.sha256.clone());
                Some(JobItem {
                    package: f.package.clone(),
                    version,
                    sha256,
                    previous: Some(f.installed.clone()),
                })
            })
            .collect();
        items.sort_by(|a, b| (&a.package, &a.version).cmp(&(&b.package, &b.version)));
        items.dedup_by(|a, b| a.package == b.package);
        job.items = serde_json::to_string(&items).unwrap_or_else(|_| "[]".into());
        if items.is_empty() {
            job.state = "verified".into();
            job.verified_at = Some(now);
            job.finished_at = Some(now);
        } else {
            job.state = "dispatched".into();
            job.dispatched_at = Some(now);
            out.push(Job {
                id: job.id.clone(),
                change: c.id.clone(),
                emergency: c.emergency,
                reboot: c.reboot.clone(),
                items,
                rollback: false,
            });
        }
        updates.push(job);
    }
    let audit = Audit {
        actor: "system".into(),
        at: now,
    };
    state.store.dispatch_jobs(&audit, &updates).await?;
    Ok(out)
}

/// The patches classified Emergency or Critical for some platform class, read once for many
/// changes.
pub async fn critical_patches(state: &AppState) -> Result<BTreeSet<String>, ApiError> {
    Ok(state
        .store
        .classifications(None)
        .await?
        .into_iter()
        .filter(|k| matches!(k.category.as_str(), "Emergency" | "Critical"))
        .map(|k| k.advisory)
        .collect())
}

/// Whether a change carries a critical release (§13.1): an emergency, or one of `critical`.
pub fn is_critical(c: &ChangeRow, critical: &BTreeSet<String>) -> bool {
    c.emergency || c.patches.iter().any(|p| critical.contains(p))
}

/// Asks every host the change targeted for a fresh inventory at its next check-in.
pub async fn request_scan(state: &AppState, c: &ChangeRow, audit: &Audit) -> Result<bool, ApiError> {
    let hosts: BTreeSet<String> = state
        .store
        .jobs(&JobFilter {
            change: Some(c.id.clone()),
            ..JobFilter::default()
        })
        .await?
        .into_iter()
        .map(|j| j.host_id)
        .collect();
    Ok(state
        .store
        .request_scan(audit, &c.id, &hosts.into_iter().collect::<Vec<_>>())
        .await?)
}

/// Schedules the post-patch audit scans the policy requires (§13.1): a critical release is scanned
/// when its rollout has finished, and at the latest one day before the policy's window ends.
pub async fn schedule_scans(state: &AppState, now: i64) -> Result<usize, ApiError> {
    let window = i64::from(state.policy.post_patch_audit_days) * 86_400;
    let audit = Audit {
        actor: "system".into(),
        at: now,
    };
    let mut requested = 0;
    let mut critical = None;
    for c in state.store.changes().await? {
        let (Some(released), None) = (c.released_at, c.scan_requested_at) else {
            continue;
        };
        let finished = matches!(c.state.as_str(), "verifying" | "closed");
        let late = now >= released + window - 86_400;
        if !(finished || late) {
            continue;
        }
        if critical.is_none() {
            critical = Some(critical_patches(state).await?);
        }
        if critical.as_ref().is_some_and(|k| is_critical(&c, k)) && request_scan(state, &c, &audit).await? {
            requested += 1;
        }
    }
    Ok(requested)
}

/// The changes held on this host by an open problem report (§10.6): an application the host runs
/// has a problem with the change.
async fn held_changes(state: &AppState, host_id: &str, jobs: &[JobRow]) -> Result<BTreeSet<String>, ApiError> {
    let mut held = BTreeSet::new();
    let mut host = None;
    let mut applications = None;
    let ids: BTreeSet<&str> = jobs.iter().map(|j| j.change_id.as_str()).collect();
    for change in ids {
        let open: Vec<_> = state
            .store
            .problems(change)
            .await?
            .into_iter()
            .filter(|p| p.resolved_at.is_none())
            .collect();
        if open.is_empty() {
            continue;
        }
        if host.is_none() {
            host = state.store.host(host_id).await?;
            applications = Some(state.store.applications().await?);
        }
        let (Some(h), Some(apps)) = (&host, &applications) else {
            continue;
        };
        let facts = host_facts(h);
        let runs = |name: &str| {
            apps.iter()
                .filter(|a| a.name == name)
                .any(|a| Selector::parse(&a.selector).is_ok_and(|s| s.matches(&facts)))
        };
        if open.iter().any(|p| runs(&p.application)) {
            held.insert(change.to_owned());
        }
    }
    Ok(held)
}

/// Records what the agent says became of a job; a failure is retried with backoff as many times
/// as the change's rollout allows (§12), then given up. The rollout is re-evaluated after.
pub async fn record_result(
    state: &AppState,
    host_id: &str,
    job_id: &str,
    result: &JobResult,
    now: i64,
) -> Result<JobRow, ApiError> {
    let jobs = state
        .store
        .jobs(&JobFilter {
            host: Some(host_id.to_owned()),
            ..JobFilter::default()
        })
        .await?;
    let before = jobs
        .into_iter()
        .find(|j| j.id == job_id)
        .ok_or_else(|| ApiError::not_found(format!("host {host_id} has no job {job_id}")))?;
    if before.state != "dispatched" {
        return Err(ApiError::conflict(format!(
            "job {job_id} is {}, not waiting for a result",
            before.state
        )));
    }
    let mut after = before.clone();
    after.exit_status = result.exit_status.map(i64::from);
    after.output = tail(&result.output, 40, 8192);
    after.finished_at = Some(now);
    after.state = match result.status.as_str() {
        "succeeded" => "succeeded".into(),
        "reboot_required" => "reboot_required".into(),
        "failed" => {
            after.attempts += 1;
            let at = crate::clock::timestamp(now);
            let change = state.store.change(&before.change_id).await?;
            let attempts = change
                .as_ref()
                .map_or(Rollout::default().retries, |c| rollout_of(c).retries)
                + 1;
            match change::retry_at(at, u32::try_from(after.attempts).unwrap_or(u32::MAX), attempts) {
                Some(retry) => {
                    after.not_before = retry.as_second();
                    "pending".into()
                }
                None => "given_up".into(),
            }
        }
        other => {
            return Err(ApiError::unprocessable(
                "invalid_result",
                format!("status {other:?} is not succeeded, failed or reboot_required"),
            ));
        }
    };
    let audit = Audit {
        actor: format!("host:{host_id}"),
        at: now,
    };
    if !state.store.finish_job(&audit, &before, &after).await? {
        return Err(ApiError::conflict(format!("job {job_id} changed meanwhile")));
    }
    advance(state, &before.change_id, now).await?;
    Ok(after)
}

/// At most `lines` last lines and `bytes` bytes of an output.
fn tail(output: &str, lines: usize, bytes: usize) -> String {
    let mut start = output.len().saturating_sub(bytes);
    while !output.is_char_boundary(start) {
        start += 1;
    }
    let kept: Vec<&str> = output[start..].lines().collect();
    kept[kept.len().saturating_sub(lines)..].join("\n")
}

/// Moves a released change along: opens the next wave when the current one succeeded widely
/// enough (an empty wave at once), pauses it when failures pass the threshold, and goes to
/// verifying when every wave has finished; a verifying change closes when every job is verified
/// or given up.
pub async fn advance(state: &AppState, change_id: &str, now: i64) -> Result<(), ApiError> {
    let audit = Audit {
        actor: "system".into(),
        at: now,
    };
    // Each step moves the change once; a few steps can follow one another (empty waves).
    for _ in 0..16 {
        let Some(before) = state.store.change(change_id).await? else {
            return Ok(());
        };
        let jobs = state
            .store
            .jobs(&JobFilter {
                change: Some(change_id.to_owned()),
                ..JobFilter::default()
            })
            .await?;
        let after = next_step(&before, &jobs);
        if after == before
            || !state
                .store
                .update_change(&audit, "advance", &before, &after, &[])
                .await?
        {
            return Ok(());
        }
    }
    Ok(())
}

fn next_step(before: &ChangeRow, jobs: &[JobRow]) -> ChangeRow {
    let mut after = before.clone();
    match before.state.as_str() {
        "released" if before.paused.is_none() => {
            let rollout = rollout_of(before);
            let waves = rollout.waves.len().max(usize::try_from(before.open_wave).unwrap_or(0));
            let mut tallies = vec![WaveTally::default(); waves];
            for j in jobs.iter().filter(|j| j.ring == "production" || before.emergency) {
                let wave = usize::try_from(j.wave).ok().and_then(|w| w.checked_sub(1));
                let Some(t) = wave.and_then(|w| tallies.get_mut(w)) else {
                    continue;
                };
                t.jobs += 1;
                match j.state.as_str() {
                    "succeeded" | "reboot_required" | "verified" => t.succeeded += 1,
                    "given_up" => t.failed += 1,
                    _ => {}
                }
            }
            match change::gate(&rollout, usize::try_from(before.open_wave).unwrap_or(0), &tallies) {
                Gate::Open(n) => after.open_wave = i64::try_from(n).unwrap_or(before.open_wave),
                Gate::Pause(reason) => after.paused = Some(reason),
                Gate::Done => after.state = "verifying".into(),
                Gate::Wait => {}
            }
        }
        "verifying" if jobs.iter().all(|j| matches!(j.state.as_str(), "verified" | "given_up")) => {
            after.state = "closed".into();
        }
        _ => {}
    }
    after
}

/// Manual deployments of the host are verified the same way as jobs (§12.4, §13.4).
async fn verify_manual(state: &AppState, host_id: &str, now: i64) -> Result<(), ApiError> {
    let open: Vec<_> = state
        .store
        .manual_deployments(Some(host_id))
        .await?
        .into_iter()
        .filter(|m| m.verified_at.is_none())
        .collect();
    if open.is_empty() {
        return Ok(());
    }
    let missing: BTreeSet<String> = state
        .store
        .host_findings(host_id)
        .await?
        .into_iter()
        .map(|f| f.advisory)
        .collect();
    let verified: Vec<String> = open
        .iter()
        .filter(|m| m.patches.iter().all(|p| !missing.contains(p)))
        .map(|m| m.id.clone())
        .collect();
    let audit = Audit {
        actor: format!("host:{host_id}"),
        at: now,
    };
    state.store.verify_manual_deployments(&audit, &verified).await?;
    Ok(())
}

/// After a host's inventory changed: its finished jobs whose patches it no longer misses are
/// verified (§13.4), and their changes move on.
pub async fn verify_host(state: &AppState, host_id: &str, now: i64) -> Result<(), ApiError> {
    verify_manual(state, host_id, now).await?;
    let finished = state
        .store
        .jobs(&JobFilter {
            host: Some(host_id.to_owned()),
            states: vec!["succeeded".into(), "reboot_required".into()],
            ..JobFilter::default()
        })
        .await?;
    if finished.is_empty() {
        return Ok(());
    }
    let missing: BTreeSet<String> = state
        .store
        .host_findings(host_id)
        .await?
        .into_iter()
        .map(|f| f.advisory)
        .collect();
    let mut verified = Vec::new();
    let mut changes = BTreeSet::new();
    for job in finished.into_iter().filter(|j| j.ring != "rollback") {
        let Some(c) = state.store.change(&job.change_id).await? else {
            continue;
        };
        if c.patches.iter().all(|p| !missing.contains(p)) {
            verified.push(job.id.clone());
            changes.insert(job.change_id.clone());
        }
    }
    let audit = Audit {
        actor: format!("host:{host_id}"),
        at: now,
    };
    state.store.verify_jobs(&audit, &verified).await?;
    for change_id in changes {
        advance(state, &change_id, now).await?;
    }
    Ok(())
}
