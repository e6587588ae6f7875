//! Logs and traces carry no message text, secrets, tokens or customers' numbers (issue 16 part 6):
//! every log line and span of a real run, captured at trace level for Parley's crates and debug for
//! the rest, is searched for what the run handled: an inbound SMS with a distinctive text, an
//! agent's reply, a channel's secrets, the API token used, a webhook's signing secret, the
//! customer's number and the console's cookie.
//!
//! A tracing subscriber is process-wide, so the run happens in a child process of this test binary
//! (as the query-plan test does), where the capture is the only subscriber.

use std::io::Write;
use std::sync::{Arc, Mutex};

use parley_core::Clock as _;
use parley_core::model::AgentRole;
use parley_store::testing::TestBackend;
use reqwest::{Method, StatusCode};
use serde_json::json;
use tracing_subscriber::layer::SubscriberExt as _;

use crate::console::Desk;
use crate::eventually;

const CHILD: &str = "PARLEY_LOG_HYGIENE_CHILD";
const TEXT: &str = "Zebra4471 parcel never came";
const REPLY: &str = "Quokka9052 we will refund you";
const CUSTOMER: &str = "+14155550177";
const AUTH_TOKEN: &str = "authsecret7d1e09c4b2a8";
const HOOK_SECRET: &str = "hooksecret5b8c2f6e1d47";

/// Everything the subscriber writes, kept in memory.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

async fn a_real_run_leaves_no_personal_data_or_secret_in_the_logs(b: TestBackend) {
    if std::env::var_os(CHILD).is_none() {
        let name = match b {
            TestBackend::Sqlite => {
                "log_hygiene::sqlite::a_real_run_leaves_no_personal_data_or_secret_in_the_logs"
            }
            TestBackend::Postgres => {
                "log_hygiene::postgres::a_real_run_leaves_no_personal_data_or_secret_in_the_logs"
            }
        };
        let out = tokio::process::Command::new(std::env::current_exe().unwrap())
            .args([name, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD, "1")
            .output()
            .await
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(
            stdout.contains("1 passed"),
            "the child ran the test: {stdout}"
        );
        return;
    }

    let capture = Capture::default();
    let filter = tracing_subscriber::EnvFilter::new(
        "debug,parley=trace,parley_core=trace,parley_store=trace,parley_engine=trace,\
         parley_server=trace,parley_channels=trace,tower_http=trace",
    );
    let json_logs = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_span_list(true)
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
        .with_writer(capture.clone());
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(filter).with(json_logs),
    )
    .unwrap();

    let d = Desk::new(b).await;
    let app = &d.app;
    let store = &app.db.store;
    // A channel with secrets.
    store
        .create_channel(
            &parley_testkit::build::twilio_sms(
                "Secret SMS",
                "+14155550163",
                json!({}),
                json!({"account_sid": "AC0123456789abcdef0123456789abcdef", "auth_token": AUTH_TOKEN}),
            ),
            parley_core::SystemClock.now(),
        )
        .await
        .unwrap();
    // A webhook with a signing secret, through the API with the token.
    let r = app
        .req(Method::POST, "/api/v1/webhook-subscriptions")
        .json(&json!({
            "name": "Hook", "url": "http://127.0.0.1:9/hook",
            "event_types": ["message.received"], "secret": HOOK_SECRET
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        r.text().await.unwrap()
    );
    app.get_json("/api/v1/channels").await;

    // An inbound SMS, answered by an agent.
    let agent = d.agent("Ana", 2, AgentRole::Agent).await;
    let c = d.sign_in(&agent).await;
    d.go(&c, "available").await;
    d.customer_says(CUSTOMER, TEXT).await;
    let session = d.offered(&c).await;
    assert_eq!(d.act(&c, session, "accept").await.status(), StatusCode::OK);
    let r = d
        .call(
            &c,
            Method::POST,
            &format!("/api/v1/sessions/{session}/messages"),
        )
        .json(&json!({ "body": REPLY }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let s = store.clone();
    eventually(&app.events, "the reply reached the simulator", || {
        let s = s.clone();
        async move {
            let sent = s
                .list_entries(session, parley_store::PageRequest::new(None, 10))
                .await
                .unwrap()
                .items;
            sent.iter()
                .any(|e| e.body == REPLY && e.status != parley_core::model::EntryStatus::Queued)
                .then_some(())
        }
    })
    .await;

    let logs = String::from_utf8_lossy(&capture.0.lock().unwrap()).into_owned();
    assert!(
        logs.lines().count() > 50,
        "the capture saw the run: {} lines",
        logs.lines().count()
    );
    let national = CUSTOMER.trim_start_matches('+');
    for (what, needle) in [
        ("the customer's text", "Zebra4471"),
        ("the agent's reply", "Quokka9052"),
        ("the customer's number", national),
        ("a channel secret", AUTH_TOKEN),
        ("the webhook's signing secret", HOOK_SECRET),
        ("the API token", app.token.as_str()),
        (
            "the console cookie",
            c.cookie.split('=').nth(1).unwrap_or("-"),
        ),
        ("the CSRF token", c.csrf.as_str()),
    ] {
        let found: Vec<&str> = logs
            .lines()
            .filter(|l| l.contains(needle))
            .take(3)
            .collect();
        assert!(
            found.is_empty(),
            "{what} is in the logs:\n{}",
            found.join("\n")
        );
    }
}

parley_store::on_both_backends!(a_real_run_leaves_no_personal_data_or_secret_in_the_logs);
