//! A campaign's funnel (issue 11, item 6): the counts the store adds up, and the rates shown
//! beside them.
//!
//! The rates: delivery = delivered / sent, failure = failed / queued, and click, reply and opt-out
//! over the messages sent (not over those delivered: SMS providers report deliveries unevenly, and
//! a rate over a denominator that depends on the provider could not be compared across channels).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What happened to a campaign's audience.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Counts {
    /// Members of the audience looked at so far.
    pub audience: u64,
    /// Left out, by [`crate::campaign::eligibility::Exclusion`] wire name.
    pub excluded: BTreeMap<String, u64>,
    /// Messages written to the outbox (queued or further).
    pub queued: u64,
    /// Accepted by the provider (sent, delivered, read).
    pub sent: u64,
    pub delivered: u64,
    /// Failed, by catalogue code.
    pub failed: BTreeMap<String, u64>,
    /// Sent but with an outcome never learned.
    pub unknown: u64,
    pub clicks_total: u64,
    pub clicks_unique: u64,
    pub replied: u64,
    pub help_handoffs: u64,
    pub opt_outs: u64,
    /// Messages withdrawn unsent when the campaign was cancelled.
    pub withdrawn: u64,
}

/// Rates as fractions (0.0 to 1.0) of the messages sent (failure: of those queued); `None` when the
/// denominator is zero. A count can outrun its denominator while results arrive (a late reply), so
/// a rate is capped at 1.0.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Rates {
    pub delivery: Option<f64>,
    pub failure: Option<f64>,
    pub click: Option<f64>,
    pub reply: Option<f64>,
    pub opt_out: Option<f64>,
}

impl Counts {
    pub fn excluded_total(&self) -> u64 {
        self.excluded.values().sum()
    }

    pub fn failed_total(&self) -> u64 {
        self.failed.values().sum()
    }

    /// The rates of these counts.
    pub fn rates(&self) -> Rates {
        let sent = self.sent;
        Rates {
            delivery: rate(self.delivered, sent),
            failure: rate(self.failed_total(), self.queued),
            click: rate(self.clicks_unique, sent),
            reply: rate(self.replied, sent),
            opt_out: rate(self.opt_outs, sent),
        }
    }
}

#[allow(clippy::cast_precision_loss)] // Counts stay far below 2^52.
fn rate(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| (part as f64 / whole as f64).min(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rates_over_their_denominators() {
        let c = Counts {
            audience: 1_000,
            excluded: [("opted_out".to_owned(), 100), ("no_consent".to_owned(), 50)].into(),
            queued: 850,
            sent: 800,
            delivered: 600,
            failed: [("4001".to_owned(), 30), ("4002".to_owned(), 20)].into(),
            clicks_total: 300,
            clicks_unique: 200,
            replied: 40,
            help_handoffs: 5,
            opt_outs: 8,
            ..Counts::default()
        };
        assert_eq!(c.excluded_total(), 150);
        assert_eq!(c.failed_total(), 50);
        assert_eq!(
            c.rates(),
            Rates {
                delivery: Some(0.75),
                failure: Some(50.0 / 850.0),
                click: Some(0.25),
                reply: Some(0.05),
                opt_out: Some(0.01),
            }
        );
    }

    #[test]
    fn nothing_sent_has_no_rates() {
        assert_eq!(Counts::default().rates(), Rates::default());
        let queued_only = Counts {
            queued: 10,
            failed: [("4001".to_owned(), 10)].into(),
            ..Counts::default()
        };
        let r = queued_only.rates();
        assert_eq!((r.failure, r.delivery, r.click), (Some(1.0), None, None));
    }

    proptest! {
        #[test]
        fn rates_are_fractions(
            queued in 0u64..1_000_000, sent in 0u64..1_000_000, delivered in 0u64..1_000_000,
            failed in 0u64..1_000_000, clicks in 0u64..1_000_000, replied in 0u64..1_000_000,
            opt_outs in 0u64..1_000_000,
        ) {
            let c = Counts {
                queued, sent, delivered, clicks_unique: clicks, replied, opt_outs,
                failed: [("4001".to_owned(), failed)].into(),
                ..Counts::default()
            };
            let r = c.rates();
            for x in [r.delivery, r.failure, r.click, r.reply, r.opt_out].into_iter().flatten() {
                prop_assert!((0.0..=1.0).contains(&x));
            }
            prop_assert_eq!(r.delivery.is_some(), sent > 0);
            prop_assert_eq!(r.failure.is_some(), queued > 0);
        }
    }
}
