//! SMPP as the client reads it from an SMSC: the input is a byte stream split into frames by the
//! session's codec, each decoded by rusmpp; deliver_sm frames go through the session's receipt
//! parsing and the reassembly of concatenated parts (with a clock the sequence numbers move),
//! and their payloads through the GSM 7-bit and UCS-2 decoders, as the engine decodes them.
//!
//! The same input, read as text, also goes the other way: split into SMS segments as Parley
//! sends them, each built into the session's submit_sm, encoded, decoded, and delivered back as
//! a deliver_sm (the two PDUs share their body layout in SMPP 3.4), where reassembly must give
//! back the original text.
//!
//! Invariants: nothing panics; every deliver_sm and submit_sm_resp rusmpp decodes re-encodes to
//! bytes that decode to the same command; every segment Parley splits can be submitted; split, submit, deliver and
//! reassemble is the identity on text.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use parley_core::sms::{Encoding, decode_gsm7_unpacked, decode_ucs2, split};
use parley_smpp::fuzzing::{
    DELIVER_SM, Inbound, SUBMIT_SM_RESP, encode, frames, submit_command, submit_message_id,
};
use parley_smpp::{Address, DataCoding, InboundEvent, Segment};

const TIMEOUT: Duration = Duration::from_secs(60);

fn decode_payload(coding: DataCoding, payload: &[u8]) -> Option<String> {
    match coding {
        DataCoding::Gsm7 => decode_gsm7_unpacked(payload).ok(),
        DataCoding::Ucs2 => decode_ucs2(payload).ok(),
        DataCoding::Other(_) => None,
    }
}

fn inbound_stream(data: &[u8]) {
    let (read, _framing_error) = frames(data);
    let start = Instant::now();
    let mut inbound = Inbound::new(TIMEOUT);
    for frame in &read {
        // The round trip is checked for the PDUs the session acts on. For others it is a
        // property of rusmpp alone, which Parley never re-encodes: rusmpp reads an
        // alert_notification whose optional TLV has another PDU's tag (DestNetworkId) and writes
        // it back in a form its own decoder refuses (found by the long run of 2026-12-04).
        let acted_on = matches!(frame.command_id, DELIVER_SM | SUBMIT_SM_RESP);
        if let Some(command) = frame.decode().ok().filter(|_| acted_on) {
            // rusmpp reads a body-less PDU with an error status as `pdu: None`, but as
            // `Some(pdu)` when bytes (which it ignores) follow, so two commands can write the
            // same bytes. The round trip is therefore checked on the bytes: what is written
            // decodes to a command with the same header that writes the same bytes again.
            let bytes = encode(command.clone()).expect("a decoded command encodes");
            let (again, error) = frames(&bytes);
            assert!(
                error.is_none(),
                "re-encoded {command:?} does not frame: {error:?}"
            );
            let [frame_again] = again.as_slice() else {
                panic!("re-encoded {command:?} is {} frames", again.len());
            };
            let decoded = frame_again
                .decode()
                .unwrap_or_else(|e| panic!("re-encoded {command:?} does not decode: {e}"));
            assert_eq!(
                (decoded.id(), decoded.status(), decoded.sequence_number()),
                (command.id(), command.status(), command.sequence_number())
            );
            assert_eq!(
                encode(decoded).ok(),
                Some(bytes),
                "round trip of {:?}",
                frame.bytes
            );
        }
        let now = start + Duration::from_secs(u64::from(frame.sequence_number % 256));
        match frame.command_id {
            DELIVER_SM => {
                if let Ok(events) = inbound.deliver(frame, now) {
                    for event in events {
                        if let InboundEvent::Message(m) = event {
                            assert!(m.parts_received <= m.parts_total.max(1));
                            let _ = decode_payload(m.data_coding, &m.payload);
                        }
                    }
                }
            }
            SUBMIT_SM_RESP => {
                let _ = submit_message_id(frame);
            }
            _ => {}
        }
    }
    for event in inbound.expire(start + Duration::from_secs(3600)) {
        if let InboundEvent::Message(m) = event {
            assert!(!m.complete || m.parts_received >= m.parts_total);
            let _ = decode_payload(m.data_coding, &m.payload);
        }
    }
}

fn outbound_round_trip(text: &str, reference: u8) {
    let parts = split(text);
    let Ok(user_data) = parts.user_data(reference) else {
        return; // more than 255 parts: refused before any PDU is built
    };
    let coding = match parts.encoding {
        Encoding::Gsm7 => DataCoding::Gsm7,
        Encoding::Ucs2 => DataCoding::Ucs2,
    };
    let udhi = user_data.len() > 1;
    let customer = Address::international("+447400123456");
    let us = Address::short_code("12345");
    let start = Instant::now();
    let mut inbound = Inbound::new(TIMEOUT);
    let mut delivered = Vec::new();
    for (seq, short_message) in (1u32..).zip(user_data) {
        let segment = Segment {
            short_message,
            data_coding: coding,
            udhi,
        };
        let command = submit_command(&us, &customer, true, &segment, seq)
            .unwrap_or_else(|e| panic!("a segment Parley split cannot be submitted: {e}"));
        let mut bytes = encode(command.clone()).expect("a submit_sm encodes");
        let (sent, error) = frames(&bytes);
        assert!(error.is_none());
        let [frame] = sent.as_slice() else {
            panic!("a submit_sm is {} frames", sent.len());
        };
        assert_eq!(frame.decode().as_ref(), Ok(&command));

        // Delivered back: the same body as a deliver_sm.
        if let Some(id) = bytes.get_mut(4..8) {
            id.copy_from_slice(&DELIVER_SM.to_be_bytes());
        }
        let (received, _) = frames(&bytes);
        let frame = received.first().expect("the deliver_sm frames");
        let events = inbound
            .deliver(frame, start)
            .unwrap_or_else(|e| panic!("our own segment does not decode as a deliver_sm: {e}"));
        delivered.extend(events);
    }
    assert!(
        inbound.expire(start + TIMEOUT * 2).is_empty(),
        "a part was left over"
    );
    let [InboundEvent::Message(message)] = delivered.as_slice() else {
        panic!(
            "{} segments delivered as {delivered:?}",
            parts.segments.len()
        );
    };
    assert!(message.complete);
    assert_eq!(message.data_coding, coding);
    let back = decode_payload(coding, &message.payload).expect("our own payload decodes");
    assert_eq!(back, text);
}

fuzz_target!(|data: &[u8]| {
    inbound_stream(data);
    let reference = data.first().copied().unwrap_or_default();
    outbound_round_trip(&String::from_utf8_lossy(data), reference);
});
