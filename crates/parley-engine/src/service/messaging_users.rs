//! Messaging users as an API resource (MU-03..07): created with their first consent and its
//! source, their consent changed with a reason (recorded in the consent history), and their
//! contact linked or unlinked by the channel's matching rules.

use parley_core::channel::{KeySource, platform_key};
use parley_core::crm::{ContactMatching, MatchDecision};
use parley_core::model::{ChannelKind, ConsentSource, ConsentStatus};
use parley_core::{E164, Timestamp};
use parley_store::{
    ConsentEvent, ConsentOrigin, Contact, ContactSpec, MessagingUser, NewMessagingUser, Store,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::specs::{contact_spec, invalid};
use super::{ServiceError, referenced};
use crate::channel_rules::behaviour_of;
use crate::events::{DomainEvent, EventBus};

/// Longest reason kept in the consent history.
const MAX_REASON_CHARS: usize = 500;

/// A messaging user as the API creates it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessagingUserInput {
    pub channel_id: Uuid,
    /// E.164 on SMS and WhatsApp (stored normalised); the platform's id on Messenger and the web.
    pub platform_key: String,
    #[serde(default)]
    pub name: String,
    /// A language tag such as `en` or `pt-BR`.
    pub locale: Option<String>,
    /// The consent the person gave, if any; its `consent_source` is then required.
    #[schema(schema_with = super::schema::consent_status_or_null)]
    pub consent_status: Option<ConsentStatus>,
    /// Where that consent was collected: `api`, `import`, `web_form`, ...
    #[schema(schema_with = super::schema::consent_source_or_null)]
    pub consent_source: Option<ConsentSource>,
    /// Words for the history ("signed up at the checkout").
    #[serde(default)]
    pub consent_reason: String,
    pub contact_id: Option<Uuid>,
}

/// A consent change as the API takes it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentInput {
    #[schema(schema_with = super::schema::consent_status)]
    pub status: ConsentStatus,
    /// Why it changed; required, kept in the consent history.
    pub reason: String,
    /// Who or what changed it; `api` when absent.
    #[schema(schema_with = super::schema::consent_source_or_null)]
    pub source: Option<ConsentSource>,
}

/// Which contact to link: one by id, or the one the matching rules find.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactLinkInput {
    pub contact_id: Option<Uuid>,
    #[serde(rename = "match")]
    pub matching: Option<MatchInput>,
}

/// Matching rules for one link call; a rule left out is the channel's `contact_linking`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchInput {
    /// Match a contact with the messaging user's phone number (SMS and WhatsApp).
    pub by_phone: Option<bool>,
    /// Match a contact with `email`.
    pub by_email: Option<bool>,
    pub email: Option<String>,
    /// Create a contact (with these names, the user's number and `email`) when none matches.
    pub create_when_missing: Option<bool>,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
}

/// How a link call found its contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LinkedBy {
    Id,
    Phone,
    Email,
    Created,
}

/// The outcome of a link call: the user, and its contact when one was linked.
#[derive(Debug, Clone)]
pub struct Linked {
    pub user: MessagingUser,
    pub contact: Option<Contact>,
    /// `None`: nothing matched and the rules did not allow creating a contact.
    pub by: Option<LinkedBy>,
}

fn check_locale(locale: &str) -> Result<String, ServiceError> {
    let l = locale.trim();
    let ok = !l.is_empty()
        && l.len() <= 35
        && l.split(['-', '_'])
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric()));
    if ok {
        Ok(l.to_owned())
    } else {
        Err(invalid("locale: give a language tag such as en or pt-BR"))
    }
}

fn check_reason(reason: &str) -> Result<String, ServiceError> {
    let r = reason.trim();
    if r.chars().count() > MAX_REASON_CHARS {
        return Err(invalid(format!(
            "reason: at most {MAX_REASON_CHARS} characters"
        )));
    }
    Ok(r.to_owned())
}

/// Creates a messaging user and, when it comes with a consent status, the first entry of its
/// consent history, with the source the caller names.
pub async fn create(
    store: &Store,
    events: Option<&EventBus>,
    input: &MessagingUserInput,
    now: Timestamp,
) -> Result<MessagingUser, ServiceError> {
    let channel = referenced(store.channel(input.channel_id).await, "channel_id")?;
    let key = platform_key(channel.kind, &input.platform_key, KeySource::Person)
        .map_err(|e| invalid(format!("platform_key: {e}")))?;
    let name = input.name.trim();
    if name.chars().count() > 200 {
        return Err(invalid("name: at most 200 characters"));
    }
    let locale = input.locale.as_deref().map(check_locale).transpose()?;
    let source = match (input.consent_status, input.consent_source) {
        (Some(_), None) => {
            return Err(invalid(
                "consent_source: say where the consent came from (api, import, web_form, ...)",
            ));
        }
        (None, Some(_)) => {
            return Err(invalid("consent_source: give it with a consent_status"));
        }
        (_, source) => source.unwrap_or(ConsentSource::Api),
    };
    if let Some(contact) = input.contact_id {
        referenced(store.contact(contact).await, "contact_id")?;
    }
    let new = NewMessagingUser {
        channel_id: channel.id,
        platform_key: key,
        name: name.to_owned(),
        locale,
        consent_status: input.consent_status,
        contact_id: input.contact_id,
    };
    let origin = ConsentOrigin {
        source,
        reason: check_reason(&input.consent_reason)?,
        entry_id: None,
    };
    let user = store.create_messaging_user(&new, &origin, now).await?;
    if let (Some(events), Some(_)) = (events, user.consent_status) {
        events.publish(DomainEvent::ConsentChanged {
            messaging_user_id: user.id,
        });
    }
    Ok(user)
}

/// Changes a messaging user's consent; the change and its reason go into the consent history.
pub async fn change_consent(
    store: &Store,
    events: Option<&EventBus>,
    id: Uuid,
    input: &ConsentInput,
    now: Timestamp,
) -> Result<ConsentEvent, ServiceError> {
    let reason = check_reason(&input.reason)?;
    if reason.is_empty() {
        return Err(invalid("reason: say why the consent changes"));
    }
    let origin = ConsentOrigin {
        source: input.source.unwrap_or(ConsentSource::Api),
        reason,
        entry_id: None,
    };
    let event = store.set_consent(id, input.status, &origin, now).await?;
    if let Some(events) = events {
        events.publish(DomainEvent::ConsentChanged {
            messaging_user_id: id,
        });
    }
    Ok(event)
}

/// The phone number behind a messaging user, where its channel has one.
fn phone_of(kind: ChannelKind, key: &str) -> Option<E164> {
    matches!(kind, ChannelKind::Sms | ChannelKind::Whatsapp)
        .then(|| E164::parse(key).ok())
        .flatten()
}

/// Links a messaging user to a contact: the one given, or the one the matching rules find
/// (phone, then e-mail), created when the rules allow and none matched.
pub async fn link_contact(
    store: &Store,
    id: Uuid,
    input: &ContactLinkInput,
    now: Timestamp,
) -> Result<Linked, ServiceError> {
    let user = store.messaging_user(id).await?;
    match (&input.contact_id, &input.matching) {
        (Some(contact_id), None) => {
            let contact = referenced(store.contact(*contact_id).await, "contact_id")?;
            let user = store.set_user_contact(id, Some(contact.id), now).await?;
            Ok(Linked {
                user,
                contact: Some(contact),
                by: Some(LinkedBy::Id),
            })
        }
        (None, Some(m)) => {
            let channel = store.channel(user.channel_id).await?;
            let setting = behaviour_of(&channel.settings)
                .map(|b| b.contact_linking)
                .unwrap_or_default();
            let rule = ContactMatching {
                by_phone: m.by_phone.unwrap_or(setting.by_phone),
                by_email: m.by_email.unwrap_or(setting.by_email),
                create_when_missing: m.create_when_missing.unwrap_or(setting.create_when_missing),
            };
            let spec: ContactSpec =
                contact_spec(&m.first_name, &m.last_name, None, m.email.as_deref()).map_err(
                    |e| match e {
                        ServiceError::Invalid(msg) => invalid(format!("match: {msg}")),
                        other => other,
                    },
                )?;
            if rule.by_email && spec.email.is_none() && m.by_email == Some(true) {
                return Err(invalid("match.email: give the e-mail address to match by"));
            }
            let phone = phone_of(channel.kind, &user.platform_key);
            let (by_phone, by_email) = rule.lookups(phone.as_ref(), spec.email.as_deref());
            let mut found = None;
            if let Some(p) = by_phone {
                found = store
                    .find_contact(Some(p), None)
                    .await?
                    .map(|c| (c, LinkedBy::Phone));
            }
            if found.is_none()
                && let Some(e) = by_email
            {
                found = store
                    .find_contact(None, Some(e))
                    .await?
                    .map(|c| (c, LinkedBy::Email));
            }
            let (contact, by) = match rule.decide(found) {
                MatchDecision::Link((c, by)) => (c, by),
                MatchDecision::Create => {
                    let new = ContactSpec { phone, ..spec };
                    (store.create_contact(&new, now).await?, LinkedBy::Created)
                }
                MatchDecision::Leave => {
                    return Ok(Linked {
                        user,
                        contact: None,
                        by: None,
                    });
                }
            };
            let user = store.set_user_contact(id, Some(contact.id), now).await?;
            Ok(Linked {
                user,
                contact: Some(contact),
                by: Some(by),
            })
        }
        _ => Err(invalid("give either contact_id or match")),
    }
}

/// Unlinks a messaging user from its contact; the contact stays.
pub async fn unlink_contact(
    store: &Store,
    id: Uuid,
    now: Timestamp,
) -> Result<MessagingUser, ServiceError> {
    Ok(store.set_user_contact(id, None, now).await?)
}
