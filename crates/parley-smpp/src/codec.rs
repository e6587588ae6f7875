//! Framing: our own length-prefixed frame splitter, with rusmpp decoding each frame.
//!
//! rusmpp's `CommandCodec` ends the stream on the first PDU it cannot decode. Splitting frames
//! ourselves keeps the header (command_id, sequence_number) of an undecodable PDU, so the
//! session can answer it and carry on instead of dropping the bind.

use std::io;

use rusmpp::Command;
use rusmpp::decode::DecodeWithLength;
use rusmpp::encode::{Length, owned::Encode};
use tokio_util::bytes::{Buf, BufMut, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// Largest PDU accepted (message_payload may carry up to 64 KiB).
const MAX_COMMAND_LENGTH: usize = 70_000;
const HEADER_LENGTH: usize = 16;

/// One PDU as read from the wire: its header, and its bytes after the length prefix.
#[derive(Debug, Clone)]
pub struct Frame {
    pub command_id: u32,
    pub command_status: u32,
    pub sequence_number: u32,
    /// command_id, command_status, sequence_number and body (everything but command_length).
    pub bytes: BytesMut,
}

impl Frame {
    /// Decodes the frame with rusmpp.
    pub fn decode(&self) -> Result<Command, String> {
        let mut buf = self.bytes.clone();
        let length = buf.len();
        Command::decode(&mut buf, length)
            .map(|(command, _)| command)
            .map_err(|e| e.to_string())
    }

    /// The body after the 12 header octets.
    pub fn body(&self) -> &[u8] {
        self.bytes.get(12..).unwrap_or_default()
    }
}

fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let chunk: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_be_bytes(chunk))
}

/// The SMPP codec used on every connection.
#[derive(Debug, Default)]
pub struct SmppCodec;

impl Decoder for SmppCodec {
    type Item = Frame;
    type Error = io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, io::Error> {
        let Some(command_length) = be_u32(src, 0) else {
            return Ok(None);
        };
        let command_length = usize::try_from(command_length).unwrap_or(usize::MAX);
        if !(HEADER_LENGTH..=MAX_COMMAND_LENGTH).contains(&command_length) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("invalid SMPP command_length {command_length}"),
            ));
        }
        if src.len() < command_length {
            src.reserve(command_length - src.len());
            return Ok(None);
        }
        let mut bytes = src.split_to(command_length);
        bytes.advance(4);
        let (Some(command_id), Some(command_status), Some(sequence_number)) =
            (be_u32(&bytes, 0), be_u32(&bytes, 4), be_u32(&bytes, 8))
        else {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "short header"));
        };
        Ok(Some(Frame {
            command_id,
            command_status,
            sequence_number,
            bytes,
        }))
    }
}

impl Encoder<Command> for SmppCodec {
    type Error = io::Error;

    fn encode(&mut self, command: Command, dst: &mut BytesMut) -> Result<(), io::Error> {
        let command_length = 4 + command.length();
        let length = u32::try_from(command_length)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "PDU too long"))?;
        dst.reserve(command_length);
        dst.put_u32(length);
        command.encode(dst);
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use rusmpp::{CommandStatus, Pdu};

    #[test]
    fn round_trips_and_waits_for_whole_frames() {
        let mut codec = SmppCodec;
        let mut buf = BytesMut::new();
        codec
            .encode(
                Command::new(CommandStatus::EsmeRok, 7, Pdu::EnquireLink),
                &mut buf,
            )
            .unwrap();
        assert_eq!(
            &buf[..],
            &[0, 0, 0, 16, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 7]
        );
        let mut partial = BytesMut::from(&buf[..10]);
        assert!(codec.decode(&mut partial).unwrap().is_none());
        let frame = codec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(frame.command_id, 0x15);
        assert_eq!(frame.sequence_number, 7);
        assert_eq!(frame.decode().unwrap().pdu(), Some(&Pdu::EnquireLink));
        assert!(buf.is_empty());
    }

    #[test]
    fn rejects_absurd_lengths() {
        let mut codec = SmppCodec;
        let mut buf = BytesMut::from(&[0u8, 0, 0, 3, 1, 2, 3, 4][..]);
        assert!(codec.decode(&mut buf).is_err());
        let mut buf = BytesMut::from(&[0xFFu8, 0, 0, 0][..]);
        assert!(codec.decode(&mut buf).is_err());
    }

    #[test]
    fn undecodable_body_keeps_the_header() {
        // deliver_sm (0x05) whose body is garbage (no NUL-terminated strings).
        let mut raw = vec![0u8, 0, 0, 20, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 9];
        raw.extend_from_slice(&[0xFF; 4]);
        let mut buf = BytesMut::from(&raw[..]);
        let frame = SmppCodec.decode(&mut buf).unwrap().unwrap();
        assert_eq!(frame.command_id, 5);
        assert_eq!(frame.sequence_number, 9);
        assert!(frame.decode().is_err());
    }
}
