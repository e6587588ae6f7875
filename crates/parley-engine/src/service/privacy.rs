//! Access, restriction and erasure requests (issue 16, PRIV-02, PRIV-04..06, PRIV-09, SE-11):
//! one function per request, shared by the API, the console and `parley privacy ...`. Each records
//! itself in the audit log with ids and counts, never the person's data.

use base64::Engine as _;
use parley_core::audit::{AuditActor, AuditEntry};
use parley_core::privacy::erasure::{
    ErasureReport, ErasureStatus, Subject, SubjectError, may_delete_session,
};
use parley_store::privacy::{ErasureRequest, HeldCounts};
use parley_store::{Contact, Job, MessagingUser, Store, StoreError};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use std::collections::HashMap;
use std::sync::Arc;

use parley_core::Clock;

use super::ServiceError;
use crate::agents::AgentDesk;
use crate::media::MediaStore;
use crate::runner::JobOutcome;

/// What the privacy requests work with (the engine hands it out: `Engine::privacy`).
#[derive(Clone)]
pub struct Privacy {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub media: MediaStore,
    pub desk: AgentDesk,
}

/// The text an erasure closes open conversations with (in each transcript until it is erased).
const CLOSE_REASON: &str = "Closed for a data erasure request";

impl From<SubjectError> for ServiceError {
    fn from(e: SubjectError) -> Self {
        Self::Invalid(e.to_string())
    }
}

/// One messaging user as a lookup shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HeldUser {
    pub id: Uuid,
    pub channel_id: Uuid,
    pub channel_name: String,
    pub platform_key: String,
    pub name: String,
    pub consent_status: Option<String>,
    /// When processing was restricted (PRIV-02); `null`: not restricted.
    pub restricted_at: Option<i64>,
    pub contact_id: Option<Uuid>,
    #[schema(value_type = Object)]
    pub counts: HeldCountsView,
}

/// Rows held for one messaging user, by kind.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct HeldCountsView {
    pub sessions: i64,
    pub entries: i64,
    pub media: i64,
    pub consent_events: i64,
    pub campaign_messages: i64,
    pub flow_runs: i64,
    pub web_visitors: i64,
}

impl From<HeldCounts> for HeldCountsView {
    fn from(c: HeldCounts) -> Self {
        Self {
            sessions: c.sessions,
            entries: c.entries,
            media: c.media,
            consent_events: c.consent_events,
            campaign_messages: c.campaign_messages,
            flow_runs: c.flow_runs,
            web_visitors: c.web_visitors,
        }
    }
}

/// One contact as a lookup shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HeldContact {
    pub id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub cases: usize,
}

/// What is held about a subject.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SubjectSummary {
    pub subject_kind: String,
    pub subject: String,
    pub messaging_users: Vec<HeldUser>,
    pub contacts: Vec<HeldContact>,
    /// Whether an erasure kept an opt-out proof of this number (phone subjects only).
    pub opt_out_proof: bool,
}

async fn reach(
    store: &Store,
    subject: &Subject,
) -> Result<(Vec<MessagingUser>, Vec<Contact>), ServiceError> {
    let (users, contacts) = store.subject_reach(subject).await?;
    if let Subject::MessagingUser(_) | Subject::Contact(_) = subject
        && users.is_empty()
        && contacts.is_empty()
    {
        let entity = match subject {
            Subject::Contact(_) => "contact",
            _ => "messaging user",
        };
        return Err(StoreError::NotFound { entity }.into());
    }
    Ok((users, contacts))
}

/// What is held about a subject (the console's and the API's lookup). Recorded in the audit log
/// as a `privacy_lookup`.
pub async fn lookup(
    store: &Store,
    subject: &Subject,
    actor: AuditActor,
) -> Result<SubjectSummary, ServiceError> {
    let (users, contacts) = reach(store, subject).await?;
    let mut held_users = Vec::with_capacity(users.len());
    for u in &users {
        let channel_name = store
            .channel(u.channel_id)
            .await
            .map(|c| c.name)
            .unwrap_or_default();
        held_users.push(HeldUser {
            id: u.id,
            channel_id: u.channel_id,
            channel_name,
            platform_key: u.platform_key.clone(),
            name: u.name.clone(),
            consent_status: u.consent_status.map(|s| s.as_str().to_owned()),
            restricted_at: u.restricted_at.map(|t| t.millis()),
            contact_id: u.contact_id,
            counts: store.held_counts(u.id).await?.into(),
        });
    }
    let mut held_contacts = Vec::with_capacity(contacts.len());
    for c in &contacts {
        held_contacts.push(HeldContact {
            id: c.id,
            first_name: c.first_name.clone(),
            last_name: c.last_name.clone(),
            phone: c.phone.clone(),
            email: c.email.clone(),
            cases: store.cases_of_contact(c.id).await?.len(),
        });
    }
    let opt_out_proof = match subject {
        Subject::Phone(p) => store.has_opt_out_proof(p.as_str()).await?,
        _ => false,
    };
    audit(
        store,
        actor,
        "privacy_lookup",
        subject,
        json!({
            "messaging_users": held_users.len(),
            "contacts": held_contacts.len(),
        }),
    )
    .await?;
    Ok(SubjectSummary {
        subject_kind: subject.kind().to_owned(),
        subject: subject.value(),
        messaging_users: held_users,
        contacts: held_contacts,
        opt_out_proof,
    })
}

/// The audit resource of a subject: its id when it is a record, never a number or an address.
fn resource(subject: &Subject) -> (String, Option<String>) {
    match subject {
        Subject::MessagingUser(id) => ("messaging_user".into(), Some(id.to_string())),
        Subject::Contact(id) => ("contact".into(), Some(id.to_string())),
        Subject::Phone(_) | Subject::Email(_) => ("privacy_subject".into(), None),
    }
}

async fn audit(
    store: &Store,
    actor: AuditActor,
    action: &str,
    subject: &Subject,
    mut detail: Value,
) -> Result<(), StoreError> {
    let (resource_kind, resource_id) = resource(subject);
    if let Value::Object(m) = &mut detail {
        m.insert("subject_kind".into(), subject.kind().into());
    }
    crate::audit::record(
        store,
        AuditEntry {
            actor,
            action: action.to_owned(),
            resource_kind,
            resource_id,
            detail,
        },
    )
    .await
}

/// Restricts (`on`) or lifts the processing of every messaging user of a subject; returns how
/// many changed. Their data stays; nothing is sent to them and no flow runs for them meanwhile.
pub async fn restrict(
    engine: &Privacy,
    subject: &Subject,
    on: bool,
    actor: AuditActor,
) -> Result<u64, ServiceError> {
    let (users, _) = reach(&engine.store, subject).await?;
    let now = engine.clock.now();
    let ids: Vec<Uuid> = users.iter().map(|u| u.id).collect();
    let changed = engine
        .store
        .set_restricted(&ids, on.then_some(now), now)
        .await?;
    audit(
        &engine.store,
        actor,
        if on {
            "processing_restricted"
        } else {
            "processing_restriction_lifted"
        },
        subject,
        json!({ "messaging_users": ids, "changed": changed }),
    )
    .await?;
    Ok(changed)
}

/// Everything held about a subject as one JSON document (PRIV-09): contacts with their cases,
/// messaging users with their consent history, sessions with their entries (media embedded in
/// base64 with their content type), flow runs, web chat data, and campaign messages with link
/// clicks.
pub async fn export(
    engine: &Privacy,
    subject: &Subject,
    actor: AuditActor,
) -> Result<Value, ServiceError> {
    let store = &engine.store;
    let (users, contacts) = reach(store, subject).await?;
    let mut contacts_out = Vec::new();
    for c in &contacts {
        let cases = store.cases_of_contact(c.id).await?;
        contacts_out.push(json!({
            "id": c.id,
            "first_name": c.first_name,
            "last_name": c.last_name,
            "phone": c.phone,
            "email": c.email,
            "created_at": c.created_at.millis(),
            "updated_at": c.updated_at.millis(),
            "cases": cases,
            "tags": store.tags_of(parley_store::Tagged::Contact(c.id)).await?,
        }));
    }
    let (mut entries_n, mut media_n) = (0_u64, 0_u64);
    let mut users_out = Vec::new();
    for u in &users {
        let channel = store.channel(u.channel_id).await?;
        let mut sessions_out = Vec::new();
        for s in store.sessions_of_user(u.id).await? {
            // The session's files once: each under its entry, and an agent's uploads never sent
            // (they are about the person too, and an erasure takes them) under the session.
            let mut files_of: HashMap<Option<Uuid>, Vec<Value>> = HashMap::new();
            for m in store.media_of_session(s.id).await? {
                media_n += 1;
                let data = match engine.media.open(m.id).await {
                    Ok((_, bytes)) => Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
                    Err(_) => None,
                };
                files_of.entry(m.entry_id).or_default().push(json!({
                    "id": m.id,
                    "content_type": m.content_type,
                    "size": m.size,
                    "sha256": m.sha256,
                    "data_base64": data,
                }));
            }
            let mut entries_out = Vec::new();
            for e in store.entries_of_session(s.id).await? {
                entries_n += 1;
                let files = files_of.remove(&Some(e.id)).unwrap_or_default();
                entries_out.push(json!({
                    "id": e.id,
                    "direction": e.direction.as_str(),
                    "actor": e.actor.as_str(),
                    "body": e.body,
                    "status": e.status.as_str(),
                    "error_code": e.error_code,
                    "created_at": e.created_at.millis(),
                    "media": e.media,
                    "files": files,
                }));
            }
            let flow_runs = store.flow_runs_of_session(s.id).await?;
            // The agents' internal notes and whispers about the person, and the session's tags.
            let notes: Vec<Value> = store
                .notes_of_session(s.id, i64::from(u32::MAX))
                .await?
                .into_iter()
                .map(|n| {
                    json!({
                        "id": n.id,
                        "author_id": n.author_id,
                        "body": n.body,
                        "whisper_to": n.whisper_to,
                        "created_at": n.created_at.millis(),
                    })
                })
                .collect();
            let tags = store.tags_of(parley_store::Tagged::Session(s.id)).await?;
            let web = store.web_session_data(s.id).await?;
            sessions_out.push(json!({
                "id": s.id,
                "conversation_id": s.conversation_id,
                "status": s.status.as_str(),
                "context": s.context.as_str(),
                "started_at": s.started_at.millis(),
                "ended_at": s.ended_at.map(|t| t.millis()),
                "end_reason": s.end_reason,
                "case_id": s.case_id,
                "entries": entries_out,
                "unsent_files": files_of.remove(&None).unwrap_or_default(),
                "flow_runs": flow_runs,
                "notes": notes,
                "tags": tags,
                "web_chat": web,
            }));
        }
        users_out.push(json!({
            "id": u.id,
            "channel": { "id": channel.id, "name": channel.name, "kind": channel.kind.as_str() },
            "platform_key": u.platform_key,
            "name": u.name,
            "locale": u.locale,
            "consent_status": u.consent_status.map(|c| c.as_str()),
            "restricted_at": u.restricted_at.map(|t| t.millis()),
            "contact_id": u.contact_id,
            "created_at": u.created_at.millis(),
            "consent_history": store.consent_history(u.id).await?,
            "sessions": sessions_out,
            "campaign_messages": store.campaign_messages_of_user(u.id).await?,
        }));
    }
    audit(
        store,
        actor,
        "privacy_export",
        subject,
        json!({
            "messaging_users": users.len(),
            "contacts": contacts.len(),
            "entries": entries_n,
            "media_files": media_n,
        }),
    )
    .await?;
    Ok(json!({
        "format": "parley.privacy-export.v1",
        "exported_at": engine.clock.now().millis(),
        "subject": { "kind": subject.kind(), "value": subject.value() },
        "contacts": contacts_out,
        "messaging_users": users_out,
    }))
}

/// Starts an erasure: records the request and queues its job. `confirm` must be true (the API's
/// `"confirm": true`, the CLI's `--yes` or its prompt, the console's typed confirmation).
pub async fn start_erasure(
    engine: &Privacy,
    subject: &Subject,
    confirm: bool,
    actor: AuditActor,
) -> Result<ErasureRequest, ServiceError> {
    if !confirm {
        return Err(ServiceError::Invalid(
            "confirm: must be true; an erasure cannot be undone".into(),
        ));
    }
    let (users, contacts) = reach(&engine.store, subject).await?;
    let now = engine.clock.now();
    let id = engine.store.new_erasure_id();
    let requested_by = serde_json::to_string(&actor).unwrap_or_default();
    let request = engine
        .store
        .create_erasure_request(
            subject,
            &requested_by,
            &crate::jobs::erasure_job(id, now),
            now,
        )
        .await?;
    audit(
        &engine.store,
        actor,
        "privacy_erasure_requested",
        subject,
        json!({
            "erasure_id": id,
            "messaging_users": users.len(),
            "contacts": contacts.len(),
        }),
    )
    .await?;
    Ok(request)
}

/// Carries out an erasure request (the job's handler). Every step can run again: a restart
/// mid-way resumes with what is left, and a finished request does nothing.
pub async fn run_erasure(engine: &Privacy, job: &Job) -> JobOutcome {
    let Ok(id) = serde_json::from_str::<Uuid>(&job.payload) else {
        return JobOutcome::Permanent("the payload is not an erasure request id".into());
    };
    match erase(engine, id).await {
        Ok(()) => JobOutcome::Done,
        Err(ServiceError::Invalid(m)) => {
            let now = engine.clock.now();
            let _ = engine
                .store
                .finish_erasure_request(id, ErasureStatus::Failed, Some(&m), now)
                .await;
            JobOutcome::Permanent(m)
        }
        Err(ServiceError::Store(e)) => JobOutcome::Retry(e.to_string()),
    }
}

/// Carries out an erasure request here and now (the CLI, which may run with no server): the
/// same steps as its job, which then finds the request done and does nothing.
pub async fn carry_out(engine: &Privacy, id: Uuid) -> Result<ErasureRequest, ServiceError> {
    erase(engine, id).await?;
    Ok(engine.store.erasure_request(id).await?)
}

async fn erase(engine: &Privacy, id: Uuid) -> Result<(), ServiceError> {
    let store = &engine.store;
    let request = store.erasure_request(id).await?;
    if request.status != ErasureStatus::Running {
        return Ok(());
    }
    let Some(value) = &request.subject else {
        return Err(ServiceError::Invalid("the request has no subject".into()));
    };
    let subject = Subject::parse(&request.subject_kind, value)?;
    let (users, contacts) = store.subject_reach(&subject).await?;
    let now = engine.clock.now();
    // Nothing may go out to them while the work runs (an End reply, a campaign, a flow).
    let ids: Vec<Uuid> = users.iter().map(|u| u.id).collect();
    store.set_restricted(&ids, Some(now), now).await?;
    for user in &users {
        let mut ended = ErasureReport::default();
        if let Some(open) = store.open_session(user.id).await? {
            let closed = super::conversations::close_conversation(
                &engine.desk,
                open.conversation_id,
                CLOSE_REASON,
                super::conversations::ClosedBy {
                    agent_id: None,
                    token_id: None,
                },
            )
            .await;
            match closed {
                Ok(c) => ended.sessions_ended += c.ended_sessions.len() as u64,
                // Closed before (by a first run of this job): its sessions ended then.
                Err(crate::agents::AgentActionError::Conflict(_)) => {}
                Err(e) => return Err(ServiceError::Invalid(format!("ending a session: {e}"))),
            }
        }
        // Files first, while the rows still name them: a restart after this finds the rows and
        // their files already gone, which is fine.
        let media = store.media_of_user(user.id).await?;
        let ids: Vec<Uuid> = media.iter().map(|m| m.id).collect();
        let mut digests: Vec<&str> = media.iter().map(|m| m.sha256.as_str()).collect();
        digests.sort_unstable();
        digests.dedup();
        for sha in digests {
            if store.media_sharing_file(sha, &ids).await? == 0
                && engine
                    .media
                    .remove_file(sha)
                    .await
                    .map_err(|e| ServiceError::Invalid(format!("removing a media file: {e}")))?
            {
                ended.media_files += 1;
            }
        }
        if ended != ErasureReport::default() {
            store.add_to_erasure_report(id, &ended, now).await?;
        }
        store.erase_messaging_user(Some(id), user.id, now).await?;
    }
    for contact in &contacts {
        store.erase_contact(Some(id), contact.id, now).await?;
    }
    if let Subject::Phone(p) = &subject {
        let n = store.delete_audience_members_by_phone(p.as_str()).await?;
        if n > 0 {
            let add = ErasureReport {
                audience_list_members: n,
                ..ErasureReport::default()
            };
            store.add_to_erasure_report(id, &add, now).await?;
        }
    }
    store
        .finish_erasure_request(id, ErasureStatus::Done, None, engine.clock.now())
        .await?;
    store.checkpoint_after_erasure().await?;
    let report = store.erasure_request(id).await?.report;
    audit(
        store,
        AuditActor::System,
        "privacy_erasure_done",
        &subject,
        json!({ "erasure_id": id, "report": report }),
    )
    .await?;
    Ok(())
}

/// An erasure request (its status and report).
pub async fn erasure(store: &Store, id: Uuid) -> Result<ErasureRequest, ServiceError> {
    Ok(store.erasure_request(id).await?)
}

/// What deleting a session removed.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct SessionDeleted {
    pub session_id: Uuid,
    pub entries: usize,
    pub media_files: u64,
}

/// SE-11 / PRIV-06: deletes one Ended or Error session with its entries and their files (AMB-29:
/// the transcript goes with its session). An open session is a conflict: end it first.
pub async fn delete_session(
    engine: &Privacy,
    session_id: Uuid,
    actor: AuditActor,
) -> Result<SessionDeleted, ServiceError> {
    let store = &engine.store;
    let session = store.session(session_id).await?;
    may_delete_session(session.status).map_err(|e| StoreError::Conflict(e.to_string()))?;
    let entries = store.entries_of_session(session_id).await?.len();
    let media = store.media_of_session(session_id).await?;
    let ids: Vec<Uuid> = media.iter().map(|m| m.id).collect();
    if !store.delete_final_session(session_id).await? {
        return Err(
            StoreError::Conflict("the session changed meanwhile; read it again".into()).into(),
        );
    }
    let mut media_files = 0;
    for m in &media {
        if store.media_sharing_file(&m.sha256, &ids).await? == 0
            && engine.media.remove_file(&m.sha256).await.unwrap_or(false)
        {
            media_files += 1;
        }
    }
    crate::audit::record(
        store,
        AuditEntry {
            actor,
            action: "session_deleted".into(),
            resource_kind: "session".into(),
            resource_id: Some(session_id.to_string()),
            detail: json!({ "entries": entries, "media_files": media_files }),
        },
    )
    .await?;
    Ok(SessionDeleted {
        session_id,
        entries,
        media_files,
    })
}
