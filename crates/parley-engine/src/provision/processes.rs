//! SMS keyword processes in a workspace file: `parley apply` plans the whole file's processes
//! against the stored ones with the same rule the API uses ([`crate::service::sms_processes::check`]),
//! then writes the plan.

use std::collections::HashSet;

use parley_core::keyword_process::{
    ProcessAction, ProcessStatus, ProcessType, SmsProcess, apply_action,
};
use parley_core::{Timestamp, new_id};
use parley_store::{SmsProcessSpec, Store, StoreError};
use serde::Deserialize;
use uuid::Uuid;

use crate::service::sms_processes::{ProcessDraft, check, stored_form, written};
use crate::service::{ApplyReport, ServiceError as ProvisionError};

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
