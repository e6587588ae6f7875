//! The dispatcher against local fakes of the providers' HTTP APIs: a Twilio Messages API that
//! checks every documented field of each request, and a WhatsApp Cloud API. The rate limit is
//! shown by counting permits on a manual clock, never by timing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use parley_core::consent::SendPurpose;
use parley_core::model::{
    Actor, ChannelKind, ConsentLevel, ConsentSource, ConsentStatus, Direction, EntryStatus,
    JobState, NumberType, Provider, SessionContext, SessionStatus,
};
use parley_core::{Clock, ErrorCode, ManualClock, Timestamp, new_id};
use parley_engine::events::EventBus;
use parley_engine::outbound::{self, Outbound, rate_permits};
use parley_engine::transport::HttpTransport;
use parley_engine::{JobOutcome, JobRunner, RunnerConfig};
use parley_store::testing::{TestBackend, fresh};
use parley_store::{
    Channel, ChannelSpec, ClaimRequest, Entry, Job, NewEntry, NewMessagingUser, NewSession, Store,
};
use serde_json::{Value, json};

const T0: Timestamp = Timestamp(1_700_000_000_000);
const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
const AUTH_TOKEN: &str = "twilio-secret-token";
const FROM: &str = "+14155550100";
const PUBLIC_URL: &str = "https://parley.example/webhooks/twilio/ch";
const UNSUBSCRIBED: &str = "+14155550199";
const THROTTLED_ONCE: &str = "+14155550142";
const BROKEN: &str = "+14155550150";
const SLOW: &str = "+14155550160";
const OK_TO: &str = "+14155550123";

const PHONE_NUMBER_ID: &str = "106540352242922";
const ACCESS_TOKEN: &str = "EAAGraphToken";
const WA_OK: &str = "447400123456";
const WA_OUTSIDE: &str = "447400123457";

// ---------------------------------------------------------------------------------------------
// The fakes.

/// What a fake saw: every request, and every way a request broke the provider's documented rules.
#[derive(Default)]
struct Seen {
    requests: Vec<Vec<(String, String)>>,
    bodies: Vec<Value>,
    violations: Vec<String>,
    throttled: bool,
}

type Shared = Arc<Mutex<Seen>>;

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    format!("http://{addr}")
}

fn twilio_error(status: u16, code: u32, message: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/json")],
        json!({"code": code, "message": message,
               "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status})
        .to_string(),
    )
        .into_response()
}

/// Checks a `Create a Message` request the way Twilio documents it, and answers by recipient.
async fn twilio_messages(
    State(seen): State<Shared>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut violations = Vec::new();
    if sid != ACCOUNT_SID {
        violations.push(format!("account sid in the URL: {sid}"));
    }
    let expected_auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT_SID}:{AUTH_TOKEN}"))
    );
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&expected_auth) {
        violations.push("basic auth is not account sid : auth token".into());
    }
    if headers.get("content-type").and_then(|v| v.to_str().ok())
        != Some("application/x-www-form-urlencoded")
    {
        violations.push("content type is not a form".into());
    }
    let form = parley_channels::twilio::FormParams::parse(&body)
        .map(|f| f.into_pairs())
        .unwrap_or_default();
    let get = |name: &str| -> Vec<&str> {
        form.iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    const KNOWN: &[&str] = &[
        "To",
        "From",
        "MessagingServiceSid",
        "Body",
        "MediaUrl",
        "StatusCallback",
        "ValidityPeriod",
    ];
    for (n, _) in &form {
        if !KNOWN.contains(&n.as_str()) {
            violations.push(format!("unknown field {n}"));
        }
    }
    let to = get("To");
    let e164 = |s: &str| {
        s.strip_prefix('+')
            .is_some_and(|d| (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
    };
    if to.len() != 1 || !e164(to[0]) {
        violations.push(format!("To must be one E.164 number: {to:?}"));
    }
    let from = get("From");
    let service = get("MessagingServiceSid");
    match (from.as_slice(), service.as_slice()) {
        ([f], []) if e164(f) || f.bytes().all(|b| b.is_ascii_digit()) => {}
        ([], [s]) if s.starts_with("MG") && s.len() == 34 => {}
        other => violations.push(format!(
            "exactly one of From and MessagingServiceSid: {other:?}"
        )),
    }
    let body_text = get("Body");
    if body_text.len() != 1 || body_text[0].is_empty() || body_text[0].chars().count() > 1600 {
        violations.push(format!("Body must be 1-1600 characters: {body_text:?}"));
    }
    let callback = get("StatusCallback");
    if callback != [format!("{PUBLIC_URL}/status").as_str()] {
        violations.push(format!("StatusCallback: {callback:?}"));
    }
    let to = to.first().map(|s| (*s).to_owned()).unwrap_or_default();
    let throttle_now = {
        let mut s = seen.lock().unwrap();
        s.requests.push(form.clone());
        let invalid = !violations.is_empty();
        s.violations.extend(violations);
        if invalid {
            return twilio_error(400, 21604, "invalid request");
        }
        let first = to == THROTTLED_ONCE && !s.throttled;
        if first {
            s.throttled = true;
        }
        first
    };
    match to.as_str() {
        UNSUBSCRIBED => twilio_error(400, 21610, "Attempt to send to unsubscribed recipient"),
        BROKEN => (StatusCode::INTERNAL_SERVER_ERROR, "upstream exploded").into_response(),
        // Never answers: the client's timeout decides, and must treat the send as ambiguous.
        SLOW => std::future::pending::<Response>().await,
        _ if throttle_now => {
            let mut r = twilio_error(429, 20429, "Too Many Requests");
            r.headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static("1"));
            r
        }
        _ => (
            StatusCode::CREATED,
            [("content-type", "application/json")],
            json!({"sid": format!("SM{}", new_id().simple()), "status": "queued",
                   "to": to, "error_code": null, "error_message": null})
            .to_string(),
        )
            .into_response(),
    }
}

/// The WhatsApp Cloud API's send endpoint: bearer token, a text message, and a 131047 refusal
/// for the number whose window Meta considers closed.
async fn graph_messages(
    State(seen): State<Shared>,
    Path((version, node)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut violations = Vec::new();
    if version != "v21.0" || node != PHONE_NUMBER_ID {
        violations.push(format!("path /{version}/{node}/messages"));
    }
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {ACCESS_TOKEN}"))
    {
        violations.push("bearer token".into());
    }
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if json["messaging_product"] != "whatsapp"
        || json["recipient_type"] != "individual"
        || json["type"] != "text"
        || !json["text"]["body"].is_string()
    {
        violations.push(format!("body {json}"));
    }
    let to = json["to"].as_str().unwrap_or_default().to_owned();
    {
        let mut s = seen.lock().unwrap();
        s.bodies.push(json.clone());
        s.violations.extend(violations);
    }
    if to == WA_OUTSIDE {
        return (
            StatusCode::BAD_REQUEST,
            [("content-type", "application/json")],
            json!({"error": {"message": "Re-engagement message", "type": "OAuthException",
                "code": 131047, "error_data": {"messaging_product": "whatsapp",
                "details": "Message failed to send because more than 24 hours have passed since the customer last replied to this number."},
                "fbtrace_id": "AbCdEf"}})
            .to_string(),
        )
            .into_response();
    }
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        json!({"messaging_product": "whatsapp",
               "contacts": [{"input": to, "wa_id": to}],
               "messages": [{"id": format!("wamid.{}", new_id().simple())}]})
        .to_string(),
    )
        .into_response()
}

const PAGE_ID: &str = "1029384756";
const PSID: &str = "6789012345";

/// The Messenger Send API: bearer token, the page in the path, a text message whose
/// `messaging_type` is RESPONSE, or MESSAGE_TAG with the HUMAN_AGENT tag.
async fn messenger_messages(
    State(seen): State<Shared>,
    Path((version, node)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut violations = Vec::new();
    if version != "v21.0" || node != PAGE_ID {
        violations.push(format!("path /{version}/{node}/messages"));
    }
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {ACCESS_TOKEN}"))
    {
        violations.push("bearer token".into());
    }
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let typed = match json["messaging_type"].as_str() {
        Some("RESPONSE") => json.get("tag").is_none(),
        Some("MESSAGE_TAG") => json["tag"] == "HUMAN_AGENT",
        _ => false,
    };
    if !typed || json["recipient"]["id"] != PSID || !json["message"]["text"].is_string() {
        violations.push(format!("body {json}"));
    }
    {
        let mut s = seen.lock().unwrap();
        s.bodies.push(json);
        s.violations.extend(violations);
    }
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        json!({"recipient_id": PSID, "message_id": format!("m_{}", new_id().simple())}).to_string(),
    )
        .into_response()
}

async fn fake_messenger() -> (String, Shared) {
    let seen = Shared::default();
    let app = Router::new()
        .route("/{version}/{node}/messages", post(messenger_messages))
        .with_state(seen.clone());
    (serve(app).await, seen)
}

async fn messenger_channel(w: &World, base_url: &str) -> Channel {
    w.store
        .create_channel(
            &ChannelSpec {
                name: format!("fb-{}", new_id().simple()),
                kind: ChannelKind::Messenger,
                provider: Provider::Meta,
                address: PAGE_ID.into(),
                number_type: None,
                provider_keyword: None,
                country: None,
                consent_level: ConsentLevel::Implicit,
                queue_id: None,
                throughput_mps: None,
                settings: json!({"base_url": base_url, "api_version": "v21.0"}),
                secrets: json!({"access_token": ACCESS_TOKEN}),
            },
            w.clock.now(),
        )
        .await
        .unwrap()
}

async fn fake_twilio() -> (String, Shared) {
    let seen = Shared::default();
    let app = Router::new()
        .route(
            "/2010-04-01/Accounts/{sid}/Messages.json",
            post(twilio_messages),
        )
        .with_state(seen.clone());
    (serve(app).await, seen)
}

async fn fake_graph() -> (String, Shared) {
    let seen = Shared::default();
    let app = Router::new()
        .route("/{version}/{node}/messages", post(graph_messages))
        .with_state(seen.clone());
    (serve(app).await, seen)
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
    w.store
        .create_channel(
            &ChannelSpec {
                name: format!("sms-{}", new_id().simple()),
                kind: ChannelKind::Sms,
                provider: Provider::Twilio,
                address: from.into(),
                number_type: Some(NumberType::LongCode),
                provider_keyword: None,
                country: Some("US".into()),
                consent_level: ConsentLevel::Implicit,
                queue_id: None,
                throughput_mps: mps,
                settings: json!({"base_url": base_url, "public_url": PUBLIC_URL}),
                secrets: json!({"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}),
            },
            w.clock.now(),
        )
        .await
        .unwrap()
}

async fn whatsapp_channel(w: &World, base_url: &str) -> Channel {
    w.store
        .create_channel(
            &ChannelSpec {
                name: format!("wa-{}", new_id().simple()),
                kind: ChannelKind::Whatsapp,
                provider: Provider::Meta,
                address: "+447400000001".into(),
                number_type: None,
                provider_keyword: None,
                country: None,
                consent_level: ConsentLevel::Implicit,
                queue_id: None,
                throughput_mps: None,
                settings: json!({"base_url": base_url, "api_version": "v21.0",
                                 "phone_number_id": PHONE_NUMBER_ID}),
                secrets: json!({"access_token": ACCESS_TOKEN}),
            },
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
    let user = match w.store.messaging_user_by_key(channel.id, to).await.unwrap() {
        Some(u) => u,
        None => w
            .store
            .create_messaging_user(
                &NewMessagingUser {
                    channel_id: channel.id,
                    platform_key: to.into(),
                    name: "Ada".into(),
                    locale: None,
                    consent_status: Some(ConsentStatus::ExplicitlyOptedIn),
                    contact_id: None,
                },
                &parley_store::ConsentOrigin {
                    source: ConsentSource::Import,
                    reason: "test".into(),
                    entry_id: None,
                },
                w.clock.now(),
            )
            .await
            .unwrap(),
    };
    let session = match w.store.open_session(user.id).await.unwrap() {
        Some(s) => s,
        None => w
            .store
            .create_session(
                &NewSession {
                    conversation_id: new_id(),
                    channel_id: channel.id,
                    messaging_user_id: user.id,
                    status: SessionStatus::Active,
                    context: SessionContext::Service,
                    queue_id: None,
                    case_id: None,
                },
                w.clock.now(),
            )
            .await
            .unwrap(),
    };
    if let Some(at) = wrote_at {
        w.store
            .append_entry(
                &NewEntry {
                    session_id: session.id,
                    direction: Direction::Inbound,
                    actor: Actor::Customer,
                    actor_id: None,
                    body: "hello?".into(),
                    media: Vec::new(),
                    provider_message_id: None,
                    status: EntryStatus::Received,
                },
                at,
            )
            .await
            .unwrap();
    }
    w.store
        .append_entry(
            &NewEntry {
                session_id: session.id,
                direction: Direction::Outbound,
                actor: Actor::Agent,
                actor_id: None,
                body: body.into(),
                media: Vec::new(),
                provider_message_id: None,
                status: EntryStatus::Queued,
            },
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
            seen.requests,
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
        .record_status(channel.id, &sid, EntryStatus::Delivered, None, None, false)
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
    let form = &seen.requests[0];
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
    assert_eq!(seen.requests.len(), 2);
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
    assert!(matches!(outcome, JobOutcome::Permanent(_)), "{outcome:?}");
    let stored = w.store.entry(entry.id).await.unwrap();
    assert_eq!(stored.status, EntryStatus::Queued, "it may have been sent");
    assert!(
        stored
            .provider_error
            .as_deref()
            .unwrap()
            .starts_with("ambiguous"),
        "{:?}",
        stored.provider_error
    );
    assert_eq!(seen.lock().unwrap().requests.len(), 1);
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
    assert!(seen.lock().unwrap().requests.is_empty());
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
    assert_eq!(seen.bodies[0]["to"], WA_OK);
    assert_eq!(seen.bodies[0]["text"]["body"], "Your order shipped");
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
    assert_eq!(seen.lock().unwrap().bodies.len(), 1);
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
    assert!(seen.lock().unwrap().bodies.is_empty(), "no HTTP call");
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
    assert_eq!(seen.bodies.len(), 2);
    assert_eq!(seen.bodies[0]["messaging_type"], "RESPONSE");
    assert_eq!(seen.bodies[1]["messaging_type"], "MESSAGE_TAG");
    assert_eq!(seen.bodies[1]["tag"], "HUMAN_AGENT");
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
    assert_eq!(seen.lock().unwrap().requests.len(), 1);

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

parley_store::on_both_backends!(
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
