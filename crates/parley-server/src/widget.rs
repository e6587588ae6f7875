//! The web chat widget's public API (`/widget/v1`, issue 14): what the widget script on a
//! customer's website calls, cross-origin, with a visitor token in the `Authorization` header.
//! The work is `parley_engine::web_chat`; this layer checks origins, limits and shapes.
//!
//! Origins (WEB-09). Every request must carry an `Origin` the deployment allows; otherwise 403
//! `origin_not_allowed` and no `Access-Control-Allow-Origin`. A request without `Origin` is
//! refused too: browsers send it on every cross-origin request and the widget always runs on
//! another site than Parley, so only non-browser clients omit it. Those can write any `Origin`
//! they like (CORS protects visitors' browsers, not the server): the visitor token, not the
//! origin, is what guards a conversation. A preflight (`OPTIONS`) of a deployment's route is
//! checked against that deployment; a preflight of a visitor route carries no token, so it is
//! answered when some deployment allows the origin, and the request that follows is checked
//! against the visitor's own deployment. Answers echo the origin, never `*`, and never allow
//! credentials: the API reads and sets no cookies.
//!
//! Limits: JSON bodies at most [`JSON_LIMIT`], uploads [`parley_engine::web_chat::MAX_UPLOAD_BYTES`];
//! visitor creation per client address, messages, uploads and other actions per visitor (429
//! with `Retry-After`). Every answer carries a strict CSP and `nosniff`.

use std::collections::{BTreeMap, HashSet};
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use parley_core::i18n::{self, Locale};
use parley_core::web::WebDeployment;
use parley_engine::web_chat::{self, Conversation, VisitorMessage, WebChatError};
use parley_engine::web_hub::{WebStream, WidgetEvent};
use parley_store::{Entry, WebVisitor};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::AppState;
use crate::console::limiter::{Refusal, Table};
use crate::error::{ApiError, ApiErrorCode, ApiJson, ApiPath, ApiQuery, ErrorBody};

/// The largest JSON body of a widget request.
pub const JSON_LIMIT: usize = 16 * 1024;
/// Visitors one client address (one /64 for IPv6) may create a minute.
pub const VISITORS_PER_MINUTE: u32 = 60;
/// Messages one visitor may send per 10 seconds.
pub const MESSAGES_PER_10S: u32 = 20;
/// Uploads one visitor may make a minute.
pub const UPLOADS_PER_MINUTE: u32 = 10;
/// Other actions (typing, read, end, logout) of one visitor a minute.
pub const ACTIONS_PER_MINUTE: u32 = 240;
/// Keys each limit table holds at most.
const MAX_KEYS: usize = 200_000;
const PREFIX: &str = "/widget/v1";
const ALLOWED_HEADERS: &str = "authorization, content-type, last-event-id";
const CSP: &str = "default-src 'none'; frame-ancestors 'none'; sandbox";

/// The widget's rate limits, one set per server.
#[derive(Debug)]
pub struct WidgetLimits {
    visitors: Mutex<Table<Option<IpAddr>>>,
    messages: Mutex<Table<Uuid>>,
    uploads: Mutex<Table<Uuid>>,
    actions: Mutex<Table<Uuid>>,
}

impl Default for WidgetLimits {
    fn default() -> Self {
        let now = Instant::now();
        let minute = Duration::from_secs(60);
        Self {
            visitors: Mutex::new(Table::with_window(
                VISITORS_PER_MINUTE,
                minute,
                MAX_KEYS,
                now,
            )),
            messages: Mutex::new(Table::with_window(
                MESSAGES_PER_10S,
                Duration::from_secs(10),
                MAX_KEYS,
                now,
            )),
            uploads: Mutex::new(Table::with_window(
                UPLOADS_PER_MINUTE,
                minute,
                MAX_KEYS,
                now,
            )),
            actions: Mutex::new(Table::with_window(
                ACTIONS_PER_MINUTE,
                minute,
                MAX_KEYS,
                now,
            )),
        }
    }
}

fn take<K: std::hash::Hash + Eq>(table: &Mutex<Table<K>>, key: K) -> Result<(), WidgetError> {
    let Ok(mut t) = table.lock() else {
        return Err(too_many(Duration::from_secs(1)));
    };
    match t.take(key, Instant::now()) {
        Ok(()) => Ok(()),
        Err(Refusal::TooMany) => Err(too_many(t.interval())),
        Err(Refusal::Full) => Err(too_many(Duration::from_secs(1))),
    }
}

fn too_many(after: Duration) -> WidgetError {
    let secs = (after.as_secs() + u64::from(after.subsec_nanos() > 0)).max(1);
    WidgetError {
        error: ApiError::coded(
            ApiErrorCode::RateLimited,
            format!("too many requests: retry in {secs} s"),
        ),
        retry_after: Some(secs),
    }
}

/// A widget handler's error: the API's error, and for a 429 when to retry.
#[derive(Debug)]
pub struct WidgetError {
    error: ApiError,
    retry_after: Option<u64>,
}

impl<E: Into<ApiError>> From<E> for WidgetError {
    fn from(e: E) -> Self {
        Self {
            error: e.into(),
            retry_after: None,
        }
    }
}

impl IntoResponse for WidgetError {
    fn into_response(self) -> Response {
        let mut r = self.error.into_response();
        if let Some(secs) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        r
    }
}

/// The resolved caller of a widget request, put in its extensions by [`guard`].
#[derive(Clone)]
pub struct WidgetCaller {
    pub deployment: Arc<WebDeployment>,
    /// `None` on the deployment's own routes (config, visitor creation).
    pub visitor: Option<WebVisitor>,
}

impl WidgetCaller {
    fn visitor(&self) -> Result<&WebVisitor, ApiError> {
        self.visitor.as_ref().ok_or_else(token_invalid)
    }
}

fn token_invalid() -> ApiError {
    ApiError::coded(
        ApiErrorCode::VisitorTokenInvalid,
        "the visitor token is unknown, expired or revoked: create a new visitor",
    )
}

fn origin_refused() -> ApiError {
    ApiError::coded(
        ApiErrorCode::OriginNotAllowed,
        "this page's origin is not on the deployment's allowlist",
    )
}

impl From<WebChatError> for ApiError {
    fn from(e: WebChatError) -> Self {
        match e {
            WebChatError::TokenInvalid => token_invalid(),
            WebChatError::IdentityRequired | WebChatError::Identity(_) => {
                ApiError::coded(ApiErrorCode::IdentityTokenInvalid, e.to_string())
            }
            WebChatError::Invalid(m) => ApiError::invalid(m),
            WebChatError::Prechat(_) => ApiError::invalid(e.to_string()),
            WebChatError::NotFound(what) => ApiError::not_found(what),
            WebChatError::Conflict(m) => ApiError::conflict(m),
            WebChatError::Ingest(e) => {
                tracing::warn!(error = %e, "a widget message was not stored");
                ApiError::coded(
                    ApiErrorCode::Unavailable,
                    "the message could not be stored now; retry with the same client_message_id",
                )
            }
            WebChatError::Store(e) => e.into(),
            WebChatError::Unavailable(why) => {
                tracing::warn!(error = %why, "identity token not checked");
                ApiError::coded(
                    ApiErrorCode::Unavailable,
                    "the identity token cannot be checked now; retry later",
                )
            }
            WebChatError::Media(m) => {
                tracing::error!(error = %m, "widget upload not stored");
                ApiError::internal("the file could not be stored; it has been logged")
            }
        }
    }
}

/// The routes of the widget API, each behind [`guard`].
pub fn widget_routes(state: AppState) -> OpenApiRouter<AppState> {
    let uploads = OpenApiRouter::new()
        .routes(routes!(upload))
        .layer(DefaultBodyLimit::max(
            web_chat::MAX_UPLOAD_BYTES + 64 * 1024,
        ));
    let routes = OpenApiRouter::new()
        .routes(routes!(config))
        .routes(routes!(create_visitor))
        .routes(routes!(conversation))
        .routes(routes!(send_message))
        .routes(routes!(media))
        .routes(routes!(events))
        .routes(routes!(typing))
        .routes(routes!(read))
        .routes(routes!(end))
        .routes(routes!(transcript))
        .routes(routes!(logout))
        .layer(DefaultBodyLimit::max(JSON_LIMIT))
        .merge(uploads);
    // A method no operation declares gets 405 whatever the origin (before the origin check that
    // would otherwise answer 403); preflights (OPTIONS, which no operation declares) are answered
    // by the outer layer.
    let declared = Arc::new(declared_operations(routes.get_openapi()));
    routes
        .route_layer(middleware::from_fn_with_state(state.clone(), guard))
        .route_layer(middleware::from_fn(move |req: Request, next: Next| {
            let declared = declared.clone();
            async move {
                let undeclared = req
                    .extensions()
                    .get::<axum::extract::MatchedPath>()
                    .is_some_and(|p| {
                        !declared.contains(&(p.as_str().to_owned(), req.method().clone()))
                    });
                if undeclared {
                    StatusCode::METHOD_NOT_ALLOWED.into_response()
                } else {
                    next.run(req).await
                }
            }
        }))
        .layer(middleware::from_fn_with_state(state, preflight))
}

/// Each (path template, method) the document declares.
fn declared_operations(doc: &utoipa::openapi::OpenApi) -> HashSet<(String, Method)> {
    let mut declared = HashSet::new();
    for (path, item) in &doc.paths.paths {
        let methods = [
            (item.get.is_some(), Method::GET),
            (item.post.is_some(), Method::POST),
            (item.put.is_some(), Method::PUT),
            (item.patch.is_some(), Method::PATCH),
            (item.delete.is_some(), Method::DELETE),
        ];
        for (present, method) in methods {
            if present {
                declared.insert((path.clone(), method));
            }
        }
    }
    declared
}

/// Answers CORS preflights through [`guard`]; every other request goes on to the routes.
async fn preflight(state: State<AppState>, req: Request, next: Next) -> Response {
    if req.method() == Method::OPTIONS {
        guard(state, req, next).await
    } else {
        next.run(req).await
    }
}

fn origin_of(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|o| !o.is_empty() && *o != "null")
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// The deployment named by a deployment route's path (`/widget/v1/deployments/{name}/...`).
fn deployment_name(path: &str) -> Option<&str> {
    path.strip_prefix(PREFIX)?
        .strip_prefix("/deployments/")?
        .split('/')
        .next()
        .filter(|n| !n.is_empty())
}

async fn any_deployment_allows(state: &AppState, origin: &str) -> Result<bool, ApiError> {
    Ok(state
        .store
        .web_deployments()
        .await?
        .iter()
        .any(|d| parley_core::web::origin_allowed(&d.origins, origin)))
}

/// Origin check, caller resolution and the headers of every widget answer.
async fn guard(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let origin = origin_of(req.headers()).map(str::to_owned);
    let allowed = match resolve(&state, &mut req, origin.as_deref()).await {
        Ok(Some(answer)) => return finish(answer, origin.as_deref()),
        Ok(None) => origin,
        Err((e, allowed)) => {
            let origin = if allowed { origin } else { None };
            return finish(e.into_response(), origin.as_deref());
        }
    };
    let response = next.run(req).await;
    finish(response, allowed.as_deref())
}

/// Puts the caller in the request, or answers it here: a preflight (`Ok(Some)`), a refusal
/// (`Err`, with whether the origin may read it).
async fn resolve(
    state: &AppState,
    req: &mut Request,
    origin: Option<&str>,
) -> Result<Option<Response>, (ApiError, bool)> {
    let path = req.uri().path().to_owned();
    let Some(origin) = origin else {
        return Err((origin_refused(), false));
    };
    let named = deployment_name(&path).map(str::to_owned);
    if req.method() == Method::OPTIONS {
        let ok = match &named {
            Some(name) => state
                .store
                .web_deployment_by_name(name)
                .await
                .map_err(|e| (e.into(), false))?
                .is_some_and(|d| parley_core::web::origin_allowed(&d.origins, origin)),
            None => any_deployment_allows(state, origin)
                .await
                .map_err(|e| (e, false))?,
        };
        if !ok {
            return Err((origin_refused(), false));
        }
        let mut r = StatusCode::NO_CONTENT.into_response();
        let h = r.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, OPTIONS"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOWED_HEADERS),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        return Ok(Some(r));
    }
    let caller = match named {
        Some(name) => {
            let deployment = state
                .store
                .web_deployment_by_name(&name)
                .await
                .map_err(|e| (e.into(), false))?
                .ok_or_else(|| (ApiError::not_found("deployment"), false))?;
            if !parley_core::web::origin_allowed(&deployment.origins, origin) {
                return Err((origin_refused(), false));
            }
            WidgetCaller {
                deployment: Arc::new(deployment),
                visitor: None,
            }
        }
        None => {
            let visitor = match bearer(req.headers()) {
                Some(token) => web_chat::resolve(&state.engine, token).await,
                None => Err(WebChatError::TokenInvalid),
            };
            let visitor = match visitor {
                Ok(v) => v,
                Err(e) => {
                    // The widget must learn that its token is gone (to start afresh), so the
                    // refusal is readable by any origin some deployment allows.
                    let readable = any_deployment_allows(state, origin).await.unwrap_or(false);
                    if !readable {
                        return Err((origin_refused(), false));
                    }
                    return Err((e.into(), true));
                }
            };
            let deployment = state
                .store
                .web_deployment(visitor.deployment_id)
                .await
                .map_err(|_| (token_invalid(), false))?;
            if !parley_core::web::origin_allowed(&deployment.origins, origin) {
                return Err((origin_refused(), false));
            }
            WidgetCaller {
                deployment: Arc::new(deployment),
                visitor: Some(visitor),
            }
        }
    };
    req.extensions_mut().insert(caller);
    Ok(None)
}

fn finish(mut response: Response, origin: Option<&str>) -> Response {
    let h = response.headers_mut();
    if let Some(o) = origin.and_then(|o| HeaderValue::from_str(o).ok()) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("retry-after, content-disposition"),
        );
    }
    h.insert(header::VARY, HeaderValue::from_static("origin"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

fn client_ip(req_ext: &axum::http::Extensions) -> Option<IpAddr> {
    req_ext
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| crate::listen::address_block(c.0.ip()))
}

// ---------------------------------------------------------------------------------------------
// Shapes

/// The widget's configuration.
#[derive(Debug, Serialize, ToSchema)]
pub struct WidgetConfig {
    pub name: String,
    pub language: String,
    /// `{ title, color, avatar_url?, greeting }`.
    #[schema(value_type = Object)]
    pub branding: serde_json::Value,
    /// `{ receipts, typing, emoji, enter_inserts_newline }` (WEB-04).
    #[schema(value_type = Object)]
    pub settings: serde_json::Value,
    /// `{ enabled, fields: [{ name, label, kind, required, hidden }] }` (WEB-11).
    #[schema(value_type = Object)]
    pub prechat: serde_json::Value,
    /// Visitors must send an identity token (user verification, WEB-16).
    pub verification_required: bool,
    pub business_hours: BusinessHoursView,
    /// The language of `labels`: the one asked for (`?language=`) when supported, else the
    /// deployment's.
    pub labels_language: String,
    /// The widget's texts in `labels_language`, by name (`send`, `placeholder`, ...).
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BusinessHoursView {
    pub open: bool,
    /// The after-hours reply, when closed and the channel has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateVisitor {
    /// The website's JWT for a signed-in user (required when the deployment verifies users).
    #[serde(default)]
    pub identity_token: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedVisitor {
    /// `pv_...`: send as `Authorization: Bearer <token>`. Shown only here.
    pub visitor_token: String,
    pub visitor_id: Uuid,
    pub verified: bool,
    /// RFC 3339.
    pub expires_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub id: Uuid,
    /// new, waiting, active, consent, inactive, error, ended.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_name: Option<String>,
    pub started_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MediaView {
    /// Parley's copy (`GET /widget/v1/media/{id}`); none for a file an agent sent by link.
    pub id: Option<Uuid>,
    /// The public link of a file sent by link (no copy in Parley).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub content_type: String,
    pub filename: String,
    pub size: Option<u64>,
}

/// One message of the conversation. `text` is the customer's or agent's text as written: the
/// widget shows it as text, never as HTML.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntryView {
    pub id: Uuid,
    /// inbound (from the visitor) or outbound.
    pub direction: String,
    /// customer, agent, bot or system.
    pub author: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author_name: Option<String>,
    pub text: String,
    pub media: Vec<MediaView>,
    /// A component (buttons, list, quick replies...) as `parley_core::component` writes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub component: Option<serde_json::Value>,
    pub status: String,
    pub created_at: String,
}

fn entry_view(e: &Entry, author_name: Option<String>) -> EntryView {
    EntryView {
        id: e.id,
        direction: e.direction.as_str().to_owned(),
        author: web_chat::author(e).to_owned(),
        author_name,
        text: e.body.clone(),
        media: e
            .media
            .iter()
            .filter(|m| m.error.is_none())
            .map(|m| {
                let served = parley_core::media::served_as(&m.content_type);
                let stem = m.id.map_or_else(|| "file".to_owned(), |id| id.to_string());
                MediaView {
                    id: m.id,
                    url: (m.id.is_none() && e.direction == parley_core::model::Direction::Outbound)
                        .then(|| m.url.clone()),
                    content_type: m.content_type.clone(),
                    filename: match served.extension {
                        Some(ext) => format!("{stem}.{ext}"),
                        None => stem,
                    },
                    size: m.size,
                }
            })
            .collect(),
        component: e
            .component
            .as_ref()
            .and_then(|c| serde_json::to_value(c).ok()),
        status: e.status.as_str().to_owned(),
        created_at: e.created_at.to_rfc3339(),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationView {
    pub session: Option<SessionView>,
    pub entries: Vec<EntryView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_wait_minutes: Option<u32>,
    pub business_hours: BusinessHoursView,
    /// The open session has its pre-chat values (or the deployment asks none).
    pub prechat_done: bool,
}

fn conversation_view(c: &Conversation, hours: web_chat::Hours) -> ConversationView {
    ConversationView {
        session: c.session.as_ref().map(|s| SessionView {
            id: s.id,
            status: s.status.as_str().to_owned(),
            agent_name: c.agent_name.clone(),
            started_at: s.started_at.to_rfc3339(),
        }),
        entries: c
            .entries
            .iter()
            .map(|e| {
                let name = e.actor_id.and_then(|id| c.names.get(&id).cloned());
                entry_view(e, name)
            })
            .collect(),
        estimated_wait_minutes: c.estimated_wait_minutes,
        business_hours: BusinessHoursView {
            open: hours.open,
            message: hours.message,
        },
        prechat_done: c.prechat_done,
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMessage {
    /// The widget's own id of the message (1-64 of `[A-Za-z0-9_-]`): a retry with the same id is
    /// the same message.
    pub client_message_id: String,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub media_ids: Vec<Uuid>,
    /// The id of the option the visitor chose in a component.
    #[serde(default)]
    pub choice: Option<String>,
    /// Pre-chat values, with the first message of a session.
    #[serde(default)]
    pub prechat: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub page_url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageAccepted {
    pub client_message_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UploadedFile {
    pub id: Uuid,
    pub content_type: String,
    pub size: u64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Typing {
    pub typing: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadUpTo {
    /// The last entry the visitor saw.
    pub up_to: Uuid,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadMarked {
    /// Messages newly marked read.
    pub marked: usize,
}

// ---------------------------------------------------------------------------------------------
// Handlers

/// The widget's texts in `locale`: the catalogue's `widget` area without its prefix, so the
/// script looks up `send`, not `widget.send`. One source for both the console's translators and
/// the script, whose built-in English only stands in while the config has not come.
fn labels(locale: Locale) -> BTreeMap<String, String> {
    i18n::catalogue(locale)
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("widget.")?.to_owned(), (*v).to_owned())))
        .collect()
}

/// The labels' language: the snippet's `data-language` when the catalogue has it (WEB-07),
/// else the deployment's, else English.
fn labels_locale(asked: Option<&str>, deployment: &str) -> Locale {
    asked
        .and_then(|l| l.to_ascii_lowercase().parse().ok())
        .or_else(|| deployment.parse().ok())
        .unwrap_or(Locale::En)
}

#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct ConfigQuery {
    /// The page's language (the snippet's `data-language`); the deployment's when absent or not
    /// supported.
    #[serde(default)]
    pub language: Option<String>,
}

#[utoipa::path(get, path = "/widget/v1/deployments/{name}/config", tag = "widget",
    params(("name" = String, Path, description = "the deployment's name"), ConfigQuery),
    responses((status = 200, body = WidgetConfig),
        (status = 403, body = ErrorBody, description = "origin_not_allowed")))]
pub async fn config(
    State(state): State<AppState>,
    Extension(caller): Extension<WidgetCaller>,
    ApiQuery(query): ApiQuery<ConfigQuery>,
) -> Result<axum::Json<WidgetConfig>, WidgetError> {
    let locale = labels_locale(query.language.as_deref(), &caller.deployment.language);
    // Translators' texts for the widget's language over the configured ones (WEB-06).
    let mut translated = (*caller.deployment).clone();
    let rows = state
        .store
        .translations_of(
            parley_engine::service::translations::WIDGET_LABEL,
            &translated.id.to_string(),
        )
        .await?;
    parley_engine::service::translations::apply_widget_labels(
        &mut translated,
        &rows,
        locale.as_str(),
    );
    let d = &translated;
    let hours = web_chat::hours(&state.engine, d).await?;
    let to_value = |v: serde_json::Result<serde_json::Value>| v.unwrap_or(serde_json::Value::Null);
    Ok(axum::Json(WidgetConfig {
        name: d.name.clone(),
        language: d.language.clone(),
        branding: to_value(serde_json::to_value(&d.branding)),
        settings: to_value(serde_json::to_value(d.settings)),
        prechat: to_value(serde_json::to_value(&d.prechat)),
        verification_required: d.keyset_id.is_some(),
        business_hours: BusinessHoursView {
            open: hours.open,
            message: hours.message,
        },
        labels_language: locale.as_str().to_owned(),
        labels: labels(locale),
    }))
}

#[utoipa::path(post, path = "/widget/v1/deployments/{name}/visitors", tag = "widget",
    params(("name" = String, Path, description = "the deployment's name")),
    request_body = CreateVisitor,
    responses((status = 201, body = CreatedVisitor),
        (status = 401, body = ErrorBody, description = "identity_token_invalid: missing (the deployment verifies users) or refused"),
        (status = 403, body = ErrorBody, description = "origin_not_allowed"),
        (status = 429, body = ErrorBody, description = "rate_limited")))]
pub async fn create_visitor(
    State(state): State<AppState>,
    Extension(caller): Extension<WidgetCaller>,
    extensions: axum::http::Extensions,
    body: Bytes,
) -> Result<Response, WidgetError> {
    take(&state.widget.visitors, client_ip(&extensions))?;
    // An empty body is an anonymous visitor; otherwise the JSON object.
    let input: CreateVisitor = if body.iter().all(u8::is_ascii_whitespace) {
        CreateVisitor::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::coded(ApiErrorCode::InvalidJson, format!("the body: {e}")))?
    };
    let created = web_chat::create_visitor(
        &state.engine,
        &caller.deployment,
        input.identity_token.as_deref(),
    )
    .await?;
    let body = CreatedVisitor {
        visitor_token: created.token,
        visitor_id: created.visitor.id,
        verified: created.visitor.verified,
        expires_at: created.visitor.expires_at.to_rfc3339(),
    };
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

#[utoipa::path(get, path = "/widget/v1/conversation", tag = "widget",
    responses((status = 200, body = ConversationView),
        (status = 401, body = ErrorBody, description = "visitor_token_invalid"),
        (status = 403, body = ErrorBody, description = "origin_not_allowed")))]
pub async fn conversation(
    State(state): State<AppState>,
    Extension(caller): Extension<WidgetCaller>,
) -> Result<axum::Json<ConversationView>, WidgetError> {
    let visitor = caller.visitor()?;
    let c = web_chat::conversation(&state.engine, &caller.deployment, visitor).await?;
    let hours = web_chat::hours(&state.engine, &caller.deployment).await?;
    Ok(axum::Json(conversation_view(&c, hours)))
}

#[utoipa::path(post, path = "/widget/v1/messages", tag = "widget",
    request_body = SendMessage,
    responses((status = 202, body = MessageAccepted),
        (status = 401, body = ErrorBody, description = "visitor_token_invalid"),
        (status = 403, body = ErrorBody, description = "origin_not_allowed"),
        (status = 429, body = ErrorBody, description = "rate_limited"),
        (status = 503, body = ErrorBody, description = "not stored now; retry with the same client_message_id")))]
pub async fn send_message(
    State(state): State<AppState>,
    Extension(caller): Extension<WidgetCaller>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<SendMessage>,
) -> Result<Response, WidgetError> {
    let visitor = caller.visitor()?;
    take(&state.widget.messages, visitor.id)?;
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let id = input.client_message_id.clone();
    web_chat::send(
        &state.engine,
        &caller.deployment,
        visitor,
        VisitorMessage {
            client_message_id: input.client_message_id,
            text: input.text,
            media_ids: input.media_ids,
            choice: input.choice,
            prechat: input.prechat,
            page_url: input.page_url,
            user_agent,
        },
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(MessageAccepted {
            client_message_id: id,
        }),
    )
        .into_response())
}

#[utoipa::path(post, path = "/widget/v1/uploads", tag = "widget",
    request_body(content = Vec<u8>, description = "the file's bytes: PDF, PNG, JPEG, BMP, GIF or TIFF (WEB-22), at most 5 MiB",
        content_type = "application/octet-stream"),
    responses((status = 201, body = UploadedFile),
        (status = 401, body = ErrorBody, description = "visitor_token_invalid"),
        (status = 403, body = ErrorBody, description = "origin_not_allowed"),
        (status = 413, body = ErrorBody, description = "larger than 5 MiB"),
        (status = 415, body = ErrorBody, description = "not one of the accepted types, or not what its Content-Type says"),
        (status = 429, body = ErrorBody, description = "rate_limited")))]
pub async fn upload(
    State(state): State<AppState>,
    Extension(caller): Extension<WidgetCaller>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, WidgetError> {
    let visitor = caller.visitor()?;
    take(&state.widget.uploads, visitor.id)?;
    if body.len() > web_chat::MAX_UPLOAD_BYTES {
        return Err(ApiError::coded(
            ApiErrorCode::PayloadTooLarge,
            format!("file: at most {} bytes (5 MiB)", web_chat::MAX_UPLOAD_BYTES),
        )
        .into());
    }
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(parley_core::media::normalize_content_type)
        .map(|ct| {
            if ct == "image/jpg" {
                "image/jpeg".to_owned()
            } else {
                ct
            }
        });
    let unsupported = |m: &str| {
        WidgetError::from(ApiError::coded(
            ApiErrorCode::UnsupportedMediaType,
            m.to_owned(),
        ))
    };
    let Some(sniffed) = parley_core::media::sniff_web_file(&body) else {
        return Err(unsupported(
            "file: send a PDF, PNG, JPEG, BMP, GIF or TIFF file",
        ));
    };
    match declared.as_deref() {
        Some(ct) if ct == sniffed => {}
        Some("application/octet-stream") | None => {}
        Some(ct) => {
            return Err(unsupported(&format!(
                "file: Content-Type says {ct} but the file is {sniffed}"
            )));
        }
    }
    let stored = web_chat::upload(&state.engine, visitor, sniffed, body.to_vec()).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(UploadedFile {
            id: stored.id,
            content_type: stored.content_type,
            size: u64::try_from(stored.size).unwrap_or(0),
        }),
    )
        .into_response())
}

#[utoipa::path(get, path = "/widget/v1/media/{id}", tag = "widget",
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "the file: images inline, PDFs as a download",
            content_type = "application/octet-stream"),
        (status = 401, body = ErrorBody, description = "visitor_token_invalid"),
        (status = 404, body = ErrorBody)))]
pub async fn media(
    State(state): State<AppState>,
    Extension(caller): Extension<WidgetCaller>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, WidgetError> {
    let visitor = caller.visitor()?;
    if !web_chat::may_read_media(&state.engine, visitor, id).await? {
        return Err(ApiError::not_found("media").into());
    }
    let (row, bytes) = match state.engine.media.open(id).await {
        Ok(found) => found,
        Err(parley_engine::media::MediaError::Store(e)) => return Err(e.into()),
        Err(_) => return Err(ApiError::not_found("media").into()),
    };
    let served = parley_core::media::served_as(&row.content_type);
    let disposition = match (served.inline, served.extension) {
        (true, _) => "inline".to_owned(),
        (false, Some(ext)) => format!("attachment; filename=\"{id}.{ext}\""),
        (false, None) => format!("attachment; filename=\"{id}\""),
    };
    let content_type = HeaderValue::from_str(&served.content_type)
        .unwrap_or(HeaderValue::from_static(parley_core::media::OCTET_STREAM));
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_LENGTH, bytes.len())
        .header(header::CONTENT_DISPOSITION, disposition)
        .header(header::CACHE_CONTROL, "private, max-age=3600")
        .body(Body::from(bytes))
        .map_err(|e| ApiError::internal(e.to_string()).into())
}

#[utoipa::path(post, path = "/widget/v1/typing", tag = "widget",
    request_body = Typing,
    responses((status = 204, description = "told"),
        (status = 401, body = ErrorBody, description = "visitor_token_invalid")))]
pub async fn typing(
    State(state): State<AppState>,
    Extension(caller): Extension<WidgetCaller>,
    ApiJson(input): ApiJson<Typing>,
) -> Result<StatusCode, WidgetError> {
    let visitor = caller.visitor()?;
    take(&state.widget.actions, visitor.id)?;
    web_chat::typing(&state.engine, visitor, input.typing).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/widget/v1/read", tag = "widget",
    request_body = ReadUpTo,
    responses((status = 200, body = ReadMarked),
        (status = 401, body = ErrorBody, description = "visitor_token_invalid"),
        (status = 404, body = ErrorBody, description = "not an entry of this visitor's conversation")))]
pub async fn read(
    State(state): State<AppState>,
    Extension(caller): Extension<WidgetCaller>,
    ApiJson(input): ApiJson<ReadUpTo>,
) -> Result<axum::Json<ReadMarked>, WidgetError> {
    let visitor = caller.visitor()?;
    take(&state.widget.actions, visitor.id)?;
    let marked = web_chat::read(&state.engine, visitor, input.up_to).await?;
    Ok(axum::Json(ReadMarked { marked }))
}

#[utoipa::path(post, path = "/widget/v1/end", tag = "widget",
    responses((status = 200, body = SessionView, description = "the ended session"),
        (status = 401, body = ErrorBody, description = "visitor_token_invalid"),
        (status = 409, body = ErrorBody, description = "no open conversation")))]
pub async fn end(
    State(state): State<AppState>,
    Extension(caller): Extension<WidgetCaller>,
) -> Result<axum::Json<SessionView>, WidgetError> {
    let visitor = caller.visitor()?;
    take(&state.widget.actions, visitor.id)?;
    let s = web_chat::end(&state.engine, visitor).await?;
    Ok(axum::Json(SessionView {
        id: s.id,
        status: s.status.as_str().to_owned(),
        agent_name: None,
        started_at: s.started_at.to_rfc3339(),
    }))
}

#[utoipa::path(get, path = "/widget/v1/transcript", tag = "widget",
    responses((status = 200, description = "text/plain; charset=utf-8: the conversation, oldest first", content_type = "text/plain"),
        (status = 401, body = ErrorBody, description = "visitor_token_invalid")))]
pub async fn transcript(
    State(state): State<AppState>,
    Extension(caller): Extension<WidgetCaller>,
) -> Result<Response, WidgetError> {
    let visitor = caller.visitor()?;
    let c = web_chat::conversation(&state.engine, &caller.deployment, visitor).await?;
    let title = caller.deployment.branding.title.clone();
    let text = web_chat::transcript(&c, &title);
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header(
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"transcript.txt\"",
        )
        .body(Body::from(text))
        .map_err(|e| ApiError::internal(e.to_string()).into())
}

#[utoipa::path(post, path = "/widget/v1/logout", tag = "widget",
    responses((status = 204, description = "the token is revoked"),
        (status = 401, body = ErrorBody, description = "visitor_token_invalid")))]
pub async fn logout(
    State(state): State<AppState>,
    Extension(caller): Extension<WidgetCaller>,
) -> Result<StatusCode, WidgetError> {
    let visitor = caller.visitor()?;
    web_chat::logout(&state.engine, visitor).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// The event stream

struct Stream {
    rx: WebStream,
    replay: std::collections::VecDeque<Event>,
    stopping: Option<tokio::sync::watch::Receiver<bool>>,
    expiry: tokio::time::Instant,
    /// The newest entry sent: a lag replays after it.
    last_entry: Option<Uuid>,
    // The store and clock, not the whole engine: this is kept per open widget.
    store: parley_store::Store,
    clock: Arc<dyn parley_core::Clock>,
    visitor: WebVisitor,
}

fn json_event(kind: &str, data: &impl Serialize) -> Event {
    Event::default()
        .event(kind)
        .data(serde_json::to_string(data).unwrap_or_else(|_| "{}".to_owned()))
}

fn entry_event(e: &Entry, author_name: Option<String>) -> Event {
    json_event("entry", &entry_view(e, author_name)).id(e.id.to_string())
}

fn widget_event(e: &WidgetEvent) -> Event {
    match e {
        WidgetEvent::Entry { entry, author_name } => entry_event(entry, author_name.clone()),
        WidgetEvent::Status { entry_id, status } => json_event(
            "status",
            &serde_json::json!({"entry_id": entry_id, "status": status.as_str()}),
        ),
        WidgetEvent::Typing {
            typing,
            author_name,
        } => json_event(
            "typing",
            &serde_json::json!({"typing": typing, "author_name": author_name}),
        ),
        WidgetEvent::Session {
            session_id,
            status,
            agent_name,
        } => json_event(
            "session",
            &serde_json::json!({"id": session_id, "status": status.as_str(), "agent_name": agent_name}),
        ),
        WidgetEvent::Wait { minutes } => json_event(
            "wait",
            &serde_json::json!({"estimated_wait_minutes": minutes}),
        ),
    }
}

async fn replay_after(
    store: &parley_store::Store,
    now: parley_core::Timestamp,
    visitor: &WebVisitor,
    after: Option<Uuid>,
) -> Result<Vec<Event>, ApiError> {
    let sessions = web_chat::sessions_at(store, visitor, now).await?;
    let entries = web_chat::entries_at(store, visitor, &sessions, after, now).await?;
    let mut names: BTreeMap<Uuid, Option<String>> = BTreeMap::new();
    let mut out = Vec::with_capacity(entries.len());
    for e in &entries {
        let name = match e
            .actor_id
            .filter(|_| e.actor == parley_core::model::Actor::Agent)
        {
            Some(id) => {
                if let Some(known) = names.get(&id) {
                    known.clone()
                } else {
                    let n = store.agent(id).await.ok().map(|a| a.name);
                    names.insert(id, n.clone());
                    n
                }
            }
            None => None,
        };
        out.push(entry_event(e, name));
    }
    Ok(out)
}

#[utoipa::path(get, path = "/widget/v1/events", tag = "widget",
    params(("last-event-id" = Option<String>, Header, description = "the last entry id seen: entries after it (and those changed since) are replayed first")),
    responses((status = 200, description = "text/event-stream: `entry` (id = entry id), `status`, `typing`, `session`, `wait`, keep-alive comments", content_type = "text/event-stream"),
        (status = 401, body = ErrorBody, description = "visitor_token_invalid")))]
pub async fn events(
    State(state): State<AppState>,
    Extension(caller): Extension<WidgetCaller>,
    headers: HeaderMap,
) -> Result<Response, WidgetError> {
    let visitor = caller.visitor()?.clone();
    let engine = &state.engine;
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<Uuid>().ok());
    let sessions = web_chat::sessions(engine, &visitor).await?;
    let ids: Vec<Uuid> = sessions.iter().map(|s| s.id).collect();
    // Subscribe before reading the replay, so nothing falls between the two.
    let rx = engine
        .web
        .subscribe_as(visitor.messaging_user_id, visitor.id, &ids);
    // The token's end ends the stream (the widget reconnects and learns it is gone).
    let left = visitor.expires_at.millis() - state.clock.now().millis();
    let expiry =
        tokio::time::Instant::now() + Duration::from_millis(u64::try_from(left).unwrap_or(0));
    let replay = match last {
        Some(after) => replay_after(&state.store, state.clock.now(), &visitor, Some(after)).await?,
        None => Vec::new(),
    };
    let s = Stream {
        rx,
        replay: replay.into(),
        stopping: state.stopping.clone(),
        expiry,
        last_entry: last,
        store: state.store.clone(),
        clock: state.clock.clone(),
        visitor,
    };
    let body = stream::unfold(s, |mut s| async move {
        loop {
            if let Some(ev) = s.replay.pop_front() {
                return Some((Ok::<_, Infallible>(ev), s));
            }
            let expiry = tokio::time::sleep_until(s.expiry);
            let e = match s.stopping.as_mut() {
                Some(stopping) => tokio::select! {
                    _ = stopping.wait_for(|stop| *stop) => return None,
                    _ = expiry => return None,
                    e = s.rx.rx.recv() => e?,
                },
                None => tokio::select! {
                    _ = expiry => return None,
                    e = s.rx.rx.recv() => e?,
                },
            };
            if s.rx.take_lagged() {
                // Fell behind: what was dropped is read again from the database.
                match replay_after(&s.store, s.clock.now(), &s.visitor, s.last_entry).await {
                    Ok(events) => s.replay.extend(events),
                    Err(_) => return None,
                }
            }
            if let WidgetEvent::Entry { entry, .. } = e.as_ref() {
                s.last_entry = Some(s.last_entry.map_or(entry.id, |l| l.max(entry.id)));
            }
            s.replay.push_back(widget_event(&e));
        }
    });
    let mut response = Sse::new(body)
        .keep_alive(
            KeepAlive::new()
                .interval(
                    (state.config.connections.idle_timeout / 2)
                        .clamp(Duration::from_millis(100), Duration::from_secs(15)),
                )
                .text("keep-alive"),
        )
        .into_response();
    response.headers_mut().insert(
        "x-accel-buffering",
        axum::http::HeaderValue::from_static("no"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_routes_name_their_deployment() {
        assert_eq!(
            deployment_name("/widget/v1/deployments/shop/config"),
            Some("shop")
        );
        assert_eq!(
            deployment_name("/widget/v1/deployments/shop/visitors"),
            Some("shop")
        );
        assert_eq!(deployment_name("/widget/v1/messages"), None);
        assert_eq!(deployment_name("/widget/v1/deployments//config"), None);
    }

    #[test]
    fn labels_exist_in_both_languages() {
        let en = labels(Locale::En);
        let fr = labels(Locale::Fr);
        assert_eq!(en.len(), fr.len());
        assert!(en.len() > 40, "the widget's labels: {}", en.len());
        assert_eq!(en["send"], "Send");
        assert_eq!(fr["send"], "Envoyer");
        assert!(!en.keys().any(|k| k.contains('.')));
    }

    #[test]
    fn the_snippets_language_wins_when_supported() {
        assert_eq!(labels_locale(Some("FR"), "en"), Locale::Fr);
        assert_eq!(labels_locale(Some("de"), "fr"), Locale::Fr);
        assert_eq!(labels_locale(None, "en"), Locale::En);
        assert_eq!(labels_locale(Some("xx"), "yy"), Locale::En);
    }
}
