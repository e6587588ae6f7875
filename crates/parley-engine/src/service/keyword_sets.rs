//! Keyword sets: a channel's keyword lists and auto-responses for one language. Every write checks
//! the channel's sets as a whole, as the inbound pipeline will read them (a keyword in only one
//! list across the channel's languages, short-code response lengths, required lists, hand-off),
//! whether it comes from the API, the console or a workspace file.

use std::collections::BTreeMap;

use parley_core::Timestamp;
use parley_store::{Channel, KeywordSet, KeywordSetSpec, Store};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::ApplyReport;
use super::channels::{check_rules, spec_of};
use super::{ServiceError, referenced};

/// A keyword set as written by a person (the API's body; a workspace file writes the same
/// `config` under the channel's `keyword_sets`, keyed by language).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeywordSetInput {
    /// The channel the set belongs to; it cannot change once the set exists.
    pub channel_id: Uuid,
    /// A language tag such as `en` or `fr-CA`, at most one set per channel and language.
    pub language: String,
    /// The language's keyword lists and responses: `opt_out`, `opt_in`, `double_opt_in` and
    /// `help` (lists of keywords), `custom` (`[{"keyword", "response"}]`) and `responses`
    /// (`opt_in_prompt`, `double_opt_in_prompt`, `opt_in_confirmation`,
    /// `opt_out_confirmation`, `help`). A keyword may appear in only one list of a channel across
    /// all its languages.
    #[schema(value_type = Object)]
    pub config: Value,
}

fn check_language(language: &str) -> Result<String, ServiceError> {
    let l = language.trim();
    let valid = !l.is_empty()
        && l.len() <= 35
        && l.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid {
        Ok(l.to_owned())
    } else {
        Err(ServiceError::Invalid(format!(
            "language must be a language tag such as 'en' or 'fr-CA', got '{language}'"
        )))
    }
}

/// The save-time rules of a channel with exactly these keyword sets.
pub fn check(channel: &Channel, sets: &BTreeMap<String, Value>) -> Result<(), ServiceError> {
    for (language, config) in sets {
        check_language(language)?;
        if !config.is_object() {
            return Err(ServiceError::Invalid(format!(
                "keyword set '{language}': must be an object of keyword lists and responses"
            )));
        }
    }
    check_rules(&spec_of(channel), sets)
}

/// The channel's stored sets by language, with `change` applied to them.
async fn sets_after(
    store: &Store,
    channel: &Channel,
    change: impl FnOnce(&mut BTreeMap<String, Value>),
) -> Result<BTreeMap<String, Value>, ServiceError> {
    let mut sets: BTreeMap<String, Value> = store
        .keyword_sets(channel.id)
        .await?
        .into_iter()
        .map(|k| (k.language, k.config))
        .collect();
    change(&mut sets);
    Ok(sets)
}

pub async fn create(
    store: &Store,
    input: &KeywordSetInput,
    now: Timestamp,
) -> Result<KeywordSet, ServiceError> {
    let channel = referenced(store.channel(input.channel_id).await, "the channel")?;
    let language = check_language(&input.language)?;
    let sets = sets_after(store, &channel, |sets| {
        sets.insert(language.clone(), input.config.clone());
    })
    .await?;
    check(&channel, &sets)?;
    // A second set for the language is refused by the store's uniqueness rule (409).
    Ok(store
        .create_keyword_set(
            &KeywordSetSpec {
                channel_id: channel.id,
                language,
                config: input.config.clone(),
            },
            now,
        )
        .await?)
}

/// Replaces a set's language and configuration.
pub async fn replace(
    store: &Store,
    id: Uuid,
    input: &KeywordSetInput,
    now: Timestamp,
) -> Result<KeywordSet, ServiceError> {
    let existing = store.keyword_set(id).await?;
    if existing.channel_id != input.channel_id {
        return Err(ServiceError::Invalid(
            "a keyword set cannot move to another channel: create one there instead".to_owned(),
        ));
    }
    let channel = store.channel(existing.channel_id).await?;
    let language = check_language(&input.language)?;
    let sets = sets_after(store, &channel, |sets| {
        sets.remove(&existing.language);
        sets.insert(language.clone(), input.config.clone());
    })
    .await?;
    check(&channel, &sets)?;
    Ok(store
        .update_keyword_set(
            id,
            &KeywordSetSpec {
                channel_id: channel.id,
                language,
                config: input.config.clone(),
            },
            now,
        )
        .await?)
}

/// Deletes a set, unless the sets left would break the channel's rules (a hand-off naming one of
/// its keywords, say).
pub async fn delete(store: &Store, id: Uuid) -> Result<(), ServiceError> {
    let existing = store.keyword_set(id).await?;
    let channel = store.channel(existing.channel_id).await?;
    let sets = sets_after(store, &channel, |sets| {
        sets.remove(&existing.language);
    })
    .await?;
    check(&channel, &sets)?;
    Ok(store.delete_keyword_set(id).await?)
}

/// Replaces every set of a channel at once, so that a keyword can move between languages (or a
/// Canadian short code get its English and French sets together) without an invalid state between
/// two writes. Answers the channel's sets as stored.
pub async fn replace_all(
    store: &Store,
    channel_id: Uuid,
    sets: &BTreeMap<String, Value>,
    now: Timestamp,
) -> Result<Vec<KeywordSet>, ServiceError> {
    let channel = store.channel(channel_id).await?;
    sync(
        store,
        &channel,
        sets,
        true,
        now,
        &mut ApplyReport::default(),
    )
    .await?;
    Ok(store.keyword_sets(channel.id).await?)
}

/// Makes a channel's sets those of a workspace file (`parley apply`): the whole set of languages
/// is checked at once, then each changed one written; sets the file leaves out are deleted only
/// when pruning.
pub async fn sync(
    store: &Store,
    channel: &Channel,
    wanted: &BTreeMap<String, Value>,
    prune: bool,
    now: Timestamp,
    report: &mut ApplyReport,
) -> Result<(), ServiceError> {
    let stored = store.keyword_sets(channel.id).await?;
    let mut after: BTreeMap<String, Value> = if prune {
        BTreeMap::new()
    } else {
        stored
            .iter()
            .map(|k| (k.language.clone(), k.config.clone()))
            .collect()
    };
    for (language, config) in wanted {
        after.insert(check_language(language)?, config.clone());
    }
    check(channel, &after)?;
    for (language, config) in wanted {
        let language = check_language(language)?;
        match stored.iter().find(|k| k.language == language) {
            Some(k) if &k.config == config => report.unchanged += 1,
            Some(k) => {
                report
                    .updated
                    .push(format!("keyword set {}/{language}", channel.name));
                let spec = KeywordSetSpec {
                    channel_id: channel.id,
                    language,
                    config: config.clone(),
                };
                store.update_keyword_set(k.id, &spec, now).await?;
            }
            None => {
                report
                    .created
                    .push(format!("keyword set {}/{language}", channel.name));
                let spec = KeywordSetSpec {
                    channel_id: channel.id,
                    language,
                    config: config.clone(),
                };
                store.create_keyword_set(&spec, now).await?;
            }
        }
    }
    if prune {
        for k in stored.iter().filter(|k| !after.contains_key(&k.language)) {
            report
                .deleted
                .push(format!("keyword set {}/{}", channel.name, k.language));
            store.delete_keyword_set(k.id).await?;
        }
    }
    Ok(())
}
