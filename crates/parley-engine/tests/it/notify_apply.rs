//! Issue 13 through `parley apply`: a channel's notification triggers and its templates' merge
//! fields come from a workspace file, checked before anything is written.

use parley_core::{ManualClock, Timestamp};
use parley_engine::provision::{WorkspaceFile, apply};
use parley_store::testing::{TestBackend, fresh};

const FILE: &str = r#"{
  "channels": [{
    "name": "Main SMS", "kind": "sms", "provider": "simulator", "address": "+14155550100",
    "number_type": "long_code", "consent_level": "implicit",
    "settings": {"notification_triggers": [
      {"on": "case_closed", "template": "case_done"},
      {"on": "consent_changed", "template": "case_done", "language": "en",
       "consent": ["explicitly_opted_in"]}]},
    "templates": [{"name": "case_done", "language": "en", "category": "utility",
                   "body": "Hi {{1}}, case {{2}} is closed.",
                   "merge_fields": {"2": "case.number", "1": "contact.first_name"}}]
  }]
}"#;

fn file(json: &str) -> WorkspaceFile {
    serde_json::from_str(json).unwrap()
}

async fn triggers_and_merge_fields_apply_once(b: TestBackend) {
    let db = fresh(b).await;
    let clock = ManualClock::new(Timestamp(1_700_000_000_000));
    let first = apply(&db.store, &clock, &file(FILE), false).await.unwrap();
    assert_eq!(first.created.len(), 2, "{first:?}");
    let second = apply(&db.store, &clock, &file(FILE), false).await.unwrap();
    assert!(!second.changed(), "{second:?}");

    let channel = db.store.channel_by_name("Main SMS").await.unwrap().unwrap();
    let behaviour = parley_engine::channel_rules::behaviour_of(&channel.settings).unwrap();
    assert_eq!(behaviour.notification_triggers.len(), 2);
    let t = db
        .store
        .template(channel.id, "case_done", "en")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        db.store.template_merge_fields(t.id).await.unwrap(),
        ["contact.first_name", "case.number"]
    );

    // A changed merge field is an update.
    let edited = FILE.replace("\"case.number\"", "\"case.subject\"");
    let third = apply(&db.store, &clock, &file(&edited), false)
        .await
        .unwrap();
    assert_eq!(third.updated.len(), 1, "{third:?}");
    assert_eq!(
        db.store.template_merge_fields(t.id).await.unwrap(),
        ["contact.first_name", "case.subject"]
    );
}

async fn a_bad_trigger_or_field_writes_nothing(b: TestBackend) {
    let db = fresh(b).await;
    let clock = ManualClock::new(Timestamp(1_700_000_000_000));
    for (bad, word) in [
        (
            FILE.replace("\"template\": \"case_done\"}", "\"template\": \"missing\"}"),
            "notification_triggers[0].template",
        ),
        (
            FILE.replace(
                "\"template\": \"case_done\", \"language\": \"en\"",
                "\"template\": \"case_done\", \"language\": \"fr\"",
            ),
            "notification_triggers[1].template",
        ),
        (
            FILE.replace("\"on\": \"case_closed\"", "\"on\": \"case_opened\""),
            "case_opened",
        ),
        (
            FILE.replace("\"case.number\"", "\"agent.name\""),
            "agent.name",
        ),
    ] {
        let err = apply(&db.store, &clock, &file(&bad), false)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(word), "{word}: {err}");
        assert!(
            db.store
                .channel_by_name("Main SMS")
                .await
                .unwrap()
                .is_none(),
            "nothing written for {word}"
        );
    }
}

parley_store::on_both_backends!(
    triggers_and_merge_fields_apply_once,
    a_bad_trigger_or_field_writes_nothing,
);
