//! The small CRM behind conversations: contacts and cases.

use parley_core::model::CaseStatus;
use parley_core::{E164, Timestamp, new_id};
use uuid::Uuid;

use crate::records::{paginate, *};
use crate::{Result, Store, StoreError, on_backend};

/// Takes the next case number inside the insert's transaction: SQLite serialises writers and
/// PostgreSQL locks the counter's row, so two cases never share a number.
pub(crate) const NEXT_CASE_NUMBER: &str =
    "UPDATE case_counter SET next_number = next_number + 1 WHERE id = 1 RETURNING next_number - 1";

impl Store {
    pub async fn create_contact(&self, spec: &ContactSpec, now: Timestamp) -> Result<Contact> {
        let id = new_id();
        on_backend!(self, write c => sqlx::query(
            "INSERT INTO contacts (id, first_name, last_name, phone, email, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6)")
            .bind(id).bind(&spec.first_name).bind(&spec.last_name)
            .bind(spec.phone.as_ref().map(E164::as_str)).bind(&spec.email)
            .bind(now.millis()).execute(c).await.map(|r| r.rows_affected()))?;
        self.contact(id).await
    }

    pub async fn update_contact(
        &self,
        id: Uuid,
        spec: &ContactSpec,
        now: Timestamp,
    ) -> Result<Contact> {
        let done = on_backend!(self, write c => sqlx::query(
            "UPDATE contacts SET first_name = $2, last_name = $3, phone = $4, email = $5, updated_at = $6 \
             WHERE id = $1")
            .bind(id).bind(&spec.first_name).bind(&spec.last_name)
            .bind(spec.phone.as_ref().map(E164::as_str)).bind(&spec.email)
            .bind(now.millis()).execute(c).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::not_found("contact"));
        }
        self.contact(id).await
    }

    pub async fn contact(&self, id: Uuid) -> Result<Contact> {
        on_backend!(self, read c => sqlx::query_as::<_, Contact>("SELECT * FROM contacts WHERE id = $1")
            .bind(id).fetch_optional(c).await)?
        .ok_or(StoreError::not_found("contact"))
    }

    /// The oldest contact with this phone number, then with this email (MU-07 matching order).
    pub async fn find_contact(
        &self,
        phone: Option<&E164>,
        email: Option<&str>,
    ) -> Result<Option<Contact>> {
        if let Some(phone) = phone {
            let found = on_backend!(self, read c => sqlx::query_as::<_, Contact>(
                "SELECT * FROM contacts WHERE phone = $1 ORDER BY id LIMIT 1")
                .bind(phone.as_str()).fetch_optional(c).await)?;
            if found.is_some() {
                return Ok(found);
            }
        }
        if let Some(email) = email {
            return Ok(on_backend!(self, read c => sqlx::query_as::<_, Contact>(
                "SELECT * FROM contacts WHERE lower(email) = lower($1) ORDER BY id LIMIT 1")
                .bind(email).fetch_optional(c).await)?);
        }
        Ok(None)
    }

    pub async fn list_contacts(&self, page: PageRequest) -> Result<Paged<Contact>> {
        let rows = on_backend!(self, read c => sqlx::query_as::<_, Contact>(
            "SELECT * FROM contacts WHERE ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2")
            .bind(page.after).bind(page.fetch_limit()).fetch_all(c).await)?;
        Ok(paginate(rows, page))
    }

    pub async fn delete_contact(&self, id: Uuid) -> Result<()> {
        crate::config::delete_by_id(self, "contacts", "contact", id).await
    }

    pub async fn create_case(
        &self,
        contact_id: Uuid,
        channel_id: Option<Uuid>,
        subject: &str,
        now: Timestamp,
    ) -> Result<Case> {
        let id = new_id();
        on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            let number: i64 = sqlx::query_scalar(NEXT_CASE_NUMBER).fetch_one(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO cases (id, number, contact_id, channel_id, subject, status, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7)")
                .bind(id).bind(number).bind(contact_id).bind(channel_id).bind(subject)
                .bind(CaseStatus::New.as_str()).bind(now.millis()).execute(&mut *tx).await?;
            tx.commit().await
        })?;
        self.case(id).await
    }

    pub async fn case(&self, id: Uuid) -> Result<Case> {
        on_backend!(self, read c => sqlx::query_as::<_, Case>("SELECT * FROM cases WHERE id = $1")
            .bind(id).fetch_optional(c).await)?
        .ok_or(StoreError::not_found("case"))
    }

    /// Changes a case's subject or status (a flow's `set`); `None` leaves a field as it is.
    pub async fn update_case_fields(
        &self,
        id: Uuid,
        subject: Option<&str>,
        status: Option<CaseStatus>,
        now: Timestamp,
    ) -> Result<()> {
        let done = on_backend!(self, write c => sqlx::query(
            "UPDATE cases SET subject = COALESCE($2, subject), status = COALESCE($3, status), \
             updated_at = $4 WHERE id = $1")
            .bind(id).bind(subject).bind(status.map(CaseStatus::as_str)).bind(now.millis())
            .execute(c).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::not_found("case"));
        }
        Ok(())
    }

    pub async fn cases_of_contact(&self, contact_id: Uuid) -> Result<Vec<Case>> {
        Ok(on_backend!(self, read c => sqlx::query_as::<_, Case>(
            "SELECT * FROM cases WHERE contact_id = $1 ORDER BY id")
            .bind(contact_id).fetch_all(c).await)?)
    }
}
