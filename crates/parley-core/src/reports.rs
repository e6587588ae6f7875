//! Reports (issue 15, REP-01..04): what each report is, its filters, and the one tabular shape
//! every report answers in, so the API (JSON), the CSV export and the console's server-drawn
//! charts all read the same thing.
//!
//! Days are UTC calendar days. Figures come from aggregates kept up to date as the pipelines
//! write (never from a scan of the entries), so a report's cost does not grow with the traffic.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Timestamp;

/// The reports Parley offers, by wire name (`/api/v1/reports/{kind}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    /// Sessions counted by the chosen dimension (day, channel, channel kind, queue, agent, status).
    Sessions,
    /// Wait, first response and handle time, and messages per session, as percentiles.
    SessionTimes,
    /// Consent changes by channel, kind and source.
    Consent,
    /// Delivery errors by catalogue code, channel and provider code (REP-02c).
    DeliveryErrors,
    /// Campaign and broadcast results: name, template, content, recipients, funnel (REP-04).
    Campaigns,
    /// Bot containment and hand-off rate.
    Bots,
    /// Agent activity: presence time, sessions, handle time.
    AgentActivity,
}

impl ReportKind {
    pub const ALL: [ReportKind; 7] = [
        ReportKind::Sessions,
        ReportKind::SessionTimes,
        ReportKind::Consent,
        ReportKind::DeliveryErrors,
        ReportKind::Campaigns,
        ReportKind::Bots,
        ReportKind::AgentActivity,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::Sessions => "sessions",
            ReportKind::SessionTimes => "session_times",
            ReportKind::Consent => "consent",
            ReportKind::DeliveryErrors => "delivery_errors",
            ReportKind::Campaigns => "campaigns",
            ReportKind::Bots => "bots",
            ReportKind::AgentActivity => "agent_activity",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// What a report's rows are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Day,
    Channel,
    ChannelKind,
    Queue,
    Agent,
    Status,
    Source,
    ErrorCode,
    ProviderCode,
    Context,
}

/// The filters every report takes. `from` is inclusive and `to` exclusive, both at UTC day
/// boundaries once validated.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReportFilter {
    pub from: Timestamp,
    pub to: Timestamp,
    pub channel_id: Option<Uuid>,
    pub queue_id: Option<Uuid>,
    pub agent_id: Option<Uuid>,
    /// A session context (`service`, `marketing`, ...), as `SessionContext`'s wire name.
    pub context: Option<String>,
    /// The grouping; each report has its default and the dimensions it accepts.
    pub group_by: Option<Dimension>,
}

/// How a column's values read: the console formats each kind in the agent's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    /// A UTC day, `YYYY-MM-DD`.
    Date,
    /// A name: channel, queue, agent, status, code.
    Label,
    /// A whole number of things.
    Count,
    /// Milliseconds.
    DurationMs,
    /// A share between 0 and 1.
    Ratio,
    /// Any other number.
    Number,
}

/// One column: `key` is stable (CSV header, JSON) and names the catalogue text
/// `reports.col.<key>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub key: String,
    pub kind: ColumnKind,
}

/// One value of a row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Cell {
    Null,
    Int(i64),
    Float(f64),
    Text(String),
}

/// How the console draws a report: which column runs along the x axis and which columns are
/// the series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChartHint {
    pub kind: ChartKind,
    pub x: usize,
    pub series: Vec<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChartKind {
    Bar,
    StackedBar,
    Line,
}

/// A report's answer: the same shape for every kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub kind: ReportKind,
    pub filter: ReportFilter,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
    pub chart: Option<ChartHint>,
}

/// Why a filter was refused: the query parameter it names and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FilterError {
    pub field: &'static str,
    pub message: String,
}

/// The longest range one report covers: a year and a month of slack for a comparison.
pub const MAX_RANGE_DAYS: i64 = 400;

pub const DAY_MS: i64 = 86_400_000;

impl Dimension {
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Day => "day",
            Dimension::Channel => "channel",
            Dimension::ChannelKind => "channel_kind",
            Dimension::Queue => "queue",
            Dimension::Agent => "agent",
            Dimension::Status => "status",
            Dimension::Source => "source",
            Dimension::ErrorCode => "error_code",
            Dimension::ProviderCode => "provider_code",
            Dimension::Context => "context",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        use Dimension::*;
        [
            Day,
            Channel,
            ChannelKind,
            Queue,
            Agent,
            Status,
            Source,
            ErrorCode,
            ProviderCode,
            Context,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }

    /// How the grouping column reads.
    pub fn column_kind(self) -> ColumnKind {
        match self {
            Dimension::Day => ColumnKind::Date,
            _ => ColumnKind::Label,
        }
    }
}

impl ReportKind {
    /// The groupings this report accepts; the first is its default.
    pub fn dimensions(self) -> &'static [Dimension] {
        use Dimension::*;
        match self {
            ReportKind::Sessions => &[Day, Channel, ChannelKind, Queue, Agent, Status, Context],
            ReportKind::SessionTimes => &[Day, Channel, ChannelKind, Queue, Agent, Context],
            ReportKind::Consent => &[Channel, Day, ChannelKind, Source],
            ReportKind::DeliveryErrors => &[ErrorCode, Day, Channel, ChannelKind, ProviderCode],
            // One row per campaign: the grouping is fixed.
            ReportKind::Campaigns => &[],
            ReportKind::Bots => &[Day, Channel, ChannelKind, Queue, Context],
            ReportKind::AgentActivity => &[Agent, Day],
        }
    }

    /// The grouping used when the filter names none.
    pub fn default_dimension(self) -> Option<Dimension> {
        self.dimensions().first().copied()
    }
}

/// The UTC day number (days since 1970-01-01) of a time.
pub fn day_of(t: Timestamp) -> i64 {
    t.millis().div_euclid(DAY_MS)
}

/// `YYYY-MM-DD` of a UTC day number.
pub fn day_label(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The UTC day number of `YYYY-MM-DD`, if it is a date.
pub fn parse_day(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let day = days_from_civil(y, m, d);
    (civil_from_days(day) == (y, m, d)).then_some(day)
}

// The proleptic Gregorian calendar's day arithmetic (H. Hinnant's algorithms), so a report day is
// the same on every node whatever its time-zone database.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Checks a filter for `kind` and settles its grouping (the report's default when none is named).
/// `from` must be before `to` (`to` exclusive), both at UTC midnight, at most
/// [`MAX_RANGE_DAYS`] apart.
pub fn validate(kind: ReportKind, mut filter: ReportFilter) -> Result<ReportFilter, FilterError> {
    if filter.from.millis().rem_euclid(DAY_MS) != 0 {
        return Err(FilterError {
            field: "from",
            message: "must be a day (YYYY-MM-DD)".into(),
        });
    }
    if filter.to.millis().rem_euclid(DAY_MS) != 0 {
        return Err(FilterError {
            field: "to",
            message: "must be a day (YYYY-MM-DD)".into(),
        });
    }
    if filter.from >= filter.to {
        return Err(FilterError {
            field: "from",
            message: "must not be after to".into(),
        });
    }
    if day_of(filter.to) - day_of(filter.from) > MAX_RANGE_DAYS {
        return Err(FilterError {
            field: "to",
            message: format!("the range may cover at most {MAX_RANGE_DAYS} days"),
        });
    }
    if let Some(c) = &filter.context
        && !matches!(c.as_str(), "service" | "marketing")
    {
        return Err(FilterError {
            field: "context",
            message: "must be service or marketing".into(),
        });
    }
    match filter.group_by {
        Some(d) if !kind.dimensions().contains(&d) => {
            let allowed: Vec<&str> = kind.dimensions().iter().map(|d| d.as_str()).collect();
            return Err(FilterError {
                field: "group_by",
                message: if allowed.is_empty() {
                    format!("the {} report takes no grouping", kind.as_str())
                } else {
                    format!(
                        "the {} report groups by one of: {}",
                        kind.as_str(),
                        allowed.join(", ")
                    )
                },
            });
        }
        Some(_) => {}
        None => filter.group_by = kind.default_dimension(),
    }
    Ok(filter)
}

/// Log-spaced histogram buckets for durations (ms) and counts: bucket 0 holds 0 (and anything
/// negative), bucket `b >= 1` holds `[2^((b-1)/8), 2^(b/8))`. Eight buckets per doubling, so a
/// value read back as its bucket's geometric middle is within `2^(1/16) - 1` (4.4 %) of any value
/// in the bucket: that is the error bound of every percentile the reports give. A year in
/// milliseconds (3.2e10) is bucket 280; the histogram of one group has at most that many rows.
pub const BUCKETS_PER_DOUBLING: f64 = 8.0;

/// The relative error bound of a percentile read from the buckets.
pub const PERCENTILE_ERROR: f64 = 0.044_3;

pub fn bucket_of(value: i64) -> i64 {
    if value <= 0 {
        return 0;
    }
    // The float's rounding can put an exact power of two a hair below its edge; the edge test
    // puts it back.
    let b = ((value as f64).log2() * BUCKETS_PER_DOUBLING).floor() as i64 + 1;
    if bucket_low(b + 1) <= value as f64 {
        b + 1
    } else if bucket_low(b) > value as f64 {
        b - 1
    } else {
        b
    }
}

fn bucket_low(b: i64) -> f64 {
    2f64.powf((b - 1) as f64 / BUCKETS_PER_DOUBLING)
}

/// The value a bucket stands for: its geometric middle (0 for bucket 0).
pub fn bucket_value(bucket: i64) -> f64 {
    if bucket <= 0 {
        0.0
    } else {
        2f64.powf((bucket as f64 - 0.5) / BUCKETS_PER_DOUBLING)
    }
}

/// The nearest-rank percentile `p` (0 < p <= 1) of a histogram given as (bucket, count) pairs in
/// any order: the value of the bucket holding the `ceil(p * n)`-th smallest value.
pub fn percentile(hist: &[(i64, i64)], p: f64) -> Option<f64> {
    let mut sorted: Vec<(i64, i64)> = hist.iter().copied().filter(|(_, n)| *n > 0).collect();
    sorted.sort_unstable();
    let total: i64 = sorted.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return None;
    }
    let rank = ((p * total as f64).ceil() as i64).clamp(1, total);
    let mut seen = 0;
    for (b, n) in sorted {
        seen += n;
        if seen >= rank {
            return Some(bucket_value(b));
        }
    }
    None
}

#[cfg(test)]
mod bucket_tests {
    use super::*;
    use proptest::prelude::*;

    fn exact(values: &mut [i64], p: f64) -> i64 {
        values.sort_unstable();
        let rank = ((p * values.len() as f64).ceil() as usize).clamp(1, values.len());
        values.get(rank - 1).copied().unwrap_or_default()
    }

    proptest! {
        #[test]
        fn a_percentile_is_within_the_bound(mut values in proptest::collection::vec(1i64..40_000_000_000, 1..200), p in 0.01f64..1.0) {
            let mut hist = std::collections::BTreeMap::new();
            for v in &values {
                *hist.entry(bucket_of(*v)).or_insert(0i64) += 1;
            }
            let hist: Vec<(i64, i64)> = hist.into_iter().collect();
            let got = percentile(&hist, p).unwrap();
            let want = exact(&mut values, p) as f64;
            prop_assert!((got - want).abs() <= want * PERCENTILE_ERROR, "{got} vs {want}");
        }
    }

    #[test]
    fn small_counts_read_back_exactly() {
        for v in 0..=11 {
            assert_eq!(bucket_value(bucket_of(v)).round() as i64, v, "{v}");
        }
    }

    #[test]
    fn days_read_and_print() {
        assert_eq!(parse_day("1970-01-02"), Some(1));
        assert_eq!(day_label(20_000), "2024-10-04");
        assert_eq!(parse_day(&day_label(20_425)), Some(20_425));
        assert_eq!(parse_day("2026-02-30"), None);
    }

    #[test]
    fn filters_are_checked() {
        let f = ReportFilter {
            from: Timestamp(10 * DAY_MS),
            to: Timestamp(12 * DAY_MS),
            ..ReportFilter::default()
        };
        let ok = validate(ReportKind::Sessions, f.clone()).unwrap();
        assert_eq!(ok.group_by, Some(Dimension::Day));
        let bad = ReportFilter {
            group_by: Some(Dimension::ErrorCode),
            ..f.clone()
        };
        assert_eq!(
            validate(ReportKind::Sessions, bad).unwrap_err().field,
            "group_by"
        );
        let reversed = ReportFilter {
            from: f.to,
            to: f.from,
            ..f.clone()
        };
        assert_eq!(
            validate(ReportKind::Sessions, reversed).unwrap_err().field,
            "from"
        );
        let long = ReportFilter {
            to: Timestamp(500 * DAY_MS),
            ..f
        };
        assert_eq!(
            validate(ReportKind::Sessions, long).unwrap_err().field,
            "to"
        );
    }
}
