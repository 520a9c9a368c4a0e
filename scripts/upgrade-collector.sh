#!/usr/bin/env bash
# upgrade-collector.sh VERSION [CONTRIB_VERSION] — move govcol to another OpenTelemetry Collector release.
#
#   make upgrade VERSION=v0.161.0                  # core v0.161.0, its stable modules, contrib v0.161.0
#   make upgrade VERSION=v0.165.0 CONTRIB=v0.165.1 # when contrib shipped a patch release
#
# VERSION is the core "beta" release (go.opentelemetry.io/collector/* v0.x). The matching stable release (v1.x) is
# read from that release's otelcol go.mod, so the two can never drift apart. CONTRIB defaults to VERSION.
#
# It rewrites every collector module in builder-config.yaml, go.mod and internal/tools/go.mod (builder, mdatagen)
# to that one release, tidies both modules, rebuilds the tools, regenerates cmd/govcol and the mdatagen code, and
# finally fails if any collector module in the build graph is left at another release. It does not commit and
# does not fix API breaks: after it, run `go build ./... && go vet ./...`, fix what broke, then `make test`.
# Every module must be served by the Go module proxy: check an uncertain one first with
#   go mod download -json <module>@<version>
set -euo pipefail

VERSION=${1:?usage: $0 VERSION [CONTRIB_VERSION]   e.g. $0 v0.161.0}
CONTRIB=${2:-$VERSION}
GO=${GO:-go}
cd "$(dirname "$0")/.."

core=go.opentelemetry.io/collector
contrib=github.com/open-telemetry/opentelemetry-collector-contrib
semver='v[0-9]+\.[0-9]+\.[0-9]+'

# The stable release that goes with VERSION: the component module otelcol@VERSION requires.
gomod=$($GO mod download -json "$core/otelcol@$VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
[ -n "$gomod" ] || { echo "otelcol@$VERSION is not served" >&2; exit 1; }
STABLE=$(awk -v m="$core/component" '$1 == m { print $2; exit }' "$gomod")
[ -n "$STABLE" ] || { echo "cannot find $core/component in $gomod" >&2; exit 1; }
echo "core $VERSION, stable $STABLE, contrib $CONTRIB"

# requires DIR [direct] -> "module version" for each requirement in DIR/go.mod (no network). Replaced modules are
# listed too: a version-specific replace (see the README) keeps its left-hand side at the one release.
requires() {
  (cd "$1" && $GO mod edit -print) | awk -v direct="${2:-}" '
    /^require \($/ { inblock = 1; next }
    inblock && /^\)/ { inblock = 0; next }
    /^require [^(]/ { sub(/^require /, ""); if (!(direct && /\/\/ indirect/)) print $1, $2; next }
    inblock && NF >= 2 { if (!(direct && /\/\/ indirect/)) print $1, $2 }'
}

# pick MODULE CURRENT_VERSION -> the target version for it (collector modules only).
pick() {
  case "$1" in
    $contrib/*) echo "$CONTRIB" ;;
    $core/*) case "$2" in v1.*) echo "$STABLE" ;; *) echo "$VERSION" ;; esac ;;
  esac
}

# 1. builder-config.yaml: every "gomod: <collector module> vX.Y.Z" line, and the release named in its comments.
tmp=$(mktemp)
while IFS= read -r line; do
  if [[ $line =~ gomod:\ (($core|$contrib)/[^ ]+)\ ($semver) ]]; then
    line=${line/ ${BASH_REMATCH[3]}/ $(pick "${BASH_REMATCH[1]}" "${BASH_REMATCH[3]}")}
  fi
  printf '%s\n' "$line"
done <builder-config.yaml >"$tmp"
cat "$tmp" >builder-config.yaml && rm -f "$tmp"

# 2. go.mod: every directly required collector module, then tidy.
upgrade_module() { # DIR
  local args=() mod ver
  while read -r mod ver; do
    t=$(pick "$mod" "$ver")
    [ -n "$t" ] && args+=("$mod@$t")
  done < <(requires "$1" direct)
  [ ${#args[@]} -gt 0 ] || return 0
  (cd "$1" && $GO get "${args[@]}" && $GO mod tidy)
}
upgrade_module .
upgrade_module internal/tools

# 3. Rebuild the builder and mdatagen, regenerate cmd/govcol and every component's generated code.
rm -f bin/builder bin/mdatagen
make generate

# 4. Every collector module that either go.mod requires must now be at the one release.
bad=0
for dir in . internal/tools; do
  while read -r mod ver; do
    t=$(pick "$mod" "$ver")
    if [ -n "$t" ] && [ "$ver" != "$t" ]; then
      echo "$dir: $mod is at $ver, not $t" >&2
      bad=1
    fi
  done < <(requires "$dir")
done
[ $bad = 0 ] || { echo "some collector modules are not at the one release (see above)" >&2; exit 1; }
echo "done: now go build ./... && go vet ./..., fix API breaks, update the versions named in README.md and" \
  "docs/ARCHITECTURE.md §2, then make test"
