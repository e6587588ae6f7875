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
