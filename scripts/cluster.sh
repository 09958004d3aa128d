#!/usr/bin/env bash
# cluster.sh — a c1m cluster on this machine: one nats-server with JetStream
# and N c1m nodes joined to it (--nats), each on its own port. Only node-1 runs
# the demo feed; the others get it through NATS, so every node's page shows
# the same ticker with the same seqs. Waits until every node's /readyz is 200,
# prints the URLs and runs until Ctrl-C (or SIGTERM), then stops everything.
#
#   scripts/cluster.sh [--nodes 3] [--port-base 8081] [--nats-port 4222]
#                      [--monitor-port NATS_PORT+4000] [--data DIR] [--check]
#                      [-- ARGS PASSED TO EVERY NODE]
#
#   --nodes N         c1m nodes to start (node-1 .. node-N), ports P .. P+N-1
#   --port-base P     HTTP port of node-1 (default 8081)
#   --nats-port P     nats-server client port (default 4222)
#   --monitor-port P  nats-server monitoring port (default nats port + 4000)
#   --data DIR        JetStream store directory, kept (default: a temporary
#                     one, removed on exit)
#   --check           self-test: start everything, check that every node is
#                     in the cluster, that publishes on node-2 and the last
#                     node reach every node with the same consecutive seqs,
#                     that a subscriber resumes across nodes and that the demo
#                     feed reaches the last node; stop; exit 0 or 1
#
# c1m is built once with `go build` into the run directory (printed), which
# also holds each process's log (logs/). nats-server comes from
# scripts/nats-server.sh (NATS_SERVER=/path/to/nats-server overrides it).
set -euo pipefail

nodes=3
port_base=8081
nats_port=4222
monitor_port=
data=
check=0
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) nodes=${2:?--nodes needs a value}; shift ;;
    --port-base) port_base=${2:?--port-base needs a value}; shift ;;
    --nats-port) nats_port=${2:?--nats-port needs a value}; shift ;;
    --monitor-port) monitor_port=${2:?--monitor-port needs a value}; shift ;;
    --data) data=${2:?--data needs a value}; shift ;;
    --check) check=1 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "cluster.sh: unknown argument $1 (--help lists them)" >&2; exit 2 ;;
  esac
  shift
done
for v in "$nodes" "$port_base" "$nats_port" ${monitor_port:+"$monitor_port"}; do
  case "$v" in ''|*[!0-9]*) echo "cluster.sh: not a number: $v" >&2; exit 2 ;; esac
done
[ -n "$monitor_port" ] || monitor_port=$((nats_port + 4000))
if [ "$nodes" -lt 1 ]; then echo "cluster.sh: --nodes must be at least 1" >&2; exit 2; fi
if [ "$check" = 1 ] && [ "$nodes" -lt 2 ]; then echo "cluster.sh: --check needs --nodes 2 or more" >&2; exit 2; fi

if [ -n "$data" ]; then # relative to where it was given
  mkdir -p "$data"
  data=$(cd "$data" && pwd)
fi
if [ "$check" = 1 ] && ! command -v jq >/dev/null; then echo "cluster.sh: --check needs jq" >&2; exit 1; fi
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
command -v go >/dev/null || PATH=$PATH:/usr/local/go/bin
command -v curl >/dev/null || { echo "cluster.sh: curl is required" >&2; exit 1; }

say() { printf '== %s\n' "$*"; }
fail() { printf 'cluster.sh: %s\n' "$*" >&2; exit 1; }

# A port something already listens on would make a node fail later, less clearly.
in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$nats_port" "$monitor_port" $(seq "$port_base" $((port_base + nodes - 1))); do
  if in_use "$p"; then fail "port $p is in use (see --port-base, --nats-port, --monitor-port)"; fi
done

run=$(mktemp -d "${TMPDIR:-/tmp}/c1m-cluster.XXXXXX")
logs=$run/logs
mkdir -p "$logs"
tmpdata=
if [ -z "$data" ]; then data=$run/jetstream; tmpdata=$data; fi
mkdir -p "$data"

# Every process started here, in start order, with a name for messages.
pids=()
names=()
cleanup() {
  local rc=$?
  trap '' INT TERM
  if [ ${#pids[@]} -gt 0 ]; then
    say "stopping"
    # The nodes together (each drains its connections), nats-server (index 0)
    # after them, so they leave NATS cleanly.
    stop "${pids[@]:1}"
    stop "${pids[0]}"
  fi
  [ -z "$tmpdata" ] || rm -rf "$tmpdata"
  rm -f "$run/c1m" "$run/ready.body"
  # The logs are kept when they may be wanted: not after a passed check or
  # when nothing was started.
  if [ ${#pids[@]} -eq 0 ] || { [ "$check" = 1 ] && [ "$rc" = 0 ]; }; then rm -rf "$run"; else echo "logs: $logs"; fi
  exit "$rc"
}
# stop PID...: SIGTERM, up to 15 s for them to go (c1m's own shutdown bound
# is 10 s), then SIGKILL for any left.
stop() {
  local pid t left
  [ $# -gt 0 ] || return 0
  kill -TERM "$@" 2>/dev/null || true
  for ((t = 0; t < 150; t++)); do
    left=0
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && left=1; done
    [ "$left" = 1 ] || break
    sleep 0.1
  done
  for pid in "$@"; do
    if kill -0 "$pid" 2>/dev/null; then
      echo "cluster.sh: pid $pid did not stop in 15 s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# tail_log LOG: its error lines (a usage text after a bad flag would hide
# them), then its last lines.
tail_log() {
  local errs
  errs=$(grep -m 5 -iE 'level=(error|warn)|error:|fatal|panic|flag provided|invalid' "$1" 2>/dev/null || true)
  [ -z "$errs" ] || printf -- '--- errors in %s:\n%s\n' "$1" "$errs" >&2
  echo "--- last lines of $1:" >&2
  tail -n 15 "$1" >&2 || true
  echo "---" >&2
}

# wait_http NAME PID URL LOG: until URL answers 200, for up to 30 s; fails
# with the process's log tail if it exits or the time is up.
wait_http() {
  local name=$1 pid=$2 url=$3 log=$4 code body deadline=$((SECONDS + 30))
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail_log "$log"
      fail "$name exited before it was ready (log: $log)"
    fi
    rm -f "$run/ready.body"
    code=$(curl -s -o "$run/ready.body" -w '%{http_code}' --max-time 2 "$url" 2>/dev/null) || code=000
    [ "$code" = 200 ] && return 0
    if [ $SECONDS -ge $deadline ]; then
      body=$(head -c 300 "$run/ready.body" 2>/dev/null || true)
      tail_log "$log"
      [ "$code" = 000 ] && code="no answer" || code="answered $code"
      fail "$name not ready in 30 s: GET $url: $code${body:+: $body} (log: $log)"
    fi
    sleep 0.2
  done
}

say "run directory $run"
nats_bin=$(scripts/nats-server.sh)
say "building c1m"
go build -o "$run/c1m" ./cmd/c1m
help=$("$run/c1m" --help 2>&1 || true) # not piped into grep -q: an early exit would be SIGPIPE
if ! grep -q -- '-nats ' <<<"$help"; then
  fail "this c1m has no --nats flag (no cluster support in this checkout)"
fi

nats_url=nats://127.0.0.1:$nats_port
say "starting nats-server (JetStream store $data)"
"$nats_bin" -js -sd "$data" -a 127.0.0.1 -p "$nats_port" -m "$monitor_port" -n c1m-local \
  >"$logs/nats-server.log" 2>&1 &
pids+=($!)
names+=(nats-server)
wait_http nats-server "$!" "http://127.0.0.1:$monitor_port/healthz" "$logs/nats-server.log"

say "starting $nodes c1m nodes (ports $port_base..$((port_base + nodes - 1)); node-1 runs the demo feed)"
for ((i = 1; i <= nodes; i++)); do
  port=$((port_base + i - 1))
  demo=false
  [ "$i" = 1 ] && demo=true
  "$run/c1m" --addr "127.0.0.1:$port" --nats "$nats_url" --node-name "node-$i" --demo="$demo" \
    ${extra[@]+"${extra[@]}"} >"$logs/node-$i.log" 2>&1 &
  pids+=($!)
  names+=("node-$i")
done
for ((i = 1; i <= nodes; i++)); do
  wait_http "node-$i" "${pids[$i]}" "http://127.0.0.1:$((port_base + i - 1))/readyz" "$logs/node-$i.log"
done
say "all $nodes nodes ready"

echo
for ((i = 1; i <= nodes; i++)); do
  port=$((port_base + i - 1))
  printf '  node-%-3s http://127.0.0.1:%s/   (stats /stats, readiness /readyz)%s\n' "$i" "$port" \
    "$([ "$i" = 1 ] && echo '  demo feed')"
done
echo "  NATS      $nats_url"
echo "  monitor   http://127.0.0.1:$monitor_port/  (/jsz?streams=true, /connz, /healthz)"
echo "  logs      $logs"
echo

if [ "$check" = 0 ]; then
  echo "Ctrl-C stops everything."
  # Until Ctrl-C, or until a process exits by itself (then stop the rest).
  while :; do
    wait -n "${pids[@]}" 2>/dev/null || true
    for ((i = 0; i < ${#pids[@]}; i++)); do
      if ! kill -0 "${pids[$i]}" 2>/dev/null; then
        log=$logs/${names[$i]}.log
        tail_log "$log"
        fail "${names[$i]} exited (log: $log); stopping the others"
      fi
    done
  done
fi

# ---- --check -------------------------------------------------------------
failures=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; failures=$((failures + 1)); }
url() { echo "http://127.0.0.1:$((port_base + $1 - 1))"; }

# Every node is in the cluster under its own name.
for ((i = 1; i <= nodes; i++)); do
  s=$(curl -s --max-time 5 "$(url "$i")/stats" || true)
  got=$(jq -r '"\(.node) \(.nats.connected)"' <<<"$s" 2>/dev/null || echo "unparsable")
  if [ "$got" = "node-$i true" ]; then ok "node-$i: /stats node=node-$i, nats.connected=true"
  else bad "node-$i: /stats node and nats.connected are \"$got\", want \"node-$i true\""; fi
done

# A subscriber on every node (SSE); each must get the publish made on node-2
# with the same seq.
topic=demo.check.$$.$RANDOM
sse_pids=()
for ((i = 1; i <= nodes; i++)); do
  curl -sN --max-time 20 "$(url "$i")/sse?topics=$topic" >"$run/sse-$i.out" 2>/dev/null &
  sse_pids+=($!)
done
# The demo feed reaches the last node, which does not run it.
curl -sN --max-time 20 "$(url "$nodes")/sse?topics=md.%3E" >"$run/sse-md.out" 2>/dev/null &
sse_pids+=($!)
waitfor() { # waitfor FILE REGEX SECONDS
  local deadline=$((SECONDS + $3))
  until grep -qE "$2" "$1" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.1
  done
}
for ((i = 1; i <= nodes; i++)); do
  waitfor "$run/sse-$i.out" '^event: sub' 10 || bad "node-$i: no SSE subscription to $topic in 10 s"
done

# publish N BODY: a POST /publish of BODY on topic at node N.
publish() {
  local code
  code=$(curl -s -o "$run/publish.out" -w '%{http_code}' --max-time 5 -X POST \
    "$(url "$1")/publish?topic=$topic" -d "$2" || true)
  case "$code" in
    2??) ok "node-$1: POST /publish?topic=$topic $2 answered $code $(head -c 200 "$run/publish.out")" ;;
    *) bad "node-$1: POST /publish?topic=$topic $2 answered $code $(head -c 200 "$run/publish.out" 2>/dev/null)" ;;
  esac
}
# seq_of N X: the seq of {"x":X} at node N's subscriber, after up to 10 s.
seq_of() {
  local re="\"topic\":\"$topic\".*\"data\":\\{\"x\":$2\\}"
  waitfor "$run/sse-$1.out" "$re" 10 || return 1
  grep -m1 -E "$re" "$run/sse-$1.out" | sed 's/^data: //' | jq -r .seq
}
# One publish on node-2, the next on the last node: one topic sequence.
publish 2 '{"x":1}'
publish "$nodes" '{"x":2}'
seqs=()
for ((i = 1; i <= nodes; i++)); do
  if s1=$(seq_of "$i" 1) && s2=$(seq_of "$i" 2); then
    seqs+=("$s1,$s2")
    if [ "$s2" = $((s1 + 1)) ]; then ok "node-$i: the subscriber got both publishes, seq $s1 and $s2"
    else bad "node-$i: the subscriber got both publishes, but with seq $s1 and $s2 (want consecutive)"; fi
  else
    bad "node-$i: the subscriber did not get both publishes (on node-2 and node-$nodes) in 10 s"
  fi
done
if [ ${#seqs[@]} -eq "$nodes" ]; then
  if [ "$(printf '%s\n' "${seqs[@]}" | sort -u | wc -l)" = 1 ]; then ok "the same seqs on every node (${seqs[0]})"
  else bad "the seqs differ between nodes: ${seqs[*]}"; fi
fi

# A subscriber that saw {"x":1} on node-1 resumes on the last node from that
# event's id (what EventSource sends after a reconnect): it gets {"x":2}, replayed.
if [ ${#seqs[@]} -eq "$nodes" ]; then
  s1=${seqs[0]%,*}
  id=$(grep -m1 -E "^id: .*/$topic=$s1\$" "$run/sse-1.out" | cut -c5- || true)
  curl -sN --max-time 3 -H "Last-Event-ID: $id" "$(url "$nodes")/sse?topics=$topic" >"$run/sse-resume.out" 2>/dev/null || true
  if [ -n "$id" ] && grep -q '"recovered":true' "$run/sse-resume.out" &&
    grep -qE "\"seq\":$((s1 + 1)),.*\"data\":\\{\"x\":2\\}" "$run/sse-resume.out" &&
    ! grep -q '"snap":true' "$run/sse-resume.out"; then
    ok "node-$nodes: a subscriber resuming from node-1's event id $id recovered seq $((s1 + 1))"
  else
    bad "node-$nodes: resuming from node-1's event id '$id' did not recover seq $((s1 + 1)) (see $run/sse-resume.out)"
  fi
fi

if waitfor "$run/sse-md.out" '"op":"msg","topic":"md\.' 10; then ok "node-$nodes: the demo feed of node-1 arrives"
else bad "node-$nodes: no md.* message from node-1's demo feed in 10 s"; fi

for p in "${sse_pids[@]}"; do kill "$p" 2>/dev/null || true; done
for p in "${sse_pids[@]}"; do wait "$p" 2>/dev/null || true; done

# Still serving, and still connected after all that.
for ((i = 1; i <= nodes; i++)); do
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$(url "$i")/readyz" || true)
  [ "$code" = 200 ] || bad "node-$i: /readyz answered $code at the end"
done

if [ "$failures" = 0 ]; then say "check passed"; exit 0; fi
say "check FAILED ($failures)"
exit 1
