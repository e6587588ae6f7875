//! Channels: where messages come in. Their input type and every rule of a write are the engine's
//! (`service::channels`), shared with the console and `parley apply`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_core::model::{ChannelKind, ConsentLevel, NumberType, Provider};
pub use parley_engine::service::channels::ChannelInput;
use parley_engine::service::channels::{self, Writes};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Page, PageParams, time};
use crate::AppState;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use crate::schema;

#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelView {
    pub id: Uuid,
    pub name: String,
    #[schema(schema_with = schema::channel_kind)]
    pub kind: ChannelKind,
    #[schema(schema_with = schema::provider)]
    pub provider: Provider,
    pub address: String,
    #[schema(schema_with = schema::number_type_or_null)]
    pub number_type: Option<NumberType>,
    pub provider_keyword: Option<String>,
    pub country: Option<String>,
    #[schema(schema_with = schema::consent_level)]
    pub consent_level: ConsentLevel,
    pub queue_id: Option<Uuid>,
    /// The rate the dispatcher applies, configured or default.
    pub throughput_mps: i64,
    #[schema(value_type = Object)]
    pub settings: Value,
    /// Names of the secrets that are set; their values are never shown.
    pub secrets_set: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<parley_store::Channel> for ChannelView {
    fn from(c: parley_store::Channel) -> Self {
        let default_rate = c
            .number_type
            .map_or(c.kind.default_throughput(), NumberType::default_throughput);
        Self {
            id: c.id,
            name: c.name,
            kind: c.kind,
            provider: c.provider,
            address: c.address,
            number_type: c.number_type,
            provider_keyword: c.provider_keyword,
            country: c.country,
            consent_level: c.consent_level,
            queue_id: c.queue_id,
            throughput_mps: c.throughput_mps.unwrap_or(i64::from(default_rate)),
            settings: c.settings,
            secrets_set: c
                .secrets
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default(),
            created_at: time(c.created_at),
            updated_at: time(c.updated_at),
        }
    }
}

#[utoipa::path(post, path = "/api/v1/channels",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "channels", request_body = ChannelInput,
    responses((status = 201, body = ChannelView), (status = 422, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_channel(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<ChannelInput>,
) -> Result<(StatusCode, Json<ChannelView>), ApiError> {
    let channel =
        channels::create(Writes::of_engine(&state.engine), input, state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(channel.into())))
}

#[utoipa::path(get, path = "/api/v1/channels",
    extensions(("x-permission" = json!("signed_in"))), tag = "channels", params(PageParams),
    responses((status = 200, body = Page<ChannelView>)))]
pub async fn list_channels(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<PageParams>,
) -> Result<Json<Page<ChannelView>>, ApiError> {
    let page = state.store.list_channels(p.page()).await?;
    Ok(Json(Page::from_store(page, ChannelView::from)))
}

#[utoipa::path(get, path = "/api/v1/channels/{id}",
    extensions(("x-permission" = json!("signed_in"))), tag = "channels", params(("id" = Uuid, Path)),
    responses((status = 200, body = ChannelView), (status = 404, body = ErrorBody)))]
pub async fn get_channel(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<ChannelView>, ApiError> {
    Ok(Json(state.store.channel(id).await?.into()))
}

#[utoipa::path(put, path = "/api/v1/channels/{id}",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "channels", params(("id" = Uuid, Path)),
    request_body = ChannelInput,
    responses((status = 200, body = ChannelView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_channel(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<ChannelInput>,
) -> Result<Json<ChannelView>, ApiError> {
    let channel = channels::replace(
        Writes::of_engine(&state.engine),
        id,
        input,
        state.clock.now(),
    )
    .await?;
    Ok(Json(channel.into()))
}

#[utoipa::path(delete, path = "/api/v1/channels/{id}",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "channels", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_channel(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    channels::delete(Writes::of_engine(&state.engine), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
