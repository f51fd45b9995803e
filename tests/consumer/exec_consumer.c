/*
 * exec_consumer.c — a program built against an *installed* libdbfork-exec,
 * once through `pkg-config dbfork-exec` and once through find_package(dbfork)
 * with dbfork::exec (tests/consumer/layer_run.sh). It makes a table, runs a
 * non-idempotent UPDATE over it in process with dbfork_exec_run, checks that
 * every row changed once, then that a rerun of the completed job does
 * nothing.
 *
 *   exec_consumer DEFAULTS_FILE DIR     (DEFAULTS_FILE: [client] user, password,
 *                                        socket; [dbfork] database)
 */
#include <dbfork.h>
#include <dbfork/exec.h>
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

static int run(const char *cnf, dbfork_exec_stats *st) {
  dbfork_options o;
  dbfork_exec_options eo;
  dbfork_exec *x = NULL;
  int rc;
  dbfork_options_init(&o);
  o.defaults_file = cnf;
  o.workers = 2;
  dbfork_exec_options_init(&eo);
  eo.table = "exec_consumer_t";
  eo.sql = "UPDATE exec_consumer_t SET n = n + 1 WHERE {chunk}";
  eo.chunk_rows = 1500;
  if ((rc = dbfork_exec_new(&x, &o, &eo)) != 0) {
    fprintf(stderr, "exec_consumer: dbfork_exec_new: %s\n", dbfork_strerror(rc));
    return rc;
  }
  rc = dbfork_exec_run(x);
  if (rc) fprintf(stderr, "exec_consumer: %s\n", dbfork_exec_last_error(x));
  dbfork_exec_stats_get(x, st);
  dbfork_exec_free(x);
  return rc;
}

int main(int argc, char **argv) {
  dbfork_options o;
  dbfork_exec_stats st;
  MYSQL *m = NULL;
  char err[512];
  int rc;
  if (argc < 2) {
    fprintf(stderr, "usage: exec_consumer DEFAULTS_FILE [DIR]\n");
    return 2;
  }
  dbfork_options_init(&o);
  o.defaults_file = argv[1];
  if (dbfork_connect(&m, &o, err, sizeof err)) {
    fprintf(stderr, "exec_consumer: %s\n", err);
    return 1;
  }
  if (mysql_query(m, "DROP TABLE IF EXISTS exec_consumer_t") ||
      mysql_query(m, "DROP TABLE IF EXISTS dbfork_exec_progress") ||
      mysql_query(m, "DROP TABLE IF EXISTS dbfork_exec_plan") ||
      mysql_query(m, "DROP TABLE IF EXISTS dbfork_exec_job") ||
      mysql_query(m,
                  "CREATE TABLE exec_consumer_t (id INT PRIMARY KEY, n INT NOT NULL DEFAULT 0) "
                  "ENGINE=InnoDB") ||
      mysql_query(m, "INSERT INTO exec_consumer_t (id) SELECT seq FROM seq_1_to_20000")) {
    fprintf(stderr, "exec_consumer: set-up: %s\n", mysql_error(m));
    return 1;
  }
  if ((rc = run(argv[1], &st)) != 0) return 1;
  if (one(m, "SELECT COUNT(*) FROM exec_consumer_t WHERE n = 1") != ROWS ||
      st.rows_affected != ROWS || st.chunks_done != (ROWS + 1499) / 1500) {
    fprintf(stderr, "exec_consumer: not every row changed once (%llu affected, %llu chunks)\n",
            (unsigned long long)st.rows_affected, (unsigned long long)st.chunks_done);
    return 1;
  }
  if ((rc = run(argv[1], &st)) != 0 || !st.already_done ||
      one(m, "SELECT COUNT(*) FROM exec_consumer_t WHERE n = 1") != ROWS) {
    fprintf(stderr, "exec_consumer: the rerun of the completed job changed something\n");
    return 1;
  }
  mysql_query(m, "DROP TABLE exec_consumer_t");
  dbfork_mysql_close(m);
  printf("exec_consumer: ok (%d rows, job %s)\n", ROWS, st.job_id);
  return 0;
}
