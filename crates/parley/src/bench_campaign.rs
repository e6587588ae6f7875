//! `parley bench campaign`: a marketing campaign to `--recipients` opted-in messaging users spread
//! over `--senders` SMS channels, from Start to completed: the expansion (audience pages, the
//! segment's consent filter, the eligibility rules), rendering (a merge field and a short link per
//! recipient) and dispatch to the local sink of `bench outbound`, with the senders' rate lifted.
//!
//! Printed in the same run, on the same sink and senders: the sink alone (the baseline), the
//! outbound benchmark's pipeline rate, then the campaign: the whole time, the expansion's
//! throughput, the dispatch rate with its latency from queued to the sink, and the ratio of the
//! dispatch rate to the outbound rate.
//!
//! The expansion runs interleaved with dispatch (it stays a look-ahead ahead of the dispatcher),
//! so its own cost is measured on the first pass of the campaign worker, before the engine's
//! workers start: one pass expands up to the look-ahead with nothing else running.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use parley_core::campaign::audience::{Condition, ConsentFilter, SegmentFilter};
use parley_core::campaign::state::CampaignAction;
use parley_core::campaign::{
    Audience, CampaignKind, CampaignSpec, CampaignState, Content, Footer, MissingValues, Schedule,
};
use parley_core::model::ConsentStatus;
use parley_core::{Clock, SystemClock, Timestamp};
use parley_engine::service::campaigns::{self as service, SegmentInput};
use parley_engine::{Engine, EngineConfig, EventBus};
use parley_store::bulk::{BulkLoad, new_pg_schema_url};
use parley_store::{Store, StoreOptions};

use crate::bench::{percentile, rate};
use crate::bench_outbound::{Target, Via, create_senders, digits, engine_config, pipeline};

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    pub recipients: u64,
    pub senders: usize,
    pub via: Via,
    /// The SMPP window of each bind.
    pub window: usize,
    /// Requests (HTTP) or submits (SMPP) in flight for the baseline.
    pub concurrency: usize,
    /// PostgreSQL server to measure (new schemas on it); default fresh SQLite files.
    pub database_url: Option<String>,
    pub runners: usize,
    pub batch: u32,
    pub calls: usize,
    /// Messages of the outbound benchmark run next to the campaign (and of the baseline).
    pub outbound_messages: usize,
    /// Rows per bulk-load transaction.
    pub chunk: u64,
}

/// The campaign's text: a merge field and a link, so every message is rendered and gets a short
/// link of its own.
const TEXT: &str =
    "Hi {{ contact.first_name }}, 20% off this week at https://shop.example.com/winter";

/// The operator's short-link domain.
const LINK_BASE: &str = "https://exm.pl";

/// Generated customers start at this row, so their numbers (`+1202` and the row, see
/// `parley_store::bulk::bulk_phone`) have an exchange from 200 up, valid in the US number plan.
const FIRST_ROW: u64 = 2_000_000;

/// Longest the campaign may take before the bench gives up.
const DEADLINE: Duration = Duration::from_secs(1800);

pub async fn run(o: Options) -> Result<()> {
    let target = Target::start(o.via).await?;
    let senders = o.senders.max(1);
    println!(
        "campaign benchmark: {} opted-in recipients over {senders} SMS sender(s) via {}, rate lifted to 10,000/s per sender; outbound pipeline and baseline with {} messages",
        o.recipients,
        match o.via {
            Via::Http => "Twilio's API shape to a local HTTP sink",
            Via::Smpp => "SMPP to an in-process SMSC",
        },
        o.outbound_messages,
    );
    let baseline = target
        .baseline(o.outbound_messages, o.concurrency, o.window)
        .await?;

    let outbound = crate::bench_outbound::Options {
        messages: o.outbound_messages,
        customers: 5_000,
        concurrency: o.concurrency,
        via: o.via,
        senders,
        window: o.window,
        database_url: match &o.database_url {
            Some(base) => Some(new_pg_schema_url(base, "bench_outbound").await?),
            None => None,
        },
        runners: o.runners,
        batch: o.batch,
        calls: o.calls,
        encrypt: false,
    };
    let outbound_rate = pipeline(&outbound, &target).await?;

    let dir = tempfile::tempdir()?;
    let url = match &o.database_url {
        Some(base) => new_pg_schema_url(base, "bench_campaign").await?,
        None => format!("sqlite://{}", dir.path().join("campaign.db").display()),
    };
    let store = Store::connect(&url, &StoreOptions::default())
        .await
        .context("opening the campaign's database")?;
    store.migrate().await?;
    let result = campaign(&o, &target, &store, outbound_rate, baseline).await;
    if let Err(e) = &result {
        // A failed campaign still says how far it got.
        println!(
            "  campaign failed after {} messages: {e:#}",
            target.received()
        );
    }
    store.close().await;
    result
}

async fn campaign(
    o: &Options,
    target: &Target,
    store: &Store,
    outbound_rate: f64,
    baseline: f64,
) -> Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let channels = create_senders(store, o.senders, target, o.window, clock.now()).await?;

    // The audience: recipients spread evenly over the senders, on distinct rows (numbers).
    let load = Instant::now();
    let per = o.recipients / channels.len() as u64;
    let extra = o.recipients % channels.len() as u64;
    let since = Timestamp(clock.now().millis() - 86_400_000);
    let mut row = FIRST_ROW;
    let mut last = Instant::now();
    for (i, channel) in channels.iter().enumerate() {
        let users = per + u64::from((i as u64) < extra);
        let spec = BulkLoad {
            consent: ConsentStatus::ExplicitlyOptedIn,
            first_name: "Ann".to_owned(),
            offset: row,
            sessions: false,
            ..BulkLoad::new(channel.id, users, 0, since, o.chunk.max(1))
        };
        store
            .bulk_load(&spec, |table, rows| {
                if last.elapsed() > Duration::from_secs(10) {
                    println!(
                        "  loading sender {i}'s {table}: {rows} rows ({:.0} s)",
                        load.elapsed().as_secs_f64()
                    );
                    last = Instant::now();
                }
            })
            .await?;
        row += users;
    }
    println!(
        "  loaded {} messaging users with their contacts in {:.1} s ({:?})",
        o.recipients,
        load.elapsed().as_secs_f64(),
        store.kind()
    );

    let ids: Vec<_> = channels.iter().map(|c| c.id).collect();
    let now = clock.now();
    let segment = service::create_segment(
        store,
        &SegmentInput {
            name: "Bench: opted in".to_owned(),
            description: String::new(),
            filter: SegmentFilter {
                all: vec![
                    Condition::Channel {
                        channels: ids.clone(),
                    },
                    Condition::Consent {
                        statuses: vec![
                            ConsentFilter::Status(ConsentStatus::ExplicitlyOptedIn),
                            ConsentFilter::Status(ConsentStatus::DoublyOptedIn),
                        ],
                    },
                ],
            },
        },
        now,
    )
    .await
    .map_err(|e| anyhow::anyhow!("segment: {e}"))?;
    let spec = CampaignSpec {
        name: "Bench: winter sale".to_owned(),
        kind: CampaignKind::Marketing,
        senders: ids,
        audience: Audience::Segment {
            segment_id: segment.id,
        },
        content: Content {
            text: Some(TEXT.to_owned()),
            template: None,
            missing: MissingValues::Fallback,
            fallbacks: Default::default(),
        },
        footer: Footer::default(),
        schedule: Schedule::default(),
        reply_flow: None,
    };
    let created = service::create_campaign(store, &spec, Some("bench"), now)
        .await
        .map_err(|e| anyhow::anyhow!("campaign: {e}"))?;

    let engine = Engine::new(
        store.clone(),
        clock.clone(),
        EventBus::default(),
        EngineConfig {
            link_base: Some(LINK_BASE.to_owned()),
            ..engine_config(o.runners, o.batch, o.calls)
        },
    );
    let campaigns = engine.campaigns();

    let start = Instant::now();
    let start_ms = clock.now().millis();
    service::act(&campaigns, created.id, CampaignAction::Start)
        .await
        .map_err(|e| anyhow::anyhow!("start: {e}"))?;
    // The expansion alone: the worker's first pass, before anything else runs.
    let t = Instant::now();
    let first = campaigns.pass().await?;
    let first_pass = t.elapsed();

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let workers = engine.spawn_workers(stop_rx);
    let mut expanded_at = None;
    let mut report = Instant::now();
    let finished = loop {
        let c = store.campaign(created.id).await?;
        if c.expanded && expanded_at.is_none() {
            expanded_at = Some(start.elapsed());
        }
        if !matches!(c.state, CampaignState::Sending | CampaignState::Scheduled) {
            break c;
        }
        anyhow::ensure!(
            start.elapsed() < DEADLINE,
            "campaign not completed in {} s",
            DEADLINE.as_secs()
        );
        if report.elapsed() > Duration::from_secs(10) {
            println!(
                "  ... {:.0} s: {} looked at, {} at the sink",
                start.elapsed().as_secs_f64(),
                c.expansion.audience,
                target.received()
            );
            report = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let total = start.elapsed();
    let _ = stop_tx.send(true);
    for w in workers {
        let _ = w.await;
    }
    engine.outbound.smpp_links().close_all().await;
    anyhow::ensure!(
        finished.state == CampaignState::Completed,
        "campaign ended {}",
        finished.state
    );

    // Queued (the entry's time) to the sink, matched by recipient.
    let mut queued: HashMap<u64, i64> = HashMap::with_capacity(o.recipients as usize);
    let mut after = None;
    loop {
        let page = store.campaign_export(created.id, after, 10_000).await?;
        after = page.last().map(|r| r.entry_id);
        for r in &page {
            if let Some(d) = digits(&r.address) {
                queued.insert(d, r.created_at.millis());
            }
        }
        if page.len() < 10_000 {
            break;
        }
    }
    let arrivals = target.take_arrivals().await;
    let mut lat: Vec<u64> = arrivals
        .iter()
        .filter_map(|(to, at)| queued.get(to).map(|q| u64::try_from(at - q).unwrap_or(0)))
        .collect();
    lat.sort_unstable();
    let first_at = arrivals.iter().map(|(_, at)| *at).min().unwrap_or(start_ms);
    let last_at = arrivals.iter().map(|(_, at)| *at).max().unwrap_or(start_ms);
    let sent = arrivals.len();
    let dispatch_window =
        Duration::from_millis(u64::try_from(last_at - first_at).unwrap_or(0).max(1));
    let dispatch = rate(sent, dispatch_window);
    let counts = store.campaign_counts(created.id).await?;

    println!(
        "  {:<34} {:>8.1} s    from Start to completed: {} looked at, {} excluded {:?}, {} queued, {} sent, {} failed, {} at the sink",
        "campaign",
        total.as_secs_f64(),
        counts.audience,
        counts.excluded_total(),
        counts.excluded,
        counts.queued,
        counts.sent,
        counts.failed_total(),
        target.received(),
    );
    println!(
        "  {:<34} {:>8.0} rcpt/s first pass alone ({} recipients in {:.2} s); whole audience expanded {:.1} s after Start ({:.0} rcpt/s, interleaved with dispatch)",
        "expansion",
        rate(first.queued as usize, first_pass),
        first.queued,
        first_pass.as_secs_f64(),
        expanded_at.unwrap_or(total).as_secs_f64(),
        rate(
            counts.audience as usize,
            expanded_at.unwrap_or(total).max(Duration::from_millis(1))
        ),
    );
    println!(
        "  {:<34} {:>8.0} msg/s   first to last message at the sink ({:.1} s, from Start {:.1} s to {:.1} s); queued to sink p50 {} ms, p90 {} ms, p99 {} ms ({} matched)",
        "campaign dispatch to the sink",
        dispatch,
        dispatch_window.as_secs_f64(),
        (first_at - start_ms) as f64 / 1000.0,
        (last_at - start_ms) as f64 / 1000.0,
        percentile(&lat, 0.50),
        percentile(&lat, 0.90),
        percentile(&lat, 0.99),
        lat.len(),
    );
    println!(
        "  dispatch / outbound {:.2} (target at least 0.80); outbound / sink alone {:.2}; campaign {:.1} s (target at most 120 s); {:.0} msg/s over the whole campaign",
        dispatch / outbound_rate.max(1e-9),
        outbound_rate / baseline.max(1e-9),
        total.as_secs_f64(),
        rate(sent, total),
    );
    Ok(())
}
