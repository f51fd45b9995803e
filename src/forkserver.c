/*
 * forkserver.c — the forkserver start method: workers forked from a
 * single-threaded helper that the program started early, with
 * dbfork_forkserver_start() near the top of main(), before it had threads.
 * A fork from the helper cannot inherit a lock some other thread held,
 * because the helper never has another thread.
 *
 * The helper is a plain fork() of the program at that moment. It closes every
 * descriptor but stdio and its end of a socketpair (neutralising sockets),
 * dies with the program (PR_SET_PDEATHSIG(SIGTERM), whose handler _exit()s
 * so that the exit is a normal one, a getppid() check, and EOF on the
 * socketpair),
 * and answers one request per worker: the request carries the pool's whole
 * current configuration (the options struct, its strings, the task table:
 * nothing is frozen at the helper's start, so credentials changed since are
 * the ones the worker connects with) and, by SCM_RIGHTS, the worker's IPC
 * socket and the pool's progress pages (a memfd). The helper creates the
 * worker with clone(CLONE_PARENT): the worker is the pool process's own
 * child, so everything the fork method has still holds unchanged — the pool
 * waits for it by pid and pidfd, sees its exit at once, signals it, times
 * it, KILLs its session, and the worker's PR_SET_PDEATHSIG and getppid()
 * check watch the pool's process, not the helper.
 *
 * Pointers in the options (task functions and their arguments, the
 * initializers, log_arg) are used as they are: functions are the same in
 * the helper, and data they point to must be what it was when the helper
 * was forked (static data, or data set up before dbfork_forkserver_start()).
 * Pass what changes later in the task payloads.
 */
#include "parent.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

#define REQ_MAGIC 0x64626673u /* "dbfs" */
#define REQ_MAX (1u << 20)

/* How long a worker's start may wait for the helper's reply: it only
 * clones, so a helper that takes longer is stopped or stuck. */
#define FS_REPLY_MS 10000

/* The request the helper is serving (helper_main); volatile, so the store
 * stays although nothing in the helper reads it. */
static uint8_t *volatile helper_payload;

/* The program's helper: started once per process. The mutex orders the
 * requests of pools on different threads. fs_owner is the process that
 * started it: a process forked from that one has no helper of its own (its
 * copy of fs_fd is the parent's channel, never to be used). */
static pthread_mutex_t fs_mu = PTHREAD_MUTEX_INITIALIZER;
static pid_t fs_pid, fs_owner;
static int fs_fd = -1;
static char host_comm[17]; /* the helper's: the program's name, that its workers take back */

typedef struct req_head {
  uint32_t magic;
  int32_t slot;
  int32_t nslots;
  int32_t parent;
  uint32_t len; /* payload bytes that follow */
} req_head;

/* ---- the helper ---- */
/* Receives the head with its two descriptors (IPC socket, progress memfd). */
static int recv_head(int fd, req_head *h, int fds[2]) {
  char cbuf[CMSG_SPACE(2 * sizeof(int))];
  struct iovec iov = {h, sizeof *h};
  struct msghdr m;
  struct cmsghdr *c;
  ssize_t r;
  memset(&m, 0, sizeof m);
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = cbuf;
  m.msg_controllen = sizeof cbuf;
  do r = recvmsg(fd, &m, MSG_CMSG_CLOEXEC | MSG_WAITALL);
  while (r < 0 && errno == EINTR);
  if (r != (ssize_t)sizeof *h) return -1;
  c = CMSG_FIRSTHDR(&m);
  if (!c || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(2 * sizeof(int))) return -1;
  memcpy(fds, CMSG_DATA(c), 2 * sizeof(int));
  return h->magic == REQ_MAGIC && h->len <= REQ_MAX ? 0 : -1;
}

static void worker_from_helper(int chan, const req_head *h, const uint8_t *payload, int fds[2]) {
  static dbfork_options o;
  size_t shm_len = (size_t)h->nslots * sizeof(dbfork__shm);
  dbfork__shm *shm;
  int close_fds[1];
  prctl(PR_SET_NAME, host_comm, 0, 0, 0);
  if (dbfork__conf_decode(&o, payload, h->len) != h->len) _exit(4);
  shm = mmap(NULL, shm_len, PROT_READ | PROT_WRITE, MAP_SHARED, fds[1], 0);
  if (shm == MAP_FAILED) _exit(4);
  close(fds[1]);
  close_fds[0] = chan; /* the helper's channel is not the worker's */
  dbfork__worker_main(&o, h->slot, fds[0], (pid_t)h->parent, &shm[h->slot], close_fds, 1);
}

/* What glibc's own fork() gives the child and a raw clone does not: the
 * thread's tid in its TCB (pthread_self()'s record, used by pthread_kill,
 * PI and robust mutexes) and its robust-mutex list. The helper reads both
 * once (it is single-threaded, so they are the one thread's) and the clone
 * sets them up as fork() would: CLONE_CHILD_SETTID writes the worker's tid
 * where glibc keeps it. */
static int *tcb_tid;
static void *robust_head;
static size_t robust_len;

struct fs_clone_args { /* struct clone_args of <linux/sched.h>, version 0 */
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

static long clone_worker(void) {
  long pid = -1;
#ifdef SYS_clone3
  if (tcb_tid) {
    struct fs_clone_args a;
    memset(&a, 0, sizeof a);
    a.flags = CLONE_PARENT | CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID;
    a.child_tid = (uint64_t)(uintptr_t)tcb_tid;
    /* With CLONE_PARENT the kernel wants exit_signal 0 and gives the worker
     * the helper's own, SIGCHLD (the helper is a fork()). */
    a.exit_signal = 0;
    pid = syscall(SYS_clone3, &a, sizeof a);
    if (pid >= 0 || errno != ENOSYS) {
      if (pid == 0 && robust_head) syscall(SYS_set_robust_list, robust_head, robust_len);
      return pid;
    }
  }
#endif
  /* Kernels before 5.3: a plain clone; the TCB keeps the helper's tid. */
  pid = syscall(SYS_clone, (unsigned long)(CLONE_PARENT | SIGCHLD), 0UL, NULL, NULL, 0UL);
  return pid;
}

/* Makes one worker: clone(CLONE_PARENT), so that it is the pool process's
 * child, not ours. The helper is single-threaded, so no lock is held in the
 * copy. Replies the pid or -errno. */
static void helper_serve(int chan, const req_head *h, const uint8_t *payload, int fds[2]) {
  int32_t reply;
  long pid;
  if (h->slot < 0 || h->slot >= h->nslots) {
    reply = DBFORK_EINVAL;
  } else {
    pid = clone_worker();
    if (pid == 0) worker_from_helper(chan, h, payload, fds);
    reply = pid > 0 ? (int32_t)pid : -errno;
  }
  close(fds[0]);
  close(fds[1]);
  if (dbfork__write_full(chan, &reply, sizeof reply) != 0) _exit(0);
}

/* The host's descriptors in the helper: its sockets neutralised (a dead
 * socket dup2()-ed over each, as a forked worker's are), so that the number
 * stays taken and a MYSQL handle the host made before the helper started
 * fails cleanly in a worker instead of reaching whatever the worker opens
 * later under that number (its own session); every other one closed. */
static void helper_close_fds(int keep) {
  int fd, max = (int)sysconf(_SC_OPEN_MAX);
  struct stat st;
  if (max < 0 || max > 65536) max = 65536;
  for (fd = 3; fd < max; fd++) {
    if (fd == keep || fstat(fd, &st) < 0) continue;
    if (!S_ISSOCK(st.st_mode) || dbfork__fd_neutralise(fd) != 0) close(fd);
  }
}

static void helper_term(int sig) {
  (void)sig;
  _exit(0);
}

static void helper_main(int chan, pid_t parent) __attribute__((noreturn));
static void helper_main(int chan, pid_t parent) {
  struct sigaction sa;
  sigset_t none;
  int s;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  for (s = 1; s < NSIG; s++) sigaction(s, &sa, NULL);
  /* A terminal's ^C or hang-up goes to the whole process group: the pool
   * decides what its workers do; the helper lives as long as the program. */
  sa.sa_handler = SIG_IGN;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  sigaction(SIGPIPE, &sa, NULL);
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  /* SIGTERM, not SIGKILL: an exit through _exit() is one that tools which
   * watch the helper (valgrind's summary) see; nothing in it can block it */
  sa.sa_handler = helper_term;
  sigaction(SIGTERM, &sa, NULL);
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) _exit(0);
  prctl(PR_GET_NAME, host_comm, 0, 0, 0);
  prctl(PR_SET_NAME, "dbfork-fsrv");
  if (prctl(PR_GET_TID_ADDRESS, &tcb_tid, 0, 0, 0) != 0) tcb_tid = NULL;
  if (syscall(SYS_get_robust_list, 0, &robust_head, &robust_len) != 0) robust_head = NULL;
  helper_close_fds(chan);
  for (;;) {
    req_head h;
    int fds[2];
    uint8_t *payload;
    if (recv_head(chan, &h, fds) != 0) _exit(0); /* EOF: the program is gone */
    if (!(payload = malloc(h.len ? h.len : 1)) || dbfork__read_full(chan, payload, h.len) != 0)
      _exit(0);
    /* reachable from a global: a worker runs on a stack of its own and uses
     * its configuration in here until it exits */
    helper_payload = payload;
    helper_serve(chan, &h, payload, fds);
    helper_payload = NULL;
    free(payload);
  }
}

int dbfork_forkserver_start(void) {
  int sv[2], rc = 0;
  pid_t pid, me = getpid();
  sigset_t all, old;
  pthread_mutex_lock(&fs_mu);
  if (fs_fd >= 0 && fs_owner == me) goto out; /* already running */
  fs_fd = -1; /* a copy inherited from the process that forked us: not ours */
  /* The client library's one-time set-up (character sets, plugins, its
   * atfork handlers) done here, once, is in every worker's copy: a worker
   * then costs what a fork-method worker does, not a library start. */
  dbfork__mysql_library_init();
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
    rc = -errno;
    goto out;
  }
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid = fork();
  if (pid == 0) {
    close(sv[0]);
    helper_main(sv[1], me);
  }
  rc = pid < 0 ? -errno : 0;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  close(sv[1]);
  if (rc) {
    close(sv[0]);
    goto out;
  }
  fs_pid = pid;
  fs_owner = me;
  fs_fd = sv[0];
out:
  pthread_mutex_unlock(&fs_mu);
  return rc;
}

int dbfork__forkserver_running(void) {
  int ok;
  pthread_mutex_lock(&fs_mu);
  ok = fs_fd >= 0 && fs_owner == getpid();
  pthread_mutex_unlock(&fs_mu);
  return ok;
}

/* ---- the launcher ---- */
static int fs_start(dbfork_pool *p) {
  if (dbfork__forkserver_running() && p->shm_fd >= 0) return 0;
  dbfork__log(p, DBFORK_LOG_ERROR,
              "start_method forkserver: no fork server runs in this process: call "
              "dbfork_forkserver_start() near the top of main(), before any thread starts");
  return DBFORK_EINVAL;
}

static int send_req(int fd, const req_head *h, const int fds[2], const dbfork__bytes *b) {
  char cbuf[CMSG_SPACE(2 * sizeof(int))];
  struct iovec iov = {(void *)h, sizeof *h};
  struct msghdr m;
  struct cmsghdr *c;
  ssize_t r;
  memset(&m, 0, sizeof m);
  memset(cbuf, 0, sizeof cbuf);
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = cbuf;
  m.msg_controllen = sizeof cbuf;
  c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(2 * sizeof(int));
  memcpy(CMSG_DATA(c), fds, 2 * sizeof(int));
  do r = sendmsg(fd, &m, MSG_NOSIGNAL);
  while (r < 0 && errno == EINTR);
  if (r != (ssize_t)sizeof *h) return -1;
  return dbfork__write_full(fd, b->p, b->len);
}

/* Under fs_mu. The helper is our child: kill it if it still runs, and reap
 * it by its pid (never waitpid(-1)), unless the host reaped it already. */
static void helper_lost(void) {
  if (fs_fd < 0 || fs_owner != getpid()) return;
  close(fs_fd);
  fs_fd = -1;
  kill(fs_pid, SIGKILL);
  while (waitpid(fs_pid, NULL, 0) < 0 && errno == EINTR) {
  }
  fs_pid = 0;
}

static int fs_launch(dbfork_pool *p, int slot, dbfork__child *out) {
  dbfork__bytes b = {0};
  req_head h;
  int sv[2], fds[2], rc;
  int32_t reply = 0;
  if ((rc = dbfork__conf_encode(&b, p->o)) != 0 || b.len > REQ_MAX) {
    free(b.p);
    return rc ? rc : DBFORK_EINVAL;
  }
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
    free(b.p);
    return -errno;
  }
  h.magic = REQ_MAGIC;
  h.slot = slot;
  h.nslots = p->nslots;
  h.parent = (int32_t)getpid();
  h.len = (uint32_t)b.len;
  fds[0] = sv[1];
  fds[1] = p->shm_fd;
  pthread_mutex_lock(&fs_mu);
  if (fs_fd < 0 || fs_owner != getpid() || send_req(fs_fd, &h, fds, &b) != 0 ||
      dbfork__wait_readable(fs_fd, FS_REPLY_MS) != 0 ||
      dbfork__read_full(fs_fd, &reply, sizeof reply) != 0) {
    /* The helper is gone, stopped or stuck: no more workers from it (a new
     * one forked now would come from a process that may run threads). */
    helper_lost();
    reply = -EPIPE; /* the channel to the helper is broken */
  }
  pthread_mutex_unlock(&fs_mu);
  free(b.p);
  close(sv[1]);
  if (reply <= 0) {
    close(sv[0]);
    dbfork__log(p, DBFORK_LOG_ERROR, "forkserver could not start worker %d: %s", slot,
                reply == -EPIPE ? "the fork server is gone (killed, or no reply in 10 s)"
                                : dbfork_strerror(reply));
    return reply ? reply : -EPIPE;
  }
  out->pid = (pid_t)reply;
  out->fd = sv[0];
  out->pidfd = (int)syscall(SYS_pidfd_open, out->pid, 0);
  if (out->pidfd >= 0) fcntl(out->pidfd, F_SETFD, FD_CLOEXEC);
  return 0;
}

const dbfork__launcher dbfork__launch_forkserver = {"forkserver", fs_start, fs_launch, NULL};
