/*
 * Fault: the fork hygiene (invariant 1) under conditions that break a naive
 * scan of /proc/self/fd.
 *
 * - A parent with more than a thousand descriptors open: a connected socket
 *   numbered above all of them (the parent's own MySQL connection, and a
 *   socketpair end) is still a dead AF_UNIX socket in the worker, and the
 *   parent's connection and socketpair still work after the pool.
 * - A worker that cannot list /proc/self/fd must not run with the parent's
 *   sockets live: it fails to start, and the pool reports why.
 */
#include "fault.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/socket.h>

#define FILLER 1100

/* The payload is a list of descriptor numbers; the reply says, for each,
 * "d" (a dead socket: AF_UNIX, no peer), "c" (not open at all) or "L"
 * (anything else: live). */
static int probe_fds_task(dbfork_worker *w, const void *in, size_t len, void *arg) {
  char out[16];
  size_t i, n = len / sizeof(int);
  (void)arg;
  if (n > sizeof out) return dbfork_worker_fail(w, DBFORK_ETASK, 0, NULL, "too many fds");
  for (i = 0; i < n; i++) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int fd, dead;
    memcpy(&fd, (const char *)in + i * sizeof fd, sizeof fd);
    dead = getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 && ss.ss_family == AF_UNIX;
    sl = sizeof ss;
    if (dead) dead = getpeername(fd, (struct sockaddr *)&ss, &sl) < 0 && errno == ENOTCONN;
    out[i] = dead ? 'd' : fcntl(fd, F_GETFD) < 0 && errno == EBADF ? 'c' : 'L';
  }
  return dbfork_worker_reply(w, out, n);
}

static int mysql_fd(MYSQL *m) {
#ifdef LIBMARIADB
  return (int)mysql_get_socket(m);
#else
  return m->net.fd;
#endif
}

TEST(sockets_above_a_thousand_open_fds_are_neutralised) {
  MYSQL *mon = tu_connect(), *parent;
  struct rlimit rl;
  dbfork_options o;
  dbfork_pool *p;
  ft_track t;
  int filler[FILLER], sp[2], probe[2], i;
  long long id0;
  char c = 0;

  /* Room for the filler, the sockets above it and the pool's own. */
  CHECK_OK(getrlimit(RLIMIT_NOFILE, &rl));
  if (rl.rlim_cur < FILLER + 200) {
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < FILLER + 200)
      SKIP("RLIMIT_NOFILE hard limit %llu is too low", (unsigned long long)rl.rlim_max);
    rl.rlim_cur = FILLER + 200;
    CHECK_OK(setrlimit(RLIMIT_NOFILE, &rl));
  }
  for (i = 0; i < FILLER; i++) CHECK((filler[i] = open("/dev/null", O_RDONLY)) >= 0);
  parent = tu_connect();
  id0 = tu_query_ll(parent, "SELECT CONNECTION_ID()");
  tu_exec(parent, "SET @dbf_marker = 4242");
  CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sp));
  probe[0] = mysql_fd(parent);
  probe[1] = sp[0];
  fprintf(stderr, "parent connection on fd %d, socketpair end on fd %d\n", probe[0], probe[1]);
  CHECK(probe[0] > FILLER);
  CHECK(probe[1] > FILLER);

  tu_options(&o);
  o.workers = 1;
  o.task = probe_fds_task;
  o.log = ft_log;
  o.log_level = DBFORK_LOG_WARN;
  CHECK_OK(dbfork_pool_new(&p, &o));
  CHECK_OK(dbfork_pool_start(p));
  memset(&t, 0, sizeof t);
  CHECK_OK(dbfork_submit(p, probe, sizeof probe, ft_track_cb, &t));
  {
    long long deadline = tu_now_ms() + 20000;
    while (!t.calls) {
      if (tu_now_ms() > deadline) FAIL("the probe task did not complete");
      dbfork_pool_run(p, 2);
      tu_sleep_ms(1);
    }
  }
  CHECK_OK(t.status);
  fprintf(stderr, "in the worker: %s\n", t.reply);
  /* Both methods: the numbers stay taken by dead sockets (forkserver: the
   * helper, started after these sockets were opened, neutralised its copies,
   * so a stale handle cannot reach a socket the worker opens later). */
  CHECK_EQ_STR(t.reply, "dd");
  CHECK_OK(dbfork_pool_join(p));
  dbfork_pool_free(p);

  /* The parent's session and socketpair are untouched. */
  CHECK_EQ_INT(tu_query_ll(parent, "SELECT CONNECTION_ID()"), id0);
  CHECK_EQ_INT(tu_query_ll(parent, "SELECT @dbf_marker"), 4242);
  CHECK_EQ_INT(
      tu_query_ll(mon, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %lld", id0),
      1);
  CHECK_EQ_INT(write(sp[1], "k", 1), 1);
  CHECK_EQ_INT(read(sp[0], &c, 1), 1);
  CHECK_EQ_INT(c, 'k');
  for (i = 0; i < FILLER; i++) close(filler[i]);
}

/* In every child forked from here on, before dbfork's code runs: no new
 * descriptor can be opened, so /proc/self/fd cannot be read. */
static void no_new_fds_in_child(void) {
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = 0;
  setrlimit(RLIMIT_NOFILE, &rl);
}

TEST(worker_that_cannot_list_its_fds_does_not_start) {
  MYSQL *m = tu_connect();
  dbfork_options o;
  dbfork_pool *p;
  const char *err;
  int rc;

  TU_NEEDS_FORK_INHERITANCE("the test's atfork handler runs only in a fork() of the test");
  tu_options(&o);
  o.workers = 1;
  o.max_start_failures = 1;
  o.task = ft_sql_task;
  o.log = ft_log;
  o.log_level = DBFORK_LOG_WARN;
  CHECK_OK(dbfork_pool_new(&p, &o));
  /* After the pool's loop exists: libuv's own fork handler (registered
   * with the first loop, run before ours) still needs to open a pipe. */
  CHECK_OK(pthread_atfork(NULL, NULL, no_new_fds_in_child));
  rc = dbfork_pool_start(p);
  err = dbfork_pool_last_error(p);
  fprintf(stderr, "start: %s: %s\n", dbfork_err_name(rc), err);
  CHECK_ERR(rc, DBFORK_EINIT);
  CHECK(strstr(err, "/proc/self/fd") != NULL);
  CHECK(strstr(err, strerror(EMFILE)) != NULL);
  dbfork_pool_free(p);
  /* It never got as far as connecting. */
  CHECK_EQ_INT(tu_sessions(m, o.program_name), 0);
}
