//! Segment counting and splitting. Both walk the text one Unicode scalar value at a time and fill
//! segments greedily; a character's units (one or two septets, one or two UTF-16 code units) always
//! stay together, so an escape is never parted from its extension character and a surrogate pair is
//! never split.

use serde::Serialize;

use super::Encoding;
use super::gsm7::{self, Gsm7Char};

/// The concatenation user data header: UDHL 5, IEI 0x00 (concatenated short messages, 8-bit
/// reference), IEDL 3, then the reference shared by all parts, the total number of parts, and this
/// part's number counted from 1. The caller keeps `1 <= seq <= total`.
pub const fn concat_udh(reference: u8, total: u8, seq: u8) -> [u8; 6] {
    [0x05, 0x00, 0x03, reference, total, seq]
}

/// What a composer shows while a message is typed, and what billing counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct SmsAnalysis {
    /// GSM 7-bit when every character is in the GSM alphabet, otherwise UCS-2.
    pub encoding: Encoding,
    /// Number of SMS the text is sent as. The empty text is one (empty) segment.
    pub segments: usize,
    /// Unicode scalar values in the text (what Rust's `chars()` and JavaScript's `[...s]` count).
    pub characters: usize,
    /// Units the text takes: septets for GSM 7-bit (an extension character takes two), UTF-16 code
    /// units for UCS-2 (a character outside the BMP takes two).
    pub units: usize,
    /// Units still free in the last segment before another segment is needed. An extension
    /// character or surrogate pair needs two of them.
    pub units_remaining: usize,
}

/// One part of a message as it goes on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SmsSegment {
    /// The part of the original text this segment carries.
    pub text: String,
    /// The encoded payload without any header: for GSM 7-bit the unpacked septets, one per byte
    /// with the escape 0x1B included (pack them with [`super::pack_septets`] for the air
    /// interface); for UCS-2 the UTF-16BE bytes.
    pub payload: Vec<u8>,
    /// Units in this segment (septets or UTF-16 code units).
    pub units: usize,
}

/// A message cut into segments.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SmsSplit {
    pub encoding: Encoding,
    /// At least one segment; the empty text gives one empty segment.
    pub segments: Vec<SmsSegment>,
}

/// A split with more parts than an 8-bit concatenation header can number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{segments} segments cannot be numbered in a concatenation header (at most 255)")]
pub struct TooManyParts {
    pub segments: usize,
}

impl SmsSplit {
    /// The SMPP `short_message` of each part: the payload alone for a single segment; for a
    /// concatenated message the header of [`concat_udh`] followed by the payload (send with
    /// `esm_class` UDHI, 0x40). GSM payloads stay unpacked, as SMPP carries them.
    pub fn user_data(&self, reference: u8) -> Result<Vec<Vec<u8>>, TooManyParts> {
        let segments = self.segments.len();
        if segments <= 1 {
            return Ok(self.segments.iter().map(|s| s.payload.clone()).collect());
        }
        let total = u8::try_from(segments).map_err(|_| TooManyParts { segments })?;
        Ok((1..=total)
            .zip(&self.segments)
            .map(|(seq, segment)| {
                let mut data = Vec::with_capacity(6usize.saturating_add(segment.payload.len()));
                data.extend_from_slice(&concat_udh(reference, total, seq));
                data.extend_from_slice(&segment.payload);
                data
            })
            .collect())
    }
}

/// GSM 7-bit when every character is in the GSM alphabet, otherwise UCS-2 for the whole message.
pub fn encoding_for(text: &str) -> Encoding {
    if gsm7::is_gsm7(text) {
        Encoding::Gsm7
    } else {
        Encoding::Ucs2
    }
}

/// Units `c` takes in `encoding`. A character that is not GSM counts one septet; callers only ask
/// about GSM 7-bit for text that [`encoding_for`] found to be all GSM.
fn units_of(encoding: Encoding, c: char) -> usize {
    match encoding {
        Encoding::Gsm7 => gsm7::gsm7_char(c).map_or(1, Gsm7Char::septets),
        Encoding::Ucs2 => c.len_utf16(),
    }
}

/// Greedy filling of fixed-capacity segments.
struct Filler {
    capacity: usize,
    segments: usize,
    used: usize,
}

impl Filler {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            segments: 1,
            used: 0,
        }
    }

    /// Places a character of `units`; returns true when it opened a new segment.
    fn place(&mut self, units: usize) -> bool {
        let opened = self.used > 0 && self.used.saturating_add(units) > self.capacity;
        if opened {
            self.segments = self.segments.saturating_add(1);
            self.used = 0;
        }
        self.used = self.used.saturating_add(units);
        opened
    }
}

/// Encoding, segment count and counters for `text`, without allocating.
pub fn analyze(text: &str) -> SmsAnalysis {
    let encoding = encoding_for(text);
    let mut characters = 0usize;
    let mut units = 0usize;
    let mut concatenated = Filler::new(encoding.concatenated_segment_units());
    for c in text.chars() {
        let n = units_of(encoding, c);
        characters = characters.saturating_add(1);
        units = units.saturating_add(n);
        concatenated.place(n);
    }
    let single = encoding.single_segment_units();
    let (segments, units_remaining) = if units <= single {
        (1, single.saturating_sub(units))
    } else {
        (
            concatenated.segments,
            concatenated.capacity.saturating_sub(concatenated.used),
        )
    };
    SmsAnalysis {
        encoding,
        segments,
        characters,
        units,
        units_remaining,
    }
}

/// Cuts `text` into segments with their payloads. The segments' texts joined give `text` back, and
/// their number is [`analyze`]'s `segments`.
pub fn split(text: &str) -> SmsSplit {
    let analysis = analyze(text);
    let encoding = analysis.encoding;
    let capacity = if analysis.segments == 1 {
        encoding.single_segment_units()
    } else {
        encoding.concatenated_segment_units()
    };
    let mut filler = Filler::new(capacity);
    let mut segments = Vec::with_capacity(analysis.segments);
    let mut current = SmsSegment {
        text: String::new(),
        payload: Vec::new(),
        units: 0,
    };
    for c in text.chars() {
        let n = units_of(encoding, c);
        if filler.place(n) {
            segments.push(std::mem::replace(
                &mut current,
                SmsSegment {
                    text: String::new(),
                    payload: Vec::new(),
                    units: 0,
                },
            ));
        }
        current.text.push(c);
        current.units = current.units.saturating_add(n);
        match encoding {
            Encoding::Gsm7 => {
                if let Some(gsm) = gsm7::gsm7_char(c) {
                    gsm7::push_septets(&mut current.payload, gsm);
                }
            }
            Encoding::Ucs2 => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    current.payload.extend_from_slice(&unit.to_be_bytes());
                }
            }
        }
    }
    segments.push(current);
    SmsSplit { encoding, segments }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sms::{decode_gsm7_unpacked, decode_ucs2};
    use proptest::prelude::*;

    fn gsm(n: usize) -> String {
        "a".repeat(n)
    }

    /// n UTF-16 units of a BMP non-GSM character (Cyrillic).
    fn ucs(n: usize) -> String {
        "ж".repeat(n)
    }

    fn seg_units(text: &str) -> Vec<usize> {
        split(text).segments.iter().map(|s| s.units).collect()
    }

    #[test]
    fn empty_text_is_one_empty_gsm_segment() {
        let a = analyze("");
        assert_eq!(
            a,
            SmsAnalysis {
                encoding: Encoding::Gsm7,
                segments: 1,
                characters: 0,
                units: 0,
                units_remaining: 160
            }
        );
        let s = split("");
        assert_eq!(s.segments.len(), 1);
        assert!(s.segments[0].payload.is_empty());
        assert_eq!(s.user_data(1).unwrap(), vec![Vec::<u8>::new()]);
    }

    #[test]
    fn gsm_single_segment_boundary_160_161() {
        let a = analyze(&gsm(160));
        assert_eq!((a.segments, a.units, a.units_remaining), (1, 160, 0));
        let a = analyze(&gsm(161));
        assert_eq!((a.segments, a.units, a.units_remaining), (2, 161, 145));
        assert_eq!(seg_units(&gsm(161)), vec![153, 8]);
    }

    #[test]
    fn gsm_concatenated_boundaries_153k() {
        for k in 2..=7usize {
            let a = analyze(&gsm(153 * k));
            assert_eq!((a.segments, a.units_remaining), (k, 0), "k={k}");
            let a = analyze(&gsm(153 * k + 1));
            assert_eq!((a.segments, a.units_remaining), (k + 1, 152), "k={k}");
        }
        assert_eq!(analyze(&gsm(918)).segments, 6);
        assert_eq!(analyze(&gsm(919)).segments, 7);
    }

    #[test]
    fn ucs2_single_segment_boundary_70_71() {
        let a = analyze(&ucs(70));
        assert_eq!(
            (a.encoding, a.segments, a.units_remaining),
            (Encoding::Ucs2, 1, 0)
        );
        let a = analyze(&ucs(71));
        assert_eq!((a.segments, a.units_remaining), (2, 63));
        assert_eq!(seg_units(&ucs(71)), vec![67, 4]);
    }

    #[test]
    fn ucs2_concatenated_boundaries_67k() {
        for k in 2..=7usize {
            assert_eq!(analyze(&ucs(67 * k)).segments, k, "k={k}");
            assert_eq!(analyze(&ucs(67 * k + 1)).segments, k + 1, "k={k}");
        }
        assert_eq!(analyze(&ucs(402)).segments, 6);
        assert_eq!(analyze(&ucs(403)).segments, 7);
    }

    #[test]
    fn a_lone_extension_character_is_two_septets() {
        for c in ["^", "{", "}", "\\", "[", "~", "]", "|", "€", "\u{0C}"] {
            let a = analyze(c);
            assert_eq!(
                (
                    a.encoding,
                    a.segments,
                    a.characters,
                    a.units,
                    a.units_remaining
                ),
                (Encoding::Gsm7, 1, 1, 2, 158),
                "{c:?}"
            );
            assert_eq!(split(c).segments[0].payload.len(), 2);
        }
    }

    #[test]
    fn extension_character_fills_a_single_segment_exactly() {
        // 158 + 2 = 160 septets: still one segment.
        let text = format!("{}€", gsm(158));
        assert_eq!(analyze(&text).segments, 1);
        // 159 + 2 = 161: two segments.
        let text = format!("{}€", gsm(159));
        assert_eq!(analyze(&text).segments, 2);
    }

    #[test]
    fn extension_character_at_a_segment_boundary_moves_whole() {
        // 152 septets then '€': the escape would be septet 153 and the code septet 154, so the
        // whole character opens the second segment.
        let text = format!("{}€{}", gsm(152), gsm(20));
        let s = split(&text);
        assert_eq!(seg_units(&text), vec![152, 22]);
        assert_eq!(s.segments[1].payload[..2], [gsm7::ESCAPE, 0x65]);
        assert_eq!(*s.segments[0].payload.last().unwrap(), b'a');
        assert_eq!(analyze(&text).units_remaining, 153 - 22);
        // 151 then '€' fits exactly.
        let text = format!("{}€{}", gsm(151), gsm(20));
        assert_eq!(seg_units(&text), vec![153, 20]);
        // Across the second boundary too.
        let text = format!("{}{}€{}", gsm(153), gsm(152), gsm(10));
        assert_eq!(seg_units(&text), vec![153, 152, 12]);
    }

    #[test]
    fn surrogate_pair_at_a_segment_boundary_moves_whole() {
        let text = format!("{}\u{1F600}{}", ucs(66), ucs(10));
        assert_eq!(seg_units(&text), vec![66, 12]);
        let s = split(&text);
        assert_eq!(s.segments[1].payload[..4], [0xD8, 0x3D, 0xDE, 0x00]);
        let text = format!("{}\u{1F600}{}", ucs(65), ucs(10));
        assert_eq!(seg_units(&text), vec![67, 10]);
        // 68 units plus a pair is 70: one segment. 69 plus a pair is 71: two.
        assert_eq!(analyze(&format!("{}\u{1F600}", ucs(68))).segments, 1);
        assert_eq!(seg_units(&format!("{}\u{1F600}", ucs(69))), vec![67, 4]);
    }

    #[test]
    fn one_non_gsm_character_switches_the_whole_message() {
        let text = format!("{}ê", gsm(100));
        let a = analyze(&text);
        assert_eq!((a.encoding, a.segments, a.units), (Encoding::Ucs2, 2, 101));
        let a = analyze(&format!("{}é", gsm(100)));
        assert_eq!((a.encoding, a.segments, a.units), (Encoding::Gsm7, 1, 101));
        // GSM characters count one UTF-16 unit each in UCS-2, extension characters included.
        let a = analyze("€ж");
        assert_eq!((a.encoding, a.units), (Encoding::Ucs2, 2));
    }

    #[test]
    fn characters_are_scalar_values() {
        // Family emoji: 5 scalar values (3 people, 2 ZWJ), 8 UTF-16 units, one grapheme.
        let a = analyze("\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}");
        assert_eq!((a.characters, a.units), (5, 8));
        // A flag: two regional indicators.
        let a = analyze("\u{1F1EC}\u{1F1E7}");
        assert_eq!((a.characters, a.units), (2, 4));
    }

    #[test]
    fn concatenation_header_and_user_data() {
        assert_eq!(concat_udh(0xAB, 3, 2), [0x05, 0x00, 0x03, 0xAB, 3, 2]);
        let s = split(&gsm(200));
        let parts = s.user_data(9).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0][..6], concat_udh(9, 2, 1));
        assert_eq!(parts[1][..6], concat_udh(9, 2, 2));
        assert_eq!(parts[0].len(), 6 + 153);
        assert_eq!(parts[1].len(), 6 + 47);
        // Single segment: no header.
        assert_eq!(split("hi").user_data(9).unwrap(), vec![b"hi".to_vec()]);
        // 256 parts cannot be numbered.
        assert_eq!(
            split(&gsm(153 * 256)).user_data(1),
            Err(TooManyParts { segments: 256 })
        );
    }

    #[test]
    fn payloads_decode_back() {
        let s = split("Price: 5€ [x] ~ok~");
        assert_eq!(s.encoding, Encoding::Gsm7);
        assert_eq!(
            decode_gsm7_unpacked(&s.segments[0].payload).unwrap(),
            "Price: 5€ [x] ~ok~"
        );
        let s = split("Привет \u{1F600}");
        assert_eq!(s.encoding, Encoding::Ucs2);
        assert_eq!(
            decode_ucs2(&s.segments[0].payload).unwrap(),
            "Привет \u{1F600}"
        );
    }

    /// Text that mixes every kind of character the segmenter distinguishes, weighted towards GSM
    /// so that both encodings come up.
    fn sms_text() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            6 => "[a-zA-Z0-9 .,!?@£$éèÇ\n\r]{1,40}",
            2 => "[\\^{}\\\\\\[~\\]|€\u{0C}]{1,3}",
            1 => "[жЖ中文ê\u{1F600}\u{1F1EC}\u{1F1E7}\u{200D}\u{1F468}]{1,5}",
            1 => any::<char>().prop_map(String::from),
        ];
        proptest::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #[test]
        fn segments_rejoin_fit_and_agree_with_analyze(text in sms_text()) {
            let a = analyze(&text);
            let s = split(&text);
            prop_assert_eq!(s.encoding, a.encoding);
            prop_assert_eq!(s.segments.len(), a.segments);
            let joined: String = s.segments.iter().map(|seg| seg.text.as_str()).collect();
            prop_assert_eq!(&joined, &text);
            let capacity = if a.segments == 1 {
                a.encoding.single_segment_units()
            } else {
                a.encoding.concatenated_segment_units()
            };
            let mut total = 0;
            for seg in &s.segments {
                prop_assert!(seg.units <= capacity);
                total += seg.units;
                match s.encoding {
                    Encoding::Gsm7 => {
                        prop_assert_eq!(seg.payload.len(), seg.units);
                        // Every segment decodes alone: no escape was parted from its character.
                        prop_assert_eq!(&decode_gsm7_unpacked(&seg.payload).unwrap(), &seg.text);
                    }
                    Encoding::Ucs2 => {
                        prop_assert_eq!(seg.payload.len(), seg.units * 2);
                        // Every segment decodes alone: no surrogate pair was split.
                        prop_assert_eq!(&decode_ucs2(&seg.payload).unwrap(), &seg.text);
                    }
                }
            }
            prop_assert_eq!(total, a.units);
            prop_assert_eq!(a.characters, text.chars().count());
            let last = s.segments.last().map_or(0, |seg| seg.units);
            prop_assert_eq!(a.units_remaining, capacity - last);
            // A segment is only closed when the next character would not fit.
            for pair in s.segments.windows(2) {
                let next = pair[1].text.chars().next().map_or(0, |c| units_of(a.encoding, c));
                prop_assert!(pair[0].units + next > capacity);
            }
        }
    }
}
