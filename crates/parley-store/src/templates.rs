//! Message templates by id, for the API: create (refusing a duplicate name and language on the
//! channel), read, replace and delete. `upsert_template`, `template` (by name) and
//! `list_templates` in `config.rs` serve provisioning and the compose path.

use parley_core::model::TemplateStatus;
use parley_core::{Timestamp, new_id};
use sqlx::types::Json;
use uuid::Uuid;

use crate::records::{Template, TemplateSpec};
use crate::{Backend, Result, Store, StoreError, on_backend};

impl Store {
    /// Creates a template; a template with the same channel, name and language is a `Conflict`.
    pub async fn create_template(&self, spec: &TemplateSpec, now: Timestamp) -> Result<Template> {
        if self
            .template(spec.channel_id, &spec.name, &spec.language)
            .await?
            .is_some()
        {
            return Err(StoreError::Conflict(format!(
                "a template named '{}' in language '{}' already exists on this channel",
                spec.name, spec.language
            )));
        }
        let id = new_id();
        let sql = "INSERT INTO templates (id, channel_id, name, language, category, status, body, \
                   components, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)";
        on_backend!(self, write c => sqlx::query(sql)
            .bind(id).bind(spec.channel_id).bind(&spec.name).bind(&spec.language)
            .bind(spec.category.as_str()).bind(spec.status.as_str()).bind(&spec.body)
            .bind(Json(&spec.components)).bind(now.millis()).execute(c).await.map(|r| r.rows_affected()))?;
        self.template_by_id(id).await
    }

    pub async fn template_by_id(&self, id: Uuid) -> Result<Template> {
        on_backend!(self, read c => sqlx::query_as::<_, Template>(
            "SELECT * FROM templates WHERE id = $1").bind(id).fetch_optional(c).await)?
        .ok_or(StoreError::not_found("template"))
    }

    /// Replaces a template's fields (its channel stays). Renaming onto another template's name and
    /// language is a `Conflict`.
    pub async fn update_template(
        &self,
        id: Uuid,
        spec: &TemplateSpec,
        now: Timestamp,
    ) -> Result<Template> {
        let current = self.template_by_id(id).await?;
        if let Some(other) = self
            .template(current.channel_id, &spec.name, &spec.language)
            .await?
            && other.id != id
        {
            return Err(StoreError::Conflict(format!(
                "a template named '{}' in language '{}' already exists on this channel",
                spec.name, spec.language
            )));
        }
        let sql = "UPDATE templates SET name = $2, language = $3, category = $4, status = $5, \
                   body = $6, components = $7, updated_at = $8 WHERE id = $1";
        let done = on_backend!(self, write c => sqlx::query(sql)
            .bind(id).bind(&spec.name).bind(&spec.language).bind(spec.category.as_str())
            .bind(spec.status.as_str()).bind(&spec.body).bind(Json(&spec.components))
            .bind(now.millis()).execute(c).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::not_found("template"));
        }
        self.template_by_id(id).await
    }

    /// Declares a template's variables (JSON array of `{"name", "example"}`; `None`: none).
    pub async fn set_template_variables(&self, id: Uuid, variables: Option<&str>) -> Result<()> {
        let done = on_backend!(self, write c => sqlx::query(
            "UPDATE templates SET variables = $2 WHERE id = $1")
            .bind(id).bind(variables).execute(c).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::not_found("template"));
        }
        Ok(())
    }

    /// One review step, only if the template is still `from` (two reviewers clicking at once:
    /// one wins, the other gets a `Conflict`). `submitted_at` is set when given and kept
    /// otherwise; `reviewed_at` and the rejection reason are written as given.
    #[allow(clippy::too_many_arguments)]
    pub async fn update_template_review(
        &self,
        id: Uuid,
        from: TemplateStatus,
        to: TemplateStatus,
        rejection_reason: Option<&str>,
        submitted_at: Option<Timestamp>,
        reviewed_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<Template> {
        let sql = "UPDATE templates SET status = $3, rejection_reason = $4, \
                   submitted_at = COALESCE($5, submitted_at), reviewed_at = $6, updated_at = $7 \
                   WHERE id = $1 AND status = $2";
        let done = on_backend!(self, write c => sqlx::query(sql)
            .bind(id).bind(from.as_str()).bind(to.as_str()).bind(rejection_reason)
            .bind(submitted_at.map(|t| t.millis())).bind(reviewed_at.map(|t| t.millis()))
            .bind(now.millis()).execute(c).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            let current = self.template_by_id(id).await?;
            return Err(StoreError::Conflict(format!(
                "the template is {} now, no longer {from}",
                current.status
            )));
        }
        self.template_by_id(id).await
    }

    /// Fails every entry still queued to be sent as template `template_id`, with `code` and
    /// `reason`: called when the template stops being approved or is deleted, so a message
    /// waiting in the outbox is not sent with a template Meta no longer accepts. Returns the
    /// entries failed.
    pub async fn fail_queued_template_sends(
        &self,
        template_id: Uuid,
        code: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<Vec<Uuid>> {
        // The template is JSON: text in SQLite, JSONB in PostgreSQL, so the lookup differs.
        let id = template_id.to_string();
        let failed: Vec<Uuid> =
            match &self.backend {
                Backend::Sqlite { writer, .. } => sqlx::query_scalar(
                    "UPDATE entries SET status = 'failed', error_code = $2, provider_error = $3, \
                     updated_at = $4 WHERE status = 'queued' AND template IS NOT NULL \
                     AND json_extract(template, '$.template_id') = $1 RETURNING id",
                )
                .bind(&id)
                .bind(code)
                .bind(reason)
                .bind(now.millis())
                .fetch_all(writer)
                .await?,
                Backend::Postgres(pool) => sqlx::query_scalar(
                    "UPDATE entries SET status = 'failed', error_code = $2, provider_error = $3, \
                     updated_at = $4 WHERE status = 'queued' AND template IS NOT NULL \
                     AND template->>'template_id' = $1 RETURNING id",
                )
                .bind(&id)
                .bind(code)
                .bind(reason)
                .bind(now.millis())
                .fetch_all(pool)
                .await?,
            };
        Ok(failed)
    }
}
