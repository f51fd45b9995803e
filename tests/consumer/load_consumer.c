/*
 * load_consumer.c — a program built against an *installed* libdbfork-load,
 * once through `pkg-config dbfork-load` and once through find_package(dbfork)
 * with dbfork::load (tests/consumer/layer_run.sh). It loads a CSV file it
 * writes into a table it creates, in process, and checks what the server
 * holds: the row count and a checksum of every value.
 *
 *   load_consumer DEFAULTS_FILE DIR     (DEFAULTS_FILE: [client] user, password,
 *                                        socket; [dbfork] database)
 */
#include <dbfork.h>
#include <dbfork/load.h>
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROWS 20000

static long long one(MYSQL *m, const char *sql) {
  MYSQL_RES *r;
  MYSQL_ROW row;
  long long v = -1;
  if (mysql_query(m, sql) || !(r = mysql_store_result(m))) return -1;
  if ((row = mysql_fetch_row(r)) && row[0]) v = atoll(row[0]);
  mysql_free_result(r);
  return v;
}

static void on_reject(dbfork_load *l, const dbfork_load_reject *r, void *ud) {
  (void)l;
  (void)ud;
  fprintf(stderr, "load_consumer: rejected %s\n", r->reason);
}

int main(int argc, char **argv) {
  dbfork_options o;
  dbfork_load_options lo;
  dbfork_load *l = NULL;
  dbfork_load_stats st;
  MYSQL *m;
  char path[512], err[512];
  long long i, want_sum = 0, count, sum;
  FILE *f;
  int rc;
  if (argc != 3) {
    fprintf(stderr, "usage: load_consumer DEFAULTS_FILE DIR\n");
    return 2;
  }
  dbfork_options_init(&o);
  o.defaults_file = argv[1];
  o.workers = 2;
  if ((rc = dbfork_connect(&m, &o, err, sizeof err))) {
    fprintf(stderr, "load_consumer: %s\n", err);
    return 1;
  }
  if (mysql_query(m, "DROP TABLE IF EXISTS load_consumer") ||
      mysql_query(m,
                  "CREATE TABLE load_consumer (id INT PRIMARY KEY, v VARCHAR(40)) ENGINE=InnoDB")) {
    fprintf(stderr, "load_consumer: %s\n", mysql_error(m));
    return 1;
  }
  snprintf(path, sizeof path, "%s/load_consumer.csv", argv[2]);
  if (!(f = fopen(path, "w"))) return 1;
  for (i = 1; i <= ROWS; i++) {
    fprintf(f, "%lld,\"v%lld, with a comma\"\n", i, i * 7);
    want_sum += i * 7;
  }
  fclose(f);
  dbfork_load_options_init(&lo);
  lo.file = path;
  lo.table = "load_consumer";
  lo.restart = 1; /* the table was just emptied: a new job */
  lo.chunk_size = 64 << 10;
  lo.on_reject = on_reject;
  if ((rc = dbfork_load_new(&l, &o, &lo)) || (rc = dbfork_load_run(l))) {
    fprintf(stderr, "load_consumer: %s: %s\n", dbfork_err_name(rc), dbfork_load_last_error(l));
    return 1;
  }
  dbfork_load_stats_get(l, &st);
  dbfork_load_free(l);
  count = one(m, "SELECT COUNT(*) FROM load_consumer");
  sum = one(m,
            "SELECT SUM(CAST(SUBSTRING(v, 2, LOCATE(',', v) - 2) AS UNSIGNED)) FROM load_consumer");
  dbfork_mysql_close(m);
  printf("load_consumer: %llu rows loaded in %llu chunks; the server holds %lld rows, sum %lld\n",
         (unsigned long long)st.rows_loaded, (unsigned long long)st.chunks, count, sum);
  if (count != ROWS || sum != want_sum || st.rows_loaded != ROWS) {
    fprintf(stderr, "load_consumer: expected %d rows, sum %lld\n", ROWS, want_sum);
    return 1;
  }
  return 0;
}
