//! The dispatcher against local fakes of the providers' HTTP APIs: a Twilio Messages API that
//! checks every documented field of each request, and a WhatsApp Cloud API. The rate limit is
//! shown by counting permits on a manual clock, never by timing.

use std::sync::Arc;
use std::time::Duration;

use parley_core::consent::SendPurpose;
use parley_core::model::{
    Actor, ChannelKind, ConsentSource, ConsentStatus, Direction, EntryStatus, JobState,
};
use parley_core::{Clock, ErrorCode, ManualClock, Timestamp, new_id};
use parley_engine::events::EventBus;
use parley_engine::jobs;
use parley_engine::outbound::{self, Outbound, rate_permits};
use parley_engine::transport::HttpTransport;
use parley_engine::{JobOutcome, JobRunner, RunnerConfig};
use parley_store::testing::{TestBackend, fresh};
use parley_store::{Channel, ChannelSpec, ClaimRequest, Entry, Job, Store};
use parley_testkit::build;
use parley_testkit::fake::{
    self, Account, BROKEN, SLOW, Shared, THROTTLED_ONCE, UNSUBSCRIBED, WA_OUTSIDE,
};
use serde_json::json;

const T0: Timestamp = Timestamp(1_700_000_000_000);
const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
const AUTH_TOKEN: &str = "twilio-secret-token";
const FROM: &str = "+14155550100";
const PUBLIC_URL: &str = "https://parley.example/webhooks/twilio/ch";
const OK_TO: &str = "+14155550123";

const PHONE_NUMBER_ID: &str = "106540352242922";
const ACCESS_TOKEN: &str = "EAAGraphToken";
const WA_OK: &str = "447400123456";

// ---------------------------------------------------------------------------------------------
// The fakes: the shared fake of the providers' APIs, expecting this file's account, that checks
// every documented field of each request.

const PAGE_ID: &str = "1029384756";
const PSID: &str = "6789012345";

fn account() -> Account {
    Account {
        account_sid: ACCOUNT_SID.into(),
        auth_token: AUTH_TOKEN.into(),
        access_token: ACCESS_TOKEN.into(),
        api_version: "v21.0".into(),
        phone_number_id: PHONE_NUMBER_ID.into(),
        page_id: PAGE_ID.into(),
        public_url: Some(PUBLIC_URL.into()),
        psid: Some(PSID.into()),
    }
}

async fn fake_twilio() -> (String, Shared) {
    fake::provider(account()).await
}

async fn fake_graph() -> (String, Shared) {
    fake::provider(account()).await
}

async fn fake_messenger() -> (String, Shared) {
    fake::provider(account()).await
}

async fn messenger_channel(w: &World, base_url: &str) -> Channel {
    w.store
        .create_channel(
            &build::messenger(
                &format!("fb-{}", new_id().simple()),
                PAGE_ID,
                json!({"base_url": base_url, "api_version": "v21.0"}),
                json!({"access_token": ACCESS_TOKEN}),
            ),
            w.clock.now(),
        )
        .await
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Fixtures.

struct World {
    store: Store,
    clock: Arc<ManualClock>,
    outbound: Outbound,
    _db: parley_store::testing::TestDb,
}

async fn world(b: TestBackend) -> World {
    let db = fresh(b).await;
    let clock = Arc::new(ManualClock::new(T0));
    let outbound = Outbound::new(db.store.clone(), clock.clone(), EventBus::default())
        .with_transport(HttpTransport::with_timeout(Duration::from_millis(500)).unwrap());
    World {
        store: db.store.clone(),
        clock,
        outbound,
        _db: db,
    }
}

async fn twilio_channel(w: &World, base_url: &str, mps: Option<i64>) -> Channel {
    twilio_channel_at(w, base_url, mps, FROM).await
}

async fn twilio_channel_at(w: &World, base_url: &str, mps: Option<i64>, from: &str) -> Channel {
    let spec = ChannelSpec {
        throughput_mps: mps,
        ..build::twilio_sms(
            &format!("sms-{}", new_id().simple()),
            from,
            json!({"base_url": base_url, "public_url": PUBLIC_URL}),
            json!({"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}),
        )
    };
    w.store.create_channel(&spec, w.clock.now()).await.unwrap()
}

async fn whatsapp_channel(w: &World, base_url: &str) -> Channel {
    w.store
        .create_channel(
            &build::whatsapp(
                &format!("wa-{}", new_id().simple()),
                "+447400000001",
                json!({"base_url": base_url, "api_version": "v21.0",
                       "phone_number_id": PHONE_NUMBER_ID}),
                json!({"access_token": ACCESS_TOKEN}),
            ),
            w.clock.now(),
        )
        .await
        .unwrap()
}

/// A customer on `channel` with an open session, optionally having written at `wrote_at`, and
/// an agent's queued reply to them.
async fn queued_reply(
    w: &World,
    channel: &Channel,
    to: &str,
    body: &str,
    wrote_at: Option<Timestamp>,
) -> Entry {
    let session = build::customer_session(&w.store, channel, to, w.clock.now()).await;
    if let Some(at) = wrote_at {
        w.store
            .append_entry(
                &build::new_entry(
                    session.id,
                    Direction::Inbound,
                    Actor::Customer,
                    "hello?",
                    EntryStatus::Received,
                ),
                at,
            )
            .await
            .unwrap();
    }
    w.store
        .append_entry(
            &build::new_entry(
                session.id,
                Direction::Outbound,
                Actor::Agent,
                body,
                EntryStatus::Queued,
            ),
            w.clock.now(),
        )
        .await
        .unwrap()
}

/// The entry's send job, enqueued and claimed as the runner would.
async fn claimed_job(w: &World, entry: &Entry) -> Job {
    let job = outbound::send_job(
        entry.id,
        SendPurpose::Conversation {
            session_opt_in: false,
        },
        outbound::REPLY_PRIORITY,
        w.clock.now(),
    );
    w.store.enqueue(&job, w.clock.now()).await.unwrap();
    let mut jobs = w
        .store
        .claim_jobs(ClaimRequest {
            queue: outbound::QUEUE,
            worker: "test",
            limit: 10,
            lease: Duration::from_secs(60),
            now: w.clock.now(),
        })
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1);
    jobs.remove(0)
}

async fn send(w: &World, entry: &Entry) -> JobOutcome {
    let job = claimed_job(w, entry).await;
    w.outbound.send(job).await
}

// ---------------------------------------------------------------------------------------------
// Twilio.

async fn twilio_accepts_a_well_formed_request(b: TestBackend) {
    let w = world(b).await;
    let (base, seen) = fake_twilio().await;
    let channel = twilio_channel(&w, &base, Some(100)).await;
    let entry = queued_reply(&w, &channel, OK_TO, "Hi Ada, café at 5?", None).await;

    assert_eq!(send(&w, &entry).await, JobOutcome::Done);

    let stored = w.store.entry(entry.id).await.unwrap();
    assert_eq!(
        stored.status,
        EntryStatus::Queued,
        "Twilio reports `sent` later"
    );
    let sid = stored.provider_message_id.clone().unwrap();
    assert!(sid.starts_with("SM"), "{sid}");
    {
        let seen = seen.lock().unwrap();
        assert!(seen.violations.is_empty(), "{:?}", seen.violations);
        assert_eq!(
            seen.twilio_sends,
            vec![vec![
                ("To".to_owned(), OK_TO.to_owned()),
                ("From".to_owned(), FROM.to_owned()),
                ("Body".to_owned(), "Hi Ada, café at 5?".to_owned()),
                ("StatusCallback".to_owned(), format!("{PUBLIC_URL}/status")),
            ]]
        );
    }
    // The status callback finds the entry by the sid Twilio gave.
    w.outbound
        .record_status(
            channel.id,
            &parley_channels::adapter::StatusUpdate {
                provider_message_id: sid.clone(),
                status: EntryStatus::Delivered,
                error_code: None,
                provider_error: None,
                recipient_opted_out: false,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        w.store.entry(entry.id).await.unwrap().status,
        EntryStatus::Delivered
    );
}

async fn twilio_messaging_service_replaces_from(b: TestBackend) {
    let w = world(b).await;
    let (base, seen) = fake_twilio().await;
    let mut channel = twilio_channel(&w, &base, Some(100)).await;
    let service = "MG0123456789abcdef0123456789abcdef";
    channel.settings["messaging_service_sid"] = json!(service);
    let spec = ChannelSpec {
        name: channel.name.clone(),
        kind: channel.kind,
        provider: channel.provider.clone(),
        address: channel.address.clone(),
        number_type: channel.number_type,
        provider_keyword: None,
        country: channel.country.clone(),
        consent_level: channel.consent_level,
        queue_id: None,
        throughput_mps: channel.throughput_mps,
        settings: channel.settings.clone(),
        secrets: json!({"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}),
    };
    w.store
        .update_channel(channel.id, &spec, w.clock.now())
        .await
        .unwrap();
    let entry = queued_reply(&w, &channel, OK_TO, "via a service", None).await;
    assert_eq!(send(&w, &entry).await, JobOutcome::Done);
    let seen = seen.lock().unwrap();
    assert!(seen.violations.is_empty(), "{:?}", seen.violations);
    let form = &seen.twilio_sends[0];
    assert!(form.contains(&("MessagingServiceSid".to_owned(), service.to_owned())));
    assert!(!form.iter().any(|(n, _)| n == "From"), "{form:?}");
}

async fn twilio_21610_fails_the_entry_and_opts_the_user_out(b: TestBackend) {
    let w = world(b).await;
    let (base, seen) = fake_twilio().await;
    let channel = twilio_channel(&w, &base, Some(100)).await;
    let entry = queued_reply(&w, &channel, UNSUBSCRIBED, "Still there?", None).await;

    assert_eq!(send(&w, &entry).await, JobOutcome::Done);

    let stored = w.store.entry(entry.id).await.unwrap();
    assert_eq!(stored.status, EntryStatus::Failed);
    assert_eq!(
        stored.error_code.as_deref(),
        Some(parley_channels::twilio::map_error_code(21610).code.code())
    );
    assert!(
        stored
            .provider_error
            .as_deref()
            .unwrap()
            .starts_with("21610"),
        "{:?}",
        stored.provider_error
    );
    let session = w.store.session(entry.session_id).await.unwrap();
    let user = w
        .store
        .messaging_user(session.messaging_user_id)
        .await
        .unwrap();
    assert_eq!(user.consent_status, Some(ConsentStatus::OptedOut));
    let history = w.store.consent_history(user.id).await.unwrap();
    let last = history.last().unwrap();
    assert_eq!(last.to_status, ConsentStatus::OptedOut);
    assert_eq!(last.from_status, Some(ConsentStatus::ExplicitlyOptedIn));
    assert_eq!(last.source, ConsentSource::Provider);
    assert_eq!(last.entry_id, Some(entry.id));
    assert!(last.reason.contains("21610"), "{}", last.reason);
    assert!(seen.lock().unwrap().violations.is_empty());
}

async fn twilio_429_is_retried_by_the_runner_then_accepted(b: TestBackend) {
    let w = world(b).await;
    let (base, seen) = fake_twilio().await;
    let channel = twilio_channel(&w, &base, Some(100)).await;
    let entry = queued_reply(&w, &channel, THROTTLED_ONCE, "Try me twice", None).await;
    let job_id = w
        .store
        .enqueue(
            &outbound::send_job(
                entry.id,
                SendPurpose::Conversation {
                    session_opt_in: false,
                },
                outbound::REPLY_PRIORITY,
                w.clock.now(),
            ),
            w.clock.now(),
        )
        .await
        .unwrap()
        .unwrap();
    let out = w.outbound.clone();
    let runner = JobRunner::new(
        w.store.clone(),
        w.clock.clone(),
        RunnerConfig::new(outbound::QUEUE),
    )
    .handle(outbound::KIND, move |job| {
        let out = out.clone();
        async move { out.send(job).await }
    });

    assert_eq!(runner.run_once().await.unwrap(), 1);
    let after_429 = w.store.entry(entry.id).await.unwrap();
    assert_eq!(after_429.status, EntryStatus::Queued);
    assert!(
        after_429
            .provider_error
            .as_deref()
            .unwrap()
            .contains("20429"),
        "{:?}",
        after_429.provider_error
    );
    // Retry-After: 1 holds the whole sender back for a second of the (manual) clock.
    let wait = w.outbound.try_acquire(&channel, 1).unwrap_err();
    assert_eq!(wait, Duration::from_secs(1));
    let job = w.store.job(job_id).await.unwrap();
    assert_eq!(job.state, JobState::Ready, "back in the queue for a retry");
    assert!(job.due_at > T0, "not before its backoff");
    assert_eq!(runner.run_once().await.unwrap(), 0, "not due yet");

    w.clock.advance(Duration::from_secs(5));
    assert_eq!(runner.run_once().await.unwrap(), 1);
    let sent = w.store.entry(entry.id).await.unwrap();
    assert_eq!(sent.status, EntryStatus::Queued);
    assert!(sent.provider_message_id.unwrap().starts_with("SM"));
    assert_eq!(w.store.job(job_id).await.unwrap().state, JobState::Done);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.twilio_sends.len(), 2);
    assert!(seen.violations.is_empty(), "{:?}", seen.violations);
}

async fn twilio_500_is_transient_then_fails_on_the_last_attempt(b: TestBackend) {
    let w = world(b).await;
    let (base, _seen) = fake_twilio().await;
    let channel = twilio_channel(&w, &base, Some(100)).await;
    let entry = queued_reply(&w, &channel, BROKEN, "Anyone?", None).await;

    let mut job = claimed_job(&w, &entry).await;
    assert!(matches!(
        w.outbound.send(job.clone()).await,
        JobOutcome::Retry(_)
    ));
    let stored = w.store.entry(entry.id).await.unwrap();
    assert_eq!(stored.status, EntryStatus::Queued);
    assert_eq!(stored.error_code, None);
    assert!(
        stored
            .provider_error
            .as_deref()
            .unwrap()
            .contains("http_500"),
        "{:?}",
        stored.provider_error
    );

    // The same job on its last attempt: the entry fails with the carried code.
    job.attempts = job.max_attempts;
    assert!(matches!(
        w.outbound.send(job).await,
        JobOutcome::Permanent(_)
    ));
    let stored = w.store.entry(entry.id).await.unwrap();
    assert_eq!(stored.status, EntryStatus::Failed);
    assert_eq!(
        stored.error_code.as_deref(),
        Some(ErrorCode::ServiceUnavailable.code())
    );
}

async fn a_timeout_is_ambiguous_and_never_resent(b: TestBackend) {
    let w = world(b).await;
    let (base, seen) = fake_twilio().await;
    let channel = twilio_channel(&w, &base, Some(100)).await;
    let entry = queued_reply(&w, &channel, SLOW, "Are you there?", None).await;

    let outcome = send(&w, &entry).await;
    assert_eq!(outcome, JobOutcome::Done, "not retried");
    let stored = w.store.entry(entry.id).await.unwrap();
    assert_eq!(stored.status, EntryStatus::Unknown, "it may have been sent");
    assert!(
        stored
            .provider_error
            .as_deref()
            .unwrap()
            .starts_with("ambiguous"),
        "{:?}",
        stored.provider_error
    );
    assert_eq!(seen.lock().unwrap().twilio_sends.len(), 1);
}

/// A send whose job's lease is about to run out (its batch waited that long for the sender's rate
/// or for a stalled database) is given back without calling the provider: a call answered after
/// the lease could race another runner that claimed the job again and sent the message a second
/// time, as the chaos test (crates/parley/tests/it/chaos.rs) saw. Claimed again, it goes once.
async fn a_send_near_the_end_of_its_job_lease_is_given_back_without_a_call(b: TestBackend) {
    let w = world(b).await;
    let (base, seen) = fake_twilio().await;
    let channel = twilio_channel(&w, &base, Some(100)).await;
    let entry = queued_reply(&w, &channel, OK_TO, "Late one", None).await;
    let job = claimed_job(&w, &entry).await;
    // 55 s into its 60 s lease: too late to start a call (outbound::CALL_MARGIN).
    w.clock.advance(Duration::from_secs(55));
    w.outbound.send_batch(vec![job.clone()]).await;
    assert!(seen.lock().unwrap().twilio_sends.is_empty(), "no call");
    let stored = w.store.entry(entry.id).await.unwrap();
    assert_eq!(stored.status, EntryStatus::Queued);
    assert!(
        stored
            .provider_error
            .as_deref()
            .is_some_and(|e| e.contains("lease")),
        "{:?}",
        stored.provider_error
    );
    assert_eq!(w.store.job(job.id).await.unwrap().state, JobState::Ready);

    w.clock.advance(Duration::from_secs(600));
    let jobs = w
        .store
        .claim_jobs(ClaimRequest {
            queue: outbound::QUEUE,
            worker: "again",
            limit: 10,
            lease: Duration::from_secs(60),
            now: w.clock.now(),
        })
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1);
    w.outbound.send_batch(jobs).await;
    assert_eq!(seen.lock().unwrap().twilio_sends.len(), 1);
    let stored = w.store.entry(entry.id).await.unwrap();
    assert!(stored.provider_message_id.is_some(), "{stored:?}");
}

async fn too_long_sms_is_refused_with_3004_without_a_call(b: TestBackend) {
    let w = world(b).await;
    let (base, seen) = fake_twilio().await;
    let channel = twilio_channel(&w, &base, Some(100)).await;
    let entry = queued_reply(&w, &channel, OK_TO, &"a".repeat(841), None).await;
    assert_eq!(send(&w, &entry).await, JobOutcome::Done);
    let stored = w.store.entry(entry.id).await.unwrap();
    assert_eq!(stored.status, EntryStatus::Failed);
    assert_eq!(stored.error_code.as_deref(), Some("3004"));
    assert!(seen.lock().unwrap().twilio_sends.is_empty());
}

// ---------------------------------------------------------------------------------------------
// WhatsApp.

async fn whatsapp_text_inside_the_window_is_accepted(b: TestBackend) {
    let w = world(b).await;
    let (base, seen) = fake_graph().await;
    let channel = whatsapp_channel(&w, &base).await;
    let wrote = w.clock.now();
    w.clock.advance(Duration::from_secs(3600));
    let entry = queued_reply(&w, &channel, WA_OK, "Your order shipped", Some(wrote)).await;

    assert_eq!(send(&w, &entry).await, JobOutcome::Done);
    let stored = w.store.entry(entry.id).await.unwrap();
    assert!(
        stored
            .provider_message_id
            .as_deref()
            .unwrap()
            .starts_with("wamid."),
        "{stored:?}"
    );
    assert_ne!(stored.status, EntryStatus::Failed);
    let seen = seen.lock().unwrap();
    assert!(seen.violations.is_empty(), "{:?}", seen.violations);
    assert_eq!(seen.graph_sends[0]["to"], WA_OK);
    assert_eq!(seen.graph_sends[0]["text"]["body"], "Your order shipped");
}

async fn whatsapp_131047_fails_with_0004(b: TestBackend) {
    let w = world(b).await;
    let (base, seen) = fake_graph().await;
    let channel = whatsapp_channel(&w, &base).await;
    // Our clock says the window is open; Meta's disagrees.
    let entry = queued_reply(&w, &channel, WA_OUTSIDE, "Hello again", Some(w.clock.now())).await;

    assert_eq!(send(&w, &entry).await, JobOutcome::Done);
    let stored = w.store.entry(entry.id).await.unwrap();
    assert_eq!(stored.status, EntryStatus::Failed);
    assert_eq!(stored.error_code.as_deref(), Some("0004"));
    assert!(
        stored
            .provider_error
            .as_deref()
            .unwrap()
            .starts_with("131047"),
        "{:?}",
        stored.provider_error
    );
    assert_eq!(seen.lock().unwrap().graph_sends.len(), 1);
}

async fn whatsapp_outside_the_window_is_refused_without_a_call(b: TestBackend) {
    let w = world(b).await;
    let (base, seen) = fake_graph().await;
    let channel = whatsapp_channel(&w, &base).await;
    let wrote = w.clock.now();
    w.clock.advance(Duration::from_secs(25 * 3600));
    let late = queued_reply(&w, &channel, WA_OK, "Sorry for the wait", Some(wrote)).await;
    let never = queued_reply(&w, &channel, "447400123458", "Hi there", None).await;

    for entry in [late, never] {
        assert_eq!(send(&w, &entry).await, JobOutcome::Done);
        let stored = w.store.entry(entry.id).await.unwrap();
        assert_eq!(stored.status, EntryStatus::Failed);
        assert_eq!(stored.error_code.as_deref(), Some("0004"));
        assert!(
            stored.provider_error.as_deref().unwrap().contains("window")
                || stored.provider_error.as_deref().unwrap().contains("never"),
            "{:?}",
            stored.provider_error
        );
    }
    assert!(seen.lock().unwrap().graph_sends.is_empty(), "no HTTP call");
}

// ---------------------------------------------------------------------------------------------
// Messenger.

async fn messenger_uses_the_window_to_pick_the_messaging_type(b: TestBackend) {
    let w = world(b).await;
    let (base, seen) = fake_messenger().await;
    let channel = messenger_channel(&w, &base).await;
    let wrote = w.clock.now();
    w.clock.advance(Duration::from_secs(3600));
    let fresh_reply = queued_reply(&w, &channel, PSID, "Within the day", Some(wrote)).await;
    assert_eq!(send(&w, &fresh_reply).await, JobOutcome::Done);
    let stored = w.store.entry(fresh_reply.id).await.unwrap();
    assert_eq!(
        stored.status,
        EntryStatus::Sent,
        "Messenger reports no `sent` later"
    );
    assert!(stored.provider_message_id.unwrap().starts_with("m_"));

    // Three days later an agent may still answer, with the HUMAN_AGENT tag.
    w.clock.advance(Duration::from_secs(3 * 24 * 3600));
    let late = queued_reply(&w, &channel, PSID, "Sorry for the delay", Some(wrote)).await;
    assert_eq!(send(&w, &late).await, JobOutcome::Done);
    assert_eq!(
        w.store.entry(late.id).await.unwrap().status,
        EntryStatus::Sent
    );

    // After seven days nothing goes, and Meta is not asked.
    w.clock.advance(Duration::from_secs(5 * 24 * 3600));
    let too_late = queued_reply(&w, &channel, PSID, "Hello?", Some(wrote)).await;
    assert_eq!(send(&w, &too_late).await, JobOutcome::Done);
    let stored = w.store.entry(too_late.id).await.unwrap();
    assert_eq!(stored.status, EntryStatus::Failed);
    assert_eq!(stored.error_code.as_deref(), Some("0004"));

    let seen = seen.lock().unwrap();
    assert!(seen.violations.is_empty(), "{:?}", seen.violations);
    assert_eq!(seen.graph_sends.len(), 2);
    assert_eq!(seen.graph_sends[0]["messaging_type"], "RESPONSE");
    assert_eq!(seen.graph_sends[1]["messaging_type"], "MESSAGE_TAG");
    assert_eq!(seen.graph_sends[1]["tag"], "HUMAN_AGENT");
}

// ---------------------------------------------------------------------------------------------
// The rate limit, by counting permits on the manual clock.

async fn the_rate_limit_charges_per_segment(b: TestBackend) {
    let w = world(b).await;
    let (base, seen) = fake_twilio().await;
    // Three messages per second, so a burst of three permits.
    let channel = twilio_channel(&w, &base, Some(3)).await;
    let two_segments = "a".repeat(200);
    assert_eq!(rate_permits(ChannelKind::Sms, &two_segments), 2);
    assert_eq!(rate_permits(ChannelKind::Sms, "short"), 1);
    assert_eq!(rate_permits(ChannelKind::Whatsapp, &two_segments), 1);

    let entry = queued_reply(&w, &channel, OK_TO, &two_segments, None).await;
    assert_eq!(send(&w, &entry).await, JobOutcome::Done);
    assert_eq!(w.outbound.permits_charged(channel.id), 2, "one per segment");
    assert_eq!(seen.lock().unwrap().twilio_sends.len(), 1);

    // One permit of the burst is left; after it the sender must wait a third of a second.
    w.outbound.try_acquire(&channel, 1).unwrap();
    let wait = w.outbound.try_acquire(&channel, 1).unwrap_err();
    assert!(
        wait > Duration::ZERO && wait <= Duration::from_millis(334),
        "{wait:?}"
    );
    assert_eq!(w.outbound.permits_charged(channel.id), 3);
    // The manual clock moves, the permit comes back; the real clock never mattered.
    w.clock.advance(wait);
    w.outbound.try_acquire(&channel, 1).unwrap();
    assert_eq!(w.outbound.permits_charged(channel.id), 4);

    // Another sender has its own limiter, untouched by this one's.
    let other = twilio_channel_at(&w, &base, Some(3), "+14155550101").await;
    w.outbound.try_acquire(&other, 3).unwrap();
    assert_eq!(w.outbound.permits_charged(other.id), 3);
}

async fn default_rates_follow_number_type(b: TestBackend) {
    let w = world(b).await;
    let long_code = twilio_channel(&w, "http://127.0.0.1:9", None).await;
    assert_eq!(outbound::sender_rate(&long_code), 1);
    let whatsapp = whatsapp_channel(&w, "http://127.0.0.1:9").await;
    assert_eq!(outbound::sender_rate(&whatsapp), 80);
    // A long code's burst is one message: a second one must wait a whole second.
    w.outbound.try_acquire(&long_code, 1).unwrap();
    let wait = w.outbound.try_acquire(&long_code, 1).unwrap_err();
    assert_eq!(wait, Duration::from_secs(1));
}

/// A batch commits its verdicts as they arrive: the fast sends are recorded while a slow one is
/// still waiting for the provider, so a crash at that moment (the batch dropped) leaves only the
/// slow one to be sent again.
async fn a_batch_commits_fast_sends_while_a_slow_one_is_in_flight(b: TestBackend) {
    let w = world(b).await;
    let bus = EventBus::default();
    let outbound = Outbound::new(w.store.clone(), w.clock.clone(), bus.clone())
        .with_transport(HttpTransport::with_timeout(Duration::from_secs(60)).unwrap());
    let (base, _seen) = fake_twilio().await;
    let channel = twilio_channel(&w, &base, Some(100)).await;
    let slow = queued_reply(&w, &channel, SLOW, "Held back", None).await;
    let mut fast = Vec::new();
    for to in ["+14155550171", "+14155550172", "+14155550173"] {
        fast.push(queued_reply(&w, &channel, to, "Quick one", None).await);
    }
    for entry in std::iter::once(&slow).chain(&fast) {
        let job = outbound::send_job(
            entry.id,
            SendPurpose::Conversation {
                session_opt_in: false,
            },
            outbound::REPLY_PRIORITY,
            w.clock.now(),
        );
        w.store.enqueue(&job, w.clock.now()).await.unwrap();
    }
    let jobs = w
        .store
        .claim_jobs(ClaimRequest {
            queue: outbound::QUEUE,
            worker: "test",
            limit: 10,
            lease: Duration::from_secs(60),
            now: w.clock.now(),
        })
        .await
        .unwrap();
    assert_eq!(jobs.len(), 4);
    let slow_job = jobs
        .iter()
        .find(|j| j.payload.contains(&slow.id.to_string()))
        .unwrap()
        .id;
    let batch = tokio::spawn(async move { outbound.send_batch(jobs).await });

    // Woken by each commit's status events, bounded: every fast entry carries Twilio's id.
    crate::until_event(
        &bus,
        "the fast sends committed while the slow one is in flight",
        || async {
            for e in &fast {
                let entry = w.store.entry(e.id).await.unwrap();
                entry.provider_message_id.as_ref()?;
            }
            Some(())
        },
    )
    .await;
    assert!(!batch.is_finished(), "the slow send is still in flight");

    // The crash: the batch is dropped with the slow send in flight.
    batch.abort();
    let _ = batch.await;
    assert_eq!(
        w.store.entry(slow.id).await.unwrap().status,
        EntryStatus::Queued,
        "the slow one is sent again after its job's lease"
    );
    assert_eq!(
        w.store.job(slow_job).await.unwrap().state,
        JobState::Running
    );
    let later = w.clock.now().plus(Duration::from_secs(61));
    w.store.recover_expired_leases(later).await.unwrap();
    let done = w
        .store
        .claim_jobs(ClaimRequest {
            queue: outbound::QUEUE,
            worker: "after",
            limit: 10,
            lease: Duration::from_secs(60),
            now: later,
        })
        .await
        .unwrap();
    assert_eq!(
        done.iter().map(|j| j.id).collect::<Vec<_>>(),
        vec![slow_job],
        "only the job in flight comes back"
    );
}

/// A campaign chunk: its entries go as one batch, an entry that no longer exists is skipped, the
/// chunk's job is done with its last verdict, and the one message the provider refused for a
/// passing reason gets a send job of its own in the campaign's group, nothing else resent.
async fn a_campaign_chunk_retries_only_its_failed_message_on_its_own(b: TestBackend) {
    let w = world(b).await;
    let (base, seen) = fake_twilio().await;
    let channel = twilio_channel(&w, &base, Some(100)).await;
    let ok = queued_reply(&w, &channel, OK_TO, "Winter offer", None).await;
    let broken = queued_reply(&w, &channel, BROKEN, "Winter offer", None).await;
    let campaign = new_id();
    let chunk = jobs::CampaignChunk {
        campaign,
        purpose: SendPurpose::Conversation {
            session_opt_in: false,
        },
        entries: vec![ok.id, new_id(), broken.id],
    };
    let mut job = jobs::campaign_chunk_job(&chunk, jobs::BULK_PRIORITY, w.clock.now());
    job.group_key = Some(jobs::group_key(campaign));
    w.store.enqueue(&job, w.clock.now()).await.unwrap();
    let claim = |queue| ClaimRequest {
        queue,
        worker: "test",
        limit: 10,
        lease: Duration::from_secs(60),
        now: w.clock.now(),
    };
    let queue = jobs::Queue::Campaign.as_str();
    let claimed = w.store.claim_jobs(claim(queue)).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert!(w.outbound.send_batch(claimed).await.is_empty());

    assert_eq!(seen.lock().unwrap().twilio_sends.len(), 2);
    let sent = w.store.entry(ok.id).await.unwrap();
    assert!(sent.provider_message_id.is_some(), "{sent:?}");
    let refused = w.store.entry(broken.id).await.unwrap();
    assert_eq!(refused.status, EntryStatus::Queued);
    assert!(
        refused
            .provider_error
            .as_deref()
            .is_some_and(|e| e.contains("will retry")),
        "{refused:?}"
    );
    let chunks = w.store.queue_counts(queue).await.unwrap();
    assert_eq!((chunks.done, chunks.ready, chunks.running), (1, 0, 0));
    let singles = w.store.queue_counts(outbound::QUEUE).await.unwrap();
    assert_eq!(singles.ready, 1, "the refused message, on its own");
    assert!(w.store.campaign_unsettled(campaign).await.unwrap());

    // Its own job, after the backoff, carries that message and only that one.
    w.clock.advance(Duration::from_secs(600));
    let retry = w
        .store
        .claim_jobs(ClaimRequest {
            now: w.clock.now(),
            ..claim(outbound::QUEUE)
        })
        .await
        .unwrap();
    assert_eq!(retry.len(), 1);
    assert!(
        retry
            .iter()
            .all(|j| j.payload.contains(&broken.id.to_string()))
    );
    assert!(
        retry
            .iter()
            .all(|j| j.group_key == Some(jobs::group_key(campaign)))
    );
}

parley_store::on_both_backends!(
    a_send_near_the_end_of_its_job_lease_is_given_back_without_a_call,
    a_campaign_chunk_retries_only_its_failed_message_on_its_own,
    a_batch_commits_fast_sends_while_a_slow_one_is_in_flight,
    twilio_accepts_a_well_formed_request,
    twilio_messaging_service_replaces_from,
    twilio_21610_fails_the_entry_and_opts_the_user_out,
    twilio_429_is_retried_by_the_runner_then_accepted,
    twilio_500_is_transient_then_fails_on_the_last_attempt,
    a_timeout_is_ambiguous_and_never_resent,
    too_long_sms_is_refused_with_3004_without_a_call,
    whatsapp_text_inside_the_window_is_accepted,
    whatsapp_131047_fails_with_0004,
    whatsapp_outside_the_window_is_refused_without_a_call,
    messenger_uses_the_window_to_pick_the_messaging_type,
    the_rate_limit_charges_per_segment,
    default_rates_follow_number_type,
);
