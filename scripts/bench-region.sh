#!/usr/bin/env bash
# bench-region.sh - the region server under load: one weftd with the sample
# bank (samples/bank/bank.wrd, a fresh data directory), then weftload with
# the bank's mix (bank.mix) at 10, 50 and 200 terminals in turn, no think
# time, 15 s each after a 2 s warm-up, then the audit (AUDT as bob).
#
# Writes build/bench/region.json:
#   {"runs": [{"terminals", "tps", "errors",
#              "per_tranid": {TRANID: {"count", "p50_ms", "p99_ms"}}}],
#    "audit_ok": bool}
# and prints a table. weftload's own reports and JSON files, weftd's log
# and the data directory are kept in build/bench/region/.
#
# Exit status 0 when every run reported and the audit said AUDIT OK (runs
# with unexpected errors are reported, with a warning), 1 otherwise.
# Environment: BENCH_TERMINALS ("10 50 200"), BENCH_SECONDS (15),
# BENCH_WARMUP (2), BENCH_PORT (a free port), WEFT_BUILD_DIR (build),
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
export WINEPREFIX=${WINEPREFIX:-$ROOT/.deps/wineprefix}
export WINEDEBUG=-all
export WINEDLLOVERRIDES="winedbg.exe=d;mscoree,mshtml="

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'bench-region: %s\n' "$*" >&2; exit 1; }
# shellcheck source=scripts/bank-region.sh
. "$ROOT/scripts/bank-region.sh"

for f in weftd.exe weftterm.exe weftload.exe bank.dll weft.dll bank.wrd bank.mix demo.script; do
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
for n in $TERMS; do
  log "weftload: $n terminals, ${WARMUP} s warm-up + ${SECS} s, no think time"
  set +e
  wine "$BIN/weftload.exe" --mix bank.mix --def bank.wrd --port "$PORT" --user bob --password bob123 \
    --accounts 1-1000 --terminals "$n" --duration "$SECS" --warmup "$WARMUP" --think-ms 0 \
    --quiet --json "run-$n.json" >"run-$n.txt" 2>"run-$n.err"
  rc=$?
  set -e
  tr -d '\r' <"run-$n.txt"
  [ -f "run-$n.json" ] || { cat "run-$n.err" >&2; die "weftload with $n terminals wrote no JSON (exit $rc)"; }
  [ $rc = 0 ] || { log "warning: weftload with $n terminals exited $rc (unexpected errors):"; head -5 "run-$n.err" >&2; }
  runs+=("run-$n.json")
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
python3 - "$OUT/region.json" "$AUDIT_OK" "${runs[@]}" <<'EOF'
import json, sys
out, audit_ok, files = sys.argv[1], sys.argv[2] == "true", sys.argv[3:]
runs = []
for f in files:
    j = json.load(open(f))
    runs.append({
        "terminals": j["terminals"],
        "tps": j["tps"],
        "errors": j["errors"],
        "per_tranid": {t: {"count": v["count"], "p50_ms": v["p50_ms"], "p99_ms": v["p99_ms"]}
                       for t, v in sorted(j["per_tranid"].items())},
    })
with open(out, "w") as f:
    json.dump({"runs": runs, "audit_ok": audit_ok}, f, indent=2)
    f.write("\n")

tranids = sorted({t for r in runs for t in r["per_tranid"]})
print()
print(f"{'terminals':>9} {'tps':>9} {'errors':>6}   " +
      "  ".join(f"{t + ' p50/p99 ms':>19}" for t in tranids))
for r in runs:
    cells = []
    for t in tranids:
        v = r["per_tranid"].get(t)
        cells.append(f"{v['p50_ms']:9.2f}/{v['p99_ms']:<9.2f}" if v else f"{'-':>19}")
    print(f"{r['terminals']:>9} {r['tps']:>9.1f} {r['errors']:>6}   " + "  ".join(cells))
print(f"\naudit: {'AUDIT OK' if audit_ok else 'FAILED'}")
print(f"written: {out}")
EOF

[ "$AUDIT_OK" = true ] || die "the audit failed"
[ "$WEFTD_RC" = 0 ] || die "weftd exited $WEFTD_RC"
exit 0
