//! Sensitive-data rules reach every node within a minute (PRIV-03): the node that writes a rule
//! uses it at once; another node on the same database keeps its copy for at most
//! `sensitive_data::REFRESH` (30 s), then reads the rules again. Time is a manual clock.

use std::sync::Arc;
use std::time::Duration;

use parley_core::privacy::rules::{ActionKind, DetectorKind, RuleAuthor};
use parley_core::{Clock, ManualClock, Timestamp};
use parley_engine::sensitive_data::REFRESH;
use parley_engine::service::sensitive_data::{self, SensitiveDataRuleInput};
use parley_engine::{Engine, EngineConfig, EventBus};
use parley_store::testing::{TestBackend, fresh};
use parley_store::{Store, StoreOptions, on_both_backends};
use uuid::Uuid;

const T0: Timestamp = Timestamp(1_700_000_000_000);

fn node(store: &Store, clock: &Arc<ManualClock>) -> Engine {
    let clock: Arc<dyn Clock> = clock.clone();
    Engine::new(
        store.clone(),
        clock,
        EventBus::default(),
        EngineConfig::default(),
    )
}

async fn masked(e: &Engine, text: &str) -> String {
    e.sensitive
        .mask(&e.store, Uuid::nil(), RuleAuthor::Customer, text)
        .await
        .unwrap()
        .text
}

async fn a_rule_change_reaches_every_node_within_the_refresh(backend: TestBackend) {
    let db = fresh(backend).await;
    let other = Store::connect(&db.url, &StoreOptions::default())
        .await
        .unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let (a, b) = (node(&db.store, &clock), node(&other, &clock));
    let card = "card 4111 1111 1111 1111";
    // Both nodes hold the (empty) rules.
    assert_eq!(masked(&a, card).await, card);
    assert_eq!(masked(&b, card).await, card);

    let input = SensitiveDataRuleInput {
        name: "Cards".into(),
        channel_id: None,
        detector: DetectorKind::CardNumber,
        pattern: None,
        national_id_format: None,
        action: ActionKind::Replace,
        replacement: Some("[card]".into()),
        authors: vec![RuleAuthor::Customer],
        priority: 0,
        enabled: true,
    };
    let rule = sensitive_data::create(&a.store, &a.sensitive, &input, clock.now())
        .await
        .unwrap();
    // The writing node at once; the other still on its copy.
    assert_eq!(masked(&a, card).await, "card [card]");
    assert_eq!(masked(&b, card).await, card);
    clock.advance(REFRESH + Duration::from_millis(1));
    assert_eq!(masked(&b, card).await, "card [card]");
    assert!(REFRESH <= Duration::from_secs(60));

    // Turning it off travels the same way.
    let off = SensitiveDataRuleInput {
        enabled: false,
        ..input
    };
    sensitive_data::update(&a.store, &a.sensitive, rule.id, &off, clock.now())
        .await
        .unwrap();
    assert_eq!(masked(&a, card).await, card);
    assert_eq!(masked(&b, card).await, "card [card]");
    clock.advance(REFRESH);
    assert_eq!(masked(&b, card).await, card);

    sensitive_data::delete(&a.store, &a.sensitive, rule.id)
        .await
        .unwrap();
    assert!(db.store.sensitive_data_rules().await.unwrap().is_empty());
}

async fn apply_writes_rules_by_name(backend: TestBackend) {
    let db = fresh(backend).await;
    let clock = ManualClock::new(T0);
    let file: parley_engine::provision::WorkspaceFile = serde_json::from_value(serde_json::json!({
        "channels": [{"name": "Sim", "kind": "sms", "provider": "simulator",
                      "address": "+14155550177", "number_type": "long_code", "country": "US"}],
        "sensitive_data_rules": [
            {"name": "Cards", "detector": "card_number", "action": "replace",
             "replacement": "[card]", "authors": ["customer", "agent"]},
            {"name": "SIN", "channel": "Sim", "detector": "national_id",
             "national_id_format": "ca_sin", "action": "remove", "authors": ["customer"],
             "priority": 3}
        ]
    }))
    .unwrap();
    let first = parley_engine::provision::apply(&db.store, &clock, &file, false)
        .await
        .unwrap();
    assert!(
        first
            .created
            .contains(&"sensitive data rule SIN".to_owned()),
        "{first:?}"
    );
    let second = parley_engine::provision::apply(&db.store, &clock, &file, false)
        .await
        .unwrap();
    assert!(!second.changed(), "{second:?}");
    let stored = db.store.sensitive_data_rules().await.unwrap();
    assert_eq!(stored.len(), 2);
    assert!(stored[1].fields.channel_id.is_some());

    // A rule the engine cannot run stops the whole file before anything is written.
    let bad: parley_engine::provision::WorkspaceFile = serde_json::from_value(serde_json::json!({
        "sensitive_data_rules": [{"name": "Bad", "detector": "regex", "pattern": "(?=x)",
                                  "action": "remove", "authors": ["bot"]}]
    }))
    .unwrap();
    let e = parley_engine::provision::apply(&db.store, &clock, &bad, true)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("look-ahead"), "{e}");
    assert_eq!(db.store.sensitive_data_rules().await.unwrap().len(), 2);
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

fn event(
    channel: &parley_store::Channel,
    from: &str,
    text: &str,
    at: Timestamp,
) -> parley_engine::inbound::InboundEvent {
    parley_engine::inbound::InboundEvent {
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

fn rule(name: &str, pattern: Option<&str>, author: RuleAuthor) -> SensitiveDataRuleInput {
    SensitiveDataRuleInput {
        name: name.into(),
        channel_id: None,
        detector: if pattern.is_some() {
            DetectorKind::Regex
        } else {
            DetectorKind::CardNumber
        },
        pattern: pattern.map(str::to_owned),
        national_id_format: None,
        action: ActionKind::Replace,
        replacement: Some("[redacted]".into()),
        authors: vec![author],
        priority: 0,
        enabled: true,
    }
}

/// A bot's (flow's) messages are masked for author `bot`, the customer's answers to it for
/// `customer`, each with its transcript note.
async fn a_flow_and_its_customer_are_masked(backend: TestBackend) {
    use parley_core::model::Direction;
    let db = fresh(backend).await;
    let clock = Arc::new(ManualClock::new(T0));
    let flow: parley_core::flow::FlowDefinition = serde_json::from_value(serde_json::json!({
        "name": "orders",
        "steps": [
            {"id": "q", "type": "ask", "message": {"text": "Your order number and card?"},
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
            &parley_store::ChannelSpec {
                settings: serde_json::json!({"flows": {"bot": "orders"}}),
                ..parley_testkit::build::simulator_sms()
            },
            clock.now(),
        )
        .await
        .unwrap();
    let engine = node(&db.store, &clock);
    for r in [
        rule("Bot words", Some("order number"), RuleAuthor::Bot),
        rule("Cards", None, RuleAuthor::Customer),
    ] {
        sensitive_data::create(&engine.store, &engine.sensitive, &r, clock.now())
            .await
            .unwrap();
    }
    let from = "+14155550301";
    engine
        .ingest
        .submit(&event(&channel, from, "hi", clock.now()))
        .await
        .unwrap();
    settle(&engine).await;
    engine
        .ingest
        .submit(&event(&channel, from, "4111-1111-1111-1111", clock.now()))
        .await
        .unwrap();
    settle(&engine).await;

    let user = db
        .store
        .messaging_user_by_key(channel.id, from)
        .await
        .unwrap()
        .unwrap();
    let session = db
        .store
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
        .remove(0);
    let entries = db
        .store
        .list_entries(session.id, parley_store::PageRequest::new(None, 100))
        .await
        .unwrap()
        .items;
    let seen: Vec<(Direction, &str)> = entries
        .iter()
        .map(|e| (e.direction, e.body.as_str()))
        .collect();
    assert!(
        seen.contains(&(Direction::Outbound, "Your [redacted] and card?")),
        "{seen:?}"
    );
    assert!(
        seen.contains(&(Direction::Inbound, "[redacted]")),
        "{seen:?}"
    );
    assert!(
        seen.contains(&(Direction::Event, "sensitive data blocked (bot)")),
        "{seen:?}"
    );
    assert!(
        seen.contains(&(Direction::Event, "sensitive data blocked (customer)")),
        "{seen:?}"
    );
    assert!(
        !seen
            .iter()
            .any(|(_, b)| b.contains("4111") || b.contains("order number")),
        "{seen:?}"
    );
    // What the flow keeps of the answer is the masked text too.
    let runs = db.store.flow_runs_of_session(session.id).await.unwrap();
    let kept = serde_json::to_string(&runs).unwrap_or_default();
    assert!(!kept.contains("4111"), "{kept}");
}

on_both_backends!(
    a_rule_change_reaches_every_node_within_the_refresh,
    apply_writes_rules_by_name,
    a_flow_and_its_customer_are_masked,
);
