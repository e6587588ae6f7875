//! The CRM's decisions: how a messaging user finds its contact (MU-05..07) and which case status
//! changes are allowed (CMP-01 step 12).

use serde::Deserialize;

use crate::model::CaseStatus;

/// How a messaging user is matched to a contact, per channel. Older configurations named one of
/// three presets (`off`, `match`, `match_or_create`); they still parse, as the rules they meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(from = "MatchingSetting")]
pub struct ContactMatching {
    /// Link to the oldest contact with the user's phone number (SMS and WhatsApp users).
    pub by_phone: bool,
    /// Link to the oldest contact with a given e-mail address (the inbound path has none).
    pub by_email: bool,
    /// Create a contact when nothing matched.
    pub create_when_missing: bool,
}

impl ContactMatching {
    pub const OFF: Self = Self {
        by_phone: false,
        by_email: false,
        create_when_missing: false,
    };
    pub const MATCH: Self = Self {
        by_phone: true,
        by_email: true,
        create_when_missing: false,
    };
    pub const MATCH_OR_CREATE: Self = Self {
        by_phone: true,
        by_email: true,
        create_when_missing: true,
    };

    /// Whether this never links anything by itself.
    pub const fn is_off(self) -> bool {
        !self.by_phone && !self.by_email && !self.create_when_missing
    }

    /// The lookups to make, phone first: only the ones the rule allows and the user can answer.
    pub fn lookups<'a, P>(
        self,
        phone: Option<&'a P>,
        email: Option<&'a str>,
    ) -> (Option<&'a P>, Option<&'a str>) {
        (
            phone.filter(|_| self.by_phone),
            email.filter(|_| self.by_email),
        )
    }

    /// What to do once the lookups answered.
    pub fn decide<T>(self, found: Option<T>) -> MatchDecision<T> {
        match found {
            Some(t) => MatchDecision::Link(t),
            None if self.create_when_missing => MatchDecision::Create,
            None => MatchDecision::Leave,
        }
    }
}

impl Default for ContactMatching {
    fn default() -> Self {
        Self::MATCH
    }
}

/// The outcome of matching: link the found contact, create one, or leave the user unlinked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchDecision<T> {
    Link(T),
    Create,
    Leave,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum MatchingSetting {
    Preset(Preset),
    Rules(Rules),
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Preset {
    Off,
    Match,
    MatchOrCreate,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rules {
    #[serde(default)]
    by_phone: bool,
    #[serde(default)]
    by_email: bool,
    #[serde(default)]
    create_when_missing: bool,
}

impl From<MatchingSetting> for ContactMatching {
    fn from(s: MatchingSetting) -> Self {
        match s {
            MatchingSetting::Preset(Preset::Off) => Self::OFF,
            MatchingSetting::Preset(Preset::Match) => Self::MATCH,
            MatchingSetting::Preset(Preset::MatchOrCreate) => Self::MATCH_OR_CREATE,
            MatchingSetting::Rules(r) => Self {
                by_phone: r.by_phone,
                by_email: r.by_email,
                create_when_missing: r.create_when_missing,
            },
        }
    }
}

/// Why a case's status may not change as asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CaseStatusRefused {
    #[error("the case is closed: reopen it first")]
    Closed,
    #[error("only a closed case can be reopened")]
    NotClosed,
}

/// A case's status change: closing stamps `closed_at`; a closed case changes only through an
/// explicit reopen, which puts it back to `working` (a reopened case is being worked on again).
pub fn case_status_change(
    from: CaseStatus,
    to: CaseStatus,
) -> Result<CaseStatus, CaseStatusRefused> {
    match (from, to) {
        (CaseStatus::Closed, CaseStatus::Closed) => Ok(CaseStatus::Closed),
        (CaseStatus::Closed, _) => Err(CaseStatusRefused::Closed),
        (_, to) => Ok(to),
    }
}

/// Reopening: closed to working, nothing else.
pub fn case_reopen(from: CaseStatus) -> Result<CaseStatus, CaseStatusRefused> {
    match from {
        CaseStatus::Closed => Ok(CaseStatus::Working),
        _ => Err(CaseStatusRefused::NotClosed),
    }
}

/// A case number as people type it: `1001`, `#1001` or `00001001`.
pub fn case_number_query(q: &str) -> Option<i64> {
    let digits = q.trim().trim_start_matches('#');
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: serde_json::Value) -> ContactMatching {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn old_presets_still_parse_as_the_rules_they_meant() {
        assert_eq!(parse(serde_json::json!("off")), ContactMatching::OFF);
        assert_eq!(parse(serde_json::json!("match")), ContactMatching::MATCH);
        assert_eq!(
            parse(serde_json::json!("match_or_create")),
            ContactMatching::MATCH_OR_CREATE
        );
        assert_eq!(ContactMatching::default(), ContactMatching::MATCH);
    }

    #[test]
    fn rules_parse_with_defaults_off_and_refuse_unknown_keys() {
        let m = parse(serde_json::json!({"by_email": true}));
        assert!(!m.by_phone && m.by_email && !m.create_when_missing);
        assert!(parse(serde_json::json!({})).is_off());
        assert!(
            serde_json::from_value::<ContactMatching>(serde_json::json!({"by_fax": true})).is_err()
        );
        assert!(serde_json::from_value::<ContactMatching>(serde_json::json!("sometimes")).is_err());
    }

    #[test]
    fn lookups_follow_the_rule_and_the_decision_creates_only_when_allowed() {
        let phone = "+15550001111".to_owned();
        let only_email = ContactMatching {
            by_phone: false,
            by_email: true,
            create_when_missing: false,
        };
        assert_eq!(
            only_email.lookups(Some(&phone), Some("a@b.c")),
            (None, Some("a@b.c"))
        );
        assert_eq!(only_email.decide::<u8>(None), MatchDecision::Leave);
        assert_eq!(
            ContactMatching::MATCH_OR_CREATE.decide::<u8>(None),
            MatchDecision::Create
        );
        assert_eq!(ContactMatching::OFF.decide(Some(3)), MatchDecision::Link(3));
    }

    #[test]
    fn closed_is_final_except_an_explicit_reopen() {
        use CaseStatus::*;
        assert_eq!(case_status_change(New, Working), Ok(Working));
        assert_eq!(case_status_change(Working, New), Ok(New));
        assert_eq!(case_status_change(Working, Closed), Ok(Closed));
        assert_eq!(case_status_change(Closed, Closed), Ok(Closed));
        assert_eq!(
            case_status_change(Closed, Working),
            Err(CaseStatusRefused::Closed)
        );
        assert_eq!(case_reopen(Closed), Ok(Working));
        assert_eq!(case_reopen(New), Err(CaseStatusRefused::NotClosed));
    }

    #[test]
    fn case_numbers_read_as_people_type_them() {
        assert_eq!(case_number_query("1001"), Some(1001));
        assert_eq!(case_number_query(" #1001 "), Some(1001));
        assert_eq!(case_number_query("00001001"), Some(1001));
        assert_eq!(case_number_query("parcel 1001"), None);
        assert_eq!(case_number_query("#"), None);
        assert_eq!(case_number_query("99999999999999999999"), None);
    }
}
