//! The inbound pipeline's durability and timers, driven through the engine without HTTP.

use std::sync::Arc;
use std::time::Duration;

use parley_core::model::*;
use parley_core::{Clock, ManualClock, SystemClock, Timestamp};
use parley_engine::inbound::InboundEvent;
use parley_engine::{Engine, EngineConfig, EventBus};
use parley_store::testing::{TestBackend, fresh};
use parley_store::*;
use parley_testkit::build;
use serde_json::json;

async fn channel(store: &Store, now: Timestamp) -> Channel {
    store
        .create_channel(
            &ChannelSpec {
                settings: json!({"session_policy": {"inactive_timeout_secs": 3600}}),
                ..build::simulator_sms()
            },
            now,
        )
        .await
        .unwrap()
}

fn event(channel: &Channel, id: &str, text: &str, at: Timestamp) -> InboundEvent {
    InboundEvent {
        channel_id: channel.id,
        provider_message_id: id.into(),
        from: "+447400123456".into(),
        to: channel.address.clone(),
        text: text.into(),
        media: vec![],
        profile_name: None,
        received_at: at,
        choice: None,
        web: None,
    }
}

/// A message accepted while no worker runs (or just before the process died) is processed by the
/// next process to start: the webhook's answer means the event is durable.
async fn accepted_events_survive_a_restart(b: TestBackend) {
    let db = fresh(b).await;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let ch = channel(&db.store, clock.now()).await;
    let first = Engine::new(
        db.store.clone(),
        clock.clone(),
        EventBus::default(),
        EngineConfig::default(),
    );
    first
        .ingest
        .submit(&event(&ch, "m1", "hello", clock.now()))
        .await
        .unwrap();
    first
        .ingest
        .submit(&event(&ch, "m1", "hello", clock.now()))
        .await
        .unwrap();
    drop(first);
    assert_eq!(
        db.store
            .queue_counts(parley_engine::inbound::QUEUE)
            .await
            .unwrap()
            .ready,
        1
    );

    let second = Engine::new(
        db.store.clone(),
        clock.clone(),
        EventBus::default(),
        EngineConfig::default(),
    );
    let runner = second.inbound_runner();
    assert_eq!(runner.run_once().await.unwrap(), 1);
    let user = db
        .store
        .messaging_user_by_key(ch.id, "+447400123456")
        .await
        .unwrap()
        .unwrap();
    let sessions = db
        .store
        .list_sessions(
            SessionFilter {
                messaging_user_id: Some(user.id),
                ..Default::default()
            },
            PageRequest::new(None, 10),
        )
        .await
        .unwrap();
    assert_eq!(sessions.items.len(), 1);
    assert_eq!(sessions.items[0].status, SessionStatus::Waiting);
}

/// Several messages of one customer in one batch are decided in order, each seeing the last.
async fn one_batch_keeps_each_customers_order(b: TestBackend) {
    let db = fresh(b).await;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let ch = channel(&db.store, clock.now()).await;
    let engine = Engine::new(
        db.store.clone(),
        clock.clone(),
        EventBus::default(),
        EngineConfig::default(),
    );
    for (i, text) in ["hi", "STOP", "are you there?", "START"].iter().enumerate() {
        engine
            .ingest
            .submit(&event(&ch, &format!("m{i}"), text, clock.now()))
            .await
            .unwrap();
    }
    assert_eq!(engine.inbound_runner().run_once().await.unwrap(), 4);
    let user = db
        .store
        .messaging_user_by_key(ch.id, "+447400123456")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.consent_status, Some(ConsentStatus::ExplicitlyOptedIn));
    let history: Vec<ConsentStatus> = db
        .store
        .consent_history(user.id)
        .await
        .unwrap()
        .iter()
        .map(|h| h.to_status)
        .collect();
    assert_eq!(
        history,
        vec![
            ConsentStatus::ImplicitlyOptedIn,
            ConsentStatus::OptedOut,
            ConsentStatus::ExplicitlyOptedIn
        ]
    );
    let sessions = db
        .store
        .list_sessions(
            SessionFilter {
                messaging_user_id: Some(user.id),
                ..Default::default()
            },
            PageRequest::new(None, 10),
        )
        .await
        .unwrap()
        .items;
    // "hi" opened a session that STOP ended; the question while opted out and START opened the next.
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[0].status, SessionStatus::Ended);
    assert_eq!(
        sessions[0].conversation_id, sessions[1].conversation_id,
        "one conversation"
    );
}

/// An Inactive session ends when its timeout passes: the timer is a job due at the deadline.
async fn inactive_sessions_end_on_their_timer(b: TestBackend) {
    let db = fresh(b).await;
    let t0 = Timestamp(1_800_000_000_000);
    let clock = Arc::new(ManualClock::new(t0));
    let ch = channel(&db.store, t0).await;
    let engine = Engine::new(
        db.store.clone(),
        clock.clone(),
        EventBus::default(),
        EngineConfig::default(),
    );
    engine
        .ingest
        .submit(&event(&ch, "m1", "I have a question", t0))
        .await
        .unwrap();
    engine.inbound_runner().run_once().await.unwrap();
    let user = db
        .store
        .messaging_user_by_key(ch.id, "+447400123456")
        .await
        .unwrap()
        .unwrap();
    let session = db.store.open_session(user.id).await.unwrap().unwrap();
    // The agent parks it (the console's action, written here directly).
    let mut parked = session.clone();
    parked.status = SessionStatus::Inactive;
    parked.status_since = t0;
    db.store.save_sessions(&[parked.clone()], t0).await.unwrap();
    let deadline = parley_core::session::next_deadline(
        &parley_engine::inbound::state_of(&parked),
        &parley_core::session::SessionPolicy {
            inactive_timeout_secs: 3600,
            ..Default::default()
        },
    )
    .unwrap();
    db.store
        .enqueue(&parley_engine::timers::timer_job(session.id, deadline), t0)
        .await
        .unwrap();
    let timers = engine.timer_runner();
    assert_eq!(
        timers.run_once().await.unwrap(),
        0,
        "not before the deadline"
    );
    clock.advance(Duration::from_secs(3600));
    assert_eq!(timers.run_once().await.unwrap(), 1);
    let ended = db.store.session(session.id).await.unwrap();
    assert_eq!(ended.status, SessionStatus::Ended);
    assert_eq!(ended.end_reason.as_deref(), Some("inactivity_timeout"));
}

/// Messages that cannot be processed are kept in one Error session per customer and reason, even
/// when the repeats arrive in the same batch.
async fn unprocessable_messages_share_one_error_session(b: TestBackend) {
    let db = fresh(b).await;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let now = clock.now();
    let program = db
        .store
        .create_channel(
            &ChannelSpec {
                name: "baby".into(),
                address: "11221".into(),
                number_type: Some(NumberType::SharedShortCode),
                provider_keyword: Some("baby".into()),
                country: Some("US".into()),
                ..build::simulator_sms()
            },
            now,
        )
        .await
        .unwrap();
    let engine = Engine::new(
        db.store.clone(),
        clock.clone(),
        EventBus::default(),
        EngineConfig::default(),
    );
    for (i, text) in ["hello", "hello?", "kids stop"].iter().enumerate() {
        engine
            .ingest
            .submit(&event(&program, &format!("m{i}"), text, now))
            .await
            .unwrap();
    }
    assert_eq!(engine.inbound_runner().run_once().await.unwrap(), 3);
    let user = db
        .store
        .messaging_user_by_key(program.id, "+447400123456")
        .await
        .unwrap()
        .unwrap();
    let sessions = db
        .store
        .list_sessions(
            SessionFilter {
                messaging_user_id: Some(user.id),
                ..Default::default()
            },
            PageRequest::new(None, 10),
        )
        .await
        .unwrap()
        .items;
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(sessions[0].status, SessionStatus::Error);
    let entries = db
        .store
        .list_entries(sessions[0].id, PageRequest::new(None, 10))
        .await
        .unwrap()
        .items;
    assert_eq!(entries.len(), 3, "every message is kept");
    assert!(entries.iter().all(|e| {
        e.provider_error
            .as_deref()
            .is_some_and(|p| p.contains("no known program"))
    }));
    assert_eq!(
        db.store
            .queue_counts(parley_engine::inbound::QUEUE)
            .await
            .unwrap()
            .done,
        3
    );
}

/// The simulator injects failures on demand: permanent ones fail the message with a catalogue
/// code, transient ones keep it queued for a retry.
async fn simulator_failure_injection(b: TestBackend) {
    let db = fresh(b).await;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let ch = channel(&db.store, clock.now()).await;
    let engine = Engine::new(
        db.store.clone(),
        clock.clone(),
        EventBus::default(),
        EngineConfig::default(),
    );
    let outbound = engine.outbound_runner();
    let reply_status = |key: &'static str| {
        let store = db.store.clone();
        let channel = ch.id;
        async move {
            let user = store
                .messaging_user_by_key(channel, key)
                .await
                .unwrap()
                .unwrap();
            let session = store
                .list_sessions(
                    SessionFilter {
                        messaging_user_id: Some(user.id),
                        ..Default::default()
                    },
                    PageRequest::new(None, 10),
                )
                .await
                .unwrap()
                .items
                .remove(0);
            let entries = store
                .list_entries(session.id, PageRequest::new(None, 10))
                .await
                .unwrap()
                .items;
            entries
                .into_iter()
                .find(|e| e.direction == Direction::Outbound)
                .unwrap()
        }
    };
    for (fault, key) in [
        ("permanent", "+447400123456"),
        ("transient", "+447400123457"),
        ("unknown", "+447400123458"),
    ] {
        let mut spec = ChannelSpec {
            name: ch.name.clone(),
            kind: ch.kind,
            provider: ch.provider.clone(),
            address: ch.address.clone(),
            number_type: ch.number_type,
            provider_keyword: None,
            country: None,
            consent_level: ch.consent_level,
            queue_id: None,
            throughput_mps: None,
            settings: json!({"simulate": {"error_rate": 1.0, "error": fault}}),
            secrets: json!({}),
        };
        spec.settings["session_policy"] = json!({"inactive_timeout_secs": 3600});
        db.store
            .update_channel(ch.id, &spec, clock.now())
            .await
            .unwrap();
        let mut e = event(&ch, &format!("help-{fault}"), "HELP", clock.now());
        e.from = key.into();
        engine.ingest.submit(&e).await.unwrap();
        engine.inbound_runner().run_once().await.unwrap();
        assert_eq!(outbound.run_once().await.unwrap(), 1);
    }
    let failed = reply_status("+447400123456").await;
    assert_eq!(
        (failed.status, failed.error_code.as_deref()),
        (EntryStatus::Failed, Some("2001"))
    );
    let waiting = reply_status("+447400123457").await;
    assert_eq!(waiting.status, EntryStatus::Queued);
    assert!(waiting.provider_error.unwrap().contains("will retry"));
    let lost = reply_status("+447400123458").await;
    assert_eq!(
        lost.status,
        EntryStatus::Unknown,
        "never resent, not failed"
    );
    assert!(lost.provider_error.unwrap().contains("may have taken"));
    assert_eq!(
        db.store
            .queue_counts(parley_engine::outbound::QUEUE)
            .await
            .unwrap()
            .ready,
        1,
        "the transient one waits for its retry"
    );
    assert!(
        db.store
            .simulator_messages("+447400123456", None, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

parley_store::on_both_backends!(
    simulator_failure_injection,
    unprocessable_messages_share_one_error_session,
    accepted_events_survive_a_restart,
    one_batch_keeps_each_customers_order,
    inactive_sessions_end_on_their_timer,
);
