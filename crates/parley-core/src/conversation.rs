//! Close Conversation (SE-20): an agent or admin ends every open session of a customer's
//! conversation at once, with a reason, and the customer's next message starts a new
//! conversation. The rules: what a reason may be, and how each open session ends.

use crate::Timestamp;
use crate::model::Actor;
use crate::session::{
    EndReason, SessionError, SessionEvent, SessionPolicy, SessionState, Transition, apply,
};

/// Longest reason kept, in characters: a sentence for the transcript, not a document.
pub const MAX_REASON_CHARS: usize = 500;

/// Why a close reason is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReasonError {
    #[error("reason: say why the conversation is closed")]
    Empty,
    #[error("reason: at most {MAX_REASON_CHARS} characters")]
    TooLong,
}

/// The reason as kept: trimmed, control characters (a pasted tab or line break) made spaces.
pub fn close_reason(text: &str) -> Result<String, ReasonError> {
    let cleaned: String = text
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if cleaned.is_empty() {
        Err(ReasonError::Empty)
    } else if cleaned.chars().count() > MAX_REASON_CHARS {
        Err(ReasonError::TooLong)
    } else {
        Ok(cleaned)
    }
}

/// Ends one open session of a closed conversation: the same transition as an End, with its own
/// end reason, so reports tell a closed conversation from a session that simply ended.
pub fn close_session(
    state: &SessionState,
    at: Timestamp,
    by: Actor,
) -> Result<Transition, SessionError> {
    let mut t = apply(
        state,
        &SessionEvent::Ended { at, by },
        &SessionPolicy::default(),
    )?;
    t.state.end_reason = Some(EndReason::ConversationClosed);
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{OwnerKind, SessionContext, SessionStatus};
    use crate::session::{SessionOwner, open_outbound};
    use proptest::prelude::*;
    use std::time::Duration;

    fn open(at: Timestamp) -> SessionState {
        let owner = SessionOwner {
            kind: OwnerKind::Agent,
            id: crate::new_id(),
        };
        open_outbound(None, owner, SessionContext::Service, at).unwrap()
    }

    #[test]
    fn reasons_are_trimmed_and_bounded() {
        assert_eq!(close_reason("  spam \n").unwrap(), "spam");
        assert_eq!(close_reason("a\tb").unwrap(), "a b");
        assert_eq!(close_reason(" \n "), Err(ReasonError::Empty));
        assert_eq!(
            close_reason(&"é".repeat(MAX_REASON_CHARS))
                .unwrap()
                .chars()
                .count(),
            MAX_REASON_CHARS
        );
        assert_eq!(
            close_reason(&"x".repeat(MAX_REASON_CHARS + 1)),
            Err(ReasonError::TooLong)
        );
    }

    #[test]
    fn an_open_session_ends_with_the_close_as_its_reason() {
        let at = Timestamp::from_millis(1_000);
        let t = close_session(&open(at), at.plus(Duration::from_millis(5)), Actor::Agent).unwrap();
        assert_eq!(t.to, SessionStatus::Ended);
        assert_eq!(t.state.end_reason, Some(EndReason::ConversationClosed));
        assert_eq!(t.state.ended_by, Some(Actor::Agent));
        assert_eq!(t.state.ended_at, Some(at.plus(Duration::from_millis(5))));
    }

    #[test]
    fn an_ended_session_cannot_be_closed_again() {
        let at = Timestamp::from_millis(1_000);
        let t = close_session(&open(at), at, Actor::Agent).unwrap();
        assert!(close_session(&t.state, at, Actor::Agent).is_err());
    }

    proptest! {
        #[test]
        fn a_kept_reason_is_never_blank_nor_over_the_bound(text in "\\PC{0,600}|[ \\t\\n]{0,5}") {
            if let Ok(kept) = close_reason(&text) {
                prop_assert!(!kept.trim().is_empty());
                prop_assert!(kept.chars().count() <= MAX_REASON_CHARS);
                prop_assert!(!kept.chars().any(char::is_control));
            }
        }
    }
}
