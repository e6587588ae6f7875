//! Flows (issue 12): saving a definition (validated, versioned), deleting one, and `apply`'s
//! flows. The rules of a valid definition are `parley_core::flow::validate`'s; a saved change is
//! a new version, and conversations already in the flow finish on the version they started with.

use parley_core::Timestamp;
use parley_core::flow::FlowDefinition;
use parley_store::{FlowSaved, Store, StoreError};

use super::{ApplyReport, ServiceError};

/// A definition read from a file or a request body: YAML, or JSON (which YAML reads too).
pub fn parse(text: &str) -> Result<FlowDefinition, ServiceError> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        return serde_json::from_str(text)
            .map_err(|e| ServiceError::Invalid(format!("the flow is not valid JSON: {e}")));
    }
    serde_norway::from_str(text)
        .map_err(|e| ServiceError::Invalid(format!("the flow is not valid YAML: {e}")))
}

/// The definition as YAML, for export.
pub fn to_yaml(flow: &FlowDefinition) -> String {
    serde_norway::to_string(flow).unwrap_or_default()
}

/// Checks a definition, naming every step at fault.
pub fn check(flow: &FlowDefinition) -> Result<(), ServiceError> {
    parley_core::flow::validate(flow).map_err(|issues| {
        ServiceError::Invalid(
            issues
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        )
    })
}

/// Saves a flow by its name: created, a new version, or unchanged.
pub async fn save(
    store: &Store,
    flow: &FlowDefinition,
    now: Timestamp,
) -> Result<FlowSaved, ServiceError> {
    check(flow)?;
    let json = serde_json::to_string(flow)
        .map_err(|e| ServiceError::Invalid(format!("the flow cannot be stored: {e}")))?;
    Ok(store
        .save_flow(&flow.name, &flow.description, flow.context, &json, now)
        .await?)
}

/// Deletes the flow named `name`; refused while conversations are in it.
pub async fn delete(store: &Store, name: &str) -> Result<(), ServiceError> {
    let flow = store
        .flow_by_name(name)
        .await?
        .ok_or(StoreError::NotFound { entity: "flow" })?;
    Ok(store.delete_flow(flow.id).await?)
}

/// `parley apply`: every flow of the file saved; with `prune`, flows not in the file deleted.
pub async fn apply(
    store: &Store,
    flows: &[FlowDefinition],
    prune: bool,
    now: Timestamp,
    report: &mut ApplyReport,
) -> Result<(), ServiceError> {
    for f in flows {
        check(f)?;
    }
    for f in flows {
        match save(store, f, now).await? {
            FlowSaved::Created(s) => report.created.push(format!("flow {}", s.name)),
            FlowSaved::Updated(s) => report
                .updated
                .push(format!("flow {} (version {})", s.name, s.version)),
            FlowSaved::Unchanged(_) => report.unchanged += 1,
        }
    }
    if prune {
        for stored in store.flows().await? {
            if !flows.iter().any(|f| f.name == stored.name) {
                store.delete_flow(stored.id).await?;
                report.deleted.push(format!("flow {}", stored.name));
            }
        }
    }
    Ok(())
}
