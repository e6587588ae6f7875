//! Keyword sets (CO-04..CO-16): a channel's keyword lists and auto-responses per language, the
//! same resource a workspace file writes under a channel's `keyword_sets`. A Canadian short code,
//! for one, needs an English set (STOP, HELP) and a French one (ARRET, AIDE). Every write goes
//! through [`parley_engine::service::keyword_sets`], which checks the channel's sets as a whole.
//! Reading and writing both need the configure role.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_engine::service::keyword_sets::{self, KeywordSetInput};
use parley_store::KeywordSet;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{Page, PageParams, time};
use crate::AppState;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};

#[derive(Debug, Serialize, ToSchema)]
pub struct KeywordSetView {
    pub id: Uuid,
    pub channel_id: Uuid,
    pub language: String,
    #[schema(value_type = Object)]
    pub config: Value,
    pub created_at: String,
    pub updated_at: String,
}

impl From<KeywordSet> for KeywordSetView {
    fn from(k: KeywordSet) -> Self {
        Self {
            id: k.id,
            channel_id: k.channel_id,
            language: k.language,
            config: k.config,
            created_at: time(k.created_at),
            updated_at: time(k.updated_at),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct KeywordSetParams {
    /// Only the sets of this channel.
    pub channel_id: Option<Uuid>,
    pub after: Option<Uuid>,
    #[param(minimum = 1, maximum = 500)]
    #[serde(default, deserialize_with = "crate::api::page_limit")]
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/keyword-sets",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "keyword-sets", params(KeywordSetParams),
    responses((status = 200, body = Page<KeywordSetView>), (status = 403, body = ErrorBody)))]
pub async fn list_keyword_sets(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<KeywordSetParams>,
) -> Result<Json<Page<KeywordSetView>>, ApiError> {
    let page = PageParams {
        after: p.after,
        limit: p.limit,
    }
    .page();
    let found = state.store.list_keyword_sets(p.channel_id, page).await?;
    Ok(Json(Page::from_store(found, KeywordSetView::from)))
}

#[utoipa::path(post, path = "/api/v1/keyword-sets",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "keyword-sets", request_body = KeywordSetInput,
    responses((status = 201, body = KeywordSetView), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_keyword_set(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<KeywordSetInput>,
) -> Result<(StatusCode, Json<KeywordSetView>), ApiError> {
    let k = keyword_sets::create(&state.store, &input, state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(k.into())))
}

#[utoipa::path(get, path = "/api/v1/keyword-sets/{id}",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "keyword-sets", params(("id" = Uuid, Path)),
    responses((status = 200, body = KeywordSetView), (status = 404, body = ErrorBody)))]
pub async fn get_keyword_set(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<KeywordSetView>, ApiError> {
    Ok(Json(state.store.keyword_set(id).await?.into()))
}

#[utoipa::path(put, path = "/api/v1/keyword-sets/{id}",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "keyword-sets", params(("id" = Uuid, Path)),
    request_body = KeywordSetInput,
    responses((status = 200, body = KeywordSetView), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_keyword_set(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<KeywordSetInput>,
) -> Result<Json<KeywordSetView>, ApiError> {
    let k = keyword_sets::replace(&state.store, id, &input, state.clock.now()).await?;
    Ok(Json(k.into()))
}

#[utoipa::path(delete, path = "/api/v1/keyword-sets/{id}",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "keyword-sets", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn delete_keyword_set(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    keyword_sets::delete(&state.store, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// All the keyword sets of a channel, by language: the shape a workspace file gives under a
/// channel's `keyword_sets`.
pub type KeywordSetsByLanguage = BTreeMap<String, Value>;

#[utoipa::path(put, path = "/api/v1/channels/{id}/keyword-sets",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "keyword-sets",
    params(("id" = Uuid, Path)),
    request_body(content = Object, description = "Every keyword set of the channel, by language \
        (`{\"en\": {...}, \"fr\": {...}}`, each as a set's `config`); languages left out are deleted."),
    responses((status = 200, body = Vec<KeywordSetView>), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn replace_channel_keyword_sets(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(sets): ApiJson<KeywordSetsByLanguage>,
) -> Result<Json<Vec<KeywordSetView>>, ApiError> {
    let stored = keyword_sets::replace_all(&state.store, id, &sets, state.clock.now()).await?;
    Ok(Json(stored.into_iter().map(KeywordSetView::from).collect()))
}
