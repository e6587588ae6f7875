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

use std::collections::HashSet;

use parley_core::keyword_process::{
    InboundNumber, ProcessAction, ProcessError, ProcessStatus, ProcessType, SmsProcess,
    apply_action, validate_process,
};
use parley_core::keywords::normalize;
use parley_core::model::ChannelKind;
use parley_core::sms::check_length;
use parley_core::{Timestamp, new_id};
use parley_store::{SmsProcessSpec, Store, StoreError, StoredSmsProcess};
use serde::Deserialize;
use uuid::Uuid;

use crate::provision::{ApplyReport, ProvisionError};

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
fn written(d: &ProcessDraft, status: ProcessStatus) -> SmsProcessSpec {
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
fn stored_form(mut spec: SmsProcessSpec) -> SmsProcessSpec {
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

/// The stored processes on the number of `spec` (every provider keyword on it).
async fn neighbours_of(
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

// ---- parley apply ----

/// An SMS process in a workspace file, identified by its number, provider keyword and type: at
/// most one process of each type per number and provider keyword (KP-07).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessFile {
    pub name: String,
    pub kind: ProcessType,
    /// What the process should be doing; a process in a file is meant to run, so `started`
    /// unless said otherwise.
    #[serde(default = "default_status")]
    pub status: ProcessStatus,
    /// A long code (`+4915112348765`) or a short code's digits (`11221`); a string, so quoted in
    /// TOML.
    pub number: String,
    #[serde(default)]
    pub provider_keyword: Option<String>,
    #[serde(default)]
    pub custom_keywords: Vec<String>,
    #[serde(default)]
    pub message: Option<String>,
}

fn default_status() -> ProcessStatus {
    ProcessStatus::Started
}

impl ProcessFile {
    fn draft(&self) -> ProcessDraft {
        ProcessDraft {
            name: self.name.clone(),
            kind: self.kind,
            number: self.number.clone(),
            provider_keyword: self.provider_keyword.clone(),
            custom_keywords: self.custom_keywords.clone(),
            message: self.message.clone(),
        }
    }

    fn spec(&self) -> SmsProcessSpec {
        written(&self.draft(), self.status)
    }
}

fn label(spec: &SmsProcessSpec) -> String {
    format!("sms process {} {}", spec.kind, spec.inbound)
}

/// Checks the file's processes among themselves, without the database: one entry per number,
/// provider keyword and type, and each valid beside the others of the file.
pub fn validate_file_processes(files: &[ProcessFile]) -> Result<(), ProvisionError> {
    let mut processes: Vec<SmsProcess> = Vec::with_capacity(files.len());
    for f in files {
        let process = f.spec().to_process(new_id());
        if let Some(twin) = processes
            .iter()
            .find(|p| p.kind == process.kind && p.inbound.same_as(&process.inbound))
        {
            return Err(ProvisionError::Invalid(format!(
                "the {} process of {} appears twice in the file ('{}' and '{}')",
                process.kind, process.inbound, twin.name, process.name
            )));
        }
        processes.push(process);
    }
    for p in &processes {
        in_file(p, check(p, &processes))?;
    }
    Ok(())
}

/// Names the file's process in an error.
fn in_file<T>(p: &SmsProcess, result: Result<T, ProvisionError>) -> Result<T, ProvisionError> {
    result.map_err(|e| match e {
        ProvisionError::Invalid(m) => {
            ProvisionError::Invalid(format!("sms process '{}': {m}", p.name))
        }
        ProvisionError::Store(StoreError::Conflict(m)) => ProvisionError::Invalid(format!(
            "sms process '{}' conflicts with another process: {m}",
            p.name
        )),
        other => other,
    })
}

/// What applying the file's processes will write, worked out and checked before any write.
#[derive(Debug, Default)]
pub struct ProcessPlan {
    delete: Vec<(Uuid, String)>,
    update: Vec<(Uuid, SmsProcessSpec)>,
    create: Vec<SmsProcessSpec>,
    unchanged: usize,
}

/// The status a file asks for, reached from the stored one through core's actions where one
/// applies: starting needs a complete process, pausing a started one. Going back to New is refused
/// (a process that has run is paused, not new); New to Paused is a plain save, both handle nothing.
fn file_status(
    current: &SmsProcess,
    wanted: ProcessStatus,
    others: &[SmsProcess],
) -> Result<ProcessStatus, ProvisionError> {
    let action = match (current.status, wanted) {
        (now, wanted) if now == wanted => return Ok(wanted),
        (_, ProcessStatus::Started) => ProcessAction::Start,
        (ProcessStatus::Started, ProcessStatus::Paused) => ProcessAction::Pause,
        (ProcessStatus::New, ProcessStatus::Paused) => return Ok(ProcessStatus::Paused),
        (now, _) => {
            return Err(ProvisionError::Invalid(format!(
                "it is {now} and cannot go back to new; write status: paused to stop it"
            )));
        }
    };
    apply_action(current, action, others).map_err(|e| ProvisionError::Invalid(e.to_string()))
}

/// Matches the file's processes with the stored ones by number, provider keyword and type, and
/// checks each as it will be saved against everything that will be stored afterwards (the file's
/// processes, and the stored ones the file leaves alone unless pruning). Nothing is written.
pub async fn plan(
    store: &Store,
    files: &[ProcessFile],
    prune: bool,
) -> Result<ProcessPlan, ProvisionError> {
    let stored: Vec<SmsProcess> = store
        .sms_processes(None)
        .await?
        .into_iter()
        .map(|p| p.process)
        .collect();
    let mut matched = HashSet::new();
    // Each file process with the stored process it replaces, if any.
    let mut wanted: Vec<(Option<&SmsProcess>, SmsProcess)> = Vec::with_capacity(files.len());
    for f in files {
        let spec = f.spec();
        let existing = stored
            .iter()
            .find(|s| s.kind == spec.kind && s.inbound.same_as(&spec.inbound));
        let id = existing.map_or_else(new_id, |s| s.id);
        if let Some(s) = existing {
            matched.insert(s.id);
        }
        wanted.push((existing, spec.to_process(id)));
    }
    let left_alone = stored.iter().filter(|s| !matched.contains(&s.id));
    let mut plan = ProcessPlan::default();
    let mut after: Vec<SmsProcess> = wanted.iter().map(|(_, p)| p.clone()).collect();
    if prune {
        plan.delete = left_alone
            .map(|s| (s.id, label(&SmsProcessSpec::of(s))))
            .collect();
    } else {
        after.extend(left_alone.cloned());
    }
    for (existing, process) in wanted {
        in_file(&process, check(&process, &after))?;
        let mut spec = SmsProcessSpec::of(&process);
        match existing {
            None => plan.create.push(stored_form(spec)),
            Some(current) => {
                // The stored process with the file's fields, in the status it has now.
                let edited = SmsProcess {
                    status: current.status,
                    ..process.clone()
                };
                spec.status = in_file(&process, file_status(&edited, process.status, &after))?;
                let spec = stored_form(spec);
                if spec == SmsProcessSpec::of(current) {
                    plan.unchanged += 1;
                } else {
                    plan.update.push((current.id, spec));
                }
            }
        }
    }
    Ok(plan)
}

/// Writes a checked plan: deletions first, so a pruned process never stands in the way of a new
/// one.
pub async fn execute(
    store: &Store,
    plan: ProcessPlan,
    now: Timestamp,
    report: &mut ApplyReport,
) -> Result<(), ProvisionError> {
    for (id, name) in plan.delete {
        store.delete_sms_process(id).await?;
        report.deleted.push(name);
    }
    for (id, spec) in plan.update {
        store.update_sms_process(id, &spec, now).await?;
        report.updated.push(label(&spec));
    }
    for spec in plan.create {
        store.create_sms_process(&spec, now).await?;
        report.created.push(label(&spec));
    }
    report.unchanged += plan.unchanged;
    Ok(())
}
