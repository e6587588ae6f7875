//! Parsing of the conventional delivery receipt text. Never panics, whatever the input.

use crate::types::ReceiptText;

/// The labels of the receipt text, in their conventional order. `text` runs to the end.
const LABELS: [&str; 8] = [
    "id:",
    "sub:",
    "dlvrd:",
    "submit date:",
    "done date:",
    "stat:",
    "err:",
    "text:",
];

/// Parses `id:... sub:... dlvrd:... submit date:... done date:... stat:... err:... text:...`.
///
/// Labels are matched case-insensitively, each at the start of the text or after a character
/// that is not alphanumeric (so `xstat:` is no label), in any order; NUL octets count as spaces; a field's value runs to the next recognised label (or the end) and is trimmed;
/// `text:` always runs to the end. Missing labels leave their field `None`. Bytes that are not
/// UTF-8 are replaced with U+FFFD.
pub fn parse_receipt_text(raw: &[u8]) -> ReceiptText {
    let text = String::from_utf8_lossy(raw).replace('\0', " ");
    let text = text.as_str();
    // ASCII lowercasing keeps every byte offset, so offsets found in `lower` are valid in `text`.
    let lower = text.to_ascii_lowercase();

    // (start of label, label index) for the first well-placed occurrence of each label.
    let mut found: Vec<(usize, usize)> = Vec::with_capacity(LABELS.len());
    let text_label = LABELS.len() - 1;
    for (index, label) in LABELS.iter().enumerate() {
        if let Some(pos) = find_label(&lower, label) {
            found.push((pos, index));
        }
    }
    // `text:` may contain words like "id:"; ignore labels that start after `text:`.
    if let Some(&(text_pos, _)) = found.iter().find(|(_, i)| *i == text_label) {
        found.retain(|&(pos, i)| i == text_label || pos < text_pos);
    }
    found.sort_unstable();

    let mut out = ReceiptText::default();
    for (n, &(pos, index)) in found.iter().enumerate() {
        let Some(label) = LABELS.get(index) else {
            continue;
        };
        let start = pos + label.len();
        let end = if index == text_label {
            text.len()
        } else {
            found.get(n + 1).map_or(text.len(), |&(next, _)| next)
        };
        let value = text.get(start..end).map(|v| {
            if index == text_label {
                v.to_owned()
            } else {
                v.trim().to_owned()
            }
        });
        let slot = match index {
            0 => &mut out.id,
            1 => &mut out.sub,
            2 => &mut out.dlvrd,
            3 => &mut out.submit_date,
            4 => &mut out.done_date,
            5 => &mut out.stat,
            6 => &mut out.err,
            _ => &mut out.text,
        };
        *slot = value;
    }
    out
}

/// The byte offset of `label` in `haystack` where it starts the text or follows a character
/// that is not alphanumeric.
fn find_label(haystack: &str, label: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(rel) = haystack.get(from..).and_then(|rest| rest.find(label)) {
        let pos = from + rel;
        let before = haystack.get(..pos).and_then(|b| b.chars().next_back());
        if before.is_none_or(|c| !c.is_alphanumeric()) {
            return Some(pos);
        }
        from = pos + 1;
        while !haystack.is_char_boundary(from) {
            from += 1;
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn parses_the_conventional_receipt() {
        let r = parse_receipt_text(
            b"id:0A1B2C sub:001 dlvrd:001 submit date:2611011200 done date:2611011201 stat:DELIVRD err:000 text:Hello id: world",
        );
        assert_eq!(r.id.as_deref(), Some("0A1B2C"));
        assert_eq!(r.sub.as_deref(), Some("001"));
        assert_eq!(r.dlvrd.as_deref(), Some("001"));
        assert_eq!(r.submit_date.as_deref(), Some("2611011200"));
        assert_eq!(r.done_date.as_deref(), Some("2611011201"));
        assert_eq!(r.stat.as_deref(), Some("DELIVRD"));
        assert_eq!(r.err.as_deref(), Some("000"));
        assert_eq!(r.text.as_deref(), Some("Hello id: world"));
    }

    #[test]
    fn tolerates_case_order_and_missing_fields() {
        let r = parse_receipt_text(b"STAT:UNDELIV ID:42 Err:0B1");
        assert_eq!(r.id.as_deref(), Some("42"));
        assert_eq!(r.stat.as_deref(), Some("UNDELIV"));
        assert_eq!(r.err.as_deref(), Some("0B1"));
        assert_eq!(r.sub, None);
        assert_eq!(r.text, None);
    }

    #[test]
    fn labels_inside_words_are_not_labels() {
        let r = parse_receipt_text(b"id:7 xstat:NO stat:DELIVRD");
        assert_eq!(r.id.as_deref(), Some("7 xstat:NO"));
        assert_eq!(r.stat.as_deref(), Some("DELIVRD"));
    }

    #[test]
    fn nul_separated_fields() {
        let r = parse_receipt_text(b"id:55\0stat:EXPIRED\0err:001\0");
        assert_eq!(r.id.as_deref(), Some("55"));
        assert_eq!(r.stat.as_deref(), Some("EXPIRED"));
        assert_eq!(r.err.as_deref(), Some("001"));
        assert_eq!(
            crate::MessageState::from_stat("expired later"),
            crate::MessageState::Expired
        );
    }

    #[test]
    fn garbage_never_panics() {
        assert_eq!(parse_receipt_text(b""), ReceiptText::default());
        assert_eq!(parse_receipt_text(b"\xff\xfe\x00"), ReceiptText::default());
        let r = parse_receipt_text("id:é stat:".as_bytes());
        assert_eq!(r.id.as_deref(), Some("é"));
        assert_eq!(r.stat.as_deref(), Some(""));
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let alphabet: &[u8] = b"id:sub:dlvrd:stat:err:text:submit date:done  \xc3\xa9\xff\x00";
        for _ in 0..20_000 {
            let len = rng.random_range(0..80);
            let bytes: Vec<u8> = (0..len)
                .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                .collect();
            let _ = parse_receipt_text(&bytes);
        }
    }
}
