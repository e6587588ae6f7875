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
        /// Fixed options (none when they all come from `options_from`).
        #[serde(default)]
        options: Vec<ComponentOption>,
        /// The label of the button that opens a list (WhatsApp lists), at most 20 characters.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        button: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        formats: Vec<Format>,
        /// Options computed per customer (MC-06): one per item of a list the flow holds (a
        /// webhook's answer), after the fixed `options`. The flow runtime fills them in and sends
        /// the question with concrete options only.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        options_from: Option<OptionsFrom>,
    },
    /// Time slots to pick from (MC-07); each option's id is the slot's start, in RFC 3339.
    TimeSlots {
        text: String,
        slots: Vec<TimeSlot>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        formats: Vec<Format>,
    },
}

/// Where a question's per-customer options come from: a list of the flow's fields, such as
/// `webhook.orders` (a webhook answer `{"orders": [{"number": "123", "label": "Shoes"}]}` is held
/// as `webhook.orders.0.number`, `webhook.orders.0.label`...), and which field of each item is the
/// option's id and which its title.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptionsFrom {
    /// The list's field name, without an index (`webhook.orders`).
    pub list: String,
    /// The item's field that is the option's id (default `id`).
    #[serde(default = "default_id_field")]
    pub id: String,
    /// The item's field shown to the customer (default `title`).
    #[serde(default = "default_title_field")]
    pub title: String,
    /// The item's field shown under the title, when the format has room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

fn default_id_field() -> String {
    "id".to_owned()
}

fn default_title_field() -> String {
    "title".to_owned()
}

impl OptionsFrom {
    /// The options of the list's items, in order, read with `get` (a field's value by its full
    /// name), at most [`MAX_OPTIONS`]. An item without an id or a title is left out; a list of
    /// plain values (`webhook.sizes.0` = `M`) gives options whose id and title are the value.
    pub fn options<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> Vec<ComponentOption> {
        let mut out = Vec::new();
        for i in 0..MAX_OPTIONS {
            let item = format!("{}.{i}", self.list);
            let field = |name: &str| get(&format!("{item}.{name}"));
            let (id, title) = match (field(&self.id), field(&self.title), get(&item)) {
                (Some(id), Some(title), _) => (id, title),
                (None, None, Some(plain)) => (plain, plain),
                (None, None, None) => break,
                _ => continue,
            };
            if id.trim().is_empty() || title.trim().is_empty() {
                continue;
            }
            out.push(ComponentOption {
                id: id.to_owned(),
                title: title.to_owned(),
                description: self
                    .description
                    .as_deref()
                    .and_then(&field)
                    .map(str::to_owned),
                image_url: None,
            });
        }
        out
    }
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

/// The most options a question or time selector may have. Far above what any native format
/// holds: the chosen format handles capacity, and the text fallback and the web widget take
/// long lists.
pub const MAX_OPTIONS: usize = 100;
/// The longest option id, in characters: under WhatsApp's list row id (200) and reply button id
/// (256) and Messenger's payload (1,000), so an id valid here is valid on every channel.
pub const MAX_OPTION_ID_CHARS: usize = 200;
/// The label of a WhatsApp list's button when the question names none.
pub const DEFAULT_LIST_BUTTON: &str = "Options";

/// The capacities of the native formats, in characters unless named otherwise. Meta refuses a
/// request beyond them, so [`fits`] keeps a component within them.
pub mod limits {
    /// WhatsApp interactive messages (buttons, list, CTA URL): the body text.
    pub const WHATSAPP_BODY: usize = 1024;
    /// WhatsApp reply buttons: how many, and each title.
    pub const WHATSAPP_BUTTONS: usize = 3;
    pub const WHATSAPP_BUTTON_TITLE: usize = 20;
    /// WhatsApp list: rows over all sections, each row's title and description, the button.
    pub const WHATSAPP_LIST_ROWS: usize = 10;
    pub const WHATSAPP_ROW_TITLE: usize = 24;
    pub const WHATSAPP_ROW_DESCRIPTION: usize = 72;
    pub const WHATSAPP_LIST_BUTTON: usize = 20;
    /// WhatsApp CTA URL button: its display text.
    pub const WHATSAPP_CTA_TITLE: usize = 20;
    /// Messenger quick replies: how many, each title, and the text they come with.
    pub const MESSENGER_QUICK_REPLIES: usize = 13;
    pub const MESSENGER_QUICK_REPLY_TITLE: usize = 20;
    pub const MESSENGER_TEXT: usize = 2000;
    /// Messenger button template: how many buttons, each title, the text above them.
    pub const MESSENGER_BUTTONS: usize = 3;
    pub const MESSENGER_BUTTON_TITLE: usize = 20;
    pub const MESSENGER_BUTTON_TEXT: usize = 640;
    /// Messenger generic template: cards, and each card's title and subtitle.
    pub const MESSENGER_CARDS: usize = 10;
    pub const MESSENGER_CARD_TITLE: usize = 80;
    pub const MESSENGER_CARD_SUBTITLE: usize = 80;
}

impl Component {
    /// The text above the options or the link.
    pub fn text(&self) -> &str {
        match self {
            Self::Link { text, .. }
            | Self::Question { text, .. }
            | Self::TimeSlots { text, .. } => text,
        }
    }

    /// The formats the author allowed, in order (empty: the type's default order).
    pub fn formats(&self) -> &[Format] {
        match self {
            Self::Link { formats, .. }
            | Self::Question { formats, .. }
            | Self::TimeSlots { formats, .. } => formats,
        }
    }

    /// The formats tried, in order: the author's, or the type's default.
    pub fn preference(&self) -> &[Format] {
        match (self.formats(), self) {
            ([], Self::Link { .. }) => &[Format::RichLink, Format::Text],
            ([], Self::Question { .. } | Self::TimeSlots { .. }) => &[
                Format::Buttons,
                Format::List,
                Format::QuickReplies,
                Format::Text,
            ],
            (listed, _) => listed,
        }
    }

    /// The choices as (id, title): a question's options, or time slots (the id is the slot's
    /// start). Empty for a link.
    pub fn options(&self) -> Vec<(String, String)> {
        match self {
            Self::Question { options, .. } => options
                .iter()
                .map(|o| (o.id.clone(), o.title.clone()))
                .collect(),
            Self::TimeSlots { slots, .. } => slots
                .iter()
                .map(|s| (s.start.clone(), s.title.clone()))
                .collect(),
            Self::Link { .. } => Vec::new(),
        }
    }

    /// The choices with everything a format may show of them: a question's options, or time
    /// slots (id: the start; no description or image). Empty for a link.
    pub fn choices(&self) -> Vec<Choice<'_>> {
        match self {
            Self::Question { options, .. } => options
                .iter()
                .map(|o| Choice {
                    id: &o.id,
                    title: &o.title,
                    description: o.description.as_deref(),
                    image_url: o.image_url.as_deref(),
                })
                .collect(),
            Self::TimeSlots { slots, .. } => slots
                .iter()
                .map(|s| Choice {
                    id: &s.start,
                    title: &s.title,
                    description: None,
                    image_url: None,
                })
                .collect(),
            Self::Link { .. } => Vec::new(),
        }
    }

    /// The component as plain text, for SMS and any channel that cannot render it: the text,
    /// then one numbered line per choice (`1. Title`, or `1. Title - description`), so a reply
    /// of `2` is understood; a link's text, title and URL each on their own line. A line break
    /// inside a title would break the numbering, so it becomes a space.
    pub fn text_fallback(&self) -> String {
        let mut lines: Vec<String> = Vec::new();
        let text = self.text().trim();
        if !text.is_empty() {
            lines.push(text.to_owned());
        }
        match self {
            Self::Link { title, url, .. } => {
                let title = one_line(title);
                if !title.is_empty() {
                    lines.push(title);
                }
                lines.push(url.trim().to_owned());
            }
            Self::Question { .. } | Self::TimeSlots { .. } => {
                for (n, choice) in self.choices().iter().enumerate() {
                    let mut line = format!("{}. {}", n + 1, one_line(choice.title));
                    if let Some(d) = choice.description.map(one_line).filter(|d| !d.is_empty()) {
                        line.push_str(" - ");
                        line.push_str(&d);
                    }
                    lines.push(line);
                }
            }
        }
        lines.join("\n")
    }

    /// Checks what every channel needs: a text; for a link a title and an http(s) URL; for
    /// choices 1 to [`MAX_OPTIONS`] of them with unique, non-empty ids of at most
    /// [`MAX_OPTION_ID_CHARS`] and non-empty titles; slots with RFC 3339 start and end, end after
    /// start; image links http(s); only formats the type can take. Each problem is one message
    /// naming the field.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        if self.text().trim().is_empty() {
            problems.push("text: is empty".to_owned());
        }
        match self {
            Self::Link {
                url,
                title,
                image_url,
                ..
            } => {
                if title.trim().is_empty() {
                    problems.push("title: is empty".to_owned());
                }
                if !is_http_url(url) {
                    problems.push(format!("url: '{url}' is not an http(s) URL"));
                }
                check_image(&mut problems, "image_url", image_url.as_deref());
            }
            Self::Question {
                options, button, ..
            } => {
                if let Some(label) = button {
                    let n = label.chars().count();
                    if label.trim().is_empty() {
                        problems.push("button: is empty".to_owned());
                    } else if n > limits::WHATSAPP_LIST_BUTTON {
                        problems.push(format!(
                            "button: {n} characters; at most {}",
                            limits::WHATSAPP_LIST_BUTTON
                        ));
                    }
                }
                for (i, o) in options.iter().enumerate() {
                    check_image(
                        &mut problems,
                        &format!("options[{i}].image_url"),
                        o.image_url.as_deref(),
                    );
                }
            }
            Self::TimeSlots { slots, .. } => {
                for (i, s) in slots.iter().enumerate() {
                    let start = s.start.parse::<jiff::Timestamp>();
                    let end = s.end.parse::<jiff::Timestamp>();
                    if start.is_err() {
                        problems.push(format!("slots[{i}].start: '{}' is not RFC 3339", s.start));
                    }
                    if end.is_err() {
                        problems.push(format!("slots[{i}].end: '{}' is not RFC 3339", s.end));
                    }
                    if let (Ok(start), Ok(end)) = (start, end)
                        && end <= start
                    {
                        problems.push(format!("slots[{i}].end: is not after its start"));
                    }
                }
            }
        }
        if !matches!(self, Self::Link { .. }) {
            self.check_choices(&mut problems);
        }
        for f in self.formats() {
            if !f.takes(self) {
                problems.push(format!("formats: a {} cannot take {f:?}", self.kind_name()));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    fn check_choices(&self, problems: &mut Vec<String>) {
        let (list, id_field) = match self {
            Self::TimeSlots { .. } => ("slots", "start"),
            Self::Question { .. } | Self::Link { .. } => ("options", "id"),
        };
        let choices = self.choices();
        if choices.is_empty() || choices.len() > MAX_OPTIONS {
            problems.push(format!(
                "{list}: {} given; 1 to {MAX_OPTIONS} are allowed",
                choices.len()
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, c) in choices.iter().enumerate() {
            let n = c.id.chars().count();
            if c.id.trim().is_empty() {
                problems.push(format!("{list}[{i}].{id_field}: is empty"));
            } else if n > MAX_OPTION_ID_CHARS {
                problems.push(format!(
                    "{list}[{i}].{id_field}: {n} characters; at most {MAX_OPTION_ID_CHARS}"
                ));
            } else if !seen.insert(c.id) {
                problems.push(format!("{list}[{i}].{id_field}: '{}' is used twice", c.id));
            }
            if c.title.trim().is_empty() {
                problems.push(format!("{list}[{i}].title: is empty"));
            }
        }
    }

    fn kind_name(&self) -> &'static str {
        match self {
            Self::Link { .. } => "link",
            Self::Question { .. } => "question",
            Self::TimeSlots { .. } => "time selector",
        }
    }
}

/// A choice as every format reads it, whether an option or a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice<'a> {
    /// What a tap sends back.
    pub id: &'a str,
    pub title: &'a str,
    pub description: Option<&'a str>,
    pub image_url: Option<&'a str>,
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// `http://` or `https://`, a host, and nothing a URL cannot hold unencoded.
pub fn is_http_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
        && url.chars().all(|c| !c.is_whitespace() && !c.is_control())
}

fn check_image(problems: &mut Vec<String>, field: &str, url: Option<&str>) {
    if let Some(url) = url
        && !is_http_url(url)
    {
        problems.push(format!("{field}: '{url}' is not an http(s) URL"));
    }
}

impl Format {
    /// Whether a component of this type can take the format at all: choices as buttons, lists,
    /// quick replies or cards; a link as a rich link; anything as text.
    pub fn takes(self, component: &Component) -> bool {
        match (self, component) {
            (Self::Text, _) | (Self::RichLink, Component::Link { .. }) => true,
            (Self::Buttons | Self::List | Self::QuickReplies | Self::Carousel, c) => {
                !matches!(c, Component::Link { .. })
            }
            (Self::RichLink, _) => false,
        }
    }
}

/// Whether a channel of `kind` can render `component` in `format` (MC-03): the type takes the
/// format, the channel has it, and the content is within its capacities ([`limits`]). An
/// invalid component fits nothing but Text. Capacities per channel:
///
/// - WhatsApp: Buttons (1-3 choices, titles up to 20, text up to 1,024); List (1-10 rows,
///   titles up to 24, descriptions up to 72, the button label up to 20); RichLink (a CTA URL
///   button: title up to 20).
/// - Messenger: QuickReplies (1-13, titles up to 20, text up to 2,000); Buttons (a button
///   template: 1-3, titles up to 20, text up to 640); Carousel (a generic template: 1-10 cards,
///   titles and descriptions up to 80, each card's button, the question's label or else the
///   choice's title, up to 20); RichLink (one card: title up to 20 as it is also the button,
///   text up to 80 as the subtitle).
/// - Web: every format the type takes. SMS: Text only.
///
/// Formats that do not show descriptions (buttons, quick replies) or images drop them: they
/// are extras, and the author's order says which format is preferred.
pub fn fits(component: &Component, format: Format, kind: ChannelKind) -> bool {
    use limits as l;
    if format == Format::Text {
        return true;
    }
    if !format.takes(component) || component.validate().is_err() {
        return false;
    }
    let text = chars(component.text());
    let choices = component.choices();
    let count = |max: usize| (1..=max).contains(&choices.len());
    let titles = |max: usize| choices.iter().all(|c| chars(c.title) <= max);
    let descriptions = |max: usize| {
        choices
            .iter()
            .all(|c| c.description.is_none_or(|d| chars(d) <= max))
    };
    match (kind, format, component) {
        (ChannelKind::Web, _, _) => true,
        (ChannelKind::Sms, _, _) => false,
        (ChannelKind::Whatsapp, Format::Buttons, _) => {
            count(l::WHATSAPP_BUTTONS)
                && titles(l::WHATSAPP_BUTTON_TITLE)
                && text <= l::WHATSAPP_BODY
        }
        (ChannelKind::Whatsapp, Format::List, c) => {
            count(l::WHATSAPP_LIST_ROWS)
                && titles(l::WHATSAPP_ROW_TITLE)
                && descriptions(l::WHATSAPP_ROW_DESCRIPTION)
                && chars(list_button(c)) <= l::WHATSAPP_LIST_BUTTON
                && text <= l::WHATSAPP_BODY
        }
        (ChannelKind::Whatsapp, Format::RichLink, Component::Link { title, .. }) => {
            chars(title) <= l::WHATSAPP_CTA_TITLE && text <= l::WHATSAPP_BODY
        }
        (ChannelKind::Messenger, Format::QuickReplies, _) => {
            count(l::MESSENGER_QUICK_REPLIES)
                && titles(l::MESSENGER_QUICK_REPLY_TITLE)
                && text <= l::MESSENGER_TEXT
        }
        (ChannelKind::Messenger, Format::Buttons, _) => {
            count(l::MESSENGER_BUTTONS)
                && titles(l::MESSENGER_BUTTON_TITLE)
                && text <= l::MESSENGER_BUTTON_TEXT
        }
        (ChannelKind::Messenger, Format::Carousel, c) => {
            count(l::MESSENGER_CARDS)
                && titles(l::MESSENGER_CARD_TITLE)
                && descriptions(l::MESSENGER_CARD_SUBTITLE)
                && choices
                    .iter()
                    .all(|ch| chars(card_button(c, ch.title)) <= l::MESSENGER_BUTTON_TITLE)
        }
        (ChannelKind::Messenger, Format::RichLink, Component::Link { title, .. }) => {
            chars(title) <= l::MESSENGER_BUTTON_TITLE && text <= l::MESSENGER_CARD_SUBTITLE
        }
        _ => false,
    }
}

/// The label of the button that opens a WhatsApp list: the question's, or
/// [`DEFAULT_LIST_BUTTON`].
pub fn list_button(component: &Component) -> &str {
    match component {
        Component::Question {
            button: Some(label),
            ..
        } => label,
        _ => DEFAULT_LIST_BUTTON,
    }
}

/// The title of the button on a choice's card (Messenger carousel): the question's label, or
/// else the choice's own title.
pub fn card_button<'a>(component: &'a Component, choice_title: &'a str) -> &'a str {
    match component {
        Component::Question {
            button: Some(label),
            ..
        } => label,
        _ => choice_title,
    }
}

/// The format a channel renders a component in (MC-04): the first of the component's formats,
/// in the author's order ([`Component::preference`]), that the channel can render for this
/// content ([`fits`]); Text when none can, and always when the provider renders no components
/// (`native == false`, the provider's capabilities).
pub fn choose_format(component: &Component, kind: ChannelKind, native: bool) -> Format {
    if !native {
        return Format::Text;
    }
    component
        .preference()
        .iter()
        .copied()
        .find(|&f| fits(component, f, kind))
        .unwrap_or(Format::Text)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn option(id: &str, title: &str) -> ComponentOption {
        ComponentOption {
            id: id.into(),
            title: title.into(),
            description: None,
            image_url: None,
        }
    }

    fn question(n: usize, formats: Vec<Format>) -> Component {
        Component::Question {
            text: "Which store?".into(),
            options: (1..=n)
                .map(|i| option(&format!("s{i}"), &format!("Store {i}")))
                .collect(),
            button: None,
            formats,
            options_from: None,
        }
    }

    fn link(title: &str) -> Component {
        Component::Link {
            text: "Track your order".into(),
            url: "https://shop.example/t/1042".into(),
            title: title.into(),
            image_url: None,
            formats: vec![],
        }
    }

    fn slots() -> Component {
        Component::TimeSlots {
            text: "When suits you?".into(),
            slots: vec![
                TimeSlot {
                    start: "2025-12-09T10:00:00+01:00".into(),
                    end: "2025-12-09T10:30:00+01:00".into(),
                    title: "Tue 9 Dec, 10:00".into(),
                },
                TimeSlot {
                    start: "2025-12-09T11:00:00+01:00".into(),
                    end: "2025-12-09T11:30:00+01:00".into(),
                    title: "Tue 9 Dec, 11:00".into(),
                },
            ],
            formats: vec![],
        }
    }

    #[test]
    fn fallback_numbers_options_with_descriptions() {
        let q = Component::Question {
            text: "Which store?".into(),
            options: vec![
                ComponentOption {
                    description: Some("Open till 9".into()),
                    ..option("north", "North")
                },
                option("south", "South\nside"),
            ],
            button: None,
            formats: vec![],
            options_from: None,
        };
        assert_eq!(
            q.text_fallback(),
            "Which store?\n1. North - Open till 9\n2. South side"
        );
        assert_eq!(
            slots().text_fallback(),
            "When suits you?\n1. Tue 9 Dec, 10:00\n2. Tue 9 Dec, 11:00"
        );
        assert_eq!(
            link("Track").text_fallback(),
            "Track your order\nTrack\nhttps://shop.example/t/1042"
        );
    }

    #[test]
    fn options_are_ids_and_titles_and_a_slot_id_is_its_start() {
        assert_eq!(
            question(2, vec![]).options(),
            [
                ("s1".to_owned(), "Store 1".to_owned()),
                ("s2".to_owned(), "Store 2".to_owned())
            ]
        );
        assert_eq!(
            slots().options().first().map(|(id, _)| id.as_str()),
            Some("2025-12-09T10:00:00+01:00")
        );
        assert!(link("x").options().is_empty());
    }

    #[test]
    fn validation_names_each_problem() {
        assert_eq!(question(3, vec![]).validate(), Ok(()));
        assert_eq!(slots().validate(), Ok(()));
        assert_eq!(link("Track").validate(), Ok(()));
        let bad = Component::Question {
            text: " ".into(),
            options: vec![
                option("a", "A"),
                option("a", ""),
                option("", "C"),
                option(&"x".repeat(MAX_OPTION_ID_CHARS + 1), "D"),
                ComponentOption {
                    image_url: Some("ftp://x/y.png".into()),
                    ..option("e", "E")
                },
            ],
            button: Some("A label far too long for it".into()),
            formats: vec![Format::RichLink],
            options_from: None,
        };
        assert_eq!(
            bad.validate().unwrap_err(),
            [
                "text: is empty",
                "button: 27 characters; at most 20",
                "options[4].image_url: 'ftp://x/y.png' is not an http(s) URL",
                "options[1].id: 'a' is used twice",
                "options[1].title: is empty",
                "options[2].id: is empty",
                "options[3].id: 201 characters; at most 200",
                "formats: a question cannot take RichLink",
            ]
        );
        assert_eq!(
            question(0, vec![]).validate().unwrap_err(),
            ["options: 0 given; 1 to 100 are allowed"]
        );
        assert!(question(MAX_OPTIONS, vec![]).validate().is_ok());
        assert!(question(MAX_OPTIONS + 1, vec![]).validate().is_err());
        let Component::Link { text, title, .. } = link("t") else {
            unreachable!()
        };
        let bad_link = Component::Link {
            text,
            title,
            url: "javascript:alert(1)".into(),
            image_url: Some("https://cdn.example/a b.png".into()),
            formats: vec![Format::Buttons],
        };
        assert_eq!(
            bad_link.validate().unwrap_err(),
            [
                "url: 'javascript:alert(1)' is not an http(s) URL",
                "image_url: 'https://cdn.example/a b.png' is not an http(s) URL",
                "formats: a link cannot take Buttons",
            ]
        );
        let Component::TimeSlots {
            text, mut slots, ..
        } = slots()
        else {
            unreachable!()
        };
        if let Some(s) = slots.get_mut(1) {
            s.end = s.start.clone();
        }
        slots.push(TimeSlot {
            start: "tomorrow".into(),
            end: "2025-12-09T11:30:00Z".into(),
            title: "Later".into(),
        });
        assert_eq!(
            Component::TimeSlots {
                text,
                slots,
                formats: vec![]
            }
            .validate()
            .unwrap_err(),
            [
                "slots[1].end: is not after its start",
                "slots[2].start: 'tomorrow' is not RFC 3339",
            ]
        );
    }

    #[test]
    fn mc_04_the_first_format_that_renders_the_content_wins() {
        let order = vec![Format::Buttons, Format::QuickReplies, Format::Text];
        // The inventory's example: 5 options with Buttons > Quick Replies are quick replies;
        // 3 are buttons.
        assert_eq!(
            choose_format(&question(5, order.clone()), ChannelKind::Messenger, true),
            Format::QuickReplies
        );
        assert_eq!(
            choose_format(&question(3, order.clone()), ChannelKind::Messenger, true),
            Format::Buttons
        );
        // WhatsApp has no quick replies: Text.
        assert_eq!(
            choose_format(&question(5, order), ChannelKind::Whatsapp, true),
            Format::Text
        );
        // The default order for a question: buttons, then a list, then quick replies.
        let cases = [
            (ChannelKind::Whatsapp, 3, Format::Buttons),
            (ChannelKind::Whatsapp, 4, Format::List),
            (ChannelKind::Whatsapp, 10, Format::List),
            (ChannelKind::Whatsapp, 11, Format::Text),
            (ChannelKind::Messenger, 4, Format::QuickReplies),
            (ChannelKind::Messenger, 13, Format::QuickReplies),
            (ChannelKind::Messenger, 14, Format::Text),
            (ChannelKind::Web, 40, Format::Buttons),
            (ChannelKind::Sms, 2, Format::Text),
        ];
        for (kind, n, want) in cases {
            assert_eq!(
                choose_format(&question(n, vec![]), kind, true),
                want,
                "{kind} {n}"
            );
        }
        // A provider without components: Text whatever the channel.
        assert_eq!(
            choose_format(&question(2, vec![]), ChannelKind::Whatsapp, false),
            Format::Text
        );
        // Text is the last resort even when the author did not list it.
        assert_eq!(
            choose_format(
                &question(20, vec![Format::Buttons]),
                ChannelKind::Whatsapp,
                true
            ),
            Format::Text
        );
    }

    #[test]
    fn titles_and_labels_decide_fits() {
        let long_title = |len: usize| Component::Question {
            text: "Pick".into(),
            options: vec![option("a", &"t".repeat(len)), option("b", "B")],
            button: None,
            formats: vec![],
            options_from: None,
        };
        // 21 characters: no WhatsApp button, but a list row (24).
        assert_eq!(
            choose_format(&long_title(21), ChannelKind::Whatsapp, true),
            Format::List
        );
        assert_eq!(
            choose_format(&long_title(25), ChannelKind::Whatsapp, true),
            Format::Text
        );
        // Characters, not bytes.
        assert_eq!(
            choose_format(&long_title(0).clone(), ChannelKind::Whatsapp, true),
            Format::Text,
            "an empty title is invalid"
        );
        let accented = Component::Question {
            text: "Pick".into(),
            options: vec![option("a", &"é".repeat(20))],
            button: None,
            formats: vec![],
            options_from: None,
        };
        assert_eq!(
            choose_format(&accented, ChannelKind::Whatsapp, true),
            Format::Buttons
        );
        // A long description rules out a WhatsApp list.
        let described = Component::Question {
            text: "Pick".into(),
            options: (0..5)
                .map(|i| ComponentOption {
                    description: Some("d".repeat(73)),
                    ..option(&i.to_string(), "T")
                })
                .collect(),
            button: Some("Choose".into()),
            formats: vec![],
            options_from: None,
        };
        assert_eq!(
            choose_format(&described, ChannelKind::Whatsapp, true),
            Format::Text
        );
        // Links: a CTA button's title is at most 20 characters.
        assert_eq!(
            choose_format(&link("Track"), ChannelKind::Whatsapp, true),
            Format::RichLink
        );
        assert_eq!(
            choose_format(&link("Track"), ChannelKind::Messenger, true),
            Format::RichLink
        );
        assert_eq!(
            choose_format(&link(&"x".repeat(21)), ChannelKind::Whatsapp, true),
            Format::Text
        );
        assert_eq!(
            choose_format(&link("Track"), ChannelKind::Sms, true),
            Format::Text
        );
        // Time slots take the question's formats.
        assert_eq!(
            choose_format(&slots(), ChannelKind::Whatsapp, true),
            Format::Buttons
        );
        // A carousel is Messenger's and the widget's.
        let carousel = question(4, vec![Format::Carousel]);
        assert_eq!(
            choose_format(&carousel, ChannelKind::Messenger, true),
            Format::Carousel
        );
        assert_eq!(
            choose_format(&carousel, ChannelKind::Whatsapp, true),
            Format::Text
        );
        assert_eq!(
            choose_format(&carousel, ChannelKind::Web, true),
            Format::Carousel
        );
    }

    #[test]
    fn serde_round_trip_keeps_the_shape() {
        let json = serde_json::json!({
            "type": "question", "text": "Pick", "button": "Stores",
            "options": [{"id": "a", "title": "A", "description": "first"}],
            "formats": ["list", "text"]
        });
        let c: Component = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(c.preference(), [Format::List, Format::Text]);
        assert_eq!(list_button(&c), "Stores");
        assert_eq!(serde_json::to_value(&c).unwrap(), json);
    }

    /// What each (channel, format) holds, written out again so the property below does not
    /// check `fits` against itself: (choices, title, description, text), `None` for "no limit".
    fn capacity(kind: ChannelKind, format: Format) -> Option<[Option<usize>; 4]> {
        match (kind, format) {
            (_, Format::Text) | (ChannelKind::Web, _) => Some([None; 4]),
            (ChannelKind::Whatsapp, Format::Buttons) => Some([Some(3), Some(20), None, Some(1024)]),
            (ChannelKind::Whatsapp, Format::List) => {
                Some([Some(10), Some(24), Some(72), Some(1024)])
            }
            (ChannelKind::Whatsapp, Format::RichLink) => Some([None, Some(20), None, Some(1024)]),
            (ChannelKind::Messenger, Format::QuickReplies) => {
                Some([Some(13), Some(20), None, Some(2000)])
            }
            (ChannelKind::Messenger, Format::Buttons) => Some([Some(3), Some(20), None, Some(640)]),
            (ChannelKind::Messenger, Format::Carousel) => {
                Some([Some(10), Some(20), Some(80), None])
            }
            (ChannelKind::Messenger, Format::RichLink) => Some([None, Some(20), None, Some(80)]),
            _ => None,
        }
    }

    fn any_format() -> impl Strategy<Value = Format> {
        prop::sample::select(vec![
            Format::Buttons,
            Format::List,
            Format::QuickReplies,
            Format::Carousel,
            Format::RichLink,
            Format::Text,
        ])
    }

    fn any_kind() -> impl Strategy<Value = ChannelKind> {
        prop::sample::select(vec![
            ChannelKind::Sms,
            ChannelKind::Whatsapp,
            ChannelKind::Messenger,
            ChannelKind::Web,
        ])
    }

    fn any_question() -> impl Strategy<Value = Component> {
        (
            "[a-z][a-z ]{0,29}",
            prop::collection::vec(("[a-zé ]{0,30}", prop::option::of("[a-z]{0,90}")), 0..16),
            prop::option::of("[A-Za-z]{1,20}"),
            prop::collection::vec(any_format(), 0..4),
        )
            .prop_map(|(text, options, button, formats)| Component::Question {
                text,
                options: options
                    .into_iter()
                    .enumerate()
                    .map(|(i, (title, description))| ComponentOption {
                        id: format!("o{i}"),
                        title,
                        description,
                        image_url: None,
                    })
                    .collect(),
                button,
                formats,
                options_from: None,
            })
    }

    fn any_link() -> impl Strategy<Value = Component> {
        (
            "[a-z][a-z ]{0,99}",
            "[a-z]{1,30}",
            prop::collection::vec(any_format(), 0..3),
        )
            .prop_map(|(text, title, formats)| Component::Link {
                text,
                url: "https://shop.example/x".into(),
                title,
                image_url: None,
                formats,
            })
    }

    proptest! {
        #[test]
        fn fallback_numbers_options_one_to_n_in_order(q in any_question()) {
            let fallback = q.text_fallback();
            let mut lines = fallback.lines();
            prop_assert_eq!(lines.next(), Some(q.text().trim()));
            let options = q.options();
            prop_assert_eq!(lines.clone().count(), options.len());
            for (n, ((_, title), line)) in options.iter().zip(lines).enumerate() {
                let prefix = format!("{}. {}", n + 1, one_line(title));
                prop_assert!(line.starts_with(&prefix), "{line:?} {prefix:?}");
            }
        }

        #[test]
        fn chosen_format_never_exceeds_its_capacity(
            c in prop_oneof![any_question(), any_link()],
            kind in any_kind(),
            native in any::<bool>(),
        ) {
            let format = choose_format(&c, kind, native);
            if format != Format::Text {
                prop_assert!(native && kind != ChannelKind::Sms);
                prop_assert!(c.validate().is_ok());
                prop_assert!(format.takes(&c));
                let Some([choices, title, description, text]) = capacity(kind, format) else {
                    return Err(TestCaseError::fail(format!("{format:?} is not a {kind} format")));
                };
                let within = |n: usize, max: Option<usize>| max.is_none_or(|m| n <= m);
                prop_assert!(within(chars(c.text()), text));
                match &c {
                    Component::Link { title: t, .. } => prop_assert!(within(chars(t), title)),
                    Component::Question { options, button, .. } => {
                        prop_assert!(!options.is_empty());
                        prop_assert!(within(options.len(), choices));
                        for o in options {
                            // A carousel card's button is the label when there is one.
                            let shown = match (format, button) {
                                (Format::Carousel, Some(b)) => b,
                                _ => &o.title,
                            };
                            prop_assert!(within(chars(shown), title));
                            if let Some(d) = &o.description {
                                prop_assert!(within(chars(d), description));
                            }
                        }
                    }
                    Component::TimeSlots { .. } => unreachable!(),
                }
            }
            // MC-04: no format listed before the chosen one fits.
            let earlier: Vec<Format> = c.preference().iter().copied().take_while(|f| *f != format).collect();
            if native {
                for f in earlier {
                    prop_assert!(!fits(&c, f, kind), "{f:?} came first and fits");
                }
            }
        }
    }
}
