//! Internal notes, supervisor whispers and tags (issue 15, AG-15), end to end through the real
//! server: who may write a note or a whisper, who reads a whisper in the timeline, that the
//! customer's side never carries a note, that notes go with erasure and retention, and tags with
//! their suggestions.

use parley_core::model::*;
use parley_core::{Clock, SystemClock};
use parley_store::testing::TestBackend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::console::{Console, Desk};
use crate::eventually;

async fn send(
    d: &Desk,
    c: &Console,
    method: Method,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    let r = d.call(c, method, path).json(&body).send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn note(d: &Desk, c: &Console, session: Uuid, body: Value) -> (StatusCode, Value) {
    send(
        d,
        c,
        Method::POST,
        &format!("/api/v1/sessions/{session}/notes"),
        body,
    )
    .await
}

/// The notes of a timeline as (body, whisper_to, author_name).
fn notes_of(timeline: &Value) -> Vec<(String, Value, Value)> {
    timeline["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["direction"] == "note")
        .map(|e| {
            (
                e["body"].as_str().unwrap().to_owned(),
                e["whisper_to"].clone(),
                e["author_name"].clone(),
            )
        })
        .collect()
}

async fn notes_and_whispers_reach_agents_only(b: TestBackend) {
    let d = Desk::new(b).await;
    let ada = d.agent("Ada", 2, AgentRole::Agent).await;
    let bob = d.agent("Bob", 2, AgentRole::Agent).await;
    let sue = d.agent("Sue", 2, AgentRole::Supervisor).await;
    let (a, bc, sc) = (
        d.sign_in(&ada).await,
        d.sign_in(&bob).await,
        d.sign_in(&sue).await,
    );
    d.go(&a, "available").await;
    let customer = "+447400000201";
    d.customer_says(customer, "My card was charged twice").await;
    let session = d.offered(&a).await;
    let r = d.act(&a, session, "accept").await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let store = d.app.db.store.clone();
    let user = store.session(session).await.unwrap().messaging_user_id;

    // The agent working the session writes a note.
    let (status, body) = note(
        &d,
        &a,
        session,
        json!({"body": "Refund asked; check with billing"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["session_id"], session.to_string());
    assert_eq!(body["author_id"], ada.id.to_string());
    assert_eq!(body["author_name"], "Ada");
    assert_eq!(body["whisper_to"], Value::Null);
    assert!(body["created_at"].is_string(), "{body}");

    // Another agent may not write on Ada's session; an agent may not whisper.
    let (status, body) = note(&d, &bc, session, json!({"body": "me too"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = note(
        &d,
        &a,
        session,
        json!({"body": "psst", "whisper_to": bob.id}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // The supervisor whispers to Ada and writes a plain note.
    let (status, body) = note(
        &d,
        &sc,
        session,
        json!({"body": "Offer the 10% voucher", "whisper_to": ada.id}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["whisper_to"], ada.id.to_string());
    assert_eq!(body["author_name"], "Sue");
    let (status, body) = note(&d, &sc, session, json!({"body": "Known billing incident"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // Bad input: each 422 names its field.
    for (input, field) in [
        (json!({"body": "   "}), "body"),
        (json!({"body": "x".repeat(4001)}), "body"),
        (
            json!({"body": "hi", "whisper_to": Uuid::now_v7()}),
            "whisper_to",
        ),
    ] {
        let (status, body) = note(&d, &sc, session, input).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body["message"].as_str().unwrap().contains(field), "{body}");
    }
    let (status, body) = note(&d, &a, session, json!({"text": "hi"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = note(&d, &a, Uuid::now_v7(), json!({"body": "hi"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The timeline: Ada reads all three, the whisper marked; the supervisor too; Bob (who reads
    // the queue's conversations) not the whisper.
    let path = format!("/api/v1/messaging-users/{user}/timeline");
    let ada_sees = notes_of(&d.get(&a, &path).await);
    assert_eq!(ada_sees.len(), 3, "{ada_sees:?}");
    assert_eq!(ada_sees[0].0, "Refund asked; check with billing");
    assert_eq!(
        ada_sees[1],
        (
            "Offer the 10% voucher".to_owned(),
            json!(ada.id),
            json!("Sue")
        )
    );
    assert_eq!(notes_of(&d.get(&sc, &path).await).len(), 3);
    let r = d.call(&bc, Method::GET, &path).send().await.unwrap();
    if r.status() == StatusCode::OK {
        let bob_sees = notes_of(&r.json().await.unwrap());
        assert_eq!(bob_sees.len(), 2, "{bob_sees:?}");
        assert!(bob_sees.iter().all(|n| n.1.is_null()), "{bob_sees:?}");
    } else {
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    // The notes sit between the session's messages by time: after the customer's message.
    let timeline = d.get(&a, &path).await;
    let list = timeline["entries"].as_array().unwrap();
    let first_inbound = list
        .iter()
        .position(|e| e["direction"] == "inbound")
        .unwrap();
    let first_note = list.iter().position(|e| e["direction"] == "note").unwrap();
    assert!(first_inbound < first_note, "{timeline}");
    assert_eq!(list[first_note]["session_status"], "active");

    // Live: a `note` console event for Ada's stream (the whisper is hers alone).
    let events = eventually(&d.app.events, "the note events", || {
        let store = store.clone();
        async move {
            let notes: Vec<_> = store
                .console_events_after(0, 10_000)
                .await
                .unwrap()
                .into_iter()
                .filter(|e| e.kind == "note")
                .collect();
            (notes.len() >= 3).then_some(notes)
        }
    })
    .await;
    assert!(
        events.iter().all(|e| e.agent_id == Some(ada.id)),
        "{events:?}"
    );
    assert!(
        events.iter().any(|e| e.data.contains(&ada.id.to_string())),
        "the whisper's event names its agent: {events:?}"
    );
    assert!(
        events.iter().all(|e| !e.data.contains("voucher")),
        "{events:?}"
    );

    // Never on the customer's side: not in the session's entries, not sent.
    let entries = d
        .get(&a, &format!("/api/v1/sessions/{session}/entries"))
        .await;
    let text = entries.to_string();
    for secret in ["voucher", "billing incident", "Refund asked"] {
        assert!(!text.contains(secret), "{text}");
    }
    let sent = store
        .simulator_messages(customer, None, 1000)
        .await
        .unwrap();
    assert!(!sent.is_empty());
    assert!(
        sent.iter()
            .all(|m| !m.body.contains("voucher") && !m.body.contains("Refund"))
    );

    // Retention's transcript removal takes the notes with the entries.
    let r = d.act(&a, session, "end").await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    assert_eq!(store.notes_of_session(session, 100).await.unwrap().len(), 3);
    store
        .delete_session_transcript(session, 1000, SystemClock.now())
        .await
        .unwrap();
    assert!(
        store
            .notes_of_session(session, 100)
            .await
            .unwrap()
            .is_empty()
    );

    // Erasure removes the person's notes (with their sessions).
    store
        .write_note(
            &parley_store::NewNote {
                session_id: session,
                author_id: Some(ada.id),
                body: "Called back".into(),
                whisper_to: None,
            },
            SystemClock.now(),
        )
        .await
        .unwrap();
    assert_eq!(store.notes_of_session(session, 100).await.unwrap().len(), 1);
    store
        .erase_messaging_user(None, user, SystemClock.now())
        .await
        .unwrap();
    assert!(
        store
            .notes_of_session(session, 100)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn tags_on_sessions_and_contacts(b: TestBackend) {
    let d = Desk::new(b).await;
    let ada = d.agent("Ada", 2, AgentRole::Agent).await;
    let a = d.sign_in(&ada).await;
    d.go(&a, "available").await;
    d.customer_says("+447400000202", "Where is my order?").await;
    let session = d.offered(&a).await;
    assert_eq!(d.act(&a, session, "accept").await.status(), StatusCode::OK);

    let path = format!("/api/v1/sessions/{session}/tags");
    let (status, body) = send(
        &d,
        &a,
        Method::PUT,
        &path,
        json!({"tags": ["  VIP ", "Billing  Issue", "vip"]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["tags"], json!(["billing issue", "vip"]));
    let read = d.get(&a, &format!("/api/v1/sessions/{session}")).await;
    assert_eq!(read["tags"], json!(["billing issue", "vip"]));
    assert_eq!(read["id"], session.to_string(), "existing fields stay");

    // Bad sets: each a 422 naming `tags`; nothing changes.
    let many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
    for tags in [json!(["  "]), json!(["x".repeat(41)]), json!(many)] {
        let (status, body) = send(&d, &a, Method::PUT, &path, json!({ "tags": tags })).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body["message"].as_str().unwrap().contains("tags"), "{body}");
    }
    let (status, _) = send(
        &d,
        &a,
        Method::PUT,
        &format!("/api/v1/sessions/{}/tags", Uuid::now_v7()),
        json!({"tags": []}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A contact's tags.
    let (status, contact) = send(
        &d,
        &a,
        Method::POST,
        "/api/v1/contacts",
        json!({"first_name": "Rosa", "last_name": "Diaz"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{contact}");
    assert_eq!(contact["tags"], json!([]));
    let id = contact["id"].as_str().unwrap();
    let (status, body) = send(
        &d,
        &a,
        Method::PUT,
        &format!("/api/v1/contacts/{id}/tags"),
        json!({"tags": ["Wholesale", "VIP"]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["tags"], json!(["vip", "wholesale"]));
    assert_eq!(
        d.get(&a, &format!("/api/v1/contacts/{id}")).await["tags"],
        json!(["vip", "wholesale"])
    );
    let list = d.get(&a, "/api/v1/contacts").await;
    let listed = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap()
        .clone();
    assert_eq!(listed["tags"], json!(["vip", "wholesale"]));

    // Suggestions: known tags by their start, any case, so agents pick rather than type.
    assert_eq!(d.get(&a, "/api/v1/tags?q=V").await["items"], json!(["vip"]));
    assert_eq!(
        d.get(&a, "/api/v1/tags?q=%20b").await["items"],
        json!(["billing issue"])
    );
    assert_eq!(
        d.get(&a, "/api/v1/tags?q=").await["items"],
        json!(["billing issue", "vip", "wholesale"])
    );
    assert_eq!(d.get(&a, "/api/v1/tags?q=zzz").await["items"], json!([]));
    // The lookup by tag reports' filters use.
    let store = &d.app.db.store;
    assert_eq!(
        store.sessions_tagged("vip", 10).await.unwrap(),
        vec![session]
    );
    assert_eq!(
        store.contacts_tagged("wholesale", 10).await.unwrap().len(),
        1
    );

    // Clearing: an empty set; the vocabulary keeps the word for later suggestions.
    let (status, body) = send(&d, &a, Method::PUT, &path, json!({"tags": []})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["tags"], json!([]));
    assert!(store.sessions_tagged("vip", 10).await.unwrap().is_empty());

    // Erasing the contact takes its tags.
    let cid: Uuid = id.parse().unwrap();
    store
        .erase_contact(None, cid, SystemClock.now())
        .await
        .unwrap();
    assert!(
        store
            .contacts_tagged("wholesale", 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// The console in headless Chromium (`tests/browser/notes.mjs`): a note in note mode, back to
/// reply, session and contact tags picked from suggestions with the keyboard, a supervisor's
/// whisper live for its agent only. Screenshots go to `PARLEY_SHOTS` when set.
async fn notes_and_tags_in_a_real_browser(b: TestBackend) {
    let backend = format!("{b:?}").to_lowercase();
    let d = Desk::new(b).await;
    let ana = d.agent("Ana", 3, AgentRole::Agent).await;
    let bob = d.agent("Bob", 3, AgentRole::Agent).await;
    let sam = d.agent("Sam", 3, AgentRole::Supervisor).await;
    let store = &d.app.db.store;
    let now = SystemClock.now();
    let customer = "+447400123456";
    // The vocabulary the agent picks from, and the customer's contact (matched by number).
    let seed = store
        .create_contact(
            &parley_store::ContactSpec {
                first_name: "Seed".into(),
                last_name: String::new(),
                phone: None,
                email: None,
            },
            now,
        )
        .await
        .unwrap();
    parley_engine::service::notes::set_tags(
        store,
        parley_store::Tagged::Contact(seed.id),
        &parley_engine::service::notes::TagsInput {
            tags: vec!["vip".into(), "billing".into(), "wholesale".into()],
        },
        now,
    )
    .await
    .unwrap();
    store
        .create_contact(
            &parley_store::ContactSpec {
                first_name: "Rosa".into(),
                last_name: "Diaz".into(),
                phone: Some(parley_core::E164::parse(customer).unwrap()),
                email: None,
            },
            now,
        )
        .await
        .unwrap();
    let shots = crate::browser::shots_dir("notes-shots", &backend);
    let password = crate::console::PASSWORD;
    crate::browser::run_scenario(
        "notes.mjs",
        &[
            format!("--url={}", d.app.base),
            format!("--agent={}:{password}", ana.email),
            format!("--other={}:{password}", bob.email),
            format!("--supervisor={}:{password}", sam.email),
            format!("--channel={}", d.channel.name),
            format!("--customer={customer}"),
            format!("--shots={}", shots.display()),
        ],
        std::time::Duration::from_secs(240),
    )
    .await;
}

parley_store::on_both_backends!(
    notes_and_whispers_reach_agents_only,
    tags_on_sessions_and_contacts,
    notes_and_tags_in_a_real_browser,
);
