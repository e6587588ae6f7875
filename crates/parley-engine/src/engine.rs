//! The engine as one handle: the pipelines' entry points for the HTTP layer, and the workers that
//! run them.

use std::sync::Arc;
use std::time::Duration;

use parley_core::Clock;
use parley_store::Store;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::cache::ChannelCache;
use crate::events::EventBus;
use crate::inbound::Inbound;
use crate::ingest::Ingest;
use crate::jobs::{JobKind, Queue};
use crate::outbound::Outbound;
use crate::runner::{JobRunner, RunnerConfig};
use crate::timers::Timers;

/// The queues the dispatcher claims from: their jobs wait for sender leases.
static DISPATCH_QUEUES: [&str; 2] = [Queue::Outbound.as_str(), Queue::Campaign.as_str()];

/// Tuning for the workers.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Inbound messages decided and written per transaction.
    pub inbound_batch: u32,
    /// Outbound send jobs claimed per batch (one read per table and one commit per batch).
    pub outbound_batch: u32,
    /// Provider calls of a batch in flight at once.
    pub outbound_concurrency: usize,
    /// Outbound runners per node. Each batch reads, then sends, then commits; with two, one
    /// batch's database work overlaps another's provider calls.
    pub outbound_runners: usize,
    /// How long a sender lease lasts unless renewed: how long a dead node's senders wait for
    /// another node to take them over.
    pub sender_lease: Duration,
    pub idle_poll: Duration,
    /// How long a claimed job is held before another worker may take it over: the longest a
    /// crashed process delays its work. Longer than any one job can take (a provider call with its
    /// timeout and rate wait).
    pub lease: Duration,
    /// Where inbound media files are stored (config key `media_dir`; see [`crate::media`]).
    pub media_dir: std::path::PathBuf,
    /// Whether inbound media downloads may reach loopback and private networks (config key
    /// `media_fetch_allow_private`). Off in production: a webhook could otherwise make the
    /// server fetch from its own network. Tests and the demo, whose fakes listen on loopback,
    /// turn it on. Link-local (cloud metadata) stays refused either way.
    pub media_fetch_allow_private: bool,
    /// How long an agent has to accept an offered session before it goes to the next one.
    pub offer_timeout: Duration,
    /// How long a node trusts a cached channel without hearing of a change (changes made through
    /// the service functions reach every node at once; this bounds a missed notification).
    pub channel_cache_ttl: Duration,
    /// This node's name as a sender lease holder; `None`: a fresh `node-<uuid>`.
    pub node_name: Option<String>,
    /// How long an `unknown` send outcome waits for a receipt or status callback before it is
    /// failed (see [`crate::outbound::unknown`]).
    pub unknown_expiry: Duration,
    /// Where campaign short links point: `{link_base}/l/{code}`, the operator's own domain
    /// (`PARLEY_PUBLIC_URL` or a short domain; never a public shortener, SMS-08). `None` leaves
    /// links as written, uncounted.
    pub link_base: Option<String>,
    /// The most of a campaign's messages its expansion leaves waiting for the dispatcher: what a
    /// pause holds and a cancel withdraws (see [`crate::campaigns`]).
    pub campaign_lookahead: u64,
    /// Entries per campaign chunk job at most (see [`crate::campaigns::CHUNK`]).
    pub campaign_chunk: usize,
    /// Campaign chunk jobs claimed per batch of a campaign runner (there are
    /// `outbound_runners` of them).
    pub campaign_batch: u32,
    /// The key flows' webhook calls are signed with (`X-Parley-Signature: sha256=...`); `None`
    /// sends them unsigned.
    pub flow_secret: Option<String>,
    /// Flow events claimed per batch.
    pub flow_batch: u32,
    /// How long the notification error log keeps an entry (TM-08: 30 days by default).
    pub notification_error_retention: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            inbound_batch: 256,
            outbound_batch: 256,
            outbound_concurrency: crate::outbound::rate::DEFAULT_CONCURRENCY,
            outbound_runners: 2,
            sender_lease: crate::outbound::leases::DEFAULT_SENDER_LEASE,
            idle_poll: Duration::from_millis(500),
            lease: Duration::from_secs(60),
            media_dir: crate::media::DEFAULT_DIR.into(),
            media_fetch_allow_private: false,
            offer_timeout: crate::routing::OFFER_TIMEOUT,
            channel_cache_ttl: crate::cache::DEFAULT_TTL,
            node_name: None,
            unknown_expiry: crate::outbound::unknown::DEFAULT_UNKNOWN_EXPIRY,
            link_base: None,
            campaign_lookahead: crate::campaigns::LOOKAHEAD,
            campaign_chunk: crate::campaigns::CHUNK,
            campaign_batch: 2,
            flow_secret: None,
            flow_batch: 128,
            notification_error_retention: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

#[derive(Clone)]
pub struct Engine {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub events: EventBus,
    pub channels: ChannelCache,
    pub ingest: Ingest,
    pub outbound: Outbound,
    /// Inbound media files: the fetch worker and reads for `GET /api/v1/media/{id}`.
    pub media: crate::media::MediaStore,
    /// The console feed (events for agents' SSE streams), routing, and agent actions.
    pub feed: crate::feed::Feed,
    pub router: crate::routing::Router,
    pub desk: crate::agents::AgentDesk,
    /// The web chat widgets' streams of this node.
    pub web: crate::web_hub::WebHub,
    config: EngineConfig,
    inbound_wake: Arc<Notify>,
    outbound_wake: Arc<Notify>,
    campaign_wake: Arc<Notify>,
    campaigns: crate::campaigns::Campaigns,
    /// Parsed flow definitions, shared by every trigger and the flow worker.
    pub flows: crate::flow_runs::FlowCatalog,
    flow_wake: Arc<Notify>,
    /// Outgoing webhook subscriptions: records deliveries from events and sends them.
    pub webhooks: crate::subscriptions::Webhooks,
    callback_wake: Arc<Notify>,
    /// Web visitors' identity tokens, with the keysets' JWKS cache.
    pub web_identity: crate::web_identity::WebIdentity,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Builds the engine; call within a Tokio runtime (the ingest writer starts here).
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        events: EventBus,
        config: EngineConfig,
    ) -> Self {
        let inbound_wake = Arc::new(Notify::new());
        let flows = crate::flow_runs::FlowCatalog::default();
        let flow_wake = Arc::new(Notify::new());
        let outbound_wake = Arc::new(Notify::new());
        let campaign_wake = Arc::new(Notify::new());
        let ingest = Ingest::start(store.clone(), clock.clone(), inbound_wake.clone());
        let channels = ChannelCache::with_ttl(config.channel_cache_ttl);
        let outbound = Outbound::new(store.clone(), clock.clone(), events.clone())
            .with_ingest(ingest.clone())
            .with_sender_leases(
                config
                    .node_name
                    .clone()
                    .unwrap_or_else(|| format!("node-{}", uuid::Uuid::now_v7())),
                config.sender_lease,
            )
            .with_concurrency(config.outbound_concurrency);
        let media = crate::media::MediaStore::new(
            config.media_dir.clone(),
            store.clone(),
            clock.clone(),
            events.clone(),
            config.media_fetch_allow_private,
        );
        let feed = crate::feed::Feed::new(store.clone(), clock.clone());
        let mut router = crate::routing::Router::new(store.clone(), clock.clone(), feed.clone())
            .with_flows(flows.clone(), flow_wake.clone());
        router.offer_timeout = config.offer_timeout;
        let desk = crate::agents::AgentDesk::new(
            store.clone(),
            clock.clone(),
            feed.clone(),
            router.clone(),
            crate::compose::Compose::new(store.clone(), clock.clone(), events.clone())
                .with_outbound_wake(outbound_wake.clone()),
            outbound_wake.clone(),
        )
        .with_flows(flows.clone(), flow_wake.clone());
        let mut campaigns =
            crate::campaigns::Campaigns::new(store.clone(), clock.clone(), events.clone());
        campaigns.link_base = config
            .link_base
            .as_ref()
            .map(|b| b.trim_end_matches('/').to_owned());
        campaigns.dispatch_wake = vec![campaign_wake.clone(), outbound_wake.clone()];
        campaigns.leases = Some(outbound.sender_leases().clone());
        campaigns.lookahead = config.campaign_lookahead.max(1);
        campaigns.chunk = config.campaign_chunk.max(1);
        let webhooks =
            crate::subscriptions::Webhooks::new(store.clone(), clock.clone(), events.clone());
        let web =
            crate::web_hub::WebHub::new(store.clone(), events.clone(), feed.clone(), desk.clone());
        let web_identity =
            crate::web_identity::WebIdentity::new(store.clone(), config.media_fetch_allow_private);
        Self {
            web_identity,
            webhooks,
            web,
            feed,
            router,
            desk,
            store,
            clock,
            events,
            channels,
            ingest,
            outbound,
            media,
            config,
            inbound_wake,
            outbound_wake,
            campaign_wake,
            campaigns,
            flows,
            flow_wake,
            callback_wake: Arc::new(Notify::new()),
        }
    }

    fn runner(&self, queue: Queue, batch: u32) -> JobRunner {
        let mut cfg = RunnerConfig::new(queue.as_str());
        cfg.batch = batch;
        cfg.idle_poll = self.config.idle_poll;
        cfg.lease = self.config.lease;
        JobRunner::new(self.store.clone(), self.clock.clone(), cfg)
    }

    /// The inbound runner: batches of customer messages through the pipeline.
    pub fn inbound_runner(&self) -> JobRunner {
        let pipeline = Inbound::new(self.store.clone(), self.clock.clone(), self.events.clone())
            .with_outbound_wake(self.outbound_wake.clone())
            .with_flows(self.flows.clone(), self.flow_wake.clone());
        self.runner(Queue::Inbound, self.config.inbound_batch)
            .with_waker(self.inbound_wake.clone())
            .handle_batch(JobKind::InboundMessage, move |jobs| {
                let p = pipeline.clone();
                async move { p.process_batch(jobs).await }
            })
    }

    /// The outbound dispatcher's runner: whole claims as batches ([`crate::outbound::dispatch`]), claiming
    /// only jobs of senders this node holds the lease of (or not yet assigned to any).
    pub fn outbound_runner(&self) -> JobRunner {
        let out = self.outbound.clone();
        let leases = self.outbound.sender_leases().clone();
        self.runner(Queue::Outbound, self.config.outbound_batch)
            .with_waker(self.outbound_wake.clone())
            .with_partitions(Arc::new(move || leases.held()))
            .handle_batch(JobKind::OutboundSend, move |jobs| {
                let o = out.clone();
                async move { o.send_batch(jobs).await }
            })
    }

    /// The campaign runner: a claim of campaign chunk jobs through the same dispatcher batch as
    /// send jobs (each chunk's entries are its sends), on their own queue and runners so that
    /// bulk never delays a reply's batch.
    pub fn campaign_runner(&self) -> JobRunner {
        let out = self.outbound.clone();
        let leases = self.outbound.sender_leases().clone();
        self.runner(Queue::Campaign, self.config.campaign_batch.max(1))
            .with_waker(self.campaign_wake.clone())
            .with_partitions(Arc::new(move || leases.held()))
            .handle_batch(JobKind::CampaignSend, move |jobs| {
                let o = out.clone();
                async move { o.send_batch(jobs).await }
            })
    }

    /// The flow worker: starts, replies and timeouts of flow runs.
    pub fn flow_worker(&self) -> crate::flows::FlowWorker {
        crate::flows::FlowWorker::new(
            self.store.clone(),
            self.clock.clone(),
            self.events.clone(),
            self.flows.clone(),
            self.compose(),
            self.config.flow_secret.clone(),
        )
        .with_outbound_wake(self.outbound_wake.clone())
    }

    /// Wakes this node's flow runners (a run was started outside the inbound pipeline).
    pub fn wake_flows(&self) {
        self.flow_wake.notify_one();
    }

    /// The flows runner.
    pub fn flow_runner(&self) -> JobRunner {
        let worker = self.flow_worker();
        self.runner(Queue::Flows, self.config.flow_batch.max(1))
            .with_waker(self.flow_wake.clone())
            .handle_batch(JobKind::FlowEvent, move |jobs| {
                let w = worker.clone();
                async move { w.process_batch(jobs).await }
            })
    }

    /// Status callbacks of the Twilio-compatible API: the bus watcher that queues them and the
    /// runner that calls them.
    pub fn twilio_callbacks(&self) -> crate::twilio_callbacks::TwilioCallbacks {
        crate::twilio_callbacks::TwilioCallbacks::new(
            self.store.clone(),
            self.clock.clone(),
            self.callback_wake.clone(),
        )
    }

    /// Runs the Twilio-compatible API's status callbacks.
    pub fn callback_runner(&self) -> JobRunner {
        let c = self.twilio_callbacks();
        self.runner(Queue::Callbacks, 16)
            .with_waker(self.callback_wake.clone())
            .handle(JobKind::TwilioCallback, move |job| {
                let c = c.clone();
                async move { c.run(job).await }
            })
    }

    /// Session timers.
    pub fn timer_runner(&self) -> JobRunner {
        let t = Timers::new(self.store.clone(), self.clock.clone(), self.events.clone());
        self.runner(Queue::Timers, 64)
            .handle(JobKind::SessionTimer, move |job| {
                let t = t.clone();
                async move { t.fire(job).await }
            })
    }

    /// Tells this node's outbound runners new send jobs are ready (a resend, say).
    pub fn wake_outbound(&self) {
        self.outbound_wake.notify_one();
    }

    /// The compose path: agents', bots' and programs' messages into a session.
    pub fn compose(&self) -> crate::compose::Compose {
        crate::compose::Compose::new(self.store.clone(), self.clock.clone(), self.events.clone())
            .with_outbound_wake(self.outbound_wake.clone())
    }

    /// One message to one person outside a conversation (notifications, the Twilio-compatible
    /// API).
    pub fn outreach(&self) -> crate::outreach::Outreach {
        crate::outreach::Outreach::new(self.store.clone(), self.events.clone(), self.compose())
    }

    /// Campaigns: the service functions' handle and the worker's.
    pub fn campaigns(&self) -> crate::campaigns::Campaigns {
        self.campaigns.clone()
    }

    /// Fetches inbound media files into the media store.
    pub fn media_runner(&self) -> JobRunner {
        let m = self.media.clone();
        self.runner(Queue::Media, 16)
            .handle(JobKind::MediaFetch, move |job| {
                let m = m.clone();
                async move { m.fetch(job).await }
            })
    }

    /// The expiry of unknown send outcomes at this engine's setting (run by
    /// [`Engine::spawn_workers`]; tests sweep by hand).
    pub fn unknown_sweep(&self) -> crate::outbound::unknown::UnknownSweep {
        crate::outbound::unknown::UnknownSweep::new(
            self.store.clone(),
            self.clock.clone(),
            self.events.clone(),
            self.config.unknown_expiry,
        )
    }

    /// Notifications that events send: the bus watcher and the runner of its jobs share one
    /// handle (the watcher wakes the runner).
    pub fn notify_triggers(&self) -> crate::notify_triggers::NotifyTriggers {
        crate::notify_triggers::NotifyTriggers::new(self.clone())
    }

    /// Starts every worker; they stop when `shutdown` turns true.
    pub fn spawn_workers(&self, shutdown: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
        let triggers = self.notify_triggers();
        let trigger_watcher = triggers.spawn_watcher(shutdown.clone());
        [
            triggers.runner(self.runner(Queue::Notifications, 16)),
            self.inbound_runner(),
            self.outbound_runner(),
            self.timer_runner(),
            self.media_runner(),
            self.flow_runner(),
            self.callback_runner(),
        ]
        .into_iter()
        .chain((1..self.config.outbound_runners).map(|_| self.outbound_runner()))
        .chain((0..self.config.outbound_runners.max(1)).map(|_| self.campaign_runner()))
        .map(|r| tokio::spawn(r.run(shutdown.clone())))
        .chain([tokio::spawn(
            self.outbound
                .sender_leases()
                .clone()
                .run(&DISPATCH_QUEUES, shutdown.clone()),
        )])
        .chain([tokio::spawn(
            self.router
                .clone()
                .run(self.events.clone(), shutdown.clone()),
        )])
        .chain([tokio::spawn(
            self.twilio_callbacks()
                .watch(self.events.clone(), shutdown.clone()),
        )])
        .chain([tokio::spawn(self.unknown_sweep().run(shutdown.clone()))])
        .chain([tokio::spawn(self.campaigns().run(shutdown.clone()))])
        .chain([tokio::spawn(crate::service::notifications::run_sweep(
            self.store.clone(),
            self.clock.clone(),
            self.config.notification_error_retention,
            shutdown.clone(),
        ))])
        .chain([tokio::spawn(crate::reports::run_rollup(
            self.store.clone(),
            self.clock.clone(),
            shutdown.clone(),
        ))])
        .chain([tokio::spawn(crate::web_chat::run_sweep(
            self.store.clone(),
            self.clock.clone(),
            shutdown.clone(),
        ))])
        .chain([tokio::spawn(
            self.channels
                .clone()
                .watch(self.store.clone(), shutdown.clone()),
        )])
        .chain([tokio::spawn(
            self.outbound
                .clone()
                .keep_smpp_bound(self.channels.clone(), shutdown.clone()),
        )])
        .chain([trigger_watcher])
        .chain([
            self.webhooks.spawn_recorder(shutdown.clone()),
            tokio::spawn(self.webhooks.clone().run_sender(shutdown.clone())),
        ])
        .chain(self.feed.spawn(&self.events, shutdown.clone()))
        .collect()
    }
}
