//! One service function per write of a resource, shared by the REST API, the console and
//! `parley apply`: each validates (with the rules of `parley-core`), writes through the store,
//! and invalidates what a node caches, so no path can skip a rule another path runs.
//!
//! The errors are [`ServiceError`]s: `Invalid` (a person can fix the input) or a store error
//! (`NotFound`, `Conflict` naming the resource, ...), which the HTTP layer maps to its codes.

pub mod agents;
pub mod campaigns;
pub mod cases;
pub mod channels;
pub mod contacts;
pub mod conversations;
pub mod dead_letters;
pub mod deliveries;
pub mod flows;
pub mod keyword_sets;
pub mod messaging_users;
pub mod notes;
pub mod notifications;
pub mod permissions;
pub mod privacy;
pub mod queues;
pub mod quick_texts;
pub mod retention;
pub mod routing_rules;
pub mod schema;
pub mod search;
pub mod segment_count;
pub mod sender_limits;
pub mod sensitive_data;
pub mod simulator;
pub mod skills;
pub mod sms_processes;
pub mod subscriptions;
pub mod templates;
pub mod tokens;
pub mod translations;
pub mod twilio;
pub mod uploads;
pub mod web;

pub mod specs;

/// Why a write was refused: `Invalid` in words a person can act on, or the store's error.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
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

use parley_store::StoreError;

/// A lookup of something the input names: missing is a mistake in the input (422), not a missing
/// resource of the path (404).
pub(crate) fn referenced<T>(r: Result<T, StoreError>, what: &str) -> Result<T, ServiceError> {
    r.map_err(|e| match e {
        StoreError::NotFound { .. } => ServiceError::Invalid(format!("{what} does not exist")),
        other => ServiceError::Store(other),
    })
}
