//! The campaign worker (issue 11): expands a started campaign into recipients in batches, each
//! batch one transaction through the same outbox as every other message, staying only a little
//! ahead of the dispatcher so that a pause holds little; starts scheduled campaigns when their
//! time comes; completes a campaign when its last message is settled.

use std::sync::Arc;

use parley_core::Clock;
use parley_store::Store;
use tokio::sync::Notify;

use crate::events::EventBus;

/// The campaigns' handle: what the service functions and the worker share.
#[derive(Clone)]
pub struct Campaigns {
    pub(crate) store: Store,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) events: EventBus,
    /// Where short links point (`{link_base}/l/{code}`); `None` leaves links as written.
    pub(crate) link_base: Option<String>,
    pub(crate) wake: Arc<Notify>,
    pub(crate) outbound_wake: Option<Arc<Notify>>,
}

impl std::fmt::Debug for Campaigns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Campaigns").finish_non_exhaustive()
    }
}

impl Campaigns {
    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }
}
