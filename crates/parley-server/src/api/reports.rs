//! Reports (issue 15): each report as JSON, the same rows as a CSV file, and the raw sessions
//! export (one line per session, no customer text) streamed from a database cursor so a year of
//! sessions leaves the server without being held in memory. Supervisors and marketers read them
//! (any of `supervise`, `manage_campaigns`).

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use parley_core::Timestamp;
use parley_core::reports::{
    Cell, DAY_MS, Dimension, Report, ReportFilter, ReportKind, parse_day, validate,
};
use parley_store::reports::{SessionExportQuery, SessionExportRow};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::AppState;
use crate::error::{ApiError, ApiPath, ApiQuery, ErrorBody};

/// Days a report covers when the query names no `from`.
const DEFAULT_DAYS: i64 = 30;

/// Rows of the raw export per chunk written to the connection.
const ROWS_PER_CHUNK: usize = 512;

/// The filters every report takes.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// First UTC day, `YYYY-MM-DD` (default: 29 days before `to`).
    pub from: Option<String>,
    /// Last UTC day, included, `YYYY-MM-DD` (default: today).
    pub to: Option<String>,
    pub channel_id: Option<String>,
    pub queue_id: Option<String>,
    pub agent_id: Option<String>,
    /// `service` or `marketing`.
    pub context: Option<String>,
    /// day, channel, channel_kind, queue, agent, status, source, error_code, provider_code or
    /// context: each report accepts some (its first is the default).
    pub group_by: Option<String>,
}

/// A report (`parley_core::reports::Report`): its columns (stable keys), rows of cells in column
/// order (a number, a text or null), and how the console charts it.
#[derive(Debug, ToSchema)]
#[schema(as = Report)]
#[allow(dead_code)]
pub struct ReportDoc {
    /// sessions, session_times, consent, delivery_errors, campaigns, bots or agent_activity.
    pub kind: String,
    /// The filter as applied: `from`/`to` in milliseconds since 1970 (`to` exclusive), the
    /// grouping settled.
    #[schema(value_type = Object)]
    pub filter: (),
    pub columns: Vec<ColumnDoc>,
    /// Each row's cells: integers, numbers, texts or null.
    #[schema(value_type = Vec<Vec<serde_json::Value>>)]
    pub rows: (),
    /// `{"kind": "bar" | "stacked_bar" | "line", "x": column index, "series": [column indexes]}`.
    #[schema(value_type = Option<Object>)]
    pub chart: (),
}

/// A report's column.
#[derive(Debug, ToSchema)]
#[schema(as = ReportColumn)]
#[allow(dead_code)]
pub struct ColumnDoc {
    /// Stable: the CSV header and the catalogue's `reports.col.<key>`.
    pub key: String,
    /// date, label, count, duration_ms, ratio or number.
    pub kind: String,
}

fn bad(field: &'static str, message: &str) -> ApiError {
    ApiError::invalid(format!("{field}: {message}"))
}

fn id_param(field: &'static str, v: &Option<String>) -> Result<Option<Uuid>, ApiError> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => Uuid::parse_str(s)
            .map(Some)
            .map_err(|_| bad(field, "must be an id")),
    }
}

fn day_param(field: &'static str, v: &Option<String>) -> Result<Option<i64>, ApiError> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => parse_day(s)
            .map(Some)
            .ok_or_else(|| bad(field, "must be a day (YYYY-MM-DD)")),
    }
}

/// The filter a query names, checked for `kind` (422 naming the field).
fn filter_of(kind: ReportKind, q: &ReportQuery, now: Timestamp) -> Result<ReportFilter, ApiError> {
    let to_day = day_param("to", &q.to)?.unwrap_or_else(|| parley_core::reports::day_of(now));
    let from_day = day_param("from", &q.from)?.unwrap_or(to_day - (DEFAULT_DAYS - 1));
    if from_day > to_day {
        return Err(bad("from", "must not be after to"));
    }
    let group_by = match q.group_by.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => Some(Dimension::parse(s).ok_or_else(|| bad("group_by", "is not a grouping"))?),
    };
    let context = q
        .context
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned);
    let filter = ReportFilter {
        from: Timestamp(from_day * DAY_MS),
        to: Timestamp((to_day + 1) * DAY_MS),
        channel_id: id_param("channel_id", &q.channel_id)?,
        queue_id: id_param("queue_id", &q.queue_id)?,
        agent_id: id_param("agent_id", &q.agent_id)?,
        context,
        group_by,
    };
    validate(kind, filter).map_err(|e| bad(e.field, &e.message))
}

fn kind_param(kind: &str) -> Result<ReportKind, ApiError> {
    ReportKind::parse(kind).ok_or_else(|| ApiError::not_found("report"))
}

async fn report_of(state: &AppState, kind: &str, q: &ReportQuery) -> Result<Report, ApiError> {
    let kind = kind_param(kind)?;
    let filter = filter_of(kind, q, state.clock.now())?;
    Ok(parley_engine::reports::run(&state.store, kind, filter).await?)
}

/// One report as JSON.
#[utoipa::path(get, path = "/api/v1/reports/{kind}",
    extensions(("x-permission" = json!(["supervise", "manage_campaigns"]))), tag = "reports",
    params(("kind" = String, Path, description = "sessions, session_times, consent, delivery_errors, campaigns, bots or agent_activity"), ReportQuery),
    responses((status = 200, body = ReportDoc), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn get_report(
    State(state): State<AppState>,
    ApiPath(kind): ApiPath<String>,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> Result<Json<Report>, ApiError> {
    Ok(Json(report_of(&state, &kind, &q).await?))
}

fn cell_text(c: &Cell) -> String {
    match c {
        Cell::Null => String::new(),
        Cell::Int(v) => v.to_string(),
        Cell::Float(v) => v.to_string(),
        Cell::Text(t) => t.clone(),
    }
}

fn csv_line(fields: impl IntoIterator<Item = String>) -> Result<String, ApiError> {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    w.write_record(fields.into_iter().map(|f| guard_formula(&f)))
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let bytes = w
        .into_inner()
        .map_err(|e| ApiError::internal(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| ApiError::internal(e.to_string()))
}

/// A text a spreadsheet would run as a formula gets a leading apostrophe (names and campaign
/// content come from people).
fn guard_formula(s: &str) -> String {
    match s.chars().next() {
        Some('=' | '+' | '@' | '\t' | '\r') => format!("'{s}"),
        Some('-') if s.parse::<f64>().is_err() => format!("'{s}"),
        _ => s.to_owned(),
    }
}

fn csv_response(body: Body, name: &str) -> Response {
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}.csv\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The same rows as the JSON report, as CSV: the header is the column keys.
#[utoipa::path(get, path = "/api/v1/reports/{kind}/export.csv",
    extensions(("x-permission" = json!(["supervise", "manage_campaigns"]))), tag = "reports",
    params(("kind" = String, Path), ReportQuery),
    responses((status = 200, body = String, content_type = "text/csv"), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn export_csv(
    State(state): State<AppState>,
    ApiPath(kind): ApiPath<String>,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> Result<Response, ApiError> {
    let report = report_of(&state, &kind, &q).await?;
    // A report's rows are its groups (days, channels, agents): few, already in memory for the
    // answer; the stream writes them a line at a time.
    let mut lines = vec![csv_line(report.columns.iter().map(|c| c.key.clone()))?];
    for row in &report.rows {
        lines.push(csv_line(row.iter().map(cell_text))?);
    }
    let stream = futures_util::stream::iter(lines.into_iter().map(Ok::<String, std::io::Error>));
    Ok(csv_response(
        Body::from_stream(stream),
        &format!("report-{}", report.kind.as_str()),
    ))
}

/// The raw export's header.
pub const SESSION_ROWS_HEADER: [&str; 12] = [
    "id",
    "started",
    "ended",
    "channel",
    "queue",
    "agent",
    "status",
    "context",
    "wait_ms",
    "handle_ms",
    "agent_messages",
    "customer_messages",
];

fn session_line(r: &SessionExportRow) -> Result<String, ApiError> {
    let opt = |v: Option<i64>| v.map_or_else(String::new, |v| v.to_string());
    csv_line([
        r.id.to_string(),
        Timestamp(r.started_at).to_rfc3339(),
        r.ended_at
            .map_or_else(String::new, |t| Timestamp(t).to_rfc3339()),
        r.channel.clone().unwrap_or_default(),
        r.queue.clone().unwrap_or_default(),
        r.agent.clone().unwrap_or_default(),
        r.status.clone(),
        r.context.clone(),
        opt(r.accepted_at.map(|a| (a - r.started_at).max(0))),
        opt(match (r.accepted_at, r.ended_at) {
            (Some(a), Some(e)) => Some((e - a).max(0)),
            _ => None,
        }),
        r.agent_messages.to_string(),
        r.customer_messages.to_string(),
    ])
}

/// One line per session started in the range (oldest first): id, start and end, channel, queue
/// and agent names, status, context, wait and handle time, message counts. No customer text, no
/// address. Streamed from a database cursor: the server holds a few hundred rows at a time
/// however many the range has.
#[utoipa::path(get, path = "/api/v1/reports/sessions/rows.csv",
    extensions(("x-permission" = json!(["supervise", "manage_campaigns"]))), tag = "reports",
    params(ReportQuery),
    responses((status = 200, body = String, content_type = "text/csv"), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn session_rows_csv(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ReportQuery>,
) -> Result<Response, ApiError> {
    let filter = filter_of(ReportKind::Sessions, &q, state.clock.now())?;
    let query = SessionExportQuery {
        from: filter.from,
        to: filter.to,
        channel_id: filter.channel_id,
        queue_id: filter.queue_id,
        agent_id: filter.agent_id,
        context: filter.context,
    };
    let (tx, rx) = tokio::sync::mpsc::channel(ROWS_PER_CHUNK);
    let store = state.store.clone();
    tokio::spawn(async move { store.stream_session_rows(&query, tx).await });
    let header = csv_line(SESSION_ROWS_HEADER.iter().map(|h| (*h).to_owned()))?;
    // Pulled as the client reads: the cursor waits on the channel while the connection is slow.
    let stream =
        futures_util::stream::unfold((Some(rx), Some(header)), |(rx, header)| async move {
            let mut rx = rx?;
            let mut chunk = header.unwrap_or_default();
            let mut taken = 0;
            while taken < ROWS_PER_CHUNK {
                match rx.recv().await {
                    Some(Ok(row)) => match session_line(&row) {
                        Ok(line) => chunk.push_str(&line),
                        Err(_) => {
                            return Some((
                                Err(std::io::Error::other("the export failed")),
                                (None, None),
                            ));
                        }
                    },
                    Some(Err(e)) => {
                        // The status line is gone already: breaking the transfer is the only
                        // way left to tell the client that the file is incomplete.
                        tracing::error!(error = %e, "sessions export failed");
                        return Some((
                            Err(std::io::Error::other("the export failed")),
                            (None, None),
                        ));
                    }
                    None => {
                        return if chunk.is_empty() {
                            None
                        } else {
                            Some((Ok(chunk), (None, None)))
                        };
                    }
                }
                taken += 1;
            }
            Some((Ok::<String, std::io::Error>(chunk), (Some(rx), None)))
        });
    Ok(csv_response(Body::from_stream(stream), "sessions"))
}

/// The reports API. The raw export's static path sits beside `{kind}`'s: the router tries the
/// literal segment first.
pub fn report_routes() -> utoipa_axum::router::OpenApiRouter<AppState> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(session_rows_csv))
        .routes(routes!(get_report))
        .routes(routes!(export_csv))
}
