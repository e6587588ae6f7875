//! The messaging session lifecycle of DESIGN.md section 5 as a state machine, and the decision of
//! where an inbound customer message goes: the open session, or a new one in the same conversation.
//!
//! Statuses are [`SessionStatus`]: `New` (opened by the business, no customer reply yet), `Waiting`
//! (to be routed or accepted), `Active` (an agent or bot has it), `Consent` (only consent keywords so
//! far, or an inquiry held until consent arrives; never routed), `Inactive` (the agent parked it),
//! and the final `Ended` and `Error`. Every change is a named [`SessionEvent`]; [`TRANSITIONS`] lists
//! every legal one, and [`apply`] refuses the rest with a typed error. Nothing leaves a final status:
//! a later message opens a new session in the same conversation (SE-13).
//!
//! A messaging user has at most one open session per channel. [`plan_inbound`] keeps it that way for
//! inbound messages: it either moves the open session along, or ends it and opens the next one, or
//! opens one when none is open; [`open_outbound`] refuses a business-initiated session while one is
//! open (SE-10).
//!
//! Where the documents are vague this module settles it (AMB-13, AMB-31):
//! - A business-initiated session stays `New` until the customer replies or its reply window (24 h
//!   from the business's last message) runs out. A reply inside the window while the owner is
//!   available makes it `Active` with that owner; otherwise the session ends (`ReplyWindowExpired` or
//!   `OwnerUnavailable`) and the reply opens a `Waiting` session. The timer ends it at the 24 h mark
//!   even without a reply, so the agent can start again.
//! - `Inactive` ends after 30 h ([`SessionPolicy`]); a message after the deadline that beat the timer
//!   ends it the same way and opens a new session.
//! - Bots accept and transfer like agents.
//! - The HELP hand-off (AMB-23, CMP-01..02) is decided here ([`decide_handoff`]) because what it
//!   changes is the session: a service session, routed, with its own implicit opt-in that lasts 24 h
//!   from the customer's last message (CO-23).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Timestamp;
use crate::consent::{ConsentDecision, Disposition};
use crate::keywords::{
    ChannelProfile, KeywordConfig, KeywordFormatError, KeywordMatch, SHORT_CODE_RESPONSE_MAX,
    check_custom_keyword, normalize,
};
use crate::model::{Actor, ConsentStatus, KeywordList, OwnerKind, SessionContext, SessionStatus};

const HOUR: u64 = 3600;

/// The clocks of the lifecycle, in seconds so they read plainly in YAML or TOML.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionPolicy {
    /// How long after the business's last message a customer reply still goes to the agent who
    /// wrote it (SE-16). Default 24 h.
    pub reply_window_secs: u64,
    /// How long an `Inactive` session waits before it ends (SE-07, "about 30 hours"). Default 30 h.
    pub inactive_timeout_secs: u64,
    /// How long a session opt-in lasts after the customer's last message (CO-23). Default 24 h.
    pub session_opt_in_secs: u64,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            reply_window_secs: 24 * HOUR,
            inactive_timeout_secs: 30 * HOUR,
            session_opt_in_secs: 24 * HOUR,
        }
    }
}

impl SessionPolicy {
    pub fn reply_window(&self) -> Duration {
        Duration::from_secs(self.reply_window_secs)
    }

    pub fn inactive_timeout(&self) -> Duration {
        Duration::from_secs(self.inactive_timeout_secs)
    }

    pub fn session_opt_in(&self) -> Duration {
        Duration::from_secs(self.session_opt_in_secs)
    }
}

/// Who holds a session: an agent, a bot, or a queue while it waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SessionOwner {
    pub kind: OwnerKind,
    pub id: Uuid,
}

crate::wire_enum! {
    /// Why a session ended.
    pub enum EndReason: "end reason" {
        /// An agent, the customer or the system closed it (see `ended_by`).
        Closed = "closed",
        OptedOut = "opted_out",
        InactivityTimeout = "inactivity_timeout",
        ReplyWindowExpired = "reply_window_expired",
        OwnerUnavailable = "owner_unavailable",
        /// Its conversation was closed (SE-20): the next message starts a new conversation.
        ConversationClosed = "conversation_closed",
    }
}

/// Why an agent may not start a conversation with a messaging user now (AG-12, SE-10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StartRefused {
    #[error("this customer opted out on this channel")]
    OptedOut,
    #[error("you are not in this channel's queue")]
    NotInQueue,
    #[error("this customer already has an open session; it must end first")]
    SessionOpen,
}

/// Whether an agent may start a conversation (AG-11, AG-12, SE-10): the messaging user has not
/// opted out, the agent is a member of the channel's queue (when it has one), and the user's
/// previous session is over.
pub fn may_start_conversation(
    consent: Option<ConsentStatus>,
    channel_queue: Option<Uuid>,
    agent_queues: &[Uuid],
    has_open_session: bool,
) -> Result<(), StartRefused> {
    if consent == Some(ConsentStatus::OptedOut) {
        return Err(StartRefused::OptedOut);
    }
    if channel_queue.is_some_and(|q| !agent_queues.contains(&q)) {
        return Err(StartRefused::NotInQueue);
    }
    if has_open_session {
        return Err(StartRefused::SessionOpen);
    }
    Ok(())
}

/// A session as the rules see it. Ids belong to the store: the conversation id is shared by every
/// session of a messaging user on a channel, and a session opened by a plan joins that conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionState {
    pub status: SessionStatus,
    pub context: SessionContext,
    /// `Customer` for sessions the customer's message opened; `Agent`, `Bot` or `System` for ones
    /// the business opened.
    pub initiated_by: Actor,
    pub owner: Option<SessionOwner>,
    pub started_at: Timestamp,
    /// When the current status was entered; the inactivity timer counts from here.
    pub status_since: Timestamp,
    /// The latest time an agent or bot took the session.
    pub accepted_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    pub last_customer_message_at: Option<Timestamp>,
    pub last_agent_message_at: Option<Timestamp>,
    pub customer_messages: u32,
    pub agent_messages: u32,
    /// A real inquiry waits in this `Consent` session for consent to arrive.
    pub pending_inquiry: bool,
    /// The session carries its own implicit opt-in (HELP hand-off); see [`session_opt_in_valid`].
    pub session_opt_in: bool,
    pub end_reason: Option<EndReason>,
    pub ended_by: Option<Actor>,
    pub error_reason: Option<String>,
}

impl SessionState {
    fn opened(
        status: SessionStatus,
        initiated_by: Actor,
        context: SessionContext,
        at: Timestamp,
    ) -> Self {
        Self {
            status,
            context,
            initiated_by,
            owner: None,
            started_at: at,
            status_since: at,
            accepted_at: None,
            ended_at: None,
            last_customer_message_at: None,
            last_agent_message_at: None,
            customer_messages: 0,
            agent_messages: 0,
            pending_inquiry: false,
            session_opt_in: false,
            end_reason: None,
            ended_by: None,
            error_reason: None,
        }
    }

    pub fn is_open(&self) -> bool {
        self.status.is_open()
    }

    fn customer_message(&mut self, at: Timestamp) {
        self.customer_messages = self.customer_messages.saturating_add(1);
        self.last_customer_message_at = Some(at);
    }

    fn agent_message(&mut self, at: Timestamp) {
        self.agent_messages = self.agent_messages.saturating_add(1);
        self.last_agent_message_at = Some(at);
    }

    /// The end of the reply window of a business-initiated session.
    pub fn reply_deadline(&self, policy: &SessionPolicy) -> Timestamp {
        self.last_agent_message_at
            .unwrap_or(self.started_at)
            .plus(policy.reply_window())
    }

    /// When an `Inactive` session ends by itself.
    pub fn inactivity_deadline(&self, policy: &SessionPolicy) -> Timestamp {
        self.status_since.plus(policy.inactive_timeout())
    }
}

/// Something that happens to a session. Each variant is one named transition (or family of
/// transitions) of [`TRANSITIONS`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum SessionEvent {
    /// A customer message that is a real inquiry the business may answer. In `New` it goes to the
    /// session's owner, who the caller has checked is available (SE-16); in `Inactive` it sends the
    /// session back to routing (SE-04d, SE-07). `session_opt_in` marks a HELP hand-off.
    CustomerMessage {
        at: Timestamp,
        #[serde(default)]
        session_opt_in: bool,
    },
    /// A customer message made only of a keyword that the auto-responses answer.
    CustomerKeyword { at: Timestamp },
    /// A real inquiry from someone the business may not answer yet; kept, not routed.
    CustomerMessageHeld { at: Timestamp },
    /// `Consent` to `Waiting`: a real inquiry arrived once consent allowed it, or consent arrived
    /// while an inquiry was held (SE-05).
    InquiryAfterConsent {
        at: Timestamp,
        #[serde(default)]
        session_opt_in: bool,
    },
    /// An agent or bot wrote to the customer. System messages (auto-responses, a notification
    /// appended to an open session) are entries without a transition.
    AgentMessage { at: Timestamp },
    /// An agent or bot took a waiting session (SE-06).
    AgentAccepted { at: Timestamp, owner: SessionOwner },
    /// The agent or bot handed the session on; it waits for the next one (SE-04b).
    Transferred {
        at: Timestamp,
        to: Option<SessionOwner>,
    },
    /// The agent went offline during the session (SE-04c).
    AgentWentOffline { at: Timestamp },
    /// The agent parked the session for lack of customer response (SE-07).
    MarkedInactive { at: Timestamp },
    /// The inactivity timeout ran out (SE-07).
    InactivityExpired { at: Timestamp },
    /// No customer reply within the reply window of a business-initiated session (SE-16, AMB-31).
    ReplyWindowExpired { at: Timestamp },
    /// The customer replied to a business-initiated session whose owner cannot take it (SE-16).
    OwnerUnavailable { at: Timestamp },
    /// An agent, the customer or the system ended the session (SE-09, SE-12).
    Ended { at: Timestamp, by: Actor },
    /// The customer opted out (AMB-06). `by` is `Customer` when their own message (STOP) did it,
    /// which then counts as a customer message; `Agent` for CO-11, `System` for a carrier, import or
    /// API opt-out.
    OptedOut { at: Timestamp, by: Actor },
    /// Creating or updating the session failed (SE-08).
    ProcessingFailed { at: Timestamp, reason: String },
}

crate::wire_enum! {
    /// The name of a [`SessionEvent`], for the transition table, logs and errors.
    pub enum SessionEventKind: "session event" {
        CustomerMessage = "customer_message",
        CustomerKeyword = "customer_keyword",
        CustomerMessageHeld = "customer_message_held",
        InquiryAfterConsent = "inquiry_after_consent",
        AgentMessage = "agent_message",
        AgentAccepted = "agent_accepted",
        Transferred = "transferred",
        AgentWentOffline = "agent_went_offline",
        MarkedInactive = "marked_inactive",
        InactivityExpired = "inactivity_expired",
        ReplyWindowExpired = "reply_window_expired",
        OwnerUnavailable = "owner_unavailable",
        Ended = "ended",
        OptedOut = "opted_out",
        ProcessingFailed = "processing_failed",
    }
}

impl SessionEvent {
    pub fn kind(&self) -> SessionEventKind {
        use SessionEventKind as K;
        match self {
            Self::CustomerMessage { .. } => K::CustomerMessage,
            Self::CustomerKeyword { .. } => K::CustomerKeyword,
            Self::CustomerMessageHeld { .. } => K::CustomerMessageHeld,
            Self::InquiryAfterConsent { .. } => K::InquiryAfterConsent,
            Self::AgentMessage { .. } => K::AgentMessage,
            Self::AgentAccepted { .. } => K::AgentAccepted,
            Self::Transferred { .. } => K::Transferred,
            Self::AgentWentOffline { .. } => K::AgentWentOffline,
            Self::MarkedInactive { .. } => K::MarkedInactive,
            Self::InactivityExpired { .. } => K::InactivityExpired,
            Self::ReplyWindowExpired { .. } => K::ReplyWindowExpired,
            Self::OwnerUnavailable { .. } => K::OwnerUnavailable,
            Self::Ended { .. } => K::Ended,
            Self::OptedOut { .. } => K::OptedOut,
            Self::ProcessingFailed { .. } => K::ProcessingFailed,
        }
    }

    pub fn at(&self) -> Timestamp {
        match self {
            Self::CustomerMessage { at, .. }
            | Self::CustomerKeyword { at }
            | Self::CustomerMessageHeld { at }
            | Self::InquiryAfterConsent { at, .. }
            | Self::AgentMessage { at }
            | Self::AgentAccepted { at, .. }
            | Self::Transferred { at, .. }
            | Self::AgentWentOffline { at }
            | Self::MarkedInactive { at }
            | Self::InactivityExpired { at }
            | Self::ReplyWindowExpired { at }
            | Self::OwnerUnavailable { at }
            | Self::Ended { at, .. }
            | Self::OptedOut { at, .. }
            | Self::ProcessingFailed { at, .. } => *at,
        }
    }
}

use SessionEventKind as E;
use SessionStatus as S;

/// Every legal transition: (from, event, to). Anything else is refused. Ended and Error appear
/// only as targets.
pub const TRANSITIONS: &[(SessionStatus, SessionEventKind, SessionStatus)] = &[
    (S::New, E::CustomerMessage, S::Active),
    (S::New, E::CustomerKeyword, S::New),
    (S::New, E::CustomerMessageHeld, S::New),
    (S::New, E::AgentMessage, S::New),
    (S::New, E::ReplyWindowExpired, S::Ended),
    (S::New, E::OwnerUnavailable, S::Ended),
    (S::New, E::Ended, S::Ended),
    (S::New, E::OptedOut, S::Ended),
    (S::New, E::ProcessingFailed, S::Error),
    (S::Waiting, E::CustomerMessage, S::Waiting),
    (S::Waiting, E::CustomerKeyword, S::Waiting),
    (S::Waiting, E::CustomerMessageHeld, S::Waiting),
    (S::Waiting, E::AgentAccepted, S::Active),
    (S::Waiting, E::Ended, S::Ended),
    (S::Waiting, E::OptedOut, S::Ended),
    (S::Waiting, E::ProcessingFailed, S::Error),
    (S::Active, E::CustomerMessage, S::Active),
    (S::Active, E::CustomerKeyword, S::Active),
    (S::Active, E::CustomerMessageHeld, S::Active),
    (S::Active, E::AgentMessage, S::Active),
    (S::Active, E::Transferred, S::Waiting),
    (S::Active, E::AgentWentOffline, S::Waiting),
    (S::Active, E::MarkedInactive, S::Inactive),
    (S::Active, E::Ended, S::Ended),
    (S::Active, E::OptedOut, S::Ended),
    (S::Active, E::ProcessingFailed, S::Error),
    (S::Consent, E::CustomerKeyword, S::Consent),
    (S::Consent, E::CustomerMessageHeld, S::Consent),
    (S::Consent, E::InquiryAfterConsent, S::Waiting),
    (S::Consent, E::Ended, S::Ended),
    (S::Consent, E::OptedOut, S::Ended),
    (S::Consent, E::ProcessingFailed, S::Error),
    (S::Inactive, E::CustomerMessage, S::Waiting),
    (S::Inactive, E::CustomerKeyword, S::Inactive),
    (S::Inactive, E::CustomerMessageHeld, S::Inactive),
    (S::Inactive, E::InactivityExpired, S::Ended),
    (S::Inactive, E::Ended, S::Ended),
    (S::Inactive, E::OptedOut, S::Ended),
    (S::Inactive, E::ProcessingFailed, S::Error),
];

/// A transition that happened: the event's name, both statuses, and the session afterwards with its
/// counters and timestamps updated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    pub event: SessionEventKind,
    pub from: SessionStatus,
    pub to: SessionStatus,
    pub state: SessionState,
}

/// Why a session event or plan was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("a {from} session cannot take the event {event}{}", final_note(*.from))]
    IllegalTransition {
        from: SessionStatus,
        event: SessionEventKind,
    },
    #[error(
        "the customer's reply came at {at}, after the reply window closed at {deadline}; end the session and open a new one"
    )]
    ReplyWindowClosed { at: Timestamp, deadline: Timestamp },
    #[error("{event} is not due until {due}")]
    NotDue {
        event: SessionEventKind,
        due: Timestamp,
    },
    #[error("a queue cannot accept a session; an agent or a bot does")]
    QueueCannotAccept,
    #[error(
        "the messaging user already has an open {status} session on this channel; a new session may start only once it is Ended or Error"
    )]
    AlreadyOpen { status: SessionStatus },
    #[error("the session given as the open one is {status}, which is final")]
    NotOpen { status: SessionStatus },
}

fn final_note(status: SessionStatus) -> &'static str {
    if status.is_open() {
        ""
    } else {
        ": Ended and Error are final"
    }
}

/// Applies one event. Guards the documents imply are checked here: a reply reaches the owner of a
/// `New` session only inside its window, and timers fire only once due.
pub fn apply(
    state: &SessionState,
    event: &SessionEvent,
    policy: &SessionPolicy,
) -> Result<Transition, SessionError> {
    let from = state.status;
    let kind = event.kind();
    let illegal = SessionError::IllegalTransition { from, event: kind };
    if !from.is_open() {
        return Err(illegal);
    }
    let at = event.at();
    let mut next = state.clone();
    let to = match event {
        SessionEvent::CustomerMessage { session_opt_in, .. } => {
            let to = match from {
                S::New => {
                    let deadline = state.reply_deadline(policy);
                    if at >= deadline {
                        return Err(SessionError::ReplyWindowClosed { at, deadline });
                    }
                    next.accepted_at = Some(at);
                    S::Active
                }
                S::Inactive => {
                    // SE-07: the next available agent takes it, not necessarily the last one.
                    next.owner = None;
                    S::Waiting
                }
                S::Waiting | S::Active => from,
                _ => return Err(illegal),
            };
            next.customer_message(at);
            next.session_opt_in |= *session_opt_in;
            to
        }
        SessionEvent::CustomerKeyword { .. } => {
            next.customer_message(at);
            from
        }
        SessionEvent::CustomerMessageHeld { .. } => {
            next.customer_message(at);
            next.pending_inquiry = true;
            from
        }
        SessionEvent::InquiryAfterConsent { session_opt_in, .. } => {
            if from != S::Consent {
                return Err(illegal);
            }
            next.customer_message(at);
            next.pending_inquiry = false;
            next.session_opt_in |= *session_opt_in;
            S::Waiting
        }
        SessionEvent::AgentMessage { .. } => {
            if !matches!(from, S::New | S::Active) {
                return Err(illegal);
            }
            next.agent_message(at);
            from
        }
        SessionEvent::AgentAccepted { owner, .. } => {
            if from != S::Waiting {
                return Err(illegal);
            }
            if owner.kind == OwnerKind::Queue {
                return Err(SessionError::QueueCannotAccept);
            }
            next.owner = Some(*owner);
            next.accepted_at = Some(at);
            S::Active
        }
        SessionEvent::Transferred { to, .. } => {
            if from != S::Active {
                return Err(illegal);
            }
            next.owner = *to;
            S::Waiting
        }
        SessionEvent::AgentWentOffline { .. } => {
            if from != S::Active {
                return Err(illegal);
            }
            next.owner = None;
            S::Waiting
        }
        SessionEvent::MarkedInactive { .. } => {
            if from != S::Active {
                return Err(illegal);
            }
            S::Inactive
        }
        SessionEvent::InactivityExpired { .. } => {
            if from != S::Inactive {
                return Err(illegal);
            }
            let due = state.inactivity_deadline(policy);
            if at < due {
                return Err(SessionError::NotDue { event: kind, due });
            }
            next.end_reason = Some(EndReason::InactivityTimeout);
            next.ended_by = Some(Actor::System);
            S::Ended
        }
        SessionEvent::ReplyWindowExpired { .. } => {
            if from != S::New {
                return Err(illegal);
            }
            let due = state.reply_deadline(policy);
            if at < due {
                return Err(SessionError::NotDue { event: kind, due });
            }
            next.end_reason = Some(EndReason::ReplyWindowExpired);
            next.ended_by = Some(Actor::System);
            S::Ended
        }
        SessionEvent::OwnerUnavailable { .. } => {
            if from != S::New {
                return Err(illegal);
            }
            next.customer_message(at);
            next.end_reason = Some(EndReason::OwnerUnavailable);
            next.ended_by = Some(Actor::System);
            S::Ended
        }
        SessionEvent::Ended { by, .. } => {
            next.end_reason = Some(EndReason::Closed);
            next.ended_by = Some(*by);
            S::Ended
        }
        SessionEvent::OptedOut { by, .. } => {
            if *by == Actor::Customer {
                next.customer_message(at);
            }
            next.end_reason = Some(EndReason::OptedOut);
            next.ended_by = Some(*by);
            S::Ended
        }
        SessionEvent::ProcessingFailed { reason, .. } => {
            next.error_reason = Some(reason.clone());
            S::Error
        }
    };
    if to != from {
        next.status = to;
        next.status_since = at;
    }
    if !to.is_open() {
        next.ended_at = Some(at);
        next.pending_inquiry = false;
    }
    Ok(Transition {
        event: kind,
        from,
        to,
        state: next,
    })
}

/// A timer the store should schedule for a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    pub at: Timestamp,
    pub event: SessionEventKind,
}

/// The next timer of a session: the reply window of a `New` session, the timeout of an `Inactive`
/// one. Re-read after every transition, since messages move both deadlines.
pub fn next_deadline(state: &SessionState, policy: &SessionPolicy) -> Option<Deadline> {
    match state.status {
        S::New => Some(Deadline {
            at: state.reply_deadline(policy),
            event: E::ReplyWindowExpired,
        }),
        S::Inactive => Some(Deadline {
            at: state.inactivity_deadline(policy),
            event: E::InactivityExpired,
        }),
        _ => None,
    }
}

/// The timer event to apply at `now`, if one is due.
pub fn due_event(
    state: &SessionState,
    now: Timestamp,
    policy: &SessionPolicy,
) -> Option<SessionEvent> {
    let deadline = next_deadline(state, policy)?;
    if now < deadline.at {
        return None;
    }
    match deadline.event {
        E::ReplyWindowExpired => Some(SessionEvent::ReplyWindowExpired { at: now }),
        _ => Some(SessionEvent::InactivityExpired { at: now }),
    }
}

/// Whether a session's own implicit opt-in (HELP hand-off) still allows the business to write:
/// the session is open and the customer's last message is less than 24 h old (CO-23).
pub fn session_opt_in_valid(state: &SessionState, now: Timestamp, policy: &SessionPolicy) -> bool {
    state.is_open()
        && state.session_opt_in
        && state
            .last_customer_message_at
            .is_some_and(|t| now < t.plus(policy.session_opt_in()))
}

/// What an inbound customer message is, for the session: consent's [`Disposition`] with the HELP
/// hand-off folded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InboundKind {
    Inquiry,
    Held,
    KeywordOnly {
        consent_completed: bool,
    },
    OptOut,
    /// A HELP hand-off: routed as a service inquiry with a session opt-in.
    Handoff,
}

impl InboundKind {
    pub fn classify(consent: &ConsentDecision, handoff: Option<&Handoff>) -> Self {
        if handoff.is_some() && consent.disposition != Disposition::OptOut {
            return Self::Handoff;
        }
        match consent.disposition {
            Disposition::OptOut => Self::OptOut,
            Disposition::Inquiry => Self::Inquiry,
            Disposition::Held => Self::Held,
            Disposition::KeywordOnly => Self::KeywordOnly {
                consent_completed: consent.consent_completed,
            },
        }
    }
}

/// One inbound customer message, as [`plan_inbound`] needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboundMessage {
    pub at: Timestamp,
    pub kind: InboundKind,
    /// The context of a session this message opens (service or marketing, CMP-12..15). A hand-off
    /// always opens a service session.
    pub context: SessionContext,
    /// Whether the owner of the open `New` session can take the reply now: an agent who is online,
    /// or a bot. Ignored for other statuses.
    pub owner_available: bool,
}

/// Where an inbound message goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "plan", rename_all = "snake_case")]
pub enum InboundPlan {
    /// Append the message to the open session, which takes this transition.
    Reuse(Transition),
    /// End the open session with `ended`, then open `opened` in the same conversation; the message
    /// goes to the new one.
    Replace {
        ended: Transition,
        opened: SessionState,
    },
    /// No session is open: open this one in the conversation and append the message to it. An
    /// opt-out with no open session opens one already `Ended`, so the STOP has a session to live in.
    Open(SessionState),
}

impl InboundPlan {
    /// The session the message lands in.
    pub fn session(&self) -> &SessionState {
        match self {
            Self::Reuse(t) => &t.state,
            Self::Replace { opened, .. } | Self::Open(opened) => opened,
        }
    }

    /// Whether the message put its session in front of routing (bot or queue): it entered `Waiting`
    /// just now.
    pub fn needs_routing(&self) -> bool {
        match self {
            Self::Reuse(t) => t.to == S::Waiting && t.from != S::Waiting,
            Self::Replace { opened, .. } | Self::Open(opened) => opened.status == S::Waiting,
        }
    }
}

fn open_for(msg: &InboundMessage) -> SessionState {
    let (status, context) = match msg.kind {
        InboundKind::Inquiry => (S::Waiting, msg.context),
        InboundKind::Handoff => (S::Waiting, SessionContext::Service),
        InboundKind::Held | InboundKind::KeywordOnly { .. } => (S::Consent, msg.context),
        InboundKind::OptOut => (S::Ended, msg.context),
    };
    let mut s = SessionState::opened(status, Actor::Customer, context, msg.at);
    s.customer_message(msg.at);
    s.pending_inquiry = msg.kind == InboundKind::Held;
    s.session_opt_in = msg.kind == InboundKind::Handoff;
    if status == S::Ended {
        s.ended_at = Some(msg.at);
        s.end_reason = Some(EndReason::OptedOut);
        s.ended_by = Some(Actor::Customer);
    }
    s
}

/// Decides where an inbound customer message goes, given the user's open session on the channel (if
/// any). The caller applies consent first: `msg.kind` comes from [`InboundKind::classify`].
pub fn plan_inbound(
    open: Option<&SessionState>,
    msg: &InboundMessage,
    policy: &SessionPolicy,
) -> Result<InboundPlan, SessionError> {
    let Some(s) = open else {
        return Ok(InboundPlan::Open(open_for(msg)));
    };
    if !s.is_open() {
        return Err(SessionError::NotOpen { status: s.status });
    }
    let at = msg.at;
    // A stale session (its timer due but not yet fired) is ended first, so the message starts
    // afresh; an opt-out simply ends it.
    if msg.kind != InboundKind::OptOut
        && let Some(timer) = due_event(s, at, policy)
    {
        let ended = apply(s, &timer, policy)?;
        return Ok(InboundPlan::Replace {
            ended,
            opened: open_for(msg),
        });
    }
    let session_opt_in = msg.kind == InboundKind::Handoff;
    let event = match (msg.kind, s.status) {
        (InboundKind::OptOut, _) => SessionEvent::OptedOut {
            at,
            by: Actor::Customer,
        },
        (InboundKind::Inquiry | InboundKind::Handoff, S::New) => {
            if !msg.owner_available {
                let ended = apply(s, &SessionEvent::OwnerUnavailable { at }, policy)?;
                return Ok(InboundPlan::Replace {
                    ended,
                    opened: open_for(msg),
                });
            }
            SessionEvent::CustomerMessage { at, session_opt_in }
        }
        (InboundKind::Inquiry | InboundKind::Handoff, S::Consent) => {
            SessionEvent::InquiryAfterConsent { at, session_opt_in }
        }
        (InboundKind::Inquiry | InboundKind::Handoff, _) => {
            SessionEvent::CustomerMessage { at, session_opt_in }
        }
        (InboundKind::Held, _) => SessionEvent::CustomerMessageHeld { at },
        (
            InboundKind::KeywordOnly {
                consent_completed: true,
            },
            S::Consent,
        ) if s.pending_inquiry => SessionEvent::InquiryAfterConsent {
            at,
            session_opt_in: false,
        },
        (InboundKind::KeywordOnly { .. }, _) => SessionEvent::CustomerKeyword { at },
    };
    apply(s, &event, policy).map(InboundPlan::Reuse)
}

/// Opens a business-initiated session (`New`), which SE-10 allows only when the user's previous
/// session on the channel is Ended or Error. Run due timers first: a `New` session past its reply
/// window still counts as open until its timer has ended it.
pub fn open_outbound(
    open: Option<&SessionState>,
    owner: SessionOwner,
    context: SessionContext,
    at: Timestamp,
) -> Result<SessionState, SessionError> {
    if let Some(s) = open
        && s.is_open()
    {
        return Err(SessionError::AlreadyOpen { status: s.status });
    }
    let initiated_by = match owner.kind {
        OwnerKind::Agent => Actor::Agent,
        OwnerKind::Bot => Actor::Bot,
        OwnerKind::Queue => Actor::System,
    };
    let mut s = SessionState::opened(S::New, initiated_by, context, at);
    s.owner = Some(owner);
    Ok(s)
}

/// A previous session of the messaging user on the channel, as the store lists it, for error
/// deduplication. `K` is the store's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriorSession<'a, K> {
    pub key: K,
    pub status: SessionStatus,
    pub error_reason: Option<&'a str>,
    pub started_at: Timestamp,
}

/// Whether a processing failure needs a new `Error` session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorRecord<K> {
    /// Log a new failed session.
    Create,
    /// The user's latest session already failed for this reason: only touch its last-modified time
    /// (SE-08).
    Touch(K),
}

/// SE-08 deduplication: a failure that already put the user's latest session in `Error` for the same
/// reason does not log another failed session. A different reason, or a session opened since, does.
pub fn error_record_needed<K: Copy>(
    sessions: &[PriorSession<'_, K>],
    reason: &str,
) -> ErrorRecord<K> {
    let latest = sessions.iter().max_by_key(|s| s.started_at);
    match latest {
        Some(s) if s.status == S::Error && s.error_reason.map(str::trim) == Some(reason.trim()) => {
            ErrorRecord::Touch(s.key)
        }
        _ => ErrorRecord::Create,
    }
}

/// What to do about a processing failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailurePlan<K> {
    /// The open session fails.
    Fail(Transition),
    /// The same failure already stands: touch that session.
    Touch(K),
    /// Log a new session, born in `Error`.
    Open(SessionState),
}

/// A processing failure for a messaging user: the open session goes to `Error`; with none open, a new
/// failed session is logged unless the same failure already stands.
pub fn plan_failure<K: Copy>(
    open: Option<&SessionState>,
    previous: &[PriorSession<'_, K>],
    reason: &str,
    at: Timestamp,
    context: SessionContext,
    policy: &SessionPolicy,
) -> Result<FailurePlan<K>, SessionError> {
    if let Some(s) = open {
        let event = SessionEvent::ProcessingFailed {
            at,
            reason: reason.trim().to_owned(),
        };
        return apply(s, &event, policy).map(FailurePlan::Fail);
    }
    Ok(match error_record_needed(previous, reason) {
        ErrorRecord::Touch(key) => FailurePlan::Touch(key),
        ErrorRecord::Create => {
            let mut s = SessionState::opened(S::Error, Actor::System, context, at);
            s.ended_at = Some(at);
            s.error_reason = Some(reason.trim().to_owned());
            FailurePlan::Open(s)
        }
    })
}

/// What opens a case on a channel with the HELP hand-off on (AMB-23, CMP-02).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "on", rename_all = "snake_case", deny_unknown_fields)]
pub enum CaseTrigger {
    /// Any help keyword.
    Help,
    /// One custom keyword of the channel, chosen for campaigns.
    Keyword { keyword: String },
    /// Any message that is not a keyword (CMP-02: replies that would otherwise get an error).
    NonKeywordReply,
}

/// The channel option "open a case". `None` on the channel means off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseHandoff {
    pub trigger: CaseTrigger,
    /// Sent after the keyword's own response, e.g. "An agent will text you within 24 hours."
    #[serde(default)]
    pub reply: Option<String>,
}

/// A decided hand-off. The pipeline creates or links the contact and a case (CMP-01 steps 5-6),
/// opens or reuses a service session with a session opt-in, routes it to the channel's queue, and
/// sends `reply` (as `ResponseKind::HandoffReply`) after the consent responses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handoff {
    pub reply: Option<String>,
    /// Until when the session opt-in holds if the customer says nothing more; each later customer
    /// message moves it (see [`session_opt_in_valid`]).
    pub session_opt_in_until: Timestamp,
}

/// Decides whether this inbound message hands the customer to a person. The compliance help response
/// is sent either way (by consent); an opted-out user gets no hand-off, since nothing but the help
/// response may reach them, and neither does a customer whose open session (`open`, its status) is
/// already with a person or in line for one.
pub fn decide_handoff(
    open: Option<SessionStatus>,
    config: Option<&CaseHandoff>,
    keyword: Option<&KeywordMatch>,
    consent: &ConsentDecision,
    at: Timestamp,
    policy: &SessionPolicy,
) -> Option<Handoff> {
    let config = config?;
    if !handoff_applies(open) {
        return None;
    }
    if consent.status_after == Some(ConsentStatus::OptedOut)
        || consent.disposition == Disposition::OptOut
    {
        return None;
    }
    let triggered = match (&config.trigger, keyword) {
        (CaseTrigger::Help, Some(m)) => m.list == KeywordList::Help,
        (CaseTrigger::Keyword { keyword }, Some(m)) => {
            m.list == KeywordList::Custom && normalize(&m.keyword) == normalize(keyword)
        }
        (CaseTrigger::NonKeywordReply, None) => true,
        _ => false,
    };
    triggered.then(|| Handoff {
        reply: config
            .reply
            .as_ref()
            .filter(|r| !r.trim().is_empty())
            .cloned(),
        session_opt_in_until: at.plus(policy.session_opt_in()),
    })
}

/// Whether a message may hand the customer over at all: not while their open session is already
/// with a person or in line for one (Waiting, Active). There it is simply the next message of the
/// conversation; handing over again would repeat the hand-off reply and open another case.
fn handoff_applies(open: Option<SessionStatus>) -> bool {
    !matches!(open, Some(SessionStatus::Waiting | SessionStatus::Active))
}

/// Why a hand-off configuration cannot be saved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandoffError {
    #[error("hand-off keyword '{keyword}' is not valid: {problem}")]
    InvalidKeyword {
        keyword: String,
        problem: KeywordFormatError,
    },
    #[error(
        "hand-off keyword '{keyword}' is not a custom keyword of this channel; add it with its response first"
    )]
    UnknownKeyword { keyword: String },
    #[error(
        "the hand-off reply is {length} characters long; short code auto-responses may have at most 160"
    )]
    ReplyTooLong { length: usize },
}

/// Checks a hand-off option against the channel's keywords before it is saved.
pub fn validate_handoff(
    config: &CaseHandoff,
    keywords: &KeywordConfig,
    profile: &ChannelProfile,
) -> Result<(), HandoffError> {
    if let CaseTrigger::Keyword { keyword } = &config.trigger {
        check_custom_keyword(keyword).map_err(|problem| HandoffError::InvalidKeyword {
            keyword: keyword.clone(),
            problem,
        })?;
        let wanted = normalize(keyword);
        let known = keywords
            .languages
            .iter()
            .flat_map(|s| s.custom.iter())
            .any(|c| normalize(&c.keyword) == wanted);
        if !known {
            return Err(HandoffError::UnknownKeyword {
                keyword: keyword.clone(),
            });
        }
    }
    if let Some(reply) = &config.reply {
        let length = reply.chars().count();
        if profile.is_short_code() && length > SHORT_CODE_RESPONSE_MAX {
            return Err(HandoffError::ReplyTooLong { length });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::{InboundConsent, decide_inbound};
    use crate::keywords::CustomKeyword;
    use crate::model::{ChannelKind, ConsentLevel, NumberType};
    use proptest::prelude::*;

    const H: i64 = 3_600_000;
    const T0: Timestamp = Timestamp(1_000 * H);

    fn t(hours: i64) -> Timestamp {
        Timestamp(T0.0 + hours * H)
    }

    fn agent() -> SessionOwner {
        SessionOwner {
            kind: OwnerKind::Agent,
            id: Uuid::from_u128(7),
        }
    }

    fn bot() -> SessionOwner {
        SessionOwner {
            kind: OwnerKind::Bot,
            id: Uuid::from_u128(9),
        }
    }

    fn policy() -> SessionPolicy {
        SessionPolicy::default()
    }

    fn msg(at: Timestamp, kind: InboundKind) -> InboundMessage {
        InboundMessage {
            at,
            kind,
            context: SessionContext::Service,
            owner_available: true,
        }
    }

    fn step(s: &SessionState, e: SessionEvent) -> SessionState {
        apply(s, &e, &policy()).unwrap().state
    }

    /// A session in `status`, reached through documented transitions from an opening.
    fn session_in(status: SessionStatus) -> SessionState {
        let p = policy();
        let waiting = match plan_inbound(None, &msg(t(0), InboundKind::Inquiry), &p).unwrap() {
            InboundPlan::Open(s) => s,
            other => panic!("{other:?}"),
        };
        let active = || {
            step(
                &waiting,
                SessionEvent::AgentAccepted {
                    at: t(0),
                    owner: agent(),
                },
            )
        };
        match status {
            S::New => open_outbound(None, agent(), SessionContext::Service, t(0)).unwrap(),
            S::Waiting => waiting.clone(),
            S::Active => active(),
            S::Consent => plan_inbound(
                None,
                &msg(
                    t(0),
                    InboundKind::KeywordOnly {
                        consent_completed: false,
                    },
                ),
                &p,
            )
            .unwrap()
            .session()
            .clone(),
            S::Inactive => step(&active(), SessionEvent::MarkedInactive { at: t(0) }),
            S::Ended => step(
                &waiting,
                SessionEvent::Ended {
                    at: t(0),
                    by: Actor::Agent,
                },
            ),
            S::Error => step(
                &waiting,
                SessionEvent::ProcessingFailed {
                    at: t(0),
                    reason: "trigger".into(),
                },
            ),
        }
    }

    /// An event of `kind` whose guards hold for a session that entered its status at t(0).
    fn event_of(kind: SessionEventKind) -> SessionEvent {
        let soon = t(1);
        let late = t(100);
        match kind {
            E::CustomerMessage => SessionEvent::CustomerMessage {
                at: soon,
                session_opt_in: false,
            },
            E::CustomerKeyword => SessionEvent::CustomerKeyword { at: soon },
            E::CustomerMessageHeld => SessionEvent::CustomerMessageHeld { at: soon },
            E::InquiryAfterConsent => SessionEvent::InquiryAfterConsent {
                at: soon,
                session_opt_in: false,
            },
            E::AgentMessage => SessionEvent::AgentMessage { at: soon },
            E::AgentAccepted => SessionEvent::AgentAccepted {
                at: soon,
                owner: bot(),
            },
            E::Transferred => SessionEvent::Transferred { at: soon, to: None },
            E::AgentWentOffline => SessionEvent::AgentWentOffline { at: soon },
            E::MarkedInactive => SessionEvent::MarkedInactive { at: soon },
            E::InactivityExpired => SessionEvent::InactivityExpired { at: late },
            E::ReplyWindowExpired => SessionEvent::ReplyWindowExpired { at: late },
            E::OwnerUnavailable => SessionEvent::OwnerUnavailable { at: soon },
            E::Ended => SessionEvent::Ended {
                at: soon,
                by: Actor::Customer,
            },
            E::OptedOut => SessionEvent::OptedOut {
                at: soon,
                by: Actor::Customer,
            },
            E::ProcessingFailed => SessionEvent::ProcessingFailed {
                at: soon,
                reason: "x".into(),
            },
        }
    }

    fn documented(from: SessionStatus, kind: SessionEventKind) -> Option<SessionStatus> {
        TRANSITIONS
            .iter()
            .find(|(f, k, _)| *f == from && *k == kind)
            .map(|(_, _, to)| *to)
    }

    #[test]
    fn starting_a_conversation_needs_consent_the_queue_and_no_open_session() {
        let q = Uuid::from_u128(1);
        assert_eq!(may_start_conversation(None, Some(q), &[q], false), Ok(()));
        assert_eq!(may_start_conversation(None, None, &[], false), Ok(()));
        assert_eq!(
            may_start_conversation(Some(ConsentStatus::OptedOut), Some(q), &[q], false),
            Err(StartRefused::OptedOut)
        );
        assert_eq!(
            may_start_conversation(None, Some(q), &[Uuid::from_u128(2)], false),
            Err(StartRefused::NotInQueue)
        );
        assert_eq!(
            may_start_conversation(None, Some(q), &[q], true),
            Err(StartRefused::SessionOpen)
        );
    }

    #[test]
    fn no_second_handoff_while_with_a_person() {
        assert!(handoff_applies(None));
        assert!(handoff_applies(Some(SessionStatus::Inactive)));
        assert!(handoff_applies(Some(SessionStatus::Consent)));
        assert!(!handoff_applies(Some(SessionStatus::Waiting)));
        assert!(!handoff_applies(Some(SessionStatus::Active)));
    }

    #[test]
    fn the_machine_is_exactly_the_table() {
        for from in SessionStatus::ALL {
            let s = session_in(*from);
            assert_eq!(s.status, *from);
            for kind in SessionEventKind::ALL {
                let result = apply(&s, &event_of(*kind), &policy());
                match documented(*from, *kind) {
                    Some(to) => {
                        let tr = result.unwrap_or_else(|e| panic!("{from} --{kind}--> {to}: {e}"));
                        assert_eq!(
                            (tr.from, tr.event, tr.to, tr.state.status),
                            (*from, *kind, to, to)
                        );
                    }
                    None => assert_eq!(
                        result.unwrap_err(),
                        SessionError::IllegalTransition {
                            from: *from,
                            event: *kind
                        },
                        "{from} --{kind}"
                    ),
                }
            }
        }
    }

    #[test]
    fn final_states_have_no_exits() {
        assert!(TRANSITIONS.iter().all(|(from, _, _)| from.is_open()));
        for status in [S::Ended, S::Error] {
            let s = session_in(status);
            for kind in SessionEventKind::ALL {
                let err = apply(&s, &event_of(*kind), &policy()).unwrap_err();
                assert!(
                    err.to_string().contains("Ended and Error are final"),
                    "{err}"
                );
            }
        }
    }

    #[test]
    fn every_status_is_reachable_from_an_opening() {
        let mut reached: Vec<SessionStatus> = vec![S::New, S::Waiting, S::Consent];
        loop {
            let before = reached.len();
            for (from, _, to) in TRANSITIONS {
                if reached.contains(from) && !reached.contains(to) {
                    reached.push(*to);
                }
            }
            if reached.len() == before {
                break;
            }
        }
        reached.sort_by_key(|s| s.as_str());
        let mut all = SessionStatus::ALL.to_vec();
        all.sort_by_key(|s| s.as_str());
        assert_eq!(reached, all);
    }

    #[test]
    fn counters_and_timestamps_follow_the_events() {
        let p = policy();
        let s = open_outbound(None, agent(), SessionContext::Service, t(0)).unwrap();
        assert_eq!(
            (s.initiated_by, s.owner, s.started_at),
            (Actor::Agent, Some(agent()), t(0))
        );
        let s = step(&s, SessionEvent::AgentMessage { at: t(1) });
        let s = step(&s, SessionEvent::AgentMessage { at: t(2) });
        assert_eq!((s.agent_messages, s.last_agent_message_at), (2, Some(t(2))));
        let s = step(
            &s,
            SessionEvent::CustomerMessage {
                at: t(3),
                session_opt_in: false,
            },
        );
        assert_eq!(
            (s.status, s.customer_messages, s.accepted_at, s.status_since),
            (S::Active, 1, Some(t(3)), t(3))
        );
        let s = step(&s, SessionEvent::MarkedInactive { at: t(4) });
        assert_eq!(
            next_deadline(&s, &p),
            Some(Deadline {
                at: t(34),
                event: E::InactivityExpired
            })
        );
        assert_eq!(due_event(&s, t(33), &p), None);
        let ended = step(&s, due_event(&s, t(34), &p).unwrap());
        assert_eq!(
            (
                ended.status,
                ended.ended_at,
                ended.end_reason,
                ended.ended_by
            ),
            (
                S::Ended,
                Some(t(34)),
                Some(EndReason::InactivityTimeout),
                Some(Actor::System)
            )
        );
        assert_eq!(next_deadline(&ended, &p), None);
    }

    #[test]
    fn reply_to_agent_initiated_session() {
        let p = policy();
        let new = step(
            &open_outbound(None, agent(), SessionContext::Service, t(0)).unwrap(),
            SessionEvent::AgentMessage { at: t(2) },
        );
        // Inside the window with the agent online: straight to that agent.
        let plan = plan_inbound(Some(&new), &msg(t(25), InboundKind::Inquiry), &p).unwrap();
        let InboundPlan::Reuse(tr) = &plan else {
            panic!("{plan:?}")
        };
        assert_eq!(
            (tr.from, tr.event, tr.to),
            (S::New, E::CustomerMessage, S::Active)
        );
        assert_eq!(tr.state.owner, Some(agent()));
        assert!(!plan.needs_routing());
        // Agent offline: the session ends and the reply waits in a new one.
        let offline = InboundMessage {
            owner_available: false,
            ..msg(t(3), InboundKind::Inquiry)
        };
        let plan = plan_inbound(Some(&new), &offline, &p).unwrap();
        let InboundPlan::Replace { ended, opened } = &plan else {
            panic!("{plan:?}")
        };
        assert_eq!(
            (ended.event, ended.to, ended.state.end_reason),
            (
                E::OwnerUnavailable,
                S::Ended,
                Some(EndReason::OwnerUnavailable)
            )
        );
        assert_eq!(
            (opened.status, opened.initiated_by, opened.customer_messages),
            (S::Waiting, Actor::Customer, 1)
        );
        assert!(plan.needs_routing());
        // Past 24 h since the agent's last message: same, whoever is online.
        let plan = plan_inbound(Some(&new), &msg(t(26), InboundKind::Inquiry), &p).unwrap();
        let InboundPlan::Replace { ended, opened } = &plan else {
            panic!("{plan:?}")
        };
        assert_eq!(
            (ended.event, opened.status),
            (E::ReplyWindowExpired, S::Waiting)
        );
        // The machine itself refuses a late reply to the owner.
        assert_eq!(
            apply(
                &new,
                &SessionEvent::CustomerMessage {
                    at: t(26),
                    session_opt_in: false
                },
                &p
            )
            .unwrap_err(),
            SessionError::ReplyWindowClosed {
                at: t(26),
                deadline: t(26)
            }
        );
        // Keywords do not need the agent: the session stays New.
        let plan = plan_inbound(
            Some(&new),
            &msg(
                t(3),
                InboundKind::KeywordOnly {
                    consent_completed: false,
                },
            ),
            &p,
        )
        .unwrap();
        assert_eq!(plan.session().status, S::New);
        // Timer: ends at the 24 h mark without a reply (AMB-31).
        assert_eq!(
            next_deadline(&new, &p),
            Some(Deadline {
                at: t(26),
                event: E::ReplyWindowExpired
            })
        );
        assert_eq!(
            apply(&new, &SessionEvent::ReplyWindowExpired { at: t(25) }, &p).unwrap_err(),
            SessionError::NotDue {
                event: E::ReplyWindowExpired,
                due: t(26)
            }
        );
    }

    #[test]
    fn inactive_returns_to_waiting_or_ends_after_30_hours() {
        let p = policy();
        let inactive = session_in(S::Inactive);
        let plan = plan_inbound(Some(&inactive), &msg(t(29), InboundKind::Inquiry), &p).unwrap();
        let InboundPlan::Reuse(tr) = &plan else {
            panic!("{plan:?}")
        };
        assert_eq!(
            (tr.from, tr.to, tr.state.owner),
            (S::Inactive, S::Waiting, None)
        );
        assert!(plan.needs_routing());
        let plan = plan_inbound(Some(&inactive), &msg(t(30), InboundKind::Inquiry), &p).unwrap();
        let InboundPlan::Replace { ended, opened } = &plan else {
            panic!("{plan:?}")
        };
        assert_eq!(
            (ended.event, ended.to, opened.status),
            (E::InactivityExpired, S::Ended, S::Waiting)
        );
        // The timeout is configurable.
        let short = SessionPolicy {
            inactive_timeout_secs: 3600,
            ..SessionPolicy::default()
        };
        assert!(due_event(&inactive, t(1), &short).is_some());
        let back: SessionPolicy =
            serde_json::from_str(r#"{"inactive_timeout_secs": 3600}"#).unwrap();
        assert_eq!(back, short);
    }

    #[test]
    fn consent_sessions_wait_for_a_real_inquiry() {
        let p = policy();
        let kw = InboundKind::KeywordOnly {
            consent_completed: false,
        };
        let plan = plan_inbound(None, &msg(t(0), kw), &p).unwrap();
        assert_eq!(plan.session().status, S::Consent);
        assert!(!plan.needs_routing());
        let consent = plan.session().clone();
        let plan = plan_inbound(Some(&consent), &msg(t(1), kw), &p).unwrap();
        assert_eq!(
            (plan.session().status, plan.session().customer_messages),
            (S::Consent, 2)
        );
        let plan = plan_inbound(Some(&consent), &msg(t(2), InboundKind::Inquiry), &p).unwrap();
        let InboundPlan::Reuse(tr) = &plan else {
            panic!("{plan:?}")
        };
        assert_eq!((tr.event, tr.to), (E::InquiryAfterConsent, S::Waiting));
        assert!(plan.needs_routing());
    }

    #[test]
    fn held_inquiry_is_released_when_consent_completes() {
        let p = policy();
        let held = plan_inbound(None, &msg(t(0), InboundKind::Held), &p)
            .unwrap()
            .session()
            .clone();
        assert_eq!((held.status, held.pending_inquiry), (S::Consent, true));
        // A help keyword in between changes nothing.
        let plan = plan_inbound(
            Some(&held),
            &msg(
                t(1),
                InboundKind::KeywordOnly {
                    consent_completed: false,
                },
            ),
            &p,
        )
        .unwrap();
        assert_eq!(plan.session().status, S::Consent);
        let plan = plan_inbound(
            Some(plan.session()),
            &msg(
                t(2),
                InboundKind::KeywordOnly {
                    consent_completed: true,
                },
            ),
            &p,
        )
        .unwrap();
        let InboundPlan::Reuse(tr) = &plan else {
            panic!("{plan:?}")
        };
        assert_eq!(
            (tr.event, tr.to, tr.state.pending_inquiry),
            (E::InquiryAfterConsent, S::Waiting, false)
        );
        // Without a held inquiry, completing consent does not route.
        let kw = plan_inbound(
            None,
            &msg(
                t(0),
                InboundKind::KeywordOnly {
                    consent_completed: false,
                },
            ),
            &p,
        )
        .unwrap()
        .session()
        .clone();
        let plan = plan_inbound(
            Some(&kw),
            &msg(
                t(1),
                InboundKind::KeywordOnly {
                    consent_completed: true,
                },
            ),
            &p,
        )
        .unwrap();
        assert_eq!(plan.session().status, S::Consent);
    }

    #[test]
    fn opt_out_ends_whatever_is_open() {
        let p = policy();
        for status in [S::New, S::Waiting, S::Active, S::Consent, S::Inactive] {
            let s = session_in(status);
            let plan = plan_inbound(Some(&s), &msg(t(100), InboundKind::OptOut), &p).unwrap();
            let InboundPlan::Reuse(tr) = &plan else {
                panic!("{plan:?}")
            };
            assert_eq!(
                (tr.event, tr.to, tr.state.end_reason),
                (E::OptedOut, S::Ended, Some(EndReason::OptedOut))
            );
        }
        let plan = plan_inbound(None, &msg(t(0), InboundKind::OptOut), &p).unwrap();
        let InboundPlan::Open(s) = &plan else {
            panic!("{plan:?}")
        };
        assert_eq!(
            (s.status, s.customer_messages, s.end_reason),
            (S::Ended, 1, Some(EndReason::OptedOut))
        );
        // An agent's opt-out (CO-11) ends the session without counting a customer message.
        let active = session_in(S::Active);
        let s = step(
            &active,
            SessionEvent::OptedOut {
                at: t(2),
                by: Actor::Agent,
            },
        );
        assert_eq!(
            (s.status, s.ended_by, s.customer_messages),
            (S::Ended, Some(Actor::Agent), active.customer_messages)
        );
        let ended = session_in(S::Ended);
        assert_eq!(
            plan_inbound(Some(&ended), &msg(t(1), InboundKind::Inquiry), &p).unwrap_err(),
            SessionError::NotOpen { status: S::Ended }
        );
    }

    #[test]
    fn only_one_open_session_for_outbound() {
        let waiting = session_in(S::Waiting);
        let err =
            open_outbound(Some(&waiting), agent(), SessionContext::Service, t(1)).unwrap_err();
        assert_eq!(err, SessionError::AlreadyOpen { status: S::Waiting });
        assert!(err.to_string().contains("only once it is Ended or Error"));
        open_outbound(
            Some(&session_in(S::Error)),
            agent(),
            SessionContext::Service,
            t(1),
        )
        .unwrap();
        assert_eq!(
            apply(
                &waiting,
                &SessionEvent::AgentAccepted {
                    at: t(1),
                    owner: SessionOwner {
                        kind: OwnerKind::Queue,
                        id: Uuid::nil()
                    }
                },
                &policy()
            )
            .unwrap_err(),
            SessionError::QueueCannotAccept
        );
    }

    #[test]
    fn bots_accept_and_transfer_like_agents() {
        let s = step(
            &session_in(S::Waiting),
            SessionEvent::AgentAccepted {
                at: t(1),
                owner: bot(),
            },
        );
        assert_eq!((s.status, s.owner), (S::Active, Some(bot())));
        let queue = SessionOwner {
            kind: OwnerKind::Queue,
            id: Uuid::from_u128(3),
        };
        let s = step(
            &s,
            SessionEvent::Transferred {
                at: t(2),
                to: Some(queue),
            },
        );
        assert_eq!((s.status, s.owner), (S::Waiting, Some(queue)));
        let s = step(
            &s,
            SessionEvent::AgentAccepted {
                at: t(3),
                owner: agent(),
            },
        );
        assert_eq!((s.status, s.accepted_at), (S::Active, Some(t(3))));
        let s = step(&s, SessionEvent::AgentWentOffline { at: t(4) });
        assert_eq!((s.status, s.owner), (S::Waiting, None));
    }

    #[test]
    fn errors_are_deduplicated_per_user_and_reason() {
        let p = policy();
        let prior = |key: u8, status, reason: Option<&'static str>, h| PriorSession {
            key,
            status,
            error_reason: reason,
            started_at: t(h),
        };
        assert_eq!(
            error_record_needed::<u8>(&[], "required field"),
            ErrorRecord::Create
        );
        let history = [
            prior(1, S::Ended, None, 0),
            prior(2, S::Error, Some("required field"), 5),
        ];
        assert_eq!(
            error_record_needed(&history, " required field "),
            ErrorRecord::Touch(2)
        );
        assert_eq!(
            error_record_needed(&history, "bad trigger"),
            ErrorRecord::Create
        );
        // A session opened after the failure means the failure is not the latest word.
        let later = [history[0], history[1], prior(3, S::Ended, None, 6)];
        assert_eq!(
            error_record_needed(&later, "required field"),
            ErrorRecord::Create
        );
        match plan_failure(
            None,
            &history,
            "required field",
            t(7),
            SessionContext::Service,
            &p,
        )
        .unwrap()
        {
            FailurePlan::Touch(k) => assert_eq!(k, 2),
            other => panic!("{other:?}"),
        }
        match plan_failure(
            None,
            &history,
            "bad trigger",
            t(7),
            SessionContext::Service,
            &p,
        )
        .unwrap()
        {
            FailurePlan::Open(s) => assert_eq!(
                (s.status, s.error_reason.as_deref()),
                (S::Error, Some("bad trigger"))
            ),
            other => panic!("{other:?}"),
        }
        let open = session_in(S::Active);
        match plan_failure(
            Some(&open),
            &history,
            "required field",
            t(7),
            SessionContext::Service,
            &p,
        )
        .unwrap()
        {
            FailurePlan::Fail(tr) => assert_eq!((tr.to, tr.state.ended_at), (S::Error, Some(t(7)))),
            other => panic!("{other:?}"),
        }
    }

    fn keyword_setup() -> (KeywordConfig, ChannelProfile) {
        let mut c = KeywordConfig::defaults(
            "Acme: help at help@acme.example. Msg&data rates may apply. STOP to cancel.",
        );
        c.languages[0].custom.push(CustomKeyword {
            keyword: "AGENT".into(),
            response: "Connecting you.".into(),
        });
        let mut p = ChannelProfile::new(ChannelKind::Sms, ConsentLevel::Implicit);
        p.number_type = Some(NumberType::ShortCode);
        (c, p)
    }

    fn consent_for(
        c: &KeywordConfig,
        p: &ChannelProfile,
        current: Option<ConsentStatus>,
        text: &str,
    ) -> (Option<KeywordMatch>, ConsentDecision) {
        let m = c.match_text(p, text);
        let d = decide_inbound(&InboundConsent {
            current,
            required_level: p.required_level,
            keyword: m.as_ref(),
            keywords: c,
            locale: None,
        });
        (m, d)
    }

    #[test]
    fn help_handoff_opens_a_routed_service_session() {
        let p = policy();
        let (c, profile) = keyword_setup();
        let cfg = CaseHandoff {
            trigger: CaseTrigger::Help,
            reply: Some("An agent will text you within 24 hours.".into()),
        };
        validate_handoff(&cfg, &c, &profile).unwrap();
        let (m, d) = consent_for(&c, &profile, Some(ConsentStatus::ExplicitlyOptedIn), "HELP");
        let h = decide_handoff(None, Some(&cfg), m.as_ref(), &d, t(0), &p).unwrap();
        assert_eq!(h.session_opt_in_until, t(24));
        assert_eq!(
            h.reply.as_deref(),
            Some("An agent will text you within 24 hours.")
        );
        // The compliance help response still goes out.
        assert_eq!(d.responses.len(), 1);
        let kind = InboundKind::classify(&d, Some(&h));
        assert_eq!(kind, InboundKind::Handoff);
        let plan = plan_inbound(
            None,
            &InboundMessage {
                context: SessionContext::Marketing,
                ..msg(t(0), kind)
            },
            &p,
        )
        .unwrap();
        let s = plan.session().clone();
        assert_eq!(
            (s.status, s.context, s.session_opt_in),
            (S::Waiting, SessionContext::Service, true)
        );
        assert!(plan.needs_routing());
        assert!(session_opt_in_valid(&s, t(23), &p));
        assert!(!session_opt_in_valid(&s, t(24), &p));
        // Each customer message restarts the 24 hours.
        let s = step(
            &step(
                &s,
                SessionEvent::AgentAccepted {
                    at: t(1),
                    owner: agent(),
                },
            ),
            SessionEvent::CustomerMessage {
                at: t(20),
                session_opt_in: false,
            },
        );
        assert!(session_opt_in_valid(&s, t(43), &p));
        // Without the option, HELP is only a keyword.
        assert_eq!(decide_handoff(None, None, m.as_ref(), &d, t(0), &p), None);
        assert_eq!(
            InboundKind::classify(&d, None),
            InboundKind::KeywordOnly {
                consent_completed: false
            }
        );
    }

    #[test]
    fn handoff_triggers() {
        let p = policy();
        let (c, profile) = keyword_setup();
        let by_keyword = CaseHandoff {
            trigger: CaseTrigger::Keyword {
                keyword: "agent".into(),
            },
            reply: None,
        };
        validate_handoff(&by_keyword, &c, &profile).unwrap();
        let by_reply = CaseHandoff {
            trigger: CaseTrigger::NonKeywordReply,
            reply: Some("We'll be in touch.".into()),
        };
        let user = Some(ConsentStatus::ImplicitlyOptedIn);
        let fires = |cfg: &CaseHandoff, text: &str, current| {
            let (m, d) = consent_for(&c, &profile, current, text);
            decide_handoff(None, Some(cfg), m.as_ref(), &d, t(0), &p).is_some()
        };
        assert!(fires(&by_keyword, "Agent!", user));
        assert!(!fires(&by_keyword, "help", user));
        assert!(!fires(&by_keyword, "I want an agent", user));
        assert!(fires(&by_reply, "I want an agent", user));
        assert!(!fires(&by_reply, "help", user));
        // Never for an opted-out user, and never on the opt-out itself.
        let help = CaseHandoff {
            trigger: CaseTrigger::Help,
            reply: None,
        };
        assert!(!fires(&help, "help", Some(ConsentStatus::OptedOut)));
        assert!(!fires(&by_reply, "hello", Some(ConsentStatus::OptedOut)));
        assert!(!fires(&by_reply, "stop", user));
    }

    #[test]
    fn handoff_validation() {
        let (c, profile) = keyword_setup();
        let unknown = CaseHandoff {
            trigger: CaseTrigger::Keyword {
                keyword: "DEALS".into(),
            },
            reply: None,
        };
        assert_eq!(
            validate_handoff(&unknown, &c, &profile).unwrap_err(),
            HandoffError::UnknownKeyword {
                keyword: "DEALS".into()
            }
        );
        let bad = CaseHandoff {
            trigger: CaseTrigger::Keyword {
                keyword: "DEAL 2".into(),
            },
            reply: None,
        };
        assert!(matches!(
            validate_handoff(&bad, &c, &profile).unwrap_err(),
            HandoffError::InvalidKeyword { .. }
        ));
        let long = CaseHandoff {
            trigger: CaseTrigger::Help,
            reply: Some("x".repeat(161)),
        };
        assert_eq!(
            validate_handoff(&long, &c, &profile).unwrap_err(),
            HandoffError::ReplyTooLong { length: 161 }
        );
        let cfg: CaseHandoff =
            serde_json::from_str(r#"{"trigger":{"on":"keyword","keyword":"AGENT"},"reply":"ok"}"#)
                .unwrap();
        assert_eq!(
            cfg.trigger,
            CaseTrigger::Keyword {
                keyword: "AGENT".into()
            }
        );
    }

    fn kind_strategy() -> impl Strategy<Value = InboundKind> {
        prop_oneof![
            Just(InboundKind::Inquiry),
            Just(InboundKind::Held),
            any::<bool>()
                .prop_map(|consent_completed| InboundKind::KeywordOnly { consent_completed }),
            Just(InboundKind::OptOut),
            Just(InboundKind::Handoff),
        ]
    }

    fn event_strategy() -> impl Strategy<Value = (SessionEventKind, i64)> {
        (
            proptest::sample::select(SessionEventKind::ALL.to_vec()),
            0i64..40,
        )
    }

    fn event_at(kind: SessionEventKind, at: Timestamp) -> SessionEvent {
        match event_of(kind) {
            SessionEvent::CustomerMessage { session_opt_in, .. } => {
                SessionEvent::CustomerMessage { at, session_opt_in }
            }
            SessionEvent::CustomerKeyword { .. } => SessionEvent::CustomerKeyword { at },
            SessionEvent::CustomerMessageHeld { .. } => SessionEvent::CustomerMessageHeld { at },
            SessionEvent::InquiryAfterConsent { session_opt_in, .. } => {
                SessionEvent::InquiryAfterConsent { at, session_opt_in }
            }
            SessionEvent::AgentMessage { .. } => SessionEvent::AgentMessage { at },
            SessionEvent::AgentAccepted { owner, .. } => SessionEvent::AgentAccepted { at, owner },
            SessionEvent::Transferred { to, .. } => SessionEvent::Transferred { at, to },
            SessionEvent::AgentWentOffline { .. } => SessionEvent::AgentWentOffline { at },
            SessionEvent::MarkedInactive { .. } => SessionEvent::MarkedInactive { at },
            SessionEvent::InactivityExpired { .. } => SessionEvent::InactivityExpired { at },
            SessionEvent::ReplyWindowExpired { .. } => SessionEvent::ReplyWindowExpired { at },
            SessionEvent::OwnerUnavailable { .. } => SessionEvent::OwnerUnavailable { at },
            SessionEvent::Ended { by, .. } => SessionEvent::Ended { at, by },
            SessionEvent::OptedOut { by, .. } => SessionEvent::OptedOut { at, by },
            SessionEvent::ProcessingFailed { reason, .. } => {
                SessionEvent::ProcessingFailed { at, reason }
            }
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Inbound {
            kind: InboundKind,
            owner_available: bool,
        },
        OpenOutbound,
        Event(SessionEventKind),
        Fail(bool),
        Tick,
    }

    fn op_strategy() -> impl Strategy<Value = (Op, i64)> {
        let op = prop_oneof![
            4 => (kind_strategy(), any::<bool>()).prop_map(|(kind, owner_available)| Op::Inbound { kind, owner_available }),
            1 => Just(Op::OpenOutbound),
            3 => proptest::sample::select(SessionEventKind::ALL.to_vec()).prop_map(Op::Event),
            1 => any::<bool>().prop_map(Op::Fail),
            1 => Just(Op::Tick),
        ];
        (op, 0i64..40)
    }

    fn assert_documented(tr: &Transition) -> Result<(), TestCaseError> {
        prop_assert_eq!(
            documented(tr.from, tr.event),
            Some(tr.to),
            "undocumented {:?}",
            tr
        );
        prop_assert_eq!(tr.state.status, tr.to);
        Ok(())
    }

    proptest! {
        /// From any status, any sequence of events only ever takes documented transitions, and once
        /// a session is Ended or Error every further event is refused.
        #[test]
        fn only_documented_transitions(
            start in proptest::sample::select(SessionStatus::ALL.to_vec()),
            events in proptest::collection::vec(event_strategy(), 1..30),
        ) {
            let p = policy();
            let mut s = session_in(start);
            let mut now = t(0);
            for (kind, hours) in events {
                now = now.plus(Duration::from_secs(u64::try_from(hours).unwrap() * 3600));
                let was_final = !s.is_open();
                match apply(&s, &event_at(kind, now), &p) {
                    Ok(tr) => {
                        prop_assert!(!was_final, "a final session moved: {:?}", tr);
                        assert_documented(&tr)?;
                        prop_assert!(tr.state.customer_messages >= s.customer_messages);
                        prop_assert!(tr.state.agent_messages >= s.agent_messages);
                        prop_assert_eq!(tr.state.ended_at.is_some(), !tr.state.is_open());
                        s = tr.state;
                    }
                    Err(SessionError::IllegalTransition { .. }) => prop_assert!(was_final || documented(s.status, kind).is_none()),
                    Err(SessionError::ReplyWindowClosed { .. } | SessionError::NotDue { .. } | SessionError::QueueCannotAccept) => {
                        prop_assert!(documented(s.status, kind).is_some());
                    }
                    Err(e) => prop_assert!(false, "unexpected {e}"),
                }
            }
        }

        /// A small in-memory store of one user's sessions on one channel, driven by any mix of
        /// inbound messages, business-opened sessions, agent actions, failures and timers, never
        /// holds two open sessions.
        #[test]
        fn at_most_one_open_session(ops in proptest::collection::vec(op_strategy(), 1..60)) {
            let p = policy();
            let mut sessions: Vec<SessionState> = Vec::new();
            let mut now = t(0);
            for (op, hours) in ops {
                now = now.plus(Duration::from_secs(u64::try_from(hours).unwrap() * 1800));
                let open_idx = sessions.iter().position(SessionState::is_open);
                let open = open_idx.and_then(|i| sessions.get(i)).cloned();
                match op {
                    Op::Inbound { kind, owner_available } => {
                        let m = InboundMessage { at: now, kind, context: SessionContext::Service, owner_available };
                        match plan_inbound(open.as_ref(), &m, &p).unwrap() {
                            InboundPlan::Reuse(tr) => {
                                assert_documented(&tr)?;
                                sessions[open_idx.unwrap()] = tr.state;
                            }
                            InboundPlan::Replace { ended, opened } => {
                                assert_documented(&ended)?;
                                prop_assert!(!ended.state.is_open());
                                sessions[open_idx.unwrap()] = ended.state;
                                sessions.push(opened);
                            }
                            InboundPlan::Open(s) => {
                                prop_assert!(open.is_none());
                                sessions.push(s);
                            }
                        }
                    }
                    Op::OpenOutbound => match open_outbound(open.as_ref(), agent(), SessionContext::Service, now) {
                        Ok(s) => sessions.push(s),
                        Err(e) => prop_assert_eq!(e, SessionError::AlreadyOpen { status: open.unwrap().status }),
                    },
                    Op::Event(kind) => {
                        if let (Some(i), Some(s)) = (open_idx, open.as_ref())
                            && let Ok(tr) = apply(s, &event_at(kind, now), &p)
                        {
                            assert_documented(&tr)?;
                            sessions[i] = tr.state;
                        }
                    }
                    Op::Fail(same) => {
                        let reason = if same { "required field" } else { "trigger" };
                        let prior: Vec<_> = sessions.iter().enumerate().map(|(key, s)| PriorSession {
                            key, status: s.status, error_reason: s.error_reason.as_deref(), started_at: s.started_at,
                        }).collect();
                        match plan_failure(open.as_ref(), &prior, reason, now, SessionContext::Service, &p).unwrap() {
                            FailurePlan::Fail(tr) => {
                                assert_documented(&tr)?;
                                sessions[open_idx.unwrap()] = tr.state;
                            }
                            FailurePlan::Touch(key) => prop_assert_eq!(sessions[key].error_reason.as_deref(), Some(reason)),
                            FailurePlan::Open(s) => {
                                prop_assert!(!s.is_open());
                                sessions.push(s);
                            }
                        }
                    }
                    Op::Tick => {
                        if let (Some(i), Some(s)) = (open_idx, open.as_ref())
                            && let Some(e) = due_event(s, now, &p)
                        {
                            let tr = apply(s, &e, &p).unwrap();
                            assert_documented(&tr)?;
                            sessions[i] = tr.state;
                        }
                    }
                }
                let open_count = sessions.iter().filter(|s| s.is_open()).count();
                prop_assert!(open_count <= 1, "{} open sessions: {:?}", open_count, sessions);
            }
        }
    }
}
