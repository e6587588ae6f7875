//! Verified web visitors (WEB-16..19): a website signs a JWT for its logged-in user, the widget
//! presents it, and this module checks it against the keys of the deployment's keyset, uploaded
//! one by one or served by the website's JWKS endpoint.
//!
//! Only RS256 and ES256 are accepted, and the token's `alg` must equal the one of the key its
//! `kid` names: a token cannot pick `none` or HMAC and have the public key used as a shared
//! secret. Times are checked here against the engine's clock (with 60 s of leeway for clock
//! drift between the website and Parley), not by the JWT library, which reads the system clock.
//!
//! JWKS answers are cached for [`JWKS_TTL`]; a `kid` the cache does not know triggers one fetch,
//! at most every [`REFETCH_GAP`] per keyset, so a website that rotated its keys is picked up
//! quickly while a stream of forged kids cannot make Parley hammer the endpoint. Fetches go
//! through the media client's address guard: an admin-set URL may reach public hosts, and
//! loopback or private ones only where `media_fetch_allow_private` allows them (tests, demo).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use parley_channels::http::{HttpRequest, Method, RetrySafety};
use parley_core::Timestamp;
use parley_core::web::{JwkAlg, Keyset, PublicJwk, WebDeployment, check_jwk};
use parley_store::{Store, StoreError};
use serde_json::Value;
use uuid::Uuid;

use crate::transport::{AddressGuard, HttpTransport};

/// How long a fetched JWKS is trusted.
pub const JWKS_TTL: Duration = Duration::from_secs(10 * 60);
/// The least time between two fetches of one keyset's JWKS caused by unknown kids.
pub const REFETCH_GAP: Duration = Duration::from_secs(60);
/// Clock drift allowed on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECS: i64 = 60;
/// Longest `sub` accepted: it becomes the messaging user's platform key (`uid:<sub>`, at most 128).
pub const SUB_MAX: usize = 120;
/// Longest token read at all.
pub const TOKEN_MAX: usize = 8 * 1024;
/// Largest JWKS answer read.
const JWKS_MAX_BYTES: u64 = 256 * 1024;

/// A visitor the website vouched for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedIdentity {
    /// The website's user id (`sub`).
    pub sub: String,
    pub issuer: String,
}

/// Why an identity token was refused. The text is safe to show to the website's developer: it
/// says what to fix without echoing the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("the identity token has expired")]
    Expired,
    #[error("the identity token is not valid yet (nbf)")]
    NotYetValid,
    #[error("the identity token's issuer (iss) is not the keyset's")]
    WrongIssuer,
    #[error("no key of the deployment's keyset has the token's kid")]
    UnknownKid,
    #[error("the identity token's algorithm is not allowed: RS256 or ES256, matching the key")]
    BadAlgorithm,
    #[error("the identity token's signature does not verify")]
    BadSignature,
    #[error("the identity token is malformed: {0}")]
    Malformed(String),
    #[error("this deployment does not verify users (no keyset)")]
    NoKeyset,
    /// The keys could not be read now (database, JWKS endpoint): not the token's fault.
    #[error("the keys cannot be read now: {0}")]
    Unavailable(String),
}

/// Checks a visitor's identity token for `deployment` (see the module's text).
pub async fn verify_identity_token(
    engine: &crate::Engine,
    deployment: &WebDeployment,
    token: &str,
    now: Timestamp,
) -> Result<VerifiedIdentity, IdentityError> {
    engine.web_identity.verify(deployment, token, now).await
}

struct Fetched {
    url: String,
    keys: Vec<PublicJwk>,
    fetched_at: Timestamp,
    /// The last fetch tried (successful or not), for [`REFETCH_GAP`].
    attempted_at: Timestamp,
}

/// The verifier with its JWKS cache; cheap to clone (the cache is shared).
#[derive(Clone)]
pub struct WebIdentity {
    store: Store,
    http: Option<HttpTransport>,
    cache: Arc<Mutex<HashMap<Uuid, Fetched>>>,
    pub ttl: Duration,
    pub refetch_gap: Duration,
}

impl std::fmt::Debug for WebIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebIdentity").finish_non_exhaustive()
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn unavailable(e: StoreError) -> IdentityError {
    IdentityError::Unavailable(e.to_string())
}

/// The token's header, read before any key is chosen.
struct Header {
    alg: JwkAlg,
    kid: String,
}

fn read_header(token: &str) -> Result<Header, IdentityError> {
    if token.len() > TOKEN_MAX {
        return Err(IdentityError::Malformed(format!(
            "longer than {TOKEN_MAX} bytes"
        )));
    }
    let mut parts = token.split('.');
    let (Some(head), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(IdentityError::Malformed(
            "a JWT has three dot-separated parts".to_owned(),
        ));
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(head)
        .map_err(|_| IdentityError::Malformed("the header is not base64url".to_owned()))?;
    let header: Value = serde_json::from_slice(&bytes)
        .map_err(|_| IdentityError::Malformed("the header is not JSON".to_owned()))?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .and_then(|a| a.parse::<JwkAlg>().ok())
        .ok_or(IdentityError::BadAlgorithm)?;
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .ok_or(IdentityError::UnknownKid)?
        .to_owned();
    Ok(Header { alg, kid })
}

fn decoding_key(key: &PublicJwk) -> Result<DecodingKey, IdentityError> {
    let field = |name: &str| {
        key.jwk
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| IdentityError::Malformed(format!("the stored key has no {name}")))
    };
    let made = match key.alg {
        JwkAlg::Rs256 => DecodingKey::from_rsa_components(field("n")?, field("e")?),
        JwkAlg::Es256 => DecodingKey::from_ec_components(field("x")?, field("y")?),
    };
    made.map_err(|e| IdentityError::Malformed(format!("the stored key is unusable: {e}")))
}

fn seconds(claims: &Value, name: &str) -> Result<Option<i64>, IdentityError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| IdentityError::Malformed(format!("{name} is not a number"))),
    }
}

impl WebIdentity {
    /// `allow_private`: whether JWKS endpoints on loopback and private networks may be fetched
    /// (the engine's `media_fetch_allow_private`).
    pub fn new(store: Store, allow_private: bool) -> Self {
        let http = match HttpTransport::for_media(AddressGuard { allow_private }) {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::error!(error = %e, "no HTTP client: JWKS endpoints will not be fetched");
                None
            }
        };
        Self {
            store,
            http,
            cache: Arc::default(),
            ttl: JWKS_TTL,
            refetch_gap: REFETCH_GAP,
        }
    }

    pub async fn verify(
        &self,
        deployment: &WebDeployment,
        token: &str,
        now: Timestamp,
    ) -> Result<VerifiedIdentity, IdentityError> {
        let keyset_id = deployment.keyset_id.ok_or(IdentityError::NoKeyset)?;
        let header = read_header(token.trim())?;
        let keyset = match self.store.keyset(keyset_id).await {
            Ok(k) => k,
            Err(StoreError::NotFound { .. }) => return Err(IdentityError::NoKeyset),
            Err(e) => return Err(unavailable(e)),
        };
        let key = self
            .key(&keyset, &header.kid, now)
            .await?
            .ok_or(IdentityError::UnknownKid)?;
        if key.alg != header.alg {
            return Err(IdentityError::BadAlgorithm);
        }
        let alg = match key.alg {
            JwkAlg::Rs256 => Algorithm::RS256,
            JwkAlg::Es256 => Algorithm::ES256,
        };
        let mut validation = Validation::new(alg);
        // Times, issuer and subject are checked below against the engine's clock and rules.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<Value>(token.trim(), &decoding_key(&key)?, &validation)
            .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => IdentityError::BadSignature,
            jsonwebtoken::errors::ErrorKind::InvalidAlgorithm
            | jsonwebtoken::errors::ErrorKind::InvalidAlgorithmName => IdentityError::BadAlgorithm,
            _ => IdentityError::Malformed(e.to_string()),
        })?;
        let claims = data.claims;
        if !claims.is_object() {
            return Err(IdentityError::Malformed(
                "the claims are not a JSON object".to_owned(),
            ));
        }
        let iss = claims.get("iss").and_then(Value::as_str);
        if iss != Some(keyset.issuer.as_str()) {
            return Err(IdentityError::WrongIssuer);
        }
        let now_s = now.millis().div_euclid(1000);
        let exp = seconds(&claims, "exp")?
            .ok_or_else(|| IdentityError::Malformed("exp is required".to_owned()))?;
        if now_s > exp.saturating_add(LEEWAY_SECS) {
            return Err(IdentityError::Expired);
        }
        if let Some(nbf) = seconds(&claims, "nbf")?
            && nbf > now_s.saturating_add(LEEWAY_SECS)
        {
            return Err(IdentityError::NotYetValid);
        }
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .map(str::trim)
            .unwrap_or_default();
        if sub.is_empty() || sub.chars().count() > SUB_MAX || sub.chars().any(char::is_control) {
            return Err(IdentityError::Malformed(format!(
                "sub is required, 1-{SUB_MAX} characters"
            )));
        }
        Ok(VerifiedIdentity {
            sub: sub.to_owned(),
            issuer: keyset.issuer,
        })
    }

    /// The key with `kid`: an uploaded one, else one of the keyset's JWKS.
    async fn key(
        &self,
        keyset: &Keyset,
        kid: &str,
        now: Timestamp,
    ) -> Result<Option<PublicJwk>, IdentityError> {
        let uploaded = self
            .store
            .keyset_keys(keyset.id)
            .await
            .map_err(unavailable)?;
        if let Some(k) = uploaded.into_iter().find(|k| k.kid == kid) {
            return Ok(Some(PublicJwk {
                kid: k.kid,
                alg: k.alg,
                jwk: k.jwk,
            }));
        }
        let Some(url) = &keyset.jwks_url else {
            return Ok(None);
        };
        self.jwks_key(keyset.id, url, kid, now).await
    }

    async fn jwks_key(
        &self,
        keyset_id: Uuid,
        url: &str,
        kid: &str,
        now: Timestamp,
    ) -> Result<Option<PublicJwk>, IdentityError> {
        if !self.has_fresh(keyset_id, url, now) {
            self.load_stored(keyset_id, url).await?;
        }
        let (found, fresh, may_fetch) = {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            match cache.get(&keyset_id).filter(|f| f.url == url) {
                Some(f) => (
                    f.keys.iter().find(|k| k.kid == kid).cloned(),
                    now.millis() - f.fetched_at.millis() < millis(self.ttl),
                    now.millis() - f.attempted_at.millis() >= millis(self.refetch_gap),
                ),
                None => (None, false, true),
            }
        };
        if found.is_some() && fresh {
            return Ok(found);
        }
        if !may_fetch {
            // Fetched a moment ago: an unknown kid waits for the gap, a stale key is still used.
            return Ok(found);
        }
        match self.fetch(keyset_id, url, now).await {
            Ok(keys) => Ok(keys.into_iter().find(|k| k.kid == kid)),
            // A failed refresh keeps what was known: the endpoint being down must not log
            // every verified visitor out.
            Err(e) => found.map_or(Err(e), |k| Ok(Some(k))),
        }
    }

    fn has_fresh(&self, keyset_id: Uuid, url: &str, now: Timestamp) -> bool {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.get(&keyset_id).is_some_and(|f| {
            f.url == url && now.millis() - f.fetched_at.millis() < millis(self.ttl)
        })
    }

    /// Takes the stored answer (another node's fetch, or one from before a restart) when the
    /// memory has nothing newer.
    async fn load_stored(&self, keyset_id: Uuid, url: &str) -> Result<(), IdentityError> {
        let Some(stored) = self
            .store
            .keyset_jwks_cache(keyset_id)
            .await
            .map_err(unavailable)?
        else {
            return Ok(());
        };
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let newer = cache
            .get(&keyset_id)
            .is_none_or(|f| f.url != url || f.fetched_at < stored.fetched_at);
        if newer {
            let attempted_at = cache
                .get(&keyset_id)
                .filter(|f| f.url == url)
                .map_or(Timestamp(i64::MIN / 2), |f| f.attempted_at);
            cache.insert(
                keyset_id,
                Fetched {
                    url: url.to_owned(),
                    keys: keys_of(&stored.jwks),
                    fetched_at: stored.fetched_at,
                    attempted_at,
                },
            );
        }
        Ok(())
    }

    /// Fetches the JWKS now and caches it (memory and store).
    async fn fetch(
        &self,
        keyset_id: Uuid,
        url: &str,
        now: Timestamp,
    ) -> Result<Vec<PublicJwk>, IdentityError> {
        {
            // Marked before the request, so concurrent verifications do not fetch too.
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            match cache.get_mut(&keyset_id).filter(|f| f.url == url) {
                Some(f) => f.attempted_at = now,
                None => {
                    cache.insert(
                        keyset_id,
                        Fetched {
                            url: url.to_owned(),
                            keys: Vec::new(),
                            fetched_at: Timestamp(i64::MIN / 2),
                            attempted_at: now,
                        },
                    );
                }
            }
        }
        let jwks = self.get_jwks(url).await?;
        let keys = keys_of(&jwks);
        {
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            cache.insert(
                keyset_id,
                Fetched {
                    url: url.to_owned(),
                    keys: keys.clone(),
                    fetched_at: now,
                    attempted_at: now,
                },
            );
        }
        if let Err(e) = self
            .store
            .set_keyset_jwks_cache(keyset_id, url, &jwks, now)
            .await
        {
            tracing::warn!(error = %e, "the fetched JWKS could not be stored");
        }
        Ok(keys)
    }

    /// One GET of a JWKS endpoint: `{ "keys": [ ... ] }`.
    pub async fn get_jwks(&self, url: &str) -> Result<Value, IdentityError> {
        let http = self
            .http
            .as_ref()
            .ok_or_else(|| IdentityError::Unavailable("no HTTP client on this node".to_owned()))?;
        let request = HttpRequest {
            method: Method::Get,
            url: url.to_owned(),
            headers: vec![("accept".to_owned(), "application/json".to_owned())],
            body: Vec::new(),
            retry_safety: RetrySafety::NotIdempotent,
        };
        let response = http
            .download(&request, JWKS_MAX_BYTES)
            .await
            .map_err(|e| IdentityError::Unavailable(format!("fetching {url}: {e}")))?;
        if response.status != 200 {
            return Err(IdentityError::Unavailable(format!(
                "{url} answered {}",
                response.status
            )));
        }
        let jwks: Value = serde_json::from_slice(&response.body)
            .map_err(|_| IdentityError::Unavailable(format!("{url} did not answer JSON")))?;
        if !jwks.get("keys").is_some_and(Value::is_array) {
            return Err(IdentityError::Unavailable(format!(
                "{url} did not answer a JWKS ({{\"keys\": [...]}})"
            )));
        }
        Ok(jwks)
    }
}

/// The usable keys of a JWKS; keys that break the upload rules (small RSA, HMAC, ...) are left
/// out, as an upload of them would have been refused.
pub fn keys_of(jwks: &Value) -> Vec<PublicJwk> {
    jwks.get("keys")
        .and_then(Value::as_array)
        .map(|keys| {
            keys.iter()
                .filter_map(|k| match check_jwk(k) {
                    Ok(k) => Some(k),
                    Err(e) => {
                        tracing::debug!(error = %e, "a JWKS key is left out");
                        None
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}
