//! Issue 12: conversations waiting in a flow survive a SIGKILL. Forty customers are asked a
//! question by the channel's bot; the server is killed while their answers arrive; once
//! restarted on the same database, every accepted answer is taken where its conversation waited
//! and answered exactly once, and the answers refused while it was down are taken when resent.

use std::collections::HashMap;
use std::time::Duration;

use parley_core::model::Direction;
use parley_store::{Store, StoreOptions};
use parley_testkit::db::{TestBackend, fresh_url};
use parley_testkit::free_port;

use crate::process::{parley, serve};

const WORKSPACE: &str = r#"
flows:
  - name: survey
    steps:
      - id: rate
        type: ask
        message: { text: "Rate us from 1 to 5" }
        save_as: score
        cases:
          - when: { type: number_between, min: 1, max: 5 }
            next: thanks
      - id: thanks
        type: end
        message: { text: "Thanks for the {{flow.score}}" }
channels:
  - name: Flow SMS
    kind: sms
    provider: simulator
    address: "+14155550100"
    number_type: toll_free
    consent_level: implicit
    settings:
      flows: { bot: survey }
"#;

const CUSTOMERS: usize = 40;

fn number(n: usize) -> String {
    format!("+1415777{n:04}")
}

/// The bodies the simulated network carried to each customer.
async fn outbound(store: &Store) -> HashMap<String, Vec<String>> {
    let mut out = HashMap::new();
    for n in 0..CUSTOMERS {
        let number = number(n);
        let msgs = store.simulator_messages(&number, None, 50).await.unwrap();
        let mut bodies: Vec<(parley_core::Timestamp, String)> = msgs
            .into_iter()
            .filter(|m| m.direction == Direction::Outbound)
            .map(|m| (m.created_at, m.body))
            .collect();
        bodies.sort();
        out.insert(number, bodies.into_iter().map(|(_, b)| b).collect());
    }
    out
}

/// Polls (bounded, another process does the work) until `done` holds for what was sent.
async fn until(store: &Store, what: &str, done: impl Fn(&HashMap<String, Vec<String>>) -> bool) {
    let mut pace = tokio::time::interval(Duration::from_millis(50));
    for _ in 0..600 {
        pace.tick().await;
        if done(&outbound(store).await) {
            return;
        }
    }
    panic!("timed out waiting for {what}: {:?}", outbound(store).await);
}

async fn say(client: &reqwest::Client, port: u16, from: &str, text: &str) -> bool {
    client
        .post(format!("http://127.0.0.1:{port}/simulator/inbound"))
        .json(&serde_json::json!({"channel": "Flow SMS", "from": from, "text": text}))
        .send()
        .await
        .is_ok_and(|r| r.status() == reqwest::StatusCode::ACCEPTED)
}

async fn waiting_flows_resume_after_a_sigkill(b: TestBackend) {
    let (db, _dir) = fresh_url(b).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("workspace.yaml");
    std::fs::write(&file, WORKSPACE).unwrap();
    let status = parley(&db, 0, &["apply", "-f", file.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());

    parley_engine::transport::install_crypto_provider();
    let client = reqwest::Client::new();
    let port = free_port();
    let mut server = serve(&db, port, &client).await;
    let store = Store::connect(&db, &StoreOptions::default()).await.unwrap();

    for n in 0..CUSTOMERS {
        assert!(say(&client, port, &number(n), "hi").await);
    }
    until(&store, "every customer asked", |o| {
        o.values().all(|b| b.len() == 1)
    })
    .await;

    // The answers arrive; the server dies a third of the way through them.
    let mut refused = Vec::new();
    for n in 0..CUSTOMERS {
        if n == CUSTOMERS / 3 {
            server.kill().unwrap();
            server.wait().unwrap();
        }
        let score = 1 + n % 5;
        if !say(&client, port, &number(n), &score.to_string()).await {
            refused.push(n);
        }
    }
    assert!(
        !refused.is_empty(),
        "the server was killed before some answers"
    );

    let mut server = serve(&db, port, &client).await;
    for &n in &refused {
        let score = 1 + n % 5;
        assert!(say(&client, port, &number(n), &score.to_string()).await);
    }
    until(&store, "every answer taken", |o| {
        o.values().all(|b| b.len() >= 2)
    })
    .await;
    server.kill().unwrap();
    server.wait().unwrap();

    let got = outbound(&store).await;
    for n in 0..CUSTOMERS {
        let expected = vec![
            "Rate us from 1 to 5".to_owned(),
            format!("Thanks for the {}", 1 + n % 5),
        ];
        assert_eq!(got[&number(n)], expected, "{}", number(n));
    }
    assert_eq!(store.queue_counts("flows").await.unwrap().dead, 0);
    store.close().await;
}

parley_store::on_both_backends!(waiting_flows_resume_after_a_sigkill);
