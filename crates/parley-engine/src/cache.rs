//! A short-lived cache of channels for the hot paths (every webhook needs its channel). Entries
//! live a few seconds, so a change made on another node is seen soon; changes made through this
//! node's API are seen at once because the API invalidates them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parley_store::{Channel, Store, StoreError};
use tokio::sync::RwLock;
use uuid::Uuid;

const TTL: Duration = Duration::from_secs(5);

/// When each channel was read, and what was found (`None`: no such channel).
type Entries = HashMap<Uuid, (Instant, Option<Channel>)>;

#[derive(Debug, Clone, Default)]
pub struct ChannelCache {
    inner: Arc<RwLock<Entries>>,
}

impl ChannelCache {
    /// The channel, or `None` if it does not exist.
    pub async fn get(&self, store: &Store, id: Uuid) -> Result<Option<Channel>, StoreError> {
        if let Some((at, c)) = self.inner.read().await.get(&id)
            && at.elapsed() < TTL
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
    }
}
