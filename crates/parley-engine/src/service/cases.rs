//! Cases (CMP-01): a subject, a status (new, working, closed), an owner, and the sessions linked
//! to them. Every change publishes `CaseChanged` once it is committed.

use parley_core::Timestamp;
use parley_core::crm::{case_reopen, case_status_change};
use parley_core::model::CaseStatus;
use parley_store::{Case, CaseWrite, NewCase, Store};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::specs::invalid;
use super::{ServiceError, referenced};
use crate::events::{DomainEvent, EventBus};

/// Longest subject accepted.
const MAX_SUBJECT_CHARS: usize = 200;
/// Most sessions a case may be created with in one call.
const MAX_SESSIONS: usize = 50;

/// A case as the API creates it. Without `contact_id`, the contact of the first session's
/// messaging user is used.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseInput {
    pub subject: String,
    pub contact_id: Option<Uuid>,
    pub channel_id: Option<Uuid>,
    pub owner_agent_id: Option<Uuid>,
    #[serde(default)]
    pub session_ids: Vec<Uuid>,
}

/// A change to a case; a field left out stays as it is. `owner_agent_id: null` removes the
/// owner. Setting `status` to `closed` closes the case; a closed case is reopened explicitly.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CasePatch {
    pub subject: Option<String>,
    #[schema(schema_with = super::schema::case_status_or_null)]
    pub status: Option<CaseStatus>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Uuid>)]
    pub owner_agent_id: Option<Option<Uuid>>,
}

/// Tells a field given as `null` (`Some(None)`) from a field left out (`None`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<Uuid>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

fn check_subject(subject: &str) -> Result<String, ServiceError> {
    let s = subject.trim();
    if s.is_empty() {
        return Err(invalid("subject: give the case a subject"));
    }
    if s.chars().count() > MAX_SUBJECT_CHARS {
        return Err(invalid(format!(
            "subject: at most {MAX_SUBJECT_CHARS} characters"
        )));
    }
    Ok(s.to_owned())
}

async fn check_owner(store: &Store, owner: Option<Uuid>) -> Result<(), ServiceError> {
    if let Some(owner) = owner {
        referenced(store.agent(owner).await, "owner_agent_id")?;
    }
    Ok(())
}

fn changed(events: Option<&EventBus>, case_id: Uuid) {
    if let Some(events) = events {
        events.publish(DomainEvent::CaseChanged { case_id });
    }
}

pub async fn create(
    store: &Store,
    events: Option<&EventBus>,
    input: &CaseInput,
    now: Timestamp,
) -> Result<Case, ServiceError> {
    let subject = check_subject(&input.subject)?;
    if input.session_ids.len() > MAX_SESSIONS {
        return Err(invalid(format!(
            "session_ids: at most {MAX_SESSIONS} at once"
        )));
    }
    let mut sessions = Vec::with_capacity(input.session_ids.len());
    for id in &input.session_ids {
        sessions.push(referenced(store.session(*id).await, "session_ids")?);
    }
    let contact_id = match (input.contact_id, sessions.first()) {
        (Some(c), _) => referenced(store.contact(c).await, "contact_id")?.id,
        (None, Some(s)) => store
            .messaging_user(s.messaging_user_id)
            .await?
            .contact_id
            .ok_or_else(|| {
                invalid("contact_id: the session's customer has no contact; link one or give contact_id")
            })?,
        (None, None) => return Err(invalid("contact_id: give the case's contact")),
    };
    let channel_id = match (input.channel_id, sessions.first()) {
        (Some(c), _) => Some(referenced(store.channel(c).await, "channel_id")?.id),
        (None, s) => s.map(|s| s.channel_id),
    };
    check_owner(store, input.owner_agent_id).await?;
    let new = NewCase {
        contact_id,
        channel_id,
        subject,
        owner_agent_id: input.owner_agent_id,
        session_ids: input.session_ids.clone(),
    };
    let case = store.create_case_with(&new, now).await?;
    changed(events, case.id);
    Ok(case)
}

/// Changes a case's subject, status or owner. Closing stamps `closed_at`; a closed case only
/// changes through [`reopen`].
pub async fn update(
    store: &Store,
    events: Option<&EventBus>,
    id: Uuid,
    patch: &CasePatch,
    now: Timestamp,
) -> Result<Case, ServiceError> {
    let case = store.case(id).await?;
    let subject = patch
        .subject
        .as_deref()
        .map(check_subject)
        .transpose()?
        .unwrap_or_else(|| case.subject.clone());
    let status = match patch.status {
        Some(to) => {
            case_status_change(case.status, to).map_err(|e| invalid(format!("status: {e}")))?
        }
        None => case.status,
    };
    if case.status == CaseStatus::Closed {
        let field = match (&patch.subject, &patch.owner_agent_id) {
            (Some(_), _) => Some("subject"),
            (None, Some(_)) => Some("owner_agent_id"),
            (None, None) => None,
        };
        if let Some(field) = field {
            return Err(invalid(format!(
                "{field}: the case is closed: reopen it first"
            )));
        }
    }
    let owner = patch.owner_agent_id.unwrap_or(case.owner_agent_id);
    if owner != case.owner_agent_id {
        check_owner(store, owner).await?;
    }
    let closed_at = match status {
        CaseStatus::Closed => case.closed_at.or(Some(now)),
        _ => None,
    };
    let write = CaseWrite {
        subject,
        status,
        owner_agent_id: owner,
        closed_at,
    };
    let case = store.update_case(id, case.status, &write, now).await?;
    changed(events, id);
    Ok(case)
}

/// Closes a case (CMP-01 step 12); closing a closed case changes nothing.
pub async fn close(
    store: &Store,
    events: Option<&EventBus>,
    id: Uuid,
    now: Timestamp,
) -> Result<Case, ServiceError> {
    let case = store.case(id).await?;
    if case.status == CaseStatus::Closed {
        return Ok(case);
    }
    let patch = CasePatch {
        status: Some(CaseStatus::Closed),
        ..CasePatch::default()
    };
    update(store, events, id, &patch, now).await
}

/// Reopens a closed case: back to `working`, `closed_at` cleared.
pub async fn reopen(
    store: &Store,
    events: Option<&EventBus>,
    id: Uuid,
    now: Timestamp,
) -> Result<Case, ServiceError> {
    let case = store.case(id).await?;
    let status = case_reopen(case.status).map_err(|e| invalid(format!("status: {e}")))?;
    let write = CaseWrite {
        subject: case.subject.clone(),
        status,
        owner_agent_id: case.owner_agent_id,
        closed_at: None,
    };
    let case = store.update_case(id, case.status, &write, now).await?;
    changed(events, id);
    Ok(case)
}

/// Links a session to a case (taking it from the case it was linked to, if any).
pub async fn link_session(
    store: &Store,
    events: Option<&EventBus>,
    case_id: Uuid,
    session_id: Uuid,
    now: Timestamp,
) -> Result<Case, ServiceError> {
    let case = store.case(case_id).await?;
    let session = store.session(session_id).await?;
    if session.case_id == Some(case_id) {
        return Ok(case);
    }
    store
        .set_session_case(session_id, Some(case_id), None, now)
        .await?;
    changed(events, case_id);
    if let Some(previous) = session.case_id {
        changed(events, previous);
    }
    Ok(case)
}

/// Unlinks a session from a case; `NotFound` when it is not linked to it.
pub async fn unlink_session(
    store: &Store,
    events: Option<&EventBus>,
    case_id: Uuid,
    session_id: Uuid,
    now: Timestamp,
) -> Result<(), ServiceError> {
    store.case(case_id).await?;
    store
        .set_session_case(session_id, None, Some(case_id), now)
        .await?;
    changed(events, case_id);
    Ok(())
}
