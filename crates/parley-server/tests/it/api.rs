use parley_core::model::*;
use parley_core::{Clock, SystemClock};
use parley_store::testing::TestBackend;
use parley_store::*;
use parley_testkit::build;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::TestApp;

fn sms_channel(name: &str, address: &str) -> Value {
    json!({
        "name": name, "kind": "sms", "provider": "twilio", "address": address,
        "number_type": "long_code", "country": "us", "consent_level": "explicit",
        "settings": {"public_url": "https://parley.example.test/webhooks/twilio/main"},
        "secrets": {"auth_token": "super-secret"}
    })
}

async fn channels_crud(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let r = app
        .req(Method::POST, "/api/v1/channels")
        .json(&sms_channel("Main", "+1 (415) 555-2671"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let c: Value = r.json().await.unwrap();
    assert_eq!(c["address"], "+14155552671");
    assert_eq!(c["country"], "US");
    assert_eq!(c["throughput_mps"], 1, "long code default");
    assert_eq!(c["secrets_set"], json!(["auth_token"]));
    assert!(
        !c.to_string().contains("super-secret"),
        "secrets are never shown"
    );
    let id = c["id"].as_str().unwrap().to_owned();

    let got: Value = app.get_json(&format!("/api/v1/channels/{id}")).await;
    assert_eq!(got["name"], "Main");

    // Replace without secrets keeps them.
    let mut edit = sms_channel("Main", "+14155552671");
    edit.as_object_mut().unwrap().remove("secrets");
    edit["throughput_mps"] = json!(5);
    let r = app
        .req(Method::PUT, &format!("/api/v1/channels/{id}"))
        .json(&edit)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let u: Value = r.json().await.unwrap();
    assert_eq!(
        (u["throughput_mps"].as_i64(), u["secrets_set"].clone()),
        (Some(5), json!(["auth_token"]))
    );
    let stored = app.db.store.channel(id.parse().unwrap()).await.unwrap();
    assert_eq!(stored.secrets["auth_token"], "super-secret");

    let dup = app
        .req(Method::POST, "/api/v1/channels")
        .json(&sms_channel("Main", "+14155552672"))
        .send()
        .await
        .unwrap();
    assert_eq!(dup.status(), StatusCode::CONFLICT);
    assert_eq!(dup.json::<Value>().await.unwrap()["code"], "conflict");

    let r = app
        .req(Method::DELETE, &format!("/api/v1/channels/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = app
        .req(Method::GET, &format!("/api/v1/channels/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "not_found");
}

async fn queues_skills_agents(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let q: Value = app
        .req(Method::POST, "/api/v1/queues")
        .json(&json!({"name": "Support", "routing_model": "round_robin"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let s: Value = app
        .req(Method::POST, "/api/v1/skills")
        .json(&json!({"name": "French"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = app
        .req(Method::POST, "/api/v1/agents")
        .json(
            &json!({"name": "Ada", "email": "Ada@Example.test", "role": "supervisor", "capacity": 4,
                      "queue_ids": [q["id"]], "skills": [{"skill_id": s["id"], "level": 8}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let a: Value = r.json().await.unwrap();
    assert_eq!(a["email"], "ada@example.test");
    assert_eq!(a["presence"], "offline");
    assert_eq!(a["queue_ids"], json!([q["id"]]));
    assert_eq!(a["skills"][0]["level"], 8);

    let r = app
        .req(
            Method::PUT,
            &format!("/api/v1/agents/{}", a["id"].as_str().unwrap()),
        )
        .json(&json!({"name": "Ada L.", "email": "ada@example.test", "capacity": 2}))
        .send()
        .await
        .unwrap();
    let u: Value = r.json().await.unwrap();
    assert_eq!(
        (
            u["name"].as_str(),
            u["role"].as_str(),
            u["queue_ids"].clone()
        ),
        (Some("Ada L."), Some("agent"), json!([]))
    );

    let r = app
        .req(
            Method::PUT,
            &format!("/api/v1/queues/{}", q["id"].as_str().unwrap()),
        )
        .json(&json!({"name": "Help", "priority": 3}))
        .send()
        .await
        .unwrap();
    let uq: Value = r.json().await.unwrap();
    assert_eq!(
        (
            uq["name"].as_str(),
            uq["routing_model"].as_str(),
            uq["priority"].as_i64()
        ),
        (Some("Help"), Some("most_available"), Some(3))
    );

    let list: Value = app.get_json("/api/v1/agents").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let r = app
        .req(
            Method::DELETE,
            &format!("/api/v1/skills/{}", s["id"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

async fn list_endpoints_paginate_with_a_cursor(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    for i in 0..7 {
        let r = app
            .req(Method::POST, "/api/v1/contacts")
            .json(&json!({"first_name": format!("C{i}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let mut names = Vec::new();
    let mut path = "/api/v1/contacts?limit=3".to_owned();
    loop {
        let page: Value = app.get_json(&path).await;
        names.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["first_name"].as_str().unwrap().to_owned()),
        );
        match page["next"].as_str() {
            Some(n) => path = format!("/api/v1/contacts?limit=3&after={n}"),
            None => break,
        }
    }
    assert_eq!(names, (0..7).map(|i| format!("C{i}")).collect::<Vec<_>>());
}

async fn contacts_store_e164(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let r = app
        .req(Method::POST, "/api/v1/contacts")
        .json(
            &json!({"first_name": "Ann", "phone": "+44 7400 123456", "email": "ann@example.test"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let c: Value = r.json().await.unwrap();
    assert_eq!(c["phone"], "+447400123456");
    let id = c["id"].as_str().unwrap();
    let r = app
        .req(Method::PUT, &format!("/api/v1/contacts/{id}"))
        .json(&json!({"first_name": "Anne"}))
        .send()
        .await
        .unwrap();
    let u: Value = r.json().await.unwrap();
    assert_eq!(
        (u["first_name"].as_str(), u["phone"].clone()),
        (Some("Anne"), Value::Null)
    );
    // A contact's case reads with the number people use for it.
    let contact = uuid::Uuid::parse_str(id).unwrap();
    let case = app
        .db
        .store
        .create_case(contact, None, "Parcel late", SystemClock.now())
        .await
        .unwrap();
    let r = app
        .req(Method::GET, &format!("/api/v1/cases/{}", case.id))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (
            v["number"].as_i64(),
            v["subject"].as_str(),
            v["status"].as_str()
        ),
        (Some(1001), Some("Parcel late"), Some("new"))
    );
    let r = app
        .req(Method::GET, &format!("/api/v1/cases/{}", uuid::Uuid::nil()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

/// Conversation data written by the pipelines is readable through the API, with consent history
/// and error codes in words; customer text comes back exactly as sent (escaping is the UI's job).
async fn conversations_are_readable(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let s = &app.db.store;
    let now = SystemClock.now();
    let c = s
        .create_channel(&build::simulator_sms(), now)
        .await
        .unwrap();
    let origin = build::origin(ConsentSource::Inbound, "first message");
    let u = s
        .create_messaging_user(
            &NewMessagingUser {
                name: "Ann".into(),
                ..build::new_user(
                    c.id,
                    "+447400123456",
                    Some(ConsentStatus::ImplicitlyOptedIn),
                )
            },
            &origin,
            now,
        )
        .await
        .unwrap();
    s.set_consent(
        u.id,
        ConsentStatus::OptedOut,
        &build::origin(ConsentSource::Keyword, "STOP"),
        now,
    )
    .await
    .unwrap();
    let session = s
        .create_session(&build::new_session(c.id, u.id, SessionStatus::Waiting), now)
        .await
        .unwrap();
    let e = s
        .append_entry(
            &build::new_entry(
                session.id,
                Direction::Outbound,
                Actor::Agent,
                "<script>x</script>",
                EntryStatus::Queued,
            ),
            now,
        )
        .await
        .unwrap();
    s.set_entry_status(e.id, EntryStatus::Failed, Some("3004"), Some("21617"), now)
        .await
        .unwrap();

    let users: Value = app
        .get_json(&format!("/api/v1/messaging-users?channel_id={}", c.id))
        .await;
    assert_eq!(users["items"][0]["consent_status"], "OptedOut");
    let detail: Value = app
        .get_json(&format!("/api/v1/messaging-users/{}", u.id))
        .await;
    assert_eq!(detail["platform_key"], "+447400123456");
    assert_eq!(detail["consent_history"].as_array().unwrap().len(), 2);
    assert_eq!(detail["consent_history"][1]["reason"], "STOP");

    let sessions: Value = app.get_json("/api/v1/sessions?status=waiting").await;
    assert_eq!(sessions["items"][0]["id"], session.id.to_string());
    let none: Value = app.get_json("/api/v1/sessions?status=ended").await;
    assert!(none["items"].as_array().unwrap().is_empty());
    let one: Value = app
        .get_json(&format!("/api/v1/sessions/{}", session.id))
        .await;
    assert_eq!(one["agent_messages"], 1);

    let entries: Value = app
        .get_json(&format!("/api/v1/sessions/{}/entries", session.id))
        .await;
    let e0 = &entries["items"][0];
    assert_eq!(e0["body"], "<script>x</script>");
    assert_eq!(e0["error_code"], "3004");
    assert_eq!(
        e0["error_message"],
        "Can't send this message because the message body is too large."
    );
    assert_eq!(e0["provider_error"], "21617");
    let missing = app
        .req(
            Method::GET,
            &format!("/api/v1/sessions/{}/entries", uuid::Uuid::now_v7()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

async fn roles_gate_admin_actions(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let agent = TestApp::token_for(&app.db, TokenRole::Agent).await;
    let broadcaster = TestApp::token_for(&app.db, TokenRole::Broadcaster).await;
    let r = app
        .anon(Method::POST, "/api/v1/queues")
        .bearer_auth(&agent)
        .json(&json!({"name": "X"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "forbidden");
    // Agents may read configuration and conversations; broadcasters may not read conversations.
    assert_eq!(
        app.anon(Method::GET, "/api/v1/queues")
            .bearer_auth(&agent)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.anon(Method::GET, "/api/v1/sessions")
            .bearer_auth(&agent)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.anon(Method::GET, "/api/v1/sessions")
            .bearer_auth(&broadcaster)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    assert!(app.db.store.queue_by_name("X").await.unwrap().is_none());
}

async fn simulator_records_and_lists(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let mut ch = sms_channel("Sim", "+14155550100");
    ch["provider"] = json!("simulator");
    app.req(Method::POST, "/api/v1/channels")
        .json(&ch)
        .send()
        .await
        .unwrap();
    let r = app
        .anon(Method::POST, "/simulator/inbound")
        .json(&json!({"channel": "Sim", "from": "+44 7400 123456", "text": "HELP"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let msgs: Value = app
        .anon(Method::GET, "/simulator/messages?to=%2B447400123456")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(msgs[0]["body"], "HELP");
    assert_eq!(msgs[0]["direction"], "inbound");
    let r = app
        .anon(Method::POST, "/simulator/inbound")
        .json(&json!({"channel": "Nope", "from": "+447400123456", "text": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app
        .anon(Method::POST, "/simulator/inbound")
        .json(&json!({"channel": "Sim", "from": "+447700900123", "text": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

async fn simulator_is_off_unless_enabled(b: TestBackend) {
    let app = TestApp::spawn_with(b, parley_server::ServerConfig::default()).await;
    let r = app
        .anon(Method::POST, "/simulator/inbound")
        .json(&json!({"channel": "Sim", "from": "+447400123456", "text": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

parley_store::on_both_backends!(
    channels_crud,
    queues_skills_agents,
    list_endpoints_paginate_with_a_cursor,
    contacts_store_e164,
    conversations_are_readable,
    roles_gate_admin_actions,
    simulator_records_and_lists,
    simulator_is_off_unless_enabled,
);
