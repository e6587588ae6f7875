//! The audit log over HTTP (issue 16 part 6): the middleware that records admin changes made
//! through `/api/v1`, and the list and export of the log.
//!
//! What the middleware records: every successful (2xx) POST, PUT, PATCH or DELETE whose route
//! declares an admin permission (configure_messaging, manage_users, manage_flows,
//! manage_campaigns, translate, supervise), except `/api/v1/privacy/...`, whose handlers record
//! their own entries with counts. The action is named from the method and the route template
//! (`parley_core::audit::http_action`); the resource id is the route's first path parameter, or
//! for a create the `id` of the JSON answer. The entry is written after the response is known and
//! before it leaves, so a client that saw 2xx finds the entry; a failure to write it is logged and
//! does not undo the change that was made.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{MatchedPath, RawPathParams, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use parley_core::Timestamp;
use parley_core::access::Permission;
use parley_core::audit::{AuditEntry, http_action};
use parley_store::{AuditFilter, AuditRecord, Store};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::permissions::{Requirement, RouteRequirements};
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiQuery, ErrorBody};

/// The routes of this module, merged into the API in `crate::app`.
pub fn audit_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_audit_log))
        .routes(routes!(export_audit_log))
}

/// The permissions whose routes are admin changes.
const ADMIN: [Permission; 6] = [
    Permission::ConfigureMessaging,
    Permission::ManageUsers,
    Permission::ManageFlows,
    Permission::ManageCampaigns,
    Permission::Translate,
    Permission::Supervise,
];

/// The largest answer read back for a create's id; a larger one is recorded without it.
const CREATED_BODY_LIMIT: usize = 256 * 1024;

/// What the middleware needs: each route's permission and the store.
#[derive(Clone)]
pub struct AuditLayer {
    pub requirements: Arc<RouteRequirements>,
    pub store: Store,
    pub clock: Arc<dyn parley_core::Clock>,
}

fn is_admin(requirement: Option<&Requirement>) -> bool {
    matches!(requirement, Some(Requirement::AnyOf(ps)) if ps.iter().any(|p| ADMIN.contains(p)))
}

/// Records a successful admin change (see the module's documentation).
pub async fn record_admin_changes(
    State(layer): State<AuditLayer>,
    matched: Option<MatchedPath>,
    params: Result<RawPathParams, axum::extract::rejection::RawPathParamsRejection>,
    req: Request,
    next: Next,
) -> Response {
    let method = req.method().clone();
    let template = matched.as_ref().map(|m| m.as_str().to_owned());
    let caller = req.extensions().get::<Caller>().copied();
    let response = next.run(req).await;
    if method == Method::GET || method == Method::HEAD || !response.status().is_success() {
        return response;
    }
    let (Some(template), Some(caller)) = (template, caller) else {
        return response;
    };
    if template.starts_with("/api/v1/privacy/")
        || !is_admin(layer.requirements.get(&method, &template))
    {
        return response;
    }
    let Some(named) = http_action(method.as_str(), &template) else {
        return response;
    };
    let path_id = named.id_param.as_ref().and_then(|name| {
        params
            .as_ref()
            .ok()?
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.to_owned())
    });
    let (response, resource_id) = match path_id {
        Some(id) => (response, Some(id)),
        // A create (or a PUT that names its resource in the body) answers with the id.
        None if method != Method::DELETE => created_id(response).await,
        None => (response, None),
    };
    let entry = AuditEntry {
        actor: caller.audit_actor(),
        action: named.action,
        resource_kind: named.resource_kind,
        resource_id,
        detail: serde_json::json!({
            "method": method.as_str(),
            "route": template,
            "status": response.status().as_u16(),
        }),
    };
    if let Err(e) = parley_engine::audit::record_at(&layer.store, entry, layer.clock.now()).await {
        tracing::error!(error = %e, route = %template, "audit entry not written");
    }
    response
}

/// The `id` of a create's JSON answer, reading the body back into the response.
async fn created_id(response: Response) -> (Response, Option<String>) {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return (response, None);
    }
    let (parts, body) = response.into_parts();
    match axum::body::to_bytes(body, CREATED_BODY_LIMIT).await {
        Ok(bytes) => {
            let id = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| match v.get("id") {
                    Some(serde_json::Value::String(s)) => Some(s.clone()),
                    Some(serde_json::Value::Number(n)) => Some(n.to_string()),
                    _ => None,
                });
            (Response::from_parts(parts, Body::from(bytes)), id)
        }
        // Too large to read back (or broken): the change stands, the entry has no id.
        Err(_) => (
            Response::from_parts(parts, Body::empty()).into_response(),
            None,
        ),
    }
}

/// Records `conversation_opened` when the caller reads the transcript of a session they do not
/// own (supervisors monitoring included). The entry is written before the transcript is answered.
pub async fn session_opened(
    state: &AppState,
    caller: &Caller,
    session: &parley_store::Session,
) -> Result<(), ApiError> {
    use parley_core::model::OwnerKind;
    let own = caller.agent_id.is_some()
        && session.owner_kind == Some(OwnerKind::Agent)
        && session.owner_id == caller.agent_id;
    if own {
        return Ok(());
    }
    let detail = serde_json::json!({
        "owner_kind": session.owner_kind.map(|k| k.as_str()),
        "owner_id": session.owner_id,
    });
    parley_engine::audit::conversation_opened(
        &state.store,
        caller.audit_actor(),
        "session",
        session.id,
        detail,
        state.clock.now(),
    )
    .await?;
    Ok(())
}

/// [`session_opened`] for a person's whole history (the console's timeline): theirs when the
/// caller's agent owns or owned one of the person's sessions.
pub async fn timeline_opened(
    state: &AppState,
    caller: &Caller,
    messaging_user_id: Uuid,
) -> Result<(), ApiError> {
    if let Some(agent) = caller.agent_id
        && state
            .store
            .agent_owns_user_session(agent, messaging_user_id)
            .await?
    {
        return Ok(());
    }
    parley_engine::audit::conversation_opened(
        &state.store,
        caller.audit_actor(),
        "messaging_user",
        messaging_user_id,
        serde_json::json!({}),
        state.clock.now(),
    )
    .await?;
    Ok(())
}

/// One audit entry as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryView {
    pub id: Uuid,
    /// When, RFC 3339.
    pub at: String,
    /// agent, token, cli or system.
    pub actor_kind: String,
    /// The agent's or the token's id.
    pub actor_id: Option<Uuid>,
    /// The agent who acted: itself, or the one its token acts for.
    pub agent_id: Option<Uuid>,
    /// That agent's name now (absent once the agent is deleted).
    pub agent_name: Option<String>,
    /// The token's name now, for a token.
    pub token_name: Option<String>,
    pub action: String,
    pub resource_kind: String,
    pub resource_id: Option<String>,
    /// Facts about the change: counts, the route; never personal content or secrets.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

impl From<AuditRecord> for AuditEntryView {
    fn from(r: AuditRecord) -> Self {
        Self {
            id: r.id,
            at: r.at.to_rfc3339(),
            actor_kind: r.actor_kind,
            actor_id: r.actor_id,
            agent_id: r.agent_id,
            agent_name: r.agent_name,
            token_name: r.token_name,
            action: r.action,
            resource_kind: r.resource_kind,
            resource_id: r.resource_id,
            detail: r.detail,
        }
    }
}

/// A page of the audit log, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEntryView>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    pub next: Option<Uuid>,
}

/// The list's filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// The agent or token that acted.
    pub actor: Option<Uuid>,
    /// An action, e.g. `channel_updated`.
    pub action: Option<String>,
    pub resource_kind: Option<String>,
    pub resource_id: Option<String>,
    /// At or after (RFC 3339, or a date `YYYY-MM-DD` meaning its start in UTC).
    pub from: Option<String>,
    /// Before (RFC 3339, or a date meaning its start in UTC).
    pub to: Option<String>,
    /// Older than this entry: the `next` of the previous page.
    pub before: Option<Uuid>,
    /// 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    #[serde(default, deserialize_with = "super::page_limit")]
    pub limit: Option<u32>,
    /// For the export: `jsonl` (default) or `csv`.
    pub format: Option<String>,
}

fn when(field: &str, value: Option<&str>) -> Result<Option<Timestamp>, ApiError> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if let Ok(t) = v.parse::<jiff::Timestamp>() {
        return Ok(Some(Timestamp(t.as_millisecond())));
    }
    if let Ok(d) = v.parse::<jiff::civil::Date>()
        && let Ok(z) = d.to_zoned(jiff::tz::TimeZone::UTC)
    {
        return Ok(Some(Timestamp(z.timestamp().as_millisecond())));
    }
    Err(ApiError::invalid(format!(
        "{field}: an RFC 3339 time or a date YYYY-MM-DD"
    )))
}

fn short(field: &str, value: Option<&String>) -> Result<Option<String>, ApiError> {
    match value.map(|v| v.trim()).filter(|v| !v.is_empty()) {
        Some(v) if v.len() > 200 => Err(ApiError::invalid(format!("{field}: at most 200 bytes"))),
        Some(v) => Ok(Some(v.to_owned())),
        None => Ok(None),
    }
}

impl AuditQuery {
    fn filter(&self) -> Result<AuditFilter, ApiError> {
        Ok(AuditFilter {
            actor_id: self.actor,
            action: short("action", self.action.as_ref())?,
            resource_kind: short("resource_kind", self.resource_kind.as_ref())?,
            resource_id: short("resource_id", self.resource_id.as_ref())?,
            from: when("from", self.from.as_deref())?,
            to: when("to", self.to.as_deref())?,
            before: self.before,
        })
    }
}

#[utoipa::path(get, path = "/api/v1/audit-log", tag = "privacy",
    extensions(("x-permission" = json!(["privacy_requests", "manage_users"]))),
    params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = 422, body = ErrorBody)))]
pub async fn list_audit_log(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let filter = q.filter()?;
    let limit = q.limit.unwrap_or(50);
    let mut rows = state.store.list_audit_entries(&filter, limit + 1).await?;
    let next = if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.id)
    } else {
        None
    };
    Ok(Json(AuditPage {
        items: rows.into_iter().map(Into::into).collect(),
        next,
    }))
}

/// Rows per read of the export.
const EXPORT_PAGE: u32 = 500;

const CSV_HEADER: &str = "id,at,actor_kind,actor_id,agent_id,agent_name,token_name,action,resource_kind,resource_id,detail\n";

/// One CSV field, quoted when it must be, with a leading formula character neutralised so a
/// spreadsheet never runs a name as a formula.
fn csv_field(out: &mut String, v: &str) {
    let v = if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{v}")
    } else {
        v.to_owned()
    };
    if v.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&v.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(&v);
    }
}

fn csv_row(r: &AuditEntryView) -> String {
    let mut s = String::new();
    let id = |u: Option<Uuid>| u.map(|u| u.to_string()).unwrap_or_default();
    let fields = [
        r.id.to_string(),
        r.at.clone(),
        r.actor_kind.clone(),
        id(r.actor_id),
        id(r.agent_id),
        r.agent_name.clone().unwrap_or_default(),
        r.token_name.clone().unwrap_or_default(),
        r.action.clone(),
        r.resource_kind.clone(),
        r.resource_id.clone().unwrap_or_default(),
        r.detail.to_string(),
    ];
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        csv_field(&mut s, f);
    }
    s.push('\n');
    s
}

#[utoipa::path(get, path = "/api/v1/audit-log/export", tag = "privacy",
    extensions(("x-permission" = json!(["privacy_requests", "manage_users"]))),
    params(AuditQuery),
    responses((status = 200, body = String, content_type = "application/x-ndjson",
        description = "Every matching entry, newest first: JSON lines, or CSV with format=csv"),
        (status = 422, body = ErrorBody)))]
pub async fn export_audit_log(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Response, ApiError> {
    let filter = q.filter()?;
    let csv = match q.format.as_deref().map(str::trim) {
        None | Some("" | "jsonl" | "json") => false,
        Some("csv") => true,
        Some(_) => return Err(ApiError::invalid("format: jsonl or csv")),
    };
    // Recorded before the first byte: an export is an access to the log itself.
    parley_engine::audit::record_at(
        &state.store,
        AuditEntry {
            actor: caller.audit_actor(),
            action: "audit_log_exported".into(),
            resource_kind: "audit_log".into(),
            resource_id: None,
            detail: serde_json::json!({
                "format": if csv { "csv" } else { "jsonl" },
                "filters": {
                    "actor": filter.actor_id, "action": filter.action,
                    "resource_kind": filter.resource_kind, "resource_id": filter.resource_id,
                    "from": filter.from.map(Timestamp::to_rfc3339),
                    "to": filter.to.map(Timestamp::to_rfc3339),
                },
            }),
        },
        state.clock.now(),
    )
    .await?;
    let store = state.store.clone();
    let start = (Some(filter), !csv);
    let header_row = csv.then(|| CSV_HEADER.to_owned());
    let body = futures_util::stream::unfold(start, move |(filter, jsonl)| {
        let store = store.clone();
        async move {
            let mut filter = filter?;
            match store.list_audit_entries(&filter, EXPORT_PAGE).await {
                Ok(rows) if rows.is_empty() => None,
                Ok(rows) => {
                    let done = rows.len() < EXPORT_PAGE as usize;
                    filter.before = rows.last().map(|r| r.id);
                    let mut chunk = String::new();
                    for r in rows {
                        let view = AuditEntryView::from(r);
                        if jsonl {
                            chunk.push_str(&serde_json::to_string(&view).unwrap_or_default());
                            chunk.push('\n');
                        } else {
                            chunk.push_str(&csv_row(&view));
                        }
                    }
                    let next = if done { None } else { Some(filter) };
                    Some((Ok::<String, std::io::Error>(chunk), (next, jsonl)))
                }
                Err(e) => {
                    tracing::error!(error = %e, "audit log export failed");
                    Some((
                        Err(std::io::Error::other("the export failed")),
                        (None, jsonl),
                    ))
                }
            }
        }
    });
    let head = futures_util::stream::iter(header_row.map(Ok::<String, std::io::Error>));
    let mut response =
        Body::from_stream(futures_util::StreamExt::chain(head, body)).into_response();
    let h = response.headers_mut();
    let (ctype, name) = if csv {
        ("text/csv; charset=utf-8", "audit-log.csv")
    } else {
        ("application/x-ndjson", "audit-log.jsonl")
    };
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_neutralised() {
        let mut s = String::new();
        csv_field(&mut s, "=SUM(A1)");
        s.push(',');
        csv_field(&mut s, "a,\"b\"");
        assert_eq!(s, "'=SUM(A1),\"a,\"\"b\"\"\"");
    }
}
