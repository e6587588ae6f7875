//! Issue 13, item 4: messaging users, contacts and cases as API resources, on both databases:
//! a user created with its consent and source, consent changed with a reason, contacts linked by
//! the channel's matching rules, and cases created, numbered, searched, changed, closed, reopened
//! and linked to sessions.

use parley_core::Clock as _;
use parley_core::SystemClock;
use parley_core::model::{AgentRole, SessionStatus};
use parley_store::testing::TestBackend;
use parley_store::{Channel, ChannelSpec, ContactSpec};
use parley_testkit::build;
use parley_testkit::status_and_json;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::TestApp;

async fn channel(app: &TestApp, name: &str, address: &str, linking: Value) -> Channel {
    let spec = ChannelSpec {
        name: name.into(),
        address: address.into(),
        settings: json!({ "contact_linking": linking }),
        ..build::simulator_sms()
    };
    build::channel(&app.db.store, &spec, SystemClock.now()).await
}

async fn post(app: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
    status_and_json(app.req(Method::POST, path).json(&body)).await
}

async fn contact(app: &TestApp, first: &str, phone: Option<&str>, email: Option<&str>) -> Uuid {
    let spec = ContactSpec {
        first_name: first.into(),
        last_name: String::new(),
        phone: phone.map(|p| p.parse().unwrap()),
        email: email.map(str::to_owned),
    };
    app.db
        .store
        .create_contact(&spec, SystemClock.now())
        .await
        .unwrap()
        .id
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

async fn a_user_is_created_with_consent_and_its_consent_changes_with_a_reason(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let ch = channel(&app, "Sms", "+14155550100", json!("match")).await;
    let (status, user) = post(
        &app,
        "/api/v1/messaging-users",
        json!({"channel_id": ch.id, "platform_key": " +1 415-555-0177 ", "name": "Ada",
               "locale": "en-US", "consent_status": "ExplicitlyOptedIn",
               "consent_source": "web_form", "consent_reason": "checkout sign-up"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    assert_eq!(user["platform_key"], "+14155550177");
    assert_eq!(user["consent_status"], "ExplicitlyOptedIn");
    let uid = id(&user);

    // The list beside the create, and the document names every new route with its schemas.
    let listed = app
        .get_json(&format!("/api/v1/messaging-users?channel_id={}", ch.id))
        .await;
    assert_eq!(listed["items"][0]["id"], uid, "{listed}");
    let doc = app.get_json("/api/openapi.json").await;
    for (path, methods) in [
        ("/api/v1/messaging-users", &["get", "post"][..]),
        ("/api/v1/messaging-users/{id}/consent", &["post"]),
        ("/api/v1/messaging-users/{id}/consent-history", &["get"]),
        ("/api/v1/messaging-users/{id}/contact", &["put", "delete"]),
        ("/api/v1/cases", &["get", "post"]),
        ("/api/v1/cases/{id}", &["get", "patch"]),
        ("/api/v1/cases/{id}/close", &["post"]),
        ("/api/v1/cases/{id}/reopen", &["post"]),
        (
            "/api/v1/cases/{id}/sessions/{session_id}",
            &["put", "delete"],
        ),
    ] {
        for m in methods {
            assert!(
                doc["paths"][path][m]["responses"].is_object(),
                "{m} {path} is documented"
            );
        }
    }
    assert!(doc["components"]["schemas"]["CaseView"].is_object());
    assert!(doc["components"]["schemas"]["MessagingUserInput"].is_object());

    let (status, again) = post(
        &app,
        "/api/v1/messaging-users",
        json!({"channel_id": ch.id, "platform_key": "+14155550177"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");

    let (status, ev) = post(
        &app,
        &format!("/api/v1/messaging-users/{uid}/consent"),
        json!({"status": "OptedOut", "reason": "asked by phone", "source": "agent"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{ev}");
    assert_eq!(ev["from_status"], "ExplicitlyOptedIn");

    let history = app
        .get_json(&format!("/api/v1/messaging-users/{uid}/consent-history"))
        .await;
    let h = history.as_array().unwrap();
    assert_eq!(h.len(), 2, "{history}");
    assert_eq!(h[0]["source"], "web_form");
    assert_eq!(h[0]["reason"], "checkout sign-up");
    assert_eq!(h[0]["to_status"], "ExplicitlyOptedIn");
    assert_eq!(h[1]["source"], "agent");
    assert_eq!(h[1]["reason"], "asked by phone");
    assert_eq!(h[1]["to_status"], "OptedOut");
    let detail = app
        .get_json(&format!("/api/v1/messaging-users/{uid}"))
        .await;
    assert_eq!(detail["consent_status"], "OptedOut");

    // Bad inputs: 422 naming the field.
    for (body, field) in [
        (
            json!({"channel_id": ch.id, "platform_key": "not a number"}),
            "platform_key",
        ),
        (
            json!({"channel_id": Uuid::nil(), "platform_key": "+14155550178"}),
            "channel_id",
        ),
        (
            json!({"channel_id": ch.id, "platform_key": "+14155550178", "locale": "en US!"}),
            "locale",
        ),
        (
            json!({"channel_id": ch.id, "platform_key": "+14155550178", "consent_status": "OptedOut"}),
            "consent_source",
        ),
        (
            json!({"channel_id": ch.id, "platform_key": "+14155550178", "contact_id": Uuid::nil()}),
            "contact_id",
        ),
    ] {
        let (status, err) = post(&app, "/api/v1/messaging-users", body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
        assert!(err.to_string().contains(field), "{field}: {err}");
    }
    let (status, err) = post(
        &app,
        &format!("/api/v1/messaging-users/{uid}/consent"),
        json!({"status": "OptedOut", "reason": "  "}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert!(err.to_string().contains("reason"), "{err}");
    let (status, _) = post(
        &app,
        &format!("/api/v1/messaging-users/{}/consent", Uuid::nil()),
        json!({"status": "OptedOut", "reason": "x"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = post(
        &app,
        &format!("/api/v1/messaging-users/{uid}/consent"),
        json!({"status": "Maybe", "reason": "x"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn contacts_link_by_the_channels_matching_rules(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let matching = channel(&app, "Match", "+14155550100", json!("match")).await;
    let creating = channel(
        &app,
        "Create",
        "+14155550101",
        json!({"by_phone": false, "by_email": true, "create_when_missing": true}),
    )
    .await;
    let by_phone = contact(&app, "Phoebe", Some("+14155550111"), None).await;
    let by_email = contact(&app, "Emma", None, Some("emma@example.com")).await;

    let user = |ch: Uuid, key: &'static str| {
        let app = &app;
        async move {
            let (s, u) = post(
                app,
                "/api/v1/messaging-users",
                json!({"channel_id": ch, "platform_key": key}),
            )
            .await;
            assert_eq!(s, StatusCode::CREATED, "{u}");
            id(&u)
        }
    };
    let link = |uid: String, body: Value| {
        let app = &app;
        async move {
            status_and_json(
                app.req(
                    Method::PUT,
                    &format!("/api/v1/messaging-users/{uid}/contact"),
                )
                .json(&body),
            )
            .await
        }
    };

    // By phone: the user's number finds Phoebe.
    let u1 = user(matching.id, "+14155550111").await;
    let (s, v) = link(u1.clone(), json!({"match": {}})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["linked_by"], "phone");
    assert_eq!(v["contact"]["id"], by_phone.to_string());
    assert_eq!(v["messaging_user"]["contact_id"], by_phone.to_string());

    // By e-mail, any case; the channel matches by e-mail too.
    let u2 = user(matching.id, "+14155550122").await;
    let (s, v) = link(u2.clone(), json!({"match": {"email": "EMMA@example.com"}})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["linked_by"], "email");
    assert_eq!(v["contact"]["id"], by_email.to_string());

    // Nothing matches and this channel does not create: left unlinked.
    let u3 = user(matching.id, "+14155550133").await;
    let (s, v) = link(
        u3.clone(),
        json!({"match": {"email": "nobody@example.com"}}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["contact"].is_null(), "{v}");
    assert!(v["messaging_user"]["contact_id"].is_null(), "{v}");
    // The call may ask for creation itself.
    let (s, v) = link(
        u3.clone(),
        json!({"match": {"create_when_missing": true, "first_name": "Nora", "last_name": "Body"}}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["linked_by"], "created");
    assert_eq!(v["contact"]["first_name"], "Nora");
    assert_eq!(v["contact"]["phone"], "+14155550133");

    // The creating channel does not match by phone (its setting), so Phoebe's number creates.
    let u4 = user(creating.id, "+14155550111").await;
    let (s, v) = link(u4.clone(), json!({"match": {"first_name": "New"}})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["linked_by"], "created");
    assert_ne!(v["contact"]["id"], by_phone.to_string());
    // ... but it matches by e-mail.
    let u5 = user(creating.id, "+14155550155").await;
    let (s, v) = link(u5.clone(), json!({"match": {"email": "emma@example.com"}})).await;
    assert_eq!(v["linked_by"], "email", "{s} {v}");

    // By id, then unlink: the contact stays.
    let (s, v) = link(u5.clone(), json!({"contact_id": by_phone})).await;
    assert_eq!(
        (s, v["linked_by"].clone()),
        (StatusCode::OK, json!("id")),
        "{v}"
    );
    let (s, v) = status_and_json(app.req(
        Method::DELETE,
        &format!("/api/v1/messaging-users/{u5}/contact"),
    ))
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["contact_id"].is_null(), "{v}");
    assert_eq!(
        app.get_json(&format!("/api/v1/contacts/{by_phone}")).await["id"],
        by_phone.to_string()
    );

    // Bad inputs.
    for body in [
        json!({}),
        json!({"contact_id": by_phone, "match": {}}),
        json!({"contact_id": Uuid::nil()}),
        json!({"match": {"by_email": true}}),
        json!({"match": {"email": "not-an-email"}}),
        json!({"match": {"by_fax": true}}),
    ] {
        let (s, v) = link(u1.clone(), body.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
    }
    let (s, _) = link(Uuid::nil().to_string(), json!({"contact_id": by_phone})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

async fn cases_are_numbered_searched_changed_closed_and_reopened(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let store = &app.db.store;
    let now = SystemClock.now();
    let ch = channel(&app, "Sms", "+14155550100", json!("match")).await;
    let ada = contact(&app, "Ada", Some("+14155550177"), None).await;
    let bob = contact(&app, "Bob", None, None).await;
    let agent = store
        .create_agent(
            &build::agent_spec("Grace", AgentRole::Agent, 2, vec![]),
            now,
        )
        .await
        .unwrap();

    // 20 concurrent creates: 20 different numbers.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let req = app
            .req(Method::POST, "/api/v1/cases")
            .json(&json!({"subject": format!("Bulk {i}"), "contact_id": bob}));
        tasks.push(tokio::spawn(async move { status_and_json(req).await }));
    }
    let mut numbers = Vec::new();
    for t in tasks {
        let (s, v) = t.await.unwrap();
        assert_eq!(s, StatusCode::CREATED, "{v}");
        numbers.push(v["number"].as_i64().unwrap());
    }
    numbers.sort_unstable();
    numbers.dedup();
    assert_eq!(numbers.len(), 20, "{numbers:?}");

    // A case with an owner and a session.
    let user = build::user(
        store,
        &build::new_user(ch.id, "+14155550177", None),
        &build::origin(parley_core::model::ConsentSource::Import, "test"),
        now,
    )
    .await;
    let s1 = build::session(
        store,
        &build::new_session(ch.id, user.id, SessionStatus::Active),
        now,
    )
    .await;
    let (s, parcel) = post(
        &app,
        "/api/v1/cases",
        json!({"subject": "Parcel LATE to Lisbon", "contact_id": ada, "owner_agent_id": agent.id,
               "session_ids": [s1.id]}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{parcel}");
    assert_eq!(parcel["status"], "new");
    assert_eq!(parcel["owner"]["name"], "Grace");
    assert_eq!(parcel["contact"]["name"], "Ada");
    assert_eq!(parcel["channel_id"], ch.id.to_string());
    assert_eq!(parcel["sessions"][0]["id"], s1.id.to_string());
    let pid = id(&parcel);
    let number = parcel["number"].as_i64().unwrap();
    assert!(number > numbers[19], "{number}");

    // Search by number (as typed), by subject text (any case), with filters.
    let search = |q: String| {
        let app = &app;
        async move { app.get_json(&format!("/api/v1/cases?{q}")).await["items"].clone() }
    };
    let found = search(format!("q=%23{number}")).await;
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found[0]["id"], pid);
    let found = search("q=parcel%20late".into()).await;
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found[0]["id"], pid);
    assert_eq!(search("q=bulk".into()).await.as_array().unwrap().len(), 20);
    assert_eq!(search("q=100%25".into()).await.as_array().unwrap().len(), 0);
    assert_eq!(
        search(format!("contact_id={ada}"))
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        search(format!("owner_agent_id={}", agent.id))
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        search("status=new&q=bulk".into())
            .await
            .as_array()
            .unwrap()
            .len(),
        20
    );
    assert_eq!(
        search("status=closed".into())
            .await
            .as_array()
            .unwrap()
            .len(),
        0
    );
    // Keyset paging, newest first, covers every case once.
    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        let page = app
            .get_json(&format!("/api/v1/cases?q=bulk&limit=7{after}"))
            .await;
        for c in page["items"].as_array().unwrap() {
            seen.push(c["id"].as_str().unwrap().to_owned());
        }
        match page["next"].as_str() {
            Some(n) => after = format!("&after={n}"),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (20, 20));

    // Update, close, reopen.
    let patch = |body: Value| {
        let app = &app;
        let pid = pid.clone();
        async move {
            status_and_json(
                app.req(Method::PATCH, &format!("/api/v1/cases/{pid}"))
                    .json(&body),
            )
            .await
        }
    };
    let (s, v) =
        patch(json!({"subject": "Parcel late", "status": "working", "owner_agent_id": null})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["subject"].clone(), v["status"].clone()),
        (json!("Parcel late"), json!("working"))
    );
    assert!(v["owner"].is_null(), "{v}");
    let (s, v) = post(&app, &format!("/api/v1/cases/{pid}/close"), json!({})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "closed");
    assert!(v["closed_at"].is_string(), "{v}");
    assert_eq!(
        search("status=closed".into())
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let (s, v) = patch(json!({"status": "working"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, v) = patch(json!({"subject": "Renamed"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v.to_string().contains("subject: the case is closed"), "{v}");
    let (s, v) = post(&app, &format!("/api/v1/cases/{pid}/reopen"), json!({})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "working");
    assert!(v["closed_at"].is_null(), "{v}");
    let (s, _) = post(&app, &format!("/api/v1/cases/{pid}/reopen"), json!({})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    // The status select's way to close: PATCH to closed stamps closed_at too.
    let (s, v) = patch(json!({"status": "closed"})).await;
    assert_eq!(
        (s, v["closed_at"].is_string()),
        (StatusCode::OK, true),
        "{v}"
    );
    post(&app, &format!("/api/v1/cases/{pid}/reopen"), json!({})).await;

    // Link and unlink sessions; a session moves from one case to another.
    let s2 = build::session(
        store,
        &build::new_session(ch.id, user.id, SessionStatus::Ended),
        now,
    )
    .await;
    let (s, v) = status_and_json(app.req(
        Method::PUT,
        &format!("/api/v1/cases/{pid}/sessions/{}", s2.id),
    ))
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["sessions"].as_array().unwrap().len(), 2, "{v}");
    let (s, v) = status_and_json(app.req(
        Method::DELETE,
        &format!("/api/v1/cases/{pid}/sessions/{}", s1.id),
    ))
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let (s, _) = status_and_json(app.req(
        Method::DELETE,
        &format!("/api/v1/cases/{pid}/sessions/{}", s1.id),
    ))
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let got = app.get_json(&format!("/api/v1/cases/{pid}")).await;
    assert_eq!(got["sessions"].as_array().unwrap().len(), 1, "{got}");
    assert_eq!(got["sessions"][0]["id"], s2.id.to_string());
    // A case created from a session takes the contact of the session's customer.
    store.link_contact(user.id, ada, now).await.unwrap();
    let (s, v) = post(
        &app,
        "/api/v1/cases",
        json!({"subject": "From the console", "session_ids": [s1.id]}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["contact_id"], ada.to_string());

    // 404s and 422s.
    let nil = Uuid::nil();
    for (m, path) in [
        (Method::GET, format!("/api/v1/cases/{nil}")),
        (Method::PATCH, format!("/api/v1/cases/{nil}")),
        (Method::POST, format!("/api/v1/cases/{nil}/close")),
        (Method::POST, format!("/api/v1/cases/{nil}/reopen")),
        (
            Method::PUT,
            format!("/api/v1/cases/{nil}/sessions/{}", s1.id),
        ),
        (Method::PUT, format!("/api/v1/cases/{pid}/sessions/{nil}")),
    ] {
        let (s, v) = status_and_json(app.req(m.clone(), &path).json(&json!({}))).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{m} {path}: {v}");
    }
    for (body, field) in [
        (json!({"subject": " ", "contact_id": ada}), "subject"),
        (
            json!({"subject": "x".repeat(201), "contact_id": ada}),
            "subject",
        ),
        (json!({"subject": "No contact"}), "contact_id"),
        (json!({"subject": "x", "contact_id": nil}), "contact_id"),
        (
            json!({"subject": "x", "contact_id": ada, "owner_agent_id": nil}),
            "owner_agent_id",
        ),
        (
            json!({"subject": "x", "contact_id": ada, "session_ids": [nil]}),
            "session_ids",
        ),
    ] {
        let (s, v) = post(&app, "/api/v1/cases", body).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert!(v.to_string().contains(field), "{field}: {v}");
    }
    let (s, _) = patch(json!({"status": "done"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, v) = status_and_json(app.req(Method::GET, "/api/v1/cases?status=done")).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");

    // An agent's token may work cases too.
    let token = TestApp::token_for(&app.db, parley_core::model::TokenRole::Agent).await;
    let r = app
        .client
        .post(format!("{}/api/v1/cases/{pid}/close", app.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

async fn inbound_messages_link_by_the_same_rules(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let phoebe = contact(&app, "Phoebe", Some("+14155550111"), None).await;
    let mut channels = Vec::new();
    for (name, address, linking) in [
        ("Phone", "+14155550100", json!({"by_phone": true})),
        (
            "Create",
            "+14155550101",
            json!({"by_phone": false, "create_when_missing": true}),
        ),
        ("Off", "+14155550102", json!("off")),
    ] {
        let (s, ch) = post(
            &app,
            "/api/v1/channels",
            json!({"name": name, "kind": "sms", "provider": "simulator", "address": address,
                   "number_type": "toll_free", "settings": {"contact_linking": linking}}),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{ch}");
        let r = app
            .anon(Method::POST, "/simulator/inbound")
            .json(&json!({"channel": name, "from": "+14155550111", "text": "hello"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        channels.push(id(&ch).parse::<Uuid>().unwrap());
    }
    let by_phone = app.wait_for_user(channels[0], "+14155550111").await;
    assert_eq!(by_phone.contact_id, Some(phoebe));
    let created = app.wait_for_user(channels[1], "+14155550111").await;
    let made = created.contact_id.expect("a contact was created");
    assert_ne!(made, phoebe);
    let made = app.db.store.contact(made).await.unwrap();
    assert_eq!(made.phone.as_deref(), Some("+14155550111"));
    let off = app.wait_for_user(channels[2], "+14155550111").await;
    assert_eq!(off.contact_id, None);
    // A setting that is neither a preset nor the rules is refused when the channel is written.
    let (s, v) = post(
        &app,
        "/api/v1/channels",
        json!({"name": "Bad", "kind": "sms", "provider": "simulator", "address": "+14155550103",
               "number_type": "toll_free", "settings": {"contact_linking": {"by_fax": true}}}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
}

parley_store::on_both_backends!(
    a_user_is_created_with_consent_and_its_consent_changes_with_a_reason,
    contacts_link_by_the_channels_matching_rules,
    cases_are_numbered_searched_changed_closed_and_reopened,
    inbound_messages_link_by_the_same_rules,
);
