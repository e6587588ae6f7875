//! The provider-neutral shape of one outbound send: the exact HTTP request to make
//! ([`HttpRequest`]) and what the provider's answer means ([`SendOutcome`]).
//!
//! Provider modules (`twilio::outbound`, `meta::send`, `meta::messenger_send`) are pure functions
//! from a message to an [`HttpRequest`] and from an [`HttpResponse`] to a [`SendOutcome`]. The
//! engine owns the HTTP client (reqwest), the clock and the retry policy; nothing here does IO.
//!
//! What the engine does with an outcome (DESIGN.md section 3, outbox -> dispatch -> provider):
//!
//! | outcome | meaning | the engine |
//! |---|---|---|
//! | [`SendOutcome::Accepted`] | the provider took the message and gave it an id | stores the id (statuses find the entry by it) and the initial status |
//! | [`SendOutcome::Rejected`] | refused for good | fails the entry with the catalogue code, provider code kept; records an opt-out when [`ProviderFailure::recipient_opted_out`] |
//! | [`SendOutcome::Transient`] | throttled or the provider is down: nothing was sent | retries with backoff, not before `retry_after`; fails with the carried code when attempts run out |
//! | [`SendOutcome::Ambiguous`] | the provider answered 2xx but the answer cannot be read | must not resend blindly: treat like a timeout |
//!
//! A timeout or a connection dropped after the request was written never reaches this module:
//! the engine sees no response at all, and since none of Parley's providers takes an idempotency
//! key on sends ([`RetrySafety::NotIdempotent`]), it must treat such a send as *ambiguous* (the
//! message may or may not exist) rather than retry it as if nothing happened.

use std::time::Duration;

use parley_core::model::EntryStatus;
use parley_core::{ErrorCode, Timestamp};

/// An HTTP method. Sends are POSTs; the enum leaves room for the GETs of later work (media,
/// message lookups) without stringly typing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Post,
}

impl Method {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
        }
    }
}

/// Whether resending the same request is safe when its fate is unknown (timeout, reset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetrySafety {
    /// The provider has no idempotency key for this call: a second attempt after a timeout may
    /// deliver the message twice. The engine treats a send whose response never came as
    /// ambiguous. Twilio Messages, WhatsApp Cloud API and Messenger sends are all like this.
    NotIdempotent,
    /// The request carries `header: key` and the provider deduplicates on it, so the engine may
    /// resend the identical request. No current provider; kept so one can say so.
    IdempotencyKey { header: String, key: String },
}

/// One HTTP request, byte for byte as the provider must receive it.
///
/// `headers` are in the order they should be sent; the engine copies them verbatim (reqwest adds
/// `Content-Length` and `Host` itself). `Debug` hides the `Authorization` value so a request can
/// be logged.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub retry_safety: RetrySafety,
}

impl HttpRequest {
    /// The first value of header `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

impl std::fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| {
                if n.eq_ignore_ascii_case("authorization") {
                    (n.as_str(), "<redacted>")
                } else {
                    (n.as_str(), v.as_str())
                }
            })
            .collect();
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &headers)
            .field("body", &String::from_utf8_lossy(&self.body))
            .field("retry_safety", &self.retry_safety)
            .finish()
    }
}

/// The provider's answer as the engine received it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The first value of header `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// `Retry-After`, when present and readable.
    pub fn retry_after(&self) -> Option<RetryAfter> {
        self.header("retry-after").and_then(RetryAfter::parse)
    }

    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// When the provider asked us to come back (`Retry-After`, RFC 9110 section 10.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    /// `Retry-After: 120`.
    Delay(Duration),
    /// `Retry-After: Fri, 31 Dec 1999 23:59:59 GMT`.
    At(Timestamp),
}

impl RetryAfter {
    /// Reads delay-seconds or an IMF-fixdate; the obsolete RFC 850 and asctime date forms and
    /// anything else give `None` (the engine then uses its own backoff).
    pub fn parse(value: &str) -> Option<Self> {
        let value = value.trim();
        if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
            // Absurdly long delays saturate rather than fail: the provider clearly said "later".
            let secs = value.parse::<u64>().unwrap_or(u64::MAX);
            return Some(Self::Delay(Duration::from_secs(secs)));
        }
        parse_imf_fixdate(value).map(Self::At)
    }

    /// How long to wait from `now`: zero for a date already past.
    pub fn delay_from(self, now: Timestamp) -> Duration {
        match self {
            Self::Delay(d) => d,
            Self::At(t) => t.since(now),
        }
    }
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` to a timestamp.
fn parse_imf_fixdate(s: &str) -> Option<Timestamp> {
    let mut parts = s.split(' ');
    let weekday = parts.next()?;
    let day = parts.next()?;
    let month = parts.next()?;
    let year = parts.next()?;
    let time = parts.next()?;
    let zone = parts.next()?;
    if parts.next().is_some() || zone != "GMT" || weekday.len() != 4 || !weekday.ends_with(',') {
        return None;
    }
    let number = |s: &str, len: usize| -> Option<i64> {
        (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let day = number(day, 2)?;
    let year = number(year, 4)?;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = i64::try_from(MONTHS.iter().position(|m| *m == month)?).ok()? + 1;
    let mut hms = time.split(':');
    let h = number(hms.next()?, 2)?;
    let m = number(hms.next()?, 2)?;
    let sec = number(hms.next()?, 2)?;
    if hms.next().is_some() || h > 23 || m > 59 || sec > 60 || !(1..=31).contains(&day) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + h * 3600 + m * 60 + sec;
    Some(Timestamp::from_millis(secs.checked_mul(1000)?))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// What the provider's answer to one send means. See the module docs for what the engine does
/// with each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    Accepted(Accepted),
    /// Refused for good: do not resend this message.
    Rejected(ProviderFailure),
    /// Not sent, for a reason that should pass: throttling (HTTP 429, the provider's rate-limit
    /// codes), HTTP 5xx, provider outages. `failure.code` is what the message fails with if
    /// retries run out.
    Transient {
        failure: ProviderFailure,
        retry_after: Option<RetryAfter>,
    },
    /// The provider answered 2xx, but without anything we can read as a message id: the message
    /// probably exists, but we cannot track it. Handled like a timeout, never resent blindly.
    Ambiguous {
        http_status: u16,
        reason: String,
    },
}

impl SendOutcome {
    /// The catalogue code a failed or throttled send carries.
    pub fn error_code(&self) -> Option<ErrorCode> {
        match self {
            Self::Rejected(f) | Self::Transient { failure: f, .. } => Some(f.code),
            Self::Accepted(_) | Self::Ambiguous { .. } => None,
        }
    }
}

/// A send the provider accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// Twilio's `sid` (`SM…`), WhatsApp's `wamid.…`, Messenger's `m_…`: the key later status
    /// callbacks and webhooks carry.
    pub provider_message_id: String,
    /// Parley's status right after acceptance: `Queued` while the provider still has to hand it
    /// on (Twilio, WhatsApp, both of which report `sent` later), `Sent` for Messenger, which
    /// reports only deliveries and reads.
    pub status: EntryStatus,
    /// The provider's own status word, when it sent one (`queued`, `accepted`, `held_for_quality_assessment`).
    pub provider_status: Option<String>,
    /// The recipient as the provider resolved it: WhatsApp's `wa_id` (or `user_id` for a
    /// BSUID send), Messenger's `recipient_id`. May differ from what we sent (WhatsApp
    /// normalises some numbers).
    pub recipient_id: Option<String>,
}

/// A provider's refusal mapped onto the catalogue, with the original kept beside it
/// (DESIGN.md section 6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderFailure {
    pub code: ErrorCode,
    /// The provider's code as sent (`21610`, `131047`, `10`), or `http_NNN` when the provider
    /// answered without one (a proxy's 502, a bare 429).
    pub provider_code: String,
    /// Meta's `error_subcode` (`2018278`).
    pub provider_subcode: Option<String>,
    pub message: Option<String>,
    /// Meta's `error_data.details` or Twilio's `more_info`: the most specific explanation.
    pub details: Option<String>,
    pub http_status: u16,
    /// Twilio 21610: the recipient replied STOP to this sender. The engine records the opt-out for
    /// this messaging user, it does not only fail the message.
    pub recipient_opted_out: bool,
}

/// What a bare HTTP status means when the body carries no provider error we can read.
/// Returns the catalogue code and whether the send may be retried.
pub fn status_without_error_body(status: u16) -> (ErrorCode, bool) {
    match status {
        429 => (ErrorCode::ServiceUnavailable, true),
        408 => (ErrorCode::ServiceUnavailable, true),
        500..=599 => (ErrorCode::ServiceUnavailable, true),
        // Credentials, account or URL wrong: an admin has to fix the channel. 3xx means the base
        // URL points somewhere that is not the API.
        300..=399 | 401 | 403 | 404 => (ErrorCode::ServiceMisconfigured, false),
        413 => (ErrorCode::BodyTooLarge, false),
        _ => (ErrorCode::ServiceError, false),
    }
}

/// The [`SendOutcome`] for a failure: transient when the HTTP status says so (429, 5xx) or the
/// provider's code is retryable, rejected otherwise. `Retry-After` is kept for transient ones.
pub fn failure_outcome(
    failure: ProviderFailure,
    code_retryable: bool,
    response: &HttpResponse,
) -> SendOutcome {
    let status_retryable = matches!(response.status, 408 | 429 | 500..=599);
    if code_retryable || status_retryable {
        SendOutcome::Transient {
            failure,
            retry_after: response.retry_after(),
        }
    } else {
        SendOutcome::Rejected(failure)
    }
}

/// A failure made from the HTTP status alone (no readable provider error in the body).
pub fn failure_from_status(response: &HttpResponse) -> SendOutcome {
    let (code, retryable) = status_without_error_body(response.status);
    let failure = ProviderFailure {
        code,
        provider_code: format!("http_{}", response.status),
        provider_subcode: None,
        message: body_excerpt(&response.body),
        details: None,
        http_status: response.status,
        recipient_opted_out: false,
    };
    failure_outcome(failure, retryable, response)
}

/// The start of a body that is not the provider's JSON, kept for the operator (a proxy's error
/// page says more than the status alone). Cut at 200 characters.
fn body_excerpt(body: &[u8]) -> Option<String> {
    const MAX: usize = 200;
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    Some(match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", text.get(..cut).unwrap_or_default()),
        None => text.to_owned(),
    })
}

/// Why a request could not be built. Carries the catalogue code the message fails with, so the
/// engine can fail it without asking the provider: content faults get their content code
/// (3001-3006), channel configuration faults 0003.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot build the provider request: {field}: {reason} (error {code})")]
pub struct BuildError {
    pub code: ErrorCode,
    /// The input at fault (`to`, `media_urls`, `account_sid`...).
    pub field: &'static str,
    pub reason: String,
}

impl BuildError {
    pub fn new(code: ErrorCode, field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            code,
            field,
            reason: reason.into(),
        }
    }

    /// A channel setting (credentials, ids, URLs) is missing or malformed: 0003.
    pub fn config(field: &'static str, reason: impl Into<String>) -> Self {
        Self::new(ErrorCode::ServiceMisconfigured, field, reason)
    }
}

/// Checks and trims a provider base URL: `http(s)://host[:port][/path]`, no query, fragment,
/// whitespace or trailing slash. Plain `http` is allowed for tests against a local fake.
pub fn base_url(field: &'static str, url: &str) -> Result<String, BuildError> {
    let trimmed = url.trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
        .ok_or_else(|| BuildError::config(field, "must start with https:// or http://"))?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() {
        return Err(BuildError::config(field, "has no host"));
    }
    if !trimmed.bytes().all(|b| b.is_ascii_graphic()) || trimmed.contains(['?', '#']) {
        return Err(BuildError::config(
            field,
            "must be a plain URL without spaces, query or fragment",
        ));
    }
    Ok(trimmed.to_owned())
}

/// A path segment we put in a URL unescaped (account SIDs, phone number ids): ASCII letters,
/// digits, `.`, `_` and `-` only, 1 to 128 of them.
pub fn path_segment<'a>(field: &'static str, value: &'a str) -> Result<&'a str, BuildError> {
    let ok = !value.is_empty()
        && value.len() <= 128
        && !value.bytes().all(|b| b == b'.')
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(value)
    } else {
        Err(BuildError::config(
            field,
            "must be 1-128 ASCII letters, digits, '.', '_' or '-'",
        ))
    }
}

/// A secret or id that goes into a header: non-empty visible ASCII, so it can neither break the
/// header nor smuggle another one.
pub fn header_token<'a>(field: &'static str, value: &'a str) -> Result<&'a str, BuildError> {
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(value)
    } else {
        Err(BuildError::config(
            field,
            "must be non-empty visible ASCII (no spaces or line breaks)",
        ))
    }
}

/// `application/x-www-form-urlencoded` serialisation as the WHATWG URL standard defines it (and
/// as reqwest's `.form()` produces): ASCII letters, digits and `*-._` stay, a space becomes `+`,
/// every other byte of the UTF-8 encoding becomes `%XX` in upper case. So `+14155550100` is sent
/// as `%2B14155550100` and `é` as `%C3%A9`. Pairs keep their order; repeated names are fine.
pub fn form_encode<'a, I>(pairs: I) -> String
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let mut out = String::new();
    for (name, value) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        encode_component(&mut out, name);
        out.push('=');
        encode_component(&mut out, value);
    }
    out
}

fn encode_component(out: &mut String, s: &str) {
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(b));
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(hex_digit(b >> 4));
                out.push(hex_digit(b & 0x0f));
            }
        }
    }
}

/// An upper-case hex digit for a nibble (0-15).
const fn hex_digit(nibble: u8) -> char {
    match nibble {
        0..=9 => (b'0' + nibble) as char,
        10..=15 => (b'A' + nibble - 10) as char,
        // Callers pass `b >> 4` or `b & 0x0f`, never more than 15.
        _ => '0',
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::twilio::FormParams;
    use proptest::prelude::*;

    #[test]
    fn form_encoding_matches_the_whatwg_serializer() {
        assert_eq!(
            form_encode([("To", "+14155550100"), ("Body", "Hi there & café!")]),
            "To=%2B14155550100&Body=Hi+there+%26+caf%C3%A9%21"
        );
        assert_eq!(form_encode([("a", "*-._~"), ("b", "")]), "a=*-._%7E&b=");
        assert_eq!(form_encode([("e", "😀\n=")]), "e=%F0%9F%98%80%0A%3D");
        assert_eq!(form_encode(std::iter::empty::<(&str, &str)>()), "");
    }

    proptest! {
        #[test]
        fn form_encoding_round_trips_through_our_decoder(
            pairs in proptest::collection::vec((".{0,12}", ".{0,24}"), 0..6)
        ) {
            let encoded = form_encode(pairs.iter().map(|(a, b)| (a.as_str(), b.as_str())));
            prop_assert!(encoded.bytes().all(|b| b.is_ascii_graphic()));
            let decoded = FormParams::parse(encoded.as_bytes()).unwrap().into_pairs();
            // The decoder skips empty fields (`&&`); an empty name with an empty value encodes to
            // a lone `=`, which it keeps, so every pair survives.
            prop_assert_eq!(decoded, pairs);
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        assert_eq!(
            RetryAfter::parse("120"),
            Some(RetryAfter::Delay(Duration::from_secs(120)))
        );
        assert_eq!(
            RetryAfter::parse(" 0 "),
            Some(RetryAfter::Delay(Duration::ZERO))
        );
        // RFC 9110's own example date.
        assert_eq!(
            RetryAfter::parse("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(RetryAfter::At(Timestamp::from_millis(784_111_777_000)))
        );
        assert_eq!(
            RetryAfter::parse("Thu, 29 Feb 2024 00:00:00 GMT"),
            Some(RetryAfter::At(Timestamp::from_millis(1_709_164_800_000)))
        );
        for bad in [
            "",
            "-5",
            "1.5",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:49:37 GMT",
        ] {
            assert_eq!(RetryAfter::parse(bad), None, "{bad:?}");
        }
        assert!(matches!(
            RetryAfter::parse("99999999999999999999999"),
            Some(RetryAfter::Delay(d)) if d == Duration::from_secs(u64::MAX)
        ));
    }

    #[test]
    fn retry_after_delay_from_now() {
        let now = Timestamp::from_millis(784_111_700_000);
        let at = RetryAfter::parse("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(at.delay_from(now), Duration::from_secs(77));
        assert_eq!(
            at.delay_from(Timestamp::from_millis(800_000_000_000)),
            Duration::ZERO
        );
        assert_eq!(
            RetryAfter::Delay(Duration::from_secs(3)).delay_from(now),
            Duration::from_secs(3)
        );
    }

    #[test]
    fn bare_statuses_map_to_the_catalogue() {
        let cases: &[(u16, &str, bool)] = &[
            (429, "0001", true),
            (408, "0001", true),
            (500, "0001", true),
            (503, "0001", true),
            (401, "0003", false),
            (403, "0003", false),
            (404, "0003", false),
            (301, "0003", false),
            (413, "3004", false),
            (400, "0002", false),
            (422, "0002", false),
        ];
        for &(status, code, retry) in cases {
            let (c, r) = status_without_error_body(status);
            assert_eq!((c.code(), r), (code, retry), "{status}");
        }
    }

    #[test]
    fn failure_from_status_keeps_the_start_of_the_body_and_retry_after() {
        let resp =
            HttpResponse::new(503, "<html>upstream down</html>").with_header("Retry-After", "7");
        match failure_from_status(&resp) {
            SendOutcome::Transient {
                failure,
                retry_after,
            } => {
                assert_eq!(failure.provider_code, "http_503");
                assert_eq!(
                    failure.message.as_deref(),
                    Some("<html>upstream down</html>")
                );
                assert_eq!(retry_after, Some(RetryAfter::Delay(Duration::from_secs(7))));
            }
            other => panic!("{other:?}"),
        }
        let long = "x".repeat(500);
        match failure_from_status(&HttpResponse::new(400, long)) {
            SendOutcome::Rejected(f) => {
                assert_eq!(f.message.unwrap().chars().count(), 201);
                assert_eq!(f.code, ErrorCode::ServiceError);
            }
            other => panic!("{other:?}"),
        }
        match failure_from_status(&HttpResponse::new(401, "")) {
            SendOutcome::Rejected(f) => assert_eq!(f.message, None),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn request_debug_hides_the_authorization_value() {
        let req = HttpRequest {
            method: Method::Post,
            url: "https://api.example/x".into(),
            headers: vec![
                ("Authorization".into(), "Bearer SECRET".into()),
                ("Content-Type".into(), "application/json".into()),
            ],
            body: b"{}".to_vec(),
            retry_safety: RetrySafety::NotIdempotent,
        };
        let shown = format!("{req:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("<redacted>") && shown.contains("application/json"));
        assert_eq!(req.header("content-type"), Some("application/json"));
        assert_eq!(Method::Post.as_str(), "POST");
    }

    #[test]
    fn url_and_header_checks() {
        assert_eq!(
            base_url("base_url", "https://api.twilio.com/").unwrap(),
            "https://api.twilio.com"
        );
        assert_eq!(
            base_url("base_url", "http://127.0.0.1:9000/prefix").unwrap(),
            "http://127.0.0.1:9000/prefix"
        );
        for bad in [
            "api.twilio.com",
            "ftp://x",
            "https://",
            "https://a b",
            "https://x?y=1",
            "https://x#f",
        ] {
            let e = base_url("base_url", bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::ServiceMisconfigured, "{bad}");
        }
        assert!(path_segment("id", "AC123_x-y.z").is_ok());
        assert!(path_segment("id", "").is_err());
        assert!(path_segment("id", "a/b").is_err());
        assert!(path_segment("id", "..%2F").is_err());
        assert!(path_segment("id", "..").is_err());
        assert!(header_token("token", "EAAB.x-y").is_ok());
        assert!(header_token("token", "a\r\nX-Evil: 1").is_err());
        assert!(header_token("token", "").is_err());
    }
}
