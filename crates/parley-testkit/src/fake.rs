//! One local fake of the providers' HTTP APIs, at one base URL: Twilio's Messages API and media
//! URLs (with the storage its media redirect to), and Meta's Graph API (WhatsApp Cloud API and
//! Messenger sends, media lookups and downloads).
//!
//! Every request is recorded, and every way a request breaks the provider's documented rules is
//! recorded as a violation, so a test asserts both what was sent and that it was well formed. An
//! invalid Twilio request is refused as Twilio would (400, 21604); the Graph API answers anyway and
//! the violation tells. Some recipients make the fake answer as the real API does in a bad case
//! ([`UNSUBSCRIBED`], [`THROTTLED_ONCE`], [`BROKEN`], [`SLOW`], [`WA_OUTSIDE`]).

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use parley_core::new_id;
use serde_json::{Value, json};

/// Twilio answers 21610 (unsubscribed recipient) for this number.
pub const UNSUBSCRIBED: &str = "+14155550199";
/// Twilio answers 429 with `Retry-After: 1` the first time this number is sent to, then accepts.
pub const THROTTLED_ONCE: &str = "+14155550142";
/// Twilio answers 500.
pub const BROKEN: &str = "+14155550150";
/// Twilio never answers: the client's timeout decides.
pub const SLOW: &str = "+14155550160";
/// The WhatsApp number whose care window Meta considers closed: 131047.
pub const WA_OUTSIDE: &str = "447400123457";

/// A 1x1 PNG, served as Twilio media `ME-png` and for every Graph media id.
pub const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52, 0, 0, 0,
    1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1f, 0x15, 0xc4, 0x89, 0, 0, 0, 0x0a, 0x49, 0x44, 0x41, 0x54,
    0x78, 0x9c, 0x63, 0, 1, 0, 0, 5, 0, 1, 0x0d, 0x0a, 0x2d, 0xb4, 0, 0, 0, 0, 0x49, 0x45, 0x4e,
    0x44, 0xae, 0x42, 0x60, 0x82,
];
/// A minimal PDF, served as Twilio media `ME-pdf`.
pub const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n";

/// The account the fake expects: requests with other credentials or ids are violations.
#[derive(Debug, Clone)]
pub struct Account {
    pub account_sid: String,
    pub auth_token: String,
    pub access_token: String,
    pub api_version: String,
    pub phone_number_id: String,
    pub page_id: String,
    /// When set, every Twilio `StatusCallback` must be `{public_url}/status`.
    pub public_url: Option<String>,
    /// When set, every Messenger send must go to this page-scoped id.
    pub psid: Option<String>,
}

impl Default for Account {
    fn default() -> Self {
        Self {
            account_sid: "AC0123456789abcdef0123456789abcdef".into(),
            auth_token: "twilio-secret-token".into(),
            access_token: "EAAGraphToken".into(),
            api_version: "v21.0".into(),
            phone_number_id: "106540352242922".into(),
            page_id: "1029384756".into(),
            public_url: None,
            psid: None,
        }
    }
}

/// What the fake saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// Twilio sends, as form pairs in order.
    pub twilio_sends: Vec<Vec<(String, String)>>,
    /// Graph sends (WhatsApp and Messenger), as JSON.
    pub graph_sends: Vec<Value>,
    /// Media downloads: (what was fetched, its Authorization header).
    pub downloads: Vec<(String, Option<String>)>,
    /// Every way a request broke the provider's documented rules.
    pub violations: Vec<String>,
    throttled: bool,
}

pub type Shared = Arc<Mutex<Seen>>;

struct Fake {
    account: Account,
    base: String,
    seen: Shared,
}

type FakeState = State<Arc<Fake>>;

/// Serves `app` on a random loopback port until the test's runtime ends; answers its base URL.
pub async fn serve(app: Router) -> String {
    let (listener, base) = bind().await;
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    base
}

async fn bind() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, format!("http://{addr}"))
}

/// Starts a fake of both providers for `account`; answers its base URL (a channel's `base_url`)
/// and what it sees.
pub async fn provider(account: Account) -> (String, Shared) {
    let (listener, base) = bind().await;
    let seen = Shared::default();
    let fake = Arc::new(Fake {
        account,
        base: base.clone(),
        seen: seen.clone(),
    });
    let app = Router::new()
        .route(
            "/2010-04-01/Accounts/{sid}/Messages.json",
            post(twilio_messages),
        )
        .route(
            "/2010-04-01/Accounts/{sid}/Messages/{mm}/Media/{me}",
            get(twilio_media),
        )
        .route("/storage/{name}", get(storage))
        .route("/{version}/{node}/messages", post(graph_messages))
        .route("/{version}/{id}", get(graph_media))
        .route("/lookaside/{id}", get(lookaside))
        .with_state(fake);
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (base, seen)
}

/// The `Authorization` header of a request.
pub fn auth_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The Basic credentials Twilio expects: account sid and auth token.
pub fn basic_auth(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// An error in Twilio's documented JSON shape.
pub fn twilio_error(status: u16, code: u32, message: &str) -> Response {
    json_response(
        StatusCode::from_u16(status).unwrap(),
        json!({"code": code, "message": message,
               "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status}),
    )
}

fn is_e164(s: &str) -> bool {
    s.strip_prefix('+')
        .is_some_and(|d| (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
}

/// Checks a `Create a Message` request the way Twilio documents it, and answers by recipient.
async fn twilio_messages(
    State(fake): FakeState,
    Path(sid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let account = &fake.account;
    let mut violations = Vec::new();
    if sid != account.account_sid {
        violations.push(format!("account sid in the URL: {sid}"));
    }
    if auth_of(&headers) != Some(basic_auth(&account.account_sid, &account.auth_token)) {
        violations.push("basic auth is not account sid : auth token".into());
    }
    if headers.get("content-type").and_then(|v| v.to_str().ok())
        != Some("application/x-www-form-urlencoded")
    {
        violations.push("content type is not a form".into());
    }
    let form = crate::form::decode_pairs(&String::from_utf8_lossy(&body));
    let get = |name: &str| -> Vec<&str> {
        form.iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    const KNOWN: &[&str] = &[
        "To",
        "From",
        "MessagingServiceSid",
        "Body",
        "MediaUrl",
        "StatusCallback",
        "ValidityPeriod",
    ];
    for (n, _) in &form {
        if !KNOWN.contains(&n.as_str()) {
            violations.push(format!("unknown field {n}"));
        }
    }
    let to = get("To");
    if to.len() != 1 || !to.first().is_some_and(|t| is_e164(t)) {
        violations.push(format!("To must be one E.164 number: {to:?}"));
    }
    let from = get("From");
    let service = get("MessagingServiceSid");
    match (from.as_slice(), service.as_slice()) {
        ([f], []) if is_e164(f) || f.bytes().all(|b| b.is_ascii_digit()) => {}
        ([], [s]) if s.starts_with("MG") && s.len() == 34 => {}
        other => violations.push(format!(
            "exactly one of From and MessagingServiceSid: {other:?}"
        )),
    }
    // Body is required unless there is media, and at most 1,600 characters.
    let body_text = get("Body");
    let media = get("MediaUrl");
    let body_ok = match body_text.as_slice() {
        [] => !media.is_empty(),
        [b] => !b.is_empty() && b.chars().count() <= 1600,
        _ => false,
    };
    if !body_ok {
        violations.push(format!("Body must be 1-1600 characters: {body_text:?}"));
    }
    if let Some(public_url) = &account.public_url {
        let callback = get("StatusCallback");
        if callback != [format!("{public_url}/status").as_str()] {
            violations.push(format!("StatusCallback: {callback:?}"));
        }
    }
    let to = to.first().map(|s| (*s).to_owned()).unwrap_or_default();
    let throttle_now = {
        let mut s = fake.seen.lock().unwrap();
        s.twilio_sends.push(form.clone());
        let invalid = !violations.is_empty();
        s.violations.extend(violations);
        if invalid {
            return twilio_error(400, 21604, "invalid request");
        }
        let first = to == THROTTLED_ONCE && !s.throttled;
        if first {
            s.throttled = true;
        }
        first
    };
    match to.as_str() {
        UNSUBSCRIBED => twilio_error(400, 21610, "Attempt to send to unsubscribed recipient"),
        BROKEN => (StatusCode::INTERNAL_SERVER_ERROR, "upstream exploded").into_response(),
        // Never answers: the client's timeout decides, and must treat the send as ambiguous.
        SLOW => std::future::pending::<Response>().await,
        _ if throttle_now => {
            let mut r = twilio_error(429, 20429, "Too Many Requests");
            r.headers_mut()
                .insert("retry-after", HeaderValue::from_static("1"));
            r
        }
        _ => json_response(
            StatusCode::CREATED,
            json!({"sid": format!("SM{}", new_id().simple()), "status": "queued",
                   "to": to, "error_code": null, "error_message": null}),
        ),
    }
}

/// Twilio's media URL: checks the Basic credentials, then redirects to storage like Twilio does.
async fn twilio_media(
    State(fake): FakeState,
    Path((_sid, _mm, me)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let auth = auth_of(&headers);
    fake.seen
        .lock()
        .unwrap()
        .downloads
        .push((format!("media/{me}"), auth.clone()));
    let account = &fake.account;
    if auth != Some(basic_auth(&account.account_sid, &account.auth_token)) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    (
        StatusCode::TEMPORARY_REDIRECT,
        [("location", format!("/storage/{me}"))],
    )
        .into_response()
}

/// The storage behind Twilio's redirect: public, and must not receive the account's credentials.
async fn storage(State(fake): FakeState, Path(name): Path<String>, headers: HeaderMap) -> Response {
    fake.seen
        .lock()
        .unwrap()
        .downloads
        .push((format!("storage/{name}"), auth_of(&headers)));
    match name.as_str() {
        "ME-png" => ([("content-type", "image/png")], PNG).into_response(),
        "ME-pdf" => ([("content-type", "application/pdf")], PDF).into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

fn bearer_ok(fake: &Fake, headers: &HeaderMap) -> bool {
    auth_of(headers) == Some(format!("Bearer {}", fake.account.access_token))
}

/// The Graph API's send endpoint. On the WhatsApp phone number id: a Cloud API message of a known
/// type, refused with 131047 for [`WA_OUTSIDE`]. On the page id: a Messenger message whose
/// `messaging_type` is RESPONSE, or MESSAGE_TAG with the HUMAN_AGENT tag.
async fn graph_messages(
    State(fake): FakeState,
    Path((version, node)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let account = &fake.account;
    let mut violations = Vec::new();
    if version != account.api_version {
        violations.push(format!("path /{version}/{node}/messages"));
    }
    if !bearer_ok(&fake, &headers) {
        violations.push("bearer token".into());
    }
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let answer = if node == account.phone_number_id && json.get("status").is_some() {
        // Mark as read, with or without the typing indicator.
        let indicator_ok = json
            .get("typing_indicator")
            .is_none_or(|t| t == &json!({"type": "text"}));
        if json["messaging_product"] != "whatsapp"
            || json["status"] != "read"
            || !json["message_id"].is_string()
            || !indicator_ok
            || json.as_object().is_some_and(|o| o.len() > 4)
        {
            violations.push(format!("body {json}"));
        }
        json_response(StatusCode::OK, json!({"success": true}))
    } else if node == account.page_id && json.get("sender_action").is_some() {
        let recipient = json["recipient"]["id"].as_str().unwrap_or_default();
        let action_ok = matches!(
            json["sender_action"].as_str(),
            Some("mark_seen" | "typing_on" | "typing_off")
        );
        if recipient.is_empty() || !action_ok || json.get("message").is_some() {
            violations.push(format!("body {json}"));
        }
        json_response(StatusCode::OK, json!({"recipient_id": recipient}))
    } else if node == account.phone_number_id {
        const TYPES: &[&str] = &[
            "text", "template", "image", "document", "audio", "video", "sticker",
        ];
        let kind = json["type"].as_str().unwrap_or_default();
        let content_ok = match kind {
            "text" => json["text"]["body"].is_string(),
            _ => TYPES.contains(&kind) && json[kind].is_object(),
        };
        let addressed = json["to"].is_string() || json["recipient"].is_string();
        if json["messaging_product"] != "whatsapp"
            || json["recipient_type"] != "individual"
            || !addressed
            || !content_ok
        {
            violations.push(format!("body {json}"));
        }
        let to = json["to"].as_str().unwrap_or_default().to_owned();
        if to == WA_OUTSIDE {
            json_response(
                StatusCode::BAD_REQUEST,
                json!({"error": {"message": "Re-engagement message", "type": "OAuthException",
                    "code": 131047, "error_data": {"messaging_product": "whatsapp",
                    "details": "Message failed to send because more than 24 hours have passed since the customer last replied to this number."},
                    "fbtrace_id": "AbCdEf"}}),
            )
        } else {
            json_response(
                StatusCode::OK,
                json!({"messaging_product": "whatsapp",
                       "contacts": [{"input": to, "wa_id": to}],
                       "messages": [{"id": format!("wamid.{}", new_id().simple())}]}),
            )
        }
    } else if node == account.page_id {
        let typed = match json["messaging_type"].as_str() {
            Some("RESPONSE") => json.get("tag").is_none(),
            Some("MESSAGE_TAG") => json["tag"] == "HUMAN_AGENT",
            _ => false,
        };
        let recipient = json["recipient"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let message = &json["message"];
        let expected = account.psid.as_deref().unwrap_or(recipient.as_str());
        if !typed
            || recipient.is_empty()
            || recipient != expected
            || !(message["text"].is_string() || message["attachment"].is_object())
        {
            violations.push(format!("body {json}"));
        }
        json_response(
            StatusCode::OK,
            json!({"recipient_id": recipient, "message_id": format!("m_{}", new_id().simple())}),
        )
    } else {
        violations.push(format!("path /{version}/{node}/messages"));
        StatusCode::NOT_FOUND.into_response()
    };
    let mut s = fake.seen.lock().unwrap();
    s.graph_sends.push(json);
    s.violations.extend(violations);
    answer
}

/// The Graph API's media lookup: where the file of a media id is.
async fn graph_media(
    State(fake): FakeState,
    Path((_version, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    fake.seen
        .lock()
        .unwrap()
        .downloads
        .push((format!("graph/{id}"), auth_of(&headers)));
    if !bearer_ok(&fake, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    json_response(
        StatusCode::OK,
        json!({"url": format!("{}/lookaside/{id}", fake.base), "mime_type": "image/png",
               "sha256": "x", "file_size": PNG.len(), "id": id, "messaging_product": "whatsapp"}),
    )
}

/// Meta's download URL: the bearer token again.
async fn lookaside(State(fake): FakeState, Path(id): Path<String>, headers: HeaderMap) -> Response {
    fake.seen
        .lock()
        .unwrap()
        .downloads
        .push((format!("lookaside/{id}"), auth_of(&headers)));
    if !bearer_ok(&fake, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    // Meta serves a generic type here; the lookup's mime_type is the one kept.
    ([("content-type", "application/octet-stream")], PNG).into_response()
}
