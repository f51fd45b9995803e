#!/usr/bin/env bash
# tests/hardening/check_docs.sh — fails when include/dbfork.h, docs/errors.md
# and docs/api/*.md disagree.
#
#   check_docs.sh ROOT ERRORS_DUMP [CC [CFLAG...]]
#
# 1. Every DBFORK_EXTERN function of the header has docs/api/<name>.md,
#    linked from docs/README.md, and every page there names a function that
#    exists.
# 2. Each page has the sections Synopsis, Description, Return value, Errors,
#    Example, and its Synopsis holds the header's prototype (whitespace
#    aside), so a changed signature fails until the page follows — and the
#    header's macro of the same name, if there is one.
# 3. docs/errors.md lists exactly the codes of DBFORK_ERRNO_MAP, each with
#    the same value and message. ERRORS_DUMP (errors_dump.c) prints the map as
#    compiled, and itself checks dbfork_err_name/dbfork_strerror against it.
#    Its retry table is what `ERRORS_DUMP --retry-table` computes from the
#    decision functions (src/fate.c), word for word.
# 4. With CC: each page's Example compiles (-fsyntax-only -Werror) against
#    the header, like curl's documentation examples.
set -uo pipefail
ROOT=$1
DUMP=$2
shift 2
CC=${1:-}
[ $# -gt 0 ] && shift
CFLAGS=("$@")

HDR=$ROOT/include/dbfork.h
API=$ROOT/docs/api
ERRDOC=$ROOT/docs/errors.md
fail=0
err() {
  echo "check_docs: $*" >&2
  fail=1
}

flat=$(tr '\n' ' ' <"$HDR")
funcs=$(grep -oP 'DBFORK_EXTERN[^(;]*?\K\bdbfork_\w+(?=\s*\()' <<<"$flat" | sort -u)
[ -n "$funcs" ] || err "no DBFORK_EXTERN function found in $HDR"
pages=$(cd "$API" 2>/dev/null && ls -- *.md 2>/dev/null | sed 's/\.md$//' | sort -u)

# --- 1. one page per function, no page without a function -------------------
while read -r f; do
  [ -n "$f" ] || continue
  grep -qx "$f" <<<"$pages" || err "$f is in dbfork.h but docs/api/$f.md is missing"
done <<<"$funcs"
while read -r p; do
  [ -n "$p" ] || continue
  grep -qx "$p" <<<"$funcs" || err "docs/api/$p.md documents no DBFORK_EXTERN function of dbfork.h"
done <<<"$pages"

# The index (docs/README.md) links every page.
while read -r f; do
  [ -n "$f" ] || continue
  grep -qF "(api/$f.md)" "$ROOT/docs/README.md" 2>/dev/null ||
    err "docs/README.md does not link api/$f.md"
done <<<"$funcs"

# The text of a page's section: from "## NAME" to the next "## ".
section() { awk -v s="## $2" '$0 == s {on = 1; next} /^## / {on = 0} on' "$1"; }
# The first ```c block of a section.
code_of() { section "$1" "$2" | awk '/^```c/ {on = 1; next} /^```/ {if (on) exit} on'; }
nows() { tr -d ' \t\n'; }

# --- 2. sections and synopsis ------------------------------------------------
while read -r f; do
  [ -n "$f" ] && [ -f "$API/$f.md" ] || continue
  page=$API/$f.md
  head -n1 "$page" | grep -q "^# $f\b" || err "$page: the first line must be '# $f'"
  for s in Synopsis Description "Return value" Errors Example; do
    grep -qx "## $s" "$page" || err "$page: no '## $s' section"
  done
  proto=$(grep -oP "DBFORK_EXTERN\s+\K[^;()#]*?\b$f\s*\([^;]*;" <<<"$flat" | head -n1 |
    sed -E 's/\)\s*DBFORK_PRINTF\([^)]*\)\s*;/);/')
  [ -n "$proto" ] || err "no prototype found for $f"
  if ! code_of "$page" Synopsis | nows | grep -qF -- "$(nows <<<"$proto")"; then
    err "$page: the Synopsis does not hold the header's prototype:"
    echo "    $proto" >&2
  fi
  # A function the header wraps in a macro of the same name (the ABI's
  # size-passing macros, docs/ABI.md): the Synopsis shows the macro too,
  # the form programs call.
  macro=$(grep -oE "^#define $f\([^)]*\)" "$HDR" | head -n1)
  if [ -n "$macro" ] && ! code_of "$page" Synopsis | nows | grep -qF -- "$(nows <<<"$macro")"; then
    err "$page: the header defines the macro '$macro'; the Synopsis must show it"
  fi
done <<<"$funcs"

# --- 3. the error table ------------------------------------------------------
want=$("$DUMP") || err "$DUMP failed: the library disagrees with DBFORK_ERRNO_MAP"
# Rows: | `DBFORK_NAME` | VALUE (`EXPR`) | message | meaning |
got=$(grep -E '^\| *`DBFORK_[A-Z0-9_]+`' "$ERRDOC" 2>/dev/null |
  awk -F'|' '{
    name = $2; gsub(/[ `]/, "", name)
    val = $3; sub(/^ */, "", val); sub(/ .*/, "", val)
    msg = $4; sub(/^ */, "", msg); sub(/ *$/, "", msg)
    printf "%s\t%s\t%s\n", name, val, msg
  }')
[ -f "$ERRDOC" ] || err "$ERRDOC is missing"
if [ "$(sort <<<"$want")" != "$(sort <<<"$got")" ]; then
  err "docs/errors.md disagrees with DBFORK_ERRNO_MAP (< header, > docs):"
  diff <(sort <<<"$want") <(sort <<<"$got") | grep '^[<>]' | sed 's/^/    /' >&2
fi
dups=$(cut -f1 <<<"$got" | sort | uniq -d)
[ -z "$dups" ] || err "docs/errors.md lists codes twice: $dups"

# The retry table is the decision functions' own answer (errors_dump
# --retry-table runs them), verbatim between its markers.
want_retry=$("$DUMP" --retry-table) || err "$DUMP --retry-table failed"
got_retry=$(awk '/^<!-- retry-table: generated/ {on = 1; next} /^<!-- retry-table: end/ {on = 0} on' \
  "$ERRDOC")
if [ "$want_retry" != "$got_retry" ]; then
  err "docs/errors.md's retry table is not what the code decides (< code, > docs):"
  diff <(echo "$want_retry") <(echo "$got_retry") | grep '^[<>]' | sed 's/^/    /' >&2
fi

# --- 4. the examples compile -------------------------------------------------
if [ -n "$CC" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  n=0
  while read -r f; do
    [ -n "$f" ] && [ -f "$API/$f.md" ] || continue
    code_of "$API/$f.md" Example >"$tmp/$f.c"
    if [ ! -s "$tmp/$f.c" ]; then
      err "docs/api/$f.md: the Example has no \`\`\`c block"
      continue
    fi
    if ! "$CC" -std=gnu11 -fsyntax-only -Wall -Wextra -Werror -Wno-unused-parameter \
      -Wno-unused-function -I"$ROOT/include" "${CFLAGS[@]}" "$tmp/$f.c" 2>"$tmp/$f.err"; then
      err "docs/api/$f.md: the Example does not compile:"
      sed 's/^/    /' "$tmp/$f.err" >&2
    fi
    n=$((n + 1))
  done <<<"$funcs"
  echo "check_docs: $n examples compiled"
fi

echo "check_docs: $(wc -l <<<"$funcs") functions, $(wc -l <<<"$want") error codes checked"
exit $fail
