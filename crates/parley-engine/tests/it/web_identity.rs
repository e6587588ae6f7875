//! Visitors' identity tokens (WEB-17..19), with keys made here: what verifies, what is refused and
//! why, and the JWKS endpoint's cache (fetch counts).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::ecdsa::SigningKey;
use p256::pkcs8::EncodePrivateKey;
use parley_core::Timestamp;
use parley_core::model::*;
use parley_core::web::*;
use parley_engine::service::web::{self as svc, KeysetInput, WebDeploymentInput};
use parley_engine::web_identity::{IdentityError, WebIdentity};
use parley_store::testing::{TestBackend, fresh};
use parley_store::{ChannelSpec, Store};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{Value, json};

const ISS: &str = "https://shop.example.com";
/// The tokens' "now": 2026-12-04 in seconds.
const NOW_S: i64 = 1_796_400_000;
const NOW: Timestamp = Timestamp(NOW_S * 1000);

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

struct RsaKey {
    der: Vec<u8>,
    n: Vec<u8>,
    e: Vec<u8>,
}

fn rsa_key(bits: usize) -> RsaKey {
    let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, bits).unwrap();
    RsaKey {
        der: key.to_pkcs1_der().unwrap().as_bytes().to_vec(),
        n: key.n().to_bytes_be(),
        e: key.e().to_bytes_be(),
    }
}

/// One 2048-bit key for the whole binary: making one takes a while in a debug build.
fn rsa2048() -> &'static RsaKey {
    static KEY: OnceLock<RsaKey> = OnceLock::new();
    KEY.get_or_init(|| rsa_key(2048))
}

fn rsa_jwk(key: &RsaKey, kid: &str) -> Value {
    json!({"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": b64(&key.n), "e": b64(&key.e)})
}

struct EcKey {
    der: Vec<u8>,
    jwk: Value,
}

fn ec_key(kid: &str) -> EcKey {
    let sk = SigningKey::random(&mut rand_core::OsRng);
    let point = sk.verifying_key().to_encoded_point(false);
    EcKey {
        der: sk.to_pkcs8_der().unwrap().as_bytes().to_vec(),
        jwk: json!({"kty": "EC", "kid": kid, "alg": "ES256", "crv": "P-256",
            "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap())}),
    }
}

fn claims(sub: &str) -> Value {
    json!({"sub": sub, "iss": ISS, "exp": NOW_S + 600, "iat": NOW_S})
}

fn rs256(kid: &str, claims: &Value) -> String {
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&h, claims, &EncodingKey::from_rsa_der(&rsa2048().der)).unwrap()
}

fn web_channel() -> ChannelSpec {
    ChannelSpec {
        name: "Shop chat".into(),
        kind: ChannelKind::Web,
        provider: Provider::Web,
        address: "shop".into(),
        number_type: None,
        provider_keyword: None,
        country: None,
        consent_level: ConsentLevel::Implicit,
        queue_id: None,
        throughput_mps: None,
        settings: json!({}),
        secrets: json!({}),
    }
}

/// A deployment on a fresh web channel whose keyset has `issuer` = [`ISS`] and `jwks_url`.
async fn deployment(store: &Store, jwks_url: Option<String>) -> WebDeployment {
    let ch = store.create_channel(&web_channel(), NOW).await.unwrap();
    let ks = svc::create_keyset(
        store,
        &KeysetInput {
            name: "Shop".into(),
            issuer: ISS.into(),
            jwks_url,
        },
        NOW,
    )
    .await
    .unwrap();
    let input: WebDeploymentInput = serde_json::from_value(json!({
        "name": "shop", "channel_id": ch.id, "origins": ["https://shop.example.com"],
        "keyset_id": ks.id
    }))
    .unwrap();
    svc::create_deployment(store, &input, NOW).await.unwrap()
}

fn hs256_with_public_key(kid: &str, secret: &[u8]) -> String {
    let mut h = Header::new(Algorithm::HS256);
    h.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&h, &claims("mallory"), &EncodingKey::from_secret(secret)).unwrap()
}

fn unsigned(kid: &str) -> String {
    let head = b64(json!({"alg": "none", "typ": "JWT", "kid": kid})
        .to_string()
        .as_bytes());
    let body = b64(claims("mallory").to_string().as_bytes());
    format!("{head}.{body}.")
}

async fn uploaded_keys(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let d = deployment(s, None).await;
    let ks = d.keyset_id.unwrap();
    // Upload rules (WEB-17/18): one object per upload, RSA >= 2048 bits.
    let small = rsa_key(1024);
    let err = svc::upload_key(s, ks, &rsa_jwk(&small, "small"), NOW)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("at least 2048 bits"), "{err}");
    let err = svc::upload_key(s, ks, &json!([rsa_jwk(rsa2048(), "k1")]), NOW)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not an array"), "{err}");
    svc::upload_key(s, ks, &rsa_jwk(rsa2048(), "k1"), NOW)
        .await
        .unwrap();
    let ec = ec_key("e1");
    svc::upload_key(s, ks, &ec.jwk, NOW).await.unwrap();

    let v = WebIdentity::new(s.clone(), true);
    let ok = v
        .verify(&d, &rs256("k1", &claims("user-123")), NOW)
        .await
        .unwrap();
    assert_eq!((ok.sub.as_str(), ok.issuer.as_str()), ("user-123", ISS));

    // ES256 with a P-256 key.
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some("e1".into());
    let es =
        jsonwebtoken::encode(&h, &claims("user-9"), &EncodingKey::from_ec_der(&ec.der)).unwrap();
    assert_eq!(v.verify(&d, &es, NOW).await.unwrap().sub, "user-9");

    let refused = |token: String| {
        let v = v.clone();
        let d = d.clone();
        async move { v.verify(&d, &token, NOW).await.unwrap_err() }
    };
    let mut c = claims("u");
    c["exp"] = json!(NOW_S - 61);
    assert_eq!(refused(rs256("k1", &c)).await, IdentityError::Expired);
    // Within the 60 s leeway.
    c["exp"] = json!(NOW_S - 59);
    assert!(v.verify(&d, &rs256("k1", &c), NOW).await.is_ok());
    let mut c = claims("u");
    c["nbf"] = json!(NOW_S + 61);
    assert_eq!(refused(rs256("k1", &c)).await, IdentityError::NotYetValid);
    let mut c = claims("u");
    c["iss"] = json!("https://evil.example.com");
    assert_eq!(refused(rs256("k1", &c)).await, IdentityError::WrongIssuer);
    assert_eq!(
        refused(rs256("nope", &claims("u"))).await,
        IdentityError::UnknownKid
    );
    assert_eq!(refused(unsigned("k1")).await, IdentityError::BadAlgorithm);
    // The key confusion: HMAC keyed with the RSA public key's bytes (as a JWK or DER).
    let public = rsa_jwk(rsa2048(), "k1").to_string();
    assert_eq!(
        refused(hs256_with_public_key("k1", public.as_bytes())).await,
        IdentityError::BadAlgorithm
    );
    assert_eq!(
        refused(hs256_with_public_key("k1", &rsa2048().n)).await,
        IdentityError::BadAlgorithm
    );
    // An ES256 header on the RSA key's kid.
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some("k1".into());
    let wrong = jsonwebtoken::encode(&h, &claims("u"), &EncodingKey::from_ec_der(&ec.der)).unwrap();
    assert_eq!(refused(wrong).await, IdentityError::BadAlgorithm);
    // Signed by another key under a known kid.
    let other = rsa_key(2048);
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some("k1".into());
    let forged =
        jsonwebtoken::encode(&h, &claims("u"), &EncodingKey::from_rsa_der(&other.der)).unwrap();
    assert_eq!(refused(forged).await, IdentityError::BadSignature);
    // Claims.
    let mut c = claims("u");
    c.as_object_mut().unwrap().remove("exp");
    assert!(matches!(
        refused(rs256("k1", &c)).await,
        IdentityError::Malformed(_)
    ));
    for sub in [json!(""), json!(null), json!("x".repeat(121)), json!(42)] {
        let mut c = claims("u");
        c["sub"] = sub;
        assert!(matches!(
            refused(rs256("k1", &c)).await,
            IdentityError::Malformed(_)
        ));
    }
    assert!(matches!(
        refused("a.b".into()).await,
        IdentityError::Malformed(_)
    ));
    assert!(matches!(
        refused("!!.b.c".into()).await,
        IdentityError::Malformed(_)
    ));

    // No keyset: nothing to verify with.
    let mut open = d.clone();
    open.keyset_id = None;
    assert_eq!(
        v.verify(&open, &rs256("k1", &claims("u")), NOW)
            .await
            .unwrap_err(),
        IdentityError::NoKeyset
    );
    // A removed key no longer verifies.
    svc::remove_key(s, ks, "k1").await.unwrap();
    assert_eq!(
        refused(rs256("k1", &claims("u"))).await,
        IdentityError::UnknownKid
    );
}

#[derive(Default)]
struct Jwks {
    keys: Mutex<Vec<Value>>,
    fetches: AtomicUsize,
}

async fn jwks_server(jwks: Arc<Jwks>) -> String {
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let jwks = jwks.clone();
            async move {
                jwks.fetches.fetch_add(1, Ordering::SeqCst);
                let keys = jwks.keys.lock().unwrap().clone();
                axum::Json(json!({ "keys": keys }))
            }
        }),
    );
    let base = parley_testkit::fake::serve(app).await;
    format!("{base}/jwks")
}

async fn jwks_endpoint(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let jwks = Arc::new(Jwks::default());
    jwks.keys.lock().unwrap().push(rsa_jwk(rsa2048(), "k1"));
    // A key that breaks the upload rules is left out of what the endpoint serves.
    jwks.keys
        .lock()
        .unwrap()
        .push(rsa_jwk(&rsa_key(1024), "weak"));
    let url = jwks_server(jwks.clone()).await;
    let d = deployment(s, Some(url.clone())).await;
    let fetches = || jwks.fetches.load(Ordering::SeqCst);

    let v = WebIdentity::new(s.clone(), true);
    let mut long = claims("u1");
    long["exp"] = json!(NOW_S + 3600);
    let token = rs256("k1", &long);
    assert_eq!(v.verify(&d, &token, NOW).await.unwrap().sub, "u1");
    assert_eq!(fetches(), 1);
    // Cached.
    for _ in 0..3 {
        v.verify(&d, &token, Timestamp(NOW.0 + 1000)).await.unwrap();
    }
    assert_eq!(fetches(), 1);
    // An unknown kid fetches once, then not again within the minute.
    let unknown = rs256("k2", &claims("u1"));
    let at = Timestamp(NOW.0 + 61_000);
    assert_eq!(
        v.verify(&d, &unknown, at).await.unwrap_err(),
        IdentityError::UnknownKid
    );
    assert_eq!(fetches(), 2);
    for i in 0..5 {
        let t = Timestamp(at.0 + i * 1000);
        assert_eq!(
            v.verify(&d, &unknown, t).await.unwrap_err(),
            IdentityError::UnknownKid
        );
    }
    assert_eq!(fetches(), 2);
    let weak = rs256("weak", &claims("u1"));
    assert_eq!(
        v.verify(&d, &weak, at).await.unwrap_err(),
        IdentityError::UnknownKid
    );
    // Rotated in: seen after the gap.
    jwks.keys.lock().unwrap().push(rsa_jwk(rsa2048(), "k2"));
    let later = Timestamp(at.0 + 60_000);
    assert_eq!(v.verify(&d, &unknown, later).await.unwrap().sub, "u1");
    assert_eq!(fetches(), 3);

    // Another node (a fresh verifier) starts from the stored answer: no fetch.
    let other = WebIdentity::new(s.clone(), true);
    other.verify(&d, &unknown, later).await.unwrap();
    assert_eq!(fetches(), 3);
    // After the TTL the keys are fetched again.
    let expired = Timestamp(later.0 + 11 * 60_000);
    other.verify(&d, &token, expired).await.unwrap();
    assert_eq!(fetches(), 4);

    // Loopback is refused unless private addresses are allowed.
    let guarded = WebIdentity::new(s.clone(), false);
    let fresh_keyset = svc::create_keyset(
        s,
        &KeysetInput {
            name: "Other".into(),
            issuer: ISS.into(),
            jwks_url: Some(url),
        },
        NOW,
    )
    .await
    .unwrap();
    let mut d2 = d.clone();
    d2.keyset_id = Some(fresh_keyset.id);
    let err = guarded.verify(&d2, &token, NOW).await.unwrap_err();
    assert!(matches!(err, IdentityError::Unavailable(_)), "{err}");
    assert_eq!(fetches(), 4);
}

parley_store::on_both_backends!(uploaded_keys, jwks_endpoint);
