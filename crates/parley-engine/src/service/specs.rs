//! Turning what a person wrote (an API body, a console form, a `parley apply` file) into a valid
//! store spec, with errors in words a person can act on. Every service function validates with
//! these, whichever path the write comes from.

use parley_core::E164;
use parley_core::channel::{effective_throughput, normalize_address, normalize_provider_keyword};
use parley_core::model::{
    AgentRole, ChannelKind, ConsentLevel, NumberType, Provider, RoutingModel,
};
use parley_store::{
    AgentSkill, AgentSpec, Channel, ChannelSpec, ContactSpec, QueueSpec, SkillSpec,
};
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use super::ServiceError;
use super::schema;

pub(crate) fn invalid(msg: impl Into<String>) -> ServiceError {
    ServiceError::Invalid(msg.into())
}

/// 1 to 100 characters as sent (the document's `maxLength`, which counts the spaces around it
/// too), and not blank; stored trimmed.
pub(crate) fn check_name(what: &str, name: &str) -> Result<String, ServiceError> {
    let n = name.trim();
    if n.is_empty() || name.chars().count() > 100 {
        return Err(invalid(format!("{what} name must be 1 to 100 characters")));
    }
    Ok(n.to_owned())
}

/// A channel as created or replaced, through the API, the console or (from a workspace file's
/// channel, its queue resolved) `parley apply`: one definition for all three and the OpenAPI
/// document. Provider credentials go in `secrets`, which is write-only.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelInput {
    /// 1 to 100 characters, not blank; stored trimmed.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    #[schema(schema_with = schema::channel_kind)]
    pub kind: ChannelKind,
    #[schema(schema_with = schema::provider)]
    pub provider: Provider,
    /// E.164 number, short code, page id or web deployment slug, according to `kind`.
    pub address: String,
    /// Required for SMS.
    #[serde(default)]
    #[schema(schema_with = schema::number_type_or_null)]
    pub number_type: Option<NumberType>,
    /// Shared short codes only: the program's keyword ("baby" in "baby stop").
    #[serde(default)]
    pub provider_keyword: Option<String>,
    /// ISO 3166 alpha-2.
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default = "implicit")]
    #[schema(schema_with = schema::consent_level)]
    pub consent_level: ConsentLevel,
    #[serde(default)]
    pub queue_id: Option<Uuid>,
    /// Messages per second; defaults by number type or kind.
    #[serde(default)]
    pub throughput_mps: Option<u32>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub settings: Map<String, Value>,
    /// Credentials (auth tokens, app secrets). Never returned. On replace, omit to keep the
    /// current ones.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub secrets: Option<Map<String, Value>>,
    /// Keyword sets by language (`{"en": {...}, "fr": {...}}`), as a workspace file writes them;
    /// a channel that needs more than the English defaults (a Canadian short code) is created
    /// with them. On replace, omit to keep the current ones.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub keyword_sets: Option<BTreeMap<String, Value>>,
}

impl From<&Channel> for ChannelInput {
    /// The input that would write this channel again: what an edit starts from. Its secrets
    /// are left out, which keeps the stored ones on replace.
    fn from(c: &Channel) -> Self {
        Self {
            name: c.name.clone(),
            kind: c.kind,
            provider: c.provider.clone(),
            address: c.address.clone(),
            number_type: c.number_type,
            provider_keyword: c.provider_keyword.clone(),
            country: c.country.clone(),
            consent_level: c.consent_level,
            queue_id: c.queue_id,
            throughput_mps: c.throughput_mps.and_then(|n| u32::try_from(n).ok()),
            settings: c.settings.as_object().cloned().unwrap_or_default(),
            secrets: None,
            keyword_sets: None,
        }
    }
}

fn implicit() -> ConsentLevel {
    ConsentLevel::Implicit
}

pub fn channel_spec(d: ChannelInput) -> Result<ChannelSpec, ServiceError> {
    let name = check_name("channel", &d.name)?;
    let address =
        normalize_address(d.kind, d.number_type, &d.address).map_err(|e| invalid(e.to_string()))?;
    let provider_keyword = normalize_provider_keyword(d.number_type, d.provider_keyword.as_deref())
        .map_err(|e| invalid(e.to_string()))?;
    let throughput = effective_throughput(d.kind, d.number_type, d.throughput_mps)
        .map_err(|e| invalid(e.to_string()))?;
    let country = match d.country {
        Some(c) if c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()) => {
            Some(c.to_ascii_uppercase())
        }
        Some(c) => {
            return Err(invalid(format!(
                "country must be a two-letter ISO 3166 code, got '{c}'"
            )));
        }
        None => None,
    };
    let settings = Value::Object(d.settings);
    let secrets = Value::Object(d.secrets.unwrap_or_default());
    // The provider's questions (does it exist, does it carry this kind, do the settings and
    // secrets fit its typed structs) are its adapter's; the error names the field.
    parley_channels::providers()
        .check_channel(
            &d.provider,
            &parley_channels::adapter::ChannelConfig {
                kind: d.kind,
                address: &address,
                number_type: d.number_type,
                settings: &settings,
                secrets: &secrets,
            },
        )
        .map_err(|e| invalid(e.to_string()))?;
    Ok(ChannelSpec {
        name,
        kind: d.kind,
        provider: d.provider,
        address,
        number_type: d.number_type,
        provider_keyword,
        country,
        consent_level: d.consent_level,
        queue_id: d.queue_id,
        throughput_mps: d.throughput_mps.map(|_| i64::from(throughput)),
        settings,
        secrets,
    })
}

pub fn queue_spec(
    name: &str,
    routing_model: RoutingModel,
    priority: i64,
    assignment: parley_core::model::QueueAssignment,
) -> Result<QueueSpec, ServiceError> {
    if !(-1000..=1000).contains(&priority) {
        return Err(invalid("queue priority must be between -1000 and 1000"));
    }
    Ok(QueueSpec {
        name: check_name("queue", name)?,
        routing_model,
        priority,
        assignment,
    })
}

pub fn skill_spec(name: &str, description: &str) -> Result<SkillSpec, ServiceError> {
    if description.chars().count() > 1000 {
        return Err(invalid("skill description must be at most 1000 characters"));
    }
    Ok(SkillSpec {
        name: check_name("skill", name)?,
        description: description.to_owned(),
    })
}

pub fn agent_spec(
    name: &str,
    email: &str,
    role: AgentRole,
    capacity: i64,
    mut queue_ids: Vec<Uuid>,
    mut skills: Vec<AgentSkill>,
) -> Result<AgentSpec, ServiceError> {
    let email = check_email(email)?;
    if !(0..=100).contains(&capacity) {
        return Err(invalid("agent capacity must be between 0 and 100"));
    }
    for s in &skills {
        check_skill_level(s.level)?;
    }
    queue_ids.sort();
    queue_ids.dedup();
    skills.sort_by_key(|s| s.skill_id);
    if skills
        .windows(2)
        .any(|w| matches!(w, [a, b] if a.skill_id == b.skill_id))
    {
        return Err(invalid("a skill is listed twice for the same agent"));
    }
    Ok(AgentSpec {
        name: check_name("agent", name)?,
        email,
        role,
        capacity,
        queue_ids,
        skills,
    })
}

pub(crate) fn check_skill_level(level: i64) -> Result<(), ServiceError> {
    if (1..=10).contains(&level) {
        Ok(())
    } else {
        Err(invalid(format!("skill levels are 1 to 10, got {level}")))
    }
}

fn check_email(email: &str) -> Result<String, ServiceError> {
    let e = email.trim();
    let valid = e.len() <= 254
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !e.chars().any(char::is_whitespace);
    if valid {
        Ok(e.to_ascii_lowercase())
    } else {
        Err(invalid(format!("'{e}' is not an email address")))
    }
}

pub fn contact_spec(
    first_name: &str,
    last_name: &str,
    phone: Option<&str>,
    email: Option<&str>,
) -> Result<ContactSpec, ServiceError> {
    if first_name.chars().count() > 100 || last_name.chars().count() > 100 {
        return Err(invalid("names must be at most 100 characters"));
    }
    let phone = phone
        .map(|p| E164::parse(p).map_err(|e| invalid(e.to_string())))
        .transpose()?;
    let email = email.map(check_email).transpose()?;
    Ok(ContactSpec {
        first_name: first_name.trim().to_owned(),
        last_name: last_name.trim().to_owned(),
        phone,
        email,
    })
}
