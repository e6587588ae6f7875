//! The expiry of unknown outcomes. An entry is `unknown` when its provider's answer never came
//! (see `crate::outbound::verdict::ambiguous`); a receipt or status callback usually settles it.
//! When none has come after [`crate::EngineConfig::unknown_expiry`], the message most likely
//! never left, and an operator should not have to find it by hand: the sweep fails it with
//! catalogue code 0002 (the messaging service's error) and says why in `provider_error`.
//! Every node sweeps; the update only touches rows still `unknown`, so two nodes sweeping at
//! once fail each entry once.
//!
//! The sweep also makes sure no message stays `queued` behind a dead send job (a job that died
//! with its lease after its last attempt, or used its attempts up some other way): such an entry
//! becomes `unknown` (the job may have been mid-send when it died), so it is visible, settled by
//! news or an operator, and failed at expiry like any other.

use std::sync::Arc;
use std::time::Duration;

use parley_core::{Clock, ErrorCode};
use parley_store::{Store, StoreError};
use tokio::sync::watch;

use crate::events::{DomainEvent, EventBus};
use crate::jobs::{Queue, SendRequest};

/// How long an unknown outcome waits for news by default.
pub const DEFAULT_UNKNOWN_EXPIRY: Duration = Duration::from_secs(48 * 3600);

/// The catalogue code of an expired unknown outcome.
pub const EXPIRED_CODE: ErrorCode = ErrorCode::ServiceError;

/// Entries failed per statement: a backlog is worked off over a few rounds rather than in one
/// long write.
const SWEEP_CHUNK: i64 = 500;

/// Dead send jobs looked at per sweep, newest first.
const ORPHAN_SCAN: i64 = 1000;

/// Fails unknown outcomes older than `expiry` (see the module docs).
#[derive(Clone)]
pub struct UnknownSweep {
    store: Store,
    clock: Arc<dyn Clock>,
    events: EventBus,
    expiry: Duration,
}

impl std::fmt::Debug for UnknownSweep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnknownSweep")
            .field("expiry", &self.expiry)
            .finish_non_exhaustive()
    }
}

impl UnknownSweep {
    pub fn new(store: Store, clock: Arc<dyn Clock>, events: EventBus, expiry: Duration) -> Self {
        Self {
            store,
            clock,
            events,
            expiry,
        }
    }

    /// Entries left `queued` behind a dead send job (that died within the expiry time) become
    /// `unknown`. Returns how many.
    pub async fn orphans(&self) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let dead = self
            .store
            .dead_jobs_since(
                Queue::Outbound.as_str(),
                now.minus(self.expiry),
                ORPHAN_SCAN,
            )
            .await?;
        let mut found = 0;
        for job in dead {
            let Ok(request) = serde_json::from_str::<SendRequest>(&job.payload) else {
                continue;
            };
            let note = format!(
                "its send job died ({}); it may or may not have been sent; not resent \
                 automatically",
                job.last_error.as_deref().unwrap_or("no error recorded")
            );
            if self
                .store
                .queued_to_unknown(request.entry_id, &note, job.updated_at, now)
                .await?
            {
                found += 1;
                metrics::counter!("parley_outbound_unknown_total", "provider" => "dead_job")
                    .increment(1);
                if let Ok(entry) = self.store.entry(request.entry_id).await {
                    self.events.publish(DomainEvent::MessageStatusChanged {
                        session_id: entry.session_id,
                        entry_id: entry.id,
                    });
                }
            }
        }
        if found > 0 {
            tracing::warn!(
                entries = found,
                "messages left queued behind a dead send job are now unknown"
            );
        }
        Ok(found)
    }

    /// One sweep: every unknown entry with no news for the expiry time becomes `failed`, and
    /// entries left queued behind a dead send job become unknown ([`UnknownSweep::orphans`]).
    /// Returns how many were failed.
    pub async fn sweep(&self) -> Result<usize, StoreError> {
        self.orphans().await?;
        let now = self.clock.now();
        let before = now.minus(self.expiry);
        let hours = self.expiry.as_secs() / 3600;
        let note = if hours > 0 {
            format!("no news from the provider {hours} h after its answer was lost: failed")
        } else {
            format!(
                "no news from the provider {} s after its answer was lost: failed",
                self.expiry.as_secs()
            )
        };
        let mut total = 0;
        loop {
            let failed = self
                .store
                .expire_unknown(before, EXPIRED_CODE.code(), &note, SWEEP_CHUNK, now)
                .await?;
            let n = failed.len();
            total += n;
            for (entry_id, session_id) in failed {
                self.events.publish(DomainEvent::MessageStatusChanged {
                    session_id,
                    entry_id,
                });
            }
            if n < usize::try_from(SWEEP_CHUNK).unwrap_or(usize::MAX) {
                break;
            }
        }
        if total > 0 {
            tracing::warn!(
                failed = total,
                "unknown outcomes expired without news from the provider"
            );
            metrics::counter!("parley_outbound_unknown_expired_total").increment(total as u64);
        }
        Ok(total)
    }

    /// Sweeps every few minutes (a tenth of the expiry, between a second and ten minutes) until
    /// `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let every = (self.expiry / 10).clamp(Duration::from_secs(1), Duration::from_secs(600));
        loop {
            if *shutdown.borrow() {
                break;
            }
            if let Err(e) = self.sweep().await {
                metrics::counter!("parley_outbound_unknown_sweep_failures_total").increment(1);
                tracing::error!(error = %e, "unknown outcome sweep failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}
