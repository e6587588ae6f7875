//! The GSM 7-bit default alphabet of 3GPP TS 23.038 (formerly GSM 03.38) section 6.2.1, its
//! extension table (6.2.1.1), and the septet packing of TS 23.038 section 6.1.2.1.
//!
//! "Unpacked" septets are one septet per byte, the form SMPP's `short_message` carries for
//! `data_coding` 0 on most SMSCs; "packed" septets are the air-interface form, eight septets in seven
//! bytes, least significant bit first.

use super::DecodeError;

/// The septet that announces a character of the extension table. It never stands alone.
pub const ESCAPE: u8 = 0x1B;

/// The basic table, indexed by septet. Slot 0x1B is the escape and holds a space, which is what
/// TS 23.038 tells a receiver that does not understand the escape to display.
const BASIC: [char; 128] = [
    // 0x00
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å',
    // 0x10
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', ' ', 'Æ', 'æ', 'ß', 'É',
    // 0x20
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/',
    // 0x30
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?',
    // 0x40
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O',
    // 0x50
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§',
    // 0x60
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',
    // 0x70
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à',
];

/// The extension table: the septet that follows [`ESCAPE`], and the character it stands for.
const EXTENSION: [(u8, char); 10] = [
    (0x0A, '\u{0C}'), // form feed
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x65, '€'),
];

/// How one character is written in the GSM 7-bit default alphabet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Gsm7Char {
    /// A basic-table character: one septet.
    Basic(u8),
    /// An extension-table character: [`ESCAPE`] then this septet, two septets that always travel
    /// in the same segment.
    Extended(u8),
}

impl Gsm7Char {
    /// How many septets the character takes: 1 for the basic table, 2 for the extension table.
    pub const fn septets(self) -> usize {
        match self {
            Self::Basic(_) => 1,
            Self::Extended(_) => 2,
        }
    }
}

/// The GSM 7-bit form of `c`, or `None` when the character is not in the default alphabet or its
/// extension table (then the whole message must go as UCS-2).
///
/// Only the exact code points of TS 23.038 count: `Ç` (U+00C7) is septet 0x09 but `ç` (U+00E7) is
/// not GSM, `é` is GSM but `ê` is not, and look-alikes such as the ohm sign (U+2126) for `Ω` or a
/// decomposed `e` + U+0301 are not rewritten.
pub const fn gsm7_char(c: char) -> Option<Gsm7Char> {
    use Gsm7Char::{Basic, Extended};
    let found = match c {
        // The ASCII ranges that keep their code in the default alphabet.
        ' '..='#' | '%'..='?' | 'A'..='Z' | 'a'..='z' => Basic(c as u8),
        '@' => Basic(0x00),
        '£' => Basic(0x01),
        '$' => Basic(0x02),
        '¥' => Basic(0x03),
        'è' => Basic(0x04),
        'é' => Basic(0x05),
        'ù' => Basic(0x06),
        'ì' => Basic(0x07),
        'ò' => Basic(0x08),
        'Ç' => Basic(0x09),
        '\n' => Basic(0x0A),
        'Ø' => Basic(0x0B),
        'ø' => Basic(0x0C),
        '\r' => Basic(0x0D),
        'Å' => Basic(0x0E),
        'å' => Basic(0x0F),
        'Δ' => Basic(0x10),
        '_' => Basic(0x11),
        'Φ' => Basic(0x12),
        'Γ' => Basic(0x13),
        'Λ' => Basic(0x14),
        'Ω' => Basic(0x15),
        'Π' => Basic(0x16),
        'Ψ' => Basic(0x17),
        'Σ' => Basic(0x18),
        'Θ' => Basic(0x19),
        'Ξ' => Basic(0x1A),
        'Æ' => Basic(0x1C),
        'æ' => Basic(0x1D),
        'ß' => Basic(0x1E),
        'É' => Basic(0x1F),
        '¤' => Basic(0x24),
        '¡' => Basic(0x40),
        'Ä' => Basic(0x5B),
        'Ö' => Basic(0x5C),
        'Ñ' => Basic(0x5D),
        'Ü' => Basic(0x5E),
        '§' => Basic(0x5F),
        '¿' => Basic(0x60),
        'ä' => Basic(0x7B),
        'ö' => Basic(0x7C),
        'ñ' => Basic(0x7D),
        'ü' => Basic(0x7E),
        'à' => Basic(0x7F),
        '\u{0C}' => Extended(0x0A),
        '^' => Extended(0x14),
        '{' => Extended(0x28),
        '}' => Extended(0x29),
        '\\' => Extended(0x2F),
        '[' => Extended(0x3C),
        '~' => Extended(0x3D),
        ']' => Extended(0x3E),
        '|' => Extended(0x40),
        '€' => Extended(0x65),
        _ => return None,
    };
    Some(found)
}

/// Whether every character of `text` is in the GSM 7-bit alphabet (basic or extension table).
/// The empty text is GSM.
pub fn is_gsm7(text: &str) -> bool {
    text.chars().all(|c| gsm7_char(c).is_some())
}

/// How many septets `text` takes in GSM 7-bit, or `None` when it is not all GSM.
pub fn gsm7_septets(text: &str) -> Option<usize> {
    text.chars().try_fold(0usize, |sum, c| {
        Some(sum.saturating_add(gsm7_char(c)?.septets()))
    })
}

/// A character that has no GSM 7-bit form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("'{character}' (U+{code:04X}) at byte {offset} is not in the GSM 7-bit alphabet", code = u32::from(*.character))]
pub struct NotGsm7 {
    pub character: char,
    /// Byte offset of the character in the text.
    pub offset: usize,
}

/// `text` as unpacked septets, one per byte, extension characters as [`ESCAPE`] and their code.
pub fn encode_gsm7_unpacked(text: &str) -> Result<Vec<u8>, NotGsm7> {
    let mut out = Vec::with_capacity(text.len());
    for (offset, character) in text.char_indices() {
        push_septets(
            &mut out,
            gsm7_char(character).ok_or(NotGsm7 { character, offset })?,
        );
    }
    Ok(out)
}

/// Appends the septets of one character.
pub(super) fn push_septets(out: &mut Vec<u8>, gsm: Gsm7Char) {
    match gsm {
        Gsm7Char::Basic(septet) => out.push(septet),
        Gsm7Char::Extended(septet) => {
            out.push(ESCAPE);
            out.push(septet);
        }
    }
}

/// Decodes unpacked septets (one per byte), as received in an SMPP `deliver_sm` with
/// `data_coding` 0.
///
/// Following TS 23.038, an escape before a septet that the extension table does not define decodes
/// as that septet's basic-table character, and the reserved double escape (0x1B 0x1B) decodes as a
/// space. A byte above 0x7F, and an escape that ends the input, are errors: a concatenated message
/// should be decoded once its segments are joined.
pub fn decode_gsm7_unpacked(septets: &[u8]) -> Result<String, DecodeError> {
    let mut out = String::with_capacity(septets.len());
    let mut bytes = septets.iter().copied().enumerate();
    while let Some((offset, septet)) = bytes.next() {
        let c = if septet == ESCAPE {
            let Some((next_offset, code)) = bytes.next() else {
                return Err(DecodeError::DanglingEscape { offset });
            };
            extension_char(code).ok_or(DecodeError::NotASeptet {
                offset: next_offset,
                value: code,
            })?
        } else {
            basic_char(septet).ok_or(DecodeError::NotASeptet {
                offset,
                value: septet,
            })?
        };
        out.push(c);
    }
    Ok(out)
}

/// The basic-table character for a septet; `None` above 0x7F.
fn basic_char(septet: u8) -> Option<char> {
    BASIC.get(usize::from(septet)).copied()
}

/// The character an escaped septet stands for, with the TS 23.038 fallbacks; `None` above 0x7F.
fn extension_char(code: u8) -> Option<char> {
    if code == ESCAPE {
        // "Reserved for the extension to another extension table": display a space.
        return Some(' ');
    }
    EXTENSION
        .iter()
        .find(|(septet, _)| *septet == code)
        .map(|(_, c)| *c)
        .or_else(|| basic_char(code))
}

/// Packs septets eight to seven bytes, least significant bit first (TS 23.038 6.1.2.1.1). Only the
/// low seven bits of each input byte are used. When the septet count is a multiple of eight minus
/// one, the last byte's top seven bits are zero: the receiver must be told the septet count (the
/// SMS TPDU's user data length does this), or it may read a trailing `@`.
pub fn pack_septets(septets: &[u8]) -> Vec<u8> {
    pack_with_fill(Vec::with_capacity(packed_len(septets.len(), 0)), 0, septets)
}

/// The user data of one concatenated segment on the air interface: the user data header `udh`
/// followed by the packed septets, starting on a septet boundary after the header's fill bits
/// (one fill bit for the six-byte concatenation header of [`super::concat_udh`]).
pub fn pack_septets_after_udh(udh: &[u8], septets: &[u8]) -> Vec<u8> {
    let fill_bits = (7 - (udh.len() % 7 * 8 % 7)) % 7;
    let mut out = Vec::with_capacity(
        udh.len()
            .saturating_add(packed_len(septets.len(), fill_bits)),
    );
    out.extend_from_slice(udh);
    pack_with_fill(out, fill_bits, septets)
}

/// Bytes needed for `count` septets after `fill_bits` zero bits.
fn packed_len(count: usize, fill_bits: usize) -> usize {
    count
        .saturating_mul(7)
        .saturating_add(fill_bits)
        .div_ceil(8)
}

fn pack_with_fill(mut out: Vec<u8>, fill_bits: usize, septets: &[u8]) -> Vec<u8> {
    // `pending` holds fewer than 8 bits between iterations, so it never overflows a u16.
    let mut pending: u16 = 0;
    let mut pending_bits = fill_bits;
    for septet in septets {
        pending |= u16::from(septet & 0x7F) << pending_bits;
        pending_bits += 7;
        while pending_bits >= 8 {
            out.push(pending.to_le_bytes()[0]);
            pending >>= 8;
            pending_bits -= 8;
        }
    }
    if pending_bits > 0 {
        out.push(pending.to_le_bytes()[0]);
    }
    out
}

/// Unpacks `count` septets from packed bytes (the inverse of [`pack_septets`]).
pub fn unpack_septets(packed: &[u8], count: usize) -> Result<Vec<u8>, DecodeError> {
    let available = packed.len().saturating_mul(8) / 7;
    if count > available {
        return Err(DecodeError::Truncated {
            expected: count,
            available,
        });
    }
    let mut out = Vec::with_capacity(count);
    let mut pending: u16 = 0;
    let mut pending_bits = 0usize;
    let mut bytes = packed.iter();
    while out.len() < count {
        if pending_bits < 7 {
            let Some(byte) = bytes.next() else { break };
            pending |= u16::from(*byte) << pending_bits;
            pending_bits += 8;
        }
        out.push(pending.to_le_bytes()[0] & 0x7F);
        pending >>= 7;
        pending_bits -= 7;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn encode_and_decode_tables_agree_on_every_septet() {
        for septet in 0u8..0x80 {
            if septet == ESCAPE {
                continue;
            }
            let c = BASIC[usize::from(septet)];
            assert_eq!(gsm7_char(c), Some(Gsm7Char::Basic(septet)), "{c:?}");
        }
        for (septet, c) in EXTENSION {
            assert_eq!(gsm7_char(c), Some(Gsm7Char::Extended(septet)), "{c:?}");
        }
    }

    #[test]
    fn the_alphabet_has_127_basic_and_10_extension_characters() {
        let all: Vec<char> = ('\0'..=char::MAX)
            .filter(|c| gsm7_char(*c).is_some())
            .collect();
        assert_eq!(all.len(), 137);
        let extended = all
            .iter()
            .filter(|c| matches!(gsm7_char(**c), Some(Gsm7Char::Extended(_))))
            .count();
        assert_eq!(extended, 10);
    }

    #[test]
    fn accented_latin_in_and_out_of_gsm() {
        for c in [
            'é', 'è', 'ù', 'ì', 'ò', 'Ç', 'Ä', 'ß', 'ñ', 'à', 'Ø', '¿', '¡',
        ] {
            assert!(gsm7_char(c).is_some(), "{c}");
        }
        for c in [
            'ê', 'ç', 'â', 'á', 'í', 'ó', 'ú', 'õ', 'ã', 'ł', '`', '\t', '\0', '\u{2126}',
        ] {
            assert!(gsm7_char(c).is_none(), "{c:?}");
        }
        // A decomposed é (e + combining acute) is not the GSM é.
        assert!(!is_gsm7("e\u{301}"));
    }

    #[test]
    fn ascii_specials_that_move() {
        assert_eq!(encode_gsm7_unpacked("@$_").unwrap(), vec![0x00, 0x02, 0x11]);
        assert_eq!(
            encode_gsm7_unpacked("a€b{").unwrap(),
            vec![0x61, ESCAPE, 0x65, 0x62, ESCAPE, 0x28]
        );
        assert_eq!(encode_gsm7_unpacked("\u{0C}").unwrap(), vec![ESCAPE, 0x0A]);
    }

    #[test]
    fn encode_reports_the_first_non_gsm_character() {
        assert_eq!(
            encode_gsm7_unpacked("ab\u{1F600}c"),
            Err(NotGsm7 {
                character: '\u{1F600}',
                offset: 2
            })
        );
    }

    #[test]
    fn decode_errors_and_fallbacks() {
        assert_eq!(
            decode_gsm7_unpacked(&[0x41, 0x80]),
            Err(DecodeError::NotASeptet {
                offset: 1,
                value: 0x80
            })
        );
        assert_eq!(
            decode_gsm7_unpacked(&[0x41, ESCAPE]),
            Err(DecodeError::DanglingEscape { offset: 1 })
        );
        assert_eq!(
            decode_gsm7_unpacked(&[ESCAPE, 0xFF]),
            Err(DecodeError::NotASeptet {
                offset: 1,
                value: 0xFF
            })
        );
        // An undefined extension code falls back to the basic table; a double escape is a space.
        assert_eq!(decode_gsm7_unpacked(&[ESCAPE, 0x41]).unwrap(), "A");
        assert_eq!(decode_gsm7_unpacked(&[ESCAPE, ESCAPE]).unwrap(), " ");
        assert_eq!(decode_gsm7_unpacked(&[]).unwrap(), "");
    }

    #[test]
    fn packing_matches_the_classic_example() {
        // "hellohello" is the TS 23.038 style textbook example: E8 32 9B FD 46 97 D9 EC 37.
        let septets = encode_gsm7_unpacked("hellohello").unwrap();
        assert_eq!(
            pack_septets(&septets),
            vec![0xE8, 0x32, 0x9B, 0xFD, 0x46, 0x97, 0xD9, 0xEC, 0x37]
        );
        assert_eq!(
            unpack_septets(&pack_septets(&septets), 10).unwrap(),
            septets
        );
    }

    #[test]
    fn packing_after_a_concatenation_header_uses_one_fill_bit() {
        let udh = super::super::concat_udh(7, 2, 1);
        let packed = pack_septets_after_udh(&udh, &[0x41]);
        // 'A' (0x41) shifted left by one fill bit.
        assert_eq!(packed, vec![0x05, 0x00, 0x03, 7, 2, 1, 0x82]);
        // 153 septets after the 6-byte header fill exactly 140 bytes.
        assert_eq!(pack_septets_after_udh(&udh, &[0x20; 153]).len(), 140);
        assert_eq!(pack_septets(&[0x20; 160]).len(), 140);
    }

    #[test]
    fn unpack_refuses_a_count_longer_than_the_input() {
        assert_eq!(
            unpack_septets(&[0xE8, 0x32], 3),
            Err(DecodeError::Truncated {
                expected: 3,
                available: 2
            })
        );
    }

    proptest! {
        #[test]
        fn pack_unpack_round_trip(septets in proptest::collection::vec(0u8..0x80, 0..400)) {
            let packed = pack_septets(&septets);
            prop_assert_eq!(packed.len(), (septets.len() * 7).div_ceil(8));
            prop_assert_eq!(unpack_septets(&packed, septets.len()).unwrap(), septets);
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode_gsm7_unpacked(&bytes);
            let _ = unpack_septets(&bytes, bytes.len());
        }

        #[test]
        fn gsm_text_round_trips(text in "[@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,./0-9:;<=>?¡A-ZÄÖÑÜ§¿a-zäöñüà\u{0C}^{}\\\\\\[~\\]|€-]{0,200}") {
            let septets = encode_gsm7_unpacked(&text).unwrap();
            prop_assert_eq!(Some(septets.len()), gsm7_septets(&text));
            prop_assert_eq!(decode_gsm7_unpacked(&septets).unwrap(), text);
        }
    }
}
