//! UCS-2 as SMS uses it today: UTF-16 big-endian (`data_coding` 8). Characters outside the Basic
//! Multilingual Plane travel as surrogate pairs, which handsets reassemble.

use super::DecodeError;

/// `text` as UTF-16BE bytes.
pub fn encode_ucs2(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len().saturating_mul(2));
    for unit in text.encode_utf16() {
        out.extend_from_slice(&unit.to_be_bytes());
    }
    out
}

/// Decodes UTF-16BE bytes, as received in an SMPP `deliver_sm` with `data_coding` 8. An odd byte
/// count and an unpaired surrogate are errors: decode a concatenated message once its segments are
/// joined, since another sender may have split a surrogate pair.
pub fn decode_ucs2(bytes: &[u8]) -> Result<String, DecodeError> {
    if !bytes.len().is_multiple_of(2) {
        return Err(DecodeError::OddLength { len: bytes.len() });
    }
    let units = bytes.chunks_exact(2).map(|pair| match pair {
        [high, low] => u16::from_be_bytes([*high, *low]),
        // chunks_exact(2) yields only pairs.
        _ => 0,
    });
    let mut out = String::with_capacity(bytes.len() / 2);
    let mut offset = 0usize;
    for decoded in char::decode_utf16(units) {
        match decoded {
            Ok(c) => {
                out.push(c);
                offset = offset.saturating_add(c.len_utf16().saturating_mul(2));
            }
            Err(e) => {
                return Err(DecodeError::UnpairedSurrogate {
                    offset,
                    unit: e.unpaired_surrogate(),
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn big_endian_with_surrogate_pairs() {
        assert_eq!(encode_ucs2("Aé"), vec![0x00, 0x41, 0x00, 0xE9]);
        assert_eq!(encode_ucs2("\u{1F600}"), vec![0xD8, 0x3D, 0xDE, 0x00]);
        assert_eq!(decode_ucs2(&[0xD8, 0x3D, 0xDE, 0x00]).unwrap(), "\u{1F600}");
        assert_eq!(decode_ucs2(&[]).unwrap(), "");
    }

    #[test]
    fn decode_errors() {
        assert_eq!(
            decode_ucs2(&[0x00, 0x41, 0x00]),
            Err(DecodeError::OddLength { len: 3 })
        );
        // A high surrogate with nothing after it.
        assert_eq!(
            decode_ucs2(&[0x00, 0x41, 0xD8, 0x3D]),
            Err(DecodeError::UnpairedSurrogate {
                offset: 2,
                unit: 0xD83D
            })
        );
        // A low surrogate first.
        assert_eq!(
            decode_ucs2(&[0xDE, 0x00, 0x00, 0x41]),
            Err(DecodeError::UnpairedSurrogate {
                offset: 0,
                unit: 0xDE00
            })
        );
    }

    proptest! {
        #[test]
        fn round_trip(text in any::<String>()) {
            prop_assert_eq!(decode_ucs2(&encode_ucs2(&text)).unwrap(), text);
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode_ucs2(&bytes);
        }
    }
}
