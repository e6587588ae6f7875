//! Templates, the agent's template picker and the channel form in headless Chromium
//! (`tests/browser/templates.mjs`), on both databases. Screenshots go to `PARLEY_SHOTS` when set.

use parley_core::model::{AgentRole, ChannelKind, OwnerKind, Provider, SessionStatus};
use parley_core::{Clock as _, SystemClock, Timestamp};
use parley_store::ChannelSpec;
use parley_store::testing::TestBackend;
use parley_testkit::build;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::console::{Desk, PASSWORD};

async fn templates_in_a_real_browser(b: TestBackend) {
    let backend = format!("{b:?}").to_lowercase();
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

    let shots = crate::browser::shots_dir("template-shots", &backend);
    crate::browser::run_scenario(
        "templates.mjs",
        &[
            format!("--url={}", d.app.base),
            format!("--admin={}:{PASSWORD}", admin.email),
            format!("--agent={}:{PASSWORD}", agent.email),
            format!("--channel={}", channel.name),
            format!("--session={}", session.id),
            format!("--shots={}", shots.display()),
        ],
        std::time::Duration::from_secs(240),
    )
    .await;
}

parley_store::on_both_backends!(templates_in_a_real_browser);
