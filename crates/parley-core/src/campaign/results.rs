//! A campaign's funnel (issue 11, item 6): the counts the store adds up, and the rates shown
//! beside them.

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

/// Rates as fractions (0.0 to 1.0) of the messages sent, or of those delivered for clicks and
/// replies when the channel reports deliveries; `None` when the denominator is zero.
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
        todo!()
    }
}
