//! Merge fields in a flow's texts, webhook URLs and bodies, templates' parameters and components.
//!
//! The syntax is [`crate::merge`]'s (`{{`, optional spaces, a name of `[a-z0-9_.]` starting with a
//! letter, optional spaces, `}}`), read by the same parser. Two things differ from the agent's
//! quick texts, because a flow's customer cannot fix a typo in a composer:
//! - every name that has no value renders **empty**, known or not;
//! - rendering is one pass: an inserted value is never scanned again, so a customer who answers
//!   `{{contact.email}}` to a question cannot make the bot reveal anything.
//!
//! Where a name is looked up (one convention, the engine's too):
//! - `flow.<k>` is the run's field `k` ([`RunState::fields`] without prefix: `flow.order_number`
//!   is `fields["order_number"]`; a webhook saved as `order` is `flow.order.status`);
//! - `webhook.<path>` is the run's field `webhook.<path>` (kept with its prefix);
//! - any other name is a fact by its full name ([`Facts::fields`]: `contact.first_name`), as
//!   updated by the `set` steps of the same [`advance`](super::advance) call.
//!
//! [`RunState::fields`]: super::RunState::fields
//! [`Facts::fields`]: super::Facts::fields

use std::collections::BTreeMap;

use super::definition::{FlowMessage, TemplateRef};
use super::run::OutMessage;
use crate::component::Component;
use crate::merge::parse_field;

/// The prefix of the run's own fields in merge fields and conditions.
pub const FLOW_PREFIX: &str = "flow.";
/// The prefix of the last webhook's answer, kept in the run's fields with it.
pub const WEBHOOK_PREFIX: &str = "webhook.";

/// What a flow's merge fields and conditions can read (see the module doc for the convention).
#[derive(Debug, Clone, Copy)]
pub struct FlowFields<'a> {
    /// The run's fields ([`super::RunState::fields`]).
    pub run: &'a BTreeMap<String, String>,
    /// Facts written by `set` steps earlier in the same call, by full name; they win over
    /// `facts`, which the engine only refreshes between calls.
    pub updated: &'a BTreeMap<String, String>,
    /// The customer's and session's fields by full name ([`super::Facts::fields`]).
    pub facts: &'a BTreeMap<String, String>,
}

impl<'a> FlowFields<'a> {
    /// The value of a merge field or condition field, `None` when it has none.
    pub fn get(&self, name: &str) -> Option<&'a str> {
        if let Some(key) = name.strip_prefix(FLOW_PREFIX) {
            return self.run.get(key).map(String::as_str);
        }
        if name.starts_with(WEBHOOK_PREFIX) {
            return self.run.get(name).map(String::as_str);
        }
        self.updated
            .get(name)
            .or_else(|| self.facts.get(name))
            .map(String::as_str)
    }
}

/// Renders a text: every merge field replaced by its value, or by nothing.
pub fn render_text(template: &str, fields: &FlowFields<'_>) -> String {
    render_with(template, fields, |value, out| out.push_str(value))
}

/// Renders a URL: values are percent-encoded (everything but RFC 3986's unreserved characters),
/// so a customer's answer inserted in a path or query stays one segment and cannot redirect the
/// call to another path or host.
pub fn render_url(template: &str, fields: &FlowFields<'_>) -> String {
    render_with(template, fields, |value, out| {
        for b in value.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    })
}

fn render_with(
    template: &str,
    fields: &FlowFields<'_>,
    mut insert: impl FnMut(&str, &mut String),
) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(at) = rest.find("{{") {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        match parse_field(from) {
            Some((name, consumed)) => {
                if let Some(value) = fields.get(name) {
                    insert(value, &mut out);
                }
                rest = from.get(consumed..).unwrap_or_default();
            }
            None => {
                // One brace is text; look again from the next character so "{{{flow.x}}}"
                // still finds the field inside, as crate::merge does.
                out.push('{');
                rest = from.get(1..).unwrap_or_default();
            }
        }
    }
    out.push_str(rest);
    out
}

/// Renders every string inside a JSON value (object keys are left as written).
pub fn render_json(value: &serde_json::Value, fields: &FlowFields<'_>) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) => Value::String(render_text(s, fields)),
        Value::Array(items) => Value::Array(items.iter().map(|v| render_json(v, fields)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), render_json(v, fields)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Renders every text of a component: its text, title, URLs, options' ids, titles and
/// descriptions, the list button, the slots. Formats are not texts and stay as they are.
pub fn render_component(component: &Component, fields: &FlowFields<'_>) -> Component {
    let r = |s: &str| render_text(s, fields);
    let ro = |s: &Option<String>| s.as_deref().map(|s| render_text(s, fields));
    match component {
        Component::Link {
            text,
            url,
            title,
            image_url,
            formats,
        } => Component::Link {
            text: r(text),
            url: render_url(url, fields),
            title: r(title),
            image_url: image_url.as_deref().map(|u| render_url(u, fields)),
            formats: formats.clone(),
        },
        Component::Question {
            text,
            options,
            button,
            formats,
            options_from,
        } => Component::Question {
            text: r(text),
            options: options
                .iter()
                .map(|o| crate::component::ComponentOption {
                    id: r(&o.id),
                    title: r(&o.title),
                    description: ro(&o.description),
                    image_url: o.image_url.as_deref().map(|u| render_url(u, fields)),
                })
                // Per-customer options are values as they are, never templates themselves.
                .chain(
                    options_from
                        .iter()
                        .flat_map(|from| from.options(|name| fields.get(name))),
                )
                .take(crate::component::MAX_OPTIONS)
                .collect(),
            button: ro(button),
            formats: formats.clone(),
            options_from: None,
        },
        Component::TimeSlots {
            text,
            slots,
            formats,
        } => Component::TimeSlots {
            text: r(text),
            slots: slots
                .iter()
                .map(|s| crate::component::TimeSlot {
                    start: r(&s.start),
                    end: r(&s.end),
                    title: r(&s.title),
                })
                .collect(),
            formats: formats.clone(),
        },
    }
}

/// The message to send for a flow message, rendered. `None` for a message with nothing in it
/// (only an unvalidated definition has one); with more than one part, the text wins, then the
/// template.
pub fn render_message(message: &FlowMessage, fields: &FlowFields<'_>) -> Option<OutMessage> {
    if let Some(text) = &message.text {
        return Some(OutMessage::Text(render_text(text, fields)));
    }
    if let Some(template) = &message.template {
        return Some(OutMessage::Template(TemplateRef {
            name: template.name.clone(),
            language: template.language.clone(),
            parameters: template
                .parameters
                .iter()
                .map(|p| render_text(p, fields))
                .collect(),
        }));
    }
    message
        .component
        .as_ref()
        .map(|c| OutMessage::Component(render_component(c, fields)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::component::ComponentOption;
    use proptest::prelude::*;
    use serde_json::json;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn flow_webhook_and_fact_names_resolve_by_the_convention() {
        let run = map(&[
            ("order_number", "123456"),
            ("webhook.order.status", "shipped"),
            ("order.status", "shipped"),
        ]);
        let updated = map(&[("contact.first_name", "Zoë")]);
        let facts = map(&[("contact.first_name", "Zoe"), ("channel.name", "Support")]);
        let f = FlowFields {
            run: &run,
            updated: &updated,
            facts: &facts,
        };
        assert_eq!(
            render_text(
                "Hi {{contact.first_name}}, order {{ flow.order_number }} is {{webhook.order.status}} ({{flow.order.status}}) on {{channel.name}}.",
                &f
            ),
            "Hi Zoë, order 123456 is shipped (shipped) on Support."
        );
    }

    #[test]
    fn unknown_names_render_empty_and_malformed_fields_stay_text() {
        let empty = BTreeMap::new();
        let f = FlowFields {
            run: &empty,
            updated: &empty,
            facts: &empty,
        };
        assert_eq!(
            render_text("a{{contact.frist_name}}b {{Bad}} {{ x", &f),
            "ab {{Bad}} {{ x"
        );
    }

    #[test]
    fn url_values_are_percent_encoded_but_the_template_is_not() {
        let run = map(&[("q", "12/../admin?x=1 é")]);
        let empty = BTreeMap::new();
        let f = FlowFields {
            run: &run,
            updated: &empty,
            facts: &empty,
        };
        assert_eq!(
            render_url("https://h.example/orders/{{flow.q}}?a=b", &f),
            "https://h.example/orders/12%2F..%2Fadmin%3Fx%3D1%20%C3%A9?a=b"
        );
    }

    #[test]
    fn json_bodies_render_every_string_but_not_keys() {
        let run = map(&[("n", "42")]);
        let empty = BTreeMap::new();
        let f = FlowFields {
            run: &run,
            updated: &empty,
            facts: &empty,
        };
        let body = json!({"{{flow.n}}": ["{{flow.n}}", 1, {"deep": "n={{flow.n}}"}], "b": true});
        assert_eq!(
            render_json(&body, &f),
            json!({"{{flow.n}}": ["42", 1, {"deep": "n=42"}], "b": true})
        );
    }

    #[test]
    fn components_render_text_titles_and_options() {
        let run = map(&[("size", "XL")]);
        let empty = BTreeMap::new();
        let f = FlowFields {
            run: &run,
            updated: &empty,
            facts: &empty,
        };
        let q = Component::Question {
            text: "Size {{flow.size}}?".into(),
            options: vec![ComponentOption {
                id: "keep_{{flow.size}}".into(),
                title: "Keep {{flow.size}}".into(),
                description: Some("d {{flow.size}}".into()),
                image_url: None,
            }],
            button: Some("{{flow.size}}".into()),
            formats: vec![],
            options_from: None,
        };
        let Component::Question {
            text,
            options,
            button,
            ..
        } = render_component(&q, &f)
        else {
            panic!("kind changed")
        };
        assert_eq!(text, "Size XL?");
        assert_eq!(options[0].id, "keep_XL");
        assert_eq!(options[0].title, "Keep XL");
        assert_eq!(options[0].description.as_deref(), Some("d XL"));
        assert_eq!(button.as_deref(), Some("XL"));
    }

    proptest! {
        #[test]
        fn inserted_values_are_never_scanned_again(
            before in "\\PC{0,8}",
            after in "\\PC{0,8}",
        ) {
            let value = format!("{before}{{{{flow.x}}}}{{{{contact.email}}}}{after}");
            let run = map(&[("x", value.as_str())]);
            let facts = map(&[("contact.email", "secret@example.com")]);
            let empty = BTreeMap::new();
            let f = FlowFields { run: &run, updated: &empty, facts: &facts };
            prop_assert_eq!(render_text("{{flow.x}}", &f), value.clone());
            prop_assert_eq!(render_text("<{{ flow.x }}>", &f), format!("<{value}>"));
        }

        #[test]
        fn text_without_fields_renders_unchanged(text in "[^{]{0,40}") {
            let empty = BTreeMap::new();
            let f = FlowFields { run: &empty, updated: &empty, facts: &empty };
            prop_assert_eq!(render_text(&text, &f), text);
        }
    }
}
