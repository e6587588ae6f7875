//! Accounts of the Twilio-compatible Messages API (issue 13). Parley issues the account SID and
//! the auth token; the token is shown once by the API and kept in clear, because status
//! callbacks are signed with it exactly as Twilio signs them.

use parley_core::Timestamp;
use parley_core::model::ChannelKind;
use parley_core::sender_pool::{PoolSender, choose_sender};
use parley_store::{Store, StoreError, TwilioAccount, TwilioMessagingService};
use uuid::Uuid;

use super::{ServiceError, referenced};

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
    // Counted as sent, like the document's maxLength; stored trimmed.
    let trimmed = name.trim();
    if trimmed.is_empty() || name.chars().count() > 100 {
        return Err(ServiceError::Invalid(
            "account name must be 1 to 100 characters".to_owned(),
        ));
    }
    Ok(store
        .create_twilio_account(&new_account_sid(), trimmed, &new_auth_token(), now)
        .await?)
}

pub async fn revoke_twilio_account(
    store: &Store,
    sid: &str,
    now: Timestamp,
) -> Result<(), ServiceError> {
    Ok(store.revoke_twilio_account(sid, now).await?)
}

/// Records that `entry_id` went out through the API when its send did not (see
/// `Store::write_twilio_message`).
pub async fn record_twilio_message(
    store: &Store,
    message: &parley_store::TwilioMessage,
) -> Result<(), ServiceError> {
    Ok(store.write_twilio_message(message).await?)
}

/// "MG" and 32 hex digits, as Twilio writes messaging service SIDs.
fn new_service_sid() -> String {
    let bytes: [u8; 16] = rand::random();
    format!("MG{}", hex_of(&bytes))
}

/// The account of a path, not revoked.
async fn live_account(store: &Store, account_sid: &str) -> Result<TwilioAccount, ServiceError> {
    let account = store
        .twilio_account(account_sid)
        .await?
        .ok_or(StoreError::NotFound {
            entity: "twilio account",
        })?;
    if account.revoked_at.is_some() {
        return Err(ServiceError::Invalid(format!(
            "twilio account {account_sid} is revoked"
        )));
    }
    Ok(account)
}

/// The account's service `sid` (another account's is not found).
async fn own_service(
    store: &Store,
    account_sid: &str,
    sid: &str,
) -> Result<TwilioMessagingService, ServiceError> {
    Ok(store
        .twilio_messaging_service(sid)
        .await?
        .filter(|s| s.account_sid == account_sid)
        .ok_or(StoreError::NotFound {
            entity: "messaging service",
        })?)
}

/// A service's name and pool: 1 to 100 characters; 1 to 100 distinct SMS or WhatsApp channels.
async fn checked_pool(
    store: &Store,
    name: &str,
    channel_ids: &[Uuid],
) -> Result<String, ServiceError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ServiceError::Invalid(
            "name must be 1 to 100 characters".to_owned(),
        ));
    }
    if channel_ids.is_empty() || channel_ids.len() > 100 {
        return Err(ServiceError::Invalid(
            "channel_ids must list 1 to 100 channels".to_owned(),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for id in channel_ids {
        if !seen.insert(*id) {
            return Err(ServiceError::Invalid(format!(
                "channel_ids lists channel {id} twice"
            )));
        }
        let channel = referenced(store.channel(*id).await, &format!("channel {id}"))?;
        if !matches!(channel.kind, ChannelKind::Sms | ChannelKind::Whatsapp) {
            return Err(ServiceError::Invalid(format!(
                "channel_ids: {} is a {} channel; a messaging service pools SMS and WhatsApp channels",
                channel.name,
                channel.kind.as_str()
            )));
        }
    }
    Ok(name.to_owned())
}

pub async fn create_twilio_messaging_service(
    store: &Store,
    account_sid: &str,
    name: &str,
    channel_ids: &[Uuid],
    now: Timestamp,
) -> Result<TwilioMessagingService, ServiceError> {
    let account = live_account(store, account_sid).await?;
    let name = checked_pool(store, name, channel_ids).await?;
    let service = TwilioMessagingService {
        sid: new_service_sid(),
        account_sid: account.sid,
        name,
        channel_ids: channel_ids.to_vec(),
        created_at: now,
    };
    store.create_twilio_messaging_service(&service).await?;
    Ok(service)
}

/// Replaces the service's name and pool. A channel taken out of the pool no longer sends for it,
/// and its sticky mappings are ignored from the next message on.
pub async fn update_twilio_messaging_service(
    store: &Store,
    account_sid: &str,
    sid: &str,
    name: &str,
    channel_ids: &[Uuid],
) -> Result<TwilioMessagingService, ServiceError> {
    let mut service = own_service(store, account_sid, sid).await?;
    let name = checked_pool(store, name, channel_ids).await?;
    store
        .update_twilio_messaging_service(sid, &name, channel_ids)
        .await?;
    service.name = name;
    service.channel_ids = channel_ids.to_vec();
    Ok(service)
}

/// Deletes the service; messages sent through it keep its SID.
pub async fn delete_twilio_messaging_service(
    store: &Store,
    account_sid: &str,
    sid: &str,
) -> Result<(), ServiceError> {
    own_service(store, account_sid, sid).await?;
    Ok(store.delete_twilio_messaging_service(sid).await?)
}

/// Why a service could not name a sender.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("messaging service {0} not found")]
    NotFound(String),
    #[error("messaging service {0} has no {1} channel for this destination")]
    NoSender(String, &'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The channel of the account's service `service_sid` that sends to `to` (as the API writes it,
/// `whatsapp:` prefix included) on a channel of `kind`: the rule is
/// [`parley_core::sender_pool::choose_sender`], fed with the service's last sender to `to`.
pub async fn pool_sender(
    store: &Store,
    account_sid: &str,
    service_sid: &str,
    kind: ChannelKind,
    to: &str,
) -> Result<Uuid, PoolError> {
    let service = store
        .twilio_messaging_service(service_sid)
        .await?
        .filter(|s| s.account_sid == account_sid)
        .ok_or_else(|| PoolError::NotFound(service_sid.to_owned()))?;
    let mut channels = Vec::with_capacity(service.channel_ids.len());
    for id in &service.channel_ids {
        match store.channel(*id).await {
            Ok(c) if c.kind == kind => channels.push(c),
            // A channel deleted since the pool was saved no longer sends for it.
            Ok(_) | Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let prefix = if kind == ChannelKind::Whatsapp {
        "whatsapp:"
    } else {
        ""
    };
    let last = store
        .twilio_last_sender(account_sid, service_sid, to)
        .await?;
    let sticky = last.and_then(|from| {
        channels
            .iter()
            .find(|c| format!("{prefix}{}", c.address) == from)
            .map(|c| c.id)
    });
    let pool: Vec<PoolSender> = channels
        .iter()
        .map(|c| PoolSender {
            channel_id: c.id,
            country: c.country.clone(),
        })
        .collect();
    let address = to.strip_prefix("whatsapp:").unwrap_or(to);
    let to_country = parley_core::campaign::audience::country_of(address);
    choose_sender(&pool, sticky, to_country.as_deref())
        .ok_or_else(|| PoolError::NoSender(service_sid.to_owned(), kind.as_str()))
}
