//! Web chat at the agent's desk (WEB-21, WEB-27, WEB-28), end to end through the console API: a
//! visitor's session with pre-chat data is offered, accepted, shown with its Visitor panel
//! (labels, identity, page, browser, earlier sessions), typing goes both ways, and quick text,
//! a component, a transfer and the end all work on it.

use std::collections::BTreeMap;

use parley_core::model::*;
use parley_core::web::{
    Branding, OriginPattern, Prechat, PrechatField, PrechatKind, WebDeployment, WebDeploymentSpec,
    WidgetSettings,
};
use parley_core::{Clock, SystemClock};
use parley_engine::events::DomainEvent;
use parley_engine::jobs::{InboundEvent, WebInbound};
use parley_store::testing::TestBackend;
use parley_store::*;
use reqwest::header::COOKIE;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::console::{Console, Desk, read_until};
use crate::eventually;

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

struct Web {
    d: Desk,
    channel: Channel,
    deployment: WebDeployment,
}

fn field(name: &str, label: &str, hidden: bool) -> PrechatField {
    PrechatField {
        name: name.into(),
        label: label.into(),
        kind: PrechatKind::Text,
        required: false,
        hidden,
    }
}

impl Web {
    async fn new(b: TestBackend) -> Self {
        let d = Desk::new(b).await;
        let now = SystemClock.now();
        let s = &d.app.db.store;
        let channel = s
            .create_channel(
                &ChannelSpec {
                    name: "Shop chat".into(),
                    kind: ChannelKind::Web,
                    provider: Provider::Web,
                    address: "shop".into(),
                    number_type: None,
                    country: None,
                    queue_id: Some(d.queue.id),
                    settings: json!({"end_conversation_reply": "Thanks for chatting."}),
                    ..parley_testkit::build::simulator_sms()
                },
                now,
            )
            .await
            .unwrap();
        let deployment = s
            .create_web_deployment(
                &WebDeploymentSpec {
                    name: "shop".into(),
                    channel_id: channel.id,
                    origins: vec![OriginPattern::parse("https://shop.example").unwrap()],
                    language: "en".into(),
                    branding: Branding::default(),
                    settings: WidgetSettings::default(),
                    prechat: Prechat {
                        enabled: true,
                        fields: vec![
                            field("subject", "What is it about?", false),
                            field("first_name", "First name", false),
                            field("plan", "", true),
                        ],
                    },
                    keyset_id: None,
                },
                now,
            )
            .await
            .unwrap();
        Self {
            d,
            channel,
            deployment,
        }
    }

    /// A visitor's message as the widget API hands it to the inbound pipeline.
    async fn visitor_says(
        &self,
        visitor: Uuid,
        text: &str,
        prechat: &[(&str, &str)],
        page_url: &str,
    ) {
        self.says(visitor, None, text, prechat, page_url).await;
    }

    /// `identity`: a verified visitor's `sub`, whose messaging user is `uid:<sub>` (WEB-19).
    async fn says(
        &self,
        visitor: Uuid,
        identity: Option<&str>,
        text: &str,
        prechat: &[(&str, &str)],
        page_url: &str,
    ) {
        let from = match identity {
            Some(sub) => format!("uid:{sub}"),
            None => format!("anon:{visitor}"),
        };
        let event = InboundEvent {
            channel_id: self.channel.id,
            provider_message_id: format!("web-{}", Uuid::now_v7()),
            from,
            to: self.channel.address.clone(),
            text: text.into(),
            media: Vec::new(),
            profile_name: None,
            received_at: SystemClock.now(),
            choice: None,
            web: Some(WebInbound {
                deployment_id: self.deployment.id,
                visitor_id: visitor,
                prechat: prechat
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect::<BTreeMap<_, _>>(),
                page_url: Some(page_url.into()),
                identity: identity.map(str::to_owned),
                user_agent: Some(FIREFOX.into()),
            }),
        };
        self.d.app.engine.ingest.submit(&event).await.unwrap();
    }

    async fn visitor(&self, c: &Console, session: Uuid) -> Value {
        self.d
            .get(c, &format!("/api/v1/sessions/{session}/visitor"))
            .await["visitor"]
            .clone()
    }

    async fn post(&self, c: &Console, path: &str, body: Value) -> reqwest::Response {
        self.d
            .call(c, Method::POST, path)
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}

async fn web_sessions_at_the_agent_desk(b: TestBackend) {
    let w = Web::new(b).await;
    let d = &w.d;
    let store = d.app.db.store.clone();
    let ada = d.agent("Ada", 2, AgentRole::Agent).await;
    let bob = d.agent("Bob", 2, AgentRole::Agent).await;
    let (a, bc) = (d.sign_in(&ada).await, d.sign_in(&bob).await);
    d.go(&a, "available").await;

    let visitor = Uuid::now_v7();
    w.visitor_says(
        visitor,
        "My parcel is late",
        &[
            ("first_name", "<b>Zoë</b>"),
            ("subject", "Late order"),
            ("plan", "gold"),
            ("coupon", "SPRING"),
        ],
        "https://shop.example/cart?step=2",
    )
    .await;
    let session = d.offered(&a).await;
    assert_eq!(d.act(&a, session, "accept").await.status(), StatusCode::OK);
    let work = d.work(&a).await;
    assert_eq!(work["sessions"][0]["channel"]["kind"], "web");

    // The Visitor panel: the form's order and labels (a hidden field under its name), then what
    // the form no longer has; values exactly as given (the console escapes them).
    let v = w.visitor(&a, session).await;
    assert_eq!(v["deployment_name"], "shop");
    assert_eq!(v["visitor_id"], visitor.to_string());
    assert_eq!(v["verified"], false);
    assert_eq!(v["identity"], Value::Null);
    let answers: Vec<(String, String, String)> = v["prechat"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_owned(),
                a["label"].as_str().unwrap().to_owned(),
                a["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("subject", "What is it about?", "Late order"),
        ("first_name", "First name", "<b>Zoë</b>"),
        ("plan", "plan", "gold"),
        ("coupon", "coupon", "SPRING"),
    ];
    assert_eq!(
        answers,
        expected
            .iter()
            .map(|(n, l, v)| ((*n).to_owned(), (*l).to_owned(), (*v).to_owned()))
            .collect::<Vec<_>>()
    );
    assert_eq!(v["page_url"], "https://shop.example/cart?step=2");
    assert_eq!(v["page_link"], "https://shop.example/cart?step=2");
    assert_eq!(v["browser"], "Firefox 133 on Linux");
    assert_eq!(v["user_agent"], FIREFOX);
    assert_eq!(v["earlier_sessions"], json!([]));
    // An agent outside the session's queue may not read it, nor who its visitor is.
    let cy = d
        .app
        .agent_with_password(
            &parley_testkit::build::agent_spec("Cy", AgentRole::Agent, 1, vec![]),
            crate::console::PASSWORD,
        )
        .await;
    let cc = d.sign_in(&cy).await;
    let r = d
        .call(
            &cc,
            Method::GET,
            &format!("/api/v1/sessions/{session}/visitor"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // An SMS session has no visitor.
    let sms = parley_testkit::build::customer_session(
        &store,
        &d.channel,
        "+447400000091",
        SystemClock.now(),
    )
    .await;
    let (status, body) = parley_testkit::status_and_json(
        d.app
            .req(Method::GET, &format!("/api/v1/sessions/{}/visitor", sms.id)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"visitor": null}));

    // Agent typing reaches the bus (the widget's stream relays it); only the owner's, with CSRF.
    let mut bus = d.app.events.subscribe();
    let typing = format!("/api/v1/sessions/{session}/typing");
    let r = w.post(&a, &typing, json!({"typing": true})).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let seen = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            let e = bus.recv().await.unwrap();
            if let DomainEvent::AgentTyping { .. } = *e {
                return e;
            }
        }
    })
    .await
    .expect("the typing event");
    assert_eq!(
        *seen,
        DomainEvent::AgentTyping {
            session_id: session,
            agent_id: ada.id,
            typing: true
        }
    );
    let r = d
        .app
        .client
        .post(format!("{}{typing}", d.app.base))
        .header(COOKIE, &a.cookie)
        .json(&json!({"typing": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no CSRF token");
    assert_eq!(
        w.post(&bc, &typing, json!({"typing": true})).await.status(),
        StatusCode::CONFLICT
    );
    let r = w.post(&a, &typing, json!({"typing": "yes"})).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // The visitor's typing reaches the agent's console stream.
    let stream = d
        .call(&a, Method::GET, "/api/v1/events")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    d.app.events.publish(DomainEvent::CustomerTyping {
        session_id: session,
        typing: true,
    });
    let events = read_until(stream, |got| got.iter().any(|(_, k, _)| k == "typing")).await;
    let (_, _, data) = events.iter().find(|(_, k, _)| k == "typing").unwrap();
    assert_eq!(data["session_id"], session.to_string());
    assert_eq!(data["typing"], true);

    // Quick text, rendered for this session, then sent; a component; both reach the visitor.
    let qt = store
        .create_quick_text(
            &QuickTextSpec {
                title: "Greeting".into(),
                body: "Hello, this is {{agent.name}}.".into(),
            },
            SystemClock.now(),
        )
        .await
        .unwrap();
    let r = w
        .post(
            &a,
            &format!("/api/v1/quick-texts/{}/render", qt.id),
            json!({"session_id": session}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let rendered: Value = r.json().await.unwrap();
    assert_eq!(rendered["body"], "Hello, this is Ada.");
    let messages = format!("/api/v1/sessions/{session}/messages");
    let r = w
        .post(&a, &messages, json!({"body": rendered["body"]}))
        .await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
    let component = json!({"type": "question", "text": "Which order?",
        "options": [{"id": "o1", "title": "Order 41"}, {"id": "o2", "title": "Order 42"}]});
    let r = w
        .post(&a, &messages, json!({"body": "", "component": component}))
        .await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
    let user = store.session(session).await.unwrap().messaging_user_id;
    let entries = eventually(&d.app.events, "both replies sent to the visitor", || {
        let store = store.clone();
        async move {
            let all = store
                .list_entries(session, PageRequest::new(None, 100))
                .await
                .unwrap()
                .items;
            let out: Vec<Entry> = all
                .into_iter()
                .filter(|e| e.direction == Direction::Outbound && e.actor == Actor::Agent)
                .collect();
            (out.len() == 2
                && out
                    .iter()
                    .all(|e| matches!(e.status, EntryStatus::Sent | EntryStatus::Delivered)))
            .then_some(out)
        }
    })
    .await;
    assert_eq!(entries[0].body, "Hello, this is Ada.");
    assert!(entries[1].component.is_some());

    // Transfer to Bob, who accepts and then sees the visitor too.
    d.go(&bc, "available").await;
    let r = w
        .post(
            &a,
            &format!("/api/v1/sessions/{session}/transfer"),
            json!({"agent_id": bob.id}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    assert_eq!(d.offered(&bc).await, session);
    assert_eq!(d.act(&bc, session, "accept").await.status(), StatusCode::OK);
    assert_eq!(w.visitor(&bc, session).await["deployment_name"], "shop");
    assert_eq!(
        w.post(&a, &typing, json!({"typing": false})).await.status(),
        StatusCode::CONFLICT,
        "Ada no longer holds it"
    );

    // Bob ends it (End Chat): the End Conversation reply goes to the visitor.
    assert_eq!(d.act(&bc, session, "end").await.status(), StatusCode::OK);
    let s = store.session(session).await.unwrap();
    assert_eq!(s.status, SessionStatus::Ended);
    let all = d.app.wait_for_entries(user, 4).await;
    assert!(
        all.iter()
            .any(|(_, e)| e.body == "Thanks for chatting." && e.direction == Direction::Outbound)
    );
    assert_eq!(
        w.post(&bc, &typing, json!({"typing": true})).await.status(),
        StatusCode::CONFLICT,
        "closed"
    );

    // The same visitor comes back from another page: a new session, with the first as history.
    d.go(&a, "offline").await;
    w.visitor_says(visitor, "Me again", &[], "javascript:alert(1)")
        .await;
    let again = d.offered(&bc).await;
    assert_ne!(again, session);
    assert_eq!(d.act(&bc, again, "accept").await.status(), StatusCode::OK);
    let v = w.visitor(&bc, again).await;
    assert_eq!(v["page_url"], "javascript:alert(1)");
    assert_eq!(v["page_link"], Value::Null, "only http(s) pages are links");
    assert_eq!(v["earlier_sessions"][0]["id"], session.to_string());
    assert_eq!(v["earlier_sessions"][0]["status"], "ended");
    let timeline = d
        .get(&bc, &format!("/api/v1/messaging-users/{user}/timeline"))
        .await;
    let sessions: std::collections::BTreeSet<&str> = timeline["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["session_id"].as_str().unwrap())
        .collect();
    assert!(sessions.contains(session.to_string().as_str()));
    assert!(sessions.contains(again.to_string().as_str()));

    // A verified visitor: the panel names their user id instead of "anonymous".
    w.says(
        Uuid::now_v7(),
        Some("user-123"),
        "Signed in now",
        &[],
        "https://shop.example/",
    )
    .await;
    let verified = d.offered(&bc).await;
    assert_eq!(
        d.act(&bc, verified, "accept").await.status(),
        StatusCode::OK
    );
    let v = w.visitor(&bc, verified).await;
    assert_eq!(v["verified"], true);
    assert_eq!(v["identity"], "user-123");
}

/// The widget's API and the console together: a visitor made through `/widget/v1` writes with
/// pre-chat answers; the agent sees them, and each sees the other type; the agent's reply reaches
/// the visitor's stream.
async fn widget_visitor_and_agent_see_each_other(b: TestBackend) {
    let w = Web::new(b).await;
    let d = &w.d;
    let ada = d.agent("Ada", 2, AgentRole::Agent).await;
    let a = d.sign_in(&ada).await;
    d.go(&a, "available").await;
    let widget = |method: Method, path: &str| {
        d.app
            .client
            .request(method, format!("{}/widget/v1{path}", d.app.base))
            .header("origin", "https://shop.example")
    };
    let r = widget(Method::POST, "/deployments/shop/visitors")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    let bearer = format!("Bearer {}", v["visitor_token"].as_str().unwrap());
    let r = widget(Method::POST, "/messages")
        .header("authorization", &bearer)
        .header("user-agent", FIREFOX)
        .json(
            &json!({"client_message_id": Uuid::now_v7(), "text": "Is it in stock?",
            "prechat": {"first_name": "Zoë", "subject": "Stock"},
            "page_url": "https://shop.example/p/42"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::ACCEPTED,
        "{}",
        r.text().await.unwrap()
    );
    let session = d.offered(&a).await;
    assert_eq!(d.act(&a, session, "accept").await.status(), StatusCode::OK);
    let visitor = w.visitor(&a, session).await;
    assert_eq!(visitor["visitor_id"], v["visitor_id"]);
    assert_eq!(visitor["page_link"], "https://shop.example/p/42");
    assert_eq!(visitor["browser"], "Firefox 133 on Linux");
    assert_eq!(visitor["prechat"][0]["label"], "What is it about?");
    assert_eq!(visitor["prechat"][0]["value"], "Stock");
    assert_eq!(visitor["prechat"][1]["value"], "Zoë");

    // The agent types: the visitor's stream says so, under the agent's name.
    let stream = widget(Method::GET, "/events")
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let typing = format!("/api/v1/sessions/{session}/typing");
    let agent_types = w.post(&a, &typing, json!({"typing": true}));
    let (seen, ()) = tokio::join!(
        read_events_until(stream, |e| e.iter().any(|(k, _)| k == "typing")),
        async {
            assert_eq!(agent_types.await.status(), StatusCode::NO_CONTENT);
        }
    );
    let (stream, events) = seen;
    let (_, data) = events.iter().find(|(k, _)| k == "typing").unwrap();
    assert_eq!(data["typing"], true);
    assert_eq!(data["author_name"], "Ada");

    // The visitor types: the agent's console stream says so.
    let console = d
        .call(&a, Method::GET, "/api/v1/events")
        .send()
        .await
        .unwrap();
    let r = widget(Method::POST, "/typing")
        .header("authorization", &bearer)
        .json(&json!({"typing": true}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let events = read_until(console, |got| got.iter().any(|(_, k, _)| k == "typing")).await;
    let (_, _, data) = events.iter().find(|(_, k, _)| k == "typing").unwrap();
    assert_eq!(data["session_id"], session.to_string());

    // The agent's reply reaches the visitor's stream.
    let r = w
        .post(
            &a,
            &format!("/api/v1/sessions/{session}/messages"),
            json!({"body": "Yes, two left."}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let (_, events) = read_events_until(stream, |e| {
        e.iter()
            .any(|(k, d)| k == "entry" && d["text"] == "Yes, two left.")
    })
    .await;
    let (_, entry) = events
        .iter()
        .find(|(k, d)| k == "entry" && d["text"] == "Yes, two left.")
        .unwrap();
    assert_eq!(entry["author"], "agent");
}

/// The widget stream's events (`event`, JSON data), read until `done`; the stream is handed back
/// to read on.
async fn read_events_until(
    mut r: reqwest::Response,
    done: impl Fn(&[(String, Value)]) -> bool,
) -> (reqwest::Response, Vec<(String, Value)>) {
    let mut out = Vec::new();
    let mut buf = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !done(&out) {
        let chunk = tokio::time::timeout_at(deadline, r.chunk())
            .await
            .expect("widget events in time")
            .unwrap()
            .expect("the widget stream open");
        buf.push_str(&String::from_utf8_lossy(&chunk));
        for e in parley_testkit::sse::take_events(&mut buf) {
            if !e.event.is_empty() {
                out.push((
                    e.event,
                    serde_json::from_str(&e.data).unwrap_or(Value::Null),
                ));
            }
        }
    }
    (r, out)
}

/// The console with a web session open, in headless Chromium (`tests/browser/web-agent.mjs`): the
/// Visitor panel, the agent's typing sent and stopped, the visitor's typing shown. Screenshots go
/// to `PARLEY_SHOTS` when set.
async fn web_session_in_a_real_browser(b: TestBackend) {
    use crate::browser::{harness, tempfile_dir};
    let dir = harness();
    assert!(
        dir.join("node_modules/playwright-core").is_dir()
            && std::path::PathBuf::from("/usr/bin/chromium").exists(),
        "the browser harness is not installed: run scripts/browser-deps.sh (scripts/test.sh does)"
    );
    let w = Web::new(b).await;
    let d = &w.d;
    let ada = d.agent("Ada", 2, AgentRole::Agent).await;
    w.visitor_says(
        Uuid::now_v7(),
        "My parcel is late",
        &[
            ("first_name", "<b>Zoë</b>"),
            ("subject", "Late order"),
            ("plan", "gold"),
        ],
        "https://shop.example/cart?step=2",
    )
    .await;
    // The visitor types once the agent's reply is stored; again until the page shows it (the
    // indicator hides by itself after a few seconds).
    let store = d.app.db.store.clone();
    let events = d.app.events.clone();
    let visitor_types = tokio::spawn(async move {
        // Unbounded here: the scenario's own timeout ends this task.
        let mut bus = events.subscribe();
        let session = loop {
            let sessions = store
                .list_sessions(SessionFilter::default(), PageRequest::new(None, 10))
                .await
                .unwrap()
                .items;
            let mut found = None;
            for s in sessions {
                let entries = store
                    .list_entries(s.id, PageRequest::new(None, 10))
                    .await
                    .unwrap()
                    .items;
                if entries.iter().any(|e| e.actor == Actor::Agent) {
                    found = Some(s.id);
                }
            }
            if let Some(id) = found {
                break id;
            }
            let _ = tokio::time::timeout(std::time::Duration::from_millis(200), bus.recv()).await;
        };
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
        loop {
            tick.tick().await;
            events.publish(DomainEvent::CustomerTyping {
                session_id: session,
                typing: true,
            });
        }
    });
    let profile = tempfile_dir();
    let shots = crate::browser::shots_dir("web-agent-shots", &format!("{b:?}").to_lowercase());
    let run = tokio::process::Command::new("node")
        .arg("web-agent.mjs")
        .arg(format!("--url={}", d.app.base))
        .arg(format!(
            "--agent={}:{}",
            ada.email,
            crate::console::PASSWORD
        ))
        .arg(format!("--shots={}", shots.display()))
        .env("TMPDIR", &profile)
        .current_dir(&dir)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(180), run)
        .await
        .expect("the web-agent scenario finishes within three minutes")
        .expect("node runs");
    visitor_types.abort();
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        out.status.success(),
        "web-agent scenario failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

parley_store::on_both_backends!(
    web_sessions_at_the_agent_desk,
    widget_visitor_and_agent_see_each_other,
    web_session_in_a_real_browser
);
