//! `parley bench reports`: every report over a generated year of traffic. A fresh database gets
//! `--sessions` ended sessions spread over the last 365 days (four channels, three queues and
//! none, ten agents, bots, errors, marketing), `--entries` entries over them, a consent change
//! every 10 sessions and a delivery error every 50 (`parley_store::reports::ReportTraffic`),
//! written in bulk inside the database. The rollup then reads it all once, as the worker would
//! have over the year; then each report (and a few groupings) runs `--runs` times over the whole
//! year, timed end to end (`parley_engine::reports::run`), next to a baseline: the three small
//! name lookups every report makes.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use parley_core::model::*;
use parley_core::reports::{DAY_MS, Dimension, ReportFilter, ReportKind, day_of};
use parley_core::{Clock, SystemClock, Timestamp, new_id};
use parley_store::bulk::BulkLoad;
use parley_store::reports::ReportTraffic;
use parley_store::*;
use serde_json::json;

use crate::bench::{micros, percentile};

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    pub sessions: u64,
    pub entries: u64,
    pub runs: usize,
    /// PostgreSQL server (a new schema on it); default a fresh SQLite file.
    pub database_url: Option<String>,
    /// Sessions per bulk transaction.
    pub chunk: u64,
}

/// A report and its grouping (`None`: the report's default).
type Case = (ReportKind, Option<Dimension>);

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

fn progress(label: &'static str) -> impl FnMut(&str, u64) {
    let t = Instant::now();
    let mut last = Instant::now();
    move |table: &str, rows: u64| {
        if last.elapsed() > Duration::from_secs(10) {
            println!(
                "  {label} {table}: {rows} rows ({:.0} s)",
                t.elapsed().as_secs_f64()
            );
            last = Instant::now();
        }
    }
}

pub async fn run(o: Options) -> Result<()> {
    let clock = SystemClock;
    let (store, _dir) =
        crate::bench::fresh_store(o.database_url.as_deref(), "bench_reports").await?;
    let now = clock.now();
    println!(
        "bench reports on {:?}: {} sessions, {} entries over 365 days",
        store.kind(),
        o.sessions,
        o.entries
    );

    let mut channels = Vec::new();
    for (n, kind) in [
        ChannelKind::Sms,
        ChannelKind::Sms,
        ChannelKind::Whatsapp,
        ChannelKind::Messenger,
    ]
    .into_iter()
    .enumerate()
    {
        let c = store
            .create_channel(
                &ChannelSpec {
                    name: format!("Reports {} {n}", kind.as_str()),
                    kind,
                    provider: Provider::Simulator,
                    address: format!("+1415000{n:04}"),
                    number_type: Some(NumberType::TollFree),
                    provider_keyword: None,
                    country: None,
                    consent_level: ConsentLevel::Implicit,
                    queue_id: None,
                    throughput_mps: None,
                    settings: json!({}),
                    secrets: json!({}),
                },
                now,
            )
            .await?;
        channels.push(c.id);
    }
    let mut queues = Vec::new();
    for name in ["Support", "Sales", "Billing"] {
        let q = store
            .create_queue(
                &QueueSpec {
                    name: name.into(),
                    routing_model: RoutingModel::MostAvailable,
                    priority: 0,
                    assignment: parley_core::model::QueueAssignment::Push,
                },
                now,
            )
            .await?;
        queues.push(q.id);
    }
    let mut agents = Vec::new();
    for n in 0..10 {
        let a = store
            .create_agent(
                &AgentSpec {
                    name: format!("Agent {n}"),
                    email: format!("agent{n}.{}@example.test", new_id().simple()),
                    role: AgentRole::Agent,
                    capacity: 3,
                    queue_ids: queues.clone(),
                    skills: vec![],
                },
                now,
            )
            .await?;
        agents.push(a.id);
    }

    let year = 365 * DAY_MS;
    let from = Timestamp((day_of(now) + 1) * DAY_MS - year);
    let users_since = Timestamp(from.millis() - DAY_MS);
    let t = Instant::now();
    let first_channel = channels.first().copied().context("no channel")?;
    let users = BulkLoad {
        sessions: false,
        ..BulkLoad::new(first_channel, o.sessions, 0, users_since, o.chunk)
    };
    let loaded = store.bulk_load(&users, progress("loading")).await?;
    let entries = store
        .bulk_report_traffic(
            &ReportTraffic {
                sessions: o.sessions,
                entries_per_session: o.entries.checked_div(o.sessions).unwrap_or(0).max(1),
                users_since,
                from,
                span_ms: year - DAY_MS,
                channels,
                queues,
                agents,
                chunk: o.chunk,
            },
            progress("loading"),
        )
        .await?;
    println!(
        "  generated {} contacts, {} messaging users, {} sessions, {} entries in {:.1} s",
        loaded.contacts,
        loaded.users,
        o.sessions,
        entries,
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let rolled = store
        .roll_up_reports(Timestamp(now.millis() + DAY_MS), 5_000)
        .await?;
    let took = t.elapsed();
    println!(
        "  rollup: {} sessions, {} consent changes, {} delivery errors in {:.1} s ({:.0} sessions/s)",
        rolled.sessions,
        rolled.consent,
        rolled.delivery_errors,
        took.as_secs_f64(),
        rolled.sessions as f64 / took.as_secs_f64().max(1e-9)
    );

    let filter = ReportFilter {
        from,
        to: Timestamp(from.millis() + year),
        ..ReportFilter::default()
    };
    let mut cases: Vec<(String, Option<Case>)> = vec![("baseline: names".to_owned(), None)];
    for kind in ReportKind::ALL {
        cases.push((kind.as_str().to_owned(), Some((kind, None))));
    }
    for (kind, d) in [
        (ReportKind::Sessions, Dimension::Agent),
        (ReportKind::Sessions, Dimension::ChannelKind),
        (ReportKind::SessionTimes, Dimension::Agent),
        (ReportKind::DeliveryErrors, Dimension::Day),
    ] {
        cases.push((
            format!("{} by {}", kind.as_str(), d.as_str()),
            Some((kind, Some(d))),
        ));
    }
    println!(
        "  {:<28} {:>6} {:>10} {:>10} {:>10}",
        "report (a year)", "rows", "p50", "p99", "max"
    );
    for (name, case) in cases {
        let mut lat = Vec::with_capacity(o.runs);
        let mut rows = 0;
        for _ in 0..o.runs.max(1) {
            let t = Instant::now();
            match case {
                None => {
                    store.report_names().await?;
                }
                Some((kind, group_by)) => {
                    let r = parley_engine::reports::run(
                        &store,
                        kind,
                        ReportFilter {
                            group_by,
                            ..filter.clone()
                        },
                    )
                    .await?;
                    rows = r.rows.len();
                }
            }
            lat.push(micros(t.elapsed()));
        }
        lat.sort_unstable();
        println!(
            "  {:<28} {:>6} {:>7.2} ms {:>7.2} ms {:>7.2} ms",
            name,
            rows,
            ms(percentile(&lat, 0.50)),
            ms(percentile(&lat, 0.99)),
            ms(lat.last().copied().unwrap_or(0)),
        );
    }
    store.close().await;
    Ok(())
}
