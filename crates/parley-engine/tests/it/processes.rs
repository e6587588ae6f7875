use parley_core::keyword_process::{ProcessStatus, ProcessType};
use parley_core::{Clock, ManualClock, Timestamp};
use parley_engine::provision::{ProvisionError, WorkspaceFile, apply};
use parley_engine::service::sms_processes::{self as processes, ProcessDraft};
use parley_store::PageRequest;
use parley_store::testing::{TestBackend, fresh};
use serde_json::{Value, json};

fn file(v: Value) -> WorkspaceFile {
    serde_json::from_value(v).unwrap()
}

fn three_processes() -> Value {
    json!({
      "sms_processes": [
        {"name": "Kids stop", "kind": "unsubscribe", "number": "11221", "provider_keyword": "Kids",
         "custom_keywords": ["Basta"], "message": "Kids Club: you are unsubscribed."},
        {"name": "Kids help", "kind": "help", "number": "11221", "provider_keyword": "Kids",
         "message": "Kids Club Alerts: Help at help@kids.example. Msg&data rates may apply. 2 msgs/week. Reply STOP to end."},
        {"name": "DE stop", "kind": "unsubscribe", "number": "+49 151 1234 8765"}
      ]
    })
}

async fn apply_processes_twice_changes_nothing(b: TestBackend) {
    let db = fresh(b).await;
    let clock = ManualClock::new(Timestamp(1_700_000_000_000));
    let first = apply(&db.store, &clock, &file(three_processes()), false)
        .await
        .unwrap();
    assert_eq!(first.created.len(), 3, "{first:?}");
    assert!(
        first
            .created
            .contains(&"sms process unsubscribe 11221 / kids".to_owned()),
        "{first:?}"
    );
    let second = apply(&db.store, &clock, &file(three_processes()), false)
        .await
        .unwrap();
    assert!(!second.changed(), "{second:?}");
    assert_eq!(second.unchanged, 3);

    let stored = db.store.sms_processes(None).await.unwrap();
    assert!(
        stored
            .iter()
            .all(|p| p.process.status == ProcessStatus::Started),
        "a process in a file runs unless it says otherwise"
    );
    let de = stored.iter().find(|p| p.process.name == "DE stop").unwrap();
    assert_eq!(
        de.process.inbound.number, "+4915112348765",
        "stored as digits"
    );
    let kids = db.store.sms_processes(Some("11221")).await.unwrap();
    assert_eq!(kids.len(), 2);
    assert!(
        kids.iter()
            .all(|p| p.process.inbound.provider_keyword.as_deref() == Some("kids"))
    );
}

async fn file_edits_update_in_place(b: TestBackend) {
    let db = fresh(b).await;
    let clock = ManualClock::new(Timestamp(1_700_000_000_000));
    apply(&db.store, &clock, &file(three_processes()), false)
        .await
        .unwrap();
    let before = db.store.sms_processes(None).await.unwrap();

    // Same number (written differently), keyword and type: the same process, edited and paused.
    let mut edited = three_processes();
    edited["sms_processes"][2] = json!({"name": "DE stop", "kind": "unsubscribe",
        "number": "+4915112348765", "custom_keywords": ["Abmelden"], "status": "paused"});
    let report = apply(&db.store, &clock, &file(edited.clone()), false)
        .await
        .unwrap();
    assert_eq!(
        report.updated,
        vec!["sms process unsubscribe +4915112348765".to_owned()]
    );
    assert!(report.created.is_empty() && report.deleted.is_empty());
    let after = db.store.sms_processes(None).await.unwrap();
    assert_eq!(
        after.iter().map(|p| p.process.id).collect::<Vec<_>>(),
        before.iter().map(|p| p.process.id).collect::<Vec<_>>(),
        "ids are kept"
    );
    let de = after.iter().find(|p| p.process.name == "DE stop").unwrap();
    assert_eq!(de.process.status, ProcessStatus::Paused);
    assert_eq!(de.process.custom_keywords, vec!["Abmelden".to_owned()]);
    assert!(
        !apply(&db.store, &clock, &file(edited.clone()), false)
            .await
            .unwrap()
            .changed()
    );

    // A process that has run cannot go back to new.
    edited["sms_processes"][2]["status"] = json!("new");
    let err = apply(&db.store, &clock, &file(edited), false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cannot go back to new"), "{err}");
}

async fn removal_deletes_processes_only_with_prune(b: TestBackend) {
    let db = fresh(b).await;
    let clock = ManualClock::new(Timestamp(1_700_000_000_000));
    apply(&db.store, &clock, &file(three_processes()), false)
        .await
        .unwrap();
    // One made through the API, outside the file.
    processes::create(
        &db.store,
        clock.now(),
        &ProcessDraft {
            name: "US help".into(),
            kind: ProcessType::Help,
            number: "+14155550100".into(),
            provider_keyword: None,
            custom_keywords: Vec::new(),
            message: Some("Help is on the way".into()),
        },
    )
    .await
    .unwrap();
    let mut smaller = three_processes();
    smaller["sms_processes"].as_array_mut().unwrap().truncate(1);
    let kept = apply(&db.store, &clock, &file(smaller.clone()), false)
        .await
        .unwrap();
    assert!(kept.deleted.is_empty(), "{kept:?}");
    assert_eq!(db.store.sms_processes(None).await.unwrap().len(), 4);

    let pruned = apply(&db.store, &clock, &file(smaller.clone()), true)
        .await
        .unwrap();
    assert_eq!(pruned.deleted.len(), 3, "{pruned:?}");
    assert_eq!(pruned.unchanged, 1);
    let left = db.store.sms_processes(None).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].process.name, "Kids stop");
    assert!(
        !apply(&db.store, &clock, &file(smaller), true)
            .await
            .unwrap()
            .changed()
    );
}

async fn a_bad_process_writes_nothing(b: TestBackend) {
    let db = fresh(b).await;
    let clock = ManualClock::new(Timestamp(1_700_000_000_000));
    let empty = |db: &parley_store::testing::TestDb| {
        let store = db.store.clone();
        async move {
            store
                .list_queues(PageRequest::new(None, 10))
                .await
                .unwrap()
                .items
                .is_empty()
                && store.sms_processes(None).await.unwrap().is_empty()
        }
    };
    let cases = [
        (
            json!({"name": "Stop", "kind": "unsubscribe", "number": "11221", "custom_keywords": ["DEAL2"]}),
            "custom keyword 'DEAL2' is not valid",
        ),
        (
            json!({"name": "Help", "kind": "help", "number": "11221"}),
            "a help process must have a message",
        ),
        (
            json!({"name": "Stop", "kind": "unsubscribe", "number": "11221", "bogus": 1}),
            "unknown field",
        ),
    ];
    for (process, expected) in cases {
        let text = json!({"queues": [{"name": "Support"}], "sms_processes": [process]});
        let err = match serde_json::from_value::<WorkspaceFile>(text) {
            Err(e) => e.to_string(),
            Ok(f) => apply(&db.store, &clock, &f, false)
                .await
                .unwrap_err()
                .to_string(),
        };
        assert!(err.contains(expected), "{err}");
        assert!(empty(&db).await, "nothing written for {expected}");
    }

    // Twice the same assignment in one file.
    let twice = file(json!({"queues": [{"name": "Support"}], "sms_processes": [
        {"name": "A", "kind": "unsubscribe", "number": "11221", "provider_keyword": "kids"},
        {"name": "B", "kind": "unsubscribe", "number": "11221", "provider_keyword": "KIDS"}
    ]}));
    let err = apply(&db.store, &clock, &twice, false).await.unwrap_err();
    assert!(
        err.to_string().contains("appears twice in the file"),
        "{err}"
    );
    assert!(empty(&db).await);
}

/// A process left alone by the file still counts: the file may not add a process that clashes
/// with it, and nothing is written when it does. With pruning the stored one goes, so it may.
async fn a_clash_with_a_stored_process_writes_nothing(b: TestBackend) {
    let db = fresh(b).await;
    let clock = ManualClock::new(Timestamp(1_700_000_000_000));
    let help = processes::create(
        &db.store,
        clock.now(),
        &ProcessDraft {
            name: "Old help".into(),
            kind: ProcessType::Help,
            number: "11221".into(),
            provider_keyword: None,
            custom_keywords: vec!["Quit".into()],
            message: Some(
                "Acme Alerts: Help at help@acme.example. Msg&data rates may apply. 1 msg/day. Text STOP to cancel."
                    .into(),
            ),
        },
    )
    .await
    .unwrap();
    // QUIT is a default keyword of Unsubscribe, and the stored help process answers it.
    let f = file(json!({"queues": [{"name": "Support"}], "sms_processes": [
        {"name": "Stop", "kind": "unsubscribe", "number": "11221"}
    ]}));
    let err = apply(&db.store, &clock, &f, false).await.unwrap_err();
    assert!(matches!(err, ProvisionError::Invalid(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("'Quit' is already a keyword of the help process 'Old help'"),
        "{err}"
    );
    assert!(
        db.store
            .list_queues(PageRequest::new(None, 10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(db.store.sms_processes(None).await.unwrap().len(), 1);

    let report = apply(&db.store, &clock, &f, true).await.unwrap();
    assert_eq!(report.deleted, vec!["sms process help 11221".to_owned()]);
    let left = db.store.sms_processes(None).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_ne!(left[0].process.id, help.process.id);
    assert_eq!(left[0].process.kind, ProcessType::Unsubscribe);
}

parley_store::on_both_backends!(
    apply_processes_twice_changes_nothing,
    file_edits_update_in_place,
    removal_deletes_processes_only_with_prune,
    a_bad_process_writes_nothing,
    a_clash_with_a_stored_process_writes_nothing,
);
