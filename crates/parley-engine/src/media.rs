//! Parley's copies of customers' files. A webhook only records where a file is (Twilio's
//! `MediaUrlN`, WhatsApp's media id, Messenger's attachment URL) on the inbound entry; the
//! inbound pipeline then queues a `media.fetch` job for the entry, and this module's worker
//! downloads each file with the provider's credentials, stores it, and writes Parley's media id,
//! content type and size back into the entry's media list. The webhook never waits on a
//! download.
//!
//! Storage: local files under `media_dir` (config key), content-addressed by SHA-256 as
//! `{dir}/{first two hex digits}/{sha256}`, so the same file received twice is kept once. A row
//! in the `media` table gives each stored copy its id and content type; `GET /api/v1/media/{id}`
//! serves it to authenticated callers.
//!
//! Size limits: the channel's inbound limit for the type (`parley_core::media::inbound_max_bytes`)
//! and at most [`MediaStore::max_bytes`] whatever the channel; the download stops reading past
//! the limit. Redirects are followed (at most [`MAX_REDIRECTS`]) without the provider's
//! credentials.
//!
//! Where a download may go (server-side request forgery: the URL comes from a webhook): every
//! hop, the first and each redirect, must be on a host the channel's provider declares
//! (`parley_channels::media::MediaHosts`: its API hosts, its storage and CDN hosts, the channel's
//! `base_url` host and `settings.media_hosts`), and credentials stay on the request only when
//! the hop is a provider API host. The media client then connects only to public addresses
//! (`parley_core::net`), checked after DNS by its resolver and for IP-literal hosts before the
//! request; `media_fetch_allow_private` (tests, the demo) lets loopback and private networks
//! through, never link-local. A refused fetch is final.
//!
//! Failures: a provider that answers 429, 5xx or not at all is retried with the runner's backoff;
//! a refusal (4xx), a file over the limit, a host or address that is not allowed, or a channel
//! without credentials is final, and the reason is written on the media item (`error`) and
//! logged, so the agent sees why there is no copy.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parley_channels::adapter::{ChannelConfig, MediaFetch, ProviderAdapter};
use parley_channels::http::{HttpRequest, HttpResponse};
use parley_channels::media::{self as provider, MediaAccess, MediaHosts};
use parley_core::media::{inbound_max_bytes, stored_content_type};
use parley_core::{Clock, new_id};
use parley_store::{Channel, Job, Media, Store, StoreError, StoredMedia};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::events::{DomainEvent, EventBus};
use crate::jobs::FetchRequest;
use crate::runner::JobOutcome;
use crate::transport::{AddressGuard, DownloadError, FetchRefused, HttpTransport, TransportError};

pub use crate::jobs::fetch_job;
pub const QUEUE: &str = crate::jobs::Queue::Media.as_str();
pub const KIND: &str = crate::jobs::JobKind::MediaFetch.as_str();
/// The largest file stored whatever the channel allows (WhatsApp documents are 30 MB).
pub const DEFAULT_MAX_BYTES: u64 = 32_000_000;
/// Redirects followed per download (Twilio answers with one to its storage).
pub const MAX_REDIRECTS: usize = 3;
/// The default `media_dir`.
pub const DEFAULT_DIR: &str = "./parley-media";

/// Why a file could not be stored or read back.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("the file is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("media storage: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The row exists but its file does not (removed by hand, or another node's disk).
    #[error("the stored file is missing")]
    Missing,
}

/// Content-addressed local storage of media files, and the worker that fills it.
#[derive(Clone)]
pub struct MediaStore {
    dir: Arc<PathBuf>,
    max_bytes: u64,
    store: Store,
    clock: Arc<dyn Clock>,
    events: EventBus,
    transport: Option<HttpTransport>,
}

impl std::fmt::Debug for MediaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaStore")
            .field("dir", &self.dir)
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

/// How one file's fetch ended.
enum Fetched {
    Stored(StoredMedia),
    /// Final: the reason goes on the media item.
    Failed(String),
    /// Worth another try later.
    Retry(String),
}

impl MediaStore {
    /// `allow_private`: whether downloads may reach loopback and private networks (config
    /// `media_fetch_allow_private`; tests and the demo, whose fakes listen on 127.0.0.1).
    pub fn new(
        dir: PathBuf,
        store: Store,
        clock: Arc<dyn Clock>,
        events: EventBus,
        allow_private: bool,
    ) -> Self {
        let transport = match HttpTransport::for_media(AddressGuard { allow_private }) {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::error!(error = %e, "no HTTP client: inbound media will not be fetched");
                None
            }
        };
        Self {
            dir: Arc::new(dir),
            max_bytes: DEFAULT_MAX_BYTES,
            store,
            clock,
            events,
            transport,
        }
    }

    /// Caps every stored file at `max_bytes`, whatever the channel allows.
    pub fn with_max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    pub fn with_transport(mut self, transport: HttpTransport) -> Self {
        self.transport = Some(transport);
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Where the file with this digest lives. `None` for anything that is not a SHA-256 in
    /// lowercase hex, so a stored value can never name a path outside the directory.
    fn path_of(&self, sha256: &str) -> Option<PathBuf> {
        let ok = sha256.len() == 64
            && sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        let prefix = sha256.get(..2)?;
        ok.then(|| self.dir.join(prefix).join(sha256))
    }

    /// Stores `bytes` (once per content) and records them as a media item of `entry_id`.
    pub async fn save(
        &self,
        entry_id: Option<Uuid>,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Result<StoredMedia, MediaError> {
        let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        if size > self.max_bytes {
            return Err(MediaError::TooLarge {
                limit: self.max_bytes,
            });
        }
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let path = self.path_of(&sha256).ok_or(MediaError::Missing)?;
        tokio::task::spawn_blocking(move || write_once(&path, &bytes))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))??;
        let row = StoredMedia {
            id: new_id(),
            sha256,
            content_type: stored_content_type(content_type),
            size: i64::try_from(size).unwrap_or(i64::MAX),
            entry_id,
            created_at: self.clock.now().millis(),
        };
        self.store.insert_media(&row).await?;
        Ok(row)
    }

    /// Removes the file with this digest from disk (an erasure's, once no other row names it).
    /// `true` when a file was there.
    pub async fn remove_file(&self, sha256: &str) -> Result<bool, MediaError> {
        let Some(path) = self.path_of(sha256) else {
            return Ok(false);
        };
        match tokio::fs::remove_file(path).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(MediaError::Io(e)),
        }
    }

    /// A stored file and what it is.
    pub async fn open(&self, id: Uuid) -> Result<(StoredMedia, Vec<u8>), MediaError> {
        let row = self.store.media(id).await?;
        let path = self.path_of(&row.sha256).ok_or(MediaError::Missing)?;
        let bytes = tokio::task::spawn_blocking(move || std::fs::read(path))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => MediaError::Missing,
                _ => MediaError::Io(e),
            })?;
        Ok((row, bytes))
    }

    /// The `media.fetch` job: every file of the entry not stored yet.
    pub async fn fetch(&self, job: Job) -> JobOutcome {
        let request: FetchRequest = match serde_json::from_str(&job.payload) {
            Ok(r) => r,
            Err(e) => return JobOutcome::Permanent(format!("malformed media fetch: {e}")),
        };
        let last_attempt = job.attempts >= job.max_attempts;
        match self.fetch_entry(request.entry_id, last_attempt).await {
            Ok(outcome) => outcome,
            Err(StoreError::NotFound { entity }) => JobOutcome::Permanent(format!(
                "{entity} of entry {} no longer exists",
                request.entry_id
            )),
            Err(e) => JobOutcome::Retry(e.to_string()),
        }
    }

    async fn fetch_entry(
        &self,
        entry_id: Uuid,
        last_attempt: bool,
    ) -> Result<JobOutcome, StoreError> {
        let entry = self.store.entry(entry_id).await?;
        let session = self.store.session(entry.session_id).await?;
        let channel = self.store.channel(session.channel_id).await?;
        let mut media = entry.media.clone();
        let mut retry = None;
        for item in media
            .iter_mut()
            .filter(|m| m.id.is_none() && m.error.is_none())
        {
            match self.fetch_one(&channel, entry_id, item).await {
                Fetched::Stored(row) => {
                    item.id = Some(row.id);
                    item.size = u64::try_from(row.size).ok();
                    item.content_type = row.content_type;
                }
                Fetched::Failed(reason) => {
                    tracing::warn!(entry = %entry_id, %reason, "inbound media not stored");
                    item.error = Some(reason);
                }
                Fetched::Retry(reason) if last_attempt => {
                    item.error = Some(format!("gave up after the last attempt: {reason}"));
                }
                Fetched::Retry(reason) => retry = Some(reason),
            }
        }
        if media != entry.media {
            self.store
                .set_entry_media(entry_id, &media, self.clock.now())
                .await?;
            self.events.publish(DomainEvent::MessageStatusChanged {
                session_id: entry.session_id,
                entry_id,
            });
        }
        Ok(retry.map_or(JobOutcome::Done, JobOutcome::Retry))
    }

    async fn fetch_one(&self, channel: &Channel, entry_id: Uuid, item: &Media) -> Fetched {
        let Some(transport) = &self.transport else {
            return Fetched::Retry("this server has no HTTP client".to_owned());
        };
        let limit = inbound_max_bytes(channel.kind, &item.content_type).min(self.max_bytes);
        let Some(adapter) = crate::channel_rules::adapter_of(channel) else {
            return Fetched::Failed(format!(
                "the channel's provider '{}' is not known to this server",
                channel.provider
            ));
        };
        let config = crate::channel_rules::adapter_view(channel);
        let hosts = match adapter.media_hosts(&config) {
            Ok(h) => h,
            Err(e) => return Fetched::Failed(format!("the channel's {e}")),
        };
        let (request, content_type) =
            match first_request(transport, adapter, &config, &hosts, item).await {
                Ok(r) => r,
                Err(f) => return f,
            };
        let response = match download(transport, &hosts, request, limit).await {
            Ok(r) => r,
            Err(DownloadError::TooLarge { limit }) => {
                return Fetched::Failed(format!(
                    "the file is larger than the {limit} bytes a {} channel keeps",
                    channel.kind
                ));
            }
            Err(DownloadError::Refused(FetchRefused(reason))) => {
                return Fetched::Failed(format!("not fetched: {reason}"));
            }
            Err(DownloadError::Transport(TransportError::Invalid(e))) => {
                return Fetched::Failed(e);
            }
            Err(DownloadError::Transport(e)) => return Fetched::Retry(e.to_string()),
        };
        if let Some(f) = refused(&response, "download") {
            return f;
        }
        // The type the provider announced wins over a vague one from the webhook
        // (Messenger says only "image/*").
        let content_type = content_type
            .filter(|c| !c.is_empty() && !c.contains('*'))
            .or_else(|| {
                (!item.content_type.contains('*') && !item.content_type.is_empty())
                    .then(|| item.content_type.clone())
            })
            .or_else(|| response.header("content-type").map(str::to_owned))
            .unwrap_or_else(|| "application/octet-stream".to_owned());
        match self
            .save(Some(entry_id), &content_type, response.body)
            .await
        {
            Ok(row) => Fetched::Stored(row),
            Err(MediaError::TooLarge { limit }) => {
                Fetched::Failed(format!("the file is larger than {limit} bytes"))
            }
            Err(e) => Fetched::Retry(e.to_string()),
        }
    }
}

/// The download request for a media item, with the content type the provider states when it
/// states one (WhatsApp's lookup does).
async fn first_request(
    transport: &HttpTransport,
    adapter: &dyn ProviderAdapter,
    config: &ChannelConfig<'_>,
    hosts: &MediaHosts,
    item: &Media,
) -> Result<(HttpRequest, Option<String>), Fetched> {
    match adapter
        .media_fetch(config, &item.url)
        .map_err(Fetched::Failed)?
    {
        MediaFetch::File(request) => Ok((request, None)),
        MediaFetch::Lookup(lookup) => {
            let answer = match download(transport, hosts, lookup, 64 * 1024).await {
                Ok(r) => r,
                Err(DownloadError::Refused(FetchRefused(reason))) => {
                    return Err(Fetched::Failed(format!("media lookup not made: {reason}")));
                }
                Err(e @ DownloadError::TooLarge { .. }) => {
                    return Err(Fetched::Failed(format!("the media lookup answer: {e}")));
                }
                Err(e) => return Err(Fetched::Retry(e.to_string())),
            };
            if let Some(f) = refused(&answer, "media lookup") {
                return Err(f);
            }
            let found = adapter
                .media_after_lookup(config, &answer.body)
                .map_err(Fetched::Failed)?;
            Ok((found.request, found.content_type))
        }
    }
}

/// What a non-2xx answer means: 429 and 5xx pass, anything else is a refusal.
fn refused(response: &HttpResponse, what: &str) -> Option<Fetched> {
    if response.is_success() {
        return None;
    }
    let reason = format!(
        "the provider answered the {what} with HTTP {}",
        response.status
    );
    Some(if response.status == 429 || response.status >= 500 {
        Fetched::Retry(reason)
    } else {
        Fetched::Failed(reason)
    })
}

/// Headers that carry a credential of some kind: removed from every hop that is not a
/// provider API host.
const CREDENTIAL_HEADERS: &[&str] = &["authorization", "proxy-authorization", "cookie"];

/// Holds a hop to the channel's hosts: refused when its host is not one of them; stripped of
/// its credentials unless the host is a provider API host.
fn admit(hosts: &MediaHosts, request: &mut HttpRequest) -> Result<(), DownloadError> {
    let url = reqwest::Url::parse(&request.url)
        .map_err(|e| TransportError::Invalid(format!("media URL '{}': {e}", request.url)))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(FetchRefused("a media URL with a user name or password".to_owned()).into());
    }
    let host = url.host_str().unwrap_or_default();
    match hosts.access(url.scheme(), host) {
        MediaAccess::Refused(reason) => Err(FetchRefused(reason).into()),
        MediaAccess::Anonymous => {
            request.headers.retain(|(name, _)| {
                !CREDENTIAL_HEADERS.contains(&name.to_ascii_lowercase().as_str())
            });
            Ok(())
        }
        MediaAccess::WithCredentials => Ok(()),
    }
}

/// GETs `request` from the channel's hosts, following redirects without its credentials.
async fn download(
    transport: &HttpTransport,
    hosts: &MediaHosts,
    mut request: HttpRequest,
    limit: u64,
) -> Result<HttpResponse, DownloadError> {
    for _ in 0..=MAX_REDIRECTS {
        admit(hosts, &mut request)?;
        let response = transport.download(&request, limit).await?;
        let location = response
            .header("location")
            .filter(|_| matches!(response.status, 301 | 302 | 303 | 307 | 308));
        let Some(location) = location else {
            return Ok(response);
        };
        let next = reqwest::Url::parse(&request.url)
            .and_then(|base| base.join(location))
            .map_err(|e| TransportError::Invalid(format!("redirect to '{location}': {e}")))?;
        request = provider::download_request(next.as_str())
            .map_err(|e| TransportError::Invalid(e.to_string()))?;
    }
    Err(TransportError::Invalid(format!("more than {MAX_REDIRECTS} redirects")).into())
}

/// Writes a content-addressed file unless it exists: through a temporary file and a rename, so a
/// reader never sees half a file and two writers of the same content cannot corrupt it.
fn write_once(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if path.exists() {
        return Ok(());
    }
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("a media path has no directory"))?;
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".tmp-{}", new_id().simple()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use parley_core::Timestamp;

    use super::*;

    #[test]
    fn write_once_keeps_the_first_copy() {
        let dir = std::env::temp_dir().join(format!("parley-media-test-{}", new_id()));
        let path = dir.join("ab").join("abc");
        write_once(&path, b"one").unwrap();
        write_once(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn fetch_jobs_are_one_per_entry() {
        let id = new_id();
        let job = fetch_job(id, Timestamp::from_millis(1));
        assert_eq!(job.queue, QUEUE);
        assert_eq!(job.dedupe_key, Some(format!("media:{id}")));
    }
}
