//! The Reports page and its charts (issue 15) through the real server, on SQLite and PostgreSQL:
//! who may open them (`supervise` or `manage_campaigns`; others get the denied page or a 403,
//! strangers the sign-in form), the chart as a self-contained SVG in the agent's language, and
//! bad filters refused with the field named.

use std::collections::BTreeMap;
use std::path::PathBuf;

use parley_core::model::{
    Actor, AgentRole, ConsentSource, ConsentStatus, Direction, EntryStatus, SessionStatus,
};
use parley_core::reports::{Cell, ReportKind};
use parley_core::{Clock as _, SystemClock, Timestamp};
use parley_store::testing::TestBackend;
use parley_store::{Channel, ChannelSpec};
use parley_testkit::build;
use reqwest::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::console::{Desk, PASSWORD};
use crate::pages::assert_csp_clean;

const MINUTE: i64 = 60_000;
const DAY: i64 = 86_400_000;

/// A second channel whose name is markup, so every place that shows it must escape it.
const PROMO: &str = "Promo & <Shop>";

/// Traffic of the last two weeks, finished sessions (wait, first reply, handle time; some
/// answered by a bot first) on both channels, then customers writing in now on the desk's
/// channel and the promo channel (open sessions, read live by the report). Returns the sessions
/// per channel name over the last 30 days.
async fn traffic(d: &Desk) -> (Channel, BTreeMap<String, i64>) {
    let store = &d.app.db.store;
    let now = SystemClock.now();
    let promo = store
        .create_channel(
            &ChannelSpec {
                name: PROMO.into(),
                address: "+15005550999".into(),
                ..build::simulator_sms()
            },
            now,
        )
        .await
        .unwrap();
    let mut counts = BTreeMap::new();
    let mut n = 0;
    for day in 1..=13_i64 {
        for (channel, per_day) in [(&d.channel, 2 + day % 4), (&promo, day % 3)] {
            for k in 0..per_day {
                n += 1;
                let t0 = Timestamp(now.millis() - day * DAY + k * 37 * MINUTE);
                let key = format!("+1415555{n:04}");
                let user = build::user(
                    store,
                    &build::new_user(channel.id, &key, Some(ConsentStatus::ExplicitlyOptedIn)),
                    &build::origin(ConsentSource::Import, "test"),
                    t0,
                )
                .await;
                let mut new = build::new_session(channel.id, user.id, SessionStatus::Waiting);
                new.queue_id = channel.queue_id;
                let s = build::session(store, &new, t0).await;
                let inbound = build::new_entry(
                    s.id,
                    Direction::Inbound,
                    Actor::Customer,
                    "Where is my parcel?",
                    EntryStatus::Received,
                );
                build::entry(store, &inbound, t0).await;
                let wait = (1 + (n * 7) % 9) * MINUTE / 2;
                if n % 4 == 0 {
                    let bot = build::new_entry(
                        s.id,
                        Direction::Outbound,
                        Actor::Bot,
                        "Your order number?",
                        EntryStatus::Sent,
                    );
                    build::entry(store, &bot, Timestamp(t0.millis() + 5_000)).await;
                }
                let accepted = Timestamp(t0.millis() + wait);
                store
                    .set_session_status(s.id, SessionStatus::Active, None, accepted)
                    .await
                    .unwrap();
                let reply = build::new_entry(
                    s.id,
                    Direction::Outbound,
                    Actor::Agent,
                    "Let me look.",
                    EntryStatus::Delivered,
                );
                build::entry(
                    store,
                    &reply,
                    Timestamp(accepted.millis() + (n % 5 + 1) * 20_000),
                )
                .await;
                let handle = (3 + (n * 5) % 17) * MINUTE;
                store
                    .set_session_status(
                        s.id,
                        SessionStatus::Ended,
                        None,
                        Timestamp(accepted.millis() + handle),
                    )
                    .await
                    .unwrap();
                *counts.entry(channel.name.clone()).or_insert(0) += 1;
            }
        }
    }
    // Notifications the providers refused: delivery errors by code over the days.
    for (i, (code, provider)) in [
        ("2001", "21211"),
        ("3001", "30007"),
        ("2001", "21211"),
        ("0003", "30003"),
        ("2001", "21614"),
        ("3001", "30007"),
        ("2001", "21211"),
    ]
    .into_iter()
    .enumerate()
    {
        let channel = if i % 3 == 0 { &promo } else { &d.channel };
        store
            .write_notification_error(
                &parley_store::NotificationErrorWrite {
                    channel_id: Some(channel.id),
                    template: "shipping_update".into(),
                    recipient: format!("+1415555{:04}", 9000 + i),
                    inputs: "{}".into(),
                    stage: "provider",
                    code: code.into(),
                    reason: "refused by the provider".into(),
                    notification_id: None,
                    entry_id: None,
                    provider_code: Some(provider.into()),
                },
                Timestamp(now.millis() - (i as i64 + 1) * DAY),
            )
            .await
            .unwrap();
    }
    // Customers writing now: open sessions.
    for (i, (channel, from)) in [
        (d.channel.name.as_str(), "+14155550101"),
        (d.channel.name.as_str(), "+14155550102"),
        (PROMO, "+14155550103"),
    ]
    .into_iter()
    .enumerate()
    {
        let r = d
            .app
            .anon(Method::POST, "/simulator/inbound")
            .json(&json!({"channel": channel, "from": from, "text": format!("Hello {i}")}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
        *counts.entry(channel.to_owned()).or_insert(0) += 1;
    }
    let store2 = store.clone();
    crate::eventually(&d.app.events, "the customers' sessions", || {
        let store = store2.clone();
        async move {
            let mut open = 0;
            for name in ["+14155550101", "+14155550102", "+14155550103"] {
                for c in store
                    .list_channels(parley_store::PageRequest::new(None, 50))
                    .await
                    .unwrap()
                    .items
                {
                    if let Some(u) = store.messaging_user_by_key(c.id, name).await.unwrap()
                        && store.open_session(u.id).await.unwrap().is_some()
                    {
                        open += 1;
                    }
                }
            }
            (open == 3).then_some(())
        }
    })
    .await;
    // An agent takes one of them, answers and ends it: agent activity and a first response.
    let ann = d.agent("Ann", 3, AgentRole::Agent).await;
    let c = d.sign_in(&ann).await;
    d.go(&c, "available").await;
    d.app.engine.router.route().await.unwrap();
    let session = d.offered(&c).await;
    assert_eq!(d.act(&c, session, "accept").await.status(), StatusCode::OK);
    let r = d
        .call(
            &c,
            Method::POST,
            &format!("/api/v1/sessions/{session}/messages"),
        )
        .json(&json!({"body": "Happy to help."}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    assert_eq!(d.act(&c, session, "end").await.status(), StatusCode::OK);
    // A promo customer opts out: a consent change, and the end of that session.
    let r = d
        .app
        .anon(Method::POST, "/simulator/inbound")
        .json(&json!({"channel": PROMO, "from": "+14155550103", "text": "STOP"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let user = store
        .messaging_user_by_key(promo.id, "+14155550103")
        .await
        .unwrap()
        .unwrap();
    let store2 = store.clone();
    crate::eventually(&d.app.events, "the opt-out", || {
        let store = store2.clone();
        async move {
            store
                .open_session(user.id)
                .await
                .unwrap()
                .is_none()
                .then_some(())
        }
    })
    .await;
    // A campaign to the promo channel's customers, sent and completed.
    let (status, seg) = parley_testkit::status_and_json(
        d.app
            .req(Method::POST, "/api/v1/segments")
            .json(&json!({"name": "Everyone", "filter": {"all": []}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{seg}");
    let (status, campaign) = parley_testkit::status_and_json(
        d.app.req(Method::POST, "/api/v1/campaigns").json(&json!({
            "name": "Winter <sale>",
            "kind": "marketing",
            "senders": [promo.id],
            "audience": {"kind": "segment", "segment_id": seg["id"]},
            "content": {"text": "20% off this week. Reply STOP to opt out."},
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{campaign}");
    let id = campaign["id"].as_str().unwrap().to_owned();
    let (status, started) = parley_testkit::status_and_json(
        d.app
            .req(Method::POST, &format!("/api/v1/campaigns/{id}/start")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{started}");
    let app = &d.app;
    let results = &format!("/api/v1/campaigns/{id}/results");
    crate::eventually(&d.app.events, "the campaign completes", || async move {
        let (_, r) = parley_testkit::status_and_json(app.req(Method::GET, results)).await;
        (r["state"] == "completed").then_some(())
    })
    .await;
    // Finished sessions reach the reports through the rollup, which trails the clock by a minute.
    parley_engine::reports::roll_up(store, Timestamp(now.millis() + 2 * MINUTE))
        .await
        .unwrap();
    // What the report must say, counted from the sessions themselves: every session of each
    // channel started in the last 30 days (the campaign's messages may have opened some).
    let from = Timestamp((now.millis().div_euclid(DAY) - 29) * DAY);
    let mut counted = BTreeMap::new();
    for channel in [&d.channel, &promo] {
        let mut after = None;
        loop {
            let page = store
                .list_sessions(
                    parley_store::SessionFilter {
                        channel_id: Some(channel.id),
                        messaging_user_id: None,
                        status: None,
                    },
                    parley_store::PageRequest::new(after, 500),
                )
                .await
                .unwrap();
            let n = page.items.iter().filter(|s| s.started_at >= from).count() as i64;
            *counted.entry(channel.name.clone()).or_insert(0) += n;
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
    }
    for (name, n) in &counts {
        assert!(counted[name] >= *n, "{name}: {counted:?} {counts:?}");
    }
    (promo, counted)
}

async fn the_page_follows_the_permissions(b: TestBackend) {
    let d = Desk::new(b).await;
    let sam = d.agent("Sam", 3, AgentRole::Supervisor).await;
    let bea = d.agent("Bea", 3, AgentRole::Broadcaster).await;
    let rex = d.agent("Rex", 3, AgentRole::Agent).await;
    for who in [&sam, &bea] {
        let c = d.sign_in(who).await;
        let r = d
            .call(&c, Method::GET, "/console/reports")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{}", who.name);
        let html = r.text().await.unwrap();
        assert_csp_clean(&html);
        assert!(html.contains("data-testid=\"rp-filters\""));
        assert!(html.contains("/assets/reports.js?v="));
        assert!(html.contains("/assets/reports.css?v="));
        for kind in parley_core::reports::ReportKind::ALL {
            assert!(
                html.contains(&format!("data-kind=\"{}\"", kind.as_str())),
                "{kind:?}"
            );
        }
        assert!(html.contains("href=\"/console/reports\""), "nav link");
    }
    let c = d.sign_in(&rex).await;
    let r = d
        .call(&c, Method::GET, "/console/reports")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = d
        .call(&c, Method::GET, "/console/reports/sessions/chart.svg")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body.to_string().contains("supervise"), "{body}");
    let console = d.call(&c, Method::GET, "/console").send().await.unwrap();
    assert!(
        !console
            .text()
            .await
            .unwrap()
            .contains("href=\"/console/reports\""),
        "no Reports link without the permission"
    );

    // Strangers are sent to sign in, for the page and the image alike.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in ["/console/reports", "/console/reports/sessions/chart.svg"] {
        let r = client
            .get(format!("{}{path}", d.app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(r.headers()[LOCATION], "/console/login");
    }
}

async fn the_chart_is_a_self_contained_svg(b: TestBackend) {
    let d = Desk::new(b).await;
    let sam = d.agent("Sam", 3, AgentRole::Supervisor).await;
    let c = d.sign_in(&sam).await;
    for kind in parley_core::reports::ReportKind::ALL {
        let path = format!(
            "/console/reports/{}/chart.svg?from=2026-11-01&to=2026-11-30&channel_id={}&group_by=",
            kind.as_str(),
            d.channel.id
        );
        let r = d.call(&c, Method::GET, &path).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert!(
            r.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("image/svg+xml")
        );
        let csp = r.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.starts_with("default-src 'none'"), "{csp}");
        let svg = r.text().await.unwrap();
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"));
        assert!(svg.contains("role=\"img\""));
        assert!(!svg.contains("<script"), "{svg}");
        assert!(!svg.contains("href"), "no external reference: {svg}");
    }
    // In the agent's language.
    let r = d
        .call(&c, Method::PUT, "/api/v1/me/locale")
        .json(&json!({"locale": "fr"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let svg = d
        .call(&c, Method::GET, "/console/reports/consent/chart.svg")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(svg.contains("Changements de consentement"), "{svg}");
    assert!(svg.contains("Aucune donnée"), "{svg}");
}

async fn bad_filters_name_their_field(b: TestBackend) {
    let d = Desk::new(b).await;
    let sam = d.agent("Sam", 3, AgentRole::Supervisor).await;
    let c = d.sign_in(&sam).await;
    for (query, field) in [
        ("from=2026-02-30", "from"),
        ("to=tomorrow", "to"),
        ("from=2026-12-05&to=2026-12-01", "from"),
        ("queue_id=42", "queue_id"),
        ("agent_id=%3Cscript%3E", "agent_id"),
        ("group_by=galaxy", "group_by"),
    ] {
        let r = d
            .call(
                &c,
                Method::GET,
                &format!("/console/reports/sessions/chart.svg?{query}"),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        let body = r.text().await.unwrap();
        assert!(body.contains(field), "{query}: {body}");
        assert!(!body.contains("<script>"), "{body}");
    }
    let r = d
        .call(&c, Method::GET, "/console/reports/horoscope/chart.svg")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

/// The chart draws the report's own figures: one bar per channel with its sessions, the
/// channel named with markup escaped, and the table's numbers the same as the engine's.
async fn the_chart_draws_the_report(b: TestBackend) {
    let d = Desk::new(b).await;
    let (promo, counts) = traffic(&d).await;
    let sam = d.agent("Sam", 3, AgentRole::Supervisor).await;
    let c = d.sign_in(&sam).await;
    let svg = d
        .call(
            &c,
            Method::GET,
            "/console/reports/sessions/chart.svg?group_by=channel",
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(svg.contains(">Promo &amp; &lt;Shop&gt;</text>"), "{svg}");
    assert!(!svg.contains("<Shop>"));
    let filter = parley_server::console::reports::FilterQuery {
        group_by: Some("channel".into()),
        ..Default::default()
    }
    .to_filter(ReportKind::Sessions, SystemClock.now())
    .unwrap();
    let report = parley_engine::reports::run(&d.app.db.store, ReportKind::Sessions, filter)
        .await
        .unwrap();
    assert_eq!(report.rows.len(), 2, "{report:?}");
    for (i, row) in report.rows.iter().enumerate() {
        let (Cell::Text(name), Cell::Int(n)) = (&row[0], &row[1]) else {
            panic!("{row:?}");
        };
        let (name, n) = (name.as_str(), *n);
        assert_eq!(counts[name], n, "{name}");
        assert!(
            svg.contains(&format!("data-row=\"{i}\" data-value=\"{n}\"")),
            "{name}: {n} in {svg}"
        );
    }
    // Filtered to one channel: one bar.
    let svg = d
        .call(
            &c,
            Method::GET,
            &format!(
                "/console/reports/sessions/chart.svg?group_by=channel&channel_id={}",
                promo.id
            ),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(svg.matches("class=\"bar ").count(), 1, "{svg}");
    // By day, the session times, bots: every report with data draws marks.
    for (kind, mark) in [
        ("sessions", "class=\"bar "),
        ("session_times", "class=\"bar "),
        ("consent", "class=\"bar "),
        ("bots", "class=\"bar "),
        ("agent_activity", "<svg"),
        ("delivery_errors", "<svg"),
    ] {
        let svg = d
            .call(
                &c,
                Method::GET,
                &format!("/console/reports/{kind}/chart.svg"),
            )
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(svg.contains(mark), "{kind}: {svg}");
        // To look at the drawings: PARLEY_SVG=<dir> keeps each one.
        if let Some(dir) = std::env::var_os("PARLEY_SVG") {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(PathBuf::from(dir).join(format!("{kind}.svg")), &svg).unwrap();
        }
    }
}

/// The Reports page in Chromium (`tests/browser/reports.mjs`): a supervisor opens it, switches
/// reports and filters, and the chart and the table agree with the traffic made here.
/// Screenshots go under the target's temporary folder, or to `PARLEY_SHOTS` when set.
async fn reports_in_a_real_browser(b: TestBackend) {
    let backend = format!("{b:?}").to_lowercase();
    let d = Desk::new(b).await;
    let (_, counts) = traffic(&d).await;
    let sam = d.agent("Sam", 3, AgentRole::Supervisor).await;
    let shots = std::env::var_os("PARLEY_SHOTS").map_or_else(
        || {
            PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
                .join("reports-shots")
                .join(&backend)
        },
        |p| PathBuf::from(p).join(&backend),
    );
    crate::browser::run_scenario(
        "reports.mjs",
        &[
            format!("--url={}", d.app.base),
            format!("--user={}:{PASSWORD}", sam.email),
            format!("--expect={}", serde_json::to_string(&counts).unwrap()),
            format!("--shots={}", shots.display()),
        ],
        std::time::Duration::from_secs(240),
    )
    .await;
}

parley_store::on_both_backends!(
    the_chart_draws_the_report,
    reports_in_a_real_browser,
    the_page_follows_the_permissions,
    the_chart_is_a_self_contained_svg,
    bad_filters_name_their_field
);
