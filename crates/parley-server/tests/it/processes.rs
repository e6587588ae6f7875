use parley_core::model::TokenRole;
use parley_store::testing::TestBackend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::TestApp;

const BASE: &str = "/api/v1/sms-processes";
/// Help texts that meet the short code rules (CO-16), as a Help process on 11221 must.
const KIDS_HELP: &str = "Kids Club Alerts: Help at help@kids.example. Msg&data rates may apply. 2 msgs/week. Text STOP to cancel.";
const KIDS_NEW_HELP: &str = "Kids Club News: Help at help@kids.example. Msg&data rates may apply. Msg frequency varies. Text STOP to cancel.";

fn help(number: &str, keyword: Option<&str>) -> Value {
    json!({
        "name": "Kids help", "kind": "help", "number": number, "provider_keyword": keyword,
        "custom_keywords": ["Hilfe"], "message": KIDS_HELP
    })
}

fn unsubscribe(number: &str, keyword: Option<&str>) -> Value {
    json!({"name": "Kids stop", "kind": "unsubscribe", "number": number, "provider_keyword": keyword})
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let mut r = app.req(method, path);
    if let Some(b) = body {
        r = r.json(b);
    }
    parley_testkit::status_and_json(r).await
}

async fn count(app: &TestApp) -> usize {
    app.db.store.sms_processes(None).await.unwrap().len()
}

async fn sms_processes_crud_start_and_pause(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let (status, p) = send(
        &app,
        Method::POST,
        BASE,
        Some(&help("11221", Some(" Kids "))),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    assert_eq!(p["status"], "new", "created, not started (KP-04)");
    assert_eq!(p["kind"], "help");
    assert_eq!(
        (&p["number"], &p["provider_keyword"]),
        (&json!("11221"), &json!("kids"))
    );
    assert_eq!(p["inbound"], "11221 / kids");
    assert_eq!(p["keywords"], json!(["HELP", "INFO", "Hilfe"]));
    let id = p["id"].as_str().unwrap().to_owned();
    let one = format!("{BASE}/{id}");

    let (status, got) = send(&app, Method::GET, &one, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, p);

    // A long code written with spaces is stored as digits, and the list filter finds it either way.
    let (status, stop) = send(
        &app,
        Method::POST,
        BASE,
        Some(&unsubscribe("+49 151 1234 8765", None)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{stop}");
    assert_eq!(stop["number"], "+4915112348765");
    assert_eq!(stop["message"], Value::Null);
    let (_, all) = send(&app, Method::GET, BASE, None).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    let (_, filtered) = send(
        &app,
        Method::GET,
        &format!("{BASE}?number=%2B49%20151%2012348765"),
        None,
    )
    .await;
    assert_eq!(filtered["items"].as_array().unwrap().len(), 1);
    assert_eq!(filtered["items"][0]["id"], stop["id"]);
    let (_, paged) = send(&app, Method::GET, &format!("{BASE}?limit=1"), None).await;
    assert_eq!(paged["items"][0]["id"], p["id"]);
    assert_eq!(paged["next"], p["id"]);

    // Start, then edit: the process stays started with the new fields (KP-04).
    let (status, started) = send(&app, Method::POST, &format!("{one}/start"), None).await;
    assert_eq!(status, StatusCode::OK, "{started}");
    assert_eq!(started["status"], "started");
    let mut edit = help("11221", Some("kids"));
    edit["message"] = json!(KIDS_NEW_HELP);
    edit["custom_keywords"] = json!(["Hilfe", "Aide"]);
    let (status, edited) = send(&app, Method::PUT, &one, Some(&edit)).await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["status"], "started");
    assert_eq!(edited["message"], KIDS_NEW_HELP);
    let stored = app.db.store.sms_process(id.parse().unwrap()).await.unwrap();
    assert_eq!(stored.process.custom_keywords, vec!["Hilfe", "Aide"]);

    // Starting twice, or pausing what is not started, is refused with core's words.
    let (status, err) = send(&app, Method::POST, &format!("{one}/start"), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err["code"], "invalid_request");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("a started process cannot be told to start"),
        "{err}"
    );
    let (status, paused) = send(&app, Method::POST, &format!("{one}/pause"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(paused["status"], "paused");
    let (status, err) = send(&app, Method::POST, &format!("{one}/pause"), None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    let (_, edited) = send(&app, Method::PUT, &one, Some(&edit)).await;
    assert_eq!(edited["status"], "paused", "an edit keeps the status");
    let (_, restarted) = send(&app, Method::POST, &format!("{one}/start"), None).await;
    assert_eq!(
        restarted["status"], "started",
        "a paused process can be restarted"
    );

    let (status, _) = send(&app, Method::DELETE, &one, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, err) = send(&app, Method::GET, &one, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(err["code"], "not_found");
    for (method, path) in [
        (Method::DELETE, one.clone()),
        (Method::POST, format!("{one}/start")),
        (Method::PUT, one.clone()),
    ] {
        let (status, _) = send(&app, method, &path, Some(&edit)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(count(&app).await, 1);
}

async fn one_process_of_each_type_per_number_and_keyword(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let (status, first) = send(
        &app,
        Method::POST,
        BASE,
        Some(&unsubscribe("11221", Some("kids"))),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let mut second = unsubscribe("11221", Some("KIDS"));
    second["name"] = json!("Another stop");
    let (status, err) = send(&app, Method::POST, BASE, Some(&second)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["code"], "conflict");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("already has the unsubscribe process 'Kids stop'"),
        "{err}"
    );
    assert_eq!(count(&app).await, 1, "nothing written");

    // The other type, another provider keyword, and no keyword at all are free.
    for body in [
        help("11221", Some("kids")),
        unsubscribe("11221", Some("shoes")),
        unsubscribe("11221", None),
    ] {
        let (status, v) = send(&app, Method::POST, BASE, Some(&body)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}: {v}");
    }
    // Moving a process onto a taken assignment is a conflict too, and changes nothing.
    let shoes = app
        .db
        .store
        .sms_processes(Some("11221"))
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.process.inbound.provider_keyword.as_deref() == Some("shoes"))
        .unwrap();
    let (status, err) = send(
        &app,
        Method::PUT,
        &format!("{BASE}/{}", shoes.process.id),
        Some(&unsubscribe("11221", Some("kids"))),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    let still = app.db.store.sms_process(shoes.process.id).await.unwrap();
    assert_eq!(still, shoes);

    // A custom keyword another process on the number answers is a conflict as well.
    let (status, err) = send(
        &app,
        Method::POST,
        BASE,
        Some(
            &json!({"name": "US help", "kind": "help", "number": "+14155550100",
                     "custom_keywords": ["Quit"], "message": "Help"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{err}");
    let (status, err) = send(
        &app,
        Method::POST,
        BASE,
        Some(&unsubscribe("+14155550100", None)),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("'Quit' is already a keyword of the help process 'US help'"),
        "{err}"
    );
    // A keyword both would have as a custom keyword is named once.
    let mut basta = unsubscribe("+14155550199", None);
    basta["custom_keywords"] = json!(["Basta"]);
    let (status, _) = send(&app, Method::POST, BASE, Some(&basta)).await;
    assert_eq!(status, StatusCode::CREATED);
    let mut clash = help("+14155550199", None);
    clash["custom_keywords"] = json!(["basta"]);
    let (status, err) = send(&app, Method::POST, BASE, Some(&clash)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");
    let message = err["message"].as_str().unwrap();
    assert_eq!(message.matches("already a keyword").count(), 1, "{message}");
    assert_eq!(count(&app).await, 6);
}

async fn invalid_processes_are_refused_and_write_nothing(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let with = |key: &str, value: Value| {
        let mut v = unsubscribe("11221", None);
        v[key] = value;
        v
    };
    let cases = [
        (
            with("custom_keywords", json!(["DEAL2"])),
            "custom keyword 'DEAL2' is not valid: it contains the digit '2'",
        ),
        (
            with("custom_keywords", json!(["BIG DEAL"])),
            "custom keyword 'BIG DEAL' is not valid: it contains a space",
        ),
        (
            with("custom_keywords", json!(["DEAL!"])),
            "special character '!'",
        ),
        (
            with("custom_keywords", json!(["Stop"])),
            "'Stop' is already a keyword of this process",
        ),
        (
            with("number", json!("call-me")),
            "'call-me' is not an inbound number",
        ),
        (
            with("provider_keyword", json!("ba by")),
            "provider keyword 'ba by' is not valid",
        ),
        (with("name", json!("  ")), "the process needs a name"),
        (
            with("message", json!("x".repeat(900))),
            "the message does not fit in an SMS",
        ),
        (
            json!({"name": "Help", "kind": "help", "number": "11221"}),
            "a help process must have a message to send",
        ),
        (
            json!({"name": "Help", "kind": "help", "number": "11221", "message": "  "}),
            "a help process must have a message to send",
        ),
        (with("status", json!("started")), "unknown field"),
        (with("kind", json!("subscribe")), "unknown variant"),
    ];
    for (body, expected) in cases {
        let (status, err) = send(&app, Method::POST, BASE, Some(&body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {err}");
        assert_eq!(err["code"], "invalid_request");
        let message = err["message"].as_str().unwrap();
        assert!(message.contains(expected), "{body}: {message}");
    }
    assert_eq!(count(&app).await, 0, "nothing written");

    // Every problem is named at once.
    let (_, err) = send(
        &app,
        Method::POST,
        BASE,
        Some(&json!({"name": "Help", "kind": "help", "number": "11221", "custom_keywords": ["a1", "b c"]})),
    )
    .await;
    let message = err["message"].as_str().unwrap();
    assert!(
        message.contains("'a1'")
            && message.contains("'b c'")
            && message.contains("must have a message"),
        "{message}"
    );

    // An invalid edit leaves the stored process as it was.
    let (_, p) = send(&app, Method::POST, BASE, Some(&help("11221", None))).await;
    let id = p["id"].as_str().unwrap();
    let mut bad = help("11221", None);
    bad["message"] = Value::Null;
    let (status, _) = send(&app, Method::PUT, &format!("{BASE}/{id}"), Some(&bad)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, same) = send(&app, Method::GET, &format!("{BASE}/{id}"), None).await;
    assert_eq!(same, p);
}

async fn only_admins_change_processes(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let (_, p) = send(&app, Method::POST, BASE, Some(&help("11221", None))).await;
    let one = format!("{BASE}/{}", p["id"].as_str().unwrap());
    for role in [
        TokenRole::Agent,
        TokenRole::Supervisor,
        TokenRole::Broadcaster,
    ] {
        let token = TestApp::token_for(&app.db, role).await;
        for (method, path) in [
            (Method::POST, BASE.to_owned()),
            (Method::PUT, one.clone()),
            (Method::DELETE, one.clone()),
            (Method::POST, format!("{one}/start")),
            (Method::POST, format!("{one}/pause")),
        ] {
            let r = app
                .anon(method.clone(), &path)
                .bearer_auth(&token)
                .json(&unsubscribe("11222", None))
                .send()
                .await
                .unwrap();
            assert_eq!(
                r.status(),
                StatusCode::FORBIDDEN,
                "{role:?} {method} {path}"
            );
            assert_eq!(r.json::<Value>().await.unwrap()["code"], "forbidden");
        }
        // Reading configuration is open to every role, as for channels.
        let r = app
            .anon(Method::GET, BASE)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = app.anon(Method::GET, BASE).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let (_, still) = send(&app, Method::GET, &one, None).await;
    assert_eq!(still, p, "nothing changed");
    assert_eq!(count(&app).await, 1);
}

parley_store::on_both_backends!(
    sms_processes_crud_start_and_pause,
    one_process_of_each_type_per_number_and_keyword,
    invalid_processes_are_refused_and_write_nothing,
    only_admins_change_processes,
);
