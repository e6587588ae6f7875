//! Parley's orchestration: the workers that move work through the store. Rules come from
//! `parley-core`, storage from `parley-store`, provider formats from `parley-channels`; this crate
//! only decides what runs when.
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod agents;
pub mod cache;
pub mod channel_rules;
pub mod compose;
pub mod dispatch;
mod engine;
pub mod events;
pub mod feed;
pub mod import;
pub mod inbound;
pub mod ingest;
pub mod media;
pub mod outbound;
pub mod processes;
pub mod provision;
pub mod provision_rules;
pub mod routing;
pub mod runner;
pub mod service;
pub mod smpp_link;
pub mod timers;
pub mod transport;

pub use engine::{Engine, EngineConfig};
pub use events::{DomainEvent, EventBus};
pub use runner::{Handler, JobOutcome, JobRunner, RunnerConfig};
