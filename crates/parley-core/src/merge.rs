//! Merge fields (AG-08 quick texts, and later templates and campaigns): `{{contact.first_name}}`
//! in a text is replaced by the value the caller supplies for it in a flat map. Rendering is one
//! pass over the text: a value is inserted as written and never itself scanned for fields, so a
//! customer named "{{agent.name}}" cannot make the text reveal anything.
//!
//! What an unresolved field becomes (the brief left it open):
//! - a field of the catalogue [`FIELDS`] with no value in the map renders **empty**: a contact with
//!   no last name is normal, and the customer must not see `{{contact.last_name}}`;
//! - any other name (a typo such as `{{contact.frist_name}}`) is **left as written**, so the agent
//!   sees the mistake in the composer before sending. [`Rendered::unknown`] lists them.
//!
//! Syntax: `{{`, optional spaces, a name made of ASCII lowercase letters, digits, `_` and `.`
//! (starting with a letter), optional spaces, `}}`. Anything else, a lone `{{` included, is plain
//! text. Line breaks and every other character pass through untouched.
//!
//! This module also holds the limits of a quick text, the first user of merge fields.

use std::collections::BTreeMap;

/// The merge fields Parley fills. Values come from the session the text is rendered for.
pub const FIELDS: &[&str] = &[
    "contact.first_name",
    "contact.last_name",
    "contact.name",
    "contact.email",
    "contact.phone",
    "agent.name",
    "channel.name",
    "messaging_user.platform_key",
    "messaging_user.name",
];

/// Field name to value. Borrowed keys so a caller can fill it from [`FIELDS`] without allocating.
pub type MergeFields = BTreeMap<&'static str, String>;

/// A rendered text and the field names it left as written because they are not in [`FIELDS`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rendered {
    pub text: String,
    /// Unknown names, in order of first appearance, each once.
    pub unknown: Vec<String>,
}

/// Longest field name looked at; longer runs are plain text (keeps a pathological input cheap).
const MAX_NAME: usize = 64;

/// Renders `template` with `fields` (see the module doc for what unresolved fields become).
pub fn render(template: &str, fields: &MergeFields) -> Rendered {
    let mut out = String::with_capacity(template.len());
    let mut unknown: Vec<String> = Vec::new();
    let mut rest = template;
    while let Some(at) = rest.find("{{") {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        match parse_field(from) {
            Some((name, consumed)) => {
                if let Some(v) = fields.get(name) {
                    out.push_str(v);
                } else if FIELDS.contains(&name) {
                    // A known field without a value: empty, see the module doc.
                } else {
                    if !unknown.iter().any(|u| u == name) {
                        unknown.push(name.to_owned());
                    }
                    out.push_str(from.get(..consumed).unwrap_or_default());
                }
                rest = from.get(consumed..).unwrap_or_default();
            }
            None => {
                // Not a field: keep one brace and look again from the next character, so
                // "{{{contact.name}}}" still finds the field inside.
                out.push('{');
                rest = from.get(1..).unwrap_or_default();
            }
        }
    }
    out.push_str(rest);
    Rendered { text: out, unknown }
}

/// The field at the start of `s` (which starts with `{{`): its name and how many bytes the whole
/// `{{ name }}` takes. Shared with the flow renderer so both read one syntax.
pub(crate) fn parse_field(s: &str) -> Option<(&str, usize)> {
    let inner = s.strip_prefix("{{")?;
    let lead = inner.len() - inner.trim_start_matches(' ').len();
    let body = inner.get(lead..)?;
    let name_len = body
        .bytes()
        .take(MAX_NAME + 1)
        .take_while(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'.')
        .count();
    if name_len == 0 || name_len > MAX_NAME {
        return None;
    }
    let name = body.get(..name_len)?;
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return None;
    }
    let after = body.get(name_len..)?;
    let trail = after.len() - after.trim_start_matches(' ').len();
    after.get(trail..)?.strip_prefix("}}")?;
    Some((name, 2 + lead + name_len + trail + 2))
}

/// The names of every well-formed field in `template`, known or not, each once, in order.
pub fn fields_in(template: &str) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    let mut rest = template;
    while let Some(at) = rest.find("{{") {
        let from = rest.get(at..).unwrap_or_default();
        match parse_field(from) {
            Some((name, consumed)) => {
                if !names.contains(&name) {
                    names.push(name);
                }
                rest = from.get(consumed..).unwrap_or_default();
            }
            None => rest = from.get(1..).unwrap_or_default(),
        }
    }
    names
}

/// A person's name from its parts, as `contact.name` shows it: the non-empty parts joined by one
/// space.
pub fn full_name(first: &str, last: &str) -> String {
    let (f, l) = (first.trim(), last.trim());
    match (f.is_empty(), l.is_empty()) {
        (false, false) => format!("{f} {l}"),
        (false, true) => f.to_owned(),
        (true, false) => l.to_owned(),
        (true, true) => String::new(),
    }
}

// ---- quick texts (AG-08) ----

/// Longest quick text title, in characters.
pub const QUICK_TEXT_MAX_TITLE: usize = 100;
/// Longest quick text body, in characters: the largest any channel carries (WhatsApp and web,
/// DESIGN.md section 5). Whether a rendered text fits a given channel is the composer's check.
pub const QUICK_TEXT_MAX_BODY: usize = crate::sms::WEB_MAX_CHARACTERS;

/// Why a quick text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuickTextError {
    #[error("a quick text title must be 1 to {QUICK_TEXT_MAX_TITLE} characters")]
    Title,
    #[error("a quick text body must be 1 to {QUICK_TEXT_MAX_BODY} characters and not only spaces")]
    Body,
}

/// A valid quick text: the title trimmed; the body kept exactly as written (its line breaks,
/// spacing and special characters are the point of a quick text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuickTextDraft {
    pub title: String,
    pub body: String,
}

/// Checks a quick text's title and body (AG-08).
pub fn quick_text(title: &str, body: &str) -> Result<QuickTextDraft, QuickTextError> {
    let title = title.trim();
    let n = title.chars().count();
    if n == 0 || n > QUICK_TEXT_MAX_TITLE {
        return Err(QuickTextError::Title);
    }
    if body.trim().is_empty() || body.chars().count() > QUICK_TEXT_MAX_BODY {
        return Err(QuickTextError::Body);
    }
    Ok(QuickTextDraft {
        title: title.to_owned(),
        body: body.to_owned(),
    })
}

/// The form a quick text is searched in: lower case (Unicode, not only ASCII), title and body on
/// separate lines. Computed here rather than with SQL `lower()`, which SQLite applies to ASCII
/// only, so both databases find the same texts.
pub fn search_key(title: &str, body: &str) -> String {
    format!("{}\n{}", title.to_lowercase(), body.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fields(pairs: &[(&'static str, &str)]) -> MergeFields {
        pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
    }

    #[test]
    fn known_fields_are_replaced_with_their_values() {
        let f = fields(&[
            ("contact.first_name", "Zoë"),
            ("agent.name", "Sam"),
            ("channel.name", "Support SMS"),
            ("messaging_user.platform_key", "+14155550100"),
        ]);
        let r = render(
            "Hi {{contact.first_name}},\nthis is {{ agent.name }} from {{channel.name}} ({{messaging_user.platform_key}}).",
            &f,
        );
        assert_eq!(
            r.text,
            "Hi Zoë,\nthis is Sam from Support SMS (+14155550100)."
        );
        assert!(r.unknown.is_empty());
    }

    #[test]
    fn known_fields_without_a_value_render_empty() {
        let r = render("Hi {{contact.first_name}}!", &MergeFields::new());
        assert_eq!(r.text, "Hi !");
        assert!(r.unknown.is_empty());
    }

    #[test]
    fn unknown_fields_stay_as_written_and_are_listed_once() {
        let f = fields(&[("contact.first_name", "Ann")]);
        let r = render(
            "{{contact.frist_name}} {{ contact.frist_name }} {{x.y}} {{contact.first_name}}",
            &f,
        );
        assert_eq!(
            r.text,
            "{{contact.frist_name}} {{ contact.frist_name }} {{x.y}} Ann"
        );
        assert_eq!(r.unknown, vec!["contact.frist_name", "x.y"]);
    }

    #[test]
    fn malformed_braces_are_plain_text() {
        let f = fields(&[("contact.name", "Ann Lee")]);
        for t in [
            "{{",
            "}}",
            "{{}}",
            "{{ }}",
            "{{Contact.Name}}",
            "{{contact name}}",
            "{{contact.name}",
            "{contact.name}}",
            "{{1abc}}",
            "€ {{ ünïcode }} 😀",
        ] {
            assert_eq!(render(t, &f).text, t, "{t}");
        }
        assert_eq!(render("{{{contact.name}}}", &f).text, "{Ann Lee}");
        assert_eq!(
            render("{{{{contact.name}}}}", &f).text,
            "{{Ann Lee}}",
            "braces around a field stay"
        );
    }

    #[test]
    fn values_are_not_expanded_again() {
        let f = fields(&[("contact.name", "{{agent.name}}"), ("agent.name", "Sam")]);
        assert_eq!(render("{{contact.name}}", &f).text, "{{agent.name}}");
    }

    #[test]
    fn special_characters_and_line_breaks_pass_through() {
        let f = fields(&[("contact.first_name", "O'Brien & <Co>")]);
        let r = render("Dear {{contact.first_name}},\r\n\t€ ½ \"ok\" 😀\n", &f);
        assert_eq!(r.text, "Dear O'Brien & <Co>,\r\n\t€ ½ \"ok\" 😀\n");
    }

    #[test]
    fn fields_in_lists_names_once_in_order() {
        assert_eq!(
            fields_in("{{agent.name}} {{contact.name}} {{ agent.name }} {{bad name}}"),
            vec!["agent.name", "contact.name"]
        );
    }

    #[test]
    fn full_name_joins_present_parts() {
        assert_eq!(full_name("Ann", "Lee"), "Ann Lee");
        assert_eq!(full_name(" Ann ", ""), "Ann");
        assert_eq!(full_name("", "Lee"), "Lee");
        assert_eq!(full_name(" ", " "), "");
    }

    #[test]
    fn quick_text_limits() {
        let ok = quick_text("  Greeting ", "Hi {{contact.first_name}},\n").unwrap();
        assert_eq!(ok.title, "Greeting");
        assert_eq!(
            ok.body, "Hi {{contact.first_name}},\n",
            "body kept as written"
        );
        assert_eq!(quick_text(" ", "x"), Err(QuickTextError::Title));
        assert_eq!(
            quick_text(&"t".repeat(101), "x"),
            Err(QuickTextError::Title)
        );
        assert!(quick_text(&"t".repeat(100), "x").is_ok());
        assert_eq!(quick_text("t", " \n "), Err(QuickTextError::Body));
        assert_eq!(
            quick_text("t", &"é".repeat(QUICK_TEXT_MAX_BODY + 1)),
            Err(QuickTextError::Body)
        );
        assert!(quick_text("t", &"é".repeat(QUICK_TEXT_MAX_BODY)).is_ok());
    }

    #[test]
    fn search_key_folds_unicode_case() {
        assert_eq!(search_key("ÉCOLE", "ÄÖÜ Straße"), "école\näöü straße");
    }

    fn any_fields() -> impl Strategy<Value = MergeFields> {
        proptest::collection::btree_map(
            proptest::sample::select(FIELDS.to_vec()),
            ".{0,12}",
            0..FIELDS.len(),
        )
    }

    proptest! {
        #[test]
        fn text_without_double_braces_is_unchanged(t in "[^{]*", f in any_fields()) {
            let r = render(&t, &f);
            prop_assert_eq!(r.text, t);
            prop_assert!(r.unknown.is_empty());
        }

        #[test]
        fn rendering_never_panics_on_any_text(t in ".*", f in any_fields()) {
            let _ = render(&t, &f);
            let _ = fields_in(&t);
        }

        #[test]
        fn braces_and_names_soup_never_panics(t in "[{} a-z._\\n0-9é😀]{0,60}", f in any_fields()) {
            let r = render(&t, &f);
            // Every unknown name is really in the text.
            for u in &r.unknown {
                prop_assert!(t.contains(u.as_str()));
            }
        }

        #[test]
        fn each_known_field_renders_its_value(
            prefix in "[^{]{0,20}",
            suffix in "[^{]{0,20}",
            name in proptest::sample::select(FIELDS.to_vec()),
            value in ".{0,20}",
            spaces in 0usize..3,
        ) {
            let pad = " ".repeat(spaces);
            let t = format!("{prefix}{{{{{pad}{name}{pad}}}}}{suffix}");
            let f: MergeFields = [(name, value.clone())].into_iter().collect();
            prop_assert_eq!(render(&t, &f).text, format!("{prefix}{value}{suffix}"));
            // Without a value, the field disappears.
            prop_assert_eq!(render(&t, &MergeFields::new()).text, format!("{prefix}{suffix}"));
        }

        #[test]
        fn rendering_is_one_pass(value in ".{0,30}") {
            // Whatever a value contains, it appears verbatim and exactly once.
            let f: MergeFields = [("contact.name", value.clone()), ("agent.name", "Sam".to_owned())]
                .into_iter().collect();
            prop_assert_eq!(render("[{{contact.name}}]", &f).text, format!("[{value}]"));
        }
    }
}
