//! SMPP 3.4 client session layer for Parley.
//!
//! [`SmppClient::connect`] binds as transceiver to one SMSC and returns a cloneable handle plus
//! the stream of inbound events ([`InboundEvent`]: delivery receipts, mobile-originated
//! messages with concatenated parts reassembled, undecodable PDUs). A background task owns the
//! connection: it keeps at most [`SmppConfig::window`] submit_sm awaiting their response, sends
//! enquire_link, answers the SMSC's enquire_link and unbind, backs off and resends on
//! `ESME_RTHROTTLED`, and reconnects with jittered exponential back-off when the link drops.
//! PDUs are encoded and decoded by `rusmpp`; the session logic is ours.
//!
//! # Outbound: what a result means
//!
//! [`SmppClient::submit`] takes a message already split and encoded into segments and returns
//! one result per segment:
//!
//! | result | the SMSC... | resend? |
//! |---|---|---|
//! | `Ok(message_id)` | accepted it | no |
//! | [`SubmitError::Invalid`] | never saw it (cannot be encoded) | no: fix the input |
//! | [`SubmitError::NotSent`] | never saw it: no byte of the submit_sm was handed to a socket | yes, safely |
//! | [`SubmitError::Rejected`] (status transient: [`CommandStatus::is_transient`]) | refused it for now | yes, later, safely |
//! | [`SubmitError::Rejected`] (status permanent) | refused it | no |
//! | [`SubmitError::OutcomeUnknown`] | may or may not have it: the submit_sm was written, then the connection dropped or no response came in time | resending may duplicate; not resending may lose |
//!
//! "Written" means the submit_sm entered the connection's write buffer; from that moment the
//! client never claims "not sent". `ESME_RTHROTTLED` is retried inside the client (all submits
//! pause, with growing back-off) up to [`SmppConfig::max_throttle_retries`] times; a throttled
//! submit_sm waiting for its resend when the link drops is still "not sent"-safe and is resent
//! after the reconnect.
//!
//! # Using it from an outbox dispatcher
//!
//! - Call [`SmppClient::submit`] from many tasks at once (one per outbox row): the window is
//!   only filled by concurrent callers; a sequential loop keeps one message in flight.
//! - Persist each segment's result: `Ok` ids are what delivery receipts
//!   ([`DeliveryReceipt::message_id`]) refer to.
//! - `NotSent` and transient `Rejected`: schedule the failed segments again with the outbox's
//!   own back-off (same bytes). Permanent `Rejected` and `Invalid`: mark failed, keep the raw
//!   [`CommandStatus`] beside the catalogue code.
//! - `OutcomeUnknown`: the outbox decides: resend (risking a duplicate, which for SMS is
//!   usually preferred to a loss) or mark it unknown for a person to check. No message id is
//!   known, so no receipt can settle it. The client never resends it by itself.
//! - [`SmppConfig::queue_timeout`] bounds how long a submission waits for a link, a window slot
//!   or the end of a throttle pause before it comes back `NotSent` (checked when it reaches
//!   the head of the queue, so it can be late by up to one response timeout).
//!
//! # Inbound
//!
//! Payloads are delivered as raw octets with their `data_coding` (GSM 03.38 unpacked septets
//! for 0, UTF-16BE for 8): decoding to text is `parley_core::sms`'s job. A deliver_sm is
//! acknowledged only once its event is in the channel (or held for reassembly); parts held for
//! reassembly live in memory, so a crash before the last part arrives loses the earlier parts.
//! The background task stops when every [`SmppClient`] clone is dropped: keep one alive while
//! reading the [`InboundReceiver`].

mod client;
mod codec;
mod concat;
mod config;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod receipt;
mod session;
mod types;

pub use client::{InboundReceiver, SmppClient};
pub use config::{Backoff, SmppConfig};
pub use error::{CommandStatus, NotSentReason, SmppError, SubmitError, UnknownReason};
pub use receipt::parse_receipt_text;
pub use types::{
    Address, DataCoding, DeliveryReceipt, InboundEvent, LinkState, MessageId, MessageState,
    MobileOriginated, OutboundMessage, ReceiptText, Segment, UndecodablePdu,
};
