//! Quick texts (AG-08): prepared replies with merge fields. Their shape rule is
//! `parley_core::merge::quick_text`.

use parley_core::Timestamp;
use parley_core::merge;
use parley_store::{QuickText, QuickTextSpec, Store};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::ApplyReport;
use super::ServiceError;

/// A quick text as the API takes it and a workspace file writes it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuickTextInput {
    /// 1 to 100 characters, trimmed.
    pub title: String,
    /// 1 to 4,096 characters, kept exactly as written (line breaks included). Merge fields such as
    /// `{{contact.first_name}}` and `{{agent.name}}` are filled when rendered for a session.
    pub body: String,
}

pub fn spec(input: &QuickTextInput) -> Result<QuickTextSpec, ServiceError> {
    let draft = merge::quick_text(&input.title, &input.body)
        .map_err(|e| ServiceError::Invalid(e.to_string()))?;
    Ok(QuickTextSpec {
        title: draft.title,
        body: draft.body,
    })
}

pub async fn create(
    store: &Store,
    input: &QuickTextInput,
    now: Timestamp,
) -> Result<QuickText, ServiceError> {
    Ok(store.create_quick_text(&spec(input)?, now).await?)
}

pub async fn update(
    store: &Store,
    id: Uuid,
    input: &QuickTextInput,
    now: Timestamp,
) -> Result<QuickText, ServiceError> {
    Ok(store.update_quick_text(id, &spec(input)?, now).await?)
}

pub async fn delete(store: &Store, id: Uuid) -> Result<(), ServiceError> {
    Ok(store.delete_quick_text(id).await?)
}

/// `parley apply`: the quick text of this title made as the file says, among `existing`; answers
/// its id.
pub async fn put_by_title(
    store: &Store,
    existing: &[QuickText],
    input: &QuickTextInput,
    now: Timestamp,
    report: &mut ApplyReport,
) -> Result<Uuid, ServiceError> {
    let spec = spec(input)?;
    Ok(match existing.iter().find(|e| e.title == spec.title) {
        None => {
            report.created.push(format!("quick text {}", spec.title));
            store.create_quick_text(&spec, now).await?.id
        }
        Some(e) => {
            if e.body != spec.body {
                report.updated.push(format!("quick text {}", spec.title));
                store.update_quick_text(e.id, &spec, now).await?;
            } else {
                report.unchanged += 1;
            }
            e.id
        }
    })
}
