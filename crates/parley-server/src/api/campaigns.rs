//! Campaigns and broadcasts (issue 11): drafts, their life (start, schedule, pause, resume,
//! cancel), the audience count and live preview while a marketer writes, the results as JSON, a
//! CSV export and a funnel chart, and the public short-link redirect `/l/{code}`.
//!
//! Only the roles that send one-to-many (admin, broadcaster) reach any of it; the rules are
//! `parley_core::campaign`'s and the work `parley_engine::service::campaigns`'s.

use std::collections::HashMap;

use axum::Extension;
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use parley_core::campaign::state::CampaignAction;
use parley_core::campaign::{Audience, CampaignSpec};
use parley_core::model::{ChannelKind, TemplateStatus};
use parley_engine::service::campaigns::{self, AudienceCount, CampaignResults, Preview};
use parley_store::{Channel, PageRequest, Store, StoreError, StoredCampaign};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{opt_time, time};
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiPath, ErrorBody};

/// What a campaign is made of (`parley_core::campaign::CampaignSpec`): documented here because
/// the core crate carries no OpenAPI derive. The API reads the body with the core type itself,
/// which refuses unknown fields (so does this, for the document's `additionalProperties`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CampaignSpec)]
#[allow(dead_code)]
pub struct CampaignSpecDoc {
    pub name: String,
    /// `marketing` or `broadcast`.
    #[schema(value_type = String, example = "marketing")]
    pub kind: String,
    /// The sender channels, all of one kind; the audience is spread over them.
    pub senders: Vec<Uuid>,
    pub audience: AudienceDoc,
    /// `{"text": "Hi {{ contact.first_name }}", "missing": {"policy": "fallback"},
    /// "fallbacks": {"contact.first_name": "there"}}`, or `{"template": {"name", "language",
    /// "parameters": [...]}}`.
    #[schema(value_type = Object)]
    pub content: (),
    /// `{"help": true, "whatsapp_channel_id": ..., "shorten_whatsapp": false, "custom": "..."}`.
    /// Omitted: no footer.
    #[schema(value_type = Object, required = false)]
    pub footer: (),
    /// `{"start_at": "2026-12-24T09:00:00Z", "window": {"opens": 540, "closes": 1200,
    /// "default_time_zone": "Europe/London"}}`; minutes after local midnight. Omitted: at
    /// once, at any hour.
    #[schema(value_type = Object, required = false)]
    pub schedule: (),
    /// A flow (a marketing journey) that takes a reply to this campaign from a customer with no
    /// open conversation: its name.
    pub reply_flow: Option<String>,
}

/// Who a campaign goes to (`parley_core::campaign::Audience`, same wire form), for the document.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[allow(dead_code)]
pub enum AudienceDoc {
    /// A saved segment: `{"kind": "segment", "segment_id": ...}`.
    Segment { segment_id: Uuid },
    /// A static list: `{"kind": "list", "list_id": ...}`.
    List { list_id: Uuid },
}

/// A sender channel of a campaign, by name.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SenderView {
    pub id: Uuid,
    pub name: String,
    pub kind: String,
    pub address: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignView {
    pub id: Uuid,
    pub name: String,
    pub kind: String,
    /// draft, scheduled, sending, paused, completed or cancelled.
    pub state: String,
    /// The campaign as it was written.
    #[schema(value_type = CampaignSpecDoc)]
    pub spec: serde_json::Value,
    /// The senders with their names (a deleted channel is left out).
    pub senders: Vec<SenderView>,
    /// `segment` or `list`.
    pub audience_kind: &'static str,
    /// The segment's or list's name, absent when it was deleted.
    pub audience_name: Option<String>,
    /// Audience members looked at so far by the expansion.
    pub expanded_members: u64,
    /// Messages written so far.
    pub queued: u64,
    /// The whole audience has been looked at.
    pub expanded: bool,
    pub created_by: Option<String>,
    pub scheduled_at: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Why it was paused when every sender was at a limit (see docs/sender-limits.md); absent
    /// otherwise, and in lists.
    pub paused_reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignList {
    pub items: Vec<CampaignView>,
}

/// A template a campaign may use on a sender.
#[derive(Debug, Serialize, ToSchema)]
pub struct SenderTemplate {
    pub name: String,
    pub language: String,
    pub body: String,
    /// How many values a send gives (`{{1}}`..`{{n}}`).
    pub parameters: usize,
}

/// A channel a campaign may send from, with its approved templates.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignSender {
    #[serde(flatten)]
    pub channel: SenderView,
    pub country: Option<String>,
    pub templates: Vec<SenderTemplate>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SenderList {
    pub items: Vec<CampaignSender>,
}

/// Names the views show instead of ids, read once per answer.
struct Names {
    channels: HashMap<Uuid, Channel>,
    segments: HashMap<Uuid, String>,
    lists: HashMap<Uuid, String>,
}

impl Names {
    async fn load(store: &Store) -> Result<Self, ApiError> {
        Ok(Self {
            channels: all_channels(store)
                .await?
                .into_iter()
                .map(|c| (c.id, c))
                .collect(),
            segments: store
                .segments()
                .await?
                .into_iter()
                .map(|s| (s.id, s.name))
                .collect(),
            lists: store
                .audience_lists()
                .await?
                .into_iter()
                .map(|l| (l.id, l.name))
                .collect(),
        })
    }

    fn view(&self, c: StoredCampaign) -> CampaignView {
        let senders = c
            .spec
            .senders
            .iter()
            .filter_map(|id| self.channels.get(id))
            .map(sender_view)
            .collect();
        let audience_name = match &c.spec.audience {
            Audience::Segment { segment_id } => self.segments.get(segment_id).cloned(),
            Audience::List { list_id } => self.lists.get(list_id).cloned(),
        };
        CampaignView {
            id: c.id,
            name: c.spec.name.clone(),
            kind: c.spec.kind.as_str().to_owned(),
            state: c.state.as_str().to_owned(),
            spec: serde_json::to_value(&c.spec).unwrap_or_default(),
            senders,
            audience_kind: campaigns::audience_label(&c.spec.audience),
            audience_name,
            expanded_members: c.expansion.audience,
            queued: c.expansion.queued,
            expanded: c.expanded,
            created_by: c.created_by,
            scheduled_at: opt_time(c.scheduled_at),
            started_at: opt_time(c.started_at),
            finished_at: opt_time(c.finished_at),
            created_at: time(c.created_at),
            updated_at: time(c.updated_at),
            paused_reason: None,
        }
    }
}

fn sender_view(c: &Channel) -> SenderView {
    SenderView {
        id: c.id,
        name: c.name.clone(),
        kind: c.kind.as_str().to_owned(),
        address: c.address.clone(),
    }
}

pub(crate) async fn all_channels(store: &Store) -> Result<Vec<Channel>, StoreError> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = store.list_channels(PageRequest::new(after, 500)).await?;
        out.extend(page.items);
        match page.next {
            Some(n) => after = Some(n),
            None => return Ok(out),
        }
    }
}

async fn view_of(store: &Store, c: StoredCampaign) -> Result<CampaignView, ApiError> {
    let paused = c.state == parley_core::campaign::CampaignState::Paused;
    let mut view = Names::load(store).await?.view(c);
    if paused {
        view.paused_reason = store.campaign_pause_reason(view.id).await?;
    }
    Ok(view)
}

/// Who is creating a campaign, for the record: the signed-in agent's email, else the token.
async fn creator(state: &AppState, caller: &Caller) -> Result<String, ApiError> {
    if let Some(agent_id) = caller.agent_id {
        match state.store.agent(agent_id).await {
            Ok(a) => return Ok(a.email),
            Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(format!("token {}", caller.token_id))
}

#[utoipa::path(get, path = "/api/v1/campaigns",
    extensions(("x-permission" = json!("manage_campaigns"))), tag = "campaigns",
    responses((status = 200, body = CampaignList), (status = 403, body = ErrorBody)))]
pub async fn list_campaigns(State(state): State<AppState>) -> Result<Json<CampaignList>, ApiError> {
    let found = state.store.campaigns().await?;
    let names = Names::load(&state.store).await?;
    Ok(Json(CampaignList {
        items: found.into_iter().map(|c| names.view(c)).collect(),
    }))
}

#[utoipa::path(post, path = "/api/v1/campaigns",
    extensions(("x-permission" = json!("manage_campaigns"))), tag = "campaigns", request_body = CampaignSpecDoc,
    responses((status = 201, body = CampaignView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_campaign(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(spec): ApiJson<CampaignSpec>,
) -> Result<(StatusCode, Json<CampaignView>), ApiError> {
    let who = creator(&state, &caller).await?;
    let c = campaigns::create_campaign(&state.store, &spec, Some(&who), state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(view_of(&state.store, c).await?)))
}

#[utoipa::path(get, path = "/api/v1/campaigns/{id}",
    extensions(("x-permission" = json!("manage_campaigns"))), tag = "campaigns", params(("id" = Uuid, Path)),
    responses((status = 200, body = CampaignView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_campaign(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<CampaignView>, ApiError> {
    let c = state.store.campaign(id).await?;
    Ok(Json(view_of(&state.store, c).await?))
}

/// A draft only; any other state is refused with 422.
#[utoipa::path(put, path = "/api/v1/campaigns/{id}",
    extensions(("x-permission" = json!("manage_campaigns"))), tag = "campaigns", params(("id" = Uuid, Path)),
    request_body = CampaignSpecDoc,
    responses((status = 200, body = CampaignView), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_campaign(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(spec): ApiJson<CampaignSpec>,
) -> Result<Json<CampaignView>, ApiError> {
    let c = campaigns::update_campaign(&state.store, id, &spec, state.clock.now()).await?;
    Ok(Json(view_of(&state.store, c).await?))
}

/// A draft only; any other state is refused with 422 (cancel it instead).
#[utoipa::path(delete, path = "/api/v1/campaigns/{id}",
    extensions(("x-permission" = json!("manage_campaigns"))), tag = "campaigns", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn delete_campaign(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    campaigns::delete_campaign(&state.store, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// Documented as the enum it is: a client (or fuzzer) told "any string" would only find 404s.
/// What a person can do to a campaign (`complete` is the worker's, never a person's).
#[derive(Debug, ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum CampaignActionDoc {
    Start,
    Schedule,
    Unschedule,
    Pause,
    Resume,
    Cancel,
}

/// Moves a campaign on: `start` (now), `schedule` (at the schedule's `start_at`), `unschedule`
/// (back to draft), `pause`, `resume` or `cancel`. An action its state does not allow is 422.
#[utoipa::path(post, path = "/api/v1/campaigns/{id}/{action}",
    extensions(("x-permission" = json!("send_one_to_many"))), tag = "campaigns",
    params(("id" = Uuid, Path),
        ("action" = inline(CampaignActionDoc), Path,
            description = "start, schedule, unschedule, pause, resume or cancel")),
    responses((status = 200, body = CampaignView), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn act_on_campaign(
    State(state): State<AppState>,
    ApiPath((id, action)): ApiPath<(Uuid, String)>,
) -> Result<Json<CampaignView>, ApiError> {
    // `complete` is the worker's, never a person's.
    let action = match action.parse::<CampaignAction>() {
        Ok(CampaignAction::Complete) | Err(_) => return Err(ApiError::not_found("route")),
        Ok(a) => a,
    };
    let c = campaigns::act(&state.engine.campaigns(), id, action).await?;
    Ok(Json(view_of(&state.store, c).await?))
}

/// How many the audience holds on the senders and how many would receive the campaign now, with
/// the others by reason. The spec need not be saved.
#[utoipa::path(post, path = "/api/v1/campaigns/audience-count",
    extensions(("x-permission" = json!("manage_campaigns"))), tag = "campaigns",
    request_body = CampaignSpecDoc,
    responses((status = 200, body = AudienceCount), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn audience_count(
    State(state): State<AppState>,
    ApiJson(spec): ApiJson<CampaignSpec>,
) -> Result<Json<AudienceCount>, ApiError> {
    Ok(Json(
        campaigns::count_audience(&state.store, &spec, state.clock.now()).await?,
    ))
}

/// The message as the audience's first member would read it, with its encoding and segments.
#[utoipa::path(post, path = "/api/v1/campaigns/preview",
    extensions(("x-permission" = json!("manage_campaigns"))), tag = "campaigns",
    request_body = CampaignSpecDoc,
    responses((status = 200, body = Preview), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn preview(
    State(state): State<AppState>,
    ApiJson(spec): ApiJson<CampaignSpec>,
) -> Result<Json<Preview>, ApiError> {
    Ok(Json(
        campaigns::preview(&state.engine.campaigns(), &spec).await?,
    ))
}

/// The channels a campaign may send from, with each one's approved templates: what the console's
/// pickers offer (a broadcaster may not read the templates API).
#[utoipa::path(get, path = "/api/v1/campaigns/senders",
    extensions(("x-permission" = json!("manage_campaigns"))), tag = "campaigns",
    responses((status = 200, body = SenderList), (status = 403, body = ErrorBody)))]
pub async fn list_senders(State(state): State<AppState>) -> Result<Json<SenderList>, ApiError> {
    let channels = all_channels(&state.store).await?;
    let mut templates: HashMap<Uuid, Vec<SenderTemplate>> = HashMap::new();
    for t in state.store.list_templates(None).await? {
        if t.status == TemplateStatus::Approved {
            templates
                .entry(t.channel_id)
                .or_default()
                .push(SenderTemplate {
                    parameters: parley_core::template::placeholder_count(&t.body).unwrap_or(0),
                    name: t.name,
                    language: t.language,
                    body: t.body,
                });
        }
    }
    let items = channels
        .iter()
        .filter(|c| matches!(c.kind, ChannelKind::Sms | ChannelKind::Whatsapp))
        .map(|c| CampaignSender {
            channel: sender_view(c),
            country: c.country.clone(),
            templates: templates.remove(&c.id).unwrap_or_default(),
        })
        .collect();
    Ok(Json(SenderList { items }))
}

#[utoipa::path(get, path = "/api/v1/campaigns/{id}/results",
    extensions(("x-permission" = json!("manage_campaigns"))), tag = "campaigns", params(("id" = Uuid, Path)),
    responses((status = 200, body = CampaignResults), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn results(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<CampaignResults>, ApiError> {
    Ok(Json(campaigns::results(&state.store, id).await?))
}

/// One line per message: address, sender, status, error code, clicks, reply, HELP and opt-out
/// times. Streamed as it is read, so a campaign of a million recipients is not held in memory
/// as one answer.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}/results.csv",
    extensions(("x-permission" = json!("manage_campaigns"))), tag = "campaigns", params(("id" = Uuid, Path)),
    responses((status = 200, body = String, content_type = "text/csv"), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn results_csv(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    // Made before the first byte, so an unknown campaign is a JSON 404 and not an empty file.
    let export = campaigns::CsvExport::new(&state.store, id).await?;
    // Pulled a page at a time as the client reads: a slow download holds one page, not the file.
    let stream = futures_util::stream::unfold(Some(export), move |export| async move {
        let mut export = export?;
        match export.next_chunk().await {
            Ok(Some(chunk)) => Some((Ok::<String, std::io::Error>(chunk), Some(export))),
            Ok(None) => None,
            // The status line is gone already: breaking the transfer is the only way left to
            // tell the client that the file is incomplete.
            Err(e) => {
                tracing::error!(error = %e, campaign = %id, "campaign export failed");
                Some((Err(std::io::Error::other("the export failed")), None))
            }
        }
    });
    let mut response = Body::from_stream(stream).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"campaign-{id}.csv\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The funnel as an SVG image: one bar per step with its count and rate, readable without colour.
#[utoipa::path(get, path = "/api/v1/campaigns/{id}/funnel.svg",
    extensions(("x-permission" = json!("manage_campaigns"))), tag = "campaigns", params(("id" = Uuid, Path)),
    responses((status = 200, body = String, content_type = "image/svg+xml"), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn funnel_svg(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Response, ApiError> {
    let r = campaigns::results(&state.store, id).await?;
    let svg = crate::console::funnel::render(&r);
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            // Opened on its own, the image may draw itself and nothing else.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'",
            ),
        ],
        svg,
    )
        .into_response())
}

/// `GET` and `HEAD /l/{code}`: a campaign's short link. Public and on the hot path of every
/// click: no session, no template, one lookup (and one write when a person clicked); a link
/// preview bot or a HEAD is redirected without being counted.
pub async fn follow_short_link(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    axum::extract::Path(code): axum::extract::Path<String>,
) -> Response {
    let ua = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let head = method == Method::HEAD;
    let found = campaigns::follow_link(&state.store, &code, ua, head, state.clock.now()).await;
    match found {
        Ok(Some(url)) => match HeaderValue::from_str(&url) {
            Ok(location) => (
                StatusCode::FOUND,
                [
                    (header::LOCATION, location),
                    // Each click must reach us to be counted.
                    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                    (
                        header::REFERRER_POLICY,
                        HeaderValue::from_static("no-referrer"),
                    ),
                ],
            )
                .into_response(),
            Err(_) => {
                tracing::warn!(code, "a short link's target is not a valid header value");
                link_not_found()
            }
        },
        Ok(None) => link_not_found(),
        Err(e) => {
            tracing::error!(error = %e, "short link lookup failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [
                    (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                    (header::RETRY_AFTER, "5"),
                ],
                "This link cannot be opened right now. Try again in a moment.",
            )
                .into_response()
        }
    }
}

/// A fixed page: nothing of the request is echoed.
const LINK_NOT_FOUND: &str = "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Link not found</title>\
<body style=\"font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem\">\
<h1>This link does not exist</h1><p>It may have been mistyped, or it belongs to a campaign that \
has been removed.</p></body></html>";

fn link_not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        LINK_NOT_FOUND,
    )
        .into_response()
}
