//! The front door of the inbound pipeline: webhooks hand their events here, and a single task
//! writes whatever has queued up in one multi-row insert (group commit), so a burst of webhooks
//! costs one database write rather than one each. A webhook is answered only once its event is
//! durable.

use std::sync::Arc;

use parley_core::Clock;
use parley_store::{NewJob, Store};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::jobs::InboundEvent;
use crate::sensitive_data::SensitiveRules;

/// The key the job's payload carries, beside the event's fields, when a sensitive-data rule
/// changed the customer's text: the inbound pipeline writes the transcript's note from it.
pub const BLOCKED_MARK: &str = "sensitive_data_blocked";

/// Most events written by one insert.
const MAX_BATCH: usize = 512;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("the event could not be encoded: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("the event could not be stored: {0}")]
    Store(String),
    #[error("the server is shutting down")]
    Closed,
    #[error("the sensitive-data rules could not be read: {0}")]
    Rules(String),
}

type Request = (NewJob, oneshot::Sender<Result<(), String>>);

/// Where webhooks submit inbound events.
#[derive(Clone, Debug)]
pub struct Ingest {
    tx: mpsc::Sender<Request>,
    store: Store,
    /// Masks customer text before the event is stored (PRIV-03); `None` in tools that do not
    /// need it.
    sensitive: Option<SensitiveRules>,
}

impl Ingest {
    /// Starts the writer task; `wake` is the inbound runner's, poked after every write.
    pub fn start(store: Store, clock: Arc<dyn Clock>, wake: Arc<Notify>) -> Self {
        let (tx, mut rx) = mpsc::channel::<Request>(8 * MAX_BATCH);
        let writer = store.clone();
        tokio::spawn(async move {
            let store = writer;
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(r) => batch.push(r),
                        Err(_) => break,
                    }
                }
                let jobs: Vec<NewJob> = batch.iter().map(|(j, _)| j.clone()).collect();
                let result = store
                    .enqueue_many(&jobs, clock.now())
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string());
                if let Err(e) = &result {
                    tracing::error!(error = %e, n = batch.len(), "inbound events not stored");
                }
                for (_, reply) in batch {
                    let _ = reply.send(result.clone());
                }
                wake.notify_one();
            }
        });
        Self {
            tx,
            store,
            sensitive: None,
        }
    }

    /// Masks customer text with these rules before anything is stored.
    pub fn with_sensitive(mut self, rules: SensitiveRules) -> Self {
        self.sensitive = Some(rules);
        self
    }

    /// Persists one event; returns once it is durable. A duplicate (same provider message id on
    /// the same channel) is accepted and ignored.
    ///
    /// The event is stored with its text cleaned ([`InboundEvent::storable`]), so a character
    /// one database refuses cannot make the event, or its processing, differ between backends.
    ///
    /// The customer's text is masked by the sensitive-data rules here, before the job row exists,
    /// so neither the queue, a dead letter made from the job, nor the entry ever holds what a rule
    /// removed.
    pub async fn submit(&self, event: &InboundEvent) -> Result<(), IngestError> {
        let mut masked = None;
        if let Some(rules) = &self.sensitive {
            let m = rules
                .mask(
                    &self.store,
                    event.channel_id,
                    parley_core::privacy::rules::RuleAuthor::Customer,
                    &event.text,
                )
                .await
                .map_err(|e| IngestError::Rules(e.to_string()))?;
            if !m.blocked.is_empty() {
                masked = Some(InboundEvent {
                    text: m.text,
                    ..event.clone()
                });
            }
        }
        let blocked = masked.is_some();
        let event = masked.as_ref().unwrap_or(event);
        let mut job = if event.is_storable() {
            event.job()?
        } else {
            event.clone().storable().job()?
        };
        if blocked {
            let mut payload: serde_json::Value = serde_json::from_str(&job.payload)?;
            if let Some(map) = payload.as_object_mut() {
                map.insert(BLOCKED_MARK.to_owned(), serde_json::Value::Bool(true));
            }
            job.payload = payload.to_string();
        }
        let (reply, done) = oneshot::channel();
        self.tx
            .send((job, reply))
            .await
            .map_err(|_| IngestError::Closed)?;
        done.await
            .map_err(|_| IngestError::Closed)?
            .map_err(IngestError::Store)
    }
}
