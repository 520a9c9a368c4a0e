#!/usr/bin/env bash
# `make bench-history`: the long comparisons that are not among the goals `make bench` checks, each measured once on
# this machine: this tree's `govctl verify` against an older commit's, the decision store against an older
# commit's collector, the load suite and the fault runs in their full form (a 60 s Postgres outage), and the
# scale-out figures (scripts/bench-scaling.sh, which rewrites its block of docs/SCALING.md). Writes
# docs/BENCHMARKS-history.md from this run's output only. About an hour on 2 cores.
set -uo pipefail
cd "$(dirname "$0")/.."
out=docs/BENCHMARKS-history.md
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
started=$(date +%s)
failed=()
run() { # name, command...: output to $tmp/name.txt (and stderr)
  local name=$1 rc
  shift
  echo "== $name: $*" >&2
  "$@" >"$tmp/$name.txt" 2>&1
  rc=$?
  cat "$tmp/$name.txt" >&2
  if [ $rc -ne 0 ]; then
    failed+=("$name")
    echo "FAILED (exit $rc)" >"$tmp/$name.failed"
  fi
}
section_status() {
  if [ -f "$tmp/$1.failed" ]; then echo; echo "**This section failed in this run** ($(cat "$tmp/$1.failed"))."; fi
}
export GOVCOL_CLAUDE_BIN="${GOVCOL_CLAUDE_BIN:-$PWD/node_modules/.bin/claude}"

# Verification from Postgres: this tree's `govctl verify` against the verifier of GOVCOL_VERIFY_BASELINE (default
# c9df5ac, before chains were streamed through cursors), alternately, over one 220,000-record trail.
verify_base="${GOVCOL_VERIFY_BASELINE:-c9df5ac}"
mkdir -p "$tmp/verify-base" && git archive "$verify_base" | tar -x -C "$tmp/verify-base"
(cd "$tmp/verify-base" && go build -o "$tmp/govctl-base" ./cmd/govctl) && go build -o "$tmp/govctl-new" ./cmd/govctl
run verifycmds env GOVCTL_BASELINE="$tmp/govctl-base" GOVCTL_NEW="$tmp/govctl-new" \
  go test -count=1 -run '^$' -bench VerifyCommands -benchtime 1x -timeout 30m -v ./cmd/govctl/
verify_load=$(cut -d' ' -f1-3 /proc/loadavg)
# Decision store (s3decision): the local_dir put's CPU before and after, and the collector end to end against the
# collector of GOVCOL_DECISIONS_BASELINE (default c9df5ac: every record shipped, a temporary file per decision).
decisions_base="${GOVCOL_DECISIONS_BASELINE:-c9df5ac}"
mkdir -p "$tmp/decisions-base" && git archive "$decisions_base" | tar -x -C "$tmp/decisions-base"
(cd "$tmp/decisions-base" && go build -o "$tmp/govcol-decisions-base" ./cmd/govcol)
run localdir   go test -count=1 -run '^$' -bench LocalDirPut -benchtime 1x -timeout 30m ./exporter/s3decisionexporter/
run decisions  env GOVCOL_BASELINE_BIN="$tmp/govcol-decisions-base" \
  go test -count=1 -run '^$' -bench DecisionStore -benchtime 1x -timeout 40m -v ./test/e2e/
decisions_load=$(cut -d' ' -f1-3 /proc/loadavg)
export GOVCOL_BENCH_FULL=1 # the full form of the load and fault runs (a 60 s Postgres outage, longer runs)
run load       env GOVCOL_LOAD_EVENTS="${GOVCOL_LOAD_EVENTS:-55000}" go test -count=1 -timeout 30m -run TestLoadSmoke -v ./test/e2e/
run faults     go test -count=1 -timeout 30m -run 'TestFault' -v ./test/e2e/
# Scale-out: one vs three gateways behind nginx, and the full SIGKILL run; writes its figures into docs/SCALING.md.
run scaling    ./scripts/bench-scaling.sh

lines() { grep -E "$2" "$tmp/$1.txt" | sed -E 's/^[[:space:]]+//; s/^[a-z_]+_test\.go:[0-9]+: //' | fold -s -w 118 || true; }
{
  echo "# govcol benchmarks: history, full fault runs"
  echo
  echo "Written by \`make bench-history\` (scripts/bench-history.sh, $(date -u +%Y-%m-%dT%H:%MZ)) on $(nproc) cores,"
  echo "$(go version | cut -d' ' -f3). Every figure below comes from this one run. The goals and the end-to-end method"
  echo "are in [BENCHMARKS.md](BENCHMARKS.md) (\`make bench\`); the scale-out figures in [SCALING.md](SCALING.md)."
  echo
  echo "## Load suite, full form (\`test/e2e/TestLoadSmoke\`)"
  section_status load
  echo
  echo "config/local.yaml, 5 simulated developers: 4 concurrent requests of 110 events as fast as acknowledged over"
  echo "OTLP/HTTP and gRPC, then open loop at 50 % and 90 % of the HTTP rate; every acknowledged event is checked stored"
  echo "exactly once and the trail verified."
  echo; echo '```'; lines load 'load_test.go'; echo '```'
  echo
  echo "## Faults, full form (\`test/e2e/TestFault*\`)"
  section_status faults
  echo
  echo "Each: events sent, acknowledged (by the collector, to \`govctl load\`), stored in Postgres (exactly once, and every"
  echo "acknowledged session checked present), and \`govctl verify\` over the stored trail."
  echo; echo '```'; lines faults 'fault_test.go'; echo '```'
  echo
  echo "## Decision store: live, reconciler, local_dir against ${decisions_base}"
  section_status localdir
  section_status decisions
  echo
  echo "\`BenchmarkLocalDirPut\`: CPU time (getrusage) of one local_dir put into a day directory that already holds"
  echo "200,000 files, before (${decisions_base}: a temporary file created in the day directory per decision) and now"
  echo "(written in \`.tmp\`, renamed in), alternating blocks of 2,000 puts. \`BenchmarkDecisionStore\`: the built collector"
  echo "under \`govctl load\` (5 developers, 4 concurrent requests), its CPU from /proc/<pid>/stat; local_dir runs alternate"
  echo "none / before (the ${decisions_base} collector) / after (default selection) / after_all (selection \"true\"), two rounds,"
  echo "into day directories prefilled with 200,000 files; then against versitygw: decisions shipped live per second and"
  echo "the collector CPU per shipped decision (minus the run without the exporter), and the store down for a whole run:"
  echo "seconds from its return until the bucket listing equals the selected decisions in Postgres, and the reconciler's"
  echo "decisions/s over that time. Load average at the end of these runs: ${decisions_load}."
  echo; echo '```'
  cat "$tmp/localdir.txt" "$tmp/decisions.txt" 2>/dev/null | grep -E '^Benchmark(LocalDirPut|DecisionStore)|local_dir put|DECISIONS' |
    sed -E 's/^[[:space:]]+//; s/^[a-z_]+_test\.go:[0-9]+: //' | fold -s -w 118 || true
  echo '```'
  echo
  echo "## Verification from Postgres: \`govctl verify\` against ${verify_base}'s"
  section_status verifycmds
  echo
  echo "One trail of 220,000 records in 4 chains (4 collector runs through the real governance processor and Postgres"
  echo "exporter), verified by both builds alternately, three rounds; each figure is 220,000 over the command's wall time"
  echo "(process start and connection included); \`ratio\` is best against best. Load average when it ended: $verify_load."
  echo; echo '```'; lines verifycmds '^Benchmark|verify_bench_test.go'; echo '```'
  echo
  echo "## Scale-out"
  section_status scaling
  echo
  echo "scripts/bench-scaling.sh rewrote the figures block of [SCALING.md](SCALING.md) in this run."
  echo
  echo "\`make bench-history\` took $(($(date +%s) - started)) s."
} >"$out"
echo "wrote $out" >&2
if [ ${#failed[@]} -gt 0 ]; then
  echo "failed sections: ${failed[*]}" >&2
  exit 1
fi
