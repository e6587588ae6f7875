//! Agents at work, end to end through the real server: sign-in, CSRF, presence, push routing with
//! offers, capacity, accept, transfer, end, re-routing when an agent goes offline, offer timeouts,
//! agent-initiated conversations and the customer's reply (SE-16), the SSE stream and its replay.

use std::time::Duration;

use parley_core::model::*;
use parley_core::{Clock, SystemClock};
use parley_engine::EngineConfig;
use parley_server::ServerConfig;
use parley_store::testing::TestBackend;
use parley_store::*;
use parley_testkit::build;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{TestApp, eventually};

pub(crate) const PASSWORD: &str = "correct horse battery staple";

pub(crate) struct Desk {
    pub(crate) app: TestApp,
    pub(crate) channel: Channel,
    pub(crate) queue: Queue,
}

/// An agent's signed-in console: its cookie and CSRF token.
pub(crate) struct Console {
    pub(crate) cookie: String,
    pub(crate) csrf: String,
}

impl Desk {
    pub(crate) async fn new(b: TestBackend) -> Self {
        Self::with(b, EngineConfig::default()).await
    }

    pub(crate) async fn with(b: TestBackend, engine: EngineConfig) -> Self {
        let app = TestApp::spawn_full(
            b,
            ServerConfig {
                simulator: true,
                ..ServerConfig::default()
            },
            engine,
        )
        .await;
        let now = SystemClock.now();
        let s = &app.db.store;
        let queue = s
            .create_queue(&build::queue_spec("Support"), now)
            .await
            .unwrap();
        let channel = s
            .create_channel(
                &ChannelSpec {
                    name: "Desk SMS".into(),
                    country: Some("US".into()),
                    queue_id: Some(queue.id),
                    settings: json!({
                        "case_handoff": {"trigger": {"on": "non_keyword_reply"}},
                        "end_conversation_reply": "Thanks, goodbye."
                    }),
                    ..build::simulator_sms()
                },
                now,
            )
            .await
            .unwrap();
        Self {
            app,
            channel,
            queue,
        }
    }

    pub(crate) async fn agent(&self, name: &str, capacity: i64, role: AgentRole) -> Agent {
        self.app
            .agent_with_password(
                &build::agent_spec(name, role, capacity, vec![self.queue.id]),
                PASSWORD,
            )
            .await
    }

    /// Signs in through the form and reads the CSRF token from the console page.
    pub(crate) async fn sign_in(&self, agent: &Agent) -> Console {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let r = client
            .post(format!("{}/console/login", self.app.base))
            .form(&[("email", agent.email.as_str()), ("password", PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()[LOCATION], "/console");
        let set = r.headers()[SET_COOKIE].to_str().unwrap().to_owned();
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Lax"),
            "{set}"
        );
        let cookie = set.split(';').next().unwrap().to_owned();
        let page = client
            .get(format!("{}/console", self.app.base))
            .header(COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        let csrf = html
            .split("name=\"csrf-token\" content=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("the console page carries its CSRF token")
            .to_owned();
        Console { cookie, csrf }
    }

    pub(crate) fn call(&self, c: &Console, method: Method, path: &str) -> reqwest::RequestBuilder {
        let unsafe_method = method != Method::GET;
        let mut r = self
            .app
            .client
            .request(method, format!("{}{path}", self.app.base))
            .header(COOKIE, &c.cookie);
        if unsafe_method {
            r = r.header("x-csrf-token", &c.csrf);
        }
        r
    }

    pub(crate) async fn go(&self, c: &Console, presence: &str) {
        let r = self
            .call(c, Method::PUT, "/api/v1/me/presence")
            .json(&json!({ "presence": presence }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    }

    pub(crate) async fn customer_says(&self, from: &str, text: &str) {
        let r = self
            .app
            .anon(Method::POST, "/simulator/inbound")
            .json(&json!({"channel": self.channel.name, "from": from, "text": text}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }

    /// Waits until `n` sessions wait, then runs one routing round.
    async fn route_once_waiting(&self, n: usize) {
        let store = self.app.db.store.clone();
        eventually(&self.app.events, &format!("{n} waiting sessions"), || {
            let store = store.clone();
            async move { (store.waiting_sessions(10).await.unwrap().len() >= n).then_some(()) }
        })
        .await;
        self.app.engine.router.route().await.unwrap();
    }

    /// A GET with the console's cookie, answered with JSON.
    pub(crate) async fn get(&self, c: &Console, path: &str) -> Value {
        let r = self.call(c, Method::GET, path).send().await.unwrap();
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.unwrap()
    }

    pub(crate) async fn work(&self, c: &Console) -> Value {
        let r = self
            .call(c, Method::GET, "/api/v1/me/work")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    /// Waits until the agent's work satisfies `f`.
    async fn work_until(&self, c: &Console, what: &str, f: impl Fn(&Value) -> bool) -> Value {
        let desk = self;
        let f = &f;
        eventually(&self.app.events, what, || async move {
            let w = desk.work(c).await;
            f(&w).then_some(w)
        })
        .await
    }

    pub(crate) async fn offered(&self, c: &Console) -> Uuid {
        let w = self
            .work_until(c, "an offer", |w| {
                !w["offers"].as_array().unwrap().is_empty()
            })
            .await;
        w["offers"][0]["session"]["id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    }

    pub(crate) async fn act(&self, c: &Console, session: Uuid, action: &str) -> reqwest::Response {
        self.call(
            c,
            Method::POST,
            &format!("/api/v1/sessions/{session}/{action}"),
        )
        .send()
        .await
        .unwrap()
    }
}

fn count(w: &Value, list: &str) -> usize {
    w[list].as_array().map_or(0, Vec::len)
}

async fn sign_in_checks_passwords_cookies_and_csrf(b: TestBackend) {
    let d = Desk::new(b).await;
    let ada = d.agent("Ada", 2, AgentRole::Agent).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = format!("{}/console/login", d.app.base);
    let wrong = client
        .post(&login)
        .form(&[("email", ada.email.as_str()), ("password", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get(SET_COOKIE).is_none());
    let unknown = client
        .post(&login)
        .form(&[("email", "nobody@example.test"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    // Pages need a session.
    let page = client
        .get(format!("{}/console", d.app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
    assert_eq!(page.headers()[LOCATION], "/console/login");

    let c = d.sign_in(&ada).await;
    let me: Value = d.get(&c, "/api/v1/me").await;
    assert_eq!(me["agent"]["email"], ada.email);
    assert!(me["agent"].get("password_hash").is_none());
    // A state change with the cookie but without the CSRF token is refused.
    let no_csrf = d
        .app
        .client
        .put(format!("{}/api/v1/me/presence", d.app.base))
        .header(COOKIE, &c.cookie)
        .json(&json!({"presence": "available"}))
        .send()
        .await
        .unwrap();
    assert_eq!(no_csrf.status(), StatusCode::FORBIDDEN);
    let body: Value = no_csrf.json().await.unwrap();
    assert_eq!(body["code"], "csrf");
    // An agent role cannot configure.
    let r = d
        .call(&c, Method::POST, "/api/v1/queues")
        .json(&json!({"name": "Mine", "routing_model": "round_robin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Login from another origin is refused.
    let foreign = client
        .post(&login)
        .header("origin", "https://evil.example")
        .form(&[("email", ada.email.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    // Sign-in attempts are rate limited per e-mail.
    let mut limited = false;
    for _ in 0..12 {
        let r = client
            .post(&login)
            .form(&[("email", ada.email.as_str()), ("password", "guess")])
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = true;
            break;
        }
    }
    assert!(limited, "guessing is rate limited");
    // Logging out ends the session.
    let out = client
        .post(format!("{}/console/logout", d.app.base))
        .header(COOKIE, &c.cookie)
        .form(&[("csrf", c.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let after = d.call(&c, Method::GET, "/api/v1/me").send().await.unwrap();
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
}

async fn offers_accept_transfer_end(b: TestBackend) {
    let d = Desk::new(b).await;
    let ada = d.agent("Ada", 2, AgentRole::Agent).await;
    let bob = d.agent("Bob", 2, AgentRole::Agent).await;
    let (a, bc) = (d.sign_in(&ada).await, d.sign_in(&bob).await);
    d.go(&a, "available").await;

    d.customer_says("+447400000001", "Where is my parcel?")
        .await;
    let session = d.offered(&a).await;
    let w = d.work(&a).await;
    assert_eq!(w["offers"][0]["first_message"], "Where is my parcel?");
    // Only the agent offered the session may accept it.
    assert_eq!(
        d.act(&bc, session, "accept").await.status(),
        StatusCode::CONFLICT
    );
    let r = d.act(&a, session, "accept").await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let s = d.app.db.store.session(session).await.unwrap();
    assert_eq!(s.status, SessionStatus::Active);
    assert_eq!(s.owner_id, Some(ada.id));
    assert_eq!(count(&d.work(&a).await, "sessions"), 1);

    // Ada replies; Bob may not write into her session.
    let reply = |c| {
        d.call(
            c,
            Method::POST,
            &format!("/api/v1/sessions/{session}/messages"),
        )
        .json(&json!({"body": "Let me check that for you."}))
        .send()
    };
    assert_eq!(reply(&a).await.unwrap().status(), StatusCode::CREATED);
    assert_eq!(reply(&bc).await.unwrap().status(), StatusCode::FORBIDDEN);

    // The customer's next message is part of the conversation, not a new hand-off.
    d.customer_says("+447400000001", "Order 42").await;
    let w = d
        .work_until(&a, "an unread message", |w| w["sessions"][0]["unread"] == 1)
        .await;
    assert_eq!(w["sessions"][0]["last_message"], "Order 42");
    assert_eq!(
        d.act(&a, session, "read").await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(d.work(&a).await["sessions"][0]["unread"], 0);

    // Transfer to Bob: waiting meanwhile, Ada keeps it until Bob accepts (RT-09).
    d.go(&bc, "available").await;
    let r = d
        .call(
            &a,
            Method::POST,
            &format!("/api/v1/sessions/{session}/transfer"),
        )
        .json(&json!({"agent_id": bob.id}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    assert_eq!(
        d.app.db.store.session(session).await.unwrap().status,
        SessionStatus::Waiting
    );
    assert_eq!(d.offered(&bc).await, session);
    assert_eq!(count(&d.work(&a).await, "sessions"), 1);
    assert_eq!(d.act(&bc, session, "accept").await.status(), StatusCode::OK);
    assert_eq!(count(&d.work(&a).await, "sessions"), 0);
    assert_eq!(count(&d.work(&bc).await, "sessions"), 1);
    // Ada can no longer act on it.
    assert_eq!(
        d.act(&a, session, "end").await.status(),
        StatusCode::FORBIDDEN
    );

    // Bob ends it: the End Conversation auto-response is queued and sent.
    let r = d.act(&bc, session, "end").await;
    assert_eq!(r.status(), StatusCode::OK);
    let s = d.app.db.store.session(session).await.unwrap();
    assert_eq!(s.status, SessionStatus::Ended);
    assert_eq!(s.ended_by, Some(Actor::Agent));
    let user = s.messaging_user_id;
    let all = d.app.wait_for_entries(user, 4).await;
    assert!(
        all.iter()
            .any(|(_, e)| e.body == "Thanks, goodbye." && e.direction == Direction::Outbound)
    );
    assert_eq!(count(&d.work(&bc).await, "sessions"), 0);

    // The timeline shows the whole history with statuses.
    let t: Value = d
        .get(&bc, &format!("/api/v1/messaging-users/{user}/timeline"))
        .await;
    let bodies: Vec<&str> = t["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies.first(), Some(&"Where is my parcel?"));
    assert!(bodies.contains(&"Order 42"));
    // Accepting this queue's session once is recorded for the wait estimate; with one sample
    // there is no estimate yet (RT-10 needs ten).
    let ewt: Value = d
        .get(
            &bc,
            &format!("/api/v1/queues/{}/estimated-wait", d.queue.id),
        )
        .await;
    assert_eq!(ewt["minutes"], Value::Null);
}

async fn capacity_limits_offers_and_ending_frees_it(b: TestBackend) {
    let d = Desk::new(b).await;
    let ada = d.agent("Ada", 1, AgentRole::Agent).await;
    let a = d.sign_in(&ada).await;
    d.go(&a, "available").await;
    d.customer_says("+447400000011", "First question").await;
    let first = d.offered(&a).await;
    d.customer_says("+447400000012", "Second question").await;
    // Wait until the second session waits, then route once more: Ada is full (the offer holds
    // her one slot), so nothing more is offered.
    d.route_once_waiting(2).await;
    assert_eq!(count(&d.work(&a).await, "offers"), 1);
    assert_eq!(d.act(&a, first, "accept").await.status(), StatusCode::OK);
    d.app.engine.router.route().await.unwrap();
    assert_eq!(
        count(&d.work(&a).await, "offers"),
        0,
        "accepted work fills capacity"
    );
    // Marking it inactive frees the slot (RT-07): the second one is offered.
    assert_eq!(d.act(&a, first, "inactive").await.status(), StatusCode::OK);
    let second = d.offered(&a).await;
    assert_ne!(second, first);
    // An agent on break is offered nothing new.
    assert_eq!(
        d.act(&a, second, "decline").await.status(),
        StatusCode::NO_CONTENT
    );
    d.go(&a, "on_break").await;
    d.customer_says("+447400000013", "Third question").await;
    d.app.engine.router.route().await.unwrap();
    assert_eq!(count(&d.work(&a).await, "offers"), 0);
}

async fn offline_agent_work_is_rerouted(b: TestBackend) {
    let d = Desk::new(b).await;
    let ada = d.agent("Ada", 2, AgentRole::Agent).await;
    let bob = d.agent("Bob", 2, AgentRole::Agent).await;
    let (a, bc) = (d.sign_in(&ada).await, d.sign_in(&bob).await);
    d.go(&a, "available").await;
    d.customer_says("+447400000021", "Help me please").await;
    let session = d.offered(&a).await;
    assert_eq!(d.act(&a, session, "accept").await.status(), StatusCode::OK);
    d.go(&bc, "available").await;
    // Ada goes offline: her active session waits again and goes to Bob (RT-08).
    d.go(&a, "offline").await;
    let s = d.app.db.store.session(session).await.unwrap();
    assert_eq!(s.status, SessionStatus::Waiting);
    assert_eq!(d.offered(&bc).await, session);
    assert_eq!(count(&d.work(&a).await, "sessions"), 0);

    // Bob accepts; then his console disappears (no stream renews his connection) past the grace
    // period: the next round sets him offline and routes his session again.
    assert_eq!(d.act(&bc, session, "accept").await.status(), StatusCode::OK);
    let past = SystemClock.now().minus(Duration::from_secs(1));
    d.app
        .db
        .store
        .touch_agents_connected(&[bob.id], past)
        .await
        .unwrap();
    d.app.engine.router.route().await.unwrap();
    assert_eq!(
        d.app.db.store.agent(bob.id).await.unwrap().presence,
        Presence::Offline
    );
    assert_eq!(
        d.app.db.store.session(session).await.unwrap().status,
        SessionStatus::Waiting
    );
}

async fn unanswered_offers_move_on(b: TestBackend) {
    let d = Desk::with(
        b,
        EngineConfig {
            offer_timeout: Duration::from_millis(300),
            ..EngineConfig::default()
        },
    )
    .await;
    let ada = d.agent("Ada", 2, AgentRole::Agent).await;
    let bob = d.agent("Bob", 2, AgentRole::Agent).await;
    let (a, bc) = (d.sign_in(&ada).await, d.sign_in(&bob).await);
    d.go(&a, "available").await;
    d.customer_says("+447400000031", "Anyone there?").await;
    let session = d.offered(&a).await;
    d.go(&bc, "available").await;
    // Ada lets it time out: it is withdrawn from her and offered to Bob, never back to her.
    let offered_to_bob = d.offered(&bc).await;
    assert_eq!(offered_to_bob, session);
    assert_eq!(count(&d.work(&a).await, "offers"), 0);
    assert_eq!(
        d.act(&a, session, "accept").await.status(),
        StatusCode::CONFLICT
    );
}

async fn agent_initiated_reply_goes_to_the_agent(b: TestBackend) {
    let d = Desk::new(b).await;
    let ada = d.agent("Ada", 1, AgentRole::Agent).await;
    let a = d.sign_in(&ada).await;
    d.go(&a, "available").await;
    // A customer we know from an earlier, ended conversation.
    d.customer_says("+447400000041", "Hello").await;
    let first = d.offered(&a).await;
    assert_eq!(d.act(&a, first, "accept").await.status(), StatusCode::OK);
    assert_eq!(d.act(&a, first, "end").await.status(), StatusCode::OK);
    let first_session = d.app.db.store.session(first).await.unwrap();
    let user = first_session.messaging_user_id;
    // From the case the customer's inbound session opened (AG-13): the case names the person.
    let case_id = first_session.case_id.expect("the hand-off opened a case");
    let unrelated = d
        .app
        .db
        .store
        .create_contact(
            &ContactSpec {
                first_name: "Nobody".into(),
                last_name: String::new(),
                phone: None,
                email: None,
            },
            SystemClock.now(),
        )
        .await
        .unwrap();
    let r = d
        .call(&a, Method::POST, "/api/v1/conversations")
        .json(&json!({"contact_id": unrelated.id, "body": "Hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "a contact with no messaging user"
    );

    let r = d
        .call(&a, Method::POST, "/api/v1/conversations")
        .json(&json!({"case_id": case_id, "body": "Your order shipped. Any questions?"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
    let item: Value = r.json().await.unwrap();
    assert_eq!(item["session"]["status"], "new");
    let started: Uuid = item["session"]["id"].as_str().unwrap().parse().unwrap();
    // A second start while it is open is refused (SE-10).
    let again = d
        .call(&a, Method::POST, "/api/v1/conversations")
        .json(&json!({"messaging_user_id": user, "body": "Hello again"}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::CONFLICT);
    // The new session consumes no capacity (SE-16): Ada (capacity 1) still gets offers.
    d.customer_says("+447400000042", "Another customer").await;
    let other = d.offered(&a).await;
    assert_eq!(
        d.act(&a, other, "decline").await.status(),
        StatusCode::NO_CONTENT
    );
    // The customer's reply goes straight to Ada, who is online.
    d.customer_says("+447400000041", "When will it arrive?")
        .await;
    let store = d.app.db.store.clone();
    let s = eventually(&d.app.events, "the reply in Ada's session", || {
        let store = store.clone();
        async move {
            let s = store.session(started).await.unwrap();
            (s.status == SessionStatus::Active).then_some(s)
        }
    })
    .await;
    assert_eq!(s.owner_id, Some(ada.id));
}

async fn opted_out_customers_cannot_be_contacted(b: TestBackend) {
    let d = Desk::new(b).await;
    let ada = d.agent("Ada", 2, AgentRole::Agent).await;
    let a = d.sign_in(&ada).await;
    d.go(&a, "available").await;
    d.customer_says("+447400000051", "Please stop texting me")
        .await;
    let session = d.offered(&a).await;
    assert_eq!(d.act(&a, session, "accept").await.status(), StatusCode::OK);
    let user = d
        .app
        .db
        .store
        .session(session)
        .await
        .unwrap()
        .messaging_user_id;
    let r = d
        .call(
            &a,
            Method::POST,
            &format!("/api/v1/messaging-users/{user}/opt-out"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let u = d.app.db.store.messaging_user(user).await.unwrap();
    assert_eq!(u.consent_status, Some(ConsentStatus::OptedOut));
    let history = d.app.db.store.consent_history(user).await.unwrap();
    assert_eq!(history.last().unwrap().source, ConsentSource::Agent);
    assert_eq!(
        d.app.db.store.session(session).await.unwrap().status,
        SessionStatus::Ended
    );
    let r = d
        .call(&a, Method::POST, "/api/v1/conversations")
        .json(&json!({"messaging_user_id": user, "body": "One more thing"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

pub(crate) type Sse = Vec<(i64, String, Value)>;

/// Reads SSE events from a response until `n` have arrived: (id, event, data).
async fn read_events(r: reqwest::Response, n: usize) -> Sse {
    read_until(r, |got| got.len() >= n).await
}

/// Reads SSE events until `done` says the events so far are enough.
pub(crate) async fn read_until(r: reqwest::Response, done: impl Fn(&Sse) -> bool) -> Sse {
    let mut out = Vec::new();
    let mut buf = String::new();
    let mut r = r;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done(&out) {
        let chunk = tokio::time::timeout_at(deadline, r.chunk())
            .await
            .expect("events in time")
            .unwrap()
            .expect("stream open");
        buf.push_str(&String::from_utf8_lossy(&chunk));
        for e in parley_testkit::sse::take_events(&mut buf) {
            if let Some(id) = e.id.and_then(|id| id.parse().ok()) {
                out.push((
                    id,
                    e.event,
                    serde_json::from_str(&e.data).unwrap_or(Value::Null),
                ));
            }
        }
    }
    out
}

async fn event_stream_is_live_and_resumes(b: TestBackend) {
    let d = Desk::new(b).await;
    let ada = d.agent("Ada", 2, AgentRole::Agent).await;
    let a = d.sign_in(&ada).await;
    // API tokens have no agent behind them: no stream.
    let r = d
        .app
        .req(Method::GET, "/api/v1/events")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let stream = d
        .call(&a, Method::GET, "/api/v1/events")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    d.go(&a, "available").await;
    d.customer_says("+447400000061", "Live?").await;
    let events = read_events(stream, 2).await;
    assert_eq!(events[0].1, "presence");
    assert_eq!(events[1].1, "offer");
    let session = events[1].2["session_id"].as_str().unwrap().to_owned();
    let offer_id = events[1].0;
    // Disconnected, the agent accepts elsewhere and the customer writes; reconnecting with
    // Last-Event-ID replays what was missed, in order.
    let sid: Uuid = session.parse().unwrap();
    assert_eq!(d.act(&a, sid, "accept").await.status(), StatusCode::OK);
    d.customer_says("+447400000061", "Still there?").await;
    let store = d.app.db.store.clone();
    eventually(&d.app.events, "the second message", || {
        let store = store.clone();
        async move {
            let s = store.session(sid).await.unwrap();
            (s.customer_messages >= 2).then_some(())
        }
    })
    .await;
    let resumed = d
        .call(&a, Method::GET, "/api/v1/events")
        .header("last-event-id", offer_id.to_string())
        .send()
        .await
        .unwrap();
    let replay = read_until(resumed, |got| {
        got.iter()
            .any(|(_, kind, data)| kind == "entry" && data["direction"] == "inbound")
    })
    .await;
    assert!(replay.iter().all(|(id, _, _)| *id > offer_id));
    assert!(replay.windows(2).all(|w| w[0].0 < w[1].0));
    assert_eq!(replay[0].1, "session");
    assert_eq!(replay[0].2["status"], "active");
    assert!(
        replay
            .iter()
            .all(|(_, _, data)| data["session_id"] == session)
    );
}

async fn shutdown_ends_open_event_streams(b: TestBackend) {
    let d = Desk::new(b).await;
    let ada = d.agent("Ada", 2, AgentRole::Agent).await;
    let c = d.sign_in(&ada).await;
    // A second server on the same engine, so the test controls its shutdown.
    let state = parley_server::AppState::new(
        d.app.engine.clone(),
        None,
        ServerConfig {
            simulator: true,
            ..ServerConfig::default()
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(parley_server::serve(listener, state, async {
        let _ = stopped.await;
    }));
    let mut stream = d
        .app
        .client
        .get(format!("http://{addr}/api/v1/events"))
        .header(COOKIE, &c.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    stop.send(()).unwrap();
    // The server finishes, and the stream ends rather than holding the shutdown forever.
    let finished = tokio::time::timeout(Duration::from_secs(10), server).await;
    assert!(
        finished.is_ok(),
        "graceful shutdown waited on an event stream"
    );
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await;
    assert!(end.is_ok(), "the stream ended");
}

async fn supervisor_sees_queues_and_agents(b: TestBackend) {
    let d = Desk::new(b).await;
    let ada = d.agent("Ada", 2, AgentRole::Agent).await;
    let sam = d.agent("Sam", 2, AgentRole::Supervisor).await;
    let (a, s) = (d.sign_in(&ada).await, d.sign_in(&sam).await);
    d.customer_says("+447400000071", "Waiting in line").await;
    d.route_once_waiting(1).await;
    let r = d
        .call(&a, Method::GET, "/api/v1/supervisor/overview")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let o: Value = d.get(&s, "/api/v1/supervisor/overview").await;
    let q = &o["queues"][0];
    assert_eq!(q["name"], "Support");
    assert_eq!(q["waiting"].as_array().unwrap().len(), 1);
    assert!(q["waiting"][0]["waiting_ms"].as_i64().unwrap() >= 0);
    assert_eq!(o["agents"].as_array().unwrap().len(), 2);
    let targets: Value = d.get(&a, "/api/v1/agents/transfer-targets?q=").await;
    let names: Vec<&str> = targets["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Sam"]);
}

async fn routing_rules_send_work_by_skill(b: TestBackend) {
    let d = Desk::new(b).await;
    let s = &d.app.db.store;
    let now = SystemClock.now();
    let french = s
        .create_skill(
            &SkillSpec {
                name: "French".into(),
                description: String::new(),
            },
            now,
        )
        .await
        .unwrap();
    let ada = d.agent("Ada", 5, AgentRole::Agent).await;
    let fred = d.agent("Fred", 5, AgentRole::Agent).await;
    let mut spec = AgentSpec {
        name: fred.name.clone(),
        email: fred.email.clone(),
        role: fred.role,
        capacity: 5,
        queue_ids: fred.queue_ids.clone(),
        skills: vec![AgentSkill {
            skill_id: french.id,
            level: 7,
        }],
    };
    s.update_agent(fred.id, &spec, now).await.unwrap();
    // A rule for this channel: French speakers go to French skill level 5 or more (RT-05).
    s.create_routing_rule(
        &parley_store::RoutingRuleSpec {
            name: "French".into(),
            position: 1,
            channel_id: Some(d.channel.id),
            conditions: json!([{"type": "first_message_matches_any", "words": ["bonjour", "merci"]}]),
            actions: json!([{"type": "route_to_skills", "skills": [{"skill_id": french.id, "level": 5}]},
                            {"type": "set_priority", "priority": 5}]),
        },
        now,
    )
    .await
    .unwrap();
    let (a, f) = (d.sign_in(&ada).await, d.sign_in(&fred).await);
    d.go(&a, "available").await;
    d.go(&f, "available").await;
    d.customer_says("+447400000081", "Bonjour, ma commande?")
        .await;
    let offered = d.offered(&f).await;
    assert_eq!(count(&d.work(&a).await, "offers"), 0, "Ada has no French");
    let work = s.routing_work_of(&[offered]).await.unwrap();
    assert_eq!(work[0].priority, 5);
    // Without the skill, Fred is not eligible: at level 4 the next French session waits.
    spec.skills[0].level = 4;
    s.update_agent(fred.id, &spec, now).await.unwrap();
    d.customer_says("+447400000082", "merci pour votre aide")
        .await;
    d.route_once_waiting(2).await;
    assert_eq!(
        count(&d.work(&f).await, "offers"),
        1,
        "only the first offer"
    );
    assert_eq!(count(&d.work(&a).await, "offers"), 0);
    // Anything else falls back to the channel's queue, where both are members.
    d.customer_says("+447400000083", "Hello there").await;
    let english = d.offered(&a).await;
    assert_ne!(english, offered);
}

async fn after_hours_rules_follow_the_channel_hours(b: TestBackend) {
    let d = Desk::new(b).await;
    let s = &d.app.db.store;
    let now = SystemClock.now();
    // The channel is closed all week (no opening intervals); a rule raises the priority of what
    // arrives out of hours.
    let mut spec = ChannelSpec {
        name: d.channel.name.clone(),
        kind: d.channel.kind,
        provider: d.channel.provider.clone(),
        address: d.channel.address.clone(),
        number_type: d.channel.number_type,
        provider_keyword: None,
        country: d.channel.country.clone(),
        consent_level: d.channel.consent_level,
        queue_id: d.channel.queue_id,
        throughput_mps: None,
        settings: json!({
            "case_handoff": {"trigger": {"on": "non_keyword_reply"}},
            "business_hours": {"utc_offset_minutes": 0, "intervals": []}
        }),
        secrets: json!({}),
    };
    s.update_channel(d.channel.id, &spec, now).await.unwrap();
    d.app.engine.channels.invalidate(d.channel.id).await;
    s.create_routing_rule(
        &parley_store::RoutingRuleSpec {
            name: "After hours".into(),
            position: 1,
            channel_id: None,
            conditions: json!([{"type": "within_business_hours", "value": false}]),
            actions: json!([{"type": "set_priority", "priority": 9}]),
        },
        now,
    )
    .await
    .unwrap();
    d.customer_says("+447400000091", "Are you open?").await;
    d.route_once_waiting(1).await;
    let waiting = s.waiting_sessions(10).await.unwrap();
    let work = waiting[0].work.as_ref().expect("classified");
    assert_eq!(work.priority, 9);
    // Hours that cannot be right are refused when the channel is provisioned.
    spec.settings = json!({"business_hours": {"utc_offset_minutes": 0,
        "intervals": [{"day": 9, "start_minute": 0, "end_minute": 60}]}});
    let err = parley_engine::provision::check_rules(&spec, &Default::default());
    assert!(err.is_err(), "day 9 is not a weekday");
}

async fn estimated_wait_needs_ten_recent_accepts(b: TestBackend) {
    let d = Desk::new(b).await;
    let ada = d.agent("Ada", 2, AgentRole::Agent).await;
    let a = d.sign_in(&ada).await;
    let s = &d.app.db.store;
    let path = format!("/api/v1/queues/{}/estimated-wait", d.queue.id);
    let minutes = |v: Value| v["minutes"].clone();
    let accepts = |waited_ms: i64| ConsoleChange {
        accepts: vec![AcceptWrite {
            queue_id: d.queue.id,
            waited_ms,
        }],
        ..ConsoleChange::default()
    };
    for _ in 0..9 {
        s.commit_console(&accepts(70_000), SystemClock.now())
            .await
            .unwrap();
    }
    let r: Value = d.get(&a, &path).await;
    assert_eq!(
        minutes(r),
        Value::Null,
        "nine accepts are not enough (RT-10)"
    );
    s.commit_console(&accepts(110_000), SystemClock.now())
        .await
        .unwrap();
    let r: Value = d.get(&a, &path).await;
    // Mean wait 74 s, rounded up to whole minutes.
    assert_eq!(minutes(r), json!(2));
    // The store answers only the last ten minutes' accepts (older ones are core's to ignore too).
    let later = SystemClock.now().plus(Duration::from_secs(60));
    assert_eq!(s.queue_accepts(d.queue.id, later).await.unwrap().len(), 0);
    // Agents set their own password, giving the current one; it signs out their other consoles
    // (issue 17). Others need the admin role.
    let other = d.sign_in(&ada).await;
    let own = format!("/api/v1/agents/{}/password", ada.id);
    for (current, status) in [
        (json!(null), StatusCode::UNPROCESSABLE_ENTITY),
        (json!("not the password"), StatusCode::FORBIDDEN),
        (json!(PASSWORD), StatusCode::NO_CONTENT),
    ] {
        let r = d
            .call(&a, Method::PUT, &own)
            .json(&json!({"password": "a much longer passphrase", "current_password": current}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), status, "{current}");
    }
    let r = d
        .call(&other, Method::GET, "/api/v1/me")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "the other console is signed out"
    );
    let r = d.call(&a, Method::GET, "/api/v1/me").send().await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the console that changed it stays"
    );
    let bob = d.agent("Bob", 2, AgentRole::Agent).await;
    let r = d
        .call(
            &a,
            Method::PUT,
            &format!("/api/v1/agents/{}/password", bob.id),
        )
        .json(&json!({"password": "a much longer passphrase"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = d
        .app
        .req(Method::PUT, &format!("/api/v1/agents/{}/password", bob.id))
        .json(&json!({"password": "short"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

/// What the simulated phone `customer` received, oldest first, once there are `n` messages.
async fn phone(app: &TestApp, customer: &str, n: usize) -> Vec<String> {
    let store = app.db.store.clone();
    eventually(&app.events, &format!("{n} messages on the phone"), || {
        let store = store.clone();
        async move {
            let mut m: Vec<(parley_core::Timestamp, String)> = store
                .simulator_messages(customer, None, 50)
                .await
                .unwrap()
                .into_iter()
                .filter(|m| m.direction == Direction::Outbound)
                .map(|m| (m.created_at, m.body))
                .collect();
            m.sort();
            (m.len() >= n).then(|| m.into_iter().map(|(_, b)| b).collect::<Vec<_>>())
        }
    })
    .await
}

/// The channel's automatic replies (CO-20) in the customer's language: the acknowledgment of a
/// new conversation for people, the start when an agent accepts, the transfer message; then an
/// agent transfers the conversation to a flow (RT-09), which takes it and ends it.
async fn automatic_replies_and_a_transfer_to_a_flow(b: TestBackend) {
    let d = Desk::new(b).await;
    let s = &d.app.db.store;
    let mut spec = parley_engine::provision::spec_of(&d.channel);
    spec.consent_level = ConsentLevel::Implicit;
    spec.settings = json!({
        "default_language": "en",
        "auto_replies": {
            "acknowledgment": {"en": "Thanks, a person will answer soon.", "fr": "Merci, une personne va répondre."},
            "start_conversation": "Hi, this is your agent.",
            "transfer": "Transferring you now."
        }
    });
    s.update_channel(d.channel.id, &spec, SystemClock.now())
        .await
        .unwrap();
    d.app.engine.channels.invalidate(d.channel.id).await;
    let flow = r#"
name: followup
steps:
  - id: helpful
    type: ask
    message: { text: "Was this helpful?" }
    cases:
      - when: { type: any_word, words: ["thanks", "helpful"] }
        next: glad
    other: glad
  - id: glad
    type: end
    message: { text: "Glad to help." }
"#;
    let (st, f) = parley_testkit::status_and_json(
        d.app
            .req(Method::POST, "/api/v1/flows")
            .header("content-type", "application/yaml")
            .body(flow),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{f}");

    let ada = d.agent("Ada", 2, AgentRole::Agent).await;
    let a = d.sign_in(&ada).await;
    d.go(&a, "available").await;
    let customer = "+447400000077";
    d.customer_says(customer, "Where is my parcel?").await;
    let session = d.offered(&a).await;
    assert_eq!(d.act(&a, session, "accept").await.status(), StatusCode::OK);
    let r = d
        .call(
            &a,
            Method::POST,
            &format!("/api/v1/sessions/{session}/transfer"),
        )
        .json(&json!({"flow_id": f["id"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let held = s.session(session).await.unwrap();
    assert_eq!(held.owner_kind, Some(OwnerKind::Bot));
    assert_eq!(held.status, SessionStatus::Active);
    assert_eq!(
        count(&d.work(&a).await, "sessions"),
        0,
        "Ada no longer has it"
    );

    let got = phone(&d.app, customer, 4).await;
    assert_eq!(
        got,
        [
            "Thanks, a person will answer soon.",
            "Hi, this is your agent.",
            "Transferring you now.",
            "Was this helpful?"
        ]
    );
    // (YES would be the opt-in keyword, which compliance answers before any flow.)
    d.customer_says(customer, "it was, thanks").await;
    assert_eq!(phone(&d.app, customer, 5).await[4], "Glad to help.");
    let runs: Value = d
        .get(&a, &format!("/api/v1/sessions/{session}/flow-runs"))
        .await;
    assert_eq!(runs[0]["trigger"], "transfer");
    assert_eq!(runs[0]["status"], "ended");
}

parley_store::on_both_backends!(
    automatic_replies_and_a_transfer_to_a_flow,
    routing_rules_send_work_by_skill,
    after_hours_rules_follow_the_channel_hours,
    estimated_wait_needs_ten_recent_accepts,
    sign_in_checks_passwords_cookies_and_csrf,
    offers_accept_transfer_end,
    capacity_limits_offers_and_ending_frees_it,
    offline_agent_work_is_rerouted,
    unanswered_offers_move_on,
    agent_initiated_reply_goes_to_the_agent,
    opted_out_customers_cannot_be_contacted,
    event_stream_is_live_and_resumes,
    shutdown_ends_open_event_streams,
    supervisor_sees_queues_and_agents,
);
