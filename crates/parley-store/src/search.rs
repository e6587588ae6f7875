//! The blind search index (migration 0032): writing a message's and a person's words as keyed
//! hashes, finding the rows of a query, the agent's closed sessions, and the resumable reindex.
//!
//! Words come from `parley_core::search`. Each is hashed with HMAC-SHA256 under a key derived from
//! the deployment's search secret and cut to 16 bytes; the secret is made once, sealed with the
//! encryption key when one is configured (re-sealed by `parley keys encrypt|rotate`, so the hashes
//! never change with the key). A query hashes its words the same way: the database compares
//! hashes, never text, so encryption at rest changes nothing here.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use hmac::{Hmac, Mac};
use parley_core::model::Direction;
use parley_core::search::{name_terms, number_terms, text_terms};
use parley_core::{Timestamp, new_id};
use sha2::Sha256;
use sqlx::FromRow;
use uuid::Uuid;

use crate::records::Session;
use crate::{Result, Store, StoreError, on_backend};

/// Bytes of a stored term hash.
pub const TERM_HASH_LEN: usize = 16;

/// The key the term hashes are made with, shared by every clone of a [`Store`].
pub(crate) type SearchKeySlot = Arc<OnceLock<[u8; 32]>>;

/// The hashing key of one deployment, read from the store once.
#[derive(Clone)]
pub struct SearchKey([u8; 32]);

impl std::fmt::Debug for SearchKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SearchKey(..)")
    }
}

impl SearchKey {
    /// The stored form of one normalized term.
    pub fn hash(&self, term: &str) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(term.as_bytes());
        let full = mac.finalize().into_bytes();
        full.get(..TERM_HASH_LEN).unwrap_or_default().to_vec()
    }

    fn hashes<'a>(&self, terms: impl IntoIterator<Item = &'a String>) -> Vec<Vec<u8>> {
        terms.into_iter().map(|t| self.hash(t)).collect()
    }
}

/// The hashes a message body is indexed under (empty for an event entry or a body with no word).
pub(crate) fn entry_hashes(key: &SearchKey, direction: Direction, body: &str) -> Vec<Vec<u8>> {
    if direction == Direction::Event {
        return Vec::new();
    }
    key.hashes(&text_terms(body))
}

/// `INSERT INTO search_terms ... SELECT ... FROM sessions` for one entry with `n` hashes: the
/// session gives the messaging user, so callers need not look it up. Binds: entry id, session id,
/// created_at, then the hashes.
pub(crate) fn entry_insert_sql(n: usize) -> String {
    let values: Vec<String> = (0..n).map(|i| format!("(${})", i + 4)).collect();
    format!(
        "INSERT INTO search_terms (term_hash, messaging_user_id, session_id, entry_id, created_at) \
         SELECT v.column1, s.messaging_user_id, s.id, $1, $3 FROM sessions s \
         CROSS JOIN (VALUES {}) AS v WHERE s.id = $2",
        values.join(", ")
    )
}

/// Inside a transaction `$tx`: indexes one entry's words in one statement (nothing for an event
/// or a body with no word).
macro_rules! index_entry {
    ($tx:ident, $key:expr, $entry_id:expr, $session_id:expr, $direction:expr, $body:expr, $at:expr) => {{
        let hashes = $crate::search::entry_hashes($key, $direction, $body);
        if !hashes.is_empty() {
            let sql = $crate::search::entry_insert_sql(hashes.len());
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind($entry_id)
                .bind($session_id)
                .bind($at);
            for h in hashes {
                q = q.bind(h);
            }
            q.execute(&mut *$tx).await?;
        }
    }};
}
pub(crate) use index_entry;

/// One row of the index a query matched: a message (`entry_id` set) or a person.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct SearchHit {
    pub messaging_user_id: Uuid,
    pub session_id: Option<Uuid>,
    pub entry_id: Option<Uuid>,
    pub created_at: i64,
}

/// Progress of `parley search reindex`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReindexStep {
    pub entries: u64,
    pub people: u64,
    pub done: bool,
}

/// One of the agent's closed sessions with what the list shows.
#[derive(Debug, Clone)]
pub struct ClosedSession {
    pub session: Session,
    pub last_message: Option<String>,
    pub last_message_at: Option<Timestamp>,
}

impl Store {
    /// The deployment's search key: made on first use, sealed when a key is configured (an older
    /// secret still in the clear is sealed then too).
    pub async fn search_key(&self) -> Result<SearchKey> {
        if let Some(k) = self.search_key.get() {
            return Ok(SearchKey(*k));
        }
        let fresh: [u8; 32] = rand::random();
        let fresh = self.seal_text(&hex::encode(fresh));
        let stored: String = on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            sqlx::query(
                "INSERT INTO search_secret (id, singleton, secret) VALUES ($1, 1, $2) \
                 ON CONFLICT DO NOTHING")
                .bind(new_id()).bind(&fresh).execute(&mut *tx).await?;
            let s: String = sqlx::query_scalar("SELECT secret FROM search_secret WHERE singleton = 1")
                .fetch_one(&mut *tx).await?;
            if self.keyring().is_some() && !crate::crypto::is_sealed(&s) {
                sqlx::query("UPDATE search_secret SET secret = $1 WHERE singleton = 1")
                    .bind(self.seal_text(&s)).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(s)
        })?;
        let secret = self.open_text(&stored)?;
        let raw = hex::decode(secret.trim())
            .map_err(|_| StoreError::Corrupt("the search secret is not hex".to_owned()))?;
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&raw)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(b"parley/search/v1/terms");
        let key: [u8; 32] = mac.finalize().into_bytes().into();
        let _ = self.search_key.set(key);
        Ok(SearchKey(key))
    }

    /// Rewrites the rows describing a person: their name and platform key, and their contact's
    /// name, phone and e-mail. Called after each of those is written.
    pub async fn write_person_terms(&self, messaging_user_id: Uuid, now: Timestamp) -> Result<()> {
        self.write_people_terms(&[messaging_user_id], now).await
    }

    /// [`Store::write_person_terms`] for many people in one transaction, with their users and
    /// contacts read in as few statements as the database allows: an import batch or a reindex
    /// step indexes thousands at a time.
    pub async fn write_people_terms(&self, ids: &[Uuid], now: Timestamp) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let key = self.search_key().await?;
        let kind = self.kind();
        let per_read = self.rows_per_statement(1, 0);
        let mut users = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(per_read) {
            let sql = in_list(
                kind,
                "SELECT * FROM messaging_users WHERE id IN",
                chunk.len(),
            );
            let rows = on_backend!(self, read c => {
                let mut q = sqlx::query_as::<_, crate::records::MessagingUser>(
                    sqlx::AssertSqlSafe(sql.clone())).persistent(chunk.len() == 1);
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all(c).await
            })?;
            users.extend(self.open_users(rows)?);
        }
        let mut contact_ids: Vec<Uuid> = users.iter().filter_map(|u| u.contact_id).collect();
        contact_ids.sort_unstable();
        contact_ids.dedup();
        let mut contacts = HashMap::with_capacity(contact_ids.len());
        for chunk in contact_ids.chunks(per_read) {
            let sql = in_list(kind, "SELECT * FROM contacts WHERE id IN", chunk.len());
            let rows = on_backend!(self, read c => {
                let mut q = sqlx::query_as::<_, crate::records::Contact>(
                    sqlx::AssertSqlSafe(sql.clone())).persistent(chunk.len() == 1);
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all(c).await
            })?;
            for contact in rows {
                let contact = self.open_contact(contact)?;
                contacts.insert(contact.id, contact);
            }
        }
        let mut rows: Vec<(Vec<u8>, Uuid)> = Vec::new();
        for user in &users {
            let mut terms = name_terms(&user.name);
            terms.extend(number_terms(&user.platform_key));
            if let Some(contact) = user.contact_id.and_then(|id| contacts.get(&id)) {
                terms.extend(name_terms(&format!(
                    "{} {}",
                    contact.first_name, contact.last_name
                )));
                if let Some(p) = &contact.phone {
                    terms.extend(number_terms(p));
                }
                if let Some(e) = &contact.email {
                    terms.extend(number_terms(e));
                }
            }
            rows.extend(key.hashes(&terms).into_iter().map(|h| (h, user.id)));
        }
        // Users gone meanwhile have nothing to rewrite (their rows went with them).
        let found: Vec<Uuid> = users.iter().map(|u| u.id).collect();
        let per_insert = self.rows_per_statement(3, 0);
        on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            for chunk in found.chunks(per_read) {
                let sql = in_list(
                    kind,
                    "DELETE FROM search_terms WHERE entry_id IS NULL AND messaging_user_id IN",
                    chunk.len(),
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(chunk.len() == 1);
                for id in chunk {
                    q = q.bind(id);
                }
                q.execute(&mut *tx).await?;
            }
            for chunk in rows.chunks(per_insert) {
                let sql = crate::campaigns::dialect(kind, &format!(
                    "INSERT INTO search_terms (term_hash, messaging_user_id, session_id, entry_id, \
                     created_at) VALUES {}",
                    crate::campaigns::repeat("(?, ?, NULL, NULL, ?)", chunk.len())
                ));
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false);
                for (hash, user) in chunk {
                    q = q.bind(hash).bind(user).bind(now.millis());
                }
                q.execute(&mut *tx).await?;
            }
            tx.commit().await
        })?;
        Ok(())
    }

    /// [`Store::write_person_terms`] for every messaging user linked to a contact.
    pub async fn write_contact_terms(&self, contact_id: Uuid, now: Timestamp) -> Result<()> {
        let users: Vec<Uuid> = on_backend!(self, read c => sqlx::query_scalar(
            "SELECT id FROM messaging_users WHERE contact_id = $1").bind(contact_id).fetch_all(c).await)?;
        self.write_people_terms(&users, now).await
    }

    /// The newest rows before `before` (ms) where the word `hashes[lead]` is and every other word
    /// is in the same message or describes the same person. With `person`, only that person's
    /// rows. Uses `search_terms_by_term` for the leading word (`search_terms_by_user` with a
    /// person) and `search_terms_by_user` per other word.
    pub async fn search_hits(
        &self,
        hashes: &[Vec<u8>],
        lead: usize,
        person: Option<Uuid>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<SearchHit>> {
        let Some(first) = hashes.get(lead) else {
            return Ok(Vec::new());
        };
        let others: Vec<&Vec<u8>> = hashes
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != lead)
            .map(|(_, h)| h)
            .collect();
        let sql = search_sql(others.len(), person.is_some());
        let rows = on_backend!(self, read c => {
            let mut q = sqlx::query_as::<_, SearchHit>(sqlx::AssertSqlSafe(sql.clone()))
                .bind(first).bind(before.unwrap_or(i64::MAX)).bind(limit).bind(person);
            for h in &others {
                q = q.bind(*h);
            }
            q.fetch_all(c).await
        })?;
        Ok(rows)
    }

    /// How many rows a word has, counted up to `cap`: which word of a query is rarest.
    pub async fn search_term_count(&self, hash: &[u8], cap: i64) -> Result<i64> {
        Ok(
            on_backend!(self, read c => sqlx::query_scalar::<_, i64>(TERM_COUNT_SQL)
            .bind(hash).bind(cap).fetch_one(c).await)?,
        )
    }

    /// The people (at most `limit`) whose name, number or e-mail holds the word.
    pub async fn search_term_people(&self, hash: &[u8], limit: i64) -> Result<Vec<Uuid>> {
        Ok(
            on_backend!(self, read c => sqlx::query_scalar(TERM_PEOPLE_SQL)
            .bind(hash).bind(limit).fetch_all(c).await)?,
        )
    }

    /// Every row of the index (hash, messaging user, entry): for tests and checks, never a
    /// request path.
    pub async fn search_index_rows(&self) -> Result<Vec<(Vec<u8>, Uuid, Option<Uuid>)>> {
        Ok(on_backend!(self, read c => sqlx::query_as(
            "SELECT term_hash, messaging_user_id, entry_id FROM search_terms").fetch_all(c).await)?)
    }

    /// A person's newest session (person hits open it).
    pub async fn latest_session_of(&self, messaging_user_id: Uuid) -> Result<Option<Session>> {
        Ok(
            on_backend!(self, read c => sqlx::query_as::<_, Session>(LATEST_SESSION_SQL)
            .bind(messaging_user_id).fetch_optional(c).await)?,
        )
    }

    /// The sessions this agent owned that have ended, newest first, each with its last message.
    pub async fn closed_sessions_of(
        &self,
        agent_id: Uuid,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<ClosedSession>> {
        let rows = on_backend!(self, read c => sqlx::query_as::<_, Session>(CLOSED_SESSIONS_SQL)
            .bind(agent_id).bind(before.unwrap_or(i64::MAX)).bind(limit).fetch_all(c).await)?;
        let mut out = Vec::with_capacity(rows.len());
        for session in rows {
            let last: Option<(String, i64)> = on_backend!(self, read c => sqlx::query_as(LAST_MESSAGE_SQL)
                .bind(session.id).fetch_optional(c).await)?;
            let (last_message, last_message_at) = match last {
                Some((body, at)) => (Some(self.open_text(&body)?), Some(Timestamp(at))),
                None => (None, None),
            };
            out.push(ClosedSession {
                session,
                last_message,
                last_message_at,
            });
        }
        Ok(out)
    }

    /// One batch of `parley search reindex`: the next `batch` entries by id (each re-indexed:
    /// its rows deleted, then written again), then, once entries are done, the next `batch`
    /// people. The position is stored, so a rerun after a stop resumes.
    pub async fn reindex_search_step(&self, batch: i64, now: Timestamp) -> Result<ReindexStep> {
        let key = self.search_key().await?;
        let mut step = ReindexStep::default();
        let entries_at: Option<Option<Uuid>> = on_backend!(self, read c => sqlx::query_scalar(
            "SELECT last_id FROM search_reindex WHERE name = 'entries'").fetch_optional(c).await)?;
        let entries_done = on_backend!(self, read c => sqlx::query_scalar::<_, Option<Uuid>>(
            "SELECT last_id FROM search_reindex WHERE name = 'entries_done'").fetch_optional(c).await)?
        .is_some();
        if !entries_done {
            let after = entries_at.flatten();
            let rows: Vec<(Uuid, Uuid, String, String, i64)> = on_backend!(self, read c => sqlx::query_as(
                "SELECT id, session_id, direction, body, created_at FROM entries \
                 WHERE ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2")
                .bind(after).bind(batch).fetch_all(c).await)?;
            let last = rows.last().map(|r| r.0);
            let mut opened = Vec::with_capacity(rows.len());
            for (id, session_id, direction, body, at) in rows {
                let direction = direction.parse::<Direction>().unwrap_or(Direction::Event);
                opened.push((id, session_id, direction, self.open_text(&body)?, at));
            }
            on_backend!(self, write c => {
                let mut tx = c.begin().await?;
                for (id, session_id, direction, body, at) in &opened {
                    sqlx::query("DELETE FROM search_terms WHERE entry_id = $1")
                        .bind(id).execute(&mut *tx).await?;
                    index_entry!(tx, &key, id, session_id, *direction, body, at);
                }
                let (name, value) = match last {
                    Some(id) => ("entries", Some(id)),
                    None => ("entries_done", None),
                };
                sqlx::query("INSERT INTO search_reindex (name, last_id) VALUES ($1, $2) \
                     ON CONFLICT (name) DO UPDATE SET last_id = excluded.last_id")
                    .bind(name).bind(value.or(Some(Uuid::nil()))).execute(&mut *tx).await?;
                tx.commit().await
            })?;
            step.entries = opened.len() as u64;
            return Ok(step);
        }
        let people_at: Option<Option<Uuid>> = on_backend!(self, read c => sqlx::query_scalar(
            "SELECT last_id FROM search_reindex WHERE name = 'people'").fetch_optional(c).await)?;
        let users: Vec<Uuid> = on_backend!(self, read c => sqlx::query_scalar(
            "SELECT id FROM messaging_users WHERE ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2")
            .bind(people_at.flatten()).bind(batch).fetch_all(c).await)?;
        self.write_people_terms(&users, now).await?;
        step.people = users.len() as u64;
        match users.last() {
            Some(last) => {
                on_backend!(self, write c => sqlx::query(
                    "INSERT INTO search_reindex (name, last_id) VALUES ('people', $1) \
                     ON CONFLICT (name) DO UPDATE SET last_id = excluded.last_id")
                    .bind(last).execute(c).await.map(|r| r.rows_affected()))?;
            }
            None => {
                // Finished: the next reindex starts over.
                on_backend!(self, write c => sqlx::query("DELETE FROM search_reindex")
                    .execute(c).await.map(|r| r.rows_affected()))?;
                step.done = true;
            }
        }
        Ok(step)
    }
}

/// `head (?, ?, ...)` for `n` ids, as the backend takes it: `?`s, which SQLite binds by position
/// (a long list of `$N` binds in quadratic time there).
fn in_list(kind: crate::BackendKind, head: &str, n: usize) -> String {
    crate::campaigns::dialect(
        kind,
        &format!("{head} ({})", crate::campaigns::repeat("?", n)),
    )
}

/// The search query for one driving word and `others` further words (bind 1: the driver's hash,
/// 2: before (ms, exclusive), 3: limit, 4: the person when `person`, else NULL, 5..: the other
/// hashes). A further word matches when the same message has it, or the person does (a row
/// without an entry).
pub(crate) fn search_sql(others: usize, person: bool) -> String {
    let mut sql = String::from(
        "SELECT r.messaging_user_id, r.session_id, r.entry_id, r.created_at FROM search_terms r \
         WHERE r.term_hash = $1",
    );
    sql.push_str(if person {
        " AND r.created_at + 0 < $2"
    } else {
        " AND r.created_at < $2"
    });
    // $4 is bound either way (NULL without a person) so the numbering stays the same.
    sql.push_str(if person {
        " AND r.messaging_user_id = $4"
    } else {
        " AND $4 IS NULL"
    });
    for i in 0..others {
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM search_terms o WHERE o.messaging_user_id = r.messaging_user_id \
             AND o.term_hash = ${} AND (o.entry_id IS NULL OR o.entry_id = r.entry_id))",
            i + 5
        ));
    }
    // One person's rows come by `search_terms_by_user` (person and word): comparing or ordering
    // by the bare time would let SQLite walk the word's whole time index instead (1.1 s on a word
    // of 1,000,000 rows in `parley bench search`); a person's rows are few, sorting them is cheap.
    sql.push_str(if person {
        " ORDER BY r.created_at + 0 DESC LIMIT $3"
    } else {
        " ORDER BY r.created_at DESC LIMIT $3"
    });
    sql
}

pub(crate) const TERM_COUNT_SQL: &str = "SELECT COUNT(*) FROM \
     (SELECT 1 FROM search_terms WHERE term_hash = $1 LIMIT $2) t";

pub(crate) const TERM_PEOPLE_SQL: &str = "SELECT messaging_user_id FROM search_terms \
     WHERE term_hash = $1 AND entry_id IS NULL ORDER BY created_at DESC LIMIT $2";

pub(crate) const LATEST_SESSION_SQL: &str =
    "SELECT * FROM sessions WHERE messaging_user_id = $1 ORDER BY id DESC LIMIT 1";

pub(crate) const CLOSED_SESSIONS_SQL: &str = "SELECT * FROM sessions WHERE owner_id = $1 \
     AND ended_at IS NOT NULL AND ended_at < $2 ORDER BY ended_at DESC LIMIT $3";

pub(crate) const LAST_MESSAGE_SQL: &str = "SELECT body, created_at FROM entries \
     WHERE session_id = $1 AND direction <> 'event' ORDER BY id DESC LIMIT 1";

/// The queries above, for the plans test (EXPLAIN on both databases).
pub fn search_queries_for_plans() -> Vec<(&'static str, String)> {
    vec![
        ("search, one word", search_sql(0, false)),
        ("search, three words", search_sql(2, false)),
        ("search, one person's messages", search_sql(1, true)),
        ("search, a word's rows counted", TERM_COUNT_SQL.to_owned()),
        (
            "search, the people a word describes",
            TERM_PEOPLE_SQL.to_owned(),
        ),
        ("search, latest session", LATEST_SESSION_SQL.to_owned()),
        ("closed sessions", CLOSED_SESSIONS_SQL.to_owned()),
        ("closed sessions, last message", LAST_MESSAGE_SQL.to_owned()),
    ]
}
