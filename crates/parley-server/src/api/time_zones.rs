//! The agent's time zone (issue 15, part 5): every date the console shows is in it, in the
//! agent's language. The browser's zone is stored on the first sign-in; the agent changes it
//! beside the language in the top bar. Names are checked against the bundled IANA database (the
//! one campaign schedules use), so the console never gets a zone `Intl` would refuse.

use axum::extract::State;
use axum::{Extension, Json};
use parley_engine::service::translations;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiErrorCode, ApiJson, ErrorBody};

/// The routes of this module, merged into the API in `crate::app`.
pub fn time_zone_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(set_my_time_zone))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeZoneBody {
    /// An IANA time zone name: `America/Toronto`, `Europe/Paris`, `UTC`.
    #[schema(example = "America/Toronto")]
    pub time_zone: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TimeZoneView {
    /// The name as stored, in its canonical spelling.
    pub time_zone: String,
}

/// The signed-in agent's time zone (or, for an agent-bound token, its agent's).
#[utoipa::path(put, path = "/api/v1/me/time-zone", tag = "console", request_body = TimeZoneBody,
    extensions(("x-permission" = json!("signed_in"))),
    responses((status = 200, body = TimeZoneView), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn set_my_time_zone(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<TimeZoneBody>,
) -> Result<Json<TimeZoneView>, ApiError> {
    let agent_id = caller.agent_id.ok_or_else(|| {
        ApiError::coded(
            ApiErrorCode::Forbidden,
            "only an agent has a time zone: sign in to the console",
        )
    })?;
    let time_zone = translations::set_agent_time_zone(
        &state.store,
        agent_id,
        &body.time_zone,
        state.clock.now(),
    )
    .await?;
    Ok(Json(TimeZoneView { time_zone }))
}
