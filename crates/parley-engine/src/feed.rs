//! The console feed: what agents' consoles are told, in order, across nodes.
//!
//! Every console event is a row of `console_events` before any console sees it, so a console that
//! reconnects with `Last-Event-ID` replays what it missed, and every node's streams see events
//! written by any node. Three tasks per node:
//!
//! - the recorder turns the pipelines' [`DomainEvent`]s (a customer message, a status change, a
//!   session that opened or moved) into console events addressed to the session's agent, in
//!   batches. Agent actions and routing write their own events in the transaction of the change.
//! - the tailer reads new rows (woken by this node's writes, by PostgreSQL `NOTIFY` from other
//!   nodes, or by a slow tick) and hands each to this node's streams that may see it. On
//!   PostgreSQL ids are taken before commit, so a reader can see id 7 before id 6 commits: ids
//!   skipped over are looked for again for a few seconds before they are given up as rolled back.
//! - the heartbeat renews `connected_until` for every agent with an open stream here, which is
//!   what routing calls online (RT-06) and what the offline sweep reads (RT-08).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use parley_core::{Clock, Timestamp};
use parley_store::{ConsoleEvent, ConsoleEventKind, NewConsoleEvent, Store};
use serde_json::json;
use tokio::sync::{Notify, broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::events::{DomainEvent, EventBus};

/// How long an agent counts as connected after their stream's last renewal (every heartbeat): the
/// grace period of RT-08, decided in core.
pub const CONNECTION_GRACE: Duration =
    Duration::from_millis(parley_core::routing::DEFAULT_OFFLINE_GRACE_MS.unsigned_abs());
const HEARTBEAT: Duration = Duration::from_secs(15);
const TAIL_TICK: Duration = Duration::from_secs(1);
const GAP_PATIENCE_MS: i64 = 10_000;
/// Console events are kept this long for replay.
const RETENTION_MS: i64 = 24 * 60 * 60 * 1000;

#[derive(Clone)]
pub struct Feed {
    store: Store,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
    connected: Arc<Mutex<HashMap<Uuid, usize>>>,
    streams: Arc<Mutex<Streams>>,
    next_stream: Arc<AtomicU64>,
}

/// The open console streams of this node, by whom they belong to: an event wakes only the streams
/// that may see it, not every stream of the node.
#[derive(Default)]
struct Streams {
    by_agent: HashMap<Uuid, Vec<Subscriber>>,
    /// Supervisors and admins see every event.
    all: Vec<Subscriber>,
}

struct Subscriber {
    id: u64,
    tx: mpsc::Sender<Arc<ConsoleEvent>>,
    lagged: Arc<AtomicBool>,
}

impl Subscriber {
    fn offer(&self, e: &Arc<ConsoleEvent>) {
        if self.tx.try_send(e.clone()).is_err() {
            // Full (a stalled client) or closed: the stream tells its console to reload.
            self.lagged.store(true, Ordering::Relaxed);
        }
    }
}

/// One console stream's events, in order; dropping it unregisters the stream.
pub struct StreamHandle {
    pub rx: mpsc::Receiver<Arc<ConsoleEvent>>,
    lagged: Arc<AtomicBool>,
    id: u64,
    agent_id: Uuid,
    sees_all: bool,
    streams: Arc<Mutex<Streams>>,
}

impl StreamHandle {
    /// Whether events were dropped since the last call because the stream fell behind.
    pub fn take_lagged(&self) -> bool {
        self.lagged.swap(false, Ordering::Relaxed)
    }
}

impl std::fmt::Debug for StreamHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamHandle")
            .field("agent_id", &self.agent_id)
            .finish()
    }
}

impl Drop for StreamHandle {
    fn drop(&mut self) {
        if let Ok(mut s) = self.streams.lock() {
            if self.sees_all {
                s.all.retain(|sub| sub.id != self.id);
            } else if let Some(v) = s.by_agent.get_mut(&self.agent_id) {
                v.retain(|sub| sub.id != self.id);
                if v.is_empty() {
                    s.by_agent.remove(&self.agent_id);
                }
            }
        }
    }
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed").finish_non_exhaustive()
    }
}

/// Held by an open console stream; the agent stays connected until every guard is dropped.
#[derive(Debug)]
pub struct ConnectionGuard {
    agent_id: Uuid,
    connected: Arc<Mutex<HashMap<Uuid, usize>>>,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        if let Ok(mut map) = self.connected.lock()
            && let Some(n) = map.get_mut(&self.agent_id)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.agent_id);
            }
        }
    }
}

impl Feed {
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            wake: Arc::new(Notify::new()),
            connected: Arc::new(Mutex::new(HashMap::new())),
            streams: Arc::new(Mutex::new(Streams::default())),
            next_stream: Arc::new(AtomicU64::new(0)),
        }
    }

    /// A console stream's events: those addressed to `agent_id`, or every event when `sees_all`
    /// (supervisors). Register before reading a replay so nothing falls in between.
    pub fn stream(&self, agent_id: Uuid, sees_all: bool) -> StreamHandle {
        let (tx, rx) = mpsc::channel(4_096);
        let lagged = Arc::new(AtomicBool::new(false));
        let id = self.next_stream.fetch_add(1, Ordering::Relaxed);
        let sub = Subscriber {
            id,
            tx,
            lagged: lagged.clone(),
        };
        if let Ok(mut s) = self.streams.lock() {
            if sees_all {
                s.all.push(sub);
            } else {
                s.by_agent.entry(agent_id).or_default().push(sub);
            }
        }
        StreamHandle {
            rx,
            lagged,
            id,
            agent_id,
            sees_all,
            streams: self.streams.clone(),
        }
    }

    /// Hands one event to the streams of this node that may see it.
    fn deliver(&self, e: ConsoleEvent) {
        let e = Arc::new(e);
        if let Ok(s) = self.streams.lock() {
            if let Some(agent) = e.agent_id
                && let Some(subs) = s.by_agent.get(&agent)
            {
                for sub in subs {
                    sub.offer(&e);
                }
            } else if e.agent_id.is_none() && e.kind == ConsoleEventKind::Queue.as_str() {
                // A queue's list changed: it carries the queue's id only, and the members of a
                // pick-from-queue queue refresh what they may take from it.
                for sub in s.by_agent.values().flatten() {
                    sub.offer(&e);
                }
            }
            for sub in &s.all {
                sub.offer(&e);
            }
        }
    }

    /// Tells the tailer that events were written on this node.
    pub fn written(&self) {
        self.wake.notify_one();
    }

    /// Marks an agent connected for as long as the guard lives, and renews their mark at once so
    /// routing sees them without waiting for the heartbeat.
    pub async fn connect(&self, agent_id: Uuid) -> ConnectionGuard {
        if let Ok(mut map) = self.connected.lock() {
            *map.entry(agent_id).or_insert(0) += 1;
        }
        let until = self.clock.now().plus(CONNECTION_GRACE);
        if let Err(e) = self.store.touch_agents_connected(&[agent_id], until).await {
            tracing::warn!(error = %e, "could not mark the agent connected");
        }
        ConnectionGuard {
            agent_id,
            connected: self.connected.clone(),
        }
    }

    /// Agents with an open stream on this node.
    pub fn connected_agents(&self) -> Vec<Uuid> {
        self.connected
            .lock()
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Events after `after` (a reconnecting console's Last-Event-ID), oldest first.
    pub async fn replay(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<ConsoleEvent>, parley_store::StoreError> {
        self.store.console_events_after(after, limit).await
    }

    /// Starts the recorder, the tailer and the heartbeat.
    pub fn spawn(&self, bus: &EventBus, shutdown: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
        vec![
            tokio::spawn(self.clone().record(bus.subscribe(), shutdown.clone())),
            tokio::spawn(self.clone().tail(shutdown.clone())),
            tokio::spawn(self.clone().heartbeat(shutdown)),
        ]
    }

    async fn record(
        self,
        mut rx: broadcast::Receiver<Arc<DomainEvent>>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            let first = tokio::select! {
                _ = shutdown.changed() => return,
                e = rx.recv() => e,
            };
            let mut batch = Vec::new();
            match first {
                Ok(e) => batch.push(e),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(lost = n, "console recorder fell behind the event bus");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
            while batch.len() < 512 {
                match rx.try_recv() {
                    Ok(e) => batch.push(e),
                    Err(_) => break,
                }
            }
            if let Err(e) = self.record_batch(&batch).await {
                tracing::warn!(error = %e, "console events not recorded");
            }
        }
    }

    async fn record_batch(
        &self,
        batch: &[Arc<DomainEvent>],
    ) -> Result<(), parley_store::StoreError> {
        let mut ids: Vec<Uuid> = batch
            .iter()
            .filter_map(|e| match **e {
                DomainEvent::MessageReceived { session_id, .. }
                | DomainEvent::MessageStatusChanged { session_id, .. }
                | DomainEvent::SessionOpened { session_id }
                | DomainEvent::SessionChanged { session_id }
                | DomainEvent::CustomerTyping { session_id, .. }
                | DomainEvent::NoteAdded { session_id, .. } => Some(session_id),
                _ => None,
            })
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        ids.sort_unstable();
        ids.dedup();
        let sessions: HashMap<Uuid, parley_store::Session> = self
            .store
            .sessions_by_ids(&ids)
            .await?
            .into_iter()
            .map(|s| (s.id, s))
            .collect();
        let mut out = Vec::with_capacity(batch.len());
        for e in batch {
            let (session_id, kind, data) = match **e {
                DomainEvent::MessageReceived {
                    session_id,
                    entry_id,
                } => (
                    session_id,
                    ConsoleEventKind::Entry,
                    json!({"session_id": session_id, "entry_id": entry_id, "direction": "inbound"}),
                ),
                DomainEvent::MessageStatusChanged {
                    session_id,
                    entry_id,
                } => (
                    session_id,
                    ConsoleEventKind::Entry,
                    json!({"session_id": session_id, "entry_id": entry_id, "direction": "outbound"}),
                ),
                DomainEvent::SessionOpened { session_id }
                | DomainEvent::SessionChanged { session_id } => {
                    let Some(s) = sessions.get(&session_id) else {
                        continue;
                    };
                    (
                        session_id,
                        ConsoleEventKind::Session,
                        json!({"session_id": session_id, "status": s.status, "owner_id": s.owner_id}),
                    )
                }
                DomainEvent::CustomerTyping { session_id, typing } => (
                    session_id,
                    ConsoleEventKind::Typing,
                    // `at` lets a console ignore a replayed "typing" that is long over.
                    json!({"session_id": session_id, "typing": typing, "at": self.clock.now().millis()}),
                ),
                DomainEvent::NoteAdded {
                    session_id,
                    whisper_to,
                    ..
                } => {
                    // A whisper concerns its agent alone (supervisors' streams see every event);
                    // a plain note, whoever works the session.
                    if sessions.contains_key(&session_id) {
                        out.push(NewConsoleEvent {
                            agent_id: whisper_to
                                .or_else(|| sessions.get(&session_id).and_then(owner_agent)),
                            kind: ConsoleEventKind::Note,
                            data: json!({"session_id": session_id, "whisper_to": whisper_to})
                                .to_string(),
                        });
                    }
                    continue;
                }
                _ => continue,
            };
            let Some(s) = sessions.get(&session_id) else {
                continue;
            };
            // A message of a session no agent holds (a campaign's, an auto-response before
            // routing) concerns no console: the session's own events tell supervisors enough.
            // Skipping them keeps bulk sending from writing a console row per message.
            if matches!(kind, ConsoleEventKind::Entry | ConsoleEventKind::Typing)
                && owner_agent(s).is_none()
            {
                continue;
            }
            out.push(NewConsoleEvent {
                agent_id: owner_agent(s),
                kind,
                data: data.to_string(),
            });
        }
        self.store
            .append_console_events(&out, self.clock.now())
            .await?;
        self.written();
        Ok(())
    }

    async fn tail(self, mut shutdown: watch::Receiver<bool>) {
        let mut last = match self.store.last_console_event_id().await {
            Ok(id) => id,
            Err(e) => {
                tracing::warn!(error = %e, "console feed cannot start");
                0
            }
        };
        let mut listener = match self.store.console_listener().await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "no LISTEN connection; the console feed polls");
                None
            }
        };
        // Ids skipped over, by when they were first missed.
        let mut gaps: BTreeMap<i64, i64> = BTreeMap::new();
        let mut last_prune = 0i64;
        loop {
            let notified = async {
                match listener.as_mut() {
                    Some(l) => {
                        if l.recv().await.is_err() {
                            tokio::time::sleep(TAIL_TICK).await;
                        }
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = self.wake.notified() => {}
                _ = notified => {}
                _ = tokio::time::sleep(TAIL_TICK) => {}
            }
            if self.store.is_closed() {
                // The LISTEN connection came from the pool: closing waits for it.
                return;
            }
            let now = self.clock.now().millis();
            if !gaps.is_empty() {
                let ids: Vec<i64> = gaps.keys().copied().collect();
                if let Ok(found) = self.store.console_events_by_ids(&ids).await {
                    for e in found {
                        gaps.remove(&e.id);
                        self.deliver(e);
                    }
                }
                gaps.retain(|_, since| now - *since < GAP_PATIENCE_MS);
            }
            loop {
                let events = match self.store.console_events_after(last, 1000).await {
                    Ok(e) => e,
                    Err(e) => {
                        tracing::warn!(error = %e, "console feed read failed");
                        break;
                    }
                };
                let full = events.len() == 1000;
                for e in events {
                    for missing in (last + 1)..e.id {
                        gaps.insert(missing, now);
                    }
                    last = last.max(e.id);
                    self.deliver(e);
                }
                if !full {
                    break;
                }
            }
            if now - last_prune > 60 * 60 * 1000 {
                last_prune = now;
                if let Err(e) = self
                    .store
                    .prune_console_events(Timestamp(now - RETENTION_MS))
                    .await
                {
                    tracing::warn!(error = %e, "old console events not pruned");
                }
            }
        }
    }

    async fn heartbeat(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(HEARTBEAT) => {}
            }
            let agents = self.connected_agents();
            if agents.is_empty() {
                continue;
            }
            let until = self.clock.now().plus(CONNECTION_GRACE);
            if let Err(e) = self.store.touch_agents_connected(&agents, until).await {
                tracing::warn!(error = %e, "console connections not renewed");
            }
        }
    }
}

/// The agent a session's events are addressed to.
pub fn owner_agent(s: &parley_store::Session) -> Option<Uuid> {
    match s.owner_kind {
        Some(parley_core::model::OwnerKind::Agent) => s.owner_id,
        _ => None,
    }
}
