/*
 * The forkserver start method (docs/policies.md, "Start methods"): what the
 * suites' @forkserver runs cannot show on their own. The helper is started
 * explicitly here, before whatever the test changes afterwards.
 *
 * - Credentials changed after the helper started are the ones the workers
 *   connect with (every request carries the pool's current options).
 * - The pool's process SIGKILLed: the helper and the workers are gone at
 *   once (the helper by PDEATHSIG, the workers by theirs: they are the pool
 *   process's own children), and so are the workers' sessions.
 * - A helper killed under a pool: new workers fail to start with a log line
 *   that says so (never a hang, never a fork instead); a new helper started
 *   afterwards serves a new pool. A stopped helper bounds the start to the
 *   10 s reply wait, and is then killed and reaped.
 */
#include "itest.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

/* Children of `parent` (from /proc): their pids, and which one is the helper. */
static int children_of(pid_t parent, pid_t *out, int max, pid_t *helper) {
  DIR *d = opendir("/proc");
  struct dirent *e;
  int n = 0;
  *helper = 0;
  CHECK(d != NULL);
  while ((e = readdir(d)) != NULL && n < max) {
    char path[64], line[256], comm[64] = "";
    FILE *f;
    long ppid = -1;
    pid_t pid = (pid_t)atol(e->d_name);
    if (pid <= 0) continue;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    if (!(f = fopen(path, "r"))) continue;
    while (fgets(line, sizeof line, f)) {
      if (!strncmp(line, "Name:", 5)) sscanf(line + 5, "%63s", comm);
      if (!strncmp(line, "PPid:", 5)) ppid = atol(line + 5);
    }
    fclose(f);
    if (ppid != parent) continue;
    if (!strcmp(comm, "dbfork-fsrv")) *helper = pid;
    out[n++] = pid;
  }
  closedir(d);
  return n;
}

TEST(credentials_changed_after_the_helper_started_are_used) {
  MYSQL *m = tu_connect();
  dbfork_options o;
  dbfork_pool *p;
  char user[64], pw[64];
  CHECK_OK(dbfork_forkserver_start());
  /* After the helper: a new account, and a password changed once more. */
  snprintf(user, sizeof user, "fs%d", (int)getpid());
  snprintf(pw, sizeof pw, "first-%d", (int)getpid());
  tu_exec(m, "DROP USER IF EXISTS '%s'@'localhost'", user);
  tu_exec(m, "CREATE USER '%s'@'localhost' IDENTIFIED BY '%s'", user, pw);
  tu_exec(m, "GRANT ALL ON dbfork_test.* TO '%s'@'localhost'", user);
  snprintf(pw, sizeof pw, "second-%d", (int)getpid());
  tu_exec(m, "ALTER USER '%s'@'localhost' IDENTIFIED BY '%s'", user, pw);

  it_options(&o, tu_unique_name(), 2);
  o.start_method = DBFORK_START_FORKSERVER;
  o.user = user;
  o.password = pw;
  CHECK_OK(dbfork_pool_new(&p, &o));
  CHECK_OK(dbfork_pool_start(p));
  CHECK_EQ_INT(tu_sessions(m, tu_unique_name()), 2);
  CHECK_EQ_INT(
      tu_query_ll(m, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = '%s'", user),
      2);
  CHECK_OK(dbfork_pool_join(p));
  dbfork_pool_free(p);
  CHECK_EQ_INT(tu_wait_sessions(m, tu_unique_name(), 0, 10000), 0);
  tu_exec(m, "DROP USER '%s'@'localhost'", user);
}

/* The host: helper, pool of 2, then waits to be killed. */
static void host_main(int wfd) {
  dbfork_options o;
  dbfork_pool *p;
  char c = 'r';
  if (dbfork_forkserver_start() != 0) _exit(10);
  it_options(&o, tu_unique_name(), 2);
  o.start_method = DBFORK_START_FORKSERVER;
  if (dbfork_pool_new(&p, &o) != 0 || dbfork_pool_start(p) != 0) _exit(11);
  if (write(wfd, &c, 1) != 1) _exit(12);
  for (;;) dbfork_pool_run(p, 100);
}

TEST(helper_and_workers_are_gone_after_the_host_is_sigkilled) {
  MYSQL *m = tu_connect();
  pid_t host, kids[16], helper;
  int fds[2], n, i, st;
  char c;
  long long t0;
  /* Orphans come to us: we can wait for each one by its pid. */
  CHECK_OK(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0));
  CHECK_OK(pipe(fds));
  fflush(NULL);
  host = fork();
  CHECK(host >= 0);
  if (host == 0) {
    close(fds[0]);
    host_main(fds[1]);
  }
  close(fds[1]);
  CHECK_EQ_INT(read(fds[0], &c, 1), 1);
  CHECK_EQ_INT(tu_sessions(m, tu_unique_name()), 2);
  n = children_of(host, kids, 16, &helper);
  fprintf(stderr, "host %d: %d children, helper %d\n", (int)host, n, (int)helper);
  CHECK(helper > 0);
  CHECK_EQ_INT(n, 3); /* the helper and the 2 workers: all the host's children */

  t0 = tu_now_ms();
  CHECK_OK(kill(host, SIGKILL));
  CHECK(waitpid(host, &st, 0) == host);
  for (i = 0; i < n; i++) {
    long long deadline = tu_now_ms() + 10000;
    pid_t w;
    while ((w = waitpid(kids[i], &st, WNOHANG)) == 0 && tu_now_ms() < deadline) tu_sleep_ms(5);
    CHECK(w == kids[i]);
    fprintf(stderr, "pid %d (%s) gone after %lld ms: %s %d\n", (int)kids[i],
            kids[i] == helper ? "helper" : "worker", tu_now_ms() - t0,
            WIFSIGNALED(st) ? "signal" : "exit", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
    /* The helper: EOF on its channel (exit 0) or its PDEATHSIG, whichever
     * comes first; the workers: finalizers after their PDEATHSIG. */
    if (kids[i] == helper)
      CHECK((WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) || (WIFEXITED(st) && !WEXITSTATUS(st)));
    CHECK(tu_now_ms() - t0 < 5000);
  }
  CHECK_EQ_INT(tu_wait_sessions(m, tu_unique_name(), 0, 10000), 0);
}

/* Starts the helper and waits until it has named itself: its pid. */
static pid_t helper_started(void) {
  pid_t kids[16], helper = 0;
  long long t0;
  CHECK_OK(dbfork_forkserver_start());
  t0 = tu_now_ms();
  while ((children_of(getpid(), kids, 16, &helper), helper == 0) && tu_now_ms() - t0 < 5000)
    tu_sleep_ms(5);
  CHECK(helper > 0);
  return helper;
}

/* A one-worker forkserver pool that gives up at the first failed start. */
static void helper_pool(dbfork_pool **p, dbfork_options *o) {
  it_options(o, tu_unique_name(), 1);
  o->start_method = DBFORK_START_FORKSERVER;
  o->max_start_failures = 1;
  CHECK_OK(dbfork_pool_new(p, o));
}

TEST(killed_helper_fails_new_workers_and_a_new_helper_serves_again) {
  MYSQL *m = tu_connect();
  dbfork_options o;
  dbfork_pool *p;
  pid_t helper;
  long long t0;
  int rc;
  helper = helper_started();
  CHECK_OK(kill(helper, SIGKILL));
  helper_pool(&p, &o);
  t0 = tu_now_ms();
  rc = dbfork_pool_start(p);
  fprintf(stderr, "start with a dead helper: %s in %lld ms: %s\n", dbfork_err_name(rc),
          tu_now_ms() - t0, dbfork_pool_last_error(p));
  CHECK(rc != 0);
  CHECK_ERR(rc, DBFORK_EPIPE); /* the channel to the helper is broken */
  CHECK(tu_now_ms() - t0 < 10000);
  dbfork_pool_free(p);
  CHECK_EQ_INT(tu_sessions(m, tu_unique_name()), 0);
  /* The dead helper was reaped by its pid; a new one serves a new pool. */
  CHECK_OK(dbfork_forkserver_start());
  CHECK_OK(dbfork_pool_new(&p, &o));
  CHECK_OK(dbfork_pool_start(p));
  CHECK_EQ_INT(tu_sessions(m, tu_unique_name()), 1);
  CHECK_OK(dbfork_pool_join(p));
  dbfork_pool_free(p);
}

/* A helper that stops answering (SIGSTOPped) bounds the start: after the
 * 10 s reply wait it is killed and reaped, and the start fails. */
TEST(stopped_helper_fails_the_start_after_the_reply_wait) {
  MYSQL *m = tu_connect();
  dbfork_options o;
  dbfork_pool *p;
  pid_t helper;
  long long t0;
  int rc;
  helper = helper_started();
  CHECK_OK(kill(helper, SIGSTOP));
  helper_pool(&p, &o);
  t0 = tu_now_ms();
  rc = dbfork_pool_start(p);
  fprintf(stderr, "start with a stopped helper: %s in %lld ms\n", dbfork_err_name(rc),
          tu_now_ms() - t0);
  CHECK_ERR(rc, DBFORK_EPIPE);
  CHECK(tu_now_ms() - t0 >= 9000 && tu_now_ms() - t0 < 15000);
  dbfork_pool_free(p);
  CHECK(kill(helper, 0) < 0 && errno == ESRCH); /* killed and reaped by its pid */
  CHECK_EQ_INT(tu_sessions(m, tu_unique_name()), 0);
}
