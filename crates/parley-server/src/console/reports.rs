//! The reports page's charts (issue 15): `GET /console/reports/{kind}/chart.svg?filters` draws a
//! report as SVG in the signed-in agent's language. It sits behind the console's session (the
//! page puts it in an `<img>`, which sends the cookie but no token), and answers the people the
//! reports API answers: `supervise` or `manage_campaigns`.
//!
//! The filters read as the API's: `from` and `to` are days (`YYYY-MM-DD`, UTC), both included;
//! without them the last 30 days up to today.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use parley_core::Timestamp;
use parley_core::access::Permission;
use parley_core::reports::{DAY_MS, Dimension, ReportFilter, ReportKind, validate};
use serde::Deserialize;
use uuid::Uuid;

use crate::AppState;
use crate::console::session::ConsoleSession;
use crate::error::{ApiError, ApiPath, ApiQuery};

/// Who may see reports, as the reports API says.
pub const NEEDS: [Permission; 2] = [Permission::Supervise, Permission::ManageCampaigns];

/// The filters as they come in the address; every field optional and an empty value the same as
/// none, so a form's untouched select can be sent as it is.
#[derive(Debug, Default, Deserialize)]
pub struct FilterQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    pub channel_id: Option<String>,
    pub queue_id: Option<String>,
    pub agent_id: Option<String>,
    pub context: Option<String>,
    pub group_by: Option<String>,
}

fn present(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// A `YYYY-MM-DD` day as the time of its UTC midnight.
fn day(field: &str, value: &str) -> Result<Timestamp, ApiError> {
    let date: jiff::civil::Date = value
        .parse()
        .map_err(|_| ApiError::invalid(format!("{field}: a day as YYYY-MM-DD")))?;
    let ts = date
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map_err(|_| ApiError::invalid(format!("{field}: the day is out of range")))?;
    Ok(Timestamp(ts.timestamp().as_millisecond()))
}

fn id(field: &str, value: &Option<String>) -> Result<Option<Uuid>, ApiError> {
    present(value)
        .map(|v| {
            v.parse()
                .map_err(|_| ApiError::invalid(format!("{field}: not an id")))
        })
        .transpose()
}

impl FilterQuery {
    /// The filter `kind` runs with, `now` giving the default range; 422 naming the field when
    /// a value is wrong (the same checks as the reports API, from `parley_core::reports`).
    pub fn to_filter(&self, kind: ReportKind, now: Timestamp) -> Result<ReportFilter, ApiError> {
        let today = Timestamp(now.0.div_euclid(DAY_MS) * DAY_MS);
        let to = match present(&self.to) {
            Some(v) => day("to", v)?,
            None => today,
        };
        let from = match present(&self.from) {
            Some(v) => day("from", v)?,
            None => Timestamp(to.0 - 29 * DAY_MS),
        };
        if from > to {
            return Err(ApiError::invalid(
                "from: the first day comes after the last (to)",
            ));
        }
        let group_by = present(&self.group_by)
            .map(|g| {
                Dimension::parse(g).ok_or_else(|| ApiError::invalid("group_by: unknown grouping"))
            })
            .transpose()?;
        let filter = ReportFilter {
            from,
            // The last day is included: the filter's end is the midnight after it.
            to: Timestamp(to.0 + DAY_MS),
            channel_id: id("channel_id", &self.channel_id)?,
            queue_id: id("queue_id", &self.queue_id)?,
            agent_id: id("agent_id", &self.agent_id)?,
            context: present(&self.context).map(str::to_owned),
            group_by,
        };
        validate(kind, filter).map_err(|e| ApiError::invalid(e.to_string()))
    }
}

/// `GET /console/reports/{kind}/chart.svg`.
async fn chart_svg(
    State(state): State<AppState>,
    Extension(session): Extension<ConsoleSession>,
    ApiPath(kind): ApiPath<String>,
    ApiQuery(query): ApiQuery<FilterQuery>,
) -> Result<Response, ApiError> {
    let permissions = state
        .store
        .agent_permissions(session.agent.id, session.agent.role)
        .await?;
    if !NEEDS.iter().any(|p| permissions.contains(*p)) {
        return Err(ApiError::forbidden_permission(Permission::Supervise));
    }
    let kind = ReportKind::parse(&kind).ok_or_else(|| ApiError::not_found("report"))?;
    let filter = query.to_filter(kind, state.clock.now())?;
    let report = parley_engine::reports::run(&state.store, kind, filter).await?;
    let svg = crate::console::charts::render(&report, session.agent.locale);
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            // Opened on its own, the image may draw itself and nothing else.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'",
            ),
        ],
        svg,
    )
        .into_response())
}

/// The chart route; mount behind the console's auth middleware, like the pages.
pub fn chart_routes() -> Router<AppState> {
    Router::new().route("/console/reports/{kind}/chart.svg", get(chart_svg))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(from: &str, to: &str) -> FilterQuery {
        FilterQuery {
            from: Some(from.into()),
            to: Some(to.into()),
            ..FilterQuery::default()
        }
    }

    #[test]
    fn days_are_included_and_bad_values_name_their_field() {
        let now = Timestamp(1_796_385_040_138);
        let f = q("2026-12-01", "2026-12-03")
            .to_filter(ReportKind::Sessions, now)
            .unwrap();
        assert_eq!(f.to.0 - f.from.0, 3 * DAY_MS);
        assert_eq!(f.from.0 % DAY_MS, 0);
        let d = FilterQuery::default()
            .to_filter(ReportKind::Sessions, now)
            .unwrap();
        assert_eq!(d.to.0 - d.from.0, 30 * DAY_MS);
        assert!(d.from < now && now < d.to);
        for (query, field) in [
            (q("2026-13-01", "2026-12-03"), "from"),
            (q("2026-12-01", "yesterday"), "to"),
            (q("2026-12-05", "2026-12-03"), "from"),
            (q("2000-01-01", "2026-12-03"), "to"),
            (
                FilterQuery {
                    channel_id: Some("x".into()),
                    ..FilterQuery::default()
                },
                "channel_id",
            ),
            (
                FilterQuery {
                    group_by: Some("planet".into()),
                    ..FilterQuery::default()
                },
                "group_by",
            ),
            (
                FilterQuery {
                    context: Some("<b>".into()),
                    ..FilterQuery::default()
                },
                "context",
            ),
        ] {
            let e = query.to_filter(ReportKind::Sessions, now).unwrap_err();
            let body = format!("{e:?}");
            assert!(body.contains(field), "{field}: {body}");
        }
        let g = FilterQuery {
            group_by: Some("channel_kind".into()),
            channel_id: Some(String::new()),
            ..FilterQuery::default()
        }
        .to_filter(ReportKind::Sessions, now)
        .unwrap();
        assert_eq!(g.group_by, Some(Dimension::ChannelKind));
        // The report's default grouping when none is named; one it does not take is refused.
        let d = FilterQuery::default()
            .to_filter(ReportKind::Consent, now)
            .unwrap();
        assert_eq!(d.group_by, Some(Dimension::Channel));
        let e = FilterQuery {
            group_by: Some("status".into()),
            ..FilterQuery::default()
        }
        .to_filter(ReportKind::Campaigns, now)
        .unwrap_err();
        assert!(format!("{e:?}").contains("group_by"));
        assert_eq!(g.channel_id, None);
    }
}
