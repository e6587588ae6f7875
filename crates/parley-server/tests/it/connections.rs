//! Connection caps and timeouts (issue 17, item 4): one address holding hundreds of idle or
//! slow-header sockets cannot take the server from everyone else; such sockets are closed by the
//! server; a stalled upload is cut by the idle timeout while the console's event stream, quiet as
//! it may be, is not.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use parley_core::model::AgentRole;
use parley_server::ServerConfig;
use parley_server::listen::ConnectionLimits;
use parley_store::testing::TestBackend;
use parley_testkit::build;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, SET_COOKIE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::TestApp;

const IDLE: usize = 300;
const SLOW: usize = 100;
const SLOW_HEAD: &[u8] = b"GET / HTTP/1.1\r\n";

async fn spawn(b: TestBackend, limits: ConnectionLimits) -> (TestApp, SocketAddr) {
    let app = TestApp::spawn_with(
        b,
        ServerConfig {
            simulator: true,
            connections: limits,
            ..ServerConfig::default()
        },
    )
    .await;
    let addr = app.base.trim_start_matches("http://").parse().unwrap();
    (app, addr)
}

fn loopback(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// A connection to `server` from the loopback address `from`.
async fn connect_from(from: IpAddr, server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    socket.connect(server).await.unwrap()
}

/// 300 sockets that send nothing and 100 that send half a request head, all from `from`.
async fn flood(from: IpAddr, server: SocketAddr) -> Vec<TcpStream> {
    let mut sockets = Vec::with_capacity(IDLE + SLOW);
    for _ in 0..IDLE {
        sockets.push(connect_from(from, server).await);
    }
    for _ in 0..SLOW {
        let mut s = connect_from(from, server).await;
        // A socket the server already closed may refuse the write: that is what is tested.
        let _ = s.write_all(SLOW_HEAD).await;
        sockets.push(s);
    }
    sockets
}

/// Whether the server closed `s` (end of stream or reset), without waiting.
fn closed_now(s: &TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match s.try_read(&mut buf) {
            Ok(0) => return true,
            // A 4xx the server wrote before closing: keep reading to the end.
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

/// Reads `s` until the server closes it, at the latest by `deadline`; whether it did.
async fn closed_by(s: &mut TcpStream, deadline: tokio::time::Instant) -> bool {
    let mut buf = [0u8; 1024];
    tokio::time::timeout_at(deadline, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// `GET /healthz` from `from`; its status, or `None` when the connection was refused or cut.
async fn healthz_from(from: IpAddr, server: SocketAddr) -> Option<StatusCode> {
    let client = reqwest::Client::builder()
        .local_address(from)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    client
        .get(format!("http://{server}/healthz"))
        .send()
        .await
        .ok()
        .map(|r| r.status())
}

async fn one_address_cannot_take_every_connection(b: TestBackend) {
    let per_address = 50;
    let (_app, server) = spawn(
        b,
        ConnectionLimits {
            max_per_address: per_address,
            // Long enough that nothing here is closed by a timeout: only the cap.
            header_timeout: Duration::from_secs(120),
            idle_timeout: Duration::from_secs(120),
            ..ConnectionLimits::default()
        },
    )
    .await;
    let attacker = loopback(1);
    let sockets = flood(attacker, server).await;
    // The server closes every socket past the cap as soon as it accepts it: poll until it has
    // (bounded), then check that exactly the cap's worth is still open.
    let mut closed = 0;
    let mut pace = tokio::time::interval(Duration::from_millis(20));
    for _ in 0..500 {
        pace.tick().await;
        closed = sockets.iter().filter(|s| closed_now(s)).count();
        if closed >= IDLE + SLOW - per_address {
            break;
        }
    }
    parley_testkit::figures!(
        "{} connections from one address, per-address cap {per_address}: {closed} closed at once",
        IDLE + SLOW
    );
    assert_eq!(
        closed,
        IDLE + SLOW - per_address,
        "the cap's worth stays open"
    );
    // Another address still gets through, at once.
    assert_eq!(
        healthz_from(loopback(2), server).await,
        Some(StatusCode::OK),
        "127.0.0.2 is served while 127.0.0.1 holds its whole share"
    );
    // The attacker's address gets nothing more.
    let mut extra = connect_from(attacker, server).await;
    let _ = extra
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: parley\r\n\r\n")
        .await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), extra.read_to_end(&mut answer)).await;
    assert!(
        !String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"),
        "a connection over the cap is not served"
    );
    // Once its sockets close, the address is served again.
    drop(sockets);
    let mut served = None;
    for _ in 0..500 {
        pace.tick().await;
        served = healthz_from(attacker, server).await;
        if served == Some(StatusCode::OK) {
            break;
        }
    }
    assert_eq!(served, Some(StatusCode::OK));
}

async fn idle_and_slow_header_connections_are_closed_by_the_server(b: TestBackend) {
    let (_app, server) = spawn(
        b,
        ConnectionLimits {
            max_per_address: 1_000,
            header_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(120),
            ..ConnectionLimits::default()
        },
    )
    .await;
    let from = loopback(1);
    let mut sockets = flood(from, server).await;
    // Everyone is still served meanwhile, the flooding address included.
    assert_eq!(healthz_from(from, server).await, Some(StatusCode::OK));
    assert_eq!(
        healthz_from(loopback(2), server).await,
        Some(StatusCode::OK)
    );
    // Every socket is closed by the server once its head timeout runs out (a bounded wait for
    // the close, well past the 1 s timeout).
    let started = std::time::Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let mut open = 0;
    for s in &mut sockets {
        if !closed_by(s, deadline).await {
            open += 1;
        }
    }
    parley_testkit::figures!(
        "{IDLE} idle and {SLOW} slow-header connections, head timeout 1 s: {open} left open after {:?}",
        started.elapsed()
    );
    assert_eq!(open, 0, "idle and slow-header sockets are closed");
    assert_eq!(healthz_from(from, server).await, Some(StatusCode::OK));
}

/// Signs `agent` in from 127.0.0.1 and answers the console cookie.
async fn sign_in(app: &TestApp, email: &str, password: &str) -> String {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client
        .post(format!("{}/console/login", app.base))
        .form(&[("email", email), ("password", password)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let set = r.headers()[SET_COOKIE].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

async fn a_stalled_upload_is_cut_but_the_event_stream_is_not(b: TestBackend) {
    let idle = Duration::from_secs(1);
    let (app, server) = spawn(
        b,
        ConnectionLimits {
            idle_timeout: idle,
            ..ConnectionLimits::default()
        },
    )
    .await;
    // A head that promises a body, then 3 bytes of it and nothing more.
    let mut upload = connect_from(loopback(1), server).await;
    upload
        .write_all(
            b"POST /console/login HTTP/1.1\r\nhost: parley\r\n\
              content-type: application/x-www-form-urlencoded\r\ncontent-length: 100\r\n\r\nema",
        )
        .await
        .unwrap();
    assert!(
        closed_by(
            &mut upload,
            tokio::time::Instant::now() + Duration::from_secs(15)
        )
        .await,
        "a stalled upload is closed by the idle timeout"
    );

    // The console's event stream sends keep-alives often enough to outlive the idle timeout.
    let password = "correct horse battery staple";
    let ada = app
        .agent_with_password(
            &build::agent_spec("Ada", AgentRole::Agent, 1, vec![]),
            password,
        )
        .await;
    let cookie = sign_in(&app, &ada.email, password).await;
    let mut stream = app
        .client
        .get(format!("{}/api/v1/events", app.base))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let started = std::time::Instant::now();
    let mut keep_alives = 0;
    let outlived = tokio::time::timeout(Duration::from_secs(20), async {
        // Four keep-alives at half the idle timeout each: twice the idle timeout, connected.
        while keep_alives < 4 {
            match stream.chunk().await {
                Ok(Some(chunk)) => {
                    if String::from_utf8_lossy(&chunk).contains("keep-alive") {
                        keep_alives += 1;
                    }
                }
                _ => return false,
            }
        }
        true
    })
    .await;
    parley_testkit::figures!(
        "event stream with idle timeout {idle:?}: {keep_alives} keep-alives over {:?}",
        started.elapsed()
    );
    assert_eq!(outlived, Ok(true), "the event stream was not cut");
}

parley_store::on_both_backends!(
    one_address_cannot_take_every_connection,
    idle_and_slow_header_connections_are_closed_by_the_server,
    a_stalled_upload_is_cut_but_the_event_stream_is_not,
);
