//! Status callbacks of the Twilio-compatible Messages API: when an entry sent through the API
//! with a `StatusCallback` reaches a new status, a durable job POSTs Twilio's form fields to that
//! URL, signed with `X-Twilio-Signature` by the account's auth token exactly as Twilio signs.
//!
//! The bus only says an entry changed; the job is enqueued once per status reached (its dedupe
//! key names the status), so a repeated event is a no-op and each status is called back once.
//! The HTTP call runs in the job handler with no transaction open; failures retry with the
//! runner's backoff.

use std::sync::Arc;
use std::time::Duration;

use parley_core::model::{ChannelKind, EntryStatus};
use parley_core::{Clock, ErrorCode};
use parley_store::{Job, NewJob, Store};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, broadcast, watch};
use uuid::Uuid;

use crate::events::{DomainEvent, EventBus};
use crate::jobs::{JobKind, Queue};
use crate::runner::JobOutcome;

/// Twilio's API version, which callbacks carry as `ApiVersion`.
pub const API_VERSION: &str = "2010-04-01";

/// What a callback job carries: the entry and the status it reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackJob {
    pub entry_id: Uuid,
    /// Twilio's status word (sent, delivered, ...).
    pub status: String,
    /// The status to call back after this one succeeds: an entry that went from queued straight
    /// to delivered (the simulator, a fast report) is called back `sent` then `delivered`, in
    /// that order, as Twilio does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub then: Option<String>,
}

/// The dedupe key of the callback of `status` for `entry_id`.
fn callback_key(entry_id: Uuid, status: &str) -> String {
    format!("twilio-callback:{entry_id}:{status}")
}

/// The job that calls back `status` for `entry_id`; one per entry and status.
pub fn callback_job(job: &CallbackJob, now: parley_core::Timestamp) -> NewJob {
    let payload = serde_json::to_string(job).unwrap_or_default();
    let mut new = NewJob::new(
        Queue::Callbacks.as_str(),
        JobKind::TwilioCallback.as_str(),
        payload,
        now,
    );
    new.dedupe_key = Some(callback_key(job.entry_id, &job.status));
    new.max_attempts = 8;
    new
}

/// "SM" and the entry's UUID as 32 hex digits.
pub fn message_sid(entry_id: Uuid) -> String {
    format!("SM{}", entry_id.simple())
}

/// Enqueues callbacks on status changes, and runs them.
#[derive(Clone)]
pub struct TwilioCallbacks {
    store: Store,
    clock: Arc<dyn Clock>,
    http: reqwest::Client,
    wake: Arc<Notify>,
}

impl std::fmt::Debug for TwilioCallbacks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioCallbacks").finish_non_exhaustive()
    }
}

impl TwilioCallbacks {
    pub fn new(store: Store, clock: Arc<dyn Clock>, wake: Arc<Notify>) -> Self {
        crate::transport::install_crypto_provider();
        let http = reqwest::Client::builder()
            .user_agent("TwilioProxy/1.1")
            .timeout(Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            store,
            clock,
            http,
            wake,
        }
    }

    /// Watches the bus for status changes of API messages until `shutdown`.
    pub async fn watch(self, events: EventBus, mut shutdown: watch::Receiver<bool>) {
        let mut rx = events.subscribe();
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                got = rx.recv() => match got {
                    Ok(event) => {
                        if let DomainEvent::MessageStatusChanged { entry_id, .. } = *event
                            && let Err(e) = self.on_status_changed(entry_id).await
                        {
                            tracing::warn!(%entry_id, error = %e, "twilio status callback not queued");
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(lost = n, "twilio callbacks lagged behind the event bus");
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    }

    /// Queues a callback if the entry was sent through the API with a callback URL and its status
    /// is one Twilio calls back (not `queued`). One primary-key read for other entries.
    pub async fn on_status_changed(&self, entry_id: Uuid) -> Result<(), parley_store::StoreError> {
        let Some(row) = self.store.twilio_message(entry_id).await? else {
            return Ok(());
        };
        if row.status_callback.is_none() {
            return Ok(());
        }
        let entry = self.store.entry(entry_id).await?;
        // `sending` is Parley's "outcome unknown": Twilio's callbacks start at `sent`.
        if matches!(
            entry.status,
            EntryStatus::Queued | EntryStatus::Received | EntryStatus::Unknown
        ) {
            return Ok(());
        }
        let status = parley_channels::twilio::api_status(entry.status).to_owned();
        let now = self.clock.now();
        let after_sent = matches!(
            entry.status,
            EntryStatus::Delivered | EntryStatus::Read | EntryStatus::Undelivered
        );
        if after_sent {
            // A `sent` job not queued before means `sent` was skipped: it goes first and queues
            // this status when it is done.
            let sent = CallbackJob {
                entry_id,
                status: "sent".to_owned(),
                then: Some(status.clone()),
            };
            if self
                .store
                .enqueue(&callback_job(&sent, now), now)
                .await?
                .is_some()
            {
                self.wake.notify_one();
                return Ok(());
            }
        }
        let job = CallbackJob {
            entry_id,
            status,
            then: None,
        };
        if self
            .store
            .enqueue(&callback_job(&job, now), now)
            .await?
            .is_some()
        {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Runs one callback job: builds the form, signs it, POSTs it.
    pub async fn run(&self, job: Job) -> JobOutcome {
        let Ok(cb) = serde_json::from_str::<CallbackJob>(&job.payload) else {
            return JobOutcome::Permanent("unreadable twilio callback payload".to_owned());
        };
        // Two statuses reached close together are two jobs that workers may run at once: a later
        // status waits (by the runner's backoff, from half a second) for an earlier one's call.
        for earlier in parley_channels::twilio::api_statuses_before(&cb.status) {
            match self
                .store
                .job_unfinished(&callback_key(cb.entry_id, earlier))
                .await
            {
                Ok(false) => {}
                Ok(true) => {
                    return JobOutcome::Retry(format!("waiting for the {earlier} callback"));
                }
                Err(e) => return JobOutcome::Retry(e.to_string()),
            }
        }
        let (url, params, token) = match self.form(&cb).await {
            Ok(Some(f)) => f,
            Ok(None) => return JobOutcome::Done,
            Err(e) => return JobOutcome::Retry(e.to_string()),
        };
        let signature = parley_channels::twilio::compute_signature(
            &token,
            &url,
            &params,
            parley_channels::twilio::SignatureAlgorithm::HmacSha1,
        );
        let sent = self
            .http
            .post(&url)
            .header("X-Twilio-Signature", signature)
            .form(&params)
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => self.queue_next(&cb).await,
            Ok(r) if r.status().is_client_error() && r.status().as_u16() != 429 => {
                JobOutcome::Permanent(format!("callback refused: HTTP {}", r.status()))
            }
            Ok(r) => JobOutcome::Retry(format!("callback answered HTTP {}", r.status())),
            Err(e) => JobOutcome::Retry(format!("callback failed: {e}")),
        }
    }

    async fn queue_next(&self, cb: &CallbackJob) -> JobOutcome {
        let Some(next) = &cb.then else {
            return JobOutcome::Done;
        };
        let job = CallbackJob {
            entry_id: cb.entry_id,
            status: next.clone(),
            then: None,
        };
        let now = self.clock.now();
        match self.store.enqueue(&callback_job(&job, now), now).await {
            Ok(_) => {
                self.wake.notify_one();
                JobOutcome::Done
            }
            // Posting `sent` again is Twilio's at-least-once; losing the next status is not.
            Err(e) => JobOutcome::Retry(format!("next callback not queued: {e}")),
        }
    }

    /// The callback's URL, form fields and signing token; `None` when there is nothing to call
    /// (the row or its URL is gone, the account revoked).
    async fn form(
        &self,
        cb: &CallbackJob,
    ) -> Result<Option<(String, Vec<(String, String)>, String)>, parley_store::StoreError> {
        let Some(row) = self.store.twilio_message(cb.entry_id).await? else {
            return Ok(None);
        };
        let Some(url) = row.status_callback else {
            return Ok(None);
        };
        let Some(account) = self.store.twilio_account(&row.account_sid).await? else {
            return Ok(None);
        };
        if account.revoked_at.is_some() {
            return Ok(None);
        }
        let entry = self.store.entry(cb.entry_id).await?;
        let session = self.store.session(entry.session_id).await?;
        let channel = self.store.channel(session.channel_id).await?;
        let user = self.store.messaging_user(session.messaging_user_id).await?;
        let prefix = if channel.kind == ChannelKind::Whatsapp {
            "whatsapp:"
        } else {
            ""
        };
        let sid = message_sid(entry.id);
        let mut params = vec![
            ("MessageSid".to_owned(), sid.clone()),
            ("SmsSid".to_owned(), sid),
            ("SmsStatus".to_owned(), cb.status.clone()),
            ("MessageStatus".to_owned(), cb.status.clone()),
            ("AccountSid".to_owned(), row.account_sid.clone()),
            ("From".to_owned(), format!("{prefix}{}", channel.address)),
            ("To".to_owned(), format!("{prefix}{}", user.platform_key)),
            ("ApiVersion".to_owned(), API_VERSION.to_owned()),
        ];
        if let Some(ms) = row.messaging_service_sid {
            params.push(("MessagingServiceSid".to_owned(), ms));
        }
        if matches!(cb.status.as_str(), "failed" | "undelivered")
            && let Some(code) = entry.error_code.as_deref().and_then(ErrorCode::from_code)
        {
            params.push((
                "ErrorCode".to_owned(),
                parley_channels::twilio::api_error_code(code, None).to_string(),
            ));
        }
        Ok(Some((url, params, account.auth_token)))
    }
}
