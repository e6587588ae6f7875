//! Webhook deliveries: an attempt's outcome and a redelivery asked for while it ran.

use std::time::Duration;

use parley_core::Timestamp;
use parley_store::testing::{TestBackend, fresh};
use parley_store::*;

const T0: Timestamp = Timestamp(1_700_000_000_000);
const LEASE: Duration = Duration::from_secs(60);

async fn a_redelivery_asked_during_an_attempt_is_kept(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let sub = s
        .create_webhook_subscription(
            &SubscriptionSpec {
                name: "shop".into(),
                url: "http://127.0.0.1:9/hook".into(),
                event_types: vec!["message.received".into()],
                channel_ids: None,
                active: true,
            },
            "a secret of sixteen+",
            T0,
        )
        .await
        .unwrap();
    let ids = s
        .write_webhook_deliveries(
            &[NewDelivery {
                subscription_id: sub.id,
                event_type: "message.received".into(),
                event_id: parley_core::new_id(),
                payload: "{}".into(),
            }],
            T0,
        )
        .await
        .unwrap();
    let attempt = |d: &WebhookDelivery, code, status, next| DeliveryAttempt {
        id: d.id,
        attempt: d.attempts,
        status_code: Some(code),
        response: None,
        error: None,
        status,
        next_attempt_at: next,
        leased_until: d.next_attempt_at,
    };

    // A failed attempt with nobody asking meanwhile backs off.
    let first = s.claim_webhook_deliveries(T0, LEASE, 32).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].id, ids[0]);
    let t1 = T0.plus(Duration::from_secs(1));
    let backoff = t1.plus(Duration::from_secs(600));
    assert!(
        s.update_webhook_delivery(&attempt(&first[0], 500, "pending", backoff), t1)
            .await
            .unwrap()
    );
    let d = s.webhook_delivery(ids[0]).await.unwrap();
    assert_eq!((d.status.as_str(), d.next_attempt_at), ("pending", backoff));

    // Redelivered by hand, then asked again while that attempt runs: the failure that follows
    // neither backs off nor gives up over the second request.
    let t2 = t1.plus(Duration::from_secs(5));
    s.set_webhook_delivery_due(sub.id, ids[0], t2)
        .await
        .unwrap();
    let second = s.claim_webhook_deliveries(t2, LEASE, 32).await.unwrap();
    assert_eq!(second[0].attempts, 2);
    let t3 = t2.plus(Duration::from_secs(1));
    s.set_webhook_delivery_due(sub.id, ids[0], t3)
        .await
        .unwrap();
    let t4 = t3.plus(Duration::from_secs(1));
    assert!(
        s.update_webhook_delivery(&attempt(&second[0], 500, "failed", t4), t4)
            .await
            .unwrap()
    );
    let d = s.webhook_delivery(ids[0]).await.unwrap();
    assert_eq!((d.status.as_str(), d.next_attempt_at), ("pending", t3));
    assert_eq!(d.last_status_code, Some(500));

    // It goes again, and a success stands.
    let third = s.claim_webhook_deliveries(t4, LEASE, 32).await.unwrap();
    assert_eq!(third.len(), 1);
    assert!(
        s.update_webhook_delivery(&attempt(&third[0], 200, "succeeded", t4), t4)
            .await
            .unwrap()
    );
    let d = s.webhook_delivery(ids[0]).await.unwrap();
    assert_eq!((d.status.as_str(), d.attempts), ("succeeded", 3));
}

parley_store::on_both_backends!(a_redelivery_asked_during_an_attempt_is_kept);
