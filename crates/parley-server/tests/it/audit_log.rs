//! The audit log through the real server (issue 16 part 6), on both databases: an admin change
//! through the API (token) and through the console (signed-in agent) is recorded with its actor,
//! action and resource; a read, a refused request and an agent's own work are not; reading a
//! transcript one does not own is (once), one's own is not; the list filters and pages, the export
//! streams and is itself recorded; the retention API checks its input.

use parley_core::model::AgentRole;
use parley_store::testing::TestBackend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::console::Desk;

async fn audit(app: &crate::TestApp, query: &str) -> Vec<Value> {
    let page = app.get_json(&format!("/api/v1/audit-log?{query}")).await;
    // The retention worker's runs (it starts with the server) are no part of these tests.
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] != "retention_run")
        .cloned()
        .collect()
}

async fn admin_changes_are_recorded_reads_and_refusals_are_not(b: TestBackend) {
    let d = Desk::new(b).await;
    let app = &d.app;
    assert!(audit(app, "").await.is_empty());

    let r = app
        .req(Method::POST, "/api/v1/queues")
        .json(&json!({"name": "Billing"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let queue: Value = r.json().await.unwrap();
    let id = queue["id"].as_str().unwrap().to_owned();
    // A read and a refused change leave nothing.
    app.get_json("/api/v1/queues").await;
    let r = app
        .req(Method::POST, "/api/v1/queues")
        .json(&json!({"name": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let all = audit(app, "").await;
    assert_eq!(all.len(), 1, "{all:?}");
    let e = &all[0];
    assert_eq!(e["action"], "queue_created");
    assert_eq!(e["resource_kind"], "queue");
    assert_eq!(e["resource_id"], id.as_str());
    assert_eq!(e["actor_kind"], "token");
    assert_eq!(e["token_name"], "test");
    assert_eq!(e["detail"]["method"], "POST");

    // Through the console: the signed-in agent is the actor.
    let admin = d.agent("Ada Admin", 2, AgentRole::Admin).await;
    let c = d.sign_in(&admin).await;
    let r = d
        .call(&c, Method::PUT, &format!("/api/v1/queues/{id}"))
        .json(&json!({"name": "Billing and refunds"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    // An agent's own work (presence) is not an admin change.
    d.go(&c, "available").await;
    let all = audit(app, "").await;
    assert_eq!(all.len(), 2, "{all:?}");
    let e = &all[0];
    assert_eq!(e["action"], "queue_updated");
    assert_eq!(e["actor_kind"], "agent");
    assert_eq!(e["agent_name"], "Ada Admin");
    assert_eq!(e["agent_id"], admin.id.to_string());
    assert_eq!(e["resource_id"], id.as_str());

    // Filters and paging.
    assert_eq!(audit(app, "action=queue_created").await.len(), 1);
    assert_eq!(audit(app, &format!("actor={}", admin.id)).await.len(), 1);
    assert_eq!(
        audit(app, &format!("resource_kind=queue&resource_id={id}"))
            .await
            .len(),
        2
    );
    assert!(audit(app, "from=2999-01-01").await.is_empty());
    let page = app
        .get_json("/api/v1/audit-log?limit=1&resource_kind=queue")
        .await;
    assert_eq!(page["items"][0]["action"], "queue_updated");
    let next = page["next"].as_str().unwrap().to_owned();
    let older = audit(app, &format!("limit=1&resource_kind=queue&before={next}")).await;
    assert_eq!(older[0]["action"], "queue_created");
    let r = app
        .req(Method::GET, "/api/v1/audit-log?from=yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().starts_with("from"),
        "{body}"
    );

    // The export streams every entry, and is itself recorded.
    let r = app
        .req(Method::GET, "/api/v1/audit-log/export?format=csv")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = r.text().await.unwrap();
    let lines: Vec<&str> = csv
        .lines()
        .filter(|l| !l.contains("retention_run"))
        .collect();
    assert!(lines[0].starts_with("id,at,actor_kind"));
    assert_eq!(lines.len(), 4, "{csv}");
    let jsonl = app
        .req(Method::GET, "/api/v1/audit-log/export")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in jsonl.lines() {
        serde_json::from_str::<Value>(line).unwrap();
    }
    assert_eq!(audit(app, "action=audit_log_exported").await.len(), 2);

    // Only privacy_requests or manage_users may read it.
    let agent = d.agent("Bo Agent", 2, AgentRole::Agent).await;
    let bc = d.sign_in(&agent).await;
    let r = d
        .call(&bc, Method::GET, "/api/v1/audit-log")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

async fn reading_a_transcript_one_does_not_own_is_recorded(b: TestBackend) {
    let d = Desk::new(b).await;
    let owner = d.agent("Olive Owner", 2, AgentRole::Agent).await;
    let supervisor = d.agent("Sam Supervisor", 2, AgentRole::Supervisor).await;
    let oc = d.sign_in(&owner).await;
    let sc = d.sign_in(&supervisor).await;
    d.go(&oc, "available").await;
    d.customer_says("+14155550199", "my parcel is late").await;
    let session = d.offered(&oc).await;
    assert_eq!(d.act(&oc, session, "accept").await.status(), StatusCode::OK);

    let entries = format!("/api/v1/sessions/{session}/entries");
    d.get(&oc, &entries).await;
    assert!(
        audit(&d.app, "action=conversation_opened").await.is_empty(),
        "the owner reads their own conversation"
    );
    d.get(&sc, &entries).await;
    // Again within the hour: one entry.
    d.get(&sc, &entries).await;
    let opened = audit(&d.app, "action=conversation_opened").await;
    assert_eq!(opened.len(), 1, "{opened:?}");
    assert_eq!(opened[0]["actor_id"], supervisor.id.to_string());
    assert_eq!(opened[0]["resource_kind"], "session");
    assert_eq!(opened[0]["resource_id"], session.to_string());
    assert_eq!(opened[0]["detail"]["owner_id"], owner.id.to_string());
    assert!(
        !opened[0].to_string().contains("parcel"),
        "no message text in the log"
    );
}

async fn retention_policies_are_checked_and_audited(b: TestBackend) {
    let d = Desk::new(b).await;
    let app = &d.app;
    let listed = app.get_json("/api/v1/retention-policies").await;
    assert_eq!(listed["builtin"][0]["kind"], "error_logs");
    assert_eq!(listed["builtin"][0]["days"], 30);
    let put = |body: Value| {
        app.req(Method::PUT, "/api/v1/retention-policies")
            .json(&body)
            .send()
    };
    let r = put(json!({"channel_id": d.channel.id, "kind": "media", "days": 20}))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let p: Value = r.json().await.unwrap();
    // The same pair again replaces it.
    let again: Value = put(json!({"channel_id": d.channel.id, "kind": "media", "days": 25}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["id"], p["id"]);
    assert_eq!(again["days"], 25);
    for (body, field) in [
        (json!({"kind": "media", "days": 0}), "days"),
        (json!({"kind": "nope", "days": 3}), "kind"),
        (
            json!({"channel_id": d.channel.id, "kind": "dead_letters", "days": 3}),
            "channel_id",
        ),
        (
            json!({"channel_id": uuid::Uuid::nil(), "kind": "media", "days": 3}),
            "channel_id",
        ),
    ] {
        let r = put(body).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let e: Value = r.json().await.unwrap();
        assert!(e["message"].as_str().unwrap().starts_with(field), "{e}");
    }
    let policy_id = p["id"].as_str().unwrap();
    let r = app
        .req(
            Method::DELETE,
            &format!("/api/v1/retention-policies/{policy_id}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let log = audit(app, "resource_kind=retention_policy").await;
    let actions: Vec<&str> = log.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "retention_policy_deleted",
            "retention_policy_updated",
            "retention_policy_updated"
        ]
    );
    assert_eq!(log[0]["resource_id"], policy_id);
    assert_eq!(log[1]["resource_id"], policy_id);
}

parley_store::on_both_backends!(
    admin_changes_are_recorded_reads_and_refusals_are_not,
    reading_a_transcript_one_does_not_own_is_recorded,
    retention_policies_are_checked_and_audited
);
