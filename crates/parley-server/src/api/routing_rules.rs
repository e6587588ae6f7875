//! Routing rules (RT-01..05): the declarative alternative to a flow builder. A rule's shape and its
//! validation belong to `parley_core::routing`; this file checks that what a rule names (channel,
//! queues, agents, skills) exists, and stores the rule.

use std::collections::BTreeSet;

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_core::routing::{Condition, RoutingRule, RuleAction};
use parley_store::{RoutingRuleSpec, StoreError, StoredRoutingRule};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::time;
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};

/// A rule as created or replaced.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoutingRuleInput {
    pub name: String,
    /// Rules are tried from the lowest position; equal positions go by creation order. Omitted:
    /// after every existing rule on create, unchanged on replace.
    pub position: Option<i32>,
    /// Only sessions on this channel; omitted or null for every channel.
    pub channel_id: Option<Uuid>,
    /// All must hold; none makes a catch-all. Each is an object with a `type`:
    /// `channel_kind_is {kind}`, `first_message_contains {text}`,
    /// `first_message_matches_any {words}`, `field_equals {field, value}`,
    /// `within_business_hours {value}`, `language_is {language}`.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub conditions: Vec<Condition>,
    /// Exactly one route (`route_to_queue {queue_id}`, `route_to_skills {skills: [{skill_id,
    /// level}]}`, `route_to_agent {agent_id}`, `route_to_bot {bot}`) and optionally
    /// `set_priority {priority}`.
    #[schema(value_type = Vec<Object>)]
    pub actions: Vec<RuleAction>,
}

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

/// Room left between positions given by default, so a rule can be put between two others later.
const POSITION_STEP: i64 = 10;

/// Validates `input` (its shape by core's rules, then the ids it names) into what the store keeps.
async fn checked(
    state: &AppState,
    id: Uuid,
    input: RoutingRuleInput,
    position: i32,
) -> Result<RoutingRuleSpec, ApiError> {
    let rule = RoutingRule {
        id,
        name: input.name.trim().to_owned(),
        position,
        channel_id: input.channel_id,
        conditions: input.conditions,
        actions: input.actions,
    };
    let spec = parley_engine::provision_rules::spec_of(&rule)?;
    check_references(state, &rule).await?;
    Ok(spec)
}

/// Every channel, queue, agent and skill the rule names must exist (422 naming the first that
/// does not). Later deletions are the evaluator's concern: it falls back to the channel's queue.
async fn check_references(state: &AppState, rule: &RoutingRule) -> Result<(), ApiError> {
    fn missing<T>(r: Result<T, StoreError>, what: &str, id: Uuid) -> Result<(), ApiError> {
        match r {
            Ok(_) => Ok(()),
            Err(StoreError::NotFound { .. }) => {
                Err(ApiError::invalid(format!("{what} {id} does not exist")))
            }
            Err(e) => Err(e.into()),
        }
    }
    if let Some(c) = rule.channel_id {
        missing(state.store.channel(c).await, "channel", c)?;
    }
    let mut queues = BTreeSet::new();
    let mut agents = BTreeSet::new();
    let mut skills = BTreeSet::new();
    for a in &rule.actions {
        match a {
            RuleAction::RouteToQueue { queue_id } => {
                queues.insert(*queue_id);
            }
            RuleAction::RouteToAgent { agent_id } => {
                agents.insert(*agent_id);
            }
            RuleAction::RouteToSkills { skills: list } => {
                skills.extend(list.iter().map(|s| s.skill_id));
            }
            RuleAction::RouteToBot { .. } | RuleAction::SetPriority { .. } => {}
        }
    }
    for q in queues {
        missing(state.store.queue(q).await, "queue", q)?;
    }
    for a in agents {
        missing(state.store.agent(a).await, "agent", a)?;
    }
    for s in skills {
        missing(state.store.skill(s).await, "skill", s)?;
    }
    Ok(())
}

fn position_of(stored: i64) -> i32 {
    i32::try_from(stored).unwrap_or(if stored < 0 { i32::MIN } else { i32::MAX })
}

#[utoipa::path(get, path = "/api/v1/routing-rules", tag = "routing-rules", params(RoutingRuleParams),
    responses((status = 200, body = RoutingRuleList), (status = 403, body = ErrorBody)))]
pub async fn list_routing_rules(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(p): ApiQuery<RoutingRuleParams>,
) -> Result<Json<RoutingRuleList>, ApiError> {
    caller.require_configure()?;
    let rules = state.store.routing_rules(p.channel_id).await?;
    Ok(Json(RoutingRuleList {
        items: rules.into_iter().map(RoutingRuleView::from).collect(),
    }))
}

#[utoipa::path(post, path = "/api/v1/routing-rules", tag = "routing-rules", request_body = RoutingRuleInput,
    responses((status = 201, body = RoutingRuleView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_routing_rule(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(input): ApiJson<RoutingRuleInput>,
) -> Result<(StatusCode, Json<RoutingRuleView>), ApiError> {
    caller.require_configure()?;
    let position = match input.position {
        Some(p) => p,
        None => {
            let last = state
                .store
                .routing_rules(None)
                .await?
                .iter()
                .map(|r| r.position)
                .max()
                .unwrap_or(0);
            position_of(last.saturating_add(POSITION_STEP))
        }
    };
    // The id is the store's to give; validation only uses it to name a rule without a name.
    let spec = checked(&state, Uuid::nil(), input, position).await?;
    let rule = state
        .store
        .create_routing_rule(&spec, state.clock.now())
        .await?;
    Ok((StatusCode::CREATED, Json(rule.into())))
}

#[utoipa::path(get, path = "/api/v1/routing-rules/{id}", tag = "routing-rules", params(("id" = Uuid, Path)),
    responses((status = 200, body = RoutingRuleView), (status = 404, body = ErrorBody)))]
pub async fn get_routing_rule(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<RoutingRuleView>, ApiError> {
    caller.require_configure()?;
    Ok(Json(state.store.routing_rule(id).await?.into()))
}

#[utoipa::path(put, path = "/api/v1/routing-rules/{id}", tag = "routing-rules", params(("id" = Uuid, Path)),
    request_body = RoutingRuleInput,
    responses((status = 200, body = RoutingRuleView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_routing_rule(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<RoutingRuleInput>,
) -> Result<Json<RoutingRuleView>, ApiError> {
    caller.require_configure()?;
    let existing = state.store.routing_rule(id).await?;
    let position = input
        .position
        .unwrap_or_else(|| position_of(existing.position));
    let spec = checked(&state, id, input, position).await?;
    let rule = state
        .store
        .update_routing_rule(id, &spec, state.clock.now())
        .await?;
    Ok(Json(rule.into()))
}

#[utoipa::path(delete, path = "/api/v1/routing-rules/{id}", tag = "routing-rules", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_routing_rule(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    caller.require_configure()?;
    state.store.delete_routing_rule(id).await?;
    Ok(StatusCode::NO_CONTENT)
}
