//! The handle callers use.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::config::SmppConfig;
use crate::error::{NotSentReason, SmppError, SubmitError, UnknownReason};
use crate::session::{Request, Worker, connect_and_bind, submit_pdu, validate};
use crate::types::{InboundEvent, LinkState, MessageId, OutboundMessage};

/// A bound SMPP transceiver. Cheap to clone; every clone shares one connection task.
///
/// The task keeps the bind up (enquire_link, reconnection with jittered exponential back-off)
/// until [`SmppClient::close`] is called or every clone is dropped.
#[derive(Debug, Clone)]
pub struct SmppClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    tx: mpsc::Sender<Request>,
    state: watch::Receiver<LinkState>,
    close: watch::Sender<bool>,
    queue_timeout: Duration,
}

/// The stream of deliver_sm the SMSC sends: receipts, mobile-originated messages (reassembled),
/// and undecodable PDUs. Every event was acknowledged to the SMSC when it was put here; when
/// this channel is full, deliver_sm is answered `ESME_RMSGQFUL` instead, so read it promptly.
pub type InboundReceiver = mpsc::Receiver<InboundEvent>;

impl SmppClient {
    /// Connects and binds as transceiver. A refused bind (wrong password...) or an unreachable
    /// SMSC is returned here, and no task is left running. After this first bind, losses are
    /// handled in the background: see [`SmppClient::link_state`].
    pub async fn connect(config: SmppConfig) -> Result<(Self, InboundReceiver), SmppError> {
        validate(&config)?;
        let conn = connect_and_bind(&config).await?;
        let (tx, rx) = mpsc::channel(config.window.saturating_mul(4).max(16));
        let (inbound_tx, inbound_rx) = mpsc::channel(config.inbound_capacity);
        let (state_tx, state_rx) = watch::channel(LinkState::Bound);
        let (close_tx, close_rx) = watch::channel(false);
        let queue_timeout = config.queue_timeout;
        let worker = Worker::new(config, rx, close_rx, state_tx, inbound_tx);
        tokio::spawn(worker.run(conn));
        let inner = Inner {
            tx,
            state: state_rx,
            close: close_tx,
            queue_timeout,
        };
        Ok((
            Self {
                inner: Arc::new(inner),
            },
            inbound_rx,
        ))
    }

    /// Submits every segment of `message` (pipelined in order, within the window) and returns
    /// one result per segment, in segment order: the SMSC's message_id, or why that segment
    /// failed. See [`SubmitError`] for which failures are safe to resend.
    ///
    /// Segments are independent: when some succeed and others fail, resend only the failed
    /// segments, with the same bytes (same UDH reference), so the handset still joins them.
    ///
    /// Dropping the returned future cancels the segments not yet written (they are never sent),
    /// but the outcome of those already written is then unknown to the caller.
    pub async fn submit(&self, message: &OutboundMessage) -> Vec<Result<MessageId, SubmitError>> {
        let deadline = Instant::now() + self.inner.queue_timeout;
        let mut waiting = Vec::with_capacity(message.segments.len());
        for segment in &message.segments {
            let submit = match submit_pdu(
                &message.source,
                &message.destination,
                message.registered_delivery,
                segment,
            ) {
                Ok(submit) => submit,
                Err(e) => {
                    waiting.push(Err(e));
                    continue;
                }
            };
            let (reply, result) = oneshot::channel();
            let request = Request {
                submit,
                reply,
                deadline,
                throttled: 0,
            };
            let timeout = deadline.saturating_duration_since(Instant::now());
            match self.inner.tx.send_timeout(request, timeout).await {
                Ok(()) => waiting.push(Ok(result)),
                Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                    waiting.push(Err(SubmitError::NotSent(NotSentReason::QueueTimeout)));
                }
                Err(mpsc::error::SendTimeoutError::Closed(_)) => {
                    waiting.push(Err(SubmitError::NotSent(NotSentReason::Closed)));
                }
            }
        }
        let mut results = Vec::with_capacity(waiting.len());
        for entry in waiting {
            results.push(match entry {
                Err(e) => Err(e),
                // The task answers every request it takes; a dropped reply means the task died
                // while the request may have been written.
                Ok(result) => result.await.unwrap_or(Err(SubmitError::OutcomeUnknown(
                    UnknownReason::ConnectionLost,
                ))),
            });
        }
        results
    }

    /// The current state of the link.
    pub fn link_state(&self) -> LinkState {
        self.inner.state.borrow().clone()
    }

    /// A receiver that sees every change of the link state.
    pub fn watch_link_state(&self) -> watch::Receiver<LinkState> {
        self.inner.state.clone()
    }

    /// Waits until the link is bound (returns true) or closed (returns false).
    pub async fn wait_bound(&self) -> bool {
        let mut state = self.inner.state.clone();
        let result = state
            .wait_for(|s| matches!(s, LinkState::Bound | LinkState::Closed))
            .await
            .map(|s| *s == LinkState::Bound);
        result.unwrap_or(false)
    }

    /// Stops taking submissions, waits (at most the response timeout) for the responses of
    /// those already written, unbinds and closes the connection. Submissions not yet written
    /// fail with [`NotSentReason::Closed`]. Returns when the task has finished.
    pub async fn close(&self) {
        self.inner.close.send_replace(true);
        let mut state = self.inner.state.clone();
        let _ = state.wait_for(|s| *s == LinkState::Closed).await;
    }
}
