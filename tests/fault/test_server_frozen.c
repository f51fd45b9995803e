/*
 * Fault: the server stops answering (SIGSTOP: a hung server, a network
 * partition) while the parent has a KILL in flight on its control
 * connection. The control connection has read/write timeouts and a KILL is
 * given up (logged at WARN) after a bound, so terminate, join, free and
 * respawns are not held for as long as TCP takes to give up; the next KILL
 * opens the control connection again. Once the server answers again it holds
 * no session of the pool.
 *
 * The server is frozen for real, so this test is registered RESTARTS_SERVER
 * (nothing else runs meanwhile). A watchdog process in its own session
 * SIGCONTs the server after FREEZE_MAX_S, or at once if the test process
 * dies (failed CHECK, timeout): the server is never left stopped.
 */
#include "fault.h"

#include <dirent.h>
#include <sys/wait.h>

#define FREEZE_MAX_S 20
#define TERMINATE_BOUND_MS 10000 /* old code: until the server answered again */

static pid_t srv_pid, wd_pid;
static int kill_warnings;

static void count_log(int level, const char *msg, void *arg) {
  ft_log(level, msg, arg);
  if (level == DBFORK_LOG_WARN && strstr(msg, "could not KILL")) kill_warnings++;
}

static pid_t read_server_pid(void) {
  const char *dir = getenv("DBFORK_TEST_SERVER_DIR");
  char path[512];
  long pid = 0;
  FILE *f;
  if (!dir) FAIL("DBFORK_TEST_SERVER_DIR not set");
  snprintf(path, sizeof path, "%s/mysqld.pid", dir);
  f = fopen(path, "r");
  if (!f || fscanf(f, "%ld", &pid) != 1 || pid <= 0) FAIL("cannot read %s", path);
  fclose(f);
  return (pid_t)pid;
}

static int all_threads_stopped(pid_t pid) {
  char path[64];
  struct dirent *e;
  int stopped = 1;
  DIR *d;
  snprintf(path, sizeof path, "/proc/%ld/task", (long)pid);
  d = opendir(path);
  if (!d) FAIL("cannot open %s", path);
  while (stopped && (e = readdir(d)) != NULL) {
    char stat[64], buf[512], *p, state = 0;
    FILE *f;
    if (e->d_name[0] == '.') continue;
    snprintf(stat, sizeof stat, "/proc/%ld/task/%.20s/stat", (long)pid, e->d_name);
    if (!(f = fopen(stat, "r"))) continue;
    if (fgets(buf, sizeof buf, f) && (p = strrchr(buf, ')')) != NULL &&
        sscanf(p + 1, " %c", &state) == 1)
      stopped = state == 'T';
    fclose(f);
  }
  closedir(d);
  return stopped;
}

static void freeze(void) {
  pid_t parent = getpid();
  fflush(NULL);
  wd_pid = fork();
  CHECK(wd_pid >= 0);
  if (wd_pid == 0) {
    long long end = tu_now_ms() + FREEZE_MAX_S * 1000LL;
    /* Out of the test's process group: the runner's cleanup of that group
     * must not take the watchdog with it before it has done its job. */
    setsid();
    while (getppid() == parent && tu_now_ms() < end) tu_sleep_ms(20);
    kill(srv_pid, SIGCONT);
    _exit(0);
  }
  CHECK(kill(srv_pid, SIGSTOP) == 0);
  /* The stop reaches every thread of the server asynchronously: wait until
   * none runs any more. */
  while (!all_threads_stopped(srv_pid)) tu_sleep_ms(1);
  fprintf(stderr, "server %ld stopped\n", (long)srv_pid);
}

static void thaw(void) {
  kill(srv_pid, SIGCONT);
  kill(wd_pid, SIGKILL);
  waitpid(wd_pid, NULL, 0);
  fprintf(stderr, "server %ld continued\n", (long)srv_pid);
}

/* Runs the loop without blocking for ms milliseconds (or until *flag). */
static void drive(dbfork_pool *p, int ms, const int *flag) {
  long long end = tu_now_ms() + ms;
  while (tu_now_ms() < end && !(flag && *flag)) {
    dbfork_pool_run(p, 2);
    tu_sleep_ms(5);
  }
}

/* A pool whose control connection is open (a soft limit used it). */
static dbfork_pool *start_pool(dbfork_options *o) {
  dbfork_pool *p;
  ft_track t;
  const char *ext = getenv("DBFORK_TEST_EXTERNAL");
  if (ext && !strcmp(ext, "1")) SKIP("the suite runs against an external server: cannot freeze it");
  srv_pid = read_server_pid();
  tu_options(o);
  o->workers = 1;
  o->task = ft_sql_task;
  o->soft_time_limit_ms = 500;
  o->term_grace_ms = 500;
  o->log = count_log;
  o->log_level = DBFORK_LOG_WARN;
  CHECK_OK(dbfork_pool_new(&p, o));
  CHECK_OK(dbfork_pool_start(p));
  ft_run_one(p, "SELECT SLEEP(60)", &t, 10000);
  CHECK_ERR(t.status, DBFORK_ETIMEDOUT);
  CHECK_EQ_INT(kill_warnings, 0);
  return p;
}

/* Frozen while the pool runs: the soft limit's KILL QUERY cannot get
 * through; it is given up with a warning while the server is still frozen,
 * and the next KILL QUERY opens the control connection again. */
TEST(kill_on_a_frozen_server_is_given_up_and_the_control_connection_reopens) {
  MYSQL *m = tu_connect();
  dbfork_options o;
  dbfork_pool *p = start_pool(&o);
  ft_track t2, t3;
  long long t0, took;
  int warned;

  freeze();
  memset(&t2, 0, sizeof t2);
  CHECK_OK(dbfork_submit(p, "SELECT 2", 8, ft_track_cb, &t2));
  t0 = tu_now_ms();
  drive(p, TERMINATE_BOUND_MS, &kill_warnings);
  took = tu_now_ms() - t0;
  warned = kill_warnings;
  thaw();
  fprintf(stderr, "KILL QUERY given up after %lld ms (warnings %d)\n", took, warned);
  CHECK_EQ_INT(warned, 1);
  /* The statement ran once the server answered (or was stopped by the KILL
   * QUERY the server found in its buffer): either way one completion. */
  drive(p, 10000, &t2.calls);
  CHECK_EQ_INT(t2.calls, 1);
  if (t2.status != 0) CHECK_ERR(t2.status, DBFORK_ETIMEDOUT);

  tu_sleep_ms(500); /* let the server finish what it found in its buffers */
  ft_run_one(p, "SELECT SLEEP(60)", &t3, 10000);
  CHECK_ERR(t3.status, DBFORK_ETIMEDOUT);
  CHECK_EQ_INT(kill_warnings, 1);
  CHECK_OK(dbfork_pool_join(p));
  dbfork_pool_free(p);
  CHECK_EQ_INT(tu_wait_sessions(m, o.program_name, 0, 10000), 0);
}

/* Frozen with a KILL QUERY in flight, then terminate: the worker is stuck in
 * the server, SIGKILLed after the grace period, and the KILL of its session
 * cannot get through either; terminate and free return within the bound
 * anyway, the task completes DBFORK_ECANCELED, and once the server answers
 * again it holds no session of the pool. */
TEST(frozen_server_does_not_hold_terminate_and_free) {
  MYSQL *m = tu_connect();
  dbfork_options o;
  dbfork_pool *p = start_pool(&o);
  ft_track t4;
  long long t0, took, took_free;
  int warned;

  freeze();
  memset(&t4, 0, sizeof t4);
  CHECK_OK(dbfork_submit(p, "SELECT 4", 8, ft_track_cb, &t4));
  drive(p, 1500, NULL); /* the soft limit fires at 500 ms: its KILL QUERY hangs */
  t0 = tu_now_ms();
  CHECK_OK(dbfork_pool_terminate(p));
  took = tu_now_ms() - t0;
  t0 = tu_now_ms();
  dbfork_pool_free(p);
  took_free = tu_now_ms() - t0;
  warned = kill_warnings;
  thaw();
  fprintf(stderr, "terminate returned after %lld ms, free after %lld ms (warnings %d)\n", took,
          took_free, warned);
  CHECK(took < TERMINATE_BOUND_MS);
  CHECK(took_free < 1000);
  CHECK(warned >= 1);
  CHECK_EQ_INT(t4.calls, 1);
  CHECK_ERR(t4.status, DBFORK_ECANCELED);
  CHECK_EQ_INT(tu_wait_sessions(m, o.program_name, 0, 10000), 0);
}
