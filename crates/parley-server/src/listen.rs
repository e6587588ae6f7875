//! The HTTP/1.1 accept loop, with the limits `axum::serve` does not offer: how many connections are
//! open at once (in all, and per client address), how long a client may take to send a request's
//! head, and how long a connection may sit without a byte moving either way.
//!
//! - A connection past either cap is closed as soon as it is accepted, before a byte is read: one
//!   address holding hundreds of sockets open cannot starve the others (1,124 idle sockets from
//!   one host once made `/healthz` time out for everyone). IPv6 clients count per /64.
//! - The head timeout (hyper's `header_read_timeout`) runs from the moment the server waits for a
//!   request: on a new connection and between the requests of a kept-alive one. A client that
//!   connects and sends nothing, or sends a head slowly, is cut when it runs out.
//! - The idle timeout cuts a connection on which nothing was read or written for that long,
//!   whatever it was doing (a stalled upload, a reader that stopped reading). Handlers must answer
//!   within it; the console's event stream writes a keep-alive comment every half idle timeout at
//!   most, so it is never idle.
//!
//! Graceful shutdown: the listener closes, idle connections close, requests in flight finish.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::time::Instant;
use tower::ServiceExt;

/// Connection limits and timeouts (see the module's documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections open at once, in all.
    pub max_connections: usize,
    /// Connections open at once from one client address (one /64 for IPv6).
    pub max_per_address: usize,
    /// How long a client has to send a request's head once the server waits for one.
    pub header_timeout: Duration,
    /// How long a connection may go without a byte read or written.
    pub idle_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            max_per_address: 256,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

impl ConnectionLimits {
    /// The defaults with no per-address cap below the total: for benchmarks, whose clients all
    /// share one loopback address.
    pub fn one_client_address() -> Self {
        let d = Self::default();
        Self {
            max_per_address: d.max_connections,
            ..d
        }
    }
}

/// The block a client address counts in: the IPv4 address itself (IPv4-mapped IPv6 included),
/// or the /64 of an IPv6 address, which one subscriber usually holds whole.
pub fn address_block(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        v4 => v4,
    }
}

/// Open connections per address block.
type PerAddress = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// One open connection's place under both caps, given back when dropped.
struct Slot {
    _global: OwnedSemaphorePermit,
    per_address: PerAddress,
    block: IpAddr,
}

impl Slot {
    fn take(
        global: &Arc<Semaphore>,
        per_address: &PerAddress,
        ip: IpAddr,
        max_per_address: usize,
    ) -> Result<Self, &'static str> {
        let permit = global.clone().try_acquire_owned().map_err(|_| "total")?;
        let block = address_block(ip);
        let mut counts = per_address.lock().map_err(|_| "total")?;
        let count = counts.entry(block).or_insert(0);
        if *count >= max_per_address {
            if *count == 0 {
                counts.remove(&block);
            }
            return Err("per_address");
        }
        *count += 1;
        Ok(Slot {
            _global: permit,
            per_address: per_address.clone(),
            block,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut counts) = self.per_address.lock()
            && let Some(count) = counts.get_mut(&self.block)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.block);
            }
        }
    }
}

/// When a byte last moved on a connection, in milliseconds since it opened.
struct Activity {
    opened: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn touch(&self) {
        let ms = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.opened + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// A socket that notes when a byte moves.
struct Watched {
    io: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.io).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.touch();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        r
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// Serves `app` on `listener` within `limits` until `shutdown` completes, then finishes the
/// requests in flight. Handlers see the peer as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let global = Arc::new(Semaphore::new(
        limits.max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
    let per_address = PerAddress::default();
    let (stop_tx, stop_rx) = watch::channel(false);
    // Every connection's task holds a sender; `recv` answers `None` once all of them ended.
    let (done_tx, mut done_rx) = mpsc::channel::<Infallible>(1);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Out of file descriptors, most likely: back off a little rather than spin, and
                // let open connections finish meanwhile.
                tracing::warn!(error = %e, "cannot accept a connection");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(100)) => continue,
                    () = &mut shutdown => break,
                }
            }
        };
        match Slot::take(&global, &per_address, peer.ip(), limits.max_per_address) {
            Ok(slot) => {
                tokio::spawn(connection(
                    stream,
                    peer,
                    app.clone(),
                    limits,
                    slot,
                    stop_rx.clone(),
                    done_tx.clone(),
                ));
            }
            Err(cap) => {
                // Closed at once: a client over its share gets no resources at all.
                metrics::counter!("parley_http_connections_refused_total", "cap" => cap)
                    .increment(1);
                tracing::debug!(%peer, cap, "connection refused: over the cap");
                drop(stream);
            }
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(done_tx);
    let _ = done_rx.recv().await;
    Ok(())
}

/// Errors that concern one connection only; the next accept may well succeed.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    limits: ConnectionLimits,
    slot: Slot,
    mut stop: watch::Receiver<bool>,
    done: mpsc::Sender<Infallible>,
) {
    let activity = Arc::new(Activity {
        opened: Instant::now(),
        last_ms: AtomicU64::new(0),
    });
    let io = TokioIo::new(Watched {
        io: stream,
        activity: activity.clone(),
    });
    let service = TowerToHyperService::new(app.map_request(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        req
    }));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let conn = builder.serve_connection(io, service);
    let mut conn = std::pin::pin!(conn);
    let mut stopping = false;
    loop {
        let idle_until = activity.last() + limits.idle_timeout;
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(%peer, error = %e, "connection ended");
                }
                break;
            }
            _ = stop.wait_for(|s| *s), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            () = tokio::time::sleep_until(idle_until) => {
                if activity.last() + limits.idle_timeout <= Instant::now() {
                    tracing::debug!(%peer, "closing an idle connection");
                    break;
                }
            }
        }
    }
    drop(slot);
    drop(done);
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa:bbbb:cccc:dddd".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        assert_eq!(address_block(a), address_block(b));
        assert_eq!(
            address_block(a),
            IpAddr::V6("2001:db8:1:2::".parse::<Ipv6Addr>().unwrap())
        );
        let v4 = Ipv4Addr::new(192, 0, 2, 7);
        assert_eq!(
            address_block(IpAddr::V6(v4.to_ipv6_mapped())),
            IpAddr::V4(v4)
        );
    }

    #[test]
    fn slots_are_counted_per_address_and_given_back() {
        let global = Arc::new(Semaphore::new(3));
        let per = PerAddress::default();
        let one: IpAddr = Ipv4Addr::new(10, 0, 0, 1).into();
        let two: IpAddr = Ipv4Addr::new(10, 0, 0, 2).into();
        let a = Slot::take(&global, &per, one, 2).unwrap();
        let _b = Slot::take(&global, &per, one, 2).unwrap();
        assert_eq!(Slot::take(&global, &per, one, 2).err(), Some("per_address"));
        let c = Slot::take(&global, &per, two, 2).unwrap();
        assert_eq!(Slot::take(&global, &per, two, 2).err(), Some("total"));
        drop(a);
        drop(c);
        let _d = Slot::take(&global, &per, one, 2).unwrap();
        assert_eq!(per.lock().unwrap().get(&two), None, "no empty entries kept");
    }
}
