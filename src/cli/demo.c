/*
 * demo.c — `dbfork demo`: the first thing a new user runs. A parallel,
 * transactional insert job over N workers into a throwaway table, then a
 * summary of what the server saw: rows and checksum, rate, each worker's
 * pid and connection id, sessions left, and Aborted_clients before/after.
 */
#define _GNU_SOURCE /* strsignal, asprintf, strncasecmp */
#include "common.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

typedef struct demo {
  char table[300];
  unsigned long long rows, batch;
  int tty;
  double t0, last_progress;
  unsigned long long rows_done, failed, cancelled;
  struct {
    long pid;
    int slot;
    unsigned long conn;
    unsigned long long tasks, rows;
  } workers[1024];
  int nworkers;
  unsigned char buf[16];
} demo;

/* The comment of the table the demo makes: the only kind it empties. */
#define DEMO_MARK "made by dbfork demo, which empties it on every run"

/* 1 if `table` (`db`.`t` or `t`, plain names: cli_plain_table) does not
 * exist, or is one the demo made; 0 if it is someone else's. */
static int demo_table_is_ours(MYSQL *m, const char *table) {
  char db[140] = "", tb[140], sql[1024];
  const char *dot = strstr(table, "`.`");
  MYSQL_RES *r;
  MYSQL_ROW row;
  int ours = 0;
  if (dot) snprintf(db, sizeof db, "%.*s", (int)(dot - table - 1), table + 1);
  snprintf(tb, sizeof tb, "%.130s", dot ? dot + 3 : table + 1);
  tb[strlen(tb) - 1] = 0;
  /* plain names: letters, digits, '_' and '$' only, nothing to escape */
  snprintf(sql, sizeof sql,
           "SELECT COUNT(*), IFNULL(SUM(TABLE_COMMENT = '%s'), 0) FROM information_schema.TABLES "
           "WHERE TABLE_SCHEMA = %s%s%s AND TABLE_NAME = '%s'",
           DEMO_MARK, dot ? "'" : "", dot ? db : "DATABASE()", dot ? "'" : "", tb);
  if (mysql_query(m, sql) || !(r = mysql_store_result(m))) return 0;
  if ((row = mysql_fetch_row(r)) && row[0] && row[1])
    ours = !strcmp(row[0], "0") || strcmp(row[1], "0");
  mysql_free_result(r);
  return ours;
}

static void put64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }
static uint64_t get64(const unsigned char *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

/* In the worker: insert rows [first, first+count) with one multi-row INSERT
 * (the pool wraps it in a transaction). */
static int demo_task(dbfork_worker *w, const void *in, size_t len, void *arg) {
  const demo *d = arg;
  MYSQL *m = dbfork_worker_mysql(w);
  uint64_t first, count, i;
  char *sql;
  size_t cap, n;
  int rc = 0;
  if (len != 16) return dbfork_worker_fail(w, DBFORK_ETASK, 0, NULL, "bad demo payload");
  first = get64(in);
  count = get64((const unsigned char *)in + 8);
  cap = 128 + strlen(d->table) + count * 64;
  sql = malloc(cap);
  if (!sql) return DBFORK_ENOMEM;
  n = (size_t)snprintf(sql, cap, "INSERT INTO %s (id, worker_slot, amount, note) VALUES ",
                       d->table);
  for (i = 0; i < count; i++) {
    uint64_t id = first + i;
    n += (size_t)snprintf(sql + n, cap - n, "%s(%llu,%d,%llu.%02llu,'row %llu')", i ? "," : "",
                          (unsigned long long)id, dbfork_worker_slot(w),
                          (unsigned long long)(id * 7 % 100000), (unsigned long long)(id % 100),
                          (unsigned long long)id);
  }
  if (mysql_real_query(m, sql, (unsigned long)n)) rc = DBFORK_ESQL;
  free(sql);
  if (!rc) rc = dbfork_worker_reply(w, in, 16);
  return rc;
}

static int demo_input(size_t i, const void **data, size_t *len, void *ud) {
  demo *d = ud;
  uint64_t first = (uint64_t)i * d->batch + 1;
  uint64_t count = d->batch;
  if (first + count - 1 > d->rows) count = d->rows - first + 1;
  put64(d->buf, first);
  put64(d->buf + 8, count);
  *data = d->buf;
  *len = 16;
  return 0;
}

static int demo_output(size_t i, const dbfork_result *r, void *ud) {
  demo *d = ud;
  int k;
  double now;
  if (r->status == DBFORK_ECANCELED) {
    d->cancelled++;
    return 0;
  }
  if (r->status) {
    d->failed++;
    fprintf(stderr, "\ndbfork: batch %zu failed: %s: %s\n", i, dbfork_err_name(r->status),
            r->message);
    return 0;
  }
  for (k = 0; k < d->nworkers && d->workers[k].pid != r->worker_pid; k++) {
  }
  if (k == d->nworkers && k < (int)(sizeof d->workers / sizeof d->workers[0])) {
    d->nworkers++;
    d->workers[k].pid = r->worker_pid;
    d->workers[k].slot = r->worker_slot;
    d->workers[k].conn = r->connection_id;
  }
  if (k < d->nworkers) {
    d->workers[k].tasks++;
    d->workers[k].rows += get64((const unsigned char *)r->data + 8);
  }
  d->rows_done += get64((const unsigned char *)r->data + 8);
  now = cli_now();
  if (d->tty && now - d->last_progress > 0.2) {
    d->last_progress = now;
    fprintf(stderr, "\r  %5.1f%%  %llu rows  %.0f rows/s   ", 100.0 * d->rows_done / d->rows,
            d->rows_done, d->rows_done / (now - d->t0));
  }
  return 0;
}

/* SIGINT/SIGTERM: the CLI (not the library) owns signals. Stop the pool:
 * queued batches are cancelled, workers finish the batch they run, run
 * their finalizers and exit; the summary then says what was done. */
static void on_interrupt(uv_signal_t *s, int signum) {
  fprintf(stderr,
          "\ndbfork demo: %s: stopping (batches in progress finish, the rest are "
          "cancelled)\n",
          strsignal(signum));
  dbfork_pool_stop(s->data);
}

static void demo_usage(FILE *f) {
  fputs(
      "usage: dbfork demo [options]\n"
      "Runs a parallel, transactional insert job over N workers into a demo table and\n"
      "prints what the server saw.\n\n"
      "  --rows=N        rows to insert (default 200000)\n"
      "  --batch=N       rows per task, one transaction each (default 1000)\n"
      "  --table=DB.T    target table, created if missing and emptied (default\n"
      "                  dbfork_demo.demo_rows); a table it did not create is refused\n\n",
      f);
  cli_conn_usage(f);
}

int cmd_demo(int argc, char **argv) {
  static demo d;
  static struct option longopts[CLI_CONN_NLONGOPTS + 5];
  cli_conn c;
  dbfork_options o;
  dbfork_pool *pool = NULL;
  MYSQL *m = NULL;
  const char *table = "dbfork_demo.demo_rows";
  char sql[1024], why[200], b1[32], b2[32];
  long long aborted_before, aborted_after, count, sum, parent_id, sessions_during, left;
  unsigned long long tasks;
  int opt, rc, i, ret = EXIT_FAILED;
  double secs;
  uv_signal_t sigint, sigterm;
  dbfork_pool_stats ps;

  memset(&c, 0, sizeof c);
  memcpy(longopts, cli_conn_longopts, sizeof cli_conn_longopts);
  longopts[CLI_CONN_NLONGOPTS] = (struct option){"rows", required_argument, NULL, 2000};
  longopts[CLI_CONN_NLONGOPTS + 1] = (struct option){"batch", required_argument, NULL, 2001};
  longopts[CLI_CONN_NLONGOPTS + 2] = (struct option){"table", required_argument, NULL, 2002};
  longopts[CLI_CONN_NLONGOPTS + 3] = (struct option){"help", no_argument, NULL, 2003};
  d.rows = 200000;
  d.batch = 1000;
  while ((opt = getopt_long(argc, argv, CLI_CONN_SHORTOPTS, longopts, NULL)) != -1) {
    int h = cli_conn_opt(&c, opt, optarg, argv);
    char *end;
    if (h < 0) return EXIT_USAGE;
    if (h) continue;
    switch (opt) {
      case 2000:
      case 2001: {
        unsigned long long v = strtoull(optarg, &end, 10);
        if (*end || !*optarg || v == 0 || optarg[0] == '-') {
          fprintf(stderr, "dbfork demo: option --%s: '%s' is not a positive number\n",
                  opt == 2000 ? "rows" : "batch", optarg);
          return EXIT_USAGE;
        }
        if (opt == 2000)
          d.rows = v;
        else
          d.batch = v > 100000 ? 100000 : v;
        break;
      }
      case 2002: table = optarg; break;
      case 2003: demo_usage(stdout); return EXIT_OK;
      default: demo_usage(stderr); return EXIT_USAGE;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "dbfork demo: unexpected argument '%s'\n", argv[optind]);
    return EXIT_USAGE;
  }
  if (cli_plain_table(table, d.table, sizeof d.table, why, sizeof why)) {
    fprintf(stderr, "dbfork demo: option --table: %s\n", why);
    return EXIT_USAGE;
  }
  if (cli_conn_finish(&c)) return EXIT_USAGE;
  d.tty = isatty(2);

  /* The parent's own session, opened before the pool: it must come through
   * the whole run untouched (the bug dbfork exists to prevent). */
  m = cli_connect(&c);
  if (!m) goto out;
  parent_id = (long long)mysql_thread_id(m);
  printf("dbfork %s demo: server %s, %d workers, %llu rows in batches of %llu into %s\n",
         dbfork_version(), mysql_get_server_info(m), c.workers, d.rows, d.batch, d.table);
  if (strchr(table, '.')) {
    snprintf(sql, sizeof sql, "CREATE DATABASE IF NOT EXISTS %.*s",
             (int)(strstr(d.table, "`.`") + 1 - d.table), d.table);
    if (cli_exec(m, sql)) goto out;
  }
  /* The demo empties its table: only one it made (its comment says so),
   * never a table of the user's that happens to have the name. */
  if (!demo_table_is_ours(m, d.table) && strcmp(table, "dbfork_demo.demo_rows")) {
    fprintf(stderr,
            "dbfork demo: option --table: %s exists and was not made by dbfork demo, which "
            "empties its table: name another one\n",
            d.table);
    ret = EXIT_USAGE;
    goto out;
  }
  snprintf(sql, sizeof sql,
           "CREATE TABLE IF NOT EXISTS %s (id BIGINT UNSIGNED PRIMARY KEY, worker_slot INT NOT "
           "NULL, amount DECIMAL(12,2) NOT NULL, note VARCHAR(64) NOT NULL) ENGINE=InnoDB "
           "COMMENT='%s'",
           d.table, DEMO_MARK);
  if (cli_exec(m, sql)) goto out;
  /* the default table of a demo older than the comment becomes ours */
  snprintf(sql, sizeof sql, "ALTER TABLE %s COMMENT='%s'", d.table, DEMO_MARK);
  if (cli_exec(m, sql)) goto out;
  snprintf(sql, sizeof sql, "TRUNCATE TABLE %s", d.table);
  if (cli_exec(m, sql)) goto out;
  aborted_before = cli_status(m, "Aborted_clients");

  cli_conn_pool_options(&c, &o);
  o.task = demo_task;
  o.task_arg = &d;
  o.transaction = 1;
  o.program_name = "dbfork-demo";
  rc = dbfork_pool_new(&pool, &o);
  if (rc) {
    fprintf(stderr, "dbfork demo: %s\n", dbfork_strerror(rc));
    goto out;
  }
  d.t0 = cli_now();
  rc = dbfork_pool_start(pool);
  if (rc) {
    fprintf(stderr, "dbfork demo: the workers could not start: %s\n", dbfork_pool_last_error(pool));
    goto out;
  }
  printf("  pool started in %.1f ms\n", (cli_now() - d.t0) * 1e3);
  uv_signal_init(dbfork_pool_loop(pool), &sigint);
  uv_signal_init(dbfork_pool_loop(pool), &sigterm);
  sigint.data = sigterm.data = pool;
  uv_signal_start(&sigint, on_interrupt, SIGINT);
  uv_signal_start(&sigterm, on_interrupt, SIGTERM);
  d.t0 = cli_now();
  tasks = (d.rows + d.batch - 1) / d.batch;
  rc = dbfork_map(pool, (size_t)tasks, demo_input, demo_output, &d);
  secs = cli_now() - d.t0;
  if (d.tty) fprintf(stderr, "\r%60s\r", "");
  snprintf(sql, sizeof sql,
           "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND "
           "USER = SUBSTRING_INDEX(CURRENT_USER(), '@', 1) AND ID IN (0");
  for (i = 0; i < d.nworkers; i++)
    snprintf(sql + strlen(sql), sizeof sql - strlen(sql), ",%lu", d.workers[i].conn);
  strncat(sql, ")", sizeof sql - strlen(sql) - 1);
  sessions_during = cli_query_ll(m, sql);
  if (rc) fprintf(stderr, "dbfork demo: map stopped: %s\n", dbfork_strerror(rc));
  dbfork_pool_stats_get(pool, &ps, NULL, 0);
  rc = dbfork_pool_join(pool);
  uv_close((uv_handle_t *)&sigint, NULL);
  uv_close((uv_handle_t *)&sigterm, NULL);
  left = cli_query_ll(m, sql);
  aborted_after = cli_status(m, "Aborted_clients");

  snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s", d.table);
  count = cli_query_ll(m, sql);
  snprintf(sql, sizeof sql, "SELECT SUM(id) FROM %s", d.table);
  sum = cli_query_ll(m, sql);

  {
    /* Interrupted or not, the table must hold exactly the rows of the
     * batches that completed ok: nothing lost, nothing half-applied. */
    unsigned long long want = d.rows_done, want_sum = 0;
    int complete = !d.cancelled && !d.failed;
    if (complete) want_sum = d.rows * (d.rows + 1) / 2;
    printf("\n  rows written   %s (%s %s) %s\n", cli_num((unsigned long long)count, b1, sizeof b1),
           complete ? "expected" : "interrupted; completed batches hold",
           cli_num(want, b2, sizeof b2), (unsigned long long)count == want ? "ok" : "MISMATCH");
    if (complete)
      printf("  checksum       SUM(id) = %lld (expected %llu) %s\n", sum, want_sum,
             (unsigned long long)sum == want_sum ? "ok" : "MISMATCH");
  }
  printf("  time           %.3f s\n", secs);
  printf("  rate           %s rows/s\n",
         cli_num((unsigned long long)(d.rows_done / secs), b1, sizeof b1));
  printf("  tasks          %llu ok, %llu failed, %llu cancelled, %llu retries\n",
         (unsigned long long)ps.completed_ok, d.failed, d.cancelled,
         (unsigned long long)ps.retries);
  printf("  workers        %llu started, %llu lost\n\n", (unsigned long long)ps.workers_started,
         (unsigned long long)ps.workers_lost);
  printf("  %-6s %-8s %-14s %-8s %s\n", "worker", "pid", "connection id", "tasks", "rows");
  for (i = 0; i < d.nworkers; i++)
    printf("  %-6d %-8ld %-14lu %-8llu %s\n", d.workers[i].slot, d.workers[i].pid,
           d.workers[i].conn, d.workers[i].tasks, cli_num(d.workers[i].rows, b1, sizeof b1));
  printf("\n  worker sessions on the server: %lld during the run, %lld after join\n",
         sessions_during, left);
  printf("  Aborted_clients: %lld before, %lld after %s\n", aborted_before, aborted_after,
         aborted_after == aborted_before ? "(every worker closed its connection cleanly)"
                                         : "(CHANGED: some connection was not closed cleanly)");
  printf("  parent connection %lld: %s\n", parent_id,
         cli_query_ll(m, "SELECT CONNECTION_ID()") == parent_id ? "still alive, same session"
                                                                : "LOST");
  if (!rc && (unsigned long long)count == d.rows && !d.failed && !d.cancelled &&
      (unsigned long long)sum == d.rows * (d.rows + 1) / 2)
    ret = EXIT_OK;
out:
  dbfork_pool_free(pool);
  dbfork_mysql_close(m);
  cli_conn_free(&c);
  return ret;
}
