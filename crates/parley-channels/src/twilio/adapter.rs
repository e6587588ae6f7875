//! Twilio Programmable Messaging as a [`ProviderAdapter`]: typed settings, sends and media.

use parley_core::model::{ChannelKind, Provider};
use serde::Deserialize;

use crate::fields::{FieldKind, FieldSpec, MEDIA_HOSTS, SettingsForm};

use super::outbound::{self, OutboundMessage, Sender, TwilioAccount, TwilioAuth};
use super::{
    EMPTY_TWIML_RESPONSE, FormParams, SIGNATURE_HEADER, SIGNATURE_SETTINGS_HEADER,
    SignatureAlgorithm, StatusCallback, TWIML_CONTENT_TYPE, verify_form_request,
};
use crate::adapter::{
    Capabilities, ChannelConfig, InboundMessage, MediaFetch, Outgoing, PreparedSend,
    ProviderAdapter, SendRefusal, SettingsError, StatusUpdate, Webhook, WebhookError, WebhookEvent,
    WebhookMethod, WebhookReply, WebhookRequest, WebhookRouting, optional, read_section, required,
};
use crate::http::base_url;
use crate::media::{MediaHosts, TWILIO_API_HOSTS, TWILIO_STORAGE_HOSTS, media_hosts_setting};

/// `settings` of a Twilio channel. The object also holds the channel's behaviour, so unknown
/// keys are not refused here.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TwilioSettings {
    /// The API's base URL: [`outbound::DEFAULT_BASE_URL`] unless a test points it at a fake.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Send through a Messaging Service (`MG…`) rather than from the channel's address.
    #[serde(default)]
    pub messaging_service_sid: Option<String>,
    /// The URL Twilio calls for this channel (`…/webhooks/twilio/{channel}`): what Twilio signs,
    /// and with `/status` where status callbacks go.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Hosts besides Twilio's own that inbound media may be fetched from, without credentials
    /// (`["media.example.com", "*.cdn.example.com"]`; see [`crate::media::MediaHosts`]).
    #[serde(default)]
    pub media_hosts: Option<Vec<String>>,
}

/// `secrets` of a Twilio channel.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioSecrets {
    /// `AC…`.
    #[serde(default)]
    pub account_sid: Option<String>,
    #[serde(default)]
    pub auth_token: Option<String>,
}

impl TwilioSettings {
    pub fn read(channel: &ChannelConfig<'_>) -> Result<Self, SettingsError> {
        let s: Self = read_section("settings", channel.settings)?;
        if let Some(url) = optional(s.base_url.as_deref()) {
            base_url("base_url", url)
                .map_err(|e| SettingsError::new("settings.base_url", e.reason))?;
        }
        if let Some(url) = optional(s.public_url.as_deref()) {
            base_url("public_url", url)
                .map_err(|e| SettingsError::new("settings.public_url", e.reason))?;
        }
        media_hosts_setting(channel.settings)?;
        Ok(s)
    }

    /// The URL Twilio signs for status callbacks.
    pub fn status_url(&self) -> Option<String> {
        optional(self.public_url.as_deref()).map(|u| format!("{}/status", u.trim_end_matches('/')))
    }
}

impl TwilioSecrets {
    pub fn read(channel: &ChannelConfig<'_>) -> Result<Self, SettingsError> {
        read_section("secrets", channel.secrets)
    }

    /// The account SID and auth token, both required to call the API.
    pub fn credentials(&self) -> Result<(&str, &str), SettingsError> {
        Ok((
            required("secrets.account_sid", self.account_sid.as_deref())?,
            required("secrets.auth_token", self.auth_token.as_deref())?,
        ))
    }
}

#[derive(Debug, Default)]
pub struct TwilioAdapter;

impl ProviderAdapter for TwilioAdapter {
    fn id(&self) -> Provider {
        Provider::Twilio
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            kinds: &[ChannelKind::Sms],
            files: true,
            components: false,
            read_receipts: false,
            care_window: false,
        }
    }

    fn check_settings(&self, channel: &ChannelConfig<'_>) -> Result<(), SettingsError> {
        TwilioSettings::read(channel)?;
        TwilioSecrets::read(channel)?;
        Ok(())
    }

    fn settings_form(&self, _kind: ChannelKind) -> SettingsForm {
        const SETTINGS: &[FieldSpec] = &[
            FieldSpec::new("public_url", FieldKind::Url, "channel_settings.help.twilio_public_url")
                .example("https://parley.example.com/webhooks/twilio/…"),
            FieldSpec::new("messaging_service_sid", FieldKind::Text, "channel_settings.help.messaging_service_sid")
                .example("MG0123456789abcdef0123456789abcdef"),
            FieldSpec::new("base_url", FieldKind::Url, "channel_settings.help.base_url").default(outbound::DEFAULT_BASE_URL),
            MEDIA_HOSTS,
        ];
        const SECRETS: &[FieldSpec] = &[
            FieldSpec::new("account_sid", FieldKind::Secret, "channel_settings.help.account_sid")
                .required()
                .example("AC0123456789abcdef0123456789abcdef"),
            FieldSpec::new("auth_token", FieldKind::Secret, "channel_settings.help.auth_token").required(),
        ];
        SettingsForm { settings: SETTINGS, secrets: SECRETS }
    }

    /// `secrets.account_sid` and `secrets.auth_token`; `From` is the channel's address unless
    /// `settings.messaging_service_sid` names a Messaging Service; status callbacks go to
    /// `{settings.public_url}/status` (the webhook the server verifies).
    fn prepare_send(
        &self,
        channel: &ChannelConfig<'_>,
        message: &Outgoing<'_>,
    ) -> Result<PreparedSend, SendRefusal> {
        let settings = TwilioSettings::read(channel).map_err(|e| SendRefusal::settings(&e))?;
        let secrets = TwilioSecrets::read(channel).map_err(|e| SendRefusal::settings(&e))?;
        let (sid, token) = secrets
            .credentials()
            .map_err(|e| SendRefusal::settings(&e))?;
        let account = TwilioAccount {
            base_url: optional(settings.base_url.as_deref())
                .unwrap_or(outbound::DEFAULT_BASE_URL)
                .to_owned(),
            account_sid: sid.to_owned(),
            auth: TwilioAuth::AuthToken(token.to_owned()),
        };
        let sender = match optional(settings.messaging_service_sid.as_deref()) {
            Some(service) => Sender::MessagingService(service.to_owned()),
            None => Sender::From(channel.address.to_owned()),
        };
        let mut out = OutboundMessage::text(message.to, sender, message.body);
        out.media_urls = message.files.iter().map(|f| f.url.to_owned()).collect();
        out.status_callback = settings.status_url();
        Ok(PreparedSend {
            request: outbound::build_request(&account, &out)?,
            interpret: outbound::interpret_response,
            label: "twilio",
        })
    }

    /// `MediaUrlN` with the account's Basic credentials.
    fn media_fetch(&self, channel: &ChannelConfig<'_>, url: &str) -> Result<MediaFetch, String> {
        let secrets = TwilioSecrets::read(channel).map_err(|e| e.to_string())?;
        let (sid, token) = secrets.credentials().map_err(|_| {
            "the channel has no Twilio credentials to fetch the file with".to_owned()
        })?;
        crate::media::twilio_media_request(url, sid, token)
            .map(MediaFetch::File)
            .map_err(|e| e.to_string())
    }

    /// Twilio's API hosts with the credentials, its media storage without, the channel's
    /// `base_url` host as an API host, and `settings.media_hosts`.
    fn media_hosts(&self, channel: &ChannelConfig<'_>) -> Result<MediaHosts, SettingsError> {
        let settings = TwilioSettings::read(channel)?;
        Ok(MediaHosts::default()
            .provider_api(TWILIO_API_HOSTS)
            .provider_storage(TWILIO_STORAGE_HOSTS)
            .configured_api(optional(settings.base_url.as_deref()))
            .configured(media_hosts_setting(channel.settings)?))
    }

    fn webhook_routing(&self) -> WebhookRouting {
        WebhookRouting::PerChannel
    }

    /// `POST /webhooks/twilio/{channel}` (an inbound SMS or MMS) and `…/status` (a delivery
    /// status), each signed with `X-Twilio-Signature` over the URL Twilio called
    /// (`settings.public_url`, with `/status`) and the form, keyed by `secrets.auth_token`.
    fn handle_webhook(
        &self,
        channel: &ChannelConfig<'_>,
        request: &WebhookRequest<'_>,
    ) -> Result<Webhook, WebhookError> {
        if request.method != WebhookMethod::Post {
            return Err(WebhookError::NotFound(
                "Twilio webhooks are POSTs".to_owned(),
            ));
        }
        let url = match request.action {
            None => None,
            Some("status") => Some("status"),
            Some(other) => {
                return Err(WebhookError::NotFound(format!(
                    "no Twilio webhook '{other}'"
                )));
            }
        };
        let form = verify(channel, request, url.is_some())?;
        let malformed = |e: super::ParseError| WebhookError::Malformed(e.to_string());
        let events = if url.is_some() {
            let callback = StatusCallback::from_form(form).map_err(malformed)?;
            match callback.entry_status() {
                None => Vec::new(),
                Some(status) => {
                    let recipient_opted_out = callback.recipient_opted_out();
                    vec![WebhookEvent::Status(StatusUpdate {
                        status,
                        error_code: callback.error.as_ref().map(|e| e.code),
                        provider_error: callback.error.map(|e| e.provider_code),
                        recipient_opted_out,
                        provider_message_id: callback.message_sid,
                    })]
                }
            }
        } else {
            let message = super::InboundMessage::from_form(form).map_err(malformed)?;
            vec![WebhookEvent::Message(InboundMessage {
                // Twilio's WhatsApp button payloads are not read yet: a tap reads as its text.
                choice: None,
                profile_name: message
                    .extra
                    .iter()
                    .find(|(k, _)| k == "ProfileName")
                    .map(|(_, v)| v.clone()),
                provider_message_id: message.message_sid,
                from: message.from,
                to: message.to,
                text: message.body,
                files: message
                    .media
                    .into_iter()
                    .map(|m| (m.url, m.content_type))
                    .collect(),
            })]
        };
        Ok(Webhook {
            events,
            reply: WebhookReply {
                status: 200,
                content_type: TWIML_CONTENT_TYPE,
                body: EMPTY_TWIML_RESPONSE.to_owned(),
            },
        })
    }
}

/// Checks `X-Twilio-Signature` and returns the form it signs.
fn verify(
    channel: &ChannelConfig<'_>,
    request: &WebhookRequest<'_>,
    status: bool,
) -> Result<FormParams, WebhookError> {
    let forbidden = WebhookError::Forbidden;
    let token = TwilioSecrets::read(channel)
        .ok()
        .and_then(|s| s.auth_token)
        .filter(|t| !t.is_empty());
    let settings = TwilioSettings::read(channel).ok();
    let url = settings
        .as_ref()
        .and_then(|s| optional(s.public_url.as_deref()).map(str::to_owned));
    let (Some(token), Some(url)) = (token, url) else {
        return Err(forbidden(
            "this channel cannot verify Twilio signatures: its auth token or public URL is not configured"
                .to_owned(),
        ));
    };
    let url = if status {
        format!("{}/status", url.trim_end_matches('/'))
    } else {
        url
    };
    let signature = request
        .header(SIGNATURE_HEADER)
        .ok_or_else(|| forbidden("missing X-Twilio-Signature".to_owned()))?;
    let algorithm =
        SignatureAlgorithm::from_settings_header(request.header(SIGNATURE_SETTINGS_HEADER))
            .map_err(|e| forbidden(format!("signature settings: {e}")))?;
    verify_form_request(&token, &url, request.body, signature, algorithm)
        .map_err(|e| forbidden(format!("signature check failed: {e}")))
}
