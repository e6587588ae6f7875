//! One message to one person outside a conversation (issue 13's send seam, shared by
//! notifications and the Twilio-compatible API), through the engine with its workers and the
//! simulator: who is created, who is left out and why, which session holds the message, and an
//! idempotency key that sends once however many times it is presented. Both databases.

use std::sync::Arc;

use parley_core::campaign::eligibility::Exclusion;
use parley_core::model::*;
use parley_core::{Clock, ErrorCode, SystemClock, Timestamp};
use parley_engine::compose::{Author, OutgoingMessage};
use parley_engine::outreach::{OutreachError, OutreachRequest, Recipient};
use parley_engine::{Engine, EngineConfig, EventBus};
use parley_store::testing::{TestBackend, TestDb, fresh};
use parley_store::*;
use parley_testkit::build;
use tokio::sync::watch;
use uuid::Uuid;

use crate::until_event;

struct World {
    db: TestDb,
    engine: Engine,
    bus: EventBus,
    /// +1 simulator SMS channel, implicit consent.
    open: Channel,
    /// +1 simulator SMS channel, explicit consent.
    strict: Channel,
    _stop: watch::Sender<bool>,
}

async fn world(b: TestBackend) -> World {
    let db = fresh(b).await;
    let now = SystemClock.now();
    let open = db
        .store
        .create_channel(&build::simulator_sms(), now)
        .await
        .unwrap();
    let strict = db
        .store
        .create_channel(
            &ChannelSpec {
                name: "Strict".into(),
                address: "+14155550199".into(),
                consent_level: ConsentLevel::Explicit,
                ..build::simulator_sms()
            },
            now,
        )
        .await
        .unwrap();
    let bus = EventBus::default();
    let engine = Engine::new(
        db.store.clone(),
        Arc::new(SystemClock),
        bus.clone(),
        EngineConfig {
            idle_poll: std::time::Duration::from_millis(20),
            ..EngineConfig::default()
        },
    );
    let (stop, rx) = watch::channel(false);
    engine.spawn_workers(rx);
    World {
        db,
        engine,
        bus,
        open,
        strict,
        _stop: stop,
    }
}

fn request(channel: &Channel, to: Recipient, body: &str) -> OutreachRequest {
    OutreachRequest {
        channel_id: channel.id,
        recipient: to,
        message: OutgoingMessage {
            body: body.into(),
            ..OutgoingMessage::default()
        },
        author: Author {
            actor: Actor::System,
            actor_id: None,
        },
        idempotency: None,
        contact_id: None,
    }
}

fn key(k: &str, fingerprint: &str) -> Option<IdempotencyKey> {
    Some(IdempotencyKey {
        scope: "test".into(),
        key: k.into(),
        fingerprint: fingerprint.into(),
    })
}

async fn sessions_of(w: &World, user: Uuid) -> Vec<Session> {
    let filter = SessionFilter {
        messaging_user_id: Some(user),
        ..SessionFilter::default()
    };
    w.db.store
        .list_sessions(filter, PageRequest::new(None, 100))
        .await
        .unwrap()
        .items
}

async fn an_unknown_number_on_an_implicit_channel_is_created_and_reached(b: TestBackend) {
    let w = world(b).await;
    let to = Recipient::Address("+1 (212) 555-0100".into());
    let reached = w
        .engine
        .outreach()
        .send(
            &request(&w.open, to, "Your order shipped"),
            SystemClock.now(),
        )
        .await
        .unwrap();
    assert!(reached.created_user && !reached.appended && !reached.replayed);
    assert_eq!(reached.user.platform_key, "+12125550100");
    assert_eq!(
        reached.user.consent_status,
        Some(ConsentStatus::ImplicitlyOptedIn)
    );
    // SE-19: a session of its own, already ended, holds the transcript.
    assert_eq!(reached.session.status, SessionStatus::Ended);
    let sessions = sessions_of(&w, reached.user.id).await;
    assert_eq!(sessions.len(), 1);
    let history = w.db.store.consent_history(reached.user.id).await.unwrap();
    assert_eq!(history.len(), 1, "the created consent has its origin");
    assert_eq!(history[0].source, ConsentSource::Api);
    let store = w.db.store.clone();
    let id = reached.entry.id;
    let sent = until_event(&w.bus, "the notification sent", || {
        let store = store.clone();
        async move {
            let e = store.entry(id).await.unwrap();
            (e.status == EntryStatus::Sent || e.status == EntryStatus::Delivered).then_some(e)
        }
    })
    .await;
    assert_eq!(sent.body, "Your order shipped");
}

async fn an_explicit_channel_reaches_only_the_opted_in(b: TestBackend) {
    let w = world(b).await;
    let now = SystemClock.now();
    let out = w.engine.outreach();
    let to = || Recipient::Address("+12125550111".into());
    match out.send(&request(&w.strict, to(), "Hi"), now).await {
        Err(OutreachError::Excluded {
            exclusion, code, ..
        }) => {
            assert_eq!(exclusion, Exclusion::NoMessagingUser);
            assert_eq!(code, ErrorCode::DestinationInvalid);
        }
        other => panic!("unknown recipient on an explicit channel: {other:?}"),
    }
    assert!(
        w.db.store
            .messaging_user_by_key(w.strict.id, "+12125550111")
            .await
            .unwrap()
            .is_none(),
        "nothing is written for a message that cannot go"
    );
    for (consent, expected) in [
        (None, Exclusion::NoConsent),
        (
            Some(ConsentStatus::ImplicitlyOptedIn),
            Exclusion::ConsentTooLow,
        ),
        (Some(ConsentStatus::OptedOut), Exclusion::OptedOut),
    ] {
        let phone = format!("+1212555{:04}", 200 + consent.map_or(0, |c| c as u16 + 1));
        let user = build::user(
            &w.db.store,
            &build::new_user(w.strict.id, &phone, consent),
            &build::origin(ConsentSource::Import, "test"),
            now,
        )
        .await;
        let got = out
            .send(
                &request(&w.strict, Recipient::MessagingUser(user.id), "Hi"),
                now,
            )
            .await;
        match got {
            Err(OutreachError::Excluded { exclusion, .. }) => assert_eq!(exclusion, expected),
            other => panic!("{consent:?}: {other:?}"),
        }
        assert!(sessions_of(&w, user.id).await.is_empty());
    }
    let yes = build::user(
        &w.db.store,
        &build::new_user(
            w.strict.id,
            "+12125550300",
            Some(ConsentStatus::ExplicitlyOptedIn),
        ),
        &build::origin(ConsentSource::Import, "test"),
        now,
    )
    .await;
    let reached = out
        .send(
            &request(&w.strict, Recipient::MessagingUser(yes.id), "Hi"),
            now,
        )
        .await
        .unwrap();
    assert_eq!(reached.user.id, yes.id);
    // A messaging user of another channel is a mistake of the caller's, not an exclusion.
    let other = out
        .send(
            &request(&w.open, Recipient::MessagingUser(yes.id), "Hi"),
            now,
        )
        .await;
    assert!(matches!(other, Err(OutreachError::Invalid(_))), "{other:?}");
}

async fn sms_stays_in_the_channel_s_country(b: TestBackend) {
    let w = world(b).await;
    let got = w
        .engine
        .outreach()
        .send(
            &request(&w.open, Recipient::Address("+447400123456".into()), "Hi"),
            SystemClock.now(),
        )
        .await;
    match got {
        Err(OutreachError::Excluded {
            exclusion, reason, ..
        }) => {
            assert_eq!(exclusion, Exclusion::OutOfCountry);
            assert!(reason.contains("+447400123456"), "{reason}");
        }
        other => panic!("+44 on a +1 channel: {other:?}"),
    }
    let bad = w
        .engine
        .outreach()
        .send(
            &request(&w.open, Recipient::Address("not a number".into()), "Hi"),
            SystemClock.now(),
        )
        .await;
    assert!(
        matches!(
            bad,
            Err(OutreachError::Excluded {
                exclusion: Exclusion::InvalidNumber,
                ..
            })
        ),
        "{bad:?}"
    );
}

async fn an_open_session_gets_the_message(b: TestBackend) {
    let w = world(b).await;
    let now = SystemClock.now();
    let user = build::user(
        &w.db.store,
        &build::new_user(
            w.open.id,
            "+12125550400",
            Some(ConsentStatus::ImplicitlyOptedIn),
        ),
        &build::origin(ConsentSource::Import, "test"),
        now,
    )
    .await;
    let open = build::session(
        &w.db.store,
        &build::new_session(w.open.id, user.id, SessionStatus::Active),
        now,
    )
    .await;
    let reached = w
        .engine
        .outreach()
        .send(
            &request(
                &w.open,
                Recipient::Address("+12125550400".into()),
                "Case closed",
            ),
            now,
        )
        .await
        .unwrap();
    assert!(reached.appended && !reached.created_user);
    assert_eq!(reached.session.id, open.id);
    assert_eq!(reached.entry.session_id, open.id);
    assert_eq!(sessions_of(&w, user.id).await.len(), 1);
    // A message that cannot go is refused before anything is written (too long for SMS).
    let long = "x".repeat(2_000);
    let refused = w
        .engine
        .outreach()
        .send(
            &request(&w.open, Recipient::MessagingUser(user.id), &long),
            now,
        )
        .await;
    match refused {
        Err(OutreachError::Refused { code, .. }) => assert_eq!(code, ErrorCode::BodyTooLarge),
        other => panic!("{other:?}"),
    }
    let entries =
        w.db.store
            .list_entries(open.id, PageRequest::new(None, 100))
            .await
            .unwrap();
    assert_eq!(entries.items.len(), 1);
}

async fn an_idempotency_key_sends_once(b: TestBackend) {
    let w = world(b).await;
    let now = SystemClock.now();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let out = w.engine.outreach();
        let mut r = request(
            &w.open,
            Recipient::Address("+12125550500".into()),
            "Shipped",
        );
        r.idempotency = key("order-42", "digest-a");
        tasks.push(tokio::spawn(async move { out.send(&r, now).await }));
    }
    let mut entries = std::collections::BTreeSet::new();
    let mut fresh_sends = 0;
    for t in tasks {
        let reached = t.await.unwrap().unwrap();
        entries.insert(reached.entry.id);
        fresh_sends += usize::from(!reached.replayed);
    }
    assert_eq!(entries.len(), 1, "one message for one key");
    assert_eq!(fresh_sends, 1);
    let user =
        w.db.store
            .messaging_user_by_key(w.open.id, "+12125550500")
            .await
            .unwrap()
            .unwrap();
    let sessions = sessions_of(&w, user.id).await;
    assert_eq!(sessions.len(), 1);
    let mut other = request(&w.open, Recipient::Address("+12125550500".into()), "Other");
    other.idempotency = key("order-42", "digest-b");
    let reused = w.engine.outreach().send(&other, now).await;
    assert!(
        matches!(reused, Err(OutreachError::KeyReused)),
        "{reused:?}"
    );
    // After a day the key is forgotten and may name a new send.
    let later = Timestamp::from_millis(now.millis() + IDEMPOTENCY_TTL_MILLIS + 1);
    assert_eq!(
        w.db.store
            .delete_expired_idempotency_keys(later, 100)
            .await
            .unwrap(),
        1
    );
}

parley_store::on_both_backends!(
    an_unknown_number_on_an_implicit_channel_is_created_and_reached,
    an_explicit_channel_reaches_only_the_opted_in,
    sms_stays_in_the_channel_s_country,
    an_open_session_gets_the_message,
    an_idempotency_key_sends_once,
);
