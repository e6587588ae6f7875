use parley_store::testing::TestBackend;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::TestApp;

async fn health_ready_and_metrics(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let r = app.anon(Method::GET, "/healthz").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "ok");
    assert_eq!(
        app.anon(Method::GET, "/readyz")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let metrics = app
        .anon(Method::GET, "/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("parley_http_requests_total"), "{metrics}");
    // Unknown routes are JSON errors too.
    let r = app.anon(Method::GET, "/nope").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "not_found");
}

async fn readiness_fails_when_the_database_is_gone(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    app.db.store.close().await;
    assert_eq!(
        app.anon(Method::GET, "/readyz")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        app.anon(Method::GET, "/healthz")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

async fn openapi_describes_every_endpoint(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let doc: Value = app
        .anon(Method::GET, "/api/openapi.json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let expect = [
        ("/api/v1/channels", &["get", "post"][..]),
        ("/api/v1/channels/{id}", &["get", "put", "delete"]),
        ("/api/v1/queues", &["get", "post"]),
        ("/api/v1/queues/{id}", &["get", "put", "delete"]),
        ("/api/v1/skills", &["get", "post"]),
        ("/api/v1/skills/{id}", &["get", "put", "delete"]),
        ("/api/v1/agents", &["get", "post"]),
        ("/api/v1/agents/{id}", &["get", "put", "delete"]),
        ("/api/v1/contacts", &["get", "post"]),
        ("/api/v1/contacts/{id}", &["get", "put", "delete"]),
        ("/api/v1/messaging-users", &["get"]),
        ("/api/v1/messaging-users/{id}", &["get"]),
        ("/api/v1/sessions", &["get"]),
        ("/api/v1/sessions/{id}", &["get"]),
        ("/api/v1/sessions/{id}/entries", &["get"]),
        ("/api/v1/sms-processes", &["get", "post"]),
        ("/api/v1/sms-processes/{id}", &["get", "put", "delete"]),
        ("/api/v1/sms-processes/{id}/start", &["post"]),
        ("/api/v1/sms-processes/{id}/pause", &["post"]),
        ("/simulator/inbound", &["post"]),
        ("/simulator/messages", &["get"]),
        ("/healthz", &["get"]),
        ("/readyz", &["get"]),
        (
            "/2010-04-01/Accounts/{AccountSid}/Messages.json",
            &["get", "post"],
        ),
        ("/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}", &["get"]),
    ];
    for (path, methods) in expect {
        let item = paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} missing from the OpenAPI document"));
        for m in methods {
            assert!(item.get(*m).is_some(), "{m} {path} missing");
        }
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for s in [
        "ChannelInput",
        "ChannelView",
        "AgentView",
        "SessionView",
        "EntryView",
        "ErrorBody",
        "MessagingUserDetail",
        "SmsProcessInput",
        "SmsProcessView",
    ] {
        assert!(schemas.contains_key(s), "schema {s} missing");
    }
    // The list filters are query parameters.
    let params = doc["paths"]["/api/v1/sms-processes"]["get"]["parameters"]
        .as_array()
        .unwrap();
    assert!(params.iter().all(|p| p["in"] == "query"), "{params:?}");
    let kinds = &schemas["ChannelInput"]["properties"]["kind"]["enum"];
    assert_eq!(
        kinds,
        &serde_json::json!(["sms", "whatsapp", "messenger", "web"])
    );
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

parley_store::on_both_backends!(
    health_ready_and_metrics,
    readiness_fails_when_the_database_is_gone,
    openapi_describes_every_endpoint,
);
