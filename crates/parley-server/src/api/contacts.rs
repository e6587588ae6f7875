//! Contacts, the people behind messaging users (their cases: `api::cases`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_engine::service::contacts::{self, ContactInput};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Page, PageParams, time};
use crate::AppState;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactView {
    pub id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// The contact's tags (issue 15), alphabetical.
    pub tags: Vec<String>,
}

impl From<parley_store::Contact> for ContactView {
    fn from(c: parley_store::Contact) -> Self {
        Self {
            id: c.id,
            first_name: c.first_name,
            last_name: c.last_name,
            phone: c.phone,
            email: c.email,
            created_at: time(c.created_at),
            updated_at: time(c.updated_at),
            tags: Vec::new(),
        }
    }
}

/// Fills in the contacts' tags (one query for the page).
pub(crate) async fn with_tags(
    state: &AppState,
    mut views: Vec<ContactView>,
) -> Result<Vec<ContactView>, ApiError> {
    let ids: Vec<parley_store::Tagged> = views
        .iter()
        .map(|v| parley_store::Tagged::Contact(v.id))
        .collect();
    let mut tags = state.store.tags_of_many(&ids).await?;
    for v in &mut views {
        v.tags = tags.remove(&v.id).unwrap_or_default();
    }
    Ok(views)
}

#[utoipa::path(post, path = "/api/v1/contacts",
    extensions(("x-permission" = json!("send_receive"))), tag = "contacts", request_body = ContactInput,
    responses((status = 201, body = ContactView), (status = 422, body = ErrorBody)))]
pub async fn create_contact(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<ContactInput>,
) -> Result<(StatusCode, Json<ContactView>), ApiError> {
    let c = contacts::create(&state.store, &input, state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(c.into())))
}

#[utoipa::path(get, path = "/api/v1/contacts",
    extensions(("x-permission" = json!(["view_all_conversations", "view_queue_conversations"]))), tag = "contacts", params(PageParams),
    responses((status = 200, body = Page<ContactView>)))]
pub async fn list_contacts(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<PageParams>,
) -> Result<Json<Page<ContactView>>, ApiError> {
    let page = state.store.list_contacts(p.page()).await?;
    let mut page = Page::from_store(page, ContactView::from);
    page.items = with_tags(&state, page.items).await?;
    Ok(Json(page))
}

#[utoipa::path(get, path = "/api/v1/contacts/{id}",
    extensions(("x-permission" = json!(["view_all_conversations", "view_queue_conversations"]))), tag = "contacts", params(("id" = Uuid, Path)),
    responses((status = 200, body = ContactView), (status = 404, body = ErrorBody)))]
pub async fn get_contact(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<ContactView>, ApiError> {
    let view = ContactView::from(state.store.contact(id).await?);
    let mut views = with_tags(&state, vec![view]).await?;
    Ok(Json(views.remove(0)))
}

#[utoipa::path(put, path = "/api/v1/contacts/{id}",
    extensions(("x-permission" = json!("send_receive"))), tag = "contacts", params(("id" = Uuid, Path)),
    request_body = ContactInput,
    responses((status = 200, body = ContactView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_contact(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<ContactInput>,
) -> Result<Json<ContactView>, ApiError> {
    let c = contacts::update(&state.store, id, &input, state.clock.now()).await?;
    let mut views = with_tags(&state, vec![ContactView::from(c)]).await?;
    Ok(Json(views.remove(0)))
}

#[utoipa::path(delete, path = "/api/v1/contacts/{id}",
    extensions(("x-permission" = json!("send_receive"))), tag = "contacts", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_contact(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    contacts::delete(&state.store, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
