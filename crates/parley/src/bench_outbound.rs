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

use crate::bench::{micros, percentile, rate};

/// The HTTP sink: accepts every message and notes when it arrived.
#[derive(Default)]
pub(crate) struct Sink {
    received: AtomicUsize,
    latencies: Mutex<Vec<u64>>,
    /// Messages without a queueing time in their text: the recipient's digits and the arrival.
    arrivals: Mutex<Vec<(u64, i64)>>,
}

/// A form field's value as Twilio's API shape carries it (`+` for a space, `%2B` for a plus).
fn form_field<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    body.split('&').find_map(|kv| {
        kv.strip_prefix(name)
            .and_then(|rest| rest.strip_prefix('='))
    })
}

/// The digits of a phone number as a number (`+1 202 555 0100` is 12025550100), so arrivals
/// match recipients without keeping a string per message.
pub(crate) fn digits(number: &str) -> Option<u64> {
    let number = number.strip_prefix("%2B").unwrap_or(number);
    let d: String = number.chars().filter(char::is_ascii_digit).collect();
    d.parse().ok()
}

/// Accepts any message. The outbound bench's bodies carry the time their entry was queued, so the
/// sink measures queue-to-provider latency without reading the database; other messages (a
/// campaign's) are noted by recipient and arrival, for the bench to match with the database.
async fn accept(
    axum::extract::State(sink): axum::extract::State<Arc<Sink>>,
    body: String,
) -> (axum::http::StatusCode, String) {
    let n = sink.received.fetch_add(1, Ordering::Relaxed);
    let now = SystemClock.now().millis();
    let sent_at = form_field(&body, "Body")
        .and_then(|b| b.split("+at+").nth(1))
        .and_then(|t| t.parse::<i64>().ok());
    if let Some(t) = sent_at {
        let waited = u64::try_from(now - t).unwrap_or(0);
        sink.latencies.lock().await.push(waited);
    } else if let Some(to) = form_field(&body, "To").and_then(digits) {
        sink.arrivals.lock().await.push((to, now));
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
    /// Encryption at rest on, with a fresh random key.
    pub encrypt: bool,
}

/// The engine with the outbound tuning of `--runners`, `--batch` and `--calls`.
pub(crate) fn engine_config(runners: usize, batch: u32, calls: usize) -> EngineConfig {
    EngineConfig {
        outbound_runners: runners.max(1),
        outbound_batch: batch.max(1),
        outbound_concurrency: calls.max(1),
        ..EngineConfig::default()
    }
}

/// The sink the senders point at: an HTTP server in Twilio's API shape, or an in-process SMSC.
pub(crate) enum Target {
    Http { sink: Arc<Sink>, url: String },
    Smpp(crate::bench_smsc::Smsc),
}

impl Target {
    pub(crate) async fn start(via: Via) -> Result<Self> {
        Ok(match via {
            Via::Http => {
                let sink = Arc::new(Sink::default());
                let app = Router::new()
                    .route("/2010-04-01/Accounts/{sid}/Messages.json", post(accept))
                    .with_state(sink.clone());
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                let addr = listener.local_addr()?;
                tokio::spawn(async move { axum::serve(listener, app).await });
                Self::Http {
                    sink,
                    url: format!("http://{addr}"),
                }
            }
            Via::Smpp => Self::Smpp(crate::bench_smsc::start().await?),
        })
    }

    /// The senders' provider, settings and secrets.
    pub(crate) fn provider(
        &self,
        window: usize,
    ) -> (Provider, serde_json::Value, serde_json::Value) {
        match self {
            Self::Http { url, .. } => (
                Provider::Twilio,
                json!({"base_url": url}),
                json!({"account_sid": "AC00000000000000000000000000000000", "auth_token": "token"}),
            ),
            Self::Smpp(smsc) => (
                Provider::Smpp,
                json!({
                    "host": smsc.addr.ip().to_string(),
                    "port": smsc.addr.port(),
                    "window": window.max(1),
                }),
                json!({"system_id": "bench", "password": "bench"}),
            ),
        }
    }

    /// Messages the sink accepted.
    pub(crate) fn received(&self) -> usize {
        match self {
            Self::Http { sink, .. } => sink.received.load(Ordering::Relaxed),
            Self::Smpp(smsc) => smsc.stats.submitted.load(Ordering::Relaxed),
        }
    }

    /// Queue-to-sink waits (ms) of messages that carried their queueing time.
    pub(crate) async fn waits(&self) -> Vec<u64> {
        match self {
            Self::Http { sink, .. } => sink.latencies.lock().await.clone(),
            Self::Smpp(smsc) => smsc.stats.waits.lock().await.clone(),
        }
    }

    /// The other messages: recipient digits and arrival (millis), taken out of the sink.
    pub(crate) async fn take_arrivals(&self) -> Vec<(u64, i64)> {
        match self {
            Self::Http { sink, .. } => std::mem::take(&mut *sink.arrivals.lock().await),
            Self::Smpp(smsc) => std::mem::take(&mut *smsc.stats.arrivals.lock().await),
        }
    }

    /// Forgets what was received, between two measurements.
    pub(crate) async fn reset(&self) {
        match self {
            Self::Http { sink, .. } => {
                sink.received.store(0, Ordering::Relaxed);
                sink.latencies.lock().await.clear();
                sink.arrivals.lock().await.clear();
            }
            Self::Smpp(smsc) => {
                smsc.stats.submitted.store(0, Ordering::Relaxed);
                smsc.stats.waits.lock().await.clear();
                smsc.stats.arrivals.lock().await.clear();
            }
        }
    }

    /// The baseline: the sink alone, `messages` driven directly with `concurrency` in flight
    /// (HTTP requests with reqwest, or submits over one `parley-smpp` bind of `window`). Prints
    /// its line, forgets what it sent, and answers its rate.
    pub(crate) async fn baseline(
        &self,
        messages: usize,
        concurrency: usize,
        window: usize,
    ) -> Result<f64> {
        let concurrency = concurrency.max(1);
        let (label, what, elapsed, mut lat) = match self {
            Self::Http { url, .. } => {
                let (elapsed, lat) = baseline_http(url, messages, concurrency).await?;
                ("baseline: sink alone", "request to response", elapsed, lat)
            }
            Self::Smpp(smsc) => {
                let (elapsed, lat) = baseline_smpp(smsc, messages, concurrency, window).await?;
                (
                    "baseline: SMSC alone (one bind)",
                    "submit to submit_sm_resp",
                    elapsed,
                    lat,
                )
            }
        };
        lat.sort_unstable();
        let r = rate(messages, elapsed);
        println!(
            "  {label:<34} {r:>8.0} msg/s   {what} p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms",
            ms(percentile(&lat, 0.50)),
            ms(percentile(&lat, 0.90)),
            ms(percentile(&lat, 0.99)),
        );
        self.reset().await;
        Ok(r)
    }
}

pub async fn run(o: Options) -> Result<()> {
    let target = Target::start(o.via).await?;
    let customers = o.customers.clamp(1, o.messages.max(1));
    match o.via {
        Via::Http => println!(
            "outbound benchmark: {} SMS to {customers} customers through Twilio's API shape to a local HTTP sink ({} sender(s)), rate lifted to 10,000/s per sender",
            o.messages,
            o.senders.max(1)
        ),
        Via::Smpp => println!(
            "outbound benchmark: {} SMS to {customers} customers over SMPP (window {}, {} sender(s)) to an in-process SMSC, rate lifted to 10,000/s per sender",
            o.messages,
            o.window,
            o.senders.max(1)
        ),
    }
    target.baseline(o.messages, o.concurrency, o.window).await?;
    pipeline(&o, &target).await?;
    Ok(())
}

async fn baseline_smpp(
    smsc: &crate::bench_smsc::Smsc,
    messages: usize,
    concurrency: usize,
    window: usize,
) -> Result<(Duration, Vec<u64>)> {
    let mut config = parley_smpp::SmppConfig::new(
        smsc.addr.ip().to_string(),
        smsc.addr.port(),
        "bench".to_owned(),
        "bench".to_owned(),
    );
    config.window = window.max(1);
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
    Ok((elapsed, lat))
}

async fn baseline_http(
    sink_url: &str,
    messages: usize,
    concurrency: usize,
) -> Result<(Duration, Vec<u64>)> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let url =
        format!("{sink_url}/2010-04-01/Accounts/AC00000000000000000000000000000000/Messages.json");
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
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
    Ok((start.elapsed(), lat))
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

/// `senders` SMS channels in the US pointed at `target`, rate lifted to 10,000/s each.
pub(crate) async fn create_senders(
    store: &Store,
    senders: usize,
    target: &Target,
    window: usize,
    now: parley_core::Timestamp,
) -> Result<Vec<Channel>> {
    let (provider, settings, secrets) = target.provider(window);
    let mut channels = Vec::new();
    for i in 0..senders.max(1) {
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
                now,
            )
            .await?;
        // Sender limits' cost: `PARLEY_BENCH_SENDER_LIMITS` (a limit configuration as JSON, for
        // instance `{"daily_cap": 1000000000, "action": "refuse"}`) makes every send pass the
        // limits' gate and its batch write the sender's usage (docs/benchmarks.md).
        let channel = match std::env::var("PARLEY_BENCH_SENDER_LIMITS") {
            Ok(config) if !config.is_empty() => {
                let config: serde_json::Value = serde_json::from_str(&config)?;
                store.set_sender_limits(channel.id, &config, now).await?;
                store.channel(channel.id).await?
            }
            _ => channel,
        };
        channels.push(channel);
    }
    Ok(channels)
}

/// The measured run: the outbox as the pipelines leave it (customers with sessions, queued
/// entries, send jobs), then the engine's workers until the queue is empty. Prints its line and
/// answers the pipeline's rate.
pub(crate) async fn pipeline(o: &Options, target: &Target) -> Result<f64> {
    let messages = o.messages;
    let customers = o.customers.clamp(1, messages.max(1));
    let dir = tempfile::tempdir()?;
    let url = o
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let store = Store::connect(&url, &StoreOptions::default()).await?;
    store.migrate().await?;
    crate::bench::encrypt_if(&store, o.encrypt).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let channels: Vec<_> = create_senders(&store, o.senders, target, o.window, clock.now())
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect();

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
        engine_config(o.runners, o.batch, o.calls),
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
    let mut lat = target.waits().await;
    lat.sort_unstable();
    let r = rate(messages, elapsed);
    println!(
        "  {:<34} {:>8.0} msg/s   queued to provider p50 {} ms, p90 {} ms, p99 {} ms ({} accepted by the sink, {} dead; {:?})",
        "outbound pipeline to the sink",
        r,
        percentile(&lat, 0.50),
        percentile(&lat, 0.90),
        percentile(&lat, 0.99),
        target.received(),
        counts.dead,
        store.kind(),
    );
    store.close().await;
    target.reset().await;
    Ok(r)
}
