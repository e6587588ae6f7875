//! Sensitive-data rules (PRIV-03): the writes, and the preview the console's form runs. The rule's
//! shape and its checks belong to `parley_core::privacy::rules`; here the channel it names must
//! exist, and every write drops this node's copy of the rules so the change is in force here at
//! once (other nodes read the rules again within [`crate::sensitive_data::REFRESH`]).

use parley_core::Timestamp;
use parley_core::privacy::rules::{
    self, ActionKind, DetectorKind, NationalIdFormat, RuleAuthor, RuleFields,
};
use parley_store::{Store, StoredSensitiveDataRule};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{ServiceError, referenced};
use crate::sensitive_data::SensitiveRules;

/// Longest sample text the preview takes, in characters (the longest message of any channel).
pub const MAX_PREVIEW: usize = 4_096;

fn yes() -> bool {
    true
}

/// A rule as the API takes it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SensitiveDataRuleInput {
    /// 1 to 100 characters.
    pub name: String,
    /// Only this channel; omitted or null for every channel.
    pub channel_id: Option<Uuid>,
    /// `regex` (with `pattern`), `card_number` (13 to 19 digits passing the Luhn check) or
    /// `national_id` (with `national_id_format`).
    #[schema(schema_with = super::schema::detector_kind)]
    pub detector: DetectorKind,
    /// A JavaScript regular expression, without slashes or flags, case-sensitive. Look-around and
    /// back-references are refused.
    pub pattern: Option<String>,
    /// `us_ssn`, `ca_sin`, `uk_nino` or `fr_nir`.
    #[schema(schema_with = super::schema::national_id_format_or_null)]
    pub national_id_format: Option<NationalIdFormat>,
    /// `remove`, or `replace` (each match becomes `replacement`).
    #[schema(schema_with = super::schema::action_kind)]
    pub action: ActionKind,
    /// What `replace` puts in place of each match, 1 to 50 characters.
    pub replacement: Option<String>,
    /// Whose text it applies to: any of `customer`, `agent`, `supervisor`, `bot`.
    #[schema(schema_with = super::schema::rule_authors)]
    pub authors: Vec<RuleAuthor>,
    /// Lower runs first; 0 when omitted.
    #[serde(default)]
    pub priority: i32,
    /// On when omitted.
    #[serde(default = "yes")]
    pub enabled: bool,
}

impl SensitiveDataRuleInput {
    pub fn fields(&self) -> RuleFields {
        RuleFields {
            name: self.name.trim().to_owned(),
            channel_id: self.channel_id,
            detector: self.detector,
            pattern: self.pattern.clone().filter(|p| !p.is_empty()),
            national_id_format: self.national_id_format,
            action: self.action,
            replacement: self.replacement.clone().filter(|r| !r.is_empty()),
            authors: self.authors.clone(),
            priority: self.priority,
            enabled: self.enabled,
        }
    }
}

/// A sample text and the detector and action to try on it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewInput {
    #[schema(schema_with = super::schema::detector_kind)]
    pub detector: DetectorKind,
    pub pattern: Option<String>,
    #[schema(schema_with = super::schema::national_id_format_or_null)]
    pub national_id_format: Option<NationalIdFormat>,
    #[schema(schema_with = super::schema::action_kind)]
    pub action: ActionKind,
    pub replacement: Option<String>,
    /// At most 4,096 characters.
    pub text: String,
}

/// What the rule makes of the sample.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PreviewOutput {
    pub text: String,
    /// How many matches were masked.
    pub matches: usize,
}

/// The rule checked by core's rules and its channel's existence.
async fn checked(store: &Store, fields: &RuleFields) -> Result<(), ServiceError> {
    fields
        .compile(Uuid::nil())
        .map_err(|e| ServiceError::Invalid(e.to_string()))?;
    if let Some(c) = fields.channel_id {
        referenced(store.channel(c).await, &format!("channel_id: channel {c}"))?;
    }
    Ok(())
}

pub async fn create(
    store: &Store,
    rules: &SensitiveRules,
    input: &SensitiveDataRuleInput,
    now: Timestamp,
) -> Result<StoredSensitiveDataRule, ServiceError> {
    let fields = input.fields();
    checked(store, &fields).await?;
    let rule = store.create_sensitive_data_rule(&fields, now).await?;
    rules.invalidate().await;
    Ok(rule)
}

pub async fn update(
    store: &Store,
    rules: &SensitiveRules,
    id: Uuid,
    input: &SensitiveDataRuleInput,
    now: Timestamp,
) -> Result<StoredSensitiveDataRule, ServiceError> {
    store.sensitive_data_rule(id).await?;
    let fields = input.fields();
    checked(store, &fields).await?;
    let rule = store.update_sensitive_data_rule(id, &fields, now).await?;
    rules.invalidate().await;
    Ok(rule)
}

pub async fn delete(store: &Store, rules: &SensitiveRules, id: Uuid) -> Result<(), ServiceError> {
    store.delete_sensitive_data_rule(id).await?;
    rules.invalidate().await;
    Ok(())
}

/// The preview: the detector and action on `text`, whatever the scope and authors. Writes nothing.
pub fn preview(input: &PreviewInput) -> Result<PreviewOutput, ServiceError> {
    if input.text.chars().count() > MAX_PREVIEW {
        return Err(ServiceError::Invalid(format!(
            "text: at most {MAX_PREVIEW} characters"
        )));
    }
    let fields = RuleFields {
        name: "preview".into(),
        channel_id: None,
        detector: input.detector,
        pattern: input.pattern.clone().filter(|p| !p.is_empty()),
        national_id_format: input.national_id_format,
        action: input.action,
        replacement: input.replacement.clone().filter(|r| !r.is_empty()),
        authors: vec![RuleAuthor::Customer],
        priority: 0,
        enabled: true,
    };
    let rule = fields
        .compile(Uuid::nil())
        .map_err(|e| ServiceError::Invalid(e.to_string()))?;
    let masked = rules::preview(&rule, &input.text);
    Ok(PreviewOutput {
        text: masked.text,
        matches: masked.matches,
    })
}

/// A rule in a workspace file (`parley apply`, key `sensitive_data_rules`): the API's fields, with
/// the channel by name. Rules are identified by name. Serving nodes pick a change made by `apply`
/// up within [`crate::sensitive_data::REFRESH`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensitiveDataRuleFile {
    pub name: String,
    /// A channel's name; omitted for every channel.
    pub channel: Option<String>,
    pub detector: DetectorKind,
    pub pattern: Option<String>,
    pub national_id_format: Option<NationalIdFormat>,
    pub action: ActionKind,
    pub replacement: Option<String>,
    pub authors: Vec<RuleAuthor>,
    #[serde(default)]
    pub priority: i32,
    #[serde(default = "yes")]
    pub enabled: bool,
}

impl SensitiveDataRuleFile {
    fn fields(&self, channel_id: Option<Uuid>) -> RuleFields {
        RuleFields {
            name: self.name.trim().to_owned(),
            channel_id,
            detector: self.detector,
            pattern: self.pattern.clone().filter(|p| !p.is_empty()),
            national_id_format: self.national_id_format,
            action: self.action,
            replacement: self.replacement.clone().filter(|r| !r.is_empty()),
            authors: self.authors.clone(),
            priority: self.priority,
            enabled: self.enabled,
        }
    }
}

/// Checks a file's rules without the database: unique names, and each rule valid.
pub fn validate_file(rules: &[SensitiveDataRuleFile]) -> Result<(), ServiceError> {
    let mut names = std::collections::HashSet::new();
    for r in rules {
        let name = r.name.trim();
        if !names.insert(name.to_owned()) {
            return Err(ServiceError::Invalid(format!(
                "sensitive data rule '{name}' appears twice in the file"
            )));
        }
        r.fields(None)
            .compile(Uuid::nil())
            .map_err(|e| ServiceError::Invalid(format!("sensitive data rule '{name}': {e}")))?;
    }
    Ok(())
}

/// Writes a file's rules (after its channels), and with `prune` deletes those it no longer has.
pub async fn apply_file(
    store: &Store,
    rules: &[SensitiveDataRuleFile],
    prune: bool,
    now: Timestamp,
    report: &mut super::ApplyReport,
) -> Result<(), ServiceError> {
    let existing = store.sensitive_data_rules().await?;
    let mut kept = std::collections::HashSet::new();
    for r in rules {
        let channel_id = match &r.channel {
            Some(name) => Some(
                store
                    .channel_by_name(name.trim())
                    .await?
                    .ok_or_else(|| {
                        ServiceError::Invalid(format!(
                            "sensitive data rule '{}': channel '{name}' does not exist",
                            r.name
                        ))
                    })?
                    .id,
            ),
            None => None,
        };
        let fields = r.fields(channel_id);
        checked(store, &fields).await?;
        match existing.iter().find(|e| e.fields.name == fields.name) {
            None => {
                report
                    .created
                    .push(format!("sensitive data rule {}", fields.name));
                kept.insert(store.create_sensitive_data_rule(&fields, now).await?.id);
            }
            Some(e) => {
                if e.fields != fields {
                    report
                        .updated
                        .push(format!("sensitive data rule {}", fields.name));
                    store.update_sensitive_data_rule(e.id, &fields, now).await?;
                } else {
                    report.unchanged += 1;
                }
                kept.insert(e.id);
            }
        }
    }
    if prune {
        for e in existing.iter().filter(|e| !kept.contains(&e.id)) {
            report
                .deleted
                .push(format!("sensitive data rule {}", e.fields.name));
            store.delete_sensitive_data_rule(e.id).await?;
        }
    }
    Ok(())
}
