//! What the WhatsApp and Messenger parsers share: the error type, and the tolerant reading of
//! values Meta spells inconsistently (timestamps as strings on WhatsApp, numbers on Messenger).

use serde::Deserialize;

/// Why a Meta webhook body could not be read. Paths name the field at fault in JSON terms, e.g.
/// `entry[0].changes[0].value.messages[1].id`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("body is not a valid Meta webhook JSON document: {0}")]
    Json(String),
    #[error("webhook object is '{found}', expected {expected}")]
    UnexpectedObject {
        expected: &'static str,
        found: String,
    },
    #[error("required field {0} is missing or empty")]
    MissingField(String),
    #[error("field {path} is invalid: {reason}")]
    InvalidField { path: String, reason: String },
}

impl From<serde_json::Error> for ParseError {
    fn from(e: serde_json::Error) -> Self {
        Self::Json(e.to_string())
    }
}

/// A JSON scalar that Meta sends either as a string or as a number.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum Loose {
    Int(i64),
    Str(String),
}

impl Loose {
    /// The value as a whole number, whichever way it was spelled.
    pub(crate) fn as_i64(&self, path: &str) -> Result<i64, ParseError> {
        match self {
            Self::Int(n) => Ok(*n),
            Self::Str(s) => s.trim().parse().map_err(|_| ParseError::InvalidField {
                path: path.to_owned(),
                reason: format!("expected a whole number, got '{}'", truncate(s)),
            }),
        }
    }

    /// The value as text, whichever way it was spelled.
    pub(crate) fn to_text(&self) -> String {
        match self {
            Self::Int(n) => n.to_string(),
            Self::Str(s) => s.clone(),
        }
    }
}

/// A required, non-empty string at `path`.
pub(crate) fn required(
    value: Option<String>,
    path: impl FnOnce() -> String,
) -> Result<String, ParseError> {
    value
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ParseError::MissingField(path()))
}

/// An optional string where Meta's empty string means absent.
pub(crate) fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|s| !s.is_empty())
}

/// Customer text quoted in an error is cut short, so a hostile body cannot bloat logs.
fn truncate(s: &str) -> String {
    const MAX: usize = 40;
    match s.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", s.get(..cut).unwrap_or_default()),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loose_scalars() {
        let n: Loose = serde_json::from_str("1763719200").unwrap();
        let s: Loose = serde_json::from_str("\"1763719200\"").unwrap();
        assert_eq!(n.as_i64("t").unwrap(), 1_763_719_200);
        assert_eq!(s.as_i64("t").unwrap(), 1_763_719_200);
        assert_eq!(n.to_text(), "1763719200");
        let bad: Loose = serde_json::from_str(&format!("\"{}\"", "x".repeat(100))).unwrap();
        let err = bad.as_i64("entry[0].time").unwrap_err().to_string();
        assert!(err.contains("entry[0].time"), "{err}");
        assert!(err.len() < 150, "{err}");
    }
}
