/*
 * Fault: a worker's last bytes break the protocol (an invalid frame, or a
 * result for a task it was not given), and the parent reads them only after
 * it has reaped the worker (the pipe is drained at exit). The parent reports
 * the error but sends no SIGKILL: once reaped, the pid may already belong to
 * another process.
 *
 * The test interposes two libc calls (the executable's definitions win over
 * libc's for libdbfork and libuv too): kill(), to count a SIGKILL sent to
 * the worker's pid after it was reaped (waitid says it is no child of ours
 * any more), and read(), so that the parent cannot read the worker's IPC
 * socket before the reap: the order of the two events is then fixed.
 */
#include "fault.h"

#include <dirent.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

static volatile pid_t watched; /* the worker's pid, in the parent */
static volatile int hold_reads, kills_after_reap, bad_after_reap, bad_seen;

static int reaped(pid_t pid) {
  siginfo_t si;
  memset(&si, 0, sizeof si);
  return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0 && errno == ECHILD;
}

/* A socketpair end: connected, and the peer has no name (the MySQL
 * socket's peer is the server's path; neutralised sockets are not
 * connected). */
static int is_socketpair(int fd) {
  struct sockaddr_un sa;
  socklen_t n = sizeof sa;
  return getpeername(fd, (struct sockaddr *)&sa, &n) == 0 && sa.sun_family == AF_UNIX &&
         n == sizeof(sa_family_t);
}

int kill(pid_t pid, int sig) {
  if (sig == SIGKILL && watched && pid == watched && reaped(pid)) kills_after_reap++;
  return (int)syscall(SYS_kill, pid, sig);
}

ssize_t read(int fd, void *buf, size_t n) {
  if (hold_reads && watched && is_socketpair(fd) && !reaped(watched)) {
    errno = EAGAIN;
    return -1;
  }
  return (ssize_t)syscall(SYS_read, fd, buf, n);
}

static void on_log(int level, const char *msg, void *arg) {
  ft_log(level, msg, arg);
  if (strstr(msg, "killing it")) { /* a protocol error */
    bad_seen++;
    if (watched && reaped(watched)) bad_after_reap++;
  }
}

/* In the worker: its IPC socket is its one socketpair end. */
static int ipc_fd(void) {
  DIR *d = opendir("/proc/self/fd");
  struct dirent *de;
  int found = -1;
  if (!d) return -1;
  while ((de = readdir(d)) && found < 0) {
    int fd = atoi(de->d_name);
    if (de->d_name[0] < '0' || de->d_name[0] > '9' || fd == dirfd(d)) continue;
    if (is_socketpair(fd)) found = fd;
  }
  closedir(d);
  return found;
}

/* The worker writes its last bytes on its IPC socket and exits at once,
 * without finalizers. Payload "garbage": bytes that are no frame. Payload
 * "stray": a well-formed RESULT for a task the parent never sent. */
static int task(dbfork_worker *w, const void *in, size_t len, void *arg) {
  uint8_t buf[16];
  int fd = ipc_fd();
  ssize_t r;
  (void)arg;
  if (fd < 0) return dbfork_worker_fail(w, DBFORK_ETASK, 0, NULL, "no IPC socket found");
  memset(buf, 0xff, sizeof buf);
  if (len == 5 && !memcmp(in, "stray", 5)) {
    /* Header: u32 payload length, u8 type (2 = RESULT), u8 flags, u16 arg,
     * u64 task id, little-endian. */
    memset(buf, 0, sizeof buf);
    buf[4] = 2;
    buf[6] = 1;
    buf[8] = 0x3f;
    buf[9] = 0x42;
    buf[10] = 0x0f; /* id 999999 */
  }
  r = write(fd, buf, sizeof buf);
  (void)r;
  _exit(0);
}

static void run(const char *payload) {
  dbfork_options o;
  dbfork_pool *p;
  dbfork_worker_stats ws;
  ft_track a;

  tu_options(&o);
  o.workers = 1;
  o.task = task;
  o.retries_off = 1;
  o.log = on_log;
  o.log_level = DBFORK_LOG_WARN;
  CHECK_OK(dbfork_pool_new(&p, &o));
  CHECK_OK(dbfork_pool_start(p));
  CHECK_EQ_INT(dbfork_pool_stats_get(p, NULL, &ws, 1), 1);
  watched = (pid_t)ws.pid;

  /* From here the parent reads the worker's socket only once it has reaped
   * the worker: the last bytes are read by the drain that follows the reap. */
  ft_submit(p, payload, &a);
  hold_reads = 1;
  ft_wait_all(p, &a, 1, 20000);
  hold_reads = 0;
  fprintf(stderr,
          "%s: %s (%s); protocol error seen %d (after the reap: %d); SIGKILLs after the reap %d\n",
          payload, dbfork_err_name(a.status), a.msg, bad_seen, bad_after_reap, kills_after_reap);
  CHECK_ERR(a.status, DBFORK_EWORKERLOST);
  CHECK_EQ_INT(bad_after_reap, 1); /* the case this test is about did happen */
  CHECK_EQ_INT(kills_after_reap, 0);
  CHECK_OK(dbfork_pool_join(p));
  dbfork_pool_free(p);
}

TEST(invalid_frame_read_after_the_exit_kills_no_reaped_pid) { run("garbage"); }

TEST(stray_result_read_after_the_exit_kills_no_reaped_pid) { run("stray"); }
