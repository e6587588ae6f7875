//! Parley's domain, with no IO: the names of DESIGN.md section 4 as types, and every rule
//! (consent, keywords, session lifecycle, SMS encoding, retries) as a pure function from state and
//! event to a decision. Nothing here knows about databases, HTTP or async runtimes, so every rule is
//! tested in isolation.
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod access;
pub mod audit;
pub mod campaign;
pub mod channel;
pub mod clock;
pub mod compliance;
pub mod component;
pub mod consent;
pub mod conversation;
pub mod crm;
pub mod dead_letter;
pub mod error_code;
pub mod flow;
pub mod i18n;
pub mod keyword_process;
pub mod keywords;
pub mod media;
pub mod merge;
pub mod model;
pub mod net;
pub mod notes;
pub mod notification;
pub mod notify_fields;
pub mod notify_triggers;
pub mod phone;
pub mod privacy;
pub mod reports;
pub mod retry;
pub mod routing;
pub mod search;
pub mod sender_limits;
pub mod sender_pool;
pub mod session;
pub mod sms;
pub mod template;
pub mod visitor;
pub mod web;
pub mod webhook;
pub mod window;

pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use error_code::ErrorCode;
pub use phone::E164;

/// Every entity id is a UUIDv7 made here, so ids sort by creation time on both databases and
/// cursors can page by id.
pub fn new_id() -> uuid::Uuid {
    uuid::Uuid::now_v7()
}
