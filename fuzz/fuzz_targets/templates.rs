//! The template renderers: WhatsApp's positional templates (`{{1}}`), the merge fields of quick
//! texts and flows (`{{contact.first_name}}`), and a campaign's content in the sandboxed
//! minijinja environment (syntax, fields, links, footer, fuel).
//!
//! Input: one flags byte, then UTF-8 (lossy) fields separated by U+001F: the template text, then
//! values (a positional template's values, or a campaign template's parameters). Flags: bit 0
//! excludes recipients with a missing value (else the fallback), bit 1 shortens links, bit 2 adds
//! the footer, bit 3 compiles a campaign template message rather than a text.
//!
//! Invariants: nothing panics or hangs (the fuel limit and the output cap hold); a positional
//! render takes exactly the placeholders' count of values; a text without any field renders as
//! itself; a value is inserted once and never read as a field; a campaign message stays within
//! its size cap.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use parley_core::campaign::audience::Member;
use parley_core::campaign::content::{Compiled, FooterLines, LinkBase};
use parley_core::campaign::{Content, MissingValues, TemplateContent};
use parley_core::flow::text::{FlowFields, render_text, render_url};
use parley_core::merge::{self, FIELDS, MergeFields};
use parley_core::template;

/// A value that would reveal the agent's name if it were ever rendered a second time.
const SNEAKY: &str = "{{agent.name}}";
const SECRET: &str = "AGENT-NAME-SECRET";

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let input = String::from_utf8_lossy(rest);
    let mut fields = input.split('\u{1F}');
    let text = fields.next().unwrap_or_default();
    let values: Vec<String> = fields.take(8).map(str::to_owned).collect();

    // WhatsApp's positional templates.
    let count = template::placeholder_count(text);
    match template::render(text, &values) {
        Ok(out) => {
            assert_eq!(count, Ok(values.len()));
            if !text.contains("{{") {
                assert_eq!(out, text);
            }
        }
        Err(_) => {}
    }

    // Quick texts' merge fields: every known field holds the sneaky value but the agent's name.
    let mut map: MergeFields = BTreeMap::new();
    for field in FIELDS {
        map.insert(field, SNEAKY.to_owned());
    }
    map.insert("agent.name", SECRET.to_owned());
    let names = merge::fields_in(text);
    let rendered = merge::render(text, &map);
    for unknown in &rendered.unknown {
        assert!(names.contains(&unknown.as_str()) && !FIELDS.contains(&unknown.as_str()));
    }
    if names.is_empty() {
        assert_eq!(rendered.text, text);
    }
    let secrets_written = text.matches("agent.name").count() + text.matches(SECRET).count();
    assert!(
        rendered.text.matches(SECRET).count() <= secrets_written,
        "a value was rendered as a field: {text:?} gave {:?}",
        rendered.text
    );

    // Flows: every name without a value renders empty; URLs percent-encode values.
    let run: BTreeMap<String, String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("v{i}"), v.clone()))
        .collect();
    let facts: BTreeMap<String, String> =
        [("contact.first_name".to_owned(), SNEAKY.to_owned())].into();
    let updated = BTreeMap::new();
    let flow_fields = FlowFields {
        run: &run,
        updated: &updated,
        facts: &facts,
    };
    let out = render_text(text, &flow_fields);
    if merge::fields_in(text).is_empty() {
        assert_eq!(out, text);
    }
    let url = render_url(text, &flow_fields);
    if !text.contains("{{") {
        assert_eq!(url, text);
    }

    // Campaigns: minijinja in its sandbox.
    let missing = if flags & 1 != 0 {
        MissingValues::Exclude
    } else {
        MissingValues::Fallback
    };
    let links = (flags & 2 != 0).then(|| LinkBase("https://go.example/".to_owned()));
    let footer = if flags & 4 != 0 {
        FooterLines {
            help: true,
            whatsapp_digits: Some("14155550100".to_owned()),
            shorten_whatsapp: true,
            custom: Some("Acme".to_owned()),
        }
    } else {
        FooterLines::default()
    };
    let (content, body) = if flags & 8 != 0 {
        let content = Content {
            text: None,
            template: Some(TemplateContent {
                name: "order_update".to_owned(),
                language: "en".to_owned(),
                parameters: values.clone(),
            }),
            missing,
            fallbacks: BTreeMap::new(),
        };
        (content, Some(text))
    } else {
        let content = Content {
            text: Some(text.to_owned()),
            template: None,
            missing,
            fallbacks: BTreeMap::new(),
        };
        (content, None)
    };
    if let Ok(compiled) = Compiled::compile(&content, body, footer, links) {
        let mut attributes = serde_json::Map::new();
        attributes.insert("points".into(), serde_json::json!(120));
        attributes.insert("tier".into(), serde_json::json!(SNEAKY));
        let member = Member {
            platform_key: "+14155550100".into(),
            name: "Zoë".into(),
            first_name: values.first().cloned(),
            last_name: Some("O'Brien & <Co>".into()),
            email: Some(SNEAKY.into()),
            attributes,
            ..Member::default()
        };
        let code = compiled.needs_code().then_some("aB3dE");
        if let Ok(message) = compiled.render(&member, "Acme SMS", code) {
            // 64 KiB per rendered part; a text message adds only its footer. (A template's body
            // is the approved text with the parameters in it: bounded by what Meta approved.)
            for p in &message.parameters {
                assert!(p.len() <= 64 * 1024, "{} bytes", p.len());
            }
            if message.parameters.is_empty() {
                assert!(
                    message.body.len() <= 64 * 1024 + 256,
                    "{} bytes",
                    message.body.len()
                );
            }
        }
    }
});
