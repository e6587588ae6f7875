//! `parley bench outbound`: messages through the whole outbound pipeline (outbox job, batched
//! reads, consent and length checks, rate limiter, provider request, the provider's answer, the
//! batch's status commit) to a local sink that accepts everything, with the senders' rate lifted
//! to its maximum (10,000 messages per second per sender).
//!
//! `--via http` (default): Twilio's Messages API shape over HTTP to an axum sink. `--via smpp`:
//! submit_sm over SMPP binds to the in-process SMSC of [`crate::bench_smsc`]. The baseline is the
//! same sink driven directly (reqwest, or a `parley-smpp` bind) with the same concurrency, in the
//! same run. `--database-url` measures PostgreSQL instead of a fresh SQLite file.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::Router;
use axum::routing::post;
use parley_core::model::*;
use parley_core::{Clock, SystemClock, new_id};
use parley_engine::{Engine, EngineConfig, EventBus};
use parley_store::*;
use serde_json::json;
use tokio::sync::Mutex;

use crate::bench::{percentile, rate};

#[derive(Default)]
struct Sink {
    received: AtomicUsize,
    latencies: Mutex<Vec<u64>>,
}

/// Accepts any message; the body carries the time its entry was queued, so the sink measures
/// queue-to-provider latency without reading the database.
async fn accept(
    axum::extract::State(sink): axum::extract::State<Arc<Sink>>,
    body: String,
) -> (axum::http::StatusCode, String) {
    let n = sink.received.fetch_add(1, Ordering::Relaxed);
    let sent_at = body
        .split('&')
        .find_map(|kv| kv.strip_prefix("Body="))
        .and_then(|b| b.split("+at+").nth(1))
        .and_then(|t| t.parse::<i64>().ok());
    if let Some(t) = sent_at {
        let waited = u64::try_from(SystemClock.now().millis() - t).unwrap_or(0);
        sink.latencies.lock().await.push(waited);
    }
    (
        axum::http::StatusCode::CREATED,
        format!(
            r#"{{"sid":"SM{n:032x}","status":"queued","error_code":null,"error_message":null}}"#
        ),
    )
}

/// How the dispatcher reaches the sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Via {
    Http,
    Smpp,
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    pub messages: usize,
    pub customers: usize,
    /// Requests in flight for the baseline (HTTP), or submits in flight over the bind (SMPP).
    pub concurrency: usize,
    pub via: Via,
    /// Channels the messages are spread over (each its own rate limiter and, over SMPP, bind).
    pub senders: usize,
    /// The SMPP window of each bind.
    pub window: usize,
    /// Database to measure; default a fresh SQLite file in a temporary directory.
    pub database_url: Option<String>,
    /// The engine's outbound tuning (runners, jobs per batch, provider calls in flight).
    pub runners: usize,
    pub batch: u32,
    pub calls: usize,
}

pub async fn run(o: Options) -> Result<()> {
    match o.via {
        Via::Http => run_http(o).await,
        Via::Smpp => run_smpp(o).await,
    }
}

async fn run_smpp(o: Options) -> Result<()> {
    let (messages, concurrency) = (o.messages, o.concurrency.max(1));
    let smsc = crate::bench_smsc::start().await?;
    println!(
        "outbound benchmark: {messages} SMS to {} customers over SMPP (window {}, {} sender(s)) to an in-process SMSC, rate lifted to 10,000/s per sender",
        o.customers.clamp(1, messages.max(1)),
        o.window,
        o.senders.max(1)
    );

    // Baseline: the SMSC alone, driven through one parley-smpp bind, `concurrency` submits at
    // once (bounded by the window).
    let mut config = parley_smpp::SmppConfig::new(
        smsc.addr.ip().to_string(),
        smsc.addr.port(),
        "bench".to_owned(),
        "bench".to_owned(),
    );
    config.window = o.window.max(1);
    let (client, _inbound) = parley_smpp::SmppClient::connect(config)
        .await
        .context("binding to the bench SMSC")?;
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, next) = (client.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < messages {
                let message = parley_engine::outbound::smpp_link::build_message(
                    "+14155550100",
                    "+14156660000",
                    "Your order ships today",
                    0,
                )
                .map_err(anyhow::Error::msg)?;
                let t = Instant::now();
                for r in client.submit(&message).await {
                    r.map_err(|e| anyhow::anyhow!("baseline submit: {e}"))?;
                }
                latencies.push(micros(t.elapsed()));
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut lat = Vec::with_capacity(messages);
    for t in tasks {
        lat.extend(t.await.context("baseline task")??);
    }
    let elapsed = start.elapsed();
    client.close().await;
    lat.sort_unstable();
    println!(
        "  {:<34} {:>8.0} msg/s   submit to submit_sm_resp p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms",
        "baseline: SMSC alone (one bind)",
        rate(messages, elapsed),
        ms(percentile(&lat, 0.50)),
        ms(percentile(&lat, 0.90)),
        ms(percentile(&lat, 0.99)),
    );
    smsc.stats.submitted.store(0, Ordering::Relaxed);
    smsc.stats.waits.lock().await.clear();

    let settings = json!({
        "host": smsc.addr.ip().to_string(),
        "port": smsc.addr.port(),
        "window": o.window.max(1),
    });
    let secrets = json!({"system_id": "bench", "password": "bench"});
    let received = || smsc.stats.submitted.load(Ordering::Relaxed);
    let waits = || async { smsc.stats.waits.lock().await.clone() };
    pipeline(&o, Provider::Smpp, settings, secrets, received, waits).await
}

async fn run_http(o: Options) -> Result<()> {
    let (messages, concurrency) = (o.messages, o.concurrency);

    let sink = Arc::new(Sink::default());
    let app = Router::new()
        .route("/2010-04-01/Accounts/{sid}/Messages.json", post(accept))
        .with_state(sink.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    let sink_url = format!("http://{addr}");
    println!(
        "outbound benchmark: {messages} SMS to {} customers through Twilio's API shape to a local HTTP sink ({} sender(s)), rate lifted to 10,000/s per sender",
        o.customers.clamp(1, messages.max(1)),
        o.senders.max(1)
    );

    // Baseline: the sink alone, driven directly.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let url =
        format!("{sink_url}/2010-04-01/Accounts/AC00000000000000000000000000000000/Messages.json");
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (client, url, next) = (client.clone(), url.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < messages {
                let t = Instant::now();
                client
                    .post(&url)
                    .body("Body=baseline")
                    .send()
                    .await?
                    .bytes()
                    .await?;
                latencies.push(micros(t.elapsed()));
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut lat = Vec::with_capacity(messages);
    for t in tasks {
        lat.extend(t.await.context("baseline task")??);
    }
    let elapsed = start.elapsed();
    lat.sort_unstable();
    println!(
        "  {:<34} {:>8.0} msg/s   request to response p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms",
        "baseline: sink alone",
        rate(messages, elapsed),
        ms(percentile(&lat, 0.50)),
        ms(percentile(&lat, 0.90)),
        ms(percentile(&lat, 0.99)),
    );
    sink.received.store(0, Ordering::Relaxed);
    sink.latencies.lock().await.clear();

    let settings = json!({"base_url": sink_url});
    let secrets =
        json!({"account_sid": "AC00000000000000000000000000000000", "auth_token": "token"});
    let received = || sink.received.load(Ordering::Relaxed);
    let waits = || async { sink.latencies.lock().await.clone() };
    pipeline(&o, Provider::Twilio, settings, secrets, received, waits).await
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

/// The measured run: the outbox as the pipelines leave it (customers with sessions, queued
/// entries, send jobs), then the engine's workers until the queue is empty.
async fn pipeline<R, W, F>(
    o: &Options,
    provider: Provider,
    settings: serde_json::Value,
    secrets: serde_json::Value,
    received: R,
    waits: W,
) -> Result<()>
where
    R: Fn() -> usize,
    W: Fn() -> F,
    F: std::future::Future<Output = Vec<u64>>,
{
    let messages = o.messages;
    let customers = o.customers.clamp(1, messages.max(1));
    let dir = tempfile::tempdir()?;
    let url = o
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let store = Store::connect(&url, &StoreOptions::default()).await?;
    store.migrate().await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut channels = Vec::new();
    for i in 0..o.senders.max(1) {
        let channel = store
            .create_channel(
                &ChannelSpec {
                    name: format!("Bench sender {i} {}", new_id().simple()),
                    kind: ChannelKind::Sms,
                    provider: provider.clone(),
                    address: format!("+1415555{:04}", 100 + i),
                    number_type: Some(NumberType::TollFree),
                    provider_keyword: None,
                    country: Some("US".into()),
                    consent_level: ConsentLevel::Implicit,
                    queue_id: None,
                    throughput_mps: Some(10_000),
                    settings: settings.clone(),
                    secrets: secrets.clone(),
                },
                clock.now(),
            )
            .await?;
        channels.push(channel.id);
    }

    let now = clock.now();
    let mut writes = Vec::new();
    let mut sessions = Vec::with_capacity(customers);
    for c in 0..customers {
        let channel_id = channels
            .get(c % channels.len())
            .copied()
            .unwrap_or_default();
        let user = new_id();
        let session = Session {
            id: new_id(),
            conversation_id: new_id(),
            channel_id,
            messaging_user_id: user,
            status: SessionStatus::Active,
            context: SessionContext::Service,
            owner_kind: None,
            owner_id: None,
            queue_id: None,
            case_id: None,
            error_reason: None,
            agent_messages: 0,
            customer_messages: 1,
            started_at: now,
            accepted_at: Some(now),
            ended_at: None,
            last_customer_at: Some(now),
            last_agent_at: None,
            initiated_by: Actor::Customer,
            status_since: now,
            pending_inquiry: false,
            session_opt_in: false,
            end_reason: None,
            ended_by: None,
            updated_at: now,
        };
        writes.push(InboundWrite {
            user: Some(UserInsert {
                id: user,
                channel_id,
                platform_key: format!("+1415666{:04}", c % 10_000),
                name: String::new(),
                locale: None,
                consent_status: Some(ConsentStatus::ImplicitlyOptedIn),
                contact_id: None,
            }),
            sessions: vec![session.clone()],
            ..InboundWrite::default()
        });
        sessions.push(session.id);
    }
    for chunk in writes.chunks(500) {
        store.commit_inbound(chunk, &[], "", now).await?;
    }
    let mut writes = Vec::new();
    let created = clock.now();
    for i in 0..messages {
        let session_id = sessions.get(i % customers).copied().unwrap_or_default();
        let entry = parley_engine::outbound::auto_response_entry(
            session_id,
            format!("Your order ships today at {}", created.millis()),
            created,
        );
        let job = parley_engine::outbound::send_job(
            entry.id,
            parley_core::consent::SendPurpose::Conversation {
                session_opt_in: false,
            },
            parley_engine::outbound::REPLY_PRIORITY,
            created,
        );
        writes.push(InboundWrite {
            entries: vec![entry],
            jobs: vec![job],
            ..InboundWrite::default()
        });
    }
    for chunk in writes.chunks(1000) {
        store.commit_inbound(chunk, &[], "", created).await?;
    }

    let engine = Engine::new(
        store.clone(),
        clock,
        EventBus::default(),
        EngineConfig {
            outbound_runners: o.runners.max(1),
            outbound_batch: o.batch.max(1),
            outbound_concurrency: o.calls.max(1),
            ..EngineConfig::default()
        },
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let start = Instant::now();
    let workers = engine.spawn_workers(stop_rx);
    let deadline = Instant::now() + Duration::from_secs(900);
    // Done when no job is ready or running. An existence check, not a count or a MIN: both
    // scan the whole ready backlog on every poll and took a good share of a core from the
    // pipeline being measured.
    loop {
        if !store
            .has_pending_jobs(parley_engine::outbound::QUEUE)
            .await?
        {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "outbound not drained");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let elapsed = start.elapsed();
    let _ = stop_tx.send(true);
    for w in workers {
        let _ = w.await;
    }
    engine.outbound.smpp_links().close_all().await;
    let counts = store.queue_counts(parley_engine::outbound::QUEUE).await?;
    let mut lat = waits().await;
    lat.sort_unstable();
    println!(
        "  {:<34} {:>8.0} msg/s   queued to provider p50 {} ms, p90 {} ms, p99 {} ms ({} accepted by the sink, {} dead; {:?})",
        "outbound pipeline to the sink",
        rate(messages, elapsed),
        percentile(&lat, 0.50),
        percentile(&lat, 0.90),
        percentile(&lat, 0.99),
        received(),
        counts.dead,
        store.kind(),
    );
    store.close().await;
    Ok(())
}
