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

/// The error answers are documented by rule (`schema::document_errors`), for every operation,
/// including ones added without their own error annotations.
async fn openapi_documents_every_error_answer(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let doc: Value = app
        .anon(Method::GET, "/api/openapi.json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The error body, alone or as an alternative to the handler's own.
    let error_ref = |op: &Value, status: &str, schema: &str| {
        let s = &op["responses"][status]["content"]["application/json"]["schema"];
        let want = Value::from(format!("#/components/schemas/{schema}"));
        s["$ref"] == want
            || s["anyOf"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x["$ref"] == want))
    };
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let what = format!("{method} {path}");
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let has = |place: &str| params.iter().any(|p| p["in"] == place);
            let json_body = op["requestBody"]["content"]["application/json"].is_object();
            let mut expect = vec!["500"];
            if has("path") {
                expect.extend(["400", "404"]);
            }
            if has("query") || json_body {
                expect.push("400");
            }
            if op["requestBody"].is_object() {
                expect.extend(["413", "415", "422"]);
            }
            if path.starts_with("/api/v1/") {
                expect.extend(["401", "403"]);
                for status in &expect {
                    assert!(
                        error_ref(op, status, "ErrorBody"),
                        "{what}: {status} not documented as ErrorBody"
                    );
                }
                checked += 1;
            } else if path.starts_with("/2010-04-01/") {
                expect.extend(["401", "403"]);
                for status in &expect {
                    assert!(
                        error_ref(op, status, "TwilioError"),
                        "{what}: {status} not documented as TwilioError"
                    );
                }
            } else if path.starts_with("/simulator/") {
                for status in &expect {
                    assert!(
                        error_ref(op, status, "ErrorBody"),
                        "{what}: {status} not documented"
                    );
                }
            }
            if !path.starts_with("/api/v1/") && !path.starts_with("/2010-04-01/") {
                assert_eq!(
                    op["security"],
                    serde_json::json!([{}]),
                    "{what} is open to anyone"
                );
            }
        }
    }
    assert!(checked > 100, "only {checked} operations under /api/v1");
    // A body of its own, or the usual error for a malformed request.
    let send = &doc["paths"]["/api/v1/sessions/{id}/messages"]["post"]["responses"]["422"];
    let either = &send["content"]["application/json"]["schema"]["anyOf"];
    assert_eq!(
        either[0]["$ref"], "#/components/schemas/RefusedBody",
        "{send}"
    );
    assert_eq!(
        either[1]["$ref"], "#/components/schemas/ErrorBody",
        "{send}"
    );
    // An optional enum allows null (an SMS-only setting of a WhatsApp channel).
    let number_type = &doc["components"]["schemas"]["ChannelView"]["properties"]["number_type"];
    assert!(
        number_type["enum"]
            .as_array()
            .unwrap()
            .contains(&Value::Null),
        "{number_type}"
    );
    assert!(
        number_type["type"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("null"))
    );
}

parley_store::on_both_backends!(
    health_ready_and_metrics,
    readiness_fails_when_the_database_is_gone,
    openapi_describes_every_endpoint,
    openapi_documents_every_error_answer,
);
