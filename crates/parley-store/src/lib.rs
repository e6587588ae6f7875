//! Parley's storage. One [`Store`] serves both databases: SQLite (the embedded default: one file,
//! WAL, one writer connection and a pool of readers) and PostgreSQL (any number of nodes sharing one
//! database). Each backend has its own migrations; a query that reads the same on both is written
//! once and run on either through [`on_backend!`], while the few that differ (claiming jobs) are
//! written per backend side by side. SQL lives here and nowhere else.
//!
//! Conventions shared by both schemas: ids are UUIDv7 made in Rust, times are milliseconds since
//! the epoch in a 64-bit integer, enums are stored as their wire names, phone numbers as E.164.
#![cfg_attr(
    test,
    allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

mod access;
mod audit;
pub use audit::{AuditFilter, AuditRecord};
pub mod bulk;
mod campaigns;
mod closures;
pub use closures::ConversationClosure;
mod config;
mod console;
mod conversations;
mod crm;
mod crypto;
pub use crypto::{KEY_ENV, KEY_FILE_OPTION, Keyring, SEALED_PREFIX, is_sealed, sealed_key_id};
mod crypto_state;
pub use crypto_state::{CryptoKeyRow, CryptoStatus, KeyCheck, ResealStep};
mod dead_letters;
mod error;
mod flows;
mod import;
mod inbound;
mod jobs;
pub mod leases;
mod notes;
pub use notes::{NOTES_OF_SESSION, NewNote, Note, Tagged, TimelineNote};
mod notifications;
mod notify;
pub mod outbox;
mod outgoing;
mod outreach;
mod permissions;
pub mod privacy;
pub use permissions::{
    AGENT_PERMISSIONS_SQL, LAST_MANAGER, StoredPermissionSet, TOKEN_PERMISSIONS_SQL,
    builtin_permission_set_id,
};
mod processes;
mod quick_texts;
mod records;
mod retention;
pub use retention::{RetentionPolicyRow, RetentionRemoved};
pub mod reports;
mod routing_rules;
pub mod search;
pub use search::{ClosedSession, ReindexStep, SearchHit, SearchKey};
mod sensitive_data;
pub use sensitive_data::StoredSensitiveDataRule;
pub mod sender_limits;
mod simulator;
mod subscriptions;
mod templates;
#[cfg(feature = "testing")]
pub mod testing;
mod tokens;
mod translations;
pub use tokens::{LAST_USED_GRANULARITY_MS, NewApiToken};
pub use translations::{Translation, TranslationKey};
mod twilio;
mod uploads;
pub use uploads::AgentUpload;
mod web;
pub use web::{JwksCache, StoredJwk};
mod web_visitors;
pub use web_visitors::{
    LAST_SEEN_GRANULARITY_MS, MAX_HISTORY_SESSIONS, NewWebVisitor, WebEntryQuery, WebSessionData,
    WebSessionWrite, WebVisitor,
};

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use campaigns::{
    Attribution, AudienceList, CampaignBatch, CampaignMessage, ExportRow, LinkTarget, ListMember,
    ReplyKind, Segment, SegmentSpec, StoredCampaign, campaign_group,
};
pub use console::{
    AcceptWrite, AgentLoadRow, ConsoleChange, ConsoleEvent, ConsoleEventKind, ConsoleListener,
    ConsoleLogin, GuardedSession, NewConsoleEvent, OfferWrite, ReadMarker, RoutingWork,
    SessionSummary, TimelineRow, WaitingSession,
};
pub use conversations::{ConsentOrigin, MessagingUserFilter, SessionFilter};
pub use dead_letters::{DEAD_LETTER_QUEUE, DeadLetter, DeadLetterWrite};
pub use error::{Result, StoreError};
pub use flows::{FlowRun, FlowRunWrite, FlowSaved, OpenRuns, StoredFlow};
pub use import::{ConsentChange, ImportWritten, ProfileMerge, UserImportBatch, UserUpdate};
pub use inbound::{
    CaseInsert, ConsentWrite, ContactInsert, ContactLink, InboundWrite, ReplyWrite,
    UserConversation, UserInsert,
};
pub use jobs::{ClaimRequest, JobFailure, QueueCounts};
pub use notifications::{NotificationError, NotificationErrorWrite, NotificationRecord};
pub use notify::{ConfigChange, ConfigListener};
pub use outgoing::StoredMedia;
pub use outreach::{
    EarlierSend, IDEMPOTENCY_TTL_MILLIS, IdempotencyKey, OutreachTarget, OutreachWritten,
    SendOrigin,
};
pub use processes::{SmsProcessSpec, StoredSmsProcess};
pub use quick_texts::{QuickText, QuickTextSpec};
pub use records::*;
pub use routing_rules::{RoutingRuleSpec, StoredRoutingRule};
pub use simulator::NewSimulatorMessage;
pub use subscriptions::{
    DeliveryAttempt, NewDelivery, SubscriptionSpec, WebhookDelivery, WebhookSubscription,
};
pub use twilio::{
    TwilioAccount, TwilioMessage, TwilioMessageFilter, TwilioMessagingService, TwilioPageCursor,
};

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub(crate) enum Backend {
    /// Writes go through the single writer connection, so SQLite never has to upgrade a read lock
    /// to a write lock under contention; reads use the pool.
    Sqlite {
        writer: SqlitePool,
        reader: SqlitePool,
    },
    Postgres(PgPool),
}

/// Runs `$body` with `$c` bound to the right pool of whichever backend the store uses. `read`
/// takes SQLite's reader pool: in WAL mode a read sees every transaction committed before it
/// began, so reading right after a write through the writer sees that write. The body is
/// written once and compiled for each backend, so a query that reads the same on both has one text.
macro_rules! on_backend {
    ($store:expr, read $c:ident => $body:expr) => {
        match &$store.backend {
            $crate::Backend::Sqlite { reader: $c, .. } => $body,
            $crate::Backend::Postgres($c) => $body,
        }
    };
    ($store:expr, write $c:ident => $body:expr) => {
        match &$store.backend {
            $crate::Backend::Sqlite { writer: $c, .. } => $body,
            $crate::Backend::Postgres($c) => $body,
        }
    };
}
pub(crate) use on_backend;

/// Connection settings beyond the URL.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Reader connections for SQLite, or the whole pool for PostgreSQL.
    pub max_connections: u32,
    pub busy_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// The handle every other layer uses. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pub(crate) backend: Backend,
    pub(crate) keys: crypto::KeySlot,
    pub(crate) search_key: search::SearchKeySlot,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.kind())
            .finish()
    }
}

impl Store {
    /// Opens the database named by `url` (`sqlite://path`, `sqlite::memory:`, `postgres://...`),
    /// creating a SQLite file if missing. It does not migrate; call [`Store::migrate`].
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Self> {
        if url.starts_with("sqlite:") {
            Self::connect_sqlite(url, options).await
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(options.max_connections.max(2))
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts)
                .await?;
            Ok(Self {
                backend: Backend::Postgres(pool),
                keys: Default::default(),
                search_key: Default::default(),
            })
        } else {
            Err(StoreError::UnsupportedUrl(url.to_owned()))
        }
    }

    async fn connect_sqlite(url: &str, options: &StoreOptions) -> Result<Self> {
        let base = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(options.busy_timeout)
            .foreign_keys(true)
            // Deleted content is overwritten, not left in free pages: an erasure must leave no
            // trace in the file (issue 16).
            .pragma("secure_delete", "ON")
            .pragma("temp_store", "memory")
            // Each connection keeps its own page cache; the default 2 MB makes busy connections
            // re-read pages through the kernel. A larger cache and memory-mapped reads keep hot
            // pages in the process. The map covers the database up to SQLite's own limit
            // (2 GiB): pages past the map are read by a system call each, and those are the
            // newest (what a campaign appends to a database of a million people, at 450 MB).
            .pragma("cache_size", "-32768")
            .pragma("mmap_size", "2147418112");
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(base.clone())
            .await?;
        // An in-memory database exists only on its own connection, so it reads through the writer.
        let reader = if in_memory {
            writer.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(options.max_connections.max(1))
                .connect_with(base.read_only(true))
                .await?
        };
        Ok(Self {
            backend: Backend::Sqlite { writer, reader },
            keys: Default::default(),
            search_key: Default::default(),
        })
    }

    pub fn kind(&self) -> BackendKind {
        match self.backend {
            Backend::Sqlite { .. } => BackendKind::Sqlite,
            Backend::Postgres(_) => BackendKind::Postgres,
        }
    }

    /// Applies the backend's embedded migrations; running it again changes nothing.
    pub async fn migrate(&self) -> Result<()> {
        match &self.backend {
            Backend::Sqlite { writer, .. } => {
                sqlx::migrate!("./migrations/sqlite").run(writer).await?
            }
            Backend::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// Whether the database answers, for `/readyz`.
    pub async fn ping(&self) -> Result<()> {
        on_backend!(self, read c => sqlx::query("SELECT 1").execute(c).await.map(|_| ()))?;
        Ok(())
    }

    /// Closes every connection, waiting for queries in flight.
    /// Whether [`Store::close`] was called: long-lived holders of a connection let it go.
    pub fn is_closed(&self) -> bool {
        match &self.backend {
            Backend::Sqlite { writer, .. } => writer.is_closed(),
            Backend::Postgres(pool) => pool.is_closed(),
        }
    }

    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite { writer, reader } => {
                reader.close().await;
                writer.close().await;
            }
            Backend::Postgres(pool) => pool.close().await,
        }
    }
}
