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
