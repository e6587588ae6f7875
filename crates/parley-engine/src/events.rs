//! The in-process event bus: every stage publishes what happened (message received, consent
//! changed, session opened or changed) and the console's SSE streams subscribe. Events carry ids,
//! not whole records, so a subscriber reads the current state from the store.

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::broadcast;
use uuid::Uuid;

/// Something that happened in the domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DomainEvent {
    MessageReceived {
        session_id: Uuid,
        entry_id: Uuid,
    },
    MessageStatusChanged {
        session_id: Uuid,
        entry_id: Uuid,
    },
    ConsentChanged {
        messaging_user_id: Uuid,
    },
    SessionOpened {
        session_id: Uuid,
    },
    SessionChanged {
        session_id: Uuid,
    },
    SimulatorMessage {
        channel_id: Uuid,
        message_id: Uuid,
    },
    /// A channel was created, replaced or deleted.
    ChannelChanged {
        channel_id: Uuid,
    },
    /// A case was opened, changed (subject, status, owner, its sessions) or closed. Subscribers
    /// read the case to learn which.
    CaseChanged {
        case_id: Uuid,
    },
    /// An agent started or stopped typing in a session (the console publishes it, the web chat
    /// widget shows it).
    AgentTyping {
        session_id: Uuid,
        agent_id: Uuid,
        typing: bool,
    },
    /// A web chat visitor started or stopped typing in their session.
    CustomerTyping {
        session_id: Uuid,
        typing: bool,
    },
    /// An internal note or a supervisor's whisper was added to a session. Consoles only: never
    /// a webhook, never the customer's side.
    NoteAdded {
        session_id: Uuid,
        note_id: Uuid,
        whisper_to: Option<Uuid>,
    },
}

/// A broadcast channel of domain events. Slow subscribers lose the oldest events (they are told
/// so by the receiver) rather than slowing the pipelines down.
#[derive(Debug, Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<DomainEvent>>,
}

impl Default for EventBus {
    fn default() -> Self {
        // Room for bursts (the dispatcher settles hundreds of messages at once, at thousands a
        // second) before a slower subscriber, such as the console recorder, loses events.
        Self::new(65_536)
    }
}

impl EventBus {
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        Self { tx }
    }

    /// Publishes an event; having no subscriber is not an error.
    pub fn publish(&self, event: DomainEvent) {
        let _ = self.tx.send(Arc::new(event));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<DomainEvent>> {
        self.tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_see_published_events() {
        let bus = EventBus::new(8);
        let mut rx = bus.subscribe();
        let id = Uuid::nil();
        bus.publish(DomainEvent::SessionOpened { session_id: id });
        let got = rx.recv().await.unwrap();
        assert_eq!(*got, DomainEvent::SessionOpened { session_id: id });
    }
}
