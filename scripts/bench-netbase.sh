#!/usr/bin/env bash
# bench-netbase.sh - the terminal path's baselines (issue 11): the request/
# reply servers of bench/netbase.c, no region behind them, each driven by
# weftload --raw (one request line, one ~100-byte reply line, no think
# time) at 10, 50 and 200 connections. Rounds are interleaved: every mode
# at every size once per round.
#
# Writes build/bench/netbase.json:
#   {"wine": true, "rounds": R, "seconds": S,
#    "results": [{"mode", "threads", "connections", "tps": [per round],
#                 "median", "min", "max", "calls_per_reply": "..."}]}
# and prints a table. Environment: NETBASE_MODES ("poll poll1 threads:2
# iocp:1 iocp:2"), BENCH_TERMINALS ("10 50 200"), NETBASE_SECONDS (8),
# NETBASE_WARMUP (1), NETBASE_ROUNDS (3), WEFT_BUILD_DIR (build).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${WEFT_BUILD_DIR:-$ROOT/build}
BIN=$BUILD/bin
OUT=$BUILD/bench
WORK=$OUT/netbase
MODES=${NETBASE_MODES:-poll poll1 threads:2 iocp:1 iocp:2}
TERMS=${BENCH_TERMINALS:-10 50 200}
SECS=${NETBASE_SECONDS:-8}
WARMUP=${NETBASE_WARMUP:-1}
ROUNDS=${NETBASE_ROUNDS:-3}
export WINEPREFIX=${WINEPREFIX:-$ROOT/.deps/wineprefix}
export WINEDEBUG=-all
export WINEDLLOVERRIDES="winedbg.exe=d;mscoree,mshtml="

die() { printf 'bench-netbase: %s\n' "$*" >&2; exit 1; }
# shellcheck source=scripts/netbase-lib.sh
. "$ROOT/scripts/netbase-lib.sh"

for f in bench_netbase.exe weftload.exe; do
  [ -f "$BIN/$f" ] || die "$BIN/$f is missing: run ./build.sh build first"
done
rm -rf "$WORK"
mkdir -p "$WORK"

: >"$WORK/results.tsv"
for r in $(seq 1 "$ROUNDS"); do
  for m in $MODES; do
    mode=${m%%:*}
    threads=1
    [ "$mode" != "$m" ] && threads=${m#*:}
    for n in $TERMS; do
      printf '== round %s: %s (%s thread(s)), %s connections\n' "$r" "$mode" "$threads" "$n" >&2
      tps=$(netbase_run "$mode" "$threads" "$n" "$SECS" "$WARMUP" "$WORK")
      calls=$(sed -n 's/.*per reply: //p' "$WORK/netbase-$mode-$threads-$n.calls" | tr -d '\r')
      printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$mode" "$threads" "$n" "$tps" "$calls" >>"$WORK/results.tsv"
    done
  done
done

python3 - "$WORK/results.tsv" "$OUT/netbase.json" "$ROUNDS" "$SECS" <<'EOF'
import json, statistics, sys
tsv, out, rounds, secs = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
res = {}
for line in open(tsv):
    r, mode, threads, n, tps, calls = line.rstrip("\n").split("\t")
    e = res.setdefault((mode, int(threads), int(n)), {"tps": [], "calls": calls})
    e["tps"].append(float(tps))
    e["calls"] = calls
results = []
for (mode, threads, n), e in res.items():
    t = e["tps"]
    results.append({"mode": mode, "threads": threads, "connections": n, "tps": t,
                    "median": statistics.median(t), "min": min(t), "max": max(t),
                    "calls_per_reply": e["calls"]})
with open(out, "w") as f:
    json.dump({"wine": True, "rounds": rounds, "seconds": secs, "results": results}, f, indent=2)
    f.write("\n")
print(f"\nbaseline servers under Wine, replies/s: median (min-max) over {rounds} interleaved rounds of {secs:g} s")
ns = sorted({r["connections"] for r in results})
print(f"{'mode':>10} {'thr':>3} " + " ".join(f"{str(n) + ' conn':>22}" for n in ns) + "   calls per reply (last run)")
seen = []
for r in results:
    k = (r["mode"], r["threads"])
    if k in seen:
        continue
    seen.append(k)
    cells = []
    for n in ns:
        x = next((y for y in results if (y["mode"], y["threads"], y["connections"]) == (*k, n)), None)
        cells.append(f"{x['median']:7.0f} ({x['min']:.0f}-{x['max']:.0f})" if x else "-")
    last = next(y for y in results if (y["mode"], y["threads"]) == k and y["connections"] == ns[-1])
    print(f"{k[0]:>10} {k[1]:>3} " + " ".join(f"{c:>22}" for c in cells) + "   " + last["calls_per_reply"])
print(f"written: {out}")
EOF
