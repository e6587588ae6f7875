//! Session timers on the job queue: a business-initiated session's reply window and an inactive
//! session's timeout. A timer job is scheduled at each transition that starts a clock; when it
//! fires, the session's current state decides whether it is still due, so a timer overtaken by
//! events does nothing.

use std::sync::Arc;

use parley_core::Clock;
use parley_core::session::{apply, due_event};
use parley_store::{Job, Store, StoreError};
use uuid::Uuid;

use crate::channel_rules::ChannelRules;
use crate::events::{DomainEvent, EventBus};
use crate::jobs::{Queue, TimerPayload};
use crate::runner::JobOutcome;
use crate::session_rows::{row_of, state_of};

pub use crate::jobs::timer_job;

pub const QUEUE: &str = Queue::Timers.as_str();
pub const KIND: &str = crate::jobs::JobKind::SessionTimer.as_str();

#[derive(Clone)]
pub struct Timers {
    store: Store,
    clock: Arc<dyn Clock>,
    events: EventBus,
}

impl std::fmt::Debug for Timers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timers").finish_non_exhaustive()
    }
}

impl Timers {
    pub fn new(store: Store, clock: Arc<dyn Clock>, events: EventBus) -> Self {
        Self {
            store,
            clock,
            events,
        }
    }

    pub async fn fire(&self, job: Job) -> JobOutcome {
        let payload: TimerPayload = match serde_json::from_str(&job.payload) {
            Ok(p) => p,
            Err(e) => return JobOutcome::Permanent(format!("malformed timer: {e}")),
        };
        match self.try_fire(payload.session_id).await {
            Ok(()) => JobOutcome::Done,
            Err(StoreError::NotFound { .. }) => JobOutcome::Done,
            Err(e) => JobOutcome::Retry(e.to_string()),
        }
    }

    async fn try_fire(&self, session_id: Uuid) -> Result<(), StoreError> {
        let session = self.store.session(session_id).await?;
        let channel = self.store.channel(session.channel_id).await?;
        let policy = match ChannelRules::load(&self.store, channel).await {
            Ok(r) => r.behaviour.session_policy,
            Err(e) => {
                tracing::warn!(error = %e, "channel rules unreadable; using default session clocks");
                parley_core::session::SessionPolicy::default()
            }
        };
        let state = state_of(&session);
        let now = self.clock.now();
        let Some(event) = due_event(&state, now, &policy) else {
            return Ok(());
        };
        match apply(&state, &event, &policy) {
            Ok(t) => {
                self.store
                    .save_sessions(&[row_of(&session, &t.state)], now)
                    .await?;
                self.events
                    .publish(DomainEvent::SessionChanged { session_id });
            }
            Err(e) => tracing::warn!(error = %e, %session_id, "timer no longer applies"),
        }
        Ok(())
    }
}
