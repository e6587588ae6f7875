//! The Twilio-compatible Messages API (issue 13): programs written for Twilio's REST API (its
//! official SDKs included) send through Parley by pointing their base URL at this server.
//!
//! Form-encoded requests, HTTP Basic authentication with an account SID and auth token Parley
//! issues, Twilio's response shape, status values and error codes. Every send goes through the
//! same seam as notifications (`engine.outreach()`): consent, windows, the in-country rule and
//! the sender's rate apply as to every other message, and the message shows in the conversation.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header::AUTHORIZATION};
use axum::response::{IntoResponse, Response};
use parley_channels::twilio::{FormParams, api_error_code};
use parley_core::model::{Actor, ChannelKind, EntryStatus};
use parley_core::{ErrorCode, Timestamp};
use parley_engine::compose::{Author, MediaRef, OutgoingMessage};
use parley_engine::outreach::{OutreachError, OutreachRequest, Recipient};
use parley_engine::service::twilio::{self, PoolError};
use parley_store::{
    IdempotencyKey, SendOrigin, TwilioAccount, TwilioMessage, TwilioMessageFilter, TwilioPageCursor,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::AppState;

pub const API_VERSION: &str = "2010-04-01";
/// Twilio caps a message at 1600 characters; the form carries that and up to 10 media URLs.
pub const BODY_LIMIT: usize = 64 * 1024;
const DEFAULT_PAGE_SIZE: i64 = 50;
const MAX_PAGE_SIZE: i64 = 1000;

/// Twilio's error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct TwilioError {
    pub code: u32,
    pub message: String,
    pub more_info: String,
    pub status: u16,
}

/// A refused request, answered as Twilio answers it.
#[derive(Debug)]
pub struct TwilioFailure {
    status: StatusCode,
    code: u32,
    message: String,
}

impl TwilioFailure {
    fn new(status: StatusCode, code: u32, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
    fn bad(code: u32, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, 20003, "Authenticate")
    }
    fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            20404,
            format!("The requested resource {what} was not found"),
        )
    }
    fn internal(why: impl std::fmt::Display) -> Self {
        tracing::error!(%why, "twilio api");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            20500,
            "Internal Server Error",
        )
    }
}

impl IntoResponse for TwilioFailure {
    fn into_response(self) -> Response {
        let body = TwilioError {
            code: self.code,
            message: self.message,
            more_info: format!("https://www.twilio.com/docs/errors/{}", self.code),
            status: self.status.as_u16(),
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<parley_store::StoreError> for TwilioFailure {
    fn from(e: parley_store::StoreError) -> Self {
        Self::internal(e)
    }
}

/// The form of a send (Twilio's parameter names).
#[allow(non_snake_case, dead_code)]
#[derive(Debug, Deserialize, ToSchema)]
pub struct SendForm {
    pub To: String,
    pub From: Option<String>,
    pub MessagingServiceSid: Option<String>,
    pub Body: Option<String>,
    /// Repeated for several files.
    pub MediaUrl: Option<Vec<String>>,
    pub StatusCallback: Option<String>,
}

/// Twilio's Message resource.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageResource {
    pub sid: String,
    pub account_sid: String,
    pub messaging_service_sid: Option<String>,
    pub to: String,
    pub from: String,
    pub body: String,
    pub status: String,
    pub num_segments: String,
    pub num_media: String,
    pub direction: String,
    pub api_version: String,
    pub price: Option<String>,
    pub price_unit: String,
    pub error_code: Option<u32>,
    pub error_message: Option<String>,
    pub uri: String,
    pub date_created: String,
    pub date_updated: String,
    pub date_sent: Option<String>,
    #[schema(value_type = Object)]
    pub subresource_uris: serde_json::Value,
}

/// Twilio's page envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessagePage {
    pub messages: Vec<MessageResource>,
    pub page: i64,
    pub page_size: i64,
    pub uri: String,
    pub first_page_uri: String,
    pub next_page_uri: Option<String>,
    pub previous_page_uri: Option<String>,
    pub start: i64,
    pub end: i64,
}

#[allow(non_snake_case)]
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only messages to this address (E.164, or `whatsapp:` + E.164).
    pub To: Option<String>,
    /// Only messages from this address.
    pub From: Option<String>,
    /// Only messages sent that day (`YYYY-MM-DD`, UTC), or at that instant (`YYYY-MM-DDTHH:MM:SSZ`).
    pub DateSent: Option<String>,
    /// Sent on or before that day (or instant).
    #[serde(rename = "DateSent<")]
    #[param(rename = "DateSent<")]
    pub DateSentBefore: Option<String>,
    /// Sent on or after that day (or instant).
    #[serde(rename = "DateSent>")]
    #[param(rename = "DateSent>")]
    pub DateSentAfter: Option<String>,
    pub PageSize: Option<i64>,
    pub Page: Option<i64>,
    /// Opaque: where the previous page ended (`PA...`) or the next one began (`PB...`).
    pub PageToken: Option<String>,
}

/// A date filter's value: a UTC day (its first millisecond and the next day's) or an instant.
enum DateValue {
    Day(i64, i64),
    Instant(i64),
}

fn parse_date(field: &str, value: &str) -> Result<DateValue, TwilioFailure> {
    let value = value.trim();
    if let Ok(day) = value.parse::<jiff::civil::Date>()
        && value.len() == 10
    {
        let start = |d: jiff::civil::Date| {
            d.to_zoned(jiff::tz::TimeZone::UTC)
                .map(|z| z.timestamp().as_millisecond())
        };
        let next = day.tomorrow().ok().map(start);
        if let (Ok(a), Some(Ok(b))) = (start(day), next) {
            return Ok(DateValue::Day(a, b));
        }
    }
    if let Ok(at) = value.parse::<jiff::Timestamp>() {
        return Ok(DateValue::Instant(at.as_millisecond()));
    }
    Err(TwilioFailure::bad(
        20001,
        format!("{field} must be a date YYYY-MM-DD or a time YYYY-MM-DDTHH:MM:SSZ"),
    ))
}

/// The list's filters; `DateSent` is the day the API accepted the message (Parley hands it to
/// the sender's queue at once).
fn list_filter(query: &ListQuery) -> Result<TwilioMessageFilter, TwilioFailure> {
    let mut filter = TwilioMessageFilter {
        to: query.To.clone().filter(|s| !s.is_empty()),
        from: query.From.clone().filter(|s| !s.is_empty()),
        ..TwilioMessageFilter::default()
    };
    let mut narrow = |since: Option<i64>, until: Option<i64>| {
        if let Some(s) = since {
            filter.since = Some(filter.since.map_or(s, |v| v.max(s)));
        }
        if let Some(u) = until {
            filter.until = Some(filter.until.map_or(u, |v| v.min(u)));
        }
    };
    if let Some(v) = &query.DateSent {
        match parse_date("DateSent", v)? {
            DateValue::Day(a, b) => narrow(Some(a), Some(b)),
            DateValue::Instant(t) => narrow(Some(t), Some(t + 1)),
        }
    }
    if let Some(v) = &query.DateSentBefore {
        match parse_date("DateSent<", v)? {
            DateValue::Day(_, b) => narrow(None, Some(b)),
            DateValue::Instant(t) => narrow(None, Some(t + 1)),
        }
    }
    if let Some(v) = &query.DateSentAfter {
        match parse_date("DateSent>", v)? {
            DateValue::Day(a, _) | DateValue::Instant(a) => narrow(Some(a), None),
        }
    }
    Ok(filter)
}

/// The filters as query parameters, for the page URIs.
fn filter_params(query: &ListQuery) -> String {
    let pairs = [
        ("To", &query.To),
        ("From", &query.From),
        ("DateSent", &query.DateSent),
        ("DateSent<", &query.DateSentBefore),
        ("DateSent>", &query.DateSentAfter),
    ];
    let mut out = String::new();
    for (name, value) in pairs {
        if let Some(v) = value {
            out.push('&');
            out.push_str(&form_encode(name));
            out.push('=');
            out.push_str(&form_encode(v));
        }
    }
    out
}

fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Twilio's status words for an entry's status.
pub fn twilio_status(status: EntryStatus) -> &'static str {
    parley_channels::twilio::api_status(status)
}

/// "SM" and the entry's UUID as 32 hex digits: no mapping table is needed to find it again.
pub fn message_sid(entry_id: Uuid) -> String {
    parley_engine::twilio_callbacks::message_sid(entry_id)
}

fn entry_of_sid(sid: &str) -> Option<Uuid> {
    let hex = sid.strip_prefix("SM")?;
    if hex.len() != 32 {
        return None;
    }
    Uuid::try_parse(hex).ok()
}

/// RFC 2822 in UTC, as Twilio writes its dates ("Fri, 04 Dec 2026 12:00:00 +0000").
pub fn rfc2822(at: Timestamp) -> String {
    let secs = at.millis().div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} +0000",
        DAYS.get(days.rem_euclid(7) as usize).unwrap_or(&"Thu"),
        day,
        MONTHS.get((month - 1) as usize).unwrap_or(&"Jan"),
        year,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The account of the request's HTTP Basic credentials; it must be the path's account.
async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    path_sid: &str,
) -> Result<TwilioAccount, TwilioFailure> {
    use base64::Engine as _;
    let header = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .ok_or_else(TwilioFailure::unauthorized)?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(header.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(TwilioFailure::unauthorized)?;
    let (sid, token) = decoded
        .split_once(':')
        .ok_or_else(TwilioFailure::unauthorized)?;
    let account = state
        .store
        .twilio_account(sid)
        .await?
        .filter(|a| a.revoked_at.is_none())
        .ok_or_else(TwilioFailure::unauthorized)?;
    // Compare digests so the time taken says nothing about how much of the token matched.
    let given = Sha256::digest(token.as_bytes());
    let known = Sha256::digest(account.auth_token.as_bytes());
    let same = given
        .iter()
        .zip(known.iter())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0;
    if !same {
        return Err(TwilioFailure::unauthorized());
    }
    if account.sid != path_sid {
        return Err(TwilioFailure::new(
            StatusCode::FORBIDDEN,
            20003,
            "The credentials do not belong to this account",
        ));
    }
    Ok(account)
}

/// The content type of a media URL, from its extension (no request is made to the URL; Twilio
/// reads it from the response, Parley's adapters do when they fetch it).
fn content_type_of(url: &str) -> &'static str {
    let path = url
        .split(['?', '#'])
        .next()
        .unwrap_or(url)
        .to_ascii_lowercase();
    let ext = path.rsplit('.').next().unwrap_or("");
    match ext {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "mp4" => "video/mp4",
        "3gp" => "video/3gpp",
        "mp3" => "audio/mpeg",
        "ogg" => "audio/ogg",
        "amr" => "audio/amr",
        "pdf" => "application/pdf",
        "vcf" => "text/vcard",
        "txt" => "text/plain",
        _ => "application/octet-stream",
    }
}

fn outreach_failure(e: OutreachError) -> TwilioFailure {
    match e {
        OutreachError::Excluded {
            exclusion,
            code,
            reason,
        } => TwilioFailure::bad(api_error_code(code, Some(exclusion)), reason),
        OutreachError::Refused { code, reason } => {
            TwilioFailure::bad(api_error_code(code, None), reason)
        }
        OutreachError::Invalid(why) => TwilioFailure::bad(21602, why),
        OutreachError::KeyReused => TwilioFailure::new(
            StatusCode::CONFLICT,
            20409,
            "The idempotency token was used for a different request",
        ),
        OutreachError::Store(parley_store::StoreError::NotFound { entity: what }) => {
            TwilioFailure::bad(21211, format!("not found: {what}"))
        }
        OutreachError::Store(e) => TwilioFailure::internal(e),
    }
}

/// Sends a message.
#[utoipa::path(
    post, path = "/2010-04-01/Accounts/{AccountSid}/Messages.json", tag = "twilio",
    params(("AccountSid" = String, Path, description = "The account SID Parley issued")),
    request_body(content = SendForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 201, body = MessageResource),
        (status = 400, body = TwilioError),
        (status = 401, body = TwilioError),
    ),
    security(("basic" = []))
)]
pub async fn create_message(
    State(state): State<AppState>,
    Path(account_sid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, TwilioFailure> {
    let account = authenticate(&state, &headers, &account_sid).await?;
    let form = FormParams::parse(&body).map_err(|e| TwilioFailure::bad(21602, e.to_string()))?;
    let to = form
        .get("To")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| TwilioFailure::bad(21604, "A 'To' phone number is required."))?;
    let body_text = form.get("Body").unwrap_or("").to_owned();
    let media_urls: Vec<String> = form
        .pairs()
        .iter()
        .filter(|(k, _)| k == "MediaUrl")
        .map(|(_, v)| v.clone())
        .collect();
    if body_text.trim().is_empty() && media_urls.is_empty() {
        return Err(TwilioFailure::bad(21602, "Message body is required."));
    }
    if body_text.chars().count() > 1600 {
        return Err(TwilioFailure::bad(
            21617,
            "The concatenated message body exceeds the 1600 character limit.",
        ));
    }
    let (kind, address) = match to.strip_prefix("whatsapp:") {
        Some(rest) => (ChannelKind::Whatsapp, rest.to_owned()),
        None => (ChannelKind::Sms, to.to_owned()),
    };
    let service_sid = form
        .get("MessagingServiceSid")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let pool_failure = |e: PoolError| match e {
        PoolError::NotFound(sid) => {
            TwilioFailure::bad(21701, format!("The Messaging Service {sid} does not exist"))
        }
        PoolError::NoSender(sid, kind) => TwilioFailure::bad(
            21703,
            format!(
                "The Messaging Service {sid} does not have a {kind} sender available to send to {to}"
            ),
        ),
        PoolError::Store(e) => TwilioFailure::internal(e),
    };
    let channel_id = match (
        form.get("From").filter(|f| !f.trim().is_empty()),
        &service_sid,
    ) {
        (Some(from), service) => {
            // With both, Twilio sends from `From` and files the message under the service.
            if let Some(sid) = service
                && state
                    .store
                    .twilio_messaging_service(sid)
                    .await?
                    .is_none_or(|s| s.account_sid != account.sid)
            {
                return Err(pool_failure(PoolError::NotFound(sid.clone())));
            }
            let from_address = from.strip_prefix("whatsapp:").unwrap_or(from);
            state
                .store
                .channel_id_by_address(kind.as_str(), from_address)
                .await?
                .ok_or_else(|| {
                    TwilioFailure::bad(
                        21606,
                        format!("The From phone number {from} is not a valid, message-capable phone number for this account."),
                    )
                })?
        }
        (None, Some(sid)) => twilio::pool_sender(&state.store, &account.sid, sid, kind, to)
            .await
            .map_err(pool_failure)?,
        (None, None) => {
            return Err(TwilioFailure::bad(
                21603,
                "A 'From' or 'MessagingServiceSid' parameter is required to send a message",
            ));
        }
    };
    let status_callback = form
        .get("StatusCallback")
        .map(str::to_owned)
        .filter(|s| !s.is_empty());
    if let Some(url) = &status_callback
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        return Err(TwilioFailure::bad(
            21609,
            "StatusCallback must be an http(s) URL",
        ));
    }
    let idempotency = headers
        .get("I-Twilio-Idempotency-Token")
        .and_then(|v| v.to_str().ok())
        .map(|key| IdempotencyKey {
            scope: format!("twilio:{}", account.sid),
            key: key.to_owned(),
            fingerprint: hex::encode(Sha256::digest(&body)),
        });
    let request = OutreachRequest {
        channel_id,
        recipient: Recipient::Address(address),
        message: OutgoingMessage {
            body: body_text,
            media: media_urls
                .iter()
                .map(|url| MediaRef {
                    url: url.clone(),
                    content_type: content_type_of(url).to_owned(),
                    size: None,
                    id: None,
                })
                .collect(),
            template: None,
            component: None,
        },
        author: Author {
            actor: Actor::System,
            actor_id: None,
        },
        idempotency,
        contact_id: None,
    };
    let now = state.clock.now();
    let origin = SendOrigin::TwilioApi {
        account_sid: account.sid.clone(),
        messaging_service_sid: service_sid.clone(),
        status_callback: status_callback.clone(),
    };
    let reached = state
        .engine
        .outreach()
        .send_recorded(&request, Some(&origin), now)
        .await
        .map_err(outreach_failure)?;
    let row = match state.store.twilio_message(reached.entry.id).await? {
        Some(row) => row,
        // A replay of a send made before the row was written with it: write it now.
        None => {
            // The session's channel, not the one chosen now: the first send may have gone out
            // from another channel of the pool.
            let channel = state.store.channel(reached.session.channel_id).await?;
            let prefix = if channel.kind == ChannelKind::Whatsapp {
                "whatsapp:"
            } else {
                ""
            };
            let row = TwilioMessage {
                entry_id: reached.entry.id,
                account_sid: account.sid.clone(),
                messaging_service_sid: service_sid,
                status_callback,
                created_at: now,
                to_address: format!("{prefix}{}", reached.user.platform_key),
                from_address: format!("{prefix}{}", channel.address),
            };
            twilio::record_twilio_message(&state.store, &row)
                .await
                .map_err(TwilioFailure::internal)?;
            row
        }
    };
    // The entry as the send left it: a fast provider may have delivered it already, and Twilio
    // answers a create with the message as it was accepted.
    let resource = resource_of(&state, &row, reached.entry).await?;
    Ok((StatusCode::CREATED, Json(resource)).into_response())
}

async fn resource(state: &AppState, row: &TwilioMessage) -> Result<MessageResource, TwilioFailure> {
    let entry = state.store.entry(row.entry_id).await?;
    resource_of(state, row, entry).await
}

async fn resource_of(
    state: &AppState,
    row: &TwilioMessage,
    entry: parley_store::Entry,
) -> Result<MessageResource, TwilioFailure> {
    let session = state.store.session(entry.session_id).await?;
    let channel = state.store.channel(session.channel_id).await?;
    let user = state
        .store
        .messaging_user(session.messaging_user_id)
        .await?;
    let prefix = if channel.kind == ChannelKind::Whatsapp {
        "whatsapp:"
    } else {
        ""
    };
    let sid = message_sid(entry.id);
    let uri = format!(
        "/{API_VERSION}/Accounts/{}/Messages/{sid}.json",
        row.account_sid
    );
    let error_code = entry
        .error_code
        .as_deref()
        .and_then(ErrorCode::from_code)
        .filter(|_| matches!(entry.status, EntryStatus::Failed | EntryStatus::Undelivered));
    let sent = matches!(
        entry.status,
        EntryStatus::Sent | EntryStatus::Delivered | EntryStatus::Read | EntryStatus::Undelivered
    );
    Ok(MessageResource {
        account_sid: row.account_sid.clone(),
        messaging_service_sid: row.messaging_service_sid.clone(),
        to: format!("{prefix}{}", user.platform_key),
        from: format!("{prefix}{}", channel.address),
        num_segments: parley_core::sms::analyze(&entry.body).segments.to_string(),
        num_media: entry.media.len().to_string(),
        body: entry.body,
        status: twilio_status(entry.status).to_owned(),
        direction: "outbound-api".to_owned(),
        api_version: API_VERSION.to_owned(),
        price: None,
        price_unit: "USD".to_owned(),
        error_code: error_code.map(|c| api_error_code(c, None)),
        error_message: error_code.map(|c| c.message().to_owned()),
        subresource_uris: serde_json::json!({
            "media": uri.replace(".json", "/Media.json"),
            "feedback": uri.replace(".json", "/Feedback.json"),
        }),
        uri,
        date_created: rfc2822(entry.created_at),
        date_updated: rfc2822(entry.updated_at),
        date_sent: sent.then(|| rfc2822(entry.updated_at)),
        sid,
    })
}

/// Fetches one message.
#[utoipa::path(
    get, path = "/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}", tag = "twilio",
    params(
        ("AccountSid" = String, Path, description = "The account SID Parley issued"),
        ("Sid" = String, Path, description = "The message SID (SM...) followed by .json (axum allows one parameter per path segment, so the suffix is part of it)"),
    ),
    responses((status = 200, body = MessageResource), (status = 404, body = TwilioError)),
    security(("basic" = []))
)]
pub async fn get_message(
    State(state): State<AppState>,
    Path((account_sid, sid)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<MessageResource>, TwilioFailure> {
    let account = authenticate(&state, &headers, &account_sid).await?;
    let sid = sid.strip_suffix(".json").unwrap_or(&sid);
    let not_found = || {
        TwilioFailure::not_found(&format!(
            "/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}.json"
        ))
    };
    let entry_id = entry_of_sid(sid).ok_or_else(not_found)?;
    let row = state
        .store
        .twilio_message(entry_id)
        .await?
        .filter(|r| r.account_sid == account.sid)
        .ok_or_else(not_found)?;
    Ok(Json(resource(&state, &row).await?))
}

/// `PA` (older than this row: the next page) or `PB` (newer: the previous page), then the keyset.
fn page_token(kind: &str, row: &TwilioMessage) -> String {
    format!(
        "{kind}{}_{}",
        row.created_at.millis(),
        row.entry_id.simple()
    )
}

fn parse_page_token(token: &str) -> Option<TwilioPageCursor> {
    let (older, rest) = match token.get(..2)? {
        "PA" => (true, token.get(2..)?),
        "PB" => (false, token.get(2..)?),
        _ => return None,
    };
    let (at, id) = rest.split_once('_')?;
    let (at, id) = (at.parse().ok()?, Uuid::try_parse(id).ok()?);
    Some(if older {
        TwilioPageCursor::Older(at, id)
    } else {
        TwilioPageCursor::Newer(at, id)
    })
}

/// Lists the account's messages, newest first, filtered by `To`, `From` and the `DateSent`s.
#[utoipa::path(
    get, path = "/2010-04-01/Accounts/{AccountSid}/Messages.json", tag = "twilio",
    params(("AccountSid" = String, Path, description = "The account SID Parley issued"), ListQuery),
    responses((status = 200, body = MessagePage), (status = 400, body = TwilioError), (status = 401, body = TwilioError)),
    security(("basic" = []))
)]
pub async fn list_messages(
    State(state): State<AppState>,
    Path(account_sid): Path<String>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<MessagePage>, TwilioFailure> {
    let account = authenticate(&state, &headers, &account_sid).await?;
    let Query(query) = query.map_err(|e| TwilioFailure::bad(20001, e.body_text()))?;
    let page_size = query.PageSize.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&page_size) {
        return Err(TwilioFailure::bad(20001, "PageSize must be 1 to 1000"));
    }
    let filter = list_filter(&query)?;
    let cursor = match query.PageToken.as_deref().filter(|t| !t.is_empty()) {
        Some(t) => {
            parse_page_token(t).ok_or_else(|| TwilioFailure::bad(20001, "Invalid PageToken"))?
        }
        None => TwilioPageCursor::First,
    };
    // Without a token the page is the first, whatever `Page` says: keyset pages are reached only
    // by following the URIs.
    let page = match cursor {
        TwilioPageCursor::First => 0,
        _ => query.Page.unwrap_or(1).max(1),
    };
    let mut rows = state
        .store
        .twilio_messages_page(&account.sid, &filter, cursor, page_size + 1)
        .await?;
    let more = rows.len() as i64 > page_size;
    if more {
        match cursor {
            // A backward read comes back newest first: its extra row, the farthest from the
            // cursor, is the first.
            TwilioPageCursor::Newer(..) => {
                rows.remove(0);
            }
            _ => rows.truncate(page_size as usize),
        }
    }
    let (older_exists, newer_exists) = match cursor {
        TwilioPageCursor::First => (more, false),
        TwilioPageCursor::Older(..) => (more, true),
        TwilioPageCursor::Newer(..) => (true, more),
    };
    let mut messages = Vec::with_capacity(rows.len());
    for row in &rows {
        messages.push(resource(&state, row).await?);
    }
    let base = format!("/{API_VERSION}/Accounts/{}/Messages.json", account.sid);
    let filters = filter_params(&query);
    let start = page * page_size;
    let here = match query.PageToken.as_deref().filter(|t| !t.is_empty()) {
        Some(t) => format!(
            "{base}?PageSize={page_size}{filters}&Page={page}&PageToken={}",
            form_encode(t)
        ),
        None => format!("{base}?PageSize={page_size}{filters}&Page=0"),
    };
    Ok(Json(MessagePage {
        page,
        page_size,
        uri: here,
        first_page_uri: format!("{base}?PageSize={page_size}{filters}&Page=0"),
        next_page_uri: rows.last().filter(|_| older_exists).map(|last| {
            format!(
                "{base}?PageSize={page_size}{filters}&Page={}&PageToken={}",
                page + 1,
                page_token("PA", last)
            )
        }),
        previous_page_uri: rows
            .first()
            .filter(|_| newer_exists && page > 0)
            .map(|first| {
                if page == 1 {
                    format!("{base}?PageSize={page_size}{filters}&Page=0")
                } else {
                    format!(
                        "{base}?PageSize={page_size}{filters}&Page={}&PageToken={}",
                        page - 1,
                        page_token("PB", first)
                    )
                }
            }),
        start,
        end: start + messages.len() as i64 - 1,
        messages,
    }))
}
