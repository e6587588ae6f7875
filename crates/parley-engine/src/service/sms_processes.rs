//! SMS keyword processes (KP-01..11): saving, starting and pausing them, for the API and for
//! `parley apply` alike. The rules are `parley_core::keyword_process`'s; this module reads the other
//! processes of the same number, asks core whether the change is allowed, and writes it.
//!
//! Stored forms: the inbound number keeps only its digits and a leading `+` (`+49 151 1234 8765` is
//! stored `+4915112348765`, the form core compares numbers in), the provider keyword is lowercase as
//! on channels, and text fields are trimmed, with a blank message stored as none. So the unique
//! index on (number, provider keyword, kind) sees what core sees.
//!
//! Refusals: problems with the process's own fields are [`ProvisionError::Invalid`] (422 in the
//! API); a clash with another stored process (a second process of one type on one number and
//! provider keyword, or a keyword another process there already answers) is
//! [`StoreError::Conflict`] (409), like any other uniqueness rule.

use parley_core::compliance;
use parley_core::keyword_process::{
    InboundNumber, ProcessAction, ProcessError, ProcessStatus, ProcessType, SmsProcess,
    apply_action, validate_process,
};
use parley_core::keywords::{Language, normalize};
use parley_core::model::ChannelKind;
use parley_core::sms::check_length;
use parley_core::{Timestamp, new_id};
use parley_store::{SmsProcessSpec, Store, StoreError, StoredSmsProcess};
use uuid::Uuid;

use super::ServiceError as ProvisionError;

/// Longest process name, as for every other named item.
const MAX_NAME_CHARS: usize = 100;

/// A process as written by a person (API body), before validation. Its status is not part of
/// it: a new process is New, an edit keeps the status, and start and pause change it.
#[derive(Debug, Clone)]
pub struct ProcessDraft {
    pub name: String,
    pub kind: ProcessType,
    /// A long code (`+4915112348765`) or a short code's digits (`11221`).
    pub number: String,
    /// On a non-exclusive (shared) short code, the program's keyword (`kids` in `11221 / kids`).
    pub provider_keyword: Option<String>,
    pub custom_keywords: Vec<String>,
    pub message: Option<String>,
}

/// The number in the form core compares numbers in and the store keeps: digits and `+` only.
pub fn number_key(number: &str) -> String {
    number
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '+')
        .collect()
}

/// The draft trimmed, as validation sees it (the number still as written, so an error quotes it).
pub(crate) fn written(d: &ProcessDraft, status: ProcessStatus) -> SmsProcessSpec {
    SmsProcessSpec {
        name: d.name.trim().to_owned(),
        kind: d.kind,
        status,
        inbound: InboundNumber {
            number: d.number.trim().to_owned(),
            provider_keyword: d
                .provider_keyword
                .as_deref()
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(str::to_owned),
        },
        custom_keywords: d
            .custom_keywords
            .iter()
            .map(|k| k.trim().to_owned())
            .collect(),
        message: d
            .message
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_owned),
    }
}

/// A validated spec in its stored form.
pub(crate) fn stored_form(mut spec: SmsProcessSpec) -> SmsProcessSpec {
    spec.inbound.number = number_key(&spec.inbound.number);
    spec.inbound.provider_keyword = spec.inbound.provider_keyword.map(|k| k.to_lowercase());
    spec
}

/// Checks `process` as it would be saved against the other processes (`others` may contain the
/// process itself, skipped by id): core's rules, an SMS-sized message, a name of reasonable length,
/// and that no process on the same number already answers one of its default keywords with a
/// custom keyword (core checks this process's custom keywords against the others' keywords; the
/// reverse is checked here by asking core about each neighbour).
pub fn check(process: &SmsProcess, others: &[SmsProcess]) -> Result<(), ProvisionError> {
    let mut own = Vec::new();
    let mut clashes = Vec::new();
    if let Err(invalid) = validate_process(process, others) {
        for e in invalid.errors {
            match e {
                ProcessError::DuplicateProcess { .. } | ProcessError::KeywordTaken { .. } => {
                    clashes.push(e.to_string());
                }
                _ => own.push(e.to_string()),
            }
        }
    }
    if process.name.trim().chars().count() > MAX_NAME_CHARS {
        own.push(format!(
            "the name must be at most {MAX_NAME_CHARS} characters"
        ));
    }
    if let Some(message) = &process.message
        && let Err(e) = check_length(ChannelKind::Sms, message)
    {
        own.push(format!("the message does not fit in an SMS: {e}"));
    }
    own.extend(help_content_problems(process));
    let neighbours = others.iter().filter(|o| {
        o.id != process.id && o.kind != process.kind && o.inbound.same_as(&process.inbound)
    });
    let own_custom: Vec<String> = process
        .custom_keywords
        .iter()
        .map(|k| normalize(k))
        .collect();
    for other in neighbours {
        let Err(invalid) = validate_process(other, std::slice::from_ref(process)) else {
            continue;
        };
        for e in invalid.errors {
            // A keyword both have as a custom keyword was reported above, from this side.
            if let ProcessError::KeywordTaken { keyword, .. } = e
                && !own_custom.contains(&normalize(&keyword))
            {
                clashes.push(
                    ProcessError::KeywordTaken {
                        keyword,
                        other_kind: other.kind,
                        other: other.name.clone(),
                    }
                    .to_string(),
                );
            }
        }
    }
    if !own.is_empty() {
        own.extend(clashes);
        Err(ProvisionError::Invalid(format!(
            "invalid SMS process: {}",
            own.join("; ")
        )))
    } else if !clashes.is_empty() {
        Err(ProvisionError::Store(StoreError::Conflict(
            clashes.join("; "),
        )))
    } else {
        Ok(())
    }
}

/// CO-12, CO-16: a Help process on a short code sends the short code's help response, so its
/// message is held to the same rules as a channel's (see `service::channels`): refused, naming
/// every missing element. Processes have no language (KP-08), and the rules are the US short-code
/// guide's, so the message is read as English.
fn help_content_problems(process: &SmsProcess) -> Option<String> {
    let number_type = Some(process.inbound.number_type());
    let message = process.message.as_deref()?;
    if process.kind != ProcessType::Help || !compliance::applies_to(number_type) {
        return None;
    }
    let problems = compliance::help_message_problems(message, number_type, &Language::english());
    (!problems.is_empty()).then(|| {
        format!(
            "the message does not meet the short code rules for help responses (carriers' CTIA rules): {}",
            compliance::describe_problems(&problems)
        )
    })
}

/// The stored processes on the number of `spec` (every provider keyword on it).
pub(crate) async fn neighbours_of(
    store: &Store,
    spec: &SmsProcessSpec,
) -> Result<Vec<SmsProcess>, ProvisionError> {
    let key = number_key(&spec.inbound.number);
    Ok(store
        .sms_processes(Some(&key))
        .await?
        .into_iter()
        .map(|p| p.process)
        .collect())
}

/// Creates a process, New: it handles nothing until started (KP-04).
pub async fn create(
    store: &Store,
    now: Timestamp,
    draft: &ProcessDraft,
) -> Result<StoredSmsProcess, ProvisionError> {
    let spec = written(draft, ProcessStatus::New);
    let others = neighbours_of(store, &spec).await?;
    check(&spec.to_process(new_id()), &others)?;
    Ok(store.create_sms_process(&stored_form(spec), now).await?)
}

/// Replaces a process's fields, keeping its status. A started process stays started, and the
/// matcher reads processes as stored, so the edit applies to the next SMS (KP-04).
pub async fn update(
    store: &Store,
    now: Timestamp,
    id: Uuid,
    draft: &ProcessDraft,
) -> Result<StoredSmsProcess, ProvisionError> {
    let current = store.sms_process(id).await?;
    let spec = written(draft, current.process.status);
    let others = neighbours_of(store, &spec).await?;
    check(&spec.to_process(id), &others)?;
    Ok(store
        .update_sms_process(id, &stored_form(spec), now)
        .await?)
}

/// Starts or pauses a process (KP-05): Start from New or Paused once complete, Pause from Started.
pub async fn act(
    store: &Store,
    now: Timestamp,
    id: Uuid,
    action: ProcessAction,
) -> Result<StoredSmsProcess, ProvisionError> {
    let current = store.sms_process(id).await?.process;
    let others = neighbours_of(store, &SmsProcessSpec::of(&current)).await?;
    let status = apply_action(&current, action, &others)
        .map_err(|e| ProvisionError::Invalid(e.to_string()))?;
    if status == ProcessStatus::Started {
        check(&current, &others)?;
    }
    Ok(store.set_sms_process_status(id, status, now).await?)
}

/// Deletes a process; the matcher stops using it with the next SMS.
pub async fn delete(store: &Store, id: Uuid) -> Result<(), ProvisionError> {
    Ok(store.delete_sms_process(id).await?)
}
