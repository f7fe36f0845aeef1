//! Who is asking: people and scripts by API token, agents by their host credential (§6 roles).

use axum::http::HeaderMap;

use crate::error::ApiError;
use crate::secrets::sha256_hex;
use crate::state::AppState;

/// The roles of §6. Issue-by-issue more endpoints check them; every endpoint checks one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Administrator,
    Security,
    ChangeManager,
    Operator,
    ApplicationOwner,
    Auditor,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Administrator,
        Role::Security,
        Role::ChangeManager,
        Role::Operator,
        Role::ApplicationOwner,
        Role::Auditor,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Role::Administrator => "administrator",
            Role::Security => "security",
            Role::ChangeManager => "change_manager",
            Role::Operator => "operator",
            Role::ApplicationOwner => "application_owner",
            Role::Auditor => "auditor",
        }
    }

    pub fn from_name(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == name)
    }
}

/// A person or script, authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: String,
    pub username: String,
    pub role: Role,
}

impl Principal {
    /// The audit record of a change this principal makes at `at`.
    pub fn audit(&self, at: i64) -> patchwarden_store::Audit {
        patchwarden_store::Audit {
            actor: format!("user:{}", self.username),
            at,
        }
    }

    /// Allows the request when the principal has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            let names: Vec<&str> = roles.iter().map(|r| r.name()).collect();
            Err(ApiError::forbidden(format!(
                "this needs the role {}; {} has {}",
                names.join(" or "),
                self.username,
                self.role.name()
            )))
        }
    }
}

fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("no Authorization header: send `Authorization: Bearer TOKEN`"))?;
    value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::unauthorized("Authorization header is not `Bearer TOKEN`"))
}

/// The person or script behind an API token.
pub async fn principal(state: &AppState, headers: &HeaderMap, now: i64) -> Result<Principal, ApiError> {
    let token = bearer(headers)?;
    let owner = state
        .store
        .api_token(&sha256_hex(token), now)
        .await?
        .ok_or_else(|| ApiError::unauthorized("unknown, expired or revoked token"))?;
    let role =
        Role::from_name(&owner.role).ok_or_else(|| ApiError::forbidden(format!("unknown role {}", owner.role)))?;
    Ok(Principal {
        user_id: owner.user_id,
        username: owner.username,
        role,
    })
}

/// The person or script behind an API token, if they hold one of `roles`: the check every
/// role-protected route makes, with the roles its entry in the route table names.
pub async fn authorize(state: &AppState, headers: &HeaderMap, roles: &[Role], now: i64) -> Result<Principal, ApiError> {
    let principal = principal(state, headers, now).await?;
    principal.require(roles)?;
    Ok(principal)
}

/// The host whose credential this is; revoked and unknown credentials are refused.
/// Checks that `username` (given as `field`) is a user with `role`; the error says which field is
/// wrong and why. A database failure is reported as such.
pub async fn require_user_role(state: &AppState, field: &str, username: &str, role: Role) -> Result<(), String> {
    match state.store.user_by_name(username).await {
        Ok(Some(user)) if user.role == role.name() => Ok(()),
        Ok(_) => Err(format!(
            "{field}: {username:?} is not a user with the {} role",
            role.name().replace('_', " ")
        )),
        Err(e) => Err(format!("{field}: could not look the user up: {e}")),
    }
}

/// The enrolled host a credential belongs to, which must be `host_id`: one host can never act as
/// another (§7.4).
pub async fn agent_of(
    state: &AppState,
    headers: &HeaderMap,
    host_id: &str,
) -> Result<patchwarden_store::AgentSession, ApiError> {
    let session = agent(state, headers).await?;
    if session.host_id != host_id {
        return Err(ApiError::forbidden(format!(
            "this credential belongs to host {}, not {host_id}",
            session.host_id
        )));
    }
    Ok(session)
}

pub async fn agent(state: &AppState, headers: &HeaderMap) -> Result<patchwarden_store::AgentSession, ApiError> {
    let credential = bearer(headers)?;
    state
        .store
        .agent_session(&sha256_hex(credential))
        .await?
        .ok_or_else(|| ApiError::unauthorized("unknown or revoked host credential: enroll the host again"))
}
