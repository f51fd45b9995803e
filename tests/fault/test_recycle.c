/*
 * Recycling by task count: max_tasks_per_worker = 1 over 1,000 tasks. Every
 * task runs in a fresh worker process with a fresh connection; every recycled
 * worker runs its finalizers (a clean COM_QUIT: Aborted_clients does not
 * move); the pool never holds more than `workers` sessions at once (sampled
 * from the server by a thread while the run goes on, counting the sessions
 * whose worker process is alive: a recycled worker's session may stay listed
 * for a moment after its process exited, while the server tears it down);
 * the table is exact.
 */
#include "fault.h"

#include <pthread.h>
#include <stdatomic.h>

#define WORKERS 3
#define TASKS 1000

static char table[96];
static const char *prog;
static MYSQL *mon;
static atomic_int stop_sampler;
static long long max_seen, max_listed, samples, lingering;

static long pids[TASKS];
static unsigned long conns[TASKS];
static int status_[TASKS], calls[TASKS];
static ft_range cur;

static int input(size_t i, const void **data, size_t *len, void *ud) {
  cur.task = (int32_t)i;
  cur.first = (int32_t)i + 1;
  cur.count = 1;
  cur.sleep_ms = 0;
  *data = &cur;
  *len = sizeof cur;
  return 0;
}

static int output(size_t i, const dbfork_result *r, void *ud) {
  calls[i]++;
  status_[i] = r->status;
  pids[i] = r->worker_pid;
  conns[i] = r->connection_id;
  if (r->status) fprintf(stderr, "task %zu: %s: %s\n", i, dbfork_err_name(r->status), r->message);
  return 0;
}

static void *sampler(void *arg) {
  (void)arg;
  while (!atomic_load(&stop_sampler)) {
    long long listed, n = tu_live_sessions(mon, prog, &listed);
    if (listed > max_listed) max_listed = listed;
    if (listed > n) lingering++;
    if (n > max_seen) max_seen = n;
    samples++;
    tu_sleep_ms(3); /* leave the CPUs to the pool (2-core machines) */
  }
  return NULL;
}

static int cmp_long(const void *a, const void *b) {
  long x = *(const long *)a, y = *(const long *)b;
  return x < y ? -1 : x > y;
}

static int distinct(long *v, int n) {
  int i, d = 0;
  qsort(v, (size_t)n, sizeof *v, cmp_long);
  for (i = 0; i < n; i++)
    if (i == 0 || v[i] != v[i - 1]) d++;
  return d;
}

TEST(max_tasks_per_worker_1_recycles_cleanly_without_extra_sessions) {
  MYSQL *m = tu_connect();
  dbfork_options o;
  dbfork_pool *p;
  dbfork_pool_stats st;
  pthread_t th;
  long long aborted0, t0;
  static long conn_l[TASKS];
  int i;

  mon = tu_connect();
  snprintf(table, sizeof table, "t_%s", tu_unique_name());
  ft_create_rows_table(m, table);
  aborted0 = tu_status(m, "Aborted_clients");

  tu_options(&o);
  prog = o.program_name;
  o.workers = WORKERS;
  o.task = ft_range_task;
  o.task_arg = table;
  o.transaction = 1;
  o.max_tasks_per_worker = 1;
  o.log = ft_log;
  o.log_level = DBFORK_LOG_WARN;
  CHECK_OK(dbfork_pool_new(&p, &o));
  CHECK_OK(dbfork_pool_start(p));

  CHECK(pthread_create(&th, NULL, sampler, NULL) == 0);
  t0 = tu_now_ms();
  CHECK_OK(dbfork_map(p, TASKS, input, output, NULL));
  CHECK_OK(dbfork_pool_join(p));
  atomic_store(&stop_sampler, 1);
  pthread_join(th, NULL);
  fprintf(stderr,
          "%d tasks in %lld ms; %lld samples, at most %lld sessions of live workers "
          "(%lld listed); %lld samples listed a session of an exited worker\n",
          TASKS, tu_now_ms() - t0, samples, max_seen, max_listed, lingering);

  CHECK_EQ_INT(dbfork_pool_stats_get(p, &st, NULL, 0), WORKERS);
  fprintf(stderr, "workers started %llu, lost %llu\n", (unsigned long long)st.workers_started,
          (unsigned long long)st.workers_lost);
  dbfork_pool_free(p);

  for (i = 0; i < TASKS; i++) {
    CHECK_EQ_INT(calls[i], 1);
    CHECK_EQ_INT(status_[i], 0);
    conn_l[i] = (long)conns[i];
  }
  /* One task per process, one process per connection. */
  CHECK_EQ_INT(distinct(pids, TASKS), TASKS);
  CHECK_EQ_INT(distinct(conn_l, TASKS), TASKS);
  CHECK(st.workers_started >= TASKS);
  CHECK(st.workers_started <= TASKS + WORKERS);
  CHECK_EQ_INT(st.workers_lost, 0);
  CHECK(samples >= 20);
  CHECK(max_seen <= WORKERS);
  CHECK(max_seen >= 2); /* the sampler did see the workers' sessions */

  ft_check_rows_exact(m, table, TASKS);
  CHECK_EQ_INT(ft_aborted_clients_after(m, o.program_name), aborted0);
  tu_exec(m, "DROP TABLE `%s`", table);
}
