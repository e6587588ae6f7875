//! Read-only views of what customers did: messaging users with their consent history, sessions,
//! and the entries of a session.

use axum::extract::State;
use axum::{Extension, Json};
use parley_core::access::SessionScope;
use parley_core::model::{
    Actor, ConsentSource, ConsentStatus, Direction, EntryStatus, OwnerKind, SessionContext,
    SessionStatus,
};
use parley_store::{MessagingUserFilter, SessionFilter};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{Page, PageParams, opt_time, time};
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiPath, ApiQuery, ErrorBody};
use crate::schema;

#[derive(Debug, Serialize, ToSchema)]
pub struct MessagingUserView {
    pub id: Uuid,
    pub channel_id: Uuid,
    /// E.164 number, page-scoped id, WhatsApp id or web user id.
    pub platform_key: String,
    pub name: String,
    pub locale: Option<String>,
    /// Absent until the person consents or opts out on this channel.
    #[schema(schema_with = schema::consent_status_or_null)]
    pub consent_status: Option<ConsentStatus>,
    pub contact_id: Option<Uuid>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<parley_store::MessagingUser> for MessagingUserView {
    fn from(m: parley_store::MessagingUser) -> Self {
        Self {
            id: m.id,
            channel_id: m.channel_id,
            platform_key: m.platform_key,
            name: m.name,
            locale: m.locale,
            consent_status: m.consent_status,
            contact_id: m.contact_id,
            created_at: time(m.created_at),
            updated_at: time(m.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentEventView {
    #[schema(schema_with = schema::consent_status_or_null)]
    pub from_status: Option<ConsentStatus>,
    #[schema(schema_with = schema::consent_status)]
    pub to_status: ConsentStatus,
    #[schema(schema_with = schema::consent_source)]
    pub source: ConsentSource,
    pub reason: String,
    pub entry_id: Option<Uuid>,
    pub at: String,
}

/// A messaging user with the history of its consent.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessagingUserDetail {
    #[serde(flatten)]
    pub user: MessagingUserView,
    pub consent_history: Vec<ConsentEventView>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MessagingUserParams {
    pub channel_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
    pub after: Option<Uuid>,
    #[param(minimum = 1, maximum = 500)]
    #[serde(default, deserialize_with = "crate::api::page_limit")]
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/messaging-users",
    extensions(("x-permission" = json!(["view_all_conversations", "view_queue_conversations"]))), tag = "conversations", params(MessagingUserParams),
    responses((status = 200, body = Page<MessagingUserView>)))]
pub async fn list_messaging_users(
    State(state): State<AppState>,
    ApiQuery(p): ApiQuery<MessagingUserParams>,
) -> Result<Json<Page<MessagingUserView>>, ApiError> {
    let filter = MessagingUserFilter {
        channel_id: p.channel_id,
        contact_id: p.contact_id,
    };
    let page = PageParams {
        after: p.after,
        limit: p.limit,
    }
    .page();
    let found = state.store.list_messaging_users(filter, page).await?;
    Ok(Json(Page::from_store(found, MessagingUserView::from)))
}

#[utoipa::path(get, path = "/api/v1/messaging-users/{id}",
    extensions(("x-permission" = json!(["view_all_conversations", "view_queue_conversations"]))), tag = "conversations", params(("id" = Uuid, Path)),
    responses((status = 200, body = MessagingUserDetail), (status = 404, body = ErrorBody)))]
pub async fn get_messaging_user(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<MessagingUserDetail>, ApiError> {
    let user = state.store.messaging_user(id).await?;
    let history = state.store.consent_history(id).await?;
    Ok(Json(MessagingUserDetail {
        user: user.into(),
        consent_history: history
            .into_iter()
            .map(|e| ConsentEventView {
                from_status: e.from_status,
                to_status: e.to_status,
                source: e.source,
                reason: e.reason,
                entry_id: e.entry_id,
                at: time(e.at),
            })
            .collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub id: Uuid,
    /// Shared by every session of the same messaging user.
    pub conversation_id: Uuid,
    pub channel_id: Uuid,
    pub messaging_user_id: Uuid,
    #[schema(schema_with = schema::session_status)]
    pub status: SessionStatus,
    #[schema(schema_with = schema::session_context)]
    pub context: SessionContext,
    #[schema(schema_with = schema::owner_kind_or_null)]
    pub owner_kind: Option<OwnerKind>,
    pub owner_id: Option<Uuid>,
    pub queue_id: Option<Uuid>,
    pub case_id: Option<Uuid>,
    pub error_reason: Option<String>,
    pub agent_messages: i64,
    pub customer_messages: i64,
    pub started_at: String,
    pub accepted_at: Option<String>,
    pub ended_at: Option<String>,
    pub last_customer_at: Option<String>,
    /// The session's tags (issue 15), alphabetical.
    pub tags: Vec<String>,
}

impl From<parley_store::Session> for SessionView {
    fn from(s: parley_store::Session) -> Self {
        Self {
            id: s.id,
            conversation_id: s.conversation_id,
            channel_id: s.channel_id,
            messaging_user_id: s.messaging_user_id,
            status: s.status,
            context: s.context,
            owner_kind: s.owner_kind,
            owner_id: s.owner_id,
            queue_id: s.queue_id,
            case_id: s.case_id,
            error_reason: s.error_reason,
            agent_messages: s.agent_messages,
            customer_messages: s.customer_messages,
            started_at: time(s.started_at),
            accepted_at: opt_time(s.accepted_at),
            ended_at: opt_time(s.ended_at),
            last_customer_at: opt_time(s.last_customer_at),
            tags: Vec::new(),
        }
    }
}

/// Fills in the sessions' tags (one query for the page).
async fn with_tags(
    state: &AppState,
    mut views: Vec<SessionView>,
) -> Result<Vec<SessionView>, ApiError> {
    let ids: Vec<parley_store::Tagged> = views
        .iter()
        .map(|v| parley_store::Tagged::Session(v.id))
        .collect();
    let mut tags = state.store.tags_of_many(&ids).await?;
    for v in &mut views {
        v.tags = tags.remove(&v.id).unwrap_or_default();
    }
    Ok(views)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SessionParams {
    pub channel_id: Option<Uuid>,
    pub messaging_user_id: Option<Uuid>,
    #[param(schema_with = schema::session_status)]
    pub status: Option<SessionStatus>,
    pub after: Option<Uuid>,
    #[param(minimum = 1, maximum = 500)]
    #[serde(default, deserialize_with = "crate::api::page_limit")]
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/sessions",
    extensions(("x-permission" = json!(["view_all_conversations", "view_queue_conversations"]))), tag = "conversations", params(SessionParams),
    responses((status = 200, body = Page<SessionView>)))]
pub async fn list_sessions(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(p): ApiQuery<SessionParams>,
) -> Result<Json<Page<SessionView>>, ApiError> {
    let filter = SessionFilter {
        channel_id: p.channel_id,
        messaging_user_id: p.messaging_user_id,
        status: p.status,
    };
    let page = PageParams {
        after: p.after,
        limit: p.limit,
    }
    .page();
    let found = match caller.session_scope() {
        SessionScope::All => state.store.list_sessions(filter, page).await?,
        SessionScope::Agent(agent) => {
            state
                .store
                .list_sessions_visible_to(agent, filter, page)
                .await?
        }
        SessionScope::Nothing => parley_store::Paged {
            items: Vec::new(),
            next: None,
        },
    };
    let mut page = Page::from_store(found, SessionView::from);
    page.items = with_tags(&state, page.items).await?;
    Ok(Json(page))
}

#[utoipa::path(get, path = "/api/v1/sessions/{id}",
    extensions(("x-permission" = json!(["view_all_conversations", "view_queue_conversations"]))), tag = "conversations", params(("id" = Uuid, Path)),
    responses((status = 200, body = SessionView), (status = 404, body = ErrorBody)))]
pub async fn get_session(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<SessionView>, ApiError> {
    let view = SessionView::from(caller.require_session_read(&state, id).await?);
    let mut views = with_tags(&state, vec![view]).await?;
    Ok(Json(views.remove(0)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MediaView {
    /// A public link (outbound), or the provider's reference to a customer's file (inbound).
    pub url: String,
    pub content_type: String,
    /// Bytes, when known.
    pub size: Option<u64>,
    /// Parley's copy of a customer's file, once fetched: `GET /api/v1/media/{id}`.
    pub id: Option<Uuid>,
    /// Where to download Parley's copy (with the same credentials as the API).
    pub download_url: Option<String>,
    /// Why Parley could not keep a copy, when it gave up.
    pub error: Option<String>,
}

impl From<parley_store::Media> for MediaView {
    fn from(m: parley_store::Media) -> Self {
        Self {
            download_url: m.id.map(|id| format!("/api/v1/media/{id}")),
            url: m.url,
            content_type: m.content_type,
            size: m.size,
            id: m.id,
            error: m.error,
        }
    }
}

/// The WhatsApp template an entry is sent as.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntryTemplateView {
    pub template_id: Uuid,
    pub name: String,
    pub language: String,
    pub parameters: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EntryView {
    pub id: Uuid,
    pub session_id: Uuid,
    #[schema(schema_with = schema::direction)]
    pub direction: Direction,
    #[schema(schema_with = schema::actor)]
    pub actor: Actor,
    pub actor_id: Option<Uuid>,
    pub body: String,
    pub media: Vec<MediaView>,
    pub provider_message_id: Option<String>,
    #[schema(schema_with = schema::entry_status)]
    pub status: EntryStatus,
    /// Catalogue code ("3004"), with `error_message` in words.
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// The provider's own code, kept beside the catalogue code.
    pub provider_error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Present when the entry is sent as a template; `body` is then its rendered text.
    pub template: Option<EntryTemplateView>,
    /// Present when the entry is sent as a component (buttons, a list, a link card); `body` is
    /// then its numbered text, what SMS sends (`parley_core::component::Component`).
    #[schema(value_type = Option<Object>)]
    pub component: Option<parley_core::component::Component>,
}

impl From<parley_store::Entry> for EntryView {
    fn from(e: parley_store::Entry) -> Self {
        let error_message = e
            .error_code
            .as_deref()
            .and_then(parley_core::ErrorCode::from_code)
            .map(|c| c.message().to_owned());
        Self {
            id: e.id,
            session_id: e.session_id,
            direction: e.direction,
            actor: e.actor,
            actor_id: e.actor_id,
            body: e.body,
            media: e.media.into_iter().map(MediaView::from).collect(),
            provider_message_id: e.provider_message_id,
            status: e.status,
            error_code: e.error_code,
            error_message,
            provider_error: e.provider_error,
            created_at: time(e.created_at),
            updated_at: time(e.updated_at),
            template: e.template.map(|t| EntryTemplateView {
                template_id: t.template_id,
                name: t.name,
                language: t.language,
                parameters: t.parameters,
            }),
            component: e.component,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/sessions/{id}/entries",
    extensions(("x-permission" = json!(["view_all_conversations", "view_queue_conversations"]))), tag = "conversations",
    params(("id" = Uuid, Path), PageParams),
    responses((status = 200, body = Page<EntryView>), (status = 404, body = ErrorBody)))]
pub async fn list_entries(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(p): ApiQuery<PageParams>,
) -> Result<Json<Page<EntryView>>, ApiError> {
    // A missing session (or one the caller may not read) is a 404, not an empty list.
    let session = caller.require_session_read(&state, id).await?;
    super::audit_log::session_opened(&state, &caller, &session).await?;
    let found = state.store.list_entries(id, p.page()).await?;
    Ok(Json(Page::from_store(found, EntryView::from)))
}
