//! Provider formats, and nothing else: how Twilio, Meta (WhatsApp Cloud API, Messenger), SMPP and
//! the built-in simulator spell messages, statuses and signatures, each behind one
//! [`ProviderAdapter`] found in the [`registry`]. Everything here turns bytes from
//! or to a provider into the domain types of `parley-core`; orchestration lives in `parley-engine`.
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod adapter;
pub mod http;
pub mod media;
pub mod meta;
pub mod registry;
pub mod simulator;
pub mod smpp;
pub mod twilio;
pub mod vonage;
pub mod web;

pub use adapter::ProviderAdapter;
pub use registry::{Providers, providers};
