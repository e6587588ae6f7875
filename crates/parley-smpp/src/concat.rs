//! User Data Header parsing and reassembly of concatenated inbound messages.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use crate::types::{Address, DataCoding, MobileOriginated};

/// Concatenation information of one part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConcatInfo {
    pub reference: u16,
    pub total: u8,
    pub seq: u8,
}

/// Splits `short_message` into (concatenation info, user data without UDH).
///
/// With `udhi`, the first octet is the UDH length; information elements 0x00 (8-bit reference)
/// and 0x08 (16-bit reference) give the concatenation. A UDH that overruns the message is not
/// trusted: the whole message is returned as user data.
pub(crate) fn split_udh(short_message: &[u8], udhi: bool) -> (Option<ConcatInfo>, &[u8]) {
    if !udhi {
        return (None, short_message);
    }
    let Some(&udh_len) = short_message.first() else {
        return (None, short_message);
    };
    let header_end = usize::from(udh_len) + 1;
    let (Some(header), Some(user_data)) = (
        short_message.get(1..header_end),
        short_message.get(header_end..),
    ) else {
        return (None, short_message);
    };
    let mut concat = None;
    let mut rest = header;
    while let [iei, iel, tail @ ..] = rest {
        let len = usize::from(*iel);
        let Some(value) = tail.get(..len) else {
            break;
        };
        match (*iei, value) {
            (0x00, &[reference, total, seq]) => {
                concat = Some(ConcatInfo {
                    reference: u16::from(reference),
                    total,
                    seq,
                });
            }
            (0x08, &[hi, lo, total, seq]) => {
                concat = Some(ConcatInfo {
                    reference: u16::from_be_bytes([hi, lo]),
                    total,
                    seq,
                });
            }
            _ => {}
        }
        rest = tail.get(len..).unwrap_or_default();
    }
    (concat, user_data)
}

/// One inbound part, after UDH / SAR TLV parsing.
#[derive(Debug, Clone)]
pub(crate) struct Part {
    pub source: Address,
    pub destination: Address,
    pub data_coding: DataCoding,
    pub esm_class: u8,
    pub concat: Option<ConcatInfo>,
    pub user_data: Vec<u8>,
}

#[derive(Debug)]
struct Partial {
    first: Part,
    parts: BTreeMap<u8, Vec<u8>>,
    started: Instant,
}

type Key = (Address, Address, u16, u8);

/// Reassembles concatenated parts keyed by (source, destination, reference, total).
#[derive(Debug)]
pub(crate) struct Reassembler {
    partials: HashMap<Key, Partial>,
    timeout: Duration,
    max_partials: usize,
}

impl Reassembler {
    pub(crate) fn new(timeout: Duration) -> Self {
        Self {
            partials: HashMap::new(),
            timeout,
            max_partials: 10_000,
        }
    }

    /// Adds one part; returns the message when it is complete (or not concatenated).
    /// A repeated part (SMSC redelivery) replaces the earlier copy.
    pub(crate) fn push(&mut self, part: Part, now: Instant) -> Vec<MobileOriginated> {
        let mut out = Vec::new();
        let info = match part.concat {
            Some(info) if info.total > 1 && info.seq >= 1 && info.seq <= info.total => info,
            Some(info) if info.total <= 1 => {
                out.push(single(part, Some(info.reference), true));
                return out;
            }
            Some(info) => {
                // seq 0 or beyond total: cannot be placed; surface it alone, marked incomplete.
                out.push(single(part, Some(info.reference), false));
                return out;
            }
            None => {
                out.push(single(part, None, true));
                return out;
            }
        };
        let key = (
            part.source.clone(),
            part.destination.clone(),
            info.reference,
            info.total,
        );
        if !self.partials.contains_key(&key)
            && self.partials.len() >= self.max_partials
            && let Some(oldest) = self
                .partials
                .iter()
                .min_by_key(|(_, p)| p.started)
                .map(|(k, _)| k.clone())
            && let Some(p) = self.partials.remove(&oldest)
        {
            out.push(assemble(p, oldest.2, oldest.3));
        }
        let partial = self.partials.entry(key.clone()).or_insert_with(|| Partial {
            first: part.clone(),
            parts: BTreeMap::new(),
            started: now,
        });
        if info.seq == 1 {
            partial.first = part.clone();
        }
        partial.parts.insert(info.seq, part.user_data);
        if partial.parts.len() >= usize::from(info.total)
            && let Some(p) = self.partials.remove(&key)
        {
            out.push(assemble(p, info.reference, info.total));
        }
        out
    }

    /// Surfaces (incomplete) every partial message older than the timeout.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<MobileOriginated> {
        let expired: Vec<Key> = self
            .partials
            .iter()
            .filter(|(_, p)| now.saturating_duration_since(p.started) >= self.timeout)
            .map(|(k, _)| k.clone())
            .collect();
        expired
            .into_iter()
            .filter_map(|k| {
                let (reference, total) = (k.2, k.3);
                self.partials
                    .remove(&k)
                    .map(|p| assemble(p, reference, total))
            })
            .collect()
    }
}

fn single(part: Part, reference: Option<u16>, complete: bool) -> MobileOriginated {
    MobileOriginated {
        source: part.source,
        destination: part.destination,
        data_coding: part.data_coding,
        esm_class: part.esm_class,
        payload: part.user_data,
        concat_reference: reference,
        parts_total: part.concat.map_or(1, |c| c.total.max(1)),
        parts_received: 1,
        complete,
    }
}

fn assemble(p: Partial, reference: u16, total: u8) -> MobileOriginated {
    let received = u8::try_from(p.parts.len()).unwrap_or(u8::MAX);
    MobileOriginated {
        source: p.first.source,
        destination: p.first.destination,
        data_coding: p.first.data_coding,
        esm_class: p.first.esm_class,
        payload: p.parts.into_values().flatten().collect(),
        concat_reference: Some(reference),
        parts_total: total,
        parts_received: received,
        complete: received >= total,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn part(udh_and_data: &[u8]) -> Part {
        let (concat, user_data) = split_udh(udh_and_data, true);
        Part {
            source: Address::international("447400123456"),
            destination: Address::short_code("12345"),
            data_coding: DataCoding::Gsm7,
            esm_class: 0x40,
            concat,
            user_data: user_data.to_vec(),
        }
    }

    #[test]
    fn splits_8_and_16_bit_references() {
        let (c, d) = split_udh(&[5, 0, 3, 0x2A, 2, 1, b'h', b'i'], true);
        assert_eq!(
            c,
            Some(ConcatInfo {
                reference: 0x2A,
                total: 2,
                seq: 1
            })
        );
        assert_eq!(d, b"hi");
        let (c, d) = split_udh(&[6, 8, 4, 0x12, 0x34, 3, 3, b'x'], true);
        assert_eq!(
            c,
            Some(ConcatInfo {
                reference: 0x1234,
                total: 3,
                seq: 3
            })
        );
        assert_eq!(d, b"x");
        // Other IEs before the concatenation IE are skipped.
        let (c, d) = split_udh(&[9, 0x24, 1, 1, 0, 3, 7, 2, 2, 0xFF, b'z'], true);
        assert_eq!(
            c,
            Some(ConcatInfo {
                reference: 7,
                total: 2,
                seq: 2
            })
        );
        assert_eq!(d, b"z");
    }

    #[test]
    fn malformed_udh_is_kept_as_data() {
        assert_eq!(split_udh(&[], true), (None, &[][..]));
        assert_eq!(split_udh(&[9, 0, 3], true), (None, &[9, 0, 3][..]));
        let (c, d) = split_udh(&[3, 0, 3, 1, b'a'], true);
        assert_eq!(c, None);
        assert_eq!(d, b"a");
        assert_eq!(split_udh(&[5, 0, 3], false), (None, &[5, 0, 3][..]));
        for len in 0..=255u8 {
            let msg: Vec<u8> = std::iter::once(len).chain(0..len).collect();
            let _ = split_udh(&msg, true);
            let _ = split_udh(&msg[..msg.len() / 2], true);
        }
    }

    #[test]
    fn reassembles_out_of_order_and_ignores_repeats() {
        let now = Instant::now();
        let mut r = Reassembler::new(Duration::from_secs(60));
        assert!(r.push(part(&[5, 0, 3, 9, 3, 3, b'c']), now).is_empty());
        assert!(r.push(part(&[5, 0, 3, 9, 3, 1, b'a']), now).is_empty());
        assert!(r.push(part(&[5, 0, 3, 9, 3, 1, b'a']), now).is_empty());
        let done = r.push(part(&[5, 0, 3, 9, 3, 2, b'b']), now);
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].payload, b"abc");
        assert!(done[0].complete);
        assert_eq!(done[0].parts_received, 3);
        assert_eq!(done[0].concat_reference, Some(9));
    }

    #[test]
    fn expires_incomplete_messages() {
        let now = Instant::now();
        let mut r = Reassembler::new(Duration::from_secs(60));
        assert!(r.push(part(&[5, 0, 3, 1, 2, 2, b'y']), now).is_empty());
        assert!(r.expire(now + Duration::from_secs(59)).is_empty());
        let out = r.expire(now + Duration::from_secs(61));
        assert_eq!(out.len(), 1);
        assert!(!out[0].complete);
        assert_eq!(out[0].payload, b"y");
        assert_eq!(out[0].parts_total, 2);
    }
}
