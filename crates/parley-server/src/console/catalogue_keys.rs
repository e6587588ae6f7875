//! Every catalogue key the admin and marketing pages and the widget name exists in every language.
//! The catalogue's own test keeps the languages in step with each other; this one keeps the pages
//! in step with the catalogue, so a typo in a key shows as a failed build rather than as the key
//! itself on an admin's screen.

use parley_core::i18n::{Locale, catalogue};

/// The areas these pages own: a literal starting with one of them followed by a dot is a key.
const AREAS: &[&str] = &[
    "admin",
    "campaigns",
    "flows",
    "webhooks",
    "tokens",
    "twilio",
    "notification_errors",
    "web_deployments",
    "keysets",
    "widget",
    "reports",
];

const FILES: &[(&str, &str)] = &[
    ("admin.html", include_str!("../../templates/admin.html")),
    (
        "campaigns.html",
        include_str!("../../templates/campaigns.html"),
    ),
    ("flows.html", include_str!("../../templates/flows.html")),
    (
        "webhooks.html",
        include_str!("../../templates/webhooks.html"),
    ),
    (
        "api-tokens.html",
        include_str!("../../templates/api-tokens.html"),
    ),
    ("twilio.html", include_str!("../../templates/twilio.html")),
    (
        "notification-errors.html",
        include_str!("../../templates/notification-errors.html"),
    ),
    (
        "web-deployments.html",
        include_str!("../../templates/web-deployments.html"),
    ),
    ("keysets.html", include_str!("../../templates/keysets.html")),
    ("admin.js", include_str!("../../assets/admin.js")),
    ("campaigns.js", include_str!("../../assets/campaigns.js")),
    ("flows.js", include_str!("../../assets/flows.js")),
    ("webhooks.js", include_str!("../../assets/webhooks.js")),
    ("api-tokens.js", include_str!("../../assets/api-tokens.js")),
    ("twilio.js", include_str!("../../assets/twilio.js")),
    (
        "notification-errors.js",
        include_str!("../../assets/notification-errors.js"),
    ),
    (
        "web-deployments.js",
        include_str!("../../assets/web-deployments.js"),
    ),
    ("keysets.js", include_str!("../../assets/keysets.js")),
    ("reports.html", include_str!("../../templates/reports.html")),
    ("reports.js", include_str!("../../assets/reports.js")),
];

/// The quoted literals of `source` that are keys of [`AREAS`]: whole literals such as
/// `'flows.save'` or `"admin.new"`, whichever call they are in (`t(...)`, `Parley.t(...)`, a
/// ternary choosing the plural). A literal ending in a dot or an underscore is a prefix completed
/// at run time (`'admin.field.' + name` with a fallback, `'webhooks.channels_' + form`) and is not
/// a key.
fn keys_in(source: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = source;
    while let Some(start) = rest.find(['\'', '"']) {
        let quote = rest[start..].chars().next().unwrap_or('\'');
        let after = &rest[start + 1..];
        let Some(len) = after.find([quote, '\n']) else {
            break;
        };
        let literal = &after[..len];
        let is_key = AREAS.iter().any(|a| {
            literal
                .strip_prefix(a)
                .and_then(|r| r.strip_prefix('.'))
                .is_some_and(|r| !r.is_empty() && !r.ends_with(['.', '_']))
        }) && literal
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if is_key {
            out.push(literal);
        }
        // A closing quote never opens the next literal.
        rest = after.get(len + 1..).unwrap_or_default();
    }
    out
}

#[test]
fn every_key_the_pages_use_is_in_every_language() {
    let mut missing = Vec::new();
    let mut used = 0;
    for (file, source) in FILES {
        for key in keys_in(source) {
            used += 1;
            for locale in Locale::ALL {
                let texts = catalogue(*locale);
                // A plural's base names the pair `plural(n, key)` chooses from.
                let plural = |form: &str| texts.contains_key(format!("{key}_{form}").as_str());
                let known = texts.contains_key(key) || (plural("one") && plural("other"));
                if !known {
                    missing.push(format!("{file}: {key} ({locale})"));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "keys missing from the catalogue:\n{}",
        missing.join("\n")
    );
    assert!(
        used > 300,
        "only {used} keys found: is the scan still reading the pages?"
    );
}

#[test]
fn the_widget_reads_every_label_it_names_from_the_catalogue() {
    let script = include_str!("../../assets/widget.js");
    let en = catalogue(Locale::En);
    let mut rest = script;
    let mut missing = Vec::new();
    // `L.name` and `L[name]` lookups: the dotted ones name their label.
    while let Some(i) = rest.find("L.") {
        let before = rest[..i].chars().last();
        let name: String = rest[i + 2..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
            && !name.is_empty()
            && !en.contains_key(format!("widget.{name}").as_str())
        {
            missing.push(name);
        }
        rest = &rest[i + 2..];
    }
    assert!(missing.is_empty(), "widget labels missing: {missing:?}");
}

#[test]
fn literals_are_read_whole() {
    assert_eq!(
        keys_in(
            "t('flows.save'), \"admin.new\", 'admin.field.' + n, 'admin.b_' + f, 'x.y', 'flows.a b'"
        ),
        ["flows.save", "admin.new"]
    );
}
