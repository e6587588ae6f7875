//! Sign-in rate limits through the real server (issue 17, item 3): attempts are counted per
//! address and per address and e-mail, so a stranger hammering an agent's e-mail from elsewhere
//! does not lock the agent out; an address gets 30 attempts a minute whatever the e-mails; a
//! refusal is a 429 with `Retry-After` and the sign-in page saying why. The flush attack (more keys
//! than the limiter holds) is a unit test of `console::limiter`: 200,000 addresses are not
//! available to a test.

use std::net::{IpAddr, Ipv4Addr};

use parley_core::model::AgentRole;
use parley_server::console::limiter::{PER_ADDRESS, PER_ADDRESS_AND_EMAIL};
use parley_store::testing::TestBackend;
use parley_testkit::build;
use reqwest::StatusCode;
use reqwest::header::RETRY_AFTER;

use crate::TestApp;

const PASSWORD: &str = "correct horse battery staple";

fn client_from(last: u8) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn attempt(app: &TestApp, client: &reqwest::Client, email: &str, password: &str) -> StatusCode {
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
        .agent_with_password(&build::agent_spec("Ada", AgentRole::Agent, 1, vec![]), PASSWORD)
        .await;
    let stranger = client_from(2);
    let mut statuses = Vec::new();
    for _ in 0..40 {
        statuses.push(attempt(&app, &stranger, &ada.email, "guess").await);
    }
    let unauthorized = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    println!("a stranger's 40 guesses at one agent: {unauthorized} checked, {limited} refused");
    assert_eq!(unauthorized, PER_ADDRESS_AND_EMAIL as usize);
    assert_eq!(limited, 40 - PER_ADDRESS_AND_EMAIL as usize);
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
        .agent_with_password(&build::agent_spec("Ada", AgentRole::Agent, 1, vec![]), PASSWORD)
        .await;
    let sprayer = client_from(3);
    for i in 0..PER_ADDRESS {
        let status = attempt(&app, &sprayer, &format!("nobody{i}@example.test"), "guess").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    // The 31st, even with the right password for a real agent, is refused before any hashing.
    let r = sprayer
        .post(format!("{}/console/login", app.base))
        .form(&[("email", ada.email.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()[RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1);
    let page = r.text().await.unwrap();
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
