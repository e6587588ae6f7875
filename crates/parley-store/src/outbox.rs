//! The outbound dispatcher's side of the store: the batched reads a claim of send jobs needs
//! (each entry with what its send needs of its session and messaging user, one query per few
//! hundred messages), and the one transaction that writes what a batch of sends did and settles
//! its jobs.

use parley_core::Timestamp;
use parley_core::model::{ConsentSource, ConsentStatus, EntryStatus, SessionStatus};
use sqlx::{FromRow, Row};
use uuid::Uuid;

use crate::records::{Entry, MessagingUser, opt_enum, req_enum};
use crate::simulator::NewSimulatorMessage;
use crate::{Backend, Result, Store, on_backend};

/// Ids per `IN (...)` list: SQLite binds numbered parameters by name lookup, which is quadratic
/// in their count, so long lists are cut into chunks of this size.
const CHUNK: usize = 256;

/// What a send did to its entry.
#[derive(Debug, Clone, PartialEq)]
pub enum EntryChange {
    /// A new status; the error code and the provider's words replace the stored ones only when
    /// given (a retry note does not erase an earlier code).
    Status {
        status: EntryStatus,
        error_code: Option<String>,
        provider_error: Option<String>,
    },
    /// A provider took the message: its status and the provider's id for it.
    Dispatched {
        status: EntryStatus,
        provider_message_id: String,
    },
    /// The provider's answer never came: the entry becomes `unknown` with a note, and with the
    /// provider's id when part of the message was accepted (its receipts then find the entry).
    Unknown {
        provider_message_id: Option<String>,
        provider_error: String,
    },
    /// The simulator took the message: it is recorded (once per entry: a resend after a crash
    /// finds the first record) and the entry takes the record's id as its provider id.
    Simulated {
        message: NewSimulatorMessage,
        status: EntryStatus,
    },
}

/// The carrier says the recipient unsubscribed (Twilio 21610): opt the messaging user out,
/// with the entry in the consent history. Nothing is written if they are opted out already.
#[derive(Debug, Clone, PartialEq)]
pub struct OptOut {
    pub messaging_user_id: Uuid,
    pub entry_id: Uuid,
    pub reason: String,
}

/// Everything one send changes.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxWrite {
    pub entry_id: Uuid,
    pub change: EntryChange,
    pub opt_out: Option<OptOut>,
    /// The send to try again on its own, written with the change: a campaign chunk's entry
    /// that failed for a reason that should pass (the chunk's job is done with the rest).
    pub retry: Option<crate::records::NewJob>,
}

/// What becomes of a claimed job.
#[derive(Debug, Clone, PartialEq)]
pub enum Settle {
    Done,
    /// Back to `ready` at `at`; `partition` (the sender's lease) brings it back to the node
    /// that drives its sender.
    Retry {
        at: Timestamp,
        error: String,
        partition: Option<String>,
    },
    /// Dead-lettered.
    Dead {
        error: String,
    },
    /// Not attempted: back to `ready` as it was (the attempt is not counted), to be claimed
    /// only by the holder of the lease `partition`.
    Defer {
        partition: String,
    },
    /// Not attempted because its group (a campaign) was paused meanwhile: set aside as `held`
    /// (the attempt is not counted) until the campaign resumes or is cancelled.
    Hold,
}

#[derive(Debug, Clone, PartialEq)]
pub struct JobSettlement {
    pub id: Uuid,
    pub settle: Settle,
}

/// What [`Store::commit_outbox`] found while writing.
/// The simulator's record of a simulated entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimulatorRecord {
    pub entry_id: Uuid,
    /// The record's id in `simulator_messages`.
    pub message_id: Uuid,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutboxCommitted {
    /// The simulator record of each simulated entry.
    pub simulator_messages: Vec<SimulatorRecord>,
    /// Messaging users this commit opted out (those opted out already are not listed).
    pub opted_out: Vec<Uuid>,
    /// Jobs settled; fewer than asked when the worker no longer held some (its lease ran out and
    /// another runner took them over).
    pub jobs_settled: u64,
}

/// What a send needs of its entry's session.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxSession {
    pub id: Uuid,
    pub channel_id: Uuid,
    pub messaging_user_id: Uuid,
    pub status: SessionStatus,
    pub owner_id: Option<Uuid>,
    /// The customer's last message: WhatsApp's care window runs from it.
    pub last_customer_at: Option<Timestamp>,
}

/// An entry to send with its session and messaging user, read together.
#[derive(Debug, Clone)]
pub struct OutboxTarget {
    pub entry: Entry,
    /// `None`: the entry's session no longer exists.
    pub session: Option<OutboxSession>,
    /// `None`: the session's messaging user no longer exists.
    pub user: Option<MessagingUser>,
}

/// One join by primary keys, naming only the columns a send reads: the three `SELECT *` reads it
/// replaces cost a third of the campaign benchmark's SQLite time, most of it copying columns no
/// send looks at (a user's attributes and tags, a session's counters). The session's and the
/// user's columns carry prefixes, so no name is read from the wrong table.
const TARGETS: &str = "SELECT e.*, s.id AS s_id, s.channel_id AS s_channel_id, \
    s.messaging_user_id AS s_messaging_user_id, s.status AS s_status, s.owner_id AS s_owner_id, \
    s.last_customer_at AS s_last_customer_at, u.id AS u_id, u.channel_id AS u_channel_id, \
    u.platform_key AS u_platform_key, u.name AS u_name, u.locale AS u_locale, \
    u.consent_status AS u_consent_status, u.contact_id AS u_contact_id, \
    u.created_at AS u_created_at, u.updated_at AS u_updated_at \
    FROM entries e LEFT JOIN sessions s ON s.id = e.session_id \
    LEFT JOIN messaging_users u ON u.id = s.messaging_user_id WHERE e.id IN";

impl<'r, R: Row> FromRow<'r, R> for OutboxTarget
where
    Entry: FromRow<'r, R>,
    &'r str: sqlx::ColumnIndex<R>,
    Uuid: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> std::result::Result<Self, sqlx::Error> {
        let entry = Entry::from_row(row)?;
        let session = match row.try_get::<Option<Uuid>, _>("s_id")? {
            None => None,
            Some(id) => Some(OutboxSession {
                id,
                channel_id: row.try_get("s_channel_id")?,
                messaging_user_id: row.try_get("s_messaging_user_id")?,
                status: req_enum("s_status", row.try_get("s_status")?)?,
                owner_id: row.try_get("s_owner_id")?,
                last_customer_at: row
                    .try_get::<Option<i64>, _>("s_last_customer_at")?
                    .map(Timestamp),
            }),
        };
        let user = match row.try_get::<Option<Uuid>, _>("u_id")? {
            None => None,
            Some(id) => Some(MessagingUser {
                id,
                channel_id: row.try_get("u_channel_id")?,
                platform_key: row.try_get("u_platform_key")?,
                name: row.try_get("u_name")?,
                locale: row.try_get("u_locale")?,
                consent_status: opt_enum("u_consent_status", row.try_get("u_consent_status")?)?,
                contact_id: row.try_get("u_contact_id")?,
                created_at: Timestamp(row.try_get("u_created_at")?),
                updated_at: Timestamp(row.try_get("u_updated_at")?),
            }),
        };
        Ok(Self {
            entry,
            session,
            user,
        })
    }
}

impl Store {
    /// The entries with these ids (those that exist), each with its session and messaging user.
    pub async fn outbox_targets(&self, ids: &[Uuid]) -> Result<Vec<OutboxTarget>> {
        self.rows_by_ids(TARGETS, ids).await
    }

    /// The channels with these ids (those that exist).
    pub async fn outbox_channels(&self, ids: &[Uuid]) -> Result<Vec<crate::Channel>> {
        self.rows_by_ids("SELECT * FROM channels WHERE id IN", ids)
            .await
    }

    /// `select` (a constant ending in `IN`) for `ids`, a chunk per query.
    pub(crate) async fn rows_by_ids<T>(&self, select: &'static str, ids: &[Uuid]) -> Result<Vec<T>>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
            + Send
            + Unpin,
    {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            let sql = format!("{select} ({})", crate::config::placeholders(1, chunk.len()));
            let rows: Vec<T> = on_backend!(self, read c => {
                let mut q = sqlx::query_as::<_, T>(sqlx::AssertSqlSafe(sql.as_str()));
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all(c).await
            })?;
            out.extend(rows);
        }
        Ok(out)
    }

    /// Writes what a batch of sends did and settles their jobs, in one transaction: a crash
    /// before the commit leaves the jobs to run again with nothing written (and the entries still
    /// `queued`), a crash after it leaves nothing to run again.
    ///
    /// Job updates only touch jobs `worker` still holds (running, leased by it). Unlike the
    /// inbound commit, losing a job does not abort the batch: the sends happened, so their
    /// effects are recorded whoever holds the job now (and that holder finds the entry no longer
    /// `queued` and sends nothing).
    pub async fn commit_outbox(
        &self,
        writes: &[OutboxWrite],
        jobs: &[JobSettlement],
        worker: &str,
        now: Timestamp,
    ) -> Result<OutboxCommitted> {
        let none = crate::sender_limits::SenderCharges::default();
        self.commit_outbox_with(writes, jobs, &none, worker, now)
            .await
    }

    /// [`Store::commit_outbox`], adding the batch's sends to their senders' usage (and its held
    /// messages) in the same transaction.
    pub async fn commit_outbox_with(
        &self,
        writes: &[OutboxWrite],
        jobs: &[JobSettlement],
        charges: &crate::sender_limits::SenderCharges,
        worker: &str,
        now: Timestamp,
    ) -> Result<OutboxCommitted> {
        let mut committed = OutboxCommitted::default();
        if writes.is_empty() && jobs.is_empty() && charges.is_empty() {
            return Ok(committed);
        }
        let at = now.millis();
        // A provider's acceptances, the common case, go as one multi-row statement per chunk: a
        // statement per row is a round trip per row (to the server on PostgreSQL, to the
        // connection's worker thread on SQLite). SQLite's chunks are smaller because it binds
        // parameters by name lookup, quadratic in their number.
        let rows_per_statement = match self.backend {
            Backend::Postgres(_) => CHUNK,
            Backend::Sqlite { .. } => 64,
        };
        let (bulk_dispatched, rest): (Vec<&OutboxWrite>, Vec<&OutboxWrite>) = writes
            .iter()
            .partition(|w| matches!(w.change, EntryChange::Dispatched { .. }));
        let done: Vec<Uuid> = jobs
            .iter()
            .filter(|j| j.settle == Settle::Done)
            .map(|j| j.id)
            .collect();
        on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            for chunk in bulk_dispatched.chunks(rows_per_statement) {
                let rows: Vec<String> = (0..chunk.len())
                    .map(|i| format!("(${}, ${}, ${})", 2 + 3 * i, 3 + 3 * i, 4 + 3 * i))
                    .collect();
                // VALUES columns are named column1.. on both databases.
                let sql = format!(
                    "UPDATE entries SET status = v.status, provider_message_id = v.pid, updated_at = $1 \
                     FROM (SELECT column1 AS id, column2 AS status, column3 AS pid FROM (VALUES {}) AS t) AS v \
                     WHERE entries.id = v.id",
                    rows.join(", ")
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(at);
                for w in chunk {
                    if let EntryChange::Dispatched { status, provider_message_id } = &w.change {
                        q = q.bind(w.entry_id).bind(status.as_str()).bind(provider_message_id);
                    }
                }
                q.execute(&mut *tx).await?;
            }
            for w in rest {
                match &w.change {
                    EntryChange::Status { status, error_code, provider_error } => {
                        if matches!(status, EntryStatus::Failed | EntryStatus::Undelivered) {
                            // TM-08: each failure is also a delivery error record, which the
                            // reports roll up (the first failure only: a repeated callback is
                            // not a second error).
                            sqlx::query(crate::reports::RECORD_OUTBOUND_FAILURE)
                                .bind(parley_core::new_id()).bind(at).bind(w.entry_id)
                                .bind(error_code).bind(provider_error)
                                .execute(&mut *tx).await?;
                        }
                        sqlx::query(
                            "UPDATE entries SET status = $2, error_code = COALESCE($3, error_code), \
                             provider_error = COALESCE($4, provider_error), updated_at = $5 WHERE id = $1")
                            .bind(w.entry_id).bind(status.as_str()).bind(error_code).bind(provider_error).bind(at)
                            .execute(&mut *tx).await?;
                    }
                    EntryChange::Dispatched { status, provider_message_id } => {
                        sqlx::query(
                            "UPDATE entries SET status = $2, provider_message_id = $3, updated_at = $4 WHERE id = $1")
                            .bind(w.entry_id).bind(status.as_str()).bind(provider_message_id).bind(at)
                            .execute(&mut *tx).await?;
                    }
                    EntryChange::Unknown { provider_message_id, provider_error } => {
                        sqlx::query(
                            "UPDATE entries SET status = $2, provider_message_id = COALESCE($3, provider_message_id), \
                             provider_error = $4, updated_at = $5 WHERE id = $1")
                            .bind(w.entry_id).bind(EntryStatus::Unknown.as_str()).bind(provider_message_id)
                            .bind(provider_error).bind(at)
                            .execute(&mut *tx).await?;
                    }
                    EntryChange::Simulated { message: m, status } => {
                        let id = parley_core::new_id();
                        sqlx::query(
                            "INSERT INTO simulator_messages (id, channel_id, direction, from_addr, to_addr, body, status, entry_id, created_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (entry_id) DO NOTHING")
                            .bind(id).bind(m.channel_id).bind(m.direction.as_str()).bind(&m.from_addr)
                            .bind(&m.to_addr).bind(&m.body).bind(&m.status).bind(w.entry_id).bind(at)
                            .execute(&mut *tx).await?;
                        // The record this entry got, now or on an earlier attempt.
                        let record: Uuid = sqlx::query_scalar(
                            "SELECT id FROM simulator_messages WHERE entry_id = $1")
                            .bind(w.entry_id).fetch_one(&mut *tx).await?;
                        sqlx::query(
                            "UPDATE entries SET status = $2, provider_message_id = $3, updated_at = $4 WHERE id = $1")
                            .bind(w.entry_id).bind(status.as_str()).bind(record.to_string()).bind(at)
                            .execute(&mut *tx).await?;
                        committed.simulator_messages.push(SimulatorRecord {
                            entry_id: w.entry_id,
                            message_id: record,
                        });
                    }
                }
            }
            for o in writes.iter().filter_map(|w| w.opt_out.as_ref()) {
                let from: Option<Option<String>> = sqlx::query_scalar(
                    "SELECT consent_status FROM messaging_users WHERE id = $1")
                    .bind(o.messaging_user_id).fetch_optional(&mut *tx).await?;
                let Some(from) = from else { continue };
                if from.as_deref() == Some(ConsentStatus::OptedOut.as_str())
                    || committed.opted_out.contains(&o.messaging_user_id)
                {
                    continue;
                }
                sqlx::query("UPDATE messaging_users SET consent_status = $2, updated_at = $3 WHERE id = $1")
                    .bind(o.messaging_user_id).bind(ConsentStatus::OptedOut.as_str()).bind(at)
                    .execute(&mut *tx).await?;
                sqlx::query(
                    "INSERT INTO consent_events (id, messaging_user_id, from_status, to_status, source, reason, entry_id, at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
                    .bind(parley_core::new_id()).bind(o.messaging_user_id).bind(from)
                    .bind(ConsentStatus::OptedOut.as_str()).bind(ConsentSource::Provider.as_str())
                    .bind(&o.reason).bind(o.entry_id).bind(at)
                    .execute(&mut *tx).await?;
                committed.opted_out.push(o.messaging_user_id);
            }
            for job in writes.iter().filter_map(|w| w.retry.as_ref()) {
                sqlx::query(crate::jobs::INSERT_JOB)
                    .bind(parley_core::new_id()).bind(&job.queue).bind(&job.kind).bind(&job.payload)
                    .bind(job.priority).bind(job.due_at.millis()).bind(job.max_attempts)
                    .bind(&job.dedupe_key).bind(at).bind(&job.group_key)
                    .execute(&mut *tx).await?;
            }
            for chunk in done.chunks(CHUNK) {
                let sql = format!(
                    "UPDATE jobs SET state = 'done', lease_until = NULL, updated_at = $1 \
                     WHERE leased_by = $2 AND state = 'running' AND id IN ({})",
                    crate::config::placeholders(3, chunk.len())
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(at).bind(worker);
                for id in chunk {
                    q = q.bind(id);
                }
                committed.jobs_settled += q.execute(&mut *tx).await?.rows_affected();
            }
            for j in jobs {
                let q = match &j.settle {
                    Settle::Done => continue,
                    Settle::Retry { at: due, error, partition } => sqlx::query(
                        "UPDATE jobs SET state = 'ready', due_at = $3, lease_until = NULL, last_error = $4, \
                         partition_key = COALESCE($5, partition_key), updated_at = $6 \
                         WHERE id = $1 AND leased_by = $2 AND state = 'running'")
                        .bind(j.id).bind(worker).bind(due.millis()).bind(error).bind(partition).bind(at),
                    Settle::Dead { error } => sqlx::query(
                        "UPDATE jobs SET state = 'dead', lease_until = NULL, last_error = $3, updated_at = $4 \
                         WHERE id = $1 AND leased_by = $2 AND state = 'running'")
                        .bind(j.id).bind(worker).bind(error).bind(at),
                    Settle::Defer { partition } => sqlx::query(
                        "UPDATE jobs SET state = 'ready', attempts = attempts - 1, lease_until = NULL, \
                         partition_key = $3, updated_at = $4 \
                         WHERE id = $1 AND leased_by = $2 AND state = 'running'")
                        .bind(j.id).bind(worker).bind(partition).bind(at),
                    Settle::Hold => sqlx::query(
                        "UPDATE jobs SET state = 'held', attempts = attempts - 1, lease_until = NULL, \
                         updated_at = $3 WHERE id = $1 AND leased_by = $2 AND state = 'running'")
                        .bind(j.id).bind(worker).bind(at),
                };
                committed.jobs_settled += q.execute(&mut *tx).await?.rows_affected();
            }
            crate::sender_limits::write_charges!(tx, charges, at);
            tx.commit().await
        })?;
        Ok(committed)
    }
}

/// An outbound entry's way out of `unknown` (or `failed`) that an operator or the expiry sweep
/// chose.
#[derive(Debug, Clone, PartialEq)]
pub struct Requeue {
    pub entry_id: Uuid,
    /// The note kept in `provider_error` (who resent it).
    pub note: String,
    /// The new send job; its dedupe key must differ from the entry's first job's.
    pub job: crate::records::NewJob,
}

/// Unknown outcomes: the rows the receipt matcher and the expiry sweep read (through the
/// partial index `entries_unknown`), and the operators' writes.
impl Store {
    /// The `unknown` outbound entries of a channel's customer (`platform_key`), oldest first, at
    /// most `limit`: the candidates for a delivery receipt whose SMSC id was never stored.
    pub async fn unknown_entries_of(
        &self,
        channel_id: Uuid,
        platform_key: &str,
        limit: i64,
    ) -> Result<Vec<Entry>> {
        Ok(on_backend!(self, read c => sqlx::query_as::<_, Entry>(
            "SELECT e.* FROM entries e JOIN sessions s ON s.id = e.session_id \
             JOIN messaging_users u ON u.id = s.messaging_user_id \
             WHERE e.status = 'unknown' AND s.channel_id = $1 AND u.platform_key = $2 \
             ORDER BY e.updated_at, e.id LIMIT $3")
            .bind(channel_id).bind(platform_key).bind(limit).fetch_all(c).await)?)
    }

    /// Settles an `unknown` entry from a provider's report: its status, and the provider's id
    /// when the submit answer that should have carried it was lost. `false` when the entry is no
    /// longer unknown (another report or an operator came first).
    pub async fn settle_unknown(
        &self,
        entry_id: Uuid,
        status: EntryStatus,
        error_code: Option<&str>,
        provider_error: Option<&str>,
        provider_message_id: Option<&str>,
        now: Timestamp,
    ) -> Result<bool> {
        let done = on_backend!(self, write c => sqlx::query(
            "UPDATE entries SET status = $2, error_code = COALESCE($3, error_code), \
             provider_error = COALESCE($4, provider_error), \
             provider_message_id = COALESCE($5, provider_message_id), updated_at = $6 \
             WHERE id = $1 AND status = 'unknown'")
            .bind(entry_id).bind(status.as_str()).bind(error_code).bind(provider_error)
            .bind(provider_message_id).bind(now.millis())
            .execute(c).await.map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    /// Fails the `unknown` entries with no news since `before` (oldest first, at most `limit`):
    /// `failed` with `error_code` and `note`. Returns each failed entry's id and session id.
    pub async fn expire_unknown(
        &self,
        before: Timestamp,
        error_code: &str,
        note: &str,
        limit: i64,
        now: Timestamp,
    ) -> Result<Vec<(Uuid, Uuid)>> {
        Ok(
            on_backend!(self, write c => sqlx::query_as::<_, (Uuid, Uuid)>(
            "UPDATE entries SET status = 'failed', error_code = $2, provider_error = $3, updated_at = $4 \
             WHERE id IN (SELECT id FROM entries WHERE status = 'unknown' AND updated_at < $1 \
             ORDER BY updated_at LIMIT $5) AND status = 'unknown' RETURNING id, session_id")
            .bind(before.millis()).bind(error_code).bind(note).bind(now.millis()).bind(limit)
            .fetch_all(c).await)?,
        )
    }

    /// An operator marks an `unknown` outbound entry failed. `false` when it is not unknown.
    pub async fn fail_unknown(
        &self,
        entry_id: Uuid,
        error_code: &str,
        note: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let done = on_backend!(self, write c => sqlx::query(
            "UPDATE entries SET status = 'failed', error_code = $2, provider_error = $3, updated_at = $4 \
             WHERE id = $1 AND status = 'unknown' AND direction = 'outbound'")
            .bind(entry_id).bind(error_code).bind(note).bind(now.millis())
            .execute(c).await.map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    /// An operator resends an `unknown` or `failed` outbound entry: back to `queued` (the
    /// error code cleared, the note kept) with a new send job, in one transaction. `false`, and
    /// nothing written, when the entry is in another state.
    pub async fn requeue_entry(&self, requeue: &Requeue, now: Timestamp) -> Result<bool> {
        let at = now.millis();
        let Requeue {
            entry_id,
            note,
            job,
        } = requeue;
        on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            let done = sqlx::query(
                "UPDATE entries SET status = 'queued', error_code = NULL, provider_error = $2, updated_at = $3 \
                 WHERE id = $1 AND status IN ('unknown', 'failed') AND direction = 'outbound'")
                .bind(entry_id).bind(note).bind(at)
                .execute(&mut *tx).await?.rows_affected();
            if done == 0 {
                return Ok(false);
            }
            sqlx::query(
                "INSERT INTO jobs (id, queue, kind, payload, state, priority, due_at, attempts, \
                 max_attempts, dedupe_key, created_at, updated_at, group_key) \
                 VALUES ($1, $2, $3, $4, 'ready', $5, $6, 0, $7, $8, $9, $9, $10)")
                .bind(parley_core::new_id()).bind(&job.queue).bind(&job.kind).bind(&job.payload)
                .bind(job.priority).bind(job.due_at.millis()).bind(job.max_attempts)
                .bind(&job.dedupe_key).bind(at).bind(&job.group_key)
                .execute(&mut *tx).await?;
            tx.commit().await
        })?;
        Ok(true)
    }
}

impl Store {
    /// The payload of the send job with dedupe key `key` (an entry's first send job is
    /// `send:{entry id}`), if it is still kept.
    pub async fn job_payload(&self, key: &str) -> Result<Option<String>> {
        Ok(on_backend!(self, read c => sqlx::query_scalar(
            "SELECT payload FROM jobs WHERE dedupe_key = $1")
            .bind(key).fetch_optional(c).await)?)
    }
}

/// A dead job of the outbound queue, as the unknown sweep reads it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeadSend {
    pub payload: String,
    pub last_error: Option<String>,
    #[sqlx(try_from = "i64")]
    pub updated_at: Timestamp,
}

impl Store {
    /// Dead jobs of `queue` that died at or after `since`, newest first, at most `limit`.
    pub async fn dead_jobs_since(
        &self,
        queue: &str,
        since: Timestamp,
        limit: i64,
    ) -> Result<Vec<DeadSend>> {
        Ok(on_backend!(self, read c => sqlx::query_as::<_, DeadSend>(
            "SELECT payload, last_error, updated_at FROM jobs \
             WHERE state = 'dead' AND updated_at >= $1 AND queue = $2 \
             ORDER BY updated_at DESC LIMIT $3")
            .bind(since.millis()).bind(queue).bind(limit).fetch_all(c).await)?)
    }

    /// A `queued` entry untouched since `not_after` (its send job died then) becomes `unknown`
    /// with `note`: whether it left is not known. `false` when the entry moved on meanwhile (sent,
    /// or queued again by an operator's resend).
    pub async fn queued_to_unknown(
        &self,
        entry_id: Uuid,
        note: &str,
        not_after: Timestamp,
        now: Timestamp,
    ) -> Result<bool> {
        let done = on_backend!(self, write c => sqlx::query(
            "UPDATE entries SET status = 'unknown', provider_error = $2, updated_at = $3 \
             WHERE id = $1 AND status = 'queued' AND direction = 'outbound' AND updated_at <= $4")
            .bind(entry_id).bind(note).bind(now.millis()).bind(not_after.millis())
            .execute(c).await.map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }
}
