#!/usr/bin/env bash
# tests/consumer/packages.sh ROOT — README's first command (scripts/demo.sh)
# installs only what the demo needs; the test command (scripts/test.sh)
# installs that and the rest the suite uses. Checked on the lists
# scripts/setup-debian.sh would install, and on the profile each script asks
# for.
set -euo pipefail
ROOT=$1
SETUP=$ROOT/scripts/setup-debian.sh
demo=$(bash "$SETUP" --list demo)
test=$(bash "$SETUP" --list test)
fail=0
for tool in valgrind clang clang-format libclang-rt-14-dev hyperfine mydumper python3-mysqldb; do
  if grep -qx "$tool" <<<"$demo"; then
    echo "the demo installs $tool, which it does not use"
    fail=1
  fi
done
for pkg in $demo valgrind clang libclang-rt-14-dev clang-format openssl python3; do
  grep -qx "$pkg" <<<"$test" || { echo "the test profile lacks $pkg"; fail=1; }
done
grep -q 'setup-debian.sh demo$' "$ROOT/scripts/demo.sh" || { echo "demo.sh does not ask for the demo profile"; fail=1; }
grep -q 'setup-debian.sh test$' "$ROOT/scripts/test.sh" || { echo "test.sh does not ask for the test profile"; fail=1; }
echo "demo installs: $(tr '\n' ' ' <<<"$demo")"
[ $fail -eq 0 ] && echo "packages: ok"
exit $fail
