//! `parley tokens` (issue 17): create with a name, role, lifetime and agent; list; revoke. The
//! token is printed alone on standard output, so scripts keep capturing it. `apply`, `create` and
//! `revoke` leave audit log entries (issue 16).

use parley_store::{Store, StoreOptions};
use parley_testkit::db::{TestBackend, fresh_url};

use crate::process::{apply, run};

const WORKSPACE: &str = r#"
queues:
  - name: Support
    routing_model: most_available
agents:
  - name: Ada
    email: ada@example.test
    role: agent
    capacity: 2
    queues: [Support]
"#;

async fn tokens_from_the_command_line(b: TestBackend) {
    let (db, _dir) = fresh_url(b).await;
    apply(&db, WORKSPACE);

    // The old spelling still works.
    let (ok, out, err) = run(&db, &["token", "create", "--role", "admin"]);
    assert!(ok, "{err}");
    assert!(
        out.trim().starts_with("pk_") && out.lines().count() == 1,
        "{out}"
    );

    let (ok, out, err) = run(
        &db,
        &[
            "tokens",
            "create",
            "--name",
            "Ada's script",
            "--role",
            "agent",
            "--agent",
            "ada@example.test",
            "--expires-in",
            "30d",
        ],
    );
    assert!(ok, "{err}");
    let secret = out.trim().to_owned();
    assert!(secret.starts_with("pk_"), "{out}");

    let (ok, _, err) = run(&db, &["tokens", "create", "--role", "agent"]);
    assert!(
        !ok && err.contains("agent_id"),
        "an agent token names its agent: {err}"
    );
    let (ok, _, err) = run(&db, &["tokens", "create", "--expires-in", "soon"]);
    assert!(!ok && err.contains("expires-in"), "{err}");

    let (ok, list, err) = run(&db, &["tokens", "list"]);
    assert!(ok, "{err}");
    let line = list
        .lines()
        .find(|l| l.contains("Ada's script"))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(line.contains("agent") && line.contains("expires"), "{line}");
    assert!(!list.contains(&secret), "{list}");
    let id = line.split('\t').next().unwrap().to_owned();

    let (ok, _, err) = run(&db, &["tokens", "revoke", &id]);
    assert!(ok, "{err}");
    let (ok, list, _) = run(&db, &["tokens", "list"]);
    assert!(
        ok && list
            .lines()
            .any(|l| l.starts_with(&id) && l.contains("revoked")),
        "{list}"
    );
    let (ok, _, _) = run(&db, &["tokens", "revoke", &id]);
    assert!(!ok, "revoking twice fails");

    let store = Store::connect(&db, &StoreOptions::default()).await.unwrap();
    let t = store.api_token(id.parse().unwrap()).await.unwrap();
    assert!(t.revoked_at.is_some() && t.agent_id.is_some() && t.expires_at.is_some());

    // Each change the commands made is in the audit log, by the command line (issue 16).
    let log = store
        .list_audit_entries(&parley_store::AuditFilter::default(), 50)
        .await
        .unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "api_token_revoked",
            "api_token_created",
            "api_token_created",
            "workspace_applied"
        ],
        "{log:?}"
    );
    assert!(log.iter().all(|e| e.actor_kind == "cli"));
    assert_eq!(log[0].resource_id.as_deref(), Some(id.as_str()));
    assert_eq!(log[3].detail["created"], 2, "{:?}", log[3].detail);
    assert!(!format!("{log:?}").contains(&secret));
    store.close().await;
}

parley_store::on_both_backends!(tokens_from_the_command_line);
