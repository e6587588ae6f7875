//! schemathesis against the `parley` binary just built: scripts/schemathesis.sh boots
//! `parley demo` on a fresh database, aims schemathesis at its /api/openapi.json and fails on any
//! server error (5xx), panic, or answer the document does not describe (status, content type,
//! headers, body schema), or request the document refuses that the server takes. Bounded by the script: a fixed seed, a fixed number of examples
//! per operation and a wall-clock timeout. The first run installs schemathesis (pinned in
//! scripts/oracles/schemathesis/requirements.txt) into a venv under target/, so it needs PyPI once.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

use parley_testkit::db::{TestBackend, fresh_url};

/// The two backends' runs take turns: each already uses both cores, and two at once could run
/// into the script's time bound on a loaded machine.
static ONE_RUN_AT_A_TIME: Mutex<()> = Mutex::new(());

async fn the_api_answers_no_server_error(b: TestBackend) {
    let (db, _dir) = fresh_url(b).await;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut cmd = Command::new("bash");
    cmd.arg(root.join("scripts/schemathesis.sh"))
        .env("PARLEY_BIN", env!("CARGO_BIN_EXE_parley"))
        .env("SCHEMATHESIS_DATABASE_URL", &db);
    let out = {
        let _turn = ONE_RUN_AT_A_TIME
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cmd.output()
            .expect("running scripts/schemathesis.sh with bash")
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The run's summaries (one per `st run`: DELETEs go last), from their header to the closing
    // rule, so a passing run still shows what it covered.
    let mut in_summary = false;
    for line in stdout.lines() {
        in_summary |= line.contains("= SUMMARY =");
        if in_summary {
            parley_testkit::figures!("{line}");
            in_summary = !line.starts_with("====") || line.contains("SUMMARY");
        }
    }
    assert!(
        out.status.success(),
        "schemathesis on {b:?} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
}

parley_store::on_both_backends!(the_api_answers_no_server_error);
