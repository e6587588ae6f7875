use std::collections::HashMap;
use std::time::Duration;

use parley_smpp::{
    Address, DataCoding, InboundEvent, InboundReceiver, LinkState, MessageState, MobileOriginated,
    SmppClient,
};
use serde_json::{Value, json};

use crate::harness::{Smsc, WAIT, gsm_message, hex, ucs2};

async fn next_event(inbound: &mut InboundReceiver) -> InboundEvent {
    tokio::time::timeout(WAIT, inbound.recv())
        .await
        .expect("an inbound event in time")
        .expect("inbound channel open")
}

async fn next_message(inbound: &mut InboundReceiver) -> MobileOriginated {
    match next_event(inbound).await {
        InboundEvent::Message(m) => m,
        other => panic!("expected a message, got {other:?}"),
    }
}

fn deliver(reference: &str, source: &str, esm_class: u8, data_coding: u8, sm: &[u8]) -> Value {
    json!({
        "cmd": "deliver",
        "ref": reference,
        "source_addr": source,
        "source_addr_ton": 1,
        "source_addr_npi": 1,
        "destination_addr": "12345",
        "dest_addr_ton": 3,
        "dest_addr_npi": 0,
        "esm_class": esm_class,
        "data_coding": data_coding,
        "short_message_hex": hex(sm),
    })
}

async fn acked(smsc: &mut Smsc, reference: &str) -> u64 {
    let resp = smsc
        .wait_for(|e| e["ev"] == "deliver_sm_resp" && e["ref"] == reference)
        .await;
    resp["command_status"].as_u64().unwrap()
}

async fn receipts_for_three_submits(mode: &str) {
    let mut smsc = Smsc::start(json!({"receipts": mode})).await;
    let (client, mut inbound) = SmppClient::connect(smsc.client_config()).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..3 {
        let id = client
            .submit(&gsm_message(format!("receipt {i}").as_bytes(), true))
            .await
            .remove(0)
            .unwrap();
        ids.push(id);
    }
    let mut receipts = HashMap::new();
    for _ in 0..3 {
        match next_event(&mut inbound).await {
            InboundEvent::Receipt(r) => {
                receipts.insert(r.message_id.clone().unwrap(), r);
            }
            other => panic!("expected a receipt, got {other:?}"),
        }
    }
    for id in &ids {
        let r = &receipts[id];
        assert_eq!(r.state, Some(MessageState::Delivered));
        assert!(r.state.as_ref().unwrap().is_final());
        assert_eq!(r.esm_class, 0x04);
        assert_eq!(r.text.id.as_deref(), Some(id.as_str()));
        assert_eq!(r.text.stat.as_deref(), Some("DELIVRD"));
        assert_eq!(r.text.err.as_deref(), Some("000"));
        assert_eq!(r.text.submit_date.as_deref(), Some("2611011200"));
        assert_eq!(r.source, Address::new(1, 1, "447400123456"));
        assert_eq!(r.destination, Address::new(3, 0, "12345"));
        if mode == "tlv" {
            assert_eq!(r.tlv_receipted_message_id.as_deref(), Some(id.as_str()));
            assert_eq!(r.tlv_message_state, Some(2));
        } else {
            assert_eq!(r.tlv_receipted_message_id, None);
            assert_eq!(r.tlv_message_state, None);
        }
    }
    smsc.wait_count(3, |e| e["ev"] == "deliver_sm_resp").await;
    assert_eq!(
        smsc.count(|e| e["ev"] == "deliver_sm_resp" && e["command_status"] == 0),
        3
    );
    client.close().await;
}

#[tokio::test]
async fn delivery_receipts_with_tlvs_match_message_ids() {
    receipts_for_three_submits("tlv").await;
}

#[tokio::test]
async fn delivery_receipts_from_text_only_match_message_ids() {
    receipts_for_three_submits("text").await;
}

#[tokio::test]
async fn malformed_receipt_text_is_surfaced_not_fatal() {
    let mut smsc = Smsc::start(json!({})).await;
    let (client, mut inbound) = SmppClient::connect(smsc.client_config()).await.unwrap();
    let garbage = b"\xff\xfeid:\x00stat:UNDELIV err";
    smsc.command(deliver("bad", "447400123456", 0x04, 0, garbage))
        .await;
    match next_event(&mut inbound).await {
        InboundEvent::Receipt(r) => {
            assert_eq!(r.raw, garbage);
            // NUL counts as a space, the stat value runs to the next label.
            assert_eq!(r.message_id.as_deref(), Some(""));
            assert_eq!(r.text.stat.as_deref(), Some("UNDELIV err"));
            assert_eq!(r.state, Some(MessageState::Undeliverable));
            assert_eq!(r.tlv_message_state, None);
        }
        other => panic!("expected a receipt, got {other:?}"),
    }
    assert_eq!(acked(&mut smsc, "bad").await, 0);
    client.close().await;
}

#[tokio::test]
async fn mobile_originated_single_gsm() {
    let mut smsc = Smsc::start(json!({})).await;
    let (client, mut inbound) = SmppClient::connect(smsc.client_config()).await.unwrap();
    let septets = [b'S', b'T', b'O', b'P', b' ', 0x00, 0x1B, 0x65];
    smsc.command(deliver("mo", "447400123456", 0, 0, &septets))
        .await;
    let m = next_message(&mut inbound).await;
    assert_eq!(m.payload, septets);
    assert_eq!(m.data_coding, DataCoding::Gsm7);
    assert_eq!(m.source, Address::international("447400123456"));
    assert_eq!(m.destination, Address::short_code("12345"));
    assert_eq!((m.parts_total, m.parts_received, m.complete), (1, 1, true));
    assert_eq!(m.concat_reference, None);
    assert_eq!(acked(&mut smsc, "mo").await, 0);
    client.close().await;
}

#[tokio::test]
async fn mobile_originated_concatenated_gsm_out_of_order_and_interleaved() {
    let mut smsc = Smsc::start(json!({})).await;
    let (client, mut inbound) = SmppClient::connect(smsc.client_config()).await.unwrap();
    let text_a: Vec<u8> = (0..300u32)
        .map(|i| b'A' + u8::try_from(i % 26).unwrap())
        .collect();
    let parts_a = crate::harness::concatenated(&text_a, 153, 0x07);
    assert_eq!(parts_a.len(), 2);
    let text_b: Vec<u8> = (0..400u32)
        .map(|i| b'a' + u8::try_from(i % 26).unwrap())
        .collect();
    let parts_b = crate::harness::concatenated(&text_b, 153, 0x07); // same reference, other phone
    assert_eq!(parts_b.len(), 3);
    let order = [
        ("b2", "447400000002", &parts_b[1]),
        ("a2", "447400000001", &parts_a[1]),
        ("b3", "447400000002", &parts_b[2]),
        ("a1", "447400000001", &parts_a[0]),
        ("b1", "447400000002", &parts_b[0]),
    ];
    for (reference, source, part) in order {
        smsc.command(deliver(reference, source, 0x40, 0, part))
            .await;
        assert_eq!(acked(&mut smsc, reference).await, 0);
    }
    let first = next_message(&mut inbound).await;
    let second = next_message(&mut inbound).await;
    assert_eq!(first.source.address, "447400000001");
    assert_eq!(first.payload, text_a);
    assert_eq!(
        (first.parts_total, first.parts_received, first.complete),
        (2, 2, true)
    );
    assert_eq!(first.concat_reference, Some(7));
    assert_eq!(first.esm_class, 0x40);
    assert_eq!(second.source.address, "447400000002");
    assert_eq!(second.payload, text_b);
    assert_eq!((second.parts_total, second.complete), (3, true));
    client.close().await;
}

#[tokio::test]
async fn mobile_originated_concatenated_ucs2_with_16_bit_reference() {
    let mut smsc = Smsc::start(json!({})).await;
    let (client, mut inbound) = SmppClient::connect(smsc.client_config()).await.unwrap();
    let text = ucs2(&"Привет, 世界! ".repeat(8));
    let chunks: Vec<&[u8]> = text.chunks(132).collect();
    assert_eq!(chunks.len(), 2);
    for (i, chunk) in chunks.iter().enumerate() {
        let mut part = vec![6, 8, 4, 0x12, 0x34, 2, u8::try_from(i + 1).unwrap()];
        part.extend_from_slice(chunk);
        let reference = format!("u{i}");
        smsc.command(deliver(&reference, "447400123456", 0x40, 8, &part))
            .await;
        assert_eq!(acked(&mut smsc, &reference).await, 0);
    }
    let m = next_message(&mut inbound).await;
    assert_eq!(m.data_coding, DataCoding::Ucs2);
    assert_eq!(m.payload, text);
    assert_eq!(m.concat_reference, Some(0x1234));
    assert_eq!((m.parts_total, m.parts_received, m.complete), (2, 2, true));
    client.close().await;
}

#[tokio::test]
async fn mobile_originated_concatenated_with_sar_tlvs() {
    let mut smsc = Smsc::start(json!({})).await;
    let (client, mut inbound) = SmppClient::connect(smsc.client_config()).await.unwrap();
    for (seq, chunk) in [(2u8, "world"), (1, "hello ")] {
        let mut command = deliver(&format!("sar{seq}"), "447400123456", 0, 0, chunk.as_bytes());
        command["tlvs"] = json!({
            "sar_msg_ref_num": 513,
            "sar_total_segments": 2,
            "sar_segment_seqnum": seq,
        });
        smsc.command(command).await;
        assert_eq!(acked(&mut smsc, &format!("sar{seq}")).await, 0);
    }
    let m = next_message(&mut inbound).await;
    assert_eq!(m.payload, b"hello world");
    assert_eq!(m.concat_reference, Some(513));
    client.close().await;
}

#[tokio::test]
async fn undecodable_deliver_sm_is_surfaced_and_refused_permanently() {
    let mut smsc = Smsc::start(json!({})).await;
    let (client, mut inbound) = SmppClient::connect(smsc.client_config()).await.unwrap();
    // A non-ASCII octet in a C-octet string: rusmpp refuses to decode it.
    smsc.command(deliver("weird", "caf\u{e9}", 0, 0, b"hi"))
        .await;
    match next_event(&mut inbound).await {
        InboundEvent::Undecodable(pdu) => {
            assert_eq!(pdu.command_id, 5);
            assert!(!pdu.raw.is_empty());
        }
        other => panic!("expected an undecodable PDU, got {other:?}"),
    }
    assert_eq!(acked(&mut smsc, "weird").await, 0x65);
    // The bind survives it.
    smsc.command(deliver("next", "447400123456", 0, 0, b"ok"))
        .await;
    assert_eq!(next_message(&mut inbound).await.payload, b"ok");
    assert_eq!(client.link_state(), LinkState::Bound);
    client.close().await;
}

#[tokio::test]
async fn full_inbound_channel_asks_the_smsc_to_retry() {
    let mut smsc = Smsc::start(json!({})).await;
    let mut config = smsc.client_config();
    config.inbound_capacity = 1;
    let (client, mut inbound) = SmppClient::connect(config).await.unwrap();
    smsc.command(deliver("first", "447400123456", 0, 0, b"one"))
        .await;
    assert_eq!(acked(&mut smsc, "first").await, 0);
    smsc.command(deliver("second", "447400123456", 0, 0, b"two"))
        .await;
    assert_eq!(acked(&mut smsc, "second").await, 0x14);
    assert_eq!(next_message(&mut inbound).await.payload, b"one");
    smsc.command(deliver("again", "447400123456", 0, 0, b"two"))
        .await;
    assert_eq!(acked(&mut smsc, "again").await, 0);
    assert_eq!(next_message(&mut inbound).await.payload, b"two");
    client.close().await;
}

#[tokio::test]
async fn enquire_link_both_ways() {
    let mut smsc = Smsc::start(json!({})).await;
    let mut config = smsc.client_config();
    config.enquire_link_interval = Duration::from_millis(100);
    let (client, _inbound) = SmppClient::connect(config).await.unwrap();
    // The SMSC's enquire_link is answered with status 0.
    smsc.barrier("from-smsc").await;
    // The client sends its own, periodically, and stays bound.
    smsc.wait_count(3, |e| e["ev"] == "enquire_link").await;
    assert_eq!(client.link_state(), LinkState::Bound);
    assert_eq!(smsc.count(|e| e["ev"] == "bind_transceiver"), 1);
    client.close().await;
}
