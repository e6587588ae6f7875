//! `parley bench widget`: the web chat widget at scale against one real node.
//!
//! The server is `parley serve` in a child process (this binary), so its memory can be read from
//! `/proc/<pid>/status` apart from the load generator's, and so that the 10,000 client sockets
//! and the 10,000 server sockets do not share one process's open-file limit.
//!
//! 1. A fresh database gets a queue, a web channel, its deployment and one agent with a console
//!    login; the server starts on it with the connection caps raised.
//! 2. `--visitors` visitors are created through `POST /widget/v1/deployments/{name}/visitors`,
//!    from many loopback source addresses (127.0.x.y) because the widget allows 60 new visitors a
//!    minute per client address.
//! 3. Every visitor opens `GET /widget/v1/events`; the server's resident memory before and after
//!    gives the memory per connection.
//! 4. The agent opens the console stream and goes available; `--messages` of the visitors write a
//!    first message, and the agent accepts each offer (not measured).
//! 5. Measured: those visitors write again at `--rate`; the agent, on each message's `entry` event
//!    on its console stream, answers through the console API; the round trip is from the
//!    visitor's request leaving to the reply's `entry` event arriving on the visitor's stream.
//!    Baselines in the same run, with every stream open: the server's `/healthz`, and the
//!    visitor's message request alone.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use parley_core::model::{AgentRole, ChannelKind, ConsentLevel, Provider, RoutingModel};
use parley_core::web::{Branding, OriginPattern, Prechat, WebDeploymentSpec, WidgetSettings};
use parley_core::{Clock, SystemClock};
use parley_store::{AgentSpec, ChannelSpec, QueueSpec, Store, StoreOptions};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::bench::{micros, print_latencies, rate};

pub struct Options {
    pub visitors: usize,
    pub messages: usize,
    pub rate: usize,
    pub database_url: Option<String>,
}

const ORIGIN: &str = "https://shop.bench.test";
const DEPLOYMENT: &str = "bench";
/// New visitors one source address may create a minute (the widget's limit is 60).
const VISITORS_PER_ADDRESS: usize = 50;
const CSRF: &str = "bench-csrf";

/// The `i`th loopback source address, skipping 127.0.0.1 (the agent's and the baseline's).
fn source(i: usize) -> IpAddr {
    let n = u32::try_from(i + 2).unwrap_or(u32::MAX);
    IpAddr::V4(Ipv4Addr::new(
        127,
        ((n >> 16) & 0xff) as u8,
        ((n >> 8) & 0xff) as u8,
        (n & 0xff) as u8,
    ))
}

/// The server's resident set, in KiB.
fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .context("reading the server's /proc status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS in /proc status")
}

fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// Splits a buffer of SSE text into whole events (`event`, `data`), keeping the partial rest.
fn take_events(buf: &mut String) -> Vec<(String, String)> {
    let mut out = Vec::new();
    while let Some(end) = buf.find("\n\n") {
        let block: String = buf.drain(..end + 2).collect();
        let (mut event, mut data) = (String::new(), String::new());
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                event = v.trim().to_owned();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.trim_start());
            }
        }
        if !event.is_empty() {
            out.push((event, data));
        }
    }
    out
}

/// The spawned node, stopped however the run ends.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Visitor {
    token: String,
    client: reqwest::Client,
}

/// When each measured visitor's message left, by visitor index; the reply's arrival removes it.
type Sent = Arc<Mutex<HashMap<usize, Instant>>>;

pub async fn run(o: Options) -> Result<()> {
    crate::raise_descriptor_limit();
    let dir = tempfile::tempdir()?;
    let url = o
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let backend = if url.starts_with("postgres") {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let clock = SystemClock;
    let now = clock.now();
    let agent_token = format!("bench-agent-{}", Uuid::now_v7());
    {
        let store = Store::connect(&url, &StoreOptions::default()).await?;
        store.migrate().await?;
        let queue = store
            .create_queue(
                &QueueSpec {
                    name: "Web".into(),
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
                    name: "Bench web".into(),
                    kind: ChannelKind::Web,
                    provider: Provider::Web,
                    address: DEPLOYMENT.into(),
                    number_type: None,
                    provider_keyword: None,
                    country: None,
                    consent_level: ConsentLevel::Implicit,
                    queue_id: Some(queue.id),
                    throughput_mps: None,
                    settings: json!({}),
                    secrets: json!({}),
                },
                now,
            )
            .await?;
        store
            .create_web_deployment(
                &WebDeploymentSpec {
                    name: DEPLOYMENT.into(),
                    channel_id: channel.id,
                    origins: vec![OriginPattern::parse(ORIGIN)?],
                    language: "en".into(),
                    branding: Branding::default(),
                    settings: WidgetSettings::default(),
                    prechat: Prechat::default(),
                    keyset_id: None,
                },
                now,
            )
            .await?;
        let agent = store
            .create_agent(
                &AgentSpec {
                    name: "Bench agent".into(),
                    email: "agent@bench.test".into(),
                    role: AgentRole::Agent,
                    capacity: i64::try_from(o.messages).unwrap_or(i64::MAX) + 10,
                    queue_ids: vec![queue.id],
                    skills: vec![],
                },
                now,
            )
            .await?;
        store
            .create_console_login(
                &parley_server::auth::hash_token(&agent_token),
                agent.id,
                CSRF,
                now,
                now.plus(Duration::from_secs(3600)),
            )
            .await?;
        store.close().await;
    }

    // 1. The node.
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let log = dir.path().join("server.log");
    let mut server = std::process::Command::new(std::env::current_exe()?)
        .arg("serve")
        .env_remove("PARLEY_CONFIG")
        .env("PARLEY_DATABASE_URL", &url)
        .env("PARLEY_LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "PARLEY_HTTP_MAX_CONNECTIONS",
            (o.visitors + 2_000).to_string(),
        )
        .env(
            "PARLEY_HTTP_MAX_CONNECTIONS_PER_ADDRESS",
            (o.visitors + 2_000).to_string(),
        )
        .env("PARLEY_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log)?)
        .spawn()
        .map(Server)
        .context("starting parley serve")?;
    let pid = server.0.id();
    let plain = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = plain.get(format!("{base}/healthz")).send().await
            && r.status().is_success()
        {
            break;
        }
        if let Some(status) = server.0.try_wait()? {
            anyhow::bail!(
                "the server exited ({status}): {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        anyhow::ensure!(Instant::now() < deadline, "the server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let addresses = o.visitors.div_ceil(VISITORS_PER_ADDRESS).max(1);
    println!(
        "parley bench widget: {} visitors ({} source addresses), {} messages at {}/s ({backend}, server pid {pid})",
        o.visitors, addresses, o.messages, o.rate
    );
    let rss_start = rss_kib(pid)?;

    // 2. Visitors.
    let clients: Vec<reqwest::Client> = (0..addresses)
        .map(|i| {
            reqwest::Client::builder()
                .local_address(source(i))
                .pool_max_idle_per_host(8)
                .build()
        })
        .collect::<Result<_, _>>()?;
    let start = Instant::now();
    let sem = Arc::new(Semaphore::new(64));
    let mut tasks = Vec::with_capacity(o.visitors);
    for i in 0..o.visitors {
        let client = clients
            .get(i % addresses)
            .context("a client per source address")?
            .clone();
        let sem = sem.clone();
        let url = format!("{base}/widget/v1/deployments/{DEPLOYMENT}/visitors");
        tasks.push(tokio::spawn(async move {
            let _permit = sem.acquire().await?;
            let r = client
                .post(url)
                .header("origin", ORIGIN)
                .json(&json!({}))
                .send()
                .await?;
            let status = r.status();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            anyhow::ensure!(status.is_success(), "new visitor: {status} {body}");
            let token = body
                .get("visitor_token")
                .and_then(Value::as_str)
                .context("no visitor_token")?
                .to_owned();
            anyhow::Ok(Visitor { token, client })
        }));
    }
    let mut visitors = Vec::with_capacity(o.visitors);
    for t in tasks {
        visitors.push(t.await.context("visitor task")??);
    }
    println!(
        "  {:<44} {:>8.0} /s   ({} in {:.1} s)",
        "visitors created (POST .../visitors)",
        rate(o.visitors, start.elapsed()),
        o.visitors,
        start.elapsed().as_secs_f64()
    );
    let rss_before = rss_kib(pid)?;

    // 3. Every visitor's stream.
    let sent: Sent = Arc::new(Mutex::new(HashMap::new()));
    let round_trips: Arc<Mutex<Vec<u64>>> = Arc::new(Mutex::new(Vec::new()));
    let replied = Arc::new(tokio::sync::Notify::new());
    let opened = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut streams = Vec::with_capacity(o.visitors);
    let open_sem = Arc::new(Semaphore::new(128));
    for (i, v) in visitors.iter().enumerate() {
        let client = v.client.clone();
        let token = v.token.clone();
        let url = format!("{base}/widget/v1/events");
        let (sent, round_trips, replied, opened, open_sem) = (
            sent.clone(),
            round_trips.clone(),
            replied.clone(),
            opened.clone(),
            open_sem.clone(),
        );
        streams.push(tokio::spawn(async move {
            let permit = open_sem.acquire().await?;
            let mut r = client
                .get(url)
                .header("origin", ORIGIN)
                .header("authorization", format!("Bearer {token}"))
                .header("accept", "text/event-stream")
                .send()
                .await?;
            anyhow::ensure!(r.status().is_success(), "stream answered {}", r.status());
            opened.fetch_add(1, Ordering::Relaxed);
            drop(permit);
            let mut buf = String::new();
            while let Some(chunk) = r.chunk().await? {
                buf.push_str(&String::from_utf8_lossy(&chunk));
                for (event, data) in take_events(&mut buf) {
                    if event != "entry" || !data.contains("\"agent\"") {
                        continue;
                    }
                    let at = sent.lock().ok().and_then(|mut m| m.remove(&i));
                    if let Some(at) = at {
                        if let Ok(mut d) = round_trips.lock() {
                            d.push(micros(at.elapsed()));
                        }
                        replied.notify_one();
                    }
                }
            }
            anyhow::Ok(())
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(180);
    while opened.load(Ordering::Relaxed) < o.visitors {
        if let Some(failed) = streams
            .iter()
            .position(tokio::task::JoinHandle::is_finished)
        {
            let t = streams.swap_remove(failed);
            let outcome = t.await;
            anyhow::bail!("a visitor's stream ended early: {outcome:?}");
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {} of {} streams opened",
            opened.load(Ordering::Relaxed),
            o.visitors
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let opening = start.elapsed();
    // Let the server settle (buffers allocated on the first keep-alive) before reading memory.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = rss_kib(pid)?;
    println!(
        "  {:<44} {:>8.0} /s   ({} open in {:.1} s)",
        "visitor streams opened (GET /widget/v1/events)",
        rate(o.visitors, opening),
        o.visitors,
        opening.as_secs_f64()
    );
    println!(
        "  server memory (VmRSS)                        start {:.1} MiB, {} visitors {:.1} MiB, {} streams {:.1} MiB: {:.1} KiB per stream",
        rss_start as f64 / 1024.0,
        o.visitors,
        rss_before as f64 / 1024.0,
        o.visitors,
        rss_after as f64 / 1024.0,
        rss_after.saturating_sub(rss_before) as f64 / o.visitors.max(1) as f64
    );

    // Baseline: the trivial endpoint with every stream open.
    let mut health = Vec::with_capacity(1_000);
    for _ in 0..1_000 {
        let t = Instant::now();
        let r = plain.get(format!("{base}/healthz")).send().await?;
        let _ = r.bytes().await?;
        health.push(micros(t.elapsed()));
    }
    print_latencies("baseline: GET /healthz", health);

    // 4. The agent: console stream, available, accepts each first message's offer.
    let cookie = format!(
        "{}={agent_token}",
        parley_server::console::auth::COOKIE_NAME
    );
    let agent = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let mut console = agent
        .get(format!("{base}/api/v1/events"))
        .header("cookie", &cookie)
        .send()
        .await?;
    anyhow::ensure!(
        console.status().is_success(),
        "console stream answered {}",
        console.status()
    );
    let r = agent
        .put(format!("{base}/api/v1/me/presence"))
        .header("cookie", &cookie)
        .header("x-csrf-token", CSRF)
        .json(&json!({"presence": "available"}))
        .send()
        .await?;
    anyhow::ensure!(r.status().is_success(), "presence: {}", r.status());
    let measured: Vec<usize> = (0..o.messages.min(o.visitors)).collect();
    let start = Instant::now();
    for &i in &measured {
        let v = visitors.get(i).context("a measured visitor")?;
        let r = v
            .client
            .post(format!("{base}/widget/v1/messages"))
            .header("origin", ORIGIN)
            .header("authorization", format!("Bearer {}", v.token))
            .json(
                &json!({"client_message_id": Uuid::now_v7(), "text": format!("hello {i}"),
                "page_url": "https://shop.bench.test/cart"}),
            )
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "first message: {}", r.status());
    }
    // Accept every offer as it comes; the accepted item's first message names the visitor. An
    // offer whose event does not come within a few seconds is picked up from `/me/work` (counted:
    // the console stream should have told).
    let mut session_of: HashMap<Uuid, usize> = HashMap::new();
    let mut offered: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut buf = String::new();
    let mut accepts = Vec::new();
    let mut from_work = 0usize;
    let accept_sem = Arc::new(Semaphore::new(16));
    let deadline = Instant::now() + Duration::from_secs(180);
    while accepts.len() < measured.len() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "offers stopped coming ({} of {} accepted)",
            accepts.len(),
            measured.len()
        );
        let mut sessions = Vec::new();
        match tokio::time::timeout(Duration::from_secs(3), console.chunk()).await {
            Ok(chunk) => {
                let chunk = chunk?.context("the console stream ended")?;
                buf.push_str(&String::from_utf8_lossy(&chunk));
                for (event, data) in take_events(&mut buf) {
                    if event == "resync" {
                        eprintln!("  (the console stream asked for a resync)");
                    }
                    if event != "offer" {
                        continue;
                    }
                    let v: Value = serde_json::from_str(&data)?;
                    if let Some(session) = v.get("session_id").and_then(Value::as_str) {
                        sessions.push(session.to_owned());
                    }
                }
            }
            Err(_) => {
                let work: Value = agent
                    .get(format!("{base}/api/v1/me/work"))
                    .header("cookie", &cookie)
                    .send()
                    .await?
                    .json()
                    .await?;
                for o in work
                    .get("offers")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(session) = o.pointer("/session/id").and_then(Value::as_str)
                        && !offered.contains(session)
                    {
                        from_work += 1;
                        sessions.push(session.to_owned());
                    }
                }
            }
        }
        for session in sessions {
            if !offered.insert(session.clone()) {
                continue;
            }
            let url = format!("{base}/api/v1/sessions/{session}/accept");
            let (agent, cookie, sem) = (agent.clone(), cookie.clone(), accept_sem.clone());
            accepts.push(tokio::spawn(async move {
                let _p = sem.acquire().await?;
                let r = agent
                    .post(url)
                    .header("cookie", cookie)
                    .header("x-csrf-token", CSRF)
                    .send()
                    .await?;
                anyhow::ensure!(r.status().is_success(), "accept: {}", r.status());
                let item: Value = r.json().await?;
                let id: Uuid = item
                    .pointer("/session/id")
                    .and_then(Value::as_str)
                    .context("no session id")?
                    .parse()?;
                let idx: usize = item
                    .get("first_message")
                    .and_then(Value::as_str)
                    .and_then(|m| m.strip_prefix("hello "))
                    .context("no first message")?
                    .parse()?;
                anyhow::Ok((id, idx))
            }));
        }
    }
    for a in accepts {
        let (id, idx) = a.await.context("accept task")??;
        session_of.insert(id, idx);
    }
    if from_work > 0 {
        println!("  ({from_work} offers had no offer event within 3 s; found in /me/work)");
    }
    println!(
        "  {:<44} {:>8.0} /s   ({} sessions active)",
        "first messages routed and accepted",
        rate(session_of.len(), start.elapsed()),
        session_of.len()
    );

    // 5. Measured: visitors write, the agent answers what its stream shows.
    let seen: Arc<Mutex<Vec<u64>>> = Arc::new(Mutex::new(Vec::new()));
    let reply_task = {
        let (agent, cookie, sent, seen) =
            (agent.clone(), cookie.clone(), sent.clone(), seen.clone());
        let base = base.clone();
        tokio::spawn(async move {
            let mut buf = String::new();
            let mut replies = Vec::new();
            while let Some(chunk) = console.chunk().await? {
                buf.push_str(&String::from_utf8_lossy(&chunk));
                for (event, data) in take_events(&mut buf) {
                    if event != "entry" || !data.contains("\"inbound\"") {
                        continue;
                    }
                    let v: Value = serde_json::from_str(&data)?;
                    let Some(session) = v
                        .get("session_id")
                        .and_then(Value::as_str)
                        .and_then(|s| s.parse::<Uuid>().ok())
                    else {
                        continue;
                    };
                    let Some(&idx) = session_of.get(&session) else {
                        continue;
                    };
                    let at = sent.lock().ok().and_then(|m| m.get(&idx).copied());
                    let Some(at) = at else { continue };
                    if let Ok(mut s) = seen.lock() {
                        s.push(micros(at.elapsed()));
                    }
                    let (agent, cookie) = (agent.clone(), cookie.clone());
                    let url = format!("{base}/api/v1/sessions/{session}/messages");
                    replies.push(tokio::spawn(async move {
                        let r = agent
                            .post(url)
                            .header("cookie", cookie)
                            .header("x-csrf-token", CSRF)
                            .json(&json!({"body": format!("reply {idx}")}))
                            .send()
                            .await?;
                        anyhow::ensure!(r.status().is_success(), "reply: {}", r.status());
                        anyhow::Ok(())
                    }));
                }
            }
            anyhow::Ok(())
        })
    };
    let interval = Duration::from_secs_f64(1.0 / o.rate.max(1) as f64);
    let mut ticker = tokio::time::interval(interval);
    let request_times: Arc<Mutex<Vec<u64>>> = Arc::new(Mutex::new(Vec::new()));
    let mut inflight = Vec::with_capacity(measured.len());
    let start = Instant::now();
    for &i in &measured {
        ticker.tick().await;
        let v = visitors.get(i).context("a measured visitor")?;
        let (client, token) = (v.client.clone(), v.token.clone());
        let (sent, request_times) = (sent.clone(), request_times.clone());
        let url = format!("{base}/widget/v1/messages");
        inflight.push(tokio::spawn(async move {
            let t = Instant::now();
            if let Ok(mut m) = sent.lock() {
                m.insert(i, t);
            }
            let r = client
                .post(url)
                .header("origin", ORIGIN)
                .header("authorization", format!("Bearer {token}"))
                .json(&json!({"client_message_id": Uuid::now_v7(), "text": format!("where is order {i}?")}))
                .send()
                .await?;
            anyhow::ensure!(r.status().is_success(), "message: {}", r.status());
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
        let done = round_trips.lock().map(|d| d.len()).unwrap_or(0);
        if done >= measured.len() {
            break;
        }
        if Instant::now() > deadline || reply_task.is_finished() {
            println!(
                "  (gave up waiting: {done} of {} replies arrived)",
                measured.len()
            );
            break;
        }
        let _ = tokio::time::timeout(Duration::from_millis(100), replied.notified()).await;
    }
    let elapsed = start.elapsed();
    print_latencies(
        "visitor message request (baseline)",
        request_times.lock().map(|v| v.clone()).unwrap_or_default(),
    );
    print_latencies(
        "visitor message -> agent's console event",
        seen.lock().map(|v| v.clone()).unwrap_or_default(),
    );
    let trips = round_trips.lock().map(|v| v.clone()).unwrap_or_default();
    println!(
        "  {:<44} {:>8.0} /s   ({} of {} round trips)",
        "round trips completed",
        rate(trips.len(), elapsed),
        trips.len(),
        measured.len()
    );
    print_latencies("visitor -> agent -> reply on visitor's stream", trips);
    println!(
        "  server memory at the end (VmRSS)             {:.1} MiB",
        rss_kib(pid)? as f64 / 1024.0
    );

    reply_task.abort();
    for s in streams {
        s.abort();
    }
    drop(server);
    Ok(())
}
