use parley_core::model::*;
use parley_core::{Timestamp, new_id};
use parley_store::testing::{TestBackend, fresh};
use parley_store::*;
use parley_testkit::build;

const T0: Timestamp = Timestamp(1_700_000_000_000);
const T1: Timestamp = Timestamp(1_700_000_060_000);

async fn channel(s: &Store) -> Channel {
    s.create_channel(&build::simulator_sms(), T0).await.unwrap()
}

fn origin() -> ConsentOrigin {
    ConsentOrigin {
        source: ConsentSource::Import,
        reason: "imported from users.csv".into(),
        entry_id: None,
    }
}

async fn existing_user(s: &Store, c: &Channel, key: &str) -> MessagingUser {
    s.create_messaging_user(
        &NewMessagingUser {
            name: "Old".into(),
            ..build::new_user(c.id, key, Some(ConsentStatus::ImplicitlyOptedIn))
        },
        &build::origin(ConsentSource::Inbound, "first message"),
        T0,
    )
    .await
    .unwrap()
}

fn key(i: usize) -> String {
    format!("+1415555{i:04}")
}

/// Enough new users (7 parameters each) that both databases need more than one statement for
/// them, and more than one statement to look them up on SQLite.
async fn a_batch_creates_updates_and_records_history(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let c = channel(s).await;
    let old = existing_user(s, &c, "+447400123456").await;

    let n = 10_000;
    let creates: Vec<UserInsert> = (0..n)
        .map(|i| UserInsert {
            id: new_id(),
            channel_id: c.id,
            platform_key: key(i),
            name: format!("User {i}"),
            locale: (i % 2 == 0).then(|| "en".to_owned()),
            consent_status: Some(ConsentStatus::ExplicitlyOptedIn),
            contact_id: None,
        })
        .collect();
    let mut consent: Vec<ConsentChange> = creates
        .iter()
        .map(|u| ConsentChange {
            messaging_user_id: u.id,
            from: None,
            to: ConsentStatus::ExplicitlyOptedIn,
        })
        .collect();
    consent.push(ConsentChange {
        messaging_user_id: old.id,
        from: Some(ConsentStatus::ImplicitlyOptedIn),
        to: ConsentStatus::OptedOut,
    });
    let batch = UserImportBatch {
        creates: creates.clone(),
        updates: vec![UserUpdate {
            id: old.id,
            seen_updated_at: old.updated_at,
            name: "New Name".into(),
            locale: Some("fr".into()),
            consent_status: Some(ConsentStatus::OptedOut),
        }],
        consent,
        profiles: vec![],
        origin: origin(),
    };
    let written = s.import_messaging_users(&batch, T1).await.unwrap();
    assert_eq!(
        written,
        ImportWritten {
            created: n as u64,
            updated: 1,
            consent_events: n as u64 + 1
        }
    );

    let mut keys: Vec<String> = (0..n).map(key).collect();
    keys.push(old.platform_key.clone());
    keys.push("+19999999999".into());
    let found = s.messaging_users_by_keys(c.id, &keys).await.unwrap();
    assert_eq!(found.len(), n + 1, "every key but the unknown one");

    let first = found.iter().find(|u| u.platform_key == key(0)).unwrap();
    assert_eq!(first.name, "User 0");
    assert_eq!(first.locale.as_deref(), Some("en"));
    assert_eq!(first.consent_status, Some(ConsentStatus::ExplicitlyOptedIn));
    assert_eq!(first.created_at, T1);
    let history = s.consent_history(first.id).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].from_status, None);
    assert_eq!(history[0].to_status, ConsentStatus::ExplicitlyOptedIn);
    assert_eq!(history[0].source, ConsentSource::Import);
    assert_eq!(history[0].reason, "imported from users.csv");
    assert_eq!(history[0].at, T1);

    let updated = s.messaging_user(old.id).await.unwrap();
    assert_eq!(updated.name, "New Name");
    assert_eq!(updated.locale.as_deref(), Some("fr"));
    assert_eq!(updated.consent_status, Some(ConsentStatus::OptedOut));
    assert_eq!(updated.updated_at, T1);
    let history = s.consent_history(old.id).await.unwrap();
    assert_eq!(history.len(), 2, "the inbound creation, then the import");
    assert_eq!(
        history[1].from_status,
        Some(ConsentStatus::ImplicitlyOptedIn)
    );
    assert_eq!(history[1].to_status, ConsentStatus::OptedOut);

    // Another channel's users are not found by this channel's keys.
    assert!(
        s.messaging_users_by_keys(new_id(), &keys)
            .await
            .unwrap()
            .is_empty()
    );
    let empty = UserImportBatch {
        creates: vec![],
        updates: vec![],
        consent: vec![],
        profiles: vec![],
        origin: origin(),
    };
    assert_eq!(
        s.import_messaging_users(&empty, T1).await.unwrap(),
        ImportWritten::default()
    );
}

/// A user changed since it was read, or created by someone else since: the whole batch is refused
/// and nothing of it is written.
async fn a_stale_batch_writes_nothing(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let c = channel(s).await;
    let old = existing_user(s, &c, "+447400123456").await;
    let fresh_user = UserInsert {
        id: new_id(),
        channel_id: c.id,
        platform_key: key(1),
        name: String::new(),
        locale: None,
        consent_status: Some(ConsentStatus::DoublyOptedIn),
        contact_id: None,
    };
    let stale = UserImportBatch {
        creates: vec![fresh_user.clone()],
        updates: vec![UserUpdate {
            id: old.id,
            seen_updated_at: Timestamp(old.updated_at.millis() - 1),
            name: "Stale".into(),
            locale: None,
            consent_status: Some(ConsentStatus::OptedOut),
        }],
        consent: vec![
            ConsentChange {
                messaging_user_id: fresh_user.id,
                from: None,
                to: ConsentStatus::DoublyOptedIn,
            },
            ConsentChange {
                messaging_user_id: old.id,
                from: Some(ConsentStatus::ImplicitlyOptedIn),
                to: ConsentStatus::OptedOut,
            },
        ],
        profiles: vec![],
        origin: origin(),
    };
    let err = s.import_messaging_users(&stale, T1).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(
        s.messaging_users_by_keys(c.id, &[key(1)])
            .await
            .unwrap()
            .is_empty()
    );
    let unchanged = s.messaging_user(old.id).await.unwrap();
    assert_eq!(unchanged.name, "Old");
    assert_eq!(s.consent_history(old.id).await.unwrap().len(), 1);

    let duplicate = UserImportBatch {
        creates: vec![
            fresh_user.clone(),
            UserInsert {
                id: new_id(),
                platform_key: old.platform_key.clone(),
                ..fresh_user.clone()
            },
        ],
        updates: vec![],
        consent: vec![],
        profiles: vec![],
        origin: origin(),
    };
    let err = s.import_messaging_users(&duplicate, T1).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert!(
        s.messaging_users_by_keys(c.id, &[key(1)])
            .await
            .unwrap()
            .is_empty()
    );
}

parley_store::on_both_backends!(
    a_batch_creates_updates_and_records_history,
    a_stale_batch_writes_nothing,
);
