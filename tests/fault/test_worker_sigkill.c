/*
 * Fault: a helper thread SIGKILLs a random worker every 100 ms while 1,000
 * transactional tasks insert 100,000 rows. Invariants 4 and 5: every task
 * ends ok through retries, the table is exact (no row lost, none doubled),
 * every lost worker's session was KILLed, and the completions account for
 * the retries. The tasks come from dbfork_map, or from several submitting
 * threads.
 */
#include "fault.h"

#include <pthread.h>
#include <stdatomic.h>

#define WORKERS 4
#define TASKS 1000
#define ROWS_PER_TASK 100

static char table[96];
static _Atomic long slot_pid[WORKERS]; /* latest pid seen per slot, from completions */
static atomic_int stop_killer;
static atomic_int kills;
static atomic_int kills_failed; /* "could not KILL <id>" warnings (docs/policies.md) */

/* ft_log, counting the KILLs of lost sessions the control connection gave
 * up on: the contract allows that (a KILL not done within 3 s is logged and
 * dropped), so the test counts them instead of assuming a quick server. */
static void count_log(int level, const char *msg, void *arg) {
  if (!strncmp(msg, "could not KILL ", 15) && strncmp(msg, "could not KILL QUERY", 20))
    atomic_fetch_add(&kills_failed, 1);
  ft_log(level, msg, arg);
}

typedef struct outcome {
  int calls;
  int status;
  unsigned int attempts;
  char msg[160];
} outcome;
static outcome out[TASKS];
static ft_range ranges[TASKS];
static int *todo; /* the current map's tasks: indexes into ranges[] */

static int input(size_t i, const void **data, size_t *len, void *ud) {
  *data = &ranges[todo[i]];
  *len = sizeof(ft_range);
  return 0;
}

static int output(size_t i, const dbfork_result *r, void *ud) {
  outcome *o = &out[todo[i]];
  o->calls++;
  o->status = r->status;
  o->attempts = r->attempts;
  snprintf(o->msg, sizeof o->msg, "%s", r->message);
  if (r->worker_slot >= 0 && r->worker_slot < WORKERS) slot_pid[r->worker_slot] = r->worker_pid;
  return 0;
}

/* The same outcome, for a task submitted by a thread (ud: its index). */
static void on_done(const dbfork_result *r, void *ud) {
  size_t k = (size_t)(uintptr_t)ud;
  outcome *o = &out[k];
  o->calls++;
  o->status = r->status;
  o->attempts = r->attempts;
  snprintf(o->msg, sizeof o->msg, "%s", r->message);
  if (r->worker_slot >= 0 && r->worker_slot < WORKERS) slot_pid[r->worker_slot] = r->worker_pid;
}

static dbfork_pool *pool; /* for the submitting threads */
static atomic_int completed_by_threads;

static void count_done(const dbfork_result *r, void *ud) {
  on_done(r, ud);
  atomic_fetch_add(&completed_by_threads, 1);
}

static int submit_range(size_t i, void *arg) {
  (void)arg;
  if (i >= TASKS) return 1;
  CHECK_OK(dbfork_submit(pool, &ranges[i], sizeof ranges[i], count_done, (void *)(uintptr_t)i));
  return 0;
}

/* Every 100 ms: pick a slot at random; if its last known pid is a live
 * worker of ours, SIGKILL it. */
static void *killer(void *arg) {
  unsigned int seed = (unsigned int)getpid();
  (void)arg;
  while (!atomic_load(&stop_killer)) {
    int s;
    long pid;
    tu_sleep_ms(100);
    if (atomic_load(&stop_killer)) break; /* no kill after the work is done */
    s = (int)(rand_r(&seed) % WORKERS);
    pid = atomic_load(&slot_pid[s]);
    if (ft_is_live_child(pid) && kill((pid_t)pid, SIGKILL) == 0) {
      atomic_fetch_add(&kills, 1);
      atomic_store(&slot_pid[s], 0);
    }
  }
  return NULL;
}

/* threaded: the tasks are submitted by tu_submit_threads() threads at once
 * (the loop thread runs the loop meanwhile), not by dbfork_map. */
static void run(int threaded) {
  MYSQL *m = tu_connect();
  dbfork_options o;
  dbfork_pool *p;
  dbfork_pool_stats st;
  pthread_t th;
  long long t0, retries = 0;
  unsigned int max_attempts = 0;
  int i, n, with_retry = 0, unknown = 0, resubmit = 0;

  snprintf(table, sizeof table, "t_%s", tu_unique_name());
  ft_create_rows_table(m, table);
  todo = calloc(TASKS, sizeof *todo);
  CHECK(todo != NULL);
  for (i = 0; i < TASKS; i++) {
    ranges[i].task = i;
    ranges[i].first = i * ROWS_PER_TASK + 1;
    ranges[i].count = ROWS_PER_TASK;
    ranges[i].sleep_ms = 2; /* some time inside the transaction, before COMMIT */
    todo[i] = i;
  }

  tu_options(&o);
  o.workers = WORKERS;
  o.task = ft_range_task;
  o.task_arg = table;
  o.transaction = 1;
  /* Kills are random: a task may be hit more than once. The bound is part
   * of the contract, not of this test. */
  o.max_retries = 20;
  o.log = count_log;
  o.log_level = DBFORK_LOG_WARN;
  CHECK_OK(dbfork_pool_new(&p, &o));
  CHECK_OK(dbfork_pool_start(p));

  t0 = tu_now_ms();
  CHECK(pthread_create(&th, NULL, killer, NULL) == 0);
  if (threaded) {
    tu_submitters *subs;
    pool = p;
    subs = tu_submitters_start(0, submit_range, NULL);
    while (atomic_load(&completed_by_threads) < TASKS) {
      dbfork_pool_run(p, 2);
      tu_sleep_ms(1);
    }
    tu_submitters_stop(subs);
  } else {
    CHECK_OK(dbfork_map(p, TASKS, input, output, NULL));
  }
  atomic_store(&stop_killer, 1);
  pthread_join(th, NULL);
  fprintf(stderr, "map of %d tasks took %lld ms with %d kills\n", TASKS, tu_now_ms() - t0,
          atomic_load(&kills));

  /* Every task ends ok — or, if its worker died while COMMIT was in flight,
   * DBFORK_ECOMMITUNKNOWN, which the caller resolves (the documented
   * contract): its rows are all there, or none is and it is re-submitted.
   * Anything else — a duplicate key from a task applied twice above all —
   * is a failure. */
  n = 0;
  for (i = 0; i < TASKS; i++) {
    CHECK_EQ_INT(out[i].calls, 1);
    CHECK(out[i].attempts >= 1);
    retries += out[i].attempts - 1;
    if (out[i].attempts > 1) with_retry++;
    if (out[i].attempts > max_attempts) max_attempts = out[i].attempts;
    if (out[i].status == 0) continue;
    if (out[i].status != DBFORK_ECOMMITUNKNOWN)
      FAIL("task %d: status %d %s after %u attempts: %s", i, out[i].status,
           dbfork_err_name(out[i].status), out[i].attempts, out[i].msg);
    unknown++;
    {
      long long rows = ft_range_rows(m, table, &ranges[i]);
      if (rows == ROWS_PER_TASK) continue;
      if (rows != 0) FAIL("task %d: half-committed: %lld rows", i, rows);
      todo[n++] = i;
      resubmit++;
    }
  }
  if (n) {
    for (i = 0; i < n; i++) out[todo[i]].calls = 0;
    CHECK_OK(dbfork_map(p, (size_t)n, input, output, NULL));
    for (i = 0; i < n; i++) {
      if (out[todo[i]].calls != 1 || out[todo[i]].status != 0)
        FAIL("re-submitted task %d: %s: %s", todo[i], dbfork_err_name(out[todo[i]].status),
             out[todo[i]].msg);
      retries += out[todo[i]].attempts - 1;
    }
  }
  /* Every loss is replaced while the pool is open: wait (bounded) until
   * every SIGKILL sent is noticed (the last one may land after the last
   * task) and every loss replaced, before the join closes the pool. */
  {
    long long tw = tu_now_ms();
    for (;;) {
      dbfork_worker_stats ws[WORKERS];
      int k, up = 0;
      CHECK_EQ_INT(dbfork_pool_stats_get(p, &st, ws, WORKERS), WORKERS);
      for (k = 0; k < WORKERS; k++) up += ws[k].state == DBFORK_WORKER_IDLE;
      if (up == WORKERS && st.workers_lost == (uint64_t)atomic_load(&kills) &&
          st.workers_started == WORKERS + st.workers_lost)
        break;
      if (tu_now_ms() - tw > 15000)
        FAIL(
            "the lost workers were not all replaced within 15 s: %d of %d idle, started %llu, "
            "lost %llu of %d killed",
            up, WORKERS, (unsigned long long)st.workers_started,
            (unsigned long long)st.workers_lost, atomic_load(&kills));
      dbfork_pool_run(p, 2);
      tu_sleep_ms(10);
    }
  }
  CHECK_OK(dbfork_pool_join(p));
  CHECK_EQ_INT(dbfork_pool_stats_get(p, &st, NULL, 0), WORKERS);
  fprintf(stderr,
          "tasks retried: %d, retries: %lld, max attempts: %u, commit unknown %d (re-submitted "
          "%d); workers started %llu, lost %llu, sessions killed %llu\n",
          with_retry, retries, max_attempts, unknown, resubmit,
          (unsigned long long)st.workers_started, (unsigned long long)st.workers_lost,
          (unsigned long long)st.sessions_killed);

  /* The run must actually have been disturbed. */
  CHECK(atomic_load(&kills) >= 5);
  /* Every SIGKILL we sent was noticed as a loss, and each lost worker's
   * session was KILLed on the control connection, or the KILL was given
   * up with a warning (a loaded server: the 3 s deadline); the sessions
   * are gone either way (checked at the end). */
  CHECK_EQ_INT(st.workers_lost, atomic_load(&kills));
  CHECK_EQ_INT(st.sessions_killed + (uint64_t)atomic_load(&kills_failed), st.workers_lost);
  CHECK(st.sessions_killed >= 1);
  /* Each loss was replaced (waited for above), never more. */
  CHECK_EQ_INT(st.workers_started, WORKERS + st.workers_lost);
  /* The completions say how many retries happened, and agree with the stats. */
  CHECK_EQ_INT(st.retries, retries);
  /* The kills hit tasks: retried, or (worker killed after announcing its
   * COMMIT) reported unknown and resolved above. */
  CHECK(retries + unknown >= 1);
  CHECK_EQ_INT(st.submitted, TASKS + resubmit);
  CHECK_EQ_INT(st.completed_ok, TASKS - unknown + resubmit);
  CHECK_EQ_INT(st.completed_failed, unknown);

  dbfork_pool_free(p);

  ft_check_rows_exact(m, table, (long long)TASKS * ROWS_PER_TASK);
  /* Every task's rows carry its own task number: no range written by another. */
  CHECK_EQ_INT(tu_query_ll(m, "SELECT COUNT(*) FROM `%s` WHERE task <> (id - 1) DIV %d", table,
                           ROWS_PER_TASK),
               0);
  /* No session of this pool is left: not the workers', not the control
   * connection's. */
  CHECK_EQ_INT(tu_wait_sessions(m, o.program_name, 0, 5000), 0);
  tu_exec(m, "DROP TABLE `%s`", table);
  free(todo);
}

TEST(sigkill_random_worker_every_100ms_loses_no_row) { run(0); }

/* The same with several threads submitting while the workers die. */
TEST(sigkill_random_worker_while_threads_submit_loses_no_row) { run(1); }
