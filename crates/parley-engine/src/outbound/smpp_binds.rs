//! Keeping every SMPP channel bound while the server runs, sending or not: the SMSC hands
//! mobile-originated messages and receipts only to a bound client, so a customer who writes
//! before the channel has sent anything (after a restart, say) would otherwise be refused.
//!
//! Every node binds every SMPP channel for receiving (the SMSC may deliver on any bind of the
//! account); which node *sends* stays with the sender lease (see [`crate::outbound::dispatch`]).
//! The binds are the same [`SmppLinks`] slots the dispatcher sends on, so a node holds one bind per
//! channel.
//!
//! The set of binds follows the channels: at start, whenever the channel cache hears of a change
//! ([`crate::cache::ChannelCache::changes`]: this node's writes and, on PostgreSQL, every other
//! node's), and every [`RESYNC`] (a change made on SQLite by `parley apply` from another process is
//! announced to no one). A new channel is bound, a changed one rebound, a removed one (or one no
//! longer on SMPP) unbound. A first bind that fails is retried with back-off (warn log); once
//! bound, `parley-smpp` itself reconnects with back-off when the connection drops. The gauge
//! `parley_smpp_bound{channel}` is 1 while the channel's bind is up.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parley_core::model::{ChannelKind, Provider};
use parley_smpp::LinkState;
use parley_store::{Channel, Store};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::cache::ChannelCache;
use crate::outbound::smpp_link::{LinkError, SmppLinks};

/// How often the binds are checked against the channels without any announced change.
pub const RESYNC: Duration = Duration::from_secs(30);
/// Back-off between failed first binds of a channel: doubling from the first to the last.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(60);

/// One channel's supervisor, and the configuration it binds with.
struct Kept {
    channel: Channel,
    task: JoinHandle<()>,
}

impl Kept {
    /// Whether `channel` binds (and receives) exactly as the kept one does.
    fn same_bind(&self, channel: &Channel) -> bool {
        self.channel.settings == channel.settings
            && self.channel.secrets == channel.secrets
            && self.channel.address == channel.address
    }
}

fn gauge(channel_id: Uuid, bound: bool) {
    metrics::gauge!("parley_smpp_bound", "channel" => channel_id.to_string()).set(if bound {
        1.0
    } else {
        0.0
    });
}

/// Binds `channel` and follows its bind until it is closed; a refused or failed first bind is
/// retried with back-off. Aborted when the channel changes or goes away.
async fn supervise(links: Arc<SmppLinks>, channel: Channel) {
    let mut retry = RETRY_FIRST;
    loop {
        match links.connect(&channel).await {
            Ok(client) => {
                let mut state = client.watch_link_state();
                loop {
                    let now = state.borrow_and_update().clone();
                    match now {
                        LinkState::Bound => gauge(channel.id, true),
                        LinkState::Reconnecting(_) => gauge(channel.id, false),
                        LinkState::Closed => break,
                    }
                    if state.changed().await.is_err() {
                        break;
                    }
                }
                gauge(channel.id, false);
                // Closed by this node (shutdown, a bind replaced by a send with newer settings):
                // the next resync decides whether the channel still wants one.
                return;
            }
            Err(LinkError::Misconfigured(what)) => {
                gauge(channel.id, false);
                tracing::warn!(channel = %channel.id, "SMPP channel not bound: it has no {what}");
                // Nothing to retry until the channel changes, which aborts this task.
                std::future::pending::<()>().await;
            }
            Err(LinkError::Bind { target, error }) => {
                gauge(channel.id, false);
                tracing::warn!(channel = %channel.id, %target, %error, retry_in = ?retry,
                    "SMPP bind failed; retrying");
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(RETRY_MAX);
            }
        }
    }
}

/// The binds of this node, kept in step with the SMPP channels.
struct Binder {
    links: Arc<SmppLinks>,
    store: Store,
    kept: HashMap<Uuid, Kept>,
}

impl Binder {
    async fn resync(&mut self) {
        let channels = match self
            .store
            .channels_by_provider_kind(Provider::Smpp, ChannelKind::Sms)
            .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "SMPP channels not read; binds left as they are");
                return;
            }
        };
        let wanted: HashMap<Uuid, Channel> = channels.into_iter().map(|c| (c.id, c)).collect();
        let gone: Vec<Uuid> = self
            .kept
            .keys()
            .filter(|id| !wanted.contains_key(id))
            .copied()
            .collect();
        for id in gone {
            if let Some(kept) = self.kept.remove(&id) {
                kept.task.abort();
            }
            if let Some(client) = self.links.forget(id) {
                tokio::spawn(async move { client.close().await });
            }
            gauge(id, false);
            tracing::info!(channel = %id, "SMPP channel removed: unbound");
        }
        for (id, channel) in wanted {
            // A supervisor ends only when its bind was closed (by this node): bind again.
            let keep = self
                .kept
                .get(&id)
                .is_some_and(|k| k.same_bind(&channel) && !k.task.is_finished());
            if keep {
                continue;
            }
            if let Some(old) = self.kept.remove(&id) {
                old.task.abort();
            }
            let task = tokio::spawn(supervise(self.links.clone(), channel.clone()));
            self.kept.insert(id, Kept { channel, task });
        }
    }

    fn stop(&mut self) {
        for (_, kept) in self.kept.drain() {
            kept.task.abort();
        }
    }
}

impl crate::outbound::Outbound {
    /// Keeps every SMPP channel bound until `shutdown` (see [`crate::outbound::smpp_binds`]),
    /// then unbinds them all.
    pub async fn keep_smpp_bound(
        self,
        channels: ChannelCache,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut binder = Binder {
            links: self.smpp.clone(),
            store: self.store.clone(),
            kept: HashMap::new(),
        };
        let mut changes = channels.changes();
        let mut every = tokio::time::interval(RESYNC);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = every.tick() => {}
                changed = changes.changed() => if changed.is_err() {
                    // The cache is gone: only the periodic check is left.
                    changes = watch::Sender::new(0).subscribe();
                },
                _ = shutdown.wait_for(|s| *s) => break,
            }
            binder.resync().await;
        }
        binder.stop();
        self.smpp.close_all().await;
    }
}
