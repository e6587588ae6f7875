//! What a sign-in attempt may cost: how many attempts an address and an address-and-e-mail pair may
//! make, and how many password hashes run at once.
//!
//! Attempts are counted per source address (30 a minute) and per source address and e-mail (10 a
//! minute), never per e-mail alone: a stranger guessing an agent's password from elsewhere uses up
//! only their own allowance, and the agent still signs in from their own address. Guessing one
//! account from many addresses is slowed by the hash gate and argon2's cost instead. IPv6 sources
//! count per /64, the block one subscriber usually holds, so rotating addresses inside it gains
//! nothing. IPv4-mapped IPv6 addresses count as the IPv4 address.
//!
//! Each table holds at most [`MAX_KEYS`] keys and forgets a key only once its allowance has fully
//! come back (a forgotten key is the same as a fresh one). When a table is full of live keys a NEW
//! key is refused until room frees up; keys already held are never dropped to make room, so no
//! amount of traffic can reset a lock (the old map was cleared past 100,000 keys, which a flood of
//! addresses could use to reset every lock). The counting is GCRA: one instant per key, the time
//! at which its allowance would be whole again plus one interval.
//!
//! We keep our own table rather than governor's keyed limiter: a cap that refuses only new keys
//! needs to know whether a key is already held, and governor's keyed state store does not say.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::listen::address_block;

/// Sign-in attempts a minute from one address (one /64 for IPv6).
pub const PER_ADDRESS: u32 = 30;
/// Sign-in attempts a minute for one e-mail from one address.
pub const PER_ADDRESS_AND_EMAIL: u32 = 10;
/// Keys each table holds at most (about 60 bytes each).
pub const MAX_KEYS: usize = 100_000;
/// How long a sign-in waits for a hashing slot before it is refused with 429.
pub const HASH_WAIT: Duration = Duration::from_secs(2);
/// The most password hashes running at once: each argon2id hash holds 19 MiB for its duration.
pub const MAX_HASHES: usize = 8;

const WINDOW: Duration = Duration::from_secs(60);
/// A full table is swept at most this often: a sweep walks every key.
const FULL_SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Why an attempt may not go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The address, or the address and e-mail, used up its allowance.
    TooMany,
    /// The table is full of live keys and this one is new.
    Full,
}

/// Where an attempt comes from, as counted: the client's address block (see
/// [`crate::listen::address_block`]), or `None` for requests not over a socket (in-process tests).
type Source = Option<IpAddr>;

/// Allowances for one kind of key (the widget's limits use it too, with their own window).
#[derive(Debug)]
pub(crate) struct Table<K> {
    per_window: u32,
    window: Duration,
    /// Per key: when its allowance is whole again, plus one interval (GCRA's "theoretical
    /// arrival time").
    due: HashMap<K, Instant>,
    cap: usize,
    last_sweep: Instant,
}

impl<K: Hash + Eq> Table<K> {
    fn new(per_window: u32, cap: usize, now: Instant) -> Self {
        Self::with_window(per_window, WINDOW, cap, now)
    }

    /// `per_window` attempts per `window` for each key, at most `cap` keys.
    pub(crate) fn with_window(per_window: u32, window: Duration, cap: usize, now: Instant) -> Self {
        Self {
            per_window: per_window.max(1),
            window,
            due: HashMap::new(),
            cap,
            last_sweep: now,
        }
    }

    /// The time one attempt's allowance takes to come back.
    pub(crate) fn interval(&self) -> Duration {
        self.window / self.per_window
    }

    /// Takes one attempt from `key`'s allowance, or says why not.
    pub(crate) fn take(&mut self, key: K, now: Instant) -> Result<(), Refusal> {
        if now.saturating_duration_since(self.last_sweep) >= self.window {
            self.sweep(now);
        }
        let held = self.due.get(&key).copied();
        if held.is_none() && self.due.len() >= self.cap {
            if now.saturating_duration_since(self.last_sweep) >= FULL_SWEEP_EVERY {
                self.sweep(now);
            }
            if self.due.len() >= self.cap {
                return Err(Refusal::Full);
            }
        }
        let next = held.map_or(now, |due| due.max(now)) + self.interval();
        if next.saturating_duration_since(now) > self.window {
            return Err(Refusal::TooMany);
        }
        self.due.insert(key, next);
        Ok(())
    }

    /// Drops the keys whose allowance is whole again: they are indistinguishable from new ones.
    fn sweep(&mut self, now: Instant) {
        self.due.retain(|_, due| *due > now);
        self.last_sweep = now;
    }
}

#[derive(Debug)]
struct Tables {
    by_address: Table<Source>,
    by_pair: Table<(Source, [u8; 32])>,
}

/// Sign-in attempt allowances and the password-hashing gate, one per server.
#[derive(Debug)]
pub struct LoginLimiter {
    tables: Mutex<Tables>,
    hashes: std::sync::Arc<Semaphore>,
}

impl Default for LoginLimiter {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::new(MAX_KEYS, cores.clamp(2, MAX_HASHES))
    }
}

/// The e-mail as counted: case and surrounding space do not make another key, and a long e-mail
/// takes no more room than a short one.
fn email_key(email: &str) -> [u8; 32] {
    Sha256::digest(email.trim().to_lowercase().as_bytes()).into()
}

impl LoginLimiter {
    /// A limiter whose tables hold at most `cap` keys each and which lets `hashes` password
    /// hashes run at once.
    pub fn new(cap: usize, hashes: usize) -> Self {
        let now = Instant::now();
        Self {
            tables: Mutex::new(Tables {
                by_address: Table::new(PER_ADDRESS, cap, now),
                by_pair: Table::new(PER_ADDRESS_AND_EMAIL, cap, now),
            }),
            hashes: std::sync::Arc::new(Semaphore::new(hashes.max(1))),
        }
    }

    /// Takes one attempt for `email` from `addr`, or says why it may not be made.
    pub fn allow(&self, email: &str, addr: Option<IpAddr>) -> Result<(), Refusal> {
        self.allow_at(email, addr, Instant::now())
    }

    fn allow_at(&self, email: &str, addr: Option<IpAddr>, now: Instant) -> Result<(), Refusal> {
        let source = addr.map(address_block);
        let pair = (source, email_key(email));
        // A poisoned lock means a panic mid-update; refusing is the safe answer.
        let Ok(mut tables) = self.tables.lock() else {
            return Err(Refusal::Full);
        };
        // The address first: attempts it refuses never reach (and never fill) the pair table.
        tables.by_address.take(source, now)?;
        tables.by_pair.take(pair, now)
    }

    /// After a successful sign-in the pair starts afresh: the agent's own typos are forgiven.
    pub fn signed_in(&self, email: &str, addr: Option<IpAddr>) {
        if let Ok(mut tables) = self.tables.lock() {
            tables
                .by_pair
                .due
                .remove(&(addr.map(address_block), email_key(email)));
        }
    }

    /// A slot to hash a password in, waiting at most [`HASH_WAIT`]; `None` when the server is
    /// already hashing as many as it allows and none freed up in time.
    pub async fn hash_slot(&self) -> Option<OwnedSemaphorePermit> {
        tokio::time::timeout(HASH_WAIT, self.hashes.clone().acquire_owned())
            .await
            .ok()
            .and_then(Result::ok)
    }

    /// Keys held, per table (address, pair).
    pub fn len(&self) -> (usize, usize) {
        self.tables
            .lock()
            .map(|t| (t.by_address.due.len(), t.by_pair.due.len()))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    fn v4(n: u32) -> Option<IpAddr> {
        Some(IpAddr::V4(Ipv4Addr::from(n)))
    }

    const AGENT: u32 = 0x0a00_0001;
    const STRANGER: u32 = 0x0a00_0002;

    #[test]
    fn a_flood_of_new_keys_does_not_reset_a_lock() {
        let l = LoginLimiter::new(MAX_KEYS, 2);
        let now = Instant::now();
        for _ in 0..PER_ADDRESS_AND_EMAIL {
            l.allow_at("ada@example.com", v4(AGENT), now).unwrap();
        }
        assert_eq!(
            l.allow_at("ada@example.com", v4(AGENT), now),
            Err(Refusal::TooMany)
        );
        // 200,000 distinct addresses and e-mails at once: twice what the tables hold.
        let mut full = 0;
        for i in 0..200_000u32 {
            if l.allow_at(&format!("x{i}@example.com"), v4(0x2000_0000 + i), now)
                == Err(Refusal::Full)
            {
                full += 1;
            }
        }
        // The address table took MAX_KEYS - 1 newcomers (the agent's address was held), the rest
        // were refused; nothing held was dropped for them.
        assert_eq!(full, 200_000 - (MAX_KEYS - 1));
        assert_eq!(l.len(), (MAX_KEYS, MAX_KEYS));
        let later = now + Duration::from_secs(1);
        assert_eq!(
            l.allow_at("ada@example.com", v4(AGENT), later),
            Err(Refusal::TooMany),
            "the lock outlived the flood"
        );
    }

    #[test]
    fn a_full_table_frees_keys_whose_allowance_came_back() {
        let l = LoginLimiter::new(100, 2);
        let now = Instant::now();
        for i in 0..100 {
            l.allow_at("a@example.com", v4(i), now).unwrap();
        }
        assert_eq!(
            l.allow_at("a@example.com", v4(500), now),
            Err(Refusal::Full)
        );
        // One attempt's interval (2 s per address, 6 s per pair) later every key is whole again.
        let later = now + Duration::from_secs(7);
        l.allow_at("a@example.com", v4(500), later).unwrap();
        assert_eq!(l.len(), (1, 1));
    }

    #[test]
    fn a_stranger_cannot_lock_an_agent_out_from_the_agents_own_address() {
        let l = LoginLimiter::default();
        let now = Instant::now();
        let mut refused = 0;
        for _ in 0..100 {
            if l.allow_at("ada@example.com", v4(STRANGER), now).is_err() {
                refused += 1;
            }
        }
        assert_eq!(refused, 100 - PER_ADDRESS_AND_EMAIL);
        l.allow_at("ada@example.com", v4(AGENT), now).unwrap();
    }

    #[test]
    fn an_address_gets_thirty_a_minute_whatever_the_emails() {
        let l = LoginLimiter::default();
        let now = Instant::now();
        for i in 0..PER_ADDRESS {
            l.allow_at(&format!("u{i}@example.com"), v4(STRANGER), now)
                .unwrap();
        }
        assert_eq!(
            l.allow_at("other@example.com", v4(STRANGER), now),
            Err(Refusal::TooMany)
        );
        // One more every two seconds.
        let later = now + Duration::from_secs(2);
        l.allow_at("other@example.com", v4(STRANGER), later)
            .unwrap();
        assert_eq!(
            l.allow_at("other2@example.com", v4(STRANGER), later),
            Err(Refusal::TooMany)
        );
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let l = LoginLimiter::default();
        let now = Instant::now();
        let base: u128 = 0x2001_0db8_0001_0002 << 64;
        for i in 0..u128::from(PER_ADDRESS) {
            let a = IpAddr::V6(Ipv6Addr::from(base + i * 7919));
            l.allow_at(&format!("u{i}@example.com"), Some(a), now)
                .unwrap();
        }
        let same_64 = IpAddr::V6(Ipv6Addr::from(base + 0xffff));
        assert_eq!(
            l.allow_at("x@example.com", Some(same_64), now),
            Err(Refusal::TooMany)
        );
        let mapped = IpAddr::V6(Ipv4Addr::from(STRANGER).to_ipv6_mapped());
        l.allow_at("ada@example.com", Some(mapped), now).unwrap();
        for _ in 1..PER_ADDRESS_AND_EMAIL {
            l.allow_at("ada@example.com", v4(STRANGER), now).unwrap();
        }
        assert_eq!(
            l.allow_at("ADA@example.com ", Some(mapped), now),
            Err(Refusal::TooMany)
        );
    }

    #[test]
    fn signing_in_forgives_the_pair() {
        let l = LoginLimiter::default();
        let now = Instant::now();
        for _ in 0..PER_ADDRESS_AND_EMAIL {
            l.allow_at("ada@example.com", v4(AGENT), now).unwrap();
        }
        l.signed_in("ada@example.com", v4(AGENT));
        l.allow_at("ada@example.com", v4(AGENT), now).unwrap();
    }
}
