//! Accounts of the Twilio-compatible Messages API (issue 13). Parley issues the account SID and
//! the auth token; the token is shown once by the API and kept in clear, because status
//! callbacks are signed with it exactly as Twilio signs them.

use parley_core::Timestamp;
use parley_store::{Store, TwilioAccount};

use super::ServiceError;

/// "AC" and 32 hex digits, as Twilio writes account SIDs.
fn new_account_sid() -> String {
    let bytes: [u8; 16] = rand::random();
    format!("AC{}", hex_of(&bytes))
}

/// 32 hex digits (128 random bits), the length of a Twilio auth token.
fn new_auth_token() -> String {
    let bytes: [u8; 16] = rand::random();
    hex_of(&bytes)
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub async fn create_twilio_account(
    store: &Store,
    name: &str,
    now: Timestamp,
) -> Result<TwilioAccount, ServiceError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ServiceError::Invalid(
            "account name must be 1 to 100 characters".to_owned(),
        ));
    }
    Ok(store
        .create_twilio_account(&new_account_sid(), name, &new_auth_token(), now)
        .await?)
}

pub async fn revoke_twilio_account(
    store: &Store,
    sid: &str,
    now: Timestamp,
) -> Result<(), ServiceError> {
    Ok(store.revoke_twilio_account(sid, now).await?)
}

/// Records that `entry_id` went out through the API (see `Store::write_twilio_message`).
pub async fn record_twilio_message(
    store: &Store,
    message: &parley_store::TwilioMessage,
) -> Result<(), ServiceError> {
    Ok(store.write_twilio_message(message).await?)
}
