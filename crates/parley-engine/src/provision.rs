//! Turning what a person wrote (an API body, a `parley apply` file) into valid configuration, and
//! applying a whole workspace file idempotently: running it twice changes nothing, and removing an
//! item from the file deletes it only when pruning is asked for.

use std::collections::{BTreeMap, HashSet};

use parley_core::channel::{effective_throughput, normalize_address, normalize_provider_keyword};
use parley_core::model::{
    AgentRole, ChannelKind, ConsentLevel, NumberType, Provider, RoutingModel, TemplateCategory,
    TemplateStatus,
};
use parley_core::{Clock, E164};
use parley_store::{
    AgentSkill, AgentSpec, Channel, ChannelSpec, ContactSpec, PageRequest, QueueSpec, SkillSpec,
    Store, StoreError,
};
use serde::Deserialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::channel_rules::ChannelRules;
use crate::service::channels::{self, Writes};

/// Why a piece of configuration was refused, in words a person can act on.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(msg: impl Into<String>) -> ProvisionError {
    ProvisionError::Invalid(msg.into())
}

fn check_name(what: &str, name: &str) -> Result<String, ProvisionError> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 100 {
        return Err(invalid(format!("{what} name must be 1 to 100 characters")));
    }
    Ok(n.to_owned())
}

/// A channel as written by a person, before validation.
#[derive(Debug, Clone)]
pub struct ChannelDraft {
    pub name: String,
    pub kind: ChannelKind,
    pub provider: Provider,
    pub address: String,
    pub number_type: Option<NumberType>,
    pub provider_keyword: Option<String>,
    pub country: Option<String>,
    pub consent_level: ConsentLevel,
    pub queue_id: Option<Uuid>,
    pub throughput_mps: Option<u32>,
    pub settings: Map<String, Value>,
    pub secrets: Map<String, Value>,
}

pub fn channel_spec(d: ChannelDraft) -> Result<ChannelSpec, ProvisionError> {
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
    let secrets = Value::Object(d.secrets);
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
) -> Result<QueueSpec, ProvisionError> {
    if !(-1000..=1000).contains(&priority) {
        return Err(invalid("queue priority must be between -1000 and 1000"));
    }
    Ok(QueueSpec {
        name: check_name("queue", name)?,
        routing_model,
        priority,
    })
}

pub fn skill_spec(name: &str, description: &str) -> Result<SkillSpec, ProvisionError> {
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
) -> Result<AgentSpec, ProvisionError> {
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

fn check_skill_level(level: i64) -> Result<(), ProvisionError> {
    if (1..=10).contains(&level) {
        Ok(())
    } else {
        Err(invalid(format!("skill levels are 1 to 10, got {level}")))
    }
}

fn check_email(email: &str) -> Result<String, ProvisionError> {
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
) -> Result<ContactSpec, ProvisionError> {
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

// ---- parley apply ----

/// A workspace described in YAML or TOML. References between items are by name.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceFile {
    #[serde(default)]
    pub queues: Vec<QueueFile>,
    #[serde(default)]
    pub skills: Vec<SkillFile>,
    #[serde(default)]
    pub channels: Vec<ChannelFile>,
    #[serde(default)]
    pub agents: Vec<AgentFile>,
    /// SMS keyword processes, identified by number, provider keyword and type.
    #[serde(default)]
    pub sms_processes: Vec<crate::processes::ProcessFile>,
    /// Identified by title.
    #[serde(default)]
    pub quick_texts: Vec<crate::provision_rules::QuickTextFile>,
    /// Identified by name; tried in file order unless positions say otherwise.
    #[serde(default)]
    pub routing_rules: Vec<crate::provision_rules::RoutingRuleFile>,
}

/// A queue in a workspace file: the API's input, field for field.
pub type QueueFile = crate::service::queues::QueueInput;

/// A skill in a workspace file: the API's input, field for field.
pub type SkillFile = crate::service::skills::SkillInput;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelFile {
    pub name: String,
    pub kind: ChannelKind,
    pub provider: Provider,
    pub address: String,
    #[serde(default)]
    pub number_type: Option<NumberType>,
    /// The program's keyword on a shared short code.
    #[serde(default)]
    pub provider_keyword: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default = "default_consent_level")]
    pub consent_level: ConsentLevel,
    /// The queue's name.
    #[serde(default)]
    pub queue: Option<String>,
    #[serde(default)]
    pub throughput_mps: Option<u32>,
    #[serde(default)]
    pub settings: Map<String, Value>,
    #[serde(default)]
    pub secrets: Map<String, Value>,
    /// Keyword configuration per language ("en", "fr", ...).
    #[serde(default)]
    pub keyword_sets: BTreeMap<String, Value>,
    #[serde(default)]
    pub templates: Vec<TemplateFile>,
}

fn default_consent_level() -> ConsentLevel {
    ConsentLevel::Implicit
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateFile {
    pub name: String,
    pub language: String,
    pub category: TemplateCategory,
    #[serde(default = "default_template_status")]
    pub status: TemplateStatus,
    pub body: String,
    #[serde(default = "empty_array")]
    pub components: Value,
}

fn default_template_status() -> TemplateStatus {
    TemplateStatus::Approved
}

fn empty_array() -> Value {
    Value::Array(Vec::new())
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentFile {
    pub name: String,
    pub email: String,
    #[serde(default = "default_role")]
    pub role: AgentRole,
    #[serde(default = "default_capacity")]
    pub capacity: i64,
    #[serde(default)]
    pub queues: Vec<String>,
    #[serde(default)]
    pub skills: Vec<AgentSkillFile>,
}

fn default_role() -> AgentRole {
    AgentRole::Agent
}

fn default_capacity() -> i64 {
    3
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSkillFile {
    pub name: String,
    #[serde(default = "default_level")]
    pub level: i64,
}

fn default_level() -> i64 {
    5
}

/// What `apply` did, per kind of item.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ApplyReport {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: usize,
    pub deleted: Vec<String>,
}

impl ApplyReport {
    pub fn changed(&self) -> bool {
        !(self.created.is_empty() && self.updated.is_empty() && self.deleted.is_empty())
    }
}

/// Applies a workspace file. Every item is validated before anything is written, so a file with
/// a mistake changes nothing.
pub async fn apply(
    store: &Store,
    clock: &dyn Clock,
    file: &WorkspaceFile,
    prune: bool,
) -> Result<ApplyReport, ProvisionError> {
    validate_file(file)?;
    crate::provision_rules::validate(file)?;
    // Processes are checked against the stored ones too, still before anything is written.
    let process_plan = crate::processes::plan(store, &file.sms_processes, prune).await?;
    let mut report = ApplyReport::default();
    let now = clock.now();

    let mut queue_ids = BTreeMap::new();
    for q in &file.queues {
        let id = crate::service::queues::put_by_name(store, q, now, &mut report).await?;
        queue_ids.insert(q.name.trim().to_owned(), id);
    }

    let mut skill_ids = BTreeMap::new();
    for s in &file.skills {
        let id = crate::service::skills::put_by_name(store, s, now, &mut report).await?;
        skill_ids.insert(s.name.trim().to_owned(), id);
    }

    let lookup = |map: &BTreeMap<String, Uuid>, what: &str, name: &str| {
        map.get(name.trim()).copied().ok_or_else(|| {
            invalid(format!(
                "{what} '{name}' is referenced but not defined in the file"
            ))
        })
    };

    for c in &file.channels {
        let queue_id = c
            .queue
            .as_deref()
            .map(|q| lookup(&queue_ids, "queue", q))
            .transpose()?;
        let spec = channel_spec(ChannelDraft {
            name: c.name.clone(),
            kind: c.kind,
            provider: c.provider.clone(),
            address: c.address.clone(),
            number_type: c.number_type,
            provider_keyword: c.provider_keyword.clone(),
            country: c.country.clone(),
            consent_level: c.consent_level,
            queue_id,
            throughput_mps: c.throughput_mps,
            settings: c.settings.clone(),
            secrets: c.secrets.clone(),
        })?;
        let channel = match store.channel_by_name(&spec.name).await? {
            None => {
                report.created.push(format!("channel {}", spec.name));
                channels::create_spec(Writes::new(store), &spec, now).await?
            }
            Some(existing) => {
                if spec_of(&existing) != spec {
                    report.updated.push(format!("channel {}", spec.name));
                    channels::replace_spec(Writes::new(store), existing.id, &spec, now).await?
                } else {
                    report.unchanged += 1;
                    existing
                }
            }
        };
        apply_channel_children(store, &channel, c, prune, now, &mut report).await?;
    }

    for a in &file.agents {
        let queues = a
            .queues
            .iter()
            .map(|q| lookup(&queue_ids, "queue", q))
            .collect::<Result<Vec<_>, _>>()?;
        let skills = a
            .skills
            .iter()
            .map(|s| {
                Ok(crate::service::agents::AgentSkillLevel {
                    skill_id: lookup(&skill_ids, "skill", &s.name)?,
                    level: s.level,
                })
            })
            .collect::<Result<Vec<_>, ProvisionError>>()?;
        let input = crate::service::agents::AgentInput {
            name: a.name.clone(),
            email: a.email.clone(),
            role: a.role,
            capacity: a.capacity,
            queue_ids: queues,
            skills,
        };
        crate::service::agents::put_by_email(store, &input, now, &mut report).await?;
    }

    crate::processes::execute(store, process_plan, now, &mut report).await?;
    crate::provision_rules::apply(store, file, prune, now, &mut report).await?;
    if prune {
        prune_missing(store, file, &mut report).await?;
    }
    Ok(report)
}

async fn apply_channel_children(
    store: &Store,
    channel: &Channel,
    file: &ChannelFile,
    prune: bool,
    now: parley_core::Timestamp,
    report: &mut ApplyReport,
) -> Result<(), ProvisionError> {
    crate::service::keyword_sets::sync(store, channel, &file.keyword_sets, prune, now, report)
        .await?;
    let existing_templates = store.list_templates(Some(channel.id)).await?;
    // `apply` runs in a process of its own: no console there listens to its events.
    let events = crate::events::EventBus::new(1);
    for t in &file.templates {
        let input = template_input(t);
        crate::service::templates::put(
            store,
            &events,
            channel,
            &existing_templates,
            &input,
            now,
            report,
        )
        .await
        .map_err(|e| match e {
            ProvisionError::Invalid(m) => {
                invalid(format!("template '{}' of '{}': {m}", t.name, channel.name))
            }
            other => other,
        })?;
    }
    if prune {
        for t in existing_templates.iter().filter(|e| {
            !file
                .templates
                .iter()
                .any(|t| t.name.trim() == e.name && t.language.trim() == e.language)
        }) {
            report.deleted.push(format!(
                "template {}/{}/{}",
                channel.name, t.name, t.language
            ));
            crate::service::templates::delete(store, &events, t.id, now).await?;
        }
    }
    Ok(())
}

/// A file's template as the API's input: the same fields, with the file's defaults filled.
fn template_input(t: &TemplateFile) -> crate::service::templates::TemplateInput {
    crate::service::templates::TemplateInput {
        name: t.name.clone(),
        language: t.language.clone(),
        category: t.category,
        status: t.status,
        body: t.body.clone(),
        components: Some(t.components.clone()),
    }
}

/// The spec a stored channel was made from, to compare with a file's.
pub(crate) fn spec_of(c: &Channel) -> ChannelSpec {
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
    ChannelRules::build(channel, &sets)
        .and_then(|r| r.validate())
        .map_err(|e| invalid(format!("channel '{}': {e}", spec.name)))
}

/// The channel a spec would make, for the rules that look at a channel before it is saved.
fn unsaved_channel(spec: &ChannelSpec) -> Channel {
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
        created_at: now,
        updated_at: now,
    }
}

/// Refuses a file with duplicate names before anything is written.
fn validate_file(file: &WorkspaceFile) -> Result<(), ProvisionError> {
    fn unique<'a>(what: &str, names: impl Iterator<Item = &'a str>) -> Result<(), ProvisionError> {
        let mut seen = HashSet::new();
        for n in names {
            if !seen.insert(n.trim().to_ascii_lowercase()) {
                return Err(invalid(format!("{what} '{n}' appears twice in the file")));
            }
        }
        Ok(())
    }
    unique("queue", file.queues.iter().map(|q| q.name.as_str()))?;
    unique("skill", file.skills.iter().map(|s| s.name.as_str()))?;
    unique("channel", file.channels.iter().map(|c| c.name.as_str()))?;
    unique("agent", file.agents.iter().map(|a| a.email.as_str()))?;
    crate::processes::validate_file_processes(&file.sms_processes)?;
    let queues: HashSet<&str> = file.queues.iter().map(|q| q.name.trim()).collect();
    let skills: HashSet<&str> = file.skills.iter().map(|s| s.name.trim()).collect();
    let known = |set: &HashSet<&str>, what: &str, name: &str| {
        if set.contains(name.trim()) {
            Ok(())
        } else {
            Err(invalid(format!(
                "{what} '{name}' is referenced but not defined in the file"
            )))
        }
    };
    for q in &file.queues {
        queue_spec(&q.name, q.routing_model, q.priority)?;
    }
    for s in &file.skills {
        skill_spec(&s.name, &s.description)?;
    }
    for c in &file.channels {
        let templates: Vec<String> = c
            .templates
            .iter()
            .map(|t| format!("{}/{}", t.name.trim(), t.language.trim()))
            .collect();
        unique("template", templates.iter().map(String::as_str))?;
        for t in &c.templates {
            check_name("template", &t.name)?;
            parley_core::template::placeholder_count(&t.body)
                .map_err(|e| invalid(format!("template '{}': {e}", t.name.trim())))?;
        }
        if let Some(q) = &c.queue {
            known(&queues, "queue", q)?;
        }
        let spec = channel_spec(ChannelDraft {
            name: c.name.clone(),
            kind: c.kind,
            provider: c.provider.clone(),
            address: c.address.clone(),
            number_type: c.number_type,
            provider_keyword: c.provider_keyword.clone(),
            country: c.country.clone(),
            consent_level: c.consent_level,
            queue_id: None,
            throughput_mps: c.throughput_mps,
            settings: c.settings.clone(),
            secrets: c.secrets.clone(),
        })
        .map_err(|e| invalid(format!("channel '{}': {e}", c.name)))?;
        check_rules(&spec, &c.keyword_sets)?;
        let channel = unsaved_channel(&spec);
        for t in &c.templates {
            crate::service::templates::spec_of(&channel, &template_input(t))
                .map_err(|e| invalid(format!("template '{}' of '{}': {e}", t.name, c.name)))?;
        }
    }
    for a in &file.agents {
        for q in &a.queues {
            known(&queues, "queue", q)?;
        }
        for s in &a.skills {
            known(&skills, "skill", &s.name)?;
        }
        for s in &a.skills {
            check_skill_level(s.level)?;
        }
        agent_spec(
            &a.name,
            &a.email,
            a.role,
            a.capacity,
            Vec::new(),
            Vec::new(),
        )
        .map_err(|e| invalid(format!("agent '{}': {e}", a.email)))?;
        unique(
            "skill of an agent",
            a.skills.iter().map(|s| s.name.as_str()),
        )?;
    }
    Ok(())
}

async fn prune_missing(
    store: &Store,
    file: &WorkspaceFile,
    report: &mut ApplyReport,
) -> Result<(), ProvisionError> {
    let keep = |names: &mut dyn Iterator<Item = &str>| -> HashSet<String> {
        names.map(|n| n.trim().to_owned()).collect()
    };
    // E-mail addresses compare without case: the store keeps them lower-cased.
    let agents: HashSet<String> = file
        .agents
        .iter()
        .map(|a| a.email.trim().to_lowercase())
        .collect();
    for a in all(|p| store.list_agents(p)).await? {
        if !agents.contains(&a.email.to_lowercase()) {
            report.deleted.push(format!("agent {}", a.email));
            crate::service::agents::delete(store, a.id).await?;
        }
    }
    let channels = keep(&mut file.channels.iter().map(|c| c.name.as_str()));
    for c in all(|p| store.list_channels(p)).await? {
        if !channels.contains(&c.name) {
            report.deleted.push(format!("channel {}", c.name));
            channels::delete(Writes::new(store), c.id).await?;
        }
    }
    let skills = keep(&mut file.skills.iter().map(|s| s.name.as_str()));
    for s in all(|p| store.list_skills(p)).await? {
        if !skills.contains(&s.name) {
            report.deleted.push(format!("skill {}", s.name));
            crate::service::skills::delete(store, s.id).await?;
        }
    }
    let queues = keep(&mut file.queues.iter().map(|q| q.name.as_str()));
    for q in all(|p| store.list_queues(p)).await? {
        if !queues.contains(&q.name) {
            report.deleted.push(format!("queue {}", q.name));
            crate::service::queues::delete(store, q.id).await?;
        }
    }
    Ok(())
}

/// Every item of a paginated list.
async fn all<T, F, Fut>(mut page: F) -> Result<Vec<T>, StoreError>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: std::future::Future<Output = Result<parley_store::Paged<T>, StoreError>>,
{
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let p = page(PageRequest::new(after, PageRequest::MAX_LIMIT)).await?;
        out.extend(p.items);
        match p.next {
            Some(n) => after = Some(n),
            None => return Ok(out),
        }
    }
}
