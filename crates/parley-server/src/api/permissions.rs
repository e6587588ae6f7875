//! Permissions you can grant (issue 18, PERM): the catalogue of permissions, permission sets (the
//! four built-in role sets among them) and the sets granted to each agent. Writes need
//! `manage_users`, and nobody grants what they do not hold (422, `service::permissions`).
//!
//! Each route's permission is declared once, in its `#[utoipa::path]` as the `x-permission`
//! extension, and enforced from there by [`enforce`] before the handler runs; docs/permissions.md
//! lists them, and a test keeps that table and the document in step.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::{Extension, Json};
use parley_core::access::{Permission, PermissionSet};
use parley_engine::service::permissions::{self as service, PermissionSetInput};
use parley_store::StoredPermissionSet;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::time;
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiPath, ErrorBody};

/// The routes of this module, merged into the API in `crate::app`.
pub fn permission_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_permissions))
        .routes(routes!(list_permission_sets, create_permission_set))
        .routes(routes!(
            get_permission_set,
            update_permission_set,
            delete_permission_set
        ))
        .routes(routes!(
            get_agent_permission_sets,
            put_agent_permission_sets
        ))
}

/// The name of the OpenAPI extension that says which permission an operation needs: a permission
/// name, a list of names (any one of them is enough), or [`SIGNED_IN`].
pub const EXTENSION: &str = "x-permission";
/// The `x-permission` of an operation any signed-in caller may call (its handler decides the rest,
/// e.g. one's own password).
pub const SIGNED_IN: &str = "signed_in";

/// What an operation needs, read from its `x-permission`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// Any signed-in caller.
    SignedIn,
    /// At least one of these (one, for most routes).
    AnyOf(Vec<Permission>),
}

impl Requirement {
    /// Reads an `x-permission` value. An unknown name is an error, so a typo cannot open a route.
    pub fn from_value(value: &serde_json::Value) -> Result<Self, String> {
        let parse = |v: &serde_json::Value| -> Result<Permission, String> {
            v.as_str()
                .ok_or_else(|| format!("{v} is not a permission name"))?
                .parse::<Permission>()
                .map_err(|e| e.to_string())
        };
        match value {
            serde_json::Value::String(s) if s == SIGNED_IN => Ok(Self::SignedIn),
            serde_json::Value::Array(items) if !items.is_empty() => items
                .iter()
                .map(parse)
                .collect::<Result<_, _>>()
                .map(Self::AnyOf),
            other => parse(other).map(|p| Self::AnyOf(vec![p])),
        }
    }

    pub fn check(&self, caller: &Caller) -> Result<(), ApiError> {
        match self {
            Self::SignedIn => Ok(()),
            Self::AnyOf(ps) => match ps.first() {
                _ if ps.iter().any(|p| caller.permissions.contains(*p)) => Ok(()),
                Some(first) => Err(ApiError::forbidden_permission(*first)),
                // An unreadable declaration: refused to everyone (see `from_doc`).
                None => Err(ApiError::coded(
                    crate::error::ApiErrorCode::Forbidden,
                    "this route's permission could not be read; it is refused to everyone",
                )),
            },
        }
    }
}

/// Every operation's requirement, by method and path template (as axum matches it).
#[derive(Debug, Default)]
pub struct RouteRequirements(HashMap<(Method, String), Requirement>);

impl RouteRequirements {
    /// Reads the `x-permission` of every operation of `doc`. One that cannot be read is refused
    /// to everyone (and logged), never left open.
    pub fn from_doc(doc: &utoipa::openapi::OpenApi) -> Self {
        let mut map = HashMap::new();
        for (path, item) in &doc.paths.paths {
            for (method, op) in operations(item) {
                let Some(value) = op.extensions.as_ref().and_then(|e| e.get(EXTENSION)) else {
                    continue;
                };
                let requirement = Requirement::from_value(value).unwrap_or_else(|e| {
                    tracing::error!(%path, %method, error = %e, "unreadable x-permission: refused to all");
                    Requirement::AnyOf(Vec::new())
                });
                map.insert((method, path.clone()), requirement);
            }
        }
        Self(map)
    }

    pub fn get(&self, method: &Method, path: &str) -> Option<&Requirement> {
        self.0.get(&(method.clone(), path.to_owned()))
    }
}

/// The operations of a path item with their methods.
pub fn operations(
    item: &utoipa::openapi::PathItem,
) -> impl Iterator<Item = (Method, &utoipa::openapi::path::Operation)> {
    [
        (Method::GET, &item.get),
        (Method::POST, &item.post),
        (Method::PUT, &item.put),
        (Method::PATCH, &item.patch),
        (Method::DELETE, &item.delete),
        (Method::HEAD, &item.head),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.as_ref().map(|op| (m, op)))
}

/// Refuses a request whose caller lacks the permission its route declares, before the handler
/// (and its body and path extractors) run: a caller without the permission learns nothing from
/// the route, not even which input it takes. A route that declares none is left to its handler.
pub async fn enforce(
    State(requirements): State<Arc<RouteRequirements>>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let requirement = path.and_then(|p| requirements.get(req.method(), p));
    if let Some(requirement) = requirement {
        let caller = req
            .extensions()
            .get::<Caller>()
            .ok_or_else(ApiError::unauthorized)?;
        requirement.check(caller)?;
    }
    Ok(next.run(req).await)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PermissionView {
    /// The permission's name, as sets and `GET /api/v1/me` list it.
    pub name: String,
    pub description: String,
}

#[utoipa::path(get, path = "/api/v1/permissions", tag = "permissions",
    extensions(("x-permission" = json!("signed_in"))),
    responses((status = 200, body = Vec<PermissionView>, description = "Every permission with what it grants")))]
pub async fn list_permissions() -> Json<Vec<PermissionView>> {
    Json(
        Permission::ALL
            .iter()
            .map(|p| PermissionView {
                name: p.as_str().to_owned(),
                description: p.description().to_owned(),
            })
            .collect(),
    )
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PermissionSetView {
    pub id: Uuid,
    pub name: String,
    pub permissions: Vec<String>,
    /// admin, supervisor, agent or broadcaster for a role's default set (edited, never deleted).
    pub builtin_role: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

pub fn names(set: PermissionSet) -> Vec<String> {
    set.iter().map(|p| p.as_str().to_owned()).collect()
}

impl From<StoredPermissionSet> for PermissionSetView {
    fn from(s: StoredPermissionSet) -> Self {
        Self {
            id: s.id,
            name: s.name,
            permissions: names(s.permissions),
            builtin_role: s.builtin_role.map(|r| r.as_str().to_owned()),
            created_at: time(s.created_at),
            updated_at: time(s.updated_at),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/permission-sets", tag = "permissions",
    extensions(("x-permission" = json!("manage_users"))),
    responses((status = 200, body = Vec<PermissionSetView>)))]
pub async fn list_permission_sets(
    State(state): State<AppState>,
) -> Result<Json<Vec<PermissionSetView>>, ApiError> {
    let sets = state.store.list_permission_sets().await?;
    Ok(Json(sets.into_iter().map(Into::into).collect()))
}

#[utoipa::path(post, path = "/api/v1/permission-sets", tag = "permissions",
    extensions(("x-permission" = json!("manage_users"))),
    request_body = PermissionSetInput,
    responses((status = 201, body = PermissionSetView), (status = 422, body = ErrorBody)))]
pub async fn create_permission_set(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(input): ApiJson<PermissionSetInput>,
) -> Result<(StatusCode, Json<PermissionSetView>), ApiError> {
    let set =
        service::create_permission_set(&state.store, caller.permissions, &input, state.clock.now())
            .await?;
    Ok((StatusCode::CREATED, Json(set.into())))
}

#[utoipa::path(get, path = "/api/v1/permission-sets/{id}", tag = "permissions",
    extensions(("x-permission" = json!("manage_users"))),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = PermissionSetView)))]
pub async fn get_permission_set(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<PermissionSetView>, ApiError> {
    Ok(Json(state.store.permission_set(id).await?.into()))
}

#[utoipa::path(put, path = "/api/v1/permission-sets/{id}", tag = "permissions",
    extensions(("x-permission" = json!("manage_users"))),
    params(("id" = Uuid, Path)), request_body = PermissionSetInput,
    responses((status = 200, body = PermissionSetView), (status = 422, body = ErrorBody)))]
pub async fn update_permission_set(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<PermissionSetInput>,
) -> Result<Json<PermissionSetView>, ApiError> {
    let set = service::update_permission_set(
        &state.store,
        caller.permissions,
        id,
        &input,
        state.clock.now(),
    )
    .await?;
    Ok(Json(set.into()))
}

#[utoipa::path(delete, path = "/api/v1/permission-sets/{id}", tag = "permissions",
    extensions(("x-permission" = json!("manage_users"))),
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 422, body = ErrorBody,
        description = "A built-in role's set, a set a live token names, or the last grant of manage_users")))]
pub async fn delete_permission_set(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    service::delete_permission_set(&state.store, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The sets granted to an agent (beyond their role's).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentPermissionSets {
    pub permission_set_ids: Vec<Uuid>,
}

/// What an agent holds: the sets granted to them and the effective permissions (their role's set
/// and the granted sets).
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentPermissionsView {
    pub agent_id: Uuid,
    pub role: String,
    pub permission_set_ids: Vec<Uuid>,
    pub permissions: Vec<String>,
}

async fn agent_permissions_view(
    state: &AppState,
    agent_id: Uuid,
) -> Result<AgentPermissionsView, ApiError> {
    let agent = state.store.agent(agent_id).await?;
    let ids = state.store.agent_permission_set_ids(agent_id).await?;
    let effective = state.store.agent_permissions(agent_id, agent.role).await?;
    Ok(AgentPermissionsView {
        agent_id,
        role: agent.role.as_str().to_owned(),
        permission_set_ids: ids,
        permissions: names(effective),
    })
}

#[utoipa::path(get, path = "/api/v1/agents/{id}/permission-sets", tag = "permissions",
    extensions(("x-permission" = json!("manage_users"))),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = AgentPermissionsView)))]
pub async fn get_agent_permission_sets(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<AgentPermissionsView>, ApiError> {
    Ok(Json(agent_permissions_view(&state, id).await?))
}

#[utoipa::path(put, path = "/api/v1/agents/{id}/permission-sets", tag = "permissions",
    extensions(("x-permission" = json!("manage_users"))),
    params(("id" = Uuid, Path)), request_body = AgentPermissionSets,
    responses((status = 200, body = AgentPermissionsView), (status = 422, body = ErrorBody)))]
pub async fn put_agent_permission_sets(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<AgentPermissionSets>,
) -> Result<Json<AgentPermissionsView>, ApiError> {
    service::set_agent_permission_sets(
        &state.store,
        caller.permissions,
        id,
        &input.permission_set_ids,
    )
    .await?;
    Ok(Json(agent_permissions_view(&state, id).await?))
}
