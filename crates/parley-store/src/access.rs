//! The sessions an agent may read (the rule is `parley_core::access`): one SQL condition, used for
//! a single session and for a list, so the two never disagree.

use parley_core::model::SessionStatus;
use uuid::Uuid;

use crate::records::{PageRequest, Paged, Session, paginate};
use crate::{Result, SessionFilter, Store, on_backend};

/// `$head`, then the condition on the session row `s` for the agent `$1`, then `$tail`. Every
/// branch goes through an index (queue members by agent; routing work, read markers and entries
/// by session). A read marker is left by every accept, so an agent keeps reading a session they
/// worked on after it moved on (transferred, ended).
macro_rules! visible {
    ($head:literal, $tail:literal) => {
        concat!(
            $head,
            " (s.owner_id = $1 \
             OR s.queue_id IN (SELECT m.queue_id FROM queue_members m WHERE m.agent_id = $1) \
             OR EXISTS (SELECT 1 FROM routing_work w WHERE w.session_id = s.id \
                        AND (w.offered_agent_id = $1 OR w.transfer_from = $1)) \
             OR EXISTS (SELECT 1 FROM session_reads r WHERE r.session_id = s.id AND r.agent_id = $1) \
             OR EXISTS (SELECT 1 FROM entries e WHERE e.session_id = s.id AND e.actor_id = $1)) ",
            $tail
        )
    };
}

impl Store {
    /// Whether the agent may read this session (false for a session that does not exist).
    pub async fn session_visible_to(&self, agent_id: Uuid, session_id: Uuid) -> Result<bool> {
        let found = on_backend!(self, read c => sqlx::query(
            visible!("SELECT 1 FROM sessions s WHERE s.id = $2 AND", ""))
            .bind(agent_id).bind(session_id).fetch_optional(c).await.map(|r| r.is_some()))?;
        Ok(found)
    }

    /// `list_sessions`, narrowed to what the agent may read.
    pub async fn list_sessions_visible_to(
        &self,
        agent_id: Uuid,
        filter: SessionFilter,
        page: PageRequest,
    ) -> Result<Paged<Session>> {
        let rows = on_backend!(self, read c => sqlx::query_as::<_, Session>(visible!(
            "SELECT s.* FROM sessions s WHERE ($2 IS NULL OR s.id > $2) \
             AND ($3 IS NULL OR s.channel_id = $3) AND ($4 IS NULL OR s.messaging_user_id = $4) \
             AND ($5 IS NULL OR s.status = $5) AND",
            "ORDER BY s.id LIMIT $6"))
            .bind(agent_id).bind(page.after).bind(filter.channel_id).bind(filter.messaging_user_id)
            .bind(filter.status.map(SessionStatus::as_str)).bind(page.fetch_limit())
            .fetch_all(c).await)?;
        Ok(paginate(rows, page))
    }
}
