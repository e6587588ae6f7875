//! Bad input gets a clear 4xx with a stable code, and nothing is written.

use parley_store::PageRequest;
use parley_store::testing::TestBackend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::TestApp;

async fn expect(r: reqwest::Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(r.status(), status);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert!(!body["message"].as_str().unwrap().is_empty());
    body
}

async fn missing_or_wrong_tokens_are_401(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    expect(
        app.anon(Method::GET, "/api/v1/channels")
            .send()
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    expect(
        app.anon(Method::GET, "/api/v1/channels")
            .bearer_auth("pk_wrong")
            .send()
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    expect(
        app.anon(Method::GET, "/api/v1/channels")
            .header("authorization", "Basic YTpi")
            .send()
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    let r = app
        .anon(Method::POST, "/api/v1/queues")
        .json(&json!({"name": "X"}))
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let revoked_hash = parley_server::auth::hash_token(&app.token);
    let t = app
        .db
        .store
        .api_token_by_hash(&revoked_hash)
        .await
        .unwrap()
        .unwrap();
    app.db
        .store
        .revoke_api_token(t.id, parley_core::Timestamp(0))
        .await
        .unwrap();
    expect(
        app.req(Method::GET, "/api/v1/channels")
            .send()
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert!(app.db.store.queue_by_name("X").await.unwrap().is_none());
}

async fn malformed_bodies_are_refused(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let post = |body: &'static str| {
        app.req(Method::POST, "/api/v1/queues")
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    expect(
        post("{not json").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_json",
    )
    .await;
    expect(
        post(r#"{"name": "A", "colour": "red"}"#).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    expect(
        post(r#"{"name": 5}"#).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    expect(
        post(r#"{"name": "A", "routing_model": "random"}"#)
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    expect(
        post(r#"{"name": "   "}"#).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    let r = app
        .req(Method::POST, "/api/v1/queues")
        .header("content-type", "text/plain")
        .body(r#"{"name":"A"}"#)
        .send()
        .await
        .unwrap();
    expect(
        r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    assert!(
        app.db
            .store
            .list_queues(PageRequest::new(None, 10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

async fn invalid_phone_numbers_are_refused(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    for phone in ["+447700900123", "12345", "not a number", "+1"] {
        let r = app
            .req(Method::POST, "/api/v1/contacts")
            .json(&json!({"phone": phone}))
            .send()
            .await
            .unwrap();
        let body = expect(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
        assert!(body["message"].as_str().unwrap().contains(phone), "{body}");
    }
    let r = app
        .req(Method::POST, "/api/v1/channels")
        .json(&json!({"name": "X", "kind": "sms", "provider": "twilio", "address": "+447700900123", "number_type": "long_code"}))
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    let r = app
        .req(Method::POST, "/api/v1/channels")
        .json(&json!({"name": "X", "kind": "sms", "provider": "meta", "address": "+14155552671", "number_type": "long_code"}))
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    assert!(
        app.db
            .store
            .list_contacts(PageRequest::new(None, 10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(
        app.db
            .store
            .list_channels(PageRequest::new(None, 10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

async fn oversized_bodies_are_413(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let big = format!(r#"{{"name": "{}"}}"#, "x".repeat(70 * 1024));
    let r = app
        .req(Method::POST, "/api/v1/skills")
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    let r = app
        .anon(Method::POST, "/simulator/inbound")
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    assert!(
        app.db
            .store
            .list_skills(PageRequest::new(None, 10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

async fn bad_paths_and_queries(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    expect(
        app.req(Method::GET, "/api/v1/channels/not-a-uuid")
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    expect(
        app.req(Method::GET, "/api/v1/channels?limit=lots")
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    expect(
        app.req(Method::GET, "/api/v1/sessions?status=asleep")
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    expect(
        app.req(Method::GET, "/api/v1/channels?sort=name")
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    let r = app
        .req(
            Method::PUT,
            &format!("/api/v1/queues/{}", uuid::Uuid::now_v7()),
        )
        .json(&json!({"name": "Q"}))
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::NOT_FOUND, "not_found").await;
}

/// PostgreSQL cannot store a NUL in text (SQLite can): a NUL anywhere in a request's text was a
/// 500 on PostgreSQL (found by schemathesis: `POST /api/v1/skills {"name": "\u0000..."}`). Now it
/// is refused on both databases, naming the field, and nothing is written.
async fn nul_characters_are_refused(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let r = app
        .req(Method::POST, "/api/v1/skills")
        .json(&json!({"name": "Eng\u{0}lish"}))
        .send()
        .await
        .unwrap();
    let body = expect(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    assert!(
        body["message"].as_str().unwrap().starts_with("name:"),
        "{body}"
    );
    let r = app
        .req(Method::POST, "/api/v1/keyword-sets")
        .json(
            &json!({"channel_id": uuid::Uuid::now_v7(), "language": "en",
            "config": {"help": ["HELP", "IN\u{0}FO"]}}),
        )
        .send()
        .await
        .unwrap();
    let body = expect(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("config.help[1]:"),
        "{body}"
    );
    // A NUL in the query string or the path is a malformed request.
    for path in ["/api/v1/quick-texts?q=a%00b", "/api/v1/flows/a%00b"] {
        let r = app.req(Method::GET, path).send().await.unwrap();
        expect(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    let skills = app.db.store.list_skills(PageRequest::new(None, 10));
    assert!(skills.await.unwrap().items.is_empty());
    // The six characters `\u0000` written as text (an escaped backslash) are not a NUL.
    let r = app
        .req(Method::POST, "/api/v1/skills")
        .body(r#"{"name": "Eng\\u0000lish"}"#)
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["name"], "Eng\\u0000lish");
}

/// JSON numbers at the ends of f64's range, in a free-form document (a template's components),
/// are read back as written. PostgreSQL stores them as exact decimals (309 digits for 1.8e308),
/// which serde_json's default parser overflowed on: the template was saved, then every read of it
/// was a 500 (found by schemathesis: `PUT /api/v1/templates/{id}`, then `GET`).
async fn extreme_json_numbers_are_read_back(b: TestBackend) {
    use parley_core::{Clock, SystemClock};
    let app = TestApp::spawn(b).await;
    let spec = parley_testkit::build::simulator_sms();
    let channel = parley_testkit::build::channel(&app.db.store, &spec, SystemClock.now()).await;
    let components = json!([{"type": "body", "min": f64::MIN, "max": f64::MAX,
        "tiny": 5e-324, "big": u64::MAX, "neg": i64::MIN}]);
    let r = app
        .req(
            Method::POST,
            &format!("/api/v1/channels/{}/templates", channel.id),
        )
        .json(
            &json!({"name": "order_update", "language": "en", "status": "approved",
            "body": "Hi {{1}}", "components": components}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["components"], components);
    let read = app
        .get_json(&format!(
            "/api/v1/templates/{}",
            created["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(read["components"], components);
}

/// What the OpenAPI document refuses, the server refuses (schemathesis's negative_data_rejection
/// found each): a page size outside 1 to 500 (was clamped), an array where the body is an object
/// (serde filled the struct from it), a name over 100 characters counting its spaces.
async fn what_the_document_refuses_is_refused(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    for query in ["limit=0", "limit=501", "limit=2147483648"] {
        for list in [
            "/api/v1/channels",
            "/api/v1/sessions",
            "/api/v1/cases",
            "/api/v1/quick-texts",
        ] {
            let r = app
                .req(Method::GET, &format!("{list}?{query}"))
                .send()
                .await
                .unwrap();
            let body = expect(r, StatusCode::BAD_REQUEST, "invalid_request").await;
            assert!(
                body["message"].as_str().unwrap().contains("limit"),
                "{list}?{query}: {body}"
            );
        }
    }
    let r = app
        .req(Method::GET, "/api/v1/channels?limit=500")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .req(Method::POST, "/api/v1/queues")
        .json(&json!(["Array queue", "least_active", 0]))
        .send()
        .await
        .unwrap();
    let body = expect(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    assert!(
        body["message"].as_str().unwrap().contains("object"),
        "{body}"
    );
    let long = format!("{} ", "q".repeat(100));
    let r = app
        .req(Method::POST, "/api/v1/queues")
        .json(&json!({"name": long}))
        .send()
        .await
        .unwrap();
    expect(r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    let r = app
        .req(Method::POST, "/api/v1/queues")
        .json(&json!({"name": " Padded "}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["name"], "Padded");
}

parley_store::on_both_backends!(
    missing_or_wrong_tokens_are_401,
    nul_characters_are_refused,
    extreme_json_numbers_are_read_back,
    malformed_bodies_are_refused,
    invalid_phone_numbers_are_refused,
    oversized_bodies_are_413,
    bad_paths_and_queries,
    what_the_document_refuses_is_refused,
);
