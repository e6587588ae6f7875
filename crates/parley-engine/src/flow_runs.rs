//! Starting a flow run in a session, shared by every trigger: the inbound pipeline (a channel's
//! bot, a marketing keyword, after hours, a marketing journey), the router (a routing rule's
//! `route_to_bot`), an agent's transfer to a flow, and the flows worker (`start_flow`). A start
//! is rows, written by the caller with its other changes in one transaction: the run, its first
//! job, and the session now held by the flow (a bot owns it, so no agent is offered it).
//!
//! Definitions are read through [`FlowCatalog`]: a version never changes once saved, so each is
//! parsed once per node.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use parley_core::flow::{FlowDefinition, RunState, RunStatus};
use parley_core::model::OwnerKind;
use parley_core::session::{SessionEvent, SessionOwner, apply};
use parley_core::{Timestamp, new_id};
use parley_store::{FlowRun, FlowRunWrite, NewJob, Session, Store, StoreError, StoredFlow};
use uuid::Uuid;

use crate::jobs::{FlowJob, FlowJobEvent, flow_job};
use crate::session_rows::{row_of, state_of};

/// Parsed definitions by flow id and version.
type Parsed = HashMap<(Uuid, i64), Arc<FlowDefinition>>;

/// Parsed flow versions, by flow id and version.
#[derive(Clone, Default)]
pub struct FlowCatalog {
    parsed: Arc<Mutex<Parsed>>,
    /// Flows' names by id.
    names: Arc<Mutex<HashMap<Uuid, Arc<str>>>>,
}

impl std::fmt::Debug for FlowCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowCatalog").finish_non_exhaustive()
    }
}

/// Why a flow could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FlowUseError {
    #[error("no flow is named '{0}'")]
    Unknown(String),
    #[error("flow '{name}' version {version} cannot be read: {reason}")]
    Unreadable {
        name: String,
        version: i64,
        reason: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl FlowCatalog {
    /// Version `version` of `flow`, parsed.
    pub async fn definition(
        &self,
        store: &Store,
        flow: &StoredFlow,
        version: i64,
    ) -> Result<Arc<FlowDefinition>, FlowUseError> {
        if let Some(d) = self.cached(flow.id, version) {
            return Ok(d);
        }
        let text = if version == flow.version {
            flow.definition.clone()
        } else {
            store.flow_version(flow.id, version).await?
        };
        let parsed = parse_definition(&text).map_err(|reason| FlowUseError::Unreadable {
            name: flow.name.clone(),
            version,
            reason,
        })?;
        let parsed = Arc::new(parsed);
        if let Ok(mut map) = self.parsed.lock() {
            map.insert((flow.id, version), parsed.clone());
        }
        Ok(parsed)
    }

    fn cached(&self, id: Uuid, version: i64) -> Option<Arc<FlowDefinition>> {
        self.parsed.lock().ok()?.get(&(id, version)).cloned()
    }

    /// What a run needs of its flow: the flow's name and version `version`'s definition. Both
    /// stay as they are for a version (a rename is a new flow), so the flow's row is read once
    /// per version and node, not at every event of every run.
    pub async fn for_run(
        &self,
        store: &Store,
        flow_id: Uuid,
        version: i64,
    ) -> Result<(Arc<str>, Arc<FlowDefinition>), FlowUseError> {
        if let Some(found) = self
            .names
            .lock()
            .ok()
            .and_then(|m| m.get(&flow_id).cloned())
            && let Some(d) = self.cached(flow_id, version)
        {
            return Ok((found, d));
        }
        let flow = store.flow(flow_id).await?;
        let d = self.definition(store, &flow, version).await?;
        let name: Arc<str> = Arc::from(flow.name.as_str());
        if let Ok(mut m) = self.names.lock() {
            m.insert(flow_id, name.clone());
        }
        Ok((name, d))
    }

    /// The current version of the flow named `name`, with its definition.
    pub async fn current(
        &self,
        store: &Store,
        name: &str,
    ) -> Result<(StoredFlow, Arc<FlowDefinition>), FlowUseError> {
        let flow = store
            .flow_by_name(name)
            .await?
            .ok_or_else(|| FlowUseError::Unknown(name.to_owned()))?;
        let def = self.definition(store, &flow, flow.version).await?;
        Ok((flow, def))
    }
}

/// A stored definition (JSON) as core's type.
pub fn parse_definition(json: &str) -> Result<FlowDefinition, String> {
    serde_json::from_str(json).map_err(|e| e.to_string())
}

/// The stored name of a run's status, for lists and filters.
pub fn status_name(status: &RunStatus) -> &'static str {
    match status {
        RunStatus::Ready => "ready",
        RunStatus::WaitingReply { .. } => "waiting_reply",
        RunStatus::WaitingWebhook => "waiting_webhook",
        RunStatus::Ended { .. } => "ended",
    }
}

/// A run as the store keeps it, after `state` at write `seq`.
pub fn run_row(base: &FlowRun, state: &RunState, last_event: String, now: Timestamp) -> FlowRun {
    FlowRun {
        status: status_name(&state.status).to_owned(),
        step: state.step.clone(),
        state: serde_json::to_string(state).unwrap_or_default(),
        last_event,
        seq: base.seq + 1,
        updated_at: now,
        ended_at: state.is_over().then_some(now),
        ..base.clone()
    }
}

/// The rows of a new run.
#[derive(Debug, Clone)]
pub struct RunStart {
    pub run: FlowRunWrite,
    pub job: NewJob,
}

pub use parley_core::flow::Trigger;

/// A new run of `flow` (its current version) in `session_id`, with `fields` collected so far,
/// and the job that runs its first steps.
pub fn start_run(
    flow: &StoredFlow,
    definition: &FlowDefinition,
    session_id: Uuid,
    trigger: Trigger,
    fields: BTreeMap<String, String>,
    now: Timestamp,
) -> RunStart {
    let state = RunState::start(definition, fields);
    let id = new_id();
    let run = FlowRun {
        id,
        session_id,
        flow_id: flow.id,
        version: flow.version,
        trigger: trigger.as_str().to_owned(),
        status: status_name(&state.status).to_owned(),
        step: state.step.clone(),
        state: serde_json::to_string(&state).unwrap_or_default(),
        last_event: String::new(),
        seq: 0,
        started_at: now,
        updated_at: now,
        ended_at: None,
    };
    let job = flow_job(
        &FlowJob {
            session_id,
            event: FlowJobEvent::Start { run_id: id },
        },
        now,
    );
    RunStart {
        run: FlowRunWrite {
            run,
            expect_seq: None,
        },
        job,
    }
}

/// The session as the flow holds it: the bot (the flow) is its owner, so routing offers it to
/// nobody and the customer's replies come to the flow. A waiting session is accepted by the
/// bot; an active one (an agent's transfer) is handed over to it. `None`: the session's status
/// does not let a bot take it (it is over, or held for consent).
pub fn held_by_flow(session: &Session, flow_id: Uuid, now: Timestamp) -> Option<Session> {
    let owner = SessionOwner {
        kind: OwnerKind::Bot,
        id: flow_id,
    };
    let policy = Default::default();
    let mut state = state_of(session);
    if state.status == parley_core::model::SessionStatus::Active {
        let moved = apply(
            &state,
            &SessionEvent::Transferred {
                at: now,
                to: Some(owner),
            },
            &policy,
        )
        .ok()?;
        state = moved.state;
    }
    let accepted = apply(
        &state,
        &SessionEvent::AgentAccepted { at: now, owner },
        &policy,
    )
    .ok()?;
    let mut row = row_of(session, &accepted.state);
    row.queue_id = None;
    Some(row)
}
