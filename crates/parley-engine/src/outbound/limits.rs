//! Sender limits' enforcement (issue 18): the rules of `parley_core::sender_limits` applied to
//! every send before its provider call, whatever the path (HTTP, SMPP, simulator, native).
//!
//! Only the node holding a sender's lease sends for it, so that node's in-memory view of the
//! sender's usage is authoritative between commits: each send is charged here when it is
//! decided (under a short lock, never held across a wait or a call), refunded when it does not
//! go out, and written to the store in the transaction that records it
//! (`Store::commit_outbox_with`, one upsert per sender and batch). The view is read from the
//! store when a batch first needs it and again every [`REFRESH`] (inbound messages, counted by
//! whichever node stored them, and a new day come in that way); sends decided but not yet
//! committed at a refresh are kept on top of what the store says.
//!
//! What a send that would go over a limit comes to, by the sender's action:
//! - `warn`: it goes; the breach is counted in `parley_sender_limit_breaches_total` and logged,
//!   and the limit shows as reached;
//! - `hold`: it stays `queued` with a note, held for an admin (`sender_holds`), who releases it
//!   (sent whatever the limit) or cancels it (failed);
//! - `refuse`: it fails with 0005 (the catalogue's "can't send messages on this channel right
//!   now"), `sender_limit:<limit>` kept beside it as the original reason.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use parley_core::model::{ChannelKind, EntryStatus};
use parley_core::sender_limits::{
    LimitAction, LimitConfig, SendCost, Usage, business_initiated, decide, is_long_code,
    reach_since, send_cost, states,
};
use parley_core::{ErrorCode, Timestamp};
use parley_store::outbox::EntryChange;
use parley_store::sender_limits::{NewSenderHold, SenderCharges};
use parley_store::{Channel, Store, StoreError};
use uuid::Uuid;

use crate::jobs::SendRequest;
use crate::outbound::verdict::{Target, Verdict, fail};
use crate::runner::JobOutcome;

/// How long the in-memory usage of a sender is trusted before it is read from the store again.
pub const REFRESH: Duration = Duration::from_secs(30);

/// What a send charged its sender, to write with its verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Charge {
    pub(crate) channel_id: Uuid,
    /// The customer newly reached (WhatsApp business-initiated), if any.
    pub(crate) reached: Option<Uuid>,
    pub(crate) at: Timestamp,
}

/// A sender's configuration, the defaults where the stored one is absent or unreadable.
pub fn config_of(channel: &Channel) -> LimitConfig {
    match &channel.sender_limits {
        serde_json::Value::Object(map) if !map.is_empty() => {
            serde_json::from_value(channel.sender_limits.clone()).unwrap_or_default()
        }
        _ => LimitConfig::default(),
    }
}

/// Whether any limit applies to the channel (most channels of a web-only or short-code
/// workspace skip everything here).
pub fn limited(channel: &Channel, config: &LimitConfig) -> bool {
    is_long_code(channel.kind, channel.number_type)
        || channel.kind == ChannelKind::Whatsapp
        || (channel.kind != ChannelKind::Web && config.daily_cap.is_some())
}

#[derive(Debug, Default)]
struct Tracked {
    /// What the store said at the last refresh.
    loaded: Usage,
    /// Charged here since that refresh.
    local: Usage,
    /// Charged here and not yet committed (kept across a refresh).
    pending: Usage,
    loaded_at: Option<Timestamp>,
    /// The channel row's `updated_at` at the refresh: a change of its limits (or anything else)
    /// makes the view read again.
    channel_updated_at: Timestamp,
    day: i64,
    /// Customers reached here since the refresh.
    reached: HashSet<Uuid>,
    /// The channel's configuration as read at the refresh (parsed once, not per send).
    config: LimitConfig,
}

impl Tracked {
    fn usage(&self) -> Usage {
        Usage {
            ratio_outbound: self.loaded.ratio_outbound + self.local.ratio_outbound,
            ratio_inbound: self.loaded.ratio_inbound,
            month_outbound: self.loaded.month_outbound + self.local.month_outbound,
            day_outbound: self.loaded.day_outbound + self.local.day_outbound,
            reached_24h: self.loaded.reached_24h + self.local.reached_24h,
        }
    }
}

fn uncharge(u: &mut Usage, cost: SendCost) {
    u.ratio_outbound = u.ratio_outbound.saturating_sub(1);
    u.month_outbound = u.month_outbound.saturating_sub(1);
    u.day_outbound = u.day_outbound.saturating_sub(1);
    if cost.new_reach {
        u.reached_24h = u.reached_24h.saturating_sub(1);
    }
}

/// A new UTC day, or a view older than [`REFRESH`].
fn stale_at(t: &Tracked, now: Timestamp) -> bool {
    t.day != parley_core::sender_limits::day_of(now)
        || t.loaded_at.is_none_or(|at| now.since(at) >= REFRESH)
}

/// Every sender's usage as this node sees it.
#[derive(Debug)]
pub struct SenderUsages {
    store: Store,
    senders: Mutex<HashMap<Uuid, Tracked>>,
}

impl SenderUsages {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            senders: Mutex::new(HashMap::new()),
        }
    }

    fn stale(&self, channel: &Channel, now: Timestamp) -> bool {
        let map = self.senders.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(&channel.id)
            .is_none_or(|t| t.channel_updated_at != channel.updated_at || stale_at(t, now))
    }

    /// Reads the sender's usage from the store when this node's view is missing or old.
    pub(crate) async fn refresh(
        &self,
        channel: &Channel,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let config = config_of(channel);
        if !limited(channel, &config) || !self.stale(channel, now) {
            return Ok(());
        }
        let whatsapp = channel.kind == ChannelKind::Whatsapp;
        let loaded = self.store.sender_usage(channel.id, now, whatsapp).await?;
        {
            let mut map = self.senders.lock().unwrap_or_else(PoisonError::into_inner);
            let t = map.entry(channel.id).or_default();
            t.loaded = loaded;
            t.local = t.pending;
            t.loaded_at = Some(now);
            t.channel_updated_at = channel.updated_at;
            t.config = config;
            t.day = parley_core::sender_limits::day_of(now);
            t.reached.clear();
        }
        self.gauges(channel, &config);
        Ok(())
    }

    /// Which of `users` the WhatsApp sender reached with a business-initiated message in the
    /// last 24 hours (one query per sender and batch).
    pub(crate) async fn reached(
        &self,
        channel: &Channel,
        users: &[Uuid],
        now: Timestamp,
    ) -> Result<HashSet<Uuid>, StoreError> {
        if channel.kind != ChannelKind::Whatsapp || users.is_empty() {
            return Ok(HashSet::new());
        }
        let found = self
            .store
            .reached_since(channel.id, users, reach_since(now))
            .await?;
        Ok(found.into_iter().collect())
    }

    /// A sender's usage as this node sees it now (the store's when it has no view).
    pub async fn usage(&self, channel: &Channel, now: Timestamp) -> Result<Usage, StoreError> {
        {
            let map = self.senders.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(t) = map.get(&channel.id)
                && t.loaded_at.is_some()
                && t.channel_updated_at == channel.updated_at
                && !stale_at(t, now)
            {
                return Ok(t.usage());
            }
        }
        self.store
            .sender_usage(channel.id, now, channel.kind == ChannelKind::Whatsapp)
            .await
    }

    /// The limits' decision for one send, before its provider call: `Err` is the verdict that
    /// stops it (held or refused), `Ok` what it charged (refund it if it does not go out).
    pub(crate) fn gate(
        &self,
        target: &Target,
        now: Timestamp,
    ) -> Result<Option<Charge>, Box<Verdict>> {
        let channel = target.channel.as_ref();
        let initiated = business_initiated(target.session.last_customer_at, now);
        let user = target.user.id;
        let (decision, cost) = {
            let mut map = self.senders.lock().unwrap_or_else(PoisonError::into_inner);
            // The view a batch refreshed holds the parsed configuration; a sender without one
            // (no limit applies, or its row changed since) is read here.
            let cached = map
                .get(&channel.id)
                .filter(|t| t.loaded_at.is_some() && t.channel_updated_at == channel.updated_at)
                .map(|t| t.config);
            let config = match cached {
                Some(c) => c,
                None => {
                    let c = config_of(channel);
                    if !limited(channel, &c) {
                        return Ok(None);
                    }
                    c
                }
            };
            let t = map.entry(channel.id).or_default();
            let already = target.already_reached || t.reached.contains(&user);
            let cost = send_cost(channel.kind, initiated, already);
            let decision = decide(&config, channel.kind, channel.number_type, &t.usage(), cost);
            if decision.sends() || target.released {
                t.local.charge(cost);
                t.pending.charge(cost);
                if cost.new_reach {
                    t.reached.insert(user);
                }
            }
            (decision, cost)
        };
        let charge = Charge {
            channel_id: channel.id,
            reached: cost.new_reach.then_some(user),
            at: now,
        };
        let Some(breach) = decision.breach else {
            return Ok(Some(charge));
        };
        let channel_label = channel.id.to_string();
        metrics::counter!(
            "parley_sender_limit_breaches_total",
            "channel" => channel_label,
            "limit" => breach.limit.as_str(),
            "action" => if target.released { "released" } else { breach.action.as_str() }
        )
        .increment(1);
        if target.released {
            return Ok(Some(charge));
        }
        match breach.action {
            LimitAction::Warn => {
                // Logged once, when the limit is first passed; the metric counts every send.
                if breach.used == breach.max {
                    tracing::warn!(channel = %channel.id, limit = %breach.limit, used = breach.used,
                    max = breach.max, "sender over its limit; sent (action warn)");
                }
                Ok(Some(charge))
            }
            LimitAction::Hold => {
                let reason = format!("held for review: {}", breach.reason());
                let request = SendRequest {
                    entry_id: target.entry.id,
                    purpose: target.purpose,
                    campaign: None,
                    released: false,
                };
                let mut verdict = Verdict::write(
                    &target.entry,
                    EntryChange::Status {
                        status: EntryStatus::Queued,
                        error_code: None,
                        provider_error: Some(reason.clone()),
                    },
                    JobOutcome::Done,
                    true,
                );
                verdict.hold = Some(NewSenderHold {
                    entry_id: target.entry.id,
                    channel_id: channel.id,
                    limit: breach.limit.as_str().to_owned(),
                    reason,
                    payload: serde_json::to_string(&request).unwrap_or_default(),
                });
                Err(Box::new(verdict))
            }
            LimitAction::Refuse => Err(Box::new(fail(
                &target.entry,
                ErrorCode::ChannelUnavailable,
                &format!("not sent: {}", breach.reason()),
            ))),
        }
    }

    /// A send charged by [`SenderUsages::gate`] did not go out.
    pub(crate) fn refund(&self, charge: &Charge) {
        let cost = SendCost {
            new_reach: charge.reached.is_some(),
        };
        let mut map = self.senders.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(t) = map.get_mut(&charge.channel_id) {
            uncharge(&mut t.local, cost);
            uncharge(&mut t.pending, cost);
            if let Some(user) = charge.reached {
                t.reached.remove(&user);
            }
        }
    }

    /// The charges of a batch's verdicts, as the store writes them.
    pub(crate) fn charges(verdicts: &[Verdict]) -> SenderCharges {
        let mut charges = SenderCharges::default();
        for v in verdicts {
            if let Some(c) = &v.charge {
                charges.charge(c.channel_id, c.reached, c.at);
            }
            if let Some(h) = &v.hold {
                charges.holds.push(h.clone());
            }
        }
        charges
    }

    /// The batch's charges are in the store: no longer pending here.
    pub(crate) fn committed(&self, verdicts: &[Verdict]) {
        let mut map = self.senders.lock().unwrap_or_else(PoisonError::into_inner);
        for c in verdicts.iter().filter_map(|v| v.charge.as_ref()) {
            if let Some(t) = map.get_mut(&c.channel_id) {
                uncharge(
                    &mut t.pending,
                    SendCost {
                        new_reach: c.reached.is_some(),
                    },
                );
            }
        }
    }

    /// Sets the sender's `/metrics` gauges from this node's view.
    pub fn gauges(&self, channel: &Channel, config: &LimitConfig) {
        let usage = {
            let map = self.senders.lock().unwrap_or_else(PoisonError::into_inner);
            map.get(&channel.id).map(Tracked::usage).unwrap_or_default()
        };
        set_gauges(channel, config, &usage);
    }
}

/// `parley_sender_limit_use{channel,limit}` and `parley_sender_limit_max{channel,limit}`.
pub fn set_gauges(channel: &Channel, config: &LimitConfig, usage: &Usage) {
    for s in states(config, channel.kind, channel.number_type, usage) {
        let labels = [
            ("channel", channel.id.to_string()),
            ("limit", s.limit.as_str().to_owned()),
        ];
        metrics::gauge!("parley_sender_limit_use", &labels).set(s.used as f64);
        if let Some(max) = s.max {
            metrics::gauge!("parley_sender_limit_max", &labels).set(max as f64);
        }
    }
}

/// Whether a verdict sent its message (to the provider or the customer): only those count.
pub(crate) fn went_out(verdict: &Verdict) -> bool {
    matches!(
        verdict.write.as_ref().map(|w| &w.change),
        Some(
            EntryChange::Dispatched { .. }
                | EntryChange::Simulated { .. }
                | EntryChange::Unknown { .. }
        )
    )
}
