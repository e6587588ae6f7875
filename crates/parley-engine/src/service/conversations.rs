//! Close Conversation (SE-20): one write for the API, the console and anything else that closes a
//! customer's conversation. Every open session of it ends (reason `conversation_closed`), each
//! gets the reason as a transcript event, and the closure row makes the customer's next message
//! start a new conversation. Who may close is the caller's check (`end_sessions` and write access
//! to the sessions); this function trusts it.

use parley_core::conversation::{close_reason, close_session};
use parley_core::model::{Actor, Direction, EntryStatus};
use parley_core::new_id;
use parley_store::{ConsoleChange, ConversationClosure, Entry, InboundWrite, Session};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::agents::{AgentActionError, AgentDesk, guard, refused, session_event};
use crate::channel_rules::behaviour_of;
use crate::session_rows::{row_of, state_of};

/// Who closes: a signed-in agent (or an agent-bound token), or a token acting as no agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClosedBy {
    pub agent_id: Option<Uuid>,
    pub token_id: Option<Uuid>,
}

/// What a close did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConversationClosed {
    pub conversation_id: Uuid,
    /// The sessions that were open and are now ended.
    pub ended_sessions: Vec<Uuid>,
    pub reason: String,
}

/// Closes a conversation: 404 for one without sessions, 409 for one closed already (or a session
/// that moved meanwhile), 422 for a blank or overlong reason.
pub async fn close_conversation(
    desk: &AgentDesk,
    conversation_id: Uuid,
    reason: &str,
    by: ClosedBy,
) -> Result<ConversationClosed, AgentActionError> {
    let reason = close_reason(reason).map_err(|e| AgentActionError::Invalid(e.to_string()))?;
    let sessions = desk.store.sessions_of_conversation(conversation_id).await?;
    let Some(latest) = sessions.last().cloned() else {
        return Err(AgentActionError::NotFound("conversation"));
    };
    if desk
        .store
        .conversation_closure(conversation_id)
        .await?
        .is_some()
    {
        return Err(AgentActionError::Conflict(
            "this conversation is already closed".into(),
        ));
    }
    let now = desk.clock.now();
    let actor = if by.agent_id.is_some() {
        Actor::Agent
    } else {
        Actor::System
    };
    let open: Vec<&Session> = sessions.iter().filter(|s| s.status.is_open()).collect();
    let mut change = ConsoleChange::default();
    let mut effects = InboundWrite::default();
    for session in &open {
        let t = close_session(&state_of(session), now, actor).map_err(refused)?;
        let row = row_of(session, &t.state);
        // The customer hears what an End would tell them (the channel's End Conversation reply).
        let channel = desk.store.channel(session.channel_id).await?;
        let older = behaviour_of(&channel.settings)
            .ok()
            .and_then(|b| b.end_conversation_reply);
        desk.auto_reply(session, |a| &a.end_conversation, older, &mut effects, now)
            .await?;
        if let Some(agent) = by.agent_id {
            change.events.push(session_event(agent, &row));
        }
        if let Some(owner) = crate::feed::owner_agent(session).filter(|o| Some(*o) != by.agent_id) {
            change.events.push(session_event(owner, &row));
        }
        change.work_deletes.push(session.id);
        change.sessions.push(guard(session, row));
    }
    // The reason goes into the transcript of every session the close ended, or of the latest one
    // when nothing was open, so whoever reads the conversation later sees why it stopped.
    let noted: Vec<Uuid> = if open.is_empty() {
        vec![latest.id]
    } else {
        open.iter().map(|s| s.id).collect()
    };
    for session_id in noted {
        effects.entries.push(Entry {
            id: new_id(),
            session_id,
            direction: Direction::Event,
            actor,
            actor_id: by.agent_id,
            body: reason.clone(),
            media: Vec::new(),
            provider_message_id: None,
            // Recorded, never sent: the status of what reached Parley and goes no further.
            status: EntryStatus::Received,
            error_code: None,
            provider_error: None,
            created_at: now,
            updated_at: now,
            template: None,
            component: None,
        });
    }
    change.effects = Some(effects);
    change.closures.push(ConversationClosure {
        conversation_id,
        channel_id: latest.channel_id,
        messaging_user_id: latest.messaging_user_id,
        reason: reason.clone(),
        closed_by_agent: by.agent_id,
        closed_by_token: by.token_id,
        closed_at: now,
    });
    desk.commit(&change).await?;
    desk.router.wake();
    Ok(ConversationClosed {
        conversation_id,
        ended_sessions: open.iter().map(|s| s.id).collect(),
        reason,
    })
}
