//! The flow worker: carries out what `parley_core::flow::advance` decides, one event at a time.
//!
//! ```text
//! flow job (start | reply | timeout) -> read the run, its version, the session and customer
//!   -> advance (core) -> call webhooks (no transaction open) -> advance again with the answer
//!   -> compose the messages (outbox) -> one transaction: the run (guarded by its seq), entries,
//!      send jobs, the session (hand-off, end), routing work, the timeout's job
//! ```
//!
//! A run is durable at every wait: a restart finds its row and its pending job (the start, the
//! customer's reply, the timeout) and goes on. A job that runs twice finds its event already
//! applied (`last_event`, `seq`) and does nothing; two workers racing on one run cannot both
//! write (the seq guard), and the loser retries with what the winner wrote. A webhook is called
//! again when its job is retried: receivers get an `X-Parley-Delivery` id (the run and its seq)
//! to recognise a repeat.
//!
//! Decisions where the issue is silent:
//! - A run that completes ends its session (the bot said its last word; the next message opens
//!   a new conversation with the bot). A run that fails (too many invalid answers, a webhook
//!   that keeps failing with no `on_error`, a loop) hands the conversation to the channel's
//!   queue: a person answers rather than nobody.
//! - A `set` of a contact field on a customer with no contact creates the contact and links it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use parley_core::flow::{
    Action, Advanced, Facts, FieldScope, FlowDefinition, FlowEvent, HandoffTarget, OutMessage,
    Reply, RunEnd, RunState, RunStatus, WebhookCall, WebhookMethod, WebhookResult, advance,
};
use parley_core::model::{Actor, OwnerKind, SessionStatus};
use parley_core::routing::{SkillLevel, WorkTarget};
use parley_core::session::{SessionEvent, apply};
use parley_core::{Clock, E164, Timestamp};
use parley_store::{
    Channel, ConsoleChange, ContactLink, ContactSpec, FlowRun, FlowRunWrite, GuardedSession,
    InboundWrite, Job, MessagingUser, RoutingWork, Session, Store, StoreError,
};
use sha2::Sha256;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::channel_rules::behaviour_of;
use crate::compose::{Author, Compose, ComposeError, OutgoingMessage, TemplateSend};
use crate::events::{DomainEvent, EventBus};
use crate::flow_runs::{FlowCatalog, FlowUseError, Trigger, run_row, start_run};
use crate::jobs::{FlowJob, FlowJobEvent, flow_job};
use crate::routing::waiting_row;
use crate::runner::JobOutcome;
use crate::session_rows::{row_of, state_of};

/// How long a run waits for a reply to an `ask` without a timeout of its own: then the
/// customer is taken to have left, and the flow ends its conversation rather than hold it
/// forever (the care window of WhatsApp is as long).
pub const IDLE: Duration = Duration::from_secs(24 * 3600);

/// Webhook calls one job makes at most (a flow that calls webhooks back to back without
/// waiting for the customer).
const MAX_CALLS_PER_JOB: usize = 8;
/// The most of a webhook's answer read.
const MAX_WEBHOOK_ANSWER: usize = 256 * 1024;

/// Why a flow event could not be applied now.
#[derive(Debug, thiserror::Error)]
enum FlowError {
    /// Worth another try (the database, a run another worker moved).
    #[error("{0}")]
    Retry(String),
    /// Will never work (the flow or its version is gone or unreadable).
    #[error("{0}")]
    Permanent(String),
}

impl From<StoreError> for FlowError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { entity } => Self::Permanent(format!("{entity} not found")),
            e => Self::Retry(e.to_string()),
        }
    }
}

impl From<FlowUseError> for FlowError {
    fn from(e: FlowUseError) -> Self {
        match e {
            FlowUseError::Store(e) => e.into(),
            e => Self::Permanent(e.to_string()),
        }
    }
}

impl From<ComposeError> for FlowError {
    fn from(e: ComposeError) -> Self {
        match e {
            ComposeError::Store(e) => e.into(),
            e => Self::Permanent(e.to_string()),
        }
    }
}

/// The flows queue's worker (see [`crate::Engine::flow_runner`]).
#[derive(Clone)]
pub struct FlowWorker {
    store: Store,
    clock: Arc<dyn Clock>,
    events: EventBus,
    catalog: FlowCatalog,
    compose: Compose,
    http: reqwest::Client,
    /// The key webhook requests are signed with (`X-Parley-Signature`).
    secret: Option<Arc<str>>,
    outbound_wake: Option<Arc<Notify>>,
}

impl std::fmt::Debug for FlowWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowWorker").finish_non_exhaustive()
    }
}

/// Everything one event is applied with.
struct Context {
    run: FlowRun,
    flow_name: String,
    definition: Arc<FlowDefinition>,
    session: Session,
    channel: Channel,
    user: MessagingUser,
    facts: Facts,
}

impl FlowWorker {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        events: EventBus,
        catalog: FlowCatalog,
        compose: Compose,
        secret: Option<String>,
    ) -> Self {
        crate::transport::install_crypto_provider();
        let http = reqwest::Client::builder()
            .user_agent(concat!("parley/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .unwrap_or_default();
        Self {
            store,
            clock,
            events,
            catalog,
            compose,
            http,
            secret: secret.filter(|s| !s.is_empty()).map(Arc::from),
            outbound_wake: None,
        }
    }

    /// Wakes the dispatcher when a flow queued messages.
    pub fn with_outbound_wake(mut self, wake: Arc<Notify>) -> Self {
        self.outbound_wake = Some(wake);
        self
    }

    /// Applies a claimed batch: the jobs of one session in the order they were made (a reply
    /// never overtakes the start before it), sessions side by side.
    pub async fn process_batch(&self, jobs: Vec<Job>) -> Vec<(Uuid, JobOutcome)> {
        let mut outcomes = Vec::with_capacity(jobs.len());
        let mut by_session: HashMap<Uuid, Vec<(Uuid, FlowJob)>> = HashMap::new();
        for job in jobs {
            match serde_json::from_str::<FlowJob>(&job.payload) {
                Ok(f) => by_session
                    .entry(f.session_id)
                    .or_default()
                    .push((job.id, f)),
                Err(e) => outcomes.push((
                    job.id,
                    JobOutcome::Permanent(format!("malformed flow job: {e}")),
                )),
            }
        }
        let mut set = JoinSet::new();
        for (_, mut group) in by_session {
            group.sort_by_key(|(id, _)| *id);
            let worker = self.clone();
            set.spawn(async move {
                let mut out = Vec::with_capacity(group.len());
                for (id, job) in group {
                    out.push((id, worker.handle(&job).await));
                }
                out
            });
        }
        while let Some(done) = set.join_next().await {
            match done {
                Ok(out) => outcomes.extend(out),
                Err(e) => {
                    tracing::error!(error = %e, "a flow task panicked; its jobs will be retried")
                }
            }
        }
        outcomes
    }

    /// One event, as the runner's outcome.
    pub async fn handle(&self, job: &FlowJob) -> JobOutcome {
        match self.apply(job).await {
            Ok(()) => JobOutcome::Done,
            Err(FlowError::Retry(m)) => JobOutcome::Retry(m),
            Err(FlowError::Permanent(m)) => {
                tracing::warn!(session_id = %job.session_id, reason = %m, "flow event dropped");
                JobOutcome::Permanent(m)
            }
        }
    }

    async fn apply(&self, job: &FlowJob) -> Result<(), FlowError> {
        let now = self.clock.now();
        let (run, event, key) = match &job.event {
            FlowJobEvent::Start { run_id } => {
                let run = self.store.flow_run(*run_id).await?;
                if run.seq > 0 || run.ended_at.is_some() {
                    return Ok(());
                }
                (run, FlowEvent::Start, "start".to_owned())
            }
            FlowJobEvent::Reply {
                entry_id,
                text,
                choice,
            } => {
                let Some(run) = self.store.current_flow_run(job.session_id).await? else {
                    return Ok(());
                };
                let key = entry_id.to_string();
                if run.last_event == key {
                    return Ok(());
                }
                if run.seq == 0 {
                    // The start has not run yet (another worker has it): the reply must wait
                    // for the question it answers.
                    return Err(FlowError::Retry("the flow has not started yet".into()));
                }
                let reply = Reply {
                    text: text.clone(),
                    choice: choice.clone(),
                };
                (run, FlowEvent::Reply(reply), key)
            }
            FlowJobEvent::Timeout { run_id, seq } => {
                let run = self.store.flow_run(*run_id).await?;
                if run.seq != *seq || run.ended_at.is_some() {
                    return Ok(());
                }
                (run, FlowEvent::Timeout, format!("timeout:{seq}"))
            }
            FlowJobEvent::Abandon { run_id, seq } => {
                let run = self.store.flow_run(*run_id).await?;
                if run.seq != *seq || run.ended_at.is_some() {
                    return Ok(());
                }
                let mut state: RunState = serde_json::from_str(&run.state).map_err(|e| {
                    FlowError::Permanent(format!("flow run {}: state: {e}", run.id))
                })?;
                let ctx = self.context(run, now).await?;
                let key = format!("abandon:{seq}");
                if !ctx.session.status.is_open() || !held_by(&ctx.session, ctx.run.flow_id) {
                    return self.stop(&ctx, state, key, now).await;
                }
                state.status = RunStatus::Ended {
                    how: RunEnd::Stopped,
                };
                return self
                    .commit(ctx, state, vec![Action::EndSession], key, now)
                    .await;
            }
        };
        let state: RunState = serde_json::from_str(&run.state)
            .map_err(|e| FlowError::Permanent(format!("flow run {}: state: {e}", run.id)))?;
        let mut ctx = self.context(run, now).await?;
        if !ctx.session.status.is_open()
            || !held_by(&ctx.session, ctx.run.flow_id)
            || ctx.user.restricted_at.is_some()
        {
            // An agent took the conversation, or it ended, or the customer's processing is
            // restricted (PRIV-02): the flow stops where it is.
            return self.stop(&ctx, state, key, now).await;
        }
        let (state, actions) = self.run_steps(&mut ctx, state, event).await;
        self.commit(ctx, state, actions, key, now).await
    }

    /// Reads what the flow sees.
    async fn context(&self, run: FlowRun, now: Timestamp) -> Result<Context, FlowError> {
        let (flow_name, definition) = self
            .catalog
            .for_run(&self.store, run.flow_id, run.version)
            .await?;
        let session = self.store.session(run.session_id).await?;
        let channel = self.store.channel(session.channel_id).await?;
        let user = self.store.messaging_user(session.messaging_user_id).await?;
        let behaviour = behaviour_of(&channel.settings).unwrap_or_default();
        let mut fields = BTreeMap::new();
        fields.insert("channel.name".to_owned(), channel.name.clone());
        fields.insert("channel.kind".to_owned(), channel.kind.as_str().to_owned());
        fields.insert(
            "messaging_user.platform_key".to_owned(),
            user.platform_key.clone(),
        );
        fields.insert("messaging_user.name".to_owned(), user.name.clone());
        if let Some(l) = &user.locale {
            fields.insert("messaging_user.locale".to_owned(), l.clone());
        }
        fields.insert("session.id".to_owned(), session.id.to_string());
        if let Some(contact_id) = user.contact_id
            && let Ok(c) = self.store.contact(contact_id).await
        {
            fields.insert("contact.first_name".to_owned(), c.first_name.clone());
            fields.insert("contact.last_name".to_owned(), c.last_name.clone());
            fields.insert(
                "contact.name".to_owned(),
                parley_core::merge::full_name(&c.first_name, &c.last_name),
            );
            if let Some(e) = &c.email {
                fields.insert("contact.email".to_owned(), e.clone());
            }
            if let Some(p) = &c.phone {
                fields.insert("contact.phone".to_owned(), p.clone());
            }
        }
        // The wait a hand-off message may announce (BOT-07, RT-10), read only for flows that
        // mention the queue.
        if let Some(queue_id) = channel.queue_id
            && mentions_queue(&definition)
        {
            if let Ok(q) = self.store.queue(queue_id).await {
                fields.insert("queue.name".to_owned(), q.name);
            }
            let since = Timestamp(now.millis() - parley_core::routing::ESTIMATED_WAIT_WINDOW_MS);
            let samples: Vec<parley_core::routing::AcceptSample> = self
                .store
                .queue_accepts(queue_id, since)
                .await?
                .into_iter()
                .map(
                    |(accepted_at, waited_ms)| parley_core::routing::AcceptSample {
                        accepted_at: Timestamp(accepted_at),
                        waited_ms,
                    },
                )
                .collect();
            if let Some(minutes) = parley_core::routing::estimated_wait(&samples, now) {
                fields.insert(
                    "queue.estimated_wait_minutes".to_owned(),
                    minutes.to_string(),
                );
            }
        }
        if let Some(case_id) = session.case_id
            && let Ok(case) = self.store.case(case_id).await
        {
            fields.insert("case.subject".to_owned(), case.subject.clone());
            fields.insert("case.status".to_owned(), case.status.as_str().to_owned());
        }
        let facts = Facts {
            fields,
            channel_kind: channel.kind,
            business_hours_open: behaviour
                .business_hours
                .as_ref()
                .is_none_or(|h| h.is_open(now)),
            language: user.locale.clone().or(behaviour.default_language.clone()),
            context: session.context,
            country: channel.country.clone(),
            now,
        };
        Ok(Context {
            run,
            flow_name: flow_name.to_string(),
            definition,
            session,
            channel,
            user,
            facts,
        })
    }

    /// Advances the run until it waits for the customer or ends, calling its webhooks on the
    /// way (no transaction is open while they answer).
    async fn run_steps(
        &self,
        ctx: &mut Context,
        mut state: RunState,
        mut event: FlowEvent,
    ) -> (RunState, Vec<Action>) {
        let mut actions = Vec::new();
        let mut reply_text = match &event {
            FlowEvent::Reply(r) => Some(r.text.clone()),
            _ => None,
        };
        for _ in 0..MAX_CALLS_PER_JOB {
            let Advanced {
                state: next,
                actions: done,
            } = advance(&ctx.definition, state, event, &ctx.facts);
            state = next;
            let mut call = None;
            for a in done {
                match a {
                    Action::CallWebhook(c) => call = Some(c),
                    Action::SetField {
                        scope,
                        ref name,
                        ref value,
                    } => {
                        // Later steps of this job see the new value.
                        if let Some(prefix) = scope_prefix(scope) {
                            ctx.facts
                                .fields
                                .insert(format!("{prefix}.{name}"), value.clone());
                        }
                        actions.push(a);
                    }
                    a => actions.push(a),
                }
            }
            let Some(call) = call else {
                return (state, actions);
            };
            let delivery = format!("{}:{}:{}", ctx.run.id, ctx.run.seq, state.step);
            let result = self
                .call_webhook(&call, ctx, &state, reply_text.take(), &delivery)
                .await;
            event = FlowEvent::Webhook(result);
        }
        if matches!(state.status, RunStatus::WaitingWebhook) {
            state.status = RunStatus::Ended {
                how: RunEnd::Looped,
            };
        }
        (state, actions)
    }

    /// Calls a webhook step's URL with retries; the answer, or why there is none.
    async fn call_webhook(
        &self,
        call: &WebhookCall,
        ctx: &Context,
        state: &RunState,
        reply: Option<String>,
        delivery: &str,
    ) -> WebhookResult {
        let body = match (&call.body, call.method) {
            (_, WebhookMethod::Get) => None,
            (Some(b), _) => Some(b.clone()),
            (None, _) => Some(serde_json::json!({
                "flow": ctx.flow_name,
                "step": state.step,
                "session_id": ctx.session.id,
                "channel": { "id": ctx.channel.id, "name": ctx.channel.name, "kind": ctx.channel.kind },
                "messaging_user": {
                    "id": ctx.user.id,
                    "platform_key": ctx.user.platform_key,
                    "name": ctx.user.name,
                    "locale": ctx.user.locale,
                },
                "fields": state.fields,
                "reply": reply,
            })),
        };
        self.send_webhook(call, body, delivery).await
    }

    /// Makes a webhook call with its retries: the answer, or why there is none.
    async fn send_webhook(
        &self,
        call: &WebhookCall,
        body: Option<serde_json::Value>,
        delivery: &str,
    ) -> WebhookResult {
        let bytes = body
            .as_ref()
            .map(|b| serde_json::to_vec(b).unwrap_or_default())
            .unwrap_or_default();
        let timeout = Duration::from_millis(u64::from(call.timeout_ms.max(1)));
        let mut last = WebhookResult::Failure {
            status: None,
            error: "not called".into(),
        };
        for attempt in 0..=call.retries {
            if attempt > 0 {
                // Backoff between attempts: 250 ms, 500 ms, 1 s... of this job only.
                let wait = 250u64.saturating_mul(1 << (attempt - 1).min(6));
                tokio::time::sleep(Duration::from_millis(wait)).await;
            }
            let mut req = match call.method {
                WebhookMethod::Get => self.http.get(&call.url),
                WebhookMethod::Post => self.http.post(&call.url),
            }
            .timeout(timeout)
            .header("x-parley-delivery", delivery);
            if body.is_some() {
                req = req
                    .header("content-type", "application/json")
                    .body(bytes.clone());
            }
            if let Some(secret) = &self.secret {
                req = req.header("x-parley-signature", sign(secret, &bytes));
            }
            metrics::counter!("parley_flow_webhook_calls_total").increment(1);
            match req.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let answer = read_capped(resp).await;
                    if (200..300).contains(&status) {
                        let body = answer.and_then(|b| serde_json::from_slice(&b).ok());
                        return WebhookResult::Success { status, body };
                    }
                    last = WebhookResult::Failure {
                        status: Some(status),
                        error: format!("the webhook answered {status}"),
                    };
                    // A client error will not change on a retry; throttling and server errors may.
                    if status < 500 && status != 408 && status != 429 {
                        break;
                    }
                }
                Err(e) => {
                    let error = if e.is_timeout() {
                        format!("no answer within {} ms", call.timeout_ms)
                    } else {
                        format!("the call failed: {e}")
                    };
                    last = WebhookResult::Failure {
                        status: None,
                        error,
                    };
                }
            }
        }
        metrics::counter!("parley_flow_webhook_failures_total").increment(1);
        last
    }

    /// Runs `flow` against a simulated customer who answers `replies` in order (the console's
    /// test panel): nothing is stored or sent; webhooks are called for real, so a test shows
    /// what the service behind them answers.
    pub async fn simulate(
        &self,
        flow: &FlowDefinition,
        test: &TestRun,
        replies: Vec<Reply>,
        now: Timestamp,
    ) -> (Vec<TestLine>, RunState) {
        let facts = Facts {
            fields: test.fields.clone(),
            channel_kind: test.channel_kind,
            business_hours_open: test.business_hours_open,
            language: test.language.clone(),
            context: flow.context,
            country: None,
            now,
        };
        let mut lines = Vec::new();
        let mut state = RunState::start(flow, BTreeMap::new());
        let mut event = FlowEvent::Start;
        let mut replies = replies.into_iter();
        let say = |lines: &mut Vec<TestLine>, from: &'static str, text: String| {
            lines.push(TestLine { from, text });
        };
        for _ in 0..parley_core::flow::MAX_STEPS_PER_ADVANCE {
            let Advanced {
                state: next,
                actions,
            } = advance(flow, state, event, &facts);
            state = next;
            let mut call = None;
            for a in actions {
                match a {
                    Action::Send(m) => {
                        let m = outgoing(m);
                        let text = match &m.template {
                            Some(t) => format!("[template {} ({})]", t.name, t.language),
                            None => m.body,
                        };
                        say(&mut lines, "bot", text);
                    }
                    Action::SetField { scope, name, value } => {
                        let prefix = scope_prefix(scope).unwrap_or("flow");
                        say(&mut lines, "system", format!("{prefix}.{name} = {value}"));
                    }
                    Action::Handoff(t) => {
                        let to = t.agent.or(t.queue).unwrap_or_else(|| t.skills.join(", "));
                        let to = if to.is_empty() {
                            "the channel's queue".into()
                        } else {
                            to
                        };
                        say(&mut lines, "system", format!("handed off to {to}"));
                    }
                    Action::StartFlow { flow, .. } => {
                        say(&mut lines, "system", format!("flow {flow} starts"));
                    }
                    Action::EndSession => say(&mut lines, "system", "the session ends".into()),
                    Action::CallWebhook(c) => call = Some(c),
                }
            }
            if let Some(c) = call {
                let body = match c.method {
                    WebhookMethod::Get => None,
                    WebhookMethod::Post => Some(c.body.clone().unwrap_or_else(|| {
                        serde_json::json!({"flow": flow.name, "step": state.step, "fields": state.fields, "test": true})
                    })),
                };
                let result = self.send_webhook(&c, body, "test").await;
                let said = match &result {
                    WebhookResult::Success { status, .. } => {
                        format!("webhook {} answered {status}", c.url)
                    }
                    WebhookResult::Failure { error, .. } => {
                        format!("webhook {} failed: {error}", c.url)
                    }
                };
                say(&mut lines, "system", said);
                event = FlowEvent::Webhook(result);
                continue;
            }
            match (state.status, replies.next()) {
                (RunStatus::WaitingReply { .. }, Some(r)) => {
                    say(&mut lines, "customer", r.text.clone());
                    event = FlowEvent::Reply(r);
                }
                _ => break,
            }
        }
        (lines, state)
    }

    /// Turns the run's actions into rows and writes them with the run in one transaction.
    async fn commit(
        &self,
        ctx: Context,
        state: RunState,
        actions: Vec<Action>,
        key: String,
        now: Timestamp,
    ) -> Result<(), FlowError> {
        let Context {
            run,
            session,
            channel,
            user,
            ..
        } = ctx;
        let mut effects = InboundWrite::default();
        let mut work: Vec<RoutingWork> = Vec::new();
        let mut new_session: Option<Session> = None;
        let mut next_run: Option<crate::flow_runs::RunStart> = None;
        let author = Author {
            actor: Actor::Bot,
            actor_id: Some(run.flow_id),
        };
        let mut handed_off = false;
        for action in actions {
            match action {
                Action::Send(message) => {
                    let message = outgoing(message);
                    let prepared = self
                        .compose
                        .prepare(&channel, &session, &message, author, now)
                        .await;
                    match prepared {
                        Ok(p) => {
                            effects.jobs.extend(p.job);
                            effects.entries.extend(p.sensitive_note);
                            effects.entries.push(p.entry);
                        }
                        Err(ComposeError::Invalid(reason)) => {
                            tracing::warn!(run_id = %run.id, %reason, "a flow message was not sent");
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                Action::SetField { scope, name, value } => {
                    self.set_field(&session, &user, scope, &name, &value, &mut effects, now)
                        .await?;
                }
                Action::Handoff(target) => {
                    let base = new_session.as_ref().unwrap_or(&session);
                    if let Some((s, w)) = self.hand_off(base, &channel, &target, now).await? {
                        new_session = Some(s);
                        work.push(w);
                        handed_off = true;
                    }
                }
                Action::StartFlow { flow, fields } => {
                    match self.catalog.current(&self.store, &flow).await {
                        Ok((next, def)) => {
                            next_run = Some(start_run(
                                &next,
                                &def,
                                session.id,
                                Trigger::Flow,
                                fields,
                                now,
                            ));
                        }
                        Err(FlowUseError::Store(e)) => return Err(e.into()),
                        Err(e) => {
                            tracing::warn!(run_id = %run.id, error = %e, "start_flow failed; handing off");
                        }
                    }
                }
                Action::EndSession => {
                    let base = new_session.as_ref().unwrap_or(&session);
                    new_session = end(base, now).or(new_session);
                }
                Action::CallWebhook(_) => {}
            }
        }
        // How the run ended decides what becomes of the conversation (see the module doc).
        if let RunStatus::Ended { how } = state.status
            && !handed_off
            && new_session.is_none()
        {
            match how {
                RunEnd::Completed => new_session = end(&session, now),
                RunEnd::Continued if next_run.is_some() => {}
                RunEnd::HandedOff | RunEnd::Stopped => {}
                RunEnd::Failed | RunEnd::Looped | RunEnd::Continued => {
                    let fallback = HandoffTarget {
                        queue: None,
                        skills: Vec::new(),
                        agent: None,
                        collected: state.fields.clone(),
                    };
                    if let Some((s, w)) = self.hand_off(&session, &channel, &fallback, now).await? {
                        new_session = Some(s);
                        work.push(w);
                    }
                }
            }
        }
        if let RunStatus::WaitingReply { timeout_at } = state.status {
            let (event, at) = match timeout_at {
                Some(at) => (
                    FlowJobEvent::Timeout {
                        run_id: run.id,
                        seq: run.seq + 1,
                    },
                    at,
                ),
                None => (
                    FlowJobEvent::Abandon {
                        run_id: run.id,
                        seq: run.seq + 1,
                    },
                    now.plus(IDLE),
                ),
            };
            effects.jobs.push(flow_job(
                &FlowJob {
                    session_id: session.id,
                    event,
                },
                at,
            ));
        }
        let row = run_row(&run, &state, key, now);
        effects.flow_runs.push(FlowRunWrite {
            run: row,
            expect_seq: Some(run.seq),
        });
        if let Some(start) = next_run {
            effects.flow_runs.push(start.run);
            effects.jobs.push(start.job);
        }
        let sent: Vec<Uuid> = effects.entries.iter().map(|e| e.id).collect();
        let queued_sends = effects
            .jobs
            .iter()
            .any(|j| j.queue == crate::jobs::Queue::Outbound.as_str());
        let change = ConsoleChange {
            sessions: new_session
                .iter()
                .map(|row| GuardedSession {
                    expected_status: session.status,
                    expected_updated_at: session.updated_at,
                    row: row.clone(),
                })
                .collect(),
            work_upserts: work,
            effects: Some(effects),
            ..ConsoleChange::default()
        };
        match self.store.commit_console(&change, now).await {
            Ok(()) => {}
            Err(StoreError::Conflict(m) | StoreError::Stale(m)) => return Err(FlowError::Retry(m)),
            Err(e) => return Err(e.into()),
        }
        metrics::counter!("parley_flow_events_total").increment(1);
        for entry_id in sent {
            self.events.publish(DomainEvent::MessageStatusChanged {
                session_id: session.id,
                entry_id,
            });
        }
        if new_session.is_some() {
            self.events.publish(DomainEvent::SessionChanged {
                session_id: session.id,
            });
        }
        if queued_sends && let Some(w) = &self.outbound_wake {
            w.notify_one();
        }
        Ok(())
    }

    /// Ends a run whose conversation is no longer the flow's (an agent took it, it ended).
    async fn stop(
        &self,
        ctx: &Context,
        mut state: RunState,
        key: String,
        now: Timestamp,
    ) -> Result<(), FlowError> {
        state.status = RunStatus::Ended {
            how: RunEnd::Stopped,
        };
        let row = run_row(&ctx.run, &state, key, now);
        match self
            .store
            .write_flow_runs(&[FlowRunWrite {
                run: row,
                expect_seq: Some(ctx.run.seq),
            }])
            .await
        {
            Ok(()) => Ok(()),
            Err(StoreError::Stale(m)) => Err(FlowError::Retry(m)),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes a field of the customer's records.
    #[allow(clippy::too_many_arguments)]
    async fn set_field(
        &self,
        session: &Session,
        user: &MessagingUser,
        scope: FieldScope,
        name: &str,
        value: &str,
        effects: &mut InboundWrite,
        now: Timestamp,
    ) -> Result<(), FlowError> {
        match scope {
            FieldScope::Flow => {}
            FieldScope::Contact => {
                let current = match user.contact_id {
                    Some(id) => Some(self.store.contact(id).await?),
                    None => None,
                };
                let mut spec = match &current {
                    Some(c) => ContactSpec {
                        first_name: c.first_name.clone(),
                        last_name: c.last_name.clone(),
                        phone: c.phone.as_deref().and_then(|p| E164::parse(p).ok()),
                        email: c.email.clone(),
                    },
                    None => ContactSpec {
                        first_name: String::new(),
                        last_name: String::new(),
                        phone: E164::from_network(&user.platform_key).ok(),
                        email: None,
                    },
                };
                match name {
                    "first_name" => spec.first_name = value.to_owned(),
                    "last_name" => spec.last_name = value.to_owned(),
                    "email" => spec.email = Some(value.to_owned()).filter(|v| !v.is_empty()),
                    "phone" => match E164::parse(value) {
                        Ok(p) => spec.phone = Some(p),
                        Err(e) => {
                            tracing::debug!(error = %e, "a flow set a phone that is not a number");
                            return Ok(());
                        }
                    },
                    _ => return Ok(()),
                }
                match current {
                    Some(c) => {
                        self.store.update_contact(c.id, &spec, now).await?;
                    }
                    None => {
                        let created = self.store.create_contact(&spec, now).await?;
                        effects.link = Some(ContactLink {
                            messaging_user_id: user.id,
                            contact_id: created.id,
                        });
                    }
                }
            }
            FieldScope::MessagingUser => {
                let (display, locale) = match name {
                    "name" => (Some(value), None),
                    "locale" => (None, Some(value)),
                    _ => return Ok(()),
                };
                self.store
                    .update_user_profile(user.id, display, locale, now)
                    .await?;
            }
            FieldScope::Case => {
                let Some(case_id) = session.case_id else {
                    return Ok(());
                };
                let (subject, status) = match name {
                    "subject" => (Some(value), None),
                    "status" => match value.parse() {
                        Ok(s) => (None, Some(s)),
                        Err(_) => return Ok(()),
                    },
                    _ => return Ok(()),
                };
                self.store
                    .update_case_fields(case_id, subject, status, now)
                    .await?;
                self.events.publish(DomainEvent::CaseChanged { case_id });
            }
        }
        Ok(())
    }

    /// The session waiting for people, and its routing row: the step's queue, skills or agent,
    /// else the channel's queue.
    async fn hand_off(
        &self,
        session: &Session,
        channel: &Channel,
        target: &HandoffTarget,
        now: Timestamp,
    ) -> Result<Option<(Session, RoutingWork)>, FlowError> {
        let state = state_of(session);
        let Ok(moved) = apply(
            &state,
            &SessionEvent::Transferred { at: now, to: None },
            &Default::default(),
        ) else {
            return Ok(None);
        };
        let mut row = row_of(session, &moved.state);
        let queue = match &target.queue {
            Some(name) => self.store.queue_by_name(name).await?.map(|q| q.id),
            None => None,
        };
        let fallback = queue.or(channel.queue_id);
        let agent = match &target.agent {
            Some(email) => self.store.agent_by_email(email).await?.map(|a| a.id),
            None => None,
        };
        let mut skills = Vec::new();
        for name in &target.skills {
            if let Some(s) = self.store.skill_by_name(name).await? {
                skills.push(SkillLevel {
                    skill_id: s.id,
                    level: 1,
                });
            }
        }
        let work = match (agent, skills.is_empty(), fallback) {
            (Some(agent_id), _, _) => WorkTarget::Agent {
                agent_id,
                fallback_queue: fallback,
            },
            (None, false, _) => WorkTarget::Skills(skills),
            (None, true, Some(q)) => WorkTarget::Queue(q),
            (None, true, None) => WorkTarget::Skills(Vec::new()),
        };
        row.queue_id = fallback;
        // People serve: a journey's customer moves to service with the marketing history in
        // the same session, where the agent sees it (CMP-14).
        row.context = parley_core::model::SessionContext::Service;
        let routing = waiting_row(row.id, &work, 0, now, Vec::new(), None);
        Ok(Some((row, routing)))
    }
}

/// What a flow test assumes about the conversation.
#[derive(Debug, Clone)]
pub struct TestRun {
    pub channel_kind: parley_core::model::ChannelKind,
    pub business_hours_open: bool,
    pub language: Option<String>,
    pub fields: BTreeMap<String, String>,
}

/// One line of a flow test's transcript.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TestLine {
    /// `bot`, `customer` or `system`.
    pub from: &'static str,
    pub text: String,
}

/// Whether a definition uses the queue's fields (`{{queue.name}}`...), so the queue's wait is
/// worth reading.
fn mentions_queue(definition: &FlowDefinition) -> bool {
    serde_json::to_string(definition).is_ok_and(|j| j.contains("queue."))
}

/// Whether the flow holds the session (a bot owner that is this flow).
fn held_by(session: &Session, flow_id: Uuid) -> bool {
    session.owner_kind == Some(OwnerKind::Bot) && session.owner_id == Some(flow_id)
}

/// The session ended by the bot, if it is open.
fn end(session: &Session, now: Timestamp) -> Option<Session> {
    if session.status == SessionStatus::Ended || session.status == SessionStatus::Error {
        return None;
    }
    let moved = apply(
        &state_of(session),
        &SessionEvent::Ended {
            at: now,
            by: Actor::Bot,
        },
        &Default::default(),
    )
    .ok()?;
    Some(row_of(session, &moved.state))
}

/// The merge-field prefix of a scope's fields.
fn scope_prefix(scope: FieldScope) -> Option<&'static str> {
    match scope {
        FieldScope::Flow => None,
        FieldScope::Contact => Some("contact"),
        FieldScope::MessagingUser => Some("messaging_user"),
        FieldScope::Case => Some("case"),
    }
}

/// A flow's message as the compose path takes it.
fn outgoing(message: OutMessage) -> OutgoingMessage {
    match message {
        OutMessage::Text(body) => OutgoingMessage {
            body,
            ..OutgoingMessage::default()
        },
        OutMessage::Template(t) => OutgoingMessage {
            template: Some(TemplateSend {
                name: t.name,
                language: t.language,
                parameters: t.parameters,
            }),
            ..OutgoingMessage::default()
        },
        // A question whose per-customer options came out empty is only its question.
        OutMessage::Component(parley_core::component::Component::Question {
            text,
            options,
            ..
        }) if options.is_empty() => OutgoingMessage {
            body: text,
            ..OutgoingMessage::default()
        },
        OutMessage::Component(c) => OutgoingMessage {
            body: c.text_fallback(),
            component: Some(c),
            ..OutgoingMessage::default()
        },
    }
}

/// `sha256=<hex>` of HMAC-SHA256 of `body` under `secret`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A response's body, at most [`MAX_WEBHOOK_ANSWER`] bytes; `None` past it or on a broken read.
async fn read_capped(mut resp: reqwest::Response) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        if out.len() + chunk.len() > MAX_WEBHOOK_ANSWER {
            return None;
        }
        out.extend_from_slice(&chunk);
    }
    Some(out)
}
