//! Languages (issue 18, WEB-06 / CO-18): the agent's console language, and the translators' texts.
//!
//! A translator writes one language of a per-language text of the configuration — a channel's
//! keyword response or automatic reply, a web deployment's title, greeting or pre-chat label —
//! without configuration rights: the text goes to the `translations` table, never into the channel
//! or deployment, and the readers (`crate::channel_rules`, the widget's configuration) lay it over
//! the configured one.

use parley_core::Timestamp;
use parley_core::i18n::Locale;
use parley_core::keywords::{Language, ResponseKind};
use parley_core::model::{ChannelKind, NumberType};
use parley_store::{PageRequest, Store, Translation, TranslationKey};
use serde::Serialize;
use std::collections::HashMap;
use utoipa::ToSchema;
use uuid::Uuid;

use super::ServiceError;
use crate::channel_rules::{
    AUTO_REPLY, ChannelRules, KEYWORD_RESPONSE, Localized, TRANSLATABLE_REPLIES,
    TRANSLATABLE_RESPONSES, behaviour_of, reply_slot,
};

/// Translation kind of a web deployment's labels (key: `title`, `greeting`, `prechat.<field>`).
pub const WIDGET_LABEL: &str = "widget_label";

/// The longest translated text: a few SMS segments; short-code keyword responses are held to
/// their own 160 (CO-12).
pub const TEXT_MAX: usize = 1_000;

/// One text a translator may write, with its source beside it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TranslatableText {
    /// `keyword_response`, `auto_reply` or `widget_label`.
    pub kind: String,
    /// `<owner id>:<key>`: the path segment of `PUT /api/v1/translations/{kind}/{id}/{locale}`.
    pub id: String,
    /// The channel or deployment the text belongs to.
    pub owner_name: String,
    /// Which text of it: a response kind, a reply name, `title`, `greeting` or `prechat.<field>`.
    pub key: String,
    /// The language of `source`.
    pub source_locale: String,
    /// The configured text the translation is made from.
    pub source: String,
    /// The text in the requested language: the translator's, else one the configuration already
    /// has for that language; `null` when missing.
    pub translation: Option<String>,
    /// Whether `translation` was written by a translator (and is kept in `translations`).
    pub translated: bool,
    /// Most characters the text may have.
    pub max_length: usize,
}

pub async fn set_agent_locale(
    store: &Store,
    agent_id: Uuid,
    locale: Locale,
    now: Timestamp,
) -> Result<(), ServiceError> {
    Ok(store.set_agent_locale(agent_id, locale, now).await?)
}

/// The agent's time zone: any IANA name of the bundled time zone database, stored in its
/// canonical spelling (`america/toronto` is stored as `America/Toronto`).
pub async fn set_agent_time_zone(
    store: &Store,
    agent_id: Uuid,
    time_zone: &str,
    now: Timestamp,
) -> Result<String, ServiceError> {
    let name = parley_core::clock::iana_time_zone(time_zone).ok_or_else(|| {
        ServiceError::Invalid(format!(
            "time_zone: {:?} is not an IANA time zone name such as America/Toronto or Europe/Paris",
            time_zone.chars().take(64).collect::<String>()
        ))
    })?;
    store
        .set_agent_time_zone(agent_id, Some(&name), now)
        .await?;
    Ok(name)
}

fn is_short_code(kind: ChannelKind, number_type: Option<NumberType>) -> bool {
    kind == ChannelKind::Sms && number_type == Some(NumberType::ShortCode)
}

fn primary(tag: &str) -> String {
    Language::new(tag).primary().to_owned()
}

/// Every per-language text of the configuration, as a translator into `locale` sees it.
pub async fn list(store: &Store, locale: Locale) -> Result<Vec<TranslatableText>, ServiceError> {
    let mut written: HashMap<(String, String, String), String> = HashMap::new();
    for kind in [KEYWORD_RESPONSE, AUTO_REPLY, WIDGET_LABEL] {
        for row in store.translations_of_kind(kind).await? {
            if row.locale == locale.as_str() {
                written.insert((row.kind, row.owner_id, row.key), row.text);
            }
        }
    }
    let mut out = Vec::new();
    let mut push = |kind: &str,
                    owner: Uuid,
                    owner_name: &str,
                    key: &str,
                    source: (&str, &str),
                    existing: Option<&str>,
                    max_length: usize| {
        let mine = written.get(&(kind.to_owned(), owner.to_string(), key.to_owned()));
        out.push(TranslatableText {
            kind: kind.to_owned(),
            id: format!("{owner}:{key}"),
            owner_name: owner_name.to_owned(),
            key: key.to_owned(),
            source_locale: source.0.to_owned(),
            source: source.1.to_owned(),
            translation: mine.map(String::as_str).or(existing).map(str::to_owned),
            translated: mine.is_some(),
            max_length,
        });
    };

    let mut channels = Vec::new();
    let mut page = PageRequest {
        after: None,
        limit: PageRequest::MAX_LIMIT,
    };
    loop {
        let got = store.list_channels(page).await?;
        channels.extend(got.items);
        match got.next {
            Some(next) => page.after = Some(next),
            None => break,
        }
    }
    let wanted = Language::new(locale.as_str());
    for channel in channels {
        let short = is_short_code(channel.kind, channel.number_type);
        let sets = store.keyword_sets(channel.id).await?;
        let name = channel.name.clone();
        let id = channel.id;
        let Ok(rules) = ChannelRules::build(channel.clone(), &sets) else {
            continue;
        };
        let source_language = Language::english();
        for kind in TRANSLATABLE_RESPONSES {
            let Some(source) = rules.keywords.response(*kind, &source_language) else {
                continue;
            };
            let existing = rules
                .keywords
                .section(&wanted)
                .and_then(|s| s.responses.get(*kind));
            push(
                KEYWORD_RESPONSE,
                id,
                &name,
                kind.as_str(),
                (&primary(source.language.as_str()), &source.text),
                existing,
                if short {
                    parley_core::keywords::SHORT_CODE_RESPONSE_MAX
                } else {
                    TEXT_MAX
                },
            );
        }
        let Ok(behaviour) = behaviour_of(&channel.settings) else {
            continue;
        };
        let default_language = behaviour
            .default_language
            .clone()
            .unwrap_or_else(|| "en".to_owned());
        let mut replies = behaviour.auto_replies.clone();
        for reply in TRANSLATABLE_REPLIES {
            let Some(Some(configured)) = reply_slot(&mut replies, reply) else {
                continue;
            };
            let Some(source) = configured.pick(Some("en"), Some(&default_language)) else {
                continue;
            };
            let existing = match &*configured {
                Localized::PerLanguage(m) => m
                    .iter()
                    .find(|(k, _)| primary(k) == locale.as_str())
                    .map(|(_, v)| v.as_str()),
                Localized::One(_) => None,
            };
            push(
                AUTO_REPLY,
                id,
                &name,
                reply,
                ("en", source),
                existing,
                TEXT_MAX,
            );
        }
    }

    for d in store.web_deployments().await? {
        let source_locale = primary(&d.language);
        let same = source_locale == locale.as_str();
        let mut label = |key: &str, text: &str| {
            if text.trim().is_empty() {
                return;
            }
            push(
                WIDGET_LABEL,
                d.id,
                &d.name,
                key,
                (&source_locale, text),
                same.then_some(text),
                TEXT_MAX,
            );
        };
        label("title", &d.branding.title);
        label("greeting", &d.branding.greeting);
        for f in d.prechat.fields.iter().filter(|f| !f.hidden) {
            label(&format!("prechat.{}", f.name), &f.label);
        }
    }
    Ok(out)
}

/// Writes one translation: `id` is `<owner id>:<key>` as [`list`] gives it; an empty text removes
/// the translation (the configured text answers again).
pub async fn write(
    store: &Store,
    kind: &str,
    id: &str,
    locale: Locale,
    text: &str,
    by: Option<Uuid>,
    now: Timestamp,
) -> Result<(), ServiceError> {
    let (owner, key) = id
        .split_once(':')
        .ok_or_else(|| ServiceError::Invalid("id: must be <owner id>:<key>".to_owned()))?;
    let owner: Uuid = owner
        .parse()
        .map_err(|_| ServiceError::Invalid("id: the owner is not a valid id".to_owned()))?;
    let text = text.trim();
    let max = match kind {
        KEYWORD_RESPONSE => {
            let kind: ResponseKind = key
                .parse()
                .map_err(|_| ServiceError::Invalid(format!("id: unknown response '{key}'")))?;
            if !TRANSLATABLE_RESPONSES.contains(&kind) {
                return Err(ServiceError::Invalid(format!(
                    "id: the {} is not translated here",
                    kind.label()
                )));
            }
            let channel = store.channel(owner).await?;
            if is_short_code(channel.kind, channel.number_type) {
                parley_core::keywords::SHORT_CODE_RESPONSE_MAX
            } else {
                TEXT_MAX
            }
        }
        AUTO_REPLY => {
            if !TRANSLATABLE_REPLIES.contains(&key) {
                return Err(ServiceError::Invalid(format!(
                    "id: unknown automatic reply '{key}'"
                )));
            }
            store.channel(owner).await?;
            TEXT_MAX
        }
        WIDGET_LABEL => {
            let d = store.web_deployment(owner).await?;
            let known = key == "title"
                || key == "greeting"
                || key.strip_prefix("prechat.").is_some_and(|name| {
                    d.prechat.fields.iter().any(|f| f.name == name && !f.hidden)
                });
            if !known {
                return Err(ServiceError::Invalid(format!(
                    "id: deployment '{}' has no label '{key}'",
                    d.name
                )));
            }
            TEXT_MAX
        }
        other => {
            return Err(ServiceError::Invalid(format!(
                "kind: '{other}' is not one of keyword_response, auto_reply, widget_label"
            )));
        }
    };
    let length = text.chars().count();
    if length > max {
        return Err(ServiceError::Invalid(format!(
            "text: {length} characters, at most {max}"
        )));
    }
    let owner = owner.to_string();
    store
        .write_translation(
            TranslationKey {
                kind,
                owner_id: &owner,
                key,
            },
            locale,
            text,
            by,
            now,
        )
        .await?;
    Ok(())
}

/// A deployment's labels in `language`: what translators wrote laid over the configured ones.
pub fn apply_widget_labels(
    deployment: &mut parley_core::web::WebDeployment,
    rows: &[Translation],
    language: &str,
) {
    let language = primary(language);
    for row in rows.iter().filter(|r| r.locale == language) {
        match row.key.as_str() {
            "title" => deployment.branding.title.clone_from(&row.text),
            "greeting" => deployment.branding.greeting.clone_from(&row.text),
            key => {
                if let Some(name) = key.strip_prefix("prechat.")
                    && let Some(f) = deployment
                        .prechat
                        .fields
                        .iter_mut()
                        .find(|f| f.name == name)
                {
                    f.label.clone_from(&row.text);
                }
            }
        }
    }
}
