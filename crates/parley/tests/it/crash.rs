//! A server killed (SIGKILL) in the middle of a burst loses no accepted message and, once
//! restarted, sends nothing twice to the simulator's sink.

use std::collections::HashMap;
use std::time::Duration;

use parley_core::model::Direction;
use parley_store::{PageRequest, Store, StoreOptions};
use parley_testkit::db::{TestBackend, fresh_url};
use parley_testkit::free_port;

use crate::process::{parley, serve};

const WORKSPACE: &str = r#"
channels:
  - name: Crash SMS
    kind: sms
    provider: simulator
    address: "+14155550100"
    number_type: toll_free
    consent_level: implicit
"#;

async fn killed_mid_burst_loses_nothing_and_sends_nothing_twice(b: TestBackend) {
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

    // A burst of HELP messages from 300 customers, 16 at a time; the server dies a third of the way.
    let url = format!("http://127.0.0.1:{port}/simulator/inbound");
    let mut accepted = Vec::new();
    let mut sent = 0;
    for wave in 0..(300 / 16 + 1) {
        let mut batch = Vec::new();
        for i in 0..16 {
            let n = wave * 16 + i;
            if n >= 300 {
                break;
            }
            let number = format!("+1415666{n:04}");
            let req = client
                .post(&url)
                .json(&serde_json::json!({"channel": "Crash SMS", "from": number, "text": "HELP"}))
                .send();
            batch.push((number, req));
        }
        for (number, req) in batch {
            sent += 1;
            if let Ok(r) = req.await
                && r.status() == reqwest::StatusCode::ACCEPTED
            {
                accepted.push(number);
            }
        }
        if wave == 6 {
            server.kill().unwrap();
            server.wait().unwrap();
        }
    }
    assert!(
        accepted.len() >= 100 && accepted.len() < sent,
        "accepted {} of {sent}",
        accepted.len()
    );

    // Restart on the same database and let it finish what the first process left.
    let mut server = serve(&db, port, &client).await;
    let store = Store::connect(&db, &StoreOptions::default()).await.unwrap();
    let mut drained = false;
    let mut pace = tokio::time::interval(Duration::from_millis(20));
    for _ in 0..1500 {
        pace.tick().await;
        let inbound = store.pending_jobs("inbound").await.unwrap();
        let outbound = store.pending_jobs("outbound").await.unwrap();
        if inbound == 0 && outbound == 0 {
            drained = true;
            break;
        }
    }
    server.kill().unwrap();
    server.wait().unwrap();
    assert!(drained, "work left after the restart");
    for q in ["inbound", "outbound"] {
        assert_eq!(
            store.queue_counts(q).await.unwrap().dead,
            0,
            "dead jobs in {q}"
        );
    }

    // Every accepted message was processed once, and answered once on the simulated network.
    let channel = store.channel_by_name("Crash SMS").await.unwrap().unwrap();
    let mut replies: HashMap<String, usize> = HashMap::new();
    for number in &accepted {
        let user = store
            .messaging_user_by_key(channel.id, number)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{number} lost"));
        let sessions = store
            .list_sessions(
                parley_store::SessionFilter {
                    messaging_user_id: Some(user.id),
                    ..Default::default()
                },
                PageRequest::new(None, 10),
            )
            .await
            .unwrap()
            .items;
        let mut inbound = 0;
        for s in &sessions {
            let entries = store
                .list_entries(s.id, PageRequest::new(None, 50))
                .await
                .unwrap()
                .items;
            inbound += entries
                .iter()
                .filter(|e| e.direction == Direction::Inbound)
                .count();
        }
        assert_eq!(inbound, 1, "{number}: inbound entries");
        let on_network = store.simulator_messages(number, None, 50).await.unwrap();
        let out = on_network
            .iter()
            .filter(|m| m.direction == Direction::Outbound)
            .count();
        replies.insert(number.clone(), out);
    }
    let wrong: Vec<_> = replies.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        wrong.is_empty(),
        "customers not answered exactly once: {wrong:?}"
    );
    store.close().await;
}

parley_store::on_both_backends!(killed_mid_burst_loses_nothing_and_sends_nothing_twice);
