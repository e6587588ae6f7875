//! `parley bench flows`: conversations waiting in a flow, customers answering at a steady rate.
//!
//! In one process (engine with every worker, on a fresh SQLite file or a new PostgreSQL schema):
//!
//! 1. Setup (timed, not measured): a flow `bench` whose waiting step loops (`ask` "Next?" with a
//!    case `{type: any}` -> `send` "Got it" -> the same `ask`), a simulator SMS channel whose bot
//!    it is, and a second simulator channel without a bot. `--conversations` customers write "hi"
//!    on each; the bot's channel's conversations all wait in the flow (open runs, flow queue
//!    empty), the other channel's are offered to agents (one per 1,000) who accept them all, so
//!    no session is left waiting (the router reads every waiting session in each round, and each
//!    inbound message starts a round: 10,000 unattended sessions cost more than the flows).
//! 2. Baseline: the inbound pipeline alone, customers of the channel without a bot writing again
//!    into their conversations with the agents: latency from the submit (`Ingest::submit`) to
//!    the message committed (`DomainEvent::MessageReceived`).
//! 3. Flows: the waiting customers reply: latency from the submit to the bot's answer committed
//!    (the first new entry announced by `MessageStatusChanged` in that session after the submit).
//!    Each reply runs three steps: the `ask` takes the reply (match), the `send`, the `ask` again
//!    (two messages); the runs' write counts are checked against the replies at the end.
//!
//! Each is measured open loop at `--rate` for `--seconds` (replies start on a fixed schedule,
//! round robin over the customers, whatever the answers), then closed loop with
//! `--concurrency` replies outstanding (the maximum rate).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use parley_core::model::{
    AgentRole, ChannelKind, ConsentLevel, NumberType, OwnerKind, Presence, Provider, RoutingModel,
};
use parley_core::{Clock, SystemClock};
use parley_engine::inbound::InboundEvent;
use parley_engine::{DomainEvent, Engine, EngineConfig, EventBus};
use parley_store::{AgentSpec, Channel, ChannelSpec, QueueSpec, Store, StoreOptions};
use serde_json::json;
use tokio::sync::{broadcast, oneshot, watch};
use uuid::Uuid;

use crate::bench::{micros, percentile, rate};

pub struct Options {
    pub conversations: usize,
    pub rate: usize,
    pub seconds: u64,
    pub concurrency: usize,
    pub database_url: Option<String>,
}

/// The benchmark's flow: every reply is taken by the `ask`, answered by the `send`, and asked
/// again.
const FLOW: &str = r#"
name: bench
description: parley bench flows
steps:
  - id: next
    type: ask
    message: { text: "Next?" }
    cases:
      - when: { type: any }
        next: got
  - id: got
    type: send
    message: { text: "Got it" }
    next: next
"#;

/// Steps one reply runs: the `ask` matching it, the `send`, the `ask` asking again.
const STEPS_PER_REPLY: usize = 3;
/// Messages the bot sends per reply ("Got it", "Next?").
const MESSAGES_PER_REPLY: usize = 2;
/// The longest a phase waits for its last answers.
const DRAIN: Duration = Duration::from_secs(300);
/// Conversations per agent of the baseline's channel.
const AGENT_CAPACITY: usize = 1_000;

fn phone(i: usize) -> String {
    // Valid NANP numbers: exchange 200 and up, four-digit subscriber numbers.
    format!("+1415{}{:04}", 200 + i / 10_000, i % 10_000)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Answered when the message is committed (`MessageReceived`).
    Inbound,
    /// Answered when the bot's first message of the reply is committed.
    Flow,
}

struct Pending {
    start: Instant,
    kind: Kind,
    received: bool,
    done: Option<oneshot::Sender<()>>,
}

/// What one phase saw.
#[derive(Default)]
struct Phase {
    /// Submit to answer, microseconds.
    answered: Vec<u64>,
    /// Submit to the customer's message committed, microseconds (flow replies too).
    received: Vec<u64>,
    last: Option<Instant>,
    /// New entries announced (the bot's messages).
    bot_messages: usize,
}

#[derive(Default)]
struct Tracker {
    pending: HashMap<Uuid, Pending>,
    /// Entries already announced: a message's later status changes are not answers.
    seen: HashSet<Uuid>,
    phase: Phase,
    lagged: u64,
}

type Shared = Arc<Mutex<Tracker>>;

fn lock(t: &Shared) -> std::sync::MutexGuard<'_, Tracker> {
    t.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Reads the event bus for the whole run and settles the pending replies.
fn collect(mut rx: broadcast::Receiver<Arc<DomainEvent>>, tracker: Shared) {
    tokio::spawn(async move {
        loop {
            let event = match rx.recv().await {
                Ok(e) => e,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    lock(&tracker).lagged += n;
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let now = Instant::now();
            let mut t = lock(&tracker);
            let t = &mut *t;
            let settled = match *event {
                DomainEvent::MessageReceived { session_id, .. } => {
                    match t.pending.get_mut(&session_id) {
                        Some(p) if !p.received => {
                            p.received = true;
                            t.phase.received.push(micros(now - p.start));
                            p.kind == Kind::Inbound
                        }
                        _ => false,
                    }
                    .then_some(session_id)
                }
                DomainEvent::MessageStatusChanged {
                    session_id,
                    entry_id,
                } => {
                    if t.seen.insert(entry_id) {
                        t.phase.bot_messages += 1;
                        t.pending
                            .get(&session_id)
                            .is_some_and(|p| p.kind == Kind::Flow)
                            .then_some(session_id)
                    } else {
                        None
                    }
                }
                _ => None,
            };
            if let Some(session_id) = settled
                && let Some(mut p) = t.pending.remove(&session_id)
            {
                t.phase.answered.push(micros(now - p.start));
                t.phase.last = Some(now);
                if let Some(done) = p.done.take() {
                    let _ = done.send(());
                }
            }
        }
    });
}

/// A channel, its customers and their sessions.
struct Side {
    channel: Channel,
    kind: Kind,
    /// Session of customer `i` (by `phone(i)`).
    sessions: Vec<Uuid>,
}

struct Bench {
    engine: Engine,
    store: Store,
    tracker: Shared,
    next_id: AtomicUsize,
}

impl Bench {
    fn event(&self, channel: &Channel, customer: usize, text: &str) -> InboundEvent {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        InboundEvent {
            channel_id: channel.id,
            provider_message_id: format!("bench-{n}"),
            from: phone(customer),
            to: channel.address.clone(),
            text: text.to_owned(),
            media: Vec::new(),
            profile_name: None,
            received_at: SystemClock.now(),
            choice: None,
            web: None,
        }
    }

    /// Submits customer `i`'s reply, answered as `side.kind`; `false` when the customer's previous
    /// reply is still unanswered (nothing is sent).
    async fn reply(
        &self,
        side: &Side,
        i: usize,
        done: Option<oneshot::Sender<()>>,
    ) -> Result<bool> {
        let session = side
            .sessions
            .get(i % side.sessions.len().max(1))
            .copied()
            .context("no sessions")?;
        let event = self.event(&side.channel, i % side.sessions.len().max(1), "42");
        {
            let mut t = lock(&self.tracker);
            if t.pending.contains_key(&session) {
                return Ok(false);
            }
            t.pending.insert(
                session,
                Pending {
                    start: Instant::now(),
                    kind: side.kind,
                    received: false,
                    done,
                },
            );
        }
        self.engine.ingest.submit(&event).await?;
        Ok(true)
    }

    /// Waits until every reply is answered (or gives up) and the queues are empty; then the
    /// phase's record, and how many replies went unanswered.
    async fn settle(&self) -> Result<(Phase, usize)> {
        let deadline = Instant::now() + DRAIN;
        loop {
            if lock(&self.tracker).pending.is_empty() || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        loop {
            let mut busy = false;
            for q in [
                parley_engine::inbound::QUEUE,
                parley_engine::Queue::Flows.as_str(),
                parley_engine::outbound::QUEUE,
            ] {
                busy |= self.store.has_pending_jobs(q).await?;
            }
            if !busy || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut t = lock(&self.tracker);
        let unanswered = t.pending.len();
        t.pending.clear();
        Ok((std::mem::take(&mut t.phase), unanswered))
    }

    /// Open loop: `n` replies on a fixed schedule, round robin from customer `first`.
    async fn open_loop(
        self: &Arc<Self>,
        side: &Arc<Side>,
        per_second: usize,
        seconds: u64,
        first: usize,
    ) -> Result<Outcome> {
        let n = per_second.saturating_mul(usize::try_from(seconds).unwrap_or(0));
        let interval = Duration::from_secs_f64(1.0 / per_second.max(1) as f64);
        let start = Instant::now();
        let mut tasks = Vec::with_capacity(n);
        for k in 0..n {
            tokio::time::sleep_until((start + interval.mul_f64(k as f64)).into()).await;
            let b = self.clone();
            let s = side.clone();
            tasks.push(tokio::spawn(
                async move { b.reply(&s, first + k, None).await },
            ));
        }
        let mut sent = 0;
        for t in tasks {
            sent += usize::from(t.await.context("reply task")??);
        }
        let (phase, unanswered) = self.settle().await?;
        Ok(Outcome {
            sent,
            skipped: n - sent,
            unanswered,
            elapsed: elapsed_of(start, &phase, Duration::from_secs(seconds)),
            phase,
        })
    }

    /// Closed loop: `concurrency` customers at a time reply and wait for their answer, for
    /// `seconds`.
    async fn closed_loop(
        self: &Arc<Self>,
        side: &Arc<Side>,
        concurrency: usize,
        seconds: u64,
        first: usize,
    ) -> Result<Outcome> {
        let next = Arc::new(AtomicUsize::new(first));
        let start = Instant::now();
        let until = start + Duration::from_secs(seconds);
        let mut tasks = Vec::new();
        for _ in 0..concurrency.max(1) {
            let b = self.clone();
            let s = side.clone();
            let next = next.clone();
            tasks.push(tokio::spawn(async move {
                let mut sent = 0usize;
                while Instant::now() < until {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let (tx, rx) = oneshot::channel();
                    if !b.reply(&s, i, Some(tx)).await? {
                        continue;
                    }
                    sent += 1;
                    // An answer lost (an event the collector missed) ends this worker's part.
                    if tokio::time::timeout(DRAIN, rx).await.is_err() {
                        break;
                    }
                }
                anyhow::Ok(sent)
            }));
        }
        let mut sent = 0;
        for t in tasks {
            sent += t.await.context("load task")??;
        }
        let (phase, unanswered) = self.settle().await?;
        Ok(Outcome {
            sent,
            skipped: 0,
            unanswered,
            elapsed: elapsed_of(start, &phase, Duration::from_secs(seconds)),
            phase,
        })
    }
}

/// From the start to the last answer (at least the schedule's length).
fn elapsed_of(start: Instant, phase: &Phase, at_least: Duration) -> Duration {
    phase
        .last
        .map(|l| l.saturating_duration_since(start))
        .unwrap_or_default()
        .max(at_least)
}

struct Outcome {
    sent: usize,
    skipped: usize,
    unanswered: usize,
    elapsed: Duration,
    phase: Phase,
}

impl Outcome {
    fn replies_per_second(&self) -> f64 {
        rate(self.phase.answered.len(), self.elapsed)
    }

    fn print(&self, label: &str, steps: bool) {
        let mut lat = self.phase.answered.clone();
        lat.sort_unstable();
        let ms = |p: f64| percentile(&lat, p) as f64 / 1000.0;
        let steps = if steps {
            format!(
                "  {:>7.0} steps/s",
                self.replies_per_second() * STEPS_PER_REPLY as f64
            )
        } else {
            String::new()
        };
        println!(
            "  {label:<44} {:>7.0} /s{steps}   p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms   ({} sent, {} answered in {:.1} s{}{})",
            self.replies_per_second(),
            ms(0.50),
            ms(0.90),
            ms(0.99),
            lat.last().copied().unwrap_or(0) as f64 / 1000.0,
            self.sent,
            lat.len(),
            self.elapsed.as_secs_f64(),
            if self.skipped > 0 {
                format!(", {} skipped: previous reply unanswered", self.skipped)
            } else {
                String::new()
            },
            if self.unanswered > 0 {
                format!(", {} UNANSWERED", self.unanswered)
            } else {
                String::new()
            },
        );
    }

    /// The flow replies' first half: submit to the reply committed by the inbound pipeline.
    fn print_received(&self, label: &str) {
        let mut lat = self.phase.received.clone();
        lat.sort_unstable();
        let ms = |p: f64| percentile(&lat, p) as f64 / 1000.0;
        println!(
            "    {label:<42}            p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms   (bot messages {}, {:.2} per reply)",
            ms(0.50),
            ms(0.90),
            ms(0.99),
            self.phase.bot_messages,
            self.phase.bot_messages as f64 / self.phase.answered.len().max(1) as f64,
        );
    }
}

/// `nproc`, the CPU model and the load average.
pub(crate) fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    format!("{cpus} CPUs ({model}), load average {load}")
}

async fn simulator_channel(
    store: &Store,
    name: &str,
    address: &str,
    bot: bool,
    queue_id: Option<Uuid>,
) -> Result<Channel> {
    let settings = if bot {
        json!({"flows": {"bot": "bench"}})
    } else {
        json!({})
    };
    Ok(store
        .create_channel(
            &ChannelSpec {
                name: name.into(),
                kind: ChannelKind::Sms,
                provider: Provider::Simulator,
                address: address.into(),
                number_type: Some(NumberType::TollFree),
                provider_keyword: None,
                country: Some("US".into()),
                consent_level: ConsentLevel::Implicit,
                queue_id,
                throughput_mps: Some(100_000),
                settings,
                secrets: json!({}),
            },
            SystemClock.now(),
        )
        .await?)
}

/// The open session of each customer of `channel`, in customer order.
async fn sessions_of(store: &Store, channel: &Channel, n: usize) -> Result<Vec<Session>> {
    let keys: Vec<String> = (0..n).map(phone).collect();
    let users = store.messaging_users_by_keys(channel.id, &keys).await?;
    let user_of: HashMap<&str, Uuid> = users
        .iter()
        .map(|u| (u.platform_key.as_str(), u.id))
        .collect();
    let ids: Vec<Uuid> = users.iter().map(|u| u.id).collect();
    let (open, _) = store.sessions_of_users(&ids).await?;
    let session_of: HashMap<Uuid, &parley_store::Session> =
        open.iter().map(|s| (s.messaging_user_id, s)).collect();
    keys.iter()
        .map(|k| {
            let s = user_of
                .get(k.as_str())
                .and_then(|u| session_of.get(u))
                .with_context(|| format!("customer {k} of {} has no open session", channel.name))?;
            Ok(Session {
                id: s.id,
                held_by_bot: s.owner_kind == Some(OwnerKind::Bot),
            })
        })
        .collect()
}

struct Session {
    id: Uuid,
    held_by_bot: bool,
}

pub async fn run(o: Options) -> Result<()> {
    let n = o.conversations.max(1);
    let dir = tempfile::tempdir().context("temporary directory")?;
    let url = match &o.database_url {
        Some(base) if base.starts_with("postgres") => {
            parley_store::bulk::new_pg_schema_url(base, "bench_flows").await?
        }
        Some(url) => url.clone(),
        None => format!("sqlite://{}", dir.path().join("bench.db").display()),
    };
    let store = Store::connect(&url, &StoreOptions::default()).await?;
    store.migrate().await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    println!(
        "parley bench flows: {n} conversations waiting in a flow, replies at {}/s for {} s, then {} outstanding",
        o.rate, o.seconds, o.concurrency
    );
    println!(
        "  machine: {}; database {}; engine and load in one process",
        machine(),
        match store.kind() {
            parley_store::BackendKind::Sqlite => "SQLite (in process)",
            parley_store::BackendKind::Postgres => "PostgreSQL (server on the same machine)",
        }
    );

    let flow = parley_engine::service::flows::parse(FLOW)?;
    parley_engine::service::flows::save(&store, &flow, clock.now()).await?;
    let flow_id = store
        .flow_by_name("bench")
        .await?
        .context("the bench flow was not saved")?
        .id;
    let bot = simulator_channel(&store, "Bench bot", "+14155550100", true, None).await?;
    // The baseline's conversations are taken by agents, so that none waits: the router reads
    // every waiting session on each round, and every inbound message starts a round.
    let queue = store
        .create_queue(
            &QueueSpec {
                name: "Bench".into(),
                routing_model: RoutingModel::MostAvailable,
                priority: 0,
                assignment: parley_core::model::QueueAssignment::Push,
            },
            clock.now(),
        )
        .await?;
    let plain = simulator_channel(
        &store,
        "Bench inbound",
        "+14155550101",
        false,
        Some(queue.id),
    )
    .await?;
    // Twice the room needed: an agent whose offers expired is not offered them again.
    let agent_count = n.div_ceil(AGENT_CAPACITY);
    let mut agents = Vec::with_capacity(agent_count);
    let until = clock.now().plus(Duration::from_secs(24 * 3600));
    for i in 0..agent_count {
        let a = store
            .create_agent(
                &AgentSpec {
                    name: format!("Bench agent {i}"),
                    email: format!("agent{i}@bench.test"),
                    role: AgentRole::Agent,
                    capacity: 2 * AGENT_CAPACITY as i64,
                    queue_ids: vec![queue.id],
                    skills: vec![],
                },
                clock.now(),
            )
            .await?;
        store
            .set_agent_presence(a.id, Presence::Available, Some(until), clock.now())
            .await?;
        agents.push(a);
    }

    // A bus deep enough that the collector never loses an event.
    let events = EventBus::new(1 << 20);
    let engine = Engine::new(
        store.clone(),
        clock.clone(),
        events.clone(),
        EngineConfig::default(),
    );
    let tracker: Shared = Arc::default();
    collect(events.subscribe(), tracker.clone());
    let (stop_tx, stop_rx) = watch::channel(false);
    let workers = engine.spawn_workers(stop_rx);
    let bench = Arc::new(Bench {
        engine,
        store: store.clone(),
        tracker: tracker.clone(),
        next_id: AtomicUsize::new(0),
    });

    // 1. Setup: every customer writes "hi" on both channels.
    let start = Instant::now();
    let sem = Arc::new(tokio::sync::Semaphore::new(256));
    let mut tasks = Vec::with_capacity(2 * n);
    for channel in [&bot, &plain] {
        for i in 0..n {
            let event = bench.event(channel, i, "hi");
            let b = bench.clone();
            let sem = sem.clone();
            tasks.push(tokio::spawn(async move {
                let _permit = sem.acquire().await?;
                b.engine.ingest.submit(&event).await?;
                anyhow::Ok(())
            }));
        }
    }
    for t in tasks {
        t.await.context("setup task")??;
    }
    let submitted = start.elapsed();
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        let open: i64 = store
            .flow_run_counts()
            .await?
            .iter()
            .filter(|r| r.flow_id == flow_id)
            .map(|r| r.open)
            .sum();
        let busy = store
            .has_pending_jobs(parley_engine::inbound::QUEUE)
            .await?
            || store
                .has_pending_jobs(parley_engine::Queue::Flows.as_str())
                .await?;
        if open >= n as i64 && !busy {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "setup: {open} of {n} conversations in the flow"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let waiting = start.elapsed();
    // The background router offers the other channel's conversations; the agents accept them,
    // side by side (an offer not accepted within the offer timeout goes to another agent).
    let mut accepted = 0usize;
    let mut progress = Instant::now();
    while accepted < n {
        let mut tasks = Vec::with_capacity(agents.len());
        for a in &agents {
            let a = a.clone();
            let b = bench.clone();
            tasks.push(tokio::spawn(async move {
                let mut took = 0usize;
                for w in b.store.offers_of(a.id).await? {
                    took += usize::from(b.engine.desk.accept(&a, w.session_id).await.is_ok());
                }
                anyhow::Ok(took)
            }));
        }
        let mut took = 0;
        for t in tasks {
            took += t.await.context("accept task")??;
        }
        accepted += took;
        if took > 0 {
            progress = Instant::now();
        } else {
            anyhow::ensure!(
                progress.elapsed() < Duration::from_secs(120),
                "setup: {accepted} of {n} conversations accepted by agents, no progress"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let active = start.elapsed();
    let bot_sessions = sessions_of(&store, &bot, n).await?;
    let plain_sessions = sessions_of(&store, &plain, n).await?;
    let held = bot_sessions.iter().filter(|s| s.held_by_bot).count();
    anyhow::ensure!(
        held == n,
        "setup: {held} of {n} conversations held by the bot"
    );
    println!(
        "  setup: {} first messages submitted in {:.1} s; {n} conversations waiting in the flow after {:.1} s ({:.0} first messages/s processed); {n} taken by {agent_count} agents after {:.1} s",
        2 * n,
        submitted.as_secs_f64(),
        waiting.as_secs_f64(),
        rate(2 * n, waiting),
        active.as_secs_f64(),
    );
    let (setup_phase, _) = bench.settle().await?;
    drop(setup_phase);
    let flows = Arc::new(Side {
        channel: bot,
        kind: Kind::Flow,
        sessions: bot_sessions.iter().map(|s| s.id).collect(),
    });
    let inbound = Arc::new(Side {
        channel: plain,
        kind: Kind::Inbound,
        sessions: plain_sessions.iter().map(|s| s.id).collect(),
    });

    // 2 and 3. Open loop at the rate, then closed loop, each baseline first.
    let mut next = 0usize;
    let base = bench.open_loop(&inbound, o.rate, o.seconds, next).await?;
    base.print(
        &format!("baseline: inbound alone at {}/s (open loop)", o.rate),
        false,
    );
    let open = bench.open_loop(&flows, o.rate, o.seconds, next).await?;
    open.print(&format!("flow replies at {}/s (open loop)", o.rate), true);
    open.print_received("of which submit -> reply committed");
    next += o
        .rate
        .saturating_mul(usize::try_from(o.seconds).unwrap_or(0));
    let base_sat = bench
        .closed_loop(&inbound, o.concurrency, o.seconds, next)
        .await?;
    base_sat.print(
        &format!("baseline: inbound alone, {} outstanding", o.concurrency),
        false,
    );
    let sat = bench
        .closed_loop(&flows, o.concurrency, o.seconds, next)
        .await?;
    sat.print(
        &format!("flow replies, {} outstanding (saturation)", o.concurrency),
        true,
    );
    sat.print_received("of which submit -> reply committed");

    // The runs: one write for the start and one per reply, every run waiting again.
    let mut writes = 0i64;
    let mut still_waiting = 0usize;
    for s in flows.sessions.iter() {
        if let Some(run) = store.current_flow_run(*s).await?
            && run.status == "waiting_reply"
        {
            still_waiting += 1;
            writes += run.seq;
        }
    }
    let replies = open.phase.answered.len() + sat.phase.answered.len();
    let applied = writes - n as i64;
    println!(
        "  runs: {still_waiting} of {n} waiting; {applied} replies applied by the flow ({replies} answered), {} steps ({STEPS_PER_REPLY} per reply: the ask's match, the send, the ask again), bot messages {} ({MESSAGES_PER_REPLY} per reply expected)",
        applied.max(0) as usize * STEPS_PER_REPLY,
        open.phase.bot_messages + sat.phase.bot_messages,
    );
    let flow_jobs = store
        .queue_counts(parley_engine::Queue::Flows.as_str())
        .await?;
    let inbound_jobs = store.queue_counts(parley_engine::inbound::QUEUE).await?;
    let lagged = lock(&tracker).lagged;
    if flow_jobs.dead > 0 || inbound_jobs.dead > 0 || lagged > 0 {
        println!(
            "  WARNING: {} flow jobs and {} inbound jobs dead-lettered; {lagged} events missed",
            flow_jobs.dead, inbound_jobs.dead
        );
    }

    let _ = stop_tx.send(true);
    for w in workers {
        let _ = w.await;
    }
    store.close().await;
    Ok(())
}
