//! Sensitive-data rules (PRIV-03) as the pipelines use them: each node keeps the compiled rules
//! in memory and reads them again at most every [`REFRESH`], so a change made on one node is in
//! force on every node within that bound (PRIV-03 asks for 60 seconds); the node that made the
//! change drops its copy at once. The age is read from the engine's clock, so tests move time
//! instead of sleeping.
//!
//! Where the rules run (each before anything is stored or shown):
//! - customer text, at the front door of the inbound pipeline ([`crate::ingest`]), so the queued
//!   job, a dead letter made of it and the entry all hold the masked text;
//! - everything composed for a session ([`crate::compose`]): agents' replies and quick texts
//!   (author `agent`, or `supervisor` when the agent's role is supervisor or admin), flows and
//!   bots, notifications and outreach (author `bot`);
//! - automatic replies (consent and help answers, keyword and after-hours replies, greetings and
//!   end messages): the business's own texts, author `bot`.
//!
//! A message a rule changed gets one transcript event beside it ([`blocked_entry`]) whose body
//! names only the author, never what was removed.

use std::sync::Arc;
use std::time::Duration;

use parley_core::model::{Actor, AgentRole, Direction, EntryStatus};
use parley_core::privacy::rules::{self, CompiledRule, Masked, RuleAuthor};
use parley_core::{Clock, Timestamp, new_id};
use parley_store::{Entry, Store, StoreError};
use tokio::sync::RwLock;
use uuid::Uuid;

/// How long a node uses its copy of the rules before reading them again.
pub const REFRESH: Duration = Duration::from_secs(30);

type Snapshot = Arc<Vec<CompiledRule>>;

/// The node's copy of the rules; clones share it.
#[derive(Clone)]
pub struct SensitiveRules {
    held: Arc<RwLock<Option<(Timestamp, Snapshot)>>>,
    clock: Arc<dyn Clock>,
    refresh: Duration,
}

impl std::fmt::Debug for SensitiveRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SensitiveRules")
            .field("refresh", &self.refresh)
            .finish_non_exhaustive()
    }
}

impl SensitiveRules {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            held: Arc::default(),
            clock,
            refresh: REFRESH,
        }
    }

    /// The rules in force, read again when this node's copy is older than [`REFRESH`].
    pub async fn current(&self, store: &Store) -> Result<Snapshot, StoreError> {
        let now = self.clock.now();
        if let Some((at, rules)) = self.held.read().await.as_ref()
            && now.since(*at) < self.refresh
            && now >= *at
        {
            return Ok(rules.clone());
        }
        let stored = store.sensitive_data_rules().await?;
        let compiled: Vec<CompiledRule> = stored
            .iter()
            .filter_map(|r| match r.fields.compile(r.id) {
                Ok(c) => Some(c),
                Err(e) => {
                    // Saved rules were checked by the service; one that no longer compiles (an
                    // older, laxer check) is skipped rather than stopping every message.
                    tracing::warn!(rule_id = %r.id, error = %e, "a sensitive-data rule is not valid; skipped");
                    None
                }
            })
            .collect();
        let snapshot = Arc::new(compiled);
        *self.held.write().await = Some((now, snapshot.clone()));
        Ok(snapshot)
    }

    /// Forgets this node's copy: the next message reads the rules again.
    pub async fn invalidate(&self) {
        *self.held.write().await = None;
    }

    /// `text` by `author` on `channel_id`, masked.
    pub async fn mask(
        &self,
        store: &Store,
        channel_id: Uuid,
        author: RuleAuthor,
        text: &str,
    ) -> Result<Masked, StoreError> {
        let rules = self.current(store).await?;
        Ok(mask_with(&rules, channel_id, author, text))
    }
}

/// Masks with a snapshot the caller already holds (the batch paths).
pub fn mask_with(
    rules: &[CompiledRule],
    channel_id: Uuid,
    author: RuleAuthor,
    text: &str,
) -> Masked {
    if rules.is_empty() || text.is_empty() {
        return Masked {
            text: text.to_owned(),
            ..Masked::default()
        };
    }
    let masked = rules::apply(rules, channel_id, author, text);
    if !masked.blocked.is_empty() {
        metrics::counter!("parley_sensitive_data_blocked_total", "author" => author.as_str())
            .increment(1);
    }
    masked
}

/// Whose text a message is, for the rules: an agent by their role.
pub fn author_of(actor: Actor, role: Option<AgentRole>) -> RuleAuthor {
    match actor {
        Actor::Customer => RuleAuthor::Customer,
        Actor::Agent => match role {
            Some(AgentRole::Supervisor | AgentRole::Admin) => RuleAuthor::Supervisor,
            _ => RuleAuthor::Agent,
        },
        Actor::Bot | Actor::System => RuleAuthor::Bot,
    }
}

/// The transcript's note that a rule blocked something in `author`'s text. The console shows it
/// through the catalogue (`sensitive_data.blocked.<author>`); it carries nothing of the text.
pub fn blocked_note(author: RuleAuthor) -> String {
    format!("sensitive data blocked ({author})")
}

/// The transcript event entry of a block in session `session_id`. Made before the entry it is
/// about, so it sorts just before it (entries are in id order) and the message stays the
/// session's last.
pub fn blocked_entry(session_id: Uuid, author: RuleAuthor, now: Timestamp) -> Entry {
    blocked_entry_with(new_id(), session_id, author, now)
}

/// [`blocked_entry`] for an entry whose id was made first (the customer's message): the note
/// takes the id just below it, so it still sorts just before the message.
pub fn blocked_entry_before(entry: &Entry, author: RuleAuthor) -> Entry {
    let id = Uuid::from_u128(entry.id.as_u128().wrapping_sub(1));
    blocked_entry_with(id, entry.session_id, author, entry.created_at)
}

fn blocked_entry_with(id: Uuid, session_id: Uuid, author: RuleAuthor, now: Timestamp) -> Entry {
    Entry {
        id,
        session_id,
        direction: Direction::Event,
        actor: Actor::System,
        actor_id: None,
        body: blocked_note(author),
        media: Vec::new(),
        provider_message_id: None,
        // Recorded, never sent.
        status: EntryStatus::Received,
        error_code: None,
        provider_error: None,
        created_at: now,
        updated_at: now,
        template: None,
        component: None,
    }
}
