//! Issue 10, item 5: a short code's help responses must meet CTIA's content rules (CO-12, CO-16).
//! Every path that saves one (a channel with its keyword sets, a keyword set, a Help process)
//! refuses a short code's help text that lacks an element, naming the field and what is missing;
//! long codes are not held to the short-code rules.

use parley_core::SystemClock;
use parley_engine::provision::{WorkspaceFile, apply};
use parley_store::testing::TestBackend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::TestApp;

const GOOD: &str = "Acme Account Alerts: Help at help@acme.example. Msg&data rates may apply. 1 msg/day. Text STOP to cancel.";
const BAD: &str = "Acme: reply STOP to unsubscribe. Msg&data rates may apply.";

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut r = app.req(method, path);
    if let Some(b) = body {
        r = r.json(&b);
    }
    parley_testkit::status_and_json(r).await
}

fn set(help: &str) -> Value {
    json!({"opt_out": ["STOP"], "help": ["HELP"], "responses": {"help": help}})
}

fn channel(
    name: &str,
    address: &str,
    number_type: &str,
    sets: Option<Value>,
    settings: Value,
) -> Value {
    let mut c = json!({"name": name, "kind": "sms", "provider": "simulator", "address": address,
                       "number_type": number_type, "country": "US", "settings": settings});
    if let Some(s) = sets {
        c["keyword_sets"] = s;
    }
    c
}

fn message(v: &Value) -> String {
    v["message"].as_str().unwrap_or_default().to_owned()
}

/// The refusal names the field and each missing element, and nothing is written.
async fn short_code_help_without_the_required_elements_is_refused(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let (status, v) = call(
        &app,
        Method::POST,
        "/api/v1/channels",
        Some(channel(
            "Acme",
            "24680",
            "short_code",
            Some(json!({"en": set(BAD)})),
            json!({}),
        )),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["code"], "invalid_request");
    let m = message(&v);
    for part in [
        "keyword set 'en': responses.help",
        "what the program sends",
        "a help contact",
        "the message frequency",
    ] {
        assert!(m.contains(part), "{part} not in: {m}");
    }
    for present in ["disclaimer", "how to opt out", "the program name"] {
        assert!(
            !m.contains(present),
            "{present} is there, yet reported: {m}"
        );
    }
    assert!(
        app.db
            .store
            .channel_by_name("Acme")
            .await
            .unwrap()
            .is_none()
    );

    // Over 160 characters on a short code, even with every element.
    let long = format!("{GOOD} {}", "Thank you for being with us.".repeat(3));
    let (status, v) = call(
        &app,
        Method::POST,
        "/api/v1/channels",
        Some(channel(
            "Acme",
            "24680",
            "short_code",
            Some(json!({"en": set(&long)})),
            json!({}),
        )),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(message(&v).contains("at most 160"), "{v}");

    // Compliant: saved. Then a keyword set edit that breaks it is refused and changes nothing.
    let (status, ch) = call(
        &app,
        Method::POST,
        "/api/v1/channels",
        Some(channel(
            "Acme",
            "24680",
            "short_code",
            Some(json!({"en": set(GOOD)})),
            json!({}),
        )),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{ch}");
    let channel_id = ch["id"].as_str().unwrap().to_owned();
    let (_, list) = call(
        &app,
        Method::GET,
        &format!("/api/v1/keyword-sets?channel_id={channel_id}"),
        None,
    )
    .await;
    let en = list["items"][0]["id"].as_str().unwrap().to_owned();
    let (status, v) = call(
        &app,
        Method::PUT,
        &format!("/api/v1/keyword-sets/{en}"),
        Some(
            json!({"channel_id": channel_id, "language": "en", "config": set("Help in English.")}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let m = message(&v);
    assert!(
        m.contains("responses.help") && m.contains("\"Msg&data rates may apply.\""),
        "{m}"
    );
    let (_, stored) = call(
        &app,
        Method::GET,
        &format!("/api/v1/keyword-sets/{en}"),
        None,
    )
    .await;
    assert_eq!(stored["config"], set(GOOD));

    // A workspace file is held to the same rule.
    let file: WorkspaceFile = serde_json::from_value(json!({"channels": [
        channel("Filed", "13579", "short_code", Some(json!({"en": set(BAD)})), json!({}))
    ]}))
    .unwrap();
    let err = apply(&app.db.store, &SystemClock, &file, false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("a help contact"), "{err}");
}

/// A short code with no keyword sets answers HELP with Parley's default, which needs the
/// channel's help contact to be complete.
async fn the_default_help_response_needs_a_help_contact(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let (status, v) = call(
        &app,
        Method::POST,
        "/api/v1/channels",
        Some(channel("Plain", "24681", "short_code", None, json!({}))),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let m = message(&v);
    assert!(
        m.contains("the default help response") && m.contains("settings.help_contact"),
        "{m}"
    );
    assert!(m.contains("a help contact"), "{m}");
    let (status, v) = call(
        &app,
        Method::POST,
        "/api/v1/channels",
        Some(channel(
            "Plain",
            "24681",
            "short_code",
            None,
            json!({"help_contact": "1-800-555-0100"}),
        )),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
}

/// The rules are the short-code guide's: a long code's help text is not held to them.
async fn long_codes_are_not_held_to_short_code_rules(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let (status, v) = call(
        &app,
        Method::POST,
        "/api/v1/channels",
        Some(channel(
            "Long",
            "+14155550123",
            "long_code",
            Some(json!({"en": set(BAD)})),
            json!({}),
        )),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let (status, v) = call(
        &app,
        Method::POST,
        "/api/v1/sms-processes",
        Some(json!({"name": "US help", "kind": "help", "number": "+14155550123", "message": BAD})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
}

/// A Help process on a short code sends the short code's help response: the same rule.
async fn short_code_help_process_message_is_checked(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let process = |message: &str| {
        json!({"name": "Kids help", "kind": "help", "number": "11221",
               "provider_keyword": "kids", "message": message})
    };
    let (status, v) = call(
        &app,
        Method::POST,
        "/api/v1/sms-processes",
        Some(process("Kids Club: help at kids.example")),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let m = message(&v);
    for part in [
        "the message does not meet the short code rules",
        "\"Msg&data rates may apply.\"",
        "the message frequency",
        "how to opt out",
    ] {
        assert!(m.contains(part), "{part} not in: {m}");
    }
    // "Kids Club" names the program and "kids.example" is a web address: both are there.
    assert!(
        !m.contains("a help contact") && !m.contains("what the program sends"),
        "{m}"
    );
    let (status, created) = call(
        &app,
        Method::POST,
        "/api/v1/sms-processes",
        Some(process(GOOD)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let (status, v) = call(
        &app,
        Method::PUT,
        &format!("/api/v1/sms-processes/{id}"),
        Some(process("Kids Club: call us.")),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let stored = app.db.store.sms_process(id.parse().unwrap()).await.unwrap();
    assert_eq!(stored.process.message.as_deref(), Some(GOOD));

    // A workspace file's process is held to the same rule, and nothing is written.
    let file: WorkspaceFile = serde_json::from_value(json!({"sms_processes": [
        {"name": "Shoes help", "kind": "help", "number": "11221", "provider_keyword": "shoes",
         "message": "Shoes: call us."}
    ]}))
    .unwrap();
    let err = apply(&app.db.store, &SystemClock, &file, false)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("the message does not meet the short code rules"),
        "{err}"
    );
    assert_eq!(app.db.store.sms_processes(None).await.unwrap().len(), 1);
}

parley_store::on_both_backends!(
    short_code_help_without_the_required_elements_is_refused,
    the_default_help_response_needs_a_help_contact,
    long_codes_are_not_held_to_short_code_rules,
    short_code_help_process_message_is_checked,
);
