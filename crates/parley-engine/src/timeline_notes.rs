//! A person's timeline as agents read it: the entries of [`AgentDesk::timeline`] with the
//! sessions' internal notes and whispers merged in by time, each whisper only for the agent it
//! was whispered to and for supervisors and admins (issue 15, AG-15).

use std::collections::HashMap;

use parley_core::model::{ChannelKind, SessionStatus};
use parley_core::notes::{NoteReader, may_read};
use serde::Serialize;
use uuid::Uuid;

use crate::agents::{AgentActionError, AgentDesk, TimelineEntry};

/// One line of a timeline: a message or event of a session, or a note on it.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum TimelineItem {
    Entry(Box<TimelineEntry>),
    Note(TimelineNoteItem),
}

/// A note as the timeline shows it: `direction` is always `note`.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineNoteItem {
    pub id: Uuid,
    pub session_id: Uuid,
    pub direction: &'static str,
    pub author_id: Option<Uuid>,
    /// The author's name when the agent still exists.
    pub author_name: Option<String>,
    pub body: String,
    /// Set for a whisper: the agent it was whispered to, and their name.
    pub whisper_to: Option<Uuid>,
    pub whisper_to_name: Option<String>,
    /// Milliseconds since the epoch, like the entries'.
    pub created_at: parley_core::Timestamp,
    pub channel_kind: Option<ChannelKind>,
    pub session_status: SessionStatus,
}

/// The entries in their own order, each note placed before the first entry written after it.
fn merge(entries: Vec<TimelineEntry>, notes: Vec<TimelineNoteItem>) -> Vec<TimelineItem> {
    let mut out = Vec::with_capacity(entries.len() + notes.len());
    let mut notes = notes.into_iter().peekable();
    for e in entries {
        while let Some(n) = notes.next_if(|n| n.created_at < e.entry.created_at) {
            out.push(TimelineItem::Note(n));
        }
        out.push(TimelineItem::Entry(Box::new(e)));
    }
    out.extend(notes.map(TimelineItem::Note));
    out
}

impl AgentDesk {
    /// [`AgentDesk::timeline`] with the notes `reader` may read, oldest first. Notes older than
    /// the oldest entry shown stay out when the entries were cut at `limit`, so the two parts
    /// cover the same stretch of time.
    pub async fn timeline_with_notes(
        &self,
        messaging_user_id: Uuid,
        limit: i64,
        reader: NoteReader,
    ) -> Result<Vec<TimelineItem>, AgentActionError> {
        let entries = self.timeline(messaging_user_id, limit).await?;
        let user = self.store.messaging_user(messaging_user_id).await?;
        let mut users = vec![user.id];
        if let Some(contact_id) = user.contact_id {
            for u in self.store.messaging_users_of_contact(contact_id).await? {
                if !users.contains(&u.id) {
                    users.push(u.id);
                }
            }
        }
        let notes = self.store.notes_of_users(&users, limit).await?;
        let cut = (entries.len() as i64 >= limit)
            .then(|| entries.first().map(|e| e.entry.created_at))
            .flatten();
        let mut kinds: HashMap<Uuid, Option<ChannelKind>> = HashMap::new();
        let mut names: HashMap<Uuid, Option<String>> = HashMap::new();
        let mut shown = Vec::with_capacity(notes.len());
        for n in notes {
            if !may_read(reader, n.note.whisper_to) || cut.is_some_and(|c| n.note.created_at < c) {
                continue;
            }
            let kind = match kinds.get(&n.channel_id) {
                Some(k) => *k,
                None => {
                    let k = self.store.channel(n.channel_id).await.ok().map(|c| c.kind);
                    kinds.insert(n.channel_id, k);
                    k
                }
            };
            let author_name = self.agent_name(&mut names, n.note.author_id).await;
            let whisper_to_name = self.agent_name(&mut names, n.note.whisper_to).await;
            shown.push(TimelineNoteItem {
                id: n.note.id,
                session_id: n.note.session_id,
                direction: "note",
                author_id: n.note.author_id,
                author_name,
                body: n.note.body,
                whisper_to: n.note.whisper_to,
                whisper_to_name,
                created_at: n.note.created_at,
                channel_kind: kind,
                session_status: n.session_status,
            });
        }
        Ok(merge(entries, shown))
    }

    /// An agent's name, read once per timeline; `None` for an agent since deleted.
    async fn agent_name(
        &self,
        names: &mut HashMap<Uuid, Option<String>>,
        id: Option<Uuid>,
    ) -> Option<String> {
        let id = id?;
        if let Some(name) = names.get(&id) {
            return name.clone();
        }
        let name = self.store.agent(id).await.ok().map(|a| a.name);
        names.insert(id, name.clone());
        name
    }
}
