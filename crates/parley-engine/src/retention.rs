//! The retention worker (issue 16 part 4): deletes what the retention policies say is past its
//! cutoff (`parley_core::privacy::retention`), a small batch per transaction with a yield between,
//! so the pipelines sharing the database (SQLite's single writer above all) are never held long.
//!
//! One node runs it at a time: a run holds the lease `retention` and renews it between kinds; a
//! node that cannot take it skips the run. Each run writes one audit entry (actor `System`) with
//! what it removed, by kind.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use parley_core::Clock;
use parley_core::audit::{AuditActor, AuditEntry};
use parley_core::privacy::retention::{self, DataKind, Policy, Scope, Sweep};
use parley_store::{Store, StoreError};
use tokio::sync::watch;

use crate::media::MediaStore;

/// Rows per transaction.
pub const BATCH: i64 = 500;
/// Sessions read per batch (each goes with its entries).
const SESSION_BATCH: i64 = 50;
/// The lease one run holds.
pub const LEASE_NAME: &str = "retention";
/// How often a node tries a run.
pub const INTERVAL: Duration = Duration::from_secs(3600);

/// What a run removed, by kind (`entries` counts entries, `sessions` sessions, ...).
pub type Removed = BTreeMap<DataKind, u64>;

#[derive(Clone)]
pub struct Retention {
    store: Store,
    clock: Arc<dyn Clock>,
    media: MediaStore,
    /// TM-08's built-in all-channels policy for error logs, at the configured days.
    builtin_error_log_days: u32,
    node: String,
}

impl std::fmt::Debug for Retention {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retention")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl Retention {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        media: MediaStore,
        builtin_error_log_days: u32,
        node: String,
    ) -> Self {
        Self {
            store,
            clock,
            media,
            builtin_error_log_days,
            node,
        }
    }

    /// The days of TM-08's built-in error-log policy on this node.
    pub fn builtin_error_log_days(&self) -> u32 {
        self.builtin_error_log_days
    }

    /// The stored policies and the built-in ones.
    pub async fn policies(&self) -> Result<(Vec<Policy>, Vec<Policy>), StoreError> {
        let stored = self
            .store
            .list_retention_policies()
            .await?
            .into_iter()
            .map(|p| Policy {
                channel_id: p.channel_id,
                kind: p.kind,
                days: p.days,
            })
            .collect();
        Ok((
            stored,
            vec![retention::builtin_error_logs(self.builtin_error_log_days)],
        ))
    }

    /// One run, if this node takes the lease: `None` when another node holds it.
    pub async fn run_once(&self) -> Result<Option<Removed>, StoreError> {
        let ttl = retention::LEASE;
        if !self
            .store
            .try_acquire_lease(LEASE_NAME, &self.node, ttl, self.clock.now())
            .await?
        {
            return Ok(None);
        }
        let outcome = self.sweep_all().await;
        let _ = self.store.release_lease(LEASE_NAME, &self.node).await;
        let removed = outcome?;
        crate::audit::record_at(
            &self.store,
            AuditEntry {
                actor: AuditActor::System,
                action: "retention_run".into(),
                resource_kind: "retention".into(),
                resource_id: None,
                detail: serde_json::json!({
                    "removed": removed.iter().map(|(k, n)| (k.as_str(), *n)).collect::<BTreeMap<_, _>>(),
                }),
            },
            self.clock.now(),
        )
        .await?;
        Ok(Some(removed))
    }

    async fn sweep_all(&self) -> Result<Removed, StoreError> {
        let (stored, builtin) = self.policies().await?;
        let channels = self.store.retention_channel_ids().await?;
        let plan = retention::plan(&stored, &builtin, &channels, self.clock.now());
        let mut removed: Removed = DataKind::ALL.iter().map(|k| (*k, 0)).collect();
        for sweep in plan {
            let n = self.sweep(sweep).await?;
            *removed.entry(sweep.kind).or_default() += n;
            // Still ours? Another node may have taken over a lease we let lapse.
            if !self
                .store
                .renew_lease(LEASE_NAME, &self.node, retention::LEASE, self.clock.now())
                .await?
            {
                break;
            }
        }
        Ok(removed)
    }

    /// One kind on one scope, batch after batch until nothing is due. Returns how many it
    /// removed (entries for `entries`, sessions for `sessions`, rows otherwise).
    async fn sweep(&self, sweep: Sweep) -> Result<u64, StoreError> {
        let Sweep {
            kind,
            scope,
            cutoff,
            ..
        } = sweep;
        let full = |n: u64| n >= BATCH as u64;
        let mut total = 0;
        loop {
            // (removed in this batch, whether more may be due)
            let (n, more) = match (kind, scope) {
                (DataKind::ErrorLogs, scope) => {
                    let n = self
                        .store
                        .delete_error_logs_before(scope, cutoff, BATCH)
                        .await?;
                    (n, full(n))
                }
                (DataKind::DeadLetters, Scope::Unassigned) => {
                    let n = self.store.delete_dead_letters_before(cutoff, BATCH).await?;
                    (n, full(n))
                }
                (DataKind::LinkClicks, Scope::Channel(ch)) => {
                    let n = self
                        .store
                        .delete_link_clicks_before(ch, cutoff, BATCH)
                        .await?;
                    (n, full(n))
                }
                (DataKind::Media, scope) => {
                    let due = self.store.retention_media_due(scope, cutoff, BATCH).await?;
                    let n = self.remove_media(&due).await?;
                    (n, full(n))
                }
                (DataKind::Entries, Scope::Channel(ch)) => {
                    let due = self
                        .store
                        .sessions_with_transcript_due(ch, cutoff, SESSION_BATCH)
                        .await?;
                    let mut n = 0;
                    for session in &due {
                        n += self.remove_transcript(*session).await?;
                    }
                    // Each session read is marked done, so the next read moves on.
                    (n, !due.is_empty())
                }
                (DataKind::Sessions, Scope::Channel(ch)) => {
                    let due = self
                        .store
                        .closed_sessions_due(ch, cutoff, SESSION_BATCH)
                        .await?;
                    let mut n = 0;
                    for session in &due {
                        self.remove_transcript(*session).await?;
                        n += self.store.delete_closed_session(*session).await?;
                    }
                    (n, n > 0)
                }
                // Rows of no channel have no sessions, entries or campaign messages; dead letters
                // have only an all-channels sweep.
                (
                    DataKind::Entries | DataKind::Sessions | DataKind::LinkClicks,
                    Scope::Unassigned,
                )
                | (DataKind::DeadLetters, Scope::Channel(_)) => (0, false),
            };
            total += n;
            if !more {
                return Ok(total);
            }
            // Let the pipelines' transactions in between batches.
            tokio::task::yield_now().await;
        }
    }

    /// A closed session's media (rows and files no other row shares), then its entries in
    /// batches. Returns how many entries went.
    async fn remove_transcript(&self, session: uuid::Uuid) -> Result<u64, StoreError> {
        let media = self.store.session_media(session).await?;
        self.remove_media(&media).await?;
        let mut n = 0;
        loop {
            let gone = self
                .store
                .delete_session_transcript(session, BATCH, self.clock.now())
                .await?;
            n += gone;
            if gone < BATCH as u64 {
                return Ok(n);
            }
            tokio::task::yield_now().await;
        }
    }

    /// Deletes media rows, then each file no row holds any more.
    async fn remove_media(&self, rows: &[(uuid::Uuid, String)]) -> Result<u64, StoreError> {
        if rows.is_empty() {
            return Ok(0);
        }
        for removed in self.store.delete_media_rows(rows).await? {
            if removed.last
                && let Err(e) = self.media.remove_file(&removed.sha256).await
            {
                tracing::warn!(error = %e, "retention: a media file could not be removed");
            }
        }
        Ok(rows.len() as u64)
    }

    /// Runs every [`INTERVAL`] (the first right away) until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(INTERVAL);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if let Err(e) = self.run_once().await {
                        tracing::warn!(error = %e, "retention run failed");
                    }
                }
                _ = shutdown.changed() => {
                    if *shutdown.borrow() { return; }
                }
            }
        }
    }
}
