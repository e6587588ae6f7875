//! Close Conversation (SE-20, issue 18), end to end through the real server: an agent closes a
//! customer's conversation with a reason; every open session of it ends with the reason in its
//! transcript; the customer's next message opens a new conversation and session. Refused without
//! `end_sessions` or write access; a second close is a 409 and an unknown conversation a 404.

use parley_core::model::*;
use parley_core::{Clock, SystemClock};
use parley_store::testing::TestBackend;
use parley_testkit::build;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::console::Desk;
use crate::{TestApp, eventually};

async fn json_of(r: reqwest::Response) -> (StatusCode, Value) {
    let status = r.status();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn an_agent_closes_and_the_next_message_opens_a_new_conversation(b: TestBackend) {
    let d = Desk::new(b).await;
    let ada = d.agent("Ada", 2, AgentRole::Agent).await;
    let bob = d.agent("Bob", 2, AgentRole::Agent).await;
    let (a, bc) = (d.sign_in(&ada).await, d.sign_in(&bob).await);
    d.go(&a, "available").await;
    let customer = "+447400000101";
    d.customer_says(customer, "My parcel is late").await;
    let session = d.offered(&a).await;
    let r = d.act(&a, session, "accept").await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let before = d.app.db.store.session(session).await.unwrap();

    // Bob may read the queue's session but not end Ada's conversation.
    let close = |c, id: Uuid, reason: &str| {
        d.call(
            c,
            Method::POST,
            &format!("/api/v1/sessions/{id}/close-conversation"),
        )
        .json(&json!({ "reason": reason }))
        .send()
    };
    let (status, body) = json_of(close(&bc, session, "Resolved").await.unwrap()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // A blank reason is the caller's mistake, named.
    let (status, body) = json_of(close(&a, session, "  ").await.unwrap()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("reason"), "{body}");

    let (status, body) = json_of(close(&a, session, "Resolved on the phone").await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["conversation_id"], before.conversation_id.to_string());
    assert_eq!(body["ended_sessions"], json!([session]));
    let ended = d.app.db.store.session(session).await.unwrap();
    assert_eq!(ended.status, SessionStatus::Ended);
    assert_eq!(ended.end_reason.as_deref(), Some("conversation_closed"));
    assert_eq!(ended.ended_by, Some(Actor::Agent));
    // The reason is in the session's transcript, as an event by Ada; the customer gets the
    // channel's End Conversation reply like after an End.
    let entries = d
        .get(&a, &format!("/api/v1/sessions/{session}/entries"))
        .await;
    let items = entries["items"].as_array().unwrap();
    let event = items
        .iter()
        .find(|e| e["direction"] == "event")
        .unwrap_or_else(|| panic!("an event entry: {entries}"));
    assert_eq!(event["body"], "Resolved on the phone");
    assert_eq!(event["actor"], "agent");
    assert_eq!(event["actor_id"], ada.id.to_string());
    assert!(
        items
            .iter()
            .any(|e| e["direction"] == "outbound" && e["body"] == "Thanks, goodbye."),
        "{entries}"
    );
    assert_eq!(d.work(&a).await["sessions"].as_array().unwrap().len(), 0);

    // Closed again: a clear 409, by either route.
    let (status, body) = json_of(close(&a, session, "Again").await.unwrap()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let r = d
        .app
        .req(
            Method::POST,
            &format!("/api/v1/conversations/{}/close", before.conversation_id),
        )
        .json(&json!({"reason": "Again"}))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // The customer writes again: a new session in a new conversation.
    d.customer_says(customer, "Actually, one more thing").await;
    let store = d.app.db.store.clone();
    let user = before.messaging_user_id;
    let next = eventually(&d.app.events, "a new open session", || {
        let store = store.clone();
        async move { store.open_session(user).await.unwrap() }
    })
    .await;
    assert_ne!(next.id, session);
    assert_ne!(next.conversation_id, before.conversation_id);
    // An agent-initiated conversation after a close starts a new conversation too: covered by
    // `conversation_of`, which the inbound pipeline's single-user path shares.
    assert_eq!(
        store.conversation_of(user).await.unwrap(),
        Some(next.conversation_id)
    );
}

async fn every_open_session_closes_at_once_and_permissions_are_checked(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let store = &app.db.store;
    let now = SystemClock.now();
    let channel = store
        .create_channel(&build::simulator_sms(), now)
        .await
        .unwrap();
    // Two open sessions sharing one conversation (the console's rule keeps one open session per
    // messaging user; a conversation brought in by an import can hold more): both end.
    let conversation = parley_core::new_id();
    let mut sessions = Vec::new();
    for key in ["+447400000201", "+447400000202"] {
        let user = build::user(
            store,
            &build::new_user(channel.id, key, Some(ConsentStatus::ImplicitlyOptedIn)),
            &build::origin(ConsentSource::Import, "test"),
            now,
        )
        .await;
        let mut new = build::new_session(channel.id, user.id, SessionStatus::Waiting);
        new.conversation_id = conversation;
        sessions.push(build::session(store, &new, now).await);
    }
    let path = format!("/api/v1/conversations/{conversation}/close");

    // A broadcaster's token lacks `end_sessions`: 403 naming it.
    let broadcaster = TestApp::token_for(&app.db, TokenRole::Broadcaster).await;
    let r = app
        .client
        .post(format!("{}{path}", app.base))
        .bearer_auth(&broadcaster)
        .json(&json!({"reason": "Spam"}))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.to_string().contains("end_sessions"), "{body}");
    // Unknown conversation: 404. Bad input: 422, never a 500.
    let r = app
        .req(
            Method::POST,
            &format!("/api/v1/conversations/{}/close", Uuid::now_v7()),
        )
        .json(&json!({"reason": "Spam"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    for bad in [
        json!({}),
        json!({"reason": 5}),
        json!({"reason": "x".repeat(501)}),
        json!({"reason": "ok", "extra": 1}),
    ] {
        let r = app
            .req(Method::POST, &path)
            .json(&bad)
            .send()
            .await
            .unwrap();
        let (status, body) = json_of(r).await;
        assert!(
            status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::BAD_REQUEST,
            "{bad}: {status} {body}"
        );
    }
    let r = app
        .req(Method::POST, "/api/v1/conversations/not-a-uuid/close")
        .json(&json!({"reason": "Spam"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());

    // The admin token closes both at once; each session has the reason in its transcript.
    let r = app
        .req(Method::POST, &path)
        .json(&json!({"reason": "Spam"}))
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut ended: Vec<String> = body["ended_sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    ended.sort();
    let mut expected: Vec<String> = sessions.iter().map(|s| s.id.to_string()).collect();
    expected.sort();
    assert_eq!(ended, expected);
    for s in &sessions {
        let now = store.session(s.id).await.unwrap();
        assert_eq!(now.status, SessionStatus::Ended);
        assert_eq!(now.ended_by, Some(Actor::System));
        let entries = app
            .get_json(&format!("/api/v1/sessions/{}/entries", s.id))
            .await;
        let events: Vec<&Value> = entries["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["direction"] == "event")
            .collect();
        assert_eq!(events.len(), 1, "{entries}");
        assert_eq!(events[0]["body"], "Spam");
        assert_eq!(events[0]["actor"], "system");
    }
    let closure = store
        .conversation_closure(conversation)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(closure.reason, "Spam");
    assert_eq!(closure.closed_by_agent, None);
    assert!(closure.closed_by_token.is_some());
    // Both users' latest conversation is closed: neither continues it.
    for s in &sessions {
        assert_eq!(
            store.conversation_of(s.messaging_user_id).await.unwrap(),
            None
        );
    }
    let r = app
        .req(Method::POST, &path)
        .json(&json!({"reason": "Spam"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
}

parley_store::on_both_backends!(
    an_agent_closes_and_the_next_message_opens_a_new_conversation,
    every_open_session_closes_at_once_and_permissions_are_checked,
);
