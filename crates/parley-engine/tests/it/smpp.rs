//! SMS channels with provider `smpp` against a real SMSC: the npm `smpp` package's server driven by
//! parley-smpp's `tests/smsc/smsc.js` (the same script and package, started here by a small
//! starter). Assertions are on the PDU fields the SMSC logs and on the entries in the store.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use parley_core::consent::SendPurpose;
use parley_core::model::{
    Actor, ChannelKind, ConsentLevel, Direction, EntryStatus, NumberType, Provider,
};
use parley_core::{Clock, SystemClock, new_id};
use parley_engine::outbound;
use parley_engine::{Engine, EngineConfig, EventBus, JobOutcome};
use parley_store::testing::{TestBackend, TestDb, fresh};
use parley_store::{Channel, ChannelSpec, ClaimRequest, Entry, Job, PageRequest};
use parley_testkit::build;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

const WAIT: Duration = Duration::from_secs(20);
const CUSTOMER: &str = "+447400123456";
const REJECTED: &str = "+447400999999";
const SHORT_CODE: &str = "12345";

// ---------------------------------------------------------------------------------------------
// The SMSC.

fn smsc_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../parley-smpp/tests/smsc")
}

/// The SMSC process; killed when dropped. Everything it logs is kept in `log`.
struct Smsc {
    _child: Child,
    stdin: ChildStdin,
    log: Arc<Mutex<Vec<Value>>>,
    port: u16,
}

impl Smsc {
    async fn start(config: Value) -> Smsc {
        let dir = smsc_dir();
        if !dir.join("node_modules/smpp/package.json").exists() {
            let status = std::process::Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir)
                .status()
                .expect("npm ci in parley-smpp/tests/smsc");
            assert!(status.success(), "npm ci failed");
        }
        let mut child = Command::new("node")
            .arg("smsc.js")
            .current_dir(&dir)
            .env("SMSC_CONFIG", config.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start node smsc.js");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let writer = log.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    writer.lock().unwrap().push(v);
                }
            }
        });
        let mut smsc = Smsc {
            _child: child,
            stdin,
            log,
            port: 0,
        };
        let listening = smsc.wait_for(|e| e["ev"] == "listening").await;
        smsc.port = u16::try_from(listening["port"].as_u64().unwrap()).unwrap();
        smsc
    }

    fn matching(&self, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|e| pred(e))
            .cloned()
            .collect()
    }

    /// Waits (at most [`WAIT`]) until some logged event matches.
    async fn wait_for(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        eventually(|| async { self.matching(&pred).into_iter().next() }).await
    }

    fn submits(&self) -> Vec<Value> {
        self.matching(|e| e["ev"] == "submit_sm")
    }

    async fn command(&mut self, command: Value) {
        let mut line = command.to_string();
        line.push('\n');
        self.stdin.write_all(line.as_bytes()).await.unwrap();
        self.stdin.flush().await.unwrap();
    }
}

/// Polls `f` until it gives a value, for at most [`WAIT`].
async fn eventually<T, F, Fut>(mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    // The SMSC runs in another process: its state can only be polled, at a bounded pace.
    let mut pace = tokio::time::interval(Duration::from_millis(20));
    loop {
        pace.tick().await;
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for a condition"
        );
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------------------------
// The world.

struct World {
    engine: Engine,
    _db: TestDb,
}

async fn world(b: TestBackend) -> World {
    let db = fresh(b).await;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let engine = Engine::new(
        db.store.clone(),
        clock,
        EventBus::default(),
        EngineConfig::default(),
    );
    World { engine, _db: db }
}

fn smpp_spec(port: u16, password: &str) -> ChannelSpec {
    ChannelSpec {
        name: format!("smpp-{}", new_id().simple()),
        kind: ChannelKind::Sms,
        provider: Provider::Smpp,
        address: SHORT_CODE.into(),
        number_type: Some(NumberType::ShortCode),
        provider_keyword: None,
        country: Some("GB".into()),
        consent_level: ConsentLevel::Implicit,
        queue_id: None,
        throughput_mps: Some(100),
        settings: json!({"host": "127.0.0.1", "port": port, "system_type": "parley",
                         "window": 4}),
        secrets: json!({"system_id": "parley", "password": password}),
    }
}

async fn smpp_channel(w: &World, port: u16, password: &str) -> Channel {
    w.engine
        .store
        .create_channel(&smpp_spec(port, password), w.engine.clock.now())
        .await
        .unwrap()
}

/// A customer with an open session on `channel`, and an agent's queued reply to them.
async fn queued_reply(w: &World, channel: &Channel, to: &str, body: &str) -> Entry {
    let store = &w.engine.store;
    let now = w.engine.clock.now();
    let session = build::customer_session(store, channel, to, now).await;
    store
        .append_entry(
            &build::new_entry(
                session.id,
                Direction::Outbound,
                Actor::Agent,
                body,
                EntryStatus::Queued,
            ),
            now,
        )
        .await
        .unwrap()
}

/// The entry's send job, enqueued and claimed as the runner would.
async fn claimed_job(w: &World, entry: &Entry) -> Job {
    let store = &w.engine.store;
    let now = w.engine.clock.now();
    let job = outbound::send_job(
        entry.id,
        SendPurpose::Conversation {
            session_opt_in: false,
        },
        outbound::REPLY_PRIORITY,
        now,
    );
    store.enqueue(&job, now).await.unwrap();
    let mut jobs = store
        .claim_jobs(ClaimRequest {
            queue: outbound::QUEUE,
            worker: "test",
            limit: 10,
            lease: Duration::from_secs(60),
            now,
        })
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1);
    jobs.remove(0)
}

async fn send(w: &World, entry: &Entry) -> JobOutcome {
    let job = claimed_job(w, entry).await;
    w.engine.outbound.send(job).await
}

async fn wait_status(w: &World, entry: &Entry, status: EntryStatus) -> Entry {
    eventually(|| async {
        let e = w.engine.store.entry(entry.id).await.unwrap();
        (e.status == status).then_some(e)
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// The cases.

/// A long GSM text goes as two concatenated segments (data_coding 0, UDHI, 05 00 03 UDH), a long
/// Cyrillic text as two UCS-2 segments (data_coding 8); each entry becomes `sent` with the
/// SMSC's id of its first segment, then `delivered` by the receipt.
async fn smpp_sends_long_gsm_and_ucs2_and_receipts_deliver(b: TestBackend) {
    let w = world(b).await;
    let smsc = Smsc::start(json!({"receipts": "tlv"})).await;
    let channel = smpp_channel(&w, smsc.port, "secret").await;

    let gsm_text = format!("Hello {}! {}", "Ada", "x".repeat(190));
    let gsm = queued_reply(&w, &channel, CUSTOMER, &gsm_text).await;
    assert_eq!(send(&w, &gsm).await, JobOutcome::Done);
    let submits = smsc.submits();
    assert_eq!(submits.len(), 2, "{submits:#?}");
    let mut reference = None;
    for (i, s) in submits.iter().enumerate() {
        assert_eq!(s["data_coding"], 0);
        assert_eq!(s["esm_class"].as_u64().unwrap() & 0x40, 0x40, "UDHI");
        assert_eq!(s["registered_delivery"], 1);
        assert_eq!(s["destination_addr"], "447400123456");
        assert_eq!(s["dest_addr_ton"], 1);
        assert_eq!(s["source_addr"], SHORT_CODE);
        assert_eq!(s["source_addr_ton"], 3);
        let sm = s["short_message_hex"].as_str().unwrap();
        assert_eq!(&sm[..6], "050003");
        let r = &sm[6..8];
        assert_eq!(*reference.get_or_insert(r.to_owned()), r, "one reference");
        assert_eq!(&sm[8..12], format!("02{:02x}", i + 1));
    }
    let first = &submits[0]["short_message_hex"].as_str().unwrap()[12..];
    assert_eq!(first, hex(&gsm_text.as_bytes()[..153]), "unpacked septets");
    let sent = w.engine.store.entry(gsm.id).await.unwrap();
    assert!(
        matches!(sent.status, EntryStatus::Sent | EntryStatus::Delivered),
        "{sent:?}"
    );
    assert_eq!(
        sent.provider_message_id.as_deref(),
        submits[0]["message_id"].as_str()
    );
    let delivered = wait_status(&w, &gsm, EntryStatus::Delivered).await;
    assert_eq!(delivered.error_code, None);

    let cyrillic = "Здравствуйте, Ада! Ваш заказ готов к выдаче. ".repeat(2);
    let ucs2 = queued_reply(&w, &channel, CUSTOMER, &cyrillic).await;
    assert_eq!(send(&w, &ucs2).await, JobOutcome::Done);
    let submits = smsc.submits();
    assert_eq!(submits.len(), 4, "{submits:#?}");
    let utf16: Vec<u8> = cyrillic.encode_utf16().flat_map(u16::to_be_bytes).collect();
    let mut joined = String::new();
    for (i, s) in submits[2..].iter().enumerate() {
        assert_eq!(s["data_coding"], 8);
        assert_eq!(s["esm_class"].as_u64().unwrap() & 0x40, 0x40);
        let sm = s["short_message_hex"].as_str().unwrap();
        assert_eq!(&sm[..6], "050003");
        assert_eq!(&sm[8..12], format!("02{:02x}", i + 1));
        joined.push_str(&sm[12..]);
    }
    assert_eq!(joined, hex(&utf16));
    assert_eq!(submits[2]["sm_length"], 6 + 67 * 2);
    let delivered = wait_status(&w, &ucs2, EntryStatus::Delivered).await;
    assert_eq!(
        delivered.provider_message_id.as_deref(),
        submits[2]["message_id"].as_str()
    );
    w.engine.outbound.smpp_links().close_all().await;
}

/// A mobile-originated message (UCS-2, and a GSM one in two concatenated parts) becomes an
/// inbound entry in the customer's session.
async fn smpp_mo_messages_become_inbound_entries(b: TestBackend) {
    let w = world(b).await;
    let mut smsc = Smsc::start(json!({})).await;
    let channel = smpp_channel(&w, smsc.port, "secret").await;
    // The first send makes the bind.
    let reply = queued_reply(&w, &channel, CUSTOMER, "Your order is ready").await;
    assert_eq!(send(&w, &reply).await, JobOutcome::Done);

    let question = "Можно забрать завтра? ✓";
    let utf16: Vec<u8> = question.encode_utf16().flat_map(u16::to_be_bytes).collect();
    smsc.command(
        json!({"cmd": "deliver", "ref": "mo1", "source_addr": "447400123456",
                        "destination_addr": SHORT_CODE, "data_coding": 8,
                        "short_message_hex": hex(&utf16)}),
    )
    .await;
    smsc.wait_for(|e| e["ev"] == "deliver_sm_resp" && e["ref"] == "mo1")
        .await;
    let long = format!("{} and more", "b".repeat(160));
    let bytes = long.as_bytes();
    for (seq, part) in [&bytes[..153], &bytes[153..]].iter().enumerate() {
        let mut sm = vec![5, 0, 3, 0x42, 2, u8::try_from(seq + 1).unwrap()];
        sm.extend_from_slice(part);
        let r = format!("mo2-{seq}");
        smsc.command(
            json!({"cmd": "deliver", "ref": r, "source_addr": "447400123456",
                            "destination_addr": SHORT_CODE, "esm_class": 0x40,
                            "data_coding": 0, "short_message_hex": hex(&sm)}),
        )
        .await;
        smsc.wait_for(|e| e["ev"] == "deliver_sm_resp" && e["ref"] == r)
            .await;
    }
    let runner = w.engine.inbound_runner();
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut processed = 0;
    let mut pace = tokio::time::interval(Duration::from_millis(20));
    while processed < 2 {
        pace.tick().await;
        assert!(tokio::time::Instant::now() < deadline, "MO not ingested");
        processed += runner.run_once().await.unwrap();
    }

    let store = &w.engine.store;
    let user = store
        .messaging_user_by_key(channel.id, CUSTOMER)
        .await
        .unwrap()
        .unwrap();
    let session = store.open_session(user.id).await.unwrap().unwrap();
    let entries = store
        .list_entries(session.id, PageRequest::new(None, 50))
        .await
        .unwrap()
        .items;
    let inbound: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.direction == Direction::Inbound)
        .collect();
    let bodies: Vec<&str> = inbound.iter().map(|e| e.body.as_str()).collect();
    assert_eq!(bodies, vec![question, long.as_str()], "{entries:#?}");
    assert!(inbound.iter().all(|e| {
        e.provider_message_id
            .as_deref()
            .is_some_and(|id| id.starts_with("smpp-mo-"))
    }));
    w.engine.outbound.smpp_links().close_all().await;
}

/// ESME_RINVDSTADR fails the entry with 2001 and keeps the SMPP status beside it.
async fn smpp_rejected_destination_fails_with_2001(b: TestBackend) {
    let w = world(b).await;
    let smsc = Smsc::start(json!({"reject_destination": "447400999999"})).await;
    let channel = smpp_channel(&w, smsc.port, "secret").await;
    let entry = queued_reply(&w, &channel, REJECTED, "Hello").await;
    assert_eq!(send(&w, &entry).await, JobOutcome::Done);
    let failed = w.engine.store.entry(entry.id).await.unwrap();
    assert_eq!(failed.status, EntryStatus::Failed);
    assert_eq!(failed.error_code.as_deref(), Some("2001"));
    assert!(
        failed
            .provider_error
            .as_deref()
            .unwrap()
            .contains("ESME_RINVDSTADR"),
        "{failed:?}"
    );
    w.engine.outbound.smpp_links().close_all().await;
}

/// The SMSC takes the submit_sm and drops the connection without answering: the outcome is
/// unknown, so the entry becomes `unknown` with an "ambiguous" note and the job is done rather
/// than resent (no blind duplicate).
async fn smpp_lost_answer_is_ambiguous_and_not_resent(b: TestBackend) {
    let w = world(b).await;
    let smsc = Smsc::start(json!({"drop_after": 1, "drop_without_resp": true})).await;
    let channel = smpp_channel(&w, smsc.port, "secret").await;
    let entry = queued_reply(&w, &channel, CUSTOMER, "Hello").await;
    let outcome = send(&w, &entry).await;
    assert_eq!(outcome, JobOutcome::Done, "not retried");
    let kept = w.engine.store.entry(entry.id).await.unwrap();
    assert_eq!(kept.status, EntryStatus::Unknown);
    assert_eq!(kept.error_code, None);
    let note = kept.provider_error.unwrap();
    assert!(
        note.contains("ambiguous") && note.contains("not resent"),
        "{note}"
    );
    assert_eq!(smsc.submits().len(), 1);
    w.engine.outbound.smpp_links().close_all().await;
}

/// The SMSC takes the submit_sm and sends its receipt (text only), but the submit_sm_resp is
/// lost with the connection: the entry goes `unknown`, and the receipt, whose id is on no entry,
/// settles it to delivered by the text it quotes, storing the SMSC's id.
async fn smpp_lost_answer_then_receipt_settles_the_unknown_entry(b: TestBackend) {
    let w = world(b).await;
    let smsc = Smsc::start(json!({"lose_resp": 1, "receipts": "text"})).await;
    let channel = smpp_channel(&w, smsc.port, "secret").await;
    let entry = queued_reply(&w, &channel, CUSTOMER, "Your parcel is on its way").await;
    assert_eq!(send(&w, &entry).await, JobOutcome::Done, "not retried");
    let delivered = wait_status(&w, &entry, EntryStatus::Delivered).await;
    let submits = smsc.submits();
    assert_eq!(submits.len(), 1, "sent once");
    assert!(submits[0]["message_id"].is_string());
    assert_eq!(
        delivered.provider_message_id.as_deref(),
        submits[0]["message_id"].as_str(),
        "the SMSC's id, learnt from the receipt"
    );
    assert!(
        delivered
            .provider_error
            .as_deref()
            .is_some_and(|n| n.contains("ambiguous")),
        "the note of the unknown outcome stays: {delivered:?}"
    );
    w.engine.outbound.smpp_links().close_all().await;
}

/// A refused bind keeps the entry queued with the reason and gives the job back for a retry
/// (nothing cached: the next send binds again); on the last attempt a refused bind fails the
/// entry with 0003 and the SMSC's status rather than leaving it queued.
async fn smpp_bind_failure_retries_then_fails_on_the_last_attempt(b: TestBackend) {
    let w = world(b).await;
    let smsc = Smsc::start(json!({})).await;
    let channel = smpp_channel(&w, smsc.port, "wrong").await;
    let entry = queued_reply(&w, &channel, CUSTOMER, "Hello").await;
    let outcome = send(&w, &entry).await;
    assert!(matches!(outcome, JobOutcome::Retry(_)), "{outcome:?}");
    let queued = w.engine.store.entry(entry.id).await.unwrap();
    assert_eq!(queued.status, EntryStatus::Queued);
    let reason = queued.provider_error.unwrap();
    assert!(
        reason.contains("cannot bind") && reason.contains("ESME_RINVPASWD"),
        "{reason}"
    );
    assert!(smsc.submits().is_empty());
    assert!(w.engine.outbound.smpp_links().client(channel.id).is_none());

    // The last attempt: failed, with the reason, not left queued.
    let mut job = claimed_job(&w, &queued_reply(&w, &channel, CUSTOMER, "Again").await).await;
    job.attempts = job.max_attempts;
    let last = w.engine.outbound.send(job).await;
    assert!(matches!(last, JobOutcome::Permanent(_)), "{last:?}");
    let failed = w.engine.store.entry(entry.id).await.unwrap();
    assert_eq!(failed.status, EntryStatus::Queued, "the first entry waits");
    let entries = w
        .engine
        .store
        .list_entries(entry.session_id, PageRequest::new(None, 10))
        .await
        .unwrap()
        .items;
    let again = entries.iter().find(|e| e.body == "Again").unwrap();
    assert_eq!(again.status, EntryStatus::Failed);
    assert_eq!(again.error_code.as_deref(), Some("0003"));
    assert!(
        again
            .provider_error
            .as_deref()
            .unwrap()
            .contains("ESME_RINVPASWD")
    );
}

/// Runs `engine`'s workers until a customer's SMS over the SMSC (the `binds`-th accepted bind's
/// session, nothing sent before) is an inbound entry, then stops them.
async fn customer_writes_first(
    engine: &Engine,
    smsc: &mut Smsc,
    channel: &Channel,
    binds: usize,
    text: &str,
) {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let workers = engine.spawn_workers(stopped);
    eventually(|| async {
        let bound = smsc.matching(|e| e["ev"] == "bind_transceiver" && e["accepted"] == true);
        (bound.len() >= binds).then_some(())
    })
    .await;
    assert!(smsc.submits().is_empty(), "nothing was sent");
    let r = format!("mo-{binds}");
    smsc.command(
        json!({"cmd": "deliver", "ref": r, "source_addr": "447400123456",
                        "destination_addr": SHORT_CODE, "data_coding": 0,
                        "short_message_hex": hex(text.as_bytes())}),
    )
    .await;
    let resp = smsc
        .wait_for(|e| e["ev"] == "deliver_sm_resp" && e["ref"] == r)
        .await;
    assert_eq!(resp["command_status"], 0, "the SMS was taken");
    let store = &engine.store;
    eventually(|| async {
        let user = store
            .messaging_user_by_key(channel.id, CUSTOMER)
            .await
            .unwrap()?;
        let session = store.open_session(user.id).await.unwrap()?;
        let entries = store
            .list_entries(session.id, PageRequest::new(None, 50))
            .await
            .unwrap()
            .items;
        entries
            .iter()
            .any(|e| e.direction == Direction::Inbound && e.body == text)
            .then_some(())
    })
    .await;
    stop.send(true).unwrap();
    for w in workers {
        w.await.unwrap();
    }
}

/// A running engine binds its SMPP channels before anything is sent, so a customer who writes
/// first is heard; and again after the engine restarts on the same database.
async fn smpp_binds_at_start_and_hears_a_customer_who_writes_first(b: TestBackend) {
    let w = world(b).await;
    let mut smsc = Smsc::start(json!({})).await;
    let channel = smpp_channel(&w, smsc.port, "secret").await;
    customer_writes_first(&w.engine, &mut smsc, &channel, 1, "Is my order ready?").await;
    assert!(
        w.engine.outbound.smpp_links().client(channel.id).is_none(),
        "the binds are closed when the workers stop"
    );

    let restarted = Engine::new(
        w.engine.store.clone(),
        Arc::new(SystemClock),
        EventBus::default(),
        EngineConfig::default(),
    );
    customer_writes_first(&restarted, &mut smsc, &channel, 2, "Hello again").await;
}

/// The binds follow the channels while the engine runs: a channel created with a password the
/// SMSC refuses is retried, bound once its password is fixed, bound again when its settings
/// change (the old bind closed), and unbound when it is deleted.
async fn smpp_binds_follow_channel_changes(b: TestBackend) {
    use parley_engine::service::channels::{Writes, create_spec, delete, replace_spec};
    let w = world(b).await;
    let smsc = Smsc::start(json!({})).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let workers = w.engine.spawn_workers(stopped);
    let binds = |accepted: bool| {
        smsc.matching(|e| e["ev"] == "bind_transceiver" && e["accepted"] == accepted)
    };
    let closed = |session: &Value| {
        !smsc
            .matching(|e| e["ev"] == "close" && e["session"] == *session)
            .is_empty()
    };

    let mut spec = smpp_spec(smsc.port, "wrong");
    let now = w.engine.clock.now();
    let channel = create_spec(Writes::of_engine(&w.engine), &spec, now)
        .await
        .unwrap();
    eventually(|| async { (binds(false).len() >= 2).then_some(()) }).await;
    assert!(binds(true).is_empty());

    spec.secrets = json!({"system_id": "parley", "password": "secret"});
    replace_spec(Writes::of_engine(&w.engine), channel.id, &spec, now)
        .await
        .unwrap();
    let first = eventually(|| async { binds(true).into_iter().next() }).await;
    assert_eq!(first["system_type"], "parley");

    spec.settings["system_type"] = json!("changed");
    replace_spec(Writes::of_engine(&w.engine), channel.id, &spec, now)
        .await
        .unwrap();
    let second = eventually(|| async {
        binds(true)
            .into_iter()
            .find(|e| e["system_type"] == "changed")
    })
    .await;
    eventually(|| async { closed(&first["session"]).then_some(()) }).await;

    delete(Writes::of_engine(&w.engine), channel.id)
        .await
        .unwrap();
    eventually(|| async { closed(&second["session"]).then_some(()) }).await;
    assert!(w.engine.outbound.smpp_links().client(channel.id).is_none());
    assert_eq!(binds(true).len(), 2, "no other bind");
    stop.send(true).unwrap();
    for worker in workers {
        worker.await.unwrap();
    }
}

parley_store::on_both_backends!(
    smpp_sends_long_gsm_and_ucs2_and_receipts_deliver,
    smpp_mo_messages_become_inbound_entries,
    smpp_rejected_destination_fails_with_2001,
    smpp_lost_answer_is_ambiguous_and_not_resent,
    smpp_lost_answer_then_receipt_settles_the_unknown_entry,
    smpp_bind_failure_retries_then_fails_on_the_last_attempt,
    smpp_binds_at_start_and_hears_a_customer_who_writes_first,
    smpp_binds_follow_channel_changes,
);
