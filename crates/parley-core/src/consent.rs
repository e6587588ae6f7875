//! Consent: what an inbound message does to a messaging user's consent on a channel, which
//! auto-responses it earns, and whether the business may send a given message at all.
//!
//! Two functions carry the rules. [`decide_inbound`] runs once per inbound message, after keyword
//! matching, and returns a [`ConsentDecision`]: the status change and its history record, the
//! auto-responses in the order they are sent, whether every open session of the user on the channel
//! ends, and how the rest of the pipeline should treat the message ([`Disposition`]). [`may_send`] is
//! the outbound gate every message passes at send time, so it always sees the most current consent
//! (CO-22).
//!
//! Consent is per messaging user, hence per channel (CO-02). A user with no status (`None`) has never
//! consented on the channel; that is not an opt-out, and it is the state of someone we have never
//! heard from. Consent only goes up through the opt-in ladder of CO-01 and only comes down through an
//! opt-out: nothing here lowers `DoublyOptedIn` to `ExplicitlyOptedIn` because a customer texted YES
//! twice, and nothing but an opt-in keyword lifts an opt-out.
//!
//! The invariant the tests hold this module to: once opted out, a user is sent nothing but the
//! opt-out confirmation, and the help response when they ask for help, until they opt in again.

use serde::{Deserialize, Serialize};

use crate::keywords::{
    AutoResponse, KeywordConfig, KeywordMatch, Language, ResponseKind, list_label,
};
use crate::model::{ConsentLevel, ConsentSource, ConsentStatus, KeywordList};

/// Why a consent status changed, kept in the consent history beside the source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum ChangeReason {
    /// The customer texted a keyword.
    Keyword {
        list: KeywordList,
        keyword: String,
        language: Language,
    },
    /// The customer's first message on a channel whose level is implicit (CO-03).
    FirstInbound,
    /// A person or system said so: an agent during a session (CO-11), an import, the API, or the
    /// carrier reporting an unsubscribed number. The note is free text for the history.
    Stated { note: String },
}

impl std::fmt::Display for ChangeReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Keyword {
                list,
                keyword,
                language,
            } => write!(f, "{} keyword {keyword} ({language})", list_label(*list)),
            Self::FirstInbound => {
                f.write_str("first inbound message on an implicit opt-in channel")
            }
            Self::Stated { note } => f.write_str(note),
        }
    }
}

/// One row of consent history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentChange {
    /// `None` when the user had no consent status before.
    pub from: Option<ConsentStatus>,
    pub to: ConsentStatus,
    pub source: ConsentSource,
    pub reason: ChangeReason,
}

/// How the rest of the inbound pipeline treats the message once consent has been decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// An opt-out: every open session of the user on the channel ends (AMB-06); nothing is routed.
    OptOut,
    /// A keyword the auto-responses fully answer (opt-in, double opt-in, help, custom). A session it
    /// opens is in `Consent` status and is not routed (CO-21, SE-05).
    KeywordOnly,
    /// A real inquiry from someone the business may answer: route it.
    Inquiry,
    /// A real inquiry from someone the business may not answer yet (no consent, or opted out). It is
    /// kept in a `Consent` session and routed once consent meets the channel's level (CO-04: "I'll
    /// connect you with someone who can help" follows the opt-in confirmation).
    Held,
}

/// The consent outcome of one inbound message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentDecision {
    /// The user's status once this decision is applied (changed or not).
    pub status_after: Option<ConsentStatus>,
    /// The change to store and record in the history; `None` when the status stays as it was.
    pub change: Option<ConsentChange>,
    /// Auto-responses to send, in order. Each passes [`may_send`] against `status_after`.
    pub responses: Vec<AutoResponse>,
    /// End every open session of this messaging user on this channel.
    pub end_open_sessions: bool,
    pub disposition: Disposition,
    /// Consent did not meet the channel's level before this message and meets it now, so an inquiry
    /// held earlier can be routed.
    pub consent_completed: bool,
}

/// Everything [`decide_inbound`] reads.
#[derive(Debug, Clone, Copy)]
pub struct InboundConsent<'a> {
    /// The messaging user's status; `None` for an unknown user or one who never consented.
    pub current: Option<ConsentStatus>,
    pub required_level: ConsentLevel,
    /// The keyword the message is, from [`KeywordConfig::match_text`].
    pub keyword: Option<&'a KeywordMatch>,
    /// The channel's keyword configuration, for the prompts a keyword does not carry.
    pub keywords: &'a KeywordConfig,
    /// The messaging user's locale: the language of a prompt sent in answer to a non-keyword.
    pub locale: Option<&'a Language>,
}

fn meets(status: Option<ConsentStatus>, level: ConsentLevel) -> bool {
    status.is_some_and(|s| s.meets(level))
}

/// Explicit opt-in, unless the user is already doubly opted in: a repeated opt-in never lowers them.
fn explicit_or_higher(current: Option<ConsentStatus>) -> ConsentStatus {
    match current {
        Some(ConsentStatus::DoublyOptedIn) => ConsentStatus::DoublyOptedIn,
        _ => ConsentStatus::ExplicitlyOptedIn,
    }
}

struct Builder<'a> {
    input: &'a InboundConsent<'a>,
    to: Option<ConsentStatus>,
    source: ConsentSource,
    reason: Option<ChangeReason>,
    responses: Vec<AutoResponse>,
}

impl<'a> Builder<'a> {
    fn new(input: &'a InboundConsent<'a>) -> Self {
        Self {
            input,
            to: input.current,
            source: ConsentSource::Keyword,
            reason: None,
            responses: Vec::new(),
        }
    }

    fn set(&mut self, to: ConsentStatus, source: ConsentSource, reason: ChangeReason) {
        self.to = Some(to);
        self.source = source;
        self.reason = Some(reason);
    }

    fn keyword_change(&mut self, m: &KeywordMatch, to: ConsentStatus) {
        self.set(
            to,
            ConsentSource::Keyword,
            ChangeReason::Keyword {
                list: m.list,
                keyword: m.keyword.clone(),
                language: m.language.clone(),
            },
        );
    }

    /// CO-03: someone who writes to an implicit channel for the first time has consented by writing.
    fn implicit_first_inbound(&mut self) {
        if self.input.current.is_none() && self.input.required_level == ConsentLevel::Implicit {
            self.set(
                ConsentStatus::ImplicitlyOptedIn,
                ConsentSource::Inbound,
                ChangeReason::FirstInbound,
            );
        }
    }

    fn send(&mut self, response: Option<AutoResponse>) {
        self.responses.extend(response);
    }

    fn send_kind(&mut self, kind: ResponseKind, language: &Language) {
        let response = self.input.keywords.response(kind, language);
        self.send(response);
    }

    fn finish(self, disposition: Disposition) -> ConsentDecision {
        let before = self.input.current;
        let change = match (self.to, self.reason) {
            (Some(to), Some(reason)) if Some(to) != before => Some(ConsentChange {
                from: before,
                to,
                source: self.source,
                reason,
            }),
            _ => None,
        };
        let level = self.input.required_level;
        ConsentDecision {
            status_after: self.to,
            consent_completed: !meets(before, level) && meets(self.to, level),
            change,
            responses: self.responses,
            end_open_sessions: disposition == Disposition::OptOut,
            disposition,
        }
    }
}

/// Decides what one inbound message does to consent. Compliance keywords come first whatever else is
/// going on (DESIGN.md section 5): the caller runs this before any bot, journey or session logic.
pub fn decide_inbound(input: &InboundConsent<'_>) -> ConsentDecision {
    let mut b = Builder::new(input);
    let Some(m) = input.keyword else {
        return message(b);
    };
    match m.list {
        KeywordList::OptOut => {
            // CO-04, CO-10, AMB-06: opted out, confirmed even when already opted out or never
            // subscribed, and every open chat closed.
            b.keyword_change(m, ConsentStatus::OptedOut);
            b.send(m.response.clone());
            b.finish(Disposition::OptOut)
        }
        KeywordList::OptIn => {
            opt_in(&mut b, m);
            b.finish(Disposition::KeywordOnly)
        }
        KeywordList::DoubleOptIn => {
            let first_step_done = input
                .current
                .is_some_and(|s| s.meets(ConsentLevel::Explicit));
            if input.required_level == ConsentLevel::Double && first_step_done {
                // CO-04 double: the second keyword completes consent; the opt-in confirmation closes
                // the exchange.
                b.keyword_change(m, ConsentStatus::DoublyOptedIn);
                b.send(m.response.clone());
            } else {
                // Before the first step, or where the channel does not ask for double opt-in
                // (CO-15: the setting is what enables these keywords), CONFIRM means "opt me in".
                opt_in(&mut b, m);
            }
            b.finish(Disposition::KeywordOnly)
        }
        KeywordList::Help => {
            // CO-10: anyone gets the help response, subscribed, unknown or opted out.
            if input.current != Some(ConsentStatus::OptedOut) {
                b.implicit_first_inbound();
            }
            b.send(m.response.clone());
            b.finish(Disposition::KeywordOnly)
        }
        KeywordList::Custom => {
            // Custom keywords are not compliance keywords: an opted-out user gets no answer.
            if input.current != Some(ConsentStatus::OptedOut) {
                b.implicit_first_inbound();
                b.send(m.response.clone());
            }
            b.finish(Disposition::KeywordOnly)
        }
    }
}

/// CO-04, CO-14, CO-15: an opt-in keyword marks the user explicitly opted in. Where the channel needs
/// double opt-in, the answer is the double opt-in prompt instead of the confirmation. Never lowers a
/// doubly opted-in user.
fn opt_in(b: &mut Builder<'_>, m: &KeywordMatch) {
    let input = b.input;
    let to = explicit_or_higher(input.current);
    b.keyword_change(m, to);
    if input.required_level == ConsentLevel::Double && to != ConsentStatus::DoublyOptedIn {
        b.send_kind(ResponseKind::DoubleOptInPrompt, &m.language);
    } else {
        b.send(m.response.clone());
    }
}

/// A message that is not a keyword.
fn message(mut b: Builder<'_>) -> ConsentDecision {
    let input = b.input;
    match input.current {
        // The opt-out stands until an opt-in keyword lifts it; writing to us is not opting in.
        Some(ConsentStatus::OptedOut) => b.finish(Disposition::Held),
        current => {
            b.implicit_first_inbound();
            if meets(b.to, input.required_level) {
                return b.finish(Disposition::Inquiry);
            }
            // CO-04: prompt for the step still missing, in the user's language.
            let language = input.keywords.language_for(input.locale);
            let kind = if current == Some(ConsentStatus::ExplicitlyOptedIn) {
                ResponseKind::DoubleOptInPrompt
            } else {
                ResponseKind::OptInPrompt
            };
            b.send_kind(kind, &language);
            b.finish(Disposition::Held)
        }
    }
}

/// A status change that does not come from an inbound keyword (CO-11 agent, MU-04 import, API,
/// carrier), with no auto-response. For a carrier-reported opt-out the carrier has already answered
/// the customer, so a confirmation from us would be a second one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentUpdate {
    pub change: Option<ConsentChange>,
    pub end_open_sessions: bool,
    pub responses: Vec<AutoResponse>,
}

/// Sets a status from outside the inbound flow. An opt-out ends every open session, as a keyword
/// opt-out does; no change is recorded when the status is already `to`.
pub fn set_status(
    current: Option<ConsentStatus>,
    to: ConsentStatus,
    source: ConsentSource,
    note: impl Into<String>,
) -> ConsentUpdate {
    let change = (current != Some(to)).then(|| ConsentChange {
        from: current,
        to,
        source,
        reason: ChangeReason::Stated { note: note.into() },
    });
    ConsentUpdate {
        change,
        end_open_sessions: to == ConsentStatus::OptedOut,
        responses: Vec::new(),
    }
}

/// CO-11: an agent opts the customer out because they asked in conversation. The customer gets the
/// opt-out confirmation like anyone who texted STOP (US and European rules require it, CO-10).
pub fn agent_opt_out(
    current: Option<ConsentStatus>,
    keywords: &KeywordConfig,
    locale: Option<&Language>,
    note: impl Into<String>,
) -> ConsentUpdate {
    let mut update = set_status(current, ConsentStatus::OptedOut, ConsentSource::Agent, note);
    let language = keywords.language_for(locale);
    update
        .responses
        .extend(keywords.response(ResponseKind::OptOutConfirmation, &language));
    update
}

/// The status of a messaging user created by an outbound message to someone never seen before
/// (AMB-14, MU-04 path 4): implicitly opted in only where the channel's level is implicit. Elsewhere
/// the user is created without consent, and the message is refused by [`may_send`].
pub fn status_for_new_recipient(required_level: ConsentLevel) -> Option<ConsentStatus> {
    (required_level == ConsentLevel::Implicit).then_some(ConsentStatus::ImplicitlyOptedIn)
}

/// What an outbound message is, as far as consent is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "purpose", rename_all = "snake_case")]
pub enum SendPurpose {
    /// An auto-response produced by [`decide_inbound`] (or the hand-off reply) in answer to the
    /// message the recipient just sent. `HelpResponse` must only ever be sent in answer to a help
    /// keyword: the gate cannot tell, the caller can.
    AutoResponse { kind: ResponseKind },
    /// An agent's or bot's message, or a conversation auto-response (acknowledgment, start, end), in
    /// a session. `session_opt_in` is true while the session's own implicit opt-in is valid
    /// (AMB-23, CO-23; see `session::session_opt_in_valid`).
    Conversation { session_opt_in: bool },
    /// A triggered notification (AMB-14).
    Notification,
    /// A marketing campaign message (CO-23).
    Campaign,
    /// A one-to-many broadcast (AMB-16).
    Broadcast,
}

/// Why the gate refused a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendRefused {
    #[error(
        "the recipient opted out on this channel: only the opt-out confirmation, or the help response they asked for, may be sent until they opt in again"
    )]
    OptedOut,
    #[error("the recipient has not consented on this channel, which requires {need} opt-in")]
    NoConsent { need: ConsentLevel },
    #[error("the recipient's consent ({have}) is below the {need} opt-in this message needs")]
    InsufficientConsent {
        have: ConsentStatus,
        need: ConsentLevel,
    },
}

/// The send gate of the outbound pipeline's *authorize* stage, called at send time with the current
/// status (CO-22) — after the inbound decision that prompted an auto-response has been applied.
///
/// - Opted out (CO-04, CO-10): only the opt-out confirmation and the help response pass; a session
///   opt-in does not reopen the door.
/// - Auto-responses to the recipient's own message pass for anyone else: they are replies, and the
///   opt-in prompt is precisely what one sends to someone without consent (CO-13).
/// - A conversation message passes with a valid session opt-in (CO-23) or when consent meets the
///   channel's level (CO-01); notifications and campaigns need the channel's level (AMB-14).
/// - Broadcasts need at least explicit opt-in whatever the channel's level (AMB-16).
pub fn may_send(
    status: Option<ConsentStatus>,
    required_level: ConsentLevel,
    purpose: SendPurpose,
) -> Result<(), SendRefused> {
    if status == Some(ConsentStatus::OptedOut) {
        return match purpose {
            SendPurpose::AutoResponse {
                kind: ResponseKind::OptOutConfirmation | ResponseKind::HelpResponse,
            } => Ok(()),
            _ => Err(SendRefused::OptedOut),
        };
    }
    let need = match purpose {
        SendPurpose::AutoResponse { .. } => return Ok(()),
        SendPurpose::Conversation {
            session_opt_in: true,
        } => return Ok(()),
        SendPurpose::Conversation {
            session_opt_in: false,
        }
        | SendPurpose::Notification
        | SendPurpose::Campaign => required_level,
        SendPurpose::Broadcast => match required_level {
            ConsentLevel::Implicit => ConsentLevel::Explicit,
            other => other,
        },
    };
    match status {
        Some(s) if s.meets(need) => Ok(()),
        Some(have) => Err(SendRefused::InsufficientConsent { have, need }),
        None => Err(SendRefused::NoConsent { need }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keywords::{ChannelProfile, CustomKeyword};
    use crate::model::{ChannelKind, NumberType};
    use ConsentStatus::*;
    use proptest::prelude::*;

    const HELP_EN: &str = "Acme Alerts: Help at help@acme.example. Msg&data rates may apply. 1 msg/day. Text STOP to cancel.";
    const HELP_FR: &str = "Alertes Acme : aide à aide@acme.example. Textez ARRET pour annuler.";
    const PROMPT: &str = "To subscribe to Acme Alerts, reply YES. Reply HELP for help. Reply STOP to cancel. Msg&data rates may apply.";
    const DOUBLE_PROMPT: &str =
        "To confirm your subscription to Acme Alerts, reply CONFIRM. Reply HELP for help.";

    fn config() -> KeywordConfig {
        let mut c = KeywordConfig::canadian_defaults(HELP_EN, HELP_FR);
        let en = &mut c.languages[0];
        en.responses.opt_in_prompt = Some(PROMPT.into());
        en.responses.double_opt_in_prompt = Some(DOUBLE_PROMPT.into());
        en.custom.push(CustomKeyword {
            keyword: "HOURS".into(),
            response: "Open 9-5.".into(),
        });
        c
    }

    fn profile(level: ConsentLevel) -> ChannelProfile {
        ChannelProfile {
            number_type: Some(NumberType::ShortCode),
            country: Some("CA".into()),
            ..ChannelProfile::new(ChannelKind::Sms, level)
        }
    }

    fn decide(current: Option<ConsentStatus>, level: ConsentLevel, text: &str) -> ConsentDecision {
        let c = config();
        let m = c.match_text(&profile(level), text);
        decide_inbound(&InboundConsent {
            current,
            required_level: level,
            keyword: m.as_ref(),
            keywords: &c,
            locale: None,
        })
    }

    fn kinds(d: &ConsentDecision) -> Vec<ResponseKind> {
        d.responses.iter().map(|r| r.kind).collect()
    }

    #[test]
    fn the_test_configuration_is_valid() {
        for level in ConsentLevel::ALL {
            config().validate(&profile(*level)).unwrap();
        }
    }

    #[test]
    fn implicit_level_first_message_is_consent() {
        let d = decide(None, ConsentLevel::Implicit, "Hi, where is my order?");
        assert_eq!(d.status_after, Some(ImplicitlyOptedIn));
        assert_eq!(
            d.change,
            Some(ConsentChange {
                from: None,
                to: ImplicitlyOptedIn,
                source: ConsentSource::Inbound,
                reason: ChangeReason::FirstInbound
            })
        );
        // CO-03: no automatic opt-in message for implicit consent.
        assert!(d.responses.is_empty());
        assert_eq!(d.disposition, Disposition::Inquiry);
        assert!(!d.end_open_sessions);
        // Later messages change nothing.
        let d = decide(Some(ImplicitlyOptedIn), ConsentLevel::Implicit, "thanks");
        assert_eq!((d.change, d.disposition), (None, Disposition::Inquiry));
    }

    #[test]
    fn explicit_level_prompts_then_confirms() {
        let d = decide(
            None,
            ConsentLevel::Explicit,
            "Hi, I need help with an order",
        );
        assert_eq!(d.status_after, None);
        assert_eq!(d.change, None);
        assert_eq!(kinds(&d), vec![ResponseKind::OptInPrompt]);
        assert_eq!(d.responses[0].text, PROMPT);
        assert_eq!(d.disposition, Disposition::Held);
        let d = decide(None, ConsentLevel::Explicit, "Yes");
        assert_eq!(d.status_after, Some(ExplicitlyOptedIn));
        let change = d.change.clone().unwrap();
        assert_eq!(
            (change.from, change.to, change.source),
            (None, ExplicitlyOptedIn, ConsentSource::Keyword)
        );
        assert_eq!(change.reason.to_string(), "opt-in keyword YES (en)");
        assert_eq!(kinds(&d), vec![ResponseKind::OptInConfirmation]);
        assert!(d.consent_completed);
        assert_eq!(d.disposition, Disposition::KeywordOnly);
        // An implicitly opted-in import is still short of explicit.
        let d = decide(Some(ImplicitlyOptedIn), ConsentLevel::Explicit, "hello");
        assert_eq!(kinds(&d), vec![ResponseKind::OptInPrompt]);
        let d = decide(Some(ExplicitlyOptedIn), ConsentLevel::Explicit, "hello");
        assert_eq!(
            (d.disposition, d.responses.len()),
            (Disposition::Inquiry, 0)
        );
    }

    #[test]
    fn double_opt_in_takes_two_keywords() {
        let d = decide(None, ConsentLevel::Double, "hello");
        assert_eq!(kinds(&d), vec![ResponseKind::OptInPrompt]);
        let d = decide(None, ConsentLevel::Double, "YES");
        assert_eq!(d.status_after, Some(ExplicitlyOptedIn));
        assert_eq!(kinds(&d), vec![ResponseKind::DoubleOptInPrompt]);
        assert_eq!(d.responses[0].text, DOUBLE_PROMPT);
        assert!(!d.consent_completed);
        // A message between the steps gets the missing step's prompt and waits.
        let d = decide(Some(ExplicitlyOptedIn), ConsentLevel::Double, "hello?");
        assert_eq!(
            (kinds(&d), d.disposition),
            (vec![ResponseKind::DoubleOptInPrompt], Disposition::Held)
        );
        // Repeating the first keyword re-prompts without change.
        let d = decide(Some(ExplicitlyOptedIn), ConsentLevel::Double, "yes");
        assert_eq!(
            (d.change.clone(), kinds(&d)),
            (None, vec![ResponseKind::DoubleOptInPrompt])
        );
        let d = decide(Some(ExplicitlyOptedIn), ConsentLevel::Double, "confirm");
        assert_eq!(d.status_after, Some(DoublyOptedIn));
        assert_eq!(kinds(&d), vec![ResponseKind::OptInConfirmation]);
        assert!(d.consent_completed);
        // CONFIRM before YES counts as the first step only.
        let d = decide(None, ConsentLevel::Double, "confirm");
        assert_eq!(
            (d.status_after, kinds(&d)),
            (
                Some(ExplicitlyOptedIn),
                vec![ResponseKind::DoubleOptInPrompt]
            )
        );
        // Where double opt-in is not required, CONFIRM is an opt-in.
        let d = decide(None, ConsentLevel::Explicit, "confirm");
        assert_eq!(
            (d.status_after, kinds(&d)),
            (
                Some(ExplicitlyOptedIn),
                vec![ResponseKind::OptInConfirmation]
            )
        );
    }

    #[test]
    fn opt_in_never_lowers_consent() {
        for level in ConsentLevel::ALL {
            let d = decide(Some(DoublyOptedIn), *level, "start");
            assert_eq!(
                (d.status_after, d.change.clone()),
                (Some(DoublyOptedIn), None)
            );
            assert_eq!(kinds(&d), vec![ResponseKind::OptInConfirmation]);
        }
    }

    #[test]
    fn opt_out_always_confirms_and_ends_sessions() {
        for current in [
            None,
            Some(OptedOut),
            Some(ImplicitlyOptedIn),
            Some(ExplicitlyOptedIn),
            Some(DoublyOptedIn),
        ] {
            for level in ConsentLevel::ALL {
                let d = decide(current, *level, "Stop.");
                assert_eq!(d.status_after, Some(OptedOut));
                assert_eq!(kinds(&d), vec![ResponseKind::OptOutConfirmation]);
                assert!(d.end_open_sessions);
                assert_eq!(d.disposition, Disposition::OptOut);
                assert_eq!(d.change.is_some(), current != Some(OptedOut));
            }
        }
    }

    #[test]
    fn opted_out_users_are_re_admitted_only_by_opt_in() {
        let level = ConsentLevel::Implicit;
        let d = decide(Some(OptedOut), level, "hello again");
        assert_eq!(
            (d.status_after, d.responses.len(), d.disposition),
            (Some(OptedOut), 0, Disposition::Held)
        );
        let d = decide(Some(OptedOut), level, "hours");
        assert!(d.responses.is_empty());
        let d = decide(Some(OptedOut), level, "help");
        assert_eq!(
            (d.status_after, kinds(&d)),
            (Some(OptedOut), vec![ResponseKind::HelpResponse])
        );
        let d = decide(Some(OptedOut), level, "unstop");
        assert_eq!(
            (d.status_after, kinds(&d)),
            (
                Some(ExplicitlyOptedIn),
                vec![ResponseKind::OptInConfirmation]
            )
        );
        assert!(d.consent_completed);
    }

    #[test]
    fn help_answers_anyone_and_counts_as_first_contact_only_where_implicit() {
        let d = decide(None, ConsentLevel::Explicit, "HELP");
        assert_eq!(
            (d.status_after, kinds(&d)),
            (None, vec![ResponseKind::HelpResponse])
        );
        assert_eq!(d.responses[0].text, HELP_EN);
        let d = decide(None, ConsentLevel::Implicit, "info");
        assert_eq!(d.status_after, Some(ImplicitlyOptedIn));
        assert_eq!(d.disposition, Disposition::KeywordOnly);
        let d = decide(None, ConsentLevel::Explicit, "hours");
        assert_eq!(kinds(&d), vec![ResponseKind::CustomResponse]);
    }

    #[test]
    fn canada_answers_in_the_keywords_language() {
        let d = decide(Some(ExplicitlyOptedIn), ConsentLevel::Explicit, "ARRÊT");
        assert_eq!(d.responses[0].language, Language::french());
        assert!(d.responses[0].text.starts_with("Vous êtes désabonné"));
        let d = decide(Some(OptedOut), ConsentLevel::Explicit, "aide");
        assert_eq!(
            (
                d.responses[0].language.as_str(),
                d.responses[0].text.as_str()
            ),
            ("fr", HELP_FR)
        );
        let d = decide(Some(ExplicitlyOptedIn), ConsentLevel::Explicit, "STOP");
        assert_eq!(d.responses[0].language, Language::english());
    }

    #[test]
    fn prompts_follow_the_users_locale() {
        let mut c = config();
        c.languages[1].responses.opt_in_prompt = Some("Pour vous abonner, répondez OUI.".into());
        let fr = Language::new("fr_CA");
        let d = decide_inbound(&InboundConsent {
            current: None,
            required_level: ConsentLevel::Explicit,
            keyword: None,
            keywords: &c,
            locale: Some(&fr),
        });
        assert_eq!(d.responses[0].text, "Pour vous abonner, répondez OUI.");
    }

    #[test]
    fn out_of_band_changes() {
        let u = set_status(
            Some(ExplicitlyOptedIn),
            OptedOut,
            ConsentSource::Provider,
            "carrier 21610",
        );
        assert!(u.end_open_sessions && u.responses.is_empty());
        assert_eq!(u.change.unwrap().reason.to_string(), "carrier 21610");
        let u = set_status(
            Some(DoublyOptedIn),
            DoublyOptedIn,
            ConsentSource::Import,
            "csv",
        );
        assert_eq!((u.change, u.end_open_sessions), (None, false));
        let u = agent_opt_out(
            Some(ImplicitlyOptedIn),
            &config(),
            None,
            "customer asked in chat",
        );
        assert_eq!(u.change.unwrap().source, ConsentSource::Agent);
        assert_eq!(u.responses[0].kind, ResponseKind::OptOutConfirmation);
        assert!(u.end_open_sessions);
        assert_eq!(
            status_for_new_recipient(ConsentLevel::Implicit),
            Some(ImplicitlyOptedIn)
        );
        assert_eq!(status_for_new_recipient(ConsentLevel::Explicit), None);
    }

    #[test]
    fn send_gate() {
        use ConsentLevel::*;
        let auto = |kind| SendPurpose::AutoResponse { kind };
        let conv = |session_opt_in| SendPurpose::Conversation { session_opt_in };
        // Opted out: only the two compliance answers.
        assert_eq!(
            may_send(
                Some(OptedOut),
                Implicit,
                auto(ResponseKind::OptOutConfirmation)
            ),
            Ok(())
        );
        assert_eq!(
            may_send(Some(OptedOut), Double, auto(ResponseKind::HelpResponse)),
            Ok(())
        );
        for p in [
            auto(ResponseKind::OptInPrompt),
            auto(ResponseKind::CustomResponse),
            auto(ResponseKind::HandoffReply),
            conv(true),
            conv(false),
            SendPurpose::Notification,
            SendPurpose::Campaign,
            SendPurpose::Broadcast,
        ] {
            assert_eq!(
                may_send(Some(OptedOut), Implicit, p),
                Err(SendRefused::OptedOut),
                "{p:?}"
            );
        }
        // Replies go to anyone else.
        assert_eq!(
            may_send(None, Double, auto(ResponseKind::OptInPrompt)),
            Ok(())
        );
        assert_eq!(may_send(None, Explicit, conv(true)), Ok(()));
        assert_eq!(
            may_send(None, Explicit, conv(false)),
            Err(SendRefused::NoConsent { need: Explicit })
        );
        assert_eq!(
            may_send(Some(ExplicitlyOptedIn), Double, SendPurpose::Notification),
            Err(SendRefused::InsufficientConsent {
                have: ExplicitlyOptedIn,
                need: Double
            })
        );
        assert_eq!(
            may_send(Some(ImplicitlyOptedIn), Implicit, SendPurpose::Campaign),
            Ok(())
        );
        // Broadcasts need explicit consent even on an implicit channel.
        assert_eq!(
            may_send(Some(ImplicitlyOptedIn), Implicit, SendPurpose::Broadcast),
            Err(SendRefused::InsufficientConsent {
                have: ImplicitlyOptedIn,
                need: Explicit
            })
        );
        assert_eq!(
            may_send(Some(ExplicitlyOptedIn), Implicit, SendPurpose::Broadcast),
            Ok(())
        );
        assert!(
            SendRefused::OptedOut
                .to_string()
                .contains("until they opt in again")
        );
    }

    #[derive(Debug, Clone)]
    enum Event {
        Inbound(&'static str),
        Outbound(SendPurpose),
    }

    const TEXTS: &[&str] = &[
        "stop",
        "ARRET",
        "quit!",
        "yes",
        "START",
        "unstop",
        "confirm",
        "help",
        "AIDE",
        "info",
        "hours",
        "hello",
        "stop please",
        "Where is my order?",
    ];

    fn purpose() -> impl Strategy<Value = SendPurpose> {
        prop_oneof![
            proptest::sample::select(ResponseKind::ALL.to_vec())
                .prop_map(|kind| SendPurpose::AutoResponse { kind }),
            any::<bool>().prop_map(|session_opt_in| SendPurpose::Conversation { session_opt_in }),
            Just(SendPurpose::Notification),
            Just(SendPurpose::Campaign),
            Just(SendPurpose::Broadcast),
        ]
    }

    fn event() -> impl Strategy<Value = Event> {
        prop_oneof![
            3 => proptest::sample::select(TEXTS.to_vec()).prop_map(Event::Inbound),
            1 => purpose().prop_map(Event::Outbound),
        ]
    }

    proptest! {
        /// Under any sequence of inbound keywords and messages, and any attempts by the business to
        /// send, an opted-out user receives only the opt-out confirmation, or the help response they
        /// just asked for, until an opt-in keyword lifts the opt-out.
        #[test]
        fn opted_out_users_hear_nothing_else(
            level in proptest::sample::select(ConsentLevel::ALL.to_vec()),
            start in proptest::option::of(proptest::sample::select(ConsentStatus::ALL.to_vec())),
            events in proptest::collection::vec(event(), 1..40),
        ) {
            let c = config();
            let p = profile(level);
            let mut status = start;
            for e in events {
                match e {
                    Event::Inbound(text) => {
                        let m = c.match_text(&p, text);
                        let d = decide_inbound(&InboundConsent {
                            current: status, required_level: level, keyword: m.as_ref(), keywords: &c, locale: None,
                        });
                        let list = m.as_ref().map(|m| m.list);
                        let opts_in = matches!(list, Some(KeywordList::OptIn | KeywordList::DoubleOptIn));
                        if status == Some(OptedOut) && !opts_in {
                            prop_assert_eq!(d.status_after, Some(OptedOut));
                            for r in &d.responses {
                                let allowed = r.kind == ResponseKind::OptOutConfirmation
                                    || (r.kind == ResponseKind::HelpResponse && list == Some(KeywordList::Help));
                                prop_assert!(allowed, "{:?} sent to an opted-out user for {:?}", r.kind, text);
                            }
                        }
                        if list == Some(KeywordList::OptOut) {
                            prop_assert_eq!(d.status_after, Some(OptedOut));
                            prop_assert_eq!(kinds(&d), vec![ResponseKind::OptOutConfirmation]);
                            prop_assert!(d.end_open_sessions);
                        }
                        // Every auto-response passes the gate against the status it is sent under.
                        for r in &d.responses {
                            prop_assert_eq!(may_send(d.status_after, level, SendPurpose::AutoResponse { kind: r.kind }), Ok(()));
                        }
                        // The history row, when there is one, describes exactly this change.
                        if let Some(ch) = &d.change {
                            prop_assert_eq!(ch.from, status);
                            prop_assert_eq!(Some(ch.to), d.status_after);
                        } else {
                            prop_assert_eq!(d.status_after, status);
                        }
                        status = d.status_after;
                    }
                    Event::Outbound(purpose) => {
                        if status == Some(OptedOut) {
                            let ok = may_send(status, level, purpose).is_ok();
                            let compliance = matches!(purpose, SendPurpose::AutoResponse { kind: ResponseKind::OptOutConfirmation | ResponseKind::HelpResponse });
                            prop_assert_eq!(ok, compliance, "{:?}", purpose);
                        }
                    }
                }
            }
        }

        /// Consent only moves up the ladder, except through an opt-out keyword.
        #[test]
        fn consent_falls_only_by_opt_out(
            level in proptest::sample::select(ConsentLevel::ALL.to_vec()),
            start in proptest::option::of(proptest::sample::select(ConsentStatus::ALL.to_vec())),
            text in proptest::sample::select(TEXTS.to_vec()),
        ) {
            let d = decide(start, level, text);
            let rank = |s: Option<ConsentStatus>| s.map_or(0, |s| 1 + ConsentStatus::ALL.iter().position(|x| *x == s).unwrap_or(0));
            if d.disposition != Disposition::OptOut && start != Some(OptedOut) {
                prop_assert!(rank(d.status_after) >= rank(start), "{:?} -> {:?} on {}", start, d.status_after, text);
            }
            prop_assert_eq!(d.end_open_sessions, d.disposition == Disposition::OptOut);
        }
    }
}
