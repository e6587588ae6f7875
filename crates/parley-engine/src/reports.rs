//! Reports (issue 15): answers each [`ReportKind`] from the aggregates the store keeps (see
//! `parley_store::reports`), and the worker that keeps them up to date.
//!
//! A report reads rollup rows grouped in SQL by the chosen dimension, so its cost follows the
//! number of days and groups, never the number of sessions or entries. Channel kinds are the one
//! grouping made here: the rollups are keyed by channel, and channels of a kind are merged.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use parley_core::reports::{
    Cell, ChartHint, ChartKind, Column, ColumnKind, DAY_MS, Dimension, Report, ReportFilter,
    ReportKind, day_label, day_of, percentile, validate,
};
use parley_core::{Clock, Timestamp};
use parley_store::reports::{
    BOT_CONTAINED, BOT_HANDED_OFF, METRIC_FIRST_RESPONSE, METRIC_HANDLE, METRIC_MESSAGES,
    METRIC_WAIT, NONE, ReportNames, RollupKey, RollupQuery, key_uuid,
};
use parley_store::{Store, StoreError};

/// How far behind the clock the rollup reads: a write that took its time stamp before this but
/// commits after it would otherwise be skipped by the cursor.
pub const ROLLUP_LAG: Duration = Duration::from_secs(60);

/// How often the rollup worker runs.
pub const ROLLUP_EVERY: Duration = Duration::from_secs(30);

/// Rows per rollup transaction.
pub const ROLLUP_BATCH: u32 = 2_000;

/// Runs one report. A filter that does not pass [`validate`] is `StoreError::Invalid` naming the
/// field (`group_by: ...`); the HTTP API checks it first and answers 422.
pub async fn run(
    store: &Store,
    kind: ReportKind,
    filter: ReportFilter,
) -> Result<Report, StoreError> {
    let filter = validate(kind, filter).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let names = store.report_names().await?;
    let q = RollupQuery {
        from_day: day_of(filter.from),
        to_day: day_of(filter.to),
        channel_id: filter.channel_id,
        queue_id: filter.queue_id,
        agent_id: filter.agent_id,
        context: filter.context.clone(),
    };
    let dim = filter.group_by;
    let mut report = match (kind, dim) {
        (ReportKind::Campaigns, _) => campaigns(store, &filter).await?,
        (_, None) => Report {
            kind,
            filter: filter.clone(),
            columns: Vec::new(),
            rows: Vec::new(),
            chart: None,
        },
        (ReportKind::Sessions, Some(d)) => sessions(store, &names, &q, &filter, d).await?,
        (ReportKind::SessionTimes, Some(d)) => session_times(store, &names, &q, d).await?,
        (ReportKind::Consent, Some(d)) => consent(store, &names, &q, d).await?,
        (ReportKind::DeliveryErrors, Some(d)) => delivery_errors(store, &names, &q, d).await?,
        (ReportKind::Bots, Some(d)) => bots(store, &names, &q, d).await?,
        (ReportKind::AgentActivity, Some(d)) => agent_activity(store, &names, &q, d).await?,
    };
    report.kind = kind;
    report.filter = filter;
    Ok(report)
}

/// Rolls up what is older than `now - ROLLUP_LAG`.
pub async fn roll_up(
    store: &Store,
    now: Timestamp,
) -> Result<parley_store::reports::RolledUp, StoreError> {
    store
        .roll_up_reports(now.minus(ROLLUP_LAG), ROLLUP_BATCH)
        .await
}

/// The rollup worker: every [`ROLLUP_EVERY`] until `shutdown` turns true.
pub async fn run_rollup(
    store: Store,
    clock: std::sync::Arc<dyn Clock>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(ROLLUP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(e) = roll_up(&store, clock.now()).await {
                    tracing::warn!(error = %e, "report rollup failed");
                }
            }
            _ = shutdown.changed() => {
                if *shutdown.borrow() { return; }
            }
        }
    }
}

fn col(key: &str, kind: ColumnKind) -> Column {
    Column {
        key: key.to_owned(),
        kind,
    }
}

/// The label "no queue", "no agent", an unknown channel.
const NONE_LABEL: &str = "none";

/// The rollup column a dimension reads.
fn key_of(d: Dimension) -> RollupKey {
    match d {
        Dimension::Day => RollupKey::Day,
        Dimension::Channel | Dimension::ChannelKind => RollupKey::Channel,
        Dimension::Queue => RollupKey::Queue,
        Dimension::Agent => RollupKey::Agent,
        Dimension::Status => RollupKey::Status,
        Dimension::Source => RollupKey::Source,
        Dimension::ErrorCode => RollupKey::Code,
        Dimension::ProviderCode => RollupKey::ProviderCode,
        Dimension::Context => RollupKey::Context,
    }
}

/// The row label of a group key.
fn label(names: &ReportNames, d: Dimension, k: &str) -> String {
    let id = || key_uuid(k).filter(|id| *id != NONE);
    match d {
        Dimension::Day => k
            .parse::<i64>()
            .map(day_label)
            .unwrap_or_else(|_| k.to_owned()),
        Dimension::Channel => id()
            .and_then(|id| names.channels.get(&id).map(|(n, _)| n.clone()))
            .unwrap_or_else(|| NONE_LABEL.to_owned()),
        Dimension::ChannelKind => id()
            .and_then(|id| names.channels.get(&id).map(|(_, kind)| kind.clone()))
            .unwrap_or_else(|| NONE_LABEL.to_owned()),
        Dimension::Queue => id()
            .and_then(|id| names.queues.get(&id).cloned())
            .unwrap_or_else(|| NONE_LABEL.to_owned()),
        Dimension::Agent => id()
            .and_then(|id| names.agents.get(&id).cloned())
            .unwrap_or_else(|| NONE_LABEL.to_owned()),
        Dimension::ProviderCode if k.is_empty() => NONE_LABEL.to_owned(),
        _ => k.to_owned(),
    }
}

/// Every day of the range as a label, so a chart by day has no gaps.
fn all_days(q: &RollupQuery) -> Vec<String> {
    (q.from_day..q.to_day).map(day_label).collect()
}

fn int(v: i64) -> Cell {
    Cell::Int(v)
}

fn ratio(n: i64, d: i64) -> Cell {
    if d == 0 {
        Cell::Null
    } else {
        Cell::Float(n as f64 / d as f64)
    }
}

fn mean(sum: i64, n: i64) -> Cell {
    if n == 0 {
        Cell::Null
    } else {
        Cell::Float((sum as f64 / n as f64 * 10.0).round() / 10.0)
    }
}

/// Rows keyed by label, in label order (days sort by date), with every day of the range present
/// when grouped by day.
fn with_days<T: Default>(
    d: Dimension,
    q: &RollupQuery,
    mut rows: BTreeMap<String, T>,
) -> BTreeMap<String, T> {
    if d == Dimension::Day {
        for day in all_days(q) {
            rows.entry(day).or_default();
        }
    }
    rows
}

fn bar(series: Vec<usize>) -> Option<ChartHint> {
    Some(ChartHint {
        kind: ChartKind::Bar,
        x: 0,
        series,
    })
}

fn stacked(series: Vec<usize>) -> Option<ChartHint> {
    Some(ChartHint {
        kind: ChartKind::StackedBar,
        x: 0,
        series,
    })
}

fn shell(
    kind: ReportKind,
    columns: Vec<Column>,
    rows: Vec<Vec<Cell>>,
    chart: Option<ChartHint>,
) -> Report {
    Report {
        kind,
        filter: ReportFilter::default(),
        columns,
        rows,
        chart,
    }
}

async fn sessions(
    store: &Store,
    names: &ReportNames,
    q: &RollupQuery,
    filter: &ReportFilter,
    d: Dimension,
) -> Result<Report, StoreError> {
    let k = key_of(d);
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    for g in store.report_session_groups(q, k, k).await? {
        *counts.entry(label(names, d, &g.k1)).or_default() += g.sessions;
    }
    // Sessions still open are not in the rollup (it counts them when they finish): they are read
    // live, as few as the conversations in progress.
    for s in store.report_open_sessions(filter.from, filter.to).await? {
        let agent = match (s.owner_kind.as_deref(), s.owner_id) {
            (Some("agent"), Some(id)) => id,
            _ => NONE,
        };
        let queue = s.queue_id.unwrap_or(NONE);
        if filter.channel_id.is_some_and(|c| c != s.channel_id)
            || filter.queue_id.is_some_and(|x| x != queue)
            || filter.agent_id.is_some_and(|x| x != agent)
            || filter.context.as_ref().is_some_and(|c| *c != s.context)
        {
            continue;
        }
        let key = match d {
            Dimension::Day => day_of(Timestamp(s.started_at)).to_string(),
            Dimension::Channel | Dimension::ChannelKind => s.channel_id.to_string(),
            Dimension::Queue => queue.to_string(),
            Dimension::Agent => agent.to_string(),
            Dimension::Status => s.status.clone(),
            Dimension::Context => s.context.clone(),
            _ => String::new(),
        };
        *counts.entry(label(names, d, &key)).or_default() += 1;
    }
    let rows = with_days(d, q, counts)
        .into_iter()
        .map(|(l, n)| vec![Cell::Text(l), int(n)])
        .collect();
    Ok(shell(
        ReportKind::Sessions,
        vec![
            col(d.as_str(), d.column_kind()),
            col("sessions", ColumnKind::Count),
        ],
        rows,
        bar(vec![1]),
    ))
}

#[derive(Default)]
struct Times {
    sessions: i64,
    accepted: i64,
    responded: i64,
    wait_ms: i64,
    first_response_ms: i64,
    handle_ms: i64,
    messages: i64,
    hist: HashMap<i64, Vec<(i64, i64)>>,
}

const METRICS: [(&str, i64); 4] = [
    ("wait", METRIC_WAIT),
    ("first_response", METRIC_FIRST_RESPONSE),
    ("handle", METRIC_HANDLE),
    ("messages", METRIC_MESSAGES),
];

fn pct(hist: Option<&Vec<(i64, i64)>>, p: f64) -> Cell {
    match hist.and_then(|h| percentile(h, p)) {
        Some(v) => Cell::Int(v.round() as i64),
        None => Cell::Null,
    }
}

async fn times_by(
    store: &Store,
    names: &ReportNames,
    q: &RollupQuery,
    d: Dimension,
) -> Result<BTreeMap<String, Times>, StoreError> {
    let k = key_of(d);
    let mut out: BTreeMap<String, Times> = BTreeMap::new();
    for g in store.report_session_groups(q, k, k).await? {
        let t = out.entry(label(names, d, &g.k1)).or_default();
        t.sessions += g.sessions;
        t.accepted += g.accepted;
        t.responded += g.responded;
        t.wait_ms += g.wait_ms;
        t.first_response_ms += g.first_response_ms;
        t.handle_ms += g.handle_ms;
        t.messages += g.messages;
    }
    for h in store.report_session_hist(q, k).await?.unwrap_or_default() {
        out.entry(label(names, d, &h.k1))
            .or_default()
            .hist
            .entry(h.metric)
            .or_default()
            .push((h.bucket, h.n));
    }
    Ok(with_days(d, q, out))
}

async fn session_times(
    store: &Store,
    names: &ReportNames,
    q: &RollupQuery,
    d: Dimension,
) -> Result<Report, StoreError> {
    let groups = times_by(store, names, q, d).await?;
    let mut columns = vec![
        col(d.as_str(), d.column_kind()),
        col("sessions", ColumnKind::Count),
    ];
    for (m, _) in METRICS {
        let kind = if m == "messages" {
            ColumnKind::Number
        } else {
            ColumnKind::DurationMs
        };
        columns.push(col(&format!("{m}_count"), ColumnKind::Count));
        columns.push(col(&format!("{m}_mean"), kind));
        for p in ["p50", "p90", "p99"] {
            columns.push(col(&format!("{m}_{p}"), kind));
        }
    }
    let rows = groups
        .into_iter()
        .map(|(l, t)| {
            let mut row = vec![Cell::Text(l), int(t.sessions)];
            for (m, metric) in METRICS {
                let (n, sum) = match m {
                    "wait" => (t.accepted, t.wait_ms),
                    "first_response" => (t.responded, t.first_response_ms),
                    "handle" => (t.accepted, t.handle_ms),
                    _ => (t.sessions, t.messages),
                };
                let h = t.hist.get(&metric);
                row.extend([int(n), mean(sum, n), pct(h, 0.5), pct(h, 0.9), pct(h, 0.99)]);
            }
            row
        })
        .collect();
    // The medians of the three durations side by side.
    Ok(shell(
        ReportKind::SessionTimes,
        columns,
        rows,
        bar(vec![4, 9, 14]),
    ))
}

const CONSENT_STATUSES: [(&str, &str); 4] = [
    ("OptedOut", "opted_out"),
    ("ImplicitlyOptedIn", "implicitly_opted_in"),
    ("ExplicitlyOptedIn", "explicitly_opted_in"),
    ("DoublyOptedIn", "doubly_opted_in"),
];

async fn consent(
    store: &Store,
    names: &ReportNames,
    q: &RollupQuery,
    d: Dimension,
) -> Result<Report, StoreError> {
    let mut rows: BTreeMap<String, [i64; 4]> = BTreeMap::new();
    for g in store
        .report_consent_groups(q, key_of(d), RollupKey::ToStatus)
        .await?
    {
        let r = rows.entry(label(names, d, &g.k1)).or_default();
        if let Some(i) = CONSENT_STATUSES.iter().position(|(s, _)| *s == g.k2)
            && let Some(slot) = r.get_mut(i)
        {
            *slot += g.n;
        }
    }
    let mut columns = vec![
        col(d.as_str(), d.column_kind()),
        col("changes", ColumnKind::Count),
    ];
    columns.extend(
        CONSENT_STATUSES
            .iter()
            .map(|(_, k)| col(k, ColumnKind::Count)),
    );
    let rows = with_days(d, q, rows)
        .into_iter()
        .map(|(l, c)| {
            let mut row = vec![Cell::Text(l), int(c.iter().sum())];
            row.extend(c.iter().map(|n| int(*n)));
            row
        })
        .collect();
    Ok(shell(
        ReportKind::Consent,
        columns,
        rows,
        stacked(vec![2, 3, 4, 5]),
    ))
}

async fn delivery_errors(
    store: &Store,
    names: &ReportNames,
    q: &RollupQuery,
    d: Dimension,
) -> Result<Report, StoreError> {
    let mut rows: BTreeMap<String, [i64; 2]> = BTreeMap::new();
    for g in store
        .report_error_groups(q, key_of(d), RollupKey::Direction)
        .await?
    {
        let r = rows.entry(label(names, d, &g.k1)).or_default();
        if g.k2 == "inbound" {
            r[1] += g.n;
        } else {
            r[0] += g.n;
        }
    }
    let rows = with_days(d, q, rows)
        .into_iter()
        .map(|(l, [out, inb])| vec![Cell::Text(l), int(out + inb), int(out), int(inb)])
        .collect();
    Ok(shell(
        ReportKind::DeliveryErrors,
        vec![
            col(d.as_str(), d.column_kind()),
            col("errors", ColumnKind::Count),
            col("outbound", ColumnKind::Count),
            col("inbound", ColumnKind::Count),
        ],
        rows,
        stacked(vec![2, 3]),
    ))
}

async fn bots(
    store: &Store,
    names: &ReportNames,
    q: &RollupQuery,
    d: Dimension,
) -> Result<Report, StoreError> {
    let mut rows: BTreeMap<String, [i64; 2]> = BTreeMap::new();
    for g in store
        .report_session_groups(q, key_of(d), RollupKey::Bot)
        .await?
    {
        let r = rows.entry(label(names, d, &g.k1)).or_default();
        match g.k2.parse::<i64>() {
            Ok(BOT_CONTAINED) => r[0] += g.sessions,
            Ok(BOT_HANDED_OFF) => r[1] += g.sessions,
            _ => {}
        }
    }
    let rows = with_days(d, q, rows)
        .into_iter()
        .map(|(l, [contained, handed])| {
            let total = contained + handed;
            vec![
                Cell::Text(l),
                int(total),
                int(contained),
                int(handed),
                ratio(contained, total),
                ratio(handed, total),
            ]
        })
        .collect();
    Ok(shell(
        ReportKind::Bots,
        vec![
            col(d.as_str(), d.column_kind()),
            col("bot_sessions", ColumnKind::Count),
            col("contained", ColumnKind::Count),
            col("handed_off", ColumnKind::Count),
            col("containment_rate", ColumnKind::Ratio),
            col("hand_off_rate", ColumnKind::Ratio),
        ],
        rows,
        stacked(vec![2, 3]),
    ))
}

const PRESENCES: [&str; 3] = ["available", "busy", "on_break"];

#[derive(Default)]
struct Activity {
    sessions: i64,
    handle_ms: i64,
    accepted: i64,
    handle_hist: Vec<(i64, i64)>,
    presence: [i64; 3],
}

async fn agent_activity(
    store: &Store,
    names: &ReportNames,
    q: &RollupQuery,
    d: Dimension,
) -> Result<Report, StoreError> {
    let k = key_of(d);
    let mut rows: BTreeMap<String, Activity> = BTreeMap::new();
    // Sessions an agent finished: grouped with the agent so those nobody took are left out.
    for g in store.report_session_groups(q, k, RollupKey::Agent).await? {
        if key_uuid(&g.k2).is_none_or(|id| id == NONE) {
            continue;
        }
        let r = rows.entry(label(names, d, &g.k1)).or_default();
        r.sessions += g.sessions;
        r.accepted += g.accepted;
        r.handle_ms += g.handle_ms;
    }
    for h in store.report_session_hist(q, k).await?.unwrap_or_default() {
        if h.metric == METRIC_HANDLE
            && (d != Dimension::Agent || key_uuid(&h.k1).is_some_and(|id| id != NONE))
        {
            rows.entry(label(names, d, &h.k1))
                .or_default()
                .handle_hist
                .push((h.bucket, h.n));
        }
    }
    for g in store
        .report_presence_groups(q, k, RollupKey::Presence)
        .await?
    {
        if let Some(i) = PRESENCES.iter().position(|p| *p == g.k2) {
            let r = rows.entry(label(names, d, &g.k1)).or_default();
            if let Some(slot) = r.presence.get_mut(i) {
                *slot += g.n;
            }
        }
    }
    let mut columns = vec![
        col(d.as_str(), d.column_kind()),
        col("sessions", ColumnKind::Count),
        col("handle_mean", ColumnKind::DurationMs),
        col("handle_p50", ColumnKind::DurationMs),
        col("handle_p90", ColumnKind::DurationMs),
    ];
    columns.extend(
        PRESENCES
            .iter()
            .map(|p| col(&format!("{p}_ms"), ColumnKind::DurationMs)),
    );
    let rows = with_days(d, q, rows)
        .into_iter()
        .map(|(l, a)| {
            let h = Some(&a.handle_hist).filter(|h| !h.is_empty());
            let mut row = vec![
                Cell::Text(l),
                int(a.sessions),
                mean(a.handle_ms, a.accepted),
                pct(h, 0.5),
                pct(h, 0.9),
            ];
            row.extend(a.presence.iter().map(|ms| int(*ms)));
            row
        })
        .collect();
    Ok(shell(
        ReportKind::AgentActivity,
        columns,
        rows,
        stacked(vec![5, 6, 7]),
    ))
}

/// Campaigns and broadcasts created in the range (on the filter's channel when one is named),
/// newest first, each with its funnel. A campaign's funnel is read from its own messages (its
/// statuses move for days after the send), so this report's cost follows the campaigns in the
/// range, not the traffic.
async fn campaigns(store: &Store, filter: &ReportFilter) -> Result<Report, StoreError> {
    let mut rows = Vec::new();
    for c in store.campaigns().await? {
        let at = c.started_at.unwrap_or(c.created_at);
        if at < filter.from || at >= filter.to {
            continue;
        }
        if filter
            .channel_id
            .is_some_and(|ch| !c.spec.senders.contains(&ch))
        {
            continue;
        }
        let n = store.campaign_counts(c.id).await?;
        let i = |v: u64| Cell::Int(i64::try_from(v).unwrap_or(i64::MAX));
        let failed: u64 = n.failed.values().sum();
        rows.push(vec![
            Cell::Text(c.spec.name.clone()),
            Cell::Text(c.spec.kind.as_str().to_owned()),
            c.spec
                .content
                .template
                .as_ref()
                .map_or(Cell::Null, |t| Cell::Text(t.name.clone())),
            c.spec.content.text.clone().map_or(Cell::Null, Cell::Text),
            i(n.audience),
            i(n.queued),
            i(n.sent),
            i(n.delivered),
            i(failed),
            i(n.opt_outs),
            i(n.replied),
            i(n.clicks_unique),
        ]);
    }
    let columns = vec![
        col("campaign", ColumnKind::Label),
        col("kind", ColumnKind::Label),
        col("template", ColumnKind::Label),
        col("content", ColumnKind::Label),
        col("recipients", ColumnKind::Count),
        col("queued", ColumnKind::Count),
        col("sent", ColumnKind::Count),
        col("delivered", ColumnKind::Count),
        col("failed", ColumnKind::Count),
        col("opted_out", ColumnKind::Count),
        col("replied", ColumnKind::Count),
        col("clicked", ColumnKind::Count),
    ];
    Ok(shell(
        ReportKind::Campaigns,
        columns,
        rows,
        bar(vec![5, 6, 7, 8]),
    ))
}

/// The `[from, to)` of the `days` UTC days ending with today's, for a default range.
pub fn last_days(now: Timestamp, days: i64) -> (Timestamp, Timestamp) {
    let to = (day_of(now) + 1) * DAY_MS;
    (Timestamp(to - days * DAY_MS), Timestamp(to))
}
