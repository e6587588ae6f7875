//! Sign-in rate limits through the real server (issue 17, item 3): attempts are counted per
//! address and per address and e-mail, so a stranger hammering an agent's e-mail from elsewhere
//! does not lock the agent out; an address gets 30 attempts a minute whatever the e-mails; a
//! refusal is a 429 with `Retry-After` and the sign-in page saying why. The flush attack (more keys
//! than the limiter holds) is a unit test of `console::limiter`: 200,000 addresses are not
//! available to a test.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use parley_core::model::AgentRole;
use parley_server::console::limiter::{PER_ADDRESS, PER_ADDRESS_AND_EMAIL};
use parley_store::testing::TestBackend;
use parley_testkit::build;
use reqwest::StatusCode;
use reqwest::header::RETRY_AFTER;

use crate::TestApp;

const PASSWORD: &str = "correct horse battery staple";

/// Attempts a minute's allowance lets through in `elapsed`: the whole allowance at once, then
/// one more per 60 s / `per_minute`.
fn allowance(per_minute: u32, elapsed: Duration) -> usize {
    let refill = Duration::from_secs(60) / per_minute;
    per_minute as usize + (elapsed.as_millis() / refill.as_millis()) as usize
}

fn client_from(last: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn attempt(
    app: &TestApp,
    client: &reqwest::Client,
    email: &str,
    password: &str,
) -> StatusCode {
    client
        .post(format!("{}/console/login", app.base))
        .form(&[("email", email), ("password", password)])
        .send()
        .await
        .unwrap()
        .status()
}

async fn a_stranger_cannot_lock_an_agent_out(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let ada = app
        .agent_with_password(
            &build::agent_spec("Ada", AgentRole::Agent, 1, vec![]),
            PASSWORD,
        )
        .await;
    let stranger = client_from(2);
    let started = Instant::now();
    let mut statuses = Vec::new();
    for _ in 0..40 {
        statuses.push(attempt(&app, &stranger, &ada.email, "guess").await);
    }
    let elapsed = started.elapsed();
    let unauthorized = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    println!(
        "a stranger's 40 guesses at one agent over {elapsed:?}: {unauthorized} checked, {limited} refused"
    );
    // Ten at once, then one more every six seconds however long the guesses took to check.
    let allowance = allowance(PER_ADDRESS_AND_EMAIL, elapsed);
    assert!(
        (PER_ADDRESS_AND_EMAIL as usize..=allowance).contains(&unauthorized),
        "{unauthorized} guesses checked, allowance {allowance}"
    );
    assert_eq!(limited, 40 - unauthorized);
    // The agent, from their own address, signs in at once; their own typos first.
    let own = client_from(1);
    assert_eq!(
        attempt(&app, &own, &ada.email, "typo").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        attempt(&app, &own, &ada.email, PASSWORD).await,
        StatusCode::SEE_OTHER
    );
}

async fn an_address_gets_thirty_attempts_a_minute(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let ada = app
        .agent_with_password(
            &build::agent_spec("Ada", AgentRole::Agent, 1, vec![]),
            PASSWORD,
        )
        .await;
    let sprayer = client_from(3);
    // Attempts with no password count too, and need no hashing: the allowance runs out fast.
    let started = Instant::now();
    let mut checked = 0;
    let refusal = loop {
        let r = sprayer
            .post(format!("{}/console/login", app.base))
            .form(&[
                ("email", format!("nobody{checked}@example.test")),
                ("password", String::new()),
            ])
            .send()
            .await
            .unwrap();
        if r.status() != StatusCode::UNAUTHORIZED {
            break r;
        }
        checked += 1;
        assert!(checked < 100, "no limit");
    };
    let elapsed = started.elapsed();
    println!(
        "one address, a new e-mail each time: {checked} checked over {elapsed:?}, then refused"
    );
    let allowance = allowance(PER_ADDRESS, elapsed);
    assert!(
        (PER_ADDRESS as usize..=allowance).contains(&checked),
        "{checked} attempts checked, allowance {allowance}"
    );
    assert_eq!(refusal.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = refusal.headers()[RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    let page = refusal.text().await.unwrap();
    assert!(
        page.contains("data-testid=\"login-error\"") && page.contains("Too many attempts"),
        "the sign-in page says why: {page}"
    );
    // Another address is not affected.
    assert_eq!(
        attempt(&app, &client_from(4), &ada.email, PASSWORD).await,
        StatusCode::SEE_OTHER
    );
}

parley_store::on_both_backends!(
    a_stranger_cannot_lock_an_agent_out,
    an_address_gets_thirty_attempts_a_minute,
);
