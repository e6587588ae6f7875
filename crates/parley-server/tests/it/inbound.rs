//! The inbound pipeline end to end: signed Twilio webhooks and simulator messages through the real
//! server and its workers, checked in the database.

use parley_channels::twilio::{SignatureAlgorithm, compute_signature};
use parley_core::model::*;
use parley_core::{Clock, SystemClock};
use parley_store::testing::TestBackend;
use parley_store::*;
use parley_testkit::build;
use parley_testkit::form::encode as enc;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{TestApp, eventually};

const TOKEN: &str = "twilio-auth-token";
const CUSTOMER: &str = "+447400123456";

struct Sms {
    app: TestApp,
    channel: Channel,
    url: String,
}

impl Sms {
    /// A Twilio SMS channel with the given consent level, queue and extra settings.
    async fn new(
        b: TestBackend,
        level: ConsentLevel,
        number_type: NumberType,
        address: &str,
        settings: Value,
        sets: Value,
    ) -> Self {
        let app = TestApp::spawn(b).await;
        Self::on(app, level, number_type, address, None, settings, sets).await
    }

    async fn on(
        app: TestApp,
        level: ConsentLevel,
        number_type: NumberType,
        address: &str,
        program: Option<&str>,
        settings: Value,
        sets: Value,
    ) -> Self {
        let now = SystemClock.now();
        let s = &app.db.store;
        let queue = match s.queue_by_name("Support").await.unwrap() {
            Some(q) => q,
            None => s
                .create_queue(&build::queue_spec("Support"), now)
                .await
                .unwrap(),
        };
        let mut spec = ChannelSpec {
            number_type: Some(number_type),
            provider_keyword: program.map(str::to_owned),
            country: Some(if address.len() < 8 {
                "CA".into()
            } else {
                "US".into()
            }),
            consent_level: level,
            queue_id: Some(queue.id),
            ..build::twilio_sms(
                &format!("SMS {address} {}", program.unwrap_or("")),
                address,
                settings.clone(),
                json!({"auth_token": TOKEN}),
            )
        };
        let channel = s.create_channel(&spec, now).await.unwrap();
        let url = format!("{}/webhooks/twilio/{}", app.base, channel.id);
        let mut settings = settings.as_object().cloned().unwrap_or_default();
        settings.insert("public_url".into(), json!(url));
        spec.settings = Value::Object(settings);
        let channel = s.update_channel(channel.id, &spec, now).await.unwrap();
        if let Some(sets) = sets.as_object() {
            for (language, config) in sets {
                s.upsert_keyword_set(
                    &KeywordSetSpec {
                        channel_id: channel.id,
                        language: language.clone(),
                        config: config.clone(),
                    },
                    now,
                )
                .await
                .unwrap();
            }
        }
        Self { app, channel, url }
    }

    fn form(&self, sid: &str, from: &str, body: &str) -> Vec<(String, String)> {
        vec![
            ("MessageSid".into(), sid.into()),
            ("SmsSid".into(), sid.into()),
            (
                "AccountSid".into(),
                "AC00000000000000000000000000000000".into(),
            ),
            ("From".into(), from.into()),
            ("To".into(), self.channel.address.clone()),
            ("Body".into(), body.into()),
            ("NumMedia".into(), "0".into()),
            ("NumSegments".into(), "1".into()),
        ]
    }

    async fn post_form(
        &self,
        url: &str,
        params: &[(String, String)],
        signature: Option<String>,
    ) -> reqwest::Response {
        let body = params
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut req = self
            .app
            .client
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(sig) = signature {
            req = req.header("X-Twilio-Signature", sig);
        }
        req.send().await.unwrap()
    }

    fn sign(&self, url: &str, params: &[(String, String)]) -> String {
        compute_signature(TOKEN, url, params, SignatureAlgorithm::HmacSha1)
    }

    /// Sends a signed inbound SMS and checks Twilio gets its TwiML answer.
    async fn text(&self, sid: &str, from: &str, body: &str) {
        let params = self.form(sid, from, body);
        let r = self
            .post_form(&self.url, &params, Some(self.sign(&self.url, &params)))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/xml")
        );
        assert!(r.text().await.unwrap().contains("<Response"));
    }

    async fn user(&self, key: &str) -> MessagingUser {
        self.user_on(self.channel.id, key).await
    }

    async fn user_on(&self, channel: Uuid, key: &str) -> MessagingUser {
        self.app.wait_for_user(channel, key).await
    }

    async fn entries(&self, user: Uuid, n: usize) -> Vec<(Session, Entry)> {
        self.app.wait_for_entries(user, n).await
    }
}

fn outbound_texts(entries: &[(Session, Entry)]) -> Vec<String> {
    entries
        .iter()
        .filter(|(_, e)| e.direction == Direction::Outbound)
        .map(|(_, e)| e.body.clone())
        .collect()
}

async fn help_on_an_implicit_channel(b: TestBackend) {
    let sms = Sms::new(
        b,
        ConsentLevel::Implicit,
        NumberType::LongCode,
        "+14155550100",
        json!({}),
        json!(null),
    )
    .await;
    sms.text("SM001", CUSTOMER, "help").await;
    let user = sms.user(CUSTOMER).await;
    let entries = sms.entries(user.id, 2).await;
    assert_eq!(entries[0].1.body, "help");
    assert_eq!(entries[0].1.provider_message_id.as_deref(), Some("SM001"));
    let out = outbound_texts(&entries);
    assert_eq!(out.len(), 1);
    assert!(out[0].contains("STOP"), "the help response: {out:?}");
    // A keyword alone opens a Consent session that is not routed.
    let session = &entries[0].0;
    assert_eq!(session.status, SessionStatus::Consent);
    assert_eq!(session.queue_id, None);
    assert_eq!(
        sms.app
            .db
            .store
            .messaging_user(user.id)
            .await
            .unwrap()
            .consent_status,
        Some(ConsentStatus::ImplicitlyOptedIn)
    );
}

async fn an_inquiry_is_routed_to_the_channel_queue(b: TestBackend) {
    let sms = Sms::new(
        b,
        ConsentLevel::Implicit,
        NumberType::LongCode,
        "+14155550100",
        json!({}),
        json!(null),
    )
    .await;
    sms.text("SM001", CUSTOMER, "Where is my order?").await;
    let user = sms.user(CUSTOMER).await;
    let entries = sms.entries(user.id, 1).await;
    let session = &entries[0].0;
    assert_eq!(session.status, SessionStatus::Waiting);
    assert_eq!(session.queue_id, sms.channel.queue_id);
    assert_eq!(session.customer_messages, 1);
    // A second message lands in the same session.
    sms.text("SM002", CUSTOMER, "Hello?").await;
    let entries = sms.entries(user.id, 2).await;
    assert_eq!(entries[1].0.id, session.id);
    assert!(
        outbound_texts(&entries).is_empty(),
        "no auto-response to a real question"
    );
}

async fn stop_opts_out_ends_the_session_and_silences(b: TestBackend) {
    let sms = Sms::new(
        b,
        ConsentLevel::Implicit,
        NumberType::LongCode,
        "+14155550100",
        json!({}),
        json!(null),
    )
    .await;
    sms.text("SM001", CUSTOMER, "I need help with a bill").await;
    let user = sms.user(CUSTOMER).await;
    sms.entries(user.id, 1).await;
    sms.text("SM002", CUSTOMER, "Stop.").await;
    let entries = sms.entries(user.id, 3).await;
    let out = outbound_texts(&entries);
    assert_eq!(out.len(), 1, "the opt-out confirmation, always: {out:?}");
    let s = &sms.app.db.store;
    assert_eq!(
        s.messaging_user(user.id).await.unwrap().consent_status,
        Some(ConsentStatus::OptedOut)
    );
    let session = s.session(entries[0].0.id).await.unwrap();
    assert_eq!(session.status, SessionStatus::Ended);
    let history = s.consent_history(user.id).await.unwrap();
    let last = history.last().unwrap();
    assert_eq!(
        (last.to_status, last.source),
        (ConsentStatus::OptedOut, ConsentSource::Keyword)
    );
    assert!(last.reason.contains("STOP"), "{}", last.reason);
    assert!(last.entry_id.is_some());
    // STOP again: confirmed again. A question: stored, nothing sent.
    sms.text("SM003", CUSTOMER, "STOP").await;
    sms.text("SM004", CUSTOMER, "hello?").await;
    let entries = sms.entries(user.id, 6).await;
    assert_eq!(outbound_texts(&entries).len(), 2);
}

async fn explicit_consent_prompts_then_routes_the_held_inquiry(b: TestBackend) {
    let sms = Sms::new(
        b,
        ConsentLevel::Explicit,
        NumberType::LongCode,
        "+14155550100",
        json!({}),
        json!({
            "en": {
                "opt_out": ["STOP"], "opt_in": ["YES", "START"], "help": ["HELP"],
                "responses": {
                    "opt_in_prompt": "Reply YES to get messages from us.",
                    "opt_in_confirmation": "You're in. Someone will help you shortly.",
                    "opt_out_confirmation": "You're out.",
                    "help": "Help: reply STOP to stop."
                }
            }
        }),
    )
    .await;
    sms.text("SM001", CUSTOMER, "Can you call me?").await;
    let user = sms.user(CUSTOMER).await;
    let entries = sms.entries(user.id, 2).await;
    assert_eq!(
        outbound_texts(&entries),
        vec!["Reply YES to get messages from us.".to_owned()]
    );
    assert_eq!(
        entries[0].0.status,
        SessionStatus::Consent,
        "held until consent"
    );
    sms.text("SM002", CUSTOMER, "yes").await;
    let entries = sms.entries(user.id, 4).await;
    assert_eq!(
        outbound_texts(&entries).last().unwrap(),
        "You're in. Someone will help you shortly."
    );
    let s = &sms.app.db.store;
    assert_eq!(
        s.messaging_user(user.id).await.unwrap().consent_status,
        Some(ConsentStatus::ExplicitlyOptedIn)
    );
    let session = s.session(entries[0].0.id).await.unwrap();
    assert_eq!(
        session.status,
        SessionStatus::Waiting,
        "the held inquiry is routed once consent arrives"
    );
    assert_eq!(session.queue_id, sms.channel.queue_id);
}

async fn custom_keywords_answer_with_their_response(b: TestBackend) {
    let sms = Sms::new(b, ConsentLevel::Implicit, NumberType::LongCode, "+14155550100", json!({}), json!({
        "en": {
            "opt_out": ["STOP"], "help": ["HELP"],
            "custom": [{"keyword": "HOURS", "response": "We are open 9 to 5, Monday to Friday."}],
            "responses": {"help": "Reply STOP to stop.", "opt_out_confirmation": "Stopped."}
        }
    })).await;
    sms.text("SM001", CUSTOMER, "hours?").await;
    let user = sms.user(CUSTOMER).await;
    let entries = sms.entries(user.id, 2).await;
    assert_eq!(
        outbound_texts(&entries),
        vec!["We are open 9 to 5, Monday to Friday.".to_owned()]
    );
    assert_eq!(
        entries[0].0.status,
        SessionStatus::Consent,
        "a keyword alone is not routed"
    );
}

async fn double_opt_in(b: TestBackend) {
    let sms = Sms::new(b, ConsentLevel::Double, NumberType::LongCode, "+14155550100", json!({}), json!({
        "en": {
            "opt_out": ["STOP"], "opt_in": ["YES"], "double_opt_in": ["CONFIRM"], "help": ["HELP"],
            "responses": {
                "opt_in_prompt": "Reply YES to subscribe.",
                "double_opt_in_prompt": "Reply CONFIRM to confirm.",
                "opt_in_confirmation": "Confirmed, thank you.",
                "opt_out_confirmation": "Unsubscribed.",
                "help": "Reply STOP to stop."
            }
        }
    })).await;
    sms.text("SM001", CUSTOMER, "YES").await;
    let user = sms.user(CUSTOMER).await;
    let entries = sms.entries(user.id, 2).await;
    assert_eq!(
        outbound_texts(&entries),
        vec!["Reply CONFIRM to confirm.".to_owned()]
    );
    sms.text("SM002", CUSTOMER, "confirm").await;
    let entries = sms.entries(user.id, 4).await;
    assert_eq!(
        outbound_texts(&entries).last().unwrap(),
        "Confirmed, thank you."
    );
    let history = sms.app.db.store.consent_history(user.id).await.unwrap();
    let statuses: Vec<_> = history.iter().map(|h| h.to_status).collect();
    assert_eq!(
        statuses,
        vec![
            ConsentStatus::ExplicitlyOptedIn,
            ConsentStatus::DoublyOptedIn
        ]
    );
}

async fn help_hand_off_opens_a_case(b: TestBackend) {
    let settings = json!({"case_handoff": {"trigger": {"on": "help"}, "reply": "An agent will text you within 24 hours."}});
    let sms = Sms::new(
        b,
        ConsentLevel::Implicit,
        NumberType::LongCode,
        "+14155550100",
        settings,
        json!(null),
    )
    .await;
    // A contact already has this number: the case goes to them.
    let known = sms
        .app
        .db
        .store
        .create_contact(
            &ContactSpec {
                first_name: "Ann".into(),
                last_name: "Lee".into(),
                phone: Some(parley_core::E164::parse(CUSTOMER).unwrap()),
                email: None,
            },
            SystemClock.now(),
        )
        .await
        .unwrap();
    sms.text("SM001", CUSTOMER, "HELP").await;
    let user = sms.user(CUSTOMER).await;
    let entries = sms.entries(user.id, 3).await;
    let out = outbound_texts(&entries);
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(
        out[0].contains("STOP"),
        "the compliance help response comes first"
    );
    assert_eq!(out[1], "An agent will text you within 24 hours.");
    let session = sms.app.db.store.session(entries[0].0.id).await.unwrap();
    assert_eq!(session.status, SessionStatus::Waiting);
    assert_eq!(session.queue_id, sms.channel.queue_id);
    assert!(session.session_opt_in);
    let case = sms
        .app
        .db
        .store
        .case(session.case_id.unwrap())
        .await
        .unwrap();
    assert_eq!(case.contact_id, known.id);
    assert_eq!(
        sms.app
            .db
            .store
            .messaging_user(user.id)
            .await
            .unwrap()
            .contact_id,
        Some(known.id)
    );

    // A stranger gets a new contact with their number.
    let stranger = "+447400123457";
    sms.text("SM002", stranger, "help").await;
    let u2 = sms.user(stranger).await;
    let e2 = sms.entries(u2.id, 3).await;
    let case = sms
        .app
        .db
        .store
        .case(
            sms.app
                .db
                .store
                .session(e2[0].0.id)
                .await
                .unwrap()
                .case_id
                .unwrap(),
        )
        .await
        .unwrap();
    let contact = sms.app.db.store.contact(case.contact_id).await.unwrap();
    assert_eq!(contact.phone.as_deref(), Some(stranger));
}

async fn duplicates_are_processed_once(b: TestBackend) {
    let sms = Sms::new(
        b,
        ConsentLevel::Implicit,
        NumberType::LongCode,
        "+14155550100",
        json!({}),
        json!(null),
    )
    .await;
    for _ in 0..3 {
        sms.text("SMDUP1", CUSTOMER, "just once").await;
    }
    sms.text("SMLAST", CUSTOMER, "second").await;
    let user = sms.user(CUSTOMER).await;
    let entries = sms.entries(user.id, 2).await;
    assert_eq!(
        entries
            .iter()
            .map(|(_, e)| e.body.as_str())
            .collect::<Vec<_>>(),
        vec!["just once", "second"]
    );
}

async fn bad_webhooks_are_refused_and_store_nothing(b: TestBackend) {
    let sms = Sms::new(
        b,
        ConsentLevel::Implicit,
        NumberType::LongCode,
        "+14155550100",
        json!({}),
        json!(null),
    )
    .await;
    let params = sms.form("SM001", CUSTOMER, "hello");
    // Missing and wrong signatures, and a signature for other content.
    assert_eq!(
        sms.post_form(&sms.url, &params, None).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        sms.post_form(&sms.url, &params, Some("bm9wZQ==".into()))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let tampered = sms.form("SM001", CUSTOMER, "hello!");
    assert_eq!(
        sms.post_form(&sms.url, &tampered, Some(sms.sign(&sms.url, &params)))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    // Signed but malformed: no From.
    let malformed: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "From")
        .cloned()
        .collect();
    let r = sms
        .post_form(&sms.url, &malformed, Some(sms.sign(&sms.url, &malformed)))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "invalid_request");
    // Unknown channel.
    let unknown = format!("{}/webhooks/twilio/{}", sms.app.base, Uuid::now_v7());
    assert_eq!(
        sms.post_form(&unknown, &params, Some(sms.sign(&unknown, &params)))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    // Oversized.
    let big = sms.form("SM009", CUSTOMER, &"x".repeat(100 * 1024));
    assert_eq!(
        sms.post_form(&sms.url, &big, Some(sms.sign(&sms.url, &big)))
            .await
            .status(),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let counts = sms
        .app
        .db
        .store
        .queue_counts(parley_engine::inbound::QUEUE)
        .await
        .unwrap();
    assert_eq!(counts, QueueCounts::default(), "nothing was stored");
}

async fn canadian_short_code_answers_in_french(b: TestBackend) {
    let sets = json!({
        "en": {"opt_out": ["STOP"], "help": ["HELP", "INFO"], "responses": {"help": "Help in English.", "opt_out_confirmation": "Stopped."}},
        "fr": {"opt_out": ["ARRET"], "help": ["AIDE"], "responses": {"help": "Aide en français.", "opt_out_confirmation": "Arrêté."}}
    });
    let sms = Sms::new(
        b,
        ConsentLevel::Implicit,
        NumberType::ShortCode,
        "24680",
        json!({}),
        sets,
    )
    .await;
    sms.text("SM001", CUSTOMER, "Aide").await;
    let user = sms.user(CUSTOMER).await;
    let entries = sms.entries(user.id, 2).await;
    assert_eq!(
        outbound_texts(&entries),
        vec!["Aide en français.".to_owned()]
    );
    sms.text("SM002", CUSTOMER, "ARRÊT").await;
    let entries = sms.entries(user.id, 4).await;
    assert_eq!(outbound_texts(&entries).last().unwrap(), "Arrêté.");
    sms.text("SM003", "+447400123499", "help").await;
    let u2 = sms.user("+447400123499").await;
    assert_eq!(
        outbound_texts(&sms.entries(u2.id, 2).await),
        vec!["Help in English.".to_owned()]
    );
}

async fn shared_short_code_programs_are_separate(b: TestBackend) {
    let baby = Sms::new(
        b,
        ConsentLevel::Implicit,
        NumberType::SharedShortCode,
        "11221",
        json!({}),
        json!(null),
    )
    .await;
    // The same short code, program "baby"; then "kids" beside it.
    let now = SystemClock.now();
    let s = baby.app.db.store.clone();
    let mut spec_baby = ChannelSpec {
        number_type: Some(NumberType::SharedShortCode),
        provider_keyword: Some("baby".into()),
        country: Some("US".into()),
        ..build::twilio_sms(
            "baby",
            "11221",
            baby.channel.settings.clone(),
            json!({"auth_token": TOKEN}),
        )
    };
    s.delete_channel(baby.channel.id).await.unwrap();
    let baby_ch = s.create_channel(&spec_baby, now).await.unwrap();
    spec_baby.name = "kids".into();
    spec_baby.provider_keyword = Some("kids".into());
    let kids_ch = s.create_channel(&spec_baby, now).await.unwrap();
    // Twilio posts to one URL for the number: the baby channel's.
    let url = format!("{}/webhooks/twilio/{}", baby.app.base, baby_ch.id);
    let mut settings = baby_ch.settings.as_object().cloned().unwrap_or_default();
    settings.insert("public_url".into(), json!(url));
    spec_baby.name = "baby".into();
    spec_baby.provider_keyword = Some("baby".into());
    spec_baby.settings = Value::Object(settings);
    let baby_ch = s.update_channel(baby_ch.id, &spec_baby, now).await.unwrap();
    let sms = Sms {
        app: baby.app,
        channel: baby_ch.clone(),
        url,
    };
    sms.text("SM001", CUSTOMER, "kids hello").await;
    sms.text("SM002", CUSTOMER, "baby stop").await;
    let in_kids = sms.user_on(kids_ch.id, CUSTOMER).await;
    let in_baby = sms.user_on(baby_ch.id, CUSTOMER).await;
    sms.entries(in_baby.id, 2).await;
    assert_eq!(
        s.messaging_user(in_baby.id).await.unwrap().consent_status,
        Some(ConsentStatus::OptedOut)
    );
    assert_eq!(
        s.messaging_user(in_kids.id).await.unwrap().consent_status,
        Some(ConsentStatus::ImplicitlyOptedIn),
        "only the baby program"
    );

    // A message naming no program cannot be processed: it is kept in an Error session with the
    // reason, and the same failure again touches that session instead of adding another.
    let stranger = "+447400123488";
    sms.text("SM003", stranger, "hello there").await;
    sms.text("SM004", stranger, "anyone?").await;
    let u = sms.user_on(baby_ch.id, stranger).await;
    let entries = sms.entries(u.id, 2).await;
    let sessions: std::collections::BTreeSet<Uuid> =
        entries.iter().map(|(sess, _)| sess.id).collect();
    assert_eq!(
        sessions.len(),
        1,
        "one Error session for the repeated failure"
    );
    let failed = s.session(entries[0].0.id).await.unwrap();
    assert_eq!(failed.status, SessionStatus::Error);
    assert!(failed.error_reason.unwrap().contains("no known program"));
    assert_eq!(entries[1].1.body, "anyone?");
}

async fn simulator_conversation_with_auto_responses(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let ch = json!({"name": "Sim", "kind": "sms", "provider": "simulator", "address": "+14155550100", "number_type": "toll_free"});
    let r = app
        .req(Method::POST, "/api/v1/channels")
        .json(&ch)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = app
        .anon(Method::POST, "/simulator/inbound")
        .json(&json!({"channel": "Sim", "from": CUSTOMER, "text": "HELP"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let client = app.client.clone();
    let url = format!("{}/simulator/messages?to=%2B447400123456", app.base);
    let msgs: Vec<Value> = eventually(&app.events, "the simulated help response", || {
        let client = client.clone();
        let url = url.clone();
        async move {
            let m: Vec<Value> = client.get(&url).send().await.unwrap().json().await.unwrap();
            (m.len() >= 2).then_some(m)
        }
    })
    .await;
    assert_eq!(msgs[0]["direction"], "inbound");
    assert_eq!(msgs[1]["direction"], "outbound");
    assert!(msgs[1]["body"].as_str().unwrap().contains("STOP"));
    // The entry behind it is delivered.
    let sessions: Value = app.get_json("/api/v1/sessions").await;
    let sid = sessions["items"][0]["id"].as_str().unwrap().to_owned();
    let entries: Value = eventually(&app.events, "delivered status", || {
        let app_req = app.req(Method::GET, &format!("/api/v1/sessions/{sid}/entries"));
        async move {
            let v: Value = app_req.send().await.unwrap().json().await.unwrap();
            (v["items"][1]["status"] == "delivered").then_some(v)
        }
    })
    .await;
    assert_eq!(entries["items"][0]["actor"], "customer");
    assert_eq!(entries["items"][1]["actor"], "system");
}

async fn status_callbacks_move_forward_and_21610_opts_out(b: TestBackend) {
    let sms = Sms::new(
        b,
        ConsentLevel::Implicit,
        NumberType::LongCode,
        "+14155550100",
        json!({}),
        json!(null),
    )
    .await;
    sms.text("SM001", CUSTOMER, "hi there").await;
    let user = sms.user(CUSTOMER).await;
    let entries = sms.entries(user.id, 1).await;
    let s = &sms.app.db.store;
    // An agent's message that Twilio took as SMOUT1.
    let out = s
        .append_entry(
            &NewEntry {
                provider_message_id: Some("SMOUT1".into()),
                ..build::new_entry(
                    entries[0].0.id,
                    Direction::Outbound,
                    Actor::Agent,
                    "hello",
                    EntryStatus::Sent,
                )
            },
            SystemClock.now(),
        )
        .await
        .unwrap();
    let status_url = format!("{}/status", sms.url);
    let post = |status: &str, code: Option<&str>| {
        let mut p = vec![
            ("MessageSid".to_owned(), "SMOUT1".to_owned()),
            (
                "AccountSid".to_owned(),
                "AC00000000000000000000000000000000".to_owned(),
            ),
            ("MessageStatus".to_owned(), status.to_owned()),
        ];
        if let Some(c) = code {
            p.push(("ErrorCode".to_owned(), c.to_owned()));
        }
        p
    };
    for (status, code) in [("delivered", None), ("sent", None)] {
        let p = post(status, code);
        let r = sms
            .post_form(&status_url, &p, Some(sms.sign(&status_url, &p)))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    assert_eq!(
        s.entry(out.id).await.unwrap().status,
        EntryStatus::Delivered,
        "a late 'sent' never overwrites 'delivered'"
    );
    let p = post("failed", Some("21610"));
    let r = sms
        .post_form(&status_url, &p, Some(sms.sign(&status_url, &p)))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        s.messaging_user(user.id).await.unwrap().consent_status,
        Some(ConsentStatus::OptedOut)
    );
    let history = s.consent_history(user.id).await.unwrap();
    assert_eq!(history.last().unwrap().source, ConsentSource::Provider);
    // A status for a message signed for the inbound URL is refused.
    let p = post("read", None);
    assert_eq!(
        sms.post_form(&status_url, &p, Some(sms.sign(&sms.url, &p)))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
}

async fn keyword_processes_answer_when_started(b: TestBackend) {
    use parley_core::keyword_process::{InboundNumber, ProcessStatus, ProcessType};
    let sms = Sms::new(
        b,
        ConsentLevel::Implicit,
        NumberType::LongCode,
        "+14155550100",
        json!({}),
        json!(null),
    )
    .await;
    let s = &sms.app.db.store;
    let now = SystemClock.now();
    let spec = |kind, status, keywords: &[&str], message: Option<&str>| SmsProcessSpec {
        name: format!("{kind:?}"),
        kind,
        status,
        inbound: InboundNumber {
            number: "+14155550100".into(),
            provider_keyword: None,
        },
        custom_keywords: keywords.iter().map(|k| k.to_string()).collect(),
        message: message.map(str::to_owned),
    };
    s.create_sms_process(
        &spec(
            ProcessType::Unsubscribe,
            ProcessStatus::Started,
            &["BASTA"],
            Some("Basta: you are out."),
        ),
        now,
    )
    .await
    .unwrap();
    let help = s
        .create_sms_process(
            &spec(
                ProcessType::Help,
                ProcessStatus::Paused,
                &["AYUDA"],
                Some("Ayuda: call us."),
            ),
            now,
        )
        .await
        .unwrap();
    // A paused process handles nothing: AYUDA is an ordinary question.
    sms.text("SM001", CUSTOMER, "ayuda").await;
    let user = sms.user(CUSTOMER).await;
    let entries = sms.entries(user.id, 1).await;
    assert_eq!(entries[0].0.status, SessionStatus::Waiting);
    // Started, its message answers at once (edits to a started process apply immediately).
    s.set_sms_process_status(help.process.id, ProcessStatus::Started, now)
        .await
        .unwrap();
    sms.text("SM002", CUSTOMER, "Ayuda!").await;
    let entries = sms.entries(user.id, 3).await;
    assert_eq!(outbound_texts(&entries), vec!["Ayuda: call us.".to_owned()]);
    sms.text("SM003", CUSTOMER, "basta").await;
    let entries = sms.entries(user.id, 5).await;
    assert_eq!(
        outbound_texts(&entries).last().unwrap(),
        "Basta: you are out."
    );
    assert_eq!(
        s.messaging_user(user.id).await.unwrap().consent_status,
        Some(ConsentStatus::OptedOut)
    );
}

parley_store::on_both_backends!(
    keyword_processes_answer_when_started,
    help_on_an_implicit_channel,
    an_inquiry_is_routed_to_the_channel_queue,
    stop_opts_out_ends_the_session_and_silences,
    explicit_consent_prompts_then_routes_the_held_inquiry,
    double_opt_in,
    custom_keywords_answer_with_their_response,
    help_hand_off_opens_a_case,
    duplicates_are_processed_once,
    bad_webhooks_are_refused_and_store_nothing,
    canadian_short_code_answers_in_french,
    shared_short_code_programs_are_separate,
    simulator_conversation_with_auto_responses,
    status_callbacks_move_forward_and_21610_opts_out,
);
