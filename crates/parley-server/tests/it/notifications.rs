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
    // TM-08 is the retention worker's built-in policy: 30 days unless configured otherwise.
    let days = EngineConfig::default()
        .notification_error_retention
        .as_secs()
        / (24 * 3600);
    assert_eq!(days, 30);
    let now = parley_core::SystemClock.now();
    let day = 24 * 3600 * 1000;
    let clock = std::sync::Arc::new(parley_core::ManualClock::new(
        parley_core::Timestamp::from_millis(now.millis() + 29 * day),
    ));
    let worker = parley_engine::retention::Retention::new(
        app.db.store.clone(),
        clock.clone(),
        app.engine.media.clone(),
        30,
        "test-node".into(),
    );
    let removed = worker.run_once().await.unwrap().unwrap();
    assert_eq!(
        removed[&parley_core::privacy::retention::DataKind::ErrorLogs],
        0
    );
    assert_eq!(error_log(&app).await.len(), 1);
    clock.set(parley_core::Timestamp::from_millis(now.millis() + 31 * day));
    let removed = worker.run_once().await.unwrap().unwrap();
    assert_eq!(
        removed[&parley_core::privacy::retention::DataKind::ErrorLogs],
        1
    );
    assert!(error_log(&app).await.is_empty());
}

/// Creates `name` on channel `ch` (approved unless `status` says otherwise).
async fn template(app: &TestApp, ch: Uuid, body: Value) {
    let (s, t) = parley_testkit::status_and_json(
        app.req(Method::POST, &format!("/api/v1/channels/{ch}/templates"))
            .json(&body),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
}

/// Replaces the Sim channel's settings.
async fn put_settings(app: &TestApp, ch: Uuid, settings: Value) -> (StatusCode, Value) {
    parley_testkit::status_and_json(app.req(Method::PUT, &format!("/api/v1/channels/{ch}")).json(
        &json!({"name": "Sim", "kind": "sms", "provider": "simulator", "address": "+14155550100",
                "number_type": "long_code", "country": "US", "consent_level": "implicit",
                "settings": settings}),
    ))
    .await
}

fn outbound_bodies(all: &[parley_store::SimulatorMessage]) -> Vec<String> {
    all.iter()
        .filter(|m| m.direction == parley_core::model::Direction::Outbound)
        .map(|m| m.body.clone())
        .collect()
}

async fn each_trigger_fires_once(b: TestBackend) {
    use parley_core::Clock as _;
    use parley_engine::DomainEvent;
    let app = app(b).await;
    let ch = channel(&app).await;
    template(
        &app,
        ch,
        json!({"name": "case_done", "language": "en", "status": "approved",
        "body": "Case {{1}} is closed."}),
    )
    .await;
    template(
        &app,
        ch,
        json!({"name": "bye", "language": "en", "status": "approved",
        "body": "Thanks for writing to {{1}}."}),
    )
    .await;
    template(
        &app,
        ch,
        json!({"name": "subscribed", "language": "en", "status": "approved",
        "body": "You are subscribed."}),
    )
    .await;

    // A trigger must name a template of the channel.
    let (s, e) = put_settings(
        &app,
        ch,
        json!({"notification_triggers": [{"on": "case_closed", "template": "nope"}]}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("notification_triggers[0].template"),
        "{e}"
    );
    let (s, e) = put_settings(
        &app,
        ch,
        json!({"notification_triggers": [{"on": "case_closed", "template": "case_done", "when": 1}]}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");

    let (s, c) = put_settings(
        &app,
        ch,
        json!({"notification_triggers": [
            {"on": "case_closed", "template": "case_done", "parameters": ["{{case.number}}"]},
            {"on": "session_ended", "template": "bye", "language": "en",
             "parameters": ["{{channel.name}}"]},
            {"on": "consent_changed", "template": "subscribed",
             "consent": ["explicitly_opted_in", "doubly_opted_in"]}]}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{c}");

    // The customer writes: an implicitly opted-in user (no trigger: its filter wants explicit)
    // and an open session.
    let r = app
        .anon(Method::POST, "/simulator/inbound")
        .json(&json!({"channel": "Sim", "from": CUSTOMER, "text": "hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let user = app.wait_for_user(ch, CUSTOMER).await.id;
    let store = app.db.store.clone();
    let session = eventually(&app.events, "the customer's open session", || {
        let s = store.clone();
        async move { s.open_session(user).await.unwrap() }
    })
    .await;
    let triggers = app.engine.notify_triggers();
    let now = || parley_core::SystemClock.now();

    // Session ended.
    store
        .set_session_status(
            session.id,
            parley_core::model::SessionStatus::Ended,
            None,
            now(),
        )
        .await
        .unwrap();
    let ended = DomainEvent::SessionChanged {
        session_id: session.id,
    };
    app.events.publish(ended.clone());
    let got = received(&app, CUSTOMER, 1).await;
    assert_eq!(got, ["Thanks for writing to Sim."]);
    // Replayed: queued once, so nothing more.
    triggers.on_event(&ended).await.unwrap();

    // Consent changed to explicit.
    store
        .set_consent(
            user,
            parley_core::model::ConsentStatus::ExplicitlyOptedIn,
            &parley_store::ConsentOrigin {
                source: parley_core::model::ConsentSource::Api,
                reason: "test".into(),
                entry_id: None,
            },
            now(),
        )
        .await
        .unwrap();
    let consent = DomainEvent::ConsentChanged {
        messaging_user_id: user,
    };
    app.events.publish(consent.clone());
    let got = received(&app, CUSTOMER, 2).await;
    assert_eq!(got[1], "You are subscribed.");
    triggers.on_event(&consent).await.unwrap();

    // Case closed: the case's contact has the customer's number.
    let (s, contact) = parley_testkit::status_and_json(
        app.req(Method::POST, "/api/v1/contacts")
            .json(&json!({"first_name": "Ann", "phone": CUSTOMER})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{contact}");
    let contact: Uuid = contact["id"].as_str().unwrap().parse().unwrap();
    let case = store
        .create_case(contact, Some(ch), "Broken", now())
        .await
        .unwrap();
    // An open case fires nothing.
    triggers
        .on_event(&DomainEvent::CaseChanged { case_id: case.id })
        .await
        .unwrap();
    store
        .update_case_fields(
            case.id,
            None,
            Some(parley_core::model::CaseStatus::Closed),
            now(),
        )
        .await
        .unwrap();
    let closed = DomainEvent::CaseChanged { case_id: case.id };
    app.events.publish(closed.clone());
    let got = received(&app, CUSTOMER, 3).await;
    let number = store.case(case.id).await.unwrap().number.unwrap();
    assert_eq!(got[2], format!("Case {number} is closed."));
    triggers.on_event(&closed).await.unwrap();
    // Even on a node that has never seen the case (no memory of it), the key holds; an edit of
    // the closed case keeps its closing time, so it fires nothing either.
    app.engine
        .notify_triggers()
        .on_event(&closed)
        .await
        .unwrap();
    store
        .update_case_fields(case.id, Some("Broken (edited)"), None, now())
        .await
        .unwrap();
    assert!(store.case(case.id).await.unwrap().closed_at.is_some());
    app.engine
        .notify_triggers()
        .on_event(&closed)
        .await
        .unwrap();

    // Three firings, three jobs, three messages.
    let counts = store.queue_counts("notifications").await.unwrap();
    assert_eq!(
        counts.ready + counts.running + counts.done + counts.dead,
        3,
        "{counts:?}"
    );
    eventually(&app.events, "the trigger jobs are done", || {
        let s = store.clone();
        async move { (!s.has_pending_jobs("notifications").await.unwrap()).then_some(()) }
    })
    .await;
    let all = store.simulator_messages(CUSTOMER, None, 200).await.unwrap();
    let mut bodies = outbound_bodies(&all);
    bodies.sort();
    assert_eq!(
        bodies,
        [
            format!("Case {number} is closed."),
            "Thanks for writing to Sim.".to_owned(),
            "You are subscribed.".to_owned()
        ]
    );
}

async fn a_provider_failure_is_logged(b: TestBackend) {
    let app = app(b).await;
    let ch = channel(&app).await;
    // Every send fails for good, as an invalid number would (error 2001).
    let (s, c) = put_settings(
        &app,
        ch,
        json!({"simulate": {"error_rate": 1.0, "error": "permanent"}}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    let (s, n, _) = post(
        &app,
        &notification(json!({"phone": CUSTOMER}), json!(["Ann", "A-1"])),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{n}");
    let app_ref = &app;
    let log = eventually(
        &app.events,
        "the provider failure in the error log",
        || async move {
            let log = error_log(app_ref).await;
            (!log.is_empty()).then_some(log)
        },
    )
    .await;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["stage"], "provider");
    assert_eq!(log[0]["code"], "2001");
    assert_eq!(log[0]["entry_id"], n["entry_id"]);
    assert_eq!(log[0]["notification_id"], n["id"]);
    assert_eq!(log[0]["template"], "order_ready/en");
    // The status reported again logs nothing more.
    let entry: Uuid = n["entry_id"].as_str().unwrap().parse().unwrap();
    let session: Uuid = n["session_id"].as_str().unwrap().parse().unwrap();
    app.engine
        .notify_triggers()
        .on_event(&parley_engine::DomainEvent::MessageStatusChanged {
            session_id: session,
            entry_id: entry,
        })
        .await
        .unwrap();
    assert_eq!(error_log(&app).await.len(), 1);
    let stored = app
        .db
        .store
        .notification_by_entry(entry)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, "failed");
}

async fn a_broadcast_needs_explicit_opt_in(b: TestBackend) {
    let app = app(b).await;
    channel(&app).await;
    let mut body = notification(json!({"phone": CUSTOMER}), json!(["Ann", "A-1"]));
    body["type"] = json!("broadcast");
    // A new number on an implicit channel would be implicitly opted in: not enough.
    let (s, e, _) = post(&app, &body, None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["exclusion"], "not_explicitly_opted_in", "{e}");
    assert_eq!(e["code"], "2002");
    // Nobody was created for it.
    let ch = app
        .db
        .store
        .channel_by_name("Sim")
        .await
        .unwrap()
        .unwrap()
        .id;
    assert!(
        app.db
            .store
            .messaging_user_by_key(ch, CUSTOMER)
            .await
            .unwrap()
            .is_none()
    );
    // A standard notification creates them, implicitly opted in: still not enough.
    let (s, n, _) = post(
        &app,
        &notification(json!({"phone": CUSTOMER}), json!(["Ann", "A-1"])),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{n}");
    let (s, e, _) = post(&app, &body, None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    let log = error_log(&app).await;
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(log.iter().all(|l| l["stage"] == "exclusion"));
    assert_eq!(log[0]["inputs"]["type"], "broadcast");
    // Explicitly opted in: it goes.
    let user: Uuid = n["messaging_user_id"].as_str().unwrap().parse().unwrap();
    app.db
        .store
        .set_consent(
            user,
            parley_core::model::ConsentStatus::ExplicitlyOptedIn,
            &parley_store::ConsentOrigin {
                source: parley_core::model::ConsentSource::Api,
                reason: "test".into(),
                entry_id: None,
            },
            parley_core::Clock::now(&parley_core::SystemClock),
        )
        .await
        .unwrap();
    let (s, ok, _) = post(&app, &body, None).await;
    assert_eq!(s, StatusCode::CREATED, "{ok}");
    received(&app, CUSTOMER, 2).await;
    // An unknown type is refused.
    body["type"] = json!("promotional");
    let (s, e, _) = post(&app, &body, None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert!(e["message"].as_str().unwrap().contains("type"), "{e}");
}

async fn whatsapp_notifications_keep_their_category(b: TestBackend) {
    let app = app(b).await;
    let (s, c) = parley_testkit::status_and_json(app.req(Method::POST, "/api/v1/channels").json(
        &json!({"name": "WA", "kind": "whatsapp", "provider": "simulator",
                "address": "+14155550199", "consent_level": "implicit"}),
    ))
    .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let wa: Uuid = c["id"].as_str().unwrap().parse().unwrap();
    template(
        &app,
        wa,
        json!({"name": "payment_update", "language": "en", "status": "approved",
        "category": "utility", "body": "Payment {{1}} received."}),
    )
    .await;
    template(
        &app,
        wa,
        json!({"name": "spring_sale", "language": "en", "status": "approved",
        "category": "marketing", "body": "Spring sale starts {{1}}."}),
    )
    .await;
    template(
        &app,
        wa,
        json!({"name": "new_terms", "language": "en", "status": "pending",
        "category": "utility", "body": "Our terms changed on {{1}}."}),
    )
    .await;
    let send = |name: &str, value: &str| {
        json!({"channel": "WA", "template": {"name": name, "language": "en"},
               "parameters": [value], "recipient": {"phone": "+447400123456"}})
    };
    let (s, n, _) = post(&app, &send("payment_update", "P-1"), None).await;
    assert_eq!(s, StatusCode::CREATED, "{n}");
    assert_eq!(n["category"], "utility");
    assert_eq!(n["body"], "Payment P-1 received.");
    let entry: Uuid = n["entry_id"].as_str().unwrap().parse().unwrap();
    let stored = app.db.store.entry(entry).await.unwrap();
    assert!(stored.template.is_some(), "sent as the approved template");
    let (s, n, _) = post(&app, &send("spring_sale", "today"), None).await;
    assert_eq!(s, StatusCode::CREATED, "{n}");
    assert_eq!(n["category"], "marketing");

    let (s, e, _) = post(&app, &send("new_terms", "1 May"), None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert!(e["message"].as_str().unwrap().contains("pending"), "{e}");
    let log = error_log(&app).await;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["stage"], "validation");
    assert_eq!(log[0]["template"], "new_terms/en");
}

async fn concurrent_retries_with_one_key_make_one_entry(b: TestBackend) {
    let app = app(b).await;
    channel(&app).await;
    let body = notification(json!({"phone": CUSTOMER}), json!(["Ann", "A-1"]));
    let answers = futures_util::future::join_all(
        (0..20).map(|_| post(&app, &body, Some("order-A-1-concurrent"))),
    )
    .await;
    let created = answers
        .iter()
        .filter(|(s, _, _)| *s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "{answers:?}");
    assert!(
        answers
            .iter()
            .all(|(s, _, _)| *s == StatusCode::CREATED || *s == StatusCode::OK),
        "{answers:?}"
    );
    let first = &answers[0].1;
    for (_, v, _) in &answers {
        assert_eq!(v["entry_id"], first["entry_id"], "{answers:?}");
        assert_eq!(v["id"], first["id"], "{answers:?}");
    }
    received(&app, CUSTOMER, 1).await;
    let all = app
        .db
        .store
        .simulator_messages(CUSTOMER, None, 200)
        .await
        .unwrap();
    assert_eq!(outbound_bodies(&all).len(), 1);
}

async fn declared_merge_fields_fill_a_notification(b: TestBackend) {
    let app = app(b).await;
    let ch = channel(&app).await;
    let url = format!("/api/v1/channels/{ch}/templates");
    // Refused: an unknown field, a placeholder left without one.
    for (fields, word) in [
        (
            json!({"1": "contact.first_name", "2": "agent.name"}),
            "agent.name",
        ),
        (json!({"1": "contact.first_name"}), "placeholder {{2}}"),
        (
            json!({"1": "contact.first_name", "3": "case.number"}),
            "no placeholder {{3}}",
        ),
    ] {
        let (s, e) = parley_testkit::status_and_json(app.req(Method::POST, &url).json(
            &json!({"name": "hello", "language": "en", "status": "approved",
                    "body": "Hi {{1}}, case {{2}}.", "merge_fields": fields}),
        ))
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
        let m = e["message"].as_str().unwrap();
        assert!(m.contains("merge_fields") && m.contains(word), "{e}");
    }
    let (s, t) = parley_testkit::status_and_json(app.req(Method::POST, &url).json(
        &json!({"name": "hello", "language": "en", "status": "approved",
                "body": "Hi {{1}}, order {{2}}.",
                "merge_fields": {"2": "data.order.number", "1": "contact.first_name"}}),
    ))
    .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    assert_eq!(
        t["merge_fields"],
        json!({"1": "contact.first_name", "2": "data.order.number"})
    );
    let (s, got) = parley_testkit::status_and_json(app.req(
        Method::GET,
        &format!("/api/v1/templates/{}", t["id"].as_str().unwrap()),
    ))
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(got["merge_fields"], t["merge_fields"]);

    let (s, c) = parley_testkit::status_and_json(
        app.req(Method::POST, "/api/v1/contacts")
            .json(&json!({"first_name": "Cleo", "phone": CUSTOMER})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let (s, n, _) = post(
        &app,
        &json!({"channel": "Sim", "template": {"name": "hello", "language": "en"},
                "recipient": {"contact_id": c["id"]},
                "context": {"data": {"order": {"number": "Z-9"}}}}),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{n}");
    assert_eq!(n["body"], "Hi Cleo, order Z-9.");
}

parley_store::on_both_backends!(
    declared_merge_fields_fill_a_notification,
    each_trigger_fires_once,
    a_provider_failure_is_logged,
    a_broadcast_needs_explicit_opt_in,
    whatsapp_notifications_keep_their_category,
    concurrent_retries_with_one_key_make_one_entry,
    the_error_log_expires_after_its_retention,
    each_recipient_form_reaches_the_phone,
    an_open_session_gets_the_notification_appended,
    missing_fields_and_out_of_country_are_refused_and_logged,
    an_idempotency_key_never_sends_twice,
);
