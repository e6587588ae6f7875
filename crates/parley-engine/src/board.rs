//! The supervisor's board and pick-from-queue (issue 15): each waiting session with who wrote,
//! where, what and for how long, and whom it is offered to; agents' load as conversations with
//! pending offers apart; an agent's open conversations; a supervisor assigning waiting work to an
//! agent; and the members of a `pick` queue taking its waiting sessions themselves (RT-13).
//!
//! Who may take or be given what is `parley_core::routing`'s ([`may_take`], [`may_assign`]); the
//! hand-over itself is the one accepting an offer does ([`AgentDesk::hand_to`]), so an assigned or
//! taken session is exactly an accepted one, and two agents racing for a session get one success
//! and one conflict from the same guarded write.

use std::collections::HashMap;

use parley_core::Timestamp;
use parley_core::access::Permission;
use parley_core::model::{ChannelKind, Presence, QueueAssignment, SessionStatus};
use parley_core::routing::{
    AgentState, QueueState, TakeRefused, TakesConversations, WorkTarget, may_assign, may_take,
};
use parley_store::{Agent, RoutingWork, Session, StoreError};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::agents::{AgentActionError, AgentDesk, WorkItem};
use crate::routing::{LoadParts, agent_load_parts, all_queues, queue_of, target_of};
use crate::service::schema;

type Result<T> = std::result::Result<T, AgentActionError>;

/// How many waiting sessions the board and the pick lists describe, oldest first: far more than a
/// person can read, few enough that describing each stays cheap.
pub const WAITING_SHOWN: i64 = 500;

/// The supervisor's board: queues with their waiting sessions, agents with presence and load.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Overview {
    pub queues: Vec<QueueOverview>,
    pub agents: Vec<AgentOverview>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QueueOverview {
    pub id: Uuid,
    pub name: String,
    /// `push` (routing offers the sessions) or `pick` (members take them).
    #[schema(schema_with = schema::queue_assignment)]
    pub assignment: QueueAssignment,
    /// Oldest first.
    pub waiting: Vec<WaitingItem>,
    /// RT-10, in whole minutes; `null` without enough recent accepts.
    pub estimated_wait_minutes: Option<u32>,
}

/// Who is writing: the messaging user's name (may be empty) and their platform key (a phone
/// number, a page-scoped id, `anon:`/`uid:` for web visitors).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Customer {
    pub messaging_user_id: Uuid,
    pub name: String,
    pub platform_key: String,
}

/// The channel a session is on.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChannelChip {
    pub id: Uuid,
    #[schema(schema_with = schema::channel_kind)]
    pub kind: ChannelKind,
    pub name: String,
}

/// One waiting session.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WaitingItem {
    pub session_id: Uuid,
    /// How long it has waited, when the board was read.
    pub waiting_ms: i64,
    /// The agent it is offered to right now, if any.
    pub offered_to: Option<Uuid>,
    pub offered_to_name: Option<String>,
    /// When that offer runs out (RFC 3339), and how long it had left when the board was read.
    pub offer_expires_at: Option<String>,
    pub offer_left_ms: Option<i64>,
    pub customer: Customer,
    pub channel: ChannelChip,
    /// The customer's first message of the session.
    pub first_message: Option<String>,
    /// The agents a supervisor may assign it to (capacity aside: the board shows who is full).
    pub assignable_to: Vec<Uuid>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgentOverview {
    pub id: Uuid,
    pub name: String,
    #[schema(schema_with = schema::presence)]
    pub presence: Presence,
    /// Their console is connected.
    pub online: bool,
    /// What routing counts against capacity: `conversations` plus `offers`.
    pub load: u32,
    pub capacity: i64,
    /// Open sessions that consume capacity (RT-07).
    pub conversations: u32,
    /// Offers waiting for the agent's answer; each holds a slot meanwhile.
    pub offers: u32,
    pub queue_ids: Vec<Uuid>,
    /// Holds `send_receive`: is offered work, can be assigned it.
    pub takes_conversations: bool,
}

/// One open session (or pending offer) of an agent, as the board's agent panel lists it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgentSession {
    pub session_id: Uuid,
    #[schema(schema_with = schema::session_status)]
    pub status: SessionStatus,
    pub customer: Customer,
    pub channel: ChannelChip,
    pub first_message: Option<String>,
    pub last_message: Option<String>,
    pub last_message_at: Option<String>,
    /// Since the agent took it (or since it started, for an agent-initiated one).
    pub since: String,
    pub age_ms: i64,
    /// Customer messages the agent has not read.
    pub unread: i64,
    /// For an offer: when it runs out.
    pub offer_expires_at: Option<String>,
}

/// An agent's open conversations and pending offers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgentDeskView {
    pub agent: AgentOverview,
    pub sessions: Vec<AgentSession>,
    pub offers: Vec<AgentSession>,
}

/// A `pick` queue the agent belongs to, with what waits in it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PickQueue {
    pub id: Uuid,
    pub name: String,
    pub waiting: Vec<PickItem>,
}

/// A session waiting in a `pick` queue, as its members see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PickItem {
    pub session_id: Uuid,
    pub waiting_ms: i64,
    pub customer: Customer,
    pub channel: ChannelChip,
    pub first_message: Option<String>,
}

/// The pick-from-queue lists of one agent.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PickList {
    pub queues: Vec<PickQueue>,
    /// The agent's load and capacity, so the console can say why Take would be refused.
    pub load: u32,
    pub capacity: i64,
}

fn customer(u: &parley_store::MessagingUser, name: String) -> Customer {
    Customer {
        messaging_user_id: u.id,
        name,
        platform_key: u.platform_key.clone(),
    }
}

fn chip(c: &parley_store::Channel) -> ChannelChip {
    ChannelChip {
        id: c.id,
        kind: c.kind,
        name: c.name.clone(),
    }
}

/// A waiting session, described once for the board or a pick list.
struct Described {
    session: Session,
    work: Option<RoutingWork>,
    queue: Option<Uuid>,
    waiting_ms: i64,
    customer: Customer,
    channel: ChannelChip,
    first_message: Option<String>,
}

impl AgentDesk {
    /// The waiting sessions (oldest first, at most [`WAITING_SHOWN`]) with their queue, customer,
    /// channel and first message; `only` keeps those of some queues.
    async fn waiting_described(&self, only: Option<&[Uuid]>) -> Result<Vec<Described>> {
        let now = self.clock.now();
        let mut channels: HashMap<Uuid, ChannelChip> = HashMap::new();
        let mut out = Vec::new();
        for w in self.store.waiting_sessions(WAITING_SHOWN).await? {
            let queue = w.work.as_ref().and_then(queue_of).or(w.session.queue_id);
            if only.is_some_and(|qs| !queue.is_some_and(|q| qs.contains(&q))) {
                continue;
            }
            let channel = match channels.get(&w.session.channel_id) {
                Some(c) => c.clone(),
                None => {
                    let c = chip(&self.store.channel(w.session.channel_id).await?);
                    channels.insert(c.id, c.clone());
                    c
                }
            };
            let user = self
                .store
                .messaging_user(w.session.messaging_user_id)
                .await?;
            let summary = self
                .store
                .session_summary(w.session.id, Uuid::nil())
                .await?;
            let since = w
                .work
                .as_ref()
                .map_or(w.session.status_since, |r| r.waiting_since);
            out.push(Described {
                waiting_ms: now.millis() - since.millis(),
                customer: customer(
                    &user,
                    crate::agents::customer_name(&self.store, &user).await?,
                ),
                channel,
                first_message: summary.first_message,
                queue,
                session: w.session,
                work: w.work,
            });
        }
        Ok(out)
    }

    /// Queues with their waiting sessions and agents with presence and load (the supervisor's
    /// board). Pick queues are on it like any other.
    pub async fn overview(&self) -> Result<Overview> {
        let now = self.clock.now();
        let (states, _) = self.router.routing_state(now).await?;
        let parts = agent_load_parts(&self.store).await?;
        let permissions = self.store.agents_permissions().await?;
        let takes = |id: &Uuid| {
            permissions
                .get(id)
                .is_some_and(TakesConversations::takes_conversations)
        };
        let names: HashMap<Uuid, String> = states.iter().map(|a| (a.id, a.name.clone())).collect();
        let mut by_queue: HashMap<Uuid, Vec<WaitingItem>> = HashMap::new();
        for d in self.waiting_described(None).await? {
            let Some(q) = d.queue else { continue };
            let work = d.work.as_ref();
            let offered_to = work.and_then(|r| r.offered_agent_id);
            let expires = work.and_then(|r| r.offer_expires_at);
            let target = work.and_then(target_of).unwrap_or(WorkTarget::Queue(q));
            let assignable_to = states
                .iter()
                .filter(|a| may_assign(a, takes(&a.id), &target, true).is_ok())
                .map(|a| a.id)
                .collect();
            by_queue.entry(q).or_default().push(WaitingItem {
                session_id: d.session.id,
                waiting_ms: d.waiting_ms,
                offered_to,
                offered_to_name: offered_to.and_then(|id| names.get(&id).cloned()),
                offer_expires_at: expires.map(Timestamp::to_rfc3339),
                offer_left_ms: expires.map(|e| (e.millis() - now.millis()).max(0)),
                customer: d.customer,
                channel: d.channel,
                first_message: d.first_message,
                assignable_to,
            });
        }
        let mut queues = Vec::new();
        for q in all_queues(&self.store).await? {
            let estimated_wait_minutes = self.estimated_wait(q.id).await?;
            queues.push(QueueOverview {
                waiting: by_queue.remove(&q.id).unwrap_or_default(),
                id: q.id,
                name: q.name,
                assignment: q.assignment,
                estimated_wait_minutes,
            });
        }
        let agents = states
            .into_iter()
            .map(|a| {
                let p = parts.get(&a.id).copied().unwrap_or_default();
                let t = takes(&a.id);
                agent_overview(a, p, t)
            })
            .collect();
        Ok(Overview { queues, agents })
    }

    /// One agent's open conversations and pending offers, as their console lists them (the
    /// unread counts are theirs), for a supervisor watching them.
    pub async fn agent_desk(&self, agent_id: Uuid) -> Result<AgentDeskView> {
        let now = self.clock.now();
        let agent = self.store.agent(agent_id).await?;
        let (states, _) = self.router.routing_state(now).await?;
        let state = states
            .into_iter()
            .find(|a| a.id == agent_id)
            .ok_or(AgentActionError::NotFound("agent"))?;
        let parts = agent_load_parts(&self.store)
            .await?
            .get(&agent_id)
            .copied()
            .unwrap_or_default();
        let takes = self
            .store
            .agent_permissions(agent.id, agent.role)
            .await?
            .contains(Permission::SendReceive);
        let work = self.work(&agent).await?;
        let view =
            |items: Vec<WorkItem>| items.into_iter().map(|w| agent_session(w, now)).collect();
        Ok(AgentDeskView {
            agent: agent_overview(state, parts, takes),
            sessions: view(work.sessions),
            offers: view(work.offers),
        })
    }

    /// The waiting sessions of the `pick` queues the agent belongs to.
    pub async fn pick_list(&self, agent: &Agent) -> Result<PickList> {
        let picks: Vec<parley_store::Queue> = all_queues(&self.store)
            .await?
            .into_iter()
            .filter(|q| q.assignment == QueueAssignment::Pick && agent.queue_ids.contains(&q.id))
            .collect();
        let load = agent_load_parts(&self.store)
            .await?
            .get(&agent.id)
            .map_or(0, |l| l.conversations.saturating_add(l.offers));
        let capacity = self.store.agent(agent.id).await?.capacity;
        if picks.is_empty() {
            return Ok(PickList {
                queues: Vec::new(),
                load,
                capacity,
            });
        }
        let ids: Vec<Uuid> = picks.iter().map(|q| q.id).collect();
        let mut by_queue: HashMap<Uuid, Vec<PickItem>> = HashMap::new();
        for d in self.waiting_described(Some(&ids)).await? {
            // Only what is classified to the queue and offered to nobody: a session aimed at
            // one agent (a transfer) is theirs to accept.
            let Some(work) = d.work.as_ref() else {
                continue;
            };
            let (Some(WorkTarget::Queue(q)), None) = (target_of(work), work.offered_agent_id)
            else {
                continue;
            };
            by_queue.entry(q).or_default().push(PickItem {
                session_id: d.session.id,
                waiting_ms: d.waiting_ms,
                customer: d.customer,
                channel: d.channel,
                first_message: d.first_message,
            });
        }
        Ok(PickList {
            queues: picks
                .into_iter()
                .map(|q| PickQueue {
                    waiting: by_queue.remove(&q.id).unwrap_or_default(),
                    id: q.id,
                    name: q.name,
                })
                .collect(),
            load,
            capacity,
        })
    }

    /// An agent takes a session waiting in a `pick` queue they belong to, within capacity
    /// (RT-13). Atomic: of two agents taking the same session, one gets it and the other a
    /// conflict saying so.
    pub async fn take(&self, agent: &Agent, session_id: Uuid) -> Result<Session> {
        let now = self.clock.now();
        let session = self.store.session(session_id).await?;
        let work = self.waiting_work(&session).await?;
        let Some(WorkTarget::Queue(queue_id)) = target_of(&work) else {
            return Err(AgentActionError::Conflict(
                TakeRefused::NotPickQueue.to_string(),
            ));
        };
        let queue = self.store.queue(queue_id).await?;
        let state = self.agent_state(agent.id, now).await?;
        let queue_state = QueueState {
            id: queue.id,
            model: queue.routing_model,
            priority: 0,
            assignment: queue.assignment,
        };
        may_take(&state, &queue_state).map_err(|e| match e {
            TakeRefused::NotMember => AgentActionError::Forbidden(format!(
                "only members of {} may take its sessions",
                queue.name
            )),
            TakeRefused::AtCapacity { load, capacity } => AgentActionError::Conflict(format!(
                "you are at capacity ({load} of {capacity} conversations and offers): \
                 end or mark inactive a conversation first"
            )),
            other => AgentActionError::Conflict(other.to_string()),
        })?;
        if work.offered_agent_id.is_some() {
            return Err(AgentActionError::Conflict(
                "this session is offered to an agent right now".into(),
            ));
        }
        self.hand_to(agent.id, &session, &work, true)
            .await
            .map_err(|e| lost_race(e, "another agent took this session first"))
    }

    /// A supervisor gives a waiting session to an agent (the board's Assign): the agent owns it
    /// at once, as if they had accepted it; an offer of it to someone else is withdrawn. Over the
    /// agent's capacity only with `over_capacity`.
    pub async fn assign(
        &self,
        session_id: Uuid,
        agent_id: Uuid,
        over_capacity: bool,
    ) -> Result<Session> {
        let now = self.clock.now();
        let agent = match self.store.agent(agent_id).await {
            Ok(a) => a,
            Err(StoreError::NotFound { .. }) => {
                return Err(AgentActionError::Invalid(
                    "agent_id: no agent has this id".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        let session = self.store.session(session_id).await?;
        let work = self.waiting_work(&session).await?;
        let target = target_of(&work)
            .or(session.queue_id.map(WorkTarget::Queue))
            .unwrap_or(WorkTarget::Skills(Vec::new()));
        let state = self.agent_state(agent.id, now).await?;
        let takes = self
            .store
            .agent_permissions(agent.id, agent.role)
            .await?
            .takes_conversations();
        may_assign(&state, takes, &target, over_capacity).map_err(|e| match e {
            TakeRefused::NotEligible => AgentActionError::Invalid(format!(
                "agent_id: {} may not take this session (not in its queue, without its skills, \
                 or without send_receive)",
                agent.name
            )),
            TakeRefused::AtCapacity { load, capacity } => AgentActionError::Conflict(format!(
                "{} is at capacity ({load} of {capacity} conversations and offers); \
                 set over_capacity to assign anyway",
                agent.name
            )),
            TakeRefused::Offline => {
                AgentActionError::Conflict(format!("{} is offline", agent.name))
            }
            other => AgentActionError::Conflict(other.to_string()),
        })?;
        self.hand_to(agent.id, &session, &work, false)
            .await
            .map_err(|e| lost_race(e, "this session was taken meanwhile; reload the board"))
    }

    /// The routing row of a session that waits; a conflict in words when it does not.
    async fn waiting_work(&self, session: &Session) -> Result<RoutingWork> {
        if session.status != SessionStatus::Waiting {
            return Err(AgentActionError::Conflict(format!(
                "this session is {} now, no longer waiting: it was taken or ended",
                session.status
            )));
        }
        if let Some(work) = self.store.routing_work_of(&[session.id]).await?.pop() {
            return Ok(work);
        }
        // The row goes when another agent takes the session: read it again to say which it is.
        let now = self.store.session(session.id).await?;
        Err(AgentActionError::Conflict(
            if now.status == SessionStatus::Waiting {
                "this session is not in a queue yet; try again in a moment".into()
            } else {
                format!(
                    "this session is {} now, no longer waiting: it was taken or ended",
                    now.status
                )
            },
        ))
    }

    async fn agent_state(&self, agent_id: Uuid, now: Timestamp) -> Result<AgentState> {
        let (states, _) = self.router.routing_state(now).await?;
        states
            .into_iter()
            .find(|a| a.id == agent_id)
            .ok_or(AgentActionError::NotFound("agent"))
    }
}

/// Which of these queues are `pick` queues (for a console stream: the queue events its agent
/// needs).
pub async fn pick_queues_of(
    store: &parley_store::Store,
    queue_ids: &[Uuid],
) -> std::result::Result<Vec<Uuid>, StoreError> {
    if queue_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(all_queues(store)
        .await?
        .into_iter()
        .filter(|q| q.assignment == QueueAssignment::Pick && queue_ids.contains(&q.id))
        .map(|q| q.id)
        .collect())
}

/// A guarded write that found the session moved: someone else got there first.
fn lost_race(e: AgentActionError, words: &str) -> AgentActionError {
    match e {
        AgentActionError::Conflict(_) => AgentActionError::Conflict(words.to_owned()),
        other => other,
    }
}

fn agent_overview(a: AgentState, p: LoadParts, takes_conversations: bool) -> AgentOverview {
    AgentOverview {
        id: a.id,
        name: a.name,
        presence: a.presence,
        online: a.online,
        // From the same reading as its parts, so the three always add up.
        load: p.conversations.saturating_add(p.offers),
        capacity: i64::from(a.capacity),
        conversations: p.conversations,
        offers: p.offers,
        queue_ids: a.queues,
        takes_conversations,
    }
}

/// A work item as the board lists it.
pub fn agent_session(w: WorkItem, now: Timestamp) -> AgentSession {
    let since = w.session.accepted_at.unwrap_or(w.session.started_at);
    AgentSession {
        session_id: w.session.id,
        status: w.session.status,
        customer: customer(&w.messaging_user, w.customer_name),
        channel: ChannelChip {
            id: w.channel.id,
            kind: w.channel.kind,
            name: w.channel.name,
        },
        first_message: w.first_message,
        last_message: w.last_message,
        last_message_at: w.last_message_at,
        since: since.to_rfc3339(),
        age_ms: (now.millis() - since.millis()).max(0),
        unread: w.unread,
        offer_expires_at: w.offer_expires_at,
    }
}
