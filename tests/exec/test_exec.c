/*
 * test_exec.c — `dbfork exec` against the real server: a non-idempotent
 * UPDATE over 200k rows with 2 and 4 workers and over 2M rows, a
 * composite primary key,
 * --chunk-column, a rerun of a completed job, --dry-run, and the bad
 * inputs (each a one-line error, exit 64 or 2, nothing applied). Every
 * check is on what the server stores.
 */
#include "exectest.h"

#define ROWS 200000

/* Every row of t was incremented exactly once, and the progress rows of
 * the job cover the table exactly. */
static void check_once(et_env *e, const char *t, long rows) {
  CHECK_EQ_INT(tu_query_ll(e->m, "SELECT COUNT(*) FROM `%s`", t), rows);
  CHECK_EQ_INT(tu_query_ll(e->m, "SELECT COUNT(*) FROM `%s` WHERE n <> 1", t), 0);
  CHECK_EQ_INT(tu_query_ll(e->m, "SELECT SUM(rows_affected) FROM dbfork_exec_progress"), rows);
  CHECK_EQ_INT(tu_query_ll(e->m, "SELECT SUM(rows_planned) FROM dbfork_exec_progress"), rows);
}

static void increment(int workers) {
  et_env e;
  et_run r;
  char w[16];
  et_setup(&e);
  et_counter_table(&e, "t", ROWS);
  snprintf(w, sizeof w, "-w%d", workers);
  et_exec(&r, &e, w, "--table", "t", "--chunk-rows", "5000", "--json",
          "UPDATE t SET n = n + 1 WHERE {chunk}", NULL);
  CHECK_EXIT(&r, 0);
  check_once(&e, "t", ROWS);
  CHECK_EQ_INT(et_json_num(r.out, "rows_affected"), ROWS);
  CHECK_EQ_INT(et_json_num(r.out, "chunks_done"), ROWS / 5000);
  /* every chunk's record: key range, worker, session */
  CHECK_EQ_INT(tu_query_ll(e.m,
                           "SELECT COUNT(*) FROM dbfork_exec_progress WHERE worker_pid = 0 "
                           "OR connection_id = 0 OR key_to = ''"),
               0);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM dbfork_exec_progress WHERE key_from = ''"),
               1);
  CHECK(tu_query_ll(e.m, "SELECT COUNT(DISTINCT connection_id) FROM dbfork_exec_progress") >= 1);
  /* the rerun of a completed job changes nothing */
  et_run_free(&r);
  et_exec(&r, &e, w, "--table", "t", "UPDATE t SET n = n + 1 WHERE {chunk}", NULL);
  CHECK_EXIT(&r, 0);
  CHECK_CONTAINS(r.err, "completed already");
  check_once(&e, "t", ROWS);
  et_run_free(&r);
  et_teardown(&e);
}

TEST(test_exec_increments_every_row_once_with_2_workers) { increment(2); }
TEST(test_exec_increments_every_row_once_with_4_workers) { increment(4); }

/* The size: 2M rows, the same non-idempotent UPDATE with 4 workers,
 * then run again as new (--restart) with 2: every row +1 each time, and
 * the progress rows of each run cover the table exactly once. */
TEST(test_exec_2m_rows_incremented_once_with_4_then_2_workers) {
  et_env e;
  et_run r;
  const long rows = 2000000;
  et_setup(&e);
  et_counter_table(&e, "big", rows);
  et_exec(&r, &e, "-w4", "--table", "big", "--json", "UPDATE big SET n = n + 1 WHERE {chunk}",
          NULL);
  CHECK_EXIT(&r, 0);
  check_once(&e, "big", rows);
  CHECK_EQ_INT(et_json_num(r.out, "rows_affected"), rows);
  et_run_free(&r);
  et_exec(&r, &e, "-w2", "--table", "big", "--restart", "--json",
          "UPDATE big SET n = n + 1 WHERE {chunk}", NULL);
  CHECK_EXIT(&r, 0);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM big WHERE n <> 2"), 0);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT SUM(rows_affected) FROM dbfork_exec_progress"), rows);
  CHECK_EQ_INT(et_json_num(r.out, "rows_affected"), rows);
  et_run_free(&r);
  et_teardown(&e);
}

TEST(test_exec_tunes_chunks_to_chunk_time) {
  et_env e;
  et_run r;
  et_setup(&e);
  et_counter_table(&e, "t", ROWS);
  et_exec(&r, &e, "--table", "t", "--chunk-time", "0.05", "--json",
          "UPDATE t SET n = n + 1 WHERE {chunk}", NULL);
  CHECK_EXIT(&r, 0);
  check_once(&e, "t", ROWS);
  /* started at 1000 keys, then grew with the chunks' times */
  CHECK(tu_query_ll(e.m, "SELECT MAX(rows_planned) FROM dbfork_exec_progress") > 1000);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT rows_planned FROM dbfork_exec_progress WHERE chunk_no=0"),
               1000);
  et_run_free(&r);
  et_teardown(&e);
}

/* Near the end the chunks get smaller (tail.c), and the chunk cut ahead of
 * the workers is always handed out: every plan row has its progress row. */
TEST(test_exec_last_chunks_shrink_and_every_chunk_cut_is_run) {
  et_env e;
  et_run r;
  long long peak, before_last, plans;
  et_setup(&e);
  et_counter_table(&e, "t", 200000);
  /* chunks far below 60 s: the tuned size grows by half at every chunk, so
   * without the tail rule the chunk before the last would be the largest */
  et_exec(&r, &e, "-w2", "--table", "t", "--chunk-time", "60", "--json",
          "UPDATE t SET n = n + 1 WHERE {chunk}", NULL);
  CHECK_EXIT(&r, 0);
  check_once(&e, "t", 200000);
  peak = tu_query_ll(e.m, "SELECT MAX(rows_planned) FROM dbfork_exec_progress");
  before_last = tu_query_ll(e.m,
                            "SELECT rows_planned FROM dbfork_exec_progress ORDER BY chunk_no DESC "
                            "LIMIT 1 OFFSET 1");
  CHECK(peak > 1000);
  CHECK(before_last < peak);
  plans = tu_query_ll(e.m, "SELECT COUNT(*) FROM dbfork_exec_plan");
  CHECK_EQ_INT(plans, tu_query_ll(e.m, "SELECT COUNT(*) FROM dbfork_exec_progress"));
  et_run_free(&r);
  et_teardown(&e);
}

TEST(test_exec_composite_primary_key_in_key_order) {
  et_env e;
  et_run r;
  et_setup(&e);
  tu_exec(e.m,
          "CREATE TABLE c (a INT NOT NULL, b VARCHAR(16) NOT NULL, n INT NOT NULL DEFAULT 0, "
          "PRIMARY KEY (a, b)) ENGINE=InnoDB");
  /* 500 values of a, 60 of b each, some b with quotes and a comma */
  tu_exec(e.m,
          "INSERT INTO c (a, b) SELECT x.seq, CONCAT('k''', y.seq, ',z') FROM seq_1_to_500 x, "
          "seq_1_to_60 y");
  et_exec(&r, &e, "-w3", "--table", "c", "--chunk-rows", "777",
          "UPDATE c SET n = n + 1 WHERE {chunk}", NULL);
  CHECK_EXIT(&r, 0);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM c WHERE n <> 1"), 0);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT SUM(rows_affected) FROM dbfork_exec_progress"), 30000);
  /* chunks cut inside a value of a: ranges end at (a, b) pairs */
  CHECK(tu_query_ll(e.m, "SELECT COUNT(*) FROM dbfork_exec_progress") >= 30000 / 777);
  CHECK_EQ_INT(tu_query_ll(e.m,
                           "SELECT COUNT(*) FROM dbfork_exec_progress WHERE rows_planned <> "
                           "777 AND chunk_no < (SELECT MAX(chunk_no) FROM "
                           "dbfork_exec_progress)"),
               0);
  et_run_free(&r);
  et_teardown(&e);
}

TEST(test_exec_chunk_column_and_until_key) {
  et_env e;
  et_run r;
  et_setup(&e);
  tu_exec(e.m,
          "CREATE TABLE u (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, code BIGINT NOT NULL, "
          "n INT NOT NULL DEFAULT 0, UNIQUE KEY (code)) ENGINE=InnoDB");
  tu_exec(e.m, "INSERT INTO u (code) SELECT seq * 3 FROM seq_1_to_20000");
  et_exec(&r, &e, "--table", "u", "--chunk-column", "code", "--chunk-rows", "1000", "--until-key",
          "30000", "UPDATE u SET n = n + 1 WHERE {chunk}", NULL);
  CHECK_EXIT(&r, 0);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM u WHERE n = 1"), 10000);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM u WHERE n = 1 AND code > 30000"), 0);
  et_run_free(&r);
  /* a column that is not a unique index alone: refused */
  et_exec(&r, &e, "--table", "u", "--chunk-column", "n", "UPDATE u SET n = n + 1 WHERE {chunk}",
          NULL);
  CHECK_EXIT(&r, 64);
  CHECK_CONTAINS(r.err, "--chunk-column");
  et_run_free(&r);
  et_teardown(&e);
}

TEST(test_exec_dry_run_changes_nothing) {
  et_env e;
  et_run r;
  et_setup(&e);
  et_counter_table(&e, "t", 10000);
  et_exec(&r, &e, "--table", "t", "--chunk-rows", "100", "--dry-run",
          "UPDATE t SET n = n + 1 WHERE {chunk}", NULL);
  CHECK_EXIT(&r, 0);
  CHECK_CONTAINS(r.out, "chunk 0: keys from the first up to 100 (100 keys)");
  CHECK_CONTAINS(r.out, "chunk 2: keys above 200 up to 300");
  CHECK_CONTAINS(r.out, "EXPLAIN");
  CHECK_CONTAINS(r.out, "PRIMARY");
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM t WHERE n <> 0"), 0);
  CHECK_EQ_INT(tu_query_ll(e.m,
                           "SELECT COUNT(*) FROM information_schema.TABLES WHERE "
                           "TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE 'dbfork_exec%%'"),
               0);
  et_run_free(&r);
  et_teardown(&e);
}

/* A bad input: exit `want`, one line on stderr holding `msg`, t unchanged. */
static void refused(et_env *e, int want, const char *msg, ...) {
  et_run r;
  et_proc p;
  va_list ap;
  const char *a[12];
  int n = 0;
  va_start(ap, msg);
  while (n < 11 && (a[n] = va_arg(ap, const char *)) != NULL) n++;
  va_end(ap);
  a[n] = NULL;
  et_start(&p, e, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], NULL);
  et_wait(&p, e, &r, 60000);
  CHECK_EXIT(&r, want);
  CHECK_CONTAINS(r.err, msg);
  if (strchr(r.err, '\n') != r.err + strlen(r.err) - 1) FAIL("not one line:\n%s", r.err);
  CHECK_EQ_INT(tu_query_ll(e->m, "SELECT COUNT(*) FROM t WHERE n <> 0"), 0);
  et_run_free(&r);
}

TEST(test_exec_refuses_bad_input_changing_nothing) {
  et_env e;
  et_setup(&e);
  et_counter_table(&e, "t", 20000);
  tu_exec(e.m, "CREATE TABLE nokey (a INT, n INT) ENGINE=InnoDB");
  tu_exec(e.m, "CREATE TABLE my (id INT PRIMARY KEY, n INT) ENGINE=MyISAM");
  refused(&e, 64, "statement 2 of 2 (UPDATE t SET n = 0) has no {chunk}", "--table", "t",
          "UPDATE t SET n = n + 1 WHERE {chunk}; UPDATE t SET n = 0", NULL);
  refused(&e, 64, "has no {chunk}", "--table", "t", "UPDATE t SET n = n + 1 WHERE '{chunk}' <> ''",
          NULL);
  refused(&e, 64, "has no primary key", "--table", "nokey", "UPDATE nokey SET n = 1 WHERE {chunk}",
          NULL);
  refused(&e, 64, "not on a transactional engine", "--table", "my",
          "UPDATE my SET n = 1 WHERE {chunk}", NULL);
  refused(&e, 64, "does not exist", "--table", "nope", "UPDATE t SET n = 1 WHERE {chunk}", NULL);
  /* the server's message, naming the statement, before anything ran */
  refused(&e, 64, "statement 2 (UPDAT t SET n = 0 WHERE {chunk}): You have an error in your SQL",
          "--table", "t", "UPDATE t SET n = n + 1 WHERE {chunk}; UPDAT t SET n = 0 WHERE {chunk}",
          NULL);
  refused(&e, 64, "Unknown column 'nope'", "--table", "t",
          "UPDATE t SET n = n + 1 WHERE {chunk}; UPDATE t SET nope = 1 WHERE {chunk}", NULL);
  refused(&e, 64, "option --until-key", "--table", "t", "--until-key", "1,2",
          "UPDATE t SET n = n + 1 WHERE {chunk}", NULL);
  refused(&e, 64, "option --chunk-time", "--table", "t", "--chunk-time", "0",
          "UPDATE t SET n = n + 1 WHERE {chunk}", NULL);
  /* a runtime error of the first chunk: it ran alone, rolled back */
  refused(&e, 2, "Data too long", "--table", "t", "--chunk-rows", "100",
          "UPDATE t SET n = n + 1 WHERE {chunk}; UPDATE t SET pad = REPEAT('y', 50) WHERE {chunk}",
          NULL);
  /* --max-rows-per-chunk: a statement that matches more than its range */
  refused(&e, 2, "more than --max-rows-per-chunk=500", "--table", "t", "--chunk-rows", "100",
          "--max-rows-per-chunk", "500", "UPDATE t SET n = n + 1 WHERE {chunk} OR id > 0", NULL);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM dbfork_exec_progress"), 0);
  et_teardown(&e);
}

TEST(test_exec_missing_privilege_is_one_line) {
  et_env e;
  char user[64], pwopt[128], *saved;
  et_run r;
  et_proc p;
  et_setup(&e);
  et_counter_table(&e, "t", 1000);
  snprintf(user, sizeof user, "ex%.12s", tu_unique_name() + strlen(tu_unique_name()) - 12);
  tu_exec(e.m, "DROP USER IF EXISTS '%s'@'localhost'", user);
  tu_exec(e.m, "CREATE USER '%s'@'localhost' IDENTIFIED BY 'pw'", user);
  tu_exec(e.m, "GRANT SELECT ON `%s`.* TO '%s'@'localhost'", e.db, user);
  snprintf(pwopt, sizeof pwopt, "--password=pw");
  saved = getenv("DBFORK_TEST_USER");
  et_start(&p, &e, "-u", user, pwopt, "--table", "t", "UPDATE t SET n = n + 1 WHERE {chunk}", NULL);
  et_wait(&p, &e, &r, 60000);
  (void)saved;
  CHECK_EXIT(&r, 2);
  CHECK_CONTAINS(r.err, "UPDATE command denied");
  if (strchr(r.err, '\n') != r.err + strlen(r.err) - 1) FAIL("not one line:\n%s", r.err);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM t WHERE n <> 0"), 0);
  et_run_free(&r);
  tu_exec(e.m, "DROP USER '%s'@'localhost'", user);
  et_teardown(&e);
}

TEST(test_exec_lock_wait_timeout_applies_in_the_workers_and_is_retried) {
  et_env e;
  et_proc p;
  et_run r;
  MYSQL *holder;
  et_setup(&e);
  et_counter_table(&e, "t", 30000);
  /* another session holds row 15000 for 3 s: with --lock-wait-timeout=1 the
   * chunk holding it times out (1205) and is retried until it goes through;
   * with the default 5 s it would simply have waited */
  holder = tu_connect();
  if (mysql_select_db(holder, e.db)) FAIL("USE: %s", mysql_error(holder));
  tu_exec(holder, "START TRANSACTION");
  tu_exec(holder, "SELECT * FROM t WHERE id = 15000 FOR UPDATE");
  et_start(&p, &e, "--table", "t", "--chunk-rows", "1000", "--lock-wait-timeout", "1", "--json",
           "UPDATE t SET n = n + 1 WHERE {chunk}", NULL);
  tu_sleep_ms(3000);
  tu_exec(holder, "ROLLBACK");
  et_wait(&p, &e, &r, 120000);
  CHECK_EXIT(&r, 0);
  CHECK(et_json_num(r.out, "retries") >= 1);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM t WHERE n <> 1"), 0);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT SUM(rows_affected) FROM dbfork_exec_progress"), 30000);
  et_run_free(&r);
  mysql_close(holder);
  et_teardown(&e);
}
