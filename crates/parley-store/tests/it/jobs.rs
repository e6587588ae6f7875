use std::collections::HashSet;
use std::time::Duration;

use parley_core::Timestamp;
use parley_core::model::JobState;
use parley_store::testing::{TestBackend, fresh};
use parley_store::*;

const T0: Timestamp = Timestamp(1_700_000_000_000);

fn claim<'a>(queue: &'a str, worker: &'a str, limit: u32, now: Timestamp) -> ClaimRequest<'a> {
    ClaimRequest {
        queue,
        worker,
        limit,
        lease: Duration::from_secs(30),
        now,
    }
}

async fn delayed_jobs_wait_for_their_time(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let mut job = NewJob::new("q", "timer", "{}", T0);
    job.due_at = T0.plus(Duration::from_secs(60));
    s.enqueue(&job, T0).await.unwrap().unwrap();
    assert!(
        s.claim_jobs(claim("q", "w", 10, T0))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.next_due("q").await.unwrap(), Some(job.due_at));
    let got = s.claim_jobs(claim("q", "w", 10, job.due_at)).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].state, got[0].attempts), (JobState::Running, 1));
    // Other queues are untouched by claims on this one.
    assert!(
        s.claim_jobs(claim("other", "w", 10, job.due_at))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn priority_then_due_order(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let mut low = NewJob::new("q", "k", "low", T0);
    low.due_at = Timestamp(T0.0 - 10);
    let mut high = NewJob::new("q", "k", "high", T0);
    high.priority = 5;
    s.enqueue_many(&[low, high], T0).await.unwrap();
    let first = s.claim_jobs(claim("q", "w", 1, T0)).await.unwrap();
    assert_eq!(first[0].payload, "high", "replies go ahead of bulk traffic");
}

async fn retries_and_dead_letters(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let mut job = NewJob::new("q", "k", "{}", T0);
    job.max_attempts = 2;
    let id = s.enqueue(&job, T0).await.unwrap().unwrap();
    let got = s.claim_jobs(claim("q", "w", 1, T0)).await.unwrap();
    assert_eq!(got.len(), 1);
    let retry_at = Timestamp(T0.0 + 2_000);
    assert_eq!(
        s.fail_jobs(
            "w",
            &[JobFailure {
                id,
                error: "HTTP 503".into(),
                retry_at: Some(retry_at)
            }],
            T0
        )
        .await
        .unwrap(),
        1
    );
    let j = s.job(id).await.unwrap();
    assert_eq!(
        (j.state, j.due_at, j.last_error.as_deref()),
        (JobState::Ready, retry_at, Some("HTTP 503"))
    );
    assert!(
        s.claim_jobs(claim("q", "w", 1, T0))
            .await
            .unwrap()
            .is_empty(),
        "not before the backoff"
    );
    assert_eq!(
        s.claim_jobs(claim("q", "w", 1, retry_at)).await.unwrap()[0].attempts,
        2
    );
    s.fail_jobs(
        "w",
        &[JobFailure {
            id,
            error: "gave up".into(),
            retry_at: None,
        }],
        retry_at,
    )
    .await
    .unwrap();
    assert_eq!(s.job(id).await.unwrap().state, JobState::Dead);
    let counts = s.queue_counts("q").await.unwrap();
    assert_eq!(
        counts,
        QueueCounts {
            dead: 1,
            ..Default::default()
        }
    );
}

async fn leases_recovered_after_a_crash(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let id = s
        .enqueue(&NewJob::new("q", "k", "{}", T0), T0)
        .await
        .unwrap()
        .unwrap();
    // Runner A claims and "dies": it never completes.
    assert_eq!(s.claim_jobs(claim("q", "a", 1, T0)).await.unwrap().len(), 1);
    let before_expiry = T0.plus(Duration::from_secs(29));
    assert_eq!(s.recover_expired_leases(before_expiry).await.unwrap(), 0);
    assert!(
        s.claim_jobs(claim("q", "b", 1, before_expiry))
            .await
            .unwrap()
            .is_empty()
    );
    let after_expiry = T0.plus(Duration::from_secs(31));
    assert_eq!(s.recover_expired_leases(after_expiry).await.unwrap(), 1);
    let again = s
        .claim_jobs(claim("q", "b", 1, after_expiry))
        .await
        .unwrap();
    assert_eq!((again[0].id, again[0].attempts), (id, 2));
    // A's late completion does not count: B holds the job now.
    assert_eq!(s.complete_jobs("a", &[id], after_expiry).await.unwrap(), 0);
    assert_eq!(s.complete_jobs("b", &[id], after_expiry).await.unwrap(), 1);
    assert_eq!(s.job(id).await.unwrap().state, JobState::Done);
}

async fn recovery_dead_letters_exhausted_jobs(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let mut job = NewJob::new("q", "k", "{}", T0);
    job.max_attempts = 1;
    let id = s.enqueue(&job, T0).await.unwrap().unwrap();
    s.claim_jobs(claim("q", "a", 1, T0)).await.unwrap();
    s.recover_expired_leases(T0.plus(Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(s.job(id).await.unwrap().state, JobState::Dead);
}

async fn dedupe_keys_enqueue_once(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let mut job = NewJob::new("q", "inbound", "{}", T0);
    job.dedupe_key = Some("twilio:SM123".into());
    let first = s.enqueue(&job, T0).await.unwrap();
    assert!(first.is_some());
    assert_eq!(s.enqueue(&job, T0).await.unwrap(), None);
    // Within one batch too, and alongside jobs without keys.
    let plain = NewJob::new("q", "inbound", "{}", T0);
    let ids = s
        .enqueue_many(&[plain.clone(), job.clone(), plain], T0)
        .await
        .unwrap();
    assert!(ids[0].is_some() && ids[1].is_none() && ids[2].is_some());
    // Still deduplicated after the job finished, until it is purged.
    let claimed = s.claim_jobs(claim("q", "w", 10, T0)).await.unwrap();
    let all: Vec<_> = claimed.iter().map(|j| j.id).collect();
    s.complete_jobs("w", &all, T0).await.unwrap();
    assert_eq!(s.enqueue(&job, T0).await.unwrap(), None);
    assert_eq!(s.purge_finished_jobs(Timestamp(T0.0 + 1)).await.unwrap(), 3);
    assert!(s.enqueue(&job, T0).await.unwrap().is_some());
}

/// Several runners claim from the same queue at once; no job is handed out twice.
async fn concurrent_claims_never_overlap(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let jobs: Vec<NewJob> = (0..2000)
        .map(|i| NewJob::new("q", "k", i.to_string(), T0))
        .collect();
    s.enqueue_many(&jobs, T0).await.unwrap();
    let mut tasks = Vec::new();
    for w in 0..6 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let worker = format!("w{w}");
            let mut mine = Vec::new();
            loop {
                let got = s.claim_jobs(claim("q", &worker, 37, T0)).await.unwrap();
                if got.is_empty() {
                    return mine;
                }
                let ids: Vec<_> = got.iter().map(|j| j.id).collect();
                assert_eq!(
                    s.complete_jobs(&worker, &ids, T0).await.unwrap(),
                    ids.len() as u64
                );
                mine.extend(ids);
            }
        }));
    }
    let mut seen = HashSet::new();
    let mut total = 0;
    for t in tasks {
        for id in t.await.unwrap() {
            total += 1;
            assert!(seen.insert(id), "job {id} claimed twice");
        }
    }
    assert_eq!(total, 2000);
    assert_eq!(s.queue_counts("q").await.unwrap().done, 2000);
}

parley_store::on_both_backends!(
    delayed_jobs_wait_for_their_time,
    priority_then_due_order,
    retries_and_dead_letters,
    leases_recovered_after_a_crash,
    recovery_dead_letters_exhausted_jobs,
    dedupe_keys_enqueue_once,
    concurrent_claims_never_overlap,
);
