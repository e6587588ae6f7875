//! The values callers hand to the client and receive from it.

use std::fmt;

/// `data_coding` of a short message. Outbound, Parley sends [`DataCoding::Gsm7`] (GSM 03.38
/// default alphabet as unpacked septets, one septet per octet, escapes as `0x1B` + septet) or
/// [`DataCoding::Ucs2`] (UTF-16BE code units). Inbound, any value can arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataCoding {
    /// 0x00: SMSC default alphabet, GSM 03.38 unpacked septets.
    Gsm7,
    /// 0x08: UCS-2 (UTF-16BE).
    Ucs2,
    /// Any other value, kept raw.
    Other(u8),
}

impl DataCoding {
    /// From the raw `data_coding` octet.
    pub const fn from_raw(raw: u8) -> Self {
        match raw {
            0x00 => Self::Gsm7,
            0x08 => Self::Ucs2,
            other => Self::Other(other),
        }
    }

    /// The raw `data_coding` octet.
    pub const fn raw(self) -> u8 {
        match self {
            Self::Gsm7 => 0x00,
            Self::Ucs2 => 0x08,
            Self::Other(raw) => raw,
        }
    }
}

/// An SMPP address: type of number, numbering plan and the digits or alphanumeric sender id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address {
    /// Type of number (0 unknown, 1 international, 2 national, 3 network specific,
    /// 5 alphanumeric, 6 abbreviated).
    pub ton: u8,
    /// Numbering plan indicator (0 unknown, 1 ISDN/E.164).
    pub npi: u8,
    /// The address itself (at most 20 ASCII characters on the wire).
    pub address: String,
}

impl Address {
    /// Any TON/NPI.
    pub fn new(ton: u8, npi: u8, address: impl Into<String>) -> Self {
        Self {
            ton,
            npi,
            address: address.into(),
        }
    }

    /// An E.164 number (TON 1, NPI 1); a leading `+` is removed.
    pub fn international(e164: &str) -> Self {
        Self::new(1, 1, e164.strip_prefix('+').unwrap_or(e164))
    }

    /// An alphanumeric sender id (TON 5, NPI 0).
    pub fn alphanumeric(id: impl Into<String>) -> Self {
        Self::new(5, 0, id)
    }

    /// A short code (TON 3 network specific, NPI 0).
    pub fn short_code(code: impl Into<String>) -> Self {
        Self::new(3, 0, code)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (ton {}, npi {})", self.address, self.ton, self.npi)
    }
}

/// One SMS segment, already encoded and split by the caller (`parley_core::sms`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// The `short_message` octets, including the UDH when `udhi` is set (at most 254 octets;
    /// a real network takes 140).
    pub short_message: Vec<u8>,
    /// How the octets are encoded.
    pub data_coding: DataCoding,
    /// Whether `short_message` starts with a User Data Header (sets esm_class bit 0x40).
    pub udhi: bool,
}

/// A message to submit: one or more segments sharing addresses and receipt request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundMessage {
    /// Sender.
    pub source: Address,
    /// Recipient.
    pub destination: Address,
    /// Ask the SMSC for a delivery receipt (registered_delivery = 1) for each segment.
    pub registered_delivery: bool,
    /// The segments, in order.
    pub segments: Vec<Segment>,
}

/// The SMSC's identifier of one accepted submit_sm, as returned in submit_sm_resp.
pub type MessageId = String;

/// The final states of a message, from the `message_state` TLV or the receipt's `stat:` field.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MessageState {
    /// 0 (SMPP 5) / `SCHEDULED`.
    Scheduled,
    /// 1 / `ENROUTE`.
    Enroute,
    /// 2 / `DELIVRD`.
    Delivered,
    /// 3 / `EXPIRED`.
    Expired,
    /// 4 / `DELETED`.
    Deleted,
    /// 5 / `UNDELIV`.
    Undeliverable,
    /// 6 / `ACCEPTD`.
    Accepted,
    /// 7 / `UNKNOWN`.
    Unknown,
    /// 8 / `REJECTD`.
    Rejected,
    /// 9 / `SKIPPED`.
    Skipped,
    /// Any other TLV value.
    OtherCode(u8),
    /// Any other `stat:` text, verbatim.
    OtherText(String),
}

impl MessageState {
    /// From the `message_state` TLV value.
    pub fn from_code(code: u8) -> Self {
        match code {
            0 => Self::Scheduled,
            1 => Self::Enroute,
            2 => Self::Delivered,
            3 => Self::Expired,
            4 => Self::Deleted,
            5 => Self::Undeliverable,
            6 => Self::Accepted,
            7 => Self::Unknown,
            8 => Self::Rejected,
            9 => Self::Skipped,
            other => Self::OtherCode(other),
        }
    }

    /// From the receipt text's `stat:` value: its first word, case-insensitive; full words
    /// such as `DELIVERED` are accepted too.
    pub fn from_stat(stat: &str) -> Self {
        let upper = stat
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        match upper.as_str() {
            "SCHEDULED" | "SCHEDLD" => Self::Scheduled,
            "ENROUTE" => Self::Enroute,
            "DELIVRD" | "DELIVERED" => Self::Delivered,
            "EXPIRED" => Self::Expired,
            "DELETED" => Self::Deleted,
            "UNDELIV" | "UNDELIVERABLE" => Self::Undeliverable,
            "ACCEPTD" | "ACCEPTED" => Self::Accepted,
            "UNKNOWN" => Self::Unknown,
            "REJECTD" | "REJECTED" => Self::Rejected,
            "SKIPPED" => Self::Skipped,
            _ => Self::OtherText(stat.trim().to_owned()),
        }
    }

    /// Whether no later receipt will change the state (everything but scheduled/enroute/
    /// accepted and unrecognised values).
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Self::Delivered
                | Self::Expired
                | Self::Deleted
                | Self::Undeliverable
                | Self::Rejected
                | Self::Skipped
                | Self::Unknown
        )
    }
}

/// The fields of the conventional receipt text
/// `id:IIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:E text:...`.
/// Every field is optional: SMSCs vary, and malformed text only leaves fields empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReceiptText {
    /// `id:`
    pub id: Option<String>,
    /// `sub:`
    pub sub: Option<String>,
    /// `dlvrd:`
    pub dlvrd: Option<String>,
    /// `submit date:`
    pub submit_date: Option<String>,
    /// `done date:`
    pub done_date: Option<String>,
    /// `stat:`
    pub stat: Option<String>,
    /// `err:`
    pub err: Option<String>,
    /// `text:` (to the end of the message)
    pub text: Option<String>,
}

/// A delivery receipt (deliver_sm with esm_class message type 0x04 or intermediate 0x20).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReceipt {
    /// The SMSC message id the receipt is about: the `receipted_message_id` TLV when present,
    /// else the text's `id:`. Compare with the [`MessageId`] of submit_sm_resp (some SMSCs write
    /// the text id in decimal while the response was hex: the TLV, when sent, is authoritative).
    pub message_id: Option<String>,
    /// The state: the `message_state` TLV when present, else the text's `stat:`.
    pub state: Option<MessageState>,
    /// The `network_error_code` TLV: (network type, error code).
    pub network_error_code: Option<(u8, u16)>,
    /// The `receipted_message_id` TLV as sent.
    pub tlv_receipted_message_id: Option<String>,
    /// The `message_state` TLV as sent.
    pub tlv_message_state: Option<u8>,
    /// The parsed receipt text.
    pub text: ReceiptText,
    /// The receipt's source (the original recipient).
    pub source: Address,
    /// The receipt's destination (the original sender).
    pub destination: Address,
    /// esm_class as received.
    pub esm_class: u8,
    /// The raw short_message (or message_payload) octets.
    pub raw: Vec<u8>,
}

/// A mobile-originated message, reassembled when it came in concatenated parts.
///
/// The payload is NOT decoded: `payload` holds the user data octets (UDH removed, parts joined
/// in order) in `data_coding`: for [`DataCoding::Gsm7`] unpacked GSM 03.38 septets, for
/// [`DataCoding::Ucs2`] UTF-16BE. Decoding to text belongs to `parley_core::sms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MobileOriginated {
    /// The sender (the customer's phone).
    pub source: Address,
    /// The recipient (our number or short code).
    pub destination: Address,
    /// data_coding of the (first) part.
    pub data_coding: DataCoding,
    /// esm_class of the (first) part.
    pub esm_class: u8,
    /// User data without UDH, parts concatenated in sequence order.
    pub payload: Vec<u8>,
    /// Concatenation reference, when the message came in parts.
    pub concat_reference: Option<u16>,
    /// How many parts the message announced (1 when not concatenated).
    pub parts_total: u8,
    /// How many distinct parts arrived.
    pub parts_received: u8,
    /// False when the reassembly timed out before every part arrived (the payload then holds
    /// the parts that did arrive, in order, and gaps are lost).
    pub complete: bool,
}

/// A PDU from the SMSC that could not be decoded. It was answered with `ESME_RX_P_APPN` (for
/// deliver_sm) or generic_nack so the SMSC does not loop on it; the raw bytes are surfaced so
/// nothing disappears silently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UndecodablePdu {
    /// command_id from the header.
    pub command_id: u32,
    /// sequence_number from the header.
    pub sequence_number: u32,
    /// The whole PDU after the length prefix.
    pub raw: Vec<u8>,
    /// What the decoder said.
    pub error: String,
}

/// Something the SMSC sent us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundEvent {
    /// A delivery receipt (boxed: it is the largest event).
    Receipt(Box<DeliveryReceipt>),
    /// A mobile-originated message.
    Message(MobileOriginated),
    /// A deliver_sm that could not be decoded.
    Undecodable(UndecodablePdu),
}

/// The state of the link, for health checks and for waiting on a (re)bind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    /// Bound as transceiver.
    Bound,
    /// Not bound; reconnecting with back-off. The reason of the last loss or failed attempt.
    Reconnecting(String),
    /// Closed by [`crate::SmppClient::close`] or because every handle was dropped.
    Closed,
}
