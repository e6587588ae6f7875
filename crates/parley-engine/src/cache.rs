//! A short-lived cache of channels for the hot paths (every webhook needs its channel). A change
//! made through any node's service functions (or `parley apply`) is seen at once: the writing node
//! drops its own entry, and on PostgreSQL every other node drops its entry when the change's
//! `NOTIFY` arrives ([`ChannelCache::watch`]). Entries also expire after a few seconds, the bound
//! on staleness if a notification is ever missed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parley_store::{Channel, ConfigChange, Store, StoreError};
use tokio::sync::{RwLock, watch};
use uuid::Uuid;

/// How long an entry is trusted without a notification.
pub const DEFAULT_TTL: Duration = Duration::from_secs(5);

/// When each channel was read, and what was found (`None`: no such channel).
type Entries = HashMap<Uuid, (Instant, Option<Channel>)>;

#[derive(Debug, Clone)]
pub struct ChannelCache {
    inner: Arc<RwLock<Entries>>,
    ttl: Duration,
    /// Counts the changes heard of (this node's writes and other nodes' announcements), for
    /// whatever must follow a channel's configuration and not only read it (the SMPP binds).
    changes: Arc<watch::Sender<u64>>,
}

impl Default for ChannelCache {
    fn default() -> Self {
        Self::with_ttl(DEFAULT_TTL)
    }
}

impl ChannelCache {
    pub fn with_ttl(ttl: Duration) -> Self {
        Self {
            inner: Arc::default(),
            ttl,
            changes: Arc::new(watch::Sender::new(0)),
        }
    }

    /// Sees every change to a channel this node hears of, as it invalidates its entry.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The channel, or `None` if it does not exist.
    pub async fn get(&self, store: &Store, id: Uuid) -> Result<Option<Channel>, StoreError> {
        if let Some((at, c)) = self.inner.read().await.get(&id)
            && at.elapsed() < self.ttl
        {
            return Ok(c.clone());
        }
        let found = match store.channel(id).await {
            Ok(c) => Some(c),
            Err(StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        let mut map = self.inner.write().await;
        if map.len() > 10_000 {
            map.clear();
        }
        map.insert(id, (Instant::now(), found.clone()));
        Ok(found)
    }

    pub async fn invalidate(&self, id: Uuid) {
        self.inner.write().await.remove(&id);
        self.changed();
    }

    async fn clear(&self) {
        self.inner.write().await.clear();
        self.changed();
    }

    /// Drops the entries other nodes announce as changed, until `shutdown`. Without a listener
    /// (SQLite, one process per file) there is nothing to watch. A lost connection may have missed
    /// announcements, so the whole cache is dropped before listening again.
    pub async fn watch(self, store: Store, mut shutdown: watch::Receiver<bool>) {
        let mut retry = Duration::from_millis(100);
        loop {
            let listener = tokio::select! {
                l = store.config_listener() => l,
                _ = shutdown.wait_for(|s| *s) => return,
            };
            let mut listener = match listener {
                Ok(Some(l)) => l,
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "no LISTEN connection for channel changes; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(retry) => {}
                        _ = shutdown.wait_for(|s| *s) => return,
                    }
                    retry = (retry * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            retry = Duration::from_millis(100);
            // Whatever changed while no one listened.
            self.clear().await;
            loop {
                let change = tokio::select! {
                    c = listener.recv() => c,
                    _ = shutdown.wait_for(|s| *s) => return,
                };
                match change {
                    Ok(ConfigChange::Channel(id)) => self.invalidate(id).await,
                    Ok(ConfigChange::Unknown) => self.clear().await,
                    Err(e) => {
                        tracing::warn!(error = %e, "the LISTEN connection for channel changes dropped");
                        break;
                    }
                }
            }
        }
    }
}
