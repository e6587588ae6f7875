//! `application/x-www-form-urlencoded` decoding, as Twilio posts its webhooks and as Meta's GET
//! handshake spells its query string.
//!
//! Our own decoder rather than a crate's: the signature check needs the exact strings Twilio
//! signed, in wire order and with repeated names kept, and a lossy decoder that turns invalid
//! UTF-8 into U+FFFD would hide a malformed body behind a mysterious signature failure. Invalid
//! percent escapes (`%zz`, a trailing `%`) are kept literally, as browsers and Python's
//! `urllib.parse` do, so they never reject a form that those accept.

/// A decoded form: every name and value in the order they arrived, repeated names kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormParams {
    pairs: Vec<(String, String)>,
}

/// A form body that is not valid `application/x-www-form-urlencoded` UTF-8.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// A name or value decoded to bytes that are not UTF-8. `position` is the 0-based index of the
    /// `&`-separated field, so the message points at the culprit without echoing its bytes.
    #[error("form field #{position} does not decode to valid UTF-8")]
    InvalidUtf8 { position: usize },
}

impl FormParams {
    /// Decodes a raw body (or a query string without its `?`). Empty fields (`a=1&&b=2`) are
    /// skipped; a field without `=` is a name with an empty value.
    pub fn parse(raw: &[u8]) -> Result<Self, FormError> {
        let mut pairs = Vec::new();
        for (position, field) in raw.split(|&b| b == b'&').enumerate() {
            if field.is_empty() {
                continue;
            }
            let (name, value) = match field.iter().position(|&b| b == b'=') {
                Some(eq) => field.split_at(eq),
                None => (field, &b""[..]),
            };
            // `split_at` leaves the '=' at the front of the value.
            let value = value.strip_prefix(b"=").unwrap_or(value);
            let name = decode_component(name).ok_or(FormError::InvalidUtf8 { position })?;
            let value = decode_component(value).ok_or(FormError::InvalidUtf8 { position })?;
            pairs.push((name, value));
        }
        Ok(Self { pairs })
    }

    /// Builds a form from already decoded pairs (tests, or a framework that decoded for us).
    pub fn from_pairs<I, N, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (N, V)>,
        N: Into<String>,
        V: Into<String>,
    {
        Self {
            pairs: pairs
                .into_iter()
                .map(|(n, v)| (n.into(), v.into()))
                .collect(),
        }
    }

    /// The first value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// How many times `name` occurs.
    pub fn count(&self, name: &str) -> usize {
        self.pairs.iter().filter(|(n, _)| n == name).count()
    }

    /// Every pair in wire order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    pub fn into_pairs(self) -> Vec<(String, String)> {
        self.pairs
    }
}

/// Decodes one name or value: `+` is a space, `%XX` a byte. `None` when the bytes are not UTF-8.
fn decode_component(raw: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw;
    while let Some((&byte, tail)) = rest.split_first() {
        match byte {
            b'+' => {
                out.push(b' ');
                rest = tail;
            }
            b'%' => match tail {
                [hi, lo, after @ ..] => match (hex_value(*hi), hex_value(*lo)) {
                    (Some(h), Some(l)) => {
                        out.push(h << 4 | l);
                        rest = after;
                    }
                    _ => {
                        out.push(b'%');
                        rest = tail;
                    }
                },
                _ => {
                    out.push(b'%');
                    rest = tail;
                }
            },
            other => {
                out.push(other);
                rest = tail;
            }
        }
    }
    String::from_utf8(out).ok()
}

const fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Vec<(String, String)> {
        FormParams::parse(s.as_bytes()).unwrap().into_pairs()
    }

    fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn decodes_plus_percent_and_keeps_order_and_repeats() {
        assert_eq!(
            parse("Body=Hello+world%21&From=%2B14155550100&a=1&a=2"),
            owned(&[
                ("Body", "Hello world!"),
                ("From", "+14155550100"),
                ("a", "1"),
                ("a", "2")
            ])
        );
    }

    #[test]
    fn empty_fields_missing_equals_and_empty_values() {
        assert_eq!(
            parse("&a=&&b&=v&c=x=y"),
            owned(&[("a", ""), ("b", ""), ("", "v"), ("c", "x=y")])
        );
        assert!(parse("").is_empty());
    }

    #[test]
    fn invalid_escapes_are_kept_literally() {
        assert_eq!(
            parse("a=100%&b=%zz&c=%4"),
            owned(&[("a", "100%"), ("b", "%zz"), ("c", "%4")])
        );
    }

    #[test]
    fn multibyte_utf8_decodes_and_invalid_utf8_is_refused() {
        assert_eq!(
            parse("t=caf%C3%A9+%F0%9F%98%80"),
            owned(&[("t", "café 😀")])
        );
        assert_eq!(
            FormParams::parse(b"ok=1&bad=%C3%28"),
            Err(FormError::InvalidUtf8 { position: 1 })
        );
        assert_eq!(
            FormParams::parse(b"raw=\xff"),
            Err(FormError::InvalidUtf8 { position: 0 })
        );
    }

    #[test]
    fn lookup_helpers() {
        let f = FormParams::parse(b"a=1&b=2&a=3").unwrap();
        assert_eq!(f.get("a"), Some("1"));
        assert_eq!(f.count("a"), 2);
        assert_eq!(f.get("z"), None);
        assert_eq!(f.len(), 3);
    }
}
