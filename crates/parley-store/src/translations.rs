//! Languages (issue 18): the console language each agent chose, and what translators wrote for the
//! per-language texts of the configuration (keyword responses, automatic replies, widget labels).
//! A translation is kept beside its source rather than inside it, so a translator's write touches
//! no configuration row and a configuration change never loses a translation.

use parley_core::Timestamp;
use parley_core::i18n::Locale;
use serde::Serialize;
use sqlx::FromRow;
use uuid::Uuid;

use crate::{Result, Store, StoreError, on_backend};

/// One translated text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow)]
pub struct Translation {
    pub kind: String,
    pub owner_id: String,
    pub key: String,
    pub locale: String,
    pub text: String,
    pub updated_by: Option<Uuid>,
    #[sqlx(try_from = "i64")]
    pub updated_at: Timestamp,
}

/// Which translated text: its kind, owner and key (the primary key without the language).
#[derive(Debug, Clone, Copy)]
pub struct TranslationKey<'a> {
    pub kind: &'a str,
    pub owner_id: &'a str,
    pub key: &'a str,
}

impl Store {
    pub async fn set_agent_locale(&self, id: Uuid, locale: Locale, now: Timestamp) -> Result<()> {
        let done = on_backend!(self, write c => sqlx::query(
            "UPDATE agents SET locale = $2, updated_at = $3 WHERE id = $1")
            .bind(id).bind(locale.as_str()).bind(now.millis()).execute(c).await
            .map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::not_found("agent"));
        }
        Ok(())
    }

    /// The agent's time zone, an IANA name the caller has checked (`None` forgets it).
    pub async fn set_agent_time_zone(
        &self,
        id: Uuid,
        time_zone: Option<&str>,
        now: Timestamp,
    ) -> Result<()> {
        let done = on_backend!(self, write c => sqlx::query(
            "UPDATE agents SET time_zone = $2, updated_at = $3 WHERE id = $1")
            .bind(id).bind(time_zone).bind(now.millis()).execute(c).await
            .map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::not_found("agent"));
        }
        Ok(())
    }

    /// Every translation of one kind (all owners, all languages), for the translators' list.
    pub async fn translations_of_kind(&self, kind: &str) -> Result<Vec<Translation>> {
        Ok(
            on_backend!(self, read c => sqlx::query_as::<_, Translation>(
            "SELECT * FROM translations WHERE kind = $1 ORDER BY owner_id, key, locale")
            .bind(kind).fetch_all(c).await)?,
        )
    }

    /// The translations of one owner's texts of one kind: a channel's keyword responses or
    /// automatic replies, a deployment's labels. Read when a channel's rules are loaded and per
    /// widget load: the primary key's prefix.
    pub async fn translations_of(&self, kind: &str, owner_id: &str) -> Result<Vec<Translation>> {
        Ok(
            on_backend!(self, read c => sqlx::query_as::<_, Translation>(
            "SELECT * FROM translations WHERE kind = $1 AND owner_id = $2 ORDER BY key, locale")
            .bind(kind).bind(owner_id).fetch_all(c).await)?,
        )
    }

    /// Writes (or, with an empty text, removes) one translation.
    pub async fn write_translation(
        &self,
        which: TranslationKey<'_>,
        locale: Locale,
        text: &str,
        by: Option<Uuid>,
        now: Timestamp,
    ) -> Result<()> {
        if text.is_empty() {
            on_backend!(self, write c => sqlx::query(
                "DELETE FROM translations WHERE kind = $1 AND owner_id = $2 AND key = $3 AND locale = $4")
                .bind(which.kind).bind(which.owner_id).bind(which.key).bind(locale.as_str())
                .execute(c).await.map(|r| r.rows_affected()))?;
            return Ok(());
        }
        on_backend!(self, write c => sqlx::query(
            "INSERT INTO translations (kind, owner_id, key, locale, text, updated_by, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (kind, owner_id, key, locale)
             DO UPDATE SET text = excluded.text, updated_by = excluded.updated_by,
                           updated_at = excluded.updated_at")
            .bind(which.kind).bind(which.owner_id).bind(which.key).bind(locale.as_str()).bind(text)
            .bind(by).bind(now.millis()).execute(c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }
}
