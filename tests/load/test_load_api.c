/*
 * test_load_api.c — the loader as a library (dbfork/load.h), in process,
 * against the real server: callbacks with file lines and raw bytes, stats,
 * a stop from a callback and the resume after it, the caller's loop, the
 * errors of bad options and misuse (codes, never a crash), and what the
 * server holds afterwards.
 */
#include <dbfork/load.h>
#include <uv.h>

#include "loadtest.h"

typedef struct seen {
  int rejects, warnings, done, failed, other;
  uint64_t reject_lines[16];
  char reject_raw[16][64];
  uint64_t warn_line;
  char warn_msg[256];
  int stop_after; /* > 0: dbfork_load_stop after that many committed chunks */
  char log[2048];
} seen;

static void on_reject(dbfork_load *l, const dbfork_load_reject *r, void *ud) {
  seen *s = ud;
  (void)l;
  if (s->rejects < 16) {
    s->reject_lines[s->rejects] = r->line;
    snprintf(s->reject_raw[s->rejects], sizeof s->reject_raw[0], "%.*s", (int)r->raw_len, r->raw);
  }
  s->rejects++;
}

static void on_warning(dbfork_load *l, const dbfork_load_warning *w, void *ud) {
  seen *s = ud;
  (void)l;
  if (!s->warnings++) {
    s->warn_line = w->line;
    snprintf(s->warn_msg, sizeof s->warn_msg, "%s", w->message);
  }
}

static void on_chunk(dbfork_load *l, const dbfork_load_chunk *c, void *ud) {
  seen *s = ud;
  if (c->what == DBFORK_LOAD_CHUNK_DONE) {
    if (++s->done == s->stop_after) CHECK_OK(dbfork_load_stop(l));
  } else if (c->what == DBFORK_LOAD_CHUNK_FAILED) {
    s->failed++;
  } else {
    s->other++;
  }
}

static void on_log(int level, const char *msg, void *arg) {
  seen *s = arg;
  if (level <= DBFORK_LOG_WARN)
    snprintf(s->log + strlen(s->log), sizeof s->log - strlen(s->log), "%s\n", msg);
}

static void options(const lt_env *e, dbfork_options *o, dbfork_load_options *lo, seen *s) {
  tu_options(o);
  o->database = e->db;
  o->workers = 2;
  o->program_name = "dbfork-load";
  o->log = on_log;
  o->log_arg = s;
  dbfork_load_options_init(lo);
  lo->file = e->path;
  lo->table = "orders";
  lo->on_reject = on_reject;
  lo->on_warning = on_warning;
  lo->on_chunk = on_chunk;
  lo->ud = s;
}

#define N 3000

TEST(loads_in_process_with_rejects_by_line_and_exact_rows) {
  lt_env e;
  lt_file f;
  lt_row rows[N];
  dbfork_options o;
  dbfork_load_options lo;
  dbfork_load *l;
  dbfork_load_stats st;
  seen s;
  uint64_t bad1, bad2;
  memset(&s, 0, sizeof s);
  lt_setup(&e, "orders", 1);
  lt_gen(rows, N, 1, 17, 0);
  lt_file_init(&f, LT_BACKSLASH, 0);
  lt_put_rows(&f, rows, 1000, 1);
  bad1 = lt_line(&f);
  lt_puts(&f, "1,2,3\n");
  lt_put_rows(&f, rows + 1000, 1000, 1);
  bad2 = lt_line(&f);
  lt_puts(&f, "4,5,6,7,8,9\n");
  lt_put_rows(&f, rows + 2000, 1000, 1);
  lt_write_file(e.path, f.p, f.len);
  options(&e, &o, &lo, &s);
  lo.max_errors = 2;
  lo.chunk_size = 16 << 10;
  CHECK_OK(dbfork_load_new(&l, &o, &lo));
  CHECK(dbfork_load_pool(l) == NULL);
  CHECK_OK(dbfork_load_run(l));
  CHECK_OK(dbfork_load_stats_get(l, &st));
  CHECK_EQ_INT(st.rows_loaded, N);
  CHECK_EQ_INT(st.records, N + 2);
  CHECK_EQ_INT(st.rejected, 2);
  CHECK_EQ_INT(st.resumed, 0);
  CHECK_EQ_INT(st.done, 1);
  CHECK_EQ_INT(st.status, 0);
  CHECK(st.chunks >= 4);
  CHECK_EQ_INT(st.chunks_done, st.chunks);
  CHECK_EQ_INT(st.bytes_done, f.len);
  CHECK_EQ_INT(s.done, (int)st.chunks);
  CHECK_EQ_INT(s.rejects, 2);
  CHECK_EQ_INT(s.reject_lines[0] == bad1 || s.reject_lines[1] == bad1, 1);
  CHECK_EQ_INT(s.reject_lines[0] == bad2 || s.reject_lines[1] == bad2, 1);
  CHECK(!strcmp(s.reject_raw[0], "1,2,3\n") || !strcmp(s.reject_raw[1], "1,2,3\n"));
  CHECK_SUM(lt_server_sum(e.m, "orders"), lt_sum_rows(rows, N));
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT rejected FROM dbfork_load_job"), 2);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT SUM(records) FROM dbfork_load_progress"), N);
  dbfork_load_free(l);
  CHECK_EQ_INT(tu_wait_sessions(e.m, "dbfork-load", 0, 10000), 0);
  lt_file_free(&f);
  lt_teardown(&e);
}

TEST(a_stop_from_a_callback_cancels_and_the_next_load_resumes_exactly) {
  lt_env e;
  lt_file f;
  lt_row rows[N];
  dbfork_options o;
  dbfork_load_options lo;
  dbfork_load *l;
  dbfork_load_stats st;
  seen s;
  lt_sum part;
  memset(&s, 0, sizeof s);
  lt_setup(&e, "orders", 0);
  lt_gen(rows, N, 1, 23, 0);
  lt_file_init(&f, LT_BACKSLASH, 0);
  lt_put_rows(&f, rows, N, 1);
  lt_write_file(e.path, f.p, f.len);
  options(&e, &o, &lo, &s);
  lo.chunk_size = 8 << 10;
  s.stop_after = 2;
  CHECK_OK(dbfork_load_new(&l, &o, &lo));
  CHECK_ERR(dbfork_load_run(l), DBFORK_ECANCELED);
  CHECK_OK(dbfork_load_stats_get(l, &st));
  CHECK(st.chunks_done >= 2 && st.chunks_done < st.chunks + 1);
  CHECK_CONTAINS(dbfork_load_last_error(l), "stopped");
  CHECK_ERR(dbfork_load_run(l), DBFORK_ESTATE); /* a load runs once */
  dbfork_load_free(l);
  part = lt_server_sum(e.m, "orders");
  CHECK_SUM(part, lt_sum_committed(e.m, &f, rows));
  CHECK(part.count > 0 && part.count < N);

  memset(&s, 0, sizeof s);
  options(&e, &o, &lo, &s);
  lo.chunk_size = 8 << 10;
  CHECK_OK(dbfork_load_new(&l, &o, &lo));
  CHECK_OK(dbfork_load_prepare(l));
  CHECK_OK(dbfork_load_stats_get(l, &st));
  CHECK_EQ_INT(st.resumed, 1);
  CHECK(st.parts_before >= 2);
  CHECK_ERR(dbfork_load_prepare(l), DBFORK_ESTATE);
  CHECK_OK(dbfork_load_run(l));
  CHECK_OK(dbfork_load_stats_get(l, &st));
  CHECK_EQ_INT(st.rows_loaded, N - part.count);
  CHECK_EQ_INT(st.bytes_before + st.bytes_done, f.len);
  dbfork_load_free(l);
  CHECK_SUM(lt_server_sum(e.m, "orders"), lt_sum_rows(rows, N)); /* no key: a duplicate shows */
  lt_file_free(&f);
  lt_teardown(&e);
}

static void done_cb(dbfork_load *l, int status, void *ud) {
  int *out = ud;
  (void)l;
  *out = status;
}

TEST(on_the_callers_loop_start_calls_done_once_and_the_signal_watcher_stays_ours) {
  lt_env e;
  lt_file f;
  lt_row rows[N];
  dbfork_options o;
  dbfork_load_options lo;
  dbfork_load *l;
  uv_loop_t loop;
  uv_signal_t sig;
  seen s;
  int status = 1;
  memset(&s, 0, sizeof s);
  lt_setup(&e, "orders", 1);
  lt_gen(rows, N, 1, 29, 0);
  lt_file_init(&f, LT_BACKSLASH, 0);
  lt_put_rows(&f, rows, N, 1);
  lt_write_file(e.path, f.p, f.len);
  CHECK_OK(uv_loop_init(&loop));
  CHECK_OK(uv_signal_init(&loop, &sig)); /* the application's own handle on the loop */
  options(&e, &o, &lo, &s);
  o.loop = &loop;
  lo.chunk_size = 16 << 10;
  CHECK_OK(dbfork_load_new(&l, &o, &lo));
  CHECK_ERR(dbfork_load_run(l), DBFORK_ESTATE); /* a caller's loop: start, not run */
  CHECK_ERR(dbfork_load_start(l, NULL, NULL), DBFORK_EINVAL);
  CHECK_OK(dbfork_load_start(l, done_cb, &status));
  CHECK(dbfork_load_pool(l) != NULL);
  CHECK(dbfork_pool_loop(dbfork_load_pool(l)) == &loop);
  CHECK_ERR(dbfork_load_start(l, done_cb, &status), DBFORK_ESTATE);
  while (status == 1) uv_run(&loop, UV_RUN_ONCE);
  CHECK_EQ_INT(status, 0);
  dbfork_load_free(l);
  CHECK_SUM(lt_server_sum(e.m, "orders"), lt_sum_rows(rows, N));
  uv_close((uv_handle_t *)&sig, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_OK(uv_loop_close(&loop)); /* nothing of the load's is left on the loop */
  lt_file_free(&f);
  lt_teardown(&e);
}

TEST(bad_options_and_misuse_return_codes_that_name_the_problem) {
  lt_env e;
  dbfork_options o;
  dbfork_load_options lo;
  dbfork_load *l = (dbfork_load *)&e;
  dbfork_load_stats st;
  seen s;
  memset(&s, 0, sizeof s);
  lt_setup(&e, "orders", 1);
  lt_write_file(e.path, "1,2,3.00,2024-01-01 00:00:00,x\n",
                strlen("1,2,3.00,2024-01-01 00:00:00,x\n"));
  options(&e, &o, &lo, &s);
  CHECK_ERR(dbfork_load_new(NULL, &o, &lo), DBFORK_EINVAL);
  CHECK_ERR(dbfork_load_new(&l, NULL, &lo), DBFORK_EINVAL);
  CHECK(l == NULL);
  CHECK_ERR(dbfork_load_new(&l, &o, NULL), DBFORK_EINVAL);
  lo.file = NULL;
  CHECK_ERR(dbfork_load_new(&l, &o, &lo), DBFORK_EINVAL);
  CHECK_CONTAINS(s.log, "no file given");
  lo.file = e.path;
  lo.method = "copy";
  CHECK_ERR(dbfork_load_new(&l, &o, &lo), DBFORK_EINVAL);
  CHECK_CONTAINS(s.log, "option --method: 'copy'");
  lo.method = "load-data";
  lo.on_duplicate = "update";
  CHECK_ERR(dbfork_load_new(&l, &o, &lo), DBFORK_EINVAL);
  CHECK_CONTAINS(s.log, "needs --method=insert or bulk");
  lo.method = NULL;
  lo.on_duplicate = NULL;
  lo.fields_terminated_by = "";
  CHECK_ERR(dbfork_load_new(&l, &o, &lo), DBFORK_EINVAL);
  CHECK_CONTAINS(s.log, "bad CSV dialect options");
  lo.fields_terminated_by = NULL;
  CHECK(l == NULL);
  /* the table and the engine are checked by prepare, named in last_error */
  lo.table = "no_such_table";
  CHECK_OK(dbfork_load_new(&l, &o, &lo));
  CHECK_ERR(dbfork_load_prepare(l), DBFORK_EINVAL);
  CHECK_CONTAINS(dbfork_load_last_error(l), "no_such_table");
  /* a failed prepare is final, and its message stays */
  CHECK_ERR(dbfork_load_prepare(l), DBFORK_ESTATE);
  CHECK_ERR(dbfork_load_run(l), DBFORK_ESTATE);
  CHECK_CONTAINS(dbfork_load_last_error(l), "no_such_table");
  CHECK_OK(dbfork_load_stats_get(l, &st));
  CHECK(st.done == 1 && st.status == DBFORK_EINVAL);
  CHECK_ERR(dbfork_load_start(l, done_cb, NULL), DBFORK_ESTATE); /* no caller's loop */
  dbfork_load_free(l);
  /* stopped before it ran: the run says so */
  lo.table = "orders";
  CHECK_OK(dbfork_load_new(&l, &o, &lo));
  CHECK_OK(dbfork_load_stop(l));
  CHECK_ERR(dbfork_load_run(l), DBFORK_ECANCELED);
  CHECK_OK(dbfork_load_stats_get(l, &st));
  CHECK(st.done == 1 && st.status == DBFORK_ECANCELED);
  CHECK(dbfork_load_pool(l) == NULL); /* no worker was ever started */
  dbfork_load_free(l);
  tu_exec(e.m, "CREATE TABLE myi (x INT) ENGINE=MyISAM");
  lo.table = "myi";
  CHECK_OK(dbfork_load_new(&l, &o, &lo));
  CHECK_ERR(dbfork_load_run(l), DBFORK_EINVAL);
  CHECK_CONTAINS(dbfork_load_last_error(l), "no transactions");
  CHECK_ERR(dbfork_load_stats_get(l, NULL), DBFORK_EINVAL);
  CHECK_ERR(dbfork_load_stats_get(NULL, &st), DBFORK_EINVAL);
  dbfork_load_free(l);
  lo.table = "orders";
  lo.file = "/nonexistent/file.csv";
  CHECK_OK(dbfork_load_new(&l, &o, &lo));
  CHECK_ERR(dbfork_load_prepare(l), DBFORK_EINVAL);
  CHECK_CONTAINS(dbfork_load_last_error(l), "/nonexistent/file.csv");
  dbfork_load_free(l);
  o.password = "wrong";
  lo.file = e.path;
  CHECK_OK(dbfork_load_new(&l, &o, &lo));
  CHECK_ERR(dbfork_load_prepare(l), DBFORK_ECONNECT);
  CHECK_CONTAINS(dbfork_load_last_error(l), "Access denied");
  dbfork_load_free(l);
  CHECK_EQ_STR(dbfork_load_last_error(NULL), "");
  CHECK(dbfork_load_pool(NULL) == NULL);
  CHECK_ERR(dbfork_load_stop(NULL), DBFORK_EINVAL);
  CHECK_ERR(dbfork_load_prepare(NULL), DBFORK_EINVAL);
  CHECK_ERR(dbfork_load_run(NULL), DBFORK_EINVAL);
  dbfork_load_free(NULL);
  dbfork_load_options_init(NULL);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM orders"), 0);
  lt_teardown(&e);
}

TEST(server_warnings_reach_the_callback_with_the_records_line) {
  lt_env e;
  lt_file f;
  lt_row rows[40];
  dbfork_options o;
  dbfork_load_options lo;
  dbfork_load *l;
  dbfork_load_stats st;
  seen s;
  uint64_t line;
  memset(&s, 0, sizeof s);
  lt_setup(&e, "orders", 1);
  lt_gen(rows, 40, 1, 5, 1);
  lt_file_init(&f, LT_BACKSLASH, 0);
  lt_put_rows(&f, rows, 20, 1);
  line = lt_line(&f);
  lt_puts(&f, "100,1,2.555,2024-01-01 00:00:00,rounded\n");
  lt_put_rows(&f, rows + 20, 20, 1);
  lt_write_file(e.path, f.p, f.len);
  options(&e, &o, &lo, &s);
  lo.method = "insert";
  lo.batch = 7;
  CHECK_OK(dbfork_load_new(&l, &o, &lo));
  CHECK_OK(dbfork_load_run(l));
  CHECK_OK(dbfork_load_stats_get(l, &st));
  CHECK_EQ_INT(st.warnings, 1);
  CHECK_EQ_INT(s.warnings, 1);
  CHECK_EQ_INT(s.warn_line, line);
  CHECK_CONTAINS(s.warn_msg, "amount"); /* a Note: 2.555 rounded to DECIMAL(12,2) */
  dbfork_load_free(l);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM orders"), 41);
  lt_file_free(&f);
  lt_teardown(&e);
}
