//! Issue 4, templates and media, end to end through the real server and its workers against a
//! local fake provider (Twilio's Messages and media URLs, Meta's Graph API): inbound MMS media
//! fetched, stored and served to token holders only; outbound media refused by the channel's
//! rules; WhatsApp templates accepted outside the window and sent as templates, free text and
//! pending templates refused; the templates API.

use parley_channels::twilio::{SignatureAlgorithm, compute_signature};
use parley_core::model::*;
use parley_core::{Clock, SystemClock, Timestamp};
use parley_store::testing::TestBackend;
use parley_store::*;
use parley_testkit::build;
use parley_testkit::fake::{self, Account, PDF, PNG, Shared};
use parley_testkit::form::encode as enc;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{TestApp, eventually};

const ACCOUNT_SID: &str = "AC11111111111111111111111111111111";
const AUTH_TOKEN: &str = "twilio-auth-token";
const ACCESS_TOKEN: &str = "EAAG-test-token";
const PHONE_NUMBER_ID: &str = "106540352242922";
const CUSTOMER: &str = "+14155550123";

/// The shared fake of Twilio's and Meta's APIs, with this file's account.
async fn fake_provider() -> (String, Shared) {
    fake::provider(Account {
        account_sid: ACCOUNT_SID.into(),
        auth_token: AUTH_TOKEN.into(),
        access_token: ACCESS_TOKEN.into(),
        phone_number_id: PHONE_NUMBER_ID.into(),
        ..Account::default()
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Fixtures.

/// A server whose media fetches may reach the fake provider on 127.0.0.1
/// (`media_fetch_allow_private`); the fake's host is the channels' `base_url` host, so it is
/// their provider API host.
async fn spawn_with_loopback_media(b: TestBackend) -> TestApp {
    TestApp::spawn_full(
        b,
        parley_server::ServerConfig {
            simulator: true,
            ..Default::default()
        },
        parley_engine::EngineConfig {
            media_fetch_allow_private: true,
            ..Default::default()
        },
    )
    .await
}

async fn twilio_channel(app: &TestApp, base: &str) -> Channel {
    let now = SystemClock.now();
    let s = &app.db.store;
    let mut spec = ChannelSpec {
        country: Some("US".into()),
        throughput_mps: Some(100),
        ..build::twilio_sms(
            "MMS",
            "+14155550100",
            json!({"base_url": base}),
            json!({"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}),
        )
    };
    let channel = s.create_channel(&spec, now).await.unwrap();
    spec.settings = json!({
        "base_url": base,
        "public_url": format!("{}/webhooks/twilio/{}", app.base, channel.id),
    });
    s.update_channel(channel.id, &spec, now).await.unwrap()
}

async fn whatsapp_channel(app: &TestApp, base: &str) -> Channel {
    app.db
        .store
        .create_channel(
            &build::whatsapp(
                "WhatsApp",
                "+15550783881",
                json!({"base_url": base, "api_version": "v21.0",
                                 "phone_number_id": PHONE_NUMBER_ID}),
                json!({"access_token": ACCESS_TOKEN, "app_secret": "s"}),
            ),
            SystemClock.now(),
        )
        .await
        .unwrap()
}

/// A customer with an open session on `channel`, whose last message was `hours_ago` hours ago.
async fn session_on(app: &TestApp, channel: &Channel, key: &str, hours_ago: i64) -> Session {
    let s = &app.db.store;
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
    session.last_customer_at = Some(Timestamp::from_millis(now.millis() - hours_ago * 3_600_000));
    s.save_sessions(std::slice::from_ref(&session), now)
        .await
        .unwrap();
    s.session(session.id).await.unwrap()
}

async fn send(app: &TestApp, session: Uuid, body: Value) -> (StatusCode, Value) {
    let r = app
        .req(
            Method::POST,
            &format!("/api/v1/sessions/{session}/messages"),
        )
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap())
}

/// Checks a refusal: 422 with the code, and a failed entry recording it.
async fn refused(app: &TestApp, session: Uuid, body: Value, code: &str) -> Entry {
    let (status, v) = send(app, session, body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["code"], code, "{v}");
    assert!(!v["message"].as_str().unwrap().is_empty());
    let id: Uuid = v["entry_id"].as_str().unwrap().parse().unwrap();
    let entry = app.db.store.entry(id).await.unwrap();
    assert_eq!(entry.status, EntryStatus::Failed);
    assert_eq!(entry.error_code.as_deref(), Some(code));
    assert_eq!(v["entry"]["status"], "failed");
    entry
}

/// Posts a Twilio webhook form to `url`, signed as Twilio signs it with `auth_token`.
pub(crate) async fn post_signed_twilio(
    app: &TestApp,
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
) -> reqwest::Response {
    let sig = compute_signature(auth_token, url, params, SignatureAlgorithm::HmacSha1);
    let form = params
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&");
    app.client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("X-Twilio-Signature", sig)
        .body(form)
        .send()
        .await
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Tests.

async fn inbound_mms_media_is_stored_and_served(b: TestBackend) {
    let app = spawn_with_loopback_media(b).await;
    let (base, seen) = fake_provider().await;
    let channel = twilio_channel(&app, &base).await;
    let url = format!("{}/webhooks/twilio/{}", app.base, channel.id);
    let media =
        |me: &str| format!("{base}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM1/Media/{me}");
    let params: Vec<(String, String)> = [
        ("MessageSid", "MM1".to_owned()),
        ("AccountSid", ACCOUNT_SID.to_owned()),
        ("From", CUSTOMER.to_owned()),
        ("To", channel.address.clone()),
        ("Body", "my receipt and a photo".to_owned()),
        ("NumMedia", "2".to_owned()),
        ("MediaUrl0", media("ME-png")),
        ("MediaContentType0", "image/png".to_owned()),
        ("MediaUrl1", media("ME-pdf")),
        ("MediaContentType1", "application/pdf".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let r = post_signed_twilio(&app, AUTH_TOKEN, &url, &params).await;
    assert_eq!(r.status(), StatusCode::OK);

    let user = app.wait_for_user(channel.id, CUSTOMER).await;
    let store = app.db.store.clone();
    let entry = eventually(&app.events, "media stored", || {
        let store = store.clone();
        async move {
            let entries = store
                .list_entries(
                    store
                        .list_sessions(
                            SessionFilter {
                                messaging_user_id: Some(user.id),
                                ..Default::default()
                            },
                            PageRequest::new(None, 10),
                        )
                        .await
                        .unwrap()
                        .items
                        .first()?
                        .id,
                    PageRequest::new(None, 10),
                )
                .await
                .unwrap()
                .items;
            let e = entries
                .into_iter()
                .find(|e| e.direction == Direction::Inbound)?;
            e.media.iter().all(|m| m.id.is_some()).then_some(e)
        }
    })
    .await;
    assert_eq!(entry.media.len(), 2);
    assert_eq!(entry.media[0].size, Some(PNG.len() as u64));
    assert_eq!(entry.media[0].content_type, "image/png");
    assert_eq!(entry.media[1].size, Some(PDF.len() as u64));
    assert!(entry.media.iter().all(|m| m.error.is_none()));
    // Credentials went to Twilio's URL only, never to the storage it redirected to.
    {
        let seen = seen.lock().unwrap();
        assert!(
            seen.downloads
                .iter()
                .filter(|(p, _)| p.starts_with("storage/"))
                .all(|(_, auth)| auth.is_none()),
            "{:?}",
            seen.downloads
        );
    }

    let png_id = entry.media[0].id.unwrap();
    let r = app
        .req(Method::GET, &format!("/api/v1/media/{png_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.headers()["content-disposition"], "inline");
    assert_eq!(r.bytes().await.unwrap().as_ref(), PNG);

    let pdf_id = entry.media[1].id.unwrap();
    let r = app
        .req(Method::GET, &format!("/api/v1/media/{pdf_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Not a type shown inline: a download, with a telling extension.
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    assert_eq!(
        r.headers()["content-disposition"],
        format!("attachment; filename=\"{pdf_id}.pdf\"").as_str()
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), PDF);

    // Token holders only; an unknown id is 404.
    let r = app
        .anon(Method::GET, &format!("/api/v1/media/{png_id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app
        .req(Method::GET, &format!("/api/v1/media/{}", Uuid::now_v7()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // The API shows where to download Parley's copy.
    let v: Value = app
        .get_json(&format!("/api/v1/sessions/{}/entries", entry.session_id))
        .await;
    let shown = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["direction"] == "inbound")
        .unwrap()
        .clone();
    assert_eq!(
        shown["media"][0]["download_url"],
        format!("/api/v1/media/{png_id}")
    );
}

async fn whatsapp_media_is_looked_up_and_stored(b: TestBackend) {
    let app = spawn_with_loopback_media(b).await;
    let (base, seen) = fake_provider().await;
    let channel = whatsapp_channel(&app, &base).await;
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
            "contacts": [{"profile": {"name": "Ada"}, "wa_id": "447400123456"}],
            "messages": [{"from": "447400123456", "id": "wamid.IMG1", "timestamp": "1763719200",
                "type": "image", "image": {"caption": "the box", "mime_type": "image/png",
                "id": "1479537139650973"}}]
        }}]}]
    });
    let raw = serde_json::to_vec(&body).unwrap();
    let r = app
        .anon(Method::POST, "/webhooks/meta/whatsapp")
        .header("content-type", "application/json")
        .header(
            "X-Hub-Signature-256",
            parley_channels::meta::compute_signature("s", &raw),
        )
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let user = app.wait_for_user(channel.id, "+447400123456").await;
    let store = app.db.store.clone();
    let media = eventually(&app.events, "WhatsApp media stored", || {
        let store = store.clone();
        async move {
            let session = store.open_session(user.id).await.unwrap()?;
            let entries = store
                .list_entries(session.id, PageRequest::new(None, 10))
                .await
                .unwrap()
                .items;
            let m = entries.first()?.media.first()?.clone();
            m.id.is_some().then_some(m)
        }
    })
    .await;
    assert_eq!(media.url, "1479537139650973");
    assert_eq!(media.content_type, "image/png");
    assert_eq!(media.size, Some(PNG.len() as u64));
    let r = app
        .req(Method::GET, &format!("/api/v1/media/{}", media.id.unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(r.bytes().await.unwrap().as_ref(), PNG);
    let downloads = seen.lock().unwrap().downloads.clone();
    assert_eq!(
        downloads
            .iter()
            .map(|(p, _)| p.as_str())
            .collect::<Vec<_>>(),
        ["graph/1479537139650973", "lookaside/1479537139650973"]
    );
}

async fn outbound_media_follows_the_channel_rules(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let (base, seen) = fake_provider().await;
    let channel = twilio_channel(&app, &base).await;
    let session = session_on(&app, &channel, CUSTOMER, 1).await;

    let pdf = json!({"body": "", "media": [{"url": "https://files.example/a.pdf",
        "content_type": "application/pdf"}]});
    refused(&app, session.id, pdf, "3002").await;
    let big = json!({"body": "look", "media": [{"url": "https://files.example/a.png",
        "content_type": "image/png", "size": 2_000_000}]});
    refused(&app, session.id, big, "3005").await;
    let two = json!({"media": [
        {"url": "https://files.example/a.png", "content_type": "image/png"},
        {"url": "https://files.example/b.png", "content_type": "image/png"}]});
    refused(&app, session.id, two, "3006").await;

    // Not a message at all: refused without an entry.
    let (status, v) = send(&app, session.id, json!({"body": "  "})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(v["code"], "invalid_request");
    let (status, _) = send(
        &app,
        session.id,
        json!({"media": [{"url": "ftp://x/a.png", "content_type": "image/png"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = send(&app, Uuid::now_v7(), json!({"body": "hi"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A picture within the rules goes, with its text, through Twilio.
    let ok = json!({"body": "here it is", "media": [{"url": "https://files.example/a.png",
        "content_type": "image/png", "size": 100_000}]});
    let (status, v) = send(&app, session.id, ok).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["actor"], "agent");
    assert_eq!(v["media"][0]["size"], 100_000);
    let sent = eventually(&app.events, "the MMS at Twilio", || {
        let seen = seen.clone();
        async move { seen.lock().unwrap().twilio_sends.first().cloned() }
    })
    .await;
    assert!(sent.contains(&("MediaUrl".into(), "https://files.example/a.png".into())));
    assert!(sent.contains(&("Body".into(), "here it is".into())));
    assert!(sent.contains(&("To".into(), CUSTOMER.into())));
    assert_eq!(
        seen.lock().unwrap().twilio_sends.len(),
        1,
        "refusals are never sent"
    );

    // An ended session takes no more messages.
    let mut ended = app.db.store.session(session.id).await.unwrap();
    ended.status = SessionStatus::Ended;
    app.db
        .store
        .save_sessions(&[ended], SystemClock.now())
        .await
        .unwrap();
    let (status, _) = send(&app, session.id, json!({"body": "hi"})).await;
    assert_eq!(status, StatusCode::CONFLICT);
}

async fn whatsapp_templates_outside_the_window(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let (base, seen) = fake_provider().await;
    let channel = whatsapp_channel(&app, &base).await;
    let session = session_on(&app, &channel, "+447400123456", 30).await;

    // Templates through the API (admin token).
    let create = |name: &str, status: &str, body: &str| {
        json!({"name": name, "language": "en_US", "category": "utility",
               "status": status, "body": body})
    };
    let r = app
        .req(
            Method::POST,
            &format!("/api/v1/channels/{}/templates", channel.id),
        )
        .json(&create(
            "order_update",
            "approved",
            "Hi {{1}}, order {{2}} has shipped.",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let approved: Value = r.json().await.unwrap();
    assert_eq!(approved["parameters"], 2);
    let r = app
        .req(
            Method::POST,
            &format!("/api/v1/channels/{}/templates", channel.id),
        )
        .json(&create("promo", "pending", "Sale on {{1}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let pending: Value = r.json().await.unwrap();

    // Free text outside the 24-hour window: 0004 (window.rs).
    refused(&app, session.id, json!({"body": "are you there?"}), "0004").await;
    // A pending template, an unknown one, or the wrong values: 3001.
    let tpl = |name: &str, params: Value| json!({"template": {"name": name, "language": "en_US", "parameters": params}});
    refused(&app, session.id, tpl("promo", json!(["shoes"])), "3001").await;
    refused(&app, session.id, tpl("nope", json!([])), "3001").await;
    refused(
        &app,
        session.id,
        tpl("order_update", json!(["Ann"])),
        "3001",
    )
    .await;

    // The approved template goes, as a template message.
    let (status, v) = send(&app, session.id, tpl("order_update", json!(["Ann", "#42"]))).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["body"], "Hi Ann, order #42 has shipped.");
    assert_eq!(v["template"]["name"], "order_update");
    let sent = eventually(&app.events, "the template at Meta", || {
        let seen = seen.clone();
        async move { seen.lock().unwrap().graph_sends.first().cloned() }
    })
    .await;
    assert_eq!(sent["type"], "template", "{sent}");
    assert_eq!(sent["to"], "+447400123456", "{sent}");
    assert_eq!(sent["template"]["name"], "order_update");
    assert_eq!(sent["template"]["language"]["code"], "en_US");
    assert_eq!(sent["template"]["components"][0]["type"], "body");
    assert_eq!(
        sent["template"]["components"][0]["parameters"],
        json!([{"type": "text", "text": "Ann"}, {"type": "text", "text": "#42"}])
    );
    assert!(sent.get("text").is_none_or(Value::is_null));
    let entry_id: Uuid = v["id"].as_str().unwrap().parse().unwrap();
    let store = app.db.store.clone();
    eventually(&app.events, "the entry dispatched", || {
        let store = store.clone();
        async move {
            let e = store.entry(entry_id).await.unwrap();
            e.provider_message_id.is_some().then_some(())
        }
    })
    .await;
    assert_eq!(
        seen.lock().unwrap().graph_sends.len(),
        1,
        "refusals are never sent"
    );

    // Inside the window, free text goes as text.
    let fresh = session_on(&app, &channel, "+447400123457", 1).await;
    let (status, v) = send(&app, fresh.id, json!({"body": "hello"})).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let text = eventually(&app.events, "the text at Meta", || {
        let seen = seen.clone();
        async move { seen.lock().unwrap().graph_sends.get(1).cloned() }
    })
    .await;
    assert_eq!(text["type"], "text");
    assert_eq!(text["text"]["body"], "hello");

    // A template that stops being approved fails the messages still queued with it.
    let queued = app
        .db
        .store
        .record_outgoing(
            &Entry {
                id: Uuid::now_v7(),
                session_id: session.id,
                direction: Direction::Outbound,
                actor: Actor::Agent,
                actor_id: None,
                body: "Hi Bo, order #7 has shipped.".into(),
                media: vec![],
                provider_message_id: None,
                status: EntryStatus::Queued,
                error_code: None,
                provider_error: None,
                created_at: SystemClock.now(),
                updated_at: SystemClock.now(),
                template: Some(EntryTemplate {
                    template_id: approved["id"].as_str().unwrap().parse().unwrap(),
                    name: "order_update".into(),
                    language: "en_US".into(),
                    parameters: vec!["Bo".into(), "#7".into()],
                }),
                component: None,
            },
            None,
            SystemClock.now(),
        )
        .await
        .unwrap();
    let template_url = format!("/api/v1/templates/{}", approved["id"].as_str().unwrap());
    let r = app
        .req(Method::PUT, &template_url)
        .json(&create(
            "order_update",
            "rejected",
            "Hi {{1}}, order {{2}} has shipped.",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "rejected");
    let after = app.db.store.entry(queued.id).await.unwrap();
    assert_eq!(after.status, EntryStatus::Failed);
    assert_eq!(after.error_code.as_deref(), Some("3001"));
    refused(
        &app,
        session.id,
        tpl("order_update", json!(["Ann", "#42"])),
        "3001",
    )
    .await;
    // The dispatcher checks again when it sends: a message that reached the outbox with a
    // template no longer approved (here put there behind the API's back) fails, unsent.
    let mut late_entry = queued.clone();
    late_entry.id = Uuid::now_v7();
    late_entry.status = EntryStatus::Queued;
    late_entry.error_code = None;
    let job = parley_engine::outbound::send_job(
        late_entry.id,
        parley_core::consent::SendPurpose::Conversation {
            session_opt_in: false,
        },
        0,
        SystemClock.now(),
    );
    let late = app
        .db
        .store
        .record_outgoing(&late_entry, Some(&job), SystemClock.now())
        .await
        .unwrap();
    let store = app.db.store.clone();
    let failed = eventually(&app.events, "the late template message failed", || {
        let store = store.clone();
        async move {
            let e = store.entry(late.id).await.unwrap();
            (e.status == EntryStatus::Failed).then_some(e)
        }
    })
    .await;
    assert_eq!(failed.error_code.as_deref(), Some("3001"));
    assert!(failed.provider_message_id.is_none(), "never reached Meta");

    // The rest of the templates API.
    let v: Value = app
        .get_json(&format!("/api/v1/channels/{}/templates", channel.id))
        .await;
    assert_eq!(v["items"].as_array().unwrap().len(), 2);
    let r = app.req(Method::GET, &template_url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = app
        .req(
            Method::POST,
            &format!("/api/v1/channels/{}/templates", channel.id),
        )
        .json(&create("promo", "approved", "Sale on {{1}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let r = app
        .req(
            Method::POST,
            &format!("/api/v1/channels/{}/templates", channel.id),
        )
        .json(&create("bad", "approved", "Skips {{2}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let agent = TestApp::token_for(&app.db, TokenRole::Agent).await;
    let r = app
        .client
        .post(format!(
            "{}/api/v1/channels/{}/templates",
            app.base, channel.id
        ))
        .bearer_auth(&agent)
        .json(&create("mine", "approved", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = app
        .client
        .get(format!(
            "{}/api/v1/channels/{}/templates",
            app.base, channel.id
        ))
        .bearer_auth(&agent)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "agents read templates");
    let pending_url = format!("/api/v1/templates/{}", pending["id"].as_str().unwrap());
    let r = app.req(Method::DELETE, &pending_url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app.req(Method::GET, &pending_url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

/// An outbound entry whose outcome is unknown shows as such in the API; an operator resends it
/// (back to queued, sent again by the workers) or marks another failed (0002, naming who); both
/// are refused with 409 for a delivered message.
async fn unknown_outcomes_are_resent_or_marked_failed(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let (base, seen) = fake_provider().await;
    let channel = twilio_channel(&app, &base).await;
    let session = session_on(&app, &channel, CUSTOMER, 1).await;
    let s = &app.db.store;
    let now = SystemClock.now();
    let outbound = |body: &str, status| {
        build::new_entry(session.id, Direction::Outbound, Actor::Agent, body, status)
    };
    let lost = s
        .append_entry(&outbound("Lost answer", EntryStatus::Unknown), now)
        .await
        .unwrap();
    let given_up = s
        .append_entry(&outbound("Given up", EntryStatus::Unknown), now)
        .await
        .unwrap();
    let delivered = s
        .append_entry(&outbound("Arrived", EntryStatus::Delivered), now)
        .await
        .unwrap();

    let entries = app
        .get_json(&format!("/api/v1/sessions/{}/entries", session.id))
        .await;
    assert!(
        entries["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["id"] == lost.id.to_string() && e["status"] == "unknown"),
        "{entries}"
    );

    let post = |path: String| app.req(Method::POST, &path);
    let (status, v) =
        parley_testkit::status_and_json(post(format!("/api/v1/messages/{}/resend", lost.id))).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "queued", "{v}");
    let store = s.clone();
    let sent = eventually(&app.events, "the resend at Twilio", || {
        let store = store.clone();
        async move {
            let e = store.entry(lost.id).await.unwrap();
            e.provider_message_id.is_some().then_some(e)
        }
    })
    .await;
    assert!(sent.provider_message_id.unwrap().starts_with("SM"));
    assert_eq!(seen.lock().unwrap().twilio_sends.len(), 1);

    let (status, v) = parley_testkit::status_and_json(post(format!(
        "/api/v1/messages/{}/mark-failed",
        given_up.id
    )))
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "failed", "{v}");
    assert_eq!(v["error_code"], "0002", "{v}");
    assert!(
        v["provider_error"]
            .as_str()
            .unwrap()
            .contains("marked failed by"),
        "{v}"
    );
    let failed = s.entry(given_up.id).await.unwrap();
    assert_eq!(failed.status, EntryStatus::Failed);

    for action in ["resend", "mark-failed"] {
        let (status, v) = parley_testkit::status_and_json(post(format!(
            "/api/v1/messages/{}/{action}",
            delivered.id
        )))
        .await;
        assert_eq!(status, StatusCode::CONFLICT, "{action}: {v}");
        assert_eq!(v["code"], "conflict", "{v}");
    }
    assert_eq!(
        s.entry(delivered.id).await.unwrap().status,
        EntryStatus::Delivered
    );
    let (status, _) = parley_testkit::status_and_json(post(format!(
        "/api/v1/messages/{}/resend",
        Uuid::now_v7()
    )))
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

parley_store::on_both_backends!(
    inbound_mms_media_is_stored_and_served,
    whatsapp_media_is_looked_up_and_stored,
    outbound_media_follows_the_channel_rules,
    whatsapp_templates_outside_the_window,
    unknown_outcomes_are_resent_or_marked_failed,
);
