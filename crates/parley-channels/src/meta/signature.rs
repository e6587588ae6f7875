//! Proof that a webhook came from Meta, and the GET handshake that subscribes our URL.
//!
//! Every POST carries `X-Hub-Signature-256: sha256=<hex>`, the HMAC-SHA256 of the raw body keyed
//! by the app secret. It must be checked on the bytes as received, before any JSON parsing or
//! re-serialisation, and compared in constant time.
//!
//! When the webhook is configured Meta sends `GET ?hub.mode=subscribe&hub.verify_token=...&
//! hub.challenge=...`; we answer the challenge only if the token is the one we configured.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::twilio::form::{FormError, FormParams};

/// The header carrying the body signature.
pub const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";

/// Why a POST was not accepted as Meta's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Hub-Signature-256 header is missing or empty")]
    Missing,
    #[error("the X-Hub-Signature-256 header is not 'sha256=' followed by 64 hex digits")]
    Malformed,
    #[error("the X-Hub-Signature-256 does not match this body and app secret")]
    Mismatch,
}

/// The header value Meta sends for `body`: `sha256=` and the lowercase hex HMAC-SHA256.
pub fn compute_signature(app_secret: &str, body: &[u8]) -> String {
    format!("sha256={}", hex::encode(mac(app_secret, body)))
}

/// Checks the `X-Hub-Signature-256` header against the raw body. The `sha256=` prefix is required
/// (its case is not significant), hex digits may be either case, and the digest comparison is
/// constant-time.
pub fn verify_signature(app_secret: &str, body: &[u8], header: &str) -> Result<(), SignatureError> {
    let header = header.trim();
    if header.is_empty() {
        return Err(SignatureError::Missing);
    }
    let hex_part = header
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case("sha256="))
        .and_then(|_| header.get(7..))
        .ok_or(SignatureError::Malformed)?;
    let mut claimed = [0u8; 32];
    hex::decode_to_slice(hex_part, &mut claimed).map_err(|_| SignatureError::Malformed)?;
    let actual = mac(app_secret, body);
    if bool::from(actual.as_slice().ct_eq(&claimed)) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

fn mac(app_secret: &str, body: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length; the empty fallback can only ever mismatch.
    let Ok(mut m) = <Hmac<Sha256> as Mac>::new_from_slice(app_secret.as_bytes()) else {
        return Vec::new();
    };
    m.update(body);
    m.finalize().into_bytes().to_vec()
}

/// Why a subscription handshake was refused. The HTTP layer answers 403 to all of them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeRefusal {
    #[error("no verify token is configured for this channel")]
    NotConfigured,
    #[error("malformed query string: {0}")]
    MalformedQuery(#[from] FormError),
    #[error("query parameter {0} appears more than once")]
    DuplicateParameter(&'static str),
    #[error("hub.mode is missing")]
    MissingMode,
    #[error("hub.mode is '{0}', expected 'subscribe'")]
    UnsupportedMode(String),
    #[error("hub.verify_token is missing")]
    MissingToken,
    #[error("hub.verify_token does not match the configured token")]
    TokenMismatch,
    #[error("hub.challenge is missing")]
    MissingChallenge,
    #[error("hub.challenge is not a short token of letters, digits, '-', '_', '.' or '~'")]
    InvalidChallenge,
}

/// The longest challenge echoed back; Meta's are short numbers.
pub const MAX_CHALLENGE_LEN: usize = 256;

/// Answers the GET handshake from its raw query string (without `?`): the challenge to send back
/// as the plain-text body, or why not.
pub fn answer_handshake(query: &str, expected_token: &str) -> Result<String, HandshakeRefusal> {
    let form = FormParams::parse(query.as_bytes())?;
    let single = |name: &'static str| -> Result<Option<&str>, HandshakeRefusal> {
        if form.count(name) > 1 {
            return Err(HandshakeRefusal::DuplicateParameter(name));
        }
        Ok(form.get(name))
    };
    answer_handshake_params(
        single("hub.mode")?,
        single("hub.verify_token")?,
        single("hub.challenge")?,
        expected_token,
    )
}

/// Answers the handshake from already decoded parameters.
///
/// The challenge is echoed into a response body, so only a short token of unreserved URL
/// characters is accepted: nothing a browser could take for markup.
pub fn answer_handshake_params(
    mode: Option<&str>,
    verify_token: Option<&str>,
    challenge: Option<&str>,
    expected_token: &str,
) -> Result<String, HandshakeRefusal> {
    if expected_token.is_empty() {
        return Err(HandshakeRefusal::NotConfigured);
    }
    match mode {
        None | Some("") => return Err(HandshakeRefusal::MissingMode),
        Some("subscribe") => {}
        Some(other) => return Err(HandshakeRefusal::UnsupportedMode(other.to_owned())),
    }
    let token = verify_token
        .filter(|t| !t.is_empty())
        .ok_or(HandshakeRefusal::MissingToken)?;
    if !bool::from(token.as_bytes().ct_eq(expected_token.as_bytes())) {
        return Err(HandshakeRefusal::TokenMismatch);
    }
    let challenge = challenge
        .filter(|c| !c.is_empty())
        .ok_or(HandshakeRefusal::MissingChallenge)?;
    let safe = challenge.len() <= MAX_CHALLENGE_LEN
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'));
    if !safe {
        return Err(HandshakeRefusal::InvalidChallenge);
    }
    Ok(challenge.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Fixture {
        pywa_version: String,
        vectors: Vec<Vector>,
        handshakes: Vec<Handshake>,
    }

    #[derive(Deserialize)]
    struct Vector {
        secret: String,
        header: String,
        tampered_header: String,
        fixture: Option<String>,
        body_hex: Option<String>,
    }

    #[derive(Deserialize)]
    struct Handshake {
        mode: String,
        verify_token: String,
        challenge: String,
        expected_token: String,
        accepted: bool,
        answer: Option<String>,
    }

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/meta");

    fn fixture() -> Fixture {
        serde_json::from_str(include_str!("../../fixtures/meta/signatures.json")).unwrap()
    }

    fn body_of(v: &Vector) -> Vec<u8> {
        match (&v.fixture, &v.body_hex) {
            (Some(name), _) => std::fs::read(format!("{FIXTURES}/{name}")).unwrap(),
            (None, Some(h)) => hex::decode(h).unwrap(),
            (None, None) => panic!("vector without a body"),
        }
    }

    #[test]
    fn reproduces_and_verifies_every_oracle_vector() {
        let f = fixture();
        assert!(f.vectors.len() >= 50, "only {}", f.vectors.len());
        for v in &f.vectors {
            let body = body_of(v);
            let ctx = format!("{:?} (pywa {})", v.fixture, f.pywa_version);
            assert_eq!(compute_signature(&v.secret, &body), v.header, "{ctx}");
            assert_eq!(
                verify_signature(&v.secret, &body, &v.header),
                Ok(()),
                "{ctx}"
            );
            assert_eq!(
                verify_signature(&v.secret, &body, &v.tampered_header),
                Err(SignatureError::Mismatch),
                "{ctx}"
            );
            let wrong = format!("{}x", v.secret);
            assert_eq!(
                verify_signature(&wrong, &body, &v.header),
                Err(SignatureError::Mismatch),
                "{ctx}"
            );
            let mut longer = body.clone();
            longer.push(b' ');
            assert_eq!(
                verify_signature(&v.secret, &longer, &v.header),
                Err(SignatureError::Mismatch),
                "{ctx}"
            );
        }
    }

    #[test]
    fn header_shape_is_checked() {
        let body = br#"{"object":"page"}"#;
        let good = compute_signature("secret", body);
        assert!(verify_signature("secret", body, &good.to_uppercase()).is_ok());
        assert!(verify_signature("secret", body, &format!(" {good} ")).is_ok());
        assert_eq!(
            verify_signature("secret", body, ""),
            Err(SignatureError::Missing)
        );
        let bare = good.trim_start_matches("sha256=");
        assert_eq!(
            verify_signature("secret", body, bare),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_signature("secret", body, &format!("sha1={bare}")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_signature("secret", body, "sha256=abcd"),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_signature("secret", body, &format!("sha256={}", "zz".repeat(32))),
            Err(SignatureError::Malformed)
        );
        // Multi-byte characters where the prefix would be must not panic on slicing.
        assert_eq!(
            verify_signature("secret", body, "ééééé"),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn handshake_agrees_with_pywa() {
        let f = fixture();
        assert!(!f.handshakes.is_empty());
        for h in f.handshakes {
            let query = format!(
                "hub.mode={}&hub.verify_token={}&hub.challenge={}",
                h.mode, h.verify_token, h.challenge
            );
            let ours = answer_handshake(&query, &h.expected_token);
            assert_eq!(ours.is_ok(), h.accepted, "{query}: {ours:?}");
            assert_eq!(ours.ok(), h.answer);
        }
    }

    #[test]
    fn handshake_refusals_are_typed() {
        let ok = "hub.mode=subscribe&hub.verify_token=tok&hub.challenge=1158201444";
        assert_eq!(answer_handshake(ok, "tok").as_deref(), Ok("1158201444"));
        assert_eq!(
            answer_handshake(ok, ""),
            Err(HandshakeRefusal::NotConfigured)
        );
        assert_eq!(
            answer_handshake("hub.verify_token=tok&hub.challenge=1", "tok"),
            Err(HandshakeRefusal::MissingMode)
        );
        assert_eq!(
            answer_handshake(
                "hub.mode=unsubscribe&hub.verify_token=tok&hub.challenge=1",
                "tok"
            ),
            Err(HandshakeRefusal::UnsupportedMode("unsubscribe".into()))
        );
        assert_eq!(
            answer_handshake("hub.mode=subscribe&hub.challenge=1", "tok"),
            Err(HandshakeRefusal::MissingToken)
        );
        assert_eq!(
            answer_handshake(
                "hub.mode=subscribe&hub.verify_token=tok2&hub.challenge=1",
                "tok"
            ),
            Err(HandshakeRefusal::TokenMismatch)
        );
        assert_eq!(
            answer_handshake("hub.mode=subscribe&hub.verify_token=tok", "tok"),
            Err(HandshakeRefusal::MissingChallenge)
        );
        assert_eq!(
            answer_handshake(
                "hub.mode=subscribe&hub.verify_token=tok&hub.challenge=%3Cscript%3E",
                "tok"
            ),
            Err(HandshakeRefusal::InvalidChallenge)
        );
        let long = format!(
            "hub.mode=subscribe&hub.verify_token=tok&hub.challenge={}",
            "1".repeat(MAX_CHALLENGE_LEN + 1)
        );
        assert_eq!(
            answer_handshake(&long, "tok"),
            Err(HandshakeRefusal::InvalidChallenge)
        );
        assert_eq!(
            answer_handshake(&format!("{ok}&hub.verify_token=tok"), "tok"),
            Err(HandshakeRefusal::DuplicateParameter("hub.verify_token"))
        );
        assert!(matches!(
            answer_handshake("hub.mode=%FF", "tok"),
            Err(HandshakeRefusal::MalformedQuery(_))
        ));
        // Percent-encoded tokens are compared after decoding, as Meta encodes them.
        assert_eq!(
            answer_handshake(
                "hub.mode=subscribe&hub.verify_token=a%20b%26c&hub.challenge=7",
                "a b&c"
            )
            .as_deref(),
            Ok("7")
        );
    }
}
