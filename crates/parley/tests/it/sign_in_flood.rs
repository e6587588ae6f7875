//! Sign-in as a denial of service (issue 17, item 2): 100 parallel sign-ins, each from its own
//! address so that no rate limit applies, against a real `parley serve`. Every attempt used to
//! run argon2id (19 MiB) on the blocking pool with no cap, and 100 of them took the process to
//! about 2 GB; now a few hash at once and the rest are refused with 429. The process's peak
//! resident memory (VmHWM) must stay well under what the old code reached, and no answer may be a
//! server error.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use parley_testkit::db::{TestBackend, fresh_url};
use parley_testkit::free_port;
use reqwest::StatusCode;

use crate::process::serve;

const ATTEMPTS: u8 = 100;
/// The old code peaked near 2 GB here; the gated one at a little over its idle size.
const PEAK_LIMIT_KB: u64 = 600 * 1024;

/// The process's peak resident memory so far, in kB.
fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/<pid>/status")
}

async fn parallel_sign_ins_stay_within_bounded_memory(b: TestBackend) {
    let (db, _dir) = fresh_url(b).await;
    parley_engine::transport::install_crypto_provider();
    let port = free_port();
    let mut server = serve(&db, port, &reqwest::Client::new()).await;
    let pid = server.id();
    let idle_kb = peak_rss_kb(pid);

    let url = format!("http://127.0.0.1:{port}/console/login");
    let mut attempts = Vec::new();
    for i in 0..ATTEMPTS {
        let client = reqwest::Client::builder()
            .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 1, i + 1)))
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let url = url.clone();
        attempts.push(tokio::spawn(async move {
            let r = client
                .post(&url)
                .form(&[
                    ("email", format!("nobody{i}@example.test")),
                    ("password", "a guess at a password".to_owned()),
                ])
                .send()
                .await
                .unwrap();
            let status = r.status();
            let retry_after = r.headers().contains_key(reqwest::header::RETRY_AFTER);
            let page = r.text().await.unwrap_or_default();
            (status, retry_after, page)
        }));
    }
    let mut checked = 0;
    let mut busy = 0;
    let mut other = Vec::new();
    for a in attempts {
        let (status, retry_after, page) = a.await.unwrap();
        match status {
            StatusCode::UNAUTHORIZED => checked += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                busy += 1;
                assert!(retry_after, "a 429 says when to retry");
                assert!(
                    page.contains("data-testid=\"login-error\"") && page.contains("busy"),
                    "the sign-in page says the server is busy"
                );
            }
            s => other.push(s),
        }
    }
    let peak_kb = peak_rss_kb(pid);
    server.kill().unwrap();
    server.wait().unwrap();
    parley_testkit::figures!(
        "{ATTEMPTS} parallel sign-ins ({b:?}): {checked} checked (401), {busy} refused as busy (429); \
         peak RSS {} MB (idle {} MB, limit {} MB)",
        peak_kb / 1024,
        idle_kb / 1024,
        PEAK_LIMIT_KB / 1024
    );
    assert!(
        other.is_empty(),
        "answers other than 401 and 429: {other:?}"
    );
    assert!(checked > 0, "some attempts were checked");
    assert!(
        peak_kb < PEAK_LIMIT_KB,
        "peak RSS {} MB is over {} MB",
        peak_kb / 1024,
        PEAK_LIMIT_KB / 1024
    );
}

parley_store::on_both_backends!(parallel_sign_ins_stay_within_bounded_memory);
