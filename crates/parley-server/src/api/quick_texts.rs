//! Quick texts (AG-08): predefined messages with merge fields, line breaks and special characters,
//! searchable, no folders. Every role that converses reads them (the console's composer); only
//! the configure role writes them. Rendering for a session fills the merge fields with
//! `parley_core::merge`.

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use parley_core::merge::{self, MergeFields};
use parley_engine::service::quick_texts::{self, QuickTextInput};
use parley_store::{QuickText, StoreError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{Page, PageParams, time};
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};

#[derive(Debug, Serialize, ToSchema)]
pub struct QuickTextView {
    pub id: Uuid,
    pub title: String,
    pub body: String,
    pub created_at: String,
    pub updated_at: String,
}

impl From<QuickText> for QuickTextView {
    fn from(t: QuickText) -> Self {
        Self {
            id: t.id,
            title: t.title,
            body: t.body,
            created_at: time(t.created_at),
            updated_at: time(t.updated_at),
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct QuickTextParams {
    /// Only texts whose title or body contains this, ignoring case.
    pub q: Option<String>,
    pub after: Option<Uuid>,
    #[param(minimum = 1, maximum = 500)]
    #[serde(default, deserialize_with = "crate::api::page_limit")]
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/quick-texts",
    extensions(("x-permission" = json!(["view_all_conversations", "view_queue_conversations"]))), tag = "quick-texts", params(QuickTextParams),
    responses((status = 200, body = Page<QuickTextView>), (status = 403, body = ErrorBody)))]
pub async fn list_quick_texts(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<QuickTextParams>,
) -> Result<Json<Page<QuickTextView>>, ApiError> {
    let page = PageParams {
        after: p.after,
        limit: p.limit,
    }
    .page();
    let found = state.store.search_quick_texts(p.q.as_deref(), page).await?;
    Ok(Json(Page::from_store(found, QuickTextView::from)))
}

#[utoipa::path(post, path = "/api/v1/quick-texts",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "quick-texts", request_body = QuickTextInput,
    responses((status = 201, body = QuickTextView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_quick_text(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<QuickTextInput>,
) -> Result<(StatusCode, Json<QuickTextView>), ApiError> {
    let t = quick_texts::create(&state.store, &input, state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(t.into())))
}

/// Reading one is open to the same roles as the list, which already shows every body.
#[utoipa::path(get, path = "/api/v1/quick-texts/{id}",
    extensions(("x-permission" = json!(["view_all_conversations", "view_queue_conversations"]))), tag = "quick-texts", params(("id" = Uuid, Path)),
    responses((status = 200, body = QuickTextView), (status = 404, body = ErrorBody)))]
pub async fn get_quick_text(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<QuickTextView>, ApiError> {
    Ok(Json(state.store.quick_text(id).await?.into()))
}

#[utoipa::path(put, path = "/api/v1/quick-texts/{id}",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "quick-texts", params(("id" = Uuid, Path)),
    request_body = QuickTextInput,
    responses((status = 200, body = QuickTextView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_quick_text(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<QuickTextInput>,
) -> Result<Json<QuickTextView>, ApiError> {
    let t = quick_texts::update(&state.store, id, &input, state.clock.now()).await?;
    Ok(Json(t.into()))
}

#[utoipa::path(delete, path = "/api/v1/quick-texts/{id}",
    extensions(("x-permission" = json!("configure_messaging"))), tag = "quick-texts", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_quick_text(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    quick_texts::delete(&state.store, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenderInput {
    /// The session whose contact, channel and messaging user fill the merge fields.
    pub session_id: Uuid,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RenderedQuickText {
    pub id: Uuid,
    pub title: String,
    /// The body with its merge fields filled. A known field without a value (a contact with no
    /// last name, `agent.name` for an API token) renders empty.
    pub body: String,
    /// Names written like merge fields that Parley does not know (typos such as
    /// `contact.frist_name`); they are left in `body` as written so the agent notices.
    pub unknown_fields: Vec<String>,
}

#[utoipa::path(post, path = "/api/v1/quick-texts/{id}/render",
    extensions(("x-permission" = json!(["view_all_conversations", "view_queue_conversations"]))), tag = "quick-texts", params(("id" = Uuid, Path)),
    request_body = RenderInput,
    responses((status = 200, body = RenderedQuickText), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn render_quick_text(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<RenderInput>,
) -> Result<Json<RenderedQuickText>, ApiError> {
    let text = state.store.quick_text(id).await?;
    let fields = session_fields(&state, &caller, input.session_id).await?;
    let rendered = merge::render(&text.body, &fields);
    Ok(Json(RenderedQuickText {
        id: text.id,
        title: text.title,
        body: rendered.text,
        unknown_fields: rendered.unknown,
    }))
}

/// A lookup of something the body names: missing is 422 (the request is wrong), not 404 (the
/// quick text in the path exists).
fn referenced<T>(r: Result<T, StoreError>, what: &str) -> Result<T, ApiError> {
    r.map_err(|e| match e {
        StoreError::NotFound { .. } => ApiError::invalid(format!("{what} does not exist")),
        other => other.into(),
    })
}

/// The merge field values for one session: its channel, messaging user and contact (the
/// messaging user's, else the one of the session's case), and the calling agent.
async fn session_fields(
    state: &AppState,
    caller: &Caller,
    session_id: Uuid,
) -> Result<MergeFields, ApiError> {
    let session = referenced(state.store.session(session_id).await, "session")?;
    let user = state
        .store
        .messaging_user(session.messaging_user_id)
        .await?;
    let channel = state
        .engine
        .channels
        .get(&state.store, session.channel_id)
        .await?;
    let mut contact_id = user.contact_id;
    if contact_id.is_none()
        && let Some(case_id) = session.case_id
    {
        contact_id = match state.store.case(case_id).await {
            Ok(c) => Some(c.contact_id),
            Err(StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
    }
    let contact = match contact_id {
        Some(id) => match state.store.contact(id).await {
            Ok(c) => Some(c),
            Err(StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        },
        None => None,
    };

    let mut f = MergeFields::new();
    match contact {
        Some(c) => {
            f.insert(
                "contact.name",
                merge::full_name(&c.first_name, &c.last_name),
            );
            f.insert("contact.first_name", c.first_name);
            f.insert("contact.last_name", c.last_name);
            if let Some(email) = c.email {
                f.insert("contact.email", email);
            }
            if let Some(phone) = c.phone {
                f.insert("contact.phone", phone);
            }
        }
        // Without a contact the only name known is the one the channel gave the person.
        None => {
            f.insert("contact.name", user.name.clone());
        }
    }
    if let Some(name) = caller_agent_name(state, caller).await? {
        f.insert("agent.name", name);
    }
    if let Some(c) = channel {
        f.insert("channel.name", c.name);
    }
    f.insert("messaging_user.platform_key", user.platform_key);
    f.insert("messaging_user.name", user.name);
    Ok(f)
}

/// The calling agent's name. API tokens belong to no agent, so for them `agent.name` renders
/// empty; a console request carries its signed-in agent.
async fn caller_agent_name(state: &AppState, caller: &Caller) -> Result<Option<String>, ApiError> {
    let Some(agent_id) = caller.agent_id else {
        return Ok(None);
    };
    match state.store.agent(agent_id).await {
        Ok(a) => Ok(Some(a.name)),
        // Deleted while signed in: nobody to name.
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
