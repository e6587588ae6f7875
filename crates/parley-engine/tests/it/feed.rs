//! The console feed across nodes: an event written through one node's store reaches the console
//! streams of another node sharing the database (PostgreSQL: LISTEN/NOTIFY; SQLite: the tailer's
//! tick), and a reconnecting console replays from its last event id.

use std::sync::Arc;
use std::time::Duration;

use parley_core::{Clock, SystemClock};
use parley_engine::{Engine, EngineConfig, EventBus};
use parley_store::testing::{TestBackend, fresh};
use parley_store::{ConsoleEventKind, NewConsoleEvent, Store, StoreOptions};
use uuid::Uuid;

async fn events_cross_nodes(b: TestBackend) {
    let db = fresh(b).await;
    let other = Store::connect(&db.url, &StoreOptions::default())
        .await
        .unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let node_b = Engine::new(
        other.clone(),
        clock.clone(),
        EventBus::default(),
        EngineConfig::default(),
    );
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let agent = Uuid::now_v7();
    let mut live = node_b.feed.stream(agent, false);
    let tasks = node_b.feed.spawn(&node_b.events, stop_rx);

    // Node A writes (here straight through its store, as its agent actions and router do).
    let event = NewConsoleEvent {
        agent_id: Some(agent),
        kind: ConsoleEventKind::Offer,
        data: r#"{"session_id":"s1"}"#.into(),
    };
    // The tailer starts from the newest id when it starts; write until it has started and seen one.
    let got = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            db.store
                .append_console_events(std::slice::from_ref(&event), clock.now())
                .await
                .unwrap();
            if let Ok(Some(e)) =
                tokio::time::timeout(Duration::from_millis(1500), live.rx.recv()).await
            {
                return e;
            }
        }
    })
    .await
    .expect("node B's streams see node A's event");
    assert_eq!(got.agent_id, Some(agent));
    assert_eq!(got.kind, "offer");

    // Replay after an id gives what came later, in order.
    let second = NewConsoleEvent {
        kind: ConsoleEventKind::Session,
        ..event.clone()
    };
    db.store
        .append_console_events(&[second], clock.now())
        .await
        .unwrap();
    let replay = node_b.feed.replay(got.id, 100).await.unwrap();
    assert!(replay.iter().all(|e| e.id > got.id));
    assert!(replay.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(replay.last().map(|e| e.kind.as_str()), Some("session"));

    let _ = stop.send(true);
    for t in tasks {
        let _ = t.await;
    }
}

parley_store::on_both_backends!(events_cross_nodes);
