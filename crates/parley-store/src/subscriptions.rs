//! Outgoing webhook subscriptions and their deliveries.
//!
//! A delivery is claimed by pushing its `next_attempt_at` forward by a lease and counting the
//! attempt in the same statement: a node that dies mid-call leaves the delivery due again once
//! the lease ends, and an outcome is written only while the attempt count is still the one the
//! claimer saw, so a late answer from an abandoned attempt cannot overwrite a newer one.

use std::time::Duration;

use parley_core::{Timestamp, new_id};
use serde::Serialize;
use sqlx::FromRow;
use uuid::Uuid;

use crate::records::{HasId, PageRequest, Paged, paginate};
use crate::{Backend, Result, Store, StoreError, on_backend};

/// What a subscription is made of, as a caller gives it (already validated).
#[derive(Debug, Clone)]
pub struct SubscriptionSpec {
    pub name: String,
    pub url: String,
    pub event_types: Vec<String>,
    /// `None`: every channel.
    pub channel_ids: Option<Vec<Uuid>>,
    pub active: bool,
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct WebhookSubscription {
    pub id: Uuid,
    pub name: String,
    pub url: String,
    #[serde(skip)]
    pub secret: String,
    /// JSON list of event type names; read through [`WebhookSubscription::event_types`].
    #[sqlx(rename = "event_types")]
    pub event_types_json: String,
    #[sqlx(rename = "channel_ids")]
    pub channel_ids_json: Option<String>,
    pub active: bool,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
    #[sqlx(try_from = "i64")]
    pub updated_at: Timestamp,
}

impl WebhookSubscription {
    pub fn event_types(&self) -> Vec<String> {
        serde_json::from_str(&self.event_types_json).unwrap_or_default()
    }

    /// `None` when the subscription takes every channel's events.
    pub fn channel_ids(&self) -> Option<Vec<Uuid>> {
        self.channel_ids_json
            .as_deref()
            .and_then(|j| serde_json::from_str(j).ok())
    }
}

/// A delivery to write: one event for one subscription.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub subscription_id: Uuid,
    pub event_type: String,
    pub event_id: Uuid,
    pub payload: String,
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct WebhookDelivery {
    pub id: Uuid,
    pub subscription_id: Uuid,
    pub event_type: String,
    pub event_id: Uuid,
    pub payload: String,
    pub status: String,
    pub attempts: i64,
    #[sqlx(try_from = "i64")]
    pub next_attempt_at: Timestamp,
    pub last_status_code: Option<i64>,
    pub last_response: Option<String>,
    pub last_error: Option<String>,
    #[sqlx(try_from = "i64")]
    pub created_at: Timestamp,
    pub delivered_at: Option<i64>,
}

/// The outcome of one attempt.
#[derive(Debug, Clone)]
pub struct DeliveryAttempt {
    pub id: Uuid,
    /// The attempt count the claim returned.
    pub attempt: i64,
    pub status_code: Option<i64>,
    pub response: Option<String>,
    pub error: Option<String>,
    /// `succeeded`, `failed` or `pending` (retry at `next_attempt_at`).
    pub status: &'static str,
    pub next_attempt_at: Timestamp,
    /// The `next_attempt_at` the claim set (its lease): another value at the end of the attempt
    /// means a redelivery was asked for meanwhile, which the attempt's outcome must not undo.
    pub leased_until: Timestamp,
}

impl HasId for WebhookSubscription {
    fn id(&self) -> Uuid {
        self.id
    }
}

impl HasId for WebhookDelivery {
    fn id(&self) -> Uuid {
        self.id
    }
}

fn json_list<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Invalid(e.to_string()))
}

impl Store {
    pub async fn create_webhook_subscription(
        &self,
        spec: &SubscriptionSpec,
        secret: &str,
        now: Timestamp,
    ) -> Result<WebhookSubscription> {
        let id = new_id();
        let events = json_list(&spec.event_types)?;
        let channels = spec.channel_ids.as_ref().map(json_list).transpose()?;
        on_backend!(self, write c => sqlx::query(
            "INSERT INTO webhook_subscriptions (id, name, url, secret, event_types, channel_ids, active, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)")
            .bind(id).bind(&spec.name).bind(&spec.url).bind(self.seal_text(secret)).bind(&events).bind(&channels)
            .bind(spec.active).bind(now.millis()).execute(c).await.map(|r| r.rows_affected()))?;
        self.webhook_subscription(id).await
    }

    pub async fn update_webhook_subscription(
        &self,
        id: Uuid,
        spec: &SubscriptionSpec,
        now: Timestamp,
    ) -> Result<WebhookSubscription> {
        let events = json_list(&spec.event_types)?;
        let channels = spec.channel_ids.as_ref().map(json_list).transpose()?;
        let done = on_backend!(self, write c => sqlx::query(
            "UPDATE webhook_subscriptions SET name = $2, url = $3, event_types = $4, channel_ids = $5, \
             active = $6, updated_at = $7 WHERE id = $1")
            .bind(id).bind(&spec.name).bind(&spec.url).bind(&events).bind(&channels)
            .bind(spec.active).bind(now.millis()).execute(c).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::not_found("webhook subscription"));
        }
        self.webhook_subscription(id).await
    }

    pub async fn set_webhook_secret(
        &self,
        id: Uuid,
        secret: &str,
        now: Timestamp,
    ) -> Result<WebhookSubscription> {
        let done = on_backend!(self, write c => sqlx::query(
            "UPDATE webhook_subscriptions SET secret = $2, updated_at = $3 WHERE id = $1")
            .bind(id).bind(self.seal_text(secret)).bind(now.millis()).execute(c).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::not_found("webhook subscription"));
        }
        self.webhook_subscription(id).await
    }

    /// Deletes the subscription and, through the foreign key, its deliveries.
    pub async fn delete_webhook_subscription(&self, id: Uuid) -> Result<()> {
        crate::config::delete_by_id(self, "webhook_subscriptions", "webhook subscription", id).await
    }

    pub async fn webhook_subscription(&self, id: Uuid) -> Result<WebhookSubscription> {
        let sub = on_backend!(self, read c => sqlx::query_as::<_, WebhookSubscription>(
            "SELECT * FROM webhook_subscriptions WHERE id = $1")
            .bind(id).fetch_optional(c).await)?
        .ok_or(StoreError::not_found("webhook subscription"))?;
        self.open_subscription(sub)
    }

    fn open_subscription(&self, mut s: WebhookSubscription) -> Result<WebhookSubscription> {
        s.secret = self.open_text(&s.secret)?;
        Ok(s)
    }

    pub async fn list_webhook_subscriptions(
        &self,
        page: PageRequest,
    ) -> Result<Paged<WebhookSubscription>> {
        let rows = on_backend!(self, read c => sqlx::query_as::<_, WebhookSubscription>(
            "SELECT * FROM webhook_subscriptions WHERE ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2")
            .bind(page.after).bind(page.fetch_limit()).fetch_all(c).await)?;
        let rows = rows
            .into_iter()
            .map(|s| self.open_subscription(s))
            .collect::<Result<Vec<_>>>()?;
        Ok(paginate(rows, page))
    }

    /// Every active subscription: few rows, read whenever one changes.
    pub async fn active_webhook_subscriptions(&self) -> Result<Vec<WebhookSubscription>> {
        let rows = on_backend!(self, read c => sqlx::query_as::<_, WebhookSubscription>(
            "SELECT * FROM webhook_subscriptions WHERE active = $1 ORDER BY id")
            .bind(true).fetch_all(c).await)?;
        rows.into_iter()
            .map(|s| self.open_subscription(s))
            .collect()
    }

    /// Writes deliveries in one transaction, due now.
    pub async fn write_webhook_deliveries(
        &self,
        deliveries: &[NewDelivery],
        now: Timestamp,
    ) -> Result<Vec<Uuid>> {
        const SQL: &str = "INSERT INTO webhook_deliveries (id, subscription_id, event_type, event_id, \
            payload, status, attempts, next_attempt_at, created_at) \
            VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6)";
        let ids: Vec<Uuid> = deliveries.iter().map(|_| new_id()).collect();
        if deliveries.is_empty() {
            return Ok(ids);
        }
        macro_rules! insert_all {
            ($pool:expr) => {{
                let mut tx = $pool.begin().await?;
                for (d, id) in deliveries.iter().zip(&ids) {
                    // A subscription deleted since the event was read has no row to point at:
                    // its delivery is dropped rather than failing the whole batch.
                    let exists: Option<Uuid> =
                        sqlx::query_scalar("SELECT id FROM webhook_subscriptions WHERE id = $1")
                            .bind(d.subscription_id)
                            .fetch_optional(&mut *tx)
                            .await?;
                    if exists.is_none() {
                        continue;
                    }
                    sqlx::query(SQL)
                        .bind(*id)
                        .bind(d.subscription_id)
                        .bind(&d.event_type)
                        .bind(d.event_id)
                        .bind(self.seal_text(&d.payload))
                        .bind(now.millis())
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
            }};
        }
        match &self.backend {
            Backend::Sqlite { writer, .. } => insert_all!(writer),
            Backend::Postgres(pool) => insert_all!(pool),
        }
        Ok(ids)
    }

    /// Claims up to `limit` due deliveries for `lease`, counting the attempt.
    pub async fn claim_webhook_deliveries(
        &self,
        now: Timestamp,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>> {
        let until = now.plus(lease).millis();
        let rows =
            match &self.backend {
                Backend::Postgres(pool) => sqlx::query_as::<_, WebhookDelivery>(
                    "UPDATE webhook_deliveries SET next_attempt_at = $2, attempts = attempts + 1 \
                     WHERE id IN (SELECT id FROM webhook_deliveries WHERE status = 'pending' \
                     AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $3 \
                     FOR UPDATE SKIP LOCKED) RETURNING *",
                )
                .bind(now.millis())
                .bind(until)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?,
                Backend::Sqlite { writer, .. } => sqlx::query_as::<_, WebhookDelivery>(
                    "UPDATE webhook_deliveries SET next_attempt_at = $2, attempts = attempts + 1 \
                     WHERE id IN (SELECT id FROM webhook_deliveries WHERE status = 'pending' \
                     AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $3) RETURNING *",
                )
                .bind(now.millis())
                .bind(until)
                .bind(i64::from(limit))
                .fetch_all(writer)
                .await?,
            };
        rows.into_iter().map(|d| self.open_delivery(d)).collect()
    }

    /// A delivery's payload is the event as sent: message text, numbers.
    fn open_delivery(&self, mut d: WebhookDelivery) -> Result<WebhookDelivery> {
        d.payload = self.open_text(&d.payload)?;
        Ok(d)
    }

    /// Records an attempt's outcome; `false` when the delivery moved on since the claim.
    pub async fn update_webhook_delivery(
        &self,
        a: &DeliveryAttempt,
        now: Timestamp,
    ) -> Result<bool> {
        let delivered = (a.status == "succeeded").then_some(now.millis());
        let done = on_backend!(self, write c => sqlx::query(
            "UPDATE webhook_deliveries SET \
             status = CASE WHEN $3 <> 'succeeded' AND next_attempt_at <> $9 THEN 'pending' ELSE $3 END, \
             next_attempt_at = CASE WHEN $3 <> 'succeeded' AND next_attempt_at <> $9 \
                THEN next_attempt_at ELSE $4 END, \
             last_status_code = $5, last_response = $6, last_error = $7, \
             delivered_at = COALESCE($8, delivered_at) \
             WHERE id = $1 AND attempts = $2 AND status = 'pending'")
            .bind(a.id).bind(a.attempt).bind(a.status).bind(a.next_attempt_at.millis())
            .bind(a.status_code).bind(&a.response).bind(&a.error).bind(delivered)
            .bind(a.leased_until.millis())
            .execute(c).await.map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    /// Makes a delivery of this subscription due now, whatever its state (a manual redelivery).
    pub async fn set_webhook_delivery_due(
        &self,
        subscription_id: Uuid,
        id: Uuid,
        now: Timestamp,
    ) -> Result<WebhookDelivery> {
        let done = on_backend!(self, write c => sqlx::query(
            "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $3 \
             WHERE id = $1 AND subscription_id = $2")
            .bind(id).bind(subscription_id).bind(now.millis())
            .execute(c).await.map(|r| r.rows_affected()))?;
        if done == 0 {
            return Err(StoreError::not_found("webhook delivery"));
        }
        self.webhook_delivery(id).await
    }

    pub async fn webhook_delivery(&self, id: Uuid) -> Result<WebhookDelivery> {
        let d = on_backend!(self, read c => sqlx::query_as::<_, WebhookDelivery>(
            "SELECT * FROM webhook_deliveries WHERE id = $1")
            .bind(id).fetch_optional(c).await)?
        .ok_or(StoreError::not_found("webhook delivery"))?;
        self.open_delivery(d)
    }

    /// A subscription's deliveries, newest first; `page.after` is the last id of the page before.
    pub async fn list_webhook_deliveries(
        &self,
        subscription_id: Uuid,
        page: PageRequest,
    ) -> Result<Paged<WebhookDelivery>> {
        let rows = on_backend!(self, read c => sqlx::query_as::<_, WebhookDelivery>(
            "SELECT * FROM webhook_deliveries WHERE subscription_id = $1 AND ($2 IS NULL OR id < $2) \
             ORDER BY id DESC LIMIT $3")
            .bind(subscription_id).bind(page.after).bind(page.fetch_limit()).fetch_all(c).await)?;
        let rows = rows
            .into_iter()
            .map(|d| self.open_delivery(d))
            .collect::<Result<Vec<_>>>()?;
        Ok(paginate(rows, page))
    }
}
