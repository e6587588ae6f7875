//! Issue 18, permissions you can grant: `GET /api/v1/me`, the permission catalogue, permission
//! sets (the built-in role sets among them) and agent grants, the rules on every write (no one
//! grants what they lack, built-in sets stay, someone keeps `manage_users`), and changes applying
//! at the next request. On both databases.

use parley_core::access::{Permission, PermissionSet};
use parley_core::model::{AgentRole, TokenRole};
use parley_store::testing::TestBackend;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::TestApp;
use crate::console::{Console, Desk};

async fn call(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut r = app.anon(method, path).bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    parley_testkit::status_and_json(r).await
}

async fn console(
    d: &Desk,
    c: &Console,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut r = d.call(c, method, path);
    if let Some(b) = body {
        r = r.json(&b);
    }
    parley_testkit::status_and_json(r).await
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect()
}

fn set_of(v: &Value) -> PermissionSet {
    PermissionSet::parse_list(&names(v)).unwrap()
}

async fn built_in_sets_are_the_roles_defaults(b: TestBackend) {
    let app = TestApp::spawn(b).await;
    let (s, sets) = call(
        &app,
        &app.token,
        Method::GET,
        "/api/v1/permission-sets",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{sets}");
    let sets = sets.as_array().unwrap();
    assert_eq!(sets.len(), 4);
    for role in AgentRole::ALL {
        let set = sets
            .iter()
            .find(|s| s["builtin_role"] == role.as_str())
            .unwrap_or_else(|| panic!("no set for {role}"));
        assert_eq!(
            set_of(&set["permissions"]),
            PermissionSet::for_role(role.token_role()),
            "{role}"
        );
        assert_eq!(
            set["id"],
            parley_store::builtin_permission_set_id(*role).to_string()
        );
        // Edited, never deleted.
        let (s, v) = call(
            &app,
            &app.token,
            Method::DELETE,
            &format!("/api/v1/permission-sets/{}", set["id"].as_str().unwrap()),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    }
    let (s, catalogue) = call(&app, &app.token, Method::GET, "/api/v1/permissions", None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(catalogue.as_array().unwrap().len(), Permission::ALL.len());
    assert!(
        catalogue
            .as_array()
            .unwrap()
            .iter()
            .all(|p| !p["description"].as_str().unwrap().is_empty())
    );
    // A token of no agent is its own caller.
    let (s, me) = call(&app, &app.token, Method::GET, "/api/v1/me", None).await;
    assert_eq!(s, StatusCode::OK, "{me}");
    assert_eq!(me["role"], "admin");
    assert_eq!(set_of(&me["permissions"]), PermissionSet::all());
}

async fn grants_apply_at_the_next_request(b: TestBackend) {
    let d = Desk::new(b).await;
    let app = &d.app;
    let ada = d.agent("Ada", 2, AgentRole::Agent).await;
    let boss = d.agent("Boss", 2, AgentRole::Admin).await;
    let c = d.sign_in(&ada).await;
    let (s, me) = console(&d, &c, Method::GET, "/api/v1/me", None).await;
    assert_eq!(s, StatusCode::OK, "{me}");
    for key in ["id", "name", "email", "role", "locale", "permissions"] {
        assert!(me.get(key).is_some(), "{key}: {me}");
    }
    assert_eq!(me["id"], ada.id.to_string());
    assert_eq!(
        me["agent"]["email"], ada.email,
        "the console's own fields stay"
    );
    assert_eq!(
        set_of(&me["permissions"]),
        PermissionSet::for_role(parley_core::model::TokenRole::Agent)
    );
    // Ada may not list queues' configuration... until she is granted it.
    let (s, _) = console(
        &d,
        &c,
        Method::POST,
        "/api/v1/queues",
        Some(json!({"name": "Ada's"})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Bad input names the field.
    for (body, field) in [
        (json!({"name": "", "permissions": []}), "name"),
        (json!({"name": "x", "permissions": ["root"]}), "permissions"),
        (
            json!({"name": "x", "permissions": "supervise"}),
            "permissions",
        ),
        (json!({"name": "x", "permissions": [], "extra": 1}), "extra"),
    ] {
        let (s, v) = call(
            app,
            &app.token,
            Method::POST,
            "/api/v1/permission-sets",
            Some(body),
        )
        .await;
        assert!(s.is_client_error(), "{s} {v}");
        assert!(
            v["message"].as_str().unwrap().contains(field),
            "{field}: {v}"
        );
    }
    let (s, config) = call(
        app,
        &app.token,
        Method::POST,
        "/api/v1/permission-sets",
        Some(json!({"name": "Queue admin", "permissions": ["configure_messaging"]})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{config}");
    let config_id = config["id"].as_str().unwrap().to_owned();
    let (s, _) = call(
        app,
        &app.token,
        Method::POST,
        "/api/v1/permission-sets",
        Some(json!({"name": "Queue admin", "permissions": []})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "names are unique");
    let grants = format!("/api/v1/agents/{}/permission-sets", ada.id);
    let (s, v) = call(
        app,
        &app.token,
        Method::PUT,
        &grants,
        Some(json!({"permission_set_ids": [config_id]})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(names(&v["permissions"]).contains(&"configure_messaging".to_owned()));
    let (s, v) = call(
        app,
        &app.token,
        Method::PUT,
        &grants,
        Some(json!({"permission_set_ids": [Uuid::now_v7()]})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    // The same console, no new sign-in: the grant holds at its next request.
    let (s, v) = console(
        &d,
        &c,
        Method::POST,
        "/api/v1/queues",
        Some(json!({"name": "Ada's"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");

    // Ada still may not grant what she lacks; nor may she manage users at all.
    let (s, _) = console(&d, &c, Method::GET, "/api/v1/permission-sets", None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = call(
        app,
        &app.token,
        Method::PUT,
        &format!("/api/v1/permission-sets/{config_id}"),
        Some(
            json!({"name": "Queue admin", "permissions": ["configure_messaging", "manage_users"]}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = console(
        &d,
        &c,
        Method::POST,
        "/api/v1/permission-sets",
        Some(json!({"name": "Mine", "permissions": ["supervise"]})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["message"].as_str().unwrap().contains("supervise"), "{v}");
    let (s, v) = console(
        &d,
        &c,
        Method::POST,
        "/api/v1/agents",
        Some(json!({"name": "Eve", "email": "eve@example.test", "role": "admin"})),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no admin made by a non-admin: {v}"
    );

    // Editing a built-in role's set changes every agent of the role at once.
    let agent_set = parley_store::builtin_permission_set_id(AgentRole::Agent);
    let (s, v) = call(
        app,
        &app.token,
        Method::PUT,
        &format!("/api/v1/permission-sets/{agent_set}"),
        Some(json!({"name": "Agent", "permissions": ["send_receive", "view_queue_conversations"]})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, me) = console(&d, &c, Method::GET, "/api/v1/me", None).await;
    let mine = set_of(&me["permissions"]);
    assert!(!mine.contains(Permission::EndSessions) && mine.contains(Permission::ManageUsers));

    // The last holder of manage_users keeps it: Boss (admin) and Ada (granted) hold it now.
    let b = d.sign_in(&boss).await;
    let (s, v) = console(
        &d,
        &b,
        Method::PUT,
        &grants,
        Some(json!({"permission_set_ids": []})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let admin_set = parley_store::builtin_permission_set_id(AgentRole::Admin);
    let (s, v) = console(
        &d,
        &b,
        Method::PUT,
        &format!("/api/v1/permission-sets/{admin_set}"),
        Some(json!({"name": "Admin", "permissions": ["configure_messaging"]})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("manage_users"),
        "{v}"
    );
    let (s, v) = console(
        &d,
        &b,
        Method::PUT,
        &format!("/api/v1/agents/{}", boss.id),
        Some(json!({"name": "Boss", "email": boss.email, "role": "agent"})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let (s, v) = console(
        &d,
        &b,
        Method::DELETE,
        &format!("/api/v1/agents/{}", boss.id),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    // A set in use by a live token stays until the token is revoked.
    let (s, v) = call(
        app,
        &app.token,
        Method::POST,
        "/api/v1/api-tokens",
        Some(json!({"name": "limited", "role": "admin", "permission_set_id": config_id})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let limited = v["token"].as_str().unwrap().to_owned();
    let (_, me) = call(app, &limited, Method::GET, "/api/v1/me", None).await;
    assert_eq!(
        set_of(&me["permissions"]),
        PermissionSet::from_slice(&[Permission::ConfigureMessaging, Permission::ManageUsers])
    );
    let set_path = format!("/api/v1/permission-sets/{config_id}");
    let (s, _) = call(app, &app.token, Method::DELETE, &set_path, None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = call(
        app,
        &app.token,
        Method::DELETE,
        &format!("/api/v1/api-tokens/{}", v["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = call(app, &app.token, Method::DELETE, &set_path, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
}

/// An agent's token holds no more than the agent: its role's set met with the agent's.
async fn agent_tokens_hold_what_the_agent_holds(b: TestBackend) {
    let d = Desk::new(b).await;
    let app = &d.app;
    let ada = d.agent("Ada", 2, AgentRole::Agent).await;
    let (s, v) = call(
        app,
        &app.token,
        Method::POST,
        "/api/v1/api-tokens",
        Some(json!({"name": "Ada's script", "role": "agent", "agent_id": ada.id})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let token = v["token"].as_str().unwrap().to_owned();
    let (_, me) = call(app, &token, Method::GET, "/api/v1/me", None).await;
    assert_eq!(me["id"], ada.id.to_string());
    assert_eq!(
        set_of(&me["permissions"]),
        PermissionSet::for_role(TokenRole::Agent)
    );
    // Granting Ada supervision does not widen her agent-role token.
    let (_, sup) = call(
        app,
        &app.token,
        Method::POST,
        "/api/v1/permission-sets",
        Some(json!({"name": "Watch", "permissions": ["supervise", "view_all_conversations"]})),
    )
    .await;
    let (s, _) = call(
        app,
        &app.token,
        Method::PUT,
        &format!("/api/v1/agents/{}/permission-sets", ada.id),
        Some(json!({"permission_set_ids": [sup["id"]]})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (_, me) = call(app, &token, Method::GET, "/api/v1/me", None).await;
    assert_eq!(
        set_of(&me["permissions"]),
        PermissionSet::for_role(TokenRole::Agent)
    );
    // Taking send_receive from the agent role takes it from her token too.
    let agent_set = parley_store::builtin_permission_set_id(AgentRole::Agent);
    call(
        app,
        &app.token,
        Method::PUT,
        &format!("/api/v1/permission-sets/{agent_set}"),
        Some(json!({"name": "Agent", "permissions": ["view_queue_conversations"]})),
    )
    .await;
    let (_, me) = call(app, &token, Method::GET, "/api/v1/me", None).await;
    assert_eq!(names(&me["permissions"]), vec!["view_queue_conversations"]);
}

parley_store::on_both_backends!(
    built_in_sets_are_the_roles_defaults,
    grants_apply_at_the_next_request,
    agent_tokens_hold_what_the_agent_holds,
);
