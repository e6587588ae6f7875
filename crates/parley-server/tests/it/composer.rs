//! Issue 15, the composer: an agent's file upload checked against the channel's media rules
//! (422 in words naming the limit, 403 for someone else's session), sent on WhatsApp through the
//! fake Graph API with a public link the provider fetches; the channel's rules for the composer;
//! read receipts and typing sent to WhatsApp and Messenger in the shapes their APIs take.

use parley_core::model::*;
use parley_core::{Clock, SystemClock, Timestamp};
use parley_engine::signals::{AgentSignal, send_signal};
use parley_store::testing::TestBackend;
use parley_store::*;
use parley_testkit::build;
use parley_testkit::fake::{self, Account, PNG, Shared};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::console::{Console, Desk};
use crate::eventually;

const ACCESS_TOKEN: &str = "EAAG-composer-token";
const PHONE_NUMBER_ID: &str = "106540352242922";
const PAGE_ID: &str = "1029384756";

async fn fake_meta(psid: Option<&str>) -> (String, Shared) {
    fake::provider(Account {
        access_token: ACCESS_TOKEN.into(),
        phone_number_id: PHONE_NUMBER_ID.into(),
        page_id: PAGE_ID.into(),
        psid: psid.map(str::to_owned),
        ..Account::default()
    })
    .await
}

async fn meta_channel(desk: &Desk, kind: ChannelKind, base: &str) -> Channel {
    let secrets = json!({"access_token": ACCESS_TOKEN, "app_secret": "s"});
    let spec = match kind {
        ChannelKind::Messenger => build::messenger(
            "Messenger",
            PAGE_ID,
            json!({"base_url": base, "api_version": "v21.0"}),
            secrets,
        ),
        _ => build::whatsapp(
            "WhatsApp",
            "+15550783881",
            json!({"base_url": base, "api_version": "v21.0", "phone_number_id": PHONE_NUMBER_ID}),
            secrets,
        ),
    };
    desk.app
        .db
        .store
        .create_channel(&spec, SystemClock.now())
        .await
        .unwrap()
}

/// An active session of `agent` with a customer who wrote an hour ago (provider id `wamid.IN1`).
async fn owned_session(desk: &Desk, channel: &Channel, key: &str, agent: &Agent) -> Session {
    let s = &desk.app.db.store;
    let now = SystemClock.now();
    let user = s
        .create_messaging_user(
            &build::new_user(channel.id, key, Some(ConsentStatus::ImplicitlyOptedIn)),
            &build::origin(ConsentSource::Inbound, "test customer"),
            now,
        )
        .await
        .unwrap();
    let mut session = s
        .create_session(
            &build::new_session(channel.id, user.id, SessionStatus::Active),
            now,
        )
        .await
        .unwrap();
    session.owner_kind = Some(OwnerKind::Agent);
    session.owner_id = Some(agent.id);
    session.last_customer_at = Some(Timestamp::from_millis(now.millis() - 3_600_000));
    s.save_sessions(std::slice::from_ref(&session), now)
        .await
        .unwrap();
    let mut inbound = build::new_entry(
        session.id,
        Direction::Inbound,
        Actor::Customer,
        "Can you send the label?",
        EntryStatus::Received,
    );
    inbound.provider_message_id = Some("wamid.IN1".into());
    s.append_entry(&inbound, now).await.unwrap();
    s.session(session.id).await.unwrap()
}

async fn upload(
    desk: &Desk,
    c: &Console,
    session: Uuid,
    content_type: &str,
    bytes: Vec<u8>,
) -> (StatusCode, Value) {
    let r = desk
        .call(
            c,
            Method::POST,
            &format!("/api/v1/sessions/{session}/media"),
        )
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn message_of(v: &Value) -> String {
    v["message"]
        .as_str()
        .or(v["error"]["message"].as_str())
        .unwrap_or_default()
        .to_owned()
}

async fn uploads_follow_the_media_rules_and_go_out_on_whatsapp(b: TestBackend) {
    let desk = Desk::new(b).await;
    let (base, seen) = fake_meta(None).await;
    let channel = meta_channel(&desk, ChannelKind::Whatsapp, &base).await;
    let alice = desk.agent("Alice", 3, AgentRole::Agent).await;
    let bob = desk.agent("Bob", 3, AgentRole::Agent).await;
    let session = owned_session(&desk, &channel, "+14155550123", &alice).await;
    let (a, bb) = (desk.sign_in(&alice).await, desk.sign_in(&bob).await);

    // What the composer checks before uploading.
    let rules = desk
        .get(&a, &format!("/api/v1/sessions/{}/media-rules", session.id))
        .await;
    assert!(rules["unavailable"].is_null(), "{rules}");
    let accepts = rules["accepts"].as_array().unwrap();
    assert!(accepts.contains(&json!({"content_type": "image/png", "max_bytes": 5_000_000})));
    assert!(!accepts.iter().any(|t| t["content_type"] == "image/gif"));

    // The server checks again, in words naming the limit.
    let (status, v) = upload(&desk, &a, session.id, "text/html", b"<p>hi</p>".to_vec()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        message_of(&v).contains("cannot send files of type 'text/html'"),
        "{v}"
    );
    let (status, v) = upload(&desk, &a, session.id, "image/jpeg", PNG.to_vec()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(message_of(&v).contains("image/png"), "{v}");
    let mut big = PNG.to_vec();
    big.resize(5_000_001, 0);
    let (status, v) = upload(&desk, &a, session.id, "image/png", big).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(message_of(&v).contains("at most 5000000 bytes"), "{v}");
    // Only the session's agent uploads into it.
    let (status, v) = upload(&desk, &bb, session.id, "image/png", PNG.to_vec()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{v}");

    let (status, v) = upload(&desk, &a, session.id, "image/png", PNG.to_vec()).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let media_id: Uuid = v["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(v["content_type"], "image/png");
    let unsent = desk.app.db.store.agent_upload(media_id).await.unwrap();
    // Not served to anyone before it is sent.
    let r = desk
        .app
        .anon(Method::GET, &format!("/media/o/{}", unsent.token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Sent with its caption through the compose path.
    let r = desk
        .call(
            &a,
            Method::POST,
            &format!("/api/v1/sessions/{}/messages", session.id),
        )
        .json(&json!({"body": "Your label", "media_ids": [media_id]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let entry: Value = r.json().await.unwrap();
    assert_eq!(entry["media"][0]["content_type"], "image/png");
    let sent = eventually(&desk.app.events, "the image at the Graph API", || {
        let seen = seen.clone();
        async move {
            seen.lock()
                .unwrap()
                .graph_sends
                .iter()
                .find(|j| j["type"] == "image")
                .cloned()
        }
    })
    .await;
    assert_eq!(sent["image"]["caption"], "Your label");
    let link = sent["image"]["link"].as_str().unwrap().to_owned();
    assert!(
        link.ends_with(&format!("/media/o/{}", unsent.token)),
        "{link}"
    );
    assert!(seen.lock().unwrap().violations.is_empty());
    // The provider fetches it without credentials; the agent reads it as any stored file.
    let path = link
        .split_once("/media/o/")
        .map(|(_, t)| format!("/media/o/{t}"))
        .unwrap();
    let r = desk.app.anon(Method::GET, &path).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(r.bytes().await.unwrap().as_ref(), PNG);
    let r = desk
        .call(&a, Method::GET, &format!("/api/v1/media/{media_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let stored = desk.app.db.store.media(media_id).await.unwrap();
    assert!(stored.entry_id.is_some(), "the media row follows its entry");

    // Once sent, the same upload does not go again.
    let r = desk
        .call(
            &a,
            Method::POST,
            &format!("/api/v1/sessions/{}/messages", session.id),
        )
        .json(&json!({"body": "", "media_ids": [media_id]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // SMS without MMS (the simulator carries no files): the reason, and no upload.
    let sms_user = desk
        .app
        .db
        .store
        .create_messaging_user(
            &build::new_user(
                desk.channel.id,
                "+14155550199",
                Some(ConsentStatus::ImplicitlyOptedIn),
            ),
            &build::origin(ConsentSource::Inbound, "test customer"),
            SystemClock.now(),
        )
        .await
        .unwrap();
    let mut sms = desk
        .app
        .db
        .store
        .create_session(
            &build::new_session(desk.channel.id, sms_user.id, SessionStatus::Active),
            SystemClock.now(),
        )
        .await
        .unwrap();
    sms.owner_kind = Some(OwnerKind::Agent);
    sms.owner_id = Some(alice.id);
    desk.app
        .db
        .store
        .save_sessions(std::slice::from_ref(&sms), SystemClock.now())
        .await
        .unwrap();
    let rules = desk
        .get(&a, &format!("/api/v1/sessions/{}/media-rules", sms.id))
        .await;
    assert!(
        rules["unavailable"]
            .as_str()
            .unwrap()
            .contains("carries no files"),
        "{rules}"
    );
    assert_eq!(rules["accepts"], json!([]));
    let (status, v) = upload(&desk, &a, sms.id, "image/png", PNG.to_vec()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    // Another session's upload is not this one's.
    let (_, v) = upload(&desk, &a, session.id, "image/png", PNG.to_vec()).await;
    let other: Uuid = v["id"].as_str().unwrap().parse().unwrap();
    let r = desk
        .call(
            &a,
            Method::POST,
            &format!("/api/v1/sessions/{}/messages", sms.id),
        )
        .json(&json!({"body": "x", "media_ids": [other]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // An upload never sent is about the same person: the erasure takes its row and its file.
    let mut draft = PNG.to_vec();
    draft.extend_from_slice(b"a draft never sent");
    let (status, v) = upload(&desk, &a, session.id, "image/png", draft).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let draft: Uuid = v["id"].as_str().unwrap().parse().unwrap();
    let sha = desk.app.db.store.media(draft).await.unwrap().sha256;
    let file = desk.app.engine.media.dir().join(&sha[..2]).join(&sha);
    assert!(file.exists(), "{}", file.display());
    // The person's export holds them: the sent image under its message, the uploads never sent
    // under the session, each with its bytes.
    let (s, export) = parley_testkit::status_and_json(
        desk.app
            .req(Method::GET, "/api/v1/privacy/export?phone=%2B14155550123"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{export}");
    let exported = &export["messaging_users"][0]["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == json!(session.id))
        .cloned()
        .unwrap_or_else(|| panic!("the session is not in the export: {export}"));
    let ids = |files: &Value| -> Vec<String> {
        files
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let under_entries: Vec<String> = exported["entries"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| ids(&e["files"]))
        .collect();
    assert_eq!(under_entries, vec![media_id.to_string()], "{exported}");
    let mut unsent = ids(&exported["unsent_files"]);
    unsent.sort();
    let mut expected = vec![other.to_string(), draft.to_string()];
    expected.sort();
    assert_eq!(unsent, expected, "{exported}");
    assert!(
        exported["unsent_files"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["data_base64"].is_string()),
        "{exported}"
    );
    let (s, started) = parley_testkit::status_and_json(
        desk.app
            .req(Method::POST, "/api/v1/privacy/erasures")
            .json(&json!({"phone": "+14155550123", "confirm": true})),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{started}");
    let done = crate::privacy::erasure_done(&desk.app, started["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "done", "{done}");
    for id in [media_id, other, draft] {
        assert!(
            desk.app.db.store.media(id).await.is_err(),
            "media {id} kept"
        );
        assert!(
            desk.app.db.store.agent_upload(id).await.is_err(),
            "upload {id} kept"
        );
    }
    assert!(!file.exists(), "the draft's file outlived the erasure");
}

async fn read_and_typing_reach_whatsapp_and_messenger(b: TestBackend) {
    let desk = Desk::new(b).await;
    let psid = "5551234567";
    let (base, seen) = fake_meta(Some(psid)).await;
    let wa = meta_channel(&desk, ChannelKind::Whatsapp, &base).await;
    let fb = meta_channel(&desk, ChannelKind::Messenger, &base).await;
    let alice = desk.agent("Alice", 3, AgentRole::Agent).await;
    let wa_session = owned_session(&desk, &wa, "+14155550123", &alice).await;
    let fb_session = owned_session(&desk, &fb, psid, &alice).await;
    let store = &desk.app.db.store;

    // The requests, as the engine builds and sends them.
    assert!(
        send_signal(store, wa_session.id, AgentSignal::Read)
            .await
            .unwrap()
    );
    assert!(
        send_signal(store, wa_session.id, AgentSignal::Typing(true))
            .await
            .unwrap()
    );
    assert!(
        !send_signal(store, wa_session.id, AgentSignal::Typing(false))
            .await
            .unwrap()
    );
    for s in [
        AgentSignal::Read,
        AgentSignal::Typing(true),
        AgentSignal::Typing(false),
    ] {
        assert!(send_signal(store, fb_session.id, s).await.unwrap());
    }
    assert!(
        !send_signal(
            store,
            desk_sms_session(&desk, &alice).await,
            AgentSignal::Read
        )
        .await
        .unwrap()
    );
    {
        let seen = seen.lock().unwrap();
        assert_eq!(
            seen.graph_sends,
            vec![
                json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN1"}),
                json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN1",
                    "typing_indicator": {"type": "text"}}),
                json!({"recipient": {"id": psid}, "sender_action": "mark_seen"}),
                json!({"recipient": {"id": psid}, "sender_action": "typing_on"}),
                json!({"recipient": {"id": psid}, "sender_action": "typing_off"}),
            ]
        );
        assert!(seen.violations.is_empty(), "{:?}", seen.violations);
    }

    // From the console: typing and reading go out without the agent waiting on them.
    let a = desk.sign_in(&alice).await;
    let r = desk
        .call(
            &a,
            Method::POST,
            &format!("/api/v1/sessions/{}/typing", fb_session.id),
        )
        .json(&json!({"typing": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = desk
        .call(
            &a,
            Method::POST,
            &format!("/api/v1/sessions/{}/read", wa_session.id),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    eventually(&desk.app.events, "typing and read from the console", || {
        let seen = seen.clone();
        async move { (seen.lock().unwrap().graph_sends.len() >= 7).then_some(()) }
    })
    .await;
    assert!(seen.lock().unwrap().violations.is_empty());
}

/// The composer in Chromium (`tests/browser/composer.mjs`): the counter for 161 septets, the emoji
/// picker by keyboard, a file attached on an MMS session (a Twilio channel in the US, against the
/// fake) and seen in the timeline, the offer alerts setting. Screenshots go to `PARLEY_SHOTS` when
/// set, else under the target's temporary folder.
async fn composer_in_a_real_browser(b: TestBackend) {
    let backend = format!("{b:?}").to_lowercase();
    let desk = Desk::new(b).await;
    let ada = desk.agent("Ada", 3, AgentRole::Agent).await;
    let (base, seen) = fake::provider(Account {
        account_sid: "AC11111111111111111111111111111111".into(),
        auth_token: "twilio-auth-token".into(),
        ..Account::default()
    })
    .await;
    let mms = desk
        .app
        .db
        .store
        .create_channel(
            &ChannelSpec {
                country: Some("US".into()),
                queue_id: Some(desk.queue.id),
                throughput_mps: Some(100),
                ..build::twilio_sms(
                    "MMS",
                    "+14155550188",
                    json!({"base_url": base}),
                    json!({"account_sid": "AC11111111111111111111111111111111",
                        "auth_token": "twilio-auth-token"}),
                )
            },
            SystemClock.now(),
        )
        .await
        .unwrap();
    let session = owned_session(&desk, &mms, "+14155550142", &ada).await;
    let customer = format!("+1415557{:04}", Uuid::now_v7().as_u128() % 10_000);
    let shots = crate::browser::shots_dir("composer-shots", &backend);
    crate::browser::run_scenario(
        "composer.mjs",
        &[
            format!("--url={}", desk.app.base),
            format!("--agent={}:{}", ada.email, crate::console::PASSWORD),
            format!("--channel={}", desk.channel.name),
            format!("--customer={customer}"),
            format!("--mms-session={}", session.id),
            format!("--shots={}", shots.display()),
        ],
        std::time::Duration::from_secs(180),
    )
    .await;
    // The picture went to Twilio as MMS, by its public link.
    let sent = eventually(&desk.app.events, "the MMS at Twilio", || {
        let seen = seen.clone();
        async move { seen.lock().unwrap().twilio_sends.first().cloned() }
    })
    .await;
    assert!(
        sent.iter()
            .any(|(k, v)| k == "MediaUrl" && v.contains("/media/o/")),
        "{sent:?}"
    );
    assert!(sent.contains(&("Body".into(), "Here is your label".into())));
}

/// An SMS session of the desk's simulator channel: no signals there.
async fn desk_sms_session(desk: &Desk, agent: &Agent) -> Uuid {
    owned_session(desk, &desk.channel, "+14155550177", agent)
        .await
        .id
}

parley_store::on_both_backends!(
    uploads_follow_the_media_rules_and_go_out_on_whatsapp,
    read_and_typing_reach_whatsapp_and_messenger,
    composer_in_a_real_browser,
);
