//! Retention (issue 16 part 4) with a moved clock, on both databases: what is past its cutoff goes
//! (entries, media rows and files, sessions, error logs, dead letters), the rest stays, a
//! channel's own policy wins over the all-channels one, open sessions are never touched, and each
//! run leaves one audit entry. Also: the audit log refuses UPDATE and DELETE.

use std::sync::Arc;
use std::time::Duration;

use parley_core::dead_letter::DeadLetterReason;
use parley_core::model::{Actor, Direction, EntryStatus, SessionStatus};
use parley_core::privacy::retention::DataKind;
use parley_core::{Clock, ManualClock, SystemClock, Timestamp};
use parley_engine::EventBus;
use parley_engine::media::MediaStore;
use parley_engine::retention::Retention;
use parley_store::testing::{TestBackend, exec_raw, fresh};
use parley_store::{
    AuditFilter, ChannelSpec, ClaimRequest, DeadLetterWrite, NewJob, NotificationErrorWrite,
    PageRequest, Store,
};
use parley_testkit::build;
use uuid::Uuid;

const DAY: Duration = Duration::from_secs(24 * 3600);

struct Data {
    closed: Uuid,
    open: Uuid,
    media_sha: String,
}

/// On `channel`: a closed session with two entries (one with a media file) and an open session
/// with one entry, all written at `t0`.
async fn conversation(
    store: &Store,
    media: &MediaStore,
    channel: Uuid,
    key: &str,
    t0: Timestamp,
) -> Data {
    let user = store
        .create_messaging_user(
            &build::new_user(channel, key, None),
            &build::origin(parley_core::model::ConsentSource::Import, "test"),
            t0,
        )
        .await
        .unwrap();
    let closed = build::session(
        store,
        &build::new_session(channel, user.id, SessionStatus::Ended),
        t0,
    )
    .await;
    let e1 = build::entry(
        store,
        &build::new_entry(
            closed.id,
            Direction::Inbound,
            Actor::Customer,
            "hello",
            EntryStatus::Received,
        ),
        t0,
    )
    .await;
    build::entry(
        store,
        &build::new_entry(
            closed.id,
            Direction::Outbound,
            Actor::Agent,
            "hi",
            EntryStatus::Sent,
        ),
        t0,
    )
    .await;
    let m = media
        .save(
            Some(e1.id),
            "image/png",
            format!("picture of {key}").into_bytes(),
        )
        .await
        .unwrap();
    // Another user of the same channel holds the open session (one open session per user).
    let other = store
        .create_messaging_user(
            &build::new_user(channel, &format!("{key}-open"), None),
            &build::origin(parley_core::model::ConsentSource::Import, "test"),
            t0,
        )
        .await
        .unwrap();
    let open = build::session(
        store,
        &build::new_session(channel, other.id, SessionStatus::Active),
        t0,
    )
    .await;
    build::entry(
        store,
        &build::new_entry(
            open.id,
            Direction::Inbound,
            Actor::Customer,
            "still here",
            EntryStatus::Received,
        ),
        t0,
    )
    .await;
    Data {
        closed: closed.id,
        open: open.id,
        media_sha: m.sha256,
    }
}

async fn entries(store: &Store, session: Uuid) -> usize {
    store
        .list_entries(session, PageRequest::new(None, 100))
        .await
        .unwrap()
        .items
        .len()
}

fn file_exists(dir: &std::path::Path, sha: &str) -> bool {
    dir.join(&sha[..2]).join(sha).exists()
}

async fn error_log(store: &Store, channel: Option<Uuid>, t: Timestamp) {
    store
        .write_notification_error(
            &NotificationErrorWrite {
                channel_id: channel,
                template: "t".into(),
                recipient: "+15550000000".into(),
                inputs: "{}".into(),
                stage: "validation",
                code: "3001".into(),
                reason: "test".into(),
                notification_id: None,
                entry_id: None,
                provider_code: None,
            },
            t,
        )
        .await
        .unwrap();
}

async fn error_logs(store: &Store) -> usize {
    store.notification_errors(None, 100).await.unwrap().len()
}

async fn dead_letter(store: &Store, t: Timestamp) -> Uuid {
    let id = store
        .enqueue(&NewJob::new("inbound", "inbound.message", "{}", t), t)
        .await
        .unwrap()
        .unwrap();
    store
        .claim_jobs(ClaimRequest {
            queue: "inbound",
            worker: "w",
            limit: 10,
            lease: Duration::from_secs(30),
            now: t,
        })
        .await
        .unwrap();
    store
        .dead_letter_jobs(
            "w",
            &[DeadLetterWrite {
                id,
                reason: DeadLetterReason::Malformed,
                detail: "test".into(),
            }],
            t,
        )
        .await
        .unwrap();
    id
}

async fn data_past_its_cutoff_goes_and_the_rest_stays(b: TestBackend) {
    let db = fresh(b).await;
    let store = &db.store;
    let t0 = SystemClock.now();
    let clock = Arc::new(ManualClock::new(t0));
    let dir = std::env::temp_dir().join(format!("parley-retention-{}", Uuid::now_v7()));
    let media = MediaStore::new(
        dir.clone(),
        store.clone(),
        clock.clone(),
        EventBus::default(),
        true,
    );
    let a = store
        .create_channel(
            &ChannelSpec {
                name: "A".into(),
                address: "+15550000001".into(),
                ..build::simulator_sms()
            },
            t0,
        )
        .await
        .unwrap();
    let bch = store
        .create_channel(
            &ChannelSpec {
                name: "B".into(),
                address: "+15550000002".into(),
                ..build::simulator_sms()
            },
            t0,
        )
        .await
        .unwrap();
    let da = conversation(store, &media, a.id, "+15551110001", t0).await;
    let db_ = conversation(store, &media, bch.id, "+15551110002", t0).await;
    error_log(store, Some(a.id), t0).await;
    error_log(store, Some(bch.id), t0).await;
    error_log(store, None, t0).await;
    let letter = dead_letter(store, t0).await;

    // All channels: transcripts after 10 days, sessions after 60, dead letters after 5.
    // Channel B keeps its transcripts for 400 days and its media for 20.
    let svc = parley_engine::service::retention::put;
    let put = |channel: Option<Uuid>, kind: &str, days: i64| {
        parley_engine::service::retention::RetentionPolicyInput {
            channel_id: channel,
            kind: kind.into(),
            days,
        }
    };
    for p in [
        put(None, "entries", 10),
        put(None, "sessions", 60),
        put(None, "dead_letters", 5),
        put(Some(bch.id), "entries", 400),
        put(Some(bch.id), "media", 20),
    ] {
        svc(store, &p, t0).await.unwrap();
    }
    // A per-channel policy of a kind that has none is refused, naming the field.
    let refused = svc(store, &put(Some(a.id), "dead_letters", 5), t0)
        .await
        .unwrap_err();
    assert!(refused.to_string().starts_with("channel_id"), "{refused}");
    let refused = svc(store, &put(None, "entries", 0), t0).await.unwrap_err();
    assert!(refused.to_string().starts_with("days"), "{refused}");

    let worker = Retention::new(
        store.clone(),
        clock.clone(),
        media.clone(),
        30,
        "node-1".into(),
    );

    // Day 4: nothing is due.
    clock.set(t0.plus(DAY * 4));
    let removed = worker.run_once().await.unwrap().unwrap();
    assert!(removed.values().all(|n| *n == 0), "{removed:?}");
    assert_eq!(entries(store, da.closed).await, 2);

    // Day 11: A's closed transcript (and its media file) is gone, the session row stays; B keeps
    // its transcript; open sessions keep theirs; the dead letter is gone.
    clock.set(t0.plus(DAY * 11));
    let removed = worker.run_once().await.unwrap().unwrap();
    assert_eq!(removed[&DataKind::Entries], 2, "{removed:?}");
    assert_eq!(removed[&DataKind::DeadLetters], 1);
    assert_eq!(entries(store, da.closed).await, 0);
    assert!(store.session(da.closed).await.is_ok());
    assert!(
        !file_exists(&dir, &da.media_sha),
        "A's media file is removed with its row"
    );
    assert_eq!(entries(store, db_.closed).await, 2);
    assert!(file_exists(&dir, &db_.media_sha));
    assert_eq!(entries(store, da.open).await, 1);
    assert_eq!(entries(store, db_.open).await, 1);
    assert!(store.dead_letter(letter).await.is_err());
    assert_eq!(error_logs(store).await, 3);

    // Day 21: B's media is past its 20 days: the row and the file go, its entries stay.
    clock.set(t0.plus(DAY * 21));
    let removed = worker.run_once().await.unwrap().unwrap();
    assert_eq!(removed[&DataKind::Media], 1, "{removed:?}");
    assert!(!file_exists(&dir, &db_.media_sha));
    assert_eq!(entries(store, db_.closed).await, 2);

    // Day 31: TM-08's built-in 30 days take every error log entry, of any channel or none.
    clock.set(t0.plus(DAY * 31));
    let removed = worker.run_once().await.unwrap().unwrap();
    assert_eq!(removed[&DataKind::ErrorLogs], 3, "{removed:?}");
    assert_eq!(error_logs(store).await, 0);

    // Day 61: closed sessions go (B's with the transcript it still had); open ones stay.
    clock.set(t0.plus(DAY * 61));
    let removed = worker.run_once().await.unwrap().unwrap();
    assert_eq!(removed[&DataKind::Sessions], 2, "{removed:?}");
    assert!(store.session(da.closed).await.is_err());
    assert!(store.session(db_.closed).await.is_err());
    assert!(store.session(da.open).await.is_ok());
    assert_eq!(entries(store, db_.open).await, 1);

    // One audit entry per run, by the system, with its counts.
    let runs = store
        .list_audit_entries(
            &AuditFilter {
                action: Some("retention_run".into()),
                ..Default::default()
            },
            50,
        )
        .await
        .unwrap();
    assert_eq!(runs.len(), 5);
    assert_eq!(runs[0].actor_kind, "system");
    assert_eq!(runs[0].detail["removed"]["sessions"], 2);

    // One node at a time: another node's run is skipped while the lease is held.
    assert!(
        store
            .try_acquire_lease(
                parley_engine::retention::LEASE_NAME,
                "node-2",
                DAY,
                clock.now()
            )
            .await
            .unwrap()
    );
    assert!(worker.run_once().await.unwrap().is_none());
    let _ = std::fs::remove_dir_all(dir);
}

async fn the_audit_log_refuses_changes(b: TestBackend) {
    let db = fresh(b).await;
    let store = &db.store;
    parley_engine::audit::record(
        store,
        parley_core::audit::AuditEntry {
            actor: parley_core::audit::AuditActor::Cli,
            action: "workspace_applied".into(),
            resource_kind: "workspace".into(),
            resource_id: None,
            detail: serde_json::json!({"created": 1}),
        },
    )
    .await
    .unwrap();
    let update = exec_raw(store, "UPDATE audit_log SET action = 'nothing'").await;
    assert!(update.unwrap_err().contains("append-only"));
    let delete = exec_raw(store, "DELETE FROM audit_log").await;
    assert!(delete.unwrap_err().contains("append-only"));
    let all = store
        .list_audit_entries(&AuditFilter::default(), 10)
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].action, "workspace_applied");
    assert_eq!(all[0].actor_kind, "cli");
}

parley_store::on_both_backends!(
    data_past_its_cutoff_goes_and_the_rest_stays,
    the_audit_log_refuses_changes
);
