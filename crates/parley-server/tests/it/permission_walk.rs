//! Issue 18, "done when": the permission walk. Every operation of `/api/openapi.json` is called by
//! a token holding every permission but the one the operation declares (`x-permission`; for an
//! operation any of several permissions opens, without all of them) and must be refused with 403
//! `forbidden`, then by a signed-in admin holding everything, and must not be. The operations open
//! to anyone are listed here by name, with why; an authenticated operation that declares no
//! permission fails the walk. And docs/permissions.md's table of routes says what the document
//! says. On both databases.

use std::collections::{BTreeMap, HashMap};

use parley_core::access::{Permission, PermissionSet};
use parley_core::model::AgentRole;
use parley_store::testing::TestBackend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::console::{Console, Desk};

/// Operations outside the permission model, by path prefix, with the reason.
const PUBLIC: &[(&str, &str)] = &[
    ("/healthz", "liveness, for load balancers"),
    ("/readyz", "readiness, for load balancers"),
    (
        "/metrics",
        "its own metrics token (or address), set by the operator",
    ),
    (
        "/simulator/",
        "the built-in phone simulator, served only when enabled",
    ),
    (
        "/widget/v1/",
        "the web chat widget: its visitor token and allowed origins",
    ),
    (
        "/2010-04-01/",
        "the Twilio-compatible API: HTTP Basic with a Parley-issued account",
    ),
];

fn public_reason(path: &str) -> Option<&'static str> {
    PUBLIC
        .iter()
        .find(|(prefix, _)| path == prefix.trim_end_matches('/') || path.starts_with(prefix))
        .map(|(_, why)| *why)
}

/// What an operation needs, as its `x-permission` says.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Needs {
    Public,
    SignedIn,
    AnyOf(Vec<Permission>),
}

impl Needs {
    fn cell(&self) -> String {
        match self {
            Self::Public => "public".to_owned(),
            Self::SignedIn => "signed in".to_owned(),
            Self::AnyOf(ps) => ps
                .iter()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(" or "),
        }
    }
}

async fn document(app: &crate::TestApp) -> Value {
    app.anon(Method::GET, "/api/openapi.json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Every operation of the document, by method and path, with what it needs.
fn operations(doc: &Value) -> BTreeMap<(String, String), Needs> {
    let mut out = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            let declared = &op["x-permission"];
            let needs = if let Some(_why) = public_reason(path) {
                assert!(
                    declared.is_null(),
                    "{method} {path} is public and declares {declared}"
                );
                Needs::Public
            } else {
                match declared {
                    Value::String(s) if s == "signed_in" => Needs::SignedIn,
                    Value::String(s) => Needs::AnyOf(vec![s.parse().unwrap()]),
                    Value::Array(items) => Needs::AnyOf(
                        items
                            .iter()
                            .map(|p| p.as_str().unwrap().parse().unwrap())
                            .collect(),
                    ),
                    other => panic!(
                        "{method} {path} declares no permission (x-permission: {other}): \
                         add one to its #[utoipa::path], and a row to docs/permissions.md"
                    ),
                }
            };
            out.insert((method.to_uppercase(), path.clone()), needs);
        }
    }
    out
}

/// A path with its parameters filled in: any value reaches the permission check, which runs
/// before the handler reads them.
fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').unwrap() + open;
        out.push_str("00000000-0000-0000-0000-000000000000");
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

async fn call_token(
    app: &crate::TestApp,
    token: &str,
    method: &str,
    path: &str,
) -> (StatusCode, String) {
    let r = app
        .anon(method.parse().unwrap(), &concrete(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = StatusCode::from_u16(r.status().as_u16()).unwrap();
    (status, r.text().await.unwrap_or_default())
}

async fn call_console(d: &Desk, c: &Console, method: &str, path: &str) -> (StatusCode, String) {
    let r = d
        .call(c, method.parse().unwrap(), &concrete(path))
        .send()
        .await
        .unwrap();
    let status = StatusCode::from_u16(r.status().as_u16()).unwrap();
    (status, r.text().await.unwrap_or_default())
}

async fn every_route_refuses_a_caller_without_its_permission(b: TestBackend) {
    let d = Desk::new(b).await;
    let app = &d.app;
    let doc = document(app).await;
    let ops = operations(&doc);
    // An admin-role token limited to a permission set holds exactly that set: one token per
    // permission (or group of permissions) left out.
    let mut tokens: HashMap<Vec<Permission>, String> = HashMap::new();
    let boss = d.agent("Boss", 2, AgentRole::Admin).await;
    let admin = d.sign_in(&boss).await;
    let mut walked = 0;
    for ((method, path), needs) in &ops {
        let Needs::AnyOf(without) = needs else {
            continue;
        };
        if !tokens.contains_key(without) {
            let held = without.iter().fold(PermissionSet::all(), |s, p| {
                s.difference(PermissionSet::EMPTY.with(*p))
            });
            let names: Vec<&str> = held.iter().map(Permission::as_str).collect();
            let r = app
                .req(Method::POST, "/api/v1/permission-sets")
                .json(&json!({"name": format!("all but {without:?}"), "permissions": names}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::CREATED);
            let set: Value = r.json().await.unwrap();
            let r = app
                .req(Method::POST, "/api/v1/api-tokens")
                .json(&json!({"name": "walk", "role": "admin", "permission_set_id": set["id"]}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::CREATED);
            let created: Value = r.json().await.unwrap();
            tokens.insert(
                without.clone(),
                created["token"].as_str().unwrap().to_owned(),
            );
        }
        let (status, body) = call_token(app, &tokens[without], method, path).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "{method} {path} without {without:?}: {body}"
        );
        let error: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(error["code"], "forbidden", "{method} {path}: {body}");
        let (status, body) = call_console(&d, &admin, method, path).await;
        assert_ne!(
            status,
            StatusCode::FORBIDDEN,
            "{method} {path} with every permission: {body}"
        );
        assert!(
            status != StatusCode::INTERNAL_SERVER_ERROR,
            "{method} {path}: {body}"
        );
        walked += 1;
    }
    assert!(walked > 100, "only {walked} operations walked");
}

/// docs/permissions.md's table of routes, between its markers, is the document's.
async fn the_docs_table_is_the_documents(b: TestBackend) {
    let app = crate::TestApp::spawn(b).await;
    let doc = document(&app).await;
    let want: Vec<String> = operations(&doc)
        .iter()
        .map(|((method, path), needs)| format!("| {method} | `{path}` | {} |", needs.cell()))
        .collect();
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/permissions.md"
    ))
    .unwrap();
    let table: Vec<String> = text
        .split("<!-- routes:start -->")
        .nth(1)
        .and_then(|t| t.split("<!-- routes:end -->").next())
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("| ") && !l.starts_with("| Method") && !l.starts_with("|---"))
        .map(str::to_owned)
        .collect();
    if table != want {
        let missing: Vec<_> = want.iter().filter(|r| !table.contains(r)).collect();
        let extra: Vec<_> = table.iter().filter(|r| !want.contains(r)).collect();
        panic!(
            "docs/permissions.md disagrees with /api/openapi.json.\nmissing or different: {missing:#?}\n\
             not in the document: {extra:#?}\nthe table should read:\n| Method | Path | Permission |\n|---|---|---|\n{}",
            want.join("\n")
        );
    }
}

parley_store::on_both_backends!(
    every_route_refuses_a_caller_without_its_permission,
    the_docs_table_is_the_documents,
);
