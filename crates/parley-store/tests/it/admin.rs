//! Quick texts (AG-08) and routing rules (RT-01..05).

use parley_core::Timestamp;
use parley_core::model::*;
use parley_store::testing::{TestBackend, fresh};
use parley_store::*;
use parley_testkit::build;
use serde_json::json;

const T0: Timestamp = Timestamp(1_700_000_000_000);

fn qt(title: &str, body: &str) -> QuickTextSpec {
    QuickTextSpec {
        title: title.to_owned(),
        body: body.to_owned(),
    }
}

async fn quick_text_crud(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let body = "Hi {{contact.first_name}},\n\nthanks — we'll be in touch 😀 \"soon\" & <ok>\r\n";
    let created = s
        .create_quick_text(&qt("Greeting", body), T0)
        .await
        .unwrap();
    assert_eq!(created.title, "Greeting");
    assert_eq!(
        created.body, body,
        "line breaks and special characters round-trip"
    );
    assert_eq!((created.created_at, created.updated_at), (T0, T0));
    assert_eq!(s.quick_text(created.id).await.unwrap(), created);

    let later = Timestamp(T0.0 + 7);
    let updated = s
        .update_quick_text(created.id, &qt("Hello", "Hello {{agent.name}}"), later)
        .await
        .unwrap();
    assert_eq!(
        (updated.title.as_str(), updated.body.as_str()),
        ("Hello", "Hello {{agent.name}}")
    );
    assert_eq!((updated.created_at, updated.updated_at), (T0, later));
    // The search key follows the update.
    let found = s
        .search_quick_texts(Some("hello"), PageRequest::new(None, 50))
        .await
        .unwrap();
    assert_eq!(found.items, vec![updated.clone()]);
    assert!(
        s.search_quick_texts(Some("greeting"), PageRequest::new(None, 50))
            .await
            .unwrap()
            .items
            .is_empty()
    );

    s.delete_quick_text(created.id).await.unwrap();
    assert!(matches!(
        s.quick_text(created.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.delete_quick_text(created.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.update_quick_text(created.id, &qt("x", "y"), later).await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn quick_text_search_ignores_case_on_both_databases(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let mut ids = Vec::new();
    for (t, body) in [
        ("Greeting", "Hello {{contact.first_name}}"),
        ("ÉCOLE", "Réponse pour l'ÉCOLE"),
        ("Straße", "Wir melden uns"),
        ("Discount", "50% off_today"),
        ("Closing", "Thanks, goodbye!\nHAVE A NICE DAY"),
    ] {
        ids.push(s.create_quick_text(&qt(t, body), T0).await.unwrap().id);
    }
    let search = |q: &'static str| async move {
        s.search_quick_texts(Some(q), PageRequest::new(None, 50))
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|t| t.title)
            .collect::<Vec<_>>()
    };
    assert_eq!(search("GREET").await, ["Greeting"]);
    assert_eq!(search("école").await, ["ÉCOLE"], "non-ASCII case folds too");
    assert_eq!(search("STRASSE").await, Vec::<String>::new());
    assert_eq!(search("STRAßE").await, ["Straße"]);
    assert_eq!(search("nice day").await, ["Closing"], "body is searched");
    assert_eq!(search("{{contact.").await, ["Greeting"]);
    assert_eq!(search("50%").await, ["Discount"]);
    assert_eq!(search("%").await, ["Discount"], "% is not a wildcard");
    assert_eq!(
        search("o_f").await,
        Vec::<String>::new(),
        "_ is not a wildcard"
    );
    assert_eq!(search("off_").await, ["Discount"]);
    assert_eq!(
        search("o").await.len(),
        4,
        "every text with an o, in creation order"
    );
    // Blank or absent queries list everything, in creation order, page by page.
    for q in [None, Some(""), Some("   ")] {
        let all = s
            .search_quick_texts(q, PageRequest::new(None, 50))
            .await
            .unwrap();
        assert_eq!(all.items.iter().map(|t| t.id).collect::<Vec<_>>(), ids);
    }
    let first = s
        .search_quick_texts(None, PageRequest::new(None, 2))
        .await
        .unwrap();
    assert_eq!(first.items.len(), 2);
    let next = first.next.unwrap();
    let second = s
        .search_quick_texts(None, PageRequest::new(Some(next), 50))
        .await
        .unwrap();
    assert_eq!(second.items.len(), 3);
    assert_eq!(second.next, None);
}

async fn routing_rule_crud_and_order(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let channel = s
        .create_channel(
            &ChannelSpec {
                name: "SMS".into(),
                number_type: Some(NumberType::LongCode),
                country: Some("US".into()),
                ..build::simulator_sms()
            },
            T0,
        )
        .await
        .unwrap();
    let conditions =
        json!([{"type": "keyword", "any": ["billing", "invoice"]}, {"type": "x", "n": 1.5}]);
    let actions =
        json!([{"type": "route_to_queue", "queue_id": "018f0000-0000-7000-8000-000000000000"}]);
    let spec = RoutingRuleSpec {
        name: "Billing".into(),
        position: 20,
        channel_id: Some(channel.id),
        conditions: conditions.clone(),
        actions: actions.clone(),
    };
    let billing = s.create_routing_rule(&spec, T0).await.unwrap();
    assert_eq!(billing.spec(), spec, "JSON round-trips unchanged");
    assert_eq!(s.routing_rule(billing.id).await.unwrap(), billing);

    let global = s
        .create_routing_rule(
            &RoutingRuleSpec {
                name: "Everything else".into(),
                position: 100,
                channel_id: None,
                conditions: json!([]),
                actions: json!([{"type": "route_to_queue"}]),
            },
            T0,
        )
        .await
        .unwrap();
    let first = s
        .create_routing_rule(
            &RoutingRuleSpec {
                name: "VIP".into(),
                position: 10,
                channel_id: Some(channel.id),
                conditions: json!([]),
                actions: json!([]),
            },
            T0,
        )
        .await
        .unwrap();
    let names =
        |rules: Vec<StoredRoutingRule>| rules.into_iter().map(|r| r.name).collect::<Vec<_>>();
    assert_eq!(
        names(s.routing_rules(None).await.unwrap()),
        ["VIP", "Billing", "Everything else"],
        "ordered by position"
    );
    let other = parley_core::new_id();
    assert_eq!(
        names(s.routing_rules(Some(other)).await.unwrap()),
        ["Everything else"],
        "another channel sees only the rules for every channel"
    );

    // Equal positions keep creation order.
    let later = Timestamp(T0.0 + 3);
    let mut moved = first.spec();
    moved.position = 20;
    moved.channel_id = None;
    let moved = s
        .update_routing_rule(first.id, &moved, later)
        .await
        .unwrap();
    assert_eq!((moved.created_at, moved.updated_at), (T0, later));
    assert_eq!(moved.channel_id, None);
    assert_eq!(
        names(s.routing_rules(Some(channel.id)).await.unwrap()),
        ["Billing", "VIP", "Everything else"]
    );

    // A channel that does not exist is refused; deleting a channel deletes its rules.
    let mut bad = spec.clone();
    bad.channel_id = Some(other);
    assert!(matches!(
        s.create_routing_rule(&bad, T0).await,
        Err(StoreError::Invalid(_))
    ));
    s.delete_channel(channel.id).await.unwrap();
    assert!(matches!(
        s.routing_rule(billing.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(
        names(s.routing_rules(None).await.unwrap()),
        ["VIP", "Everything else"]
    );

    s.delete_routing_rule(global.id).await.unwrap();
    assert!(matches!(
        s.delete_routing_rule(global.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.update_routing_rule(global.id, &spec, later).await,
        Err(StoreError::NotFound { .. })
    ));
}

parley_store::on_both_backends!(
    quick_text_crud,
    quick_text_search_ignores_case_on_both_databases,
    routing_rule_crud_and_order,
);
