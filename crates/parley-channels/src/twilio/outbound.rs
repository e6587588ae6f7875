//! Sending through Twilio Programmable Messaging: the `Create a Message` request
//! ([`build_request`]) and what Twilio's answer means ([`interpret_response`]).
//!
//! The request is `POST {base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json`, HTTP Basic
//! auth (the account SID and auth token, or an API key SID and its secret; the URL always names
//! the account), and a form body:
//!
//! | field | |
//! |---|---|
//! | `To` | E.164 number, or a channel address such as `whatsapp:+447400123456` |
//! | `From` *or* `MessagingServiceSid` | exactly one: [`Sender`] makes the other impossible |
//! | `Body` | up to 1,600 characters; left out for a media-only message |
//! | `MediaUrl` | repeated, at most 10 |
//! | `StatusCallback` | where Twilio posts status changes (see [`super::StatusCallback`]) |
//! | `ValidityPeriod` | seconds the message may wait in Twilio's queue, 1 to 36,000 |
//!
//! Twilio answers `201 Created` with the Message resource (`sid`, `status` = `queued`, or
//! `accepted` through a Messaging Service, `error_code`, `error_message`...) or an error object
//! `{"code", "message", "more_info", "status"}`. Codes go through the same table as status
//! callbacks, [`map_error_code`](super::map_error_code); HTTP 429 (Twilio 20429) and 5xx are
//! transient whatever the code says.
//!
//! **No idempotency.** Twilio's Messages API takes no idempotency key: a request that timed out
//! may have created a message, and sending it again may text the customer twice. The request is
//! marked [`RetrySafety::NotIdempotent`]; the engine must treat a send without a response as
//! ambiguous (for instance, wait for a status callback, whose URL can carry the entry id, or look
//! the message up) rather than resend it.

use base64::Engine as _;
use parley_core::ErrorCode;
use parley_core::model::EntryStatus;
use serde::Deserialize;

use super::errors::ProviderError;
use super::status::TwilioStatus;
use crate::http::{
    Accepted, BuildError, HttpRequest, HttpResponse, Method, ProviderFailure, RetrySafety,
    SendOutcome, base_url, failure_from_status, failure_outcome, form_encode, header_token,
    path_segment,
};

/// Twilio's REST API host.
pub const DEFAULT_BASE_URL: &str = "https://api.twilio.com";
/// The longest `Body` Twilio accepts, in characters (Twilio error 21617 beyond).
pub const MAX_BODY_CHARS: usize = 1600;
/// The most `MediaUrl`s one message may carry (Twilio error 21623 beyond).
pub const MAX_MEDIA_URLS: usize = 10;
/// The largest `ValidityPeriod`, in seconds (10 hours; Twilio errors 21624/90007 beyond).
pub const MAX_VALIDITY_PERIOD_SECS: u32 = 36_000;

/// How we prove who we are. `Debug` hides the secrets.
#[derive(Clone, PartialEq, Eq)]
pub enum TwilioAuth {
    /// The account SID itself with the account's auth token.
    AuthToken(String),
    /// An API key (`SK…`) and its secret: revocable without touching the account token.
    ApiKey { sid: String, secret: String },
}

impl std::fmt::Debug for TwilioAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::AuthToken(_) => f.write_str("AuthToken(<redacted>)"),
            Self::ApiKey { sid, .. } => f
                .debug_struct("ApiKey")
                .field("sid", sid)
                .field("secret", &"<redacted>")
                .finish(),
        }
    }
}

/// A Twilio account as a channel is configured with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioAccount {
    /// [`DEFAULT_BASE_URL`] in production; a local fake in tests.
    pub base_url: String,
    /// `AC…`: named in the URL whichever credentials sign the request.
    pub account_sid: String,
    pub auth: TwilioAuth,
}

impl TwilioAccount {
    /// An account on Twilio's production API.
    pub fn new(account_sid: impl Into<String>, auth: TwilioAuth) -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            account_sid: account_sid.into(),
            auth,
        }
    }
}

/// Who the message comes from: a number (or short code, or alphanumeric sender id), or a
/// Messaging Service that picks the number itself. Twilio wants exactly one of the two.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sender {
    From(String),
    MessagingService(String),
}

/// One message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundMessage {
    /// E.164 (`+14155550100`), or a channel address (`whatsapp:+447400123456`).
    pub to: String,
    pub sender: Sender,
    /// The text; may be empty when `media_urls` is not.
    pub body: String,
    /// Public URLs Twilio fetches the media from, in order.
    pub media_urls: Vec<String>,
    pub status_callback: Option<String>,
    /// Seconds the message may wait in Twilio's queue before Twilio gives up on it.
    pub validity_period: Option<u32>,
}

impl OutboundMessage {
    /// A text message with no media, callback or validity period.
    pub fn text(to: impl Into<String>, sender: Sender, body: impl Into<String>) -> Self {
        Self {
            to: to.into(),
            sender,
            body: body.into(),
            media_urls: Vec::new(),
            status_callback: None,
            validity_period: None,
        }
    }
}

/// The `Create a Message` request for `message`, checked against Twilio's documented limits so
/// a message Twilio would refuse fails here, with the same catalogue code, without a round trip.
pub fn build_request(
    account: &TwilioAccount,
    message: &OutboundMessage,
) -> Result<HttpRequest, BuildError> {
    let base = base_url("base_url", &account.base_url)?;
    let account_sid = path_segment("account_sid", &account.account_sid)?;
    let (user, secret) = match &account.auth {
        TwilioAuth::AuthToken(token) => (account_sid, token.as_str()),
        TwilioAuth::ApiKey { sid, secret } => (path_segment("api_key_sid", sid)?, secret.as_str()),
    };
    let secret = header_token("auth_token", secret)?;

    let to = address("to", &message.to, ErrorCode::DestinationInvalid)?;
    let sender = match &message.sender {
        Sender::From(from) => ("From", address("from", from, ErrorCode::SourceInvalid)?),
        Sender::MessagingService(sid) => (
            "MessagingServiceSid",
            path_segment("messaging_service_sid", sid)?,
        ),
    };
    let chars = message.body.chars().count();
    if chars > MAX_BODY_CHARS {
        return Err(BuildError::new(
            ErrorCode::BodyTooLarge,
            "body",
            format!("{chars} characters; Twilio accepts at most {MAX_BODY_CHARS}"),
        ));
    }
    if message.body.is_empty() && message.media_urls.is_empty() {
        return Err(BuildError::new(
            ErrorCode::ContentRejected,
            "body",
            "a message needs a body or at least one media URL",
        ));
    }
    if message.media_urls.len() > MAX_MEDIA_URLS {
        return Err(BuildError::new(
            ErrorCode::TooManyAttachments,
            "media_urls",
            format!(
                "{} media; Twilio accepts at most {MAX_MEDIA_URLS}",
                message.media_urls.len()
            ),
        ));
    }
    for url in &message.media_urls {
        if !is_web_url(url) {
            return Err(BuildError::new(
                ErrorCode::AttachmentTypeUnsupported,
                "media_urls",
                "every media URL must be an http(s) URL without spaces",
            ));
        }
    }
    if let Some(cb) = &message.status_callback
        && !is_web_url(cb)
    {
        return Err(BuildError::config(
            "status_callback",
            "must be an http(s) URL without spaces",
        ));
    }
    let validity = match message.validity_period {
        Some(secs) if (1..=MAX_VALIDITY_PERIOD_SECS).contains(&secs) => Some(secs.to_string()),
        Some(secs) => {
            return Err(BuildError::config(
                "validity_period",
                format!("{secs} s; Twilio accepts 1 to {MAX_VALIDITY_PERIOD_SECS}"),
            ));
        }
        None => None,
    };

    let mut form: Vec<(&str, &str)> = vec![("To", to), sender];
    if !message.body.is_empty() {
        form.push(("Body", &message.body));
    }
    form.extend(message.media_urls.iter().map(|u| ("MediaUrl", u.as_str())));
    if let Some(cb) = &message.status_callback {
        form.push(("StatusCallback", cb));
    }
    if let Some(v) = &validity {
        form.push(("ValidityPeriod", v));
    }

    let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"));
    Ok(HttpRequest {
        method: Method::Post,
        url: format!("{base}/2010-04-01/Accounts/{account_sid}/Messages.json"),
        headers: vec![
            ("Authorization".to_owned(), format!("Basic {credentials}")),
            (
                "Content-Type".to_owned(),
                "application/x-www-form-urlencoded".to_owned(),
            ),
            ("Accept".to_owned(), "application/json".to_owned()),
        ],
        body: form_encode(form).into_bytes(),
        retry_safety: RetrySafety::NotIdempotent,
    })
}

/// A `To` or `From` address: non-empty, at most 256 bytes, no control characters or spaces.
fn address<'a>(
    field: &'static str,
    value: &'a str,
    code: ErrorCode,
) -> Result<&'a str, BuildError> {
    if !value.is_empty()
        && value.len() <= 256
        && value.chars().all(|c| !c.is_whitespace() && !c.is_control())
    {
        Ok(value)
    } else {
        Err(BuildError::new(
            code,
            field,
            "must be a phone number, short code, sender id or channel address without spaces",
        ))
    }
}

fn is_web_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
        && url.bytes().all(|b| b.is_ascii_graphic())
}

/// A number Twilio may spell as a JSON number or a string (`error_code` is a number in the
/// Message resource; some proxies and older payloads quote it).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Code {
    Int(u64),
    Str(String),
}

impl Code {
    fn value(&self) -> Option<u32> {
        match self {
            Self::Int(n) => u32::try_from(*n).ok(),
            Self::Str(s) => s.trim().parse().ok(),
        }
    }
}

/// The parts of the Message resource a send needs.
#[derive(Debug, Deserialize)]
struct MessageResource {
    sid: Option<String>,
    status: Option<String>,
    error_code: Option<Code>,
    error_message: Option<String>,
}

/// Twilio's REST error object.
#[derive(Debug, Deserialize)]
struct RestError {
    code: Option<Code>,
    message: Option<String>,
    more_info: Option<String>,
}

/// What Twilio's answer to [`build_request`] means.
///
/// - 2xx with a `sid`: accepted; Parley's initial status is Twilio's status mapped by
///   [`TwilioStatus::entry_status`] (`queued`/`accepted` give `Queued`). Should Twilio already
///   report the message `failed` with an `error_code`, it is a failure like any other.
/// - 2xx without a readable `sid`: ambiguous (the message may exist).
/// - Otherwise Twilio's error `code` through the mapping table, transient when the table says
///   so or the HTTP status is 429 or 5xx; without a readable code, the HTTP status alone decides
///   ([`failure_from_status`]).
pub fn interpret_response(response: &HttpResponse) -> SendOutcome {
    if response.is_success() {
        return interpret_created(response);
    }
    let parsed: Option<RestError> = serde_json::from_slice(&response.body).ok();
    match parsed {
        Some(RestError {
            code: Some(code),
            message,
            more_info,
        }) => match code.value() {
            Some(n) => failure(ProviderError::from_twilio(n, message), more_info, response),
            None => failure_from_status(response),
        },
        _ => failure_from_status(response),
    }
}

fn interpret_created(response: &HttpResponse) -> SendOutcome {
    let resource: MessageResource = match serde_json::from_slice(&response.body) {
        Ok(r) => r,
        Err(e) => {
            return SendOutcome::Ambiguous {
                http_status: response.status,
                reason: format!("Twilio's answer is not a Message resource: {e}"),
            };
        }
    };
    let Some(sid) = resource.sid.filter(|s| !s.is_empty()) else {
        return SendOutcome::Ambiguous {
            http_status: response.status,
            reason: "Twilio's answer has no message sid".to_owned(),
        };
    };
    let provider_status = resource.status.filter(|s| !s.is_empty());
    let twilio_status = provider_status.as_deref().map(TwilioStatus::parse);
    let failed = matches!(
        twilio_status.as_ref().and_then(TwilioStatus::entry_status),
        Some(EntryStatus::Failed | EntryStatus::Undelivered)
    );
    if failed {
        let error = match resource.error_code.as_ref().and_then(Code::value) {
            Some(code) => ProviderError::from_twilio(code, resource.error_message),
            None => ProviderError {
                code: ErrorCode::ServiceError,
                provider_code: format!("status_{}", provider_status.as_deref().unwrap_or_default()),
                message: resource.error_message,
                retryable: false,
                opt_out: false,
            },
        };
        return failure(error, None, response);
    }
    let status = match twilio_status.as_ref().and_then(TwilioStatus::entry_status) {
        Some(s @ (EntryStatus::Sent | EntryStatus::Delivered | EntryStatus::Read)) => s,
        _ => EntryStatus::Queued,
    };
    SendOutcome::Accepted(Accepted {
        provider_message_id: sid,
        status,
        provider_status,
        recipient_id: None,
    })
}

fn failure(error: ProviderError, details: Option<String>, response: &HttpResponse) -> SendOutcome {
    let retryable = error.retryable;
    let failure = ProviderFailure {
        code: error.code,
        provider_code: error.provider_code,
        provider_subcode: None,
        message: error.message,
        details: details.filter(|d| !d.is_empty()),
        http_status: response.status,
        recipient_opted_out: error.opt_out,
    };
    failure_outcome(failure, retryable, response)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::http::RetryAfter;
    use crate::twilio::FormParams;

    const ACCOUNT: &str = "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX";

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/fixtures/outbound/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn account() -> TwilioAccount {
        TwilioAccount::new(ACCOUNT, TwilioAuth::AuthToken("your_auth_token".into()))
    }

    fn full_message() -> OutboundMessage {
        OutboundMessage {
            to: "+447400123456".into(),
            sender: Sender::From("+14155550100".into()),
            body: "Olá 😀 100% + café & more".into(),
            media_urls: vec![
                "https://demo.example/cat.jpg".into(),
                "https://demo.example/a b".replace(' ', "%20"),
            ],
            status_callback: Some("https://parley.example/twilio/status?entry=42".into()),
            validity_period: Some(600),
        }
    }

    #[test]
    fn builds_the_exact_request() {
        let req = build_request(&account(), &full_message()).unwrap();
        assert_eq!(req.method, Method::Post);
        assert_eq!(
            req.url,
            "https://api.twilio.com/2010-04-01/Accounts/ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX/Messages.json"
        );
        // base64("ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:your_auth_token")
        assert_eq!(
            req.headers,
            vec![
                (
                    "Authorization".to_owned(),
                    "Basic QUNYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWDp5b3VyX2F1dGhfdG9rZW4="
                        .to_owned()
                ),
                (
                    "Content-Type".to_owned(),
                    "application/x-www-form-urlencoded".to_owned()
                ),
                ("Accept".to_owned(), "application/json".to_owned()),
            ]
        );
        assert_eq!(
            String::from_utf8(req.body.clone()).unwrap(),
            "To=%2B447400123456&From=%2B14155550100\
             &Body=Ol%C3%A1+%F0%9F%98%80+100%25+%2B+caf%C3%A9+%26+more\
             &MediaUrl=https%3A%2F%2Fdemo.example%2Fcat.jpg\
             &MediaUrl=https%3A%2F%2Fdemo.example%2Fa%2520b\
             &StatusCallback=https%3A%2F%2Fparley.example%2Ftwilio%2Fstatus%3Fentry%3D42\
             &ValidityPeriod=600"
        );
        assert_eq!(req.retry_safety, RetrySafety::NotIdempotent);
        // What Twilio decodes is exactly what we meant.
        let form = FormParams::parse(&req.body).unwrap();
        assert_eq!(form.get("Body"), Some("Olá 😀 100% + café & more"));
        assert_eq!(form.get("To"), Some("+447400123456"));
        assert_eq!(form.count("MediaUrl"), 2);
    }

    /// The requests Twilio's own Python library makes for the same messages
    /// (`fixtures/outbound/oracle/gen_requests.py`): same URL, same Basic credentials, same
    /// content type, and the same decoded fields (the library orders them differently, which
    /// Twilio ignores).
    #[test]
    fn matches_the_official_twilio_library() {
        let oracle: serde_json::Value =
            serde_json::from_slice(&fixture("oracle_requests.json")).unwrap();
        let api_key = TwilioAccount {
            base_url: DEFAULT_BASE_URL.into(),
            account_sid: ACCOUNT.into(),
            auth: TwilioAuth::ApiKey {
                sid: "SKXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX".into(),
                secret: "s3cret".into(),
            },
        };
        let service_media_only = OutboundMessage {
            to: "whatsapp:+447400123456".into(),
            sender: Sender::MessagingService("MGXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX".into()),
            body: String::new(),
            media_urls: vec!["https://demo.example/cat.jpg".into()],
            status_callback: None,
            validity_period: None,
        };
        let cases = oracle["twilio"].as_array().unwrap();
        assert_eq!(cases.len(), 2);
        for case in cases {
            let name = case["name"].as_str().unwrap();
            let req = match name {
                "account_token_from_full" => build_request(&account(), &full_message()),
                "api_key_service_media_only" => build_request(&api_key, &service_media_only),
                other => panic!("unknown oracle case {other}"),
            }
            .unwrap();
            assert_eq!(case["method"], "POST", "{name}");
            assert_eq!(req.url, case["url"].as_str().unwrap(), "{name}");
            assert_eq!(
                req.header("Authorization"),
                case["authorization"].as_str(),
                "{name}"
            );
            assert_eq!(
                req.header("Content-Type"),
                case["content_type"].as_str(),
                "{name}"
            );
            let sorted = |mut pairs: Vec<(String, String)>| {
                pairs.sort_by(|a, b| a.0.cmp(&b.0)); // stable: repeated MediaUrl keep their order
                pairs
            };
            let ours = sorted(FormParams::parse(&req.body).unwrap().into_pairs());
            let theirs = sorted(
                FormParams::parse(case["body"].as_str().unwrap().as_bytes())
                    .unwrap()
                    .into_pairs(),
            );
            assert_eq!(ours, theirs, "{name}");
            // Each encoded field is byte-identical too (no '~' or '*' here, where the two
            // serialisers differ).
            let mut ours: Vec<&str> = std::str::from_utf8(&req.body).unwrap().split('&').collect();
            let mut theirs: Vec<&str> = case["body"].as_str().unwrap().split('&').collect();
            ours.sort_unstable();
            theirs.sort_unstable();
            assert_eq!(ours, theirs, "{name}");
        }
    }

    #[test]
    fn api_key_messaging_service_and_media_only() {
        let account = TwilioAccount {
            base_url: "http://127.0.0.1:8099/".into(),
            account_sid: ACCOUNT.into(),
            auth: TwilioAuth::ApiKey {
                sid: "SKXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX".into(),
                secret: "s3cret".into(),
            },
        };
        let message = OutboundMessage {
            to: "whatsapp:+447400123456".into(),
            sender: Sender::MessagingService("MGXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX".into()),
            body: String::new(),
            media_urls: vec!["https://demo.example/cat.jpg".into()],
            status_callback: None,
            validity_period: None,
        };
        let req = build_request(&account, &message).unwrap();
        assert_eq!(
            req.url,
            "http://127.0.0.1:8099/2010-04-01/Accounts/ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX/Messages.json"
        );
        let basic = req.header("authorization").unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(basic.strip_prefix("Basic ").unwrap())
            .unwrap();
        assert_eq!(decoded, b"SKXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:s3cret");
        assert_eq!(
            String::from_utf8(req.body).unwrap(),
            "To=whatsapp%3A%2B447400123456&MessagingServiceSid=MGXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX\
             &MediaUrl=https%3A%2F%2Fdemo.example%2Fcat.jpg"
        );
        assert!(!format!("{:?}", account.auth).contains("s3cret"));
        assert!(!format!("{:?}", TwilioAuth::AuthToken("tok".into())).contains("tok"));
    }

    #[test]
    fn limits_are_enforced_with_catalogue_codes() {
        let base =
            OutboundMessage::text("+447400123456", Sender::From("+14155550100".into()), "hi");
        let err = |m: OutboundMessage| build_request(&account(), &m).unwrap_err();

        let mut m = base.clone();
        m.body = "é".repeat(MAX_BODY_CHARS);
        assert!(build_request(&account(), &m).is_ok(), "1600 characters fit");
        m.body.push('x');
        assert_eq!(err(m).code, ErrorCode::BodyTooLarge);

        let mut m = base.clone();
        m.media_urls = vec!["https://x.example/1.jpg".into(); MAX_MEDIA_URLS];
        assert!(build_request(&account(), &m).is_ok(), "ten media fit");
        m.media_urls.push("https://x.example/11.jpg".into());
        assert_eq!(err(m).code, ErrorCode::TooManyAttachments);

        let mut m = base.clone();
        m.media_urls = vec!["file:///etc/passwd".into()];
        assert_eq!(err(m).code, ErrorCode::AttachmentTypeUnsupported);

        let mut m = base.clone();
        m.body.clear();
        assert_eq!(err(m).code, ErrorCode::ContentRejected);

        for bad in [0, MAX_VALIDITY_PERIOD_SECS + 1] {
            let mut m = base.clone();
            m.validity_period = Some(bad);
            let e = err(m);
            assert_eq!(
                (e.code, e.field),
                (ErrorCode::ServiceMisconfigured, "validity_period")
            );
        }
        let mut m = base.clone();
        m.validity_period = Some(MAX_VALIDITY_PERIOD_SECS);
        assert!(build_request(&account(), &m).is_ok());

        let mut m = base.clone();
        m.status_callback = Some("not a url".into());
        assert_eq!(err(m).field, "status_callback");

        let mut m = base.clone();
        m.to = "+44 7400".into();
        assert_eq!(err(m).code, ErrorCode::DestinationInvalid);
        let mut m = base.clone();
        m.to.clear();
        assert_eq!(err(m).code, ErrorCode::DestinationInvalid);
        let mut m = base.clone();
        m.sender = Sender::From("\n".into());
        assert_eq!(err(m).code, ErrorCode::SourceInvalid);
        let mut m = base.clone();
        m.sender = Sender::MessagingService("MG/../AC".into());
        assert_eq!(err(m).field, "messaging_service_sid");

        let mut bad = account();
        bad.account_sid = "AC1/../../x".into();
        assert_eq!(build_request(&bad, &base).unwrap_err().field, "account_sid");
        let mut bad = account();
        bad.auth = TwilioAuth::AuthToken("tok\r\nX: y".into());
        assert_eq!(
            build_request(&bad, &base).unwrap_err().code,
            ErrorCode::ServiceMisconfigured
        );
        let mut bad = account();
        bad.base_url = "api.twilio.com".into();
        assert_eq!(build_request(&bad, &base).unwrap_err().field, "base_url");
    }

    #[test]
    fn created_message_is_accepted_as_queued() {
        let out = interpret_response(&HttpResponse::new(
            201,
            fixture("twilio_message_created.json"),
        ));
        assert_eq!(
            out,
            SendOutcome::Accepted(Accepted {
                provider_message_id: "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".into(),
                status: EntryStatus::Queued,
                provider_status: Some("queued".into()),
                recipient_id: None,
            })
        );
        let via_service = interpret_response(&HttpResponse::new(
            201,
            fixture("twilio_message_accepted_service.json"),
        ));
        match via_service {
            SendOutcome::Accepted(a) => {
                assert_eq!(a.status, EntryStatus::Queued);
                assert_eq!(a.provider_status.as_deref(), Some("accepted"));
            }
            other => panic!("{other:?}"),
        }
        // A status Parley does not know yet is still an acceptance.
        let odd = interpret_response(&HttpResponse::new(
            200,
            r#"{"sid":"SM1","status":"teleported","error_code":null}"#,
        ));
        assert!(matches!(odd, SendOutcome::Accepted(a) if a.status == EntryStatus::Queued));
        let sent = interpret_response(&HttpResponse::new(201, r#"{"sid":"SM1","status":"sent"}"#));
        assert!(matches!(sent, SendOutcome::Accepted(a) if a.status == EntryStatus::Sent));
    }

    #[test]
    fn created_but_already_failed_is_a_failure() {
        let out = interpret_response(&HttpResponse::new(
            201,
            r#"{"sid":"SM1","status":"failed","error_code":30007,"error_message":"Carrier violation"}"#,
        ));
        match out {
            SendOutcome::Rejected(f) => {
                assert_eq!(f.code, ErrorCode::FlaggedAsSpam);
                assert_eq!(f.provider_code, "30007");
                assert_eq!(f.message.as_deref(), Some("Carrier violation"));
            }
            other => panic!("{other:?}"),
        }
        let quoted = interpret_response(&HttpResponse::new(
            201,
            r#"{"sid":"SM1","status":"undelivered","error_code":"30022"}"#,
        ));
        assert!(
            matches!(quoted, SendOutcome::Transient { failure, .. } if failure.provider_code == "30022")
        );
        let bare = interpret_response(&HttpResponse::new(
            201,
            r#"{"sid":"SM1","status":"failed"}"#,
        ));
        assert!(matches!(bare, SendOutcome::Rejected(f)
            if f.code == ErrorCode::ServiceError && f.provider_code == "status_failed"));
    }

    #[test]
    fn unreadable_success_is_ambiguous() {
        for body in [&b"<html>ok</html>"[..], b"{}", br#"{"sid":""}"#, b""] {
            let out = interpret_response(&HttpResponse::new(201, body));
            assert!(
                matches!(
                    out,
                    SendOutcome::Ambiguous {
                        http_status: 201,
                        ..
                    }
                ),
                "{}: {out:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn documented_errors_map_through_the_table() {
        // (fixture, HTTP status, catalogue code, provider code, transient, opted out)
        let cases: &[(&str, u16, ErrorCode, &str, bool, bool)] = &[
            (
                "twilio_error_21211.json",
                400,
                ErrorCode::DestinationInvalid,
                "21211",
                false,
                false,
            ),
            (
                "twilio_error_21610.json",
                400,
                ErrorCode::RecipientBlockedUs,
                "21610",
                false,
                true,
            ),
            (
                "twilio_error_21408.json",
                400,
                ErrorCode::ServiceMisconfigured,
                "21408",
                false,
                false,
            ),
            (
                "twilio_error_20003.json",
                401,
                ErrorCode::ServiceMisconfigured,
                "20003",
                false,
                false,
            ),
            (
                "twilio_error_20429.json",
                429,
                ErrorCode::ServiceUnavailable,
                "20429",
                true,
                false,
            ),
            (
                "twilio_error_20500.json",
                500,
                ErrorCode::ServiceUnavailable,
                "20500",
                true,
                false,
            ),
        ];
        for &(name, status, code, provider_code, transient, opted_out) in cases {
            let out = interpret_response(&HttpResponse::new(status, fixture(name)));
            let failure = match (&out, transient) {
                (SendOutcome::Transient { failure, .. }, true) => failure,
                (SendOutcome::Rejected(failure), false) => failure,
                _ => panic!("{name}: {out:?}"),
            };
            assert_eq!(failure.code, code, "{name}");
            assert_eq!(failure.provider_code, provider_code, "{name}");
            assert_eq!(failure.recipient_opted_out, opted_out, "{name}");
            assert_eq!(failure.http_status, status, "{name}");
            assert!(failure.message.is_some(), "{name}");
            assert_eq!(
                failure.details.as_deref(),
                Some(format!("https://www.twilio.com/docs/errors/{provider_code}").as_str()),
                "{name}"
            );
            assert_eq!(out.error_code(), Some(code));
        }
    }

    #[test]
    fn rate_limits_and_outages_are_transient_with_retry_after() {
        let resp = HttpResponse::new(429, fixture("twilio_error_20429.json"))
            .with_header("Retry-After", "30");
        match interpret_response(&resp) {
            SendOutcome::Transient { retry_after, .. } => {
                assert_eq!(
                    retry_after,
                    Some(RetryAfter::Delay(Duration::from_secs(30)))
                );
            }
            other => panic!("{other:?}"),
        }
        // A retryable code at HTTP 400 (sender queue full) is transient too.
        let queue = interpret_response(&HttpResponse::new(
            400,
            r#"{"code":21611,"message":"This 'From' number has exceeded the maximum number of queued messages","status":400}"#,
        ));
        assert!(
            matches!(queue, SendOutcome::Transient { failure, retry_after: None }
            if failure.code == ErrorCode::ChannelUnavailable)
        );
        // HTTP 5xx is transient even with a code the table calls permanent, and without a body.
        let odd = interpret_response(&HttpResponse::new(503, r#"{"code":21211,"message":"x"}"#));
        assert!(
            matches!(odd, SendOutcome::Transient { failure, .. } if failure.provider_code == "21211")
        );
        let bare = interpret_response(&HttpResponse::new(502, "Bad Gateway"));
        assert!(matches!(bare, SendOutcome::Transient { failure, .. }
            if failure.provider_code == "http_502" && failure.code == ErrorCode::ServiceUnavailable));
        let bare429 = interpret_response(&HttpResponse::new(429, ""));
        assert!(matches!(bare429, SendOutcome::Transient { .. }));
    }

    #[test]
    fn unreadable_errors_fall_back_to_the_http_status() {
        let not_found = interpret_response(&HttpResponse::new(404, "<html>Not Found</html>"));
        assert!(matches!(not_found, SendOutcome::Rejected(f)
            if f.code == ErrorCode::ServiceMisconfigured && f.provider_code == "http_404"));
        let no_code = interpret_response(&HttpResponse::new(
            400,
            r#"{"message":"something","status":400}"#,
        ));
        assert!(matches!(no_code, SendOutcome::Rejected(f) if f.provider_code == "http_400"));
        let bad_code = interpret_response(&HttpResponse::new(400, r#"{"code":"abc"}"#));
        assert!(matches!(bad_code, SendOutcome::Rejected(f) if f.provider_code == "http_400"));
        // An unknown Twilio code is a permanent 0002 with the original kept.
        let unknown =
            interpret_response(&HttpResponse::new(400, r#"{"code":21999,"message":"new"}"#));
        assert!(matches!(unknown, SendOutcome::Rejected(f)
            if f.code == ErrorCode::ServiceError && f.provider_code == "21999"));
    }
}
