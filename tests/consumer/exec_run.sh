#!/usr/bin/env bash
# tests/consumer/exec_run.sh BUILD_DIR WORK_DIR CC DEFAULTS_FILE [EXTRA_FLAGS [MYSQL_PC_MODULE]]
#
# Installs the build into WORK_DIR/prefix, then builds
# tests/consumer/exec_consumer.c against the installed exec layer only:
# with `pkg-config dbfork-exec` and with find_package(dbfork) + dbfork::exec
# (shared) and dbfork::exec_static, and runs each against the test server
# (DEFAULTS_FILE: its option file), which must end with every row changed once.
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
[ -f "$PREFIX/include/dbfork/exec.h" ] || { echo "dbfork/exec.h not installed"; exit 1; }
LIBDIR=$(dirname "$(find "$PREFIX" -name 'libdbfork-exec.so' | head -n1)")
PCDIR=$(dirname "$(find "$PREFIX" -name dbfork-exec.pc | head -n1)")
[ -f "$LIBDIR/libdbfork-exec.a" ] || { echo "libdbfork-exec.a not installed"; exit 1; }

uses_installed() {
  local lib
  for lib in $(LD_LIBRARY_PATH=$LIBDIR ldd "$1" | awk '/libdbfork/ {print $3}'); do
    case "$lib" in
      "$PREFIX"/*) echo "$1 uses $lib" ;;
      *) echo "$1 links $lib, not from $PREFIX"; exit 1 ;;
    esac
  done
}

step "pkg-config dbfork-exec with PKG_CONFIG_PATH=$PCDIR"
export PKG_CONFIG_PATH=$PCDIR
echo "cflags/libs: $(pkg-config --cflags --libs dbfork-exec)"
# shellcheck disable=SC2046,SC2086
"$CC" $EXTRA -Wall -Werror "$HERE/exec_consumer.c" -o "$WORK/exec-consumer-pc" \
  $(pkg-config --cflags --libs dbfork-exec "$MYSQL_PC")
uses_installed "$WORK/exec-consumer-pc"
LD_LIBRARY_PATH=$LIBDIR "$WORK/exec-consumer-pc" "$CNF" "$WORK"

step "find_package(dbfork) and dbfork::exec with CMAKE_PREFIX_PATH=$PREFIX"
cmake -S "$HERE/exec_project" -B "$WORK/cmake-build" -DCMAKE_PREFIX_PATH="$PREFIX" \
  -DCMAKE_C_COMPILER="$CC" -DCMAKE_C_FLAGS="$EXTRA" -DCMAKE_EXE_LINKER_FLAGS="$EXTRA" \
  -DCMAKE_BUILD_TYPE=Release >"$WORK/cmake-configure.log" || {
  cat "$WORK/cmake-configure.log"
  exit 1
}
cmake --build "$WORK/cmake-build" || exit 1
uses_installed "$WORK/cmake-build/exec_consumer"
LD_LIBRARY_PATH=$LIBDIR "$WORK/cmake-build/exec_consumer" "$CNF" "$WORK"
if ldd "$WORK/cmake-build/exec_consumer_static" | grep -q libdbfork; then
  echo "exec_consumer_static links a libdbfork shared library"
  exit 1
fi
"$WORK/cmake-build/exec_consumer_static" "$CNF" "$WORK"
echo "install.exec_consumer: ok"
