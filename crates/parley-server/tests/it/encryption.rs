//! Encryption at rest (issue 16, PRIV-08, CH-37) through the real server: with a key, what the
//! database holds after an inbound message, a reply, a channel's secrets and a webhook
//! subscription carries no customer text, number or secret in the clear, while the API reads them
//! right; and a key rotation under way never makes a second messaging user for a known number.

use parley_core::{Clock, SystemClock};
use parley_store::testing::{TestBackend, raw_dump};
use parley_store::{KeyCheck, Keyring, MessagingUserFilter, PageRequest, SessionFilter, Store};
use reqwest::{Method, StatusCode};
use serde_json::json;
use uuid::Uuid;

use crate::TestApp;

const CUSTOMER: &str = "+447400123456";
const CUSTOMER_TEXT: &str = "my card ends 7781 and I live at Quiet Lane";
const REPLY_TEXT: &str = "Thanks Mrs Quietlane, we will call you";
const CHANNEL_SECRET: &str = "chan-secret-9f8e7d6c5b4a";

async fn with_key(app: &TestApp, spec: &str) -> KeyCheck {
    // A suite run with encryption on (`PARLEY_TEST_ENCRYPTION_KEY`) sealed the fresh store with
    // its own key already: it stays in the keyring, after the test's keys.
    let spec = match std::env::var(parley_store::testing::TEST_KEY_ENV) {
        Ok(suite) if !suite.trim().is_empty() => format!("{spec},{suite}"),
        _ => spec.to_owned(),
    };
    app.db
        .store
        .set_keyring(Some(Keyring::parse(&spec).unwrap()));
    app.db.store.check_keys(SystemClock.now()).await.unwrap()
}

async fn channel(app: &TestApp) -> Uuid {
    let (s, q) = parley_testkit::status_and_json(
        app.req(Method::POST, "/api/v1/queues")
            .json(&json!({"name": "Support", "routing_model": "most_available"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{q}");
    let (s, c) = parley_testkit::status_and_json(app.req(Method::POST, "/api/v1/channels").json(
        &json!({"name": "Sim", "kind": "sms", "provider": "simulator", "address": "+14155550100",
                "number_type": "long_code", "country": "US", "consent_level": "implicit",
                "queue_id": q["id"], "settings": {}, "secrets": {"auth_token": CHANNEL_SECRET}}),
    ))
    .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    c["id"].as_str().unwrap().parse().unwrap()
}

async fn say(app: &TestApp, text: &str) {
    let r = app
        .anon(Method::POST, "/simulator/inbound")
        .json(&json!({"channel": "Sim", "from": CUSTOMER, "text": text}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
}

async fn users_of(store: &Store, channel: Uuid) -> Vec<parley_store::MessagingUser> {
    store
        .list_messaging_users(
            MessagingUserFilter {
                channel_id: Some(channel),
                contact_id: None,
            },
            PageRequest::new(None, 100),
        )
        .await
        .unwrap()
        .items
}

async fn nothing_personal_is_stored_in_the_clear(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let key = Keyring::generate_key();
    assert!(matches!(
        with_key(&app, &format!("main:{key}")).await,
        KeyCheck::Ready { .. }
    ));
    let channel = channel(&app).await;
    let (s, sub) = parley_testkit::status_and_json(
        app.req(Method::POST, "/api/v1/webhook-subscriptions")
            .json(&json!({"name": "shop", "url": "http://127.0.0.1:9/hook",
                    "event_types": ["message.received"]})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{sub}");
    let webhook_secret = sub["secret"].as_str().unwrap().to_owned();

    say(&app, CUSTOMER_TEXT).await;
    let user = app.wait_for_user(channel, CUSTOMER).await;
    assert_eq!(user.platform_key, CUSTOMER);
    let entries = app.wait_for_entries(user.id, 1).await;
    let session = entries[0].0.id;
    assert_eq!(entries[0].1.body, CUSTOMER_TEXT);

    let (s, sent) = parley_testkit::status_and_json(
        app.req(
            Method::POST,
            &format!("/api/v1/sessions/{session}/messages"),
        )
        .json(&json!({"body": REPLY_TEXT})),
    )
    .await;
    assert!(s.is_success(), "{s} {sent}");
    // The reply reached the simulated phone: its record reads back in the clear.
    let delivered = app.db.store.clone();
    crate::eventually(&app.events, "the reply delivered", || {
        let s = delivered.clone();
        async move {
            let got = s.simulator_messages(CUSTOMER, None, 100).await.unwrap();
            got.iter().any(|m| m.body == REPLY_TEXT).then_some(())
        }
    })
    .await;

    // The API reads everything back right.
    let listed = app
        .get_json(&format!("/api/v1/sessions/{session}/entries"))
        .await;
    let bodies: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["body"].as_str())
        .collect();
    assert!(bodies.contains(&CUSTOMER_TEXT), "{listed}");
    assert!(bodies.contains(&REPLY_TEXT), "{listed}");
    let u = app
        .get_json(&format!("/api/v1/messaging-users/{}", user.id))
        .await;
    assert_eq!(u["platform_key"], CUSTOMER, "{u}");
    let ch = app.db.store.channel(channel).await.unwrap();
    assert_eq!(ch.secrets["auth_token"], CHANNEL_SECRET);
    let sub = app
        .db
        .store
        .webhook_subscription(sub["id"].as_str().unwrap().parse().unwrap())
        .await
        .unwrap();
    assert_eq!(sub.secret, webhook_secret);
    // A lookup by number finds the customer.
    let found = app
        .db
        .store
        .messaging_user_by_key(channel, CUSTOMER)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, user.id);

    // The database holds none of it in the clear.
    let dump = raw_dump(&app.db).await;
    assert!(dump.contains("pk1:main:"), "values are sealed");
    for (what, text) in [
        ("message text", CUSTOMER_TEXT),
        ("reply text", REPLY_TEXT),
        ("phone number", "447400123456"),
        ("channel secret", CHANNEL_SECRET),
        ("webhook signing secret", webhook_secret.as_str()),
    ] {
        assert!(!dump.contains(text), "the {what} is stored in the clear");
    }
}

async fn a_rotation_under_way_never_duplicates_a_customer(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let old = Keyring::generate_key();
    let new = Keyring::generate_key();
    with_key(&app, &format!("old:{old}")).await;
    let channel = channel(&app).await;
    say(&app, "first").await;
    let user = app.wait_for_user(channel, CUSTOMER).await;
    app.wait_for_entries(user.id, 1).await;

    // The operator puts a new key first; the old one stays until the rotation is done.
    assert_eq!(
        with_key(&app, &format!("new:{new},old:{old}")).await,
        KeyCheck::Ready {
            rotation_pending: true
        }
    );
    say(&app, "second").await;
    app.wait_for_entries(user.id, 2).await;
    assert_eq!(users_of(&app.db.store, channel).await.len(), 1);

    // Mid-rotation: a batch of one row at a time, a message in between.
    let store = &app.db.store;
    store
        .start_reseal("rotate", SystemClock.now())
        .await
        .unwrap();
    let step = store.reseal_step(1, SystemClock.now()).await.unwrap();
    assert!(!step.finished);
    say(&app, "third").await;
    app.wait_for_entries(user.id, 3).await;
    assert_eq!(users_of(store, channel).await.len(), 1);
    let status = store.crypto_status().await.unwrap();
    assert_eq!(status.task.as_deref(), Some("rotate"));
    loop {
        if store
            .reseal_step(50, SystemClock.now())
            .await
            .unwrap()
            .finished
        {
            break;
        }
    }
    let status = store.crypto_status().await.unwrap();
    assert!(status.task.is_none());
    let states: Vec<(String, String)> = status
        .keys
        .iter()
        .map(|k| (k.key_id.clone(), k.state.clone()))
        .collect();
    assert!(
        states.contains(&("old".to_owned(), "retired".to_owned())),
        "{states:?}"
    );
    assert!(
        states.contains(&("new".to_owned(), "active".to_owned())),
        "{states:?}"
    );

    // The old key can go: everything reads with the new one alone, and the number still finds
    // its customer.
    with_key(&app, &format!("new:{new}")).await;
    say(&app, "fourth").await;
    let all = app.wait_for_entries(user.id, 4).await;
    let bodies: Vec<&str> = all.iter().map(|(_, e)| e.body.as_str()).collect();
    for text in ["first", "second", "third", "fourth"] {
        assert!(bodies.contains(&text), "{bodies:?}");
    }
    assert_eq!(users_of(store, channel).await.len(), 1);
    let sessions = store
        .list_sessions(
            SessionFilter {
                messaging_user_id: Some(user.id),
                ..Default::default()
            },
            PageRequest::new(None, 10),
        )
        .await
        .unwrap();
    assert!(!sessions.items.is_empty());
    if b == TestBackend::Postgres {
        // Live rows only (a SQLite file keeps freed pages): nothing is sealed with the old key.
        let dump = raw_dump(&app.db).await;
        assert!(
            !dump.contains("pk1:old:"),
            "a value is still sealed with the old key"
        );
    }
}

parley_store::on_both_backends!(
    nothing_personal_is_stored_in_the_clear,
    a_rotation_under_way_never_duplicates_a_customer,
);
