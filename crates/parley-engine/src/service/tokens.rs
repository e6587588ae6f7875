//! Credentials: API tokens and the console's signed-in sessions. Only hashes are stored; making
//! and hashing the secret is the HTTP layer's (it hands the secret to the person once).

use parley_core::Timestamp;
use parley_core::model::TokenRole;
use parley_store::{ApiToken, Store};
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
