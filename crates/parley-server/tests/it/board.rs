//! The supervisor's board and pick-from-queue (issue 15), end to end through the real server:
//! waiting sessions described (customer, channel, first message, whom they are offered to), load
//! as conversations with pending offers apart, an agent's open conversations, assigning a waiting
//! session, and a pick queue's members taking its sessions (never offered; one of two racing
//! agents wins).

use parley_core::model::*;
use parley_core::{Clock, SystemClock};
use parley_store::testing::TestBackend;
use parley_testkit::build;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::console::{Console, Desk};
use crate::eventually;

/// The board, once it satisfies `f`.
async fn board_until(d: &Desk, c: &Console, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    let f = &f;
    eventually(&d.app.events, what, || async move {
        let o = d.get(c, "/api/v1/supervisor/overview").await;
        f(&o).then_some(o)
    })
    .await
}

fn waiting(o: &Value) -> Vec<Value> {
    o["queues"][0]["waiting"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn agent(o: &Value, id: Uuid) -> &Value {
    o["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == json!(id))
        .expect("the agent is on the board")
}

async fn post(d: &Desk, c: &Console, path: &str, body: Value) -> (StatusCode, Value) {
    let r = d
        .call(c, Method::POST, path)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn overview_describes_waiting_sessions_and_load(b: TestBackend) {
    let d = Desk::new(b).await;
    let ada = d.agent("Ada", 3, AgentRole::Agent).await;
    let sam = d.agent("Sam", 2, AgentRole::Supervisor).await;
    let (a, s) = (d.sign_in(&ada).await, d.sign_in(&sam).await);
    d.go(&a, "available").await;
    d.customer_says("+447400000101", "Where is my parcel?")
        .await;
    let first = d.offered(&a).await;
    assert_eq!(d.act(&a, first, "accept").await.status(), StatusCode::OK);
    d.customer_says("+447400000102", "My <b>order</b> is late")
        .await;
    d.customer_says("+447400000103", "Can I change my address?")
        .await;
    // One conversation and two offers: load 3 of 3, shown apart.
    let o = board_until(&d, &s, "two offers to Ada", |o| {
        let w = waiting(o);
        w.len() == 2
            && w.iter().all(|i| i["offered_to"] == json!(ada.id))
            && agent(o, ada.id)["offers"] == 2
    })
    .await;
    let a_row = agent(&o, ada.id);
    assert_eq!(a_row["conversations"], 1, "{a_row}");
    assert_eq!(a_row["offers"], 2);
    assert_eq!(a_row["load"], 3);
    assert_eq!(a_row["capacity"], 3);
    assert_eq!(a_row["takes_conversations"], true);
    let w = waiting(&o);
    let late = w
        .iter()
        .find(|i| i["customer"]["platform_key"] == "+447400000102")
        .expect("the second customer waits");
    assert_eq!(late["first_message"], "My <b>order</b> is late");
    assert_eq!(late["offered_to_name"], "Ada");
    assert!(late["offer_left_ms"].as_i64().unwrap() > 0);
    assert!(late["offer_expires_at"].is_string());
    assert_eq!(late["channel"]["name"], "Desk SMS");
    assert_eq!(late["channel"]["kind"], "sms");
    assert!(late["waiting_ms"].as_i64().unwrap() >= 0);
    assert_eq!(o["queues"][0]["assignment"], "push");
    let assignable: Vec<Value> = late["assignable_to"].as_array().unwrap().clone();
    // Sam has not gone available: offline agents cannot be given work.
    assert!(assignable.contains(&json!(ada.id)) && !assignable.contains(&json!(sam.id)));

    // The live view of Ada's desk: her conversation and her two offers.
    let desk = d
        .get(
            &s,
            &format!("/api/v1/supervisor/agents/{}/sessions", ada.id),
        )
        .await;
    assert_eq!(desk["sessions"].as_array().unwrap().len(), 1, "{desk}");
    assert_eq!(desk["sessions"][0]["session_id"], json!(first));
    assert_eq!(
        desk["sessions"][0]["customer"]["platform_key"],
        "+447400000101"
    );
    assert_eq!(desk["sessions"][0]["last_message"], "Where is my parcel?");
    assert_eq!(desk["sessions"][0]["status"], "active");
    assert_eq!(desk["offers"].as_array().unwrap().len(), 2);
    assert_eq!(desk["agent"]["conversations"], 1);
    // Agents see neither the board nor another agent's desk.
    for path in [
        "/api/v1/supervisor/overview".to_owned(),
        format!("/api/v1/supervisor/agents/{}/sessions", sam.id),
    ] {
        let r = d.call(&a, Method::GET, &path).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let r = d
        .call(
            &s,
            Method::GET,
            &format!("/api/v1/supervisor/agents/{}/sessions", Uuid::now_v7()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

async fn a_supervisor_assigns_a_waiting_session(b: TestBackend) {
    let d = Desk::new(b).await;
    let ada = d.agent("Ada", 1, AgentRole::Agent).await;
    let bob = d.agent("Bob", 1, AgentRole::Agent).await;
    let sam = d.agent("Sam", 2, AgentRole::Supervisor).await;
    let now = SystemClock.now();
    let other = d
        .app
        .db
        .store
        .create_queue(&build::queue_spec("Elsewhere"), now)
        .await
        .unwrap();
    let carl = d
        .app
        .agent_with_password(
            &build::agent_spec("Carl", AgentRole::Agent, 2, vec![other.id]),
            crate::console::PASSWORD,
        )
        .await;
    let (a, bc, s) = (
        d.sign_in(&ada).await,
        d.sign_in(&bob).await,
        d.sign_in(&sam).await,
    );
    let c = d.sign_in(&carl).await;
    for x in [&a, &bc, &c] {
        d.go(x, "available").await;
    }
    d.customer_says("+447400000201", "Hello, anyone?").await;
    let o = board_until(&d, &s, "a session offered", |o| {
        waiting(o).len() == 1 && waiting(o)[0]["offered_to"].is_string()
    })
    .await;
    let item = &waiting(&o)[0];
    let session: Uuid = item["session_id"].as_str().unwrap().parse().unwrap();
    let assignable = item["assignable_to"].as_array().unwrap();
    assert!(assignable.contains(&json!(ada.id)) && assignable.contains(&json!(bob.id)));
    assert!(
        !assignable.contains(&json!(carl.id)),
        "Carl is not in the queue"
    );
    // The supervisor gives it to the one it is not offered to.
    let offered_to = if item["offered_to"] == json!(ada.id) {
        ada.id
    } else {
        bob.id
    };
    let (to, to_c, other_c) = if offered_to == ada.id {
        (bob.id, &bc, &a)
    } else {
        (ada.id, &a, &bc)
    };
    let path = format!("/api/v1/sessions/{session}/assign");

    // An agent may not assign; an unknown agent or one outside the queue is refused in words.
    let (status, _) = post(&d, &a, &path, json!({"agent_id": ada.id})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = post(&d, &s, &path, json!({"agent_id": Uuid::now_v7()})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("agent_id"), "{body}");
    let (status, body) = post(&d, &s, &path, json!({"agent_id": carl.id})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("Carl"), "{body}");

    let (status, body) = post(&d, &s, &path, json!({"agent_id": to})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "active");
    let row = d.app.db.store.session(session).await.unwrap();
    assert_eq!(row.status, SessionStatus::Active);
    assert_eq!(row.owner_id, Some(to));
    // The assignee's console lists it, unread: they have not seen it yet. The offer is gone.
    let w = d.work(to_c).await;
    assert_eq!(w["sessions"][0]["session"]["id"], json!(session));
    assert_eq!(w["sessions"][0]["unread"], 1);
    assert!(
        d.work(other_c).await["offers"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // Taken: a second assignment is a conflict in words.
    let (status, body) = post(&d, &s, &path, json!({"agent_id": offered_to})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.to_string().contains("no longer waiting"), "{body}");

    // The assignee is full (1 of 1): giving them more needs the supervisor's override.
    d.customer_says("+447400000202", "Me too").await;
    let o = board_until(&d, &s, "the second session offered", |o| {
        waiting(o).len() == 1 && waiting(o)[0]["offered_to"].is_string()
    })
    .await;
    let second = waiting(&o)[0]["session_id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/sessions/{second}/assign");
    let (status, body) = post(&d, &s, &path, json!({"agent_id": to})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.to_string().contains("capacity"), "{body}");
    let (status, body) = post(
        &d,
        &s,
        &path,
        json!({"agent_id": to, "over_capacity": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let o = d.get(&s, "/api/v1/supervisor/overview").await;
    assert_eq!(agent(&o, to)["conversations"], 2);
    assert_eq!(agent(&o, to)["capacity"], 1);
    // Bad bodies are refused with the field named.
    let (status, body) = post(&d, &s, &path, json!({"agent": ada.id})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

async fn pick_queues_are_taken_not_offered(b: TestBackend) {
    let d = Desk::new(b).await;
    // The queue becomes pick-from-queue through the API, as the admin form sends it.
    let r = d
        .app
        .req(Method::PUT, &format!("/api/v1/queues/{}", d.queue.id))
        .json(&json!({"name": "Support", "assignment": "pick"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let q: Value = r.json().await.unwrap();
    assert_eq!(q["assignment"], "pick");
    let ada = d.agent("Ada", 1, AgentRole::Agent).await;
    let bob = d.agent("Bob", 1, AgentRole::Agent).await;
    let carl = d
        .app
        .agent_with_password(
            &build::agent_spec("Carl", AgentRole::Agent, 2, vec![]),
            crate::console::PASSWORD,
        )
        .await;
    let (a, bc, c) = (
        d.sign_in(&ada).await,
        d.sign_in(&bob).await,
        d.sign_in(&carl).await,
    );
    d.go(&a, "available").await;
    d.go(&bc, "available").await;
    d.customer_says("+447400000301", "Pick me, please").await;
    let list = eventually(&d.app.events, "the session in Ada's pick list", || async {
        let l = d.get(&a, "/api/v1/me/pick-queues").await;
        (l["queues"][0]["waiting"].as_array().map_or(0, Vec::len) == 1).then_some(l)
    })
    .await;
    assert_eq!(list["queues"][0]["name"], "Support");
    let item = &list["queues"][0]["waiting"][0];
    assert_eq!(item["first_message"], "Pick me, please");
    assert_eq!(item["customer"]["platform_key"], "+447400000301");
    assert_eq!(item["channel"]["kind"], "sms");
    assert_eq!(list["capacity"], 1);
    let session: Uuid = item["session_id"].as_str().unwrap().parse().unwrap();
    // Routing offers nothing from a pick queue, however many rounds run.
    for _ in 0..3 {
        d.app.engine.router.route().await.unwrap();
    }
    assert!(d.work(&a).await["offers"].as_array().unwrap().is_empty());
    assert!(d.work(&bc).await["offers"].as_array().unwrap().is_empty());
    // The supervisor's board shows the pick queue's waiting session.
    let sam = d.agent("Sam", 2, AgentRole::Supervisor).await;
    let s = d.sign_in(&sam).await;
    let o = d.get(&s, "/api/v1/supervisor/overview").await;
    assert_eq!(o["queues"][0]["assignment"], "pick");
    assert_eq!(waiting(&o).len(), 1);

    // Carl is not a member: nothing listed, and taking is forbidden.
    let l = d.get(&c, "/api/v1/me/pick-queues").await;
    assert!(l["queues"].as_array().unwrap().is_empty());
    let take = format!("/api/v1/sessions/{session}/take");
    let (status, _) = post(&d, &c, &take, Value::Null).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Ada and Bob take it at once: one gets it, the other a conflict in words.
    let (ra, rb) = tokio::join!(
        d.call(&a, Method::POST, &take).send(),
        d.call(&bc, Method::POST, &take).send()
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    let statuses = [ra.status(), rb.status()];
    assert!(
        statuses.contains(&StatusCode::OK) && statuses.contains(&StatusCode::CONFLICT),
        "{statuses:?}"
    );
    let (winner, winner_id, loser) = if ra.status() == StatusCode::OK {
        (&a, ada.id, rb)
    } else {
        (&bc, bob.id, ra)
    };
    let refusal = loser.text().await.unwrap();
    assert!(
        refusal.contains("took this session first") || refusal.contains("no longer waiting"),
        "{refusal}"
    );
    let row = d.app.db.store.session(session).await.unwrap();
    assert_eq!(row.status, SessionStatus::Active);
    assert_eq!(row.owner_id, Some(winner_id));
    assert_eq!(
        d.work(winner).await["sessions"][0]["session"]["id"],
        json!(session)
    );

    // The winner is now at capacity (1 of 1): a second session cannot be taken by them.
    d.customer_says("+447400000302", "And me?").await;
    let second = eventually(&d.app.events, "the second session listed", || async {
        let l = d.get(winner, "/api/v1/me/pick-queues").await;
        l["queues"][0]["waiting"][0]["session_id"]
            .as_str()
            .map(str::to_owned)
    })
    .await;
    let (status, body) = post(
        &d,
        winner,
        &format!("/api/v1/sessions/{second}/take"),
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.to_string().contains("capacity"), "{body}");
    // A session no longer waiting cannot be taken.
    let (status, _) = post(&d, winner, &take, Value::Null).await;
    assert_eq!(status, StatusCode::CONFLICT);
    // The accept counts for the queue's estimated wait (RT-10) like an accepted offer.
    let now = SystemClock.now();
    let accepts = d
        .app
        .db
        .store
        .queue_accepts(d.queue.id, parley_core::Timestamp(now.millis() - 600_000))
        .await
        .unwrap();
    assert_eq!(accepts.len(), 1);
}

/// The board and pick-from-queue in headless Chromium (`tests/browser/board.mjs`). Screenshots go
/// to `PARLEY_SHOTS` when set, else under the target's temporary folder.
async fn board_in_a_real_browser(b: TestBackend) {
    let backend = format!("{b:?}").to_lowercase();
    // The offers to Cleo must outlast a slow machine's scenario: the board shows them pending.
    let d = Desk::with(
        b,
        parley_engine::EngineConfig {
            offer_timeout: std::time::Duration::from_secs(600),
            ..parley_engine::EngineConfig::default()
        },
    )
    .await;
    let now = SystemClock.now();
    let store = &d.app.db.store;
    let orders = store
        .create_queue(
            &parley_store::QueueSpec {
                assignment: QueueAssignment::Pick,
                ..build::queue_spec("Orders")
            },
            now,
        )
        .await
        .unwrap();
    let pick_channel = store
        .create_channel(
            &parley_store::ChannelSpec {
                name: "Orders SMS".into(),
                address: "+14155550142".into(),
                country: Some("US".into()),
                queue_id: Some(orders.id),
                settings: json!({"case_handoff": {"trigger": {"on": "non_keyword_reply"}}}),
                ..build::simulator_sms()
            },
            now,
        )
        .await
        .unwrap();
    let ada = d.agent("Ada", 3, AgentRole::Agent).await;
    let sam = d.agent("Sam", 3, AgentRole::Supervisor).await;
    let bob = d
        .app
        .agent_with_password(
            &build::agent_spec("Bob", AgentRole::Agent, 2, vec![orders.id]),
            crate::console::PASSWORD,
        )
        .await;
    // Cleo is available with one conversation: the scenario's two new customers are offered to
    // her, so the board shows load as one conversation and two pending offers.
    let cleo = d.agent("Cleo", 3, AgentRole::Agent).await;
    let cleo_console = d.sign_in(&cleo).await;
    d.go(&cleo_console, "available").await;
    d.customer_says("+447400555100", "Is the shop open on Sunday?")
        .await;
    let first = d.offered(&cleo_console).await;
    assert_eq!(
        d.act(&cleo_console, first, "accept").await.status(),
        StatusCode::OK
    );
    let shots = crate::browser::shots_dir("board-shots", &backend);
    let password = crate::console::PASSWORD;
    crate::browser::run_scenario(
        "board.mjs",
        &[
            format!("--url={}", d.app.base),
            format!("--supervisor={}:{password}", sam.email),
            format!("--agent={}:{password}", ada.email),
            format!("--picker={}:{password}", bob.email),
            format!("--channel={}", d.channel.name),
            format!("--pick-channel={}", pick_channel.name),
            "--busy=Cleo".to_owned(),
            format!("--shots={}", shots.display()),
        ],
        std::time::Duration::from_secs(180),
    )
    .await;
    // What the pages did is what the store holds: Ada has the assigned session, Bob the taken one.
    assert_eq!(store.sessions_of_agent(ada.id).await.unwrap().len(), 1);
    let taken = store.sessions_of_agent(bob.id).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].channel_id, pick_channel.id);
}

parley_store::on_both_backends!(
    board_in_a_real_browser,
    overview_describes_waiting_sessions_and_load,
    a_supervisor_assigns_a_waiting_session,
    pick_queues_are_taken_not_offered,
);
