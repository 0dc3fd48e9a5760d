#!/usr/bin/env bash
# pgtest.sh - run a test program of db/ (docs/odbc.md) against a throwaway
# PostgreSQL cluster of its own.
#
# Usage: tests/db/pgtest.sh EXE [ARGS...]
#
# Starts a cluster (initdb in a fresh directory under /tmp; TCP on a free
# loopback port; max_prepared_transactions=20; local connections trusted,
# TCP ones by password), makes the role `weft` (password `weftpw`) and runs
# `wine EXE ARGS...` with:
#   WEFT_PG_CONN      an ODBC connection string without credentials
#   WEFT_PG_USER, WEFT_PG_PASSWORD   the credentials
#   WEFT_PG_CTL       a directory through which the program asks this script
#                     to stop or start the server: it writes CMD.req (CMD is
#                     stop or start); the script does it and answers CMD.ack
# Then it stops the server by its pid and removes the cluster, whatever
# happened. Exits with the program's status; 77 (ctest's SKIP_RETURN_CODE)
# when PostgreSQL or the ODBC driver is not installed.
set -uo pipefail

[ $# -ge 1 ] || { echo "usage: $0 EXE [ARGS...]" >&2; exit 2; }
log() { printf '== pgtest.sh: %s\n' "$*" >&2; }

PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/initdb" ]; then
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

WORK=$(mktemp -d /tmp/weft-pgtest.XXXXXX)
chmod 755 "$WORK"
[ ${#RUNAS[@]} -eq 0 ] || chown "$user" "$WORK"
DATA=$WORK/data
CTL=$WORK/ctl
mkdir -p "$CTL"
chmod 777 "$CTL"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

pid=""
server_pid() { head -n 1 "$DATA/postmaster.pid" 2>/dev/null; }
stop_server() {
  pid=$(server_pid)
  [ -n "$pid" ] || return 0
  kill -INT "$pid" 2>/dev/null # fast shutdown
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || { pid=""; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null
  pid=""
}
start_server() {
  as_server "$PGBIN/pg_ctl" -D "$DATA" -l "$WORK/server.log" -w -t 60 start >/dev/null ||
    { cat "$WORK/server.log" >&2; return 1; }
  pid=$(server_pid)
}
cleanup() {
  stop_server
  [ -n "${ctl_pid:-}" ] && kill "$ctl_pid" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

printf 'pgpw\n' >"$WORK/pwfile"
chmod 644 "$WORK/pwfile"
as_server "$PGBIN/initdb" -D "$DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
  --pwfile="$WORK/pwfile" -E UTF8 --no-sync >"$WORK/initdb.log" 2>&1 ||
  { cat "$WORK/initdb.log" >&2; log "initdb failed"; exit 1; }
cat >>"$DATA/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$WORK'
max_prepared_transactions = 20
max_connections = 60
fsync = off
EOF
start_server || { log "the server did not start"; exit 1; }
log "PostgreSQL on 127.0.0.1:$PORT (pid $pid, $DATA)"
"$PGBIN/psql" -h "$WORK" -p "$PORT" -U postgres -d postgres -XAtq -v ON_ERROR_STOP=1 \
  -c "CREATE ROLE weft LOGIN PASSWORD 'weftpw'" -c "GRANT ALL ON SCHEMA public TO weft" ||
  { log "psql failed"; exit 1; }

# Requests from the program: stop or start the server.
(
  while :; do
    for req in "$CTL"/*.req; do
      [ -e "$req" ] || continue
      cmd=$(basename "$req" .req)
      rm -f "$req"
      case "$cmd" in
        stop) stop_server ;;
        start) start_server ;;
      esac
      log "server $cmd done"
      : >"$CTL/$cmd.ack"
    done
    sleep 0.1
  done
) &
ctl_pid=$!

export WEFT_PG_CONN="Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=$PORT;Database=postgres"
export WEFT_PG_USER=weft WEFT_PG_PASSWORD=weftpw
export WEFT_PG_CTL="Z:${CTL//\//\\}" # the same directory as Wine's Z: drive sees it
"$@"
rc=$?
kill "$ctl_pid" 2>/dev/null
wait "$ctl_pid" 2>/dev/null
ctl_pid=""
exit $rc
