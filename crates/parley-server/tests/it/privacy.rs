//! Access, restriction and erasure requests (issue 16, PRIV-02, PRIV-04..06, PRIV-09, SE-11), end
//! to end through the real server on both databases: an erasure by phone across two channels
//! leaves none of the person in the database (file bytes on SQLite, every text column on both)
//! nor in the media folder, and keeps the opt-out proof that stops any later send; the export
//! holds what is held; a restriction stops sends and flows but keeps inbound; only Ended or
//! Error sessions are deleted alone; an interrupted erasure resumes.

use parley_core::E164;
use parley_core::audit::AuditActor;
use parley_core::model::*;
use parley_core::privacy::erasure::Subject;
use parley_engine::service::privacy;
use parley_store::testing::TestBackend;
use parley_store::{Channel, ChannelSpec, ContactSpec, FlowRun, FlowRunWrite, MessagingUser};
use parley_testkit::build;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{TestApp, eventually};

const NUMBER: &str = "+14155550177";
const NUMBER_Q: &str = "%2B14155550177";
const SECRET_TEXT: &str = "ZEBRAQUOKKA42";
const SURNAME: &str = "Quillfeather";
const MEDIA_MARK: &str = "MEDIAMARK-ZEBRA-77";

async fn app(b: TestBackend) -> TestApp {
    TestApp::spawn(b).await
}

async fn channel(app: &TestApp, name: &str, address: &str) -> Channel {
    let spec = ChannelSpec {
        name: name.into(),
        address: address.into(),
        ..build::simulator_sms()
    };
    build::channel(&app.db.store, &spec, app.engine.clock.now()).await
}

async fn says(app: &TestApp, channel: &str, from: &str, text: &str) {
    let r = app
        .anon(Method::POST, "/simulator/inbound")
        .json(&json!({"channel": channel, "from": from, "text": text}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
}

/// Waits until the user's sessions hold `n` inbound entries.
async fn inbound_count(app: &TestApp, user: Uuid, n: usize) {
    let store = app.db.store.clone();
    eventually(&app.events, "the customer's messages stored", || {
        let store = store.clone();
        async move {
            let mut count = 0;
            for s in store.sessions_of_user(user).await.unwrap() {
                count += store
                    .entries_of_session(s.id)
                    .await
                    .unwrap()
                    .iter()
                    .filter(|e| e.direction == Direction::Inbound)
                    .count();
            }
            (count >= n).then_some(())
        }
    })
    .await;
}

/// Everything the person gave us: two channels, a contact with a case, a file, a flow run.
struct Person {
    a: Channel,
    b: Channel,
    user_a: MessagingUser,
    user_b: MessagingUser,
    contact: Uuid,
    media_bytes: Vec<u8>,
}

async fn a_person(app: &TestApp) -> Person {
    let a = channel(app, "SimA", "+14155550100").await;
    let b = channel(app, "SimB", "+14155550101").await;
    let store = &app.db.store;
    says(
        app,
        "SimA",
        NUMBER,
        &format!("Hello, my code word is {SECRET_TEXT}"),
    )
    .await;
    says(app, "SimB", NUMBER, &format!("Other channel {SECRET_TEXT}")).await;
    let user_a = app.wait_for_user(a.id, NUMBER).await;
    let user_b = app.wait_for_user(b.id, NUMBER).await;
    inbound_count(app, user_a.id, 1).await;
    inbound_count(app, user_b.id, 1).await;
    let now = app.engine.clock.now();
    let contact = store
        .create_contact(
            &ContactSpec {
                first_name: "Xanthe".into(),
                last_name: SURNAME.into(),
                phone: Some(E164::parse(NUMBER).unwrap()),
                email: Some("xanthe@example.org".into()),
            },
            now,
        )
        .await
        .unwrap();
    for u in [&user_a, &user_b] {
        store.link_contact(u.id, contact.id, now).await.unwrap();
    }
    store
        .create_case(
            contact.id,
            Some(a.id),
            &format!("Refund for {SURNAME}"),
            now,
        )
        .await
        .unwrap();
    // A file the customer sent, on disk under its digest.
    let session = store.sessions_of_user(user_a.id).await.unwrap()[0].clone();
    let entry = store.entries_of_session(session.id).await.unwrap()[0].clone();
    let media_bytes = format!("{MEDIA_MARK} scan of {SECRET_TEXT}").into_bytes();
    app.engine
        .media
        .save(Some(entry.id), "text/plain", media_bytes.clone())
        .await
        .unwrap();
    // A flow run that kept what they answered.
    store
        .write_flow_runs(&[FlowRunWrite {
            run: FlowRun {
                id: parley_core::new_id(),
                session_id: session.id,
                flow_id: parley_core::new_id(),
                version: 1,
                trigger: "test".into(),
                status: "ended".into(),
                step: "ask".into(),
                state: json!({"fields": {"answer": SECRET_TEXT}}).to_string(),
                last_event: "start".into(),
                seq: 1,
                started_at: now,
                updated_at: now,
                ended_at: Some(now),
            },
            expect_seq: None,
        }])
        .await
        .unwrap();
    let user_a = store.messaging_user(user_a.id).await.unwrap();
    let user_b = store.messaging_user(user_b.id).await.unwrap();
    Person {
        a,
        b,
        user_a,
        user_b,
        contact: contact.id,
        media_bytes,
    }
}

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn holds(bytes: &[u8], needle: &str) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

pub(crate) async fn erasure_done(app: &TestApp, id: &str) -> Value {
    let id: Uuid = id.parse().unwrap();
    let store = app.db.store.clone();
    eventually(&app.events, "the erasure finished", || {
        let store = store.clone();
        async move {
            let r = store.erasure_request(id).await.unwrap();
            (r.status != parley_core::privacy::erasure::ErasureStatus::Running).then_some(())
        }
    })
    .await;
    let (s, body) = parley_testkit::status_and_json(
        app.req(Method::GET, &format!("/api/v1/privacy/erasures/{id}")),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    body
}

async fn an_erasure_by_phone_leaves_nothing_and_keeps_the_opt_out(b: TestBackend) {
    let app = app(b).await;
    let p = a_person(&app).await;
    let store = app.db.store.clone();
    // STOP on channel A: the proof must survive the erasure.
    says(&app, "SimA", NUMBER, "STOP").await;
    let ua = p.user_a.id;
    eventually(&app.events, "opted out", || {
        let store = store.clone();
        async move {
            (store.messaging_user(ua).await.unwrap().consent_status
                == Some(ConsentStatus::OptedOut))
            .then_some(())
        }
    })
    .await;

    // Without confirm: refused, naming it.
    let (s, body) = parley_testkit::status_and_json(
        app.req(Method::POST, "/api/v1/privacy/erasures")
            .json(&json!({"phone": NUMBER})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("confirm"),
        "{body}"
    );
    let (s, body) = parley_testkit::status_and_json(
        app.req(Method::POST, "/api/v1/privacy/erasures")
            .json(&json!({"phone": "not a number", "confirm": true})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // The lookup first: what is held.
    let (s, held) = parley_testkit::status_and_json(app.req(
        Method::GET,
        &format!("/api/v1/privacy/subject?phone={NUMBER_Q}"),
    ))
    .await;
    assert_eq!(s, StatusCode::OK, "{held}");
    assert_eq!(
        held["messaging_users"].as_array().unwrap().len(),
        2,
        "{held}"
    );
    assert_eq!(held["contacts"][0]["last_name"], SURNAME);
    assert_eq!(held["contacts"][0]["cases"], 1);

    let (s, started) = parley_testkit::status_and_json(
        app.req(Method::POST, "/api/v1/privacy/erasures")
            .json(&json!({"phone": NUMBER, "confirm": true})),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{started}");
    let done = erasure_done(&app, started["id"].as_str().unwrap()).await;
    assert_eq!(done["status"], "done", "{done}");
    let r = &done["report"];
    assert_eq!(r["messaging_users"], 2, "{done}");
    assert_eq!(r["contacts_blanked"], 1, "{done}");
    assert_eq!(r["cases_scrubbed"], 1, "{done}");
    assert_eq!(r["media_files"], 1, "{done}");
    assert_eq!(r["flow_runs"], 1, "{done}");
    assert_eq!(r["opt_out_proofs"], 1, "{done}");
    assert!(r["sessions"].as_u64().unwrap() >= 2, "{done}");
    assert!(r["entries"].as_u64().unwrap() >= 3, "{done}");

    // Nothing of the person in any column of any table...
    for needle in [
        NUMBER,
        "4155550177",
        SURNAME,
        SECRET_TEXT,
        "xanthe@example.org",
    ] {
        let found = store.columns_containing(needle).await;
        assert!(found.is_empty(), "{needle} still in {found:?}");
    }
    // ... nor in the SQLite file or its log ...
    if b == TestBackend::Sqlite {
        let path = app.db.url.trim_start_matches("sqlite://").to_owned();
        for file in [path.clone(), format!("{path}-wal")] {
            let Ok(bytes) = std::fs::read(&file) else {
                continue;
            };
            for needle in [NUMBER, SURNAME, SECRET_TEXT] {
                assert!(
                    !holds(&bytes, needle),
                    "{needle} still in the bytes of {file}"
                );
            }
        }
    }
    // ... nor in the media folder.
    for f in files_under(app.engine.media.dir()) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(!holds(&bytes, MEDIA_MARK), "{} holds the file", f.display());
    }
    assert!(
        !files_under(app.engine.media.dir())
            .iter()
            .any(|f| std::fs::read(f).unwrap() == p.media_bytes)
    );
    // The case stays for the business, blank; the contact is an empty shell it points at.
    let case = &store.cases_of_contact(p.contact).await.unwrap()[0];
    assert_eq!(case.subject, "");
    let shell = store.contact(p.contact).await.unwrap();
    assert_eq!((shell.phone, shell.email), (None, None));
    assert!(store.messaging_user(p.user_b.id).await.is_err());

    // Never messaged again after STOP: a new user for the number starts opted out, and an
    // API send to it is refused; nothing reaches the simulator's phone.
    let (_, _) = (&p.a, &p.b);
    let now = app.engine.clock.now();
    let again = store
        .create_messaging_user(
            &build::new_user(p.a.id, NUMBER, Some(ConsentStatus::ImplicitlyOptedIn)),
            &build::origin(ConsentSource::Api, "re-added"),
            now,
        )
        .await
        .unwrap();
    assert_eq!(again.consent_status, Some(ConsentStatus::OptedOut));
    let history = store.consent_history(again.id).await.unwrap();
    assert!(
        history
            .iter()
            .any(|e| e.source == ConsentSource::ErasureProof),
        "{history:?}"
    );
    let account = parley_engine::service::twilio::create_twilio_account(&store, "Shop", now)
        .await
        .unwrap();
    let (s, sent) = parley_testkit::status_and_json(
        app.anon(
            Method::POST,
            &format!("/2010-04-01/Accounts/{}/Messages.json", account.sid),
        )
        .basic_auth(&account.sid, Some(&account.auth_token))
        .form(&[
            ("To", NUMBER),
            ("From", "+14155550101"),
            ("Body", "We miss you"),
        ]),
    )
    .await;
    // Channel B's user was erased too: the send creates one, which starts opted out.
    assert!(
        s.is_client_error() || s == StatusCode::CREATED,
        "{s} {sent}"
    );
    let (_, outs) = parley_testkit::status_and_json(
        app.anon(Method::GET, &format!("/simulator/messages?to={NUMBER_Q}")),
    )
    .await;
    assert!(
        !outs
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["body"] == "We miss you"),
        "{outs}"
    );
    if s == StatusCode::CREATED {
        let entry_id: Uuid = sent["sid"].as_str().unwrap()[2..].parse().unwrap();
        let failed = eventually(&app.events, "the send refused", || {
            let store = store.clone();
            async move {
                let e = store.entry(entry_id).await.unwrap();
                (e.status == EntryStatus::Failed).then_some(e)
            }
        })
        .await;
        assert_eq!(failed.error_code.as_deref(), Some("2002"));
    }
}

async fn the_export_holds_what_is_held(b: TestBackend) {
    let app = app(b).await;
    let p = a_person(&app).await;
    let r = app
        .req(
            Method::GET,
            &format!("/api/v1/privacy/export?phone={NUMBER_Q}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()[reqwest::header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["format"], "parley.privacy-export.v1");
    assert_eq!(doc["subject"]["kind"], "phone");
    assert_eq!(doc["subject"]["value"], NUMBER);
    let contact = &doc["contacts"][0];
    assert_eq!(contact["id"], p.contact.to_string());
    assert_eq!(contact["first_name"], "Xanthe");
    assert_eq!(contact["last_name"], SURNAME);
    assert_eq!(contact["phone"], NUMBER);
    assert_eq!(contact["email"], "xanthe@example.org");
    assert_eq!(
        contact["cases"][0]["subject"],
        format!("Refund for {SURNAME}")
    );
    let users = doc["messaging_users"].as_array().unwrap();
    assert_eq!(users.len(), 2);
    let ua = users
        .iter()
        .find(|u| u["id"] == p.user_a.id.to_string())
        .unwrap();
    assert_eq!(ua["platform_key"], NUMBER);
    assert_eq!(ua["channel"]["name"], "SimA");
    assert_eq!(ua["consent_status"], "ImplicitlyOptedIn");
    assert!(!ua["consent_history"].as_array().unwrap().is_empty());
    let session = &ua["sessions"][0];
    let first = &session["entries"][0];
    assert_eq!(first["direction"], "inbound");
    assert_eq!(
        first["body"],
        format!("Hello, my code word is {SECRET_TEXT}")
    );
    let file = &first["files"][0];
    assert_eq!(file["content_type"], "text/plain");
    use base64::Engine as _;
    let data = base64::engine::general_purpose::STANDARD
        .decode(file["data_base64"].as_str().unwrap())
        .unwrap();
    assert_eq!(data, p.media_bytes);
    assert_eq!(
        session["flow_runs"][0]["state"],
        json!({"fields": {"answer": SECRET_TEXT}}).to_string()
    );
    let ub = users
        .iter()
        .find(|u| u["id"] == p.user_b.id.to_string())
        .unwrap();
    assert_eq!(ub["channel"]["name"], "SimB");
    // By contact and by e-mail: the same person.
    for q in [
        format!("contact_id={}", p.contact),
        "email=XANTHE%40example.org".to_owned(),
    ] {
        let (s, d) = parley_testkit::status_and_json(
            app.req(Method::GET, &format!("/api/v1/privacy/export?{q}")),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{d}");
        assert_eq!(d["messaging_users"].as_array().unwrap().len(), 2, "{q}");
    }
    // No subject, two subjects, an unknown record: clear errors.
    for (q, want) in [
        ("", StatusCode::UNPROCESSABLE_ENTITY),
        (
            "phone=%2B14155550177&email=a%40b.c",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "messaging_user_id=0190a0a0-0000-7000-8000-000000000000",
            StatusCode::NOT_FOUND,
        ),
    ] {
        let (s, body) = parley_testkit::status_and_json(
            app.req(Method::GET, &format!("/api/v1/privacy/export?{q}")),
        )
        .await;
        assert_eq!(s, want, "{q}: {body}");
    }
}

async fn a_restriction_stops_sends_and_flows_and_keeps_inbound(b: TestBackend) {
    let app = app(b).await;
    let p = a_person(&app).await;
    let store = app.db.store.clone();
    let (s, body) = parley_testkit::status_and_json(
        app.req(Method::POST, "/api/v1/privacy/restriction")
            .json(&json!({"phone": NUMBER, "restricted": true})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["changed"], 2);
    let (_, held) = parley_testkit::status_and_json(app.req(
        Method::GET,
        &format!("/api/v1/privacy/subject?phone={NUMBER_Q}"),
    ))
    .await;
    assert!(
        held["messaging_users"][0]["restricted_at"].is_i64(),
        "{held}"
    );

    // An API send to the number: refused at send time with the reason.
    let now = app.engine.clock.now();
    let account = parley_engine::service::twilio::create_twilio_account(&store, "Shop", now)
        .await
        .unwrap();
    let send = |body: &'static str| {
        app.anon(
            Method::POST,
            &format!("/2010-04-01/Accounts/{}/Messages.json", account.sid),
        )
        .basic_auth(&account.sid, Some(&account.auth_token))
        .form(&[("To", NUMBER), ("From", "+14155550100"), ("Body", body)])
    };
    let (s, sent) = parley_testkit::status_and_json(send("Restricted hello")).await;
    assert_eq!(s, StatusCode::CREATED, "{sent}");
    let entry_id: Uuid = sent["sid"].as_str().unwrap()[2..].parse().unwrap();
    let failed = eventually(&app.events, "the send refused", || {
        let store = store.clone();
        async move {
            let e = store.entry(entry_id).await.unwrap();
            (e.status == EntryStatus::Failed).then_some(e)
        }
    })
    .await;
    assert_eq!(failed.error_code.as_deref(), Some("2002"));
    assert!(
        failed
            .provider_error
            .as_deref()
            .unwrap_or_default()
            .contains("restricted")
            || store
                .entry(entry_id)
                .await
                .unwrap()
                .provider_error
                .is_some(),
        "{failed:?}"
    );
    // Inbound is still stored; no automatic reply goes out for it.
    says(&app, "SimA", NUMBER, "Still there?").await;
    inbound_count(&app, p.user_a.id, 2).await;
    let (_, outs) = parley_testkit::status_and_json(
        app.anon(Method::GET, &format!("/simulator/messages?to={NUMBER_Q}")),
    )
    .await;
    assert!(
        !outs
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["direction"] == "outbound" && m["body"] == "Restricted hello"),
        "{outs}"
    );
    // Lifted: the next send goes.
    let (s, body) = parley_testkit::status_and_json(
        app.req(Method::POST, "/api/v1/privacy/restriction")
            .json(&json!({"messaging_user_id": p.user_a.id, "restricted": false})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["changed"], 1);
    let (s, sent) = parley_testkit::status_and_json(send("Unrestricted hello")).await;
    assert_eq!(s, StatusCode::CREATED, "{sent}");
    let entry_id: Uuid = sent["sid"].as_str().unwrap()[2..].parse().unwrap();
    eventually(&app.events, "the send made", || {
        let store = store.clone();
        async move {
            let e = store.entry(entry_id).await.unwrap();
            matches!(e.status, EntryStatus::Sent | EntryStatus::Delivered).then_some(())
        }
    })
    .await;
    let _ = &p.b;
}

async fn only_final_sessions_are_deleted_alone(b: TestBackend) {
    let app = app(b).await;
    let p = a_person(&app).await;
    let store = app.db.store.clone();
    let session = store.sessions_of_user(p.user_a.id).await.unwrap()[0].clone();
    let path = format!("/api/v1/sessions/{}", session.id);
    if session.status.is_open() {
        let (s, body) = parley_testkit::status_and_json(app.req(Method::DELETE, &path)).await;
        assert_eq!(s, StatusCode::CONFLICT, "{body}");
        assert!(
            body["message"].as_str().unwrap().contains("Ended"),
            "{body}"
        );
        store
            .set_session_status(
                session.id,
                SessionStatus::Ended,
                None,
                app.engine.clock.now(),
            )
            .await
            .unwrap();
    }
    let (s, body) = parley_testkit::status_and_json(app.req(Method::DELETE, &path)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert!(body["entries"].as_u64().unwrap() >= 1, "{body}");
    assert_eq!(body["media_files"], 1, "{body}");
    assert!(store.session(session.id).await.is_err());
    assert!(
        store
            .entries_of_session(session.id)
            .await
            .unwrap()
            .is_empty()
    );
    let (s, _) = parley_testkit::status_and_json(app.req(Method::DELETE, &path)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // The messaging user and its other data stay.
    assert!(store.messaging_user(p.user_a.id).await.is_ok());
}

async fn an_interrupted_erasure_resumes(b: TestBackend) {
    let app = app(b).await;
    let p = a_person(&app).await;
    let store = app.db.store.clone();
    let subject = Subject::Contact(p.contact);
    // The request as the job would find it, due far ahead so no worker takes it meanwhile.
    let now = app.engine.clock.now();
    let id = store.new_erasure_id();
    let mut job = parley_engine::jobs::erasure_job(id, now);
    job.due_at = now.plus(std::time::Duration::from_secs(3600));
    store
        .create_erasure_request(&subject, "test", &job, now)
        .await
        .unwrap();
    // The first run got as far as one messaging user, then the process died.
    let first = store
        .erase_messaging_user(Some(id), p.user_a.id, now)
        .await
        .unwrap();
    assert_eq!(first.messaging_users, 1);
    let partial = store.erasure_request(id).await.unwrap();
    assert_eq!(partial.report.messaging_users, 1);
    // The rerun finishes the rest; a third run changes nothing.
    let done = privacy::carry_out(&app.engine.privacy(), id).await.unwrap();
    assert_eq!(done.report.messaging_users, 2);
    assert_eq!(done.report.cases_scrubbed, 1);
    assert!(
        done.subject.is_none(),
        "a finished request forgets its subject"
    );
    let again = privacy::carry_out(&app.engine.privacy(), id).await.unwrap();
    assert_eq!(again.report, done.report);
    assert!(store.messaging_user(p.user_b.id).await.is_err());
    // The lookup says nothing is left.
    let summary = privacy::lookup(
        &store,
        &Subject::Phone(E164::parse(NUMBER).unwrap()),
        AuditActor::Cli,
    )
    .await
    .unwrap();
    assert!(summary.messaging_users.is_empty());
    assert!(summary.contacts.is_empty());
}

/// The Requests tab in a real browser (`tests/browser/privacy-requests.mjs`): find by phone,
/// restrict and lift, erase through the confirmation step, read the report. Screenshots go to
/// `PARLEY_SHOTS` when set.
async fn the_erase_flow_in_a_real_browser(b: TestBackend) {
    let d = crate::console::Desk::new(b).await;
    let admin = d.agent("Ada", 3, AgentRole::Admin).await;
    d.customer_says(NUMBER, &format!("Hi, {SECRET_TEXT}")).await;
    let user = d.app.wait_for_user(d.channel.id, NUMBER).await;
    inbound_count(&d.app, user.id, 1).await;
    d.app
        .db
        .store
        .update_user_profile(user.id, Some("<b>Zed</b>"), None, d.app.engine.clock.now())
        .await
        .unwrap();
    let shots = crate::browser::shots_dir("privacy-shots", &format!("{b:?}").to_lowercase());
    crate::browser::run_scenario(
        "privacy-requests.mjs",
        &[
            format!("--url={}", d.app.base),
            format!("--user={}:{}", admin.email, crate::console::PASSWORD),
            format!("--phone={NUMBER}"),
            format!("--shots={}", shots.display()),
        ],
        std::time::Duration::from_secs(180),
    )
    .await;
    assert!(d.app.db.store.messaging_user(user.id).await.is_err());
}

parley_store::on_both_backends!(
    the_erase_flow_in_a_real_browser,
    an_erasure_by_phone_leaves_nothing_and_keeps_the_opt_out,
    the_export_holds_what_is_held,
    a_restriction_stops_sends_and_flows_and_keeps_inbound,
    only_final_sessions_are_deleted_alone,
    an_interrupted_erasure_resumes,
);
