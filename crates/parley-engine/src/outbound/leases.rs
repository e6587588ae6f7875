//! Sender leases: which node drives each sender (channel). How they are taken, renewed, handed
//! over and used to partition claims is told in [`crate::outbound::dispatch`]'s docs; the registry sits
//! here, below the dispatcher, because the dispatcher's single-job path and its batches both hold
//! leases through it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use parley_core::{Clock, Timestamp};
use parley_store::{Store, StoreError};
use tokio::sync::watch;
use uuid::Uuid;

/// How long a sender lease lasts unless renewed: how long a dead node's senders wait.
pub const DEFAULT_SENDER_LEASE: Duration = Duration::from_secs(15);

/// The sender leases this node holds (see `crate::outbound::dispatch`), with the expiry it last wrote.
pub struct SenderLeases {
    store: Store,
    clock: Arc<dyn Clock>,
    owner: String,
    ttl: Duration,
    held: Mutex<HashMap<String, Timestamp>>,
}

impl std::fmt::Debug for SenderLeases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SenderLeases")
            .field("owner", &self.owner)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl SenderLeases {
    pub fn new(store: Store, clock: Arc<dyn Clock>, owner: String, ttl: Duration) -> Self {
        Self {
            store,
            clock,
            owner,
            ttl,
            held: Mutex::new(HashMap::new()),
        }
    }

    /// The lease name of a sender.
    pub fn name(channel_id: Uuid) -> String {
        format!("sender:{channel_id}")
    }

    /// This node's name in the lease table.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Timestamp>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The leases held now, as this node last wrote them: the partitions its runner claims.
    pub fn held(&self) -> Vec<String> {
        let now = self.clock.now();
        let mut names: Vec<String> = self
            .lock()
            .iter()
            .filter(|(_, until)| **until > now)
            .map(|(n, _)| n.clone())
            .collect();
        names.sort_unstable();
        names
    }

    /// Whether this node's hold on `name`, as it last wrote it, still has more than a quarter of
    /// the TTL to run: asked (without a query) right before each provider call. A batch can
    /// outlast the check its plan made (a sender's rate spreads it over seconds, the database may
    /// stall meanwhile so renewals fail); a node that could not renew must stop calling before
    /// its lease runs out and another node takes the sender over, not when its batch ends.
    pub fn holds(&self, name: &str) -> bool {
        let now = self.clock.now();
        self.lock()
            .get(name)
            .is_some_and(|until| until.since(now) > self.ttl / 4)
    }

    /// Whether this node may drive the sender of lease `name` now: yes without a query while
    /// more than half of the TTL is left, otherwise after taking or extending it in the store.
    pub async fn hold(&self, name: &str) -> Result<bool, StoreError> {
        let now = self.clock.now();
        let margin = self.ttl / 2;
        if self
            .lock()
            .get(name)
            .is_some_and(|until| until.since(now) > margin)
        {
            return Ok(true);
        }
        let taken = self
            .store
            .try_acquire_lease(name, &self.owner, self.ttl, now)
            .await?;
        let mut held = self.lock();
        if taken {
            held.insert(name.to_owned(), now.plus(self.ttl));
        } else {
            held.remove(name);
        }
        Ok(taken)
    }

    /// Renews every lease held (forgetting those lost), then takes over the expired leases that
    /// ready jobs of `queues` wait for. Returns the leases held afterwards.
    pub async fn maintain(&self, queues: &[&str]) -> Result<Vec<String>, StoreError> {
        let names: Vec<String> = self.lock().keys().cloned().collect();
        for name in names {
            let now = self.clock.now();
            let kept = self
                .store
                .renew_lease(&name, &self.owner, self.ttl, now)
                .await?;
            let mut held = self.lock();
            if kept {
                held.insert(name, now.plus(self.ttl));
            } else {
                tracing::warn!(lease = %name, owner = %self.owner, "sender lease lost");
                held.remove(&name);
            }
        }
        let mut waiting = Vec::new();
        for queue in queues {
            waiting.extend(self.store.waiting_partitions(queue).await?);
        }
        for name in waiting {
            if !self.lock().contains_key(&name) && self.hold(&name).await? {
                tracing::info!(lease = %name, owner = %self.owner, "sender lease taken over");
            }
        }
        Ok(self.held())
    }

    /// Gives every lease back (a clean shutdown), so other nodes need not wait for the TTL.
    pub async fn release_all(&self) {
        let names: Vec<String> = self.lock().drain().map(|(n, _)| n).collect();
        for name in names {
            if let Err(e) = self.store.release_lease(&name, &self.owner).await {
                tracing::warn!(lease = %name, error = %e, "sender lease not released");
            }
        }
    }

    /// Keeps the leases until `shutdown`: [`SenderLeases::maintain`] every third of the TTL,
    /// then releases them.
    pub async fn run(
        self: Arc<Self>,
        queues: &'static [&'static str],
        mut shutdown: watch::Receiver<bool>,
    ) {
        let every = (self.ttl / 3).max(Duration::from_millis(100));
        loop {
            if *shutdown.borrow() {
                break;
            }
            if let Err(e) = self.maintain(queues).await {
                tracing::error!(error = %e, "sender lease maintenance failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.changed() => {}
            }
        }
        self.release_all().await;
    }
}
