//! Skills: what agents know; routing can ask for one.

use parley_core::Timestamp;
use parley_store::{Skill, Store};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::ApplyReport;
use super::ServiceError;
use super::specs::skill_spec;

/// A skill as the API takes it and a workspace file writes it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SkillInput {
    /// 1 to 100 characters, not blank; stored trimmed.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    #[serde(default)]
    pub description: String,
}

pub async fn create(
    store: &Store,
    input: &SkillInput,
    now: Timestamp,
) -> Result<Skill, ServiceError> {
    let spec = skill_spec(&input.name, &input.description)?;
    Ok(store.create_skill(&spec, now).await?)
}

pub async fn update(
    store: &Store,
    id: Uuid,
    input: &SkillInput,
    now: Timestamp,
) -> Result<Skill, ServiceError> {
    let spec = skill_spec(&input.name, &input.description)?;
    Ok(store.update_skill(id, &spec, now).await?)
}

pub async fn delete(store: &Store, id: Uuid) -> Result<(), ServiceError> {
    Ok(store.delete_skill(id).await?)
}

/// `parley apply`: the skill of this name made as the file says; answers its id.
pub async fn put_by_name(
    store: &Store,
    input: &SkillInput,
    now: Timestamp,
    report: &mut ApplyReport,
) -> Result<Uuid, ServiceError> {
    let spec = skill_spec(&input.name, &input.description)?;
    Ok(match store.skill_by_name(&spec.name).await? {
        None => {
            report.created.push(format!("skill {}", spec.name));
            store.create_skill(&spec, now).await?.id
        }
        Some(existing) => {
            if existing.description != spec.description {
                report.updated.push(format!("skill {}", spec.name));
                store.update_skill(existing.id, &spec, now).await?;
            } else {
                report.unchanged += 1;
            }
            existing.id
        }
    })
}
