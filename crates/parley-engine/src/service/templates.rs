//! Message templates of a channel (TM-02, TM-12). A template that stops being approved, changes
//! its text, or is deleted fails the messages still queued with it (error 3001), so none goes out
//! with a template Meta would refuse; each failed message's session hears of it.

use parley_core::model::{ChannelKind, TemplateCategory, TemplateStatus};
use parley_core::template::{
    Problem, ReviewAction, example_problems, next_status, placeholder_count, problems,
};
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
pub const MAX_WHATSAPP_BODY: usize = parley_core::template::MAX_WHATSAPP_BODY;

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
    /// Only `approved` templates are sent. Left out: `draft` for a new template, unchanged on
    /// replace. The review routes (`submit`, `approve`, `reject`) are the usual way to move it.
    #[serde(default)]
    #[schema(schema_with = super::schema::template_status_or_null)]
    pub status: Option<TemplateStatus>,
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
    /// Each placeholder's name and example, in order (`{{1}}` first): agents fill "Order number"
    /// rather than "1", and the review sees sample values. Every placeholder or none; left out
    /// on replace, the stored ones stay.
    #[serde(default)]
    pub variables: Option<Vec<TemplateVariable>>,
}

/// What one placeholder stands for.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateVariable {
    /// Shown to agents as the field's label ("Order number"), 1 to 60 characters.
    pub name: String,
    /// A sample value, shown as the field's placeholder and in previews; up to 200 characters.
    #[serde(default)]
    pub example: String,
}

/// The longest variable name and example.
const MAX_VARIABLE_NAME: usize = 60;
const MAX_VARIABLE_EXAMPLE: usize = 200;

/// The declared variables checked against the body, as stored (`None`: keep what is stored).
fn variables_of(input: &TemplateInput) -> Result<Option<Option<String>>, ServiceError> {
    let Some(list) = &input.variables else {
        return Ok(None);
    };
    if list.is_empty() {
        return Ok(Some(None));
    }
    let count = placeholder_count(&input.body).map_err(|e| invalid(format!("body: {e}")))?;
    if list.len() != count {
        return Err(invalid(format!(
            "variables: the body has {count} placeholders; {} variables were given",
            list.len()
        )));
    }
    let mut clean = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let n = i + 1;
        let name = v.name.trim();
        if name.is_empty() || name.chars().count() > MAX_VARIABLE_NAME {
            return Err(invalid(format!(
                "variables.{n}.name: 1 to {MAX_VARIABLE_NAME} characters"
            )));
        }
        let example = v.example.trim();
        if example.chars().count() > MAX_VARIABLE_EXAMPLE {
            return Err(invalid(format!(
                "variables.{n}.example: at most {MAX_VARIABLE_EXAMPLE} characters"
            )));
        }
        if !example.is_empty()
            && parley_core::template::check_values(&[example.to_owned()]).is_err()
        {
            return Err(invalid(format!(
                "variables.{n}.example: no newline, tab or more than four spaces in a row"
            )));
        }
        clean.push(TemplateVariable {
            name: name.to_owned(),
            example: example.to_owned(),
        });
    }
    Ok(Some(Some(
        serde_json::to_string(&clean).map_err(|e| invalid(e.to_string()))?,
    )))
}

/// The stored variables as the API shows them (empty when none were declared).
pub fn variables_view(t: &Template) -> Vec<TemplateVariable> {
    t.variables
        .as_deref()
        .and_then(|raw| serde_json::from_str(raw).ok())
        .unwrap_or_default()
}

async fn write_variables(
    store: &Store,
    template: Template,
    variables: Option<Option<String>>,
) -> Result<Template, ServiceError> {
    let Some(variables) = variables else {
        return Ok(template);
    };
    store
        .set_template_variables(template.id, variables.as_deref())
        .await?;
    Ok(store.template_by_id(template.id).await?)
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
pub fn spec_of(
    channel: &Channel,
    input: &TemplateInput,
    status: TemplateStatus,
) -> Result<TemplateSpec, ServiceError> {
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
        status: input.status.unwrap_or(status),
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
    let spec = spec_of(&channel, input, TemplateStatus::Draft)?;
    let fields = merge_fields_of(input)?;
    let variables = variables_of(input)?;
    super::sender_limits::check_template_cap(store, &channel).await?;
    let created = store.create_template(&spec, now).await?;
    let created = write_merge_fields(store, created, fields).await?;
    write_variables(store, created, variables).await
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
    let spec = spec_of(&channel, input, current.status)?;
    let fields = merge_fields_of(input)?;
    let mut variables = variables_of(input)?;
    if variables.is_none() && spec.body != current.body {
        // Variables kept from another text would name the wrong placeholders.
        let kept = variables_view(&current);
        if !kept.is_empty() && placeholder_count(&spec.body).ok() != Some(kept.len()) {
            variables = Some(None);
        }
    }
    let updated = store.update_template(id, &spec, now).await?;
    settle_queued(store, events, &current, &updated, now).await;
    let updated = write_merge_fields(store, updated, fields).await?;
    write_variables(store, updated, variables).await
}

/// A template's review step: `Submit` (a draft or a refused template goes to review),
/// `Approve` or `Reject` (with the reviewer's reason). A step the status does not allow is a
/// `Conflict`; a WhatsApp template is submitted only when Meta's rules pass and each variable has
/// an example. Parley has no Meta template-submission call (the Meta adapter sends messages
/// only), so the review is recorded here and an admin approves once Meta has.
pub async fn review(
    store: &Store,
    events: &EventBus,
    id: Uuid,
    action: ReviewAction,
    reason: Option<&str>,
    now: Timestamp,
) -> Result<Template, ServiceError> {
    let current = store.template_by_id(id).await?;
    let to = next_status(current.status, action)
        .map_err(|e| ServiceError::Store(parley_store::StoreError::Conflict(e.to_string())))?;
    let reason = match action {
        ReviewAction::Reject => {
            let r = reason.map(str::trim).unwrap_or_default();
            if r.is_empty() || r.chars().count() > MAX_REJECTION_REASON {
                return Err(invalid(format!(
                    "reason: why it is refused, 1 to {MAX_REJECTION_REASON} characters"
                )));
            }
            Some(r)
        }
        ReviewAction::Submit | ReviewAction::Approve => None,
    };
    if action == ReviewAction::Submit {
        let channel = store.channel(current.channel_id).await?;
        let found = submit_problems(&channel, &current);
        if let Some(p) = found.first() {
            return Err(invalid(problem_text(p)));
        }
    }
    let (submitted, reviewed) = match action {
        ReviewAction::Submit => (Some(now), None),
        ReviewAction::Approve | ReviewAction::Reject => (None, Some(now)),
    };
    let updated = store
        .update_template_review(id, current.status, to, reason, submitted, reviewed, now)
        .await?;
    settle_queued(store, events, &current, &updated, now).await;
    Ok(updated)
}

/// The longest rejection reason, in characters.
pub const MAX_REJECTION_REASON: usize = 500;

/// What keeps `template` from being submitted on `channel`: Meta's body rules and missing
/// examples on WhatsApp; nothing beyond the save-time rules elsewhere.
pub fn submit_problems(channel: &Channel, template: &Template) -> Vec<Problem> {
    check_body(channel.kind, &template.body, &variables_view(template))
}

/// The review rules of a body and its variables on a channel of `kind`, for the editor's live
/// check and for submitting.
pub fn check_body(kind: ChannelKind, body: &str, variables: &[TemplateVariable]) -> Vec<Problem> {
    if kind != ChannelKind::Whatsapp {
        return match placeholder_count(body) {
            Ok(_) if !body.trim().is_empty() => Vec::new(),
            _ => problems(body, None),
        };
    }
    let mut found = problems(body, Some(MAX_WHATSAPP_BODY));
    if let Ok(count) = placeholder_count(body) {
        let examples: Vec<&str> = variables.iter().map(|v| v.example.as_str()).collect();
        found.extend(example_problems(count, &examples));
    }
    found
}

/// A problem in words, for a refusal (the console words it from the catalogue instead).
pub fn problem_text(p: &Problem) -> String {
    let n = p.n;
    match p.rule {
        "empty" => "body: a template needs its text".to_owned(),
        "too_long" => format!("body: WhatsApp approves at most {n} characters"),
        "bad_placeholder" => "body: placeholders are {{1}}, {{2}}...".to_owned(),
        "too_many" => format!("body: at most {n} placeholders"),
        "gap" => format!("body: placeholder {{{{{n}}}}} is skipped"),
        "order" => format!("body: {{{{{n}}}}} comes before a lower number; use them in order"),
        "adjacent" => {
            format!("body: {{{{{n}}}}} is followed by another variable with no text between")
        }
        "starts_with_variable" => {
            "body: WhatsApp refuses a body that starts with a variable".to_owned()
        }
        "ends_with_variable" => {
            "body: WhatsApp refuses a body that ends with a variable".to_owned()
        }
        "missing_example" => {
            format!("variables.{n}.example: Meta reviews each variable with an example")
        }
        other => format!("body: {other}"),
    }
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
    let spec = spec_of(channel, input, TemplateStatus::Approved)?;
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
