#!/usr/bin/env bash
# pgbench.sh - the PostgreSQL side of the DebitCredit comparison
# (bench/debitcredit.c, docs/performance.md "DebitCredit vs pgbench").
#
# Creates a throwaway PostgreSQL cluster in WORKDIR (initdb; Unix socket in
# that directory only, no TCP), with every commit durable: fsync=on,
# synchronous_commit=on, full_page_writes=on (the defaults, set explicitly).
# It runs `pgbench -i -s SCALE`, then ROUNDS timed runs of the built-in TPC-B
# script (the DebitCredit transaction) with CLIENTS clients, 2 threads,
# prepared statements and a per-transaction log, re-initialising the tables
# before each run. Latency percentiles come from the per-transaction logs;
# tps is pgbench's "without initial connection time" figure. After each run
# it checks the DebitCredit invariant with psql: sum(abalance) =
# sum(tbalance) = sum(bbalance) = sum(history.delta) and count(history) =
# the transactions pgbench reported. It writes a JSON summary and removes
# the cluster, whatever happens.
#
# Usage: scripts/pgbench.sh [--scale N] [--clients C] [--seconds S]
#                           [--rounds R] [--out PATH] [--workdir DIR]
#                           [--synchronous-commit on|off]
# Defaults: scale 1, 8 clients, 20 s, 1 round, out ./pgbench.json,
# workdir ./pgbench-work (wiped first). PGBIN overrides the directory of
# initdb/pg_ctl/pgbench (default: the newest /usr/lib/postgresql/*/bin).
# The server refuses to run as root: as root the cluster is run by the
# `postgres` user (the Debian package makes it), else by `nobody`.
# --synchronous-commit off is for experiments only (commits are then
# acknowledged before they are durable: not the comparison's durability).
set -euo pipefail

SCALE=1
CLIENTS=8
SECONDS_=20
ROUNDS=1
OUT=$PWD/pgbench.json
WORK=$PWD/pgbench-work
PORT=5499
SYNC_COMMIT=on

while [ $# -gt 0 ]; do
  case "$1" in
    --scale) SCALE=$2; shift 2 ;;
    --clients) CLIENTS=$2; shift 2 ;;
    --seconds) SECONDS_=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --workdir) WORK=$2; shift 2 ;;
    --synchronous-commit) SYNC_COMMIT=$2; shift 2 ;;
    *) echo "usage: $0 [--scale N] [--clients C] [--seconds S] [--rounds R] [--out PATH] [--workdir DIR] [--synchronous-commit on|off]" >&2
       exit 2 ;;
  esac
done

log() { printf '== pgbench.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

if [ -z "${PGBIN:-}" ]; then
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
fi
for tool in initdb pg_ctl pgbench psql; do
  [ -x "$PGBIN/$tool" ] || die "$tool not found in '${PGBIN:-}' (./build.sh deps installs postgresql)"
done

# Who runs the server (and so owns the cluster directory).
RUNAS=()
if [ "$(id -u)" = 0 ]; then
  if id postgres >/dev/null 2>&1; then user=postgres; else user=nobody; fi
  RUNAS=(runuser -u "$user" --)
fi
as_server() { "${RUNAS[@]}" "$@"; }

mkdir -p "$(dirname "$OUT")"
OUT=$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")
rm -rf "$WORK"
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
# The server user must reach the directory through its parents, and the
# socket path must fit in sun_path (107 bytes); else fall back to /tmp (a
# file system that may differ from the one of Weft's data directory).
usable=1
[ ${#WORK} -lt 90 ] || usable=0
if [ ${#RUNAS[@]} -gt 0 ]; then
  d=$WORK
  while [ "$d" != / ]; do
    d=$(dirname "$d")
    as_server test -x "$d" || usable=0
  done
fi
if [ "$usable" = 0 ]; then
  rmdir "$WORK" 2>/dev/null || true
  WORK=$(mktemp -d /tmp/weft-pgbench.XXXXXX)
  log "the workdir is too deep or not reachable by the server user: using $WORK"
fi
[ ${#RUNAS[@]} -eq 0 ] || chown "$user" "$WORK"
PGDATA_DIR=$WORK/data
SOCK=$WORK

started=0
cleanup() {
  if [ "$started" = 1 ]; then
    as_server "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

log "initdb into $PGDATA_DIR (as ${user:-$(id -un)})"
# --no-sync: initdb's own final fsync only; the cluster is thrown away.
as_server "$PGBIN/initdb" -D "$PGDATA_DIR" -A trust -U bench -E UTF8 --no-sync \
  >"$WORK/initdb.log" 2>&1 || { cat "$WORK/initdb.log" >&2; die "initdb failed"; }

# Unix socket in WORK only; durability settings explicit (all are defaults).
as_server "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$WORK/server.log" -w -t 60 \
  -o "-c listen_addresses='' -c unix_socket_directories='$SOCK' -p $PORT \
      -c fsync=on -c synchronous_commit=$SYNC_COMMIT -c full_page_writes=on \
      -c max_connections=$((CLIENTS + 10))" start >/dev/null ||
  { cat "$WORK/server.log" >&2; die "the server did not start"; }
started=1

PGARGS=(-h "$SOCK" -p "$PORT" -U bench)
psqlq() { "$PGBIN/psql" "${PGARGS[@]}" -d postgres -XAtq -v ON_ERROR_STOP=1 -c "$1"; }

version=$(psqlq "show server_version")
wal_sync=$(psqlq "show wal_sync_method")
log "PostgreSQL $version; fsync=$(psqlq 'show fsync') synchronous_commit=$(psqlq 'show synchronous_commit') wal_sync_method=$wal_sync"

tps_list=()
p50_list=()
p99_list=()
avg_list=()
txn_list=()
invariant_ok=true
for round in $(seq 1 "$ROUNDS"); do
  log "round $round/$ROUNDS: pgbench -i -s $SCALE"
  "$PGBIN/pgbench" "${PGARGS[@]}" -i -q -s "$SCALE" postgres >"$WORK/init.log" 2>&1 ||
    { cat "$WORK/init.log" >&2; die "pgbench -i failed"; }
  # A checkpoint now, so the run does not start with the load's dirty pages.
  psqlq "checkpoint" >/dev/null
  rm -f "$WORK"/txlog*
  log "round $round/$ROUNDS: pgbench -c $CLIENTS -j 2 -T $SECONDS_ -M prepared"
  "$PGBIN/pgbench" "${PGARGS[@]}" -c "$CLIENTS" -j 2 -T "$SECONDS_" -M prepared -n \
    -l --log-prefix="$WORK/txlog" postgres >"$WORK/run.log" 2>&1 ||
    { cat "$WORK/run.log" >&2; die "pgbench failed"; }
  cat "$WORK/run.log" >&2
  tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time).*/\1/p' "$WORK/run.log")
  txns=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$WORK/run.log")
  [ -n "$tps" ] && [ -n "$txns" ] || die "cannot read tps / transactions from pgbench's output"
  # Per-transaction log lines: client_id txn_no latency_us script_no epoch_s epoch_us.
  read -r p50 p99 avg n < <(cat "$WORK"/txlog* | awk '{print $3}' | sort -n | awk '
    { v[NR] = $1; s += $1 }
    END {
      if (NR == 0) { print "0 0 0 0"; exit }
      i50 = int(NR * 0.50 + 0.999999); if (i50 < 1) i50 = 1
      i99 = int(NR * 0.99 + 0.999999); if (i99 < 1) i99 = 1
      printf "%.3f %.3f %.3f %d\n", v[i50] / 1000, v[i99] / 1000, s / NR / 1000, NR
    }')
  # The invariant.
  read -r sa st sb sh nh < <(psqlq "select (select sum(abalance) from pgbench_accounts),
      (select sum(tbalance) from pgbench_tellers), (select sum(bbalance) from pgbench_branches),
      (select coalesce(sum(delta), 0) from pgbench_history), (select count(*) from pgbench_history)" |
    tr '|' ' ')
  ok=true
  if [ "$sa" != "$st" ] || [ "$st" != "$sb" ] || [ "$sb" != "$sh" ]; then ok=false; fi
  # pgbench counts transactions whose commit returned; one still in flight at
  # the end of -T is not counted, so the history may only match exactly.
  if [ "$nh" != "$txns" ]; then ok=false; fi
  log "round $round: tps $tps, p50 $p50 ms, p99 $p99 ms ($n logged); invariant: accounts $sa tellers $st branches $sb history $sh, $nh history rows for $txns transactions: $ok"
  [ "$ok" = true ] || invariant_ok=false
  tps_list+=("$tps"); p50_list+=("$p50"); p99_list+=("$p99"); avg_list+=("$avg"); txn_list+=("$txns")
done

# median / min / max of a list of numbers
stat3() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
  END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%s %s %s\n", m, v[1], v[NR] }'; }
json_list() { local IFS=,; printf '[%s]' "$*"; }

read -r tps tps_min tps_max < <(stat3 "${tps_list[@]}")
read -r p50 p50_min p50_max < <(stat3 "${p50_list[@]}")
read -r p99 p99_min p99_max < <(stat3 "${p99_list[@]}")

cat >"$OUT" <<EOF
{
  "tool": "pgbench",
  "postgresql_version": "$version",
  "scale": $SCALE,
  "clients": $CLIENTS,
  "threads": 2,
  "seconds": $SECONDS_,
  "rounds": $ROUNDS,
  "protocol": "prepared",
  "fsync": "on",
  "synchronous_commit": "$SYNC_COMMIT",
  "wal_sync_method": "$wal_sync",
  "tps": $tps,
  "tps_min": $tps_min,
  "tps_max": $tps_max,
  "p50_ms": $p50,
  "p50_ms_min": $p50_min,
  "p50_ms_max": $p50_max,
  "p99_ms": $p99,
  "p99_ms_min": $p99_min,
  "p99_ms_max": $p99_max,
  "tps_rounds": $(json_list "${tps_list[@]}"),
  "p50_ms_rounds": $(json_list "${p50_list[@]}"),
  "p99_ms_rounds": $(json_list "${p99_list[@]}"),
  "avg_ms_rounds": $(json_list "${avg_list[@]}"),
  "transactions_rounds": $(json_list "${txn_list[@]}"),
  "invariant_ok": $invariant_ok
}
EOF
log "wrote $OUT: tps $tps (min $tps_min, max $tps_max), p50 $p50 ms, p99 $p99 ms, invariant $invariant_ok"
