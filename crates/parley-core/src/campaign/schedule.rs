//! When a campaign's message may go (issue 11, item 2; SMS-08 "respect the audience's hours"):
//! now, at a time, or inside each recipient's local time window. A recipient's zone is their
//! `time_zone` attribute when it names a real zone, else their number's country's main zone,
//! else the window's default zone. The zone database is built in (no IO).
//!
//! Decisions the doc comments leave open:
//! - The window is half-open: a window of 09:00 to 20:00 sends at 09:00 and at 19:59, not at
//!   20:00. A window whose close comes before its open spans midnight.
//! - A local opening time that does not exist that day (clocks jump forward over it) moves to the
//!   first instant after the jump; one that happens twice (clocks fall back) is the first.
//! - A start time equal to now is not in the past.
//! - A country with several zones has the zone where most of its people live (US: New York,
//!   Canada: Toronto, Australia: Sydney, Brazil: São Paulo, Russia: Moscow...).

use jiff::tz::{AmbiguousOffset, TimeZone};

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
    if let Some(window) = &schedule.window {
        check_window(window)?;
        zone(&window.default_time_zone)?;
    }
    if schedule.start_at.is_some_and(|t| t < now) {
        return Err(ScheduleError::StartInPast);
    }
    Ok(())
}

const MINUTES_PER_DAY: u16 = 24 * 60;

fn check_window(window: &LocalWindow) -> Result<(), ScheduleError> {
    if window.opens >= MINUTES_PER_DAY
        || window.closes >= MINUTES_PER_DAY
        || window.opens == window.closes
    {
        return Err(ScheduleError::BadWindow);
    }
    Ok(())
}

fn zone(name: &str) -> Result<TimeZone, ScheduleError> {
    TimeZone::get(name).map_err(|_| ScheduleError::UnknownZone(name.to_owned()))
}

/// Each country's main zone, sorted by country code.
const ZONES: &[(&str, &str)] = &[
    ("AD", "Europe/Andorra"),
    ("AE", "Asia/Dubai"),
    ("AF", "Asia/Kabul"),
    ("AL", "Europe/Tirane"),
    ("AM", "Asia/Yerevan"),
    ("AO", "Africa/Luanda"),
    ("AR", "America/Argentina/Buenos_Aires"),
    ("AT", "Europe/Vienna"),
    ("AU", "Australia/Sydney"),
    ("AZ", "Asia/Baku"),
    ("BA", "Europe/Sarajevo"),
    ("BB", "America/Barbados"),
    ("BD", "Asia/Dhaka"),
    ("BE", "Europe/Brussels"),
    ("BF", "Africa/Ouagadougou"),
    ("BG", "Europe/Sofia"),
    ("BH", "Asia/Bahrain"),
    ("BI", "Africa/Bujumbura"),
    ("BJ", "Africa/Porto-Novo"),
    ("BN", "Asia/Brunei"),
    ("BO", "America/La_Paz"),
    ("BR", "America/Sao_Paulo"),
    ("BS", "America/Nassau"),
    ("BT", "Asia/Thimphu"),
    ("BW", "Africa/Gaborone"),
    ("BY", "Europe/Minsk"),
    ("BZ", "America/Belize"),
    ("CA", "America/Toronto"),
    ("CD", "Africa/Kinshasa"),
    ("CF", "Africa/Bangui"),
    ("CG", "Africa/Brazzaville"),
    ("CH", "Europe/Zurich"),
    ("CI", "Africa/Abidjan"),
    ("CL", "America/Santiago"),
    ("CM", "Africa/Douala"),
    ("CN", "Asia/Shanghai"),
    ("CO", "America/Bogota"),
    ("CR", "America/Costa_Rica"),
    ("CU", "America/Havana"),
    ("CV", "Atlantic/Cape_Verde"),
    ("CY", "Asia/Nicosia"),
    ("CZ", "Europe/Prague"),
    ("DE", "Europe/Berlin"),
    ("DJ", "Africa/Djibouti"),
    ("DK", "Europe/Copenhagen"),
    ("DO", "America/Santo_Domingo"),
    ("DZ", "Africa/Algiers"),
    ("EC", "America/Guayaquil"),
    ("EE", "Europe/Tallinn"),
    ("EG", "Africa/Cairo"),
    ("ER", "Africa/Asmara"),
    ("ES", "Europe/Madrid"),
    ("ET", "Africa/Addis_Ababa"),
    ("FI", "Europe/Helsinki"),
    ("FJ", "Pacific/Fiji"),
    ("FR", "Europe/Paris"),
    ("GA", "Africa/Libreville"),
    ("GB", "Europe/London"),
    ("GE", "Asia/Tbilisi"),
    ("GH", "Africa/Accra"),
    ("GM", "Africa/Banjul"),
    ("GN", "Africa/Conakry"),
    ("GQ", "Africa/Malabo"),
    ("GR", "Europe/Athens"),
    ("GT", "America/Guatemala"),
    ("GW", "Africa/Bissau"),
    ("GY", "America/Guyana"),
    ("HK", "Asia/Hong_Kong"),
    ("HN", "America/Tegucigalpa"),
    ("HR", "Europe/Zagreb"),
    ("HT", "America/Port-au-Prince"),
    ("HU", "Europe/Budapest"),
    ("ID", "Asia/Jakarta"),
    ("IE", "Europe/Dublin"),
    ("IL", "Asia/Jerusalem"),
    ("IN", "Asia/Kolkata"),
    ("IQ", "Asia/Baghdad"),
    ("IR", "Asia/Tehran"),
    ("IS", "Atlantic/Reykjavik"),
    ("IT", "Europe/Rome"),
    ("JM", "America/Jamaica"),
    ("JO", "Asia/Amman"),
    ("JP", "Asia/Tokyo"),
    ("KE", "Africa/Nairobi"),
    ("KG", "Asia/Bishkek"),
    ("KH", "Asia/Phnom_Penh"),
    ("KM", "Indian/Comoro"),
    ("KP", "Asia/Pyongyang"),
    ("KR", "Asia/Seoul"),
    ("KW", "Asia/Kuwait"),
    ("KZ", "Asia/Almaty"),
    ("LA", "Asia/Vientiane"),
    ("LB", "Asia/Beirut"),
    ("LI", "Europe/Vaduz"),
    ("LK", "Asia/Colombo"),
    ("LR", "Africa/Monrovia"),
    ("LS", "Africa/Maseru"),
    ("LT", "Europe/Vilnius"),
    ("LU", "Europe/Luxembourg"),
    ("LV", "Europe/Riga"),
    ("LY", "Africa/Tripoli"),
    ("MA", "Africa/Casablanca"),
    ("MC", "Europe/Monaco"),
    ("ME", "Europe/Podgorica"),
    ("MG", "Indian/Antananarivo"),
    ("MK", "Europe/Skopje"),
    ("ML", "Africa/Bamako"),
    ("MM", "Asia/Yangon"),
    ("MN", "Asia/Ulaanbaatar"),
    ("MO", "Asia/Macau"),
    ("MR", "Africa/Nouakchott"),
    ("MT", "Europe/Malta"),
    ("MU", "Indian/Mauritius"),
    ("MV", "Indian/Maldives"),
    ("MW", "Africa/Blantyre"),
    ("MX", "America/Mexico_City"),
    ("MY", "Asia/Kuala_Lumpur"),
    ("MZ", "Africa/Maputo"),
    ("NA", "Africa/Windhoek"),
    ("NE", "Africa/Niamey"),
    ("NG", "Africa/Lagos"),
    ("NI", "America/Managua"),
    ("NL", "Europe/Amsterdam"),
    ("NO", "Europe/Oslo"),
    ("NP", "Asia/Kathmandu"),
    ("NZ", "Pacific/Auckland"),
    ("OM", "Asia/Muscat"),
    ("PA", "America/Panama"),
    ("PE", "America/Lima"),
    ("PG", "Pacific/Port_Moresby"),
    ("PH", "Asia/Manila"),
    ("PK", "Asia/Karachi"),
    ("PL", "Europe/Warsaw"),
    ("PR", "America/Puerto_Rico"),
    ("PS", "Asia/Hebron"),
    ("PT", "Europe/Lisbon"),
    ("PY", "America/Asuncion"),
    ("QA", "Asia/Qatar"),
    ("RO", "Europe/Bucharest"),
    ("RS", "Europe/Belgrade"),
    ("RU", "Europe/Moscow"),
    ("RW", "Africa/Kigali"),
    ("SA", "Asia/Riyadh"),
    ("SB", "Pacific/Guadalcanal"),
    ("SD", "Africa/Khartoum"),
    ("SE", "Europe/Stockholm"),
    ("SG", "Asia/Singapore"),
    ("SI", "Europe/Ljubljana"),
    ("SK", "Europe/Bratislava"),
    ("SL", "Africa/Freetown"),
    ("SM", "Europe/San_Marino"),
    ("SN", "Africa/Dakar"),
    ("SO", "Africa/Mogadishu"),
    ("SR", "America/Paramaribo"),
    ("SS", "Africa/Juba"),
    ("SV", "America/El_Salvador"),
    ("SY", "Asia/Damascus"),
    ("SZ", "Africa/Mbabane"),
    ("TD", "Africa/Ndjamena"),
    ("TG", "Africa/Lome"),
    ("TH", "Asia/Bangkok"),
    ("TJ", "Asia/Dushanbe"),
    ("TM", "Asia/Ashgabat"),
    ("TN", "Africa/Tunis"),
    ("TR", "Europe/Istanbul"),
    ("TT", "America/Port_of_Spain"),
    ("TW", "Asia/Taipei"),
    ("TZ", "Africa/Dar_es_Salaam"),
    ("UA", "Europe/Kyiv"),
    ("UG", "Africa/Kampala"),
    ("US", "America/New_York"),
    ("UY", "America/Montevideo"),
    ("UZ", "Asia/Tashkent"),
    ("VA", "Europe/Vatican"),
    ("VE", "America/Caracas"),
    ("VN", "Asia/Ho_Chi_Minh"),
    ("XK", "Europe/Belgrade"),
    ("YE", "Asia/Aden"),
    ("ZA", "Africa/Johannesburg"),
    ("ZM", "Africa/Lusaka"),
    ("ZW", "Africa/Harare"),
];

/// The main IANA zone of a country (ISO 3166 alpha-2), for the countries of one zone and the
/// most populous zone of the others.
pub fn country_zone(country: &str) -> Option<&'static str> {
    let country = country.trim();
    ZONES
        .binary_search_by(|(code, _)| {
            code.bytes()
                .map(|b| b.to_ascii_uppercase())
                .cmp(country.bytes().map(|b| b.to_ascii_uppercase()))
        })
        .ok()
        .and_then(|i| ZONES.get(i))
        .map(|(_, zone)| *zone)
}

/// The zone a recipient's window is read in.
pub fn recipient_zone<'a>(
    attribute: Option<&'a str>,
    country: Option<&str>,
    window: &'a LocalWindow,
) -> &'a str {
    if let Some(own) = attribute
        .map(str::trim)
        .filter(|a| !a.is_empty() && TimeZone::get(a).is_ok())
    {
        return own;
    }
    country
        .and_then(country_zone)
        .unwrap_or(&window.default_time_zone)
}

/// The first moment at or after `now` inside `window` in `zone` (a window that closes before it
/// opens spans midnight, e.g. 20:00 to 08:00).
pub fn next_opening(
    window: &LocalWindow,
    zone: &str,
    now: Timestamp,
) -> Result<Timestamp, ScheduleError> {
    check_window(window)?;
    let tz = self::zone(zone)?;
    // Outside jiff's range (years -9999 to 9999) there is no local time to speak of: send now.
    let Ok(instant) = jiff::Timestamp::from_millisecond(now.millis()) else {
        return Ok(now);
    };
    let local = tz.to_datetime(instant);
    let minute =
        u16::try_from(i32::from(local.hour()) * 60 + i32::from(local.minute())).unwrap_or_default();
    let (opens, closes) = (window.opens, window.closes);
    let inside = if opens < closes {
        opens <= minute && minute < closes
    } else {
        minute >= opens || minute < closes
    };
    if inside {
        return Ok(now);
    }
    // Outside the window, the next opening is today's when it is still ahead, else tomorrow's.
    let day = if minute < opens {
        Ok(local.date())
    } else {
        local.date().tomorrow()
    };
    let Ok(day) = day else {
        return Ok(now);
    };
    let hour = i8::try_from(opens / 60).unwrap_or_default();
    let min = i8::try_from(opens % 60).unwrap_or_default();
    let at = day.at(hour, min, 0, 0);
    let opening = match tz.to_ambiguous_timestamp(at).offset() {
        AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(at),
        AmbiguousOffset::Fold { before, .. } => before.to_timestamp(at),
        AmbiguousOffset::Gap { after, .. } => after.to_timestamp(at).map(|early| {
            // Read with the later offset the time falls just before the jump: the jump itself is
            // the first instant that exists.
            tz.following(early).next().map_or(early, |t| t.timestamp())
        }),
    };
    Ok(opening.map_or(now, |t| Timestamp::from_millis(t.as_millisecond()).max(now)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn window(opens: u16, closes: u16) -> LocalWindow {
        LocalWindow {
            opens,
            closes,
            default_time_zone: "America/New_York".into(),
        }
    }

    /// Milliseconds of an RFC 3339 instant.
    fn t(s: &str) -> Timestamp {
        let ts: jiff::Timestamp = s.parse().unwrap();
        Timestamp::from_millis(ts.as_millisecond())
    }

    const NINE_TO_EIGHT: (u16, u16) = (9 * 60, 20 * 60);

    #[test]
    fn inside_the_window_goes_now() {
        let w = window(NINE_TO_EIGHT.0, NINE_TO_EIGHT.1);
        // 10:00 in New York (UTC-5 in January).
        let now = t("2026-01-15T15:00:00Z");
        assert_eq!(next_opening(&w, "America/New_York", now), Ok(now));
        // 09:00 sharp is inside; 20:00 sharp is not.
        let nine = t("2026-01-15T14:00:00Z");
        assert_eq!(next_opening(&w, "America/New_York", nine), Ok(nine));
        assert_eq!(
            next_opening(&w, "America/New_York", t("2026-01-15T20:00:00Z")),
            Ok(t("2026-01-15T20:00:00Z"))
        );
        assert_eq!(
            next_opening(&w, "America/New_York", t("2026-01-16T01:00:00Z")),
            Ok(t("2026-01-16T14:00:00Z")),
            "20:00 local waits for tomorrow 09:00"
        );
    }

    #[test]
    fn before_the_window_waits_for_todays_opening() {
        let w = window(NINE_TO_EIGHT.0, NINE_TO_EIGHT.1);
        // 07:30 in London (UTC+0 in January).
        assert_eq!(
            next_opening(&w, "Europe/London", t("2026-01-15T07:30:00Z")),
            Ok(t("2026-01-15T09:00:00Z"))
        );
        // 23:00 in Tokyo is 14:00 UTC; the next 09:00 in Tokyo is 00:00 UTC the next day.
        assert_eq!(
            next_opening(&w, "Asia/Tokyo", t("2026-01-15T14:00:00Z")),
            Ok(t("2026-01-16T00:00:00Z"))
        );
    }

    #[test]
    fn windows_spanning_midnight() {
        let w = window(20 * 60, 8 * 60);
        let zone = "Europe/London";
        for inside in [
            "2026-01-15T20:00:00Z",
            "2026-01-15T23:59:00Z",
            "2026-01-16T07:59:00Z",
        ] {
            assert_eq!(next_opening(&w, zone, t(inside)), Ok(t(inside)), "{inside}");
        }
        assert_eq!(
            next_opening(&w, zone, t("2026-01-16T08:00:00Z")),
            Ok(t("2026-01-16T20:00:00Z"))
        );
        assert_eq!(
            next_opening(&w, zone, t("2026-01-16T12:34:00Z")),
            Ok(t("2026-01-16T20:00:00Z"))
        );
    }

    #[test]
    fn an_opening_in_the_spring_gap_moves_to_the_jump() {
        // New York, 2026-03-08: 02:00 EST jumps to 03:00 EDT (07:00 UTC). 02:30 does not exist.
        let w = window(2 * 60 + 30, 6 * 60);
        assert_eq!(
            next_opening(&w, "America/New_York", t("2026-03-08T05:00:00Z")),
            Ok(t("2026-03-08T07:00:00Z"))
        );
        // The day after, 02:30 exists again (EDT, UTC-4).
        assert_eq!(
            next_opening(&w, "America/New_York", t("2026-03-08T12:00:00Z")),
            Ok(t("2026-03-09T06:30:00Z"))
        );
    }

    #[test]
    fn an_opening_in_the_autumn_fold_is_the_first() {
        // New York, 2026-11-01: 02:00 EDT falls back to 01:00 EST; 01:30 happens twice, first at
        // 05:30 UTC.
        let w = window(90, 6 * 60);
        assert_eq!(
            next_opening(&w, "America/New_York", t("2026-11-01T03:00:00Z")),
            Ok(t("2026-11-01T05:30:00Z"))
        );
    }

    #[test]
    fn bad_windows_and_zones() {
        let now = t("2026-01-15T15:00:00Z");
        for (o, c) in [(600, 600), (1440, 10), (10, 1440)] {
            assert_eq!(
                next_opening(&window(o, c), "Europe/London", now),
                Err(ScheduleError::BadWindow)
            );
        }
        assert_eq!(
            next_opening(&window(600, 700), "Mars/Olympus", now),
            Err(ScheduleError::UnknownZone("Mars/Olympus".into()))
        );
    }

    #[test]
    fn validation() {
        let now = t("2026-01-15T15:00:00Z");
        assert_eq!(validate(&Schedule::default(), now), Ok(()));
        let at = |ms: i64| Schedule {
            start_at: Some(Timestamp::from_millis(now.millis() + ms)),
            window: None,
        };
        assert_eq!(validate(&at(0), now), Ok(()));
        assert_eq!(validate(&at(-1), now), Err(ScheduleError::StartInPast));
        let with = |w: LocalWindow| Schedule {
            start_at: None,
            window: Some(w),
        };
        assert_eq!(validate(&with(window(540, 1200)), now), Ok(()));
        assert_eq!(
            validate(&with(window(540, 540)), now),
            Err(ScheduleError::BadWindow)
        );
        let mut w = window(540, 1200);
        w.default_time_zone = "Nowhere/Else".into();
        assert_eq!(
            validate(&with(w), now),
            Err(ScheduleError::UnknownZone("Nowhere/Else".into()))
        );
    }

    #[test]
    fn every_country_zone_exists_and_the_table_is_sorted() {
        for pair in ZONES.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{pair:?}");
        }
        for (country, zone) in ZONES {
            assert!(TimeZone::get(zone).is_ok(), "{country} {zone}");
        }
        const EEA: &[&str] = &[
            "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
            "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS",
            "LI", "NO", "CH", "GB",
        ];
        for c in EEA {
            assert!(country_zone(c).is_some(), "{c}");
        }
        assert!(ZONES.len() >= 100);
        assert_eq!(country_zone("us"), Some("America/New_York"));
        assert_eq!(country_zone("CA"), Some("America/Toronto"));
        assert_eq!(country_zone("AU"), Some("Australia/Sydney"));
        assert_eq!(country_zone("BR"), Some("America/Sao_Paulo"));
        assert_eq!(country_zone("MX"), Some("America/Mexico_City"));
        assert_eq!(country_zone("IN"), Some("Asia/Kolkata"));
        assert_eq!(country_zone("ZZ"), None);
        assert_eq!(country_zone(""), None);
    }

    #[test]
    fn the_recipients_own_zone_then_their_country_then_the_default() {
        let w = window(540, 1200);
        assert_eq!(
            recipient_zone(Some("Europe/Paris"), Some("US"), &w),
            "Europe/Paris"
        );
        assert_eq!(
            recipient_zone(Some("Not/AZone"), Some("GB"), &w),
            "Europe/London"
        );
        assert_eq!(
            recipient_zone(Some(" "), Some("ZZ"), &w),
            "America/New_York"
        );
        assert_eq!(recipient_zone(None, None, &w), "America/New_York");
    }

    #[test]
    fn next_opening_cost() {
        // A rough figure, printed only: the expansion asks once per recipient of a windowed
        // campaign.
        let w = window(540, 1200);
        let now = t("2026-01-15T03:00:00Z");
        let expected = next_opening(&w, "America/New_York", now).unwrap();
        let n = 50_000u32;
        let start = std::time::Instant::now();
        for _ in 0..n {
            let zone = recipient_zone(Some("America/New_York"), Some("US"), &w);
            assert_eq!(
                next_opening(&w, zone, std::hint::black_box(now)),
                Ok(expected)
            );
        }
        println!(
            "recipient_zone + next_opening: {:?} per recipient",
            start.elapsed() / n
        );
    }

    proptest! {
        #[test]
        fn the_opening_is_inside_the_window_and_not_before_now(
            opens in 0u16..1440,
            closes in 0u16..1440,
            ms in 1_700_000_000_000i64..1_900_000_000_000,
            zone in proptest::sample::select(vec![
                "Europe/London", "America/New_York", "Asia/Kolkata", "Australia/Sydney",
                "America/Sao_Paulo", "Pacific/Auckland", "UTC",
            ]),
        ) {
            prop_assume!(opens != closes);
            let w = window(opens, closes);
            let now = Timestamp::from_millis(ms);
            let at = next_opening(&w, zone, now).unwrap();
            prop_assert!(at >= now);
            prop_assert!(at.millis() - now.millis() <= 26 * 3_600_000, "within a day (and a DST hour)");
            // The opening is itself inside the window (to the minute), unless it was moved out of a
            // DST gap.
            let tz = TimeZone::get(zone).unwrap();
            let local = tz.to_datetime(jiff::Timestamp::from_millisecond(at.millis()).unwrap());
            let m = u16::try_from(i32::from(local.hour()) * 60 + i32::from(local.minute())).unwrap();
            let inside = if opens < closes { opens <= m && m < closes } else { m >= opens || m < closes };
            let moved = tz.preceding(jiff::Timestamp::from_millisecond(at.millis() + 1).unwrap())
                .next()
                .is_some_and(|t| t.timestamp().as_millisecond() == at.millis());
            prop_assert!(inside || moved, "{at:?} local {local}");
            // Asking again at the opening gives the opening.
            if inside {
                prop_assert_eq!(next_opening(&w, zone, at), Ok(at));
            }
        }
    }
}
