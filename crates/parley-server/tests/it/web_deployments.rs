//! Issue 14, web chat configuration: deployments (CRUD, a channel that never changes, origins
//! and values refused with the field named) and keysets (one JWK per upload, WEB-18's rules),
//! through the API and `parley apply`. On both databases.

use base64::Engine as _;
use parley_core::SystemClock;
use parley_core::model::TokenRole;
use parley_engine::provision::{WorkspaceFile, apply};
use parley_server::ServerConfig;
use parley_store::testing::TestBackend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::TestApp;

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
    parley_testkit::status_and_json(r).await
}

async fn channel(app: &TestApp, name: &str, kind: &str, address: &str) -> String {
    let (provider, address) = match kind {
        "web" => ("web", address),
        _ => ("simulator", address),
    };
    let (s, v) = call(
        app,
        Method::POST,
        "/api/v1/channels",
        Some(
            json!({"name": name, "kind": kind, "provider": provider, "address": address,
                    "number_type": if kind == "sms" { json!("long_code") } else { json!(null) }}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v["id"].as_str().unwrap().to_owned()
}

fn deployment(name: &str, channel_id: &str) -> Value {
    json!({
        "name": name,
        "channel_id": channel_id,
        "origins": ["https://Shop.Example.com:443/", "https://*.example.com", "http://localhost:3001"],
        "language": "en",
        "branding": {"title": "Demo Shop", "color": "#FF6600", "greeting": "Hi! How can we help?"},
        "settings": {"receipts": true, "typing": false, "emoji": true, "enter_inserts_newline": true},
        "prechat": {"enabled": true, "fields": [
            {"name": "first_name", "label": "First name", "kind": "text", "required": true},
            {"name": "email", "label": "E-mail", "kind": "email", "required": true},
            {"name": "cart_total", "kind": "text", "hidden": true}
        ]}
    })
}

async fn deployments_crud_and_rules(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let web = channel(&app, "Shop chat", "web", "shop").await;
    let other_web = channel(&app, "Other chat", "web", "other").await;
    let sms = channel(&app, "SMS", "sms", "+14155550100").await;

    let (s, d) = call(
        &app,
        Method::POST,
        "/api/v1/web-deployments",
        Some(deployment("shop", &web)),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{d}");
    assert_eq!(
        d["origins"],
        json!([
            "https://shop.example.com",
            "https://*.example.com",
            "http://localhost:3001"
        ])
    );
    assert_eq!(d["branding"]["color"], "#ff6600");
    assert_eq!(d["settings"]["typing"], false);
    assert_eq!(d["verification_required"], false);
    let snippet = d["snippet"].as_str().unwrap();
    let host = app.base.trim_start_matches("http://");
    assert_eq!(
        snippet,
        format!(
            "<script src=\"http://{host}/widget.js\" data-deployment=\"shop\" data-language=\"en\" async></script>"
        )
    );
    let id = d["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/web-deployments/{id}");

    // Same name: 409.
    let (s, v) = call(
        &app,
        Method::POST,
        "/api/v1/web-deployments",
        Some(deployment("shop", &other_web)),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");

    // Every bad value is named, origins by line.
    let mut bad = deployment("bad", &web);
    bad["origins"] = json!([
        "https://ok.example.org",
        "example.com",
        "https://*.com",
        "https://a.*.com",
        "https://shop.example.com/path",
        "ftp://x.org"
    ]);
    bad["language"] = json!("de");
    bad["branding"]["color"] = json!("orange");
    let (s, v) = call(&app, Method::POST, "/api/v1/web-deployments", Some(bad)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let m = v["message"].as_str().unwrap();
    for want in [
        "origins[1]: 'example.com' has no scheme",
        "origins[2]: 'https://*.com': the wildcard",
        "origins[3]: 'https://a.*.com': the wildcard",
        "origins[4]: 'https://shop.example.com/path' has a path",
        "origins[5]: 'ftp://x.org' must use http or https",
        "language: 'de' is not a supported language",
        "branding.color",
    ] {
        assert!(m.contains(want), "{want} in {m}");
    }
    assert!(!m.contains("origins[0]"), "{m}");
    // Pre-chat rules (WEB-11).
    let mut bad = deployment("bad", &web);
    bad["prechat"]["fields"] = json!([
        {"name": "email", "label": "E-mail", "kind": "email"},
        {"name": "email", "kind": "text", "hidden": true},
        {"name": "vip", "kind": "checkbox", "hidden": true, "required": true}
    ]);
    let (s, v) = call(&app, Method::POST, "/api/v1/web-deployments", Some(bad)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let m = v["message"].as_str().unwrap();
    for want in [
        "prechat.fields[1].name",
        "prechat.fields[2].kind",
        "prechat.fields[2].required",
    ] {
        assert!(m.contains(want), "{want} in {m}");
    }
    // The channel must be a web channel that exists; a keyset must exist.
    let (s, v) = call(
        &app,
        Method::POST,
        "/api/v1/web-deployments",
        Some(deployment("s2", &sms)),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("needs a web channel"),
        "{v}"
    );
    let (s, v) = call(
        &app,
        Method::POST,
        "/api/v1/web-deployments",
        Some(deployment("s2", &uuid::Uuid::now_v7().to_string())),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["message"].as_str().unwrap().contains("channel_id"), "{v}");
    let mut with_keyset = deployment("s2", &web);
    with_keyset["keyset_id"] = json!(uuid::Uuid::now_v7());
    let (s, v) = call(
        &app,
        Method::POST,
        "/api/v1/web-deployments",
        Some(with_keyset),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["message"].as_str().unwrap().contains("keyset_id"), "{v}");
    // Unknown fields are refused.
    let mut extra = deployment("s2", &web);
    extra["css"] = json!("body{}");
    let (s, _) = call(&app, Method::POST, "/api/v1/web-deployments", Some(extra)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    // The channel cannot change (WEB-03); everything else can.
    let (s, v) = call(
        &app,
        Method::PUT,
        &path,
        Some(deployment("shop", &other_web)),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("channel cannot change"),
        "{v}"
    );
    let mut changed = deployment("shop", &web);
    changed["language"] = json!("fr");
    changed["origins"] = json!(["https://www.example.fr"]);
    let (s, v) = call(&app, Method::PUT, &path, Some(changed)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["language"], "fr");
    assert!(
        v["snippet"]
            .as_str()
            .unwrap()
            .contains("data-language=\"fr\"")
    );
    assert_eq!(
        app.get_json(&path).await["origins"],
        json!(["https://www.example.fr"])
    );
    let list = app.get_json("/api/v1/web-deployments").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    // A channel with a deployment stays.
    let (s, _) = call(
        &app,
        Method::DELETE,
        &format!("/api/v1/channels/{web}"),
        None,
    )
    .await;
    assert!(s.is_client_error(), "{s}");

    // Configuration: not for agents.
    let agent = TestApp::token_for(&app.db, TokenRole::Agent).await;
    let r = app
        .anon(Method::GET, "/api/v1/web-deployments")
        .bearer_auth(&agent);
    let (s, _) = parley_testkit::status_and_json(r).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let (s, _) = call(&app, Method::DELETE, &path, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = call(&app, Method::GET, &path, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // The document lists the routes.
    let doc = app.get_json("/api/openapi.json").await;
    for p in [
        "/api/v1/web-deployments",
        "/api/v1/web-deployments/{id}",
        "/api/v1/keysets",
        "/api/v1/keysets/{id}/keys",
        "/api/v1/keysets/{id}/keys/{kid}",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p}");
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A JWK of the right shape; its numbers are not a real key (the upload checks shape and size).
fn rsa_jwk(kid: &str, bits: usize) -> Value {
    let mut n = vec![0xa5u8; bits / 8];
    n[0] = 0xc3;
    json!({"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": b64(&n), "e": "AQAB"})
}

async fn keysets_and_keys(b: TestBackend) {
    let app = TestApp::spawn_with(
        b,
        ServerConfig {
            public_url: Some("https://chat.example.com/".into()),
            ..ServerConfig::default()
        },
    )
    .await;
    let (s, v) = call(
        &app,
        Method::POST,
        "/api/v1/keysets",
        Some(json!({"name": "", "issuer": "", "jwks_url": "file:///etc/passwd"})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let m = v["message"].as_str().unwrap();
    assert!(
        m.contains("name") && m.contains("issuer") && m.contains("jwks_url"),
        "{m}"
    );

    let (s, ks) = call(
        &app,
        Method::POST,
        "/api/v1/keysets",
        Some(json!({"name": "Shop", "issuer": "https://shop.example.com"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{ks}");
    let id = ks["id"].as_str().unwrap().to_owned();
    let keys = format!("/api/v1/keysets/{id}/keys");

    for (body, want) in [
        (json!([rsa_jwk("k1", 2048)]), "not an array"),
        (rsa_jwk("k1", 1024), "at least 2048 bits, this one has 1024"),
        (
            {
                let mut k = rsa_jwk("k1", 2048);
                k["alg"] = json!("HS256");
                k
            },
            "alg",
        ),
        (
            {
                let mut k = rsa_jwk("k1", 2048);
                k["alg"] = json!("ES256");
                k
            },
            "does not go with kty RSA",
        ),
        (
            {
                let mut k = rsa_jwk("k1", 2048);
                k.as_object_mut().unwrap().remove("kid");
                k
            },
            "kid",
        ),
        (
            {
                let mut k = rsa_jwk("k1", 2048);
                k["d"] = json!("AQAB");
                k
            },
            "private key",
        ),
        (
            json!({"kty": "EC", "kid": "e", "alg": "ES256", "crv": "P-384", "x": "AA", "y": "AA"}),
            "P-256",
        ),
    ] {
        let (s, v) = call(&app, Method::POST, &keys, Some(body.clone())).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body} {v}");
        assert!(
            v["message"].as_str().unwrap().contains(want),
            "{want} in {v}"
        );
    }
    let (s, v) = call(&app, Method::POST, &keys, Some(rsa_jwk("k1", 2048))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(
        (v["kid"].as_str(), v["alg"].as_str()),
        (Some("k1"), Some("RS256"))
    );
    let (s, v) = call(&app, Method::POST, &keys, Some(rsa_jwk("k1", 2048))).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let (s, v) = call(
        &app,
        Method::POST,
        &format!("/api/v1/keysets/{}/keys", uuid::Uuid::now_v7()),
        Some(rsa_jwk("k1", 2048)),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    let got = app.get_json(&format!("/api/v1/keysets/{id}")).await;
    assert_eq!(got["keys"].as_array().unwrap().len(), 1);

    // A keyset a deployment uses stays; the snippet points at the configured public URL.
    let web = channel(&app, "Shop chat", "web", "shop").await;
    let mut d = deployment("shop", &web);
    d["keyset_id"] = json!(id);
    let (s, d) = call(&app, Method::POST, "/api/v1/web-deployments", Some(d)).await;
    assert_eq!(s, StatusCode::CREATED, "{d}");
    assert_eq!(d["verification_required"], true);
    assert!(
        d["snippet"]
            .as_str()
            .unwrap()
            .starts_with("<script src=\"https://chat.example.com/widget.js\""),
        "{d}"
    );
    let (s, v) = call(&app, Method::DELETE, &format!("/api/v1/keysets/{id}"), None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["message"].as_str().unwrap().contains("shop"), "{v}");
    assert_eq!(
        app.get_json(&format!("/api/v1/keysets/{id}")).await["deployments"],
        json!(["shop"])
    );

    let (s, _) = call(&app, Method::DELETE, &format!("{keys}/k1"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = call(&app, Method::DELETE, &format!("{keys}/k1"), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = call(
        &app,
        Method::DELETE,
        &format!("/api/v1/web-deployments/{}", d["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = call(&app, Method::DELETE, &format!("/api/v1/keysets/{id}"), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
}

fn workspace(channel: &str, title: &str) -> WorkspaceFile {
    serde_json::from_value(json!({
        "channels": [
            {"name": "Shop chat", "kind": "web", "provider": "web", "address": "shop"},
            {"name": "Other chat", "kind": "web", "provider": "web", "address": "other"}
        ],
        "keysets": [{"name": "Shop users", "issuer": "https://shop.example.com",
                     "keys": [rsa_jwk("k1", 2048)]}],
        "web_deployments": [{
            "name": "shop",
            "channel": channel,
            "origins": ["https://shop.example.com", "https://*.example.com"],
            "language": "en",
            "branding": {"title": title, "color": "#123456", "greeting": "Hello"},
            "prechat": {"enabled": true, "fields": [
                {"name": "first_name", "label": "First name", "kind": "text", "required": true},
                {"name": "cart_total", "kind": "text", "hidden": true}
            ]},
            "keyset": "Shop users"
        }]
    }))
    .unwrap()
}

async fn apply_web_deployments(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let store = &app.db.store;
    let report = apply(
        store,
        &SystemClock,
        &workspace("Shop chat", "Demo Shop"),
        false,
    )
    .await
    .unwrap();
    for want in [
        "web deployment shop",
        "keyset Shop users",
        "key Shop users/k1",
    ] {
        assert!(
            report.created.contains(&want.to_owned()),
            "{want}: {report:?}"
        );
    }
    let d = store.web_deployment_by_name("shop").await.unwrap().unwrap();
    let ks = store.keyset_by_name("Shop users").await.unwrap().unwrap();
    assert_eq!(d.keyset_id, Some(ks.id));
    assert_eq!(d.branding.title, "Demo Shop");
    assert_eq!(store.keyset_keys(ks.id).await.unwrap().len(), 1);
    // Twice: nothing changes.
    let again = apply(
        store,
        &SystemClock,
        &workspace("Shop chat", "Demo Shop"),
        false,
    )
    .await
    .unwrap();
    assert!(!again.changed(), "{again:?}");
    // A change is an update of the same deployment.
    let changed = apply(
        store,
        &SystemClock,
        &workspace("Shop chat", "New title"),
        false,
    )
    .await
    .unwrap();
    assert_eq!(changed.updated, vec!["web deployment shop".to_owned()]);
    assert_eq!(
        store
            .web_deployment_by_name("shop")
            .await
            .unwrap()
            .unwrap()
            .id,
        d.id
    );
    // The channel cannot change through apply either.
    let err = apply(
        store,
        &SystemClock,
        &workspace("Other chat", "New title"),
        false,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("channel cannot change"), "{err}");
    // A bad origin is refused before anything is written.
    let mut bad = workspace("Shop chat", "New title");
    bad.web_deployments[0].origins.push("https://*".into());
    let err = apply(store, &SystemClock, &bad, false).await.unwrap_err();
    assert!(err.to_string().contains("origins[2]"), "{err}");
    // Pruned when the file drops them.
    let mut empty = workspace("Shop chat", "New title");
    empty.web_deployments.clear();
    empty.keysets.clear();
    let pruned = apply(store, &SystemClock, &empty, true).await.unwrap();
    assert!(
        pruned.deleted.contains(&"web deployment shop".to_owned()),
        "{pruned:?}"
    );
    assert!(
        pruned.deleted.contains(&"keyset Shop users".to_owned()),
        "{pruned:?}"
    );
    assert!(store.web_deployments().await.unwrap().is_empty());
}

parley_store::on_both_backends!(
    deployments_crud_and_rules,
    keysets_and_keys,
    apply_web_deployments
);
