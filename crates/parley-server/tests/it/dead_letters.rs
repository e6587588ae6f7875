//! Dead letters end to end: signed Twilio webhooks whose messages cannot be processed (an
//! unreadable sender, a channel whose configuration broke, a row the database refuses) are kept
//! with their reason, listed and read through the API, counted, and replayed once the cause is
//! fixed; text with NUL is stored the same on both databases.
//!
//! Before dead letters, the same cases went: the unreadable sender and the broken channel to a
//! dead job at once, seen nowhere but the job table; the refused row (a NUL on PostgreSQL) back
//! to the queue with its whole batch, ten times (the retry policy's limit, below the job's 20), then
//! to a dead job, after the provider had been answered 200; a database error while loading the
//! channel's rules dead-lettered its message at once.

use parley_channels::twilio::{SignatureAlgorithm, compute_signature};
use parley_core::model::*;
use parley_core::{Clock, SystemClock};
use parley_store::testing::{TestBackend, refuse_entries_with_body};
use parley_store::*;
use parley_testkit::form::encode as enc;
use parley_testkit::{build, status_and_json};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{TestApp, eventually};

const TOKEN: &str = "twilio-auth-token";
const CUSTOMER: &str = "+447400123456";
const ADDRESS: &str = "+14155550100";

struct Hook {
    app: TestApp,
    channel: Channel,
    url: String,
}

impl Hook {
    async fn new(b: TestBackend) -> Self {
        let app = TestApp::spawn(b).await;
        let now = SystemClock.now();
        let s = &app.db.store;
        let queue = build::queue(s, "Support", now).await;
        let mut spec = ChannelSpec {
            number_type: Some(NumberType::LongCode),
            country: Some("US".into()),
            queue_id: Some(queue.id),
            ..build::twilio_sms(
                "Front desk",
                ADDRESS,
                json!({}),
                json!({"auth_token": TOKEN}),
            )
        };
        let channel = s.create_channel(&spec, now).await.unwrap();
        let url = format!("{}/webhooks/twilio/{}", app.base, channel.id);
        spec.settings = json!({"public_url": url});
        let channel = s.update_channel(channel.id, &spec, now).await.unwrap();
        Self { app, channel, url }
    }

    /// Posts a signed inbound SMS; Twilio must get its 200 whatever becomes of the message.
    async fn text(&self, sid: &str, from: &str, body: &str) {
        let params: Vec<(String, String)> = [
            ("MessageSid", sid),
            ("AccountSid", "AC00000000000000000000000000000000"),
            ("From", from),
            ("To", ADDRESS),
            ("Body", body),
            ("NumMedia", "0"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let signature = compute_signature(TOKEN, &self.url, &params, SignatureAlgorithm::HmacSha1);
        let form = params
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        let r = self
            .app
            .client
            .post(&self.url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("X-Twilio-Signature", signature)
            .body(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }

    /// The dead letters listed through the API once there are `n` (of `reason`, if given).
    async fn dead_letters(&self, reason: Option<&str>, n: usize) -> Vec<Value> {
        let path = match reason {
            Some(r) => format!("/api/v1/dead-letters?reason={r}"),
            None => "/api/v1/dead-letters".to_owned(),
        };
        eventually(&self.app.events, &format!("{n} dead letters"), || async {
            let page = self.app.get_json(&path).await;
            let items = page["items"].as_array().unwrap().clone();
            (items.len() >= n).then_some(items)
        })
        .await
    }

    async fn no_inbound_work_left(&self) {
        let s = self.app.db.store.clone();
        eventually(&self.app.events, "the inbound queue to drain", || async {
            (!s.has_pending_jobs("inbound").await.unwrap()).then_some(())
        })
        .await;
    }
}

async fn an_unreadable_sender_is_a_dead_letter_at_once(b: TestBackend) {
    let hook = Hook::new(b).await;
    hook.text("SM100", "anonymous", "hello there").await;
    let letters = hook.dead_letters(None, 1).await;
    let l = &letters[0];
    assert_eq!(l["reason"], "invalid_sender");
    assert_eq!(l["attempts"], 1, "not retried: retrying cannot read it");
    assert_eq!(l["channel_id"], hook.channel.id.to_string());
    assert_eq!(l["from"], "anonymous");
    assert_eq!(l["excerpt"], "hello there");
    assert!(l["detail"].as_str().unwrap().contains("sender"), "{l}");

    let id = l["id"].as_str().unwrap();
    let one = hook
        .app
        .get_json(&format!("/api/v1/dead-letters/{id}"))
        .await;
    let raw: Value = serde_json::from_str(one["payload"].as_str().unwrap()).unwrap();
    assert_eq!(
        (raw["from"].as_str(), raw["provider_message_id"].as_str()),
        (Some("anonymous"), Some("SM100"))
    );
    assert_eq!(one["text"], "hello there");
    let metrics = hook
        .app
        .anon(Method::GET, "/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("parley_inbound_dead_letters_total{reason=\"invalid_sender\"}"),
        "{metrics}"
    );

    // Replaying while the cause persists dead-letters it again, with its reason.
    let (status, body) = status_and_json(
        hook.app
            .req(Method::POST, &format!("/api/v1/dead-letters/{id}/replay")),
    )
    .await;
    assert_eq!(
        (status, body["replayed"].as_u64()),
        (StatusCode::ACCEPTED, Some(1))
    );
    let again = eventually(&hook.app.events, "the replay to die again", || async {
        let j = hook.app.db.store.job(id.parse().unwrap()).await.unwrap();
        (j.state == JobState::Dead).then_some(j)
    })
    .await;
    assert_eq!(again.attempts, 1);
    let letters = hook.dead_letters(Some("invalid_sender"), 1).await;
    assert_eq!(letters.len(), 1);

    // Discarding takes it off the list for good.
    let (status, _) = status_and_json(
        hook.app
            .req(Method::DELETE, &format!("/api/v1/dead-letters/{id}")),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(hook.dead_letters(None, 0).await.len(), 0);
    let (status, _) = status_and_json(
        hook.app
            .req(Method::GET, &format!("/api/v1/dead-letters/{id}")),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn a_broken_channel_configuration_is_replayed_once_fixed(b: TestBackend) {
    let hook = Hook::new(b).await;
    let s = &hook.app.db.store;
    let now = SystemClock.now();
    // A keyword set the channel's rules cannot read, as a bad manual edit would leave it.
    let broken = KeywordSetSpec {
        channel_id: hook.channel.id,
        language: "en".into(),
        config: json!("not an object"),
    };
    s.upsert_keyword_set(&broken, now).await.unwrap();
    hook.text("SM200", CUSTOMER, "first").await;
    hook.text("SM201", CUSTOMER, "second").await;
    let letters = hook.dead_letters(Some("channel_unavailable"), 2).await;
    let excerpts: Vec<&str> = letters
        .iter()
        .map(|l| l["excerpt"].as_str().unwrap())
        .collect();
    assert_eq!(excerpts, ["second", "first"], "newest first");
    assert!(
        s.messaging_user_by_key(hook.channel.id, CUSTOMER)
            .await
            .unwrap()
            .is_none()
    );

    // Fixed, then replayed by reason: both messages are processed and the list empties.
    s.upsert_keyword_set(
        &KeywordSetSpec {
            config: json!({}),
            ..broken
        },
        now,
    )
    .await
    .unwrap();
    let (status, body) = status_and_json(
        hook.app
            .req(Method::POST, "/api/v1/dead-letters/replay")
            .json(&json!({"reason": "channel_unavailable"})),
    )
    .await;
    assert_eq!(
        (status, body["replayed"].as_u64()),
        (StatusCode::ACCEPTED, Some(2))
    );
    let user = hook.app.wait_for_user(hook.channel.id, CUSTOMER).await;
    let entries = hook.app.wait_for_entries(user.id, 2).await;
    let mut bodies: Vec<&str> = entries.iter().map(|(_, e)| e.body.as_str()).collect();
    bodies.sort_unstable();
    assert_eq!(bodies, ["first", "second"]);
    hook.no_inbound_work_left().await;
    assert!(hook.dead_letters(None, 0).await.is_empty());
}

async fn a_message_for_a_removed_channel_is_a_dead_letter(b: TestBackend) {
    let hook = Hook::new(b).await;
    // Queued while the channel existed (a webhook answered 200), processed after it was removed.
    let event = parley_engine::inbound::InboundEvent {
        channel_id: hook.channel.id,
        provider_message_id: "SM250".into(),
        from: CUSTOMER.into(),
        to: ADDRESS.into(),
        text: "still there?".into(),
        media: Vec::new(),
        profile_name: None,
        received_at: SystemClock.now(),
        choice: None,
        web: None,
    };
    hook.app
        .db
        .store
        .delete_channel(hook.channel.id)
        .await
        .unwrap();
    hook.app.engine.ingest.submit(&event).await.unwrap();
    let letters = hook.dead_letters(None, 1).await;
    assert_eq!(
        (
            letters[0]["reason"].as_str(),
            letters[0]["attempts"].as_i64()
        ),
        (Some("channel_unavailable"), Some(1))
    );
    assert!(
        letters[0]["detail"]
            .as_str()
            .unwrap()
            .contains("no longer exists")
    );
}

async fn a_refused_row_dead_letters_only_its_own_message(b: TestBackend) {
    let hook = Hook::new(b).await;
    refuse_entries_with_body(&hook.app.db.store, "refuse me").await;
    hook.text("SM300", CUSTOMER, "before").await;
    hook.text("SM301", CUSTOMER, "refuse me").await;
    hook.text("SM302", CUSTOMER, "after").await;
    let letters = hook.dead_letters(None, 1).await;
    assert_eq!(letters.len(), 1);
    assert_eq!(
        (
            letters[0]["reason"].as_str(),
            letters[0]["excerpt"].as_str()
        ),
        (Some("database_refused"), Some("refuse me"))
    );
    assert_eq!(
        letters[0]["attempts"], 1,
        "refused once is refused for good"
    );
    let user = hook.app.wait_for_user(hook.channel.id, CUSTOMER).await;
    let entries = hook.app.wait_for_entries(user.id, 2).await;
    let mut bodies: Vec<&str> = entries.iter().map(|(_, e)| e.body.as_str()).collect();
    bodies.sort_unstable();
    assert_eq!(bodies, ["after", "before"]);
    hook.no_inbound_work_left().await;
}

async fn nul_in_text_is_stored_the_same_on_both_databases(b: TestBackend) {
    let hook = Hook::new(b).await;
    hook.text("SM400", CUSTOMER, "hi\0there").await;
    let user = hook.app.wait_for_user(hook.channel.id, CUSTOMER).await;
    let entries = hook.app.wait_for_entries(user.id, 1).await;
    assert_eq!(entries[0].1.body, "hi\u{FFFD}there");
    hook.no_inbound_work_left().await;
    assert!(hook.dead_letters(None, 0).await.is_empty());

    // An outbound body with NUL is refused, naming the field, on both databases alike.
    let session = entries[0].0.id;
    let (status, body) = status_and_json(
        hook.app
            .req(
                Method::POST,
                &format!("/api/v1/sessions/{session}/messages"),
            )
            .json(&json!({"body": "bad\0body"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("body"), "{body}");
}

async fn dead_letters_are_for_admins(b: TestBackend) {
    let hook = Hook::new(b).await;
    let token = TestApp::token_for(&hook.app.db, TokenRole::Supervisor).await;
    let r = hook
        .app
        .anon(Method::GET, "/api/v1/dead-letters")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = hook
        .app
        .anon(Method::POST, "/api/v1/dead-letters/replay")
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (status, body) = status_and_json(
        hook.app
            .req(Method::GET, "/api/v1/dead-letters?reason=bogus"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.to_string().contains("invalid_sender"), "{body}");
}

parley_store::on_both_backends!(
    an_unreadable_sender_is_a_dead_letter_at_once,
    a_broken_channel_configuration_is_replayed_once_fixed,
    a_message_for_a_removed_channel_is_a_dead_letter,
    a_refused_row_dead_letters_only_its_own_message,
    nul_in_text_is_stored_the_same_on_both_databases,
    dead_letters_are_for_admins,
);
