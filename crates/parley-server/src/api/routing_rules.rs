//! Routing rules (RT-01..05): the declarative alternative to a flow builder. A rule's shape and its
//! validation belong to `parley_core::routing`; [`parley_engine::service::routing_rules`] checks
//! that what a rule names (channel, queues, agents, skills) exists, and stores the rule.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_engine::service::routing_rules::{self, RoutingRuleInput};
use parley_store::StoredRoutingRule;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::time;
use crate::AppState;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};

#[derive(Debug, Serialize, ToSchema)]
pub struct RoutingRuleView {
    pub id: Uuid,
    pub name: String,
    pub position: i64,
    pub channel_id: Option<Uuid>,
    #[schema(value_type = Vec<Object>)]
    pub conditions: Value,
    #[schema(value_type = Vec<Object>)]
    pub actions: Value,
    pub created_at: String,
    pub updated_at: String,
}

impl From<StoredRoutingRule> for RoutingRuleView {
    fn from(r: StoredRoutingRule) -> Self {
        Self {
            id: r.id,
            name: r.name,
            position: r.position,
            channel_id: r.channel_id,
            conditions: r.conditions,
            actions: r.actions,
            created_at: time(r.created_at),
            updated_at: time(r.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoutingRuleList {
    /// In the order they are tried.
    pub items: Vec<RoutingRuleView>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RoutingRuleParams {
    /// Only the rules that apply to this channel: its own and those for every channel.
    pub channel_id: Option<Uuid>,
}

#[utoipa::path(get, path = "/api/v1/routing-rules",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "routing-rules", params(RoutingRuleParams),
    responses((status = 200, body = RoutingRuleList), (status = 403, body = ErrorBody)))]
pub async fn list_routing_rules(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<RoutingRuleParams>,
) -> Result<Json<RoutingRuleList>, ApiError> {
    let rules = state.store.routing_rules(p.channel_id).await?;
    Ok(Json(RoutingRuleList {
        items: rules.into_iter().map(RoutingRuleView::from).collect(),
    }))
}

#[utoipa::path(post, path = "/api/v1/routing-rules",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "routing-rules", request_body = RoutingRuleInput,
    responses((status = 201, body = RoutingRuleView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_routing_rule(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<RoutingRuleInput>,
) -> Result<(StatusCode, Json<RoutingRuleView>), ApiError> {
    let rule = routing_rules::create(&state.store, &input, state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(rule.into())))
}

#[utoipa::path(get, path = "/api/v1/routing-rules/{id}",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "routing-rules", params(("id" = Uuid, Path)),
    responses((status = 200, body = RoutingRuleView), (status = 404, body = ErrorBody)))]
pub async fn get_routing_rule(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<RoutingRuleView>, ApiError> {
    Ok(Json(state.store.routing_rule(id).await?.into()))
}

#[utoipa::path(put, path = "/api/v1/routing-rules/{id}",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "routing-rules", params(("id" = Uuid, Path)),
    request_body = RoutingRuleInput,
    responses((status = 200, body = RoutingRuleView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_routing_rule(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<RoutingRuleInput>,
) -> Result<Json<RoutingRuleView>, ApiError> {
    let rule = routing_rules::update(&state.store, id, &input, state.clock.now()).await?;
    Ok(Json(rule.into()))
}

#[utoipa::path(delete, path = "/api/v1/routing-rules/{id}",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "routing-rules", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_routing_rule(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    routing_rules::delete(&state.store, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
