//! Outgoing webhook subscriptions: the writes the API and the console share. A subscription
//! names an absolute http(s) URL, the event types it wants (see
//! `parley_core::webhook::EVENT_TYPES`) and optionally the channels whose events it takes. Its
//! secret signs every delivery; Parley makes one when the caller gives none.

use parley_core::Timestamp;
use parley_core::webhook::{MIN_SECRET_LEN, is_event_type};
use parley_store::{Store, SubscriptionSpec, WebhookSubscription};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{ServiceError, referenced};

/// A subscription as the API takes it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionInput {
    /// 1 to 100 characters.
    pub name: String,
    /// Where deliveries are POSTed: an absolute http or https URL.
    pub url: String,
    /// At least one of `message.received`, `message.status`, `consent.changed`,
    /// `session.opened`, `session.ended`, `case.opened`, `case.updated`, `case.closed`.
    pub event_types: Vec<String>,
    /// Only these channels' events; absent or null for every channel.
    #[serde(default)]
    pub channel_ids: Option<Vec<Uuid>>,
    /// Inactive subscriptions receive nothing. Default true.
    #[serde(default)]
    pub active: Option<bool>,
    /// The signing secret, at least 16 characters; generated when absent (creation only: an
    /// update keeps the secret, rotate it with `rotate_secret`).
    #[serde(default)]
    pub secret: Option<String>,
}

pub fn spec(input: &SubscriptionInput) -> Result<SubscriptionSpec, ServiceError> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ServiceError::Invalid(
            "name: must be 1 to 100 characters, without control characters".into(),
        ));
    }
    // Stored as parsed, so what is called is what the URL parser understood.
    let url = match reqwest::Url::parse(input.url.trim()) {
        Ok(u)
            if matches!(u.scheme(), "http" | "https")
                && u.host_str().is_some()
                && u.as_str().len() <= 2048 =>
        {
            u.to_string()
        }
        _ => {
            return Err(ServiceError::Invalid(
                "url: must be an absolute http or https URL of at most 2,048 characters".into(),
            ));
        }
    };
    if input.event_types.is_empty() {
        return Err(ServiceError::Invalid(
            "event_types: name at least one event type".into(),
        ));
    }
    let mut events: Vec<String> = Vec::with_capacity(input.event_types.len());
    for e in &input.event_types {
        if !is_event_type(e) {
            return Err(ServiceError::Invalid(format!(
                "event_types: unknown event type {e:?}"
            )));
        }
        if !events.contains(e) {
            events.push(e.clone());
        }
    }
    Ok(SubscriptionSpec {
        name: name.to_owned(),
        url,
        event_types: events,
        channel_ids: input.channel_ids.clone(),
        active: input.active.unwrap_or(true),
    })
}

fn secret(given: Option<&str>) -> Result<String, ServiceError> {
    match given {
        Some(s)
            if s.chars().count() < MIN_SECRET_LEN
                || s.len() > 256
                || s.trim() != s
                || s.chars().any(char::is_control) =>
        {
            Err(ServiceError::Invalid(format!(
                "secret: must be {MIN_SECRET_LEN} to 256 characters, without surrounding spaces or control characters"
            )))
        }
        Some(s) => Ok(s.to_owned()),
        None => Ok(format!("whsec_{}", hex::encode(rand::random::<[u8; 24]>()))),
    }
}

async fn check_channels(store: &Store, spec: &SubscriptionSpec) -> Result<(), ServiceError> {
    for id in spec.channel_ids.iter().flatten() {
        referenced(
            store.channel(*id).await,
            &format!("channel_ids: channel {id}"),
        )?;
    }
    Ok(())
}

/// Creates a subscription; the answer carries the secret, which is shown only now.
pub async fn create(
    store: &Store,
    input: &SubscriptionInput,
    now: Timestamp,
) -> Result<WebhookSubscription, ServiceError> {
    let spec = spec(input)?;
    let secret = secret(input.secret.as_deref())?;
    check_channels(store, &spec).await?;
    Ok(store
        .create_webhook_subscription(&spec, &secret, now)
        .await?)
}

pub async fn update(
    store: &Store,
    id: Uuid,
    input: &SubscriptionInput,
    now: Timestamp,
) -> Result<WebhookSubscription, ServiceError> {
    let spec = spec(input)?;
    if input.secret.is_some() {
        return Err(ServiceError::Invalid(
            "secret: cannot be set by an update; rotate it instead".into(),
        ));
    }
    check_channels(store, &spec).await?;
    Ok(store.update_webhook_subscription(id, &spec, now).await?)
}

/// Replaces the secret (with `given`, or a new random one); the answer carries it.
pub async fn rotate_secret(
    store: &Store,
    id: Uuid,
    given: Option<&str>,
    now: Timestamp,
) -> Result<WebhookSubscription, ServiceError> {
    let secret = secret(given)?;
    Ok(store.set_webhook_secret(id, &secret, now).await?)
}

pub async fn delete(store: &Store, id: Uuid) -> Result<(), ServiceError> {
    Ok(store.delete_webhook_subscription(id).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> SubscriptionInput {
        SubscriptionInput {
            name: "shop".into(),
            url: "https://shop.example/hooks".into(),
            event_types: vec!["message.received".into()],
            channel_ids: None,
            active: None,
            secret: None,
        }
    }

    #[test]
    fn refuses_bad_urls_and_unknown_events_naming_the_field() {
        let mut i = input();
        i.url = "ftp://x".into();
        assert!(spec(&i).unwrap_err().to_string().starts_with("url:"));
        i.url = "/relative".into();
        assert!(spec(&i).unwrap_err().to_string().starts_with("url:"));
        let mut i = input();
        i.event_types = vec!["message.sent".into()];
        assert!(
            spec(&i)
                .unwrap_err()
                .to_string()
                .starts_with("event_types:")
        );
        assert!(spec(&input()).is_ok());
    }

    #[test]
    fn secrets_are_generated_or_long_enough() {
        assert!(secret(None).unwrap().len() > MIN_SECRET_LEN);
        assert!(secret(Some("short")).is_err());
        assert_eq!(
            secret(Some("0123456789abcdef")).unwrap(),
            "0123456789abcdef"
        );
    }
}
