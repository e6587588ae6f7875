//! The dispatcher's batch machinery: a whole claim of send jobs at once, and the sender leases
//! that make one node at a time drive each sender.
//!
//! # A batch
//!
//! [`Outbound::send_batch`] takes the jobs the runner claimed and:
//! 1. reads their entries, each joined with what its send needs of its session and messaging
//!    user, a query per chunk of ids (`Store::outbox_targets`), and the batch's channels in one
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
//! # Campaign chunks
//!
//! A campaign's messages come as chunk jobs (`campaign.send`, on the campaign queue and its own
//! runners): one job for up to a few hundred entries of one sender, so the job table is written
//! once per chunk rather than three times per message. A chunk's entries are sends of the batch
//! like any other; the chunk is settled done in the commit that holds its last verdict. An entry
//! that failed for a reason that should pass gets a send job of its own in that same commit
//! (the single-job retry path), a chunk whose sender another node drives is deferred whole, and
//! a chunk claimed again after a crash sends only its entries still `queued`.
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
use parley_core::consent::SendPurpose;
use parley_core::model::{EntryStatus, SessionStatus};
use parley_core::retry::{RetryDecision, RetryPolicy};
use parley_store::outbox::OutboxTarget;
use parley_store::outbox::{JobSettlement, Settle};
use parley_store::{Channel, Job, StoreError};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::Instrument as _;
use uuid::Uuid;

use crate::jobs::{self, CampaignChunk, JobKind, Queue, SendRequest, group_key};
use crate::outbound::verdict::{self, Target, send_span};
use crate::outbound::{self, Outbound};
use crate::runner::JobOutcome;

pub use crate::outbound::leases::{DEFAULT_SENDER_LEASE, SenderLeases};
pub use crate::outbound::rate::DEFAULT_CONCURRENCY;

/// What a claimed job comes to before any send.
enum JobPlan {
    /// Settled without a send: done, dead, deferred to another node, held.
    Settled(Settle, JobOutcome),
    /// Its campaign was cancelled after the claim: held, then withdrawn with the campaign's
    /// other messages no worker holds.
    Cancelled(Uuid),
    /// Its sends (one for a send job; a campaign chunk's entries still `queued`), and the
    /// verdicts reached without a send (an entry whose session, user or channel is gone: it
    /// fails rather than stay `queued`).
    Sends {
        failed: Vec<verdict::Verdict>,
        targets: Vec<Target>,
    },
}

/// What a claimed job asks for.
enum Request {
    Send(SendRequest),
    Chunk(CampaignChunk),
}

impl Request {
    fn parse(job: &Job) -> Result<Self, String> {
        if JobKind::parse(&job.kind) == JobKind::CampaignSend {
            serde_json::from_str(&job.payload)
                .map(Self::Chunk)
                .map_err(|e| format!("malformed campaign chunk: {e}"))
        } else {
            serde_json::from_str(&job.payload)
                .map(Self::Send)
                .map_err(|e| format!("malformed send request: {e}"))
        }
    }

    fn entries(&self) -> &[Uuid] {
        match self {
            Self::Send(r) => std::slice::from_ref(&r.entry_id),
            Self::Chunk(c) => &c.entries,
        }
    }

    fn campaign(&self) -> Option<Uuid> {
        match self {
            Self::Send(r) => r.campaign,
            Self::Chunk(c) => Some(c.campaign),
        }
    }
}

/// A claimed job whose sends are under way: it is settled in the commit that holds its last
/// verdict.
struct Open {
    id: Uuid,
    attempts: i64,
    /// A campaign chunk (done once every entry has its verdict), not a single send.
    chunk: Option<(Uuid, SendPurpose)>,
    pending: usize,
}

impl Open {
    /// One verdict of this job's: what the commit writes for it, and the job's settlement when it
    /// was the job's last. A chunk's entry that should be tried again gets a send job of its
    /// own (the chunk is done with the rest); a send job is retried as a whole.
    fn conclude(
        &mut self,
        mut verdict: verdict::Verdict,
        lease: String,
        now: Timestamp,
    ) -> (verdict::Verdict, Option<(JobSettlement, JobOutcome)>) {
        self.pending = self.pending.saturating_sub(1);
        let Some((campaign, purpose)) = self.chunk else {
            let settle = settle_for(&verdict.outcome, self.attempts, lease, now);
            let outcome = verdict.outcome.clone();
            return (
                verdict,
                Some((
                    JobSettlement {
                        id: self.id,
                        settle,
                    },
                    outcome,
                )),
            );
        };
        if let (JobOutcome::Retry(_), Some(write)) = (&verdict.outcome, verdict.write.as_mut()) {
            let due = match RetryPolicy::default().decide(1, rand::random::<f64>()) {
                RetryDecision::RetryAfter(d) => now.plus(d),
                RetryDecision::DeadLetter => now,
            };
            write.retry = Some(jobs::campaign_send_job(
                write.entry_id,
                purpose,
                campaign,
                group_key(campaign),
                due,
            ));
        }
        let done = JobSettlement {
            id: self.id,
            settle: Settle::Done,
        };
        let settled = (self.pending == 0).then_some((done, JobOutcome::Done));
        (verdict, settled)
    }
}

impl Outbound {
    /// Sends a claim of send jobs and campaign chunks as one batch (see the module docs). Jobs
    /// whose fate the batch's commit recorded are left out of the answer; the answer holds only
    /// the jobs the runner must record itself (when the commit failed, the jobs come back after
    /// their lease).
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
        let mut failed: Vec<(usize, verdict::Verdict)> = Vec::new();
        let mut open: Vec<Open> = Vec::with_capacity(jobs.len());
        let mut cancelled = HashSet::new();
        // Sends of one session leave in the order they were written (entry ids grow with time):
        // a bot's welcome before its question, a consent answer before the acknowledgment. Each
        // waits for the one before it in its session, before taking a permit, so waiting never
        // holds a slot another send needs.
        let mut spawns: Vec<(usize, Uuid, i64, bool, Target)> = Vec::new();
        for (index, (job, (plan, chunk))) in jobs.iter().zip(plans).enumerate() {
            let (verdicts, targets) = match plan {
                JobPlan::Cancelled(campaign) => {
                    cancelled.insert(campaign);
                    let reason = format!("its campaign is {}", CampaignState::Cancelled);
                    let settlement = JobSettlement {
                        id: job.id,
                        settle: Settle::Hold,
                    };
                    settled.push((settlement, JobOutcome::Retry(reason)));
                    (Vec::new(), Vec::new())
                }
                JobPlan::Settled(settle, outcome) => {
                    settled.push((JobSettlement { id: job.id, settle }, outcome));
                    (Vec::new(), Vec::new())
                }
                JobPlan::Sends { failed, targets } => (failed, targets),
            };
            // Every job has its slot, so a verdict's index always finds it.
            open.push(Open {
                id: job.id,
                attempts: job.attempts,
                chunk,
                pending: verdicts.len() + targets.len(),
            });
            failed.extend(verdicts.into_iter().map(|v| (index, v)));
            let bulk = chunk.is_some();
            let call_by = job
                .lease_until
                .map(|until| Timestamp(until).minus(outbound::CALL_MARGIN));
            for mut target in targets {
                target.call_by = call_by;
                spawns.push((index, job.id, job.attempts, bulk, target));
            }
        }
        spawns.sort_by_key(|(_, _, _, _, t)| t.entry.id);
        let mut before: HashMap<Uuid, tokio::sync::oneshot::Receiver<()>> = HashMap::new();
        for (index, job_id, attempts, bulk, target) in spawns {
            {
                let (out, limit) = (self.clone(), limit.clone());
                let span = send_span(job_id, attempts, &target);
                let (done, next) = tokio::sync::oneshot::channel::<()>();
                let previous = before.insert(target.session.id, next);
                set.spawn(
                    async move {
                        if let Some(previous) = previous {
                            // Closed when the previous send of the session was decided.
                            let _ = previous.await;
                        }
                        // The semaphore is never closed, so acquiring only waits. The permit
                        // is held until the verdict is committed: sent and not yet recorded
                        // counts as in flight, so a crash resends at most `concurrency`
                        // messages of this runner.
                        let permit = limit.acquire_owned().await.ok();
                        let lease = SenderLeases::name(target.channel.id);
                        let mut verdict = out.decide(&target).await;
                        drop(done);
                        // A campaign message in a marketing session of its own (ended, nobody
                        // holds it) concerns no console: announcing it would only make the feed
                        // read its session to find that out, a read per message.
                        verdict.announce &= !(bulk
                            && target.session.status == SessionStatus::Ended
                            && target.session.owner_id.is_none());
                        (index, lease, verdict, permit)
                    }
                    .instrument(span),
                );
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
            let mut verdicts = Vec::with_capacity(group.len() + failed.len());
            let mut permits = Vec::with_capacity(group.len());
            let now = self.clock().now();
            let concluded = failed
                .drain(..)
                .map(|(index, verdict)| (index, String::new(), verdict))
                .chain(group.into_iter().filter_map(|joined| match joined {
                    Ok((index, lease, verdict, permit)) => {
                        permits.push(permit);
                        Some((index, lease, verdict))
                    }
                    // A send that panicked leaves its job to lease recovery, which retries it
                    // (a chunk resends only its entries still queued).
                    Err(e) => {
                        tracing::error!(error = %e, "outbound send panicked");
                        None
                    }
                }));
            for (index, lease, verdict) in concluded.collect::<Vec<_>>() {
                let Some(job) = open.get_mut(index) else {
                    continue;
                };
                let (verdict, settled) = job.conclude(verdict, lease, now);
                verdicts.push(verdict);
                if let Some((settlement, outcome)) = settled {
                    settlements.push(settlement);
                    outcomes.push(outcome);
                }
            }
            self.commit_group(verdicts, &settlements, &outcomes, &worker)
                .await;
            drop(permits);
        }
        // Messages a cancel found on their way and this batch held: nothing will send them now.
        for campaign in cancelled {
            let now = self.clock().now();
            if let Err(e) = self.store().withdraw_campaign(campaign, now).await {
                tracing::warn!(campaign = %campaign, error = %e, "cancelled campaign's messages not withdrawn");
            }
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
            self.sender_usages(),
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
    /// node drives its sender. A campaign chunk's entries are read with the rest of the claim.
    async fn plan(
        &self,
        jobs: &[Job],
    ) -> Result<Vec<(JobPlan, Option<(Uuid, SendPurpose)>)>, StoreError> {
        let requests: Vec<Result<Request, String>> = jobs.iter().map(Request::parse).collect();
        let entry_ids: Vec<Uuid> = requests
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .flat_map(|r| r.entries().iter().copied())
            .collect();
        let targets: HashMap<Uuid, OutboxTarget> = self
            .store()
            .outbox_targets(&dedup(entry_ids))
            .await?
            .into_iter()
            .map(|t| (t.entry.id, t))
            .collect();
        // Channels are read with every batch (one small query for the batch's few senders)
        // rather than through the engine's few-seconds cache: a change made on any node
        // (credentials, rate, a channel removed) applies to the very next batch.
        let channel_ids = targets
            .values()
            .filter(|t| t.entry.status == EntryStatus::Queued)
            .filter_map(|t| t.session.as_ref().map(|s| s.channel_id))
            .collect();
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
            .filter_map(|r| r.as_ref().ok().and_then(Request::campaign))
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
        for target in targets.values() {
            let (Some(t), Some(s)) = (&target.entry.template, &target.session) else {
                continue;
            };
            let key = (s.channel_id, t.name.clone(), t.language.clone());
            if let std::collections::hash_map::Entry::Vacant(slot) = approved.entry(key) {
                let ok = outbound::template_approved(self.store(), s.channel_id, &target.entry);
                slot.insert(ok.await?);
            }
        }
        // Sender limits: this node's view of each held sender's usage (read when missing or
        // old), and which of the batch's customers each WhatsApp sender reached lately (one
        // query per sender).
        let now = self.clock().now();
        let mut reached: HashMap<Uuid, HashSet<Uuid>> = HashMap::new();
        for (id, channel) in &channels {
            if held.get(id) != Some(&true) {
                continue;
            }
            self.sender_usages().refresh(channel, now).await?;
            if channel.kind == parley_core::model::ChannelKind::Whatsapp {
                let users: Vec<Uuid> = targets
                    .values()
                    .filter(|t| t.session.as_ref().is_some_and(|s| s.channel_id == *id))
                    .filter_map(|t| t.user.as_ref().map(|u| u.id))
                    .collect();
                let found = self
                    .sender_usages()
                    .reached(channel, &dedup(users), now)
                    .await?;
                reached.insert(*id, found);
            }
        }
        let found = Found {
            targets: &targets,
            channels: &channels,
            held: &held,
            reached: &reached,
            approved: &approved,
        };

        let mut plans = Vec::with_capacity(jobs.len());
        for (job, request) in jobs.iter().zip(requests) {
            let request = match request {
                Ok(r) => r,
                Err(reason) => {
                    let dead = Settle::Dead {
                        error: reason.clone(),
                    };
                    plans.push((JobPlan::Settled(dead, JobOutcome::Permanent(reason)), None));
                    continue;
                }
            };
            let campaign = request
                .campaign()
                .and_then(|c| campaigns.get(&c).map(|state| (c, *state)));
            match campaign {
                Some((_, CampaignState::Paused)) => {
                    let reason = format!("its campaign is {}", CampaignState::Paused);
                    plans.push((
                        JobPlan::Settled(Settle::Hold, JobOutcome::Retry(reason)),
                        None,
                    ));
                    continue;
                }
                Some((id, CampaignState::Cancelled)) => {
                    plans.push((JobPlan::Cancelled(id), None));
                    continue;
                }
                _ => {}
            }
            plans.push(match request {
                Request::Send(r) => (found.send(&r, jobs::is_last_attempt(job)), None),
                Request::Chunk(c) => (found.chunk(&c), Some((c.campaign, c.purpose))),
            });
        }
        Ok(plans)
    }
}

/// What a batch read for its jobs.
struct Found<'a> {
    targets: &'a HashMap<Uuid, OutboxTarget>,
    channels: &'a HashMap<Uuid, Arc<Channel>>,
    /// Whether this node drives each sender.
    held: &'a HashMap<Uuid, bool>,
    /// Per WhatsApp sender, the batch's customers it reached in the last 24 hours.
    reached: &'a HashMap<Uuid, HashSet<Uuid>>,
    approved: &'a HashMap<(Uuid, String, String), bool>,
}

/// What becomes of one entry of a job.
enum Reached {
    /// Not `queued` any more: sent already (a retry after a crash between the provider and the
    /// commit).
    Sent,
    /// The entry no longer exists.
    Gone,
    /// Its session, messaging user or channel is gone: it fails.
    Unreachable(Box<verdict::Verdict>),
    /// Its sender is driven by another node.
    Elsewhere(Uuid),
    Send(Box<Target>),
}

impl Found<'_> {
    fn reach(
        &self,
        entry_id: Uuid,
        purpose: SendPurpose,
        last_attempt: bool,
        released: bool,
    ) -> Reached {
        let Some(found) = self.targets.get(&entry_id) else {
            return Reached::Gone;
        };
        let entry = &found.entry;
        if entry.status != EntryStatus::Queued {
            return Reached::Sent;
        }
        // The entry is there but what it goes through is not: it fails (nothing stays `queued`
        // behind a dead job), and a send job is dead-lettered for the operator.
        let unreachable = |entity: &str| {
            let reason = format!("not sent: the {entity} of this message no longer exists");
            Reached::Unreachable(Box::new(
                outbound::fail(entry, parley_core::ErrorCode::ChannelUnavailable, &reason)
                    .with_outcome(JobOutcome::Permanent(reason)),
            ))
        };
        let Some(session) = &found.session else {
            return unreachable("session");
        };
        let Some(user) = &found.user else {
            return unreachable("messaging user");
        };
        let Some(channel) = self.channels.get(&session.channel_id) else {
            return unreachable("channel");
        };
        if self.held.get(&channel.id) != Some(&true) {
            return Reached::Elsewhere(channel.id);
        }
        let template_approved = entry.template.as_ref().is_none_or(|t| {
            self.approved
                .get(&(session.channel_id, t.name.clone(), t.language.clone()))
                .copied()
                .unwrap_or(false)
        });
        Reached::Send(Box::new(Target {
            entry: entry.clone(),
            session: session.clone(),
            user: user.clone(),
            channel: channel.clone(),
            purpose,
            last_attempt,
            template_approved,
            call_by: None,
            released,
            already_reached: self
                .reached
                .get(&channel.id)
                .is_some_and(|users| users.contains(&user.id)),
        }))
    }

    /// A send job's plan.
    fn send(&self, request: &SendRequest, last_attempt: bool) -> JobPlan {
        match self.reach(
            request.entry_id,
            request.purpose,
            last_attempt,
            request.released,
        ) {
            Reached::Sent => JobPlan::Settled(Settle::Done, JobOutcome::Done),
            Reached::Gone => {
                let reason = format!("entry {} no longer exists", request.entry_id);
                JobPlan::Settled(
                    Settle::Dead {
                        error: reason.clone(),
                    },
                    JobOutcome::Permanent(reason),
                )
            }
            Reached::Unreachable(verdict) => JobPlan::Sends {
                failed: vec![*verdict],
                targets: Vec::new(),
            },
            Reached::Elsewhere(channel) => deferred(channel),
            Reached::Send(target) => JobPlan::Sends {
                failed: Vec::new(),
                targets: vec![*target],
            },
        }
    }

    /// A campaign chunk's plan: its entries still `queued` (a chunk claimed again after a crash
    /// resends only what was in flight), the chunk deferred whole when another node drives its
    /// sender. A chunk's send is never its last attempt: one that should be tried again gets a
    /// send job of its own.
    fn chunk(&self, chunk: &CampaignChunk) -> JobPlan {
        let mut failed = Vec::new();
        let mut targets = Vec::with_capacity(chunk.entries.len());
        for id in &chunk.entries {
            match self.reach(*id, chunk.purpose, false, false) {
                Reached::Sent | Reached::Gone => {}
                Reached::Unreachable(verdict) => {
                    failed.push(verdict.with_outcome(JobOutcome::Done));
                }
                Reached::Elsewhere(channel) => return deferred(channel),
                Reached::Send(target) => targets.push(*target),
            }
        }
        if failed.is_empty() && targets.is_empty() {
            return JobPlan::Settled(Settle::Done, JobOutcome::Done);
        }
        JobPlan::Sends { failed, targets }
    }
}

/// Not attempted here: the job goes to the node that holds its sender's lease.
fn deferred(channel: Uuid) -> JobPlan {
    let partition = SenderLeases::name(channel);
    let reason = format!("{partition} is held by another node");
    JobPlan::Settled(Settle::Defer { partition }, JobOutcome::Retry(reason))
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
