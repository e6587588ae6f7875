//! Issue 17: API tokens (list, name, expire, revoke, last use; a revoke holds on every node),
//! who reads and writes which sessions (agent tokens and the console, one rule), secrets kept out
//! of request logs, and `/metrics` behind a token or on its own address. On both databases.

use std::sync::{Arc, Mutex};

use parley_core::model::{AgentRole, ConsentStatus, OwnerKind, SessionStatus, TokenRole};
use parley_core::{Clock, SystemClock, Timestamp};
use parley_engine::{Engine, EngineConfig, EventBus};
use parley_server::{AppState, ServerConfig};
use parley_store::testing::TestBackend;
use parley_store::{ConsoleChange, GuardedSession, NewApiToken, Session, Store, StoreOptions};
use parley_testkit::build;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::TestApp;

const PASSWORD: &str = "correct horse battery staple";

async fn call(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut r = app.anon(method, path).bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    parley_testkit::status_and_json(r).await
}

async fn tokens_are_named_listed_expired_and_revoked(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let admin = app.token.clone();
    // Bad input names the field.
    for (body, field) in [
        (json!({"name": "x", "role": "root"}), "role"),
        (json!({"name": "", "role": "admin"}), "name"),
        (json!({"name": "x", "role": "agent"}), "agent_id"),
        (
            json!({"name": "x", "role": "admin", "expires_in": "soon"}),
            "expires_in",
        ),
        (
            json!({"name": "x", "role": "admin", "agent_id": Uuid::now_v7()}),
            "agent_id",
        ),
    ] {
        let (s, v) = call(
            &app,
            &admin,
            Method::POST,
            "/api/v1/api-tokens",
            Some(body.clone()),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body} {v}");
        assert!(v["message"].as_str().unwrap().contains(field), "{v}");
    }
    let (s, created) = call(
        &app,
        &admin,
        Method::POST,
        "/api/v1/api-tokens",
        Some(json!({"name": "Reports", "role": "supervisor", "expires_in": "30d"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let secret = created["token"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("pk_"));
    assert_eq!(created["name"], "Reports");
    assert!(created["expires_at"].is_string(), "{created}");
    assert!(created["last_used_at"].is_null());
    let id = created["id"].as_str().unwrap().to_owned();

    // Use stamps last_used_at, at most once a minute.
    let (s, _) = call(&app, &secret, Method::GET, "/api/v1/queues", None).await;
    assert_eq!(s, StatusCode::OK);
    let store = &app.db.store;
    let uuid: Uuid = id.parse().unwrap();
    let first = store.api_token(uuid).await.unwrap().last_used_at.unwrap();
    let (s, _) = call(&app, &secret, Method::GET, "/api/v1/queues", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        store.api_token(uuid).await.unwrap().last_used_at,
        Some(first)
    );
    let later = Timestamp(first + 61_000);
    assert!(store.touch_api_token(uuid, later).await.unwrap());
    assert!(
        !store
            .touch_api_token(uuid, Timestamp(first + 62_000))
            .await
            .unwrap()
    );

    // The list never shows secrets; other roles may not read it.
    let (s, list) = call(&app, &admin, Method::GET, "/api/v1/api-tokens", None).await;
    assert_eq!(s, StatusCode::OK);
    let row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id.as_str())
        .unwrap();
    assert_eq!(row["role"], "supervisor");
    assert!(row.get("token").is_none() && !list.to_string().contains(&secret));
    let (s, _) = call(&app, &secret, Method::GET, "/api/v1/api-tokens", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // An expired token is refused.
    let (expired, hash) = parley_server::auth::generate_token();
    let now = SystemClock.now();
    store
        .create_scoped_api_token(
            &NewApiToken {
                name: "old",
                role: TokenRole::Admin,
                token_hash: &hash,
                // Expires as it is made: any later request is past it.
                expires_at: Some(now),
                agent_id: None,
            },
            now.minus(std::time::Duration::from_secs(60)),
        )
        .await
        .unwrap();
    let (s, _) = call(&app, &expired, Method::GET, "/api/v1/queues", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // Revoked: refused from the next request; revoking again is a 404.
    let path = format!("/api/v1/api-tokens/{id}");
    let r = app.req(Method::DELETE, &path).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (s, _) = call(&app, &secret, Method::GET, "/api/v1/queues", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let r = app.req(Method::DELETE, &path).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let (_, list) = call(&app, &admin, Method::GET, "/api/v1/api-tokens", None).await;
    let row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id.as_str())
        .unwrap();
    assert!(row["revoked_at"].is_string(), "{row}");
}

/// A second server (its own store, engine and port) on the same database as `app`.
async fn second_node(app: &TestApp) -> (String, tokio::sync::oneshot::Sender<()>) {
    let store = Store::connect(&app.db.url, &StoreOptions::default())
        .await
        .unwrap();
    let engine = Engine::new(
        store,
        Arc::new(SystemClock),
        EventBus::default(),
        EngineConfig::default(),
    );
    let state = AppState::new(engine, None, ServerConfig::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(parley_server::serve(listener, state, async {
        let _ = rx.await;
    }));
    (base, tx)
}

async fn a_revoke_on_one_node_is_refused_by_the_other(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let (other, _stop) = second_node(&app).await;
    let (s, created) = call(
        &app,
        &app.token,
        Method::POST,
        "/api/v1/api-tokens",
        Some(json!({"name": "Integration", "role": "admin"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let secret = created["token"].as_str().unwrap();
    let on_other = || {
        app.client
            .get(format!("{other}/api/v1/queues"))
            .bearer_auth(secret)
            .send()
    };
    assert_eq!(on_other().await.unwrap().status(), StatusCode::OK);
    let r = app
        .req(
            Method::DELETE,
            &format!("/api/v1/api-tokens/{}", created["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        on_other().await.unwrap().status(),
        StatusCode::UNAUTHORIZED,
        "the very next request on the other node"
    );
}

/// Gives a session to an agent (or none) in a queue, as routing would.
async fn place(store: &Store, s: &Session, queue: Uuid, owner: Option<Uuid>) -> Session {
    let mut row = s.clone();
    row.queue_id = Some(queue);
    row.owner_kind = owner.map(|_| OwnerKind::Agent);
    row.owner_id = owner;
    store
        .commit_console(
            &ConsoleChange {
                sessions: vec![GuardedSession {
                    expected_status: s.status,
                    expected_updated_at: s.updated_at,
                    row,
                }],
                ..ConsoleChange::default()
            },
            SystemClock.now(),
        )
        .await
        .unwrap();
    store.session(s.id).await.unwrap()
}

/// Signs in through the form: (cookie, CSRF token).
async fn sign_in(app: &TestApp, email: &str) -> (String, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client
        .post(format!("{}/console/login", app.base))
        .form(&[("email", email), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/console");
    let cookie = r.headers()[SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let html = client
        .get(format!("{}/console", app.base))
        .header(COOKIE, &cookie)
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
        .unwrap()
        .to_owned();
    (cookie, csrf)
}

async fn agents_read_their_queues_and_write_their_own_sessions(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let store = &app.db.store;
    let now = SystemClock.now();
    let channel = build::channel(store, &build::simulator_sms(), now).await;
    let q1 = build::queue(store, "Billing", now).await;
    let q2 = build::queue(store, "Legal", now).await;
    let spec = |name: &str, q: Uuid| build::agent_spec(name, AgentRole::Agent, 3, vec![q]);
    let ada = app.agent_with_password(&spec("Ada", q1.id), PASSWORD).await;
    let bob = app.agent_with_password(&spec("Bob", q1.id), PASSWORD).await;
    let cy = app.agent_with_password(&spec("Cy", q2.id), PASSWORD).await;
    let mut sessions = Vec::new();
    for (key, queue, owner) in [
        ("+14155550001", q1.id, ada.id),
        ("+14155550002", q1.id, bob.id),
        ("+14155550003", q2.id, cy.id),
    ] {
        let user = build::user(
            store,
            &build::new_user(channel.id, key, Some(ConsentStatus::ExplicitlyOptedIn)),
            &build::origin(parley_core::model::ConsentSource::Import, "test"),
            now,
        )
        .await;
        let s = build::session(
            store,
            &build::new_session(channel.id, user.id, SessionStatus::Active),
            now,
        )
        .await;
        sessions.push(place(store, &s, queue, Some(owner)).await);
    }
    let (mine, bobs, legal) = (&sessions[0], &sessions[1], &sessions[2]);

    let (s, created) = call(
        &app,
        &app.token,
        Method::POST,
        "/api/v1/api-tokens",
        Some(json!({"name": "Ada's script", "role": "agent", "agent_id": ada.id})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    assert_eq!(created["agent_id"], ada.id.to_string());
    let ada_token = created["token"].as_str().unwrap().to_owned();
    let unbound = TestApp::token_for(&app.db, TokenRole::Agent).await;
    let supervisor = TestApp::token_for(&app.db, TokenRole::Supervisor).await;
    let get = |id: Uuid| format!("/api/v1/sessions/{id}");
    let send = |id: Uuid| format!("/api/v1/sessions/{id}/messages");
    let text = || Some(json!({"body": "Hello"}));

    // Reading: the agent's queue (their own and a colleague's), not another queue's.
    for (id, status) in [
        (mine.id, StatusCode::OK),
        (bobs.id, StatusCode::OK),
        (legal.id, StatusCode::NOT_FOUND),
    ] {
        let (s, v) = call(&app, &ada_token, Method::GET, &get(id), None).await;
        assert_eq!(s, status, "{v}");
        let (s, _) = call(
            &app,
            &ada_token,
            Method::GET,
            &format!("{}/entries", get(id)),
            None,
        )
        .await;
        assert_eq!(s, status);
    }
    let (_, list) = call(&app, &ada_token, Method::GET, "/api/v1/sessions", None).await;
    let ids: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&mine.id.to_string().as_str()) && ids.contains(&bobs.id.to_string().as_str())
    );
    assert!(!ids.contains(&legal.id.to_string().as_str()), "{list}");
    let (s, _) = call(
        &app,
        &ada_token,
        Method::GET,
        &format!(
            "/api/v1/messaging-users/{}/timeline",
            legal.messaging_user_id
        ),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Supervisors read everything.
    let (s, _) = call(&app, &supervisor, Method::GET, &get(legal.id), None).await;
    assert_eq!(s, StatusCode::OK);
    // Customers' files go with their session.
    let mut files = Vec::new();
    for session in [mine, legal] {
        let e = build::entry(
            store,
            &build::new_entry(
                session.id,
                parley_core::model::Direction::Inbound,
                parley_core::model::Actor::Customer,
                "",
                parley_core::model::EntryStatus::Received,
            ),
            now,
        )
        .await;
        let m = app
            .engine
            .media
            .save(Some(e.id), "image/png", b"not really a png".to_vec())
            .await
            .unwrap();
        files.push(format!("/api/v1/media/{}", m.id));
    }
    let r = app
        .anon(Method::GET, &files[0])
        .bearer_auth(&ada_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .anon(Method::GET, &files[1])
        .bearer_auth(&ada_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app
        .anon(Method::GET, &files[1])
        .bearer_auth(&supervisor)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Writing: only the agent's own session.
    let (s, v) = call(&app, &ada_token, Method::POST, &send(bobs.id), text()).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let (s, v) = call(&app, &ada_token, Method::POST, &send(legal.id), text()).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    let (s, v) = call(&app, &ada_token, Method::POST, &send(mine.id), text()).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["actor_id"], ada.id.to_string(), "recorded as Ada");

    // An agent token made before tokens named their agent reads and writes no session.
    let (s, _) = call(&app, &unbound, Method::GET, &get(mine.id), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, list) = call(&app, &unbound, Method::GET, "/api/v1/sessions", None).await;
    assert_eq!(list["items"], json!([]));
    let (s, _) = call(&app, &unbound, Method::POST, &send(mine.id), text()).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // The console applies the same rule.
    let (cookie, csrf) = sign_in(&app, &ada.email).await;
    let console = |method: Method, path: &str| {
        app.anon(method, path)
            .header(COOKIE, &cookie)
            .header("x-csrf-token", &csrf)
    };
    let r = console(Method::GET, &get(legal.id)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = console(Method::GET, &get(bobs.id)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = console(Method::POST, &send(bobs.id))
        .json(&json!({"body": "Hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = console(Method::POST, &send(mine.id))
        .json(&json!({"body": "Hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
}

/// A `tracing` writer that keeps everything written.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

async fn secrets_stay_out_of_request_logs(b: TestBackend) {
    use tower::ServiceExt;
    let app = TestApp::spawn(b).await;
    let state = AppState::new(app.engine.clone(), None, ServerConfig::default());
    let router = parley_server::app(state);
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let verify = "verify-SECRET-1234";
    let bearer = app.token.clone();
    let cookie = "parley_console=COOKIE-SECRET-5678";
    for uri in [
        format!(
            "/webhooks/meta/{}?hub.mode=subscribe&hub.verify_token={verify}&hub.challenge=7",
            Uuid::now_v7()
        ),
        format!("/api/v1/queues?token={verify}"),
        "/api/v1/queues".to_owned(),
    ] {
        let req = axum::http::Request::builder()
            .uri(&uri)
            .header("authorization", format!("Bearer {bearer}"))
            .header("cookie", cookie)
            .body(axum::body::Body::empty())
            .unwrap();
        let _ = router.clone().oneshot(req).await.unwrap();
    }
    drop(_guard);
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("/webhooks/meta/"),
        "the request was logged: {text}"
    );
    assert!(text.contains("hub.verify_token=REDACTED"), "{text}");
    for secret in [verify, bearer.as_str(), "COOKIE-SECRET-5678"] {
        assert!(!text.contains(secret), "{secret} in the logs:\n{text}");
    }
}

async fn metrics_behind_a_token(b: TestBackend) {
    let app = TestApp::spawn_with(
        b,
        ServerConfig {
            metrics_token: Some("m3trics".into()),
            ..ServerConfig::default()
        },
    )
    .await;
    let r = app.anon(Method::GET, "/metrics").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app
        .anon(Method::GET, "/metrics")
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app
        .anon(Method::GET, "/metrics")
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "an API token is not the metrics token"
    );
    let r = app
        .anon(Method::GET, "/metrics")
        .bearer_auth("m3trics")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("parley_http_requests_total")
    );
}

async fn metrics_on_their_own_address(b: TestBackend) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = TestApp::spawn_with(
        b,
        ServerConfig {
            metrics_listen: Some(addr),
            ..ServerConfig::default()
        },
    )
    .await;
    let r = app.anon(Method::GET, "/metrics").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "not on the main address");
    let state = AppState::new(
        app.engine.clone(),
        parley_server::metrics_handle(),
        ServerConfig {
            metrics_listen: Some(addr),
            ..ServerConfig::default()
        },
    );
    tokio::spawn(
        async move { axum::serve(listener, parley_server::ops::metrics_app(state)).await },
    );
    let r = app
        .client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .client
        .get(format!("http://{addr}/api/v1/queues"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "only metrics there");
}

/// The API tokens area (`tests/browser/api-tokens.mjs`): an agent token made for 30 days, shown
/// once and copied, listed with its agent and expiry in words, revoked after a confirmation; the
/// revoked token is then refused. Screenshots go to `PARLEY_SHOTS` when set.
async fn tokens_in_a_real_browser(b: TestBackend) {
    use std::path::PathBuf;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        dir.join("node_modules/playwright-core").is_dir()
            && PathBuf::from("/usr/bin/chromium").exists(),
        "the browser harness is not installed: run scripts/browser-deps.sh (scripts/test.sh does)"
    );
    let app = TestApp::spawn(b).await;
    let spec = |name: &str, role| build::agent_spec(name, role, 3, vec![]);
    let admin = app
        .agent_with_password(&spec("Alex", AgentRole::Admin), PASSWORD)
        .await;
    let ada = app
        .agent_with_password(&spec("Ada", AgentRole::Agent), PASSWORD)
        .await;
    let profile = std::env::temp_dir().join(format!("parley-browser-{}", Uuid::now_v7()));
    std::fs::create_dir_all(&profile).unwrap();
    let shots = crate::browser::shots_dir("api-tokens-shots", &format!("{b:?}").to_lowercase());
    let run = tokio::process::Command::new("node")
        .arg("api-tokens.mjs")
        .arg(format!("--url={}", app.base))
        .arg(format!("--user={}:{PASSWORD}", admin.email))
        .arg(format!("--agent={}", ada.email))
        .arg(format!("--shots={}", shots.display()))
        .env("TMPDIR", &profile)
        .current_dir(&dir)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(180), run)
        .await
        .expect("the API tokens scenario finishes within three minutes")
        .expect("node runs");
    let _ = std::fs::remove_dir_all(&profile);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "API tokens scenario failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("{name} in {stdout}"))
            .to_owned()
    };
    let id: Uuid = field("id=").parse().unwrap();
    let stored = app.db.store.api_token(id).await.unwrap();
    assert_eq!(stored.name, "Ada <b>script</b>");
    assert_eq!(stored.role, TokenRole::Agent);
    assert_eq!(stored.agent_id, Some(ada.id));
    assert!(stored.revoked_at.is_some() && stored.expires_at.is_some());
    let (s, _) = call(&app, &field("token="), Method::GET, "/api/v1/queues", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

parley_store::on_both_backends!(
    tokens_in_a_real_browser,
    tokens_are_named_listed_expired_and_revoked,
    a_revoke_on_one_node_is_refused_by_the_other,
    agents_read_their_queues_and_write_their_own_sessions,
    secrets_stay_out_of_request_logs,
    metrics_behind_a_token,
    metrics_on_their_own_address,
);
