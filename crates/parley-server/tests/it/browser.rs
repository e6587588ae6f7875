//! The agent console in headless Chromium (Debian's package, driven by npm `playwright-core`; see
//! `tests/browser/console.mjs`): an agent signs in, goes available, receives a session started by
//! a simulator SMS, replies, sees the customer's answer appear live, transfers to a second agent
//! who accepts, and that agent ends it; a message containing `<script>` is shown as text. The test
//! command installs the browser and the harness (`scripts/browser-deps.sh`).

use std::path::PathBuf;
use std::time::Duration;

use parley_core::model::AgentRole;
use parley_store::testing::TestBackend;

use crate::console::{Desk, PASSWORD};

fn harness() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

async fn console_in_a_real_browser(b: TestBackend) {
    let dir = harness();
    assert!(
        dir.join("node_modules/playwright-core").is_dir()
            && PathBuf::from("/usr/bin/chromium").exists(),
        "the browser harness is not installed: run scripts/browser-deps.sh (scripts/test.sh does)"
    );
    let d = Desk::new(b).await;
    let ada = d.agent("Ada", 3, AgentRole::Agent).await;
    let sam = d.agent("Sam", 3, AgentRole::Supervisor).await;
    let customer = format!("+4474009{:05}", rand_suffix());
    let profile = tempfile_dir();
    let run = tokio::process::Command::new("node")
        .arg("console.mjs")
        .arg(format!("--url={}", d.app.base))
        .arg(format!("--agent1={}:{PASSWORD}", ada.email))
        .arg(format!("--agent2={}:{PASSWORD}", sam.email))
        .arg(format!("--channel={}", d.channel.name))
        .arg(format!("--customer={customer}"))
        .env("TMPDIR", &profile)
        .current_dir(&dir)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(240), run)
        .await
        .expect("the browser scenario finishes within four minutes")
        .expect("node runs");
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        out.status.success(),
        "browser scenario failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn rand_suffix() -> u32 {
    (uuid::Uuid::now_v7().as_u128() % 100_000) as u32
}

fn tempfile_dir() -> PathBuf {
    let p = std::env::temp_dir().join(format!("parley-browser-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&p).expect("a temporary directory");
    p
}

/// The admin console shows a refused help text's reasons under the field (`tests/browser/admin.mjs`).
async fn admin_help_refusal_in_a_real_browser(b: TestBackend) {
    let dir = harness();
    assert!(
        dir.join("node_modules/playwright-core").is_dir()
            && PathBuf::from("/usr/bin/chromium").exists(),
        "the browser harness is not installed: run scripts/browser-deps.sh (scripts/test.sh does)"
    );
    let d = Desk::new(b).await;
    let admin = d.agent("Ada", 3, AgentRole::Admin).await;
    let profile = tempfile_dir();
    let run = tokio::process::Command::new("node")
        .arg("admin.mjs")
        .arg(format!("--url={}", d.app.base))
        .arg(format!("--admin={}:{PASSWORD}", admin.email))
        .env("TMPDIR", &profile)
        .current_dir(&dir)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the admin scenario finishes within two minutes")
        .expect("node runs");
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        out.status.success(),
        "admin scenario failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

parley_store::on_both_backends!(
    console_in_a_real_browser,
    admin_help_refusal_in_a_real_browser
);
