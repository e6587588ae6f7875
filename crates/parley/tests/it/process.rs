//! `parley` as a separate process: the command with a test's environment, and `parley serve`
//! started and waited for.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// `parley <args>` on database `db`, listening on `port`, quiet, with short job leases so that a
/// restarted process takes over a killed one's jobs quickly.
pub fn parley(db: &str, port: u16, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_parley"));
    cmd.args(args)
        .env("PARLEY_DATABASE_URL", db)
        .env("PARLEY_LISTEN", format!("127.0.0.1:{port}"))
        .env("PARLEY_SIMULATOR", "true")
        .env("PARLEY_LOG", "warn")
        .env("PARLEY_JOB_LEASE_SECS", "2")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// Starts `parley serve` on `db` and `port`.
pub async fn serve(db: &str, port: u16, client: &reqwest::Client) -> Child {
    serve_command(parley(db, port, &["serve"]), port, client).await
}

/// Starts `cmd` (a `parley serve`) and waits (bounded) until it answers on `port`.
pub async fn serve_command(mut cmd: Command, port: u16, client: &reqwest::Client) -> Child {
    let mut child = cmd.spawn().unwrap();
    let url = format!("http://127.0.0.1:{port}/healthz");
    let mut up = false;
    // Another process: poll its health endpoint at a bounded pace, for at most 12 s.
    let mut pace = tokio::time::interval(Duration::from_millis(20));
    for _ in 0..600 {
        pace.tick().await;
        up = client
            .get(&url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if up {
            break;
        }
    }
    if !up {
        let _ = child.kill();
        let _ = child.wait();
        panic!("parley serve did not answer on port {port}");
    }
    child
}

/// Runs `parley <args>` on `db` to its end and returns (success, stdout, stderr).
pub fn run(db: &str, args: &[&str]) -> (bool, String, String) {
    let out = parley(db, 0, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `parley apply -f` with `workspace` (YAML) on `db`, which must succeed.
pub fn apply(db: &str, workspace: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("workspace.yaml");
    std::fs::write(&file, workspace).unwrap();
    let (ok, _, err) = run(db, &["apply", "-f", file.to_str().unwrap()]);
    assert!(ok, "{err}");
}
