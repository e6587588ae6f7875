//! Sender limits' writes and views (issue 18): a channel's limit configuration, each limit's
//! use for display, and the held messages an admin releases or cancels. The rules are
//! `parley_core::sender_limits`'; the dispatcher enforces them ([`crate::outbound::limits`]).

use parley_core::sender_limits::{LimitConfig, LimitState, states};
use parley_core::{ErrorCode, Timestamp};
use parley_store::sender_limits::SenderHold;
use parley_store::{Channel, StoreError};
use serde::Serialize;
use uuid::Uuid;

use super::ServiceError;
use super::channels::Writes;
use crate::jobs::{JobKind, Queue, REPLY_PRIORITY, SendRequest};
use crate::outbound::limits::{config_of, set_gauges};

/// One channel's limits as the API and the console show them.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelLimits {
    pub channel_id: Uuid,
    pub channel_name: String,
    pub kind: String,
    pub number_type: Option<String>,
    /// Messages per second: the channel's `throughput_mps` or its type's default.
    pub throughput_mps: u32,
    /// The configuration as stored (absent fields take the defaults).
    pub config: LimitConfig,
    pub limits: Vec<LimitState>,
    /// Messages held for review, oldest first.
    pub held: Vec<SenderHold>,
}

/// A channel's limits with their current use (as committed to the store).
pub async fn channel_limits(
    store: &parley_store::Store,
    channel: &Channel,
    now: Timestamp,
) -> Result<ChannelLimits, ServiceError> {
    let config = config_of(channel);
    let usage = store
        .sender_usage(
            channel.id,
            now,
            channel.kind == parley_core::model::ChannelKind::Whatsapp,
        )
        .await?;
    set_gauges(channel, &config, &usage);
    let held = store.sender_holds(Some(channel.id)).await?;
    Ok(ChannelLimits {
        channel_id: channel.id,
        channel_name: channel.name.clone(),
        kind: channel.kind.as_str().to_owned(),
        number_type: channel.number_type.map(|t| t.as_str().to_owned()),
        throughput_mps: crate::outbound::sender_rate(channel),
        limits: states(&config, channel.kind, channel.number_type, &usage),
        config,
        held,
    })
}

/// Every channel's limits, by channel name.
pub async fn all_limits(
    store: &parley_store::Store,
    now: Timestamp,
) -> Result<Vec<ChannelLimits>, ServiceError> {
    let mut channels = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_channels(parley_store::PageRequest::new(
                after,
                parley_store::PageRequest::MAX_LIMIT,
            ))
            .await?;
        channels.extend(page.items);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    channels.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out = Vec::with_capacity(channels.len());
    for c in &channels {
        out.push(channel_limits(store, c, now).await?);
    }
    Ok(out)
}

/// Replaces a channel's limit configuration, checked against its kind and number type.
pub async fn set_limits(
    writes: Writes<'_>,
    channel_id: Uuid,
    config: &LimitConfig,
    now: Timestamp,
) -> Result<Channel, ServiceError> {
    let channel = writes.store.channel(channel_id).await?;
    config
        .validate(channel.kind, channel.number_type)
        .map_err(|e| ServiceError::Invalid(format!("{}: {e}", e.field())))?;
    let value =
        serde_json::to_value(config).map_err(|e| ServiceError::Invalid(format!("limits: {e}")))?;
    writes
        .store
        .set_sender_limits(channel_id, &value, now)
        .await?;
    writes.changed(channel_id).await;
    Ok(writes.store.channel(channel_id).await?)
}

/// Releases a held message: it is sent whatever its sender's limits say.
pub async fn release_hold(
    store: &parley_store::Store,
    entry_id: Uuid,
    now: Timestamp,
) -> Result<(), ServiceError> {
    let hold = store
        .sender_hold(entry_id)
        .await?
        .ok_or(StoreError::NotFound {
            entity: "held message",
        })?;
    let mut request: SendRequest = serde_json::from_str(&hold.payload)
        .map_err(|e| ServiceError::Invalid(format!("the held message cannot be read: {e}")))?;
    request.released = true;
    let payload = serde_json::to_string(&request)
        .map_err(|e| ServiceError::Invalid(format!("the held message cannot be written: {e}")))?;
    let mut job = parley_store::NewJob::new(
        Queue::Outbound.as_str(),
        JobKind::OutboundSend.as_str(),
        payload,
        now,
    );
    job.priority = REPLY_PRIORITY;
    job.dedupe_key = Some(format!("release:{entry_id}:{}", now.millis()));
    if !store.release_sender_hold(entry_id, &job, now).await? {
        return Err(StoreError::NotFound {
            entity: "held message",
        }
        .into());
    }
    Ok(())
}

/// Cancels a held message: it fails with 0005 and the admin's cancellation beside it.
pub async fn cancel_hold(
    store: &parley_store::Store,
    entry_id: Uuid,
    now: Timestamp,
) -> Result<(), ServiceError> {
    let hold = store
        .sender_hold(entry_id)
        .await?
        .ok_or(StoreError::NotFound {
            entity: "held message",
        })?;
    let reason = format!(
        "not sent: cancelled by an admin while held (sender_limit:{})",
        hold.limit
    );
    let code = ErrorCode::ChannelUnavailable.code();
    if !store
        .cancel_sender_hold(entry_id, code, &reason, now)
        .await?
    {
        return Err(StoreError::NotFound {
            entity: "held message",
        }
        .into());
    }
    Ok(())
}

/// Where a WhatsApp channel names its business account (WABA): templates are counted per
/// account (CH-36: 250 per WABA). A channel without one is its own account.
pub const WABA_SETTING: &str = "waba_id";
/// Where a WhatsApp channel names its Meta business account (Business Manager): numbers are
/// counted per business (CH-36: 20). Channels without one are not counted together.
pub const BUSINESS_SETTING: &str = "business_id";

fn setting<'a>(settings: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    settings
        .get(key)
        .and_then(serde_json::Value::as_str)
        .filter(|s| !s.is_empty())
}

/// Refuses a new template on a WhatsApp channel whose business account holds 250 already.
pub async fn check_template_cap(
    store: &parley_store::Store,
    channel: &Channel,
) -> Result<(), ServiceError> {
    if channel.kind != parley_core::model::ChannelKind::Whatsapp {
        return Ok(());
    }
    let account = setting(&channel.settings, WABA_SETTING);
    let templates = store.list_templates(None).await?;
    let mut channels: std::collections::HashMap<Uuid, bool> = std::collections::HashMap::new();
    let mut count = 0u64;
    for t in &templates {
        let same = match channels.get(&t.channel_id) {
            Some(same) => *same,
            None => {
                let same = if t.channel_id == channel.id {
                    true
                } else if let Some(account) = account {
                    match store.channel(t.channel_id).await {
                        Ok(other) => {
                            other.kind == parley_core::model::ChannelKind::Whatsapp
                                && setting(&other.settings, WABA_SETTING) == Some(account)
                        }
                        Err(StoreError::NotFound { .. }) => false,
                        Err(e) => return Err(e.into()),
                    }
                } else {
                    false
                };
                channels.insert(t.channel_id, same);
                same
            }
        };
        count += u64::from(same);
    }
    let label = account.map_or_else(|| format!("of channel '{}'", channel.name), str::to_owned);
    parley_core::sender_limits::check_template_cap(&label, count)
        .map_err(|e| ServiceError::Invalid(format!("templates: {e}")))
}

/// Refuses one more WhatsApp number in a Meta business account that has 20 already.
pub async fn check_number_cap(
    store: &parley_store::Store,
    kind: parley_core::model::ChannelKind,
    settings: &serde_json::Value,
    except: Option<Uuid>,
) -> Result<(), ServiceError> {
    if kind != parley_core::model::ChannelKind::Whatsapp {
        return Ok(());
    }
    let Some(business) = setting(settings, BUSINESS_SETTING) else {
        return Ok(());
    };
    let mut count = 0u64;
    let mut after = None;
    loop {
        let page = store
            .list_channels(parley_store::PageRequest::new(
                after,
                parley_store::PageRequest::MAX_LIMIT,
            ))
            .await?;
        count += page
            .items
            .iter()
            .filter(|c| {
                c.kind == parley_core::model::ChannelKind::Whatsapp
                    && Some(c.id) != except
                    && setting(&c.settings, BUSINESS_SETTING) == Some(business)
            })
            .count() as u64;
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    parley_core::sender_limits::check_number_cap(business, count)
        .map_err(|e| ServiceError::Invalid(format!("settings.{BUSINESS_SETTING}: {e}")))
}
