//! Reports (issue 15): known traffic written through the store over three days (two channels, two
//! agents, a bot that keeps one conversation and hands another off, an error, an open session,
//! consent changes, delivery errors, presence), rolled up, and every figure of every report
//! checked against numbers worked out by hand below; the CSV exports against the JSON; bad
//! filters refused naming the field; and a million sessions exported in bounded memory.

use parley_core::model::*;
use parley_core::reports::{DAY_MS, PERCENTILE_ERROR, day_label, day_of};
use parley_core::{Clock, SystemClock, Timestamp};
use parley_store::bulk::BulkLoad;
use parley_store::testing::TestBackend;
use parley_store::*;
use parley_testkit::build;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use uuid::Uuid;

use crate::TestApp;

const SEC: i64 = 1000;
const MIN: i64 = 60 * SEC;

struct Known {
    d0: i64,
    sms: Channel,
    chat: Channel,
    ann: Agent,
    bob: Agent,
    support: Queue,
}

struct S<'a> {
    channel: &'a Channel,
    queue: Option<Uuid>,
    agent: Option<Uuid>,
    bot: bool,
    status: SessionStatus,
    started: i64,
    accepted: Option<i64>,
    first_agent: Option<i64>,
    ended: Option<i64>,
    agent_messages: i64,
    customer_messages: i64,
}

async fn session(store: &Store, key: &str, s: S<'_>) -> Session {
    let user = build::user(
        store,
        &build::new_user(s.channel.id, key, None),
        &build::origin(ConsentSource::Import, "test"),
        Timestamp(s.started),
    )
    .await;
    let mut row = build::session(
        store,
        &build::new_session(s.channel.id, user.id, SessionStatus::New),
        Timestamp(s.started),
    )
    .await;
    if s.bot {
        build::entry(
            store,
            &build::new_entry(
                row.id,
                Direction::Outbound,
                Actor::Bot,
                "Hi, I am a bot",
                EntryStatus::Delivered,
            ),
            Timestamp(s.started + SEC),
        )
        .await;
    }
    if let Some(t) = s.first_agent {
        for i in 0..2 {
            build::entry(
                store,
                &build::new_entry(
                    row.id,
                    Direction::Outbound,
                    Actor::Agent,
                    "Hello",
                    EntryStatus::Delivered,
                ),
                Timestamp(t + i * MIN),
            )
            .await;
        }
    }
    row.status = s.status;
    row.queue_id = s.queue;
    (row.owner_kind, row.owner_id) = match (s.agent, s.bot) {
        (Some(a), _) => (Some(OwnerKind::Agent), Some(a)),
        (None, true) => (Some(OwnerKind::Bot), None),
        (None, false) => (None, None),
    };
    row.accepted_at = s.accepted.map(Timestamp);
    row.ended_at = s.ended.map(Timestamp);
    row.agent_messages = s.agent_messages;
    row.customer_messages = s.customer_messages;
    store
        .save_sessions(std::slice::from_ref(&row), Timestamp(s.started))
        .await
        .unwrap();
    row
}

/// The traffic the expectations below are worked out from. Day 0 is ten days ago.
async fn known(app: &TestApp) -> Known {
    let store = &app.db.store;
    let now = SystemClock.now();
    let d0 = day_of(now) - 10;
    let t = |day: i64, h: i64| (d0 + day) * DAY_MS + h * 60 * MIN;
    let sms = build::channel(store, &build::simulator_sms(), now).await;
    let chat = build::channel(
        store,
        &ChannelSpec {
            name: "Chat line".into(),
            address: "+15550002222".into(),
            ..build::simulator_sms()
        },
        now,
    )
    .await;
    let support = build::queue(store, "Support", now).await;
    let ann = store
        .create_agent(
            &build::agent_spec("Ann", AgentRole::Agent, 3, vec![support.id]),
            now,
        )
        .await
        .unwrap();
    let bob = store
        .create_agent(
            &build::agent_spec("Bob", AgentRole::Agent, 3, vec![support.id]),
            now,
        )
        .await
        .unwrap();
    let base = |channel, started| S {
        channel,
        queue: Some(support.id),
        agent: None,
        bot: false,
        status: SessionStatus::Ended,
        started,
        accepted: None,
        first_agent: None,
        ended: None,
        agent_messages: 0,
        customer_messages: 0,
    };
    // S1, day 0, SMS, Ann: waits 10 s, first answer 30 s after accepting, handled 590 s, 5 messages.
    let s1 = t(0, 9);
    session(
        store,
        "+15550000001",
        S {
            agent: Some(ann.id),
            accepted: Some(s1 + 10 * SEC),
            first_agent: Some(s1 + 40 * SEC),
            ended: Some(s1 + 10 * MIN),
            agent_messages: 2,
            customer_messages: 3,
            ..base(&sms, s1)
        },
    )
    .await;
    // S2, day 0, chat, Bob: waits 30 s, answers after 20 s, handled 300 s, 2 messages.
    let s2 = t(0, 23);
    session(
        store,
        "+15550000002",
        S {
            agent: Some(bob.id),
            accepted: Some(s2 + 30 * SEC),
            first_agent: Some(s2 + 50 * SEC),
            ended: Some(s2 + 30 * SEC + 5 * MIN),
            agent_messages: 1,
            customer_messages: 1,
            ..base(&chat, s2)
        },
    )
    .await;
    // S3, day 1, SMS, Ann: waits 60 s, answers after 30 s, handled 1140 s, 8 messages.
    let s3 = t(1, 10);
    session(
        store,
        "+15550000003",
        S {
            agent: Some(ann.id),
            accepted: Some(s3 + MIN),
            first_agent: Some(s3 + 90 * SEC),
            ended: Some(s3 + 20 * MIN),
            agent_messages: 4,
            customer_messages: 4,
            ..base(&sms, s3)
        },
    )
    .await;
    // S4, day 1, SMS, no queue: the bot answers and the customer needs nobody else.
    let s4 = t(1, 11);
    session(
        store,
        "+15550000004",
        S {
            queue: None,
            bot: true,
            ended: Some(s4 + 2 * MIN),
            customer_messages: 2,
            ..base(&sms, s4)
        },
    )
    .await;
    // S5, day 2, chat: the bot hands off to Bob, who accepts after 120 s, answers 30 s later,
    // handles 60 s, 3 messages.
    let s5 = t(2, 8);
    session(
        store,
        "+15550000005",
        S {
            agent: Some(bob.id),
            bot: true,
            accepted: Some(s5 + 2 * MIN),
            first_agent: Some(s5 + 150 * SEC),
            ended: Some(s5 + 3 * MIN),
            agent_messages: 1,
            customer_messages: 2,
            ..base(&chat, s5)
        },
    )
    .await;
    // S6, day 2, SMS: an error before anyone took it, 1 message.
    let s6 = t(2, 9);
    session(
        store,
        "+15550000006",
        S {
            status: SessionStatus::Error,
            ended: Some(s6 + SEC),
            customer_messages: 1,
            ..base(&sms, s6)
        },
    )
    .await;
    // S7, day 2, SMS, Ann: still open.
    let s7 = t(2, 12);
    session(
        store,
        "+15550000007",
        S {
            agent: Some(ann.id),
            status: SessionStatus::Active,
            accepted: Some(s7 + 5 * SEC),
            customer_messages: 1,
            ..base(&sms, s7)
        },
    )
    .await;

    // Consent: on SMS a keyword opt-in on day 0 and an opt-out on day 1; on chat an implicit
    // opt-in by an inbound message on day 0.
    let u1 = build::user(
        store,
        &build::new_user(sms.id, "+15550000101", None),
        &build::origin(ConsentSource::Import, "test"),
        Timestamp(t(0, 1)),
    )
    .await;
    let u2 = build::user(
        store,
        &build::new_user(chat.id, "+15550000102", None),
        &build::origin(ConsentSource::Import, "test"),
        Timestamp(t(0, 1)),
    )
    .await;
    let keyword = build::origin(ConsentSource::Keyword, "keyword");
    store
        .set_consent(
            u1.id,
            ConsentStatus::ExplicitlyOptedIn,
            &keyword,
            Timestamp(t(0, 2)),
        )
        .await
        .unwrap();
    store
        .set_consent(u1.id, ConsentStatus::OptedOut, &keyword, Timestamp(t(1, 2)))
        .await
        .unwrap();
    store
        .set_consent(
            u2.id,
            ConsentStatus::ImplicitlyOptedIn,
            &build::origin(ConsentSource::Inbound, "wrote in"),
            Timestamp(t(0, 3)),
        )
        .await
        .unwrap();

    // Delivery errors: two on SMS (code 21610 from provider 30007, then one without a provider
    // code) on day 0 and day 1, one on chat on day 2.
    for (channel, day, code, provider) in [
        (sms.id, 0, "21610", Some("30007")),
        (sms.id, 1, "21610", None),
        (chat.id, 2, "30003", Some("30003")),
    ] {
        store
            .write_notification_error(
                &NotificationErrorWrite {
                    channel_id: Some(channel),
                    template: "order_update".into(),
                    recipient: String::new(),
                    inputs: "{}".into(),
                    stage: "provider",
                    code: code.into(),
                    reason: "refused".into(),
                    notification_id: None,
                    entry_id: None,
                    provider_code: provider.map(str::to_owned),
                },
                Timestamp(t(day, 4)),
            )
            .await
            .unwrap();
    }

    // Presence: Ann available 1 h from 08:00 on day 0, then busy 30 min, then on a break that
    // runs past midnight into day 1 (23:30 to 00:15), then offline.
    let p = |at| Timestamp(at);
    store
        .set_agent_presence(ann.id, Presence::Available, None, p(t(0, 8)))
        .await
        .unwrap();
    store
        .set_agent_presence(ann.id, Presence::Busy, None, p(t(0, 9)))
        .await
        .unwrap();
    store
        .set_agent_presence(ann.id, Presence::OnBreak, None, p(t(0, 9) + 30 * MIN))
        .await
        .unwrap();
    store
        .set_agent_presence(ann.id, Presence::Available, None, p(t(0, 23) + 30 * MIN))
        .await
        .unwrap();
    store
        .set_agent_presence(ann.id, Presence::OnBreak, None, p(t(0, 23) + 45 * MIN))
        .await
        .unwrap();
    store
        .set_agent_presence(ann.id, Presence::Offline, None, p(t(1, 0) + 15 * MIN))
        .await
        .unwrap();

    // Everything is in the past: roll it all up, twice (the second pass finds nothing new).
    let until = Timestamp(SystemClock.now().millis() + DAY_MS);
    // (The app's own rollup worker may take some of it meanwhile: the cursor counts each once.)
    store.roll_up_reports(until, 3).await.unwrap();
    let again = store.roll_up_reports(until, 3).await.unwrap();
    assert_eq!(again, parley_store::reports::RolledUp::default());
    Known {
        d0,
        sms,
        chat,
        ann,
        bob,
        support,
    }
}

async fn report(app: &TestApp, path: &str) -> Value {
    app.get_json(path).await
}

fn range(k: &Known) -> String {
    format!("from={}&to={}", day_label(k.d0), day_label(k.d0 + 2))
}

/// The rows as (label, the rest).
fn rows(v: &Value) -> Vec<(String, Vec<Value>)> {
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let r = r.as_array().unwrap();
            (r[0].as_str().unwrap().to_owned(), r[1..].to_vec())
        })
        .collect()
}

fn col(v: &Value, key: &str) -> usize {
    v["columns"]
        .as_array()
        .unwrap()
        .iter()
        .position(|c| c["key"] == key)
        .unwrap_or_else(|| panic!("no column {key} in {}", v["columns"]))
}

fn cell<'a>(v: &'a Value, label: &str, key: &str) -> &'a Value {
    let i = col(v, key);
    let row = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r[0] == label)
        .unwrap_or_else(|| panic!("no row {label} in {}", v["rows"]));
    &row[i]
}

fn counts(v: &Value, key: &str) -> Vec<(String, i64)> {
    let i = col(v, key);
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_str().unwrap().to_owned(), r[i].as_i64().unwrap()))
        .collect()
}

/// A percentile read from the buckets is within the documented bound of the exact one.
fn near(got: &Value, want: f64) {
    let got = got
        .as_f64()
        .unwrap_or_else(|| panic!("{got} is not a number"));
    assert!(
        (got - want).abs() <= want * PERCENTILE_ERROR + 0.5,
        "{got} is not within {PERCENTILE_ERROR} of {want}"
    );
}

async fn every_report_matches_the_hand_counts(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let k = known(&app).await;
    let r = range(&k);
    let day = |i: i64| day_label(k.d0 + i);

    // Sessions: by day (S7 open, counted live), channel, agent, status, channel kind.
    let v = report(&app, &format!("/api/v1/reports/sessions?{r}")).await;
    assert_eq!(v["kind"], "sessions");
    assert_eq!(
        counts(&v, "sessions"),
        vec![(day(0), 2), (day(1), 2), (day(2), 3)]
    );
    let v = report(
        &app,
        &format!("/api/v1/reports/sessions?{r}&group_by=channel"),
    )
    .await;
    assert_eq!(
        counts(&v, "sessions"),
        vec![("Chat line".into(), 2), (k.sms.name.clone(), 5)]
    );
    let v = report(
        &app,
        &format!("/api/v1/reports/sessions?{r}&group_by=agent"),
    )
    .await;
    assert_eq!(
        counts(&v, "sessions"),
        vec![("Ann".into(), 3), ("Bob".into(), 2), ("none".into(), 2)]
    );
    let v = report(
        &app,
        &format!("/api/v1/reports/sessions?{r}&group_by=status"),
    )
    .await;
    assert_eq!(
        counts(&v, "sessions"),
        vec![
            ("active".into(), 1),
            ("ended".into(), 5),
            ("error".into(), 1)
        ]
    );
    let v = report(
        &app,
        &format!("/api/v1/reports/sessions?{r}&group_by=channel_kind"),
    )
    .await;
    assert_eq!(counts(&v, "sessions"), vec![("sms".into(), 7)]);
    let v = report(
        &app,
        &format!("/api/v1/reports/sessions?{r}&group_by=queue"),
    )
    .await;
    assert_eq!(
        counts(&v, "sessions"),
        vec![("Support".into(), 6), ("none".into(), 1)]
    );
    // Filters: one channel, one agent, a narrower range.
    let v = report(
        &app,
        &format!("/api/v1/reports/sessions?{r}&channel_id={}", k.chat.id),
    )
    .await;
    assert_eq!(
        counts(&v, "sessions"),
        vec![(day(0), 1), (day(1), 0), (day(2), 1)]
    );
    let v = report(
        &app,
        &format!(
            "/api/v1/reports/sessions?{r}&group_by=status&agent_id={}",
            k.ann.id
        ),
    )
    .await;
    assert_eq!(
        counts(&v, "sessions"),
        vec![("active".into(), 1), ("ended".into(), 2)]
    );
    let v = report(
        &app,
        &format!(
            "/api/v1/reports/sessions?from={}&to={}&queue_id={}",
            day(1),
            day(1),
            k.support.id
        ),
    )
    .await;
    assert_eq!(counts(&v, "sessions"), vec![(day(1), 1)]);

    // Session times by day. Day 0: waits 10 s and 30 s; first answers 30 s and 20 s; handling
    // 590 s and 300 s; messages 5 and 2. Nearest rank: p50 is the 1st of 2, p90 the 2nd.
    let v = report(&app, &format!("/api/v1/reports/session_times?{r}")).await;
    let d = day(0);
    assert_eq!(cell(&v, &d, "sessions"), 2);
    assert_eq!(cell(&v, &d, "wait_count"), 2);
    assert_eq!(cell(&v, &d, "wait_mean").as_f64(), Some(20_000.0));
    near(cell(&v, &d, "wait_p50"), 10_000.0);
    near(cell(&v, &d, "wait_p90"), 30_000.0);
    near(cell(&v, &d, "wait_p99"), 30_000.0);
    assert_eq!(cell(&v, &d, "first_response_mean").as_f64(), Some(25_000.0));
    near(cell(&v, &d, "first_response_p50"), 20_000.0);
    near(cell(&v, &d, "first_response_p90"), 30_000.0);
    assert_eq!(cell(&v, &d, "handle_mean").as_f64(), Some(445_000.0));
    near(cell(&v, &d, "handle_p50"), 300_000.0);
    near(cell(&v, &d, "handle_p99"), 590_000.0);
    assert_eq!(cell(&v, &d, "messages_mean").as_f64(), Some(3.5));
    assert_eq!(cell(&v, &d, "messages_p50"), 2);
    assert_eq!(cell(&v, &d, "messages_p90"), 5);
    // Day 1: S3 (accepted) and S4 (the bot's, never accepted: no wait, no handle time).
    let d = day(1);
    assert_eq!(cell(&v, &d, "sessions"), 2);
    assert_eq!(cell(&v, &d, "wait_count"), 1);
    near(cell(&v, &d, "wait_p50"), 60_000.0);
    near(cell(&v, &d, "handle_p90"), 1_140_000.0);
    assert_eq!(cell(&v, &d, "messages_mean").as_f64(), Some(5.0));
    // By agent: Ann's S1 and S3, Bob's S2 and S5 (60 s handled).
    let v = report(
        &app,
        &format!("/api/v1/reports/session_times?{r}&group_by=agent"),
    )
    .await;
    assert_eq!(cell(&v, "Ann", "handle_mean").as_f64(), Some(865_000.0));
    assert_eq!(cell(&v, "Bob", "handle_mean").as_f64(), Some(180_000.0));
    near(cell(&v, "Bob", "handle_p50"), 60_000.0);
    near(cell(&v, "Bob", "first_response_p90"), 30_000.0);
    assert_eq!(cell(&v, "none", "wait_count"), 0);
    assert_eq!(cell(&v, "none", "wait_p50"), &Value::Null);

    // Bots: S4 contained on day 1, S5 handed off on day 2.
    let v = report(&app, &format!("/api/v1/reports/bots?{r}")).await;
    assert_eq!(cell(&v, &day(0), "bot_sessions"), 0);
    assert_eq!(cell(&v, &day(0), "containment_rate"), &Value::Null);
    assert_eq!(cell(&v, &day(1), "contained"), 1);
    assert_eq!(cell(&v, &day(1), "containment_rate").as_f64(), Some(1.0));
    assert_eq!(cell(&v, &day(2), "handed_off"), 1);
    assert_eq!(cell(&v, &day(2), "hand_off_rate").as_f64(), Some(1.0));
    let v = report(
        &app,
        &format!("/api/v1/reports/bots?{r}&group_by=channel_kind"),
    )
    .await;
    assert_eq!(cell(&v, "sms", "bot_sessions"), 2);
    assert_eq!(cell(&v, "sms", "containment_rate").as_f64(), Some(0.5));

    // Consent by channel (default), by source, by day.
    let v = report(&app, &format!("/api/v1/reports/consent?{r}")).await;
    assert_eq!(cell(&v, &k.sms.name, "changes"), 2);
    assert_eq!(cell(&v, &k.sms.name, "opted_out"), 1);
    assert_eq!(cell(&v, &k.sms.name, "explicitly_opted_in"), 1);
    assert_eq!(cell(&v, "Chat line", "implicitly_opted_in"), 1);
    assert_eq!(cell(&v, "Chat line", "opted_out"), 0);
    let v = report(
        &app,
        &format!("/api/v1/reports/consent?{r}&group_by=source"),
    )
    .await;
    assert_eq!(
        counts(&v, "changes"),
        vec![("inbound".into(), 1), ("keyword".into(), 2)]
    );
    let v = report(&app, &format!("/api/v1/reports/consent?{r}&group_by=day")).await;
    assert_eq!(
        counts(&v, "changes"),
        vec![(day(0), 2), (day(1), 1), (day(2), 0)]
    );

    // Delivery errors by code (default), provider code, channel.
    let v = report(&app, &format!("/api/v1/reports/delivery_errors?{r}")).await;
    assert_eq!(
        counts(&v, "errors"),
        vec![("21610".into(), 2), ("30003".into(), 1)]
    );
    assert_eq!(cell(&v, "21610", "outbound"), 2);
    assert_eq!(cell(&v, "21610", "inbound"), 0);
    let v = report(
        &app,
        &format!("/api/v1/reports/delivery_errors?{r}&group_by=provider_code"),
    )
    .await;
    assert_eq!(
        counts(&v, "errors"),
        vec![("30003".into(), 1), ("30007".into(), 1), ("none".into(), 1)]
    );
    let v = report(
        &app,
        &format!("/api/v1/reports/delivery_errors?{r}&group_by=channel"),
    )
    .await;
    assert_eq!(
        counts(&v, "errors"),
        vec![("Chat line".into(), 1), (k.sms.name.clone(), 2)]
    );

    // Agent activity: Ann finished S1 and S3; available 60 + 15 min, busy 30 min, on a break
    // 14 h (09:30 to 23:30) plus 15 min on day 0 and 15 min on day 1.
    let v = report(&app, &format!("/api/v1/reports/agent_activity?{r}")).await;
    assert_eq!(cell(&v, "Ann", "sessions"), 2);
    assert_eq!(cell(&v, "Ann", "handle_mean").as_f64(), Some(865_000.0));
    near(cell(&v, "Ann", "handle_p50"), 590_000.0);
    near(cell(&v, "Ann", "handle_p90"), 1_140_000.0);
    assert_eq!(cell(&v, "Ann", "available_ms"), 75 * MIN);
    assert_eq!(cell(&v, "Ann", "busy_ms"), 30 * MIN);
    assert_eq!(cell(&v, "Ann", "on_break_ms"), 14 * 60 * MIN + 30 * MIN);
    assert_eq!(cell(&v, "Bob", "sessions"), 2);
    assert_eq!(cell(&v, "Bob", "available_ms"), 0);
    assert!(rows(&v).iter().all(|(l, _)| l != "none"), "{v}");
    let v = report(
        &app,
        &format!(
            "/api/v1/reports/agent_activity?{r}&group_by=day&agent_id={}",
            k.ann.id
        ),
    )
    .await;
    assert_eq!(cell(&v, &day(0), "on_break_ms"), 14 * 60 * MIN + 15 * MIN);
    assert_eq!(cell(&v, &day(1), "on_break_ms"), 15 * MIN);
    assert_eq!(cell(&v, &day(1), "sessions"), 1);
    let _ = &k.bob;

    // Campaigns: a draft made today shows with its name, content and an empty funnel.
    let (s, seg) = parley_testkit::status_and_json(
        app.req(Method::POST, "/api/v1/segments")
            .json(&serde_json::json!({"name": "Everyone", "filter": {"all": []}})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{seg}");
    let (s, c) = parley_testkit::status_and_json(app.req(Method::POST, "/api/v1/campaigns").json(
        &serde_json::json!({
            "name": "Spring sale",
            "kind": "marketing",
            "senders": [k.sms.id],
            "audience": {"kind": "segment", "segment_id": seg["id"]},
            "content": {"text": "20% off this week"},
        }),
    ))
    .await;
    if s == StatusCode::CREATED {
        let today = day_label(day_of(SystemClock.now()));
        let v = report(
            &app,
            &format!("/api/v1/reports/campaigns?from={today}&to={today}"),
        )
        .await;
        assert_eq!(cell(&v, "Spring sale", "kind"), "marketing");
        assert_eq!(cell(&v, "Spring sale", "content"), "20% off this week");
        assert_eq!(cell(&v, "Spring sale", "sent"), 0);
        let v = report(&app, &format!("/api/v1/reports/campaigns?{r}")).await;
        assert!(rows(&v).is_empty(), "made today, not ten days ago: {v}");
    } else {
        panic!("the campaign draft was refused: {s} {c}");
    }
}

/// The CSV of a report is its JSON: the header the column keys, each line a row.
async fn csv_exports_match_the_json(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let k = known(&app).await;
    let r = range(&k);
    for kind in [
        "sessions",
        "session_times",
        "consent",
        "delivery_errors",
        "bots",
        "agent_activity",
    ] {
        let v = report(&app, &format!("/api/v1/reports/{kind}?{r}")).await;
        let res = app
            .req(
                Method::GET,
                &format!("/api/v1/reports/{kind}/export.csv?{r}"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv")
        );
        let text = res.text().await.unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_owned)
            .collect();
        let keys: Vec<String> = v["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["key"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(header, keys, "{kind}");
        // Numbers compare as numbers (JSON writes 2.0 where CSV writes 2).
        let norm = |s: &str| {
            s.parse::<f64>()
                .map_or_else(|_| s.to_owned(), |f| f.to_string())
        };
        let lines: Vec<Vec<String>> = reader
            .records()
            .map(|r| r.unwrap().iter().map(norm).collect())
            .collect();
        let json_rows: Vec<Vec<String>> = v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| {
                row.as_array()
                    .unwrap()
                    .iter()
                    .map(|c| match c {
                        Value::Null => String::new(),
                        Value::String(s) => s.clone(),
                        other => norm(&other.to_string()),
                    })
                    .collect()
            })
            .collect();
        assert_eq!(lines, json_rows, "{kind}");
    }

    // The raw export: one line per session started in the range, oldest first.
    let res = app
        .req(
            Method::GET,
            &format!("/api/v1/reports/sessions/rows.csv?{r}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        parley_server::api::reports::SESSION_ROWS_HEADER.to_vec()
    );
    let lines: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(lines.len(), 7);
    let first = &lines[0];
    assert_eq!(&first[3], k.sms.name.as_str());
    assert_eq!(&first[4], "Support");
    assert_eq!(&first[5], "Ann");
    assert_eq!(&first[6], "ended");
    assert_eq!(&first[8], "10000");
    assert_eq!(&first[9], "590000");
    assert_eq!(&first[10], "2");
    assert_eq!(&first[11], "3");
    assert!(!text.contains("+1555"), "no customer address in the export");
    let open = &lines[6];
    assert_eq!(&open[6], "active");
    assert_eq!(&open[2], "");
    // Filtered by agent.
    let text = app
        .req(
            Method::GET,
            &format!(
                "/api/v1/reports/sessions/rows.csv?{r}&agent_id={}",
                k.bob.id
            ),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
}

async fn bad_filters_name_the_field(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let cases = [
        (
            "/api/v1/reports/sessions?from=2026-03-02&to=2026-03-01",
            "from",
        ),
        ("/api/v1/reports/sessions?from=2026-03-32", "from"),
        ("/api/v1/reports/sessions?to=yesterday", "to"),
        (
            "/api/v1/reports/sessions?from=2024-01-01&to=2026-01-01",
            "to",
        ),
        ("/api/v1/reports/sessions?group_by=error_code", "group_by"),
        ("/api/v1/reports/sessions?group_by=planet", "group_by"),
        ("/api/v1/reports/campaigns?group_by=day", "group_by"),
        ("/api/v1/reports/sessions?channel_id=42", "channel_id"),
        ("/api/v1/reports/sessions?context=sales", "context"),
        (
            "/api/v1/reports/sessions/rows.csv?from=2026-03-02&to=2026-03-01",
            "from",
        ),
        ("/api/v1/reports/bots/export.csv?agent_id=x", "agent_id"),
    ];
    for (path, field) in cases {
        let (s, v) = parley_testkit::status_and_json(app.req(Method::GET, path)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {v}");
        let message = v["message"].as_str().unwrap_or_default();
        assert!(message.starts_with(&format!("{field}:")), "{path}: {v}");
    }
    let (s, _) =
        parley_testkit::status_and_json(app.req(Method::GET, "/api/v1/reports/weather")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // A messaging agent has neither supervise nor manage_campaigns.
    let token = TestApp::token_for(&app.db, TokenRole::Agent).await;
    let res = app
        .client
        .get(format!("{}/api/v1/reports/sessions", app.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

/// This process's anonymous resident memory in kB (`RssAnon`): the heap and stacks, without
/// the database file's pages SQLite maps into memory (those are the file, not what the export
/// holds).
fn anon_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// How many sessions the bounded-memory export writes (1,000,000 unless
/// `PARLEY_EXPORT_ROWS` says otherwise).
fn export_rows() -> u64 {
    std::env::var("PARLEY_EXPORT_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// A million sessions leave as CSV while this process's anonymous memory, sampled at every chunk
/// the client reads, stays within a bound the file itself exceeds: an export that gathered its
/// rows (or the file) before sending would hold them when the first chunk arrives, and fail.
///
/// The measure is the whole process's, so the test runs alone in a process of its own: this
/// test binary again, filtered to this one test (`PARLEY_MEASURE_ALONE` set). Beside the other
/// tests of the binary, their servers' and browsers' work counted too (up to 80 MB seen).
async fn a_million_sessions_export_in_bounded_memory(b: TestBackend) {
    if std::env::var_os("PARLEY_MEASURE_ALONE").is_none() {
        let name = format!(
            "reports::{}::a_million_sessions_export_in_bounded_memory",
            format!("{b:?}").to_lowercase()
        );
        let out = tokio::process::Command::new(std::env::current_exe().unwrap())
            .args([name.as_str(), "--exact", "--nocapture", "--test-threads=1"])
            .env("PARLEY_MEASURE_ALONE", "1")
            .kill_on_drop(true)
            .output()
            .await
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "run alone, it failed:\n{text}");
        assert!(text.contains(" 1 passed;"), "it did not run alone:\n{text}");
        if let Some(line) = text.lines().find(|l| l.starts_with("exported ")) {
            eprintln!("{line}");
        }
        return;
    }
    let app = TestApp::spawn(b).await;
    let store = &app.db.store;
    let n = export_rows();
    let channel = build::channel(store, &build::simulator_sms(), SystemClock.now()).await;
    let since = Timestamp(SystemClock.now().millis() - 2 * DAY_MS);
    store
        .bulk_load(&BulkLoad::new(channel.id, n, 0, since, 50_000), |_, _| {})
        .await
        .unwrap();
    let today = day_label(day_of(SystemClock.now()));
    let from = day_label(day_of(since));
    let bound_kb: u64 = 64 * 1024;
    let before = anon_kb();
    let mut peak = before;
    let mut res = app
        .req(
            Method::GET,
            &format!("/api/v1/reports/sessions/rows.csv?from={from}&to={today}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let (mut bytes, mut lines) = (0u64, 0u64);
    while let Some(chunk) = res.chunk().await.unwrap() {
        bytes += chunk.len() as u64;
        lines += chunk.iter().filter(|c| **c == b'\n').count() as u64;
        peak = peak.max(anon_kb());
    }
    let grown = peak.saturating_sub(before);
    assert_eq!(lines, n + 1, "a header and a line per session");
    eprintln!("exported {n} sessions, {bytes} bytes; anonymous memory grew {grown} kB at most");
    if n >= 1_000_000 {
        assert!(bytes / 1024 > bound_kb, "the file outweighs the bound");
    }
    assert!(
        grown < bound_kb,
        "memory grew {grown} kB exporting {bytes} bytes"
    );
}

parley_store::on_both_backends!(
    every_report_matches_the_hand_counts,
    csv_exports_match_the_json,
    bad_filters_name_the_field,
    a_million_sessions_export_in_bounded_memory,
);
