//! The messaging windows of WhatsApp and Messenger (SE-15, LIM-31, LIM-35, ERR-03): whether the
//! business may write to a customer now, and how, given when the customer last wrote.
//!
//! - WhatsApp: the *customer care window* is open for 24 hours after the customer's last message.
//!   Inside it any message goes; outside it only an approved template may be sent.
//! - Messenger: inside 24 hours the Page replies as a standard `RESPONSE`. From 24 hours to 7
//!   days only a *human agent* may reply, and the message must carry the `HUMAN_AGENT` tag.
//!   Beyond 7 days nothing may be sent; a bot or an automated notification gets nothing past 24 h.
//! - SMS and web chat have no such window (consent rules apply instead, elsewhere).
//!
//! Refusals carry catalogue error 0004 ([`ErrorCode::WindowClosed`]): outbound is blocked until
//! the customer writes again.
//!
//! The windows are half-open: a message exactly 24 hours after the customer's is outside. A
//! customer timestamp later than `now` (clock skew between nodes or with the provider) counts as
//! "just now", never as closed.

use std::time::Duration;

use crate::clock::Timestamp;
use crate::error_code::ErrorCode;
use crate::model::{Actor, ChannelKind};

/// The standard window on WhatsApp and Messenger: 24 hours after the customer's last message.
pub const CUSTOMER_CARE_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// How long a human agent may still answer on Messenger with the `HUMAN_AGENT` tag: 7 days.
pub const HUMAN_AGENT_WINDOW: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Who composed the outbound message. Only a person may use Messenger's human agent tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Composer {
    HumanAgent,
    /// Bots, auto-responses, campaigns, notifications: anything no person typed.
    Automated,
}

impl Composer {
    /// An agent's entry is human; everything else (bot, system) is automated. A customer never
    /// composes outbound messages, so `Customer` counts as automated, the stricter side.
    pub const fn from_actor(actor: Actor) -> Self {
        match actor {
            Actor::Agent => Self::HumanAgent,
            Actor::Customer | Actor::Bot | Actor::System => Self::Automated,
        }
    }
}

/// What the outbound message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageForm {
    /// Text or media written for this conversation.
    FreeForm,
    /// A template the provider approved (WhatsApp message templates).
    ApprovedTemplate,
}

/// The question asked of the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowQuery {
    pub kind: ChannelKind,
    /// When the customer last wrote on this channel, if ever.
    pub last_customer_message_at: Option<Timestamp>,
    pub now: Timestamp,
    pub composer: Composer,
    pub form: MessageForm,
}

/// The business may send, and this is how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowDecision {
    /// The channel has no window (SMS, web chat).
    NoWindow,
    /// Inside the 24-hour window: anything goes. On Messenger this is `messaging_type: RESPONSE`.
    Open { closes_at: Timestamp },
    /// Messenger, 24 hours to 7 days after the customer's last message, written by a person:
    /// `messaging_type: MESSAGE_TAG` with `tag: HUMAN_AGENT`.
    HumanAgentTag { closes_at: Timestamp },
    /// WhatsApp outside the window (or with no customer message at all): allowed because the
    /// message is an approved template.
    TemplateOutsideWindow,
}

/// Why the business may not send now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WindowClosed {
    /// The customer never wrote on this channel: only a template (WhatsApp) could open it, and
    /// Messenger cannot be opened by the business at all.
    #[error("the customer has never written on this channel; {hint}")]
    NeverOpened { hint: &'static str },
    /// The window closed at `closed_at`.
    #[error("the messaging window closed at {closed_at}; {hint}")]
    Expired {
        closed_at: Timestamp,
        hint: &'static str,
    },
}

impl WindowClosed {
    /// Always 0004 (ERR-03).
    pub const fn error_code(self) -> ErrorCode {
        ErrorCode::WindowClosed
    }
}

const WHATSAPP_HINT: &str =
    "outside the 24-hour customer care window only an approved template may be sent";
const MESSENGER_AUTOMATED_HINT: &str =
    "past 24 hours only a human agent may reply (HUMAN_AGENT tag), and only within 7 days";
const MESSENGER_HINT: &str =
    "Messenger allows no message more than 7 days after the customer's last one";

/// Decides whether and how the business may send. See the module docs for the rules.
pub fn decide(q: WindowQuery) -> Result<WindowDecision, WindowClosed> {
    match q.kind {
        ChannelKind::Sms | ChannelKind::Web => Ok(WindowDecision::NoWindow),
        ChannelKind::Whatsapp => whatsapp(q),
        ChannelKind::Messenger => messenger(q),
    }
}

fn whatsapp(q: WindowQuery) -> Result<WindowDecision, WindowClosed> {
    let closes_at = q
        .last_customer_message_at
        .map(|t| t.plus(CUSTOMER_CARE_WINDOW));
    match (closes_at, q.form) {
        (Some(closes_at), _) if q.now < closes_at => Ok(WindowDecision::Open { closes_at }),
        (_, MessageForm::ApprovedTemplate) => Ok(WindowDecision::TemplateOutsideWindow),
        (Some(closed_at), MessageForm::FreeForm) => Err(WindowClosed::Expired {
            closed_at,
            hint: WHATSAPP_HINT,
        }),
        (None, MessageForm::FreeForm) => Err(WindowClosed::NeverOpened {
            hint: WHATSAPP_HINT,
        }),
    }
}

fn messenger(q: WindowQuery) -> Result<WindowDecision, WindowClosed> {
    let Some(last) = q.last_customer_message_at else {
        return Err(WindowClosed::NeverOpened {
            hint: MESSENGER_HINT,
        });
    };
    let standard = last.plus(CUSTOMER_CARE_WINDOW);
    let human = last.plus(HUMAN_AGENT_WINDOW);
    if q.now < standard {
        return Ok(WindowDecision::Open {
            closes_at: standard,
        });
    }
    match q.composer {
        Composer::HumanAgent if q.now < human => {
            Ok(WindowDecision::HumanAgentTag { closes_at: human })
        }
        Composer::HumanAgent => Err(WindowClosed::Expired {
            closed_at: human,
            hint: MESSENGER_HINT,
        }),
        Composer::Automated => Err(WindowClosed::Expired {
            closed_at: standard,
            hint: MESSENGER_AUTOMATED_HINT,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HOUR: i64 = 3_600_000;
    const T0: Timestamp = Timestamp::from_millis(1_763_719_200_000);

    fn q(
        kind: ChannelKind,
        hours_since: Option<i64>,
        composer: Composer,
        form: MessageForm,
    ) -> WindowQuery {
        WindowQuery {
            kind,
            last_customer_message_at: hours_since.map(|_| T0),
            now: Timestamp::from_millis(T0.millis() + hours_since.unwrap_or(0) * HOUR),
            composer,
            form,
        }
    }

    fn at(hours: i64) -> Timestamp {
        Timestamp::from_millis(T0.millis() + hours * HOUR)
    }

    use ChannelKind::*;
    use Composer::*;
    use MessageForm::*;

    #[test]
    fn sms_and_web_have_no_window() {
        for kind in [Sms, Web] {
            for since in [None, Some(0), Some(10_000)] {
                assert_eq!(
                    decide(q(kind, since, Automated, FreeForm)),
                    Ok(WindowDecision::NoWindow)
                );
            }
        }
    }

    #[test]
    fn whatsapp_free_form_only_inside_24_hours() {
        assert_eq!(
            decide(q(Whatsapp, Some(0), Automated, FreeForm)),
            Ok(WindowDecision::Open { closes_at: at(24) })
        );
        assert_eq!(
            decide(q(Whatsapp, Some(23), HumanAgent, FreeForm)),
            Ok(WindowDecision::Open { closes_at: at(24) })
        );
        let closed = decide(q(Whatsapp, Some(24), HumanAgent, FreeForm)).unwrap_err();
        assert_eq!(
            closed,
            WindowClosed::Expired {
                closed_at: at(24),
                hint: WHATSAPP_HINT
            }
        );
        assert_eq!(closed.error_code().code(), "0004");
        assert!(matches!(
            decide(q(Whatsapp, None, HumanAgent, FreeForm)),
            Err(WindowClosed::NeverOpened { .. })
        ));
        // One millisecond before the mark is still inside.
        let mut just = q(Whatsapp, Some(24), Automated, FreeForm);
        just.now = Timestamp::from_millis(just.now.millis() - 1);
        assert!(matches!(decide(just), Ok(WindowDecision::Open { .. })));
    }

    #[test]
    fn whatsapp_templates_go_anytime() {
        assert_eq!(
            decide(q(Whatsapp, Some(2), Automated, ApprovedTemplate)),
            Ok(WindowDecision::Open { closes_at: at(24) })
        );
        assert_eq!(
            decide(q(Whatsapp, Some(500), Automated, ApprovedTemplate)),
            Ok(WindowDecision::TemplateOutsideWindow)
        );
        assert_eq!(
            decide(q(Whatsapp, None, Automated, ApprovedTemplate)),
            Ok(WindowDecision::TemplateOutsideWindow)
        );
    }

    #[test]
    fn messenger_response_then_human_agent_then_nothing() {
        assert_eq!(
            decide(q(Messenger, Some(1), Automated, FreeForm)),
            Ok(WindowDecision::Open { closes_at: at(24) })
        );
        assert_eq!(
            decide(q(Messenger, Some(24), HumanAgent, FreeForm)),
            Ok(WindowDecision::HumanAgentTag { closes_at: at(168) })
        );
        assert_eq!(
            decide(q(Messenger, Some(167), HumanAgent, FreeForm)),
            Ok(WindowDecision::HumanAgentTag { closes_at: at(168) })
        );
        assert_eq!(
            decide(q(Messenger, Some(168), HumanAgent, FreeForm)),
            Err(WindowClosed::Expired {
                closed_at: at(168),
                hint: MESSENGER_HINT
            })
        );
        assert_eq!(
            decide(q(Messenger, Some(24), Automated, FreeForm)),
            Err(WindowClosed::Expired {
                closed_at: at(24),
                hint: MESSENGER_AUTOMATED_HINT
            })
        );
        // A template is no key on Messenger.
        assert!(decide(q(Messenger, Some(30), Automated, ApprovedTemplate)).is_err());
        assert!(matches!(
            decide(q(Messenger, None, HumanAgent, FreeForm)),
            Err(WindowClosed::NeverOpened { .. })
        ));
    }

    #[test]
    fn a_customer_message_from_the_future_counts_as_now() {
        let mut skew = q(Whatsapp, Some(0), Automated, FreeForm);
        skew.last_customer_message_at = Some(at(1));
        assert_eq!(decide(skew), Ok(WindowDecision::Open { closes_at: at(25) }));
        skew.kind = Messenger;
        assert_eq!(decide(skew), Ok(WindowDecision::Open { closes_at: at(25) }));
    }

    #[test]
    fn composer_from_actor() {
        assert_eq!(Composer::from_actor(Actor::Agent), HumanAgent);
        for a in [Actor::Bot, Actor::System, Actor::Customer] {
            assert_eq!(Composer::from_actor(a), Automated);
        }
    }

    fn any_kind() -> impl Strategy<Value = ChannelKind> {
        prop_oneof![Just(Sms), Just(Whatsapp), Just(Messenger), Just(Web)]
    }
    fn any_composer() -> impl Strategy<Value = Composer> {
        prop_oneof![Just(HumanAgent), Just(Automated)]
    }
    fn any_form() -> impl Strategy<Value = MessageForm> {
        prop_oneof![Just(FreeForm), Just(ApprovedTemplate)]
    }

    proptest! {
        #[test]
        fn decisions_follow_the_elapsed_time(
            kind in any_kind(),
            composer in any_composer(),
            form in any_form(),
            last in proptest::option::of(0i64..4_000_000_000_000),
            elapsed in -10 * HOUR..400 * HOUR,
        ) {
            let now = Timestamp::from_millis(last.unwrap_or(1_000_000_000_000) + elapsed);
            let query = WindowQuery {
                kind,
                last_customer_message_at: last.map(Timestamp::from_millis),
                now,
                composer,
                form,
            };
            let inside_24 = last.is_some() && elapsed < 24 * HOUR;
            let inside_7d = last.is_some() && elapsed < 168 * HOUR;
            let decision = decide(query);
            match kind {
                Sms | Web => prop_assert_eq!(decision, Ok(WindowDecision::NoWindow)),
                Whatsapp => match decision {
                    Ok(WindowDecision::Open { closes_at }) => {
                        prop_assert!(inside_24);
                        prop_assert!(now < closes_at);
                    }
                    Ok(WindowDecision::TemplateOutsideWindow) => {
                        prop_assert!(!inside_24);
                        prop_assert_eq!(form, ApprovedTemplate);
                    }
                    Ok(other) => prop_assert!(false, "WhatsApp decided {:?}", other),
                    Err(e) => {
                        prop_assert!(!inside_24);
                        prop_assert_eq!(form, FreeForm);
                        prop_assert_eq!(e.error_code(), ErrorCode::WindowClosed);
                    }
                },
                Messenger => match decision {
                    Ok(WindowDecision::Open { closes_at }) => {
                        prop_assert!(inside_24);
                        prop_assert!(now < closes_at);
                    }
                    Ok(WindowDecision::HumanAgentTag { closes_at }) => {
                        prop_assert!(!inside_24 && inside_7d);
                        prop_assert_eq!(composer, HumanAgent);
                        prop_assert!(now < closes_at);
                    }
                    Ok(other) => prop_assert!(false, "Messenger decided {:?}", other),
                    Err(_) => prop_assert!(
                        !inside_24 && (composer == Automated || !inside_7d)
                    ),
                },
            }
        }

        #[test]
        fn a_send_allowed_now_was_allowed_earlier(
            kind in any_kind(),
            composer in any_composer(),
            form in any_form(),
            elapsed in 0i64..400 * HOUR,
            earlier_by in 0i64..400 * HOUR,
        ) {
            let last = Some(T0);
            let later = WindowQuery { kind, last_customer_message_at: last, now: Timestamp::from_millis(T0.millis() + elapsed), composer, form };
            let earlier = WindowQuery { now: Timestamp::from_millis(T0.millis() + (elapsed - earlier_by).max(0)), ..later };
            if decide(later).is_ok() {
                prop_assert!(decide(earlier).is_ok());
            }
        }

        #[test]
        fn a_human_agent_may_send_whenever_automation_may(
            kind in any_kind(),
            form in any_form(),
            last in proptest::option::of(0i64..4_000_000_000_000),
            elapsed in 0i64..400 * HOUR,
        ) {
            let now = Timestamp::from_millis(last.unwrap_or(0) + elapsed);
            let bot = WindowQuery { kind, last_customer_message_at: last.map(Timestamp::from_millis), now, composer: Automated, form };
            let person = WindowQuery { composer: HumanAgent, ..bot };
            if decide(bot).is_ok() {
                prop_assert_eq!(decide(person), decide(bot));
            }
        }
    }
}
