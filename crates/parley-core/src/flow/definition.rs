//! A flow as its author writes it (YAML or JSON, in the API and `parley apply`): a name, and steps
//! that run in order unless one names its `next`. Validation is [`super::validate`]; what runs is
//! [`super::advance`].
//!
//! ```yaml
//! name: order-status
//! steps:
//!   - id: welcome
//!     type: send
//!     message: { text: "Hi {{contact.first_name}}, you are talking to our bot." }
//!   - id: ask_order
//!     type: ask
//!     message: { text: "What is your order number?" }
//!     save_as: order_number
//!     cases:
//!       - when: { type: regex, pattern: "^[0-9]{6}$" }
//!         next: lookup
//!       - when: { type: keyword, words: [agent, human] }
//!         next: to_agent
//!     invalid: { text: "An order number has 6 digits, like 123456." }
//!     other: to_agent
//!     timeout: { after_seconds: 600, next: bye }
//!   - id: lookup
//!     type: webhook
//!     url: "http://127.0.0.1:8080/demo/orders/{{flow.order_number}}"
//!     save_as: order
//!     on_error: to_agent
//!   - id: status
//!     type: send
//!     message: { text: "Order {{flow.order_number}} is {{flow.order.status}}." }
//!   - id: more
//!     type: ask
//!     message:
//!       component:
//!         type: question
//!         text: "Anything else?"
//!         options: [{ id: "yes", title: "Yes" }, { id: "no", title: "No" }]
//!     cases:
//!       - when: { type: option, option: "yes" }
//!         next: to_agent
//!       - when: { type: option, option: "no" }
//!         next: bye
//!     other: bye
//!   - id: to_agent
//!     type: handoff
//!     queue: support
//!     message: { text: "Connecting you to an agent." }
//!   - id: bye
//!     type: end
//!     message: { text: "Goodbye!" }
//!     end_session: true
//! ```
//!
//! The same flow as JSON is tested in `advance_tests.rs` (parsed, validated and run).

use serde::{Deserialize, Serialize};

use crate::component::Component;
use crate::model::{ChannelKind, SessionContext};

/// A whole flow definition, one version of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowDefinition {
    /// Unique across flows: lowercase letters, digits, `-` and `_` (what triggers and other
    /// flows name it by).
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// What the flow serves: a service bot (its sessions are routed to people when it hands
    /// off) or a marketing journey (CMP-12..15).
    #[serde(default = "service")]
    pub context: SessionContext,
    /// Invalid answers to one `ask` before the flow takes its `other` branch, or ends when it
    /// has none (default 3).
    #[serde(default = "default_max_invalid")]
    pub max_invalid: u32,
    pub steps: Vec<Step>,
}

fn service() -> SessionContext {
    SessionContext::Service
}

fn default_max_invalid() -> u32 {
    3
}

/// One step: an id unique in the flow, and what it does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub id: String,
    #[serde(flatten)]
    pub action: StepAction,
}

/// What a step does. A step's `next` names the step after it; absent, the next step in the list
/// runs, and after the last one the flow ends.
// A definition is read once and its steps are few: boxing the `ask` variant would only change
// the public shape the engine builds against.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StepAction {
    /// Sends a message and goes on.
    Send {
        message: FlowMessage,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<String>,
    },
    /// Sends a message (optional: a question may already be on screen) and waits for the
    /// customer's reply. The first case whose matcher accepts the reply wins; the matched value
    /// is saved as `flow.<save_as>`. No case matching: the message of `invalid` is sent and the
    /// step asks again, up to the flow's `max_invalid`, then `other` runs.
    Ask {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<FlowMessage>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        save_as: Option<String>,
        cases: Vec<AskCase>,
        /// Where a reply that no case accepts goes after too many tries (absent: the flow ends).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        other: Option<String>,
        /// Said when a reply is not understood, before asking again.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        invalid: Option<FlowMessage>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout: Option<Timeout>,
    },
    /// Sets a field to a text with merge fields.
    Set {
        field: FieldRef,
        value: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<String>,
    },
    /// Goes to the first case whose condition holds, else to `otherwise` (absent: the next step).
    Branch {
        cases: Vec<BranchCase>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        otherwise: Option<String>,
    },
    /// Calls an HTTP endpoint, signed with HMAC-SHA256 of the body under the flow secret
    /// (`X-Parley-Signature: sha256=<hex>`). A 2xx answer's JSON object is saved as
    /// `webhook.*` (and `flow.<save_as>.*` when named) and `next` runs; any other answer, a
    /// timeout or a refused connection after the retries runs `on_error` (absent: the flow ends).
    Webhook {
        url: String,
        #[serde(default)]
        method: WebhookMethod,
        /// The JSON body; every string in it is a text with merge fields. Absent: Parley's own
        /// body (the session, the customer, the flow's fields and the last reply).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<serde_json::Value>,
        #[serde(default = "default_webhook_timeout_ms")]
        timeout_ms: u32,
        #[serde(default = "default_webhook_retries")]
        retries: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        save_as: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        on_error: Option<String>,
    },
    /// Hands the conversation to people: a queue, skills or an agent (at least one), with a
    /// message first. What the flow collected goes with it, for the agent's side panel.
    Handoff {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        queue: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        skills: Vec<String>,
        /// An agent by e-mail.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        agent: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<FlowMessage>,
    },
    /// Ends this flow and starts another by name (its current version) with the fields so far.
    StartFlow { flow: String },
    /// Ends the flow, with a last message. The session ends too when `end_session` is set.
    End {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<FlowMessage>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        end_session: bool,
    },
}

fn default_webhook_timeout_ms() -> u32 {
    5_000
}

fn default_webhook_retries() -> u32 {
    2
}

/// A message a flow sends: exactly one of a text, an approved template, or a component.
/// Texts and components take merge fields (`{{contact.first_name}}`, `{{flow.order_number}}`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowMessage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<TemplateRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<Component>,
}

/// An approved template by name and language, with its parameters as texts with merge fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateRef {
    pub name: String,
    pub language: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<String>,
}

/// One answer an `ask` step understands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AskCase {
    pub when: Matcher,
    pub next: String,
}

/// How a reply is understood. Texts are compared trimmed, case- and accent-folded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Matcher {
    /// The whole reply is one of the words (or phrases).
    Keyword { words: Vec<String> },
    /// The reply contains any of the words, as a whole word.
    AnyWord { words: Vec<String> },
    /// The customer chose the option with this id of the question just asked: by tapping it, by
    /// its number in the text fallback, or by writing its title.
    Option { option: String },
    /// A number (the saved value is the number as written, normalised: `1,5` reads as `1.5`).
    Number,
    /// A number from `min` to `max`, both included.
    NumberBetween { min: f64, max: f64 },
    /// A date (ISO 8601, or day/month/year); saved as `YYYY-MM-DD`.
    Date,
    /// An e-mail address; saved lower-cased.
    Email,
    /// A phone number; saved in E.164 (read in the channel's country when it has no `+`).
    Phone,
    /// A regular expression that must match somewhere in the reply; the saved value is the
    /// first capture group when there is one, else the whole match.
    Regex { pattern: String },
    /// Any reply.
    Any,
}

/// Where an `ask` goes when the customer does not answer in time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeout {
    pub after_seconds: u32,
    pub next: String,
}

/// One branch of a `branch` step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BranchCase {
    pub when: Condition,
    pub next: String,
}

/// What a branch tests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// A field (`contact.email`, `flow.order_number`, `webhook.status`) compared with a value.
    Field {
        field: String,
        op: Compare,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<String>,
    },
    /// Inside (or, with `open: false`, outside) the channel's business hours. A channel with no
    /// business hours is always open.
    BusinessHours {
        #[serde(default = "yes")]
        open: bool,
    },
    /// The conversation is on a channel of this kind.
    Channel { kind: ChannelKind },
    /// The customer's language, as a range: `fr` matches `fr`, `fr-CA` and `fr_ca` (any case);
    /// `fr-CA` matches `fr-CA` only.
    Language { language: String },
    /// The session's context.
    Context { context: SessionContext },
    /// All of the conditions hold.
    All { conditions: Vec<Condition> },
    /// Any of the conditions holds.
    AnyOf { conditions: Vec<Condition> },
}

fn yes() -> bool {
    true
}

/// A comparison of a field. Equality and `contains` fold case and accents; `gt`/`lt` compare
/// numbers (a field that is not a number fails them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compare {
    Eq,
    Ne,
    Contains,
    Gt,
    Lt,
    /// The field has a non-empty value.
    Present,
    /// The field is missing or empty.
    Absent,
}

/// A field a `set` step writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldRef {
    pub scope: FieldScope,
    /// The field's name in its scope: for contacts `first_name`, `last_name`, `email`,
    /// `phone`; for messaging users `locale` and `name`; for cases `subject` and `status`;
    /// any name made of lowercase letters, digits and `_` for `flow`.
    pub name: String,
}

/// Whose field a `set` step writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldScope {
    /// The conversation's own collected data (`flow.*`), handed to the agent on hand-off.
    Flow,
    Contact,
    MessagingUser,
    Case,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum WebhookMethod {
    Get,
    #[default]
    Post,
}
