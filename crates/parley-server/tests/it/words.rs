//! Every refusal in words (issue 15, part 5). A refused message once said
//! "Timestamp(1796385040138)": a value reached a person through `Debug`. This reads every crate's
//! sources and fails on the forms that let that happen again:
//! - a `#[error(...)]` text that formats a field with `{:?}` or prints milliseconds
//!   (`.millis()`, `as_millis`): an error's `Display` is what API answers, entries and the console
//!   show;
//! - any `format!`/`write!` text that Debug-formats a value named like a time (`at`, `*_at`,
//!   `due`, `deadline`, `until`, `since`, `now`, `when`, `expires*`);
//! - a `Display` implementation that hands over to `Debug` (`{self:?}`).
//!
//! `Timestamp` has a `Display` (`2026-12-04 11:50 UTC`) and the console turns such texts into the
//! agent's own zone and language (common.js `localizeTimes`).

use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The library sources of every crate (not tests, benches or the fuzz targets): what can reach
/// an API answer, an entry or a page.
fn library_sources() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&root).unwrap() {
        let src = entry.unwrap().path().join("src");
        if src.is_dir() {
            sources(&src, &mut files);
        }
    }
    files.sort();
    assert!(files.len() > 50, "found only {} sources", files.len());
    files
}

/// The text from `open` (an index just after an opening parenthesis) to its matching close,
/// skipping string literals so a `)` inside one does not end it.
fn balanced(text: &str, open: usize) -> &str {
    let bytes = text.as_bytes();
    let (mut depth, mut i, mut in_str) = (1usize, open, false);
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if in_str => i += 1,
            b'"' => in_str = !in_str,
            b'(' if !in_str => depth += 1,
            b')' if !in_str => {
                depth -= 1;
                if depth == 0 {
                    return &text[open..i];
                }
            }
            _ => {}
        }
        i += 1;
    }
    &text[open..]
}

/// Whether the line at `at` sits in test code: after a `#[cfg(test)]` in the file (modules of
/// tests come last in our files) or in a `*_tests.rs` file.
fn in_tests(path: &Path, text: &str, at: usize) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with("_tests.rs") || n == "tests.rs")
        || text[..at].contains("#[cfg(test)]")
}

fn line_of(text: &str, at: usize) -> usize {
    text[..at].matches('\n').count() + 1
}

/// Debug placeholders in a format text: `{:?}`, `{name:?}`, `{0:#?}`, with the name.
fn debug_placeholders(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        if let Some(escaped) = after.strip_prefix('{') {
            rest = escaped;
            continue;
        }
        let Some(close) = after.find('}') else { break };
        let inner = &after[..close];
        if let Some((name, spec)) = inner.split_once(':')
            && spec.contains('?')
        {
            out.push(name.to_owned());
        }
        rest = &after[close + 1..];
    }
    out
}

fn time_like(name: &str) -> bool {
    let n = name
        .trim()
        .trim_start_matches("self.")
        .trim_start_matches('.');
    matches!(
        n,
        "at" | "due" | "deadline" | "until" | "since" | "now" | "when" | "time" | "ts"
    ) || n.ends_with("_at")
        || n.starts_with("expires")
        || n.ends_with("_until")
        || n.ends_with("_time")
}

#[test]
fn no_value_reaches_people_through_debug() {
    let mut problems = Vec::new();
    for path in library_sources() {
        let text = std::fs::read_to_string(&path).unwrap();
        let shown = path.display().to_string();
        let shown = shown.split("/../").last().unwrap_or(&shown).to_owned();
        // Error texts.
        for (at, _) in text.match_indices("#[error(") {
            let attr = balanced(&text, at + "#[error(".len());
            if attr.trim() == "transparent" {
                continue;
            }
            if !debug_placeholders(attr).is_empty() || attr.contains(", ?") {
                problems.push(format!(
                    "{shown}:{}: an error text formats with Debug: #[error({attr})]",
                    line_of(&text, at)
                ));
            }
            if attr.contains("millis()") || attr.contains("as_millis") {
                problems.push(format!(
                    "{shown}:{}: an error text prints milliseconds; a Timestamp displays as a date",
                    line_of(&text, at)
                ));
            }
        }
        // Times in any format text (outside tests).
        for mac in ["format!(", "write!(", "writeln!("] {
            for (at, _) in text.match_indices(mac) {
                if in_tests(&path, &text, at) {
                    continue;
                }
                let args = balanced(&text, at + mac.len());
                for name in debug_placeholders(args) {
                    if time_like(&name) {
                        problems.push(format!(
                            "{shown}:{}: {{{name}:?}} puts a time in text through Debug",
                            line_of(&text, at)
                        ));
                    }
                }
            }
        }
        // Display handing over to Debug.
        for (at, _) in text.match_indices("impl std::fmt::Display for") {
            let body_start = text[at..].find('{').map_or(at, |b| at + b);
            let end = text[body_start..]
                .find("\n}\n")
                .map_or(text.len(), |e| body_start + e);
            let body = &text[body_start..end];
            if body.contains("{self:?}") || body.contains("Debug::fmt(self") {
                problems.push(format!(
                    "{shown}:{}: a Display that prints Debug",
                    line_of(&text, at)
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "values in people's text through Debug or as milliseconds:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_scanner_sees_what_it_looks_for() {
    assert_eq!(
        debug_placeholders("closed at {closed_at:?}; {:?} {{x:?}} {n}"),
        vec!["closed_at".to_owned(), String::new()]
    );
    assert!(time_like("closed_at") && time_like("self.due") && !time_like("name"));
    let text = r#"#[error("a ) in text {x:?}")] X"#;
    assert_eq!(balanced(text, 8), r#""a ) in text {x:?}""#);
}

// --- The agent's time zone ------------------------------------------------------------------

use parley_core::model::AgentRole;
use parley_store::testing::TestBackend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::console::Desk;

/// The zone is stored in its canonical spelling, refused (422 naming the field) when it is not an
/// IANA name, shown on every page in `<body data-time-zone>`, and answered by `GET /api/v1/me`.
async fn an_agent_keeps_a_time_zone(b: TestBackend) {
    let desk = Desk::new(b).await;
    let agent = desk.agent("Zoe", 3, AgentRole::Agent).await;
    let c = desk.sign_in(&agent).await;
    let page = |c| {
        let r = desk.call(c, Method::GET, "/console");
        async move { r.send().await.unwrap().text().await.unwrap() }
    };
    let first = page(&c).await;
    assert!(first.contains("data-time-zone=\"\""), "no zone yet");
    assert!(!first.contains("data-time-zone-chosen"));
    for bad in ["Mars/Olympus", "", "+05:00", "America/Toronto; DROP"] {
        let r = desk
            .call(&c, Method::PUT, "/api/v1/me/time-zone")
            .json(&json!({ "time_zone": bad }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        let body: Value = r.json().await.unwrap();
        assert!(
            body["message"].as_str().unwrap().starts_with("time_zone:"),
            "{body}"
        );
    }
    let r = desk
        .call(&c, Method::PUT, "/api/v1/me/time-zone")
        .json(&json!({ "time_zone": "America/Toronto", "zone": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown fields are refused"
    );
    let r = desk
        .call(&c, Method::PUT, "/api/v1/me/time-zone")
        .json(&json!({ "time_zone": "America/Toronto" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({ "time_zone": "America/Toronto" })
    );
    let after = page(&c).await;
    // minijinja writes `/` as `&#x2f;` in attributes; the browser reads it back.
    assert!(
        after.contains("data-time-zone=\"America&#x2f;Toronto\" data-time-zone-chosen")
            || after.contains("data-time-zone=\"America/Toronto\" data-time-zone-chosen"),
        "{}",
        after
            .lines()
            .find(|l| l.contains("<body"))
            .unwrap_or_default()
    );
    let me: Value = desk
        .call(&c, Method::GET, "/api/v1/me")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["time_zone"], "America/Toronto");
    assert_eq!(me["locale"], "en");
    // A token of no agent has no zone to set.
    let r = desk
        .app
        .req(Method::PUT, "/api/v1/me/time-zone")
        .json(&json!({ "time_zone": "Europe/Paris" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

/// `tests/browser/words.mjs`: an agent whose language is French and zone America/Toronto, in a
/// browser set to English and Asia/Tokyo with its clock fixed three minutes after a token was
/// made, reads "il y a 3 minutes" with the exact Toronto time as its title, the conversation's
/// times in Toronto time, and an error text's UTC time in French, Toronto time. Screenshots go to
/// `PARLEY_SHOTS` when set.
async fn dates_follow_the_agent_in_a_real_browser(b: TestBackend) {
    use parley_core::model::{Actor, Direction, EntryStatus, TokenRole};
    use parley_core::{Clock as _, SystemClock};
    use parley_testkit::build;
    let backend = format!("{b:?}").to_lowercase();
    let desk = Desk::new(b).await;
    let store = &desk.app.db.store;
    let zoe = desk.agent("Zoe", 3, AgentRole::Admin).await;
    let now = SystemClock.now();
    store
        .set_agent_locale(zoe.id, parley_core::i18n::Locale::Fr, now)
        .await
        .unwrap();
    parley_engine::service::translations::set_agent_time_zone(
        store,
        zoe.id,
        "America/Toronto",
        now,
    )
    .await
    .unwrap();
    let session = build::customer_session(store, &desk.channel, "+14165550142", now).await;
    build::entry(
        store,
        &build::new_entry(
            session.id,
            Direction::Inbound,
            Actor::Customer,
            "Bonjour, où est mon colis ?",
            EntryStatus::Received,
        ),
        now,
    )
    .await;
    let (_, hash) = parley_server::auth::generate_token();
    let token = store
        .create_api_token("intégration", TokenRole::Admin, &hash, now)
        .await
        .unwrap();
    let shots = crate::browser::shots_dir("words-shots", &backend);
    crate::browser::run_scenario(
        "words.mjs",
        &[
            format!("--url={}", desk.app.base),
            format!("--agent={}:{}", zoe.email, crate::console::PASSWORD),
            format!("--session={}", session.id),
            format!("--token={}", token.id),
            format!(
                "--now={}",
                token.created_at.millis() + 3 * 60 * 1000 + 5_000
            ),
            format!("--shots={}", shots.display()),
        ],
        std::time::Duration::from_secs(180),
    )
    .await;
}

parley_store::on_both_backends!(
    an_agent_keeps_a_time_zone,
    dates_follow_the_agent_in_a_real_browser
);
