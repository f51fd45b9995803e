/*
 * Several threads submit to one pool while the loop thread runs it, closes,
 * stops or fails it. dbfork_submit is thread-safe: every submit either
 * returns 0 and its task completes exactly once, or returns an error and its
 * callback never runs; the server holds the rows of exactly the tasks that
 * completed ok. The thread count is tu_submit_threads() (the ThreadSanitizer
 * leg of CI runs these with 4, and reports any data race between the
 * submitting threads and the loop thread).
 */
#include "itest.h"

#include <pthread.h>
#include <sys/mman.h>

#define MAX_TASKS 200000

typedef struct job {
  char table[96];
  dbfork_pool *pool;
  int calls[MAX_TASKS];  /* completions per task index (loop thread) */
  int status[MAX_TASKS]; /* the last completion's status (loop thread) */
  int accepted[MAX_TASKS];
  size_t limit;       /* indices >= limit are not submitted */
  int n_accepted;     /* atomic */
  int n_completed;    /* loop thread */
  int n_closed;       /* atomic: submits that returned DBFORK_ECLOSED */
  int n_einit;        /* atomic: submits that returned DBFORK_EINIT */
  int n_other;        /* atomic: submits that returned anything else */
  int keep_going;     /* go on calling submit after a refusal */
  volatile int *fail; /* shared with the workers: 1 = init fails */
} job;

typedef struct ticket {
  job *j;
  size_t i;
} ticket;

static int insert_task(dbfork_worker *w, const void *in, size_t len, void *arg) {
  (void)arg;
  return mysql_real_query(dbfork_worker_mysql(w), in, (unsigned long)len) ? DBFORK_ESQL : 0;
}

static void on_done(const dbfork_result *r, void *ud) {
  ticket *t = ud;
  t->j->calls[t->i]++;
  t->j->status[t->i] = r->status;
  t->j->n_completed++;
  free(t);
}

/* One submit of task i (INSERT id = i) from a submitting thread. */
static int submit_one(size_t i, void *arg) {
  job *j = arg;
  char sql[160];
  ticket *t;
  int rc;
  if (i >= j->limit) return 1;
  t = malloc(sizeof *t);
  CHECK(t != NULL);
  t->j = j;
  t->i = i;
  snprintf(sql, sizeof sql, "INSERT INTO `%s` (id) VALUES (%zu)", j->table, i);
  rc = dbfork_submit(j->pool, sql, strlen(sql), on_done, t);
  if (rc == 0) {
    j->accepted[i] = 1;
    __atomic_fetch_add(&j->n_accepted, 1, __ATOMIC_RELAXED);
    return 0;
  }
  free(t); /* a refused submit never calls its callback */
  if (rc == DBFORK_ECLOSED)
    __atomic_fetch_add(&j->n_closed, 1, __ATOMIC_RELAXED);
  else if (rc == DBFORK_EINIT)
    __atomic_fetch_add(&j->n_einit, 1, __ATOMIC_RELAXED);
  else
    __atomic_fetch_add(&j->n_other, 1, __ATOMIC_RELAXED);
  if (!j->keep_going) return 1;
  tu_sleep_ms(1); /* a producer that has not noticed yet, trying again */
  return 0;
}

static int accepted(job *j) { return __atomic_load_n(&j->n_accepted, __ATOMIC_RELAXED); }

static job *new_job(MYSQL *m, size_t limit) {
  job *j = calloc(1, sizeof *j);
  CHECK(j != NULL);
  snprintf(j->table, sizeof j->table, "t_%s", tu_unique_name());
  j->limit = limit;
  tu_exec(m, "DROP TABLE IF EXISTS `%s`", j->table);
  tu_exec(m, "CREATE TABLE `%s` (id INT PRIMARY KEY) ENGINE=InnoDB", j->table);
  return j;
}

static void options(dbfork_options *o, int workers) {
  it_options(o, tu_unique_name(), workers);
  o->task = insert_task;
  o->queue_max = 16; /* full often: submitting threads wait for room */
  o->prefetch = 4;
}

/* Runs the pool's loop (without blocking, so that the threads' progress is
 * seen) until cond(j) holds. */
static void run_until(dbfork_pool *p, job *j, int (*cond)(job *j)) {
  while (!cond(j)) {
    dbfork_pool_run(p, 2);
    tu_sleep_ms(1);
  }
}

/* Every accepted task completed exactly once, nothing else did; the server
 * holds exactly the rows of the tasks that completed ok. */
static void check_exactly_once(MYSQL *m, job *j, size_t taken) {
  long long ok = 0;
  size_t i;
  for (i = 0; i < taken && i < MAX_TASKS; i++) {
    if (j->calls[i] != j->accepted[i])
      FAIL("task %zu: accepted %d, completed %d times", i, j->accepted[i], j->calls[i]);
    if (j->calls[i] && j->status[i] == 0) ok++;
  }
  CHECK_EQ_INT(j->n_completed, accepted(j));
  CHECK_EQ_INT(j->n_other, 0);
  CHECK_EQ_INT(tu_query_ll(m, "SELECT COUNT(*) FROM `%s`", j->table), ok);
  fprintf(stderr, "%d accepted, %lld ok, %d ECLOSED, %d EINIT\n", accepted(j), ok, j->n_closed,
          j->n_einit);
}

static int all_done(job *j) { return j->n_completed == (int)j->limit; }

TEST(threads_submit_each_task_runs_once) {
  MYSQL *m = tu_connect();
  job *j = new_job(m, 3000);
  dbfork_options o;
  dbfork_pool_stats ps;
  tu_submitters *s;
  options(&o, 2);
  CHECK_OK(dbfork_pool_new(&j->pool, &o));
  CHECK_OK(dbfork_pool_start(j->pool));
  s = tu_submitters_start(0, submit_one, j);
  while (!all_done(j)) {
    dbfork_pool_run(j->pool, 2);
    /* The loop thread reads the counters while the threads submit. */
    CHECK_EQ_INT(dbfork_pool_stats_get(j->pool, &ps, NULL, 0), 2);
    CHECK(ps.submitted <= 3000);
    tu_sleep_ms(1);
  }
  tu_submitters_stop(s);
  CHECK_OK(dbfork_pool_join(j->pool));
  CHECK_EQ_INT(dbfork_pool_stats_get(j->pool, &ps, NULL, 0), 2);
  CHECK_EQ_INT(ps.submitted, 3000);
  CHECK_EQ_INT(ps.completed_ok, 3000);
  dbfork_pool_free(j->pool);
  check_exactly_once(m, j, 3000);
  CHECK_EQ_INT(tu_query_ll(m, "SELECT SUM(id) FROM `%s`", j->table), 2999LL * 3000 / 2);
  tu_exec(m, "DROP TABLE `%s`", j->table);
  free(j);
}

static void *close_pool(void *arg) {
  CHECK_OK(dbfork_pool_close(arg));
  return NULL;
}

static int many_accepted(job *j) { return accepted(j) >= 300; }

/* A thread closes the pool while others submit, and go on submitting for a
 * while after: each submit is accepted and runs once, or is refused with
 * DBFORK_ECLOSED. */
TEST(close_from_a_thread_while_threads_submit) {
  MYSQL *m = tu_connect();
  job *j = new_job(m, MAX_TASKS);
  dbfork_options o;
  tu_submitters *s;
  pthread_t th;
  size_t taken;
  options(&o, 2);
  j->keep_going = 1;
  CHECK_OK(dbfork_pool_new(&j->pool, &o));
  CHECK_OK(dbfork_pool_start(j->pool));
  s = tu_submitters_start(0, submit_one, j);
  run_until(j->pool, j, many_accepted);
  CHECK(pthread_create(&th, NULL, close_pool, j->pool) == 0);
  CHECK_OK(dbfork_pool_join(j->pool)); /* the threads still call submit */
  CHECK(pthread_join(th, NULL) == 0);
  taken = tu_submitters_stop(s);
  CHECK(j->n_closed > 0);
  CHECK(accepted(j) >= 300);
  dbfork_pool_free(j->pool);
  check_exactly_once(m, j, taken);
  tu_exec(m, "DROP TABLE `%s`", j->table);
  free(j);
}

static int fail_init(dbfork_worker *w, void *arg) {
  job *j = arg;
  if (*j->fail) return dbfork_worker_fail(w, DBFORK_ETASK, 0, NULL, "failing on purpose");
  return 0;
}

static int einit_seen(job *j) { return __atomic_load_n(&j->n_einit, __ATOMIC_RELAXED) > 0; }

/* The pool fails (its replacement workers cannot start) while threads
 * submit: accepted tasks complete once (ok, or DBFORK_EINIT), later submits
 * are refused with DBFORK_EINIT. */
TEST(pool_fails_while_threads_submit) {
  TU_NEEDS_PARENT_MEMORY("the initializer gets a heap object shared with the test");
  MYSQL *m = tu_connect();
  job *j = new_job(m, MAX_TASKS);
  dbfork_options o;
  dbfork_worker_stats ws[2];
  tu_submitters *s;
  size_t taken;
  int i;
  j->fail = mmap(NULL, sizeof *j->fail, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  CHECK(j->fail != MAP_FAILED);
  *j->fail = 0;
  options(&o, 2);
  o.init = fail_init;
  o.init_arg = j;
  o.max_start_failures = 1;
  o.log = NULL; /* the failure is expected: keep quiet */
  j->keep_going = 1;
  CHECK_OK(dbfork_pool_new(&j->pool, &o));
  CHECK_OK(dbfork_pool_start(j->pool));
  s = tu_submitters_start(0, submit_one, j);
  run_until(j->pool, j, many_accepted);
  /* From now on a new worker cannot start; end the running ones cleanly
   * (SIGTERM): their replacements fail, and so does the pool. */
  *j->fail = 1;
  CHECK_EQ_INT(dbfork_pool_stats_get(j->pool, NULL, ws, 2), 2);
  for (i = 0; i < 2; i++) CHECK(kill((pid_t)ws[i].pid, SIGTERM) == 0);
  run_until(j->pool, j, einit_seen);
  CHECK_ERR(dbfork_pool_join(j->pool), DBFORK_EINIT);
  taken = tu_submitters_stop(s);
  dbfork_pool_free(j->pool);
  check_exactly_once(m, j, taken);
  for (size_t k = 0; k < taken; k++)
    if (j->calls[k] && j->status[k] != 0 && j->status[k] != DBFORK_EINIT)
      FAIL("task %zu: %s", k, dbfork_err_name(j->status[k]));
  munmap((void *)j->fail, sizeof *j->fail);
  tu_exec(m, "DROP TABLE `%s`", j->table);
  free(j);
}

/* The loop thread terminates the pool while threads submit: accepted tasks
 * complete once, ok or DBFORK_ECANCELED (never run, so no row). */
TEST(terminate_while_threads_submit) {
  MYSQL *m = tu_connect();
  job *j = new_job(m, MAX_TASKS);
  dbfork_options o;
  tu_submitters *s;
  size_t taken, k;
  options(&o, 2);
  o.transaction = 1;
  j->keep_going = 1;
  CHECK_OK(dbfork_pool_new(&j->pool, &o));
  CHECK_OK(dbfork_pool_start(j->pool));
  s = tu_submitters_start(0, submit_one, j);
  run_until(j->pool, j, many_accepted);
  CHECK_OK(dbfork_pool_terminate(j->pool));
  taken = tu_submitters_stop(s);
  CHECK(j->n_closed > 0);
  dbfork_pool_free(j->pool);
  check_exactly_once(m, j, taken);
  for (k = 0; k < taken; k++)
    if (j->calls[k] && j->status[k] != 0 && j->status[k] != DBFORK_ECANCELED)
      FAIL("task %zu: %s", k, dbfork_err_name(j->status[k]));
  CHECK_EQ_INT(tu_wait_sessions(m, o.program_name, 0, 5000), 0);
  tu_exec(m, "DROP TABLE `%s`", j->table);
  free(j);
}
