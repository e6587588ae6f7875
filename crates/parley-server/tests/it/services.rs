//! The API and `parley apply` write through the same service functions: what one wrote, the other
//! finds unchanged, and what one refuses, the other refuses too.

use parley_core::SystemClock;
use parley_engine::provision::{WorkspaceFile, apply};
use parley_store::testing::TestBackend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::TestApp;

async fn post(app: &TestApp, path: &str, body: Value) -> Value {
    let r = app
        .req(Method::POST, path)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{path}: {v}");
    v
}

fn workspace(template_name: &str) -> WorkspaceFile {
    serde_json::from_value(json!({
        "queues": [{"name": "Billing", "priority": 5}],
        "skills": [{"name": "French", "description": "Parle français"}],
        "quick_texts": [{"title": "Hello", "body": "Hi {{contact.first_name}},\nthanks."}],
        "channels": [{
            "name": "Sim", "kind": "sms", "provider": "simulator", "address": "+14155550100",
            "number_type": "long_code", "country": "US", "queue": "Billing",
            "keyword_sets": {"en": {"opt_out": ["STOP"], "help": ["HELP"],
                                    "responses": {"help": "Help text."}}},
            "templates": [{"name": template_name, "language": "en", "category": "utility",
                           "body": "Hi {{1}}"}]
        }],
        "agents": [{"name": "Ada", "email": "ada@example.com", "capacity": 4,
                    "queues": ["Billing"], "skills": [{"name": "French", "level": 7}]}]
    }))
    .unwrap()
}

async fn api_writes_are_what_apply_would_write(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let queue = post(
        &app,
        "/api/v1/queues",
        json!({"name": "Billing", "priority": 5}),
    )
    .await;
    let skill = post(
        &app,
        "/api/v1/skills",
        json!({"name": "French", "description": "Parle français"}),
    )
    .await;
    post(
        &app,
        "/api/v1/quick-texts",
        json!({"title": "Hello", "body": "Hi {{contact.first_name}},\nthanks."}),
    )
    .await;
    let channel = post(
        &app,
        "/api/v1/channels",
        json!({"name": "Sim", "kind": "sms", "provider": "simulator", "address": "+14155550100",
               "number_type": "long_code", "country": "US", "queue_id": queue["id"],
               "keyword_sets": {"en": {"opt_out": ["STOP"], "help": ["HELP"],
                                       "responses": {"help": "Help text."}}}}),
    )
    .await;
    post(
        &app,
        &format!(
            "/api/v1/channels/{}/templates",
            channel["id"].as_str().unwrap()
        ),
        json!({"name": "order_update", "language": "en", "status": "approved", "body": "Hi {{1}}"}),
    )
    .await;
    post(
        &app,
        "/api/v1/agents",
        json!({"name": "Ada", "email": "ada@example.com", "capacity": 4,
               "queue_ids": [queue["id"]], "skills": [{"skill_id": skill["id"], "level": 7}]}),
    )
    .await;

    let report = apply(
        &app.db.store,
        &SystemClock,
        &workspace("order_update"),
        false,
    )
    .await
    .unwrap();
    assert!(report.created.is_empty(), "{report:?}");
    assert!(report.updated.is_empty(), "{report:?}");
    // Queue, skill, quick text, channel, keyword set, template, agent.
    assert_eq!(report.unchanged, 7, "{report:?}");

    // The template rules the API applies hold for a file too, and nothing is written.
    let err = apply(
        &app.db.store,
        &SystemClock,
        &workspace("Order Update"),
        false,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("lowercase letters"), "{err}");
    let r = app
        .req(
            Method::POST,
            &format!(
                "/api/v1/channels/{}/templates",
                channel["id"].as_str().unwrap()
            ),
        )
        .json(
            &json!({"name": "Order Update", "language": "en", "status": "approved", "body": "Hi"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let templates = app
        .db
        .store
        .list_templates(Some(channel["id"].as_str().unwrap().parse().unwrap()))
        .await
        .unwrap();
    assert_eq!(templates.len(), 1);
}

parley_store::on_both_backends!(api_writes_are_what_apply_would_write);
