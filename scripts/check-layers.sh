#!/usr/bin/env bash
# check-layers.sh - the one-way layering rules of docs/design.md, checked:
#   tools/, samples/ -> db/ -> txn/; bms/, web/ -> runtime/ -> runtime/win/
#   1. no file in runtime/ names a symbol declared in txn/*.h;
#   2. txn/ and bms/ include no runtime header but runtime/types.h,
#      runtime/taskapi.h and runtime/abi.h (struct sizes across ABI versions:
#      weft.h only), and neither includes the other;
#   2b. web/ (the HTTP subsystem) includes no runtime header but types.h,
#       taskapi.h and subsys.h, nothing of txn/, lib/, tools/, samples/; txn/
#       and runtime/ include nothing of web/, and runtime/ names none of its
#       symbols;
#   3. nothing outside runtime/win/ includes <windows.h> or calls the MS CRT's
#      _aligned_malloc/_aligned_free;
#   4. runtime/, txn/ and bms/ include nothing from lib/, tools/, samples/;
#   5. runtime/prim.h compiles alone (when a C compiler is given as $1);
#   6. db/ (ODBC data sources) includes of runtime/ only types.h, taskapi.h
#      and abi.h, of txn/ only txn.h; only db/odbc.c includes the ODBC
#      headers (<windef.h>, <sql.h>, <sqlext.h>) and loads odbc32.dll
#      (<libloaderapi.h>, <synchapi.h>), nothing in db/ <windows.h>;
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
while IFS= read -r line; do
  case "$line" in
    *'"runtime/types.h"'* | *'"runtime/taskapi.h"'* | *'"runtime/abi.h"'*) ;;
    *) breach "bms/ includes more than types.h, taskapi.h and abi.h: $line" ;;
  esac
done < <(grep -HnE '#include "runtime/' bms/*.c bms/*.h)
while IFS= read -r line; do
  breach "txn/ and bms/ include each other: $line"
done < <(grep -HnE '#include "bms/' txn/*.c txn/*.h; grep -HnE '#include "txn/' bms/*.c bms/*.h)

# 2b. web/'s view of the runtime and of txn/.
while IFS= read -r line; do
  case "$line" in
    *'"runtime/types.h"'* | *'"runtime/taskapi.h"'* | *'"runtime/subsys.h"'*) ;;
    *) breach "web/ includes more than types.h, taskapi.h and subsys.h: $line" ;;
  esac
done < <(grep -HnE '#include "runtime/' web/*.c web/*.h)
while IFS= read -r line; do
  breach "web/ and txn/ name each other: $line"
done < <(grep -HnE '#include "(txn|lib|tools|samples)/' web/*.c web/*.h; grep -HnE '#include "web/' txn/*.c txn/*.h runtime/*.c runtime/*.h)
for s in $(grep -hoE '\bweft__web_[A-Za-z0-9_]+' web/*.h | sort -u); do
  hits=$(grep -rlw "$s" runtime/ 2>/dev/null)
  [ -n "$hits" ] && breach "runtime/ names web/'s $s: $hits"
done

# 3. Platform calls stay behind runtime/prim.h.
while IFS= read -r f; do
  breach "platform code outside runtime/win/: $f"
done < <(grep -lE '#include <(windows|malloc|io|direct)\.h>|(^|[^A-Za-z0-9_])_aligned_(malloc|free)\(' \
  runtime/*.c runtime/*.h txn/*.c txn/*.h bms/*.c bms/*.h web/*.c web/*.h lib/*.c 2>/dev/null)

# 4. Nothing below calls up.
while IFS= read -r line; do
  breach "a lower layer includes a higher one: $line"
done < <(grep -HnE '#include "(lib|tools|samples|txn|bms)/' runtime/*.c runtime/*.h runtime/win/*.c)
while IFS= read -r line; do
  breach "txn/ includes a higher layer: $line"
done < <(grep -HnE '#include "(lib|tools|samples)/' txn/*.c txn/*.h bms/*.c bms/*.h)

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
      db/odbc.c:*'<windef.h>'* | db/odbc.c:*'<sql.h>'* | db/odbc.c:*'<sqlext.h>'* | \
        db/odbc.c:*'<libloaderapi.h>'* | db/odbc.c:*'<synchapi.h>'*) ;;
      *) breach "platform or ODBC header outside db/odbc.c: $line" ;;
    esac
  done < <(grep -HnE '#include <(windows|windef|sql|sqlext|sqltypes|libloaderapi|synchapi|malloc|io|direct)\.h>' db/*.c db/*.h)
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
