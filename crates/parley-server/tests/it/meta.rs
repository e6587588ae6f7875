//! Meta webhooks end to end: signed WhatsApp Cloud API and Messenger bodies (adapted from
//! `parley-channels/fixtures/meta`) through the real server and its workers, checked in the
//! database.

use parley_channels::meta::compute_signature;
use parley_core::model::*;
use parley_core::{Clock, SystemClock};
use parley_store::testing::TestBackend;
use parley_store::*;
use parley_testkit::build;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::TestApp;

const APP_SECRET: &str = "meta-app-secret";
const WA_VERIFY: &str = "wa-verify-token";
const FB_VERIFY: &str = "fb-verify-token";
const PHONE_NUMBER_ID: &str = "106540352242922";
const PAGE_ID: &str = "104885245713421";
const WA_ID: &str = "447400123456";
const USER_ID: &str = "GB.13491208655302741918";
const PSID: &str = "6783451290871234";

struct Meta {
    app: TestApp,
    whatsapp: Channel,
    messenger: Channel,
}

impl Meta {
    async fn new(b: TestBackend) -> Self {
        let app = TestApp::spawn(b).await;
        let now = SystemClock.now();
        let s = &app.db.store;
        let queue = s
            .create_queue(&build::queue_spec("Support"), now)
            .await
            .unwrap();
        let whatsapp = s
            .create_channel(
                &channel_spec(
                    "WhatsApp",
                    ChannelKind::Whatsapp,
                    "+15550783881",
                    Some(queue.id),
                    json!({"phone_number_id": PHONE_NUMBER_ID}),
                    json!({"app_secret": APP_SECRET, "verify_token": WA_VERIFY}),
                ),
                now,
            )
            .await
            .unwrap();
        let messenger = s
            .create_channel(
                &channel_spec(
                    "Messenger",
                    ChannelKind::Messenger,
                    PAGE_ID,
                    Some(queue.id),
                    json!({}),
                    json!({"app_secret": APP_SECRET, "verify_token": FB_VERIFY}),
                ),
                now,
            )
            .await
            .unwrap();
        Self {
            app,
            whatsapp,
            messenger,
        }
    }

    async fn post(&self, path: &str, body: &[u8], signature: Option<String>) -> reqwest::Response {
        let mut req = self
            .app
            .anon(Method::POST, &format!("/webhooks/meta/{path}"))
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(sig) = signature {
            req = req.header("X-Hub-Signature-256", sig);
        }
        req.send().await.unwrap()
    }

    /// Posts a body signed with the app secret and checks Meta gets its quick empty 200.
    async fn signed(&self, path: &str, body: &Value) {
        let body = serde_json::to_vec(body).unwrap();
        let r = self
            .post(path, &body, Some(compute_signature(APP_SECRET, &body)))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.text().await.unwrap(), "");
    }

    async fn user(&self, channel: Uuid, key: &str) -> MessagingUser {
        self.app.wait_for_user(channel, key).await
    }

    async fn entries(&self, user: Uuid, n: usize) -> Vec<(Session, Entry)> {
        self.app.wait_for_entries(user, n).await
    }

    /// An agent's message the provider took under `provider_id`, in the user's first session.
    async fn outbound(&self, user: Uuid, provider_id: &str) -> Entry {
        let entries = self.entries(user, 1).await;
        self.app
            .db
            .store
            .append_entry(
                &NewEntry {
                    provider_message_id: Some(provider_id.into()),
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
            .unwrap()
    }
}

fn channel_spec(
    name: &str,
    kind: ChannelKind,
    address: &str,
    queue_id: Option<Uuid>,
    settings: Value,
    secrets: Value,
) -> ChannelSpec {
    ChannelSpec {
        kind,
        queue_id,
        ..build::whatsapp(name, address, settings, secrets)
    }
}

/// A WhatsApp webhook carrying `value` (messages or statuses) for a business phone.
fn whatsapp_body(phone_number_id: &str, value: Value) -> Value {
    let mut value = value;
    value["messaging_product"] = json!("whatsapp");
    value["metadata"] = json!({
        "display_phone_number": "15550783881",
        "phone_number_id": phone_number_id
    });
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}]
    })
}

/// One message from Ada (`wa_id` and `user_id`, or only `user_id`), of any type.
fn whatsapp_message(wamid: &str, with_number: bool, message: Value) -> Value {
    let mut contact = json!({"profile": {"name": "Ada Lovelace"}, "user_id": USER_ID});
    let mut message = message;
    message["id"] = json!(wamid);
    message["timestamp"] = json!("1763719200");
    message["from_user_id"] = json!(USER_ID);
    if with_number {
        contact["wa_id"] = json!(WA_ID);
        message["from"] = json!(WA_ID);
    }
    whatsapp_body(
        PHONE_NUMBER_ID,
        json!({"contacts": [contact], "messages": [message]}),
    )
}

fn whatsapp_text(wamid: &str, text: &str) -> Value {
    whatsapp_message(wamid, true, json!({"type": "text", "text": {"body": text}}))
}

fn whatsapp_status(wamid: &str, status: &str, error: Option<i64>) -> Value {
    let mut s = json!({
        "id": wamid, "status": status, "timestamp": "1763805700",
        "recipient_id": WA_ID, "recipient_user_id": USER_ID
    });
    if let Some(code) = error {
        s["errors"] = json!([{
            "code": code, "title": "Re-engagement message", "message": "Re-engagement message",
            "error_data": {"details": "more than 24 hours have passed since the customer last replied"}
        }]);
    }
    whatsapp_body(PHONE_NUMBER_ID, json!({"statuses": [s]}))
}

fn messenger_body(events: Value) -> Value {
    json!({
        "object": "page",
        "entry": [{"id": PAGE_ID, "time": 1763719200123_i64, "messaging": events}]
    })
}

async fn handshake_answers_the_channel_verify_token(b: TestBackend) {
    let meta = Meta::new(b).await;
    let get = |path: &str, token: &str| {
        meta.app.anon(
            Method::GET,
            &format!(
                "/webhooks/meta/{path}?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444"
            ),
        )
    };
    let r = get("whatsapp", WA_VERIFY).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "1158201444");
    let r = get("messenger", FB_VERIFY).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "1158201444");
    for (path, token) in [
        ("whatsapp", "wrong"),
        ("whatsapp", FB_VERIFY),
        ("messenger", WA_VERIFY),
    ] {
        assert_eq!(
            get(path, token).send().await.unwrap().status(),
            StatusCode::FORBIDDEN,
            "{path} {token}"
        );
    }
    let r = meta
        .app
        .anon(Method::GET, "/webhooks/meta/whatsapp")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

async fn whatsapp_text_creates_a_user_keyed_by_number_and_a_waiting_session(b: TestBackend) {
    let meta = Meta::new(b).await;
    meta.signed(
        "whatsapp",
        &whatsapp_text("wamid.TEXT1", "Hi, is my order on its way?"),
    )
    .await;
    let user = meta.user(meta.whatsapp.id, "+447400123456").await;
    assert_eq!(user.name, "Ada Lovelace");
    let entries = meta.entries(user.id, 1).await;
    let (session, entry) = &entries[0];
    assert_eq!(entry.body, "Hi, is my order on its way?");
    assert_eq!(entry.provider_message_id.as_deref(), Some("wamid.TEXT1"));
    assert_eq!(entry.direction, Direction::Inbound);
    assert_eq!(session.status, SessionStatus::Waiting);
    assert_eq!(session.queue_id, meta.whatsapp.queue_id);
}

async fn whatsapp_user_without_a_number_is_keyed_by_user_id(b: TestBackend) {
    let meta = Meta::new(b).await;
    let body = whatsapp_message(
        "wamid.USERID1",
        false,
        json!({"type": "text", "text": {"body": "Hello from a username"}}),
    );
    meta.signed("whatsapp", &body).await;
    let user = meta.user(meta.whatsapp.id, USER_ID).await;
    let entries = meta.entries(user.id, 1).await;
    assert_eq!(entries[0].1.body, "Hello from a username");
    assert_eq!(entries[0].0.status, SessionStatus::Waiting);
}

async fn whatsapp_sticker_and_media_are_kept(b: TestBackend) {
    let meta = Meta::new(b).await;
    let sticker = whatsapp_message(
        "wamid.STICKER1",
        true,
        json!({"type": "sticker", "sticker": {
            "mime_type": "image/webp", "id": "1189393788951043", "animated": false
        }}),
    );
    meta.signed("whatsapp", &sticker).await;
    let image = whatsapp_message(
        "wamid.IMAGE1",
        true,
        json!({"type": "image", "image": {
            "caption": "the damaged box", "mime_type": "image/jpeg", "id": "1479537139650973"
        }}),
    );
    meta.signed("whatsapp", &image).await;
    let user = meta.user(meta.whatsapp.id, "+447400123456").await;
    let entries = meta.entries(user.id, 2).await;
    assert_eq!(entries[0].1.body, "[unsupported content: sticker]");
    assert!(entries[0].1.media.is_empty());
    assert_eq!(entries[1].1.body, "the damaged box");
    // Only the provider's reference: the background fetch may have added Parley's copy by now.
    let media: Vec<(&str, &str)> = entries[1]
        .1
        .media
        .iter()
        .map(|m| (m.url.as_str(), m.content_type.as_str()))
        .collect();
    assert_eq!(media, vec![("1479537139650973", "image/jpeg")]);
}

async fn duplicate_wamid_is_processed_once(b: TestBackend) {
    let meta = Meta::new(b).await;
    let first = whatsapp_text("wamid.DUP1", "just once");
    meta.signed("whatsapp", &first).await;
    meta.signed("whatsapp", &first).await;
    meta.signed("whatsapp", &whatsapp_text("wamid.DUP2", "second"))
        .await;
    let user = meta.user(meta.whatsapp.id, "+447400123456").await;
    let entries = meta.entries(user.id, 2).await;
    // Wait until the second message is there: everything before it has been processed.
    assert_eq!(
        entries
            .iter()
            .map(|(_, e)| e.body.as_str())
            .collect::<Vec<_>>(),
        vec!["just once", "second"]
    );
}

async fn bad_signatures_are_refused_and_store_nothing(b: TestBackend) {
    let meta = Meta::new(b).await;
    let body = serde_json::to_vec(&whatsapp_text("wamid.BAD1", "forged")).unwrap();
    let status = |r: reqwest::Response| r.status();
    assert_eq!(
        status(meta.post("whatsapp", &body, None).await),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(
            meta.post("whatsapp", &body, Some(compute_signature("other", &body)))
                .await
        ),
        StatusCode::FORBIDDEN
    );
    let tampered = serde_json::to_vec(&whatsapp_text("wamid.BAD1", "forged!")).unwrap();
    assert_eq!(
        status(
            meta.post(
                "whatsapp",
                &tampered,
                Some(compute_signature(APP_SECRET, &body))
            )
            .await
        ),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(
            meta.post("whatsapp", &body, Some("sha256=abcd".into()))
                .await
        ),
        StatusCode::FORBIDDEN
    );
    // Malformed: 400 when signed by the app, 403 when not.
    let junk = b"{\"object\": \"whatsapp_business_account\", \"entry\": [";
    assert_eq!(
        status(
            meta.post("whatsapp", junk, Some(compute_signature(APP_SECRET, junk)))
                .await
        ),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        status(
            meta.post("whatsapp", junk, Some(compute_signature("other", junk)))
                .await
        ),
        StatusCode::FORBIDDEN
    );
    // Another app's number shares the path: a body naming both channels, signed by one app, is
    // refused whole.
    let now = SystemClock.now();
    meta.app
        .db
        .store
        .create_channel(
            &channel_spec(
                "WhatsApp other app",
                ChannelKind::Whatsapp,
                "+15550783882",
                meta.whatsapp.queue_id,
                json!({"phone_number_id": "999000111"}),
                json!({"app_secret": "other-app-secret"}),
            ),
            now,
        )
        .await
        .unwrap();
    let mut both = whatsapp_text("wamid.BAD2", "mine");
    let theirs = whatsapp_body(
        "999000111",
        json!({"contacts": [{"wa_id": "15551230000"}], "messages": [{
            "from": "15551230000", "id": "wamid.BAD3", "timestamp": "1763719200",
            "type": "text", "text": {"body": "theirs"}
        }]}),
    );
    both["entry"]
        .as_array_mut()
        .unwrap()
        .push(theirs["entry"][0].clone());
    let both = serde_json::to_vec(&both).unwrap();
    assert_eq!(
        status(
            meta.post(
                "whatsapp",
                &both,
                Some(compute_signature(APP_SECRET, &both))
            )
            .await
        ),
        StatusCode::FORBIDDEN
    );
    // A good message afterwards is the only one stored.
    meta.signed("whatsapp", &whatsapp_text("wamid.GOOD1", "real"))
        .await;
    let user = meta.user(meta.whatsapp.id, "+447400123456").await;
    let entries = meta.entries(user.id, 1).await;
    assert_eq!(
        entries
            .iter()
            .map(|(_, e)| e.body.as_str())
            .collect::<Vec<_>>(),
        vec!["real"]
    );
    assert!(
        meta.app
            .db
            .store
            .messaging_user_by_key(meta.whatsapp.id, "+15551230000")
            .await
            .unwrap()
            .is_none()
    );
}

async fn events_for_unknown_numbers_are_dropped(b: TestBackend) {
    let meta = Meta::new(b).await;
    let body = serde_json::to_vec(&whatsapp_body(
        "555000555",
        json!({"contacts": [{"wa_id": WA_ID}], "messages": [{
            "from": WA_ID, "id": "wamid.UNKNOWN1", "timestamp": "1763719200",
            "type": "text", "text": {"body": "to nobody"}
        }]}),
    ))
    .unwrap();
    // Signed by an app Parley knows: accepted (Meta would retry forever) and dropped.
    let r = meta
        .post(
            "whatsapp",
            &body,
            Some(compute_signature(APP_SECRET, &body)),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // Signed by nobody Parley knows: refused.
    let r = meta
        .post("whatsapp", &body, Some(compute_signature("other", &body)))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    meta.signed("whatsapp", &whatsapp_text("wamid.KNOWN1", "to us"))
        .await;
    let user = meta.user(meta.whatsapp.id, "+447400123456").await;
    let entries = meta.entries(user.id, 1).await;
    assert_eq!(
        entries
            .iter()
            .map(|(_, e)| e.body.as_str())
            .collect::<Vec<_>>(),
        vec!["to us"]
    );
}

async fn whatsapp_statuses_move_forward_and_map_errors(b: TestBackend) {
    let meta = Meta::new(b).await;
    meta.signed("whatsapp", &whatsapp_text("wamid.IN1", "hi there"))
        .await;
    let user = meta.user(meta.whatsapp.id, "+447400123456").await;
    let delivered = meta.outbound(user.id, "wamid.OUT1").await;
    let failed = meta.outbound(user.id, "wamid.OUT2").await;
    let s = &meta.app.db.store;
    meta.signed(
        "whatsapp",
        &whatsapp_status("wamid.OUT1", "delivered", None),
    )
    .await;
    meta.signed("whatsapp", &whatsapp_status("wamid.OUT1", "sent", None))
        .await;
    assert_eq!(
        s.entry(delivered.id).await.unwrap().status,
        EntryStatus::Delivered,
        "a late 'sent' never overwrites 'delivered'"
    );
    meta.signed(
        "whatsapp",
        &whatsapp_status("wamid.OUT2", "failed", Some(131047)),
    )
    .await;
    let failed = s.entry(failed.id).await.unwrap();
    assert_eq!(failed.status, EntryStatus::Failed);
    assert_eq!(failed.error_code.as_deref(), Some("0004"));
    assert_eq!(failed.provider_error.as_deref(), Some("131047"));
    // A status for a message we do not know is accepted and changes nothing.
    meta.signed("whatsapp", &whatsapp_status("wamid.NOPE", "read", None))
        .await;
}

async fn messenger_text_echo_and_delivery(b: TestBackend) {
    let meta = Meta::new(b).await;
    let text = messenger_body(json!([{
        "sender": {"id": PSID}, "recipient": {"id": PAGE_ID}, "timestamp": 1763719200045_i64,
        "message": {"mid": "m_TEXT1", "text": "Where is my parcel?"}
    }]));
    meta.signed("messenger", &text).await;
    let user = meta.user(meta.messenger.id, PSID).await;
    let entries = meta.entries(user.id, 1).await;
    assert_eq!(entries[0].1.body, "Where is my parcel?");
    assert_eq!(entries[0].1.provider_message_id.as_deref(), Some("m_TEXT1"));
    assert_eq!(entries[0].0.status, SessionStatus::Waiting);
    assert_eq!(entries[0].0.queue_id, meta.messenger.queue_id);
    // Our own message echoed back is not a customer message; its delivery receipt is a status.
    let out = meta.outbound(user.id, "m_OUT1").await;
    let echo_and_delivery = messenger_body(json!([
        {
            "sender": {"id": PAGE_ID}, "recipient": {"id": PSID}, "timestamp": 1763719230000_i64,
            "message": {"mid": "m_OUT1", "text": "hello", "is_echo": true}
        },
        {
            "sender": {"id": PSID}, "recipient": {"id": PAGE_ID},
            "delivery": {"mids": ["m_OUT1"], "watermark": 1763719231000_i64}
        },
        {
            "sender": {"id": PSID}, "recipient": {"id": PAGE_ID}, "timestamp": 1763719240000_i64,
            "message": {"mid": "m_TEXT2", "text": "thanks"}
        }
    ]));
    meta.signed("messenger", &echo_and_delivery).await;
    let entries = meta.entries(user.id, 3).await;
    assert_eq!(
        entries
            .iter()
            .map(|(_, e)| e.body.as_str())
            .collect::<Vec<_>>(),
        vec!["Where is my parcel?", "hello", "thanks"]
    );
    assert_eq!(
        meta.app.db.store.entry(out.id).await.unwrap().status,
        EntryStatus::Delivered
    );
    // A Messenger body on the WhatsApp path is not a WhatsApp webhook.
    let body = serde_json::to_vec(&text).unwrap();
    let r = meta
        .post(
            "whatsapp",
            &body,
            Some(compute_signature(APP_SECRET, &body)),
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

parley_store::on_both_backends!(
    handshake_answers_the_channel_verify_token,
    whatsapp_text_creates_a_user_keyed_by_number_and_a_waiting_session,
    whatsapp_user_without_a_number_is_keyed_by_user_id,
    whatsapp_sticker_and_media_are_kept,
    duplicate_wamid_is_processed_once,
    bad_signatures_are_refused_and_store_nothing,
    events_for_unknown_numbers_are_dropped,
    whatsapp_statuses_move_forward_and_map_errors,
    messenger_text_echo_and_delivery,
);
