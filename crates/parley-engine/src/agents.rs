//! What agents do in the console: presence, accept and decline offers, end, mark inactive,
//! transfer, read, opt a customer out on request, link a session to a case or contact, and start a
//! conversation; and what the console reads: an agent's work, a customer's whole history, the
//! estimated wait. The supervisor's board and pick-from-queue are in [`crate::board`].
//!
//! Every action reads, asks `parley_core` (the session state machine, routing's capacity and wait
//! rules), and writes one [`ConsoleChange`] whose session updates only apply if nobody moved the
//! session since it was read: two agents accepting at once get one success and one conflict.

use std::collections::HashMap;
use std::sync::Arc;

use parley_core::access::{Permission, PermissionSet};
use parley_core::model::{
    Actor, ChannelKind, ConsentSource, ConsentStatus, OwnerKind, Presence, SessionStatus,
};
use parley_core::routing::{AcceptSample, WorkTarget, estimated_wait};
use parley_core::session::{SessionEvent, SessionOwner, SessionPolicy, apply, next_deadline};
use parley_core::{Clock, ErrorCode, Timestamp};
use parley_store::{
    AcceptWrite, Agent, Channel, ConsentWrite, ConsoleChange, ConsoleEventKind, ContactLink,
    GuardedSession, InboundWrite, MessagingUser, NewConsoleEvent, ReadMarker, Session, Store,
    StoreError,
};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use crate::channel_rules::behaviour_of;
use crate::compose::{Author, Compose, ComposeError, OutgoingMessage};
use crate::feed::{CONNECTION_GRACE, Feed};
use crate::jobs::{self, send_job};
use crate::routing::{
    Router, owned_by, presence_event, queue_events, queue_of, target_of, waiting_row,
};
use crate::session_rows::{SessionOf, new_session_row, row_of, state_of};

/// Why an agent action did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AgentActionError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("not allowed: {0}")]
    Forbidden(String),
    /// The session moved meanwhile (another agent, a timeout, the customer).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for AgentActionError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { entity } => Self::NotFound(entity),
            StoreError::Conflict(m) => Self::Conflict(m),
            other => Self::Store(other),
        }
    }
}

type Result<T> = std::result::Result<T, AgentActionError>;

/// Where a transfer goes (RT-09).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferTo {
    Agent(Uuid),
    Queue(Uuid),
    /// A flow (a bot): it takes the conversation at its first step (RT-09).
    Flow(Uuid),
}

/// One line of the console's work panel or session list.
#[derive(Debug, Clone, Serialize)]
pub struct WorkItem {
    pub session: Session,
    pub channel: ChannelBrief,
    pub messaging_user: MessagingUser,
    /// What agents call the customer: see [`customer_name`].
    pub customer_name: String,
    pub first_message: Option<String>,
    pub last_message: Option<String>,
    pub last_message_at: Option<String>,
    pub unread: i64,
    pub offer_expires_at: Option<String>,
    pub care_window: CareWindow,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChannelBrief {
    pub id: Uuid,
    pub kind: ChannelKind,
    pub name: String,
    pub address: String,
}

/// Whether the business may write freely now (WhatsApp, Messenger), from `parley_core::window`.
#[derive(Debug, Clone, Serialize)]
pub struct CareWindow {
    /// `open`, `closed`, or `none` for channels without a window.
    pub state: &'static str,
    pub closes_at: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Work {
    pub offers: Vec<WorkItem>,
    pub sessions: Vec<WorkItem>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TimelineEntry {
    #[serde(flatten)]
    pub entry: parley_store::Entry,
    pub channel_kind: Option<ChannelKind>,
    pub session_status: SessionStatus,
    /// The error code in words.
    pub error_text: Option<String>,
    /// The campaign that sent this message, by name (CMP-03: the agent sees the campaign
    /// message above the customer's reply, and knows it for one).
    pub campaign: Option<String>,
}

#[derive(Clone)]
pub struct AgentDesk {
    compose: Compose,
    pub(crate) store: Store,
    pub(crate) clock: Arc<dyn Clock>,
    feed: Feed,
    pub(crate) router: Router,
    outbound_wake: Arc<tokio::sync::Notify>,
    flows: crate::flow_runs::FlowCatalog,
    flow_wake: Option<Arc<tokio::sync::Notify>>,
}

impl std::fmt::Debug for AgentDesk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentDesk").finish_non_exhaustive()
    }
}

impl AgentDesk {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        feed: Feed,
        router: Router,
        compose: Compose,
        outbound_wake: Arc<tokio::sync::Notify>,
    ) -> Self {
        Self {
            compose,
            store,
            clock,
            feed,
            router,
            outbound_wake,
            flows: Default::default(),
            flow_wake: None,
        }
    }

    /// Shares the engine's parsed flows and wakes its flow runners (transfers to a flow).
    pub fn with_flows(
        mut self,
        flows: crate::flow_runs::FlowCatalog,
        wake: Arc<tokio::sync::Notify>,
    ) -> Self {
        self.flows = flows;
        self.flow_wake = Some(wake);
        self
    }

    pub(crate) async fn commit(&self, change: &ConsoleChange) -> Result<()> {
        self.store.commit_console(change, self.clock.now()).await?;
        if !change.events.is_empty() {
            self.feed.written();
        }
        if change.effects.as_ref().is_some_and(|e| !e.jobs.is_empty()) {
            self.outbound_wake.notify_one();
        }
        Ok(())
    }

    /// Sets an agent's presence. Going offline gives their work back at once (RT-08); going
    /// available counts as connected for the grace period, until the console's stream renews it.
    pub async fn set_presence(&self, agent: &Agent, presence: Presence) -> Result<Agent> {
        let now = self.clock.now();
        if presence == Presence::Offline {
            self.router.take_back(agent.id, Presence::Offline).await?;
            return Ok(self.store.agent(agent.id).await?);
        }
        let until = presence.accepts_work().then(|| now.plus(CONNECTION_GRACE));
        let updated = self
            .store
            .set_agent_presence(agent.id, presence, until, now)
            .await?;
        self.commit(&ConsoleChange {
            events: vec![presence_event(agent.id, presence)],
            ..ConsoleChange::default()
        })
        .await?;
        self.router.wake();
        Ok(updated)
    }

    /// Accepts a session offered to the agent (SE-06). If it was transferred, the agent who
    /// transferred it leaves now (RT-09).
    pub async fn accept(&self, agent: &Agent, session_id: Uuid) -> Result<Session> {
        let session = self.store.session(session_id).await?;
        let work = self
            .store
            .routing_work_of(&[session_id])
            .await?
            .pop()
            .ok_or_else(|| {
                AgentActionError::Conflict("this session is no longer waiting".into())
            })?;
        if work.offered_agent_id != Some(agent.id) {
            return Err(AgentActionError::Conflict(
                "this session is not offered to you (any more)".into(),
            ));
        }
        self.hand_to(agent.id, &session, &work, true).await
    }

    /// Gives a waiting session to an agent, as accepting an offer does: the agent owns it, Active,
    /// its routing row goes, the wait counts for the queue's estimate (RT-10), and an offer of it
    /// to anyone else is withdrawn. `seen`: the agent saw the first message (an offer, the pick
    /// list), so what came before counts as read; an assignment by a supervisor leaves it unread.
    /// Only if nobody moved the session since it was read: of two racing, one wins.
    pub(crate) async fn hand_to(
        &self,
        agent_id: Uuid,
        session: &Session,
        work: &parley_store::RoutingWork,
        seen: bool,
    ) -> Result<Session> {
        let now = self.clock.now();
        let session_id = session.id;
        let owner = SessionOwner {
            kind: OwnerKind::Agent,
            id: agent_id,
        };
        let t = apply(
            &state_of(session),
            &SessionEvent::AgentAccepted { at: now, owner },
            &SessionPolicy::default(),
        )
        .map_err(refused)?;
        let row = row_of(session, &t.state);
        let mut change = ConsoleChange {
            sessions: vec![GuardedSession {
                expected_status: session.status,
                expected_updated_at: session.updated_at,
                row: row.clone(),
            }],
            work_deletes: vec![session_id],
            ..ConsoleChange::default()
        };
        if let Some(WorkTarget::Queue(queue_id)) = target_of(work) {
            change.accepts.push(AcceptWrite {
                queue_id,
                waited_ms: now.millis() - work.waiting_since.millis(),
            });
        }
        if let Some(queue_id) = queue_of(work) {
            change.events.extend(queue_events(&[queue_id]));
        }
        if let Some(other) = work.offered_agent_id.filter(|o| *o != agent_id) {
            change
                .events
                .push(crate::routing::withdrawn(other, session_id));
        }
        // The agent saw the first message on the offer (AG-02): what came before is read.
        if seen && let Some(last) = self.store.last_entry_id(session_id).await? {
            change.reads.push(ReadMarker {
                session_id,
                agent_id,
                entry_id: last,
            });
        }
        change.events.push(session_event(agent_id, &row));
        if let Some(previous) = work.transfer_from.filter(|p| *p != agent_id) {
            change.events.push(session_event(previous, &row));
        }
        let mut effects = InboundWrite::default();
        self.auto_reply(&row, |a| &a.start_conversation, None, &mut effects, now)
            .await?;
        change.effects = Some(effects);
        self.commit(&change).await?;
        Ok(row)
    }

    /// Declines an offer: it goes to someone else, never back to this agent.
    pub async fn decline(&self, agent: &Agent, session_id: Uuid) -> Result<()> {
        let mut work = self
            .store
            .routing_work_of(&[session_id])
            .await?
            .pop()
            .ok_or(AgentActionError::NotFound("offer"))?;
        if work.offered_agent_id != Some(agent.id) {
            return Err(AgentActionError::Conflict(
                "this session is not offered to you (any more)".into(),
            ));
        }
        work.offered_agent_id = None;
        work.offered_at = None;
        work.offer_expires_at = None;
        if !work.declined_by.contains(&agent.id) {
            work.declined_by.push(agent.id);
        }
        self.commit(&ConsoleChange {
            work_upserts: vec![work],
            events: vec![crate::routing::withdrawn(agent.id, session_id)],
            ..ConsoleChange::default()
        })
        .await?;
        self.router.wake();
        Ok(())
    }

    /// Queues one of the channel's automatic replies (CO-20) into `effects`, in the customer's
    /// language, when the channel has it. `fallback` is an older setting's text for the same.
    pub(crate) async fn auto_reply(
        &self,
        session: &Session,
        which: fn(&crate::channel_rules::AutoReplies) -> &Option<crate::channel_rules::Localized>,
        fallback: Option<String>,
        effects: &mut InboundWrite,
        now: Timestamp,
    ) -> Result<()> {
        let channel = self.store.channel(session.channel_id).await?;
        let Ok(behaviour) = crate::channel_rules::translated_behaviour(&self.store, &channel).await
        else {
            return Ok(());
        };
        let user = self.store.messaging_user(session.messaging_user_id).await?;
        // A restricted person gets no automatic reply (PRIV-02).
        if user.restricted_at.is_some() {
            return Ok(());
        }
        let chosen = which(&behaviour.auto_replies);
        let text = if chosen.is_some() {
            behaviour
                .auto_reply(chosen, user.locale.as_deref())
                .map(str::to_owned)
        } else {
            fallback
        };
        let Some(text) = text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()) else {
            return Ok(());
        };
        let rules = self.compose.sensitive().current(&self.store).await?;
        let masked = crate::sensitive_data::mask_with(
            &rules,
            channel.id,
            parley_core::privacy::rules::RuleAuthor::Bot,
            &text,
        );
        let text = if masked.blocked.is_empty() {
            text
        } else {
            effects.entries.push(crate::sensitive_data::blocked_entry(
                session.id,
                parley_core::privacy::rules::RuleAuthor::Bot,
                now,
            ));
            masked.text
        };
        let mut entry = jobs::auto_response_entry(session.id, text, now);
        entry.actor = Actor::System;
        effects.jobs.push(send_job(
            entry.id,
            parley_core::consent::SendPurpose::Conversation {
                session_opt_in: session.session_opt_in,
            },
            jobs::REPLY_PRIORITY,
            now,
        ));
        effects.entries.push(entry);
        Ok(())
    }

    /// What a signed-in agent may do: their role's set and the sets granted to them, read at each
    /// action so a change applies at once.
    pub async fn permissions_of(&self, agent: &Agent) -> Result<PermissionSet> {
        Ok(self.store.agent_permissions(agent.id, agent.role).await?)
    }

    async fn may_handle_as(&self, agent: &Agent, session: &Session) -> Result<()> {
        let permissions = self.permissions_of(agent).await?;
        self.may_handle(agent, permissions, session)
    }

    /// Whether the agent, holding `permissions`, may act on (and write into) this session: it is
    /// theirs, or they hold `supervise`.
    pub fn may_handle(
        &self,
        agent: &Agent,
        permissions: PermissionSet,
        session: &Session,
    ) -> Result<()> {
        if owned_by(session, agent.id) || permissions.contains(Permission::Supervise) {
            Ok(())
        } else {
            Err(AgentActionError::Forbidden(
                "this session belongs to another agent".into(),
            ))
        }
    }

    /// Ends a session (SE-09, SE-12) and sends the channel's End Conversation auto-response
    /// (`settings.end_conversation_reply`), if it has one and consent allows it at send time.
    pub async fn end(&self, agent: &Agent, session_id: Uuid) -> Result<Session> {
        let session = self.store.session(session_id).await?;
        self.may_handle_as(agent, &session).await?;
        self.end_as(session, Actor::Agent, Some(agent.id)).await
    }

    /// The customer ends their own session (the web chat's End Chat): the same end as an
    /// agent's, with the customer as the one who ended it.
    pub async fn end_by_customer(&self, session_id: Uuid) -> Result<Session> {
        let session = self.store.session(session_id).await?;
        self.end_as(session, Actor::Customer, None).await
    }

    async fn end_as(&self, session: Session, by: Actor, agent: Option<Uuid>) -> Result<Session> {
        let now = self.clock.now();
        let session_id = session.id;
        let t = apply(
            &state_of(&session),
            &SessionEvent::Ended { at: now, by },
            &SessionPolicy::default(),
        )
        .map_err(refused)?;
        let row = row_of(&session, &t.state);
        let channel = self.store.channel(session.channel_id).await?;
        let mut effects = InboundWrite::default();
        let older = behaviour_of(&channel.settings)
            .ok()
            .and_then(|b| b.end_conversation_reply);
        self.auto_reply(&session, |a| &a.end_conversation, older, &mut effects, now)
            .await?;
        let mut change = ConsoleChange {
            sessions: vec![guard(&session, row.clone())],
            work_deletes: vec![session_id],
            effects: Some(effects),
            ..ConsoleChange::default()
        };
        if let Some(agent) = agent {
            change.events.push(session_event(agent, &row));
        }
        if let Some(owner) = crate::feed::owner_agent(&session).filter(|o| Some(*o) != agent) {
            change.events.push(session_event(owner, &row));
        }
        self.commit(&change).await?;
        self.router.wake();
        Ok(row)
    }

    /// Marks a session Inactive ("No customer response", SE-07): frees capacity, holds the
    /// customer; their next message sends it back to routing; the inactivity timer ends it.
    pub async fn mark_inactive(&self, agent: &Agent, session_id: Uuid) -> Result<Session> {
        let now = self.clock.now();
        let session = self.store.session(session_id).await?;
        self.may_handle_as(agent, &session).await?;
        let channel = self.store.channel(session.channel_id).await?;
        let policy = behaviour_of(&channel.settings)
            .map(|b| b.session_policy)
            .unwrap_or_default();
        let t = apply(
            &state_of(&session),
            &SessionEvent::MarkedInactive { at: now },
            &policy,
        )
        .map_err(refused)?;
        let row = row_of(&session, &t.state);
        let mut effects = InboundWrite::default();
        if let Some(deadline) = next_deadline(&t.state, &policy) {
            effects.jobs.push(jobs::timer_job(session.id, deadline));
        }
        let change = ConsoleChange {
            sessions: vec![guard(&session, row.clone())],
            effects: Some(effects),
            events: vec![session_event(agent.id, &row)],
            ..ConsoleChange::default()
        };
        self.commit(&change).await?;
        self.router.wake();
        Ok(row)
    }

    /// Transfers a session to another agent or a queue (RT-09): it waits meanwhile, still shown
    /// to the first agent, who leaves when the next one accepts. A transfer cannot be cancelled.
    pub async fn transfer(
        &self,
        agent: &Agent,
        session_id: Uuid,
        to: TransferTo,
    ) -> Result<Session> {
        let now = self.clock.now();
        let session = self.store.session(session_id).await?;
        self.may_handle_as(agent, &session).await?;
        if let TransferTo::Flow(flow_id) = to {
            return self.transfer_to_flow(agent, &session, flow_id, now).await;
        }
        let target = match to {
            TransferTo::Agent(id) => {
                if id == agent.id {
                    return Err(AgentActionError::Invalid(
                        "a session cannot be transferred to the agent who has it".into(),
                    ));
                }
                self.store.agent(id).await?;
                WorkTarget::Agent {
                    agent_id: id,
                    fallback_queue: session.queue_id,
                }
            }
            TransferTo::Queue(id) => {
                self.store.queue(id).await?;
                WorkTarget::Queue(id)
            }
            TransferTo::Flow(_) => unreachable_flow()?,
        };
        let from = crate::feed::owner_agent(&session);
        let t = apply(
            &state_of(&session),
            &SessionEvent::Transferred {
                at: now,
                to: from.map(|id| SessionOwner {
                    kind: OwnerKind::Agent,
                    id,
                }),
            },
            &SessionPolicy::default(),
        )
        .map_err(refused)?;
        let mut row = row_of(&session, &t.state);
        if let TransferTo::Queue(q) = to {
            row.queue_id = Some(q);
        }
        let mut change = ConsoleChange {
            sessions: vec![guard(&session, row.clone())],
            work_upserts: vec![waiting_row(
                session_id,
                &target,
                0,
                now,
                from.into_iter().collect(),
                from,
            )],
            ..ConsoleChange::default()
        };
        change.events.push(session_event(agent.id, &row));
        if let TransferTo::Queue(q) = to {
            change.events.extend(queue_events(&[q]));
        }
        let mut effects = InboundWrite::default();
        self.auto_reply(&session, |a| &a.transfer, None, &mut effects, now)
            .await?;
        change.effects = Some(effects);
        self.commit(&change).await?;
        self.router.wake();
        Ok(row)
    }

    /// An agent hands the conversation to a flow (RT-09): the flow owns it from its first step,
    /// and hands it back to people when it must.
    async fn transfer_to_flow(
        &self,
        agent: &Agent,
        session: &Session,
        flow_id: Uuid,
        now: Timestamp,
    ) -> Result<Session> {
        let flow = self.store.flow(flow_id).await?;
        let definition = match self
            .flows
            .definition(&self.store, &flow, flow.version)
            .await
        {
            Ok(found) => found,
            Err(crate::flow_runs::FlowUseError::Store(e)) => return Err(e.into()),
            Err(e) => return Err(AgentActionError::Invalid(e.to_string())),
        };
        let Some(row) = crate::flow_runs::held_by_flow(session, flow.id, now) else {
            return Err(AgentActionError::Conflict(format!(
                "this session is {} now, so it cannot go to a flow; reload to see it",
                session.status
            )));
        };
        let start = crate::flow_runs::start_run(
            &flow,
            &definition,
            session.id,
            crate::flow_runs::Trigger::Transfer,
            Default::default(),
            now,
        );
        let mut effects = InboundWrite::default();
        self.auto_reply(session, |a| &a.transfer, None, &mut effects, now)
            .await?;
        effects.flow_runs.push(start.run);
        effects.jobs.push(start.job);
        let mut change = ConsoleChange {
            sessions: vec![guard(session, row.clone())],
            effects: Some(effects),
            ..ConsoleChange::default()
        };
        change.events.push(session_event(agent.id, &row));
        self.commit(&change).await?;
        if let Some(w) = &self.flow_wake {
            w.notify_one();
        }
        Ok(row)
    }

    /// Everything in the session so far has been read by this agent.
    pub async fn mark_read(&self, agent: &Agent, session_id: Uuid) -> Result<()> {
        let session = self.store.session(session_id).await?;
        self.may_handle_as(agent, &session).await?;
        if let Some(last) = self.store.last_entry_id(session_id).await? {
            self.commit(&ConsoleChange {
                reads: vec![ReadMarker {
                    session_id,
                    agent_id: agent.id,
                    entry_id: last,
                }],
                ..ConsoleChange::default()
            })
            .await?;
        }
        Ok(())
    }

    /// Opts a customer out on their request during a conversation (CO-11, AG-14): consent moves to
    /// opted out with the agent as its source, and their open session ends (AMB-06).
    pub async fn opt_out(&self, agent: &Agent, messaging_user_id: Uuid) -> Result<MessagingUser> {
        let now = self.clock.now();
        let user = self.store.messaging_user(messaging_user_id).await?;
        let open = self.store.open_session(user.id).await?;
        let permissions = self.permissions_of(agent).await?;
        if let Some(s) = &open {
            self.may_handle(agent, permissions, s)?;
        } else if !permissions.contains(Permission::SendReceive) {
            return Err(AgentActionError::Forbidden(
                "opting customers out needs the send_receive permission".into(),
            ));
        }
        if user.consent_status == Some(ConsentStatus::OptedOut) {
            return Ok(user);
        }
        let mut change = ConsoleChange {
            effects: Some(InboundWrite {
                consent: Some(ConsentWrite {
                    messaging_user_id: user.id,
                    from: user.consent_status,
                    to: ConsentStatus::OptedOut,
                    source: ConsentSource::Agent,
                    reason: format!("opted out by {} at the customer's request", agent.name),
                    entry_id: None,
                }),
                ..InboundWrite::default()
            }),
            ..ConsoleChange::default()
        };
        if let Some(s) = open
            && let Ok(t) = apply(
                &state_of(&s),
                &SessionEvent::OptedOut {
                    at: now,
                    by: Actor::Agent,
                },
                &SessionPolicy::default(),
            )
        {
            let row = row_of(&s, &t.state);
            change.events.push(session_event(agent.id, &row));
            change.work_deletes.push(s.id);
            change.sessions.push(guard(&s, row));
        }
        self.commit(&change).await?;
        Ok(self.store.messaging_user(user.id).await?)
    }

    /// Links a session to a case and/or a contact (AG-04); the messaging user follows the contact.
    pub async fn link(
        &self,
        agent: &Agent,
        session_id: Uuid,
        case_id: Option<Uuid>,
        contact_id: Option<Uuid>,
    ) -> Result<Session> {
        let session = self.store.session(session_id).await?;
        self.may_handle_as(agent, &session).await?;
        let mut row = session.clone();
        if let Some(case_id) = case_id {
            self.store.case(case_id).await?;
            row.case_id = Some(case_id);
        }
        let mut effects = InboundWrite::default();
        if let Some(contact_id) = contact_id {
            self.store.contact(contact_id).await?;
            effects.link = Some(ContactLink {
                messaging_user_id: session.messaging_user_id,
                contact_id,
            });
        }
        let change = ConsoleChange {
            sessions: vec![guard(&session, row.clone())],
            effects: Some(effects),
            events: vec![session_event(agent.id, &row)],
            ..ConsoleChange::default()
        };
        self.commit(&change).await?;
        Ok(row)
    }

    /// Whether the agent may start a conversation with this messaging user now (AG-11, AG-12,
    /// SE-10): not opted out, the agent is in the channel's queue, and no session is open.
    pub async fn may_start(&self, agent: &Agent, user: &MessagingUser) -> Result<Channel> {
        use parley_core::session::{StartRefused, may_start_conversation};
        let channel = self.store.channel(user.channel_id).await?;
        let open = self.store.open_session(user.id).await?.is_some();
        match may_start_conversation(
            user.consent_status,
            channel.queue_id,
            &agent.queue_ids,
            open,
        ) {
            Ok(()) => Ok(channel),
            Err(e @ StartRefused::SessionOpen) => Err(AgentActionError::Conflict(e.to_string())),
            Err(e) => Err(AgentActionError::Forbidden(e.to_string())),
        }
    }

    /// The messaging user a conversation started from a record goes to (AG-11, AG-13): a messaging
    /// user directly; a contact's (it must be linked, and the agent must pick one when the contact
    /// has several); a case's (an inbound session of that messaging user must be linked to it).
    pub async fn recipient(
        &self,
        messaging_user_id: Option<Uuid>,
        contact_id: Option<Uuid>,
        case_id: Option<Uuid>,
    ) -> Result<Uuid> {
        let mut candidates: Option<Vec<Uuid>> = None;
        if let Some(contact_id) = contact_id {
            self.store.contact(contact_id).await?;
            let users: Vec<Uuid> = self
                .store
                .messaging_users_of_contact(contact_id)
                .await?
                .into_iter()
                .map(|u| u.id)
                .collect();
            candidates = Some(users);
        }
        if let Some(case_id) = case_id {
            self.store.case(case_id).await?;
            let users: Vec<Uuid> = self
                .store
                .sessions_of_case(case_id)
                .await?
                .into_iter()
                .filter(|s| s.initiated_by == Actor::Customer)
                .map(|s| s.messaging_user_id)
                .collect();
            candidates = Some(match candidates {
                Some(c) => c.into_iter().filter(|u| users.contains(u)).collect(),
                None => users,
            });
        }
        let mut candidates = candidates.map(|mut c| {
            c.sort_unstable();
            c.dedup();
            c
        });
        match (messaging_user_id, candidates.as_mut()) {
            (Some(id), None) => Ok(id),
            (Some(id), Some(c)) if c.contains(&id) => Ok(id),
            (Some(_), Some(_)) => Err(AgentActionError::Forbidden(
                "that messaging user is not associated with this record (AG-13)".into(),
            )),
            (None, Some(c)) if c.len() == 1 => c
                .first()
                .copied()
                .ok_or(AgentActionError::NotFound("messaging user")),
            (None, Some(c)) if c.is_empty() => Err(AgentActionError::Forbidden(
                "no messaging user is associated with this record: a case needs an inbound \
                 session of the customer linked to it, a contact a linked messaging user (AG-13)"
                    .into(),
            )),
            (None, Some(c)) => Err(AgentActionError::Invalid(format!(
                "this record has {} messaging users; choose one with messaging_user_id: {}",
                c.len(),
                c.iter().map(Uuid::to_string).collect::<Vec<_>>().join(", ")
            ))),
            (None, None) => Err(AgentActionError::Invalid(
                "give a messaging_user_id, a contact_id or a case_id".into(),
            )),
        }
    }

    /// Starts an agent-initiated conversation (AG-11..13, SE-16): a `New` session owned by the
    /// agent, consuming no capacity until the customer replies, with the first message queued.
    pub async fn start_conversation(
        &self,
        agent: &Agent,
        messaging_user_id: Uuid,
        message: OutgoingMessage,
    ) -> Result<Session> {
        let now = self.clock.now();
        let user = self.store.messaging_user(messaging_user_id).await?;
        let channel = self.may_start(agent, &user).await?;
        let behaviour = behaviour_of(&channel.settings).unwrap_or_default();
        let owner = SessionOwner {
            kind: OwnerKind::Agent,
            id: agent.id,
        };
        let state =
            parley_core::session::open_outbound(None, owner, behaviour.default_context, now)
                .map_err(refused)?;
        let conversation = self
            .store
            .conversation_of(user.id)
            .await?
            .unwrap_or_else(parley_core::new_id);
        let of = SessionOf {
            channel_id: channel.id,
            messaging_user_id: user.id,
            conversation_id: conversation,
        };
        let mut session = new_session_row(&state, of);
        session.queue_id = channel.queue_id;
        // The first message goes through the compose path like any other: consent, the care
        // window (a WhatsApp conversation opens with an approved template), length, media.
        let author = Author {
            actor: Actor::Agent,
            actor_id: Some(agent.id),
        };
        let prepared = self
            .compose
            .prepare(&channel, &session, &message, author, now)
            .await
            .map_err(|e| match e {
                ComposeError::Store(e) => AgentActionError::from(e),
                other => AgentActionError::Invalid(other.to_string()),
            })?;
        let (Some(job), None) = (prepared.job, &prepared.refusal) else {
            // Refused before anything exists: no session is opened for a message that cannot go.
            let why = prepared
                .refusal
                .map(|r| format!("not sent ({}): {}", r.code.code(), r.reason))
                .unwrap_or_default();
            return Err(AgentActionError::Invalid(why));
        };
        let t = apply(
            &state,
            &SessionEvent::AgentMessage { at: now },
            &behaviour.session_policy,
        )
        .map_err(refused)?;
        apply_row(&mut session, &t.state);
        let mut effects = InboundWrite {
            sessions: vec![session.clone()],
            entries: prepared
                .sensitive_note
                .into_iter()
                .chain([prepared.entry])
                .collect(),
            jobs: vec![job],
            ..InboundWrite::default()
        };
        if let Some(deadline) = next_deadline(&t.state, &behaviour.session_policy) {
            effects.jobs.push(jobs::timer_job(session.id, deadline));
        }
        let change = ConsoleChange {
            effects: Some(effects),
            events: vec![session_event(agent.id, &session)],
            ..ConsoleChange::default()
        };
        self.commit(&change).await?;
        Ok(session)
    }

    /// The agent's offers and sessions, as the console lists them.
    pub async fn work(&self, agent: &Agent) -> Result<Work> {
        let now = self.clock.now();
        let offers = self.store.offers_of(agent.id).await?;
        let offered: HashMap<Uuid, Timestamp> = offers
            .iter()
            .filter_map(|w| w.offer_expires_at.map(|e| (w.session_id, e)))
            .collect();
        let offer_sessions = self
            .store
            .sessions_by_ids(&offers.iter().map(|w| w.session_id).collect::<Vec<_>>())
            .await?;
        let mut out = Work {
            offers: Vec::with_capacity(offer_sessions.len()),
            sessions: Vec::new(),
        };
        for s in offer_sessions {
            let expires = offered.get(&s.id).copied();
            out.offers.push(self.item(agent, s, expires, now).await?);
        }
        for s in self.store.sessions_of_agent(agent.id).await? {
            out.sessions.push(self.item(agent, s, None, now).await?);
        }
        Ok(out)
    }

    /// One work item for a session.
    pub async fn item(
        &self,
        agent: &Agent,
        session: Session,
        offer_expires_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<WorkItem> {
        let channel = self.store.channel(session.channel_id).await?;
        let user = self.store.messaging_user(session.messaging_user_id).await?;
        let summary = self.store.session_summary(session.id, agent.id).await?;
        let care_window = care_window(channel.kind, session.last_customer_at, now);
        let customer_name = customer_name(&self.store, &user).await?;
        Ok(WorkItem {
            customer_name,
            channel: ChannelBrief {
                id: channel.id,
                kind: channel.kind,
                name: channel.name.clone(),
                address: channel.address.clone(),
            },
            messaging_user: user,
            first_message: summary.first_message,
            last_message: summary.last_message,
            last_message_at: summary.last_message_at.map(Timestamp::to_rfc3339),
            unread: summary.unread,
            offer_expires_at: offer_expires_at.map(Timestamp::to_rfc3339),
            care_window,
            session,
        })
    }

    /// One person's whole history: every session of every messaging user of their contact (or of
    /// this messaging user alone), oldest first (AG-10).
    pub async fn timeline(
        &self,
        messaging_user_id: Uuid,
        limit: i64,
    ) -> Result<Vec<TimelineEntry>> {
        let user = self.store.messaging_user(messaging_user_id).await?;
        let mut users = vec![user.id];
        if let Some(contact_id) = user.contact_id {
            for u in self.store.messaging_users_of_contact(contact_id).await? {
                if !users.contains(&u.id) {
                    users.push(u.id);
                }
            }
        }
        let rows = self.store.timeline(&users, limit).await?;
        let mut kinds: HashMap<Uuid, Option<ChannelKind>> = HashMap::new();
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let kind = match kinds.get(&r.channel_id) {
                Some(k) => *k,
                None => {
                    let k = self.store.channel(r.channel_id).await.ok().map(|c| c.kind);
                    kinds.insert(r.channel_id, k);
                    k
                }
            };
            let error_text = r
                .entry
                .error_code
                .as_deref()
                .and_then(ErrorCode::from_code)
                .map(|c| c.message().to_owned());
            out.push(TimelineEntry {
                entry: r.entry,
                channel_kind: kind,
                session_status: r.session_status,
                error_text,
                campaign: r.campaign,
            });
        }
        Ok(out)
    }

    /// Estimated wait time of a queue in whole minutes (RT-10), `None` without enough accepts.
    pub async fn estimated_wait(&self, queue_id: Uuid) -> Result<Option<u32>> {
        let now = self.clock.now();
        let since = Timestamp(now.millis() - parley_core::routing::ESTIMATED_WAIT_WINDOW_MS);
        let samples: Vec<AcceptSample> = self
            .store
            .queue_accepts(queue_id, since)
            .await?
            .into_iter()
            .map(|(accepted_at, waited_ms)| AcceptSample {
                accepted_at: Timestamp(accepted_at),
                waited_ms,
            })
            .collect();
        Ok(estimated_wait(&samples, now))
    }

    /// Up to five agents to transfer to, alphabetical, without their status (RT-09).
    pub async fn transfer_targets(
        &self,
        agent: &Agent,
        query: &str,
    ) -> Result<Vec<(Uuid, String)>> {
        let permissions = self.store.agents_permissions().await?;
        let agents: Vec<_> = self
            .store
            .agents_with_memberships()
            .await?
            .into_iter()
            .map(|(a, _, _)| {
                let held = permissions.get(&a.id).copied().unwrap_or_default();
                (a.id, a.name, held)
            })
            .collect();
        Ok(parley_core::routing::transfer_targets(
            &agents, agent.id, query,
        ))
    }
}

/// The flow case of a transfer is taken before the target is built.
fn unreachable_flow() -> Result<WorkTarget> {
    Err(AgentActionError::Invalid(
        "a transfer to a flow starts the flow".into(),
    ))
}

/// A session transition the rules refused, as the agent should read it: the session moved on
/// (another agent, a timeout, the customer) since their screen showed it.
pub(crate) fn refused(e: parley_core::session::SessionError) -> AgentActionError {
    use parley_core::session::SessionError;
    match e {
        SessionError::IllegalTransition { from, .. } => AgentActionError::Conflict(format!(
            "this session is {from} now, so that is no longer possible; reload to see it"
        )),
        other => AgentActionError::Conflict(other.to_string()),
    }
}

pub(crate) fn guard(session: &Session, row: Session) -> GuardedSession {
    GuardedSession {
        expected_status: session.status,
        expected_updated_at: session.updated_at,
        row,
    }
}

fn apply_row(row: &mut Session, state: &parley_core::session::SessionState) {
    *row = row_of(row, state);
}

pub(crate) fn session_event(agent_id: Uuid, s: &Session) -> NewConsoleEvent {
    NewConsoleEvent {
        agent_id: Some(agent_id),
        kind: ConsoleEventKind::Session,
        data: json!({"session_id": s.id, "status": s.status, "owner_id": s.owner_id}).to_string(),
    }
}

/// The care window as the console shows it, decided by `parley_core::window`.
pub fn care_window(
    kind: ChannelKind,
    last_customer_at: Option<Timestamp>,
    now: Timestamp,
) -> CareWindow {
    use parley_core::window::{Composer, MessageForm, WindowQuery, decide};
    if !matches!(kind, ChannelKind::Whatsapp | ChannelKind::Messenger) {
        return CareWindow {
            state: "none",
            closes_at: None,
        };
    }
    let open = decide(WindowQuery {
        kind,
        last_customer_message_at: last_customer_at,
        now,
        composer: Composer::HumanAgent,
        form: MessageForm::FreeForm,
    })
    .is_ok();
    let span = if kind == ChannelKind::Messenger {
        parley_core::window::HUMAN_AGENT_WINDOW
    } else {
        parley_core::window::CUSTOMER_CARE_WINDOW
    };
    CareWindow {
        state: if open { "open" } else { "closed" },
        closes_at: last_customer_at.map(|t| t.plus(span).to_rfc3339()),
    }
}

/// What agents call the customer: the linked contact's name when it has one (the record agents
/// edit from the console), else the name the channel gave (may be empty: the console then shows
/// the number).
pub(crate) async fn customer_name(store: &Store, user: &MessagingUser) -> Result<String> {
    if let Some(id) = user.contact_id {
        match store.contact(id).await {
            Ok(c) => {
                let full = format!("{} {}", c.first_name.trim(), c.last_name.trim());
                if !full.trim().is_empty() {
                    return Ok(full.trim().to_owned());
                }
            }
            // Unlinked meanwhile (erased, merged): the channel's name will do.
            Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(user.name.clone())
}
