//! The agent console in headless Chromium (Debian's package, driven by npm `playwright-core`; see
//! `tests/browser/console.mjs`): an agent signs in, goes available, receives a session started by
//! a simulator SMS, replies, sees the customer's answer appear live, transfers to a second agent
//! who accepts, and that agent ends it; a message containing `<script>` is shown as text. The test
//! command installs the browser and the harness (`scripts/browser-deps.sh`).

use std::path::PathBuf;
use std::time::Duration;

use parley_core::model::{Actor, AgentRole, Direction, EntryStatus};
use parley_core::{Clock as _, SystemClock};
use parley_store::testing::TestBackend;
use parley_testkit::build;

use crate::console::{Desk, PASSWORD};

pub(crate) fn harness() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Where a scenario's screenshots go: `PARLEY_SHOTS` when set, else
/// `target/tmp/<name>/<backend>`.
pub(crate) fn shots_dir(name: &str, backend: &str) -> PathBuf {
    std::env::var_os("PARLEY_SHOTS").map_or_else(
        || {
            PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
                .join(name)
                .join(backend)
        },
        PathBuf::from,
    )
}

/// Runs one browser scenario, `tests/browser/<script>` with `args`, in a throwaway profile
/// directory, for at most `limit`. Panics with everything the scenario printed when it fails or
/// runs over; answers its standard output (scenarios print the ids they made).
pub(crate) async fn run_scenario(script: &str, args: &[String], limit: Duration) -> String {
    let dir = harness();
    assert!(
        dir.join("node_modules/playwright-core").is_dir()
            && PathBuf::from("/usr/bin/chromium").exists(),
        "the browser harness is not installed: run scripts/browser-deps.sh (scripts/test.sh does)"
    );
    let profile = tempfile_dir();
    let run = tokio::process::Command::new("node")
        .arg(script)
        .args(args)
        .env("TMPDIR", &profile)
        .current_dir(&dir)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(limit, run).await;
    let _ = std::fs::remove_dir_all(&profile);
    let out = out
        .unwrap_or_else(|_| panic!("{script} did not finish within {} s", limit.as_secs()))
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{script} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

async fn console_in_a_real_browser(b: TestBackend) {
    let d = Desk::new(b).await;
    let ada = d.agent("Ada", 3, AgentRole::Agent).await;
    let sam = d.agent("Sam", 3, AgentRole::Supervisor).await;
    let customer = format!("+4474009{:05}", rand_suffix());
    crate::browser::run_scenario(
        "console.mjs",
        &[
            format!("--url={}", d.app.base),
            format!("--agent1={}:{PASSWORD}", ada.email),
            format!("--agent2={}:{PASSWORD}", sam.email),
            format!("--channel={}", d.channel.name),
            format!("--customer={customer}"),
        ],
        std::time::Duration::from_secs(240),
    )
    .await;
}

fn rand_suffix() -> u32 {
    (uuid::Uuid::now_v7().as_u128() % 100_000) as u32
}

pub(crate) fn tempfile_dir() -> PathBuf {
    let p = std::env::temp_dir().join(format!("parley-browser-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&p).expect("a temporary directory");
    p
}

/// The admin console shows a refused help text's reasons under the field (`tests/browser/admin.mjs`).
async fn admin_help_refusal_in_a_real_browser(b: TestBackend) {
    let d = Desk::new(b).await;
    let admin = d.agent("Ada", 3, AgentRole::Admin).await;
    crate::browser::run_scenario(
        "admin.mjs",
        &[
            format!("--url={}", d.app.base),
            format!("--admin={}:{PASSWORD}", admin.email),
        ],
        std::time::Duration::from_secs(120),
    )
    .await;
}

/// A message whose outcome is unknown, settled from the console (outcome.mjs): shown in words,
/// marked failed, then resent.
async fn unknown_outcome_answered_in_a_real_browser(b: TestBackend) {
    let d = Desk::new(b).await;
    let sam = d.agent("Sam", 3, AgentRole::Supervisor).await;
    let store = &d.app.db.store;
    let now = SystemClock.now();
    let session = build::customer_session(store, &d.channel, "+14155550177", now).await;
    let entry = build::entry(
        store,
        &build::new_entry(
            session.id,
            Direction::Outbound,
            Actor::Agent,
            "Your order left the warehouse today.",
            EntryStatus::Unknown,
        ),
        now,
    )
    .await;
    crate::browser::run_scenario(
        "outcome.mjs",
        &[
            format!("--url={}", d.app.base),
            format!("--user={}:{PASSWORD}", sam.email),
            format!("--session={}", session.id),
        ],
        std::time::Duration::from_secs(120),
    )
    .await;
    let after = store.entry(entry.id).await.unwrap();
    assert_ne!(after.status, EntryStatus::Unknown);
    assert_ne!(
        after.status,
        EntryStatus::Failed,
        "resent after being marked failed"
    );
}

/// The Campaigns area (`tests/browser/campaigns.mjs`): a broadcaster writes a campaign with a live
/// preview, starts it, watches it complete on the simulator and reads its results; builds a
/// segment and imports a list. Screenshots of each page go under the target's temporary folder.
async fn campaigns_in_a_real_browser(b: TestBackend) {
    use parley_core::model::{ConsentSource, ConsentStatus};
    let backend = format!("{b:?}").to_lowercase();
    let d = Desk::new(b).await;
    let bea = d.agent("Bea", 1, AgentRole::Broadcaster).await;
    let store = &d.app.db.store;
    let now = SystemClock.now();
    for (key, consent) in [
        ("+14155550281", ConsentStatus::ExplicitlyOptedIn),
        ("+14155550282", ConsentStatus::ExplicitlyOptedIn),
        ("+14155550283", ConsentStatus::DoublyOptedIn),
        ("+14155550284", ConsentStatus::OptedOut),
    ] {
        build::user(
            store,
            &build::new_user(d.channel.id, key, Some(consent)),
            &build::origin(ConsentSource::Import, "test"),
            now,
        )
        .await;
    }
    let segment = parley_engine::service::campaigns::create_segment(
        store,
        &parley_engine::service::campaigns::SegmentInput {
            name: "Opted-in customers".into(),
            description: String::new(),
            filter: Default::default(),
        },
        now,
    )
    .await
    .unwrap();
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("campaign-shots")
        .join(backend);
    crate::browser::run_scenario(
        "campaigns.mjs",
        &[
            format!("--url={}", d.app.base),
            format!("--user={}:{PASSWORD}", bea.email),
            format!("--sender={}", d.channel.name),
            format!("--segment={}", segment.name),
            format!("--shots={}", shots.display()),
        ],
        std::time::Duration::from_secs(180),
    )
    .await;
    let campaigns = store.campaigns().await.unwrap();
    assert_eq!(campaigns.len(), 1);
    assert_eq!(
        campaigns[0].state,
        parley_core::campaign::CampaignState::Completed
    );
}

/// A bot that collects a name and an order number; the customer stops after the name.
const INTAKE: &str = r#"
name: intake
description: Asks the customer's name and order number before a person answers.
steps:
  - id: ask_name
    type: ask
    message: { text: "Hi! You are talking to our bot. What is your name?" }
    save_as: name
    cases:
      - when: { type: any }
        next: ask_order
  - id: ask_order
    type: ask
    message: { text: "Thanks. What is your order number?" }
    save_as: order_number
    cases:
      - when: { type: regex, pattern: "([0-9]{6})" }
        next: to_agent
    invalid: { text: "An order number has 6 digits." }
  - id: to_agent
    type: handoff
    queue: Support
    message: { text: "Connecting you to a person." }
"#;

/// The Flows area and the bot's part of a conversation (`tests/browser/flows.mjs`): an admin
/// imports, reads, tests, exports and deletes a flow, sees a broken one refused with its step
/// named, and sees the Bot section of a conversation a channel bot holds (made here through the
/// API and the simulator, as `tests/it/flows.rs` does).
async fn flows_in_a_real_browser(b: TestBackend) {
    use reqwest::{Method, StatusCode};
    use serde_json::{Value, json};
    let backend = format!("{b:?}").to_lowercase();
    let d = Desk::new(b).await;
    let alex = d.agent("Alex", 3, AgentRole::Admin).await;
    let app = &d.app;

    let (s, v) = parley_testkit::status_and_json(
        app.req(Method::POST, "/api/v1/flows")
            .header("content-type", "application/yaml")
            .body(INTAKE),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, c) = parley_testkit::status_and_json(app.req(Method::POST, "/api/v1/channels").json(
        &json!({"name": "Bot SMS", "kind": "sms", "provider": "simulator", "address": "+14155550109",
                "number_type": "long_code", "country": "US", "consent_level": "implicit",
                "queue_id": d.channel.queue_id, "settings": {"flows": {"bot": "intake"}}}),
    ))
    .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let channel: uuid::Uuid = c["id"].as_str().unwrap().parse().unwrap();
    let customer = format!("+1415555{:04}", rand_suffix() % 10_000);
    for text in ["hello", "<img src=x onerror=alert(1)> Ada"] {
        let r = app
            .anon(Method::POST, "/simulator/inbound")
            .json(&json!({"channel": "Bot SMS", "from": customer, "text": text}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        // One reply at a time: the second must find the bot waiting at its question.
        let uid = app.wait_for_user(channel, &customer).await.id;
        let store = app.db.store.clone();
        let want = if text == "hello" {
            "ask_name"
        } else {
            "ask_order"
        };
        crate::eventually(&app.events, want, || {
            let store = store.clone();
            async move {
                let sessions = store
                    .list_sessions(
                        parley_store::SessionFilter {
                            messaging_user_id: Some(uid),
                            ..Default::default()
                        },
                        parley_store::PageRequest::new(None, 10),
                    )
                    .await
                    .unwrap()
                    .items;
                let s = sessions.first()?;
                let runs = store.flow_runs_of_session(s.id).await.unwrap();
                runs.iter()
                    .any(|r| r.step == want && r.status == "waiting_reply")
                    .then_some(())
            }
        })
        .await;
    }
    let user = app.wait_for_user(channel, &customer).await;
    let session = app
        .db
        .store
        .list_sessions(
            parley_store::SessionFilter {
                messaging_user_id: Some(user.id),
                ..Default::default()
            },
            parley_store::PageRequest::new(None, 10),
        )
        .await
        .unwrap()
        .items
        .remove(0);
    let runs: Value = app
        .get_json(&format!("/api/v1/sessions/{}/flow-runs", session.id))
        .await;
    assert_eq!(
        runs[0]["fields"]["name"], "<img src=x onerror=alert(1)> Ada",
        "{runs}"
    );

    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("flow-shots")
        .join(backend);
    crate::browser::run_scenario(
        "flows.mjs",
        &[
            format!("--url={}", app.base),
            format!("--user={}:{PASSWORD}", alex.email),
            format!("--session={}", session.id),
            "--bot=intake".to_owned(),
            format!("--shots={}", shots.display()),
        ],
        std::time::Duration::from_secs(180),
    )
    .await;
    let flows: Value = app.get_json("/api/v1/flows").await;
    let names: Vec<&str> = flows
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["intake"],
        "the imported flow was deleted, the busy one kept"
    );
}

/// Options from the agent console (`tests/browser/components.mjs`): an agent accepts a session
/// opened by a simulator SMS, sends a question with three options through the Options panel, sees
/// it as chips, and the customer's "2" is marked as the second option; a question too long for
/// SMS is refused in the panel. Screenshots of the panel and the timeline go under the target's
/// temporary folder.
async fn components_in_a_real_browser(b: TestBackend) {
    use parley_core::component::Component;
    let backend = format!("{b:?}").to_lowercase();
    let d = Desk::new(b).await;
    let ada = d.agent("Ada", 3, AgentRole::Agent).await;
    let customer = format!("+1415556{:04}", rand_suffix() % 10_000);
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("component-shots")
        .join(backend);
    crate::browser::run_scenario(
        "components.mjs",
        &[
            format!("--url={}", d.app.base),
            format!("--agent={}:{PASSWORD}", ada.email),
            format!("--channel={}", d.channel.name),
            format!("--customer={customer}"),
            format!("--shots={}", shots.display()),
        ],
        std::time::Duration::from_secs(180),
    )
    .await;

    // What the panel sent is what the server keeps: the question, and its numbered text as body.
    let store = &d.app.db.store;
    let user = d.app.wait_for_user(d.channel.id, &customer).await;
    let session = store
        .list_sessions(
            parley_store::SessionFilter {
                messaging_user_id: Some(user.id),
                ..Default::default()
            },
            parley_store::PageRequest::new(None, 10),
        )
        .await
        .unwrap()
        .items
        .remove(0);
    let entries = store
        .list_entries(session.id, parley_store::PageRequest::new(None, 100))
        .await
        .unwrap()
        .items;
    let sent = entries
        .iter()
        .find(|e| e.direction == Direction::Outbound && e.status != EntryStatus::Failed)
        .expect("the question was sent");
    assert_eq!(
        sent.body,
        "When should we deliver?\n1. Tomorrow morning\n2. Tomorrow afternoon\n3. Next week"
    );
    match sent.component.as_ref().expect("sent as a component") {
        Component::Question { text, options, .. } => {
            assert_eq!(text, "When should we deliver?");
            let ids: Vec<&str> = options.iter().map(|o| o.id.as_str()).collect();
            assert_eq!(ids, ["tomorrow-morning", "tomorrow-afternoon", "next-week"]);
        }
        other => panic!("sent as {other:?}"),
    }
    assert!(
        entries
            .iter()
            .any(|e| e.direction == Direction::Outbound && e.status == EntryStatus::Failed),
        "the question too long for SMS is recorded as refused"
    );
}

/// The side panel's contact and case (`tests/browser/crm.mjs`): a contact added from the name
/// the agent types and edited in place, a case found by subject and by number in the picker and linked, its status changed,
/// closed and reopened, and a new case made from typed text. Screenshots go under the target's
/// temporary folder, or to `PARLEY_SHOTS` when set.
async fn case_picker_in_a_real_browser(b: TestBackend) {
    use parley_engine::service::cases::{self, CaseInput};
    let backend = format!("{b:?}").to_lowercase();
    let d = Desk::new(b).await;
    let sam = d.agent("Sam", 3, AgentRole::Supervisor).await;
    let store = &d.app.db.store;
    let now = SystemClock.now();
    let session = build::customer_session(store, &d.channel, "+14155550177", now).await;
    // The cases to find belong to an older record; the customer has no contact yet.
    let older = store
        .create_contact(
            &parley_store::ContactSpec {
                first_name: "Ada (old record)".into(),
                last_name: String::new(),
                phone: None,
                email: None,
            },
            now,
        )
        .await
        .unwrap();
    let mut numbers = Vec::new();
    for subject in [
        "Parcel late <i>again</i>",
        "Parcel damaged",
        "Invoice address",
    ] {
        let input = CaseInput {
            subject: subject.into(),
            contact_id: Some(older.id),
            channel_id: None,
            owner_agent_id: None,
            session_ids: vec![],
        };
        let c = cases::create(store, None, &input, now).await.unwrap();
        numbers.push(c.number.unwrap());
    }
    let shots = crate::browser::shots_dir("crm-shots", &backend);
    crate::browser::run_scenario(
        "crm.mjs",
        &[
            format!("--url={}", d.app.base),
            format!("--user={}:{PASSWORD}", sam.email),
            format!("--session={}", session.id),
            format!("--number={}", numbers[2]),
            format!("--shots={}", shots.display()),
        ],
        std::time::Duration::from_secs(180),
    )
    .await;
    let user = store
        .messaging_user(session.messaging_user_id)
        .await
        .unwrap();
    let contact = store
        .contact(user.contact_id.expect("a contact was added"))
        .await
        .unwrap();
    assert_eq!(
        (contact.first_name.as_str(), contact.last_name.as_str()),
        ("Ada", "Lovelace <b>x</b>")
    );
    assert_eq!(contact.phone.as_deref(), Some("+14155550177"));
    let linked = store.session(session.id).await.unwrap().case_id.unwrap();
    let case = store.case(linked).await.unwrap();
    assert_eq!(case.subject, "Refund for broken <mug>");
    assert_eq!(case.contact_id, contact.id);
}

/// The Notification errors admin page (`tests/browser/notification-errors.mjs`): the log in
/// words, filters by stage and channel, an entry's inputs as text, Delete. Screenshots go to
/// `PARLEY_SHOTS` when set.
async fn notification_errors_in_a_real_browser(b: TestBackend) {
    use reqwest::{Method, StatusCode};
    use serde_json::json;
    let d = Desk::new(b).await;
    let admin = d.agent("Ada", 3, AgentRole::Admin).await;
    let app = &d.app;
    let (s, other) =
        parley_testkit::status_and_json(app.req(Method::POST, "/api/v1/channels").json(
            &json!({"name": "Other SMS", "kind": "sms", "provider": "simulator",
                "address": "+14155550188", "number_type": "long_code", "country": "US",
                "consent_level": "implicit"}),
        ))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{other}");
    for ch in [
        d.channel.id.to_string(),
        other["id"].as_str().unwrap().to_owned(),
    ] {
        let (s, t) = parley_testkit::status_and_json(
            app.req(Method::POST, &format!("/api/v1/channels/{ch}/templates"))
                .json(
                    &json!({"name": "order_ready", "language": "en", "status": "approved",
                              "body": "Hi {{1}}, order {{2}} is ready."}),
                ),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{t}");
    }
    let notify = |channel: &str, recipient: serde_json::Value, parameters: serde_json::Value| {
        json!({"channel": channel, "template": {"name": "order_ready", "language": "en"},
               "parameters": parameters, "recipient": recipient,
               "context": {"data": {"note": "<img src=x onerror=alert(1)>"}}})
    };
    let refused = [
        notify(
            &d.channel.name,
            json!({"phone": "+14155550123"}),
            json!(["{{data.missing}}", "A-1"]),
        ),
        notify(
            &d.channel.name,
            json!({"phone": "+447911123456"}),
            json!(["Ann", "A-1"]),
        ),
        notify(
            "Other SMS",
            json!({"phone": "<b>bold</b>"}),
            json!(["Ann", "A-1"]),
        ),
    ];
    for body in &refused {
        let (s, v) = parley_testkit::status_and_json(
            app.req(Method::POST, "/api/v1/notifications").json(body),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    }
    let shots =
        crate::browser::shots_dir("notification-error-shots", &format!("{b:?}").to_lowercase());
    crate::browser::run_scenario(
        "notification-errors.mjs",
        &[
            format!("--url={}", app.base),
            format!("--user={}:{PASSWORD}", admin.email),
            "--other=Other SMS".to_owned(),
            format!("--shots={}", shots.display()),
        ],
        std::time::Duration::from_secs(180),
    )
    .await;
    let left = app.db.store.notification_errors(None, 10).await.unwrap();
    assert_eq!(left.len(), 2);
    assert!(left.iter().all(|e| e.recipient != "<b>bold</b>"));
}

/// The Twilio API area (`tests/browser/twilio.mjs`): an account issued with its token shown once
/// and copied, the SDK snippet, a messaging service whose channel is picked by name, and a
/// revoke after a confirmation. Screenshots go to `PARLEY_SHOTS` when set.
async fn twilio_in_a_real_browser(b: TestBackend) {
    let dir = harness();
    assert!(
        dir.join("node_modules/playwright-core").is_dir()
            && PathBuf::from("/usr/bin/chromium").exists(),
        "the browser harness is not installed: run scripts/browser-deps.sh (scripts/test.sh does)"
    );
    let d = Desk::new(b).await;
    let admin = d.agent("Alex", 3, AgentRole::Admin).await;
    let profile = tempfile_dir();
    let shots = crate::browser::shots_dir("twilio-shots", &format!("{b:?}").to_lowercase());
    let run = tokio::process::Command::new("node")
        .arg("twilio.mjs")
        .arg(format!("--url={}", d.app.base))
        .arg(format!("--user={}:{PASSWORD}", admin.email))
        .arg(format!("--channel={}", d.channel.name))
        .arg(format!("--shots={}", shots.display()))
        .env("TMPDIR", &profile)
        .current_dir(&dir)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .expect("the twilio scenario finishes within three minutes")
        .expect("node runs");
    let _ = std::fs::remove_dir_all(&profile);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "twilio scenario failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let sid = stdout
        .lines()
        .find_map(|l| l.strip_prefix("sid="))
        .expect("the scenario prints the account SID");
    let account = d.app.db.store.twilio_account(sid).await.unwrap().unwrap();
    assert_eq!(account.name, "Order <b>system</b>");
    assert!(account.revoked_at.is_some());
    let services = d
        .app
        .db
        .store
        .list_twilio_messaging_services(sid)
        .await
        .unwrap();
    assert_eq!(services.len(), 1);
    assert_eq!(services[0].name, "Alerts");
    assert_eq!(services[0].channel_ids, vec![d.channel.id]);
}

/// The Web chat area (`tests/browser/web-deployments.mjs`): a keyset with one pasted JWK, a
/// deployment whose bad origins are marked by line, its snippet, and a channel fixed on edit.
/// Screenshots go under the target's temporary folder, or to `PARLEY_SHOTS` when set.
async fn web_deployments_in_a_real_browser(b: TestBackend) {
    let backend = format!("{b:?}").to_lowercase();
    let d = Desk::new(b).await;
    let admin = d.agent("Ada", 3, AgentRole::Admin).await;
    let store = &d.app.db.store;
    let web = parley_store::ChannelSpec {
        name: "Shop chat".into(),
        kind: parley_core::model::ChannelKind::Web,
        provider: parley_core::model::Provider::Web,
        address: "shop".into(),
        number_type: None,
        provider_keyword: None,
        country: None,
        consent_level: parley_core::model::ConsentLevel::Implicit,
        queue_id: None,
        throughput_mps: None,
        settings: serde_json::json!({}),
        secrets: serde_json::json!({}),
    };
    store.create_channel(&web, SystemClock.now()).await.unwrap();
    let shots = crate::browser::shots_dir("web-deployment-shots", &backend);
    crate::browser::run_scenario(
        "web-deployments.mjs",
        &[
            format!("--url={}", d.app.base),
            format!("--admin={}:{PASSWORD}", admin.email),
            "--channel=Shop chat".to_owned(),
            format!("--shots={}", shots.display()),
        ],
        std::time::Duration::from_secs(180),
    )
    .await;
    let saved = store.web_deployment_by_name("shop").await.unwrap().unwrap();
    assert_eq!(saved.branding.title, "Demo Shop");
    assert_eq!(saved.language, "fr");
    assert!(saved.settings.enter_inserts_newline);
    let names: Vec<&str> = saved
        .prechat
        .fields
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(names, ["first_name", "email", "cart_total"]);
    assert!(saved.prechat.fields[2].hidden && !saved.prechat.fields[2].required);
    assert!(saved.keyset_id.is_some());
}

/// The console by permission (`tests/browser/permissions.mjs`, issue 18): the admin edits the
/// agent role's set and creates a set on the permissions page and closes a conversation with a
/// reason; a restricted agent sees no End, Close or admin links and the API refuses them; a grant
/// shows the admin links at the agent's next page load. Screenshots go to `PARLEY_SHOTS`.
async fn permissions_in_a_real_browser(b: TestBackend) {
    let backend = format!("{b:?}").to_lowercase();
    let d = Desk::new(b).await;
    let admin = d.agent("Ada", 3, AgentRole::Admin).await;
    let rex = d.agent("Rex", 3, AgentRole::Agent).await;
    let shots = std::env::var_os("PARLEY_SHOTS").map_or_else(
        || {
            PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
                .join("permissions-shots")
                .join(&backend)
        },
        |p| PathBuf::from(p).join(&backend),
    );
    crate::browser::run_scenario(
        "permissions.mjs",
        &[
            format!("--url={}", d.app.base),
            format!("--admin={}:{PASSWORD}", admin.email),
            format!("--agent={}:{PASSWORD}", rex.email),
            format!("--channel={}", d.channel.name),
            format!("--shots={}", shots.display()),
        ],
        std::time::Duration::from_secs(240),
    )
    .await;
    // What the pages did is what the database holds: the grant, and the agent's work still open.
    let store = &d.app.db.store;
    let effective = store
        .agent_permissions(rex.id, AgentRole::Agent)
        .await
        .unwrap();
    use parley_core::access::Permission;
    assert!(effective.contains(Permission::ConfigureMessaging));
    assert!(!effective.contains(Permission::EndSessions));
    let active = store
        .list_sessions(
            parley_store::SessionFilter {
                channel_id: Some(d.channel.id),
                messaging_user_id: None,
                status: Some(parley_core::model::SessionStatus::Active),
            },
            parley_store::PageRequest::new(None, 100),
        )
        .await
        .unwrap();
    assert!(
        active.items.iter().any(|s| s.owner_id == Some(rex.id)),
        "the restricted agent's session is still open"
    );
}

/// The Privacy page's Retention and Audit log tabs (`tests/browser/privacy-retain.mjs`, issue 16):
/// a per-channel media period set with its picker, then read back in the audit log in words.
/// Screenshots go to `PARLEY_SHOTS` when set.
async fn privacy_retention_and_audit_in_a_real_browser(b: TestBackend) {
    let backend = format!("{b:?}").to_lowercase();
    let d = Desk::new(b).await;
    let admin = d.agent("Ada", 3, AgentRole::Admin).await;
    let shots = crate::browser::shots_dir("privacy-retain-shots", &backend);
    crate::browser::run_scenario(
        "privacy-retain.mjs",
        &[
            format!("--url={}", d.app.base),
            format!("--user={}:{PASSWORD}", admin.email),
            "--name=Ada".to_owned(),
            format!("--channel-id={}", d.channel.id),
            format!("--shots={}", shots.display()),
        ],
        std::time::Duration::from_secs(180),
    )
    .await;
    let policies = d.app.db.store.list_retention_policies().await.unwrap();
    assert_eq!(policies.len(), 1);
    assert_eq!(policies[0].channel_id, Some(d.channel.id));
    assert_eq!(policies[0].days, 90);
}

/// Search across conversations and the closed list (`tests/browser/search.mjs`): an agent's
/// ended conversation with a long history, found by two words, opened at its message; then
/// opened read-only from the Closed section. Screenshots go under the target's temporary folder,
/// or to `PARLEY_SHOTS` when set.
async fn search_in_a_real_browser(b: TestBackend) {
    use reqwest::StatusCode;
    let backend = format!("{b:?}").to_lowercase();
    let d = Desk::new(b).await;
    let ada = d.agent("Ada", 3, AgentRole::Agent).await;
    let a = d.sign_in(&ada).await;
    d.go(&a, "available").await;
    let store = &d.app.db.store;
    let first = "+447400222333";
    d.customer_says(first, "Hello, I ordered a blue kettle")
        .await;
    let closed = d.offered(&a).await;
    assert_eq!(d.act(&a, closed, "accept").await.status(), StatusCode::OK);
    let user = store.session(closed).await.unwrap().messaging_user_id;
    store
        .update_user_profile(user, Some("Marguerite Dubois"), None, SystemClock.now())
        .await
        .unwrap();
    let mut texts: Vec<String> = (1..=14)
        .map(|i| format!("Update {i} about my order"))
        .collect();
    texts.insert(
        7,
        "The kettle arrived broken, I want a refund <b>now</b>".into(),
    );
    for t in &texts {
        d.customer_says(first, t).await;
    }
    d.app.wait_for_entries(user, texts.len() + 1).await;
    assert_eq!(d.act(&a, closed, "end").await.status(), StatusCode::OK);
    d.customer_says("+447400222444", "Where is my parcel?")
        .await;
    let open = d.offered(&a).await;
    assert_eq!(d.act(&a, open, "accept").await.status(), StatusCode::OK);

    let shots = crate::browser::shots_dir("search-shots", &backend);
    crate::browser::run_scenario(
        "search.mjs",
        &[
            format!("--url={}", d.app.base),
            format!("--user={}:{PASSWORD}", ada.email),
            format!("--closed={closed}"),
            format!("--shots={}", shots.display()),
        ],
        std::time::Duration::from_secs(180),
    )
    .await;
}

parley_store::on_both_backends!(
    search_in_a_real_browser,
    privacy_retention_and_audit_in_a_real_browser,
    permissions_in_a_real_browser,
    web_deployments_in_a_real_browser,
    notification_errors_in_a_real_browser,
    twilio_in_a_real_browser,
    components_in_a_real_browser,
    flows_in_a_real_browser,
    campaigns_in_a_real_browser,
    console_in_a_real_browser,
    admin_help_refusal_in_a_real_browser,
    unknown_outcome_answered_in_a_real_browser,
    case_picker_in_a_real_browser
);
