//! Contacts: the people behind messaging users (a small CRM).

use parley_core::Timestamp;
use parley_store::{Contact, ContactSpec, Store};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::ServiceError;
use super::specs::contact_spec;

/// A contact as the API takes it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    /// International form; stored as E.164.
    pub phone: Option<String>,
    pub email: Option<String>,
}

pub fn spec(input: &ContactInput) -> Result<ContactSpec, ServiceError> {
    contact_spec(
        &input.first_name,
        &input.last_name,
        input.phone.as_deref(),
        input.email.as_deref(),
    )
}

pub async fn create(
    store: &Store,
    input: &ContactInput,
    now: Timestamp,
) -> Result<Contact, ServiceError> {
    Ok(store.create_contact(&spec(input)?, now).await?)
}

pub async fn update(
    store: &Store,
    id: Uuid,
    input: &ContactInput,
    now: Timestamp,
) -> Result<Contact, ServiceError> {
    Ok(store.update_contact(id, &spec(input)?, now).await?)
}

pub async fn delete(store: &Store, id: Uuid) -> Result<(), ServiceError> {
    Ok(store.delete_contact(id).await?)
}
