use parley_core::model::*;
use parley_core::{ManualClock, Timestamp};
use parley_engine::provision::{WorkspaceFile, apply};
use parley_store::PageRequest;
use parley_store::testing::{TestBackend, fresh};

const FILE: &str = r#"{
  "queues": [{"name": "Support"}, {"name": "Billing", "routing_model": "least_active", "priority": 1}],
  "skills": [{"name": "French"}],
  "channels": [{
    "name": "Main SMS", "kind": "sms", "provider": "simulator", "address": "+1 415 555 0100",
    "number_type": "toll_free", "queue": "Support", "consent_level": "implicit",
    "secrets": {"auth_token": "t"},
    "keyword_sets": {"en": {"opt_out": ["STOP"]}, "fr": {"opt_out": ["ARRET"]}},
    "templates": [{"name": "hello", "language": "en", "category": "utility", "body": "Hi"}]
  }],
  "agents": [{"name": "Ada", "email": "Ada@Example.test", "queues": ["Support", "Billing"],
              "skills": [{"name": "French", "level": 6}]}]
}"#;

fn file(json: &str) -> WorkspaceFile {
    serde_json::from_str(json).unwrap()
}

async fn apply_twice_changes_nothing(b: TestBackend) {
    let db = fresh(b).await;
    let clock = ManualClock::new(Timestamp(1_700_000_000_000));
    let first = apply(&db.store, &clock, &file(FILE), false).await.unwrap();
    assert_eq!(first.created.len(), 2 + 1 + 1 + 2 + 1 + 1, "{first:?}");
    let second = apply(&db.store, &clock, &file(FILE), false).await.unwrap();
    assert!(!second.changed(), "{second:?}");
    assert_eq!(second.unchanged, first.created.len());

    let channel = db.store.channel_by_name("Main SMS").await.unwrap().unwrap();
    assert_eq!(channel.address, "+14155550100", "stored in E.164");
    assert_eq!(channel.consent_level, ConsentLevel::Implicit);
    let agent = db
        .store
        .agent_by_email("ada@example.test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(agent.queue_ids.len(), 2);
    assert_eq!(agent.skills[0].level, 6);
}

async fn removal_deletes_only_with_prune(b: TestBackend) {
    let db = fresh(b).await;
    let clock = ManualClock::new(Timestamp(1_700_000_000_000));
    apply(&db.store, &clock, &file(FILE), false).await.unwrap();
    let smaller = file(r#"{"queues": [{"name": "Support"}], "skills": [{"name": "French"}]}"#);
    let kept = apply(&db.store, &clock, &smaller, false).await.unwrap();
    assert!(kept.deleted.is_empty());
    assert_eq!(
        db.store
            .list_channels(PageRequest::new(None, 10))
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    let pruned = apply(&db.store, &clock, &smaller, true).await.unwrap();
    assert_eq!(pruned.deleted.len(), 3, "{pruned:?}");
    assert!(
        db.store
            .list_channels(PageRequest::new(None, 10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(
        db.store
            .list_agents(PageRequest::new(None, 10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(
        db.store
            .list_queues(PageRequest::new(None, 10))
            .await
            .unwrap()
            .items
            .len(),
        1
    );
}

async fn edits_are_updates(b: TestBackend) {
    let db = fresh(b).await;
    let clock = ManualClock::new(Timestamp(1_700_000_000_000));
    apply(&db.store, &clock, &file(FILE), false).await.unwrap();
    let edited = FILE
        .replace("\"priority\": 1", "\"priority\": 3")
        .replace("\"level\": 6", "\"level\": 7");
    let report = apply(&db.store, &clock, &file(&edited), false)
        .await
        .unwrap();
    assert_eq!(
        report.updated,
        vec![
            "queue Billing".to_owned(),
            "agent ada@example.test".to_owned()
        ]
    );
}

async fn a_bad_file_writes_nothing(b: TestBackend) {
    let db = fresh(b).await;
    let clock = ManualClock::new(Timestamp(1_700_000_000_000));
    let bad_phone = FILE.replace("+1 415 555 0100", "+447700900123");
    let err = apply(&db.store, &clock, &file(&bad_phone), false)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("not a valid phone number"),
        "{err}"
    );
    // Keyword rules are checked at save time: an explicit channel needs an opt-in keyword and
    // prompt, and a keyword may sit in one list only.
    let explicit = FILE.replace(
        "\"consent_level\": \"implicit\"",
        "\"consent_level\": \"explicit\"",
    );
    let err = apply(&db.store, &clock, &file(&explicit), false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("opt-in"), "{err}");
    let twice = FILE.replace(
        "\"fr\": {\"opt_out\": [\"ARRET\"]}",
        "\"fr\": {\"opt_out\": [\"STOP\"]}",
    );
    let err = apply(&db.store, &clock, &file(&twice), false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("STOP"), "{err}");
    let dup = file(r#"{"queues": [{"name": "A"}, {"name": "a"}]}"#);
    assert!(
        apply(&db.store, &clock, &dup, false)
            .await
            .unwrap_err()
            .to_string()
            .contains("twice")
    );
    let dangling =
        file(r#"{"agents": [{"name": "X", "email": "x@example.test", "queues": ["Nope"]}]}"#);
    assert!(
        apply(&db.store, &clock, &dangling, false)
            .await
            .unwrap_err()
            .to_string()
            .contains("Nope")
    );
    assert!(
        serde_json::from_str::<WorkspaceFile>(r#"{"queues": [{"name": "A", "colour": "red"}]}"#)
            .is_err()
    );
    assert!(
        db.store
            .list_agents(PageRequest::new(None, 10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(
        db.store
            .list_queues(PageRequest::new(None, 10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(
        db.store
            .list_skills(PageRequest::new(None, 10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

parley_store::on_both_backends!(
    apply_twice_changes_nothing,
    removal_deletes_only_with_prune,
    edits_are_updates,
    a_bad_file_writes_nothing,
);
