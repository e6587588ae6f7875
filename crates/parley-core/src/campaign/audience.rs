//! Segments: a saved filter over messaging users and their contacts (issue 11, item 1). A filter
//! is a list of conditions that must all hold; each condition is one field compared one way. The
//! store reads audience members page by page and this module decides which match, so the rule is
//! the same on both databases and lives in one place.
//!
//! Decisions the doc comments leave open, taken as a marketer using Braze or Attentive would
//! expect:
//! - Text comparisons fold Unicode case and ignore surrounding whitespace on both sides.
//! - `not_equals` holds for a member with no value (nobody named "Ann" includes those with no
//!   name); `contains` and `starts_with` need a value; `is_set` means present and not blank.
//! - An attribute that is a list matches `equals` or `contains` when one of its items does
//!   (`interests contains "shoes"`); an object only answers `is_set`/`is_not_set`. A number
//!   `equals` a value that reads as the same number (`3` equals `"3.0"`).
//! - A tag is compared without regard to case.
//! - `within N days` counts a time in the future as within; `not_within` includes never.
//! - A locale matches a filter locale that equals it or is its prefix at a subtag boundary
//!   (`en` matches `en-GB` and `en_gb`, not `eng`).
//! - At save time: lists must not be empty, countries must be ISO 3166 alpha-2 codes with a
//!   calling code, an attribute name is 1 to 64 characters of letters, digits and `_` (the names
//!   merge fields can use), a numeric comparison needs a number, recency needs 1 to 36,500 days.
//!
//! [`SegmentFilter::matches`] runs for every member of audiences of a million: it allocates
//! nothing for the conditions on text, consent, channel, tags and recency. A country whose
//! calling code is shared (`+1`, `+7`, `+44`...) needs the number plan to tell which country a
//! number is in, the one slow case.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Timestamp;
use crate::model::ConsentStatus;

/// A segment's filter: every condition must hold. An empty filter matches everyone on the
/// campaign's senders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SegmentFilter {
    #[serde(default)]
    pub all: Vec<Condition>,
}

/// A consent status as a filter names it: one of the four statuses, or `none` (never consented).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ConsentFilter {
    Status(ConsentStatus),
    #[serde(rename = "none")]
    None(NoneTag),
}

/// The literal `"none"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NoneTag {
    #[serde(rename = "none")]
    None,
}

/// A contact field a condition can look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactField {
    FirstName,
    LastName,
    Email,
    Phone,
}

/// How a text is compared (case-insensitive; `is_set`/`is_not_set` ignore `value`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextOp {
    Equals,
    NotEquals,
    Contains,
    StartsWith,
    IsSet,
    IsNotSet,
}

/// How a custom attribute is compared: text operators, plus numeric ones (both sides must read
/// as numbers, otherwise the condition does not hold).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueOp {
    Equals,
    NotEquals,
    Contains,
    GreaterThan,
    LessThan,
    IsSet,
    IsNotSet,
}

/// When the last message in one direction was, relative to now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Recency {
    /// Within the last `days` days.
    Within {
        days: u32,
    },
    /// More than `days` days ago, or never.
    NotWithin {
        days: u32,
    },
    Never,
}

/// One condition of a filter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "field", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// The messaging user is on one of these channels.
    Channel {
        channels: Vec<Uuid>,
    },
    Consent {
        statuses: Vec<ConsentFilter>,
    },
    /// The locale is one of these; `en` also matches `en-GB` (language prefix).
    Locale {
        locales: Vec<String>,
    },
    /// The number's country (ISO 3166 alpha-2), from the platform key.
    Country {
        countries: Vec<String>,
    },
    Contact {
        name: ContactField,
        op: TextOp,
        #[serde(default)]
        value: String,
    },
    /// A custom attribute of the messaging user (or of its contact, the user's own winning).
    Attribute {
        name: String,
        op: ValueOp,
        #[serde(default)]
        value: String,
    },
    /// Has (or has not) this tag.
    Tag {
        tag: String,
        present: bool,
    },
    LastInbound {
        recency: Recency,
    },
    LastOutbound {
        recency: Recency,
    },
}

/// One messaging user with what a filter and a message can look at, as the store reads it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Member {
    pub messaging_user_id: Uuid,
    pub channel_id: Uuid,
    pub platform_key: String,
    pub name: String,
    pub consent: Option<ConsentStatus>,
    pub locale: Option<String>,
    pub contact_id: Option<Uuid>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// Custom attributes (the user's, over its contact's), as a JSON object.
    pub attributes: serde_json::Map<String, serde_json::Value>,
    pub tags: Vec<String>,
    pub last_inbound_at: Option<Timestamp>,
    pub last_outbound_at: Option<Timestamp>,
    /// The open session on this channel, if any: its id and when the customer last wrote in it.
    pub open_session: Option<OpenSession>,
    /// The conversation the user's sessions on this channel share, if any.
    pub conversation_id: Option<Uuid>,
}

/// The member's open session, as the expansion needs it (SE-18: a campaign message from the
/// same sender appears in it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenSession {
    pub session_id: Uuid,
    pub last_customer_at: Option<Timestamp>,
}

/// Why a filter cannot be saved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("condition {index}: {reason}")]
    Invalid { index: usize, reason: String },
}

impl SegmentFilter {
    /// Checks the filter can be evaluated (non-empty lists, known countries, attribute names of
    /// 1 to 64 characters, a value where the operator needs one), at save time.
    pub fn validate(&self) -> Result<(), FilterError> {
        for (index, c) in self.all.iter().enumerate() {
            c.validate()
                .map_err(|reason| FilterError::Invalid { index, reason })?;
        }
        Ok(())
    }

    /// Whether `member` matches every condition at `now`.
    pub fn matches(&self, member: &Member, now: Timestamp) -> bool {
        self.all.iter().all(|c| c.matches(member, now))
    }

    /// The channels the filter is limited to, if it names any (lets the store read less).
    pub fn channels(&self) -> Option<Vec<Uuid>> {
        let mut out: Option<Vec<Uuid>> = None;
        for c in &self.all {
            if let Condition::Channel { channels } = c {
                out = Some(match out {
                    // Every condition must hold: a member is on a channel of each list.
                    Some(prev) => prev.into_iter().filter(|x| channels.contains(x)).collect(),
                    None => {
                        let mut v = channels.clone();
                        v.sort_unstable();
                        v.dedup();
                        v
                    }
                });
            }
        }
        out
    }
}

const MAX_DAYS: u32 = 36_500;

impl Condition {
    fn validate(&self) -> Result<(), String> {
        let non_empty = |empty: bool, what: &str| {
            if empty {
                Err(format!("give at least one {what}"))
            } else {
                Ok(())
            }
        };
        match self {
            Self::Channel { channels } => non_empty(channels.is_empty(), "channel"),
            Self::Consent { statuses } => non_empty(statuses.is_empty(), "consent status"),
            Self::Locale { locales } => {
                non_empty(locales.is_empty(), "locale")?;
                match locales.iter().find(|l| !valid_locale(l)) {
                    Some(bad) => Err(format!("'{bad}' is not a locale (e.g. en or en-GB)")),
                    None => Ok(()),
                }
            }
            Self::Country { countries } => {
                non_empty(countries.is_empty(), "country")?;
                match countries.iter().find(|c| region_code(c).is_none()) {
                    Some(bad) => Err(format!(
                        "'{bad}' is not a country code (ISO 3166 alpha-2, e.g. GB)"
                    )),
                    None => Ok(()),
                }
            }
            Self::Contact { op, value, .. } => match op {
                TextOp::IsSet | TextOp::IsNotSet => Ok(()),
                _ if value.trim().is_empty() => Err("give a value to compare with".into()),
                _ => Ok(()),
            },
            Self::Attribute { name, op, value } => {
                let valid = (1..=64).contains(&name.len())
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                if !valid {
                    return Err(format!(
                        "'{name}' is not an attribute name (1 to 64 letters, digits or _)"
                    ));
                }
                match op {
                    ValueOp::IsSet | ValueOp::IsNotSet => Ok(()),
                    ValueOp::GreaterThan | ValueOp::LessThan => number(value)
                        .map(|_| ())
                        .ok_or_else(|| format!("'{value}' is not a number")),
                    _ if value.trim().is_empty() => Err("give a value to compare with".into()),
                    _ => Ok(()),
                }
            }
            Self::Tag { tag, .. } => non_empty(tag.trim().is_empty(), "tag"),
            Self::LastInbound { recency } | Self::LastOutbound { recency } => match recency {
                Recency::Within { days } | Recency::NotWithin { days }
                    if !(1..=MAX_DAYS).contains(days) =>
                {
                    Err(format!("days must be 1 to {MAX_DAYS}"))
                }
                _ => Ok(()),
            },
        }
    }

    fn matches(&self, m: &Member, now: Timestamp) -> bool {
        match self {
            Self::Channel { channels } => channels.contains(&m.channel_id),
            Self::Consent { statuses } => statuses.iter().any(|s| match s {
                ConsentFilter::Status(s) => m.consent == Some(*s),
                ConsentFilter::None(_) => m.consent.is_none(),
            }),
            Self::Locale { locales } => m
                .locale
                .as_deref()
                .is_some_and(|have| locales.iter().any(|want| locale_matches(have, want))),
            Self::Country { countries } => country_matches(&m.platform_key, countries),
            Self::Contact { name, op, value } => {
                let have = match name {
                    ContactField::FirstName => m.first_name.as_deref(),
                    ContactField::LastName => m.last_name.as_deref(),
                    ContactField::Email => m.email.as_deref(),
                    ContactField::Phone => m.phone.as_deref(),
                };
                text_op(have, *op, value)
            }
            Self::Attribute { name, op, value } => attribute_op(m.attributes.get(name), *op, value),
            Self::Tag { tag, present } => m.tags.iter().any(|t| text_eq(t, tag)) == *present,
            Self::LastInbound { recency } => recent(m.last_inbound_at, *recency, now),
            Self::LastOutbound { recency } => recent(m.last_outbound_at, *recency, now),
        }
    }
}

/// Lowercase characters of `s`, trimmed, without allocating.
fn folded(s: &str) -> impl Iterator<Item = char> + Clone + '_ {
    s.trim().chars().flat_map(char::to_lowercase)
}

fn text_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim(), b.trim());
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    folded(a).eq(folded(b))
}

fn text_starts_with(hay: &str, needle: &str) -> bool {
    let mut h = folded(hay);
    folded(needle).all(|c| h.next() == Some(c))
}

fn text_contains(hay: &str, needle: &str) -> bool {
    let (hay, needle) = (hay.trim(), needle.trim());
    if hay.is_ascii() && needle.is_ascii() {
        let (h, n) = (hay.as_bytes(), needle.as_bytes());
        return n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n));
    }
    // Fold each side once into a buffer on the stack; only text longer than it folds per probe.
    let (mut h_buf, mut n_buf) = (['\0'; FOLD_BUFFER], ['\0'; FOLD_BUFFER]);
    if let (Some(h), Some(n)) = (fold_into(hay, &mut h_buf), fold_into(needle, &mut n_buf)) {
        return n.is_empty() || h.windows(n.len()).any(|w| w == n);
    }
    let mut h = folded(hay);
    loop {
        let mut probe = h.clone();
        if folded(needle).all(|c| probe.next() == Some(c)) {
            return true;
        }
        if h.next().is_none() {
            return false;
        }
    }
}

/// Characters of a folded text kept on the stack (names, emails, tags and attribute values fit).
const FOLD_BUFFER: usize = 96;

/// `s` folded into `buf`, or `None` when it does not fit.
fn fold_into<'b>(s: &str, buf: &'b mut [char; FOLD_BUFFER]) -> Option<&'b [char]> {
    let mut len = 0;
    for c in folded(s) {
        *buf.get_mut(len)? = c;
        len += 1;
    }
    buf.get(..len)
}

fn text_op(have: Option<&str>, op: TextOp, value: &str) -> bool {
    let have = have.filter(|h| !h.trim().is_empty());
    match (op, have) {
        (TextOp::IsSet, h) => h.is_some(),
        (TextOp::IsNotSet, h) => h.is_none(),
        (TextOp::NotEquals, None) => true,
        (_, None) => false,
        (TextOp::Equals, Some(h)) => text_eq(h, value),
        (TextOp::NotEquals, Some(h)) => !text_eq(h, value),
        (TextOp::Contains, Some(h)) => text_contains(h, value),
        (TextOp::StartsWith, Some(h)) => text_starts_with(h, value),
    }
}

fn number(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

fn attribute_set(v: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match v {
        J::Null => false,
        J::String(s) => !s.trim().is_empty(),
        J::Array(a) => !a.is_empty(),
        J::Object(o) => !o.is_empty(),
        J::Bool(_) | J::Number(_) => true,
    }
}

/// `equals` or `contains` on one attribute value (a list item included).
fn attribute_text(v: &serde_json::Value, contains: bool, want: &str) -> bool {
    use serde_json::Value as J;
    match v {
        J::String(s) if contains => text_contains(s, want),
        J::String(s) => text_eq(s, want),
        J::Bool(b) => {
            let s = if *b { "true" } else { "false" };
            if contains {
                text_contains(s, want)
            } else {
                text_eq(s, want)
            }
        }
        J::Number(n) if !contains => match (n.as_f64(), number(want)) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        },
        J::Number(n) => text_contains(&n.to_string(), want),
        J::Array(items) => items
            .iter()
            .any(|i| !i.is_array() && attribute_text(i, contains, want)),
        J::Null | J::Object(_) => false,
    }
}

fn attribute_op(have: Option<&serde_json::Value>, op: ValueOp, value: &str) -> bool {
    let have = have.filter(|v| attribute_set(v));
    match (op, have) {
        (ValueOp::IsSet, h) => h.is_some(),
        (ValueOp::IsNotSet, h) => h.is_none(),
        (ValueOp::NotEquals, None) => true,
        (_, None) => false,
        (ValueOp::Equals, Some(v)) => attribute_text(v, false, value),
        (ValueOp::NotEquals, Some(v)) => !attribute_text(v, false, value),
        (ValueOp::Contains, Some(v)) => attribute_text(v, true, value),
        (ValueOp::GreaterThan | ValueOp::LessThan, Some(v)) => {
            let have = match v {
                serde_json::Value::Number(n) => n.as_f64(),
                serde_json::Value::String(s) => number(s),
                _ => None,
            };
            match (have, number(value)) {
                (Some(a), Some(b)) if op == ValueOp::GreaterThan => a > b,
                (Some(a), Some(b)) => a < b,
                _ => false,
            }
        }
    }
}

fn valid_locale(l: &str) -> bool {
    let l = l.trim();
    !l.is_empty()
        && l.len() <= 35
        && l.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !l.starts_with(['-', '_'])
}

fn locale_matches(have: &str, want: &str) -> bool {
    let (have, want) = (have.trim().as_bytes(), want.trim().as_bytes());
    let same = |a: &u8, b: &u8| {
        let norm = |c: u8| {
            if c == b'_' {
                b'-'
            } else {
                c.to_ascii_lowercase()
            }
        };
        norm(*a) == norm(*b)
    };
    if want.is_empty() || have.len() < want.len() {
        return false;
    }
    let prefix = have.iter().zip(want).all(|(a, b)| same(a, b));
    prefix && matches!(have.get(want.len()), None | Some(b'-' | b'_'))
}

fn recent(at: Option<Timestamp>, recency: Recency, now: Timestamp) -> bool {
    let within = |days: u32| {
        at.is_some_and(|t| now.millis().saturating_sub(t.millis()) <= i64::from(days) * 86_400_000)
    };
    match recency {
        Recency::Within { days } => within(days),
        Recency::NotWithin { days } => !within(days),
        Recency::Never => at.is_none(),
    }
}

/// A region code as two uppercase ASCII letters.
fn region_key(region: &str) -> Option<[u8; 2]> {
    match region.trim().as_bytes() {
        [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
            Some([a.to_ascii_uppercase(), b.to_ascii_uppercase()])
        }
        _ => None,
    }
}

/// The number plan, read once: each region's calling code, and each calling code's regions.
struct Plan {
    /// By `(first letter, second letter)`, `A` = 0; 0 for no region.
    code_of: [[u16; 26]; 26],
    /// The regions of each calling code (0..1000).
    regions_of: Vec<Vec<[u8; 2]>>,
}

fn plan() -> &'static Plan {
    static PLAN: OnceLock<Plan> = OnceLock::new();
    PLAN.get_or_init(|| {
        let mut plan = Plan {
            code_of: [[0; 26]; 26],
            regions_of: vec![Vec::new(); 1000],
        };
        for code in 1u16..1000 {
            for region in phonenumber::metadata::DATABASE
                .region(&code)
                .unwrap_or_default()
            {
                let Some(key) = region_key(region) else {
                    continue;
                };
                let (a, b) = (usize::from(key[0] - b'A'), usize::from(key[1] - b'A'));
                if let Some(slot) = plan.code_of.get_mut(a).and_then(|r| r.get_mut(b)) {
                    *slot = code;
                }
                if let Some(list) = plan.regions_of.get_mut(usize::from(code)) {
                    list.push(key);
                }
            }
        }
        plan
    })
}

/// The calling code of a country (ISO 3166 alpha-2), `None` for an unknown country.
fn region_code(region: &str) -> Option<u16> {
    let key = region_key(region)?;
    let (a, b) = (usize::from(key[0] - b'A'), usize::from(key[1] - b'A'));
    plan()
        .code_of
        .get(a)
        .and_then(|r| r.get(b))
        .copied()
        .filter(|c| *c != 0)
}

/// The country (ISO 3166 alpha-2, uppercase) of an E.164 number, from the number plan: `GB` for
/// `+447400123456`. `None` when the number is not E.164, or its range belongs to no country (the
/// non-geographic `+800`).
pub fn country_of(e164: &str) -> Option<String> {
    let key = country_key(e164)?;
    Some(String::from_utf8_lossy(&key).into_owned())
}

fn country_key(e164: &str) -> Option<[u8; 2]> {
    let code = super::eligibility::calling_code(e164)?;
    match plan().regions_of.get(usize::from(code))?.as_slice() {
        [] => None,
        [only] => Some(*only),
        _ => shared_code_country(e164, code),
    }
}

/// Leading national digits that decide the country of a number on a shared calling code: the
/// area code on `+1` (3 digits), up to 6 on `+44` (Jersey's `7797`, Guernsey's `7781`...).
const DECIDING_DIGITS: usize = 6;

/// Most prefixes remembered; past it a lookup reads the number plan every time rather than grow.
const PREFIX_CACHE_LIMIT: usize = 200_000;

type PrefixCache = std::sync::RwLock<std::collections::HashMap<u64, [u8; 2]>>;

/// The country of a number on a calling code several countries share. The number plan answers
/// with regular expressions over the whole number (tens of microseconds); the answer depends on
/// the leading digits only, so it is remembered per calling code and prefix, and an audience of a
/// million numbers asks the number plan a few thousand times. Only countries found are
/// remembered: a number the plan places nowhere (too short, say) must not decide for the valid
/// numbers that share its prefix.
fn shared_code_country(e164: &str, code: u16) -> Option<[u8; 2]> {
    static CACHE: OnceLock<PrefixCache> = OnceLock::new();
    let national = e164
        .strip_prefix('+')?
        .get(code.to_string().len()..)
        .unwrap_or_default();
    let mut key = u64::from(code);
    let mut digits = 0u64;
    for b in national.bytes().take(DECIDING_DIGITS) {
        if !b.is_ascii_digit() {
            return None;
        }
        key = key * 10 + u64::from(b - b'0');
        digits += 1;
    }
    // The count of digits read keeps "+44 12" apart from "+44 012".
    let key = key << 3 | digits;
    let cache = CACHE.get_or_init(Default::default);
    if let Some(hit) = cache.read().ok().and_then(|c| c.get(&key).copied()) {
        return Some(hit);
    }
    let found = phonenumber::parse(None, e164)
        .ok()
        .and_then(|n| n.country().id())
        .and_then(|id| region_key(id.as_ref()));
    if let (Some(country), Ok(mut c)) = (found, cache.write())
        && c.len() < PREFIX_CACHE_LIMIT
    {
        c.insert(key, country);
    }
    found
}

fn country_matches(platform_key: &str, countries: &[String]) -> bool {
    let Some(code) = super::eligibility::calling_code(platform_key) else {
        return false;
    };
    // Cheap first: a member whose calling code no wanted country has cannot match.
    if !countries.iter().any(|c| region_code(c) == Some(code)) {
        return false;
    }
    let Some(have) = country_key(platform_key) else {
        return false;
    };
    countries.iter().any(|c| region_key(c) == Some(have))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConsentStatus::*;
    use proptest::prelude::*;
    use serde_json::json;

    const DAY: i64 = 86_400_000;
    const NOW: Timestamp = Timestamp::from_millis(1_763_719_200_000);

    fn ago(days: i64) -> Option<Timestamp> {
        Some(Timestamp::from_millis(NOW.millis() - days * DAY))
    }

    fn member() -> Member {
        let mut attributes = serde_json::Map::new();
        attributes.insert("tier".into(), json!("Gold"));
        attributes.insert("points".into(), json!(120));
        attributes.insert("ratio".into(), json!("2.5"));
        attributes.insert("vip".into(), json!(true));
        attributes.insert("interests".into(), json!(["Shoes", "hats"]));
        attributes.insert("blank".into(), json!(" "));
        attributes.insert("nothing".into(), serde_json::Value::Null);
        attributes.insert("profile".into(), json!({"a": 1}));
        Member {
            messaging_user_id: Uuid::from_u128(1),
            channel_id: Uuid::from_u128(10),
            platform_key: "+447400123456".into(),
            name: "Zoë".into(),
            consent: Some(ExplicitlyOptedIn),
            locale: Some("en_GB".into()),
            first_name: Some("Zoë".into()),
            last_name: Some("ÖZTÜRK".into()),
            email: Some("zoe@Example.com".into()),
            phone: None,
            attributes,
            tags: vec!["VIP".into(), "Newsletter".into()],
            last_inbound_at: ago(3),
            last_outbound_at: None,
            ..Member::default()
        }
    }

    fn one(c: Condition) -> bool {
        let f = SegmentFilter { all: vec![c] };
        f.validate().unwrap();
        f.matches(&member(), NOW)
    }

    fn contact(name: ContactField, op: TextOp, value: &str) -> Condition {
        Condition::Contact {
            name,
            op,
            value: value.into(),
        }
    }

    fn attr(name: &str, op: ValueOp, value: &str) -> Condition {
        Condition::Attribute {
            name: name.into(),
            op,
            value: value.into(),
        }
    }

    #[test]
    fn empty_filter_matches_everyone() {
        let f = SegmentFilter::default();
        assert!(f.validate().is_ok());
        assert!(f.matches(&member(), NOW));
        assert!(f.matches(&Member::default(), NOW));
        assert_eq!(f.channels(), None);
    }

    #[test]
    fn channel_and_consent() {
        assert!(one(Condition::Channel {
            channels: vec![Uuid::from_u128(9), Uuid::from_u128(10)]
        }));
        assert!(!one(Condition::Channel {
            channels: vec![Uuid::from_u128(9)]
        }));
        assert!(one(Condition::Consent {
            statuses: vec![ConsentFilter::Status(ExplicitlyOptedIn)]
        }));
        assert!(!one(Condition::Consent {
            statuses: vec![
                ConsentFilter::Status(DoublyOptedIn),
                ConsentFilter::None(NoneTag::None)
            ]
        }));
        let none = SegmentFilter {
            all: vec![Condition::Consent {
                statuses: vec![ConsentFilter::None(NoneTag::None)],
            }],
        };
        assert!(none.matches(&Member::default(), NOW));
    }

    #[test]
    fn the_filter_json_reads_as_documented() {
        let f: SegmentFilter = serde_json::from_value(json!({"all": [
            {"field": "consent", "statuses": ["ExplicitlyOptedIn", "none"]},
            {"field": "country", "countries": ["gb"]},
            {"field": "attribute", "name": "points", "op": "greater_than", "value": "100"},
            {"field": "last_inbound", "recency": {"op": "within", "days": 7}},
            {"field": "tag", "tag": "vip", "present": true},
        ]}))
        .unwrap();
        f.validate().unwrap();
        assert!(f.matches(&member(), NOW));
    }

    #[test]
    fn text_comparisons_fold_case() {
        use ContactField::*;
        use TextOp::*;
        assert!(one(contact(FirstName, Equals, "ZOË")));
        assert!(one(contact(LastName, Equals, " öztürk ")));
        assert!(one(contact(LastName, StartsWith, "özt")));
        assert!(!one(contact(LastName, StartsWith, "türk")));
        assert!(one(contact(LastName, Contains, "TÜR")));
        assert!(one(contact(Email, Contains, "@example.COM")));
        assert!(!one(contact(Email, Contains, "example.org")));
        assert!(one(contact(Email, NotEquals, "x@example.com")));
        assert!(!one(contact(Email, NotEquals, "ZOE@example.com")));
        assert!(one(contact(Email, IsSet, "")));
        assert!(one(contact(Phone, IsNotSet, "")));
        // No value: only not_equals and is_not_set hold.
        assert!(one(contact(Phone, NotEquals, "+1")));
        assert!(!one(contact(Phone, Equals, "+1")));
        assert!(!one(contact(Phone, Contains, "+1")));
        assert!(!one(contact(Phone, StartsWith, "+1")));
        assert!(!one(contact(Phone, IsSet, "")));
    }

    #[test]
    fn attributes() {
        use ValueOp::*;
        assert!(one(attr("tier", Equals, "gold")));
        assert!(one(attr("tier", Contains, "OL")));
        assert!(one(attr("tier", NotEquals, "silver")));
        assert!(one(attr("points", Equals, "120")));
        assert!(one(attr("points", Equals, "120.0")));
        assert!(one(attr("points", Contains, "12")));
        assert!(one(attr("points", GreaterThan, "100")));
        assert!(!one(attr("points", GreaterThan, "120")));
        assert!(one(attr("points", LessThan, "120.5")));
        assert!(
            one(attr("ratio", GreaterThan, "2")),
            "a string that reads as a number"
        );
        assert!(
            !one(attr("tier", GreaterThan, "2")),
            "not a number: does not hold"
        );
        assert!(!one(attr("tier", LessThan, "2")));
        assert!(one(attr("vip", Equals, "TRUE")));
        assert!(one(attr("interests", Equals, "shoes")));
        assert!(one(attr("interests", Contains, "HAT")));
        assert!(!one(attr("interests", Equals, "socks")));
        assert!(one(attr("profile", IsSet, "")));
        assert!(!one(attr("profile", Equals, "1")));
        for unset in ["blank", "nothing", "absent"] {
            assert!(one(attr(unset, IsNotSet, "")), "{unset}");
            assert!(!one(attr(unset, IsSet, "")), "{unset}");
            assert!(one(attr(unset, NotEquals, "x")), "{unset}");
            assert!(!one(attr(unset, Equals, "x")), "{unset}");
            assert!(!one(attr(unset, LessThan, "1")), "{unset}");
        }
    }

    #[test]
    fn locale_country_and_tags() {
        let loc = |l: &[&str]| Condition::Locale {
            locales: l.iter().map(|s| (*s).to_owned()).collect(),
        };
        assert!(one(loc(&["en"])));
        assert!(one(loc(&["fr", "EN-gb"])));
        assert!(!one(loc(&["en-US"])));
        assert!(!one(loc(&["e"])));
        let mut m = member();
        m.locale = Some("eng".into());
        assert!(
            !SegmentFilter {
                all: vec![loc(&["en"])]
            }
            .matches(&m, NOW)
        );
        m.locale = None;
        assert!(
            !SegmentFilter {
                all: vec![loc(&["en"])]
            }
            .matches(&m, NOW)
        );

        let country = |c: &[&str]| Condition::Country {
            countries: c.iter().map(|s| (*s).to_owned()).collect(),
        };
        assert!(one(country(&["gb"])));
        assert!(one(country(&["IE", "GB"])));
        assert!(!one(country(&["IE"])));
        assert!(!one(country(&["US"])));
        let us = |key: &str| Member {
            platform_key: key.into(),
            ..Member::default()
        };
        let f = SegmentFilter {
            all: vec![country(&["CA"])],
        };
        assert!(f.matches(&us("+16135550123"), NOW), "Ottawa is in Canada");
        assert!(!f.matches(&us("+12125550123"), NOW), "New York is not");
        assert!(!f.matches(&us("not a number"), NOW));

        assert!(one(Condition::Tag {
            tag: "vip".into(),
            present: true
        }));
        assert!(!one(Condition::Tag {
            tag: "vip".into(),
            present: false
        }));
        assert!(one(Condition::Tag {
            tag: "gone".into(),
            present: false
        }));
    }

    #[test]
    fn country_of_reads_the_number_plan() {
        assert_eq!(country_of("+447400123456").as_deref(), Some("GB"));
        assert_eq!(country_of("+353861234567").as_deref(), Some("IE"));
        assert_eq!(country_of("+16135550123").as_deref(), Some("CA"));
        assert_eq!(country_of("+12125550123").as_deref(), Some("US"));
        assert_eq!(country_of("+33612345678").as_deref(), Some("FR"));
        assert_eq!(country_of("+80012345678"), None);
        // Asked twice (the second answer comes from the prefix cache), and a number the plan
        // places nowhere does not decide for the valid ones after it.
        assert_eq!(country_of("+16135550199").as_deref(), Some("CA"));
        assert_eq!(country_of("+16135550123").as_deref(), Some("CA"));
        assert_eq!(country_of("+447797123456").as_deref(), Some("JE"));
        assert_eq!(country_of("+447781123456").as_deref(), Some("GG"));
        assert_eq!(country_of("+447624123456").as_deref(), Some("IM"));
        let _ = country_of("+1869");
        assert_eq!(country_of("+18694652222").as_deref(), Some("KN"));
        assert_eq!(country_of("07400123456"), None);
    }

    #[test]
    fn recency() {
        let c = |r| Condition::LastInbound { recency: r };
        assert!(one(c(Recency::Within { days: 3 })));
        assert!(!one(c(Recency::Within { days: 2 })));
        assert!(one(c(Recency::NotWithin { days: 2 })));
        assert!(!one(c(Recency::Never)));
        let o = |r| Condition::LastOutbound { recency: r };
        assert!(one(o(Recency::Never)));
        assert!(one(o(Recency::NotWithin { days: 30 })));
        assert!(!one(o(Recency::Within { days: 30 })));
        let mut m = member();
        m.last_inbound_at = Some(Timestamp::from_millis(NOW.millis() + DAY));
        let f = SegmentFilter {
            all: vec![c(Recency::Within { days: 1 })],
        };
        assert!(f.matches(&m, NOW), "a time in the future is recent");
    }

    #[test]
    fn every_condition_must_hold() {
        let f = SegmentFilter {
            all: vec![
                Condition::Channel {
                    channels: vec![Uuid::from_u128(10)],
                },
                attr("tier", ValueOp::Equals, "silver"),
            ],
        };
        assert!(!f.matches(&member(), NOW));
    }

    #[test]
    fn validation() {
        let bad = |c: Condition| {
            SegmentFilter {
                all: vec![one_ok(), c],
            }
            .validate()
            .unwrap_err()
        };
        fn one_ok() -> Condition {
            Condition::Tag {
                tag: "x".into(),
                present: true,
            }
        }
        assert!(matches!(
            bad(Condition::Channel { channels: vec![] }),
            FilterError::Invalid { index: 1, .. }
        ));
        bad(Condition::Consent { statuses: vec![] });
        bad(Condition::Locale { locales: vec![] });
        bad(Condition::Locale {
            locales: vec!["en GB".into()],
        });
        bad(Condition::Country { countries: vec![] });
        bad(Condition::Country {
            countries: vec!["XX".into()],
        });
        bad(Condition::Country {
            countries: vec!["GBR".into()],
        });
        bad(contact(ContactField::Email, TextOp::Equals, " "));
        bad(attr("", ValueOp::IsSet, ""));
        bad(attr(&"a".repeat(65), ValueOp::IsSet, ""));
        bad(attr("a b", ValueOp::IsSet, ""));
        bad(attr("points", ValueOp::GreaterThan, "lots"));
        bad(attr("points", ValueOp::Equals, ""));
        bad(Condition::Tag {
            tag: " ".into(),
            present: true,
        });
        bad(Condition::LastInbound {
            recency: Recency::Within { days: 0 },
        });
        bad(Condition::LastOutbound {
            recency: Recency::NotWithin { days: 40_000 },
        });
        assert!(
            SegmentFilter {
                all: vec![attr(&"a".repeat(64), ValueOp::IsSet, "")]
            }
            .validate()
            .is_ok()
        );
        assert!(
            SegmentFilter {
                all: vec![contact(ContactField::Phone, TextOp::IsSet, "")]
            }
            .validate()
            .is_ok()
        );
    }

    #[test]
    fn channels_the_store_may_limit_to() {
        let (a, b, c) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let f = SegmentFilter {
            all: vec![
                Condition::Channel {
                    channels: vec![b, a, a],
                },
                Condition::Tag {
                    tag: "x".into(),
                    present: true,
                },
            ],
        };
        assert_eq!(f.channels(), Some(vec![a, b]));
        let f = SegmentFilter {
            all: vec![
                Condition::Channel {
                    channels: vec![a, b],
                },
                Condition::Channel {
                    channels: vec![b, c],
                },
            ],
        };
        assert_eq!(f.channels(), Some(vec![b]));
    }

    #[test]
    fn matches_cost() {
        // A rough figure, printed only: the budget is well under a microsecond in release for
        // three simple conditions.
        let f = SegmentFilter {
            all: vec![
                Condition::Consent {
                    statuses: vec![ConsentFilter::Status(ExplicitlyOptedIn)],
                },
                Condition::Locale {
                    locales: vec!["en".into()],
                },
                contact(ContactField::LastName, TextOp::Contains, "türk"),
            ],
        };
        let m = member();
        let n = 100_000u32;
        let start = std::time::Instant::now();
        for _ in 0..n {
            assert!(f.matches(std::hint::black_box(&m), NOW));
        }
        println!("matches: {:?} per member", start.elapsed() / n);
        // A country sharing its calling code (+44: GB, GG, IM, JE) reads the number plan.
        let f = SegmentFilter {
            all: vec![Condition::Country {
                countries: vec!["GB".into()],
            }],
        };
        assert!(f.matches(&m, NOW), "the number plan loads on first use");
        let n = 20_000u32;
        let start = std::time::Instant::now();
        for _ in 0..n {
            assert!(f.matches(std::hint::black_box(&m), NOW));
        }
        println!(
            "matches (country on a shared code): {:?} per member",
            start.elapsed() / n
        );
    }

    proptest! {
        #[test]
        fn text_equality_is_case_blind(s in "\\PC{0,12}") {
            prop_assert!(text_eq(&s, &s.to_uppercase()) || s.to_uppercase().to_lowercase() != s.to_lowercase());
            prop_assert!(text_contains(&s, ""));
            prop_assert!(text_starts_with(&s, &s));
            let padded = format!("x{}y", s);
            prop_assert!(text_contains(&padded, &s));
            let long = format!("{}{}", "é".repeat(FOLD_BUFFER), s.to_uppercase());
            prop_assert!(text_contains(&long, &s) || s.to_uppercase().to_lowercase() != s.to_lowercase());
        }

        #[test]
        fn is_set_and_is_not_set_partition_members(
            value in proptest::option::of("[ a-z]{0,4}"),
            name in proptest::sample::select(vec![ContactField::FirstName, ContactField::Email]),
        ) {
            let mut m = member();
            m.first_name = value.clone();
            m.email = value;
            let set = SegmentFilter { all: vec![contact(name, TextOp::IsSet, "")] }.matches(&m, NOW);
            let unset = SegmentFilter { all: vec![contact(name, TextOp::IsNotSet, "")] }.matches(&m, NOW);
            prop_assert_ne!(set, unset);
        }

        #[test]
        fn equals_and_not_equals_are_opposites(v in "[a-zA-Z0-9 ]{1,6}", have in proptest::option::of("[a-zA-Z0-9 ]{0,6}")) {
            prop_assume!(!v.trim().is_empty());
            let mut m = member();
            m.first_name = have;
            let eq = SegmentFilter { all: vec![contact(ContactField::FirstName, TextOp::Equals, &v)] }.matches(&m, NOW);
            let ne = SegmentFilter { all: vec![contact(ContactField::FirstName, TextOp::NotEquals, &v)] }.matches(&m, NOW);
            prop_assert_ne!(eq, ne);
        }

        #[test]
        fn the_prefix_cache_agrees_with_the_number_plan(
            number in "\\+(1[2-9][0-9]{9}|44[17][0-9]{9}|7[0-9]{10}|262[0-9]{9}|590[0-9]{9}|61[0-9]{9})",
        ) {
            let plan = phonenumber::parse(None, &number)
                .ok()
                .and_then(|n| n.country().id())
                .map(|id| id.as_ref().to_owned());
            if plan.is_some() {
                prop_assert_eq!(country_of(&number), plan);
            }
        }

        #[test]
        fn within_and_not_within_partition(days in 1u32..400, age in proptest::option::of(-10i64..500)) {
            let at = age.map(|a| Timestamp::from_millis(NOW.millis() - a * DAY / 2));
            prop_assert_ne!(
                recent(at, Recency::Within { days }, NOW),
                recent(at, Recency::NotWithin { days }, NOW)
            );
        }
    }
}
