//! The web chat's stream hub: one per node, it turns what happens in the domain into the events
//! of the widgets connected to this node, fanned out per visitor (messaging user).
//!
//! Two sources, each read once for every widget of the node (no widget polls the database):
//! the engine's event bus (customer messages, statuses, a message "sent" to the visitor by the
//! dispatcher, sessions the pipelines open or end, agent typing) and the console feed (agents'
//! actions: accept, transfer, end), which carries other nodes' changes as well. An event is read
//! from the store once and handed to every open stream of its visitor through a small bounded
//! channel; a stream that falls behind is marked lagged and replays from the database.
//!
//! Memory per connection: one registration (an `mpsc` sender of [`STREAM_BUFFER`] slots and two
//! words) in the hub's map, plus whatever the HTTP layer keeps for the response.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use parley_core::model::{EntryStatus, OwnerKind, SessionStatus};
use parley_store::{ConsoleEventKind, Entry, Session, Store};
use tokio::sync::{broadcast, mpsc};
use uuid::Uuid;

use crate::agents::AgentDesk;
use crate::events::{DomainEvent, EventBus};
use crate::feed::Feed;

/// Events a widget's stream holds before it counts as lagged.
pub const STREAM_BUFFER: usize = 32;

/// What a widget is told.
#[derive(Debug, Clone)]
pub enum WidgetEvent {
    /// A message of the conversation, new or changed (the widget replaces one it has by id).
    Entry {
        entry: Box<Entry>,
        author_name: Option<String>,
    },
    /// A delivery status of a message the widget has (read, failed).
    Status { entry_id: Uuid, status: EntryStatus },
    Typing {
        typing: bool,
        author_name: Option<String>,
    },
    Session {
        session_id: Uuid,
        status: SessionStatus,
        agent_name: Option<String>,
    },
    /// The estimated wait of the queue the session waits in (RT-10).
    Wait { minutes: Option<u32> },
}

struct Subscriber {
    id: u64,
    /// The visitor token the stream was opened with (`Uuid::nil()` when not told).
    visitor: Uuid,
    tx: mpsc::Sender<Arc<WidgetEvent>>,
    lagged: Arc<AtomicBool>,
}

#[derive(Default)]
struct Visitor {
    subs: Vec<Subscriber>,
    sessions: Vec<Uuid>,
}

#[derive(Default)]
struct Registry {
    by_user: HashMap<Uuid, Visitor>,
    session_user: HashMap<Uuid, Uuid>,
    /// The last session state told, so the two sources do not tell it twice.
    told: HashMap<Uuid, (SessionStatus, Option<Uuid>)>,
    /// Entries this node's bus already told, so the feed's copy of the same event (which exists
    /// for other nodes' sake) costs no second read.
    told_entries: HashMap<Uuid, EntryStatus>,
}

/// Entries remembered at most in `told_entries` before it starts afresh.
const TOLD_ENTRIES_MAX: usize = 100_000;

impl Registry {
    fn user_of(&self, session_id: Uuid) -> Option<Uuid> {
        self.session_user.get(&session_id).copied()
    }

    fn add_session(&mut self, user: Uuid, session_id: Uuid) {
        if let Some(v) = self.by_user.get_mut(&user) {
            if !v.sessions.contains(&session_id) {
                v.sessions.push(session_id);
            }
            self.session_user.insert(session_id, user);
        }
    }

    fn send(&self, user: Uuid, event: &Arc<WidgetEvent>) {
        if let Some(v) = self.by_user.get(&user) {
            for s in &v.subs {
                if s.tx.try_send(event.clone()).is_err() {
                    s.lagged.store(true, Ordering::Relaxed);
                }
            }
        }
    }
}

struct Inner {
    store: Store,
    events: EventBus,
    feed: Feed,
    desk: AgentDesk,
    registry: Mutex<Registry>,
    started: AtomicBool,
    next_id: AtomicU64,
    names: Mutex<HashMap<Uuid, String>>,
}

/// The hub of one node. Cheap to clone.
#[derive(Clone)]
pub struct WebHub {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for WebHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebHub").finish_non_exhaustive()
    }
}

/// One widget's stream of events; dropping it unregisters the stream.
pub struct WebStream {
    pub rx: mpsc::Receiver<Arc<WidgetEvent>>,
    lagged: Arc<AtomicBool>,
    id: u64,
    user: Uuid,
    inner: Arc<Inner>,
}

impl std::fmt::Debug for WebStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebStream")
            .field("user", &self.user)
            .finish()
    }
}

impl WebStream {
    /// Whether events were dropped since the last call because the stream fell behind.
    pub fn take_lagged(&self) -> bool {
        self.lagged.swap(false, Ordering::Relaxed)
    }

    /// Follows a session opened after the stream (a new session of the same visitor).
    pub fn follow(&self, session_id: Uuid) {
        if let Ok(mut r) = self.inner.registry.lock() {
            r.add_session(self.user, session_id);
        }
    }
}

impl Drop for WebStream {
    fn drop(&mut self) {
        if let Ok(mut r) = self.inner.registry.lock() {
            let empty = match r.by_user.get_mut(&self.user) {
                Some(v) => {
                    v.subs.retain(|s| s.id != self.id);
                    v.subs.is_empty()
                }
                None => false,
            };
            if empty && let Some(v) = r.by_user.remove(&self.user) {
                for s in v.sessions {
                    r.session_user.remove(&s);
                    r.told.remove(&s);
                }
            }
        }
    }
}

impl WebHub {
    pub fn new(store: Store, events: EventBus, feed: Feed, desk: AgentDesk) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                events,
                feed,
                desk,
                registry: Mutex::new(Registry::default()),
                started: AtomicBool::new(false),
                next_id: AtomicU64::new(0),
                names: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Open streams on this node (for metrics and the benchmark).
    pub fn connections(&self) -> usize {
        self.inner
            .registry
            .lock()
            .map(|r| r.by_user.values().map(|v| v.subs.len()).sum())
            .unwrap_or(0)
    }

    /// A stream of the events of visitor `user`, following `sessions` (their sessions in the
    /// history window) and any session opened for them later. Register before reading a replay,
    /// so nothing falls between the two. Call within a Tokio runtime: the hub's listeners start
    /// with the first stream.
    pub fn subscribe(&self, user: Uuid, sessions: &[Uuid]) -> WebStream {
        self.subscribe_as(user, Uuid::nil(), sessions)
    }

    /// [`WebHub::subscribe`] for one visitor token, so [`WebHub::disconnect_visitor`] can end
    /// its streams (a logout) while the same user's other devices stay.
    pub fn subscribe_as(&self, user: Uuid, visitor: Uuid, sessions: &[Uuid]) -> WebStream {
        self.start();
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let lagged = Arc::new(AtomicBool::new(false));
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut r) = self.inner.registry.lock() {
            r.by_user.entry(user).or_default().subs.push(Subscriber {
                id,
                visitor,
                tx,
                lagged: lagged.clone(),
            });
            for s in sessions {
                r.add_session(user, *s);
            }
        }
        WebStream {
            rx,
            lagged,
            id,
            user,
            inner: self.inner.clone(),
        }
    }

    /// Ends this node's streams of a visitor token (their receivers see the end).
    pub fn disconnect_visitor(&self, visitor: Uuid) {
        if let Ok(mut r) = self.inner.registry.lock() {
            for v in r.by_user.values_mut() {
                v.subs.retain(|s| s.visitor != visitor);
            }
        }
    }

    fn start(&self) {
        if self.inner.started.swap(true, Ordering::SeqCst) {
            return;
        }
        let bus = self.inner.events.subscribe();
        let feed = self.inner.feed.stream(Uuid::nil(), true);
        let inner = self.inner.clone();
        tokio::spawn(async move { inner.listen_bus(bus).await });
        let inner = self.inner.clone();
        tokio::spawn(async move { inner.listen_feed(feed).await });
    }
}

impl Inner {
    fn known(&self, session_id: Uuid) -> Option<Uuid> {
        self.registry.lock().ok()?.user_of(session_id)
    }

    fn any_streams(&self) -> bool {
        self.registry
            .lock()
            .map(|r| !r.by_user.is_empty())
            .unwrap_or(false)
    }

    fn send(&self, user: Uuid, event: WidgetEvent) {
        if let Ok(r) = self.registry.lock() {
            r.send(user, &Arc::new(event));
        }
    }

    /// A lag of the hub itself: every stream replays from the database.
    fn lag_all(&self) {
        if let Ok(r) = self.registry.lock() {
            for v in r.by_user.values() {
                for s in &v.subs {
                    s.lagged.store(true, Ordering::Relaxed);
                }
            }
        }
    }

    async fn listen_bus(self: Arc<Self>, mut rx: broadcast::Receiver<Arc<DomainEvent>>) {
        loop {
            match rx.recv().await {
                Ok(e) => {
                    if let Err(err) = self.on_domain_event(&e).await {
                        tracing::warn!(error = %err, "web chat hub: event not handed on");
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(n, "web chat hub fell behind the event bus; streams replay");
                    self.lag_all();
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    async fn listen_feed(self: Arc<Self>, mut feed: crate::feed::StreamHandle) {
        while let Some(e) = feed.rx.recv().await {
            if feed.take_lagged() {
                self.lag_all();
            }
            let session = e.kind == ConsoleEventKind::Session.as_str();
            let entry = e.kind == ConsoleEventKind::Entry.as_str();
            if !session && !entry {
                continue;
            }
            let Ok(data) = serde_json::from_str::<serde_json::Value>(&e.data) else {
                continue;
            };
            let id = |key: &str| data.get(key)?.as_str()?.parse::<Uuid>().ok();
            let Some(session_id) = id("session_id") else {
                continue;
            };
            let Some(user) = self.known(session_id) else {
                continue;
            };
            let done = if session {
                self.tell_session(user, session_id).await
            } else {
                // Another node's message (its dispatcher holds the web channel's lease, or an
                // agent's action there): read once here, unless this node's bus told it.
                match id("entry_id") {
                    Some(entry_id) if !self.told_entry(entry_id) => {
                        self.tell_entry(user, entry_id).await
                    }
                    _ => Ok(()),
                }
            };
            if let Err(err) = done {
                tracing::warn!(error = %err, "web chat hub: console event not handed on");
            }
        }
    }

    async fn on_domain_event(&self, e: &DomainEvent) -> Result<(), parley_store::StoreError> {
        match *e {
            DomainEvent::MessageReceived {
                session_id,
                entry_id,
            }
            | DomainEvent::MessageStatusChanged {
                session_id,
                entry_id,
            } => {
                let Some(user) = self.known(session_id) else {
                    return Ok(());
                };
                self.tell_entry(user, entry_id).await?;
            }
            DomainEvent::SessionOpened { session_id } => {
                if !self.any_streams() {
                    return Ok(());
                }
                let session = self.store.session(session_id).await?;
                let user = session.messaging_user_id;
                let followed = match self.registry.lock() {
                    Ok(mut r) if r.by_user.contains_key(&user) => {
                        r.add_session(user, session_id);
                        true
                    }
                    _ => false,
                };
                if followed {
                    self.tell(user, &session).await?;
                }
            }
            DomainEvent::SessionChanged { session_id } => {
                if let Some(user) = self.known(session_id) {
                    self.tell_session(user, session_id).await?;
                }
            }
            DomainEvent::AgentTyping {
                session_id,
                agent_id,
                typing,
            } => {
                if let Some(user) = self.known(session_id) {
                    let author_name = self.agent_name(agent_id).await;
                    self.send(
                        user,
                        WidgetEvent::Typing {
                            typing,
                            author_name,
                        },
                    );
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn told_entry(&self, entry_id: Uuid) -> bool {
        self.registry
            .lock()
            .map(|r| r.told_entries.contains_key(&entry_id))
            .unwrap_or(false)
    }

    /// A message as it is now: the whole entry when new to the widget (or changed in content),
    /// its status when only that moved on.
    async fn tell_entry(&self, user: Uuid, entry_id: Uuid) -> Result<(), parley_store::StoreError> {
        let entry = self.store.entry(entry_id).await?;
        if entry.status != EntryStatus::Queued
            && let Ok(mut r) = self.registry.lock()
        {
            if r.told_entries.len() >= TOLD_ENTRIES_MAX {
                r.told_entries.clear();
            }
            r.told_entries.insert(entry_id, entry.status);
        }
        let event = match entry.status {
            // Queued: not the visitor's yet; the dispatcher's delivery tells it.
            EntryStatus::Queued => return Ok(()),
            EntryStatus::Read | EntryStatus::Failed | EntryStatus::Undelivered => {
                WidgetEvent::Status {
                    entry_id,
                    status: entry.status,
                }
            }
            _ => {
                let author_name = self.author_name(&entry).await;
                WidgetEvent::Entry {
                    entry: Box::new(entry),
                    author_name,
                }
            }
        };
        self.send(user, event);
        Ok(())
    }

    async fn tell_session(
        &self,
        user: Uuid,
        session_id: Uuid,
    ) -> Result<(), parley_store::StoreError> {
        let session = self.store.session(session_id).await?;
        self.tell(user, &session).await
    }

    /// The session's state and, while it waits in a queue, the estimated wait; each told once
    /// per change.
    async fn tell(&self, user: Uuid, s: &Session) -> Result<(), parley_store::StoreError> {
        let state = (s.status, s.owner_id);
        let changed = match self.registry.lock() {
            Ok(mut r) => r.told.insert(s.id, state) != Some(state),
            Err(_) => false,
        };
        if !changed {
            return Ok(());
        }
        let agent_name = match (s.owner_kind, s.owner_id) {
            (Some(OwnerKind::Agent), Some(id)) => self.agent_name(id).await,
            _ => None,
        };
        self.send(
            user,
            WidgetEvent::Session {
                session_id: s.id,
                status: s.status,
                agent_name,
            },
        );
        if s.status == SessionStatus::Waiting
            && let Some(queue) = s.queue_id
        {
            let minutes = self.desk.estimated_wait(queue).await.unwrap_or(None);
            self.send(user, WidgetEvent::Wait { minutes });
        }
        Ok(())
    }

    async fn author_name(&self, entry: &Entry) -> Option<String> {
        match (entry.actor, entry.actor_id) {
            (parley_core::model::Actor::Agent, Some(id)) => self.agent_name(id).await,
            _ => None,
        }
    }

    /// An agent's display name, read once per node (a rename shows after a restart).
    async fn agent_name(&self, id: Uuid) -> Option<String> {
        if let Some(n) = self.names.lock().ok()?.get(&id) {
            return Some(n.clone());
        }
        let agent = self.store.agent(id).await.ok()?;
        if let Ok(mut names) = self.names.lock() {
            names.insert(id, agent.name.clone());
        }
        Some(agent.name)
    }
}
