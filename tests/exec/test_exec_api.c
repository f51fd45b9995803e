/*
 * test_exec_api.c — exec as a library (dbfork/exec.h), in process: the job
 * on the caller's loop stopped from a chunk callback and resumed, the chunk
 * events and stats adding up to what the server stores, the dry run's text,
 * and misuse (NULLs, options not made by their init, calls out of order).
 */
#include <dbfork/exec.h>
#include <uv.h>

#include "exectest.h"

#include <dbfork/abi.h>

typedef struct seen {
  dbfork_exec *x;
  int stop_after, done_calls, status;
  uint64_t done, affected, cancelled;
} seen;

static void on_chunk(dbfork_exec *x, const dbfork_exec_chunk *c, void *ud) {
  seen *s = ud;
  if (c->what == DBFORK_EXEC_CHUNK_DONE) {
    s->done++;
    s->affected += c->rows_affected;
    CHECK(c->key_to[0] && c->connection_id && c->worker_pid);
    CHECK_EQ_INT(c->rows_affected, c->rows_planned);
    if (s->stop_after && s->done == (uint64_t)s->stop_after) dbfork_exec_stop(x);
  } else if (c->what == DBFORK_EXEC_CHUNK_CANCELLED) {
    s->cancelled++;
  }
}

static void on_done(dbfork_exec *x, int status, void *ud) {
  seen *s = ud;
  (void)x;
  s->done_calls++;
  s->status = status;
}

static int run_on_loop(et_env *e, seen *s, int stop_after, dbfork_exec_stats *st) {
  uv_loop_t loop;
  dbfork_options o;
  dbfork_exec_options eo;
  int rc;
  uv_loop_init(&loop);
  tu_options(&o);
  o.database = e->db;
  o.loop = &loop;
  o.workers = 2;
  dbfork_exec_options_init(&eo);
  eo.table = "t";
  eo.sql = "UPDATE t SET n = n + 1 WHERE {chunk}";
  eo.chunk_rows = 500;
  eo.on_chunk = on_chunk;
  eo.ud = s;
  memset(s, 0, sizeof *s);
  s->stop_after = stop_after;
  CHECK_OK(dbfork_exec_new(&s->x, &o, &eo));
  rc = dbfork_exec_start(s->x, on_done, s);
  CHECK_OK(rc);
  while (!s->done_calls) uv_run(&loop, UV_RUN_ONCE);
  CHECK_EQ_INT(dbfork_exec_stats_get(s->x, st), 0);
  CHECK_EQ_INT(st->done, 1);
  CHECK_EQ_INT(st->status, s->status);
  dbfork_exec_free(s->x);
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK_EQ_INT(uv_loop_close(&loop), 0);
  return s->status;
}

TEST(test_exec_api_stop_from_a_callback_then_resume_on_the_callers_loop) {
  et_env e;
  seen s;
  dbfork_exec_stats st;
  long long committed;
  et_setup(&e);
  et_counter_table(&e, "t", 20000);
  CHECK_ERR(run_on_loop(&e, &s, 5, &st), DBFORK_ECANCELED);
  CHECK_EQ_INT(s.done_calls, 1);
  committed = tu_query_ll(e.m, "SELECT COUNT(*) FROM dbfork_exec_progress");
  CHECK(committed >= 5);
  CHECK_EQ_INT(st.chunks_done, committed);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM t WHERE n = 1"), 500 * committed);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM t WHERE n > 1"), 0);
  CHECK_OK(run_on_loop(&e, &s, 0, &st));
  CHECK(st.resumed);
  CHECK_EQ_INT(st.chunks_before, committed);
  CHECK_EQ_INT(s.done + (uint64_t)committed, 40);
  CHECK_EQ_INT(st.rows_affected, 20000 - 500 * committed);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM t WHERE n <> 1"), 0);
  /* a completed job: done from a timer, nothing changed */
  CHECK_OK(run_on_loop(&e, &s, 0, &st));
  CHECK(st.already_done);
  CHECK_EQ_INT(s.done, 0);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM t WHERE n <> 1"), 0);
  et_teardown(&e);
}

TEST(test_exec_api_explain_and_misuse) {
  et_env e;
  dbfork_options o;
  dbfork_exec_options eo, bad;
  dbfork_exec *x = NULL;
  dbfork_exec_stats st;
  char *text = NULL;
  et_setup(&e);
  et_counter_table(&e, "t", 3000);
  tu_options(&o);
  o.database = e.db;
  dbfork_exec_options_init(&eo);
  eo.table = "t";
  eo.sql = "UPDATE t SET n = n + 1 WHERE {chunk}";
  eo.chunk_rows = 1000;
  memset(&bad, 0, sizeof bad);
  CHECK_ERR(dbfork_exec_new(&x, &o, &bad), DBFORK_EINVAL);
  CHECK(x == NULL);
  CHECK_ERR(dbfork_exec_new(NULL, &o, &eo), DBFORK_EINVAL);
  CHECK_ERR(dbfork_exec_run(NULL), DBFORK_EINVAL);
  CHECK_ERR(dbfork_exec_stop(NULL), DBFORK_EINVAL);
  CHECK_ERR(dbfork_exec_set_workers(NULL, 1), DBFORK_EINVAL);
  CHECK_ERR(dbfork_exec_stats_get(NULL, &st), DBFORK_EINVAL);
  CHECK_EQ_STR(dbfork_exec_last_error(NULL), "");
  dbfork_exec_free(NULL);
  dbfork_exec_options_init(NULL);
  CHECK_OK(dbfork_exec_new(&x, &o, &eo));
  CHECK_ERR(dbfork_exec_set_workers(x, 3), DBFORK_EINVAL); /* max_workers = workers = 2 */
  CHECK_OK(dbfork_exec_set_workers(x, 1));
  CHECK_ERR(dbfork_exec_start(x, NULL, NULL), DBFORK_EINVAL);
  CHECK_OK(dbfork_exec_explain(x, 2, &text));
  CHECK_CONTAINS(text, "chunk 1: keys above 1000 up to 2000 (1000 keys)");
  CHECK(!strstr(text, "chunk 2:"));
  free(text);
  CHECK_ERR(dbfork_exec_prepare(x), DBFORK_ESTATE);
  dbfork_exec_free(x);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM t WHERE n <> 0"), 0);
  et_teardown(&e);
}

/* A caller built against the 1.0 header (its options and stats end at
 * `ud` / `status`) keeps working: what lies past its size is never read
 * nor written. And the fields appended after 1.0 are checked. */
TEST(test_exec_api_options_of_1_0_still_work_and_new_fields_are_checked) {
  et_env e;
  dbfork_options o;
  dbfork_exec_options eo;
  dbfork_exec *x = NULL;
  dbfork_exec_stats st;
  const char *bad_dsn[] = {"h=a,Z=1"};
  et_setup(&e);
  et_counter_table(&e, "t", 3000);
  tu_options(&o);
  o.database = e.db;
  (dbfork_exec_options_init)(&eo, DBFORK_ABI_SIZE_TO(dbfork_exec_options, ud));
  eo.table = "t";
  eo.sql = "UPDATE t SET n = n + 1 WHERE {chunk}";
  eo.chunk_rows = 1000;
  eo.max_lag = -5; /* past a 1.0 caller's size: not read */
  eo.control_file = "";
  CHECK_OK(dbfork_exec_new(&x, &o, &eo));
  CHECK_OK(dbfork_exec_run(x));
  memset(&st, 0, sizeof st);
  st.replica_lag = 42;
  CHECK_OK((dbfork_exec_stats_get)(x, &st, DBFORK_ABI_SIZE_TO(dbfork_exec_stats, status)));
  CHECK_EQ_INT(st.chunks_done, 3);
  CHECK(st.replica_lag == 42); /* not written past the 1.0 size */
  dbfork_exec_free(x);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM t WHERE n <> 1"), 0);
  /* the full size: the appended fields are checked */
  dbfork_exec_options_init(&eo);
  eo.table = "t";
  eo.sql = "UPDATE t SET n = n + 1 WHERE {chunk}";
  eo.replicas = bad_dsn;
  eo.nreplicas = 1;
  CHECK_ERR(dbfork_exec_new(&x, &o, &eo), DBFORK_EINVAL);
  CHECK(x == NULL);
  eo.nreplicas = 0;
  eo.max_lag = 2; /* no replica to measure it on */
  CHECK_ERR(dbfork_exec_new(&x, &o, &eo), DBFORK_EINVAL);
  eo.max_lag = 0;
  eo.control_file = "";
  CHECK_ERR(dbfork_exec_new(&x, &o, &eo), DBFORK_EINVAL);
  et_teardown(&e);
}
