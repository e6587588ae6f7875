//! Internal notes and supervisor whispers on sessions, and tags on sessions and contacts
//! (issue 15). Notes live apart from entries: the send paths, webhooks and transcripts read
//! entries only, so a note never reaches a customer.

use parley_core::{Timestamp, new_id};
use serde::Serialize;
use uuid::Uuid;

use crate::config::placeholders;
use crate::{Result, Store, StoreError, on_backend};

/// Notes of one session, oldest first (index `session_notes_session`).
pub const NOTES_OF_SESSION: &str =
    "SELECT * FROM session_notes WHERE session_id = $1 ORDER BY id LIMIT $2";

/// A note or whisper as stored (body opened).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Note {
    pub id: Uuid,
    pub session_id: Uuid,
    pub author_id: Option<Uuid>,
    pub body: String,
    pub whisper_to: Option<Uuid>,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
}

/// A note of a person's timeline, with what the timeline shows beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineNote {
    pub note: Note,
    pub channel_id: Uuid,
    pub session_status: parley_core::model::SessionStatus,
}

/// What [`Store::write_note`] writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNote {
    pub session_id: Uuid,
    pub author_id: Option<Uuid>,
    pub body: String,
    pub whisper_to: Option<Uuid>,
}

/// Whose tags: a session's or a contact's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tagged {
    Session(Uuid),
    Contact(Uuid),
}

impl Tagged {
    const fn table(self) -> (&'static str, &'static str, Uuid) {
        match self {
            Self::Session(id) => ("session_tags", "session_id", id),
            Self::Contact(id) => ("contact_tags", "contact_id", id),
        }
    }
}

impl Store {
    fn open_note(&self, mut n: Note) -> Result<Note> {
        n.body = self.open_text(&n.body)?;
        Ok(n)
    }

    /// Writes a note (its body sealed).
    pub async fn write_note(&self, new: &NewNote, now: Timestamp) -> Result<Note> {
        let note = Note {
            id: new_id(),
            session_id: new.session_id,
            author_id: new.author_id,
            body: new.body.clone(),
            whisper_to: new.whisper_to,
            created_at: now,
        };
        on_backend!(self, write c => sqlx::query(
            "INSERT INTO session_notes (id, session_id, author_id, body, whisper_to, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(note.id).bind(note.session_id).bind(note.author_id)
            .bind(self.seal_text(&note.body)).bind(note.whisper_to).bind(now.millis())
            .execute(c).await.map(|r| r.rows_affected()))?;
        Ok(note)
    }

    /// A session's notes and whispers, oldest first, at most `limit` (unfiltered: the engine
    /// decides who reads a whisper).
    pub async fn notes_of_session(&self, session_id: Uuid, limit: i64) -> Result<Vec<Note>> {
        let rows = on_backend!(self, read c => sqlx::query_as::<_, Note>(NOTES_OF_SESSION)
            .bind(session_id).bind(limit).fetch_all(c).await)?;
        rows.into_iter().map(|n| self.open_note(n)).collect()
    }

    /// The newest `limit` notes of the sessions of these messaging users, oldest first, with
    /// their session's channel and status.
    pub async fn notes_of_users(
        &self,
        messaging_user_ids: &[Uuid],
        limit: i64,
    ) -> Result<Vec<TimelineNote>> {
        use sqlx::Row;
        let mut out = Vec::new();
        for chunk in messaging_user_ids.chunks(64) {
            let sql = format!(
                "SELECT n.*, s.channel_id AS t_channel_id, s.status AS t_session_status \
                 FROM session_notes n JOIN sessions s ON s.id = n.session_id \
                 WHERE s.messaging_user_id IN ({}) ORDER BY n.id DESC LIMIT {limit}",
                placeholders(1, chunk.len())
            );
            let rows: Vec<TimelineNote> = on_backend!(self, read c => {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.clone()));
                for id in chunk {
                    q = q.bind(id);
                }
                let rows = q.fetch_all(c).await?;
                let mut v = Vec::with_capacity(rows.len());
                for r in &rows {
                    let note = self.open_note(<Note as sqlx::FromRow<_>>::from_row(r)?)?;
                    let status: String = r.try_get("t_session_status")?;
                    v.push(TimelineNote {
                        note,
                        channel_id: r.try_get("t_channel_id")?,
                        session_status: status
                            .parse()
                            .map_err(|e| StoreError::Corrupt(format!("{e}")))?,
                    });
                }
                Ok::<_, StoreError>(v)
            })?;
            out.extend(rows);
        }
        out.sort_by_key(|n| n.note.id);
        let skip = out
            .len()
            .saturating_sub(usize::try_from(limit).unwrap_or(0));
        Ok(out.split_off(skip))
    }

    /// Replaces the tags of a session or a contact, adding new ones to the vocabulary. The tags
    /// are already normalized (`parley_core::tags`).
    pub async fn set_tags(&self, of: Tagged, tags: &[String], now: Timestamp) -> Result<()> {
        let (table, key, id) = of.table();
        on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE {key} = $1")))
                .bind(id).execute(&mut *tx).await?;
            for tag in tags {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO {table} ({key}, tag, created_at) VALUES ($1, $2, $3)")))
                    .bind(id).bind(tag).bind(now.millis()).execute(&mut *tx).await?;
                sqlx::query("INSERT INTO tags (tag, created_at) VALUES ($1, $2) ON CONFLICT (tag) DO NOTHING")
                    .bind(tag).bind(now.millis()).execute(&mut *tx).await?;
            }
            tx.commit().await
        })?;
        Ok(())
    }

    /// The tags of a session or contact, alphabetical.
    pub async fn tags_of(&self, of: Tagged) -> Result<Vec<String>> {
        let (table, key, id) = of.table();
        Ok(
            on_backend!(self, read c => sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT tag FROM {table} WHERE {key} = $1 ORDER BY tag")))
            .bind(id).fetch_all(c).await)?,
        )
    }

    /// The tags of many sessions or contacts (all of one kind), by id.
    pub async fn tags_of_many(
        &self,
        of: &[Tagged],
    ) -> Result<std::collections::HashMap<Uuid, Vec<String>>> {
        let mut out: std::collections::HashMap<Uuid, Vec<String>> = Default::default();
        let Some(first) = of.first() else {
            return Ok(out);
        };
        let (table, key, _) = first.table();
        let ids: Vec<Uuid> = of.iter().map(|t| t.table().2).collect();
        for chunk in ids.chunks(64) {
            let sql = format!(
                "SELECT {key}, tag FROM {table} WHERE {key} IN ({}) ORDER BY tag",
                placeholders(1, chunk.len())
            );
            let rows: Vec<(Uuid, String)> = on_backend!(self, read c => {
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()));
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all(c).await
            })?;
            for (id, tag) in rows {
                out.entry(id).or_default().push(tag);
            }
        }
        Ok(out)
    }

    /// Known tags starting with `prefix` (normalized), alphabetical, at most `limit`: a range on
    /// the vocabulary's key, so it reads only what it returns. The range ends at the prefix with
    /// its last character stepped up ("bi" to "bj"), which sorts after every text starting with
    /// the prefix under any collation a database may use.
    pub async fn tag_suggestions(&self, prefix: &str, limit: i64) -> Result<Vec<String>> {
        let Some(upper) = after_prefix(prefix) else {
            return Ok(on_backend!(self, read c => sqlx::query_scalar(
                "SELECT tag FROM tags ORDER BY tag LIMIT $1")
                .bind(limit).fetch_all(c).await)?);
        };
        let found: Vec<String> = on_backend!(self, read c => sqlx::query_scalar(
            "SELECT tag FROM tags WHERE tag >= $1 AND tag < $2 ORDER BY tag LIMIT $3")
            .bind(prefix).bind(&upper).bind(limit).fetch_all(c).await)?;
        Ok(found
            .into_iter()
            .filter(|t| t.starts_with(prefix))
            .collect())
    }

    /// Sessions carrying `tag`, newest first (index `session_tags_tag`): the lookup reports'
    /// filters use.
    pub async fn sessions_tagged(&self, tag: &str, limit: i64) -> Result<Vec<Uuid>> {
        Ok(on_backend!(self, read c => sqlx::query_scalar(
            "SELECT session_id FROM session_tags WHERE tag = $1 ORDER BY session_id DESC LIMIT $2")
            .bind(tag).bind(limit).fetch_all(c).await)?)
    }

    /// Contacts carrying `tag` (index `contact_tags_tag`).
    pub async fn contacts_tagged(&self, tag: &str, limit: i64) -> Result<Vec<Uuid>> {
        Ok(on_backend!(self, read c => sqlx::query_scalar(
            "SELECT contact_id FROM contact_tags WHERE tag = $1 ORDER BY contact_id DESC LIMIT $2")
            .bind(tag).bind(limit).fetch_all(c).await)?)
    }
}

/// The prefix with its last character stepped up; `None` for an empty prefix.
fn after_prefix(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let mut next = u32::from(last) + 1;
        // Past the surrogates, which are no characters.
        if (0xD800..=0xDFFF).contains(&next) {
            next = 0xE000;
        }
        if let Some(c) = char::from_u32(next) {
            chars.push(c);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_prefix_range_ends_after_every_text_it_starts() {
        assert_eq!(super::after_prefix(""), None);
        assert_eq!(super::after_prefix("bi").as_deref(), Some("bj"));
        assert_eq!(super::after_prefix("z").as_deref(), Some("{"));
    }
}
