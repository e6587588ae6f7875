//! Keyword sets over REST (a Canadian short code's English and French sets), the API's error codes
//! for store conflicts and bad references (the same code and message on SQLite and PostgreSQL),
//! and a keyword set written through the API and through `parley apply` stored the same.

use parley_core::SystemClock;
use parley_engine::provision::{WorkspaceFile, apply};
use parley_store::testing::TestBackend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::TestApp;

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut r = app.req(method, path);
    if let Some(b) = body {
        r = r.json(&b);
    }
    parley_testkit::status_and_json(r).await
}

fn english() -> Value {
    json!({"opt_out": ["STOP"], "help": ["HELP", "INFO"],
           "responses": {"help": "Acme Alerts: Help at help@acme.example. Msg&data rates may apply. 1 msg/day. Text STOP to cancel.", "opt_out_confirmation": "Stopped."}})
}

fn french(stopped: &str) -> Value {
    json!({"opt_out": ["ARRET"], "help": ["AIDE"],
           "responses": {"help": "Alertes Acme : aide à aide@acme.example. Des frais de messagerie peuvent s'appliquer. 1 msg/jour. Textez ARRET pour annuler.", "opt_out_confirmation": stopped}})
}

fn short_code(name: &str, sets: Option<Value>) -> Value {
    let mut c = json!({"name": name, "kind": "sms", "provider": "simulator", "address": "24680",
                       "number_type": "short_code", "country": "CA"});
    if let Some(s) = sets {
        c["keyword_sets"] = s;
    }
    c
}

async fn canadian_short_code_over_rest(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    // A Canadian short code must answer ARRET and AIDE in French: the English defaults, or an
    // English set alone, are refused.
    let (status, v) = call(
        &app,
        Method::POST,
        "/api/v1/channels",
        Some(short_code("CA", None)),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["code"], "invalid_request");
    let only_en = json!({"en": english()});
    let (status, v) = call(
        &app,
        Method::POST,
        "/api/v1/channels",
        Some(short_code("CA", Some(only_en))),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["message"].as_str().unwrap().contains("ARRET"), "{v}");

    let both = json!({"en": english(), "fr": french("Arrêté.")});
    let (status, ch) = call(
        &app,
        Method::POST,
        "/api/v1/channels",
        Some(short_code("CA", Some(both))),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{ch}");
    let channel_id = ch["id"].as_str().unwrap().to_owned();

    let (status, list) = call(
        &app,
        Method::GET,
        &format!("/api/v1/keyword-sets?channel_id={channel_id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let sets = list["items"].as_array().unwrap();
    assert_eq!(sets.len(), 2, "{list}");
    let fr = sets.iter().find(|s| s["language"] == "fr").unwrap().clone();
    let fr_path = format!("/api/v1/keyword-sets/{}", fr["id"].as_str().unwrap());
    assert_eq!(
        call(&app, Method::GET, &fr_path, None).await.1["config"],
        french("Arrêté.")
    );

    // A second French set: the store's rule, worded the same on both databases.
    let (status, v) = call(
        &app,
        Method::POST,
        "/api/v1/keyword-sets",
        Some(json!({"channel_id": channel_id, "language": "fr", "config": french("Arrêté.")})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    assert_eq!(
        v,
        json!({"code": "conflict", "message": "this channel already has a keyword set for this language"})
    );

    // STOP in French too: a keyword may be in one list of a channel across its languages.
    let mut twice = french("Arrêté.");
    twice["opt_out"] = json!(["ARRET", "STOP"]);
    let (status, v) = call(
        &app,
        Method::PUT,
        &fr_path,
        Some(json!({"channel_id": channel_id, "language": "fr", "config": twice})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["code"], "invalid_request");
    assert!(v["message"].as_str().unwrap().contains("STOP"), "{v}");

    // Without its French set the channel would break the Canadian rule.
    let (status, v) = call(&app, Method::DELETE, &fr_path, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");

    // A set for another channel is not this one's to move.
    let (status, v) = call(
        &app,
        Method::PUT,
        &fr_path,
        Some(json!({"channel_id": Uuid::now_v7(), "language": "fr", "config": french("x")})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");

    let (status, v) = call(&app, Method::PUT, &fr_path,
        Some(json!({"channel_id": channel_id, "language": "fr", "config": french("Vous êtes désabonné.")}))).await;
    assert_eq!(status, StatusCode::OK, "{v}");

    // The pipeline answers with what the API wrote.
    let r = app
        .anon(Method::POST, "/simulator/inbound")
        .json(&json!({"channel": "CA", "from": "+447400123456", "text": "ARRÊT"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let user = app
        .wait_for_user(channel_id.parse().unwrap(), "+447400123456")
        .await;
    let entries = app.wait_for_entries(user.id, 2).await;
    let replies: Vec<&str> = entries
        .iter()
        .filter(|(_, e)| e.direction == parley_core::model::Direction::Outbound)
        .map(|(_, e)| e.body.as_str())
        .collect();
    assert_eq!(replies, vec!["Vous êtes désabonné."]);

    // All of a channel's sets at once, languages left out deleted.
    let (status, v) = call(
        &app,
        Method::PUT,
        &format!("/api/v1/channels/{channel_id}/keyword-sets"),
        Some(json!({"en": english(), "fr-CA": french("Arrêté.")})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let languages: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["language"].as_str().unwrap())
        .collect();
    assert_eq!(languages, vec!["en", "fr-CA"]);
    let (status, _) = call(&app, Method::GET, &fr_path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A set for a channel that does not exist is a mistake in the body, not a missing path.
    let (status, v) = call(
        &app,
        Method::POST,
        "/api/v1/keyword-sets",
        Some(json!({"channel_id": Uuid::now_v7(), "language": "de", "config": {}})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
}

/// The same literal code and message are expected on each backend, so the test fails if either
/// database's own wording leaks.
async fn duplicates_and_bad_references_answer_the_same_everywhere(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let (status, _) = call(
        &app,
        Method::POST,
        "/api/v1/queues",
        Some(json!({"name": "Support"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, v) = call(
        &app,
        Method::POST,
        "/api/v1/queues",
        Some(json!({"name": "Support"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        v,
        json!({"code": "conflict", "message": "a queue with this name already exists"})
    );

    let sms = |name: &str| {
        json!({"name": name, "kind": "sms", "provider": "simulator",
                                  "address": "+14155550100", "number_type": "long_code", "country": "US"})
    };
    let (status, _) = call(&app, Method::POST, "/api/v1/channels", Some(sms("One"))).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, v) = call(&app, Method::POST, "/api/v1/channels", Some(sms("Two"))).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        v,
        json!({"code": "conflict",
        "message": "a channel with this kind, address and provider keyword already exists"})
    );

    let (status, v) = call(
        &app,
        Method::POST,
        "/api/v1/agents",
        Some(json!({"name": "Ada", "email": "ada@example.com", "queue_ids": [Uuid::now_v7()]})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["code"], "invalid_request");
    let message = v["message"].as_str().unwrap().to_lowercase();
    for leak in ["constraint", "foreign key", "violates", "sqlite"] {
        assert!(
            !message.contains(leak),
            "database text reached the client: {message}"
        );
    }
}

async fn api_and_apply_store_the_same_sets(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let sets = json!({"en": english(), "fr": french("Arrêté.")});
    let file: WorkspaceFile = serde_json::from_value(json!({"channels": [{
        "name": "Applied", "kind": "sms", "provider": "simulator", "address": "13579",
        "number_type": "short_code", "country": "CA", "keyword_sets": sets.clone()}]}))
    .unwrap();
    apply(&app.db.store, &SystemClock, &file, false)
        .await
        .unwrap();
    let (status, v) = call(
        &app,
        Method::POST,
        "/api/v1/channels",
        Some(short_code("Posted", Some(sets))),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");

    let store = &app.db.store;
    let applied = store.channel_by_name("Applied").await.unwrap().unwrap();
    let posted = store.channel_by_name("Posted").await.unwrap().unwrap();
    let of = |k: Vec<parley_store::KeywordSet>| -> Vec<(String, Value)> {
        k.into_iter().map(|k| (k.language, k.config)).collect()
    };
    let a = of(store.keyword_sets(applied.id).await.unwrap());
    let p = of(store.keyword_sets(posted.id).await.unwrap());
    assert_eq!(a.len(), 2);
    assert_eq!(a, p);
    // And apply refuses what the API refuses: French sets alone on a Canadian short code.
    let bad: WorkspaceFile = serde_json::from_value(json!({"channels": [{
        "name": "Applied", "kind": "sms", "provider": "simulator", "address": "13579",
        "number_type": "short_code", "country": "CA", "keyword_sets": {"fr": french("x")}}]}))
    .unwrap();
    assert!(
        apply(&app.db.store, &SystemClock, &bad, true)
            .await
            .is_err()
    );
    assert_eq!(of(store.keyword_sets(applied.id).await.unwrap()), p);
}

async fn openapi_documents_keyword_sets_and_error_codes(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let doc = app.get_json("/api/openapi.json").await;
    for (path, methods) in [
        ("/api/v1/keyword-sets", &["get", "post"][..]),
        ("/api/v1/keyword-sets/{id}", &["get", "put", "delete"]),
        ("/api/v1/channels/{id}/keyword-sets", &["put"]),
    ] {
        for m in methods {
            assert!(doc["paths"][path][*m].is_object(), "{m} {path} missing");
        }
    }
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["KeywordSetInput"].is_object());
    let codes = &schemas["ApiErrorCode"]["enum"];
    for code in [
        "conflict",
        "invalid_request",
        "not_found",
        "csrf",
        "internal",
    ] {
        assert!(
            codes.as_array().unwrap().contains(&json!(code)),
            "{code} not in {codes}"
        );
    }
    assert_eq!(
        schemas["ErrorBody"]["properties"]["code"]["$ref"],
        "#/components/schemas/ApiErrorCode"
    );
}

parley_store::on_both_backends!(
    canadian_short_code_over_rest,
    duplicates_and_bad_references_answer_the_same_everywhere,
    api_and_apply_store_the_same_sets,
    openapi_documents_keyword_sets_and_error_codes,
);
