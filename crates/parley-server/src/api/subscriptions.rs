//! Outgoing webhook subscriptions (issue 13): other systems subscribe to Parley's events and
//! read what each delivery got back. Admin only, like channel configuration. The secret is shown
//! when a subscription is created and when it is rotated, never in reads.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_core::Timestamp;
use parley_engine::service::subscriptions::{self, SubscriptionInput};
use parley_store::{PageRequest, WebhookDelivery, WebhookSubscription};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{Page, PageParams, time};
use crate::AppState;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};

#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionView {
    pub id: Uuid,
    pub name: String,
    pub url: String,
    pub event_types: Vec<String>,
    /// Only these channels' events; null for every channel.
    pub channel_ids: Option<Vec<Uuid>>,
    pub active: bool,
    pub created_at: String,
    pub updated_at: String,
    /// The newest delivery, if any.
    pub last_delivery: Option<DeliveryView>,
}

/// A subscription with its secret: answered by creation and rotation only.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionWithSecret {
    #[serde(flatten)]
    pub subscription: SubscriptionView,
    /// Verify `X-Parley-Signature` with it. Shown only now.
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    pub id: Uuid,
    pub subscription_id: Uuid,
    pub event_type: String,
    pub event_id: Uuid,
    /// pending, succeeded or failed.
    pub status: String,
    pub attempts: i64,
    /// When a pending delivery is next tried.
    pub next_attempt_at: Option<String>,
    pub last_status_code: Option<i64>,
    /// The first 2 KB of the receiver's last answer.
    pub last_response: Option<String>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub delivered_at: Option<String>,
    /// The body POSTed.
    pub payload: Value,
}

impl From<WebhookDelivery> for DeliveryView {
    fn from(d: WebhookDelivery) -> Self {
        Self {
            id: d.id,
            subscription_id: d.subscription_id,
            payload: serde_json::from_str(&d.payload).unwrap_or(Value::Null),
            event_type: d.event_type,
            event_id: d.event_id,
            next_attempt_at: (d.status == "pending").then(|| time(d.next_attempt_at)),
            status: d.status,
            attempts: d.attempts,
            last_status_code: d.last_status_code,
            last_response: d.last_response,
            last_error: d.last_error,
            created_at: time(d.created_at),
            delivered_at: d.delivered_at.map(|t| time(Timestamp::from_millis(t))),
        }
    }
}

async fn view(state: &AppState, s: WebhookSubscription) -> Result<SubscriptionView, ApiError> {
    let last = state
        .store
        .list_webhook_deliveries(s.id, PageRequest::new(None, 1))
        .await?
        .items
        .into_iter()
        .next()
        .map(DeliveryView::from);
    Ok(SubscriptionView {
        id: s.id,
        name: s.name.clone(),
        url: s.url.clone(),
        event_types: s.event_types(),
        channel_ids: s.channel_ids(),
        active: s.active,
        created_at: time(s.created_at),
        updated_at: time(s.updated_at),
        last_delivery: last,
    })
}

async fn with_secret(
    state: &AppState,
    s: WebhookSubscription,
) -> Result<SubscriptionWithSecret, ApiError> {
    let secret = s.secret.clone();
    Ok(SubscriptionWithSecret {
        subscription: view(state, s).await?,
        secret,
    })
}

#[utoipa::path(get, path = "/api/v1/webhook-subscriptions",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "webhook-subscriptions",
    params(PageParams),
    responses((status = 200, body = Page<SubscriptionView>), (status = 403, body = ErrorBody)))]
pub async fn list_subscriptions(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<PageParams>,
) -> Result<Json<Page<SubscriptionView>>, ApiError> {
    let found = state.store.list_webhook_subscriptions(p.page()).await?;
    let mut items = Vec::with_capacity(found.items.len());
    for s in found.items {
        items.push(view(&state, s).await?);
    }
    Ok(Json(Page {
        items,
        next: found.next,
    }))
}

#[utoipa::path(post, path = "/api/v1/webhook-subscriptions",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "webhook-subscriptions",
    request_body = SubscriptionInput,
    responses((status = 201, body = SubscriptionWithSecret), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create_subscription(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<SubscriptionInput>,
) -> Result<(StatusCode, Json<SubscriptionWithSecret>), ApiError> {
    let s = subscriptions::create(&state.store, &input, state.clock.now()).await?;
    state.engine.webhooks.refresh().await;
    Ok((StatusCode::CREATED, Json(with_secret(&state, s).await?)))
}

#[utoipa::path(get, path = "/api/v1/webhook-subscriptions/{id}",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "webhook-subscriptions",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = SubscriptionView), (status = 404, body = ErrorBody)))]
pub async fn get_subscription(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<SubscriptionView>, ApiError> {
    let s = state.store.webhook_subscription(id).await?;
    Ok(Json(view(&state, s).await?))
}

#[utoipa::path(put, path = "/api/v1/webhook-subscriptions/{id}",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "webhook-subscriptions",
    params(("id" = Uuid, Path)), request_body = SubscriptionInput,
    responses((status = 200, body = SubscriptionView), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn update_subscription(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<SubscriptionInput>,
) -> Result<Json<SubscriptionView>, ApiError> {
    let s = subscriptions::update(&state.store, id, &input, state.clock.now()).await?;
    state.engine.webhooks.refresh().await;
    Ok(Json(view(&state, s).await?))
}

#[utoipa::path(delete, path = "/api/v1/webhook-subscriptions/{id}",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "webhook-subscriptions",
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_subscription(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    subscriptions::delete(&state.store, id).await?;
    state.engine.webhooks.refresh().await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateInput {
    /// The new secret, at least 16 characters; generated when absent.
    #[serde(default)]
    pub secret: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/webhook-subscriptions/{id}/rotate-secret",
    extensions(("x-permission" = json!("configure_messaging"))),
    tag = "webhook-subscriptions", params(("id" = Uuid, Path)), request_body = RotateInput,
    responses((status = 200, body = SubscriptionWithSecret), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<RotateInput>,
) -> Result<Json<SubscriptionWithSecret>, ApiError> {
    let s =
        subscriptions::rotate_secret(&state.store, id, input.secret.as_deref(), state.clock.now())
            .await?;
    Ok(Json(with_secret(&state, s).await?))
}

#[utoipa::path(get, path = "/api/v1/webhook-subscriptions/{id}/deliveries",
    extensions(("x-permission" = json!("configure_messaging"))),
    tag = "webhook-subscriptions", params(("id" = Uuid, Path), PageParams),
    responses((status = 200, body = Page<DeliveryView>), (status = 404, body = ErrorBody)))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(p): ApiQuery<PageParams>,
) -> Result<Json<Page<DeliveryView>>, ApiError> {
    state.store.webhook_subscription(id).await?;
    let found = state.store.list_webhook_deliveries(id, p.page()).await?;
    Ok(Json(Page::from_store(found, DeliveryView::from)))
}

#[utoipa::path(post, path = "/api/v1/webhook-subscriptions/{id}/deliveries/{delivery_id}/retry",
    extensions(("x-permission" = json!("configure_messaging"))),
    tag = "webhook-subscriptions", params(("id" = Uuid, Path), ("delivery_id" = Uuid, Path)),
    responses((status = 202, body = DeliveryView), (status = 404, body = ErrorBody)))]
pub async fn retry_delivery(
    State(state): State<AppState>,
    ApiPath((id, delivery_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<(StatusCode, Json<DeliveryView>), ApiError> {
    let d = state.engine.webhooks.retry(id, delivery_id).await?;
    Ok((StatusCode::ACCEPTED, Json(d.into())))
}

#[utoipa::path(post, path = "/api/v1/webhook-subscriptions/{id}/test",
    extensions(("x-permission" = json!("configure_messaging"))),
    tag = "webhook-subscriptions", params(("id" = Uuid, Path)),
    responses((status = 202, body = DeliveryView), (status = 404, body = ErrorBody)))]
pub async fn test_subscription(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<(StatusCode, Json<DeliveryView>), ApiError> {
    let d = state.engine.webhooks.ping(id).await?;
    Ok((StatusCode::ACCEPTED, Json(d.into())))
}

pub fn subscription_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_subscriptions, create_subscription))
        .routes(routes!(
            get_subscription,
            update_subscription,
            delete_subscription
        ))
        .routes(routes!(rotate_secret))
        .routes(routes!(list_deliveries))
        .routes(routes!(retry_delivery))
        .routes(routes!(test_subscription))
}
