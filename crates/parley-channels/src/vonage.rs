//! Vonage's SMS API (formerly Nexmo) as a [`ProviderAdapter`]: the worked example of
//! `docs/adding-a-provider.md`.
//!
//! - Send: `POST {base_url}/sms/json`, a form with `api_key`, `api_secret`, `from`, `to`, `text`
//!   (`type=unicode` when the text is not GSM-7) and `callback` (where delivery receipts go). The
//!   answer is `{"message-count": "1", "messages": [{"status": "0", "message-id": "…"}]}`; a
//!   non-zero `status` is a refusal with its `error-text`.
//! - Inbound messages (`/webhooks/vonage/{channel}`) and delivery receipts
//!   (`/webhooks/vonage/{channel}/status`) arrive as a query string (GET) or a form or flat JSON
//!   object (POST). With signed webhooks on, each carries `sig`: the HMAC (SHA-256 by default,
//!   SHA-512 if `settings.signature_method` says so) keyed by `secrets.signature_secret` over
//!   `&key=value` for every other parameter sorted by key, with `&` and `=` in values replaced by
//!   `_`, in hex. `timestamp` (Unix seconds) must be within five minutes of now, so a captured
//!   request cannot be replayed later. Vonage's MD5 variants are not supported.
//!
//! | send `status` | meaning | catalogue |
//! |---|---|---|
//! | 1, 5, 10 | throttled, internal error, too many binds (retried) | 0001 |
//! | 2, 3 | missing or invalid parameters | 0002 |
//! | 4, 8, 9, 11, 14, 23, 32 | credentials, account barred or out of funds, HTTP not enabled, signature, callback URL | 0003 |
//! | 6 | invalid message | 3001 |
//! | 7 | number barred | 2002 |
//! | 12 | message too long | 3004 |
//! | 15 | invalid sender address | 1002 |
//! | 22, 29, 33 | invalid network, destination not allowed, number de-activated | 2001 |
//!
//! | receipt `err-code` | meaning | catalogue |
//! |---|---|---|
//! | 2, 3, 9, 11, 12 | absent subscriber, illegal number, unroutable, unreachable | 2001 |
//! | 4 | barred by the user | 2002 |
//! | 6, 14, 50-54 | anti-spam, blocked by carrier, filters, regulation | 2004 |
//! | 10 | illegal message | 3001 |
//! | 5, 7, 8, 13, 15, 16, 99 and others | portability, busy, network, age restriction, funds, quota, general | 0002 |

use hmac::{Hmac, Mac};
use parley_core::model::{ChannelKind, EntryStatus, Provider};
use parley_core::sms::{Encoding, encoding_for};
use parley_core::{ErrorCode, Timestamp};
use serde::Deserialize;
use sha2::{Sha256, Sha512};
use subtle::ConstantTimeEq;

use crate::adapter::{
    Capabilities, ChannelConfig, InboundMessage, Outgoing, PreparedSend, ProviderAdapter,
    SendRefusal, SettingsError, StatusUpdate, Webhook, WebhookError, WebhookEvent, WebhookMethod,
    WebhookReply, WebhookRequest, WebhookRouting, optional, read_section, required,
};
use crate::http::{
    Accepted, HttpRequest, HttpResponse, Method, ProviderFailure, RetrySafety, SendOutcome,
    base_url, failure_from_status, failure_outcome, form_encode,
};
use crate::twilio::FormParams;

/// Vonage's REST host.
pub const DEFAULT_BASE_URL: &str = "https://rest.nexmo.com";
/// How far a signed webhook's `timestamp` may be from now.
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;

pub const PROVIDER: Provider = Provider::from_static("vonage");

/// `settings` of a Vonage channel. The object also holds the channel's behaviour, so unknown
/// keys are not refused here.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct VonageSettings {
    /// [`DEFAULT_BASE_URL`] unless a test points it at a fake.
    #[serde(default)]
    pub base_url: Option<String>,
    /// This channel's webhook URL (`…/webhooks/vonage/{channel}`); receipts are asked for at
    /// `{public_url}/status`.
    #[serde(default)]
    pub public_url: Option<String>,
    /// The signing algorithm chosen in Vonage's dashboard: `sha256` (default) or `sha512`.
    #[serde(default)]
    pub signature_method: Option<SignatureMethod>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureMethod {
    #[default]
    Sha256,
    Sha512,
}

/// `secrets` of a Vonage channel.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VonageSecrets {
    #[serde(default)]
    pub api_key: Option<String>,
    #[serde(default)]
    pub api_secret: Option<String>,
    /// Keys the `sig` of signed webhooks.
    #[serde(default)]
    pub signature_secret: Option<String>,
}

impl VonageSettings {
    pub fn read(channel: &ChannelConfig<'_>) -> Result<Self, SettingsError> {
        let s: Self = read_section("settings", channel.settings)?;
        for (field, value) in [("base_url", &s.base_url), ("public_url", &s.public_url)] {
            if let Some(url) = optional(value.as_deref()) {
                base_url(field, url)
                    .map_err(|e| SettingsError::new(format!("settings.{field}"), e.reason))?;
            }
        }
        Ok(s)
    }
}

impl VonageSecrets {
    pub fn read(channel: &ChannelConfig<'_>) -> Result<Self, SettingsError> {
        read_section("secrets", channel.secrets)
    }
}

/// A number as Vonage spells it: digits, no `+`. An alphanumeric sender stays as it is.
fn vonage_number(address: &str) -> &str {
    address.strip_prefix('+').unwrap_or(address)
}

/// A number from Vonage as Parley spells it: E.164 with `+` when it is all digits.
fn e164(number: &str) -> String {
    if !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) {
        format!("+{number}")
    } else {
        number.to_owned()
    }
}

/// The request that sends one SMS.
pub fn build_request(
    settings: &VonageSettings,
    secrets: &VonageSecrets,
    from: &str,
    message: &Outgoing<'_>,
) -> Result<HttpRequest, SettingsError> {
    let key = required("secrets.api_key", secrets.api_key.as_deref())?;
    let secret = required("secrets.api_secret", secrets.api_secret.as_deref())?;
    let base = optional(settings.base_url.as_deref()).unwrap_or(DEFAULT_BASE_URL);
    let callback = optional(settings.public_url.as_deref())
        .map(|u| format!("{}/status", u.trim_end_matches('/')));
    let mut pairs = vec![
        ("api_key", key),
        ("api_secret", secret),
        ("from", vonage_number(from)),
        ("to", vonage_number(message.to)),
        ("text", message.body),
    ];
    if encoding_for(message.body) == Encoding::Ucs2 {
        pairs.push(("type", "unicode"));
    }
    if let Some(c) = &callback {
        pairs.push(("callback", c));
    }
    Ok(HttpRequest {
        method: Method::Post,
        url: format!("{}/sms/json", base.trim_end_matches('/')),
        headers: vec![
            (
                "Content-Type".to_owned(),
                "application/x-www-form-urlencoded".to_owned(),
            ),
            ("Accept".to_owned(), "application/json".to_owned()),
        ],
        body: form_encode(pairs).into_bytes(),
        retry_safety: RetrySafety::NotIdempotent,
    })
}

#[derive(Debug, Deserialize)]
struct SendAnswer {
    #[serde(default)]
    messages: Vec<SentMessage>,
}

#[derive(Debug, Deserialize)]
struct SentMessage {
    status: String,
    #[serde(rename = "message-id", default)]
    message_id: Option<String>,
    #[serde(rename = "error-text", default)]
    error_text: Option<String>,
}

/// The catalogue code of a send `status`, and whether it may be retried.
pub fn send_error(status: &str) -> (ErrorCode, bool) {
    match status {
        "1" | "5" | "10" => (ErrorCode::ServiceUnavailable, true),
        "4" | "8" | "9" | "11" | "14" | "23" | "32" => (ErrorCode::ServiceMisconfigured, false),
        "6" => (ErrorCode::ContentRejected, false),
        "7" => (ErrorCode::RecipientBlockedUs, false),
        "12" => (ErrorCode::BodyTooLarge, false),
        "15" => (ErrorCode::SourceInvalid, false),
        "22" | "29" | "33" => (ErrorCode::DestinationInvalid, false),
        _ => (ErrorCode::ServiceError, false),
    }
}

/// The catalogue code of a delivery receipt's `err-code`.
pub fn receipt_error(err_code: &str) -> ErrorCode {
    match err_code {
        "2" | "3" | "9" | "11" | "12" => ErrorCode::DestinationInvalid,
        "4" => ErrorCode::RecipientBlockedUs,
        "6" | "14" | "50" | "51" | "52" | "53" | "54" => ErrorCode::CarrierBlocked,
        "10" => ErrorCode::ContentRejected,
        _ => ErrorCode::ServiceError,
    }
}

/// What Vonage's answer to a send means. A long text is split by Vonage into several messages:
/// the first one's id is the message's, and the first failure fails it.
pub fn interpret_response(response: &HttpResponse) -> SendOutcome {
    if !response.is_success() {
        return failure_from_status(response);
    }
    let Ok(answer) = serde_json::from_slice::<SendAnswer>(&response.body) else {
        return SendOutcome::Ambiguous {
            http_status: response.status,
            reason: "Vonage's answer is not the SMS API's JSON".to_owned(),
        };
    };
    if let Some(failed) = answer.messages.iter().find(|m| m.status != "0") {
        let (code, retryable) = send_error(&failed.status);
        let failure = ProviderFailure {
            code,
            provider_code: failed.status.clone(),
            provider_subcode: None,
            message: failed.error_text.clone(),
            details: None,
            http_status: response.status,
            recipient_opted_out: false,
        };
        return failure_outcome(failure, retryable, response);
    }
    match answer
        .messages
        .first()
        .and_then(|m| m.message_id.clone())
        .filter(|id| !id.is_empty())
    {
        Some(id) => SendOutcome::Accepted(Accepted {
            provider_message_id: id,
            // Vonage reports `delivered` (or a failure) later, by receipt.
            status: EntryStatus::Sent,
            provider_status: None,
            recipient_id: None,
        }),
        None => SendOutcome::Ambiguous {
            http_status: response.status,
            reason: "Vonage accepted the message without a message-id".to_owned(),
        },
    }
}

/// The `sig` of a set of webhook parameters (every parameter but `sig`), in lower-case hex.
pub fn compute_signature(
    secret: &str,
    method: SignatureMethod,
    params: &[(String, String)],
) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().filter(|(k, _)| k != "sig").collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut signed = String::new();
    for (k, v) in sorted {
        signed.push('&');
        signed.push_str(k);
        signed.push('=');
        signed.extend(
            v.chars()
                .map(|c| if c == '&' || c == '=' { '_' } else { c }),
        );
    }
    // HMAC takes a key of any length: the `else` arms never run, and an empty signature would
    // match nothing.
    match method {
        SignatureMethod::Sha256 => {
            let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()) else {
                return String::new();
            };
            mac.update(signed.as_bytes());
            hex::encode(mac.finalize().into_bytes())
        }
        SignatureMethod::Sha512 => {
            let Ok(mut mac) = <Hmac<Sha512> as Mac>::new_from_slice(secret.as_bytes()) else {
                return String::new();
            };
            mac.update(signed.as_bytes());
            hex::encode(mac.finalize().into_bytes())
        }
    }
}

/// The parameters of a webhook call: the query string, a form body, or a flat JSON object.
fn params_of(request: &WebhookRequest<'_>) -> Result<Vec<(String, String)>, WebhookError> {
    let malformed = WebhookError::Malformed;
    let mut params = FormParams::parse(request.query.as_bytes())
        .map_err(|e| malformed(e.to_string()))?
        .into_pairs();
    if request.method == WebhookMethod::Post && !request.body.is_empty() {
        let json = request
            .header("content-type")
            .is_some_and(|c| c.contains("json"));
        if json {
            let object: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(request.body).map_err(|e| malformed(e.to_string()))?;
            for (k, v) in object {
                let v = match v {
                    serde_json::Value::String(s) => s,
                    serde_json::Value::Null => continue,
                    other => other.to_string(),
                };
                params.push((k, v));
            }
        } else {
            params.extend(
                FormParams::parse(request.body)
                    .map_err(|e| malformed(e.to_string()))?
                    .into_pairs(),
            );
        }
    }
    Ok(params)
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// Checks `sig` and `timestamp`: first, before anything in the call is believed.
fn verify(
    channel: &ChannelConfig<'_>,
    request: &WebhookRequest<'_>,
    params: &[(String, String)],
) -> Result<(), WebhookError> {
    let forbidden = |why: &str| WebhookError::Forbidden(why.to_owned());
    let secret = VonageSecrets::read(channel)
        .ok()
        .and_then(|s| s.signature_secret)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            forbidden("this channel cannot verify Vonage signatures: it has no signature secret")
        })?;
    let method = VonageSettings::read(channel)
        .ok()
        .and_then(|s| s.signature_method)
        .unwrap_or_default();
    let claimed = param(params, "sig").ok_or_else(|| forbidden("missing sig"))?;
    let expected = compute_signature(&secret, method, params);
    let same = !expected.is_empty()
        && claimed.len() == expected.len()
        && bool::from(
            claimed
                .to_ascii_lowercase()
                .as_bytes()
                .ct_eq(expected.as_bytes()),
        );
    if !same {
        return Err(forbidden("signature check failed"));
    }
    let at = param(params, "timestamp")
        .and_then(|t| t.parse::<i64>().ok())
        .ok_or_else(|| forbidden("a signed request needs its timestamp"))?;
    let skew = (request.now.0 / 1000).saturating_sub(at).abs();
    if skew > MAX_CLOCK_SKEW_SECS {
        return Err(forbidden(
            "the signed request is too old or from the future",
        ));
    }
    Ok(())
}

/// A delivery receipt's `status` as an entry status; `accepted` and `buffered` say nothing new.
fn receipt_status(status: &str) -> Option<EntryStatus> {
    match status {
        "delivered" => Some(EntryStatus::Delivered),
        "failed" | "rejected" | "expired" => Some(EntryStatus::Failed),
        _ => None,
    }
}

#[derive(Debug, Default)]
pub struct VonageAdapter;

impl ProviderAdapter for VonageAdapter {
    fn id(&self) -> Provider {
        PROVIDER
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            kinds: &[ChannelKind::Sms],
            files: false,
            components: false,
            read_receipts: false,
            care_window: false,
        }
    }

    fn check_settings(&self, channel: &ChannelConfig<'_>) -> Result<(), SettingsError> {
        VonageSettings::read(channel)?;
        VonageSecrets::read(channel)?;
        Ok(())
    }

    fn settings_form(&self, _kind: ChannelKind) -> crate::fields::SettingsForm {
        use crate::fields::{FieldKind, FieldSpec, SettingsForm};
        const SETTINGS: &[FieldSpec] = &[
            FieldSpec::new("public_url", FieldKind::Url, "channel_settings.help.vonage_public_url"),
            FieldSpec::new("signature_method", FieldKind::Enum, "channel_settings.help.signature_method")
                .choices(&["sha256", "sha512"])
                .default("sha256"),
            FieldSpec::new("base_url", FieldKind::Url, "channel_settings.help.base_url").default(DEFAULT_BASE_URL),
        ];
        const SECRETS: &[FieldSpec] = &[
            FieldSpec::new("api_key", FieldKind::Secret, "channel_settings.help.api_key").required(),
            FieldSpec::new("api_secret", FieldKind::Secret, "channel_settings.help.api_secret").required(),
            FieldSpec::new("signature_secret", FieldKind::Secret, "channel_settings.help.signature_secret"),
        ];
        SettingsForm { settings: SETTINGS, secrets: SECRETS }
    }

    fn prepare_send(
        &self,
        channel: &ChannelConfig<'_>,
        message: &Outgoing<'_>,
    ) -> Result<PreparedSend, SendRefusal> {
        let refusal = |e: SettingsError| SendRefusal::settings(&e);
        let settings = VonageSettings::read(channel).map_err(refusal)?;
        let secrets = VonageSecrets::read(channel).map_err(refusal)?;
        Ok(PreparedSend {
            request: build_request(&settings, &secrets, channel.address, message)
                .map_err(refusal)?,
            interpret: interpret_response,
            label: "vonage",
        })
    }

    fn webhook_routing(&self) -> WebhookRouting {
        WebhookRouting::PerChannel
    }

    fn handle_webhook(
        &self,
        channel: &ChannelConfig<'_>,
        request: &WebhookRequest<'_>,
    ) -> Result<Webhook, WebhookError> {
        let receipt = match request.action {
            None => false,
            Some("status") => true,
            Some(other) => {
                return Err(WebhookError::NotFound(format!(
                    "no Vonage webhook '{other}'"
                )));
            }
        };
        let params = params_of(request)?;
        verify(channel, request, &params)?;
        let need = |name: &str| {
            param(&params, name)
                .map(str::to_owned)
                .ok_or_else(|| WebhookError::Malformed(format!("missing {name}")))
        };
        let events = if receipt {
            let status = need("status")?;
            match receipt_status(&status) {
                None => Vec::new(),
                Some(entry_status) => {
                    let err = param(&params, "err-code").filter(|c| *c != "0");
                    vec![WebhookEvent::Status(StatusUpdate {
                        provider_message_id: need("messageId")?,
                        status: entry_status,
                        error_code: (entry_status == EntryStatus::Failed)
                            .then(|| err.map_or(ErrorCode::ServiceError, receipt_error)),
                        provider_error: err.map(str::to_owned),
                        recipient_opted_out: false,
                    })]
                }
            }
        } else {
            vec![WebhookEvent::Message(InboundMessage {
                provider_message_id: need("messageId")?,
                from: e164(&need("msisdn")?),
                to: e164(&need("to")?),
                text: param(&params, "text").unwrap_or_default().to_owned(),
                files: Vec::new(),
                profile_name: None,
                choice: None,
            })]
        };
        Ok(Webhook {
            events,
            reply: WebhookReply::empty(),
        })
    }
}

/// A `timestamp` parameter for `now`, as Vonage writes it.
pub fn timestamp_param(now: Timestamp) -> String {
    (now.0 / 1000).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn signature_sorts_and_sanitises_parameters() {
        let params = pairs(&[("text", "a=b&c"), ("msisdn", "447700900001"), ("sig", "x")]);
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"secret").unwrap();
        mac.update(b"&msisdn=447700900001&text=a_b_c");
        let expected = hex::encode(mac.finalize().into_bytes());
        assert_eq!(
            compute_signature("secret", SignatureMethod::Sha256, &params),
            expected
        );
        assert_eq!(
            compute_signature("secret", SignatureMethod::Sha512, &params).len(),
            128
        );
    }

    #[test]
    fn send_answers_map_to_the_catalogue() {
        let ok = HttpResponse::new(
            200,
            r#"{"message-count":"1","messages":[{"to":"447700900000","message-id":"0A0000000123ABCD1","status":"0"}]}"#,
        );
        assert!(matches!(interpret_response(&ok),
            SendOutcome::Accepted(a) if a.provider_message_id == "0A0000000123ABCD1"));
        let barred = HttpResponse::new(
            200,
            r#"{"message-count":"1","messages":[{"status":"7","error-text":"Number barred"}]}"#,
        );
        match interpret_response(&barred) {
            SendOutcome::Rejected(f) => {
                assert_eq!(
                    (f.code, f.provider_code.as_str()),
                    (ErrorCode::RecipientBlockedUs, "7")
                );
                assert_eq!(f.message.as_deref(), Some("Number barred"));
            }
            other => panic!("{other:?}"),
        }
        let throttled = HttpResponse::new(
            200,
            r#"{"messages":[{"status":"1","error-text":"Throttled"}]}"#,
        );
        assert!(matches!(
            interpret_response(&throttled),
            SendOutcome::Transient { .. }
        ));
        assert!(matches!(
            interpret_response(&HttpResponse::new(200, "<html>")),
            SendOutcome::Ambiguous { .. }
        ));
        assert_eq!(receipt_error("6"), ErrorCode::CarrierBlocked);
        assert_eq!(receipt_error("99"), ErrorCode::ServiceError);
    }

    #[test]
    fn webhooks_are_verified_before_they_are_read() {
        let settings = json!({});
        let secrets = json!({"signature_secret": "sh"});
        let channel = ChannelConfig {
            kind: ChannelKind::Sms,
            address: "+14155550100",
            number_type: None,
            settings: &settings,
            secrets: &secrets,
        };
        let now = Timestamp(1_700_000_000_000);
        let mut params = pairs(&[
            ("msisdn", "447700900001"),
            ("to", "14155550100"),
            ("messageId", "0A01"),
            ("text", "Hello"),
            ("type", "text"),
        ]);
        params.push(("timestamp".to_owned(), timestamp_param(now)));
        let sig = compute_signature("sh", SignatureMethod::Sha256, &params);
        params.push(("sig".to_owned(), sig));
        let query = form_encode(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let request = |query: &'_ str, now: Timestamp| {
            VonageAdapter.handle_webhook(
                &channel,
                &WebhookRequest {
                    method: WebhookMethod::Get,
                    action: None,
                    query,
                    headers: &[],
                    body: b"",
                    now,
                },
            )
        };
        let hook = request(&query, now).unwrap();
        assert_eq!(
            hook.events,
            vec![WebhookEvent::Message(InboundMessage {
                provider_message_id: "0A01".into(),
                from: "+447700900001".into(),
                to: "+14155550100".into(),
                text: "Hello".into(),
                files: vec![],
                profile_name: None,
                choice: None,
            })]
        );
        let tampered = query.replace("Hello", "Hullo");
        assert!(matches!(
            request(&tampered, now),
            Err(WebhookError::Forbidden(_))
        ));
        let later = Timestamp(now.0 + 301_000);
        assert!(matches!(
            request(&query, later),
            Err(WebhookError::Forbidden(_))
        ));
    }
}
