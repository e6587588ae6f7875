//! The scale benchmark's bulk load: rows that link up as the product's own do (a customer's
//! contact, session and messages found through the same lookups the pipelines use).

use parley_core::Timestamp;
use parley_core::model::{ConsentStatus, Direction, SessionStatus};
use parley_store::bulk::{BulkLoad, bulk_phone};
use parley_store::testing::{TestBackend, fresh};
use parley_store::{ChannelSpec, PageRequest, SessionFilter};
use parley_testkit::build;

const T0: Timestamp = Timestamp(1_700_000_000_000);

async fn bulk_rows_link_like_the_products(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let channel = s.create_channel(&build::simulator_sms(), T0).await.unwrap();
    let mut chunks = 0;
    let loaded = s
        .bulk_load(&BulkLoad::new(channel.id, 30, 150, T0, 20), |_, _| {
            chunks += 1
        })
        .await
        .unwrap();
    assert_eq!(
        (
            loaded.contacts,
            loaded.users,
            loaded.sessions,
            loaded.entries
        ),
        (30, 30, 30, 150)
    );
    // 2 chunks for each of the three per-user tables, 8 for the entries.
    assert_eq!(chunks, 2 * 3 + 8);

    let user = s
        .messaging_user_by_key(channel.id, &bulk_phone(29))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.consent_status, Some(ConsentStatus::ImplicitlyOptedIn));
    let contacts = s.contacts_by_phones(&[bulk_phone(29)]).await.unwrap();
    assert_eq!(contacts.len(), 1);
    assert_eq!(user.contact_id, Some(contacts[0].id));
    assert!(s.open_session(user.id).await.unwrap().is_none());
    let sessions = s
        .list_sessions(
            SessionFilter {
                messaging_user_id: Some(user.id),
                ..Default::default()
            },
            PageRequest::new(None, 10),
        )
        .await
        .unwrap();
    assert_eq!(sessions.items.len(), 1);
    assert_eq!(sessions.items[0].status, SessionStatus::Ended);
    let entries = s
        .list_entries(sessions.items[0].id, PageRequest::new(None, 10))
        .await
        .unwrap();
    let directions: Vec<Direction> = entries.items.iter().map(|e| e.direction).collect();
    assert_eq!(
        directions,
        [
            Direction::Inbound,
            Direction::Outbound,
            Direction::Inbound,
            Direction::Outbound,
            Direction::Inbound
        ]
    );
    // Ids are time-ordered like the product's: a later row has a later id.
    assert!(entries.items.windows(2).all(|w| w[0].id < w[1].id));
    let last = entries.items.last().unwrap();
    let found = s
        .entry_by_provider_id(channel.id, last.provider_message_id.as_deref().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, last.id);
}

/// The campaign benchmark's audience: several channels loaded side by side (distinct numbers and
/// ids), explicitly opted in, with a first name, and no sessions or entries.
async fn bulk_audiences_on_several_channels(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let mut channels = Vec::new();
    for i in 0..2u64 {
        let spec = ChannelSpec {
            name: format!("Sender {i}"),
            address: format!("+1415555010{i}"),
            ..build::simulator_sms()
        };
        let channel = s.create_channel(&spec, T0).await.unwrap();
        let loaded = s
            .bulk_load(
                &BulkLoad {
                    consent: ConsentStatus::ExplicitlyOptedIn,
                    first_name: "Ann".to_owned(),
                    offset: 100 + i * 10,
                    sessions: false,
                    ..BulkLoad::new(channel.id, 10, 50, T0, 4)
                },
                |_, _| {},
            )
            .await
            .unwrap();
        assert_eq!(
            (
                loaded.contacts,
                loaded.users,
                loaded.sessions,
                loaded.entries
            ),
            (10, 10, 0, 0)
        );
        channels.push(channel.id);
    }
    // The second channel's customers start where the first one's end.
    assert!(
        s.messaging_user_by_key(channels[0], &bulk_phone(109))
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        s.messaging_user_by_key(channels[0], &bulk_phone(110))
            .await
            .unwrap()
            .is_none()
    );
    let user = s
        .messaging_user_by_key(channels[1], &bulk_phone(110))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.consent_status, Some(ConsentStatus::ExplicitlyOptedIn));
    let contacts = s.contacts_by_phones(&[bulk_phone(110)]).await.unwrap();
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0].first_name, "Ann");
    assert_eq!(user.contact_id, Some(contacts[0].id));
    let sessions = s
        .list_sessions(
            SessionFilter {
                messaging_user_id: Some(user.id),
                ..Default::default()
            },
            PageRequest::new(None, 10),
        )
        .await
        .unwrap();
    assert!(sessions.items.is_empty());
}

parley_store::on_both_backends!(
    bulk_rows_link_like_the_products,
    bulk_audiences_on_several_channels
);
