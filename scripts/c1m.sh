#!/usr/bin/env bash
# c1m.sh — the scale run: hold as many idle WebSocket connections as this box
# allows and project the memory of 1,000,000 connections in one process.
#
# One c1m process holds at most ~19,000 connections here (20,000 open files
# per process, not raisable), so the run starts several c1m servers on
# consecutive ports and fills them one after another from several load
# generator processes (each bound to its own 127.0.0.x source addresses). It
# stops at --target, when a server refuses connections, when free memory
# drops below 3 GiB, or after --time seconds, and prints the total held, user
# memory (Go heap, RSS) and kernel memory per connection, and the projection.
#
#   scripts/c1m.sh [--target 1000000] [--per-server 18000] [--time 600]
#                  [--port-base 19300] [--out FILE]
# Every process it starts is stopped on exit (trap), also on Ctrl-C.
set -euo pipefail

target=1000000
per=18000
time_limit=600
port_base=19300
out=
while [ $# -gt 0 ]; do
  case "$1" in
    --target) target=$2; shift ;;
    --per-server) per=$2; shift ;;
    --time) time_limit=$2; shift ;;
    --port-base) port_base=$2; shift ;;
    --out) out=$2; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "c1m.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bin=$(mktemp -d /tmp/c1m-scale.XXXXXX)
[ -n "$out" ] || out=$bin/results.jsonl
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ "$out" != "$bin/results.jsonl" ]; then rm -rf "$bin"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

nofile=$(ulimit -n)
if [ "$per" -gt $((nofile - 500)) ]; then per=$((nofile - 500)); fi
servers=$(( (target + per - 1) / per ))
# Source addresses: the load generator uses 4 per server (127.0.0.2 ...).
if [ "$servers" -gt 60 ]; then servers=60; fi

read -r plo phi </proc/sys/net/ipv4/ip_local_port_range
if [ $((phi - plo)) -lt 50000 ]; then
  echo "c1m.sh: note: ephemeral ports $plo-$phi; connect() slows down sharply past ~600k connections."
  echo "        scripts/tune-kernel.sh --conns $target widens the range (and --revert undoes it)."
fi

echo "== build"
go build -o "$bin/c1m" ./cmd/c1m
go build -o "$bin/c1mbench" ./bench/cmd/c1mbench

echo "== starting $servers c1m servers (ports $port_base..$((port_base + servers - 1))), $per connections each"
urls=
for i in $(seq 0 $((servers - 1))); do
  port=$((port_base + i))
  "$bin/c1m" --addr "127.0.0.1:$port" --demo=false --max-conns "$((per + 100))" 2>>"$bin/c1m-$port.log" &
  pids+=($!)
  urls="${urls:+$urls,}http://127.0.0.1:$port"
done
for i in $(seq 0 $((servers - 1))); do
  port=$((port_base + i))
  deadline=$((SECONDS + 20))
  until curl -fsS "http://127.0.0.1:$port/stats" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then echo "c1m.sh: server on $port did not start" >&2; exit 1; fi
    sleep 0.1
  done
done

echo "== holding connections (up to ${time_limit}s)"
timeout --kill-after=30 "$((time_limit + 180))" \
  "$bin/c1mbench" -server c1m -scenario hold -url "$urls" -conns "$per" -concurrency 200 \
  -timeout "${time_limit}s" -o "$out" 2> >(tee "$bin/c1mbench.log" | grep -E "hold step|ERROR|WARN" >&2)

echo "== result ($out)"
line=$(grep '"scenario":"hold"' "$out" | tail -n 1)
if [ -z "$line" ]; then echo "c1m.sh: no result" >&2; exit 1; fi
if command -v jq >/dev/null; then
  jq -r '"held: \(.metrics.held) connections on \(.metrics.servers) c1m processes (still open at the end: \(.metrics.held_at_end), refused: \(.metrics.failed))",
    "per connection: Go heap \(.metrics.heap_alloc_per_conn|floor) B, RSS \(.metrics.rss_per_conn|floor) B, kernel slab (both ends) \(.metrics.kernel_slab_per_conn|floor) B",
    "projection for 1,000,000 in one process: heap \(.metrics.projected_1m_heap_gib*100|floor/100) GiB, RSS \(.metrics.projected_1m_rss_gib*100|floor/100) GiB, kernel (server side) \(.metrics.projected_1m_kernel_gib*100|floor/100) GiB, total \(.metrics.projected_1m_total_gib*100|floor/100) GiB",
    "upgrades/s: \(.metrics.upgrades_per_s|floor); \(.note)"' <<<"$line"
else
  echo "$line"
fi
