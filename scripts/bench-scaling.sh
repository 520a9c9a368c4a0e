#!/usr/bin/env bash
# The scale-out figures of docs/SCALING.md, measured on this machine: the sustained throughput of one gateway
# directly, through nginx in front of it and through nginx in front of three (BenchmarkScaleOutGateways, sides
# alternated), and the full form of the SIGKILL run (TestScaleOutGatewaysBehindNginxSIGKILL, GOVCOL_BENCH_FULL=1).
# It rewrites the block between the scaling-figures markers of docs/SCALING.md and nothing else. `make bench-history` runs it (scripts/bench-history.sh); alone:
# scripts/bench-scaling.sh (about 5 minutes). Needs nginx (apt-get install nginx), as the tests do.
set -euo pipefail
cd "$(dirname "$0")/.."
doc=docs/SCALING.md
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== scaling: throughput, 1 gateway direct, 1 and 3 behind nginx" >&2
go test -count=1 -timeout 30m -run '^$' -bench ScaleOutGateways -benchtime 1x ./test/e2e/ 2>&1 | tee "$tmp/throughput.txt" >&2
echo "== scaling: SIGKILL of one of three gateways (full form)" >&2
GOVCOL_BENCH_FULL=1 go test -count=1 -timeout 30m -run TestScaleOutGatewaysBehindNginxSIGKILL -v ./test/e2e/ 2>&1 | tee "$tmp/kill.txt" >&2

load_after=$(cut -d' ' -f1-3 /proc/loadavg)
lines() { grep -E "$2" "$tmp/$1.txt" | sed -E 's/^[[:space:]]+//; s/^[a-z_]+_test\.go:[0-9]+: //' | fold -s -w 118 || true; }
{
  echo "<!-- scaling-figures:begin: written by scripts/bench-scaling.sh, do not edit by hand -->"
  echo "Measured by \`scripts/bench-scaling.sh\` ($(date -u +%Y-%m-%dT%H:%MZ)) on this machine: $(nproc) cores and"
  echo "$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) shared by everything in the run — Postgres, nginx, every gateway and the load"
  echo "generator, and whatever else the machine was doing: load average (1, 5, 15 min) $load_before at the start,"
  echo "$load_after at the end. $(go version | cut -d' ' -f3), $(/usr/sbin/nginx -v 2>&1 | sed 's/^nginx version: //')."
  echo
  echo '```'
  lines throughput '^Benchmark|SCALEOUT'
  lines kill 'SCALEOUT'
  echo '```'
  echo "<!-- scaling-figures:end -->"
} > "$tmp/block"
grep -q 'SCALEOUT throughput' "$tmp/block" || { echo "bench-scaling: no throughput figures (see above)" >&2; exit 1; }
grep -q 'SCALEOUT 3 gateways' "$tmp/block" || { echo "bench-scaling: no SIGKILL figures (see above)" >&2; exit 1; }
awk -v block="$tmp/block" '
  /<!-- scaling-figures:begin/ { while ((getline l < block) > 0) print l; skip = 1; next }
  /<!-- scaling-figures:end/ { skip = 0; next }
  !skip' "$doc" > "$tmp/doc"
grep -q 'SCALEOUT throughput' "$tmp/doc" || { echo "bench-scaling: $doc has no scaling-figures markers" >&2; exit 1; }
cp "$tmp/doc" "$doc"
echo "wrote the figures into $doc" >&2
