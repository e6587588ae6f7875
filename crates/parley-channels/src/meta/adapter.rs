//! Meta (WhatsApp Cloud API and Messenger) as a [`ProviderAdapter`]: typed settings, sends and
//! media.

use parley_core::component::{self, Component, Format};
use parley_core::media::{MediaClass, class_of};
use parley_core::model::{ChannelKind, Provider};
use parley_core::window::{self, Composer, MessageForm, WindowQuery};
use serde::Deserialize;

use crate::fields::{FieldKind, FieldSpec, MEDIA_HOSTS, SettingsForm};

use super::messenger_send::{
    self, AttachmentKind, GenericElement, MessagingType, MessengerContent, MessengerOutbound,
    QuickReply, TemplateButton,
};
use super::send::{
    self as whatsapp_send, GraphEndpoint, Interactive, ListRow, ListSection, OutboundMediaKind,
    ReplyButton, Template, TemplateComponent, TemplateParameter, WhatsAppContent, WhatsAppOutbound,
    WhatsAppRecipient,
};
use crate::adapter::{
    Capabilities, ChannelConfig, MediaFetch, MediaLocation, Outgoing, PreparedSend,
    ProviderAdapter, SendRefusal, SettingsError, SharedWebhook, WebhookError, WebhookRequest,
    WebhookRouting, optional, read_section, required,
};
use crate::http::{base_url, path_segment};
use crate::media::{
    META_API_HOSTS, META_CDN_HOSTS, MediaHosts, media_hosts_setting, meta_download_request,
    meta_media_info_request, parse_meta_media_info,
};

/// `settings` of a Meta channel. The object also holds the channel's behaviour, so unknown keys
/// are not refused here.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MetaSettings {
    /// The Graph API version (`v21.0`): Meta retires old versions on a schedule.
    #[serde(default)]
    pub api_version: Option<String>,
    /// [`whatsapp_send::DEFAULT_BASE_URL`] unless a test points it at a fake.
    #[serde(default)]
    pub base_url: Option<String>,
    /// WhatsApp: the business phone number's id, which webhooks name in their metadata.
    #[serde(default)]
    pub phone_number_id: Option<String>,
    /// Hosts besides Meta's own that inbound media may be fetched from, without the token
    /// (see [`crate::media::MediaHosts`]).
    #[serde(default)]
    pub media_hosts: Option<Vec<String>>,
}

/// `secrets` of a Meta channel.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaSecrets {
    /// A system user token (WhatsApp) or a Page access token (Messenger).
    #[serde(default)]
    pub access_token: Option<String>,
    /// Signs webhooks (`X-Hub-Signature-256`).
    #[serde(default)]
    pub app_secret: Option<String>,
    /// Answers the subscription handshake (`hub.verify_token`).
    #[serde(default)]
    pub verify_token: Option<String>,
}

impl MetaSettings {
    pub fn read(channel: &ChannelConfig<'_>) -> Result<Self, SettingsError> {
        let s: Self = read_section("settings", channel.settings)?;
        if let Some(url) = optional(s.base_url.as_deref()) {
            base_url("base_url", url)
                .map_err(|e| SettingsError::new("settings.base_url", e.reason))?;
        }
        if let Some(v) = optional(s.api_version.as_deref()) {
            let digits = v.strip_prefix('v').unwrap_or_default();
            let ok = !digits.is_empty()
                && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                && digits.bytes().next().is_some_and(|b| b.is_ascii_digit());
            if !ok {
                return Err(SettingsError::new(
                    "settings.api_version",
                    format!("a Graph API version looks like 'v21.0', got '{v}'"),
                ));
            }
        }
        if let Some(id) = optional(s.phone_number_id.as_deref()) {
            path_segment("phone_number_id", id)
                .map_err(|e| SettingsError::new("settings.phone_number_id", e.reason))?;
            if channel.kind != ChannelKind::Whatsapp {
                return Err(SettingsError::new(
                    "settings.phone_number_id",
                    "only WhatsApp channels have a phone number id",
                ));
            }
        }
        media_hosts_setting(channel.settings)?;
        Ok(s)
    }

    /// Where and as whom Graph API calls go: needs `settings.api_version` and
    /// `secrets.access_token`.
    pub fn endpoint(&self, secrets: &MetaSecrets) -> Result<GraphEndpoint, SettingsError> {
        let token = required("secrets.access_token", secrets.access_token.as_deref())?;
        let version = required("settings.api_version", self.api_version.as_deref())?;
        Ok(GraphEndpoint {
            base_url: optional(self.base_url.as_deref())
                .unwrap_or(whatsapp_send::DEFAULT_BASE_URL)
                .to_owned(),
            api_version: version.to_owned(),
            access_token: token.to_owned(),
        })
    }
}

impl MetaSecrets {
    pub fn read(channel: &ChannelConfig<'_>) -> Result<Self, SettingsError> {
        read_section("secrets", channel.secrets)
    }
}

/// Settings and secrets of a channel, read for a call, with a refusal naming the field.
fn endpoint_of(
    channel: &ChannelConfig<'_>,
) -> Result<(MetaSettings, GraphEndpoint), SettingsError> {
    let settings = MetaSettings::read(channel)?;
    let secrets = MetaSecrets::read(channel)?;
    let endpoint = settings.endpoint(&secrets)?;
    Ok((settings, endpoint))
}

#[derive(Debug, Default)]
pub struct MetaAdapter;

impl ProviderAdapter for MetaAdapter {
    fn id(&self) -> Provider {
        Provider::Meta
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            kinds: &[ChannelKind::Whatsapp, ChannelKind::Messenger],
            files: true,
            components: true,
            read_receipts: true,
            care_window: true,
        }
    }

    /// Meta calls one URL per product (`/webhooks/meta/whatsapp`, `/webhooks/meta/messenger`)
    /// for every channel of an app, the body naming the channel ([`super::webhook`]).
    fn webhook_routing(&self) -> WebhookRouting {
        WebhookRouting::Shared
    }

    fn shared_webhook_kind(&self, product: &str) -> Option<ChannelKind> {
        super::webhook::product_kind(product)
    }

    fn handle_shared_webhook(
        &self,
        kind: ChannelKind,
        channels: &[ChannelConfig<'_>],
        request: &WebhookRequest<'_>,
    ) -> Result<SharedWebhook, WebhookError> {
        super::webhook::handle(kind, channels, request)
    }

    fn check_settings(&self, channel: &ChannelConfig<'_>) -> Result<(), SettingsError> {
        MetaSettings::read(channel)?;
        MetaSecrets::read(channel)?;
        Ok(())
    }

    /// A phone number id is WhatsApp's only.
    fn settings_form(&self, kind: ChannelKind) -> SettingsForm {
        const API_VERSION: FieldSpec =
            FieldSpec::new("api_version", FieldKind::Text, "channel_settings.help.api_version")
            .required()
            .example("v21.0");
        const BASE_URL: FieldSpec = FieldSpec::new("base_url", FieldKind::Url, "channel_settings.help.base_url")
            .default(whatsapp_send::DEFAULT_BASE_URL);
        const WHATSAPP: &[FieldSpec] = &[
            API_VERSION,
            FieldSpec::new("phone_number_id", FieldKind::Text, "channel_settings.help.phone_number_id")
                .required()
                .example("106540352242922"),
            BASE_URL,
            MEDIA_HOSTS,
        ];
        const MESSENGER: &[FieldSpec] = &[API_VERSION, BASE_URL, MEDIA_HOSTS];
        const SECRETS: &[FieldSpec] = &[
            FieldSpec::new("access_token", FieldKind::Secret, "channel_settings.help.access_token").required(),
            FieldSpec::new("app_secret", FieldKind::Secret, "channel_settings.help.app_secret").required(),
            FieldSpec::new("verify_token", FieldKind::Secret, "channel_settings.help.verify_token"),
        ];
        SettingsForm {
            settings: if kind == ChannelKind::Whatsapp { WHATSAPP } else { MESSENGER },
            secrets: SECRETS,
        }
    }

    /// WhatsApp Cloud API (`settings.phone_number_id`) or Messenger Send API (the page id is the
    /// channel's address), both with `secrets.access_token` and `settings.api_version`. Free-form
    /// messages only inside the window (`parley_core::window`). A WhatsApp message that carries a
    /// template goes as a template message with its values as body parameters, inside or outside
    /// the window. A component goes in the format [`component::choose_format`] picks for the
    /// channel (WhatsApp reply buttons, list or link button; Messenger quick replies, button or
    /// generic template); when that is Text, the body (the engine's text fallback) goes as any
    /// message. A file goes as media by link (its caption the body), on Messenger as an
    /// attachment. A template wins over a component, and a component over a file.
    fn prepare_send(
        &self,
        channel: &ChannelConfig<'_>,
        message: &Outgoing<'_>,
    ) -> Result<PreparedSend, SendRefusal> {
        let decision = window::decide(WindowQuery {
            kind: channel.kind,
            last_customer_message_at: message.last_customer_at,
            now: message.now,
            composer: Composer::from_actor(message.actor),
            form: if channel.kind == ChannelKind::Whatsapp && message.template.is_some() {
                MessageForm::ApprovedTemplate
            } else {
                MessageForm::FreeForm
            },
        })
        .map_err(|closed| SendRefusal::new(closed.error_code(), format!("not sent: {closed}")))?;
        let (settings, endpoint) = endpoint_of(channel).map_err(|e| SendRefusal::settings(&e))?;
        match channel.kind {
            ChannelKind::Whatsapp => {
                let phone_number_id = required(
                    "settings.phone_number_id",
                    settings.phone_number_id.as_deref(),
                )
                .map_err(|e| SendRefusal::settings(&e))?;
                // A business-scoped user id has a dot; anything else is a phone number (wa_id).
                let recipient = if message.to.contains('.') {
                    WhatsAppRecipient::UserId(message.to.to_owned())
                } else {
                    WhatsAppRecipient::Phone(message.to.to_owned())
                };
                let native = message
                    .component
                    .and_then(|c| whatsapp_component(c, self.capabilities().components));
                let content = match (&message.template, native, message.files.first()) {
                    (Some(t), _, _) => WhatsAppContent::Template(Template {
                        name: t.name.to_owned(),
                        language: t.language.to_owned(),
                        components: if t.parameters.is_empty() {
                            Vec::new()
                        } else {
                            vec![TemplateComponent::Body(
                                t.parameters.iter().map(TemplateParameter::text).collect(),
                            )]
                        },
                    }),
                    (None, Some(native), _) => native,
                    (None, None, Some(file)) => WhatsAppContent::Media {
                        kind: match class_of(file.content_type) {
                            Some(MediaClass::Image) => OutboundMediaKind::Image,
                            Some(MediaClass::Audio) => OutboundMediaKind::Audio,
                            Some(MediaClass::Video) => OutboundMediaKind::Video,
                            Some(MediaClass::Document) | None => OutboundMediaKind::Document,
                        },
                        link: file.url.to_owned(),
                        caption: (!message.body.trim().is_empty()).then(|| message.body.to_owned()),
                        filename: None,
                    },
                    (None, None, None) => WhatsAppContent::text(message.body),
                };
                let out = WhatsAppOutbound::new(recipient, content);
                Ok(PreparedSend {
                    request: whatsapp_send::build_request(&endpoint, phone_number_id, &out)?,
                    interpret: whatsapp_send::interpret_response,
                    label: "whatsapp",
                })
            }
            ChannelKind::Messenger => {
                let Some(messaging_type) = MessagingType::from_decision(decision) else {
                    return Err(SendRefusal::new(
                        parley_core::ErrorCode::WindowClosed,
                        "not sent: Messenger allows no free-form message now",
                    ));
                };
                let out = MessengerOutbound {
                    psid: message.to.to_owned(),
                    messaging_type,
                    content: match (
                        message
                            .component
                            .and_then(|c| messenger_component(c, self.capabilities().components)),
                        message.files.first(),
                    ) {
                        (Some(native), _) => native,
                        (None, Some(file)) => MessengerContent::Attachment {
                            kind: match class_of(file.content_type) {
                                Some(MediaClass::Image) => AttachmentKind::Image,
                                Some(MediaClass::Audio) => AttachmentKind::Audio,
                                Some(MediaClass::Video) => AttachmentKind::Video,
                                Some(MediaClass::Document) | None => AttachmentKind::File,
                            },
                            url: file.url.to_owned(),
                            is_reusable: false,
                        },
                        (None, None) => MessengerContent::Text(message.body.to_owned()),
                    },
                    metadata: None,
                };
                Ok(PreparedSend {
                    request: messenger_send::build_request(&endpoint, channel.address, &out)?,
                    interpret: messenger_send::interpret_response,
                    label: "messenger",
                })
            }
            ChannelKind::Sms | ChannelKind::Web => Err(SendRefusal::new(
                parley_core::ErrorCode::ServiceMisconfigured,
                format!("not sent: a {} channel cannot use Meta", channel.kind),
            )),
        }
    }

    fn prepare_signal(
        &self,
        channel: &ChannelConfig<'_>,
        to: &str,
        signal: super::signals::Signal<'_>,
    ) -> Result<Option<crate::http::HttpRequest>, SendRefusal> {
        let (settings, endpoint) = endpoint_of(channel).map_err(|e| SendRefusal::settings(&e))?;
        match channel.kind {
            ChannelKind::Whatsapp => {
                let phone_number_id = required(
                    "settings.phone_number_id",
                    settings.phone_number_id.as_deref(),
                )
                .map_err(|e| SendRefusal::settings(&e))?;
                Ok(super::signals::whatsapp_signal(
                    &endpoint,
                    phone_number_id,
                    signal,
                )?)
            }
            ChannelKind::Messenger => Ok(super::signals::messenger_signal(
                &endpoint,
                channel.address,
                to,
                signal,
            )?),
            ChannelKind::Sms | ChannelKind::Web => Ok(None),
        }
    }

    /// WhatsApp media ids are looked up first; Messenger attachment URLs are public links.
    fn media_fetch(&self, channel: &ChannelConfig<'_>, url: &str) -> Result<MediaFetch, String> {
        if channel.kind != ChannelKind::Whatsapp {
            return crate::media::download_request(url)
                .map(MediaFetch::File)
                .map_err(|e| e.to_string());
        }
        let (_, endpoint) = endpoint_of(channel).map_err(|e| format!("the channel's {e}"))?;
        meta_media_info_request(&endpoint, url)
            .map(MediaFetch::Lookup)
            .map_err(|e| e.to_string())
    }

    /// The Graph API and WhatsApp's media host with the token, Meta's CDNs without, the
    /// channel's `base_url` host as an API host, and `settings.media_hosts`.
    fn media_hosts(&self, channel: &ChannelConfig<'_>) -> Result<MediaHosts, SettingsError> {
        let settings = MetaSettings::read(channel)?;
        Ok(MediaHosts::default()
            .provider_api(META_API_HOSTS)
            .provider_storage(META_CDN_HOSTS)
            .configured_api(optional(settings.base_url.as_deref()))
            .configured(media_hosts_setting(channel.settings)?))
    }

    fn media_after_lookup(
        &self,
        channel: &ChannelConfig<'_>,
        answer: &[u8],
    ) -> Result<MediaLocation, String> {
        let (_, endpoint) = endpoint_of(channel).map_err(|e| format!("the channel's {e}"))?;
        let info = parse_meta_media_info(answer).map_err(|e| e.to_string())?;
        let request = meta_download_request(&endpoint, &info.url).map_err(|e| e.to_string())?;
        Ok(MediaLocation {
            request,
            content_type: info.mime_type,
        })
    }
}

/// A component as WhatsApp renders it natively, or `None` when its format is Text.
fn whatsapp_component(c: &Component, native: bool) -> Option<WhatsAppContent> {
    let body = c.text().to_owned();
    let interactive = match (
        component::choose_format(c, ChannelKind::Whatsapp, native),
        c,
    ) {
        (Format::Buttons, _) => Interactive::Buttons {
            body,
            buttons: c
                .choices()
                .iter()
                .map(|o| ReplyButton {
                    id: o.id.to_owned(),
                    title: o.title.to_owned(),
                })
                .collect(),
        },
        (Format::List, _) => {
            let button = component::list_button(c).to_owned();
            Interactive::List {
                body,
                // pywa titles every section; with one, its title repeats the button's label.
                sections: vec![ListSection {
                    title: Some(button.clone()),
                    rows: c
                        .choices()
                        .iter()
                        .map(|o| ListRow {
                            id: o.id.to_owned(),
                            title: o.title.to_owned(),
                            description: o.description.map(str::to_owned),
                        })
                        .collect(),
                }],
                button,
            }
        }
        (
            Format::RichLink,
            Component::Link {
                url,
                title,
                image_url,
                ..
            },
        ) => Interactive::CtaUrl {
            body,
            display_text: title.clone(),
            url: url.clone(),
            header_image: image_url.clone(),
        },
        _ => return None,
    };
    Some(WhatsAppContent::Interactive(interactive))
}

/// A component as Messenger renders it natively, or `None` when its format is Text.
fn messenger_component(c: &Component, native: bool) -> Option<MessengerContent> {
    let text = c.text().to_owned();
    let postback = |title: &str, id: &str| TemplateButton::Postback {
        title: title.to_owned(),
        payload: id.to_owned(),
    };
    Some(
        match (
            component::choose_format(c, ChannelKind::Messenger, native),
            c,
        ) {
            (Format::QuickReplies, _) => MessengerContent::QuickReplies {
                text,
                replies: c
                    .choices()
                    .iter()
                    .map(|o| QuickReply {
                        title: o.title.to_owned(),
                        payload: o.id.to_owned(),
                        image_url: o.image_url.map(str::to_owned),
                    })
                    .collect(),
            },
            (Format::Buttons, _) => MessengerContent::ButtonTemplate {
                text,
                buttons: c
                    .choices()
                    .iter()
                    .map(|o| postback(o.title, o.id))
                    .collect(),
            },
            // The generic template has no text of its own: a carousel is its cards.
            (Format::Carousel, _) => MessengerContent::GenericTemplate {
                elements: c
                    .choices()
                    .iter()
                    .map(|o| GenericElement {
                        title: o.title.to_owned(),
                        subtitle: o.description.map(str::to_owned),
                        image_url: o.image_url.map(str::to_owned),
                        buttons: vec![postback(component::card_button(c, o.title), o.id)],
                    })
                    .collect(),
            },
            (
                Format::RichLink,
                Component::Link {
                    url,
                    title,
                    image_url,
                    ..
                },
            ) => MessengerContent::GenericTemplate {
                elements: vec![GenericElement {
                    title: title.clone(),
                    subtitle: Some(text),
                    image_url: image_url.clone(),
                    buttons: vec![TemplateButton::WebUrl {
                        title: title.clone(),
                        url: url.clone(),
                    }],
                }],
            },
            _ => return None,
        },
    )
}

#[cfg(test)]
mod tests {
    use parley_core::Timestamp;
    use parley_core::component::{ComponentOption, Format};
    use parley_core::model::Actor;
    use serde_json::{Value, json};

    use super::*;
    use crate::adapter::OutgoingTemplate;

    fn question(n: usize, formats: Vec<Format>) -> Component {
        Component::Question {
            text: "Which store?".into(),
            options: (1..=n)
                .map(|i| ComponentOption {
                    id: format!("s{i}"),
                    title: format!("Store {i}"),
                    description: (i == 1).then(|| "Open till 9".to_owned()),
                    image_url: None,
                })
                .collect(),
            button: None,
            formats,
            options_from: None,
        }
    }

    fn link() -> Component {
        Component::Link {
            text: "Track your order".into(),
            url: "https://shop.example/t/1042".into(),
            title: "Track".into(),
            image_url: Some("https://cdn.example/parcel.png".into()),
            formats: vec![],
        }
    }

    /// The JSON body Meta would get for `component` on a channel of `kind`, the body being its
    /// text fallback as the engine fills it.
    fn sent(kind: ChannelKind, component: &Component, template: bool) -> Value {
        let (address, settings, to) = match kind {
            ChannelKind::Whatsapp => (
                "+15550783881",
                json!({"api_version": "v21.0", "phone_number_id": "106540352242922"}),
                "447400123456",
            ),
            _ => (
                "104885245713421",
                json!({"api_version": "v21.0"}),
                "6783451290871234",
            ),
        };
        let secrets = json!({"access_token": "EAAG"});
        let channel = ChannelConfig {
            kind,
            address,
            number_type: None,
            settings: &settings,
            secrets: &secrets,
        };
        let fallback = component.text_fallback();
        let now = Timestamp::from_millis(1_763_719_200_000);
        let message = Outgoing {
            to,
            body: &fallback,
            files: vec![],
            template: template.then_some(OutgoingTemplate {
                name: "order_update",
                language: "en_US",
                parameters: &[],
            }),
            actor: Actor::Bot,
            last_customer_at: Some(Timestamp::from_millis(now.millis() - 60_000)),
            now,
            component: Some(component),
        };
        let prepared = MetaAdapter.prepare_send(&channel, &message).unwrap();
        serde_json::from_slice(&prepared.request.body).unwrap()
    }

    proptest::proptest! {
        /// Whatever format `choose_format` picks, Meta's request builds: the core's capacities
        /// and the builders' checks agree.
        #[test]
        fn a_chosen_format_always_builds(
            text in "[a-z][a-z ]{0,700}",
            options in proptest::collection::vec(
                ("[a-zé][a-zé ]{0,30}", proptest::option::of("[a-z]{1,90}"),
                 proptest::option::of("https://cdn[.]example/[a-z]{1,8}")),
                1..16,
            ),
            button in proptest::option::of("[A-Za-z]{1,20}"),
            formats in proptest::collection::vec(
                proptest::sample::select(vec![
                    Format::Buttons, Format::List, Format::QuickReplies, Format::Carousel,
                    Format::Text,
                ]),
                0..4,
            ),
        ) {
            let c = Component::Question {
                text,
                options: options
                    .into_iter()
                    .enumerate()
                    .map(|(i, (title, description, image_url))| ComponentOption {
                        id: format!("o{i}"),
                        title,
                        description,
                        image_url,
                    })
                    .collect(),
                button,
                formats,
                options_from: None,
            };
            for kind in [ChannelKind::Whatsapp, ChannelKind::Messenger] {
                // A long text fallback is the engine's fit stage's to refuse (3004), not ours.
                if component::choose_format(&c, kind, true) != Format::Text {
                    // `sent` unwraps the prepared send.
                    let _ = sent(kind, &c, false);
                }
            }
        }
    }

    #[test]
    fn whatsapp_renders_the_chosen_format() {
        let buttons = sent(ChannelKind::Whatsapp, &question(2, vec![]), false);
        assert_eq!(buttons["type"], "interactive");
        assert_eq!(
            buttons["interactive"],
            json!({"type": "button", "body": {"text": "Which store?"}, "action": {"buttons": [
                {"type": "reply", "reply": {"id": "s1", "title": "Store 1"}},
                {"type": "reply", "reply": {"id": "s2", "title": "Store 2"}}
            ]}})
        );
        let list = sent(ChannelKind::Whatsapp, &question(4, vec![]), false);
        assert_eq!(list["interactive"]["type"], "list");
        assert_eq!(list["interactive"]["action"]["button"], "Options");
        assert_eq!(
            list["interactive"]["action"]["sections"][0]["rows"][0],
            json!({"id": "s1", "title": "Store 1", "description": "Open till 9"})
        );
        assert_eq!(
            list["interactive"]["action"]["sections"][0]["rows"]
                .as_array()
                .map(Vec::len),
            Some(4)
        );
        assert_eq!(
            sent(ChannelKind::Whatsapp, &link(), false)["interactive"],
            json!({"type": "cta_url",
                   "header": {"type": "image", "image": {"link": "https://cdn.example/parcel.png"}},
                   "body": {"text": "Track your order"},
                   "action": {"name": "cta_url", "parameters": {
                       "display_text": "Track", "url": "https://shop.example/t/1042"}}})
        );
        // Beyond a list's 10 rows: the numbered fallback, as text.
        let text = sent(ChannelKind::Whatsapp, &question(11, vec![]), false);
        assert_eq!(text["type"], "text");
        assert!(
            text["text"]["body"]
                .as_str()
                .is_some_and(|b| b.starts_with("Which store?\n1. Store 1 - Open till 9\n2."))
        );
        // A template wins: it is what may go outside the window.
        assert_eq!(
            sent(ChannelKind::Whatsapp, &question(2, vec![]), true)["type"],
            "template"
        );
    }

    #[test]
    fn messenger_renders_the_chosen_format() {
        let psid = json!({"id": "6783451290871234"});
        let quick = sent(ChannelKind::Messenger, &question(5, vec![]), false);
        assert_eq!(quick["recipient"], psid);
        assert_eq!(quick["message"]["text"], "Which store?");
        assert_eq!(
            quick["message"]["quick_replies"][4],
            json!({"content_type": "text", "title": "Store 5", "payload": "s5"})
        );
        let buttons = sent(ChannelKind::Messenger, &question(2, vec![]), false);
        assert_eq!(
            buttons["message"]["attachment"],
            json!({"type": "template", "payload": {"template_type": "button",
            "text": "Which store?", "buttons": [
                {"type": "postback", "title": "Store 1", "payload": "s1"},
                {"type": "postback", "title": "Store 2", "payload": "s2"}
            ]}})
        );
        let carousel = sent(
            ChannelKind::Messenger,
            &question(2, vec![Format::Carousel]),
            false,
        );
        assert_eq!(
            carousel["message"]["attachment"]["payload"]["elements"][0],
            json!({"title": "Store 1", "subtitle": "Open till 9", "buttons": [
                {"type": "postback", "title": "Store 1", "payload": "s1"}]})
        );
        assert_eq!(
            sent(ChannelKind::Messenger, &link(), false)["message"]["attachment"]["payload"],
            json!({"template_type": "generic", "elements": [{
                "title": "Track", "subtitle": "Track your order",
                "image_url": "https://cdn.example/parcel.png",
                "buttons": [{"type": "web_url", "url": "https://shop.example/t/1042", "title": "Track"}]
            }]})
        );
        // More than 13: the numbered fallback.
        let text = sent(ChannelKind::Messenger, &question(14, vec![]), false);
        assert!(text["message"]["attachment"].is_null());
        assert!(
            text["message"]["text"]
                .as_str()
                .is_some_and(|t| t.ends_with("\n14. Store 14"))
        );
    }
}
