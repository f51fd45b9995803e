/*
 * worker.c — the child side. After fork: hygiene (signals, parent-only fds,
 * inherited sockets neutralised, parent-death signal), then the built-in
 * initializer (our own connection), the user's initializer, a plain blocking
 * task loop on the IPC socket, and the finalizers on every exit path the
 * process survives. Nothing here touches libuv: the parent's loop is not ours.
 */
#include "fate.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <mysql.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef struct finalizer {
  dbfork_fini_fn fn;
  void *arg;
  int priority;
  unsigned int seq;
} finalizer;

struct dbfork_worker {
  const dbfork_options *o;
  int slot;
  int fd; /* IPC socket to the parent */
  pid_t parent;
  MYSQL *mysql;
  unsigned long conn_id;
  finalizer *fins;
  unsigned int nfins, capfins, seq;
  dbfork__bytes rx, tx, reply;
  dbfork__err err; /* detail of the current task's failure */
  int err_set;     /* dbfork_worker_fail() was called for this task */
  int in_task;
  int check_conn;       /* the last task failed: ping before the next one */
  int stopping;         /* asked to stop: signal, parent gone, STOP, recycle */
  int why;              /* DBFORK__WHY_* */
  uint64_t last_db_ms;  /* last time the connection was used */
  uint64_t tx_since_ms; /* when the oldest unsent reply was queued */
  dbfork__shm *shm;     /* progress published to the parent */
  uint64_t task_seq;    /* tasks received */
  uint64_t rss_checked_ms;
  int recycle_sent;
};

static volatile sig_atomic_t got_signal;
static int sigpipe_w = -1;

static void on_signal(int sig) {
  int saved = errno;
  got_signal = sig;
  if (sigpipe_w >= 0) {
    ssize_t r = write(sigpipe_w, "x", 1);
    (void)r;
  }
  errno = saved;
}

int dbfork__stop_requested(void) { return got_signal != 0; }

/* Writes all of tx to the parent, blocking. A parent that is gone makes
 * this fail; the caller then treats the parent as dead. */
static int flush_tx(dbfork_worker *w) {
  size_t off = 0;
  while (off < w->tx.len) {
    ssize_t n = send(w->fd, w->tx.p + off, w->tx.len - off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      w->tx.len = 0;
      return -errno;
    }
    off += (size_t)n;
  }
  w->tx.len = 0;
  return 0;
}

static void send_frame(dbfork_worker *w, uint8_t type, uint16_t arg, uint64_t id,
                       const void *payload, size_t len) {
  uint8_t hdr[DBFORK__HDR_LEN];
  dbfork__frame_header(hdr, type, arg, id, (uint32_t)len);
  /* Out of memory here leaves the parent without an answer: it will see the
   * worker exit and treat the task as lost, which the retry policy handles. */
  DBFORK__CHECK(dbfork__bytes_add(&w->tx, hdr, sizeof hdr) == 0);
  DBFORK__CHECK(dbfork__bytes_add(&w->tx, payload, len) == 0);
}

static void send_err(dbfork_worker *w, uint8_t type, uint16_t arg, uint64_t id,
                     const dbfork__err *e) {
  uint8_t body[DBFORK__ERRBODY_FIXED + DBFORK__MSG_MSG_MAX];
  dbfork__errbody eb;
  size_t n;
  eb.status = e->code < 0 ? e->code : DBFORK_ETASK;
  eb.mysql_errno = e->mysql_errno;
  memcpy(eb.sqlstate, e->sqlstate, sizeof eb.sqlstate);
  eb.msg = e->msg;
  eb.msglen = (uint16_t)strnlen(e->msg, DBFORK__MSG_MSG_MAX);
  n = dbfork__errbody_encode(body, sizeof body, &eb);
  send_frame(w, type, arg, id, body, n);
}

static void send_hello(dbfork_worker *w, uint8_t type) {
  uint8_t body[DBFORK__HELLO_LEN];
  dbfork__hello h;
  h.pid = (uint32_t)getpid();
  h.slot = w->slot;
  h.connection_id = w->conn_id;
  dbfork__hello_encode(body, &h);
  send_frame(w, type, 0, 0, body, sizeof body);
}

/* ---- post-fork hygiene ---- */
static void reset_signals(void) {
  struct sigaction sa;
  sigset_t none;
  int s;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  for (s = 1; s < NSIG; s++) sigaction(s, &sa, NULL); /* SIGKILL/SIGSTOP fail: fine */
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  sa.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &sa, NULL);
}

static void install_stop_handlers(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART; /* a statement in flight finishes; we stop after it */
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
}

/* What getdents64() returns; glibc has no portable declaration of it. */
struct dirent64_linux {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

/* One inherited descriptor: sockets are neutralised, the parent's
 * event-loop kernel objects closed, the rest left alone. */
static void fd_hygiene_one(int fd) {
  struct stat st;
  char path[64], target[128];
  ssize_t len;
  if (fstat(fd, &st) < 0) return;
  if (S_ISSOCK(st.st_mode)) {
    DBFORK__CHECK(dbfork__fd_neutralise(fd) == 0);
    return;
  }
  /* Anonymous inodes have no file type bits; everything else is a file,
   * pipe or device of the user's and stays. */
  if (st.st_mode & S_IFMT) return;
  /* The parent's event-loop kernel objects (epoll, eventfd, signalfd,
   * timerfd, pidfd) are never ours to use. Files and pipes the user opened
   * stay: they may be log files the task wants. */
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  len = readlink(path, target, sizeof target - 1);
  if (len <= 0) return;
  target[len] = 0;
  if (!strncmp(target, "anon_inode:", 11)) close(fd);
}

/* Closes the parent-only descriptors we were told about, then neutralises
 * every other inherited socket (invariant 1): a dead AF_UNIX socket is
 * dup2()-ed over it, so the number stays taken, any use fails cleanly, and
 * our reference to the parent's sessions is dropped without a byte sent.
 *
 * Every descriptor is looked at, however many the parent had open. Nothing
 * here allocates (no opendir(): the parent may be multi-threaded, and not
 * every allocator is usable after fork): getdents64() reads /proc/self/fd
 * into a stack buffer and each entry is handled as it comes. That is safe
 * while the table changes under the listing: Linux lists /proc/self/fd by
 * descriptor number from where the last read stopped, and the only
 * descriptors we create (a dead socket in dbfork__fd_neutralise) are closed
 * again before the next read.
 *
 * Returns 0, or -errno when /proc/self/fd cannot be read: inherited sockets
 * may then be live, and the worker must not start. */
static int fd_hygiene(int keep, const int *close_fds, int nclose) {
  char buf[4096] __attribute__((aligned(8)));
  int i, dfd, rc = 0;
  for (i = 0; i < nclose; i++)
    if (close_fds[i] >= 0 && close_fds[i] != keep) close(close_fds[i]);
  dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return -errno;
  for (;;) {
    long n = syscall(SYS_getdents64, dfd, buf, sizeof buf), off;
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n < 0) rc = -errno;
      break;
    }
    for (off = 0; off < n;) {
      const struct dirent64_linux *de = (const void *)(buf + off);
      char *end;
      long fd = strtol(de->d_name, &end, 10);
      off += de->d_reclen;
      if (*end || end == de->d_name || fd == dfd || fd == keep) continue; /* ".", ".." */
      fd_hygiene_one((int)fd);
    }
  }
  close(dfd);
  return rc;
}

/* ---- finalizers ---- */
static int fin_cmp(const void *a, const void *b) {
  const finalizer *x = a, *y = b;
  if (x->priority != y->priority) return x->priority > y->priority ? -1 : 1;
  return x->seq > y->seq ? -1 : (x->seq < y->seq ? 1 : 0);
}

/* How long a worker without a connection tries to get one for its
 * finalizers: short, since it is on its way out (a drain, a recycle, a
 * signal with a grace period running). */
#define FIN_RECONNECT_MS 2000

static int reconnect_within(dbfork_worker *w, unsigned int budget_ms, dbfork__err *e);
static void task_failure(dbfork_worker *w, int rc);

static void run_finalizers_and_exit(dbfork_worker *w, int status) __attribute__((noreturn));
static void run_finalizers_and_exit(dbfork_worker *w, int status) {
  unsigned int i;
  /* The finalizers were promised a handle. The last session may be gone
   * (lost, or closed after a failed ROLLBACK) with no task since to replace
   * it: one short attempt for a new one; failing that, an unconnected handle,
   * on which every call fails with an error ("server has gone away") rather
   * than crashing on NULL. */
  if (w->nfins && !w->mysql) {
    static MYSQL unconnected;
    dbfork__err e;
    int rc;
    /* Each connect attempt is bounded too, not only the retries: the pool's
     * connect_timeout (10 s by default) could outlast the grace period. */
    dbfork_options fo = *w->o;
    const dbfork_options *saved = w->o;
    if (fo.connect_timeout > FIN_RECONNECT_MS / 1000) fo.connect_timeout = FIN_RECONNECT_MS / 1000;
    w->o = &fo;
    rc = reconnect_within(w, FIN_RECONNECT_MS, &e);
    w->o = saved;
    if (rc != 0) w->mysql = mysql_init(&unconnected);
  }
  /* Order: higher priority first, then last-registered first. A failure is
   * reported to the parent (its log) and the next finalizer runs anyway. */
  if (w->nfins) qsort(w->fins, w->nfins, sizeof *w->fins, fin_cmp);
  for (i = 0; i < w->nfins; i++) {
    int rc;
    w->err_set = 0;
    rc = w->fins[i].fn(w, w->fins[i].arg);
    if (!rc && w->err_set) rc = w->err.code;
    if (!rc) continue;
    task_failure(w, rc);
    send_err(w, DBFORK__MSG_FINIFAIL, (uint16_t)(i < 0xffff ? i : 0xffff), 0, &w->err);
  }
  /* The built-in finalizer: a clean COM_QUIT on our own connection, last,
   * so every user finalizer could still use it. (On an unconnected handle it
   * only releases memory.) */
  if (w->mysql) dbfork__mysql_close(w->mysql);
  w->mysql = NULL;
  send_frame(w, DBFORK__MSG_BYE, (uint16_t)w->why, 0, NULL, 0);
  flush_tx(w);
  _exit(status);
}

/* ---- connection health ---- */

/* Replaces the session (the old handle, if any, is closed first) within
 * budget_ms. The parent learns the new id at once, not with the next batch
 * of replies: it is what a time limit's KILL QUERY and a lost worker's KILL
 * aim at, and a reconnect at the start of a task is followed by that task.
 * Session state (variables, temporary tables) died with the old session, so
 * on_connect runs again. Returns 0, or fills *e and returns its code; when
 * on_connect failed the new session is closed again: one it did not set up
 * must not run a task (the next one reconnects and runs on_connect anew). */
static int reconnect_within(dbfork_worker *w, unsigned int budget_ms, dbfork__err *e) {
  MYSQL *m;
  int rc;
  if (w->mysql) dbfork__mysql_close(w->mysql);
  w->mysql = NULL;
  rc = dbfork__mysql_connect(w->o, w->slot, budget_ms, &m, e);
  if (rc) return rc;
  w->mysql = m;
  w->conn_id = mysql_thread_id(m);
  w->last_db_ms = dbfork__now_ms();
  w->check_conn = 0;
  send_hello(w, DBFORK__MSG_CONNINFO);
  flush_tx(w);
  w->tx_since_ms = dbfork__now_ms();
  w->err_set = 0;
  if (w->o->on_connect && (rc = w->o->on_connect(w, w->o->on_connect_arg)) != 0) {
    task_failure(w, rc);
    *e = w->err;
    dbfork__mysql_close(w->mysql);
    w->mysql = NULL;
    return e->code;
  }
  return 0;
}

static int reconnect(dbfork_worker *w, dbfork__err *e) {
  return reconnect_within(w, DBFORK__RECONNECT_MS, e);
}

static int ensure_connection(dbfork_worker *w, dbfork__err *e) {
  if (w->mysql && mysql_ping(w->mysql) == 0) {
    w->last_db_ms = dbfork__now_ms();
    w->check_conn = 0;
    return 0;
  }
  return reconnect(w, e);
}

/* ---- one task, with the retry policy that can act inside the worker ---- */
static int simple_query(dbfork_worker *w, const char *sql) {
  return mysql_real_query(w->mysql, sql, (unsigned long)strlen(sql));
}

/* Rolls back a failed task's transaction. When even the ROLLBACK fails
 * (results left unread, a session gone bad), the session is closed instead:
 * the server rolls back what it held, and the next task reconnects. */
static void end_failed_transaction(dbfork_worker *w) {
  if (!w->mysql || simple_query(w, "ROLLBACK") == 0) return;
  dbfork__mysql_close(w->mysql);
  w->mysql = NULL;
}

static void task_failure(dbfork_worker *w, int rc) {
  if (w->err_set) return;
  if (rc == DBFORK_ESQL && w->mysql && mysql_errno(w->mysql))
    dbfork__mysql_err(w->mysql, DBFORK_ESQL, &w->err);
  else
    dbfork__err_set(&w->err, rc, 0, NULL, NULL);
}

static void run_task(dbfork_worker *w, const dbfork__frame *f) {
  const dbfork_options *o = w->o;
  const dbfork_task_def *def;
  const uint8_t *in;
  size_t len;
  uint32_t index;
  unsigned int attempts = f->arg; /* attempts the parent already made */
  unsigned int max_attempts = o->max_retries + 1;
  int rc;
  /* The parent never sends garbage: an index out of the table is a bug. */
  DBFORK__CHECK(dbfork__taskbody_decode(f->payload, f->len, &index, &in, &len) == 0);
  DBFORK__CHECK(index < o->ntasks);
  def = &o->tasks[index];
  for (;;) {
    int in_commit = 0;
    attempts++;
    w->reply.len = 0;
    w->err_set = 0;
    w->err.code = 0;
    /* A connection idle for a while may have been dropped by the server
     * (wait_timeout, restart), and one a failed task leaves behind may be
     * dead whatever its last use (its session killed, say); check before the
     * task starts, when a reconnect is always safe. */
    if (!w->mysql || w->check_conn || dbfork__now_ms() - w->last_db_ms > 1000) {
      rc = ensure_connection(w, &w->err);
      if (rc) {
        w->err_set = 1;
        break;
      }
    }
    w->in_task = 1;
    rc = 0;
    if (o->transaction && simple_query(w, "START TRANSACTION")) rc = DBFORK_ESQL;
    if (!rc) rc = def->fn ? def->fn(w, in, len, def->arg) : 0;
    /* dbfork_worker_fail() made it a failed task, whatever it returned:
     * nothing of it may be committed. */
    if (!rc && w->err_set) rc = w->err.code;
    if (!rc && o->transaction) {
      /* Tell the parent before the COMMIT leaves: if this process dies from
       * here until the result is sent, the transaction may have committed,
       * and the parent must report "outcome unknown" instead of retrying it.
       * The marker goes out with the replies queued before it, in order. */
      send_frame(w, DBFORK__MSG_COMMITTING, 0, f->id, NULL, 0);
      flush_tx(w);
      w->tx_since_ms = dbfork__now_ms();
      in_commit = 1;
      if (simple_query(w, "COMMIT")) rc = DBFORK_ESQL;
    }
    w->in_task = 0;
    w->last_db_ms = dbfork__now_ms();
    if (!rc) break;
    task_failure(w, rc);
    {
      /* What now is the policy's call (fate.c); acting on it is ours. */
      dbfork__attempt_in ai;
      dbfork__attempt a;
      int sql = w->err.code == DBFORK_ESQL;
      ai.code = w->err.code;
      ai.lost = sql && dbfork__mysql_is_lost(w->err.mysql_errno);
      ai.retryable = sql && dbfork__mysql_is_retryable(w->err.mysql_errno);
      ai.transaction = o->transaction;
      ai.in_commit = in_commit;
      ai.attempts = attempts;
      ai.max_attempts = max_attempts;
      ai.stopping = w->stopping || got_signal;
      a = dbfork__attempt_decide(&ai);
      if (a.rollback) end_failed_transaction(w);
      if (a.action == DBFORK__ATTEMPT_FAIL) {
        w->err.code = a.code;
        break;
      }
      if (a.action == DBFORK__ATTEMPT_RECONNECT_RETRY) {
        /* The server rolled the transaction back: a new session, again. */
        if (reconnect(w, &w->err)) break;
        continue;
      }
    }
    {
      unsigned int base = o->retry_backoff_ms << (attempts - 1 < 6 ? attempts - 1 : 6);
      dbfork__sleep_ms(base / 2 + dbfork__rand(base));
    }
  }
  if (rc || w->err_set) {
    /* A handle whose last error says the session is gone is closed now, so
     * the next task reconnects instead of failing on it; any other failure
     * gets a ping before the next task. */
    w->check_conn = 1;
    if (w->mysql && dbfork__mysql_is_lost(mysql_errno(w->mysql))) {
      dbfork__mysql_close(w->mysql);
      w->mysql = NULL;
    }
  }
  if (attempts > 0xffff) attempts = 0xffff;
  if (!rc && !w->err_set)
    send_frame(w, DBFORK__MSG_RESULT, (uint16_t)attempts, f->id, w->reply.p, w->reply.len);
  else
    send_err(w, DBFORK__MSG_ERROR, (uint16_t)attempts, f->id, &w->err);
}

/* ---- the loop ---- */

/* on_connect or init failed: the parent is told why (the pool reports it
 * once this process has exited), then the finalizers run as on every exit. */
static void start_failed(dbfork_worker *w, int rc) __attribute__((noreturn));
static void start_failed(dbfork_worker *w, int rc) {
  task_failure(w, rc);
  w->err.code = DBFORK_EINIT;
  send_err(w, DBFORK__MSG_INITFAIL, 0, 0, &w->err);
  flush_tx(w);
  w->why = DBFORK__WHY_DRAIN;
  run_finalizers_and_exit(w, 3);
}

/* Between tasks only the signal flag is looked at (no system call); the
 * getppid() check runs when the worker waits (parent death is also seen as
 * SIGTERM via PDEATHSIG and as EOF on the IPC socket). */
static void check_signal(dbfork_worker *w) {
  if (got_signal && !w->stopping) {
    w->stopping = 1;
    w->why = DBFORK__WHY_SIGNAL;
  }
}

static void check_stop(dbfork_worker *w) {
  check_signal(w);
  if (!w->stopping && getppid() != w->parent) {
    w->stopping = 1;
    w->why = DBFORK__WHY_PARENT;
  }
}

/* Max RSS: checked between tasks (at most every 10 ms: it reads /proc). Over
 * the limit, ask the parent to stop feeding us; it answers with STOP after
 * the tasks it already sent, so nothing is dropped. */
static void check_rss(dbfork_worker *w) {
  uint64_t now;
  if (!w->o->max_rss_bytes || w->recycle_sent) return;
  now = dbfork__now_ms();
  if (now - w->rss_checked_ms < 10) return;
  w->rss_checked_ms = now;
  if (dbfork__rss_bytes(0) <= w->o->max_rss_bytes) return;
  send_frame(w, DBFORK__MSG_RECYCLE, DBFORK__WHY_RSS, 0, NULL, 0);
  flush_tx(w);
  w->recycle_sent = 1;
}

/* Handles every complete frame in rx. Returns when rx holds no complete
 * frame, or when the worker must stop. */
static void handle_frames(dbfork_worker *w) {
  size_t off = 0;
  if (!w->rx.len) return; /* rx.p may still be NULL: no pointer arithmetic on it */
  while (!w->stopping) {
    dbfork__frame f;
    ssize_t n = dbfork__frame_parse(w->rx.p + off, w->rx.len - off,
                                    w->o->max_payload + DBFORK__TASKBODY_FIXED, &f);
    if (n == DBFORK__PROTO_INCOMPLETE) break;
    DBFORK__CHECK(n > 0); /* the parent never sends garbage */
    off += (size_t)n;
    if (f.type == DBFORK__MSG_TASK) {
      uint64_t now = dbfork__now_ms();
      /* A reply waits behind the next task (which may be slow) only while
       * the parent allows it, when tasks wait in its queue: then the replies
       * of quick tasks go out together, one write and one wake-up of the
       * parent for many, if they have not waited 2 ms or filled 64 KiB.
       * Otherwise every reply goes out before the next task starts. */
      if (w->tx.len && (!__atomic_load_n(&w->shm->batch, __ATOMIC_RELAXED) ||
                        w->tx.len >= 64 * 1024 || now - w->tx_since_ms >= 2)) {
        flush_tx(w);
        now = dbfork__now_ms();
      }
      if (!w->tx.len) w->tx_since_ms = now;
      /* The parent times this task's limits from here (see dbfork__shm). */
      __atomic_store_n(&w->shm->started_ms, now, __ATOMIC_RELEASE);
      __atomic_store_n(&w->shm->running, ++w->task_seq, __ATOMIC_RELEASE);
      run_task(w, &f);
      __atomic_store_n(&w->shm->done, w->task_seq, __ATOMIC_RELEASE);
      /* Under transaction=1 the reply goes out at once: a COMMIT already
       * cost a round trip, and a committed task's result must not die
       * with us in a buffer. */
      if (w->o->transaction) flush_tx(w);
      check_signal(w);
      check_rss(w);
    } else if (f.type == DBFORK__MSG_STOP) {
      w->stopping = 1;
      w->why = DBFORK__WHY_DRAIN;
    } else {
      DBFORK__CHECK(!"unexpected frame type from parent");
    }
  }
  if (off) {
    memmove(w->rx.p, w->rx.p + off, w->rx.len - off);
    w->rx.len -= off;
  }
}

static void worker_loop(dbfork_worker *w, int sigpipe_r) {
  for (;;) {
    struct pollfd pfd[2];
    int timeout, r;
    check_stop(w);
    handle_frames(w);
    flush_tx(w);
    check_stop(w);
    if (w->stopping) return;
    check_rss(w);
    pfd[0].fd = w->fd;
    pfd[0].events = POLLIN;
    pfd[1].fd = sigpipe_r;
    pfd[1].events = POLLIN;
    timeout = 1000; /* the getppid() check and the idle ping run at least this often */
    r = poll(pfd, 2, timeout);
    if (r < 0 && errno != EINTR) return;
    if (r > 0 && (pfd[1].revents & POLLIN)) {
      char drain[16];
      ssize_t x = read(sigpipe_r, drain, sizeof drain);
      (void)x;
    }
    if (r > 0 && (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t n;
      if (dbfork__bytes_reserve(&w->rx, 64 * 1024)) return;
      n = recv(w->fd, w->rx.p + w->rx.len, w->rx.cap - w->rx.len, 0);
      if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
        /* The parent's end is gone: it died or dropped us. */
        w->stopping = 1;
        w->why = DBFORK__WHY_PARENT;
        return;
      }
      if (n > 0) w->rx.len += (size_t)n;
    }
    if (r == 0 && w->mysql && dbfork__now_ms() - w->last_db_ms >= w->o->idle_ping_ms) {
      dbfork__err e;
      if (ensure_connection(w, &e)) {
        w->stopping = 1;
        w->why = DBFORK__WHY_CONN;
        return;
      }
    }
  }
}

void dbfork__worker_main(const dbfork_options *o, int slot, int ipc_fd, pid_t parent,
                         dbfork__shm *shm, const int *close_fds, int nclose) {
  static dbfork_worker w;
  int sp[2];
  dbfork__err e;
  int rc;

  /* 1. Hygiene before any user code: the parent's handlers are not ours. */
  reset_signals();
  w.parent = parent;
  w.o = o;
  w.shm = shm;
  w.slot = slot;
  w.fd = ipc_fd;
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if ((rc = fd_hygiene(ipc_fd, close_fds, nclose)) != 0) {
    /* Without the list of descriptors the parent's sockets may still be
     * live here (invariant 1): this worker must not run at all. */
    dbfork__err_set(&e, rc, 0, NULL,
                    "cannot read /proc/self/fd to neutralise inherited sockets: %s", strerror(-rc));
    send_err(&w, DBFORK__MSG_INITFAIL, 0, 0, &e);
    flush_tx(&w);
    _exit(3);
  }
  DBFORK__CHECK(pipe2(sp, O_CLOEXEC | O_NONBLOCK) == 0);
  sigpipe_w = sp[1];
  install_stop_handlers();
  /* The parent may have died between fork() and prctl(). */
  if (getppid() != w.parent) _exit(0);

  /* 2. The built-in initializer: our own connection. */
  rc = dbfork__mysql_connect(o, slot, o->connect_timeout * 1000u, &w.mysql, &e);
  if (rc) {
    send_err(&w, DBFORK__MSG_INITFAIL, 0, 0, &e);
    flush_tx(&w);
    _exit(3);
  }
  w.conn_id = mysql_thread_id(w.mysql);
  w.last_db_ms = dbfork__now_ms();

  /* 3. The user's per-connection hook, then the initializer. Either one
   * failing is a start failure; finalizers they registered still run. */
  if (o->on_connect && (rc = o->on_connect(&w, o->on_connect_arg)) != 0) start_failed(&w, rc);
  if (o->init) {
    w.err_set = 0;
    rc = o->init(&w, o->init_arg);
    if (rc) start_failed(&w, rc);
  }
  send_hello(&w, DBFORK__MSG_HELLO);
  if (flush_tx(&w) == 0) worker_loop(&w, sp[0]);
  if (!w.why && got_signal) w.why = DBFORK__WHY_SIGNAL;
  run_finalizers_and_exit(&w, 0);
}

/* ---- public worker-side API ---- */
/* Given NULL, every one of them fails rather than crash (dbfork.h). */
MYSQL *dbfork_worker_mysql(dbfork_worker *w) { return w ? w->mysql : NULL; }
int dbfork_worker_slot(const dbfork_worker *w) { return w ? w->slot : DBFORK_EINVAL; }
unsigned long dbfork_worker_connection_id(const dbfork_worker *w) { return w ? w->conn_id : 0; }
int dbfork_worker_stopping(const dbfork_worker *w) {
  if (!w) return DBFORK_EINVAL;
  return w->stopping || got_signal;
}

int dbfork_worker_atexit(dbfork_worker *w, dbfork_fini_fn fn, void *arg, int priority) {
  if (!w || !fn) return DBFORK_EINVAL;
  if (w->nfins == w->capfins) {
    unsigned int cap = w->capfins ? w->capfins * 2 : 8;
    finalizer *nf = realloc(w->fins, cap * sizeof *nf);
    if (!nf) return DBFORK_ENOMEM;
    w->fins = nf;
    w->capfins = cap;
  }
  w->fins[w->nfins].fn = fn;
  w->fins[w->nfins].arg = arg;
  w->fins[w->nfins].priority = priority;
  w->fins[w->nfins].seq = w->seq++;
  w->nfins++;
  return 0;
}

int dbfork_worker_reply(dbfork_worker *w, const void *data, size_t len) {
  if (!w || (len && !data)) return DBFORK_EINVAL;
  if (w->reply.len + len > w->o->max_payload) return DBFORK_ETOOBIG;
  return dbfork__bytes_add(&w->reply, data, len);
}

int dbfork_worker_fail(dbfork_worker *w, int code, unsigned int mysql_errno, const char *sqlstate,
                       const char *fmt, ...) {
  va_list ap;
  if (!w) return DBFORK_EINVAL;
  if (code >= 0) code = DBFORK_ETASK;
  va_start(ap, fmt);
  dbfork__err_vset(&w->err, code, mysql_errno, sqlstate, fmt, ap);
  va_end(ap);
  w->err_set = 1;
  return code;
}
