//! Messaging users as an API resource (MU-03..07): create one with its first consent and the
//! source of it, change its consent with a reason, link or unlink its contact.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_engine::service::messaging_users::{
    self, ConsentInput, ContactLinkInput, LinkedBy, MessagingUserInput,
};
use parley_store::ConsentEvent;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::contacts::ContactView;
use super::conversations::{ConsentEventView, MessagingUserView};
use super::time;
use crate::AppState;
use crate::error::{ApiError, ApiJson, ApiPath, ErrorBody};

fn event_view(e: ConsentEvent) -> ConsentEventView {
    ConsentEventView {
        from_status: e.from_status,
        to_status: e.to_status,
        source: e.source,
        reason: e.reason,
        entry_id: e.entry_id,
        at: time(e.at),
    }
}

#[utoipa::path(post, path = "/api/v1/messaging-users",
    extensions(("x-permission" = json!("send_receive"))), tag = "conversations",
    request_body = MessagingUserInput,
    responses((status = 201, body = MessagingUserView), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create_messaging_user(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<MessagingUserInput>,
) -> Result<(StatusCode, Json<MessagingUserView>), ApiError> {
    let u = messaging_users::create(
        &state.store,
        Some(&state.engine.events),
        &input,
        state.clock.now(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(u.into())))
}

#[utoipa::path(post, path = "/api/v1/messaging-users/{id}/consent",
    extensions(("x-permission" = json!("send_receive"))), tag = "conversations",
    params(("id" = Uuid, Path)), request_body = ConsentInput,
    responses((status = 200, body = ConsentEventView), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn change_consent(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<ConsentInput>,
) -> Result<Json<ConsentEventView>, ApiError> {
    let e = messaging_users::change_consent(
        &state.store,
        Some(&state.engine.events),
        id,
        &input,
        state.clock.now(),
    )
    .await?;
    Ok(Json(event_view(e)))
}

#[utoipa::path(get, path = "/api/v1/messaging-users/{id}/consent-history",
    extensions(("x-permission" = json!(["view_all_conversations", "view_queue_conversations"]))), tag = "conversations",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Vec<ConsentEventView>), (status = 404, body = ErrorBody)))]
pub async fn consent_history(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<Vec<ConsentEventView>>, ApiError> {
    state.store.messaging_user(id).await?;
    let history = state.store.consent_history(id).await?;
    Ok(Json(history.into_iter().map(event_view).collect()))
}

/// A messaging user after a link call, with the contact and how it was found.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactLinkView {
    pub messaging_user: MessagingUserView,
    /// Absent when nothing matched and the rules did not allow creating a contact.
    pub contact: Option<ContactView>,
    /// `id`, `phone`, `email` or `created`.
    pub linked_by: Option<LinkedBy>,
}

#[utoipa::path(put, path = "/api/v1/messaging-users/{id}/contact",
    extensions(("x-permission" = json!("send_receive"))), tag = "conversations",
    params(("id" = Uuid, Path)), request_body = ContactLinkInput,
    responses((status = 200, body = ContactLinkView), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn link_contact(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<ContactLinkInput>,
) -> Result<Json<ContactLinkView>, ApiError> {
    let linked = messaging_users::link_contact(&state.store, id, &input, state.clock.now()).await?;
    let contact = match linked.contact {
        Some(c) => super::contacts::with_tags(&state, vec![ContactView::from(c)])
            .await?
            .pop(),
        None => None,
    };
    Ok(Json(ContactLinkView {
        messaging_user: linked.user.into(),
        contact,
        linked_by: linked.by,
    }))
}

#[utoipa::path(delete, path = "/api/v1/messaging-users/{id}/contact",
    extensions(("x-permission" = json!("send_receive"))), tag = "conversations",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = MessagingUserView), (status = 404, body = ErrorBody)))]
pub async fn unlink_contact(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<MessagingUserView>, ApiError> {
    let u = messaging_users::unlink_contact(&state.store, id, state.clock.now()).await?;
    Ok(Json(u.into()))
}
