//! Campaigns and broadcasts (CMP, BC): one-to-many sends whose replies become conversations.
//!
//! This module holds the shapes a campaign is made of (what the API takes, what the store keeps as
//! JSON) and, in its submodules, every rule about them as pure functions:
//!
//! - [`audience`]: a segment's filter over messaging users and their contacts, and whether one
//!   member matches it;
//! - [`eligibility`]: whether a recipient may receive this campaign from this sender now, or the
//!   reason it is excluded (consent, broadcast opt-in, country, care window);
//! - [`content`]: merge fields rendered by a sandboxed minijinja environment, the save-time field
//!   check, missing values, footers and the encoding preview;
//! - [`links`]: links found in the content, shortened on the operator's own domain with a
//!   per-recipient code, and which requests are link-preview bots rather than clicks;
//! - [`schedule`]: when a recipient's message may go, in their local time window;
//! - [`state`]: the campaign's life (draft, scheduled, sending, paused, completed, cancelled);
//! - [`results`]: the funnel and its rates.

pub mod audience;
pub mod content;
pub mod eligibility;
pub mod links;
pub mod results;
pub mod schedule;
pub mod state;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Timestamp;

crate::wire_enum! {
    /// A marketing campaign goes to recipients whose consent meets the channel's level; a
    /// broadcast needs explicit or double opt-in whatever the level, and an approved template
    /// (BC-02, BC-04, AMB-16).
    pub enum CampaignKind: "campaign kind" {
        Marketing = "marketing",
        Broadcast = "broadcast",
    }
}

crate::wire_enum! {
    /// Where a campaign is in its life (see [`state`]).
    pub enum CampaignState: "campaign state" {
        Draft = "draft",
        Scheduled = "scheduled",
        Sending = "sending",
        Paused = "paused",
        Completed = "completed",
        Cancelled = "cancelled",
    }
}

/// Who a campaign goes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Audience {
    /// A saved filter, evaluated when the campaign is expanded.
    Segment { segment_id: Uuid },
    /// A static list (imported from CSV or picked in the console).
    List { list_id: Uuid },
}

/// An approved template and its parameters; a parameter may hold merge fields
/// (`{{ contact.first_name }}`), rendered per recipient like a text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateContent {
    pub name: String,
    pub language: String,
    #[serde(default)]
    pub parameters: Vec<String>,
}

/// What a recipient whose merge field has no value gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "policy", rename_all = "snake_case", deny_unknown_fields)]
pub enum MissingValues {
    /// The field's fallback text (empty when none is given for it).
    #[default]
    Fallback,
    /// The recipient is left out, counted as `missing_field`.
    Exclude,
}

/// The message: a text with merge fields, or an approved template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Content {
    /// Text with merge fields; `None` for a template message.
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub template: Option<TemplateContent>,
    #[serde(default)]
    pub missing: MissingValues,
    /// Field name (`contact.first_name`) to the text used when a recipient has no value.
    #[serde(default)]
    pub fallbacks: std::collections::BTreeMap<String, String>,
}

/// Lines added under the message (CMP-02, CMP-06).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Footer {
    /// The keyword prompt: "Reply HELP for help, STOP to opt out." (CMP-02).
    #[serde(default)]
    pub help: bool,
    /// A link to a WhatsApp channel, shown as `wa.me/<digits>` (CMP-06); the channel's id.
    #[serde(default)]
    pub whatsapp_channel_id: Option<Uuid>,
    /// Shorten the wa.me link like the content's links, so its clicks are counted.
    #[serde(default)]
    pub shorten_whatsapp: bool,
    /// Any other text, added last.
    #[serde(default)]
    pub custom: Option<String>,
}

/// A local time of day, minutes after midnight (0..1440).
pub type MinuteOfDay = u16;

/// When a campaign's messages may go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Start at this time; `None` starts when the marketer presses Start.
    #[serde(default)]
    pub start_at: Option<Timestamp>,
    /// Send only inside this window of each recipient's local day; outside it (quiet hours) a
    /// message waits for the window's next opening.
    #[serde(default)]
    pub window: Option<LocalWindow>,
}

/// A daily window in the recipient's local time, e.g. 09:00 to 20:00.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalWindow {
    pub opens: MinuteOfDay,
    pub closes: MinuteOfDay,
    /// The IANA zone used when a recipient's own zone is not known (from their attributes or
    /// their number's country), e.g. `America/New_York`.
    pub default_time_zone: String,
}

/// Everything a marketer decides about a campaign; kept as JSON by the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignSpec {
    pub name: String,
    pub kind: CampaignKind,
    /// The sender channels, all of one kind; the audience is spread over them.
    pub senders: Vec<Uuid>,
    pub audience: Audience,
    pub content: Content,
    #[serde(default)]
    pub footer: Footer,
    #[serde(default)]
    pub schedule: Schedule,
    /// A flow (a marketing journey) that takes a reply to this campaign from a customer with no
    /// open conversation (CMP-12..15): its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_flow: Option<String>,
}
