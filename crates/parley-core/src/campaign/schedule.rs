//! When a campaign's message may go (issue 11, item 2; SMS-08 "respect the audience's hours"):
//! now, at a time, or inside each recipient's local time window. A recipient's zone is their
//! `time_zone` attribute when it names a real zone, else their number's country's main zone,
//! else the window's default zone. The zone database is built in (no IO).

use crate::Timestamp;
use crate::campaign::{LocalWindow, Schedule};

/// Why a schedule cannot be saved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("'{0}' is not a time zone (use an IANA name such as Europe/London)")]
    UnknownZone(String),
    #[error("the window must open and close at minutes 0 to 1439, and not at the same minute")]
    BadWindow,
    #[error("the start time is in the past")]
    StartInPast,
}

/// Checks a schedule at save time (`now` for a start in the past).
pub fn validate(schedule: &Schedule, now: Timestamp) -> Result<(), ScheduleError> {
    let _ = (schedule, now);
    todo!()
}

/// The main IANA zone of a country (ISO 3166 alpha-2), for the countries of one zone and the
/// most populous zone of the others.
pub fn country_zone(country: &str) -> Option<&'static str> {
    let _ = country;
    todo!()
}

/// The zone a recipient's window is read in.
pub fn recipient_zone<'a>(
    attribute: Option<&'a str>,
    country: Option<&str>,
    window: &'a LocalWindow,
) -> &'a str {
    let _ = (attribute, country, window);
    todo!()
}

/// The first moment at or after `now` inside `window` in `zone` (a window that closes before it
/// opens spans midnight, e.g. 20:00 to 08:00).
pub fn next_opening(
    window: &LocalWindow,
    zone: &str,
    now: Timestamp,
) -> Result<Timestamp, ScheduleError> {
    let _ = (window, zone, now);
    todo!()
}
