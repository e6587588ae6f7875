//! The REST API under `/api/v1`. Every handler authenticates through the token middleware, checks
//! the caller's role, validates its input into the store's specs, and answers JSON.

pub mod audiences;
pub mod audit_log;
pub mod board;
pub mod campaigns;
pub mod cases;
pub mod channel_providers;
pub mod channels;
pub mod close_conversation;
pub mod compose;
pub mod contacts;
pub mod conversations;
pub mod dead_letters;
pub mod flows;
pub mod keyword_sets;
pub mod messages;
pub mod messaging_users;
pub mod notes;
pub mod notifications;
pub mod people;
pub mod permissions;
pub mod privacy;
pub mod processes;
pub mod queues;
pub mod quick_texts;
pub mod reports;
pub mod retention;
pub mod routing_rules;
pub mod search;
pub mod sender_limits;
pub mod sensitive_data;
pub mod subscriptions;
pub mod templates;
pub mod time_zones;
pub mod tokens;
pub mod translations;
pub mod twilio_accounts;
pub mod uploads;
pub mod web_deployments;

use parley_core::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use parley_store::{PageRequest, Paged};

/// Cursor pagination: pass the `next` of one page as `after` to get the following one.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    /// Start after this id (the `next` of the previous page).
    pub after: Option<Uuid>,
    /// Items per page, 1 to 500 (default 50). Outside that range the request is refused (400),
    /// as the document says, rather than quietly clamped.
    #[param(minimum = 1, maximum = 500)]
    #[serde(default, deserialize_with = "page_limit")]
    pub limit: Option<u32>,
}

/// A page size of 1 to [`PageRequest::MAX_LIMIT`], for every list's `limit`.
pub(crate) fn page_limit<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let limit = Option::<u32>::deserialize(d)?;
    match limit {
        Some(n) if !(1..=PageRequest::MAX_LIMIT).contains(&n) => Err(serde::de::Error::custom(
            format!("limit: 1 to {}", PageRequest::MAX_LIMIT),
        )),
        _ => Ok(limit),
    }
}

impl PageParams {
    pub fn page(&self) -> PageRequest {
        PageRequest::new(self.after, self.limit.unwrap_or(50))
    }
}

/// A page of results.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The cursor of the next page, absent on the last page.
    pub next: Option<Uuid>,
}

impl<T> Page<T> {
    pub fn from_store<S>(p: Paged<S>, f: impl Fn(S) -> T) -> Self {
        Self {
            items: p.items.into_iter().map(f).collect(),
            next: p.next,
        }
    }
}

pub fn time(t: Timestamp) -> String {
    t.to_rfc3339()
}

pub fn opt_time(t: Option<Timestamp>) -> Option<String> {
    t.map(Timestamp::to_rfc3339)
}
