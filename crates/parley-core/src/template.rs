//! Message templates with positional placeholders (`{{1}}`, `{{2}}`...), as WhatsApp approves
//! them (TM-12): checking a template's text when it is saved, and rendering it with the values
//! of one send so the conversation shows what the customer reads.
//!
//! Rules, which mirror what Meta refuses (so a refusal names the cause before the provider does):
//!
//! - Placeholders are `{{n}}` with n from 1, each number used at least once, none skipped
//!   (`{{1}} {{3}}` is invalid). Spaces inside the braces are allowed (`{{ 1 }}`).
//! - A send gives exactly as many values as the template has placeholders.
//! - A value is not empty, has no newline or tab, and no more than four spaces in a row.
//!
//! Refusals are error 3001 (content): the message as composed cannot be sent.

use crate::error_code::ErrorCode;

/// The most placeholders one template may have (Meta's body limit is far lower in practice).
pub const MAX_PLACEHOLDERS: usize = 100;

/// Why a template's text or a send's values do not fit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("'{{{{{found}}}}}' is not a placeholder; use {{{{1}}}}, {{{{2}}}}...")]
    BadPlaceholder { found: String },
    #[error("placeholder {{{{{missing}}}}} is skipped; number them from 1 without gaps")]
    Gap { missing: usize },
    #[error("at most {MAX_PLACEHOLDERS} placeholders")]
    TooMany,
    #[error("the template takes {expected} values; {given} were given")]
    WrongCount { expected: usize, given: usize },
    #[error("value {index} is empty")]
    EmptyValue { index: usize },
    #[error("value {index} has a newline, a tab or more than four spaces in a row")]
    BadValue { index: usize },
}

impl TemplateError {
    pub const fn error_code(&self) -> ErrorCode {
        ErrorCode::ContentRejected
    }
}

/// One piece of a template's text.
enum Piece<'a> {
    Text(&'a str),
    Slot(usize),
}

fn pieces(body: &str) -> Result<Vec<Piece<'_>>, TemplateError> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find("{{") {
        let (before, after) = rest.split_at(start);
        if !before.is_empty() {
            out.push(Piece::Text(before));
        }
        let inner_and_rest = after.get(2..).unwrap_or_default();
        let Some(end) = inner_and_rest.find("}}") else {
            // An unclosed "{{" is plain text.
            out.push(Piece::Text(after));
            rest = "";
            break;
        };
        let inner = inner_and_rest.get(..end).unwrap_or_default();
        let n: usize = inner
            .trim()
            .parse()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| TemplateError::BadPlaceholder {
                found: inner.trim().to_owned(),
            })?;
        if n > MAX_PLACEHOLDERS {
            return Err(TemplateError::TooMany);
        }
        out.push(Piece::Slot(n));
        rest = inner_and_rest.get(end + 2..).unwrap_or_default();
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    Ok(out)
}

/// How many values the template takes; refuses text whose placeholders are malformed or skip a
/// number. Run when a template is saved.
pub fn placeholder_count(body: &str) -> Result<usize, TemplateError> {
    let mut seen = [false; MAX_PLACEHOLDERS + 1];
    let mut max = 0;
    for p in pieces(body)? {
        if let Piece::Slot(n) = p {
            if let Some(s) = seen.get_mut(n) {
                *s = true;
            }
            max = max.max(n);
        }
    }
    if let Some(missing) = (1..=max).find(|n| !seen.get(*n).copied().unwrap_or(false)) {
        return Err(TemplateError::Gap { missing });
    }
    Ok(max)
}

/// Checks the values of one send against Meta's rules for parameters.
pub fn check_values(values: &[String]) -> Result<(), TemplateError> {
    for (i, v) in values.iter().enumerate() {
        let index = i + 1;
        if v.trim().is_empty() {
            return Err(TemplateError::EmptyValue { index });
        }
        if v.contains(['\n', '\r', '\t']) || v.contains("     ") {
            return Err(TemplateError::BadValue { index });
        }
    }
    Ok(())
}

/// The text the customer reads: the template with each `{{n}}` replaced by value n.
pub fn render(body: &str, values: &[String]) -> Result<String, TemplateError> {
    let expected = placeholder_count(body)?;
    if expected != values.len() {
        return Err(TemplateError::WrongCount {
            expected,
            given: values.len(),
        });
    }
    check_values(values)?;
    let mut out = String::with_capacity(body.len());
    for p in pieces(body)? {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Slot(n) => {
                if let Some(v) = n.checked_sub(1).and_then(|i| values.get(i)) {
                    out.push_str(v);
                }
            }
        }
    }
    Ok(out)
}

/// The longest body text Meta approves for a WhatsApp template, in characters.
pub const MAX_WHATSAPP_BODY: usize = 1024;

/// One thing Meta's review would refuse in a WhatsApp template body, found before it is submitted.
/// `rule` is stable (the console shows `templates.rule.<rule>` from the catalogue); `n` is the
/// placeholder or the count the rule is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub rule: &'static str,
    pub n: usize,
}

/// Everything in `body` that Meta's review refuses, in the order the admin would meet it while
/// typing. `max_chars` is the channel's body limit (WhatsApp: [`MAX_WHATSAPP_BODY`]). Empty means
/// the body may be submitted. The save-time rules ([`placeholder_count`]) are part of it, so a
/// body that cannot be saved is never reported as submittable.
pub fn problems(body: &str, max_chars: Option<usize>) -> Vec<Problem> {
    let mut out = Vec::new();
    let p = |rule, n| Problem { rule, n };
    if body.trim().is_empty() {
        out.push(p("empty", 0));
        return out;
    }
    let chars = body.chars().count();
    if let Some(max) = max_chars
        && chars > max
    {
        out.push(p("too_long", max));
    }
    let parts = match pieces(body) {
        Ok(parts) => parts,
        Err(TemplateError::TooMany) => {
            out.push(p("too_many", MAX_PLACEHOLDERS));
            return out;
        }
        Err(_) => {
            out.push(p("bad_placeholder", 0));
            return out;
        }
    };
    if let Err(TemplateError::Gap { missing }) = placeholder_count(body) {
        out.push(p("gap", missing));
    }
    // Meta wants the variables met in order: {{1}} before {{2}}.
    let mut highest = 0;
    for part in &parts {
        if let Piece::Slot(n) = part {
            if *n > highest + 1 {
                out.push(p("order", *n));
                break;
            }
            highest = highest.max(*n);
        }
    }
    // Two variables with nothing but spaces between them read as one to Meta.
    let mut last_slot: Option<usize> = None;
    for part in &parts {
        match part {
            Piece::Slot(n) => {
                if let Some(prev) = last_slot {
                    out.push(p("adjacent", prev));
                    break;
                }
                last_slot = Some(*n);
            }
            Piece::Text(t) if t.trim().is_empty() => {}
            Piece::Text(_) => last_slot = None,
        }
    }
    let edge = |mut it: std::slice::Iter<'_, Piece<'_>>, from_end: bool| {
        let found = if from_end {
            it.rfind(|x| !matches!(x, Piece::Text(t) if t.trim().is_empty()))
        } else {
            it.find(|x| !matches!(x, Piece::Text(t) if t.trim().is_empty()))
        };
        match found {
            Some(Piece::Slot(n)) => Some(*n),
            _ => None,
        }
    };
    if let Some(n) = edge(parts.iter(), false) {
        out.push(p("starts_with_variable", n));
    }
    if let Some(n) = edge(parts.iter(), true) {
        out.push(p("ends_with_variable", n));
    }
    out
}

/// Variables without an example: Meta reviews a template with sample values, so each of the
/// `count` placeholders needs one before it is submitted (`examples` in placeholder order).
pub fn example_problems(count: usize, examples: &[&str]) -> Vec<Problem> {
    (1..=count)
        .filter(|n| examples.get(n - 1).is_none_or(|e| e.trim().is_empty()))
        .map(|n| Problem {
            rule: "missing_example",
            n,
        })
        .collect()
}

/// What a template's review state may become: `Submit` sends a draft (or a refused template,
/// corrected) for review; `Approve` and `Reject` settle a pending one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewAction {
    Submit,
    Approve,
    Reject,
}

/// A review step the template's status does not allow (answered 409).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {from} template cannot be {action}")]
pub struct WrongStep {
    pub from: crate::model::TemplateStatus,
    pub action: &'static str,
}

/// The status after `action`, or why the step is not allowed from `from`.
pub fn next_status(
    from: crate::model::TemplateStatus,
    action: ReviewAction,
) -> Result<crate::model::TemplateStatus, WrongStep> {
    use crate::model::TemplateStatus as S;
    match (from, action) {
        (S::Draft | S::Rejected, ReviewAction::Submit) => Ok(S::Pending),
        (S::Pending, ReviewAction::Approve) => Ok(S::Approved),
        (S::Pending, ReviewAction::Reject) => Ok(S::Rejected),
        (_, a) => Err(WrongStep {
            from,
            action: match a {
                ReviewAction::Submit => "submitted",
                ReviewAction::Approve => "approved",
                ReviewAction::Reject => "rejected",
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v(values: &[&str]) -> Vec<String> {
        values.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn renders_positional_values() {
        let body = "Hi {{1}}, your order {{2}} ships {{ 3 }}. Thanks {{1}}!";
        assert_eq!(placeholder_count(body), Ok(3));
        assert_eq!(
            render(body, &v(&["Ann", "#42", "today"])).unwrap(),
            "Hi Ann, your order #42 ships today. Thanks Ann!"
        );
        assert_eq!(render("No values.", &[]).unwrap(), "No values.");
        assert_eq!(render("Open {{ brace", &[]).unwrap(), "Open {{ brace");
    }

    #[test]
    fn refuses_bad_templates_and_values() {
        assert_eq!(
            placeholder_count("{{1}} {{3}}"),
            Err(TemplateError::Gap { missing: 2 })
        );
        assert!(matches!(
            placeholder_count("{{name}}"),
            Err(TemplateError::BadPlaceholder { .. })
        ));
        assert!(matches!(
            placeholder_count("{{0}}"),
            Err(TemplateError::BadPlaceholder { .. })
        ));
        assert_eq!(placeholder_count("{{101}}"), Err(TemplateError::TooMany));
        assert_eq!(
            render("{{1}}", &[]),
            Err(TemplateError::WrongCount {
                expected: 1,
                given: 0
            })
        );
        assert_eq!(
            render("{{1}}", &v(&[" "])),
            Err(TemplateError::EmptyValue { index: 1 })
        );
        assert_eq!(
            render("{{1}}", &v(&["a\nb"])),
            Err(TemplateError::BadValue { index: 1 })
        );
        assert_eq!(
            render("{{1}}", &v(&["a     b"])),
            Err(TemplateError::BadValue { index: 1 })
        );
        assert_eq!(
            TemplateError::TooMany.error_code(),
            ErrorCode::ContentRejected
        );
    }

    #[test]
    fn problems_follow_meta_review() {
        let rules = |b: &str| {
            problems(b, Some(MAX_WHATSAPP_BODY))
                .iter()
                .map(|p| p.rule)
                .collect::<Vec<_>>()
        };
        assert!(rules("Hello {{1}}, order {{2}} is ready.").is_empty());
        assert_eq!(rules("  "), ["empty"]);
        assert_eq!(rules("Hi {{1}}{{2}} there"), ["adjacent"]);
        assert_eq!(rules("Hi {{1}} {{2}} there"), ["adjacent"]);
        assert_eq!(rules("Hi {{2}} and {{1}} ok"), ["order"]);
        assert_eq!(rules("Hi {{1}} and {{3}} ok"), ["gap", "order"]);
        assert_eq!(rules("{{1}} is here."), ["starts_with_variable"]);
        assert_eq!(rules("Here is {{1}}"), ["ends_with_variable"]);
        assert_eq!(rules("Hi {{name}} ok"), ["bad_placeholder"]);
        assert_eq!(rules(&"x".repeat(1025)), ["too_long"]);
        assert!(problems(&"x".repeat(1025), None).is_empty());
        assert_eq!(
            example_problems(3, &["a", " "]),
            [
                Problem {
                    rule: "missing_example",
                    n: 2
                },
                Problem {
                    rule: "missing_example",
                    n: 3
                }
            ]
        );
    }

    #[test]
    fn review_steps() {
        use crate::model::TemplateStatus as S;
        assert_eq!(next_status(S::Draft, ReviewAction::Submit), Ok(S::Pending));
        assert_eq!(
            next_status(S::Rejected, ReviewAction::Submit),
            Ok(S::Pending)
        );
        assert_eq!(
            next_status(S::Pending, ReviewAction::Approve),
            Ok(S::Approved)
        );
        assert_eq!(
            next_status(S::Pending, ReviewAction::Reject),
            Ok(S::Rejected)
        );
        assert!(next_status(S::Draft, ReviewAction::Approve).is_err());
        assert!(next_status(S::Approved, ReviewAction::Submit).is_err());
        assert!(next_status(S::Approved, ReviewAction::Reject).is_err());
    }

    proptest! {
        #[test]
        fn never_panics_and_keeps_plain_text(body in ".{0,80}", values in proptest::collection::vec("[a-z]{1,5}", 0..4)) {
            let _ = placeholder_count(&body);
            let _ = render(&body, &values);
            if !body.contains("{{") {
                prop_assert_eq!(render(&body, &[]).unwrap(), body);
            }
        }
    }
}
