//! Message templates of a channel (TM-02, TM-12). A template that stops being approved, changes
//! its text, or is deleted fails the messages still queued with it (error 3001), so none goes out
//! with a template Meta would refuse; each failed message's session hears of it.

use parley_core::model::{ChannelKind, TemplateCategory, TemplateStatus};
use parley_core::template::placeholder_count;
use parley_core::{ErrorCode, Timestamp};
use parley_store::{Channel, Store, Template, TemplateSpec};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::ApplyReport;
use super::ServiceError;
use crate::events::{DomainEvent, EventBus};

/// The longest template text Meta approves for a body, in characters.
pub const MAX_WHATSAPP_BODY: usize = 1024;

/// A template as created or replaced through the API (a workspace file writes the same fields
/// under its channel, with `status` defaulting to approved).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateInput {
    /// Lowercase letters, digits and `_` (`order_update`), as Meta names templates.
    pub name: String,
    /// `en`, `en_US`, `pt_BR`.
    pub language: String,
    #[serde(default = "utility")]
    #[schema(schema_with = super::schema::template_category)]
    pub category: TemplateCategory,
    /// Set by an admin after Meta's review; only `approved` templates are sent.
    #[schema(schema_with = super::schema::template_status)]
    pub status: TemplateStatus,
    /// The text exactly as approved, with `{{1}}`, `{{2}}`... placeholders.
    pub body: String,
    /// Meta's component definitions (header, footer, buttons), kept as given.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub components: Option<Value>,
    /// The field that fills each placeholder when a notification gives no parameters
    /// (`{"1": "contact.first_name", "2": "case.number"}`): every placeholder, or none.
    #[serde(default)]
    pub merge_fields: Option<std::collections::BTreeMap<String, String>>,
}

/// The declared merge fields as stored (in placeholder order), checked against the body.
pub fn merge_fields_of(input: &TemplateInput) -> Result<Option<Vec<String>>, ServiceError> {
    let Some(map) = &input.merge_fields else {
        return Ok(None);
    };
    if map.is_empty() {
        return Ok(None);
    }
    let count = placeholder_count(&input.body).map_err(|e| invalid(format!("body: {e}")))?;
    parley_core::notify_fields::declared(map, count)
        .map(Some)
        .map_err(invalid)
}

/// The stored merge fields as the API shows them: placeholder number to field.
pub fn merge_fields_view(t: &Template) -> Option<std::collections::BTreeMap<String, String>> {
    let list: Vec<String> = serde_json::from_str(t.merge_fields.as_deref()?).ok()?;
    Some(
        list.into_iter()
            .enumerate()
            .map(|(i, f)| ((i + 1).to_string(), f))
            .collect(),
    )
}

async fn write_merge_fields(
    store: &Store,
    template: Template,
    fields: Option<Vec<String>>,
) -> Result<Template, ServiceError> {
    store
        .set_template_merge_fields(template.id, fields.as_deref())
        .await?;
    Ok(store.template_by_id(template.id).await?)
}

fn utility() -> TemplateCategory {
    TemplateCategory::Utility
}

fn invalid(m: impl Into<String>) -> ServiceError {
    ServiceError::Invalid(m.into())
}

/// Checks a template against the rules of its channel and turns it into the store's spec.
pub fn spec_of(channel: &Channel, input: &TemplateInput) -> Result<TemplateSpec, ServiceError> {
    let name = input.name.trim();
    let name_ok = !name.is_empty()
        && name.len() <= 512
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !name_ok {
        return Err(invalid(
            "name: lowercase letters, digits and '_', 1 to 512 characters",
        ));
    }
    let language = input.language.trim();
    let lang_ok = (2..=15).contains(&language.len())
        && language
            .bytes()
            .all(|b| b.is_ascii_alphabetic() || b == b'_');
    if !lang_ok {
        return Err(invalid("language: a code like en or en_US"));
    }
    if input.body.trim().is_empty() {
        return Err(invalid("body: a template needs its text"));
    }
    placeholder_count(&input.body).map_err(|e| invalid(format!("body: {e}")))?;
    let chars = input.body.chars().count();
    if channel.kind == ChannelKind::Whatsapp && chars > MAX_WHATSAPP_BODY {
        return Err(invalid(format!(
            "body: {chars} characters; WhatsApp approves at most {MAX_WHATSAPP_BODY}"
        )));
    }
    if let Err(e) = parley_core::sms::check_length(channel.kind, &input.body) {
        return Err(invalid(format!("body: {e}")));
    }
    let components = input.components.clone().unwrap_or(Value::Array(Vec::new()));
    if !components.is_array() {
        return Err(invalid("components: a list"));
    }
    Ok(TemplateSpec {
        channel_id: channel.id,
        name: name.to_owned(),
        language: language.to_owned(),
        category: input.category,
        status: input.status,
        body: input.body.clone(),
        components,
    })
}

/// Fails the queued messages of a template that can no longer be sent.
async fn fail_queued(
    store: &Store,
    events: &EventBus,
    template: &Template,
    why: &str,
    now: Timestamp,
) {
    let reason = format!(
        "not sent: template '{}' ({}) {why} before the message went out",
        template.name, template.language
    );
    match store
        .fail_queued_template_sends(template.id, ErrorCode::ContentRejected.code(), &reason, now)
        .await
    {
        Ok(ids) => {
            for entry_id in ids {
                if let Ok(e) = store.entry(entry_id).await {
                    events.publish(DomainEvent::MessageStatusChanged {
                        session_id: e.session_id,
                        entry_id,
                    });
                }
            }
        }
        // The dispatcher still sends them; say so loudly rather than fail the admin's change.
        Err(e) => tracing::error!(error = %e, template = %template.id,
            "queued messages of a withdrawn template could not be failed"),
    }
}

pub async fn create(
    store: &Store,
    channel_id: Uuid,
    input: &TemplateInput,
    now: Timestamp,
) -> Result<Template, ServiceError> {
    let channel = store.channel(channel_id).await?;
    let spec = spec_of(&channel, input)?;
    let fields = merge_fields_of(input)?;
    super::sender_limits::check_template_cap(store, &channel).await?;
    let created = store.create_template(&spec, now).await?;
    write_merge_fields(store, created, fields).await
}

/// Replaces a template; queued messages of the old one fail when it stops being approved or its
/// text, name or language change.
pub async fn update(
    store: &Store,
    events: &EventBus,
    id: Uuid,
    input: &TemplateInput,
    now: Timestamp,
) -> Result<Template, ServiceError> {
    let current = store.template_by_id(id).await?;
    let channel = store.channel(current.channel_id).await?;
    let spec = spec_of(&channel, input)?;
    let fields = merge_fields_of(input)?;
    let updated = store.update_template(id, &spec, now).await?;
    settle_queued(store, events, &current, &updated, now).await;
    write_merge_fields(store, updated, fields).await
}

async fn settle_queued(
    store: &Store,
    events: &EventBus,
    current: &Template,
    updated: &Template,
    now: Timestamp,
) {
    if updated.status != TemplateStatus::Approved {
        let why = format!("became {}", updated.status);
        fail_queued(store, events, updated, &why, now).await;
    } else if updated.body != current.body
        || updated.name != current.name
        || updated.language != current.language
    {
        // Queued messages were rendered from the old text under the old name.
        fail_queued(store, events, current, "changed", now).await;
    }
}

pub async fn delete(
    store: &Store,
    events: &EventBus,
    id: Uuid,
    now: Timestamp,
) -> Result<(), ServiceError> {
    let current = store.template_by_id(id).await?;
    // TM-05: a template a broadcast has used stays, so the broadcast's history keeps its words.
    let used = store.campaigns().await?.into_iter().find(|c| {
        c.spec.kind == parley_core::campaign::CampaignKind::Broadcast
            && c.state != parley_core::campaign::CampaignState::Draft
            && c.spec.senders.contains(&current.channel_id)
            && c.spec
                .content
                .template
                .as_ref()
                .is_some_and(|t| t.name == current.name && t.language == current.language)
    });
    if let Some(c) = used {
        return Err(ServiceError::Invalid(format!(
            "template '{}' ({}) was used by the broadcast '{}' and cannot be deleted",
            current.name, current.language, c.spec.name
        )));
    }
    store.delete_template(id).await?;
    fail_queued(store, events, &current, "was deleted", now).await;
    Ok(())
}

/// `parley apply`: the template of this name and language on `channel` made as the file says,
/// among the channel's `existing` templates.
pub async fn put(
    store: &Store,
    events: &EventBus,
    channel: &Channel,
    existing: &[Template],
    input: &TemplateInput,
    now: Timestamp,
    report: &mut ApplyReport,
) -> Result<(), ServiceError> {
    let spec = spec_of(channel, input)?;
    let fields = merge_fields_of(input)?;
    let label = format!("template {}/{}/{}", channel.name, spec.name, spec.language);
    match existing
        .iter()
        .find(|e| e.name == spec.name && e.language == spec.language)
    {
        None => {
            super::sender_limits::check_template_cap(store, channel).await?;
            report.created.push(label);
            let created = store.create_template(&spec, now).await?;
            write_merge_fields(store, created, fields).await?;
        }
        Some(e)
            if e.category == spec.category
                && e.status == spec.status
                && e.body == spec.body
                && e.components == spec.components
                && merge_fields_view(e) == input.merge_fields.clone().filter(|m| !m.is_empty()) =>
        {
            report.unchanged += 1;
        }
        Some(e) => {
            report.updated.push(label);
            let updated = store.update_template(e.id, &spec, now).await?;
            settle_queued(store, events, e, &updated, now).await;
            write_merge_fields(store, updated, fields).await?;
        }
    }
    Ok(())
}
