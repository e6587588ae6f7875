//! The campaigns API (issue 11): roles (admin and broadcaster only), the error shapes, the body
//! limits (a 20 MB CSV import, JSON elsewhere), list import with its row report, a campaign run
//! end to end through the simulator with its results as JSON, CSV and SVG, and the short-link
//! redirect counting a person's click but not a HEAD or a link-preview bot.

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

const LINK_BASE: &str = "https://go.example.test";

/// An app whose short links point at [`LINK_BASE`], with one simulator SMS sender.
async fn app_with_sender(b: TestBackend) -> (TestApp, Channel) {
    let app = TestApp::spawn_full(
        b,
        ServerConfig {
            simulator: true,
            ..ServerConfig::default()
        },
        EngineConfig {
            link_base: Some(LINK_BASE.to_owned()),
            ..EngineConfig::default()
        },
    )
    .await;
    let channel = build::channel(
        &app.db.store,
        &ChannelSpec {
            name: "Deals line".into(),
            country: Some("US".into()),
            ..build::simulator_sms()
        },
        SystemClock.now(),
    )
    .await;
    (app, channel)
}

async fn customer(app: &TestApp, channel: Uuid, key: &str, consent: ConsentStatus) {
    build::user(
        &app.db.store,
        &build::new_user(channel, key, Some(consent)),
        &build::origin(ConsentSource::Import, "test"),
        SystemClock.now(),
    )
    .await;
}

async fn send(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut r = app
        .client
        .request(method, format!("{}{path}", app.base))
        .bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    status_and_json(r).await
}

fn spec(channel: Uuid, segment: &str, text: &str) -> Value {
    // A fallback for a field the text does not use is refused, so it comes with the field only.
    let fallbacks = if text.contains("contact.first_name") {
        json!({"contact.first_name": "there"})
    } else {
        json!({})
    };
    json!({
        "name": "Winter sale",
        "kind": "marketing",
        "senders": [channel],
        "audience": {"kind": "segment", "segment_id": segment},
        "content": {"text": text, "fallbacks": fallbacks},
        "footer": {"help": true}
    })
}

async fn everyone(app: &TestApp) -> String {
    let (status, seg) = send(
        app,
        &app.token,
        Method::POST,
        "/api/v1/segments",
        Some(json!({"name": "Everyone", "filter": {"all": []}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{seg}");
    seg["id"].as_str().unwrap().to_owned()
}

async fn only_admins_and_broadcasters(b: TestBackend) {
    let (app, channel) = app_with_sender(b).await;
    let segment = everyone(&app).await;
    let (status, c) = send(
        &app,
        &app.token,
        Method::POST,
        "/api/v1/campaigns",
        Some(spec(channel.id, &segment, "Hi")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    let id = c["id"].as_str().unwrap();
    assert_eq!(c["state"], "draft");
    assert_eq!(c["senders"][0]["name"], "Deals line");
    assert_eq!(c["audience_name"], "Everyone");

    let broadcaster = TestApp::token_for(&app.db, TokenRole::Broadcaster).await;
    let (status, list) = send(&app, &broadcaster, Method::GET, "/api/v1/campaigns", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let (status, _) = send(
        &app,
        &broadcaster,
        Method::POST,
        "/api/v1/lists",
        Some(json!({"name": "VIPs"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    let paths = [
        (Method::GET, "/api/v1/segments".to_owned()),
        (Method::GET, format!("/api/v1/segments/{segment}")),
        (Method::GET, "/api/v1/lists".to_owned()),
        (Method::GET, "/api/v1/campaigns".to_owned()),
        (Method::GET, "/api/v1/campaigns/senders".to_owned()),
        (Method::GET, format!("/api/v1/campaigns/{id}")),
        (Method::GET, format!("/api/v1/campaigns/{id}/results")),
        (Method::GET, format!("/api/v1/campaigns/{id}/results.csv")),
        (Method::GET, format!("/api/v1/campaigns/{id}/funnel.svg")),
        (Method::POST, format!("/api/v1/campaigns/{id}/start")),
    ];
    for role in [TokenRole::Agent, TokenRole::Supervisor] {
        let token = TestApp::token_for(&app.db, role).await;
        for (method, path) in &paths {
            let (status, body) = send(&app, &token, method.clone(), path, None).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{role} {method} {path}");
            assert_eq!(body["code"], "forbidden", "{role} {method} {path}");
        }
    }
    // Nothing was started by the refused requests.
    let (_, c) = send(
        &app,
        &app.token,
        Method::GET,
        &format!("/api/v1/campaigns/{id}"),
        None,
    )
    .await;
    assert_eq!(c["state"], "draft");
}

async fn errors_have_their_stable_shapes(b: TestBackend) {
    let (app, channel) = app_with_sender(b).await;
    let segment = everyone(&app).await;
    let missing = Uuid::now_v7();
    for path in [
        format!("/api/v1/campaigns/{missing}"),
        format!("/api/v1/campaigns/{missing}/results"),
        format!("/api/v1/campaigns/{missing}/results.csv"),
        format!("/api/v1/campaigns/{missing}/funnel.svg"),
        format!("/api/v1/segments/{missing}"),
        format!("/api/v1/lists/{missing}"),
        format!("/api/v1/lists/{missing}/members"),
    ] {
        let (status, body) = send(&app, &app.token, Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body["code"], "not_found", "{path}");
    }
    // A spec the rules refuse, and one the type refuses.
    let mut no_senders = spec(channel.id, &segment, "Hi");
    no_senders["senders"] = json!([]);
    let (status, body) = send(
        &app,
        &app.token,
        Method::POST,
        "/api/v1/campaigns",
        Some(no_senders),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["code"], "invalid_request");
    assert!(
        body["message"].as_str().unwrap().contains("senders"),
        "{body}"
    );
    let mut unknown = spec(channel.id, &segment, "Hi");
    unknown["colour"] = json!("red");
    let (status, body) = send(
        &app,
        &app.token,
        Method::POST,
        "/api/v1/campaigns",
        Some(unknown),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["code"], "invalid_request");
    // A merge field that does not exist is refused at save time.
    let (status, body) = send(
        &app,
        &app.token,
        Method::POST,
        "/api/v1/campaigns/preview",
        Some(spec(channel.id, &segment, "Hi {{ contact.frist_name }}")),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "invalid_request");

    let (_, c) = send(
        &app,
        &app.token,
        Method::POST,
        "/api/v1/campaigns",
        Some(spec(channel.id, &segment, "Hi")),
    )
    .await;
    let id = c["id"].as_str().unwrap();
    // An action the state does not allow, an action that does not exist, and the worker's own.
    let (status, body) = send(
        &app,
        &app.token,
        Method::POST,
        &format!("/api/v1/campaigns/{id}/pause"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "invalid_request");
    for action in ["explode", "complete"] {
        let (status, body) = send(
            &app,
            &app.token,
            Method::POST,
            &format!("/api/v1/campaigns/{id}/{action}"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{action}");
        assert_eq!(body["code"], "not_found");
    }
    // A segment in use cannot go.
    let (status, body) = send(
        &app,
        &app.token,
        Method::DELETE,
        &format!("/api/v1/segments/{segment}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // The document lists the routes and the spec's schema.
    let doc = app.get_json("/api/openapi.json").await;
    for path in [
        "/api/v1/segments",
        "/api/v1/lists/{id}/import",
        "/api/v1/campaigns/{id}/{action}",
        "/api/v1/campaigns/{id}/funnel.svg",
        "/api/v1/campaigns/audience-count",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
    assert!(doc["components"]["schemas"]["CampaignSpec"]["properties"]["senders"].is_object());
}

async fn bodies_have_limits(b: TestBackend) {
    let (app, channel) = app_with_sender(b).await;
    let segment = everyone(&app).await;
    let mut big = spec(channel.id, &segment, &"x".repeat(70 * 1024));
    big["name"] = json!("Big");
    let (status, body) = send(
        &app,
        &app.token,
        Method::POST,
        "/api/v1/campaigns",
        Some(big),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["code"], "payload_too_large");

    let (_, list) = send(
        &app,
        &app.token,
        Method::POST,
        "/api/v1/lists",
        Some(json!({"name": "Many"})),
    )
    .await;
    let import = format!("/api/v1/lists/{}/import", list["id"].as_str().unwrap());
    // Larger than the JSON limit, well inside the import's.
    let mut csv = String::from("phone\n");
    for i in 0..8_000 {
        csv.push_str(&format!("+1415555{i:04}\n"));
    }
    assert!(csv.len() > 64 * 1024);
    let r = app
        .req(Method::POST, &import)
        .header("content-type", "text/csv")
        .body(csv);
    let (status, report) = status_and_json(r).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["added"], 8_000);
    // Past 20 MB.
    let huge = "x".repeat(20 * 1024 * 1024 + 1);
    let r = app
        .req(Method::POST, &import)
        .header("content-type", "text/csv")
        .body(huge);
    let (status, body) = status_and_json(r).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["code"], "payload_too_large");
    // Not CSV.
    let r = app
        .req(Method::POST, &import)
        .header("content-type", "application/json")
        .body("{}");
    let (status, body) = status_and_json(r).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(body["code"], "unsupported_media_type");
}

async fn list_import_reports_rows_by_line(b: TestBackend) {
    let (app, _) = app_with_sender(b).await;
    let (_, list) = send(
        &app,
        &app.token,
        Method::POST,
        "/api/v1/lists",
        Some(json!({"name": "Fair visitors"})),
    )
    .await;
    let id = list["id"].as_str().unwrap();
    // Line 4 is blank; line 5 repeats line 2; line 6 is not a number.
    let csv =
        "phone,name\n+14155550123,Ada\n+14155550124,Bo\n\n+14155550123,Ada again\nnot a phone,Cy\n";
    let r = app
        .req(Method::POST, &format!("/api/v1/lists/{id}/import"))
        .header("content-type", "text/csv; charset=utf-8")
        .body(csv);
    let (status, report) = status_and_json(r).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["added"], 2);
    assert_eq!(report["duplicates"], 1);
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{report}");
    assert_eq!(errors[0]["line"], 6);
    assert!(
        errors[0]["reason"]
            .as_str()
            .unwrap()
            .contains("not a phone")
    );

    let (status, added) = send(
        &app,
        &app.token,
        Method::POST,
        &format!("/api/v1/lists/{id}/members"),
        Some(json!({"phones": ["+14155550125"], "contact_ids": []})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{added}");
    assert_eq!(added["added"], 1);
    let (status, page) = send(
        &app,
        &app.token,
        Method::GET,
        &format!("/api/v1/lists/{id}/members?limit=2"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let next = page["next"].as_str().unwrap();
    let (_, rest) = send(
        &app,
        &app.token,
        Method::GET,
        &format!("/api/v1/lists/{id}/members?limit=2&after={next}"),
        None,
    )
    .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert!(rest["next"].is_null());
    let (_, l) = send(
        &app,
        &app.token,
        Method::GET,
        &format!("/api/v1/lists/{id}"),
        None,
    )
    .await;
    assert_eq!(l["members"], 3);
    let (status, _) = send(
        &app,
        &app.token,
        Method::DELETE,
        &format!("/api/v1/lists/{id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

/// The results once the campaign is completed.
async fn completed(app: &TestApp, id: &str) -> Value {
    let client = app.client.clone();
    let url = format!("{}/api/v1/campaigns/{id}/results", app.base);
    let token = app.token.clone();
    eventually(&app.events, "the campaign completes", || {
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        async move {
            let r: Value = client
                .get(&url)
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (r["state"] == "completed").then_some(r)
        }
    })
    .await
}

async fn a_campaign_runs_and_counts_clicks(b: TestBackend) {
    let (app, channel) = app_with_sender(b).await;
    for key in ["+14155550201", "+14155550202", "+14155550203"] {
        customer(&app, channel.id, key, ConsentStatus::ExplicitlyOptedIn).await;
    }
    customer(&app, channel.id, "+14155550204", ConsentStatus::OptedOut).await;
    let segment = everyone(&app).await;
    let body = spec(
        channel.id,
        &segment,
        "Hi {{ contact.first_name }}, the sale is on: https://shop.example.test/sale",
    );

    let (status, count) = send(
        &app,
        &app.token,
        Method::POST,
        "/api/v1/campaigns/audience-count",
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{count}");
    assert_eq!(count["members"], 4);
    assert_eq!(count["eligible"], 3);
    assert_eq!(count["excluded"]["opted_out"], 1);

    // The segment builder's count, before a segment is saved.
    let (status, counted) = send(
        &app,
        &app.token,
        Method::POST,
        "/api/v1/segments/count",
        Some(json!({"filter": {"all": [{"field": "consent", "statuses": ["ExplicitlyOptedIn"]}]}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{counted}");
    assert_eq!(
        counted,
        json!({"members": 3, "consent": {"ExplicitlyOptedIn": 3}})
    );
    let (status, counted) = send(
        &app,
        &app.token,
        Method::POST,
        "/api/v1/segments/count",
        Some(json!({"filter": {"all": []}, "channels": [channel.id]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{counted}");
    assert_eq!(counted["members"], 4);
    assert_eq!(counted["consent"]["OptedOut"], 1);
    let agent = TestApp::token_for(&app.db, TokenRole::Agent).await;
    let (status, _) = send(
        &app,
        &agent,
        Method::POST,
        "/api/v1/segments/count",
        Some(json!({"filter": {"all": []}})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, preview) = send(
        &app,
        &app.token,
        Method::POST,
        "/api/v1/campaigns/preview",
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    let text = preview["body"].as_str().unwrap();
    assert!(
        text.starts_with("Hi there, the sale is on: https://go.example.test/l/"),
        "{text}"
    );
    assert!(
        text.contains("Reply HELP for help, STOP to opt out."),
        "{text}"
    );
    assert_eq!(preview["fit"]["encoding"], "gsm7");
    assert!(preview["fit"]["segments"].as_u64().unwrap() >= 1);
    assert_eq!(preview["fell_back"], json!(["contact.first_name"]));

    let (_, c) = send(
        &app,
        &app.token,
        Method::POST,
        "/api/v1/campaigns",
        Some(body),
    )
    .await;
    let id = c["id"].as_str().unwrap().to_owned();
    let (status, started) = send(
        &app,
        &app.token,
        Method::POST,
        &format!("/api/v1/campaigns/{id}/start"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{started}");
    assert_eq!(started["state"], "sending");

    let r = completed(&app, &id).await;
    assert_eq!(r["counts"]["queued"], 3, "{r}");
    assert_eq!(r["counts"]["excluded"]["opted_out"], 1, "{r}");
    assert_eq!(r["counts"]["clicks_total"], 0);

    // The CSV has its header and one line per message.
    let csv = app
        .req(Method::GET, &format!("/api/v1/campaigns/{id}/results.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = csv.text().await.unwrap();
    assert_eq!(csv.lines().count(), 4, "{csv}");
    assert!(csv.contains("+14155550201"));
    // The funnel draws the same counts.
    let svg = app
        .req(Method::GET, &format!("/api/v1/campaigns/{id}/funnel.svg"))
        .send()
        .await
        .unwrap();
    assert_eq!(svg.status(), StatusCode::OK);
    assert!(
        svg.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("image/svg+xml")
    );
    let svg = svg.text().await.unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains(">Audience</text>") && svg.contains("Winter sale")
    );

    // The short link the first customer got.
    let sent = app
        .anon(Method::GET, "/simulator/messages?to=%2B14155550201")
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let message = sent
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap_or_default().to_owned())
        .find(|t| t.contains("/l/"))
        .unwrap_or_else(|| panic!("a campaign message with a short link: {sent}"));
    let link = message
        .split_whitespace()
        .find(|w| w.starts_with(LINK_BASE))
        .unwrap()
        .trim_end_matches(['.', ',']);
    let path = link.strip_prefix(LINK_BASE).unwrap();
    assert!(path.starts_with("/l/"));

    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let follow = |method: Method, ua: &'static str| {
        no_redirects
            .request(method, format!("{}{path}", app.base))
            .header("user-agent", ua)
            .send()
    };
    // A link preview and a HEAD are redirected but not counted.
    for (method, ua) in [
        (Method::GET, "WhatsApp/2.23.20.0 A"),
        (Method::GET, "facebookexternalhit/1.1"),
        (
            Method::HEAD,
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)",
        ),
    ] {
        let r = follow(method.clone(), ua).await.unwrap();
        assert_eq!(r.status(), StatusCode::FOUND, "{method} {ua}");
        assert_eq!(r.headers()["location"], "https://shop.example.test/sale");
    }
    let (_, r) = send(
        &app,
        &app.token,
        Method::GET,
        &format!("/api/v1/campaigns/{id}/results"),
        None,
    )
    .await;
    assert_eq!(r["counts"]["clicks_total"], 0, "{r}");
    // A person's clicks count; twice is one unique click.
    for _ in 0..2 {
        let r = follow(
            Method::GET,
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)",
        )
        .await
        .unwrap();
        assert_eq!(r.status(), StatusCode::FOUND);
        assert_eq!(r.headers()["location"], "https://shop.example.test/sale");
        assert_eq!(r.headers()["cache-control"], "no-store");
    }
    let (_, r) = send(
        &app,
        &app.token,
        Method::GET,
        &format!("/api/v1/campaigns/{id}/results"),
        None,
    )
    .await;
    assert_eq!(r["counts"]["clicks_total"], 2, "{r}");
    assert_eq!(r["counts"]["clicks_unique"], 1, "{r}");
    // An unknown code is a plain 404 page.
    let r = no_redirects
        .get(format!("{}/l/zzzzzzzzz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    // A finished campaign stays finished.
    let (status, _) = send(
        &app,
        &app.token,
        Method::POST,
        &format!("/api/v1/campaigns/{id}/cancel"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn the_console_area_is_for_senders_only(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let password = "correct horse battery staple";
    let mut seen = Vec::new();
    for (role, email) in [
        (AgentRole::Broadcaster, "bea@example.test"),
        (AgentRole::Agent, "ada@example.test"),
    ] {
        let spec = AgentSpec {
            email: email.into(),
            ..build::agent_spec("Someone", role, 1, vec![])
        };
        app.agent_with_password(&spec, password).await;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let r = client
            .post(format!("{}/console/login", app.base))
            .form(&[("email", email), ("password", password)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let cookie = r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let get = |path: &str| {
            client
                .get(format!("{}{path}", app.base))
                .header("cookie", &cookie)
                .send()
        };
        let status = get("/console/campaigns").await.unwrap().status();
        let console = get("/console").await.unwrap().text().await.unwrap();
        seen.push((
            role,
            status,
            console.contains("href=\"/console/campaigns\""),
        ));
    }
    assert_eq!(
        seen,
        vec![
            (AgentRole::Broadcaster, StatusCode::OK, true),
            (AgentRole::Agent, StatusCode::FORBIDDEN, false),
        ]
    );
}

parley_store::on_both_backends!(
    only_admins_and_broadcasters,
    errors_have_their_stable_shapes,
    bodies_have_limits,
    list_import_reports_rows_by_line,
    a_campaign_runs_and_counts_clicks,
    the_console_area_is_for_senders_only,
);
