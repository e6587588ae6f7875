//! The dispatcher's batch machinery: a whole claim of send jobs at once, and the sender leases
//! that make one node at a time drive each sender.
//!
//! # A batch
//!
//! [`Outbound::send_batch`] takes the jobs the runner claimed and:
//! 1. reads their entries, then those entries' sessions, then the sessions' messaging users, a
//!    query per chunk of ids each (the store's `outbox_*` reads), and the batch's channels in one
//!    more. An entry no longer `queued` was sent already (a crash between
//!    the provider and the commit, then a retry): its job is simply done;
//! 2. makes sure this node holds each sender's lease (below), deferring the jobs of senders it
//!    does not hold;
//! 3. decides every send concurrently, at most [`Outbound::with_concurrency`] provider calls in
//!    flight, each waiting for its own sender's rate limiter (per SMS segment), so a slow or
//!    throttled sender does not stop the others' calls. Replies go before bulk because the
//!    runner claims by priority;
//! 4. commits the verdicts as they arrive, in groups: it waits for the next finished send, takes
//!    every other send finished by then, and writes their entry changes, 21610 opt-outs and job
//!    settlements (done, retry at its backoff, dead, deferred; the jobs settled without a send
//!    are committed first, at once) in one transaction (`Store::commit_outbox`), then publishes the
//!    events, while the batch's other sends go on. A commit never waits for a send that has not
//!    finished. No transaction is open and no lock is held during a provider call.
//!
//! A crash leaves the jobs whose group was not committed to come back after their lease with
//! their entries still `queued`: the messages in flight at that moment, and those answered since
//! the last group's commit (at most one commit's time), are resent once. Everything committed
//! before stays done (see `docs/delivery.md`). A failed commit is logged and leaves its jobs to
//! lease recovery the same way.
//!
//! # Sender leases and partitioned claims
//!
//! Each sender (channel) is driven by the node holding the lease `sender:{channel id}` in the
//! store's generic `leases` table. A node takes a sender's lease when a batch first needs it
//! (or, once expired, from the background maintenance), renews what it holds every third of the
//! TTL, and stops sending for a sender whose lease it lost.
//!
//! Jobs of a sender leased by another live node must wait for that node without being claimed
//! and put back over and over. The job table has a `partition_key`, and a runner claims only
//! jobs whose key is empty or is one of the leases its node holds (`Store::claim_jobs_in`):
//! - a send job is enqueued with no key (whoever enqueues it need not know about leases, and on
//!   one node nothing more ever happens);
//! - when a node claims a job of a sender leased elsewhere, it stamps the sender's lease name on
//!   it and puts it back unattempted (`Settle::Defer`) in its batch's commit. From then on only
//!   the lease holder claims it: each job is deferred at most once, never bounced in a loop;
//! - retried jobs keep their sender's key too, so a retry comes back to the sender's node;
//! - when a holder dies, its lease expires after the TTL; the other nodes' maintenance looks at
//!   the keys ready jobs wait for (`Store::waiting_partitions`), takes the expired lease over,
//!   and from then on claims those jobs. Its running jobs come back by the job lease as before.
//!
//! Why not an advisory lock per sender, or a claim that joins jobs to entries and sessions:
//! advisory locks are per connection (a pooled connection may be handed to another task, and
//! SQLite has none), and a join in the claim would make the hottest statement depend on the
//! payload's shape. The lease table works the same on both backends and is visible
//! (`lease_holder`). On SQLite (one process) the local node simply always gets every lease.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use parley_core::Timestamp;
use parley_core::campaign::CampaignState;
use parley_core::model::EntryStatus;
use parley_core::retry::{RetryDecision, RetryPolicy};
use parley_store::outbox::{JobSettlement, Settle};
use parley_store::{Channel, Entry, Job, MessagingUser, Session, StoreError};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::Instrument as _;
use uuid::Uuid;

use crate::jobs::{self, Queue, SendRequest};
use crate::outbound::verdict::{self, Target, send_span};
use crate::outbound::{self, Outbound};
use crate::runner::JobOutcome;

pub use crate::outbound::leases::{DEFAULT_SENDER_LEASE, SenderLeases};
pub use crate::outbound::rate::DEFAULT_CONCURRENCY;

/// A claimed job with what was found for it.
enum Plan {
    /// Settled without a send: done, dead, or deferred to another node.
    Settled(Settle, JobOutcome),
    /// Not sent, for good, with the entry failed (so it is not left `queued` behind a dead job).
    Failed(Box<verdict::Verdict>),
    Send(Box<Target>),
}

impl Outbound {
    /// Sends a claim of send jobs as one batch (see the module docs). Jobs whose fate the batch's
    /// commit recorded are left out of the answer; the answer holds only the jobs the runner
    /// must record itself (when the commit failed, the jobs come back after their lease).
    pub async fn send_batch(&self, jobs: Vec<Job>) -> Vec<(Uuid, JobOutcome)> {
        let Some(worker) = jobs.first().and_then(|j| j.leased_by.clone()) else {
            return Vec::new();
        };
        let plans = match self.plan(&jobs).await {
            Ok(p) => p,
            Err(e) => {
                // Nothing was sent: the runner retries the lot with its backoff.
                tracing::error!(error = %e, "outbound batch could not be read");
                return jobs
                    .iter()
                    .map(|j| (j.id, JobOutcome::Retry(e.to_string())))
                    .collect();
            }
        };

        let limit = Arc::new(Semaphore::new(self.concurrency));
        let mut set = JoinSet::new();
        let mut settled = Vec::new();
        let mut failed = Vec::new();
        for (job, plan) in jobs.iter().zip(plans) {
            match plan {
                Plan::Settled(settle, outcome) => {
                    settled.push((JobSettlement { id: job.id, settle }, outcome));
                }
                Plan::Failed(verdict) => {
                    let settle = settle_for(
                        &verdict.outcome,
                        job.attempts,
                        String::new(),
                        self.clock().now(),
                    );
                    settled.push((
                        JobSettlement { id: job.id, settle },
                        verdict.outcome.clone(),
                    ));
                    failed.push(*verdict);
                }
                Plan::Send(target) => {
                    let (out, limit) = (self.clone(), limit.clone());
                    let (id, attempts) = (job.id, job.attempts);
                    let span = send_span(id, attempts, &target);
                    set.spawn(
                        async move {
                            // The semaphore is never closed, so acquiring only waits. The
                            // permit is held until the verdict is committed: sent and not yet
                            // recorded counts as in flight, so a crash resends at most
                            // `concurrency` messages of this runner.
                            let permit = limit.acquire_owned().await.ok();
                            let lease = SenderLeases::name(target.channel.id);
                            (id, attempts, lease, out.decide(&target).await, permit)
                        }
                        .instrument(span),
                    );
                }
            }
        }
        // Verdicts are committed as they come: wait for the next finished send, take every other
        // one finished meanwhile, commit that group while the rest go on. A crash then resends
        // only what was in flight or finished since the last commit, never the whole batch.
        loop {
            let mut group = Vec::new();
            // Jobs settled without a send (deferred to another node, say) are committed at
            // once rather than held until the first send finishes.
            if settled.is_empty() && failed.is_empty() {
                let Some(first) = set.join_next().await else {
                    break;
                };
                group.push(first);
            }
            while let Some(more) = set.try_join_next() {
                group.push(more);
            }
            let mut settlements = Vec::with_capacity(group.len() + settled.len());
            let mut outcomes = Vec::with_capacity(group.len() + settled.len());
            for (settlement, outcome) in settled.drain(..) {
                outcomes.push(outcome);
                settlements.push(settlement);
            }
            let mut verdicts: Vec<verdict::Verdict> = std::mem::take(&mut failed);
            let mut permits = Vec::with_capacity(group.len());
            for joined in group {
                match joined {
                    Ok((id, attempts, lease, verdict, permit)) => {
                        permits.push(permit);
                        let settle =
                            settle_for(&verdict.outcome, attempts, lease, self.clock().now());
                        settlements.push(JobSettlement { id, settle });
                        outcomes.push(verdict.outcome.clone());
                        verdicts.push(verdict);
                    }
                    // A send that panicked leaves its job to lease recovery, which retries it.
                    Err(e) => tracing::error!(error = %e, "outbound send panicked"),
                }
            }
            self.commit_group(verdicts, &settlements, &outcomes, &worker)
                .await;
            drop(permits);
        }
        Vec::new()
    }

    /// Commits one group of a batch's verdicts with their jobs' settlements.
    async fn commit_group(
        &self,
        verdicts: Vec<verdict::Verdict>,
        settlements: &[JobSettlement],
        outcomes: &[JobOutcome],
        worker: &str,
    ) {
        if settlements.is_empty() && verdicts.is_empty() {
            return;
        }
        let now = self.clock().now();
        let committed = verdict::commit(
            self.store(),
            self.events(),
            now,
            verdicts,
            settlements,
            worker,
        );
        match committed.await {
            Ok(_) => {
                let done = outcomes.iter().filter(|o| **o == JobOutcome::Done).count();
                metrics::counter!("parley_jobs_completed_total", "queue" => Queue::Outbound.as_str())
                    .increment(done as u64);
                metrics::counter!("parley_jobs_failed_total", "queue" => Queue::Outbound.as_str())
                    .increment((outcomes.len() - done) as u64);
            }
            Err(e) => {
                // The sends happened but are not recorded: the jobs come back after their lease
                // and find their entries still queued (the window documented above).
                tracing::error!(error = %e, jobs = outcomes.len(), "outbound group not recorded");
            }
        }
    }

    /// Step 1 and 2 of a batch: what each job needs, read in a few queries, and whether this
    /// node drives its sender.
    async fn plan(&self, jobs: &[Job]) -> Result<Vec<Plan>, StoreError> {
        let requests: Vec<Result<SendRequest, String>> = jobs
            .iter()
            .map(|j| {
                serde_json::from_str::<SendRequest>(&j.payload)
                    .map_err(|e| format!("malformed send request: {e}"))
            })
            .collect();
        let entry_ids: Vec<Uuid> = requests
            .iter()
            .filter_map(|r| r.as_ref().ok().map(|r| r.entry_id))
            .collect();
        let entries: HashMap<Uuid, Entry> = self
            .store()
            .outbox_entries(&dedup(entry_ids))
            .await?
            .into_iter()
            .map(|e| (e.id, e))
            .collect();
        let session_ids = entries
            .values()
            .filter(|e| e.status == EntryStatus::Queued)
            .map(|e| e.session_id)
            .collect();
        let sessions: HashMap<Uuid, Session> = self
            .store()
            .sessions_by_ids(&dedup(session_ids))
            .await?
            .into_iter()
            .map(|s| (s.id, s))
            .collect();
        let user_ids = sessions.values().map(|s| s.messaging_user_id).collect();
        let users: HashMap<Uuid, MessagingUser> = self
            .store()
            .outbox_users(&dedup(user_ids))
            .await?
            .into_iter()
            .map(|u| (u.id, u))
            .collect();
        // Channels are read with every batch (one small query for the batch's few senders)
        // rather than through the engine's few-seconds cache: a change made on any node
        // (credentials, rate, a channel removed) applies to the very next batch.
        let channel_ids = sessions.values().map(|s| s.channel_id).collect();
        let channels: HashMap<Uuid, Arc<Channel>> = self
            .store()
            .outbox_channels(&dedup(channel_ids))
            .await?
            .into_iter()
            .map(|c| (c.id, Arc::new(c)))
            .collect();
        // A paused or cancelled campaign's messages are held, not sent: the pause held the
        // ready ones, these were claimed just before it.
        let campaign_ids: Vec<Uuid> = requests
            .iter()
            .filter_map(|r| r.as_ref().ok().and_then(|r| r.campaign))
            .collect();
        let campaigns = if campaign_ids.is_empty() {
            HashMap::new()
        } else {
            self.store().campaign_states(&dedup(campaign_ids)).await?
        };
        let mut held: HashMap<Uuid, bool> = HashMap::with_capacity(channels.len());
        for id in channels.keys() {
            held.insert(*id, self.leases.hold(&SenderLeases::name(*id)).await?);
        }

        // Templates are checked at send time too: one read per template in the batch.
        let mut approved: HashMap<(Uuid, String, String), bool> = HashMap::new();
        for e in entries.values() {
            let (Some(t), Some(s)) = (&e.template, sessions.get(&e.session_id)) else {
                continue;
            };
            let key = (s.channel_id, t.name.clone(), t.language.clone());
            if let std::collections::hash_map::Entry::Vacant(slot) = approved.entry(key) {
                slot.insert(outbound::template_approved(self.store(), s.channel_id, e).await?);
            }
        }

        let mut plans = Vec::with_capacity(jobs.len());
        for (job, request) in jobs.iter().zip(requests) {
            let gone = |entity: &str, entry: Uuid| {
                let reason = format!("{entity} of entry {entry} no longer exists");
                Plan::Settled(
                    Settle::Dead {
                        error: reason.clone(),
                    },
                    JobOutcome::Permanent(reason),
                )
            };
            // The entry is there but what it goes through is not: it fails (nothing stays
            // `queued` behind a dead job), and the job is dead-lettered for the operator.
            let unreachable = |entity: &str, entry: &Entry| {
                let reason = format!("not sent: the {entity} of this message no longer exists");
                Plan::Failed(Box::new(
                    outbound::fail(entry, parley_core::ErrorCode::ChannelUnavailable, &reason)
                        .with_outcome(JobOutcome::Permanent(reason)),
                ))
            };
            let request = match request {
                Ok(r) => r,
                Err(reason) => {
                    plans.push(Plan::Settled(
                        Settle::Dead {
                            error: reason.clone(),
                        },
                        JobOutcome::Permanent(reason),
                    ));
                    continue;
                }
            };
            if let Some(state) = request.campaign.and_then(|c| campaigns.get(&c))
                && matches!(state, CampaignState::Paused | CampaignState::Cancelled)
            {
                plans.push(Plan::Settled(
                    Settle::Hold,
                    JobOutcome::Retry(format!("its campaign is {state}")),
                ));
                continue;
            }
            let Some(entry) = entries.get(&request.entry_id) else {
                plans.push(gone("entry", request.entry_id));
                continue;
            };
            if entry.status != EntryStatus::Queued {
                // Sent already (a retry after a crash between the provider and the commit).
                plans.push(Plan::Settled(Settle::Done, JobOutcome::Done));
                continue;
            }
            let Some(session) = sessions.get(&entry.session_id) else {
                plans.push(unreachable("session", entry));
                continue;
            };
            let Some(user) = users.get(&session.messaging_user_id) else {
                plans.push(unreachable("messaging user", entry));
                continue;
            };
            let Some(channel) = channels.get(&session.channel_id) else {
                plans.push(unreachable("channel", entry));
                continue;
            };
            if held.get(&channel.id) != Some(&true) {
                let partition = SenderLeases::name(channel.id);
                let reason = format!("{partition} is held by another node");
                plans.push(Plan::Settled(
                    Settle::Defer { partition },
                    JobOutcome::Retry(reason),
                ));
                continue;
            }
            plans.push(Plan::Send(Box::new(Target {
                entry: entry.clone(),
                session: session.clone(),
                user: user.clone(),
                channel: channel.clone(),
                purpose: request.purpose,
                last_attempt: jobs::is_last_attempt(job),
                template_approved: entry.template.as_ref().is_none_or(|t| {
                    approved
                        .get(&(session.channel_id, t.name.clone(), t.language.clone()))
                        .copied()
                        .unwrap_or(false)
                }),
            })));
        }
        Ok(plans)
    }
}

/// What the commit does with a job after its send: the runner's retry policy decides when a
/// retry comes back (the same policy the engine's runners use), and a retry keeps its sender's
/// partition so it comes back to the sender's node.
fn settle_for(outcome: &JobOutcome, attempts: i64, lease: String, now: Timestamp) -> Settle {
    match outcome {
        JobOutcome::Done => Settle::Done,
        JobOutcome::Permanent(error) => Settle::Dead {
            error: error.clone(),
        },
        JobOutcome::Retry(error) => {
            let attempt = u32::try_from(attempts).unwrap_or(u32::MAX);
            match RetryPolicy::default().decide(attempt, rand::random::<f64>()) {
                RetryDecision::RetryAfter(d) => Settle::Retry {
                    at: now.plus(d),
                    error: error.clone(),
                    partition: Some(lease),
                },
                RetryDecision::DeadLetter => Settle::Dead {
                    error: error.clone(),
                },
            }
        }
    }
}

fn dedup(mut ids: Vec<Uuid>) -> Vec<Uuid> {
    let mut seen = HashSet::with_capacity(ids.len());
    ids.retain(|id| seen.insert(*id));
    ids
}
