//! Flows (issue 12): bots, marketing journeys and automatic replies as versioned definitions.
//! Admins write them (as JSON or YAML, here or with `parley apply`); everyone who converses reads
//! them (the console's transfer picker, the bot's part of a conversation). Saving a changed
//! definition makes a new version; conversations already in the flow finish on theirs.

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use parley_core::flow::{FlowDefinition, Reply, RunState};
use parley_engine::service::flows;
use parley_store::{FlowRun, FlowSaved, StoredFlow};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::time;
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiPath, ErrorBody};

/// A flow at its current version.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlowView {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    /// `service` (a bot) or `marketing` (a journey).
    pub context: String,
    pub version: i64,
    /// How many steps the current version has.
    pub steps: usize,
    /// Conversations in the flow now.
    pub open_runs: i64,
    pub created_at: String,
    pub updated_at: String,
}

/// A flow with its definition.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlowDetail {
    #[serde(flatten)]
    pub flow: FlowView,
    /// The definition (`parley_core::flow::FlowDefinition`).
    #[schema(value_type = Object)]
    pub definition: FlowDefinition,
    /// The same definition as YAML, as `parley apply` files hold it.
    pub yaml: String,
}

fn view(f: &StoredFlow, open_runs: i64) -> FlowView {
    let steps = flows_steps(&f.definition);
    FlowView {
        id: f.id,
        name: f.name.clone(),
        description: f.description.clone(),
        context: f.context.as_str().to_owned(),
        version: f.version,
        steps,
        open_runs,
        created_at: time(f.created_at),
        updated_at: time(f.updated_at),
    }
}

fn flows_steps(json: &str) -> usize {
    serde_json::from_str::<FlowDefinition>(json).map_or(0, |d| d.steps.len())
}

fn detail(f: &StoredFlow, open_runs: i64) -> Result<FlowDetail, ApiError> {
    let definition: FlowDefinition = serde_json::from_str(&f.definition)
        .map_err(|e| ApiError::internal(format!("flow {}: {e}", f.name)))?;
    Ok(FlowDetail {
        flow: view(f, open_runs),
        yaml: flows::to_yaml(&definition),
        definition,
    })
}

async fn open_runs(state: &AppState, id: Uuid) -> Result<i64, ApiError> {
    Ok(state
        .store
        .flow_run_counts()
        .await?
        .into_iter()
        .find(|o| o.flow_id == id)
        .map_or(0, |o| o.open))
}

async fn by_name(state: &AppState, name: &str) -> Result<StoredFlow, ApiError> {
    state
        .store
        .flow_by_name(name)
        .await?
        .ok_or_else(|| ApiError::not_found("flow"))
}

/// Reads a definition from a body: JSON, or YAML (`application/yaml`, `text/yaml`).
fn read_definition(
    headers: &HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<FlowDefinition, ApiError> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            crate::error::payload_too_large()
        } else {
            ApiError::malformed(e.body_text())
        }
    })?;
    let kind = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::malformed("the flow must be UTF-8 text"))?;
    match kind.as_str() {
        "application/json" | "" => serde_json::from_str(text)
            .map_err(|e| ApiError::malformed(format!("the flow is not valid JSON: {e}"))),
        "application/yaml" | "application/x-yaml" | "text/yaml" | "text/x-yaml" | "text/plain" => {
            flows::parse(text).map_err(|e| ApiError::invalid(e.to_string()))
        }
        other => Err(ApiError::coded(
            crate::error::ApiErrorCode::UnsupportedMediaType,
            format!("send the flow as application/json or application/yaml, not {other}"),
        )),
    }
}

#[utoipa::path(get, path = "/api/v1/flows",
    extensions(("x-permission" = json!(["manage_flows", "view_all_conversations", "view_queue_conversations"]))), tag = "flows",
    responses((status = 200, body = Vec<FlowView>), (status = 403, body = ErrorBody)))]
pub async fn list_flows(State(state): State<AppState>) -> Result<Json<Vec<FlowView>>, ApiError> {
    let open = state.store.flow_run_counts().await?;
    let all = state.store.flows().await?;
    Ok(Json(
        all.iter()
            .map(|f| {
                let n = open
                    .iter()
                    .find(|o| o.flow_id == f.id)
                    .map_or(0, |o| o.open);
                view(f, n)
            })
            .collect(),
    ))
}

#[utoipa::path(post, path = "/api/v1/flows",
    extensions(("x-permission" = json!("manage_flows"))), tag = "flows",
    request_body(content = Object, description = "The flow definition, as JSON or YAML (`Content-Type: application/yaml`)."),
    responses((status = 201, body = FlowDetail, description = "created"),
        (status = 200, body = FlowDetail, description = "a new version, or unchanged"),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn save_flow(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let definition = read_definition(&headers, body)?;
    save(&state, &definition).await
}

async fn save(state: &AppState, definition: &FlowDefinition) -> Result<Response, ApiError> {
    let saved = flows::save(&state.store, definition, state.clock.now()).await?;
    let status = match saved {
        FlowSaved::Created(_) => StatusCode::CREATED,
        _ => StatusCode::OK,
    };
    let flow = saved.flow();
    let open = open_runs(state, flow.id).await?;
    Ok((status, Json(detail(flow, open)?)).into_response())
}

#[utoipa::path(put, path = "/api/v1/flows/{name}",
    extensions(("x-permission" = json!("manage_flows"))), tag = "flows", params(("name" = String, Path)),
    request_body(content = Object, description = "The flow definition, as JSON or YAML; its name must be the path's."),
    responses((status = 200, body = FlowDetail), (status = 201, body = FlowDetail),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_flow(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let definition = read_definition(&headers, body)?;
    if definition.name != name {
        return Err(ApiError::invalid(format!(
            "the definition is named '{}' but the path names '{name}'; rename by saving under the new name and deleting the old one",
            definition.name
        )));
    }
    save(&state, &definition).await
}

#[utoipa::path(get, path = "/api/v1/flows/{name}",
    extensions(("x-permission" = json!(["manage_flows", "view_all_conversations", "view_queue_conversations"]))), tag = "flows", params(("name" = String, Path)),
    responses((status = 200, body = FlowDetail), (status = 404, body = ErrorBody)))]
pub async fn get_flow(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<FlowDetail>, ApiError> {
    let flow = by_name(&state, &name).await?;
    let open = open_runs(&state, flow.id).await?;
    Ok(Json(detail(&flow, open)?))
}

#[utoipa::path(get, path = "/api/v1/flows/{name}/export",
    extensions(("x-permission" = json!("manage_flows"))), tag = "flows", params(("name" = String, Path)),
    responses((status = 200, content_type = "application/yaml", body = Object, description = "The definition as a YAML file"),
        (status = 404, body = ErrorBody)))]
pub async fn export_flow(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Response, ApiError> {
    let flow = by_name(&state, &name).await?;
    let d = detail(&flow, 0)?;
    let disposition = format!("attachment; filename=\"{}.yaml\"", flow.name);
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/yaml; charset=utf-8".to_owned(),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        d.yaml,
    )
        .into_response())
}

#[utoipa::path(delete, path = "/api/v1/flows/{name}",
    extensions(("x-permission" = json!("manage_flows"))), tag = "flows", params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "conversations are in the flow")))]
pub async fn delete_flow(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    flows::delete(&state.store, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A test of a flow: the customer's replies, in order, and the facts to assume.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowTestInput {
    /// What the simulated customer answers, one reply per wait.
    #[serde(default)]
    pub replies: Vec<String>,
    /// `sms`, `whatsapp`, `messenger` or `web` (default `sms`).
    #[serde(default)]
    #[schema(schema_with = crate::schema::channel_kind_or_null)]
    pub channel_kind: Option<parley_core::model::ChannelKind>,
    /// Whether the business is open (default true).
    #[serde(default)]
    pub business_hours_open: Option<bool>,
    #[serde(default)]
    pub language: Option<String>,
    /// Merge fields to assume (`contact.first_name`...).
    #[serde(default)]
    pub fields: std::collections::BTreeMap<String, String>,
}

/// What a flow test did.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlowTestView {
    /// The conversation as it went: `{"from": "bot"|"customer"|"system", "text": ...}`.
    #[schema(value_type = Vec<Object>)]
    pub transcript: Vec<parley_engine::flows::TestLine>,
    /// Where the run stands at the end.
    #[schema(value_type = Object)]
    pub state: RunState,
}

#[utoipa::path(post, path = "/api/v1/flows/{name}/test",
    extensions(("x-permission" = json!("manage_flows"))), tag = "flows", params(("name" = String, Path)),
    request_body = FlowTestInput,
    responses((status = 200, body = FlowTestView), (status = 404, body = ErrorBody)))]
pub async fn test_flow(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(input): ApiJson<FlowTestInput>,
) -> Result<Json<FlowTestView>, ApiError> {
    let flow = by_name(&state, &name).await?;
    let definition: FlowDefinition = serde_json::from_str(&flow.definition)
        .map_err(|e| ApiError::internal(format!("flow {}: {e}", flow.name)))?;
    if input.replies.len() > 100 {
        return Err(ApiError::invalid("a test takes at most 100 replies"));
    }
    let replies: Vec<Reply> = input
        .replies
        .into_iter()
        .map(|text| Reply { text, choice: None })
        .collect();
    let test = parley_engine::flows::TestRun {
        channel_kind: input
            .channel_kind
            .unwrap_or(parley_core::model::ChannelKind::Sms),
        business_hours_open: input.business_hours_open.unwrap_or(true),
        language: input.language,
        fields: input.fields,
    };
    let (transcript, end) = state
        .engine
        .flow_worker()
        .simulate(&definition, &test, replies, state.clock.now())
        .await;
    Ok(Json(FlowTestView {
        transcript,
        state: end,
    }))
}

/// One run of a flow in a conversation, as agents see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlowRunView {
    pub id: Uuid,
    pub flow_id: Uuid,
    pub flow: String,
    pub version: i64,
    pub trigger: String,
    pub status: String,
    pub step: String,
    /// What the flow collected (`order_number`, `webhook.status`...).
    #[schema(value_type = Object)]
    pub fields: std::collections::BTreeMap<String, String>,
    pub started_at: String,
    pub ended_at: Option<String>,
}

/// The runs of a session, oldest first, with their flows' names.
pub async fn run_views(state: &AppState, session_id: Uuid) -> Result<Vec<FlowRunView>, ApiError> {
    let runs = state.store.flow_runs_of_session(session_id).await?;
    let mut out = Vec::with_capacity(runs.len());
    for r in runs {
        let name = state
            .store
            .flow(r.flow_id)
            .await
            .map_or_else(|_| "(deleted flow)".to_owned(), |f| f.name);
        out.push(run_view(r, name));
    }
    Ok(out)
}

fn run_view(r: FlowRun, flow: String) -> FlowRunView {
    let fields = serde_json::from_str::<RunState>(&r.state)
        .map(|s| s.fields)
        .unwrap_or_default();
    FlowRunView {
        id: r.id,
        flow_id: r.flow_id,
        flow,
        version: r.version,
        trigger: r.trigger,
        status: r.status,
        step: r.step,
        fields,
        started_at: time(r.started_at),
        ended_at: r.ended_at.map(time),
    }
}

#[utoipa::path(get, path = "/api/v1/sessions/{id}/flow-runs",
    extensions(("x-permission" = json!(["view_all_conversations", "view_queue_conversations"]))), tag = "flows", params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<FlowRunView>), (status = 404, body = ErrorBody)))]
pub async fn session_flow_runs(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Vec<FlowRunView>>, ApiError> {
    caller.require_session_read(&state, id).await?;
    Ok(Json(run_views(&state, id).await?))
}
