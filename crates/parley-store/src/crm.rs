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

/// Links a session to a case. The bumped `updated_at` makes an agent's guarded write that read
/// the session before this fail and read it again rather than undo the link.
const SET_SESSION_CASE: &str = "UPDATE sessions SET case_id = $2, \
    updated_at = CASE WHEN updated_at >= $3 THEN updated_at + 1 ELSE $3 END WHERE id = $1";

/// How many recent cases a subject search reads at most, per page.
pub const CASE_SEARCH_SCAN: i64 = 2000;

/// Subject search: the most recent cases (index `cases_recent`) before the cursor, bounded, then
/// the substring and the filters. Binds: cursor time, cursor id, scan size, pattern, status,
/// contact, owner, limit.
pub const CASE_SEARCH: &str = "SELECT * FROM (SELECT * FROM cases WHERE (created_at, id) < ($1, $2) \
    ORDER BY created_at DESC, id DESC LIMIT $3) recent \
    WHERE lower(subject) LIKE $4 ESCAPE '\\' AND ($5 IS NULL OR status = $5) \
    AND ($6 IS NULL OR contact_id = $6) AND ($7 IS NULL OR owner_agent_id = $7) \
    ORDER BY created_at DESC, id DESC LIMIT $8";

/// Cases newest first with filters. Binds: cursor time, cursor id, status, contact, owner, limit.
pub const CASE_LIST: &str = "SELECT * FROM cases WHERE (created_at, id) < ($1, $2) \
    AND ($3 IS NULL OR status = $3) AND ($4 IS NULL OR contact_id = $4) \
    AND ($5 IS NULL OR owner_agent_id = $5) ORDER BY created_at DESC, id DESC LIMIT $6";

/// A `LIKE` pattern for "contains", lower-cased, with the wildcards of the text escaped.
fn like_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for ch in text.trim().to_lowercase().chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

impl Store {
    pub async fn create_contact(&self, spec: &ContactSpec, now: Timestamp) -> Result<Contact> {
        let id = new_id();
        on_backend!(self, write c => sqlx::query(
            "INSERT INTO contacts (id, first_name, last_name, phone, email, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6)")
            .bind(id).bind(self.seal_text(&spec.first_name)).bind(self.seal_text(&spec.last_name))
            .bind(spec.phone.as_ref().map(|p| self.seal_lookup(p.as_str())))
            .bind(self.seal_lookup_opt(spec.email.as_deref()))
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
            .bind(id).bind(self.seal_text(&spec.first_name)).bind(self.seal_text(&spec.last_name))
            .bind(spec.phone.as_ref().map(|p| self.seal_lookup(p.as_str())))
            .bind(self.seal_lookup_opt(spec.email.as_deref()))
            .bind(now.millis()).execute(c).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::not_found("contact"));
        }
        self.write_contact_terms(id, now).await?;
        self.contact(id).await
    }

    pub async fn contact(&self, id: Uuid) -> Result<Contact> {
        let contact = on_backend!(self, read c => sqlx::query_as::<_, Contact>("SELECT * FROM contacts WHERE id = $1")
            .bind(id).fetch_optional(c).await)?
        .ok_or(StoreError::not_found("contact"))?;
        self.open_contact(contact)
    }

    /// The oldest contact with this phone number, then with this email (MU-07 matching order).
    pub async fn find_contact(
        &self,
        phone: Option<&E164>,
        email: Option<&str>,
    ) -> Result<Option<Contact>> {
        if let Some(phone) = phone {
            let [now_form, earlier_form] = self.lookup_forms(phone.as_str());
            let found = on_backend!(self, read c => sqlx::query_as::<_, Contact>(
                "SELECT * FROM contacts WHERE phone IN ($1, $2) ORDER BY id LIMIT 1")
                .bind(now_form).bind(earlier_form).fetch_optional(c).await)?;
            if let Some(found) = found {
                return Ok(Some(self.open_contact(found)?));
            }
        }
        if let Some(email) = email {
            let found = if self.keyring().is_some() {
                // Sealed e-mails compare exactly: as given, or in lower case (how most are
                // written). A mixed-case address stored differently is not matched.
                let [a, b] = self.lookup_forms(email);
                let [c2, d] = self.lookup_forms(&email.to_lowercase());
                on_backend!(self, read c => sqlx::query_as::<_, Contact>(
                    "SELECT * FROM contacts WHERE email IN ($1, $2, $3, $4) ORDER BY id LIMIT 1")
                    .bind(a).bind(b).bind(c2).bind(d).fetch_optional(c).await)?
            } else {
                on_backend!(self, read c => sqlx::query_as::<_, Contact>(
                    "SELECT * FROM contacts WHERE lower(email) = lower($1) ORDER BY id LIMIT 1")
                    .bind(email).fetch_optional(c).await)?
            };
            return found.map(|c| self.open_contact(c)).transpose();
        }
        Ok(None)
    }

    pub async fn list_contacts(&self, page: PageRequest) -> Result<Paged<Contact>> {
        let rows = on_backend!(self, read c => sqlx::query_as::<_, Contact>(
            "SELECT * FROM contacts WHERE ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2")
            .bind(page.after).bind(page.fetch_limit()).fetch_all(c).await)?;
        let rows = rows
            .into_iter()
            .map(|c| self.open_contact(c))
            .collect::<Result<Vec<_>>>()?;
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
        let new = NewCase {
            contact_id,
            channel_id,
            subject: subject.to_owned(),
            owner_agent_id: None,
            session_ids: Vec::new(),
        };
        self.create_case_with(&new, now).await
    }

    /// Creates a case with the next number and links the given sessions to it, atomically: a
    /// session that does not exist rolls the whole case back (`NotFound`).
    pub async fn create_case_with(&self, new: &NewCase, now: Timestamp) -> Result<Case> {
        let id = new_id();
        on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            let number: i64 = sqlx::query_scalar(NEXT_CASE_NUMBER).fetch_one(&mut *tx).await?;
            sqlx::query(
                "INSERT INTO cases (id, number, contact_id, channel_id, subject, status, owner_agent_id, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)")
                .bind(id).bind(number).bind(new.contact_id).bind(new.channel_id).bind(&new.subject)
                .bind(CaseStatus::New.as_str()).bind(new.owner_agent_id).bind(now.millis())
                .execute(&mut *tx).await?;
            for s in &new.session_ids {
                let n = sqlx::query(SET_SESSION_CASE)
                    .bind(s).bind(id).bind(now.millis()).execute(&mut *tx).await?.rows_affected();
                if n == 0 {
                    tx.rollback().await?;
                    return Err(StoreError::not_found("session"));
                }
            }
            tx.commit().await
        })?;
        self.case(id).await
    }

    /// Writes a case's editable fields, provided its status is still `expected`: a status
    /// decision made on a stale read (close racing a reopen) is refused as a `Conflict`.
    pub async fn update_case(
        &self,
        id: Uuid,
        expected: CaseStatus,
        write: &CaseWrite,
        now: Timestamp,
    ) -> Result<Case> {
        let done = on_backend!(self, write c => sqlx::query(
            "UPDATE cases SET subject = $3, status = $4, owner_agent_id = $5, closed_at = $6, \
             updated_at = $7 WHERE id = $1 AND status = $2")
            .bind(id).bind(expected.as_str()).bind(&write.subject).bind(write.status.as_str())
            .bind(write.owner_agent_id).bind(write.closed_at.map(Timestamp::millis)).bind(now.millis())
            .execute(c).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            self.case(id).await?;
            return Err(StoreError::Conflict(format!(
                "case {id} changed meanwhile; read it again"
            )));
        }
        self.case(id).await
    }

    /// Links a session to a case (moving it from another case), or unlinks it when `case_id` is
    /// `None` and it is linked to `unlink_from`.
    pub async fn set_session_case(
        &self,
        session_id: Uuid,
        case_id: Option<Uuid>,
        unlink_from: Option<Uuid>,
        now: Timestamp,
    ) -> Result<()> {
        let done = match (case_id, unlink_from) {
            (Some(case_id), _) => on_backend!(self, write c => sqlx::query(SET_SESSION_CASE)
                .bind(session_id).bind(case_id).bind(now.millis())
                .execute(c).await.map(|r| r.rows_affected()))?,
            (None, from) => on_backend!(self, write c => sqlx::query(
                "UPDATE sessions SET case_id = NULL, updated_at = CASE WHEN updated_at >= $3 \
                 THEN updated_at + 1 ELSE $3 END WHERE id = $1 AND case_id = $2")
                .bind(session_id).bind(from).bind(now.millis())
                .execute(c).await.map(|r| r.rows_affected()))?,
        };
        if done == 0 {
            return Err(StoreError::not_found("session"));
        }
        Ok(())
    }

    /// The case with this number.
    pub async fn case_by_number(&self, number: i64) -> Result<Option<Case>> {
        Ok(on_backend!(self, read c => sqlx::query_as::<_, Case>(
            "SELECT * FROM cases WHERE number = $1")
            .bind(number).fetch_optional(c).await)?)
    }

    /// Cases newest first, paged by id (the next page starts after that case's place in time).
    /// A subject search looks at the [`CASE_SEARCH_SCAN`] most recent cases after the cursor
    /// only: a B-tree cannot serve a substring, so the scan is bounded rather than the table's.
    pub async fn search_cases(&self, q: &CaseQuery, page: PageRequest) -> Result<Paged<Case>> {
        if let Some(number) = q.number {
            let found = self.case_by_number(number).await?.filter(|c| {
                q.status.is_none_or(|s| s == c.status)
                    && q.contact_id.is_none_or(|id| id == c.contact_id)
                    && q.owner_agent_id
                        .is_none_or(|id| Some(id) == c.owner_agent_id)
                    && page.after.is_none()
            });
            return Ok(Paged {
                items: found.into_iter().collect(),
                next: None,
            });
        }
        let cursor = match page.after {
            None => None,
            Some(after) => match on_backend!(self, read c => sqlx::query_scalar::<_, i64>(
                "SELECT created_at FROM cases WHERE id = $1").bind(after).fetch_optional(c).await)?
            {
                Some(at) => Some((at, after)),
                None => {
                    return Ok(Paged {
                        items: Vec::new(),
                        next: None,
                    });
                }
            },
        };
        let pattern = q.text.as_deref().map(like_pattern);
        let status = q.status.map(CaseStatus::as_str);
        // The first page's cursor is past every case, so one plan serves every page.
        let (at, after) = cursor.unwrap_or((i64::MAX, Uuid::max()));
        let rows = match pattern {
            Some(pattern) => on_backend!(self, read c => sqlx::query_as::<_, Case>(CASE_SEARCH)
                .bind(at).bind(after).bind(CASE_SEARCH_SCAN).bind(pattern).bind(status)
                .bind(q.contact_id).bind(q.owner_agent_id).bind(page.fetch_limit())
                .fetch_all(c).await)?,
            None => on_backend!(self, read c => sqlx::query_as::<_, Case>(CASE_LIST)
                .bind(at).bind(after).bind(status).bind(q.contact_id).bind(q.owner_agent_id)
                .bind(page.fetch_limit()).fetch_all(c).await)?,
        };
        Ok(paginate(rows, page))
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
        // A flow closing a case stamps when, as the API's close does; any other status clears it.
        let done = on_backend!(self, write c => sqlx::query(
            "UPDATE cases SET subject = COALESCE($2, subject), status = COALESCE($3, status), \
             closed_at = CASE WHEN COALESCE($3, status) = 'closed' THEN COALESCE(closed_at, $4) ELSE NULL END, \
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
