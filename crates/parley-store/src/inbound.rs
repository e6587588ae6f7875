//! The write side of the inbound pipeline: everything one batch of customer messages changed,
//! committed in one transaction so a batch is all or nothing and the database is written once per
//! batch, not once per row.

use parley_core::model::{ConsentSource, ConsentStatus, Direction};
use parley_core::{E164, Timestamp};
use uuid::Uuid;

use crate::records::{Entry, NewJob, Session};
use crate::{Result, Store, on_backend};

/// A messaging user to create (ids are made by the caller so it can refer to them).
#[derive(Debug, Clone, PartialEq)]
pub struct UserInsert {
    pub id: Uuid,
    pub channel_id: Uuid,
    pub platform_key: String,
    pub name: String,
    pub locale: Option<String>,
    pub consent_status: Option<ConsentStatus>,
    pub contact_id: Option<Uuid>,
}

/// A consent change with its history row.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsentWrite {
    pub messaging_user_id: Uuid,
    pub from: Option<ConsentStatus>,
    pub to: ConsentStatus,
    pub source: ConsentSource,
    pub reason: String,
    pub entry_id: Option<Uuid>,
}

/// A contact created for a customer we did not know (MU-07, CMP-01).
#[derive(Debug, Clone, PartialEq)]
pub struct ContactInsert {
    pub id: Uuid,
    pub phone: Option<E164>,
    pub first_name: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CaseInsert {
    pub id: Uuid,
    pub contact_id: Uuid,
    pub channel_id: Uuid,
    pub subject: String,
}

/// Everything one inbound message changes, in the order it is written.
#[derive(Debug, Clone, Default)]
pub struct InboundWrite {
    pub contact: Option<ContactInsert>,
    pub user: Option<UserInsert>,
    /// Link an existing messaging user to a contact.
    pub link: Option<ContactLink>,
    pub consent: Option<ConsentWrite>,
    pub case: Option<CaseInsert>,
    /// Sessions written whole (inserted, or replaced by id): ended ones first, then the one the
    /// message lands in.
    pub sessions: Vec<Session>,
    /// The inbound entry, then auto-responses.
    pub entries: Vec<Entry>,
    /// Outbound sends and session timers.
    pub jobs: Vec<NewJob>,
    /// The customer's message, for `last_inbound_at` and campaign reply attribution.
    pub reply: Option<ReplyWrite>,
    /// Flow runs started or advanced with these rows.
    pub flow_runs: Vec<crate::flows::FlowRunWrite>,
    /// What the widget told about the web session this message opens.
    pub web_session: Option<crate::web_visitors::WebSessionWrite>,
}

/// A customer's message as campaign attribution needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyWrite {
    pub messaging_user_id: Uuid,
    pub channel_id: Uuid,
    /// The sender's platform key (E.164 on SMS and WhatsApp).
    pub address: String,
    pub kind: crate::campaigns::ReplyKind,
    pub at: Timestamp,
    /// Campaign messages older than this are not answered by it (the attribution window).
    pub since: Timestamp,
    /// The channel is WhatsApp: a reply may come through a campaign's wa.me footer.
    pub whatsapp: bool,
}

/// A messaging user linked to a contact (named: both ids are `Uuid`s, and swapped they would
/// still compile).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContactLink {
    pub messaging_user_id: Uuid,
    pub contact_id: Uuid,
}

/// The conversation a messaging user's sessions belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserConversation {
    pub messaging_user_id: Uuid,
    pub conversation_id: Uuid,
    /// Closed (SE-20): the user's next session starts a new conversation instead.
    pub closed: bool,
}

/// Writes one [`InboundWrite`] inside an open transaction `$tx` (also used by the console's
/// commits, so every path writes entries, sessions and jobs the same way).
macro_rules! write_effects {
    ($store:expr, $tx:ident, $w:expr, $at:expr, $search_key:expr) => {{
        let store: &$crate::Store = $store;
        let search_key: &$crate::search::SearchKey = $search_key;
        let w: &$crate::inbound::InboundWrite = $w;
        let at: i64 = $at;
        if let Some(ct) = &w.contact {
            sqlx::query(
                "INSERT INTO contacts (id, first_name, last_name, phone, email, created_at, updated_at) \
                 VALUES ($1, $2, '', $3, NULL, $4, $4)")
                .bind(ct.id).bind(store.seal_text(&ct.first_name))
                .bind(ct.phone.as_ref().map(|p| store.seal_lookup(p.as_str()))).bind(at)
                .execute(&mut *$tx).await?;
        }
        if let Some(u) = &w.user {
            sqlx::query(
                "INSERT INTO messaging_users (id, channel_id, platform_key, name, locale, consent_status, \
                 contact_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)")
                .bind(u.id).bind(u.channel_id).bind(store.seal_lookup(&u.platform_key)).bind(store.seal_text(&u.name)).bind(&u.locale)
                .bind(u.consent_status.map(parley_core::model::ConsentStatus::as_str)).bind(u.contact_id).bind(at)
                .execute(&mut *$tx).await?;
        }
        if let Some(link) = w.link {
            sqlx::query("UPDATE messaging_users SET contact_id = $2, updated_at = $3 WHERE id = $1")
                .bind(link.messaging_user_id).bind(link.contact_id).bind(at).execute(&mut *$tx).await?;
        }
        if let Some(r) = &w.reply {
            // The customer wrote: segments filter on it, and it answers the latest campaign
            // message they got (on this channel, or through a wa.me footer to it).
            sqlx::query("UPDATE messaging_users SET last_inbound_at = $2 WHERE id = $1")
                .bind(r.messaging_user_id).bind(r.at.millis()).execute(&mut *$tx).await?;
            let mut answered: Option<uuid::Uuid> = sqlx::query_scalar($crate::campaigns::LATEST_FOR_USER)
                .bind(r.messaging_user_id).bind(r.since.millis()).fetch_optional(&mut *$tx).await?;
            if answered.is_none() && r.whatsapp {
                answered = sqlx::query_scalar($crate::campaigns::LATEST_FOR_WHATSAPP_FOOTER)
                    .bind(&r.address).bind(r.since.millis()).bind(r.channel_id)
                    .fetch_optional(&mut *$tx).await?;
            }
            if let Some(entry_id) = answered {
                sqlx::query($crate::campaigns::MARK_REPLY)
                    .bind(entry_id).bind(r.at.millis())
                    .bind(r.kind == $crate::campaigns::ReplyKind::Help)
                    .bind(r.kind == $crate::campaigns::ReplyKind::OptOut)
                    .execute(&mut *$tx).await?;
            }
        }
        if let Some(cw) = &w.consent {
            sqlx::query("UPDATE messaging_users SET consent_status = $2, updated_at = $3 WHERE id = $1")
                .bind(cw.messaging_user_id).bind(cw.to.as_str()).bind(at).execute(&mut *$tx).await?;
            sqlx::query(
                "INSERT INTO consent_events (id, messaging_user_id, from_status, to_status, source, reason, entry_id, at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
                .bind(parley_core::new_id()).bind(cw.messaging_user_id).bind(cw.from.map(parley_core::model::ConsentStatus::as_str))
                .bind(cw.to.as_str()).bind(cw.source.as_str()).bind(&cw.reason).bind(cw.entry_id).bind(at)
                .execute(&mut *$tx).await?;
        }
        if let Some(u) = &w.user {
            // A person erased after STOP starts opted out again, unless this very message is
            // a consent keyword of theirs (START after erasure opts them back in).
            let keyword = w.consent.as_ref().is_some_and(|c| {
                c.messaging_user_id == u.id && c.source == parley_core::model::ConsentSource::Keyword
            });
            if !keyword {
                $crate::privacy::honour_opt_out_proof!($tx, u.id, &u.platform_key, at);
            }
        }
        if let Some(cs) = &w.case {
            let number: i64 = sqlx::query_scalar($crate::crm::NEXT_CASE_NUMBER)
                .fetch_one(&mut *$tx).await?;
            sqlx::query(
                "INSERT INTO cases (id, number, contact_id, channel_id, subject, status, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, 'new', $6, $6)")
                .bind(cs.id).bind(number).bind(cs.contact_id).bind(cs.channel_id).bind(&cs.subject).bind(at)
                .execute(&mut *$tx).await?;
        }
        for s in &w.sessions {
            sqlx::query($crate::inbound::UPSERT_SESSION)
                .bind(s.id).bind(s.conversation_id).bind(s.channel_id).bind(s.messaging_user_id)
                .bind(s.status.as_str()).bind(s.context.as_str()).bind(s.owner_kind.map(|k| k.as_str()))
                .bind(s.owner_id).bind(s.queue_id).bind(s.case_id).bind(&s.error_reason)
                .bind(s.agent_messages).bind(s.customer_messages).bind(s.started_at.millis())
                .bind(s.accepted_at.map(parley_core::Timestamp::millis)).bind(s.ended_at.map(parley_core::Timestamp::millis))
                .bind(s.last_customer_at.map(parley_core::Timestamp::millis)).bind(s.last_agent_at.map(parley_core::Timestamp::millis))
                .bind(s.initiated_by.as_str()).bind(s.status_since.millis()).bind(s.pending_inquiry)
                .bind(s.session_opt_in).bind(&s.end_reason).bind(s.ended_by.map(|a| a.as_str()))
                .bind(at)
                .execute(&mut *$tx).await?;
        }
        if let Some(web) = &w.web_session {
            $crate::web_visitors::write_web_session!(store, $tx, web, at);
        }
        for e in &w.entries {
            sqlx::query(
                "INSERT INTO entries (id, session_id, direction, actor, actor_id, body, media, \
                 provider_message_id, status, error_code, provider_error, created_at, updated_at, \
                 template, component) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $14)")
                .bind(e.id).bind(e.session_id).bind(e.direction.as_str()).bind(e.actor.as_str())
                .bind(e.actor_id).bind(store.seal_text(&e.body)).bind(sqlx::types::Json::<&Vec<$crate::records::Media>>(&e.media))
                .bind(&e.provider_message_id).bind(e.status.as_str()).bind(&e.error_code)
                .bind(&e.provider_error).bind(e.created_at.millis())
                .bind(e.template.as_ref().map(sqlx::types::Json::<&$crate::records::EntryTemplate>))
                .bind(e.component.as_ref().map(sqlx::types::Json::<&parley_core::component::Component>))
                .execute(&mut *$tx).await?;
            $crate::search::index_entry!($tx, search_key, e.id, e.session_id, e.direction, &e.body, e.created_at.millis());
        }
        $crate::flows::write_runs!(store, $tx, &w.flow_runs);
        for j in &w.jobs {
            sqlx::query($crate::jobs::INSERT_JOB)
                .bind(parley_core::new_id()).bind(&j.queue).bind(&j.kind).bind(store.seal_text(&j.payload))
                .bind(j.priority).bind(j.due_at.millis()).bind(j.max_attempts).bind(&j.dedupe_key)
                .bind(at).bind(&j.group_key)
                .execute(&mut *$tx).await?;
        }
    }};
}
pub(crate) use write_effects;

impl Store {
    /// Commits a batch of inbound outcomes in one transaction, and in the same transaction marks
    /// done the jobs that carried them (`finished`: their ids, all held by `worker`). So a batch's
    /// effects and its jobs' completion land together: a crash before the commit leaves the jobs
    /// to run again with nothing written, a crash after it leaves nothing to run again. If the
    /// worker no longer holds every one of those jobs (its lease ran out and another worker took
    /// them), nothing is written and the result is a `Conflict`.
    pub async fn commit_inbound(
        &self,
        batch: &[InboundWrite],
        finished: &[Uuid],
        worker: &str,
        now: Timestamp,
    ) -> Result<()> {
        if batch.is_empty() && finished.is_empty() {
            return Ok(());
        }
        let at = now.millis();
        // Inbound messages per sender and UTC day, for the long-code ratio: one upsert per
        // sender in the batch.
        let mut inbound: std::collections::HashMap<(Uuid, i64), i64> =
            std::collections::HashMap::new();
        for w in batch {
            for e in w
                .entries
                .iter()
                .filter(|e| e.direction == Direction::Inbound)
            {
                if let Some(s) = w.sessions.iter().find(|s| s.id == e.session_id) {
                    let day = parley_core::sender_limits::day_of(e.created_at);
                    *inbound.entry((s.channel_id, day)).or_default() += 1;
                }
            }
        }
        let search_key = self.search_key().await?;
        on_backend!(self, write c => {
            let mut tx = c.begin().await?;
            for chunk in finished.chunks(256) {
                let sql = format!(
                    "UPDATE jobs SET state = 'done', lease_until = NULL, updated_at = $1 \
                     WHERE leased_by = $2 AND state = 'running' AND id IN ({})",
                    crate::config::placeholders(3, chunk.len())
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(at).bind(worker);
                for id in chunk {
                    q = q.bind(id);
                }
                let done = q.execute(&mut *tx).await?.rows_affected();
                if done != chunk.len() as u64 {
                    return Err(crate::StoreError::Conflict(format!(
                        "{} of {} jobs are no longer held by {worker}",
                        chunk.len() as u64 - done,
                        chunk.len()
                    )));
                }
            }
            for w in batch {
                write_effects!(self, tx, w, at, &search_key);
            }
            for ((channel, day), n) in &inbound {
                sqlx::query(crate::sender_limits::ADD_INBOUND)
                    .bind(channel).bind(day).bind(n)
                    .execute(&mut *tx).await?;
            }
            tx.commit().await
        })?;
        self.index_new_people(batch, now).await
    }

    /// The search rows of the people an inbound batch created or linked (after its commit: a
    /// failure here leaves them to `parley search reindex`, never the message unsaved).
    pub(crate) async fn index_new_people(
        &self,
        batch: &[InboundWrite],
        now: Timestamp,
    ) -> Result<()> {
        let people: Vec<Uuid> = batch
            .iter()
            .flat_map(|w| {
                w.user
                    .as_ref()
                    .map(|u| u.id)
                    .into_iter()
                    .chain(w.link.map(|l| l.messaging_user_id))
            })
            .collect();
        self.write_people_terms(&people, now).await
    }
}

/// Writes a whole session row, inserting it or replacing the row with its id.
pub(crate) const UPSERT_SESSION: &str = "INSERT INTO sessions (id, conversation_id, channel_id, messaging_user_id, \
    status, context, owner_kind, owner_id, queue_id, case_id, error_reason, agent_messages, \
    customer_messages, started_at, accepted_at, ended_at, last_customer_at, last_agent_at, initiated_by, \
    status_since, pending_inquiry, session_opt_in, end_reason, ended_by, updated_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, \
    $21, $22, $23, $24, $25) \
    ON CONFLICT (id) DO UPDATE SET status = excluded.status, context = excluded.context, \
    owner_kind = excluded.owner_kind, owner_id = excluded.owner_id, queue_id = excluded.queue_id, \
    case_id = excluded.case_id, error_reason = excluded.error_reason, \
    agent_messages = excluded.agent_messages, customer_messages = excluded.customer_messages, \
    accepted_at = excluded.accepted_at, ended_at = excluded.ended_at, \
    last_customer_at = excluded.last_customer_at, last_agent_at = excluded.last_agent_at, \
    status_since = excluded.status_since, pending_inquiry = excluded.pending_inquiry, \
    session_opt_in = excluded.session_opt_in, end_reason = excluded.end_reason, \
    ended_by = excluded.ended_by, updated_at = excluded.updated_at";

impl Store {
    /// Writes whole session rows (timers, agent actions), inserting or replacing by id.
    pub async fn save_sessions(&self, sessions: &[Session], now: Timestamp) -> Result<()> {
        let batch = [InboundWrite {
            sessions: sessions.to_vec(),
            ..InboundWrite::default()
        }];
        self.commit_inbound(&batch, &[], "", now).await
    }

    /// Every channel at one address: the programs sharing a shared short code.
    pub async fn channels_at_address(
        &self,
        kind: parley_core::model::ChannelKind,
        address: &str,
    ) -> Result<Vec<crate::Channel>> {
        let rows = on_backend!(self, read c => sqlx::query_as::<_, crate::Channel>(
            "SELECT * FROM channels WHERE kind = $1 AND address = $2 ORDER BY id")
            .bind(kind.as_str()).bind(address).fetch_all(c).await)?;
        self.open_channels(rows)
    }

    pub async fn entry(&self, id: Uuid) -> Result<Entry> {
        let entry = on_backend!(self, read c => sqlx::query_as::<_, Entry>("SELECT * FROM entries WHERE id = $1")
            .bind(id).fetch_optional(c).await)?
        .ok_or(crate::StoreError::NotFound { entity: "entry" })?;
        self.open_entry(entry)
    }

    /// Records that a provider took an entry: its status and the provider's id for it.
    pub async fn mark_entry_dispatched(
        &self,
        id: Uuid,
        status: parley_core::model::EntryStatus,
        provider_message_id: &str,
        now: Timestamp,
    ) -> Result<()> {
        on_backend!(self, write c => sqlx::query(
            "UPDATE entries SET status = $2, provider_message_id = $3, updated_at = $4 WHERE id = $1")
            .bind(id).bind(status.as_str()).bind(provider_message_id).bind(now.millis())
            .execute(c).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Entries with this provider id on a channel, for status callbacks.
    pub async fn entry_by_provider_id(
        &self,
        channel_id: Uuid,
        provider_message_id: &str,
    ) -> Result<Option<Entry>> {
        let entry = on_backend!(self, read c => sqlx::query_as::<_, Entry>(
            "SELECT e.* FROM entries e JOIN sessions s ON s.id = e.session_id \
             WHERE e.provider_message_id = $1 AND s.channel_id = $2 ORDER BY e.id LIMIT 1")
            .bind(provider_message_id).bind(channel_id).fetch_optional(c).await)?;
        entry.map(|e| self.open_entry(e)).transpose()
    }
    /// The conversation id of the user's latest session, if it ever had one and nobody closed it
    /// (SE-20: after a close, the next session starts a new conversation).
    pub async fn conversation_of(&self, messaging_user_id: Uuid) -> Result<Option<Uuid>> {
        let latest: Option<(Uuid, bool)> = on_backend!(self, read c => sqlx::query_as(
            "SELECT s.conversation_id, x.conversation_id IS NOT NULL FROM sessions s \
             LEFT JOIN conversation_closures x ON x.conversation_id = s.conversation_id \
             WHERE s.messaging_user_id = $1 ORDER BY s.id DESC LIMIT 1")
            .bind(messaging_user_id).fetch_optional(c).await)?;
        Ok(latest.and_then(|(id, closed)| (!closed).then_some(id)))
    }

    /// Every open session of a messaging user (normally one; opt-out ends them all).
    pub async fn open_sessions(&self, messaging_user_id: Uuid) -> Result<Vec<Session>> {
        Ok(on_backend!(self, read c => sqlx::query_as::<_, Session>(
            "SELECT * FROM sessions WHERE messaging_user_id = $1 AND status NOT IN ('ended', 'error') ORDER BY id")
            .bind(messaging_user_id).fetch_all(c).await)?)
    }
}

/// Batched reads for the inbound pipeline: everything a batch of messages needs to know about its
/// customers, in a few queries instead of a few per message.
impl Store {
    /// The open sessions of these messaging users, and the conversation of each of their
    /// sessions, oldest session first (so the last one of a user is their latest conversation).
    pub async fn sessions_of_users(
        &self,
        user_ids: &[Uuid],
    ) -> Result<(Vec<Session>, Vec<UserConversation>)> {
        let mut open = Vec::new();
        let mut conversations = Vec::new();
        for chunk in user_ids.chunks(500) {
            let marks = crate::config::placeholders(1, chunk.len());
            let open_sql = format!(
                "SELECT * FROM sessions WHERE status NOT IN ('ended', 'error') AND messaging_user_id IN ({marks})"
            );
            let conv_sql = format!(
                "SELECT s.messaging_user_id, s.conversation_id, x.conversation_id IS NOT NULL FROM sessions s \
                 LEFT JOIN conversation_closures x ON x.conversation_id = s.conversation_id \
                 WHERE s.messaging_user_id IN ({marks}) ORDER BY s.id"
            );
            let rows: Vec<Session> = on_backend!(self, read c => {
                let mut q = sqlx::query_as::<_, Session>(sqlx::AssertSqlSafe(open_sql.as_str()));
                for id in chunk { q = q.bind(id); }
                q.fetch_all(c).await
            })?;
            open.extend(rows);
            let rows: Vec<(Uuid, Uuid, bool)> = on_backend!(self, read c => {
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(conv_sql.as_str()));
                for id in chunk { q = q.bind(id); }
                q.fetch_all(c).await
            })?;
            conversations.extend(rows.into_iter().map(
                |(messaging_user_id, conversation_id, closed)| UserConversation {
                    messaging_user_id,
                    conversation_id,
                    closed,
                },
            ));
        }
        Ok((open, conversations))
    }

    /// Contacts with any of these phone numbers, oldest first.
    pub async fn contacts_by_phones(&self, phones: &[String]) -> Result<Vec<crate::Contact>> {
        let mut out = Vec::new();
        for chunk in phones.chunks(250) {
            // Each number in every form it may be stored in (see `lookup_forms`).
            let forms: Vec<String> = chunk.iter().flat_map(|p| self.lookup_forms(p)).collect();
            let sql = format!(
                "SELECT * FROM contacts WHERE phone IN ({}) ORDER BY id",
                crate::config::placeholders(1, forms.len())
            );
            let rows: Vec<crate::Contact> = on_backend!(self, read c => {
                let mut q = sqlx::query_as::<_, crate::Contact>(sqlx::AssertSqlSafe(sql.as_str()));
                for p in &forms { q = q.bind(p); }
                q.fetch_all(c).await
            })?;
            for row in rows {
                out.push(self.open_contact(row)?);
            }
        }
        Ok(out)
    }
}
