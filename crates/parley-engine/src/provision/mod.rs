//! Turning what a person wrote (an API body, a `parley apply` file) into valid configuration, and
//! applying a whole workspace file idempotently: running it twice changes nothing, and removing an
//! item from the file deletes it only when pruning is asked for.

pub mod processes;
pub mod rules;
pub mod web;

use std::collections::{BTreeMap, HashSet};

use parley_core::Clock;
use parley_core::model::{
    AgentRole, ChannelKind, ConsentLevel, NumberType, Provider, TemplateCategory, TemplateStatus,
};
use parley_store::{Channel, PageRequest, Store, StoreError};
use serde::Deserialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::service::channels::unsaved_channel;
use crate::service::channels::{self, Writes};
use crate::service::specs::{check_name, check_skill_level, invalid};

// The validators and the report are the service layer's; `apply` re-exports them under the names
// its callers know.
pub use crate::service::ApplyReport;
pub use crate::service::ServiceError as ProvisionError;
pub use crate::service::channels::{check_rules, spec_of};
pub use crate::service::specs::{
    ChannelInput, agent_spec, channel_spec, contact_spec, queue_spec, skill_spec,
};

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
    pub sms_processes: Vec<self::processes::ProcessFile>,
    /// Identified by title.
    #[serde(default)]
    pub quick_texts: Vec<self::rules::QuickTextFile>,
    /// Identified by name; tried in file order unless positions say otherwise.
    #[serde(default)]
    pub routing_rules: Vec<self::rules::RoutingRuleFile>,
    /// Flows (bots, journeys), identified by name; a changed one becomes a new version.
    #[serde(default)]
    pub flows: Vec<parley_core::flow::FlowDefinition>,
    /// Keysets that verify web chat visitors, identified by name.
    #[serde(default)]
    pub keysets: Vec<self::web::KeysetFile>,
    /// Web chat deployments, identified by name.
    #[serde(default)]
    pub web_deployments: Vec<self::web::WebDeploymentFile>,
    /// Permission sets, identified by name; one named like a built-in role's set edits it.
    #[serde(default)]
    pub permission_sets: Vec<crate::service::permissions::PermissionSetInput>,
    /// Sensitive-data rules (PRIV-03), identified by name; the channel by its name.
    #[serde(default)]
    pub sensitive_data_rules: Vec<crate::service::sensitive_data::SensitiveDataRuleFile>,
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

impl ChannelFile {
    /// The channel as the service validates it, with its queue's name resolved to `queue_id`
    /// (its keyword sets and templates are applied after it).
    fn draft(&self, queue_id: Option<Uuid>) -> ChannelInput {
        ChannelInput {
            name: self.name.clone(),
            kind: self.kind,
            provider: self.provider.clone(),
            address: self.address.clone(),
            number_type: self.number_type,
            provider_keyword: self.provider_keyword.clone(),
            country: self.country.clone(),
            consent_level: self.consent_level,
            queue_id,
            throughput_mps: self.throughput_mps,
            settings: self.settings.clone(),
            secrets: Some(self.secrets.clone()),
            keyword_sets: None,
        }
    }
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
    /// Placeholder number to merge field, as the templates API takes them.
    #[serde(default)]
    pub merge_fields: Option<BTreeMap<String, String>>,
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
    /// The permission sets granted to the agent, by name. Absent: the grants stay as they are.
    #[serde(default)]
    pub permission_sets: Option<Vec<String>>,
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

/// Applies a workspace file. Every item is validated before anything is written, so a file with
/// a mistake changes nothing.
pub async fn apply(
    store: &Store,
    clock: &dyn Clock,
    file: &WorkspaceFile,
    prune: bool,
) -> Result<ApplyReport, ProvisionError> {
    validate_file(file)?;
    self::rules::validate(file)?;
    crate::service::sensitive_data::validate_file(&file.sensitive_data_rules)?;
    self::web::validate(file)?;
    // Processes are checked against the stored ones too, still before anything is written.
    let process_plan = self::processes::plan(store, &file.sms_processes, prune).await?;
    for f in &file.flows {
        crate::service::flows::check(f)?;
    }
    // The sets agents are granted: in the file, or already stored.
    let stored_sets = store.list_permission_sets().await?;
    for a in &file.agents {
        for name in a.permission_sets.iter().flatten() {
            let known = file
                .permission_sets
                .iter()
                .any(|s| s.name.trim() == name.trim())
                || stored_sets.iter().any(|s| s.name == name.trim());
            if !known {
                return Err(ProvisionError::Invalid(format!(
                    "agent '{}': permission set '{name}' is neither in the file nor stored",
                    a.email
                )));
            }
        }
    }
    let mut report = ApplyReport::default();
    let now = clock.now();

    // Before channels: their settings name the flows they start.
    crate::service::flows::apply(store, &file.flows, prune, now, &mut report).await?;

    // Before agents: they name the sets granted to them.
    for set in &file.permission_sets {
        crate::service::permissions::put_by_name(store, set, now, &mut report).await?;
    }

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
        let spec = channel_spec(c.draft(queue_id))?;
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
        if let Some(sets) = &a.permission_sets
            && let Some(agent) = store.agent_by_email(a.email.trim()).await?
        {
            crate::service::permissions::put_agent_grants(
                store,
                agent.id,
                &agent.email,
                sets,
                &mut report,
            )
            .await?;
        }
    }

    self::processes::execute(store, process_plan, now, &mut report).await?;
    self::rules::apply(store, file, prune, now, &mut report).await?;
    self::web::apply(store, file, prune, now, &mut report).await?;
    crate::service::sensitive_data::apply_file(
        store,
        &file.sensitive_data_rules,
        prune,
        now,
        &mut report,
    )
    .await?;
    if prune {
        prune_missing(store, file, &mut report).await?;
        let keep: Vec<String> = file
            .permission_sets
            .iter()
            .map(|s| s.name.clone())
            .collect();
        crate::service::permissions::prune_missing(store, &keep, &mut report).await?;
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
        status: Some(t.status),
        body: t.body.clone(),
        components: Some(t.components.clone()),
        merge_fields: t.merge_fields.clone(),
        variables: None,
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
    unique(
        "permission set",
        file.permission_sets.iter().map(|s| s.name.as_str()),
    )?;
    crate::service::permissions::check_file_sets(&file.permission_sets)?;
    self::processes::validate_file_processes(&file.sms_processes)?;
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
        queue_spec(&q.name, q.routing_model, q.priority, q.assignment)?;
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
        let spec = channel_spec(c.draft(None))
            .map_err(|e| invalid(format!("channel '{}': {e}", c.name)))?;
        check_rules(&spec, &c.keyword_sets)?;
        let file_templates: Vec<(String, String)> = c
            .templates
            .iter()
            .map(|t| (t.name.trim().to_owned(), t.language.trim().to_owned()))
            .collect();
        crate::service::channels::check_triggers(&spec, &file_templates)?;
        let channel = unsaved_channel(&spec);
        for t in &c.templates {
            crate::service::templates::spec_of(
                &channel,
                &template_input(t),
                parley_core::model::TemplateStatus::Approved,
            )
            .map_err(|e| invalid(format!("template '{}' of '{}': {e}", t.name, c.name)))?;
            crate::service::templates::merge_fields_of(&template_input(t))
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
