/*
 * values.c — which of the server's warnings and errors say that it
 * truncated, coerced or refused a value, and which row and column they
 * name. Pure (tests/unit/test_load_values.c).
 *
 * The codes are those MariaDB and MySQL give for a value that does not fit
 * its column, in LOAD DATA (always warnings: LOCAL implies IGNORE) and in
 * INSERT (warnings without strict mode, errors with it):
 *   1048 NULL into a NOT NULL column (an INSERT; no row named)
 *   1263 NULL into a NOT NULL column, set to the default (LOAD DATA)
 *   1264 out of range                  1265 data truncated
 *   1292 incorrect date/time value     1366 incorrect value for the column
 *   1367 illegal value                 1406 data too long
 *   1411 incorrect value for a function (STR_TO_DATE in --set)
 *   1261, 1262 too few / too many fields (the parser's field count makes
 *              these rare: an @variable list that does not match)
 *   1300 invalid character string      1916..1918 overflow, illegal value
 *        when converting
 * A Note (say 1265 for a DECIMAL rounded) is not a refusal: it stays a
 * warning.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strcasestr */
#endif
#include "loader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int value_code(unsigned int code) {
  switch (code) {
    case 1048:
    case 1261:
    case 1262:
    case 1263:
    case 1264:
    case 1265:
    case 1292:
    case 1300:
    case 1366:
    case 1367:
    case 1406:
    case 1411:
    case 1916:
    case 1917:
    case 1918: return 1;
    default: return 0;
  }
}

/* The last " at row N" of msg: N, and its start in *at. */
static uint64_t row_of(const char *msg, const char **at) {
  const char *p = msg, *hit = NULL;
  uint64_t n = 0;
  while ((p = strstr(p, " at row ")) != NULL) {
    char *end;
    unsigned long long v = strtoull(p + 8, &end, 10);
    if (end != p + 8 && *end == 0) {
      hit = p;
      n = v;
    }
    p += 8;
  }
  if (at) *at = hit;
  return n;
}

/* "Row N doesn't contain ..." / "Row N was truncated ...": the row first. */
static uint64_t leading_row(const char *msg) {
  char *end;
  unsigned long long v;
  if (strncmp(msg, "Row ", 4)) return 0;
  v = strtoull(msg + 4, &end, 10);
  return end != msg + 4 && *end == ' ' ? v : 0;
}

/* The column: after "column " either 'name' or `db`.`t`.`name` (the last
 * backquoted part, `` inside it a backquote). */
static void column_of(const char *msg, char *out, size_t len) {
  /* The last "column '" or "column `": a value quoted before it (1366) may
   * hold the words too. */
  const char *p = NULL, *q = msg;
  size_t o = 0;
  while ((q = strcasestr(q, "column ")) != NULL) {
    if (q[7] == '\'' || q[7] == '`') p = q;
    q += 7;
  }
  out[0] = 0;
  if (!p || !len) return;
  p += 7;
  if (*p == '\'') {
    const char *e = strrchr(p + 1, '\'');
    const char *at = strstr(p + 1, "' at row ");
    if (at) e = at;
    if (!e || e <= p) return;
    snprintf(out, len, "%.*s", (int)(e - p - 1), p + 1);
    return;
  }
  while (*p == '`') {
    const char *e = p + 1;
    o = 0;
    for (; *e; e++) {
      if (*e == '`') {
        if (e[1] != '`') break;
        e++;
      }
      if (o + 1 < len) out[o++] = *e;
    }
    out[o] = 0;
    if (*e != '`') return;
    p = e + 1;
    if (*p != '.') return;
    p++;
  }
}

int load_value_complaint(const char *level, unsigned int code, const char *msg, uint64_t *row,
                         char *column, size_t collen) {
  if (collen) column[0] = 0;
  *row = 0;
  if (!level || !msg || !strcmp(level, "Note") || !value_code(code)) return 0;
  *row = code == 1261 || code == 1262 ? leading_row(msg) : row_of(msg, NULL);
  column_of(msg, column, collen);
  return 1;
}

void load_value_message(const char *msg, char *out, size_t len) {
  const char *at;
  row_of(msg, &at);
  if (at)
    snprintf(out, len, "%.*s", (int)(at - msg), msg);
  else
    snprintf(out, len, "%s", msg);
}
