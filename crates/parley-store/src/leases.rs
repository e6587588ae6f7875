//! Named, expiring leases: at most one owner per name at a time, across every node sharing the
//! database. The outbound dispatcher holds `sender:{channel id}` for each sender it drives; any
//! other cluster-wide role (a router, a scheduler) can take a name of its own.
//!
//! Each operation is one statement, so it is atomic on both backends without advisory locks or
//! explicit row locks: taking a lease is an upsert whose update only applies when the lease has
//! expired or is already the caller's. Times are the caller's clock (milliseconds since the
//! epoch), so nodes are expected to keep their clocks roughly in step (NTP); a TTL of several
//! seconds absorbs the usual skew.

use std::time::Duration;

use parley_core::Timestamp;
use sqlx::FromRow;

use crate::{Result, Store, on_backend};

/// Who holds a lease, and until when.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Lease {
    pub name: String,
    pub owner: String,
    #[sqlx(try_from = "i64")]
    pub expires_at: Timestamp,
}

impl Lease {
    /// Whether the lease still binds at `now` (an expired one may be taken over by anyone).
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.expires_at > now
    }
}

impl Store {
    /// Takes the lease `name` for `owner` until `now + ttl`: inserted when nobody holds it, taken
    /// over when its holder let it expire, extended when `owner` holds it already. Returns
    /// whether `owner` holds it now.
    pub async fn try_acquire_lease(
        &self,
        name: &str,
        owner: &str,
        ttl: Duration,
        now: Timestamp,
    ) -> Result<bool> {
        let taken = on_backend!(self, write c => sqlx::query(
            "INSERT INTO leases (name, owner, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at \
             WHERE leases.owner = excluded.owner OR leases.expires_at <= $4")
            .bind(name).bind(owner).bind(now.plus(ttl).millis()).bind(now.millis())
            .execute(c).await.map(|r| r.rows_affected()))?;
        Ok(taken > 0)
    }

    /// Extends `owner`'s lease to `now + ttl`. False when `owner` no longer holds it (another
    /// owner took it over after it expired, or it was released): the caller must stop acting
    /// under it.
    pub async fn renew_lease(
        &self,
        name: &str,
        owner: &str,
        ttl: Duration,
        now: Timestamp,
    ) -> Result<bool> {
        let renewed = on_backend!(self, write c => sqlx::query(
            "UPDATE leases SET expires_at = $3 WHERE name = $1 AND owner = $2")
            .bind(name).bind(owner).bind(now.plus(ttl).millis())
            .execute(c).await.map(|r| r.rows_affected()))?;
        Ok(renewed > 0)
    }

    /// Gives the lease up at once (a clean shutdown), so another node need not wait for it to
    /// expire. False when `owner` did not hold it.
    pub async fn release_lease(&self, name: &str, owner: &str) -> Result<bool> {
        let released = on_backend!(self, write c => sqlx::query(
            "DELETE FROM leases WHERE name = $1 AND owner = $2")
            .bind(name).bind(owner).execute(c).await.map(|r| r.rows_affected()))?;
        Ok(released > 0)
    }

    /// The lease's last holder and its expiry, live or not ([`Lease::is_live`] tells); `None`
    /// when nobody ever took it or it was released.
    pub async fn lease_holder(&self, name: &str) -> Result<Option<Lease>> {
        Ok(on_backend!(self, read c => sqlx::query_as::<_, Lease>(
            "SELECT name, owner, expires_at FROM leases WHERE name = $1")
            .bind(name).fetch_optional(c).await)?)
    }
}
