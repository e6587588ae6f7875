//! Credentials: API tokens and the console's signed-in sessions. Only hashes are stored; making
//! and hashing the secret is the HTTP layer's (it hands the secret to the person once).

use parley_core::Timestamp;
use parley_core::access::PermissionSet;
use parley_core::model::{AgentRole, TokenRole};
use parley_store::{ApiToken, NewApiToken, Store};
use uuid::Uuid;

use super::ServiceError;

fn check_name(name: &str) -> Result<&str, ServiceError> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 100 {
        return Err(ServiceError::Invalid(
            "token name must be 1 to 100 characters".to_owned(),
        ));
    }
    Ok(n)
}

pub async fn create_api_token(
    store: &Store,
    name: &str,
    role: TokenRole,
    token_hash: &str,
    now: Timestamp,
) -> Result<ApiToken, ServiceError> {
    let name = check_name(name)?;
    Ok(store.create_api_token(name, role, token_hash, now).await?)
}

/// A token with an expiry and, for the agent role, the agent it acts as. An agent-role token
/// must name its agent (it reads and writes what that agent may, `parley_core::access`); the other
/// roles name none, since their reach does not depend on an agent.
pub async fn issue_api_token(
    store: &Store,
    new: &NewApiToken<'_>,
    now: Timestamp,
) -> Result<ApiToken, ServiceError> {
    let name = check_name(new.name)?;
    match (new.role, new.agent_id) {
        (TokenRole::Agent, None) => {
            return Err(ServiceError::Invalid(
                "agent_id: an agent-role token acts as one agent; name it".to_owned(),
            ));
        }
        (TokenRole::Agent, Some(agent)) => {
            super::referenced(store.agent(agent).await, "agent_id")?;
        }
        (_, Some(_)) => {
            return Err(ServiceError::Invalid(
                "agent_id: only an agent-role token names an agent".to_owned(),
            ));
        }
        (_, None) => {}
    }
    if new.expires_at.is_some_and(|e| e <= now) {
        return Err(ServiceError::Invalid(
            "expires_at: the expiry is in the past".to_owned(),
        ));
    }
    Ok(store
        .create_scoped_api_token(
            &NewApiToken {
                name,
                ..new.clone()
            },
            now,
        )
        .await?)
}

/// A token issued through the API by someone holding `by`: it grants no permission they lack
/// (its role's set, narrowed by the permission set it names, if any). The set is checked before
/// the token is made and named on it before its secret is handed out.
pub async fn issue_api_token_by(
    store: &Store,
    by: PermissionSet,
    new: &NewApiToken<'_>,
    permission_set_id: Option<Uuid>,
    now: Timestamp,
) -> Result<ApiToken, ServiceError> {
    let role_set = super::permissions::role_permissions(store, agent_role(new.role)).await?;
    let granted = match permission_set_id {
        Some(id) => {
            let set = super::referenced(store.permission_set(id).await, "permission_set_id")?;
            role_set.intersection(set.permissions)
        }
        None => role_set,
    };
    super::permissions::check_grant(by, granted, "role")?;
    let token = issue_api_token(store, new, now).await?;
    if let Some(id) = permission_set_id {
        store
            .set_api_token_permission_set(token.id, Some(id))
            .await?;
    }
    Ok(store.api_token(token.id).await?)
}

const fn agent_role(role: TokenRole) -> AgentRole {
    match role {
        TokenRole::Admin => AgentRole::Admin,
        TokenRole::Supervisor => AgentRole::Supervisor,
        TokenRole::Agent => AgentRole::Agent,
        TokenRole::Broadcaster => AgentRole::Broadcaster,
    }
}

/// Stamps a token's last use, at most once a minute (the store compares before writing).
pub async fn record_token_use(store: &Store, id: Uuid, now: Timestamp) -> Result<(), ServiceError> {
    store.touch_api_token(id, now).await?;
    Ok(())
}

/// A new password for an agent: the hash (made by the HTTP layer) is stored and every console
/// of the agent but `keep_login` (the cookie hash of the console that changed it) is signed out,
/// so whoever knew the old password loses the sessions it opened.
pub async fn change_password(
    store: &Store,
    agent_id: Uuid,
    hash: &str,
    keep_login: Option<&str>,
    now: Timestamp,
) -> Result<u64, ServiceError> {
    store.set_agent_password_hash(agent_id, hash, now).await?;
    Ok(store.delete_console_logins_of(agent_id, keep_login).await?)
}

pub async fn revoke_api_token(store: &Store, id: Uuid, now: Timestamp) -> Result<(), ServiceError> {
    Ok(store.revoke_api_token(id, now).await?)
}

/// A console sign-in that holds until `expires_at` or sign-out.
pub async fn open_console_login(
    store: &Store,
    token_hash: &str,
    agent_id: Uuid,
    csrf_token: &str,
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<(), ServiceError> {
    Ok(store
        .create_console_login(token_hash, agent_id, csrf_token, now, expires_at)
        .await?)
}

pub async fn close_console_login(store: &Store, token_hash: &str) -> Result<(), ServiceError> {
    Ok(store.delete_console_login(token_hash).await?)
}
