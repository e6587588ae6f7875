use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parley_core::model::JobState;
use parley_core::retry::RetryPolicy;
use parley_core::{Clock, ManualClock, SystemClock, Timestamp};
use parley_engine::{JobOutcome, JobRunner, RunnerConfig};
use parley_store::NewJob;
use parley_store::testing::{TestBackend, fresh};

const T0: Timestamp = Timestamp(1_700_000_000_000);

fn config(queue: &str) -> RunnerConfig {
    let mut c = RunnerConfig::new(queue);
    c.retry = RetryPolicy {
        base: Duration::from_secs(1),
        cap: Duration::from_secs(60),
        max_attempts: 3,
    };
    c
}

async fn runs_and_completes_a_batch(b: TestBackend) {
    let db = fresh(b).await;
    let clock = Arc::new(ManualClock::new(T0));
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let runner =
        JobRunner::new(db.store.clone(), clock.clone(), config("q")).handle("count", move |_job| {
            let c = c.clone();
            async move {
                c.fetch_add(1, Ordering::SeqCst);
                JobOutcome::Done
            }
        });
    let jobs: Vec<NewJob> = (0..10)
        .map(|i| NewJob::new("q", "count", i.to_string(), T0))
        .collect();
    db.store.enqueue_many(&jobs, T0).await.unwrap();
    assert_eq!(runner.run_once().await.unwrap(), 10);
    assert_eq!(count.load(Ordering::SeqCst), 10);
    assert_eq!(db.store.queue_counts("q").await.unwrap().done, 10);
    assert_eq!(runner.run_once().await.unwrap(), 0);
}

async fn retries_back_off_then_succeed(b: TestBackend) {
    let db = fresh(b).await;
    let clock = Arc::new(ManualClock::new(T0));
    let attempts = Arc::new(AtomicUsize::new(0));
    let a = attempts.clone();
    let runner =
        JobRunner::new(db.store.clone(), clock.clone(), config("q")).handle("flaky", move |_job| {
            let a = a.clone();
            async move {
                if a.fetch_add(1, Ordering::SeqCst) == 0 {
                    JobOutcome::Retry("HTTP 503".into())
                } else {
                    JobOutcome::Done
                }
            }
        });
    let id = db
        .store
        .enqueue(&NewJob::new("q", "flaky", "{}", T0), T0)
        .await
        .unwrap()
        .unwrap();
    runner.run_once().await.unwrap();
    let job = db.store.job(id).await.unwrap();
    assert_eq!(job.state, JobState::Ready);
    // First retry after half to all of the 1 s base.
    assert!(
        job.due_at >= T0.plus(Duration::from_millis(500))
            && job.due_at <= T0.plus(Duration::from_secs(1)),
        "{:?}",
        job.due_at
    );
    assert_eq!(runner.run_once().await.unwrap(), 0, "not before its time");
    clock.advance(Duration::from_secs(1));
    assert_eq!(runner.run_once().await.unwrap(), 1);
    assert_eq!(db.store.job(id).await.unwrap().state, JobState::Done);
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
}

async fn exhausted_retries_dead_letter(b: TestBackend) {
    let db = fresh(b).await;
    let clock = Arc::new(ManualClock::new(T0));
    let runner = JobRunner::new(db.store.clone(), clock.clone(), config("q"))
        .handle("always_fails", |_job| async {
            JobOutcome::Retry("timeout".into())
        })
        .handle("bad", |_job| async {
            JobOutcome::Permanent("21211 invalid number".into())
        });
    let mut job = NewJob::new("q", "always_fails", "{}", T0);
    job.max_attempts = 3;
    let failing = db.store.enqueue(&job, T0).await.unwrap().unwrap();
    let permanent = db
        .store
        .enqueue(&NewJob::new("q", "bad", "{}", T0), T0)
        .await
        .unwrap()
        .unwrap();
    let unknown = db
        .store
        .enqueue(&NewJob::new("q", "no_such_kind", "{}", T0), T0)
        .await
        .unwrap()
        .unwrap();
    for _ in 0..5 {
        runner.run_once().await.unwrap();
        clock.advance(Duration::from_secs(120));
    }
    let j = db.store.job(failing).await.unwrap();
    assert_eq!((j.state, j.attempts), (JobState::Dead, 3));
    assert_eq!(db.store.job(permanent).await.unwrap().state, JobState::Dead);
    let u = db.store.job(unknown).await.unwrap();
    assert_eq!(u.state, JobState::Dead);
    assert!(u.last_error.unwrap().contains("no_such_kind"));
}

/// The long-running loop picks up work when woken, and stops when told.
async fn run_loop_wakes_and_stops(b: TestBackend) {
    let db = fresh(b).await;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut cfg = config("q");
    cfg.idle_poll = Duration::from_secs(30);
    let runner = JobRunner::new(db.store.clone(), clock.clone(), cfg).handle("ping", move |job| {
        let tx = done_tx.clone();
        async move {
            let _ = tx.send(job.payload);
            JobOutcome::Done
        }
    });
    let waker = runner.waker();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(runner.run(stop_rx));
    db.store
        .enqueue(&NewJob::new("q", "ping", "hello", clock.now()), clock.now())
        .await
        .unwrap();
    waker.notify_one();
    let got = tokio::time::timeout(Duration::from_secs(10), done_rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, "hello");
    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
}

/// A job whose runner died mid-flight is recovered by the loop once its lease expires and runs.
async fn run_loop_recovers_abandoned_jobs(b: TestBackend) {
    let db = fresh(b).await;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let now = clock.now();
    let id = db
        .store
        .enqueue(&NewJob::new("q", "ping", "x", now), now)
        .await
        .unwrap()
        .unwrap();
    // A runner that crashed after claiming, with a lease that has already run out.
    db.store
        .claim_jobs(parley_store::ClaimRequest {
            queue: "q",
            worker: "crashed",
            limit: 1,
            lease: Duration::ZERO,
            now,
        })
        .await
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut cfg = config("q");
    cfg.recover_every = Duration::from_millis(20);
    cfg.idle_poll = Duration::from_millis(20);
    let runner = JobRunner::new(db.store.clone(), clock.clone(), cfg).handle("ping", move |job| {
        let tx = tx.clone();
        async move {
            let _ = tx.send((job.id, job.attempts));
            JobOutcome::Done
        }
    });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(runner.run(stop_rx));
    let (got, attempts) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((got, attempts), (id, 2));
    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
}

parley_store::on_both_backends!(
    runs_and_completes_a_batch,
    retries_back_off_then_succeed,
    exhausted_retries_dead_letter,
    run_loop_wakes_and_stops,
    run_loop_recovers_abandoned_jobs,
);
