//! The SMS encoder: choosing GSM 7-bit or UCS-2, counting and cutting segments, the SMPP user
//! data with its concatenation header, septet packing; and the decoders of inbound payloads.
//!
//! Input: read as text (UTF-8, lossy) for the encoder, and as raw payload bytes for the decoders.
//!
//! Invariants: nothing panics; the segments joined give the text back, their count is what the
//! composer shows, and each fits its segment (on the air too: at most 140 octets with its
//! header); every payload decodes to its segment's text; GSM and UCS-2 encodings, and septet
//! packing, round-trip; a UCS-2 payload that decodes re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parley_core::model::ChannelKind;
use parley_core::sms::{
    Encoding, analyze, check_length, concat_udh, decode_gsm7_unpacked, decode_ucs2,
    encode_gsm7_unpacked, encode_ucs2, encoding_for, gsm7_septets, is_gsm7, pack_septets,
    pack_septets_after_udh, split, unpack_septets,
};

fn decode(encoding: Encoding, payload: &[u8]) -> String {
    match encoding {
        Encoding::Gsm7 => decode_gsm7_unpacked(payload).expect("our GSM payload decodes"),
        Encoding::Ucs2 => decode_ucs2(payload).expect("our UCS-2 payload decodes"),
    }
}

fn encoder(text: &str) {
    let analysis = analyze(text);
    let parts = split(text);
    assert_eq!(parts.encoding, analysis.encoding);
    assert_eq!(parts.encoding, encoding_for(text));
    assert_eq!(
        parts.segments.len(),
        analysis.segments,
        "count differs from the split"
    );
    assert_eq!(analysis.characters, text.chars().count());
    let joined: String = parts.segments.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(joined, text, "segments do not join to the text");
    let units: usize = parts.segments.iter().map(|s| s.units).sum();
    assert_eq!(units, analysis.units);

    let encoding = parts.encoding;
    let capacity = if parts.segments.len() == 1 {
        encoding.single_segment_units()
    } else {
        encoding.concatenated_segment_units()
    };
    let mut payloads = Vec::new();
    for (i, segment) in parts.segments.iter().enumerate() {
        assert!(
            segment.units <= capacity,
            "segment {i} has {} units",
            segment.units
        );
        let bytes_per_unit = match encoding {
            Encoding::Gsm7 => 1,
            Encoding::Ucs2 => 2,
        };
        assert_eq!(segment.payload.len(), segment.units * bytes_per_unit);
        assert_eq!(decode(encoding, &segment.payload), segment.text);
        if encoding == Encoding::Gsm7 {
            let seq = u8::try_from(i + 1).unwrap_or(u8::MAX);
            let air = if parts.segments.len() == 1 {
                pack_septets(&segment.payload)
            } else {
                pack_septets_after_udh(&concat_udh(7, 2, seq), &segment.payload)
            };
            assert!(
                air.len() <= 140,
                "segment {i} is {} octets on the air",
                air.len()
            );
        }
        payloads.extend_from_slice(&segment.payload);
    }
    assert_eq!(decode(encoding, &payloads), text);

    if let Ok(user_data) = parts.user_data(0x2A) {
        assert_eq!(user_data.len(), parts.segments.len());
        for (data, segment) in user_data.iter().zip(&parts.segments) {
            let header = if parts.segments.len() > 1 { 6 } else { 0 };
            assert_eq!(data.len(), header + segment.payload.len());
            if encoding == Encoding::Ucs2 {
                assert!(data.len() <= 140);
            }
        }
    }

    match encode_gsm7_unpacked(text) {
        Ok(septets) => {
            assert!(is_gsm7(text));
            assert_eq!(gsm7_septets(text), Some(septets.len()));
            assert_eq!(decode_gsm7_unpacked(&septets).as_deref(), Ok(text));
            let packed = pack_septets(&septets);
            assert_eq!(
                unpack_septets(&packed, septets.len()).as_deref(),
                Ok(septets.as_slice())
            );
        }
        Err(e) => {
            assert!(!is_gsm7(text));
            assert_eq!(
                text.get(e.offset..).and_then(|t| t.chars().next()),
                Some(e.character)
            );
        }
    }
    assert_eq!(decode_ucs2(&encode_ucs2(text)).as_deref(), Ok(text));
    for kind in [
        ChannelKind::Sms,
        ChannelKind::Whatsapp,
        ChannelKind::Messenger,
        ChannelKind::Web,
    ] {
        let _ = check_length(kind, text);
    }
}

fn decoders(payload: &[u8]) {
    let _ = decode_gsm7_unpacked(payload);
    if let Ok(text) = decode_ucs2(payload) {
        assert_eq!(encode_ucs2(&text), payload);
    }
    let count = usize::from(payload.first().copied().unwrap_or_default());
    if let Ok(septets) = unpack_septets(payload, count) {
        assert_eq!(septets.len(), count);
        assert!(septets.iter().all(|s| *s < 0x80));
    }
}

fuzz_target!(|data: &[u8]| {
    encoder(&String::from_utf8_lossy(data));
    decoders(data);
});
