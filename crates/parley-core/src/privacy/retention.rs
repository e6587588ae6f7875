//! Retention (issue 16 part 4, TM-08, PRIV-10): how long each kind of data is kept, on one
//! channel or on all of them, and which sweeps a run makes.
//!
//! The rule: for a kind of data, a channel's own policy wins over the all-channels policy, whether
//! it keeps data longer or shorter; without either, that kind is kept. Data older than `now - days`
//! (the cutoff) is due. Error logs have a built-in all-channels policy of 30 days (TM-08), which a
//! stored all-channels policy for error logs replaces.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Timestamp;

/// The longest period a policy may name (100 years): beyond it a policy means "forever", which is
/// having none.
pub const MAX_DAYS: u32 = 36_500;
/// TM-08: notification error log entries are deleted after 30 days.
pub const BUILTIN_ERROR_LOG_DAYS: u32 = 30;
const DAY_MS: i64 = 24 * 3600 * 1000;

/// A kind of data retention can delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataKind {
    /// The transcript (entries and their media) of sessions closed before the cutoff; the
    /// session's own row (times, counts, status) stays for reports.
    Entries,
    /// Media files (and their rows) received before the cutoff.
    Media,
    /// Ended and Error sessions closed before the cutoff, with their transcript and media.
    Sessions,
    /// The notification error log (TM-08).
    ErrorLogs,
    /// Dead letters: inbound events the pipeline gave up on, with their raw payload.
    DeadLetters,
    /// Campaign link clicks: the per-recipient short code and its click counts.
    LinkClicks,
}

impl DataKind {
    pub const ALL: [DataKind; 6] = [
        Self::Entries,
        Self::Media,
        Self::Sessions,
        Self::ErrorLogs,
        Self::DeadLetters,
        Self::LinkClicks,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Entries => "entries",
            Self::Media => "media",
            Self::Sessions => "sessions",
            Self::ErrorLogs => "error_logs",
            Self::DeadLetters => "dead_letters",
            Self::LinkClicks => "link_clicks",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether a policy can name one channel. Dead letters are raw events that failed before the
    /// pipeline knew their channel for sure, so only an all-channels policy applies to them.
    pub const fn per_channel(self) -> bool {
        !matches!(self, Self::DeadLetters)
    }
}

impl std::fmt::Display for DataKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One policy: keep `kind` on `channel_id` (or every channel: `None`) for `days`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub channel_id: Option<Uuid>,
    pub kind: DataKind,
    pub days: u32,
}

/// Why a policy is refused; each names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("kind: one of entries, media, sessions, error_logs, dead_letters, link_clicks")]
    UnknownKind,
    #[error("days: 1 to {MAX_DAYS}")]
    Days,
    #[error("channel_id: {0} are kept by an all-channels policy only")]
    NotPerChannel(DataKind),
}

impl Policy {
    /// Checks a policy as an operator wrote it.
    pub fn new(channel_id: Option<Uuid>, kind: &str, days: i64) -> Result<Self, PolicyError> {
        let kind = DataKind::parse(kind).ok_or(PolicyError::UnknownKind)?;
        let days = u32::try_from(days)
            .ok()
            .filter(|d| (1..=MAX_DAYS).contains(d))
            .ok_or(PolicyError::Days)?;
        if channel_id.is_some() && !kind.per_channel() {
            return Err(PolicyError::NotPerChannel(kind));
        }
        Ok(Self {
            channel_id,
            kind,
            days,
        })
    }
}

/// The built-in policy of TM-08, at `days` (the configuration's
/// `notification_error_retention_days`, 30 unless changed).
pub fn builtin_error_logs(days: u32) -> Policy {
    Policy {
        channel_id: None,
        kind: DataKind::ErrorLogs,
        days: days.clamp(1, MAX_DAYS),
    }
}

/// The moment before which data kept `days` is due at `now`.
pub fn cutoff(now: Timestamp, days: u32) -> Timestamp {
    Timestamp(now.0.saturating_sub(i64::from(days).saturating_mul(DAY_MS)))
}

/// Which rows one sweep looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Rows of this channel.
    Channel(Uuid),
    /// Rows tied to no channel (an error log entry whose channel was unknown, a media file no
    /// entry holds, every dead letter): the all-channels policy covers them.
    Unassigned,
}

/// One sweep of a run: delete `kind` in `scope` older than `cutoff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sweep {
    pub kind: DataKind,
    pub scope: Scope,
    pub cutoff: Timestamp,
    pub days: u32,
}

/// The sweeps of a run at `now`: per kind, each channel under its own policy or else the
/// all-channels one (stored, or the built-in for error logs), plus the rows of no channel under
/// the all-channels policy. Channels with no policy that applies are not swept. Sorted by kind,
/// then scope, so a run is deterministic.
pub fn plan(
    policies: &[Policy],
    builtin: &[Policy],
    channels: &[Uuid],
    now: Timestamp,
) -> Vec<Sweep> {
    let mut out = Vec::new();
    for kind in DataKind::ALL {
        let all = policies
            .iter()
            .find(|p| p.kind == kind && p.channel_id.is_none())
            .or_else(|| {
                builtin
                    .iter()
                    .find(|p| p.kind == kind && p.channel_id.is_none())
            });
        let sweep = |scope, days| Sweep {
            kind,
            scope,
            cutoff: cutoff(now, days),
            days,
        };
        if kind.per_channel() {
            for &channel in channels {
                let own = policies
                    .iter()
                    .find(|p| p.kind == kind && p.channel_id == Some(channel));
                if let Some(p) = own.or(all) {
                    out.push(sweep(Scope::Channel(channel), p.days));
                }
            }
        }
        if let Some(p) = all {
            out.push(sweep(Scope::Unassigned, p.days));
        }
    }
    out
}

/// How long a run may hold the retention lease before renewing it.
pub const LEASE: Duration = Duration::from_secs(300);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: Timestamp = Timestamp(1_000 * DAY_MS);

    fn p(channel: Option<Uuid>, kind: DataKind, days: u32) -> Policy {
        Policy {
            channel_id: channel,
            kind,
            days,
        }
    }

    #[test]
    fn a_policy_is_checked_field_by_field() {
        assert_eq!(Policy::new(None, "nope", 3), Err(PolicyError::UnknownKind));
        assert_eq!(Policy::new(None, "media", 0), Err(PolicyError::Days));
        assert_eq!(
            Policy::new(None, "media", i64::from(MAX_DAYS) + 1),
            Err(PolicyError::Days)
        );
        assert_eq!(
            Policy::new(Some(Uuid::nil()), "dead_letters", 3),
            Err(PolicyError::NotPerChannel(DataKind::DeadLetters))
        );
        assert!(Policy::new(Some(Uuid::nil()), "entries", 3).is_ok());
        assert!(PolicyError::Days.to_string().starts_with("days"));
    }

    #[test]
    fn a_channel_policy_wins_over_the_all_channels_one() {
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let policies = [
            p(None, DataKind::Entries, 90),
            p(Some(b), DataKind::Entries, 400),
        ];
        let plan = plan(&policies, &[], &[a, b], NOW);
        let entries: Vec<_> = plan
            .iter()
            .filter(|s| s.kind == DataKind::Entries)
            .map(|s| (s.scope, s.days))
            .collect();
        assert_eq!(
            entries,
            [
                (Scope::Channel(a), 90),
                (Scope::Channel(b), 400),
                (Scope::Unassigned, 90)
            ]
        );
        assert_eq!(plan.len(), 3, "no policy, no sweep: {plan:?}");
    }

    #[test]
    fn error_logs_keep_thirty_days_unless_a_policy_says_otherwise() {
        let a = Uuid::from_u128(1);
        let builtin = [builtin_error_logs(BUILTIN_ERROR_LOG_DAYS)];
        let plan1 = plan(&[], &builtin, &[a], NOW);
        assert_eq!(plan1.len(), 2);
        assert!(
            plan1
                .iter()
                .all(|s| s.days == 30 && s.cutoff == Timestamp(970 * DAY_MS))
        );
        let plan2 = plan(&[p(None, DataKind::ErrorLogs, 7)], &builtin, &[a], NOW);
        assert!(plan2.iter().all(|s| s.days == 7));
    }

    #[test]
    fn dead_letters_are_swept_once_for_all_channels() {
        let a = Uuid::from_u128(1);
        let plan = plan(&[p(None, DataKind::DeadLetters, 5)], &[], &[a], NOW);
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0].scope, Scope::Unassigned);
    }

    proptest! {
        #[test]
        fn every_channel_is_swept_at_most_once_per_kind_with_its_own_policy_first(
            days in proptest::collection::vec((0u8..4, 0usize..6, 1u32..1000), 0..20),
            now in 0i64..i64::MAX / 2,
        ) {
            let channels: Vec<Uuid> = (1..=3).map(Uuid::from_u128).collect();
            let mut policies: Vec<Policy> = Vec::new();
            for (ch, kind, d) in days {
                let channel = channels.get(usize::from(ch)).copied();
                let kind = DataKind::ALL[kind];
                if channel.is_some() && !kind.per_channel() { continue; }
                if policies.iter().any(|q| q.kind == kind && q.channel_id == channel) { continue; }
                policies.push(p(channel, kind, d));
            }
            let plan = plan(&policies, &[], &channels, Timestamp(now));
            for s in &plan {
                prop_assert!(s.cutoff <= Timestamp(now));
                let twins = plan.iter().filter(|t| t.kind == s.kind && t.scope == s.scope).count();
                prop_assert_eq!(twins, 1);
                let expected = match s.scope {
                    Scope::Channel(c) => policies.iter()
                        .find(|q| q.kind == s.kind && q.channel_id == Some(c))
                        .or_else(|| policies.iter().find(|q| q.kind == s.kind && q.channel_id.is_none())),
                    Scope::Unassigned => policies.iter().find(|q| q.kind == s.kind && q.channel_id.is_none()),
                };
                prop_assert_eq!(expected.map(|q| q.days), Some(s.days));
            }
        }
    }
}
