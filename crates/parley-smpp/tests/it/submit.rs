use std::collections::HashSet;
use std::time::Instant;

use parley_smpp::{
    Address, CommandStatus, DataCoding, OutboundMessage, Segment, SmppClient, SubmitError,
};
use serde_json::json;

use crate::harness::{Smsc, concatenated, gsm_message, hex, ucs2};

#[tokio::test]
async fn single_segment_raw_fields() {
    let mut smsc = Smsc::start(json!({})).await;
    let (client, _inbound) = SmppClient::connect(smsc.client_config()).await.unwrap();
    // GSM 03.38 unpacked: "@" is 0x00 and "€" is ESC 0x65; they must reach the SMSC as is.
    let text = [b'H', b'i', b' ', 0x00, 0x1B, 0x65];
    let results = client.submit(&gsm_message(&text, true)).await;
    assert_eq!(results.len(), 1);
    let id = results[0].clone().expect("accepted");

    let submit = smsc.wait_for(|e| e["ev"] == "submit_sm").await;
    assert_eq!(submit["short_message_hex"], hex(&text));
    assert_eq!(submit["sm_length"], 6);
    assert_eq!(submit["esm_class"], 0);
    assert_eq!(submit["data_coding"], 0);
    assert_eq!(submit["registered_delivery"], 1);
    assert_eq!(submit["source_addr_ton"], 3);
    assert_eq!(submit["source_addr_npi"], 0);
    assert_eq!(submit["source_addr"], "12345");
    assert_eq!(submit["dest_addr_ton"], 1);
    assert_eq!(submit["dest_addr_npi"], 1);
    assert_eq!(submit["destination_addr"], "447400123456");
    assert_eq!(submit["message_id"], id.as_str());
    client.close().await;
}

#[tokio::test]
async fn long_messages_in_both_encodings() {
    let mut smsc = Smsc::start(json!({})).await;
    let (client, _inbound) = SmppClient::connect(smsc.client_config()).await.unwrap();

    // GSM: 400 septets in 3 segments of at most 153.
    let gsm_text: Vec<u8> = (0..400u32)
        .map(|i| b'a' + u8::try_from(i % 26).unwrap())
        .collect();
    let gsm_parts = concatenated(&gsm_text, 153, 0x2A);
    // UCS-2: 100 characters in 2 segments of at most 67 characters (134 octets).
    let ucs2_text = ucs2(&"Grüße aus Köln, 你好! ".repeat(5));
    let ucs2_parts = concatenated(&ucs2_text, 134, 0x2B);
    assert_eq!(gsm_parts.len(), 3);
    assert_eq!(ucs2_parts.len(), 2);

    for (parts, coding) in [
        (&gsm_parts, DataCoding::Gsm7),
        (&ucs2_parts, DataCoding::Ucs2),
    ] {
        let message = OutboundMessage {
            source: Address::alphanumeric("Parley"),
            destination: Address::international("+447400123456"),
            registered_delivery: false,
            segments: parts
                .iter()
                .map(|p| Segment {
                    short_message: p.clone(),
                    data_coding: coding,
                    udhi: true,
                })
                .collect(),
        };
        let ids: Vec<String> = client
            .submit(&message)
            .await
            .into_iter()
            .map(|r| r.expect("segment accepted"))
            .collect();
        assert_eq!(ids.len(), parts.len());
        smsc.wait_count(parts.len(), |e| {
            e["ev"] == "submit_sm" && e["data_coding"] == coding.raw()
        })
        .await;
        let seen: Vec<_> = smsc
            .submits()
            .into_iter()
            .filter(|e| e["data_coding"] == coding.raw())
            .collect();
        assert_eq!(seen.len(), parts.len());
        for ((event, part), id) in seen.iter().zip(parts.iter()).zip(&ids) {
            assert_eq!(event["esm_class"], 0x40);
            assert_eq!(event["source_addr_ton"], 5);
            assert_eq!(event["source_addr"], "Parley");
            assert_eq!(event["short_message_hex"], hex(part));
            assert_eq!(event["message_id"], id.as_str());
        }
    }
    client.close().await;
}

#[tokio::test]
async fn window_bounds_in_flight_submits() {
    let mut smsc = Smsc::start(json!({"hold": true})).await;
    let mut config = smsc.client_config();
    config.window = 10;
    let (client, _inbound) = SmppClient::connect(config).await.unwrap();

    let total = 25;
    let mut tasks = Vec::new();
    for i in 0..total {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            client
                .submit(&gsm_message(format!("window {i}").as_bytes(), false))
                .await
        }));
    }
    // Batches of 10, 10 and 5: each time the SMSC holds every response, the client must stop
    // at the window; the enquire_link round trip proves it wrote nothing more.
    for (round, expected) in [10usize, 20, 25].into_iter().enumerate() {
        smsc.wait_count(expected, |e| e["ev"] == "submit_sm").await;
        smsc.barrier(&format!("round-{round}")).await;
        assert_eq!(smsc.count(|e| e["ev"] == "submit_sm"), expected);
        smsc.command(json!({"cmd": "release", "ref": round})).await;
        smsc.wait_for(|e| e["ev"] == "released" && e["ref"] == round)
            .await;
    }
    let mut ids = HashSet::new();
    for task in tasks {
        let result = task.await.unwrap();
        ids.insert(result[0].clone().expect("accepted"));
    }
    assert_eq!(ids.len(), total);
    client.close().await;
}

#[tokio::test]
async fn window_throughput_on_loopback() {
    let mut smsc = Smsc::start(json!({})).await;
    let mut config = smsc.client_config();
    config.window = 10;
    let (client, _inbound) = SmppClient::connect(config).await.unwrap();
    let total = 1000;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..total {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            client
                .submit(&gsm_message(format!("bulk {i}").as_bytes(), false))
                .await
        }));
    }
    let mut ids = HashSet::new();
    for task in tasks {
        ids.insert(task.await.unwrap()[0].clone().expect("accepted"));
    }
    let elapsed = started.elapsed();
    eprintln!(
        "window 10: {total} submits in {elapsed:?} = {:.0} submits/s",
        f64::from(total) / elapsed.as_secs_f64()
    );
    assert_eq!(ids.len(), usize::try_from(total).unwrap());
    smsc.wait_count(usize::try_from(total).unwrap(), |e| e["ev"] == "submit_sm")
        .await;
    client.close().await;
}

#[tokio::test]
async fn throttled_submit_is_resent_after_back_off() {
    let mut smsc = Smsc::start(json!({"throttle_first": 3})).await;
    let (client, _inbound) = SmppClient::connect(smsc.client_config()).await.unwrap();
    let results = client.submit(&gsm_message(b"throttle me", false)).await;
    let id = results[0].clone().expect("accepted after throttling");
    smsc.wait_count(4, |e| e["ev"] == "submit_sm").await;
    let submits = smsc.submits();
    assert_eq!(submits.len(), 4);
    for (i, s) in submits.iter().enumerate() {
        assert_eq!(s["short_message_hex"], hex(b"throttle me"));
        assert_eq!(s["status"], if i < 3 { 0x58 } else { 0 });
    }
    assert_eq!(submits[3]["message_id"], id.as_str());
    client.close().await;
}

#[tokio::test]
async fn throttling_beyond_the_retry_budget_is_returned() {
    let mut smsc = Smsc::start(json!({"throttle_first": 100})).await;
    let mut config = smsc.client_config();
    config.max_throttle_retries = 2;
    let (client, _inbound) = SmppClient::connect(config).await.unwrap();
    let results = client.submit(&gsm_message(b"never", false)).await;
    let err = results[0].clone().expect_err("throttled");
    assert_eq!(err, SubmitError::Rejected(CommandStatus::ESME_RTHROTTLED));
    assert!(err.is_retryable());
    assert!(err.is_definitely_not_accepted());
    smsc.wait_count(3, |e| e["ev"] == "submit_sm").await;
    smsc.barrier("after").await;
    assert_eq!(smsc.count(|e| e["ev"] == "submit_sm"), 3);
    client.close().await;
}

#[tokio::test]
async fn permanent_rejection_and_invalid_segments() {
    let mut smsc = Smsc::start(json!({"reject_destination": "15550000000"})).await;
    let (client, _inbound) = SmppClient::connect(smsc.client_config()).await.unwrap();
    let mut message = gsm_message(b"to nowhere", false);
    message.destination = Address::international("+15550000000");
    let err = client.submit(&message).await[0]
        .clone()
        .expect_err("rejected");
    assert_eq!(err, SubmitError::Rejected(CommandStatus::ESME_RINVDSTADR));
    assert!(!err.is_retryable());
    assert_eq!(err.command_status(), Some(CommandStatus(0x0B)));

    // Invalid segments never reach the SMSC; valid ones beside them still go.
    let mut message = gsm_message(&[b'x'; 255], false);
    message.segments.push(Segment {
        short_message: vec![9, 0, 3],
        data_coding: DataCoding::Gsm7,
        udhi: true,
    });
    message.segments.push(Segment {
        short_message: b"fine".to_vec(),
        data_coding: DataCoding::Gsm7,
        udhi: false,
    });
    let results = client.submit(&message).await;
    assert!(matches!(results[0], Err(SubmitError::Invalid(_))));
    assert!(matches!(results[1], Err(SubmitError::Invalid(_))));
    assert!(results[2].is_ok());
    smsc.wait_count(2, |e| e["ev"] == "submit_sm").await;
    smsc.barrier("after").await;
    assert_eq!(smsc.count(|e| e["ev"] == "submit_sm"), 2);
    client.close().await;
}
