//! Sessions as rows and as the rules see them: the one translation between the store's
//! [`Session`] row and `parley-core`'s [`SessionState`], shared by every stage that moves a
//! session (inbound, timers, routing, agents' actions, compose).

use parley_core::Timestamp;
use parley_core::model::{Actor, OwnerKind, SessionContext, SessionStatus};
use parley_core::new_id;
use parley_core::session::{EndReason, SessionOwner, SessionState};
use parley_store::Session;
use uuid::Uuid;

/// A stored session as the rules see it.
pub fn state_of(s: &Session) -> SessionState {
    let owner = match (s.owner_kind, s.owner_id) {
        (Some(kind @ (OwnerKind::Agent | OwnerKind::Bot)), Some(id)) => {
            Some(SessionOwner { kind, id })
        }
        _ => None,
    };
    SessionState {
        status: s.status,
        context: s.context,
        initiated_by: s.initiated_by,
        owner,
        started_at: s.started_at,
        status_since: s.status_since,
        accepted_at: s.accepted_at,
        ended_at: s.ended_at,
        last_customer_message_at: s.last_customer_at,
        last_agent_message_at: s.last_agent_at,
        customer_messages: u32::try_from(s.customer_messages).unwrap_or(u32::MAX),
        agent_messages: u32::try_from(s.agent_messages).unwrap_or(u32::MAX),
        pending_inquiry: s.pending_inquiry,
        session_opt_in: s.session_opt_in,
        end_reason: s
            .end_reason
            .as_deref()
            .and_then(|r| r.parse::<EndReason>().ok()),
        ended_by: s.ended_by,
        error_reason: s.error_reason.clone(),
    }
}

/// The stored row of `base` after the rules moved it to `state`.
pub fn row_of(base: &Session, state: &SessionState) -> Session {
    let mut row = base.clone();
    apply_state(&mut row, state);
    row
}

/// Whose a new session is: named, because the three ids are all `Uuid`s and a swap would compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionOf {
    pub channel_id: Uuid,
    pub messaging_user_id: Uuid,
    pub conversation_id: Uuid,
}

/// A session that only holds the transcript of a message the business sent to someone with no
/// open session (a campaign, a notification: SE-19): created already ended, so a reply opens a
/// new session in the same conversation as after any ended one.
pub fn transcript_session(of: SessionOf, context: SessionContext, now: Timestamp) -> Session {
    Session {
        id: new_id(),
        conversation_id: of.conversation_id,
        channel_id: of.channel_id,
        messaging_user_id: of.messaging_user_id,
        status: SessionStatus::Ended,
        context,
        owner_kind: None,
        owner_id: None,
        queue_id: None,
        case_id: None,
        error_reason: None,
        agent_messages: 0,
        customer_messages: 0,
        started_at: now,
        accepted_at: None,
        ended_at: Some(now),
        last_customer_at: None,
        last_agent_at: None,
        initiated_by: Actor::System,
        status_since: now,
        pending_inquiry: false,
        session_opt_in: false,
        end_reason: Some(parley_core::session::EndReason::Closed.as_str().to_owned()),
        ended_by: Some(Actor::System),
        updated_at: now,
    }
}

/// A new session row for a state the rules opened.
pub fn new_session_row(state: &SessionState, of: SessionOf) -> Session {
    let SessionOf {
        channel_id,
        messaging_user_id: user_id,
        conversation_id,
    } = of;
    let mut row = Session {
        id: new_id(),
        conversation_id,
        channel_id,
        messaging_user_id: user_id,
        status: state.status,
        context: state.context,
        owner_kind: None,
        owner_id: None,
        queue_id: None,
        case_id: None,
        error_reason: None,
        agent_messages: 0,
        customer_messages: 0,
        started_at: state.started_at,
        accepted_at: None,
        ended_at: None,
        last_customer_at: None,
        last_agent_at: None,
        initiated_by: state.initiated_by,
        status_since: state.status_since,
        pending_inquiry: false,
        session_opt_in: false,
        end_reason: None,
        ended_by: None,
        updated_at: state.status_since,
    };
    apply_state(&mut row, state);
    row
}

fn apply_state(row: &mut Session, state: &SessionState) {
    row.status = state.status;
    row.context = state.context;
    match state.owner {
        Some(o) => {
            row.owner_kind = Some(o.kind);
            row.owner_id = Some(o.id);
        }
        None if row.owner_kind != Some(OwnerKind::Queue) => {
            row.owner_kind = None;
            row.owner_id = None;
        }
        None => {}
    }
    row.accepted_at = state.accepted_at;
    row.ended_at = state.ended_at;
    row.last_customer_at = state.last_customer_message_at;
    row.last_agent_at = state.last_agent_message_at;
    row.customer_messages = i64::from(state.customer_messages);
    row.agent_messages = i64::from(state.agent_messages);
    row.status_since = state.status_since;
    row.pending_inquiry = state.pending_inquiry;
    row.session_opt_in = state.session_opt_in;
    row.end_reason = state.end_reason.map(|r| r.as_str().to_owned());
    row.ended_by = state.ended_by;
    row.error_reason = state.error_reason.clone();
}
