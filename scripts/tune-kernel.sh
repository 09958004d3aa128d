#!/usr/bin/env bash
# tune-kernel.sh — show and raise the Linux limits that cap how many
# connections a c1m server (and a load generator on the same host) can hold.
#
#   scripts/tune-kernel.sh                       print current values only
#   scripts/tune-kernel.sh --conns 1000000       apply recommended values for a target
#   scripts/tune-kernel.sh --conns 1000000 --dry-run   show what would change
#   scripts/tune-kernel.sh --revert [FILE]       restore the latest (or given) backup
#   options: --backup-dir DIR (default /var/lib/c1m)
#
# Only net.* and fs.* sysctls are written. Values are only ever raised (never
# lowered), so running it twice changes nothing the second time. Before a
# change the previous values are saved to DIR/sysctl-backup-<timestamp>.conf.
# The per-process open-file limit (RLIMIT_NOFILE) is not a sysctl: the script
# prints the limits.conf and systemd lines that raise it permanently.
set -euo pipefail

conns=0
dry=0
revert=0
revert_file=
backup_dir=/var/lib/c1m
while [ $# -gt 0 ]; do
  case "$1" in
    --conns) conns=$2; shift ;;
    --dry-run) dry=1 ;;
    --revert)
      revert=1
      if [ $# -gt 1 ] && [ "${2#--}" = "$2" ]; then revert_file=$2; shift; fi ;;
    --backup-dir) backup_dir=$2; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "tune-kernel.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
case "$conns" in ''|*[!0-9]*) echo "tune-kernel.sh: --conns needs a number" >&2; exit 2 ;; esac

keys=(
  fs.file-max fs.nr_open
  net.core.somaxconn net.ipv4.tcp_max_syn_backlog net.core.netdev_max_backlog
  net.ipv4.ip_local_port_range net.ipv4.tcp_tw_reuse net.ipv4.tcp_fin_timeout
  net.ipv4.tcp_mem net.ipv4.tcp_rmem net.ipv4.tcp_wmem
  net.core.rmem_max net.core.wmem_max
  net.netfilter.nf_conntrack_max
)

path_of() { echo "/proc/sys/${1//./\/}"; }
get() { local p; p=$(path_of "$1"); [ -r "$p" ] && tr -s '\t ' ' ' <"$p" | sed 's/ *$//'; }
allowed() { case "$1" in net.*|fs.*) return 0 ;; *) return 1 ;; esac; }

set_value() { # key value
  allowed "$1" || { echo "tune-kernel.sh: refusing to write $1 (only net.* and fs.*)" >&2; return 1; }
  printf '%s\n' "$2" >"$(path_of "$1")"
}

show() {
  echo "== current limits"
  for k in "${keys[@]}"; do
    local v
    if v=$(get "$k"); then printf '%-34s %s\n' "$k" "$v"; else printf '%-34s %s\n' "$k" "(not available)"; fi
  done
  printf '%-34s soft %s, hard %s\n' "RLIMIT_NOFILE (this shell)" "$(ulimit -Sn)" "$(ulimit -Hn)"
  printf '%-34s %s\n' "memory" "$(awk '/MemTotal/{printf "%d MiB", $2/1024}' /proc/meminfo)"
}

if [ "$revert" = 1 ]; then
  if [ -z "$revert_file" ]; then
    revert_file=$(ls -1 "$backup_dir"/sysctl-backup-*.conf 2>/dev/null | sort | tail -n 1 || true)
  fi
  if [ -z "$revert_file" ] || [ ! -f "$revert_file" ]; then
    echo "tune-kernel.sh: no backup to revert in $backup_dir" >&2
    exit 1
  fi
  echo "== reverting from $revert_file"
  while IFS= read -r line; do
    case "$line" in ''|'#'*) continue ;; esac
    k=${line%% = *}
    v=${line#* = }
    if [ "$dry" = 1 ]; then
      echo "would set $k = $v"
    else
      set_value "$k" "$v"
      echo "set $k = $v"
    fi
  done <"$revert_file"
  exit 0
fi

show
[ "$conns" -gt 0 ] || exit 0

# Recommended values for $conns connections on this host. "Both ends" counts
# assume the load generator may run on the same machine.
mem_pages=$(awk '/MemTotal/{print int($2/4)}' /proc/meminfo)
want=()
need_min() { # key minimum: raise a single number to at least minimum
  local cur
  cur=$(get "$1") || return 0
  if [ "$cur" -lt "$2" ]; then want+=("$1=$2"); fi
}
need_triple() { # key a b c: raise each of three numbers to at least a, b, c
  local cur x y z
  cur=$(get "$1") || return 0
  read -r x y z <<<"$cur"
  local nx=$(( x > $2 ? x : $2 )) ny=$(( y > $3 ? y : $3 )) nz=$(( z > $4 ? z : $4 ))
  if [ "$nx $ny $nz" != "$cur" ]; then want+=("$1=$nx $ny $nz"); fi
}

need_min fs.file-max $((2 * conns + 65536))
need_min fs.nr_open $((conns + 65536))
need_min net.core.somaxconn 65535
need_min net.ipv4.tcp_max_syn_backlog 65535
need_min net.core.netdev_max_backlog 65536
# Ephemeral ports: widen to 1024-65535 (only ever widened).
if cur=$(get net.ipv4.ip_local_port_range); then
  read -r lo hi <<<"$cur"
  nlo=$(( lo < 1024 ? lo : 1024 )); nhi=$(( hi > 65535 ? hi : 65535 ))
  [ "$nlo $nhi" = "$cur" ] || want+=("net.ipv4.ip_local_port_range=$nlo $nhi")
fi
# tcp_tw_reuse: 1 lets outgoing connections reuse TIME_WAIT ports (2 = loopback only).
if cur=$(get net.ipv4.tcp_tw_reuse); then [ "$cur" = 1 ] || want+=("net.ipv4.tcp_tw_reuse=1"); fi
# TCP memory (pages): room for 4 pages per connection at pressure, 8 at most,
# capped at half of RAM.
half=$((mem_pages / 2))
cap() { local v=$1; [ "$v" -gt "$half" ] && v=$half; echo "$v"; }
need_triple net.ipv4.tcp_mem "$(cap $((conns * 2)))" "$(cap $((conns * 4)))" "$(cap $((conns * 8)))"
need_min net.core.rmem_max 16777216
need_min net.core.wmem_max 16777216
if get net.netfilter.nf_conntrack_max >/dev/null; then need_min net.netfilter.nf_conntrack_max $((2 * conns)); fi

echo
echo "== recommended for $conns connections"
if [ ${#want[@]} -eq 0 ]; then
  echo "nothing to change: every limit is already at or above the recommendation"
else
  for kv in "${want[@]}"; do printf '%-34s %s -> %s\n' "${kv%%=*}" "$(get "${kv%%=*}")" "${kv#*=}"; done
  if [ "$dry" = 1 ]; then
    echo "(dry run: nothing written)"
  else
    mkdir -p "$backup_dir"
    backup=$backup_dir/sysctl-backup-$(date -u +%Y%m%dT%H%M%S%N).conf
    {
      echo "# previous values, written by tune-kernel.sh --conns $conns on $(date -u +%FT%TZ)"
      for kv in "${want[@]}"; do echo "${kv%%=*} = $(get "${kv%%=*}")"; done
    } >"$backup"
    for kv in "${want[@]}"; do set_value "${kv%%=*}" "${kv#*=}"; done
    echo "applied; previous values saved to $backup (undo: $0 --revert $backup)"
    echo "to keep them across reboots, copy these lines to /etc/sysctl.d/90-c1m.conf:"
    for kv in "${want[@]}"; do echo "  ${kv%%=*} = ${kv#*=}"; done
  fi
fi

nofile=$((conns + 65536))
echo
echo "== open files per process (RLIMIT_NOFILE), not changed by this script"
echo "current: soft $(ulimit -Sn), hard $(ulimit -Hn); needed: $nofile (must not exceed fs.nr_open)"
echo "/etc/security/limits.conf:"
echo "  *    soft nofile $nofile"
echo "  *    hard nofile $nofile"
echo "systemd unit ([Service] section of c1m.service):"
echo "  LimitNOFILE=$nofile"
echo "shell, before starting c1m: ulimit -n $nofile"
