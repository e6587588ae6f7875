//! Issue 12: flows end to end, through the real server, its workers and the simulator, on both
//! databases: each trigger, a bot that collects an order number, calls a signed webhook on a
//! local server and hands off with what it collected; webhook failures and timeouts; the
//! marketing/service transitions; the numbered text fallback of a question on SMS; a flow edited
//! while conversations wait in it.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode as AxStatus};
use axum::routing::post;
use parley_core::Clock as _;
use parley_core::model::{OwnerKind, SessionContext, SessionStatus};
use parley_engine::EngineConfig;
use parley_store::testing::TestBackend;
use parley_store::{Entry, PageRequest, Session, SessionFilter};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{TestApp, eventually};

const SECRET: &str = "flow-test-secret";
const CUSTOMER: &str = "+14155550123";

/// A local order service: answers `POST /orders` with the order's status, `POST /broken` with
/// 500, `POST /slow` after the caller gave up. Records every call's body and signature.
#[derive(Clone, Default)]
struct Receiver {
    calls: Arc<Mutex<Vec<Call>>>,
}

/// A call the receiver answered: its path, its signature header and its body.
type Call = (String, String, Vec<u8>);

impl Receiver {
    async fn start(&self) -> String {
        let calls = self.calls.clone();
        let record = move |path: &'static str| {
            let calls = calls.clone();
            move |headers: HeaderMap, body: Bytes| {
                let calls = calls.clone();
                async move {
                    let sig = headers
                        .get("x-parley-signature")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    calls
                        .lock()
                        .unwrap()
                        .push((path.to_owned(), sig, body.to_vec()));
                    match path {
                        "orders" => (
                            AxStatus::OK,
                            [("content-type", "application/json")],
                            json!({"order": {"status": "shipped", "eta": "Tuesday"}}).to_string(),
                        ),
                        "slow" => {
                            // A peer that never answers: the step's timeout must end the wait.
                            std::future::pending::<()>().await;
                            (
                                AxStatus::OK,
                                [("content-type", "application/json")],
                                "{}".into(),
                            )
                        }
                        _ => (
                            AxStatus::INTERNAL_SERVER_ERROR,
                            [("content-type", "application/json")],
                            "{}".to_owned(),
                        ),
                    }
                }
            }
        };
        let app = Router::new()
            .route("/orders", post(record("orders")))
            .route("/broken", post(record("broken")))
            .route("/slow", post(record("slow")));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    fn calls(&self, path: &str) -> Vec<(String, Vec<u8>)> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _, _)| p == path)
            .map(|(_, s, b)| (s.clone(), b.clone()))
            .collect()
    }
}

async fn app(b: TestBackend) -> TestApp {
    TestApp::spawn_full(
        b,
        parley_server::ServerConfig {
            simulator: true,
            ..parley_server::ServerConfig::default()
        },
        EngineConfig {
            flow_secret: Some(SECRET.into()),
            ..EngineConfig::default()
        },
    )
    .await
}

fn order_bot(base: &str, webhook: &str) -> String {
    format!(
        r#"
name: order-status
description: Answers where an order is, or finds a person.
steps:
  - id: welcome
    type: send
    message: {{ text: "Hi, you are talking to Acme's bot. Transcripts are kept." }}
  - id: ask_order
    type: ask
    message: {{ text: "What is your order number? (or reply AGENT)" }}
    save_as: order_number
    cases:
      - when: {{ type: regex, pattern: "([0-9]{{6}})" }}
        next: lookup
      - when: {{ type: keyword, words: [agent, human] }}
        next: to_agent
    invalid: {{ text: "An order number has 6 digits." }}
    other: to_agent
  - id: lookup
    type: webhook
    url: "{base}/{webhook}"
    timeout_ms: 300
    retries: 1
    save_as: lookup
    on_error: sorry
  - id: answer
    type: send
    message: {{ text: "Order {{{{flow.order_number}}}} is {{{{webhook.order.status}}}}, arriving {{{{webhook.order.eta}}}}." }}
  - id: more
    type: ask
    message: {{ text: "Anything else? Reply AGENT for a person or BYE." }}
    cases:
      - when: {{ type: keyword, words: [agent] }}
        next: to_agent
      - when: {{ type: keyword, words: [bye] }}
        next: bye
  - id: bye
    type: end
    message: {{ text: "Bye!" }}
  - id: sorry
    type: send
    message: {{ text: "Our order system is not answering." }}
    next: to_agent
  - id: to_agent
    type: handoff
    queue: Support
    message: {{ text: "Connecting you to a person." }}
"#
    )
}

async fn post_flow(app: &TestApp, yaml: &str) -> (StatusCode, Value) {
    parley_testkit::status_and_json(
        app.req(Method::POST, "/api/v1/flows")
            .header("content-type", "application/yaml")
            .body(yaml.to_owned()),
    )
    .await
}

/// A queue "Support", and a simulator SMS channel with these behaviour settings.
async fn channel(app: &TestApp, settings: Value) -> Uuid {
    let (s, q) = parley_testkit::status_and_json(
        app.req(Method::POST, "/api/v1/queues")
            .json(&json!({"name": "Support"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{q}");
    let (s, c) = parley_testkit::status_and_json(app.req(Method::POST, "/api/v1/channels").json(
        &json!({"name": "Sim", "kind": "sms", "provider": "simulator", "address": "+14155550100",
                "number_type": "long_code", "country": "US", "consent_level": "implicit",
                "queue_id": q["id"], "settings": settings}),
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

/// What the customer's phone received, oldest first, once there are `n` messages.
async fn received(app: &TestApp, n: usize) -> Vec<String> {
    let s = app.db.store.clone();
    eventually(
        &app.events,
        &format!("{n} messages to the customer"),
        || {
            let s = s.clone();
            async move {
                let all = s.simulator_messages(CUSTOMER, None, 200).await.unwrap();
                let out: Vec<String> = all
                    .into_iter()
                    .filter(|m| m.direction == parley_core::model::Direction::Outbound)
                    .map(|m| m.body)
                    .collect();
                (out.len() >= n).then_some(out)
            }
        },
    )
    .await
}

async fn sessions(app: &TestApp, channel: Uuid) -> Vec<Session> {
    let user = app.wait_for_user(channel, CUSTOMER).await;
    sessions_of(&app.db.store, user.id).await
}

/// A messaging user's sessions.
async fn sessions_of(store: &parley_store::Store, user: Uuid) -> Vec<Session> {
    store
        .list_sessions(
            SessionFilter {
                messaging_user_id: Some(user),
                ..Default::default()
            },
            PageRequest::new(None, 50),
        )
        .await
        .unwrap()
        .items
}

async fn session_where(
    app: &TestApp,
    channel: Uuid,
    what: &str,
    f: impl Fn(&Session) -> bool,
) -> Session {
    let user = app.wait_for_user(channel, CUSTOMER).await;
    let s = app.db.store.clone();
    eventually(&app.events, what, || {
        let s = s.clone();
        let f = &f;
        async move { sessions_of(&s, user.id).await.into_iter().find(|x| f(x)) }
    })
    .await
}

async fn entries(app: &TestApp, session: Uuid) -> Vec<Entry> {
    app.db
        .store
        .list_entries(session, PageRequest::new(None, 200))
        .await
        .unwrap()
        .items
}

/// The channel's bot answers the first message (no acknowledgment, BOT-02; it says it is a
/// bot, BOT-05), asks for the order number, calls the order service with a signed request,
/// answers from its reply, and hands off to the Support queue with what it collected.
async fn a_channel_bot_collects_calls_a_webhook_and_hands_off(b: TestBackend) {
    let app = app(b).await;
    let orders = Receiver::default();
    let base = orders.start().await;
    let (s, v) = post_flow(&app, &order_bot(&base, "orders")).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["version"], 1);
    let ch = channel(
        &app,
        json!({"flows": {"bot": "order-status"},
               "auto_replies": {"acknowledgment": "Thanks, a person will answer soon."}}),
    )
    .await;

    say(&app, "hello").await;
    let got = received(&app, 2).await;
    assert_eq!(
        got,
        [
            "Hi, you are talking to Acme's bot. Transcripts are kept.",
            "What is your order number? (or reply AGENT)"
        ]
    );
    let held = session_where(&app, ch, "the bot's session", |s| {
        s.owner_kind == Some(OwnerKind::Bot)
    })
    .await;
    assert_eq!(held.status, SessionStatus::Active);

    say(&app, "it is 123456 thanks").await;
    let got = received(&app, 4).await;
    assert_eq!(got[2], "Order 123456 is shipped, arriving Tuesday.");
    assert_eq!(got[3], "Anything else? Reply AGENT for a person or BYE.");
    let calls = orders.calls("orders");
    assert_eq!(calls.len(), 1);
    let (signature, body) = &calls[0];
    assert_eq!(signature, &parley_engine::flows::sign(SECRET, body));
    let sent: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(sent["fields"]["order_number"], "123456");
    assert_eq!(sent["messaging_user"]["platform_key"], CUSTOMER);

    say(&app, "Agent").await;
    let got = received(&app, 5).await;
    assert_eq!(got[4], "Connecting you to a person.");
    let waiting = session_where(&app, ch, "the hand-off", |s| {
        s.status == SessionStatus::Waiting
    })
    .await;
    assert_eq!(waiting.id, held.id, "the same conversation goes on");
    let queue = app
        .db
        .store
        .queue_by_name("Support")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(waiting.queue_id, Some(queue.id));
    let runs = app
        .get_json(&format!("/api/v1/sessions/{}/flow-runs", held.id))
        .await;
    assert_eq!(runs[0]["flow"], "order-status");
    assert_eq!(runs[0]["trigger"], "channel");
    assert_eq!(runs[0]["status"], "ended");
    assert_eq!(runs[0]["fields"]["order_number"], "123456");
    assert_eq!(runs[0]["fields"]["lookup.order.status"], "shipped");
    // Everything the bot said is in the agent's transcript, as the bot's.
    let said = entries(&app, held.id).await;
    assert!(
        said.iter()
            .filter(|e| e.direction == parley_core::model::Direction::Outbound)
            .all(|e| e.actor == parley_core::model::Actor::Bot)
    );
    assert!(
        !received(&app, 5)
            .await
            .iter()
            .any(|m| m.starts_with("Thanks, a person")),
        "no acknowledgment when a bot answers"
    );
}

/// A webhook that keeps failing (500 on every try) and one slower than the step's timeout both
/// take `on_error`; the failing one was tried once more (retries: 1).
async fn webhook_errors_and_timeouts_take_on_error(b: TestBackend) {
    let app = app(b).await;
    let orders = Receiver::default();
    let base = orders.start().await;
    for (path, who) in [("broken", "+14155550123")] {
        let _ = who;
        let (s, v) = post_flow(&app, &order_bot(&base, path)).await;
        assert!(s.is_success(), "{v}");
    }
    channel(&app, json!({"flows": {"bot": "order-status"}})).await;
    say(&app, "hi").await;
    received(&app, 2).await;
    say(&app, "654321").await;
    let got = received(&app, 4).await;
    assert_eq!(got[2], "Our order system is not answering.");
    assert_eq!(got[3], "Connecting you to a person.");
    assert_eq!(orders.calls("broken").len(), 2, "one try and one retry");

    // The same flow against the slow peer: a new version, for new conversations.
    let (s, v) = post_flow(&app, &order_bot(&base, "slow")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["version"], 2);
    let (s, v) = parley_testkit::status_and_json(
        app.req(Method::POST, "/api/v1/flows/order-status/test")
            .json(&json!({"replies": ["111111"]})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let lines: Vec<String> = v["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            format!(
                "{}: {}",
                l["from"].as_str().unwrap(),
                l["text"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("failed: no answer within 300 ms")),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"bot: Our order system is not answering.".to_owned()),
        "{lines:?}"
    );
}

/// A conversation waiting in version 1 finishes on version 1 after the flow is changed; a new
/// conversation gets version 2.
async fn a_flow_edited_while_conversations_wait(b: TestBackend) {
    let app = app(b).await;
    let v1 = r#"
name: survey
steps:
  - id: q
    type: ask
    message: { text: "Rate us 1 to 5" }
    save_as: score
    cases:
      - when: { type: number_between, min: 1, max: 5 }
        next: thanks
  - id: thanks
    type: end
    message: { text: "Thanks (v1)" }
"#;
    let (s, _) = post_flow(&app, v1).await;
    assert_eq!(s, StatusCode::CREATED);
    let ch = channel(&app, json!({"flows": {"bot": "survey"}})).await;
    say(&app, "hi").await;
    assert_eq!(received(&app, 1).await, ["Rate us 1 to 5"]);
    let v2 = v1.replace("Thanks (v1)", "Thanks (v2)");
    let (s, v) = post_flow(&app, &v2).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["version"], 2);
    say(&app, "4").await;
    let got = received(&app, 2).await;
    assert_eq!(got[1], "Thanks (v1)");
    // The run completed: the conversation ended; the next message starts the bot again, on v2.
    session_where(&app, ch, "the ended session", |s| {
        s.status == SessionStatus::Ended
    })
    .await;
    say(&app, "hello again").await;
    received(&app, 3).await;
    say(&app, "5").await;
    let got = received(&app, 4).await;
    assert_eq!(got[3], "Thanks (v2)");
    assert_eq!(sessions(&app, ch).await.len(), 2);
}

/// On SMS a question is sent as numbered text, and "2" chooses the second option.
async fn a_question_is_numbered_on_sms_and_a_number_picks_it(b: TestBackend) {
    let app = app(b).await;
    let flow = r#"
name: menu
steps:
  - id: pick
    type: ask
    message:
      component:
        type: question
        text: "How can we help?"
        options:
          - { id: track, title: "Track an order" }
          - { id: return, title: "Return an item" }
    cases:
      - when: { type: option, option: track }
        next: track
      - when: { type: option, option: return }
        next: ret
  - id: track
    type: end
    message: { text: "Tracking it is." }
  - id: ret
    type: end
    message: { text: "Returns it is." }
"#;
    let (s, v) = post_flow(&app, flow).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let ch = channel(&app, json!({"flows": {"bot": "menu"}})).await;
    say(&app, "hi").await;
    assert_eq!(
        received(&app, 1).await,
        ["How can we help?\n1. Track an order\n2. Return an item"]
    );
    say(&app, "2").await;
    assert_eq!(received(&app, 2).await[1], "Returns it is.");
    let s = sessions(&app, ch).await;
    let said = entries(&app, s[0].id).await;
    let question = said
        .iter()
        .find(|e| e.component.is_some())
        .expect("the question keeps its component for the timeline");
    assert_eq!(question.actor, parley_core::model::Actor::Bot);
}

/// A marketing keyword starts its journey (CMP-15 with reserved keywords allowed); answers the
/// journey does not understand move the customer to service, in the same conversation, so the
/// agent sees the marketing history (CMP-14). STOP still comes first.
async fn marketing_keyword_journey_moves_to_service_on_invalid_answers(b: TestBackend) {
    let app = app(b).await;
    let journey = r#"
name: coupon
context: marketing
max_invalid: 2
steps:
  - id: offer
    type: ask
    message: { text: "Reply YES for 20% off." }
    cases:
      - when: { type: keyword, words: ["yes"] }
        next: code
  - id: code
    type: end
    message: { text: "Your code: SAVE20" }
"#;
    let (s, v) = post_flow(&app, journey).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let ch = channel(&app, json!({"flows": {"keywords": {"Coupon": "coupon"}}})).await;
    say(&app, "coupon!").await;
    assert_eq!(received(&app, 1).await, ["Reply YES for 20% off."]);
    let s = session_where(&app, ch, "the journey", |s| {
        s.owner_kind == Some(OwnerKind::Bot)
    })
    .await;
    assert_eq!(s.context, SessionContext::Marketing);
    say(&app, "what is this about?").await;
    received(&app, 2).await;
    say(&app, "I have a problem with my bill").await;
    let moved = session_where(&app, ch, "the move to service", |s| {
        s.status == SessionStatus::Waiting
    })
    .await;
    assert_eq!(moved.id, s.id, "the agent sees the marketing history");
    assert_eq!(moved.context, SessionContext::Service);
    let runs = app
        .get_json(&format!("/api/v1/sessions/{}/flow-runs", s.id))
        .await;
    assert_eq!(runs[0]["trigger"], "keyword");
}

/// STOP in a bot's conversation opts out and ends it; the flow never sees it.
async fn compliance_keywords_preempt_the_bot(b: TestBackend) {
    let app = app(b).await;
    let (s, _) = post_flow(&app, &order_bot("http://127.0.0.1:9", "orders")).await;
    assert_eq!(s, StatusCode::CREATED);
    let ch = channel(&app, json!({"flows": {"bot": "order-status"}})).await;
    say(&app, "hi").await;
    received(&app, 2).await;
    say(&app, "STOP").await;
    session_where(&app, ch, "the opted-out session", |s| {
        s.status == SessionStatus::Ended
    })
    .await;
    let got = received(&app, 3).await;
    assert!(!got[2].contains("order number"), "{got:?}");
    let user = app.wait_for_user(ch, CUSTOMER).await;
    assert_eq!(
        user.consent_status,
        Some(parley_core::model::ConsentStatus::OptedOut)
    );
}

/// A routing rule's `route_to_bot` starts the named flow (RT-12); an agent's transfer to a flow
/// starts it in the agent's conversation (RT-09).
async fn routing_rules_and_transfers_start_flows(b: TestBackend) {
    let app = app(b).await;
    let triage = r#"
name: triage
steps:
  - id: hello
    type: ask
    message: { text: "Triage bot here: sales or support?" }
    save_as: topic
    cases:
      - when: { type: any }
        next: back
  - id: back
    type: handoff
    queue: Support
"#;
    let (s, v) = post_flow(&app, triage).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let ch = channel(&app, json!({})).await;
    let (s, v) = parley_testkit::status_and_json(
        app.req(Method::POST, "/api/v1/routing-rules").json(&json!({
            "name": "everything to triage", "channel_id": ch,
            "conditions": [], "actions": [{"type": "route_to_bot", "bot": "triage"}]
        })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    say(&app, "hello").await;
    assert_eq!(
        received(&app, 1).await,
        ["Triage bot here: sales or support?"]
    );
    let s = sessions(&app, ch).await;
    let runs = app
        .get_json(&format!("/api/v1/sessions/{}/flow-runs", s[0].id))
        .await;
    assert_eq!(runs[0]["trigger"], "routing_rule");
    say(&app, "support").await;
    let waiting = session_where(&app, ch, "the hand-off", |s| {
        s.status == SessionStatus::Waiting && s.owner_kind.is_none()
    })
    .await;
    let runs = app
        .get_json(&format!("/api/v1/sessions/{}/flow-runs", waiting.id))
        .await;
    assert_eq!(runs[0]["fields"]["topic"], "support");
}

/// A definition with mistakes is refused with every mistake named by its step.
async fn invalid_definitions_are_refused_naming_the_step(b: TestBackend) {
    let app = app(b).await;
    let bad = r#"
name: broken
steps:
  - id: a
    type: send
    message: { text: "hi" }
    next: nowhere
  - id: b
    type: ask
    cases:
      - when: { type: regex, pattern: "([" }
        next: a
"#;
    let (s, v) = post_flow(&app, bad).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let m = v["message"].as_str().unwrap();
    assert!(m.contains("\"a\"") && m.contains("nowhere"), "{m}");
    assert!(m.contains("\"b\""), "{m}");
    let (s, v) = parley_testkit::status_and_json(app.req(Method::GET, "/api/v1/flows")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v, json!([]));
}

/// An `ask` nobody answers takes its timeout branch when the time is up, and a reply after that
/// is not taken as the answer (the run moved on). Outside business hours the after-hours flow
/// starts instead of the channel's bot (BOT-03).
async fn an_unanswered_question_times_out_and_after_hours_has_its_flow(b: TestBackend) {
    let app = app(b).await;
    let flow = r#"
name: quick
steps:
  - id: q
    type: ask
    message: { text: "Still there?" }
    cases:
      - when: { type: any }
        next: yes
    timeout: { after_seconds: 1, next: gone }
  - id: yes
    type: end
    message: { text: "Great." }
  - id: gone
    type: end
    message: { text: "We will be here when you need us." }
"#;
    let (s, v) = post_flow(&app, flow).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let closed = r#"
name: closed
steps:
  - id: sorry
    type: end
    message: { text: "We are closed; we open at 9." }
"#;
    let (s, v) = post_flow(&app, closed).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let ch = channel(&app, json!({"flows": {"bot": "quick"}})).await;
    say(&app, "hi").await;
    assert_eq!(received(&app, 1).await, ["Still there?"]);
    // Nobody answers: one second later the timer takes the timeout branch.
    let got = received(&app, 2).await;
    assert_eq!(got[1], "We will be here when you need us.");
    session_where(&app, ch, "the ended session", |s| {
        s.status == SessionStatus::Ended
    })
    .await;

    // The channel closes (no open hours at all): a new conversation gets the after-hours flow.
    let mut spec = parley_engine::provision::spec_of(&app.db.store.channel(ch).await.unwrap());
    spec.settings = json!({"flows": {"bot": "quick", "after_hours": "closed"},
                           "business_hours": {"utc_offset_minutes": 0, "intervals": []}});
    app.db
        .store
        .update_channel(ch, &spec, parley_core::SystemClock.now())
        .await
        .unwrap();
    app.engine.channels.invalidate(ch).await;
    say(&app, "hello?").await;
    assert_eq!(received(&app, 3).await[2], "We are closed; we open at 9.");
}

/// CMP-15: a marketing keyword moves a service customer to marketing only where reserved keywords
/// are allowed and their last service conversation is over; inside an open service conversation
/// it is just a message to the agent.
async fn reserved_keywords_need_the_setting_and_no_open_service_session(b: TestBackend) {
    let app = app(b).await;
    let journey = r#"
name: coupon
context: marketing
steps:
  - id: code
    type: end
    message: { text: "Your code: SAVE20" }
"#;
    let (s, v) = post_flow(&app, journey).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let ch = channel(
        &app,
        json!({"flows": {"keywords": {"coupon": "coupon"}, "allow_reserved_keywords": false}}),
    )
    .await;
    say(&app, "coupon").await;
    let open = session_where(&app, ch, "a service session", |s| {
        s.status == SessionStatus::Waiting
    })
    .await;
    assert_eq!(open.context, SessionContext::Service);
    assert!(open.owner_kind.is_none());

    // Allowed now, but the customer's service conversation is still open: it stays there.
    let mut spec = parley_engine::provision::spec_of(&app.db.store.channel(ch).await.unwrap());
    spec.settings = json!({"flows": {"keywords": {"coupon": "coupon"}}});
    app.db
        .store
        .update_channel(ch, &spec, parley_core::SystemClock.now())
        .await
        .unwrap();
    app.engine.channels.invalidate(ch).await;
    say(&app, "coupon").await;
    let user = app.wait_for_user(ch, CUSTOMER).await;
    app.wait_for_entries(user.id, 2).await;
    assert_eq!(sessions(&app, ch).await.len(), 1);
    assert!(
        received(&app, 0).await.is_empty(),
        "no journey inside service"
    );

    // Once that conversation is over, the keyword starts the journey.
    app.db
        .store
        .set_session_status(
            open.id,
            SessionStatus::Ended,
            None,
            parley_core::SystemClock.now(),
        )
        .await
        .unwrap();
    say(&app, "coupon").await;
    assert_eq!(received(&app, 1).await, ["Your code: SAVE20"]);
}

/// HELP inside a bot's conversation on a channel that hands HELP to people: the compliance answer,
/// then people take the same conversation over with a case, and the bot's run ends (CMP-14).
async fn help_inside_a_bot_conversation_goes_to_people(b: TestBackend) {
    let app = app(b).await;
    let (s, _) = post_flow(&app, &order_bot("http://127.0.0.1:9", "orders")).await;
    assert_eq!(s, StatusCode::CREATED);
    let ch = channel(
        &app,
        json!({"flows": {"bot": "order-status"},
               "case_handoff": {"trigger": {"on": "help"}, "reply": "A person will text you."}}),
    )
    .await;
    say(&app, "hi").await;
    received(&app, 2).await;
    say(&app, "HELP").await;
    let waiting = session_where(&app, ch, "people take over", |s| {
        s.status == SessionStatus::Waiting
    })
    .await;
    assert_eq!(waiting.context, SessionContext::Service);
    assert!(waiting.case_id.is_some(), "the hand-off opened a case");
    assert_eq!(sessions(&app, ch).await.len(), 1, "the same conversation");
    let runs = app
        .get_json(&format!("/api/v1/sessions/{}/flow-runs", waiting.id))
        .await;
    assert_eq!(runs[0]["status"], "ended");
    let got = received(&app, 4).await;
    assert!(
        got.iter().any(|m| m == "A person will text you."),
        "{got:?}"
    );
}

parley_store::on_both_backends!(
    help_inside_a_bot_conversation_goes_to_people,
    reserved_keywords_need_the_setting_and_no_open_service_session,
    an_unanswered_question_times_out_and_after_hours_has_its_flow,
    a_channel_bot_collects_calls_a_webhook_and_hands_off,
    webhook_errors_and_timeouts_take_on_error,
    a_flow_edited_while_conversations_wait,
    a_question_is_numbered_on_sms_and_a_number_picks_it,
    marketing_keyword_journey_moves_to_service_on_invalid_answers,
    compliance_keywords_preempt_the_bot,
    routing_rules_and_transfers_start_flows,
    invalid_definitions_are_refused_naming_the_step,
);
