//! What carriers and Meta let one sender send (issue 18; inventory CH-33..36, SMS-01, SMS-06,
//! SMS-09, LIM-15..17, LIM-36..38), as pure rules: each limit's configuration with its
//! defaults, the decision for one send from the sender's usage, and each limit's state for
//! display. The dispatcher enforces the decision; the store keeps the usage.
//!
//! Windows (all in UTC, so every node and both databases agree on them):
//! - **outbound ratio** (long codes, SMS-01): outbound against inbound over a rolling window of
//!   [`RATIO_WINDOW_DAYS`] UTC days, today included. A sender may send
//!   `allowance + max_ratio × inbound` messages in the window: the allowance (default
//!   [`DEFAULT_RATIO_ALLOWANCE`]) lets a new number send its first messages before anyone
//!   answered, and 3:1 is the carriers' maximum. Going over 1:1 (past the allowance) already
//!   shows a warning, because 1:1 is what carriers expect of person-to-person traffic;
//! - **monthly volume** (long codes, CH-34): outbound in the calendar month (UTC), 15,000;
//! - **daily cap** (Messenger's CH-35, and any other sender an operator wants to cap): outbound
//!   in the UTC day, when configured (Meta's cap is 200 × the people the page can message,
//!   which only the operator knows, so there is no default);
//! - **messaging tier** (WhatsApp, CH-36): unique customers reached by business-initiated
//!   messages in a rolling 24 hours. A reply inside the customer care window costs nothing, and
//!   neither does a customer already reached in the last 24 hours.
//!
//! Throughput (messages per second) is the dispatcher's rate limiter's business; its defaults
//! live in one place, [`crate::channel::effective_throughput`], reused here for display.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::Timestamp;
use crate::model::{ChannelKind, NumberType};

/// Days of the long-code ratio's rolling window.
pub const RATIO_WINDOW_DAYS: i64 = 30;
/// Outbound messages a long code may send in the window before the ratio applies.
pub const DEFAULT_RATIO_ALLOWANCE: u64 = 50;
/// Carriers' maximum outbound:inbound ratio for long codes (SMS-01).
pub const DEFAULT_MAX_RATIO: u64 = 3;
/// What carriers expect of person-to-person traffic: one outbound per inbound.
pub const EXPECTED_RATIO: u64 = 1;
/// Long-code messages per calendar month (CH-34).
pub const DEFAULT_MONTHLY_VOLUME: u64 = 15_000;
/// A limit shows a warning from this share of its maximum.
pub const DEFAULT_WARN_AT_PERCENT: u8 = 80;
/// Message templates per WhatsApp business account (CH-36, LIM-38).
pub const TEMPLATES_PER_ACCOUNT: u64 = 250;
/// WhatsApp numbers per Meta business account (CH-36, LIM-37).
pub const NUMBERS_PER_ACCOUNT: u64 = 20;
/// WhatsApp's care window and the messaging tier's rolling window.
pub const DAY_MILLIS: i64 = 86_400_000;

crate::wire_enum! {
    /// One limit a sender may reach.
    pub enum LimitKind: "sender limit" {
        OutboundRatio = "outbound_ratio",
        MonthlyVolume = "monthly_volume",
        DailyCap = "daily_cap",
        MessagingTier = "messaging_tier",
    }
}

crate::wire_enum! {
    /// What happens to a message that would go over a limit.
    pub enum LimitAction: "sender limit action" {
        /// Sent anyway; recorded and counted in the metrics.
        Warn = "warn",
        /// Kept for an admin to release or cancel.
        Hold = "hold",
        /// Failed with a catalogue code, `sender_limit:<limit>` kept beside it.
        Refuse = "refuse",
    }
}

crate::wire_enum! {
    /// WhatsApp's messaging limit tier of a number: unique customers in a rolling 24 hours.
    pub enum MessagingTier: "messaging tier" {
        Tier250 = "250",
        Tier1k = "1000",
        Tier10k = "10000",
        Tier100k = "100000",
        Unlimited = "unlimited",
    }
}

impl MessagingTier {
    /// Unique customers per rolling 24 hours (`None`: unlimited).
    pub const fn customers(self) -> Option<u64> {
        match self {
            Self::Tier250 => Some(250),
            Self::Tier1k => Some(1_000),
            Self::Tier10k => Some(10_000),
            Self::Tier100k => Some(100_000),
            Self::Unlimited => None,
        }
    }
}

crate::wire_enum! {
    /// A limit's state, for display and gauges.
    pub enum LimitStateKind: "limit state" {
        Ok = "ok",
        Warning = "warning",
        Reached = "reached",
    }
}

/// A sender's limit configuration as stored (every field optional: absent means the default
/// for the sender's kind and number type).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<LimitAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn_at_percent: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ratio: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio_allowance: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_volume: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_cap: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messaging_tier: Option<MessagingTier>,
}

/// A configuration the rules refuse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LimitConfigError {
    #[error("warn_at_percent must be between 1 and 100, got {0}")]
    WarnAt(u8),
    #[error("max_ratio must be between 1 and 100, got {0}")]
    Ratio(u64),
    #[error("{field} must be at least 1")]
    Zero { field: &'static str },
    #[error("{field} does not apply to a {kind} channel")]
    NotApplicable {
        field: &'static str,
        kind: &'static str,
    },
}

impl LimitConfigError {
    /// The configuration field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            Self::WarnAt(_) => "warn_at_percent",
            Self::Ratio(_) => "max_ratio",
            Self::Zero { field } | Self::NotApplicable { field, .. } => field,
        }
    }
}

/// Whether a channel is a long code for the ratio and volume rules: an SMS channel whose
/// number type is a long code or not given (an unknown SMS number is treated as the most
/// restricted kind, as its default throughput is).
pub fn is_long_code(kind: ChannelKind, number_type: Option<NumberType>) -> bool {
    kind == ChannelKind::Sms && matches!(number_type, None | Some(NumberType::LongCode))
}

impl LimitConfig {
    /// Checks the values and that each applies to this kind of sender.
    pub fn validate(
        &self,
        kind: ChannelKind,
        number_type: Option<NumberType>,
    ) -> Result<(), LimitConfigError> {
        if let Some(p) = self.warn_at_percent
            && !(1..=100).contains(&p)
        {
            return Err(LimitConfigError::WarnAt(p));
        }
        if let Some(r) = self.max_ratio
            && !(1..=100).contains(&r)
        {
            return Err(LimitConfigError::Ratio(r));
        }
        for (field, v) in [
            ("monthly_volume", self.monthly_volume),
            ("daily_cap", self.daily_cap),
        ] {
            if v == Some(0) {
                return Err(LimitConfigError::Zero { field });
            }
        }
        let long = is_long_code(kind, number_type);
        let not = |field| LimitConfigError::NotApplicable {
            field,
            kind: kind.as_str(),
        };
        if !long {
            if self.max_ratio.is_some() {
                return Err(not("max_ratio"));
            }
            if self.ratio_allowance.is_some() {
                return Err(not("ratio_allowance"));
            }
            if self.monthly_volume.is_some() {
                return Err(not("monthly_volume"));
            }
        }
        if kind == ChannelKind::Web && self.daily_cap.is_some() {
            return Err(not("daily_cap"));
        }
        if kind != ChannelKind::Whatsapp && self.messaging_tier.is_some() {
            return Err(not("messaging_tier"));
        }
        Ok(())
    }

    pub fn action(&self) -> LimitAction {
        self.action.unwrap_or(LimitAction::Warn)
    }

    pub fn warn_at_percent(&self) -> u8 {
        self.warn_at_percent.unwrap_or(DEFAULT_WARN_AT_PERCENT)
    }
}

/// What a sender has used, as the store counts it (plus what the dispatcher decided since).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Outbound in the ratio's window.
    pub ratio_outbound: u64,
    /// Inbound in the ratio's window.
    pub ratio_inbound: u64,
    /// Outbound in the calendar month.
    pub month_outbound: u64,
    /// Outbound in the UTC day.
    pub day_outbound: u64,
    /// Unique customers reached by business-initiated messages in the last 24 hours.
    pub reached_24h: u64,
}

impl Usage {
    /// Counts one outbound message (and a newly reached customer).
    pub fn charge(&mut self, cost: SendCost) {
        self.ratio_outbound += 1;
        self.month_outbound += 1;
        self.day_outbound += 1;
        if cost.new_reach {
            self.reached_24h += 1;
        }
    }
}

/// What one send would add to a sender's usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendCost {
    /// It reaches a customer not reached in the last 24 hours by a business-initiated message.
    pub new_reach: bool,
}

/// Whether a WhatsApp message is business-initiated: outside the customer care window (24
/// hours from the customer's last message). Replies inside the window never count.
pub fn business_initiated(last_customer_at: Option<Timestamp>, now: Timestamp) -> bool {
    last_customer_at.is_none_or(|at| now.0 - at.0 >= DAY_MILLIS)
}

/// The cost of a send on a sender of `kind`: a WhatsApp business-initiated message to a
/// customer not reached in the last 24 hours takes one unit of the tier.
pub fn send_cost(kind: ChannelKind, business_initiated: bool, already_reached: bool) -> SendCost {
    SendCost {
        new_reach: kind == ChannelKind::Whatsapp && business_initiated && !already_reached,
    }
}

/// One limit's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitState {
    pub limit: LimitKind,
    pub used: u64,
    /// `None`: unlimited.
    pub max: Option<u64>,
    /// The use from which the limit shows a warning.
    pub warn_at: Option<u64>,
    pub state: LimitStateKind,
    pub action: LimitAction,
    /// The window the use is counted in, in words of the API (`rolling_30_days`,
    /// `calendar_month_utc`, `utc_day`, `rolling_24_hours`).
    pub window: &'static str,
}

/// A send that would go over a limit, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breach {
    pub limit: LimitKind,
    pub action: LimitAction,
    pub used: u64,
    pub max: u64,
}

impl Breach {
    /// The original reason kept beside the catalogue code.
    pub fn reason(&self) -> String {
        format!(
            "sender_limit:{} ({} of {} used)",
            self.limit, self.used, self.max
        )
    }
}

/// The decision for one send.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decision {
    /// The first limit the send would go over (in [`LimitKind::ALL`] order).
    pub breach: Option<Breach>,
    /// Limits at or past their warning threshold after this send.
    pub warnings: Vec<LimitKind>,
}

impl Decision {
    /// The send goes to the provider (no breach, or the action only warns).
    pub fn sends(&self) -> bool {
        self.breach
            .as_ref()
            .is_none_or(|b| b.action == LimitAction::Warn)
    }
}

/// The limits of a sender of this kind with their maximum and window (without use).
fn limits_of(
    config: &LimitConfig,
    kind: ChannelKind,
    number_type: Option<NumberType>,
    usage: &Usage,
) -> Vec<(LimitKind, Option<u64>, u64, &'static str)> {
    let mut out = Vec::new();
    if is_long_code(kind, number_type) {
        let allowance = config.ratio_allowance.unwrap_or(DEFAULT_RATIO_ALLOWANCE);
        let ratio = config.max_ratio.unwrap_or(DEFAULT_MAX_RATIO);
        let max = allowance.saturating_add(ratio.saturating_mul(usage.ratio_inbound));
        out.push((
            LimitKind::OutboundRatio,
            Some(max),
            usage.ratio_outbound,
            "rolling_30_days",
        ));
        out.push((
            LimitKind::MonthlyVolume,
            Some(config.monthly_volume.unwrap_or(DEFAULT_MONTHLY_VOLUME)),
            usage.month_outbound,
            "calendar_month_utc",
        ));
    }
    if kind != ChannelKind::Web
        && let Some(cap) = config.daily_cap
    {
        out.push((
            LimitKind::DailyCap,
            Some(cap),
            usage.day_outbound,
            "utc_day",
        ));
    }
    if kind == ChannelKind::Whatsapp {
        let tier = config.messaging_tier.unwrap_or(MessagingTier::Tier1k);
        out.push((
            LimitKind::MessagingTier,
            tier.customers(),
            usage.reached_24h,
            "rolling_24_hours",
        ));
    }
    out
}

/// The use from which a limit of maximum `max` shows a warning.
fn warn_threshold(max: u64, percent: u8) -> u64 {
    (max.saturating_mul(u64::from(percent))).div_ceil(100)
}

/// Whether the long-code ratio is past what carriers expect (1:1 beyond the allowance).
fn over_expected_ratio(config: &LimitConfig, usage: &Usage, outbound: u64) -> bool {
    let allowance = config.ratio_allowance.unwrap_or(DEFAULT_RATIO_ALLOWANCE);
    outbound > allowance.saturating_add(EXPECTED_RATIO.saturating_mul(usage.ratio_inbound))
}

/// Each limit's state for display.
pub fn states(
    config: &LimitConfig,
    kind: ChannelKind,
    number_type: Option<NumberType>,
    usage: &Usage,
) -> Vec<LimitState> {
    let percent = config.warn_at_percent();
    limits_of(config, kind, number_type, usage)
        .into_iter()
        .map(|(limit, max, used, window)| {
            let warn_at = max.map(|m| warn_threshold(m, percent));
            let state = match (max, warn_at) {
                (Some(m), _) if used >= m => LimitStateKind::Reached,
                (_, Some(w)) if used >= w => LimitStateKind::Warning,
                _ if limit == LimitKind::OutboundRatio
                    && over_expected_ratio(config, usage, used) =>
                {
                    LimitStateKind::Warning
                }
                _ => LimitStateKind::Ok,
            };
            LimitState {
                limit,
                used,
                max,
                warn_at,
                state,
                action: config.action(),
                window,
            }
        })
        .collect()
}

/// Whether one more send of `cost` keeps the sender inside its limits, and which limits warn
/// after it.
pub fn decide(
    config: &LimitConfig,
    kind: ChannelKind,
    number_type: Option<NumberType>,
    usage: &Usage,
    cost: SendCost,
) -> Decision {
    let percent = config.warn_at_percent();
    let mut decision = Decision::default();
    for (limit, max, used, _) in limits_of(config, kind, number_type, usage) {
        let add = match limit {
            LimitKind::MessagingTier => u64::from(cost.new_reach),
            _ => 1,
        };
        let Some(max) = max else { continue };
        let after = used.saturating_add(add);
        if add > 0 && after > max && decision.breach.is_none() {
            decision.breach = Some(Breach {
                limit,
                action: config.action(),
                used,
                max,
            });
        }
        let ratio_warn =
            limit == LimitKind::OutboundRatio && over_expected_ratio(config, usage, after);
        if after >= warn_threshold(max, percent) || ratio_warn {
            decision.warnings.push(limit);
        }
    }
    decision
}

/// Days since 1970-01-01 (UTC) of an instant: the store's usage period.
pub fn day_of(at: Timestamp) -> i64 {
    at.0.div_euclid(DAY_MILLIS)
}

/// The first day of the calendar month (UTC) holding `day`.
pub fn month_start(day: i64) -> i64 {
    let (_, _, d) = crate::clock::civil_from_days(day);
    day - (d - 1)
}

/// The first day of the ratio's window ending on `day`.
pub fn ratio_window_start(day: i64) -> i64 {
    day - (RATIO_WINDOW_DAYS - 1)
}

/// The earliest instant a customer reached counts for the messaging tier at `now`.
pub fn reach_since(now: Timestamp) -> Timestamp {
    Timestamp(now.0 - DAY_MILLIS)
}

/// An account cap a new template or number would go over.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AccountCapError {
    #[error(
        "the WhatsApp business account {account} has {count} templates already; at most {TEMPLATES_PER_ACCOUNT} are allowed"
    )]
    Templates { account: String, count: u64 },
    #[error(
        "the Meta business account {account} has {count} WhatsApp numbers already; at most {NUMBERS_PER_ACCOUNT} are allowed"
    )]
    Numbers { account: String, count: u64 },
}

/// Whether one more template fits a WhatsApp business account holding `count`.
pub fn check_template_cap(account: &str, count: u64) -> Result<(), AccountCapError> {
    if count >= TEMPLATES_PER_ACCOUNT {
        return Err(AccountCapError::Templates {
            account: account.to_owned(),
            count,
        });
    }
    Ok(())
}

/// Whether one more WhatsApp number fits an account holding `count`.
pub fn check_number_cap(account: &str, count: u64) -> Result<(), AccountCapError> {
    if count >= NUMBERS_PER_ACCOUNT {
        return Err(AccountCapError::Numbers {
            account: account.to_owned(),
            count,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SMS: ChannelKind = ChannelKind::Sms;
    const LONG: Option<NumberType> = Some(NumberType::LongCode);

    fn hold() -> LimitConfig {
        LimitConfig {
            action: Some(LimitAction::Hold),
            ..LimitConfig::default()
        }
    }

    #[test]
    fn a_new_long_code_sends_its_allowance_then_needs_answers() {
        let mut usage = Usage::default();
        let cost = send_cost(SMS, false, false);
        for _ in 0..DEFAULT_RATIO_ALLOWANCE {
            assert!(decide(&hold(), SMS, LONG, &usage, cost).breach.is_none());
            usage.charge(cost);
        }
        let d = decide(&hold(), SMS, LONG, &usage, cost);
        let breach = d.breach.unwrap();
        assert_eq!(breach.limit, LimitKind::OutboundRatio);
        assert_eq!(breach.action, LimitAction::Hold);
        assert!(breach.reason().starts_with("sender_limit:outbound_ratio"));
        // Ten answers open room for thirty more (3:1).
        usage.ratio_inbound = 10;
        for _ in 0..30 {
            assert!(decide(&hold(), SMS, LONG, &usage, cost).breach.is_none());
            usage.charge(cost);
        }
        assert!(decide(&hold(), SMS, LONG, &usage, cost).breach.is_some());
    }

    #[test]
    fn over_one_to_one_warns_before_three_to_one_is_reached() {
        let usage = Usage {
            ratio_outbound: DEFAULT_RATIO_ALLOWANCE + 15,
            ratio_inbound: 10,
            ..Usage::default()
        };
        let s = states(&LimitConfig::default(), SMS, LONG, &usage);
        let ratio = s
            .iter()
            .find(|s| s.limit == LimitKind::OutboundRatio)
            .unwrap();
        assert_eq!(ratio.max, Some(DEFAULT_RATIO_ALLOWANCE + 30));
        assert_eq!(ratio.state, LimitStateKind::Warning);
    }

    #[test]
    fn monthly_volume_warns_at_its_threshold_and_refuses_past_it() {
        let config = LimitConfig {
            action: Some(LimitAction::Refuse),
            monthly_volume: Some(100),
            ratio_allowance: Some(1_000_000),
            ..LimitConfig::default()
        };
        let cost = send_cost(SMS, false, false);
        let at = |n| Usage {
            ratio_outbound: n,
            month_outbound: n,
            ..Usage::default()
        };
        assert!(
            decide(&config, SMS, LONG, &at(78), cost)
                .warnings
                .is_empty()
        );
        assert_eq!(
            decide(&config, SMS, LONG, &at(79), cost).warnings,
            vec![LimitKind::MonthlyVolume]
        );
        assert!(decide(&config, SMS, LONG, &at(99), cost).sends());
        let d = decide(&config, SMS, LONG, &at(100), cost);
        assert!(!d.sends());
        assert_eq!(d.breach.unwrap().limit, LimitKind::MonthlyVolume);
        let s = states(&config, SMS, LONG, &at(100));
        assert_eq!(s[1].state, LimitStateKind::Reached);
    }

    #[test]
    fn short_codes_and_toll_free_have_no_ratio_or_volume() {
        for t in [NumberType::ShortCode, NumberType::TollFree] {
            let usage = Usage {
                ratio_outbound: 1_000_000,
                month_outbound: 1_000_000,
                ..Usage::default()
            };
            let d = decide(&hold(), SMS, Some(t), &usage, send_cost(SMS, false, false));
            assert_eq!(d, Decision::default());
            assert!(states(&hold(), SMS, Some(t), &usage).is_empty());
            let bad = LimitConfig {
                monthly_volume: Some(5),
                ..LimitConfig::default()
            };
            assert_eq!(
                bad.validate(SMS, Some(t)).unwrap_err().field(),
                "monthly_volume"
            );
        }
    }

    #[test]
    fn messenger_daily_cap_counts_the_utc_day() {
        let m = ChannelKind::Messenger;
        let config = LimitConfig {
            daily_cap: Some(3),
            action: Some(LimitAction::Refuse),
            ..LimitConfig::default()
        };
        let cost = send_cost(m, false, false);
        let mut usage = Usage::default();
        for _ in 0..3 {
            assert!(decide(&config, m, None, &usage, cost).sends());
            usage.charge(cost);
        }
        assert_eq!(
            decide(&config, m, None, &usage, cost).breach.unwrap().limit,
            LimitKind::DailyCap
        );
        // Without a configured cap Messenger has no limit here.
        assert!(states(&LimitConfig::default(), m, None, &usage).is_empty());
    }

    #[test]
    fn whatsapp_tier_counts_unique_business_initiated_customers() {
        let w = ChannelKind::Whatsapp;
        let config = LimitConfig {
            messaging_tier: Some(MessagingTier::Tier250),
            action: Some(LimitAction::Refuse),
            ..LimitConfig::default()
        };
        let full = Usage {
            reached_24h: 250,
            ..Usage::default()
        };
        // A new customer outside the care window: over.
        assert!(!decide(&config, w, None, &full, send_cost(w, true, false)).sends());
        // A customer already reached, or a reply inside the window: free.
        assert!(decide(&config, w, None, &full, send_cost(w, true, true)).sends());
        assert!(decide(&config, w, None, &full, send_cost(w, false, false)).sends());
        let unlimited = LimitConfig {
            messaging_tier: Some(MessagingTier::Unlimited),
            ..config
        };
        assert!(decide(&unlimited, w, None, &full, send_cost(w, true, false)).sends());
    }

    #[test]
    fn the_care_window_is_24_hours_from_the_customers_last_message() {
        let now = Timestamp(10 * DAY_MILLIS);
        assert!(business_initiated(None, now));
        assert!(!business_initiated(Some(Timestamp(now.0 - 1000)), now));
        assert!(business_initiated(Some(Timestamp(now.0 - DAY_MILLIS)), now));
    }

    #[test]
    fn periods_are_utc_days_months_and_windows() {
        // 2026-12-04T12:00Z
        let at = Timestamp(1_796_385_600_000);
        let day = day_of(at);
        assert_eq!(crate::clock::civil_from_days(day), (2026, 12, 4));
        assert_eq!(
            crate::clock::civil_from_days(month_start(day)),
            (2026, 12, 1)
        );
        assert_eq!(day - ratio_window_start(day), 29);
        assert_eq!(reach_since(at).0, at.0 - DAY_MILLIS);
    }

    #[test]
    fn account_caps() {
        assert!(check_template_cap("waba", 249).is_ok());
        assert!(check_template_cap("waba", 250).is_err());
        assert!(check_number_cap("biz", 19).is_ok());
        assert!(check_number_cap("biz", 20).is_err());
    }

    #[test]
    fn config_validation_names_the_field() {
        let c = LimitConfig {
            warn_at_percent: Some(0),
            ..LimitConfig::default()
        };
        assert_eq!(
            c.validate(SMS, LONG).unwrap_err().field(),
            "warn_at_percent"
        );
        let c = LimitConfig {
            messaging_tier: Some(MessagingTier::Tier250),
            ..LimitConfig::default()
        };
        assert_eq!(c.validate(SMS, LONG).unwrap_err().field(), "messaging_tier");
        assert!(c.validate(ChannelKind::Whatsapp, None).is_ok());
        let parsed: LimitConfig =
            serde_json::from_str(r#"{"action":"hold","messaging_tier":"10000"}"#).unwrap();
        assert_eq!(parsed.messaging_tier, Some(MessagingTier::Tier10k));
        assert!(serde_json::from_str::<LimitConfig>(r#"{"nope":1}"#).is_err());
    }

    proptest! {
        /// Whatever the order of sends, a limit that refuses never lets the use pass its
        /// maximum, and a send is refused only when the use is at it.
        #[test]
        fn refused_use_never_passes_the_maximum(
            volume in 1u64..60,
            inbound in 0u64..20,
            allowance in 0u64..30,
            sends in 0usize..300,
        ) {
            let config = LimitConfig {
                action: Some(LimitAction::Refuse),
                monthly_volume: Some(volume),
                ratio_allowance: Some(allowance),
                ..LimitConfig::default()
            };
            let mut usage = Usage { ratio_inbound: inbound, ..Usage::default() };
            let cost = send_cost(SMS, false, false);
            for _ in 0..sends {
                let d = decide(&config, SMS, LONG, &usage, cost);
                if d.sends() {
                    usage.charge(cost);
                } else {
                    let b = d.breach.unwrap();
                    prop_assert!(b.used >= b.max);
                }
            }
            let ratio_max = allowance + DEFAULT_MAX_RATIO * inbound;
            prop_assert!(usage.month_outbound <= volume);
            prop_assert!(usage.ratio_outbound <= ratio_max);
            prop_assert_eq!(usage.month_outbound, (sends as u64).min(volume).min(ratio_max));
            for s in states(&config, SMS, LONG, &usage) {
                if s.max.is_some_and(|m| s.used >= m) {
                    prop_assert_eq!(s.state, LimitStateKind::Reached);
                }
            }
        }

        /// The rolling 24-hour unique count, with the clock moved between sends: a refusing
        /// tier lets a new customer in only while fewer than its size were reached in the last
        /// 24 hours, a customer already reached is always free, and the count never passes the
        /// tier's size.
        #[test]
        fn rolling_unique_customers_with_a_moved_clock(
            mut events in proptest::collection::vec((0i64..(96 * 60), 0u16..400), 0..900),
        ) {
            events.sort_by_key(|(minute, _)| *minute);
            let config = LimitConfig {
                action: Some(LimitAction::Refuse),
                messaging_tier: Some(MessagingTier::Tier250),
                ..LimitConfig::default()
            };
            let w = ChannelKind::Whatsapp;
            let mut reached: Vec<(Timestamp, u16)> = Vec::new();
            for (minute, customer) in events {
                let now = Timestamp(minute * 60_000);
                let since = reach_since(now);
                let live: std::collections::HashSet<u16> = reached
                    .iter()
                    .filter(|(at, _)| at.0 > since.0)
                    .map(|(_, c)| *c)
                    .collect();
                let already = live.contains(&customer);
                let usage = Usage { reached_24h: live.len() as u64, ..Usage::default() };
                let d = decide(&config, w, None, &usage, send_cost(w, true, already));
                prop_assert_eq!(d.sends(), already || live.len() < 250);
                if d.sends() && !already {
                    reached.push((now, customer));
                }
                prop_assert!(live.len() + usize::from(d.sends() && !already) <= 250);
            }
        }
    }
}
