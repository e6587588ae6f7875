//! Issue 13: outgoing webhook subscriptions end to end, on both databases: a local receiver that
//! fails at first gets its delivery after retries, signed, with one delivery id; each event type
//! reaches its subscribers only; a channel filter; bad input.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode as AxStatus};
use axum::routing::post;
use parley_store::testing::TestBackend;
use parley_store::{PageRequest, WebhookDelivery};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{TestApp, eventually};

const CUSTOMER: &str = "+14155550123";

/// One call the receiver got: its headers of interest and its body.
#[derive(Debug, Clone)]
struct Call {
    signature: String,
    timestamp: String,
    event: String,
    delivery: String,
    body: Vec<u8>,
}

/// A local receiver that answers 500 to its first `failures` calls, then 200 with a short body.
#[derive(Clone, Default)]
struct Receiver {
    calls: Arc<Mutex<Vec<Call>>>,
}

impl Receiver {
    async fn start(&self, failures: usize) -> String {
        let calls = self.calls.clone();
        let app = Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: Bytes| {
                let calls = calls.clone();
                async move {
                    let h = |n: &str| {
                        headers
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    let mut calls = calls.lock().unwrap();
                    calls.push(Call {
                        signature: h("x-parley-signature"),
                        timestamp: h("x-parley-timestamp"),
                        event: h("x-parley-event"),
                        delivery: h("x-parley-delivery"),
                        body: body.to_vec(),
                    });
                    if calls.len() <= failures {
                        (AxStatus::INTERNAL_SERVER_ERROR, "<b>not yet</b>".to_owned())
                    } else {
                        (AxStatus::OK, "thanks, got it".to_owned())
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/hook")
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    fn events(&self) -> Vec<String> {
        self.calls().into_iter().map(|c| c.event).collect()
    }
}

/// A queue and a simulator SMS channel named `name` at `address`.
async fn channel(app: &TestApp, name: &str, address: &str, settings: Value) -> Uuid {
    let (_, q) = parley_testkit::status_and_json(
        app.req(Method::POST, "/api/v1/queues")
            .json(&json!({"name": format!("Q {name}")})),
    )
    .await;
    let (s, c) = parley_testkit::status_and_json(app.req(Method::POST, "/api/v1/channels").json(
        &json!({"name": name, "kind": "sms", "provider": "simulator", "address": address,
                "number_type": "long_code", "country": "US", "consent_level": "implicit",
                "queue_id": q["id"], "settings": settings}),
    ))
    .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    c["id"].as_str().unwrap().parse().unwrap()
}

async fn say(app: &TestApp, channel: &str, text: &str) {
    let r = app
        .anon(Method::POST, "/simulator/inbound")
        .json(&json!({"channel": channel, "from": CUSTOMER, "text": text}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
}

async fn subscribe(
    app: &TestApp,
    url: &str,
    events: &[&str],
    channels: Option<Vec<Uuid>>,
) -> Value {
    let (s, v) = parley_testkit::status_and_json(
        app.req(Method::POST, "/api/v1/webhook-subscriptions")
            .json(&json!({"name": "shop", "url": url, "event_types": events,
                          "channel_ids": channels})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v
}

/// The deliveries of a subscription once `done` holds for them.
async fn deliveries_where(
    app: &TestApp,
    sub: Uuid,
    what: &str,
    done: impl Fn(&[WebhookDelivery]) -> bool,
) -> Vec<WebhookDelivery> {
    let s = app.db.store.clone();
    let done = &done;
    eventually(&app.events, what, || {
        let s = s.clone();
        async move {
            let got = s
                .list_webhook_deliveries(sub, PageRequest::new(None, 100))
                .await
                .unwrap()
                .items;
            done(&got).then_some(got)
        }
    })
    .await
}

fn id_of(v: &Value) -> Uuid {
    v["id"].as_str().unwrap().parse().unwrap()
}

async fn a_failing_receiver_gets_its_delivery_after_retries(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    channel(&app, "Sim", "+14155550100", json!({})).await;
    let rx = Receiver::default();
    let url = rx.start(2).await;
    let sub = subscribe(&app, &url, &["message.received"], None).await;
    let secret = sub["secret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 16);
    let sub_id = id_of(&sub);
    let listed = app.get_json("/api/v1/webhook-subscriptions").await;
    assert!(listed["items"][0].get("secret").is_none(), "{listed}");

    say(&app, "Sim", "where is my order?").await;
    let first = deliveries_where(&app, sub_id, "a first failed attempt", |d| {
        d.len() == 1 && d[0].attempts == 1 && d[0].last_status_code == Some(500)
    })
    .await;
    let delivery = first[0].id;
    assert_eq!(first[0].status, "pending");
    assert!(
        first[0].next_attempt_at > app.engine.clock.now(),
        "backs off"
    );
    // The backoff is minutes long: make the retry due as the clock would.
    for n in 2..=3_i64 {
        app.engine.webhooks.retry(sub_id, delivery).await.unwrap();
        let code = if n == 3 { 200 } else { 500 };
        deliveries_where(&app, sub_id, &format!("attempt {n}"), |d| {
            d[0].attempts == n
                && d[0].last_status_code == Some(code)
                && rx.calls().len() as i64 == n
        })
        .await;
    }
    let page = app
        .get_json(&format!(
            "/api/v1/webhook-subscriptions/{sub_id}/deliveries"
        ))
        .await;
    let d = &page["items"][0];
    assert_eq!(d["status"], "succeeded", "{page}");
    assert_eq!(d["attempts"], 3);
    assert_eq!(d["last_status_code"], 200);
    assert_eq!(d["last_response"], "thanks, got it");
    assert_eq!(d["event_type"], "message.received");
    assert_eq!(d["payload"]["data"]["body"], "where is my order?");
    assert_eq!(
        d["payload"]["data"]["messaging_user"]["platform_key"],
        CUSTOMER
    );
    assert_eq!(d["payload"]["data"]["channel"]["name"], "Sim");

    let calls = rx.calls();
    assert_eq!(calls.len(), 3);
    for c in &calls {
        assert_eq!(
            c.delivery,
            delivery.to_string(),
            "one delivery id across attempts"
        );
        assert_eq!(c.event, "message.received");
        let mut signed = c.timestamp.clone().into_bytes();
        signed.push(b'.');
        signed.extend_from_slice(&c.body);
        assert_eq!(c.signature, parley_engine::flows::sign(&secret, &signed));
    }
    let body: Value = serde_json::from_slice(&calls[0].body).unwrap();
    assert_eq!(body["type"], "message.received");
    assert!(body["occurred_at"].as_str().unwrap().contains('T'));

    // A ping, and the secret rotates.
    let (s, _) = parley_testkit::status_and_json(app.req(
        Method::POST,
        &format!("/api/v1/webhook-subscriptions/{sub_id}/test"),
    ))
    .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    eventually(&app.events, "the ping", || {
        let rx = rx.clone();
        async move { rx.events().contains(&"ping".to_owned()).then_some(()) }
    })
    .await;
    let (s, v) = parley_testkit::status_and_json(
        app.req(
            Method::POST,
            &format!("/api/v1/webhook-subscriptions/{sub_id}/rotate-secret"),
        )
        .json(&json!({})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_ne!(v["secret"], secret.as_str());

    // Deleting the subscription deletes its deliveries.
    let r = app
        .req(
            Method::DELETE,
            &format!("/api/v1/webhook-subscriptions/{sub_id}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(app.db.store.webhook_delivery(delivery).await.is_err());
}

async fn each_event_reaches_its_subscribers_only(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let settings =
        json!({"case_handoff": {"trigger": {"on": "help"}, "reply": "A person will text you."}});
    channel(&app, "Sim", "+14155550100", settings).await;
    let other = channel(&app, "Other", "+14155550199", json!({})).await;
    let mut receivers = Vec::new();
    for events in [
        &["message.received"][..],
        &["message.status"],
        &["consent.changed"],
        &["case.opened"],
        &["session.opened", "session.ended"],
    ] {
        let rx = Receiver::default();
        let url = rx.start(0).await;
        subscribe(&app, &url, events, None).await;
        receivers.push((events, rx));
    }
    let only_other = Receiver::default();
    let url = only_other.start(0).await;
    subscribe(&app, &url, &["message.received"], Some(vec![other])).await;

    // One at a time, each recorded before the next. HELP comes first: the hand-off opens a
    // case for a conversation that HELP starts.
    for (n, text) in ["HELP", "hello", "STOP"].into_iter().enumerate() {
        say(&app, "Sim", text).await;
        eventually(&app.events, text, || {
            let rx = receivers[0].1.clone();
            async move { (rx.calls().len() > n).then_some(()) }
        })
        .await;
    }
    say(&app, "Other", "on the other channel").await;

    for (events, rx) in &receivers {
        let want: Vec<String> = events.iter().map(|e| (*e).to_owned()).collect();
        let got = eventually(&app.events, &format!("{want:?}"), || {
            let rx = rx.clone();
            let want = want.clone();
            async move {
                let got = rx.events();
                want.iter().all(|w| got.contains(w)).then_some(got)
            }
        })
        .await;
        assert!(got.iter().all(|e| want.contains(e)), "{want:?} got {got:?}");
    }
    let received = eventually(&app.events, "the filtered channel's message", || {
        let rx = only_other.clone();
        async move { (!rx.calls().is_empty()).then(|| rx.calls()) }
    })
    .await;
    // Everything on Sim was recorded before the Other message: no Sim delivery follows.
    let all_received = eventually(&app.events, "four messages received", || {
        let rx = receivers[0].1.clone();
        async move { (rx.calls().len() >= 4).then(|| rx.calls()) }
    })
    .await;
    assert_eq!(all_received.len(), 4);
    assert_eq!(received.len(), 1);
    let body: Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(body["data"]["channel"]["name"], "Other");
    assert_eq!(body["data"]["body"], "on the other channel");

    let consents: Vec<Value> = receivers[2]
        .1
        .calls()
        .iter()
        .map(|c| serde_json::from_slice(&c.body).unwrap())
        .collect();
    assert!(
        consents.iter().any(|c| c["data"]["status"] == "OptedOut"
            && c["data"]["source"] == "keyword"
            && c["data"]["channel"]["name"] == "Sim"),
        "{consents:?}"
    );
    let case: Value = serde_json::from_slice(&receivers[3].1.calls()[0].body).unwrap();
    assert_eq!(case["data"]["status"], "new", "{case}");
    let statuses: Vec<Value> = receivers[1]
        .1
        .calls()
        .iter()
        .map(|c| serde_json::from_slice(&c.body).unwrap())
        .collect();
    assert!(
        statuses
            .iter()
            .all(|s| s["data"]["direction"] == "outbound"),
        "{statuses:?}"
    );
}

async fn bad_input_names_the_field(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    for (body, field) in [
        (
            json!({"name": "x", "url": "https://a.example/h", "event_types": ["message.sent"]}),
            "event_types",
        ),
        (
            json!({"name": "x", "url": "not a url", "event_types": ["message.received"]}),
            "url",
        ),
        (
            json!({"name": "x", "url": "ftp://a.example/h", "event_types": ["message.received"]}),
            "url",
        ),
        (
            json!({"name": "x", "url": "https://a.example/h", "event_types": ["message.received"], "secret": "short"}),
            "secret",
        ),
        (
            json!({"name": "", "url": "https://a.example/h", "event_types": ["message.received"]}),
            "name",
        ),
    ] {
        let (s, v) = parley_testkit::status_and_json(
            app.req(Method::POST, "/api/v1/webhook-subscriptions")
                .json(&body),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body} {v}");
        assert!(
            v["message"].as_str().unwrap().starts_with(field),
            "{field}: {v}"
        );
    }
    let (s, _) = parley_testkit::status_and_json(app.req(
        Method::GET,
        &format!(
            "/api/v1/webhook-subscriptions/{}/deliveries",
            Uuid::now_v7()
        ),
    ))
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

/// The Webhooks admin page (`tests/browser/webhooks.mjs`): the list, a failed delivery's answer
/// shown as text, Retry, and a new subscription's secret. Screenshots go to `PARLEY_SHOTS` when
/// set.
async fn webhooks_in_a_real_browser(b: TestBackend) {
    use std::path::PathBuf;
    use std::time::Duration;

    use parley_core::model::AgentRole;

    use crate::console::{Desk, PASSWORD};
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        dir.join("node_modules/playwright-core").is_dir()
            && PathBuf::from("/usr/bin/chromium").exists(),
        "the browser harness is not installed: run scripts/browser-deps.sh (scripts/test.sh does)"
    );
    let d = Desk::new(b).await;
    let admin = d.agent("Alex", 3, AgentRole::Admin).await;
    let app = &d.app;
    let rx = Receiver::default();
    let url = rx.start(1).await;
    let sub = id_of(&subscribe(app, &url, &["message.received"], None).await);
    let r = app
        .anon(Method::POST, "/simulator/inbound")
        .json(&json!({"channel": d.channel.name, "from": CUSTOMER, "text": "hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    deliveries_where(app, sub, "a failed attempt", |d| {
        d.len() == 1 && d[0].last_status_code == Some(500)
    })
    .await;
    let shots = crate::browser::shots_dir("webhook-shots", &format!("{b:?}").to_lowercase());
    let run = tokio::process::Command::new("node")
        .arg("webhooks.mjs")
        .arg(format!("--url={}", app.base))
        .arg(format!("--user={}:{PASSWORD}", admin.email))
        .arg(format!("--hook={url}"))
        .arg(format!("--shots={}", shots.display()))
        .current_dir(&dir)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("the webhooks scenario finishes within three minutes")
        .expect("node runs");
    assert!(
        out.status.success(),
        "webhooks scenario failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let done = app
        .db
        .store
        .list_webhook_deliveries(sub, PageRequest::new(None, 10))
        .await
        .unwrap();
    assert_eq!(done.items[0].status, "succeeded");
    assert_eq!(rx.calls().len(), 2);
}

/// The backoff follows the engine's clock: moving a manual clock past the wait makes the retry
/// due, with no waiting in real time.
async fn the_backoff_follows_the_engine_clock(b: TestBackend) {
    use std::time::Duration;

    use parley_core::{Clock, ManualClock, SystemClock};
    use parley_engine::EventBus;
    use parley_engine::subscriptions::Webhooks;

    let db = parley_store::testing::fresh(b).await;
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let bus = EventBus::default();
    let hooks = Webhooks::new(db.store.clone(), clock.clone(), bus.clone());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(hooks.clone().run_sender(stopped));
    let rx = Receiver::default();
    let url = rx.start(1).await;
    let sub = db
        .store
        .create_webhook_subscription(
            &parley_store::SubscriptionSpec {
                name: "shop".into(),
                url,
                event_types: vec!["message.received".into()],
                channel_ids: None,
                active: true,
            },
            "0123456789abcdef",
            clock.now(),
        )
        .await
        .unwrap();
    let ping = hooks.ping(sub.id).await.unwrap();
    let read = |what: &'static str, done: fn(&WebhookDelivery) -> bool| {
        let s = db.store.clone();
        let bus = bus.clone();
        async move {
            eventually(&bus, what, || {
                let s = s.clone();
                async move {
                    let d = s.webhook_delivery(ping.id).await.unwrap();
                    done(&d).then_some(d)
                }
            })
            .await
        }
    };
    let first = read("the first attempt", |d| d.last_status_code == Some(500)).await;
    let wait = first.next_attempt_at.since(clock.now());
    assert!(
        wait >= Duration::from_secs(10) && wait <= Duration::from_secs(12),
        "{wait:?}"
    );
    assert_eq!(first.status, "pending");
    clock.advance(Duration::from_secs(13));
    let second = read("the retry", |d| d.status == "succeeded").await;
    assert_eq!(second.attempts, 2);
    assert_eq!(second.last_response.as_deref(), Some("thanks, got it"));
    stop.send(true).unwrap();
}

parley_store::on_both_backends!(
    the_backoff_follows_the_engine_clock,
    webhooks_in_a_real_browser,
    a_failing_receiver_gets_its_delivery_after_retries,
    each_event_reaches_its_subscribers_only,
    bad_input_names_the_field,
);
