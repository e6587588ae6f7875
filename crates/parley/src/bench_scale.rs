//! `parley bench scale`: whether a message costs the same on a database that holds months of
//! traffic as on an empty one. Two databases of the same backend side by side: one empty, one
//! bulk-loaded (`--users` messaging users, each with a contact and an ended session, and
//! `--entries` entries over those sessions, see `parley_store::bulk`). Then, round by round and
//! alternating which database goes first, the same work on each:
//! - inbound, one at a time: a customer's message submitted and processed by the inbound runner
//!   (user, consent, session, entry, routing committed); its latency is the message's cost;
//! - outbound, one at a time: an agent's reply queued into the customer's session and sent by
//!   the outbound runner to a local Twilio-shaped sink that accepts everything;
//! - inbound and outbound in bulk: `--messages` queued at once, then drained (throughput).
//!
//! Customers of the measured traffic are a fixed set of numbers outside the loaded ones, so both
//! databases see the same customers; on the loaded one every lookup goes through indexes holding
//! millions of rows.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::Router;
use axum::routing::post;
use parley_core::model::*;
use parley_core::{Clock, SystemClock, Timestamp, new_id};
use parley_engine::compose::{Author, OutgoingMessage};
use parley_engine::inbound::InboundEvent;
use parley_engine::{Engine, EngineConfig, EventBus};
use parley_store::bulk::{BulkLoad, new_pg_schema_url};
use parley_store::*;
use serde_json::json;
use uuid::Uuid;

use crate::bench::{micros, percentile, rate};

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    pub users: u64,
    pub entries: u64,
    /// Messages each way per database per round.
    pub messages: usize,
    pub rounds: usize,
    /// Distinct customers of the measured traffic.
    pub customers: usize,
    /// PostgreSQL server to use (two new schemas on it); default two SQLite files.
    pub database_url: Option<String>,
    /// Rows per bulk-load transaction.
    pub chunk: u64,
}

const FROM: &str = "+14155550100";

/// One database under test and what was measured on it.
struct Side {
    name: &'static str,
    store: Store,
    engine: Engine,
    channel: Channel,
    inbound: Vec<u64>,
    outbound: Vec<u64>,
    inbound_bulk: Vec<f64>,
    outbound_bulk: Vec<f64>,
    next: usize,
}

async fn sink() -> Result<(String, Arc<AtomicUsize>)> {
    let received = Arc::new(AtomicUsize::new(0));
    let counter = received.clone();
    let app = Router::new().route(
        "/2010-04-01/Accounts/{sid}/Messages.json",
        post(move || {
            let counter = counter.clone();
            async move {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                (
                    axum::http::StatusCode::CREATED,
                    format!(
                        r#"{{"sid":"SM{n:032x}","status":"queued","error_code":null,"error_message":null}}"#
                    ),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((format!("http://{addr}"), received))
}

async fn side(
    name: &'static str,
    url: &str,
    sink_url: &str,
    clock: &Arc<dyn Clock>,
) -> Result<Side> {
    let store = Store::connect(url, &StoreOptions::default())
        .await
        .with_context(|| format!("opening {url}"))?;
    store.migrate().await?;
    let channel = store
        .create_channel(
            &ChannelSpec {
                name: format!("Scale {name} {}", new_id().simple()),
                kind: ChannelKind::Sms,
                provider: Provider::Twilio,
                address: FROM.into(),
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
    let engine = Engine::new(
        store.clone(),
        clock.clone(),
        EventBus::default(),
        EngineConfig::default(),
    );
    Ok(Side {
        name,
        store,
        engine,
        channel,
        inbound: Vec::new(),
        outbound: Vec::new(),
        inbound_bulk: Vec::new(),
        outbound_bulk: Vec::new(),
        next: 0,
    })
}

fn customer(i: usize, customers: usize) -> String {
    format!("+1415777{:04}", i % customers.clamp(1, 10_000))
}

impl Side {
    fn event(&mut self, from: String, now: Timestamp) -> InboundEvent {
        self.next += 1;
        InboundEvent {
            channel_id: self.channel.id,
            provider_message_id: format!("SMscale{}{}", self.name, self.next),
            from,
            to: FROM.into(),
            text: "Where is my order?".into(),
            media: Vec::new(),
            profile_name: None,
            received_at: now,
            choice: None,
            web: None,
        }
    }

    async fn drain_inbound(&self) -> Result<usize> {
        let runner = self.engine.inbound_runner();
        let mut done = 0;
        loop {
            let n = runner.run_once().await?;
            if n == 0 {
                return Ok(done);
            }
            done += n;
        }
    }

    async fn drain_outbound(&self) -> Result<usize> {
        let runner = self.engine.outbound_runner();
        let mut done = 0;
        loop {
            let n = runner.run_once().await?;
            if n == 0 {
                return Ok(done);
            }
            done += n;
        }
    }

    async fn open_session(&self, phone: &str) -> Result<Session> {
        let user = self
            .store
            .messaging_user_by_key(self.channel.id, phone)
            .await?
            .context("customer wrote in")?;
        self.store
            .open_session(user.id)
            .await?
            .context("customer has an open session")
    }

    async fn reply(&self, session: Uuid) -> Result<()> {
        self.engine
            .compose()
            .send_to_session(
                session,
                OutgoingMessage {
                    body: "Your order ships today".into(),
                    media: Vec::new(),
                    template: None,
                    component: None,
                },
                Author {
                    actor: Actor::Agent,
                    actor_id: None,
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("reply refused: {e}"))?;
        Ok(())
    }

    /// One round: `n` messages each way one at a time, then `n` each way in bulk.
    async fn round(&mut self, n: usize, customers: usize, record: bool) -> Result<()> {
        let clock = SystemClock;
        let mut inbound = Vec::with_capacity(n);
        for i in 0..n {
            let event = self.event(customer(i, customers), clock.now());
            let t = Instant::now();
            self.engine.ingest.submit(&event).await?;
            self.drain_inbound().await?;
            inbound.push(micros(t.elapsed()));
        }
        let mut outbound = Vec::with_capacity(n);
        for i in 0..n {
            let session = self.open_session(&customer(i, customers)).await?;
            let t = Instant::now();
            self.reply(session.id).await?;
            self.drain_outbound().await?;
            outbound.push(micros(t.elapsed()));
        }

        let events: Vec<InboundEvent> = (0..n)
            .map(|i| self.event(customer(i, customers), clock.now()))
            .collect();
        let t = Instant::now();
        for e in &events {
            self.engine.ingest.submit(e).await?;
        }
        self.drain_inbound().await?;
        let inbound_rate = rate(n, t.elapsed());
        let mut sessions = Vec::with_capacity(n);
        for i in 0..n {
            sessions.push(self.open_session(&customer(i, customers)).await?.id);
        }
        let t = Instant::now();
        for s in sessions {
            self.reply(s).await?;
        }
        self.drain_outbound().await?;
        let outbound_rate = rate(n, t.elapsed());
        if record {
            self.inbound.extend(inbound);
            self.outbound.extend(outbound);
            self.inbound_bulk.push(inbound_rate);
            self.outbound_bulk.push(outbound_rate);
        }
        Ok(())
    }
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / (xs.len().max(1) as f64)
}

pub async fn run(o: Options) -> Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let (sink_url, received) = sink().await?;
    let dir = tempfile::tempdir().context("temporary directory")?;
    let urls = match &o.database_url {
        Some(base) => (
            new_pg_schema_url(base, "scale_empty").await?,
            new_pg_schema_url(base, "scale_loaded").await?,
        ),
        None => (
            format!("sqlite://{}", dir.path().join("empty.db").display()),
            format!("sqlite://{}", dir.path().join("loaded.db").display()),
        ),
    };
    let mut empty = side("empty", &urls.0, &sink_url, &clock).await?;
    let mut loaded = side("loaded", &urls.1, &sink_url, &clock).await?;
    println!(
        "scale benchmark ({:?}): {} messaging users and {} entries loaded, then {} messages each way per round, {} rounds, {} customers",
        loaded.store.kind(),
        o.users,
        o.entries,
        o.messages,
        o.rounds,
        o.customers
    );

    let since = Timestamp(clock.now().millis() - 90 * 24 * 3600 * 1000);
    let t = Instant::now();
    let mut last = Instant::now();
    let written = loaded
        .store
        .bulk_load(
            &BulkLoad::new(loaded.channel.id, o.users, o.entries, since, o.chunk),
            |table, rows| {
                if last.elapsed() > Duration::from_secs(10) {
                    println!(
                        "  loading {table}: {rows} rows ({:.0} s)",
                        t.elapsed().as_secs_f64()
                    );
                    last = Instant::now();
                }
            },
        )
        .await?;
    let load = t.elapsed();
    println!(
        "  loaded {} contacts, {} messaging users, {} sessions, {} entries in {:.1} s ({:.0} rows/s)",
        written.contacts,
        written.users,
        written.sessions,
        written.entries,
        load.as_secs_f64(),
        (written.contacts + written.users + written.sessions + written.entries) as f64
            / load.as_secs_f64().max(1e-9)
    );

    // A warm-up round each, not counted: the measured customers exist on both afterwards, and
    // the caches hold what the loaded database's indexes need.
    empty.round(o.messages, o.customers, false).await?;
    loaded.round(o.messages, o.customers, false).await?;
    for r in 0..o.rounds {
        // Alternate which goes first, so neither always runs on a machine warmed by the other.
        if r % 2 == 0 {
            empty.round(o.messages, o.customers, true).await?;
            loaded.round(o.messages, o.customers, true).await?;
        } else {
            loaded.round(o.messages, o.customers, true).await?;
            empty.round(o.messages, o.customers, true).await?;
        }
        println!("  round {} of {} done", r + 1, o.rounds);
    }

    println!(
        "  {:<8} {:<24} {:>10} {:>9} {:>9} {:>9}",
        "database", "measure", "rate", "p50", "p90", "p99"
    );
    for s in [&mut empty, &mut loaded] {
        for (what, lat) in [
            ("inbound, one at a time", &mut s.inbound),
            ("outbound, one at a time", &mut s.outbound),
        ] {
            lat.sort_unstable();
            let total: u64 = lat.iter().sum();
            println!(
                "  {:<8} {:<24} {:>8.0}/s {:>6.2} ms {:>6.2} ms {:>6.2} ms",
                s.name,
                what,
                lat.len() as f64 / (total as f64 / 1e6).max(1e-9),
                ms(percentile(lat, 0.50)),
                ms(percentile(lat, 0.90)),
                ms(percentile(lat, 0.99)),
            );
        }
        println!(
            "  {:<8} {:<24} {:>8.0}/s   (rounds: {:?})",
            s.name,
            "inbound in bulk",
            mean(&s.inbound_bulk),
            s.inbound_bulk.iter().map(|r| r.round()).collect::<Vec<_>>()
        );
        println!(
            "  {:<8} {:<24} {:>8.0}/s   (rounds: {:?})",
            s.name,
            "outbound in bulk",
            mean(&s.outbound_bulk),
            s.outbound_bulk
                .iter()
                .map(|r| r.round())
                .collect::<Vec<_>>()
        );
    }
    let ratio = |a: &[u64], b: &[u64]| {
        let (sa, sb): (u64, u64) = (a.iter().sum(), b.iter().sum());
        sb as f64 / (sa as f64).max(1.0)
    };
    println!(
        "  loaded / empty cost per message: inbound {:.2}, outbound {:.2}; bulk throughput loaded / empty: inbound {:.2}, outbound {:.2} ({} accepted by the sink)",
        ratio(&empty.inbound, &loaded.inbound),
        ratio(&empty.outbound, &loaded.outbound),
        mean(&loaded.inbound_bulk) / mean(&empty.inbound_bulk).max(1e-9),
        mean(&loaded.outbound_bulk) / mean(&empty.outbound_bulk).max(1e-9),
        received.load(Ordering::Relaxed)
    );
    empty.store.close().await;
    loaded.store.close().await;
    Ok(())
}
