#!/usr/bin/env bash
# tests/consumer/load_run.sh BUILD_DIR WORK_DIR CC DEFAULTS_FILE [EXTRA_FLAGS [MYSQL_PC_MODULE]]
#
# Installs the build into WORK_DIR/prefix, then builds
# tests/consumer/load_consumer.c against the installed loader layer only:
# with `pkg-config dbfork-load` and with find_package(dbfork) + dbfork::load
# (shared) and dbfork::load_static, and runs each against the test server
# (DEFAULTS_FILE: its option file), which must end with an exact table.
set -euo pipefail
BUILD=$1
WORK=$2
CC=$3
CNF=$4
EXTRA=${5:-}
MYSQL_PC=${6:-libmariadb}
HERE=$(cd "$(dirname "$0")" && pwd)
PREFIX=$WORK/prefix
step() { echo "== $*"; }

rm -rf "$WORK"
mkdir -p "$WORK"
step "cmake --install $BUILD --prefix $PREFIX"
cmake --install "$BUILD" --prefix "$PREFIX" >"$WORK/install.log"
[ -f "$PREFIX/include/dbfork/load.h" ] || { echo "dbfork/load.h not installed"; exit 1; }
LIBDIR=$(dirname "$(find "$PREFIX" -name 'libdbfork-load.so' | head -n1)")
PCDIR=$(dirname "$(find "$PREFIX" -name dbfork-load.pc | head -n1)")
[ -f "$LIBDIR/libdbfork-load.a" ] || { echo "libdbfork-load.a not installed"; exit 1; }

uses_installed() {
  local lib
  for lib in $(LD_LIBRARY_PATH=$LIBDIR ldd "$1" | awk '/libdbfork/ {print $3}'); do
    case "$lib" in
      "$PREFIX"/*) echo "$1 uses $lib" ;;
      *) echo "$1 links $lib, not from $PREFIX"; exit 1 ;;
    esac
  done
}

step "pkg-config dbfork-load with PKG_CONFIG_PATH=$PCDIR"
export PKG_CONFIG_PATH=$PCDIR
echo "cflags/libs: $(pkg-config --cflags --libs dbfork-load)"
# shellcheck disable=SC2046,SC2086
"$CC" $EXTRA -Wall -Werror "$HERE/load_consumer.c" -o "$WORK/load-consumer-pc" \
  $(pkg-config --cflags --libs dbfork-load "$MYSQL_PC")
uses_installed "$WORK/load-consumer-pc"
LD_LIBRARY_PATH=$LIBDIR "$WORK/load-consumer-pc" "$CNF" "$WORK"

step "find_package(dbfork) and dbfork::load with CMAKE_PREFIX_PATH=$PREFIX"
cmake -S "$HERE/load_project" -B "$WORK/cmake-build" -DCMAKE_PREFIX_PATH="$PREFIX" \
  -DCMAKE_C_COMPILER="$CC" -DCMAKE_C_FLAGS="$EXTRA" -DCMAKE_EXE_LINKER_FLAGS="$EXTRA" \
  -DCMAKE_BUILD_TYPE=Release >"$WORK/cmake-configure.log" || {
  cat "$WORK/cmake-configure.log"
  exit 1
}
cmake --build "$WORK/cmake-build" || exit 1
uses_installed "$WORK/cmake-build/load_consumer"
LD_LIBRARY_PATH=$LIBDIR "$WORK/cmake-build/load_consumer" "$CNF" "$WORK"
if ldd "$WORK/cmake-build/load_consumer_static" | grep -q libdbfork; then
  echo "load_consumer_static links a libdbfork shared library"
  exit 1
fi
"$WORK/cmake-build/load_consumer_static" "$CNF" "$WORK"
echo "install.load_consumer: ok"
