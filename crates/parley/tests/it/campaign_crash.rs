//! A campaign that survives SIGKILL (issue 11): 8,000 recipients over SMPP to the npm `smpp`
//! SMSC (not idempotent), `parley serve` killed twice at seeded random moments while the campaign
//! is expanding and sending (the expansion stays only 1,000 messages ahead, so the kills land in
//! both), and restarted. Then: the campaign completes; every recipient's message reached the
//! SMSC; and a recipient got it twice only if it was in flight at a kill, at most what one node
//! can have in flight per kill. One recipient never gets two messages from the campaign itself:
//! the expansion writes each recipient once (the store's unique index), whatever the kills.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parley_core::campaign::audience::{Condition, SegmentFilter};
use parley_core::campaign::state::CampaignAction;
use parley_core::campaign::{Audience, CampaignKind, CampaignSpec, CampaignState, Content};
use parley_core::{Clock, SystemClock};
use parley_engine::EngineConfig;
use parley_engine::import::{ImportFile, ImportRecord, import_messaging_users};
use parley_engine::service::campaigns::{self as service, SegmentInput};
use parley_store::{Store, StoreOptions};
use parley_testkit::db::{TestBackend, fresh_url};
use parley_testkit::free_port;
use rand::{Rng, SeedableRng};

use crate::smpp_crash::{
    CONCURRENCY, Cluster, DRAIN, PHASE, Smsc, WINDOW, poll, seed, smpp_channel,
};

const RECIPIENTS: usize = 8_000;
const KILLS: usize = 2;

fn name_of(i: usize) -> String {
    format!("r{i:05}")
}

async fn campaign_killed_twice(b: TestBackend, nodes: usize) {
    let seed = seed();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (from, to) = (RECIPIENTS / 10, RECIPIENTS * 8 / 10);
    let slice = (to - from) / KILLS;
    let points: Vec<usize> = (0..KILLS)
        .map(|k| from + k * slice + rng.random_range(0..slice / 2))
        .collect();
    println!(
        "{b:?}, {nodes} node(s): seed {seed} (PARLEY_CRASH_SEED), kills after {points:?} submits"
    );

    let (db, _db_dir) = fresh_url(b).await;
    let store = Store::connect(&db, &StoreOptions::default()).await.unwrap();
    store.migrate().await.unwrap();
    let smsc = Smsc::start().await;
    let now = SystemClock.now();
    let channel = store
        .create_channel(&smpp_channel("Campaign SMPP", smsc.port), now)
        .await
        .unwrap();
    // The recipients, opted in, each with a name of their own: the SMSC's log shows whose
    // message each submit carried.
    let file = ImportFile {
        name: "recipients".into(),
        header: ["channel", "platform_key", "consent_status", "first_name"]
            .map(str::to_owned)
            .to_vec(),
        records: (0..RECIPIENTS)
            .map(|i| ImportRecord {
                line: i as u64 + 2,
                fields: vec![
                    channel.name.clone(),
                    format!("+1415777{i:04}"),
                    "ExplicitlyOptedIn".into(),
                    name_of(i),
                ],
                unreadable: None,
            })
            .collect(),
    };
    let imported = import_messaging_users(&store, &SystemClock, &file, |_| {})
        .await
        .unwrap();
    assert!(
        imported.rejected.is_empty(),
        "{:?}",
        imported.rejected.first()
    );
    let segment = service::create_segment(
        &store,
        &SegmentInput {
            name: "everyone".into(),
            description: String::new(),
            filter: SegmentFilter {
                all: vec![Condition::Channel {
                    channels: vec![channel.id],
                }],
            },
        },
        now,
    )
    .await
    .unwrap();
    let spec = CampaignSpec {
        name: "Crash".into(),
        kind: CampaignKind::Marketing,
        senders: vec![channel.id],
        audience: Audience::Segment {
            segment_id: segment.id,
        },
        content: Content {
            text: Some("campaign for {{ messaging_user.name }}".into()),
            template: None,
            missing: Default::default(),
            fallbacks: Default::default(),
        },
        footer: Default::default(),
        schedule: Default::default(),
        reply_flow: None,
    };
    let campaign = service::create_campaign(&store, &spec, None, now)
        .await
        .unwrap();

    parley_engine::transport::install_crypto_provider();
    let logs = tempfile::tempdir().unwrap();
    let mut cluster = Cluster {
        db: db.clone(),
        logs: logs.path().to_owned(),
        client: reqwest::Client::new(),
        nodes: Vec::new(),
    };
    for _ in 0..nodes {
        let node = cluster.start(0, free_port()).await;
        cluster.nodes.push(node);
    }
    // Started from here, as another operator would from the console: the nodes' worker picks it
    // up.
    let handle = parley_engine::campaigns::Campaigns::new(
        store.clone(),
        std::sync::Arc::new(SystemClock),
        parley_engine::EventBus::default(),
    );
    service::act(&handle, campaign.id, CampaignAction::Start)
        .await
        .unwrap();

    let mut at_kill = Vec::new();
    for (k, point) in points.iter().enumerate() {
        poll(
            &format!("{point} submits before kill {}", k + 1),
            PHASE,
            || (smsc.submitted() >= *point).then_some(()),
        )
        .await;
        // Every node: on SQLite the only one; on PostgreSQL the one expanding may be any.
        let victim = k % nodes;
        let node = &mut cluster.nodes[victim];
        node.child.kill().unwrap();
        node.child.wait().unwrap();
        at_kill.push(smsc.submitted());
        let port = node.port;
        if nodes == 1 {
            poll("the killed node's bind closed", PHASE, || {
                (smsc.open_sessions() == 0).then_some(())
            })
            .await;
        }
        cluster.nodes[victim] = cluster.start(k + 1, port).await;
    }

    let deadline = Instant::now() + DRAIN;
    let mut pace = tokio::time::interval(Duration::from_millis(50));
    loop {
        pace.tick().await;
        if store.campaign(campaign.id).await.unwrap().state == CampaignState::Completed {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the campaign did not complete {DRAIN:?} after the last restart ({} submits seen); logs in {}",
            smsc.submitted(),
            logs.path().display()
        );
    }
    cluster.stop_all();

    let counts = service::results(&store, campaign.id).await.unwrap().counts;
    assert_eq!(counts.audience, RECIPIENTS as u64, "{counts:?}");
    assert_eq!(
        counts.queued, RECIPIENTS as u64,
        "one message per recipient: {counts:?}"
    );
    assert_eq!(counts.sent, RECIPIENTS as u64, "{counts:?}");

    let submits = smsc.log.lock().unwrap().submits.clone();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (_, text) in &submits {
        *seen.entry(text.as_str()).or_default() += 1;
    }
    let lost: Vec<String> = (0..RECIPIENTS)
        .map(|i| format!("campaign for {}", name_of(i)))
        .filter(|t| !seen.contains_key(t.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "{} recipients never reached: {:?}",
        lost.len(),
        lost.first()
    );
    assert_eq!(seen.len(), RECIPIENTS);
    let twice: usize = seen.values().map(|n| n - 1).sum();
    let runners = EngineConfig::default().outbound_runners;
    let window = runners * CONCURRENCY + WINDOW;
    println!(
        "{b:?}, {nodes} node(s): {} submit_sm for {RECIPIENTS} recipients; submits at each kill {at_kill:?}; sent twice {twice} (bound {KILLS} kills x ({runners} runners x {CONCURRENCY} calls + window {WINDOW}) = {})",
        submits.len(),
        KILLS * window
    );
    assert!(
        twice <= KILLS * window,
        "{twice} recipients got the message twice, more than the {} that can be in flight at {KILLS} kills",
        KILLS * window
    );
    store.close().await;
}

/// SQLite: one `parley serve`, killed twice mid-campaign.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campaign_sqlite_killed_twice_sends_every_recipient_once_but_the_window() {
    campaign_killed_twice(TestBackend::Sqlite, 1).await;
}

/// PostgreSQL: two nodes, each killed once mid-campaign.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campaign_postgres_nodes_killed_mid_campaign_send_every_recipient_once_but_the_window() {
    campaign_killed_twice(TestBackend::Postgres, 2).await;
}
