//! The connection task: bind, window, enquire_link, inbound, throttling and reconnection.
//!
//! One task owns the TCP connection and every in-flight submit_sm. Callers talk to it through a
//! bounded channel of [`Request`]s, each carrying a oneshot for its result. Because only this task
//! writes to the socket, it knows exactly which submissions were handed to the transport, which
//! is what separates "not sent" from "outcome unknown".

use std::collections::{HashMap, VecDeque};
use std::io;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rusmpp::pdus::{BindTransceiver, DeliverSm, DeliverSmResp, SubmitSm};
use rusmpp::tlvs::TlvValue;
use rusmpp::types::COctetString;
use rusmpp::values::{InterfaceVersion, Npi, Ton};
use rusmpp::{Command, CommandStatus as RusmppStatus, Pdu};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::codec::Framed;
use tracing::{debug, info, warn};

use crate::codec::{Frame, SmppCodec};
use crate::concat::{Part, Reassembler, split_udh};
use crate::config::SmppConfig;
use crate::error::{CommandStatus, NotSentReason, SmppError, SubmitError, UnknownReason};
use crate::receipt::parse_receipt_text;
use crate::types::{
    Address, DataCoding, DeliveryReceipt, InboundEvent, LinkState, MessageId, MessageState,
    UndecodablePdu,
};

pub(crate) type Conn = Framed<TcpStream, SmppCodec>;

const GENERIC_NACK: u32 = 0x8000_0000;
const BIND_TRANSCEIVER_RESP: u32 = 0x8000_0009;
const SUBMIT_SM_RESP: u32 = 0x8000_0004;
const DELIVER_SM: u32 = 0x0000_0005;
const UNBIND: u32 = 0x0000_0006;
const UNBIND_RESP: u32 = 0x8000_0006;
const ENQUIRE_LINK: u32 = 0x0000_0015;
const ENQUIRE_LINK_RESP: u32 = 0x8000_0015;
const ALERT_NOTIFICATION: u32 = 0x0000_0102;
const OUTBIND: u32 = 0x0000_000B;
const RESPONSE_BIT: u32 = 0x8000_0000;

/// A submission waiting for the connection task.
#[derive(Debug)]
pub(crate) struct Request {
    pub submit: SubmitSm,
    pub reply: oneshot::Sender<Result<MessageId, SubmitError>>,
    /// Past this instant the request is no longer written (NotSent::QueueTimeout).
    pub deadline: Instant,
    /// How many times the SMSC answered ESME_RTHROTTLED to it.
    pub throttled: u32,
}

impl Request {
    fn finish(self, result: Result<MessageId, SubmitError>) {
        // The caller may have given up; nothing to do then.
        let _ = self.reply.send(result);
    }

    /// Gives up on a request that is not written now: after a throttle the SMSC's own answer is
    /// the better explanation.
    fn give_up(self, reason: NotSentReason) {
        let error = if self.throttled > 0 {
            SubmitError::Rejected(CommandStatus::ESME_RTHROTTLED)
        } else {
            SubmitError::NotSent(reason)
        };
        self.finish(Err(error));
    }
}

#[derive(Debug)]
struct InFlight {
    request: Request,
}

/// Why a connection ended.
#[derive(Debug)]
enum Disconnect {
    /// Close requested and done (or all handles dropped).
    Closed,
    Io(io::Error),
    PeerClosed,
    UnboundByPeer,
    EnquireLinkTimeout,
    WriteTimeout,
}

impl std::fmt::Display for Disconnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Closed => f.write_str("closed"),
            Self::Io(e) => write!(f, "I/O error: {e}"),
            Self::PeerClosed => f.write_str("the SMSC closed the connection"),
            Self::UnboundByPeer => f.write_str("the SMSC unbound"),
            Self::EnquireLinkTimeout => f.write_str("no enquire_link_resp in time"),
            Self::WriteTimeout => f.write_str("writing to the SMSC stalled"),
        }
    }
}

/// Checks the parts of the configuration that go on the wire.
pub(crate) fn validate(config: &SmppConfig) -> Result<(), SmppError> {
    bind_pdu(config)?;
    if config.window == 0 {
        return Err(SmppError::InvalidConfig("window must be at least 1".into()));
    }
    if config.response_timeout.is_zero() || config.enquire_link_interval.is_zero() {
        return Err(SmppError::InvalidConfig(
            "response_timeout and enquire_link_interval must be positive".into(),
        ));
    }
    if config.inbound_capacity == 0 {
        return Err(SmppError::InvalidConfig(
            "inbound_capacity must be at least 1".into(),
        ));
    }
    Ok(())
}

fn c_string<const MIN: usize, const MAX: usize>(
    field: &str,
    value: &str,
) -> Result<COctetString<MIN, MAX>, SmppError> {
    COctetString::from_str_checked(value).ok_or_else(|| {
        SmppError::InvalidConfig(format!(
            "{field} must be ASCII without NUL and at most {} characters",
            MAX - 1
        ))
    })
}

/// `COctetString::from_str` under a name that says it checks.
trait FromStrChecked: Sized {
    fn from_str_checked(value: &str) -> Option<Self>;
}

impl<const MIN: usize, const MAX: usize> FromStrChecked for COctetString<MIN, MAX> {
    fn from_str_checked(value: &str) -> Option<Self> {
        if value.contains('\0') {
            return None;
        }
        let mut bytes = value.as_bytes().to_vec();
        bytes.push(0);
        COctetString::from_vec(bytes).ok()
    }
}

fn bind_pdu(config: &SmppConfig) -> Result<BindTransceiver, SmppError> {
    Ok(BindTransceiver::builder()
        .system_id(c_string("system_id", &config.system_id)?)
        .password(c_string("password", &config.password)?)
        .system_type(c_string("system_type", &config.system_type)?)
        .interface_version(InterfaceVersion::Smpp3_4)
        .addr_ton(Ton::Unknown)
        .addr_npi(Npi::Unknown)
        .address_range(COctetString::empty())
        .build())
}

/// Builds the submit_sm of one segment, or says why it cannot be sent.
pub(crate) fn submit_pdu(
    source: &Address,
    destination: &Address,
    registered_delivery: bool,
    segment: &crate::types::Segment,
) -> Result<SubmitSm, SubmitError> {
    use rusmpp::types::OctetString;
    use rusmpp::values::{EsmClass, RegisteredDelivery};

    let invalid = |what: &str| SubmitError::Invalid(what.to_owned());
    if segment.short_message.len() > 254 {
        return Err(invalid("short_message longer than 254 octets"));
    }
    if segment.udhi {
        let udh_len = segment.short_message.first().map(|&l| usize::from(l) + 1);
        if udh_len.is_none_or(|l| l > segment.short_message.len()) {
            return Err(invalid(
                "udhi set but the UDH length overruns short_message",
            ));
        }
    }
    let source_addr = COctetString::from_str_checked(&source.address)
        .ok_or_else(|| invalid("source address must be ASCII, at most 20 characters"))?;
    let destination_addr = COctetString::from_str_checked(&destination.address)
        .ok_or_else(|| invalid("destination address must be ASCII, at most 20 characters"))?;
    let short_message = OctetString::from_vec(segment.short_message.clone())
        .map_err(|_| invalid("short_message too long"))?;
    Ok(SubmitSm::builder()
        .source_addr_ton(Ton::from(source.ton))
        .source_addr_npi(Npi::from(source.npi))
        .source_addr(source_addr)
        .dest_addr_ton(Ton::from(destination.ton))
        .dest_addr_npi(Npi::from(destination.npi))
        .destination_addr(destination_addr)
        .esm_class(EsmClass::from(if segment.udhi { 0x40 } else { 0x00 }))
        .registered_delivery(RegisteredDelivery::from(u8::from(registered_delivery)))
        .data_coding(rusmpp::values::DataCoding::from(segment.data_coding.raw()))
        .short_message(short_message)
        .build())
}

/// Opens a TCP connection and binds as transceiver (sequence number 1).
pub(crate) async fn connect_and_bind(config: &SmppConfig) -> Result<Conn, SmppError> {
    let bind = bind_pdu(config)?;
    let connect = TcpStream::connect((config.host.as_str(), config.port));
    let stream = tokio::time::timeout(config.response_timeout, connect)
        .await
        .map_err(|_| SmppError::Connect(io::ErrorKind::TimedOut.into()))?
        .map_err(SmppError::Connect)?;
    stream.set_nodelay(true).map_err(SmppError::Connect)?;
    let mut conn = Framed::new(stream, SmppCodec);
    let deadline = Instant::now() + config.response_timeout;
    tokio::time::timeout_at(
        deadline,
        conn.send(Command::new(RusmppStatus::EsmeRok, 1, bind)),
    )
    .await
    .map_err(|_| SmppError::BindTimeout)?
    .map_err(SmppError::Io)?;
    loop {
        let frame = tokio::time::timeout_at(deadline, conn.next())
            .await
            .map_err(|_| SmppError::BindTimeout)?;
        let frame = match frame {
            None => return Err(SmppError::Io(io::ErrorKind::UnexpectedEof.into())),
            Some(Err(e)) => return Err(SmppError::Io(e)),
            Some(Ok(frame)) => frame,
        };
        match frame.command_id {
            BIND_TRANSCEIVER_RESP | GENERIC_NACK if frame.sequence_number == 1 => {
                if frame.command_status != 0 {
                    return Err(SmppError::BindRejected {
                        status: CommandStatus(frame.command_status),
                    });
                }
                if frame.command_id == GENERIC_NACK {
                    return Err(SmppError::Protocol(
                        "generic_nack with status 0 to bind".into(),
                    ));
                }
                return Ok(conn);
            }
            ENQUIRE_LINK => {
                let resp = Command::new(
                    RusmppStatus::EsmeRok,
                    frame.sequence_number,
                    Pdu::EnquireLinkResp,
                );
                tokio::time::timeout_at(deadline, conn.send(resp))
                    .await
                    .map_err(|_| SmppError::BindTimeout)?
                    .map_err(SmppError::Io)?;
            }
            other => debug!(command_id = other, "ignoring PDU before bind response"),
        }
    }
}

/// The state that outlives connections.
pub(crate) struct Worker {
    pub config: SmppConfig,
    pub rx: mpsc::Receiver<Request>,
    pub close: watch::Receiver<bool>,
    pub state: watch::Sender<LinkState>,
    pub inbound: mpsc::Sender<InboundEvent>,
    /// Requests taken from `rx` and not written (throttled retries first).
    queue: VecDeque<Request>,
    reassembler: Reassembler,
    next_seq: u32,
    throttle_streak: u32,
    /// Set when a close was requested or every handle was dropped.
    closing: bool,
}

impl Worker {
    pub(crate) fn new(
        config: SmppConfig,
        rx: mpsc::Receiver<Request>,
        close: watch::Receiver<bool>,
        state: watch::Sender<LinkState>,
        inbound: mpsc::Sender<InboundEvent>,
    ) -> Self {
        let reassembler = Reassembler::new(config.reassembly_timeout);
        Self {
            config,
            rx,
            close,
            state,
            inbound,
            queue: VecDeque::new(),
            reassembler,
            next_seq: 1,
            throttle_streak: 0,
            closing: false,
        }
    }

    fn next_seq(&mut self) -> u32 {
        self.next_seq = if self.next_seq >= 0x7FFF_FFFF {
            1
        } else {
            self.next_seq + 1
        };
        self.next_seq
    }

    /// Runs until closed: the connection, then reconnections with back-off.
    pub(crate) async fn run(mut self, first: Conn) {
        let mut conn = Some(first);
        let mut attempt: u32 = 0;
        loop {
            if let Some(c) = conn.take() {
                attempt = 0;
                self.next_seq = 1; // the bind used 1
                self.state.send_replace(LinkState::Bound);
                info!(host = %self.config.host, port = self.config.port, "SMPP bound");
                let reason = self.run_connection(c).await;
                if matches!(reason, Disconnect::Closed) {
                    break;
                }
                warn!(%reason, "SMPP connection lost");
                self.state
                    .send_replace(LinkState::Reconnecting(reason.to_string()));
            }
            attempt = attempt.saturating_add(1);
            let delay = self.config.reconnect_backoff.delay(attempt);
            if !self.wait_while_down(Instant::now() + delay).await {
                break;
            }
            let config = self.config.clone();
            let bind = connect_and_bind(&config);
            tokio::pin!(bind);
            let result = loop {
                tokio::select! {
                    result = &mut bind => break Some(result),
                    keep_going = self.idle_step(None) => if !keep_going { break None },
                }
            };
            match result {
                None => break,
                Some(Ok(c)) => conn = Some(c),
                Some(Err(e)) => {
                    warn!(error = %e, attempt, "SMPP reconnect failed");
                    self.state
                        .send_replace(LinkState::Reconnecting(e.to_string()));
                }
            }
        }
        self.shut_down();
    }

    /// Fails everything still queued and marks the client closed.
    fn shut_down(&mut self) {
        for request in self.queue.drain(..) {
            request.give_up(NotSentReason::Closed);
        }
        self.rx.close();
        while let Ok(request) = self.rx.try_recv() {
            request.give_up(NotSentReason::Closed);
        }
        self.state.send_replace(LinkState::Closed);
        info!("SMPP client closed");
    }

    /// While no connection is up: collect new requests, expire queued ones, watch for close.
    /// Returns false when the client must close.
    async fn wait_while_down(&mut self, until: Instant) -> bool {
        loop {
            if Instant::now() >= until {
                return true;
            }
            if !self.idle_step(Some(until)).await {
                return false;
            }
        }
    }

    /// One wait step while down. Returns false when the client must close.
    async fn idle_step(&mut self, until: Option<Instant>) -> bool {
        self.expire_queue();
        if self.closing {
            return false;
        }
        let next_expiry = self.queue.iter().map(|r| r.deadline).min();
        let wake = match (until, next_expiry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        tokio::select! {
            request = self.rx.recv() => match request {
                Some(request) => self.queue.push_back(request),
                None => self.closing = true,
            },
            changed = self.close.changed() => {
                if changed.is_err() || *self.close.borrow() {
                    self.closing = true;
                }
            }
            () = sleep_until_opt(wake) => {}
        }
        !self.closing
    }

    fn expire_queue(&mut self) {
        let now = Instant::now();
        if self
            .queue
            .iter()
            .any(|r| r.deadline <= now || r.reply.is_closed())
        {
            let (expired, kept): (VecDeque<_>, VecDeque<_>) = self
                .queue
                .drain(..)
                .partition(|r| r.deadline <= now || r.reply.is_closed());
            self.queue = kept;
            for request in expired {
                request.give_up(NotSentReason::QueueTimeout);
            }
        }
    }

    /// Drives one bound connection until it ends.
    async fn run_connection(&mut self, mut conn: Conn) -> Disconnect {
        let cfg = self.config.clone();
        let mut pending: HashMap<u32, InFlight> = HashMap::new();
        // (deadline, sequence number) in send order; responses may already have removed them.
        let mut timeouts: VecDeque<(Instant, u32)> = VecDeque::new();
        let mut enquire: Option<(u32, Instant)> = None;
        let mut throttle_until: Option<Instant> = None;
        let mut enquire_tick = tokio::time::interval_at(
            Instant::now() + cfg.enquire_link_interval,
            cfg.enquire_link_interval,
        );
        enquire_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);

        loop {
            // Write every request the window and the throttle allow.
            let now = Instant::now();
            if throttle_until.is_some_and(|t| t <= now) {
                throttle_until = None;
            }
            let mut wrote = false;
            while !self.closing && throttle_until.is_none() && pending.len() < cfg.window {
                let request = match self.queue.pop_front() {
                    Some(r) => r,
                    None => match self.rx.try_recv() {
                        Ok(r) => r,
                        Err(mpsc::error::TryRecvError::Empty) => break,
                        Err(mpsc::error::TryRecvError::Disconnected) => {
                            self.closing = true;
                            break;
                        }
                    },
                };
                if request.reply.is_closed() {
                    continue; // the caller gave up before it was written: never sent
                }
                if request.deadline <= now {
                    request.give_up(NotSentReason::QueueTimeout);
                    continue;
                }
                let seq = self.next_seq();
                let command = Command::new(RusmppStatus::EsmeRok, seq, request.submit.clone());
                // From here on the submit_sm may reach the SMSC: it is in flight.
                pending.insert(seq, InFlight { request });
                timeouts.push_back((now + cfg.response_timeout, seq));
                if let Err(reason) = feed(&mut conn, command, cfg.response_timeout).await {
                    return self.lost(pending, reason);
                }
                wrote = true;
            }
            if wrote && let Err(reason) = flush(&mut conn, cfg.response_timeout).await {
                return self.lost(pending, reason);
            }

            if self.closing && pending.is_empty() {
                unbind(&mut conn, &mut self.next_seq, cfg.response_timeout).await;
                return Disconnect::Closed;
            }

            let can_take = !self.closing
                && throttle_until.is_none()
                && pending.len() < cfg.window
                && self.queue.is_empty();
            let wake = [
                timeouts.front().map(|t| t.0),
                enquire.map(|e| e.1),
                throttle_until,
            ]
            .into_iter()
            .flatten()
            .min();

            tokio::select! {
                frame = conn.next() => {
                    let frame = match frame {
                        None => return self.lost(pending, Disconnect::PeerClosed),
                        Some(Err(e)) => return self.lost(pending, Disconnect::Io(e)),
                        Some(Ok(frame)) => frame,
                    };
                    let outcome = self.on_frame(
                        frame,
                        &mut conn,
                        &mut pending,
                        &mut enquire,
                        &mut throttle_until,
                    ).await;
                    if let Err(reason) = outcome {
                        return self.lost(pending, reason);
                    }
                }
                request = self.rx.recv(), if can_take => match request {
                    Some(request) => self.queue.push_back(request),
                    None => self.closing = true,
                },
                changed = self.close.changed(), if !self.closing => {
                    if changed.is_err() || *self.close.borrow() {
                        self.closing = true;
                    }
                }
                _ = enquire_tick.tick() => {
                    if enquire.is_none() {
                        let seq = self.next_seq();
                        let command = Command::new(RusmppStatus::EsmeRok, seq, Pdu::EnquireLink);
                        if let Err(reason) = feed(&mut conn, command, cfg.response_timeout).await {
                            return self.lost(pending, reason);
                        }
                        if let Err(reason) = flush(&mut conn, cfg.response_timeout).await {
                            return self.lost(pending, reason);
                        }
                        enquire = Some((seq, Instant::now() + cfg.response_timeout));
                    }
                    for message in self.reassembler.expire(std::time::Instant::now()) {
                        self.emit_extra(InboundEvent::Message(message));
                    }
                }
                () = sleep_until_opt(wake) => {
                    let now = Instant::now();
                    while let Some(&(deadline, seq)) = timeouts.front() {
                        if deadline > now {
                            break;
                        }
                        timeouts.pop_front();
                        if let Some(in_flight) = pending.remove(&seq) {
                            warn!(seq, "no submit_sm_resp within the response timeout");
                            in_flight.request.finish(Err(SubmitError::OutcomeUnknown(
                                UnknownReason::ResponseTimeout,
                            )));
                        }
                    }
                    if enquire.is_some_and(|(_, deadline)| deadline <= now) {
                        return self.lost(pending, Disconnect::EnquireLinkTimeout);
                    }
                }
            }
            // Responses remove entries from `pending` but not from `timeouts`; keep it small.
            while timeouts
                .front()
                .is_some_and(|(_, seq)| !pending.contains_key(seq))
            {
                timeouts.pop_front();
            }
        }
    }

    /// The connection is gone: every written submit_sm without a response has an unknown outcome.
    fn lost(&mut self, pending: HashMap<u32, InFlight>, reason: Disconnect) -> Disconnect {
        let mut in_flight: Vec<(u32, InFlight)> = pending.into_iter().collect();
        in_flight.sort_unstable_by_key(|(seq, _)| *seq);
        for (_, in_flight) in in_flight {
            in_flight.request.finish(Err(SubmitError::OutcomeUnknown(
                UnknownReason::ConnectionLost,
            )));
        }
        reason
    }

    async fn on_frame(
        &mut self,
        frame: Frame,
        conn: &mut Conn,
        pending: &mut HashMap<u32, InFlight>,
        enquire: &mut Option<(u32, Instant)>,
        throttle_until: &mut Option<Instant>,
    ) -> Result<(), Disconnect> {
        let seq = frame.sequence_number;
        match frame.command_id {
            SUBMIT_SM_RESP | GENERIC_NACK if pending.contains_key(&seq) => {
                let Some(in_flight) = pending.remove(&seq) else {
                    return Ok(());
                };
                let mut request = in_flight.request;
                let status = CommandStatus(frame.command_status);
                if frame.command_id == SUBMIT_SM_RESP && status == CommandStatus::ESME_ROK {
                    self.throttle_streak = 0;
                    request.finish(Ok(message_id_of(&frame)));
                } else if status == CommandStatus::ESME_RTHROTTLED {
                    request.throttled += 1;
                    // One escalation per pause: the other submits in flight answered during
                    // the same pause do not lengthen it.
                    let now = Instant::now();
                    if throttle_until.is_none_or(|t| t <= now) {
                        self.throttle_streak = self.throttle_streak.saturating_add(1);
                        let pause = self.config.throttle_backoff.delay(self.throttle_streak);
                        *throttle_until = Some(now + pause);
                    }
                    if request.throttled > self.config.max_throttle_retries {
                        request.finish(Err(SubmitError::Rejected(status)));
                    } else {
                        debug!(seq, attempt = request.throttled, "throttled; will resend");
                        self.queue.push_front(request);
                    }
                } else {
                    let status = if status == CommandStatus::ESME_ROK {
                        CommandStatus(0xFF) // generic_nack without a status
                    } else {
                        status
                    };
                    request.finish(Err(SubmitError::Rejected(status)));
                }
            }
            SUBMIT_SM_RESP => debug!(seq, "submit_sm_resp for no waiting submit (late?)"),
            ENQUIRE_LINK_RESP | GENERIC_NACK => {
                if enquire.is_some_and(|(s, _)| s == seq) {
                    *enquire = None;
                } else if frame.command_id == GENERIC_NACK {
                    warn!(
                        seq,
                        status = frame.command_status,
                        "generic_nack from the SMSC"
                    );
                }
            }
            ENQUIRE_LINK => {
                let resp = Command::new(RusmppStatus::EsmeRok, seq, Pdu::EnquireLinkResp);
                respond(conn, resp, self.config.response_timeout).await?;
            }
            UNBIND => {
                let resp = Command::new(RusmppStatus::EsmeRok, seq, Pdu::UnbindResp);
                let _ = respond(conn, resp, self.config.response_timeout).await;
                return Err(Disconnect::UnboundByPeer);
            }
            DELIVER_SM => {
                let status = self.on_deliver_sm(&frame);
                let resp = Command::new(
                    RusmppStatus::from(status.raw()),
                    seq,
                    DeliverSmResp::builder()
                        .message_id(COctetString::empty())
                        .build(),
                );
                respond(conn, resp, self.config.response_timeout).await?;
            }
            UNBIND_RESP | ALERT_NOTIFICATION | OUTBIND => {}
            id if id & RESPONSE_BIT == 0 => {
                debug!(command_id = id, "unsupported request from the SMSC");
                let nack = Command::new(
                    RusmppStatus::from(CommandStatus::ESME_RINVCMDID.raw()),
                    seq,
                    Pdu::GenericNack,
                );
                respond(conn, nack, self.config.response_timeout).await?;
            }
            id => debug!(command_id = id, seq, "ignoring response"),
        }
        Ok(())
    }

    /// Handles one deliver_sm; returns the command_status of its deliver_sm_resp.
    fn on_deliver_sm(&mut self, frame: &Frame) -> CommandStatus {
        // Reserve room before consuming anything, so a full channel leaves the SMSC to retry.
        let permit = match self.inbound.clone().try_reserve_owned() {
            Ok(permit) => permit,
            Err(mpsc::error::TrySendError::Full(_)) => {
                warn!("inbound channel full: deliver_sm answered ESME_RMSGQFUL");
                return CommandStatus::ESME_RMSGQFUL;
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                warn!("nobody reads inbound events: deliver_sm answered ESME_RX_T_APPN");
                return CommandStatus::ESME_RX_T_APPN;
            }
        };
        let deliver = match frame.decode() {
            Ok(command) => match command.pdu() {
                Some(Pdu::DeliverSm(deliver)) => Ok(deliver.clone()),
                _ => Err("deliver_sm without a body".to_owned()),
            },
            Err(e) => Err(e),
        };
        let deliver = match deliver {
            Ok(deliver) => deliver,
            Err(error) => {
                warn!(%error, seq = frame.sequence_number, "undecodable deliver_sm");
                permit.send(InboundEvent::Undecodable(UndecodablePdu {
                    command_id: frame.command_id,
                    sequence_number: frame.sequence_number,
                    raw: frame.bytes.to_vec(),
                    error,
                }));
                return CommandStatus::ESME_RX_P_APPN;
            }
        };
        let mut events = self.inbound_events(&deliver).into_iter();
        if let Some(first) = events.next() {
            permit.send(first);
        }
        for extra in events {
            self.emit_extra(extra);
        }
        CommandStatus::ESME_ROK
    }

    /// Sends an event beyond the reserved one (an expired or evicted reassembly).
    fn emit_extra(&self, event: InboundEvent) {
        if let Err(e) = self.inbound.try_send(event) {
            warn!(error = %e, "inbound channel full or closed: incomplete message dropped");
        }
    }

    fn inbound_events(&mut self, deliver: &DeliverSm) -> Vec<InboundEvent> {
        deliver_events(&mut self.reassembler, deliver, std::time::Instant::now())
    }
}

/// What one decoded deliver_sm becomes: a delivery receipt, or a mobile-originated message once
/// `reassembler` holds all its parts (plus any partial message that expired by `now`). A free
/// function so the fuzz targets (`crate::fuzzing`) drive the same code as the session.
pub(crate) fn deliver_events(
    reassembler: &mut Reassembler,
    deliver: &DeliverSm,
    now: std::time::Instant,
) -> Vec<InboundEvent> {
    let source = Address::new(
        u8::from(deliver.source_addr_ton),
        u8::from(deliver.source_addr_npi),
        trim_nul(deliver.source_addr.as_ref()),
    );
    let destination = Address::new(
        u8::from(deliver.dest_addr_ton),
        u8::from(deliver.dest_addr_npi),
        trim_nul(deliver.destination_addr.as_ref()),
    );
    let esm_class = u8::from(deliver.esm_class);
    let data_coding = DataCoding::from_raw(u8::from(deliver.data_coding));

    let mut payload: Option<Vec<u8>> = None;
    let mut receipted_id = None;
    let mut message_state = None;
    let mut network_error = None;
    let (mut sar_ref, mut sar_total, mut sar_seq) = (None, None, None);
    for tlv in deliver.tlvs() {
        match tlv.value() {
            Some(TlvValue::MessagePayload(p)) => payload = Some(p.value.as_ref().to_vec()),
            Some(TlvValue::ReceiptedMessageId(id)) => {
                receipted_id = Some(trim_nul(id.as_ref()));
            }
            Some(TlvValue::MessageState(state)) => message_state = Some(u8::from(*state)),
            Some(TlvValue::NetworkErrorCode(code)) => {
                network_error = Some((u8::from(code.network_type), code.error_code));
            }
            Some(TlvValue::SarMsgRefNum(r)) => sar_ref = Some(*r),
            Some(TlvValue::SarTotalSegments(t)) => sar_total = Some(*t),
            Some(TlvValue::SarSegmentSeqnum(s)) => sar_seq = Some(*s),
            _ => {}
        }
    }
    let short_message = deliver.short_message().as_ref();
    let raw = match payload {
        Some(p) if short_message.is_empty() => p,
        _ => short_message.to_vec(),
    };

    let message_type = esm_class & 0x3C;
    if message_type == 0x04 || message_type == 0x20 {
        let text = parse_receipt_text(&raw);
        let state = message_state
            .map(MessageState::from_code)
            .or_else(|| text.stat.as_deref().map(MessageState::from_stat));
        let message_id = receipted_id.clone().or_else(|| text.id.clone());
        return vec![InboundEvent::Receipt(Box::new(DeliveryReceipt {
            message_id,
            state,
            network_error_code: network_error,
            tlv_receipted_message_id: receipted_id,
            tlv_message_state: message_state,
            text,
            source,
            destination,
            esm_class,
            raw,
        }))];
    }

    let udhi = esm_class & 0x40 != 0;
    let (mut concat, user_data) = split_udh(&raw, udhi);
    if concat.is_none()
        && let (Some(reference), Some(total), Some(seq)) = (sar_ref, sar_total, sar_seq)
    {
        concat = Some(crate::concat::ConcatInfo {
            reference,
            total,
            seq,
        });
    }
    let part = Part {
        source,
        destination,
        data_coding,
        esm_class,
        concat,
        user_data: user_data.to_vec(),
    };
    let mut messages = reassembler.push(part, now);
    messages.extend(reassembler.expire(now));
    messages.into_iter().map(InboundEvent::Message).collect()
}

fn trim_nul(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(bytes.get(..end).unwrap_or_default()).into_owned()
}

/// The message_id of a successful submit_sm_resp; lenient when rusmpp cannot decode it.
pub(crate) fn message_id_of(frame: &Frame) -> MessageId {
    if let Ok(command) = frame.decode()
        && let Some(Pdu::SubmitSmResp(resp)) = command.pdu()
    {
        return trim_nul(resp.message_id().as_ref());
    }
    warn!(
        seq = frame.sequence_number,
        "submit_sm_resp body not decodable; reading it leniently"
    );
    trim_nul(frame.body())
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn flush(conn: &mut Conn, limit: Duration) -> Result<(), Disconnect> {
    match tokio::time::timeout(limit, SinkExt::<Command>::flush(conn)).await {
        Err(_) => Err(Disconnect::WriteTimeout),
        Ok(Err(e)) => Err(Disconnect::Io(e)),
        Ok(Ok(())) => Ok(()),
    }
}

/// Buffers one PDU (writing earlier ones if the buffer is full), within `limit`.
async fn feed(conn: &mut Conn, command: Command, limit: Duration) -> Result<(), Disconnect> {
    match tokio::time::timeout(limit, conn.feed(command)).await {
        Err(_) => Err(Disconnect::WriteTimeout),
        Ok(Err(e)) => Err(Disconnect::Io(e)),
        Ok(Ok(())) => Ok(()),
    }
}

/// Writes a response now: a response is small, and flushing each keeps the SMSC's window moving.
async fn respond(conn: &mut Conn, command: Command, limit: Duration) -> Result<(), Disconnect> {
    feed(conn, command, limit).await?;
    flush(conn, limit).await
}

/// Best-effort unbind: send it and wait a little for unbind_resp.
async fn unbind(conn: &mut Conn, next_seq: &mut u32, limit: Duration) {
    *next_seq = if *next_seq >= 0x7FFF_FFFF {
        1
    } else {
        *next_seq + 1
    };
    let seq = *next_seq;
    let result = tokio::time::timeout(limit, async {
        conn.send(Command::new(RusmppStatus::EsmeRok, seq, Pdu::Unbind))
            .await?;
        while let Some(frame) = conn.next().await {
            let frame = frame?;
            if frame.command_id == UNBIND_RESP {
                break;
            }
        }
        Ok::<(), io::Error>(())
    })
    .await;
    if !matches!(result, Ok(Ok(()))) {
        debug!("no clean unbind_resp");
    }
}
