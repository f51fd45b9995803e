/*
 * map_in_order.c — dbfork_map: many queries across the workers, results
 * handed back strictly in input order, memory bounded however many inputs.
 *
 *   map_in_order [OPTION_FILE]
 *
 * Input i is a number; the task asks the server for SHA2 of it and replies
 * with the hex digest. output() receives i = 0, 1, 2, ... in order although
 * the workers finish them in any order, and checks each one against SHA2
 * computed by the parent's own connection for a sample.
 */
#include <dbfork.h>
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { N = 5000 };

static int task(dbfork_worker *w, const void *in, size_t len, void *arg) {
  MYSQL *m = dbfork_worker_mysql(w);
  char sql[96];
  MYSQL_RES *res;
  MYSQL_ROW row;
  int rc = 0;
  (void)arg;
  snprintf(sql, sizeof sql, "SELECT SHA2('%.*s', 256)", (int)len, (const char *)in);
  if (mysql_query(m, sql) || !(res = mysql_store_result(m))) return DBFORK_ESQL;
  row = mysql_fetch_row(res);
  if (row && row[0]) rc = dbfork_worker_reply(w, row[0], strlen(row[0]));
  mysql_free_result(res);
  return rc;
}

typedef struct job {
  char in[32]; /* the current input; copied by dbfork_map before the next call */
  size_t next; /* the index output() expects next */
  int bad;
  MYSQL *check; /* the parent's connection, for spot checks */
} job;

static int input(size_t i, const void **data, size_t *len, void *ud) {
  job *j = ud;
  *len = (size_t)snprintf(j->in, sizeof j->in, "%zu", i * 7919);
  *data = j->in;
  return 0;
}

static int output(size_t i, const dbfork_result *r, void *ud) {
  job *j = ud;
  if (i != j->next++) j->bad++; /* never happens: results come in input order */
  if (r->status || r->len != 64) {
    fprintf(stderr, "input %zu: %s: %s\n", i, dbfork_err_name(r->status), r->message);
    j->bad++;
  } else if (i % 1000 == 0) {
    char sql[96];
    MYSQL_RES *res;
    snprintf(sql, sizeof sql, "SELECT SHA2('%zu', 256)", i * 7919);
    if (!mysql_query(j->check, sql) && (res = mysql_store_result(j->check))) {
      MYSQL_ROW row = mysql_fetch_row(res);
      if (!row || !row[0] || memcmp(row[0], r->data, 64)) j->bad++;
      mysql_free_result(res);
    }
    printf("  %5zu -> %.16s... (worker %d)\n", i, (const char *)r->data, r->worker_slot);
  }
  return 0; /* non-zero would stop the map */
}

int main(int argc, char **argv) {
  const char *cnf = argc > 1 ? argv[1] : NULL;
  dbfork_options o;
  dbfork_pool *pool = NULL;
  job j = {.next = 0};
  int rc;

  /* A parent connection opened before the pool keeps working through it. */
  j.check = mysql_init(NULL);
  if (cnf) mysql_options(j.check, MYSQL_READ_DEFAULT_FILE, cnf);
  mysql_options(j.check, MYSQL_READ_DEFAULT_GROUP, "dbfork");
  if (!mysql_real_connect(j.check, NULL, NULL, NULL, NULL, 0, NULL, 0)) {
    fprintf(stderr, "connect: %s\n", mysql_error(j.check));
    return 1;
  }

  dbfork_options_init(&o);
  o.workers = 3;
  o.defaults_file = cnf;
  o.task = task;
  o.queue_max = 64; /* memory stays bounded by these windows */
  o.prefetch = 8;
  rc = dbfork_pool_new(&pool, &o);
  if (!rc) rc = dbfork_pool_start(pool);
  if (!rc) rc = dbfork_map(pool, N, input, output, &j);
  if (rc) fprintf(stderr, "map: %s: %s\n", dbfork_strerror(rc), dbfork_pool_last_error(pool));
  if (pool && !rc) rc = dbfork_pool_join(pool);
  dbfork_pool_free(pool);
  mysql_close(j.check);
  printf("map_in_order: %zu results in order, %d bad\n", j.next, j.bad);
  return rc || j.bad || j.next != N;
}
