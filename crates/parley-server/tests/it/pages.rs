//! The console's pages and assets: they render, carry a strict CSP, escape what they show, and the
//! simulator phone exists only when the simulator does. Signed-in pages are driven through
//! `signed_in_routes()` with the session the auth middleware would attach, so these tests do not
//! depend on how signing in works.

use std::sync::Arc;

use axum::Extension;
use axum::body::Body;
use axum::http::{Request, header};
use parley_core::model::AgentRole;
use parley_core::{Clock, SystemClock};
use parley_engine::{Engine, EngineConfig, EventBus};
use parley_server::console::pages;
use parley_server::console::session::ConsoleSession;
use parley_server::{AppState, ServerConfig};
use parley_store::AgentSpec;
use parley_store::testing::{TestBackend, fresh};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::TestApp;

const HOSTILE: &str = "<script>alert(1)</script>";

/// A signed-in page as the backend would serve it: the route with its session attached.
pub(crate) async fn signed_in_page(
    backend: TestBackend,
    role: AgentRole,
    name: &str,
    path: &str,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let db = fresh(backend).await;
    let engine = Engine::new(
        db.store.clone(),
        Arc::new(SystemClock),
        EventBus::default(),
        EngineConfig::default(),
    );
    let agent = db
        .store
        .create_agent(
            &AgentSpec {
                name: name.to_owned(),
                email: "hostile@example.test".to_owned(),
                role,
                capacity: 3,
                queue_ids: Vec::new(),
                skills: Vec::new(),
            },
            SystemClock.now(),
        )
        .await
        .unwrap();
    let session = ConsoleSession {
        agent,
        csrf_token: "csrf-\"quoted\"-<token>".to_owned(),
    };
    let state = AppState::new(engine, None, ServerConfig::default());
    let app = pages::signed_in_routes()
        .layer(Extension(session))
        .with_state(state);
    let r = app
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = StatusCode::from_u16(r.status().as_u16()).unwrap();
    let headers = r.headers().clone();
    let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

/// What CSP with `script-src 'self'` would block must not be in a page at all: inline scripts,
/// event handler attributes, style attributes. A JSON data block (`type="application/json"`, the
/// catalogue) is never executed, so it may be inline.
pub(crate) fn assert_csp_clean(html: &str) {
    for (i, _) in html.match_indices("<script") {
        let tag_end = html[i..].find('>').unwrap() + i;
        assert!(
            html[i..tag_end].contains(" src=\"/assets/")
                || html[i..tag_end].contains(" type=\"application/json\""),
            "inline script: {}",
            &html[i..tag_end]
        );
    }
    let lower = html.to_ascii_lowercase();
    for attr in [
        " onclick=",
        " onload=",
        " onerror=",
        " style=",
        "javascript:",
    ] {
        assert!(!lower.contains(attr), "{attr} in page");
    }
}

fn assert_page_headers(headers: &axum::http::HeaderMap) {
    let csp = headers
        .get(header::CONTENT_SECURITY_POLICY)
        .expect("CSP header")
        .to_str()
        .unwrap();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert!(!csp.contains("unsafe-eval"), "{csp}");
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
}

async fn console_page_escapes_the_agent_and_carries_the_csrf_token(b: TestBackend) {
    let (status, headers, html) = signed_in_page(b, AgentRole::Admin, HOSTILE, "/console").await;
    assert_eq!(status, StatusCode::OK);
    assert_page_headers(&headers);
    assert!(!html.contains(HOSTILE), "agent name inserted as HTML");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
        "{html}"
    );
    // The token is in its meta tag, attribute-escaped.
    assert!(
        html.contains(
            r#"<meta name="csrf-token" content="csrf-&quot;quoted&quot;-&lt;token&gt;">"#
        ),
        "{html}"
    );
    // The hooks the browser tests rely on.
    for hook in [
        "data-testid=\"presence\"",
        "data-testid=\"offer-list\"",
        "data-testid=\"session-list\"",
        "data-testid=\"message-list\"",
        "data-testid=\"composer\"",
        "data-testid=\"send\"",
        "data-testid=\"segment-counter\"",
        "data-testid=\"transfer\"",
        "data-testid=\"end\"",
        "data-testid=\"connection\"",
    ] {
        assert!(html.contains(hook), "{hook} missing");
    }
    // An admin sees both other areas in the navigation.
    assert!(html.contains("href=\"/console/supervisor\""));
    assert!(html.contains("href=\"/console/admin\""));
    assert_csp_clean(&html);
}

async fn supervisor_and_admin_pages_follow_the_role(b: TestBackend) {
    let (status, headers, html) =
        signed_in_page(b, AgentRole::Agent, HOSTILE, "/console/supervisor").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_page_headers(&headers);
    assert!(!html.contains(HOSTILE));
    assert!(!html.contains("href=\"/console/admin\""));

    let (status, _, html) = signed_in_page(b, AgentRole::Agent, "Ada", "/console/admin").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(html.contains("Not available to your role"));

    let (status, _, html) =
        signed_in_page(b, AgentRole::Supervisor, HOSTILE, "/console/supervisor").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("data-testid=\"supervisor-queues\""));
    assert!(!html.contains(HOSTILE));
    assert_csp_clean(&html);

    let (status, _, html) = signed_in_page(b, AgentRole::Admin, HOSTILE, "/console/admin").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("data-testid=\"admin-table\""));
    assert!(!html.contains(HOSTILE));
    assert_csp_clean(&html);
}

async fn login_form_renders_and_escapes(_b: TestBackend) {
    let r = pages::render_login(parley_core::i18n::Locale::En, None, "");
    assert_eq!(r.status().as_u16(), 200);
    assert_page_headers(r.headers());
    let html = String::from_utf8(
        axum::body::to_bytes(r.into_body(), 1 << 20)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    assert!(html.contains(r#"action="/console/login""#));
    assert!(html.contains(r#"name="email""#) && html.contains(r#"name="password""#));
    // Signed out: no token, no live connection.
    assert!(!html.contains("csrf-token"));
    assert!(!html.contains("data-testid=\"login-error\""));
    assert_csp_clean(&html);

    let typed = "\"><script>alert(1)</script>";
    let r = pages::render_login(
        parley_core::i18n::Locale::En,
        Some("Wrong <b>e-mail</b> or password."),
        typed,
    );
    let html = String::from_utf8(
        axum::body::to_bytes(r.into_body(), 1 << 20)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    assert!(!html.contains("<script>alert(1)"), "{html}");
    assert!(html.contains("value=\"&quot;&gt;&lt;script&gt;alert(1)&lt;&#x2f;script&gt;\""));
    assert!(html.contains("Wrong &lt;b&gt;e-mail&lt;&#x2f;b&gt; or password."));
}

async fn assets_are_served_with_types_and_caching(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    for (name, ty) in [
        ("common.js", "text/javascript"),
        ("console.js", "text/javascript"),
        ("supervisor.js", "text/javascript"),
        ("admin.js", "text/javascript"),
        ("simulator.js", "text/javascript"),
        ("console.css", "text/css"),
        ("favicon.svg", "image/svg+xml"),
    ] {
        let r = app
            .anon(Method::GET, &format!("/assets/{name}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{name}");
        let h = r.headers().clone();
        assert!(
            h[header::CONTENT_TYPE.as_str()]
                .to_str()
                .unwrap()
                .starts_with(ty),
            "{name}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff");
        // Unversioned links revalidate; the ETag makes that cheap.
        assert_eq!(h["cache-control"], "no-cache");
        let etag = h["etag"].to_str().unwrap().to_owned();
        let r = app
            .anon(Method::GET, &format!("/assets/{name}"))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED, "{name}");
        // The versioned link pages use may be kept for good.
        let v = etag.trim_matches('"');
        let r = app
            .anon(Method::GET, &format!("/assets/{name}?v={v}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.headers()["cache-control"],
            "public, max-age=31536000, immutable"
        );
        let body = r.text().await.unwrap();
        assert!(!body.is_empty());
        // Our rule for the scripts: no HTML parsing of data, ever.
        assert!(!body.contains("innerHTML"), "{name} uses innerHTML");
        assert!(!body.contains("insertAdjacentHTML"), "{name}");
        assert!(!body.contains("document.write"), "{name}");
    }
    for bad in ["/assets/nope.js", "/assets/..%2Fsrc%2Flib.rs", "/assets/"] {
        let r = app.anon(Method::GET, bad).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{bad}");
    }
}

async fn simulator_page_and_channels_when_the_simulator_is_on(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let hostile = json!({"name": HOSTILE, "kind": "sms", "provider": "simulator",
        "address": "+14155550100", "number_type": "toll_free"});
    let r = app
        .req(Method::POST, "/api/v1/channels")
        .json(&hostile)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let other = json!({"name": "Meta WA", "kind": "whatsapp", "provider": "meta", "address": "+14155550199"});
    let r = app
        .req(Method::POST, "/api/v1/channels")
        .json(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);

    let r = app.anon(Method::GET, "/simulator").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let headers = http_headers(r.headers());
    assert_page_headers(&headers);
    let html = r.text().await.unwrap();
    assert!(html.contains("data-testid=\"sim-channel\""));
    assert!(!html.contains("csrf-token"));
    assert_csp_clean(&html);
    // Every asset the page links is there.
    for (i, _) in html.match_indices("/assets/") {
        let link = &html[i..i + html[i..].find('"').unwrap()];
        let r = app.anon(Method::GET, link).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{link}");
    }

    // Only simulator channels, as data (the phone page puts the name in with textContent).
    let list: Value = app
        .anon(Method::GET, "/simulator/channels")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["name"], HOSTILE);
    assert_eq!(list[0]["kind"], "sms");
    assert_eq!(list[0]["address"], "+14155550100");
}

async fn no_simulator_page_when_the_simulator_is_off(b: TestBackend) {
    let app = TestApp::spawn_with(b, ServerConfig::default()).await;
    for path in [
        "/simulator",
        "/simulator/channels",
        "/simulator/messages?to=%2B447400123456",
    ] {
        let r = app.anon(Method::GET, path).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
    }
    // Nobody can play a customer on a server without the simulator.
    let r = app
        .anon(Method::POST, "/simulator/inbound")
        .json(&json!({"channel": "x", "from": "+447400123456", "text": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // The assets are still there for the login page.
    let r = app
        .anon(Method::GET, "/assets/console.css")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

/// reqwest's header map in axum's type (both are `http` maps, possibly of different versions).
fn http_headers(h: &reqwest::header::HeaderMap) -> axum::http::HeaderMap {
    let mut out = axum::http::HeaderMap::new();
    for (k, v) in h {
        out.insert(
            axum::http::HeaderName::from_bytes(k.as_str().as_bytes()).unwrap(),
            axum::http::HeaderValue::from_bytes(v.as_bytes()).unwrap(),
        );
    }
    out
}

parley_store::on_both_backends!(
    console_page_escapes_the_agent_and_carries_the_csrf_token,
    supervisor_and_admin_pages_follow_the_role,
    login_form_renders_and_escapes,
    assets_are_served_with_types_and_caching,
    simulator_page_and_channels_when_the_simulator_is_on,
    no_simulator_page_when_the_simulator_is_off,
);
