//! Search across conversations and the agent's closed conversations (issue 15). The rows come
//! from the blind index (`parley_engine::service::search`): an agent finds the conversations they
//! may open (the timeline's rule), a supervisor all of them.

use axum::extract::State;
use axum::{Extension, Json};
use parley_core::access::SessionScope;
use parley_engine::service::search::{
    ClosedPage, MAX_QUERY_CHARS, SearchPage, closed_sessions, search_conversations,
};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiQuery, ErrorBody};

/// The routes of this module, merged into the API in `crate::app`.
pub fn search_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(search))
        .routes(routes!(closed))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// The words to find (at most 200 characters): all must match, in one message or in the
    /// person (name, number, e-mail). Message text matches whole words; a name also matches the
    /// first 3+ letters of a word; a number matches all its digits or its last 4 or more.
    #[serde(default)]
    pub q: String,
    /// The `next` of the previous page.
    pub after: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ClosedParams {
    /// The `next` of the previous page.
    pub after: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/search/conversations", tag = "console", params(SearchParams),
    extensions(("x-permission" = json!(["send_receive", "supervise"]))),
    responses((status = 200, body = SearchPage, description = "Matches newest first, 20 a page"),
        (status = 422, body = ErrorBody, description = "`q` too long or `after` not a cursor")))]
pub async fn search(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(params): ApiQuery<SearchParams>,
) -> Result<Json<SearchPage>, ApiError> {
    if params.q.chars().count() > MAX_QUERY_CHARS {
        return Err(ApiError::invalid(format!(
            "q: at most {MAX_QUERY_CHARS} characters"
        )));
    }
    // A supervisor without `view_all_conversations` still oversees every conversation.
    let scope = if caller
        .permissions
        .contains(parley_core::access::Permission::Supervise)
    {
        SessionScope::All
    } else {
        caller.session_scope()
    };
    let page =
        search_conversations(&state.store, scope, &params.q, params.after.as_deref()).await?;
    Ok(Json(page))
}

#[utoipa::path(get, path = "/api/v1/me/closed-sessions", tag = "console", params(ClosedParams),
    extensions(("x-permission" = json!("send_receive"))),
    responses((status = 200, body = ClosedPage, description = "The caller's ended sessions, newest first, 20 a page"),
        (status = 403, body = ErrorBody, description = "Not an agent (an API token of no agent)"),
        (status = 422, body = ErrorBody, description = "`after` not a cursor")))]
pub async fn closed(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(params): ApiQuery<ClosedParams>,
) -> Result<Json<ClosedPage>, ApiError> {
    let Some(agent_id) = caller.agent_id else {
        return Err(ApiError::coded(
            crate::error::ApiErrorCode::Forbidden,
            "closed conversations are an agent's: sign in to the console",
        ));
    };
    Ok(Json(
        closed_sessions(&state.store, agent_id, params.after.as_deref()).await?,
    ))
}
