//! Issue 13: triggered notifications through the real server, its dispatcher and the simulator,
//! on both databases: each recipient form, missing merge fields, the in-country rule, appended
//! versus new sessions, idempotency, and the error log.

use parley_engine::EngineConfig;
use parley_store::testing::TestBackend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{TestApp, eventually};

const CUSTOMER: &str = "+14155550123";

async fn app(b: TestBackend) -> TestApp {
    TestApp::spawn_full(
        b,
        parley_server::ServerConfig {
            simulator: true,
            ..parley_server::ServerConfig::default()
        },
        EngineConfig::default(),
    )
    .await
}

/// A simulator SMS channel "Sim" (+1, implicit consent) with the template `order_ready`.
async fn channel(app: &TestApp) -> Uuid {
    let (s, c) = parley_testkit::status_and_json(app.req(Method::POST, "/api/v1/channels").json(
        &json!({"name": "Sim", "kind": "sms", "provider": "simulator", "address": "+14155550100",
                "number_type": "long_code", "country": "US", "consent_level": "implicit"}),
    ))
    .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let id: Uuid = c["id"].as_str().unwrap().parse().unwrap();
    let (s, t) = parley_testkit::status_and_json(
        app.req(Method::POST, &format!("/api/v1/channels/{id}/templates"))
            .json(
                &json!({"name": "order_ready", "language": "en", "status": "approved",
                          "body": "Hi {{1}}, order {{2}} is ready."}),
            ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    id
}

fn notification(recipient: Value, parameters: Value) -> Value {
    json!({"channel": "Sim", "template": {"name": "order_ready", "language": "en"},
           "parameters": parameters, "recipient": recipient,
           "context": {"data": {"order": {"number": "A-17"}}}})
}

async fn post(app: &TestApp, body: &Value, key: Option<&str>) -> (StatusCode, Value, bool) {
    let mut r = app.req(Method::POST, "/api/v1/notifications").json(body);
    if let Some(k) = key {
        r = r.header("Idempotency-Key", k);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status();
    let replayed = resp
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true");
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    (status, v, replayed)
}

/// What `number`'s phone received, once there are `n` messages.
async fn received(app: &TestApp, number: &str, n: usize) -> Vec<String> {
    let s = app.db.store.clone();
    eventually(&app.events, &format!("{n} messages to {number}"), || {
        let s = s.clone();
        let number = number.to_owned();
        async move {
            let all = s.simulator_messages(&number, None, 200).await.unwrap();
            let out: Vec<String> = all
                .into_iter()
                .filter(|m| m.direction == parley_core::model::Direction::Outbound)
                .map(|m| m.body)
                .collect();
            (out.len() >= n).then_some(out)
        }
    })
    .await
}

async fn error_log(app: &TestApp) -> Vec<Value> {
    let (s, v) =
        parley_testkit::status_and_json(app.req(Method::GET, "/api/v1/notification-errors")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["items"].as_array().unwrap().clone()
}

async fn each_recipient_form_reaches_the_phone(b: TestBackend) {
    let app = app(b).await;
    let ch = channel(&app).await;
    // A phone number never seen: a new messaging user, a new ended session holding it.
    let (s, n, _) = post(
        &app,
        &notification(
            json!({"phone": CUSTOMER}),
            json!(["Ann", "{{data.order.number}}"]),
        ),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{n}");
    assert_eq!(n["body"], "Hi Ann, order A-17 is ready.");
    assert_eq!(n["created_messaging_user"], true);
    assert_eq!(n["appended"], false);
    assert_eq!(n["channel_id"], ch.to_string());
    let got = received(&app, CUSTOMER, 1).await;
    assert_eq!(got[0], "Hi Ann, order A-17 is ready.");
    let session: Uuid = n["session_id"].as_str().unwrap().parse().unwrap();
    let stored = app.db.store.session(session).await.unwrap();
    assert_eq!(
        stored.status,
        parley_core::model::SessionStatus::Ended,
        "a notification outside a conversation is a transcript session"
    );

    // The same person by messaging user.
    let user = n["messaging_user_id"].clone();
    let (s, n2, _) = post(
        &app,
        &notification(json!({"messaging_user_id": user}), json!(["Ann", "B-2"])),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{n2}");
    assert_eq!(n2["messaging_user_id"], user);
    assert_eq!(n2["created_messaging_user"], false);
    received(&app, CUSTOMER, 2).await;

    // A contact: their phone, and their first name as a merge field.
    let (s, c) = parley_testkit::status_and_json(
        app.req(Method::POST, "/api/v1/contacts")
            .json(&json!({"first_name": "Bea", "phone": "+14155550177"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let (s, n3, _) = post(
        &app,
        &notification(
            json!({"contact_id": c["id"]}),
            json!(["{{contact.first_name}}", "C-3"]),
        ),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{n3}");
    assert_eq!(n3["body"], "Hi Bea, order C-3 is ready.");
    let got = received(&app, "+14155550177", 1).await;
    assert_eq!(got[0], "Hi Bea, order C-3 is ready.");
}

async fn an_open_session_gets_the_notification_appended(b: TestBackend) {
    let app = app(b).await;
    channel(&app).await;
    let r = app
        .anon(Method::POST, "/simulator/inbound")
        .json(&json!({"channel": "Sim", "from": CUSTOMER, "text": "hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let store = app.db.store.clone();
    let ch = store.channel_by_name("Sim").await.unwrap().unwrap().id;
    app.wait_for_user(ch, CUSTOMER).await;
    // The inbound message opened a session with the user, in one write.
    let (s, n, _) = post(
        &app,
        &notification(json!({"phone": CUSTOMER}), json!(["Ann", "A-1"])),
        None,
    )
    .await;
    assert_eq!(n["appended"], true, "{n}");
    assert_eq!(s, StatusCode::CREATED, "{n}");
    assert_eq!(n["created_messaging_user"], false);
}

async fn missing_fields_and_out_of_country_are_refused_and_logged(b: TestBackend) {
    let app = app(b).await;
    channel(&app).await;
    let (s, e, _) = post(
        &app,
        &notification(
            json!({"phone": CUSTOMER}),
            json!(["{{contact.first_name}}", "{{data.order.eta}}"]),
        ),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(
        e["missing_fields"],
        json!(["contact.first_name", "data.order.eta"])
    );
    assert!(
        e["message"].as_str().unwrap().contains("data.order.eta"),
        "{e}"
    );

    let (s, e, _) = post(
        &app,
        &notification(json!({"phone": "+447911123456"}), json!(["Ann", "A-1"])),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["exclusion"], "out_of_country", "{e}");
    assert_eq!(e["code"], "2001");

    let log = error_log(&app).await;
    assert_eq!(log.len(), 2, "{log:?}");
    // Newest first.
    assert_eq!(log[0]["stage"], "exclusion");
    assert_eq!(log[0]["code"], "2001");
    assert_eq!(log[0]["recipient"], "+447911123456");
    assert_eq!(log[1]["stage"], "validation");
    assert!(
        log[1]["reason"]
            .as_str()
            .unwrap()
            .contains("contact.first_name")
    );
    assert_eq!(log[1]["inputs"]["recipient"]["phone"], CUSTOMER);

    let id = log[1]["id"].as_str().unwrap();
    let (s, one) = parley_testkit::status_and_json(
        app.req(Method::GET, &format!("/api/v1/notification-errors/{id}")),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{one}");
    assert_eq!(one["id"], id);
    let r = app
        .req(Method::DELETE, &format!("/api/v1/notification-errors/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app
        .req(Method::DELETE, &format!("/api/v1/notification-errors/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_log(&app).await.len(), 1);
}

async fn an_idempotency_key_never_sends_twice(b: TestBackend) {
    let app = app(b).await;
    channel(&app).await;
    let body = notification(json!({"phone": CUSTOMER}), json!(["Ann", "A-1"]));
    let (s, first, replayed) = post(&app, &body, Some("order-A-1")).await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    assert!(!replayed);
    let (s, again, replayed) = post(&app, &body, Some("order-A-1")).await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert!(replayed);
    assert_eq!(again["entry_id"], first["entry_id"]);
    assert_eq!(again["id"], first["id"]);

    let other = notification(json!({"phone": CUSTOMER}), json!(["Ann", "A-2"]));
    let (s, e, _) = post(&app, &other, Some("order-A-1")).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["code"], "invalid_request");

    received(&app, CUSTOMER, 1).await;
    let user: Uuid = first["messaging_user_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let sent = app
        .db
        .store
        .simulator_messages(CUSTOMER, None, 200)
        .await
        .unwrap();
    assert_eq!(
        sent.iter()
            .filter(|m| m.direction == parley_core::model::Direction::Outbound)
            .count(),
        1
    );
    let _ = user;
}

async fn the_error_log_expires_after_its_retention(b: TestBackend) {
    use parley_core::Clock as _;
    let app = app(b).await;
    channel(&app).await;
    let (s, _, _) = post(
        &app,
        &notification(json!({"phone": "+447911123456"}), json!(["Ann", "A-1"])),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_log(&app).await.len(), 1);
    let retention = EngineConfig::default().notification_error_retention;
    let now = parley_core::SystemClock.now();
    let day = 24 * 3600 * 1000;
    let store = &app.db.store;
    let sweep = parley_engine::service::notifications::sweep;
    assert_eq!(
        sweep(
            store,
            parley_core::Timestamp::from_millis(now.millis() + 29 * day),
            retention
        )
        .await
        .unwrap(),
        0
    );
    assert_eq!(error_log(&app).await.len(), 1);
    assert_eq!(
        sweep(
            store,
            parley_core::Timestamp::from_millis(now.millis() + 31 * day),
            retention
        )
        .await
        .unwrap(),
        1
    );
    assert!(error_log(&app).await.is_empty());
}

parley_store::on_both_backends!(
    the_error_log_expires_after_its_retention,
    each_recipient_form_reaches_the_phone,
    an_open_session_gets_the_notification_appended,
    missing_fields_and_out_of_country_are_refused_and_logged,
    an_idempotency_key_never_sends_twice,
);
