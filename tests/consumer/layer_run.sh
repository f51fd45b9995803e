#!/usr/bin/env bash
# tests/consumer/layer_run.sh LAYER BUILD_DIR WORK_DIR CC DEFAULTS_FILE [EXTRA_FLAGS [MYSQL_PC_MODULE]]
#
# Installs the build into WORK_DIR/prefix, then builds
# tests/consumer/LAYER_consumer.c (LAYER: load or exec) against that
# installed layer only: with `pkg-config dbfork-LAYER` and with
# find_package(dbfork) + dbfork::LAYER (shared) and dbfork::LAYER_static
# (tests/consumer/LAYER_project), and runs each against the test server
# (DEFAULTS_FILE: its option file). The consumer program checks what the
# server ended with (load: an exact table; exec: every row changed once).
set -euo pipefail
L=$1
BUILD=$2
WORK=$3
CC=$4
CNF=$5
EXTRA=${6:-}
MYSQL_PC=${7:-libmariadb}
case "$L" in load | exec) ;; *) echo "layer_run.sh: LAYER '$L' is not load or exec" >&2; exit 2 ;; esac
HERE=$(cd "$(dirname "$0")" && pwd)
PREFIX=$WORK/prefix
step() { echo "== $*"; }

rm -rf "$WORK"
mkdir -p "$WORK"
step "cmake --install $BUILD --prefix $PREFIX"
cmake --install "$BUILD" --prefix "$PREFIX" >"$WORK/install.log"
[ -f "$PREFIX/include/dbfork/${L}.h" ] || { echo "dbfork/${L}.h not installed"; exit 1; }
LIBDIR=$(dirname "$(find "$PREFIX" -name "libdbfork-${L}.so" | head -n1)")
PCDIR=$(dirname "$(find "$PREFIX" -name dbfork-${L}.pc | head -n1)")
[ -f "$LIBDIR/libdbfork-${L}.a" ] || { echo "libdbfork-${L}.a not installed"; exit 1; }

uses_installed() {
  local lib
  for lib in $(LD_LIBRARY_PATH=$LIBDIR ldd "$1" | awk '/libdbfork/ {print $3}'); do
    case "$lib" in
      "$PREFIX"/*) echo "$1 uses $lib" ;;
      *) echo "$1 links $lib, not from $PREFIX"; exit 1 ;;
    esac
  done
}

step "pkg-config dbfork-${L} with PKG_CONFIG_PATH=$PCDIR"
export PKG_CONFIG_PATH=$PCDIR
echo "cflags/libs: $(pkg-config --cflags --libs dbfork-${L})"
# shellcheck disable=SC2046,SC2086
"$CC" $EXTRA -Wall -Werror "$HERE/${L}_consumer.c" -o "$WORK/${L}-consumer-pc" \
  $(pkg-config --cflags --libs dbfork-${L} "$MYSQL_PC")
uses_installed "$WORK/${L}-consumer-pc"
LD_LIBRARY_PATH=$LIBDIR "$WORK/${L}-consumer-pc" "$CNF" "$WORK"

step "find_package(dbfork) and dbfork::${L} with CMAKE_PREFIX_PATH=$PREFIX"
cmake -S "$HERE/layer_project" -B "$WORK/cmake-build" -DLAYER="$L" -DCMAKE_PREFIX_PATH="$PREFIX" \
  -DCMAKE_C_COMPILER="$CC" -DCMAKE_C_FLAGS="$EXTRA" -DCMAKE_EXE_LINKER_FLAGS="$EXTRA" \
  -DCMAKE_BUILD_TYPE=Release >"$WORK/cmake-configure.log" || {
  cat "$WORK/cmake-configure.log"
  exit 1
}
cmake --build "$WORK/cmake-build" || exit 1
uses_installed "$WORK/cmake-build/${L}_consumer"
LD_LIBRARY_PATH=$LIBDIR "$WORK/cmake-build/${L}_consumer" "$CNF" "$WORK"
if ldd "$WORK/cmake-build/${L}_consumer_static" | grep -q libdbfork; then
  echo "${L}_consumer_static links a libdbfork shared library"
  exit 1
fi
"$WORK/cmake-build/${L}_consumer_static" "$CNF" "$WORK"
echo "install.${L}_consumer: ok"
