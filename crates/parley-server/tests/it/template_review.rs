//! Issue 15 (admin area): a template's review through the API on both databases: created as a
//! draft with named variables, checked against Meta's body rules, submitted, refused with a
//! reason, submitted again and approved; every wrong step is a 409, every bad input a 422, and
//! only the configure permission reviews. The OpenAPI document gives the real bodies. The
//! providers' settings forms are served to the configure permission only.

use parley_core::model::TokenRole;
use parley_store::testing::TestBackend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

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
    let r = r.send().await.unwrap();
    let status = r.status();
    let v = r.json::<Value>().await.unwrap_or(Value::Null);
    (status, v)
}

async fn whatsapp_channel(app: &TestApp) -> String {
    let (status, c) = call(
        app,
        Method::POST,
        "/api/v1/channels",
        Some(
            json!({"name": "Support WA", "kind": "whatsapp", "provider": "simulator",
                    "address": "+14155550123"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    c["id"].as_str().unwrap().to_owned()
}

async fn templates_are_reviewed(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let channel = whatsapp_channel(&app).await;
    let list = format!("/api/v1/channels/{channel}/templates");

    // The document gives the definition an admin writes, with its variables.
    let doc = app.get_json("/api/openapi.json").await;
    for (path, method) in [
        (list.replace(&channel, "{id}"), "post"),
        ("/api/v1/templates/{id}".to_owned(), "put"),
    ] {
        let schema =
            &doc["paths"][&path][method]["requestBody"]["content"]["application/json"]["schema"];
        assert_eq!(
            schema["$ref"], "#/components/schemas/TemplateInput",
            "{path} {method}: {schema}"
        );
    }
    let input = &doc["components"]["schemas"]["TemplateInput"];
    for field in [
        "name",
        "language",
        "category",
        "status",
        "body",
        "components",
        "merge_fields",
        "variables",
    ] {
        assert!(
            input["properties"].get(field).is_some(),
            "TemplateInput lacks {field}: {input}"
        );
    }
    assert!(input["properties"].get("parameters").is_none(), "{input}");
    let required: Vec<&str> = input["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        !required.contains(&"status"),
        "status may be left out: {required:?}"
    );
    for path in [
        "/api/v1/templates/{id}/submit",
        "/api/v1/templates/{id}/approve",
        "/api/v1/templates/{id}/reject",
        "/api/v1/templates/check",
    ] {
        assert!(doc["paths"][path]["post"].is_object(), "{path}");
    }
    assert_eq!(
        doc["paths"]["/api/v1/templates/{id}/reject"]["post"]["requestBody"]["content"]["application/json"]
            ["schema"]["$ref"],
        "#/components/schemas/RejectInput"
    );

    // Created as a draft, each placeholder named with an example.
    let variables = json!([{"name": "Customer name", "example": "Ann"}, {"name": "Order number", "example": "#42"}]);
    let (status, t) = call(
        &app,
        Method::POST,
        &list,
        Some(json!({
        "name": "order_update", "language": "en_US", "category": "utility",
        "body": "Hi {{1}}, order {{2}} has shipped.", "variables": variables})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{t}");
    assert_eq!(t["status"], "draft");
    assert_eq!(t["variables"], variables);
    assert_eq!(t["parameters"], 2);
    let id = t["id"].as_str().unwrap().to_owned();
    let at = |step: &str| format!("/api/v1/templates/{id}/{step}");

    // Bad variables: 422 naming the field.
    for (vars, field) in [
        (json!([{"name": "Only one", "example": "x"}]), "variables"),
        (
            json!([{"name": " ", "example": "x"}, {"name": "b", "example": "y"}]),
            "variables.1.name",
        ),
        (
            json!([{"name": "a", "example": "x\ny"}, {"name": "b", "example": "y"}]),
            "variables.1.example",
        ),
    ] {
        let (status, e) = call(&app, Method::POST, &list, Some(json!({
            "name": "other", "language": "en_US", "body": "Hi {{1}}, order {{2}}.", "variables": vars}))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        assert!(e["message"].as_str().unwrap().starts_with(field), "{e}");
    }

    // Not pending yet: neither approved nor refused.
    assert_eq!(
        call(&app, Method::POST, &at("approve"), None).await.0,
        StatusCode::CONFLICT
    );
    let (status, e) = call(
        &app,
        Method::POST,
        &at("reject"),
        Some(json!({"reason": "no"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");

    // The editor's live check: Meta's rules, by stable name.
    let (status, c) = call(
        &app,
        Method::POST,
        "/api/v1/templates/check",
        Some(json!({
        "channel_id": channel, "body": "{{1}} {{2}}"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{c}");
    let rules: Vec<&str> = c["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["rule"].as_str().unwrap())
        .collect();
    assert_eq!(
        rules,
        [
            "adjacent",
            "starts_with_variable",
            "ends_with_variable",
            "missing_example",
            "missing_example"
        ],
        "{c}"
    );
    assert_eq!(c["parameters"], 2);
    let (status, c) = call(&app, Method::POST, "/api/v1/templates/check", Some(json!({
        "channel_id": channel, "body": "Hi {{1}}, order {{2}} has shipped.", "variables": variables}))).await;
    assert_eq!((status, c["problems"].clone()), (StatusCode::OK, json!([])));
    let (status, _) = call(
        &app,
        Method::POST,
        "/api/v1/templates/check",
        Some(json!({
        "channel_id": uuid::Uuid::now_v7(), "body": "x"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // A body Meta would refuse is not submitted.
    let (_, bad) = call(
        &app,
        Method::POST,
        &list,
        Some(json!({
        "name": "starts_badly", "language": "en_US", "body": "{{1}} is ready",
        "variables": [{"name": "Item", "example": "Your parcel"}]})),
    )
    .await;
    let (status, e) = call(
        &app,
        Method::POST,
        &format!("/api/v1/templates/{}/submit", bad["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("starts with a variable"),
        "{e}"
    );

    // Submitted: pending, once.
    let (status, t) = call(&app, Method::POST, &at("submit"), None).await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert_eq!(t["status"], "pending");
    assert!(t["submitted_at"].is_string());
    assert_eq!(
        call(&app, Method::POST, &at("submit"), None).await.0,
        StatusCode::CONFLICT
    );

    // Agents read templates but do not review them.
    let agent = TestApp::token_for(&app.db, TokenRole::Agent).await;
    for (step, body) in [
        ("approve", None),
        ("reject", Some(json!({"reason": "x"}))),
        ("submit", None),
    ] {
        let mut r = app
            .client
            .post(format!("{}{}", app.base, at(step)))
            .bearer_auth(&agent);
        if let Some(b) = body {
            r = r.json(&b);
        }
        assert_eq!(
            r.send().await.unwrap().status(),
            StatusCode::FORBIDDEN,
            "{step}"
        );
    }

    // Refused with a reason (a blank one is a 422), shown until it is submitted again.
    let (status, e) = call(
        &app,
        Method::POST,
        &at("reject"),
        Some(json!({"reason": "  "})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    let (status, e) = call(&app, Method::POST, &at("reject"), Some(json!({"why": "x"}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    let (status, t) = call(
        &app,
        Method::POST,
        &at("reject"),
        Some(json!({"reason": "Say which order"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert_eq!(
        (t["status"].as_str(), t["rejection_reason"].as_str()),
        (Some("rejected"), Some("Say which order"))
    );
    assert!(t["reviewed_at"].is_string());
    let (_, t) = call(&app, Method::POST, &at("submit"), None).await;
    assert_eq!(
        (t["status"].as_str(), t["rejection_reason"].as_str()),
        (Some("pending"), None)
    );
    let (status, t) = call(&app, Method::POST, &at("approve"), None).await;
    assert_eq!(
        (status, t["status"].as_str()),
        (StatusCode::OK, Some("approved"))
    );
    assert_eq!(
        call(&app, Method::POST, &at("approve"), None).await.0,
        StatusCode::CONFLICT
    );
    assert_eq!(
        call(
            &app,
            Method::POST,
            "/api/v1/templates/00000000-0000-7000-8000-000000000000/approve",
            None
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );

    // A replace without a status keeps it, and keeps the variables when the text keeps its
    // placeholders.
    let (status, t) = call(&app, Method::PUT, &format!("/api/v1/templates/{id}"), Some(json!({
        "name": "order_update", "language": "en_US", "body": "Hello {{1}}, order {{2}} has shipped."}))).await;
    assert_eq!(status, StatusCode::OK, "{t}");
    assert_eq!(
        (t["status"].as_str(), t["variables"].clone()),
        (Some("approved"), variables.clone())
    );

    // Every channel's templates, for the admin area.
    let all = app.get_json("/api/v1/templates").await;
    assert_eq!(all["items"].as_array().unwrap().len(), 2, "{all}");

    // Each review step is in the audit log, under the admin's token.
    let log = app.get_json("/api/v1/audit-log?limit=100").await;
    let text = log.to_string();
    for step in ["submit", "approve", "reject"] {
        assert!(
            text.contains(&format!("/{step}")) || text.contains(step),
            "{step} not audited: {log}"
        );
    }
}

async fn providers_describe_their_fields(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let list = app.get_json("/api/v1/channel-providers").await;
    let items = list["items"].as_array().unwrap();
    let form = |provider: &str, kind: &str| {
        items
            .iter()
            .find(|i| i["provider"] == provider && i["kind"] == kind)
            .cloned()
            .unwrap_or_else(|| panic!("{provider}/{kind} missing: {list}"))
    };
    let twilio = form("twilio", "sms");
    let secrets: Vec<&str> = twilio["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(secrets, ["account_sid", "auth_token"]);
    assert!(
        twilio["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["kind"] == "secret" && f["required"] == true)
    );
    let smpp = form("smpp", "sms");
    let port = smpp["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "port")
        .unwrap();
    assert_eq!(
        (port["kind"].as_str(), port["default"].as_str()),
        (Some("number"), Some("2775"))
    );
    assert!(
        port["help"]
            .as_str()
            .unwrap()
            .starts_with("channel_settings.")
    );
    let wa = form("meta", "whatsapp");
    assert!(wa["settings"].to_string().contains("phone_number_id"));
    assert!(
        !form("meta", "messenger")["settings"]
            .to_string()
            .contains("phone_number_id")
    );
    let vonage = form("vonage", "sms");
    assert!(
        vonage["settings"]
            .to_string()
            .contains("\"choices\":[\"sha256\",\"sha512\"]"),
        "{vonage}"
    );

    let agent = TestApp::token_for(&app.db, TokenRole::Agent).await;
    let r = app
        .client
        .get(format!("{}/api/v1/channel-providers", app.base))
        .bearer_auth(&agent)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // A wrong port names its field, which is where the form shows it.
    let (status, e) = call(&app, Method::POST, "/api/v1/channels", Some(json!({
        "name": "SMSC", "kind": "sms", "provider": "smpp", "address": "+14155550100", "number_type": "long_code",
        "settings": {"host": "smsc.example.com", "port": 70000}}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert!(
        e["message"].as_str().unwrap().contains("settings.port"),
        "{e}"
    );
}

parley_store::on_both_backends!(templates_are_reviewed, providers_describe_their_fields);
