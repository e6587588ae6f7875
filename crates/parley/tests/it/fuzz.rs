//! The fuzz targets of `fuzz/`, each for a few seconds: scripts/fuzz.sh builds them (instrumented,
//! in target/fuzz, on the stable toolchain) and runs each with libFuzzer for a bounded time from
//! the committed seed corpus, failing on any crash, hang or runaway memory. The per-target
//! figures (executions, exec/s, coverage, corpus) are printed even when the test passes.
//! PARLEY_FUZZ_SECONDS sets the seconds per target (default: the script's, 15); the hour-long
//! runs are in docs/security.md.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

#[test]
fn every_fuzz_target_runs_clean_for_its_time() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut cmd = Command::new("bash");
    cmd.arg(root.join("scripts/fuzz.sh"));
    if let Ok(seconds) = std::env::var("PARLEY_FUZZ_SECONDS") {
        cmd.arg(seconds);
    }
    let out = cmd.output().expect("running scripts/fuzz.sh with bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Straight to the process's stderr: the test harness captures eprintln!, and these figures
    // are wanted in a passing run too.
    let figures: String = stdout
        .lines()
        .filter(|l| l.starts_with("fuzz:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let _ = std::io::stderr().write_all(figures.as_bytes());
    assert!(
        out.status.success(),
        "scripts/fuzz.sh failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
}
