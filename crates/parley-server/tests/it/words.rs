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
        if after.starts_with('{') {
            rest = &after[1..];
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
    let n = name.trim().trim_start_matches("self.").trim_start_matches('.');
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
