//! `X-Twilio-Signature`: proof that a webhook came from Twilio.
//!
//! Twilio signs each request with an HMAC keyed by the account's auth token (or, for SharedKey
//! webhooks, the key named in `X-Twilio-Webhooks-Signature-Settings`) over one string: the full
//! public URL it called, query string included, followed by every POST parameter as name then
//! value, names sorted by code point. Under a repeated name each distinct value counts once, in
//! sorted order; that is what Twilio's libraries do and what the oracle vectors in
//! `fixtures/twilio_signatures.json` (from the Python library) pin down. The digest is base64.
//!
//! The URL must be the one configured at Twilio, not one rebuilt from a request behind a proxy.
//! Twilio is inconsistent about the port, so like its libraries we accept the signature over the
//! URL with its port removed or with the scheme's default port added.
//!
//! JSON webhooks sign the URL alone; the body is bound through a `bodySHA256` query parameter
//! holding its hex SHA-256 ([`verify_json_request`]).

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::form::{FormError, FormParams};

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";
/// The header that names the algorithm (and key) of SharedKey webhooks.
pub const SIGNATURE_SETTINGS_HEADER: &str = "X-Twilio-Webhooks-Signature-Settings";

/// The HMAC under the signature. Auth-token webhooks always use SHA-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignatureAlgorithm {
    #[default]
    HmacSha1,
    HmacSha256,
}

/// Why a request was not accepted as Twilio's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Twilio-Signature header is missing or empty")]
    Missing,
    #[error("the X-Twilio-Signature does not match this URL, parameters and token")]
    Mismatch,
    #[error("unsupported webhook signature algorithm '{0}'")]
    UnsupportedAlgorithm(String),
    #[error("the webhook URL has no bodySHA256 query parameter, required for a JSON body")]
    MissingBodyHash,
    #[error("the body does not match the bodySHA256 in the webhook URL")]
    BodyHashMismatch,
    #[error("malformed form body: {0}")]
    MalformedBody(#[from] FormError),
}

impl SignatureAlgorithm {
    /// Reads `X-Twilio-Webhooks-Signature-Settings` (`key=...,algorithm=HMAC_SHA256`). An absent
    /// header, or one without a non-empty `algorithm=`, means the legacy HMAC-SHA1; the name is
    /// matched case-insensitively, and an unknown one is refused rather than guessed.
    pub fn from_settings_header(header: Option<&str>) -> Result<Self, SignatureError> {
        let named = header.unwrap_or("").split(',').find_map(|part| {
            let (name, value) = part.split_once('=')?;
            let value = value.trim();
            (name.trim() == "algorithm" && !value.is_empty()).then_some(value)
        });
        match named {
            None => Ok(Self::HmacSha1),
            Some(v) if v.eq_ignore_ascii_case("HMAC_SHA1") => Ok(Self::HmacSha1),
            Some(v) if v.eq_ignore_ascii_case("HMAC_SHA256") => Ok(Self::HmacSha256),
            Some(v) => Err(SignatureError::UnsupportedAlgorithm(v.to_owned())),
        }
    }
}

/// The signature Twilio sends for `url` and `params` (base64), e.g. to sign simulator traffic
/// or a test request.
pub fn compute_signature(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    algorithm: SignatureAlgorithm,
) -> String {
    use base64::Engine as _;
    let digest = match algorithm {
        SignatureAlgorithm::HmacSha1 => mac_digest::<Hmac<Sha1>>(auth_token, url, params),
        SignatureAlgorithm::HmacSha256 => mac_digest::<Hmac<Sha256>>(auth_token, url, params),
    };
    base64::engine::general_purpose::STANDARD.encode(digest)
}

/// Checks `signature` against `url` and decoded form `params`, trying the URL without its port
/// and with the default port added. The comparison is constant-time.
pub fn verify_signature(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    signature: &str,
    algorithm: SignatureAlgorithm,
) -> Result<(), SignatureError> {
    let signature = signature.trim();
    if signature.is_empty() {
        return Err(SignatureError::Missing);
    }
    let (without_port, with_port) = port_variants(url);
    // Both candidates are always computed, so timing does not tell which one matched.
    let a = compute_signature(auth_token, &without_port, params, algorithm);
    let b = compute_signature(auth_token, &with_port, params, algorithm);
    let ok = ct_str_eq(&a, signature) | ct_str_eq(&b, signature);
    if bool::from(ok) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Decodes a raw `application/x-www-form-urlencoded` body and verifies its signature; the
/// decoded form is returned only when the signature holds.
pub fn verify_form_request(
    auth_token: &str,
    url: &str,
    body: &[u8],
    signature: &str,
    algorithm: SignatureAlgorithm,
) -> Result<FormParams, SignatureError> {
    let form = FormParams::parse(body)?;
    verify_signature(auth_token, url, form.pairs(), signature, algorithm)?;
    Ok(form)
}

/// Verifies a JSON webhook: the signature covers the URL alone, and the URL's `bodySHA256`
/// query parameter must be the lowercase hex SHA-256 of the raw body.
pub fn verify_json_request(
    auth_token: &str,
    url: &str,
    body: &[u8],
    signature: &str,
    algorithm: SignatureAlgorithm,
) -> Result<(), SignatureError> {
    let query = query_of(url);
    let form = FormParams::parse(query.as_bytes())?;
    let expected = form
        .get("bodySHA256")
        .filter(|v| !v.is_empty())
        .ok_or(SignatureError::MissingBodyHash)?;
    let actual = hex::encode(Sha256::digest(body));
    let body_ok = ct_str_eq(&actual, expected);
    let sig = verify_signature(auth_token, url, &[], signature, algorithm);
    match (bool::from(body_ok), sig) {
        (_, Err(e)) => Err(e),
        (false, Ok(())) => Err(SignatureError::BodyHashMismatch),
        (true, Ok(())) => Ok(()),
    }
}

fn mac_digest<M: Mac + hmac::digest::KeyInit>(
    key: &str,
    url: &str,
    params: &[(String, String)],
) -> Vec<u8> {
    // HMAC takes keys of any length, so this cannot fail; an empty digest would only ever
    // mismatch, never pass.
    let Ok(mut mac) = <M as Mac>::new_from_slice(key.as_bytes()) else {
        return Vec::new();
    };
    mac.update(url.as_bytes());
    // Sorting (name, value) pairs sorts by name, then by value under a repeated name; dropping
    // identical neighbours leaves each distinct value once, as the signer counts them.
    let mut sorted: Vec<(&str, &str)> = params
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    sorted.sort_unstable();
    sorted.dedup();
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac.finalize().into_bytes().to_vec()
}

fn ct_str_eq(a: &str, b: &str) -> subtle::Choice {
    // Lengths are public (a base64 SHA-1 is always 28 characters); only contents are compared in
    // constant time, which `ct_eq` on slices of unequal length already handles.
    a.as_bytes().ct_eq(b.as_bytes())
}

/// The URL's query string (between `?` and `#`), or "".
fn query_of(url: &str) -> &str {
    let no_fragment = url.split_once('#').map_or(url, |(head, _)| head);
    no_fragment.split_once('?').map_or("", |(_, q)| q)
}

/// The URL with its port removed, and with its port kept (or the scheme's default added).
fn port_variants(url: &str) -> (String, String) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_owned(), url.to_owned());
    };
    let cut = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(cut);
    // The port belongs to the host, after any userinfo ("user:pass@") and IPv6 brackets.
    let host_start = authority.rfind('@').map_or(0, |at| at + 1);
    let (userinfo, host_port) = authority.split_at(host_start);
    let search_from = host_port.rfind(']').unwrap_or(0);
    let port_colon = host_port
        .get(search_from..)
        .and_then(|s| s.rfind(':'))
        .map(|i| i + search_from);
    let explicit = port_colon.and_then(|i| {
        let port = host_port.get(i + 1..)?;
        (!port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
            .then(|| (host_port.get(..i).unwrap_or(host_port), port))
    });
    match explicit {
        Some((host, _)) => (format!("{scheme}://{userinfo}{host}{tail}"), url.to_owned()),
        None => {
            let default = if scheme.eq_ignore_ascii_case("https") {
                "443"
            } else {
                "80"
            };
            (
                url.to_owned(),
                format!("{scheme}://{userinfo}{host_port}:{default}{tail}"),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Fixture {
        twilio_python_version: String,
        empty_messaging_response: String,
        vectors: Vec<Vector>,
        body_hash_vectors: Vec<BodyHashVector>,
        settings_headers: Vec<SettingsHeader>,
    }

    #[derive(Deserialize)]
    struct Vector {
        token: String,
        url: String,
        params: Vec<(String, String)>,
        algorithm: String,
        signature: String,
        checks: Vec<Check>,
    }

    #[derive(Deserialize)]
    struct Check {
        what: String,
        valid: bool,
        token: Option<String>,
        url: Option<String>,
        params: Option<Vec<(String, String)>>,
        signature: Option<String>,
    }

    #[derive(Deserialize)]
    struct BodyHashVector {
        token: String,
        url: String,
        body: String,
        signature: String,
        tampered_body: String,
    }

    #[derive(Deserialize)]
    struct SettingsHeader {
        header: Option<String>,
        algorithm: String,
    }

    fn fixture() -> Fixture {
        let raw = include_str!("../../fixtures/twilio_signatures.json");
        serde_json::from_str(raw).unwrap()
    }

    fn algorithm(name: &str) -> SignatureAlgorithm {
        match name {
            "HMAC_SHA1" => SignatureAlgorithm::HmacSha1,
            "HMAC_SHA256" => SignatureAlgorithm::HmacSha256,
            other => panic!("unexpected algorithm {other}"),
        }
    }

    #[test]
    fn reproduces_every_oracle_signature_and_verdict() {
        let f = fixture();
        assert!(f.vectors.len() >= 200, "only {} vectors", f.vectors.len());
        let mut checks = 0;
        for v in &f.vectors {
            let alg = algorithm(&v.algorithm);
            assert_eq!(
                compute_signature(&v.token, &v.url, &v.params, alg),
                v.signature,
                "signature for {} {:?}",
                v.url,
                v.params
            );
            for c in &v.checks {
                let token = c.token.as_deref().unwrap_or(&v.token);
                let url = c.url.as_deref().unwrap_or(&v.url);
                let params = c.params.as_deref().unwrap_or(&v.params);
                let sig = c.signature.as_deref().unwrap_or(&v.signature);
                let ours = verify_signature(token, url, params, sig, alg);
                assert_eq!(
                    ours.is_ok(),
                    c.valid,
                    "{} on {url} (twilio-python {}): ours {ours:?}",
                    c.what,
                    f.twilio_python_version
                );
                checks += 1;
            }
        }
        assert!(checks > 1000);
    }

    #[test]
    fn reproduces_the_documented_example() {
        // The worked example of Twilio's webhook security page.
        let params: Vec<(String, String)> = [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let sig = compute_signature("12345", url, &params, SignatureAlgorithm::HmacSha1);
        assert_eq!(sig, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
        assert!(verify_signature("12345", url, &params, &sig, Default::default()).is_ok());
    }

    #[test]
    fn json_bodies_are_bound_through_body_sha256() {
        let f = fixture();
        assert!(!f.body_hash_vectors.is_empty());
        for v in &f.body_hash_vectors {
            let alg = SignatureAlgorithm::HmacSha1;
            verify_json_request(&v.token, &v.url, v.body.as_bytes(), &v.signature, alg).unwrap();
            assert_eq!(
                verify_json_request(
                    &v.token,
                    &v.url,
                    v.tampered_body.as_bytes(),
                    &v.signature,
                    alg
                ),
                Err(SignatureError::BodyHashMismatch)
            );
            assert_eq!(
                verify_json_request("wrong", &v.url, v.body.as_bytes(), &v.signature, alg),
                Err(SignatureError::Mismatch)
            );
        }
        assert_eq!(
            verify_json_request(
                "t",
                "https://x.com/a",
                b"{}",
                "sig",
                SignatureAlgorithm::HmacSha1
            ),
            Err(SignatureError::MissingBodyHash)
        );
    }

    #[test]
    fn settings_header_matches_the_library() {
        for s in fixture().settings_headers {
            let ours = SignatureAlgorithm::from_settings_header(s.header.as_deref());
            match s.algorithm.to_ascii_uppercase().as_str() {
                "HMAC_SHA1" => assert_eq!(
                    ours,
                    Ok(SignatureAlgorithm::HmacSha1),
                    "{s:?}",
                    s = s.header
                ),
                "HMAC_SHA256" => {
                    assert_eq!(ours, Ok(SignatureAlgorithm::HmacSha256), "{:?}", s.header)
                }
                _ => assert_eq!(
                    ours,
                    Err(SignatureError::UnsupportedAlgorithm(s.algorithm.clone()))
                ),
            }
        }
    }

    #[test]
    fn empty_twiml_matches_the_library() {
        assert_eq!(
            crate::twilio::EMPTY_TWIML_RESPONSE,
            fixture().empty_messaging_response
        );
    }

    #[test]
    fn form_request_round_trip_and_refusals() {
        let body = b"Body=hello+there&From=%2B14155550199&To=%2B14155550100";
        let url = "https://example.com/twilio/sms";
        let form = FormParams::parse(body).unwrap();
        let sig = compute_signature("tok", url, form.pairs(), SignatureAlgorithm::HmacSha1);
        let ok = verify_form_request("tok", url, body, &sig, SignatureAlgorithm::HmacSha1).unwrap();
        assert_eq!(ok.get("Body"), Some("hello there"));
        // Header values may arrive with surrounding whitespace.
        let padded = format!(" {sig} ");
        assert!(verify_form_request("tok", url, body, &padded, Default::default()).is_ok());
        assert_eq!(
            verify_form_request("tok", url, body, "", Default::default()),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_form_request("tok", url, b"a=%FF", &sig, Default::default()),
            Err(SignatureError::MalformedBody(FormError::InvalidUtf8 {
                position: 0
            }))
        );
        let other = compute_signature("tok", url, form.pairs(), SignatureAlgorithm::HmacSha256);
        assert_eq!(
            verify_form_request("tok", url, body, &other, Default::default()),
            Err(SignatureError::Mismatch)
        );
        assert!(
            verify_form_request("tok", url, body, &other, SignatureAlgorithm::HmacSha256).is_ok()
        );
    }

    #[test]
    fn port_variants_cover_userinfo_ipv6_and_odd_urls() {
        let v = |u: &str| port_variants(u);
        assert_eq!(
            v("https://a.com/x"),
            ("https://a.com/x".into(), "https://a.com:443/x".into())
        );
        assert_eq!(
            v("http://a.com:8080?q=1:2"),
            (
                "http://a.com?q=1:2".into(),
                "http://a.com:8080?q=1:2".into()
            )
        );
        assert_eq!(
            v("https://u:p@a.com:8443/x"),
            (
                "https://u:p@a.com/x".into(),
                "https://u:p@a.com:8443/x".into()
            )
        );
        assert_eq!(
            v("http://[::1]:3000/x"),
            ("http://[::1]/x".into(), "http://[::1]:3000/x".into())
        );
        assert_eq!(
            v("http://[::1]/x"),
            ("http://[::1]/x".into(), "http://[::1]:80/x".into())
        );
        assert_eq!(v("not a url"), ("not a url".into(), "not a url".into()));
        assert_eq!(
            v("https://a.com#f:1"),
            ("https://a.com#f:1".into(), "https://a.com:443#f:1".into())
        );
    }
}
