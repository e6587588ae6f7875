//! The one seam between Parley and a provider: [`ProviderAdapter`]. The engine and the server ask
//! the adapter of a channel's provider (found in [`crate::registry`]) every provider question (is
//! this configuration valid, how is this message sent, how is this file fetched, what can this
//! provider carry), so no code outside this crate matches on a provider's name.
//!
//! Everything here is pure: an adapter turns a channel's configuration and a message into the
//! exact request to make and reads the answer; the engine owns the HTTP client, the SMPP links,
//! the simulator's recorder, the clock and the retries.

use parley_core::component::Component;
use parley_core::model::{Actor, ChannelKind, NumberType, Provider};
use parley_core::{ErrorCode, Timestamp};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::http::{BuildError, HttpRequest, HttpResponse, SendOutcome};

/// A channel as an adapter sees it: what the row says, without the database's bookkeeping.
#[derive(Debug, Clone, Copy)]
pub struct ChannelConfig<'a> {
    pub kind: ChannelKind,
    /// The sender: E.164 number, short code, page id or web slug.
    pub address: &'a str,
    pub number_type: Option<NumberType>,
    /// The channel's `settings` object. Provider settings share it with the channel's behaviour
    /// (keyword answers, hand-off), which is why provider settings structs ignore unknown keys.
    pub settings: &'a Value,
    /// The channel's `secrets` object: the provider's credentials only.
    pub secrets: &'a Value,
}

/// A channel's provider configuration that does not fit its typed settings, naming the field
/// (`settings.api_version`, `secrets.auth_token`) so a person can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SettingsError {
    pub field: String,
    pub message: String,
}

impl SettingsError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn missing(field: impl Into<String>) -> Self {
        Self::new(field, "is required")
    }
}

/// Reads one side (`settings` or `secrets`) of a channel's configuration into the provider's
/// typed struct. A missing or `null` object reads as an empty one, so a struct whose fields are
/// all optional accepts it. The error names the field at fault (`secrets.auth_token`), so a
/// person knows what to fix.
pub fn read_section<T: DeserializeOwned>(side: &str, value: &Value) -> Result<T, SettingsError> {
    let value = match value {
        Value::Null => Value::Object(serde_json::Map::new()),
        // serde would read a struct from an array too, by position.
        Value::Object(_) => value.clone(),
        _ => return Err(SettingsError::new(side, "must be an object")),
    };
    serde_json::from_value::<T>(value.clone()).map_err(|e| {
        let message = e.to_string();
        SettingsError::new(culprit::<T>(side, &value, &message), message)
    })
}

/// The field a refusal is about. serde names it for a missing or unknown field ("missing field
/// `auth_token`"), but not for a value of the wrong type; then the culprit is the key without
/// which the object reads (provider structs are all optional fields, so there is one).
fn culprit<T: DeserializeOwned>(side: &str, value: &Value, message: &str) -> String {
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|p| message.strip_prefix(p))
        .and_then(|rest| rest.split('`').next());
    if let Some(field) = named {
        return format!("{side}.{field}");
    }
    if let Value::Object(map) = value {
        for key in map.keys() {
            let mut without = map.clone();
            without.remove(key);
            if serde_json::from_value::<T>(Value::Object(without)).is_ok() {
                return format!("{side}.{key}");
            }
        }
    }
    side.to_owned()
}

/// A required text setting: present, a string, not blank. Returned trimmed.
pub fn required<'a>(field: &str, value: Option<&'a str>) -> Result<&'a str, SettingsError> {
    match value.map(str::trim) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(SettingsError::missing(field)),
    }
}

/// An optional text setting: blank counts as absent.
pub fn optional(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// How an adapter's messages leave. SMPP and the simulator are not HTTP: the engine keeps its
/// SMPP links and the simulator's recorder, and only asks the adapter which one applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendPath {
    /// [`ProviderAdapter::prepare_send`] builds the request, the engine's HTTP client sends it.
    Http,
    /// The engine's SMPP link for the channel submits it.
    SmppLink,
    /// The built-in simulator records it.
    Simulated,
    /// Parley itself is the network: the message is delivered by committing it, and the web
    /// chat's stream hub hands it to the visitor's open widgets (or their next replay).
    Native,
    /// This server cannot send through this provider (yet): the message fails with 0005.
    Unavailable,
}

/// What a provider can carry, declared once so the compose path and the dispatcher agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// The channel kinds the provider carries.
    pub kinds: &'static [ChannelKind],
    /// Whether Parley sends files through it. The types, sizes and counts a file may have are
    /// the channel kind's rules in `parley_core::media`.
    pub files: bool,
    /// Interactive components (buttons, lists) render natively; otherwise the numbered text
    /// fallback is used.
    pub components: bool,
    /// The provider reports that the recipient read a message.
    pub read_receipts: bool,
    /// Free-form messages only within the care window after the customer's last message
    /// (`parley_core::window`).
    pub care_window: bool,
}

impl Capabilities {
    pub fn carries(&self, kind: ChannelKind) -> bool {
        self.kinds.contains(&kind)
    }
}

/// A file of an outgoing message, by link.
#[derive(Debug, Clone, Copy)]
pub struct OutgoingFile<'a> {
    pub url: &'a str,
    pub content_type: &'a str,
}

/// An approved template an outgoing message is sent as (WhatsApp).
#[derive(Debug, Clone, Copy)]
pub struct OutgoingTemplate<'a> {
    pub name: &'a str,
    pub language: &'a str,
    pub parameters: &'a [String],
}

/// One message to send, as the outbox holds it.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    /// The recipient's platform key (E.164, PSID, WhatsApp user id).
    pub to: &'a str,
    pub body: &'a str,
    pub files: Vec<OutgoingFile<'a>>,
    pub template: Option<OutgoingTemplate<'a>>,
    /// Who wrote it: care windows treat a person differently from automation.
    pub actor: Actor,
    /// When the customer last wrote in this session.
    pub last_customer_at: Option<Timestamp>,
    pub now: Timestamp,
    /// A component to render natively where the channel can. `body` then holds its text
    /// fallback ([`Component::text_fallback`]), which is what goes when the adapter picks
    /// [`parley_core::component::Format::Text`] ([`parley_core::component::choose_format`]).
    pub component: Option<&'a Component>,
}

/// A send ready for the engine's HTTP client.
#[derive(Debug, Clone)]
pub struct PreparedSend {
    pub request: HttpRequest,
    /// What the provider's answer means.
    pub interpret: fn(&HttpResponse) -> SendOutcome,
    /// The name metrics count this send under (`whatsapp` and `messenger` are both Meta).
    pub label: &'static str,
}

/// A message that cannot be sent as it is, with the catalogue code it fails with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendRefusal {
    pub code: ErrorCode,
    pub reason: String,
}

impl SendRefusal {
    pub fn new(code: ErrorCode, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }

    /// A channel configured wrongly for sending: 0003, naming what is wrong.
    pub fn settings(e: &SettingsError) -> Self {
        Self::new(
            ErrorCode::ServiceMisconfigured,
            format!("not sent: the channel's {e}"),
        )
    }
}

impl From<BuildError> for SendRefusal {
    fn from(e: BuildError) -> Self {
        Self::new(e.code, format!("not sent: {e}"))
    }
}

/// The first request of a media download.
#[derive(Debug, Clone)]
pub enum MediaFetch {
    /// The answer is the file (or a redirect to it).
    File(HttpRequest),
    /// The answer says where the file is: hand its body to
    /// [`ProviderAdapter::media_after_lookup`] (WhatsApp's media ids).
    Lookup(HttpRequest),
}

/// The file's request after a lookup, and the content type the lookup stated.
#[derive(Debug, Clone)]
pub struct MediaLocation {
    pub request: HttpRequest,
    pub content_type: Option<String>,
}

/// How a provider's webhooks find their channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookRouting {
    /// The provider sends no webhooks to Parley (SMPP receives on its bind, the simulator
    /// through its page).
    None,
    /// `/webhooks/{provider}/{channel}[/{action}]`: the path names the channel, handled by
    /// [`ProviderAdapter::handle_webhook`].
    PerChannel,
    /// `/webhooks/{provider}/{product}`: one URL per product shared by many channels, the body
    /// naming the channel of each event (Meta's phone number ids and page ids), handled by
    /// [`ProviderAdapter::handle_shared_webhook`].
    Shared,
}

/// An HTTP method of a webhook call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookMethod {
    Get,
    Post,
}

/// One webhook call as it arrived, before anything in it is believed.
#[derive(Debug, Clone)]
pub struct WebhookRequest<'a> {
    pub method: WebhookMethod,
    /// What follows the channel in the path (`status` in `/webhooks/twilio/{channel}/status`).
    pub action: Option<&'a str>,
    /// The raw query string, without `?`.
    pub query: &'a str,
    /// Header names in lower case.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
    /// When it arrived: signed requests carry a timestamp checked against it.
    pub now: Timestamp,
}

impl WebhookRequest<'_> {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A customer's message, provider-neutral.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMessage {
    /// The provider's id for the message: the dedupe key.
    pub provider_message_id: String,
    pub from: String,
    pub to: String,
    pub text: String,
    /// Files by location (a URL or a provider's media id) and content type.
    pub files: Vec<(String, String)>,
    pub profile_name: Option<String>,
    /// The id of the option the customer tapped (a WhatsApp reply button or list row, a
    /// template's quick-reply payload, a Messenger quick reply or postback). `text` stays what
    /// the customer saw: the option's title.
    pub choice: Option<String>,
}

/// A delivery status for a message Parley sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusUpdate {
    pub provider_message_id: String,
    pub status: parley_core::model::EntryStatus,
    pub error_code: Option<ErrorCode>,
    /// The provider's own code, kept beside the catalogue's.
    pub provider_error: Option<String>,
    /// The carrier reports the recipient unsubscribed.
    pub recipient_opted_out: bool,
}

/// What a verified webhook said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookEvent {
    Message(InboundMessage),
    Status(StatusUpdate),
}

/// What a webhook call is answered with once its events are durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookReply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl WebhookReply {
    /// `200` with an empty body.
    pub fn empty() -> Self {
        Self {
            status: 200,
            content_type: "text/plain; charset=utf-8",
            body: String::new(),
        }
    }
}

/// A verified and parsed webhook call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub events: Vec<WebhookEvent>,
    pub reply: WebhookReply,
}

/// An event of a shared webhook and the channel it is for: an index into the channels the call
/// was checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutedEvent {
    pub channel: usize,
    pub event: WebhookEvent,
}

/// A verified and parsed call of a shared webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedWebhook {
    pub events: Vec<RoutedEvent>,
    /// Channel addresses the body names that no channel has (a number moved to another
    /// server, say). Their events are dropped, not refused: the provider would retry forever.
    pub unrouted: Vec<String>,
    pub reply: WebhookReply,
}

/// Why a webhook call is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// Unsigned, wrongly signed, or the channel cannot check signatures: 403.
    #[error("{0}")]
    Forbidden(String),
    /// Signed, but not something this webhook understands: 400.
    #[error("{0}")]
    Malformed(String),
    /// No such webhook (an unknown action or method): 404.
    #[error("{0}")]
    NotFound(String),
}

/// A provider: its configuration, how it sends, how its files are fetched, and what it carries.
/// Object-safe: the registry holds `Box<dyn ProviderAdapter>`.
pub trait ProviderAdapter: Send + Sync + std::fmt::Debug {
    /// The provider's name in channel rows, the API and webhook paths.
    fn id(&self) -> Provider;

    fn capabilities(&self) -> Capabilities;

    /// Checks a channel's provider configuration against the adapter's typed settings and
    /// secrets, when the channel is created, replaced or applied.
    fn check_settings(&self, channel: &ChannelConfig<'_>) -> Result<(), SettingsError>;

    /// The fields of `settings` and `secrets` for a channel of `kind`, for the admin's form
    /// (held to the typed structs [`Self::check_settings`] reads by a test in [`crate::registry`]).
    fn settings_form(&self, kind: ChannelKind) -> crate::fields::SettingsForm;

    fn send_path(&self) -> SendPath {
        SendPath::Http
    }

    /// Whether the provider honours an idempotency key on sends, so that a resend after a crash
    /// (the same entry, the same key) reaches the customer once. The key is the entry's id. Of
    /// our providers only the simulator does (one record per entry); Twilio, Meta and Vonage
    /// document no such key, so their resends are duplicates (see `docs/delivery.md`).
    fn idempotency_key(&self) -> bool {
        false
    }

    /// The request that sends `message` on `channel` (for [`SendPath::Http`] adapters).
    fn prepare_send(
        &self,
        _channel: &ChannelConfig<'_>,
        _message: &Outgoing<'_>,
    ) -> Result<PreparedSend, SendRefusal> {
        Err(SendRefusal::new(
            ErrorCode::ChannelUnavailable,
            format!(
                "sending through {} is not available on this server yet",
                self.id()
            ),
        ))
    }

    /// A read receipt or typing indicator for the customer `to` (their platform key), or `None`
    /// when the provider has no such thing. Sent fire-and-forget by the engine.
    fn prepare_signal(
        &self,
        _channel: &ChannelConfig<'_>,
        _to: &str,
        _signal: crate::meta::signals::Signal<'_>,
    ) -> Result<Option<crate::http::HttpRequest>, SendRefusal> {
        Ok(None)
    }

    /// The first request fetching a customer's file `url` (what the inbound webhook gave: a
    /// link, or a provider's media id). By default a plain download of a public link.
    fn media_fetch(&self, _channel: &ChannelConfig<'_>, url: &str) -> Result<MediaFetch, String> {
        crate::media::download_request(url)
            .map(MediaFetch::File)
            .map_err(|e| e.to_string())
    }

    /// Where this channel's media fetches may go, and which of those hosts may receive its
    /// credentials (see [`crate::media::MediaHosts`]). By default only the hosts of the
    /// channel's own `settings.media_hosts`, without credentials.
    fn media_hosts(
        &self,
        channel: &ChannelConfig<'_>,
    ) -> Result<crate::media::MediaHosts, SettingsError> {
        Ok(crate::media::MediaHosts::default()
            .configured(crate::media::media_hosts_setting(channel.settings)?))
    }

    /// After a [`MediaFetch::Lookup`]: where the file is, from the lookup's answer.
    fn media_after_lookup(
        &self,
        _channel: &ChannelConfig<'_>,
        _answer: &[u8],
    ) -> Result<MediaLocation, String> {
        Err(format!("the {} provider has no media lookups", self.id()))
    }

    fn webhook_routing(&self) -> WebhookRouting {
        WebhookRouting::None
    }

    /// Verifies a [`WebhookRouting::PerChannel`] webhook call for `channel` (the signature first,
    /// before anything in the body is believed) and parses it into events.
    fn handle_webhook(
        &self,
        _channel: &ChannelConfig<'_>,
        _request: &WebhookRequest<'_>,
    ) -> Result<Webhook, WebhookError> {
        Err(WebhookError::NotFound(format!(
            "the {} provider takes no webhooks here",
            self.id()
        )))
    }

    /// For [`WebhookRouting::Shared`]: the kind of the channels that share
    /// `/webhooks/{provider}/{product}`, or `None` when the provider has no such product.
    fn shared_webhook_kind(&self, _product: &str) -> Option<ChannelKind> {
        None
    }

    /// Verifies a [`WebhookRouting::Shared`] webhook call and parses it into events, each routed
    /// to the channel it names. `channels` are all the provider's channels of `kind`: the
    /// adapter decides which of them the body speaks for, and checks the signature against
    /// their secrets before anything in the body is believed.
    fn handle_shared_webhook(
        &self,
        _kind: ChannelKind,
        _channels: &[ChannelConfig<'_>],
        _request: &WebhookRequest<'_>,
    ) -> Result<SharedWebhook, WebhookError> {
        Err(WebhookError::NotFound(format!(
            "the {} provider takes no shared webhooks",
            self.id()
        )))
    }
}
