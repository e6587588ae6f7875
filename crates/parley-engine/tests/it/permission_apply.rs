//! Issue 18: `parley apply` provisions permission sets (a built-in role's set edited by its name)
//! and agents' grants by name; twice changes nothing, absent grants stay, prune spares the
//! built-in sets, and an unknown set changes nothing at all.

use parley_core::access::{Permission, PermissionSet};
use parley_core::{ManualClock, Timestamp};
use parley_engine::provision::{WorkspaceFile, apply};
use parley_store::testing::{TestBackend, fresh};

const FILE: &str = r#"{
  "queues": [{"name": "Support"}],
  "permission_sets": [
    {"name": "Translators", "permissions": ["translate"]},
    {"name": "Broadcaster", "permissions": ["send_one_to_many", "manage_campaigns"]}
  ],
  "agents": [
    {"name": "Ada", "email": "ada@example.test", "queues": ["Support"],
     "permission_sets": ["Translators"]},
    {"name": "Bob", "email": "bob@example.test", "role": "broadcaster"}
  ]
}"#;

fn file(json: &str) -> WorkspaceFile {
    serde_json::from_str(json).unwrap()
}

async fn sets_and_grants_are_applied(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let clock = ManualClock::new(Timestamp(1_700_000_000_000));
    let first = apply(s, &clock, &file(FILE), false).await.unwrap();
    assert!(
        first
            .created
            .contains(&"permission set Translators".to_owned())
            && first
                .updated
                .contains(&"permission set Broadcaster".to_owned()),
        "{first:?}"
    );
    let second = apply(s, &clock, &file(FILE), false).await.unwrap();
    assert!(!second.changed(), "{second:?}");

    let ada = s.agent_by_email("ada@example.test").await.unwrap().unwrap();
    let held = s.agent_permissions(ada.id, ada.role).await.unwrap();
    assert!(held.contains(Permission::Translate) && held.contains(Permission::SendReceive));
    let bob = s.agent_by_email("bob@example.test").await.unwrap().unwrap();
    assert_eq!(
        s.agent_permissions(bob.id, bob.role).await.unwrap(),
        PermissionSet::from_slice(&[Permission::SendOneToMany, Permission::ManageCampaigns])
    );

    // A file without Ada's grants leaves them; prune removes the sets the file no longer names,
    // never a built-in one.
    let smaller = r#"{"queues": [{"name": "Support"}],
        "agents": [{"name": "Ada", "email": "ada@example.test", "queues": ["Support"]},
                   {"name": "Bob", "email": "bob@example.test", "role": "broadcaster"}]}"#;
    apply(s, &clock, &file(smaller), false).await.unwrap();
    assert_eq!(s.agent_permission_set_ids(ada.id).await.unwrap().len(), 1);
    let pruned = apply(s, &clock, &file(smaller), true).await.unwrap();
    assert_eq!(
        pruned.deleted,
        vec!["permission set Translators".to_owned()]
    );
    assert_eq!(s.list_permission_sets().await.unwrap().len(), 4);
    assert!(s.agent_permission_set_ids(ada.id).await.unwrap().is_empty());

    // An unknown set or permission is refused before anything is written.
    for bad in [
        r#"{"agents": [{"name": "Eve", "email": "eve@example.test", "permission_sets": ["Nope"]}]}"#,
        r#"{"permission_sets": [{"name": "Odd", "permissions": ["root"]}],
            "agents": [{"name": "Eve", "email": "eve@example.test"}]}"#,
    ] {
        assert!(apply(s, &clock, &file(bad), false).await.is_err(), "{bad}");
        assert!(
            s.agent_by_email("eve@example.test")
                .await
                .unwrap()
                .is_none()
        );
    }
}

/// The permission lookups run at every API request find their rows through indexes (the roles'
/// sets by their unique `builtin_role`, grants and agents by primary key), on both databases.
async fn request_lookups_use_indexes(b: TestBackend) {
    let db = fresh(b).await;
    let statements = [
        parley_store::AGENT_PERMISSIONS_SQL.to_owned(),
        parley_store::TOKEN_PERMISSIONS_SQL.to_owned(),
    ];
    for (sql, plan) in parley_store::testing::query_plans(&db.store, &statements).await {
        let plan = plan.unwrap_or_else(|e| panic!("{sql}: {e}"));
        for step in &plan {
            let scans =
                step.contains("Seq Scan") || (step.starts_with("SCAN") && !step.contains("USING"));
            assert!(!scans, "{sql}\nscans: {plan:#?}");
        }
    }
}

parley_store::on_both_backends!(sets_and_grants_are_applied, request_lookups_use_indexes);
