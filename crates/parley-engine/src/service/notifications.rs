//! Triggered notifications (issue 13, TM-06..11): one template message to one person, its merge
//! fields filled from a context record, sent through [`crate::outreach`]. Every failure before
//! the message is queued (a field without a value, an excluded recipient, a refused message)
//! writes an entry in the notification error log (TM-08) and is returned to the caller, who
//! answers it; nothing is sent then.
//!
//! Idempotency: the key is scoped to the caller (an API token) and bound to a digest of the
//! request, so a retrying order system never notifies twice and a key reused for another
//! request is refused.

use parley_core::campaign::eligibility::Exclusion;
use parley_core::consent::SendPurpose;
use parley_core::model::{Actor, ChannelKind, TemplateCategory, TemplateStatus};
use parley_core::notify_fields::{self, CaseValues, ContactValues, Context};
use parley_core::{E164, ErrorCode, Timestamp, new_id};
use parley_store::{
    Channel, IdempotencyKey, NotificationErrorWrite, NotificationRecord, SendOrigin, Store,
    StoreError,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::Engine;
use crate::compose::{Author, OutgoingMessage, TemplateSend};
use crate::outreach::{OutreachError, OutreachRequest, Recipient};

/// The template to send, by name and approved language.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateRef {
    pub name: String,
    pub language: String,
}

/// Who receives it: exactly one of the three.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecipientInput {
    /// A phone number with its country code (`+14155550123`).
    pub phone: Option<String>,
    /// A messaging user of the channel.
    pub messaging_user_id: Option<Uuid>,
    /// A contact: their phone number; a messaging user created for it is linked to them.
    pub contact_id: Option<Uuid>,
}

/// The records that fill the template's merge fields.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContextInput {
    pub contact_id: Option<Uuid>,
    pub case_id: Option<Uuid>,
    pub messaging_user_id: Option<Uuid>,
    /// Free JSON, read by `data.<dotted.path>` fields.
    #[schema(value_type = Option<Object>)]
    pub data: Option<Value>,
}

/// A notification request (`POST /api/v1/notifications`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationInput {
    /// The channel's id or name.
    pub channel: String,
    pub template: TemplateRef,
    /// The placeholders' values in order, each a literal or a `{{field}}`; without it the
    /// template's own merge fields are used.
    pub parameters: Option<Vec<String>>,
    pub recipient: RecipientInput,
    #[serde(default)]
    pub context: ContextInput,
    /// `standard` (default; `transactional` is the same) or `broadcast`, which needs the
    /// recipient's explicit opt-in (TM-06, TM-09).
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// Who asks, and their retry key.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Whose keys these are ("token:<id>").
    pub scope: String,
    pub idempotency_key: Option<String>,
}

/// A notification that was queued (or, `replayed`, the earlier one with the same key).
#[derive(Debug, Clone)]
pub struct Notified {
    pub id: Uuid,
    pub channel_id: Uuid,
    pub entry_id: Uuid,
    pub session_id: Uuid,
    pub messaging_user_id: Uuid,
    pub appended: bool,
    pub created_messaging_user: bool,
    pub body: String,
    pub status: String,
    pub replayed: bool,
    /// The template's category (utility, marketing...), as WhatsApp bills it (TM-13).
    pub category: TemplateCategory,
}

/// Why nothing was sent. Each but `KeyReused` and `Store` has an entry in the error log.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("{0}")]
    Invalid(String),
    #[error("merge fields without a value: {}", .0.join(", "))]
    Unresolved(Vec<String>),
    #[error("recipient excluded ({}): {reason}", exclusion.as_str())]
    Excluded {
        exclusion: Exclusion,
        code: ErrorCode,
        reason: String,
    },
    #[error("not sent ({}): {reason}", code.code())]
    Refused { code: ErrorCode, reason: String },
    #[error("the Idempotency-Key was already used for a different request")]
    KeyReused,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl NotifyError {
    fn stage_and_code(&self) -> Option<(&'static str, ErrorCode)> {
        match self {
            Self::Invalid(_) | Self::Unresolved(_) => {
                Some(("validation", ErrorCode::ContentRejected))
            }
            Self::Excluded { code, .. } => Some(("exclusion", *code)),
            Self::Refused { code, .. } => Some(("validation", *code)),
            Self::KeyReused | Self::Store(_) => None,
        }
    }
}

fn invalid(m: impl Into<String>) -> NotifyError {
    NotifyError::Invalid(m.into())
}

/// A lookup the input names: missing is the input's mistake.
fn named<T>(r: Result<T, StoreError>, what: &str) -> Result<T, NotifyError> {
    r.map_err(|e| match e {
        StoreError::NotFound { .. } => invalid(format!("{what} does not exist")),
        other => NotifyError::Store(other),
    })
}

/// The digest a key is bound to: SHA-256 of the request's canonical JSON (keys sorted).
pub fn fingerprint(input: &NotificationInput) -> String {
    let canonical = serde_json::to_value(input)
        .map(|v| v.to_string())
        .unwrap_or_default();
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// Sends one notification at `now`; every failure but a reused key is in the error log.
pub async fn send(
    engine: &Engine,
    caller: &Caller,
    input: &NotificationInput,
    now: Timestamp,
) -> Result<Notified, NotifyError> {
    let store = &engine.store;
    let mut channel_id = None;
    let result = attempt(engine, caller, input, now, &mut channel_id).await;
    if let Err(e) = &result
        && let Some((stage, code)) = e.stage_and_code()
    {
        let log = NotificationErrorWrite {
            channel_id,
            template: format!("{}/{}", input.template.name, input.template.language),
            recipient: recipient_words(&input.recipient),
            inputs: serde_json::to_string(input).unwrap_or_default(),
            stage,
            code: code.code().to_owned(),
            reason: e.to_string(),
            notification_id: None,
            entry_id: None,
            provider_code: None,
        };
        // The caller hears of the failure either way; a log write that fails is only logged.
        if let Err(le) = store.write_notification_error(&log, now).await {
            tracing::warn!(error = %le, "notification error log write failed");
        }
    }
    result
}

fn recipient_words(r: &RecipientInput) -> String {
    if let Some(p) = &r.phone {
        p.clone()
    } else if let Some(id) = r.messaging_user_id {
        format!("messaging_user:{id}")
    } else if let Some(id) = r.contact_id {
        format!("contact:{id}")
    } else {
        String::new()
    }
}

async fn channel_of(store: &Store, name_or_id: &str) -> Result<Channel, NotifyError> {
    if let Ok(id) = name_or_id.trim().parse::<Uuid>() {
        return named(store.channel(id).await, "channel");
    }
    store
        .channel_by_name(name_or_id.trim())
        .await?
        .ok_or_else(|| invalid(format!("channel: {name_or_id} does not exist")))
}

async fn attempt(
    engine: &Engine,
    caller: &Caller,
    input: &NotificationInput,
    now: Timestamp,
    channel_id: &mut Option<Uuid>,
) -> Result<Notified, NotifyError> {
    let store = &engine.store;
    let channel = channel_of(store, &input.channel).await?;
    *channel_id = Some(channel.id);
    // TM-06's Triggered Outbound Type. A broadcast is a message sent because the business
    // chose to, not because the person did something: it needs explicit opt-in (TM-09, BC-02),
    // never the implicit consent a first message on an implicit channel gives.
    let purpose = match input.kind.as_deref().map(str::trim) {
        None | Some("standard") | Some("transactional") => SendPurpose::Notification,
        Some("broadcast") => SendPurpose::Broadcast,
        Some(other) => {
            return Err(invalid(format!(
                "type: {other} is not standard (transactional) or broadcast"
            )));
        }
    };
    let template = store
        .template(channel.id, &input.template.name, &input.template.language)
        .await?
        .ok_or_else(|| {
            invalid(format!(
                "template: {} ({}) is not a template of channel {}",
                input.template.name, input.template.language, channel.name
            ))
        })?;
    if template.status != TemplateStatus::Approved {
        return Err(invalid(format!(
            "template: {} is {}, only approved templates are sent",
            template.name,
            template.status.as_str()
        )));
    }
    // TM-13: WhatsApp notifications are utility or marketing templates; an authentication
    // template carries a one-time code, which is not a notification.
    if channel.kind == ChannelKind::Whatsapp
        && template.category == TemplateCategory::Authentication
    {
        return Err(invalid(format!(
            "template: {} is an authentication template; notifications use utility or marketing templates",
            template.name
        )));
    }

    // The recipient: exactly one form.
    let r = &input.recipient;
    let forms = [
        r.phone.is_some(),
        r.messaging_user_id.is_some(),
        r.contact_id.is_some(),
    ]
    .iter()
    .filter(|x| **x)
    .count();
    if forms != 1 {
        return Err(invalid(
            "recipient: give exactly one of phone, messaging_user_id, contact_id",
        ));
    }
    let mut link_contact = None;
    let (recipient, platform_key) = if let Some(phone) = &r.phone {
        let e = E164::parse(phone).map_err(|e| invalid(format!("recipient.phone: {e}")))?;
        (
            Recipient::Address(e.as_str().to_owned()),
            e.as_str().to_owned(),
        )
    } else if let Some(id) = r.messaging_user_id {
        let user = named(
            store.messaging_user(id).await,
            "recipient.messaging_user_id",
        )?;
        if user.channel_id != channel.id {
            return Err(invalid(
                "recipient.messaging_user_id: a messaging user of another channel",
            ));
        }
        (Recipient::MessagingUser(id), user.platform_key)
    } else {
        let id = r.contact_id.unwrap_or_default();
        let contact = named(store.contact(id).await, "recipient.contact_id")?;
        let phone = contact
            .phone
            .filter(|p| !p.is_empty())
            .ok_or_else(|| invalid("recipient.contact_id: the contact has no phone number"))?;
        link_contact = Some(id);
        (Recipient::Address(phone.clone()), phone)
    };

    // The context records.
    let c = &input.context;
    let contact_id = c.contact_id.or(r.contact_id);
    let contact = match contact_id {
        Some(id) => Some(named(store.contact(id).await, "context.contact_id")?),
        None => None,
    };
    let case = match c.case_id {
        Some(id) => Some(named(store.case(id).await, "context.case_id")?),
        None => None,
    };
    if let Some(id) = c.messaging_user_id {
        named(store.messaging_user(id).await, "context.messaging_user_id")?;
    }
    let ctx = Context {
        contact: contact.map(|k| ContactValues {
            first_name: k.first_name,
            last_name: k.last_name,
            email: k.email.unwrap_or_default(),
            phone: k.phone.unwrap_or_default(),
        }),
        case: case.map(|k| CaseValues {
            number: k.number.map_or_else(|| k.id.to_string(), |n| n.to_string()),
            subject: k.subject,
            status: k.status.as_str().to_owned(),
        }),
        platform_key: Some(platform_key),
        channel_name: Some(channel.name.clone()),
        data: c.data.clone(),
    };
    let merge_fields = store.template_merge_fields(template.id).await?;
    let parameters = notify_fields::values(input.parameters.as_deref(), &merge_fields, &ctx)
        .map_err(|u| NotifyError::Unresolved(u.missing))?;

    let idempotency = caller.idempotency_key.as_ref().map(|key| IdempotencyKey {
        scope: caller.scope.clone(),
        key: key.clone(),
        fingerprint: fingerprint(input),
    });
    let request = OutreachRequest {
        channel_id: channel.id,
        recipient,
        message: OutgoingMessage {
            body: String::new(),
            media: Vec::new(),
            template: Some(TemplateSend {
                name: template.name.clone(),
                language: template.language.clone(),
                parameters,
            }),
            component: None,
        },
        author: Author {
            actor: Actor::System,
            actor_id: None,
        },
        idempotency,
        contact_id: link_contact,
    };
    // The notification's row is written in the send's own transaction: a crash cannot leave a
    // sent message that the error log's provider hook and the API cannot find.
    let notification_id = new_id();
    let origin = SendOrigin::Notification {
        id: notification_id,
        template_name: template.name.clone(),
        template_language: template.language.clone(),
    };
    let reached = engine
        .outreach()
        .send_with(&request, purpose, Some(&origin), now)
        .await
        .map_err(|e| match e {
            OutreachError::Excluded {
                exclusion,
                code,
                reason,
            } => NotifyError::Excluded {
                exclusion,
                code,
                reason,
            },
            OutreachError::Refused { code, reason } => NotifyError::Refused { code, reason },
            OutreachError::Invalid(m) => NotifyError::Invalid(m),
            OutreachError::KeyReused => NotifyError::KeyReused,
            OutreachError::Store(e) => NotifyError::Store(e),
        })?;

    let written = NotificationRecord {
        id: notification_id,
        channel_id: channel.id,
        template_name: template.name.clone(),
        template_language: template.language.clone(),
        recipient: reached.user.platform_key.clone(),
        entry_id: reached.entry.id,
        session_id: reached.session.id,
        messaging_user_id: reached.user.id,
        status: "queued".into(),
        created_at: now,
    };
    let record = if !reached.replayed {
        written
    } else {
        match store.notification_by_entry(reached.entry.id).await? {
            Some(n) => n,
            // A replay of a send made before notifications were written with their message.
            None => store.create_notification(&written).await?,
        }
    };
    Ok(Notified {
        id: record.id,
        channel_id: channel.id,
        entry_id: reached.entry.id,
        session_id: reached.session.id,
        messaging_user_id: reached.user.id,
        appended: reached.appended,
        created_messaging_user: reached.created_user,
        body: reached.entry.body.clone(),
        status: reached.entry.status.as_str().to_owned(),
        replayed: reached.replayed,
        category: template.category,
    })
}

/// Deletes one entry of the error log (an operator dealt with it).
pub async fn delete_error(store: &Store, id: Uuid) -> Result<(), StoreError> {
    store.delete_notification_error(id).await
}

/// How many rows one delete of the sweep removes, so it never holds the writer long.
const SWEEP_BATCH: i64 = 500;

/// The sweep, once: deletes expired idempotency keys, in batches. (The error log's 30 days of
/// TM-08 are the retention worker's built-in policy: `crate::retention`.)
pub async fn sweep(store: &Store, now: Timestamp) -> Result<(), StoreError> {
    while store
        .delete_expired_idempotency_keys(now, SWEEP_BATCH)
        .await?
        >= SWEEP_BATCH as u64
    {}
    Ok(())
}

/// Runs [`sweep`] every hour until `shutdown` turns true.
pub async fn run_sweep(
    store: Store,
    clock: std::sync::Arc<dyn parley_core::Clock>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(e) = sweep(&store, clock.now()).await {
                    tracing::warn!(error = %e, "idempotency key sweep failed");
                }
            }
            _ = shutdown.changed() => {
                if *shutdown.borrow() { return; }
            }
        }
    }
}
