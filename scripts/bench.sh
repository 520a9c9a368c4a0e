#!/usr/bin/env bash
# `make bench`: runs govcol's benchmarks and the end-to-end load run once, on this machine, and writes
# docs/BENCHMARKS.md with the figures of this run only: every number in it comes from this run's output, each goal
# is printed next to its figure with met or MISSED computed here, and comparisons are made within the run with their
# sides alternated (machines here are noisy). About 15 minutes on 2 cores. The long historical comparisons (against
# older commits, the full fault runs, scale-out) are `make bench-history` (scripts/bench-history.sh).
#
# A section that fails is marked so in the document (its output is kept above the figures, on stderr); the script
# then exits non-zero after writing the document.
set -uo pipefail
cd "$(dirname "$0")/.."
out=docs/BENCHMARKS.md
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
started=$(date +%s)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
failed=()
run() { # name, command...: output to $tmp/name.txt (and stderr), wall seconds to $tmp/name.secs
  local name=$1 t0 rc
  shift
  echo "== $name: $*" >&2
  t0=$(date +%s)
  "$@" >"$tmp/$name.txt" 2>&1
  rc=$?
  cat "$tmp/$name.txt" >&2
  echo $(($(date +%s) - t0)) >"$tmp/$name.secs"
  if [ $rc -ne 0 ]; then
    failed+=("$name")
    echo "FAILED (exit $rc)" >"$tmp/$name.failed"
  fi
}
bench() { go test -count=1 -run '^$' -timeout 30m "$@"; }

# End to end first, on a quiet machine: the quick start under govctl load, raw COPY, CPU, latency, RSS, profile.
run e2e        bench -bench EndToEnd -benchtime 1x -v ./test/e2e/
run s3fault    env GOVCOL_BENCH_FULL=1 go test -count=1 -timeout 30m -run 'TestFaultS3DownWholeRun$' -v ./test/e2e/
run processor  bench -bench 'LogsFixtureMix|LogsAllocsPerRecord' -benchtime 3s ./processor/governanceprocessor/
run upstream   bench -bench VsUpstream -benchtime 3s -count 3 -cpu 1 ./processor/governanceprocessor/
run postgres   bench -bench ExporterVsRawCopy -benchtime 1x ./exporter/postgresauditexporter/
run s3down     bench -bench PostgresWhileS3Down -benchtime 1x -v ./exporter/s3decisionexporter/
run gzip       bench -bench BatchedCompressionLevels -benchtime 1x ./exporter/s3decisionexporter/
run integrity  bench -bench . -benchtime 2s ./internal/integrity/
run verifypg   bench -bench VerifyPostgres -benchtime 1x ./cmd/govctl/
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# --- figures, from the outputs above only ------------------------------------------------------------------------

# lines name regex: the output lines of a section matching regex, test-file prefixes removed, folded.
lines() { grep -E "$2" "$tmp/$1.txt" | sed -E 's/^[[:space:]]+//; s/^[a-z_]+_test\.go:[0-9]+: //' | fold -s -w 118 || true; }
bench_lines() { lines "$1" '^Benchmark'; }
# metric name bench-regex unit: the median over the Benchmark lines of the section matching bench-regex of the value
# reported with unit (go test's "<value> <unit>" pairs); empty when not reported.
metric() {
  grep -E "^Benchmark($2)" "$tmp/$1.txt" 2>/dev/null |
    awk -v u="$3" '{for (i = 2; i <= NF; i++) if ($i == u) print $(i-1)}' | sort -g |
    awk '{v[NR] = $1} END {if (NR) printf "%.6g", (NR % 2 ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2)}'
}
# logged name regex: the number after regex in the section's log (first match); empty when absent.
logged() { grep -oE "$2 *[0-9.]+" "$tmp/$1.txt" 2>/dev/null | head -1 | grep -oE '[0-9.]+$' || true; }
# goal text value op target: "- text: value (goal op target: met|MISSED)"; "not reported" when value is empty.
goal() {
  local text=$1 v=$2 op=$3 target=$4
  if [ -z "$v" ]; then
    echo "- $text: not reported by this run (goal $op $target: MISSED)"
    return
  fi
  local ok
  ok=$(awk -v v="$v" -v t="$target" -v op="$op" 'BEGIN {print ((op == ">=" && v >= t) || (op == "<=" && v <= t)) ? "met" : "MISSED"}')
  echo "- $text: $v (goal $op $target: $ok)"
}
section_status() { # name: a line saying the section failed, if it did
  if [ -f "$tmp/$1.failed" ]; then echo; echo "**This section failed in this run** ($(cat "$tmp/$1.failed")); its figures may be missing."; fi
}
secs() { cat "$tmp/$1.secs" 2>/dev/null || echo "?"; }

# e2e_lines: BenchmarkEndToEnd's figures (its "E2E ..." log lines but the profile's), without the "E2E " prefix.
e2e_lines() { grep -E '^[[:space:]]*endtoend_bench_test\.go:[0-9]+: E2E ' "$tmp/e2e.txt" | sed -E 's/^[[:space:]]+//; s/^[a-z_]+_test\.go:[0-9]+: E2E //' | grep -Ev '^(profile|stages|allocs)' || true; }
e2e_goals() { e2e_lines | grep -E '\(goal' | sed -E 's/^/- End to end: /' || true; }

# all_goals: every goal's line, met or MISSED, from this run's figures.
all_goals() {
  e2e_goals
  goal "Governance processor: bytes allocated per record (\`BenchmarkLogsAllocsPerRecord\`)" \
    "$(metric processor LogsAllocsPerRecord B/record)" "<=" 2048
  goal "Governance processor: allocations per record" "$(metric processor LogsAllocsPerRecord allocs/record)" "<=" 20
  goal "Governance processor with the hash chain against the upstream pipeline, one core (median of 3)" \
    "$(metric upstream VsUpstream ratio_with_chain)" ">=" 2
  goal "Governance processor without the chain against the upstream pipeline, one core (median of 3)" \
    "$(metric upstream VsUpstream ratio)" ">=" 2
  goal "Postgres exporter against raw COPY into the same schema (\`BenchmarkExporterVsRawCopy\`)" \
    "$(metric postgres ExporterVsRawCopy ratio)" ">=" 0.5
  goal "Postgres path with S3 down against Postgres alone (\`BenchmarkPostgresWhileS3Down\`, medians)" \
    "$(metric s3down PostgresWhileS3Down ratio)" ">=" 0.9
  goal "Postgres rate with S3 down / up end to end (\`TestFaultS3DownWholeRun\`, medians)" \
    "$(logged s3fault 'Postgres rate with S3 down / up =')" ">=" 0.9
  goal "Chaining one record, ns (\`BenchmarkChainLink\`)" "$(metric integrity ChainLink ns/op)" "<=" 2000
  goal "Verification in memory, records/s (\`BenchmarkVerifyChain\`)" "$(metric integrity VerifyChain records/s)" ">=" 100000
  goal "Verification from Postgres, records/s (\`BenchmarkVerifyPostgres\`)" "$(metric verifypg VerifyPostgres records/s)" ">=" 100000
}

# bounds goals: for each goal MISSED in goals (all_goals' lines), what bounds it and what was tried.
bounds() {
  local g=$1 any=
  missed() { grep -F -- "$1" <<<"$g" | grep -q 'MISSED'; }
  if missed 'collector CPU per stored row'; then
    any=1
    echo "- **Collector CPU per stored row.** The tables *Where the collector's CPU goes* and *What the collector"
    echo "  allocates* below split it by step; their last two rows separate govcol's own steps from the rest: the OTLP"
    echo "  receiver's decoding, the quick start's count and span-metrics connectors and Prometheus exporter, the"
    echo "  fan-out's copy of every batch for the Postgres exporter's batching queue (a batching exporterhelper queue"
    echo "  mutates its data, so the pipeline hands it a copy), the queues, the driver and the runtime, and the garbage"
    echo "  collector, whose work follows the bytes allocated. Tried and kept: one compact stamped attribute per record"
    echo "  instead of one per field, the named fields only as their attributes; exact attribute slots in the processor;"
    echo "  the exporters decode the stamped form directly (no JSON round trips), policy details interned per outcome;"
    echo "  rows prepared once and sent as one binary COPY stream; decision files batched (a file per decision cost more"
    echo "  than the rest of a record's path) at gzip's fastest level; the default decision selection in Go, not OTTL;"
    echo "  a literal pre-filter before the tool-input policies' patterns; the PII engine's deadlines on the monotonic"
    echo "  clock. Tried and dropped: a higher GOMEMLIMIT than the quick start's 128MiB (the GC's share about the same,"
    echo "  the peak RSS over its goal), GOGC=300 (the same share: the heap is held near GOMEMLIMIT), smaller Postgres"
    echo "  batches (2,048 records: no less GC, more Postgres CPU per row). Next, not done: the Postgres exporter turning records into rows on arrival (its own"
    echo "  exporterhelper request type and queue encoding), which removes the fan-out's copy and its garbage; decision"
    echo "  counts cheaper than the count connector's per-record attribute maps; the receiver's decoding is upstream's."
  fi
  if missed 'stored / raw COPY' || missed 'Postgres CPU per stored row'; then
    any=1
    echo "- **Stored rows against raw COPY, Postgres CPU against raw COPY's.** The pipeline's Postgres does more than"
    echo "  the COPY: each row is routed to its month's partition of \`audit_logs\` (raw COPY fills one plain table made"
    echo "  LIKE it), each batch is a transaction with a savepoint and its own COPY, and the chain registry and the"
    echo "  checkpoint rows are written beside the records; and in the pipeline run the collector and the load"
    echo "  generator take most of the two cores Postgres shares with them, while raw COPY has the machine to itself."
    echo "  Tried: the window no longer ends with counting \`audit_logs\` (those scans were charged to the pipeline);"
    echo "  autovacuum off and no forced checkpoint during the windows, and a warm-up run first (the rounds of a side"
    echo "  used to differ by more than the goal's margin); two Postgres exporter consumers instead of exporterhelper's"
    echo "  ten (fewer concurrent COPYs): within the noise."
  fi
  if missed 'bytes allocated per record' || missed 'allocations per record'; then
    any=1
    echo "- **Processor allocations.** What is left per record is the record's own attribute slots (pdata grows a"
    echo "  map by copying its slots), the stamped \`audit.record\` bytes and the ids; TESTING.md ("Where the allocation"
    echo "  went") follows each step with the pprof view that showed it."
  fi
  if missed 'with the hash chain against the upstream' || missed 'Chaining one record'; then
    any=1
    echo "- **The hash chain.** Chaining a record hashes its canonical form (SHA-256 over the ~2 KB encoding of its"
    echo "  columns and canonical metadata); the form is fixed by the stored trails (they must keep verifying), so"
    echo "  SHA-256 alone is a floor under the per-record cost. internal/integrity/README.md (\"Speed\") splits the"
    echo "  rest and lists what was tried (one encoding per record, remembered key sequences, word-at-a-time string"
    echo "  scans, a ring of pending links) and dropped."
  fi
  if missed 'Verification from Postgres'; then
    any=1
    echo "- **Verification from Postgres.** Bound by the server producing the rows: \`jsonb\` has no binary wire"
    echo "  form, so every JSON value is rendered as text for every row; reading a stored text copy instead would let a"
    echo "  writer change the \`jsonb\` unnoticed. internal/integrity/README.md (\"Speed\") has the split and what was fixed."
  fi
  if missed 'p99 acknowledgement latency'; then
    any=1
    echo "- **Latency at half the sustained rate.** An acknowledgement waits for the receiver, the processor and the"
    echo "  exporters' enqueue only; a missed p99 comes with a loaded machine (compare the load averages at the top):"
    echo "  the open loop keeps offering its rate while the collector's goroutines wait for a core."
  fi
  if missed 'peak RSS'; then
    any=1
    echo "- **Peak RSS.** The quick start's Go memory is held near GOMEMLIMIT (128 MiB); the binary's mapped code and"
    echo "  tables come on top, and so does the exporters' queue backlog when Postgres falls behind the load."
  fi
  if [ -z "$any" ]; then echo "Every goal was met in this run."; fi
}

{
  echo "# govcol benchmarks"
  echo
  echo "Written by \`make bench\` (scripts/bench.sh, $(date -u +%Y-%m-%dT%H:%MZ)) on $(nproc) cores,"
  echo "$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(go version | cut -d' ' -f3), $(postgres --version 2>/dev/null || ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sed -E 's#.*/([0-9]+)/bin#PostgreSQL \1#' | tail -1)."
  echo "Every figure below comes from this one run; each goal is checked against it by the script. Load average at"
  echo "the start $load_start, at the end $load_end (other work on the machine slows every figure; the ratios are"
  echo "measured within one section, with their sides alternated, so they suffer less)."
  echo
  echo "## Goals"
  echo
  goals=$(all_goals)
  echo "$goals"
  echo
  echo "## What bounds the goals this run missed, and what was tried"
  echo
  bounds "$goals"
  echo
  echo "## End to end: the quick start under \`govctl load\` against raw COPY (\`test/e2e\`, \`BenchmarkEndToEnd\`)"
  section_status e2e
  echo
  echo "The built \`bin/govcol\` runs the shipped quick start, \`config/local.yaml\` (every exporter on: Postgres"
  echo "\`audit_logs\`, decision files, Prometheus, the count and span-metrics connectors), plus the \`pprof\` extension on"
  echo "loopback, against its own throwaway Postgres cluster on the same machine (fsync on). \`govctl load --developers 20"
  echo "--concurrency 4 --duration 30s\` (a closed loop of 4 workers, 110 events a request) drives it. Per round:"
  echo
  echo "- *pipeline*: events acknowledged per second (\`govctl load\`); rows stored over the seconds from the load's"
  echo "  start until the Postgres exporter has committed the last acknowledged event (its own counter, so that no"
  echo "  count of \`audit_logs\` runs inside the window; after it, every acknowledged event is checked stored once);"
  echo "  the CPU of the collector (\`/proc/<pid>/stat\`) and of every Postgres process (the postmaster, its running"
  echo "  children and those that ended) over the same window, per stored row;"
  echo "- *raw COPY of the same rows*: the round's rows copied out (\`COPY ... TO STDOUT (FORMAT binary)\`) and, timed,"
  echo "  into a fresh table created \`LIKE audit_logs INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES\` on"
  echo "  the same server: rows/s and the Postgres CPU per row (a checkpoint before each side)."
  echo
  echo "A 5 s warm-up run comes first, not measured; the server runs without autovacuum and with a \`max_wal_size\`"
  echo "no round reaches (a background vacuum, or a forced checkpoint, would land in whichever side's window runs"
  echo "then; each side starts after a CHECKPOINT). The sides alternate over the rounds and each figure is the best of its side. Then: the collector's peak RSS"
  echo "(VmHWM) after the sustained rounds; its CPU profile, 15 s under the same closed loop (\`go tool pprof -top\`:"
  echo "flat, then cumulative over govcol's own functions, where a function's flat time includes the library code it"
  echo "calls); and the open loop (\`govctl load --rate\`) at 50 % of the sustained rate (the lower of acknowledged and"
  echo "stored per second) for the p99 acknowledgement latency. $(secs e2e) s."
  echo
  echo '```'
  e2e_lines | fold -s -w 118
  echo '```'
  echo
  echo "### Where the collector's CPU goes"
  echo
  grep -E 'E2E stages\| ' "$tmp/e2e.txt" | sed -E 's/^.*E2E stages\| //' | head -1 || true
  echo
  grep -E 'E2E stages\| ' "$tmp/e2e.txt" | sed -E 's/^.*E2E stages\| //' | tail -n +2 || true
  echo
  echo "### What the collector allocates (the garbage collector's work)"
  echo
  grep -E 'E2E allocs\| ' "$tmp/e2e.txt" | sed -E 's/^.*E2E allocs\| //' | head -1 || true
  echo
  grep -E 'E2E allocs\| ' "$tmp/e2e.txt" | sed -E 's/^.*E2E allocs\| //' | tail -n +2 | grep -v '^| garbage collection' || true
  echo
  echo "### CPU profile of the collector under the closed loop"
  echo
  echo '```'
  grep -E 'E2E profile ' "$tmp/e2e.txt" | sed -E 's/^.*E2E profile //' || true
  echo '```'
  echo
  echo "## Postgres path while S3 is down, end to end (\`test/e2e\`, \`TestFaultS3DownWholeRun\`, full form)"
  section_status s3fault
  echo
  echo "The fault-run collector (governance, Postgres exporter, decisions to a versitygw S3) under \`govctl load\` (5"
  echo "developers, 4 workers), a warm-up run, then four runs of 15 s alternating S3 up, down, down, up (S3 stopped for whole runs; before"
  echo "the second up run, decisions are shipping again); the ratio is of the medians of each side's acknowledged rate."
  echo "Every acknowledged event is stored once and the trail verifies. $(secs s3fault) s."
  echo
  echo '```'; lines s3fault 'FAULT '; echo '```'
  echo
  echo "## Governance processor (\`processor/governanceprocessor\`; ns/op is per batch of 110 records)"
  section_status processor
  echo
  echo "\`BenchmarkLogsFixtureMix\`: the captured Claude Code fixture mix through the processor on every core;"
  echo "\`BenchmarkLogsAllocsPerRecord\`: heap bytes and allocations per record. $(secs processor) s."
  echo; echo '```'; bench_lines processor; echo '```'
  echo
  echo "## Governance processor against an upstream pipeline (contrib transform → redaction), one core"
  section_status upstream
  echo
  echo "Same 110-record fixture batches, both pipelines interleaved in one benchmark on one core (\`-cpu 1\`), three"
  echo "times: \`ratio\` is governance (masking, stamping, verdicts; no chain) over upstream; \`ratio_with_chain\` adds"
  echo "govcol's hash chain, which upstream has no equivalent of (the headline). The upstream side copies prompt and"
  echo "response after redaction, as a user would configure it; see processor/governanceprocessor/README.md. $(secs upstream) s."
  echo; echo '```'; bench_lines upstream; echo '```'
  echo
  echo "## Postgres exporter against raw COPY (\`exporter/postgresauditexporter\`)"
  section_status postgres
  echo
  echo "204,875 records through the exporter and by raw COPY of the same rows (prebuilt, the same binary COPY stream,"
  echo "one COPY per batch) into the same schema, two rounds with the sides in turn first (raw, exporter, exporter,"
  echo "raw). $(secs postgres) s."
  echo; echo '```'; bench_lines postgres; echo '```'
  echo
  echo "## Postgres exporter alone and fanned out with the S3 exporter while S3 is down (\`exporter/s3decisionexporter\`)"
  section_status s3down
  echo
  echo "22,000 records consumed and committed per run, a fresh database each; the two sides alternate over three"
  echo "runs each (alone, down; down, alone; alone, down) and the ratio is of the medians. $(secs s3down) s."
  echo; echo '```'; lines s3down '^Benchmark|round [0-9]+:|medians'; echo '```'
  echo
  echo "## Decision files: gzip level (\`exporter/s3decisionexporter\`, \`BenchmarkBatchedCompressionLevels\`)"
  section_status gzip
  echo
  echo "The governed fixture renumbered into 2,200 distinct decisions, compressed into a batched partition at gzip's"
  echo "default level 6 and at \`batch.compression_level\`'s default, alternating over five rounds: time and compressed"
  echo "bytes per decision (the fixture repeats its content, so real objects compress less at either level). $(secs gzip) s."
  echo; echo '```'; bench_lines gzip; echo '```'
  echo
  echo "## Integrity: chaining cost and verification (\`internal/integrity\`, \`cmd/govctl\`)"
  section_status integrity
  section_status verifypg
  echo
  echo "\`BenchmarkChainLink\`: the processor's cost of chaining one record (ns/op per record). \`BenchmarkVerifyChain\`:"
  echo "11,000 records verified in memory. \`BenchmarkVerifyPostgres\`: \`govctl verify\`'s reader and verifier over a"
  echo "trail in Postgres. $(($(secs integrity) + $(secs verifypg))) s."
  echo; echo '```'; bench_lines integrity; bench_lines verifypg; echo '```'
  echo
  echo "## Reading these figures"
  echo
  echo "- The collector, Postgres and the load generator share the machine's cores in the end-to-end run: the sustained"
  echo "  rate is a figure of the machine as much as of govcol; the CPU per row and the ratios against raw COPY are what"
  echo "  carries over."
  echo "- S3 decisions are at-most-once by design (fail-open, counted); Postgres is the record of truth."
  echo "- Comparisons against older commits, the full fault runs and the scale-out figures are \`make bench-history\`"
  echo "  (docs/BENCHMARKS-history.md, docs/SCALING.md)."
  echo
  echo "\`make bench\` took $(($(date +%s) - started)) s."
} >"$out"
echo "wrote $out ($(($(date +%s) - started)) s)" >&2
if [ ${#failed[@]} -gt 0 ]; then
  echo "failed sections: ${failed[*]}" >&2
  exit 1
fi
