//! `parley bench`: load generators that print throughput and latency percentiles next to a
//! baseline measured in the same run. Bounded in count; nothing here asserts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Subcommand;
use parley_core::{Clock, SystemClock};
use parley_engine::{JobOutcome, JobRunner, RunnerConfig};
use parley_store::{NewJob, Store, StoreOptions};
use tokio::sync::Mutex;

use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Job queue: enqueue trivial jobs in batches, then drain them with runners, then run both at
    /// once and measure each job's wait from enqueue to start.
    Jobs {
        /// Jobs per phase.
        #[arg(long, default_value_t = 100_000)]
        jobs: usize,
        /// Jobs claimed per round trip.
        #[arg(long, default_value_t = 512)]
        batch: u32,
        /// Concurrent runners (several show SKIP LOCKED claiming on PostgreSQL).
        #[arg(long, default_value_t = 1)]
        runners: usize,
        /// Database to measure; default a fresh SQLite file in a temporary directory.
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Outbound pipeline: queued messages through dispatch to a local Twilio-shaped sink that
    /// accepts everything, with the sender's rate lifted; next to the sink driven directly.
    Outbound {
        #[arg(long, default_value_t = 100_000)]
        messages: usize,
        #[arg(long, default_value_t = 5_000)]
        customers: usize,
        /// Requests (HTTP) or submits (SMPP) in flight for the baseline.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// How the dispatcher reaches the sink: Twilio's API over HTTP, or SMPP binds.
        #[arg(long, value_enum, default_value = "http")]
        via: crate::bench_outbound::Via,
        /// Channels (senders) the messages are spread over.
        #[arg(long, default_value_t = 1)]
        senders: usize,
        /// The SMPP window of each bind (`settings.window`).
        #[arg(long, default_value_t = 64)]
        window: usize,
        /// Database to measure; default a fresh SQLite file in a temporary directory.
        #[arg(long)]
        database_url: Option<String>,
        /// Outbound runners of the engine.
        #[arg(long, default_value_t = 2)]
        runners: usize,
        /// Send jobs claimed per batch.
        #[arg(long, default_value_t = 256)]
        batch: u32,
        /// Provider calls of a batch in flight at once.
        #[arg(long, default_value_t = 64)]
        calls: usize,
        /// Encryption at rest on (a fresh random key): every personal field sealed and opened.
        #[arg(long)]
        encrypt: bool,
    },
    /// A marketing campaign to opted-in messaging users over several senders, from Start to
    /// completed (expansion, consent filtering, a merge field and a short link per message,
    /// dispatch to the local sink); next to the outbound pipeline and the sink alone.
    Campaign {
        /// Opted-in messaging users in the audience, spread over the senders.
        #[arg(long, default_value_t = 1_000_000)]
        recipients: u64,
        /// SMS channels (senders) the campaign goes out on.
        #[arg(long, default_value_t = 4)]
        senders: usize,
        /// How the dispatcher reaches the sink: Twilio's API over HTTP, or SMPP binds.
        #[arg(long, value_enum, default_value = "http")]
        via: crate::bench_outbound::Via,
        /// The SMPP window of each bind (`settings.window`).
        #[arg(long, default_value_t = 64)]
        window: usize,
        /// Requests (HTTP) or submits (SMPP) in flight for the baseline.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Messages of the outbound pipeline (and the baseline) measured in the same run.
        #[arg(long, default_value_t = 100_000)]
        outbound_messages: usize,
        /// PostgreSQL server (new schemas on it); default fresh SQLite files.
        #[arg(long)]
        database_url: Option<String>,
        /// Outbound runners of the engine.
        #[arg(long, default_value_t = 2)]
        runners: usize,
        /// Send jobs claimed per batch.
        #[arg(long, default_value_t = 256)]
        batch: u32,
        /// Provider calls of a batch in flight at once.
        #[arg(long, default_value_t = 64)]
        calls: usize,
        /// Rows per bulk-load transaction.
        #[arg(long, default_value_t = 250_000)]
        chunk: u64,
    },
    /// Agents at scale: routing decisions per second, then the delay from a customer's message
    /// reaching the server to its event on the owning agent's SSE stream, with every agent's
    /// console connected.
    Console {
        #[arg(long, default_value_t = 1_000)]
        agents: usize,
        /// Active sessions (each customer waits, is routed and accepted first).
        #[arg(long, default_value_t = 10_000)]
        sessions: usize,
        /// Customer messages sent into active sessions while the streams are open.
        #[arg(long, default_value_t = 5_000)]
        messages: usize,
        /// Messages per second.
        #[arg(long, default_value_t = 200)]
        rate: usize,
    },
    /// Web chat at scale: a spawned `parley serve` holding `--visitors` widget event streams,
    /// its memory per stream, and the round trip visitor -> agent -> reply on the visitor's stream.
    Widget {
        /// Visitors created, each holding `GET /widget/v1/events` open.
        #[arg(long, default_value_t = 10_000)]
        visitors: usize,
        /// Of them, visitors who write (a first message routed and accepted, then the measured one).
        #[arg(long, default_value_t = 1_000)]
        messages: usize,
        /// Measured messages per second.
        #[arg(long, default_value_t = 200)]
        rate: usize,
        /// Database to measure; default a fresh SQLite file in a temporary directory.
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Cost as data grows: inbound and outbound per message on a bulk-loaded database (months of
    /// traffic) next to an empty one, measured alternately in the same run.
    Scale {
        /// Messaging users loaded (each with a contact and an ended session).
        #[arg(long, default_value_t = 1_000_000)]
        users: u64,
        /// Entries loaded, spread over the loaded sessions.
        #[arg(long, default_value_t = 5_000_000)]
        entries: u64,
        /// Messages each way per database per round.
        #[arg(long, default_value_t = 1_000)]
        messages: usize,
        #[arg(long, default_value_t = 4)]
        rounds: usize,
        /// Distinct customers of the measured traffic.
        #[arg(long, default_value_t = 500)]
        customers: usize,
        /// PostgreSQL server (two new schemas on it); default two SQLite files.
        #[arg(long)]
        database_url: Option<String>,
        /// Rows per bulk-load transaction.
        #[arg(long, default_value_t = 250_000)]
        chunk: u64,
    },
    /// Search across conversations over a large history: query latency by kind of query next to
    /// a one-row read, and the cost the index adds to writing a message.
    Search {
        /// Customers generated (each with a contact and an ended session).
        #[arg(long, default_value_t = 100_000)]
        users: u64,
        /// Messages generated over them.
        #[arg(long, default_value_t = 1_000_000)]
        entries: u64,
        /// Runs of each query.
        #[arg(long, default_value_t = 200)]
        runs: usize,
        /// PostgreSQL server (a new schema on it); default a fresh SQLite file.
        #[arg(long)]
        database_url: Option<String>,
        /// Rows per bulk transaction.
        #[arg(long, default_value_t = 50_000)]
        chunk: u64,
    },
    /// Reports: every report over a generated year of traffic (sessions, entries, consent
    /// changes, delivery errors), rolled up, each timed over several runs next to a baseline.
    Reports {
        /// Sessions generated over the year (each with a messaging user and a contact).
        #[arg(long, default_value_t = 1_000_000)]
        sessions: u64,
        /// Entries generated over the sessions.
        #[arg(long, default_value_t = 10_000_000)]
        entries: u64,
        /// Runs of each report.
        #[arg(long, default_value_t = 20)]
        runs: usize,
        /// PostgreSQL server (a new schema on it); default a fresh SQLite file.
        #[arg(long)]
        database_url: Option<String>,
        /// Sessions per bulk transaction.
        #[arg(long, default_value_t = 50_000)]
        chunk: u64,
    },
    /// Flows: conversations waiting in a flow, customers answering at a steady rate (open loop),
    /// then as fast as the engine answers (closed loop); next to the inbound pipeline alone at
    /// the same rate in the same run.
    Flows {
        /// Conversations waiting in the flow (customers).
        #[arg(long, default_value_t = 10_000)]
        conversations: usize,
        /// Replies per second of the open-loop runs.
        #[arg(long, default_value_t = 500)]
        rate: usize,
        /// Length of each measured run.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Replies outstanding in the closed-loop (saturation) runs.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Database to measure (PostgreSQL: a new schema on it); default a fresh SQLite file in
        /// a temporary directory.
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Notifications: 64 clients through `POST /api/v1/notifications`, then through the
    /// Twilio-compatible Messages.json, to customers of a preloaded history; accepted and
    /// dispatched per second next to the same server's /healthz.
    Notifications {
        /// Requests per endpoint (and for the baseline).
        #[arg(long, default_value_t = 20_000)]
        notifications: usize,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Distinct recipients, among the preloaded customers.
        #[arg(long, default_value_t = 10_000)]
        customers: usize,
        /// Customers loaded first, each with a contact and an ended session (0: an empty database).
        #[arg(long, default_value_t = 200_000)]
        preload_users: u64,
        /// Entries loaded over their sessions.
        #[arg(long, default_value_t = 1_000_000)]
        preload_entries: u64,
        /// PostgreSQL server (a new schema on it); default a fresh SQLite file.
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Inbound pipeline: signed Twilio webhooks over loopback at a server on a fresh SQLite
    /// database, until every message is processed; next to the same server's /healthz.
    Inbound {
        /// Messages sent in the saturation run.
        #[arg(long, default_value_t = 50_000)]
        messages: usize,
        /// Requests in flight.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Distinct customers the messages come from.
        #[arg(long, default_value_t = 5_000)]
        customers: usize,
        /// Encryption at rest on (a fresh random key): every personal field sealed and opened.
        #[arg(long)]
        encrypt: bool,
    },
}

pub async fn run(cmd: BenchCommand, config: &Config) -> Result<()> {
    match cmd {
        BenchCommand::Scale {
            users,
            entries,
            messages,
            rounds,
            customers,
            database_url,
            chunk,
        } => {
            crate::bench_scale::run(crate::bench_scale::Options {
                users,
                entries,
                messages,
                rounds,
                customers,
                database_url,
                chunk,
            })
            .await
        }
        BenchCommand::Search {
            users,
            entries,
            runs,
            database_url,
            chunk,
        } => {
            crate::bench_search::run(crate::bench_search::Options {
                users,
                entries,
                runs,
                database_url,
                chunk,
            })
            .await
        }
        BenchCommand::Reports {
            sessions,
            entries,
            runs,
            database_url,
            chunk,
        } => {
            crate::bench_reports::run(crate::bench_reports::Options {
                sessions,
                entries,
                runs,
                database_url,
                chunk,
            })
            .await
        }
        BenchCommand::Outbound {
            messages,
            customers,
            concurrency,
            via,
            senders,
            window,
            database_url,
            runners,
            batch,
            calls,
            encrypt,
        } => {
            crate::bench_outbound::run(crate::bench_outbound::Options {
                messages,
                customers,
                concurrency,
                via,
                senders,
                window,
                database_url,
                runners,
                batch,
                calls,
                encrypt,
            })
            .await
        }
        BenchCommand::Campaign {
            recipients,
            senders,
            via,
            window,
            concurrency,
            outbound_messages,
            database_url,
            runners,
            batch,
            calls,
            chunk,
        } => {
            crate::bench_campaign::run(crate::bench_campaign::Options {
                recipients,
                senders,
                via,
                window,
                concurrency,
                database_url,
                runners,
                batch,
                calls,
                outbound_messages,
                chunk,
            })
            .await
        }
        BenchCommand::Console {
            agents,
            sessions,
            messages,
            rate,
        } => {
            crate::bench_console::run(crate::bench_console::Options {
                agents,
                sessions,
                messages,
                rate,
            })
            .await
        }
        BenchCommand::Widget {
            visitors,
            messages,
            rate,
            database_url,
        } => {
            crate::bench_widget::run(crate::bench_widget::Options {
                visitors,
                messages,
                rate,
                database_url,
            })
            .await
        }
        BenchCommand::Flows {
            conversations,
            rate,
            seconds,
            concurrency,
            database_url,
        } => {
            crate::bench_flows::run(crate::bench_flows::Options {
                conversations,
                rate,
                seconds,
                concurrency,
                database_url,
            })
            .await
        }
        BenchCommand::Notifications {
            notifications,
            concurrency,
            customers,
            preload_users,
            preload_entries,
            database_url,
        } => {
            crate::bench_notifications::run(crate::bench_notifications::Options {
                notifications,
                concurrency,
                customers,
                preload_users,
                preload_entries,
                database_url,
            })
            .await
        }
        BenchCommand::Inbound {
            messages,
            concurrency,
            customers,
            encrypt,
        } => crate::bench_inbound::run(messages, concurrency, customers, encrypt).await,
        BenchCommand::Jobs {
            jobs,
            batch,
            runners,
            database_url,
        } => {
            let dir = tempfile::tempdir().context("temporary directory")?;
            let url = database_url
                .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("bench.db").display()));
            let options = StoreOptions {
                max_connections: config.max_connections.max(runners as u32 + 2),
                ..StoreOptions::default()
            };
            let store = Store::connect(&url, &options).await?;
            store.migrate().await?;
            bench_jobs(&store, jobs, batch, runners.max(1)).await?;
            store.close().await;
            Ok(())
        }
    }
}

/// Turns encryption at rest on for a benchmark's store (`--encrypt`), with a fresh random key.
pub(crate) async fn encrypt_if(store: &Store, encrypt: bool) -> Result<()> {
    if encrypt {
        let ring = parley_store::Keyring::parse(&parley_store::Keyring::generate_key())?;
        store.set_keyring(Some(ring));
        store.check_keys(parley_core::SystemClock.now()).await?;
        println!("encryption at rest: on (XChaCha20-Poly1305, a fresh key)");
    }
    Ok(())
}

pub(crate) fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// One line of latency percentiles (microseconds in, milliseconds out).
pub(crate) fn print_latencies(label: &str, mut lat: Vec<u64>) {
    lat.sort_unstable();
    println!(
        "  {label:<44} n={:<6} p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        lat.len(),
        percentile(&lat, 0.50) as f64 / 1000.0,
        percentile(&lat, 0.90) as f64 / 1000.0,
        percentile(&lat, 0.99) as f64 / 1000.0,
        lat.last().copied().unwrap_or(0) as f64 / 1000.0,
    );
}

pub(crate) fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted.get(idx).copied().unwrap_or(0)
}

async fn bench_jobs(store: &Store, n: usize, batch: u32, runners: usize) -> Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    println!(
        "job queue benchmark: {n} jobs per phase, batch {batch}, {runners} runner(s), backend {:?}",
        store.kind()
    );

    // Baseline: the same trivial work through an in-memory channel, no database.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(1024);
    let start = Instant::now();
    let producer = tokio::spawn(async move {
        for i in 0..n as u64 {
            if tx.send(i).await.is_err() {
                break;
            }
        }
    });
    let mut got = 0usize;
    while rx.recv().await.is_some() {
        got += 1;
    }
    let _ = producer.await;
    println!(
        "  baseline (in-memory channel): {:>10.0} jobs/s",
        rate(got, start.elapsed())
    );

    // Phase 1: enqueue only.
    let queue = format!("bench-{}", uuid::Uuid::now_v7());
    let start = Instant::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let now = clock.now();
        let jobs: Vec<NewJob> = chunk
            .iter()
            .map(|i| NewJob::new(queue.clone(), "noop", i.to_string(), now))
            .collect();
        store.enqueue_many(&jobs, now).await?;
    }
    let enqueue = start.elapsed();
    println!(
        "  enqueue (batches of 1000):    {:>10.0} jobs/s",
        rate(n, enqueue)
    );

    // Phase 2: drain with runners.
    let start = Instant::now();
    let drained = drain(store, &clock, &queue, batch, runners, None).await?;
    println!(
        "  claim+run+complete:           {:>10.0} jobs/s  ({drained} jobs)",
        rate(drained, start.elapsed())
    );

    // Phase 3: producer and runners together; latency from enqueue to start.
    let queue2 = format!("bench-{}", uuid::Uuid::now_v7());
    let waits = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let start = Instant::now();
    let producer = {
        let store = store.clone();
        let clock = clock.clone();
        let queue2 = queue2.clone();
        tokio::spawn(async move {
            for chunk in (0..n).collect::<Vec<_>>().chunks(250) {
                let now = clock.now();
                let jobs: Vec<NewJob> = chunk
                    .iter()
                    .map(|i| NewJob::new(queue2.clone(), "noop", i.to_string(), now))
                    .collect();
                store.enqueue_many(&jobs, now).await?;
            }
            anyhow::Ok(())
        })
    };
    let total = drain_until(
        store,
        &clock,
        &queue2,
        batch,
        runners,
        Some(waits.clone()),
        n,
    )
    .await?;
    producer.await.context("producer task")??;
    let elapsed = start.elapsed();
    let mut w = waits.lock().await.clone();
    w.sort_unstable();
    println!(
        "  enqueue and run together:     {:>10.0} jobs/s  wait enqueue->start p50 {} ms, p90 {} ms, p99 {} ms, max {} ms",
        rate(total, elapsed),
        percentile(&w, 0.50),
        percentile(&w, 0.90),
        percentile(&w, 0.99),
        w.last().copied().unwrap_or(0)
    );
    Ok(())
}

async fn drain(
    store: &Store,
    clock: &Arc<dyn Clock>,
    queue: &str,
    batch: u32,
    runners: usize,
    waits: Option<Arc<Mutex<Vec<u64>>>>,
) -> Result<usize> {
    drain_until(store, clock, queue, batch, runners, waits, 0).await
}

/// Runs `runners` runners on `queue` until at least `target` jobs are done and the queue is empty.
async fn drain_until(
    store: &Store,
    clock: &Arc<dyn Clock>,
    queue: &str,
    batch: u32,
    runners: usize,
    waits: Option<Arc<Mutex<Vec<u64>>>>,
    target: usize,
) -> Result<usize> {
    let mut tasks = Vec::new();
    for _ in 0..runners {
        let mut cfg = RunnerConfig::new(queue);
        cfg.batch = batch;
        let waits = waits.clone();
        let c = clock.clone();
        let runner = JobRunner::new(store.clone(), clock.clone(), cfg).handle("noop", move |job| {
            let waits = waits.clone();
            let now = c.now();
            async move {
                if let Some(w) = waits {
                    let waited = u64::try_from(now.millis() - job.created_at.millis()).unwrap_or(0);
                    w.lock().await.push(waited);
                }
                JobOutcome::Done
            }
        });
        let store = store.clone();
        let queue = queue.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut total = 0usize;
            loop {
                let n = runner.run_once().await?;
                total += n;
                if n == 0 {
                    let counts = store.queue_counts(&queue).await?;
                    if counts.ready == 0 && counts.running == 0 && counts.done as usize >= target {
                        return anyhow::Ok(total);
                    }
                    tokio::task::yield_now().await;
                }
            }
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.context("runner task")??;
    }
    Ok(total)
}

/// A fresh, migrated store for a benchmark over generated data: a new schema of the PostgreSQL at
/// `database_url`, or a SQLite file in a temporary directory (kept as long as the returned guard).
pub(crate) async fn fresh_store(
    database_url: Option<&str>,
    name: &str,
) -> anyhow::Result<(parley_store::Store, Option<tempfile::TempDir>)> {
    use anyhow::Context;
    let (url, dir) = match database_url {
        Some(base) => (
            parley_store::bulk::new_pg_schema_url(base, name).await?,
            None,
        ),
        None => {
            let dir = tempfile::tempdir().context("temporary directory")?;
            let url = format!(
                "sqlite://{}",
                dir.path().join(format!("{name}.db")).display()
            );
            (url, Some(dir))
        }
    };
    let store = parley_store::Store::connect(&url, &parley_store::StoreOptions::default())
        .await
        .with_context(|| format!("opening {url}"))?;
    store.migrate().await?;
    Ok((store, dir))
}
