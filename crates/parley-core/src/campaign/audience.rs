//! Segments: a saved filter over messaging users and their contacts (issue 11, item 1). A filter
//! is a list of conditions that must all hold; each condition is one field compared one way. The
//! store reads audience members page by page and this module decides which match, so the rule is
//! the same on both databases and lives in one place.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Timestamp;
use crate::model::ConsentStatus;

/// A segment's filter: every condition must hold. An empty filter matches everyone on the
/// campaign's senders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SegmentFilter {
    #[serde(default)]
    pub all: Vec<Condition>,
}

/// A consent status as a filter names it: one of the four statuses, or `none` (never consented).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ConsentFilter {
    Status(ConsentStatus),
    #[serde(rename = "none")]
    None(NoneTag),
}

/// The literal `"none"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NoneTag {
    #[serde(rename = "none")]
    None,
}

/// A contact field a condition can look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactField {
    FirstName,
    LastName,
    Email,
    Phone,
}

/// How a text is compared (case-insensitive; `is_set`/`is_not_set` ignore `value`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextOp {
    Equals,
    NotEquals,
    Contains,
    StartsWith,
    IsSet,
    IsNotSet,
}

/// How a custom attribute is compared: text operators, plus numeric ones (both sides must read
/// as numbers, otherwise the condition does not hold).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueOp {
    Equals,
    NotEquals,
    Contains,
    GreaterThan,
    LessThan,
    IsSet,
    IsNotSet,
}

/// When the last message in one direction was, relative to now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Recency {
    /// Within the last `days` days.
    Within {
        days: u32,
    },
    /// More than `days` days ago, or never.
    NotWithin {
        days: u32,
    },
    Never,
}

/// One condition of a filter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "field", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// The messaging user is on one of these channels.
    Channel {
        channels: Vec<Uuid>,
    },
    Consent {
        statuses: Vec<ConsentFilter>,
    },
    /// The locale is one of these; `en` also matches `en-GB` (language prefix).
    Locale {
        locales: Vec<String>,
    },
    /// The number's country (ISO 3166 alpha-2), from the platform key.
    Country {
        countries: Vec<String>,
    },
    Contact {
        name: ContactField,
        op: TextOp,
        #[serde(default)]
        value: String,
    },
    /// A custom attribute of the messaging user (or of its contact, the user's own winning).
    Attribute {
        name: String,
        op: ValueOp,
        #[serde(default)]
        value: String,
    },
    /// Has (or has not) this tag.
    Tag {
        tag: String,
        present: bool,
    },
    LastInbound {
        recency: Recency,
    },
    LastOutbound {
        recency: Recency,
    },
}

/// One messaging user with what a filter and a message can look at, as the store reads it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Member {
    pub messaging_user_id: Uuid,
    pub channel_id: Uuid,
    pub platform_key: String,
    pub name: String,
    pub consent: Option<ConsentStatus>,
    pub locale: Option<String>,
    pub contact_id: Option<Uuid>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// Custom attributes (the user's, over its contact's), as a JSON object.
    pub attributes: serde_json::Map<String, serde_json::Value>,
    pub tags: Vec<String>,
    pub last_inbound_at: Option<Timestamp>,
    pub last_outbound_at: Option<Timestamp>,
    /// The open session on this channel, if any: its id and when the customer last wrote in it.
    pub open_session: Option<OpenSession>,
    /// The conversation the user's sessions on this channel share, if any.
    pub conversation_id: Option<Uuid>,
}

/// The member's open session, as the expansion needs it (SE-18: a campaign message from the
/// same sender appears in it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenSession {
    pub session_id: Uuid,
    pub last_customer_at: Option<Timestamp>,
}

/// Why a filter cannot be saved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("condition {index}: {reason}")]
    Invalid { index: usize, reason: String },
}

impl SegmentFilter {
    /// Checks the filter can be evaluated (non-empty lists, known countries, attribute names of
    /// 1 to 64 characters, a value where the operator needs one), at save time.
    pub fn validate(&self) -> Result<(), FilterError> {
        todo!()
    }

    /// Whether `member` matches every condition at `now`.
    pub fn matches(&self, member: &Member, now: Timestamp) -> bool {
        let _ = (member, now);
        todo!()
    }

    /// The channels the filter is limited to, if it names any (lets the store read less).
    pub fn channels(&self) -> Option<Vec<Uuid>> {
        todo!()
    }
}
