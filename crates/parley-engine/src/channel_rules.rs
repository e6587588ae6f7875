//! A channel's behaviour as the pipelines need it: its keyword configuration assembled from the
//! keyword sets, its consent level and number type as a [`ChannelProfile`], and the behaviour
//! settings (HELP hand-off, session clocks, contact linking, default context) read from the
//! channel's settings. Built once per channel per batch.

use parley_channels::ProviderAdapter;
use parley_channels::adapter::ChannelConfig;
use parley_core::keywords::{
    ChannelProfile, KeywordConfig, Language, LanguageKeywords, ResponseKind,
};
use parley_core::model::SessionContext;
use parley_core::session::{CaseHandoff, SessionPolicy};
use parley_store::{Channel, KeywordSet, Store, StoreError};
use serde::Deserialize;
use serde_json::Value;

/// The channel as its provider's adapter sees it.
pub fn adapter_view(channel: &Channel) -> ChannelConfig<'_> {
    ChannelConfig {
        kind: channel.kind,
        address: &channel.address,
        number_type: channel.number_type,
        settings: &channel.settings,
        secrets: &channel.secrets,
    }
}

/// The adapter of the channel's provider; `None` for a provider this build does not know (a row
/// written by a newer build, or by hand).
pub fn adapter_of(channel: &Channel) -> Option<&'static dyn ProviderAdapter> {
    parley_channels::providers().get(&channel.provider)
}

/// How a customer's messaging user is linked to a contact (MU-05..07): `off`, `match`,
/// `match_or_create`, or the rules spelled out (`{by_phone, by_email, create_when_missing}`). The
/// inbound pipeline and the API's link call both follow it.
pub use parley_core::crm::ContactMatching as ContactLinking;

fn service() -> SessionContext {
    SessionContext::Service
}

/// The behaviour keys of a channel's `settings` object; provider keys beside them are ignored here.
#[derive(Debug, Clone, Deserialize)]
pub struct ChannelBehaviour {
    /// Language of prompts when neither a keyword nor the customer's locale picks one.
    #[serde(default)]
    pub default_language: Option<String>,
    /// Open a case and route to a person on HELP, a keyword, or any non-keyword reply.
    #[serde(default)]
    pub case_handoff: Option<CaseHandoff>,
    #[serde(default)]
    pub session_policy: SessionPolicy,
    #[serde(default)]
    pub contact_linking: ContactLinking,
    /// The context a customer's message opens (WhatsApp unified messaging: service by default).
    #[serde(default = "service")]
    pub default_context: SessionContext,
    /// The End Conversation auto-response, sent when an agent ends a conversation.
    #[serde(default)]
    pub end_conversation_reply: Option<String>,
    /// Opening hours, for routing rules' `within_business_hours` (absent: always open).
    #[serde(default)]
    pub business_hours: Option<parley_core::routing::BusinessHours>,
    /// Where customers get help (a toll-free number, support email or web address), named in the
    /// default help response of a channel with no keyword sets (CO-16).
    #[serde(default)]
    pub help_contact: Option<String>,
    /// The flows this channel starts (issue 12).
    #[serde(default)]
    pub flows: ChannelFlows,
    /// Automatic replies (CO-20), each a text per language.
    #[serde(default)]
    pub auto_replies: AutoReplies,
    /// Notifications this channel sends when a case closes, a session ends or a consent changes
    /// (issue 13; [`crate::notify_triggers`]).
    #[serde(default)]
    pub notification_triggers: Vec<NotificationTrigger>,
}

/// One notification trigger: on `on`, send `template` to the person the event concerns.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationTrigger {
    pub on: parley_core::notify_triggers::TriggerOn,
    /// A template of this channel, by name.
    pub template: String,
    /// The template's language; without it, the channel's default language, else the template's
    /// only (or first) approved language.
    #[serde(default)]
    pub language: Option<String>,
    /// The placeholders' values in order, each a literal or a `{{field}}` (as
    /// `POST /api/v1/notifications` takes them); without it, the template's merge fields.
    #[serde(default)]
    pub parameters: Option<Vec<String>>,
    /// For `consent_changed`: the statuses that fire it (empty: every change).
    #[serde(default)]
    pub consent: Vec<parley_core::notify_triggers::ConsentFilter>,
}

impl ChannelBehaviour {
    /// The save-time rule of the triggers: each names a template of the channel (`templates`:
    /// name and language of every template it has).
    pub fn check_triggers(&self, templates: &[(String, String)]) -> Result<(), String> {
        use parley_core::notify_triggers::TriggerOn;
        for (i, t) in self.notification_triggers.iter().enumerate() {
            let field = format!("settings.notification_triggers[{i}]");
            let name = t.template.trim();
            let found = templates.iter().any(|(n, l)| {
                n == name && t.language.as_deref().is_none_or(|want| want.trim() == l)
            });
            if !found {
                let lang = t
                    .language
                    .as_deref()
                    .map(|l| format!(" ({l})"))
                    .unwrap_or_default();
                return Err(format!(
                    "{field}.template: '{name}'{lang} is not a template of this channel (create the template first)"
                ));
            }
            if !t.consent.is_empty() && t.on != TriggerOn::ConsentChanged {
                return Err(format!(
                    "{field}.consent: only a consent_changed trigger filters by consent"
                ));
            }
        }
        Ok(())
    }
}

/// The flows a channel starts, by name. Compliance keywords always come first: none of these
/// sees STOP, HELP or START.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelFlows {
    /// The bot of new service conversations: it answers the first message (so the conversation
    /// acknowledgment is not sent, BOT-02) and hands off to people when it must.
    #[serde(default)]
    pub bot: Option<String>,
    /// The flow of new conversations outside business hours (BOT-03); without it, the
    /// after-hours reply is sent and the conversation waits for people.
    #[serde(default)]
    pub after_hours: Option<String>,
    /// The marketing journey of new conversations when the channel's default context is
    /// marketing (CMP-13).
    #[serde(default)]
    pub journey: Option<String>,
    /// Marketing keywords: a message that is exactly one of them (folded like every keyword)
    /// starts its flow in a new conversation ("coupon").
    #[serde(default)]
    pub keywords: std::collections::BTreeMap<String, String>,
    /// Whether a marketing keyword may move a customer whose last service conversation is over
    /// back to marketing (CMP-15 a: "Allow reserved keywords").
    #[serde(default = "yes")]
    pub allow_reserved_keywords: bool,
}

fn yes() -> bool {
    true
}

impl ChannelFlows {
    /// Every flow name this channel refers to.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.bot
            .iter()
            .chain(&self.after_hours)
            .chain(&self.journey)
            .chain(self.keywords.values())
            .map(String::as_str)
    }
}

/// The automatic replies of CO-20. Each is one text for every language, or texts by language
/// (`{"en": "...", "fr": "..."}`), picked by the customer's language, then the channel's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct AutoReplies {
    /// The answer to the first message of a new conversation for people (after the opt-in
    /// confirmation where one is required); not sent when a bot answers.
    #[serde(default)]
    pub acknowledgment: Option<Localized>,
    /// Sent when an agent joins (accepts) the conversation.
    #[serde(default)]
    pub start_conversation: Option<Localized>,
    /// Sent when an agent ends the conversation.
    #[serde(default)]
    pub end_conversation: Option<Localized>,
    /// Sent when the conversation is transferred to another agent, queue or flow.
    #[serde(default)]
    pub transfer: Option<Localized>,
    /// Sent to a new conversation outside business hours when no after-hours flow is set.
    #[serde(default)]
    pub after_hours: Option<Localized>,
}

/// A text for every language, or one per language.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(untagged)]
pub enum Localized {
    One(String),
    PerLanguage(std::collections::BTreeMap<String, String>),
}

impl Localized {
    /// The text for `language` (or its primary subtag), else for `fallback`, else the first.
    pub fn pick(&self, language: Option<&str>, fallback: Option<&str>) -> Option<&str> {
        let texts = match self {
            Self::One(t) => return Some(t.as_str()).filter(|t| !t.trim().is_empty()),
            Self::PerLanguage(m) => m,
        };
        let find = |lang: &str| {
            let primary = lang.split(['-', '_']).next().unwrap_or(lang);
            texts
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(lang))
                .or_else(|| texts.iter().find(|(k, _)| k.eq_ignore_ascii_case(primary)))
                .map(|(_, v)| v.as_str())
        };
        language
            .and_then(find)
            .or_else(|| fallback.and_then(find))
            .or_else(|| texts.values().next().map(String::as_str))
            .filter(|t| !t.trim().is_empty())
    }
}

impl ChannelBehaviour {
    /// An automatic reply for a customer, in their language.
    pub fn auto_reply<'a>(
        &'a self,
        which: &'a Option<Localized>,
        locale: Option<&str>,
    ) -> Option<&'a str> {
        which
            .as_ref()?
            .pick(locale, self.default_language.as_deref())
    }
}

impl Default for ChannelBehaviour {
    fn default() -> Self {
        Self {
            default_language: None,
            case_handoff: None,
            session_policy: SessionPolicy::default(),
            contact_linking: ContactLinking::default(),
            default_context: SessionContext::Service,
            end_conversation_reply: None,
            business_hours: None,
            help_contact: None,
            flows: ChannelFlows::default(),
            auto_replies: AutoReplies::default(),
            notification_triggers: Vec::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("channel settings: {0}")]
    Settings(String),
    #[error("keyword set '{language}': {message}")]
    KeywordSet { language: String, message: String },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Everything the rules need to know about one channel.
#[derive(Debug, Clone)]
pub struct ChannelRules {
    pub channel: Channel,
    pub profile: ChannelProfile,
    pub keywords: KeywordConfig,
    pub behaviour: ChannelBehaviour,
}

impl ChannelRules {
    /// The rules with what translators wrote laid over the configuration's own texts.
    pub async fn load(store: &Store, channel: Channel) -> Result<Self, RulesError> {
        let sets = store.keyword_sets(channel.id).await?;
        let mut rules = Self::build(channel, &sets)?;
        let owner = rules.channel.id.to_string();
        let responses = store.translations_of(KEYWORD_RESPONSE, &owner).await?;
        apply_keyword_translations(&mut rules.keywords, &responses);
        let replies = store.translations_of(AUTO_REPLY, &owner).await?;
        apply_reply_translations(&mut rules.behaviour.auto_replies, &replies);
        Ok(rules)
    }

    /// Assembles and validates the rules from a channel and its keyword sets.
    pub fn build(channel: Channel, sets: &[KeywordSet]) -> Result<Self, RulesError> {
        let behaviour = behaviour_of(&channel.settings)?;
        let profile = ChannelProfile {
            kind: channel.kind,
            number_type: channel.number_type,
            country: channel.country.clone(),
            provider_keyword: channel.provider_keyword.clone(),
            required_level: channel.consent_level,
        };
        let sections = sets
            .iter()
            .map(|k| language_section(&k.language, &k.config))
            .collect::<Result<Vec<_>, _>>()?;
        let keywords = keyword_config(&channel, &behaviour, sections);
        Ok(Self {
            channel,
            profile,
            keywords,
            behaviour,
        })
    }

    /// Every save-time rule: keyword lists (one list per keyword, short-code response lengths,
    /// required lists) and the hand-off configuration.
    pub fn validate(&self) -> Result<(), RulesError> {
        self.keywords
            .validate(&self.profile)
            .map_err(|e| RulesError::Invalid(e.to_string()))?;
        if let Some(h) = &self.behaviour.case_handoff {
            parley_core::session::validate_handoff(h, &self.keywords, &self.profile)
                .map_err(|e| RulesError::Invalid(e.to_string()))?;
        }
        if let Some(hours) = &self.behaviour.business_hours {
            hours.validate().map_err(|errors| {
                RulesError::Invalid(format!(
                    "business_hours: {}",
                    errors
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                ))
            })?;
        }
        Ok(())
    }
}

/// Translation kind of a channel's keyword responses (key: the response kind).
pub const KEYWORD_RESPONSE: &str = "keyword_response";
/// Translation kind of a channel's automatic replies (key: the reply's setting name).
pub const AUTO_REPLY: &str = "auto_reply";

/// The keyword responses a translator may write, by key.
pub const TRANSLATABLE_RESPONSES: &[ResponseKind] = &[
    ResponseKind::OptInPrompt,
    ResponseKind::DoubleOptInPrompt,
    ResponseKind::OptInConfirmation,
    ResponseKind::OptOutConfirmation,
    ResponseKind::HelpResponse,
];

/// The automatic replies a translator may write, by setting name.
pub const TRANSLATABLE_REPLIES: &[&str] = &[
    "acknowledgment",
    "start_conversation",
    "end_conversation",
    "transfer",
    "after_hours",
];

/// Translated keyword responses replace the configured text of their language's section; a
/// language the channel has no section for gets one without keywords, so a customer whose locale
/// it is is answered in it.
pub fn apply_keyword_translations(config: &mut KeywordConfig, rows: &[parley_store::Translation]) {
    for row in rows {
        let Ok(kind) = row.key.parse::<ResponseKind>() else {
            continue;
        };
        let language = Language::new(&row.locale);
        let index = match config
            .languages
            .iter()
            .position(|s| s.language.primary() == language.primary())
        {
            Some(i) => i,
            None => {
                config.languages.push(LanguageKeywords::new(language));
                config.languages.len() - 1
            }
        };
        let Some(section) = config.languages.get_mut(index) else {
            continue;
        };
        let slot = match kind {
            ResponseKind::OptInPrompt => &mut section.responses.opt_in_prompt,
            ResponseKind::DoubleOptInPrompt => &mut section.responses.double_opt_in_prompt,
            ResponseKind::OptInConfirmation => &mut section.responses.opt_in_confirmation,
            ResponseKind::OptOutConfirmation => &mut section.responses.opt_out_confirmation,
            ResponseKind::HelpResponse => &mut section.responses.help,
            ResponseKind::CustomResponse | ResponseKind::HandoffReply => continue,
        };
        *slot = Some(row.text.clone());
    }
}

/// The automatic reply called `name` in the settings.
pub fn reply_slot<'a>(
    replies: &'a mut AutoReplies,
    name: &str,
) -> Option<&'a mut Option<Localized>> {
    Some(match name {
        "acknowledgment" => &mut replies.acknowledgment,
        "start_conversation" => &mut replies.start_conversation,
        "end_conversation" => &mut replies.end_conversation,
        "transfer" => &mut replies.transfer,
        "after_hours" => &mut replies.after_hours,
        _ => return None,
    })
}

/// Translated automatic replies join the configured texts as one more language. A reply the
/// channel does not send at all stays unsent: translating must not switch a reply on.
pub fn apply_reply_translations(replies: &mut AutoReplies, rows: &[parley_store::Translation]) {
    for row in rows {
        let Some(Some(reply)) = reply_slot(replies, &row.key) else {
            continue;
        };
        let mut texts = match std::mem::replace(reply, Localized::One(String::new())) {
            Localized::PerLanguage(m) => m,
            // One text for every language: it stays the answer for the other languages.
            Localized::One(t) => std::iter::once(("*".to_owned(), t)).collect(),
        };
        texts.insert(row.locale.clone(), row.text.clone());
        *reply = Localized::PerLanguage(texts);
    }
}

/// The channel's behaviour with translated automatic replies, for the paths that read the
/// behaviour without the keyword rules.
pub async fn translated_behaviour(
    store: &Store,
    channel: &Channel,
) -> Result<ChannelBehaviour, RulesError> {
    let mut behaviour = behaviour_of(&channel.settings)?;
    let rows = store
        .translations_of(AUTO_REPLY, &channel.id.to_string())
        .await?;
    apply_reply_translations(&mut behaviour.auto_replies, &rows);
    Ok(behaviour)
}

pub fn behaviour_of(settings: &Value) -> Result<ChannelBehaviour, RulesError> {
    #[derive(Deserialize)]
    struct Keys {
        #[serde(flatten)]
        behaviour: ChannelBehaviour,
    }
    if settings.is_null() {
        return Ok(ChannelBehaviour::default());
    }
    serde_json::from_value::<Keys>(settings.clone())
        .map(|k| k.behaviour)
        .map_err(|e| RulesError::Settings(e.to_string()))
}

/// One language's keyword lists, stored without the language, which is the row's key.
pub fn language_section(language: &str, config: &Value) -> Result<LanguageKeywords, RulesError> {
    let mut obj = match config {
        Value::Object(m) => m.clone(),
        Value::Null => serde_json::Map::new(),
        _ => {
            return Err(RulesError::KeywordSet {
                language: language.to_owned(),
                message: "must be an object of keyword lists and responses".to_owned(),
            });
        }
    };
    obj.insert("language".to_owned(), Value::String(language.to_owned()));
    serde_json::from_value(Value::Object(obj)).map_err(|e| RulesError::KeywordSet {
        language: language.to_owned(),
        message: e.to_string(),
    })
}

/// The channel's keyword configuration; a channel with no keyword sets still honours the
/// compliance defaults (STOP, HELP and the rest) in English, with a help response naming it.
fn keyword_config(
    channel: &Channel,
    behaviour: &ChannelBehaviour,
    sections: Vec<LanguageKeywords>,
) -> KeywordConfig {
    let default_language = behaviour.default_language.as_deref();
    if sections.is_empty() {
        let help = parley_core::compliance::default_help_response(
            &channel.name,
            behaviour.help_contact.as_deref(),
        );
        let mut config = KeywordConfig::defaults(help);
        // Prompts for channels that require explicit or double opt-in, so the defaults are
        // complete whatever the channel's level.
        for section in &mut config.languages {
            let locale = section
                .language
                .primary()
                .parse()
                .unwrap_or(parley_core::i18n::Locale::En);
            let name = [("program", channel.name.as_str())];
            section.responses.opt_in_prompt.get_or_insert_with(|| {
                parley_core::i18n::format(locale, "auto.opt_in_prompt", &name)
            });
            section
                .responses
                .double_opt_in_prompt
                .get_or_insert_with(|| {
                    parley_core::i18n::format(locale, "auto.double_opt_in_prompt", &name)
                });
        }
        return config;
    }
    let default_language = default_language
        .map(Language::new)
        .or_else(|| sections.first().map(|s| s.language.clone()))
        .unwrap_or_else(Language::english);
    KeywordConfig {
        default_language,
        languages: sections,
    }
}
