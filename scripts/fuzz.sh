#!/usr/bin/env bash
# Builds the fuzz targets of fuzz/ and runs each for a bounded time, on the stable toolchain.
#
#   scripts/fuzz.sh [seconds-per-target] [target...]
#
# 0 seconds only builds. Default: 15 seconds for each of the six targets (what the test command runs, through
# crates/parley/tests/it/fuzz.rs); `scripts/fuzz.sh 3600` is the hour-long run of
# docs/security.md. For each target it prints executions, executions per second, coverage
# (libFuzzer's cov: edges and ft: features), the corpus size and how many new inputs the run
# added; a crash, a timeout (one input running over 10 s) or running out of memory fails the
# run, and the output names the crashing input's file.
#
# Why not `cargo fuzz run`: CI's machine has only the stable toolchain, and cargo-fuzz's
# default AddressSanitizer build needs nightly. With `--sanitizer none` cargo-fuzz passes no -Z
# flag, so it would work on stable, but it would first have to be installed (`cargo install`,
# a minute or two of building and one more thing fetched on every fresh machine), and it builds
# one target per cargo call. So this script passes the same instrumentation flags as
# `cargo fuzz build --sanitizer none` itself (all stable -C flags: no RUSTC_BOOTSTRAP needed)
# and runs the libFuzzer binaries directly, which also gives it their statistics to print.
# Safe Rust needs no AddressSanitizer to turn a bug into a crash: panics, overflows (debug
# assertions and overflow checks are on in the fuzz profile), runaway memory and hangs are what
# these targets look for. fuzz/ stays a normal cargo-fuzz project: with cargo-fuzz installed,
# `cargo fuzz run <target>` (nightly, with ASan) or `cargo +stable fuzz run --sanitizer none
# <target>` work from the repository root.
#
# Environment: FUZZ_TARGET_DIR (default fuzz/ in CARGO_TARGET_DIR or target/: the instrumented
# build, the working corpus each run grows in <dir>/corpus/<target>, crashing inputs in
# <dir>/artifacts/<target>, and each target's libFuzzer log in <dir>/logs),
# FUZZ_TIMEOUT (seconds one input may take, default 10), FUZZ_RSS_MB (default 2048). Extra
# libFuzzer flags: FUZZ_ARGS. The committed seeds in fuzz/corpus/<target> are read, never
# written.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds="${1:-15}"
shift $(( $# > 0 ? 1 : 0 ))
all=(twilio_webhook meta_webhook smpp_pdu keywords templates sms_encoder)
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${all[@]}"); fi
case "$seconds" in
  ''|*[!0-9]*) echo "fuzz.sh: seconds must be a whole number, got '$seconds'" >&2; exit 2 ;;
esac
for t in "${targets[@]}"; do
  [ -f "$root/fuzz/fuzz_targets/$t.rs" ] || { echo "fuzz.sh: no target '$t' (targets: ${all[*]})" >&2; exit 2; }
done

# Beside the workspace's build (CI keeps CARGO_TARGET_DIR across runs), never inside it: the
# instrumented build has flags of its own.
dir="${FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:-$root/target}/fuzz}"
host=$(rustc -vV | sed -n 's/^host: //p')
[ -n "$host" ] || { echo "fuzz.sh: cannot read the host triple from rustc -vV" >&2; exit 2; }

# The flags `cargo fuzz build --sanitizer none` passes (cargo-fuzz 0.13), minus
# -Clink-dead-code, which only serves its coverage reports and slows the link.
# --target keeps them off build scripts and proc macros.
rustflags="-Cpasses=sancov-module \
-Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
-Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares \
-Cllvm-args=-simplifycfg-branch-fold-threshold=0 \
-Cllvm-args=-sanitizer-coverage-stack-depth \
--cfg fuzzing"

echo "fuzz: building ${#targets[@]} target(s) in $dir"
build_start=$(date +%s)
bins=()
for t in "${targets[@]}"; do bins+=(--bin "$t"); done
if ! env -u CARGO_ENCODED_RUSTFLAGS -u CARGO_BUILD_RUSTFLAGS RUSTFLAGS="$rustflags" \
    cargo build --manifest-path "$root/fuzz/Cargo.toml" --locked --profile fuzz \
    --target "$host" --target-dir "$dir" "${bins[@]}"; then
  echo "fuzz.sh: the fuzz targets did not build" >&2
  exit 2
fi
echo "fuzz: built in $(( $(date +%s) - build_start )) s; ${seconds} s per target"
# 0 seconds builds only (libFuzzer would read -max_total_time=0 as "no limit").
[ "$seconds" = 0 ] && exit 0

failed=0
summary=()
for t in "${targets[@]}"; do
  bin="$dir/$host/fuzz/$t"
  corpus="$dir/corpus/$t"
  artifacts="$dir/artifacts/$t"
  log="$dir/logs/$t.log"
  mkdir -p "$corpus" "$artifacts" "$dir/logs"
  # Earlier crashes' inputs stay; this run's are those newer than its start mark.
  touch "$dir/logs/$t.start"
  # New inputs go to the first corpus directory (the working one); the seeds are only read.
  # shellcheck disable=SC2086
  "$bin" -max_total_time="$seconds" -timeout="${FUZZ_TIMEOUT:-10}" \
    -rss_limit_mb="${FUZZ_RSS_MB:-2048}" -print_final_stats=1 \
    -artifact_prefix="$artifacts/" ${FUZZ_ARGS:-} \
    "$corpus" "$root/fuzz/corpus/$t" >"$log" 2>&1
  code=$?
  # The last status line: "#1234 DONE cov: 567 ft: 890 corp: 45/6789b lim: ... exec/s: ..."
  status=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
  field() { sed -n "s/.* $1 \\([^ ]*\\).*/\\1/p" <<<"$status"; }
  stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -n 1; }
  runs=$(stat number_of_executed_units)
  runs=${runs:-$(sed -n 's/^#\([0-9]*\).*/\1/p' <<<"$status")}
  row=$(printf '%-15s %6s s  runs %10s  exec/s %7s  cov %6s  ft %7s  corpus %s  new %s' \
    "$t" "$seconds" "${runs:-?}" "$(stat average_exec_per_sec)" "$(field cov:)" "$(field ft:)" \
    "$(field corp:)" "$(stat new_units_added)")
  if [ "$code" = 0 ]; then
    summary+=("fuzz: $row  ok")
  else
    failed=$((failed + 1))
    crash=$(find "$artifacts" -type f -newer "$dir/logs/$t.start" | head -n 1)
    summary+=("fuzz: $row  FAILED (exit $code) input: ${crash:-none written}")
    echo "fuzz: $t failed (exit $code); the end of its log ($log):" >&2
    tail -n 60 "$log" >&2
    if [ -n "$crash" ]; then
      echo "fuzz: $t: crashing input: $crash" >&2
      echo "fuzz: $t: reproduce with: $bin $crash" >&2
    fi
  fi
done
printf '%s\n' "${summary[@]}"
echo "fuzz: ${#targets[@]} target(s), $failed failed"
[ "$failed" = 0 ]
