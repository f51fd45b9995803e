#!/usr/bin/env bash
# tests/hardening/check_docs.sh — fails when the public headers
# (include/dbfork.h and the layers' include/dbfork/*.h), docs/errors.md and
# docs/api/*.md disagree.
#
#   check_docs.sh ROOT ERRORS_DUMP [CC [CFLAG...]]
#
# 1. Every DBFORK_EXTERN function of every public header has
#    docs/api/<name>.md, linked from docs/README.md, and every page there
#    names a function that exists in one of them. A name declared in two
#    headers fails too (one page cannot follow two prototypes).
# 2. Each page has the sections Synopsis, Description, Return value, Errors,
#    Example, and its Synopsis includes the header the function is in and
#    holds that header's prototype (whitespace aside), so a changed
#    signature fails until the page follows — and the header's macro of the
#    same name, if there is one.
# 3. docs/errors.md lists exactly the codes of DBFORK_ERRNO_MAP, each with
#    the same value and message. ERRORS_DUMP (errors_dump.c) prints the map as
#    compiled, and itself checks dbfork_err_name/dbfork_strerror against it.
#    Its retry table is what `ERRORS_DUMP --retry-table` computes from the
#    decision functions (src/fate.c), word for word.
# 4. With CC: each page's Example compiles (-fsyntax-only -Werror) against
#    the public headers (-I include/), like curl's documentation examples.
set -uo pipefail
ROOT=$1
DUMP=$2
shift 2
CC=${1:-}
[ $# -gt 0 ] && shift
CFLAGS=("$@")

API=$ROOT/docs/api
ERRDOC=$ROOT/docs/errors.md
fail=0
err() {
  echo "check_docs: $*" >&2
  fail=1
}

# The public headers: the core's and one per layer, as installed. Each is
# named by its path under include/ (dbfork.h, dbfork/load.h), which is also
# what a page's Synopsis must #include.
hdrs=(dbfork.h)
for h in "$ROOT"/include/dbfork/*.h; do
  [ -f "$h" ] && hdrs+=("dbfork/${h##*/}")
done

# funcs: every function; where: "function<TAB>header" per line; flat[header]:
# the header on one line, for the prototype lookup.
declare -A flat
funcs=""
where=""
for h in "${hdrs[@]}"; do
  if [ ! -f "$ROOT/include/$h" ]; then
    err "include/$h is missing"
    continue
  fi
  flat[$h]=$(tr '\n' ' ' <"$ROOT/include/$h")
  hf=$(grep -oP 'DBFORK_EXTERN[^(;]*?\K\bdbfork_\w+(?=\s*\()' <<<"${flat[$h]}" | sort -u)
  # dbfork/abi.h holds only inline helpers for the libraries' side: a
  # header may have no function; the core's must.
  if [ -z "$hf" ] && [ "$h" = dbfork.h ]; then
    err "no DBFORK_EXTERN function found in include/$h"
    continue
  fi
  while read -r f; do
    [ -n "$f" ] || continue
    prev=$(awk -F'\t' -v f="$f" '$1 == f {print $2}' <<<"$where")
    if [ -n "$prev" ]; then
      err "$f is declared in both include/$prev and include/$h"
      continue
    fi
    where+="$f"$'\t'"$h"$'\n'
    funcs+="$f"$'\n'
  done <<<"$hf"
done
funcs=$(sort -u <<<"$funcs" | sed '/^$/d')
header_of() { awk -F'\t' -v f="$1" '$1 == f {print $2; exit}' <<<"$where"; }
pages=$(cd "$API" 2>/dev/null && ls -- *.md 2>/dev/null | sed 's/\.md$//' | sort -u)

# --- 1. one page per function, no page without a function -------------------
while read -r f; do
  [ -n "$f" ] || continue
  grep -qx "$f" <<<"$pages" || err "$f is in include/$(header_of "$f") but docs/api/$f.md is missing"
done <<<"$funcs"
while read -r p; do
  [ -n "$p" ] || continue
  grep -qx "$p" <<<"$funcs" ||
    err "docs/api/$p.md documents no DBFORK_EXTERN function of the public headers (${hdrs[*]})"
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
  h=$(header_of "$f")
  head -n1 "$page" | grep -q "^# $f\b" || err "$page: the first line must be '# $f'"
  for s in Synopsis Description "Return value" Errors Example; do
    grep -qx "## $s" "$page" || err "$page: no '## $s' section"
  done
  # The prototype is looked up in the header that declares the function.
  proto=$(grep -oP "DBFORK_EXTERN\s+\K[^;()#]*?\b$f\s*\([^;]*;" <<<"${flat[$h]}" | head -n1 |
    sed -E 's/\)\s*DBFORK_PRINTF\([^)]*\)\s*;/);/')
  [ -n "$proto" ] || err "no prototype found for $f in include/$h"
  if ! code_of "$page" Synopsis | nows | grep -qF -- "$(nows <<<"$proto")"; then
    err "$page: the Synopsis does not hold the prototype of include/$h:"
    echo "    $proto" >&2
  fi
  code_of "$page" Synopsis | grep -qE "^\s*#\s*include\s*<${h//./\\.}>" ||
    err "$page: the Synopsis does not #include <$h>, the header $f is declared in"
  # A function the header wraps in a macro of the same name (the ABI's
  # size-passing macros, docs/ABI.md): the Synopsis shows the macro too,
  # the form programs call.
  macro=$(grep -oE "^#define $f\([^)]*\)" "$ROOT/include/$h" | head -n1)
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

echo "check_docs: $(wc -l <<<"$funcs") functions of ${#hdrs[@]} headers (${hdrs[*]}), $(wc -l <<<"$want") error codes checked"
exit $fail
