//! SMPP sends that survive SIGKILL, against a real and non-idempotent SMSC (the npm `smpp` server of
//! parley-smpp's tests: every submit_sm is a new message to it). One SMSC process outlives every
//! kill; 20,000 queued messages on one SMPP channel; `parley serve` killed three times at random
//! moments of the sending (seeded, printed; `PARLEY_CRASH_SEED` replays one) and restarted on the
//! same database. Then: nothing lost (every entry `sent`, every message seen by the SMSC), and
//! each kill resent at most what was in flight at that moment, bounded by the dispatcher's
//! provider calls in flight plus the SMPP window.
//!
//! On PostgreSQL three nodes share the database and the one killed is the one driving the sender
//! (the holder of its sender lease); the SMSC's log also shows that no two nodes ever submitted
//! for the sender at once: every node binds (to receive), but the submits of each bind (a session
//! in the SMSC's log) form one unbroken run.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use parley_core::consent::SendPurpose;
use parley_core::model::{ChannelKind, ConsentLevel, EntryStatus, NumberType, Provider};
use parley_core::{Clock, SystemClock};
use parley_engine::EngineConfig;
use parley_engine::outbound::leases::SenderLeases;
use parley_store::{Channel, ChannelSpec, InboundWrite, PageRequest, Store, StoreOptions};
use parley_testkit::build;
use parley_testkit::db::{TestBackend, fresh_url};
use parley_testkit::free_port;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::process::{parley, serve_command};

const MESSAGES: usize = 20_000;
const CUSTOMERS: usize = 100;
const KILLS: usize = 3;
/// The dispatcher's provider calls in flight per outbound runner (`PARLEY_OUTBOUND_CONCURRENCY`).
pub(crate) const CONCURRENCY: usize = 32;
/// The channel's SMPP window: submits written and not yet answered.
pub(crate) const WINDOW: usize = 10;
/// Bounds on waiting for another process: each phase, and the whole drain after the last kill.
pub(crate) const PHASE: Duration = Duration::from_secs(90);
pub(crate) const DRAIN: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------------------------------------
// The SMSC, in compact mode: one line per submit_sm, its session and text.

#[derive(Debug, Default)]
pub(crate) struct SmscLog {
    port: Option<u16>,
    /// Sessions bound and not closed yet.
    open: Vec<u64>,
    /// Every submit_sm in the order the SMSC took them: (session, text).
    pub(crate) submits: Vec<(u64, String)>,
}

pub(crate) struct Smsc {
    _child: tokio::process::Child,
    // The SMSC stops when its stdin closes: held for the whole test.
    _stdin: tokio::process::ChildStdin,
    pub(crate) log: Arc<Mutex<SmscLog>>,
    pub(crate) port: u16,
}

fn smsc_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../parley-smpp/tests/smsc")
}

impl Smsc {
    pub(crate) async fn start() -> Smsc {
        let dir = smsc_dir();
        // `npm ci` empties node_modules before it fills it: the crash tests start together, and
        // one running it while another starts node saw the module missing. Once per process,
        // and everyone else waits for it.
        static INSTALLED: OnceLock<()> = OnceLock::new();
        INSTALLED.get_or_init(|| {
            if dir.join("node_modules/smpp/package.json").exists() {
                return;
            }
            let status = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir)
                .status()
                .expect("npm ci in parley-smpp/tests/smsc");
            assert!(status.success(), "npm ci failed");
        });
        let mut child = tokio::process::Command::new("node")
            .arg("smsc.js")
            .current_dir(&dir)
            .env("SMSC_CONFIG", json!({"compact": true}).to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start node smsc.js");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let log = Arc::new(Mutex::new(SmscLog::default()));
        let writer = log.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let Ok(e) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                let session = e["session"].as_u64().unwrap_or(0);
                let mut log = writer.lock().unwrap();
                match e["ev"].as_str().unwrap_or("") {
                    "submit_sm" => {
                        let text = e["text"].as_str().unwrap_or("").to_owned();
                        log.submits.push((session, text));
                    }
                    "listening" => {
                        log.port = e["port"].as_u64().and_then(|p| u16::try_from(p).ok());
                    }
                    "bind_transceiver" if e["accepted"] == true => log.open.push(session),
                    "close" => log.open.retain(|s| *s != session),
                    _ => {}
                }
            }
        });
        let port = poll("the SMSC listening", Duration::from_secs(20), || {
            log.lock().unwrap().port
        })
        .await;
        Smsc {
            _child: child,
            _stdin: stdin,
            log,
            port,
        }
    }

    pub(crate) fn submitted(&self) -> usize {
        self.log.lock().unwrap().submits.len()
    }

    pub(crate) fn open_sessions(&self) -> usize {
        self.log.lock().unwrap().open.len()
    }
}

/// Polls `f` every 10 ms until it gives a value, for at most `limit`: the other side is another
/// process, whose progress can only be watched.
pub(crate) async fn poll<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    let mut pace = tokio::time::interval(Duration::from_millis(10));
    loop {
        pace.tick().await;
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
    }
}

// ---------------------------------------------------------------------------------------------
// The nodes.

/// One `parley serve` slot: a port, and the process now running on it.
pub(crate) struct Node {
    pub(crate) port: u16,
    pub(crate) name: String,
    pub(crate) child: Child,
}

pub(crate) struct Cluster {
    pub(crate) db: String,
    pub(crate) logs: PathBuf,
    pub(crate) client: reqwest::Client,
    pub(crate) nodes: Vec<Node>,
}

impl Cluster {
    fn command(&self, port: u16, name: &str) -> Command {
        let mut cmd = parley(&self.db, port, &["serve"]);
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.logs.join(format!("{port}.log")))
            .unwrap();
        cmd.env("PARLEY_OUTBOUND_CONCURRENCY", CONCURRENCY.to_string())
            .env("PARLEY_SENDER_LEASE_SECS", "5")
            // Long enough that no batch outlives its jobs' lease (a second runner would send them
            // again), short enough that a killed node's jobs come back soon.
            .env("PARLEY_JOB_LEASE_SECS", "10")
            .env("PARLEY_NODE_NAME", name)
            // A campaign's expansion stays only a little ahead, so kills land in it too.
            .env("PARLEY_CAMPAIGN_LOOKAHEAD", "1000")
            .stderr(Stdio::from(log));
        cmd
    }

    pub(crate) async fn start(&mut self, generation: usize, port: u16) -> Node {
        let name = format!("crash-{port}-{generation}");
        let child = serve_command(self.command(port, &name), port, &self.client).await;
        Node { port, name, child }
    }

    pub(crate) fn stop_all(&mut self) {
        for node in &mut self.nodes {
            let _ = node.child.kill();
            let _ = node.child.wait();
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop_all();
    }
}

// ---------------------------------------------------------------------------------------------
// The outbox.

/// A US toll-free SMS channel over SMPP to the SMSC at `port`, with its rate lifted and the
/// test's window.
pub(crate) fn smpp_channel(name: &str, port: u16) -> ChannelSpec {
    ChannelSpec {
        name: name.into(),
        kind: ChannelKind::Sms,
        provider: Provider::Smpp,
        address: "+14155550100".into(),
        number_type: Some(NumberType::TollFree),
        provider_keyword: None,
        country: Some("US".into()),
        consent_level: ConsentLevel::Implicit,
        queue_id: None,
        throughput_mps: Some(10_000),
        settings: json!({"host": "127.0.0.1", "port": port, "window": WINDOW}),
        secrets: json!({"system_id": "parley", "password": "secret"}),
    }
}

/// An SMPP channel to the SMSC at `port`, with its rate lifted, and `MESSAGES` queued messages to
/// `CUSTOMERS` customers with their send jobs, written as the pipelines leave them. Returns the
/// channel and the customers' session ids.
async fn outbox(store: &Store, port: u16) -> (Channel, Vec<uuid::Uuid>) {
    let now = SystemClock.now();
    let channel = store
        .create_channel(&smpp_channel("Crash SMPP", port), now)
        .await
        .unwrap();
    let mut sessions = Vec::with_capacity(CUSTOMERS);
    for c in 0..CUSTOMERS {
        let to = format!("+1415666{c:04}");
        sessions.push(build::customer_session(store, &channel, &to, now).await.id);
    }
    let writes: Vec<InboundWrite> = (0..MESSAGES)
        .map(|i| {
            let entry = parley_engine::outbound::auto_response_entry(
                sessions[i % CUSTOMERS],
                text_of(i),
                now,
            );
            let job = parley_engine::outbound::send_job(
                entry.id,
                SendPurpose::Conversation {
                    session_opt_in: false,
                },
                parley_engine::outbound::REPLY_PRIORITY,
                now,
            );
            InboundWrite {
                entries: vec![entry],
                jobs: vec![job],
                ..InboundWrite::default()
            }
        })
        .collect();
    for chunk in writes.chunks(1000) {
        store.commit_inbound(chunk, &[], "", now).await.unwrap();
    }
    (channel, sessions)
}

/// The text of message `i`: GSM 7-bit and ASCII alike, so the SMSC logs it as written.
fn text_of(i: usize) -> String {
    format!("crash test {i:05}")
}

// ---------------------------------------------------------------------------------------------
// The run.

/// The seed of the kill moments: `PARLEY_CRASH_SEED`, or the clock.
pub(crate) fn seed() -> u64 {
    std::env::var("PARLEY_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| {
                    u64::try_from(d.as_nanos() % u128::from(u64::MAX)).unwrap_or(0)
                })
        })
}

/// The kill moments, as counts of submit_sm the SMSC has seen: one at random in each third of
/// the middle of the sending, at least 1,000 submits apart.
fn kill_points(seed: u64) -> Vec<usize> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (from, to) = (MESSAGES / 10, MESSAGES * 8 / 10);
    let slice = (to - from) / KILLS;
    (0..KILLS)
        .map(|k| from + k * slice + rng.random_range(0..slice - 1000))
        .collect()
}

async fn killed_three_times(b: TestBackend, nodes: usize) {
    let seed = seed();
    let points = kill_points(seed);
    println!(
        "{b:?}, {nodes} node(s): seed {seed} (PARLEY_CRASH_SEED), kills after {points:?} submits"
    );

    let (db, _db_dir) = fresh_url(b).await;
    let store = Store::connect(&db, &StoreOptions::default()).await.unwrap();
    store.migrate().await.unwrap();
    let smsc = Smsc::start().await;
    let (channel, sessions) = outbox(&store, smsc.port).await;
    let lease = SenderLeases::name(channel.id);

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

    let mut at_kill = Vec::new();
    for (k, point) in points.iter().enumerate() {
        poll(
            &format!("{point} submits before kill {}", k + 1),
            PHASE,
            || (smsc.submitted() >= *point).then_some(()),
        )
        .await;
        // The node driving the sender: the only one on SQLite, the lease holder on PostgreSQL.
        let victim = if nodes == 1 {
            0
        } else {
            let holder = store.lease_holder(&lease).await.unwrap().expect("a holder");
            cluster
                .nodes
                .iter()
                .position(|n| n.name == holder.owner)
                .unwrap_or_else(|| {
                    panic!("the sender is held by {}, no running node", holder.owner)
                })
        };
        let node = &mut cluster.nodes[victim];
        node.child.kill().unwrap();
        node.child.wait().unwrap();
        at_kill.push(smsc.submitted());
        let port = node.port;
        // Its bind is gone at the SMSC before the next process binds.
        poll("the killed node's bind closed", PHASE, || {
            (smsc.open_sessions() < nodes).then_some(())
        })
        .await;
        cluster.nodes[victim] = cluster.start(k + 1, port).await;
    }

    let deadline = Instant::now() + DRAIN;
    let mut pace = tokio::time::interval(Duration::from_millis(50));
    loop {
        pace.tick().await;
        if !store
            .has_pending_jobs(parley_engine::outbound::QUEUE)
            .await
            .unwrap()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "outbound jobs left {DRAIN:?} after the last restart ({} submits seen); logs in {}",
            smsc.submitted(),
            logs.path().display()
        );
    }
    cluster.stop_all();

    // Nothing lost: every entry sent, every message seen by the SMSC.
    let mut not_sent = Vec::new();
    for session in &sessions {
        let entries = store
            .list_entries(*session, PageRequest::new(None, PageRequest::MAX_LIMIT))
            .await
            .unwrap()
            .items;
        assert_eq!(entries.len(), MESSAGES / CUSTOMERS);
        not_sent.extend(
            entries
                .into_iter()
                .filter(|e| !matches!(e.status, EntryStatus::Sent | EntryStatus::Delivered))
                .map(|e| (e.body, e.status, e.provider_error)),
        );
    }
    assert!(
        not_sent.is_empty(),
        "{} entries not sent, e.g. {:?}",
        not_sent.len(),
        not_sent.first()
    );
    let submits = smsc.log.lock().unwrap().submits.clone();
    let mut seen: HashMap<&str, Vec<u64>> = HashMap::new();
    for (session, text) in &submits {
        seen.entry(text.as_str()).or_default().push(*session);
    }
    let lost: Vec<String> = (0..MESSAGES)
        .map(text_of)
        .filter(|t| !seen.contains_key(t.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "{} messages never reached the SMSC: {:?}",
        lost.len(),
        lost.first()
    );
    assert_eq!(seen.len(), MESSAGES, "texts the SMSC saw");

    // One sender, one driver at a time: each bind's submits form one run.
    let mut runs: Vec<u64> = Vec::new();
    for (session, _) in &submits {
        if runs.last() != Some(session) {
            assert!(
                !runs.contains(session),
                "session {session} submitted again after another one did: two nodes drove the sender (runs {runs:?})"
            );
            runs.push(*session);
        }
    }
    assert!(
        runs.len() <= KILLS + 1,
        "the sender changed hands {} times for {KILLS} kills: {runs:?}",
        runs.len() - 1
    );

    // Duplicates: each extra submit_sm of a message is charged to the kill that ended the run of
    // the submit before it. The last run ended with no kill: nothing may be charged to it.
    let mut per_kill = vec![0usize; runs.len()];
    for sessions in seen.values() {
        for pair in sessions.windows(2) {
            let run = runs.iter().position(|s| *s == pair[0]).unwrap();
            per_kill[run] += 1;
        }
    }
    // What a node can have in flight: each runner's calls (a call holds its place until its
    // result is committed), and the SMPP window of submits written and not yet answered.
    let runners = EngineConfig::default().outbound_runners;
    let window = runners * CONCURRENCY + WINDOW;
    println!(
        "{b:?}, {nodes} node(s): {} submit_sm for {MESSAGES} messages; submits seen at each kill {at_kill:?}; runs (SMSC sessions) {runs:?}; duplicates per kill {:?} (bound: {runners} runners x {CONCURRENCY} calls + window {WINDOW} = {window})",
        submits.len(),
        &per_kill[..runs.len() - 1]
    );
    assert_eq!(
        per_kill.last().copied(),
        Some(0),
        "messages sent twice with no kill: {per_kill:?}"
    );
    for (k, dups) in per_kill.iter().enumerate() {
        assert!(
            *dups <= window,
            "kill {} resent {dups} messages, more than the {window} that can be in flight",
            k + 1
        );
    }
    store.close().await;
}

/// SQLite: one `parley serve`, killed three times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smpp_sqlite_killed_three_times_loses_nothing_and_resends_only_the_window() {
    killed_three_times(TestBackend::Sqlite, 1).await;
}

/// PostgreSQL: three nodes; the one driving the sender killed three times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smpp_postgres_sender_node_killed_three_times_loses_nothing_and_resends_only_the_window() {
    killed_three_times(TestBackend::Postgres, 3).await;
}
