//! The simulator's customer: a message a person (or a test) sends as the customer is recorded on
//! the simulated phone and goes into the same inbound pipeline as a provider's webhook.

use parley_core::model::Direction;
use parley_store::{Channel, NewSimulatorMessage, SimulatorMessage, StoreError};

use crate::Engine;
use crate::events::DomainEvent;
use crate::inbound::InboundEvent;
use crate::ingest::IngestError;

#[derive(Debug, thiserror::Error)]
pub enum SimulatorError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Ingest(#[from] IngestError),
}

/// Records a customer's message from `from` (already a valid address for the channel's kind) and
/// submits it, keyed by the simulator's message id so a retry is processed once.
pub async fn customer_message(
    engine: &Engine,
    channel: &Channel,
    from: String,
    text: String,
) -> Result<SimulatorMessage, SimulatorError> {
    let now = engine.clock.now();
    let m = engine
        .store
        .record_simulator_message(
            &NewSimulatorMessage {
                channel_id: channel.id,
                direction: Direction::Inbound,
                from_addr: from.clone(),
                to_addr: channel.address.clone(),
                body: text.clone(),
                status: "received".to_owned(),
                entry_id: None,
            },
            now,
        )
        .await?;
    engine
        .ingest
        .submit(&InboundEvent {
            channel_id: channel.id,
            provider_message_id: format!("sim-{}", m.id),
            from,
            to: channel.address.clone(),
            text,
            media: Vec::new(),
            profile_name: None,
            received_at: now,
            choice: None,
            web: None,
        })
        .await?;
    engine.events.publish(DomainEvent::SimulatorMessage {
        channel_id: channel.id,
        message_id: m.id,
    });
    Ok(m)
}
