use std::collections::HashMap;
use std::time::Duration;

use parley_smpp::{LinkState, NotSentReason, SmppClient, SubmitError, UnknownReason};
use serde_json::{Value, json};

use crate::harness::{Smsc, WAIT, gsm_message, hex};

fn accepted_with(smsc: &Smsc, payload: &[u8]) -> Vec<Value> {
    smsc.submits()
        .into_iter()
        .filter(|e| e["short_message_hex"] == hex(payload) && e["status"] == 0)
        .collect()
}

/// An outbox over a link that drops: resend what is safe, reconcile what is ambiguous against
/// the SMSC's own log, and end with every message accepted exactly once.
#[tokio::test]
async fn dropped_connection_loses_and_duplicates_nothing() {
    let mut smsc = Smsc::start(json!({"drop_after": 5})).await;
    let mut config = smsc.client_config();
    config.window = 4;
    let (client, _inbound) = SmppClient::connect(config).await.unwrap();

    let payloads: Vec<Vec<u8>> = (0..20)
        .map(|i| format!("outbox {i:02}").into_bytes())
        .collect();
    let mut done: HashMap<usize, String> = HashMap::new();
    let mut classes: HashMap<&'static str, usize> = HashMap::new();
    for round in 0..10 {
        let todo: Vec<usize> = (0..payloads.len())
            .filter(|i| !done.contains_key(i))
            .collect();
        if todo.is_empty() {
            break;
        }
        let mut tasks = Vec::new();
        for &i in &todo {
            let client = client.clone();
            let message = gsm_message(&payloads[i], false);
            tasks.push((
                i,
                tokio::spawn(async move { client.submit(&message).await }),
            ));
        }
        let mut unknown = Vec::new();
        for (i, task) in tasks {
            match task.await.unwrap().remove(0) {
                Ok(id) => {
                    *classes.entry("ok").or_default() += 1;
                    done.insert(i, id);
                }
                Err(SubmitError::OutcomeUnknown(_)) => {
                    *classes.entry("unknown").or_default() += 1;
                    unknown.push(i);
                }
                Err(e) if e.is_retryable() => {
                    *classes.entry("retryable").or_default() += 1;
                }
                Err(e) => panic!("unexpected permanent error {e:?}"),
            }
        }
        // Reconcile the ambiguous ones against what the SMSC says it accepted. The barrier
        // makes sure every earlier SMSC log line has been read.
        assert!(
            tokio::time::timeout(WAIT, client.wait_bound())
                .await
                .unwrap()
        );
        smsc.barrier(&format!("reconcile-{round}")).await;
        for i in unknown {
            if let Some(seen) = accepted_with(&smsc, &payloads[i]).first() {
                done.insert(i, seen["message_id"].as_str().unwrap().to_owned());
            }
        }
    }
    eprintln!("outcomes over all rounds: {classes:?}");
    assert_eq!(done.len(), payloads.len(), "every message ends accepted");
    for (i, payload) in payloads.iter().enumerate() {
        let seen = accepted_with(&smsc, payload);
        assert_eq!(seen.len(), 1, "message {i} accepted exactly once: {seen:?}");
        assert_eq!(seen[0]["message_id"].as_str(), Some(done[&i].as_str()));
    }
    assert_eq!(
        smsc.count(|e| e["ev"] == "submit_sm" && e["status"] == 0),
        payloads.len()
    );
    assert_eq!(smsc.count(|e| e["ev"] == "dropped"), 1);
    assert_eq!(smsc.count(|e| e["ev"] == "bind_transceiver"), 2);
    client.close().await;
}

#[tokio::test]
async fn written_without_response_is_outcome_unknown() {
    let mut smsc = Smsc::start(json!({"drop_after": 3, "drop_without_resp": true})).await;
    let mut config = smsc.client_config();
    config.window = 1;
    let (client, _inbound) = SmppClient::connect(config).await.unwrap();
    for i in 0..2 {
        assert!(
            client
                .submit(&gsm_message(format!("m{i}").as_bytes(), false))
                .await[0]
                .is_ok()
        );
    }
    let third = client.submit(&gsm_message(b"m2", false)).await.remove(0);
    assert_eq!(
        third,
        Err(SubmitError::OutcomeUnknown(UnknownReason::ConnectionLost))
    );
    // The SMSC did see it: this is exactly the ambiguity the error reports.
    let seen = smsc
        .wait_for(|e| e["ev"] == "submit_sm" && e["short_message_hex"] == hex(b"m2"))
        .await;
    assert_eq!(seen["status"], Value::Null);
    // The link comes back by itself and the next message goes through.
    assert!(
        tokio::time::timeout(WAIT, client.wait_bound())
            .await
            .unwrap()
    );
    assert!(client.submit(&gsm_message(b"m3", false)).await[0].is_ok());
    assert_eq!(smsc.count(|e| e["ev"] == "bind_transceiver"), 2);
    client.close().await;
}

#[tokio::test]
async fn no_response_in_time_is_outcome_unknown() {
    let mut smsc = Smsc::start(json!({"hold": true})).await;
    let mut config = smsc.client_config();
    config.response_timeout = Duration::from_millis(300);
    config.enquire_link_interval = Duration::from_secs(3600);
    let (client, _inbound) = SmppClient::connect(config).await.unwrap();
    let result = client.submit(&gsm_message(b"held", false)).await.remove(0);
    assert_eq!(
        result,
        Err(SubmitError::OutcomeUnknown(UnknownReason::ResponseTimeout))
    );
    smsc.wait_for(|e| e["ev"] == "submit_sm").await;
    client.close().await;
}

#[tokio::test]
async fn queued_while_down_is_not_sent() {
    let smsc = Smsc::start(json!({})).await;
    let mut config = smsc.client_config();
    config.queue_timeout = Duration::from_millis(300);
    let (client, _inbound) = SmppClient::connect(config).await.unwrap();
    let mut state = client.watch_link_state();
    drop(smsc); // kills the SMSC: the link drops and cannot come back
    tokio::time::timeout(
        WAIT,
        state.wait_for(|s| matches!(s, LinkState::Reconnecting(_))),
    )
    .await
    .unwrap()
    .unwrap();
    let result = client
        .submit(&gsm_message(b"nobody there", false))
        .await
        .remove(0);
    assert_eq!(
        result,
        Err(SubmitError::NotSent(NotSentReason::QueueTimeout))
    );
    assert!(result.unwrap_err().is_retryable());
    client.close().await;
    assert_eq!(client.link_state(), LinkState::Closed);
    assert_eq!(
        client
            .submit(&gsm_message(b"after close", false))
            .await
            .remove(0),
        Err(SubmitError::NotSent(NotSentReason::Closed))
    );
}

#[tokio::test]
async fn unbind_from_the_smsc_is_answered_then_rebound() {
    let mut smsc = Smsc::start(json!({})).await;
    let (client, _inbound) = SmppClient::connect(smsc.client_config()).await.unwrap();
    let mut state = client.watch_link_state();
    smsc.command(json!({"cmd": "unbind"})).await;
    smsc.wait_for(|e| e["ev"] == "unbind_resp").await;
    tokio::time::timeout(
        WAIT,
        state.wait_for(|s| matches!(s, LinkState::Reconnecting(_))),
    )
    .await
    .unwrap()
    .unwrap();
    smsc.wait_count(2, |e| e["ev"] == "bind_transceiver").await;
    assert!(
        tokio::time::timeout(WAIT, client.wait_bound())
            .await
            .unwrap()
    );
    assert!(client.submit(&gsm_message(b"after rebind", false)).await[0].is_ok());
    client.close().await;
}

#[tokio::test]
async fn silent_link_is_detected_by_enquire_link_and_rebound() {
    let mut smsc = Smsc::start(json!({"silent_enquire_link": true})).await;
    let mut config = smsc.client_config();
    config.enquire_link_interval = Duration::from_millis(100);
    config.response_timeout = Duration::from_millis(300);
    let (client, _inbound) = SmppClient::connect(config).await.unwrap();
    smsc.wait_for(|e| e["ev"] == "enquire_link").await;
    smsc.wait_count(2, |e| e["ev"] == "bind_transceiver").await;
    smsc.wait_count(1, |e| e["ev"] == "close" && e["session"] == 1)
        .await;
    client.close().await;
}
