//! `parley apply` for quick texts and routing rules: idempotent, references by name, pruning.

use parley_core::{ManualClock, Timestamp};
use parley_engine::provision::{WorkspaceFile, apply};
use parley_store::PageRequest;
use parley_store::testing::{TestBackend, fresh};
use serde_json::{Value, json};

fn workspace() -> Value {
    json!({
        "queues": [{"name": "Support"}, {"name": "Billing"}],
        "skills": [{"name": "French"}],
        "channels": [{"name": "Main SMS", "kind": "sms", "provider": "simulator",
                      "address": "+14155550100", "number_type": "toll_free", "queue": "Support"}],
        "agents": [{"name": "Ada", "email": "ada@example.test", "queues": ["Support"]}],
        "quick_texts": [
            {"title": "Greeting", "body": "Hi {{contact.first_name}},\nhow can we help?"},
            {"title": "Closing", "body": "Thanks! — {{agent.name}}"}
        ],
        "routing_rules": [
            {"name": "Billing", "channel": "Main SMS",
             "conditions": [{"type": "first_message_matches_any", "words": ["invoice", "bill"]}],
             "actions": [{"type": "route_to_queue", "queue": "Billing"}, {"type": "set_priority", "priority": 2}]},
            {"name": "French", "conditions": [{"type": "language_is", "language": "fr"}],
             "actions": [{"type": "route_to_skills", "skills": [{"name": "French", "level": 3}]}]},
            {"name": "VIP", "position": 1, "conditions": [{"type": "field_equals", "field": "tier", "value": "gold"}],
             "actions": [{"type": "route_to_agent", "agent": "ada@example.test"}]}
        ]
    })
}

/// A change to the workspace that makes it invalid.
type Edit = Box<dyn Fn(&mut Value)>;

fn file(v: &Value) -> WorkspaceFile {
    serde_json::from_value(v.clone()).unwrap()
}

async fn quick_texts_and_rules_apply_idempotently(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let clock = ManualClock::new(Timestamp(1_700_000_000_000));
    let first = apply(s, &clock, &file(&workspace()), false).await.unwrap();
    for item in [
        "quick text Greeting",
        "quick text Closing",
        "routing rule Billing",
        "routing rule French",
        "routing rule VIP",
    ] {
        assert!(first.created.iter().any(|c| c == item), "{item}: {first:?}");
    }
    let second = apply(s, &clock, &file(&workspace()), false).await.unwrap();
    assert!(!second.changed(), "{second:?}");

    let rules = s.routing_rules(None).await.unwrap();
    let names: Vec<_> = rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["VIP", "Billing", "French"], "positions 1, 10, 20");
    let billing = &rules[1];
    let channel = s.channel_by_name("Main SMS").await.unwrap().unwrap();
    let queue = s.queue_by_name("Billing").await.unwrap().unwrap();
    assert_eq!(billing.channel_id, Some(channel.id));
    assert_eq!(
        billing.actions,
        json!([{"type": "route_to_queue", "queue_id": queue.id}, {"type": "set_priority", "priority": 2}])
    );
    let agent = s.agent_by_email("ada@example.test").await.unwrap().unwrap();
    assert_eq!(rules[0].actions[0]["agent_id"], json!(agent.id));

    // A change updates; removal deletes only with prune.
    let mut changed = workspace();
    changed["quick_texts"][0]["body"] = json!("Hello {{contact.name}}");
    changed["quick_texts"].as_array_mut().unwrap().remove(1);
    changed["routing_rules"].as_array_mut().unwrap().remove(2);
    let report = apply(s, &clock, &file(&changed), false).await.unwrap();
    assert_eq!(report.updated, ["quick text Greeting"]);
    assert!(report.deleted.is_empty());
    let report = apply(s, &clock, &file(&changed), true).await.unwrap();
    assert_eq!(report.deleted, ["quick text Closing", "routing rule VIP"]);
    let texts = s
        .search_quick_texts(None, PageRequest::new(None, 10))
        .await
        .unwrap()
        .items;
    assert_eq!(texts.len(), 1);
    assert_eq!(texts[0].body, "Hello {{contact.name}}");
    assert_eq!(s.routing_rules(None).await.unwrap().len(), 2);
}

async fn bad_quick_texts_and_rules_change_nothing(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let clock = ManualClock::new(Timestamp(1_700_000_000_000));
    let cases: Vec<(&str, Edit)> = vec![
        (
            "unknown queue",
            Box::new(|w| w["routing_rules"][0]["actions"][0]["queue"] = json!("Nope")),
        ),
        (
            "undefined channel",
            Box::new(|w| w["routing_rules"][0]["channel"] = json!("Nope")),
        ),
        (
            "two routes",
            Box::new(|w| {
                w["routing_rules"][1]["actions"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"type": "route_to_bot", "bot": "b"}));
            }),
        ),
        (
            "bad language",
            Box::new(|w| w["routing_rules"][1]["conditions"][0]["language"] = json!("!!")),
        ),
        (
            "twice",
            Box::new(|w| w["routing_rules"][1]["name"] = json!("billing")),
        ),
        (
            "empty body",
            Box::new(|w| w["quick_texts"][0]["body"] = json!("  ")),
        ),
        (
            "duplicate title",
            Box::new(|w| w["quick_texts"][1]["title"] = json!("Greeting")),
        ),
    ];
    for (what, edit) in cases {
        let mut w = workspace();
        edit(&mut w);
        let err = apply(s, &clock, &file(&w), false).await;
        assert!(err.is_err(), "{what}");
        assert!(s.routing_rules(None).await.unwrap().is_empty(), "{what}");
        assert!(
            s.queue_by_name("Support").await.unwrap().is_none(),
            "{what}: nothing written"
        );
    }
}

parley_store::on_both_backends!(
    quick_texts_and_rules_apply_idempotently,
    bad_quick_texts_and_rules_change_nothing,
);
