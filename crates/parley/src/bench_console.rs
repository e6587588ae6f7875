//! `parley bench console`: agents at work at scale, on a real server over loopback (fresh SQLite).
//!
//! 1. `--sessions` customers write in (simulator inbound, through the whole inbound pipeline) and
//!    wait in one queue; `--agents` agents go available with room for all of them.
//! 2. Routing: rounds of `Router::route` until every session is offered: routing decisions per
//!    second. Then every offer is accepted (agent actions per second).
//! 3. Every agent opens the console's SSE stream (`GET /api/v1/events` with its cookie). Customers
//!    of the active sessions write again at a fixed rate; for each message, the time from the
//!    request leaving the load generator to its `entry` event arriving on the owning agent's
//!    stream. Baselines in the same run: the same server's `/healthz`, and the inbound request
//!    alone (the time to make the message durable).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use parley_core::model::{
    AgentRole, ChannelKind, ConsentLevel, NumberType, Provider, RoutingModel,
};
use parley_core::{Clock, SystemClock};
use parley_engine::{Engine, EngineConfig, EventBus};
use parley_server::{AppState, ServerConfig};
use parley_store::{AgentSpec, ChannelSpec, QueueSpec, Store, StoreOptions};
use serde_json::json;
use tokio::sync::watch;
use uuid::Uuid;

use crate::bench::{micros, print_latencies, rate};

pub struct Options {
    pub agents: usize,
    pub sessions: usize,
    pub messages: usize,
    pub rate: usize,
}

fn phone(i: usize) -> String {
    // Valid NANP numbers: exchange 200 and up, four-digit subscriber numbers.
    format!("+1415{}{:04}", 200 + i / 10_000, i % 10_000)
}

pub async fn run(o: Options) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = Store::connect(&url, &StoreOptions::default()).await?;
    store.migrate().await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let now = clock.now();
    let queue = store
        .create_queue(
            &QueueSpec {
                name: "Support".into(),
                routing_model: RoutingModel::MostAvailable,
                priority: 0,
                assignment: parley_core::model::QueueAssignment::Push,
            },
            now,
        )
        .await?;
    let channel = store
        .create_channel(
            &ChannelSpec {
                name: "Bench SMS".into(),
                kind: ChannelKind::Sms,
                provider: Provider::Simulator,
                address: "+14155550100".into(),
                number_type: Some(NumberType::ShortCode),
                provider_keyword: None,
                country: Some("US".into()),
                consent_level: ConsentLevel::Implicit,
                queue_id: Some(queue.id),
                throughput_mps: Some(100_000),
                settings: json!({"case_handoff": {"trigger": {"on": "non_keyword_reply"}}}),
                secrets: json!({}),
            },
            now,
        )
        .await?;
    let capacity = o.sessions.div_ceil(o.agents.max(1)) as i64 + 1;
    let mut agents = Vec::with_capacity(o.agents);
    for i in 0..o.agents {
        let a = store
            .create_agent(
                &AgentSpec {
                    name: format!("Agent {i:04}"),
                    email: format!("agent{i}@bench.test"),
                    role: AgentRole::Agent,
                    capacity,
                    queue_ids: vec![queue.id],
                    skills: vec![],
                },
                now,
            )
            .await?;
        agents.push(a);
    }

    let engine = Engine::new(
        store.clone(),
        clock.clone(),
        EventBus::default(),
        EngineConfig::default(),
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    // Every worker but the background router: the routing phase drives rounds itself.
    let mut workers = vec![
        tokio::spawn(engine.inbound_runner().run(stop_rx.clone())),
        tokio::spawn(engine.outbound_runner().run(stop_rx.clone())),
        tokio::spawn(engine.timer_runner().run(stop_rx.clone())),
        tokio::spawn(
            engine
                .outbound
                .sender_leases()
                .clone()
                .run(&[parley_engine::outbound::QUEUE], stop_rx.clone()),
        ),
    ];
    workers.extend(engine.feed.spawn(&engine.events, stop_rx.clone()));
    let state = AppState::new(
        engine.clone(),
        None,
        ServerConfig {
            simulator: true,
            // Every agent's console stream comes from the same loopback address.
            connections: parley_server::listen::ConnectionLimits::one_client_address(),
            ..ServerConfig::default()
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (srv_tx, srv_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(parley_server::serve(listener, state, async {
        let _ = srv_rx.await;
    }));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(2_000)
        .build()?;
    let base = format!("http://{addr}");

    println!(
        "parley bench console: {} agents, {} sessions, {} messages at {}/s (SQLite, one process)",
        o.agents, o.sessions, o.messages, o.rate
    );

    // 1. Customers write in; the pipeline opens waiting sessions.
    let start = Instant::now();
    let sem = Arc::new(tokio::sync::Semaphore::new(64));
    let mut sends = Vec::with_capacity(o.sessions);
    for i in 0..o.sessions {
        let client = client.clone();
        let url = format!("{base}/simulator/inbound");
        let sem = sem.clone();
        let channel_name = channel.name.clone();
        sends.push(tokio::spawn(async move {
            let _permit = sem.acquire().await?;
            let r = client
                .post(url)
                .json(&json!({"channel": channel_name, "from": phone(i), "text": "I need help with my order"}))
                .send()
                .await?;
            anyhow::ensure!(r.status().is_success(), "inbound answered {}", r.status());
            anyhow::Ok(())
        }));
    }
    for s in sends {
        s.await.context("sender")??;
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let waiting = store.waiting_sessions(o.sessions as i64 + 1).await?.len();
        if waiting >= o.sessions {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "only {waiting} sessions waiting");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "  {:<40} {:>8.0} /s   ({} sessions waiting in {:.1} s)",
        "customers in (inbound pipeline)",
        rate(o.sessions, start.elapsed()),
        o.sessions,
        start.elapsed().as_secs_f64()
    );

    // 2. Agents available and connected; route until everything is offered.
    let until = clock.now().plus(Duration::from_secs(3600));
    for a in &agents {
        store
            .set_agent_presence(
                a.id,
                parley_core::model::Presence::Available,
                Some(until),
                clock.now(),
            )
            .await?;
    }
    let start = Instant::now();
    let mut offered = 0;
    let mut rounds = 0;
    let mut round_times = Vec::new();
    while offered < o.sessions {
        let t = Instant::now();
        let r = engine.router.route().await?;
        round_times.push(micros(t.elapsed()));
        rounds += 1;
        offered += r.offers;
        anyhow::ensure!(rounds < 1_000, "routing stalled at {offered} offers");
    }
    let routing = start.elapsed();
    println!(
        "  {:<40} {:>8.0} /s   ({offered} offers in {rounds} rounds, {:.2} s)",
        "routing decisions (offers written)",
        rate(offered, routing),
        routing.as_secs_f64()
    );
    print_latencies("routing round", round_times);

    let start = Instant::now();
    let mut owner: HashMap<Uuid, (Uuid, String)> = HashMap::new();
    let mut accepted = 0;
    for a in &agents {
        for w in store.offers_of(a.id).await? {
            let s = engine.desk.accept(a, w.session_id).await?;
            let user = store.messaging_user(s.messaging_user_id).await?;
            owner.insert(s.id, (a.id, user.platform_key));
            accepted += 1;
        }
    }
    println!(
        "  {:<40} {:>8.0} /s   ({accepted} active sessions)",
        "accepts (agent actions)",
        rate(accepted, start.elapsed())
    );

    // 3. Every agent's console stream.
    let tokens: Vec<(Uuid, String)> = agents
        .iter()
        .map(|a| (a.id, format!("bench-{}", a.id)))
        .collect();
    for (id, token) in &tokens {
        store
            .create_console_login(
                &parley_server::auth::hash_token(token),
                *id,
                "csrf",
                clock.now(),
                until,
            )
            .await?;
    }
    let sent: Arc<Mutex<HashMap<Uuid, Instant>>> = Arc::new(Mutex::new(HashMap::new()));
    let delays: Arc<Mutex<Vec<u64>>> = Arc::new(Mutex::new(Vec::new()));
    let received = Arc::new(tokio::sync::Notify::new());
    let (opened_tx, mut opened_rx) = tokio::sync::mpsc::channel::<()>(o.agents.max(1));
    let mut streams = Vec::new();
    for (_, token) in &tokens {
        let client = client.clone();
        let url = format!("{base}/api/v1/events");
        let cookie = format!("{}={token}", parley_server::console::auth::COOKIE_NAME);
        let sent = sent.clone();
        let delays = delays.clone();
        let received = received.clone();
        let opened = opened_tx.clone();
        streams.push(tokio::spawn(async move {
            let mut r = client.get(url).header("cookie", cookie).send().await?;
            anyhow::ensure!(r.status().is_success(), "stream answered {}", r.status());
            let _ = opened.send(()).await;
            let mut buf = String::new();
            while let Some(chunk) = r.chunk().await? {
                buf.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buf.find("\n\n") {
                    let block: String = buf.drain(..end + 2).collect();
                    if !block.contains("event: entry") || !block.contains("\"inbound\"") {
                        continue;
                    }
                    let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: ")) else {
                        continue;
                    };
                    let v: serde_json::Value = serde_json::from_str(data)?;
                    let Some(session) = v
                        .get("session_id")
                        .and_then(|v| v.as_str())
                        .and_then(|s| s.parse::<Uuid>().ok())
                    else {
                        continue;
                    };
                    let at = sent.lock().ok().and_then(|mut m| m.remove(&session));
                    if let Some(at) = at {
                        if let Ok(mut d) = delays.lock() {
                            d.push(micros(at.elapsed()));
                        }
                        received.notify_one();
                    }
                }
            }
            anyhow::Ok(())
        }));
    }
    drop(opened_tx);
    for _ in 0..o.agents {
        opened_rx
            .recv()
            .await
            .context("a console stream did not open")?;
    }
    println!("  {} console streams open", o.agents);

    // Baseline: the trivial endpoint of the same server.
    let mut health = Vec::new();
    for _ in 0..1_000 {
        let t = Instant::now();
        let r = client.get(format!("{base}/healthz")).send().await?;
        let _ = r.bytes().await?;
        health.push(micros(t.elapsed()));
    }
    print_latencies("baseline: GET /healthz", health);

    // Customers of active sessions write at a fixed rate; each to a session with nothing pending.
    let sessions: Vec<(Uuid, String)> = owner.iter().map(|(s, (_, p))| (*s, p.clone())).collect();
    anyhow::ensure!(!sessions.is_empty(), "no active sessions");
    let interval = Duration::from_secs_f64(1.0 / o.rate.max(1) as f64);
    let mut ticker = tokio::time::interval(interval);
    let mut inflight = Vec::with_capacity(o.messages);
    let request_times: Arc<Mutex<Vec<u64>>> = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    for k in 0..o.messages {
        ticker.tick().await;
        let Some((session, from)) = sessions.get(k % sessions.len()).cloned() else {
            break;
        };
        let client = client.clone();
        let url = format!("{base}/simulator/inbound");
        let channel_name = channel.name.clone();
        let sent = sent.clone();
        let request_times = request_times.clone();
        inflight.push(tokio::spawn(async move {
            let t = Instant::now();
            if let Ok(mut m) = sent.lock() {
                m.insert(session, t);
            }
            let r = client
                .post(url)
                .json(&json!({"channel": channel_name, "from": from, "text": format!("follow-up {k}")}))
                .send()
                .await?;
            anyhow::ensure!(r.status().is_success(), "inbound answered {}", r.status());
            let _ = r.bytes().await?;
            if let Ok(mut v) = request_times.lock() {
                v.push(micros(t.elapsed()));
            }
            anyhow::Ok(())
        }));
    }
    for t in inflight {
        t.await.context("message task")??;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let done = delays.lock().map(|d| d.len()).unwrap_or(0);
        if done >= o.messages || sent.lock().map(|m| m.is_empty()).unwrap_or(false) {
            break;
        }
        if Instant::now() > deadline {
            println!(
                "  (gave up waiting: {done} of {} events arrived)",
                o.messages
            );
            break;
        }
        let _ = tokio::time::timeout(Duration::from_millis(100), received.notified()).await;
    }
    let elapsed = start.elapsed();
    let request_times = request_times.lock().map(|v| v.clone()).unwrap_or_default();
    print_latencies("inbound request (durable, baseline)", request_times);
    let delays = delays.lock().map(|v| v.clone()).unwrap_or_default();
    println!(
        "  {:<40} {:>8.0} /s   ({} of {} events delivered)",
        "messages through to agents' streams",
        rate(delays.len(), elapsed),
        delays.len(),
        o.messages
    );
    print_latencies("customer message -> agent's SSE event", delays);

    for s in streams {
        s.abort();
    }
    let _ = stop_tx.send(true);
    let _ = srv_tx.send(());
    let _ = server.await;
    for w in workers {
        let _ = w.await;
    }
    store.close().await;
    Ok(())
}
