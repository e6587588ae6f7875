//! SMS keyword processes (KP-01..11): per inbound number, and per provider keyword on a shared short
//! code, an *Unsubscribe* process and a *Help* process that answer a few keywords on their own,
//! outside any conversation.
//!
//! This module validates processes when they are saved, moves them between New, Started and Paused,
//! and decides what an inbound SMS asks of them. Only a Started process handles anything: a New one
//! has not been switched on, and a Paused one is off until restarted (KP-04). The matcher reads the
//! processes as they are stored at the moment the SMS arrives, so an edit to a started process
//! applies to the very next message (KP-04) without any reload step. [`resolve`] is the one rule
//! for who answers a keyword on an SMS number: a started process that covers it, else the channel's
//! own keyword lists.
//!
//! Keywords match exactly as channel keywords do ([`crate::keywords::normalize`]): the whole message
//! after the provider keyword, case-, accent- and edge-punctuation-insensitive. The documents never
//! list the "predefined default keywords" (AMB-22); Parley uses its channel defaults, the opt-out list
//! for Unsubscribe and HELP, INFO for Help, and custom keywords add to them (KP-08).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::keywords::{
    AutoResponse, ChannelProfile, DEFAULT_HELP, DEFAULT_OPT_OUT, KeywordConfig, KeywordFormatError,
    KeywordMatch, Language, ResponseKind, check_custom_keyword, normalize, split_first_word,
};
use crate::model::{ChannelKind, KeywordList, NumberType};

crate::wire_enum! {
    /// What a process does (KP-06).
    pub enum ProcessType: "SMS process type" {
        /// Adds the sender to the channel's unsubscribe list: no more advertising SMS.
        Unsubscribe = "unsubscribe",
        /// Sends the sender the process's message.
        Help = "help",
    }
}

crate::wire_enum! {
    /// Whether a process handles inbound SMS (KP-04).
    pub enum ProcessStatus: "SMS process status" {
        New = "new",
        Started = "started",
        Paused = "paused",
    }
}

crate::wire_enum! {
    /// The status actions of KP-05. Create, edit and delete are plain saves, checked by
    /// [`validate_process`].
    pub enum ProcessAction: "SMS process action" {
        Start = "start",
        Pause = "pause",
    }
}

/// An inbound number, with the provider keyword when the number is a shared short code
/// (`11221 / kids`, KP-02).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundNumber {
    /// A long code in E.164 or a short code's digits.
    pub number: String,
    #[serde(default)]
    pub provider_keyword: Option<String>,
}

/// Numbers compare by their digits and `+` only, so `+49 151 1234` and `+491511234` are one number.
fn number_key(number: &str) -> String {
    number
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '+')
        .collect()
}

impl InboundNumber {
    pub fn new(number: impl Into<String>, provider_keyword: Option<&str>) -> Self {
        Self {
            number: number.into(),
            provider_keyword: provider_keyword.map(str::to_owned),
        }
    }

    /// What kind of number this is, from its shape alone, since a process names a number rather
    /// than a channel: a number written without `+` and of at most eight digits is a short code
    /// (five or six digits in the US, up to eight elsewhere), shared when it has a provider keyword
    /// (KP-02); anything else is a long code.
    pub fn number_type(&self) -> NumberType {
        let trimmed = self.number.trim();
        let digits = trimmed.chars().filter(char::is_ascii_digit).count();
        if trimmed.starts_with('+') || digits > 8 {
            NumberType::LongCode
        } else if self.provider_keyword.is_some() {
            NumberType::SharedShortCode
        } else {
            NumberType::ShortCode
        }
    }

    /// Whether two assignments are the same number and provider keyword.
    pub fn same_as(&self, other: &InboundNumber) -> bool {
        number_key(&self.number) == number_key(&other.number)
            && self.provider_keyword.as_deref().map(normalize)
                == other.provider_keyword.as_deref().map(normalize)
    }

    /// The part of an SMS to this number addressed to this assignment: the whole text, or the text
    /// after the provider keyword; `None` when the SMS names another provider keyword.
    fn service_text<'t>(&self, text: &'t str) -> Option<&'t str> {
        match &self.provider_keyword {
            None => Some(text),
            Some(keyword) => {
                let (first, rest) = split_first_word(text);
                (normalize(first) == normalize(keyword)).then_some(rest)
            }
        }
    }
}

impl std::fmt::Display for InboundNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.provider_keyword {
            Some(k) => write!(f, "{} / {k}", self.number),
            None => f.write_str(&self.number),
        }
    }
}

/// One SMS process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsProcess {
    pub id: Uuid,
    /// Internal name (KP-08).
    pub name: String,
    pub kind: ProcessType,
    pub status: ProcessStatus,
    pub inbound: InboundNumber,
    /// Added to the defaults of the process's type (KP-08).
    #[serde(default)]
    pub custom_keywords: Vec<String>,
    /// The SMS sent to the sender: mandatory for Help, optional for Unsubscribe (KP-10), where the
    /// destination country may even forbid it (KP-11).
    #[serde(default)]
    pub message: Option<String>,
}

impl SmsProcess {
    pub fn default_keywords(kind: ProcessType) -> &'static [&'static str] {
        match kind {
            ProcessType::Unsubscribe => DEFAULT_OPT_OUT,
            ProcessType::Help => DEFAULT_HELP,
        }
    }

    /// The defaults of its type, then its custom keywords.
    pub fn keywords(&self) -> impl Iterator<Item = &str> {
        Self::default_keywords(self.kind)
            .iter()
            .copied()
            .chain(self.custom_keywords.iter().map(String::as_str))
    }

    fn message(&self) -> Option<&str> {
        self.message.as_deref().filter(|m| !m.trim().is_empty())
    }
}

/// One problem with a process.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcessError {
    #[error("the process needs a name")]
    EmptyName,
    #[error(
        "'{number}' is not an inbound number: use a long code such as +4915112348765 or short code digits such as 11221"
    )]
    InvalidNumber { number: String },
    #[error("provider keyword '{keyword}' is not valid: {problem}")]
    InvalidProviderKeyword {
        keyword: String,
        problem: KeywordFormatError,
    },
    #[error("custom keyword '{keyword}' is not valid: {problem}")]
    InvalidCustomKeyword {
        keyword: String,
        problem: KeywordFormatError,
    },
    #[error("'{keyword}' is already a keyword of this process")]
    RepeatedKeyword { keyword: String },
    #[error("a help process must have a message to send")]
    MissingHelpMessage,
    #[error(
        "{inbound} already has the {kind} process '{other}': there may be one process of each type per inbound number and provider keyword"
    )]
    DuplicateProcess {
        kind: ProcessType,
        inbound: String,
        other: String,
    },
    #[error(
        "'{keyword}' is already a keyword of the {other_kind} process '{other}' on the same number"
    )]
    KeywordTaken {
        keyword: String,
        other_kind: ProcessType,
        other: String,
    },
}

/// Every problem found in a process.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid SMS process: {}", join(.errors))]
pub struct InvalidProcess {
    pub errors: Vec<ProcessError>,
}

fn join(errors: &[ProcessError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

fn valid_number(number: &str) -> bool {
    let trimmed = number.trim();
    let body = trimmed.strip_prefix('+').unwrap_or(trimmed);
    let digits = body.chars().filter(char::is_ascii_digit).count();
    digits > 0
        && body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')' | '.'))
}

/// Checks a process before it is saved, against every other stored process (`others` may include
/// the process itself; it is skipped by id).
pub fn validate_process(process: &SmsProcess, others: &[SmsProcess]) -> Result<(), InvalidProcess> {
    let mut errors = Vec::new();
    if process.name.trim().is_empty() {
        errors.push(ProcessError::EmptyName);
    }
    if !valid_number(&process.inbound.number) {
        errors.push(ProcessError::InvalidNumber {
            number: process.inbound.number.clone(),
        });
    }
    if let Some(keyword) = &process.inbound.provider_keyword
        && let Err(problem) = check_provider_keyword(keyword)
    {
        errors.push(ProcessError::InvalidProviderKeyword {
            keyword: keyword.clone(),
            problem,
        });
    }
    let mut seen: Vec<String> = SmsProcess::default_keywords(process.kind)
        .iter()
        .map(|k| normalize(k))
        .collect();
    for keyword in &process.custom_keywords {
        if let Err(problem) = check_custom_keyword(keyword) {
            errors.push(ProcessError::InvalidCustomKeyword {
                keyword: keyword.clone(),
                problem,
            });
            continue;
        }
        let norm = normalize(keyword);
        if seen.contains(&norm) {
            errors.push(ProcessError::RepeatedKeyword {
                keyword: keyword.clone(),
            });
        } else {
            seen.push(norm);
        }
    }
    if process.kind == ProcessType::Help && process.message().is_none() {
        errors.push(ProcessError::MissingHelpMessage);
    }
    let neighbours = others
        .iter()
        .filter(|o| o.id != process.id && o.inbound.same_as(&process.inbound));
    for other in neighbours {
        if other.kind == process.kind {
            errors.push(ProcessError::DuplicateProcess {
                kind: process.kind,
                inbound: process.inbound.to_string(),
                other: other.name.clone(),
            });
            continue;
        }
        for keyword in &process.custom_keywords {
            let norm = normalize(keyword);
            if other.keywords().any(|k| normalize(k) == norm) {
                errors.push(ProcessError::KeywordTaken {
                    keyword: keyword.clone(),
                    other_kind: other.kind,
                    other: other.name.clone(),
                });
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(InvalidProcess { errors })
    }
}

fn check_provider_keyword(keyword: &str) -> Result<(), KeywordFormatError> {
    let keyword = keyword.trim();
    if keyword.is_empty() {
        return Err(KeywordFormatError::Empty);
    }
    match keyword.chars().find(|c| !c.is_alphanumeric()) {
        Some(c) if c.is_whitespace() => Err(KeywordFormatError::Space),
        Some(c) => Err(KeywordFormatError::Special(c)),
        // Spacing marks such as U+093E are alphanumeric, but matching drops them.
        None => crate::keywords::only_marks(keyword),
    }
}

/// Why a status action was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcessActionError {
    #[error("a {status} process cannot be told to {action}")]
    NotAllowed {
        action: ProcessAction,
        status: ProcessStatus,
    },
    /// KP-05: "some actions are not available for new or incomplete processes"; starting one that
    /// would not pass validation is the one that matters.
    #[error("the process cannot start until it is complete: {0}")]
    Incomplete(InvalidProcess),
}

/// The status a process takes on `action`: Start from New or Paused, once complete; Pause from
/// Started.
pub fn apply_action(
    process: &SmsProcess,
    action: ProcessAction,
    others: &[SmsProcess],
) -> Result<ProcessStatus, ProcessActionError> {
    let not_allowed = ProcessActionError::NotAllowed {
        action,
        status: process.status,
    };
    match (action, process.status) {
        (ProcessAction::Start, ProcessStatus::New | ProcessStatus::Paused) => {
            validate_process(process, others).map_err(ProcessActionError::Incomplete)?;
            Ok(ProcessStatus::Started)
        }
        (ProcessAction::Pause, ProcessStatus::Started) => Ok(ProcessStatus::Paused),
        _ => Err(not_allowed),
    }
}

/// What an inbound SMS asks of a process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ProcessOutcome {
    /// Add the sender to the channel's unsubscribe list (no more advertising SMS), and send the
    /// confirmation if the process has one.
    Unsubscribe { confirmation: Option<String> },
    /// Send the sender this message.
    Help { message: String },
}

/// A process that handles an inbound SMS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessMatch<'a> {
    pub process: &'a SmsProcess,
    /// The keyword as configured.
    pub keyword: &'a str,
    pub outcome: ProcessOutcome,
}

/// The process that handles an SMS to `number`, if any. Only Started processes are considered; on a
/// shared short code the first word must be the process's provider keyword, and a message naming an
/// unknown one matches nothing. Should two processes claim one keyword (validation prevents it),
/// Unsubscribe wins: stopping messages is the safer misreading.
pub fn match_process<'a>(
    processes: &'a [SmsProcess],
    number: &str,
    text: &str,
) -> Option<ProcessMatch<'a>> {
    let number = number_key(number);
    let live = || {
        processes.iter().filter(|p| {
            p.status == ProcessStatus::Started && number_key(&p.inbound.number) == number
        })
    };
    for kind in [ProcessType::Unsubscribe, ProcessType::Help] {
        for process in live().filter(|p| p.kind == kind) {
            let Some(body) = process.inbound.service_text(text) else {
                continue;
            };
            let needle = normalize(body);
            if needle.is_empty() {
                continue;
            }
            let Some(keyword) = process.keywords().find(|k| normalize(k) == needle) else {
                continue;
            };
            let outcome = match process.kind {
                ProcessType::Unsubscribe => ProcessOutcome::Unsubscribe {
                    confirmation: process.message().map(str::to_owned),
                },
                ProcessType::Help => match process.message() {
                    Some(message) => ProcessOutcome::Help {
                        message: message.to_owned(),
                    },
                    // A help process without a message cannot do its job; treat it as incomplete.
                    None => continue,
                },
            };
            return Some(ProcessMatch {
                process,
                keyword,
                outcome,
            });
        }
    }
    None
}

/// Who answers an inbound SMS that is a keyword (issue 10, item 5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeywordHandler<'a> {
    /// A started process of the number covers the keyword and answers with its own message.
    Process(ProcessMatch<'a>),
    /// No started process covers it: the channel's compliance and custom keywords answer.
    Channel(KeywordMatch),
}

impl KeywordHandler<'_> {
    /// The keyword the message is, as consent reads it, with the answer it earns. A process's
    /// message is sent in the channel's default `language`: processes are not per language
    /// (KP-08).
    ///
    /// An Unsubscribe process's keyword is an opt-out of *this channel*, the program the message
    /// was addressed to. KP-06 says the sender joins "the internal unsubscribe list for the SMS
    /// channel", KP-07 ties each process to one inbound number and provider keyword, and each
    /// program of a shared short code is its own channel here (CO-02, KP-02: provider keywords
    /// deliver to different clients), so "baby stop" opts out of baby and leaves kids alone, exactly
    /// as the baby channel's own STOP does. Consent has one status per channel, so the opt-out stops
    /// every message of the program, not only advertising: the safer reading of a STOP.
    pub fn into_keyword_match(self, language: &Language) -> KeywordMatch {
        let found = match self {
            Self::Channel(m) => return m,
            Self::Process(found) => found,
        };
        let (list, response) = match found.outcome {
            ProcessOutcome::Unsubscribe { confirmation } => (
                KeywordList::OptOut,
                confirmation.map(|text| (ResponseKind::OptOutConfirmation, text)),
            ),
            ProcessOutcome::Help { message } => (
                KeywordList::Help,
                Some((ResponseKind::HelpResponse, message)),
            ),
        };
        KeywordMatch {
            list,
            keyword: found.keyword.to_owned(),
            language: language.clone(),
            provider_keyword: found.process.inbound.provider_keyword.clone(),
            response: response.map(|(kind, text)| AutoResponse {
                kind,
                language: language.clone(),
                text,
            }),
        }
    }
}

/// Whether `text` could be a process's keyword on this channel, so the caller reads the number's
/// processes only when one might answer: process keywords are single words (KP-09), after the
/// provider keyword on a shared short code.
pub fn might_be_process_keyword(profile: &ChannelProfile, text: &str) -> bool {
    profile.kind == ChannelKind::Sms
        && profile.service_text(text).is_some_and(|body| {
            let body = normalize(body);
            !body.is_empty() && !body.contains(' ')
        })
}

/// The precedence of keyword answers on an SMS number: a **started** process of the number that
/// covers the keyword answers first, with its own message (KP-01, KP-06: a Help process's message
/// for "kids help", an Unsubscribe process's confirmation for "baby stop"); where none does (no
/// process, or a New or Paused one, KP-04), the channel's own keyword lists answer (CO-07..CO-10),
/// so a paused process hands its keywords back to the channel's STOP and HELP.
///
/// The process comes first because it is the narrower, deliberate configuration: an admin who
/// starts a Help process on a number wants its message sent for that number's HELP, and the
/// channel's lists are the compliance floor underneath. Either way a STOP opts out (see
/// [`KeywordHandler::into_keyword_match`]) and a HELP is answered, so no precedence drops a
/// compliance keyword. `processes` are those of the channel's number (`number`); only the
/// channel's kind, SMS, has processes.
pub fn resolve<'a>(
    processes: &'a [SmsProcess],
    number: &str,
    text: &str,
    channel: &KeywordConfig,
    profile: &ChannelProfile,
) -> Option<KeywordHandler<'a>> {
    let process = (profile.kind == ChannelKind::Sms)
        .then(|| match_process(processes, number, text))
        .flatten();
    match process {
        Some(found) => Some(KeywordHandler::Process(found)),
        None => channel
            .match_text(profile, text)
            .or_else(|| bare_help(channel, profile, text))
            .map(KeywordHandler::Channel),
    }
}

/// CO-10: on a short code anyone who texts a help keyword gets the help response. On a shared
/// short code a bare "HELP" names no program, so no process and no program's lists would answer
/// it; the channel the number's messages arrive on answers it with its own help response. Only
/// help: a bare STOP would have to opt out of every program on the number, which one channel's
/// answer cannot do, so it is left to the caller's handling of a message naming no program.
pub fn bare_help(
    channel: &KeywordConfig,
    profile: &ChannelProfile,
    text: &str,
) -> Option<KeywordMatch> {
    if !profile.is_shared_short_code() {
        return None;
    }
    let bare = ChannelProfile {
        number_type: Some(NumberType::ShortCode),
        provider_keyword: None,
        ..profile.clone()
    };
    channel
        .match_text(&bare, text)
        .filter(|m| m.list == KeywordList::Help)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn process(
        id: u128,
        kind: ProcessType,
        status: ProcessStatus,
        inbound: InboundNumber,
    ) -> SmsProcess {
        SmsProcess {
            id: Uuid::from_u128(id),
            name: format!("{kind} {id}"),
            kind,
            status,
            inbound,
            custom_keywords: Vec::new(),
            message: match kind {
                ProcessType::Help => Some("Acme: help at help@acme.example".into()),
                ProcessType::Unsubscribe => None,
            },
        }
    }

    fn long_code() -> InboundNumber {
        InboundNumber::new("+4915112348765", None)
    }

    fn shared(keyword: &str) -> InboundNumber {
        InboundNumber::new("11221", Some(keyword))
    }

    fn started(kind: ProcessType, inbound: InboundNumber) -> SmsProcess {
        process(
            u128::from(kind == ProcessType::Help) + 1,
            kind,
            ProcessStatus::Started,
            inbound,
        )
    }

    /// The process side of a fuzzing finding (see keywords' `a_keyword_of_marks_only_is_refused`):
    /// a spacing mark is alphanumeric but normalises to nothing, which the channel's own lists
    /// can never match on the same shared short code.
    #[test]
    fn a_provider_keyword_of_marks_only_is_refused() {
        let mut p = started(ProcessType::Unsubscribe, shared("\u{93E}"));
        p.custom_keywords = vec!["\u{301}".into()];
        let err = validate_process(&p, &[]).unwrap_err();
        assert_eq!(
            err.errors,
            vec![
                ProcessError::InvalidProviderKeyword {
                    keyword: "\u{93E}".into(),
                    problem: KeywordFormatError::OnlyMarks
                },
                ProcessError::InvalidCustomKeyword {
                    keyword: "\u{301}".into(),
                    problem: KeywordFormatError::OnlyMarks
                },
            ]
        );
    }

    #[test]
    fn a_started_process_handles_its_keywords() {
        let set = vec![
            started(ProcessType::Unsubscribe, long_code()),
            started(ProcessType::Help, long_code()),
        ];
        let m = match_process(&set, "+49 151 12348765", "Stop.").unwrap();
        assert_eq!(
            (m.process.kind, m.keyword),
            (ProcessType::Unsubscribe, "STOP")
        );
        assert_eq!(
            m.outcome,
            ProcessOutcome::Unsubscribe { confirmation: None }
        );
        let m = match_process(&set, "+4915112348765", "info").unwrap();
        assert_eq!(
            m.outcome,
            ProcessOutcome::Help {
                message: "Acme: help at help@acme.example".into()
            }
        );
        assert!(match_process(&set, "+4915112348765", "stop please").is_none());
        assert!(match_process(&set, "+4915112348766", "stop").is_none());
    }

    #[test]
    fn new_and_paused_processes_handle_nothing() {
        for status in [ProcessStatus::New, ProcessStatus::Paused] {
            let set = vec![process(1, ProcessType::Unsubscribe, status, long_code())];
            assert!(match_process(&set, "+4915112348765", "STOP").is_none());
        }
        // Pausing one type leaves the other running.
        let mut set = vec![
            started(ProcessType::Unsubscribe, long_code()),
            started(ProcessType::Help, long_code()),
        ];
        set[1].status = apply_action(&set[1], ProcessAction::Pause, &[]).unwrap();
        assert!(match_process(&set, "+4915112348765", "help").is_none());
        assert!(match_process(&set, "+4915112348765", "stop").is_some());
    }

    #[test]
    fn edits_to_a_started_process_apply_to_the_next_message() {
        let mut set = vec![started(ProcessType::Unsubscribe, long_code())];
        assert!(match_process(&set, "+4915112348765", "basta").is_none());
        set[0].custom_keywords.push("BASTA".into());
        set[0].message = Some("You are unsubscribed.".into());
        validate_process(&set[0], &set).unwrap();
        let m = match_process(&set, "+4915112348765", "Basta!").unwrap();
        assert_eq!(
            m.outcome,
            ProcessOutcome::Unsubscribe {
                confirmation: Some("You are unsubscribed.".into())
            }
        );
    }

    #[test]
    fn shared_short_codes_need_the_provider_keyword() {
        let set = vec![
            started(ProcessType::Unsubscribe, shared("baby")),
            process(
                3,
                ProcessType::Unsubscribe,
                ProcessStatus::Started,
                shared("kids"),
            ),
        ];
        let m = match_process(&set, "11221", "baby stop").unwrap();
        assert_eq!(m.process.inbound.provider_keyword.as_deref(), Some("baby"));
        let m = match_process(&set, "11221", "KIDS Stop!").unwrap();
        assert_eq!(m.process.inbound.provider_keyword.as_deref(), Some("kids"));
        assert!(match_process(&set, "11221", "shoes stop").is_none());
        assert!(match_process(&set, "11221", "stop").is_none());
        assert!(match_process(&set, "11221", "baby").is_none());
        assert_eq!(shared("Shoes").to_string(), "11221 / Shoes");
    }

    #[test]
    fn one_process_of_each_type_per_number_and_provider_keyword() {
        let first = started(ProcessType::Unsubscribe, shared("baby"));
        let mut second = process(
            5,
            ProcessType::Unsubscribe,
            ProcessStatus::New,
            shared("BABY"),
        );
        let err = validate_process(&second, std::slice::from_ref(&first)).unwrap_err();
        assert!(matches!(
            &err.errors[..],
            [ProcessError::DuplicateProcess {
                kind: ProcessType::Unsubscribe,
                ..
            }]
        ));
        assert!(
            err.to_string()
                .contains("11221 / BABY already has the unsubscribe process 'unsubscribe 1'"),
            "{err}"
        );
        second.inbound = shared("kids");
        validate_process(&second, std::slice::from_ref(&first)).unwrap();
        let help = process(6, ProcessType::Help, ProcessStatus::New, shared("baby"));
        validate_process(&help, std::slice::from_ref(&first)).unwrap();
        // A process is not its own duplicate.
        validate_process(&first, std::slice::from_ref(&first)).unwrap();
    }

    #[test]
    fn field_rules() {
        let mut p = process(1, ProcessType::Help, ProcessStatus::New, long_code());
        p.message = Some("  ".into());
        p.name = String::new();
        p.custom_keywords = vec![
            "DEAL2".into(),
            "BIG DEAL".into(),
            "DEAL!".into(),
            "Hilfe".into(),
            "HILFE".into(),
            "help".into(),
        ];
        p.inbound = InboundNumber::new("call-me", Some("ba by"));
        let err = validate_process(&p, &[]).unwrap_err();
        assert_eq!(
            err.errors,
            vec![
                ProcessError::EmptyName,
                ProcessError::InvalidNumber {
                    number: "call-me".into()
                },
                ProcessError::InvalidProviderKeyword {
                    keyword: "ba by".into(),
                    problem: KeywordFormatError::Space
                },
                ProcessError::InvalidCustomKeyword {
                    keyword: "DEAL2".into(),
                    problem: KeywordFormatError::Digit('2')
                },
                ProcessError::InvalidCustomKeyword {
                    keyword: "BIG DEAL".into(),
                    problem: KeywordFormatError::Space
                },
                ProcessError::InvalidCustomKeyword {
                    keyword: "DEAL!".into(),
                    problem: KeywordFormatError::Special('!')
                },
                ProcessError::RepeatedKeyword {
                    keyword: "HILFE".into()
                },
                ProcessError::RepeatedKeyword {
                    keyword: "help".into()
                },
                ProcessError::MissingHelpMessage,
            ]
        );
        assert!(
            err.to_string()
                .contains("a help process must have a message to send")
        );
        // The message is optional for Unsubscribe.
        validate_process(
            &process(1, ProcessType::Unsubscribe, ProcessStatus::New, long_code()),
            &[],
        )
        .unwrap();
    }

    #[test]
    fn a_keyword_belongs_to_one_process_per_number() {
        let unsubscribe = started(ProcessType::Unsubscribe, long_code());
        let mut help = process(9, ProcessType::Help, ProcessStatus::New, long_code());
        help.custom_keywords = vec!["Quit".into()];
        let err = validate_process(&help, std::slice::from_ref(&unsubscribe)).unwrap_err();
        assert!(matches!(
            &err.errors[..],
            [ProcessError::KeywordTaken {
                other_kind: ProcessType::Unsubscribe,
                ..
            }]
        ));
    }

    #[test]
    fn status_actions() {
        let new = process(1, ProcessType::Help, ProcessStatus::New, long_code());
        assert_eq!(
            apply_action(&new, ProcessAction::Start, &[]),
            Ok(ProcessStatus::Started)
        );
        assert_eq!(
            apply_action(&new, ProcessAction::Pause, &[]),
            Err(ProcessActionError::NotAllowed {
                action: ProcessAction::Pause,
                status: ProcessStatus::New
            })
        );
        let running = SmsProcess {
            status: ProcessStatus::Started,
            ..new.clone()
        };
        assert_eq!(
            apply_action(&running, ProcessAction::Pause, &[]),
            Ok(ProcessStatus::Paused)
        );
        assert!(apply_action(&running, ProcessAction::Start, &[]).is_err());
        let paused = SmsProcess {
            status: ProcessStatus::Paused,
            ..new.clone()
        };
        assert_eq!(
            apply_action(&paused, ProcessAction::Start, &[]),
            Ok(ProcessStatus::Started)
        );
        let incomplete = SmsProcess {
            message: None,
            ..new
        };
        let err = apply_action(&incomplete, ProcessAction::Start, &[]).unwrap_err();
        assert!(matches!(err, ProcessActionError::Incomplete(_)));
        assert!(
            err.to_string()
                .contains("cannot start until it is complete"),
            "{err}"
        );
    }

    #[test]
    fn processes_round_trip_as_json() {
        let p = started(ProcessType::Unsubscribe, shared("baby"));
        let json = serde_json::to_string(&p).unwrap();
        assert!(
            json.contains(r#""kind":"unsubscribe""#) && json.contains(r#""status":"started""#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<SmsProcess>(&json).unwrap(), p);
    }

    fn shared_profile(keyword: &str) -> ChannelProfile {
        ChannelProfile {
            number_type: Some(crate::model::NumberType::SharedShortCode),
            provider_keyword: Some(keyword.into()),
            ..ChannelProfile::new(ChannelKind::Sms, crate::model::ConsentLevel::Implicit)
        }
    }

    fn channel_config(program: &str) -> KeywordConfig {
        KeywordConfig::defaults(format!("{program} channel help"))
    }

    fn answer(handler: Option<KeywordHandler<'_>>) -> Option<(KeywordList, Option<String>)> {
        handler
            .map(|h| h.into_keyword_match(&Language::english()))
            .map(|m| (m.list, m.response.map(|r| r.text)))
    }

    #[test]
    fn started_processes_answer_before_the_channel() {
        let mut kids_help = started(ProcessType::Help, shared("kids"));
        kids_help.message = Some("Kids help message".into());
        let mut baby_stop = process(
            3,
            ProcessType::Unsubscribe,
            ProcessStatus::Started,
            shared("baby"),
        );
        baby_stop.message = Some("Baby: unsubscribed".into());
        let set = vec![kids_help, baby_stop];
        let kids = (channel_config("kids"), shared_profile("kids"));
        let baby = (channel_config("baby"), shared_profile("baby"));
        let on = |(config, profile): &(KeywordConfig, ChannelProfile), text: &str| {
            answer(resolve(&set, "11221", text, config, profile))
        };
        assert_eq!(
            on(&kids, "kids help"),
            Some((KeywordList::Help, Some("Kids help message".into())))
        );
        assert_eq!(
            on(&baby, "baby stop"),
            Some((KeywordList::OptOut, Some("Baby: unsubscribed".into())))
        );
        // Keywords no started process covers: the channel's.
        assert_eq!(
            on(&baby, "baby help"),
            Some((KeywordList::Help, Some("baby channel help".into())))
        );
        let (list, confirmation) = on(&kids, "kids stop").unwrap();
        assert_eq!(list, KeywordList::OptOut);
        assert!(confirmation.is_some_and(|c| c.contains("opted out")));
        assert_eq!(on(&kids, "kids hello"), None);
        let handler = resolve(&set, "11221", "kids help", &kids.0, &kids.1).unwrap();
        assert!(
            matches!(handler, KeywordHandler::Process(m) if m.process.kind == ProcessType::Help)
        );
    }

    #[test]
    fn a_bare_help_on_a_shared_short_code_gets_the_channels_help() {
        let config = channel_config("kids");
        let kids = shared_profile("kids");
        let m = resolve(&[], "11221", "Help!", &config, &kids)
            .unwrap()
            .into_keyword_match(&Language::english());
        assert_eq!(
            (m.list, m.response.map(|r| r.text)),
            (KeywordList::Help, Some("kids channel help".into()))
        );
        // Only help: a bare STOP is not one program's to answer.
        assert!(resolve(&[], "11221", "STOP", &config, &kids).is_none());
        assert!(bare_help(&config, &kids, "stop").is_none());
        let exclusive = ChannelProfile {
            number_type: Some(crate::model::NumberType::ShortCode),
            ..ChannelProfile::new(ChannelKind::Sms, crate::model::ConsentLevel::Implicit)
        };
        assert!(bare_help(&config, &exclusive, "help").is_none());
    }

    #[test]
    fn a_paused_process_hands_its_keywords_back_to_the_channel() {
        for status in [ProcessStatus::Paused, ProcessStatus::New] {
            let mut help = process(1, ProcessType::Help, status, shared("kids"));
            help.message = Some("Kids help message".into());
            let set = [help];
            let config = channel_config("kids");
            let handler = resolve(&set, "11221", "kids help", &config, &shared_profile("kids"));
            assert!(
                matches!(handler, Some(KeywordHandler::Channel(_))),
                "{status}"
            );
            assert_eq!(
                answer(handler),
                Some((KeywordList::Help, Some("kids channel help".into())))
            );
        }
    }

    #[test]
    fn an_unsubscribe_process_without_a_message_still_opts_out_silently() {
        // KP-11: the confirmation may be forbidden in the destination country.
        let set = [started(ProcessType::Unsubscribe, long_code())];
        let profile = ChannelProfile {
            number_type: Some(crate::model::NumberType::LongCode),
            ..ChannelProfile::new(ChannelKind::Sms, crate::model::ConsentLevel::Implicit)
        };
        let m = resolve(
            &set,
            "+4915112348765",
            "STOP",
            &channel_config("de"),
            &profile,
        )
        .unwrap()
        .into_keyword_match(&Language::new("de"));
        assert_eq!(
            (m.list, m.response, m.language.as_str()),
            (KeywordList::OptOut, None, "de")
        );
    }

    #[test]
    fn number_types_from_the_number() {
        assert_eq!(long_code().number_type(), NumberType::LongCode);
        assert_eq!(
            InboundNumber::new("11221", None).number_type(),
            NumberType::ShortCode
        );
        assert_eq!(shared("kids").number_type(), NumberType::SharedShortCode);
        assert_eq!(
            InboundNumber::new("4915112348765", None).number_type(),
            NumberType::LongCode
        );
        assert_eq!(
            InboundNumber::new("+1 800 555", None).number_type(),
            NumberType::LongCode
        );
    }

    #[test]
    fn only_sms_channels_have_processes() {
        let set = [started(ProcessType::Help, long_code())];
        let whatsapp =
            ChannelProfile::new(ChannelKind::Whatsapp, crate::model::ConsentLevel::Implicit);
        let handler = resolve(
            &set,
            "+4915112348765",
            "help",
            &channel_config("wa"),
            &whatsapp,
        );
        assert!(matches!(handler, Some(KeywordHandler::Channel(_))));
        assert!(!might_be_process_keyword(&whatsapp, "help"));
    }

    #[test]
    fn only_single_words_might_be_process_keywords() {
        let kids = shared_profile("kids");
        assert!(might_be_process_keyword(&kids, "Kids HELP!"));
        assert!(!might_be_process_keyword(&kids, "kids help me"));
        assert!(!might_be_process_keyword(&kids, "baby help"));
        assert!(!might_be_process_keyword(&kids, "kids"));
        let long = ChannelProfile::new(ChannelKind::Sms, crate::model::ConsentLevel::Implicit);
        assert!(might_be_process_keyword(&long, " stop. "));
        assert!(!might_be_process_keyword(&long, "stop it"));
    }

    fn status() -> impl Strategy<Value = ProcessStatus> {
        proptest::sample::select(ProcessStatus::ALL.to_vec())
    }

    proptest! {
        /// Whatever is configured and whatever arrives, only a started process on the same number
        /// handles a message, and only with one of its keywords as the whole message.
        #[test]
        fn matches_are_started_exact_and_on_the_number(
            statuses in proptest::collection::vec(status(), 2),
            number in proptest::sample::select(vec!["+4915112348765", "11221", "+1 555 0100"]),
            text in prop_oneof![
                proptest::sample::select(vec!["stop", "STOP!", " Help ", "info.", "quit", "stop now", "hello", "Basta"]).prop_map(str::to_owned),
                "\\PC{0,12}",
            ],
        ) {
            let mut a = started(ProcessType::Unsubscribe, long_code());
            a.status = statuses[0];
            a.custom_keywords.push("BASTA".into());
            let mut b = started(ProcessType::Help, long_code());
            b.status = statuses[1];
            let set = vec![a, b];
            if let Some(m) = match_process(&set, number, &text) {
                prop_assert_eq!(m.process.status, ProcessStatus::Started);
                prop_assert_eq!(number_key(&m.process.inbound.number), number_key(number));
                prop_assert_eq!(normalize(m.keyword), normalize(&text));
            }
            if statuses.iter().all(|s| *s != ProcessStatus::Started) {
                prop_assert!(match_process(&set, number, &text).is_none());
            }
        }

        /// Case and edge punctuation never change which process answers.
        #[test]
        fn matching_ignores_case_and_edge_punctuation(
            idx in 0usize..10,
            upper in any::<bool>(),
            lead in "[ .!¡\"']{0,3}",
            trail in "[ .!?\"']{0,3}",
        ) {
            let set = vec![started(ProcessType::Unsubscribe, long_code()), started(ProcessType::Help, long_code())];
            let all: Vec<(&str, ProcessType)> = DEFAULT_OPT_OUT.iter().map(|k| (*k, ProcessType::Unsubscribe))
                .chain(DEFAULT_HELP.iter().map(|k| (*k, ProcessType::Help))).collect();
            let (word, kind) = all[idx % all.len()];
            let word = if upper { word.to_uppercase() } else { word.to_lowercase() };
            let m = match_process(&set, "+4915112348765", &format!("{lead}{word}{trail}"));
            prop_assert_eq!(m.map(|m| m.process.kind), Some(kind));
        }
    }
}
