//! The workspace a test needs, built in the store: channels, queues, agents, messaging users,
//! sessions and entries with the values most tests share. A test states what differs from these
//! with struct update syntax (`ChannelSpec { consent_level: ..., ..build::simulator_sms() }`),
//! so what the test is about stays visible.

use parley_core::Timestamp;
use parley_core::model::*;
use parley_store::*;
use serde_json::{Value, json};
use uuid::Uuid;

/// The business number most tests text from.
pub const BUSINESS_NUMBER: &str = "+14155550100";

/// A simulator SMS channel on a toll-free number, implicit consent, no queue: the channel of tests
/// that exercise the pipelines without a provider.
pub fn simulator_sms() -> ChannelSpec {
    ChannelSpec {
        name: "Sim".into(),
        kind: ChannelKind::Sms,
        provider: Provider::Simulator,
        address: BUSINESS_NUMBER.into(),
        number_type: Some(NumberType::TollFree),
        provider_keyword: None,
        country: None,
        consent_level: ConsentLevel::Implicit,
        queue_id: None,
        throughput_mps: None,
        settings: json!({}),
        secrets: json!({}),
    }
}

/// A Twilio SMS channel on a US long code with implicit consent.
pub fn twilio_sms(name: &str, address: &str, settings: Value, secrets: Value) -> ChannelSpec {
    ChannelSpec {
        name: name.into(),
        kind: ChannelKind::Sms,
        provider: Provider::Twilio,
        address: address.into(),
        number_type: Some(NumberType::LongCode),
        provider_keyword: None,
        country: Some("US".into()),
        consent_level: ConsentLevel::Implicit,
        queue_id: None,
        throughput_mps: None,
        settings,
        secrets,
    }
}

/// A WhatsApp Cloud API channel with implicit consent.
pub fn whatsapp(name: &str, address: &str, settings: Value, secrets: Value) -> ChannelSpec {
    ChannelSpec {
        name: name.into(),
        kind: ChannelKind::Whatsapp,
        provider: Provider::Meta,
        address: address.into(),
        number_type: None,
        provider_keyword: None,
        country: None,
        consent_level: ConsentLevel::Implicit,
        queue_id: None,
        throughput_mps: None,
        settings,
        secrets,
    }
}

/// A Messenger channel for a page, with implicit consent.
pub fn messenger(name: &str, page_id: &str, settings: Value, secrets: Value) -> ChannelSpec {
    ChannelSpec {
        kind: ChannelKind::Messenger,
        ..whatsapp(name, page_id, settings, secrets)
    }
}

/// Creates a channel.
pub async fn channel(store: &Store, spec: &ChannelSpec, now: Timestamp) -> Channel {
    store.create_channel(spec, now).await.unwrap()
}

/// A queue routed to the most available agent, at priority 0.
pub fn queue_spec(name: &str) -> QueueSpec {
    QueueSpec {
        name: name.into(),
        routing_model: RoutingModel::MostAvailable,
        priority: 0,
        assignment: parley_core::model::QueueAssignment::Push,
    }
}

/// Creates the queue of [`queue_spec`].
pub async fn queue(store: &Store, name: &str, now: Timestamp) -> Queue {
    store.create_queue(&queue_spec(name), now).await.unwrap()
}

/// An agent in the given queues, without skills, whose email is made from the name.
pub fn agent_spec(name: &str, role: AgentRole, capacity: i64, queue_ids: Vec<Uuid>) -> AgentSpec {
    AgentSpec {
        name: name.into(),
        email: format!("{}@example.test", name.to_lowercase()),
        role,
        capacity,
        queue_ids,
        skills: vec![],
    }
}

/// A messaging user without a name, locale or contact.
pub fn new_user(channel_id: Uuid, key: &str, consent: Option<ConsentStatus>) -> NewMessagingUser {
    NewMessagingUser {
        channel_id,
        platform_key: key.into(),
        name: String::new(),
        locale: None,
        consent_status: consent,
        contact_id: None,
    }
}

/// Where a consent change came from, without an entry.
pub fn origin(source: ConsentSource, reason: &str) -> ConsentOrigin {
    ConsentOrigin {
        source,
        reason: reason.into(),
        entry_id: None,
    }
}

/// Creates a messaging user.
pub async fn user(
    store: &Store,
    user: &NewMessagingUser,
    origin: &ConsentOrigin,
    now: Timestamp,
) -> MessagingUser {
    store
        .create_messaging_user(user, origin, now)
        .await
        .unwrap()
}

/// A service session of a messaging user in a new conversation, without queue or case.
pub fn new_session(channel_id: Uuid, user_id: Uuid, status: SessionStatus) -> NewSession {
    NewSession {
        conversation_id: parley_core::new_id(),
        channel_id,
        messaging_user_id: user_id,
        status,
        context: SessionContext::Service,
        queue_id: None,
        case_id: None,
    }
}

/// Creates a session.
pub async fn session(store: &Store, session: &NewSession, now: Timestamp) -> Session {
    store.create_session(session, now).await.unwrap()
}

/// A text entry without media, provider id or actor id.
pub fn new_entry(
    session_id: Uuid,
    direction: Direction,
    actor: Actor,
    body: &str,
    status: EntryStatus,
) -> NewEntry {
    NewEntry {
        session_id,
        direction,
        actor,
        actor_id: None,
        body: body.into(),
        media: Vec::new(),
        provider_message_id: None,
        status,
    }
}

/// Appends an entry.
pub async fn entry(store: &Store, entry: &NewEntry, now: Timestamp) -> Entry {
    store.append_entry(entry, now).await.unwrap()
}

/// The open session of the customer `key` on `channel`: the one there is, or else an Active one,
/// with the customer created first (named Ada, explicitly opted in by an import) if unknown.
pub async fn customer_session(
    store: &Store,
    channel: &Channel,
    key: &str,
    now: Timestamp,
) -> Session {
    let user = match store.messaging_user_by_key(channel.id, key).await.unwrap() {
        Some(u) => u,
        None => {
            let new = NewMessagingUser {
                name: "Ada".into(),
                ..new_user(channel.id, key, Some(ConsentStatus::ExplicitlyOptedIn))
            };
            user(store, &new, &origin(ConsentSource::Import, "test"), now).await
        }
    };
    match store.open_session(user.id).await.unwrap() {
        Some(s) => s,
        None => {
            let new = new_session(channel.id, user.id, SessionStatus::Active);
            session(store, &new, now).await
        }
    }
}
