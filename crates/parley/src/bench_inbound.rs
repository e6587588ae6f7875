//! `parley bench inbound`: signed Twilio webhooks over loopback at a real server (the same
//! router, workers and SQLite settings as `parley serve`), measured three ways in one run:
//! the server's `/healthz` as the baseline, a closed-loop saturation run (messages per second until
//! every message is fully processed and committed), and an open-loop run at half that rate for the
//! webhook latency a provider sees (the time to make the event durable).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use parley_channels::twilio::{SignatureAlgorithm, compute_signature};
use parley_core::model::{ChannelKind, ConsentLevel, NumberType, Provider};
use parley_core::{Clock, SystemClock};
use parley_engine::{Engine, EngineConfig, EventBus};
use parley_server::{AppState, ServerConfig};
use parley_store::{ChannelSpec, Store, StoreOptions};
use serde_json::json;

use crate::bench::{micros, percentile, rate};

const TOKEN: &str = "bench-auth-token";

struct Target {
    client: reqwest::Client,
    url: String,
    health: String,
}

impl Target {
    fn form(&self, n: usize, customers: usize) -> (String, String) {
        let from = format!("+1415555{:04}", n % customers.max(1) % 10_000);
        let sid = format!("SM{n:032x}");
        let params: Vec<(String, String)> = vec![
            (
                "AccountSid".into(),
                "AC00000000000000000000000000000000".into(),
            ),
            ("Body".into(), "Where is my order?".into()),
            ("From".into(), from),
            ("MessageSid".into(), sid),
            ("NumMedia".into(), "0".into()),
            ("To".into(), "+14155550100".into()),
        ];
        let signature = compute_signature(TOKEN, &self.url, &params, SignatureAlgorithm::HmacSha1);
        let body = params
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    v.replace('+', "%2B").replace(' ', "+").replace('?', "%3F")
                )
            })
            .collect::<Vec<_>>()
            .join("&");
        (body, signature)
    }

    async fn post(&self, n: usize, customers: usize) -> Result<u64> {
        let (body, signature) = self.form(n, customers);
        let start = Instant::now();
        let r = self
            .client
            .post(&self.url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("X-Twilio-Signature", signature)
            .body(body)
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "webhook answered {}", r.status());
        let _ = r.bytes().await?;
        Ok(micros(start.elapsed()))
    }

    async fn health(&self) -> Result<u64> {
        let start = Instant::now();
        let r = self.client.get(&self.health).send().await?;
        anyhow::ensure!(r.status().is_success(), "healthz answered {}", r.status());
        let _ = r.bytes().await?;
        Ok(micros(start.elapsed()))
    }
}

pub(crate) fn report(label: &str, n: usize, elapsed: Duration, mut lat: Vec<u64>) {
    lat.sort_unstable();
    println!(
        "  {label:<38} {:>8.0} /s   latency p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        rate(n, elapsed),
        percentile(&lat, 0.50) as f64 / 1000.0,
        percentile(&lat, 0.90) as f64 / 1000.0,
        percentile(&lat, 0.99) as f64 / 1000.0,
        lat.last().copied().unwrap_or(0) as f64 / 1000.0,
    );
}

/// Runs `n` requests with `concurrency` in flight; returns elapsed time and latencies.
pub(crate) async fn closed_loop<F, Fut>(
    n: usize,
    concurrency: usize,
    f: F,
) -> Result<(Duration, Vec<u64>)>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<u64>> + Send,
{
    let f = Arc::new(f);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let f = f.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    return anyhow::Ok(lat);
                }
                lat.push(f(i).await?);
            }
        }));
    }
    let mut all = Vec::with_capacity(n);
    for t in tasks {
        all.extend(t.await.context("load task")??);
    }
    Ok((start.elapsed(), all))
}

/// Waits until the inbound queue is empty, polling it, then checks that `total` jobs are done and
/// none died.
async fn drained(store: &Store, total: usize) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let pending = store.pending_jobs(parley_engine::inbound::QUEUE).await?;
        if pending == 0 {
            let c = store.queue_counts(parley_engine::inbound::QUEUE).await?;
            anyhow::ensure!(c.dead == 0, "{} inbound jobs dead-lettered", c.dead);
            if c.done as usize >= total {
                return Ok(());
            }
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "inbound jobs not drained ({pending} pending)"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

pub async fn run(
    messages: usize,
    concurrency: usize,
    customers: usize,
    encrypt: bool,
) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = Store::connect(&url, &StoreOptions::default()).await?;
    store.migrate().await?;
    crate::bench::encrypt_if(&store, encrypt).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let channel = store
        .create_channel(
            &ChannelSpec {
                name: "Bench SMS".into(),
                kind: ChannelKind::Sms,
                provider: Provider::Twilio,
                address: "+14155550100".into(),
                number_type: Some(NumberType::TollFree),
                provider_keyword: None,
                country: Some("US".into()),
                consent_level: ConsentLevel::Implicit,
                queue_id: None,
                throughput_mps: None,
                settings: json!({}),
                secrets: json!({"auth_token": TOKEN}),
            },
            clock.now(),
        )
        .await?;
    let webhook = format!("http://{addr}/webhooks/twilio/{}", channel.id);
    let spec = ChannelSpec {
        name: channel.name.clone(),
        kind: channel.kind,
        provider: channel.provider,
        address: channel.address.clone(),
        number_type: channel.number_type,
        provider_keyword: None,
        country: channel.country.clone(),
        consent_level: channel.consent_level,
        queue_id: None,
        throughput_mps: None,
        settings: json!({"public_url": webhook}),
        secrets: channel.secrets.clone(),
    };
    store.update_channel(channel.id, &spec, clock.now()).await?;

    let engine = Engine::new(
        store.clone(),
        clock,
        EventBus::default(),
        EngineConfig::default(),
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let workers = engine.spawn_workers(stop_rx);
    let engine_for_workers = engine.clone();
    // Every client of the benchmark shares one loopback address.
    let state = AppState::new(
        engine,
        None,
        ServerConfig {
            connections: parley_server::listen::ConnectionLimits::one_client_address(),
            ..ServerConfig::default()
        },
    );
    let (quit_tx, quit_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(parley_server::serve(listener, state, async {
        let _ = quit_rx.await;
    }));
    let target = Arc::new(Target {
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(concurrency)
            .build()?,
        url: webhook,
        health: format!("http://{addr}/healthz"),
    });
    println!(
        "inbound benchmark: {messages} signed Twilio webhooks, {concurrency} in flight, {customers} customers, SQLite, server and load on one machine"
    );

    // The pipeline alone, without HTTP: the same events written straight to the queue, then
    // drained; shows what the processing costs apart from the webhooks and the load generator.
    let events: Vec<parley_store::NewJob> = (0..messages)
        .map(|i| {
            let event = parley_engine::inbound::InboundEvent {
                channel_id: channel.id,
                provider_message_id: format!("direct-{i}"),
                from: format!("+1415666{:04}", i % customers.max(1) % 10_000),
                to: "+14155550100".into(),
                text: "Where is my order?".into(),
                media: Vec::new(),
                profile_name: None,
                received_at: SystemClock.now(),
                choice: None,
                web: None,
            };
            event.job()
        })
        .collect::<Result<_, _>>()?;
    let _ = stop_tx.send(true);
    for w in workers {
        let _ = w.await;
    }
    store.enqueue_many(&events, SystemClock.now()).await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let start = Instant::now();
    let workers = engine_for_workers.spawn_workers(stop_rx);
    drained(&store, messages).await?;
    let direct = start.elapsed();
    println!(
        "  {:<38} {:>8.0} /s   ({messages} queued events processed in {:.2} s, no HTTP)",
        "pipeline alone",
        rate(messages, direct),
        direct.as_secs_f64()
    );

    let t = target.clone();
    let (elapsed, lat) = closed_loop(messages, concurrency, move |_| {
        let t = t.clone();
        async move { t.health().await }
    })
    .await?;
    report("baseline GET /healthz", messages, elapsed, lat);

    let t = target.clone();
    let start = Instant::now();
    let (accepted, lat) = closed_loop(messages, concurrency, move |i| {
        let t = t.clone();
        async move { t.post(i, customers).await }
    })
    .await?;
    report("webhooks accepted (durable)", messages, accepted, lat);
    drained(&store, 2 * messages).await?;
    let processed = start.elapsed();
    println!(
        "  {:<38} {:>8.0} /s   ({messages} messages fully processed in {:.2} s)",
        "inbound fully processed",
        rate(messages, processed),
        processed.as_secs_f64()
    );

    // Open loop at half the processed rate: requests start on a fixed schedule whatever the
    // answers, so slow answers cannot hide queueing (no coordinated omission).
    let half = (rate(messages, processed) / 2.0).max(1.0);
    let n = (half * 10.0) as usize;
    let interval = Duration::from_secs_f64(1.0 / half);
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let due = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        let t = target.clone();
        tasks.push(tokio::spawn(async move {
            t.post(messages + i, customers).await
        }));
    }
    let mut lat = Vec::with_capacity(n);
    for task in tasks {
        lat.push(task.await.context("request task")??);
    }
    let elapsed = start.elapsed();
    report(
        &format!("webhooks at half rate ({half:.0}/s)"),
        n,
        elapsed,
        lat,
    );
    drained(&store, 2 * messages + n).await?;

    let _ = quit_tx.send(());
    let _ = stop_tx.send(true);
    for w in workers {
        let _ = w.await;
    }
    let _ = server.await;
    store.close().await;
    Ok(())
}
