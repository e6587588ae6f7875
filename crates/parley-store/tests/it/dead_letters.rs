use std::time::Duration;

use parley_core::Timestamp;
use parley_core::dead_letter::DeadLetterReason;
use parley_core::model::JobState;
use parley_store::testing::{TestBackend, fresh};
use parley_store::*;

const T0: Timestamp = Timestamp(1_700_000_000_000);

fn claim(now: Timestamp) -> ClaimRequest<'static> {
    ClaimRequest {
        queue: "inbound",
        worker: "w",
        limit: 100,
        lease: Duration::from_secs(30),
        now,
    }
}

fn letter(id: uuid::Uuid, reason: DeadLetterReason) -> DeadLetterWrite {
    DeadLetterWrite {
        id,
        reason,
        detail: format!("because {reason}"),
    }
}

async fn dead_letters_are_listed_newest_first_replayed_and_discarded(b: TestBackend) {
    let db = fresh(b).await;
    let s = &db.store;
    let mut ids = Vec::new();
    for i in 0..4 {
        let job = NewJob::new("inbound", "inbound.message", format!("{{\"n\":{i}}}"), T0);
        ids.push(s.enqueue(&job, T0).await.unwrap().unwrap());
    }
    // A dead job of another queue is no dead letter.
    s.enqueue(&NewJob::new("outbound", "outbound.send", "{}", T0), T0)
        .await
        .unwrap();
    let out = s
        .claim_jobs(ClaimRequest {
            queue: "outbound",
            ..claim(T0)
        })
        .await
        .unwrap();
    s.fail_jobs(
        "w",
        &[JobFailure {
            id: out[0].id,
            error: "gone".into(),
            retry_at: None,
        }],
        T0,
    )
    .await
    .unwrap();

    assert_eq!(s.claim_jobs(claim(T0)).await.unwrap().len(), 4);
    let written = s
        .dead_letter_jobs(
            "w",
            &[
                letter(ids[0], DeadLetterReason::InvalidSender),
                letter(ids[1], DeadLetterReason::DatabaseRefused),
                letter(ids[2], DeadLetterReason::InvalidSender),
            ],
            T0,
        )
        .await
        .unwrap();
    assert_eq!(written, 3);
    // Another worker cannot dead-letter what it does not hold.
    assert_eq!(
        s.dead_letter_jobs("other", &[letter(ids[3], DeadLetterReason::Malformed)], T0)
            .await
            .unwrap(),
        0
    );
    // The runner's own dead end (no reason) is listed as `other`.
    s.fail_jobs(
        "w",
        &[JobFailure {
            id: ids[3],
            error: "no handler".into(),
            retry_at: None,
        }],
        T0,
    )
    .await
    .unwrap();

    let all = s
        .list_dead_letters(None, PageRequest::new(None, 2))
        .await
        .unwrap();
    let listed: Vec<_> = all.items.iter().map(|d| d.id).collect();
    assert_eq!(listed, [ids[3], ids[2]], "newest first");
    assert_eq!(all.items[0].reason, DeadLetterReason::Other);
    let rest = s
        .list_dead_letters(None, PageRequest::new(all.next, 10))
        .await
        .unwrap();
    let listed: Vec<_> = rest.items.iter().map(|d| d.id).collect();
    assert_eq!(listed, [ids[1], ids[0]]);
    assert_eq!(rest.next, None);

    let senders = s
        .list_dead_letters(
            Some(DeadLetterReason::InvalidSender),
            PageRequest::new(None, 10),
        )
        .await
        .unwrap();
    let listed: Vec<_> = senders.items.iter().map(|d| d.id).collect();
    assert_eq!(listed, [ids[2], ids[0]]);
    let one = s.dead_letter(ids[1]).await.unwrap();
    assert_eq!(
        (one.payload.as_str(), one.reason, one.detail.as_deref()),
        (
            "{\"n\":1}",
            DeadLetterReason::DatabaseRefused,
            Some("because database_refused")
        )
    );
    assert!(matches!(
        s.dead_letter(out[0].id).await,
        Err(StoreError::NotFound { .. })
    ));

    // Replaying a reason revives its letters only, with fresh attempts, due since they arrived.
    let t1 = T0.plus(Duration::from_secs(60));
    let mut replayed = s
        .replay_dead_letters(None, Some(DeadLetterReason::InvalidSender), t1)
        .await
        .unwrap();
    replayed.sort();
    let mut expected = vec![ids[0], ids[2]];
    expected.sort();
    assert_eq!(replayed, expected);
    let j = s.job(ids[0]).await.unwrap();
    assert_eq!((j.state, j.attempts, j.due_at), (JobState::Ready, 0, T0));
    assert!(matches!(
        s.dead_letter(ids[0]).await,
        Err(StoreError::NotFound { .. })
    ));
    // One by id; an id that is not dead any more is skipped.
    assert_eq!(
        s.replay_dead_letters(Some(&[ids[1], ids[0]]), None, t1)
            .await
            .unwrap(),
        [ids[1]]
    );
    assert_eq!(
        s.replay_dead_letters(None, Some(DeadLetterReason::Other), t1)
            .await
            .unwrap(),
        [ids[3]]
    );
    assert!(
        s.list_dead_letters(None, PageRequest::new(None, 10))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(s.claim_jobs(claim(t1)).await.unwrap().len(), 4);

    // Discarding finishes the job with who did it.
    s.dead_letter_jobs("w", &[letter(ids[0], DeadLetterReason::Malformed)], t1)
        .await
        .unwrap();
    s.discard_dead_letter(ids[0], "discarded by admin", t1)
        .await
        .unwrap();
    let j = s.job(ids[0]).await.unwrap();
    assert_eq!(
        (j.state, j.last_error.as_deref()),
        (JobState::Done, Some("discarded by admin"))
    );
    assert!(matches!(
        s.discard_dead_letter(ids[0], "again", t1).await,
        Err(StoreError::NotFound { .. })
    ));
}

parley_store::on_both_backends!(dead_letters_are_listed_newest_first_replayed_and_discarded);
