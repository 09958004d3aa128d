#!/usr/bin/env bash
# nats-server.sh — prints the path of a nats-server binary with JetStream,
# building it once from the Go module proxy (go install
# github.com/nats-io/nats-server/v2@v2.15.2) into
# ${XDG_CACHE_HOME:-~/.cache}/c1m/nats-server-v2.15.2/ and reusing it after.
# NATS_SERVER=/path/to/nats-server overrides the build.
#
#   bin=$(scripts/nats-server.sh)   # then: "$bin" -js -sd DIR -p 4222
set -euo pipefail
version=v2.15.2
if [ -n "${NATS_SERVER:-}" ]; then
  echo "$NATS_SERVER"
  exit 0
fi
dir=${XDG_CACHE_HOME:-$HOME/.cache}/c1m/nats-server-$version
if [ ! -x "$dir/nats-server" ]; then
  command -v go >/dev/null || PATH=$PATH:/usr/local/go/bin
  echo "nats-server.sh: building nats-server $version into $dir (once)" >&2
  GOBIN=$dir go install "github.com/nats-io/nats-server/v2@$version" >&2
fi
echo "$dir/nats-server"
