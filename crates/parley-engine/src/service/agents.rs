//! Agents: people who answer, with their queues, skills and console password. A workspace file
//! names queues and skills where the API gives ids; `apply` resolves the names and then writes
//! through the same functions.

use parley_core::Timestamp;
use parley_core::access::PermissionSet;
use parley_core::model::AgentRole;
use parley_store::{Agent, AgentSkill, AgentSpec, Store};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::ApplyReport;
use super::ServiceError;
use super::specs::agent_spec;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentSkillLevel {
    pub skill_id: Uuid,
    /// 1 (basic) to 10 (expert).
    pub level: i64,
}

/// An agent as the API takes it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentInput {
    /// 1 to 100 characters, not blank; stored trimmed.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    pub email: String,
    #[serde(default = "agent_role")]
    #[schema(schema_with = super::schema::agent_role)]
    pub role: AgentRole,
    /// Sessions the agent can hold at once.
    #[serde(default = "three")]
    pub capacity: i64,
    #[serde(default)]
    pub queue_ids: Vec<Uuid>,
    #[serde(default)]
    pub skills: Vec<AgentSkillLevel>,
}

fn agent_role() -> AgentRole {
    AgentRole::Agent
}

fn three() -> i64 {
    3
}

pub fn spec(input: &AgentInput) -> Result<AgentSpec, ServiceError> {
    let skills = input
        .skills
        .iter()
        .map(|s| AgentSkill {
            skill_id: s.skill_id,
            level: s.level,
        })
        .collect();
    agent_spec(
        &input.name,
        &input.email,
        input.role,
        input.capacity,
        input.queue_ids.clone(),
        skills,
    )
}

/// A new agent, made by someone holding `by`: the role's permissions are granted, so `by` must
/// hold them all (`service::permissions`).
pub async fn create(
    store: &Store,
    by: PermissionSet,
    input: &AgentInput,
    now: Timestamp,
) -> Result<Agent, ServiceError> {
    let spec = spec(input)?;
    super::permissions::check_agent_role(store, by, None, spec.role).await?;
    Ok(store.create_agent(&spec, now).await?)
}

/// Changes an agent; a new role is a grant (as for [`create`]) and may not take `manage_users`
/// from the last agent who holds it.
pub async fn update(
    store: &Store,
    by: PermissionSet,
    id: Uuid,
    input: &AgentInput,
    now: Timestamp,
) -> Result<Agent, ServiceError> {
    let spec = spec(input)?;
    let current = store.agent(id).await?;
    super::permissions::check_agent_role(store, by, Some((id, current.role)), spec.role).await?;
    Ok(store.update_agent(id, &spec, now).await?)
}

/// Deletes an agent, unless they are the last who holds `manage_users`.
pub async fn delete(store: &Store, id: Uuid) -> Result<(), ServiceError> {
    super::permissions::check_agent_removal(store, id).await?;
    Ok(store.delete_agent(id).await?)
}

/// The rule for a console password, checked before it is hashed.
pub fn check_password(password: &str) -> Result<(), ServiceError> {
    let length = password.chars().count();
    if (12..=1024).contains(&length) {
        Ok(())
    } else {
        Err(ServiceError::Invalid(
            "a password has 12 to 1,024 characters".to_owned(),
        ))
    }
}

/// Stores a password hash (made by the HTTP layer, which owns the hashing) for an agent.
pub async fn set_password_hash(
    store: &Store,
    id: Uuid,
    hash: &str,
    now: Timestamp,
) -> Result<(), ServiceError> {
    Ok(store.set_agent_password_hash(id, hash, now).await?)
}

/// `parley apply`: the agent with this e-mail made as the file says.
pub async fn put_by_email(
    store: &Store,
    input: &AgentInput,
    now: Timestamp,
    report: &mut ApplyReport,
) -> Result<(), ServiceError> {
    let spec = spec(input)?;
    match store.agent_by_email(&spec.email).await? {
        None => {
            report.created.push(format!("agent {}", spec.email));
            store.create_agent(&spec, now).await?;
        }
        Some(existing) => {
            let current = AgentSpec {
                name: existing.name.clone(),
                email: existing.email.clone(),
                role: existing.role,
                capacity: existing.capacity,
                queue_ids: existing.queue_ids.clone(),
                skills: existing.skills.clone(),
            };
            if current != spec {
                report.updated.push(format!("agent {}", spec.email));
                store.update_agent(existing.id, &spec, now).await?;
            } else {
                report.unchanged += 1;
            }
        }
    }
    Ok(())
}
