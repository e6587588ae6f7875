use parley_core::Timestamp;
use parley_core::model::*;
use parley_store::testing::{TestBackend, fresh};
use parley_store::*;
use parley_testkit::build;

const T0: Timestamp = Timestamp(1_700_000_000_000);

async fn setup(s: &Store) -> (Channel, MessagingUser) {
    let c = s.create_channel(&build::simulator_sms(), T0).await.unwrap();
    let u = s
        .create_messaging_user(
            &NewMessagingUser {
                locale: Some("en".into()),
                ..build::new_user(
                    c.id,
                    "+447400123456",
                    Some(ConsentStatus::ImplicitlyOptedIn),
                )
            },
            &build::origin(ConsentSource::Inbound, "first message"),
            T0,
        )
        .await
        .unwrap();
    (c, u)
}

async fn consent_changes_are_recorded(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let (c, u) = setup(s).await;
    assert_eq!(
        s.messaging_user_by_key(c.id, "+447400123456")
            .await
            .unwrap()
            .unwrap()
            .id,
        u.id
    );
    let dup = s
        .create_messaging_user(
            &build::new_user(c.id, "+447400123456", Some(ConsentStatus::OptedOut)),
            &build::origin(ConsentSource::Import, ""),
            T0,
        )
        .await;
    assert!(
        matches!(dup, Err(StoreError::Conflict(_))),
        "one messaging user per person per channel"
    );

    let t1 = Timestamp(T0.0 + 1000);
    let ev = s
        .set_consent(
            u.id,
            ConsentStatus::OptedOut,
            &build::origin(ConsentSource::Keyword, "STOP"),
            t1,
        )
        .await
        .unwrap();
    assert_eq!(ev.from_status, Some(ConsentStatus::ImplicitlyOptedIn));
    assert_eq!(ev.to_status, ConsentStatus::OptedOut);
    assert_eq!(
        s.messaging_user(u.id).await.unwrap().consent_status,
        Some(ConsentStatus::OptedOut)
    );
    let history = s.consent_history(u.id).await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].from_status, None);
    assert_eq!(history[0].source, ConsentSource::Inbound);
    assert_eq!((history[1].reason.as_str(), history[1].at), ("STOP", t1));

    let missing = s
        .set_consent(
            uuid::Uuid::now_v7(),
            ConsentStatus::OptedOut,
            &build::origin(ConsentSource::Api, ""),
            t1,
        )
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound { .. })));

    let filtered = s
        .list_messaging_users(
            MessagingUserFilter {
                channel_id: Some(c.id),
                contact_id: None,
            },
            PageRequest::new(None, 10),
        )
        .await
        .unwrap();
    assert_eq!(filtered.items.len(), 1);
    let none = s
        .list_messaging_users(
            MessagingUserFilter {
                channel_id: Some(uuid::Uuid::now_v7()),
                contact_id: None,
            },
            PageRequest::new(None, 10),
        )
        .await
        .unwrap();
    assert!(none.items.is_empty());
}

async fn one_open_session_per_user(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let (c, u) = setup(s).await;
    let conversation = uuid::Uuid::now_v7();
    let new = NewSession {
        conversation_id: conversation,
        ..build::new_session(c.id, u.id, SessionStatus::Waiting)
    };
    let first = s.create_session(&new, T0).await.unwrap();
    assert_eq!(s.open_session(u.id).await.unwrap().unwrap().id, first.id);
    let second = s.create_session(&new, T0).await;
    assert!(matches!(second, Err(StoreError::Conflict(_))), "{second:?}");

    let t1 = Timestamp(T0.0 + 60_000);
    let active = s
        .set_session_status(first.id, SessionStatus::Active, None, t1)
        .await
        .unwrap();
    assert_eq!(active.accepted_at, Some(t1));
    let ended = s
        .set_session_status(first.id, SessionStatus::Ended, None, Timestamp(t1.0 + 1))
        .await
        .unwrap();
    assert_eq!(ended.accepted_at, Some(t1), "accept time is kept");
    assert!(ended.ended_at.is_some());
    assert!(s.open_session(u.id).await.unwrap().is_none());

    // After the end a new session opens in the same conversation.
    let again = s.create_session(&new, t1).await.unwrap();
    assert_eq!(again.conversation_id, conversation);
    let listed = s
        .list_sessions(
            SessionFilter {
                status: Some(SessionStatus::Ended),
                ..Default::default()
            },
            PageRequest::new(None, 10),
        )
        .await
        .unwrap();
    assert_eq!(
        listed.items.iter().map(|x| x.id).collect::<Vec<_>>(),
        vec![first.id]
    );
}

async fn entries_count_messages(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let (c, u) = setup(s).await;
    let session = s
        .create_session(&build::new_session(c.id, u.id, SessionStatus::Waiting), T0)
        .await
        .unwrap();
    let inbound = s
        .append_entry(
            &NewEntry {
                media: vec![Media::new("https://example.test/a.jpg", "image/jpeg")],
                provider_message_id: Some("SM123".into()),
                ..build::new_entry(
                    session.id,
                    Direction::Inbound,
                    Actor::Customer,
                    "hello <b>there</b>",
                    EntryStatus::Received,
                )
            },
            T0,
        )
        .await
        .unwrap();
    assert_eq!(inbound.media.len(), 1);
    let out = s
        .append_entry(
            &build::new_entry(
                session.id,
                Direction::Outbound,
                Actor::Agent,
                "hi",
                EntryStatus::Queued,
            ),
            Timestamp(T0.0 + 1),
        )
        .await
        .unwrap();
    s.set_entry_status(
        out.id,
        EntryStatus::Failed,
        Some("3004"),
        Some("twilio:21617"),
        T0,
    )
    .await
    .unwrap();
    let session = s.session(session.id).await.unwrap();
    assert_eq!((session.customer_messages, session.agent_messages), (1, 1));
    assert_eq!(session.last_customer_at, Some(T0));
    let entries = s
        .list_entries(session.id, PageRequest::new(None, 10))
        .await
        .unwrap();
    assert_eq!(entries.items.len(), 2);
    assert_eq!(entries.items[0].body, "hello <b>there</b>");
    assert_eq!(entries.items[1].status, EntryStatus::Failed);
    assert_eq!(entries.items[1].error_code.as_deref(), Some("3004"));
}

async fn simulator_messages_by_party(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let (c, _) = setup(s).await;
    for (dir, from, to) in [
        (Direction::Inbound, "+447400123456", "+14155550100"),
        (Direction::Outbound, "+14155550100", "+447400123456"),
        (Direction::Outbound, "+14155550100", "+447400999999"),
    ] {
        s.record_simulator_message(
            &NewSimulatorMessage {
                channel_id: c.id,
                direction: dir,
                from_addr: from.into(),
                to_addr: to.into(),
                body: "x".into(),
                status: "delivered".into(),
                entry_id: None,
            },
            T0,
        )
        .await
        .unwrap();
    }
    let mine = s
        .simulator_messages("+447400123456", None, 50)
        .await
        .unwrap();
    assert_eq!(mine.len(), 2);
    let after = s
        .simulator_messages("+447400123456", Some(mine[0].id), 50)
        .await
        .unwrap();
    assert_eq!(after.len(), 1);
}

/// The dispatcher's joined read gives each entry with the same session and messaging user fields
/// as the tables' own reads, and leaves out ids that match no entry.
async fn outbox_targets_read_entry_session_and_user_together(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let (c, u) = setup(s).await;
    let session = s
        .create_session(&build::new_session(c.id, u.id, SessionStatus::Active), T0)
        .await
        .unwrap();
    s.append_entry(
        &build::new_entry(
            session.id,
            Direction::Inbound,
            Actor::Customer,
            "hello",
            EntryStatus::Received,
        ),
        T0,
    )
    .await
    .unwrap();
    let out = s
        .append_entry(
            &build::new_entry(
                session.id,
                Direction::Outbound,
                Actor::Agent,
                "hi there",
                EntryStatus::Queued,
            ),
            Timestamp(T0.0 + 1),
        )
        .await
        .unwrap();
    let found = s
        .outbox_targets(&[out.id, parley_core::new_id()])
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    let target = &found[0];
    assert_eq!(
        (target.entry.id, target.entry.body.as_str()),
        (out.id, "hi there")
    );
    assert_eq!(target.entry.status, EntryStatus::Queued);
    let full = s.session(session.id).await.unwrap();
    assert_eq!(
        target.session,
        Some(parley_store::outbox::OutboxSession {
            id: full.id,
            channel_id: full.channel_id,
            messaging_user_id: full.messaging_user_id,
            status: full.status,
            owner_id: full.owner_id,
            last_customer_at: full.last_customer_at,
        })
    );
    assert_eq!(full.last_customer_at, Some(T0));
    let user = target.user.as_ref().expect("the session's messaging user");
    let stored = s.messaging_user(u.id).await.unwrap();
    assert_eq!(
        (&user.platform_key, user.consent_status, &user.locale),
        (&stored.platform_key, stored.consent_status, &stored.locale)
    );
    assert_eq!(
        (user.id, user.channel_id, user.contact_id, user.created_at),
        (
            stored.id,
            stored.channel_id,
            stored.contact_id,
            stored.created_at
        )
    );
}

parley_store::on_both_backends!(
    consent_changes_are_recorded,
    one_open_session_per_user,
    entries_count_messages,
    simulator_messages_by_party,
    outbox_targets_read_entry_session_and_user_together,
);
