//! Starts the Node SMSC (`tests/smsc/smsc.js`, npm `smpp` server) and reads what it logs.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use parley_smpp::{Address, Backoff, DataCoding, OutboundMessage, Segment, SmppConfig};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

/// Bound on every wait in these tests.
pub const WAIT: Duration = Duration::from_secs(20);

fn smsc_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smsc")
}

/// Installs the SMSC's npm dependencies once per test run, from the committed lock file.
fn ensure_node_modules() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let dir = smsc_dir();
        if dir.join("node_modules/smpp/package.json").exists() {
            return;
        }
        let status = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("run npm ci in tests/smsc (is node installed?)");
        assert!(status.success(), "npm ci failed in {}", dir.display());
    });
}

/// A running SMSC. The node process is killed when this is dropped.
pub struct Smsc {
    _child: Child,
    stdin: ChildStdin,
    events: mpsc::UnboundedReceiver<Value>,
    log: Arc<Mutex<Vec<Value>>>,
    pub port: u16,
}

impl Smsc {
    /// Starts the SMSC with this configuration (see the head of smsc.js).
    pub async fn start(config: Value) -> Smsc {
        ensure_node_modules();
        let mut child = Command::new("node")
            .arg("smsc.js")
            .current_dir(smsc_dir())
            .env("SMSC_CONFIG", config.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start node smsc.js");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, events) = mpsc::unbounded_channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let log_writer = Arc::clone(&log);
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let Ok(value) = serde_json::from_str::<Value>(&line) else {
                    eprintln!("smsc: {line}");
                    continue;
                };
                log_writer.lock().unwrap().push(value.clone());
                let _ = tx.send(value);
            }
        });
        let mut smsc = Smsc {
            _child: child,
            stdin,
            events,
            log,
            port: 0,
        };
        let listening = smsc.wait_for(|e| e["ev"] == "listening").await;
        smsc.port = u16::try_from(listening["port"].as_u64().expect("port")).expect("port");
        smsc
    }

    /// Waits (at most [`WAIT`]) for the next logged event matching `pred`, skipping others
    /// (they stay in [`Smsc::log`]).
    pub async fn wait_for(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(event)) if pred(&event) => return event,
                Ok(Some(_)) => {}
                Ok(None) => panic!("the SMSC exited; log: {:#?}", self.log()),
                Err(_) => panic!(
                    "timed out waiting for an SMSC event; log: {:#?}",
                    self.log()
                ),
            }
        }
    }

    /// Waits until the log holds `n` events matching `pred`.
    pub async fn wait_count(&mut self, n: usize, pred: impl Fn(&Value) -> bool) {
        while self.count(&pred) < n {
            self.wait_for(&pred).await;
        }
    }

    /// Every event logged so far.
    pub fn log(&self) -> Vec<Value> {
        self.log.lock().unwrap().clone()
    }

    /// How many logged events match `pred`.
    pub fn count(&self, pred: impl Fn(&Value) -> bool) -> usize {
        self.log.lock().unwrap().iter().filter(|e| pred(e)).count()
    }

    /// The submit_sm the SMSC logged, in order.
    pub fn submits(&self) -> Vec<Value> {
        self.log()
            .into_iter()
            .filter(|e| e["ev"] == "submit_sm")
            .collect()
    }

    /// Sends a control command (a JSON line on stdin).
    pub async fn command(&mut self, command: Value) {
        let mut line = command.to_string();
        line.push('\n');
        self.stdin
            .write_all(line.as_bytes())
            .await
            .expect("write to smsc");
        self.stdin.flush().await.expect("flush smsc stdin");
    }

    /// A round trip through the client: the SMSC sends enquire_link and we wait for the
    /// answer. Everything the client wrote before answering has been logged by then.
    pub async fn barrier(&mut self, reference: &str) {
        self.command(serde_json::json!({"cmd": "enquire_link", "ref": reference}))
            .await;
        let event = self
            .wait_for(|e| e["ev"] == "enquire_link_resp" && e["ref"] == reference)
            .await;
        assert_eq!(event["command_status"], 0);
    }

    /// A client configuration for this SMSC with test-friendly timings.
    pub fn client_config(&self) -> SmppConfig {
        let mut config = SmppConfig::new("127.0.0.1", self.port, "parley", "secret");
        config.system_type = "parley".into();
        config.response_timeout = Duration::from_secs(5);
        config.queue_timeout = Duration::from_secs(15);
        config.reconnect_backoff =
            Backoff::new(Duration::from_millis(20), Duration::from_millis(200));
        config.throttle_backoff =
            Backoff::new(Duration::from_millis(10), Duration::from_millis(100));
        config
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A one-segment GSM message from a short code to a UK mobile.
pub fn gsm_message(short_message: &[u8], registered_delivery: bool) -> OutboundMessage {
    OutboundMessage {
        source: Address::short_code("12345"),
        destination: Address::international("+447400123456"),
        registered_delivery,
        segments: vec![Segment {
            short_message: short_message.to_vec(),
            data_coding: DataCoding::Gsm7,
            udhi: false,
        }],
    }
}

/// Splits `user_data` into concatenated segments with an 8-bit reference UDH
/// (05 00 03 ref total seq), `per_part` octets of user data each.
pub fn concatenated(user_data: &[u8], per_part: usize, reference: u8) -> Vec<Vec<u8>> {
    let chunks: Vec<&[u8]> = user_data.chunks(per_part).collect();
    let total = u8::try_from(chunks.len()).unwrap();
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let mut part = vec![5, 0, 3, reference, total, u8::try_from(i + 1).unwrap()];
            part.extend_from_slice(chunk);
            part
        })
        .collect()
}

/// UTF-16BE of `text`.
pub fn ucs2(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_be_bytes).collect()
}
