//! Agents at work: console sign-in sessions, presence and connection, the routing work table
//! (where a waiting session should go, and who it is offered to), read markers, and the console's
//! event log. Agent actions and routing write through [`Store::commit_console`]: one transaction
//! that checks the sessions it changes have not moved since they were read, so two agents (or two
//! nodes) racing for the same session cannot both win.

use parley_core::Timestamp;
use parley_core::model::{Actor, Presence, SessionStatus};
use sqlx::Row;
use uuid::Uuid;

use crate::config::placeholders;
use crate::inbound::InboundWrite;
use crate::records::{Agent, Session};
use crate::{Result, Store, StoreError, on_backend};

/// A signed-in console session, by the SHA-256 of its cookie.
#[derive(Debug, Clone)]
pub struct ConsoleLogin {
    pub agent: Agent,
    pub csrf_token: String,
    pub expires_at: Timestamp,
}

/// A waiting session's routing state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingWork {
    pub session_id: Uuid,
    /// Where it goes, as JSON of the engine's target type (the store does not read it).
    pub target: String,
    pub priority: i64,
    pub waiting_since: Timestamp,
    pub offered_agent_id: Option<Uuid>,
    pub offered_at: Option<Timestamp>,
    pub offer_expires_at: Option<Timestamp>,
    pub declined_by: Vec<Uuid>,
    pub transfer_from: Option<Uuid>,
}

/// A change to a session that only applies if the row is still as it was read.
#[derive(Debug, Clone)]
pub struct GuardedSession {
    pub expected_status: SessionStatus,
    pub expected_updated_at: Timestamp,
    pub row: Session,
}

/// An offer to make, if the session is still unoffered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfferWrite {
    pub session_id: Uuid,
    pub agent_id: Uuid,
    pub expires_at: Timestamp,
}

/// What a console event tells the console. Its name is stored in `console_events.kind` and is
/// the SSE event name the console's pages listen for, so the names never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConsoleEventKind {
    /// A message of a session in or out (`data`: session, entry, direction).
    Entry,
    /// A session opened, moved or changed owner.
    Session,
    /// A session offered to the agent.
    Offer,
    /// An offer taken back (accepted elsewhere, timed out, the session ended).
    OfferWithdrawn,
    /// An agent's presence changed.
    Presence,
    /// A queue's waiting sessions changed.
    Queue,
    /// A web visitor started or stopped typing (`data`: session, typing).
    Typing,
    /// An internal note or whisper was added (`data`: session, whisper_to). Its agent is the one
    /// whispered to, or the session's owner for a plain note; supervisors' streams see all.
    Note,
}

impl ConsoleEventKind {
    pub const ALL: [Self; 8] = [
        Self::Entry,
        Self::Session,
        Self::Offer,
        Self::OfferWithdrawn,
        Self::Presence,
        Self::Queue,
        Self::Typing,
        Self::Note,
    ];

    /// The stored name, and the SSE event name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Entry => "entry",
            Self::Session => "session",
            Self::Offer => "offer",
            Self::OfferWithdrawn => "offer_withdrawn",
            Self::Presence => "presence",
            Self::Queue => "queue",
            Self::Typing => "typing",
            Self::Note => "note",
        }
    }

    /// The kind a stored name stands for (`None` for a name this build does not write).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl std::fmt::Display for ConsoleEventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An event for the console's streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConsoleEvent {
    /// The agent it concerns; `None` for events only supervisors see.
    pub agent_id: Option<Uuid>,
    pub kind: ConsoleEventKind,
    pub data: String,
}

/// A stored console event. Its `kind` is the stored name, kept as text on the way out: a row
/// written by a newer node may carry a kind this build does not write, and the console (not this
/// node) is the one to make sense of it (see [`ConsoleEventKind`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleEvent {
    pub id: i64,
    pub agent_id: Option<Uuid>,
    pub kind: String,
    pub data: String,
    pub created_at: Timestamp,
}

/// An accepted session, for the estimated wait time (RT-10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcceptWrite {
    pub queue_id: Uuid,
    pub waited_ms: i64,
}

/// Everything one agent action or routing round changes, written in one transaction.
#[derive(Debug, Clone, Default)]
pub struct ConsoleChange {
    /// Checked first: if any of these rows moved since it was read, nothing is written and the
    /// result is a `Conflict`.
    pub sessions: Vec<GuardedSession>,
    pub work_upserts: Vec<RoutingWork>,
    pub work_deletes: Vec<Uuid>,
    pub accepts: Vec<AcceptWrite>,
    /// Read markers: how far agents have read sessions.
    pub reads: Vec<ReadMarker>,
    /// Entries, jobs, consent changes and the like, as the inbound pipeline writes them.
    pub effects: Option<InboundWrite>,
    pub events: Vec<NewConsoleEvent>,
    /// Conversations closed (SE-20); one already closed makes the whole change a `Conflict`.
    pub closures: Vec<crate::ConversationClosure>,
}

/// An agent has read a session up to an entry. Named fields rather than a tuple: the three ids
/// are all `Uuid`s and a swapped pair would compile and write a wrong marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadMarker {
    pub session_id: Uuid,
    pub agent_id: Uuid,
    /// The last entry the agent has seen.
    pub entry_id: Uuid,
}

/// How many sessions of one shape an agent holds; the engine applies the capacity rule to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentLoadRow {
    pub agent_id: Uuid,
    pub status: SessionStatus,
    pub initiated_by: Actor,
    pub customer_replied: bool,
    pub sessions: i64,
}

/// A waiting session as the router sees it.
#[derive(Debug, Clone)]
pub struct WaitingSession {
    pub session: Session,
    pub work: Option<RoutingWork>,
}

impl Store {
    pub async fn create_console_login(
        &self,
        token_hash: &str,
        agent_id: Uuid,
        csrf_token: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<()> {
        on_backend!(self, write c => sqlx::query(
            "INSERT INTO console_sessions (token_hash, agent_id, csrf_token, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)")
            .bind(token_hash).bind(agent_id).bind(csrf_token).bind(now.millis()).bind(expires_at.millis())
            .execute(c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The live console session with this cookie hash, if any.
    pub async fn console_login(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<ConsoleLogin>> {
        let row = on_backend!(self, read c => sqlx::query(
            "SELECT agent_id, csrf_token, expires_at FROM console_sessions \
             WHERE token_hash = $1 AND expires_at > $2")
            .bind(token_hash).bind(now.millis()).fetch_optional(c).await
            .and_then(|r| r.map(|r| Ok::<_, sqlx::Error>((
                r.try_get::<Uuid, _>("agent_id")?,
                r.try_get::<String, _>("csrf_token")?,
                r.try_get::<i64, _>("expires_at")?,
            ))).transpose()))?;
        let Some((agent_id, csrf_token, expires_at)) = row else {
            return Ok(None);
        };
        match self.agent(agent_id).await {
            Ok(agent) => Ok(Some(ConsoleLogin {
                agent,
                csrf_token,
                expires_at: Timestamp(expires_at),
            })),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn delete_console_login(&self, token_hash: &str) -> Result<()> {
        on_backend!(self, write c => sqlx::query("DELETE FROM console_sessions WHERE token_hash = $1")
            .bind(token_hash).execute(c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Sets an agent's presence; `connected_until` is moved too when given (an agent who goes
    /// available is online for the grace period until their console's stream renews it).
    pub async fn set_agent_presence(
        &self,
        agent_id: Uuid,
        presence: Presence,
        connected_until: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<Agent> {
        // The time spent in the presence left is added to the reports' rollup with the change
        // (issue 15), split at UTC midnight.
        let n = on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            let prior: Option<(String, i64)> = sqlx::query_as(
                "SELECT presence, presence_since FROM agents WHERE id = $1")
                .bind(agent_id).fetch_optional(&mut *tx).await?;
            let n = sqlx::query(
                "UPDATE agents SET presence = $2, presence_since = $3, updated_at = $3, \
                 connected_until = COALESCE($4, connected_until) WHERE id = $1")
                .bind(agent_id).bind(presence.as_str()).bind(now.millis())
                .bind(connected_until.map(Timestamp::millis))
                .execute(&mut *tx).await?.rows_affected();
            if let Some((was, since)) = prior {
                for (day, ms) in crate::reports::presence_slices(since, now.millis()) {
                    sqlx::query(crate::reports::UPSERT_PRESENCE).bind(day).bind(agent_id)
                        .bind(&was).bind(ms).execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
            Ok::<u64, StoreError>(n)
        })?;
        if n == 0 {
            return Err(StoreError::not_found("agent"));
        }
        self.agent(agent_id).await
    }

    /// Renews the connection mark of every agent whose console holds a stream on this node.
    pub async fn touch_agents_connected(&self, ids: &[Uuid], until: Timestamp) -> Result<()> {
        for chunk in ids.chunks(256) {
            let sql = format!(
                "UPDATE agents SET connected_until = $1 WHERE id IN ({})",
                placeholders(2, chunk.len())
            );
            on_backend!(self, write c => {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.clone())).bind(until.millis());
                for id in chunk {
                    q = q.bind(id);
                }
                q.execute(c).await.map(|r| r.rows_affected())
            })?;
        }
        Ok(())
    }

    /// Until when an agent's console counts as connected.
    pub async fn agent_connected_until(&self, agent_id: Uuid) -> Result<Option<Timestamp>> {
        let v: Option<Option<i64>> = on_backend!(self, read c => sqlx::query_scalar(
            "SELECT connected_until FROM agents WHERE id = $1")
            .bind(agent_id).fetch_optional(c).await)?;
        Ok(v.flatten().map(Timestamp))
    }

    /// Every agent with their memberships, for routing and the supervisor view.
    pub async fn agents_with_memberships(
        &self,
    ) -> Result<Vec<(Agent, Option<Timestamp>, Option<Timestamp>)>> {
        // One read of the agents' rows: presence and connection must come from the same moment,
        // or an agent going available between two reads would look gone away.
        let rows: Vec<AgentWithMarks> = on_backend!(self, read c => sqlx::query_as::<_, AgentWithMarks>(
            "SELECT * FROM agents ORDER BY id").fetch_all(c).await)?;
        let mut extra = std::collections::HashMap::with_capacity(rows.len());
        let mut agents = Vec::with_capacity(rows.len());
        for r in rows {
            extra.insert(
                r.agent.id,
                (
                    r.last_assigned_at.map(Timestamp),
                    r.connected_until.map(Timestamp),
                ),
            );
            agents.push(r.agent);
        }
        let members: Vec<(Uuid, Uuid)> = on_backend!(self, read c => sqlx::query_as(
            "SELECT agent_id, queue_id FROM queue_members ORDER BY queue_id").fetch_all(c).await)?;
        let skills: Vec<(Uuid, Uuid, i64)> = on_backend!(self, read c => sqlx::query_as(
            "SELECT agent_id, skill_id, level FROM agent_skills ORDER BY skill_id").fetch_all(c).await)?;
        let index: std::collections::HashMap<Uuid, usize> =
            agents.iter().enumerate().map(|(i, a)| (a.id, i)).collect();
        for (agent_id, queue_id) in members {
            if let Some(a) = index.get(&agent_id).and_then(|&i| agents.get_mut(i)) {
                a.queue_ids.push(queue_id);
            }
        }
        for (agent_id, skill_id, level) in skills {
            if let Some(a) = index.get(&agent_id).and_then(|&i| agents.get_mut(i)) {
                a.skills.push(crate::AgentSkill { skill_id, level });
            }
        }
        Ok(agents
            .into_iter()
            .map(|a| {
                let (last, conn) = extra.get(&a.id).copied().unwrap_or((None, None));
                (a, last, conn)
            })
            .collect())
    }

    /// Open sessions owned by agents, grouped by what the capacity rule looks at.
    pub async fn agent_loads(&self) -> Result<Vec<AgentLoadRow>> {
        let rows: Vec<(Uuid, String, String, i64, i64)> = on_backend!(self, read c => sqlx::query_as(
            "SELECT owner_id, status, initiated_by, \
             CAST(CASE WHEN customer_messages > 0 THEN 1 ELSE 0 END AS BIGINT) AS replied, COUNT(*) AS n \
             FROM sessions WHERE owner_kind = 'agent' AND status IN ('new', 'active', 'inactive', 'waiting') \
             GROUP BY owner_id, status, initiated_by, CASE WHEN customer_messages > 0 THEN 1 ELSE 0 END")
            .fetch_all(c).await)?;
        rows.into_iter()
            .map(|(agent_id, status, initiated, replied, n)| {
                Ok(AgentLoadRow {
                    agent_id,
                    status: status
                        .parse()
                        .map_err(|e| StoreError::Corrupt(format!("{e}")))?,
                    initiated_by: initiated
                        .parse()
                        .map_err(|e| StoreError::Corrupt(format!("{e}")))?,
                    customer_replied: replied != 0,
                    sessions: n,
                })
            })
            .collect()
    }

    /// Waiting sessions, oldest first, with their routing row if they have one.
    pub async fn waiting_sessions(&self, limit: i64) -> Result<Vec<WaitingSession>> {
        let sessions = on_backend!(self, read c => sqlx::query_as::<_, Session>(
            "SELECT * FROM sessions WHERE status = 'waiting' ORDER BY status_since, id LIMIT $1")
            .bind(limit).fetch_all(c).await)?;
        self.with_work(sessions).await
    }

    /// Waiting sessions not offered to anyone right now, oldest first: what a routing round plans.
    pub async fn unoffered_sessions(&self, limit: i64) -> Result<Vec<WaitingSession>> {
        let sessions = on_backend!(self, read c => sqlx::query_as::<_, Session>(
            "SELECT s.* FROM sessions s LEFT JOIN routing_work w ON w.session_id = s.id \
             WHERE s.status = 'waiting' AND w.offered_agent_id IS NULL \
             ORDER BY s.status_since, s.id LIMIT $1")
            .bind(limit).fetch_all(c).await)?;
        self.with_work(sessions).await
    }

    async fn with_work(&self, sessions: Vec<Session>) -> Result<Vec<WaitingSession>> {
        let work = self
            .routing_work_of(&sessions.iter().map(|s| s.id).collect::<Vec<_>>())
            .await?;
        let mut by_id: std::collections::HashMap<Uuid, RoutingWork> =
            work.into_iter().map(|w| (w.session_id, w)).collect();
        Ok(sessions
            .into_iter()
            .map(|s| {
                let work = by_id.remove(&s.id);
                WaitingSession { session: s, work }
            })
            .collect())
    }

    /// Routing rows whose session no longer waits (accepted elsewhere, ended by an opt-out...).
    /// Written so that the few routing rows lead and each finds its session by key: as a join,
    /// SQLite chose to read every session not waiting (a million marketing sessions after a
    /// campaign) to find the routing rows among them, once a second on every node.
    pub async fn stale_routing_work(&self) -> Result<Vec<RoutingWork>> {
        on_backend!(self, read c => {
            let rows = sqlx::query(
            "SELECT w.* FROM routing_work w WHERE EXISTS (SELECT 1 FROM sessions s \
             WHERE s.id = w.session_id AND s.status <> 'waiting')")
            .fetch_all(c).await?;
            rows.iter().map(work_of_row).collect()
        })
    }

    /// Offers whose recorded deadline has passed (found by it, like a due job; the router still
    /// asks core whether each has run out).
    pub async fn offers_due(&self, now: Timestamp) -> Result<Vec<RoutingWork>> {
        on_backend!(self, read c => {
            let rows = sqlx::query(
                "SELECT * FROM routing_work WHERE offered_agent_id IS NOT NULL AND offer_expires_at <= $1")
                .bind(now.millis()).fetch_all(c).await?;
            rows.iter().map(work_of_row).collect()
        })
    }

    /// Sessions offered to an agent right now.
    pub async fn offers_of(&self, agent_id: Uuid) -> Result<Vec<RoutingWork>> {
        on_backend!(self, read c => {
            let rows = sqlx::query(
            "SELECT * FROM routing_work WHERE offered_agent_id = $1 ORDER BY waiting_since")
            .bind(agent_id).fetch_all(c).await?;
            rows.iter().map(work_of_row).collect()
        })
    }

    /// How many sessions are offered to each agent.
    pub async fn offer_counts(&self) -> Result<Vec<(Uuid, i64)>> {
        Ok(on_backend!(self, read c => sqlx::query_as(
            "SELECT offered_agent_id, COUNT(*) FROM routing_work WHERE offered_agent_id IS NOT NULL \
             GROUP BY offered_agent_id").fetch_all(c).await)?)
    }

    pub async fn routing_work_of(&self, session_ids: &[Uuid]) -> Result<Vec<RoutingWork>> {
        let mut out = Vec::with_capacity(session_ids.len());
        for chunk in session_ids.chunks(256) {
            let sql = format!(
                "SELECT * FROM routing_work WHERE session_id IN ({})",
                placeholders(1, chunk.len())
            );
            let rows: Vec<RoutingWork> = on_backend!(self, read c => {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.clone()));
                for id in chunk {
                    q = q.bind(id);
                }
                let rows = q.fetch_all(c).await?;
                rows.iter().map(work_of_row).collect::<Result<Vec<_>>>()
            })?;
            out.extend(rows);
        }
        Ok(out)
    }

    /// Offers sessions to agents; an offer only lands on a session that is still waiting and not
    /// offered to anyone (another router may have been faster). Answers the offers made.
    pub async fn make_offers(
        &self,
        offers: &[OfferWrite],
        events: impl Fn(&OfferWrite) -> NewConsoleEvent,
        now: Timestamp,
    ) -> Result<Vec<OfferWrite>> {
        if offers.is_empty() {
            return Ok(Vec::new());
        }
        let mut made = Vec::with_capacity(offers.len());
        on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            for o in offers {
                let n = sqlx::query(
                    "UPDATE routing_work SET offered_agent_id = $2, offered_at = $3, offer_expires_at = $4 \
                     WHERE session_id = $1 AND offered_agent_id IS NULL \
                     AND EXISTS (SELECT 1 FROM sessions s WHERE s.id = $1 AND s.status = 'waiting')")
                    .bind(o.session_id).bind(o.agent_id).bind(now.millis()).bind(o.expires_at.millis())
                    .execute(&mut *tx).await?.rows_affected();
                if n == 1 {
                    sqlx::query("UPDATE agents SET last_assigned_at = $2 WHERE id = $1")
                        .bind(o.agent_id).bind(now.millis()).execute(&mut *tx).await?;
                    let e = events(o);
                    insert_event!(tx, e, now);
                    made.push(*o);
                }
            }
            notify_console!(self, tx);
            tx.commit().await
        })?;
        Ok(made)
    }

    /// Writes an agent action or routing change in one transaction (see [`ConsoleChange`]).
    pub async fn commit_console(&self, change: &ConsoleChange, now: Timestamp) -> Result<()> {
        let at = now.millis();
        let search_key = self.search_key().await?;
        on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            for g in &change.sessions {
                let n = sqlx::query(
                    "UPDATE sessions SET status = $3, owner_kind = $4, owner_id = $5, queue_id = $6, \
                     case_id = $7, accepted_at = $8, ended_at = $9, last_agent_at = $10, \
                     agent_messages = $11, status_since = $12, end_reason = $13, ended_by = $14, \
                     updated_at = $15, context = $17 \
                     WHERE id = $1 AND status = $2 AND updated_at = $16")
                    .bind(g.row.id).bind(g.expected_status.as_str()).bind(g.row.status.as_str())
                    .bind(g.row.owner_kind.map(|k| k.as_str())).bind(g.row.owner_id).bind(g.row.queue_id)
                    .bind(g.row.case_id).bind(g.row.accepted_at.map(Timestamp::millis))
                    .bind(g.row.ended_at.map(Timestamp::millis)).bind(g.row.last_agent_at.map(Timestamp::millis))
                    .bind(g.row.agent_messages).bind(g.row.status_since.millis()).bind(&g.row.end_reason)
                    .bind(g.row.ended_by.map(|a| a.as_str())).bind(at.max(g.expected_updated_at.millis() + 1))
                    .bind(g.expected_updated_at.millis()).bind(g.row.context.as_str())
                    .execute(&mut *tx).await?.rows_affected();
                if n != 1 {
                    tx.rollback().await?;
                    return Err(StoreError::Conflict(format!(
                        "session {} changed meanwhile; read it again", g.row.id)));
                }
            }
            for x in &change.closures {
                let n = sqlx::query(crate::closures::INSERT_CLOSURE)
                    .bind(x.conversation_id).bind(x.channel_id).bind(x.messaging_user_id)
                    .bind(&x.reason).bind(x.closed_by_agent).bind(x.closed_by_token)
                    .bind(x.closed_at.millis())
                    .execute(&mut *tx).await?.rows_affected();
                if n != 1 {
                    tx.rollback().await?;
                    return Err(StoreError::Conflict(format!(
                        "conversation {} is already closed", x.conversation_id)));
                }
            }
            for id in &change.work_deletes {
                sqlx::query("DELETE FROM routing_work WHERE session_id = $1")
                    .bind(id).execute(&mut *tx).await?;
            }
            for w in &change.work_upserts {
                let declined = serde_json::to_string(&w.declined_by).unwrap_or_else(|_| "[]".to_owned());
                sqlx::query(
                    "INSERT INTO routing_work (session_id, target, priority, waiting_since, offered_agent_id, \
                     offered_at, offer_expires_at, declined_by, transfer_from, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                     ON CONFLICT (session_id) DO UPDATE SET target = excluded.target, \
                     priority = excluded.priority, waiting_since = excluded.waiting_since, \
                     offered_agent_id = excluded.offered_agent_id, offered_at = excluded.offered_at, \
                     offer_expires_at = excluded.offer_expires_at, declined_by = excluded.declined_by, \
                     transfer_from = excluded.transfer_from")
                    .bind(w.session_id).bind(&w.target).bind(w.priority).bind(w.waiting_since.millis())
                    .bind(w.offered_agent_id).bind(w.offered_at.map(Timestamp::millis))
                    .bind(w.offer_expires_at.map(Timestamp::millis)).bind(declined).bind(w.transfer_from)
                    .bind(at)
                    .execute(&mut *tx).await?;
            }
            for a in &change.accepts {
                sqlx::query("INSERT INTO routing_accepts (queue_id, accepted_at, waited_ms) VALUES ($1, $2, $3)")
                    .bind(a.queue_id).bind(at).bind(a.waited_ms).execute(&mut *tx).await?;
            }
            for ReadMarker {
                session_id,
                agent_id,
                entry_id,
            } in &change.reads
            {
                sqlx::query(
                    "INSERT INTO session_reads (session_id, agent_id, last_entry_id) VALUES ($1, $2, $3) \
                     ON CONFLICT (session_id, agent_id) DO UPDATE SET last_entry_id = excluded.last_entry_id")
                    .bind(session_id).bind(agent_id).bind(entry_id).execute(&mut *tx).await?;
            }
            if let Some(w) = &change.effects {
                crate::inbound::write_effects!(self, tx, w, at, &search_key);
            }
            for e in &change.events {
                insert_event!(tx, e, now);
            }
            if !change.events.is_empty() {
                notify_console!(self, tx);
            }
            tx.commit().await
        })?;
        if let Some(w) = &change.effects {
            self.index_new_people(std::slice::from_ref(w), now).await?;
        }
        Ok(())
    }

    /// Appends console events on their own (events of the pipelines, written after their commit).
    pub async fn append_console_events(
        &self,
        events: &[NewConsoleEvent],
        now: Timestamp,
    ) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            for e in events {
                insert_event!(tx, e, now);
            }
            notify_console!(self, tx);
            tx.commit().await
        })?;
        Ok(())
    }

    /// Console events after `after`, oldest first.
    pub async fn console_events_after(&self, after: i64, limit: i64) -> Result<Vec<ConsoleEvent>> {
        on_backend!(self, read c => {
            let rows = sqlx::query(
            "SELECT id, agent_id, kind, data, created_at FROM console_events WHERE id > $1 ORDER BY id LIMIT $2")
            .bind(after).bind(limit).fetch_all(c).await?;
            rows.iter().map(event_of_row).collect()
        })
    }

    /// Console events by id: ids a reader skipped because their transaction had not committed yet.
    pub async fn console_events_by_ids(&self, ids: &[i64]) -> Result<Vec<ConsoleEvent>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(128) {
            let sql = format!(
                "SELECT id, agent_id, kind, data, created_at FROM console_events WHERE id IN ({}) ORDER BY id",
                placeholders(1, chunk.len())
            );
            let rows: Vec<ConsoleEvent> = on_backend!(self, read c => {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.clone()));
                for id in chunk {
                    q = q.bind(id);
                }
                let rows = q.fetch_all(c).await?;
                rows.iter().map(event_of_row).collect::<Result<Vec<_>>>()
            })?;
            out.extend(rows);
        }
        Ok(out)
    }

    pub async fn last_console_event_id(&self) -> Result<i64> {
        let id: Option<i64> = on_backend!(self, read c => sqlx::query_scalar(
            "SELECT MAX(id) FROM console_events").fetch_one(c).await)?;
        Ok(id.unwrap_or(0))
    }

    /// Forgets console events older than `before` (a reconnecting console older than that
    /// reloads its state instead of replaying).
    pub async fn prune_console_events(&self, before: Timestamp) -> Result<u64> {
        Ok(
            on_backend!(self, write c => sqlx::query("DELETE FROM console_events WHERE created_at < $1")
            .bind(before.millis()).execute(c).await.map(|r| r.rows_affected()))?,
        )
    }

    /// Waits on PostgreSQL for console events written by any node. `None` on SQLite, where the
    /// only writer is this process and it wakes its readers itself.
    pub async fn console_listener(&self) -> Result<Option<ConsoleListener>> {
        match &self.backend {
            crate::Backend::Sqlite { .. } => Ok(None),
            crate::Backend::Postgres(pool) => {
                let mut l = sqlx::postgres::PgListener::connect_with(pool).await?;
                l.listen(CONSOLE_CHANNEL).await?;
                Ok(Some(ConsoleListener(l)))
            }
        }
    }

    /// Accepts of a queue since `since`: (accepted_at, waited_ms).
    pub async fn queue_accepts(&self, queue_id: Uuid, since: Timestamp) -> Result<Vec<(i64, i64)>> {
        Ok(on_backend!(self, read c => sqlx::query_as(
            "SELECT accepted_at, waited_ms FROM routing_accepts WHERE queue_id = $1 AND accepted_at >= $2 \
             ORDER BY accepted_at").bind(queue_id).bind(since.millis()).fetch_all(c).await)?)
    }

    /// Sessions an agent holds or is offered, newest activity first.
    pub async fn sessions_of_agent(&self, agent_id: Uuid) -> Result<Vec<Session>> {
        Ok(on_backend!(self, read c => sqlx::query_as::<_, Session>(
            "SELECT * FROM sessions WHERE owner_kind = 'agent' AND owner_id = $1 \
             AND status IN ('new', 'active', 'inactive', 'waiting') ORDER BY updated_at DESC")
            .bind(agent_id).fetch_all(c).await)?)
    }

    /// The sessions with these ids (those that exist).
    pub async fn sessions_by_ids(&self, ids: &[Uuid]) -> Result<Vec<Session>> {
        self.rows_by_ids("SELECT * FROM sessions WHERE id IN", ids)
            .await
    }

    /// The first customer message, the last message and the unread count of a session for an
    /// agent (inbound entries after their read marker).
    pub async fn session_summary(
        &self,
        session_id: Uuid,
        agent_id: Uuid,
    ) -> Result<SessionSummary> {
        // One statement, so the three parts come from one snapshot: read apart, a message
        // committed between them showed as unread while the last message was still the one
        // before it.
        let (first, last_body, last_at, unread): (
            Option<String>,
            Option<String>,
            Option<i64>,
            i64,
        ) = on_backend!(self, read c => sqlx::query_as(
            "SELECT \
               (SELECT body FROM entries WHERE session_id = $1 AND direction = 'inbound' \
                ORDER BY id LIMIT 1), \
               (SELECT body FROM entries WHERE session_id = $1 ORDER BY id DESC LIMIT 1), \
               (SELECT created_at FROM entries WHERE session_id = $1 ORDER BY id DESC LIMIT 1), \
               (SELECT COUNT(*) FROM entries e WHERE e.session_id = $1 AND e.direction = 'inbound' \
                AND e.id > COALESCE((SELECT r.last_entry_id FROM session_reads r \
                                     WHERE r.session_id = $1 AND r.agent_id = $2), $3))")
            .bind(session_id).bind(agent_id).bind(Uuid::nil()).fetch_one(c).await)?;
        Ok(SessionSummary {
            first_message: self.open_opt(first)?,
            last_message: self.open_opt(last_body)?,
            last_message_at: last_at.map(Timestamp),
            unread,
        })
    }

    /// The newest entry of a session, for read markers.
    pub async fn last_entry_id(&self, session_id: Uuid) -> Result<Option<Uuid>> {
        Ok(on_backend!(self, read c => sqlx::query_scalar(
            "SELECT id FROM entries WHERE session_id = $1 ORDER BY id DESC LIMIT 1")
            .bind(session_id).fetch_optional(c).await)?)
    }

    /// Every entry of every session of these messaging users, oldest first, with the session's
    /// channel and status: one person's whole history across channels (AG-10).
    pub async fn timeline(
        &self,
        messaging_user_ids: &[Uuid],
        limit: i64,
    ) -> Result<Vec<TimelineRow>> {
        let mut out = Vec::new();
        for chunk in messaging_user_ids.chunks(64) {
            let sql = format!(
                "SELECT e.*, s.channel_id AS t_channel_id, s.status AS t_session_status, \
                 c.name AS t_campaign \
                 FROM entries e JOIN sessions s ON s.id = e.session_id \
                 LEFT JOIN campaign_messages cm ON cm.entry_id = e.id \
                 LEFT JOIN campaigns c ON c.id = cm.campaign_id \
                 WHERE s.messaging_user_id IN ({}) ORDER BY e.id DESC LIMIT {limit}",
                placeholders(1, chunk.len())
            );
            let rows: Vec<TimelineRow> = on_backend!(self, read c => {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.clone()));
                for id in chunk {
                    q = q.bind(id);
                }
                let rows = q.fetch_all(c).await?;
                let mut v = Vec::with_capacity(rows.len());
                for r in &rows {
                    let entry = self.open_entry(<crate::Entry as sqlx::FromRow<_>>::from_row(r)?)?;
                    let status: String = r.try_get("t_session_status")?;
                    v.push(TimelineRow {
                        entry,
                        campaign: r.try_get("t_campaign")?,
                        channel_id: r.try_get("t_channel_id")?,
                        session_status: status
                            .parse()
                            .map_err(|e| StoreError::Corrupt(format!("{e}")))?,
                    });
                }
                Ok::<_, StoreError>(v)
            })?;
            out.extend(rows);
        }
        out.sort_by_key(|t| t.entry.id);
        let excess = out
            .len()
            .saturating_sub(usize::try_from(limit).unwrap_or(usize::MAX));
        out.drain(..excess);
        Ok(out)
    }

    /// Sessions linked to a case, oldest first.
    pub async fn sessions_of_case(&self, case_id: Uuid) -> Result<Vec<Session>> {
        Ok(on_backend!(self, read c => sqlx::query_as::<_, Session>(
            "SELECT * FROM sessions WHERE case_id = $1 ORDER BY id")
            .bind(case_id).fetch_all(c).await)?)
    }

    /// The messaging users linked to a contact.
    pub async fn messaging_users_of_contact(
        &self,
        contact_id: Uuid,
    ) -> Result<Vec<crate::MessagingUser>> {
        let rows = on_backend!(self, read c => sqlx::query_as::<_, crate::MessagingUser>(
            "SELECT * FROM messaging_users WHERE contact_id = $1 ORDER BY id")
            .bind(contact_id).fetch_all(c).await)?;
        self.open_users(rows)
    }
}

/// An agent's row with the routing marks the `Agent` record does not carry.
#[derive(sqlx::FromRow)]
struct AgentWithMarks {
    #[sqlx(flatten)]
    agent: Agent,
    last_assigned_at: Option<i64>,
    connected_until: Option<i64>,
}

/// The console's summary of one session for one agent.
#[derive(Debug, Clone, Default)]
pub struct SessionSummary {
    pub first_message: Option<String>,
    pub last_message: Option<String>,
    pub last_message_at: Option<Timestamp>,
    pub unread: i64,
}

#[derive(Debug, Clone)]
pub struct TimelineRow {
    pub entry: crate::Entry,
    /// The campaign that sent this message, by name, when a campaign did.
    pub campaign: Option<String>,
    pub channel_id: Uuid,
    pub session_status: SessionStatus,
}

/// A PostgreSQL connection listening for console events.
pub struct ConsoleListener(sqlx::postgres::PgListener);

impl std::fmt::Debug for ConsoleListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConsoleListener")
    }
}

impl ConsoleListener {
    /// Waits for the next notification (several may be folded into one wake-up by the caller).
    pub async fn recv(&mut self) -> Result<()> {
        self.0.recv().await?;
        Ok(())
    }
}

const CONSOLE_CHANNEL: &str = "parley_console";

/// Inserts one console event inside a transaction.
macro_rules! insert_event {
    ($tx:ident, $e:expr, $now:expr) => {{
        let e = &$e;
        sqlx::query(
            "INSERT INTO console_events (agent_id, kind, data, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(e.agent_id)
        .bind(e.kind.as_str())
        .bind(&e.data)
        .bind($now.millis())
        .execute(&mut *$tx)
        .await?;
    }};
}
use insert_event;

/// Wakes the console streams of every node on PostgreSQL (delivered at commit).
macro_rules! notify_console {
    ($store:expr, $tx:ident) => {
        if matches!($store.backend, crate::Backend::Postgres(_)) {
            sqlx::query("SELECT pg_notify('parley_console', '')")
                .execute(&mut *$tx)
                .await?;
        }
    };
}
use notify_console;

fn work_of_row<R: Row>(r: &R) -> Result<RoutingWork>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> Uuid: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let declined: String = r.try_get("declined_by").map_err(StoreError::from)?;
    Ok(RoutingWork {
        session_id: r.try_get("session_id").map_err(StoreError::from)?,
        target: r.try_get("target").map_err(StoreError::from)?,
        priority: r.try_get("priority").map_err(StoreError::from)?,
        waiting_since: Timestamp(r.try_get("waiting_since").map_err(StoreError::from)?),
        offered_agent_id: r.try_get("offered_agent_id").map_err(StoreError::from)?,
        offered_at: r
            .try_get::<Option<i64>, _>("offered_at")
            .map_err(StoreError::from)?
            .map(Timestamp),
        offer_expires_at: r
            .try_get::<Option<i64>, _>("offer_expires_at")
            .map_err(StoreError::from)?
            .map(Timestamp),
        declined_by: serde_json::from_str(&declined).unwrap_or_default(),
        transfer_from: r.try_get("transfer_from").map_err(StoreError::from)?,
    })
}

fn event_of_row<R: Row>(r: &R) -> Result<ConsoleEvent>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> Uuid: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(ConsoleEvent {
        id: r.try_get("id").map_err(StoreError::from)?,
        agent_id: r.try_get("agent_id").map_err(StoreError::from)?,
        kind: r.try_get("kind").map_err(StoreError::from)?,
        data: r.try_get("data").map_err(StoreError::from)?,
        created_at: Timestamp(r.try_get("created_at").map_err(StoreError::from)?),
    })
}
