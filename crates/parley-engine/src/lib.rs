//! Parley's orchestration: the workers that move work through the store. Rules come from
//! `parley-core`, storage from `parley-store`, provider formats from `parley-channels`; this crate
//! only decides what runs when.
//!
//! Modules import only modules below them (a test, `tests/it/module_graph.rs`, fails on a
//! cycle). From the bottom up:
//!
//! - shared pieces: `jobs` (job kinds, queues and constructors), `session_rows`, `events`,
//!   `runner`, `transport`, `cache`, `channel_rules`;
//! - the pipelines and workers: `inbound`, `ingest`, `timers`, `media`, `feed`, `routing`,
//!   `compose`, then `outbound` (the dispatcher, with its batch path `dispatch`, the SMPP binds
//!   `smpp_link`, and below them `verdict` (what a send decided), `rate` (each sender's rate),
//!   `leases` (each sender's node) and `status` (provider status reports)), `agents`;
//! - `subscriptions`: outgoing webhook subscriptions (the recorder and the sender);
//! - `web_identity`: web chat visitors' identity tokens checked against keysets (uploaded keys
//!   and cached JWKS endpoints);
//! - `web_hub`: the web chat widgets' streams of a node (events fanned out per visitor), then
//!   `web_chat`: visitors, their tokens and what they do (above `agents`, `ingest`, `media`);
//! - `service`: one function per write of a resource, for the API, the console and `apply`;
//! - `notify_triggers`: notifications that events send, and provider failures of notifications;
//! - provisioning (`apply` and imports): `provision` (with its `processes` and `rules` parts),
//!   `import`;
//! - `engine`, which wires them together.
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod agents;
pub mod audit;
pub mod board;
pub mod cache;
pub mod campaigns;
pub mod channel_rules;
pub mod compose;
mod engine;
pub mod events;
pub mod feed;
pub mod flow_runs;
pub mod flows;
pub mod import;
pub mod inbound;
pub mod ingest;
pub mod jobs;
pub mod media;
pub mod notify_triggers;
pub mod outbound;
pub mod outreach;
pub mod provision;
pub mod reports;
pub mod retention;
pub mod routing;
pub mod runner;
pub mod sensitive_data;
pub mod service;
pub mod session_rows;
pub mod signals;
pub mod subscriptions;
pub mod timeline_notes;
pub mod timers;
pub mod transport;
pub mod twilio_callbacks;
pub mod web_chat;
pub mod web_hub;
pub mod web_identity;

pub use engine::{Engine, EngineConfig};
pub use events::{DomainEvent, EventBus};
pub use jobs::{JobKind, Queue};
pub use runner::{Handler, JobOutcome, JobRunner, RunnerConfig};
