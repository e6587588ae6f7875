//! Sender limits (issue 18) end to end through the real server, its dispatcher and the
//! simulator, on both databases: a long code reaches its monthly volume and its ratio, and each
//! action happens (warn: sent and shown as reached; hold: held, then released and sent, or
//! cancelled; refuse: failed with 0005 and `sender_limit:<limit>` beside it); inbound messages
//! open room under the ratio; the configuration is checked per kind; only `configure_messaging`
//! reads or changes it.

use parley_core::model::*;
use parley_core::{Clock, SystemClock};
use parley_engine::EngineConfig;
use parley_server::ServerConfig;
use parley_store::testing::TestBackend;
use parley_store::*;
use parley_testkit::{build, status_and_json};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{TestApp, eventually};

const CUSTOMER: &str = "+14155550123";

async fn app_with_long_code(b: TestBackend) -> (TestApp, Channel) {
    let app = TestApp::spawn_full(
        b,
        ServerConfig {
            simulator: true,
            ..ServerConfig::default()
        },
        EngineConfig::default(),
    )
    .await;
    let channel = build::channel(
        &app.db.store,
        &ChannelSpec {
            name: "Sim".into(),
            number_type: Some(NumberType::LongCode),
            throughput_mps: Some(100),
            country: Some("US".into()),
            ..build::simulator_sms()
        },
        SystemClock.now(),
    )
    .await;
    (app, channel)
}

async fn session(app: &TestApp, channel: &Channel) -> Session {
    let s = &app.db.store;
    let now = SystemClock.now();
    let user = s
        .create_messaging_user(
            &build::new_user(channel.id, CUSTOMER, Some(ConsentStatus::ImplicitlyOptedIn)),
            &build::origin(ConsentSource::Inbound, "test customer"),
            now,
        )
        .await
        .unwrap();
    s.create_session(
        &build::new_session(channel.id, user.id, SessionStatus::Active),
        now,
    )
    .await
    .unwrap()
}

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
    status_and_json(r).await
}

async fn set_limits(app: &TestApp, channel: Uuid, body: Value) -> Value {
    let (status, v) = call(
        app,
        Method::PUT,
        &format!("/api/v1/channels/{channel}/limits"),
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v
}

async fn send(app: &TestApp, session: Uuid, text: &str) -> Uuid {
    let (status, v) = call(
        app,
        Method::POST,
        &format!("/api/v1/sessions/{session}/messages"),
        Some(json!({"body": text})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v["id"].as_str().unwrap().parse().unwrap()
}

/// Waits until the entry satisfies `done`.
async fn entry_until(app: &TestApp, id: Uuid, what: &str, done: impl Fn(&Entry) -> bool) -> Entry {
    let s = app.db.store.clone();
    eventually(&app.events, what, || {
        let s = s.clone();
        let done = &done;
        async move { s.entry(id).await.ok().filter(|e| done(e)) }
    })
    .await
}

fn limit<'a>(view: &'a Value, name: &str) -> &'a Value {
    view["limits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["limit"] == name)
        .unwrap_or_else(|| panic!("no {name} in {view}"))
}

async fn limits(app: &TestApp, channel: Uuid) -> Value {
    app.get_json(&format!("/api/v1/channels/{channel}/limits"))
        .await
}

async fn a_long_code_reaches_its_limits(b: TestBackend) {
    let (app, channel) = app_with_long_code(b).await;
    let session = session(&app, &channel).await;

    // Defaults of a long code: 1 message per second unless set, the ratio and 15,000 a month.
    let v = limits(&app, channel.id).await;
    assert_eq!(v["throughput_mps"], 100);
    assert_eq!(limit(&v, "monthly_volume")["max"], 15_000);
    assert_eq!(limit(&v, "outbound_ratio")["max"], 50);
    assert_eq!(limit(&v, "outbound_ratio")["window"], "rolling_30_days");
    assert_eq!(limit(&v, "monthly_volume")["state"], "ok");

    // warn: over the volume, still sent, and the limit shows as reached.
    set_limits(
        &app,
        channel.id,
        json!({"action": "warn", "monthly_volume": 2}),
    )
    .await;
    for n in 1..=3 {
        let id = send(&app, session.id, &format!("warned {n}")).await;
        entry_until(&app, id, "a warned message delivered", |e| {
            e.status == EntryStatus::Delivered
        })
        .await;
    }
    let v = limits(&app, channel.id).await;
    let volume = limit(&v, "monthly_volume");
    assert_eq!(volume["used"], 3, "{v}");
    assert_eq!(volume["max"], 2);
    assert_eq!(volume["state"], "reached");
    assert_eq!(volume["action"], "warn");

    // hold: kept queued and listed, then released by an admin and sent.
    set_limits(
        &app,
        channel.id,
        json!({"action": "hold", "monthly_volume": 2}),
    )
    .await;
    let held = send(&app, session.id, "held").await;
    let e = entry_until(&app, held, "the message held", |e| {
        e.provider_error
            .as_deref()
            .is_some_and(|p| p.contains("held for review"))
    })
    .await;
    assert_eq!(e.status, EntryStatus::Queued);
    assert!(
        e.provider_error
            .as_deref()
            .unwrap()
            .contains("sender_limit:monthly_volume")
    );
    let v = limits(&app, channel.id).await;
    assert_eq!(v["held"][0]["entry_id"], held.to_string(), "{v}");
    assert_eq!(v["held"][0]["limit"], "monthly_volume");
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/api/v1/sender-holds/{held}/release"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    entry_until(&app, held, "the released message delivered", |e| {
        e.status == EntryStatus::Delivered
    })
    .await;
    assert!(
        limits(&app, channel.id).await["held"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // Released once; a second release finds nothing held.
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/api/v1/sender-holds/{held}/release"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A held message cancelled by an admin fails.
    let cancelled = send(&app, session.id, "cancelled").await;
    entry_until(&app, cancelled, "the second message held", |e| {
        e.provider_error
            .as_deref()
            .is_some_and(|p| p.contains("held for review"))
    })
    .await;
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/api/v1/sender-holds/{cancelled}/cancel"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let e = app.db.store.entry(cancelled).await.unwrap();
    assert_eq!(e.status, EntryStatus::Failed);
    assert_eq!(e.error_code.as_deref(), Some("0005"));

    // refuse: failed with the catalogue code, the limit kept beside it.
    set_limits(
        &app,
        channel.id,
        json!({"action": "refuse", "monthly_volume": 2}),
    )
    .await;
    let refused = send(&app, session.id, "refused").await;
    let e = entry_until(&app, refused, "the message refused", |e| {
        e.status == EntryStatus::Failed
    })
    .await;
    assert_eq!(e.error_code.as_deref(), Some("0005"));
    assert!(
        e.provider_error
            .as_deref()
            .unwrap()
            .contains("sender_limit:monthly_volume"),
        "{e:?}"
    );

    // The ratio: no allowance and no inbound yet, so nothing goes; two answers from the
    // customer open room for six messages in all (3:1), four of which were sent already.
    set_limits(
        &app,
        channel.id,
        json!({"action": "refuse", "ratio_allowance": 0}),
    )
    .await;
    let refused = send(&app, session.id, "nobody answered").await;
    let e = entry_until(&app, refused, "the ratio refusal", |e| {
        e.status == EntryStatus::Failed
    })
    .await;
    assert!(
        e.provider_error
            .as_deref()
            .unwrap()
            .contains("sender_limit:outbound_ratio"),
        "{e:?}"
    );
    for text in ["hi", "are you there"] {
        let r = app
            .anon(Method::POST, "/simulator/inbound")
            .json(&json!({"channel": "Sim", "from": CUSTOMER, "text": text}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
    }
    let store = app.db.store.clone();
    let channel_id = channel.id;
    eventually(&app.events, "two inbound messages counted", || {
        let store = store.clone();
        async move {
            let u = store
                .sender_usage(channel_id, SystemClock.now(), false)
                .await
                .unwrap();
            (u.ratio_inbound == 2).then_some(())
        }
    })
    .await;
    let v = set_limits(
        &app,
        channel.id,
        json!({"action": "refuse", "ratio_allowance": 0}),
    )
    .await;
    assert_eq!(limit(&v, "outbound_ratio")["max"], 6, "{v}");
    assert_eq!(limit(&v, "outbound_ratio")["used"], 4, "{v}");
    let sent = send(&app, session.id, "thanks for answering").await;
    entry_until(&app, sent, "a message sent under the ratio", |e| {
        e.status == EntryStatus::Delivered
    })
    .await;

    // The list of every channel, and the gauges.
    let all = app.get_json("/api/v1/sender-limits").await;
    assert!(
        all["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["channel_id"] == channel.id.to_string())
    );
}

async fn limits_are_checked_and_guarded(b: TestBackend) {
    let (app, channel) = app_with_long_code(b).await;
    let path = format!("/api/v1/channels/{}/limits", channel.id);
    for (body, field) in [
        (json!({"messaging_tier": "250"}), "messaging_tier"),
        (json!({"max_ratio": 0}), "max_ratio"),
        (json!({"action": "shout"}), "action"),
        (json!({"warn_at_percent": 0}), "warn_at_percent"),
        (json!({"monthly_volume": 0}), "monthly_volume"),
    ] {
        let (status, v) = call(&app, Method::PUT, &path, Some(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert!(v.to_string().contains(field), "{field}: {v}");
    }
    let (status, _) = call(&app, Method::PUT, &path, Some(json!({"nope": 1}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = call(
        &app,
        Method::GET,
        &format!("/api/v1/channels/{}/limits", Uuid::now_v7()),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let agent = TestApp::token_for(&app.db, TokenRole::Agent).await;
    for (method, p) in [
        (Method::GET, path.clone()),
        (Method::GET, "/api/v1/sender-limits".to_owned()),
    ] {
        let r = app
            .client
            .request(method, format!("{}{p}", app.base))
            .bearer_auth(&agent)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{p}");
    }
    let r = app
        .client
        .put(format!("{}{path}", app.base))
        .bearer_auth(&agent)
        .json(&json!({"action": "hold"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

/// Campaigns send from toll-free numbers and short codes only (BC-02).
async fn toll_free(app: &TestApp, name: &str, address: &str) -> Channel {
    build::channel(
        &app.db.store,
        &ChannelSpec {
            name: name.into(),
            address: address.into(),
            number_type: Some(NumberType::TollFree),
            throughput_mps: Some(100),
            country: Some("US".into()),
            ..build::simulator_sms()
        },
        SystemClock.now(),
    )
    .await
}

/// Sent messages the simulator recorded from `from` to `to`.
async fn sent_from(app: &TestApp, to: &str, from: &str) -> usize {
    let path = format!("/simulator/messages?to={}", to.replace('+', "%2B"));
    let v: Value = app
        .anon(Method::GET, &path)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .filter(|m| m["direction"] == "outbound" && m["from"] == from)
        .count()
}

async fn start_campaign(app: &TestApp, name: &str, senders: &[Uuid], segment: &str) -> String {
    let (status, c) = call(
        app,
        Method::POST,
        "/api/v1/campaigns",
        Some(json!({
            "name": name,
            "kind": "marketing",
            "senders": senders,
            "audience": {"kind": "segment", "segment_id": segment},
            "content": {"text": "The shop opens at nine.", "fallbacks": {}},
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    let id = c["id"].as_str().unwrap().to_owned();
    let (status, started) = call(
        app,
        Method::POST,
        &format!("/api/v1/campaigns/{id}/start"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{started}");
    id
}

async fn a_campaign_spreads_then_pauses_at_the_limits(b: TestBackend) {
    let (app, _) = app_with_long_code(b).await;
    let first = toll_free(&app, "First", "+18885550111").await;
    let second = toll_free(&app, "Second", "+18885550112").await;
    let customers = ["+14155550201", "+14155550202", "+14155550203"];
    for channel in [&first, &second] {
        for key in customers {
            build::user(
                &app.db.store,
                &build::new_user(channel.id, key, Some(ConsentStatus::ExplicitlyOptedIn)),
                &build::origin(ConsentSource::Import, "test"),
                SystemClock.now(),
            )
            .await;
        }
    }
    // The first sender is at its daily cap already; the second has room for three.
    set_limits(&app, first.id, json!({"action": "refuse", "daily_cap": 1})).await;
    set_limits(&app, second.id, json!({"action": "refuse", "daily_cap": 3})).await;
    let mut used = parley_store::sender_limits::SenderCharges::default();
    used.charge(first.id, None, SystemClock.now());
    app.db
        .store
        .commit_outbox_with(&[], &[], &used, "test", SystemClock.now())
        .await
        .unwrap();
    let (status, seg) = call(
        &app,
        Method::POST,
        "/api/v1/segments",
        Some(json!({"name": "Everyone", "filter": {"all": []}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{seg}");
    let segment = seg["id"].as_str().unwrap().to_owned();

    // Every recipient goes through the second sender.
    start_campaign(&app, "Opening hours", &[first.id, second.id], &segment).await;
    for to in customers {
        let app = &app;
        let from = second.address.as_str();
        eventually(
            &app.events,
            "the message through the second sender",
            || async move { (sent_from(app, to, from).await == 1).then_some(()) },
        )
        .await;
        assert_eq!(sent_from(app, to, &first.address).await, 0, "{to}");
    }

    // Both senders at their limit now: the next campaign pauses with the reason.
    let store = app.db.store.clone();
    let second_id = second.id;
    eventually(
        &app.events,
        "the second sender's three messages counted",
        || {
            let store = store.clone();
            async move {
                let u = store
                    .sender_usage(second_id, SystemClock.now(), false)
                    .await
                    .unwrap();
                (u.day_outbound == 3).then_some(())
            }
        },
    )
    .await;
    let id = start_campaign(&app, "Closing hours", &[first.id, second.id], &segment).await;
    let path = format!("/api/v1/campaigns/{id}");
    let paused = eventually(&app.events, "the campaign paused", || {
        let app = &app;
        let path = path.clone();
        async move {
            let c = app.get_json(&path).await;
            (c["state"] == "paused").then_some(c)
        }
    })
    .await;
    let reason = paused["paused_reason"].as_str().unwrap_or_default();
    assert!(reason.contains("every sender is at a limit"), "{paused}");
    assert!(
        reason.contains("First (sender_limit:daily_cap)"),
        "{reason}"
    );
    assert!(
        reason.contains("Second (sender_limit:daily_cap)"),
        "{reason}"
    );
    for to in customers {
        assert_eq!(sent_from(&app, to, &first.address).await, 0);
        assert_eq!(sent_from(&app, to, &second.address).await, 1);
    }
}

/// CH-36: 20 WhatsApp numbers per Meta business account, 250 templates per WhatsApp business
/// account, both refused with 422 by the service functions.
async fn whatsapp_account_caps(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let now = SystemClock.now();
    let wa = |n: usize| {
        json!({
            "name": format!("WA {n}"), "kind": "whatsapp", "provider": "meta",
            "address": format!("+1415555{n:04}"),
            "settings": {"api_version": "v21.0", "phone_number_id": format!("10654035224{n:04}"),
                         "business_id": "biz-1", "waba_id": "waba-1"},
            "secrets": {"access_token": "EAAG", "app_secret": "s"}
        })
    };
    let mut first = None;
    for n in 0..20 {
        let (status, v) = call(&app, Method::POST, "/api/v1/channels", Some(wa(n))).await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        first.get_or_insert(v["id"].as_str().unwrap().parse::<Uuid>().unwrap());
    }
    let (status, v) = call(&app, Method::POST, "/api/v1/channels", Some(wa(20))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("settings.business_id"),
        "{v}"
    );
    // Another business account is not counted with it.
    let mut other = wa(21);
    other["settings"]["business_id"] = json!("biz-2");
    let (status, v) = call(&app, Method::POST, "/api/v1/channels", Some(other)).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");

    let channel = first.unwrap();
    for n in 0..250 {
        app.db
            .store
            .create_template(
                &TemplateSpec {
                    channel_id: channel,
                    name: format!("t{n}"),
                    language: "en_US".into(),
                    category: TemplateCategory::Utility,
                    status: TemplateStatus::Approved,
                    body: "Hello".into(),
                    components: json!([]),
                },
                now,
            )
            .await
            .unwrap();
    }
    // The account's other number shares the 250.
    let (status, all) = call(&app, Method::GET, "/api/v1/channels?limit=100", None).await;
    assert_eq!(status, StatusCode::OK);
    let sibling = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "WA 1")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, v) = call(
        &app,
        Method::POST,
        &format!("/api/v1/channels/{sibling}/templates"),
        Some(
            json!({"name": "one_more", "language": "en_US", "category": "utility",
                    "status": "approved", "body": "Hi"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["message"].as_str().unwrap().contains("waba-1"), "{v}");
}

/// The console's limits view in headless Chromium (`tests/browser/sender-limits.mjs`): a long
/// code over its monthly volume shows as reached, and a held message is released from the page.
/// Screenshots go to `PARLEY_SHOTS` when set.
async fn limits_view_in_a_real_browser(b: TestBackend) {
    let (app, channel) = app_with_long_code(b).await;
    let session = session(&app, &channel).await;
    set_limits(
        &app,
        channel.id,
        json!({"action": "warn", "monthly_volume": 2}),
    )
    .await;
    for n in 1..=3 {
        let id = send(&app, session.id, &format!("warned {n}")).await;
        entry_until(&app, id, "a warned message delivered", |e| {
            e.status == EntryStatus::Delivered
        })
        .await;
    }
    set_limits(
        &app,
        channel.id,
        json!({"action": "hold", "monthly_volume": 2}),
    )
    .await;
    let held = send(&app, session.id, "held <b>for</b> review").await;
    entry_until(&app, held, "the message held", |e| {
        e.provider_error
            .as_deref()
            .is_some_and(|p| p.contains("held for review"))
    })
    .await;
    let admin = app
        .agent_with_password(
            &build::agent_spec("Ada", AgentRole::Admin, 3, Vec::new()),
            crate::console::PASSWORD,
        )
        .await;
    let shots = std::env::var_os("PARLEY_SHOTS")
        .map_or_else(crate::browser::tempfile_dir, std::path::PathBuf::from);
    crate::browser::run_scenario(
        "sender-limits.mjs",
        &[
            format!("--url={}", app.base),
            format!("--admin={}:{}", admin.email, crate::console::PASSWORD),
            format!("--held={held}"),
            format!("--shots={}", shots.display()),
        ],
        std::time::Duration::from_secs(120),
    )
    .await;
    entry_until(&app, held, "the released message delivered", |e| {
        e.status == EntryStatus::Delivered
    })
    .await;
}

async fn simulator_app(b: TestBackend) -> TestApp {
    TestApp::spawn_full(
        b,
        ServerConfig {
            simulator: true,
            ..ServerConfig::default()
        },
        EngineConfig::default(),
    )
    .await
}

/// Every entry of `ids` settled (delivered or failed), then those that failed.
async fn settled(app: &TestApp, ids: &[Uuid]) -> Vec<Entry> {
    let s = app.db.store.clone();
    eventually(&app.events, "every message delivered or failed", || {
        let s = s.clone();
        async move {
            let mut failed = Vec::new();
            for id in ids {
                let e = s.entry(*id).await.ok()?;
                match e.status {
                    EntryStatus::Delivered => {}
                    EntryStatus::Failed => failed.push(e),
                    _ => return None,
                }
            }
            Some(failed)
        }
    })
    .await
}

/// CH-36: a WhatsApp number's messaging tier counts the unique customers its business-initiated
/// messages reach in a rolling 24 hours. At tier 250, the 251st new customer is refused (0005,
/// `sender_limit:messaging_tier`); a customer reached already costs nothing more.
async fn a_whatsapp_number_reaches_its_tier(b: TestBackend) {
    let app = simulator_app(b).await;
    let now = SystemClock.now();
    let store = &app.db.store;
    let channel = build::channel(
        store,
        &ChannelSpec {
            name: "WA".into(),
            kind: ChannelKind::Whatsapp,
            number_type: None,
            address: "+14155550199".into(),
            throughput_mps: Some(500),
            ..build::simulator_sms()
        },
        now,
    )
    .await;
    store
        .create_template(
            &TemplateSpec {
                channel_id: channel.id,
                name: "order_update".into(),
                language: "en_US".into(),
                category: TemplateCategory::Utility,
                status: TemplateStatus::Approved,
                body: "Your order has shipped.".into(),
                components: json!([]),
            },
            now,
        )
        .await
        .unwrap();
    set_limits(
        &app,
        channel.id,
        json!({"action": "refuse", "messaging_tier": "250"}),
    )
    .await;
    let template = json!({"template": {"name": "order_update", "language": "en_US"}});
    let mut sessions = Vec::new();
    for n in 0..251 {
        let user = build::user(
            store,
            &build::new_user(
                channel.id,
                &format!("+1415600{n:04}"),
                Some(ConsentStatus::ExplicitlyOptedIn),
            ),
            &build::origin(ConsentSource::Import, "test"),
            now,
        )
        .await;
        let s = build::session(
            store,
            &build::new_session(channel.id, user.id, SessionStatus::Active),
            now,
        )
        .await;
        sessions.push(s.id);
    }
    let mut ids = Vec::new();
    for session in &sessions {
        let (status, v) = call(
            &app,
            Method::POST,
            &format!("/api/v1/sessions/{session}/messages"),
            Some(template.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        ids.push(v["id"].as_str().unwrap().parse().unwrap());
    }
    let failed = settled(&app, &ids).await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].error_code.as_deref(), Some("0005"));
    assert!(
        failed[0]
            .provider_error
            .as_deref()
            .unwrap()
            .contains("sender_limit:messaging_tier"),
        "{:?}",
        failed[0]
    );
    let v = limits(&app, channel.id).await;
    let tier = limit(&v, "messaging_tier");
    assert_eq!(tier["used"], 250, "{v}");
    assert_eq!(tier["max"], 250);
    assert_eq!(tier["state"], "reached");

    // A customer reached already: no new unit of the tier, so it goes.
    let reached = ids
        .iter()
        .position(|id| *id != failed[0].id)
        .map(|i| sessions[i])
        .unwrap();
    let (status, v) = call(
        &app,
        Method::POST,
        &format!("/api/v1/sessions/{reached}/messages"),
        Some(template),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let again: Uuid = v["id"].as_str().unwrap().parse().unwrap();
    assert!(settled(&app, &[again]).await.is_empty());
}

/// CH-35: a Messenger page's daily cap. The customer writes first (Messenger's reply window), the
/// page answers up to its cap, and the next reply that day is refused.
async fn a_messenger_page_reaches_its_daily_cap(b: TestBackend) {
    let app = simulator_app(b).await;
    let now = SystemClock.now();
    let channel = build::channel(
        &app.db.store,
        &ChannelSpec {
            name: "Page".into(),
            kind: ChannelKind::Messenger,
            number_type: None,
            address: "104203817".into(),
            ..build::simulator_sms()
        },
        now,
    )
    .await;
    let psid = "6543210987654321";
    let r = app
        .anon(Method::POST, "/simulator/inbound")
        .json(&json!({"channel": "Page", "from": psid, "text": "hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let store = app.db.store.clone();
    let channel_id = channel.id;
    let session = eventually(&app.events, "the customer's session", || {
        let store = store.clone();
        async move {
            let user = store.messaging_user_by_key(channel_id, psid).await.ok()??;
            store.open_session(user.id).await.ok()?
        }
    })
    .await;
    // Whatever Parley answered by itself counts too: the cap leaves room for one more.
    let view = set_limits(&app, channel.id, json!({"daily_cap": 1000})).await;
    let used = limit(&view, "daily_cap")["used"].as_u64().unwrap();
    set_limits(
        &app,
        channel.id,
        json!({"action": "refuse", "daily_cap": used + 1}),
    )
    .await;
    let sent = send(&app, session.id, "Hi! How can I help?").await;
    assert!(settled(&app, &[sent]).await.is_empty());
    let refused = send(&app, session.id, "Are you still there?").await;
    let failed = settled(&app, &[refused]).await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].error_code.as_deref(), Some("0005"));
    assert!(
        failed[0]
            .provider_error
            .as_deref()
            .unwrap()
            .contains("sender_limit:daily_cap"),
        "{:?}",
        failed[0]
    );
    let v = limits(&app, channel.id).await;
    assert_eq!(limit(&v, "daily_cap")["state"], "reached", "{v}");
}

parley_store::on_both_backends!(
    a_whatsapp_number_reaches_its_tier,
    a_messenger_page_reaches_its_daily_cap,
    limits_view_in_a_real_browser,
    whatsapp_account_caps,
    a_long_code_reaches_its_limits,
    limits_are_checked_and_guarded,
    a_campaign_spreads_then_pauses_at_the_limits,
);
