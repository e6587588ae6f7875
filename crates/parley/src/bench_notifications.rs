//! `parley bench notifications`: a real server (the same router and workers as `parley serve`)
//! takes notifications from 64 clients through `POST /api/v1/notifications`, then the same number
//! of messages through the Twilio-compatible `Messages.json`, and sends them through the outbound
//! pipeline to a local Twilio-shaped sink that accepts everything. Measured in one run:
//! - the same server's `GET /healthz`, with the same clients (the baseline);
//! - each endpoint's requests accepted per second, with latency percentiles (the time until the
//!   message, its session and its send job are committed);
//! - each endpoint's messages dispatched per second: from the first request to the sink holding
//!   every message.
//!
//! The recipients are customers of a bulk-loaded history (`--preload-users`, `--preload-entries`),
//! so every lookup runs against a table of realistic size, not an empty database.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use parley_core::model::*;
use parley_core::{Clock, SystemClock};
use parley_engine::{Engine, EventBus};
use parley_server::{AppState, ServerConfig};
use parley_store::bulk::{BulkLoad, bulk_phone, new_pg_schema_url};
use parley_store::{ChannelSpec, Store, StoreOptions, TemplateSpec};
use serde_json::json;

use crate::bench::{micros, rate};
use crate::bench_inbound::{closed_loop, report};
use crate::bench_outbound::{Target, Via, engine_config};

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    /// Requests per endpoint (and for the baseline).
    pub notifications: usize,
    /// Clients, each with one request in flight.
    pub concurrency: usize,
    /// Distinct recipients, taken from the preloaded customers.
    pub customers: usize,
    /// Customers loaded before the run (each with a contact and an ended session).
    pub preload_users: u64,
    /// Entries loaded over their sessions.
    pub preload_entries: u64,
    /// PostgreSQL server (a new schema on it); default a fresh SQLite file.
    pub database_url: Option<String>,
}

const SENDER: &str = "+14155550100";

/// Preloaded customers start at this row, so their numbers (`+1202` and the row, see
/// `bulk_phone`) have an exchange from 200 up, valid in the US number plan.
const FIRST_ROW: u64 = 2_000_000;

/// Waits until the sink has received `total` messages, polling it (bounded).
async fn sink_holds(target: &Target, total: usize) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(900);
    while target.received() < total {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the sink received {} of {total} messages",
            target.received()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

/// Sends `r`; answers its latency (microseconds) when it answered `want`.
async fn expect(r: reqwest::RequestBuilder, want: reqwest::StatusCode) -> Result<u64> {
    let start = Instant::now();
    let r = r.send().await?;
    let status = r.status();
    let body = r.bytes().await?;
    anyhow::ensure!(
        status == want,
        "answered {status}: {}",
        String::from_utf8_lossy(&body)
    );
    Ok(micros(start.elapsed()))
}

pub async fn run(o: Options) -> Result<()> {
    let n = o.notifications.max(1);
    let customers = o.customers.max(1);
    anyhow::ensure!(
        (customers as u64) <= o.preload_users.max(1) || o.preload_users == 0,
        "--customers must not exceed --preload-users (the recipients are preloaded customers)"
    );
    let dir = tempfile::tempdir().context("temporary directory")?;
    let url = match &o.database_url {
        Some(base) if base.starts_with("postgres") => {
            new_pg_schema_url(base, "bench_notifications").await?
        }
        Some(url) => url.clone(),
        None => format!("sqlite://{}", dir.path().join("bench.db").display()),
    };
    let store = Store::connect(&url, &StoreOptions::default()).await?;
    store.migrate().await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);

    let target = Target::start(Via::Http).await?;
    let (provider, settings, secrets) = target.provider(1);
    let channel = store
        .create_channel(
            &ChannelSpec {
                name: "Bench SMS".into(),
                kind: ChannelKind::Sms,
                provider,
                address: SENDER.into(),
                number_type: Some(NumberType::TollFree),
                provider_keyword: None,
                country: Some("US".into()),
                consent_level: ConsentLevel::Implicit,
                queue_id: None,
                throughput_mps: Some(10_000),
                settings,
                secrets,
            },
            clock.now(),
        )
        .await?;
    store
        .create_template(
            &TemplateSpec {
                channel_id: channel.id,
                name: "order_shipped".into(),
                language: "en".into(),
                category: TemplateCategory::Utility,
                status: TemplateStatus::Approved,
                body: "Hi {{1}}, your order {{2}} has shipped.".into(),
                components: json!([]),
            },
            clock.now(),
        )
        .await?;
    println!(
        "notifications benchmark: {n} requests per endpoint, {} clients, {customers} recipients among {} preloaded customers ({} entries), SMS to a local Twilio-shaped sink",
        o.concurrency, o.preload_users, o.preload_entries
    );
    println!(
        "  machine: {}; database {}; server, workers, sink and clients in one process",
        crate::bench_flows::machine(),
        match store.kind() {
            parley_store::BackendKind::Sqlite => "SQLite (in process)",
            parley_store::BackendKind::Postgres => "PostgreSQL (server on the same machine)",
        }
    );
    if o.preload_users > 0 {
        let t = Instant::now();
        let since = parley_core::Timestamp(clock.now().millis() - 180 * 86_400_000);
        let loaded = store
            .bulk_load(
                &BulkLoad {
                    offset: FIRST_ROW,
                    ..BulkLoad::new(
                        channel.id,
                        o.preload_users,
                        o.preload_entries,
                        since,
                        250_000,
                    )
                },
                |_, _| {},
            )
            .await?;
        println!(
            "  preloaded {} messaging users, {} sessions, {} entries in {:.1} s",
            loaded.users,
            loaded.sessions,
            loaded.entries,
            t.elapsed().as_secs_f64()
        );
    }

    let (token, hash) = parley_server::auth::generate_token();
    parley_engine::service::tokens::create_api_token(
        &store,
        "bench",
        TokenRole::Admin,
        &hash,
        clock.now(),
    )
    .await?;
    let account =
        parley_engine::service::twilio::create_twilio_account(&store, "Bench shop", clock.now())
            .await?;

    let engine = Engine::new(
        store.clone(),
        clock,
        EventBus::default(),
        engine_config(2, 256, 64),
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let workers = engine.spawn_workers(stop_rx);
    // Every client of the benchmark shares one loopback address.
    let state = AppState::new(
        engine,
        None,
        ServerConfig {
            connections: parley_server::listen::ConnectionLimits::one_client_address(),
            ..ServerConfig::default()
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (quit_tx, quit_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(parley_server::serve(listener, state, async {
        let _ = quit_rx.await;
    }));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(o.concurrency.max(1))
        .build()?;
    let base = format!("http://{addr}");
    let recipient = move |i: usize| {
        if o.preload_users > 0 {
            bulk_phone(FIRST_ROW + (i % customers) as u64)
        } else {
            format!("+1303{:07}", 2_000_000 + i % customers)
        }
    };

    let (c, url) = (client.clone(), format!("{base}/healthz"));
    let (elapsed, lat) = closed_loop(n, o.concurrency, move |_| {
        expect(c.get(&url), reqwest::StatusCode::OK)
    })
    .await?;
    report("baseline GET /healthz", n, elapsed, lat);

    // Each request its own Idempotency-Key, as an order system retrying safely sends them.
    let (c, url) = (client.clone(), format!("{base}/api/v1/notifications"));
    let bearer = format!("Bearer {token}");
    let start = Instant::now();
    let (elapsed, lat) = closed_loop(n, o.concurrency, move |i| {
        let body = json!({
            "channel": "Bench SMS",
            "template": {"name": "order_shipped", "language": "en"},
            "parameters": ["Ann", format!("A-{i}")],
            "recipient": {"phone": recipient(i)},
        });
        expect(
            c.post(&url)
                .header("authorization", &bearer)
                .header("idempotency-key", format!("order-{i}"))
                .json(&body),
            reqwest::StatusCode::CREATED,
        )
    })
    .await?;
    report("POST /api/v1/notifications accepted", n, elapsed, lat);
    sink_holds(&target, n).await?;
    let dispatched = start.elapsed();
    println!(
        "  {:<38} {:>8.0} /s   ({n} at the sink {:.2} s after the first request)",
        "notifications dispatched",
        rate(n, dispatched),
        dispatched.as_secs_f64()
    );
    target.reset().await;

    let (c, url) = (
        client.clone(),
        format!("{base}/2010-04-01/Accounts/{}/Messages.json", account.sid),
    );
    let (sid, auth) = (account.sid.clone(), account.auth_token.clone());
    let start = Instant::now();
    let (elapsed, lat) = closed_loop(n, o.concurrency, move |i| {
        let form = [
            ("To", recipient(i)),
            ("From", SENDER.to_owned()),
            ("Body", format!("Your order B-{i} has shipped.")),
        ];
        expect(
            c.post(&url).basic_auth(&sid, Some(&auth)).form(&form),
            reqwest::StatusCode::CREATED,
        )
    })
    .await?;
    report("POST Messages.json (Twilio) accepted", n, elapsed, lat);
    sink_holds(&target, n).await?;
    let dispatched = start.elapsed();
    println!(
        "  {:<38} {:>8.0} /s   ({n} at the sink {:.2} s after the first request)",
        "Twilio-API messages dispatched",
        rate(n, dispatched),
        dispatched.as_secs_f64()
    );

    let _ = quit_tx.send(());
    let _ = stop_tx.send(true);
    for w in workers {
        let _ = w.await;
    }
    let _ = server.await;
    store.close().await;
    Ok(())
}
