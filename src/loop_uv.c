/*
 * loop_uv.c — every libuv call of the parent side: forking workers and
 * watching them (a socketpair end as uv_pipe_t, the process as a pidfd under
 * uv_poll_t — never waitpid(-1), never a SIGCHLD handler), framing writes,
 * timers, and the control connection that KILLs sessions from libuv's
 * threadpool so that the loop never blocks on the server.
 */
#include "parent.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mysql.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

#define WAITPID_POLL_MS 20

/* ---- process exit ---- */
static void proc_reap(dbfork__proc *pr) {
  int st = 0;
  pid_t r;
  if (pr->reaped) return;
  do r = waitpid(pr->pid, &st, WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r == 0) return; /* not yet */
  pr->reaped = 1;
  pr->exit_status = st;
  dbfork__on_proc_exit(pr);
}

static void on_pidfd(uv_poll_t *h, int status, int events) { proc_reap(h->data); }

static void on_life_timer(uv_timer_t *t) { dbfork__on_life_timer(t->data); }

/* Without pidfd (kernels before 5.3) a timer polls waitpid() on this pid. */
static void on_wait_timer(uv_timer_t *t) { proc_reap(t->data); }

static void on_limit_timer(uv_timer_t *t) { dbfork__on_limit_timer(t->data); }

/* ---- reading frames ---- */
static void parse_rx(dbfork__proc *pr) {
  size_t off = 0;
  size_t max = pr->pool->o->max_payload + DBFORK__ERRBODY_FIXED + DBFORK__MSG_MSG_MAX;
  while (!pr->detached) {
    dbfork__frame f;
    ssize_t n = dbfork__frame_parse(pr->rx.p + off, pr->rx.len - off, max, &f);
    if (n == DBFORK__PROTO_INCOMPLETE) break;
    if (n < 0) {
      /* A worker that speaks garbage cannot be trusted with tasks. */
      dbfork__log(pr->pool, DBFORK_LOG_ERROR,
                  "worker %d (pid %ld) sent an invalid frame; killing it", pr->slot, (long)pr->pid);
      /* Not once reaped (the drain at exit): the pid may be reused by now. */
      if (!pr->reaped) kill(pr->pid, SIGKILL);
      pr->rx.len = 0;
      return;
    }
    off += (size_t)n;
    dbfork__on_frame(pr, &f);
  }
  if (off) {
    memmove(pr->rx.p, pr->rx.p + off, pr->rx.len - off);
    pr->rx.len -= off;
  }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  dbfork__proc *pr = h->data;
  if (dbfork__bytes_reserve(&pr->rx, 64 * 1024)) {
    buf->base = NULL;
    buf->len = 0;
    return;
  }
  buf->base = (char *)pr->rx.p + pr->rx.len;
  buf->len = pr->rx.cap - pr->rx.len;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  dbfork__proc *pr = s->data;
  if (n > 0) {
    pr->rx.len += (size_t)n;
    parse_rx(pr);
    dbfork__schedule(pr->pool);
  } else if (n < 0) {
    /* EOF or error: the worker is gone or going; its exit watch finishes
     * the story. Nothing more will come from this pipe. */
    uv_read_stop(s);
  }
}

/* The exit watch can fire before the last bytes were read from the pipe;
 * read what is left directly so that no result is mistaken for a loss. */
static void drain_pipe(dbfork__proc *pr) {
  uv_os_fd_t fd;
  if (uv_fileno((uv_handle_t *)&pr->pipe, &fd) != 0) return;
  for (;;) {
    uv_buf_t b;
    ssize_t n;
    on_alloc((uv_handle_t *)&pr->pipe, 0, &b);
    if (!b.base) return;
    n = read(fd, b.base, b.len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pr->rx.len += (size_t)n;
    parse_rx(pr);
  }
}

/* ---- writing frames ----
 * uv_buf_init() takes an unsigned int and uv_try_write() returns an int,
 * while tx may legally hold prefetch x max_payload bytes (32 x 1 GiB): libuv
 * is handed at most this much at a time. */
#ifndef DBFORK__WRITE_PIECE
#define DBFORK__WRITE_PIECE ((size_t)INT_MAX)
#endif

/* The next piece of b from offset off. */
static uv_buf_t piece(const dbfork__bytes *b, size_t off) {
  size_t n = b->len - off;
  return uv_buf_init((char *)b->p + off,
                     (unsigned int)(n < DBFORK__WRITE_PIECE ? n : DBFORK__WRITE_PIECE));
}

static void write_piece(dbfork__proc *pr);

static void on_write(uv_write_t *req, int status) {
  dbfork__proc *pr = req->data;
  pr->writing = 0;
  if (status < 0) {
    /* The worker is gone; the exit watch handles it. */
    pr->wbuf.len = pr->woff = 0;
    return;
  }
  pr->woff += piece(&pr->wbuf, pr->woff).len;
  if (pr->woff < pr->wbuf.len && !pr->detached) {
    write_piece(pr);
    return;
  }
  pr->wbuf.len = pr->woff = 0;
  if (!pr->detached) dbfork__proc_flush(pr);
}

static void write_piece(dbfork__proc *pr) {
  uv_buf_t b = piece(&pr->wbuf, pr->woff);
  pr->wreq.data = pr;
  if (uv_write(&pr->wreq, (uv_stream_t *)&pr->pipe, &b, 1, on_write) == 0)
    pr->writing = 1;
  else
    pr->wbuf.len = pr->woff = 0;
}

void dbfork__proc_send(dbfork__proc *pr, uint8_t type, uint16_t arg, uint64_t id,
                       const void *payload, size_t len) {
  uint8_t hdr[DBFORK__HDR_LEN];
  dbfork__frame_header(hdr, type, arg, id, (uint32_t)len);
  DBFORK__CHECK(dbfork__bytes_add(&pr->tx, hdr, sizeof hdr) == 0);
  DBFORK__CHECK(dbfork__bytes_add(&pr->tx, payload, len) == 0);
}

void dbfork__proc_flush(dbfork__proc *pr) {
  dbfork__bytes t;
  size_t off = 0;
  if (pr->writing || pr->tx.len == 0 || pr->detached) return;
  /* Usually the socket has room: write now, without a poll round trip. */
  while (off < pr->tx.len) {
    uv_buf_t b = piece(&pr->tx, off);
    int n = uv_try_write((uv_stream_t *)&pr->pipe, &b, 1);
    if (n <= 0) break;
    off += (size_t)n;
    if ((size_t)n < b.len) break;
  }
  if (off) {
    memmove(pr->tx.p, pr->tx.p + off, pr->tx.len - off);
    pr->tx.len -= off;
    if (!pr->tx.len) return;
  }
  /* Double buffering: frames queued while a write is in flight collect in
   * tx and go out together in the next write (one syscall for many tasks). */
  t = pr->wbuf;
  pr->wbuf = pr->tx;
  pr->tx = t;
  pr->tx.len = 0;
  pr->woff = 0;
  write_piece(pr);
}

/* ---- timers ----
 * Timers count from the loop's cached "now", which is stale when we are
 * called from an API function after the loop sat idle: refresh it first, or
 * a limit fires early by the idle time. */
static void arm(uv_timer_t *t, uv_timer_cb cb, uint64_t ms) {
  uv_update_time(t->loop);
  uv_timer_start(t, cb, ms, 0);
}

void dbfork__proc_limit_timer(dbfork__proc *pr, uint64_t ms) {
  if (ms)
    arm(&pr->limit_timer, on_limit_timer, ms);
  else
    uv_timer_stop(&pr->limit_timer);
}

void dbfork__proc_life_timer(dbfork__proc *pr, uint64_t ms) {
  arm(&pr->life_timer, on_life_timer, ms);
}

static void on_respawn(uv_timer_t *t) {
  dbfork__slot *s = t->data;
  dbfork_pool *p = s->pool;
  s->respawn_pending = 0;
  dbfork__on_respawn_timer(p, (int)(s - p->slots));
}

void dbfork__respawn_later(dbfork_pool *p, int slot, uint64_t ms) {
  p->slots[slot].respawn_pending = 1;
  arm(&p->slots[slot].respawn_timer, on_respawn, ms);
}

static void on_grace(uv_timer_t *t) { dbfork__on_grace_timer(t->data); }
void dbfork__grace_timer(dbfork_pool *p, uint64_t ms) { arm(&p->grace_timer, on_grace, ms); }

/* ---- fork ---- */
static void proc_handle_closed(uv_handle_t *h) {
  dbfork__proc *pr = h->data;
  if (--pr->nhandles == 0) {
    pr->pool->open_procs--;
    free(pr->rx.p);
    free(pr->tx.p);
    free(pr->wbuf.p);
    if (pr->pidfd >= 0) close(pr->pidfd);
    free(pr);
  }
}

void dbfork__proc_release(dbfork__proc *pr) {
  /* uv_close on the pipe cancels a pending write (its callback runs with
   * UV_ECANCELED before the close callback), so wbuf stays alive until then. */
  uv_close((uv_handle_t *)&pr->pipe, proc_handle_closed);
  uv_close((uv_handle_t *)&pr->limit_timer, proc_handle_closed);
  uv_close((uv_handle_t *)&pr->life_timer, proc_handle_closed);
  if (pr->pidfd >= 0)
    uv_close((uv_handle_t *)&pr->pidpoll, proc_handle_closed);
  else
    uv_close((uv_handle_t *)&pr->wait_timer, proc_handle_closed);
}

struct dbfork__ctl {
  uv_mutex_t mu;
  MYSQL *m;
};

int dbfork__spawn(dbfork_pool *p, int slot) {
  int sv[2], rc, close_fds[1];
  dbfork__proc *pr;
  pid_t pid, me = getpid();
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) return -errno;
  pr = calloc(1, sizeof *pr);
  if (!pr) {
    close(sv[0]);
    close(sv[1]);
    return DBFORK_ENOMEM;
  }
  close_fds[0] = uv_backend_fd(p->loop);
  p->shm[slot].running = p->shm[slot].done = 0;
  /* No control-connection I/O may be half-way through a client-library lock
   * when we fork: the child would inherit the lock held. */
  uv_mutex_lock(&p->ctl->mu);
  pid = fork();
  if (pid == 0) {
    /* The child. From here on nothing of the parent's loop is touched. */
    dbfork__worker_main(p->o, slot, sv[1], me, &p->shm[slot], close_fds, 1);
  }
  rc = -errno;
  uv_mutex_unlock(&p->ctl->mu);
  close(sv[1]);
  if (pid < 0) {
    close(sv[0]);
    free(pr);
    return rc;
  }
  pr->pool = p;
  pr->slot = slot;
  pr->pid = pid;
  pr->state = DBFORK_WORKER_STARTING;
  pr->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (pr->pidfd >= 0) fcntl(pr->pidfd, F_SETFD, FD_CLOEXEC);
  uv_pipe_init(p->loop, &pr->pipe, 0);
  DBFORK__CHECK(uv_pipe_open(&pr->pipe, sv[0]) == 0);
  pr->pipe.data = pr;
  uv_timer_init(p->loop, &pr->limit_timer);
  pr->limit_timer.data = pr;
  uv_timer_init(p->loop, &pr->life_timer);
  pr->life_timer.data = pr;
  pr->nhandles = 3;
  if (pr->pidfd >= 0) {
    uv_poll_init(p->loop, &pr->pidpoll, pr->pidfd);
    pr->pidpoll.data = pr;
    uv_poll_start(&pr->pidpoll, UV_READABLE, on_pidfd);
    pr->nhandles++;
  } else {
    uv_timer_init(p->loop, &pr->wait_timer);
    pr->wait_timer.data = pr;
    uv_timer_start(&pr->wait_timer, on_wait_timer, WAITPID_POLL_MS, WAITPID_POLL_MS);
    pr->nhandles++;
  }
  uv_read_start((uv_stream_t *)&pr->pipe, on_alloc, on_read);
  p->slots[slot].cur = pr;
  p->slots[slot].started++;
  if (p->slots[slot].started > 1) p->slots[slot].restarts++;
  p->slots[slot].last_pid = pid;
  p->live_procs++;
  p->open_procs++;
  p->st.workers_started++;
  return 0;
}

/* Called by pool.c once the exit has been reaped: read the rest first. */
void dbfork__proc_drain(dbfork__proc *pr) { drain_pipe(pr); }

/* ---- the control connection: KILL from the threadpool ----
 * KILLs run one at a time (the connection's mutex). Each has a deadline:
 * one whose turn comes after it is given up, and the connection's own
 * timeouts (DBFORK__CTL_TIMEOUT_S) bound the one in progress, so a server
 * that stops answering holds terminate, join, free and respawns (which wait
 * for pending KILLs) for a few seconds, not for as long as TCP takes. */
#define KILL_DEADLINE_MS 3000
/* A failure quicker than this was a stale connection (server restarted,
 * wait_timeout), worth one more try on a new one; a slower one timed out. */
#define KILL_STALE_MS 500

typedef struct kill_req {
  uv_work_t work;
  dbfork_pool *pool;
  unsigned long id;
  int query_only;
  int ok;
  uint64_t deadline_ms;
  char why[160]; /* why it could not be done */
} kill_req;

static void kill_work(uv_work_t *w) {
  kill_req *k = w->data;
  dbfork_pool *p = k->pool;
  char sql[64];
  int tries;
  dbfork__err e;
  snprintf(sql, sizeof sql, "KILL %s%lu", k->query_only ? "QUERY " : "", k->id);
  uv_mutex_lock(&p->ctl->mu);
  mysql_thread_init();
  snprintf(k->why, sizeof k->why, "not done within %u ms", KILL_DEADLINE_MS);
  for (tries = 0; tries < 2; tries++) {
    uint64_t now = dbfork__now_ms();
    unsigned int err;
    if (now >= k->deadline_ms) break;
    if (!p->ctl->m &&
        dbfork__mysql_connect(p->o, -1, (unsigned int)(k->deadline_ms - now), &p->ctl->m, &e)) {
      snprintf(k->why, sizeof k->why, "%.150s", e.msg);
      break;
    }
    now = dbfork__now_ms();
    if (mysql_query(p->ctl->m, sql) == 0 || (err = mysql_errno(p->ctl->m)) == 1094 /* no id */) {
      k->ok = 1;
      break;
    }
    snprintf(k->why, sizeof k->why, "%.150s", mysql_error(p->ctl->m));
    if (!dbfork__mysql_is_lost(err)) break;
    /* Lost or timed out: closed here, opened again by the next KILL. */
    dbfork__mysql_close(p->ctl->m);
    p->ctl->m = NULL;
    if (dbfork__now_ms() - now >= KILL_STALE_MS) break;
  }
  mysql_thread_end();
  uv_mutex_unlock(&p->ctl->mu);
}

static void kill_after(uv_work_t *w, int status) {
  kill_req *k = w->data;
  dbfork_pool *p = k->pool;
  p->pending_kills--;
  if (k->ok && !k->query_only) p->st.sessions_killed++;
  if (!k->ok)
    dbfork__log(p, DBFORK_LOG_WARN, "could not KILL %s%lu on the control connection: %s",
                k->query_only ? "QUERY " : "", k->id, k->why);
  free(k);
  if (!p->pending_kills) dbfork__on_kills_done(p);
}

void dbfork__kill_session(dbfork_pool *p, unsigned long conn_id, int query_only) {
  kill_req *k;
  if (!conn_id) return;
  k = calloc(1, sizeof *k);
  if (!k) return;
  k->pool = p;
  k->id = conn_id;
  k->query_only = query_only;
  k->deadline_ms = dbfork__now_ms() + KILL_DEADLINE_MS;
  k->work.data = k;
  if (uv_queue_work(p->loop, &k->work, kill_work, kill_after) == 0)
    p->pending_kills++;
  else
    free(k);
}

void dbfork__ctl_close(dbfork_pool *p) {
  if (!p->ctl) return;
  if (p->ctl->m) dbfork__mysql_close(p->ctl->m); /* clean COM_QUIT */
  uv_mutex_destroy(&p->ctl->mu);
  free(p->ctl);
  p->ctl = NULL;
}

/* ---- pool-level handles ---- */
static void on_async(uv_async_t *a) { dbfork__schedule(a->data); }

int dbfork__loop_init(dbfork_pool *p) {
  int rc;
  p->ctl = calloc(1, sizeof *p->ctl);
  if (!p->ctl) return DBFORK_ENOMEM;
  uv_mutex_init(&p->ctl->mu);
  if (p->o->loop) {
    p->loop = p->o->loop;
  } else {
    rc = uv_loop_init(&p->own_loop);
    if (rc) return rc;
    p->loop = &p->own_loop;
    p->loop->data = p;
  }
  rc = uv_async_init(p->loop, &p->async, on_async);
  if (rc) return rc;
  p->async.data = p;
  /* The wake-up handle alone must not keep a caller's loop running: the
   * workers' pipes and exit watches do that while there is work. */
  uv_unref((uv_handle_t *)&p->async);
  uv_timer_init(p->loop, &p->grace_timer);
  p->grace_timer.data = p;
  p->handles_open = 2;
  return 0;
}

static void pool_handle_closed(uv_handle_t *h) {
  dbfork_pool *p = h->data;
  p->handles_open--;
}

void dbfork__loop_close(dbfork_pool *p) {
  int i;
  if (!p->loop) return;
  if (p->handles_open) {
    uv_close((uv_handle_t *)&p->async, pool_handle_closed);
    uv_close((uv_handle_t *)&p->grace_timer, pool_handle_closed);
  }
  for (i = 0; i < p->nslots; i++) {
    if (!uv_is_closing((uv_handle_t *)&p->slots[i].respawn_timer)) {
      p->handles_open++;
      p->slots[i].respawn_timer.data = p;
      uv_close((uv_handle_t *)&p->slots[i].respawn_timer, pool_handle_closed);
    }
  }
  while (p->handles_open > 0 || p->open_procs > 0 || p->pending_kills > 0)
    uv_run(p->loop, UV_RUN_ONCE);
  if (p->loop == &p->own_loop) uv_loop_close(&p->own_loop);
  p->loop = NULL;
}

void dbfork__wake(dbfork_pool *p) { uv_async_send(&p->async); }

int dbfork__run(dbfork_pool *p, int mode) {
  uv_run_mode m = mode == 1 ? UV_RUN_ONCE : mode == 2 ? UV_RUN_NOWAIT : UV_RUN_DEFAULT;
  return uv_run(p->loop, m);
}
