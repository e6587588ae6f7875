//! Bulk writes for imports (MU-04 path 2, CSV import of messaging users): users looked up by
//! their keys, then created, updated and given their consent history in one transaction per batch,
//! with multi-row statements cut to fit each database's limit on bound parameters.
//!
//! The caller reads first, decides, then writes; the write refuses (a `Conflict`, nothing written)
//! when a user it updates changed in between or a user it creates appeared in between, so the
//! caller can read again and decide again. No read happens inside the write transaction, so
//! SQLite never has to upgrade a read lock to a write lock.

use parley_core::Timestamp;
use parley_core::model::ConsentStatus;
use parley_core::new_id;
use uuid::Uuid;

use crate::conversations::ConsentOrigin;
use crate::inbound::UserInsert;
use crate::records::MessagingUser;
use crate::{Backend, Result, Store, StoreError, on_backend};

/// The most bound parameters one SQLite statement takes (`SQLITE_MAX_VARIABLE_NUMBER`).
const SQLITE_MAX_PARAMS: usize = 32_766;
/// The most bound parameters one PostgreSQL statement takes (the protocol counts them in 16 bits).
const POSTGRES_MAX_PARAMS: usize = 65_535;
/// What a SQLite statement is given, far under its limit: sqlx binds each SQLite parameter by its
/// name, which SQLite looks up by a linear scan, so binding costs grow with the square of the
/// parameters in a statement. Importing 100,000 users took 18 s with statements at the limit and
/// 5 s at a few hundred parameters, most of it then spent checking phone numbers.
const SQLITE_PARAMS_PER_STATEMENT: usize = 256;

/// An existing messaging user's new fields, written only if the row is still as it was read.
#[derive(Debug, Clone, PartialEq)]
pub struct UserUpdate {
    pub id: Uuid,
    /// `updated_at` as read; the update is refused if the row changed since.
    pub seen_updated_at: Timestamp,
    pub name: String,
    pub locale: Option<String>,
    pub consent_status: Option<ConsentStatus>,
}

/// One row of consent history: a status change of a messaging user created or updated in the
/// same batch.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsentChange {
    pub messaging_user_id: Uuid,
    pub from: Option<ConsentStatus>,
    pub to: ConsentStatus,
}

/// Everything one batch of an import writes, committed all or nothing.
#[derive(Debug, Clone)]
pub struct UserImportBatch {
    pub creates: Vec<UserInsert>,
    pub updates: Vec<UserUpdate>,
    /// History rows, all with the batch's `origin` (source, reason, entry).
    pub consent: Vec<ConsentChange>,
    /// Attributes merged into the users' own and tags replaced (users created or read in this
    /// batch).
    pub profiles: Vec<ProfileMerge>,
    pub origin: ConsentOrigin,
}

/// A messaging user's custom attributes to merge (the keys given are set, the others stay) and
/// tags to replace (when given).
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileMerge {
    pub messaging_user_id: Uuid,
    pub attributes: serde_json::Map<String, serde_json::Value>,
    pub tags: Option<Vec<String>>,
}

/// What one import batch wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportWritten {
    pub created: u64,
    pub updated: u64,
    pub consent_events: u64,
}

impl Store {
    /// How many parameters one statement binds at most on this store's database.
    fn max_params(&self) -> usize {
        match self.backend {
            Backend::Sqlite { .. } => SQLITE_PARAMS_PER_STATEMENT.min(SQLITE_MAX_PARAMS),
            Backend::Postgres(_) => POSTGRES_MAX_PARAMS,
        }
    }

    /// Rows of `per_row` parameters that fit in one statement beside `shared` parameters.
    pub(crate) fn rows_per_statement(&self, per_row: usize, shared: usize) -> usize {
        (self.max_params().saturating_sub(shared) / per_row.max(1)).max(1)
    }

    /// The messaging users of a channel with these platform keys (keys not found are absent).
    /// Any number of keys; they are looked up in as few statements as the database allows.
    pub async fn messaging_users_by_keys(
        &self,
        channel_id: Uuid,
        platform_keys: &[String],
    ) -> Result<Vec<MessagingUser>> {
        let mut found = Vec::new();
        for keys in platform_keys.chunks(self.rows_per_statement(2, 1)) {
            // Every form a key may be stored in (the active key's, the previous key's during a
            // rotation): a customer is found whichever form their row holds.
            let mut forms: Vec<String> = keys.iter().flat_map(|k| self.lookup_forms(k)).collect();
            forms.sort_unstable();
            forms.dedup();
            let keys = &forms;
            let sql = format!(
                "SELECT * FROM messaging_users WHERE channel_id = $1 AND platform_key IN ({})",
                crate::config::placeholders(2, keys.len())
            );
            // Planned afresh each time, not from a cached prepared statement: PostgreSQL's cached
            // plan, made while an import had only begun to fill the table, went on scanning the
            // whole table (a 100,000-user import took 62 s with it, 8 s without).
            let mut rows = on_backend!(self, read c => {
                let mut q = sqlx::query_as::<_, MessagingUser>(sqlx::AssertSqlSafe(sql.as_str()))
                    .persistent(false)
                    .bind(channel_id);
                for k in keys {
                    q = q.bind(k);
                }
                q.fetch_all(c).await
            })?;
            found.append(&mut rows);
        }
        self.open_users(found)
    }

    /// Writes one import batch in one transaction: new users, then updates, then consent history.
    /// A `Conflict` means nothing was written because a user to create already exists or a user to
    /// update changed since it was read; read again and retry.
    pub async fn import_messaging_users(
        &self,
        batch: &UserImportBatch,
        now: Timestamp,
    ) -> Result<ImportWritten> {
        if batch.creates.is_empty()
            && batch.updates.is_empty()
            && batch.consent.is_empty()
            && batch.profiles.is_empty()
        {
            return Ok(ImportWritten::default());
        }
        let at = now.millis();
        // Shared parameters first ($1...), then each row's.
        let insert_rows = self.rows_per_statement(7, 1);
        let update_rows = self.rows_per_statement(5, 1);
        let event_rows = self.rows_per_statement(4, 4);
        let expected_updates = batch.updates.len() as u64;
        // JSON merge is spelled differently by the two databases; `updated_at` is left alone, as
        // the import's own check of a concurrent change reads it.
        let merge_profile = match self.kind() {
            crate::BackendKind::Sqlite => {
                "UPDATE messaging_users SET attributes = json_patch(attributes, $2), \
                 tags = COALESCE($3, tags) WHERE id = $1"
            }
            crate::BackendKind::Postgres => {
                "UPDATE messaging_users SET attributes = (attributes::jsonb || $2::jsonb)::text, \
                 tags = COALESCE($3, tags) WHERE id = $1"
            }
        };
        let profiles: Vec<(Uuid, String, Option<String>)> = batch
            .profiles
            .iter()
            .map(|p| {
                let attributes = serde_json::Value::Object(p.attributes.clone()).to_string();
                let tags = p
                    .tags
                    .as_ref()
                    .map(|t| serde_json::Value::from(t.clone()).to_string());
                (p.messaging_user_id, attributes, tags)
            })
            .collect();
        let written = on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            let mut written = ImportWritten::default();
            for chunk in batch.creates.chunks(insert_rows) {
                let sql = format!(
                    "INSERT INTO messaging_users (id, channel_id, platform_key, name, locale, \
                     consent_status, contact_id, created_at, updated_at) VALUES {}",
                    value_rows(2, chunk.len(), 7, "$1, $1")
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.as_str())).bind(at);
                for u in chunk {
                    q = q.bind(u.id).bind(u.channel_id).bind(self.seal_lookup(&u.platform_key)).bind(self.seal_text(&u.name))
                        .bind(&u.locale).bind(u.consent_status.map(ConsentStatus::as_str))
                        .bind(u.contact_id);
                }
                written.created += q.execute(&mut *tx).await.map(|r| r.rows_affected())?;
            }
            if !batch.creates.is_empty() {
                let secret: Option<String> = sqlx::query_scalar(crate::privacy::SECRET_IF_PROOFS)
                    .fetch_optional(&mut *tx).await?;
                if let Some(secret) = secret {
                    for u in &batch.creates {
                        crate::privacy::honour_with_secret!(tx, &secret, u.id, &u.platform_key, at);
                    }
                }
            }
            for chunk in batch.updates.chunks(update_rows) {
                // VALUES columns are named column1, column2, ... on both databases.
                let sql = format!(
                    "UPDATE messaging_users SET consent_status = v.column2, name = v.column3, \
                     locale = v.column4, updated_at = $1 FROM (VALUES {}) AS v \
                     WHERE messaging_users.id = v.column1 AND messaging_users.updated_at = v.column5",
                    value_rows(2, chunk.len(), 5, "")
                );
                // Not cached, like the lookup: the join must be planned for the table as it is.
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                    .persistent(false)
                    .bind(at);
                for u in chunk {
                    q = q.bind(u.id).bind(u.consent_status.map(ConsentStatus::as_str))
                        .bind(self.seal_text(&u.name)).bind(&u.locale).bind(u.seen_updated_at.millis());
                }
                written.updated += q.execute(&mut *tx).await.map(|r| r.rows_affected())?;
            }
            if written.updated != expected_updates {
                // Dropping the transaction rolls it back.
                return Err(StoreError::Conflict(
                    "a messaging user changed while it was being imported".to_owned(),
                ));
            }
            for chunk in batch.consent.chunks(event_rows) {
                let sql = format!(
                    "INSERT INTO consent_events (id, messaging_user_id, from_status, to_status, \
                     source, reason, entry_id, at) VALUES {}",
                    value_rows(5, chunk.len(), 4, "$1, $2, $3, $4")
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                    .bind(batch.origin.source.as_str()).bind(&batch.origin.reason)
                    .bind(batch.origin.entry_id).bind(at);
                for e in chunk {
                    q = q.bind(new_id()).bind(e.messaging_user_id)
                        .bind(e.from.map(ConsentStatus::as_str)).bind(e.to.as_str());
                }
                written.consent_events += q.execute(&mut *tx).await.map(|r| r.rows_affected())?;
            }
            for (id, attributes, tags) in &profiles {
                sqlx::query(merge_profile).bind(id).bind(attributes).bind(tags)
                    .execute(&mut *tx).await?;
            }
            tx.commit().await.map(|()| written)
        })?;
        Ok(written)
    }
}

/// `($start, ..., $start+cols-1, extra), (...)` for `rows` rows of `cols` parameters each, numbered
/// on from `start`; `extra` (shared parameters or literals) ends every row when not empty.
fn value_rows(start: usize, rows: usize, cols: usize, extra: &str) -> String {
    let mut s = String::with_capacity(rows * (cols * 7 + extra.len() + 4));
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        s.push_str(&crate::config::placeholders(start + r * cols, cols));
        if !extra.is_empty() {
            s.push_str(", ");
            s.push_str(extra);
        }
        s.push(')');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_rows_number_parameters_on() {
        assert_eq!(value_rows(2, 2, 2, "$1"), "($2, $3, $1), ($4, $5, $1)");
        assert_eq!(value_rows(1, 1, 3, ""), "($1, $2, $3)");
        assert_eq!(value_rows(1, 0, 3, ""), "");
    }
}
