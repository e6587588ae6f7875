//! Provider formats, and nothing else: how Twilio, Meta (WhatsApp Cloud API, Messenger), SMPP and
//! the built-in simulator spell messages, statuses and signatures, each behind one
//! [`ProviderAdapter`] found in the [`registry`]. Everything here turns bytes from
//! or to a provider into the domain types of `parley-core`; orchestration lives in `parley-engine`.
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod adapter;
pub mod fields;
pub mod http;
pub mod media;
pub mod registry;

/// Declares each provider's module and registers its adapter in one line, so that adding a
/// provider is a new module and one line here (`docs/adding-a-provider.md`).
macro_rules! providers {
    ($($module:ident => $adapter:path),+ $(,)?) => {
        $(pub mod $module;)+

        /// Every provider adapter of this build, in registration order.
        pub(crate) fn builtin_adapters() -> Vec<Box<dyn ProviderAdapter>> {
            vec![$(Box::new($adapter)),+]
        }
    };
}

providers! {
    simulator => simulator::SimulatorAdapter,
    twilio => twilio::adapter::TwilioAdapter,
    smpp => smpp::SmppAdapter,
    meta => meta::adapter::MetaAdapter,
    web => web::WebAdapter,
    vonage => vonage::VonageAdapter,
}

pub use adapter::ProviderAdapter;
pub use registry::{Providers, providers};
