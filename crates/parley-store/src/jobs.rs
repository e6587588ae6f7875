//! The durable job queue behind timers, inbound processing and the outbox.
//!
//! A job is claimed by setting it `running` with a lease (a time after which it counts as
//! abandoned) and the claimer's name; completing or failing it only takes effect while the same
//! claimer still holds it. Claims, completions and enqueues are batched so one statement moves many
//! jobs. On PostgreSQL several runners claim concurrently with `FOR UPDATE SKIP LOCKED`; on SQLite
//! the single writer connection serialises claims, so no job is ever handed to two runners at once.

use std::time::Duration;

use parley_core::{Timestamp, new_id};
use uuid::Uuid;

use crate::config::placeholders;
use crate::records::{Job, NewJob};
use crate::{Backend, Result, Store, StoreError, on_backend};

/// Rows per statement or transaction: under PostgreSQL's parameter limit.
const CHUNK: usize = 1000;

/// One job, skipped when its dedupe key is taken.
pub(crate) const INSERT_JOB: &str = "INSERT INTO jobs (id, queue, kind, payload, state, priority, due_at, \
    attempts, max_attempts, dedupe_key, created_at, updated_at, group_key) \
    VALUES ($1, $2, $3, $4, 'ready', $5, $6, 0, $7, $8, $9, $9, $10) ON CONFLICT (dedupe_key) DO NOTHING";

/// What a runner asks for when it claims work.
#[derive(Debug, Clone, Copy)]
pub struct ClaimRequest<'a> {
    pub queue: &'a str,
    pub worker: &'a str,
    pub limit: u32,
    pub lease: Duration,
    pub now: Timestamp,
}

/// A failed attempt: retry at `retry_at`, or dead-letter the job when `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct JobFailure {
    pub id: Uuid,
    pub error: String,
    pub retry_at: Option<Timestamp>,
}

/// How many jobs of a queue are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueCounts {
    pub ready: i64,
    pub running: i64,
    pub done: i64,
    pub dead: i64,
    /// Set aside by a paused campaign: not pending (nothing will run them until it resumes).
    pub held: i64,
}

impl Store {
    /// Enqueues one job. Returns `None` when a job with the same dedupe key already exists (in any
    /// state, until finished jobs are purged), so a provider retry cannot create a second job.
    pub async fn enqueue(&self, job: &NewJob, now: Timestamp) -> Result<Option<Uuid>> {
        let ids = self.enqueue_many(std::slice::from_ref(job), now).await?;
        Ok(ids.into_iter().next().flatten())
    }

    /// Enqueues jobs in one transaction per chunk. The result has one slot per job, `None` for
    /// those a dedupe key suppressed.
    ///
    /// PostgreSQL gets multi-row inserts (one round trip per chunk). SQLite gets one prepared
    /// single-row insert run per job inside the transaction: it is in-process, so the per-row
    /// cost is the statement itself, while binding thousands of numbered parameters to one
    /// statement costs time quadratic in their count.
    pub async fn enqueue_many(&self, jobs: &[NewJob], now: Timestamp) -> Result<Vec<Option<Uuid>>> {
        let mut out = Vec::with_capacity(jobs.len());
        for chunk in jobs.chunks(CHUNK) {
            let ids: Vec<Uuid> = chunk.iter().map(|_| new_id()).collect();
            let inserted: std::collections::HashSet<Uuid> = match &self.backend {
                Backend::Postgres(pool) => {
                    let mut sql = String::from(
                        "INSERT INTO jobs (id, queue, kind, payload, state, priority, due_at, attempts, \
                         max_attempts, dedupe_key, created_at, updated_at, group_key) VALUES ",
                    );
                    for i in 0..chunk.len() {
                        let b = i * 10;
                        if i > 0 {
                            sql.push_str(", ");
                        }
                        sql.push_str(&format!(
                            "(${}, ${}, ${}, ${}, 'ready', ${}, ${}, 0, ${}, ${}, ${}, ${}, ${})",
                            b + 1,
                            b + 2,
                            b + 3,
                            b + 4,
                            b + 5,
                            b + 6,
                            b + 7,
                            b + 8,
                            b + 9,
                            b + 9,
                            b + 10
                        ));
                    }
                    sql.push_str(" ON CONFLICT (dedupe_key) DO NOTHING RETURNING id");
                    let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
                    for (job, id) in chunk.iter().zip(&ids) {
                        q = q
                            .bind(*id)
                            .bind(&job.queue)
                            .bind(&job.kind)
                            .bind(self.seal_text(&job.payload))
                            .bind(job.priority)
                            .bind(job.due_at.millis())
                            .bind(job.max_attempts)
                            .bind(&job.dedupe_key)
                            .bind(now.millis())
                            .bind(&job.group_key);
                    }
                    let rows: Vec<Uuid> = q.fetch_all(pool).await?;
                    rows.into_iter().collect()
                }
                Backend::Sqlite { writer, .. } => {
                    let mut tx = writer.begin().await?;
                    let mut inserted = std::collections::HashSet::with_capacity(chunk.len());
                    for (job, id) in chunk.iter().zip(&ids) {
                        let done = sqlx::query(INSERT_JOB)
                            .bind(*id)
                            .bind(&job.queue)
                            .bind(&job.kind)
                            .bind(self.seal_text(&job.payload))
                            .bind(job.priority)
                            .bind(job.due_at.millis())
                            .bind(job.max_attempts)
                            .bind(&job.dedupe_key)
                            .bind(now.millis())
                            .bind(&job.group_key)
                            .execute(&mut *tx)
                            .await?;
                        if done.rows_affected() > 0 {
                            inserted.insert(*id);
                        }
                    }
                    tx.commit().await?;
                    inserted
                }
            };
            out.extend(
                ids.into_iter()
                    .map(|id| inserted.contains(&id).then_some(id)),
            );
        }
        Ok(out)
    }

    /// Claims up to `limit` due jobs of a queue, highest priority then earliest due first,
    /// whatever their partition.
    pub async fn claim_jobs(&self, req: ClaimRequest<'_>) -> Result<Vec<Job>> {
        self.claim_jobs_in(req, None).await
    }

    /// Claims like [`Store::claim_jobs`], but with `partitions` only jobs without a partition key
    /// and jobs whose key is one of `partitions` (the leases this node holds): a job waiting for
    /// another node's lease is never claimed here, so it is not picked up and put back in a loop.
    pub async fn claim_jobs_in(
        &self,
        req: ClaimRequest<'_>,
        partitions: Option<&[String]>,
    ) -> Result<Vec<Job>> {
        let lease_until = req.now.plus(req.lease).millis();
        let limit = i64::from(req.limit.max(1));
        let jobs = match &self.backend {
            Backend::Postgres(pool) => {
                let filter = match partitions {
                    None => "",
                    Some(_) => " AND (partition_key IS NULL OR partition_key = ANY($6))",
                };
                let sql = format!(
                    // The locking CTE runs once, so the LIMIT holds under concurrency (an IN
                    // subquery may be re-evaluated by the planner).
                    "WITH picked AS (SELECT id FROM jobs WHERE queue = $4 AND state = 'ready' AND due_at <= $3{filter} \
                     ORDER BY priority DESC, due_at LIMIT $5 FOR UPDATE SKIP LOCKED) \
                     UPDATE jobs SET state = 'running', attempts = jobs.attempts + 1, lease_until = $1, \
                     leased_by = $2, updated_at = $3 FROM picked WHERE jobs.id = picked.id RETURNING jobs.*"
                );
                let mut q = sqlx::query_as::<_, Job>(sqlx::AssertSqlSafe(sql))
                    .bind(lease_until)
                    .bind(req.worker)
                    .bind(req.now.millis())
                    .bind(req.queue)
                    .bind(limit);
                if let Some(p) = partitions {
                    q = q.bind(p.to_vec());
                }
                q.fetch_all(pool).await?
            }
            // One writer connection: the subquery and the update run as one statement on it, and
            // no other claimer can interleave.
            Backend::Sqlite { writer, .. } => {
                let filter = partition_filter(6, partitions);
                let sql = format!(
                    "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_until = $1, \
                     leased_by = $2, updated_at = $3 \
                     WHERE id IN (SELECT id FROM jobs WHERE queue = $4 AND state = 'ready' AND due_at <= $3{filter} \
                     ORDER BY priority DESC, due_at LIMIT $5) RETURNING *"
                );
                let mut q = sqlx::query_as::<_, Job>(sqlx::AssertSqlSafe(sql))
                    .bind(lease_until)
                    .bind(req.worker)
                    .bind(req.now.millis())
                    .bind(req.queue)
                    .bind(limit);
                for p in partitions.unwrap_or_default() {
                    q = q.bind(p);
                }
                q.fetch_all(writer).await?
            }
        };
        self.open_jobs(jobs)
    }

    /// Job payloads are sealed (an inbound job carries the customer's raw message).
    fn open_jobs(&self, jobs: Vec<Job>) -> Result<Vec<Job>> {
        jobs.into_iter()
            .map(|mut j| {
                j.payload = self.open_text(&j.payload)?;
                Ok(j)
            })
            .collect()
    }

    /// The partition keys that ready jobs of a queue wait for: the leases some node must hold
    /// for them to run (a node looks here for leases to take over once they expire).
    pub async fn waiting_partitions(&self, queue: &str) -> Result<Vec<String>> {
        Ok(on_backend!(self, read c => sqlx::query_scalar(
            "SELECT DISTINCT partition_key FROM jobs WHERE queue = $1 AND state = 'ready' \
             AND partition_key IS NOT NULL")
            .bind(queue).fetch_all(c).await)?)
    }

    /// Marks jobs done. Jobs this worker no longer holds (its lease ran out and another runner
    /// took them) are left alone; the count says how many were completed.
    pub async fn complete_jobs(&self, worker: &str, ids: &[Uuid], now: Timestamp) -> Result<u64> {
        let mut total = 0;
        for chunk in ids.chunks(CHUNK) {
            let sql = format!(
                "UPDATE jobs SET state = 'done', lease_until = NULL, updated_at = $1 \
                 WHERE leased_by = $2 AND state = 'running' AND id IN ({})",
                placeholders(3, chunk.len())
            );
            let done = on_backend!(self, write c => {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.as_str())).bind(now.millis()).bind(worker);
                for id in chunk { q = q.bind(id); }
                q.execute(c).await.map(|r| r.rows_affected())
            })?;
            total += done;
        }
        Ok(total)
    }

    /// Records failed attempts: each job goes back to `ready` at its retry time, or to `dead`.
    pub async fn fail_jobs(
        &self,
        worker: &str,
        failures: &[JobFailure],
        now: Timestamp,
    ) -> Result<u64> {
        if failures.is_empty() {
            return Ok(0);
        }
        let total = on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            let mut total = 0;
            for f in failures {
                let (state, due) = match f.retry_at {
                    Some(t) => ("ready", Some(t.millis())),
                    None => ("dead", None),
                };
                let done = sqlx::query(
                    "UPDATE jobs SET state = $1, due_at = COALESCE($2, due_at), lease_until = NULL, \
                     last_error = $3, updated_at = $4 WHERE id = $5 AND leased_by = $6 AND state = 'running'")
                    .bind(state).bind(due).bind(&f.error).bind(now.millis()).bind(f.id).bind(worker)
                    .execute(&mut *tx).await?;
                total += done.rows_affected();
            }
            tx.commit().await.map(|()| total)
        })?;
        Ok(total)
    }

    /// Returns abandoned jobs (running past their lease, as after a crash) to `ready`, or to `dead`
    /// when they have used all their attempts. Returns how many were recovered.
    pub async fn recover_expired_leases(&self, now: Timestamp) -> Result<u64> {
        let done = on_backend!(self, write c => sqlx::query(
            "UPDATE jobs SET state = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'ready' END, \
             last_error = COALESCE(last_error, 'lease expired'), lease_until = NULL, updated_at = $1 \
             WHERE state = 'running' AND lease_until < $1")
            .bind(now.millis()).execute(c).await.map(|r| r.rows_affected()))?;
        Ok(done)
    }

    /// Deletes finished jobs last touched before `before`. Dedupe keys of purged jobs can be used
    /// again.
    pub async fn purge_finished_jobs(&self, before: Timestamp) -> Result<u64> {
        let done = on_backend!(self, write c => sqlx::query(
            "DELETE FROM jobs WHERE state = 'done' AND updated_at < $1")
            .bind(before.millis()).execute(c).await.map(|r| r.rows_affected()))?;
        Ok(done)
    }

    /// Whether the job with this dedupe key has yet to finish (ready, held or running): one read
    /// of the dedupe key's unique index. `false` when there is no such job.
    pub async fn job_unfinished(&self, dedupe_key: &str) -> Result<bool> {
        let state: Option<String> = on_backend!(self, read c => sqlx::query_scalar(
            "SELECT state FROM jobs WHERE dedupe_key = $1").bind(dedupe_key).fetch_optional(c).await)?;
        Ok(matches!(
            state.as_deref(),
            Some("ready" | "held" | "running")
        ))
    }

    pub async fn job(&self, id: Uuid) -> Result<Job> {
        let job = on_backend!(self, read c => sqlx::query_as::<_, Job>("SELECT * FROM jobs WHERE id = $1")
            .bind(id).fetch_optional(c).await)?
        .ok_or(StoreError::not_found("job"))?;
        let mut jobs = self.open_jobs(vec![job])?;
        jobs.pop().ok_or(StoreError::not_found("job"))
    }

    pub async fn queue_counts(&self, queue: &str) -> Result<QueueCounts> {
        let rows: Vec<(String, i64)> = on_backend!(self, read c => sqlx::query_as(
            "SELECT state, COUNT(*) FROM jobs WHERE queue = $1 GROUP BY state")
            .bind(queue).fetch_all(c).await)?;
        let mut counts = QueueCounts::default();
        for (state, n) in rows {
            match state.as_str() {
                "ready" => counts.ready = n,
                "running" => counts.running = n,
                "done" => counts.done = n,
                "dead" => counts.dead = n,
                "held" => counts.held = n,
                other => return Err(StoreError::Corrupt(format!("unknown job state '{other}'"))),
            }
        }
        Ok(counts)
    }

    /// Jobs of a queue still to run (ready or running), counted through the partial indexes that
    /// cover only those states, so it stays cheap however many finished jobs the table holds.
    /// Held jobs are not counted: a paused campaign's sends wait for a person, not for a runner,
    /// and a drain or a benchmark waiting on them would wait forever.
    pub async fn pending_jobs(&self, queue: &str) -> Result<i64> {
        Ok(on_backend!(self, read c => sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM jobs WHERE queue = $1 AND state = 'ready') \
             + (SELECT COUNT(*) FROM jobs WHERE state = 'running' AND queue = $1)")
            .bind(queue).fetch_one(c).await)?)
    }

    /// Whether any job of a queue is still to run (ready or running; not held, as
    /// [`Store::pending_jobs`]). Stops at the first one found, so it costs the same with one job
    /// waiting or a million.
    pub async fn has_pending_jobs(&self, queue: &str) -> Result<bool> {
        Ok(on_backend!(self, read c => sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM jobs WHERE queue = $1 AND state = 'ready') \
             OR EXISTS (SELECT 1 FROM jobs WHERE state = 'running' AND queue = $1)")
            .bind(queue).fetch_one(c).await)?)
    }

    /// When the earliest ready job of a queue is due, so an idle runner knows how long to wait.
    pub async fn next_due(&self, queue: &str) -> Result<Option<Timestamp>> {
        self.next_due_in(queue, None).await
    }

    /// Like [`Store::next_due`], among the jobs [`Store::claim_jobs_in`] would claim with
    /// `partitions`: jobs waiting for another node's lease do not wake this runner.
    pub async fn next_due_in(
        &self,
        queue: &str,
        partitions: Option<&[String]>,
    ) -> Result<Option<Timestamp>> {
        let sql = format!(
            "SELECT MIN(due_at) FROM jobs WHERE queue = $1 AND state = 'ready'{}",
            partition_filter(2, partitions)
        );
        let due: Option<i64> = on_backend!(self, read c => {
            let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.as_str())).bind(queue);
            for p in partitions.unwrap_or_default() {
                q = q.bind(p);
            }
            q.fetch_one(c).await
        })?;
        Ok(due.map(Timestamp))
    }
}

/// The claim filter for `partitions` with numbered parameters from `start` (one per key: a node
/// holds a handful of leases, far below where SQLite's parameter binding gets slow).
fn partition_filter(start: usize, partitions: Option<&[String]>) -> String {
    match partitions {
        None => String::new(),
        Some([]) => " AND partition_key IS NULL".to_owned(),
        Some(p) => format!(
            " AND (partition_key IS NULL OR partition_key IN ({}))",
            placeholders(start, p.len())
        ),
    }
}
