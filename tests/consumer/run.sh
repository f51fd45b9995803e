#!/usr/bin/env bash
# tests/consumer/run.sh BUILD_DIR WORK_DIR CC [EXTRA_FLAGS [MYSQL_PC_MODULE]]
#
# Installs the build into WORK_DIR/prefix with `cmake --install --prefix`, then
# builds tests/consumer/consumer.c against the installed copy only, twice:
# with find_package(dbfork) (shared and static targets) and with
# `pkg-config dbfork`, and runs each result. Finally compiles (does not run:
# it needs a server) the C example in README.md the way the README says.
set -euo pipefail
BUILD=$1
WORK=$2
CC=$3
EXTRA=${4:-}
MYSQL_PC=${5:-libmariadb}
HERE=$(cd "$(dirname "$0")" && pwd)
PREFIX=$WORK/prefix

step() { echo "== $*"; }

rm -rf "$WORK"
mkdir -p "$WORK"
step "cmake --install $BUILD --prefix $PREFIX"
cmake --install "$BUILD" --prefix "$PREFIX" >"$WORK/install.log"
LIBDIR=$(dirname "$(find "$PREFIX" -name 'libdbfork.so' | head -n1)")
PCDIR=$(dirname "$(find "$PREFIX" -name dbfork.pc | head -n1)")
[ -f "$PREFIX/include/dbfork.h" ] || { echo "dbfork.h not installed"; exit 1; }
[ -f "$LIBDIR/libdbfork.a" ] || { echo "libdbfork.a not installed"; exit 1; }

# The consumer must find nothing in the build tree or the source tree.
check_links_installed() {
  local lib
  lib=$(LD_LIBRARY_PATH=$LIBDIR ldd "$1" | awk '/libdbfork/ {print $3}')
  case "$lib" in
    "$PREFIX"/*) echo "$1 uses $lib" ;;
    *) echo "$1 links libdbfork from '$lib', not from $PREFIX"; exit 1 ;;
  esac
}

step "find_package(dbfork) with CMAKE_PREFIX_PATH=$PREFIX"
cmake -S "$HERE/project" -B "$WORK/cmake-build" -DCMAKE_PREFIX_PATH="$PREFIX" \
  -DCMAKE_C_COMPILER="$CC" -DCMAKE_C_FLAGS="$EXTRA" -DCMAKE_EXE_LINKER_FLAGS="$EXTRA" \
  -DCMAKE_BUILD_TYPE=Release >"$WORK/cmake-configure.log" || {
  cat "$WORK/cmake-configure.log"
  exit 1
}
cmake --build "$WORK/cmake-build" || exit 1
check_links_installed "$WORK/cmake-build/consumer"
LD_LIBRARY_PATH=$LIBDIR "$WORK/cmake-build/consumer"
if ldd "$WORK/cmake-build/consumer_static" | grep -q libdbfork; then
  echo "consumer_static links libdbfork.so"
  exit 1
fi
"$WORK/cmake-build/consumer_static"

step "pkg-config dbfork with PKG_CONFIG_PATH=$PCDIR"
export PKG_CONFIG_PATH=$PCDIR
echo "cflags/libs: $(pkg-config --cflags --libs dbfork)"
echo "static libs: $(pkg-config --static --libs dbfork)"
# shellcheck disable=SC2046,SC2086
"$CC" $EXTRA "$HERE/consumer.c" -o "$WORK/consumer-pc" $(pkg-config --cflags --libs dbfork)
check_links_installed "$WORK/consumer-pc"
LD_LIBRARY_PATH=$LIBDIR "$WORK/consumer-pc"

step "README.md example, built as the README says"
awk '/^```c$/ {on=1; next} /^```$/ {if (on) exit} on' "$HERE/../../README.md" >"$WORK/readme_example.c"
[ -s "$WORK/readme_example.c" ] || { echo "no \`\`\`c block in README.md"; exit 1; }
# shellcheck disable=SC2046,SC2086
"$CC" $EXTRA -Wall -Werror -Wno-unused-parameter "$WORK/readme_example.c" -o "$WORK/readme_example" \
  $(pkg-config --cflags --libs dbfork "$MYSQL_PC")
echo "README example compiles and links"
echo "install.consumer: ok"
