#!/usr/bin/env bash
# bench-dcpg.sh - DebitCredit on PostgreSQL: Weft (bench_dcpg, the
# transaction as a Weft program on ODBC) against pgbench (its built-in
# tpcb-like script: the same transaction) on the same database and scale
# (docs/performance.md "DebitCredit on PostgreSQL").
#
# Starts a throwaway cluster (initdb under /tmp; TCP on a free loopback
# port, trusted; fsync=on, synchronous_commit=on: every commit durable;
# max_connections 230), then for each configuration
#   8 terminals on 8 connections      vs  pgbench -c 8
#   200 terminals on 8 connections    vs  pgbench -c 200 (200 server processes)
# runs ROUNDS rounds, Weft and pgbench interleaved (the order alternates from
# round to round). Before every run the tables are made afresh
# (`pgbench -i -s SCALE`) and checkpointed; after it the invariant is checked
# in SQL: sum(abalance) = sum(tbalance) = sum(bbalance) = sum(history.delta)
# and count(history) = the transactions the run reports committed. Both
# sides reach the server over TCP on 127.0.0.1. Weft's terminals are tasks
# inside bench_dcpg started with zero think time; pgbench's clients are its
# own threads (-j 2). Prints a table (medians with min and max) and writes
# OUT: {"runs": [{"terminals", "connections", "weft_tps", "pgbench_tps",
# "weft_p99_ms", "pgbench_p99_ms", ... min/max ...}], "invariant_ok": bool}.
# The server is stopped by its pid and the cluster removed, whatever happens.
#
# --smoke: no timing; 20 terminals x 10 transactions on 4 connections, then
# the invariant and exactly 200 history rows; exit 0 when both hold (the
# ctest `dcpg_smoke`).
#
# Usage: scripts/bench-dcpg.sh --exe PATH/bench_dcpg.exe [--wine CMD]
#          [--scale N] [--seconds S] [--rounds R] [--out PATH] [--smoke]
#          [--calls run|exec]
# --calls: how bench_dcpg's program makes its five statements: `run`, all
# in one weft_db_run on the raw SQLHDBC with bound parameters (one offload
# hand-off, then the syncpoint's); `exec`, one weft_db_exec / weft_db_query
# each (five hand-offs). Defaults: calls run, scale 1, 10 s, 3 rounds, out ./debitcredit_pg.json, wine `wine`.
# Exit 77 (ctest's SKIP_RETURN_CODE) without PostgreSQL or psqlODBC.
set -uo pipefail

EXE=""
WINE=wine
SCALE=1
SECS=10
ROUNDS=3
OUT=$PWD/debitcredit_pg.json
SMOKE=0
CALLS=run
while [ $# -gt 0 ]; do
  case "$1" in
    --exe) EXE=$2; shift 2 ;;
    --wine) WINE=$2; shift 2 ;;
    --scale) SCALE=$2; shift 2 ;;
    --seconds) SECS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --smoke) SMOKE=1; shift ;;
    --calls) CALLS=$2; shift 2 ;;
    *) echo "usage: $0 --exe bench_dcpg.exe [--wine CMD] [--scale N] [--seconds S] [--rounds R] [--out PATH] [--smoke] [--calls run|exec]" >&2
       exit 2 ;;
  esac
done
log() { printf '== bench-dcpg.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
[ -n "$EXE" ] && [ -f "$EXE" ] || die "--exe: bench_dcpg.exe not found ('$EXE')"
EXE=$(cd "$(dirname "$EXE")" && pwd)/$(basename "$EXE")

PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/initdb" ] || [ ! -x "$PGBIN/pgbench" ]; then
  log "SKIP: PostgreSQL is not installed (./build.sh deps installs postgresql)"
  exit 77
fi
if ! odbcinst -q -d -n "PostgreSQL Unicode" >/dev/null 2>&1; then
  log "SKIP: the ODBC driver \"PostgreSQL Unicode\" is not registered (./build.sh deps installs odbc-postgresql)"
  exit 77
fi

RUNAS=()
if [ "$(id -u)" = 0 ]; then
  if id postgres >/dev/null 2>&1; then user=postgres; else user=nobody; fi
  RUNAS=(runuser -u "$user" --)
fi
as_server() { "${RUNAS[@]}" "$@"; }

mkdir -p "$(dirname "$OUT")"
OUT=$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")
WORK=$(mktemp -d /tmp/weft-dcpg.XXXXXX)
chmod 755 "$WORK"
[ ${#RUNAS[@]} -eq 0 ] || chown "$user" "$WORK"
DATA=$WORK/data
RUNDIR=$WORK/run # bench_dcpg's working directory (its --out)
mkdir -p "$RUNDIR"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

pid=""
stop_server() {
  pid=$(head -n 1 "$DATA/postmaster.pid" 2>/dev/null)
  [ -n "$pid" ] || return 0
  kill -INT "$pid" 2>/dev/null # fast shutdown
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || { pid=""; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null
  pid=""
}
cleanup() {
  stop_server
  rm -rf "$WORK"
}
trap cleanup EXIT

as_server "$PGBIN/initdb" -D "$DATA" -U bench -A trust -E UTF8 --no-sync >"$WORK/initdb.log" 2>&1 ||
  { cat "$WORK/initdb.log" >&2; die "initdb failed"; }
cat >>"$DATA/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$WORK'
max_connections = 230
fsync = on
synchronous_commit = on
full_page_writes = on
EOF
as_server "$PGBIN/pg_ctl" -D "$DATA" -l "$WORK/server.log" -w -t 60 start >/dev/null ||
  { cat "$WORK/server.log" >&2; die "the server did not start"; }
pid=$(head -n 1 "$DATA/postmaster.pid")
version=$("$PGBIN/psql" -h 127.0.0.1 -p "$PORT" -U bench -d postgres -XAtq -c "show server_version")
log "PostgreSQL $version on 127.0.0.1:$PORT (pid $pid), scale $SCALE"

PGARGS=(-h 127.0.0.1 -p "$PORT" -U bench)
psqlq() { "$PGBIN/psql" "${PGARGS[@]}" -d postgres -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
export WEFT_PG_CONN="Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=$PORT;Database=postgres;UID=bench"

fresh_tables() {
  "$PGBIN/pgbench" "${PGARGS[@]}" -i -q -s "$SCALE" postgres >"$WORK/init.log" 2>&1 ||
    { cat "$WORK/init.log" >&2; die "pgbench -i failed"; }
  psqlq "checkpoint" >/dev/null
}

# invariant COMMITTED: true when the sums agree and the history has COMMITTED rows.
invariant() {
  local sa st sb sh nh
  read -r sa st sb sh nh < <(psqlq "select (select sum(abalance) from pgbench_accounts),
      (select sum(tbalance) from pgbench_tellers), (select sum(bbalance) from pgbench_branches),
      (select coalesce(sum(delta), 0) from pgbench_history), (select count(*) from pgbench_history)" |
    tr '|' ' ')
  if [ "$sa" = "$st" ] && [ "$st" = "$sb" ] && [ "$sb" = "$sh" ] && [ "$nh" = "$1" ]; then
    echo true
  else
    log "INVARIANT FAILED: accounts $sa tellers $st branches $sb history deltas $sh; $nh history rows for $1 committed"
    echo false
  fi
}

json_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# weft T C [extra args]: one bench_dcpg run; echoes "tps p99 ok".
weft_run() {
  local t=$1 c=$2
  shift 2
  rm -f "$RUNDIR/dcpg.json"
  (cd "$RUNDIR" && $WINE "$EXE" --terminals "$t" --connections "$c" --scale "$SCALE" \
    --seconds "$SECS" --calls "$CALLS" --out dcpg.json "$@" >&2) || log "bench_dcpg reported failed transactions"
  [ -f "$RUNDIR/dcpg.json" ] || die "bench_dcpg wrote no report"
  local committed failed ok
  committed=$(json_field "$RUNDIR/dcpg.json" committed)
  failed=$(json_field "$RUNDIR/dcpg.json" failed)
  ok=$(invariant "$committed")
  [ "$failed" = 0 ] || ok=false
  echo "$(json_field "$RUNDIR/dcpg.json" tps) $(json_field "$RUNDIR/dcpg.json" p99_ms) $ok $committed"
}

# pgbench_run C: one pgbench run; echoes "tps p99 ok".
pgbench_run() {
  local c=$1 tps txns p99
  rm -f "$WORK"/txlog*
  "$PGBIN/pgbench" "${PGARGS[@]}" -c "$c" -j 2 -T "$SECS" -M prepared -n \
    -l --log-prefix="$WORK/txlog" postgres >"$WORK/run.log" 2>&1 ||
    { cat "$WORK/run.log" >&2; die "pgbench failed"; }
  tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time).*/\1/p' "$WORK/run.log")
  txns=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$WORK/run.log")
  # No transaction inside -T (200 connections still being made on a loaded
  # machine): pgbench prints no tps line; that is 0 tps.
  if [ -z "$tps" ] && [ "$txns" = 0 ]; then
    log "pgbench -c $c completed no transaction in $SECS s (connecting took the whole run): 0 tps"
    tps=0
  fi
  [ -n "$tps" ] && [ -n "$txns" ] || { cat "$WORK/run.log" >&2; die "cannot read tps / transactions from pgbench's output"; }
  p99=$(cat "$WORK"/txlog* | awk '{print $3}' | sort -n | awk '{ v[NR] = $1 }
    END { if (NR == 0) { print 0; exit }
          i = int(NR * 0.99 + 0.999999); if (i < 1) i = 1; printf "%.3f\n", v[i] / 1000 }')
  echo "$tps $p99 $(invariant "$txns") $txns"
}

if [ "$SMOKE" = 1 ]; then
  fresh_tables
  read -r _ _ ok n < <(weft_run 20 4 --transactions 10)
  log "smoke: 20 terminals x 10 transactions on 4 connections: $n committed, invariant $ok"
  [ "$ok" = true ] && [ "$n" = 200 ] && exit 0
  exit 1
fi

# DCPG_CONFIGS: "TERMINALS CONNECTIONS" pairs, comma-separated (default "8 8,200 8").
IFS=, read -r -a CONFIGS <<<"${DCPG_CONFIGS:-8 8,200 8}"
RESULTS=$WORK/results.tsv
: >"$RESULTS"
for round in $(seq 1 "$ROUNDS"); do
  for cfg in "${CONFIGS[@]}"; do
    read -r t c <<<"$cfg"
    if [ $((round % 2)) = 1 ]; then order="${DCPG_ORDER:-weft pgbench}"; else order="pgbench weft"; fi
    for side in $order; do
      fresh_tables
      if [ "$side" = weft ]; then
        read -r tps p99 ok n < <(weft_run "$t" "$c")
      else
        read -r tps p99 ok n < <(pgbench_run "$t")
      fi
      log "round $round/$ROUNDS, $t terminals on $c connections, $side: $tps tps, p99 $p99 ms, $n committed, invariant $ok"
      printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$c" "$side" "$tps" "$p99" "$ok" >>"$RESULTS"
    done
  done
done

wine_version=$($WINE --version 2>/dev/null || echo unknown)
python3 - "$RESULTS" "$OUT" "$SCALE" "$SECS" "$ROUNDS" "$version" "$wine_version" "$CALLS" <<'EOF'
import json, statistics, sys
res, out, scale, secs, rounds, pgv, winev, calls = sys.argv[1:9]
rows = [l.rstrip("\n").split("\t") for l in open(res) if l.strip()]
configs = []
for r in rows:
    k = (int(r[0]), int(r[1]))
    if k not in configs:
        configs.append(k)
def pick(t, c, side, col):
    return [float(r[col]) for r in rows if (int(r[0]), int(r[1]), r[2]) == (t, c, side)]
runs = []
for t, c in configs:
    e = {"terminals": t, "connections": c}
    for side in ("weft", "pgbench"):
        for name, col in (("tps", 3), ("p99_ms", 4)):
            v = pick(t, c, side, col)
            e[f"{side}_{name}"] = round(statistics.median(v), 3)
            e[f"{side}_{name}_min"] = round(min(v), 3)
            e[f"{side}_{name}_max"] = round(max(v), 3)
            e[f"{side}_{name}_rounds"] = v
    e["pgbench_clients"] = t
    e["ratio"] = round(e["weft_tps"] / e["pgbench_tps"], 3) if e["pgbench_tps"] else None
    runs.append(e)
ok = all(r[5] == "true" for r in rows)
doc = {"runs": runs, "invariant_ok": ok, "scale": int(scale), "seconds": int(secs),
       "rounds": int(rounds), "weft_calls": calls, "postgresql_version": pgv, "wine": winev,
       "weft_terminals": "tasks in bench_dcpg, zero think time",
       "durability": "fsync=on, synchronous_commit=on", "transport": "TCP 127.0.0.1"}
json.dump(doc, open(out, "w"), indent=2)
print(f"DebitCredit on PostgreSQL {pgv}, scale {scale}, {rounds} interleaved rounds x {secs} s; "
      f"Weft under {winev} (medians, min-max)")
print(f"{'terminals':>9} {'conns':>5} {'weft tps':>22} {'pgbench tps':>22} {'ratio':>6} "
      f"{'weft p99 ms':>22} {'pgbench p99 ms':>22}")
for e in runs:
    f = lambda s, n, d: f"{e[s+'_'+n]:.{d}f} ({e[s+'_'+n+'_min']:.{d}f}-{e[s+'_'+n+'_max']:.{d}f})"
    print(f"{e['terminals']:>9} {e['connections']:>5} {f('weft','tps',0):>22} "
          f"{f('pgbench','tps',0):>22} {e['ratio']:>6.2f} {f('weft','p99_ms',1):>22} "
          f"{f('pgbench','p99_ms',1):>22}")
print(f"invariant: {'ok' if ok else 'FAILED'}")
EOF
log "wrote $OUT"
