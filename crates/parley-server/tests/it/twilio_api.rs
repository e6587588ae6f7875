//! Issue 13: the Twilio-compatible Messages API through the real server, on both databases:
//! send, fetch, list (keyset pages the SDKs follow), Twilio's error codes for refused sends and
//! bad input, HTTP Basic authentication, and the message in the conversation.

use parley_engine::EngineConfig;
use parley_store::testing::TestBackend;
use parley_store::{PageRequest, TwilioAccount};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::TestApp;

const FROM: &str = "+14155550100";

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

async fn setup_account(app: &TestApp) -> (TwilioAccount, Uuid) {
    let (s, c) = parley_testkit::status_and_json(app.req(Method::POST, "/api/v1/channels").json(
        &json!({"name": "Sim", "kind": "sms", "provider": "simulator", "address": FROM,
                "number_type": "long_code", "country": "US", "consent_level": "implicit"}),
    ))
    .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let now = app.engine.clock.now();
    let account =
        parley_engine::service::twilio::create_twilio_account(&app.db.store, "Legacy app", now)
            .await
            .unwrap();
    (account, c["id"].as_str().unwrap().parse().unwrap())
}

async fn send(
    app: &TestApp,
    account: &TwilioAccount,
    token: &str,
    form: &[(&str, &str)],
) -> (StatusCode, Value) {
    parley_testkit::status_and_json(
        app.anon(
            Method::POST,
            &format!("/2010-04-01/Accounts/{}/Messages.json", account.sid),
        )
        .basic_auth(&account.sid, Some(token))
        .form(form),
    )
    .await
}

async fn get(app: &TestApp, account: &TwilioAccount, path: &str) -> (StatusCode, Value) {
    parley_testkit::status_and_json(
        app.anon(Method::GET, path)
            .basic_auth(&account.sid, Some(&account.auth_token)),
    )
    .await
}

async fn send_fetch_and_list(b: TestBackend) {
    let app = app(b).await;
    let (account, channel) = setup_account(&app).await;
    assert!(account.sid.starts_with("AC") && account.sid.len() == 34);
    let (s, m) = send(
        &app,
        &account,
        &account.auth_token,
        &[
            ("To", "+14155550123"),
            ("From", FROM),
            ("Body", "Your code is 123456"),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    let sid = m["sid"].as_str().unwrap().to_owned();
    assert!(sid.starts_with("SM") && sid.len() == 34, "{m}");
    assert_eq!(m["account_sid"], account.sid.as_str());
    assert_eq!(m["to"], "+14155550123");
    assert_eq!(m["from"], FROM);
    assert_eq!(m["body"], "Your code is 123456");
    assert_eq!(m["status"], "queued");
    assert_eq!(m["direction"], "outbound-api");
    assert_eq!(m["api_version"], "2010-04-01");
    assert_eq!(m["num_segments"], "1");
    assert_eq!(m["num_media"], "0");
    assert!(m["error_code"].is_null());
    assert!(m["date_created"].as_str().unwrap().ends_with("+0000"));

    let uri = m["uri"].as_str().unwrap().to_owned();
    let (s, f) = get(&app, &account, &uri).await;
    assert_eq!(s, StatusCode::OK, "{f}");
    assert_eq!(f["sid"], sid.as_str());

    // The message is in the person's conversation.
    let entry_id: Uuid = sid[2..].parse().unwrap();
    let entry = app.db.store.entry(entry_id).await.unwrap();
    let session = app.db.store.session(entry.session_id).await.unwrap();
    assert_eq!(session.channel_id, channel);
    let listed = app
        .db
        .store
        .list_entries(session.id, PageRequest::new(None, 50))
        .await
        .unwrap();
    assert!(listed.items.iter().any(|e| e.id == entry_id));

    // Two more, then pages of two: the next page's URI leads to the rest, newest first.
    for body in ["second", "third"] {
        let (s, v) = send(
            &app,
            &account,
            &account.auth_token,
            &[("To", "+14155550123"), ("From", FROM), ("Body", body)],
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    let list = format!(
        "/2010-04-01/Accounts/{}/Messages.json?PageSize=2",
        account.sid
    );
    let (s, p1) = get(&app, &account, &list).await;
    assert_eq!(s, StatusCode::OK, "{p1}");
    let bodies: Vec<&str> = p1["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["third", "second"]);
    let next = p1["next_page_uri"].as_str().unwrap().to_owned();
    let (s, p2) = get(&app, &account, &next).await;
    assert_eq!(s, StatusCode::OK, "{p2}");
    assert_eq!(p2["messages"].as_array().unwrap().len(), 1);
    assert_eq!(p2["messages"][0]["sid"], sid.as_str());
    assert!(p2["next_page_uri"].is_null());

    // An unknown message is Twilio's 20404.
    let missing = format!(
        "/2010-04-01/Accounts/{}/Messages/SM{}.json",
        account.sid,
        Uuid::nil().simple()
    );
    let (s, v) = get(&app, &account, &missing).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(v["code"], 20404);
}

async fn refusals_and_auth_have_twilio_codes(b: TestBackend) {
    let app = app(b).await;
    let (account, channel) = setup_account(&app).await;
    let cases: [(&[(&str, &str)], u64); 5] = [
        (
            &[("To", "+447911123456"), ("From", FROM), ("Body", "hi")],
            21408,
        ),
        (&[("From", FROM), ("Body", "hi")], 21604),
        (&[("To", "+14155550123"), ("From", FROM)], 21602),
        (
            &[
                ("To", "+14155550123"),
                ("From", "+19995550100"),
                ("Body", "hi"),
            ],
            21606,
        ),
        (
            &[("To", "not a number"), ("From", FROM), ("Body", "hi")],
            21211,
        ),
    ];
    for (form, code) in cases {
        let (s, v) = send(&app, &account, &account.auth_token, form).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{form:?}: {v}");
        assert_eq!(v["code"], code, "{form:?}: {v}");
        assert_eq!(v["status"], 400);
    }
    // A number that replied STOP is Twilio's 21610.
    let r = app
        .anon(Method::POST, "/simulator/inbound")
        .json(&json!({"channel": "Sim", "from": "+14155550177", "text": "STOP"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let store = app.db.store.clone();
    crate::eventually(&app.events, "the opt-out", || {
        let store = store.clone();
        async move {
            let user = store
                .messaging_user_by_key(channel, "+14155550177")
                .await
                .unwrap()?;
            (user.consent_status == Some(parley_core::model::ConsentStatus::OptedOut)).then_some(())
        }
    })
    .await;
    let (s, v) = send(
        &app,
        &account,
        &account.auth_token,
        &[("To", "+14155550177"), ("From", FROM), ("Body", "hi")],
    )
    .await;
    assert_eq!(
        (s, v["code"].clone()),
        (StatusCode::BAD_REQUEST, json!(21610)),
        "{v}"
    );

    let too_long = "x".repeat(1601);
    let (s, v) = send(
        &app,
        &account,
        &account.auth_token,
        &[("To", "+14155550123"), ("From", FROM), ("Body", &too_long)],
    )
    .await;
    assert_eq!(
        (s, v["code"].clone()),
        (StatusCode::BAD_REQUEST, json!(21617))
    );

    let (s, v) = send(&app, &account, "wrong", &[("To", "+14155550123")]).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    assert_eq!(v["code"], 20003);
    let (s, v) = parley_testkit::status_and_json(app.anon(
        Method::GET,
        &format!("/2010-04-01/Accounts/{}/Messages.json", account.sid),
    ))
    .await;
    assert_eq!(
        (s, v["code"].clone()),
        (StatusCode::UNAUTHORIZED, json!(20003))
    );

    // Another account's path with valid credentials of this one.
    let now = app.engine.clock.now();
    let other = parley_engine::service::twilio::create_twilio_account(&app.db.store, "Other", now)
        .await
        .unwrap();
    let (s, v) = parley_testkit::status_and_json(
        app.anon(
            Method::GET,
            &format!("/2010-04-01/Accounts/{}/Messages.json", other.sid),
        )
        .basic_auth(&account.sid, Some(&account.auth_token)),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["code"], 20003);

    // A revoked account no longer authenticates.
    parley_engine::service::twilio::revoke_twilio_account(&app.db.store, &account.sid, now)
        .await
        .unwrap();
    let (s, _) = get(
        &app,
        &account,
        &format!("/2010-04-01/Accounts/{}/Messages.json", account.sid),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

/// What the local receiver got: the signature header and the form fields, in order.
type Received = (String, Vec<(String, String)>);

async fn receiver() -> (String, tokio::sync::mpsc::UnboundedReceiver<Received>) {
    use axum::http::HeaderMap;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Received>();
    let router = axum::Router::new().route(
        "/status",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let tx = tx.clone();
            async move {
                let signature = headers
                    .get("x-twilio-signature")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let form = parley_channels::twilio::FormParams::parse(&body)
                    .map(|f| f.into_pairs())
                    .unwrap_or_default();
                let _ = tx.send((signature, form));
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    (format!("http://{addr}/status?source=parley"), rx)
}

async fn status_callbacks_are_signed_as_twilio_signs(b: TestBackend) {
    let app = app(b).await;
    let (account, _) = setup_account(&app).await;
    let (url, mut rx) = receiver().await;
    let (s, m) = send(
        &app,
        &account,
        &account.auth_token,
        &[
            ("To", "+14155550124"),
            ("From", FROM),
            ("Body", "Your order shipped"),
            ("StatusCallback", url.as_str()),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    let sid = m["sid"].as_str().unwrap().to_owned();
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let (signature, form) = tokio::time::timeout(std::time::Duration::from_secs(20), rx.recv())
            .await
            .expect("a status callback")
            .unwrap();
        let expected = parley_channels::twilio::compute_signature(
            &account.auth_token,
            &url,
            &form,
            parley_channels::twilio::SignatureAlgorithm::HmacSha1,
        );
        assert_eq!(signature, expected, "{form:?}");
        let field = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        assert_eq!(field("MessageSid"), sid);
        assert_eq!(field("SmsSid"), sid);
        assert_eq!(field("AccountSid"), account.sid);
        assert_eq!(field("From"), FROM);
        assert_eq!(field("To"), "+14155550124");
        assert_eq!(field("ApiVersion"), "2010-04-01");
        assert_eq!(field("SmsStatus"), field("MessageStatus"));
        statuses.push(field("MessageStatus"));
    }
    assert_eq!(statuses, ["sent", "delivered"]);
    // A token other than the account's does not produce the signature.
    let form = vec![("MessageSid".to_owned(), sid.clone())];
    assert_ne!(
        parley_channels::twilio::compute_signature(
            "not-the-token",
            &url,
            &form,
            parley_channels::twilio::SignatureAlgorithm::HmacSha1,
        ),
        parley_channels::twilio::compute_signature(
            &account.auth_token,
            &url,
            &form,
            parley_channels::twilio::SignatureAlgorithm::HmacSha1,
        )
    );
}

/// Two statuses reached close together are two callback jobs that workers may run at once: the
/// later one waits until the earlier one's call is done, so `sent` never arrives after
/// `delivered`. The jobs are due in an hour, so only this test runs them, in the order it picks.
async fn a_later_status_is_called_back_after_the_earlier_one(b: TestBackend) {
    use parley_engine::runner::JobOutcome;
    use parley_engine::twilio_callbacks::{CallbackJob, callback_job};
    let app = app(b).await;
    let (account, channel_id) = setup_account(&app).await;
    let (url, mut rx) = receiver().await;
    let store = &app.db.store;
    let now = app.engine.clock.now();
    let channel = store.channel(channel_id).await.unwrap();
    let session =
        parley_testkit::build::customer_session(store, &channel, "+14155550125", now).await;
    let entry = parley_testkit::build::entry(
        store,
        &parley_testkit::build::new_entry(
            session.id,
            parley_core::model::Direction::Outbound,
            parley_core::model::Actor::System,
            "Your order shipped",
            parley_core::model::EntryStatus::Delivered,
        ),
        now,
    )
    .await;
    store
        .write_twilio_message(&parley_store::TwilioMessage {
            entry_id: entry.id,
            account_sid: account.sid.clone(),
            messaging_service_sid: None,
            status_callback: Some(url.clone()),
            created_at: now,
            to_address: "+14155550125".to_owned(),
            from_address: FROM.to_owned(),
        })
        .await
        .unwrap();
    let later = now.plus(std::time::Duration::from_secs(3600));
    let mut jobs = Vec::new();
    for (status, due) in [
        ("sent", later),
        ("delivered", later.plus(std::time::Duration::from_millis(1))),
    ] {
        let mut job = callback_job(
            &CallbackJob {
                entry_id: entry.id,
                status: status.to_owned(),
                then: None,
            },
            now,
        );
        job.due_at = due;
        let id = store.enqueue(&job, now).await.unwrap().unwrap();
        jobs.push(store.job(id).await.unwrap());
    }
    let callbacks = app.engine.twilio_callbacks();
    let status_of = |form: &[(String, String)]| {
        form.iter()
            .find(|(k, _)| k == "MessageStatus")
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    // `delivered` first: it waits, and nothing is posted.
    assert_eq!(
        callbacks.run(jobs[1].clone()).await,
        JobOutcome::Retry("waiting for the sent callback".to_owned())
    );
    assert!(rx.try_recv().is_err(), "delivered was posted before sent");
    // `sent` runs and is recorded done (claimed as a runner would, at its due time).
    assert_eq!(callbacks.run(jobs[0].clone()).await, JobOutcome::Done);
    let (_, form) = rx.recv().await.unwrap();
    assert_eq!(status_of(&form), "sent");
    let claimed = store
        .claim_jobs(parley_store::ClaimRequest {
            queue: "callbacks",
            worker: "test",
            limit: 1,
            lease: std::time::Duration::from_secs(60),
            now: later,
        })
        .await
        .unwrap();
    assert_eq!(
        claimed.iter().map(|j| j.id).collect::<Vec<_>>(),
        [jobs[0].id]
    );
    assert_eq!(
        store
            .complete_jobs("test", &[jobs[0].id], later)
            .await
            .unwrap(),
        1
    );
    // Then `delivered` goes.
    assert_eq!(callbacks.run(jobs[1].clone()).await, JobOutcome::Done);
    let (_, form) = rx.recv().await.unwrap();
    assert_eq!(status_of(&form), "delivered");
}

async fn accounts_through_the_admin_api(b: TestBackend) {
    let app = app(b).await;
    let (_, _) = setup_account(&app).await;
    let (s, created) = parley_testkit::status_and_json(
        app.req(Method::POST, "/api/v1/twilio-accounts")
            .json(&json!({"name": "Shop"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let sid = created["sid"].as_str().unwrap().to_owned();
    let token = created["auth_token"].as_str().unwrap().to_owned();
    assert!(sid.starts_with("AC") && token.len() == 32, "{created}");
    let (s, bad) = parley_testkit::status_and_json(
        app.req(Method::POST, "/api/v1/twilio-accounts")
            .json(&json!({"name": ""})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");

    let (s, list) =
        parley_testkit::status_and_json(app.req(Method::GET, "/api/v1/twilio-accounts")).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let listed = list.as_array().unwrap();
    let mine = listed.iter().find(|a| a["sid"] == sid.as_str()).unwrap();
    assert_eq!(mine["name"], "Shop");
    assert!(mine.get("auth_token").is_none(), "{mine}");
    assert!(!list.to_string().contains(&token));

    let account = app.db.store.twilio_account(&sid).await.unwrap().unwrap();
    let form = [("To", "+14155550125"), ("From", FROM), ("Body", "hi")];
    let (s, m) = send(&app, &account, &token, &form).await;
    assert_eq!(s, StatusCode::CREATED, "{m}");

    let revoked = app
        .req(Method::DELETE, &format!("/api/v1/twilio-accounts/{sid}"))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    let (s, m) = send(&app, &account, &token, &form).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{m}");
    assert_eq!(m["code"], 20003);
    let again = app
        .req(Method::DELETE, &format!("/api/v1/twilio-accounts/{sid}"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
}

async fn channel(app: &TestApp, name: &str, address: &str, country: &str) -> String {
    let (s, c) = parley_testkit::status_and_json(app.req(Method::POST, "/api/v1/channels").json(
        &json!({"name": name, "kind": "sms", "provider": "simulator", "address": address,
                "number_type": "long_code", "country": country, "consent_level": "implicit"}),
    ))
    .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    c["id"].as_str().unwrap().to_owned()
}

fn services_path(account: &TwilioAccount) -> String {
    format!("/api/v1/twilio-accounts/{}/messaging-services", account.sid)
}

async fn messaging_services_pick_senders(b: TestBackend) {
    let app = app(b).await;
    let (account, us1) = setup_account(&app).await;
    let us1 = us1.to_string();
    let us2 = channel(&app, "Sim 2", "+14155550101", "US").await;
    let gb = channel(&app, "Sim GB", "+447400123400", "GB").await;
    let (s, web) = parley_testkit::status_and_json(
        app.req(Method::POST, "/api/v1/channels")
            .json(&json!({"name": "Site", "kind": "web", "provider": "web", "address": "site"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{web}");

    // The pool is checked: SMS or WhatsApp channels that exist, listed once, at least one.
    let bad = [
        json!({"name": "Pool", "channel_ids": [web["id"]]}),
        json!({"name": "Pool", "channel_ids": [Uuid::nil()]}),
        json!({"name": "Pool", "channel_ids": []}),
        json!({"name": "Pool", "channel_ids": [us1, us1]}),
        json!({"name": "", "channel_ids": [us1]}),
    ];
    for body in bad {
        let (s, v) = parley_testkit::status_and_json(
            app.req(Method::POST, &services_path(&account)).json(&body),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
    }
    let (s, v) = parley_testkit::status_and_json(
        app.req(
            Method::POST,
            "/api/v1/twilio-accounts/AC00000000000000000000000000000000/messaging-services",
        )
        .json(&json!({"name": "Pool", "channel_ids": [us1]})),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");

    let (s, service) = parley_testkit::status_and_json(
        app.req(Method::POST, &services_path(&account))
            .json(&json!({"name": "Notifications", "channel_ids": [us1, gb, us2]})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{service}");
    let mg = service["sid"].as_str().unwrap().to_owned();
    assert!(
        mg.starts_with("MG") && mg.len() == 34 && mg[2..].chars().all(|c| c.is_ascii_hexdigit()),
        "{service}"
    );
    let (s, list) =
        parley_testkit::status_and_json(app.req(Method::GET, &services_path(&account))).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(list[0]["sid"], mg.as_str());
    assert_eq!(list[0]["channel_ids"], json!([us1, gb, us2]));

    let via = |to: &'static str| {
        let app = &app;
        let account = &account;
        let mg = mg.clone();
        async move {
            send(
                app,
                account,
                &account.auth_token,
                &[
                    ("To", to),
                    ("MessagingServiceSid", mg.as_str()),
                    ("Body", "hi"),
                ],
            )
            .await
        }
    };
    // Geomatch: a GB number gets the GB channel, a US number the first US one.
    let (s, m) = via("+447400123456").await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    assert_eq!(m["from"], "+447400123400");
    assert_eq!(m["messaging_service_sid"], mg.as_str());
    let (s, m) = via("+14155550123").await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    assert_eq!(m["from"], FROM);
    let (_, fetched) = get(&app, &account, m["uri"].as_str().unwrap()).await;
    assert_eq!(fetched["messaging_service_sid"], mg.as_str());

    // The pool's order changes: a known recipient keeps its sender (sticky), a new one gets the
    // new first US channel.
    let (s, v) = parley_testkit::status_and_json(
        app.req(Method::PUT, &format!("{}/{mg}", services_path(&account)))
            .json(&json!({"name": "Notifications", "channel_ids": [us2, us1, gb]})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, m) = via("+14155550123").await;
    assert_eq!(m["from"], FROM, "{m}");
    let (_, m) = via("+14155550124").await;
    assert_eq!(m["from"], "+14155550101", "{m}");

    // No WhatsApp channel in the pool for a WhatsApp recipient.
    let (s, v) = via("whatsapp:+14155550123").await;
    assert_eq!(
        (s, v["code"].clone()),
        (StatusCode::BAD_REQUEST, json!(21703)),
        "{v}"
    );

    // Unknown services and another account's are Twilio's 21701.
    let now = app.engine.clock.now();
    let other = parley_engine::service::twilio::create_twilio_account(&app.db.store, "Other", now)
        .await
        .unwrap();
    for sid in [format!("MG{}", Uuid::nil().simple()), mg.clone()] {
        let (s, v) = send(
            &app,
            &other,
            &other.auth_token,
            &[
                ("To", "+14155550123"),
                ("MessagingServiceSid", sid.as_str()),
                ("Body", "hi"),
            ],
        )
        .await;
        assert_eq!(
            (s, v["code"].clone()),
            (StatusCode::BAD_REQUEST, json!(21701)),
            "{v}"
        );
    }
    // Another account cannot change or delete it either.
    let r = app
        .req(Method::DELETE, &format!("{}/{mg}", services_path(&other)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    let r = app
        .req(Method::DELETE, &format!("{}/{mg}", services_path(&account)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (s, v) = via("+14155550123").await;
    assert_eq!(
        (s, v["code"].clone()),
        (StatusCode::BAD_REQUEST, json!(21701)),
        "{v}"
    );
}

fn sids(page: &Value) -> Vec<String> {
    page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["sid"].as_str().unwrap().to_owned())
        .collect()
}

async fn list_filters_and_pages_both_ways(b: TestBackend) {
    let app = app(b).await;
    let (account, _) = setup_account(&app).await;
    let a = "+14155550131";
    let bee = "+14155550132";
    let mut to_a = Vec::new();
    for (i, to) in [a, bee, a, bee, a].into_iter().enumerate() {
        let body = format!("message {i}");
        let (s, m) = send(
            &app,
            &account,
            &account.auth_token,
            &[("To", to), ("From", FROM), ("Body", body.as_str())],
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{m}");
        if to == a {
            to_a.insert(0, m["sid"].as_str().unwrap().to_owned());
        }
    }
    let base = format!("/2010-04-01/Accounts/{}/Messages.json", account.sid);
    let (s, p) = get(&app, &account, &format!("{base}?To=%2B14155550131")).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(sids(&p), to_a);
    let (_, p) = get(&app, &account, &format!("{base}?From=%2B14155550100")).await;
    assert_eq!(sids(&p).len(), 5);
    let (_, p) = get(&app, &account, &format!("{base}?From=%2B19995550100")).await;
    assert_eq!(sids(&p).len(), 0);

    let today = jiff::Timestamp::from_millisecond(app.engine.clock.now().millis())
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let yesterday = today.yesterday().unwrap();
    let tomorrow = today.tomorrow().unwrap();
    for (query, count) in [
        (format!("DateSent={today}"), 5),
        (format!("DateSent={yesterday}"), 0),
        (format!("DateSent%3C={yesterday}"), 0),
        (format!("DateSent%3C={today}"), 5),
        (format!("DateSent%3E={today}"), 5),
        (format!("DateSent%3E={tomorrow}"), 0),
        (
            format!("DateSent%3E={today}T00:00:00Z&To=%2B14155550132"),
            2,
        ),
    ] {
        let (s, p) = get(&app, &account, &format!("{base}?{query}")).await;
        assert_eq!(s, StatusCode::OK, "{query}: {p}");
        assert_eq!(sids(&p).len(), count, "{query}: {p}");
    }
    let (s, v) = get(&app, &account, &format!("{base}?DateSent=04/12/2026")).await;
    assert_eq!(
        (s, v["code"].clone()),
        (StatusCode::BAD_REQUEST, json!(20001)),
        "{v}"
    );
    assert!(v["message"].as_str().unwrap().contains("DateSent"), "{v}");

    // Pages of two, forwards to the end and back again; the filter rides along.
    let (_, p0) = get(&app, &account, &format!("{base}?PageSize=2")).await;
    assert_eq!(p0["page"], 0);
    assert_eq!(p0["page_size"], 2);
    assert!(p0["previous_page_uri"].is_null(), "{p0}");
    assert_eq!(p0["uri"], p0["first_page_uri"]);
    let (_, p1) = get(&app, &account, p0["next_page_uri"].as_str().unwrap()).await;
    assert_eq!(p1["page"], 1);
    assert_eq!(p1["start"], 2);
    let (_, p2) = get(&app, &account, p1["next_page_uri"].as_str().unwrap()).await;
    assert_eq!(sids(&p2).len(), 1);
    assert!(p2["next_page_uri"].is_null(), "{p2}");
    let all: Vec<String> = [sids(&p0), sids(&p1), sids(&p2)].concat();
    assert_eq!(all.len(), 5);
    let (_, back1) = get(&app, &account, p2["previous_page_uri"].as_str().unwrap()).await;
    assert_eq!(sids(&back1), sids(&p1), "{back1}");
    assert_eq!(back1["page"], 1);
    let (_, back0) = get(&app, &account, back1["previous_page_uri"].as_str().unwrap()).await;
    assert_eq!(sids(&back0), sids(&p0), "{back0}");
    assert!(back0["previous_page_uri"].is_null());
    let (_, again) = get(&app, &account, p1["uri"].as_str().unwrap()).await;
    assert_eq!(sids(&again), sids(&p1));

    let (_, f0) = get(
        &app,
        &account,
        &format!("{base}?PageSize=2&To=%2B14155550131"),
    )
    .await;
    let next = f0["next_page_uri"].as_str().unwrap();
    assert!(next.contains("To=%2B14155550131"), "{next}");
    let (_, f1) = get(&app, &account, next).await;
    assert_eq!([sids(&f0), sids(&f1)].concat(), to_a);
    let (_, fb) = get(&app, &account, f1["previous_page_uri"].as_str().unwrap()).await;
    assert_eq!(sids(&fb), sids(&f0));

    let (s, v) = get(&app, &account, &format!("{base}?PageToken=nonsense")).await;
    assert_eq!(
        (s, v["code"].clone()),
        (StatusCode::BAD_REQUEST, json!(20001)),
        "{v}"
    );

    // A retried send with the same idempotency token is the same message, listed once; the
    // token reused for another request is refused.
    let retry = |body: &'static str| {
        parley_testkit::status_and_json(
            app.anon(Method::POST, &base)
                .basic_auth(&account.sid, Some(&account.auth_token))
                .header("I-Twilio-Idempotency-Token", "order-42")
                .form(&[("To", "+14155550133"), ("From", FROM), ("Body", body)]),
        )
    };
    let (s1, m1) = retry("Your order shipped").await;
    let (s2, m2) = retry("Your order shipped").await;
    assert_eq!(
        (s1, s2),
        (StatusCode::CREATED, StatusCode::CREATED),
        "{m1} {m2}"
    );
    assert_eq!(m1["sid"], m2["sid"]);
    assert_eq!(m2["to"], "+14155550133");
    let (_, p) = get(&app, &account, &format!("{base}?To=%2B14155550133")).await;
    assert_eq!(sids(&p), [m1["sid"].as_str().unwrap()]);
    let (s, v) = retry("Something else").await;
    assert_eq!(
        (s, v["code"].clone()),
        (StatusCode::CONFLICT, json!(20409)),
        "{v}"
    );
}

parley_store::on_both_backends!(
    messaging_services_pick_senders,
    list_filters_and_pages_both_ways,
    accounts_through_the_admin_api,
    send_fetch_and_list,
    refusals_and_auth_have_twilio_codes,
    status_callbacks_are_signed_as_twilio_signs,
    a_later_status_is_called_back_after_the_earlier_one,
);

/// The official SDKs (scripts/oracles/twilio-sdk, installed into target/twilio-sdk on first use)
/// against the real server: send, fetch, list (following next_page_uri), the status callback
/// their own validator accepts, and a refused send as their exception with Twilio's code.
/// SQLite: the API's behaviour on both databases is checked by the tests above.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_sdks_send_fetch_list_and_validate_callbacks() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let oracle = root.join("scripts/oracles/twilio-sdk");
    let setup = tokio::process::Command::new("bash")
        .arg(oracle.join("setup.sh"))
        .output()
        .await
        .expect("bash");
    assert!(
        setup.status.success(),
        "twilio SDK setup failed: {}",
        String::from_utf8_lossy(&setup.stderr)
    );
    let sdk_dir = String::from_utf8_lossy(&setup.stdout).trim().to_owned();

    let app = app(TestBackend::Sqlite).await;
    let (account, _) = setup_account(&app).await;
    // A message before the SDKs' own, so a list of one per page has a next page to follow.
    let (s, m) = send(
        &app,
        &account,
        &account.auth_token,
        &[("To", "+14155550176"), ("From", FROM), ("Body", "first")],
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    let python = format!("{sdk_dir}/venv/bin/python");
    let runs = [
        ("python", python.as_str(), oracle.join("check.py"), None),
        (
            "node",
            "node",
            oracle.join("check.js"),
            Some(format!("{sdk_dir}/node/node_modules")),
        ),
    ];
    for (name, program, script, node_path) in runs {
        let mut cmd = tokio::process::Command::new(program);
        cmd.arg(&script)
            .env("PARLEY_BASE_URL", &app.base)
            .env("ACCOUNT_SID", &account.sid)
            .env("AUTH_TOKEN", &account.auth_token)
            .env("FROM", FROM)
            .env("TO", "+14155550177")
            .env("REFUSED_TO", "+442071838750");
        if let Some(p) = node_path {
            cmd.env("NODE_PATH", p);
        }
        let run = tokio::time::timeout(std::time::Duration::from_secs(120), cmd.output())
            .await
            .expect("the SDK script finishes")
            .expect("the SDK script starts");
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert!(
            run.status.success(),
            "{name}: {stdout}\n{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let out: Value = serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {stdout}"));
        let sid = out["created"]["sid"].as_str().unwrap_or_default();
        assert!(sid.starts_with("SM"), "{name}: {out}");
        assert_eq!(out["created"]["status"], "queued", "{name}: {out}");
        assert_eq!(out["created"]["to"], "+14155550177", "{name}: {out}");
        assert_eq!(out["created"]["from"], FROM, "{name}: {out}");
        assert_eq!(out["created"]["direction"], "outbound-api", "{name}: {out}");
        assert_eq!(out["fetched"]["sid"], sid, "{name}: {out}");
        let listed: Vec<&str> = out["listed"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(listed.contains(&sid), "{name}: {out}");
        assert_eq!(
            out["paged"].as_array().map(Vec::len),
            Some(2),
            "{name}: {out}"
        );
        let to_filtered = out["to_filtered"].as_array().unwrap();
        assert!(!to_filtered.is_empty(), "{name}: {out}");
        assert!(
            to_filtered.iter().all(|t| t == "+14155550177"),
            "{name}: {out}"
        );
        let back = &out["back"];
        assert_eq!(
            back["first"].as_array().map(Vec::len),
            Some(1),
            "{name}: {out}"
        );
        assert_eq!(
            back["second"].as_array().map(Vec::len),
            Some(1),
            "{name}: {out}"
        );
        assert_ne!(back["first"], back["second"], "{name}: {out}");
        assert_eq!(back["back"], back["first"], "{name}: {out}");
        let callbacks = out["callbacks"].as_array().unwrap();
        let statuses: Vec<&str> = callbacks
            .iter()
            .filter_map(|c| c["status"].as_str())
            .collect();
        assert_eq!(statuses, ["sent", "delivered"], "{name}: {out}");
        for c in callbacks {
            assert_eq!(c["sid"], sid, "{name}: {out}");
            assert_eq!(c["valid"], true, "{name}: {out}");
            assert_eq!(c["forged_valid"], false, "{name}: {out}");
        }
        assert_eq!(out["refused"]["code"], 21408, "{name}: {out}");
        assert_eq!(out["refused"]["status"], 400, "{name}: {out}");
    }
}
