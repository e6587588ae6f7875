//! The flow worker with a clock the test moves: a conversation that stops answering a question
//! without a timeout of its own is ended once it has waited `flows::IDLE`, not held forever; one
//! that answers before then is not.

use std::sync::Arc;
use std::time::Duration;

use parley_core::flow::FlowDefinition;
use parley_core::model::{OwnerKind, SessionStatus};
use parley_core::{Clock, ManualClock, Timestamp};
use parley_engine::inbound::InboundEvent;
use parley_engine::{Engine, EngineConfig, EventBus};
use parley_store::testing::{TestBackend, fresh};
use parley_store::{ChannelSpec, Session, Store};
use parley_testkit::build;
use serde_json::json;

fn event(channel: &parley_store::Channel, from: &str, text: &str, at: Timestamp) -> InboundEvent {
    InboundEvent {
        channel_id: channel.id,
        provider_message_id: format!("m-{}", parley_core::new_id()),
        from: from.into(),
        to: channel.address.clone(),
        text: text.into(),
        media: vec![],
        profile_name: None,
        received_at: at,
        choice: None,
        web: None,
    }
}

/// Runs the inbound, flow and outbound runners until none has work (bounded).
async fn settle(engine: &Engine) {
    for _ in 0..20 {
        let n = engine.inbound_runner().run_once().await.unwrap()
            + engine.flow_runner().run_once().await.unwrap()
            + engine.outbound_runner().run_once().await.unwrap();
        if n == 0 {
            return;
        }
    }
    panic!("the runners did not settle");
}

async fn session_of(store: &Store, channel: uuid::Uuid, from: &str) -> Session {
    let user = store
        .messaging_user_by_key(channel, from)
        .await
        .unwrap()
        .unwrap();
    store
        .list_sessions(
            parley_store::SessionFilter {
                messaging_user_id: Some(user.id),
                ..Default::default()
            },
            parley_store::PageRequest::new(None, 10),
        )
        .await
        .unwrap()
        .items
        .remove(0)
}

async fn a_silent_customer_is_let_go_after_the_idle_time(b: TestBackend) {
    let db = fresh(b).await;
    let t0 = Timestamp(1_800_000_000_000);
    let clock = Arc::new(ManualClock::new(t0));
    let flow: FlowDefinition = serde_json::from_value(json!({
        "name": "patient",
        "steps": [
            {"id": "q", "type": "ask", "message": {"text": "Your order number?"},
             "cases": [{"when": {"type": "any"}, "next": "thanks"}]},
            {"id": "thanks", "type": "send", "message": {"text": "Thanks"}, "next": "q"}
        ]
    }))
    .unwrap();
    parley_engine::service::flows::save(&db.store, &flow, clock.now())
        .await
        .unwrap();
    let channel = db
        .store
        .create_channel(
            &ChannelSpec {
                settings: json!({"flows": {"bot": "patient"}}),
                ..build::simulator_sms()
            },
            clock.now(),
        )
        .await
        .unwrap();
    let engine = Engine::new(
        db.store.clone(),
        clock.clone(),
        EventBus::default(),
        EngineConfig::default(),
    );
    for who in ["+14155550201", "+14155550202"] {
        engine
            .ingest
            .submit(&event(&channel, who, "hi", clock.now()))
            .await
            .unwrap();
    }
    settle(&engine).await;
    // One answers a little before the idle time is up; the other never does.
    clock.advance(parley_engine::flows::IDLE - Duration::from_secs(60));
    engine
        .ingest
        .submit(&event(&channel, "+14155550201", "42", clock.now()))
        .await
        .unwrap();
    settle(&engine).await;
    clock.advance(Duration::from_secs(120));
    settle(&engine).await;

    let quiet = session_of(&db.store, channel.id, "+14155550202").await;
    assert_eq!(quiet.status, SessionStatus::Ended);
    let runs = db.store.flow_runs_of_session(quiet.id).await.unwrap();
    assert!(runs[0].ended_at.is_some());
    let answering = session_of(&db.store, channel.id, "+14155550201").await;
    assert_eq!(answering.status, SessionStatus::Active);
    assert_eq!(answering.owner_kind, Some(OwnerKind::Bot));
    let runs = db.store.flow_runs_of_session(answering.id).await.unwrap();
    assert!(
        runs[0].ended_at.is_none(),
        "its wait started again at its answer"
    );
}

parley_store::on_both_backends!(a_silent_customer_is_let_go_after_the_idle_time);
