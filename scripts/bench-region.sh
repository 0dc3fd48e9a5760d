#!/usr/bin/env bash
# bench-region.sh - the region server under load: one weftd with the sample
# bank (samples/bank/bank.wrd, a fresh data directory), then weftload with
# the bank's mix (bank.mix) at 10, 50 and 200 terminals in turn, no think
# time, 15 s each after a 2 s warm-up, then the audit (AUDT as bob). Right
# before each run, the baseline: the minimal one-WSAPoll-thread server of
# bench/netbase.c (mode poll: read until WSAEWOULDBLOCK, a fixed 100-byte
# reply, no region) under weftload --raw with as many connections, so that
# every figure has its ratio to what the Winsock calls alone allow on the
# machine at that moment (scripts/netbase-lib.sh). BENCH_ROUNDS rounds
# (default 3) of the whole sequence, interleaved.
#
# Writes build/bench/region.json:
#   {"runs": [{"round", "terminals", "tps", "baseline_tps", "ratio_to_baseline",
#              "errors", "per_tranid": {TRANID: {"count", "p50_ms", "p99_ms"}}}],
#    "summary": [{"terminals", "tps", "baseline_tps", "ratio_to_baseline":
#                 {"median", "min", "max"}}],
#    "net_calls": weftd's count of Winsock calls per transaction (its log),
#    "audit_ok": bool}
# and prints a table. weftload's own reports and JSON files, weftd's log
# and the data directory are kept in build/bench/region/.
#
# Exit status 0 when every run reported and the audit said AUDIT OK (runs
# with unexpected errors are reported, with a warning), 1 otherwise.
# Environment: BENCH_TERMINALS ("10 50 200"), BENCH_SECONDS (15),
# BENCH_WARMUP (2), BENCH_ROUNDS (3), BENCH_PORT (a free port), WEFT_BUILD_DIR (build),
# WINEPREFIX (.deps/wineprefix).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${WEFT_BUILD_DIR:-$ROOT/build}
BIN=$BUILD/bin
OUT=$BUILD/bench
WORK=$OUT/region
TERMS=${BENCH_TERMINALS:-10 50 200}
SECS=${BENCH_SECONDS:-15}
WARMUP=${BENCH_WARMUP:-2}
ROUNDS=${BENCH_ROUNDS:-3}
export WINEPREFIX=${WINEPREFIX:-$ROOT/.deps/wineprefix}
export WINEDEBUG=-all
export WINEDLLOVERRIDES="winedbg.exe=d;mscoree,mshtml="

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'bench-region: %s\n' "$*" >&2; exit 1; }
# shellcheck source=scripts/bank-region.sh
. "$ROOT/scripts/bank-region.sh"
# shellcheck source=scripts/netbase-lib.sh
. "$ROOT/scripts/netbase-lib.sh"

for f in weftd.exe weftterm.exe weftload.exe bank.dll weft.dll bank.wrd bank.mix demo.script \
  bench_netbase.exe; do
  [ -f "$BIN/$f" ] || die "$BIN/$f is missing: run ./build.sh build first"
done
command -v python3 >/dev/null || die "python3 is missing"

PORT=${BENCH_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}

# The bank's region on our port, with room for the largest run.
MAXT=0
for n in $TERMS; do [ "$n" -gt "$MAXT" ] && MAXT=$n; done
bank_prepare "$WORK" "$PORT"
if ! grep -q 'max_terminals=' "$WORK/bank.wrd"; then
  # The default is 256; a run needs its terminals plus the audit's.
  if [ $((MAXT + 4)) -gt 256 ]; then
    sed -i "s/^REGION /REGION max_terminals=$((MAXT + 4)) /" "$WORK/bank.wrd"
  fi
else
  cur=$(sed -n 's/^REGION .*max_terminals=\([0-9]*\).*/\1/p' "$WORK/bank.wrd")
  if [ "${cur:-0}" -lt $((MAXT + 4)) ]; then
    sed -i "s/max_terminals=[0-9]*/max_terminals=$((MAXT + 4))/" "$WORK/bank.wrd"
  fi
fi

log "weftd with the sample bank on port $PORT (log: $WORK/weftd.log)"
weftd_start "$WORK"

runs=()
for r in $(seq 1 "$ROUNDS"); do
  for n in $TERMS; do
    log "round $r: the baseline server (bench_netbase --mode poll), $n connections"
    base=$(netbase_run poll 1 "$n" "$SECS" "$WARMUP" "$WORK")
    cp "$WORK/netbase-poll-1-$n.json" "base-$r-$n.json"
    log "round $r: weftload: $n terminals, ${WARMUP} s warm-up + ${SECS} s, no think time (baseline $base tps)"
    set +e
    wine "$BIN/weftload.exe" --mix bank.mix --def bank.wrd --port "$PORT" --user bob --password bob123 \
      --accounts 1-1000 --terminals "$n" --duration "$SECS" --warmup "$WARMUP" --think-ms 0 \
      --quiet --json "run-$r-$n.json" >"run-$r-$n.txt" 2>"run-$r-$n.err"
    rc=$?
    set -e
    tr -d '\r' <"run-$r-$n.txt"
    [ -f "run-$r-$n.json" ] || { cat "run-$r-$n.err" >&2; die "weftload with $n terminals wrote no JSON (exit $rc)"; }
    [ $rc = 0 ] || { log "warning: weftload with $n terminals exited $rc (unexpected errors):"; head -5 "run-$r-$n.err" >&2; }
    runs+=("$r:run-$r-$n.json:base-$r-$n.json")
  done
done

log "the audit"
audit=$(term --script audit.script | tr -d '\r' || true)
printf '%s\n' "$audit"
AUDIT_OK=false
case $audit in *"AUDIT OK"*) AUDIT_OK=true ;; esac

log "shutdown"
weftd_stop
[ "$WEFTD_RC" = 0 ] || log "warning: weftd exited $WEFTD_RC"

mkdir -p "$OUT"
NET_CALLS=$(sed -n 's/.*network: \(.*\)/\1/p' weftd.log | tr -d '\r' | tail -1)
python3 - "$OUT/region.json" "$AUDIT_OK" "$NET_CALLS" "${runs[@]}" <<'EOF'
import json, statistics, sys
out, audit_ok, net_calls, files = sys.argv[1], sys.argv[2] == "true", sys.argv[3], sys.argv[4:]
runs = []
for spec in files:
    rnd, f, bf = spec.split(":")
    j = json.load(open(f))
    base = json.load(open(bf))["tps"]
    runs.append({
        "round": int(rnd),
        "terminals": j["terminals"],
        "tps": j["tps"],
        "baseline_tps": base,
        "ratio_to_baseline": round(j["tps"] / base, 3) if base > 0 else None,
        "errors": j["errors"],
        "per_tranid": {t: {"count": v["count"], "p50_ms": v["p50_ms"], "p99_ms": v["p99_ms"]}
                       for t, v in sorted(j["per_tranid"].items())},
    })
def mmm(xs):
    xs = [x for x in xs if x is not None]
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs)} if xs else None
summary = []
for n in sorted({r["terminals"] for r in runs}):
    rs = [r for r in runs if r["terminals"] == n]
    summary.append({"terminals": n, "rounds": len(rs),
                    "tps": mmm([r["tps"] for r in rs]),
                    "baseline_tps": mmm([r["baseline_tps"] for r in rs]),
                    "ratio_to_baseline": mmm([r["ratio_to_baseline"] for r in rs])})
with open(out, "w") as f:
    json.dump({"wine": True, "runs": runs, "summary": summary, "net_calls": net_calls,
               "audit_ok": audit_ok}, f, indent=2)
    f.write("\n")

tranids = sorted({t for r in runs for t in r["per_tranid"]})
print()
print(f"{'round':>5} {'terminals':>9} {'tps':>9} {'baseline':>9} {'ratio':>6} {'errors':>6}   " +
      "  ".join(f"{t + ' p50/p99 ms':>19}" for t in tranids))
for r in runs:
    cells = []
    for t in tranids:
        v = r["per_tranid"].get(t)
        cells.append(f"{v['p50_ms']:9.2f}/{v['p99_ms']:<9.2f}" if v else f"{'-':>19}")
    ratio = f"{r['ratio_to_baseline']:6.2f}" if r["ratio_to_baseline"] is not None else f"{'-':>6}"
    print(f"{r['round']:>5} {r['terminals']:>9} {r['tps']:>9.1f} {r['baseline_tps']:>9.1f} {ratio} "
          f"{r['errors']:>6}   " + "  ".join(cells))
print(f"\nunder Wine, median (min-max) over {max(r['round'] for r in runs)} interleaved round(s):")
print(f"{'terminals':>9} {'weftd tps':>22} {'baseline tps':>22} {'ratio':>18}")
for s in summary:
    t, b, q = s["tps"], s["baseline_tps"], s["ratio_to_baseline"]
    qs = f"{q['median']:.2f} ({q['min']:.2f}-{q['max']:.2f})" if q else "-"
    print(f"{s['terminals']:>9} {t['median']:>8.0f} ({t['min']:.0f}-{t['max']:.0f})".ljust(33) +
          f"{b['median']:>8.0f} ({b['min']:.0f}-{b['max']:.0f})".ljust(23) + f"{qs:>18}")
print(f"\nweftd's Winsock calls: {net_calls or '(not in its log)'}")
print(f"\naudit: {'AUDIT OK' if audit_ok else 'FAILED'}")
print(f"written: {out}")
EOF

[ "$AUDIT_OK" = true ] || die "the audit failed"
[ "$WEFTD_RC" = 0 ] || die "weftd exited $WEFTD_RC"
exit 0
