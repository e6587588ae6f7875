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

impl AuditActor {
    /// The stored name of the actor's kind: `agent`, `token`, `cli` or `system`.
    pub const fn kind_str(&self) -> &'static str {
        match self {
            Self::Agent { .. } => "agent",
            Self::Token { .. } => "token",
            Self::Cli => "cli",
            Self::System => "system",
        }
    }

    /// The agent's or the token's id.
    pub const fn id(&self) -> Option<Uuid> {
        match self {
            Self::Agent { id } | Self::Token { id, .. } => Some(*id),
            Self::Cli | Self::System => None,
        }
    }

    /// The agent who acted: the agent itself, or the one a token acts for.
    pub const fn agent_id(&self) -> Option<Uuid> {
        match self {
            Self::Agent { id } => Some(*id),
            Self::Token { agent_id, .. } => *agent_id,
            Self::Cli | Self::System => None,
        }
    }

    /// Rebuilds an actor from its stored columns; `None` for a kind this version does not know.
    pub fn from_parts(kind: &str, id: Option<Uuid>, agent_id: Option<Uuid>) -> Option<Self> {
        match (kind, id) {
            ("agent", Some(id)) => Some(Self::Agent { id }),
            ("token", Some(id)) => Some(Self::Token { id, agent_id }),
            ("cli", _) => Some(Self::Cli),
            ("system", _) => Some(Self::System),
            _ => None,
        }
    }
}

/// What an admin API request did, named from its method and route template (`/api/v1/...` with
/// `{param}` segments), for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAction {
    /// `channel_created`, `channel_updated`, `channel_deleted` for the resource itself;
    /// `sms_process_start` (POST), `channel_keyword_sets_updated` (PUT),
    /// `campaign_members_deleted` (DELETE) for what a route below a resource names.
    pub action: String,
    /// The first segment, singular, snake_case: `channel`, `sms_process`, `permission_set`.
    pub resource_kind: String,
    /// Which `{param}` of the route is the resource's id: the first one, if any.
    pub id_param: Option<String>,
}

/// Names an admin request's action from `method` (`POST`, `PUT`, `PATCH`, `DELETE`) and its route
/// template. `None` for a read (`GET`, `HEAD`) or a route outside `/api/v1/`.
pub fn http_action(method: &str, template: &str) -> Option<HttpAction> {
    let verb = match method {
        "POST" => "created",
        "PUT" | "PATCH" => "updated",
        "DELETE" => "deleted",
        _ => return None,
    };
    let rest = template.strip_prefix("/api/v1/")?;
    let mut segments = rest.split('/').filter(|s| !s.is_empty());
    let resource_kind = singular(&snake(segments.next()?));
    let mut id_param = None;
    let mut below = Vec::new();
    for s in segments {
        match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(p) => {
                if id_param.is_none() {
                    id_param = Some(p.to_owned());
                }
            }
            None => below.push(snake(s)),
        }
    }
    let action = match (below.is_empty(), method) {
        (true, _) => format!("{resource_kind}_{verb}"),
        // A POST below a resource is an act on it (start, replay, actions, members).
        (false, "POST") => format!("{resource_kind}_{}", below.join("_")),
        (false, _) => format!("{resource_kind}_{}_{verb}", below.join("_")),
    };
    Some(HttpAction {
        action,
        resource_kind,
        id_param,
    })
}

fn snake(segment: &str) -> String {
    segment.replace('-', "_").to_lowercase()
}

/// `channels` -> `channel`, `sms_processes` -> `sms_process`, `quick_texts` -> `quick_text`.
fn singular(word: &str) -> String {
    if let Some(stem) = word.strip_suffix("sses") {
        return format!("{stem}ss");
    }
    if let Some(stem) = word.strip_suffix("ies") {
        return format!("{stem}y");
    }
    if let Some(stem) = word.strip_suffix("ches") {
        return format!("{stem}ch");
    }
    match word.strip_suffix('s') {
        Some(stem) if !word.ends_with("ss") => stem.to_owned(),
        _ => word.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn act(method: &str, t: &str) -> (String, String, Option<String>) {
        let a = http_action(method, t).unwrap();
        (a.action, a.resource_kind, a.id_param)
    }

    #[test]
    fn actions_are_named_from_the_method_and_the_route() {
        assert_eq!(
            act("POST", "/api/v1/channels"),
            ("channel_created".into(), "channel".into(), None)
        );
        assert_eq!(
            act("PUT", "/api/v1/sms-processes/{id}"),
            (
                "sms_process_updated".into(),
                "sms_process".into(),
                Some("id".into())
            )
        );
        assert_eq!(
            act("DELETE", "/api/v1/permission-sets/{id}").0,
            "permission_set_deleted"
        );
        assert_eq!(
            act("POST", "/api/v1/sms-processes/{id}/start").0,
            "sms_process_start"
        );
        assert_eq!(
            act("PUT", "/api/v1/channels/{channel_id}/keyword-sets"),
            (
                "channel_keyword_sets_updated".into(),
                "channel".into(),
                Some("channel_id".into())
            )
        );
        assert_eq!(act("PATCH", "/api/v1/dead-letters/{id}").1, "dead_letter");
        assert_eq!(act("POST", "/api/v1/api-tokens").1, "api_token");
        assert_eq!(act("POST", "/api/v1/quick-texts").1, "quick_text");
        assert_eq!(act("POST", "/api/v1/queues").1, "queue");
        assert_eq!(act("POST", "/api/v1/addresses").1, "address");
        assert_eq!(http_action("GET", "/api/v1/channels"), None);
        assert_eq!(http_action("POST", "/webhooks/twilio/x"), None);
    }

    #[test]
    fn actors_round_trip_through_their_columns() {
        let id = Uuid::from_u128(7);
        for a in [
            AuditActor::Agent { id },
            AuditActor::Token {
                id,
                agent_id: Some(id),
            },
            AuditActor::Token { id, agent_id: None },
            AuditActor::Cli,
            AuditActor::System,
        ] {
            assert_eq!(
                AuditActor::from_parts(a.kind_str(), a.id(), a.agent_id()),
                Some(a)
            );
        }
    }
}
