use parley_core::Timestamp;
use parley_store::testing::{TestBackend, fresh};
use parley_store::*;

const T0: Timestamp = Timestamp(1_700_000_000_000);
const DAY: i64 = 24 * 60 * 60 * 1000;

fn failure(stage: &'static str, code: &str) -> NotificationErrorWrite {
    NotificationErrorWrite {
        channel_id: None,
        template: "order_ready/en".into(),
        recipient: "+14155550100".into(),
        inputs: r#"{"template":{"name":"order_ready"}}"#.into(),
        stage,
        code: code.into(),
        reason: "merge fields without a value: case.number".into(),
        notification_id: None,
        entry_id: None,
        provider_code: None,
    }
}

async fn the_error_log_is_listed_deleted_and_swept(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let old = s
        .write_notification_error(&failure("validation", "3001"), T0)
        .await
        .unwrap();
    let t1 = Timestamp(T0.millis() + 31 * DAY);
    let recent = s
        .write_notification_error(&failure("exclusion", "2002"), t1)
        .await
        .unwrap();
    let third = s
        .write_notification_error(&failure("provider", "1001"), t1)
        .await
        .unwrap();

    let all = s.notification_errors(None, 10).await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all.last().unwrap().id, old, "newest first");
    assert_eq!(
        s.notification_error(recent).await.unwrap().stage,
        "exclusion"
    );

    s.delete_notification_error(third).await.unwrap();
    assert!(matches!(
        s.delete_notification_error(third).await,
        Err(StoreError::NotFound { .. })
    ));

    // Retention 30 days at t1: the entry of T0 goes, the recent one stays.
    let cutoff = Timestamp(t1.millis() - 30 * DAY);
    assert_eq!(
        s.delete_notification_errors_before(cutoff, 500)
            .await
            .unwrap(),
        1
    );
    let left: Vec<_> = s
        .notification_errors(None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(left, vec![recent]);
    assert!(
        s.notification_by_entry(uuid::Uuid::nil())
            .await
            .unwrap()
            .is_none()
    );
}

parley_store::on_both_backends!(the_error_log_is_listed_deleted_and_swept);
