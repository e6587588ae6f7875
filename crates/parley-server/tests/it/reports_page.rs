//! The Reports page and its charts (issue 15) through the real server, on SQLite and PostgreSQL:
//! who may open them (`supervise` or `manage_campaigns`; others get the denied page or a 403,
//! strangers the sign-in form), the chart as a self-contained SVG in the agent's language, and
//! bad filters refused with the field named.

use parley_core::model::AgentRole;
use parley_store::testing::TestBackend;
use reqwest::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::console::Desk;
use crate::pages::assert_csp_clean;

async fn the_page_follows_the_permissions(b: TestBackend) {
    let d = Desk::new(b).await;
    let sam = d.agent("Sam", 3, AgentRole::Supervisor).await;
    let bea = d.agent("Bea", 3, AgentRole::Broadcaster).await;
    let rex = d.agent("Rex", 3, AgentRole::Agent).await;
    for who in [&sam, &bea] {
        let c = d.sign_in(who).await;
        let r = d.call(&c, Method::GET, "/console/reports").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{}", who.name);
        let html = r.text().await.unwrap();
        assert_csp_clean(&html);
        assert!(html.contains("data-testid=\"rp-filters\""));
        assert!(html.contains("/assets/reports.js?v="));
        assert!(html.contains("/assets/reports.css?v="));
        for kind in parley_core::reports::ReportKind::ALL {
            assert!(html.contains(&format!("data-kind=\"{}\"", kind.as_str())), "{kind:?}");
        }
        assert!(html.contains("href=\"/console/reports\""), "nav link");
    }
    let c = d.sign_in(&rex).await;
    let r = d.call(&c, Method::GET, "/console/reports").send().await.unwrap();
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

parley_store::on_both_backends!(
    the_page_follows_the_permissions,
    the_chart_is_a_self_contained_svg,
    bad_filters_name_their_field
);
