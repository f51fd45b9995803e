#!/usr/bin/env bash
# tests/consumer/run.sh BUILD_DIR WORK_DIR CC [EXTRA_FLAGS]
#
# Installs the build into WORK_DIR/prefix with `cmake --install --prefix`, then
# builds tests/consumer/consumer.c against the installed copy only, twice:
# with find_package(dbfork) (shared and static targets) and with
# `pkg-config dbfork`, and runs each result. Then builds (does not run: it
# needs a server) the C program of README.md exactly as the README says, with
# pkg-config and with the README's own CMake lines. Finally runs the
# installed `dbfork --version` with no help finding its library, from the
# prefix and from a copy of the prefix elsewhere.
#
# tests/consumer/run.sh --after-demo-build ROOT WORK_DIR
#   builds a fresh tree the way scripts/demo.sh (README's first command)
#   does, then `cmake --install`s it: nothing it installs may be missing.
set -euo pipefail
if [ "${1:-}" = --after-demo-build ]; then
  ROOT=$2
  WORK=$3
  rm -rf "$WORK"
  mkdir -p "$WORK"
  echo "== scripts/demo.sh --build-only into $WORK/build"
  (cd "$ROOT" && DBFORK_DEMO_BUILD_DIR=$WORK/build bash scripts/demo.sh --build-only) \
    >"$WORK/demo.log" 2>&1 || { tail -n 40 "$WORK/demo.log"; exit 1; }
  echo "== cmake --install $WORK/build --prefix $WORK/prefix"
  cmake --install "$WORK/build" --prefix "$WORK/prefix" || exit 1
  "$WORK/prefix/bin/dbfork" --version
  echo "install.after_demo_build: ok"
  exit 0
fi
BUILD=$1
WORK=$2
CC=$3
EXTRA=${4:-}
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

step "README.md program, built as the README says: pkg-config"
awk '/^```c$/ {on=1; next} /^```$/ {if (on) exit} on' "$HERE/../../README.md" >"$WORK/readme_example.c"
[ -s "$WORK/readme_example.c" ] || { echo "no \`\`\`c block in README.md"; exit 1; }
# The command line of the README, word for word (cc and the program's name
# aside): pkg-config dbfork alone brings the client library's flags.
cmdline=$(grep -oE '`cc app\.c [^`]*`' "$HERE/../../README.md" | head -n1 | tr -d '`')
[ -n "$cmdline" ] || { echo "README.md has no \`cc app.c ...\` command"; exit 1; }
echo "README: $cmdline"
# shellcheck disable=SC2086
eval "\"$CC\" $EXTRA -Wall -Werror -Wno-unused-parameter \"$WORK/readme_example.c\" -o \"$WORK/readme_example\" ${cmdline#cc app.c}"
check_links_installed "$WORK/readme_example"

step "README.md program, built as the README says: find_package(dbfork)"
mkdir -p "$WORK/readme-cmake"
cp "$WORK/readme_example.c" "$WORK/readme-cmake/app.c"
{
  echo 'cmake_minimum_required(VERSION 3.18)'
  echo 'project(readme_app C)'
  echo 'add_executable(app app.c)'
  awk '/^```cmake$/ {on=1; next} /^```$/ {if (on) exit} on' "$HERE/../../README.md"
} >"$WORK/readme-cmake/CMakeLists.txt"
grep -q 'dbfork::dbfork' "$WORK/readme-cmake/CMakeLists.txt" ||
  { echo "no \`\`\`cmake block with dbfork::dbfork in README.md"; exit 1; }
cat "$WORK/readme-cmake/CMakeLists.txt"
for variant in shared static; do
  dir=$WORK/readme-cmake-$variant
  [ $variant = shared ] || sed -i 's/dbfork::dbfork\b/dbfork::dbfork_static/' "$WORK/readme-cmake/CMakeLists.txt"
  cmake -S "$WORK/readme-cmake" -B "$dir" -DCMAKE_PREFIX_PATH="$PREFIX" -DCMAKE_C_COMPILER="$CC" \
    -DCMAKE_C_FLAGS="$EXTRA -Wall -Werror -Wno-unused-parameter" -DCMAKE_EXE_LINKER_FLAGS="$EXTRA" \
    >"$dir.configure.log" 2>&1 || { cat "$dir.configure.log"; exit 1; }
  cmake --build "$dir" || exit 1
done
check_links_installed "$WORK/readme-cmake-shared/app"
if ldd "$WORK/readme-cmake-static/app" | grep -q libdbfork; then
  echo "the static README build links libdbfork.so"
  exit 1
fi

step "the installed dbfork runs from its prefix, and from a copy of it"
unset LD_LIBRARY_PATH
cp -a "$PREFIX" "$WORK/moved"
for p in "$PREFIX" "$WORK/moved"; do
  lib=$(ldd "$p/bin/dbfork" | awk '/libdbfork/ {print $3}')
  case "$lib" in
    "$p"/*) echo "$p/bin/dbfork uses $lib" ;;
    *) echo "$p/bin/dbfork finds libdbfork at '$lib', not in $p (RUNPATH?)"; exit 1 ;;
  esac
  v=$("$p/bin/dbfork" --version)
  echo "$v"
  case "$v" in
    *"libdbfork "*"; MariaDB Connector/C "[0-9]*|*"libdbfork "*"; MySQL libmysqlclient "[0-9]*) ;;
    *) echo "dbfork --version names no client library and version"; exit 1 ;;
  esac
done
echo "install.consumer: ok"
