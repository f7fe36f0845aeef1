//! The HTTP API under `/api/v1`: JSON in and out, every endpoint authenticated and its role checked
//! (§6), every error `{"error": {"code", "message"}}`.

use std::net::IpAddr;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post, put};
use patchwarden_domain::selector::{HostFacts, IpRange, Selector, glob_matches};
use patchwarden_proto::{EnrollRequest, EnrollResponse};
use patchwarden_store::{Audit, HostRow, NewApiToken, NewEnrollmentToken, NewHost, NewUser};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::{self, Role};
use crate::changes_api;
use crate::clock;
use crate::error::ApiError;
use crate::ingest;
use crate::policy_api;
use crate::secrets;
use crate::state::{AppState, SETUP_TOKEN_KEY};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: health, the OpenAPI document, first-administrator setup, login, the CA, enrollment
    /// (each proves itself with what it carries: a setup token, a password, an enrollment token).
    Public,
    /// An enrolled host, by its credential.
    Agent,
    /// People and scripts with one of these roles (§6).
    Roles(&'static [Role]),
}

/// One route of the API.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
}

/// Roles that may read inventories, findings and feeds.
const READERS: &[Role] = &Role::ALL;
/// Roles that manage users, enrollment and credentials (§6 Administrator).
const ADMINISTRATORS: &[Role] = &[Role::Administrator];

const fn route(method: &'static str, path: &'static str, access: Access) -> Route {
    Route { method, path, access }
}

/// The route table: the router is built from it, the OpenAPI document and the permission matrix
/// are tested against it, so a route cannot exist without its access rule.
pub const ROUTES: &[Route] = &[
    route("GET", "/api/v1/health", Access::Public),
    route("GET", "/api/v1/openapi.json", Access::Public),
    route("POST", "/api/v1/setup", Access::Public),
    route("POST", "/api/v1/sessions", Access::Public),
    route("POST", "/api/v1/users", Access::Roles(ADMINISTRATORS)),
    route("POST", "/api/v1/tokens", Access::Roles(READERS)),
    route("POST", "/api/v1/enrollment-tokens", Access::Roles(ADMINISTRATORS)),
    route("GET", "/api/v1/agent/ca", Access::Public),
    route("POST", "/api/v1/agent/enroll", Access::Public),
    route("POST", "/api/v1/agent/hosts/{id}/reports", Access::Agent),
    route("GET", "/api/v1/hosts", Access::Roles(READERS)),
    route("GET", "/api/v1/hosts/{id}", Access::Roles(READERS)),
    route("POST", "/api/v1/hosts/{id}/revoke", Access::Roles(ADMINISTRATORS)),
    route("GET", "/api/v1/patches", Access::Roles(READERS)),
    route("GET", "/api/v1/feeds", Access::Roles(READERS)),
    route("PUT", "/api/v1/hosts/{id}/labels", Access::Roles(ADMINISTRATORS)),
    route("GET", "/api/v1/patches/{id}/classifications", Access::Roles(READERS)),
    route(
        "POST",
        "/api/v1/patches/{id}/classifications",
        Access::Roles(policy_api::SECURITY),
    ),
    route("GET", "/api/v1/deadlines", Access::Roles(READERS)),
    route("GET", "/api/v1/exceptions", Access::Roles(READERS)),
    route("POST", "/api/v1/exceptions", Access::Roles(policy_api::REQUESTERS)),
    route(
        "POST",
        "/api/v1/exceptions/{id}/decision",
        Access::Roles(policy_api::DECIDERS),
    ),
    route(
        "POST",
        "/api/v1/exceptions/{id}/revoke",
        Access::Roles(policy_api::SECURITY),
    ),
    route("GET", "/api/v1/notifications", Access::Roles(READERS)),
    route("GET", "/api/v1/compliance", Access::Roles(READERS)),
    route("GET", "/api/v1/compliance/form", Access::Roles(READERS)),
    route(
        "POST",
        "/api/v1/compliance/form/certifications",
        Access::Roles(policy_api::SECURITY),
    ),
    route("POST", "/api/v1/changes", Access::Roles(changes_api::OPERATORS)),
    route("GET", "/api/v1/changes", Access::Roles(READERS)),
    route("GET", "/api/v1/changes/{id}", Access::Roles(READERS)),
    route(
        "POST",
        "/api/v1/changes/{id}/actions",
        Access::Roles(changes_api::ACTORS),
    ),
    route(
        "POST",
        "/api/v1/changes/{id}/tests",
        Access::Roles(changes_api::OPERATORS),
    ),
    route("GET", "/api/v1/jobs", Access::Roles(READERS)),
    route("POST", "/api/v1/agent/hosts/{id}/jobs/{job}", Access::Agent),
    route("POST", "/api/v1/patch-files", Access::Roles(changes_api::OPERATORS)),
    route("GET", "/api/v1/patch-files", Access::Roles(READERS)),
    route("GET", "/api/v1/agent/hosts/{id}/patch-files/{sha256}", Access::Agent),
    route("PUT", "/api/v1/applications/{id}", Access::Roles(ADMINISTRATORS)),
    route("GET", "/api/v1/applications", Access::Roles(READERS)),
    route(
        "POST",
        "/api/v1/changes/{id}/problems",
        Access::Roles(&[Role::ApplicationOwner]),
    ),
    route(
        "POST",
        "/api/v1/changes/{id}/problems/{problem}/resolve",
        Access::Roles(changes_api::PROBLEM_RESOLVERS),
    ),
    route(
        "POST",
        "/api/v1/changes/{id}/scan",
        Access::Roles(changes_api::OPERATORS),
    ),
    route("GET", "/api/v1/changes/{id}/verification", Access::Roles(READERS)),
    route(
        "POST",
        "/api/v1/hosts/{id}/manual-deployments",
        Access::Roles(changes_api::OPERATORS),
    ),
    route("GET", "/api/v1/manual-deployments", Access::Roles(READERS)),
    route("PUT", "/api/v1/directory", Access::Roles(ADMINISTRATORS)),
    route("GET", "/api/v1/directory", Access::Roles(ADMINISTRATORS)),
    route("POST", "/api/v1/directory/sync", Access::Roles(ADMINISTRATORS)),
];

fn handler(route: &Route) -> MethodRouter<AppState> {
    match (route.method, route.path) {
        ("GET", "/api/v1/health") => get(|| async { Json(json!({"status": "ok"})) }),
        ("GET", "/api/v1/openapi.json") => get(openapi),
        ("POST", "/api/v1/setup") => post(setup),
        ("POST", "/api/v1/sessions") => post(login),
        ("POST", "/api/v1/users") => post(create_user),
        ("POST", "/api/v1/tokens") => post(create_token),
        ("POST", "/api/v1/enrollment-tokens") => post(create_enrollment_token),
        ("GET", "/api/v1/agent/ca") => get(ca),
        ("POST", "/api/v1/agent/enroll") => post(enroll),
        ("POST", "/api/v1/agent/hosts/{id}/reports") => post(report),
        ("GET", "/api/v1/hosts") => get(hosts),
        ("GET", "/api/v1/hosts/{id}") => get(host),
        ("POST", "/api/v1/hosts/{id}/revoke") => post(revoke),
        ("GET", "/api/v1/patches") => get(patches),
        ("GET", "/api/v1/feeds") => get(feeds),
        ("PUT", "/api/v1/hosts/{id}/labels") => put(policy_api::set_labels),
        ("GET", "/api/v1/patches/{id}/classifications") => get(policy_api::classifications),
        ("POST", "/api/v1/patches/{id}/classifications") => post(policy_api::classify),
        ("GET", "/api/v1/deadlines") => get(policy_api::deadlines),
        ("GET", "/api/v1/exceptions") => get(policy_api::exceptions),
        ("POST", "/api/v1/exceptions") => post(policy_api::request_exception),
        ("POST", "/api/v1/exceptions/{id}/decision") => post(policy_api::decide_exception),
        ("POST", "/api/v1/exceptions/{id}/revoke") => post(policy_api::revoke_exception),
        ("GET", "/api/v1/notifications") => get(policy_api::notifications),
        ("GET", "/api/v1/compliance") => get(policy_api::compliance),
        ("GET", "/api/v1/compliance/form") => get(policy_api::form),
        ("POST", "/api/v1/compliance/form/certifications") => post(policy_api::certify),
        ("POST", "/api/v1/changes") => post(changes_api::create),
        ("GET", "/api/v1/changes") => get(changes_api::list),
        ("GET", "/api/v1/changes/{id}") => get(changes_api::show),
        ("POST", "/api/v1/changes/{id}/actions") => post(changes_api::act),
        ("POST", "/api/v1/changes/{id}/tests") => post(changes_api::record_test),
        ("GET", "/api/v1/jobs") => get(changes_api::jobs),
        ("POST", "/api/v1/agent/hosts/{id}/jobs/{job}") => post(changes_api::job_result),
        ("POST", "/api/v1/patch-files") => post(changes_api::upload),
        ("GET", "/api/v1/patch-files") => get(changes_api::patch_files),
        ("GET", "/api/v1/agent/hosts/{id}/patch-files/{sha256}") => get(changes_api::download),
        ("PUT", "/api/v1/applications/{id}") => put(changes_api::put_application),
        ("GET", "/api/v1/applications") => get(changes_api::applications),
        ("POST", "/api/v1/changes/{id}/problems") => post(changes_api::report_problem),
        ("POST", "/api/v1/changes/{id}/problems/{problem}/resolve") => post(changes_api::resolve_problem),
        ("POST", "/api/v1/changes/{id}/scan") => post(changes_api::scan),
        ("GET", "/api/v1/changes/{id}/verification") => get(changes_api::verification),
        ("POST", "/api/v1/hosts/{id}/manual-deployments") => post(changes_api::record_manual),
        ("GET", "/api/v1/manual-deployments") => get(changes_api::manual_deployments),
        ("PUT", "/api/v1/directory") => put(policy_api::set_directory),
        ("GET", "/api/v1/directory") => get(policy_api::directory),
        ("POST", "/api/v1/directory/sync") => post(policy_api::sync_directory),
        // A table entry without a handler answers 501; the permission matrix test fails on it.
        _ => axum::routing::any(|| async {
            ApiError::new(StatusCode::NOT_IMPLEMENTED, "no_handler", "this route has no handler")
        }),
    }
}

pub fn router(state: AppState) -> axum::Router {
    let mut router = axum::Router::new();
    for route in ROUTES {
        router = router.route(route.path, handler(route));
    }
    // Each request is logged at debug level (method, path, status, latency — never headers or
    // bodies, which carry credentials); server errors at error level.
    let trace = tower_http::trace::TraceLayer::new_for_http()
        .make_span_with(|request: &axum::http::Request<_>| {
            tracing::debug_span!("request", method = %request.method(), path = %request.uri().path())
        })
        .on_request(())
        .on_response(tower_http::trace::DefaultOnResponse::new().level(tracing::Level::DEBUG))
        .on_failure(tower_http::trace::DefaultOnFailure::new().level(tracing::Level::ERROR));
    router
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .layer(DefaultBodyLimit::disable())
        .layer(trace)
        .with_state(state)
}

/// A request body read up to `LIMIT` bytes ([`ingest::MAX_BODY_BYTES`] unless a route needs more);
/// a larger one is refused with our JSON error.
#[derive(Debug)]
pub struct Body<const LIMIT: usize = { ingest::MAX_BODY_BYTES }>(pub Bytes);

impl<S: Send + Sync, const LIMIT: usize> axum::extract::FromRequest<S> for Body<LIMIT> {
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, _: &S) -> Result<Body<LIMIT>, ApiError> {
        use http_body_util::BodyExt;
        let mut body = request.into_body();
        let mut bytes = Vec::new();
        let mut seen = 0usize;
        // Past the limit the rest is read and dropped (up to four times the limit), so that the
        // client, still sending, receives our 413 instead of a reset connection.
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else {
                return Err(ApiError::bad_request("bad_body", "the request body was cut off"));
            };
            if let Ok(data) = frame.into_data() {
                seen += data.len();
                if seen <= LIMIT {
                    bytes.extend_from_slice(&data);
                } else if seen > 4 * LIMIT {
                    break;
                }
            }
        }
        if seen > LIMIT {
            return Err(ApiError::too_large(LIMIT));
        }
        Ok(Body(Bytes::from(bytes)))
    }
}

/// Parses a JSON body, naming what is wrong and where.
pub(crate) fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request("invalid_json", format!("{e}")))
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], crate::OPENAPI).into_response()
}

async fn ca(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/x-pem-file")],
        state.ca_pem.to_string(),
    )
        .into_response()
}

#[derive(Deserialize)]
struct Setup {
    token: String,
    username: String,
    password: String,
}

fn check_username(username: &str) -> Result<(), ApiError> {
    let ok = (1..=64).contains(&username.len())
        && username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "invalid_username",
            "username must be 1–64 letters, digits, . _ - or @",
        ))
    }
}

fn new_user(username: &str, password: &str, role: Role, now: i64) -> Result<NewUser, ApiError> {
    check_username(username)?;
    secrets::check_password(password, &[username])
        .map_err(|e| ApiError::bad_request("weak_password", e.to_string()))?;
    let password_hash = tokio::task::block_in_place(|| secrets::hash_password(password))
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    Ok(NewUser {
        id: secrets::id(),
        username: username.to_owned(),
        password_hash,
        role: role.name().to_owned(),
        created_at: now,
    })
}

/// §7.4: no default credentials. The first administrator is created with the one-time token the
/// server printed at first start; the token dies with its first use.
async fn setup(State(state): State<AppState>, Body(bytes): Body) -> Result<Response, ApiError> {
    let request: Setup = body(&bytes)?;
    let stored = state.store.setting(SETUP_TOKEN_KEY).await?;
    if stored.as_deref() != Some(secrets::sha256_hex(&request.token).as_str()) {
        return Err(ApiError::forbidden("setup token is wrong or already used"));
    }
    let user = new_user(&request.username, &request.password, Role::Administrator, clock::now())?;
    // The token is deleted in one transaction with creating the user: of two racing, one wins.
    let audit = Audit {
        actor: "setup-token".into(),
        at: user.created_at,
    };
    if !state.store.create_first_admin(&audit, &user, SETUP_TOKEN_KEY).await? {
        return Err(ApiError::forbidden("setup token is wrong or already used"));
    }
    Ok((
        StatusCode::CREATED,
        Json(json!({"username": user.username, "role": user.role})),
    )
        .into_response())
}

#[derive(Deserialize)]
struct Login {
    username: String,
    password: String,
}

/// Exchanges a password for an API token valid for 12 hours.
async fn login(State(state): State<AppState>, Body(bytes): Body) -> Result<Response, ApiError> {
    let request: Login = body(&bytes)?;
    let user = state.store.user_by_name(&request.username).await?;
    let valid = match &user {
        Some(u) => tokio::task::block_in_place(|| secrets::verify_password(&request.password, &u.password_hash)),
        // Hash anyway, so that the answer takes as long for an unknown user.
        None => tokio::task::block_in_place(|| secrets::verify_password(&request.password, DUMMY_HASH)),
    };
    let (Some(user), true) = (user, valid) else {
        return Err(ApiError::unauthorized("wrong username or password"));
    };
    let now = clock::now();
    let token = secrets::token();
    let expires_at = now + 12 * 3600;
    let audit = Audit {
        actor: format!("user:{}", user.username),
        at: now,
    };
    state
        .store
        .create_api_token(
            &audit,
            &NewApiToken {
                id: secrets::id(),
                user_id: user.id,
                name: "session".into(),
                role: user.role.clone(),
                token_hash: secrets::sha256_hex(&token),
                created_at: now,
                expires_at: Some(expires_at),
            },
        )
        .await?;
    Ok(Json(json!({"token": token, "role": user.role, "expires_at": clock::rfc3339(expires_at)})).into_response())
}

/// An argon2id hash of a random password, verified against when the user does not exist.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$W7mG0L6bHq2ZkzvWv3sD0m2H1j7xq5g6cY1mQv9nB3k";

#[derive(Deserialize)]
struct CreateUser {
    username: String,
    password: String,
    role: String,
}

/// Administrators add people, a second administrator among them (§14.3).
async fn create_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    let now = clock::now();
    let principal = auth::authorize(&state, &headers, ADMINISTRATORS, now).await?;
    let request: CreateUser = body(&bytes)?;
    let role = Role::from_name(&request.role)
        .ok_or_else(|| ApiError::bad_request("invalid_role", format!("unknown role {:?}", request.role)))?;
    let user = new_user(&request.username, &request.password, role, now)?;
    state.store.create_user(&principal.audit(now), &user).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"username": user.username, "role": user.role})),
    )
        .into_response())
}

#[derive(Deserialize)]
struct CreateToken {
    name: String,
    #[serde(default)]
    expires_in_days: Option<i64>,
    /// A role at most as strong as the creator's; by default the creator's.
    #[serde(default)]
    role: Option<String>,
}

/// API tokens for scripts, scoped by role.
async fn create_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    let now = clock::now();
    let principal = auth::authorize(&state, &headers, READERS, now).await?;
    let request: CreateToken = body(&bytes)?;
    let role = match request.role.as_deref() {
        None => principal.role,
        Some(name) => Role::from_name(name)
            .ok_or_else(|| ApiError::bad_request("invalid_role", format!("unknown role {name:?}")))?,
    };
    // Scripts may be given less than their owner has, never more.
    if role != principal.role && role != Role::Auditor && principal.role != Role::Administrator {
        return Err(ApiError::forbidden(format!(
            "{} may only make tokens with its own role or auditor",
            principal.username
        )));
    }
    let token = secrets::token();
    let expires_at = request.expires_in_days.map(|d| now + d.clamp(1, 3650) * 86_400);
    let audit = principal.audit(now);
    state
        .store
        .create_api_token(
            &audit,
            &NewApiToken {
                id: secrets::id(),
                user_id: principal.user_id,
                name: request.name,
                role: role.name().to_owned(),
                token_hash: secrets::sha256_hex(&token),
                created_at: now,
                expires_at,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"token": token, "role": role.name(), "expires_at": expires_at.map(clock::rfc3339)})),
    )
        .into_response())
}

#[derive(Deserialize)]
struct CreateEnrollmentToken {
    #[serde(default = "default_hours")]
    expires_in_hours: i64,
    #[serde(default = "default_uses")]
    uses: i64,
    #[serde(default)]
    department: String,
    #[serde(default)]
    platform_class: String,
    #[serde(default)]
    environment: String,
}

fn default_hours() -> i64 {
    24
}

fn default_uses() -> i64 {
    1
}

async fn create_enrollment_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    let now = clock::now();
    let principal = auth::authorize(&state, &headers, ADMINISTRATORS, now).await?;
    let request: CreateEnrollmentToken = body(&bytes)?;
    if !(1..=24 * 365).contains(&request.expires_in_hours) || !(1..=1_000_000).contains(&request.uses) {
        return Err(ApiError::bad_request(
            "invalid_token_request",
            "expires_in_hours must be 1–8760 and uses 1–1,000,000",
        ));
    }
    let token = secrets::token();
    let expires_at = now + request.expires_in_hours * 3600;
    state
        .store
        .create_enrollment_token(
            &principal.audit(now),
            &NewEnrollmentToken {
                id: secrets::id(),
                token_hash: secrets::sha256_hex(&token),
                created_by: principal.user_id,
                created_at: now,
                expires_at,
                uses: request.uses,
                labels: patchwarden_store::Labels {
                    department: request.department,
                    platform_class: request.platform_class,
                    environment: request.environment,
                },
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"token": token, "expires_at": clock::rfc3339(expires_at), "uses": request.uses})),
    )
        .into_response())
}

/// An enrollment token buys a host its own credential; the token's labels go with it.
async fn enroll(State(state): State<AppState>, Body(bytes): Body) -> Result<Response, ApiError> {
    let request: EnrollRequest = body(&bytes)?;
    if request.hostname.is_empty() || request.hostname.len() > 255 {
        return Err(ApiError::bad_request(
            "invalid_hostname",
            "hostname must be 1–255 characters",
        ));
    }
    let credential = secrets::token();
    let host = NewHost {
        id: secrets::id(),
        hostname: request.hostname,
        machine_id: request.machine_id,
        credential_hash: secrets::sha256_hex(&credential),
    };
    let labels = state
        .store
        .enroll_host(
            &Audit {
                actor: format!("agent:{}", host.hostname),
                at: clock::now(),
            },
            &secrets::sha256_hex(&request.token),
            &host,
        )
        .await?;
    if labels.is_none() {
        return Err(ApiError::forbidden("enrollment token is unknown, expired or used up"));
    }
    Ok((
        StatusCode::CREATED,
        Json(EnrollResponse {
            host_id: host.id,
            credential,
        }),
    )
        .into_response())
}

async fn report(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    let session = auth::agent_of(&state, &headers, &id).await?;
    let report = ingest::decode(&headers, &bytes)?;
    let response = ingest::receive(&state, &session, report, clock::now()).await?;
    Ok(Json(response).into_response())
}

async fn revoke(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    // Read and dropped: an unread body would end a kept-alive connection.
    Body(_): Body,
) -> Result<Response, ApiError> {
    let principal = auth::authorize(&state, &headers, ADMINISTRATORS, clock::now()).await?;
    if !state.store.revoke_host(&principal.audit(clock::now()), &id).await? {
        return Err(ApiError::not_found(format!("no host {id}")));
    }
    Ok(Json(json!({"host": id, "revoked": true})).into_response())
}

/// Host filters: `ip` (CIDR, a–b range or address), `name` (glob), `os`, `department`, `missing`.
#[derive(Debug, Default, Deserialize)]
pub struct HostFilter {
    pub ip: Option<String>,
    pub name: Option<String>,
    pub os: Option<String>,
    pub department: Option<String>,
    pub missing: Option<bool>,
    /// A selector in the selector language (`name:web-* -class:desktop ip:10.1.0.0/16`).
    pub select: Option<String>,
}

impl HostFilter {
    /// The hosts that pass every given filter.
    pub fn apply(&self, hosts: Vec<HostRow>) -> Result<Vec<HostRow>, ApiError> {
        let range = self
            .ip
            .as_deref()
            .map(IpRange::parse)
            .transpose()
            .map_err(|e| ApiError::bad_request("invalid_filter", format!("ip: {e}")))?;
        let selector = self
            .select
            .as_deref()
            .map(Selector::parse)
            .transpose()
            .map_err(|e| ApiError::bad_request("invalid_selector", format!("select: {e}")))?;
        Ok(hosts
            .into_iter()
            .filter(|h| {
                range.is_none_or(|r| {
                    h.addresses
                        .iter()
                        .any(|a| a.ip.parse::<IpAddr>().is_ok_and(|ip| r.contains(ip)))
                }) && self.name.as_deref().is_none_or(|g| glob_matches(g, &h.hostname))
                    && self.os.as_deref().is_none_or(|os| h.os.eq_ignore_ascii_case(os))
                    && self.department.as_deref().is_none_or(|d| h.labels.department == d)
                    && self.missing.is_none_or(|m| (h.findings > 0) == m)
                    && selector.as_ref().is_none_or(|s| s.matches(&host_facts(h)))
            })
            .collect())
    }
}

/// What the selector language sees of a stored host.
pub fn host_facts(h: &HostRow) -> HostFacts {
    HostFacts {
        name: h.hostname.clone(),
        addresses: h.addresses.iter().filter_map(|a| a.ip.parse().ok()).collect(),
        groups: h.groups.clone(),
        department: h.labels.department.clone(),
        platform_class: h.labels.platform_class.clone(),
        environment: h.labels.environment.clone(),
        os: h.os.clone(),
    }
}

pub fn host_json(h: &HostRow) -> Value {
    json!({
        "id": h.id,
        "hostname": h.hostname,
        "os": h.os,
        "department": h.labels.department,
        "platform_class": h.labels.platform_class,
        "environment": h.labels.environment,
        "addresses": h.addresses.iter().map(|a| json!({"interface": a.interface, "ip": a.ip, "mac": a.mac})).collect::<Vec<_>>(),
        "last_seen": h.last_seen.map(clock::rfc3339),
        "revoked": h.revoked,
        "packages": h.packages,
        "missing_patches": h.findings,
        "reports": h.last_sequence,
        "dropped_reports": h.dropped_reports,
    })
}

async fn hosts(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(filter): Query<HostFilter>,
) -> Result<Response, ApiError> {
    auth::authorize(&state, &headers, READERS, clock::now()).await?;
    let hosts = filter.apply(state.store.hosts().await?)?;
    Ok(Json(json!({"hosts": hosts.iter().map(host_json).collect::<Vec<_>>()})).into_response())
}

async fn host(State(state): State<AppState>, Path(id): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    auth::authorize(&state, &headers, READERS, clock::now()).await?;
    let detail = host_detail(&state.store, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no host {id}")))?;
    Ok(Json(detail).into_response())
}

/// One host as the API and the CLI show it: identity, hardware, software versions (§7.5.3) and
/// missing patches (§7.5.2); `None` if there is no such host.
pub async fn host_detail(
    store: &patchwarden_store::Store,
    id: &str,
) -> Result<Option<Value>, patchwarden_store::StoreError> {
    let Some(row) = store.host(id).await? else {
        return Ok(None);
    };
    let facts: Value = serde_json::from_str(&store.host_facts(id).await?.unwrap_or_default()).unwrap_or(Value::Null);
    let mut out = host_json(&row);
    for field in ["hardware", "kernel", "fqdn", "domain", "machine_id"] {
        out[field] = facts[field].clone();
    }
    out["software"] = store
        .host_software(id)
        .await?
        .iter()
        .map(|s| json!({"name": s.name, "version": s.version, "arch": s.arch, "source": s.source, "source_version": s.source_version, "module": s.module}))
        .collect();
    out["missing"] = store.host_findings(id).await?.iter().map(finding_json).collect();
    Ok(Some(out))
}

pub fn finding_json(f: &patchwarden_store::FindingRow) -> Value {
    json!({
        "package": f.package,
        "source": f.source,
        "installed": f.installed,
        "fixed": f.fixed,
        "advisory": f.advisory,
        "cves": f.cves.split_whitespace().collect::<Vec<_>>(),
        "severity": f.severity,
        "kev": f.kev,
        "epss": f.epss,
    })
}

async fn patches(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    auth::authorize(&state, &headers, READERS, clock::now()).await?;
    let patches = state.store.patches().await?;
    let rows: Vec<Value> = patches
        .iter()
        .map(|p| {
            json!({"advisory": p.advisory, "package": p.package, "fixed": p.fixed, "severity": p.severity,
                   "kev": p.kev, "epss": p.epss, "cves": p.cves.split_whitespace().collect::<Vec<_>>(), "hosts": p.hosts})
        })
        .collect();
    Ok(Json(json!({"patches": rows})).into_response())
}

async fn feeds(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    auth::authorize(&state, &headers, READERS, clock::now()).await?;
    let sources = state.store.feed_sources().await?;
    let advisories = state.advisories();
    let rows: Vec<Value> = sources
        .iter()
        .map(|s| {
            json!({"name": s.name, "kind": s.kind, "sha256": s.sha256, "imported_at": clock::rfc3339(s.imported_at),
                   "url": s.url, "records": s.records, "advisories": s.advisories, "rejected": s.rejected, "last_error": s.last_error})
        })
        .collect();
    Ok(Json(json!({
        "sources": rows,
        "advisories_in_force": advisories.index.advisories().len(),
        "kev_entries": advisories.intel.kev.len(),
        "epss_scores": advisories.intel.epss.len(),
    }))
    .into_response())
}
