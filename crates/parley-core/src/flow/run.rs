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

use super::definition::{
    Compare, Condition, FieldScope, FlowDefinition, FlowMessage, Step, StepAction, TemplateRef,
};
use super::matchers::{MatchContext, matches, parse_number};
use super::text::{
    FlowFields, WEBHOOK_PREFIX, render_json, render_message, render_text, render_url,
};
use crate::Timestamp;
use crate::component::Component;
use crate::keywords::{Language, normalize};
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
    /// The channel's country calling code (for the phone matcher), when it has one: `44` or
    /// `+44`; an ISO 3166 region (`GB`) is read too.
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

/// Deepest level of a webhook's JSON answer that is flattened (`webhook.a.b.c.d`); an object or
/// array below it is kept as its JSON text.
pub const WEBHOOK_MAX_DEPTH: usize = 4;
/// Most `webhook.*` fields one answer writes; the rest of a large answer is dropped, so an
/// endpoint cannot bloat every run's durable row.
pub const WEBHOOK_MAX_FIELDS: usize = 200;

/// Runs the flow from `state` given `event`: see the module doc. An event the state does not
/// wait for (a reply while waiting for a webhook, a timeout that is not due) changes nothing.
///
/// How each step runs:
/// - `send` sends and goes on; `ask` sends its message (when it has one) and waits, until
///   `now + after_seconds` when it has a timeout;
/// - a reply to an `ask` goes to the first case that accepts it, saving the value as `save_as`;
///   a reply no case accepts counts as invalid: below the flow's `max_invalid` the `invalid`
///   message is sent (else the ask's message again) and the wait goes on with the same deadline;
///   at `max_invalid` the run goes to `other`, or ends [`RunEnd::Failed`];
/// - `set` writes `flow.*` fields into the state, and other scopes through
///   [`Action::SetField`] (later steps of the same call already see the new value);
/// - `branch` goes to its first case whose condition holds, else `otherwise`, else on;
/// - `webhook` asks the engine for the call and waits; its answer is flattened into
///   `webhook.*` (and `<save_as>.*`), replacing the previous answer's fields;
/// - `handoff`, `start_flow` and `end` end the run after their actions.
///
/// Every text is rendered by [`super::text`]. The options of the last question sent (a
/// `question` or `time_slots` component, from any step) are kept in [`RunState::options`]; an
/// `ask` whose own message is something else forgets them. A step name that is not in the flow
/// (possible only in an unvalidated flow, or a run whose flow changed while it waited) ends the
/// run [`RunEnd::Failed`].
pub fn advance(
    flow: &FlowDefinition,
    state: RunState,
    event: FlowEvent,
    facts: &Facts,
) -> Advanced {
    let mut run = Runner {
        flow,
        facts,
        state,
        actions: Vec::new(),
        updated: BTreeMap::new(),
    };
    match (run.state.status, event) {
        (RunStatus::Ready, FlowEvent::Start) => {
            // The id is borrowed from the flow, which outlives the run.
            match run.current() {
                Some((_, step)) => run.run_from(Goto::Step(&step.id)),
                None => run.end(RunEnd::Failed),
            }
        }
        (RunStatus::WaitingReply { .. }, FlowEvent::Reply(reply)) => run.on_reply(&reply),
        (
            RunStatus::WaitingReply {
                timeout_at: Some(at),
            },
            FlowEvent::Timeout,
        ) if at <= facts.now => {
            run.on_timeout();
        }
        (RunStatus::WaitingWebhook, FlowEvent::Webhook(result)) => run.on_webhook(result),
        _ => {}
    }
    Advanced {
        state: run.state,
        actions: run.actions,
    }
}

/// Where the run goes after a step.
#[derive(Debug, Clone, Copy)]
enum Goto<'a> {
    /// The step with this id.
    Step(&'a str),
    /// The step after the one at this index in the list (the end after the last).
    After(usize),
}

fn next_or_after(next: Option<&String>, index: usize) -> Goto<'_> {
    next.map_or(Goto::After(index), |n| Goto::Step(n))
}

struct Runner<'a> {
    flow: &'a FlowDefinition,
    facts: &'a Facts,
    state: RunState,
    actions: Vec<Action>,
    /// Facts written by `set` steps in this call, by full name (`contact.first_name`).
    updated: BTreeMap<String, String>,
}

impl<'a> Runner<'a> {
    fn fields(&self) -> FlowFields<'_> {
        FlowFields {
            run: &self.state.fields,
            updated: &self.updated,
            facts: &self.facts.fields,
        }
    }

    fn find(&self, id: &str) -> Option<(usize, &'a Step)> {
        self.flow.steps.iter().enumerate().find(|(_, s)| s.id == id)
    }

    fn current(&self) -> Option<(usize, &'a Step)> {
        self.find(&self.state.step)
    }

    fn end(&mut self, how: RunEnd) {
        self.state.status = RunStatus::Ended { how };
    }

    /// Runs steps from `goto` until one waits or the run ends.
    fn run_from(&mut self, mut goto: Goto<'a>) {
        self.state.status = RunStatus::Ready;
        let mut executed = 0;
        loop {
            let (index, step) = match goto {
                Goto::Step(id) => match self.find(id) {
                    Some(found) => found,
                    None => return self.end(RunEnd::Failed),
                },
                Goto::After(i) => match self.flow.steps.get(i + 1) {
                    // A step whose id an earlier step also has (an unvalidated flow) cannot be
                    // named by the state, so a wait there would resume at the other one.
                    Some(step) if self.find(&step.id).is_some_and(|(first, _)| first != i + 1) => {
                        return self.end(RunEnd::Failed);
                    }
                    Some(step) => (i + 1, step),
                    None => return self.end(RunEnd::Completed),
                },
            };
            self.state.step.clone_from(&step.id);
            // Checked once the next step is known, so a flow that ends or fails exactly at the
            // limit ends that way rather than as looping.
            if executed == MAX_STEPS_PER_ADVANCE {
                return self.end(RunEnd::Looped);
            }
            executed += 1;
            match self.execute(index, step) {
                Some(next) => goto = next,
                None => return,
            }
        }
    }

    /// Runs one step: where to go next, or `None` when the run waits or ended.
    fn execute(&mut self, index: usize, step: &'a Step) -> Option<Goto<'a>> {
        match &step.action {
            StepAction::Send { message, next } => {
                self.send(message);
                Some(next_or_after(next.as_ref(), index))
            }
            StepAction::Ask {
                message, timeout, ..
            } => {
                if let Some(m) = message {
                    if !is_question(m) {
                        self.state.options.clear();
                    }
                    self.send(m);
                }
                self.state.invalid = 0;
                let timeout_at = timeout.as_ref().map(|t| {
                    self.facts
                        .now
                        .plus(std::time::Duration::from_secs(u64::from(t.after_seconds)))
                });
                self.state.status = RunStatus::WaitingReply { timeout_at };
                None
            }
            StepAction::Set { field, value, next } => {
                let value = render_text(value, &self.fields());
                self.set(field.scope, &field.name, value);
                Some(next_or_after(next.as_ref(), index))
            }
            StepAction::Branch { cases, otherwise } => {
                let chosen = cases.iter().find(|c| self.holds(&c.when));
                Some(match chosen {
                    Some(case) => Goto::Step(&case.next),
                    None => next_or_after(otherwise.as_ref(), index),
                })
            }
            StepAction::Webhook {
                url,
                method,
                body,
                timeout_ms,
                retries,
                ..
            } => {
                let fields = self.fields();
                let call = WebhookCall {
                    url: render_url(url, &fields),
                    method: *method,
                    body: body.as_ref().map(|b| render_json(b, &fields)),
                    timeout_ms: *timeout_ms,
                    retries: *retries,
                };
                self.actions.push(Action::CallWebhook(call));
                self.state.status = RunStatus::WaitingWebhook;
                None
            }
            StepAction::Handoff {
                queue,
                skills,
                agent,
                message,
            } => {
                if let Some(m) = message {
                    self.send(m);
                }
                let collected = self
                    .state
                    .fields
                    .iter()
                    .filter(|(k, _)| !k.starts_with(WEBHOOK_PREFIX))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                self.actions.push(Action::Handoff(HandoffTarget {
                    queue: queue.clone(),
                    skills: skills.clone(),
                    agent: agent.clone(),
                    collected,
                }));
                self.end(RunEnd::HandedOff);
                None
            }
            StepAction::StartFlow { flow } => {
                self.actions.push(Action::StartFlow {
                    flow: flow.clone(),
                    fields: self.state.fields.clone(),
                });
                self.end(RunEnd::Continued);
                None
            }
            StepAction::End {
                message,
                end_session,
            } => {
                if let Some(m) = message {
                    self.send(m);
                }
                if *end_session {
                    self.actions.push(Action::EndSession);
                }
                self.end(RunEnd::Completed);
                None
            }
        }
    }

    fn send(&mut self, message: &FlowMessage) {
        let Some(out) = render_message(message, &self.fields()) else {
            return;
        };
        if let OutMessage::Component(component) = &out {
            match component {
                Component::Question { options, .. } => {
                    self.state.options = options
                        .iter()
                        .map(|o| ChoiceOption {
                            id: o.id.clone(),
                            title: o.title.clone(),
                        })
                        .collect();
                }
                Component::TimeSlots { slots, .. } => {
                    self.state.options = slots
                        .iter()
                        .map(|s| ChoiceOption {
                            id: s.start.clone(),
                            title: s.title.clone(),
                        })
                        .collect();
                }
                Component::Link { .. } => {}
            }
        }
        self.actions.push(Action::Send(out));
    }

    fn set(&mut self, scope: FieldScope, name: &str, value: String) {
        let prefix = match scope {
            FieldScope::Flow => {
                self.state.fields.insert(name.to_owned(), value);
                return;
            }
            FieldScope::Contact => "contact",
            FieldScope::MessagingUser => "messaging_user",
            FieldScope::Case => "case",
        };
        self.updated
            .insert(format!("{prefix}.{name}"), value.clone());
        if scope == FieldScope::Contact && matches!(name, "first_name" | "last_name") {
            // `contact.name` is derived from the parts; keep it in step for later texts.
            let fields = self.fields();
            let full = crate::merge::full_name(
                fields.get("contact.first_name").unwrap_or_default(),
                fields.get("contact.last_name").unwrap_or_default(),
            );
            self.updated.insert("contact.name".to_owned(), full);
        }
        self.actions.push(Action::SetField {
            scope,
            name: name.to_owned(),
            value,
        });
    }

    fn holds(&self, condition: &Condition) -> bool {
        match condition {
            Condition::Field { field, op, value } => {
                let fields = self.fields();
                let actual = fields.get(field).unwrap_or_default();
                let expected = value
                    .as_deref()
                    .map(|v| render_text(v, &fields))
                    .unwrap_or_default();
                compare(actual, *op, &expected)
            }
            Condition::BusinessHours { open } => self.facts.business_hours_open == *open,
            Condition::Channel { kind } => self.facts.channel_kind == *kind,
            Condition::Language { language } => self
                .facts
                .language
                .as_deref()
                .is_some_and(|tag| language_matches(language, tag)),
            Condition::Context { context } => self.facts.context == *context,
            Condition::All { conditions } => conditions.iter().all(|c| self.holds(c)),
            Condition::AnyOf { conditions } => conditions.iter().any(|c| self.holds(c)),
        }
    }

    fn on_reply(&mut self, reply: &Reply) {
        let Some((
            _,
            Step {
                action:
                    StepAction::Ask {
                        message,
                        save_as,
                        cases,
                        other,
                        invalid,
                        ..
                    },
                ..
            },
        )) = self.current()
        else {
            return self.end(RunEnd::Failed);
        };
        let ctx = MatchContext {
            options: &self.state.options,
            country: self.facts.country.as_deref(),
        };
        let hit = cases
            .iter()
            .find_map(|case| matches(&case.when, reply, &ctx).map(|value| (case, value)));
        if let Some((case, value)) = hit {
            if let Some(key) = save_as {
                self.state.fields.insert(key.clone(), value);
            }
            self.state.invalid = 0;
            return self.run_from(Goto::Step(&case.next));
        }
        self.state.invalid = self.state.invalid.saturating_add(1);
        if self.state.invalid >= self.flow.max_invalid {
            self.state.invalid = 0;
            return match other {
                Some(o) => self.run_from(Goto::Step(o)),
                None => self.end(RunEnd::Failed),
            };
        }
        // Re-prompt the way RapidPro does: the "not understood" message when there is one, else
        // the question again. The deadline stays: a customer cannot extend it by typing.
        if let Some(m) = invalid.as_ref().or(message.as_ref()) {
            self.send(m);
        }
    }

    fn on_timeout(&mut self) {
        match self.current() {
            Some((
                _,
                Step {
                    action:
                        StepAction::Ask {
                            timeout: Some(t), ..
                        },
                    ..
                },
            )) => {
                self.state.invalid = 0;
                self.run_from(Goto::Step(&t.next));
            }
            // The ask lost its timeout in a new version of the flow: keep waiting for a reply.
            Some((
                _,
                Step {
                    action: StepAction::Ask { .. },
                    ..
                },
            )) => {}
            _ => self.end(RunEnd::Failed),
        }
    }

    fn on_webhook(&mut self, result: WebhookResult) {
        let Some((
            index,
            Step {
                action:
                    StepAction::Webhook {
                        save_as,
                        next,
                        on_error,
                        ..
                    },
                ..
            },
        )) = self.current()
        else {
            return self.end(RunEnd::Failed);
        };
        let mirror = save_as.as_ref().map(|s| format!("{s}."));
        self.state.fields.retain(|k, _| {
            !k.starts_with(WEBHOOK_PREFIX) && !mirror.as_ref().is_some_and(|m| k.starts_with(m))
        });
        let mut written: Vec<(String, String)> = Vec::new();
        let outcome = match result {
            WebhookResult::Success { body, .. } => {
                match body {
                    Some(serde_json::Value::Object(map)) => {
                        for (key, value) in &map {
                            flatten(value, format!("{WEBHOOK_PREFIX}{key}"), 1, &mut written);
                        }
                    }
                    Some(serde_json::Value::String(s)) => {
                        written.push((format!("{WEBHOOK_PREFIX}body"), s));
                    }
                    Some(other) => {
                        written.push((format!("{WEBHOOK_PREFIX}body"), other.to_string()))
                    }
                    None => {}
                }
                Ok(next_or_after(next.as_ref(), index))
            }
            WebhookResult::Failure { status, error } => {
                written.push((format!("{WEBHOOK_PREFIX}error"), error));
                if let Some(status) = status {
                    written.push((format!("{WEBHOOK_PREFIX}status"), status.to_string()));
                }
                Err(on_error.as_ref())
            }
        };
        for (key, value) in written {
            if let (Some(m), Some(rest)) = (&mirror, key.strip_prefix(WEBHOOK_PREFIX)) {
                self.state
                    .fields
                    .insert(format!("{m}{rest}"), value.clone());
            }
            self.state.fields.insert(key, value);
        }
        match outcome {
            Ok(goto) => self.run_from(goto),
            Err(Some(on_error)) => self.run_from(Goto::Step(on_error)),
            Err(None) => self.end(RunEnd::Failed),
        }
    }
}

fn is_question(message: &FlowMessage) -> bool {
    matches!(
        message.component,
        Some(Component::Question { .. } | Component::TimeSlots { .. })
    )
}

/// Flattens one value of a webhook's answer under `path` (see [`WEBHOOK_MAX_DEPTH`] and
/// [`WEBHOOK_MAX_FIELDS`]): strings as they are, `null` as empty, other scalars as JSON.
fn flatten(value: &serde_json::Value, path: String, depth: usize, out: &mut Vec<(String, String)>) {
    use serde_json::Value;
    if out.len() >= WEBHOOK_MAX_FIELDS {
        return;
    }
    match value {
        Value::Object(map) if depth < WEBHOOK_MAX_DEPTH => {
            for (key, v) in map {
                flatten(v, format!("{path}.{key}"), depth + 1, out);
            }
        }
        Value::Array(items) if depth < WEBHOOK_MAX_DEPTH => {
            for (i, v) in items.iter().enumerate() {
                flatten(v, format!("{path}.{i}"), depth + 1, out);
            }
        }
        Value::String(s) => out.push((path, s.clone())),
        Value::Null => out.push((path, String::new())),
        other => out.push((path, other.to_string())),
    }
}

/// A field against a value: equality and `contains` on the folded forms, `gt`/`lt` on numbers
/// (either side not a number: false), presence on a non-blank value.
fn compare(actual: &str, op: Compare, expected: &str) -> bool {
    let number = |s: &str| parse_number(s).map(|(_, n)| n);
    match op {
        Compare::Eq => normalize(actual) == normalize(expected),
        Compare::Ne => normalize(actual) != normalize(expected),
        Compare::Contains => {
            let needle = normalize(expected);
            !needle.is_empty() && normalize(actual).contains(&needle)
        }
        Compare::Gt => number(actual)
            .zip(number(expected))
            .is_some_and(|(a, e)| a > e),
        Compare::Lt => number(actual)
            .zip(number(expected))
            .is_some_and(|(a, e)| a < e),
        Compare::Present => !actual.trim().is_empty(),
        Compare::Absent => actual.trim().is_empty(),
    }
}

/// The condition's language is a range (RFC 4647 basic filtering): `fr` holds for `fr`, `fr-CA`
/// and `fr_ca`; `fr-CA` holds for `fr-CA` only, not for `fr-FR`. A bare primary subtag, the usual
/// case, is therefore the primary-subtag comparison the definition describes.
fn language_matches(range: &str, tag: &str) -> bool {
    let (range, tag) = (Language::new(range), Language::new(tag));
    let (range, tag) = (range.as_str(), tag.as_str());
    !range.is_empty()
        && (tag == range
            || tag
                .strip_prefix(range)
                .is_some_and(|rest| rest.starts_with('-')))
}
