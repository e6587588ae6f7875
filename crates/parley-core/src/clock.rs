//! Time as the domain sees it: milliseconds since the Unix epoch, read from a [`Clock`] so tests
//! can move time without sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// A point in time, in milliseconds since the Unix epoch (UTC). Stored as a 64-bit integer on
/// both databases so comparisons in SQL are exact and cheap.
#[derive(
    Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

/// How people read a time in a message: `2026-12-04 14:40 UTC` (minutes; a message that says
/// when a window closed needs no more, and UTC is the one zone every reader can convert from).
impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match jiff::Timestamp::from_millisecond(self.0) {
            Ok(t) => write!(f, "{}", t.strftime("%Y-%m-%d %H:%M UTC")),
            Err(_) => write!(f, "{} ms after 1970-01-01 UTC", self.0),
        }
    }
}

impl Timestamp {
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }

    pub const fn millis(self) -> i64 {
        self.0
    }

    /// Saturating: a duration too large to represent lands at the end of time instead of wrapping.
    pub fn plus(self, d: Duration) -> Self {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Self(self.0.saturating_add(ms))
    }

    pub fn minus(self, d: Duration) -> Self {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Self(self.0.saturating_sub(ms))
    }

    /// The time from `earlier` to `self`, zero when `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(u64::try_from(self.0.saturating_sub(earlier.0)).unwrap_or(0))
    }
}

impl From<i64> for Timestamp {
    fn from(ms: i64) -> Self {
        Self(ms)
    }
}

impl Timestamp {
    /// RFC 3339 in UTC with milliseconds (`2026-11-21T17:03:32.123Z`), the form the API shows.
    pub fn to_rfc3339(self) -> String {
        let ms = self.0.rem_euclid(1000);
        let secs = self.0.div_euclid(1000);
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
            rem / 3600,
            (rem % 3600) / 60,
            rem % 60
        )
    }
}

/// Converts days since 1970-01-01 to a proleptic Gregorian date, using the era arithmetic of
/// Howard Hinnant's "chrono-compatible low-level date algorithms".
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The canonical IANA name of a time zone (`america/toronto` gives `America/Toronto`), or `None`
/// when the bundled time zone database (the one campaign schedules use) does not know it. Fixed
/// offsets and POSIX rules (`EST5EDT` aside, which is an IANA name) are not names people pick.
pub fn iana_time_zone(name: &str) -> Option<String> {
    let name = name.trim();
    if name.is_empty() || name.len() > 64 {
        return None;
    }
    let zone = jiff::tz::TimeZone::get(name).ok()?;
    Some(zone.iana_name().unwrap_or(name).to_owned())
}

/// Where the current time comes from.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Timestamp;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Timestamp(ms)
    }
}

/// A clock that only moves when told to, for tests of timers, leases and retries.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicI64,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        Self {
            now: AtomicI64::new(start.0),
        }
    }

    pub fn advance(&self, d: Duration) {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        self.now.fetch_add(ms, Ordering::SeqCst);
    }

    pub fn set(&self, t: Timestamp) {
        self.now.store(t.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.now.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_reads_as_a_date_in_words_not_milliseconds() {
        assert_eq!(
            Timestamp(1_796_385_040_138).to_string(),
            "2026-12-04 11:50 UTC"
        );
        let closed = crate::window::WindowClosed::Expired {
            closed_at: Timestamp(1_796_385_040_138),
            hint: "send a template",
        };
        assert_eq!(
            closed.to_string(),
            "the messaging window closed at 2026-12-04 11:50 UTC; send a template"
        );
        assert!(Timestamp(i64::MAX).to_string().contains("1970-01-01"));
    }

    /// Every error that carries a time says it as a date: never `Timestamp(..)` (Debug) nor the
    /// milliseconds. The source scan in parley-server's `words` test keeps new ones from coming.
    #[test]
    fn errors_with_times_say_them_as_dates() {
        use crate::session::{SessionError, SessionEventKind};
        let at = Timestamp(1_796_385_040_138);
        let texts = [
            crate::window::WindowClosed::Expired {
                closed_at: at,
                hint: "send a template",
            }
            .to_string(),
            SessionError::ReplyWindowClosed {
                at,
                deadline: at.minus(Duration::from_secs(60)),
            }
            .to_string(),
            SessionError::NotDue {
                event: SessionEventKind::ReplyWindowExpired,
                due: at,
            }
            .to_string(),
        ];
        for text in texts {
            assert!(text.contains("2026-12-04 11:"), "{text}");
            assert!(!text.contains("Timestamp"), "{text}");
            assert!(!text.contains("1796385"), "{text}");
        }
    }

    #[test]
    fn time_zones_are_iana_names() {
        assert_eq!(
            iana_time_zone("America/Toronto").as_deref(),
            Some("America/Toronto")
        );
        assert_eq!(iana_time_zone(" UTC ").as_deref(), Some("UTC"));
        for bad in [
            "",
            "Mars/Olympus",
            "+05:00",
            "America/Toronto\0",
            &"A".repeat(100),
        ] {
            assert_eq!(iana_time_zone(bad), None, "{bad}");
        }
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(Timestamp(1_000));
        assert_eq!(c.now(), Timestamp(1_000));
        c.advance(Duration::from_secs(2));
        assert_eq!(c.now(), Timestamp(3_000));
    }

    #[test]
    fn formats_rfc3339() {
        assert_eq!(Timestamp(0).to_rfc3339(), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            Timestamp(951_782_400_123).to_rfc3339(),
            "2000-02-29T00:00:00.123Z"
        );
        assert_eq!(
            Timestamp(1_795_539_812_001).to_rfc3339(),
            "2026-11-24T17:03:32.001Z"
        );
    }

    #[test]
    fn arithmetic_saturates() {
        assert_eq!(
            Timestamp(i64::MAX - 1).plus(Duration::MAX),
            Timestamp(i64::MAX)
        );
        assert_eq!(Timestamp(5).since(Timestamp(10)), Duration::ZERO);
    }
}
