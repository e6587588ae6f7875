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

on_both_backends!(
    a_rule_change_reaches_every_node_within_the_refresh,
    apply_writes_rules_by_name,
);
