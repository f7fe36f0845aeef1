//! The change endpoints (§10–§13): requests for technical change, their actions and test records,
//! the jobs lists (§7.5.4 patches applied, §7.5.5 patches that could not be applied), and the
//! agent's job results.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use patchwarden_domain::change::{Action, Rollout, Window};
use patchwarden_domain::selector::Selector;
use patchwarden_proto::JobResult;
use patchwarden_store::{ChangeRow, JobFilter, JobRow, TestRecord};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::{Body, body};
use crate::auth::{self, Role};
use crate::changes;
use crate::clock;
use crate::error::ApiError;
use crate::secrets;
use crate::state::AppState;

/// Operators (and administrators) request, test and release changes.
pub const OPERATORS: &[Role] = &[Role::Administrator, Role::Operator];
/// Who acts on a change: requesters and operators, the change manager, Security (emergencies).
pub const ACTORS: &[Role] = &[Role::Administrator, Role::Operator, Role::ChangeManager, Role::Security];

/// A change by id, or a 404 naming it.
async fn change(state: &AppState, id: &str) -> Result<ChangeRow, ApiError> {
    state
        .store
        .change(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no change {id}")))
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::unprocessable("invalid_change", message)
}

fn change_json(c: &ChangeRow) -> Value {
    json!({
        "id": c.id, "title": c.title, "patches": c.patches, "artifacts": c.artifacts, "selector": c.selector, "emergency": c.emergency,
        "rollout": serde_json::from_str::<Value>(&c.rollout).unwrap_or(Value::Null), "windows": c.windows,
        "reboot": c.reboot, "notice": c.notice, "start": clock::rfc3339(c.start_at), "state": c.state,
        "requested_by": c.requested_by, "requested_at": clock::rfc3339(c.requested_at),
        "approved_by": c.approved_by, "security_approved_by": c.security_approved_by,
        "open_wave": c.open_wave, "paused": c.paused, "released_at": c.released_at.map(clock::rfc3339),
        "scan_requested_at": c.scan_requested_at.map(clock::rfc3339),
    })
}

fn job_json(j: &JobRow) -> Value {
    json!({
        "id": j.id, "change": j.change_id, "host": j.host_id, "ring": j.ring, "wave": j.wave, "state": j.state,
        "attempts": j.attempts, "items": serde_json::from_str::<Value>(&j.items).unwrap_or(Value::Null),
        "exit_status": j.exit_status, "output": j.output, "created_at": clock::rfc3339(j.created_at),
        "dispatched_at": j.dispatched_at.map(clock::rfc3339), "finished_at": j.finished_at.map(clock::rfc3339),
        "verified_at": j.verified_at.map(clock::rfc3339),
    })
}

#[derive(Deserialize)]
struct NewChange {
    title: String,
    patches: Vec<String>,
    /// Patch store files (SHA-256) to deploy.
    #[serde(default)]
    artifacts: Vec<String>,
    selector: String,
    #[serde(default)]
    emergency: bool,
    #[serde(default)]
    waves: Option<Vec<f64>>,
    #[serde(default)]
    success_share: Option<f64>,
    #[serde(default)]
    failure_share: Option<f64>,
    #[serde(default)]
    retries: Option<u32>,
    #[serde(default)]
    windows: Vec<String>,
    #[serde(default = "default_reboot")]
    reboot: String,
    notice: String,
    /// RFC 3339; now by default.
    #[serde(default)]
    start: Option<String>,
}

fn default_reboot() -> String {
    "if_required".into()
}

pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    let now = clock::now();
    let principal = auth::authorize(&state, &headers, OPERATORS, now).await?;
    let r: NewChange = body(&bytes)?;
    if r.title.trim().is_empty() {
        return Err(invalid("title is empty"));
    }
    if r.notice.trim().is_empty() {
        return Err(invalid("notice: the staff notification text is required (§11.3)"));
    }
    if r.patches.is_empty() || r.patches.iter().any(|p| p.trim().is_empty()) {
        return Err(invalid("patches: name at least one patch (advisory id), none empty"));
    }
    Selector::parse(&r.selector).map_err(|e| invalid(format!("selector: {e}")))?;
    let defaults = Rollout::default();
    let rollout = Rollout {
        waves: r.waves.unwrap_or(defaults.waves),
        success_share: r.success_share.unwrap_or(defaults.success_share),
        failure_share: r.failure_share.unwrap_or(defaults.failure_share),
        retries: r.retries.unwrap_or(defaults.retries),
    };
    rollout.validate().map_err(invalid)?;
    for w in &r.windows {
        Window::parse(w).map_err(invalid)?;
    }
    if !matches!(r.reboot.as_str(), "never" | "if_required" | "always") {
        return Err(invalid(format!(
            "reboot {:?} is not never, if_required or always",
            r.reboot
        )));
    }
    let start_at = match &r.start {
        Some(t) => t
            .parse::<jiff::Timestamp>()
            .map_err(|_| invalid(format!("start {t:?} is not an RFC 3339 time")))?
            .as_second(),
        None => now,
    };
    let stored: Vec<String> = state.store.patch_files().await?.into_iter().map(|f| f.sha256).collect();
    if let Some(unknown) = r.artifacts.iter().find(|a| !stored.contains(a)) {
        return Err(invalid(format!("artifacts: no file {unknown} in the patch store")));
    }
    let change = ChangeRow {
        id: secrets::id(),
        title: r.title,
        patches: r.patches,
        artifacts: r.artifacts,
        selector: r.selector,
        emergency: r.emergency,
        rollout: json!({"waves": rollout.waves, "success_share": rollout.success_share,
                        "failure_share": rollout.failure_share, "retries": rollout.retries})
        .to_string(),
        windows: r.windows,
        reboot: r.reboot,
        notice: r.notice,
        start_at,
        state: "draft".into(),
        requested_by: principal.username.clone(),
        requested_at: now,
        approved_by: None,
        security_approved_by: None,
        open_wave: 0,
        paused: None,
        released_at: None,
        scan_requested_at: None,
    };
    state.store.create_change(&principal.audit(now), &change).await?;
    Ok((StatusCode::CREATED, Json(change_json(&change))).into_response())
}

pub async fn list(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    auth::authorize(&state, &headers, &Role::ALL, clock::now()).await?;
    let all = state.store.changes().await?;
    Ok(Json(json!({"changes": all.iter().map(change_json).collect::<Vec<_>>()})).into_response())
}

pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    auth::authorize(&state, &headers, &Role::ALL, clock::now()).await?;
    let change = change(&state, &id).await?;
    let tests = state.store.test_records(&id).await?;
    let jobs = state
        .store
        .jobs(&JobFilter {
            change: Some(id.clone()),
            ..JobFilter::default()
        })
        .await?;
    let mut out = change_json(&change);
    out["tests"] = tests
        .iter()
        .map(|t| {
            json!({"platform_class": t.platform_class, "image": t.image, "by": t.tested_by,
                   "at": clock::rfc3339(t.tested_at), "passed": t.passed, "notes": t.notes})
        })
        .collect();
    out["jobs"] = jobs.iter().map(job_json).collect();
    out["problems"] = state
        .store
        .problems(&id)
        .await?
        .iter()
        .map(|p| {
            json!({"id": p.id, "application": p.application, "reported_by": p.reported_by,
                   "at": clock::rfc3339(p.at), "description": p.description, "resolved_by": p.resolved_by,
                   "resolved_at": p.resolved_at.map(clock::rfc3339)})
        })
        .collect();
    Ok(Json(out).into_response())
}

#[derive(Deserialize)]
struct ActionRequest {
    action: String,
}

pub async fn act(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    let now = clock::now();
    let principal = auth::authorize(&state, &headers, ACTORS, now).await?;
    let request: ActionRequest = body(&bytes)?;
    let action = Action::parse(&request.action).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_action",
            format!(
                "action {:?} is not submit, approve, reject, start_testing, release, cancel or roll_back",
                request.action
            ),
        )
    })?;
    let after = changes::act(&state, &principal, &id, action, now).await?;
    changes::advance(&state, &id, now).await?;
    Ok(Json(change_json(&after)).into_response())
}

#[derive(Deserialize)]
struct NewTest {
    platform_class: String,
    #[serde(default)]
    image: String,
    passed: bool,
    #[serde(default)]
    notes: String,
}

/// An operator records a test of the change on a platform class or system image (§10.4); an
/// emergency change's test is recorded after its release (§12.5).
pub async fn record_test(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    let now = clock::now();
    let principal = auth::authorize(&state, &headers, OPERATORS, now).await?;
    let r: NewTest = body(&bytes)?;
    let class = crate::policy_api::platform_class(&r.platform_class).map_err(invalid)?;
    let change = change(&state, &id).await?;
    let testable = change.state == "testing"
        || (change.emergency && matches!(change.state.as_str(), "released" | "verifying" | "closed"));
    if !testable {
        return Err(ApiError::conflict(format!(
            "change {id} is {}; tests are recorded while testing",
            change.state
        )));
    }
    let record = TestRecord {
        change_id: id,
        platform_class: class.name().to_owned(),
        image: r.image,
        tested_by: principal.username.clone(),
        tested_at: now,
        passed: r.passed,
        notes: r.notes,
    };
    state.store.add_test_record(&principal.audit(now), &record).await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({"change": record.change_id, "platform_class": record.platform_class,
                                            "passed": record.passed}),
        ),
    )
        .into_response())
}

#[derive(Debug, Default, Deserialize)]
pub struct JobQuery {
    change: Option<String>,
    host: Option<String>,
    /// `applied` (succeeded, reboot required or verified), `failed` (given up or retrying), or a
    /// job state.
    state: Option<String>,
    /// Finished at or after (RFC 3339).
    from: Option<String>,
    /// Finished before (RFC 3339).
    to: Option<String>,
    department: Option<String>,
}

/// Patches applied and patches that could not be applied, per host, change, department and
/// period (§7.5.4, §7.5.5).
pub async fn jobs(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<JobQuery>,
) -> Result<Response, ApiError> {
    auth::authorize(&state, &headers, &Role::ALL, clock::now()).await?;
    let states: Vec<String> = match q.state.as_deref() {
        None => Vec::new(),
        Some("applied") => vec!["succeeded".into(), "reboot_required".into(), "verified".into()],
        Some("failed") => vec!["given_up".into(), "pending".into()],
        Some(s) => vec![s.to_owned()],
    };
    let time = |field: &str, t: &Option<String>| -> Result<Option<i64>, ApiError> {
        t.as_deref()
            .map(|t| {
                t.parse::<jiff::Timestamp>().map(|t| t.as_second()).map_err(|_| {
                    ApiError::bad_request("invalid_query", format!("{field}: {t:?} is not an RFC 3339 time"))
                })
            })
            .transpose()
    };
    let (from, to) = (time("from", &q.from)?, time("to", &q.to)?);
    let mut rows = state
        .store
        .jobs(&JobFilter {
            change: q.change.clone(),
            host: q.host.clone(),
            states,
        })
        .await?;
    if q.state.as_deref() == Some("failed") {
        rows.retain(|j| j.state == "given_up" || j.attempts > 0);
    }
    rows.retain(|j| {
        from.is_none_or(|f| j.finished_at.is_some_and(|t| t >= f))
            && to.is_none_or(|e| j.finished_at.is_some_and(|t| t < e))
    });
    let hosts: std::collections::HashMap<String, (String, String)> = state
        .store
        .hosts()
        .await?
        .into_iter()
        .map(|h| (h.id, (h.hostname, h.labels.department)))
        .collect();
    if let Some(d) = &q.department {
        rows.retain(|j| hosts.get(&j.host_id).is_some_and(|(_, dept)| dept == d));
    }
    let out: Vec<Value> = rows
        .iter()
        .map(|j| {
            let mut v = job_json(j);
            if let Some((name, dept)) = hosts.get(&j.host_id) {
                v["hostname"] = json!(name);
                v["department"] = json!(dept);
            }
            v
        })
        .collect();
    Ok(Json(json!({"jobs": out})).into_response())
}

#[derive(Debug, Deserialize)]
pub struct UploadQuery {
    name: Option<String>,
    package: Option<String>,
    version: Option<String>,
}

/// The largest file the patch store takes.
pub const MAX_PATCH_FILE: usize = 256 << 20;

/// Uploads a package file to the patch store, kept under its SHA-256 (§14.4).
pub async fn upload(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<UploadQuery>,
    Body(bytes): Body<MAX_PATCH_FILE>,
) -> Result<Response, ApiError> {
    let now = clock::now();
    let principal = auth::authorize(&state, &headers, OPERATORS, now).await?;
    let (Some(name), Some(package), Some(version)) = (q.name, q.package, q.version) else {
        return Err(ApiError::bad_request(
            "invalid_query",
            "name, package and version are required (the file's name, the package it installs and its version)",
        ));
    };
    let safe = |s: &str| !s.is_empty() && s.len() <= 255 && !s.contains(['/', '\\', '\0']) && s != "." && s != "..";
    if !safe(&name) || !(name.ends_with(".deb") || name.ends_with(".rpm")) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("name {name:?} must be a .deb or .rpm file name"),
        ));
    }
    if bytes.is_empty() {
        return Err(ApiError::bad_request("invalid_body", "the file is empty"));
    }
    let sha256 = secrets::sha256_hex(&bytes);
    let dir = state.patch_files.to_path_buf();
    let path = dir.join(&sha256);
    // Written aside and renamed: a file under its SHA-256 name is always whole.
    let partial = dir.join(format!(".{sha256}.partial"));
    let write = {
        let bytes = bytes.clone();
        move || -> std::io::Result<()> {
            std::fs::create_dir_all(&dir)?;
            std::fs::write(&partial, &bytes)?;
            std::fs::rename(&partial, &path)
        }
    };
    tokio::task::spawn_blocking(write)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::internal(format!("storing the file: {e}")))?;
    let file = patchwarden_store::PatchFile {
        sha256: sha256.clone(),
        name,
        package,
        version,
        size: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
        uploaded_by: principal.username.clone(),
        uploaded_at: now,
    };
    let created = state.store.add_patch_file(&principal.audit(now), &file).await?;
    Ok((
        if created { StatusCode::CREATED } else { StatusCode::OK },
        Json(
            json!({"sha256": sha256, "name": file.name, "package": file.package, "version": file.version,
                    "size": file.size}),
        ),
    )
        .into_response())
}

pub async fn patch_files(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    auth::authorize(&state, &headers, &Role::ALL, clock::now()).await?;
    let files: Vec<Value> = state
        .store
        .patch_files()
        .await?
        .iter()
        .map(|f| {
            json!({"sha256": f.sha256, "name": f.name, "package": f.package, "version": f.version, "size": f.size,
                   "uploaded_by": f.uploaded_by, "uploaded_at": clock::rfc3339(f.uploaded_at)})
        })
        .collect();
    Ok(Json(json!({"files": files})).into_response())
}

/// An agent fetches a patch store file. The server sends the bytes it has; the agent checks them
/// against the SHA-256 its job names before installing anything.
pub async fn download(
    State(state): State<AppState>,
    Path((host, sha256)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    auth::agent_of(&state, &headers, &host).await?;
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::bad_request(
            "invalid_path",
            "a patch file is named by its SHA-256 (64 hex digits)",
        ));
    }
    let path = state.patch_files.join(&sha256);
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|_| ApiError::not_found(format!("no patch file {sha256}")))?;
    Ok(([(axum::http::header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

#[derive(Deserialize)]
struct NewApplication {
    owner: String,
    /// The hosts it runs on, in the selector language.
    selector: String,
}

/// Administrators record an application, its owner and the hosts it runs on (§10.6).
pub async fn put_application(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    let now = clock::now();
    let principal = auth::authorize(&state, &headers, &[Role::Administrator], now).await?;
    let r: NewApplication = body(&bytes)?;
    Selector::parse(&r.selector).map_err(|e| invalid(format!("selector: {e}")))?;
    auth::require_user_role(&state, "owner", &r.owner, Role::ApplicationOwner)
        .await
        .map_err(invalid)?;
    let app = patchwarden_store::Application {
        name,
        owner: r.owner,
        selector: r.selector,
    };
    state.store.put_application(&principal.audit(now), &app).await?;
    Ok(Json(json!({"name": app.name, "owner": app.owner, "selector": app.selector})).into_response())
}

pub async fn applications(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    auth::authorize(&state, &headers, &Role::ALL, clock::now()).await?;
    let apps: Vec<Value> = state
        .store
        .applications()
        .await?
        .iter()
        .map(|a| json!({"name": a.name, "owner": a.owner, "selector": a.selector}))
        .collect();
    Ok(Json(json!({"applications": apps})).into_response())
}

#[derive(Deserialize)]
struct NewProblem {
    application: String,
    description: String,
}

/// An application owner reports a problem with a change: the hosts running that application get
/// none of the change's jobs until the report is resolved; operators and the change manager are
/// told (§10.6).
pub async fn report_problem(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    let now = clock::now();
    let principal = auth::authorize(&state, &headers, &[Role::ApplicationOwner], now).await?;
    let r: NewProblem = body(&bytes)?;
    if r.description.trim().is_empty() {
        return Err(invalid("description is empty"));
    }
    let change = change(&state, &id).await?;
    let app = state
        .store
        .applications()
        .await?
        .into_iter()
        .find(|a| a.name == r.application)
        .ok_or_else(|| invalid(format!("application: no application {:?}", r.application)))?;
    if app.owner != principal.username {
        return Err(ApiError::forbidden(format!("{} is owned by {}", app.name, app.owner)));
    }
    let problem = patchwarden_store::ProblemReport {
        id: secrets::id(),
        change_id: change.id.clone(),
        application: app.name.clone(),
        reported_by: principal.username.clone(),
        at: now,
        description: r.description,
        resolved_by: None,
        resolved_at: None,
    };
    let notify: Vec<patchwarden_store::Notification> = [Role::Operator, Role::ChangeManager]
        .iter()
        .map(|role| patchwarden_store::Notification {
            id: secrets::id(),
            role: role.name().to_owned(),
            at: now,
            subject: format!("Problem with change {}: {}", change.title, app.name),
            message: format!(
                "{} reports a problem with {} on the hosts running {} ({}); the change is held on them: {}",
                principal.username, change.title, app.name, app.selector, problem.description
            ),
        })
        .collect();
    state
        .store
        .add_problem(&principal.audit(now), &problem, &notify)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": problem.id, "change": id, "application": app.name})),
    )
        .into_response())
}

/// The owner who reported it, or an operator, resolves a problem report; the change goes on to
/// those hosts.
pub async fn resolve_problem(
    State(state): State<AppState>,
    Path((id, problem)): Path<(String, String)>,
    headers: HeaderMap,
    Body(_): Body,
) -> Result<Response, ApiError> {
    let now = clock::now();
    let principal = auth::authorize(&state, &headers, PROBLEM_RESOLVERS, now).await?;
    let report = state
        .store
        .problems(&id)
        .await?
        .into_iter()
        .find(|p| p.id == problem)
        .ok_or_else(|| ApiError::not_found(format!("change {id} has no problem report {problem}")))?;
    if principal.role == Role::ApplicationOwner && report.reported_by != principal.username {
        return Err(ApiError::forbidden(format!(
            "{} reported this problem",
            report.reported_by
        )));
    }
    if !state
        .store
        .resolve_problem(&principal.audit(now), &id, &problem, &principal.username)
        .await?
    {
        return Err(ApiError::conflict(format!(
            "problem report {problem} is already resolved"
        )));
    }
    Ok(Json(json!({"id": problem, "change": id, "resolved_by": principal.username})).into_response())
}

/// Who may resolve a problem report: the owner who reported it, or an operator.
pub const PROBLEM_RESOLVERS: &[Role] = &[Role::ApplicationOwner, Role::Operator, Role::Administrator];

#[derive(Deserialize)]
struct NewManualDeployment {
    patches: Vec<String>,
    /// What was done and how it can be checked (ticket, screenshot reference, engineer's note).
    evidence: String,
    /// RFC 3339; now by default.
    #[serde(default)]
    performed_at: Option<String>,
}

fn manual_json(m: &patchwarden_store::ManualDeployment) -> Value {
    json!({"id": m.id, "host": m.host_id, "patches": m.patches, "evidence": m.evidence, "recorded_by": m.recorded_by,
           "performed_at": clock::rfc3339(m.performed_at), "recorded_at": clock::rfc3339(m.recorded_at),
           "verified_at": m.verified_at.map(clock::rfc3339)})
}

/// An operator records a patch deployed by hand on a device automation cannot reach (§12.4),
/// with its evidence; a later inventory verifies it.
pub async fn record_manual(
    State(state): State<AppState>,
    Path(host): Path<String>,
    headers: HeaderMap,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    let now = clock::now();
    let principal = auth::authorize(&state, &headers, OPERATORS, now).await?;
    let r: NewManualDeployment = body(&bytes)?;
    if r.patches.is_empty() || r.patches.iter().any(|p| p.trim().is_empty()) {
        return Err(invalid("patches: name at least one patch (advisory id), none empty"));
    }
    if r.evidence.trim().is_empty() {
        return Err(invalid("evidence: say what was done and how it can be checked (§12.4)"));
    }
    if state.store.host(&host).await?.is_none() {
        return Err(ApiError::not_found(format!("no host {host}")));
    }
    let performed_at = match &r.performed_at {
        Some(t) => t
            .parse::<jiff::Timestamp>()
            .map_err(|_| invalid(format!("performed_at {t:?} is not an RFC 3339 time")))?
            .as_second(),
        None => now,
    };
    if performed_at > now {
        return Err(invalid("performed_at is in the future"));
    }
    let m = patchwarden_store::ManualDeployment {
        id: secrets::id(),
        host_id: host,
        patches: r.patches,
        evidence: r.evidence,
        recorded_by: principal.username.clone(),
        performed_at,
        recorded_at: now,
        verified_at: None,
    };
    state.store.add_manual_deployment(&principal.audit(now), &m).await?;
    Ok((StatusCode::CREATED, Json(manual_json(&m))).into_response())
}

#[derive(Debug, Default, Deserialize)]
pub struct ManualQuery {
    host: Option<String>,
}

pub async fn manual_deployments(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ManualQuery>,
) -> Result<Response, ApiError> {
    auth::authorize(&state, &headers, &Role::ALL, clock::now()).await?;
    let all = state.store.manual_deployments(q.host.as_deref()).await?;
    Ok(Json(json!({"manual_deployments": all.iter().map(manual_json).collect::<Vec<_>>()})).into_response())
}

/// An operator asks for the change's post-patch audit scan now: every host it targeted sends a
/// fresh inventory at its next check-in (§13.1).
pub async fn scan(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(_): Body,
) -> Result<Response, ApiError> {
    let now = clock::now();
    let principal = auth::authorize(&state, &headers, OPERATORS, now).await?;
    let change = change(&state, &id).await?;
    if change.released_at.is_none() {
        return Err(ApiError::conflict(format!("change {id} has not been released")));
    }
    if !changes::request_scan(&state, &change, &principal.audit(now)).await? {
        return Err(ApiError::conflict(format!("change {id}'s scan was already requested")));
    }
    Ok(Json(json!({"change": id, "scan_requested_at": clock::rfc3339(now)})).into_response())
}

/// The change's verification (§13): for each host it targeted, its job, whether it answered the
/// post-patch audit scan, and which of the change's patches it still misses.
pub async fn verification(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    auth::authorize(&state, &headers, &Role::ALL, clock::now()).await?;
    let change = change(&state, &id).await?;
    let critical = changes::is_critical(&change, &changes::critical_patches(&state).await?);
    let window = i64::from(state.policy.post_patch_audit_days) * 86_400;
    let jobs = state
        .store
        .jobs(&JobFilter {
            change: Some(id.clone()),
            ..JobFilter::default()
        })
        .await?;
    let hosts: std::collections::HashMap<String, patchwarden_store::HostRow> = state
        .store
        .hosts()
        .await?
        .into_iter()
        .map(|h| (h.id.clone(), h))
        .collect();
    let missing_by_host = state.store.missing_by_host(&change.patches).await?;
    let mut rows = Vec::new();
    let mut still_missing = 0;
    for job in &jobs {
        let Some(host) = hosts.get(&job.host_id) else { continue };
        let missing: Vec<&String> = missing_by_host.get(&host.id).into_iter().flatten().collect();
        if !missing.is_empty() {
            still_missing += 1;
        }
        let scanned = change
            .scan_requested_at
            .map(|asked| host.inventory_at.is_some_and(|at| at >= asked));
        rows.push(
            json!({"host": host.id, "hostname": host.hostname, "job": job.state, "scanned": scanned,
                         "last_inventory": host.inventory_at.map(clock::rfc3339), "still_missing": missing}),
        );
    }
    Ok(Json(json!({
        "change": id, "critical": critical, "released_at": change.released_at.map(clock::rfc3339),
        "scan_due": change.released_at.map(|r| clock::rfc3339(r + window)),
        "scan_requested_at": change.scan_requested_at.map(clock::rfc3339),
        "hosts": rows, "hosts_still_missing": still_missing,
    }))
    .into_response())
}

/// An agent reports what became of one of its jobs.
pub async fn job_result(
    State(state): State<AppState>,
    Path((host, job)): Path<(String, String)>,
    headers: HeaderMap,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    auth::agent_of(&state, &headers, &host).await?;
    let result: JobResult = body(&bytes)?;
    let stored = changes::record_result(&state, &host, &job, &result, clock::now()).await?;
    Ok(Json(job_json(&stored)).into_response())
}
