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
use crate::inbound::{self, Inbound};
use crate::ingest::Ingest;
use crate::outbound::{self, Outbound};
use crate::runner::{JobRunner, RunnerConfig};
use crate::timers::{self, Timers};

/// Tuning for the workers.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Inbound messages decided and written per transaction.
    pub inbound_batch: u32,
    /// Outbound sends in flight per round.
    pub outbound_batch: u32,
    pub idle_poll: Duration,
    /// How long a claimed job is held before another worker may take it over: the longest a
    /// crashed process delays its work. Longer than any one job can take (a provider call with its
    /// timeout and rate wait).
    pub lease: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            inbound_batch: 256,
            outbound_batch: 64,
            idle_poll: Duration::from_millis(500),
            lease: Duration::from_secs(60),
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
    config: EngineConfig,
    inbound_wake: Arc<Notify>,
    outbound_wake: Arc<Notify>,
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
        let outbound_wake = Arc::new(Notify::new());
        let ingest = Ingest::start(store.clone(), clock.clone(), inbound_wake.clone());
        let outbound =
            Outbound::new(store.clone(), clock.clone(), events.clone()).with_ingest(ingest.clone());
        Self {
            store,
            clock,
            events,
            channels: ChannelCache::default(),
            ingest,
            outbound,
            config,
            inbound_wake,
            outbound_wake,
        }
    }

    fn runner(&self, queue: &str, batch: u32) -> JobRunner {
        let mut cfg = RunnerConfig::new(queue);
        cfg.batch = batch;
        cfg.idle_poll = self.config.idle_poll;
        cfg.lease = self.config.lease;
        JobRunner::new(self.store.clone(), self.clock.clone(), cfg)
    }

    /// The inbound runner: batches of customer messages through the pipeline.
    pub fn inbound_runner(&self) -> JobRunner {
        let pipeline = Inbound::new(self.store.clone(), self.clock.clone(), self.events.clone())
            .with_outbound_wake(self.outbound_wake.clone());
        self.runner(inbound::QUEUE, self.config.inbound_batch)
            .with_waker(self.inbound_wake.clone())
            .handle_batch(inbound::KIND, move |jobs| {
                let p = pipeline.clone();
                async move { p.process_batch(jobs).await }
            })
    }

    /// The outbound dispatcher's runner.
    pub fn outbound_runner(&self) -> JobRunner {
        let out = self.outbound.clone();
        self.runner(outbound::QUEUE, self.config.outbound_batch)
            .with_waker(self.outbound_wake.clone())
            .handle(outbound::KIND, move |job| {
                let o = out.clone();
                async move { o.send(job).await }
            })
    }

    /// Session timers.
    pub fn timer_runner(&self) -> JobRunner {
        let t = Timers::new(self.store.clone(), self.clock.clone(), self.events.clone());
        self.runner(timers::QUEUE, 64)
            .handle(timers::KIND, move |job| {
                let t = t.clone();
                async move { t.fire(job).await }
            })
    }

    /// Starts every worker; they stop when `shutdown` turns true.
    pub fn spawn_workers(&self, shutdown: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
        [
            self.inbound_runner(),
            self.outbound_runner(),
            self.timer_runner(),
        ]
        .into_iter()
        .map(|r| tokio::spawn(r.run(shutdown.clone())))
        .collect()
    }
}
