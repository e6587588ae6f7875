//! Typed reading of a decoded Twilio form, shared by the inbound-message and status-callback
//! parsers: required and optional fields, duplicates refused, and whatever was not read kept
//! aside so new Twilio parameters survive the trip to storage.

use std::collections::BTreeSet;

use super::form::{FormError, FormParams};

/// Why a Twilio webhook form could not be read. Every variant names the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("malformed form body: {0}")]
    Form(#[from] FormError),
    #[error("required field {0} is missing or empty")]
    MissingField(&'static str),
    #[error("field {field} appears {count} times; expected at most once")]
    DuplicateField { field: String, count: usize },
    #[error("field {field} is invalid: {reason}")]
    InvalidField { field: String, reason: String },
    #[error("NumMedia is {0}; at most 10 media per message are accepted")]
    TooManyMedia(u64),
    #[error("media fields are inconsistent with NumMedia={num_media}: {detail}")]
    InconsistentMedia { num_media: usize, detail: String },
}

/// A form being read: values handed out by name, names remembered so the rest can be kept.
pub(crate) struct Fields {
    form: FormParams,
    read: BTreeSet<String>,
}

impl Fields {
    pub(crate) fn new(form: FormParams) -> Self {
        Self {
            form,
            read: BTreeSet::new(),
        }
    }

    /// The single value of `name`, or `None` when absent; empty counts as absent because Twilio
    /// sends empty strings for fields that do not apply.
    pub(crate) fn optional(&mut self, name: &str) -> Result<Option<String>, ParseError> {
        let count = self.form.count(name);
        self.read.insert(name.to_owned());
        if count > 1 {
            return Err(ParseError::DuplicateField {
                field: name.to_owned(),
                count,
            });
        }
        Ok(self
            .form
            .get(name)
            .filter(|v| !v.is_empty())
            .map(str::to_owned))
    }

    pub(crate) fn required(&mut self, name: &'static str) -> Result<String, ParseError> {
        self.optional(name)?.ok_or(ParseError::MissingField(name))
    }

    /// A required Twilio SID (`SM…`, `AC…`, `MG…`).
    pub(crate) fn required_sid(&mut self, name: &'static str) -> Result<String, ParseError> {
        let sid = self.required(name)?;
        check_sid(name, &sid)?;
        Ok(sid)
    }

    pub(crate) fn optional_sid(
        &mut self,
        name: &'static str,
    ) -> Result<Option<String>, ParseError> {
        let sid = self.optional(name)?;
        if let Some(s) = &sid {
            check_sid(name, s)?;
        }
        Ok(sid)
    }

    pub(crate) fn optional_u64(&mut self, name: &'static str) -> Result<Option<u64>, ParseError> {
        self.optional(name)?
            .map(|v| parse_u64(name, &v))
            .transpose()
    }

    /// Names of every field present, for callers that scan for families like `MediaUrlN`.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.form.pairs().iter().map(|(n, _)| n.as_str())
    }

    /// Every pair whose name was never read, in wire order.
    pub(crate) fn into_rest(self) -> Vec<(String, String)> {
        let read = self.read;
        self.form
            .into_pairs()
            .into_iter()
            .filter(|(n, _)| !read.contains(n))
            .collect()
    }
}

/// A plain non-negative decimal, as Twilio writes counts and codes.
pub(crate) fn parse_u64(name: &str, value: &str) -> Result<u64, ParseError> {
    let invalid = |reason: &str| ParseError::InvalidField {
        field: name.to_owned(),
        reason: reason.to_owned(),
    };
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("expected a non-negative decimal number"));
    }
    value.parse().map_err(|_| invalid("number too large"))
}

fn check_sid(name: &str, sid: &str) -> Result<(), ParseError> {
    // Twilio SIDs are two letters and 32 hex digits; we only insist on a short alphanumeric token
    // so a new SID scheme does not stop inbound traffic, while anything with separators or
    // markup (which could never be a SID) is refused.
    if sid.len() <= 64 && sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err(ParseError::InvalidField {
            field: name.to_owned(),
            reason: "expected an alphanumeric Twilio SID".to_owned(),
        })
    }
}
