//! Quick texts (AG-08), routing rules (RT-01..05) and the composer's analysis, through the API.

use parley_core::model::{AgentRole, TokenRole};
use parley_core::{Clock, E164, SystemClock};
use parley_store::ContactSpec;
use parley_store::testing::TestBackend;
use parley_testkit::build;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::TestApp;

async fn send_as(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let mut r = app
        .client
        .request(method, format!("{}{path}", app.base))
        .bearer_auth(token);
    if let Some(b) = body {
        r = r.json(b);
    }
    parley_testkit::status_and_json(r).await
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    send_as(app, &app.token, method, path, body).await
}

async fn create(app: &TestApp, path: &str, body: Value) -> Value {
    let (status, v) = send(app, Method::POST, path, Some(&body)).await;
    assert_eq!(status, StatusCode::CREATED, "{path}: {v}");
    v
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

fn channel(name: &str, kind: &str, address: &str) -> Value {
    match kind {
        "sms" => json!({"name": name, "kind": "sms", "provider": "simulator", "address": address,
                        "number_type": "long_code", "country": "US"}),
        "web" => json!({"name": name, "kind": "web", "provider": "web", "address": address}),
        other => json!({"name": name, "kind": other, "provider": "meta", "address": address}),
    }
}

// ---- quick texts ----

async fn quick_texts_crud_search_and_roles(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let body = "Hi {{contact.first_name}},\nthanks for writing — €5 off 😀 \"today\" & <tomorrow>";
    let greeting = create(
        &app,
        "/api/v1/quick-texts",
        json!({"title": "  Greeting ", "body": body}),
    )
    .await;
    assert_eq!(greeting["title"], "Greeting", "title trimmed");
    assert_eq!(
        greeting["body"], body,
        "body kept exactly, line breaks included"
    );
    let one = format!("/api/v1/quick-texts/{}", id(&greeting));
    let (status, got) = send(&app, Method::GET, &one, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, greeting);
    create(
        &app,
        "/api/v1/quick-texts",
        json!({"title": "ÉCOLE", "body": "Réponse"}),
    )
    .await;
    create(
        &app,
        "/api/v1/quick-texts",
        json!({"title": "Closing", "body": "Goodbye and THANKS"}),
    )
    .await;

    let titles = |v: &Value| {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["title"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let (status, all) = send(&app, Method::GET, "/api/v1/quick-texts", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(titles(&all), ["Greeting", "ÉCOLE", "Closing"]);
    let (_, found) = send(&app, Method::GET, "/api/v1/quick-texts?q=thanks", None).await;
    assert_eq!(
        titles(&found),
        ["Greeting", "Closing"],
        "title and body, any case"
    );
    let (_, found) = send(&app, Method::GET, "/api/v1/quick-texts?q=%C3%A9cole", None).await;
    assert_eq!(titles(&found), ["ÉCOLE"]);
    let (_, found) = send(&app, Method::GET, "/api/v1/quick-texts?q=nothing", None).await;
    assert_eq!(titles(&found), Vec::<String>::new());

    let (status, updated) = send(
        &app,
        Method::PUT,
        &one,
        Some(&json!({"title": "Hello", "body": "Hello {{agent.name}}"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["body"], "Hello {{agent.name}}");
    assert_eq!(updated["created_at"], greeting["created_at"]);

    // Roles: every role that converses reads; only the configure role writes; broadcasters neither.
    let agent = TestApp::token_for(&app.db, TokenRole::Agent).await;
    let supervisor = TestApp::token_for(&app.db, TokenRole::Supervisor).await;
    let broadcaster = TestApp::token_for(&app.db, TokenRole::Broadcaster).await;
    for t in [&agent, &supervisor] {
        let (status, v) = send_as(&app, t, Method::GET, "/api/v1/quick-texts?q=hello", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(titles(&v), ["Hello"]);
        let (status, _) = send_as(&app, t, Method::GET, &one, None).await;
        assert_eq!(status, StatusCode::OK);
        let (status, v) = send_as(
            &app,
            t,
            Method::POST,
            "/api/v1/quick-texts",
            Some(&json!({"title": "x", "body": "y"})),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{v}");
        assert_eq!(v["code"], "forbidden");
        let (status, _) = send_as(
            &app,
            t,
            Method::PUT,
            &one,
            Some(&json!({"title": "x", "body": "y"})),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = send_as(&app, t, Method::DELETE, &one, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let (status, _) = send_as(&app, &broadcaster, Method::GET, "/api/v1/quick-texts", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let r = app
        .anon(Method::GET, "/api/v1/quick-texts")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let (status, _) = send(&app, Method::DELETE, &one, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, v) = send(&app, Method::GET, &one, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(v["code"], "not_found");
    let (status, _) = send(&app, Method::DELETE, &one, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn quick_texts_refuse_bad_input(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    for bad in [
        json!({"title": " ", "body": "x"}),
        json!({"title": "t".repeat(101), "body": "x"}),
        json!({"title": "t", "body": " \n "}),
        json!({"title": "t", "body": "x".repeat(4097)}),
    ] {
        let (status, v) = send(&app, Method::POST, "/api/v1/quick-texts", Some(&bad)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {v}");
        assert_eq!(v["code"], "invalid_request");
        assert!(v["message"].as_str().unwrap().contains("quick text"), "{v}");
    }
    let (status, v) = send(
        &app,
        Method::POST,
        "/api/v1/quick-texts",
        Some(&json!({"title": "t", "body": "x", "folder": "f"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "no folders: {v}");
    let (status, _) = send(
        &app,
        Method::PUT,
        &format!("/api/v1/quick-texts/{}", uuid::Uuid::now_v7()),
        Some(&json!({"title": "t", "body": "x"})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn quick_text_renders_for_a_session(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let ch = create(
        &app,
        "/api/v1/channels",
        channel("Support SMS", "sms", "+14155550100"),
    )
    .await;
    let ch_id: uuid::Uuid = id(&ch).parse().unwrap();
    let r = app
        .anon(Method::POST, "/simulator/inbound")
        .json(&json!({"channel": "Support SMS", "from": "+447400123456", "text": "Hello, my order is late"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let user = app.wait_for_user(ch_id, "+447400123456").await;
    let entries = app.wait_for_entries(user.id, 1).await;
    let session_id = entries[0].0.id;

    let text = create(
        &app,
        "/api/v1/quick-texts",
        json!({"title": "Greeting",
               "body": "Hi {{contact.first_name}} {{contact.last_name}} ({{contact.name}}),\n{{agent.name}} here on {{ channel.name }} for {{messaging_user.platform_key}}. {{contact.frist_name}}"}),
    )
    .await;
    let path = format!("/api/v1/quick-texts/{}/render", id(&text));
    let agent = TestApp::token_for(&app.db, TokenRole::Agent).await;

    // Without a contact: first and last names are empty, the name is the channel's.
    let (status, v) = send_as(
        &app,
        &agent,
        Method::POST,
        &path,
        Some(&json!({"session_id": session_id})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let expected_name = user.name.clone();
    assert_eq!(
        v["body"],
        format!(
            "Hi   ({expected_name}),\n here on Support SMS for +447400123456. {{{{contact.frist_name}}}}"
        ),
        "agent.name is empty for an API token; an unknown field stays as written"
    );
    assert_eq!(v["unknown_fields"], json!(["contact.frist_name"]));
    assert_eq!(v["title"], "Greeting");

    // With a linked contact.
    let now = SystemClock.now();
    let contact = app
        .db
        .store
        .create_contact(
            &ContactSpec {
                first_name: "Zoë".into(),
                last_name: "O'Brien".into(),
                phone: Some(E164::parse("+447400123456").unwrap()),
                email: None,
            },
            now,
        )
        .await
        .unwrap();
    app.db
        .store
        .link_contact(user.id, contact.id, now)
        .await
        .unwrap();
    let (status, v) = send(
        &app,
        Method::POST,
        &path,
        Some(&json!({"session_id": session_id})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(
        v["body"]
            .as_str()
            .unwrap()
            .starts_with("Hi Zoë O'Brien (Zoë O'Brien),\n here on Support SMS"),
        "{v}"
    );

    // A signed-in console agent renders as `agent.name`.
    let (cookie, csrf) = console_sign_in(&app, "Sam").await;
    let r = app
        .client
        .post(format!("{}{path}", app.base))
        .header(reqwest::header::COOKIE, &cookie)
        .header("x-csrf-token", &csrf)
        .json(&json!({"session_id": session_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["body"]
            .as_str()
            .unwrap()
            .contains(",\nSam here on Support SMS"),
        "{v}"
    );

    // A session that does not exist is the request's fault; a quick text that does not is 404.
    let (status, v) = send(
        &app,
        Method::POST,
        &path,
        Some(&json!({"session_id": uuid::Uuid::now_v7()})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (status, _) = send(
        &app,
        Method::POST,
        &format!("/api/v1/quick-texts/{}/render", uuid::Uuid::now_v7()),
        Some(&json!({"session_id": session_id})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let broadcaster = TestApp::token_for(&app.db, TokenRole::Broadcaster).await;
    let (status, _) = send_as(
        &app,
        &broadcaster,
        Method::POST,
        &path,
        Some(&json!({"session_id": session_id})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// Signs an agent in through the console form: its cookie, and the CSRF token of its pages.
async fn console_sign_in(app: &TestApp, name: &str) -> (String, String) {
    const PASSWORD: &str = "correct horse battery staple";
    let agent = app
        .agent_with_password(
            &build::agent_spec(name, AgentRole::Agent, 2, vec![]),
            PASSWORD,
        )
        .await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client
        .post(format!("{}/console/login", app.base))
        .form(&[("email", agent.email.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = r.headers()[reqwest::header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let html = client
        .get(format!("{}/console", app.base))
        .header(reqwest::header::COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = html
        .split("name=\"csrf-token\" content=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the console page carries its CSRF token")
        .to_owned();
    (cookie, csrf)
}

// ---- routing rules ----

async fn routing_rules_crud_validation_and_roles(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let queue = create(&app, "/api/v1/queues", json!({"name": "Billing"})).await;
    let skill = create(&app, "/api/v1/skills", json!({"name": "French"})).await;
    let agent = create(
        &app,
        "/api/v1/agents",
        json!({"name": "Ada", "email": "ada@example.test", "role": "agent", "capacity": 3}),
    )
    .await;
    let ch = create(
        &app,
        "/api/v1/channels",
        channel("Support SMS", "sms", "+14155550100"),
    )
    .await;
    let other = create(&app, "/api/v1/channels", channel("Web", "web", "site")).await;

    let billing = json!({
        "name": "Billing questions",
        "position": 20,
        "channel_id": id(&ch),
        "conditions": [
            {"type": "first_message_matches_any", "words": ["invoice", "bill"]},
            {"type": "within_business_hours"}
        ],
        "actions": [{"type": "route_to_queue", "queue_id": id(&queue)}, {"type": "set_priority", "priority": 5}]
    });
    let r1 = create(&app, "/api/v1/routing-rules", billing.clone()).await;
    assert_eq!(r1["position"], 20);
    assert_eq!(r1["channel_id"], json!(id(&ch)));
    assert_eq!(r1["conditions"][0]["type"], "first_message_matches_any");
    assert_eq!(
        r1["conditions"][1],
        json!({"type": "within_business_hours", "value": true})
    );
    assert_eq!(r1["actions"], billing["actions"]);

    // No position: after every existing rule. No channel: every channel.
    let r2 = create(
        &app,
        "/api/v1/routing-rules",
        json!({"name": "French speakers", "conditions": [{"type": "language_is", "language": "fr"}],
               "actions": [{"type": "route_to_skills", "skills": [{"skill_id": id(&skill), "level": 3}]}]}),
    )
    .await;
    assert_eq!(r2["position"], 30);
    assert_eq!(r2["channel_id"], Value::Null);
    let r3 = create(
        &app,
        "/api/v1/routing-rules",
        json!({"name": "VIP", "position": 1, "channel_id": id(&other),
               "actions": [{"type": "route_to_agent", "agent_id": id(&agent)}]}),
    )
    .await;

    let names = |v: &Value| {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let (status, all) = send(&app, Method::GET, "/api/v1/routing-rules", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&all), ["VIP", "Billing questions", "French speakers"]);
    let (_, sms) = send(
        &app,
        Method::GET,
        &format!("/api/v1/routing-rules?channel_id={}", id(&ch)),
        None,
    )
    .await;
    assert_eq!(names(&sms), ["Billing questions", "French speakers"]);

    // Replace: without a position, it keeps its place.
    let one = format!("/api/v1/routing-rules/{}", id(&r1));
    let mut edit = billing.clone();
    edit["name"] = json!("Invoices");
    edit.as_object_mut().unwrap().remove("position");
    let (status, v) = send(&app, Method::PUT, &one, Some(&edit)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        (v["name"].as_str(), v["position"].as_i64()),
        (Some("Invoices"), Some(20))
    );
    let (status, got) = send(&app, Method::GET, &one, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, v);

    // Validation by core: one readable 422 listing every problem.
    let (status, v) = send(
        &app,
        Method::POST,
        "/api/v1/routing-rules",
        Some(&json!({"name": "Broken", "conditions": [{"type": "first_message_contains", "text": "  !"}],
                     "actions": [{"type": "route_to_queue", "queue_id": id(&queue)},
                                 {"type": "route_to_bot", "bot": "Helper"}]})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["code"], "invalid_request");
    let msg = v["message"].as_str().unwrap();
    assert!(
        msg.contains("Broken") && msg.contains("condition 1") && msg.contains("2 route actions"),
        "{msg}"
    );
    let (status, v) = send(
        &app,
        Method::POST,
        "/api/v1/routing-rules",
        Some(&json!({"name": "No actions", "actions": []})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (status, v) = send(
        &app,
        Method::POST,
        "/api/v1/routing-rules",
        Some(&json!({"name": "Bad type", "actions": [{"type": "route_to_moon"}]})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("route_to_moon"),
        "{v}"
    );

    // References must exist.
    let ghost = uuid::Uuid::now_v7().to_string();
    for (what, actions, channel_id) in [
        (
            "queue",
            json!([{"type": "route_to_queue", "queue_id": ghost}]),
            Value::Null,
        ),
        (
            "agent",
            json!([{"type": "route_to_agent", "agent_id": ghost}]),
            Value::Null,
        ),
        (
            "skill",
            json!([{"type": "route_to_skills", "skills": [{"skill_id": ghost, "level": 2}]}]),
            Value::Null,
        ),
        (
            "channel",
            json!([{"type": "route_to_queue", "queue_id": id(&queue)}]),
            json!(ghost),
        ),
    ] {
        let (status, v) = send(
            &app,
            Method::POST,
            "/api/v1/routing-rules",
            Some(&json!({"name": "Ghost", "channel_id": channel_id, "actions": actions})),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {v}");
        let msg = v["message"].as_str().unwrap();
        assert!(msg.contains(what) && msg.contains(&ghost), "{msg}");
    }
    let (_, all) = send(&app, Method::GET, "/api/v1/routing-rules", None).await;
    assert_eq!(
        all["items"].as_array().unwrap().len(),
        3,
        "nothing refused was stored"
    );

    // Only the configure role.
    for role in [
        TokenRole::Supervisor,
        TokenRole::Agent,
        TokenRole::Broadcaster,
    ] {
        let t = TestApp::token_for(&app.db, role).await;
        let (status, _) = send_as(&app, &t, Method::GET, "/api/v1/routing-rules", None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role}");
        let (status, _) = send_as(
            &app,
            &t,
            Method::POST,
            "/api/v1/routing-rules",
            Some(&billing),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role}");
        let (status, _) = send_as(&app, &t, Method::DELETE, &one, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role}");
    }

    let (status, _) = send(
        &app,
        Method::DELETE,
        &format!("/api/v1/routing-rules/{}", id(&r3)),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = send(
        &app,
        Method::DELETE,
        &format!("/api/v1/routing-rules/{}", id(&r3)),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = send(
        &app,
        Method::PUT,
        &format!("/api/v1/routing-rules/{}", id(&r3)),
        Some(&billing),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

// ---- compose/analyze ----

async fn analyze(app: &TestApp, token: &str, channel_id: &str, body: &str) -> Value {
    let (status, v) = send_as(
        app,
        token,
        Method::POST,
        "/api/v1/compose/analyze",
        Some(&json!({"channel_id": channel_id, "body": body})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v
}

async fn compose_analyze_figures(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let sms = id(&create(
        &app,
        "/api/v1/channels",
        channel("SMS", "sms", "+14155550100"),
    )
    .await);
    let wa = id(&create(
        &app,
        "/api/v1/channels",
        channel("WA", "whatsapp", "+14155550101"),
    )
    .await);
    let fb = id(&create(
        &app,
        "/api/v1/channels",
        channel("FB", "messenger", "1234567890"),
    )
    .await);
    // Any signed-in role may ask, broadcasters included.
    let t = TestApp::token_for(&app.db, TokenRole::Broadcaster).await;

    let figures = |v: &Value| {
        (
            v["characters"].as_u64().unwrap(),
            v["limit"].as_u64().unwrap(),
            v["encoding"].clone(),
            v["segments"].clone(),
            v["ok"].as_bool().unwrap(),
        )
    };
    // GSM-7: 160 fit one segment, 161 need two (153 each).
    let v = analyze(&app, &t, &sms, &"a".repeat(160)).await;
    assert_eq!(figures(&v), (160, 840, json!("GSM-7"), json!(1), true));
    assert!(v.get("error").is_none(), "no error key when ok: {v}");
    let v = analyze(&app, &t, &sms, &"a".repeat(161)).await;
    assert_eq!(figures(&v), (161, 840, json!("GSM-7"), json!(2), true));
    // Extension characters take two septets but count as one character.
    let v = analyze(&app, &t, &sms, &"€".repeat(80)).await;
    assert_eq!(figures(&v), (80, 840, json!("GSM-7"), json!(1), true));
    let v = analyze(&app, &t, &sms, &format!("{}[", "a".repeat(159))).await;
    assert_eq!(figures(&v), (160, 840, json!("GSM-7"), json!(2), true));
    // One emoji makes the whole text UCS-2: 70 units in one segment, 67 per part after.
    let v = analyze(&app, &t, &sms, &format!("{}😀", "a".repeat(68))).await;
    assert_eq!(figures(&v), (69, 840, json!("UCS-2"), json!(1), true));
    let v = analyze(&app, &t, &sms, &format!("{}😀", "a".repeat(69))).await;
    assert_eq!(figures(&v), (70, 840, json!("UCS-2"), json!(2), true));
    let v = analyze(&app, &t, &sms, "").await;
    assert_eq!(figures(&v), (0, 840, json!("GSM-7"), json!(1), true));

    // The limits: 840 GSM characters fit in 6 segments, 841 do not (3004).
    let v = analyze(&app, &t, &sms, &"a".repeat(840)).await;
    assert_eq!(figures(&v), (840, 840, json!("GSM-7"), json!(6), true));
    let v = analyze(&app, &t, &sms, &"a".repeat(841)).await;
    assert_eq!(figures(&v), (841, 840, json!("GSM-7"), json!(6), false));
    assert_eq!(v["error"]["code"], "3004");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("840"),
        "{v}"
    );
    // UCS-2 runs out of segments first: 402 units fit, 403 need a seventh segment.
    let v = analyze(&app, &t, &sms, &"é€ж".repeat(134)).await;
    assert_eq!(figures(&v), (402, 840, json!("UCS-2"), json!(6), true));
    let v = analyze(&app, &t, &sms, &format!("{}ж", "é€ж".repeat(134))).await;
    assert_eq!(figures(&v), (403, 840, json!("UCS-2"), json!(7), false));
    assert_eq!(v["error"]["code"], "3004");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("segments"),
        "{v}"
    );
    // Extension characters fill segments twice as fast and never straddle two: 76 per part.
    let v = analyze(&app, &t, &sms, &"€".repeat(456)).await;
    assert_eq!(figures(&v), (456, 840, json!("GSM-7"), json!(6), true));
    let v = analyze(&app, &t, &sms, &"€".repeat(457)).await;
    assert_eq!(figures(&v), (457, 840, json!("GSM-7"), json!(7), false));

    // Other channels: only their character limit.
    let v = analyze(&app, &t, &wa, &"😀".repeat(4096)).await;
    assert_eq!(figures(&v), (4096, 4096, Value::Null, Value::Null, true));
    let v = analyze(&app, &t, &fb, &"x".repeat(2001)).await;
    assert_eq!(figures(&v), (2001, 2000, Value::Null, Value::Null, false));
    assert_eq!(v["error"]["code"], "3004");

    // A channel that does not exist, and no token.
    let (status, v) = send(
        &app,
        Method::POST,
        "/api/v1/compose/analyze",
        Some(&json!({"channel_id": uuid::Uuid::now_v7(), "body": "hi"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let r = app
        .anon(Method::POST, "/api/v1/compose/analyze")
        .json(&json!({"channel_id": sms, "body": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

async fn openapi_lists_these_endpoints(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let doc: Value = app
        .anon(Method::GET, "/api/openapi.json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (path, methods) in [
        ("/api/v1/quick-texts", &["get", "post"][..]),
        ("/api/v1/quick-texts/{id}", &["get", "put", "delete"]),
        ("/api/v1/quick-texts/{id}/render", &["post"]),
        ("/api/v1/routing-rules", &["get", "post"]),
        ("/api/v1/routing-rules/{id}", &["get", "put", "delete"]),
        ("/api/v1/compose/analyze", &["post"]),
    ] {
        for m in methods {
            assert!(doc["paths"][path][*m].is_object(), "{m} {path} missing");
        }
    }
    let schemas = &doc["components"]["schemas"];
    for s in [
        "QuickTextInput",
        "QuickTextView",
        "RenderedQuickText",
        "RoutingRuleInput",
        "RoutingRuleView",
        "AnalyzeInput",
        "Analysis",
    ] {
        assert!(schemas[s].is_object(), "schema {s} missing");
    }
}

parley_store::on_both_backends!(
    openapi_lists_these_endpoints,
    quick_texts_crud_search_and_roles,
    quick_texts_refuse_bad_input,
    quick_text_renders_for_a_session,
    routing_rules_crud_validation_and_roles,
    compose_analyze_figures,
);
