//! The policy engine's endpoints: classification (§9), exceptions and declines (§7.7, §10.8),
//! host labels and directory groups (§7.2.2), deadlines (§12), compliance and the Appendix A form.
//! Roles are checked on every one (§6); requesters never decide their own requests.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use jiff::civil::Date;
use patchwarden_domain::calendar::BusinessCalendar;
use patchwarden_domain::classification::PlatformClass;
use patchwarden_domain::compliance::{self, Form, GroupBy, Obligation, Standing};
use patchwarden_domain::exception::{Exception, Kind, Request, State as ExceptionState};
use patchwarden_domain::policy::Category;
use patchwarden_store::{CertifiedReport, ClassificationRow, Labels, Notification};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::{Body, body};
use crate::auth::{self, Role};
use crate::clock;
use crate::compliance::Snapshot;
use crate::error::ApiError;
use crate::secrets;
use crate::state::AppState;

/// §9, §7.7, §11.2: Security (the ISWG) classifies patches, approves exceptions, certifies forms.
pub const SECURITY: &[Role] = &[Role::Security];
/// §7.7: IM&T managers request exceptions; §10.8.1: the department IT manager records declines.
pub const REQUESTERS: &[Role] = &[Role::Administrator, Role::Operator];
/// Exceptions are decided by Security, declines by their application owner.
pub const DECIDERS: &[Role] = &[Role::Security, Role::ApplicationOwner];

fn calendar(state: &AppState) -> Result<BusinessCalendar, ApiError> {
    state
        .policy
        .calendar()
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "policy", e.to_string()))
}

/// A platform class named exactly, or the message saying what the field must be.
pub fn platform_class(name: &str) -> Result<PlatformClass, String> {
    PlatformClass::parse(name)
        .ok_or_else(|| format!("platform_class {name:?} is not server, desktop, laptop, printer or other"))
}

fn rfc3339(t: Timestamp) -> String {
    t.to_string()
}

/// A time in a query or body: RFC 3339, or a date meaning the start of that day in the policy's
/// time zone.
fn parse_time(calendar: &BusinessCalendar, field: &str, text: &str) -> Result<Timestamp, ApiError> {
    if let Ok(t) = text.parse::<Timestamp>() {
        return Ok(t);
    }
    text.parse::<Date>().map(|d| calendar.start_of(d)).map_err(|_| {
        ApiError::bad_request(
            "invalid_time",
            format!("{field}: {text:?} is neither an RFC 3339 time nor a YYYY-MM-DD date"),
        )
    })
}

/// `YYYY-MM` → the month's first day and the next month's first day.
fn month_bounds(month: &str) -> Result<(Date, Date), ApiError> {
    let bad = || ApiError::bad_request("invalid_month", format!("month: {month:?} is not YYYY-MM"));
    let first: Date = format!("{month}-01").parse().map_err(|_| bad())?;
    if month.len() != 7 {
        return Err(bad());
    }
    let next = first.last_of_month().tomorrow().map_err(|_| bad())?;
    Ok((first, next))
}

// ---- classification ----

fn classification_json(c: &ClassificationRow) -> Value {
    json!({
        "platform_class": c.platform_class, "revision": c.revision, "at": clock::rfc3339(c.at), "by": c.actor,
        "category": c.category, "approved": c.approved, "suggested": c.suggested, "reasons": c.reasons,
        "note": c.note, "severity": c.severity, "fleet_share": c.fleet_share, "released": clock::rfc3339(c.released_at),
    })
}

pub async fn classifications(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    auth::authorize(&state, &headers, &Role::ALL, clock::now()).await?;
    let history = state.store.classification_history(&id).await?;
    if history.is_empty() {
        return Err(ApiError::not_found(format!("patch {id} has not been classified")));
    }
    let mut current: Vec<&ClassificationRow> = Vec::new();
    for c in &history {
        match current.last_mut() {
            Some(last) if last.platform_class == c.platform_class => *last = c,
            _ => current.push(c),
        }
    }
    Ok(Json(json!({
        "patch": id,
        "current": current.iter().map(|c| classification_json(c)).collect::<Vec<_>>(),
        "history": history.iter().map(classification_json).collect::<Vec<_>>(),
    }))
    .into_response())
}

#[derive(Deserialize)]
struct Classify {
    platform_class: String,
    category: String,
    #[serde(default)]
    note: String,
}

/// Security confirms the suggestion (same category) or overrides it; an override needs a note.
pub async fn classify(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    let now = clock::now();
    let principal = auth::authorize(&state, &headers, SECURITY, now).await?;
    let request: Classify = body(&bytes)?;
    let class = platform_class(&request.platform_class)
        .map_err(|message| ApiError::bad_request("invalid_platform_class", message))?;
    let category = Category::parse(&request.category).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_category",
            format!(
                "category {:?} is not Emergency, Critical, Not Critical or Not applicable",
                request.category
            ),
        )
    })?;
    let current = state.store.classification_history(&id).await?;
    let Some(last) = current.iter().rev().find(|c| c.platform_class == class.name()) else {
        return Err(ApiError::not_found(format!(
            "patch {id} has no classification for {class}"
        )));
    };
    if category.name() != last.suggested && request.note.trim().is_empty() {
        return Err(ApiError::bad_request(
            "note_required",
            format!(
                "overriding the suggested {} with {} needs a note saying why",
                last.suggested,
                category.name()
            ),
        ));
    }
    let stored = state
        .store
        .classify(&principal.audit(now), &id, class.name(), category.name(), &request.note)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("patch {id} has no classification for {class}")))?;
    Ok(Json(classification_json(&stored)).into_response())
}

// ---- exceptions and declines ----

fn exception_json(e: &Exception, now: Timestamp) -> Value {
    json!({
        "id": e.id, "kind": e.request.kind.name(), "state": e.state.name(), "in_force": e.in_force(now),
        "selector": e.request.selector, "patches": e.request.patches, "reason": e.request.reason,
        "workaround": e.request.workaround.is_some(), "workaround_text": e.request.workaround,
        "target": rfc3339(e.request.target), "application_owner": e.request.application_owner,
        "requested_by": e.requested_by, "requested_at": rfc3339(e.requested_at),
        "decided_by": e.decided_by, "decided_at": e.decided_at.map(rfc3339), "revoked_at": e.revoked_at.map(rfc3339),
    })
}

pub async fn exceptions(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let now = clock::now();
    auth::authorize(&state, &headers, &Role::ALL, now).await?;
    let all = state.store.exceptions().await?;
    let now = clock::timestamp(now);
    Ok(Json(json!({"exceptions": all.iter().map(|e| exception_json(e, now)).collect::<Vec<_>>()})).into_response())
}

#[derive(Deserialize)]
struct NewException {
    kind: String,
    selector: String,
    patches: Vec<String>,
    reason: String,
    /// The workaround or mitigation in place; absent or null: none.
    #[serde(default)]
    workaround: Option<String>,
    /// RFC 3339 time or YYYY-MM-DD (start of that day).
    target: String,
    #[serde(default)]
    application_owner: Option<String>,
}

pub async fn request_exception(
    State(state): State<AppState>,
    headers: HeaderMap,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    let now = clock::now();
    let principal = auth::authorize(&state, &headers, REQUESTERS, now).await?;
    let request: NewException = body(&bytes)?;
    let exception = new_exception(&state, &principal.username, request, now).await?;
    state.store.create_exception(&principal.audit(now), &exception).await?;
    Ok((
        StatusCode::CREATED,
        Json(exception_json(&exception, clock::timestamp(now))),
    )
        .into_response())
}

async fn new_exception(state: &AppState, requester: &str, r: NewException, now: i64) -> Result<Exception, ApiError> {
    let calendar = calendar(state)?;
    let kind = Kind::parse(&r.kind).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_exception",
            format!("kind {:?} is not exception or decline", r.kind),
        )
    })?;
    let request = Request {
        kind,
        selector: r.selector,
        patches: r.patches,
        reason: r.reason,
        workaround: r.workaround,
        target: parse_time(&calendar, "target", &r.target)?,
        application_owner: r.application_owner,
    };
    request
        .validate(&state.policy, clock::timestamp(now))
        .map_err(|e| ApiError::unprocessable("invalid_exception", e.to_string()))?;
    if let Some(owner) = &request.application_owner {
        auth::require_user_role(state, "application_owner", owner, Role::ApplicationOwner)
            .await
            .map_err(|message| ApiError::unprocessable("invalid_exception", message))?;
    }
    Ok(Exception {
        id: secrets::id(),
        request,
        requested_by: requester.to_owned(),
        requested_at: clock::timestamp(now),
        state: ExceptionState::Requested,
        decided_by: None,
        decided_at: None,
        revoked_at: None,
    })
}

#[derive(Deserialize)]
struct Decision {
    approve: bool,
}

/// Security approves or rejects an exception; the named application owner agrees to or refuses a
/// decline, and Security is told of an agreed one (§10.8.2).
pub async fn decide_exception(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    let now = clock::now();
    let principal = auth::authorize(&state, &headers, DECIDERS, now).await?;
    let decision: Decision = body(&bytes)?;
    let before = state
        .store
        .exception(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no exception {id}")))?;
    let needed = match before.request.kind {
        Kind::Exception => Role::Security,
        Kind::Decline => Role::ApplicationOwner,
    };
    if principal.role != needed {
        return Err(ApiError::forbidden(format!(
            "a {} is decided by the {} role",
            before.request.kind.name(),
            needed.name()
        )));
    }
    let mut after = before.clone();
    after
        .decide(&principal.username, decision.approve, clock::timestamp(now))
        .map_err(|e| ApiError::forbidden(e.to_string()))?;
    let notify =
        (after.request.kind == Kind::Decline && after.state == ExceptionState::Approved).then(|| Notification {
            id: secrets::id(),
            role: Role::Security.name().to_owned(),
            at: now,
            subject: format!("Patch declined: {}", after.request.patches.join(", ")),
            message: format!(
                "{} (IT manager) and {} (application owner) decided not to deploy {} on hosts matching \
                 \"{}\" until {}: {}. Workaround: {}.",
                after.requested_by,
                principal.username,
                after.request.patches.join(", "),
                after.request.selector,
                after.request.target,
                after.request.reason,
                after.request.workaround.as_deref().unwrap_or("none")
            ),
        });
    if !state
        .store
        .update_exception(&principal.audit(now), &before, &after, notify.as_ref())
        .await?
    {
        return Err(ApiError::conflict(format!(
            "exception {id} changed meanwhile; read it again"
        )));
    }
    Ok(Json(exception_json(&after, clock::timestamp(now))).into_response())
}

/// Security withdraws an approved exception or decline; its findings come back at once.
pub async fn revoke_exception(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    // Read and dropped: an unread body would end a kept-alive connection.
    Body(_): Body,
) -> Result<Response, ApiError> {
    let now = clock::now();
    let principal = auth::authorize(&state, &headers, SECURITY, now).await?;
    let before = state
        .store
        .exception(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no exception {id}")))?;
    let mut after = before.clone();
    after
        .revoke(clock::timestamp(now))
        .map_err(|e| ApiError::conflict(e.to_string()))?;
    if !state
        .store
        .update_exception(&principal.audit(now), &before, &after, None)
        .await?
    {
        return Err(ApiError::conflict(format!(
            "exception {id} changed meanwhile; read it again"
        )));
    }
    Ok(Json(exception_json(&after, clock::timestamp(now))).into_response())
}

/// What the caller's role has been told.
pub async fn notifications(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let principal = auth::authorize(&state, &headers, &Role::ALL, clock::now()).await?;
    let all = state.store.notifications(principal.role.name()).await?;
    let rows: Vec<Value> = all
        .iter()
        .map(|n| json!({"id": n.id, "at": clock::rfc3339(n.at), "subject": n.subject, "message": n.message}))
        .collect();
    Ok(Json(json!({"role": principal.role.name(), "notifications": rows})).into_response())
}

// ---- host labels ----

#[derive(Deserialize)]
struct HostLabels {
    department: String,
    platform_class: String,
    environment: String,
    #[serde(default)]
    groups: Vec<String>,
}

/// Administrators set a host's department, platform class, environment and directory groups.
pub async fn set_labels(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    let now = clock::now();
    let principal = auth::authorize(&state, &headers, &[Role::Administrator], now).await?;
    let request: HostLabels = body(&bytes)?;
    if !request.platform_class.is_empty() {
        platform_class(&request.platform_class)
            .map_err(|message| ApiError::bad_request("invalid_platform_class", message))?;
    }
    if let Some(bad) = request.groups.iter().find(|g| g.trim().is_empty() || g.len() > 256) {
        return Err(ApiError::bad_request(
            "invalid_group",
            format!("group {bad:?} must be 1–256 characters"),
        ));
    }
    let labels = Labels {
        department: request.department,
        platform_class: request.platform_class,
        environment: request.environment,
    };
    if !state
        .store
        .set_host_labels(&principal.audit(now), &id, &labels, &request.groups)
        .await?
    {
        return Err(ApiError::not_found(format!("no host {id}")));
    }
    Ok(Json(
        json!({"host": id, "department": labels.department, "platform_class": labels.platform_class,
                   "environment": labels.environment, "groups": request.groups}),
    )
    .into_response())
}

// ---- deadlines and compliance ----

fn obligation_json(snapshot: &Snapshot, o: &Obligation) -> Value {
    let exception = match o.standing {
        Standing::Excepted(i) => snapshot.exceptions.get(i).map(|s| s.exception.id.clone()),
        _ => None,
    };
    json!({
        "host": snapshot.hosts[o.host].id, "patch": o.patch, "category": o.category.name(), "approved": o.approved,
        "due": rfc3339(o.deadline.due), "why": o.deadline.reason, "status": o.standing.name(), "exception": exception,
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct DeadlineQuery {
    /// Only this host.
    host: Option<String>,
    /// Only obligations with this status (`overdue`, `due soon`, `on time`, `excepted`).
    status: Option<String>,
}

/// Every open (host, patch) obligation now, with its deadline, the rule that set it, and its
/// status.
pub async fn deadlines(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<DeadlineQuery>,
) -> Result<Response, ApiError> {
    let now = clock::now();
    auth::authorize(&state, &headers, &Role::ALL, now).await?;
    let calendar = calendar(&state)?;
    let snapshot = Snapshot::load(&state.store, now, now).await?;
    let rows: Vec<Value> = snapshot
        .obligations(&state.policy, &calendar, now, now)
        .iter()
        .filter(|o| !matches!(o.standing, Standing::Deployed { .. }))
        .filter(|o| query.host.as_deref().is_none_or(|h| snapshot.hosts[o.host].id == h))
        .filter(|o| query.status.as_deref().is_none_or(|s| o.standing.name() == s))
        .map(|o| obligation_json(&snapshot, o))
        .collect();
    Ok(Json(json!({"at": clock::rfc3339(now), "deadlines": rows})).into_response())
}

#[derive(Debug, Default, Deserialize)]
pub struct ComplianceQuery {
    /// host, department, platform_class or category.
    by: Option<String>,
    /// End of the period (RFC 3339 or date); now by default.
    at: Option<String>,
    /// Start of the period; the start of `at`'s month by default.
    from: Option<String>,
}

/// Compliance to approved patches, grouped, as of any time.
pub async fn compliance(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<ComplianceQuery>,
) -> Result<Response, ApiError> {
    let now = clock::now();
    auth::authorize(&state, &headers, &Role::ALL, now).await?;
    let calendar = calendar(&state)?;
    let by_name = query.by.as_deref().unwrap_or("department");
    let by = GroupBy::parse(by_name).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_query",
            format!("by: {by_name:?} is not host, department, platform_class or category"),
        )
    })?;
    let at = match &query.at {
        Some(text) => parse_time(&calendar, "at", text)?,
        None => clock::timestamp(now),
    };
    let from = match &query.from {
        Some(text) => parse_time(&calendar, "from", text)?,
        None => calendar.start_of(calendar.date_of(at).first_of_month()),
    };
    if from > at {
        return Err(ApiError::bad_request("invalid_query", "from is after at"));
    }
    let snapshot = Snapshot::load(&state.store, from.as_second(), at.as_second()).await?;
    let obligations = snapshot.obligations(&state.policy, &calendar, from.as_second(), at.as_second());
    let groups: Vec<Value> = compliance::tally(&snapshot.hosts, &obligations, by)
        .iter()
        .map(|(key, t)| {
            json!({"key": key, "percent": t.percent(), "obligations": t.obligations, "deployed": t.deployed,
                   "deployed_late": t.deployed_late, "pending": t.pending, "excepted": t.excepted, "overdue": t.overdue})
        })
        .collect();
    Ok(Json(json!({"by": by_name, "from": rfc3339(from), "at": rfc3339(at), "groups": groups})).into_response())
}

/// Appendix A as JSON.
pub fn form_json(form: &Form) -> Value {
    json!({
        "department": form.department,
        "from": rfc3339(form.from),
        "at": rfc3339(form.at),
        "compliance": form.lines.iter().map(|l| json!({
            "category": l.category.name(), "percent": l.tally.percent(), "obligations": l.tally.obligations,
            "compliant": l.tally.compliant(), "patches_not_deployed": l.patches_not_deployed,
        })).collect::<Vec<_>>(),
        "not_deployed": form.not_deployed.iter().map(|n| json!({
            "patch": n.patch, "category": n.category.name(), "hosts": n.hosts, "due": rfc3339(n.due), "why": n.why,
            "target": n.target.map(rfc3339), "workaround": n.workaround.is_some(), "workaround_text": n.workaround,
            "exception": n.exception,
        })).collect::<Vec<_>>(),
        "all_mitigated": form.all_mitigated(),
    })
}

/// Fills in the Appendix A form of one department for one month.
pub async fn department_form(state: &AppState, department: &str, month: &str) -> Result<Form, ApiError> {
    let calendar = calendar(state)?;
    let (first, next) = month_bounds(month)?;
    let (from, at) = (calendar.start_of(first), calendar.start_of(next));
    let snapshot = Snapshot::load(&state.store, from.as_second(), at.as_second()).await?;
    let obligations = snapshot.obligations(&state.policy, &calendar, from.as_second(), at.as_second());
    Ok(compliance::form(&snapshot.fleet(), &obligations, department, from, at))
}

#[derive(Debug, Deserialize)]
pub struct FormQuery {
    department: Option<String>,
    month: Option<String>,
}

/// The form as it stands, and its certification if Security has certified it.
pub async fn form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<FormQuery>,
) -> Result<Response, ApiError> {
    auth::authorize(&state, &headers, &Role::ALL, clock::now()).await?;
    let (Some(department), Some(month)) = (&query.department, &query.month) else {
        return Err(ApiError::bad_request(
            "invalid_query",
            "department and month (YYYY-MM) are required",
        ));
    };
    let form = department_form(&state, department, month).await?;
    let certified = state.store.certified_report(department, month).await?;
    Ok(Json(json!({
        "form": form_json(&form),
        "certification": certified.map(|c| json!({
            "name": c.name, "job_title": c.job_title, "date": c.signed_on, "by": c.certified_by,
            "at": clock::rfc3339(c.certified_at), "sha256": c.sha256,
            "report": serde_json::from_str::<Value>(&c.report).unwrap_or(Value::Null),
        })),
    }))
    .into_response())
}

#[derive(Deserialize)]
struct Certify {
    department: String,
    month: String,
    name: String,
    job_title: String,
    date: String,
}

/// Security certifies a department's month: the form as it stands now is archived with the name,
/// job title and date, and never replaced (§13.2).
pub async fn certify(
    State(state): State<AppState>,
    headers: HeaderMap,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    let now = clock::now();
    let principal = auth::authorize(&state, &headers, SECURITY, now).await?;
    let request: Certify = body(&bytes)?;
    for (field, value) in [
        ("name", &request.name),
        ("job_title", &request.job_title),
        ("department", &request.department),
    ] {
        if value.trim().is_empty() {
            return Err(ApiError::bad_request(
                "invalid_certification",
                format!("{field} is empty"),
            ));
        }
    }
    let signed: Date = request.date.parse().map_err(|_| {
        ApiError::bad_request(
            "invalid_certification",
            format!("date {:?} is not YYYY-MM-DD", request.date),
        )
    })?;
    let (_, next) = month_bounds(&request.month)?;
    if calendar(&state)?.start_of(next).as_second() > now {
        return Err(ApiError::bad_request(
            "invalid_certification",
            format!("{} has not ended yet", request.month),
        ));
    }
    if signed < next {
        return Err(ApiError::bad_request(
            "invalid_certification",
            format!("a month is certified after it ends: {} is before {next}", request.date),
        ));
    }
    let form = department_form(&state, &request.department, &request.month).await?;
    let report = form_json(&form).to_string();
    let certified = CertifiedReport {
        department: request.department.clone(),
        month: request.month.clone(),
        sha256: secrets::sha256_hex(&report),
        report,
        certified_by: principal.username.clone(),
        name: request.name,
        job_title: request.job_title,
        signed_on: signed.to_string(),
        certified_at: now,
    };
    if !state.store.certify(&principal.audit(now), &certified).await? {
        return Err(ApiError::conflict(format!(
            "{} {} is already certified; a certified report is never replaced",
            request.department, request.month
        )));
    }
    Ok((
        StatusCode::CREATED,
        Json(json!({"department": certified.department, "month": certified.month, "sha256": certified.sha256})),
    )
        .into_response())
}

// ---- directory ----

#[derive(Deserialize)]
struct DirectorySettings {
    url: String,
    #[serde(default)]
    starttls: bool,
    ca_pem: String,
    bind_dn: String,
    bind_password: String,
    base_dn: String,
    #[serde(default = "default_computer_filter")]
    computer_filter: String,
    #[serde(default = "default_group_filter")]
    group_filter: String,
    #[serde(default = "default_refresh")]
    refresh_minutes: u64,
}

fn default_computer_filter() -> String {
    "(objectClass=computer)".into()
}

fn default_group_filter() -> String {
    "(|(objectClass=group)(objectClass=groupOfNames))".into()
}

fn default_refresh() -> u64 {
    60
}

fn directory_error(e: crate::directory::DirectoryError) -> ApiError {
    match e {
        crate::directory::DirectoryError::Store(e) => e.into(),
        other => ApiError::unprocessable("directory", other.to_string()),
    }
}

/// Administrators connect the directory (§7.2.2). The settings are tried before they are kept:
/// a bind or search that fails is refused with the directory's own answer, and nothing is stored.
pub async fn set_directory(
    State(state): State<AppState>,
    headers: HeaderMap,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    let now = clock::now();
    let principal = auth::authorize(&state, &headers, &[Role::Administrator], now).await?;
    let r: DirectorySettings = body(&bytes)?;
    let config = crate::directory::DirectoryConfig {
        url: r.url,
        starttls: r.starttls,
        ca_pem: r.ca_pem,
        bind_dn: r.bind_dn,
        sealed_password: crate::directory::seal(&state.secrets_key, &r.bind_password).map_err(directory_error)?,
        base_dn: r.base_dn,
        computer_filter: r.computer_filter,
        group_filter: r.group_filter,
        refresh_minutes: r.refresh_minutes,
    };
    config.check().map_err(directory_error)?;
    let computers = crate::directory::read(&config, &r.bind_password)
        .await
        .map_err(directory_error)?;
    let text = serde_json::to_string(&config).map_err(|e| ApiError::internal(e.to_string()))?;
    state
        .store
        .set_setting(&principal.audit(now), crate::directory::SETTING, &text)
        .await?;
    let report = crate::directory::sync(&state, now).await.map_err(directory_error)?;
    Ok(Json(json!({"url": config.url, "computers": computers.len(), "sync": report})).into_response())
}

pub async fn directory(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    auth::authorize(&state, &headers, &[Role::Administrator], clock::now()).await?;
    let Some(text) = state.store.setting(crate::directory::SETTING).await? else {
        return Err(ApiError::not_found("no directory is configured"));
    };
    let config: crate::directory::DirectoryConfig =
        serde_json::from_str(&text).map_err(|e| ApiError::internal(e.to_string()))?;
    let last: Value = state
        .store
        .setting("directory_last_sync")
        .await?
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(Value::Null);
    Ok(Json(json!({
        "url": config.url, "starttls": config.starttls, "bind_dn": config.bind_dn, "bind_password_set": true,
        "base_dn": config.base_dn, "computer_filter": config.computer_filter, "group_filter": config.group_filter,
        "refresh_minutes": config.refresh_minutes, "last_sync": last,
    }))
    .into_response())
}

pub async fn sync_directory(
    State(state): State<AppState>,
    headers: HeaderMap,
    Body(_): Body,
) -> Result<Response, ApiError> {
    let now = clock::now();
    auth::authorize(&state, &headers, &[Role::Administrator], now).await?;
    match crate::directory::sync(&state, now).await.map_err(directory_error)? {
        Some(report) => Ok(Json(json!(report)).into_response()),
        None => Err(ApiError::not_found("no directory is configured")),
    }
}
