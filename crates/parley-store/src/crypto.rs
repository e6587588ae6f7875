//! Encryption at rest (issue 16, PRIV-08, CH-37): the one place that turns a personal field or a
//! secret into what is stored, and back. Every query that writes or reads such a field goes
//! through these methods, so turning encryption on changes no query.
//!
//! Without a keyring they return their input unchanged. With one, a sealed value reads
//! `pk1:<key id>:<base64url(nonce || ciphertext)>` (XChaCha20-Poly1305): it names the key that
//! sealed it, so a rotation can tell what is left to re-encrypt, and anything without the prefix
//! is plaintext written before encryption was turned on and is returned as it is.
//!
//! Two kinds of seal. [`Store::seal_text`] draws a random 24-byte nonce: the same text gives a
//! different value each time. [`Store::seal_lookup`] derives the nonce from the value (HMAC-SHA256
//! under a key derived from the data key), so one value under one key always gives one stored
//! form and `WHERE platform_key = $1` keeps working (CH-37: a platform key must be deterministic).
//!
//! Each configured 32-byte key is never used directly: an encryption key, a lookup (nonce) key and
//! a check value are derived from it with HMAC-SHA256 under fixed labels. The check value is what
//! the database records per key id (table `crypto_keys`), so a start with the wrong key is refused
//! before anything is read or written.

use std::sync::{Arc, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{Result, Store, StoreError};

/// The prefix of every sealed value: format version 1.
pub const SEALED_PREFIX: &str = "pk1:";
/// The environment variable that holds the keyring (`PARLEY_ENCRYPTION_KEY`).
pub const KEY_ENV: &str = "PARLEY_ENCRYPTION_KEY";
/// The CLI option / configuration key that names a file holding the keyring.
pub const KEY_FILE_OPTION: &str = "--encryption-key-file";

const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const KEY_LEN: usize = 32;

type HmacSha256 = Hmac<Sha256>;

fn derive(key: &[u8], label: &[u8]) -> [u8; 32] {
    // A 32-byte key is always a valid HMAC key: new_from_slice cannot fail here.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return [0; 32],
    };
    mac.update(label);
    mac.finalize().into_bytes().into()
}

/// One data key: its id and what is derived from it.
struct DataKey {
    id: String,
    cipher: XChaCha20Poly1305,
    lookup_key: [u8; 32],
    check: String,
}

impl DataKey {
    fn new(id: String, raw: &[u8; KEY_LEN]) -> Result<Self> {
        let enc = derive(raw, b"parley/at-rest/v1/encryption");
        let cipher = XChaCha20Poly1305::new_from_slice(&enc)
            .map_err(|_| StoreError::Keys("an encryption key must be 32 bytes".to_owned()))?;
        Ok(Self {
            id,
            cipher,
            lookup_key: derive(raw, b"parley/at-rest/v1/lookup"),
            check: URL_SAFE_NO_PAD.encode(
                derive(raw, b"parley/at-rest/v1/check")
                    .get(..16)
                    .unwrap_or_default(),
            ),
        })
    }

    fn seal_with_nonce(&self, nonce: &[u8; NONCE_LEN], value: &str) -> String {
        let nonce_arr = XNonce::from(*nonce);
        // XChaCha20-Poly1305 only refuses plaintexts past 256 GiB, which no field comes near.
        let ct = self
            .cipher
            .encrypt(&nonce_arr, value.as_bytes())
            .unwrap_or_default();
        let mut raw = Vec::with_capacity(NONCE_LEN + ct.len());
        raw.extend_from_slice(nonce);
        raw.extend_from_slice(&ct);
        format!("{SEALED_PREFIX}{}:{}", self.id, URL_SAFE_NO_PAD.encode(raw))
    }

    fn seal_random(&self, value: &str) -> String {
        let nonce: [u8; NONCE_LEN] = rand::random();
        self.seal_with_nonce(&nonce, value)
    }

    fn seal_deterministic(&self, value: &str) -> String {
        let mut mac = match HmacSha256::new_from_slice(&self.lookup_key) {
            Ok(m) => m,
            Err(_) => return self.seal_random(value),
        };
        mac.update(value.as_bytes());
        let full: [u8; 32] = mac.finalize().into_bytes().into();
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(full.get(..NONCE_LEN).unwrap_or(&[0; NONCE_LEN]));
        self.seal_with_nonce(&nonce, value)
    }
}

/// The configured data keys, the first one active (it seals); the others only open what they
/// sealed, until a rotation has re-encrypted it all.
pub struct Keyring {
    keys: Vec<DataKey>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the keys themselves: only their ids.
        f.debug_struct("Keyring").field("ids", &self.ids()).finish()
    }
}

/// A sealed value taken apart: the key id and the raw nonce || ciphertext.
struct Sealed<'a> {
    key_id: &'a str,
    raw: Vec<u8>,
}

fn parse_sealed(stored: &str) -> Option<Sealed<'_>> {
    let rest = stored.strip_prefix(SEALED_PREFIX)?;
    let (key_id, body) = rest.split_once(':')?;
    if !valid_key_id(key_id) {
        return None;
    }
    let raw = URL_SAFE_NO_PAD.decode(body).ok()?;
    (raw.len() >= NONCE_LEN + TAG_LEN).then_some(Sealed { key_id, raw })
}

fn valid_key_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 32
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn decode_key(text: &str) -> Result<[u8; KEY_LEN]> {
    let text = text.trim();
    let bytes = STANDARD
        .decode(text)
        .or_else(|_| URL_SAFE.decode(text))
        .or_else(|_| URL_SAFE_NO_PAD.decode(text))
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text))
        .map_err(|_| {
            StoreError::Keys(format!(
                "an encryption key is not base64 (set {KEY_ENV} or {KEY_FILE_OPTION} to keys made by `parley keys generate`)"
            ))
        })?;
    <[u8; KEY_LEN]>::try_from(bytes.as_slice()).map_err(|_| {
        StoreError::Keys(format!(
            "an encryption key must be 32 bytes, this one is {} (make one with `parley keys generate`)",
            bytes.len()
        ))
    })
}

impl Keyring {
    /// Reads `key` or `id:key,id:key,...` (base64 keys; the first is active). A key without an id
    /// gets one made from its fingerprint, so two different keys never share an id.
    pub fn parse(spec: &str) -> Result<Self> {
        let mut keys: Vec<DataKey> = Vec::new();
        for part in spec
            .split([',', '\n'])
            .map(str::trim)
            .filter(|p| !p.is_empty() && !p.starts_with('#'))
        {
            let (id, key_text) = match part.split_once(':') {
                Some((id, k)) => (Some(id.trim().to_owned()), k),
                None => (None, part),
            };
            let raw = decode_key(key_text)?;
            let id = match id {
                Some(id) if valid_key_id(&id) => id,
                Some(id) => {
                    return Err(StoreError::Keys(format!(
                        "key id '{id}' must be 1 to 32 letters, digits, '-' or '_'"
                    )));
                }
                None => fingerprint(&raw),
            };
            if keys.iter().any(|k| k.id == id) {
                return Err(StoreError::Keys(format!("key id '{id}' is given twice")));
            }
            keys.push(DataKey::new(id, &raw)?);
        }
        if keys.is_empty() {
            return Err(StoreError::Keys(format!(
                "no encryption key in {KEY_ENV} / {KEY_FILE_OPTION}"
            )));
        }
        Ok(Self { keys })
    }

    /// A new random key, base64, as `parley keys generate` prints it.
    pub fn generate_key() -> String {
        let raw: [u8; KEY_LEN] = rand::random();
        STANDARD.encode(raw)
    }

    /// The key ids, active first.
    pub fn ids(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.id.clone()).collect()
    }

    pub fn active_id(&self) -> &str {
        self.keys.first().map(|k| k.id.as_str()).unwrap_or_default()
    }

    /// The check value the database records for `key_id`, if that key is configured.
    pub fn check_value(&self, key_id: &str) -> Option<&str> {
        self.key(key_id).map(|k| k.check.as_str())
    }

    fn key(&self, id: &str) -> Option<&DataKey> {
        self.keys.iter().find(|k| k.id == id)
    }

    fn active(&self) -> Option<&DataKey> {
        self.keys.first()
    }

    pub fn seal_text(&self, value: &str) -> String {
        match self.active() {
            Some(k) => k.seal_random(value),
            None => value.to_owned(),
        }
    }

    pub fn seal_lookup(&self, value: &str) -> String {
        match self.active() {
            Some(k) => k.seal_deterministic(value),
            None => value.to_owned(),
        }
    }

    pub fn open(&self, stored: &str) -> Result<String> {
        let Some(sealed) = parse_sealed(stored) else {
            return Ok(stored.to_owned());
        };
        let key = self.key(sealed.key_id).ok_or_else(|| {
            StoreError::Keys(format!(
                "a value is sealed with key '{}', which is not configured ({KEY_ENV} or {KEY_FILE_OPTION})",
                sealed.key_id
            ))
        })?;
        let (nonce, ct) = sealed.raw.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce)
            .map_err(|_| StoreError::Corrupt("a sealed value is too short".to_owned()))?;
        let plain = key.cipher.decrypt(&nonce, ct).map_err(|_| {
            StoreError::Corrupt(format!(
                "a value sealed with key '{}' failed its integrity check (altered, or the key is not the one that sealed it)",
                sealed.key_id
            ))
        })?;
        String::from_utf8(plain)
            .map_err(|_| StoreError::Corrupt("a sealed value is not UTF-8".to_owned()))
    }
}

/// An id for a key given without one: not secret (a keyed hash of a fixed label).
fn fingerprint(raw: &[u8; KEY_LEN]) -> String {
    let d = derive(raw, b"parley/at-rest/v1/key-id");
    format!(
        "k{}",
        URL_SAFE_NO_PAD
            .encode(d.get(..6).unwrap_or_default())
            .replace(['-', '_'], "x")
    )
}

/// Whether `stored` is a sealed value (whatever the key).
pub fn is_sealed(stored: &str) -> bool {
    parse_sealed(stored).is_some()
}

/// The id of the key that sealed `stored`, if it is sealed.
pub fn sealed_key_id(stored: &str) -> Option<&str> {
    parse_sealed(stored).map(|s| s.key_id)
}

/// Where a [`Store`] keeps its keyring: shared by every clone, so one `set_keyring` reaches all.
pub(crate) type KeySlot = Arc<RwLock<Option<Arc<Keyring>>>>;

impl Store {
    /// Installs (or, with `None`, removes) the keyring every clone of this store seals and opens
    /// with. Call [`Store::check_keys`] after it, before serving.
    pub fn set_keyring(&self, keyring: Option<Keyring>) {
        let mut slot = match self.keys.write() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        *slot = keyring.map(Arc::new);
    }

    pub fn keyring(&self) -> Option<Arc<Keyring>> {
        match self.keys.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The stored form of a value that queries compare for equality (a platform key, a phone
    /// number, an e-mail): the same input always gives the same output under one key, so
    /// `WHERE platform_key = ?` keeps working.
    pub fn seal_lookup(&self, value: &str) -> String {
        match self.keyring() {
            Some(k) => k.seal_lookup(value),
            None => value.to_owned(),
        }
    }

    /// Every stored form a looked-up value may have right now: the active key's, then the
    /// previous key's during a rotation (or the plaintext while `parley keys encrypt` has not
    /// reached every row). Lookups compare with `IN ($a, $b)` so a customer whose row has not
    /// been re-encrypted yet is still found, never created twice.
    pub fn lookup_forms(&self, value: &str) -> [String; 2] {
        match self.keyring() {
            Some(k) => {
                let first = k.seal_lookup(value);
                let second = match k.keys.get(1) {
                    Some(prev) => prev.seal_deterministic(value),
                    None => value.to_owned(),
                };
                [first, second]
            }
            None => [value.to_owned(), value.to_owned()],
        }
    }

    /// The stored form of a personal field or secret that is only ever read back (message text,
    /// names, profile picture URLs, pre-chat values, channel secrets, webhook signing secrets).
    pub fn seal_text(&self, value: &str) -> String {
        match self.keyring() {
            Some(k) => k.seal_text(value),
            None => value.to_owned(),
        }
    }

    /// A stored value read back: decrypts what [`Store::seal_text`] or [`Store::seal_lookup`]
    /// wrote, and returns plaintext written before encryption was turned on unchanged.
    pub fn open_text(&self, stored: &str) -> Result<String> {
        if !stored.starts_with(SEALED_PREFIX) {
            return Ok(stored.to_owned());
        }
        match self.keyring() {
            Some(k) => k.open(stored),
            None if is_sealed(stored) => Err(StoreError::Keys(format!(
                "stored data is encrypted and no key is configured: set {KEY_ENV} or {KEY_FILE_OPTION}"
            ))),
            None => Ok(stored.to_owned()),
        }
    }

    /// [`Store::open_text`] of an optional column.
    pub fn open_opt(&self, stored: Option<String>) -> Result<Option<String>> {
        stored.map(|s| self.open_text(&s)).transpose()
    }

    /// [`Store::seal_text`] of an optional value.
    pub fn seal_opt(&self, value: Option<&str>) -> Option<String> {
        value.map(|v| self.seal_text(v))
    }

    /// [`Store::seal_lookup`] of an optional value.
    pub fn seal_lookup_opt(&self, value: Option<&str>) -> Option<String> {
        value.map(|v| self.seal_lookup(v))
    }

    /// A JSON document holding secrets or customer text (channel secrets, a payload), sealed
    /// whole as one JSON string so the column keeps its JSON type on PostgreSQL.
    pub fn seal_json(&self, value: &serde_json::Value) -> serde_json::Value {
        if self.keyring().is_none() {
            return value.clone();
        }
        serde_json::Value::String(self.seal_text(&value.to_string()))
    }

    /// Reads back what [`Store::seal_json`] wrote; a document stored in the clear is returned as
    /// it is.
    pub fn open_json(&self, stored: serde_json::Value) -> Result<serde_json::Value> {
        match &stored {
            serde_json::Value::String(s) if is_sealed(s) => {
                let text = self.open_text(s)?;
                serde_json::from_str(&text)
                    .map_err(|e| StoreError::Corrupt(format!("a sealed JSON document: {e}")))
            }
            _ => Ok(stored),
        }
    }
}

/// Opening the records whose columns are sealed, right after a query reads them.
impl Store {
    pub(crate) fn open_user(
        &self,
        mut u: crate::records::MessagingUser,
    ) -> Result<crate::records::MessagingUser> {
        u.platform_key = self.open_text(&u.platform_key)?;
        u.name = self.open_text(&u.name)?;
        Ok(u)
    }

    pub(crate) fn open_users(
        &self,
        users: Vec<crate::records::MessagingUser>,
    ) -> Result<Vec<crate::records::MessagingUser>> {
        users.into_iter().map(|u| self.open_user(u)).collect()
    }

    pub(crate) fn open_entry(&self, mut e: crate::records::Entry) -> Result<crate::records::Entry> {
        e.body = self.open_text(&e.body)?;
        Ok(e)
    }

    pub(crate) fn open_entries(
        &self,
        entries: Vec<crate::records::Entry>,
    ) -> Result<Vec<crate::records::Entry>> {
        entries.into_iter().map(|e| self.open_entry(e)).collect()
    }

    /// The forms of an address shown with a `whatsapp:` prefix (the Twilio-compatible API's
    /// `To`): the prefix stays in the clear, the number is sealed for lookup.
    pub(crate) fn address_forms(&self, address: &str) -> [String; 2] {
        let (prefix, number) = match address.strip_prefix("whatsapp:") {
            Some(n) => ("whatsapp:", n),
            None => ("", address),
        };
        self.lookup_forms(number).map(|f| format!("{prefix}{f}"))
    }

    pub(crate) fn open_address(&self, stored: &str) -> Result<String> {
        match stored.strip_prefix("whatsapp:") {
            Some(n) => Ok(format!("whatsapp:{}", self.open_text(n)?)),
            None => self.open_text(stored),
        }
    }

    pub(crate) fn open_channel(&self, mut ch: crate::Channel) -> Result<crate::Channel> {
        ch.secrets = self.open_json(ch.secrets)?;
        Ok(ch)
    }

    pub(crate) fn open_channels(&self, chs: Vec<crate::Channel>) -> Result<Vec<crate::Channel>> {
        chs.into_iter().map(|c| self.open_channel(c)).collect()
    }

    pub(crate) fn open_contact(
        &self,
        mut c: crate::records::Contact,
    ) -> Result<crate::records::Contact> {
        c.first_name = self.open_text(&c.first_name)?;
        c.last_name = self.open_text(&c.last_name)?;
        c.phone = self.open_opt(c.phone)?;
        c.email = self.open_opt(c.email)?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(spec: &str) -> Keyring {
        Keyring::parse(spec).unwrap()
    }

    fn key() -> String {
        Keyring::generate_key()
    }

    #[test]
    fn round_trip_randomized_and_deterministic() {
        let k = ring(&format!("a:{}", key()));
        let s1 = k.seal_text("Bonjour, ma carte est 4111");
        let s2 = k.seal_text("Bonjour, ma carte est 4111");
        assert!(s1.starts_with("pk1:a:"), "{s1}");
        assert_ne!(s1, s2, "randomized seals differ");
        assert_eq!(k.open(&s1).unwrap(), "Bonjour, ma carte est 4111");
        assert_eq!(k.open(&s2).unwrap(), "Bonjour, ma carte est 4111");
        let l1 = k.seal_lookup("+447400123456");
        assert_eq!(l1, k.seal_lookup("+447400123456"), "deterministic");
        assert_ne!(l1, k.seal_lookup("+447400123457"));
        assert!(!l1.contains("447400123456"));
        assert_eq!(k.open(&l1).unwrap(), "+447400123456");
        assert_eq!(k.open("").unwrap(), "");
        assert_eq!(k.open(&k.seal_text("")).unwrap(), "");
    }

    #[test]
    fn plaintext_passes_through() {
        let k = ring(&key());
        assert_eq!(k.open("hello").unwrap(), "hello");
        // Looks like the prefix but is not a sealed value: text a customer could have written.
        assert_eq!(k.open("pk1:not sealed").unwrap(), "pk1:not sealed");
        assert_eq!(k.open("pk1:a:short").unwrap(), "pk1:a:short");
    }

    #[test]
    fn tamper_is_detected() {
        let k = ring(&format!("a:{}", key()));
        let sealed = k.seal_text("secret");
        let (head, body) = sealed.rsplit_once(':').unwrap();
        let mut raw = URL_SAFE_NO_PAD.decode(body).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        let altered = format!("{head}:{}", URL_SAFE_NO_PAD.encode(&raw));
        assert!(matches!(k.open(&altered), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn wrong_key_is_refused() {
        let right = ring(&format!("a:{}", key()));
        let wrong_same_id = ring(&format!("a:{}", key()));
        let other_id = ring(&format!("b:{}", key()));
        let sealed = right.seal_text("secret");
        assert!(matches!(
            wrong_same_id.open(&sealed),
            Err(StoreError::Corrupt(_))
        ));
        let err = other_id.open(&sealed).unwrap_err();
        assert!(err.to_string().contains("'a'"), "{err}");
        assert_ne!(right.check_value("a"), wrong_same_id.check_value("a"));
    }

    #[test]
    fn rotation_keeps_old_values_readable() {
        let old = key();
        let new = key();
        let before = ring(&format!("old:{old}"));
        let sealed = before.seal_lookup("+15551234567");
        let after = ring(&format!("new:{new},old:{old}"));
        assert_eq!(after.active_id(), "new");
        assert_eq!(after.open(&sealed).unwrap(), "+15551234567");
        let resealed = after.seal_lookup("+15551234567");
        assert_eq!(sealed_key_id(&resealed), Some("new"));
        assert_eq!(after.keys[1].seal_deterministic("+15551234567"), sealed);
    }

    #[test]
    fn keys_are_checked_when_read() {
        assert!(Keyring::parse("").is_err());
        assert!(Keyring::parse("a:bm90IDMyIGJ5dGVz").is_err());
        assert!(Keyring::parse("a b:AAAA").is_err());
        let k = key();
        assert!(Keyring::parse(&format!("a:{k},a:{k}")).is_err());
        let anon = ring(&k);
        assert!(valid_key_id(anon.active_id()));
        assert_eq!(anon.active_id(), ring(&k).active_id());
        assert!(!format!("{anon:?}").contains(&k));
    }
}
