#!/usr/bin/env bash
# Cross-build GNU libmicrohttpd (the HTTP library of weftd's listener,
# docs/http.md) for x86_64-w64-mingw32 from Debian's source package: the
# orig tarball via deb-src, configured without TLS (no GnuTLS: weftd serves
# plain HTTP on loopback; put a TLS proxy in front for more), installed as a
# static library into $PREFIX (.deps/mhd by default). About a minute.
set -euo pipefail

ROOT=$PWD
WORK=${WORK:-$ROOT/.deps/mhd-build}  # scratch dir (deleted and recreated)
PREFIX=${PREFIX:-$ROOT/.deps/mhd}    # install prefix
TARBALLS=${TARBALLS:-$ROOT/.deps/src}
JOBS=${JOBS:-2}
VERSION=0.9.75
TARBALL=libmicrohttpd_$VERSION.orig.tar.xz

export DEBIAN_FRONTEND=noninteractive
mkdir -p "$TARBALLS"
if [ ! -f "$TARBALLS/$TARBALL" ]; then
  if ! grep -rqsE '^(deb-src|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    # a deb-src entry from the machine's own binary sources (same mirror)
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
      sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
        >/etc/apt/sources.list.d/weft-deb-src.sources
    else
      sed -n 's/^deb /deb-src /p' /etc/apt/sources.list >/etc/apt/sources.list.d/weft-deb-src.list
    fi
    apt-get update >/dev/null
  fi
  # the debian.tar.xz part is not needed (its patches are for Debian's build)
  (cd "$TARBALLS" && apt-get source --download-only libmicrohttpd >/dev/null 2>&1 || true)
fi
if [ ! -f "$TARBALLS/$TARBALL" ]; then
  echo "build-mhd-mingw.sh: $TARBALL not found (apt-get source libmicrohttpd failed;" \
    "is a deb-src entry for bookworm configured?)" >&2
  exit 1
fi

rm -rf "$WORK"
mkdir -p "$WORK"
cd "$WORK"
tar xJf "$TARBALLS/$TARBALL"
cd libmicrohttpd-$VERSION
# Static only: weftd links it in, so nothing has to sit next to weftd.exe.
./configure --host=x86_64-w64-mingw32 --prefix="$PREFIX" \
  --enable-static --disable-shared --disable-https --without-gnutls \
  --disable-curl --disable-doc --disable-examples --disable-tools \
  --enable-itc=socketpair >configure.log 2>&1 ||
  { tail -30 configure.log >&2; exit 1; }
make -j"$JOBS" -C src/microhttpd >make.log 2>&1 || { tail -30 make.log >&2; exit 1; }
make -C src/microhttpd install >>make.log 2>&1
make -C src/include install >>make.log 2>&1
test -f "$PREFIX/lib/libmicrohttpd.a" && test -f "$PREFIX/include/microhttpd.h"
echo "libmicrohttpd $VERSION for MinGW installed in $PREFIX"
