//! Who did what to which resource, and when: the append-only audit log (issue 16, part 6).
//!
//! An entry names its actor and the resource it touched, never the content: no message text,
//! no secret, no token is ever part of `detail`.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Who acted: a signed-in agent, an API token (and the agent it acts for, if any), the
/// command line on the server, or Parley itself (retention, an erasure job's steps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AuditActor {
    Agent { id: Uuid },
    Token { id: Uuid, agent_id: Option<Uuid> },
    Cli,
    System,
}

/// One audit record as a writer gives it; the store adds the id and the time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub actor: AuditActor,
    /// What was done, a stable snake_case verb phrase: `channel_updated`, `privacy_export`,
    /// `privacy_erasure`, `processing_restricted`, `conversation_opened`, ...
    pub action: String,
    /// The kind of resource: `channel`, `messaging_user`, `contact`, `session`, ...
    pub resource_kind: String,
    /// The resource's id (or the route's path parameters) when there is one.
    pub resource_id: Option<String>,
    /// Structured facts about the change, never personal content or secrets.
    pub detail: serde_json::Value,
}
