#!/usr/bin/env bash
# Starts govcol with config/local.yaml. On first run `govctl dev init` mints a signing key and a development
# license under ${GOVCOL_DIR:-.govcol}; every run prints the exports that point Claude Code at this collector.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOVCOL_DIR="${GOVCOL_DIR:-.govcol}"
exports=$(./bin/govctl dev init --dir "$GOVCOL_DIR" --endpoint http://127.0.0.1:4318 --protocol http/json)
cat <<MSG

govcol is starting: OTLP gRPC 127.0.0.1:4317, OTLP HTTP 127.0.0.1:4318, metrics 127.0.0.1:8889.
Point Claude Code at it by running these lines in its shell (or: eval "\$(./bin/govctl dev init)"):

$exports

MSG
exec ./bin/govcol --config config/local.yaml
