#!/usr/bin/env bash
# Runs the JavaScript test suites (test/node, test/browser) against a freshly
# built c1m binary. Works on a fresh Debian machine with Go, Node >= 20 and npm:
# installs chromium with apt-get when /usr/bin/chromium is missing (needs root
# or sudo), runs `npm ci` in both suites and builds ./cmd/c1m.
#
# Environment:
#   C1M_BIN   use this server binary instead of building one
#   CHROMIUM  browser executable (default /usr/bin/chromium)
#   SKIP_BROWSER=1  run only the Node suite
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/c1m-js-tests.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

log() { printf '==> %s\n' "$*" >&2; }

command -v node >/dev/null || { echo "node (>= 20) is required" >&2; exit 1; }
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' ||
  { echo "node >= 20 is required (have $(node --version))" >&2; exit 1; }

if [[ "${SKIP_BROWSER:-0}" != 1 ]]; then
  export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
  if [[ ! -x "$CHROMIUM" ]]; then
    log "installing chromium with apt-get"
    sudo=""
    [[ "$(id -u)" == 0 ]] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
  fi
fi

for suite in node browser; do
  [[ "$suite" == browser && "${SKIP_BROWSER:-0}" == 1 ]] && continue
  log "npm ci in test/$suite"
  (cd "$root/test/$suite" && npm ci --no-audit --no-fund --loglevel=error)
done

if [[ -z "${C1M_BIN:-}" ]]; then
  log "building the server"
  (cd "$root" && go build -o "$tmp/c1m" ./cmd/c1m)
  export C1M_BIN="$tmp/c1m"
fi
export C1M_BIN

status=0
log "node suite (C1M_BIN=$C1M_BIN)"
(cd "$root/test/node" && npm test --silent) || status=1
if [[ "${SKIP_BROWSER:-0}" != 1 ]]; then
  log "browser suite"
  (cd "$root/test/browser" && npm test --silent) || status=1
fi
exit $status
