//! Campaigns and sender limits (issue 18): how much each sender of a campaign may still send
//! before one of its stopping limits (action `hold` or `refuse`; a `warn` limit never stops a
//! sender) is reached, read once per expansion batch. The expansion gives a recipient known on
//! several of the campaign's senders to one with room left; a campaign whose every sender is at
//! a limit pauses with the reason shown ([`all_at_limit`]).
//!
//! A recipient known only on a sender at its limit stays on it: another sender has no messaging
//! user (and so no consent) for them, and the dispatcher applies the sender's action to the
//! message as to any other.

use std::collections::HashMap;

use parley_core::Timestamp;
use parley_core::model::ChannelKind;
use parley_core::sender_limits::{LimitAction, LimitStateKind, states};
use parley_store::{Store, StoreError};
use uuid::Uuid;

use crate::outbound::limits::{config_of, limited};

/// What a sender may still send before a stopping limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub channel_name: String,
    /// `None`: no stopping limit.
    pub left: Option<u64>,
    /// The limits reached, as `sender_limit:<limit>`.
    pub reached: Vec<String>,
}

impl Room {
    pub fn has_room(&self) -> bool {
        self.left.is_none_or(|n| n > 0)
    }

    /// One message given to this sender.
    pub fn take(&mut self) {
        if let Some(n) = self.left.as_mut() {
            *n = n.saturating_sub(1);
        }
    }
}

/// Each sender's room, by channel id (senders that no longer exist are left out).
pub async fn rooms(
    store: &Store,
    senders: &[Uuid],
    now: Timestamp,
) -> Result<HashMap<Uuid, Room>, StoreError> {
    let channels = store.outbox_channels(senders).await?;
    let mut out = HashMap::with_capacity(channels.len());
    for channel in channels {
        let config = config_of(&channel);
        let mut room = Room {
            channel_name: channel.name.clone(),
            left: None,
            reached: Vec::new(),
        };
        if limited(&channel, &config) && config.action() != LimitAction::Warn {
            let usage = store
                .sender_usage(channel.id, now, channel.kind == ChannelKind::Whatsapp)
                .await?;
            for s in states(&config, channel.kind, channel.number_type, &usage) {
                let Some(max) = s.max else { continue };
                let left = max.saturating_sub(s.used);
                room.left = Some(room.left.map_or(left, |l| l.min(left)));
                if s.state == LimitStateKind::Reached {
                    room.reached.push(format!("sender_limit:{}", s.limit));
                }
            }
        }
        out.insert(channel.id, room);
    }
    Ok(out)
}

/// The pause reason when every sender is at a limit (`None` while one has room).
pub fn all_at_limit(rooms: &HashMap<Uuid, Room>) -> Option<String> {
    if rooms.is_empty() || rooms.values().any(Room::has_room) {
        return None;
    }
    let mut names: Vec<String> = rooms
        .values()
        .map(|r| format!("{} ({})", r.channel_name, r.reached.join(", ")))
        .collect();
    names.sort();
    Some(format!("every sender is at a limit: {}", names.join("; ")))
}
