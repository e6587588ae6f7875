//! Which of a channel's notification triggers an event fires (issue 13; TM-07's example: "Case
//! Status is changed to Closed"). A channel lists triggers; each names the event it answers and,
//! for consent changes, the statuses it answers. The engine reads the records an event names and
//! asks [`fires`]; the send itself is an ordinary notification.
//!
//! Each firing has a key derived from the event ([`key`]): the notification is sent with it as
//! its idempotency key, so an event seen twice (a replay, a second node) sends once.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Timestamp;
use crate::model::ConsentStatus;

/// The events a trigger can answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerOn {
    CaseClosed,
    SessionEnded,
    ConsentChanged,
}

impl TriggerOn {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::CaseClosed => "case_closed",
            Self::SessionEnded => "session_ended",
            Self::ConsentChanged => "consent_changed",
        }
    }
}

/// A consent status as a trigger's filter names it (`opted_out`, `explicitly_opted_in`...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentFilter {
    OptedOut,
    ImplicitlyOptedIn,
    ExplicitlyOptedIn,
    DoublyOptedIn,
}

impl ConsentFilter {
    pub const fn matches(self, status: ConsentStatus) -> bool {
        matches!(
            (self, status),
            (Self::OptedOut, ConsentStatus::OptedOut)
                | (Self::ImplicitlyOptedIn, ConsentStatus::ImplicitlyOptedIn)
                | (Self::ExplicitlyOptedIn, ConsentStatus::ExplicitlyOptedIn)
                | (Self::DoublyOptedIn, ConsentStatus::DoublyOptedIn)
        )
    }
}

/// What happened, as the records show it once the event arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Happened {
    /// A case is closed; `at` is when it was closed (reopening and closing again is a new `at`).
    CaseClosed {
        case_id: Uuid,
        at: Timestamp,
    },
    SessionEnded {
        session_id: Uuid,
    },
    /// A messaging user's consent is now `to`; `change` is the consent history row that says so.
    ConsentChanged {
        messaging_user_id: Uuid,
        to: Option<ConsentStatus>,
        change: Option<Uuid>,
    },
}

impl Happened {
    pub const fn on(&self) -> TriggerOn {
        match self {
            Self::CaseClosed { .. } => TriggerOn::CaseClosed,
            Self::SessionEnded { .. } => TriggerOn::SessionEnded,
            Self::ConsentChanged { .. } => TriggerOn::ConsentChanged,
        }
    }
}

/// Whether a trigger on `on` with the consent filter `consent` (empty: any status) answers
/// `happened`. A consent change with no status (never consented) answers only an empty filter.
pub fn fires(on: TriggerOn, consent: &[ConsentFilter], happened: &Happened) -> bool {
    if on != happened.on() {
        return false;
    }
    match happened {
        Happened::ConsentChanged { to, .. } => {
            consent.is_empty() || to.is_some_and(|s| consent.iter().any(|f| f.matches(s)))
        }
        _ => true,
    }
}

/// The key one firing is sent under: the event and the template, so two triggers of one event
/// each send once, and the same event seen again sends nothing.
pub fn key(happened: &Happened, template: &str, language: &str) -> String {
    let what = match happened {
        Happened::CaseClosed { case_id, at } => format!("case_closed:{case_id}:{}", at.millis()),
        Happened::SessionEnded { session_id } => format!("session_ended:{session_id}"),
        Happened::ConsentChanged {
            messaging_user_id,
            change,
            ..
        } => format!(
            "consent_changed:{messaging_user_id}:{}",
            change.map(|c| c.to_string()).unwrap_or_default()
        ),
    };
    format!("trigger:{what}:{template}/{language}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consent(to: Option<ConsentStatus>) -> Happened {
        Happened::ConsentChanged {
            messaging_user_id: Uuid::nil(),
            to,
            change: Some(Uuid::nil()),
        }
    }

    #[test]
    fn a_trigger_answers_only_its_event() {
        let closed = Happened::CaseClosed {
            case_id: Uuid::nil(),
            at: Timestamp::from_millis(5),
        };
        assert!(fires(TriggerOn::CaseClosed, &[], &closed));
        assert!(!fires(TriggerOn::SessionEnded, &[], &closed));
        assert!(!fires(TriggerOn::ConsentChanged, &[], &closed));
        let ended = Happened::SessionEnded {
            session_id: Uuid::nil(),
        };
        assert!(fires(TriggerOn::SessionEnded, &[], &ended));
    }

    #[test]
    fn consent_filters_pick_statuses() {
        let out = consent(Some(ConsentStatus::OptedOut));
        let explicit = consent(Some(ConsentStatus::ExplicitlyOptedIn));
        assert!(fires(TriggerOn::ConsentChanged, &[], &out));
        assert!(fires(
            TriggerOn::ConsentChanged,
            &[ConsentFilter::OptedOut],
            &out
        ));
        assert!(!fires(
            TriggerOn::ConsentChanged,
            &[ConsentFilter::OptedOut],
            &explicit
        ));
        assert!(!fires(
            TriggerOn::ConsentChanged,
            &[ConsentFilter::OptedOut],
            &consent(None)
        ));
    }

    #[test]
    fn keys_name_the_event_and_template() {
        let id = Uuid::nil();
        let k = key(
            &Happened::CaseClosed {
                case_id: id,
                at: Timestamp::from_millis(7),
            },
            "closed",
            "en",
        );
        assert_eq!(k, format!("trigger:case_closed:{id}:7:closed/en"));
        assert_ne!(k, key(&consent(None), "closed", "en"));
    }
}
