//! The agent's read receipts and typing sent to the customer's app where the channel has them
//! (issue 15): WhatsApp's "mark as read" and typing indicator, Messenger's `mark_seen` and
//! `typing_on`/`typing_off`. The provider formats are the channel adapter's
//! (`ProviderAdapter::prepare_signal`); this module finds what they need (the customer's
//! platform key, the last inbound message's provider id) and sends them fire-and-forget: the
//! console never waits on them, and a failure is only logged (a lost hint is not worth a retry).

use std::sync::OnceLock;

use parley_channels::meta::signals::Signal;
use parley_core::model::ChannelKind;
use parley_store::{Store, StoreError};
use uuid::Uuid;

use crate::channel_rules::{adapter_of, adapter_view};
use crate::transport::HttpTransport;

/// What the agent did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentSignal {
    Read,
    Typing(bool),
}

fn transport() -> Option<&'static HttpTransport> {
    static CLIENT: OnceLock<Option<HttpTransport>> = OnceLock::new();
    CLIENT
        .get_or_init(|| match HttpTransport::new() {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::error!(error = %e, "no HTTP client: read and typing signals are off");
                None
            }
        })
        .as_ref()
}

/// Sends `signal` for the session's customer in the background. Returns at once.
pub fn signal_customer(store: Store, session_id: Uuid, signal: AgentSignal) {
    tokio::spawn(async move {
        if let Err(e) = send_signal(&store, session_id, signal).await {
            tracing::warn!(error = %e, session = %session_id, ?signal, "agent signal not sent");
        }
    });
}

/// Why a signal did not go (logged only).
#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Provider(String),
}

/// Builds and sends the signal; `Ok(false)` when the channel has nothing for it.
pub async fn send_signal(
    store: &Store,
    session_id: Uuid,
    signal: AgentSignal,
) -> Result<bool, SignalError> {
    let session = store.session(session_id).await?;
    let channel = store.channel(session.channel_id).await?;
    if !matches!(channel.kind, ChannelKind::Whatsapp | ChannelKind::Messenger) {
        return Ok(false);
    }
    let Some(adapter) = adapter_of(&channel) else {
        return Ok(false);
    };
    let user = store.messaging_user(session.messaging_user_id).await?;
    let message_id = store.last_inbound_provider_id(session_id).await?;
    let signal = match signal {
        AgentSignal::Read => Signal::Read {
            message_id: message_id.as_deref(),
        },
        AgentSignal::Typing(on) => Signal::Typing {
            on,
            message_id: message_id.as_deref(),
        },
    };
    let request = adapter
        .prepare_signal(&adapter_view(&channel), &user.platform_key, signal)
        .map_err(|e| SignalError::Provider(e.reason))?;
    let Some(request) = request else {
        return Ok(false);
    };
    let Some(client) = transport() else {
        return Ok(false);
    };
    let answer = client
        .execute(&request)
        .await
        .map_err(|e| SignalError::Provider(e.to_string()))?;
    if !answer.is_success() {
        return Err(SignalError::Provider(format!(
            "the provider answered {}",
            answer.status
        )));
    }
    Ok(true)
}
