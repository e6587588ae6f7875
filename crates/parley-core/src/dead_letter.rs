//! Dead letters: customers' messages that the inbound pipeline could not process, kept with their
//! raw payload and the kind of reason, so an admin can see them, fix the cause and replay them.
//! Nothing a provider handed over and Parley answered 200 for is dropped without leaving one.
//!
//! Also the rule for characters a database refuses in customers' text (see [`storable_text`]).

use std::borrow::Cow;
use std::fmt;

/// Why an inbound message became a dead letter. A small, stable set: the wire names are stored
/// with the dead job and used as the metric's `reason` label and the API's filter, so they never
/// change; the detail (the error's own words) travels beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeadLetterReason {
    /// The sender's address cannot be read as one for the channel's kind.
    InvalidSender,
    /// The channel was removed, or its configuration can no longer be loaded.
    ChannelUnavailable,
    /// The database refused the message's rows (a value it will never take); retrying the same
    /// rows cannot help.
    DatabaseRefused,
    /// The database failed on every attempt (unreachable, timing out) until the retries ran out.
    DatabaseUnavailable,
    /// The stored event itself cannot be read.
    Malformed,
    /// Dead without a recorded reason: abandoned by crashed workers until its attempts ran out,
    /// or written by a version before dead letters had reasons.
    Other,
}

impl DeadLetterReason {
    pub const ALL: [Self; 6] = [
        Self::InvalidSender,
        Self::ChannelUnavailable,
        Self::DatabaseRefused,
        Self::DatabaseUnavailable,
        Self::Malformed,
        Self::Other,
    ];

    /// The stored and wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidSender => "invalid_sender",
            Self::ChannelUnavailable => "channel_unavailable",
            Self::DatabaseRefused => "database_refused",
            Self::DatabaseUnavailable => "database_unavailable",
            Self::Malformed => "malformed",
            Self::Other => "other",
        }
    }

    /// The reason a stored name stands for; a name this build does not know (or none) is
    /// [`DeadLetterReason::Other`], so a row written by a newer node is still listed.
    pub fn parse(name: Option<&str>) -> Self {
        Self::ALL
            .into_iter()
            .find(|r| Some(r.as_str()) == name)
            .unwrap_or(Self::Other)
    }

    /// The reason in words, for the admin console.
    pub const fn describe(self) -> &'static str {
        match self {
            Self::InvalidSender => "The sender's address could not be read",
            Self::ChannelUnavailable => "The channel was removed or its configuration is invalid",
            Self::DatabaseRefused => "The database refused the message",
            Self::DatabaseUnavailable => "The database failed on every attempt",
            Self::Malformed => "The stored message could not be read",
            Self::Other => "Processing stopped for another reason",
        }
    }
}

impl fmt::Display for DeadLetterReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What stands in for a character Parley does not store: U+FFFD, the replacement character.
pub const REPLACEMENT: char = '\u{FFFD}';

/// Customer text as Parley stores it: every NUL (U+0000) replaced by U+FFFD.
///
/// PostgreSQL refuses NUL in TEXT (and `\u0000` in JSON) while SQLite stores it, so the same
/// message would be kept on one backend and refused on the other. NUL carries no meaning in a
/// text message (it is a provider's or a phone's glitch), so inbound text and names are cleaned
/// where the event enters the pipeline and both backends store the same thing; the visible
/// U+FFFD tells an agent that something was there. Every other character is kept as it came
/// (Rust strings are valid UTF-8, so there are no lone surrogates to refuse).
pub fn storable_text(text: &str) -> Cow<'_, str> {
    if text.contains('\0') {
        Cow::Owned(text.replace('\0', &REPLACEMENT.to_string()))
    } else {
        Cow::Borrowed(text)
    }
}

/// Where text from a business (an API caller, an agent) holds a character Parley does not store:
/// the first such character's position in characters, or `None`. Outbound text is refused rather
/// than cleaned: what a business sends is its own words, and Parley does not change them silently.
pub fn unstorable_at(text: &str) -> Option<usize> {
    text.chars().position(|c| c == '\0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_keep_their_names_and_unknown_ones_are_other() {
        let names: Vec<&str> = DeadLetterReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            names,
            [
                "invalid_sender",
                "channel_unavailable",
                "database_refused",
                "database_unavailable",
                "malformed",
                "other"
            ]
        );
        for r in DeadLetterReason::ALL {
            assert_eq!(DeadLetterReason::parse(Some(r.as_str())), r);
            assert!(!r.describe().is_empty());
        }
        assert_eq!(
            DeadLetterReason::parse(Some("newer_reason")),
            DeadLetterReason::Other
        );
        assert_eq!(DeadLetterReason::parse(None), DeadLetterReason::Other);
    }

    #[test]
    fn nul_becomes_the_replacement_character_and_the_rest_is_kept() {
        assert_eq!(storable_text("a\0b\0"), "a\u{FFFD}b\u{FFFD}");
        assert!(matches!(storable_text("héllo 👋\t\u{1}"), Cow::Borrowed(_)));
        assert_eq!(storable_text("héllo 👋\t\u{1}"), "héllo 👋\t\u{1}");
        assert_eq!(unstorable_at("ab\0"), Some(2));
        assert_eq!(unstorable_at("é\0"), Some(1));
        assert_eq!(unstorable_at("fine"), None);
    }
}
