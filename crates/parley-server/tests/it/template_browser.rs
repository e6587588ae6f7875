//! Templates, the agent's template picker and the channel form in headless Chromium
//! (`tests/browser/templates.mjs`), on both databases. Screenshots go to `PARLEY_SHOTS` when set.

use std::path::PathBuf;
use std::time::Duration;

use parley_core::model::{AgentRole, ChannelKind, OwnerKind, Provider, SessionStatus};
use parley_core::{Clock as _, SystemClock, Timestamp};
use parley_store::ChannelSpec;
use parley_store::testing::TestBackend;
use parley_testkit::build;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::browser::{harness, tempfile_dir};
use crate::console::{Desk, PASSWORD};

async fn templates_in_a_real_browser(b: TestBackend) {
    let dir = harness();
    assert!(
        dir.join("node_modules/playwright-core").is_dir()
            && PathBuf::from("/usr/bin/chromium").exists(),
        "the browser harness is not installed: run scripts/browser-deps.sh (scripts/test.sh does)"
    );
    let d = Desk::new(b).await;
    let admin = d.agent("Ada", 3, AgentRole::Admin).await;
    let agent = d.agent("Bo", 3, AgentRole::Agent).await;
    let s = &d.app.db.store;
    let now = SystemClock.now();
    let channel = s
        .create_channel(
            &ChannelSpec {
                kind: ChannelKind::Whatsapp,
                provider: Provider::Simulator,
                queue_id: Some(d.queue.id),
                ..build::whatsapp("Support WhatsApp", "+14155550199", json!({}), json!({}))
            },
            now,
        )
        .await
        .unwrap();

    // A refused template, so the list shows a reason.
    let r = d
        .app
        .req(
            Method::POST,
            &format!("/api/v1/channels/{}/templates", channel.id),
        )
        .json(&json!({"name": "delivery_slot", "language": "en_US",
            "body": "Your delivery comes on {{1}} between 9 and 5.",
            "variables": [{"name": "Day", "example": "Tuesday"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (step, body) in [
        ("submit", None),
        ("reject", Some(json!({"reason": "Say which parcel it is"}))),
    ] {
        let mut q = d
            .app
            .req(Method::POST, &format!("/api/v1/templates/{id}/{step}"));
        if let Some(b) = body {
            q = q.json(&b);
        }
        assert_eq!(q.send().await.unwrap().status(), StatusCode::OK, "{step}");
    }

    // The agent's conversation, its care window closed 30 hours ago.
    let user = s
        .create_messaging_user(
            &build::new_user(
                channel.id,
                "+447400123456",
                Some(parley_core::model::ConsentStatus::ImplicitlyOptedIn),
            ),
            &build::origin(parley_core::model::ConsentSource::Inbound, "test customer"),
            now,
        )
        .await
        .unwrap();
    let mut session = s
        .create_session(
            &build::new_session(channel.id, user.id, SessionStatus::Active),
            now,
        )
        .await
        .unwrap();
    session.owner_kind = Some(OwnerKind::Agent);
    session.owner_id = Some(agent.id);
    session.queue_id = Some(d.queue.id);
    session.last_customer_at = Some(Timestamp::from_millis(now.millis() - 30 * 3_600_000));
    s.save_sessions(std::slice::from_ref(&session), now)
        .await
        .unwrap();

    let profile = tempfile_dir();
    let shots =
        std::env::var_os("PARLEY_SHOTS").map_or_else(|| profile.join("shots"), PathBuf::from);
    let run = tokio::process::Command::new("node")
        .arg("templates.mjs")
        .arg(format!("--url={}", d.app.base))
        .arg(format!("--admin={}:{PASSWORD}", admin.email))
        .arg(format!("--agent={}:{PASSWORD}", agent.email))
        .arg(format!("--channel={}", channel.name))
        .arg(format!("--session={}", session.id))
        .arg(format!("--shots={}", shots.display()))
        .env("TMPDIR", &profile)
        .current_dir(&dir)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(240), run)
        .await
        .expect("the browser scenario finishes within four minutes")
        .expect("node runs");
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        out.status.success(),
        "browser scenario failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

parley_store::on_both_backends!(templates_in_a_real_browser);
