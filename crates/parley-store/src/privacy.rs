//! Access, restriction and erasure requests (issue 16): finding what is held about a person,
//! restricting their processing, erasing them, and the opt-out proofs erasure keeps.
//!
//! Erasure works one messaging user (then one contact) per transaction, so a request interrupted
//! by a restart resumes where it stopped and a rerun finds nothing left to remove.

use hmac::{Hmac, Mac};
use parley_core::model::ConsentStatus;
use parley_core::privacy::erasure::{
    ErasureReport, ErasureStatus, PROOF_SOURCE, Subject, keeps_opt_out_proof,
};
use parley_core::{Timestamp, new_id};
use serde::Serialize;
use sha2::Sha256;
use sqlx::FromRow;
use uuid::Uuid;

use crate::records::{Contact, MessagingUser};
use crate::{Result, Store, StoreError, on_backend};

/// The one-way keyed hash an opt-out proof is kept under: HMAC-SHA256 of the platform key with
/// the deployment's secret, in hex.
pub(crate) fn proof_hash(secret: &str, platform_key: &str) -> String {
    // HMAC takes a key of any length; this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(platform_key.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The secret, read only while some proof exists: a new messaging user costs one small read
/// until the first erasure of an opted-out person.
pub(crate) const SECRET_IF_PROOFS: &str = "SELECT secret FROM privacy_secret WHERE id = 1 \
    AND EXISTS (SELECT 1 FROM opt_out_proofs)";

/// Inside a transaction `$tx` that just created messaging user `$id` for `$key`: when an erasure
/// kept an opt-out proof of that key, the user starts opted out (source `erasure_proof`), so every
/// consent gate holds for a person who said STOP before they were erased.
macro_rules! honour_opt_out_proof {
    ($tx:ident, $id:expr, $key:expr, $at:expr) => {{
        let secret: Option<String> = sqlx::query_scalar($crate::privacy::SECRET_IF_PROOFS)
            .fetch_optional(&mut *$tx)
            .await?;
        if let Some(secret) = secret {
            $crate::privacy::honour_with_secret!($tx, &secret, $id, $key, $at);
        }
    }};
}

/// [`honour_opt_out_proof`] with the secret read already (an import reads it once per batch).
macro_rules! honour_with_secret {
    ($tx:ident, $secret:expr, $id:expr, $key:expr, $at:expr) => {{
        let hash = $crate::privacy::proof_hash($secret, $key);
        let proof: Option<i64> =
            sqlx::query_scalar("SELECT opted_out_at FROM opt_out_proofs WHERE key_hash = $1")
                .bind(&hash)
                .fetch_optional(&mut *$tx)
                .await?;
        if proof.is_some() {
            let from: Option<String> =
                sqlx::query_scalar("SELECT consent_status FROM messaging_users WHERE id = $1")
                    .bind($id)
                    .fetch_one(&mut *$tx)
                    .await?;
            sqlx::query(
                "UPDATE messaging_users SET consent_status = 'OptedOut', updated_at = $2 \
                 WHERE id = $1",
            )
            .bind($id)
            .bind($at)
            .execute(&mut *$tx)
            .await?;
            sqlx::query(
                "INSERT INTO consent_events (id, messaging_user_id, from_status, to_status, \
                 source, reason, entry_id, at) VALUES ($1, $2, $3, 'OptedOut', $4, $5, NULL, $6)",
            )
            .bind(parley_core::new_id())
            .bind($id)
            .bind(from)
            .bind(parley_core::privacy::erasure::PROOF_SOURCE)
            .bind("this number opted out before its data was erased")
            .bind($at)
            .execute(&mut *$tx)
            .await?;
        }
    }};
}
pub(crate) use honour_opt_out_proof;
pub(crate) use honour_with_secret;

/// Adds `$add` to request `$id`'s report inside transaction `$tx`.
macro_rules! add_report {
    ($tx:ident, $id:expr, $add:expr, $at:expr) => {{
        let stored: Option<String> =
            sqlx::query_scalar("SELECT report FROM erasure_requests WHERE id = $1")
                .bind($id)
                .fetch_optional(&mut *$tx)
                .await?;
        let so_far: ErasureReport = stored
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default();
        let total = so_far.plus(*$add);
        sqlx::query("UPDATE erasure_requests SET report = $2, updated_at = $3 WHERE id = $1")
            .bind($id)
            .bind(serde_json::to_string(&total).unwrap_or_else(|_| "{}".into()))
            .bind($at)
            .execute(&mut *$tx)
            .await?;
    }};
}

/// One erasure request as stored.
#[derive(Debug, Clone, Serialize)]
pub struct ErasureRequest {
    pub id: Uuid,
    pub subject_kind: String,
    /// The subject while the request runs; `None` once it is done (the request keeps no trace
    /// of who it erased).
    pub subject: Option<String>,
    pub status: ErasureStatus,
    pub report: ErasureReport,
    pub error: Option<String>,
    pub requested_by: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

#[derive(FromRow)]
struct ErasureRow {
    id: Uuid,
    subject_kind: String,
    subject: Option<String>,
    status: String,
    report: String,
    error: Option<String>,
    requested_by: String,
    created_at: i64,
    updated_at: i64,
    finished_at: Option<i64>,
}

impl ErasureRow {
    fn into_request(self, store: &Store) -> Result<ErasureRequest> {
        Ok(ErasureRequest {
            id: self.id,
            subject_kind: self.subject_kind,
            subject: self.subject.map(|s| store.open_text(&s)).transpose()?,
            status: ErasureStatus::parse(&self.status)
                .ok_or_else(|| StoreError::Invalid(format!("erasure status '{}'", self.status)))?,
            report: serde_json::from_str(&self.report).unwrap_or_default(),
            error: self.error,
            requested_by: self.requested_by,
            created_at: Timestamp(self.created_at),
            updated_at: Timestamp(self.updated_at),
            finished_at: self.finished_at.map(Timestamp),
        })
    }
}

/// A campaign message a person received, with the clicks on its link.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct HeldCampaignMessage {
    pub entry_id: Uuid,
    pub campaign_id: Uuid,
    pub channel_id: Uuid,
    pub code: Option<String>,
    pub clicks: i64,
    pub first_click_at: Option<i64>,
    pub replied_at: Option<i64>,
    pub opted_out_at: Option<i64>,
    pub created_at: i64,
}

/// How many rows of each kind are held for one messaging user.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct HeldCounts {
    pub sessions: i64,
    pub entries: i64,
    pub media: i64,
    pub consent_events: i64,
    pub campaign_messages: i64,
    pub flow_runs: i64,
    pub web_visitors: i64,
}

/// The patterns `%x%` job payloads and webhook deliveries are searched with for one user.
fn patterns(user: &MessagingUser, sessions: &[Uuid]) -> Vec<String> {
    let mut p = vec![user.platform_key.clone(), user.id.to_string()];
    p.extend(sessions.iter().map(Uuid::to_string));
    p.retain(|s| s.len() >= 6);
    p
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl Store {
    /// The messaging users and contacts a subject reaches (see [`Subject`]).
    pub async fn subject_reach(
        &self,
        subject: &Subject,
    ) -> Result<(Vec<MessagingUser>, Vec<Contact>)> {
        let contacts: Vec<Contact> = match subject {
            // Both stored forms: during a key rotation a row may still be under the old key.
            Subject::Phone(p) => {
                let [a, b] = self.lookup_forms(p.as_str());
                on_backend!(self, read c => sqlx::query_as::<_, Contact>(
                "SELECT * FROM contacts WHERE phone IN ($1, $2) ORDER BY id")
                .bind(a).bind(b).fetch_all(c).await)?
            }
            Subject::Email(e) => {
                let [a, b] = self.lookup_forms(e);
                let [la, lb] = self.lookup_forms(&e.to_lowercase());
                on_backend!(self, read c => sqlx::query_as::<_, Contact>(
                "SELECT * FROM contacts WHERE email IN ($1, $2, $3, $4) OR lower(email) = $5 ORDER BY id")
                .bind(a).bind(b).bind(la).bind(lb).bind(e.to_lowercase()).fetch_all(c).await)?
            }
            Subject::Contact(id) => on_backend!(self, read c => sqlx::query_as::<_, Contact>(
                "SELECT * FROM contacts WHERE id = $1").bind(id).fetch_all(c).await)?,
            Subject::MessagingUser(_) => Vec::new(),
        };
        let mut users: Vec<MessagingUser> = match subject {
            Subject::Phone(p) => {
                let [a, b] = self.lookup_forms(p.as_str());
                on_backend!(self, read c => sqlx::query_as::<_, MessagingUser>(
                "SELECT * FROM messaging_users WHERE platform_key IN ($1, $2) ORDER BY id")
                .bind(a).bind(b).fetch_all(c).await)?
            }
            Subject::MessagingUser(id) => {
                on_backend!(self, read c => sqlx::query_as::<_, MessagingUser>(
                "SELECT * FROM messaging_users WHERE id = $1").bind(id).fetch_all(c).await)?
            }
            Subject::Email(e) => {
                // Web visitors who gave the address in a pre-chat form or an identity token.
                let pattern = format!("%{e}%");
                on_backend!(self, read c => sqlx::query_as::<_, MessagingUser>(
                    "SELECT * FROM messaging_users WHERE id IN (SELECT s.messaging_user_id \
                     FROM web_session_data w JOIN sessions s ON s.id = w.session_id \
                     WHERE lower(w.prechat) LIKE $1 OR lower(w.identity) LIKE $1) ORDER BY id")
                    .bind(pattern).fetch_all(c).await)?
            }
            Subject::Contact(_) => Vec::new(),
        };
        let contacts = contacts
            .into_iter()
            .map(|c| self.open_contact(c))
            .collect::<Result<Vec<_>>>()?;
        users = self.open_users(users)?;
        for contact in &contacts {
            for u in self.messaging_users_of_contact(contact.id).await? {
                if !users.iter().any(|x| x.id == u.id) {
                    users.push(u);
                }
            }
        }
        Ok((users, contacts))
    }

    /// How much is held for one messaging user.
    pub async fn held_counts(&self, user_id: Uuid) -> Result<HeldCounts> {
        let row: (i64, i64, i64, i64, i64, i64, i64) = on_backend!(self, read c => sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM sessions WHERE messaging_user_id = $1), \
             (SELECT COUNT(*) FROM entries WHERE session_id IN \
                (SELECT id FROM sessions WHERE messaging_user_id = $1)), \
             (SELECT COUNT(*) FROM media WHERE entry_id IN (SELECT id FROM entries WHERE session_id IN \
                (SELECT id FROM sessions WHERE messaging_user_id = $1))), \
             (SELECT COUNT(*) FROM consent_events WHERE messaging_user_id = $1), \
             (SELECT COUNT(*) FROM campaign_messages WHERE messaging_user_id = $1), \
             (SELECT COUNT(*) FROM flow_runs WHERE session_id IN \
                (SELECT id FROM sessions WHERE messaging_user_id = $1)), \
             (SELECT COUNT(*) FROM web_visitors WHERE messaging_user_id = $1)")
            .bind(user_id).fetch_one(c).await)?;
        Ok(HeldCounts {
            sessions: row.0,
            entries: row.1,
            media: row.2,
            consent_events: row.3,
            campaign_messages: row.4,
            flow_runs: row.5,
            web_visitors: row.6,
        })
    }

    /// Every session of a messaging user, oldest first.
    pub async fn sessions_of_user(&self, user_id: Uuid) -> Result<Vec<crate::Session>> {
        Ok(
            on_backend!(self, read c => sqlx::query_as::<_, crate::Session>(
            "SELECT * FROM sessions WHERE messaging_user_id = $1 ORDER BY id")
            .bind(user_id).fetch_all(c).await)?,
        )
    }

    /// Every entry of a session, oldest first.
    pub async fn entries_of_session(&self, session_id: Uuid) -> Result<Vec<crate::Entry>> {
        let rows = on_backend!(self, read c => sqlx::query_as::<_, crate::Entry>(
            "SELECT * FROM entries WHERE session_id = $1 ORDER BY id")
            .bind(session_id).fetch_all(c).await)?;
        self.open_entries(rows)
    }

    /// The stored files of a messaging user: its entries' media and its web uploads.
    pub async fn media_of_user(&self, user_id: Uuid) -> Result<Vec<crate::StoredMedia>> {
        Ok(
            on_backend!(self, read c => sqlx::query_as::<_, crate::StoredMedia>(
            "SELECT * FROM media WHERE entry_id IN (SELECT id FROM entries WHERE session_id IN \
                (SELECT id FROM sessions WHERE messaging_user_id = $1)) \
             OR id IN (SELECT u.media_id FROM web_uploads u JOIN web_visitors v ON v.id = u.visitor_id \
                WHERE v.messaging_user_id = $1) \
             OR id IN (SELECT media_id FROM agent_uploads WHERE session_id IN \
                (SELECT id FROM sessions WHERE messaging_user_id = $1)) ORDER BY id")
            .bind(user_id).fetch_all(c).await)?,
        )
    }

    /// The stored files of a session's entries, and those an agent uploaded for it but never
    /// sent (they are about the same person).
    pub async fn media_of_session(&self, session_id: Uuid) -> Result<Vec<crate::StoredMedia>> {
        Ok(
            on_backend!(self, read c => sqlx::query_as::<_, crate::StoredMedia>(
            "SELECT * FROM media WHERE entry_id IN (SELECT id FROM entries WHERE session_id = $1) \
             OR id IN (SELECT media_id FROM agent_uploads WHERE session_id = $1) ORDER BY id")
            .bind(session_id).fetch_all(c).await)?,
        )
    }

    /// How many media rows other than `except` keep the file with this digest.
    pub async fn media_sharing_file(&self, sha256: &str, except: &[Uuid]) -> Result<i64> {
        let rows: Vec<Uuid> = on_backend!(self, read c => sqlx::query_scalar(
            "SELECT id FROM media WHERE sha256 = $1").bind(sha256).fetch_all(c).await)?;
        Ok(
            i64::try_from(rows.iter().filter(|id| !except.contains(id)).count())
                .unwrap_or(i64::MAX),
        )
    }

    /// The campaign messages a messaging user received.
    pub async fn campaign_messages_of_user(
        &self,
        user_id: Uuid,
    ) -> Result<Vec<HeldCampaignMessage>> {
        Ok(
            on_backend!(self, read c => sqlx::query_as::<_, HeldCampaignMessage>(
            "SELECT entry_id, campaign_id, channel_id, code, clicks, first_click_at, replied_at, \
             opted_out_at, created_at FROM campaign_messages WHERE messaging_user_id = $1 \
             ORDER BY created_at")
            .bind(user_id).fetch_all(c).await)?,
        )
    }

    /// Restricts (`Some(now)`) or lifts (`None`) the processing of these messaging users; returns
    /// how many changed.
    pub async fn set_restricted(
        &self,
        user_ids: &[Uuid],
        restricted_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<u64> {
        let mut changed = 0;
        on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            for id in user_ids {
                changed += sqlx::query(
                    "UPDATE messaging_users SET restricted_at = $2, updated_at = $3 \
                     WHERE id = $1 AND ((restricted_at IS NULL) <> ($2 IS NULL))")
                    .bind(id).bind(restricted_at.map(Timestamp::millis)).bind(now.millis())
                    .execute(&mut *tx).await?.rows_affected();
            }
            tx.commit().await
        })?;
        Ok(changed)
    }

    /// Whether an erasure kept an opt-out proof of this platform key.
    pub async fn has_opt_out_proof(&self, platform_key: &str) -> Result<bool> {
        let secret: String = on_backend!(self, read c => sqlx::query_scalar(
            "SELECT secret FROM privacy_secret WHERE id = 1").fetch_one(c).await)?;
        let hash = proof_hash(&secret, platform_key);
        let found: Option<i64> = on_backend!(self, read c => sqlx::query_scalar(
            "SELECT opted_out_at FROM opt_out_proofs WHERE key_hash = $1")
            .bind(hash).fetch_optional(c).await)?;
        Ok(found.is_some())
    }

    /// Records an erasure request (its job is queued by the caller in the engine).
    pub async fn create_erasure_request(
        &self,
        subject: &Subject,
        requested_by: &str,
        job: &crate::NewJob,
        now: Timestamp,
    ) -> Result<ErasureRequest> {
        let id: Uuid =
            job.payload.trim_matches('"').parse().map_err(|_| {
                StoreError::Invalid("erasure job payload is not a request id".into())
            })?;
        on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            sqlx::query(
                "INSERT INTO erasure_requests (id, subject_kind, subject, status, report, error, \
                 requested_by, created_at, updated_at, finished_at) \
                 VALUES ($1, $2, $3, 'running', '{}', NULL, $4, $5, $5, NULL)")
                .bind(id).bind(subject.kind()).bind(self.seal_text(&subject.value()))
                .bind(requested_by).bind(now.millis()).execute(&mut *tx).await?;
            sqlx::query(crate::jobs::INSERT_JOB)
                .bind(new_id()).bind(&job.queue).bind(&job.kind).bind(&job.payload)
                .bind(job.priority).bind(job.due_at.millis()).bind(job.max_attempts)
                .bind(&job.dedupe_key).bind(now.millis()).bind(&job.group_key)
                .execute(&mut *tx).await?;
            tx.commit().await
        })?;
        self.erasure_request(id).await
    }

    pub async fn erasure_request(&self, id: Uuid) -> Result<ErasureRequest> {
        let row = on_backend!(self, read c => sqlx::query_as::<_, ErasureRow>(
            "SELECT * FROM erasure_requests WHERE id = $1").bind(id).fetch_optional(c).await)?
        .ok_or(StoreError::not_found("erasure request"))?;
        row.into_request(self)
    }

    /// The latest erasure requests, newest first.
    pub async fn erasure_requests(&self, limit: i64) -> Result<Vec<ErasureRequest>> {
        let rows = on_backend!(self, read c => sqlx::query_as::<_, ErasureRow>(
            "SELECT * FROM erasure_requests ORDER BY created_at DESC LIMIT $1")
            .bind(limit).fetch_all(c).await)?;
        rows.into_iter().map(|r| r.into_request(self)).collect()
    }

    /// Adds what was done outside a transaction (files removed from disk) to a request's report.
    pub async fn add_to_erasure_report(
        &self,
        id: Uuid,
        add: &ErasureReport,
        now: Timestamp,
    ) -> Result<()> {
        on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            add_report!(tx, id, add, now.millis());
            tx.commit().await
        })?;
        Ok(())
    }

    /// Ends a request: done (its subject forgotten) or failed with a reason.
    pub async fn finish_erasure_request(
        &self,
        id: Uuid,
        status: ErasureStatus,
        error: Option<&str>,
        now: Timestamp,
    ) -> Result<()> {
        on_backend!(self, write c => sqlx::query(
            "UPDATE erasure_requests SET status = $2, error = $3, updated_at = $4, finished_at = $4, \
             subject = CASE WHEN $2 = 'done' THEN NULL ELSE subject END WHERE id = $1")
            .bind(id).bind(status.as_str()).bind(error).bind(now.millis()).execute(c).await
            .map(|_| ()))?;
        Ok(())
    }

    /// Erases one messaging user in one transaction: everything tied to it and the row itself,
    /// after keeping an opt-out proof of its key when it had opted out. Adds what it removed to
    /// request `request_id`'s report (when given) in the same transaction, and returns it. Its
    /// files on disk are the caller's (removed before, while the rows still name them).
    pub async fn erase_messaging_user(
        &self,
        request_id: Option<Uuid>,
        user_id: Uuid,
        now: Timestamp,
    ) -> Result<ErasureReport> {
        let Ok(user) = self.messaging_user(user_id).await else {
            return Ok(ErasureReport::default());
        };
        let sessions: Vec<Uuid> = on_backend!(self, read c => sqlx::query_scalar(
            "SELECT id FROM sessions WHERE messaging_user_id = $1").bind(user_id).fetch_all(c).await)?;
        let patterns = patterns(&user, &sessions);
        let key = self.seal_lookup(&user.platform_key);
        let at = now.millis();
        let mut r = ErasureReport::default();
        const ENTRIES: &str = "SELECT id FROM entries WHERE session_id IN \
            (SELECT id FROM sessions WHERE messaging_user_id = $1)";
        on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            if keeps_opt_out_proof(user.consent_status) {
                let secret: String = sqlx::query_scalar("SELECT secret FROM privacy_secret WHERE id = 1")
                    .fetch_one(&mut *tx).await?;
                let last: Option<(i64, String)> = sqlx::query_as(
                    "SELECT at, source FROM consent_events WHERE messaging_user_id = $1 \
                     AND to_status = $2 ORDER BY at DESC LIMIT 1")
                    .bind(user_id).bind(ConsentStatus::OptedOut.as_str()).fetch_optional(&mut *tx).await?;
                let (opted_out_at, source) = last.unwrap_or((user.updated_at.millis(), "unknown".into()));
                r.opt_out_proofs += sqlx::query(
                    "INSERT INTO opt_out_proofs (key_hash, opted_out_at, source, recorded_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (key_hash) DO UPDATE SET \
                     opted_out_at = excluded.opted_out_at, source = excluded.source")
                    .bind(proof_hash(&secret, &user.platform_key)).bind(opted_out_at)
                    .bind(if source == PROOF_SOURCE { "keyword".to_owned() } else { source })
                    .bind(at).execute(&mut *tx).await?.rows_affected();
            }
            let (sessions_n, entries_n, consent_n, visitors_n): (i64, i64, i64, i64) = sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM sessions WHERE messaging_user_id = $1), \
                 (SELECT COUNT(*) FROM entries WHERE session_id IN \
                    (SELECT id FROM sessions WHERE messaging_user_id = $1)), \
                 (SELECT COUNT(*) FROM consent_events WHERE messaging_user_id = $1), \
                 (SELECT COUNT(*) FROM web_visitors WHERE messaging_user_id = $1)")
                .bind(user_id).fetch_one(&mut *tx).await?;
            r.sessions += count(sessions_n);
            r.entries += count(entries_n);
            r.consent_events += count(consent_n);
            r.web_visitors += count(visitors_n);
            let clicks: Option<i64> = sqlx::query_scalar(
                "SELECT CAST(SUM(clicks) AS BIGINT) FROM campaign_messages WHERE messaging_user_id = $1")
                .bind(user_id).fetch_one(&mut *tx).await?;
            r.link_clicks += count(clicks.unwrap_or(0));
            r.campaign_messages += sqlx::query("DELETE FROM campaign_messages WHERE messaging_user_id = $1")
                .bind(user_id).execute(&mut *tx).await?.rows_affected();
            r.flow_runs += sqlx::query(
                "DELETE FROM flow_runs WHERE session_id IN (SELECT id FROM sessions WHERE messaging_user_id = $1)")
                .bind(user_id).execute(&mut *tx).await?.rows_affected();
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM media WHERE entry_id IN ({ENTRIES}) OR id IN (SELECT u.media_id \
                 FROM web_uploads u JOIN web_visitors v ON v.id = u.visitor_id WHERE v.messaging_user_id = $1) \
                 OR id IN (SELECT media_id FROM agent_uploads WHERE session_id IN \
                    (SELECT id FROM sessions WHERE messaging_user_id = $1))")))
                .bind(user_id).execute(&mut *tx).await?;
            for table in ["twilio_messages", "idempotency_keys"] {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DELETE FROM {table} WHERE entry_id IN ({ENTRIES})")))
                    .bind(user_id).execute(&mut *tx).await?;
            }
            r.delivery_errors += sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM delivery_errors WHERE entry_id IN ({ENTRIES})")))
                .bind(user_id).execute(&mut *tx).await?.rows_affected();
            r.notifications += sqlx::query("DELETE FROM notifications WHERE messaging_user_id = $1")
                .bind(user_id).execute(&mut *tx).await?.rows_affected();
            r.notifications += sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM notification_errors WHERE (recipient = $2 AND (channel_id = $3 OR channel_id IS NULL)) \
                 OR entry_id IN ({ENTRIES})")))
                .bind(user_id).bind(&key).bind(user.channel_id).execute(&mut *tx).await?.rows_affected();
            r.simulator_messages += sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM simulator_messages WHERE (channel_id = $3 AND (from_addr = $2 OR to_addr = $2)) \
                 OR entry_id IN ({ENTRIES})")))
                .bind(user_id).bind(&key).bind(user.channel_id).execute(&mut *tx).await?.rows_affected();
            sqlx::query("DELETE FROM sender_reach WHERE messaging_user_id = $1")
                .bind(user_id).execute(&mut *tx).await?;
            for p in &patterns {
                let like = format!("%{p}%");
                // Not the privacy queue: the erasure's own job is running there.
                r.jobs += sqlx::query("DELETE FROM jobs WHERE queue <> 'privacy' AND payload LIKE $1")
                    .bind(&like).execute(&mut *tx).await?.rows_affected();
                r.webhook_deliveries += sqlx::query("DELETE FROM webhook_deliveries WHERE payload LIKE $1")
                    .bind(&like).execute(&mut *tx).await?.rows_affected();
                sqlx::query("DELETE FROM console_events WHERE data LIKE $1")
                    .bind(&like).execute(&mut *tx).await?;
            }
            // Sessions (their entries, routing work, reads, web data), consent history, web
            // visitors (their uploads) and closures go with the user.
            r.messaging_users += sqlx::query("DELETE FROM messaging_users WHERE id = $1")
                .bind(user_id).execute(&mut *tx).await?.rows_affected();
            if let Some(id) = request_id {
                add_report!(tx, id, &r, at);
            }
            tx.commit().await
        })?;
        Ok(r)
    }

    /// Erases a contact once its messaging users are gone: its cases keep their number, status,
    /// owner and times for the business's records but lose their subject, and the contact stays
    /// as an empty shell when cases point at it (deleted otherwise). Also its audience list
    /// memberships and, for a phone subject, those by number.
    pub async fn erase_contact(
        &self,
        request_id: Option<Uuid>,
        contact_id: Uuid,
        now: Timestamp,
    ) -> Result<ErasureReport> {
        let Ok(contact) = self.contact(contact_id).await else {
            return Ok(ErasureReport::default());
        };
        let at = now.millis();
        let mut r = ErasureReport::default();
        let [phone_a, phone_b] = match contact.phone.as_deref() {
            Some(p) => self.lookup_forms(p).map(Some),
            None => [None, None],
        };
        on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            r.cases_scrubbed += sqlx::query(
                "UPDATE cases SET subject = '', updated_at = $2 WHERE contact_id = $1")
                .bind(contact_id).bind(at).execute(&mut *tx).await?.rows_affected();
            r.audience_list_members += sqlx::query(
                "DELETE FROM audience_list_members WHERE contact_id = $1 OR (phone IS NOT NULL AND phone IN ($2, $3))")
                .bind(contact_id).bind(&phone_a).bind(&phone_b).execute(&mut *tx).await?.rows_affected();
            // The people linked to this contact were indexed under its name, phone and e-mail.
            sqlx::query(
                "DELETE FROM search_terms WHERE entry_id IS NULL AND messaging_user_id IN \
                 (SELECT id FROM messaging_users WHERE contact_id = $1)")
                .bind(contact_id).execute(&mut *tx).await?;
            sqlx::query("UPDATE messaging_users SET contact_id = NULL WHERE contact_id = $1")
                .bind(contact_id).execute(&mut *tx).await?;
            // Tags describe the person: they go even when the contact stays as a shell.
            sqlx::query("DELETE FROM contact_tags WHERE contact_id = $1")
                .bind(contact_id).execute(&mut *tx).await?;
            if r.cases_scrubbed > 0 {
                r.contacts_blanked += sqlx::query(
                    "UPDATE contacts SET first_name = '', last_name = '', phone = NULL, email = NULL, \
                     attributes = '{}', updated_at = $2 WHERE id = $1")
                    .bind(contact_id).bind(at).execute(&mut *tx).await?.rows_affected();
            } else {
                r.contacts += sqlx::query("DELETE FROM contacts WHERE id = $1")
                    .bind(contact_id).execute(&mut *tx).await?.rows_affected();
            }
            if let Some(id) = request_id {
                add_report!(tx, id, &r, at);
            }
            tx.commit().await
        })?;
        Ok(r)
    }

    /// Audience list members by number (a phone subject with no contact).
    pub async fn delete_audience_members_by_phone(&self, phone: &str) -> Result<u64> {
        Ok(on_backend!(self, write c => sqlx::query(
            "DELETE FROM audience_list_members WHERE phone IN ($1, $2)")
            .bind(self.lookup_forms(phone)[0].clone()).bind(self.lookup_forms(phone)[1].clone()).execute(c).await.map(|r| r.rows_affected()))?)
    }

    /// Deletes one final (Ended or Error) session with its entries, their media rows and its
    /// flow runs; the caller checked the status (SE-11) and removes the files. `false`: it was
    /// not there, or it is open again.
    pub async fn delete_final_session(&self, session_id: Uuid) -> Result<bool> {
        let deleted = on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            sqlx::query("DELETE FROM media WHERE entry_id IN (SELECT id FROM entries WHERE session_id = $1) \
                 OR id IN (SELECT media_id FROM agent_uploads WHERE session_id = $1)")
                .bind(session_id).execute(&mut *tx).await?;
            for table in ["twilio_messages", "idempotency_keys", "delivery_errors"] {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DELETE FROM {table} WHERE entry_id IN (SELECT id FROM entries WHERE session_id = $1)")))
                    .bind(session_id).execute(&mut *tx).await?;
            }
            sqlx::query("DELETE FROM flow_runs WHERE session_id = $1")
                .bind(session_id).execute(&mut *tx).await?;
            let n = sqlx::query("DELETE FROM sessions WHERE id = $1 AND status IN ('ended', 'error')")
                .bind(session_id).execute(&mut *tx).await?.rows_affected();
            if n == 0 {
                tx.rollback().await?;
            } else {
                tx.commit().await?;
            }
            Ok::<u64, sqlx::Error>(n)
        })?;
        Ok(deleted > 0)
    }

    /// SQLite: copies the write-ahead log into the database file and empties it, so deleted
    /// content (overwritten in place by `secure_delete`) leaves no older copy in the log. Nothing
    /// to do on PostgreSQL, whose vacuum reclaims dead rows.
    pub async fn checkpoint_after_erasure(&self) -> Result<()> {
        if let crate::Backend::Sqlite { writer, .. } = &self.backend {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(writer)
                .await?;
        }
        Ok(())
    }

    /// A fresh id for an erasure request.
    pub fn new_erasure_id(&self) -> Uuid {
        new_id()
    }
}
