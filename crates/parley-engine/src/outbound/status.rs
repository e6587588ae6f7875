//! Provider status reports for messages a provider took: a webhook's status callback, an SMPP
//! delivery receipt. Both land here, below the dispatcher and the SMPP link, so the link's
//! receiving task needs nothing of the dispatcher.

use std::sync::Arc;

use parley_channels::adapter::StatusUpdate;
use parley_core::model::{ConsentSource, ConsentStatus};
use parley_core::{Clock, ErrorCode, Timestamp};
use parley_store::{Entry, Store, StoreError};
use uuid::Uuid;

use crate::events::{DomainEvent, EventBus};

/// The unknown entries of one customer a receipt's quoted text is compared with.
const UNKNOWN_CANDIDATES: i64 = 50;

/// Records status reports (see [`StatusRecorder::record`]).
#[derive(Clone)]
pub struct StatusRecorder {
    store: Store,
    clock: Arc<dyn Clock>,
    events: EventBus,
}

impl std::fmt::Debug for StatusRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusRecorder").finish_non_exhaustive()
    }
}

impl StatusRecorder {
    pub fn new(store: Store, clock: Arc<dyn Clock>, events: EventBus) -> Self {
        Self {
            store,
            clock,
            events,
        }
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Records a provider's status report for a message it took. Reports arrive in any order;
    /// only a step forward is kept. A report that the recipient unsubscribed at the carrier
    /// (Twilio 21610) opts the messaging user out.
    pub async fn record(&self, channel_id: Uuid, report: &StatusUpdate) -> Result<(), StoreError> {
        let StatusUpdate {
            provider_message_id,
            status,
            error_code,
            provider_error,
            recipient_opted_out,
        } = report;
        let (status, provider_error) = (*status, provider_error.as_deref());
        let Some(entry) = self
            .store
            .entry_by_provider_id(channel_id, provider_message_id)
            .await?
        else {
            tracing::debug!(provider_message_id, "status for a message we do not know");
            return Ok(());
        };
        let now = self.clock.now();
        if entry.status.may_become(status) {
            self.store
                .set_entry_status(
                    entry.id,
                    status,
                    error_code.map(ErrorCode::code),
                    provider_error,
                    now,
                )
                .await?;
            self.events.publish(DomainEvent::MessageStatusChanged {
                session_id: entry.session_id,
                entry_id: entry.id,
            });
        }
        if *recipient_opted_out {
            self.opt_out_recipient(&entry, provider_error, now).await?;
        }
        Ok(())
    }

    /// Settles an `unknown` entry of the channel's customer `customer` from a report that names
    /// no stored provider id: the submit answer that carried the id was lost, so the entry is
    /// found by the text the report quotes (`quoted`, an SMPP receipt's `text:`; see
    /// [`parley_channels::smpp::receipt_quotes`]), oldest first, and takes the report's status
    /// and id. `false` when no unknown entry matches.
    pub async fn settle_unknown(
        &self,
        channel_id: Uuid,
        customer: &str,
        quoted: &str,
        report: &StatusUpdate,
    ) -> Result<bool, StoreError> {
        let candidates = self
            .store
            .unknown_entries_of(channel_id, customer, UNKNOWN_CANDIDATES)
            .await?;
        let Some(entry) = candidates
            .into_iter()
            .find(|e| parley_channels::smpp::receipt_quotes(quoted, &e.body))
        else {
            return Ok(false);
        };
        let settled = self
            .store
            .settle_unknown(
                entry.id,
                report.status,
                report.error_code.map(ErrorCode::code),
                report.provider_error.as_deref(),
                Some(&report.provider_message_id),
                self.clock.now(),
            )
            .await?;
        if settled {
            tracing::info!(entry = %entry.id, provider_message_id = %report.provider_message_id,
                status = %report.status, "unknown outcome settled by a receipt");
            metrics::counter!("parley_outbound_unknown_settled_total").increment(1);
            self.events.publish(DomainEvent::MessageStatusChanged {
                session_id: entry.session_id,
                entry_id: entry.id,
            });
        }
        Ok(settled)
    }

    /// The carrier says the recipient unsubscribed from this sender (Twilio 21610): opt the
    /// messaging user out, with the entry and the provider's code in the consent history. Once.
    async fn opt_out_recipient(
        &self,
        entry: &Entry,
        provider_error: Option<&str>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let session = self.store.session(entry.session_id).await?;
        let user = self.store.messaging_user(session.messaging_user_id).await?;
        if user.consent_status == Some(ConsentStatus::OptedOut) {
            return Ok(());
        }
        self.store
            .set_consent(
                user.id,
                ConsentStatus::OptedOut,
                &parley_store::ConsentOrigin {
                    source: ConsentSource::Provider,
                    reason: format!(
                        "the carrier reports the recipient unsubscribed ({})",
                        provider_error.unwrap_or("provider")
                    ),
                    entry_id: Some(entry.id),
                },
                now,
            )
            .await?;
        self.events.publish(DomainEvent::ConsentChanged {
            messaging_user_id: user.id,
        });
        Ok(())
    }
}
