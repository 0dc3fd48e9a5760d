#!/usr/bin/env bash
# Weft build driver for Linux (cross-build with MinGW-w64, run under Wine).
# Usage: ./build.sh {deps|build|test|bench|demo} [args...]
#   deps   install what a fresh Debian machine lacks (apt-get + Criterion for MinGW)
#   build  configure and build into ./build (runs deps first if anything is missing)
#   test   build and run every Criterion test through ctest under Wine, twice:
#          the release configuration (./build) and then, if that passed, the
#          WEFT_DEBUG=2 configuration with the ownership assertions on
#          (./build-debug); WEFT_TEST_CONFIGS="release" (or "debug") runs one
#   bench  build, then run the benchmarks; JSON lands in build/bench/
#          (DebitCredit: DC_SCALE, DC_CLIENTS, DC_SECONDS, DC_ROUNDS set both
#          bench_debitcredit and scripts/pgbench.sh, which runs just before it;
#          then scripts/bench-region.sh: weftd with the bank under weftload,
#          and scripts/bench-netbase.sh: the baseline servers of bench/netbase.c;
#          DebitCredit on PostgreSQL, Weft on ODBC vs pgbench at 8 and 200
#          terminals: scripts/bench-dcpg.sh, DCPG_SECONDS, DCPG_ROUNDS, DC_SCALE)
#   demo   build, then run the demo: weftd serving the sample bank to a
#          scripted terminal and 50 simulated ones (scripts/demo.sh)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DEPS=$ROOT/.deps
BUILD=${WEFT_BUILD_DIR:-$ROOT/build}
BUILD_DEBUG=${WEFT_DEBUG_BUILD_DIR:-$ROOT/build-debug}
CRITERION_PREFIX=$DEPS/criterion
MHD_PREFIX=$DEPS/mhd # libmicrohttpd for MinGW: weftd's HTTP listener (docs/http.md)
export WINEPREFIX=${WINEPREFIX:-$DEPS/wineprefix}
export WINEDEBUG=-all
export WINEDLLOVERRIDES="winedbg.exe=d;mscoree,mshtml="
APT_PACKAGES="gcc-mingw-w64-x86-64 g++-mingw-w64-x86-64 wine wine64 cmake ninja-build \
meson pkgconf python3 patch ca-certificates gnuplot-nox s3270 prometheus \
unixodbc odbc-postgresql postgresql chromium chromium-driver"
# chromium and chromium-driver: the web console's browser test
# (tests/http/test_console.py, docs/console.md).
# db/'s tests (tests/db/pgtest.sh) and the DebitCredit benchmark's pgbench
# need PostgreSQL; Wine's odbc32.dll reaches it through the host's unixODBC
# and psqlODBC (docs/odbc.md).
APT_OPTIONAL=""

log() { printf '== %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# True when every tool and library the other verbs need is present.
deps_ok() {
  command -v x86_64-w64-mingw32-gcc >/dev/null &&
    command -v wine >/dev/null && command -v cmake >/dev/null &&
    command -v ninja >/dev/null && command -v s3270 >/dev/null &&
    command -v promtool >/dev/null &&
    command -v chromium >/dev/null && command -v chromedriver >/dev/null &&
    [ -f "$CRITERION_PREFIX/bin/libcriterion-3.dll" ] &&
    [ -f "$MHD_PREFIX/lib/libmicrohttpd.a" ] &&
    [ -f "$WINEPREFIX/system.reg" ] &&
    command -v odbcinst >/dev/null && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}

cmd_deps() {
  log "installing Debian packages: $APT_PACKAGES"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  # shellcheck disable=SC2086
  as_root apt-get install -y -qq --no-install-recommends $APT_PACKAGES >/dev/null
  # shellcheck disable=SC2086
  [ -z "$APT_OPTIONAL" ] ||
    as_root apt-get install -y -qq --no-install-recommends $APT_OPTIONAL >/dev/null ||
    log "could not install $APT_OPTIONAL"
  if [ ! -f "$CRITERION_PREFIX/bin/libcriterion-3.dll" ]; then
    log "building Criterion for MinGW from Debian sources into $CRITERION_PREFIX"
    (cd "$ROOT" && as_root env PREFIX="$CRITERION_PREFIX" WORK="$DEPS/criterion-build" \
      TARBALLS="$DEPS/src" WINEPREFIX="$WINEPREFIX" bash scripts/build-criterion-mingw.sh)
  fi
  if [ ! -f "$MHD_PREFIX/lib/libmicrohttpd.a" ]; then
    log "building libmicrohttpd for MinGW from Debian sources into $MHD_PREFIX"
    (cd "$ROOT" && as_root env PREFIX="$MHD_PREFIX" WORK="$DEPS/mhd-build" \
      TARBALLS="$DEPS/src" bash scripts/build-mhd-mingw.sh)
  fi
  wine_prefix
  log "dependencies ready"
}

# Create the Wine prefix once; wineboot returns before the prefix is written.
wine_prefix() {
  if [ ! -f "$WINEPREFIX/system.reg" ]; then
    log "initialising Wine prefix $WINEPREFIX"
    wineboot -i >/dev/null 2>&1 || true
    wineserver -w || true
  fi
}

ensure_deps() { deps_ok || cmd_deps; }

# configure_and_build DIR DEBUG_LEVEL: one configuration of the tree.
configure_and_build() {
  cmake -S "$ROOT" -B "$1" -G Ninja \
    -DCMAKE_TOOLCHAIN_FILE="$ROOT/cmake/mingw-w64-x86_64.cmake" \
    -DCMAKE_BUILD_TYPE="${WEFT_BUILD_TYPE:-RelWithDebInfo}" \
    -DWEFT_DEBUG="$2" \
    -DCMAKE_PREFIX_PATH="$CRITERION_PREFIX" -DWEFT_MHD_PREFIX="$MHD_PREFIX" >/dev/null
  cmake --build "$1" -j"$(nproc)"
}

cmd_build() {
  ensure_deps
  configure_and_build "$BUILD" 1
}

# Each configuration builds, then runs the whole suite; a failing one stops
# the verb there, so the output always ends with the summary of the ctest
# run whose exit code the verb returns.
cmd_test() {
  ensure_deps
  wine_prefix
  local c dir level start prev=""
  for c in ${WEFT_TEST_CONFIGS:-release debug}; do
    # The previous configuration's time goes here: nothing follows the last
    # ctest summary (ctest prints its own total).
    [ -n "$prev" ] && log "$prev tests ran in $((SECONDS - start)) s"
    case "$c" in
      release) dir=$BUILD level=1 ;;
      debug) dir=$BUILD_DEBUG level=2 ;;
      *) echo "WEFT_TEST_CONFIGS: unknown configuration $c" >&2; exit 2 ;;
    esac
    start=$SECONDS
    configure_and_build "$dir" "$level"
    log "$c (WEFT_DEBUG=$level, $dir) built in $((SECONDS - start)) s; running its tests under Wine"
    start=$SECONDS
    ctest --test-dir "$dir" -j2 --output-on-failure "$@" || exit $?
    prev=$c
  done
}

cmd_bench() {
  cmd_build
  mkdir -p "$BUILD/bench"
  for b in "$BUILD"/bin/bench_*.exe; do
    if [ "$(basename "$b")" = bench_debitcredit.exe ]; then
      bench_debitcredit "$b" "$@"
      continue
    fi
    [ "$(basename "$b")" = bench_netbase.exe ] && continue # a server: bench-netbase.sh runs it
    if [ "$(basename "$b")" = bench_db.exe ]; then # needs a database: pgtest.sh gives it one
      log "running bench_db through tests/db/pgtest.sh"
      (cd "$BUILD/bench" && bash "$ROOT/tests/db/pgtest.sh" wine "$b") || log "bench_db failed"
      continue
    fi
    if [ "$(basename "$b")" = bench_dcpg.exe ]; then
      bench_dcpg "$b" "$@"
      continue
    fi
    log "running $(basename "$b")"
    (cd "$BUILD/bench" && wine "$b" "$@")
  done
  plot_enclaves
  log "running scripts/bench-region.sh (weftd + the bank at 10, 50, 200 terminals)"
  bash "$ROOT/scripts/bench-region.sh" || log "the region benchmark failed"
  log "running scripts/bench-netbase.sh (the terminal path's baseline servers, no region)"
  bash "$ROOT/scripts/bench-netbase.sh" || log "the network baseline benchmark failed"
}

# DebitCredit against PostgreSQL: pgbench is a Linux program that a Windows
# program under Wine cannot run, so scripts/pgbench.sh runs it here, right
# before bench_debitcredit, with the same scale, clients, duration and
# rounds; bench_debitcredit reads its pgbench.json. --quick makes both short.
bench_debitcredit() {
  local exe=$1
  shift
  local scale=${DC_SCALE:-1} clients=${DC_CLIENTS:-8} seconds=${DC_SECONDS:-10}
  local rounds=${DC_ROUNDS:-3} a
  for a in "$@"; do
    if [ "$a" = --quick ]; then seconds=2 rounds=1; fi
  done
  if ! ls /usr/lib/postgresql/*/bin/pgbench >/dev/null 2>&1; then
    log "PostgreSQL is missing: installing it (./build.sh deps)"
    cmd_deps
  fi
  rm -f "$BUILD/bench/pgbench.json"
  log "running scripts/pgbench.sh (scale $scale, $clients clients, $rounds x $seconds s)"
  (cd "$BUILD/bench" && bash "$ROOT/scripts/pgbench.sh" --scale "$scale" --clients "$clients" \
    --seconds "$seconds" --rounds "$rounds" --out pgbench.json --workdir pgbench-work) ||
    log "scripts/pgbench.sh failed: bench_debitcredit reports no pgbench figures"
  log "running $(basename "$exe")"
  (cd "$BUILD/bench" && wine "$exe" --scale "$scale" --clients "$clients" --seconds "$seconds" \
    --rounds "$rounds" --pgbench-json pgbench.json --json debitcredit.json)
}

# DebitCredit on PostgreSQL (bench/dcpg.c): scripts/bench-dcpg.sh starts a
# throwaway cluster and interleaves bench_dcpg with pgbench at 8 terminals on
# 8 connections and 200 terminals on 8 connections; debitcredit_pg.json.
bench_dcpg() {
  local exe=$1
  shift
  local scale=${DC_SCALE:-1} seconds=${DCPG_SECONDS:-15} rounds=${DCPG_ROUNDS:-3} a
  for a in "$@"; do
    if [ "$a" = --quick ]; then seconds=3 rounds=1; fi
  done
  log "running scripts/bench-dcpg.sh (scale $scale, $rounds x $seconds s per side and configuration)"
  (cd "$BUILD/bench" && bash "$ROOT/scripts/bench-dcpg.sh" --exe "$exe" --scale "$scale" \
    --seconds "$seconds" --rounds "$rounds" --out debitcredit_pg.json) ||
    log "scripts/bench-dcpg.sh failed: no debitcredit_pg.json"
}

# bench_enclaves writes its timeline and a gnuplot script; a Windows program
# under Wine cannot run the host's gnuplot, so the plot is drawn here.
plot_enclaves() {
  [ -f "$BUILD/bench/enclaves.gp" ] || return 0
  if ! command -v gnuplot >/dev/null; then
    log "gnuplot is missing (./build.sh deps installs gnuplot-nox): no enclave plot"
    return 0
  fi
  log "plotting the enclave timeline with gnuplot"
  (cd "$BUILD/bench" && gnuplot enclaves.gp) || log "gnuplot failed: no enclave plot"
}

# The whole system: weftd with the sample bank, a scripted terminal session,
# 50 simulated terminals for 20 s, the audit, a clean shutdown
# (scripts/demo.sh; docs/tour.md walks through it).
cmd_demo() {
  cmd_build
  wine_prefix
  bash "$ROOT/scripts/demo.sh" "$@"
}

verb=${1:-}
[ $# -gt 0 ] && shift
case "$verb" in
  deps) cmd_deps ;;
  build) cmd_build ;;
  test) cmd_test "$@" ;;
  bench) cmd_bench "$@" ;;
  demo) cmd_demo "$@" ;;
  *) echo "usage: $0 {deps|build|test|bench|demo}" >&2; exit 2 ;;
esac
