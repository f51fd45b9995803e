#!/usr/bin/env bash
# scripts/demo-data.sh ROWS — writes the demo's orders CSV to stdout: a
# header line, then ROWS records with quoted commas, quotes and newlines in
# the note, and empty notes as NULL. RFC 4180 (quotes doubled, no escape
# character: load it with --fields-escaped-by=''), where NULL unquoted is SQL
# NULL and "NULL" quoted the word (there is no \N without an escape
# character: it would load as the two characters).
set -euo pipefail
awk -v rows="${1:?usage: demo-data.sh ROWS}" 'BEGIN {
  srand(42); print "id,customer_id,amount,created_at,note";
  split("plain|with, comma|with \"quotes\"|two\nlines|", notes, "|");
  for (i = 1; i <= rows; i++) {
    n = notes[1 + int(rand() * 5)];
    if (n ~ /[,"\n]/) { gsub(/"/, "\"\"", n); n = "\"" n "\"" }
    if (n == "") n = "NULL";
    printf "%d,%d,%.2f,2026-%02d-%02d %02d:%02d:00,%s\n", i, 1 + int(rand() * 99999),
      rand() * 10000, 1 + int(rand() * 12), 1 + int(rand() * 28), int(rand() * 24), int(rand() * 60), n
  } }'
