//! Access, restriction and erasure requests (PRIV-02, PRIV-04..06, PRIV-09, SE-11): who a request
//! is about, what an erasure removes and reports, what it keeps, and which sessions may be
//! deleted alone.
//!
//! What is kept: of a person who opted out, only a one-way keyed hash of each platform key with
//! the opt-out time and source (an [`OptOutProof`]), so a number erased after STOP is never
//! messaged again. Cases stay as the business's records with their personal fields blanked; a
//! contact with cases stays as an empty shell they point at. Reports' aggregates hold counts per
//! channel, queue and agent only, never a person, so they are not touched.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::{ConsentStatus, SessionStatus};
use crate::phone::E164;

/// Who a privacy request is about. A phone number reaches every messaging user with that
/// platform key on any channel and every contact with that phone; an e-mail reaches the contacts
/// with it (and their messaging users); a contact reaches its messaging users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Subject {
    Phone(E164),
    Email(String),
    MessagingUser(Uuid),
    Contact(Uuid),
}

/// Why a subject given as text is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubjectError {
    #[error("give exactly one of phone, email, messaging_user_id, contact_id")]
    NotExactlyOne,
    #[error("phone: not a valid number in international format (+ and country code)")]
    Phone,
    #[error("email: not an e-mail address")]
    Email,
}

impl Subject {
    /// The subject named by exactly one of the four ways to name one (query parameters, CLI
    /// flags). Numbers are parsed to E.164; e-mails are trimmed and compared without case.
    pub fn from_parts(
        phone: Option<&str>,
        email: Option<&str>,
        messaging_user_id: Option<Uuid>,
        contact_id: Option<Uuid>,
    ) -> Result<Self, SubjectError> {
        let given = [
            phone.is_some(),
            email.is_some(),
            messaging_user_id.is_some(),
            contact_id.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(SubjectError::NotExactlyOne);
        }
        if let Some(p) = phone {
            return E164::parse(p.trim())
                .map(Self::Phone)
                .map_err(|_| SubjectError::Phone);
        }
        if let Some(e) = email {
            return normalize_email(e).map(Self::Email);
        }
        if let Some(id) = messaging_user_id {
            return Ok(Self::MessagingUser(id));
        }
        contact_id
            .map(Self::Contact)
            .ok_or(SubjectError::NotExactlyOne)
    }

    /// The subject's kind as stored with a request (never the subject itself once done).
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Phone(_) => "phone",
            Self::Email(_) => "email",
            Self::MessagingUser(_) => "messaging_user",
            Self::Contact(_) => "contact",
        }
    }

    /// The subject as text (what the console's confirmation step asks to be typed).
    pub fn value(&self) -> String {
        match self {
            Self::Phone(p) => p.as_str().to_owned(),
            Self::Email(e) => e.clone(),
            Self::MessagingUser(id) | Self::Contact(id) => id.to_string(),
        }
    }

    /// The subject back from its kind and text.
    pub fn parse(kind: &str, value: &str) -> Result<Self, SubjectError> {
        let id = || Uuid::parse_str(value).map_err(|_| SubjectError::NotExactlyOne);
        match kind {
            "phone" => Self::from_parts(Some(value), None, None, None),
            "email" => Self::from_parts(None, Some(value), None, None),
            "messaging_user" => Ok(Self::MessagingUser(id()?)),
            "contact" => Ok(Self::Contact(id()?)),
            _ => Err(SubjectError::NotExactlyOne),
        }
    }
}

/// An e-mail as compared: trimmed, lower case, one `@` with text on both sides.
pub fn normalize_email(input: &str) -> Result<String, SubjectError> {
    let e = input.trim().to_lowercase();
    let mut parts = e.split('@');
    let ok = matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some(local), Some(domain), None) if !local.is_empty() && !domain.is_empty()
    ) && !e.chars().any(char::is_whitespace)
        && e.len() <= 320;
    if ok { Ok(e) } else { Err(SubjectError::Email) }
}

/// What an erasure removed, by kind: counts only, so it can be kept, shown and logged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ErasureReport {
    pub messaging_users: u64,
    pub contacts: u64,
    /// Contacts kept as empty shells because cases point at them.
    pub contacts_blanked: u64,
    pub sessions_ended: u64,
    pub sessions: u64,
    pub entries: u64,
    pub media_files: u64,
    pub cases_scrubbed: u64,
    pub consent_events: u64,
    pub opt_out_proofs: u64,
    pub link_clicks: u64,
    pub campaign_messages: u64,
    pub flow_runs: u64,
    pub web_visitors: u64,
    pub notifications: u64,
    /// Queued, done or dead-lettered jobs that carried the person's address, text or ids.
    pub jobs: u64,
    pub delivery_errors: u64,
    pub webhook_deliveries: u64,
    pub simulator_messages: u64,
    pub audience_list_members: u64,
}

impl ErasureReport {
    /// The sum of two partial reports (one per messaging user or contact erased).
    #[must_use]
    pub fn plus(self, o: Self) -> Self {
        Self {
            messaging_users: self.messaging_users + o.messaging_users,
            contacts: self.contacts + o.contacts,
            contacts_blanked: self.contacts_blanked + o.contacts_blanked,
            sessions_ended: self.sessions_ended + o.sessions_ended,
            sessions: self.sessions + o.sessions,
            entries: self.entries + o.entries,
            media_files: self.media_files + o.media_files,
            cases_scrubbed: self.cases_scrubbed + o.cases_scrubbed,
            consent_events: self.consent_events + o.consent_events,
            opt_out_proofs: self.opt_out_proofs + o.opt_out_proofs,
            link_clicks: self.link_clicks + o.link_clicks,
            campaign_messages: self.campaign_messages + o.campaign_messages,
            flow_runs: self.flow_runs + o.flow_runs,
            web_visitors: self.web_visitors + o.web_visitors,
            notifications: self.notifications + o.notifications,
            jobs: self.jobs + o.jobs,
            delivery_errors: self.delivery_errors + o.delivery_errors,
            webhook_deliveries: self.webhook_deliveries + o.webhook_deliveries,
            simulator_messages: self.simulator_messages + o.simulator_messages,
            audience_list_members: self.audience_list_members + o.audience_list_members,
        }
    }
}

/// Where an erasure request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErasureStatus {
    /// Queued or under way (a restart resumes it).
    Running,
    Done,
    Failed,
}

impl ErasureStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "running" => Some(Self::Running),
            "done" => Some(Self::Done),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// Whether erasing a messaging user with this consent keeps a proof of its opt-out: only an
/// opted-out person's key is kept (hashed), because that is what stops it being messaged again.
pub const fn keeps_opt_out_proof(consent: Option<ConsentStatus>) -> bool {
    matches!(consent, Some(ConsentStatus::OptedOut))
}

/// The consent source a messaging user created for a key with a proof starts with.
pub const PROOF_SOURCE: &str = "erasure_proof";

/// Why a session may not be deleted alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("only an Ended or Error session can be deleted; this one is {0}: end it first")]
pub struct SessionStillOpen(pub SessionStatus);

/// SE-11 / PRIV-06: a session is deleted alone only once it is final (Ended or Error); an open
/// one is ended first. Deleting it removes its entries and their media too (AMB-29: a session's
/// entries are its transcript, and a transcript without its session has no owner to erase it by).
pub const fn may_delete_session(status: SessionStatus) -> Result<(), SessionStillOpen> {
    if status.is_open() {
        Err(SessionStillOpen(status))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_one_way_names_a_subject() {
        assert_eq!(
            Subject::from_parts(None, None, None, None),
            Err(SubjectError::NotExactlyOne)
        );
        assert_eq!(
            Subject::from_parts(Some("+447400123456"), Some("a@b.c"), None, None),
            Err(SubjectError::NotExactlyOne)
        );
        let p = Subject::from_parts(Some(" +447400123456 "), None, None, None).unwrap();
        assert_eq!(p.value(), "+447400123456");
        assert_eq!(p.kind(), "phone");
        assert_eq!(
            Subject::from_parts(Some("12"), None, None, None),
            Err(SubjectError::Phone)
        );
        let e = Subject::from_parts(None, Some(" Ann@Example.COM "), None, None).unwrap();
        assert_eq!(e, Subject::Email("ann@example.com".into()));
        for bad in ["", "a", "@b", "a@", "a@b@c", "a b@c"] {
            assert_eq!(normalize_email(bad), Err(SubjectError::Email), "{bad}");
        }
        let id = Uuid::from_u128(7);
        assert_eq!(
            Subject::parse("contact", &id.to_string()).unwrap(),
            Subject::Contact(id)
        );
        assert_eq!(
            Subject::parse(p.kind(), &p.value()).unwrap(),
            p,
            "kind and value give the subject back"
        );
    }

    #[test]
    fn only_final_sessions_are_deleted_alone() {
        for s in SessionStatus::ALL {
            assert_eq!(may_delete_session(*s).is_ok(), !s.is_open(), "{s:?}");
        }
        let err = may_delete_session(SessionStatus::Active).unwrap_err();
        assert!(err.to_string().contains("active"), "{err}");
    }

    #[test]
    fn only_an_opt_out_is_kept() {
        assert!(keeps_opt_out_proof(Some(ConsentStatus::OptedOut)));
        assert!(!keeps_opt_out_proof(None));
        assert!(!keeps_opt_out_proof(Some(ConsentStatus::DoublyOptedIn)));
    }

    #[test]
    fn reports_add_up_and_read_partial_json() {
        let a = ErasureReport {
            sessions: 2,
            entries: 5,
            ..ErasureReport::default()
        };
        let b = ErasureReport {
            sessions: 1,
            media_files: 1,
            ..ErasureReport::default()
        };
        let sum = a.plus(b);
        assert_eq!((sum.sessions, sum.entries, sum.media_files), (3, 5, 1));
        let r: ErasureReport = serde_json::from_str(r#"{"entries":4}"#).unwrap();
        assert_eq!(r.entries, 4);
    }
}
