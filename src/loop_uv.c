/*
 * loop_uv.c — the libuv adapter: every libuv call of the parent side, and
 * nothing else. It watches each worker (its IPC socket as a uv_pipe_t, its
 * exit as a pidfd under uv_poll_t — never waitpid(-1), never a SIGCHLD
 * handler), writes the frames the core queued, runs the timers and the
 * control connection's KILLs (on the threadpool, so that the loop never
 * blocks on the server), and reports what happened to the core, in order:
 * the bytes a worker wrote always reach the core before its exit or a limit
 * timer of it does. The core never asks the adapter for input.
 */
#include "parent.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#define WAITPID_POLL_MS 20

struct dbfork__io {
  dbfork__proc *pr;
  uv_pipe_t pipe;
  uv_poll_t pidpoll;
  uv_timer_t limit_timer; /* soft/hard time limits of the task the worker runs */
  uv_timer_t life_timer;  /* max lifetime */
  uv_timer_t wait_timer;  /* polls waitpid(pid) when there is no pidfd */
  int pidfd;              /* -1: wait_timer instead */
  int nhandles;           /* open handles; freed when the last one has closed */
  dbfork__bytes wbuf;     /* the frames being written */
  size_t woff;            /* bytes of wbuf already written (it goes out in pieces) */
  int writing;
  uv_write_t wreq;
};

struct dbfork__pool_io {
  dbfork_pool *pool;
  uv_loop_t own_loop;
  uv_async_t async;
  uv_timer_t grace_timer;
  uv_timer_t *respawn; /* one per slot */
  int handles_open;    /* pool-level handles not yet closed */
};

/* ---- reading ---- */
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  dbfork__io *io = h->data;
  if (dbfork__bytes_reserve(&io->pr->rx, 64 * 1024)) {
    buf->base = NULL;
    buf->len = 0;
    return;
  }
  buf->base = (char *)io->pr->rx.p + io->pr->rx.len;
  buf->len = io->pr->rx.cap - io->pr->rx.len;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  dbfork__io *io = s->data;
  if (n > 0) {
    io->pr->rx.len += (size_t)n;
    dbfork__ev_input(io->pr);
  } else if (n < 0) {
    /* EOF or error: the worker is gone or going; its exit watch finishes
     * the story. Nothing more will come from this pipe. */
    uv_read_stop(s);
  }
}

/* Appends whatever the worker has written and we have not read yet to rx:
 * the exit watch and a timer can fire before the pipe's own read event. */
static void read_pending(dbfork__io *io) {
  uv_os_fd_t fd;
  if (uv_fileno((uv_handle_t *)&io->pipe, &fd) != 0) return;
  for (;;) {
    uv_buf_t b;
    ssize_t n;
    on_alloc((uv_handle_t *)&io->pipe, 0, &b);
    if (!b.base) return;
    n = read(fd, b.base, b.len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    io->pr->rx.len += (size_t)n;
  }
}

/* ---- a worker's exit ---- */
static void proc_reap(dbfork__io *io) {
  int st = 0;
  pid_t r;
  if (io->pr->reaped) return;
  do r = waitpid(io->pr->pid, &st, WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r == 0) return; /* not yet */
  if (io->pidfd >= 0) uv_poll_stop(&io->pidpoll);
  uv_timer_stop(&io->wait_timer);
  /* Reaped first (the pid is ours no more: the core must not signal it),
   * then what it wrote, then the exit. */
  read_pending(io);
  dbfork__ev_exit(io->pr, st);
}

static void on_pidfd(uv_poll_t *h, int status, int events) { proc_reap(h->data); }

/* Without pidfd (kernels before 5.3) a timer polls waitpid() on this pid. */
static void on_wait_timer(uv_timer_t *t) { proc_reap(t->data); }

/* ---- timers ----
 * Timers count from the loop's cached "now", which is stale when we are
 * called from an API function after the loop sat idle: refresh it first, or
 * a limit fires early by the idle time. */
static void arm(uv_timer_t *t, uv_timer_cb cb, uint64_t ms) {
  if (!ms) {
    uv_timer_stop(t); /* 0: the core asks for no timer */
    return;
  }
  uv_update_time(t->loop);
  uv_timer_start(t, cb, ms, 0);
}

static void on_limit_timer(uv_timer_t *t) {
  dbfork__io *io = t->data;
  read_pending(io); /* the replies written before the timer fired come first */
  dbfork__ev_limit_timer(io->pr);
}

static void on_life_timer(uv_timer_t *t) {
  dbfork__io *io = t->data;
  dbfork__ev_life_timer(io->pr);
}

void dbfork__io_limit_timer(dbfork__proc *pr, uint64_t ms) {
  arm(&pr->io->limit_timer, on_limit_timer, ms);
}

void dbfork__io_life_timer(dbfork__proc *pr, uint64_t ms) {
  arm(&pr->io->life_timer, on_life_timer, ms);
}

static void on_respawn(uv_timer_t *t) {
  dbfork__pool_io *pio = t->data;
  dbfork__ev_respawn_timer(pio->pool, (int)(t - pio->respawn));
}

void dbfork__io_respawn_timer(dbfork_pool *p, int slot, uint64_t ms) {
  arm(&p->io->respawn[slot], on_respawn, ms);
}

static void on_grace(uv_timer_t *t) {
  dbfork__pool_io *pio = t->data;
  dbfork__ev_grace_timer(pio->pool);
}

void dbfork__io_grace_timer(dbfork_pool *p, uint64_t ms) { arm(&p->io->grace_timer, on_grace, ms); }

/* ---- writing ----
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

static void write_piece(dbfork__io *io);

static void on_write(uv_write_t *req, int status) {
  dbfork__io *io = req->data;
  io->writing = 0;
  if (status < 0) {
    /* The worker is gone; the exit watch handles it. */
    io->wbuf.len = io->woff = 0;
    return;
  }
  io->woff += piece(&io->wbuf, io->woff).len;
  if (io->woff < io->wbuf.len && !io->pr->detached) {
    write_piece(io);
    return;
  }
  io->wbuf.len = io->woff = 0;
  if (!io->pr->detached) dbfork__io_flush(io->pr);
}

static void write_piece(dbfork__io *io) {
  uv_buf_t b = piece(&io->wbuf, io->woff);
  io->wreq.data = io;
  if (uv_write(&io->wreq, (uv_stream_t *)&io->pipe, &b, 1, on_write) == 0)
    io->writing = 1;
  else
    io->wbuf.len = io->woff = 0;
}

void dbfork__io_flush(dbfork__proc *pr) {
  dbfork__io *io = pr->io;
  dbfork__bytes t;
  size_t off = 0;
  if (io->writing || pr->tx.len == 0 || pr->detached) return;
  /* Usually the socket has room: write now, without a poll round trip. */
  while (off < pr->tx.len) {
    uv_buf_t b = piece(&pr->tx, off);
    int n = uv_try_write((uv_stream_t *)&io->pipe, &b, 1);
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
  t = io->wbuf;
  io->wbuf = pr->tx;
  pr->tx = t;
  pr->tx.len = 0;
  io->woff = 0;
  write_piece(io);
}

/* ---- a worker's handles ---- */
int dbfork__io_attach(dbfork__proc *pr, int fd, int pidfd) {
  dbfork_pool *p = pr->pool;
  dbfork__io *io = calloc(1, sizeof *io);
  int rc;
  if (!io) return DBFORK_ENOMEM;
  io->pr = pr;
  io->pidfd = pidfd;
  pr->io = io;
  uv_pipe_init(p->loop, &io->pipe, 0);
  if ((rc = uv_pipe_open(&io->pipe, fd)) != 0) return rc;
  io->pipe.data = io;
  uv_timer_init(p->loop, &io->limit_timer);
  io->limit_timer.data = io;
  uv_timer_init(p->loop, &io->life_timer);
  io->life_timer.data = io;
  uv_timer_init(p->loop, &io->wait_timer);
  io->wait_timer.data = io;
  io->nhandles = 4;
  if (pidfd >= 0) {
    uv_poll_init(p->loop, &io->pidpoll, pidfd);
    io->pidpoll.data = io;
    uv_poll_start(&io->pidpoll, UV_READABLE, on_pidfd);
    io->nhandles++;
  } else {
    uv_timer_start(&io->wait_timer, on_wait_timer, WAITPID_POLL_MS, WAITPID_POLL_MS);
  }
  return uv_read_start((uv_stream_t *)&io->pipe, on_alloc, on_read);
}

static void proc_handle_closed(uv_handle_t *h) {
  dbfork__io *io = h->data;
  if (--io->nhandles == 0) {
    dbfork__proc *pr = io->pr;
    free(io->wbuf.p);
    if (io->pidfd >= 0) close(io->pidfd);
    free(io);
    dbfork__ev_released(pr);
  }
}

void dbfork__io_release(dbfork__proc *pr) {
  dbfork__io *io = pr->io;
  /* uv_close on the pipe cancels a pending write (its callback runs with
   * UV_ECANCELED before the close callback), so wbuf stays alive until then. */
  uv_close((uv_handle_t *)&io->pipe, proc_handle_closed);
  uv_close((uv_handle_t *)&io->limit_timer, proc_handle_closed);
  uv_close((uv_handle_t *)&io->life_timer, proc_handle_closed);
  uv_close((uv_handle_t *)&io->wait_timer, proc_handle_closed);
  if (io->pidfd >= 0) uv_close((uv_handle_t *)&io->pidpoll, proc_handle_closed);
}

/* ---- the control connection's KILLs, on the threadpool ---- */
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
  k->ok = dbfork__ctl_kill(k->pool->ctl, k->pool->o, k->id, k->query_only, k->deadline_ms, k->why,
                           sizeof k->why);
}

static void kill_after(uv_work_t *w, int status) {
  kill_req *k = w->data;
  dbfork_pool *p = k->pool;
  unsigned long id = k->id;
  int query_only = k->query_only, ok = k->ok;
  char why[sizeof k->why];
  memcpy(why, k->why, sizeof why);
  free(k);
  dbfork__ev_kill_done(p, id, query_only, ok, why);
}

int dbfork__io_kill_session(dbfork_pool *p, unsigned long conn_id, int query_only) {
  kill_req *k;
  int rc;
  if (!conn_id) return DBFORK_EINVAL;
  k = calloc(1, sizeof *k);
  if (!k) return DBFORK_ENOMEM;
  k->pool = p;
  k->id = conn_id;
  k->query_only = query_only;
  /* One whose turn has not come by then is given up (ctl.c), so a server
   * that stops answering holds terminate, join, free and respawns (which
   * wait for pending KILLs) for a few seconds, not for as long as TCP takes. */
  k->deadline_ms = dbfork__now_ms() + DBFORK__KILL_DEADLINE_MS;
  k->work.data = k;
  if ((rc = uv_queue_work(p->loop, &k->work, kill_work, kill_after)) != 0) free(k);
  return rc;
}

/* ---- the pool's handles and the loop ---- */
static void on_async(uv_async_t *a) {
  dbfork__pool_io *pio = a->data;
  dbfork__ev_wake(pio->pool);
}

int dbfork__io_init(dbfork_pool *p) {
  dbfork__pool_io *pio = calloc(1, sizeof *pio);
  int rc, i;
  if (!pio) return DBFORK_ENOMEM;
  pio->respawn = calloc((size_t)p->nslots, sizeof *pio->respawn);
  if (!pio->respawn) {
    free(pio);
    return DBFORK_ENOMEM;
  }
  pio->pool = p;
  if (p->o->loop) {
    p->loop = p->o->loop;
  } else {
    rc = uv_loop_init(&pio->own_loop);
    if (rc) {
      free(pio->respawn);
      free(pio);
      return rc;
    }
    p->loop = &pio->own_loop;
    p->loop->data = p;
  }
  p->io = pio;
  rc = uv_async_init(p->loop, &pio->async, on_async);
  if (rc) return rc;
  pio->async.data = pio;
  /* The wake-up handle alone must not keep a caller's loop running: the
   * workers' pipes and exit watches do that while there is work. */
  uv_unref((uv_handle_t *)&pio->async);
  uv_timer_init(p->loop, &pio->grace_timer);
  pio->grace_timer.data = pio;
  pio->handles_open = 2;
  for (i = 0; i < p->nslots; i++) {
    uv_timer_init(p->loop, &pio->respawn[i]);
    pio->respawn[i].data = pio;
    pio->handles_open++;
  }
  return 0;
}

static void pool_handle_closed(uv_handle_t *h) {
  dbfork__pool_io *pio = h->data;
  pio->handles_open--;
}

void dbfork__io_close(dbfork_pool *p) {
  dbfork__pool_io *pio = p->io;
  int i;
  if (!p->loop) {
    free(pio->respawn);
    free(pio);
    p->io = NULL;
    return;
  }
  if (pio->handles_open) {
    uv_close((uv_handle_t *)&pio->async, pool_handle_closed);
    uv_close((uv_handle_t *)&pio->grace_timer, pool_handle_closed);
    for (i = 0; i < p->nslots; i++) uv_close((uv_handle_t *)&pio->respawn[i], pool_handle_closed);
  }
  while (pio->handles_open > 0 || p->open_procs > 0 || p->pending_kills > 0)
    uv_run(p->loop, UV_RUN_ONCE);
  if (p->loop == &pio->own_loop) uv_loop_close(&pio->own_loop);
  p->loop = NULL;
  free(pio->respawn);
  free(pio);
  p->io = NULL;
}

int dbfork__io_backend_fd(dbfork_pool *p) { return uv_backend_fd(p->loop); }

void dbfork__io_wake(dbfork_pool *p) { uv_async_send(&p->io->async); }

int dbfork__io_run(dbfork_pool *p, int mode) {
  uv_run_mode m = mode == 1 ? UV_RUN_ONCE : mode == 2 ? UV_RUN_NOWAIT : UV_RUN_DEFAULT;
  return uv_run(p->loop, m);
}
