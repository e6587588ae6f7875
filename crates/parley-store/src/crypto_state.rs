//! What the database records about encryption at rest (migration 0029), the start-up check that
//! refuses a missing or wrong key, and the re-encryption pass behind `parley keys encrypt` and
//! `parley keys rotate`.
//!
//! The pass walks every sealed column (the [`SEALED_COLUMNS`] list) table by table in id order,
//! a batch per transaction, and re-seals with the active key whatever is plaintext or sealed with
//! another key. Its position is a row in `crypto_state`, so it resumes where it stopped after a
//! crash and `parley keys status` can show progress from another process. Each row is updated only
//! if its sealed columns still hold what was read, so a write by the server in between wins.

use parley_core::Timestamp;
use serde::Serialize;
use sqlx::types::Json;
use sqlx::{FromRow, Row};

use uuid::Uuid;

use crate::crypto::{KEY_ENV, KEY_FILE_OPTION, sealed_key_id};
use crate::{Result, Store, StoreError, on_backend};

/// How a column is sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seal {
    /// Deterministic: compared with `=` (platform keys, phone numbers, e-mails).
    Lookup,
    /// Randomized text.
    Text,
    /// A JSON document sealed whole into a JSON string.
    Json,
    /// An address shown with a clear `whatsapp:` prefix and a sealed number (lookup).
    Address,
}

/// Every column that holds sealed values: table, its UUID key column, and the columns. The order
/// is the pass's order: the tables looked up by `=` first, so the rows found by a lookup move to
/// the new key first (until then lookups also try the previous key's form).
/// A table with sealed columns: its name, its UUID key column and the columns with their seal.
pub(crate) type SealedTable = (&'static str, &'static str, &'static [(&'static str, Seal)]);

pub(crate) const SEALED_COLUMNS: &[SealedTable] = &[
    (
        "messaging_users",
        "id",
        &[("platform_key", Seal::Lookup), ("name", Seal::Text)],
    ),
    (
        "contacts",
        "id",
        &[
            ("phone", Seal::Lookup),
            ("email", Seal::Lookup),
            ("first_name", Seal::Text),
            ("last_name", Seal::Text),
        ],
    ),
    ("audience_list_members", "id", &[("phone", Seal::Lookup)]),
    ("notifications", "id", &[("recipient", Seal::Lookup)]),
    (
        "twilio_messages",
        "entry_id",
        &[("to_address", Seal::Address)],
    ),
    (
        "simulator_messages",
        "id",
        &[
            ("from_addr", Seal::Lookup),
            ("to_addr", Seal::Lookup),
            ("body", Seal::Text),
        ],
    ),
    ("channels", "id", &[("secrets", Seal::Json)]),
    // The key of the search index's hashes: re-sealed, never changed, so the index stays valid.
    ("search_secret", "id", &[("secret", Seal::Text)]),
    ("webhook_subscriptions", "id", &[("secret", Seal::Text)]),
    ("entries", "id", &[("body", Seal::Text)]),
    ("session_notes", "id", &[("body", Seal::Text)]),
    ("webhook_deliveries", "id", &[("payload", Seal::Text)]),
    ("jobs", "id", &[("payload", Seal::Text)]),
    ("flow_runs", "id", &[("state", Seal::Text)]),
    // The number or e-mail an erasure request was about, kept until the request is read.
    ("erasure_requests", "id", &[("subject", Seal::Text)]),
    (
        "notification_errors",
        "id",
        &[("recipient", Seal::Text), ("inputs", Seal::Text)],
    ),
    (
        "web_session_data",
        "session_id",
        &[
            ("prechat", Seal::Text),
            ("page_url", Seal::Text),
            ("identity", Seal::Text),
        ],
    ),
];

/// A key the database knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow)]
pub struct CryptoKeyRow {
    pub key_id: String,
    pub check_value: String,
    pub state: String,
    pub added_at: i64,
    pub retired_at: Option<i64>,
}

/// What `parley keys status` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CryptoStatus {
    pub encrypted: bool,
    pub keys: Vec<CryptoKeyRow>,
    pub task: Option<String>,
    pub task_key_id: Option<String>,
    pub task_table: Option<String>,
    pub done: i64,
    pub total: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

/// The outcome of [`Store::check_keys`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyCheck {
    /// No key configured and nothing encrypted: values are stored in the clear.
    Plaintext,
    /// The keyring matches what the database recorded; `rotation_pending` when it holds data
    /// sealed with a key other than the active one (run `parley keys rotate`).
    Ready { rotation_pending: bool },
}

/// One batch of the re-encryption pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResealStep {
    /// The table the batch worked on, `None` once the pass is over.
    pub table: Option<String>,
    pub done: i64,
    pub total: i64,
    pub finished: bool,
}

#[derive(Debug, Default, FromRow)]
struct StateRow {
    encrypted: i64,
    task: Option<String>,
    task_key_id: Option<String>,
    task_table: Option<String>,
    task_cursor: Option<String>,
    task_done: i64,
    task_total: i64,
    task_started_at: Option<i64>,
    task_finished_at: Option<i64>,
}

impl Store {
    pub async fn crypto_status(&self) -> Result<CryptoStatus> {
        let row = on_backend!(self, read c => sqlx::query_as::<_, StateRow>(
            "SELECT * FROM crypto_state WHERE id = 1").fetch_optional(c).await)?
        .unwrap_or_default();
        let keys = on_backend!(self, read c => sqlx::query_as::<_, CryptoKeyRow>(
            "SELECT * FROM crypto_keys ORDER BY added_at, key_id").fetch_all(c).await)?;
        Ok(CryptoStatus {
            encrypted: row.encrypted != 0,
            keys,
            task: row.task,
            task_key_id: row.task_key_id,
            task_table: row.task_table,
            done: row.task_done,
            total: row.task_total,
            started_at: row.task_started_at,
            finished_at: row.task_finished_at,
        })
    }

    /// Refuses to go on when the database holds encrypted data and no key is configured, or when a
    /// configured key is not the one recorded under its id, or when a key that sealed data is
    /// missing. Otherwise records the configured active key (a new one starts a rotation away
    /// from the previous active key) and marks the database encrypted. Every command that opens
    /// the store calls it after [`Store::migrate`] and [`Store::set_keyring`].
    pub async fn check_keys(&self, now: Timestamp) -> Result<KeyCheck> {
        let status = self.crypto_status().await?;
        let Some(ring) = self.keyring() else {
            if status.encrypted {
                return Err(StoreError::Keys(format!(
                    "this database holds encrypted data and no encryption key is configured: set \
                     {KEY_ENV} (base64 key, or id:key,... with the active key first) or \
                     {KEY_FILE_OPTION} / encryption_key_file to the file holding it"
                )));
            }
            return Ok(KeyCheck::Plaintext);
        };
        for known in &status.keys {
            match ring.check_value(&known.key_id) {
                Some(check) if check != known.check_value => {
                    return Err(StoreError::Keys(format!(
                        "encryption key '{}' in {KEY_ENV} / {KEY_FILE_OPTION} is not the key this \
                         database was encrypted with",
                        known.key_id
                    )));
                }
                None if known.state != "retired" => {
                    return Err(StoreError::Keys(format!(
                        "this database holds data encrypted with key '{}', which is not in {KEY_ENV} \
                         / {KEY_FILE_OPTION} (configured: {}); add it after the active key until \
                         `parley keys rotate` has finished",
                        known.key_id,
                        ring.ids().join(", ")
                    )));
                }
                _ => {}
            }
        }
        let active = ring.active_id().to_owned();
        let check = ring.check_value(&active).unwrap_or_default().to_owned();
        let millis = now.millis();
        let already_active = status
            .keys
            .iter()
            .any(|k| k.key_id == active && k.state == "active");
        if !already_active {
            on_backend!(self, write c => {
                let mut tx = c.begin().await?;
                sqlx::query("UPDATE crypto_keys SET state = 'retiring' WHERE state = 'active' AND key_id <> $1")
                    .bind(&active).execute(&mut *tx).await?;
                sqlx::query(
                    "INSERT INTO crypto_keys (key_id, check_value, state, added_at) VALUES ($1, $2, 'active', $3) \
                     ON CONFLICT (key_id) DO UPDATE SET state = 'active', retired_at = NULL")
                    .bind(&active).bind(&check).bind(millis).execute(&mut *tx).await?;
                sqlx::query("UPDATE crypto_state SET encrypted = 1, updated_at = $1 WHERE id = 1")
                    .bind(millis).execute(&mut *tx).await?;
                tx.commit().await
            })?;
        }
        let after = self.crypto_status().await?;
        let rotation_pending = after.keys.iter().any(|k| k.state == "retiring");
        Ok(KeyCheck::Ready { rotation_pending })
    }

    /// Starts (or, if one is under way, keeps) the re-encryption pass of every sealed column
    /// with the active key: `task` is `encrypt` or `rotate`, for the record only. Counts the rows
    /// to visit for progress.
    pub async fn start_reseal(&self, task: &str, now: Timestamp) -> Result<CryptoStatus> {
        let Some(ring) = self.keyring() else {
            return Err(StoreError::Keys(format!(
                "re-encryption needs a key: set {KEY_ENV} or {KEY_FILE_OPTION}"
            )));
        };
        let status = self.crypto_status().await?;
        if status.task.is_some() && status.task_key_id.as_deref() == Some(ring.active_id()) {
            return Ok(status);
        }
        let mut total = 0i64;
        for (table, _, _) in SEALED_COLUMNS {
            let n: i64 = on_backend!(self, read c => sqlx::query_scalar(
                sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}"))).fetch_one(c).await)?;
            total += n;
        }
        let first = SEALED_COLUMNS
            .first()
            .map(|(t, _, _)| *t)
            .unwrap_or_default();
        on_backend!(self, write c => sqlx::query(
            "UPDATE crypto_state SET task = $1, task_key_id = $2, task_table = $3, task_cursor = NULL, \
             task_done = 0, task_total = $4, task_started_at = $5, task_finished_at = NULL, updated_at = $5 \
             WHERE id = 1")
            .bind(task).bind(ring.active_id()).bind(first).bind(total).bind(now.millis())
            .execute(c).await.map(|_| ()))?;
        self.crypto_status().await
    }

    /// One batch of the pass: at most `batch` rows of the current table re-sealed in one
    /// transaction. After the last table, every retiring key is marked retired and the pass ends.
    pub async fn reseal_step(&self, batch: i64, now: Timestamp) -> Result<ResealStep> {
        let Some(ring) = self.keyring() else {
            return Err(StoreError::Keys(format!(
                "re-encryption needs a key: set {KEY_ENV} or {KEY_FILE_OPTION}"
            )));
        };
        let row = on_backend!(self, read c => sqlx::query_as::<_, StateRow>(
            "SELECT * FROM crypto_state WHERE id = 1").fetch_optional(c).await)?
        .unwrap_or_default();
        let (done, total) = (row.task_done, row.task_total);
        if row.task.is_none() {
            return Ok(ResealStep {
                table: None,
                done,
                total,
                finished: true,
            });
        }
        let key_id = row.task_key_id;
        if key_id.as_deref() != Some(ring.active_id()) {
            return Err(StoreError::Keys(format!(
                "the re-encryption pass under way is for key '{}', but the active key is '{}': \
                 run `parley keys rotate` again",
                key_id.unwrap_or_default(),
                ring.active_id()
            )));
        }
        let table = row.task_table;
        let cursor = row.task_cursor.and_then(|c| Uuid::parse_str(&c).ok());
        let position = SEALED_COLUMNS
            .iter()
            .position(|(t, _, _)| Some(*t) == table.as_deref());
        let Some((name, key, columns)) = position.and_then(|p| SEALED_COLUMNS.get(p)) else {
            return self.finish_reseal(now, done, total).await;
        };
        let (visited, last) = self.reseal_batch(name, key, columns, cursor, batch).await?;
        let done = done + visited;
        let (next_table, next_cursor) = match last {
            Some(id) if visited >= batch => (Some(*name), Some(id.to_string())),
            _ => (
                position
                    .and_then(|p| SEALED_COLUMNS.get(p + 1))
                    .map(|(t, _, _)| *t),
                None,
            ),
        };
        on_backend!(self, write c => sqlx::query(
            "UPDATE crypto_state SET task_table = $1, task_cursor = $2, task_done = $3, updated_at = $4 WHERE id = 1")
            .bind(next_table).bind(next_cursor).bind(done).bind(now.millis()).execute(c).await.map(|_| ()))?;
        if next_table.is_none() {
            return self.finish_reseal(now, done, total).await;
        }
        Ok(ResealStep {
            table: Some((*name).to_owned()),
            done,
            total,
            finished: false,
        })
    }

    async fn finish_reseal(&self, now: Timestamp, done: i64, total: i64) -> Result<ResealStep> {
        let millis = now.millis();
        on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            sqlx::query("UPDATE crypto_keys SET state = 'retired', retired_at = $1 WHERE state = 'retiring'")
                .bind(millis).execute(&mut *tx).await?;
            sqlx::query("UPDATE crypto_state SET task = NULL, task_table = NULL, task_cursor = NULL, \
                         task_finished_at = $1, updated_at = $1 WHERE id = 1")
                .bind(millis).execute(&mut *tx).await?;
            tx.commit().await
        })?;
        Ok(ResealStep {
            table: None,
            done,
            total,
            finished: true,
        })
    }

    /// Re-seals up to `batch` rows of `table` after `cursor`; returns how many rows were visited
    /// and the last id.
    async fn reseal_batch(
        &self,
        table: &str,
        key: &str,
        columns: &[(&str, Seal)],
        cursor: Option<Uuid>,
        batch: i64,
    ) -> Result<(i64, Option<Uuid>)> {
        let list = columns
            .iter()
            .map(|(c, _)| *c)
            .collect::<Vec<_>>()
            .join(", ");
        let after = if cursor.is_some() {
            format!("WHERE {key} > $2")
        } else {
            String::new()
        };
        let select = format!("SELECT {key}, {list} FROM {table} {after} ORDER BY {key} LIMIT $1");
        let ring = self.keyring();
        let active = ring.as_ref().map(|r| r.active_id().to_owned());
        let needs = |v: &str| -> bool {
            sealed_key_id(v.strip_prefix("whatsapp:").unwrap_or(v)) != active.as_deref()
        };
        on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            let mut q = sqlx::query(sqlx::AssertSqlSafe(select.clone())).bind(batch);
            if let Some(cur) = cursor {
                q = q.bind(cur);
            }
            let rows = q.fetch_all(&mut *tx).await?;
            let visited = rows.len() as i64;
            let mut last = None;
            for row in &rows {
                let id: Uuid = row.try_get(key)?;
                last = Some(id);
                let mut sets: Vec<String> = Vec::new();
                let mut texts: Vec<Option<String>> = Vec::new();
                let mut jsons: Vec<serde_json::Value> = Vec::new();
                let mut guards: Vec<(String, Option<String>)> = Vec::new();
                for (col, seal) in columns {
                    match seal {
                        Seal::Json => {
                            let v: Json<serde_json::Value> = row.try_get(*col)?;
                            let sealed_by_active = matches!(&v.0, serde_json::Value::String(s) if !needs(s));
                            if !sealed_by_active {
                                let plain = self.open_json(v.0)?;
                                jsons.push(self.seal_json(&plain));
                                sets.push(format!("{col} = $J{}", jsons.len()));
                            }
                        }
                        Seal::Lookup | Seal::Text | Seal::Address => {
                            let v: Option<String> = row.try_get(*col)?;
                            let Some(v) = v else { continue };
                            if !needs(&v) {
                                continue;
                            }
                            let new = match seal {
                                Seal::Lookup => self.seal_lookup(&self.open_text(&v)?),
                                Seal::Address => {
                                    let [now_form, _] = self.address_forms(&self.open_address(&v)?);
                                    now_form
                                }
                                _ => self.seal_text(&self.open_text(&v)?),
                            };
                            texts.push(Some(new));
                            sets.push(format!("{col} = $T{}", texts.len()));
                            guards.push(((*col).to_owned(), Some(v)));
                        }
                    }
                }
                if sets.is_empty() {
                    continue;
                }
                // Placeholders are numbered here: $1 the id, then texts, then JSON documents,
                // then the guards (the values read).
                let nt = texts.len();
                let nj = jsons.len();
                let mut sql = format!("UPDATE {table} SET {} WHERE {key} = $1", sets.join(", "));
                for i in (1..=nt).rev() {
                    sql = sql.replace(&format!("$T{i}"), &format!("${}", 1 + i));
                }
                for i in (1..=nj).rev() {
                    sql = sql.replace(&format!("$J{i}"), &format!("${}", 1 + nt + i));
                }
                for (i, (col, _)) in guards.iter().enumerate() {
                    sql.push_str(&format!(" AND {col} = ${}", 2 + nt + nj + i));
                }
                let mut u = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id);
                for t in texts {
                    u = u.bind(t);
                }
                for j in jsons {
                    u = u.bind(Json(j));
                }
                for (_, g) in guards {
                    u = u.bind(g);
                }
                u.execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, StoreError>((visited, last))
        })
    }
}
