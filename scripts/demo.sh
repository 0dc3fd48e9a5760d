#!/usr/bin/env bash
# demo.sh - the sample bank end to end (docs/tour.md walks through it):
#
#   1. a fresh demo directory build/demo with the bank's region definition
#      (samples/bank/bank.wrd, on a free port), bank.dll, the mix and the
#      demo script;
#   2. weftd starts the region in the background, its console fed from a
#      FIFO (so this script can type operator commands), its log in
#      build/demo/weftd.log;
#   3. weftterm runs samples/bank/demo.script: the screens of a session;
#      3b. s3270 runs a scripted 3270 session against the bank's screens
#      (scripts/demo3270.py) and the screens it saw are printed (skipped
#      when s3270 is not installed: ./build.sh deps installs it);
#   4. weftload runs the bank's mix (bank.mix) with 50 terminals for 20 s and
#      prints its per-transaction and per-enclave report (JSON and a plot
#      under build/demo);
#   5. INQ ENCLAVES on the console: the region's own view (PI, percentiles);
#      then the bank's JSON API with curl (deposit, transfer, an overdraft
#      refused, a statement page, /health, /metrics);
#   6. the audit (AUDT as bob) must say AUDIT OK;
#   7. SHUTDOWN on the console: weftd must exit 0.
#
# Exit status 0 when every step worked, 1 otherwise. Run it after
# ./build.sh build (./build.sh demo does both). Environment:
#   DEMO_TERMINALS (50), DEMO_SECONDS (20), DEMO_PORT (3270 if free, else a
#   free port), DEMO_HTTP_PORT (8080 if free, else a free port),
#   DEMO_TN3270_PORT (3271 if free, else a free port),
#   WEFT_BUILD_DIR (build), WINEPREFIX (.deps/wineprefix).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${WEFT_BUILD_DIR:-$ROOT/build}
BIN=$BUILD/bin
DEMO=$BUILD/demo
TERMINALS=${DEMO_TERMINALS:-50}
SECONDS_=${DEMO_SECONDS:-20}
export WINEPREFIX=${WINEPREFIX:-$ROOT/.deps/wineprefix}
export WINEDEBUG=-all
export WINEDLLOVERRIDES="winedbg.exe=d;mscoree,mshtml="

say() { printf '\n== %s\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }
# shellcheck source=scripts/bank-region.sh
. "$ROOT/scripts/bank-region.sh"

for f in weftd.exe weftterm.exe weftload.exe bank.dll weft.dll bank.wrd bank.mix demo.script; do
  [ -f "$BIN/$f" ] || die "$BIN/$f is missing: run ./build.sh build first"
done
command -v wine >/dev/null || die "wine is missing: run ./build.sh deps"
command -v python3 >/dev/null || die "python3 is missing"

# A port: DEMO_PORT, else 3270 when nothing listens there, else any free one.
free_port() {
  python3 - "$1" <<'EOF'
import socket, sys
want = int(sys.argv[1])
for port in (want, 0):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        print(s.getsockname()[1])
        break
    except OSError:
        pass
    finally:
        s.close()
EOF
}
PORT=${DEMO_PORT:-$(free_port 3270)}
HTTP_PORT=${DEMO_HTTP_PORT:-$(free_port 8080)} # the bank's JSON API (docs/http.md)
TN_PORT=${DEMO_TN3270_PORT:-$(free_port 3271)} # the bank's 3270 screens (docs/tn3270.md)

# ---- 1. The demo directory ------------------------------------------------
say "1. a fresh demo directory: $DEMO"
# The bank's definition as it is, but on our port; bank.dll beside it
# (dll=bank.dll is relative to the file), data_dir=bankdata under it.
bank_prepare "$DEMO" "$PORT"
ls "$DEMO"

# ---- 2. weftd -------------------------------------------------------------
say "2. weftd bank.wrd (port $PORT; console: $DEMO/console, log: $DEMO/weftd.log)"
weftd_start "$DEMO"
cat "$DEMO/weftd.log"

# ---- 3. A session ----------------------------------------------------------
say "3. weftterm --script demo.script: a teller's session, screen by screen"
term --script demo.script | tr -d '\r' | tee "$DEMO/demo-session.txt" ||
  die "weftterm --script demo.script failed"

# ---- 3b. A 3270 session ------------------------------------------------------------
say "3b. s3270: a teller's session on the bank's 3270 screens (TN3270 port $TN_PORT)"
T3270_RC=0
if command -v s3270 >/dev/null; then
  python3 "$ROOT/scripts/demo3270.py" "$TN_PORT" | tee "$DEMO/demo-3270.txt" || T3270_RC=1
  echo "connect yourself: c3270 -codepage cp037 127.0.0.1:$TN_PORT (wc3270 on Windows)"
else
  echo "(s3270 is not installed: skipped; ./build.sh deps installs it)"
fi

# ---- 4. Load ----------------------------------------------------------------
say "4. weftload: $TERMINALS terminals, ${SECONDS_} s, no think time, the mix bank.mix"
sed -n '/^[0-9 ]/p' bank.mix
echo
set +e
wine "$BIN/weftload.exe" --mix bank.mix --def bank.wrd --port "$PORT" --user bob --password bob123 \
  --accounts 1-1000 --terminals "$TERMINALS" --duration "$SECONDS_" --warmup 2 \
  --json load.json --plot load.png 2>&1 | tr -d '\r' | tee "$DEMO/load.txt"
LOAD_RC=${PIPESTATUS[0]}
set -e
[ -f "$DEMO/load.json" ] || die "weftload wrote no load.json (exit $LOAD_RC)"
PLOT="(no plot: gnuplot is missing; ./build.sh deps installs gnuplot-nox)"
if command -v gnuplot >/dev/null && [ -f load.gp ]; then
  if gnuplot load.gp 2>"$DEMO/gnuplot.err" && [ -f load.png ]; then
    PLOT="$DEMO/load.png"
  else
    PLOT="(gnuplot failed: $DEMO/gnuplot.err)"
  fi
fi
echo
echo "report:  $DEMO/load.txt"
echo "JSON:    $DEMO/load.json"
echo "plot:    $PLOT (data load.dat, script load.gp)"

# ---- 5. The region's view ----------------------------------------------------
say "5. INQ ENCLAVES and INQ TRANS on weftd's console"
n0=$(wc -l <"$DEMO/weftd.out")
echo "INQ ENCLAVES" >&3
echo "INQ TRANS" >&3
# The output ends with the last TRAN row (bank.wrd defines BSED last).
for _ in $(seq 1 100); do
  out=$(tail -n +"$((n0 + 1))" "$DEMO/weftd.out")
  case $out in *"TRAN BSED"*) break ;; esac
  sleep 0.1
done
tail -n +"$((n0 + 1))" "$DEMO/weftd.out" | tr -d '\r'

# ---- 5b. The JSON API -------------------------------------------------------------
say "5b. the bank's JSON API with curl on http://127.0.0.1:$HTTP_PORT (docs/http.md)"
if command -v curl >/dev/null; then
  api() { printf '$ curl %s\n' "$*"; curl -sS "$@"; echo; }
  api -u alice:alice123 "http://127.0.0.1:$HTTP_PORT/accounts/7"
  api -u alice:alice123 -d '{"amount":"25.50"}' "http://127.0.0.1:$HTTP_PORT/accounts/7/deposits"
  api -u alice:alice123 -d '{"from":7,"to":8,"amount":"5"}' "http://127.0.0.1:$HTTP_PORT/transfers"
  api -u alice:alice123 -d '{"amount":"99999999"}' "http://127.0.0.1:$HTTP_PORT/accounts/7/withdrawals"
  api -u alice:alice123 "http://127.0.0.1:$HTTP_PORT/accounts/7/statement?page=1"
  api "http://127.0.0.1:$HTTP_PORT/health"
  printf '$ curl http://127.0.0.1:%s/metrics | grep INQ\n' "$HTTP_PORT"
  curl -sS "http://127.0.0.1:$HTTP_PORT/metrics" | grep 'tranid="INQ"' | tail -4
else
  echo "(curl is not installed: skipped)"
fi

# ---- 6. The audit ---------------------------------------------------------------
say "6. the audit: AUDT as bob"
term --script audit.script | tr -d '\r' | tee "$DEMO/audit.txt"
AUDIT_OK=0
grep -q "AUDIT OK" "$DEMO/audit.txt" && AUDIT_OK=1

# ---- 7. Shutdown ------------------------------------------------------------------
say "7. SHUTDOWN on the console"
weftd_stop
[ -s "$DEMO/gnuplot.err" ] || rm -f "$DEMO/gnuplot.err"
tail -n 4 "$DEMO/weftd.log"

# ---- Summary ------------------------------------------------------------------------
say "summary"
python3 - "$DEMO/load.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
print(f"load:     {j['terminals']} terminals, {j['duration_s']:g} s: {j['count']} responses, "
      f"{j['tps']:.1f} tps, p50 {j['p50_ms']:.2f} ms, p99 {j['p99_ms']:.2f} ms, "
      f"{j['errors']} unexpected errors")
for name, e in sorted(j.get("per_enclave", {}).items()):
    print(f"  enclave {name:8} {e['count']:7} responses {e['tps']:8.1f} tps  "
          f"p90 {e['p90_ms']:7.2f} ms  p99 {e['p99_ms']:7.2f} ms")
EOF
echo "audit:    $([ $AUDIT_OK = 1 ] && echo "AUDIT OK" || echo "FAILED")"
echo "weftd:    exit $WEFTD_RC ($DEMO/weftd.log)"
echo "weftload: exit $LOAD_RC"
echo "3270:     $([ $T3270_RC = 0 ] && echo "screens as expected" || echo "FAILED") ($DEMO/demo-3270.txt)"

fail=0
[ "$LOAD_RC" = 0 ] || { echo "demo: weftload reported unexpected errors (exit $LOAD_RC)" >&2; fail=1; }
[ $AUDIT_OK = 1 ] || { echo "demo: the audit failed" >&2; fail=1; }
[ $T3270_RC = 0 ] || { echo "demo: the 3270 session failed" >&2; fail=1; }
[ "$WEFTD_RC" = 0 ] || { echo "demo: weftd exited $WEFTD_RC" >&2; fail=1; }
[ $fail = 0 ] && echo "demo: every step worked"
exit $fail
