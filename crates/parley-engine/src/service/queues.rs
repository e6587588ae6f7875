//! Queues: where sessions wait for an agent.

use parley_core::Timestamp;
use parley_core::model::{QueueAssignment, RoutingModel};
use parley_store::{Queue, QueueSpec, Store};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::ApplyReport;
use super::ServiceError;
use super::specs::queue_spec;

/// A queue as the API takes it and a workspace file writes it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueInput {
    /// 1 to 100 characters, not blank; stored trimmed.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    #[serde(default = "most_available")]
    #[schema(schema_with = super::schema::routing_model)]
    pub routing_model: RoutingModel,
    /// Higher is served first.
    #[serde(default)]
    pub priority: i64,
    /// `push`: routing offers waiting sessions to agents; `pick`: the queue's members see them
    /// waiting in the console and take one themselves (RT-13).
    #[serde(default = "push")]
    #[schema(schema_with = super::schema::queue_assignment)]
    pub assignment: QueueAssignment,
}

fn most_available() -> RoutingModel {
    RoutingModel::MostAvailable
}

fn push() -> QueueAssignment {
    QueueAssignment::Push
}

pub fn spec(input: &QueueInput) -> Result<QueueSpec, ServiceError> {
    queue_spec(
        &input.name,
        input.routing_model,
        input.priority,
        input.assignment,
    )
}

pub async fn create(
    store: &Store,
    input: &QueueInput,
    now: Timestamp,
) -> Result<Queue, ServiceError> {
    Ok(store.create_queue(&spec(input)?, now).await?)
}

pub async fn update(
    store: &Store,
    id: Uuid,
    input: &QueueInput,
    now: Timestamp,
) -> Result<Queue, ServiceError> {
    Ok(store.update_queue(id, &spec(input)?, now).await?)
}

pub async fn delete(store: &Store, id: Uuid) -> Result<(), ServiceError> {
    Ok(store.delete_queue(id).await?)
}

/// `parley apply`: the queue of this name made as the file says; answers its id.
pub async fn put_by_name(
    store: &Store,
    input: &QueueInput,
    now: Timestamp,
    report: &mut ApplyReport,
) -> Result<Uuid, ServiceError> {
    let spec = spec(input)?;
    Ok(match store.queue_by_name(&spec.name).await? {
        None => {
            report.created.push(format!("queue {}", spec.name));
            store.create_queue(&spec, now).await?.id
        }
        Some(existing) => {
            let current = QueueSpec {
                name: existing.name.clone(),
                routing_model: existing.routing_model,
                priority: existing.priority,
                assignment: existing.assignment,
            };
            if current != spec {
                report.updated.push(format!("queue {}", spec.name));
                store.update_queue(existing.id, &spec, now).await?;
            } else {
                report.unchanged += 1;
            }
            existing.id
        }
    })
}
