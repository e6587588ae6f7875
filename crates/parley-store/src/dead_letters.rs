//! Dead letters: dead jobs of the inbound queue, each with the raw event (its payload), the kind
//! of reason (`dead_reason`) and the error (`last_error`). The dead job *is* the dead letter, so
//! nothing is copied when a message dies and a replay is the same row going back to `ready`.
//!
//! Every statement names `state = 'dead' AND queue = 'inbound'` literally: that is the predicate
//! of the partial index `jobs_dead_letters` (migration 0007), and both planners use a partial
//! index only when the query's own text implies its predicate.

use parley_core::Timestamp;
use parley_core::dead_letter::DeadLetterReason;
use sqlx::FromRow;
use uuid::Uuid;

use crate::records::{HasId, paginate};
use crate::{PageRequest, Paged, Result, Store, StoreError, on_backend};

/// The queue whose dead jobs are dead letters (the inbound pipeline's).
pub const DEAD_LETTER_QUEUE: &str = "inbound";

/// One dead letter as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// The job's id, which is the dead letter's.
    pub id: Uuid,
    /// The raw event as the webhook persisted it.
    pub payload: String,
    pub reason: DeadLetterReason,
    /// The error's own words.
    pub detail: Option<String>,
    pub attempts: i64,
    /// When the event arrived (the job was written).
    pub received_at: Timestamp,
    /// When it died (or was last touched while dead).
    pub dead_at: Timestamp,
}

impl HasId for DeadLetter {
    fn id(&self) -> Uuid {
        self.id
    }
}

#[derive(FromRow)]
struct Row {
    id: Uuid,
    payload: String,
    dead_reason: Option<String>,
    last_error: Option<String>,
    attempts: i64,
    created_at: i64,
    updated_at: i64,
}

impl From<Row> for DeadLetter {
    fn from(r: Row) -> Self {
        Self {
            id: r.id,
            payload: r.payload,
            reason: DeadLetterReason::parse(r.dead_reason.as_deref()),
            detail: r.last_error,
            attempts: r.attempts,
            received_at: Timestamp(r.created_at),
            dead_at: Timestamp(r.updated_at),
        }
    }
}

/// A job to dead-letter, with why.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetterWrite {
    pub id: Uuid,
    pub reason: DeadLetterReason,
    pub detail: String,
}

const COLUMNS: &str = "id, payload, dead_reason, last_error, attempts, created_at, updated_at";

/// The SQL condition for a reason filter. `other` also covers jobs that died without a reason.
/// `param` is the number of the parameter the reason's name is bound to (a known reason only).
fn reason_filter(reason: Option<DeadLetterReason>, param: usize) -> String {
    match reason {
        None => String::new(),
        Some(DeadLetterReason::Other) => {
            " AND (dead_reason IS NULL OR dead_reason = 'other')".to_owned()
        }
        Some(_) => format!(" AND dead_reason = ${param}"),
    }
}

impl Store {
    /// Dead-letters jobs this worker holds (running, leased by `worker`), with their reason. Jobs
    /// another runner took over meanwhile are left alone; the count says how many died here.
    pub async fn dead_letter_jobs(
        &self,
        worker: &str,
        letters: &[DeadLetterWrite],
        now: Timestamp,
    ) -> Result<u64> {
        if letters.is_empty() {
            return Ok(0);
        }
        on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            let mut total = 0;
            for l in letters {
                let done = sqlx::query(
                    "UPDATE jobs SET state = 'dead', dead_reason = $1, last_error = $2, lease_until = NULL, \
                     updated_at = $3 WHERE id = $4 AND leased_by = $5 AND state = 'running'")
                    .bind(l.reason.as_str()).bind(&l.detail).bind(now.millis()).bind(l.id).bind(worker)
                    .execute(&mut *tx).await?;
                total += done.rows_affected();
            }
            tx.commit().await?;
            Ok(total)
        })
    }

    /// Dead letters, newest first (by arrival), optionally of one reason.
    pub async fn list_dead_letters(
        &self,
        reason: Option<DeadLetterReason>,
        page: PageRequest,
    ) -> Result<Paged<DeadLetter>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM jobs WHERE state = 'dead' AND queue = 'inbound' \
             AND ($1 IS NULL OR id < $1){} ORDER BY id DESC LIMIT $2",
            reason_filter(reason, 3)
        );
        let rows: Vec<Row> = on_backend!(self, read c => {
            let mut q = sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(page.after).bind(page.fetch_limit());
            if let Some(r) = reason.filter(|r| *r != DeadLetterReason::Other) {
                q = q.bind(r.as_str());
            }
            q.fetch_all(c).await
        })?;
        let letters = rows
            .into_iter()
            .map(|r| self.open_dead_letter(r))
            .collect::<Result<Vec<_>>>()?;
        Ok(paginate(letters, page))
    }

    /// One dead letter; `NotFound` when the id is not a dead job of the inbound queue (any more).
    pub async fn dead_letter(&self, id: Uuid) -> Result<DeadLetter> {
        let sql = format!(
            "SELECT {COLUMNS} FROM jobs WHERE state = 'dead' AND queue = 'inbound' AND id = $1"
        );
        let row: Option<Row> = on_backend!(self, read c =>
            sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str())).bind(id).fetch_optional(c).await)?;
        let row = row.ok_or(StoreError::not_found("dead letter"))?;
        self.open_dead_letter(row)
    }

    /// Dead letters carry the raw event (message text, numbers): sealed like every job payload.
    fn open_dead_letter(&self, mut r: Row) -> Result<DeadLetter> {
        r.payload = self.open_text(&r.payload)?;
        Ok(DeadLetter::from(r))
    }

    /// Puts dead letters back to run: `ready` at once, attempts and reason cleared, so each gets
    /// its full retries again and leaves the dead-letter list. They are due from when they
    /// arrived, so replayed messages are claimed in their arrival order, ahead of newer ones. With `ids`, those (the ones still
    /// dead); without, every dead letter of `reason` (or every one). Returns the ids replayed.
    pub async fn replay_dead_letters(
        &self,
        ids: Option<&[Uuid]>,
        reason: Option<DeadLetterReason>,
        now: Timestamp,
    ) -> Result<Vec<Uuid>> {
        let mut sql = format!(
            "UPDATE jobs SET state = 'ready', attempts = 0, due_at = created_at, dead_reason = NULL, \
             lease_until = NULL, leased_by = NULL, updated_at = $1 \
             WHERE state = 'dead' AND queue = 'inbound'{}",
            reason_filter(reason, 2)
        );
        let first_id = if reason.is_some_and(|r| r != DeadLetterReason::Other) {
            3
        } else {
            2
        };
        if let Some(ids) = ids {
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            sql.push_str(&format!(
                " AND id IN ({})",
                crate::config::placeholders(first_id, ids.len())
            ));
        }
        sql.push_str(" RETURNING id");
        let replayed: Vec<Uuid> = on_backend!(self, write c => {
            let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.as_str())).bind(now.millis());
            if let Some(r) = reason.filter(|r| *r != DeadLetterReason::Other) {
                q = q.bind(r.as_str());
            }
            for id in ids.unwrap_or_default() {
                q = q.bind(*id);
            }
            q.fetch_all(c).await
        })?;
        Ok(replayed)
    }

    /// Discards a dead letter: the job is finished (`done`, purged with the other finished jobs)
    /// with `note` (who discarded it) as its last error. `NotFound` when it is not a dead letter.
    pub async fn discard_dead_letter(&self, id: Uuid, note: &str, now: Timestamp) -> Result<()> {
        let done = on_backend!(self, write c => sqlx::query(
            "UPDATE jobs SET state = 'done', last_error = $1, updated_at = $2 \
             WHERE state = 'dead' AND queue = 'inbound' AND id = $3")
            .bind(note).bind(now.millis()).bind(id).execute(c).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::not_found("dead letter"));
        }
        Ok(())
    }
}
