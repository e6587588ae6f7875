//! Channel writes. Create, replace and delete validate a channel exactly alike whichever path
//! asks (kind, provider, number type and address rules, the provider adapter's typed settings and
//! secrets, the keyword and behaviour rules), so a channel written through the API, the console
//! or `apply` with the same content is the same row.

use std::collections::BTreeMap;

use parley_core::Timestamp;
use parley_core::compliance;
use parley_core::keywords::ResponseKind;
use parley_store::{Channel, ChannelSpec, Store};
use serde_json::Value;
use uuid::Uuid;

use super::ServiceError as ProvisionError;
pub use super::specs::ChannelInput;
use super::specs::{channel_spec, invalid};
use crate::cache::ChannelCache;
use crate::channel_rules::ChannelRules;
use crate::events::{DomainEvent, EventBus};

/// Where a channel write lands. `cache` and `events` are those of the running node when the
/// write comes through its API or console; `apply` from the command line has neither. Every write
/// is also announced to the other nodes (see [`crate::cache`]).
#[derive(Clone, Copy)]
pub struct Writes<'a> {
    pub store: &'a Store,
    pub cache: Option<&'a ChannelCache>,
    pub events: Option<&'a EventBus>,
}

impl<'a> Writes<'a> {
    pub fn new(store: &'a Store) -> Self {
        Self {
            store,
            cache: None,
            events: None,
        }
    }

    /// Writes of a running node: its cache is invalidated and its event bus told.
    pub fn of_engine(engine: &'a crate::Engine) -> Self {
        Self {
            store: &engine.store,
            cache: Some(&engine.channels),
            events: Some(&engine.events),
        }
    }

    pub(crate) async fn changed(&self, channel_id: Uuid) {
        if let Some(cache) = self.cache {
            cache.invalidate(channel_id).await;
        }
        // Other nodes (and this one, when the write came from the command line) drop their
        // cached copy now rather than when it expires. The write has committed: a failed
        // announcement only delays the change until the caches expire.
        if let Err(e) = self.store.announce_channel_change(channel_id).await {
            tracing::warn!(channel = %channel_id, error = %e, "channel change not announced to other nodes");
        }
        if let Some(events) = self.events {
            events.publish(DomainEvent::ChannelChanged { channel_id });
        }
    }
}

/// A channel's spec, validated with the keyword sets it has (`keyword_sets`: language to
/// configuration).
pub fn validate(
    draft: ChannelInput,
    keyword_sets: &BTreeMap<String, Value>,
) -> Result<ChannelSpec, ProvisionError> {
    let spec = channel_spec(draft)?;
    check_rules(&spec, keyword_sets)?;
    Ok(spec)
}

/// The keyword sets a stored channel has, as `validate` reads them.
async fn keyword_sets_of(
    store: &Store,
    channel_id: Uuid,
) -> Result<BTreeMap<String, Value>, ProvisionError> {
    Ok(store
        .keyword_sets(channel_id)
        .await?
        .into_iter()
        .map(|k| (k.language, k.config))
        .collect())
}

/// Creates a channel, with its keyword sets (language to configuration) when given: the sets are
/// validated with the channel before anything is written.
pub async fn create(
    w: Writes<'_>,
    mut input: ChannelInput,
    now: Timestamp,
) -> Result<Channel, ProvisionError> {
    let keyword_sets = input.keyword_sets.take();
    let spec = validate(input, keyword_sets.as_ref().unwrap_or(&BTreeMap::new()))?;
    // A new channel has no templates yet: its triggers come with a later replace.
    check_triggers(&spec, &[])?;
    let channel = create_spec(w, &spec, now).await?;
    if let Some(sets) = &keyword_sets {
        super::keyword_sets::replace_all(w.store, channel.id, sets, now).await?;
        w.changed(channel.id).await;
    }
    Ok(channel)
}

/// Creates a channel from a spec that `validate` produced.
pub async fn create_spec(
    w: Writes<'_>,
    spec: &ChannelSpec,
    now: Timestamp,
) -> Result<Channel, ProvisionError> {
    super::sender_limits::check_number_cap(w.store, spec.kind, &spec.settings, None).await?;
    let channel = w.store.create_channel(spec, now).await?;
    w.changed(channel.id).await;
    Ok(channel)
}

/// Replaces a channel's configuration, and its keyword sets when given (otherwise the stored sets
/// stay, and the new configuration is checked against them). Secrets left out keep the stored
/// ones. Nothing changes when the new configuration is refused.
pub async fn replace(
    w: Writes<'_>,
    id: Uuid,
    mut input: ChannelInput,
    now: Timestamp,
) -> Result<Channel, ProvisionError> {
    let existing = w.store.channel(id).await?;
    if input.secrets.is_none() {
        input.secrets = existing.secrets.as_object().cloned();
    }
    let keyword_sets = input.keyword_sets.take();
    let spec = match &keyword_sets {
        Some(sets) => validate(input, sets)?,
        None => validate(input, &keyword_sets_of(w.store, id).await?)?,
    };
    let templates: Vec<(String, String)> = w
        .store
        .list_templates(Some(id))
        .await?
        .into_iter()
        .map(|t| (t.name, t.language))
        .collect();
    check_triggers(&spec, &templates)?;
    let channel = replace_spec(w, id, &spec, now).await?;
    if let Some(sets) = &keyword_sets {
        super::keyword_sets::replace_all(w.store, id, sets, now).await?;
        w.changed(id).await;
    }
    Ok(channel)
}

/// Changes some of a channel's secrets and keeps the others (a form replaces one credential
/// without knowing the rest): a key with a value replaces that secret, a key with `null` removes
/// it. The configuration is checked again as on a replace; nothing changes when it is refused.
pub async fn merge_secrets(
    w: Writes<'_>,
    id: Uuid,
    changes: &serde_json::Map<String, Value>,
    now: Timestamp,
) -> Result<Channel, ProvisionError> {
    let existing = w.store.channel(id).await?;
    let mut secrets = existing.secrets.as_object().cloned().unwrap_or_default();
    for (k, v) in changes {
        if v.is_null() {
            secrets.remove(k);
        } else {
            secrets.insert(k.clone(), v.clone());
        }
    }
    let mut input = super::specs::ChannelInput::from(&existing);
    input.secrets = Some(secrets);
    replace(w, id, input, now).await
}

/// Replaces a channel's configuration with a spec that `validate` produced.
pub async fn replace_spec(
    w: Writes<'_>,
    id: Uuid,
    spec: &ChannelSpec,
    now: Timestamp,
) -> Result<Channel, ProvisionError> {
    super::sender_limits::check_number_cap(w.store, spec.kind, &spec.settings, Some(id)).await?;
    let channel = w.store.update_channel(id, spec, now).await?;
    w.changed(id).await;
    Ok(channel)
}

pub async fn delete(w: Writes<'_>, id: Uuid) -> Result<(), ProvisionError> {
    w.store.delete_channel(id).await?;
    w.changed(id).await;
    Ok(())
}

/// The notification triggers of a channel's settings name templates it has (name, language).
pub fn check_triggers(
    spec: &ChannelSpec,
    templates: &[(String, String)],
) -> Result<(), ProvisionError> {
    let behaviour = crate::channel_rules::behaviour_of(&spec.settings)
        .map_err(|e| invalid(format!("channel '{}': {e}", spec.name)))?;
    behaviour
        .check_triggers(templates)
        .map_err(|e| invalid(format!("channel '{}': {e}", spec.name)))
}

/// The spec a stored channel was made from, to compare with a file's.
pub fn spec_of(c: &Channel) -> ChannelSpec {
    ChannelSpec {
        name: c.name.clone(),
        kind: c.kind,
        provider: c.provider.clone(),
        address: c.address.clone(),
        number_type: c.number_type,
        provider_keyword: c.provider_keyword.clone(),
        country: c.country.clone(),
        consent_level: c.consent_level,
        queue_id: c.queue_id,
        throughput_mps: c.throughput_mps,
        settings: c.settings.clone(),
        secrets: c.secrets.clone(),
    }
}

/// The save-time rules of a channel's keyword sets and behaviour settings (one list per keyword,
/// short-code response lengths, required lists, hand-off), checked as the pipeline will read them.
pub fn check_rules(
    spec: &ChannelSpec,
    keyword_sets: &BTreeMap<String, Value>,
) -> Result<(), ProvisionError> {
    let now = parley_core::Timestamp(0);
    let channel = unsaved_channel(spec);
    let sets: Vec<parley_store::KeywordSet> = keyword_sets
        .iter()
        .map(|(language, config)| parley_store::KeywordSet {
            id: Uuid::nil(),
            channel_id: Uuid::nil(),
            language: language.clone(),
            config: config.clone(),
            created_at: now,
            updated_at: now,
        })
        .collect();
    let rules = ChannelRules::build(channel, &sets)
        .and_then(|r| r.validate().map(|()| r))
        .map_err(|e| invalid(format!("channel '{}': {e}", spec.name)))?;
    check_help_content(spec, &rules, keyword_sets.is_empty())
}

/// CO-12, CO-16: a short code's help responses must name the program and what it sends, give a
/// help contact, the "Msg&data rates may apply" disclaimer, the message frequency and how to opt
/// out, in 160 characters. The guide states these as musts for short codes, so a short code's
/// help text that lacks one is refused (422) naming the field and every missing element; other
/// number types are not held to them. A channel with no keyword sets answers HELP with Parley's
/// default, which needs `settings.help_contact` to pass.
fn check_help_content(
    spec: &ChannelSpec,
    rules: &ChannelRules,
    defaults: bool,
) -> Result<(), ProvisionError> {
    if spec.kind != parley_core::model::ChannelKind::Sms
        || !compliance::applies_to(spec.number_type)
    {
        return Ok(());
    }
    let mut refusals = Vec::new();
    for section in &rules.keywords.languages {
        let Some(text) = section.responses.get(ResponseKind::HelpResponse) else {
            continue;
        };
        let problems = compliance::help_message_problems(text, spec.number_type, &section.language);
        if problems.is_empty() {
            continue;
        }
        let field = if defaults {
            "the default help response (write one in a keyword set, or set settings.help_contact to a toll-free number, support email or web address)".to_owned()
        } else {
            format!("keyword set '{}': responses.help", section.language)
        };
        refusals.push(format!(
            "{field} does not meet the short code rules for help responses (carriers' CTIA rules): {}",
            compliance::describe_problems(&problems)
        ));
    }
    if refusals.is_empty() {
        Ok(())
    } else {
        Err(invalid(format!(
            "channel '{}': {}",
            spec.name,
            refusals.join("; ")
        )))
    }
}

/// The channel a spec would make, for the rules that look at a channel before it is saved.
pub(crate) fn unsaved_channel(spec: &ChannelSpec) -> Channel {
    let now = parley_core::Timestamp(0);
    Channel {
        id: Uuid::nil(),
        name: spec.name.clone(),
        kind: spec.kind,
        provider: spec.provider.clone(),
        address: spec.address.clone(),
        number_type: spec.number_type,
        provider_keyword: spec.provider_keyword.clone(),
        country: spec.country.clone(),
        consent_level: spec.consent_level,
        queue_id: spec.queue_id,
        throughput_mps: spec.throughput_mps,
        settings: spec.settings.clone(),
        secrets: Value::Null,
        sender_limits: Value::Null,
        created_at: now,
        updated_at: now,
    }
}
