//! Outgoing webhook subscriptions: other systems (a shop, a CRM) learn what happens in Parley.
//!
//! Two tasks. The recorder listens to the event bus and, only when an active subscription wants
//! the event's type, reads the records the event names, builds the payload and writes one
//! delivery row per interested subscription; events arriving within [`BATCH_WINDOW`] are written
//! in one transaction. The sender claims due deliveries (with a lease, so several nodes can run
//! it), POSTs each one signed with its subscription's secret, with no transaction open and no
//! lock held across the call, and records the answer or schedules a retry
//! (`parley_core::webhook::retry_after`).
//!
//! The bus is in-process: an event published in the instant before a crash may never be
//! recorded. Once a delivery row is written, it is delivered at least once: a receiver drops
//! repeats by `X-Parley-Delivery`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use parley_core::model::{CaseStatus, SessionStatus};
use parley_core::webhook::{PING, retry_after};
use parley_core::{Clock, Timestamp, new_id};
use parley_store::{
    DeliveryAttempt, NewDelivery, Store, StoreError, WebhookDelivery, WebhookSubscription,
};
use serde_json::{Value, json};
use tokio::sync::{Notify, RwLock, broadcast, watch};
use uuid::Uuid;

use crate::events::{DomainEvent, EventBus};

/// Events arriving within this long of the first are written together.
pub const BATCH_WINDOW: Duration = Duration::from_millis(50);
/// At most this many events per batch.
const BATCH_MAX: usize = 500;
/// How long the cached subscription list is trusted; this node's own writes refresh it at once.
const CACHE_TTL: Duration = Duration::from_secs(5);
/// How long a claimed delivery is held: well beyond the request timeout.
const LEASE: Duration = Duration::from_secs(60);
/// A receiver that does not answer within this is a failed attempt.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of a receiver's answer is kept.
const RESPONSE_EXCERPT: usize = 2048;
/// Deliveries sent side by side per claim.
const CLAIM: u32 = 32;
/// How often an idle sender looks for due retries.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// Ids remembered so an ended session or closed case is reported once per node.
const REMEMBERED: usize = 100_000;

#[derive(Default)]
struct Cached {
    list: Arc<Vec<WebhookSubscription>>,
    loaded: Option<Instant>,
}

/// The subscription recorder and delivery sender (see the module's documentation).
#[derive(Clone)]
pub struct Webhooks {
    store: Store,
    clock: Arc<dyn Clock>,
    events: EventBus,
    http: reqwest::Client,
    cache: Arc<RwLock<Cached>>,
    wake: Arc<Notify>,
    reported: Arc<Mutex<HashSet<(Uuid, &'static str)>>>,
}

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhooks").finish_non_exhaustive()
    }
}

/// An event to record: its type, the channel it concerns and its data.
struct Built {
    event_type: &'static str,
    channel_id: Option<Uuid>,
    data: Value,
}

/// The event types a bus event may turn into, to skip it without reading anything when no
/// subscription wants any of them.
fn candidates(e: &DomainEvent) -> &'static [&'static str] {
    match e {
        DomainEvent::MessageReceived { .. } => &["message.received"],
        DomainEvent::MessageStatusChanged { .. } => &["message.status"],
        DomainEvent::ConsentChanged { .. } => &["consent.changed"],
        DomainEvent::SessionOpened { .. } => &["session.opened"],
        DomainEvent::SessionChanged { .. } => &["session.ended"],
        DomainEvent::CaseChanged { .. } => &["case.opened", "case.updated", "case.closed"],
        _ => &[],
    }
}

fn wanted(subs: &[WebhookSubscription], e: &DomainEvent) -> bool {
    let types = candidates(e);
    !types.is_empty()
        && subs
            .iter()
            .any(|s| s.event_types().iter().any(|t| types.contains(&t.as_str())))
}

impl Webhooks {
    pub fn new(store: Store, clock: Arc<dyn Clock>, events: EventBus) -> Self {
        crate::transport::install_crypto_provider();
        let http = reqwest::Client::builder()
            .user_agent(concat!("parley/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .build()
            .unwrap_or_default();
        Self {
            store,
            clock,
            events,
            http,
            cache: Arc::default(),
            wake: Arc::default(),
            reported: Arc::default(),
        }
    }

    /// Forgets the cached subscription list: call after a subscription changed.
    pub async fn refresh(&self) {
        self.cache.write().await.loaded = None;
    }

    async fn subscriptions(&self) -> Arc<Vec<WebhookSubscription>> {
        {
            let c = self.cache.read().await;
            if c.loaded.is_some_and(|at| at.elapsed() < CACHE_TTL) {
                return c.list.clone();
            }
        }
        let mut c = self.cache.write().await;
        if c.loaded.is_some_and(|at| at.elapsed() < CACHE_TTL) {
            return c.list.clone();
        }
        match self.store.active_webhook_subscriptions().await {
            Ok(list) => {
                c.list = Arc::new(list);
                c.loaded = Some(Instant::now());
            }
            Err(e) => tracing::warn!(error = %e, "reading webhook subscriptions"),
        }
        c.list.clone()
    }

    /// Sends a `ping` to the subscription now; answers the delivery.
    pub async fn ping(&self, subscription_id: Uuid) -> Result<WebhookDelivery, StoreError> {
        let sub = self.store.webhook_subscription(subscription_id).await?;
        let now = self.clock.now();
        let event_id = new_id();
        let payload = json!({
            "id": event_id,
            "type": PING,
            "occurred_at": now.to_rfc3339(),
            "data": {"subscription_id": sub.id, "name": sub.name},
        });
        let ids = self
            .store
            .write_webhook_deliveries(
                &[NewDelivery {
                    subscription_id: sub.id,
                    event_type: PING.to_owned(),
                    event_id,
                    payload: payload.to_string(),
                }],
                now,
            )
            .await?;
        self.wake.notify_one();
        let id = ids.into_iter().next().ok_or(StoreError::NotFound {
            entity: "webhook delivery",
        })?;
        self.store.webhook_delivery(id).await
    }

    /// Makes a delivery due now (a manual redelivery) and wakes the sender.
    pub async fn retry(
        &self,
        subscription_id: Uuid,
        delivery_id: Uuid,
    ) -> Result<WebhookDelivery, StoreError> {
        let d = self
            .store
            .set_webhook_delivery_due(subscription_id, delivery_id, self.clock.now())
            .await?;
        self.wake.notify_one();
        Ok(d)
    }

    /// Starts recording deliveries for the bus's events until `shutdown`. The bus is subscribed
    /// to before this returns, so no event published afterwards is missed.
    pub fn spawn_recorder(&self, shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        let rx = self.events.subscribe();
        tokio::spawn(self.clone().run_recorder(rx, shutdown))
    }

    async fn run_recorder(
        self,
        mut rx: broadcast::Receiver<Arc<DomainEvent>>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            let first = tokio::select! {
                _ = shutdown.changed() => return,
                r = rx.recv() => r,
            };
            let event = match first {
                Ok(e) => e,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(lost = n, "webhook recorder fell behind the event bus");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            };
            if candidates(&event).is_empty() {
                continue;
            }
            let subs = self.subscriptions().await;
            if !wanted(&subs, &event) {
                continue;
            }
            let mut batch = vec![event];
            let deadline = tokio::time::Instant::now() + BATCH_WINDOW;
            while batch.len() < BATCH_MAX {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Ok(e)) => {
                        if wanted(&subs, &e) {
                            batch.push(e);
                        }
                    }
                    Ok(Err(broadcast::error::RecvError::Lagged(n))) => {
                        tracing::warn!(lost = n, "webhook recorder fell behind the event bus");
                    }
                    Ok(Err(broadcast::error::RecvError::Closed)) | Err(_) => break,
                }
            }
            self.record(&subs, &batch).await;
        }
    }

    async fn record(&self, subs: &[WebhookSubscription], batch: &[Arc<DomainEvent>]) {
        let now = self.clock.now();
        let mut rows = Vec::new();
        for event in batch {
            let built = match self.build(event).await {
                Ok(Some(b)) => b,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, ?event, "building a webhook event");
                    continue;
                }
            };
            let event_id = new_id();
            let payload = json!({
                "id": event_id,
                "type": built.event_type,
                "occurred_at": now.to_rfc3339(),
                "data": built.data,
            })
            .to_string();
            for sub in subs {
                if !sub.event_types().iter().any(|t| t == built.event_type) {
                    continue;
                }
                if let Some(only) = sub.channel_ids()
                    && !built.channel_id.is_some_and(|c| only.contains(&c))
                {
                    continue;
                }
                rows.push(NewDelivery {
                    subscription_id: sub.id,
                    event_type: built.event_type.to_owned(),
                    event_id,
                    payload: payload.clone(),
                });
            }
        }
        if rows.is_empty() {
            return;
        }
        match self.store.write_webhook_deliveries(&rows, now).await {
            Ok(_) => self.wake.notify_one(),
            Err(e) => tracing::warn!(error = %e, n = rows.len(), "writing webhook deliveries"),
        }
    }

    /// Whether `(id, what)` is reported for the first time on this node.
    fn first_report(&self, id: Uuid, what: &'static str) -> bool {
        let Ok(mut seen) = self.reported.lock() else {
            return true;
        };
        if seen.len() >= REMEMBERED {
            seen.clear();
        }
        seen.insert((id, what))
    }

    async fn channel_view(&self, channel_id: Uuid) -> Result<Value, StoreError> {
        let c = self.store.channel(channel_id).await?;
        Ok(json!({"id": c.id, "name": c.name, "kind": c.kind.as_str()}))
    }

    async fn user_view(&self, user_id: Uuid) -> Result<Value, StoreError> {
        let u = self.store.messaging_user(user_id).await?;
        Ok(json!({
            "id": u.id,
            "platform_key": u.platform_key,
            "name": u.name,
            "consent_status": u.consent_status.map(|s| s.as_str()),
            "contact_id": u.contact_id,
        }))
    }

    async fn session_view(&self, s: &parley_store::Session) -> Result<Value, StoreError> {
        Ok(json!({
            "id": s.id,
            "conversation_id": s.conversation_id,
            "status": s.status.as_str(),
            "context": s.context.as_str(),
            "case_id": s.case_id,
            "started_at": s.started_at.to_rfc3339(),
            "ended_at": s.ended_at.map(Timestamp::to_rfc3339),
            "channel": self.channel_view(s.channel_id).await?,
            "messaging_user": self.user_view(s.messaging_user_id).await?,
        }))
    }

    async fn entry_view(
        &self,
        session_id: Uuid,
        entry_id: Uuid,
    ) -> Result<(Uuid, Value), StoreError> {
        let e = self.store.entry(entry_id).await?;
        let s = self.store.session(session_id).await?;
        Ok((
            s.channel_id,
            json!({
                "id": e.id,
                "session_id": s.id,
                "conversation_id": s.conversation_id,
                "direction": e.direction.as_str(),
                "body": e.body,
                "media": e.media.len(),
                "status": e.status.as_str(),
                "error_code": e.error_code,
                "provider_error": e.provider_error,
                "created_at": e.created_at.to_rfc3339(),
                "channel": self.channel_view(s.channel_id).await?,
                "messaging_user": self.user_view(s.messaging_user_id).await?,
            }),
        ))
    }

    async fn build(&self, event: &DomainEvent) -> Result<Option<Built>, StoreError> {
        Ok(match event {
            DomainEvent::MessageReceived {
                session_id,
                entry_id,
            } => {
                let (channel_id, data) = self.entry_view(*session_id, *entry_id).await?;
                Some(Built {
                    event_type: "message.received",
                    channel_id: Some(channel_id),
                    data,
                })
            }
            DomainEvent::MessageStatusChanged {
                session_id,
                entry_id,
            } => {
                let (channel_id, data) = self.entry_view(*session_id, *entry_id).await?;
                let reported = ["sent", "delivered", "read", "failed", "undelivered"];
                let status = data.get("status").and_then(Value::as_str).unwrap_or("");
                if !reported.contains(&status) || !self.first_report(*entry_id, leak(status)) {
                    return Ok(None);
                }
                Some(Built {
                    event_type: "message.status",
                    channel_id: Some(channel_id),
                    data,
                })
            }
            DomainEvent::ConsentChanged { messaging_user_id } => {
                let u = self.store.messaging_user(*messaging_user_id).await?;
                let history = self.store.consent_history(u.id).await?;
                let last = history.last();
                Some(Built {
                    event_type: "consent.changed",
                    channel_id: Some(u.channel_id),
                    data: json!({
                        "messaging_user": self.user_view(u.id).await?,
                        "channel": self.channel_view(u.channel_id).await?,
                        "status": u.consent_status.map(|s| s.as_str()),
                        "previous_status": last.and_then(|c| c.from_status).map(|s| s.as_str()),
                        "source": last.map(|c| c.source.as_str()),
                        "reason": last.map(|c| c.reason.clone()),
                        "entry_id": last.and_then(|c| c.entry_id),
                    }),
                })
            }
            DomainEvent::SessionOpened { session_id } => {
                let s = self.store.session(*session_id).await?;
                Some(Built {
                    event_type: "session.opened",
                    channel_id: Some(s.channel_id),
                    data: self.session_view(&s).await?,
                })
            }
            DomainEvent::SessionChanged { session_id } => {
                let s = self.store.session(*session_id).await?;
                if s.status != SessionStatus::Ended || !self.first_report(s.id, "session.ended") {
                    return Ok(None);
                }
                Some(Built {
                    event_type: "session.ended",
                    channel_id: Some(s.channel_id),
                    data: self.session_view(&s).await?,
                })
            }
            DomainEvent::CaseChanged { case_id } => {
                let c = self.store.case(*case_id).await?;
                let event_type = if c.status == CaseStatus::Closed {
                    if !self.first_report(c.id, "case.closed") {
                        return Ok(None);
                    }
                    "case.closed"
                } else if self.first_report(c.id, "case.opened") && c.created_at == c.updated_at {
                    "case.opened"
                } else {
                    "case.updated"
                };
                Some(Built {
                    event_type,
                    channel_id: c.channel_id,
                    data: json!({
                        "id": c.id,
                        "subject": c.subject,
                        "status": c.status.as_str(),
                        "contact_id": c.contact_id,
                        "channel_id": c.channel_id,
                        "created_at": c.created_at.to_rfc3339(),
                        "updated_at": c.updated_at.to_rfc3339(),
                    }),
                })
            }
            _ => None,
        })
    }

    /// Sends due deliveries until `shutdown`.
    pub async fn run_sender(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                return;
            }
            match self
                .store
                .claim_webhook_deliveries(self.clock.now(), LEASE, CLAIM)
                .await
            {
                Ok(batch) if !batch.is_empty() => {
                    let mut set = tokio::task::JoinSet::new();
                    for d in batch {
                        let me = self.clone();
                        set.spawn(async move { me.deliver(d).await });
                    }
                    while set.join_next().await.is_some() {}
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "claiming webhook deliveries"),
            }
            tokio::select! {
                _ = shutdown.changed() => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(IDLE_POLL) => {}
            }
        }
    }

    /// One attempt of one claimed delivery.
    async fn deliver(&self, d: WebhookDelivery) {
        let sub = match self.store.webhook_subscription(d.subscription_id).await {
            Ok(s) => s,
            // Deleted: its deliveries went with it.
            Err(StoreError::NotFound { .. }) => return,
            Err(e) => {
                // The lease runs out and the delivery is tried again.
                tracing::warn!(error = %e, "reading a webhook subscription");
                return;
            }
        };
        let (code, response, error) = if sub.active || d.event_type == PING {
            self.post(&sub, &d).await
        } else {
            (None, None, Some("subscription is inactive".to_owned()))
        };
        let now = self.clock.now();
        let ok = code.is_some_and(|c| (200..300).contains(&c));
        let (status, next) = if ok {
            ("succeeded", now)
        } else if !sub.active && d.event_type != PING {
            ("failed", now)
        } else {
            match retry_after(d.attempts, rand::random::<f64>()) {
                Some(wait) => ("pending", now.plus(wait)),
                None => ("failed", now),
            }
        };
        let attempt = DeliveryAttempt {
            id: d.id,
            attempt: d.attempts,
            status_code: code,
            response,
            error,
            status,
            next_attempt_at: next,
            leased_until: d.next_attempt_at,
        };
        if let Err(e) = self.store.update_webhook_delivery(&attempt, now).await {
            tracing::warn!(error = %e, delivery = %d.id, "recording a webhook attempt");
        }
        metrics::counter!("parley_webhook_attempts_total", "outcome" => status).increment(1);
    }

    /// POSTs the delivery; answers the status code, the start of the body and the error.
    async fn post(
        &self,
        sub: &WebhookSubscription,
        d: &WebhookDelivery,
    ) -> (Option<i64>, Option<String>, Option<String>) {
        let ts = self.clock.now().millis().div_euclid(1000).to_string();
        let signature = crate::flows::sign(&sub.secret, format!("{ts}.{}", d.payload).as_bytes());
        let sent = self
            .http
            .post(&sub.url)
            .header("content-type", "application/json")
            .header("X-Parley-Signature", signature)
            .header("X-Parley-Timestamp", &ts)
            .header("X-Parley-Event", &d.event_type)
            .header("X-Parley-Delivery", d.id.to_string())
            .body(d.payload.clone())
            .send()
            .await;
        match sent {
            Ok(mut resp) => {
                let code = i64::from(resp.status().as_u16());
                let mut body = Vec::new();
                while body.len() < RESPONSE_EXCERPT {
                    match resp.chunk().await {
                        Ok(Some(c)) => body.extend_from_slice(&c),
                        _ => break,
                    }
                }
                body.truncate(RESPONSE_EXCERPT);
                let text = String::from_utf8_lossy(&body).into_owned();
                let error = (!(200..300).contains(&code)).then(|| format!("HTTP {code}"));
                (Some(code), Some(text), error)
            }
            Err(e) => {
                let what = if e.is_timeout() {
                    "timed out".to_owned()
                } else {
                    e.to_string()
                };
                (None, None, Some(what))
            }
        }
    }
}

/// The fixed name of an entry status, for the per-status report key.
fn leak(status: &str) -> &'static str {
    ["sent", "delivered", "read", "failed", "undelivered"]
        .into_iter()
        .find(|s| *s == status)
        .unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_domain_events_with_webhook_types_are_candidates() {
        let id = Uuid::nil();
        assert!(candidates(&DomainEvent::ChannelChanged { channel_id: id }).is_empty());
        assert_eq!(
            candidates(&DomainEvent::SessionChanged { session_id: id }),
            &["session.ended"]
        );
    }
}

#[cfg(test)]
mod note_events {
    use super::*;

    #[test]
    fn a_note_never_becomes_a_webhook() {
        let e = DomainEvent::NoteAdded {
            session_id: Uuid::nil(),
            note_id: Uuid::nil(),
            whisper_to: Some(Uuid::nil()),
        };
        assert!(candidates(&e).is_empty());
    }
}
