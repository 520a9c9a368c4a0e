#!/usr/bin/env bash
# Starts govcol with config/local.yaml. On first run `govctl dev init` mints a signing key and a development
# license under ${GOVCOL_DIR:-.govcol}; every run prints the exports that point Claude Code at this collector.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOVCOL_DIR="${GOVCOL_DIR:-.govcol}"
exports=$(./bin/govctl dev init --dir "$GOVCOL_DIR" --endpoint http://127.0.0.1:4318 --protocol http/json)
# Audit records go to Postgres: the server in GOVCOL_PG_DSN when set, else a throwaway local cluster under
# $GOVCOL_DIR/pg (created on first run, started when stopped; `./bin/govctl dev postgres --stop` stops it).
if [ -z "${GOVCOL_PG_DSN:-}" ]; then
  eval "$(./bin/govctl dev postgres --dir "$GOVCOL_DIR/pg")"
fi
export GOVCOL_PG_DSN
# The Log Explorer reads with the reader role when the local cluster made one (GOVCOL_PG_READER_DSN).
export GOVCOL_PG_READER_DSN="${GOVCOL_PG_READER_DSN:-}"
echo "Decision objects: $GOVCOL_DIR/decisions/axonflow/decisions/YYYY/MM/DD/HH/<instance>-<seq>.jsonl.gz (zcat them)"
echo "Verify the trail: ./bin/govctl verify --key $GOVCOL_DIR/audit-signing.pub.pem"
echo "Log Explorer: http://127.0.0.1:8080/audit/ (paste the admin license from $GOVCOL_DIR/dev-admin.license; dev.license only sends telemetry)"
printf 'Audit records: Postgres (the local cluster'\''s DSN is the writer role'\''s: INSERT and SELECT only; for your own server see govctl db init; read them with psql "$GOVCOL_PG_DSN" -c "select * from audit_logs"):\nexport GOVCOL_PG_DSN=%q\n' "$GOVCOL_PG_DSN"
cat <<MSG

govcol is starting: OTLP gRPC 127.0.0.1:4317, OTLP HTTP 127.0.0.1:4318, metrics 127.0.0.1:8889.
Point Claude Code at it by running these lines in its shell (or: eval "\$(./bin/govctl dev init)"):

$exports

MSG
# The Go runtime's soft memory limit (unless you set one): the garbage collector keeps the heap near it instead of
# letting it grow to twice what is live, which keeps the collector's peak RSS under about 256 MiB at the sustained
# rate of `govctl load` (the binary's own mapped code and tables are about 100 MiB of that). Raise it on a busy
# host; GOMEMLIMIT=off restores Go's default (no limit). See config/local.yaml, memory_limiter.
export GOMEMLIMIT="${GOMEMLIMIT:-128MiB}"
exec ./bin/govcol --config config/local.yaml
