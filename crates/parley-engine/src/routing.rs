//! Routing, executed: the decisions are `parley_core::routing`'s; this module feeds them the current
//! state and writes what they decide.
//!
//! One round ([`Router::route`]) does, in order:
//! 1. forget routing rows of sessions that stopped waiting (accepted, ended by an opt-out...);
//! 2. take back offers that timed out: the agent counts as having declined, and work aimed at one
//!    agent falls back to its queue (RT-09);
//! 3. move the sessions of agents whose console has been gone past the grace period back to
//!    Waiting, and set them offline (RT-08);
//! 4. give each newly waiting session its target: the channel's routing rules (RT-01..05), or the
//!    queue the session was handed to;
//! 5. plan offers (`plan_offers`) and write them, each only if the session is still unoffered.
//!
//! Rounds run when something may have changed (a session opened or moved, an agent became
//! available or freed capacity) and on a one-second tick for timeouts. On PostgreSQL one node at a
//! time routes, under the `router` lease; the conditional writes keep two routers from offering
//! one session twice even while a lease changes hands.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use parley_core::model::{OwnerKind, Presence, SessionStatus};
use parley_core::routing::{
    AgentState, QueueState, RouteTarget, RoutingInput, RoutingRule, SkillLevel, WaitingWork,
    WorkTarget, console_connected, consumes_capacity, evaluate_rules, gone_away, offer_expired,
    plan_offers,
};
use parley_core::session::{SessionEvent, apply};
use parley_core::{Clock, Timestamp};
use parley_store::{
    ConsoleChange, ConsoleEventKind, GuardedSession, NewConsoleEvent, OfferWrite, PageRequest,
    RoutingWork, Session, Store, StoreError,
};
use serde_json::json;
use tokio::sync::{Notify, watch};
use uuid::Uuid;

use crate::channel_rules::behaviour_of;
use crate::events::{DomainEvent, EventBus};
use crate::feed::Feed;
use crate::flow_runs::{FlowCatalog, FlowUseError, RunStart, Trigger, held_by_flow, start_run};
use crate::session_rows::{row_of, state_of};

/// How long an agent has to accept an offer.
pub const OFFER_TIMEOUT: Duration =
    Duration::from_millis(parley_core::routing::DEFAULT_OFFER_TIMEOUT_MS as u64);
const TICK: Duration = Duration::from_secs(1);
const LEASE_TTL: Duration = Duration::from_secs(10);
const WAITING_PER_ROUND: i64 = 2_000;

/// What one round did, for tests and the benchmark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoundReport {
    pub classified: usize,
    pub offers: usize,
    pub expired: usize,
    pub rerouted: usize,
}

#[derive(Clone)]
pub struct Router {
    store: Store,
    clock: Arc<dyn Clock>,
    feed: Feed,
    wake: Arc<Notify>,
    node: String,
    pub offer_timeout: Duration,
    flows: FlowCatalog,
    flow_wake: Option<Arc<Notify>>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router").field("node", &self.node).finish()
    }
}

impl Router {
    pub fn new(store: Store, clock: Arc<dyn Clock>, feed: Feed) -> Self {
        Self {
            store,
            clock,
            feed,
            wake: Arc::new(Notify::new()),
            node: format!("router-{}", Uuid::now_v7()),
            offer_timeout: OFFER_TIMEOUT,
            flows: FlowCatalog::default(),
            flow_wake: None,
        }
    }

    /// Asks for a round soon (work or an agent changed).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Routes until shutdown: on wake-ups, on session events of the pipelines, and on a tick.
    pub async fn run(self, bus: EventBus, mut shutdown: watch::Receiver<bool>) {
        let mut events = bus.subscribe();
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = self.wake.notified() => {}
                e = events.recv() => {
                    if let Ok(e) = e
                        && !matches!(*e, DomainEvent::SessionOpened { .. } | DomainEvent::SessionChanged { .. })
                    {
                        continue;
                    }
                }
                _ = tokio::time::sleep(TICK) => {}
            }
            // Fold a burst of wake-ups into one round.
            while events.try_recv().is_ok() {}
            let now = self.clock.now();
            match self
                .store
                .try_acquire_lease("router", &self.node, LEASE_TTL, now)
                .await
            {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "router lease unavailable");
                    continue;
                }
            }
            if let Err(e) = self.route().await {
                tracing::warn!(error = %e, "routing round failed");
            }
        }
    }

    /// One routing round (see the module docs).
    pub async fn route(&self) -> Result<RoundReport, StoreError> {
        let now = self.clock.now();
        let mut report = RoundReport::default();
        let mut events = Vec::new();

        // 1. Rows of sessions that no longer wait.
        let stale = self.store.stale_routing_work().await?;
        if !stale.is_empty() {
            for w in &stale {
                if let Some(agent) = w.offered_agent_id {
                    events.push(withdrawn(agent, w.session_id));
                }
            }
            // The queue's lists (the board, pick-from-queue) lose the session.
            let queues: Vec<Uuid> = stale.iter().filter_map(queue_of).collect();
            events.extend(queue_events(&queues));
            let change = ConsoleChange {
                work_deletes: stale.iter().map(|w| w.session_id).collect(),
                events: std::mem::take(&mut events),
                ..ConsoleChange::default()
            };
            self.store.commit_console(&change, now).await?;
        }

        // 2. Offers nobody took in time.
        let timeout_ms = i64::try_from(self.offer_timeout.as_millis()).unwrap_or(i64::MAX);
        let expired: Vec<RoutingWork> = self
            .store
            .offers_due(now)
            .await?
            .into_iter()
            .filter(|w| {
                w.offered_at
                    .is_none_or(|at| offer_expired(at, timeout_ms, now))
            })
            .collect();
        if !expired.is_empty() {
            let mut upserts = Vec::with_capacity(expired.len());
            for mut w in expired {
                if let Some(agent) = w.offered_agent_id.take() {
                    events.push(withdrawn(agent, w.session_id));
                    if !w.declined_by.contains(&agent) {
                        w.declined_by.push(agent);
                    }
                }
                w.offered_at = None;
                w.offer_expires_at = None;
                w.target = fall_back(&w.target);
                upserts.push(w);
            }
            report.expired = upserts.len();
            let change = ConsoleChange {
                work_upserts: upserts,
                events: std::mem::take(&mut events),
                ..ConsoleChange::default()
            };
            self.store.commit_console(&change, now).await?;
        }

        // 3. Agents whose console is gone.
        for (agent, _, connected_until) in self.store.agents_with_memberships().await? {
            if gone_away(agent.presence, connected_until, now) {
                report.rerouted += self.take_back(agent.id, Presence::Offline).await?;
            }
        }

        // 4 and 5.
        let waiting = self.store.unoffered_sessions(WAITING_PER_ROUND).await?;
        let mut work = Vec::with_capacity(waiting.len());
        let mut new_rows = Vec::new();
        let mut rules_by_channel: HashMap<Uuid, Vec<RoutingRule>> = HashMap::new();
        let mut to_flows = Vec::new();
        for w in waiting {
            let row = match w.work {
                Some(row) => row,
                None => match self
                    .classify(&w.session, &mut rules_by_channel, now)
                    .await?
                {
                    Classified::Work(row) => {
                        new_rows.push(row.clone());
                        row
                    }
                    Classified::Flow(start) => {
                        to_flows.push(start);
                        continue;
                    }
                },
            };
            if row.offered_agent_id.is_some() {
                continue;
            }
            let Some(target) = target_of(&row) else {
                continue;
            };
            work.push(WaitingWork {
                session_id: row.session_id,
                target,
                priority: i32::try_from(row.priority).unwrap_or(0),
                waiting_since: row.waiting_since,
                declined_by: row.declined_by.clone(),
            });
        }
        for boxed in to_flows {
            let (held, expected, start) = *boxed;
            // RT-12: a rule's bot is a flow; it takes the session as an agent would.
            let change = ConsoleChange {
                sessions: vec![GuardedSession {
                    expected_status: expected.status,
                    expected_updated_at: expected.updated_at,
                    row: held,
                }],
                effects: Some(parley_store::InboundWrite {
                    flow_runs: vec![start.run],
                    jobs: vec![start.job],
                    ..Default::default()
                }),
                ..ConsoleChange::default()
            };
            match self.store.commit_console(&change, now).await {
                Ok(()) => {
                    report.classified += 1;
                    if let Some(w) = &self.flow_wake {
                        w.notify_one();
                    }
                }
                // The session moved meanwhile (the customer wrote, it ended): the next round
                // sees it as it is now.
                Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        if !new_rows.is_empty() {
            report.classified += new_rows.len();
            let queues: Vec<Uuid> = new_rows.iter().filter_map(queue_of).collect();
            let change = ConsoleChange {
                work_upserts: new_rows,
                events: queue_events(&queues),
                ..ConsoleChange::default()
            };
            self.store.commit_console(&change, now).await?;
        }
        if work.is_empty() {
            return Ok(report);
        }
        let (mut agents, queues) = self.routing_state(now).await?;
        // Work is offered only to agents who take conversations (`send_receive`).
        let permissions = self.store.agents_permissions().await?;
        agents.retain(|a| {
            use parley_core::routing::TakesConversations;
            permissions
                .get(&a.id)
                .is_some_and(TakesConversations::takes_conversations)
        });
        let plan = plan_offers(&work, &agents, &queues);
        if plan.is_empty() {
            return Ok(report);
        }
        let expires = now.plus(self.offer_timeout);
        let offers: Vec<OfferWrite> = plan
            .iter()
            .map(|a| OfferWrite {
                session_id: a.session_id,
                agent_id: a.agent_id,
                expires_at: expires,
            })
            .collect();
        let made = self
            .store
            .make_offers(
                &offers,
                |o| NewConsoleEvent {
                    agent_id: Some(o.agent_id),
                    kind: ConsoleEventKind::Offer,
                    data: json!({"session_id": o.session_id,
                                 "offer_expires_at": o.expires_at.to_rfc3339()})
                    .to_string(),
                },
                now,
            )
            .await?;
        report.offers = made.len();
        if !made.is_empty() {
            self.feed.written();
        }
        Ok(report)
    }

    /// Agents and queues as routing sees them now.
    pub async fn routing_state(
        &self,
        now: Timestamp,
    ) -> Result<(Vec<AgentState>, Vec<QueueState>), StoreError> {
        let loads = agent_loads(&self.store).await?;
        let agents = self
            .store
            .agents_with_memberships()
            .await?
            .into_iter()
            .map(|(a, last, connected_until)| AgentState {
                id: a.id,
                name: a.name.clone(),
                presence: a.presence,
                online: console_connected(connected_until, now),
                capacity: u32::try_from(a.capacity).unwrap_or(0),
                load: loads.get(&a.id).copied().unwrap_or(0),
                queues: a.queue_ids.clone(),
                skills: a
                    .skills
                    .iter()
                    .map(|s| SkillLevel {
                        skill_id: s.skill_id,
                        level: u8::try_from(s.level).unwrap_or(0),
                    })
                    .collect(),
                last_assigned_at: last,
            })
            .collect();
        let queues = all_queues(&self.store)
            .await?
            .into_iter()
            .map(|q| QueueState {
                id: q.id,
                model: q.routing_model,
                priority: i32::try_from(q.priority).unwrap_or(0),
                assignment: q.assignment,
            })
            .collect();
        Ok((agents, queues))
    }

    /// Where a newly waiting session goes: the channel's rules, or the queue it was handed to.
    async fn classify(
        &self,
        session: &Session,
        rules_cache: &mut HashMap<Uuid, Vec<RoutingRule>>,
        now: Timestamp,
    ) -> Result<Classified, StoreError> {
        let fallback = session.queue_id;
        #[allow(clippy::map_entry)] // the value needs an await between the lookup and the insert
        if !rules_cache.contains_key(&session.channel_id) {
            let stored = self.store.routing_rules(Some(session.channel_id)).await?;
            let rules = stored
                .into_iter()
                .filter_map(|r| {
                    let rule = RoutingRule {
                        id: r.id,
                        name: r.name,
                        position: i32::try_from(r.position).unwrap_or(i32::MAX),
                        channel_id: r.channel_id,
                        conditions: serde_json::from_value(r.conditions).ok()?,
                        actions: serde_json::from_value(r.actions).ok()?,
                    };
                    Some(rule)
                })
                .collect();
            rules_cache.insert(session.channel_id, rules);
        }
        let rules = rules_cache
            .get(&session.channel_id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut target = fallback.map(WorkTarget::Queue);
        let mut priority = 0;
        if !rules.is_empty() {
            let channel = self.store.channel(session.channel_id).await?;
            let user = self.store.messaging_user(session.messaging_user_id).await?;
            let first = self
                .store
                .session_summary(session.id, Uuid::nil())
                .await?
                .first_message
                .unwrap_or_default();
            let mut fields = BTreeMap::new();
            let mut prechat = BTreeMap::new();
            if let Some(contact_id) = user.contact_id
                && let Ok(c) = self.store.contact(contact_id).await
            {
                {
                    fields.insert("contact.first_name".to_owned(), c.first_name.clone());
                    fields.insert("contact.last_name".to_owned(), c.last_name.clone());
                    if let Some(email) = &c.email {
                        fields.insert("contact.email".to_owned(), email.clone());
                    }
                }
            }
            // The web chat's pre-chat values, as `prechat.<name>` (issue 14).
            if channel.kind == parley_core::model::ChannelKind::Web
                && let Some(web) = self.store.web_session_data(session.id).await?
            {
                for (name, value) in &web.prechat {
                    fields.insert(format!("prechat.{name}"), value.clone());
                }
                prechat = web.prechat;
            }
            let behaviour = behaviour_of(&channel.settings).unwrap_or_default();
            let language = user.locale.clone().or(behaviour.default_language.clone());
            let input = RoutingInput {
                channel_id: channel.id,
                channel_kind: channel.kind,
                first_message: &first,
                fields,
                language,
                now,
                business_hours: behaviour.business_hours.as_ref(),
            };
            let decision = evaluate_rules(rules, &input, fallback);
            priority = decision.priority;
            if let RouteTarget::Bot(name) = &decision.target {
                match self.flows.current(&self.store, name).await {
                    Ok((flow, definition)) => {
                        if let Some(held) = held_by_flow(session, flow.id, now) {
                            let start = start_run(
                                &flow,
                                &definition,
                                session.id,
                                Trigger::RoutingRule,
                                prechat,
                                now,
                            );
                            return Ok(Classified::Flow(Box::new((held, session.clone(), start))));
                        }
                    }
                    Err(FlowUseError::Store(e)) => return Err(e),
                    // A rule naming a flow that cannot run: the fallback queue takes the
                    // session so a person answers rather than nobody.
                    Err(e) => {
                        tracing::warn!(session_id = %session.id, error = %e, "route_to_bot: the flow cannot start")
                    }
                }
            }
            target = decision.work_target(fallback).or(target);
        }
        let target = target.unwrap_or(WorkTarget::Skills(Vec::new()));
        Ok(Classified::Work(waiting_row(
            session.id,
            &target,
            i64::from(priority),
            session.status_since,
            Vec::new(),
            None,
        )))
    }

    /// Shares the engine's parsed flows and wakes its flow runners (for `route_to_bot`).
    pub fn with_flows(mut self, flows: FlowCatalog, wake: Arc<Notify>) -> Self {
        self.flows = flows;
        self.flow_wake = Some(wake);
        self
    }

    /// Takes an agent's work back: their offers are withdrawn and their active sessions wait
    /// again for someone else (RT-08, SE-04c); their presence becomes `presence`. Returns how many
    /// sessions were moved.
    pub async fn take_back(&self, agent_id: Uuid, presence: Presence) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let mut change = ConsoleChange::default();
        for mut w in self.store.offers_of(agent_id).await? {
            change.events.push(withdrawn(agent_id, w.session_id));
            w.offered_agent_id = None;
            w.offered_at = None;
            w.offer_expires_at = None;
            change.work_upserts.push(w);
        }
        let mut moved = 0;
        for s in self.store.sessions_of_agent(agent_id).await? {
            if s.status != SessionStatus::Active {
                continue;
            }
            let state = state_of(&s);
            let Ok(t) = apply(
                &state,
                &SessionEvent::AgentWentOffline { at: now },
                &Default::default(),
            ) else {
                continue;
            };
            let mut row = row_of(&s, &t.state);
            row.owner_kind = None;
            row.owner_id = None;
            change.sessions.push(GuardedSession {
                expected_status: s.status,
                expected_updated_at: s.updated_at,
                row,
            });
            let target = s
                .queue_id
                .map_or(WorkTarget::Skills(Vec::new()), WorkTarget::Queue);
            change
                .work_upserts
                .push(waiting_row(s.id, &target, 0, now, vec![agent_id], None));
            change
                .events
                .extend(queue_events(&s.queue_id.into_iter().collect::<Vec<_>>()));
            change.events.push(NewConsoleEvent {
                agent_id: Some(agent_id),
                kind: ConsoleEventKind::Session,
                data: json!({"session_id": s.id, "status": "waiting", "owner_id": null})
                    .to_string(),
            });
            moved += 1;
        }
        change.events.push(presence_event(agent_id, presence));
        self.store.commit_console(&change, now).await?;
        self.store
            .set_agent_presence(agent_id, presence, None, now)
            .await?;
        self.feed.written();
        Ok(moved)
    }
}

/// A routing row for a session that starts (or starts again) to wait for `target`.
pub(crate) fn waiting_row(
    session_id: Uuid,
    target: &WorkTarget,
    priority: i64,
    since: Timestamp,
    declined_by: Vec<Uuid>,
    transfer_from: Option<Uuid>,
) -> RoutingWork {
    RoutingWork {
        session_id,
        target: serde_json::to_string(target).unwrap_or_default(),
        priority,
        waiting_since: since,
        offered_agent_id: None,
        offered_at: None,
        offer_expires_at: None,
        declined_by,
        transfer_from,
    }
}

/// Where classification sends a newly waiting session.
enum Classified {
    /// People: the routing row to write.
    Work(RoutingWork),
    /// A flow (a rule's `route_to_bot`): the session as the flow holds it, as it was read, and
    /// the run's rows.
    Flow(Box<(Session, Session, RunStart)>),
}

/// What a routing row waits for; `None` for a row this version cannot read.
pub(crate) fn target_of(row: &RoutingWork) -> Option<WorkTarget> {
    serde_json::from_str(&row.target).ok()
}

/// The queue a routing row's work belongs to, if any (directly, or as an agent target's fallback).
pub(crate) fn queue_of(row: &RoutingWork) -> Option<Uuid> {
    match target_of(row)? {
        WorkTarget::Queue(q) => Some(q),
        WorkTarget::Agent { fallback_queue, .. } => fallback_queue,
        WorkTarget::Skills(_) => None,
    }
}

/// After an offer to one agent ran out, the work goes to that target's fallback queue.
fn fall_back(target: &str) -> String {
    match serde_json::from_str::<WorkTarget>(target) {
        Ok(WorkTarget::Agent {
            fallback_queue: Some(q),
            ..
        }) => serde_json::to_string(&WorkTarget::Queue(q)).unwrap_or_else(|_| target.to_owned()),
        _ => target.to_owned(),
    }
}

pub(crate) fn withdrawn(agent_id: Uuid, session_id: Uuid) -> NewConsoleEvent {
    NewConsoleEvent {
        agent_id: Some(agent_id),
        kind: ConsoleEventKind::OfferWithdrawn,
        data: json!({"session_id": session_id}).to_string(),
    }
}

pub(crate) fn presence_event(agent_id: Uuid, presence: Presence) -> NewConsoleEvent {
    NewConsoleEvent {
        agent_id: Some(agent_id),
        kind: ConsoleEventKind::Presence,
        data: json!({"agent_id": agent_id, "presence": presence}).to_string(),
    }
}

pub(crate) fn queue_events(queues: &[Uuid]) -> Vec<NewConsoleEvent> {
    let mut q = queues.to_vec();
    q.sort_unstable();
    q.dedup();
    q.into_iter()
        .map(|queue_id| NewConsoleEvent {
            agent_id: None,
            kind: ConsoleEventKind::Queue,
            data: json!({"queue_id": queue_id}).to_string(),
        })
        .collect()
}

/// Each agent's load: sessions that consume capacity (RT-07, by core's rule) plus open offers.
pub async fn agent_loads(store: &Store) -> Result<HashMap<Uuid, u32>, StoreError> {
    Ok(agent_load_parts(store)
        .await?
        .into_iter()
        .map(|(id, l)| (id, l.conversations.saturating_add(l.offers)))
        .collect())
}

/// An agent's load in its two parts: what routing counts is their sum; people read them apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadParts {
    /// Sessions that consume capacity (RT-07, by core's rule).
    pub conversations: u32,
    /// Offers waiting for the agent's answer, which hold a slot meanwhile.
    pub offers: u32,
}

/// Each agent's [`LoadParts`].
pub async fn agent_load_parts(store: &Store) -> Result<HashMap<Uuid, LoadParts>, StoreError> {
    let mut loads: HashMap<Uuid, LoadParts> = HashMap::new();
    for row in store.agent_loads().await? {
        let initiated_by_agent = row.initiated_by != parley_core::model::Actor::Customer;
        if consumes_capacity(row.status, initiated_by_agent, row.customer_replied) {
            let l = loads.entry(row.agent_id).or_default();
            l.conversations = l
                .conversations
                .saturating_add(u32::try_from(row.sessions).unwrap_or(0));
        }
    }
    for (agent, n) in store.offer_counts().await? {
        let l = loads.entry(agent).or_default();
        l.offers = l.offers.saturating_add(u32::try_from(n).unwrap_or(0));
    }
    Ok(loads)
}

pub async fn all_queues(store: &Store) -> Result<Vec<parley_store::Queue>, StoreError> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_queues(PageRequest::new(after, PageRequest::MAX_LIMIT))
            .await?;
        out.extend(page.items);
        match page.next {
            Some(n) => after = Some(n),
            None => return Ok(out),
        }
    }
}

/// Whether the session's owner is the agent.
pub fn owned_by(s: &Session, agent_id: Uuid) -> bool {
    s.owner_kind == Some(OwnerKind::Agent) && s.owner_id == Some(agent_id)
}
