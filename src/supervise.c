/*
 * supervise.c — the worker table: each worker's state (one transition
 * function), the frames it sends, its exit (the fate of the tasks it held,
 * from fate.h), respawn with backoff and fail-fast on start failures,
 * recycling, time limits and the grace period of a terminate. Everything
 * here runs on the loop thread, from the adapter's events.
 */
#include "fate.h"
#include "parent.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>

/* ---- the worker's state ---- */
static const char *const state_names[] = {"empty", "starting", "idle", "busy", "stopping"};

const char *dbfork_worker_state_name(int state) {
  if (state < 0 || state >= (int)(sizeof state_names / sizeof state_names[0])) return "unknown";
  return state_names[state];
}

void dbfork__proc_set_state(dbfork__proc *pr, int state) {
  int old = pr->state;
  if (old == state) return;
  pr->state = state;
  dbfork__log(pr->pool, DBFORK_LOG_DEBUG, "worker %d (pid %ld): %s -> %s", pr->slot, (long)pr->pid,
              dbfork_worker_state_name(old), dbfork_worker_state_name(state));
}

/* Signals a worker we have not reaped yet: once reaped, its pid may already
 * be someone else's. */
static void proc_signal(dbfork__proc *pr, int sig) {
  if (!pr->reaped) kill(pr->pid, sig);
}

void dbfork__stop_workers(dbfork_pool *p) {
  int i;
  for (i = 0; i < p->nslots; i++) {
    dbfork__proc *pr = p->slots[i].cur;
    if (pr && !pr->reaped && pr->state != DBFORK_WORKER_EMPTY) {
      dbfork__proc_set_state(pr, DBFORK_WORKER_STOPPING);
      /* SIGTERM: the worker finishes the task it runs, runs its finalizers
       * and exits; what it had not started comes back here as cancelled. */
      proc_signal(pr, SIGTERM);
    }
  }
}

void dbfork__stop_idle_workers(dbfork_pool *p) {
  int i;
  for (i = 0; i < p->nslots; i++)
    if (p->slots[i].cur && !p->slots[i].cur->inflight.n) dbfork__send_stop(p->slots[i].cur);
}

/* ---- frames from workers ---- */
static void proc_failed_protocol(dbfork__proc *pr, const char *what) {
  dbfork__log(pr->pool, DBFORK_LOG_ERROR, "worker %d (pid %ld): %s; killing it", pr->slot,
              (long)pr->pid, what);
  /* Frames are also handled after the reap (what the exit left in the pipe):
   * proc_signal() sends nothing then. */
  proc_signal(pr, SIGKILL);
}

static void decode_err(const dbfork__frame *f, dbfork__err *e, const char *prefix) {
  dbfork__errbody eb;
  if (dbfork__errbody_decode(f->payload, f->len, &eb) != 0) {
    dbfork__err_set(e, DBFORK_EPROTO, 0, NULL, "%sworker sent a malformed error report", prefix);
    return;
  }
  e->code = eb.status;
  e->mysql_errno = eb.mysql_errno;
  memcpy(e->sqlstate, eb.sqlstate, sizeof e->sqlstate);
  snprintf(e->msg, sizeof e->msg, "%s%.*s", prefix, (int)eb.msglen, eb.msg);
}

static void on_task_frame(dbfork_pool *p, dbfork__proc *pr, const dbfork__frame *f) {
  dbfork__task *t = pr->inflight.head;
  unsigned int attempts = f->arg ? f->arg : t ? t->attempts + 1 : 1;
  if (!t || t->id != f->id) {
    proc_failed_protocol(pr, "answered a task it was not running");
    return;
  }
  dbfork__tq_pop(&pr->inflight);
  p->in_flight--;
  pr->done++;
  if (!pr->inflight.head) {
    if (!pr->stop_sent) dbfork__proc_set_state(pr, DBFORK_WORKER_IDLE);
    dbfork__io_limit_timer(pr, 0);
  }
  if (f->type == DBFORK__MSG_RESULT) {
    dbfork__complete(p, t, pr, 0, NULL, f->payload, f->len, attempts);
  } else {
    dbfork__err e;
    decode_err(f, &e, "");
    /* The statement was stopped by our KILL QUERY: that is the time limit,
     * whatever error the statement died with. */
    if (t->soft_killed) e.code = DBFORK_ETIMEDOUT;
    dbfork__complete(p, t, pr, e.code, &e, NULL, 0, attempts);
  }
}

static void on_hello(dbfork_pool *p, dbfork__proc *pr, const dbfork__frame *f) {
  dbfork__hello h;
  if (dbfork__hello_decode(f->payload, f->len, &h) != 0 || (pid_t)h.pid != pr->pid ||
      h.slot != pr->slot) {
    proc_failed_protocol(pr, "sent a bad hello");
    return;
  }
  pr->conn_id = (unsigned long)h.connection_id;
  p->slots[pr->slot].last_conn_id = pr->conn_id;
  if (f->type != DBFORK__MSG_HELLO || pr->hello) return;
  pr->hello = 1;
  if (!pr->stop_sent && pr->state == DBFORK_WORKER_STARTING)
    dbfork__proc_set_state(pr, DBFORK_WORKER_IDLE);
  p->consecutive_start_failures = 0;
  if (p->o->max_lifetime_ms) {
    uint64_t life = p->o->max_lifetime_ms;
    /* Up to 10% jitter so that workers started together do not all recycle
     * together. */
    life += dbfork__rand((unsigned int)(life / 10 + 1));
    dbfork__io_life_timer(pr, life);
  }
  dbfork__log(p, DBFORK_LOG_DEBUG, "worker %d ready: pid %ld, connection %lu", pr->slot,
              (long)pr->pid, pr->conn_id);
  /* A pool that runs nothing more sends it home at once. */
  if (p->phase == DBFORK__PHASE_STOPPING || p->phase == DBFORK__PHASE_DRAINING ||
      p->phase == DBFORK__PHASE_FAILED)
    dbfork__send_stop(pr);
}

static void on_frame(dbfork__proc *pr, const dbfork__frame *f) {
  dbfork_pool *p = pr->pool;
  dbfork__err e;
  switch (f->type) {
    case DBFORK__MSG_RESULT:
    case DBFORK__MSG_ERROR: on_task_frame(p, pr, f); break;
    case DBFORK__MSG_HELLO:
    case DBFORK__MSG_CONNINFO: on_hello(p, pr, f); break;
    case DBFORK__MSG_INITFAIL: {
      char prefix[32];
      pr->initfail = 1;
      snprintf(prefix, sizeof prefix, "worker %d: ", pr->slot);
      decode_err(f, &e, prefix);
      if (p->phase == DBFORK__PHASE_STOPPING) {
        /* The pool is stopping: whatever ended this start (often our
         * SIGTERM cutting its connect retries short) is no failure. */
        dbfork__log(p, DBFORK_LOG_INFO, "worker stopped before it was ready: %s", e.msg);
        break;
      }
      dbfork__set_last_error(p, &e);
      dbfork__log(p, DBFORK_LOG_ERROR, "worker start failed: %s", p->last_error);
      break;
    }
    case DBFORK__MSG_RECYCLE:
      dbfork__log(p, DBFORK_LOG_INFO, "worker %d (pid %ld) over max_rss_bytes: recycling", pr->slot,
                  (long)pr->pid);
      dbfork__send_stop(pr);
      break;
    case DBFORK__MSG_COMMITTING:
      /* Only the running task (the head) can be committing. */
      if (!pr->inflight.head || pr->inflight.head->id != f->id) {
        proc_failed_protocol(pr, "announced a COMMIT for a task it was not running");
        return;
      }
      pr->inflight.head->committing = 1;
      break;
    case DBFORK__MSG_FINIFAIL: {
      char prefix[64];
      snprintf(prefix, sizeof prefix, "worker %d (pid %ld): finalizer %u failed: ", pr->slot,
               (long)pr->pid, (unsigned)f->arg + 1);
      decode_err(f, &e, prefix);
      p->st.finalizers_failed++;
      if (e.mysql_errno)
        dbfork__log(p, DBFORK_LOG_ERROR, "%s (MySQL error %u, SQLSTATE %s)", e.msg, e.mysql_errno,
                    e.sqlstate);
      else
        dbfork__log(p, DBFORK_LOG_ERROR, "%s (%s)", e.msg, dbfork_err_name(e.code));
      break;
    }
    case DBFORK__MSG_BYE:
      pr->bye = 1;
      pr->bye_why = f->arg;
      break;
    default: proc_failed_protocol(pr, "sent a frame a worker may not send");
  }
}

/* Handles every complete frame in pr->rx, in order. */
static void handle_rx(dbfork__proc *pr) {
  size_t off = 0;
  size_t max = pr->pool->o->max_payload + DBFORK__ERRBODY_FIXED + DBFORK__MSG_MSG_MAX;
  while (!pr->detached && off < pr->rx.len) {
    dbfork__frame f;
    ssize_t n = dbfork__frame_parse(pr->rx.p + off, pr->rx.len - off, max, &f);
    if (n == DBFORK__PROTO_INCOMPLETE) break;
    if (n < 0) {
      /* A worker that speaks garbage cannot be trusted with tasks. */
      proc_failed_protocol(pr, "sent an invalid frame");
      pr->rx.len = 0;
      return;
    }
    off += (size_t)n;
    on_frame(pr, &f);
  }
  if (off) {
    memmove(pr->rx.p, pr->rx.p + off, pr->rx.len - off);
    pr->rx.len -= off;
  }
}

void dbfork__ev_input(dbfork__proc *pr) {
  handle_rx(pr);
  dbfork__schedule(pr->pool);
}

/* ---- timers ---- */

/* The task the worker is running and when it started it, from what it
 * publishes (dbfork__shm); NULL when it runs none: it is between tasks, or
 * every task it started has finished (replies may still be in its buffer or
 * in the socket: those tasks are not charged). */
static dbfork__task *running_task(dbfork_pool *p, dbfork__proc *pr, uint64_t *since_ms) {
  const dbfork__shm *s = &p->shm[pr->slot];
  uint64_t run = __atomic_load_n(&s->running, __ATOMIC_ACQUIRE);
  uint64_t since = __atomic_load_n(&s->started_ms, __ATOMIC_ACQUIRE);
  uint64_t done = __atomic_load_n(&s->done, __ATOMIC_ACQUIRE);
  dbfork__task *t;
  /* The worker stores started_ms before running and done after the task, so
   * a start time read after running=k is task k's, or a later task's — and
   * then done >= k is visible too, and k is not taken for running. */
  if (run <= done) return NULL;
  for (t = pr->inflight.head; t; t = t->next)
    if (t->seq == run) {
      *since_ms = since;
      return t;
    }
  return NULL;
}

void dbfork__ev_limit_timer(dbfork__proc *pr) {
  dbfork_pool *p = pr->pool;
  const dbfork_options *o = p->o;
  uint64_t since = 0, ran, next;
  dbfork__task *t;
  /* Replies the worker wrote before the timer fired are results: the adapter
   * put them in rx; take them first. */
  handle_rx(pr);
  dbfork__schedule(p);
  if (pr->reaped || pr->detached || !pr->inflight.head) return;
  /* A task that starts from now on passes no limit sooner than this. */
  next = dbfork__first_limit_ms(o);
  t = running_task(p, pr, &since);
  if (t) {
    uint64_t now = dbfork__now_ms();
    ran = now > since ? now - since : 0;
    if (o->soft_time_limit_ms && !t->soft_killed) {
      if (ran >= o->soft_time_limit_ms) {
        /* Soft: stop the statement, keep the worker and its connection. */
        t->soft_killed = 1;
        dbfork__log(p, DBFORK_LOG_WARN,
                    "task %llu (%s) on worker %d over the soft limit: KILL QUERY %lu",
                    (unsigned long long)t->id, o->tasks[t->task].name, pr->slot, pr->conn_id);
        if (dbfork__io_kill_session(p, pr->conn_id, 1) == 0) p->pending_kills++;
      } else if (o->soft_time_limit_ms - ran < next) {
        next = o->soft_time_limit_ms - ran;
      }
    }
    if (o->hard_time_limit_ms && !t->hard_killed) {
      if (ran >= o->hard_time_limit_ms) {
        /* Hard: the worker goes, and its session with it (at its exit). */
        t->hard_killed = 1;
        dbfork__log(p, DBFORK_LOG_WARN,
                    "task %llu (%s) on worker %d over the hard limit: SIGKILL pid %ld",
                    (unsigned long long)t->id, o->tasks[t->task].name, pr->slot, (long)pr->pid);
        proc_signal(pr, SIGKILL);
        return;
      }
      if (o->hard_time_limit_ms - ran < next) next = o->hard_time_limit_ms - ran;
    }
  }
  /* Whichever limit passes next: the running task's, or the first limit of
   * a task that starts later. */
  dbfork__io_limit_timer(pr, next);
}

void dbfork__ev_life_timer(dbfork__proc *pr) {
  dbfork__log(pr->pool, DBFORK_LOG_DEBUG, "worker %d (pid %ld) reached max lifetime: recycling",
              pr->slot, (long)pr->pid);
  dbfork__send_stop(pr);
}

void dbfork__ev_kill_done(dbfork_pool *p, unsigned long id, int query_only, int ok,
                          const char *why) {
  int i;
  p->pending_kills--;
  if (ok && !query_only) p->st.sessions_killed++;
  if (!ok)
    dbfork__log(p, DBFORK_LOG_WARN, "could not KILL %s%lu on the control connection: %s",
                query_only ? "QUERY " : "", id, why);
  if (p->pending_kills) return;
  /* The respawns that waited for the KILLs. */
  for (i = 0; i < p->nslots && !p->pending_kills; i++)
    if (p->slots[i].respawn_after_kills) {
      p->slots[i].respawn_after_kills = 0;
      p->slots[i].respawn_pending = 0;
      dbfork__ev_respawn_timer(p, i);
    }
  dbfork__schedule(p);
}

void dbfork__ev_respawn_timer(dbfork_pool *p, int slot) {
  p->slots[slot].respawn_pending = 0;
  if (!dbfork__accepting(p) || p->slots[slot].cur) return;
  if (p->phase == DBFORK__PHASE_CLOSING && !dbfork__has_work(p)) return;
  dbfork__spawn_or_fail(p, slot);
}

void dbfork__ev_grace_timer(dbfork_pool *p) {
  int i;
  for (i = 0; i < p->nslots; i++) {
    dbfork__proc *pr = p->slots[i].cur;
    if (pr && !pr->reaped) {
      dbfork__log(p, DBFORK_LOG_WARN,
                  "worker %d (pid %ld) still running after the grace period: SIGKILL", i,
                  (long)pr->pid);
      proc_signal(pr, SIGKILL);
    }
  }
}

/* ---- starting workers ---- */
int dbfork__spawn(dbfork_pool *p, int slot) {
  dbfork__child c;
  dbfork__proc *pr = calloc(1, sizeof *pr);
  int rc;
  if (!pr) return DBFORK_ENOMEM;
  rc = dbfork__launch(p, slot, &c);
  if (rc) {
    free(pr);
    return rc;
  }
  pr->pool = p;
  pr->slot = slot;
  pr->pid = c.pid;
  pr->state = DBFORK_WORKER_STARTING;
  DBFORK__CHECK(dbfork__io_attach(pr, c.fd, c.pidfd) == 0);
  p->slots[slot].cur = pr;
  p->slots[slot].started++;
  if (p->slots[slot].started > 1) p->slots[slot].restarts++;
  p->slots[slot].last_pid = c.pid;
  p->live_procs++;
  p->open_procs++;
  p->st.workers_started++;
  dbfork__log(p, DBFORK_LOG_DEBUG, "worker %d (pid %ld): empty -> starting (%s)", slot, (long)c.pid,
              p->launcher->name);
  return 0;
}

static void respawn_later(dbfork_pool *p, int slot, uint64_t ms) {
  p->slots[slot].respawn_pending = 1;
  dbfork__io_respawn_timer(p, slot, ms);
}

static void start_failed(dbfork_pool *p, int slot) {
  unsigned int k = ++p->consecutive_start_failures;
  if (k >= p->o->max_start_failures) {
    dbfork__pool_set_phase(p, DBFORK__PHASE_FAILED);
    return;
  }
  /* Backoff start_backoff_ms x 2^(k-1), exponent capped at 8. */
  respawn_later(p, slot, (uint64_t)p->o->start_backoff_ms << (k - 1 < 8 ? k - 1 : 8));
}

void dbfork__spawn_or_fail(dbfork_pool *p, int slot) {
  int rc;
  if (p->pending_kills) {
    /* Never fork while the threadpool runs a KILL on the control connection:
     * a thread inside the client library or the allocator at fork time can
     * leave the child a lock that nobody will release (seen with ASan's
     * allocator). The respawn follows as soon as the KILLs are done. */
    p->slots[slot].respawn_pending = 1;
    p->slots[slot].respawn_after_kills = 1;
    return;
  }
  rc = dbfork__spawn(p, slot);
  if (rc) {
    dbfork__err e;
    /* DBFORK_EINIT: the launcher has put its own detail there (spawn) */
    dbfork__err_set(&e, DBFORK_EINIT, 0, NULL, "cannot start worker %d: %s", slot,
                    dbfork_strerror(rc));
    if (rc != DBFORK_EINIT) dbfork__set_last_error(p, &e);
    p->consecutive_start_failures++;
    if (p->consecutive_start_failures >= p->o->max_start_failures)
      dbfork__pool_set_phase(p, DBFORK__PHASE_FAILED);
    else
      respawn_later(p, slot, p->o->start_backoff_ms);
  }
}

/* ---- a worker's exit ---- */
static void describe_exit(char *out, size_t n, int st) {
  if (WIFSIGNALED(st))
    snprintf(out, n, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
  else
    snprintf(out, n, "exited with status %d", WEXITSTATUS(st));
}

/* The completion's message for a task fate.h completes. */
static void fate_message(char *out, size_t n, int why, const dbfork_pool *p, const dbfork__proc *pr,
                         const char *how) {
  char who[64];
  snprintf(who, sizeof who, "worker %d (pid %ld)", pr->slot, (long)pr->pid);
  switch (why) {
    case DBFORK__FATE_RESULT_LOST_COMMIT:
      snprintf(out, n,
               "%s %s after the task's COMMIT but before its result reached the parent: the "
               "transaction may or may not have committed",
               who, how);
      break;
    case DBFORK__FATE_RESULT_LOST:
      snprintf(out, n,
               "the task finished in %s, which then %s before its result reached the parent; "
               "not retried",
               who, how);
      break;
    case DBFORK__FATE_HARD_LIMIT:
      snprintf(out, n, "task exceeded the hard time limit of %u ms", p->o->hard_time_limit_ms);
      break;
    case DBFORK__FATE_COMMIT_IN_FLIGHT:
      snprintf(out, n,
               "%s %s while COMMIT was in flight: the transaction may or may not have committed",
               who, how);
      break;
    case DBFORK__FATE_WORKER_LOST:
      snprintf(out, n, "%s %s while running the task", who, how);
      break;
    default: snprintf(out, n, "pool terminated before the task finished");
  }
}

/* Completes or requeues each task the exited worker held (fate.h). */
static void settle_tasks(dbfork_pool *p, dbfork__proc *pr, int lost, const char *how) {
  dbfork__slot *s = &p->slots[pr->slot];
  dbfork__tqueue back = {NULL, NULL, 0};
  uint64_t running_seq = __atomic_load_n(&p->shm[pr->slot].running, __ATOMIC_ACQUIRE);
  uint64_t done_seq = __atomic_load_n(&p->shm[pr->slot].done, __ATOMIC_ACQUIRE);
  dbfork__task *t;
  /* Told apart by what the worker published in shared memory: finished
   * (the reply died in its buffer), running, or never started. A worker that
   * said BYE finished everything it started. */
  while ((t = dbfork__tq_pop(&pr->inflight))) {
    dbfork__fate_in in;
    dbfork__fate f;
    char msg[DBFORK__MSG_MSG_MAX];
    memset(&in, 0, sizeof in);
    in.finished = t->seq <= done_seq;
    in.running = !in.finished && t->seq == running_seq && lost;
    in.committing = t->committing;
    in.hard_killed = t->hard_killed;
    in.stopping = p->phase == DBFORK__PHASE_STOPPING;
    in.attempts = t->attempts;
    in.max_retries = p->o->max_retries;
    f = dbfork__task_fate(&in);
    p->in_flight--;
    if (f.attempt) t->attempts++;
    if (f.action == DBFORK__FATE_REQUEUE) {
      if (f.why == DBFORK__FATE_RETRY) {
        s->tasks_retried++;
        t->soft_killed = 0;
        t->committing = 0;
      }
      dbfork__tq_push(&back, t);
      continue;
    }
    fate_message(msg, sizeof msg, f.why, p, pr, how);
    dbfork__complete_code(p, t, pr, f.code, "%s", msg);
  }
  /* Back to the front of the queue, in their original order. */
  dbfork__requeue_front(p, &back);
}

void dbfork__ev_exit(dbfork__proc *pr, int wait_status) {
  dbfork_pool *p = pr->pool;
  char how[96];
  int lost;

  pr->reaped = 1;
  pr->exit_status = wait_status;
  /* Results still in the pipe are results, not losses. */
  handle_rx(pr);
  lost = !pr->bye;
  describe_exit(how, sizeof how, wait_status);
  p->live_procs--;
  dbfork__proc_set_state(pr, DBFORK_WORKER_EMPTY);
  if (lost && pr->hello) {
    p->st.workers_lost++;
    dbfork__log(p, DBFORK_LOG_WARN, "worker %d (pid %ld) %s without finalizers; KILL %lu", pr->slot,
                (long)pr->pid, how, pr->conn_id);
    /* Invariant 4: the server releases the dead worker's locks and rolls
     * back its transaction now, not after wait_timeout. */
    if (pr->conn_id && dbfork__io_kill_session(p, pr->conn_id, 0) == 0) p->pending_kills++;
  }
  settle_tasks(p, pr, lost, how);

  p->slots[pr->slot].cur = NULL;
  pr->detached = 1;
  dbfork__io_release(pr);

  if (!pr->hello && p->phase == DBFORK__PHASE_STOPPING) {
    /* The pool stopped it (SIGTERM, or SIGKILL after the grace period)
     * before it was ready: that says nothing about whether workers can
     * start, so it is no start failure. */
    dbfork__log(p, DBFORK_LOG_DEBUG, "worker %d (pid %ld) %s before it was ready: pool stopping",
                pr->slot, (long)pr->pid, how);
  } else if (!pr->hello) {
    /* It never got ready: a start failure (invariant 6). */
    if (!pr->initfail) {
      dbfork__err e;
      dbfork__err_set(&e, DBFORK_EINIT, 0, NULL, "worker %d (pid %ld) %s before it was ready",
                      pr->slot, (long)pr->pid, how);
      dbfork__set_last_error(p, &e);
    }
    if (p->phase != DBFORK__PHASE_FAILED) start_failed(p, pr->slot);
  } else if (dbfork__accepting(p) && (p->phase == DBFORK__PHASE_RUNNING || dbfork__has_work(p))) {
    dbfork__spawn_or_fail(p, pr->slot);
  }
  if (p->phase == DBFORK__PHASE_FAILED && !p->live_procs)
    dbfork__fail_queue(p, DBFORK_EINIT, &p->last_err);
  dbfork__schedule(p);
}

void dbfork__ev_released(dbfork__proc *pr) {
  pr->pool->open_procs--;
  free(pr->rx.p);
  free(pr->tx.p);
  free(pr);
}
