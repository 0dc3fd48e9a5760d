# bank-region.sh - sourced by scripts/demo.sh and scripts/bench-region.sh:
# weftd serving the sample bank in a directory of its own, under Wine.
#
# The caller sets BIN (build/bin) and defines die(). Functions:
#   bank_prepare DIR PORT  the bank's definition on PORT, bank.dll, the mix,
#                          the demo script and the audit/seed-check scripts
#   weftd_start DIR        weftd bank.wrd in DIR, its console on fd 3 (a
#                          FIFO), its log DIR/weftd.log; returns once it
#                          listens and the bank's STARTUP seed has finished;
#                          an EXIT trap stops it if the caller fails
#   term ARGS...           weftterm on PORT
#   weftd_stop             SHUTDOWN on the console; WEFTD_RC gets its exit

bank_prepare() {
  local dir=$1
  PORT=$2
  rm -rf "$dir"
  mkdir -p "$dir"
  HTTP_PORT=${HTTP_PORT:-$((PORT + 1))} # the bank's JSON API (docs/http.md)
  TN_PORT=${TN_PORT:-$((PORT + 2))}     # its 3270 screens (docs/tn3270.md)
  sed "s/tn3270_listen=127\.0\.0\.1:3271/tn3270_listen=127.0.0.1:$TN_PORT/; s/ listen=127\.0\.0\.1:3270/ listen=127.0.0.1:$PORT/; s/listen=127\.0\.0\.1:8080/listen=127.0.0.1:$HTTP_PORT/" \
    "$BIN/bank.wrd" >"$dir/bank.wrd"
  grep -q "listen=127.0.0.1:$PORT" "$dir/bank.wrd" || die "bank.wrd has no listen=127.0.0.1:3270 to change"
  cp "$BIN/bank.dll" "$BIN/bank.mix" "$BIN/demo.script" "$dir/"
  printf 'SIGNON bob bob123\nAUDT\n' >"$dir/audit.script"
  printf 'SIGNON bob bob123\nINQ 1000\n' >"$dir/seeded.script"
}

term() { wine "$BIN/weftterm.exe" --port "$PORT" "$@"; }

# shellcheck disable=SC2317  # called by the EXIT trap
weftd_cleanup() {
  if kill -0 "$WEFTD" 2>/dev/null; then
    echo "stopping weftd (pid $WEFTD)" >&2
    echo "SHUTDOWN IMMEDIATE" >&3 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$WEFTD" 2>/dev/null || break; sleep 0.25; done
    kill "$WEFTD" 2>/dev/null || true
  fi
}

weftd_start() {
  WEFTD_DIR=$1
  mkfifo "$WEFTD_DIR/console"
  exec 3<>"$WEFTD_DIR/console" # held open: weftd's stdin ends only when we say so
  cd "$WEFTD_DIR"
  wine "$BIN/weftd.exe" bank.wrd <console >weftd.out 2>weftd.log &
  WEFTD=$!
  trap weftd_cleanup EXIT
  for _ in $(seq 1 600); do # until it listens (or ends), 60 s at most
    grep -q "ready: listening" weftd.log 2>/dev/null && break
    kill -0 "$WEFTD" 2>/dev/null || { cat weftd.log >&2; die "weftd ended at start"; }
    sleep 0.1
  done
  grep -q "ready: listening" weftd.log || { cat weftd.log >&2; die "weftd does not listen"; }
  local seeded=0 out
  for _ in $(seq 1 300); do # the STARTUP seed (BSED, 1000 accounts)
    out=$(term --quiet --script seeded.script 2>/dev/null | tr -d '\r' || true)
    case $out in *"ACCOUNT 1000 "*) seeded=1; break ;; esac
    sleep 0.2
  done
  [ $seeded = 1 ] || { cat weftd.log >&2; die "the seed (STARTUP BSED 1000) did not finish"; }
}

weftd_stop() {
  echo "SHUTDOWN" >&3
  set +e
  wait "$WEFTD"
  WEFTD_RC=$?
  set -e
  trap - EXIT
  exec 3>&-
  rm -f "$WEFTD_DIR/console"
}
