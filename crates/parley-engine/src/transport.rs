//! The HTTP transport of outbound sends: executes a provider's [`HttpRequest`] (built by the pure
//! functions of `parley-channels`) with reqwest and hands back the [`HttpResponse`] for the
//! provider module to interpret.
//!
//! TLS is rustls with the *ring* provider only (never aws-lc-rs); [`install_crypto_provider`]
//! makes ring the process default before the first client is built.
//!
//! What a failure means for the message (see `parley_channels::http`):
//!
//! - [`TransportError::NotSent`]: the connection could not be made, so the provider never saw the
//!   request. Safe to retry.
//! - [`TransportError::Ambiguous`]: the request may have reached the provider (a timeout or a
//!   connection dropped after it was written, or a body that could not be read). None of our
//!   providers takes an idempotency key, so the message may exist: the caller must not resend
//!   it blindly.
//! - [`TransportError::Invalid`]: the request itself cannot be made (bad URL or header); a
//!   configuration fault, never retried.

use std::net::{IpAddr, SocketAddr};
use std::sync::Once;
use std::time::Duration;

use parley_channels::http::{HttpRequest, HttpResponse, Method, RetrySafety};
use parley_core::net;

/// The longest a whole send may take, from connecting to the last byte of the answer.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest connecting may take; a connect failure is [`TransportError::NotSent`].
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a request produced no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The provider never saw the request: retrying cannot send the message twice.
    #[error("the request was not sent: {0}")]
    NotSent(String),
    /// The request may have reached the provider; its fate is unknown.
    #[error("the request may have been sent, its answer never came: {0}")]
    Ambiguous(String),
    /// The request cannot be made at all.
    #[error("the request is invalid: {0}")]
    Invalid(String),
}

static INSTALL: Once = Once::new();

/// Installs rustls' ring provider as the process default, once. Harmless when another part of
/// the process installed a provider first (it is then kept).
pub fn install_crypto_provider() {
    INSTALL.call_once(|| {
        // `Err` means a default is already installed: keep it.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A reqwest client for provider calls. Cheap to clone (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct HttpTransport {
    client: reqwest::Client,
    /// Set on the media client: the addresses its downloads may reach.
    guard: Option<AddressGuard>,
}

/// Which addresses a guarded client may connect to (see `parley_core::net`): public ones, and
/// loopback and private networks too when `allow_private` is on (tests, the demo).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressGuard {
    pub allow_private: bool,
}

/// A download refused before connecting: the host is not one the channel may fetch from, or
/// its address is loopback, private, link-local and so on. Final: retrying cannot change it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FetchRefused(pub String);

impl AddressGuard {
    /// Checks an address `host` resolved to, before connecting to it.
    pub fn check(&self, host: &str, ip: IpAddr) -> Result<(), FetchRefused> {
        match net::refusal(ip, self.allow_private) {
            None => Ok(()),
            Some(class) => Err(FetchRefused(format!(
                "{host} resolves to {ip}, {}: media is never fetched from there",
                class.describe()
            ))),
        }
    }

    /// Checks a URL whose host is an IP address: such a host never goes through the resolver.
    pub fn check_literal(&self, url: &reqwest::Url) -> Result<(), FetchRefused> {
        let Some(host) = url.host_str() else {
            return Err(FetchRefused(format!("'{url}' has no host")));
        };
        match host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            Ok(ip) => match net::refusal(ip, self.allow_private) {
                None => Ok(()),
                Some(class) => Err(FetchRefused(format!(
                    "{host} is {}: media is never fetched from there",
                    class.describe()
                ))),
            },
            Err(_) => Ok(()),
        }
    }
}

/// The media client's resolver: resolves as the system does, then keeps only the addresses the
/// guard allows, so the connection is made to an address that was checked (a name that
/// resolves to a public address when checked and to a private one when connecting cannot
/// slip through).
#[derive(Debug, Clone, Copy)]
struct GuardedResolver(AddressGuard);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let guard = self.0;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refused = None;
            let kept: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| match guard.check(&host, a.ip()) {
                    Ok(()) => true,
                    Err(e) => {
                        refused.get_or_insert(e);
                        false
                    }
                })
                .collect();
            match refused {
                Some(e) if kept.is_empty() => {
                    Err(Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
                }
                _ => Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs),
            }
        })
    }
}

impl HttpTransport {
    /// A client with [`DEFAULT_TIMEOUT`].
    pub fn new() -> Result<Self, TransportError> {
        Self::with_timeout(DEFAULT_TIMEOUT)
    }

    /// A client whose sends give up (ambiguously) after `timeout`.
    pub fn with_timeout(timeout: Duration) -> Result<Self, TransportError> {
        install_crypto_provider();
        let client = Self::builder(timeout)
            .build()
            .map_err(|e| TransportError::Invalid(format!("building the HTTP client: {e}")))?;
        Ok(Self {
            client,
            guard: None,
        })
    }

    /// The client of media downloads, whose URLs come from webhooks: it connects only to
    /// addresses `guard` allows, checked after DNS (by its resolver) and for IP-literal hosts
    /// (by [`HttpTransport::download`]), and never through a proxy (which would resolve the
    /// name itself, unchecked).
    pub fn for_media(guard: AddressGuard) -> Result<Self, TransportError> {
        install_crypto_provider();
        let client = Self::builder(DEFAULT_TIMEOUT)
            .no_proxy()
            .dns_resolver(GuardedResolver(guard))
            .build()
            .map_err(|e| TransportError::Invalid(format!("building the HTTP client: {e}")))?;
        Ok(Self {
            client,
            guard: Some(guard),
        })
    }

    fn builder(timeout: Duration) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .user_agent(concat!("parley/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
    }

    /// Sends `request` and returns the provider's answer, whatever its status.
    pub async fn execute(&self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        let method = match request.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
        };
        let mut builder = self.client.request(method, &request.url);
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let response = builder
            .body(request.body.clone())
            .send()
            .await
            .map_err(|e| classify(&e, &request.retry_safety))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        // The provider answered, but the body broke off: what it said is unknown.
        let body = response
            .bytes()
            .await
            .map_err(|e| TransportError::Ambiguous(format!("reading the answer: {e}")))?;
        Ok(HttpResponse {
            status,
            headers,
            body: body.to_vec(),
        })
    }
}

/// Why a download produced no file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DownloadError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The answer is longer than the caller accepts; reading stopped there.
    #[error("the file is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    /// Not fetched: the host or its address is not allowed. Final.
    #[error(transparent)]
    Refused(#[from] FetchRefused),
}

impl HttpTransport {
    /// Makes a `GET` (a media download) and reads the answer's body up to `max_bytes`, never
    /// more: a larger body stops the read with [`DownloadError::TooLarge`] (a `Content-Length`
    /// above the limit stops it before the first byte). Any status is returned; redirects are
    /// not followed (the caller decides where credentials may go).
    pub async fn download(
        &self,
        request: &HttpRequest,
        max_bytes: u64,
    ) -> Result<HttpResponse, DownloadError> {
        if let Some(guard) = &self.guard {
            let url = reqwest::Url::parse(&request.url)
                .map_err(|e| TransportError::Invalid(format!("'{}': {e}", request.url)))?;
            guard.check_literal(&url)?;
        }
        let mut builder = self.client.get(&request.url);
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let mut response = builder.send().await.map_err(|e| {
            if let Some(refused) = refusal_in(&e) {
                return DownloadError::Refused(refused);
            }
            let text = error_chain(&e);
            if e.is_builder() {
                TransportError::Invalid(text).into()
            } else {
                // A read has no side effect: whatever broke, trying again is safe.
                TransportError::NotSent(text).into()
            }
        })?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        if response.content_length().is_some_and(|n| n > max_bytes) {
            return Err(DownloadError::TooLarge { limit: max_bytes });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| {
            TransportError::NotSent(format!("reading the file: {}", error_chain(&e)))
        })? {
            if u64::try_from(body.len() + chunk.len()).unwrap_or(u64::MAX) > max_bytes {
                return Err(DownloadError::TooLarge { limit: max_bytes });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

/// What a reqwest error says about the request's fate. A connect error means nothing was
/// written; anything later (timeout, reset, truncated answer) may follow a request the provider
/// took, unless the request carries an idempotency key the provider deduplicates on, in which
/// case resending is safe and the error counts as not sent.
fn classify(e: &reqwest::Error, safety: &RetrySafety) -> TransportError {
    let text = error_chain(e);
    if e.is_builder() {
        return TransportError::Invalid(text);
    }
    if e.is_connect() {
        return TransportError::NotSent(text);
    }
    match safety {
        RetrySafety::IdempotencyKey { .. } => TransportError::NotSent(text),
        RetrySafety::NotIdempotent => TransportError::Ambiguous(if e.is_timeout() {
            format!("timed out: {text}")
        } else {
            text
        }),
    }
}

/// The guard's refusal, when the resolver's error is what stopped the request.
fn refusal_in(e: &reqwest::Error) -> Option<FetchRefused> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(refused) = s.downcast_ref::<FetchRefused>() {
            return Some(refused.clone());
        }
        source = s.source();
    }
    None
}

/// An error with its sources, which say what actually went wrong (reqwest's own text is terse).
fn error_chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(url: String) -> HttpRequest {
        HttpRequest {
            method: Method::Post,
            url,
            headers: vec![("Content-Type".into(), "text/plain".into())],
            body: b"hi".to_vec(),
            retry_safety: RetrySafety::NotIdempotent,
        }
    }

    #[tokio::test]
    async fn a_refused_connection_was_not_sent() {
        // Bind then drop a listener: the port is (almost certainly) closed now.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let t = HttpTransport::new().unwrap();
        let e = t
            .execute(&post(format!("http://127.0.0.1:{port}/x")))
            .await
            .unwrap_err();
        assert!(matches!(e, TransportError::NotSent(_)), "{e:?}");
    }

    #[tokio::test]
    async fn a_timeout_after_the_request_was_written_is_ambiguous() {
        // A server that accepts and reads but never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            loop {
                use tokio::io::AsyncReadExt;
                if socket.read(&mut buf).await.unwrap_or(0) == 0 {
                    break;
                }
            }
        });
        let t = HttpTransport::with_timeout(Duration::from_millis(300)).unwrap();
        let e = t
            .execute(&post(format!("http://{addr}/x")))
            .await
            .unwrap_err();
        assert!(matches!(e, TransportError::Ambiguous(_)), "{e:?}");
        server.abort();
    }

    fn get(url: String) -> HttpRequest {
        HttpRequest {
            method: Method::Get,
            url,
            headers: Vec::new(),
            body: Vec::new(),
            retry_safety: RetrySafety::NotIdempotent,
        }
    }

    /// A listener that answers every request with 200 and counts them.
    async fn counting_listener(ip: &str) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                // The request first (a GET's head fits one read), then the answer.
                let mut buf = vec![0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let _ = socket
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
            }
        });
        (port, hits)
    }

    #[tokio::test]
    async fn the_media_client_never_connects_to_local_addresses() {
        use std::sync::atomic::Ordering;
        let (port, hits) = counting_listener("127.0.0.1").await;
        let strict = HttpTransport::for_media(AddressGuard {
            allow_private: false,
        })
        .unwrap();
        for url in [
            format!("http://127.0.0.1:{port}/x"),
            format!("http://localhost:{port}/x"),
            format!("http://[::ffff:127.0.0.1]:{port}/x"),
            format!("http://2130706433:{port}/x"),
            format!("http://0x7f.1:{port}/x"),
        ] {
            let e = strict.download(&get(url.clone()), 100).await.unwrap_err();
            assert!(matches!(e, DownloadError::Refused(_)), "{url}: {e:?}");
        }
        assert_eq!(hits.load(Ordering::SeqCst), 0);

        // The switch lets loopback through (tests, the demo), never link-local.
        let relaxed = HttpTransport::for_media(AddressGuard {
            allow_private: true,
        })
        .unwrap();
        let ok = relaxed
            .download(&get(format!("http://localhost:{port}/x")), 100)
            .await
            .unwrap();
        assert_eq!(ok.body, b"ok");
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        let e = relaxed
            .download(&get("http://169.254.169.254/latest/meta-data/".into()), 100)
            .await
            .unwrap_err();
        assert!(matches!(e, DownloadError::Refused(_)), "{e:?}");
    }

    #[tokio::test]
    async fn a_bad_url_is_invalid() {
        let t = HttpTransport::new().unwrap();
        let e = t.execute(&post("not a url".into())).await.unwrap_err();
        assert!(matches!(e, TransportError::Invalid(_)), "{e:?}");
    }
}
