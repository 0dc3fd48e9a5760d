# netbase-lib.sh - sourced by bench-netbase.sh and bench-region.sh: one run
# of a baseline server of bench/netbase.c under weftload --raw.
#
# Needs BIN (the build's bin/) and die(); the caller exports WINEPREFIX etc.
#   netbase_run MODE THREADS TERMINALS SECONDS WARMUP OUTDIR
#       starts bench_netbase.exe --mode MODE on a free port, drives it with
#       weftload --raw at TERMINALS connections, stops it (a STOP line) and
#       leaves weftload's JSON in OUTDIR/netbase-MODE-THREADS-TERMINALS.json
#       and the server's call counts in the .calls file next to it; prints
#       the tps on stdout.

NETBASE_REQUEST="INQ 0000000042 a request of about the size of a bank inquiry"

netbase_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Sends "STOP" to the server on port $1 (it exits at once).
netbase_stop() {
  python3 - "$1" <<'EOF' || true
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"STOP\n")
s.close()
EOF
}

netbase_run() {
  local mode=$1 threads=$2 n=$3 secs=$4 warm=$5 dir=$6
  local port base server rc
  port=$(netbase_free_port)
  base="$dir/netbase-$mode-$threads-$n"
  wine "$BIN/bench_netbase.exe" --mode "$mode" --threads "$threads" --port "$port" \
    --max-seconds $((secs + warm + 120)) >"$base.calls" 2>"$base.err" &
  server=$!
  for _ in $(seq 1 300); do
    grep -q "listening" "$base.calls" 2>/dev/null && break
    kill -0 "$server" 2>/dev/null || { cat "$base.err" >&2; die "bench_netbase ($mode) ended at start"; }
    sleep 0.1
  done
  set +e
  wine "$BIN/weftload.exe" --raw "$NETBASE_REQUEST" --port "$port" --terminals "$n" \
    --duration "$secs" --warmup "$warm" --quiet --json "$base.json" >"$base.txt" 2>"$base.lerr"
  rc=$?
  set -e
  netbase_stop "$port"
  wait "$server" || true
  [ -f "$base.json" ] || { cat "$base.lerr" >&2; die "weftload --raw ($mode, $n) wrote no JSON (exit $rc)"; }
  [ $rc = 0 ] || { printf 'netbase: warning: weftload --raw (%s, %s) exited %s:\n' "$mode" "$n" "$rc" >&2; head -3 "$base.lerr" >&2; }
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tps"])' "$base.json"
}
