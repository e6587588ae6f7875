//! Internal notes, supervisor whispers and tags (issue 15, AG-15). One write each, shared by the
//! API and the console. A note is stored apart from the session's entries, so no send path,
//! webhook or customer transcript can carry it.

use parley_core::Timestamp;
use parley_core::access::{Permission, PermissionSet};
use parley_core::model::{Actor, OwnerKind};
use parley_core::notes::{NoteRuleError, normalize_tags, note_body};
use parley_store::{Agent, NewNote, Note, Store, StoreError, Tagged};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::events::{DomainEvent, EventBus};
use crate::sensitive_data::{SensitiveRules, author_of, mask_with};

/// A note as the API takes it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteInput {
    /// 1 to 4,000 characters.
    pub body: String,
    /// An agent's id to whisper to (needs `supervise`): only that agent, supervisors and admins
    /// read it. `null` or left out: a note every reader of the conversation reads.
    #[serde(default)]
    pub whisper_to: Option<Uuid>,
}

/// Tags as the API takes them: the whole set, replacing the previous one.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TagsInput {
    /// Each 1 to 40 characters once trimmed; at most 20; stored in lower case.
    pub tags: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum NoteError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for NoteError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { entity } => Self::NotFound(entity),
            other => Self::Store(other),
        }
    }
}

impl From<NoteRuleError> for NoteError {
    fn from(e: NoteRuleError) -> Self {
        Self::Invalid(e.to_string())
    }
}

/// Where a note goes and who is told.
#[derive(Clone, Copy)]
pub struct NoteDesk<'a> {
    pub store: &'a Store,
    pub sensitive: &'a SensitiveRules,
    pub events: Option<&'a EventBus>,
}

fn works(session: &parley_store::Session, agent_id: Uuid) -> bool {
    session.owner_kind == Some(OwnerKind::Agent) && session.owner_id == Some(agent_id)
}

/// Adds a note to a session as `author`. A plain note: the author works the session or holds
/// `supervise`. A whisper (`whisper_to`): the author holds `supervise`, and the target is an
/// agent. The text goes through the sensitive-data rules as the author's (an agent's, or a
/// supervisor's for supervisors and admins), like their replies.
pub async fn add(
    desk: NoteDesk<'_>,
    author: &Agent,
    permissions: PermissionSet,
    session_id: Uuid,
    input: &NoteInput,
    now: Timestamp,
) -> Result<Note, NoteError> {
    let session = desk.store.session(session_id).await?;
    let supervises = permissions.contains(Permission::Supervise);
    if input.whisper_to.is_some() && !supervises {
        return Err(NoteError::Forbidden(
            "a whisper is a supervisor's: it needs the supervise permission",
        ));
    }
    if !supervises && !works(&session, author.id) {
        return Err(NoteError::Forbidden(
            "a note goes on a session you work on (or needs the supervise permission)",
        ));
    }
    let body = note_body(&input.body)?;
    if let Some(to) = input.whisper_to {
        match desk.store.agent(to).await {
            Ok(_) => {}
            Err(StoreError::NotFound { .. }) => {
                return Err(NoteError::Invalid(
                    "whisper_to: no agent has this id".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        }
    }
    let rules = desk.sensitive.current(desk.store).await?;
    let who = author_of(Actor::Agent, Some(author.role));
    let masked = mask_with(&rules, session.channel_id, who, &body);
    let body = if masked.blocked.is_empty() {
        body
    } else {
        masked.text
    };
    let note = desk
        .store
        .write_note(
            &NewNote {
                session_id,
                author_id: Some(author.id),
                body,
                whisper_to: input.whisper_to,
            },
            now,
        )
        .await?;
    if let Some(events) = desk.events {
        events.publish(DomainEvent::NoteAdded {
            session_id,
            note_id: note.id,
            whisper_to: note.whisper_to,
        });
    }
    Ok(note)
}

/// Replaces a session's or a contact's tags (normalized; see `parley_core::notes`); returns them
/// as stored.
pub async fn set_tags(
    store: &Store,
    of: Tagged,
    input: &TagsInput,
    now: Timestamp,
) -> Result<Vec<String>, NoteError> {
    match of {
        Tagged::Session(id) => {
            store.session(id).await?;
        }
        Tagged::Contact(id) => {
            store.contact(id).await?;
        }
    }
    let tags = normalize_tags(&input.tags)?;
    store.set_tags(of, &tags, now).await?;
    Ok(store.tags_of(of).await?)
}
