//! Queues: where sessions wait for an agent. Writes go through
//! [`parley_engine::service::queues`], as `parley apply`'s do.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_core::model::{QueueAssignment, RoutingModel};
use parley_engine::service::queues::{self, QueueInput};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Page, PageParams, time};
use crate::AppState;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use crate::schema;

#[derive(Debug, Serialize, ToSchema)]
pub struct QueueView {
    pub id: Uuid,
    pub name: String,
    #[schema(schema_with = schema::routing_model)]
    pub routing_model: RoutingModel,
    pub priority: i64,
    #[schema(schema_with = schema::queue_assignment)]
    pub assignment: QueueAssignment,
    pub created_at: String,
    pub updated_at: String,
}

impl From<parley_store::Queue> for QueueView {
    fn from(q: parley_store::Queue) -> Self {
        Self {
            id: q.id,
            name: q.name,
            routing_model: q.routing_model,
            priority: q.priority,
            assignment: q.assignment,
            created_at: time(q.created_at),
            updated_at: time(q.updated_at),
        }
    }
}

#[utoipa::path(post, path = "/api/v1/queues",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "queues", request_body = QueueInput,
    responses((status = 201, body = QueueView), (status = 422, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_queue(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<QueueInput>,
) -> Result<(StatusCode, Json<QueueView>), ApiError> {
    let q = queues::create(&state.store, &input, state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(q.into())))
}

#[utoipa::path(get, path = "/api/v1/queues",
    extensions(("x-permission" = json!("signed_in"))), tag = "queues", params(PageParams),
    responses((status = 200, body = Page<QueueView>)))]
pub async fn list_queues(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<PageParams>,
) -> Result<Json<Page<QueueView>>, ApiError> {
    let page = state.store.list_queues(p.page()).await?;
    Ok(Json(Page::from_store(page, QueueView::from)))
}

#[utoipa::path(get, path = "/api/v1/queues/{id}",
    extensions(("x-permission" = json!("signed_in"))), tag = "queues", params(("id" = Uuid, Path)),
    responses((status = 200, body = QueueView), (status = 404, body = ErrorBody)))]
pub async fn get_queue(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<QueueView>, ApiError> {
    Ok(Json(state.store.queue(id).await?.into()))
}

#[utoipa::path(put, path = "/api/v1/queues/{id}",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "queues", params(("id" = Uuid, Path)),
    request_body = QueueInput,
    responses((status = 200, body = QueueView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_queue(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<QueueInput>,
) -> Result<Json<QueueView>, ApiError> {
    let q = queues::update(&state.store, id, &input, state.clock.now()).await?;
    Ok(Json(q.into()))
}

#[utoipa::path(delete, path = "/api/v1/queues/{id}",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "queues", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_queue(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    queues::delete(&state.store, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
