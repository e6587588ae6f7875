//! A channel changed through the service functions reaches the pipelines of every node at once,
//! not when a cache entry expires: the writing node drops its copy, and on PostgreSQL the others
//! hear of it through `NOTIFY`. The caches here trust an entry for an hour, so only the
//! announcement can make a node see the change within the test's bound.

use std::sync::Arc;
use std::time::Duration;

use parley_core::{Clock, SystemClock};
use parley_engine::service::channels::{self, ChannelInput, Writes};
use parley_engine::{Engine, EngineConfig, EventBus};
use parley_store::testing::{TestBackend, fresh};
use parley_store::{Channel, ChannelSpec, Store, StoreOptions, on_both_backends};
use parley_testkit::build;
use tokio::sync::watch;

fn node(store: &Store) -> Engine {
    Engine::new(
        store.clone(),
        Arc::new(SystemClock),
        EventBus::default(),
        EngineConfig {
            channel_cache_ttl: Duration::from_secs(3600),
            ..EngineConfig::default()
        },
    )
}

fn renamed(c: &Channel, name: &str) -> ChannelInput {
    ChannelInput {
        name: name.to_owned(),
        ..ChannelInput::from(c)
    }
}

/// The name node `e` sees for channel `id`, polled until it is `want` or the bound runs out.
async fn seen_name(e: &Engine, id: uuid::Uuid, want: &str) -> String {
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut name = String::new();
    for _ in 0..500 {
        tick.tick().await;
        name = e.channels.get(&e.store, id).await.unwrap().unwrap().name;
        if name == want {
            break;
        }
    }
    name
}

async fn a_channel_change_reaches_every_node(backend: TestBackend) {
    let db = fresh(backend).await;
    let other_store = Store::connect(&db.url, &StoreOptions::default())
        .await
        .unwrap();
    let (a, b) = (node(&db.store), node(&other_store));
    let (stop, stopping) = watch::channel(false);
    let watcher = tokio::spawn(a.channels.clone().watch(a.store.clone(), stopping));

    let now = SystemClock.now();
    let channel = db
        .store
        .create_channel(
            &ChannelSpec {
                name: "Before".into(),
                ..build::simulator_sms()
            },
            now,
        )
        .await
        .unwrap();
    // Both nodes hold the channel in their caches.
    for n in [&a, &b] {
        let cached = n.channels.get(&n.store, channel.id).await.unwrap().unwrap();
        assert_eq!(cached.name, "Before");
    }

    channels::replace(
        Writes::of_engine(&b),
        channel.id,
        renamed(&channel, "After"),
        now,
    )
    .await
    .unwrap();

    // The writing node sees its own change at once, on both databases.
    let on_b = b.channels.get(&b.store, channel.id).await.unwrap().unwrap();
    assert_eq!(on_b.name, "After");

    match backend {
        TestBackend::Postgres => {
            assert_eq!(seen_name(&a, channel.id, "After").await, "After");
        }
        // One process per SQLite file: there is no other node to tell, and no listener.
        TestBackend::Sqlite => {
            assert!(db.store.config_listener().await.unwrap().is_none());
        }
    }
    let _ = stop.send(true);
    watcher.await.unwrap();
}

on_both_backends!(a_channel_change_reaches_every_node);
