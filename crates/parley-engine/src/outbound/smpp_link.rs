//! SMS channels with provider `smpp`: one SMPP transceiver bind per channel, through
//! `parley-smpp`, for sending (the dispatcher's SMPP arm) and receiving (receipts and
//! mobile-originated messages).
//!
//! # Connections
//!
//! [`SmppLinks`] is the registry, held by the dispatcher (`crate::outbound::Outbound`). A running
//! server binds every SMPP channel at start and keeps it bound ([`crate::outbound::smpp_binds`]);
//! without that task (tests driving the dispatcher alone) a bind is made on the channel's first
//! send. Binds are made from `settings.host`, `settings.port` (default 2775), `settings.system_type`,
//! `settings.window` (default 10), `secrets.system_id` and `secrets.password`; when those change
//! a new bind replaces the old one (which is closed). The map's lock is held only for the
//! lookup: never across a bind or a submit. A refused or failed bind is not cached, so the next
//! send tries again.
//!
//! # Sending
//!
//! The text is split by `parley_core::sms::split` (GSM 7-bit unpacked, `data_coding` 0, or
//! UTF-16BE, `data_coding` 8), with the 8-bit concatenation UDH (`udhi`) when it takes several
//! segments; the UDH reference is derived from the entry id, so a resend carries the same bytes.
//! Every segment asks for a delivery receipt. Source is the channel's address (`+E.164` as
//! international, up to 8 digits as a short code, anything else as alphanumeric); destination is
//! the messaging user's E.164 number.
//!
//! | segment results | entry | job |
//! |---|---|---|
//! | all accepted | `sent`, `provider_message_id` = the first segment's SMSC id | done |
//! | none accepted, one refused permanently (or not encodable) | `failed`, catalogue code from `parley_channels::smpp`, raw status in `provider_error` | done |
//! | none accepted, all safe to resend (not sent, transient status) | stays `queued`, reason in `provider_error` | retried; failed on the last attempt |
//! | none accepted, some outcome unknown | `unknown`, "ambiguous" note | done, never resent automatically |
//! | some accepted, some not | `unknown`, note with the accepted ids, the first segment's id when it was accepted | done (resending would duplicate the accepted parts) |
//! | bind refused or SMSC unreachable | stays `queued`, "cannot bind" reason | retried; failed on the last attempt (0003 for refused credentials, 0001 otherwise) |
//!
//! Receipts are matched on the first segment's id, the one stored on the entry; the other
//! segments' ids are logged (debug) and their receipts are ignored. A receipt whose id is on no
//! entry (the submit_sm_resp was lost, so the id was never stored) settles the oldest `unknown`
//! entry of the same channel and customer (the receipt's source) whose body its `text:` field
//! quotes, and stores the SMSC id on it.
//!
//! # Receiving
//!
//! A task per bind reads its [`parley_smpp::InboundReceiver`]: a delivery receipt becomes
//! [`StatusRecorder::record`] (`DELIVRD` -> delivered; `REJECTD` -> failed; `UNDELIV`, `EXPIRED`,
//! `DELETED`, `UNKNOWN`, `SKIPPED` -> undelivered; intermediate states -> sent); a
//! mobile-originated message is decoded by its `data_coding` and submitted to the inbound
//! pipeline ([`Ingest`]) with `from` = `+` and the source digits. The SMSC gives an MO no id of
//! its own, and `parley-smpp` acknowledges it before Parley stores it (so it is never delivered
//! twice), so each MO gets a fresh `smpp-mo-<uuid>` as its provider message id.
//! The task ends when its bind is closed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use parley_channels::adapter::StatusUpdate;
use parley_channels::smpp::{SmppBind, error_code_for_command_status};
use parley_core::model::EntryStatus;
use parley_core::sms::{Encoding, decode_gsm7_unpacked, decode_ucs2, split};
use parley_core::{ErrorCode, Timestamp, new_id};
use parley_smpp::{
    Address, DataCoding, DeliveryReceipt, InboundEvent as SmppEvent, InboundReceiver, MessageState,
    MobileOriginated, OutboundMessage, Segment, SmppClient, SmppConfig, SmppError, SubmitError,
};
use parley_store::{Channel, Entry, MessagingUser};
use uuid::Uuid;

use crate::ingest::Ingest;
use crate::jobs::InboundEvent;
use crate::outbound::rate::SenderRates;
use crate::outbound::status::StatusRecorder;
use crate::outbound::verdict::{Verdict, ambiguous, dispatched, fail, transient, unknown};

/// The bind parameters of a channel: a change means a new bind.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BindKey {
    host: String,
    port: u16,
    system_id: String,
    password: String,
    system_type: String,
    window: usize,
}

impl BindKey {
    fn config(&self) -> SmppConfig {
        let mut config = SmppConfig::new(
            self.host.clone(),
            self.port,
            self.system_id.clone(),
            self.password.clone(),
        );
        config.system_type = self.system_type.clone();
        config.window = self.window;
        // A send waits at most queue + response timeout: well inside the runner's lease.
        config.queue_timeout = Duration::from_secs(20);
        config.response_timeout = Duration::from_secs(10);
        config
    }
}

struct Slot {
    key: BindKey,
    client: tokio::sync::OnceCell<SmppClient>,
}

/// The SMPP binds of this server, one per SMPP channel, made on first use.
pub struct SmppLinks {
    slots: Mutex<HashMap<Uuid, Arc<Slot>>>,
    ingest: Arc<OnceLock<Ingest>>,
    /// Where delivery receipts are recorded.
    statuses: StatusRecorder,
}

impl std::fmt::Debug for SmppLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmppLinks").finish_non_exhaustive()
    }
}

/// Why no bind is available for a send.
#[derive(Debug)]
pub(crate) enum LinkError {
    /// The channel lacks a setting or secret: never retried.
    Misconfigured(String),
    /// Connecting or binding failed.
    Bind { target: String, error: SmppError },
}

impl SmppLinks {
    pub fn new(statuses: StatusRecorder) -> Self {
        Self {
            slots: Mutex::new(HashMap::new()),
            ingest: Arc::new(OnceLock::new()),
            statuses,
        }
    }

    /// Where mobile-originated messages go. Set once (the engine does it); without it they are
    /// logged and dropped.
    pub fn set_ingest(&self, ingest: Ingest) {
        let _ = self.ingest.set(ingest);
    }

    /// Channels with a bind made (or being made).
    pub fn channels(&self) -> Vec<Uuid> {
        self.lock().keys().copied().collect()
    }

    /// The bind of `channel_id`, if one is up.
    pub fn client(&self, channel_id: Uuid) -> Option<SmppClient> {
        self.lock()
            .get(&channel_id)
            .and_then(|s| s.client.get().cloned())
    }

    /// Unbinds and forgets every connection (shutdown, tests).
    pub async fn close_all(&self) {
        let slots: Vec<Arc<Slot>> = self.lock().drain().map(|(_, s)| s).collect();
        for slot in slots {
            if let Some(client) = slot.client.get() {
                client.close().await;
            }
        }
    }

    /// Forgets the channel's bind (its channel is gone), handing back the client to close.
    pub(crate) fn forget(&self, channel_id: Uuid) -> Option<SmppClient> {
        self.lock()
            .remove(&channel_id)
            .and_then(|s| s.client.get().cloned())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Arc<Slot>>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The channel's bind, made now if there is none (or its settings changed).
    pub(crate) async fn connect(&self, channel: &Channel) -> Result<SmppClient, LinkError> {
        let key = bind_key(channel).map_err(LinkError::Misconfigured)?;
        let (slot, replaced) = {
            let mut map = self.lock();
            match map.get(&channel.id) {
                Some(s) if s.key == key => (s.clone(), None),
                _ => {
                    let slot = Arc::new(Slot {
                        key: key.clone(),
                        client: tokio::sync::OnceCell::new(),
                    });
                    let old = map.insert(channel.id, slot.clone());
                    (slot, old)
                }
            }
        };
        if let Some(client) = replaced.and_then(|old| old.client.get().cloned()) {
            tokio::spawn(async move { client.close().await });
        }
        let client = slot
            .client
            .get_or_try_init(|| async {
                let (client, inbound) =
                    SmppClient::connect(key.config())
                        .await
                        .map_err(|error| LinkError::Bind {
                            target: format!("{}:{}", key.host, key.port),
                            error,
                        })?;
                tracing::info!(channel = %channel.id, host = %key.host, port = key.port, "SMPP bound");
                tokio::spawn(receive(
                    self.statuses.clone(),
                    self.ingest.clone(),
                    channel.id,
                    channel.address.clone(),
                    inbound,
                ));
                Ok(client)
            })
            .await?;
        Ok(client.clone())
    }
}

/// The bind of a channel, from the SMPP adapter's typed settings.
fn bind_key(channel: &Channel) -> Result<BindKey, String> {
    let bind = SmppBind::read(&crate::channel_rules::adapter_view(channel))
        .map_err(|e| format!("usable SMPP settings ({e})"))?;
    Ok(BindKey {
        host: bind.host,
        port: bind.port,
        system_id: bind.system_id,
        password: bind.password,
        system_type: bind.system_type,
        window: bind.window,
    })
}

/// The SMPP address of a channel's sender: `+E.164` international, up to 8 digits a short code,
/// anything else alphanumeric.
pub fn source_address(address: &str) -> Address {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match address.strip_prefix('+') {
        Some(rest) if digits(rest) => Address::international(address),
        _ if digits(address) && address.len() <= 8 => Address::short_code(address),
        _ if digits(address) => Address::international(address),
        _ => Address::alphanumeric(address),
    }
}

/// The concatenation reference of an entry's segments: the same on every attempt.
fn reference_for(entry_id: Uuid) -> u8 {
    entry_id.as_bytes().iter().fold(0u8, |acc, b| acc ^ b)
}

/// The submit_sm segments of `text`: split, encoded, with the concatenation UDH when needed.
pub fn build_message(
    source: &str,
    destination: &str,
    text: &str,
    reference: u8,
) -> Result<OutboundMessage, String> {
    let sms = split(text);
    let data_coding = match sms.encoding {
        Encoding::Gsm7 => DataCoding::Gsm7,
        Encoding::Ucs2 => DataCoding::Ucs2,
    };
    let udhi = sms.segments.len() > 1;
    let parts = sms.user_data(reference).map_err(|e| e.to_string())?;
    Ok(OutboundMessage {
        source: source_address(source),
        destination: Address::international(destination),
        registered_delivery: true,
        segments: parts
            .into_iter()
            .map(|short_message| Segment {
                short_message,
                data_coding,
                udhi,
            })
            .collect(),
    })
}

/// The entry status a receipt's state means (`None` when the receipt says nothing usable).
pub fn receipt_status(state: &MessageState) -> Option<(EntryStatus, Option<ErrorCode>)> {
    Some(match state {
        MessageState::Delivered => (EntryStatus::Delivered, None),
        MessageState::Rejected => (EntryStatus::Failed, Some(ErrorCode::CarrierBlocked)),
        MessageState::Undeliverable
        | MessageState::Expired
        | MessageState::Deleted
        | MessageState::Unknown
        | MessageState::Skipped => (EntryStatus::Undelivered, None),
        MessageState::Scheduled | MessageState::Enroute | MessageState::Accepted => {
            (EntryStatus::Sent, None)
        }
        MessageState::OtherCode(_) | MessageState::OtherText(_) => return None,
    })
}

/// The text of a mobile-originated message, decoded by its `data_coding`. An undecodable
/// payload is kept as a readable note with its octets in hex, so nothing disappears.
pub fn decode_mo(data_coding: DataCoding, payload: &[u8]) -> String {
    let decoded = match data_coding {
        DataCoding::Gsm7 => decode_gsm7_unpacked(payload).map_err(|e| e.to_string()),
        DataCoding::Ucs2 => decode_ucs2(payload).map_err(|e| e.to_string()),
        // IA5 (ASCII) and Latin-1: one octet per character.
        DataCoding::Other(0x01 | 0x03) => Ok(payload.iter().map(|b| char::from(*b)).collect()),
        DataCoding::Other(raw) => Err(format!("data_coding {raw:#04x} is not supported")),
    };
    decoded.unwrap_or_else(|e| {
        let hex: String = payload.iter().map(|b| format!("{b:02x}")).collect();
        format!("[undecodable SMS ({e}): {hex}]")
    })
}

/// `+` and the digits of a phone address; other addresses as they are.
fn customer_address(address: &Address) -> String {
    let a = address.address.trim();
    if !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()) && address.ton != 5 {
        format!("+{a}")
    } else {
        a.to_owned()
    }
}

/// Reads one bind's inbound events until the bind closes.
async fn receive(
    statuses: StatusRecorder,
    ingest: Arc<OnceLock<Ingest>>,
    channel_id: Uuid,
    channel_address: String,
    mut inbound: InboundReceiver,
) {
    while let Some(event) = inbound.recv().await {
        match event {
            SmppEvent::Receipt(receipt) => on_receipt(&statuses, channel_id, &receipt).await,
            SmppEvent::Message(mo) => {
                let received_at = statuses.now();
                on_mo(ingest.get(), channel_id, &channel_address, mo, received_at).await
            }
            SmppEvent::Undecodable(pdu) => tracing::warn!(
                channel = %channel_id, command_id = pdu.command_id, error = %pdu.error,
                "undecodable PDU from the SMSC"
            ),
        }
    }
    tracing::debug!(channel = %channel_id, "SMPP inbound stream ended");
}

async fn on_receipt(statuses: &StatusRecorder, channel_id: Uuid, receipt: &DeliveryReceipt) {
    let Some(message_id) = receipt.message_id.as_deref() else {
        tracing::warn!(channel = %channel_id, "delivery receipt without a message id");
        return;
    };
    let Some((status, code)) = receipt.state.as_ref().and_then(receipt_status) else {
        tracing::debug!(channel = %channel_id, message_id, "receipt with no usable state");
        return;
    };
    let mut detail = format!(
        "stat:{} err:{}",
        receipt.text.stat.as_deref().unwrap_or("-"),
        receipt.text.err.as_deref().unwrap_or("-")
    );
    if let Some((network, error)) = receipt.network_error_code {
        detail.push_str(&format!(" network_error:{network}/{error}"));
    }
    let report = StatusUpdate {
        provider_message_id: message_id.to_owned(),
        status,
        error_code: code,
        provider_error: (status != EntryStatus::Delivered && status != EntryStatus::Sent)
            .then_some(detail),
        recipient_opted_out: false,
    };
    // The SMSC may send the receipt right behind the submit_sm_resp, before the dispatcher has
    // stored the id: an unknown id is looked up again a few times, off the inbound stream.
    match statuses
        .store()
        .entry_by_provider_id(channel_id, message_id)
        .await
    {
        Ok(Some(_)) => {
            apply_receipt(statuses, channel_id, &report).await;
        }
        Ok(None) | Err(_) => {
            let statuses = statuses.clone();
            let message_id = message_id.to_owned();
            let customer = customer_address(&receipt.source);
            let quoted = receipt.text.text.clone();
            tokio::spawn(async move {
                for delay in RECEIPT_RETRY_MS {
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                    if let Ok(Some(_)) = statuses
                        .store()
                        .entry_by_provider_id(channel_id, &message_id)
                        .await
                    {
                        apply_receipt(&statuses, channel_id, &report).await;
                        return;
                    }
                    // No entry has this id: its submit answer may have been lost, leaving an
                    // `unknown` entry that the receipt's quoted text can still find.
                    if let Some(quoted) = &quoted {
                        match statuses
                            .settle_unknown(channel_id, &customer, quoted, &report)
                            .await
                        {
                            Ok(true) => return,
                            Ok(false) => {}
                            Err(e) => tracing::warn!(channel = %channel_id, message_id,
                                error = %e, "receipt not matched against unknown outcomes"),
                        }
                    }
                }
                // Receipts of a concatenated message's later segments end here, by design.
                tracing::debug!(channel = %channel_id, message_id, "receipt for a message we do not know");
            });
        }
    }
}

/// Delays between lookups of a receipt's message id that is not (yet) on any entry.
const RECEIPT_RETRY_MS: [u64; 6] = [50, 100, 200, 400, 800, 1600];

async fn apply_receipt(statuses: &StatusRecorder, channel_id: Uuid, report: &StatusUpdate) {
    let message_id = report.provider_message_id.as_str();
    for attempt in 1..=5u64 {
        match statuses.record(channel_id, report).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(channel = %channel_id, message_id, error = %e, attempt,
                    "receipt not recorded yet");
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
            }
        }
    }
    tracing::error!(channel = %channel_id, message_id, "receipt lost: the store kept failing");
}

async fn on_mo(
    ingest: Option<&Ingest>,
    channel_id: Uuid,
    channel_address: &str,
    mo: MobileOriginated,
    received_at: Timestamp,
) {
    if !mo.complete {
        tracing::warn!(channel = %channel_id, received = mo.parts_received, total = mo.parts_total,
            "concatenated SMS incomplete after the reassembly timeout");
    }
    let event = InboundEvent {
        channel_id,
        provider_message_id: format!("smpp-mo-{}", new_id().simple()),
        from: customer_address(&mo.source),
        to: channel_address.to_owned(),
        text: decode_mo(mo.data_coding, &mo.payload),
        media: Vec::new(),
        profile_name: None,
        received_at,
        choice: None,
        web: None,
    };
    let Some(ingest) = ingest else {
        tracing::error!(channel = %channel_id, from = %event.from,
            "SMS received over SMPP but no inbound pipeline is attached");
        return;
    };
    for attempt in 1..=5u64 {
        match ingest.submit(&event).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(channel = %channel_id, error = %e, attempt, "SMS not stored yet");
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
            }
        }
    }
    tracing::error!(channel = %channel_id, from = %event.from, text = %event.text,
        "SMS received over SMPP lost: the store kept failing");
}

/// A segment's failure as kept in `provider_error`.
fn describe(index: usize, total: usize, error: &SubmitError) -> String {
    format!("segment {} of {total}: {error}", index + 1)
}

impl SmppLinks {
    /// The dispatcher's SMPP arm: bind (lazily), rate, submit, and the entry's status from the
    /// segments' results (see the module docs). Writes nothing: the verdict is committed with
    /// its batch.
    pub(crate) async fn send(
        &self,
        rates: &SenderRates,
        entry: &Entry,
        channel: &Channel,
        user: &MessagingUser,
        last_attempt: bool,
    ) -> Verdict {
        let message = match build_message(
            &channel.address,
            &user.platform_key,
            &entry.body,
            reference_for(entry.id),
        ) {
            Ok(m) => m,
            Err(reason) => {
                return fail(
                    entry,
                    ErrorCode::BodyTooLarge,
                    &format!("not sent: {reason}"),
                );
            }
        };
        let client = match self.connect(channel).await {
            Ok(c) => c,
            Err(LinkError::Misconfigured(what)) => {
                return fail(
                    entry,
                    ErrorCode::ServiceMisconfigured,
                    &format!("not sent: the channel has no {what}"),
                );
            }
            Err(LinkError::Bind { target, error }) => {
                let detail = format!("cannot bind to the SMSC at {target}: {error}");
                if let SmppError::InvalidConfig(_) = error {
                    return fail(entry, ErrorCode::ServiceMisconfigured, &detail);
                }
                let code = match &error {
                    SmppError::BindRejected { status } => {
                        error_code_for_command_status(status.raw())
                    }
                    _ => ErrorCode::ServiceUnavailable,
                };
                metrics::counter!("parley_outbound_transient_total", "provider" => "smpp")
                    .increment(1);
                return transient(entry, code, &detail, last_attempt);
            }
        };

        let permits = u32::try_from(message.segments.len()).unwrap_or(u32::MAX);
        if let Err(verdict) = rates.admit(entry, channel, permits, last_attempt).await {
            return verdict;
        }

        let results = client.submit(&message).await;
        let total = results.len();
        let accepted: Vec<&str> = results
            .iter()
            .filter_map(|r| r.as_ref().ok().map(String::as_str))
            .collect();
        let failures: Vec<(usize, &SubmitError)> = results
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().err().map(|e| (i, e)))
            .collect();

        if failures.is_empty() {
            let Some(first) = accepted.first() else {
                return fail(
                    entry,
                    ErrorCode::ServiceError,
                    "the message has no segments",
                );
            };
            tracing::debug!(entry = %entry.id, ids = ?accepted, "SMPP segments accepted");
            metrics::counter!("parley_outbound_sent_total", "provider" => "smpp").increment(1);
            return dispatched(entry, EntryStatus::Sent, (*first).to_owned());
        }

        let detail = failures
            .iter()
            .map(|(i, e)| describe(*i, total, e))
            .collect::<Vec<_>>()
            .join("; ");
        if !accepted.is_empty() {
            let reason = format!(
                "only some segments were accepted (SMSC ids {}); {detail}",
                accepted.join(",")
            );
            // Receipts are matched on the first segment's id: keep it when it is known.
            let first = results.first().and_then(|r| r.as_ref().ok().cloned());
            return unknown(entry, "smpp", &reason, first);
        }
        if failures
            .iter()
            .any(|(_, e)| matches!(e, SubmitError::OutcomeUnknown(_)))
        {
            return ambiguous(entry, "smpp", &detail);
        }
        let permanent = failures.iter().find(|(_, e)| !e.is_retryable());
        if let Some((_, error)) = permanent {
            let code = match error {
                SubmitError::Rejected(status) => error_code_for_command_status(status.raw()),
                _ => ErrorCode::ServiceError,
            };
            metrics::counter!("parley_outbound_rejected_total", "provider" => "smpp").increment(1);
            return fail(entry, code, &detail);
        }
        let code = failures
            .iter()
            .find_map(|(_, e)| e.command_status())
            .map_or(ErrorCode::ServiceUnavailable, |s| {
                error_code_for_command_status(s.raw())
            });
        metrics::counter!("parley_outbound_transient_total", "provider" => "smpp").increment(1);
        transient(entry, code, &detail, last_attempt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            source_address("+14155550100"),
            Address::new(1, 1, "14155550100")
        );
        assert_eq!(source_address("12345"), Address::new(3, 0, "12345"));
        assert_eq!(source_address("Parley"), Address::new(5, 0, "Parley"));
        assert_eq!(
            customer_address(&Address::new(1, 1, "447400123456")),
            "+447400123456"
        );
    }

    #[test]
    fn long_gsm_text_is_concatenated() {
        let text = "a".repeat(200);
        let m = build_message("12345", "+447400123456", &text, 7).unwrap();
        assert_eq!(m.segments.len(), 2);
        assert!(
            m.segments
                .iter()
                .all(|s| s.udhi && s.data_coding == DataCoding::Gsm7)
        );
        assert_eq!(&m.segments[0].short_message[..6], &[5, 0, 3, 7, 2, 1]);
        let short = build_message("12345", "+447400123456", "héllo ✓", 7).unwrap();
        assert_eq!(short.segments.len(), 1);
        assert!(!short.segments[0].udhi);
        assert_eq!(short.segments[0].data_coding, DataCoding::Ucs2);
    }

    #[test]
    fn mo_decoding() {
        assert_eq!(decode_mo(DataCoding::Gsm7, &[0x48, 0x69]), "Hi");
        assert_eq!(decode_mo(DataCoding::Ucs2, &[0x00, 0x48, 0x00, 0xE9]), "Hé");
        assert!(decode_mo(DataCoding::Ucs2, &[0x00]).starts_with("[undecodable SMS"));
    }
}
