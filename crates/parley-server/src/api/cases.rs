//! Cases as an API resource (CMP-01): search by number or subject, create, change, close, reopen,
//! and the sessions linked to them. Agents may do all of it, as with contacts.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_core::crm::case_number_query;
use parley_core::model::{CaseStatus, SessionStatus};
use parley_engine::service::cases::{self, CaseInput, CasePatch};
use parley_store::{Case, CaseQuery, PageRequest};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Page, opt_time, time};
use crate::AppState;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use crate::schema;

/// Longest search text accepted.
const MAX_QUERY_CHARS: usize = 200;

/// Something a case refers to, with the name people know it by.
#[derive(Debug, Serialize, ToSchema)]
pub struct NamedRef {
    pub id: Uuid,
    pub name: String,
}

/// A session linked to a case.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseSessionView {
    pub id: Uuid,
    pub channel_id: Uuid,
    pub messaging_user_id: Uuid,
    #[schema(schema_with = schema::session_status)]
    pub status: SessionStatus,
    pub opened_at: String,
    pub ended_at: Option<String>,
}

/// A case, as people refer to it: by its number.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseView {
    pub id: Uuid,
    /// 1001, 1002...: given in creation order.
    pub number: Option<i64>,
    pub subject: String,
    #[schema(schema_with = schema::case_status)]
    pub status: CaseStatus,
    pub contact_id: Uuid,
    pub channel_id: Option<Uuid>,
    pub owner_agent_id: Option<Uuid>,
    /// The contact and its name ("First Last").
    pub contact: Option<NamedRef>,
    /// The owning agent and its name.
    pub owner: Option<NamedRef>,
    /// Sessions linked to the case, oldest first.
    pub sessions: Vec<CaseSessionView>,
    pub created_at: String,
    pub updated_at: String,
    pub closed_at: Option<String>,
}

/// A case in a list: no linked sessions or names (read the case for those).
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseSummary {
    pub id: Uuid,
    pub number: Option<i64>,
    pub subject: String,
    #[schema(schema_with = schema::case_status)]
    pub status: CaseStatus,
    pub contact_id: Uuid,
    pub channel_id: Option<Uuid>,
    pub owner_agent_id: Option<Uuid>,
    pub created_at: String,
    pub updated_at: String,
    pub closed_at: Option<String>,
}

impl From<Case> for CaseSummary {
    fn from(c: Case) -> Self {
        Self {
            id: c.id,
            number: c.number,
            subject: c.subject,
            status: c.status,
            contact_id: c.contact_id,
            channel_id: c.channel_id,
            owner_agent_id: c.owner_agent_id,
            created_at: time(c.created_at),
            updated_at: time(c.updated_at),
            closed_at: opt_time(c.closed_at),
        }
    }
}

/// The case with its contact's and owner's names and its sessions.
async fn view(state: &AppState, c: Case) -> Result<CaseView, ApiError> {
    let store = &state.store;
    let contact = store.contact(c.contact_id).await.ok().map(|k| NamedRef {
        id: k.id,
        name: [k.first_name.as_str(), k.last_name.as_str()]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" "),
    });
    let owner = match c.owner_agent_id {
        Some(id) => store.agent(id).await.ok().map(|a| NamedRef {
            id: a.id,
            name: a.name,
        }),
        None => None,
    };
    let sessions = store
        .sessions_of_case(c.id)
        .await?
        .into_iter()
        .map(|s| CaseSessionView {
            id: s.id,
            channel_id: s.channel_id,
            messaging_user_id: s.messaging_user_id,
            status: s.status,
            opened_at: time(s.started_at),
            ended_at: opt_time(s.ended_at),
        })
        .collect();
    Ok(CaseView {
        id: c.id,
        number: c.number,
        subject: c.subject,
        status: c.status,
        contact_id: c.contact_id,
        channel_id: c.channel_id,
        owner_agent_id: c.owner_agent_id,
        contact,
        owner,
        sessions,
        created_at: time(c.created_at),
        updated_at: time(c.updated_at),
        closed_at: opt_time(c.closed_at),
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CaseParams {
    /// A case number (`1001`, `#1001`), matched exactly; otherwise text the subject contains
    /// (any case), searched among the most recent cases.
    pub q: Option<String>,
    /// `new`, `working` or `closed`.
    pub status: Option<String>,
    pub contact_id: Option<Uuid>,
    pub owner_agent_id: Option<Uuid>,
    /// Start after this case (the `next` of the previous page).
    pub after: Option<Uuid>,
    /// Items per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    #[serde(default, deserialize_with = "crate::api::page_limit")]
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/cases",
    extensions(("x-permission" = json!(["view_all_conversations", "view_queue_conversations"]))), tag = "contacts", params(CaseParams),
    responses((status = 200, body = Page<CaseSummary>), (status = 422, body = ErrorBody)))]
pub async fn list_cases(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<CaseParams>,
) -> Result<Json<Page<CaseSummary>>, ApiError> {
    let status = p
        .status
        .as_deref()
        .map(|s| {
            s.parse::<CaseStatus>()
                .map_err(|_| ApiError::invalid("status: one of new, working, closed"))
        })
        .transpose()?;
    let q = p.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    if q.is_some_and(|q| q.chars().count() > MAX_QUERY_CHARS) {
        return Err(ApiError::invalid(format!(
            "q: at most {MAX_QUERY_CHARS} characters"
        )));
    }
    let number = q.and_then(case_number_query);
    let query = CaseQuery {
        number,
        text: q.filter(|_| number.is_none()).map(str::to_owned),
        status,
        contact_id: p.contact_id,
        owner_agent_id: p.owner_agent_id,
    };
    let page = PageRequest::new(p.after, p.limit.unwrap_or(50));
    let found = state.store.search_cases(&query, page).await?;
    Ok(Json(Page::from_store(found, CaseSummary::from)))
}

#[utoipa::path(post, path = "/api/v1/cases",
    extensions(("x-permission" = json!("send_receive"))), tag = "contacts", request_body = CaseInput,
    responses((status = 201, body = CaseView), (status = 422, body = ErrorBody)))]
pub async fn create_case(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<CaseInput>,
) -> Result<(StatusCode, Json<CaseView>), ApiError> {
    let c = cases::create(
        &state.store,
        Some(&state.engine.events),
        &input,
        state.clock.now(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(view(&state, c).await?)))
}

#[utoipa::path(get, path = "/api/v1/cases/{id}",
    extensions(("x-permission" = json!(["view_all_conversations", "view_queue_conversations"]))), tag = "contacts", params(("id" = Uuid, Path)),
    responses((status = 200, body = CaseView), (status = 404, body = ErrorBody)))]
pub async fn get_case(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<CaseView>, ApiError> {
    let c = state.store.case(id).await?;
    Ok(Json(view(&state, c).await?))
}

#[utoipa::path(patch, path = "/api/v1/cases/{id}",
    extensions(("x-permission" = json!("send_receive"))), tag = "contacts", params(("id" = Uuid, Path)),
    request_body = CasePatch,
    responses((status = 200, body = CaseView), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_case(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(patch): ApiJson<CasePatch>,
) -> Result<Json<CaseView>, ApiError> {
    let c = cases::update(
        &state.store,
        Some(&state.engine.events),
        id,
        &patch,
        state.clock.now(),
    )
    .await?;
    Ok(Json(view(&state, c).await?))
}

#[utoipa::path(post, path = "/api/v1/cases/{id}/close",
    extensions(("x-permission" = json!("send_receive"))), tag = "contacts", params(("id" = Uuid, Path)),
    responses((status = 200, body = CaseView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn close_case(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<CaseView>, ApiError> {
    let c = cases::close(
        &state.store,
        Some(&state.engine.events),
        id,
        state.clock.now(),
    )
    .await?;
    Ok(Json(view(&state, c).await?))
}

#[utoipa::path(post, path = "/api/v1/cases/{id}/reopen",
    extensions(("x-permission" = json!("send_receive"))), tag = "contacts", params(("id" = Uuid, Path)),
    responses((status = 200, body = CaseView), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn reopen_case(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<CaseView>, ApiError> {
    let c = cases::reopen(
        &state.store,
        Some(&state.engine.events),
        id,
        state.clock.now(),
    )
    .await?;
    Ok(Json(view(&state, c).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CaseSessionPath {
    pub id: Uuid,
    pub session_id: Uuid,
}

#[utoipa::path(put, path = "/api/v1/cases/{id}/sessions/{session_id}",
    extensions(("x-permission" = json!("send_receive"))), tag = "contacts",
    params(CaseSessionPath),
    responses((status = 200, body = CaseView), (status = 404, body = ErrorBody)))]
pub async fn link_session(
    State(state): State<AppState>,
    ApiPath(CaseSessionPath { id, session_id }): ApiPath<CaseSessionPath>,
) -> Result<Json<CaseView>, ApiError> {
    let c = cases::link_session(
        &state.store,
        Some(&state.engine.events),
        id,
        session_id,
        state.clock.now(),
    )
    .await?;
    Ok(Json(view(&state, c).await?))
}

#[utoipa::path(delete, path = "/api/v1/cases/{id}/sessions/{session_id}",
    extensions(("x-permission" = json!("send_receive"))), tag = "contacts",
    params(CaseSessionPath),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn unlink_session(
    State(state): State<AppState>,
    ApiPath(CaseSessionPath { id, session_id }): ApiPath<CaseSessionPath>,
) -> Result<StatusCode, ApiError> {
    cases::unlink_session(
        &state.store,
        Some(&state.engine.events),
        id,
        session_id,
        state.clock.now(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Cases and messaging users as resources (issue 13, item 4).
pub fn crm_routes() -> OpenApiRouter<AppState> {
    use super::messaging_users as mu;
    OpenApiRouter::new()
        .routes(routes!(list_cases, create_case))
        .routes(routes!(get_case, update_case))
        .routes(routes!(close_case))
        .routes(routes!(reopen_case))
        .routes(routes!(link_session, unlink_session))
        .routes(routes!(mu::create_messaging_user))
        .routes(routes!(mu::change_consent))
        .routes(routes!(mu::consent_history))
        .routes(routes!(mu::link_contact, mu::unlink_contact))
}
