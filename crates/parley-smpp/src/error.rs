//! Typed errors and the raw SMPP `command_status`.

use std::fmt;

/// A raw SMPP `command_status` as the SMSC sent it. Parley maps it to its own error catalogue
/// elsewhere; this crate only names the common values and says whether retrying can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommandStatus(pub u32);

impl CommandStatus {
    /// No error.
    pub const ESME_ROK: Self = Self(0x0000_0000);
    /// Message length is invalid.
    pub const ESME_RINVMSGLEN: Self = Self(0x0000_0001);
    /// Command length is invalid.
    pub const ESME_RINVCMDLEN: Self = Self(0x0000_0002);
    /// Invalid command id.
    pub const ESME_RINVCMDID: Self = Self(0x0000_0003);
    /// Incorrect bind status for the given command.
    pub const ESME_RINVBNDSTS: Self = Self(0x0000_0004);
    /// ESME already in bound state.
    pub const ESME_RALYBND: Self = Self(0x0000_0005);
    /// System error.
    pub const ESME_RSYSERR: Self = Self(0x0000_0008);
    /// Invalid source address.
    pub const ESME_RINVSRCADR: Self = Self(0x0000_000A);
    /// Invalid destination address.
    pub const ESME_RINVDSTADR: Self = Self(0x0000_000B);
    /// Bind failed.
    pub const ESME_RBINDFAIL: Self = Self(0x0000_000D);
    /// Invalid password.
    pub const ESME_RINVPASWD: Self = Self(0x0000_000E);
    /// Invalid system id.
    pub const ESME_RINVSYSID: Self = Self(0x0000_000F);
    /// Message queue full.
    pub const ESME_RMSGQFUL: Self = Self(0x0000_0014);
    /// Submit failed.
    pub const ESME_RSUBMITFAIL: Self = Self(0x0000_0045);
    /// Throttling error: the ESME exceeded its allowed message rate.
    pub const ESME_RTHROTTLED: Self = Self(0x0000_0058);
    /// Invalid data coding scheme.
    pub const ESME_RINVDCS: Self = Self(0x0000_0104);
    /// deliver_sm was not accepted, temporarily (ESME receiver temporary app error).
    pub const ESME_RX_T_APPN: Self = Self(0x0000_0064);
    /// deliver_sm was not accepted, permanently (ESME receiver permanent app error).
    pub const ESME_RX_P_APPN: Self = Self(0x0000_0065);

    /// The raw value.
    pub const fn raw(self) -> u32 {
        self.0
    }

    /// Whether the same submit_sm may succeed later without change: throttling (0x58), message
    /// queue full (0x14), system error (0x08), and the receiver's "temporary application error"
    /// (0x64). Every other non-zero status is permanent: resending the same PDU will fail again.
    pub const fn is_transient(self) -> bool {
        matches!(self.0, 0x58 | 0x14 | 0x08 | 0x64)
    }

    /// The SMPP 3.4 name of the common values, `None` for others.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x00 => "ESME_ROK",
            0x01 => "ESME_RINVMSGLEN",
            0x02 => "ESME_RINVCMDLEN",
            0x03 => "ESME_RINVCMDID",
            0x04 => "ESME_RINVBNDSTS",
            0x05 => "ESME_RALYBND",
            0x06 => "ESME_RINVPRTFLG",
            0x07 => "ESME_RINVREGDLVFLG",
            0x08 => "ESME_RSYSERR",
            0x0A => "ESME_RINVSRCADR",
            0x0B => "ESME_RINVDSTADR",
            0x0C => "ESME_RINVMSGID",
            0x0D => "ESME_RBINDFAIL",
            0x0E => "ESME_RINVPASWD",
            0x0F => "ESME_RINVSYSID",
            0x11 => "ESME_RCANCELFAIL",
            0x13 => "ESME_RREPLACEFAIL",
            0x14 => "ESME_RMSGQFUL",
            0x15 => "ESME_RINVSERTYP",
            0x45 => "ESME_RSUBMITFAIL",
            0x48 => "ESME_RINVSRCTON",
            0x49 => "ESME_RINVSRCNPI",
            0x50 => "ESME_RINVDSTTON",
            0x51 => "ESME_RINVDSTNPI",
            0x53 => "ESME_RINVSYSTYP",
            0x58 => "ESME_RTHROTTLED",
            0x61 => "ESME_RINVSCHED",
            0x62 => "ESME_RINVEXPIRY",
            0x64 => "ESME_RX_T_APPN",
            0x65 => "ESME_RX_P_APPN",
            0x66 => "ESME_RX_R_APPN",
            0xC0 => "ESME_RINVOPTPARSTREAM",
            0xC1 => "ESME_ROPTPARNOTALLWD",
            0xC2 => "ESME_RINVPARLEN",
            0xC3 => "ESME_RMISSINGOPTPARAM",
            0xC4 => "ESME_RINVOPTPARAMVAL",
            0xFE => "ESME_RDELIVERYFAILURE",
            0xFF => "ESME_RUNKNOWNERR",
            0x104 => "ESME_RINVDCS",
            _ => return None,
        })
    }
}

impl fmt::Display for CommandStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} (0x{:08X})", self.0),
            None => write!(f, "0x{:08X}", self.0),
        }
    }
}

impl From<u32> for CommandStatus {
    fn from(value: u32) -> Self {
        Self(value)
    }
}

/// Why connecting or binding failed.
#[derive(Debug, thiserror::Error)]
pub enum SmppError {
    /// The configuration cannot be sent (field too long, not ASCII, window 0...).
    #[error("invalid SMPP configuration: {0}")]
    InvalidConfig(String),
    /// TCP connect failed.
    #[error("cannot connect to the SMSC: {0}")]
    Connect(#[source] std::io::Error),
    /// The SMSC answered bind_transceiver with a non-zero status (wrong credentials, already
    /// bound, ...).
    #[error("the SMSC refused the bind: {status}")]
    BindRejected {
        /// The raw command_status of bind_transceiver_resp (or generic_nack).
        status: CommandStatus,
    },
    /// No bind_transceiver_resp within `response_timeout`.
    #[error("no answer to bind_transceiver within the response timeout")]
    BindTimeout,
    /// The connection failed or closed during the bind.
    #[error("the connection failed during the bind: {0}")]
    Io(#[source] std::io::Error),
    /// The SMSC sent something that is not SMPP.
    #[error("protocol error: {0}")]
    Protocol(String),
}

/// Why a submission was certainly not written to the SMSC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotSentReason {
    /// It waited longer than `queue_timeout` (link down, window full or throttled) without
    /// being written.
    QueueTimeout,
    /// The client was closed (or its task ended) before the submission was written.
    Closed,
}

impl fmt::Display for NotSentReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::QueueTimeout => "it waited longer than the queue timeout",
            Self::Closed => "the client was closed",
        })
    }
}

/// Why the outcome of a written submit_sm is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownReason {
    /// The connection dropped (or was unbound by the SMSC) after the submit_sm was written and
    /// before its submit_sm_resp arrived.
    ConnectionLost,
    /// No submit_sm_resp arrived within `response_timeout`.
    ResponseTimeout,
}

impl fmt::Display for UnknownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ConnectionLost => "the connection was lost before the response",
            Self::ResponseTimeout => "no response within the response timeout",
        })
    }
}

/// The failure of one segment's submit_sm.
///
/// The three classes an outbox must tell apart:
/// - [`SubmitError::Invalid`] and [`SubmitError::NotSent`]: no byte of this submit_sm was handed
///   to a socket. The SMSC cannot have it: resending cannot duplicate.
/// - [`SubmitError::Rejected`]: the SMSC answered with a non-zero command_status: it did not
///   accept the message. Resending cannot duplicate; whether it can succeed is
///   [`CommandStatus::is_transient`].
/// - [`SubmitError::OutcomeUnknown`]: the submit_sm was (or may have been) written and no answer
///   came. The SMSC may have accepted it: resending may duplicate, not resending may lose.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The segment cannot be encoded as a submit_sm (too long, bad address, bad UDH). Never sent.
    #[error("invalid segment: {0}")]
    Invalid(String),
    /// Certainly not written to the SMSC.
    #[error("not sent: {0}")]
    NotSent(NotSentReason),
    /// The SMSC refused it with this command_status (after the configured throttling retries
    /// for `ESME_RTHROTTLED`).
    #[error("rejected by the SMSC: {0}")]
    Rejected(CommandStatus),
    /// Written (or possibly written), and no answer.
    #[error("outcome unknown: {0}")]
    OutcomeUnknown(UnknownReason),
}

impl SubmitError {
    /// True when the SMSC certainly does not hold this message, so resending it cannot create a
    /// duplicate (`Invalid`, `NotSent`, `Rejected`).
    pub const fn is_definitely_not_accepted(&self) -> bool {
        !matches!(self, Self::OutcomeUnknown(_))
    }

    /// True when resending the same segment later may succeed and cannot duplicate:
    /// `NotSent`, or `Rejected` with a transient status.
    pub const fn is_retryable(&self) -> bool {
        match self {
            Self::NotSent(_) => true,
            Self::Rejected(status) => status.is_transient(),
            Self::Invalid(_) | Self::OutcomeUnknown(_) => false,
        }
    }

    /// The SMSC's command_status, for `Rejected`.
    pub const fn command_status(&self) -> Option<CommandStatus> {
        match self {
            Self::Rejected(status) => Some(*status),
            _ => None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn transient_statuses() {
        for s in [0x58, 0x14, 0x08, 0x64] {
            assert!(CommandStatus(s).is_transient(), "{s:#x}");
        }
        for s in [0x01, 0x0B, 0x0E, 0x45, 0x104, 0xFF, 0x65] {
            assert!(!CommandStatus(s).is_transient(), "{s:#x}");
        }
        assert_eq!(
            CommandStatus::ESME_RTHROTTLED.to_string(),
            "ESME_RTHROTTLED (0x00000058)"
        );
        assert_eq!(CommandStatus(0x401).to_string(), "0x00000401");
    }

    #[test]
    fn retry_classes() {
        assert!(SubmitError::NotSent(NotSentReason::QueueTimeout).is_retryable());
        assert!(SubmitError::Rejected(CommandStatus::ESME_RMSGQFUL).is_retryable());
        assert!(!SubmitError::Rejected(CommandStatus::ESME_RINVDSTADR).is_retryable());
        let unknown = SubmitError::OutcomeUnknown(UnknownReason::ConnectionLost);
        assert!(!unknown.is_retryable());
        assert!(!unknown.is_definitely_not_accepted());
        assert!(SubmitError::Rejected(CommandStatus(0x0B)).is_definitely_not_accepted());
    }
}
