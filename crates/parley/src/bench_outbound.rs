//! `parley bench outbound`: messages through the whole outbound pipeline (outbox job, consent
//! and length checks, rate limiter, Twilio request building, HTTP, response, status write) to a
//! local Twilio-shaped sink that accepts everything, with the sender's rate lifted to its maximum.
//! The baseline is the same sink driven directly with the same concurrency.

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

pub async fn run(messages: usize, customers: usize, concurrency: usize) -> Result<()> {
    let customers = customers.clamp(1, messages.max(1));
    let sink = Arc::new(Sink::default());
    let app = Router::new()
        .route("/2010-04-01/Accounts/{sid}/Messages.json", post(accept))
        .with_state(sink.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    let sink_url = format!("http://{addr}");
    println!(
        "outbound benchmark: {messages} SMS to {customers} customers through Twilio's API shape to a local sink, SQLite, rate lifted to 10,000/s"
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
            while next.fetch_add(1, Ordering::Relaxed) < messages {
                client
                    .post(&url)
                    .body("Body=baseline")
                    .send()
                    .await?
                    .bytes()
                    .await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await.context("baseline task")??;
    }
    println!(
        "  {:<30} {:>8.0} msg/s",
        "baseline: sink alone",
        rate(messages, start.elapsed())
    );
    sink.received.store(0, Ordering::Relaxed);
    sink.latencies.lock().await.clear();

    let dir = tempfile::tempdir()?;
    let store = Store::connect(
        &format!("sqlite://{}", dir.path().join("bench.db").display()),
        &StoreOptions::default(),
    )
    .await?;
    store.migrate().await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let channel = store
        .create_channel(
            &ChannelSpec {
                name: "Bench Twilio".into(),
                kind: ChannelKind::Sms,
                provider: Provider::Twilio,
                address: "+14155550100".into(),
                number_type: Some(NumberType::TollFree),
                provider_keyword: None,
                country: Some("US".into()),
                consent_level: ConsentLevel::Implicit,
                queue_id: None,
                throughput_mps: Some(10_000),
                settings: json!({"base_url": sink_url}),
                secrets: json!({"account_sid": "AC00000000000000000000000000000000", "auth_token": "token"}),
            },
            clock.now(),
        )
        .await?;

    // The outbox as the pipelines leave it: customers with sessions, queued entries, send jobs.
    let now = clock.now();
    let mut writes = Vec::new();
    let mut sessions = Vec::with_capacity(customers);
    for c in 0..customers {
        let user = new_id();
        let session = Session {
            id: new_id(),
            conversation_id: new_id(),
            channel_id: channel.id,
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
                channel_id: channel.id,
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
        EngineConfig::default(),
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let start = Instant::now();
    let workers = engine.spawn_workers(stop_rx);
    let deadline = Instant::now() + Duration::from_secs(900);
    while store.pending_jobs(parley_engine::outbound::QUEUE).await? > 0 {
        anyhow::ensure!(Instant::now() < deadline, "outbound not drained");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let elapsed = start.elapsed();
    let _ = stop_tx.send(true);
    for w in workers {
        let _ = w.await;
    }
    let counts = store.queue_counts(parley_engine::outbound::QUEUE).await?;
    let mut lat = sink.latencies.lock().await.clone();
    lat.sort_unstable();
    println!(
        "  {:<30} {:>8.0} msg/s   time in the backlog before the provider p50 {} ms, p90 {} ms, p99 {} ms ({} accepted by the sink, {} dead)",
        "outbound pipeline to the sink",
        rate(messages, elapsed),
        percentile(&lat, 0.50),
        percentile(&lat, 0.90),
        percentile(&lat, 0.99),
        sink.received.load(Ordering::Relaxed),
        counts.dead,
    );
    store.close().await;
    Ok(())
}
