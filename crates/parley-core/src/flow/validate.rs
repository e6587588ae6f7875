//! Checks a flow when it is saved, so the runtime never meets a definition it cannot run: every
//! issue names its step and is reported at once, flow-level issues first, then step by step in
//! the order of the steps.
//!
//! Unreachable steps are allowed (an author parks a step while editing). Beyond the brief's list
//! this also refuses, because each would silently never work at run time: an `option` matcher
//! naming an id that the ask's own question does not offer, a question without options or with
//! duplicate option ids, a `save_as` that is not a flow field name, branch conditions without a
//! field, value or sub-condition, and a `gt`/`lt` value that is not a number.

use std::collections::BTreeSet;

use super::definition::{
    Compare, Condition, FieldScope, FlowDefinition, FlowMessage, Matcher, Step, StepAction,
};
use super::matchers::{compile_regex, parse_number};
use crate::component::Component;
use crate::keywords::normalize;

/// Longest flow name, step id and flow field name.
pub const MAX_NAME_LEN: usize = 64;
/// Longest text a flow message may hold, in characters (the longest any channel carries).
pub const MAX_TEXT_CHARS: usize = 4096;
/// Longest wait of an `ask` step: 30 days.
pub const MAX_TIMEOUT_SECONDS: u32 = 30 * 24 * 3600;
/// Bounds of a webhook's timeout, in milliseconds.
pub const WEBHOOK_TIMEOUT_MS: std::ops::RangeInclusive<u32> = 100..=30_000;
/// Most retries of a webhook call.
pub const MAX_WEBHOOK_RETRIES: u32 = 5;
/// Bounds of a flow's `max_invalid`.
pub const MAX_INVALID: std::ops::RangeInclusive<u32> = 1..=20;

/// One thing wrong with a flow: the step it is in (none for the flow itself) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}", step_prefix(.step), .message)]
pub struct FlowIssue {
    pub step: Option<String>,
    pub message: String,
}

fn step_prefix(step: &Option<String>) -> String {
    step.as_ref()
        .map(|s| format!("step {s:?}: "))
        .unwrap_or_default()
}

/// Every issue of a flow, as one error for callers that return it (an API answer lists them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the flow is not valid: {}", join_issues(.0))]
pub struct InvalidFlow(pub Vec<FlowIssue>);

fn join_issues(issues: &[FlowIssue]) -> String {
    issues
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl From<Vec<FlowIssue>> for InvalidFlow {
    fn from(issues: Vec<FlowIssue>) -> Self {
        Self(issues)
    }
}

/// Checks a flow (see the module doc); `Err` holds every issue, in step order.
pub fn validate(flow: &FlowDefinition) -> Result<(), Vec<FlowIssue>> {
    let mut issues = Issues {
        step: None,
        list: Vec::new(),
    };
    if !is_name(&flow.name) {
        issues.push(format!(
            "name {:?} must be 1 to {MAX_NAME_LEN} lowercase letters, digits, '-' or '_'",
            flow.name
        ));
    }
    if !MAX_INVALID.contains(&flow.max_invalid) {
        issues.push(format!(
            "max_invalid is {}; it must be from {} to {}",
            flow.max_invalid,
            MAX_INVALID.start(),
            MAX_INVALID.end()
        ));
    }
    if flow.steps.is_empty() {
        issues.push("a flow needs at least one step".to_owned());
    }
    let ids: BTreeSet<&str> = flow.steps.iter().map(|s| s.id.as_str()).collect();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    for step in &flow.steps {
        issues.step = Some(step.id.clone());
        if !is_name(&step.id) {
            issues.push(format!(
                "the step id must be 1 to {MAX_NAME_LEN} lowercase letters, digits, '-' or '_'"
            ));
        }
        if !seen.insert(step.id.as_str()) {
            issues.push("another step has the same id".to_owned());
        }
        check_step(step, &ids, &mut issues);
    }
    if issues.list.is_empty() {
        Ok(())
    } else {
        Err(issues.list)
    }
}

struct Issues {
    step: Option<String>,
    list: Vec<FlowIssue>,
}

impl Issues {
    fn push(&mut self, message: String) {
        self.list.push(FlowIssue {
            step: self.step.clone(),
            message,
        });
    }

    fn target(&mut self, ids: &BTreeSet<&str>, label: &str, target: &str) {
        if !ids.contains(target) {
            self.push(format!("{label} {target:?} is not a step of this flow"));
        }
    }

    fn opt_target(&mut self, ids: &BTreeSet<&str>, label: &str, target: Option<&String>) {
        if let Some(t) = target {
            self.target(ids, label, t);
        }
    }
}

/// Lowercase ASCII letters, digits, `-` and `_`, 1 to 64 of them: flow names and step ids.
pub fn is_name(s: &str) -> bool {
    (1..=MAX_NAME_LEN).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// `[a-z][a-z0-9_]*`, at most 64: the name of a flow field (`set` in scope `flow`, `save_as`).
pub fn is_flow_field_name(s: &str) -> bool {
    s.len() <= MAX_NAME_LEN
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// The fields a `set` step may write in a scope other than `flow`.
pub fn settable_fields(scope: FieldScope) -> &'static [&'static str] {
    match scope {
        FieldScope::Flow => &[],
        FieldScope::Contact => &["first_name", "last_name", "email", "phone"],
        FieldScope::MessagingUser => &["locale", "name"],
        FieldScope::Case => &["subject", "status"],
    }
}

fn check_step(step: &Step, ids: &BTreeSet<&str>, out: &mut Issues) {
    match &step.action {
        StepAction::Send { message, next } => {
            check_message(message, "message", out);
            out.opt_target(ids, "next", next.as_ref());
        }
        StepAction::Ask {
            message,
            save_as,
            cases,
            other,
            invalid,
            timeout,
        } => {
            if let Some(m) = message {
                check_message(m, "message", out);
            }
            check_save_as(save_as.as_deref(), out);
            if cases.is_empty() {
                out.push("an ask needs at least one case (use `any` to accept every reply)".into());
            }
            let offered = message
                .as_ref()
                .and_then(|m| m.component.as_ref())
                .and_then(question_ids);
            for (i, case) in cases.iter().enumerate() {
                let label = format!("case {}", i + 1);
                check_matcher(&case.when, &label, offered.as_deref(), out);
                out.target(ids, &format!("{label} next"), &case.next);
            }
            out.opt_target(ids, "other", other.as_ref());
            if let Some(m) = invalid {
                check_message(m, "invalid", out);
            }
            if let Some(t) = timeout {
                if !(1..=MAX_TIMEOUT_SECONDS).contains(&t.after_seconds) {
                    out.push(format!(
                        "timeout after_seconds is {}; it must be from 1 to {MAX_TIMEOUT_SECONDS} (30 days)",
                        t.after_seconds
                    ));
                }
                out.target(ids, "timeout next", &t.next);
            }
        }
        StepAction::Set { field, value, next } => {
            let valid = match field.scope {
                FieldScope::Flow => is_flow_field_name(&field.name),
                scope => settable_fields(scope).contains(&field.name.as_str()),
            };
            if !valid {
                let allowed = match field.scope {
                    FieldScope::Flow => {
                        "a lowercase letter then lowercase letters, digits or '_', at most 64"
                            .to_owned()
                    }
                    scope => settable_fields(scope).join(", "),
                };
                out.push(format!(
                    "field {:?} cannot be set in scope {}; allowed: {allowed}",
                    field.name,
                    scope_name(field.scope)
                ));
            }
            if value.chars().count() > MAX_TEXT_CHARS {
                out.push(format!(
                    "the value is longer than {MAX_TEXT_CHARS} characters"
                ));
            }
            out.opt_target(ids, "next", next.as_ref());
        }
        StepAction::Branch { cases, otherwise } => {
            for (i, case) in cases.iter().enumerate() {
                let label = format!("case {}", i + 1);
                check_condition(&case.when, &label, out);
                out.target(ids, &format!("{label} next"), &case.next);
            }
            out.opt_target(ids, "otherwise", otherwise.as_ref());
        }
        StepAction::Webhook {
            url,
            timeout_ms,
            retries,
            save_as,
            next,
            on_error,
            ..
        } => {
            if !is_http_url(url) {
                out.push(format!(
                    "url {url:?} must start with http:// or https:// and name a host"
                ));
            }
            if !WEBHOOK_TIMEOUT_MS.contains(timeout_ms) {
                out.push(format!(
                    "timeout_ms is {timeout_ms}; it must be from {} to {}",
                    WEBHOOK_TIMEOUT_MS.start(),
                    WEBHOOK_TIMEOUT_MS.end()
                ));
            }
            if *retries > MAX_WEBHOOK_RETRIES {
                out.push(format!(
                    "retries is {retries}; it must be at most {MAX_WEBHOOK_RETRIES}"
                ));
            }
            check_save_as(save_as.as_deref(), out);
            out.opt_target(ids, "next", next.as_ref());
            out.opt_target(ids, "on_error", on_error.as_ref());
        }
        StepAction::Handoff {
            queue,
            skills,
            agent,
            message,
        } => {
            let named = |s: &Option<String>| s.as_deref().is_some_and(|s| !s.trim().is_empty());
            if !named(queue) && skills.is_empty() && !named(agent) {
                out.push("a handoff names at least one of queue, skills or agent".to_owned());
            }
            if skills.iter().any(|s| s.trim().is_empty()) {
                out.push("a skill name is blank".to_owned());
            }
            if let Some(m) = message {
                check_message(m, "message", out);
            }
        }
        StepAction::StartFlow { flow } => {
            if !is_name(flow) {
                out.push(format!(
                    "start_flow {flow:?} is not a flow name (1 to {MAX_NAME_LEN} lowercase letters, digits, '-' or '_')"
                ));
            }
        }
        StepAction::End { message, .. } => {
            if let Some(m) = message {
                check_message(m, "message", out);
            }
        }
    }
}

fn scope_name(scope: FieldScope) -> &'static str {
    match scope {
        FieldScope::Flow => "flow",
        FieldScope::Contact => "contact",
        FieldScope::MessagingUser => "messaging_user",
        FieldScope::Case => "case",
    }
}

fn check_save_as(save_as: Option<&str>, out: &mut Issues) {
    if let Some(name) = save_as
        && !is_flow_field_name(name)
    {
        out.push(format!(
            "save_as {name:?} must be a lowercase letter then lowercase letters, digits or '_', at most {MAX_NAME_LEN}"
        ));
    }
}

/// The literal scheme must be there (merge fields after it are filled at run time), so a field's
/// value can never turn the call into another scheme.
fn is_http_url(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        url.get(8..)
    } else if lower.starts_with("http://") {
        url.get(7..)
    } else {
        None
    };
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with(['/', '?', '#']))
        && !url.chars().any(char::is_whitespace)
}

fn check_message(message: &FlowMessage, what: &str, out: &mut Issues) {
    let parts = usize::from(message.text.is_some())
        + usize::from(message.template.is_some())
        + usize::from(message.component.is_some());
    if parts != 1 {
        out.push(format!(
            "{what} must have exactly one of text, template or component (it has {parts})"
        ));
    }
    if let Some(text) = &message.text {
        check_text(text, &format!("{what} text"), out);
    }
    if let Some(t) = &message.template
        && (t.name.trim().is_empty() || t.language.trim().is_empty())
    {
        out.push(format!("{what} template needs a name and a language"));
    }
    if let Some(c) = &message.component {
        check_component(c, what, out);
    }
}

fn check_text(text: &str, what: &str, out: &mut Issues) {
    if text.trim().is_empty() {
        out.push(format!("{what} is empty"));
    } else if text.chars().count() > MAX_TEXT_CHARS {
        out.push(format!("{what} is longer than {MAX_TEXT_CHARS} characters"));
    }
}

fn check_component(component: &Component, what: &str, out: &mut Issues) {
    match component {
        Component::Link { text, .. } => check_text(text, &format!("{what} component text"), out),
        Component::Question {
            text,
            options,
            options_from,
            ..
        } => {
            check_text(text, &format!("{what} component text"), out);
            if let Some(from) = options_from
                && from.list.trim().is_empty()
            {
                out.push(format!("{what} question's options_from names no list"));
            }
            if options.is_empty() && options_from.is_none() {
                out.push(format!("{what} question has no options"));
            }
            let mut ids = BTreeSet::new();
            for o in options {
                if o.id.trim().is_empty() {
                    out.push(format!("{what} question has an option with a blank id"));
                } else if !ids.insert(o.id.as_str()) {
                    out.push(format!(
                        "{what} question has two options with the id {:?}",
                        o.id
                    ));
                }
            }
        }
        Component::TimeSlots { text, slots, .. } => {
            check_text(text, &format!("{what} component text"), out);
            if slots.is_empty() {
                out.push(format!("{what} time slots have no slot"));
            }
        }
    }
}

/// The option ids a question offers, `None` for any other component.
fn question_ids(component: &Component) -> Option<Vec<String>> {
    match component {
        // Options computed per customer are not known before the flow runs.
        Component::Question {
            options_from: Some(_),
            ..
        } => None,
        Component::Question { options, .. } => Some(options.iter().map(|o| o.id.clone()).collect()),
        Component::TimeSlots { slots, .. } => Some(slots.iter().map(|s| s.start.clone()).collect()),
        Component::Link { .. } => None,
    }
}

fn check_matcher(matcher: &Matcher, label: &str, offered: Option<&[String]>, out: &mut Issues) {
    match matcher {
        Matcher::Keyword { words } | Matcher::AnyWord { words } => {
            if words.is_empty() {
                out.push(format!("{label}: the list of words is empty"));
            }
            // A word with no letter or digit folds to nothing and could never match.
            for w in words {
                if !normalize(w).chars().any(char::is_alphanumeric) {
                    out.push(format!("{label}: the word {w:?} is blank"));
                }
            }
        }
        Matcher::Option { option } => {
            if option.trim().is_empty() {
                out.push(format!("{label}: the option id is blank"));
            } else if let Some(ids) = offered
                && !ids.iter().any(|id| id == option)
            {
                out.push(format!(
                    "{label}: option {option:?} is not an option of the question asked"
                ));
            }
        }
        Matcher::NumberBetween { min, max } => {
            if !min.is_finite() || !max.is_finite() {
                out.push(format!("{label}: min and max must be finite numbers"));
            } else if min > max {
                out.push(format!("{label}: min {min} is greater than max {max}"));
            }
        }
        Matcher::Regex { pattern } => {
            if let Err(e) = compile_regex(pattern) {
                let why = e.to_string();
                // The regex crate's messages span lines (pattern, caret, reason); its last line
                // is the reason.
                let reason = why.lines().last().unwrap_or_default().trim();
                out.push(format!(
                    "{label}: the pattern {pattern:?} is not a valid regular expression: {reason}"
                ));
            }
        }
        Matcher::Number | Matcher::Date | Matcher::Email | Matcher::Phone | Matcher::Any => {}
    }
}

fn check_condition(condition: &Condition, label: &str, out: &mut Issues) {
    match condition {
        Condition::Field { field, op, value } => {
            let well_formed = field.starts_with(|c: char| c.is_ascii_lowercase())
                && field.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.'
                });
            if !well_formed {
                out.push(format!(
                    "{label}: {field:?} is not a field name (such as contact.email or flow.order_number)"
                ));
            }
            match (op, value) {
                (Compare::Present | Compare::Absent, _) => {}
                (_, None) => out.push(format!("{label}: the comparison needs a value")),
                (Compare::Gt | Compare::Lt, Some(v))
                    if !v.contains("{{") && parse_number(v).is_none() =>
                {
                    out.push(format!("{label}: {v:?} is not a number"));
                }
                _ => {}
            }
        }
        Condition::Language { language } => {
            if language.trim().is_empty() {
                out.push(format!("{label}: the language is blank"));
            }
        }
        Condition::All { conditions } | Condition::AnyOf { conditions } => {
            if conditions.is_empty() {
                out.push(format!("{label}: the list of conditions is empty"));
            }
            for c in conditions {
                check_condition(c, label, out);
            }
        }
        Condition::BusinessHours { .. } | Condition::Channel { .. } | Condition::Context { .. } => {
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn flow(steps: serde_json::Value) -> FlowDefinition {
        serde_json::from_value(json!({"name": "t", "steps": steps})).unwrap()
    }

    fn messages(f: &FlowDefinition) -> Vec<String> {
        validate(f)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn an_unknown_next_names_its_step() {
        let f = flow(json!([
            {"id": "ask_order", "type": "ask", "cases": [{"when": {"type": "any"}, "next": "lookup2"}]},
            {"id": "lookup", "type": "end"},
        ]));
        assert_eq!(
            messages(&f),
            vec![r#"step "ask_order": case 1 next "lookup2" is not a step of this flow"#]
        );
        let f = flow(json!([
            {"id": "ask_order", "type": "send", "message": {"text": "hi"}, "next": "lookup2"},
        ]));
        assert_eq!(
            messages(&f),
            vec![r#"step "ask_order": next "lookup2" is not a step of this flow"#]
        );
    }

    #[test]
    fn flow_level_issues_have_no_step() {
        let mut f = flow(json!([]));
        f.name = "Bad Name".into();
        f.max_invalid = 0;
        let issues = validate(&f).unwrap_err();
        assert_eq!(issues.len(), 3);
        assert!(issues.iter().all(|i| i.step.is_none()));
        assert_eq!(
            issues[0].to_string(),
            r#"name "Bad Name" must be 1 to 64 lowercase letters, digits, '-' or '_'"#
        );
        let long = "a".repeat(65);
        f.name = long;
        assert!(validate(&f).is_err());
        f.name = "order-status_2".into();
        f.max_invalid = 20;
        f.steps = flow(json!([{"id": "e", "type": "end"}])).steps;
        assert_eq!(validate(&f), Ok(()));
    }

    #[test]
    fn every_issue_is_reported_in_step_order() {
        let f = flow(json!([
            {"id": "a", "type": "send", "message": {"text": "  "}},
            {"id": "B", "type": "send", "message": {"text": "x", "template": {"name": "t", "language": "en"}}},
            {"id": "a", "type": "set", "field": {"scope": "contact", "name": "nickname"}, "value": "x", "next": "nowhere"},
            {"id": "w", "type": "webhook", "url": "ftp://x", "timeout_ms": 50, "retries": 6, "on_error": "zz"},
            {"id": "h", "type": "handoff", "queue": " "},
            {"id": "s", "type": "start_flow", "flow": "Other Flow"},
        ]));
        let got = messages(&f);
        assert_eq!(
            got,
            vec![
                r#"step "a": message text is empty"#,
                r#"step "B": the step id must be 1 to 64 lowercase letters, digits, '-' or '_'"#,
                r#"step "B": message must have exactly one of text, template or component (it has 2)"#,
                r#"step "a": another step has the same id"#,
                r#"step "a": field "nickname" cannot be set in scope contact; allowed: first_name, last_name, email, phone"#,
                r#"step "a": next "nowhere" is not a step of this flow"#,
                r#"step "w": url "ftp://x" must start with http:// or https:// and name a host"#,
                r#"step "w": timeout_ms is 50; it must be from 100 to 30000"#,
                r#"step "w": retries is 6; it must be at most 5"#,
                r#"step "w": on_error "zz" is not a step of this flow"#,
                r#"step "h": a handoff names at least one of queue, skills or agent"#,
                r#"step "s": start_flow "Other Flow" is not a flow name (1 to 64 lowercase letters, digits, '-' or '_')"#,
            ]
        );
    }

    #[test]
    fn ask_checks_cases_matchers_and_timeout() {
        let f = flow(json!([
            {"id": "q", "type": "ask", "cases": []},
            {"id": "r", "type": "ask", "save_as": "Order",
             "message": {"component": {"type": "question", "text": "Pick", "options": [{"id": "a", "title": "A"}]}},
             "cases": [
                {"when": {"type": "regex", "pattern": "([0-9]"}, "next": "q"},
                {"when": {"type": "number_between", "min": 5.0, "max": 1.0}, "next": "q"},
                {"when": {"type": "keyword", "words": []}, "next": "q"},
                {"when": {"type": "any_word", "words": ["ok", " ", "?!"]}, "next": "q"},
                {"when": {"type": "option", "option": "b"}, "next": "q"},
                {"when": {"type": "regex", "pattern": "\\w{1000}{1000}"}, "next": "q"},
             ],
             "timeout": {"after_seconds": 2_592_001, "next": "gone"},
             "other": "q"},
        ]));
        let got = messages(&f);
        let expected_prefixes = [
            r#"step "q": an ask needs at least one case"#,
            r#"step "r": save_as "Order" must be"#,
            r#"step "r": case 1: the pattern "([0-9]" is not a valid regular expression"#,
            r#"step "r": case 2: min 5 is greater than max 1"#,
            r#"step "r": case 3: the list of words is empty"#,
            r#"step "r": case 4: the word " " is blank"#,
            r#"step "r": case 4: the word "?!" is blank"#,
            r#"step "r": case 5: option "b" is not an option of the question asked"#,
            r#"step "r": case 6: the pattern"#,
            r#"step "r": timeout after_seconds is 2592001; it must be from 1 to 2592000 (30 days)"#,
            r#"step "r": timeout next "gone" is not a step of this flow"#,
        ];
        assert_eq!(got.len(), expected_prefixes.len(), "{got:#?}");
        for (g, e) in got.iter().zip(expected_prefixes) {
            assert!(g.starts_with(e), "{g:?} does not start with {e:?}");
        }
    }

    #[test]
    fn set_names_follow_their_scope() {
        for (scope, name, ok) in [
            ("flow", "order_number", true),
            ("flow", "2fa", false),
            ("flow", "Order", false),
            ("flow", "a.b", false),
            ("contact", "email", true),
            ("contact", "locale", false),
            ("messaging_user", "locale", true),
            ("case", "status", true),
            ("case", "priority", false),
        ] {
            let f = flow(json!([
                {"id": "s", "type": "set", "field": {"scope": scope, "name": name}, "value": "v"}
            ]));
            assert_eq!(validate(&f).is_ok(), ok, "{scope}.{name}");
        }
    }

    #[test]
    fn branch_conditions_and_webhook_bounds() {
        let f = flow(json!([
            {"id": "b", "type": "branch", "cases": [
                {"when": {"type": "field", "field": "webhook.total", "op": "gt", "value": "ten"}, "next": "b"},
                {"when": {"type": "all", "conditions": []}, "next": "b"},
                {"when": {"type": "field", "field": "contact.email", "op": "eq"}, "next": "b"},
                {"when": {"type": "field", "field": "flow.n", "op": "present"}, "next": "b"},
             ], "otherwise": "x"},
            {"id": "w", "type": "webhook", "url": "HTTPS://api.example/{{flow.n}}", "timeout_ms": 30000, "retries": 5},
            {"id": "w2", "type": "webhook", "url": "{{flow.base}}/x"},
        ]));
        assert_eq!(
            messages(&f),
            vec![
                r#"step "b": case 1: "ten" is not a number"#,
                r#"step "b": case 2: the list of conditions is empty"#,
                r#"step "b": case 3: the comparison needs a value"#,
                r#"step "b": otherwise "x" is not a step of this flow"#,
                r#"step "w2": url "{{flow.base}}/x" must start with http:// or https:// and name a host"#,
            ]
        );
    }

    #[test]
    fn long_texts_are_refused() {
        let f = flow(json!([
            {"id": "s", "type": "send", "message": {"text": "é".repeat(4096)}},
            {"id": "t", "type": "send", "message": {"text": "é".repeat(4097)}},
        ]));
        assert_eq!(
            messages(&f),
            vec![r#"step "t": message text is longer than 4096 characters"#]
        );
    }

    #[test]
    fn invalid_flow_joins_every_issue() {
        let f = flow(json!([{"id": "h", "type": "handoff"}, {"id": "h", "type": "end"}]));
        let err = InvalidFlow::from(validate(&f).unwrap_err());
        assert_eq!(
            err.to_string(),
            r#"the flow is not valid: step "h": a handoff names at least one of queue, skills or agent; step "h": another step has the same id"#
        );
    }
}
