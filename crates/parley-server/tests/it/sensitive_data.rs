//! Sensitive-data rules (PRIV-03, issue 16 part 1), end to end through the real server: an admin
//! writes rules through the API (422s for what the engine cannot run, the preview); a customer's
//! card number, an agent's and a supervisor's text, and the channel's automatic goodbye (a bot's
//! text) are masked before they are stored, each block leaves one transcript event naming only the
//! author, and a rule for one author leaves the others' text alone.

use parley_core::model::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::console::{Console, Desk};
use crate::eventually;
use parley_store::testing::TestBackend;

const CARD: &str = "4111 1111 1111 1111";

async fn json_of(r: reqwest::Response) -> (StatusCode, Value) {
    let status = r.status();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn post(d: &Desk, c: &Console, path: &str, body: Value) -> (StatusCode, Value) {
    json_of(
        d.call(c, Method::POST, path)
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// The session's entries as the console reads them.
async fn entries(d: &Desk, c: &Console, session: Uuid) -> Vec<Value> {
    let page = d
        .get(c, &format!("/api/v1/sessions/{session}/entries?limit=100"))
        .await;
    page["items"].as_array().unwrap().clone()
}

fn events(list: &[Value]) -> Vec<String> {
    list.iter()
        .filter(|e| e["direction"] == "event")
        .map(|e| e["body"].as_str().unwrap().to_owned())
        .collect()
}

async fn rules_mask_each_author_before_anything_is_stored(b: TestBackend) {
    let d = Desk::new(b).await;
    let root = d.agent("Root", 2, AgentRole::Admin).await;
    let ada = d.agent("Ada", 2, AgentRole::Agent).await;
    let sue = d.agent("Sue", 2, AgentRole::Supervisor).await;
    let (r, a, s) = (
        d.sign_in(&root).await,
        d.sign_in(&ada).await,
        d.sign_in(&sue).await,
    );
    let rules = "/api/v1/sensitive-data-rules";

    // What the engine cannot run, or a rule without what it needs, is a 422 naming the field.
    let bad = [
        (
            json!({"name": "x", "detector": "regex", "pattern": "a(?=b)", "action": "remove", "authors": ["customer"]}),
            "look-ahead",
        ),
        (
            json!({"name": "x", "detector": "regex", "pattern": "(a)\\1", "action": "remove", "authors": ["customer"]}),
            "back-references",
        ),
        (
            json!({"name": "x", "detector": "regex", "pattern": "a(", "action": "remove", "authors": ["customer"]}),
            "pattern",
        ),
        (
            json!({"name": "x", "detector": "card_number", "action": "remove", "authors": []}),
            "authors",
        ),
        (
            json!({"name": "x", "detector": "card_number", "action": "replace", "authors": ["agent"]}),
            "replacement",
        ),
        (
            json!({"name": "x", "detector": "national_id", "action": "remove", "authors": ["agent"]}),
            "national_id_format",
        ),
        (
            json!({"name": "x", "detector": "card_number", "action": "remove", "authors": ["agent"], "channel_id": Uuid::nil()}),
            "channel_id",
        ),
    ];
    for (body, field) in bad {
        let (status, answer) = post(&d, &r, rules, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert!(answer.to_string().contains(field), "{field}: {answer}");
    }
    // Agents may not write rules.
    let (status, _) = post(
        &d,
        &a,
        rules,
        json!({"name": "x", "detector": "card_number", "action": "remove", "authors": ["agent"]}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The preview runs the detector and action on a sample and stores nothing.
    let (status, preview) = post(
        &d,
        &r,
        "/api/v1/sensitive-data-rules/preview",
        json!({"detector": "card_number", "action": "replace", "replacement": "[card]",
               "text": format!("pay {CARD} or 4111 1111 1111 1112")}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(
        preview,
        json!({"text": "pay [card] or 4111 1111 1111 1112", "matches": 1})
    );
    let (status, preview) = post(
        &d,
        &r,
        "/api/v1/sensitive-data-rules/preview",
        json!({"detector": "regex", "pattern": "(?<!x)y", "action": "remove", "text": "y"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{preview}");

    let made = [
        json!({"name": "Cards", "detector": "card_number", "action": "replace",
               "replacement": "[card]", "authors": ["customer"], "priority": 1}),
        json!({"name": "Agent codes", "channel_id": d.channel.id, "detector": "regex",
               "pattern": "secret-\\d+", "action": "remove", "authors": ["agent"]}),
        json!({"name": "Supervisor codes", "detector": "regex", "pattern": "boss-\\d+",
               "action": "replace", "replacement": "#", "authors": ["supervisor"]}),
        json!({"name": "Goodbyes", "detector": "regex", "pattern": "goodbye",
               "action": "replace", "replacement": "[farewell]", "authors": ["bot"], "priority": 5}),
    ];
    for body in made {
        let (status, rule) = post(&d, &r, rules, body).await;
        assert_eq!(status, StatusCode::CREATED, "{rule}");
    }
    let list = d.get(&r, rules).await;
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    // By priority.
    assert_eq!(
        names,
        ["Agent codes", "Supervisor codes", "Cards", "Goodbyes"]
    );

    // Customer (simulator inbound).
    d.go(&a, "available").await;
    d.customer_says("+447400000201", &format!("my card is {CARD} thanks"))
        .await;
    let session = d.offered(&a).await;
    assert_eq!(d.act(&a, session, "accept").await.status(), StatusCode::OK);
    let seen = entries(&d, &a, session).await;
    let inbound: Vec<&Value> = seen
        .iter()
        .filter(|e| e["direction"] == "inbound")
        .collect();
    assert_eq!(inbound[0]["body"], "my card is [card] thanks");
    assert_eq!(events(&seen), ["sensitive data blocked (customer)"]);

    // Agent and supervisor replies through the API.
    let say = |c, text: &str| {
        d.call(
            c,
            Method::POST,
            &format!("/api/v1/sessions/{session}/messages"),
        )
        .json(&json!({ "body": text }))
        .send()
    };
    let (status, sent) = json_of(say(&a, "use secret-123 now, boss-1").await.unwrap()).await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    assert_eq!(sent["body"], "use  now, boss-1");
    let (status, sent) = json_of(say(&s, "boss-42 and secret-9").await.unwrap()).await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    assert_eq!(sent["body"], "# and secret-9");
    // A message no rule matches leaves no note.
    let (status, _) = json_of(say(&a, "all good").await.unwrap()).await;
    assert_eq!(status, StatusCode::CREATED);

    // The channel's automatic goodbye is the business's (bot) text.
    assert_eq!(d.act(&a, session, "end").await.status(), StatusCode::OK);
    let store = d.app.db.store.clone();
    let seen = eventually(&d.app.events, "the goodbye", || {
        let store = store.clone();
        async move {
            let e = store
                .list_entries(
                    session,
                    parley_store::PageRequest {
                        after: None,
                        limit: 100,
                    },
                )
                .await
                .unwrap();
            e.items
                .iter()
                .any(|e| e.body.contains("Thanks,"))
                .then_some(e.items)
        }
    })
    .await;
    let bodies: Vec<&str> = seen.iter().map(|e| e.body.as_str()).collect();
    assert!(bodies.contains(&"Thanks, [farewell]."), "{bodies:?}");
    let notes: Vec<&str> = seen
        .iter()
        .filter(|e| e.direction == Direction::Event)
        .map(|e| e.body.as_str())
        .collect();
    assert_eq!(
        notes,
        [
            "sensitive data blocked (customer)",
            "sensitive data blocked (agent)",
            "sensitive data blocked (supervisor)",
            "sensitive data blocked (bot)",
        ]
    );
    // Nothing of what was removed is anywhere in the transcript.
    for e in &seen {
        for gone in ["4111", "secret-123", "boss-42", "goodbye"] {
            assert!(!e.body.contains(gone), "{gone} in {:?}", e.body);
        }
    }
    // A keyword's automatic answer (HELP names the channel) is a bot text too.
    let (status, rule) = post(
        &d,
        &r,
        rules,
        json!({"name": "Brand", "detector": "regex", "pattern": "Desk SMS",
               "action": "replace", "replacement": "[brand]", "authors": ["bot"]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{rule}");
    let helper = "+447400000202";
    d.customer_says(helper, "HELP").await;
    let channel = d.channel.id;
    let answered = eventually(&d.app.events, "the help answer", || {
        let store = store.clone();
        async move {
            let user = store
                .messaging_user_by_key(channel, helper)
                .await
                .unwrap()?;
            let sessions = store
                .list_sessions(
                    parley_store::SessionFilter {
                        messaging_user_id: Some(user.id),
                        ..Default::default()
                    },
                    parley_store::PageRequest {
                        after: None,
                        limit: 10,
                    },
                )
                .await
                .unwrap();
            let session = sessions.items.first()?.id;
            let e = store
                .list_entries(
                    session,
                    parley_store::PageRequest {
                        after: None,
                        limit: 100,
                    },
                )
                .await
                .unwrap();
            e.items
                .iter()
                .any(|e| e.direction == Direction::Outbound)
                .then_some(e.items)
        }
    })
    .await;
    let help = answered
        .iter()
        .find(|e| e.direction == Direction::Outbound)
        .unwrap();
    assert!(help.body.contains("[brand]"), "{:?}", help.body);
    assert!(!help.body.contains("Desk SMS"), "{:?}", help.body);
    assert!(
        answered
            .iter()
            .any(|e| e.direction == Direction::Event && e.body == "sensitive data blocked (bot)"),
        "{answered:?}"
    );
    // The customer's own HELP is not a bot's text: no customer note.
    assert!(
        !answered
            .iter()
            .any(|e| e.body == "sensitive data blocked (customer)")
    );

    // Edit and delete.
    let id = list["items"][2]["id"].as_str().unwrap().to_owned();
    let (status, changed) = json_of(
        d.call(&r, Method::PUT, &format!("{rules}/{id}"))
            .json(
                &json!({"name": "Cards", "detector": "card_number", "action": "remove",
                          "authors": ["customer", "agent"], "enabled": false}),
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["enabled"], false);
    assert_eq!(changed["authors"], json!(["customer", "agent"]));
    let r2 = d
        .call(&r, Method::DELETE, &format!("{rules}/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r2.status(), StatusCode::NO_CONTENT);
    let r3 = d
        .call(&r, Method::GET, &format!("{rules}/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r3.status(), StatusCode::NOT_FOUND);
}

parley_store::on_both_backends!(rules_mask_each_author_before_anything_is_stored);

/// The Sensitive data tab and its effect in the agent console, in headless Chromium
/// (`tests/browser/sensitive-data.mjs`).
async fn sensitive_data_in_a_real_browser(b: TestBackend) {
    use crate::browser::{harness, tempfile_dir};
    let dir = harness();
    assert!(
        dir.join("node_modules/playwright-core").is_dir()
            && std::path::PathBuf::from("/usr/bin/chromium").exists(),
        "the browser harness is not installed: run scripts/browser-deps.sh (scripts/test.sh does)"
    );
    let d = Desk::new(b).await;
    let root = d.agent("Root", 3, AgentRole::Admin).await;
    let customer = format!("+4474008{:05}", Uuid::now_v7().as_u128() % 100_000);
    let profile = tempfile_dir();
    // Screenshots where PARLEY_SHOTS says, else under the target's temporary folder.
    let shots = std::env::var_os("PARLEY_SHOTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("sensitive-data-shots")
        });
    let run = tokio::process::Command::new("node")
        .arg("sensitive-data.mjs")
        .arg(format!("--shots={}", shots.display()))
        .arg(format!("--url={}", d.app.base))
        .arg(format!(
            "--admin={}:{}",
            root.email,
            crate::console::PASSWORD
        ))
        .arg(format!("--channel={}", d.channel.name))
        .arg(format!("--customer={customer}"))
        .env("TMPDIR", &profile)
        .current_dir(&dir)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(180), run)
        .await
        .expect("the sensitive data scenario finishes within three minutes")
        .expect("node runs");
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        out.status.success(),
        "sensitive data scenario failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

mod browser {
    parley_store::on_both_backends!(sensitive_data_in_a_real_browser);
    use super::sensitive_data_in_a_real_browser;
}
