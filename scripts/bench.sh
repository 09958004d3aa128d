#!/usr/bin/env bash
# bench.sh — c1m's benchmark suite: runs every scenario of the load generator
# (bench/cmd/c1mbench) against c1m, the peer servers (bench/peers) and
# Centrifugo, side by side, and writes bench/results/<date>/: results.jsonl,
# report.md (every metric, ratio of c1m to each other server, SSE against
# WebSocket) and PNG plots.
#
#   scripts/bench.sh --quick   CI smoke test: small N, ~1 s per measurement,
#                              c1m and the peers (no Centrifugo, no Node), c1m's
#                              SSE when it has /sse and Socket.IO (socketio,
#                              idle_sio over both transports), STOMP and
#                              SockJS (sockjs over xhr_streaming, idle_sockjs)
#                              when c1m serves them; fails unless
#                              every scenario produced every number for every
#                              server that ran it (about 45 s of runs on 2 cores);
#                              cluster: 300 subscribers, 1 s steps (~20-30 s more);
#                              deflate: 100 subscribers, 1 s per mode (~10 s more)
#   scripts/bench.sh --full    real numbers, Centrifugo included: idle at
#                              1k/10k/19k, broadcast at 1k and 19k subscribers
#                              (max, half of max, fixed rates), SSE streams
#                              (sse, idle_sse), slow consumers, Socket.IO
#                              (socketio, idle_sio) against Node's socket.io
#                              (socketio also at 10 msg/s, a rate Node's
#                              server reaches at 1k subscribers: latency at
#                              equal load), STOMP over WebSocket (stomp,
#                              idle_stomp) against RabbitMQ's Web-STOMP,
#                              SockJS carrying the native protocol against
#                              native WebSocket (sockjs over xhr_streaming,
#                              idle_sockjs over xhr_streaming, eventsource
#                              and xhr polling), cluster (19,000 subscribers
#                              over 3 nodes joined by NATS against 1 node),
#                              deflate (1,000 subscribers, off/default/zero)
#                              (about 20 minutes; 2026-11-30 took 28 on a
#                              loaded machine; building Centrifugo once adds ~5)
#   scripts/bench.sh --replot DIR   redraw DIR's plots (replaces *.dat, *.png,
#                              plots.gp) from DIR/results.jsonl, offline, in
#                              seconds; report.md is left as it is
#   options: --servers c1m,gorilla,gws,nbio,centrifugo,node-socketio,rabbitmq
#              (default: all in --full, all but centrifugo, node-socketio and
#              rabbitmq in --quick)
#            --scenarios connect,idle,broadcast,slow,sse,idle_sse,socketio,idle_sio,stomp,idle_stomp,sockjs,idle_sockjs,cluster,deflate,idle_tls,tls_handshake,broadcast_tls
#            --out DIR   --port-base 19100
#   env: CENTRIFUGO=/path/to/centrifugo (default: built once with go install
#        into ${XDG_CACHE_HOME:-~/.cache}/c1m-bench/centrifugo-v6.9.1/)
#   node-socketio (Node's own socket.io server, bench/peers/node-socketio) needs
#   node and npm: `npm ci` installs its pinned packages there when it runs.
#   rabbitmq (RabbitMQ's Web-STOMP plugin, the peer of the stomp scenario) needs
#   the Debian package rabbitmq-server: installed with apt-get when root.
#   cluster (c1m only, when its build has --nats) runs the same load against
#   one standalone c1m node and against 3 nodes (--nats) on one nats-server
#   with JetStream (scripts/nats-server.sh builds it once, ~1-2 minutes, and
#   caches it; NATS_SERVER=/path overrides): fan-out to N WebSocket
#   subscribers on a few topics at fixed rates and max (deliveries per
#   CPU-second of every node plus nats-server, latency), then acked publishes
#   per second on 1 and 1,000 topics with a per-topic seq check. Its ports are
#   --port-base+10 .. +14 (nodes, then NATS client and monitoring ports).
#   deflate (c1m only, when its build has --deflate) publishes a JSON quote
#   feed (quotes ~125 bytes, 5-level book updates ~575 bytes, POST /publish at
#   a fixed rate over 4 topics) to WebSocket subscribers that offer
#   permessage-deflate, on three fresh c1m processes: --deflate=false (mode
#   off), the default threshold (mode default) and --deflate-threshold 0 (mode
#   zero); deliveries per server CPU-second, wire bytes per delivery, latency
#   and the server's deflate counters, ratios against off. Port --port-base+20.
#   --quick: 100 subscribers, 200 msg/s, 1 s (~10 s); --full: 1,000, 50 msg/s,
#   10 s (~1.5 minutes).
#   idle_tls, tls_handshake, broadcast_tls (c1m only, when its build has
#   --tls-addr) measure TLS: c1m with a plain listener (port --port-base+30)
#   and a TLS one (+31) on a certificate from `c1m gen-cert` (ECDSA P-256, or
#   --rsa: RSA 2048), GOMAXPROCS=1 and pinned like every server, every run
#   with --demo=false --ping-interval 10m (the wss clients hold their
#   connections without reading: no pings while they are held, for ws too).
#   idle_tls: the idle scenario over ws:// and then over wss:// on fresh
#   servers (heap, RSS, goroutines per connection); tls_handshake: full
#   handshakes per second (no resumption) with each certificate, TLS 1.3
#   (X25519) and 1.2 (ECDHE), and TLS 1.3 with X25519MLKEM768, medians of 3
#   runs and server CPU per handshake, and TLS 1.3 against Go's net/http over
#   crypto/tls (`c1mbench tls-ref-server`, server go-crypto-tls, pinned and
#   GOMAXPROCS=1 the same), the reference; broadcast_tls: ws:// and wss://
#   subscribers of one server, measured alternately (deliveries per server
#   CPU-second). TLS_IDLE_REPS repeats idle_tls's ws/wss pair (default 1).
#   --quick: 100/300 idle, 1 s handshake runs, 100 subscribers (~30 s);
#   --full: 1k/10k/19k idle (-workers 2), 3 runs of 10 s per handshake
#   configuration, 1,000 subscribers, 256- and 2048-byte data at 50 msg/s,
#   10 s x 5 runs per transport (~12 minutes with TLS_IDLE_REPS=3).
#
# Every server gets a fresh process per scenario (memory baselines are then
# comparable) and is pinned to CPU 0; the load generator to CPU 1 (taskset).
# The peers have no SSE and Centrifugo runs no slow scenario; node-socketio
# runs only the Socket.IO scenarios, rabbitmq only stomp: each server runs the
# scenarios it supports, and the check expects exactly those.
set -euo pipefail

mode=quick
servers=
scenarios=connect,idle,broadcast,slow,sse,idle_sse,socketio,idle_sio,stomp,idle_stomp,sockjs,idle_sockjs,cluster,deflate,idle_tls,tls_handshake,broadcast_tls
out=
port_base=19100
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) mode=quick ;;
    --full) mode=full ;;
    --replot) mode=replot; out=$2; shift ;;
    --servers) servers=$2; shift ;;
    --scenarios) scenarios=$2; shift ;;
    --out) out=$2; shift ;;
    --port-base) port_base=$2; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

if [ -z "$servers" ]; then
  if [ "$mode" = full ]; then servers=c1m,gorilla,gws,nbio,centrifugo,node-socketio,rabbitmq; else servers=c1m,gorilla,gws,nbio; fi
fi

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# Centrifugo, the server c1m's users compare it with, from the Go module proxy:
# built once (about 5 minutes of CPU here) and cached outside the work tree.
cf_version=v6.9.1
cf_bin=${CENTRIFUGO:-${XDG_CACHE_HOME:-$HOME/.cache}/c1m-bench/centrifugo-$cf_version/centrifugo}
ensure_centrifugo() { # logfile
  if [ -x "$cf_bin" ]; then return 0; fi
  if [ -n "${CENTRIFUGO:-}" ]; then
    echo "bench.sh: CENTRIFUGO=$CENTRIFUGO is not an executable" >&2
    return 1
  fi
  echo "== building Centrifugo $cf_version into $(dirname "$cf_bin") (once; ~5 minutes of CPU)"
  local gobin
  gobin=$(mktemp -d /tmp/c1m-bench-centrifugo.XXXXXX)
  if ! GOBIN=$gobin GOFLAGS=-mod=mod go install "github.com/centrifugal/centrifugo/v6@$cf_version" >"$1" 2>&1; then
    echo "bench.sh: building Centrifugo failed (see $1)" >&2
    rm -rf "$gobin"
    return 1
  fi
  mkdir -p "$(dirname "$cf_bin")"
  mv "$gobin/centrifugo" "$cf_bin"
  rm -rf "$gobin"
}

# Node's socket.io server: its packages pinned by package-lock.json, installed
# with npm ci into bench/peers/node-socketio/node_modules (seconds; again only
# when the lock file changed).
nsio_dir=bench/peers/node-socketio
ensure_node_socketio() { # logfile
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "bench.sh: node-socketio needs node and npm" >&2
    return 1
  fi
  if [ -f "$nsio_dir/node_modules/.package-lock.json" ] && [ -d "$nsio_dir/node_modules/socket.io" ] &&
    [ ! "$nsio_dir/package-lock.json" -nt "$nsio_dir/node_modules/.package-lock.json" ]; then
    return 0
  fi
  echo "== npm ci in $nsio_dir"
  if ! (cd "$nsio_dir" && npm ci --no-audit --no-fund) >"$1" 2>&1; then
    echo "bench.sh: npm ci in $nsio_dir failed (see $1)" >&2
    return 1
  fi
}

# RabbitMQ (Debian's rabbitmq-server, with its rabbitmq_web_stomp plugin): a
# private node per scenario (its own name, data and log directories under
# $bin, the plugin enabled there, AMQP and plain STOMP listeners off), started
# from the package's scripts and stopped with rabbitmqctl.
rmq_server=/usr/lib/rabbitmq/bin/rabbitmq-server
rmq_ctl=/usr/lib/rabbitmq/bin/rabbitmqctl
ensure_rabbitmq() { # logfile
  if [ ! -x "$rmq_server" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing rabbitmq-server (apt-get)"
    (DEBIAN_FRONTEND=noninteractive apt-get install -y rabbitmq-server >"$1" 2>&1 ||
      { apt-get update >>"$1" 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y rabbitmq-server >>"$1" 2>&1; }) || true
  fi
  if [ ! -x "$rmq_server" ] || [ ! -x "$rmq_ctl" ]; then
    echo "bench.sh: rabbitmq needs the rabbitmq-server package (see $1)" >&2
    return 1
  fi
  if ! compgen -G "/usr/lib/rabbitmq/lib/rabbitmq_server-*/plugins/rabbitmq_web_stomp-*" >/dev/null; then
    echo "bench.sh: rabbitmq-server has no rabbitmq_web_stomp plugin" >&2
    return 1
  fi
}
rmq_node= # the node bench.sh started, if running
rmq_env() { # port: the environment of the node on port (for the server and rabbitmqctl)
  local d=$bin/rabbitmq-$1
  # The node's own log (warnings and errors) goes with the run's logs.
  echo "RABBITMQ_NODENAME=c1mbench$1@localhost RABBITMQ_DIST_PORT=$(($1 + 10000)) RABBITMQ_MNESIA_BASE=$d/mnesia RABBITMQ_LOG_BASE=$logdir/rabbitmq-node RABBITMQ_CONFIG_FILE=$d/rabbitmq.conf RABBITMQ_ENABLED_PLUGINS_FILE=$d/enabled_plugins"
}
rmq_stop() {
  [ -n "$rmq_node" ] || return 0
  # shellcheck disable=SC2046
  env $(rmq_env "$rmq_node") "$rmq_ctl" -n "c1mbench$rmq_node@localhost" stop >/dev/null 2>&1 || true
  # epmd, which the node started as a daemon, goes when no other node uses it.
  if command -v epmd >/dev/null && ! epmd -names 2>/dev/null | grep -q '^name '; then epmd -kill >/dev/null 2>&1 || true; fi
  rmq_node=
}

# gnuplot renders the plots; quick runs do without (CI stays fast), full runs
# and --replot install it when they can.
plot() { # dir logfile
  if ! command -v gnuplot >/dev/null && [ "$mode" != quick ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing gnuplot-nox"
    (apt-get install -y gnuplot-nox >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y gnuplot-nox >/dev/null 2>&1; }) || true
  fi
  if command -v gnuplot >/dev/null; then
    (cd "$1" && gnuplot plots.gp 2>"$2") || { echo "bench.sh: gnuplot failed (see $2)" >&2; return 1; }
  else
    echo "bench.sh: no gnuplot, plots skipped (data: $1/*.dat, script: $1/plots.gp)" >&2
  fi
}

if [ "$mode" = replot ]; then
  [ -f "$out/results.jsonl" ] || { echo "bench.sh: --replot: no $out/results.jsonl" >&2; exit 2; }
  out=$(cd "$out" && pwd)
  tmp=$(mktemp -d /tmp/c1m-bench-bin.XXXXXX)
  trap 'rm -rf "$tmp"' EXIT
  go build -o "$tmp/c1mbench" ./bench/cmd/c1mbench
  rm -f -- "$out"/*.dat "$out"/*.png # all generated: drop plots an older generator made
  "$tmp/c1mbench" plot -in "$out/results.jsonl" -out "$out" -baseline c1m
  mkdir -p "$out/logs"
  plot "$out" "$out/logs/gnuplot.log"
  echo "== plots: $(cd "$out" && ls -- *.png 2>/dev/null | tr '\n' ' ')in $out"
  exit 0
fi
if [ -z "$out" ]; then
  if [ "$mode" = full ]; then out=bench/results/$(date -u +%Y-%m-%d); else out=$(mktemp -d /tmp/c1m-bench-quick.XXXXXX); fi
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
bin=$(mktemp -d /tmp/c1m-bench-bin.XXXXXX)
results=$out/results.jsonl
: >"$results"
logdir=$out/logs
mkdir -p "$logdir"
rm -f -- "$logdir"/*.log # logs are appended per scenario: start with none of an earlier run into the same --out
rm -rf -- "$logdir/rabbitmq-node"
started=$(date +%s)

server_pid=
gen_pid=
cluster_pids=() # the cluster scenario's processes (nats-server first), while running
cluster_data=   # its JetStream store
cluster_stop() {
  local i
  # Nodes first (they leave NATS cleanly), nats-server last.
  for ((i = ${#cluster_pids[@]} - 1; i >= 0; i--)); do
    kill "${cluster_pids[$i]}" 2>/dev/null || true
    wait "${cluster_pids[$i]}" 2>/dev/null || true
  done
  cluster_pids=()
  if [ -n "$cluster_data" ]; then rm -rf "$cluster_data"; fi
  cluster_data=
}
cleanup() {
  if [ -n "$gen_pid" ] && kill -0 "$gen_pid" 2>/dev/null; then
    kill "$gen_pid" 2>/dev/null || true # it closes its workers on SIGTERM
    wait "$gen_pid" 2>/dev/null || true
  fi
  cluster_stop
  rmq_stop
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$bin"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

failures=0
notes=()
# What the binaries are built from (the work tree may change during a run).
built_from=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if ! git diff --quiet HEAD -- . ':!bench/results' 2>/dev/null || [ -n "$(git ls-files --others --exclude-standard -- . ':!bench/results' 2>/dev/null | head -1)" ]; then
  built_from="$built_from plus uncommitted changes in the work tree"
fi
echo "== build ($mode) -> $out"
go build -o "$bin/c1mbench" ./bench/cmd/c1mbench
(cd bench/peers && go build -o "$bin/peers" .)
if [[ ",$servers," == *",c1m,"* ]]; then
  go build -o "$bin/c1m" ./cmd/c1m
fi
if [[ ",$servers," == *",centrifugo,"* ]] && ! ensure_centrifugo "$logdir/centrifugo-build.log"; then
  servers=$(echo ",$servers," | sed 's/,centrifugo,/,/; s/^,//; s/,$//')
  notes+=("Centrifugo could not be built (logs/centrifugo-build.log): not measured")
  failures=$((failures + 1))
fi
if [[ ",$servers," == *",node-socketio,"* ]] && ! ensure_node_socketio "$logdir/node-socketio-npm.log"; then
  servers=$(echo ",$servers," | sed 's/,node-socketio,/,/; s/^,//; s/,$//')
  notes+=("Node's socket.io server could not be installed (logs/node-socketio-npm.log): not measured")
  failures=$((failures + 1))
fi
if [[ ",$servers," == *",rabbitmq,"* ]] && ! ensure_rabbitmq "$logdir/rabbitmq-install.log"; then
  servers=$(echo ",$servers," | sed 's/,rabbitmq,/,/; s/^,//; s/,$//')
  notes+=("RabbitMQ (rabbitmq-server with rabbitmq_web_stomp) could not be installed (logs/rabbitmq-install.log): not measured")
  failures=$((failures + 1))
fi
cf_key=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n') # Centrifugo's HTTP API key for this run

# CPU pinning: the server on CPU 0, the load generator on the others.
ncpu=$(nproc)
if command -v taskset >/dev/null && [ "$ncpu" -ge 2 ]; then
  pin_server=(taskset -c 0)
  pin_gen=(taskset -c "1-$((ncpu - 1))")
else
  pin_server=()
  pin_gen=()
fi

server_cmd() { # name port
  case "$1" in
    c1m) echo "$bin/c1m --addr 127.0.0.1:$2 --demo=false" ;;
    gorilla|gws|nbio) echo "$bin/peers --server $1 --addr 127.0.0.1:$2" ;;
    node-socketio) echo "node --expose-gc $root/$nsio_dir/server.js --addr 127.0.0.1:$2" ;;
    rabbitmq)
      local d=$bin/rabbitmq-$2
      rm -rf "$d" && mkdir -p "$d"
      printf '%s\n' 'listeners.tcp = none' 'stomp.listeners.tcp = none' "web_stomp.tcp.port = $2" 'web_stomp.tcp.ip = 127.0.0.1' \
        'log.console = false' 'log.file.level = warning' >"$d/rabbitmq.conf"
      echo '[rabbitmq_web_stomp].' >"$d/enabled_plugins"
      echo "env $(rmq_env "$2") $rmq_server" ;;
    centrifugo)
      "$bin/c1mbench" centrifugo-config -addr "127.0.0.1:$2" -api-key "$cf_key" >"$bin/centrifugo-$2.json"
      echo "$cf_bin --config $bin/centrifugo-$2.json" ;;
    *) echo "bench.sh: unknown server $1" >&2; return 1 ;;
  esac
}

# The scenarios a server supports: the peers speak no SSE; the slow scenario
# needs the bench protocol's /stats connection count.
supports() { # server scenario
  case "$1:$2" in
    gorilla:sse|gorilla:idle_sse|gws:sse|gws:idle_sse|nbio:sse|nbio:idle_sse) return 1 ;;
    centrifugo:slow) return 1 ;;
    c1m:*|node-socketio:socketio|node-socketio:idle_sio|rabbitmq:stomp) return 0 ;;
    *:socketio|*:idle_sio|node-socketio:*|*:stomp|*:idle_stomp|rabbitmq:*|*:sockjs|*:idle_sockjs) return 1 ;;
  esac
  return 0
}

# Extra load generator arguments per server.
gen_args() { # server
  case "$1" in
    centrifugo) echo "-proto centrifugo -api-key $cf_key" ;;
    rabbitmq) echo "-proto stomp" ;; # publishes with STOMP SEND, samples beam.smp from /proc
  esac
}

start_server() { # name port scenario
  local cmd ready=/stats wait_s=15
  cmd=$(server_cmd "$1" "$2")
  [ "$1" = centrifugo ] && ready=/health
  [ "$1" = rabbitmq ] && wait_s=90 # an Erlang node with its plugins: ~7 s here
  # Peers listen with SO_REUSEPORT: a server left on this port (another
  # bench run) would silently share the load. Refuse to measure then.
  if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$2/" 2>/dev/null; then
    echo "bench.sh: port $2 is already in use (another bench run? use --port-base)" >&2
    return 1
  fi
  # shellcheck disable=SC2086
  "${pin_server[@]}" $cmd >>"$logdir/$1-$3.log" 2>&1 &
  server_pid=$!
  [ "$1" = rabbitmq ] && rmq_node=$2
  local deadline=$((SECONDS + wait_s))
  # Web-STOMP answers plain HTTP with 426 Upgrade Required: any answer will do.
  until if [ "$1" = rabbitmq ]; then curl -s -o /dev/null "http://127.0.0.1:$2/ws"; else curl -fsS "http://127.0.0.1:$2$ready" >/dev/null 2>&1; fi; do
    if ! kill -0 "$server_pid" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
      echo "bench.sh: $1 did not start (see $logdir/$1-$3.log)" >&2
      return 1
    fi
    sleep 0.1
  done
}

stop_server() {
  rmq_stop
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=
}

# has_sse tells whether the server on port answers GET /sse?topics=bench.0
# with an event stream (c1m's SSE endpoint is newer than this suite).
has_sse() { # port
  local hdr
  hdr=$(curl -s -N --max-time 1 -D - -o /dev/null "http://127.0.0.1:$1/sse?topics=bench.0" 2>/dev/null || true)
  [[ "$hdr" == "HTTP/1.1 200"* ]] && grep -qi '^content-type: *text/event-stream' <<<"$hdr"
}

# has_stomp tells whether the server on port upgrades GET /stomp to STOMP
# over WebSocket (c1m's STOMP endpoint is newer than this suite).
has_stomp() { # port
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 0.5 -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
    -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' -H 'Sec-WebSocket-Protocol: v12.stomp' \
    "http://127.0.0.1:$1/stomp" 2>/dev/null || true)
  [ "$code" = 101 ]
}

# has_sockjs tells whether the server on port serves SockJS at /sockjs
# (c1m's SockJS endpoint is newer than this suite): GET /sockjs/info answers
# its JSON.
has_sockjs() { # port
  local body
  body=$(curl -fs --max-time 1 "http://127.0.0.1:$1/sockjs/info" 2>/dev/null || true)
  [[ "$body" == *'"websocket"'* ]]
}

plan=()
run() { # server port scenario args...
  local s=$1 port=$2 sc=$3
  shift 3
  [[ ",$scenarios," == *",$sc,"* ]] || return 0
  supports "$s" "$sc" || return 0
  start_server "$s" "$port" "$sc"
  if [ "$s" = c1m ] && [[ "$sc" == sse || "$sc" == idle_sse ]] && ! has_sse "$port"; then
    echo "-- $s $sc: skipped, c1m does not serve GET /sse yet"
    [[ " ${notes[*]} " == *"c1m has no /sse"* ]] || notes+=("c1m has no /sse endpoint in this build: its sse and idle_sse scenarios were not run")
    stop_server
    return 0
  fi
  if [ "$s" = c1m ] && [[ "$sc" == stomp || "$sc" == idle_stomp ]] && ! has_stomp "$port"; then
    echo "-- $s $sc: skipped, c1m does not serve STOMP at /stomp yet"
    [[ " ${notes[*]} " == *"c1m has no /stomp"* ]] || notes+=("c1m has no /stomp endpoint in this build: its stomp and idle_stomp scenarios were not run")
    stop_server
    return 0
  fi
  if [ "$s" = c1m ] && [[ "$sc" == sockjs || "$sc" == idle_sockjs ]] && ! has_sockjs "$port"; then
    echo "-- $s $sc: skipped, c1m does not serve SockJS at /sockjs yet"
    [[ " ${notes[*]} " == *"c1m has no /sockjs"* ]] || notes+=("c1m has no /sockjs endpoint in this build: its sockjs and idle_sockjs scenarios were not run")
    stop_server
    return 0
  fi
  if [ "$s" = c1m ] && [[ "$sc" == sse || "$sc" == idle_sse || "$sc" == stomp || "$sc" == idle_stomp || "$sc" == sockjs || "$sc" == idle_sockjs ]]; then
    stop_server # a fresh process for the measurement, as for every scenario
    start_server "$s" "$port" "$sc"
  fi
  plan+=("$s:$sc")
  echo "-- $s $sc $*"
  # In the background and waited for, so that a signal reaches the traps at once.
  # shellcheck disable=SC2046
  "${pin_gen[@]}" "$bin/c1mbench" -server "$s" -url "http://127.0.0.1:$port" -scenario "$sc" -o "$results" $(gen_args "$s") "$@" 2>>"$logdir/c1mbench-$s-$sc.log" &
  gen_pid=$!
  local rc=0
  wait "$gen_pid" || rc=$?
  gen_pid=
  if [ "$rc" != 0 ]; then
    echo "bench.sh: $s $sc failed (see $logdir/c1mbench-$s-$sc.log)" >&2
    tail -3 "$logdir/c1mbench-$s-$sc.log" >&2 || true
    failures=$((failures + 1))
  fi
  stop_server
}

# gen runs the load generator against what is already started and counts a
# failure (label: for messages and the log's name).
gen() { # label args...
  local label=$1 rc=0
  shift
  # In the background and waited for, so that a signal reaches the traps at once.
  "${pin_gen[@]}" "$bin/c1mbench" -o "$results" "$@" 2>>"$logdir/c1mbench-$label.log" &
  gen_pid=$!
  wait "$gen_pid" || rc=$?
  gen_pid=
  if [ "$rc" != 0 ]; then
    echo "bench.sh: $label failed (see $logdir/c1mbench-$label.log)" >&2
    tail -3 "$logdir/c1mbench-$label.log" >&2 || true
    failures=$((failures + 1))
  fi
  return 0
}

# wait_ready: until url answers 2xx, for up to 30 s, while pid lives.
wait_ready() { # what pid url log
  local deadline=$((SECONDS + 30))
  until curl -fsS -o /dev/null --max-time 1 "$3" 2>/dev/null; do
    if ! kill -0 "$2" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
      echo "bench.sh: $1 did not get ready (GET $3; see $4)" >&2
      tail -5 "$4" >&2 || true
      return 1
    fi
    sleep 0.1
  done
}

# run_cluster: the cluster scenario (c1m only). The same load generator
# arguments against one standalone node (mode=single), then against `nodes`
# nodes on one nats-server with JetStream (mode=cluster), each setup fresh;
# every process pinned with the servers (CPU 0), the generator to the rest.
# Ports: port .. port+nodes-1 for the nodes, then NATS, then its monitor.
cluster_ran=0
run_cluster() { # port nodes args...
  [[ ",$scenarios," == *",cluster,"* ]] || return 0
  [[ ",$servers," == *",c1m,"* ]] || return 0
  local port=$1 nodes=$2 i p nats_bin nats_pid urls
  shift 2
  local help
  help=$("$bin/c1m" --help 2>&1 || true) # not piped into grep -q: with pipefail its early exit would fail the pipe
  if [[ "$help" != *"-nats "* ]]; then
    echo "-- c1m cluster: skipped, this c1m has no --nats"
    notes+=("c1m has no --nats flag in this build: the cluster scenario was not run")
    return 0
  fi
  local nats_port=$((port + nodes)) mon_port=$((port + nodes + 1))
  for ((p = port; p <= mon_port; p++)); do
    if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$p/" 2>/dev/null; then
      echo "bench.sh: port $p is already in use (another bench run? use --port-base)" >&2
      failures=$((failures + 1))
      return 0
    fi
  done
  if ! nats_bin=$(scripts/nats-server.sh 2>>"$logdir/nats-server-build.log"); then
    echo "bench.sh: nats-server could not be built (see $logdir/nats-server-build.log)" >&2
    notes+=("nats-server could not be built (logs/nats-server-build.log): the cluster scenario was not run")
    failures=$((failures + 1))
    return 0
  fi
  cluster_nats_version=$("$nats_bin" --version 2>/dev/null | head -1)
  plan+=("c1m:cluster" "c1m:cluster_pub")
  cluster_ran=1

  # One standalone node.
  "${pin_server[@]}" "$bin/c1m" --addr "127.0.0.1:$port" --demo=false >>"$logdir/c1m-cluster-single.log" 2>&1 &
  cluster_pids+=($!)
  if wait_ready "c1m (single)" "$!" "http://127.0.0.1:$port/stats" "$logdir/c1m-cluster-single.log"; then
    echo "-- c1m cluster (single node) $*"
    gen c1m-cluster-single -server c1m -scenario cluster -url "http://127.0.0.1:$port" "$@"
  else
    failures=$((failures + 1))
  fi
  cluster_stop

  # nats-server with JetStream and the nodes joined to it.
  cluster_data=$(mktemp -d /tmp/c1m-bench-js.XXXXXX)
  "${pin_server[@]}" "$nats_bin" -js -sd "$cluster_data" -a 127.0.0.1 -p "$nats_port" -m "$mon_port" -n c1m-bench \
    >>"$logdir/nats-server-cluster.log" 2>&1 &
  nats_pid=$!
  cluster_pids+=("$nats_pid")
  if ! wait_ready nats-server "$nats_pid" "http://127.0.0.1:$mon_port/healthz?js-enabled-only=true" "$logdir/nats-server-cluster.log"; then
    failures=$((failures + 1))
    cluster_stop
    return 0
  fi
  urls=
  for ((i = 1; i <= nodes; i++)); do
    p=$((port + i - 1))
    "${pin_server[@]}" "$bin/c1m" --addr "127.0.0.1:$p" --nats "nats://127.0.0.1:$nats_port" --node-name "node-$i" --demo=false \
      >>"$logdir/c1m-cluster-node-$i.log" 2>&1 &
    cluster_pids+=($!)
    urls=${urls:+$urls,}http://127.0.0.1:$p
  done
  for ((i = 1; i <= nodes; i++)); do
    if ! wait_ready "c1m node-$i" "${cluster_pids[$i]}" "http://127.0.0.1:$((port + i - 1))/readyz" "$logdir/c1m-cluster-node-$i.log"; then
      failures=$((failures + 1))
      cluster_stop
      return 0
    fi
  done
  echo "-- c1m cluster ($nodes nodes, nats-server pid $nats_pid) $*"
  gen c1m-cluster-nodes -server c1m -scenario cluster -url "$urls" -nats-pid "$nats_pid" "$@"
  cluster_stop
}

i=0
IFS=, read -ra list <<<"$servers"
for s in "${list[@]}"; do
  port=$((port_base + i))
  i=$((i + 1))
  if [ "$mode" = quick ]; then
    run "$s" "$port" connect -conns 200
    run "$s" "$port" idle -conns 100,300
    run "$s" "$port" broadcast -conns 100 -payloads 64 -rates max,half -duration 1s
    run "$s" "$port" slow -conns 200 -slow-rate 200 -duration 1s
    run "$s" "$port" sse -conns 100 -payloads 64 -rates max,half -duration 1s
    run "$s" "$port" idle_sse -conns 100,300
    run "$s" "$port" socketio -conns 100 -payloads 64 -rates max,half -duration 1s
    run "$s" "$port" idle_sio -conns 100,300 -sio-transport websocket
    run "$s" "$port" idle_sio -conns 100,300 -sio-transport polling
    run "$s" "$port" stomp -conns 100 -payloads 64 -rates max,half -duration 1s
    run "$s" "$port" idle_stomp -conns 100,300
    run "$s" "$port" sockjs -conns 100 -payloads 64 -rates max,half -duration 1s -sockjs-transport xhr_streaming
    run "$s" "$port" idle_sockjs -conns 100,300 -sockjs-transport xhr_streaming
  else
    run "$s" "$port" connect -conns 1000,10000,19000 -workers 2
    run "$s" "$port" idle -conns 1000,10000,19000 -workers 2
    run "$s" "$port" broadcast -conns 1000 -payloads 64,256,1024 -rates max,half,1000 -duration 5s
    run "$s" "$port" broadcast -conns 19000 -payloads 64,256,1024 -rates max,half,10 -duration 5s -workers 2
    run "$s" "$port" slow -conns 1000 -slow-rate 200 -duration 40s
    run "$s" "$port" sse -conns 1000 -payloads 64,256,1024 -rates max,half,1000 -duration 5s
    run "$s" "$port" sse -conns 19000 -payloads 256 -rates max,half,10 -duration 5s -workers 2
    run "$s" "$port" idle_sse -conns 1000,10000,19000 -workers 2
    run "$s" "$port" socketio -conns 1000 -payloads 64,256,1024 -rates max,half,1000,10 -duration 5s
    run "$s" "$port" idle_sio -conns 1000,10000,19000 -workers 2 -sio-transport websocket
    run "$s" "$port" idle_sio -conns 1000,10000,19000 -workers 2 -sio-transport polling
    run "$s" "$port" stomp -conns 1000 -payloads 64,256,1024 -rates max,half,1000 -duration 5s
    run "$s" "$port" idle_stomp -conns 1000,10000,19000 -workers 2
    run "$s" "$port" sockjs -conns 1000 -payloads 64,256,1024 -rates max,half,1000 -duration 5s -sockjs-transport xhr_streaming
    for tr in xhr_streaming eventsource xhr; do
      run "$s" "$port" idle_sockjs -conns 1000,10000 -workers 2 -sockjs-transport "$tr"
    done
  fi
done
if [ "$mode" = quick ]; then
  run_cluster $((port_base + 10)) 3 -conns 300 -topics 10 -payloads 64 -rates 100,1000,max -duration 1s \
    -pub-topics 1,1000 -publishers 32 -pub-duration 1s
else
  run_cluster $((port_base + 10)) 3 -conns 19000 -workers 2 -topics 20 -payloads 64 -rates 100,1000,max -duration 5s \
    -pub-topics 1,1000 -publishers 64 -pub-duration 5s
fi

# run_deflate: the deflate scenario (c1m only). The same load generator
# arguments against c1m with permessage-deflate off, on with the default
# threshold and on with threshold 0, a fresh process each (pinned like every
# server); -deflate-mode labels the results.
deflate_ran=0
run_deflate() { # port args...
  [[ ",$scenarios," == *",deflate,"* ]] || return 0
  [[ ",$servers," == *",c1m,"* ]] || return 0
  local port=$1 mode flags help
  shift
  help=$("$bin/c1m" --help 2>&1 || true) # not piped into grep -q: with pipefail its early exit would fail the pipe
  if [[ "$help" != *"-deflate-threshold"* ]]; then
    echo "-- c1m deflate: skipped, this c1m has no --deflate-threshold"
    notes+=("c1m has no --deflate-threshold flag in this build: the deflate scenario was not run")
    return 0
  fi
  if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/" 2>/dev/null; then
    echo "bench.sh: port $port is already in use (another bench run? use --port-base)" >&2
    failures=$((failures + 1))
    return 0
  fi
  plan+=("c1m:deflate")
  deflate_ran=1
  for mode in off default zero; do
    case $mode in
      off) flags=(--deflate=false) ;;
      default) flags=(--deflate) ;;
      zero) flags=(--deflate --deflate-threshold 0) ;;
    esac
    "${pin_server[@]}" "$bin/c1m" --addr "127.0.0.1:$port" --demo=false "${flags[@]}" >>"$logdir/c1m-deflate-$mode.log" 2>&1 &
    server_pid=$!
    if wait_ready "c1m (deflate $mode)" "$server_pid" "http://127.0.0.1:$port/stats" "$logdir/c1m-deflate-$mode.log"; then
      echo "-- c1m deflate (mode $mode: ${flags[*]}) $*"
      gen c1m-deflate-$mode -server c1m -scenario deflate -deflate-mode "$mode" -url "http://127.0.0.1:$port" "$@"
    else
      failures=$((failures + 1))
    fi
    stop_server
  done
}
if [ "$mode" = quick ]; then
  run_deflate $((port_base + 20)) -conns 100 -topics 4 -rates 200 -duration 1s
else
  run_deflate $((port_base + 20)) -conns 1000 -topics 4 -rates 50 -duration 10s
fi

# run_tls: the TLS scenarios (c1m only). c1m with a plain listener on port
# and a TLS one on port+1, GOMAXPROCS=1 and pinned like every server, a fresh
# process per measurement; certificates from its own gen-cert.
tls_ran=0
tls_server() { # label cert-basename port
  GOMAXPROCS=1 "${pin_server[@]}" "$bin/c1m" --addr "127.0.0.1:$3" --tls-addr "127.0.0.1:$(($3 + 1))" \
    --tls-cert "$bin/tls-$2.pem" --tls-key "$bin/tls-$2.key" --demo=false --ping-interval 10m >>"$logdir/c1m-$1.log" 2>&1 &
  server_pid=$!
  wait_ready "c1m ($1)" "$server_pid" "http://127.0.0.1:$3/stats" "$logdir/c1m-$1.log" || return 1
  local deadline=$((SECONDS + 15))
  until curl -fsS -o /dev/null --max-time 1 --cacert "$bin/tls-$2.pem" "https://127.0.0.1:$(($3 + 1))/healthz" 2>/dev/null; do
    if ! kill -0 "$server_pid" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
      echo "bench.sh: c1m ($1) does not answer https://127.0.0.1:$(($3 + 1))/healthz (see $logdir/c1m-$1.log)" >&2
      return 1
    fi
    sleep 0.1
  done
}
tls_gen() { # label cert-basename port args...: a fresh TLS c1m, one load generator run
  local label=$1 cert=$2 port=$3
  shift 3
  if tls_server "$label" "$cert" "$port"; then
    echo "-- c1m $label $*"
    gen "c1m-$label" -server c1m -url "http://127.0.0.1:$port" -tls-addr "127.0.0.1:$((port + 1))" -tls-ca "$bin/tls-$cert.pem" "$@"
  else
    failures=$((failures + 1))
  fi
  stop_server
}
tls_ref_gen() { # label cert-basename port args...: the reference server (net/http over crypto/tls), one run
  local label=$1 cert=$2 port=$3
  shift 3
  GOMAXPROCS=1 "${pin_server[@]}" "$bin/c1mbench" tls-ref-server -addr "127.0.0.1:$port" -tls-addr "127.0.0.1:$((port + 1))" \
    -cert "$bin/tls-$cert.pem" -key "$bin/tls-$cert.key" >>"$logdir/$label.log" 2>&1 &
  server_pid=$!
  if wait_ready "$label" "$server_pid" "http://127.0.0.1:$port/stats" "$logdir/$label.log"; then
    echo "-- $label $*"
    gen "$label" -server go-crypto-tls -url "http://127.0.0.1:$port" -tls-addr "127.0.0.1:$((port + 1))" -tls-ca "$bin/tls-$cert.pem" "$@"
  else
    failures=$((failures + 1))
  fi
  stop_server
}
run_tls() { # port idle-conns handshake-duration handshake-runs concurrency bcast-conns bcast-payloads bcast-rate bcast-duration bcast-runs
  [[ ",$scenarios," == *",idle_tls,"* || ",$scenarios," == *",tls_handshake,"* || ",$scenarios," == *",broadcast_tls,"* ]] || return 0
  [[ ",$servers," == *",c1m,"* ]] || return 0
  local port=$1 iconns=$2 hsd=$3 hsruns=$4 conc=$5 bconns=$6 bpay=$7 brate=$8 bd=$9 bruns=${10} help rep
  help=$("$bin/c1m" --help 2>&1 || true) # not piped into grep -q: with pipefail its early exit would fail the pipe
  if [[ "$help" != *"-tls-addr"* ]]; then
    echo "-- c1m TLS: skipped, this c1m has no --tls-addr"
    notes+=("c1m has no --tls-addr flag in this build: the TLS scenarios were not run")
    return 0
  fi
  for p in "$port" $((port + 1)); do
    if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$p/" 2>/dev/null; then
      echo "bench.sh: port $p is already in use (another bench run? use --port-base)" >&2
      failures=$((failures + 1))
      return 0
    fi
  done
  if ! "$bin/c1m" gen-cert --cert "$bin/tls-ecdsa.pem" --key "$bin/tls-ecdsa.key" >>"$logdir/c1m-gen-cert.log" 2>&1 ||
    ! "$bin/c1m" gen-cert --rsa --cert "$bin/tls-rsa.pem" --key "$bin/tls-rsa.key" >>"$logdir/c1m-gen-cert.log" 2>&1; then
    echo "bench.sh: c1m gen-cert failed (see $logdir/c1m-gen-cert.log)" >&2
    failures=$((failures + 1))
    return 0
  fi
  tls_ran=1
  if [[ ",$scenarios," == *",idle_tls,"* ]]; then
    plan+=("c1m:idle" "c1m:idle_tls")
    for ((rep = 1; rep <= ${TLS_IDLE_REPS:-1}; rep++)); do
      tls_gen tls-idle-ws ecdsa "$port" -scenario idle -conns "$iconns" -workers 2
      tls_gen tls-idle-wss ecdsa "$port" -scenario idle_tls -conns "$iconns" -workers 2
    done
  fi
  if [[ ",$scenarios," == *",tls_handshake,"* ]]; then
    plan+=("c1m:tls_handshake")
    local hs=(-scenario tls_handshake -duration "$hsd" -runs "$hsruns" -concurrency "$conc")
    tls_gen tls-hs-ecdsa ecdsa "$port" "${hs[@]}" -tls-version 1.3 -tls-curve x25519
    tls_gen tls-hs-rsa rsa "$port" "${hs[@]}" -tls-version 1.3 -tls-curve x25519
    tls_gen tls-hs-ecdsa-12 ecdsa "$port" "${hs[@]}" -tls-version 1.2 -tls-curve x25519
    tls_gen tls-hs-rsa-12 rsa "$port" "${hs[@]}" -tls-version 1.2 -tls-curve x25519
    tls_gen tls-hs-ecdsa-mlkem ecdsa "$port" "${hs[@]}" -tls-version 1.3 -tls-curve mlkem
    # The reference: Go's net/http over crypto/tls, pinned and GOMAXPROCS=1 like c1m (TLS 1.3 only: not in
    # the check's plan, which would want every configuration c1m ran; a failed run still counts as a failure).
    tls_ref_gen tls-ref-hs-ecdsa ecdsa "$port" "${hs[@]}" -tls-version 1.3 -tls-curve x25519
    tls_ref_gen tls-ref-hs-rsa rsa "$port" "${hs[@]}" -tls-version 1.3 -tls-curve x25519
  fi
  if [[ ",$scenarios," == *",broadcast_tls,"* ]]; then
    plan+=("c1m:broadcast_tls")
    tls_gen tls-broadcast ecdsa "$port" -scenario broadcast_tls -conns "$bconns" -payloads "$bpay" -rates "$brate" \
      -duration "$bd" -runs "$bruns"
  fi
}
if [ "$mode" = quick ]; then
  run_tls $((port_base + 30)) 100,300 1s 1 16 100 256 200 1s 1
else
  run_tls $((port_base + 30)) 1000,10000,19000 10s 3 64 1000 256,2048 50 10s 5
fi

elapsed=$(($(date +%s) - started))
header=$(mktemp)
{
  echo "# c1m benchmark report ($mode)"
  echo
  echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ), built from commit $built_from, $(go version | cut -d' ' -f3)"
  echo "- machine: $ncpu CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/{print $2}') GiB RAM, kernel $(uname -r), open files per process $(ulimit -n)"
  echo "- pinning: server ${pin_server[*]:-none}, load generator ${pin_gen[*]:-none}; run time ${elapsed}s"
  echo "- servers: $servers (peers: bench/peers; each server is a fresh process per scenario)"
  if [[ ",$servers," == *",centrifugo,"* ]]; then
    echo "- centrifugo: $cf_version built with go install (it reports v0.0.0), memory engine, config from"
    echo "  \`c1mbench centrifugo-config\` (anonymous connect and subscribe, HTTP API key, no history, uni_sse on);"
    echo "  clients speak its JSON protocol over /connection/websocket (connect + subscribe) and /connection/uni_sse."
    echo "  Centrifugo has no publish timestamp: its latency is from the publisher's clock, stamped when the publish"
    echo "  request is built, so it includes the HTTP API request (the others' ts is the server's own at publish)."
  fi
  if [[ ",$servers," == *",node-socketio,"* ]]; then
    echo "- node-socketio: Node $(node --version 2>/dev/null) with socket.io $(node -p 'require("./'"$nsio_dir"'/node_modules/socket.io/package.json").version' 2>/dev/null)"
    echo "  (bench/peers/node-socketio, pinned by its package-lock.json), every option default, one process (single-threaded"
    echo "  JavaScript), run with --expose-gc so that /stats?gc=1 measures live memory; pinned like the others."
  fi
  if [[ ",$servers," == *",rabbitmq,"* ]]; then
    echo "- rabbitmq: RabbitMQ $(dpkg-query -W -f '${Version}' rabbitmq-server 2>/dev/null) (Debian package) on Erlang/OTP $(dpkg-query -W -f '${Version}' erlang-base 2>/dev/null),"
    echo "  rabbitmq_web_stomp at /ws, every option default but its port (AMQP and plain STOMP listeners off), a fresh node per"
    echo "  scenario pinned like the others; clients CONNECT with host:/ (the default vhost, default user); the load generator"
    echo "  publishes with STOMP SEND to /topic/bench.0 (amq.topic) and stamps the time in the body when it builds the frame,"
    echo "  so RabbitMQ's latency includes its publisher connection; CPU and RSS are its beam.smp process and children."
  fi
  if [ "$cluster_ran" = 1 ]; then
    echo "- cluster: ${cluster_nats_version:-nats-server} with JetStream (file store in /tmp, fresh per run) and 3 c1m nodes"
    echo "  (--nats, --node-name, --demo=false), against one standalone c1m node; nats-server and every node pinned to"
    echo "  CPU 0 with the other servers (${pin_server[*]:-no pinning}), the load generator to ${pin_gen[*]:-no pinning}."
  fi
  if [ "$deflate_ran" = 1 ]; then
    echo "- deflate: c1m three times, fresh and pinned like the others: --deflate=false (off), --deflate (default:"
    echo "  threshold $("$bin/c1m" --help 2>&1 | sed -n '/-deflate-threshold/{n;p}' | grep -o 'default [0-9]*' | grep -o '[0-9]*' || echo '?') bytes),"
    echo "  --deflate --deflate-threshold 0 (zero); subscribers are gorilla/websocket clients in the load generator offering"
    echo "  permessage-deflate (client_no_context_takeover, server_no_context_takeover), their bytes counted on the socket."
  fi
  if [ "$tls_ran" = 1 ]; then
    echo "- tls: c1m with --addr (ws://, /stats, /publish) and --tls-addr (wss://, https://) on a \`c1m gen-cert\` certificate"
    echo "  (ECDSA P-256, or --rsa: RSA 2048), GOMAXPROCS=1, --demo=false --ping-interval 10m, a fresh process per"
    echo "  measurement, pinned like the others; clients: Go crypto/tls trusting that certificate, no session cache (every"
    echo "  handshake full); idle_tls holds its connections in worker processes with no goroutine each."
  fi
  echo "- load: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15-minute load average at the end of the run, $ncpu CPUs)"
  for n in "${notes[@]}"; do echo "- note: $n"; done
  echo
  echo "Units: *_us microseconds, *_ms milliseconds, *_per_conn bytes, *_mb MiB. Latency is receipt time minus"
  echo "the server's publish timestamp. fanout_* is, per seq, the time until the last subscriber had it."
  echo "cpu_s_per_m_deliv is server CPU seconds (utime+stime) per million deliveries. loadgen_cpu_cores near 1"
  echo "means the load generator (pinned to one core) was the limit. kernel_slab_per_conn is the machine-wide"
  echo "Slab delta divided by N and counts both socket ends (client and server share this host)."
  echo "Ratio columns are c1m's value divided by the peer's (for latency and memory lower is better, for rates higher)."
  echo "rate=max floods with at most a small window of undelivered messages; rate=half is half of that rate."
} >"$header"
"$bin/c1mbench" report -in "$results" -out "$out" -baseline c1m -header "$header"
rm -f "$header"

if [ "$tls_ran" = 1 ]; then
  "$bin/c1mbench" tls-report -in "$results" >>"$out/report.md" || true
fi
plot "$out" "$logdir/gnuplot.log" || true

echo "== check"
plan_csv=$(IFS=,; echo "${plan[*]}")
if [ -z "$plan_csv" ] || ! "$bin/c1mbench" check -in "$results" -plan "$plan_csv"; then
  failures=$((failures + 1))
fi
echo "== report: $out/report.md (${elapsed}s)"
if [ "$failures" -gt 0 ]; then
  echo "bench.sh: $failures failure(s)" >&2
  exit 1
fi
