/*
 * bench/bulk_probe.c — a probe for issue 14, not a loader: what the
 * server's CPU per row is when rows arrive by MariaDB's array binding
 * (STMT_ATTR_ARRAY_SIZE: one COM_STMT_BULK_EXECUTE per batch) instead of
 * LOAD DATA. It reads bench/load.sh's CSV (5 fields; a field quoted only
 * when it holds a comma; \N for NULL; nothing else escaped), binds each
 * batch column-wise as strings (as dbfork's insert method binds values)
 * and commits every COMMIT rows.
 *
 *   bulk_probe DEFAULTS_FILE DB FILE [BATCH [COMMIT]]
 *
 * bench/load.sh runs two of them on the halves of the file (like
 * mysqlimport-t2) when BULK=1.
 */
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NF 5

static void die(MYSQL *m, MYSQL_STMT *s, const char *what) {
  fprintf(stderr, "bulk_probe: %s: %s\n", what, s ? mysql_stmt_error(s) : mysql_error(m));
  exit(1);
}

int main(int argc, char **argv) {
  unsigned batch = argc > 4 ? (unsigned)atoi(argv[4]) : 1000;
  unsigned long commit_every = argc > 5 ? strtoul(argv[5], NULL, 10) : 62500, since = 0;
  MYSQL *m;
  MYSQL_STMT *st;
  MYSQL_BIND b[NF];
  char **val[NF], *ind[NF], *line = NULL;
  unsigned long *len[NF];
  size_t cap = 0;
  unsigned n = 0, k;
  char **lines;
  FILE *f;
  if (argc < 4 || !batch) return 2;
  if (!(f = fopen(argv[3], "r"))) return 1;
  m = mysql_init(NULL);
  mysql_options(m, MYSQL_READ_DEFAULT_FILE, argv[1]);
  if (!mysql_real_connect(m, NULL, NULL, NULL, argv[2], 0, NULL, 0)) die(m, NULL, "connect");
  st = mysql_stmt_init(m);
  {
    const char *q =
        "INSERT INTO bench_orders (id, customer_id, amount, created_at, note) "
        "VALUES (?, ?, ?, ?, ?)";
    if (mysql_stmt_prepare(st, q, strlen(q))) die(m, st, "prepare");
  }
  lines = calloc(batch, sizeof *lines);
  for (k = 0; k < NF; k++) {
    val[k] = calloc(batch, sizeof **val);
    len[k] = calloc(batch, sizeof **len);
    ind[k] = calloc(batch, 1);
  }
  memset(b, 0, sizeof b);
  for (k = 0; k < NF; k++) {
    b[k].buffer_type = MYSQL_TYPE_STRING;
    b[k].buffer = val[k];
    b[k].length = len[k];
    b[k].u.indicator = ind[k];
  }
  if (mysql_query(m, "START TRANSACTION")) die(m, NULL, "begin");
  for (;;) {
    ssize_t got = getline(&line, &cap, f);
    if (got > 0) {
      char *p = line, *e = line + got;
      if (e[-1] == '\n') *--e = 0;
      free(lines[n]);
      lines[n] = line; /* the fields point into it */
      line = NULL;
      cap = 0;
      for (k = 0; k < NF; k++) {
        char *s = p, *t;
        if (*s == '"') {
          t = strchr(s + 1, '"');
          val[k][n] = s + 1;
          len[k][n] = (unsigned long)(t - s - 1);
          p = t + 1;
        } else {
          t = memchr(s, ',', (size_t)(e - s));
          if (!t) t = e;
          val[k][n] = s;
          len[k][n] = (unsigned long)(t - s);
          p = t;
        }
        ind[k][n] = len[k][n] == 2 && s[0] == '\\' && s[1] == 'N' ? STMT_INDICATOR_NULL
                                                                  : STMT_INDICATOR_NONE;
        if (p < e) p++; /* the comma */
      }
      n++;
    }
    if (n && (n == batch || got <= 0)) {
      mysql_stmt_attr_set(st, STMT_ATTR_ARRAY_SIZE, &n);
      if (mysql_stmt_bind_param(st, b)) die(m, st, "bind");
      if (mysql_stmt_execute(st)) die(m, st, "execute");
      since += n;
      n = 0;
      if (since >= commit_every) {
        if (mysql_query(m, "COMMIT") || mysql_query(m, "START TRANSACTION")) die(m, NULL, "commit");
        since = 0;
      }
    }
    if (got <= 0) break;
  }
  if (mysql_query(m, "COMMIT")) die(m, NULL, "commit");
  mysql_stmt_close(st);
  mysql_close(m);
  return 0;
}
