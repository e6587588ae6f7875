//! The job runner: claims due jobs of one queue in batches, runs each with the handler registered
//! for its kind, and records the outcomes in batches. Failed attempts come back after the backoff
//! of [`RetryPolicy`]; jobs whose runner died are recovered when their lease runs out.
//!
//! Tracing: each claim runs in a `jobs` span (queue, worker, jobs claimed), each batch handler in
//! a `job_batch` span (kind, jobs) and each single job in a `job` span (job id, kind, attempt). The
//! per-job spans are at debug level, so a busy queue formats nothing for them unless asked
//! (`PARLEY_LOG=info,parley_engine=debug`); the pipelines add their own spans per message inside.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use parley_core::Clock;
use parley_core::retry::{RetryDecision, RetryPolicy};
use parley_store::{ClaimRequest, Job, JobFailure, Store, StoreError};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tracing::Instrument as _;
use uuid::Uuid;

use crate::jobs::JobKind;

/// What a handler says about one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    Done,
    /// Worth trying again later (a timeout, a 5xx, throttling).
    Retry(String),
    /// Will never succeed: dead-letter now.
    Permanent(String),
}

pub type HandlerFuture = Pin<Box<dyn Future<Output = JobOutcome> + Send>>;
/// Runs one job. Handlers must be idempotent: after a crash a job can run again.
pub type Handler = Arc<dyn Fn(Job) -> HandlerFuture + Send + Sync>;

/// The partitions (lease names) whose jobs this runner may claim, asked before every claim:
/// jobs with another partition key wait for the node holding that lease.
pub type PartitionFilter = Arc<dyn Fn() -> Vec<String> + Send + Sync>;

pub type BatchFuture = Pin<Box<dyn Future<Output = Vec<(Uuid, JobOutcome)>> + Send>>;
/// Runs every claimed job of its kind at once, so their database writes can share one
/// transaction. It answers an outcome per job id for the runner to record; a job it leaves out is
/// one it settled itself in that transaction (or, if it did not, one retried after its lease).
pub type BatchHandler = Arc<dyn Fn(Vec<Job>) -> BatchFuture + Send + Sync>;

#[derive(Debug, Clone)]
pub struct RunnerConfig {
    pub queue: String,
    /// This runner's name in leases; unique per process.
    pub worker: String,
    /// Jobs claimed per round trip.
    pub batch: u32,
    pub lease: Duration,
    /// How long an idle runner waits before looking again when nothing wakes it (work enqueued by
    /// another node, timers coming due).
    pub idle_poll: Duration,
    /// How often abandoned leases are looked for.
    pub recover_every: Duration,
    pub retry: RetryPolicy,
}

impl RunnerConfig {
    pub fn new(queue: impl Into<String>) -> Self {
        Self {
            queue: queue.into(),
            worker: format!("runner-{}", Uuid::now_v7()),
            batch: 256,
            lease: Duration::from_secs(60),
            idle_poll: Duration::from_millis(500),
            recover_every: Duration::from_secs(5),
            retry: RetryPolicy::default(),
        }
    }
}

/// A runner for one queue. Clone-free: share it behind an `Arc` if several tasks need it.
pub struct JobRunner {
    store: Store,
    clock: Arc<dyn Clock>,
    config: RunnerConfig,
    handlers: HashMap<JobKind, Handler>,
    batch_handlers: HashMap<JobKind, BatchHandler>,
    wake: Arc<Notify>,
    partitions: Option<PartitionFilter>,
}

impl std::fmt::Debug for JobRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobRunner")
            .field("config", &self.config)
            .field("kinds", &self.handlers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl JobRunner {
    pub fn new(store: Store, clock: Arc<dyn Clock>, config: RunnerConfig) -> Self {
        Self {
            store,
            clock,
            config,
            handlers: HashMap::new(),
            batch_handlers: HashMap::new(),
            wake: Arc::new(Notify::new()),
            partitions: None,
        }
    }

    /// Registers the handler for a job kind.
    pub fn handle<F, Fut>(mut self, kind: impl Into<JobKind>, f: F) -> Self
    where
        F: Fn(Job) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = JobOutcome> + Send + 'static,
    {
        self.handlers
            .insert(kind.into(), Arc::new(move |job| Box::pin(f(job))));
        self
    }

    /// Registers the batch handler for a job kind.
    pub fn handle_batch<F, Fut>(mut self, kind: impl Into<JobKind>, f: F) -> Self
    where
        F: Fn(Vec<Job>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<(Uuid, JobOutcome)>> + Send + 'static,
    {
        self.batch_handlers
            .insert(kind.into(), Arc::new(move |jobs| Box::pin(f(jobs))));
        self
    }

    /// Claims only jobs without a partition key or with one of the keys `filter` names (the
    /// leases this node holds); without it, every job of the queue.
    pub fn with_partitions(mut self, filter: PartitionFilter) -> Self {
        self.partitions = Some(filter);
        self
    }

    /// Shares a wake-up handle with whoever enqueues on this runner's queue.
    pub fn with_waker(mut self, wake: Arc<Notify>) -> Self {
        self.wake = wake;
        self
    }

    /// A handle that wakes this runner at once, for whoever enqueues on its queue.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    pub fn config(&self) -> &RunnerConfig {
        &self.config
    }

    /// Claims one batch of due jobs, runs them concurrently and records the outcomes. Returns how
    /// many jobs were claimed.
    pub async fn run_once(&self) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let partitions = self.partitions.as_ref().map(|f| f());
        let jobs = self
            .store
            .claim_jobs_in(
                ClaimRequest {
                    queue: &self.config.queue,
                    worker: &self.config.worker,
                    limit: self.config.batch,
                    lease: self.config.lease,
                    now,
                },
                partitions.as_deref(),
            )
            .await?;
        let claimed = jobs.len();
        if claimed == 0 {
            return Ok(0);
        }
        let round = tracing::info_span!(
            "jobs",
            queue = %self.config.queue,
            worker = %self.config.worker,
            claimed,
        );
        self.run_claimed(jobs).instrument(round).await?;
        Ok(claimed)
    }

    /// Runs a claim's jobs and records their outcomes.
    async fn run_claimed(&self, jobs: Vec<Job>) -> Result<(), StoreError> {
        let claimed = jobs.len();
        let mut set = JoinSet::new();
        let mut unknown = Vec::new();
        let mut batches: HashMap<JobKind, Vec<Job>> = HashMap::new();
        for job in jobs {
            let kind = JobKind::parse(&job.kind);
            if self.batch_handlers.contains_key(&kind) {
                batches.entry(kind).or_default().push(job);
                continue;
            }
            match self.handlers.get(&kind) {
                Some(h) => {
                    let h = h.clone();
                    let id = job.id;
                    let attempts = job.attempts;
                    let span = tracing::debug_span!(
                        "job",
                        job_id = %id,
                        kind = %job.kind,
                        attempt = attempts,
                    );
                    set.spawn(async move { vec![(id, attempts, h(job).await)] }.instrument(span));
                }
                None => unknown.push(JobFailure {
                    id: job.id,
                    error: format!("no handler for job kind '{}'", job.kind),
                    retry_at: None,
                }),
            }
        }
        for (kind, jobs) in batches {
            let Some(h) = self.batch_handlers.get(&kind).cloned() else {
                continue;
            };
            let attempts: HashMap<Uuid, i64> = jobs.iter().map(|j| (j.id, j.attempts)).collect();
            let span = tracing::info_span!("job_batch", kind = %kind, jobs = jobs.len());
            set.spawn(
                async move {
                    h(jobs)
                        .await
                        .into_iter()
                        .map(|(id, outcome)| (id, attempts.get(&id).copied().unwrap_or(1), outcome))
                        .collect::<Vec<_>>()
                }
                .instrument(span),
            );
        }
        let mut done = Vec::with_capacity(claimed);
        let mut failed = unknown;
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok(outcomes) => {
                    for (id, attempts, outcome) in outcomes {
                        self.record(id, attempts, outcome, &mut done, &mut failed);
                    }
                }
                // A handler that panicked leaves its jobs to lease recovery, which retries them.
                Err(e) => tracing::error!(error = %e, "job handler panicked"),
            }
        }
        let now = self.clock.now();
        self.store
            .complete_jobs(&self.config.worker, &done, now)
            .await?;
        self.store
            .fail_jobs(&self.config.worker, &failed, now)
            .await?;
        metrics::counter!("parley_jobs_completed_total", "queue" => self.config.queue.clone())
            .increment(done.len() as u64);
        metrics::counter!("parley_jobs_failed_total", "queue" => self.config.queue.clone())
            .increment(failed.len() as u64);
        Ok(())
    }

    fn record(
        &self,
        id: Uuid,
        attempts: i64,
        outcome: JobOutcome,
        done: &mut Vec<Uuid>,
        failed: &mut Vec<JobFailure>,
    ) {
        match outcome {
            JobOutcome::Done => done.push(id),
            JobOutcome::Retry(error) => {
                let attempt = u32::try_from(attempts).unwrap_or(u32::MAX);
                let retry_at = match self.config.retry.decide(attempt, rand::random::<f64>()) {
                    RetryDecision::RetryAfter(d) => Some(self.clock.now().plus(d)),
                    RetryDecision::DeadLetter => None,
                };
                failed.push(JobFailure {
                    id,
                    error,
                    retry_at,
                });
            }
            JobOutcome::Permanent(error) => failed.push(JobFailure {
                id,
                error,
                retry_at: None,
            }),
        }
    }

    /// Runs until `shutdown` turns true: batches back to back while there is work, otherwise
    /// waiting for a wake-up, the next due job, or the idle poll, whichever comes first.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut last_recover = None;
        loop {
            if *shutdown.borrow() {
                return;
            }
            let now = self.clock.now();
            let due_for_recovery = last_recover
                .is_none_or(|t: parley_core::Timestamp| now.since(t) >= self.config.recover_every);
            if due_for_recovery {
                match self.store.recover_expired_leases(now).await {
                    Ok(n) if n > 0 => {
                        tracing::warn!(queue = %self.config.queue, n, "recovered abandoned jobs")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "lease recovery failed"),
                }
                last_recover = Some(now);
            }
            let claimed = match self.run_once().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(queue = %self.config.queue, error = %e, "job round failed");
                    0
                }
            };
            if claimed > 0 {
                continue;
            }
            let partitions = self.partitions.as_ref().map(|f| f());
            let wait = match self
                .store
                .next_due_in(&self.config.queue, partitions.as_deref())
                .await
            {
                Ok(Some(due)) => due.since(self.clock.now()).min(self.config.idle_poll),
                _ => self.config.idle_poll,
            };
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}
