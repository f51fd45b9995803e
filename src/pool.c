/*
 * pool.c — the pool's lifecycle and its phase: the public calls that create,
 * start, close, drain, stop and free a pool, and the one function that
 * changes the phase (with its entry actions). Queue and completions are in
 * sched.c, the worker table in supervise.c, every libuv call in loop_uv.c.
 */
#include "parent.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void dbfork__log(dbfork_pool *p, int level, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  if (!p->o->log || level > p->o->log_level) return;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  p->o->log(level, msg, p->o->log_arg);
}

int dbfork__on_loop_thread(const dbfork_pool *p) {
  return pthread_equal(pthread_self(), p->loop_thread);
}

void dbfork__set_last_error(dbfork_pool *p, const dbfork__err *e) {
  p->last_err = *e;
  if (e->mysql_errno)
    snprintf(p->last_error, sizeof p->last_error, "%s (MySQL error %u, SQLSTATE %s)", e->msg,
             e->mysql_errno, e->sqlstate);
  else
    snprintf(p->last_error, sizeof p->last_error, "%s", e->msg);
}

int dbfork__has_work(const dbfork_pool *p) { return p->queue.n || p->in_flight; }

int dbfork__accepting(const dbfork_pool *p) {
  return p->phase == DBFORK__PHASE_RUNNING || p->phase == DBFORK__PHASE_CLOSING;
}

/* ---- the phase ---- */
static const char *const phase_names[] = {"new",    "running",  "closing", "draining",
                                          "failed", "stopping", "done"};

static void enter_draining(dbfork_pool *p) {
  int i;
  for (i = 0; i < p->nslots; i++)
    if (p->slots[i].cur) dbfork__send_stop(p->slots[i].cur);
}

static void enter_failed(dbfork_pool *p) {
  dbfork__log(p, DBFORK_LOG_ERROR, "pool stopped after %u consecutive worker start failures: %s",
              p->consecutive_start_failures, p->last_error);
  dbfork__fail_queue(p, DBFORK_EINIT, &p->last_err);
  dbfork__stop_idle_workers(p);
}

static void enter_stopping(dbfork_pool *p) {
  int i;
  dbfork__fail_queue(p, DBFORK_ECANCELED, NULL);
  for (i = 0; i < p->nslots; i++) {
    p->slots[i].respawn_pending = 0;
    p->slots[i].respawn_after_kills = 0;
    dbfork__io_respawn_timer(p, i, 0);
  }
  dbfork__stop_workers(p);
  if (p->live_procs) dbfork__io_grace_timer(p, p->o->term_grace_ms);
}

static void enter_done(dbfork_pool *p) { dbfork__io_grace_timer(p, 0); }

/* What entering a phase does (curl's state_enter[]): run once, right after
 * the phase changed, on the loop thread. */
static void (*const phase_enter[])(dbfork_pool *p) = {
    NULL, NULL, dbfork__maybe_drain, enter_draining, enter_failed, enter_stopping, enter_done};

void dbfork__pool_set_phase(dbfork_pool *p, int phase) {
  int old = p->phase;
  if (old == phase) return;
  DBFORK__CHECK(phase > DBFORK__PHASE_NEW && phase <= DBFORK__PHASE_DONE);
  DBFORK__CHECK(old != DBFORK__PHASE_DONE);
  pthread_mutex_lock(&p->mu);
  p->phase = phase;
  if (phase == DBFORK__PHASE_FAILED) p->result = DBFORK_EINIT;
  /* Submitters waiting for room learn that the pool no longer takes tasks. */
  if (phase != DBFORK__PHASE_RUNNING) pthread_cond_broadcast(&p->room);
  pthread_mutex_unlock(&p->mu);
  dbfork__log(p, DBFORK_LOG_DEBUG, "pool: %s -> %s", phase_names[old], phase_names[phase]);
  if (phase_enter[phase]) phase_enter[phase](p);
}

void dbfork__run_until(dbfork_pool *p, int (*done)(const dbfork_pool *p)) {
  for (;;) {
    if (p->need_sched) dbfork__schedule(p);
    if (done(p)) return;
    /* Nobody is left to run what waits: fail or cancel it. */
    if (!p->live_procs && p->queue.n &&
        (p->phase == DBFORK__PHASE_FAILED || p->phase == DBFORK__PHASE_STOPPING)) {
      dbfork__fail_queue(p, p->phase == DBFORK__PHASE_FAILED ? DBFORK_EINIT : DBFORK_ECANCELED,
                         p->phase == DBFORK__PHASE_FAILED ? &p->last_err : NULL);
      continue;
    }
    dbfork__io_run(p, 1);
  }
}

/* Every task has completed, every worker has exited, no KILL is pending and
 * no respawn is due. */
static int quiet(const dbfork_pool *p) {
  int i;
  if (p->live_procs || p->pending_kills || dbfork__has_work(p)) return 0;
  for (i = 0; i < p->nslots; i++)
    if (p->slots[i].respawn_pending) return 0;
  return 1;
}

static int ready_or_over(const dbfork_pool *p) {
  int i;
  if (p->phase != DBFORK__PHASE_RUNNING) return 1;
  for (i = 0; i < p->nslots; i++)
    if (!p->slots[i].cur || !p->slots[i].cur->hello) return 0;
  return 1;
}

/* ---- public API ---- */
int dbfork_pool_new(dbfork_pool **out, const dbfork_options *opts) {
  dbfork_pool *p;
  char why[256];
  int rc;
  if (!out) return DBFORK_EINVAL;
  *out = NULL;
  if (!opts) return DBFORK_EINVAL;
  p = calloc(1, sizeof *p);
  if (!p) return DBFORK_ENOMEM;
  rc = dbfork__conf_init(&p->conf, opts, why, sizeof why);
  if (rc) {
    if (opts->log) opts->log(DBFORK_LOG_ERROR, why, opts->log_arg);
    free(p);
    return rc;
  }
  p->o = &p->conf.o;
  p->nslots = p->o->workers;
  p->launcher = dbfork__launcher_for(p->o->start_method, why, sizeof why);
  if (!p->launcher) {
    if (opts->log) opts->log(DBFORK_LOG_ERROR, why, opts->log_arg);
    dbfork__conf_free(&p->conf);
    free(p);
    return DBFORK_EINVAL;
  }
  p->loop_thread = pthread_self();
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->room, NULL);
  p->slots = calloc((size_t)p->nslots, sizeof *p->slots);
  p->ctl = dbfork__ctl_new();
  p->shm_fd = -1;
  if (p->o->start_method != DBFORK_START_FORK) {
    /* The helper's workers, and spawned ones, map it from a descriptor. */
    p->shm_fd = memfd_create("dbfork-progress", MFD_CLOEXEC);
    if (p->shm_fd >= 0 && ftruncate(p->shm_fd, (off_t)((size_t)p->nslots * sizeof *p->shm)) == 0)
      p->shm = mmap(NULL, (size_t)p->nslots * sizeof *p->shm, PROT_READ | PROT_WRITE, MAP_SHARED,
                    p->shm_fd, 0);
    else
      p->shm = MAP_FAILED;
  } else {
    p->shm = mmap(NULL, (size_t)p->nslots * sizeof *p->shm, PROT_READ | PROT_WRITE,
                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  }
  if (p->shm == MAP_FAILED) p->shm = NULL;
  if (!p->slots || !p->ctl || !p->shm) {
    dbfork_pool_free(p);
    return DBFORK_ENOMEM;
  }
  dbfork__mysql_library_init();
  rc = dbfork__io_init(p);
  if (rc) {
    dbfork_pool_free(p);
    return rc;
  }
  *out = p;
  return 0;
}

/* A close asked for from another thread becomes the phase change here, on
 * the loop thread. */
static void apply_close_req(dbfork_pool *p) {
  int req;
  pthread_mutex_lock(&p->mu);
  req = p->close_req;
  pthread_mutex_unlock(&p->mu);
  if (req && p->phase == DBFORK__PHASE_RUNNING) dbfork__pool_set_phase(p, DBFORK__PHASE_CLOSING);
}

void dbfork__ev_wake(dbfork_pool *p) {
  apply_close_req(p);
  dbfork__schedule(p);
}

int dbfork_pool_start(dbfork_pool *p) {
  int i, rc;
  if (!p) return DBFORK_EINVAL;
  if (p->started || p->in_cb) return DBFORK_ESTATE;
  p->started = 1;
  pthread_mutex_lock(&p->mu);
  p->loop_thread = pthread_self(); /* before the phase: submitters see both under mu */
  rc = p->close_req;
  pthread_mutex_unlock(&p->mu);
  if (rc || p->phase != DBFORK__PHASE_NEW) {
    if (p->phase != DBFORK__PHASE_DONE) dbfork__pool_set_phase(p, DBFORK__PHASE_DONE);
    return DBFORK_ECLOSED;
  }
  dbfork__pool_set_phase(p, DBFORK__PHASE_RUNNING);
  rc = p->launcher->start ? p->launcher->start(p) : 0;
  for (i = 0; i < p->nslots && !rc; i++) rc = dbfork__spawn(p, i);
  if (rc) {
    /* The launcher's detail (spawn: what main() lacks), if it gave one. */
    if (!p->last_error[0]) {
      dbfork__err e;
      dbfork__err_set(&e, rc, 0, NULL, "cannot start worker %d: %s", i > 0 ? i - 1 : 0,
                      dbfork_strerror(rc));
      dbfork__set_last_error(p, &e);
    }
    dbfork_pool_terminate(p);
    pthread_mutex_lock(&p->mu);
    p->result = DBFORK_EINIT;
    pthread_mutex_unlock(&p->mu);
    return rc;
  }
  /* A close or stop while we wait (from a callback on the loop, or a close
   * from another thread) ends the wait too: the workers it makes leave are
   * not replaced, so "all ready" would never come. */
  dbfork__run_until(p, ready_or_over);
  if (p->phase == DBFORK__PHASE_FAILED) {
    /* Let the survivors run their finalizers and exit before we return. */
    dbfork__run_until(p, quiet);
    return DBFORK_EINIT;
  }
  if (p->phase != DBFORK__PHASE_RUNNING) {
    /* Tasks accepted meanwhile complete as close/stop say; every worker
     * leaves (through its finalizers, unless the grace period ran out). */
    dbfork__run_until(p, quiet);
    rc = p->phase == DBFORK__PHASE_FAILED ? DBFORK_EINIT : DBFORK_ECLOSED;
    dbfork__pool_set_phase(p, DBFORK__PHASE_DONE);
    return rc;
  }
  return 0;
}

int dbfork_submit(dbfork_pool *p, const void *in, size_t len, dbfork_done_cb cb, void *ud) {
  return dbfork__submit(p, 0, in, len, cb, ud, p ? !p->o->submit_nonblocking : 0);
}

int dbfork_submit_task(dbfork_pool *p, unsigned int task, const void *in, size_t len,
                       dbfork_done_cb cb, void *ud) {
  return dbfork__submit(p, task, in, len, cb, ud, p ? !p->o->submit_nonblocking : 0);
}

static int idle(const dbfork_pool *p) { return !dbfork__has_work(p); }

int dbfork_pool_run(dbfork_pool *p, int mode) {
  if (!p) return DBFORK_EINVAL;
  if (p->o->loop) return DBFORK_ESTATE;
  if (mode != 0) return dbfork__io_run(p, mode);
  /* Until the work is done, not until the loop has nothing left: the
   * workers' pipes keep it alive as long as the pool is open. */
  if (p->in_cb) return DBFORK_ESTATE;
  if (p->started) dbfork__run_until(p, idle);
  return 0;
}

int dbfork_pool_wait_idle(dbfork_pool *p) {
  int loop_thread, rc;
  if (!p) return DBFORK_EINVAL;
  pthread_mutex_lock(&p->mu);
  loop_thread = dbfork__on_loop_thread(p);
  pthread_mutex_unlock(&p->mu);
  if (!p->started || p->in_cb || !loop_thread) return DBFORK_ESTATE;
  dbfork__run_until(p, idle);
  pthread_mutex_lock(&p->mu);
  rc = p->result;
  pthread_mutex_unlock(&p->mu);
  return rc;
}

struct uv_loop_s *dbfork_pool_loop(dbfork_pool *p) {
  return p ? p->loop : NULL;
}

int dbfork_pool_close(dbfork_pool *p) {
  if (!p) return DBFORK_EINVAL;
  int loop_thread;
  /* From now on submits fail DBFORK_ECLOSED, whichever thread they run on.
   * (The loop thread is recorded under mu by start.) */
  pthread_mutex_lock(&p->mu);
  p->close_req = 1;
  pthread_cond_broadcast(&p->room);
  loop_thread = dbfork__on_loop_thread(p);
  pthread_mutex_unlock(&p->mu);
  /* Everything past the request belongs to the loop thread: from another
   * thread, wake the loop, which turns it into the phase change. Before
   * start there is nothing to drain: start will say DBFORK_ECLOSED. */
  if (!loop_thread)
    dbfork__io_wake(p);
  else
    apply_close_req(p);
  return 0;
}

int dbfork_pool_join(dbfork_pool *p) {
  if (!p) return DBFORK_EINVAL;
  if (p->in_cb) return DBFORK_ESTATE;
  dbfork_pool_close(p);
  if (p->started && p->phase != DBFORK__PHASE_DONE) {
    apply_close_req(p);
    dbfork__maybe_drain(p);
    dbfork__run_until(p, quiet);
    dbfork__pool_set_phase(p, DBFORK__PHASE_DONE);
  }
  return p->result;
}

int dbfork_pool_stop(dbfork_pool *p) {
  if (!p) return DBFORK_EINVAL;
  pthread_mutex_lock(&p->mu);
  p->close_req = 1;
  pthread_mutex_unlock(&p->mu);
  if (!p->started || p->phase == DBFORK__PHASE_DONE) return 0;
  dbfork__pool_set_phase(p, DBFORK__PHASE_STOPPING);
  return 0;
}

int dbfork_pool_terminate(dbfork_pool *p) {
  if (!p) return DBFORK_EINVAL;
  if (p->in_cb) return DBFORK_ESTATE;
  dbfork_pool_stop(p);
  if (!p->started || p->phase == DBFORK__PHASE_DONE) return 0;
  dbfork__run_until(p, quiet);
  dbfork__pool_set_phase(p, DBFORK__PHASE_DONE);
  return 0;
}

void dbfork_pool_free(dbfork_pool *p) {
  if (!p) return;
  if (p->started && p->phase != DBFORK__PHASE_DONE) dbfork_pool_terminate(p);
  if (p->io) dbfork__io_close(p);
  if (p->launcher && p->started && p->launcher->stop) p->launcher->stop(p);
  dbfork__ctl_free(p->ctl);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->room);
  dbfork__conf_free(&p->conf);
  if (p->shm) munmap(p->shm, (size_t)p->nslots * sizeof *p->shm);
  if (p->shm_fd >= 0) close(p->shm_fd);
  free(p->slots);
  free(p);
}

const char *dbfork_pool_last_error(const dbfork_pool *p) { return p ? p->last_error : ""; }

/* ---- stats ---- */
/* Written within the caller's sizes, stepping through ws by its size
 * (docs/ABI.md); the name in parentheses escapes dbfork.h's macro. */
int(dbfork_pool_stats_get)(dbfork_pool *p, dbfork_pool_stats *ps, size_t ps_size,
                           dbfork_worker_stats *ws, size_t ws_size, size_t n) {
  int i;
  if (!p) return DBFORK_EINVAL;
  if ((ps && (ps_size < DBFORK__POOL_STATS_SIZE_1_0 || ps_size > DBFORK__STRUCT_SIZE_MAX)) ||
      (ws && (ws_size < DBFORK__WORKER_STATS_SIZE_1_0 || ws_size > DBFORK__STRUCT_SIZE_MAX)))
    return DBFORK_EINVAL;
  if (ps) {
    dbfork_pool_stats st;
    /* Submitting threads count st.submitted under mu. */
    pthread_mutex_lock(&p->mu);
    st = p->st;
    st.queued = p->queue.n;
    pthread_mutex_unlock(&p->mu);
    st.in_flight = p->in_flight;
    dbfork_abi_copy_out(ps, ps_size, &st, sizeof st);
  }
  for (i = 0; ws && i < p->nslots && (size_t)i < n; i++) {
    dbfork__slot *s = &p->slots[i];
    dbfork__proc *pr = s->cur;
    dbfork_worker_stats w;
    memset(&w, 0, sizeof w);
    w.slot = i;
    w.tasks_ok = s->tasks_ok;
    w.tasks_failed = s->tasks_failed;
    w.tasks_retried = s->tasks_retried;
    w.restarts = s->restarts;
    w.state = DBFORK_WORKER_EMPTY;
    if (pr && !pr->reaped) {
      w.pid = (long)pr->pid;
      w.connection_id = pr->conn_id;
      w.state = pr->state;
      w.rss_bytes = dbfork__rss_bytes(pr->pid);
    }
    dbfork_abi_copy_out((char *)ws + (size_t)i * ws_size, ws_size, &w, sizeof w);
  }
  return p->nslots;
}
