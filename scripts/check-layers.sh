#!/usr/bin/env bash
# check-layers.sh - the one-way layering rules of docs/design.md, checked:
#   tools/, samples/ -> db/ -> txn/ -> runtime/ -> runtime/win/
#   1. no file in runtime/ names a symbol declared in txn/*.h;
#   2. txn/ includes no runtime header but runtime/types.h, runtime/taskapi.h and
#      runtime/abi.h (struct sizes across ABI versions: weft.h only);
#   3. nothing outside runtime/win/ includes <windows.h> or calls the MS CRT's
#      _aligned_malloc/_aligned_free;
#   4. runtime/ and txn/ include nothing from lib/, tools/, samples/;
#   5. runtime/prim.h compiles alone (when a C compiler is given as $1);
#   6. db/ (ODBC data sources) includes of runtime/ only types.h, taskapi.h
#      and abi.h, of txn/ only txn.h; only db/odbc.c includes the ODBC
#      headers (<windef.h>, <sql.h>, <sqlext.h>), nothing in db/ <windows.h>;
#      runtime/ and txn/ neither include db/ nor name a symbol of db/db.h.
# Prints each breach and exits 1 if there is one. Run from anywhere.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2
fail=0
breach() { printf 'layers: %s\n' "$*"; fail=1; }

# 1. Identifiers txn/ declares: functions, types, macros, enumerators.
syms=$(grep -hoE '\b(weft__[A-Za-z0-9_]+|WEFT__[A-Z0-9_]+)\b' txn/*.h | sort -u)
for s in $syms; do
  # Only the ones txn/ itself declares (not runtime names it merely uses).
  if grep -qE "^(typedef|struct|enum|#define|[A-Za-z_].*[ *])$s\b|^  $s\b|^  $s =|^  $s,|} $s;" txn/*.h &&
    ! grep -qwE "$s" runtime/types.h runtime/taskapi.h runtime/subsys.h runtime/prim.h; then
    hits=$(grep -rlw "$s" runtime/ 2>/dev/null)
    [ -n "$hits" ] && breach "runtime/ names txn/'s $s: $hits"
  fi
done

# 2. txn/'s view of the runtime.
while IFS= read -r line; do
  case "$line" in
    *'"runtime/types.h"'* | *'"runtime/taskapi.h"'* | *'"runtime/abi.h"'*) ;;
    *) breach "txn/ includes more than types.h, taskapi.h and abi.h: $line" ;;
  esac
done < <(grep -HnE '#include "runtime/' txn/*.c txn/*.h)

# 3. Platform calls stay behind runtime/prim.h.
while IFS= read -r f; do
  breach "platform code outside runtime/win/: $f"
done < <(grep -lE '#include <(windows|malloc|io|direct)\.h>|(^|[^A-Za-z0-9_])_aligned_(malloc|free)\(' \
  runtime/*.c runtime/*.h txn/*.c txn/*.h lib/*.c 2>/dev/null)

# 4. Nothing below calls up.
while IFS= read -r line; do
  breach "a lower layer includes a higher one: $line"
done < <(grep -HnE '#include "(lib|tools|samples|txn)/' runtime/*.c runtime/*.h runtime/win/*.c)
while IFS= read -r line; do
  breach "txn/ includes a higher layer: $line"
done < <(grep -HnE '#include "(lib|tools|samples)/' txn/*.c txn/*.h)

# 5. prim.h is the whole platform contract: it compiles on its own.
if [ $# -ge 1 ] && [ -n "$1" ]; then
  printf '#include "runtime/prim.h"\n' | "$1" -std=c11 -Wall -Werror -fsyntax-only -I"$ROOT" -x c - ||
    breach "runtime/prim.h does not compile alone"
fi

# 6. db/ sits above txn/.
if [ -d db ]; then
  while IFS= read -r line; do
    case "$line" in
      *'"runtime/types.h"'* | *'"runtime/taskapi.h"'* | *'"runtime/abi.h"'* | *'"txn/txn.h"'*) ;;
      *) breach "db/ includes more of runtime/ or txn/ than types.h, taskapi.h, abi.h, txn.h: $line" ;;
    esac
  done < <(grep -HnE '#include "(runtime|txn)/' db/*.c db/*.h)
  while IFS= read -r line; do
    breach "db/ includes a higher layer: $line"
  done < <(grep -HnE '#include "(lib|tools|samples)/' db/*.c db/*.h)
  while IFS= read -r line; do
    case "$line" in
      db/odbc.c:*'<windef.h>'* | db/odbc.c:*'<sql.h>'* | db/odbc.c:*'<sqlext.h>'*) ;;
      *) breach "platform or ODBC header outside db/odbc.c: $line" ;;
    esac
  done < <(grep -HnE '#include <(windows|windef|sql|sqlext|sqltypes|malloc|io|direct)\.h>' db/*.c db/*.h)
  while IFS= read -r line; do
    breach "runtime/ or txn/ includes db/: $line"
  done < <(grep -HnE '#include "db/' runtime/*.c runtime/*.h runtime/win/*.c txn/*.c txn/*.h)
  dbsyms=$(grep -hoE '\bweft__(db|dbsrc|dbtask|dbwaiter|pool|odbc|rm_setup|gid|owed)[A-Za-z0-9_]*\b' db/db.h | sort -u)
  for s in $dbsyms; do
    hits=$(grep -rlw "$s" runtime/ txn/ 2>/dev/null)
    [ -n "$hits" ] && breach "runtime/ or txn/ names db/'s $s: $hits"
  done
fi

[ $fail = 0 ] && echo "layers: the layering rules hold"
exit $fail
