//! The session's wire handling without its socket, for the fuzz targets in `fuzz/` (and tests).
//! Not an interface for callers: it follows the session's internals and may change with them.
//!
//! Inbound, step by step as the session does it: [`frames`] splits the bytes read from the SMSC
//! with the session's codec, [`Frame::decode`] is rusmpp's decoding of one frame,
//! [`Inbound::deliver`] turns a deliver_sm into events with the session's reassembly, and
//! [`submit_message_id`] reads a submit_sm_resp. Outbound, [`submit_command`] builds a
//! segment's submit_sm and [`encode`] writes a command as the session puts it on the wire.

use std::io;
use std::time::{Duration, Instant};

pub use rusmpp::Command;
use rusmpp::{CommandStatus as RusmppStatus, Pdu};
use tokio_util::bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

pub use crate::codec::Frame;
use crate::codec::SmppCodec;
use crate::concat::Reassembler;
use crate::error::SubmitError;
use crate::session::{deliver_events, message_id_of, submit_pdu};
use crate::types::{Address, InboundEvent, MessageId, Segment};

/// command_id of deliver_sm.
pub const DELIVER_SM: u32 = 0x0000_0005;
/// command_id of submit_sm_resp.
pub const SUBMIT_SM_RESP: u32 = 0x8000_0004;

/// The frames in `stream` as the session's codec splits its socket's bytes: every whole frame,
/// then the framing error that would end the connection, if one comes. The bytes of an
/// incomplete last frame stay unread, as the codec waits for more.
pub fn frames(stream: &[u8]) -> (Vec<Frame>, Option<io::Error>) {
    let mut buf = BytesMut::from(stream);
    let mut out = Vec::new();
    loop {
        match SmppCodec.decode(&mut buf) {
            Ok(Some(frame)) => out.push(frame),
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}

/// `command` as the session writes it: the length prefix, then the PDU.
pub fn encode(command: Command) -> io::Result<Vec<u8>> {
    let mut buf = BytesMut::new();
    SmppCodec.encode(command, &mut buf)?;
    Ok(buf.to_vec())
}

/// The submit_sm of one segment with sequence number `seq`, as the session sends it, or why it
/// cannot be sent.
pub fn submit_command(
    source: &Address,
    destination: &Address,
    registered_delivery: bool,
    segment: &Segment,
    seq: u32,
) -> Result<Command, SubmitError> {
    submit_pdu(source, destination, registered_delivery, segment)
        .map(|submit| Command::new(RusmppStatus::EsmeRok, seq, submit))
}

/// The message id the session reads from a successful submit_sm_resp frame.
pub fn submit_message_id(frame: &Frame) -> MessageId {
    message_id_of(frame)
}

/// A session's inbound state: the parts of concatenated messages waiting for the rest.
#[derive(Debug)]
pub struct Inbound {
    reassembler: Reassembler,
}

impl Inbound {
    /// Holds partial messages for `timeout`, like [`crate::SmppConfig::reassembly_timeout`].
    pub fn new(timeout: Duration) -> Self {
        Self {
            reassembler: Reassembler::new(timeout),
        }
    }

    /// What the session makes of a deliver_sm frame received at `now`: the events it emits, or
    /// the decoding error it reports as an undecodable PDU.
    pub fn deliver(&mut self, frame: &Frame, now: Instant) -> Result<Vec<InboundEvent>, String> {
        let command = frame.decode()?;
        match command.pdu() {
            Some(Pdu::DeliverSm(deliver)) => {
                Ok(deliver_events(&mut self.reassembler, deliver, now))
            }
            _ => Err("deliver_sm without a body".to_owned()),
        }
    }

    /// The partial messages older than the timeout at `now`, surfaced incomplete.
    pub fn expire(&mut self, now: Instant) -> Vec<InboundEvent> {
        self.reassembler
            .expire(now)
            .into_iter()
            .map(InboundEvent::Message)
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::types::DataCoding;

    /// A deliver_sm's bytes: header, then the body of SMPP 3.4 section 4.6.1.
    fn deliver_sm(seq: u32, esm_class: u8, short_message: &[u8]) -> Vec<u8> {
        let mut body = vec![0u8]; // service_type ""
        body.extend_from_slice(&[1, 1]);
        body.extend_from_slice(b"447400123456\0");
        body.extend_from_slice(&[0, 0]);
        body.extend_from_slice(b"12345\0");
        body.extend_from_slice(&[esm_class, 0, 0, 0, 0, 0, 0, 0, 0]);
        body.push(u8::try_from(short_message.len()).unwrap());
        body.extend_from_slice(short_message);
        let mut pdu = Vec::new();
        pdu.extend_from_slice(&u32::try_from(16 + body.len()).unwrap().to_be_bytes());
        pdu.extend_from_slice(&DELIVER_SM.to_be_bytes());
        pdu.extend_from_slice(&0u32.to_be_bytes());
        pdu.extend_from_slice(&seq.to_be_bytes());
        pdu.extend_from_slice(&body);
        pdu
    }

    #[test]
    fn a_stream_of_two_parts_gives_one_message_and_round_trips() {
        let mut stream = deliver_sm(1, 0x40, &[5, 0, 3, 7, 2, 2, b'l', b'd']);
        stream.extend(deliver_sm(2, 0x40, &[5, 0, 3, 7, 2, 1, b'w', b'o', b'r']));
        stream.extend_from_slice(&[0, 0, 0]); // an incomplete next frame waits
        let (frames, error) = frames(&stream);
        assert!(error.is_none());
        assert_eq!(frames.len(), 2);
        let now = Instant::now();
        let mut inbound = Inbound::new(Duration::from_secs(60));
        assert!(inbound.deliver(&frames[0], now).unwrap().is_empty());
        let events = inbound.deliver(&frames[1], now).unwrap();
        let [InboundEvent::Message(mo)] = events.as_slice() else {
            panic!("{events:?}");
        };
        assert_eq!(mo.payload, b"world");
        assert_eq!(mo.data_coding, DataCoding::Gsm7);
        assert!(mo.complete);
        // What rusmpp decodes, the session's encoder writes back byte for byte.
        let command = frames[1].decode().unwrap();
        assert_eq!(
            encode(command).unwrap(),
            deliver_sm(2, 0x40, &[5, 0, 3, 7, 2, 1, b'w', b'o', b'r'])
        );
    }

    #[test]
    fn a_framing_error_ends_the_stream() {
        let (frames, error) = frames(&[0, 0, 0, 3, 0, 0, 0, 0]);
        assert!(frames.is_empty());
        assert!(error.is_some());
    }
}
