/*
 * Fault: the process using the pool is SIGKILLed while its workers run
 * transactional tasks. Invariant 3 (parent death is an exit path the
 * workers survive): each worker notices (parent-death signal, EOF on its IPC
 * socket, getppid()), finishes the task it runs, runs its finalizers and
 * exits — within 2 s none is left, no session is leaked, and every session
 * ended with COM_QUIT (Aborted_clients does not move). Every task either
 * committed whole or not at all.
 */
#include "fault.h"

#include <sys/wait.h>

#define WORKERS 3
#define ROWS_PER_TASK 10

static char table[96];

typedef struct hello {
  long pid[WORKERS];
  unsigned long conn[WORKERS];
} hello;

static ft_range cur;
static int ready_fd = -1;
static long long done;

static int input(size_t i, const void **data, size_t *len, void *ud) {
  cur.task = (int32_t)i;
  cur.first = (int32_t)(i * ROWS_PER_TASK + 1);
  cur.count = ROWS_PER_TASK;
  cur.sleep_ms = 2;
  *data = &cur;
  *len = sizeof cur;
  return 0;
}

static int output(size_t i, const dbfork_result *r, void *ud) {
  if (r->status) {
    fprintf(stderr, "child: task %zu: %s: %s\n", i, dbfork_err_name(r->status), r->message);
    _exit(3);
  }
  /* Tell the test once the pool is busy. */
  if (++done == 50 && ready_fd >= 0) {
    char c = 'r';
    if (write(ready_fd, &c, 1) != 1) _exit(4);
  }
  return 0;
}

/* The process that uses the pool: start it, report the workers, then run
 * tasks until it is killed. */
static void child(int fd) {
  dbfork_options o;
  dbfork_pool *p;
  dbfork_worker_stats ws[WORKERS];
  hello h;
  int i;

  tu_options(&o);
  o.workers = WORKERS;
  o.task = ft_range_task;
  o.task_arg = table;
  o.transaction = 1;
  o.log = ft_log;
  o.log_level = DBFORK_LOG_WARN;
  if (dbfork_pool_new(&p, &o) || dbfork_pool_start(p)) _exit(2);
  CHECK_EQ_INT(dbfork_pool_stats_get(p, NULL, ws, WORKERS), WORKERS);
  for (i = 0; i < WORKERS; i++) {
    h.pid[i] = ws[i].pid;
    h.conn[i] = ws[i].connection_id;
  }
  if (write(fd, &h, sizeof h) != (ssize_t)sizeof h) _exit(4);
  ready_fd = fd;
  dbfork_map(p, 10000000, input, output, NULL);
  _exit(5); /* never reached: the test kills us first */
}

TEST(killed_parent_leaves_no_worker_and_no_session) {
  MYSQL *m = tu_connect();
  hello h;
  int fds[2], st, i;
  pid_t pid;
  char c;
  long long aborted0, t0, gone_ms = -1, sessions;

  snprintf(table, sizeof table, "t_%s", tu_unique_name());
  ft_create_rows_table(m, table);
  aborted0 = tu_status(m, "Aborted_clients");

  CHECK(pipe(fds) == 0);
  fflush(NULL);
  pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    child(fds[1]);
  }
  close(fds[1]);
  CHECK(read(fds[0], &h, sizeof h) == (ssize_t)sizeof h);
  CHECK(read(fds[0], &c, 1) == 1); /* 50 tasks done: the pool is busy */
  for (i = 0; i < WORKERS; i++) {
    CHECK(h.pid[i] > 0);
    CHECK(h.conn[i] > 0);
  }
  CHECK_EQ_INT(tu_pids_alive(h.pid, WORKERS), WORKERS);

  CHECK(kill(pid, SIGKILL) == 0);
  t0 = tu_now_ms();
  CHECK(waitpid(pid, &st, 0) == pid);
  CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);

  /* The workers are orphans now: the test runner (a subreaper) reaps them. */
  while (tu_now_ms() - t0 < 2000) {
    if (tu_pids_alive(h.pid, WORKERS) == 0) {
      gone_ms = tu_now_ms() - t0;
      break;
    }
    tu_sleep_ms(10);
  }
  fprintf(stderr, "workers gone %lld ms after the parent was killed\n", gone_ms);
  CHECK_EQ_INT(tu_pids_alive(h.pid, WORKERS), 0);
  CHECK(gone_ms >= 0);
  sessions = tu_wait_sessions(m, tu_unique_name(), 0, (int)(2000 - (tu_now_ms() - t0)) + 50);
  fprintf(stderr, "sessions left %lld ms after the kill: %lld\n", tu_now_ms() - t0, sessions);
  CHECK_EQ_INT(sessions, 0);
  CHECK_EQ_INT(tu_query_ll(m,
                           "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID IN "
                           "(%lu, %lu, %lu)",
                           h.conn[0], h.conn[1], h.conn[2]),
               0);
  /* Every worker closed its connection itself: nothing was aborted. */
  tu_sleep_ms(50);
  CHECK_EQ_INT(tu_status(m, "Aborted_clients"), aborted0);

  /* Every task committed whole or not at all. */
  CHECK(tu_query_ll(m, "SELECT COUNT(*) FROM `%s`", table) >= 50 * ROWS_PER_TASK);
  CHECK_EQ_INT(tu_query_ll(m,
                           "SELECT COUNT(*) FROM (SELECT task FROM `%s` GROUP BY task "
                           "HAVING COUNT(*) <> %d) x",
                           table, ROWS_PER_TASK),
               0);
  CHECK_EQ_INT(tu_query_ll(m, "SELECT COUNT(*) - COUNT(DISTINCT id) FROM `%s`", table), 0);
  tu_exec(m, "DROP TABLE `%s`", table);
}
