//! `application/x-www-form-urlencoded` as Twilio writes and reads it, for signed webhook posts and
//! for what a fake provider receives.

/// Percent-encodes one name or value (WHATWG form encoding: space as `+`).
pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A whole form body from its pairs, in order.
pub fn encode_pairs(params: &[(String, String)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Decodes one name or value; a malformed escape is kept as it is.
pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let escaped = (b == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (b, escaped) {
            (_, Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (b, None) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A form body's pairs, in order, repeated names kept.
pub fn decode_pairs(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_what_twilio_sends() {
        let pairs = vec![
            ("Body".to_owned(), "Arrêt + stop & go 100%".to_owned()),
            ("To".to_owned(), "+14155550123".to_owned()),
        ];
        let body = encode_pairs(&pairs);
        assert_eq!(
            body,
            "Body=Arr%C3%AAt+%2B+stop+%26+go+100%25&To=%2B14155550123"
        );
        assert_eq!(decode_pairs(&body), pairs);
    }
}
