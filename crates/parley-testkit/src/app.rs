//! A server running on a random loopback port with its engine and workers, on either backend, and
//! the bounded wait tests use instead of sleeping.

use std::sync::Arc;
use std::time::Duration;

use parley_core::model::TokenRole;
use parley_core::{Clock, SystemClock};
use parley_engine::{Engine, EngineConfig, EventBus};
use parley_server::{AppState, ServerConfig};
use parley_store::testing::{TestBackend, TestDb, fresh};
use reqwest::{Client, Method, RequestBuilder};
use uuid::Uuid;

/// A server running on a random loopback port, with an admin token.
pub struct TestApp {
    pub base: String,
    pub token: String,
    pub client: Client,
    pub db: TestDb,
    /// The engine's events, to wait on instead of sleeping.
    pub events: EventBus,
    pub engine: Engine,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    stop_workers: tokio::sync::watch::Sender<bool>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = self.stop_workers.send(true);
    }
}

impl TestApp {
    pub async fn spawn(backend: TestBackend) -> Self {
        Self::spawn_with(
            backend,
            ServerConfig {
                simulator: true,
                ..ServerConfig::default()
            },
        )
        .await
    }

    pub async fn spawn_with(backend: TestBackend, config: ServerConfig) -> Self {
        Self::spawn_full(backend, config, EngineConfig::default()).await
    }

    pub async fn spawn_full(
        backend: TestBackend,
        config: ServerConfig,
        engine_config: EngineConfig,
    ) -> Self {
        Self::spawn_clocked(backend, config, engine_config, Arc::new(SystemClock)).await
    }

    /// A server whose engine reads `clock` (a `ManualClock` moves time for rules that take
    /// hours).
    pub async fn spawn_clocked(
        backend: TestBackend,
        config: ServerConfig,
        engine_config: EngineConfig,
        clock: Arc<dyn Clock>,
    ) -> Self {
        parley_engine::transport::install_crypto_provider();
        let db = fresh(backend).await;
        let engine = Engine::new(
            db.store.clone(),
            clock,
            EventBus::default(),
            EngineConfig {
                // Each app keeps the files it fetches apart (and out of the source tree).
                media_dir: std::env::temp_dir()
                    .join(format!("parley-test-media-{}", Uuid::now_v7())),
                ..engine_config
            },
        );
        let (stop_workers, workers_rx) = tokio::sync::watch::channel(false);
        engine.spawn_workers(workers_rx);
        let events = engine.events.clone();
        let state = AppState::new(engine.clone(), parley_server::metrics_handle(), config);
        let token = Self::token_for(&db, TokenRole::Admin).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(parley_server::serve(listener, state, async {
            let _ = rx.await;
        }));
        Self {
            base: format!("http://{addr}"),
            token,
            client: Client::new(),
            db,
            events,
            engine,
            stop: Some(tx),
            stop_workers,
        }
    }

    pub async fn token_for(db: &TestDb, role: TokenRole) -> String {
        let (token, hash) = parley_server::auth::generate_token();
        db.store
            .create_api_token("test", role, &hash, SystemClock.now())
            .await
            .unwrap();
        token
    }

    /// A request with the admin token.
    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    /// The messaging user with this key on a channel, once the pipeline has created it.
    pub async fn wait_for_user(&self, channel: Uuid, key: &str) -> parley_store::MessagingUser {
        let s = self.db.store.clone();
        let key = key.to_owned();
        eventually(&self.events, "messaging user", || {
            let s = s.clone();
            let key = key.clone();
            async move { s.messaging_user_by_key(channel, &key).await.unwrap() }
        })
        .await
    }

    /// Every entry of every session of a messaging user, oldest first, once there are `n`.
    pub async fn wait_for_entries(
        &self,
        user: Uuid,
        n: usize,
    ) -> Vec<(parley_store::Session, parley_store::Entry)> {
        use parley_store::{PageRequest, SessionFilter};
        let s = self.db.store.clone();
        eventually(&self.events, &format!("{n} entries"), || {
            let s = s.clone();
            async move {
                let filter = SessionFilter {
                    messaging_user_id: Some(user),
                    ..Default::default()
                };
                let sessions = s
                    .list_sessions(filter, PageRequest::new(None, 100))
                    .await
                    .unwrap()
                    .items;
                let mut all = Vec::new();
                for session in sessions {
                    let entries = s
                        .list_entries(session.id, PageRequest::new(None, 100))
                        .await
                        .unwrap()
                        .items;
                    all.extend(entries.into_iter().map(|e| (session.clone(), e)));
                }
                all.sort_by_key(|(_, e)| e.id);
                (all.len() >= n).then_some(all)
            }
        })
        .await
    }

    /// A GET with the admin token that must succeed, answered with JSON.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let r = self.req(Method::GET, path).send().await.unwrap();
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.unwrap()
    }

    /// Creates an agent who can sign in to the console with `password`.
    pub async fn agent_with_password(
        &self,
        spec: &parley_store::AgentSpec,
        password: &str,
    ) -> parley_store::Agent {
        let s = &self.db.store;
        let now = SystemClock.now();
        let agent = s.create_agent(spec, now).await.unwrap();
        let hash = parley_server::console::auth::hash_password(password).unwrap();
        s.set_agent_password_hash(agent.id, &hash, now)
            .await
            .unwrap();
        agent
    }

    /// A request without a token.
    pub fn anon(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }
}

/// Checks `f` after every engine event (and at least every 50 ms) until it gives `Some`, for at
/// most thirty seconds: a bound for a loaded two-core CI machine running browsers beside the
/// test, never a measure of speed (a passing wait returns as soon as `f` does).
pub async fn eventually<T, F, Fut>(bus: &EventBus, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let mut events = Some(bus.subscribe());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        match events.as_mut() {
            Some(rx) => {
                let _ = tokio::time::timeout(Duration::from_millis(50), rx.recv()).await;
            }
            None => tokio::task::yield_now().await,
        }
    }
}

/// Sends a request and answers its status with its body as JSON (`Null` when empty), whatever
/// the status: for tests that assert on refusals as much as on successes.
pub async fn status_and_json(r: RequestBuilder) -> (reqwest::StatusCode, serde_json::Value) {
    let r = r.send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    let v = if text.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    (status, v)
}
