//! Unknown send outcomes beyond the providers: their expiry, and the operator's resend through
//! the simulator, whose sink keeps one message per entry (it honours the entry id as an
//! idempotency key).

use std::sync::Arc;
use std::time::Duration;

use parley_core::consent::SendPurpose;
use parley_core::model::{Actor, Direction, EntryStatus, JobState};
use parley_core::{Clock, ErrorCode, ManualClock, Timestamp};
use parley_engine::outbound;
use parley_engine::service::deliveries;
use parley_engine::{Engine, EngineConfig, EventBus, JobOutcome};
use parley_store::testing::{TestBackend, TestDb, fresh};
use parley_store::{Channel, ClaimRequest, Entry};
use parley_testkit::build;

const T0: Timestamp = Timestamp(1_700_000_000_000);
const CUSTOMER: &str = "+14155550123";

struct World {
    engine: Engine,
    clock: Arc<ManualClock>,
    channel: Channel,
    _db: TestDb,
}

async fn world(b: TestBackend) -> World {
    let db = fresh(b).await;
    let clock = Arc::new(ManualClock::new(T0));
    let engine = Engine::new(
        db.store.clone(),
        clock.clone(),
        EventBus::default(),
        EngineConfig {
            unknown_expiry: Duration::from_secs(3600),
            ..EngineConfig::default()
        },
    );
    let channel = engine
        .store
        .create_channel(&build::simulator_sms(), clock.now())
        .await
        .unwrap();
    World {
        engine,
        clock,
        channel,
        _db: db,
    }
}

async fn entry(w: &World, body: &str, status: EntryStatus) -> Entry {
    let session =
        build::customer_session(&w.engine.store, &w.channel, CUSTOMER, w.clock.now()).await;
    w.engine
        .store
        .append_entry(
            &build::new_entry(session.id, Direction::Outbound, Actor::Agent, body, status),
            w.clock.now(),
        )
        .await
        .unwrap()
}

/// Claims every ready outbound job and sends each on its own.
async fn send_ready(w: &World) -> Vec<JobOutcome> {
    let jobs = w
        .engine
        .store
        .claim_jobs(ClaimRequest {
            queue: outbound::QUEUE,
            worker: "test",
            limit: 10,
            lease: Duration::from_secs(60),
            now: w.clock.now(),
        })
        .await
        .unwrap();
    let mut outcomes = Vec::new();
    for job in jobs {
        outcomes.push(w.engine.outbound.send(job).await);
    }
    outcomes
}

/// An unknown outcome with no news for the expiry time becomes failed with 0002 and says why;
/// a younger one waits.
async fn unknown_outcomes_expire_after_the_setting(b: TestBackend) {
    let w = world(b).await;
    let old = entry(&w, "Old news", EntryStatus::Unknown).await;
    w.clock.advance(Duration::from_secs(90 * 60));
    let young = entry(&w, "Fresh", EntryStatus::Unknown).await;
    w.clock.advance(Duration::from_secs(40 * 60));

    assert_eq!(w.engine.unknown_sweep().sweep().await.unwrap(), 1);
    let failed = w.engine.store.entry(old.id).await.unwrap();
    assert_eq!(failed.status, EntryStatus::Failed);
    assert_eq!(
        failed.error_code.as_deref(),
        Some(ErrorCode::ServiceError.code())
    );
    assert!(
        failed
            .provider_error
            .as_deref()
            .is_some_and(|n| n.contains("no news")),
        "{failed:?}"
    );
    let waiting = w.engine.store.entry(young.id).await.unwrap();
    assert_eq!(waiting.status, EntryStatus::Unknown);
    assert_eq!(w.engine.unknown_sweep().sweep().await.unwrap(), 0);
}

/// A resend of an entry the simulator already took (an operator's resend, say) makes no second
/// sink message: the entry keeps the first record's id.
async fn the_simulator_keeps_one_message_per_entry(b: TestBackend) {
    let w = world(b).await;
    let sent = entry(&w, "Once only", EntryStatus::Queued).await;
    let job = outbound::send_job(
        sent.id,
        SendPurpose::Conversation {
            session_opt_in: false,
        },
        outbound::REPLY_PRIORITY,
        w.clock.now(),
    );
    w.engine.store.enqueue(&job, w.clock.now()).await.unwrap();
    assert_eq!(send_ready(&w).await, vec![JobOutcome::Done]);
    let first = w.engine.store.entry(sent.id).await.unwrap();
    assert_eq!(first.status, EntryStatus::Delivered);

    // Its outcome is then taken for unknown and the operator resends it.
    w.engine
        .store
        .set_entry_status(sent.id, EntryStatus::Unknown, None, None, w.clock.now())
        .await
        .unwrap();
    w.clock.advance(Duration::from_secs(1));
    let queued = deliveries::resend(
        &w.engine.store,
        &w.engine.events,
        sent.id,
        "agent x",
        w.clock.now(),
    )
    .await
    .unwrap();
    assert_eq!(queued.status, EntryStatus::Queued);
    assert_eq!(send_ready(&w).await, vec![JobOutcome::Done], "a new job");

    let again = w.engine.store.entry(sent.id).await.unwrap();
    assert_eq!(again.status, EntryStatus::Delivered);
    assert_eq!(again.provider_message_id, first.provider_message_id);
    let sink = w
        .engine
        .store
        .simulator_messages(CUSTOMER, None, 100)
        .await
        .unwrap();
    assert_eq!(
        sink.iter().filter(|m| m.body == "Once only").count(),
        1,
        "{sink:?}"
    );
}

/// A send job that died with its lease after its last attempt (the node crashed mid-send) does
/// not leave its message queued forever: the sweep makes it unknown, saying why.
async fn a_dead_send_job_leaves_its_entry_unknown_not_queued(b: TestBackend) {
    let w = world(b).await;
    let orphan = entry(&w, "Mid-send", EntryStatus::Queued).await;
    let mut job = outbound::send_job(
        orphan.id,
        SendPurpose::Conversation {
            session_opt_in: false,
        },
        outbound::REPLY_PRIORITY,
        w.clock.now(),
    );
    job.max_attempts = 1;
    w.engine.store.enqueue(&job, w.clock.now()).await.unwrap();
    let claimed = w
        .engine
        .store
        .claim_jobs(ClaimRequest {
            queue: outbound::QUEUE,
            worker: "crashed",
            limit: 10,
            lease: Duration::from_secs(60),
            now: w.clock.now(),
        })
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    w.clock.advance(Duration::from_secs(61));
    assert_eq!(
        w.engine
            .store
            .recover_expired_leases(w.clock.now())
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        w.engine.store.job(claimed[0].id).await.unwrap().state,
        JobState::Dead
    );
    assert_eq!(
        w.engine.store.entry(orphan.id).await.unwrap().status,
        EntryStatus::Queued
    );

    w.clock.advance(Duration::from_secs(1));
    assert_eq!(w.engine.unknown_sweep().orphans().await.unwrap(), 1);
    let unknown = w.engine.store.entry(orphan.id).await.unwrap();
    assert_eq!(unknown.status, EntryStatus::Unknown);
    assert!(
        unknown
            .provider_error
            .as_deref()
            .is_some_and(|n| n.contains("send job died")),
        "{unknown:?}"
    );
    assert_eq!(w.engine.unknown_sweep().orphans().await.unwrap(), 0, "once");
}

parley_store::on_both_backends!(
    unknown_outcomes_expire_after_the_setting,
    the_simulator_keeps_one_message_per_entry,
    a_dead_send_job_leaves_its_entry_unknown_not_queued,
);
