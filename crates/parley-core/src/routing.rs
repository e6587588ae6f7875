//! Routing decisions (RT, SE-16): which target a new session goes to, which agent is offered which
//! waiting session, and the small rules around them (capacity, offers, estimated wait time).
//!
//! Two stages, both pure:
//! - [`evaluate_rules`] picks a *target* for a session once, when it starts waiting: declarative
//!   [`RoutingRule`]s (the alternative to a flow builder, RT-01..05) matched against the channel, the
//!   first message, pre-chat or contact fields, language and business hours. No match goes to the
//!   channel's fallback queue (RT-04).
//! - [`plan_offers`] runs on every routing tick: given everything waiting and every agent's state,
//!   it says which agent is offered which session now (push routing). The engine records the
//!   offers; an agent accepts (SE-06), declines (the session waits again, never re-offered to them)
//!   or lets the offer time out ([`offer_expired`]).
//!
//! Who may receive work is settled here and nowhere else: presence that accepts work, console
//! connected (RT-06), spare capacity (RT-07). What a session's status becomes is
//! [`crate::session`]'s business; in particular the reply to an agent-initiated session (SE-16) is
//! decided by [`crate::session::plan_inbound`], which only needs to be told whether the agent can
//! take it ([`owner_available_for_reply`]).

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Timestamp;
use crate::keywords::{Language, normalize};
use crate::model::{Actor, ChannelKind, Presence, QueueAssignment, RoutingModel, SessionStatus};
use crate::session::SessionState;

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 24 * 60 * MINUTE_MS;
const DAY_MINUTES: i64 = 24 * 60;
const WEEK_MINUTES: i64 = 7 * DAY_MINUTES;

// ---------------------------------------------------------------------------------------------
// Push routing
// ---------------------------------------------------------------------------------------------

/// A skill and a level on the 1..=10 scale: what an agent has, or the minimum a session needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkillLevel {
    pub skill_id: Uuid,
    pub level: u8,
}

/// The lowest and highest skill level.
pub const SKILL_LEVELS: std::ops::RangeInclusive<u8> = 1..=10;

/// An agent as routing sees it at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentState {
    pub id: Uuid,
    pub name: String,
    pub presence: Presence,
    /// The console is connected (RT-06: only agents logged in to the console get work).
    pub online: bool,
    pub capacity: u32,
    /// Sessions consuming capacity ([`consumes_capacity`]) plus open offers: an offer holds a slot
    /// so two ticks cannot offer an agent more than they can take.
    pub load: u32,
    pub queues: Vec<Uuid>,
    pub skills: Vec<SkillLevel>,
    pub last_assigned_at: Option<Timestamp>,
}

impl AgentState {
    /// Whether the agent may be offered anything right now, whatever the session.
    pub fn accepts_offers(&self) -> bool {
        self.presence.accepts_work() && self.online && self.load < self.capacity
    }

    pub fn free_capacity(&self) -> u32 {
        self.capacity.saturating_sub(self.load)
    }

    /// The agent's level on a skill; a skill listed twice counts at its higher level.
    pub fn skill_level(&self, skill_id: Uuid) -> Option<u8> {
        self.skills
            .iter()
            .filter(|s| s.skill_id == skill_id)
            .map(|s| s.level)
            .max()
    }

    /// Whether the agent has every required skill at or above its level.
    pub fn has_skills(&self, required: &[SkillLevel]) -> bool {
        required
            .iter()
            .all(|r| self.skill_level(r.skill_id).is_some_and(|l| l >= r.level))
    }

    fn skill_total(&self, required: &[SkillLevel]) -> u32 {
        required
            .iter()
            .filter_map(|r| self.skill_level(r.skill_id))
            .map(u32::from)
            .sum()
    }
}

/// A queue as routing sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueState {
    pub id: Uuid,
    pub model: RoutingModel,
    /// Higher is served first.
    pub priority: i32,
    /// A `pick` queue's work is never offered: its members take it (RT-13).
    pub assignment: QueueAssignment,
}

/// What a waiting session is waiting for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkTarget {
    /// Any member of the queue, chosen by the queue's routing model.
    Queue(Uuid),
    /// Any agent with every listed skill at or above the listed (minimum) level.
    Skills(Vec<SkillLevel>),
    /// Exactly this agent (a direct transfer, or a rule's `route_to_agent`). While the agent cannot
    /// take it the work waits; `fallback_queue` is not used by [`plan_offers`]: the engine retargets
    /// the work to it when an offer to the agent times out or is declined.
    Agent {
        agent_id: Uuid,
        fallback_queue: Option<Uuid>,
    },
}

/// A session waiting for an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingWork {
    pub session_id: Uuid,
    pub target: WorkTarget,
    /// Higher is served first, after queue priority.
    pub priority: i32,
    pub waiting_since: Timestamp,
    /// Agents who declined (or let time out) an offer of this session; never offered it again.
    pub declined_by: Vec<Uuid>,
}

/// One offer to make now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Assignment {
    pub session_id: Uuid,
    pub agent_id: Uuid,
}

/// How recently an agent was given work. Offers made earlier in the same plan are more recent than
/// anything the store knows, and later ones more recent still, so round robin rotates within one
/// plan without needing the current time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Recency {
    Never,
    At(Timestamp),
    ThisPlan(usize),
}

/// How to choose among eligible agents.
#[derive(Debug, Clone, Copy)]
enum Choice {
    Model(RoutingModel),
    /// Most available, then the stronger agent on the required skills.
    Skills,
}

struct Candidate {
    free: u32,
    load: u32,
    skill_total: u32,
    recency: Recency,
    id: Uuid,
}

/// `Less` when `a` should be chosen before `b`. Every model ends on (least recently assigned, id)
/// so the choice is deterministic and equal agents take turns.
fn rank(choice: Choice, a: &Candidate, b: &Candidate) -> Ordering {
    let first = match choice {
        Choice::Model(RoutingModel::MostAvailable) => b.free.cmp(&a.free),
        Choice::Model(RoutingModel::LeastActive) => a.load.cmp(&b.load),
        Choice::Model(RoutingModel::RoundRobin) => Ordering::Equal,
        Choice::Skills => b.free.cmp(&a.free).then(b.skill_total.cmp(&a.skill_total)),
    };
    first.then(a.recency.cmp(&b.recency)).then(a.id.cmp(&b.id))
}

/// Push routing: which agent is offered which waiting session now.
///
/// Work is served in order of queue priority (descending; skills and agent targets count as 0, and
/// so does a queue missing from `queues`, which also routes as `most_available`), then work
/// priority (descending), then `waiting_since` (oldest first), then `session_id`. Each piece of
/// work goes to the best eligible agent, if any; the plan is greedy in that order, so a session is
/// never passed over for a later one that an agent could have taken instead.
///
/// An agent is eligible when their presence accepts work, their console is connected, their load
/// is under capacity, they have not declined the session, and they match the target: a member of
/// the queue; every required skill at or above its level; or exactly the named agent. Among eligible
/// agents a queue's model chooses: `most_available` the most free capacity, `least_active` the
/// smallest load, `round_robin` the least recently assigned (never assigned first); ties go to the
/// least recently assigned, then the lowest id. Skills targets choose like `most_available`, with
/// ties going to the higher total level on the required skills.
///
/// Each offer counts against the agent at once (load and recency), so nobody exceeds capacity and
/// round robin rotates within one plan. A session is offered at most once, even if it appears twice.
/// Assignments come back in serving order. Work waiting in a `pick` queue is never offered: the
/// queue's members take it themselves ([`may_take`]).
pub fn plan_offers(
    work: &[WaitingWork],
    agents: &[AgentState],
    queues: &[QueueState],
) -> Vec<Assignment> {
    let mut queue_by_id: HashMap<Uuid, QueueState> = HashMap::with_capacity(queues.len());
    for q in queues {
        queue_by_id.entry(q.id).or_insert(*q);
    }
    let queue_of = |w: &WaitingWork| match &w.target {
        WorkTarget::Queue(id) => queue_by_id.get(id).copied(),
        WorkTarget::Skills(_) | WorkTarget::Agent { .. } => None,
    };

    let mut order: Vec<&WaitingWork> = work.iter().collect();
    // Stable, so duplicates with equal keys keep their input order.
    order.sort_by_key(|w| {
        let queue_priority = queue_of(w).map_or(0, |q| q.priority);
        (
            Reverse(queue_priority),
            Reverse(w.priority),
            w.waiting_since,
            w.session_id,
        )
    });

    let mut loads: Vec<u32> = agents.iter().map(|a| a.load).collect();
    let mut recency: Vec<Recency> = agents
        .iter()
        .map(|a| a.last_assigned_at.map_or(Recency::Never, Recency::At))
        .collect();
    let mut offered: HashSet<Uuid> = HashSet::new();
    let mut out = Vec::new();

    for w in order {
        if offered.contains(&w.session_id) {
            continue;
        }
        if queue_of(w).is_some_and(|q| q.assignment == QueueAssignment::Pick) {
            continue;
        }
        let choice = match &w.target {
            WorkTarget::Queue(_) => {
                Choice::Model(queue_of(w).map_or(RoutingModel::MostAvailable, |q| q.model))
            }
            WorkTarget::Skills(_) | WorkTarget::Agent { .. } => Choice::Skills,
        };
        let best = agents
            .iter()
            .zip(loads.iter().zip(recency.iter()))
            .enumerate()
            .filter(|(_, (agent, (load, _)))| {
                agent.presence.accepts_work()
                    && agent.online
                    && **load < agent.capacity
                    && !w.declined_by.contains(&agent.id)
                    && matches_target(agent, &w.target)
            })
            .map(|(i, (agent, (load, rec)))| {
                let skill_total = match &w.target {
                    WorkTarget::Skills(required) => agent.skill_total(required),
                    _ => 0,
                };
                (
                    i,
                    Candidate {
                        free: agent.capacity.saturating_sub(*load),
                        load: *load,
                        skill_total,
                        recency: *rec,
                        id: agent.id,
                    },
                )
            })
            .min_by(|(_, a), (_, b)| rank(choice, a, b));
        let Some((index, candidate)) = best else {
            continue;
        };
        if let Some(load) = loads.get_mut(index) {
            *load = load.saturating_add(1);
        }
        if let Some(rec) = recency.get_mut(index) {
            *rec = Recency::ThisPlan(out.len());
        }
        offered.insert(w.session_id);
        out.push(Assignment {
            session_id: w.session_id,
            agent_id: candidate.id,
        });
    }
    out
}

fn matches_target(agent: &AgentState, target: &WorkTarget) -> bool {
    match target {
        WorkTarget::Queue(id) => agent.queues.contains(id),
        WorkTarget::Skills(required) => agent.has_skills(required),
        WorkTarget::Agent { agent_id, .. } => agent.id == *agent_id,
    }
}

/// Why an agent may not take, or be given, a waiting session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TakeRefused {
    #[error("this queue offers its sessions to agents; accept an offer instead")]
    NotPickQueue,
    #[error("only members of the queue may take its sessions")]
    NotMember,
    #[error("this agent does not take conversations or may not take this session")]
    NotEligible,
    #[error("this agent is offline")]
    Offline,
    #[error("at capacity: {load} of {capacity} conversations and offers")]
    AtCapacity { load: u32, capacity: u32 },
}

/// Whether an agent may take a waiting session from a queue themself (pick-from-queue, RT-13):
/// the queue is a `pick` queue, the agent is its member, and has room under capacity, where
/// pending offers count as for push routing (RT-07). Presence does not matter: taking is the
/// agent's own choice.
pub fn may_take(agent: &AgentState, queue: &QueueState) -> Result<(), TakeRefused> {
    if queue.assignment != QueueAssignment::Pick {
        return Err(TakeRefused::NotPickQueue);
    }
    if !agent.queues.contains(&queue.id) {
        return Err(TakeRefused::NotMember);
    }
    if agent.load >= agent.capacity {
        return Err(TakeRefused::AtCapacity {
            load: agent.load,
            capacity: agent.capacity,
        });
    }
    Ok(())
}

/// Whether a supervisor may assign a waiting session to an agent: one who takes conversations,
/// is not offline, and would be offered it by routing's target rules (a member of its queue,
/// with its skills; for work aimed at one agent, a member of its fallback queue, or anyone when it
/// has none). Capacity binds unless the supervisor overrides it, and the override is theirs to
/// see: the board then shows the agent over capacity.
pub fn may_assign(
    agent: &AgentState,
    takes_conversations: bool,
    target: &WorkTarget,
    override_capacity: bool,
) -> Result<(), TakeRefused> {
    let eligible = takes_conversations
        && match target {
            WorkTarget::Agent {
                fallback_queue: Some(q),
                agent_id,
            } => agent.id == *agent_id || agent.queues.contains(q),
            WorkTarget::Agent { .. } => true,
            other => matches_target(agent, other),
        };
    if !eligible {
        return Err(TakeRefused::NotEligible);
    }
    if agent.presence == Presence::Offline {
        return Err(TakeRefused::Offline);
    }
    if !override_capacity && agent.load >= agent.capacity {
        return Err(TakeRefused::AtCapacity {
            load: agent.load,
            capacity: agent.capacity,
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Capacity, offers, replies, wait time
// ---------------------------------------------------------------------------------------------

/// Whether a session counts against its agent's capacity (RT-07, SE-16). Only `Active` does, and an
/// agent-initiated session only once the customer has replied: the agent may write to many people
/// and should not be blocked by those who never answer. `Inactive` frees the slot (SE-07); `New`,
/// `Waiting` and `Consent` have no agent; `Ended` and `Error` are over. A bot's session does not
/// count against any agent: the caller counts only sessions owned by the agent.
pub fn consumes_capacity(
    status: SessionStatus,
    initiated_by_agent: bool,
    customer_replied: bool,
) -> bool {
    status == SessionStatus::Active && (!initiated_by_agent || customer_replied)
}

/// [`consumes_capacity`] for a session as [`crate::session`] keeps it. Any business-initiated
/// session (agent, bot or system) is free until the customer writes.
pub fn session_consumes_capacity(state: &SessionState) -> bool {
    consumes_capacity(
        state.status,
        state.initiated_by != Actor::Customer,
        state.customer_messages > 0,
    )
}

/// Whether the agent who started a session can take the customer's reply (SE-16): their console
/// is connected and their presence is not offline. Capacity and a busy or break presence do not
/// matter: the conversation is already theirs, and the document only asks that they be online. This
/// is the `owner_available` that [`crate::session::plan_inbound`] needs; the 24-hour window is
/// checked there.
pub fn owner_available_for_reply(presence: Presence, online: bool) -> bool {
    online && presence != Presence::Offline
}

/// How many agents the transfer picker shows (RT-09).
pub const TRANSFER_PICKER_SIZE: usize = 5;

/// The transfer picker (RT-09): agents other than `me` who take conversations, whose name contains
/// the query (case-insensitive), alphabetical, at most [`TRANSFER_PICKER_SIZE`], without their
/// status.
pub fn transfer_targets<T: TakesConversations>(
    agents: &[(Uuid, String, T)],
    me: Uuid,
    query: &str,
) -> Vec<(Uuid, String)> {
    let q = query.trim().to_lowercase();
    let mut found: Vec<(Uuid, String)> = agents
        .iter()
        .filter(|(id, name, role)| {
            *id != me
                && role.takes_conversations()
                && (q.is_empty() || name.to_lowercase().contains(&q))
        })
        .map(|(id, name, _)| (*id, name.clone()))
        .collect();
    found.sort_by(|a, b| {
        a.1.to_lowercase()
            .cmp(&b.1.to_lowercase())
            .then(a.0.cmp(&b.0))
    });
    found.truncate(TRANSFER_PICKER_SIZE);
    found
}

/// Whether an agent takes conversations (is offered work, can be transferred to): by their
/// permissions (`send_receive`), or by a role's default set.
pub trait TakesConversations {
    fn takes_conversations(&self) -> bool;
}

impl TakesConversations for crate::access::PermissionSet {
    fn takes_conversations(&self) -> bool {
        self.contains(crate::access::Permission::SendReceive)
    }
}

impl TakesConversations for crate::model::AgentRole {
    fn takes_conversations(&self) -> bool {
        crate::access::PermissionSet::for_role(self.token_role()).takes_conversations()
    }
}

/// How long an agent has to accept an offer before it goes to someone else. The agent is then
/// treated as having declined it, so the next plan skips them for that session.
pub const DEFAULT_OFFER_TIMEOUT_MS: i64 = 30_000;

/// How long an agent's console may stay disconnected before their active sessions are re-routed
/// (RT-08, SE-04c: status Waiting). The grace keeps a page reload or a brief network drop from
/// throwing every conversation back into the queue.
pub const DEFAULT_OFFLINE_GRACE_MS: i64 = 60_000;

/// Whether an offer made at `offered_at` has run out. A timeout of zero or less expires at once.
pub fn offer_expired(offered_at: Timestamp, timeout_ms: i64, now: Timestamp) -> bool {
    now.millis().saturating_sub(offered_at.millis()) >= timeout_ms
}

/// Whether an agent's console counts as connected (RT-06): its stream renews `connected_until`
/// to the last renewal plus the grace period, so an agent whose console is gone for longer than
/// the grace is disconnected, and their sessions go back to routing (RT-08).
pub fn console_connected(connected_until: Option<Timestamp>, now: Timestamp) -> bool {
    connected_until.is_some_and(|until| until >= now)
}

/// Whether an agent must be taken off work: not offline by choice, but no longer connected.
pub fn gone_away(presence: Presence, connected_until: Option<Timestamp>, now: Timestamp) -> bool {
    presence != Presence::Offline && !console_connected(connected_until, now)
}

/// One accepted session of a queue: when it was accepted and how long it had waited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptSample {
    pub accepted_at: Timestamp,
    pub waited_ms: i64,
}

/// Only accepts this recent count towards the estimated wait time (RT-10).
pub const ESTIMATED_WAIT_WINDOW_MS: i64 = 10 * MINUTE_MS;
/// Fewer accepts than this in the window and no estimate is shown (RT-10).
pub const ESTIMATED_WAIT_MIN_SAMPLES: usize = 10;

/// The estimated wait in whole minutes for one queue (RT-10), from that queue's recent accepts.
///
/// Only samples accepted in the last 10 minutes count; with fewer than 10 there is no estimate.
/// Otherwise the mean wait, rounded up to whole minutes, at least 1. A sample stamped after `now`
/// comes from a node whose clock is slightly ahead and still counts; a negative wait counts as 0.
pub fn estimated_wait(accepts: &[AcceptSample], now: Timestamp) -> Option<u32> {
    let cutoff = now.millis().saturating_sub(ESTIMATED_WAIT_WINDOW_MS);
    let (count, total) = accepts
        .iter()
        .filter(|s| s.accepted_at.millis() >= cutoff)
        .fold((0_usize, 0_u128), |(n, sum), s| {
            let waited = u128::try_from(s.waited_ms).unwrap_or(0);
            (n.saturating_add(1), sum.saturating_add(waited))
        });
    if count < ESTIMATED_WAIT_MIN_SAMPLES {
        return None;
    }
    // ceil(total / count / minute) computed exactly in one division.
    let per_minute = u128::try_from(count)
        .unwrap_or(u128::MAX)
        .saturating_mul(MINUTE_MS.unsigned_abs().into());
    let minutes = total.div_ceil(per_minute).max(1);
    Some(u32::try_from(minutes).unwrap_or(u32::MAX))
}

// ---------------------------------------------------------------------------------------------
// Business hours
// ---------------------------------------------------------------------------------------------

/// Opening hours as weekly intervals in one fixed UTC offset. A fixed offset rather than a time
/// zone keeps core free of a tz database; a business that observes daylight saving updates the
/// offset twice a year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessHours {
    /// Local time minus UTC, in minutes (-300 for UTC-5). At most 18 hours either way.
    pub utc_offset_minutes: i32,
    /// Open during any of these; none means always closed.
    pub intervals: Vec<WeeklyInterval>,
}

/// Open on `day` (0 = Monday .. 6 = Sunday) from `start_minute` (inclusive) to `end_minute`
/// (exclusive), minutes after local midnight. An end at or before the start runs past midnight into
/// the next day (Sunday wraps to Monday): 22:00-02:00 is one interval. 0-1440 is the whole day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeeklyInterval {
    pub day: u8,
    pub start_minute: u16,
    pub end_minute: u16,
}

/// The largest UTC offset accepted, as ISO 8601 allows.
pub const MAX_UTC_OFFSET_MINUTES: i32 = 18 * 60;

impl WeeklyInterval {
    fn contains(self, minute_of_week: i64) -> bool {
        let start = i64::from(self.day) * DAY_MINUTES + i64::from(self.start_minute);
        let mut end = i64::from(self.day) * DAY_MINUTES + i64::from(self.end_minute);
        if self.end_minute <= self.start_minute {
            end += DAY_MINUTES;
        }
        let open = start..end;
        open.contains(&minute_of_week) || open.contains(&(minute_of_week + WEEK_MINUTES))
    }
}

/// Why business hours cannot be saved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusinessHoursError {
    #[error(
        "the UTC offset {0} minutes is out of range; it must be between -1080 and 1080 (18 hours)"
    )]
    Offset(i32),
    #[error("interval {index}: day {day} is not a weekday; use 0 (Monday) to 6 (Sunday)")]
    Day { index: usize, day: u8 },
    #[error("interval {index}: start minute {minute} is past the end of the day (0 to 1439)")]
    Start { index: usize, minute: u16 },
    #[error("interval {index}: end minute {minute} is past the end of the day (1 to 1440)")]
    End { index: usize, minute: u16 },
    #[error(
        "interval {index}: it starts and ends at minute {minute}; use 0 to 1440 for a whole day"
    )]
    Empty { index: usize, minute: u16 },
}

impl BusinessHours {
    /// Whether the business is open at `now`.
    pub fn is_open(&self, now: Timestamp) -> bool {
        let offset = i64::from(self.utc_offset_minutes) * MINUTE_MS;
        let minute = minute_of_week(now.millis().saturating_add(offset));
        self.intervals.iter().any(|i| i.contains(minute))
    }

    /// Checks the offset and every interval; interval numbers in errors start at 1.
    pub fn validate(&self) -> Result<(), Vec<BusinessHoursError>> {
        let mut errors = Vec::new();
        if self.utc_offset_minutes.unsigned_abs() > MAX_UTC_OFFSET_MINUTES.unsigned_abs() {
            errors.push(BusinessHoursError::Offset(self.utc_offset_minutes));
        }
        for (i, iv) in self.intervals.iter().enumerate() {
            let index = i.saturating_add(1);
            if iv.day > 6 {
                errors.push(BusinessHoursError::Day { index, day: iv.day });
            }
            if i64::from(iv.start_minute) >= DAY_MINUTES {
                errors.push(BusinessHoursError::Start {
                    index,
                    minute: iv.start_minute,
                });
            }
            if i64::from(iv.end_minute) > DAY_MINUTES {
                errors.push(BusinessHoursError::End {
                    index,
                    minute: iv.end_minute,
                });
            }
            if iv.start_minute == iv.end_minute {
                errors.push(BusinessHoursError::Empty {
                    index,
                    minute: iv.start_minute,
                });
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// Minutes since local Monday 00:00 for a local time in ms since the epoch.
fn minute_of_week(local_ms: i64) -> i64 {
    let days = local_ms.div_euclid(DAY_MS);
    // 1970-01-01 was a Thursday, day 3 when Monday is 0.
    let weekday = (days + 3).rem_euclid(7);
    weekday * DAY_MINUTES + local_ms.rem_euclid(DAY_MS) / MINUTE_MS
}

// ---------------------------------------------------------------------------------------------
// Declarative routing rules
// ---------------------------------------------------------------------------------------------

/// One routing rule: when every condition holds, its actions decide where a new session goes.
/// Stored as JSON and accepted as is by the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingRule {
    pub id: Uuid,
    pub name: String,
    /// Rules are tried from the lowest position; equal positions go by id.
    pub position: i32,
    /// Only for sessions on this channel; `None` for every channel.
    #[serde(default)]
    pub channel_id: Option<Uuid>,
    /// All must hold; none means the rule always matches (a catch-all).
    #[serde(default)]
    pub conditions: Vec<Condition>,
    pub actions: Vec<RuleAction>,
}

fn yes() -> bool {
    true
}

/// A test on a new session. Text comparisons use the keyword folding of [`normalize`]: case and
/// accents do not matter ("Facturé" = "facture").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    ChannelKindIs {
        kind: ChannelKind,
    },
    /// The folded first message contains the folded text anywhere, word boundaries ignored: "bill"
    /// matches "Billing".
    FirstMessageContains {
        text: String,
    },
    /// The first message contains any of these words or phrases as whole words: "bill" matches
    /// "my bill?" but not "billing"; "credit card" matches "CREDIT-card".
    FirstMessageMatchesAny {
        words: Vec<String>,
    },
    /// A pre-chat or contact field equals the value, both folded. Field names are compared folded
    /// too, an exact name first; a missing field never matches.
    FieldEquals {
        field: String,
        value: String,
    },
    /// Inside business hours when `value` is true (the default), outside when false. A channel
    /// with no business hours is always open.
    WithinBusinessHours {
        #[serde(default = "yes")]
        value: bool,
    },
    /// The session's language falls under this tag: "fr" matches "fr" and "fr-CA"; "fr-CA"
    /// matches "fr-CA" but not "fr" or "fr-FR". Case and `_` versus `-` do not matter. A session
    /// with no language never matches.
    LanguageIs {
        language: String,
    },
}

/// What a matching rule does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RuleAction {
    RouteToQueue {
        queue_id: Uuid,
    },
    /// Minimum levels.
    RouteToSkills {
        skills: Vec<SkillLevel>,
    },
    RouteToAgent {
        agent_id: Uuid,
    },
    /// A bot, by name; bots are placeholders for now.
    RouteToBot {
        bot: String,
    },
    /// The session's work priority (higher is served first), alongside the rule's route.
    SetPriority {
        priority: i32,
    },
}

impl RuleAction {
    fn route(&self) -> Option<RouteTarget> {
        match self {
            Self::RouteToQueue { queue_id } => Some(RouteTarget::Queue(*queue_id)),
            Self::RouteToSkills { skills } => Some(RouteTarget::Skills(skills.clone())),
            Self::RouteToAgent { agent_id } => Some(RouteTarget::Agent(*agent_id)),
            Self::RouteToBot { bot } => Some(RouteTarget::Bot(bot.clone())),
            Self::SetPriority { .. } => None,
        }
    }
}

/// Where a session goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteTarget {
    Queue(Uuid),
    Skills(Vec<SkillLevel>),
    Agent(Uuid),
    Bot(String),
    /// No rule matched and the channel has no fallback queue.
    Unroutable,
}

/// The outcome of [`evaluate_rules`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingDecision {
    pub target: RouteTarget,
    pub priority: i32,
    /// The rule that decided, `None` when none matched.
    pub matched_rule: Option<Uuid>,
}

impl RoutingDecision {
    /// The work a person-bound target puts in front of [`plan_offers`]; `None` for a bot or when
    /// unroutable. An agent target keeps `fallback_queue` for when the agent does not take it.
    pub fn work_target(&self, fallback_queue: Option<Uuid>) -> Option<WorkTarget> {
        match &self.target {
            RouteTarget::Queue(id) => Some(WorkTarget::Queue(*id)),
            RouteTarget::Skills(skills) => Some(WorkTarget::Skills(skills.clone())),
            RouteTarget::Agent(agent_id) => Some(WorkTarget::Agent {
                agent_id: *agent_id,
                fallback_queue,
            }),
            RouteTarget::Bot(_) | RouteTarget::Unroutable => None,
        }
    }
}

/// What the rules look at for one new session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingInput<'a> {
    pub channel_id: Uuid,
    pub channel_kind: ChannelKind,
    pub first_message: &'a str,
    /// Pre-chat fields and contact fields, by name.
    pub fields: BTreeMap<String, String>,
    /// A BCP 47 tag such as "fr-CA", from pre-chat or the messaging user's locale.
    pub language: Option<String>,
    pub now: Timestamp,
    /// The channel's business hours; `None` means always open.
    pub business_hours: Option<&'a BusinessHours>,
}

/// The first message folded once, in the two shapes conditions compare against.
struct FoldedMessage {
    text: String,
    words: Vec<String>,
}

impl FoldedMessage {
    fn new(message: &str) -> Self {
        let text = normalize(message);
        let words = words(&text);
        Self { text, words }
    }

    fn has_phrase(&self, phrase: &[String]) -> bool {
        !phrase.is_empty()
            && self
                .words
                .windows(phrase.len())
                .any(|window| window == phrase)
    }
}

/// Splits folded text into words at anything that is not a letter or digit.
fn words(folded: &str) -> Vec<String> {
    folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

fn field_value<'f>(fields: &'f BTreeMap<String, String>, name: &str) -> Option<&'f String> {
    fields.get(name).or_else(|| {
        let wanted = normalize(name);
        fields
            .iter()
            .find(|(k, _)| normalize(k) == wanted)
            .map(|(_, v)| v)
    })
}

/// RFC 4647 basic filtering: the range matches the tag itself and any more specific tag.
fn language_matches(range: &str, tag: &str) -> bool {
    let range = Language::new(range);
    let tag = Language::new(tag);
    let (range, tag) = (range.as_str(), tag.as_str());
    !range.is_empty()
        && (tag == range
            || tag
                .strip_prefix(range)
                .is_some_and(|rest| rest.starts_with('-')))
}

fn condition_holds(condition: &Condition, input: &RoutingInput<'_>, msg: &FoldedMessage) -> bool {
    match condition {
        Condition::ChannelKindIs { kind } => input.channel_kind == *kind,
        Condition::FirstMessageContains { text } => {
            let needle = normalize(text);
            !needle.is_empty() && msg.text.contains(&needle)
        }
        Condition::FirstMessageMatchesAny { words: list } => {
            list.iter().any(|w| msg.has_phrase(&words(&normalize(w))))
        }
        Condition::FieldEquals { field, value } => {
            field_value(&input.fields, field).is_some_and(|v| normalize(v) == normalize(value))
        }
        Condition::WithinBusinessHours { value } => {
            input.business_hours.is_none_or(|h| h.is_open(input.now)) == *value
        }
        Condition::LanguageIs { language } => input
            .language
            .as_deref()
            .is_some_and(|tag| language_matches(language, tag)),
    }
}

/// Decides where a new session goes (RT-01..05).
///
/// Only rules for every channel or for the input's channel apply, tried by position (then id). The
/// first whose conditions all hold decides: its route action gives the target and its
/// `set_priority` the priority (0 without one). A rule that matches with only `set_priority` sends
/// the session to the fallback queue at that priority. When no rule matches, the fallback queue at
/// priority 0 (RT-04); without a fallback queue, [`RouteTarget::Unroutable`].
///
/// Rules are meant to be checked by [`validate_rule`] when saved; an unchecked rule with several
/// route actions uses the first, and with several priorities the last.
pub fn evaluate_rules(
    rules: &[RoutingRule],
    input: &RoutingInput<'_>,
    fallback_queue: Option<Uuid>,
) -> RoutingDecision {
    let fallback = || fallback_queue.map_or(RouteTarget::Unroutable, RouteTarget::Queue);
    let msg = FoldedMessage::new(input.first_message);
    let mut applicable: Vec<&RoutingRule> = rules
        .iter()
        .filter(|r| r.channel_id.is_none_or(|c| c == input.channel_id))
        .collect();
    applicable.sort_by_key(|r| (r.position, r.id));
    let Some(rule) = applicable
        .into_iter()
        .find(|r| r.conditions.iter().all(|c| condition_holds(c, input, &msg)))
    else {
        return RoutingDecision {
            target: fallback(),
            priority: 0,
            matched_rule: None,
        };
    };
    let target = rule
        .actions
        .iter()
        .find_map(RuleAction::route)
        .unwrap_or_else(fallback);
    let priority = rule
        .actions
        .iter()
        .filter_map(|a| match a {
            RuleAction::SetPriority { priority } => Some(*priority),
            _ => None,
        })
        .next_back()
        .unwrap_or(0);
    RoutingDecision {
        target,
        priority,
        matched_rule: Some(rule.id),
    }
}

/// One problem with a routing rule. Condition and action numbers start at 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("the rule has no name")]
    EmptyName,
    #[error(
        "the rule has no actions; add one route action (route_to_queue, route_to_skills, route_to_agent or route_to_bot) and optionally set_priority"
    )]
    NoActions,
    #[error("the rule has {count} route actions; a rule routes to exactly one target")]
    SeveralRoutes { count: usize },
    #[error("the rule sets the priority {count} times; set it once")]
    SeveralPriorities { count: usize },
    #[error("condition {index}: first_message_contains needs some text (letters or digits)")]
    EmptyText { index: usize },
    #[error("condition {index}: first_message_matches_any needs at least one word")]
    NoWords { index: usize },
    #[error("condition {index}: word {word} of first_message_matches_any has no letters or digits")]
    EmptyWord { index: usize, word: usize },
    #[error("condition {index}: field_equals needs a field name")]
    EmptyField { index: usize },
    #[error("condition {index}: '{language}' is not a language tag such as 'fr' or 'fr-CA'")]
    BadLanguage { index: usize, language: String },
    #[error("action {index}: route_to_skills needs at least one skill")]
    NoSkills { index: usize },
    #[error("action {index}: skill {skill_id} has level {level}; levels run from 1 to 10")]
    BadSkillLevel {
        index: usize,
        skill_id: Uuid,
        level: u8,
    },
    #[error("action {index}: skill {skill_id} is listed more than once")]
    DuplicateSkill { index: usize, skill_id: Uuid },
    #[error("action {index}: route_to_bot needs a bot name")]
    EmptyBot { index: usize },
}

/// Every problem with one rule, in one readable message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("routing rule '{rule}' is invalid: {}", join_errors(.errors))]
pub struct InvalidRoutingRule {
    /// The rule's name, or its id when it has none.
    pub rule: String,
    pub errors: Vec<RuleError>,
}

fn join_errors(errors: &[RuleError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// A BCP 47-shaped tag: a primary subtag of 2 to 8 letters, then subtags of 1 to 8 letters or
/// digits. Registry membership is not checked.
fn is_language_tag(tag: &str) -> bool {
    let tag = Language::new(tag);
    let mut parts = tag.as_str().split('-');
    let primary_ok = parts
        .next()
        .is_some_and(|p| (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphabetic()));
    primary_ok
        && parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// Checks one rule's shape, to run when a rule is saved. Whether the queues, skills, agents and
/// channel it names exist is the store's check.
pub fn validate_rule(rule: &RoutingRule) -> Result<(), InvalidRoutingRule> {
    let mut errors = Vec::new();
    if rule.name.trim().is_empty() {
        errors.push(RuleError::EmptyName);
    }
    for (i, condition) in rule.conditions.iter().enumerate() {
        let index = i.saturating_add(1);
        match condition {
            Condition::ChannelKindIs { .. } | Condition::WithinBusinessHours { .. } => {}
            Condition::FirstMessageContains { text } => {
                if normalize(text).is_empty() {
                    errors.push(RuleError::EmptyText { index });
                }
            }
            Condition::FirstMessageMatchesAny { words: list } => {
                if list.is_empty() {
                    errors.push(RuleError::NoWords { index });
                }
                for (w, word) in list.iter().enumerate() {
                    if words(&normalize(word)).is_empty() {
                        errors.push(RuleError::EmptyWord {
                            index,
                            word: w.saturating_add(1),
                        });
                    }
                }
            }
            Condition::FieldEquals { field, .. } => {
                if field.trim().is_empty() {
                    errors.push(RuleError::EmptyField { index });
                }
            }
            Condition::LanguageIs { language } => {
                if !is_language_tag(language) {
                    errors.push(RuleError::BadLanguage {
                        index,
                        language: language.clone(),
                    });
                }
            }
        }
    }
    if rule.actions.is_empty() {
        errors.push(RuleError::NoActions);
    }
    let routes = rule.actions.iter().filter(|a| a.route().is_some()).count();
    if routes > 1 {
        errors.push(RuleError::SeveralRoutes { count: routes });
    }
    let priorities = rule
        .actions
        .iter()
        .filter(|a| matches!(a, RuleAction::SetPriority { .. }))
        .count();
    if priorities > 1 {
        errors.push(RuleError::SeveralPriorities { count: priorities });
    }
    for (i, action) in rule.actions.iter().enumerate() {
        let index = i.saturating_add(1);
        match action {
            RuleAction::RouteToSkills { skills } => {
                if skills.is_empty() {
                    errors.push(RuleError::NoSkills { index });
                }
                let mut seen = HashSet::new();
                for s in skills {
                    if !SKILL_LEVELS.contains(&s.level) {
                        errors.push(RuleError::BadSkillLevel {
                            index,
                            skill_id: s.skill_id,
                            level: s.level,
                        });
                    }
                    if !seen.insert(s.skill_id) {
                        errors.push(RuleError::DuplicateSkill {
                            index,
                            skill_id: s.skill_id,
                        });
                    }
                }
            }
            RuleAction::RouteToBot { bot } => {
                if bot.trim().is_empty() {
                    errors.push(RuleError::EmptyBot { index });
                }
            }
            RuleAction::RouteToQueue { .. }
            | RuleAction::RouteToAgent { .. }
            | RuleAction::SetPriority { .. } => {}
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    let rule_name = if rule.name.trim().is_empty() {
        rule.id.to_string()
    } else {
        rule.name.clone()
    };
    Err(InvalidRoutingRule {
        rule: rule_name,
        errors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn agent(n: u128, capacity: u32, load: u32, queues: &[Uuid]) -> AgentState {
        AgentState {
            id: id(n),
            name: format!("agent {n}"),
            presence: Presence::Available,
            online: true,
            capacity,
            load,
            queues: queues.to_vec(),
            skills: Vec::new(),
            last_assigned_at: None,
        }
    }

    fn queue(n: u128, model: RoutingModel, priority: i32) -> QueueState {
        QueueState {
            id: id(n),
            model,
            priority,
            assignment: QueueAssignment::Push,
        }
    }

    fn work(session: u128, target: WorkTarget) -> WaitingWork {
        WaitingWork {
            session_id: id(session),
            target,
            priority: 0,
            waiting_since: Timestamp(0),
            declined_by: Vec::new(),
        }
    }

    fn skill(n: u128, level: u8) -> SkillLevel {
        SkillLevel {
            skill_id: id(n),
            level,
        }
    }

    fn pairs(plan: &[Assignment]) -> Vec<(Uuid, Uuid)> {
        plan.iter().map(|a| (a.session_id, a.agent_id)).collect()
    }

    const Q: u128 = 100;
    const Q2: u128 = 101;

    // ---- pick-from-queue (RT-13) ----

    #[test]
    fn a_pick_queue_is_never_offered_but_a_push_queue_beside_it_is() {
        let (q, q2) = (id(Q), id(Q2));
        let mut pick = queue(Q, RoutingModel::MostAvailable, 5);
        pick.assignment = QueueAssignment::Pick;
        let plan = plan_offers(
            &[
                work(1, WorkTarget::Queue(q)),
                work(2, WorkTarget::Queue(q2)),
            ],
            &[agent(1, 3, 0, &[q, q2])],
            &[pick, queue(Q2, RoutingModel::MostAvailable, 0)],
        );
        assert_eq!(pairs(&plan), vec![(id(2), id(1))]);
    }

    #[test]
    fn taking_needs_a_pick_queue_membership_and_room() {
        let q = id(Q);
        let mut pick = queue(Q, RoutingModel::MostAvailable, 0);
        pick.assignment = QueueAssignment::Pick;
        assert_eq!(may_take(&agent(1, 2, 1, &[q]), &pick), Ok(()));
        assert_eq!(
            may_take(&agent(1, 2, 0, &[id(Q2)]), &pick),
            Err(TakeRefused::NotMember)
        );
        assert_eq!(
            may_take(&agent(1, 2, 2, &[q]), &pick),
            Err(TakeRefused::AtCapacity {
                load: 2,
                capacity: 2
            })
        );
        let push = queue(Q, RoutingModel::MostAvailable, 0);
        assert_eq!(
            may_take(&agent(1, 2, 0, &[q]), &push),
            Err(TakeRefused::NotPickQueue)
        );
        // Presence does not matter: taking is the agent's own choice.
        let mut on_break = agent(1, 2, 0, &[q]);
        on_break.presence = Presence::OnBreak;
        assert_eq!(may_take(&on_break, &pick), Ok(()));
    }

    #[test]
    fn assigning_follows_the_target_and_capacity_unless_overridden() {
        let q = id(Q);
        let target = WorkTarget::Queue(q);
        assert_eq!(
            may_assign(&agent(1, 2, 0, &[q]), true, &target, false),
            Ok(())
        );
        assert_eq!(
            may_assign(&agent(1, 2, 0, &[q]), false, &target, false),
            Err(TakeRefused::NotEligible)
        );
        assert_eq!(
            may_assign(&agent(1, 2, 0, &[id(Q2)]), true, &target, false),
            Err(TakeRefused::NotEligible)
        );
        let full = agent(1, 2, 2, &[q]);
        assert_eq!(
            may_assign(&full, true, &target, false),
            Err(TakeRefused::AtCapacity {
                load: 2,
                capacity: 2
            })
        );
        assert_eq!(may_assign(&full, true, &target, true), Ok(()));
        let mut offline = agent(1, 2, 0, &[q]);
        offline.presence = Presence::Offline;
        assert_eq!(
            may_assign(&offline, true, &target, true),
            Err(TakeRefused::Offline)
        );
        // Work aimed at one agent: the members of its fallback queue may be given it too.
        let direct = WorkTarget::Agent {
            agent_id: id(9),
            fallback_queue: Some(q),
        };
        assert_eq!(
            may_assign(&agent(1, 2, 0, &[q]), true, &direct, false),
            Ok(())
        );
        assert_eq!(
            may_assign(&agent(1, 2, 0, &[]), true, &direct, false),
            Err(TakeRefused::NotEligible)
        );
    }

    // ---- plan_offers: eligibility ----

    #[test]
    fn only_available_online_members_with_room_and_no_decline_are_offered() {
        let q = id(Q);
        let mut on_break = agent(1, 3, 0, &[q]);
        on_break.presence = Presence::OnBreak;
        let mut busy = agent(2, 3, 0, &[q]);
        busy.presence = Presence::Busy;
        let mut disconnected = agent(3, 3, 0, &[q]);
        disconnected.online = false;
        let full = agent(4, 2, 2, &[q]);
        let other_queue = agent(5, 3, 0, &[id(Q2)]);
        let declined = agent(6, 3, 0, &[q]);
        let good = agent(7, 1, 0, &[q]);
        let agents = [
            on_break,
            busy,
            disconnected,
            full,
            other_queue,
            declined,
            good,
        ];
        let mut w = work(1, WorkTarget::Queue(q));
        w.declined_by = vec![id(6)];
        let plan = plan_offers(
            &[w, work(2, WorkTarget::Queue(q))],
            &agents,
            &[queue(Q, RoutingModel::MostAvailable, 0)],
        );
        // Agent 7 has room for one; a decline bars agent 6 from that session only.
        assert_eq!(pairs(&plan), vec![(id(1), id(7)), (id(2), id(6))]);
    }

    #[test]
    fn an_agent_over_capacity_gets_nothing() {
        let q = id(Q);
        let plan = plan_offers(
            &[work(1, WorkTarget::Queue(q))],
            &[agent(1, 2, 5, &[q])],
            &[queue(Q, RoutingModel::LeastActive, 0)],
        );
        assert!(plan.is_empty());
    }

    #[test]
    fn each_offer_counts_against_capacity_within_the_plan() {
        let q = id(Q);
        let w: Vec<_> = (1..=5).map(|s| work(s, WorkTarget::Queue(q))).collect();
        let plan = plan_offers(
            &w,
            &[agent(1, 2, 0, &[q]), agent(2, 3, 2, &[q])],
            &[queue(Q, RoutingModel::MostAvailable, 0)],
        );
        assert_eq!(plan.len(), 3);
        assert_eq!(plan.iter().filter(|a| a.agent_id == id(1)).count(), 2);
        assert_eq!(plan.iter().filter(|a| a.agent_id == id(2)).count(), 1);
    }

    #[test]
    fn a_session_listed_twice_is_offered_once() {
        let q = id(Q);
        let plan = plan_offers(
            &[work(1, WorkTarget::Queue(q)), work(1, WorkTarget::Queue(q))],
            &[agent(1, 5, 0, &[q]), agent(2, 5, 0, &[q])],
            &[queue(Q, RoutingModel::RoundRobin, 0)],
        );
        assert_eq!(plan.len(), 1);
    }

    // ---- plan_offers: order of service ----

    #[test]
    fn work_is_served_by_queue_priority_then_priority_then_age_then_id() {
        let (hi, lo) = (id(Q), id(Q2));
        let mut a = work(1, WorkTarget::Queue(lo));
        a.priority = 9;
        let b = work(2, WorkTarget::Queue(hi));
        let mut c = work(3, WorkTarget::Queue(lo));
        c.priority = 9;
        c.waiting_since = Timestamp(-5);
        let mut d = work(5, WorkTarget::Queue(lo));
        d.priority = 1;
        let mut e = work(4, WorkTarget::Queue(lo));
        e.priority = 1;
        let agents = [agent(1, 10, 0, &[hi, lo])];
        let queues = [
            queue(Q, RoutingModel::MostAvailable, 5),
            queue(Q2, RoutingModel::MostAvailable, 1),
        ];
        let plan = plan_offers(&[a, b, c, d, e], &agents, &queues);
        let order: Vec<_> = plan.iter().map(|a| a.session_id).collect();
        assert_eq!(order, vec![id(2), id(3), id(1), id(4), id(5)]);
    }

    #[test]
    fn scarce_agents_serve_the_higher_priority_session() {
        let q = id(Q);
        let low = work(1, WorkTarget::Queue(q));
        let mut high = work(2, WorkTarget::Queue(q));
        high.priority = 3;
        let plan = plan_offers(
            &[low, high],
            &[agent(1, 1, 0, &[q])],
            &[queue(Q, RoutingModel::MostAvailable, 0)],
        );
        assert_eq!(pairs(&plan), vec![(id(2), id(1))]);
    }

    #[test]
    fn skills_and_agent_targets_rank_as_queue_priority_zero() {
        let (pos, neg) = (id(Q), id(Q2));
        let mut a = agent(1, 10, 0, &[pos, neg]);
        a.skills = vec![skill(50, 5)];
        let plan = plan_offers(
            &[
                work(1, WorkTarget::Queue(neg)),
                work(
                    2,
                    WorkTarget::Agent {
                        agent_id: id(1),
                        fallback_queue: None,
                    },
                ),
                work(3, WorkTarget::Skills(vec![skill(50, 1)])),
                work(4, WorkTarget::Queue(pos)),
            ],
            &[a],
            &[
                queue(Q, RoutingModel::MostAvailable, 1),
                queue(Q2, RoutingModel::MostAvailable, -1),
            ],
        );
        let order: Vec<_> = plan.iter().map(|a| a.session_id).collect();
        assert_eq!(order, vec![id(4), id(2), id(3), id(1)]);
    }

    #[test]
    fn an_unknown_queue_routes_at_priority_zero_as_most_available() {
        let q = id(999);
        let plan = plan_offers(
            &[work(1, WorkTarget::Queue(q))],
            &[agent(1, 5, 3, &[q]), agent(2, 5, 1, &[q])],
            &[],
        );
        assert_eq!(pairs(&plan), vec![(id(1), id(2))]);
    }

    // ---- plan_offers: routing models ----

    #[test]
    fn most_available_prefers_the_most_free_capacity() {
        let q = id(Q);
        let plan = plan_offers(
            &[work(1, WorkTarget::Queue(q))],
            &[
                agent(1, 2, 0, &[q]),
                agent(2, 5, 2, &[q]),
                agent(3, 4, 0, &[q]),
            ],
            &[queue(Q, RoutingModel::MostAvailable, 0)],
        );
        assert_eq!(pairs(&plan), vec![(id(1), id(3))]);
    }

    #[test]
    fn least_active_prefers_the_smallest_load() {
        let q = id(Q);
        let plan = plan_offers(
            &[work(1, WorkTarget::Queue(q))],
            &[
                agent(1, 9, 3, &[q]),
                agent(2, 2, 1, &[q]),
                agent(3, 9, 2, &[q]),
            ],
            &[queue(Q, RoutingModel::LeastActive, 0)],
        );
        assert_eq!(pairs(&plan), vec![(id(1), id(2))]);
    }

    #[test]
    fn ties_go_to_the_least_recently_assigned_then_the_lowest_id() {
        let q = id(Q);
        let mut recent = agent(1, 3, 0, &[q]);
        recent.last_assigned_at = Some(Timestamp(50));
        let mut older = agent(2, 3, 0, &[q]);
        older.last_assigned_at = Some(Timestamp(10));
        let never_b = agent(4, 3, 0, &[q]);
        let never_a = agent(3, 3, 0, &[q]);
        for model in RoutingModel::ALL {
            let plan = plan_offers(
                &[work(1, WorkTarget::Queue(q))],
                &[
                    recent.clone(),
                    older.clone(),
                    never_b.clone(),
                    never_a.clone(),
                ],
                &[queue(Q, *model, 0)],
            );
            assert_eq!(pairs(&plan), vec![(id(1), id(3))], "{model}");
            let plan = plan_offers(
                &[work(1, WorkTarget::Queue(q))],
                &[recent.clone(), older.clone()],
                &[queue(Q, *model, 0)],
            );
            assert_eq!(pairs(&plan), vec![(id(1), id(2))], "{model}");
        }
    }

    #[test]
    fn round_robin_ignores_load_and_rotates_within_a_plan() {
        let q = id(Q);
        let mut a = agent(1, 9, 5, &[q]);
        a.last_assigned_at = Some(Timestamp(30));
        let mut b = agent(2, 9, 0, &[q]);
        b.last_assigned_at = Some(Timestamp(40));
        let c = agent(3, 9, 8, &[q]);
        let w: Vec<_> = (1..=6).map(|s| work(s, WorkTarget::Queue(q))).collect();
        let plan = plan_offers(&w, &[a, b, c], &[queue(Q, RoutingModel::RoundRobin, 0)]);
        let agents: Vec<_> = plan.iter().map(|a| a.agent_id).collect();
        // Agent 3 (never assigned) first but has room for one only.
        assert_eq!(agents, vec![id(3), id(1), id(2), id(1), id(2), id(1)]);
    }

    #[test]
    fn skills_need_every_skill_at_the_level() {
        let (billing, french) = (50, 51);
        let mut weak = agent(1, 5, 0, &[]);
        weak.skills = vec![skill(billing, 3), skill(french, 9)];
        let mut partial = agent(2, 5, 0, &[]);
        partial.skills = vec![skill(billing, 9)];
        let mut good = agent(3, 1, 0, &[]);
        good.skills = vec![skill(billing, 5), skill(french, 5)];
        let plan = plan_offers(
            &[work(
                1,
                WorkTarget::Skills(vec![skill(billing, 5), skill(french, 2)]),
            )],
            &[weak, partial, good],
            &[],
        );
        assert_eq!(pairs(&plan), vec![(id(1), id(3))]);
    }

    #[test]
    fn skills_pick_most_available_then_the_stronger_agent() {
        let s = 50;
        let mut strong = agent(1, 3, 1, &[]);
        strong.skills = vec![skill(s, 9)];
        let mut roomy = agent(2, 5, 1, &[]);
        roomy.skills = vec![skill(s, 2)];
        let mut stronger_same_room = agent(3, 5, 1, &[]);
        stronger_same_room.skills = vec![skill(s, 4), skill(99, 10)];
        let plan = plan_offers(
            &[work(1, WorkTarget::Skills(vec![skill(s, 2)]))],
            &[strong, roomy, stronger_same_room],
            &[],
        );
        assert_eq!(pairs(&plan), vec![(id(1), id(3))]);
    }

    #[test]
    fn an_empty_skill_list_takes_any_agent_who_accepts_work() {
        let plan = plan_offers(
            &[work(1, WorkTarget::Skills(Vec::new()))],
            &[agent(1, 1, 0, &[])],
            &[],
        );
        assert_eq!(plan.len(), 1);
    }

    #[test]
    fn an_agent_target_reaches_only_that_agent_and_otherwise_waits() {
        let q = id(Q);
        let target = WorkTarget::Agent {
            agent_id: id(2),
            fallback_queue: Some(q),
        };
        let agents = [agent(1, 5, 0, &[q]), agent(2, 1, 0, &[])];
        let plan = plan_offers(&[work(1, target.clone())], &agents, &[]);
        assert_eq!(pairs(&plan), vec![(id(1), id(2))]);

        let mut declined = work(1, target.clone());
        declined.declined_by = vec![id(2)];
        assert!(plan_offers(&[declined], &agents, &[]).is_empty());

        let mut away = agents.clone();
        away[1].presence = Presence::Busy;
        assert!(plan_offers(&[work(1, target.clone())], &away, &[]).is_empty());

        let mut full = agents.clone();
        full[1].load = 1;
        assert!(plan_offers(&[work(1, target)], &full, &[]).is_empty());
    }

    // ---- plan_offers: properties ----

    fn presence() -> impl Strategy<Value = Presence> {
        proptest::sample::select(Presence::ALL.to_vec())
    }

    fn model() -> impl Strategy<Value = RoutingModel> {
        proptest::sample::select(RoutingModel::ALL.to_vec())
    }

    const QUEUES: u128 = 3;
    const SKILLS: u128 = 3;
    const AGENTS: u128 = 6;

    fn skills_strategy(max: usize) -> impl Strategy<Value = Vec<SkillLevel>> {
        proptest::collection::vec((0..SKILLS, 1..=10_u8), 0..=max)
            .prop_map(|v| v.into_iter().map(|(s, l)| skill(50 + s, l)).collect())
    }

    fn agent_strategy() -> impl Strategy<Value = AgentState> {
        (
            presence(),
            any::<bool>(),
            0..4_u32,
            0..5_u32,
            proptest::collection::vec(0..QUEUES, 0..3),
            skills_strategy(3),
            proptest::option::of(0..5_i64),
        )
            .prop_map(|(presence, online, capacity, load, queues, skills, last)| {
                AgentState {
                    id: Uuid::nil(),
                    name: String::new(),
                    presence,
                    online,
                    capacity,
                    load,
                    queues: queues.into_iter().map(|q| id(Q + q)).collect(),
                    skills,
                    last_assigned_at: last.map(Timestamp),
                }
            })
    }

    fn target_strategy() -> impl Strategy<Value = WorkTarget> {
        prop_oneof![
            3 => (0..QUEUES + 1).prop_map(|q| WorkTarget::Queue(id(Q + q))),
            2 => skills_strategy(2).prop_map(WorkTarget::Skills),
            1 => (0..AGENTS + 1).prop_map(|a| WorkTarget::Agent { agent_id: id(a + 1), fallback_queue: None }),
        ]
    }

    fn work_strategy() -> impl Strategy<Value = WaitingWork> {
        (
            0..10_u128,
            target_strategy(),
            -2..3_i32,
            0..4_i64,
            proptest::collection::vec(1..=AGENTS, 0..3),
        )
            .prop_map(|(s, target, priority, since, declined)| WaitingWork {
                session_id: id(1000 + s),
                target,
                priority,
                waiting_since: Timestamp(since),
                declined_by: declined.into_iter().map(id).collect(),
            })
    }

    fn scenario() -> impl Strategy<Value = (Vec<WaitingWork>, Vec<AgentState>, Vec<QueueState>)> {
        (
            proptest::collection::vec(work_strategy(), 0..14),
            proptest::collection::vec(agent_strategy(), 0..=AGENTS as usize),
            proptest::collection::vec((0..QUEUES, model(), -2..3_i32), 0..4),
        )
            .prop_map(|(work, mut agents, queues)| {
                for (n, a) in agents.iter_mut().enumerate() {
                    a.id = id(n as u128 + 1);
                }
                let queues = queues
                    .into_iter()
                    .map(|(q, m, p)| queue(Q + q, m, p))
                    .collect();
                (work, agents, queues)
            })
    }

    /// Everything but capacity, which changes as the plan goes.
    fn statically_eligible(a: &AgentState, w: &WaitingWork) -> bool {
        a.presence.accepts_work()
            && a.online
            && !w.declined_by.contains(&a.id)
            && match &w.target {
                WorkTarget::Queue(q) => a.queues.contains(q),
                WorkTarget::Skills(req) => req.iter().all(|r| {
                    a.skills
                        .iter()
                        .any(|s| s.skill_id == r.skill_id && s.level >= r.level)
                }),
                WorkTarget::Agent { agent_id, .. } => a.id == *agent_id,
            }
    }

    /// The documented order of service, written out independently of the implementation.
    fn serve_key(w: &WaitingWork, queues: &[QueueState]) -> (i32, i32, Timestamp, Uuid) {
        let qp = match &w.target {
            WorkTarget::Queue(q) => queues.iter().find(|x| x.id == *q).map_or(0, |x| x.priority),
            _ => 0,
        };
        (-qp, -w.priority, w.waiting_since, w.session_id)
    }

    proptest! {
        #[test]
        fn offers_never_exceed_capacity((work, agents, queues) in scenario()) {
            let plan = plan_offers(&work, &agents, &queues);
            for a in &agents {
                let n = plan.iter().filter(|x| x.agent_id == a.id).count();
                prop_assert!(n as u32 <= a.capacity.saturating_sub(a.load),
                    "{} got {n} offers with load {} of {}", a.id, a.load, a.capacity);
            }
        }

        #[test]
        fn offers_go_only_to_eligible_agents((work, agents, queues) in scenario()) {
            let plan = plan_offers(&work, &agents, &queues);
            for x in &plan {
                let a = agents.iter().find(|a| a.id == x.agent_id).unwrap();
                let ok = work.iter().any(|w| w.session_id == x.session_id && statically_eligible(a, w));
                prop_assert!(ok, "{:?} is not eligible for {}", a, x.session_id);
            }
        }

        #[test]
        fn each_session_is_offered_at_most_once((work, agents, queues) in scenario()) {
            let plan = plan_offers(&work, &agents, &queues);
            let unique: HashSet<_> = plan.iter().map(|x| x.session_id).collect();
            prop_assert_eq!(unique.len(), plan.len());
        }

        /// When agents are scarce, a session is never left waiting while a later one in the order of
        /// service goes to an agent who could have taken either.
        #[test]
        fn higher_priority_work_is_never_passed_over((mut work, agents, queues) in scenario()) {
            let mut seen = HashSet::new();
            work.retain(|w| seen.insert(w.session_id));
            let plan = plan_offers(&work, &agents, &queues);
            let offered: HashMap<Uuid, Uuid> = plan.iter().map(|x| (x.session_id, x.agent_id)).collect();
            for hi in &work {
                if offered.contains_key(&hi.session_id) {
                    continue;
                }
                for lo in &work {
                    let Some(agent_id) = offered.get(&lo.session_id) else { continue };
                    if serve_key(hi, &queues) >= serve_key(lo, &queues) {
                        continue;
                    }
                    let a = agents.iter().find(|a| a.id == *agent_id).unwrap();
                    prop_assert!(!statically_eligible(a, hi),
                        "{} waits while {} went to {}, who could take it", hi.session_id, lo.session_id, a.id);
                }
            }
        }

        /// With equal loads and room to spare, round robin gives every agent a turn before anyone
        /// gets a second one.
        #[test]
        fn round_robin_rotates_for_equal_loads(
            n in 1..6_usize,
            load in 0..3_u32,
            lasts in proptest::collection::vec(proptest::option::of(0..100_i64), 6),
            k in 0..30_u128,
        ) {
            let q = id(Q);
            let agents: Vec<_> = (0..n)
                .map(|i| {
                    let mut a = agent(i as u128 + 1, 100, load, &[q]);
                    a.last_assigned_at = lasts[i].map(Timestamp);
                    a
                })
                .collect();
            let w: Vec<_> = (0..k).map(|s| work(s + 1, WorkTarget::Queue(q))).collect();
            let plan = plan_offers(&w, &agents, &[queue(Q, RoutingModel::RoundRobin, 0)]);
            prop_assert_eq!(plan.len() as u128, k);
            for window in plan.windows(n) {
                let distinct: HashSet<_> = window.iter().map(|x| x.agent_id).collect();
                prop_assert_eq!(distinct.len(), n);
            }
        }
    }

    // ---- capacity, replies, offers ----

    #[test]
    fn only_active_sessions_consume_capacity() {
        for status in SessionStatus::ALL {
            let active = *status == SessionStatus::Active;
            assert_eq!(consumes_capacity(*status, false, false), active, "{status}");
            assert_eq!(consumes_capacity(*status, false, true), active, "{status}");
            assert_eq!(consumes_capacity(*status, true, true), active, "{status}");
            assert!(!consumes_capacity(*status, true, false), "{status}");
        }
    }

    #[test]
    fn a_session_state_consumes_capacity_once_the_customer_replies() {
        use crate::model::{OwnerKind, SessionContext};
        use crate::session::{SessionEvent, SessionOwner, SessionPolicy, apply, open_outbound};
        let policy = SessionPolicy::default();
        let owner = SessionOwner {
            kind: OwnerKind::Agent,
            id: id(1),
        };
        let s = open_outbound(None, owner, SessionContext::Service, Timestamp(0)).unwrap();
        assert!(!session_consumes_capacity(&s));
        let s = apply(
            &s,
            &SessionEvent::AgentMessage { at: Timestamp(1) },
            &policy,
        )
        .unwrap()
        .state;
        assert!(!session_consumes_capacity(&s));
        let replied = SessionEvent::CustomerMessage {
            at: Timestamp(2),
            session_opt_in: false,
        };
        let s = apply(&s, &replied, &policy).unwrap().state;
        assert_eq!(s.status, SessionStatus::Active);
        assert!(session_consumes_capacity(&s));
        let inactive = SessionEvent::MarkedInactive { at: Timestamp(3) };
        let s = apply(&s, &inactive, &policy).unwrap().state;
        assert!(!session_consumes_capacity(&s));
    }

    #[test]
    fn transfer_picker_is_five_alphabetical_colleagues() {
        use crate::model::AgentRole;
        let me = Uuid::from_u128(99);
        let names = ["zoe", "Bob", "amy", "Carl", "dan", "Eve", "fay"];
        let mut agents: Vec<(Uuid, String, AgentRole)> = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                (
                    Uuid::from_u128(i as u128),
                    (*n).to_owned(),
                    AgentRole::Agent,
                )
            })
            .collect();
        agents.push((me, "Aaron".into(), AgentRole::Agent));
        agents.push((Uuid::from_u128(50), "Abe".into(), AgentRole::Broadcaster));
        let picked: Vec<String> = transfer_targets(&agents, me, "")
            .into_iter()
            .map(|(_, n)| n)
            .collect();
        assert_eq!(picked, vec!["amy", "Bob", "Carl", "dan", "Eve"]);
        let picked = transfer_targets(&agents, me, " E ");
        assert_eq!(picked.len(), 2, "zoe and Eve");
    }

    #[test]
    fn the_initiator_takes_the_reply_when_online_whatever_their_load() {
        assert!(owner_available_for_reply(Presence::Available, true));
        assert!(owner_available_for_reply(Presence::Busy, true));
        assert!(owner_available_for_reply(Presence::OnBreak, true));
        assert!(!owner_available_for_reply(Presence::Offline, true));
        assert!(!owner_available_for_reply(Presence::Available, false));
    }

    #[test]
    fn offers_and_grace_expire_at_their_deadline() {
        assert_eq!(DEFAULT_OFFER_TIMEOUT_MS, 30_000);
        assert_eq!(DEFAULT_OFFLINE_GRACE_MS, 60_000);
        let t = Timestamp(1_000);
        assert!(!offer_expired(
            t,
            DEFAULT_OFFER_TIMEOUT_MS,
            Timestamp(30_999)
        ));
        assert!(offer_expired(
            t,
            DEFAULT_OFFER_TIMEOUT_MS,
            Timestamp(31_000)
        ));
        assert!(offer_expired(t, 0, t));
        assert!(!offer_expired(Timestamp(i64::MAX), 1, Timestamp(i64::MIN)));
        // Renewed at t, the console counts as connected for the grace period and no longer.
        let until = Some(Timestamp(t.millis() + DEFAULT_OFFLINE_GRACE_MS));
        assert!(console_connected(until, Timestamp(61_000)));
        assert!(!console_connected(until, Timestamp(61_001)));
        assert!(!console_connected(None, t));
        assert!(gone_away(Presence::Available, until, Timestamp(61_001)));
        assert!(gone_away(Presence::Busy, None, t));
        assert!(!gone_away(Presence::Offline, None, t));
        assert!(!gone_away(Presence::Available, until, t));
    }

    // ---- estimated wait ----

    fn samples(n: usize, at: i64, waited_ms: i64) -> Vec<AcceptSample> {
        vec![
            AcceptSample {
                accepted_at: Timestamp(at),
                waited_ms,
            };
            n
        ]
    }

    #[test]
    fn estimated_wait_needs_ten_recent_accepts() {
        let now = Timestamp(10_000_000);
        assert_eq!(estimated_wait(&samples(9, now.0, 90_000), now), None);
        assert_eq!(estimated_wait(&samples(10, now.0, 90_000), now), Some(2));
        let mut mixed = samples(9, now.0 - 60_000, 90_000);
        mixed.extend(samples(5, now.0 - 600_001, 90_000));
        assert_eq!(
            estimated_wait(&mixed, now),
            None,
            "old accepts do not count"
        );
        mixed.extend(samples(1, now.0 - 600_000, 90_000));
        assert_eq!(
            estimated_wait(&mixed, now),
            Some(2),
            "exactly 10 minutes ago counts"
        );
    }

    #[test]
    fn estimated_wait_rounds_the_mean_up_to_at_least_a_minute() {
        let now = Timestamp(10_000_000);
        assert_eq!(estimated_wait(&samples(10, now.0, 0), now), Some(1));
        assert_eq!(estimated_wait(&samples(10, now.0, 5_000), now), Some(1));
        assert_eq!(estimated_wait(&samples(10, now.0, 60_000), now), Some(1));
        assert_eq!(estimated_wait(&samples(10, now.0, 60_001), now), Some(2));
        let mut v = samples(5, now.0, 60_000);
        v.extend(samples(5, now.0, 180_000));
        assert_eq!(estimated_wait(&v, now), Some(2), "mean 2:00 exactly");
        assert_eq!(estimated_wait(&samples(10, now.0, -7), now), Some(1));
        assert_eq!(
            estimated_wait(&samples(10, now.0, i64::MAX), now),
            Some(u32::MAX),
            "saturates instead of wrapping"
        );
    }

    proptest! {
        #[test]
        fn estimated_wait_brackets_the_mean(
            waits in proptest::collection::vec(0..3_600_000_i64, 10..40),
        ) {
            let now = Timestamp(5_000_000);
            let s: Vec<_> = waits.iter().map(|w| AcceptSample { accepted_at: now, waited_ms: *w }).collect();
            let m = i64::from(estimated_wait(&s, now).unwrap());
            let total: i64 = waits.iter().sum();
            let n = waits.len() as i64;
            prop_assert!(m >= 1);
            prop_assert!(m * 60_000 * n >= total, "{m} min is below the mean");
            prop_assert!(m == 1 || (m - 1) * 60_000 * n < total, "{m} min is a whole minute too high");
        }
    }

    // ---- business hours ----

    /// 2024-01-01T00:00:00Z, a Monday.
    const MONDAY: i64 = 1_704_067_200_000;
    const HOUR_MS: i64 = 3_600_000;

    fn weekdays_9_to_5(offset: i32) -> BusinessHours {
        BusinessHours {
            utc_offset_minutes: offset,
            intervals: (0..5)
                .map(|day| WeeklyInterval {
                    day,
                    start_minute: 9 * 60,
                    end_minute: 17 * 60,
                })
                .collect(),
        }
    }

    #[test]
    fn weekdays_nine_to_five_in_utc() {
        let h = weekdays_9_to_5(0);
        assert!(h.validate().is_ok());
        assert!(!h.is_open(Timestamp(MONDAY + 9 * HOUR_MS - 1)));
        assert!(h.is_open(Timestamp(MONDAY + 9 * HOUR_MS)));
        assert!(h.is_open(Timestamp(MONDAY + 17 * HOUR_MS - 1)));
        assert!(!h.is_open(Timestamp(MONDAY + 17 * HOUR_MS)));
        assert!(
            h.is_open(Timestamp(MONDAY + 4 * 24 * HOUR_MS + 12 * HOUR_MS)),
            "Friday"
        );
        assert!(
            !h.is_open(Timestamp(MONDAY + 5 * 24 * HOUR_MS + 12 * HOUR_MS)),
            "Saturday"
        );
        assert!(!h.is_open(Timestamp(MONDAY - 12 * HOUR_MS)), "Sunday");
        assert!(
            h.is_open(Timestamp(12 * HOUR_MS)),
            "1970-01-01 was a Thursday"
        );
        assert!(
            !h.is_open(Timestamp(2 * 24 * HOUR_MS + 12 * HOUR_MS)),
            "1970-01-03 was a Saturday"
        );
    }

    #[test]
    fn the_offset_moves_local_time() {
        // Montreal in winter: UTC-5. Monday 09:00 local is 14:00 UTC.
        let h = weekdays_9_to_5(-300);
        assert!(!h.is_open(Timestamp(MONDAY + 13 * HOUR_MS)));
        assert!(h.is_open(Timestamp(MONDAY + 14 * HOUR_MS)));
        // Sunday 23:30 UTC is Monday 09:30 in UTC+10.
        let sydney = weekdays_9_to_5(600);
        assert!(sydney.is_open(Timestamp(MONDAY - HOUR_MS / 2)));
    }

    #[test]
    fn an_interval_ending_before_it_starts_runs_past_midnight() {
        let h = BusinessHours {
            utc_offset_minutes: 0,
            intervals: vec![WeeklyInterval {
                day: 6,
                start_minute: 22 * 60,
                end_minute: 2 * 60,
            }],
        };
        assert!(h.validate().is_ok());
        assert!(h.is_open(Timestamp(MONDAY - HOUR_MS)), "Sunday 23:00");
        assert!(
            h.is_open(Timestamp(MONDAY + HOUR_MS)),
            "Monday 01:00, wrapped past the week"
        );
        assert!(!h.is_open(Timestamp(MONDAY + 2 * HOUR_MS)));
        assert!(!h.is_open(Timestamp(MONDAY - 3 * HOUR_MS)));
        let whole_day = BusinessHours {
            utc_offset_minutes: 0,
            intervals: vec![WeeklyInterval {
                day: 0,
                start_minute: 0,
                end_minute: 1440,
            }],
        };
        assert!(whole_day.is_open(Timestamp(MONDAY)));
        assert!(whole_day.is_open(Timestamp(MONDAY + 24 * HOUR_MS - 1)));
        assert!(!whole_day.is_open(Timestamp(MONDAY + 24 * HOUR_MS)));
        let closed = BusinessHours {
            utc_offset_minutes: 0,
            intervals: Vec::new(),
        };
        assert!(!closed.is_open(Timestamp(MONDAY)));
    }

    #[test]
    fn business_hours_validation_names_each_problem() {
        let h = BusinessHours {
            utc_offset_minutes: 19 * 60,
            intervals: vec![
                WeeklyInterval {
                    day: 7,
                    start_minute: 1440,
                    end_minute: 1441,
                },
                WeeklyInterval {
                    day: 1,
                    start_minute: 60,
                    end_minute: 60,
                },
            ],
        };
        let errors = h.validate().unwrap_err();
        let text: Vec<_> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 5, "{text:?}");
        assert!(text[0].contains("UTC offset 1140"), "{}", text[0]);
        assert!(text[1].contains("interval 1: day 7"), "{}", text[1]);
        assert!(text[4].contains("interval 2"), "{}", text[4]);
        // Nothing panics on hours that were never validated.
        assert!(!h.is_open(Timestamp(i64::MIN)));
        assert!(!h.is_open(Timestamp(i64::MAX)));
    }

    #[test]
    fn business_hours_json_is_readable() {
        let h: BusinessHours = serde_json::from_str(
            r#"{"utc_offset_minutes": -300, "intervals": [{"day": 0, "start_minute": 540, "end_minute": 1020}]}"#,
        )
        .unwrap();
        assert_eq!(h.intervals.len(), 1);
        assert!(
            serde_json::from_str::<BusinessHours>(
                r#"{"utc_offset_minutes": 0, "intervals": [], "tz": "x"}"#
            )
            .is_err()
        );
    }

    proptest! {
        #[test]
        fn an_offset_is_a_shift_of_utc(
            t in -10_000_000_000_000_i64..10_000_000_000_000,
            offset in -1080..=1080_i32,
            intervals in proptest::collection::vec((0..7_u8, 0..1440_u16, 1..=1440_u16), 0..5),
        ) {
            let intervals: Vec<_> = intervals.into_iter()
                .filter(|(_, s, e)| s != e)
                .map(|(day, start_minute, end_minute)| WeeklyInterval { day, start_minute, end_minute })
                .collect();
            let local = BusinessHours { utc_offset_minutes: offset, intervals: intervals.clone() };
            let utc = BusinessHours { utc_offset_minutes: 0, intervals };
            prop_assert!(local.validate().is_ok());
            prop_assert_eq!(local.is_open(Timestamp(t)), utc.is_open(Timestamp(t + i64::from(offset) * 60_000)));
            prop_assert_eq!(utc.is_open(Timestamp(t)), utc.is_open(Timestamp(t + 7 * 24 * HOUR_MS)), "weekly");
        }
    }

    // ---- rules ----

    const CHANNEL: u128 = 700;
    const FALLBACK: u128 = 800;

    fn rule(
        n: u128,
        position: i32,
        conditions: Vec<Condition>,
        actions: Vec<RuleAction>,
    ) -> RoutingRule {
        RoutingRule {
            id: id(n),
            name: format!("rule {n}"),
            position,
            channel_id: None,
            conditions,
            actions,
        }
    }

    fn to_queue(n: u128) -> RuleAction {
        RuleAction::RouteToQueue { queue_id: id(n) }
    }

    fn input(message: &str) -> RoutingInput<'_> {
        RoutingInput {
            channel_id: id(CHANNEL),
            channel_kind: ChannelKind::Sms,
            first_message: message,
            fields: BTreeMap::new(),
            language: None,
            now: Timestamp(MONDAY + 10 * HOUR_MS),
            business_hours: None,
        }
    }

    fn matches(condition: Condition, input: &RoutingInput<'_>) -> bool {
        let rules = [rule(1, 0, vec![condition], vec![to_queue(Q)])];
        evaluate_rules(&rules, input, None).matched_rule.is_some()
    }

    #[test]
    fn rules_are_json_tagged_by_type() {
        let json = r#"{
            "id": "00000000-0000-0000-0000-000000000001",
            "name": "French billing",
            "position": 10,
            "conditions": [
                {"type": "channel_kind_is", "kind": "whatsapp"},
                {"type": "first_message_contains", "text": "facture"},
                {"type": "first_message_matches_any", "words": ["bill", "invoice"]},
                {"type": "field_equals", "field": "Country", "value": "CA"},
                {"type": "within_business_hours"},
                {"type": "within_business_hours", "value": false},
                {"type": "language_is", "language": "fr"}
            ],
            "actions": [
                {"type": "route_to_skills", "skills": [{"skill_id": "00000000-0000-0000-0000-000000000032", "level": 5}]},
                {"type": "set_priority", "priority": 2}
            ]
        }"#;
        let r: RoutingRule = serde_json::from_str(json).unwrap();
        assert_eq!(r.channel_id, None);
        assert_eq!(
            r.conditions[4],
            Condition::WithinBusinessHours { value: true }
        );
        assert_eq!(
            r.conditions[5],
            Condition::WithinBusinessHours { value: false }
        );
        assert_eq!(r.actions[1], RuleAction::SetPriority { priority: 2 });
        let back: RoutingRule = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        let v = serde_json::to_value(to_queue(Q)).unwrap();
        assert_eq!(v["type"], "route_to_queue");
        let bot = serde_json::to_value(RuleAction::RouteToBot { bot: "faq".into() }).unwrap();
        assert_eq!(
            bot,
            serde_json::json!({"type": "route_to_bot", "bot": "faq"})
        );
        assert!(
            serde_json::from_str::<Condition>(
                r#"{"type": "channel_kind_is", "kind": "sms", "x": 1}"#
            )
            .is_err()
        );
        assert!(
            serde_json::from_str::<Condition>(r#"{"type": "sounds_like", "text": "x"}"#).is_err()
        );
    }

    #[test]
    fn channel_kind_condition() {
        assert!(matches(
            Condition::ChannelKindIs {
                kind: ChannelKind::Sms
            },
            &input("hi")
        ));
        assert!(!matches(
            Condition::ChannelKindIs {
                kind: ChannelKind::Web
            },
            &input("hi")
        ));
    }

    #[test]
    fn contains_folds_case_and_accents_and_ignores_word_boundaries() {
        let c = |t: &str| Condition::FirstMessageContains { text: t.into() };
        assert!(matches(c("FACTURE"), &input("Ma facturé est fausse")));
        assert!(matches(c("bill"), &input("Billing question")));
        assert!(matches(c("straße"), &input("STRASSE 5")));
        assert!(matches(c("late payment"), &input("a   LATE\tpayment!")));
        assert!(!matches(c("refund"), &input("money back")));
        assert!(
            !matches(c("  "), &input("anything")),
            "empty text never matches"
        );
    }

    #[test]
    fn matches_any_wants_whole_words_or_phrases() {
        let c = |w: &[&str]| Condition::FirstMessageMatchesAny {
            words: w.iter().map(|s| (*s).to_owned()).collect(),
        };
        assert!(matches(
            c(&["invoice", "bill"]),
            &input("Where is my BILL?")
        ));
        assert!(!matches(c(&["bill"]), &input("Billing question")));
        assert!(matches(c(&["arrêt"]), &input("l'ARRET de bus")));
        assert!(matches(
            c(&["credit card"]),
            &input("my Credit-Card was charged")
        ));
        assert!(!matches(c(&["credit card"]), &input("card credit")));
        assert!(!matches(c(&[]), &input("anything")));
        assert!(!matches(c(&["!!"]), &input("!!")));
    }

    #[test]
    fn field_equals_folds_names_and_values() {
        let mut i = input("hi");
        i.fields.insert("Country".into(), "Québec ".into());
        i.fields.insert("tier".into(), "gold".into());
        let c = |f: &str, v: &str| Condition::FieldEquals {
            field: f.into(),
            value: v.into(),
        };
        assert!(matches(c("Country", "QUEBEC"), &i));
        assert!(matches(c("country", "quebec"), &i));
        assert!(matches(c("TIER", "Gold"), &i));
        assert!(!matches(c("tier", "silver"), &i));
        assert!(!matches(c("plan", ""), &i), "a missing field never matches");
    }

    #[test]
    fn business_hours_condition_defaults_to_open() {
        let hours = weekdays_9_to_5(0);
        let inside = Condition::WithinBusinessHours { value: true };
        let outside = Condition::WithinBusinessHours { value: false };
        let mut i = input("hi");
        assert!(
            matches(inside.clone(), &i),
            "no business hours means always open"
        );
        assert!(!matches(outside.clone(), &i));
        i.business_hours = Some(&hours);
        assert!(matches(inside.clone(), &i));
        i.now = Timestamp(MONDAY + 20 * HOUR_MS);
        assert!(!matches(inside, &i));
        assert!(matches(outside, &i));
    }

    #[test]
    fn language_is_matches_the_tag_and_anything_more_specific() {
        let c = |l: &str| Condition::LanguageIs { language: l.into() };
        let mut i = input("bonjour");
        assert!(!matches(c("fr"), &i), "no language never matches");
        i.language = Some("fr-CA".into());
        assert!(matches(c("fr"), &i));
        assert!(matches(c("FR"), &i));
        assert!(matches(c("fr_ca"), &i));
        assert!(!matches(c("en"), &i));
        assert!(!matches(c("f"), &i));
        i.language = Some("fr".into());
        assert!(!matches(c("fr-CA"), &i));
        i.language = Some("fr-FR".into());
        assert!(!matches(c("fr-CA"), &i));
        i.language = Some("fra".into());
        assert!(!matches(c("fr"), &i));
    }

    #[test]
    fn the_first_rule_by_position_whose_conditions_all_hold_decides() {
        let billing = Condition::FirstMessageMatchesAny {
            words: vec!["bill".into()],
        };
        let web = Condition::ChannelKindIs {
            kind: ChannelKind::Web,
        };
        let rules = [
            rule(3, 30, vec![], vec![to_queue(3)]),
            rule(
                2,
                20,
                vec![billing.clone()],
                vec![to_queue(2), RuleAction::SetPriority { priority: 4 }],
            ),
            rule(1, 10, vec![billing, web], vec![to_queue(1)]),
        ];
        let d = evaluate_rules(&rules, &input("my bill"), Some(id(FALLBACK)));
        assert_eq!(
            d,
            RoutingDecision {
                target: RouteTarget::Queue(id(2)),
                priority: 4,
                matched_rule: Some(id(2))
            }
        );
        let d = evaluate_rules(&rules, &input("hello"), Some(id(FALLBACK)));
        assert_eq!(
            d,
            RoutingDecision {
                target: RouteTarget::Queue(id(3)),
                priority: 0,
                matched_rule: Some(id(3))
            }
        );
        let tied = [
            rule(9, 1, vec![], vec![to_queue(9)]),
            rule(8, 1, vec![], vec![to_queue(8)]),
        ];
        assert_eq!(
            evaluate_rules(&tied, &input("x"), None).matched_rule,
            Some(id(8)),
            "ties go by id"
        );
    }

    #[test]
    fn rules_for_another_channel_do_not_apply() {
        let mut other = rule(1, 0, vec![], vec![to_queue(1)]);
        other.channel_id = Some(id(CHANNEL + 1));
        let mut mine = rule(
            2,
            5,
            vec![],
            vec![RuleAction::RouteToAgent { agent_id: id(7) }],
        );
        mine.channel_id = Some(id(CHANNEL));
        let d = evaluate_rules(&[other.clone(), mine], &input("x"), None);
        assert_eq!(d.target, RouteTarget::Agent(id(7)));
        let d = evaluate_rules(&[other], &input("x"), Some(id(FALLBACK)));
        assert_eq!(
            d,
            RoutingDecision {
                target: RouteTarget::Queue(id(FALLBACK)),
                priority: 0,
                matched_rule: None
            }
        );
    }

    #[test]
    fn no_match_goes_to_the_fallback_queue_or_is_unroutable() {
        let rules = [rule(
            1,
            0,
            vec![Condition::ChannelKindIs {
                kind: ChannelKind::Web,
            }],
            vec![to_queue(1)],
        )];
        let d = evaluate_rules(&rules, &input("x"), Some(id(FALLBACK)));
        assert_eq!(d.target, RouteTarget::Queue(id(FALLBACK)));
        assert_eq!(d.matched_rule, None);
        let d = evaluate_rules(&rules, &input("x"), None);
        assert_eq!(d.target, RouteTarget::Unroutable);
        assert_eq!(
            evaluate_rules(&[], &input("x"), None).target,
            RouteTarget::Unroutable
        );
    }

    #[test]
    fn a_priority_only_rule_sends_to_the_fallback_at_its_priority() {
        let rules = [
            rule(1, 0, vec![], vec![RuleAction::SetPriority { priority: 7 }]),
            rule(2, 1, vec![], vec![to_queue(2)]),
        ];
        let d = evaluate_rules(&rules, &input("x"), Some(id(FALLBACK)));
        assert_eq!(
            d,
            RoutingDecision {
                target: RouteTarget::Queue(id(FALLBACK)),
                priority: 7,
                matched_rule: Some(id(1))
            }
        );
        assert_eq!(
            evaluate_rules(&rules, &input("x"), None).target,
            RouteTarget::Unroutable
        );
    }

    #[test]
    fn every_route_action_becomes_a_target() {
        let skills = vec![skill(50, 3)];
        for (action, target) in [
            (to_queue(1), RouteTarget::Queue(id(1))),
            (
                RuleAction::RouteToSkills {
                    skills: skills.clone(),
                },
                RouteTarget::Skills(skills.clone()),
            ),
            (
                RuleAction::RouteToAgent { agent_id: id(5) },
                RouteTarget::Agent(id(5)),
            ),
            (
                RuleAction::RouteToBot { bot: "faq".into() },
                RouteTarget::Bot("faq".into()),
            ),
        ] {
            let d = evaluate_rules(&[rule(1, 0, vec![], vec![action])], &input("x"), None);
            assert_eq!(d.target, target);
        }
    }

    #[test]
    fn a_decision_becomes_work_for_people_only() {
        let d = |target| RoutingDecision {
            target,
            priority: 0,
            matched_rule: None,
        };
        let fb = Some(id(FALLBACK));
        assert_eq!(
            d(RouteTarget::Queue(id(1))).work_target(fb),
            Some(WorkTarget::Queue(id(1)))
        );
        assert_eq!(
            d(RouteTarget::Agent(id(2))).work_target(fb),
            Some(WorkTarget::Agent {
                agent_id: id(2),
                fallback_queue: fb
            })
        );
        assert_eq!(
            d(RouteTarget::Skills(vec![])).work_target(fb),
            Some(WorkTarget::Skills(vec![]))
        );
        assert_eq!(d(RouteTarget::Bot("faq".into())).work_target(fb), None);
        assert_eq!(d(RouteTarget::Unroutable).work_target(fb), None);
    }

    #[test]
    fn a_well_formed_rule_validates() {
        let r = rule(
            1,
            0,
            vec![
                Condition::LanguageIs {
                    language: "fr-CA".into(),
                },
                Condition::LanguageIs {
                    language: "zh-Hant-TW".into(),
                },
                Condition::FirstMessageMatchesAny {
                    words: vec!["bill".into()],
                },
            ],
            vec![
                RuleAction::RouteToSkills {
                    skills: vec![skill(50, 1), skill(51, 10)],
                },
                RuleAction::SetPriority { priority: -1 },
            ],
        );
        assert_eq!(validate_rule(&r), Ok(()));
        assert_eq!(
            validate_rule(&rule(
                2,
                0,
                vec![],
                vec![RuleAction::SetPriority { priority: 1 }]
            )),
            Ok(())
        );
    }

    #[test]
    fn validation_lists_every_problem_readably() {
        let r = RoutingRule {
            id: id(42),
            name: " ".into(),
            position: 0,
            channel_id: None,
            conditions: vec![
                Condition::FirstMessageContains { text: "?!".into() },
                Condition::FirstMessageMatchesAny { words: vec![] },
                Condition::FirstMessageMatchesAny {
                    words: vec!["ok".into(), "...".into()],
                },
                Condition::FieldEquals {
                    field: "".into(),
                    value: "x".into(),
                },
                Condition::LanguageIs {
                    language: "french!".into(),
                },
            ],
            actions: vec![
                to_queue(1),
                RuleAction::RouteToSkills {
                    skills: vec![skill(50, 0), skill(50, 11)],
                },
                RuleAction::RouteToSkills { skills: vec![] },
                RuleAction::RouteToBot { bot: "".into() },
                RuleAction::SetPriority { priority: 1 },
                RuleAction::SetPriority { priority: 2 },
            ],
        };
        let err = validate_rule(&r).unwrap_err();
        assert_eq!(err.rule, id(42).to_string());
        use RuleError as E;
        assert_eq!(
            err.errors,
            vec![
                E::EmptyName,
                E::EmptyText { index: 1 },
                E::NoWords { index: 2 },
                E::EmptyWord { index: 3, word: 2 },
                E::EmptyField { index: 4 },
                E::BadLanguage {
                    index: 5,
                    language: "french!".into()
                },
                E::SeveralRoutes { count: 4 },
                E::SeveralPriorities { count: 2 },
                E::BadSkillLevel {
                    index: 2,
                    skill_id: id(50),
                    level: 0
                },
                E::BadSkillLevel {
                    index: 2,
                    skill_id: id(50),
                    level: 11
                },
                E::DuplicateSkill {
                    index: 2,
                    skill_id: id(50)
                },
                E::NoSkills { index: 3 },
                E::EmptyBot { index: 4 },
            ]
        );
        let text = err.to_string();
        assert!(
            text.starts_with(&format!(
                "routing rule '{}' is invalid: the rule has no name; ",
                id(42)
            )),
            "{text}"
        );
        assert!(
            text.contains("condition 5: 'french!' is not a language tag"),
            "{text}"
        );
        assert!(text.contains("levels run from 1 to 10"), "{text}");

        let empty = rule(1, 0, vec![], vec![]);
        let err = validate_rule(&empty).unwrap_err();
        assert_eq!(err.errors, vec![E::NoActions]);
        assert!(
            err.to_string()
                .starts_with("routing rule 'rule 1' is invalid: the rule has no actions")
        );
    }

    #[test]
    fn unvalidated_rules_take_the_first_route_and_the_last_priority() {
        let r = rule(
            1,
            0,
            vec![],
            vec![
                RuleAction::SetPriority { priority: 1 },
                to_queue(1),
                to_queue(2),
                RuleAction::SetPriority { priority: 5 },
            ],
        );
        let d = evaluate_rules(&[r], &input("x"), None);
        assert_eq!((d.target, d.priority), (RouteTarget::Queue(id(1)), 5));
    }

    fn condition_strategy() -> impl Strategy<Value = Condition> {
        prop_oneof![
            proptest::sample::select(ChannelKind::ALL.to_vec())
                .prop_map(|kind| Condition::ChannelKindIs { kind }),
            proptest::sample::select(vec!["bill", "help", "é"])
                .prop_map(|t| Condition::FirstMessageContains { text: t.into() }),
            any::<bool>().prop_map(|value| Condition::WithinBusinessHours { value }),
            proptest::sample::select(vec!["fr", "en", "fr-ca"])
                .prop_map(|l| Condition::LanguageIs { language: l.into() }),
        ]
    }

    proptest! {
        /// The decision depends on the rules, never on the order they were listed in; and the rule
        /// that decides is on the input's channel (or every channel), matches, and has the lowest
        /// position of all such rules.
        #[test]
        fn rule_order_in_the_list_does_not_matter(
            specs in proptest::collection::vec(
                (-3..3_i32, proptest::option::of(0..2_u128), proptest::collection::vec(condition_strategy(), 0..3), 0..4_u128),
                0..8,
            ),
            message in proptest::sample::select(vec!["my bill", "help é", "hello"]),
            language in proptest::option::of(proptest::sample::select(vec!["fr-CA", "en"])),
            hour in 0..24_i64,
            seed in any::<u64>(),
        ) {
            let rules: Vec<_> = specs.into_iter().enumerate().map(|(n, (pos, ch, conds, q))| {
                let mut r = rule(n as u128 + 1, pos, conds, vec![to_queue(q)]);
                r.channel_id = ch.map(|c| id(CHANNEL + c));
                r
            }).collect();
            let hours = weekdays_9_to_5(0);
            let mut i = input(message);
            i.language = language.map(str::to_owned);
            i.now = Timestamp(MONDAY + hour * HOUR_MS);
            i.business_hours = Some(&hours);
            let d = evaluate_rules(&rules, &i, Some(id(FALLBACK)));
            let mut shuffled = rules.clone();
            let len = shuffled.len().max(1);
            shuffled.rotate_left((seed as usize) % len);
            shuffled.reverse();
            prop_assert_eq!(&evaluate_rules(&shuffled, &i, Some(id(FALLBACK))), &d);
            let msg = FoldedMessage::new(message);
            let holds = |r: &RoutingRule| r.channel_id.is_none_or(|c| c == id(CHANNEL))
                && r.conditions.iter().all(|c| condition_holds(c, &i, &msg));
            match d.matched_rule {
                None => prop_assert!(!rules.iter().any(holds)),
                Some(rid) => {
                    let winner = rules.iter().find(|r| r.id == rid).unwrap();
                    prop_assert!(holds(winner));
                    prop_assert!(rules.iter().filter(|r| holds(r)).all(|r| (r.position, r.id) >= (winner.position, winner.id)));
                }
            }
        }
    }
}
