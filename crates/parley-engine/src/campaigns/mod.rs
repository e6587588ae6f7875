//! The campaign worker (issue 11): expands a started campaign into recipients in batches, each
//! batch one transaction through the same outbox as every other message, staying only a little
//! ahead of the dispatcher so that a pause holds little; starts scheduled campaigns when their
//! time comes; completes a campaign when its last message is settled.
//!
//! Decisions where the issue is silent:
//! - **One expander.** One node at a time expands (the lease `campaigns`, as senders are leased),
//!   so two nodes never race over a cursor; the unique `(campaign, address)` index is the
//!   backstop. Dispatch is spread over the nodes as for any message.
//! - **Look-ahead.** The expansion keeps at most [`LOOKAHEAD`] of the campaign's messages
//!   waiting for the dispatcher, in chunk jobs of at most [`CHUNK`] entries of one sender each
//!   (one job row per chunk, not per message; the dispatcher sends a chunk's entries as a batch
//!   and a message that fails for a passing reason gets a send job of its own). A pause then holds at most that many jobs, a cancel withdraws at
//!   most that many entries, and rules applied at expansion (consent, window) are never more than
//!   a few seconds old when the message goes. The dispatcher applies consent again anyway.
//! - **Where the message lives.** In the recipient's open session on the sender when there is one
//!   (SE-18), as an entry with no transition (like a notification); otherwise in a marketing
//!   session of its own, in the recipient's conversation, already ended: nobody waits on it, it
//!   blocks no agent from starting a conversation (SE-10), and the customer's reply opens a new
//!   session as any first message does, with the campaign message above it in the conversation.

pub mod expand;
pub mod limits;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parley_core::Clock;
use parley_core::campaign::CampaignState;
use parley_core::campaign::state::CampaignAction;
use parley_store::{Store, StoreError};
use tokio::sync::{Mutex, Notify, watch};
use uuid::Uuid;

use crate::events::EventBus;
use crate::outbound::leases::SenderLeases;

pub use expand::{BATCH, CHUNK, LOOKAHEAD};

/// The lease whose holder expands campaigns.
pub const EXPANDER_LEASE: &str = "campaigns";

/// How long after a campaign message a customer's message still counts as its reply.
pub const ATTRIBUTION_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);

/// How often the worker looks for work when nothing woke it.
const IDLE: Duration = Duration::from_millis(250);

pub use crate::jobs::group_key;

/// The campaigns' handle: what the service functions and the worker share.
#[derive(Clone)]
pub struct Campaigns {
    pub(crate) store: Store,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) events: EventBus,
    /// Where short links point (`{link_base}/l/{code}`); `None` leaves links as written.
    pub(crate) link_base: Option<String>,
    pub(crate) wake: Arc<Notify>,
    /// The dispatcher's runners to wake when messages are ready (campaign chunks, and single
    /// sends a resume released).
    pub(crate) dispatch_wake: Vec<Arc<Notify>>,
    pub(crate) leases: Option<Arc<SenderLeases>>,
    /// The most of a campaign's messages left waiting for the dispatcher (see [`LOOKAHEAD`]).
    pub(crate) lookahead: u64,
    /// Entries per chunk job at most (see [`expand::CHUNK`]).
    pub(crate) chunk: usize,
    /// Compiled campaigns, by id (content compiled once per campaign, not per batch).
    pub(crate) prepared: Arc<Mutex<HashMap<Uuid, Arc<expand::Prepared>>>>,
}

impl std::fmt::Debug for Campaigns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Campaigns").finish_non_exhaustive()
    }
}

/// What one pass of the worker did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    /// Recipients written to the outbox.
    pub queued: u64,
    /// Campaigns started from their schedule, or completed.
    pub moved: u64,
}

impl Campaigns {
    pub fn new(store: Store, clock: Arc<dyn Clock>, events: EventBus) -> Self {
        Self {
            store,
            clock,
            events,
            link_base: None,
            wake: Arc::new(Notify::new()),
            dispatch_wake: Vec::new(),
            leases: None,
            lookahead: LOOKAHEAD,
            chunk: CHUNK,
            prepared: Arc::default(),
        }
    }

    /// Keeps at most `n` of a campaign's messages waiting for the dispatcher.
    pub fn with_lookahead(mut self, n: u64) -> Self {
        self.lookahead = n.max(1);
        self
    }

    /// Cuts the expansion's messages into chunk jobs of at most `n` entries.
    pub fn with_chunk(mut self, n: usize) -> Self {
        self.chunk = n.max(1);
        self
    }

    /// Points short links at `base` (`None`: links stay as written).
    pub fn with_link_base(mut self, base: Option<String>) -> Self {
        self.link_base = base.map(|b| b.trim_end_matches('/').to_owned());
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Where short links point, if anywhere.
    pub fn link_base(&self) -> Option<&str> {
        self.link_base.as_deref()
    }

    /// Tells the worker something changed (a campaign started or resumed).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub(crate) fn wake_outbound(&self) {
        for w in &self.dispatch_wake {
            w.notify_one();
        }
    }

    /// Whether this node may expand now (holds the expander lease; always on one node without
    /// leases).
    async fn may_expand(&self) -> Result<bool, StoreError> {
        match &self.leases {
            Some(l) => l.hold(EXPANDER_LEASE).await,
            None => Ok(true),
        }
    }

    /// One pass: start due scheduled campaigns, expand every sending one up to the look-ahead,
    /// complete the finished ones, and withdraw what a cancel left in flight.
    pub async fn pass(&self) -> Result<Pass, StoreError> {
        let mut pass = Pass::default();
        if !self.may_expand().await? {
            return Ok(pass);
        }
        let now = self.clock.now();
        for id in self.store.campaigns_due(now).await? {
            let started = self
                .store
                .set_campaign_state(
                    id,
                    &[CampaignState::Scheduled],
                    CampaignState::Sending,
                    None,
                    None,
                    now,
                )
                .await;
            match started {
                Ok(_) => pass.moved += 1,
                Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        for id in self.store.campaigns_in(CampaignState::Sending).await? {
            match self.advance(id).await {
                Ok(p) => {
                    pass.queued += p.queued;
                    pass.moved += p.moved;
                }
                Err(e) => tracing::error!(campaign = %id, error = %e, "campaign not advanced"),
            }
        }
        Ok(pass)
    }

    /// Expands `id` up to the look-ahead, or completes it when all is expanded and settled.
    async fn advance(&self, id: Uuid) -> Result<Pass, StoreError> {
        let mut pass = Pass::default();
        loop {
            let campaign = self.store.campaign(id).await?;
            if campaign.state != CampaignState::Sending {
                return Ok(pass);
            }
            if campaign.expanded {
                if !self.store.campaign_unsettled(id).await? {
                    let now = self.clock.now();
                    let target = parley_core::campaign::state::apply(
                        campaign.state,
                        CampaignAction::Complete,
                    )
                    .unwrap_or(CampaignState::Completed);
                    match self
                        .store
                        .set_campaign_state(id, &[CampaignState::Sending], target, None, None, now)
                        .await
                    {
                        Ok(_) => {
                            self.prepared.lock().await.remove(&id);
                            pass.moved += 1;
                            tracing::info!(campaign = %id, "campaign completed");
                        }
                        Err(StoreError::Conflict(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
                return Ok(pass);
            }
            let now = self.clock.now();
            // Jobs waiting, counted as full chunks: the look-ahead is a bound, not an estimate.
            let waiting = self.store.campaign_backlog(id, now).await?;
            if waiting.saturating_mul(self.chunk as u64) >= self.lookahead {
                return Ok(pass);
            }
            // Sender limits: a sender at a limit gives its recipients to the campaign's other
            // senders; when every sender is at one, the campaign pauses with the reason.
            let mut rooms = limits::rooms(&self.store, &campaign.spec.senders, now).await?;
            if let Some(reason) = limits::all_at_limit(&rooms) {
                self.pause_for_limits(id, &reason, now).await?;
                return Ok(pass);
            }
            let prepared = self.prepared(&campaign).await?;
            let written = expand::batch(self, &prepared, &campaign, now, &mut rooms).await?;
            pass.queued += written;
            if written > 0 {
                self.wake_outbound();
            }
        }
    }

    /// Pauses a sending campaign whose every sender is at a limit, with the reason shown.
    async fn pause_for_limits(
        &self,
        id: Uuid,
        reason: &str,
        now: parley_core::Timestamp,
    ) -> Result<(), StoreError> {
        match self
            .store
            .set_campaign_state(
                id,
                &[CampaignState::Sending],
                CampaignState::Paused,
                None,
                None,
                now,
            )
            .await
        {
            Ok(_) => {}
            // Paused or cancelled meanwhile: nothing to do.
            Err(StoreError::Conflict(_)) => return Ok(()),
            Err(e) => return Err(e),
        }
        self.store.hold_campaign_jobs(id, now).await?;
        self.store
            .set_campaign_pause_reason(id, reason, now)
            .await?;
        metrics::counter!("parley_campaign_limit_pauses_total").increment(1);
        tracing::warn!(campaign = %id, reason, "campaign paused: every sender is at a limit");
        Ok(())
    }

    /// The campaign compiled for expansion, cached while its spec does not change.
    async fn prepared(
        &self,
        campaign: &parley_store::StoredCampaign,
    ) -> Result<Arc<expand::Prepared>, StoreError> {
        let mut cache = self.prepared.lock().await;
        if let Some(p) = cache.get(&campaign.id)
            && p.spec == campaign.spec
        {
            return Ok(p.clone());
        }
        let p = Arc::new(expand::Prepared::load(self, campaign).await?);
        cache.insert(campaign.id, p.clone());
        Ok(p)
    }

    /// Runs passes until `shutdown` turns true: at once after a pass that did something, else
    /// when woken or after [`IDLE`].
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                return;
            }
            let busy = match self.pass().await {
                Ok(p) => p.queued > 0 || p.moved > 0,
                Err(e) => {
                    tracing::warn!(error = %e, "campaign worker pass failed");
                    false
                }
            };
            if busy {
                tokio::task::yield_now().await;
                continue;
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(IDLE) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}
