//! Messaging users and their consent history, sessions, and the entries of a session.

use parley_core::model::{ConsentStatus, EntryStatus, SessionStatus};
use parley_core::{Timestamp, new_id};
use sqlx::types::Json;
use uuid::Uuid;

use crate::records::{paginate, *};
use crate::{Result, Store, StoreError, on_backend};

/// Filters for listing messaging users.
#[derive(Debug, Clone, Copy, Default)]
pub struct MessagingUserFilter {
    pub channel_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
}

/// Filters for listing sessions.
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionFilter {
    pub channel_id: Option<Uuid>,
    pub messaging_user_id: Option<Uuid>,
    pub status: Option<SessionStatus>,
}

impl Store {
    /// Creates a messaging user and, in the same transaction, the first entry of its consent
    /// history when it starts with a status, so a status never exists without the record of how it
    /// came about.
    pub async fn create_messaging_user(
        &self,
        new: &NewMessagingUser,
        consent: &ConsentOrigin,
        now: Timestamp,
    ) -> Result<MessagingUser> {
        let id = new_id();
        on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            sqlx::query(
                "INSERT INTO messaging_users (id, channel_id, platform_key, name, locale, consent_status, \
                 contact_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)")
                .bind(id).bind(new.channel_id).bind(self.seal_lookup(&new.platform_key)).bind(self.seal_text(&new.name))
                .bind(&new.locale).bind(new.consent_status.map(ConsentStatus::as_str)).bind(new.contact_id)
                .bind(now.millis()).execute(&mut *tx).await?;
            if let Some(status) = new.consent_status {
                sqlx::query(
                    "INSERT INTO consent_events (id, messaging_user_id, from_status, to_status, source, reason, entry_id, at) \
                     VALUES ($1, $2, NULL, $3, $4, $5, $6, $7)")
                    .bind(new_id()).bind(id).bind(status.as_str()).bind(consent.source.as_str())
                    .bind(&consent.reason).bind(consent.entry_id).bind(now.millis()).execute(&mut *tx).await?;
            }
            crate::privacy::honour_opt_out_proof!(tx, id, &new.platform_key, now.millis());
            tx.commit().await
        })?;
        self.write_person_terms(id, now).await?;
        self.messaging_user(id).await
    }

    /// Changes a messaging user's display name or locale (a flow's `set`); `None` leaves a field
    /// as it is.
    pub async fn update_user_profile(
        &self,
        id: Uuid,
        name: Option<&str>,
        locale: Option<&str>,
        now: Timestamp,
    ) -> Result<()> {
        let done = on_backend!(self, write c => sqlx::query(
            "UPDATE messaging_users SET name = COALESCE($2, name), locale = COALESCE($3, locale), \
             updated_at = $4 WHERE id = $1")
            .bind(id).bind(name.map(|n| self.seal_text(n))).bind(locale).bind(now.millis())
            .execute(c).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::not_found("messaging user"));
        }
        if name.is_some() {
            self.write_person_terms(id, now).await?;
        }
        Ok(())
    }

    pub async fn messaging_user(&self, id: Uuid) -> Result<MessagingUser> {
        let user = on_backend!(self, read c => sqlx::query_as::<_, MessagingUser>("SELECT * FROM messaging_users WHERE id = $1")
            .bind(id).fetch_optional(c).await)?
        .ok_or(StoreError::not_found("messaging user"))?;
        self.open_user(user)
    }

    pub async fn messaging_user_by_key(
        &self,
        channel_id: Uuid,
        platform_key: &str,
    ) -> Result<Option<MessagingUser>> {
        // Both forms the key may be stored in (CH-37: deterministic, so `=` works; during a
        // rotation the row may still hold the previous key's form).
        let [now_form, earlier_form] = self.lookup_forms(platform_key);
        let user = on_backend!(self, read c => sqlx::query_as::<_, MessagingUser>(
            "SELECT * FROM messaging_users WHERE channel_id = $1 AND platform_key IN ($2, $3) LIMIT 1")
            .bind(channel_id).bind(now_form).bind(earlier_form).fetch_optional(c).await)?;
        user.map(|u| self.open_user(u)).transpose()
    }

    pub async fn list_messaging_users(
        &self,
        filter: MessagingUserFilter,
        page: PageRequest,
    ) -> Result<Paged<MessagingUser>> {
        let rows = on_backend!(self, read c => sqlx::query_as::<_, MessagingUser>(
            "SELECT * FROM messaging_users WHERE ($1 IS NULL OR id > $1) \
             AND ($2 IS NULL OR channel_id = $2) AND ($3 IS NULL OR contact_id = $3) ORDER BY id LIMIT $4")
            .bind(page.after).bind(filter.channel_id).bind(filter.contact_id)
            .bind(page.fetch_limit()).fetch_all(c).await)?;
        Ok(paginate(self.open_users(rows)?, page))
    }

    /// Changes a messaging user's consent and appends the change to its history, atomically. A
    /// change to the status it already has is still recorded: an opt-out keyword repeated is a fact
    /// regulators may ask about.
    pub async fn set_consent(
        &self,
        messaging_user_id: Uuid,
        to: ConsentStatus,
        origin: &ConsentOrigin,
        now: Timestamp,
    ) -> Result<ConsentEvent> {
        let event_id = new_id();
        on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            let from: Option<Option<String>> = sqlx::query_scalar(
                "SELECT consent_status FROM messaging_users WHERE id = $1")
                .bind(messaging_user_id).fetch_optional(&mut *tx).await?;
            let Some(from) = from else {
                return Err(StoreError::not_found("messaging user"));
            };
            sqlx::query("UPDATE messaging_users SET consent_status = $2, updated_at = $3 WHERE id = $1")
                .bind(messaging_user_id).bind(to.as_str()).bind(now.millis()).execute(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO consent_events (id, messaging_user_id, from_status, to_status, source, reason, entry_id, at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
                .bind(event_id).bind(messaging_user_id).bind(from).bind(to.as_str())
                .bind(origin.source.as_str()).bind(&origin.reason).bind(origin.entry_id)
                .bind(now.millis()).execute(&mut *tx).await?;
            tx.commit().await
        })?;
        on_backend!(self, read c => sqlx::query_as::<_, ConsentEvent>("SELECT * FROM consent_events WHERE id = $1")
            .bind(event_id).fetch_optional(c).await)?
        .ok_or(StoreError::not_found("consent event"))
    }

    /// The consent history of a messaging user, oldest first.
    pub async fn consent_history(&self, messaging_user_id: Uuid) -> Result<Vec<ConsentEvent>> {
        Ok(
            on_backend!(self, read c => sqlx::query_as::<_, ConsentEvent>(
            "SELECT * FROM consent_events WHERE messaging_user_id = $1 ORDER BY at, id")
            .bind(messaging_user_id).fetch_all(c).await)?,
        )
    }

    pub async fn link_contact(
        &self,
        messaging_user_id: Uuid,
        contact_id: Uuid,
        now: Timestamp,
    ) -> Result<()> {
        let done = on_backend!(self, write c => sqlx::query(
            "UPDATE messaging_users SET contact_id = $2, updated_at = $3 WHERE id = $1")
            .bind(messaging_user_id).bind(contact_id).bind(now.millis()).execute(c).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::not_found("messaging user"));
        }
        self.write_person_terms(messaging_user_id, now).await
    }

    /// Links a messaging user to a contact, or unlinks it (`None`).
    pub async fn set_user_contact(
        &self,
        messaging_user_id: Uuid,
        contact_id: Option<Uuid>,
        now: Timestamp,
    ) -> Result<MessagingUser> {
        let done = on_backend!(self, write c => sqlx::query(
            "UPDATE messaging_users SET contact_id = $2, updated_at = $3 WHERE id = $1")
            .bind(messaging_user_id).bind(contact_id).bind(now.millis()).execute(c).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::not_found("messaging user"));
        }
        self.write_person_terms(messaging_user_id, now).await?;
        self.messaging_user(messaging_user_id).await
    }

    /// Opens a session. The database refuses a second open session for the same messaging user
    /// (a `Conflict`), whatever the callers race to do.
    pub async fn create_session(&self, new: &NewSession, now: Timestamp) -> Result<Session> {
        let id = new_id();
        on_backend!(self, write c => sqlx::query(
            "INSERT INTO sessions (id, conversation_id, channel_id, messaging_user_id, status, context, \
             owner_kind, owner_id, queue_id, case_id, started_at, status_since, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $7 IS NULL THEN NULL ELSE 'queue' END, $7, $7, $8, $9, $9, $9)")
            .bind(id).bind(new.conversation_id).bind(new.channel_id).bind(new.messaging_user_id)
            .bind(new.status.as_str()).bind(new.context.as_str()).bind(new.queue_id).bind(new.case_id)
            .bind(now.millis()).execute(c).await.map(|r| r.rows_affected()))?;
        self.session_from_writer(id).await
    }

    async fn session_from_writer(&self, id: Uuid) -> Result<Session> {
        on_backend!(self, read c => sqlx::query_as::<_, Session>("SELECT * FROM sessions WHERE id = $1")
            .bind(id).fetch_optional(c).await)?
        .ok_or(StoreError::not_found("session"))
    }

    pub async fn session(&self, id: Uuid) -> Result<Session> {
        on_backend!(self, read c => sqlx::query_as::<_, Session>("SELECT * FROM sessions WHERE id = $1")
            .bind(id).fetch_optional(c).await)?
        .ok_or(StoreError::not_found("session"))
    }

    /// The open session of a messaging user, if any.
    pub async fn open_session(&self, messaging_user_id: Uuid) -> Result<Option<Session>> {
        Ok(on_backend!(self, read c => sqlx::query_as::<_, Session>(
            "SELECT * FROM sessions WHERE messaging_user_id = $1 AND status NOT IN ('ended', 'error')")
            .bind(messaging_user_id).fetch_optional(c).await)?)
    }

    /// Moves a session to `status`, stamping accept and end times the first time they happen.
    pub async fn set_session_status(
        &self,
        id: Uuid,
        status: SessionStatus,
        error_reason: Option<&str>,
        now: Timestamp,
    ) -> Result<Session> {
        let accepted = (status == SessionStatus::Active).then_some(now.millis());
        let ended = (!status.is_open()).then_some(now.millis());
        let done = on_backend!(self, write c => sqlx::query(
            "UPDATE sessions SET status = $2, error_reason = COALESCE($3, error_reason), \
             accepted_at = COALESCE(accepted_at, $4), ended_at = COALESCE(ended_at, $5), updated_at = $6 \
             WHERE id = $1")
            .bind(id).bind(status.as_str()).bind(error_reason).bind(accepted).bind(ended)
            .bind(now.millis()).execute(c).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::not_found("session"));
        }
        self.session_from_writer(id).await
    }

    pub async fn list_sessions(
        &self,
        filter: SessionFilter,
        page: PageRequest,
    ) -> Result<Paged<Session>> {
        let rows = on_backend!(self, read c => sqlx::query_as::<_, Session>(
            "SELECT * FROM sessions WHERE ($1 IS NULL OR id > $1) AND ($2 IS NULL OR channel_id = $2) \
             AND ($3 IS NULL OR messaging_user_id = $3) AND ($4 IS NULL OR status = $4) ORDER BY id LIMIT $5")
            .bind(page.after).bind(filter.channel_id).bind(filter.messaging_user_id)
            .bind(filter.status.map(SessionStatus::as_str)).bind(page.fetch_limit()).fetch_all(c).await)?;
        Ok(paginate(rows, page))
    }

    /// Appends an entry and bumps the session's message counters in one transaction.
    pub async fn append_entry(&self, new: &NewEntry, now: Timestamp) -> Result<Entry> {
        use parley_core::model::{Actor, Direction};
        let id = new_id();
        let (agent, customer) = match (new.direction, new.actor) {
            (Direction::Inbound, _) => (0_i64, 1_i64),
            (Direction::Outbound, Actor::Agent) => (1, 0),
            (Direction::Outbound | Direction::Event, _) => (0, 0),
        };
        let last_customer = (customer > 0).then_some(now.millis());
        let search_key = self.search_key().await?;
        on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            sqlx::query(
                "INSERT INTO entries (id, session_id, direction, actor, actor_id, body, media, \
                 provider_message_id, status, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)")
                .bind(id).bind(new.session_id).bind(new.direction.as_str()).bind(new.actor.as_str())
                .bind(new.actor_id).bind(self.seal_text(&new.body)).bind(Json(&new.media)).bind(&new.provider_message_id)
                .bind(new.status.as_str()).bind(now.millis()).execute(&mut *tx).await?;
            crate::search::index_entry!(tx, &search_key, id, new.session_id, new.direction, &new.body, now.millis());
            sqlx::query(
                "UPDATE sessions SET agent_messages = agent_messages + $2, customer_messages = customer_messages + $3, \
                 last_customer_at = COALESCE($4, last_customer_at), updated_at = $5 WHERE id = $1")
                .bind(new.session_id).bind(agent).bind(customer).bind(last_customer).bind(now.millis())
                .execute(&mut *tx).await?;
            tx.commit().await
        })?;
        let entry = on_backend!(self, read c => sqlx::query_as::<_, Entry>("SELECT * FROM entries WHERE id = $1")
            .bind(id).fetch_optional(c).await)?
        .ok_or(StoreError::not_found("entry"))?;
        self.open_entry(entry)
    }

    pub async fn list_entries(&self, session_id: Uuid, page: PageRequest) -> Result<Paged<Entry>> {
        let rows = on_backend!(self, read c => sqlx::query_as::<_, Entry>(
            "SELECT * FROM entries WHERE session_id = $1 AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3")
            .bind(session_id).bind(page.after).bind(page.fetch_limit()).fetch_all(c).await)?;
        Ok(paginate(self.open_entries(rows)?, page))
    }

    /// Records a delivery status and, when given, the catalogue and provider error codes.
    pub async fn set_entry_status(
        &self,
        id: Uuid,
        status: EntryStatus,
        error_code: Option<&str>,
        provider_error: Option<&str>,
        now: Timestamp,
    ) -> Result<()> {
        let done = on_backend!(self, write c => sqlx::query(
            "UPDATE entries SET status = $2, error_code = COALESCE($3, error_code), \
             provider_error = COALESCE($4, provider_error), updated_at = $5 WHERE id = $1")
            .bind(id).bind(status.as_str()).bind(error_code).bind(provider_error).bind(now.millis())
            .execute(c).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::not_found("entry"));
        }
        Ok(())
    }
}

/// Why a consent status is what it is: the source and the message that caused it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsentOrigin {
    pub source: parley_core::model::ConsentSource,
    pub reason: String,
    pub entry_id: Option<Uuid>,
}
