//! Notifications that events send (issue 13): a channel's `notification_triggers` setting sends a
//! template when a case closes, a session ends or a consent changes, and a notification that fails
//! at its provider goes into the error log.
//!
//! The watcher reads the bus. For an event that concerns a channel with triggers it reads the
//! records the event names, decides as the webhook recorder does (a case whose status is closed,
//! a session whose status is ended, any consent change) which triggers fire
//! ([`parley_core::notify_triggers::fires`]), and enqueues one durable job per firing. The job
//! sends through [`crate::service::notifications::send`], so the exclusions, merge fields and the
//! error log apply exactly as to `POST /api/v1/notifications`.
//!
//! Twice is never sent: the job's dedupe key and the notification's idempotency key are both
//! derived from the event ([`parley_core::notify_triggers::key`]). A replayed event finds the job
//! (finished jobs are kept until purged) or the idempotency key (24 hours) and sends nothing.
//!
//! What a crash loses: the bus is in-process, so an event published in the instant before a
//! crash, before its job is written, fires nothing. Once the job is written it is sent at least
//! once, and the idempotency key makes that exactly once. The same holds for provider failures:
//! a status written just before a crash may have no error-log entry.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use parley_core::model::{CaseStatus, EntryStatus, SessionStatus};
use parley_core::notify_triggers::{Happened, fires, key};
use parley_core::{ErrorCode, Timestamp};
use parley_store::{Channel, Job, NewJob, NotificationErrorWrite, Store, StoreError};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, broadcast, watch};
use uuid::Uuid;

use crate::Engine;
use crate::channel_rules::{NotificationTrigger, behaviour_of};
use crate::events::DomainEvent;
use crate::jobs::{JobKind, Queue};
use crate::runner::{JobOutcome, JobRunner};
use crate::service::notifications::{
    Caller, ContextInput, NotificationInput, NotifyError, RecipientInput, TemplateRef, send,
};

/// Closed cases remembered per node, so a repeated event costs no job insert.
const REMEMBERED: usize = 100_000;

/// What a trigger job carries: the notification to send and the key it is sent under.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TriggerJob {
    pub channel_id: Uuid,
    pub key: String,
    pub input: NotificationInput,
}

/// The job that sends one firing; one per key.
pub fn trigger_job(job: &TriggerJob, now: Timestamp) -> NewJob {
    let payload = serde_json::to_string(job).unwrap_or_default();
    let mut new = NewJob::new(
        Queue::Notifications.as_str(),
        JobKind::NotificationTrigger.as_str(),
        payload,
        now,
    );
    new.dedupe_key = Some(format!("notify:{}:{}", job.channel_id, job.key));
    new.max_attempts = 8;
    new
}

/// The watcher and the job handler (see the module's documentation).
#[derive(Clone)]
pub struct NotifyTriggers {
    engine: Engine,
    wake: Arc<Notify>,
    closed: Arc<Mutex<HashSet<Uuid>>>,
}

impl std::fmt::Debug for NotifyTriggers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifyTriggers").finish_non_exhaustive()
    }
}

impl NotifyTriggers {
    pub fn new(engine: Engine) -> Self {
        Self {
            engine,
            wake: Arc::default(),
            closed: Arc::default(),
        }
    }

    fn store(&self) -> &Store {
        &self.engine.store
    }

    /// The runner of trigger jobs, woken by the watcher.
    pub fn runner(&self, runner: JobRunner) -> JobRunner {
        let me = self.clone();
        runner
            .with_waker(self.wake.clone())
            .handle(JobKind::NotificationTrigger, move |job| {
                let me = me.clone();
                async move { me.run(job).await }
            })
    }

    /// Starts watching the bus until `shutdown`; subscribed before this returns, so no event
    /// published afterwards is missed.
    pub fn spawn_watcher(&self, shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        let rx = self.engine.events.subscribe();
        tokio::spawn(self.clone().watch(rx, shutdown))
    }

    async fn watch(
        self,
        mut rx: broadcast::Receiver<Arc<DomainEvent>>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            let got = tokio::select! {
                _ = shutdown.changed() => return,
                got = rx.recv() => got,
            };
            match got {
                Ok(event) => {
                    if let Err(e) = self.on_event(&event).await {
                        tracing::warn!(error = %e, ?event, "notification trigger not queued");
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(lost = n, "notification triggers fell behind the event bus");
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    /// Queues the firings of one event and logs a notification's provider failure.
    pub async fn on_event(&self, event: &DomainEvent) -> Result<(), StoreError> {
        let store = self.store();
        match event {
            DomainEvent::MessageStatusChanged { entry_id, .. } => {
                self.provider_failure(*entry_id).await
            }
            DomainEvent::CaseChanged { case_id } => {
                let c = store.case(*case_id).await?;
                if c.status != CaseStatus::Closed {
                    self.remember_closed(c.id, false);
                    return Ok(());
                }
                if !self.remember_closed(c.id, true) {
                    return Ok(());
                }
                let Some(channel_id) = c.channel_id else {
                    return Ok(());
                };
                let Some((channel, triggers)) = self.triggers_of(channel_id).await? else {
                    return Ok(());
                };
                let user = store
                    .messaging_users_of_contact(c.contact_id)
                    .await?
                    .into_iter()
                    .find(|u| u.channel_id == channel_id);
                let recipient = match &user {
                    Some(u) => RecipientInput {
                        messaging_user_id: Some(u.id),
                        ..RecipientInput::default()
                    },
                    None => RecipientInput {
                        contact_id: Some(c.contact_id),
                        ..RecipientInput::default()
                    },
                };
                let context = ContextInput {
                    contact_id: Some(c.contact_id),
                    case_id: Some(c.id),
                    ..ContextInput::default()
                };
                // The closing's own time: an edit of a closed case keeps it, so it fires nothing.
                let happened = Happened::CaseClosed {
                    case_id: c.id,
                    at: c.closed_at.unwrap_or(c.updated_at),
                };
                self.enqueue(&channel, &triggers, &happened, recipient, context)
                    .await
            }
            DomainEvent::SessionChanged { session_id } => {
                let s = store.session(*session_id).await?;
                if s.status != SessionStatus::Ended {
                    return Ok(());
                }
                let Some((channel, triggers)) = self.triggers_of(s.channel_id).await? else {
                    return Ok(());
                };
                let user = store.messaging_user(s.messaging_user_id).await?;
                let context = ContextInput {
                    contact_id: user.contact_id,
                    case_id: s.case_id,
                    messaging_user_id: Some(user.id),
                    data: None,
                };
                let recipient = RecipientInput {
                    messaging_user_id: Some(user.id),
                    ..RecipientInput::default()
                };
                let happened = Happened::SessionEnded { session_id: s.id };
                self.enqueue(&channel, &triggers, &happened, recipient, context)
                    .await
            }
            DomainEvent::ConsentChanged { messaging_user_id } => {
                let user = store.messaging_user(*messaging_user_id).await?;
                let Some((channel, triggers)) = self.triggers_of(user.channel_id).await? else {
                    return Ok(());
                };
                let change = store.consent_history(user.id).await?.last().map(|c| c.id);
                let happened = Happened::ConsentChanged {
                    messaging_user_id: user.id,
                    to: user.consent_status,
                    change,
                };
                let context = ContextInput {
                    contact_id: user.contact_id,
                    messaging_user_id: Some(user.id),
                    ..ContextInput::default()
                };
                let recipient = RecipientInput {
                    messaging_user_id: Some(user.id),
                    ..RecipientInput::default()
                };
                self.enqueue(&channel, &triggers, &happened, recipient, context)
                    .await
            }
            _ => Ok(()),
        }
    }

    /// Whether this is the first time this node sees the case closed (`closed`); an open case
    /// is forgotten, so closing it again fires again.
    fn remember_closed(&self, case_id: Uuid, closed: bool) -> bool {
        let Ok(mut seen) = self.closed.lock() else {
            return true;
        };
        if !closed {
            seen.remove(&case_id);
            return false;
        }
        if seen.len() >= REMEMBERED {
            seen.clear();
        }
        seen.insert(case_id)
    }

    /// The channel and its triggers, `None` when it has none (or its settings do not read).
    async fn triggers_of(
        &self,
        channel_id: Uuid,
    ) -> Result<Option<(Channel, Vec<NotificationTrigger>)>, StoreError> {
        let Some(channel) = self.engine.channels.get(self.store(), channel_id).await? else {
            return Ok(None);
        };
        let triggers = behaviour_of(&channel.settings)
            .map(|b| b.notification_triggers)
            .unwrap_or_default();
        Ok((!triggers.is_empty()).then_some((channel, triggers)))
    }

    async fn enqueue(
        &self,
        channel: &Channel,
        triggers: &[NotificationTrigger],
        happened: &Happened,
        recipient: RecipientInput,
        context: ContextInput,
    ) -> Result<(), StoreError> {
        let now = self.engine.clock.now();
        let mut jobs = Vec::new();
        for t in triggers
            .iter()
            .filter(|t| fires(t.on, &t.consent, happened))
        {
            let language = self.language_of(channel, t).await?;
            let input = NotificationInput {
                channel: channel.id.to_string(),
                template: TemplateRef {
                    name: t.template.trim().to_owned(),
                    language: language.clone(),
                },
                parameters: t.parameters.clone(),
                recipient: recipient.clone(),
                context: context.clone(),
                kind: None,
            };
            let job = TriggerJob {
                channel_id: channel.id,
                key: key(happened, t.template.trim(), &language),
                input,
            };
            jobs.push(trigger_job(&job, now));
        }
        if jobs.is_empty() {
            return Ok(());
        }
        self.store().enqueue_many(&jobs, now).await?;
        self.wake.notify_one();
        Ok(())
    }

    /// The trigger's language, else the channel's default language if the template has it, else
    /// the template's first approved language (empty when there is none: the send then fails
    /// and the error log says so).
    async fn language_of(
        &self,
        channel: &Channel,
        t: &NotificationTrigger,
    ) -> Result<String, StoreError> {
        if let Some(l) = &t.language {
            return Ok(l.trim().to_owned());
        }
        let name = t.template.trim();
        let templates: Vec<_> = self
            .store()
            .list_templates(Some(channel.id))
            .await?
            .into_iter()
            .filter(|x| x.name == name)
            .collect();
        let default = behaviour_of(&channel.settings)
            .ok()
            .and_then(|b| b.default_language);
        let pick = default
            .and_then(|d| templates.iter().find(|x| x.language == d))
            .or_else(|| {
                templates
                    .iter()
                    .find(|x| x.status == parley_core::model::TemplateStatus::Approved)
            })
            .or(templates.first());
        Ok(pick.map(|x| x.language.clone()).unwrap_or_default())
    }

    /// Sends one firing. A refused notification is in the error log and done; a store failure
    /// is tried again.
    pub async fn run(&self, job: Job) -> JobOutcome {
        let Ok(t) = serde_json::from_str::<TriggerJob>(&job.payload) else {
            return JobOutcome::Permanent("unreadable notification trigger job".to_owned());
        };
        let caller = Caller {
            scope: format!("trigger:{}", t.channel_id),
            idempotency_key: Some(t.key.clone()),
        };
        match send(&self.engine, &caller, &t.input, self.engine.clock.now()).await {
            Ok(_) => JobOutcome::Done,
            Err(NotifyError::Store(e)) => JobOutcome::Retry(e.to_string()),
            Err(e) => {
                tracing::info!(key = %t.key, error = %e, "notification trigger not sent");
                JobOutcome::Done
            }
        }
    }

    /// A notification's message failed at its provider (the dispatcher's answer or a delivery
    /// receipt): one error-log entry and one delivery error, once per notification.
    async fn provider_failure(&self, entry_id: Uuid) -> Result<(), StoreError> {
        let store = self.store();
        let Some(n) = store.notification_by_entry(entry_id).await? else {
            return Ok(());
        };
        if n.status == "failed" {
            return Ok(());
        }
        let entry = store.entry(entry_id).await?;
        if !matches!(entry.status, EntryStatus::Failed | EntryStatus::Undelivered) {
            return Ok(());
        }
        if !store.update_notification_failed(n.id).await? {
            return Ok(());
        }
        let code = entry
            .error_code
            .clone()
            .unwrap_or_else(|| ErrorCode::ServiceError.code().to_owned());
        let words = ErrorCode::from_code(&code).map(ErrorCode::message);
        let reason = match (&entry.provider_error, words) {
            (Some(p), Some(w)) => format!("{} at the provider: {w} ({p})", entry.status.as_str()),
            (Some(p), None) => format!("{} at the provider: {p}", entry.status.as_str()),
            (None, Some(w)) => format!("{} at the provider: {w}", entry.status.as_str()),
            (None, None) => format!("{} at the provider", entry.status.as_str()),
        };
        let inputs = serde_json::json!({
            "notification_id": n.id,
            "entry_id": n.entry_id,
            "messaging_user_id": n.messaging_user_id,
            "template": {"name": n.template_name, "language": n.template_language},
        });
        let log = NotificationErrorWrite {
            channel_id: Some(n.channel_id),
            template: format!("{}/{}", n.template_name, n.template_language),
            recipient: n.recipient.clone(),
            inputs: inputs.to_string(),
            stage: "provider",
            code,
            reason,
            notification_id: Some(n.id),
            entry_id: Some(entry_id),
            provider_code: entry.provider_error.clone(),
        };
        store
            .write_notification_error(&log, self.engine.clock.now())
            .await?;
        Ok(())
    }
}
