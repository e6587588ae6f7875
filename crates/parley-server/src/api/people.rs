//! Skills and agents. Writes go through [`parley_engine::service`], as `parley apply`'s do.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use parley_core::model::{AgentRole, Presence};
use parley_engine::service::agents::{self, AgentInput, AgentSkillLevel};
use parley_engine::service::skills::{self, SkillInput};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Page, PageParams, time};
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use crate::schema;

#[derive(Debug, Serialize, ToSchema)]
pub struct SkillView {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub created_at: String,
    pub updated_at: String,
}

impl From<parley_store::Skill> for SkillView {
    fn from(s: parley_store::Skill) -> Self {
        Self {
            id: s.id,
            name: s.name,
            description: s.description,
            created_at: time(s.created_at),
            updated_at: time(s.updated_at),
        }
    }
}

#[utoipa::path(post, path = "/api/v1/skills",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "skills", request_body = SkillInput,
    responses((status = 201, body = SkillView), (status = 422, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_skill(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<SkillInput>,
) -> Result<(StatusCode, Json<SkillView>), ApiError> {
    let s = skills::create(&state.store, &input, state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(s.into())))
}

#[utoipa::path(get, path = "/api/v1/skills",
    extensions(("x-permission" = json!("signed_in"))), tag = "skills", params(PageParams),
    responses((status = 200, body = Page<SkillView>)))]
pub async fn list_skills(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<PageParams>,
) -> Result<Json<Page<SkillView>>, ApiError> {
    let page = state.store.list_skills(p.page()).await?;
    Ok(Json(Page::from_store(page, SkillView::from)))
}

#[utoipa::path(get, path = "/api/v1/skills/{id}",
    extensions(("x-permission" = json!("signed_in"))), tag = "skills", params(("id" = Uuid, Path)),
    responses((status = 200, body = SkillView), (status = 404, body = ErrorBody)))]
pub async fn get_skill(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<SkillView>, ApiError> {
    Ok(Json(state.store.skill(id).await?.into()))
}

#[utoipa::path(put, path = "/api/v1/skills/{id}",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "skills", params(("id" = Uuid, Path)),
    request_body = SkillInput,
    responses((status = 200, body = SkillView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_skill(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<SkillInput>,
) -> Result<Json<SkillView>, ApiError> {
    let s = skills::update(&state.store, id, &input, state.clock.now()).await?;
    Ok(Json(s.into()))
}

#[utoipa::path(delete, path = "/api/v1/skills/{id}",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "skills", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_skill(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    skills::delete(&state.store, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentView {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    #[schema(schema_with = schema::agent_role)]
    pub role: AgentRole,
    pub capacity: i64,
    #[schema(schema_with = schema::presence)]
    pub presence: Presence,
    pub queue_ids: Vec<Uuid>,
    pub skills: Vec<AgentSkillLevel>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<parley_store::Agent> for AgentView {
    fn from(a: parley_store::Agent) -> Self {
        Self {
            id: a.id,
            name: a.name,
            email: a.email,
            role: a.role,
            capacity: a.capacity,
            presence: a.presence,
            queue_ids: a.queue_ids,
            skills: a
                .skills
                .into_iter()
                .map(|s| AgentSkillLevel {
                    skill_id: s.skill_id,
                    level: s.level,
                })
                .collect(),
            created_at: time(a.created_at),
            updated_at: time(a.updated_at),
        }
    }
}

#[utoipa::path(post, path = "/api/v1/agents",
    extensions(("x-permission" = json!("manage_users"))), tag = "agents", request_body = AgentInput,
    responses((status = 201, body = AgentView), (status = 422, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_agent(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(input): ApiJson<AgentInput>,
) -> Result<(StatusCode, Json<AgentView>), ApiError> {
    let a = agents::create(&state.store, caller.permissions, &input, state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(a.into())))
}

#[utoipa::path(get, path = "/api/v1/agents",
    extensions(("x-permission" = json!("signed_in"))), tag = "agents", params(PageParams),
    responses((status = 200, body = Page<AgentView>)))]
pub async fn list_agents(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<PageParams>,
) -> Result<Json<Page<AgentView>>, ApiError> {
    let page = state.store.list_agents(p.page()).await?;
    Ok(Json(Page::from_store(page, AgentView::from)))
}

#[utoipa::path(get, path = "/api/v1/agents/{id}",
    extensions(("x-permission" = json!("signed_in"))), tag = "agents", params(("id" = Uuid, Path)),
    responses((status = 200, body = AgentView), (status = 404, body = ErrorBody)))]
pub async fn get_agent(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<AgentView>, ApiError> {
    Ok(Json(state.store.agent(id).await?.into()))
}

#[utoipa::path(put, path = "/api/v1/agents/{id}",
    extensions(("x-permission" = json!("manage_users"))), tag = "agents", params(("id" = Uuid, Path)),
    request_body = AgentInput,
    responses((status = 200, body = AgentView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_agent(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<AgentInput>,
) -> Result<Json<AgentView>, ApiError> {
    let a = agents::update(
        &state.store,
        caller.permissions,
        id,
        &input,
        state.clock.now(),
    )
    .await?;
    Ok(Json(a.into()))
}

#[utoipa::path(delete, path = "/api/v1/agents/{id}",
    extensions(("x-permission" = json!("manage_users"))), tag = "agents", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_agent(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    agents::delete(&state.store, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
