/*
 * pool.c — the parent side's logic: the pool's lifecycle, the bounded task
 * queue, scheduling with a per-worker prefetch window, completions (exactly
 * one per accepted task), and the policies: retry of lost workers' tasks,
 * respawn with backoff and fail-fast on start failures, recycling, time
 * limits, terminate. Every libuv call lives in loop_uv.c.
 */
#include "parent.h"

#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- small things ---- */
void dbfork__log(dbfork_pool *p, int level, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  if (!p->o->log || level > p->o->log_level) return;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  p->o->log(level, msg, p->o->log_arg);
}

void dbfork__tq_push(dbfork__tqueue *q, dbfork__task *t) {
  t->next = NULL;
  if (q->tail)
    q->tail->next = t;
  else
    q->head = t;
  q->tail = t;
  q->n++;
}

void dbfork__tq_push_front(dbfork__tqueue *q, dbfork__task *t) {
  t->next = q->head;
  q->head = t;
  if (!q->tail) q->tail = t;
  q->n++;
}

dbfork__task *dbfork__tq_pop(dbfork__tqueue *q) {
  dbfork__task *t = q->head;
  if (!t) return NULL;
  q->head = t->next;
  if (!q->head) q->tail = NULL;
  q->n--;
  t->next = NULL;
  return t;
}

static int on_loop_thread(dbfork_pool *p) {
  uv_thread_t me = uv_thread_self();
  return uv_thread_equal(&me, &p->loop_thread);
}

/* `closed` is written under mu, by any thread (dbfork_pool_close may run off
 * the loop thread); the loop thread reads it without the lock. */
static int is_closed(const dbfork_pool *p) { return __atomic_load_n(&p->closed, __ATOMIC_ACQUIRE); }
static void set_closed(dbfork_pool *p) { __atomic_store_n(&p->closed, 1, __ATOMIC_RELEASE); }

static void set_last_error(dbfork_pool *p, const dbfork__err *e) {
  p->last_err = *e;
  if (e->mysql_errno)
    snprintf(p->last_error, sizeof p->last_error, "%s (MySQL error %u, SQLSTATE %s)", e->msg,
             e->mysql_errno, e->sqlstate);
  else
    snprintf(p->last_error, sizeof p->last_error, "%s", e->msg);
}

/* ---- completions ---- */
static void complete(dbfork_pool *p, dbfork__task *t, const dbfork__proc *pr, int status,
                     const dbfork__err *e, const void *data, size_t len, unsigned int attempts) {
  dbfork_result r;
  memset(&r, 0, sizeof r);
  r.status = status;
  r.message = "";
  if (e && status) {
    r.mysql_errno = e->mysql_errno;
    memcpy(r.sqlstate, e->sqlstate, sizeof r.sqlstate);
    r.message = e->msg;
  }
  r.data = data;
  r.len = len;
  r.attempts = attempts;
  r.worker_slot = pr ? pr->slot : -1;
  r.worker_pid = pr ? (long)pr->pid : 0;
  r.connection_id = pr ? pr->conn_id : 0;
  if (status == 0)
    p->st.completed_ok++;
  else if (status == DBFORK_ECANCELED)
    p->st.cancelled++;
  else
    p->st.completed_failed++;
  if (pr) {
    if (status == 0)
      p->slots[pr->slot].tasks_ok++;
    else
      p->slots[pr->slot].tasks_failed++;
    if (attempts > 1) p->slots[pr->slot].tasks_retried += attempts - 1;
  }
  if (attempts > 1) p->st.retries += attempts - 1;
  p->in_cb++;
  t->cb(&r, t->ud);
  p->in_cb--;
  free(t);
}

static void complete_code(dbfork_pool *p, dbfork__task *t, const dbfork__proc *pr, int code,
                          const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void complete_code(dbfork_pool *p, dbfork__task *t, const dbfork__proc *pr, int code,
                          const char *fmt, ...) {
  dbfork__err e;
  va_list ap;
  va_start(ap, fmt);
  dbfork__err_vset(&e, code, 0, NULL, fmt, ap);
  va_end(ap);
  complete(p, t, pr, code, &e, NULL, 0, t->attempts);
}

/* Fails every queued task (the pool cannot run them). Called on the loop thread. */
static void fail_queue(dbfork_pool *p, int code, const dbfork__err *e) {
  for (;;) {
    dbfork__task *t;
    uv_mutex_lock(&p->mu);
    t = dbfork__tq_pop(&p->queue);
    uv_cond_broadcast(&p->room);
    uv_mutex_unlock(&p->mu);
    if (!t) break;
    if (e)
      complete(p, t, NULL, code, e, NULL, 0, t->attempts);
    else
      complete_code(p, t, NULL, code, NULL);
  }
}

/* ---- scheduling ---- */
static int proc_accepts(const dbfork_pool *p, const dbfork__proc *pr) {
  if (!pr || !pr->hello || pr->stop_sent || pr->detached || pr->reaped) return 0;
  if (pr->inflight.n >= p->o->prefetch) return 0;
  if (p->o->max_tasks_per_worker && pr->assigned >= p->o->max_tasks_per_worker) return 0;
  return 1;
}

/* The first limit to pass, of those that are set (0: none). */
static uint64_t first_limit_ms(const dbfork_options *o) {
  unsigned int soft = o->soft_time_limit_ms, hard = o->hard_time_limit_ms;
  if (!soft) return hard;
  if (!hard) return soft;
  return soft < hard ? soft : hard;
}

/* Reply batching, published to every worker (see dbfork__shm): allowed only
 * while tasks wait in the queue — when throughput is what counts, and a task
 * already waits behind others anyway — and never under a hard time limit,
 * whose SIGKILL would take held replies of finished tasks with it. Without
 * a backlog every reply reaches the parent before the worker starts its next
 * task, so a quick task's completion never waits for a slow one. Called with
 * p->mu held. */
static void publish_batching(dbfork_pool *p) {
  int on = p->queue.n > 0 && !p->o->hard_time_limit_ms, i;
  if (on == p->batching) return;
  p->batching = on;
  for (i = 0; i < p->nslots; i++)
    __atomic_store_n(&p->shm[i].batch, (uint32_t)on, __ATOMIC_RELAXED);
}

static void send_stop(dbfork__proc *pr) {
  if (pr->stop_sent || pr->detached) return;
  pr->stop_sent = 1;
  pr->state = DBFORK_WORKER_STOPPING;
  dbfork__proc_send(pr, DBFORK__MSG_STOP, 0, 0, NULL, 0);
  dbfork__proc_flush(pr);
}

static void send_task(dbfork_pool *p, dbfork__proc *pr, dbfork__task *t) {
  int was_empty = pr->inflight.head == NULL;
  uint16_t arg = (uint16_t)(t->attempts > 0xffff ? 0xffff : t->attempts);
  dbfork__proc_send(pr, DBFORK__MSG_TASK, arg, t->id, t->data, t->len);
  dbfork__tq_push(&pr->inflight, t);
  pr->assigned++;
  t->seq = pr->assigned; /* the worker numbers what it receives the same way */
  pr->state = DBFORK_WORKER_BUSY;
  p->in_flight++;
  /* The limit timer runs while the window holds tasks. None of them can pass
   * a limit sooner than the first limit from now; the timer then re-arms
   * itself from what the worker publishes (dbfork__on_limit_timer). */
  if (was_empty && first_limit_ms(p->o)) dbfork__proc_limit_timer(pr, first_limit_ms(p->o));
  /* Recycling by task count: the STOP goes right behind the last task, so
   * the worker finishes exactly max_tasks and then runs its finalizers. */
  if (p->o->max_tasks_per_worker && pr->assigned >= p->o->max_tasks_per_worker) send_stop(pr);
}

/* When a closed pool has nothing left to do, every worker is told to stop. */
static void maybe_drain(dbfork_pool *p) {
  int i;
  if (!is_closed(p) || p->queue.n || p->in_flight) return;
  p->draining = 1;
  for (i = 0; i < p->nslots; i++)
    if (p->slots[i].cur) send_stop(p->slots[i].cur);
}

void dbfork__schedule(dbfork_pool *p) {
  int i, moved = 0;
  if (p->in_cb) {
    p->need_sched = 1;
    return;
  }
  p->need_sched = 0;
  uv_mutex_lock(&p->mu);
  while (p->queue.n) {
    dbfork__proc *best = NULL;
    for (i = 0; i < p->nslots; i++) {
      dbfork__proc *pr = p->slots[i].cur;
      if (proc_accepts(p, pr) && (!best || pr->inflight.n < best->inflight.n)) best = pr;
    }
    if (!best) break;
    send_task(p, best, dbfork__tq_pop(&p->queue));
    moved++;
  }
  if (moved) uv_cond_broadcast(&p->room);
  publish_batching(p);
  uv_mutex_unlock(&p->mu);
  for (i = 0; i < p->nslots; i++)
    if (p->slots[i].cur) dbfork__proc_flush(p->slots[i].cur);
  maybe_drain(p);
}

/* ---- frames from workers ---- */
static void proc_failed_protocol(dbfork__proc *pr, const char *what) {
  dbfork__log(pr->pool, DBFORK_LOG_ERROR, "worker %d (pid %ld): %s; killing it", pr->slot,
              (long)pr->pid, what);
  /* Reached from the drain in dbfork__on_proc_exit too: once reaped, the pid
   * may already be someone else's. */
  if (!pr->reaped) kill(pr->pid, SIGKILL);
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
    if (!pr->stop_sent) pr->state = DBFORK_WORKER_IDLE;
    dbfork__proc_limit_timer(pr, 0);
  }
  if (f->type == DBFORK__MSG_RESULT) {
    complete(p, t, pr, 0, NULL, f->payload, f->len, attempts);
  } else {
    dbfork__errbody eb;
    dbfork__err e;
    if (dbfork__errbody_decode(f->payload, f->len, &eb) != 0) {
      dbfork__err_set(&e, DBFORK_EPROTO, 0, NULL, "worker sent a malformed error report");
    } else {
      e.code = eb.status;
      e.mysql_errno = eb.mysql_errno;
      memcpy(e.sqlstate, eb.sqlstate, sizeof e.sqlstate);
      memcpy(e.msg, eb.msg, eb.msglen);
      e.msg[eb.msglen] = 0;
    }
    /* The statement was stopped by our KILL QUERY: that is the time limit,
     * whatever error the statement died with. */
    if (t->soft_killed) e.code = DBFORK_ETIMEDOUT;
    complete(p, t, pr, e.code, &e, NULL, 0, attempts);
  }
}

void dbfork__on_frame(dbfork__proc *pr, const dbfork__frame *f) {
  dbfork_pool *p = pr->pool;
  switch (f->type) {
    case DBFORK__MSG_RESULT:
    case DBFORK__MSG_ERROR: on_task_frame(p, pr, f); break;
    case DBFORK__MSG_HELLO:
    case DBFORK__MSG_CONNINFO: {
      dbfork__hello h;
      if (dbfork__hello_decode(f->payload, f->len, &h) != 0 || (pid_t)h.pid != pr->pid ||
          h.slot != pr->slot) {
        proc_failed_protocol(pr, "sent a bad hello");
        return;
      }
      pr->conn_id = (unsigned long)h.connection_id;
      p->slots[pr->slot].last_conn_id = pr->conn_id;
      if (f->type == DBFORK__MSG_HELLO && !pr->hello) {
        pr->hello = 1;
        if (!pr->stop_sent) pr->state = DBFORK_WORKER_IDLE;
        p->consecutive_start_failures = 0;
        if (p->o->max_lifetime_ms) {
          uint64_t life = p->o->max_lifetime_ms;
          /* Up to 10% jitter so that workers started together do not all
           * recycle together. */
          life += dbfork__rand((unsigned int)(life / 10 + 1));
          dbfork__proc_life_timer(pr, life);
        }
        dbfork__log(p, DBFORK_LOG_DEBUG, "worker %d ready: pid %ld, connection %lu", pr->slot,
                    (long)pr->pid, pr->conn_id);
        if (p->terminating || p->draining) send_stop(pr);
      }
      break;
    }
    case DBFORK__MSG_INITFAIL: {
      dbfork__errbody eb;
      dbfork__err e;
      pr->initfail = 1;
      if (dbfork__errbody_decode(f->payload, f->len, &eb) == 0) {
        e.code = eb.status;
        e.mysql_errno = eb.mysql_errno;
        memcpy(e.sqlstate, eb.sqlstate, sizeof e.sqlstate);
        snprintf(e.msg, sizeof e.msg, "worker %d: %.*s", pr->slot, (int)eb.msglen, eb.msg);
        if (p->terminating) {
          /* The pool is stopping: whatever ended this start (often our
           * SIGTERM cutting its connect retries short) is no failure. */
          dbfork__log(p, DBFORK_LOG_INFO, "worker stopped before it was ready: %s", e.msg);
          break;
        }
        set_last_error(p, &e);
        dbfork__log(p, DBFORK_LOG_ERROR, "worker start failed: %s", p->last_error);
      }
      break;
    }
    case DBFORK__MSG_RECYCLE:
      dbfork__log(p, DBFORK_LOG_INFO, "worker %d (pid %ld) over max_rss_bytes: recycling", pr->slot,
                  (long)pr->pid);
      send_stop(pr);
      break;
    case DBFORK__MSG_COMMITTING:
      /* Only the running task (the head) can be committing. */
      if (!pr->inflight.head || pr->inflight.head->id != f->id) {
        proc_failed_protocol(pr, "announced a COMMIT for a task it was not running");
        return;
      }
      pr->inflight.head->committing = 1;
      break;
    case DBFORK__MSG_BYE:
      pr->bye = 1;
      pr->bye_why = f->arg;
      break;
    default: proc_failed_protocol(pr, "sent a frame a worker may not send");
  }
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

void dbfork__on_limit_timer(dbfork__proc *pr) {
  dbfork_pool *p = pr->pool;
  const dbfork_options *o = p->o;
  uint64_t done = pr->done, since = 0, ran, next;
  dbfork__task *t;
  if (pr->reaped || pr->detached) return;
  /* Replies the worker has already written are results: take them first. */
  dbfork__proc_drain(pr);
  if (pr->done != done) dbfork__schedule(p);
  if (pr->reaped || pr->detached || !pr->inflight.head) return;
  /* A task that starts from now on passes no limit sooner than this. */
  next = first_limit_ms(o);
  t = running_task(p, pr, &since);
  if (t) {
    uint64_t now = dbfork__now_ms();
    ran = now > since ? now - since : 0;
    if (o->soft_time_limit_ms && !t->soft_killed) {
      if (ran >= o->soft_time_limit_ms) {
        /* Soft: stop the statement, keep the worker and its connection. */
        t->soft_killed = 1;
        dbfork__log(p, DBFORK_LOG_WARN,
                    "task %llu on worker %d over the soft limit: KILL QUERY %lu",
                    (unsigned long long)t->id, pr->slot, pr->conn_id);
        dbfork__kill_session(p, pr->conn_id, 1);
      } else if (o->soft_time_limit_ms - ran < next) {
        next = o->soft_time_limit_ms - ran;
      }
    }
    if (o->hard_time_limit_ms && !t->hard_killed) {
      if (ran >= o->hard_time_limit_ms) {
        /* Hard: the worker goes, and its session with it (at exit handling). */
        t->hard_killed = 1;
        dbfork__log(p, DBFORK_LOG_WARN,
                    "task %llu on worker %d over the hard limit: SIGKILL pid %ld",
                    (unsigned long long)t->id, pr->slot, (long)pr->pid);
        kill(pr->pid, SIGKILL);
        return;
      }
      if (o->hard_time_limit_ms - ran < next) next = o->hard_time_limit_ms - ran;
    }
  }
  /* Whichever limit passes next: the running task's, or the first limit of
   * a task that starts later. */
  dbfork__proc_limit_timer(pr, next);
}

void dbfork__on_life_timer(dbfork__proc *pr) {
  dbfork__log(pr->pool, DBFORK_LOG_DEBUG, "worker %d (pid %ld) reached max lifetime: recycling",
              pr->slot, (long)pr->pid);
  send_stop(pr);
}

static int pool_has_work(const dbfork_pool *p) { return p->queue.n || p->in_flight; }

static void spawn_or_fail(dbfork_pool *p, int slot);

void dbfork__on_kills_done(dbfork_pool *p) {
  int i;
  for (i = 0; i < p->nslots && !p->pending_kills; i++)
    if (p->slots[i].respawn_after_kills) {
      p->slots[i].respawn_after_kills = 0;
      p->slots[i].respawn_pending = 0;
      dbfork__on_respawn_timer(p, i);
    }
  dbfork__schedule(p);
}

void dbfork__on_respawn_timer(dbfork_pool *p, int slot) {
  if (p->terminating || p->failed || p->slots[slot].cur) return;
  if (is_closed(p) && !pool_has_work(p)) return;
  spawn_or_fail(p, slot);
}

void dbfork__on_grace_timer(dbfork_pool *p) {
  int i;
  for (i = 0; i < p->nslots; i++) {
    dbfork__proc *pr = p->slots[i].cur;
    if (pr && !pr->reaped) {
      dbfork__log(p, DBFORK_LOG_WARN,
                  "worker %d (pid %ld) still running after the grace period: SIGKILL", i,
                  (long)pr->pid);
      kill(pr->pid, SIGKILL);
    }
  }
}

/* ---- worker exit ---- */
static void pool_fail(dbfork_pool *p) {
  int i;
  if (p->failed) return;
  p->failed = 1;
  dbfork__log(p, DBFORK_LOG_ERROR, "pool stopped after %u consecutive worker start failures: %s",
              p->consecutive_start_failures, p->last_error);
  fail_queue(p, DBFORK_EINIT, &p->last_err);
  for (i = 0; i < p->nslots; i++)
    if (p->slots[i].cur && !p->slots[i].cur->inflight.n) send_stop(p->slots[i].cur);
}

static void spawn_or_fail(dbfork_pool *p, int slot) {
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
    dbfork__err_set(&e, DBFORK_EINIT, 0, NULL, "cannot start worker %d: %s", slot,
                    dbfork_strerror(rc));
    set_last_error(p, &e);
    p->consecutive_start_failures++;
    if (p->consecutive_start_failures >= p->o->max_start_failures)
      pool_fail(p);
    else
      dbfork__respawn_later(p, slot, p->o->start_backoff_ms);
  }
}

static void describe_exit(char *out, size_t n, int st) {
  if (WIFSIGNALED(st))
    snprintf(out, n, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
  else
    snprintf(out, n, "exited with status %d", WEXITSTATUS(st));
}

void dbfork__on_proc_exit(dbfork__proc *pr) {
  dbfork_pool *p = pr->pool;
  dbfork__slot *s = &p->slots[pr->slot];
  dbfork__tqueue back = {NULL, NULL, 0};
  char how[96];
  int lost;
  uint64_t running_seq, done_seq;
  dbfork__task *t;

  /* Results still in the pipe are results, not losses. */
  dbfork__proc_drain(pr);
  lost = !pr->bye;
  describe_exit(how, sizeof how, pr->exit_status);
  p->live_procs--;
  pr->state = DBFORK_WORKER_EMPTY;
  if (lost && pr->hello) {
    p->st.workers_lost++;
    dbfork__log(p, DBFORK_LOG_WARN, "worker %d (pid %ld) %s without finalizers; KILL %lu", pr->slot,
                (long)pr->pid, how, pr->conn_id);
    /* Invariant 4: the server releases the dead worker's locks and rolls
     * back its transaction now, not after wait_timeout. */
    dbfork__kill_session(p, pr->conn_id, 0);
  }

  /* The tasks it held, told apart by what the worker published in shared
   * memory: finished (the reply died in its buffer), running, or never
   * started (back to the queue without an attempt). A worker that said BYE
   * finished everything it started. */
  running_seq = __atomic_load_n(&p->shm[pr->slot].running, __ATOMIC_ACQUIRE);
  done_seq = __atomic_load_n(&p->shm[pr->slot].done, __ATOMIC_ACQUIRE);
  while ((t = dbfork__tq_pop(&pr->inflight))) {
    int finished = t->seq <= done_seq;
    int running = !finished && t->seq == running_seq && lost;
    p->in_flight--;
    if (finished) {
      t->attempts++;
      if (t->committing) {
        complete_code(p, t, pr, DBFORK_ECOMMITUNKNOWN,
                      "worker %d (pid %ld) %s after the task's COMMIT but before its result "
                      "reached the parent: the transaction may or may not have committed",
                      pr->slot, (long)pr->pid, how);
      } else {
        complete_code(p, t, pr, DBFORK_EWORKERLOST,
                      "the task finished in worker %d (pid %ld), which then %s before its "
                      "result reached the parent; not retried",
                      pr->slot, (long)pr->pid, how);
      }
      continue;
    }
    if (p->terminating) {
      if (running) t->attempts++;
      complete_code(p, t, pr, running && t->committing ? DBFORK_ECOMMITUNKNOWN : DBFORK_ECANCELED,
                    "pool terminated before the task finished");
      continue;
    }
    if (running) {
      t->attempts++;
      if (t->hard_killed) {
        complete_code(p, t, pr, DBFORK_ETIMEDOUT, "task exceeded the hard time limit of %u ms",
                      p->o->hard_time_limit_ms);
        continue;
      }
      if (t->committing) {
        /* It died between sending COMMIT and reporting: the transaction
         * may have committed. Retrying could apply it twice (invariant 5). */
        complete_code(p, t, pr, DBFORK_ECOMMITUNKNOWN,
                      "worker %d (pid %ld) %s while COMMIT was in flight: the transaction may "
                      "or may not have committed",
                      pr->slot, (long)pr->pid, how);
        continue;
      }
      if (t->attempts > p->o->max_retries) {
        complete_code(p, t, pr, DBFORK_EWORKERLOST, "worker %d (pid %ld) %s while running the task",
                      pr->slot, (long)pr->pid, how);
        continue;
      }
      s->tasks_retried++;
      t->soft_killed = 0;
      t->committing = 0;
    }
    dbfork__tq_push(&back, t);
  }
  if (back.n) {
    /* Back to the front of the queue, in their original order. */
    uv_mutex_lock(&p->mu);
    back.tail->next = p->queue.head;
    p->queue.head = back.head;
    if (!p->queue.tail) p->queue.tail = back.tail;
    p->queue.n += back.n;
    uv_mutex_unlock(&p->mu);
  }

  s->cur = NULL;
  pr->detached = 1;
  dbfork__proc_release(pr);

  if (!pr->hello && p->terminating) {
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
      set_last_error(p, &e);
    }
    p->consecutive_start_failures++;
    if (p->consecutive_start_failures >= p->o->max_start_failures) {
      pool_fail(p);
    } else if (!p->terminating && !p->failed) {
      uint64_t backoff =
          (uint64_t)p->o->start_backoff_ms
          << (p->consecutive_start_failures - 1 < 8 ? p->consecutive_start_failures - 1 : 8);
      dbfork__respawn_later(p, pr->slot, backoff);
    }
  } else if (!p->terminating && !p->failed && (!is_closed(p) || pool_has_work(p))) {
    spawn_or_fail(p, pr->slot);
  }
  if (p->failed && !p->live_procs) fail_queue(p, DBFORK_EINIT, &p->last_err);
  dbfork__schedule(p);
}

/* ---- public API ---- */
int dbfork_pool_new(dbfork_pool **out, const dbfork_options *opts) {
  dbfork_pool *p;
  char why[256];
  int rc, i;
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
  p->slots = calloc((size_t)p->nslots, sizeof *p->slots);
  if (!p->slots) {
    dbfork__conf_free(&p->conf);
    free(p);
    return DBFORK_ENOMEM;
  }
  p->shm = mmap(NULL, (size_t)p->nslots * sizeof *p->shm, PROT_READ | PROT_WRITE,
                MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p->shm == MAP_FAILED) {
    dbfork__conf_free(&p->conf);
    free(p->slots);
    free(p);
    return DBFORK_ENOMEM;
  }
  dbfork__mysql_library_init();
  uv_mutex_init(&p->mu);
  uv_cond_init(&p->room);
  rc = dbfork__loop_init(p);
  if (rc) {
    dbfork_pool_free(p);
    return rc;
  }
  for (i = 0; i < p->nslots; i++) {
    p->slots[i].pool = p;
    uv_timer_init(p->loop, &p->slots[i].respawn_timer);
    p->slots[i].respawn_timer.data = &p->slots[i];
  }
  p->loop_thread = uv_thread_self();
  *out = p;
  return 0;
}

static int all_ready(const dbfork_pool *p) {
  int i;
  for (i = 0; i < p->nslots; i++)
    if (!p->slots[i].cur || !p->slots[i].cur->hello) return 0;
  return 1;
}

static void run_until_quiet(dbfork_pool *p);

int dbfork_pool_start(dbfork_pool *p) {
  int i, rc;
  if (!p) return DBFORK_EINVAL;
  if (p->phase != POOL_NEW || p->in_cb) return DBFORK_ESTATE;
  if (is_closed(p)) return DBFORK_ECLOSED;
  p->phase = POOL_RUNNING;
  p->loop_thread = uv_thread_self();
  for (i = 0; i < p->nslots; i++) {
    rc = dbfork__spawn(p, i);
    if (rc) {
      dbfork__err e;
      dbfork__err_set(&e, rc, 0, NULL, "cannot fork worker %d: %s", i, dbfork_strerror(rc));
      set_last_error(p, &e);
      dbfork_pool_terminate(p);
      p->failed = 1;
      return rc;
    }
  }
  /* A close or stop while we wait (from a callback on the loop, or a close
   * from another thread) ends the wait too: the workers it makes leave are
   * not replaced, so "all ready" would never come. */
  while (!all_ready(p) && !p->failed && !is_closed(p)) uv_run(p->loop, UV_RUN_ONCE);
  if (p->failed) {
    /* Let the survivors run their finalizers and exit before we return. */
    while (p->live_procs) uv_run(p->loop, UV_RUN_ONCE);
    return DBFORK_EINIT;
  }
  if (is_closed(p)) {
    /* Tasks accepted meanwhile complete as close/stop say; every worker
     * leaves (through its finalizers, unless the grace period ran out). */
    run_until_quiet(p);
    p->phase = POOL_DONE;
    return p->failed ? DBFORK_EINIT : DBFORK_ECLOSED;
  }
  return 0;
}

static dbfork__task *task_new(const void *in, size_t len, dbfork_done_cb cb, void *ud) {
  dbfork__task *t = malloc(sizeof *t + len);
  if (!t) return NULL;
  memset(t, 0, sizeof *t);
  t->cb = cb;
  t->ud = ud;
  t->len = len;
  if (len) memcpy(t->data, in, len);
  return t;
}

/* Submits; `may_block` lets a full queue wait (per the option) instead of
 * returning DBFORK_EAGAIN. */
static int submit(dbfork_pool *p, const void *in, size_t len, dbfork_done_cb cb, void *ud,
                  int may_block) {
  dbfork__task *t;
  int loop_thread;
  if (!p || !cb || (len && !in)) return DBFORK_EINVAL;
  if (len > p->o->max_payload) return DBFORK_ETOOBIG;
  if (p->phase == POOL_NEW) return DBFORK_ESTATE;
  loop_thread = on_loop_thread(p);
  t = task_new(in, len, cb, ud);
  if (!t) return DBFORK_ENOMEM;
  uv_mutex_lock(&p->mu);
  for (;;) {
    if (p->failed) {
      uv_mutex_unlock(&p->mu);
      free(t);
      return DBFORK_EINIT;
    }
    if (p->closed || p->phase == POOL_DONE) {
      uv_mutex_unlock(&p->mu);
      free(t);
      return DBFORK_ECLOSED;
    }
    if (p->queue.n < p->o->queue_max) break;
    if (!may_block || (loop_thread && (p->in_cb || p->o->loop))) {
      uv_mutex_unlock(&p->mu);
      free(t);
      return DBFORK_EAGAIN;
    }
    if (loop_thread) {
      /* Our own loop, not inside a callback: run it until there is room. */
      uv_mutex_unlock(&p->mu);
      uv_run(p->loop, UV_RUN_ONCE);
      uv_mutex_lock(&p->mu);
    } else {
      uv_cond_wait(&p->room, &p->mu);
    }
  }
  t->id = ++p->next_id;
  dbfork__tq_push(&p->queue, t);
  p->st.submitted++;
  uv_mutex_unlock(&p->mu);
  if (loop_thread)
    dbfork__schedule(p);
  else
    dbfork__wake(p);
  return 0;
}

int dbfork_submit(dbfork_pool *p, const void *in, size_t len, dbfork_done_cb cb, void *ud) {
  return submit(p, in, len, cb, ud, p ? !p->o->submit_nonblocking : 0);
}

int dbfork_pool_run(dbfork_pool *p, int mode) {
  if (!p) return DBFORK_EINVAL;
  if (p->o->loop) return DBFORK_ESTATE;
  return dbfork__run(p, mode);
}

struct uv_loop_s *dbfork_pool_loop(dbfork_pool *p) {
  return p ? p->loop : NULL;
}

int dbfork_pool_close(dbfork_pool *p) {
  if (!p) return DBFORK_EINVAL;
  uv_mutex_lock(&p->mu);
  set_closed(p);
  uv_cond_broadcast(&p->room);
  uv_mutex_unlock(&p->mu);
  /* Everything past the flag belongs to the loop thread: from another
   * thread, wake the loop, whose dbfork__schedule() drains. */
  if (!on_loop_thread(p))
    dbfork__wake(p);
  else if (p->phase == POOL_RUNNING && !p->in_cb)
    maybe_drain(p);
  return 0;
}

static void run_until_quiet(dbfork_pool *p) {
  int i;
  for (;;) {
    if (p->need_sched) dbfork__schedule(p);
    if (!p->live_procs && !p->pending_kills && !pool_has_work(p)) {
      int pending = 0;
      for (i = 0; i < p->nslots; i++) pending |= p->slots[i].respawn_pending;
      if (!pending) break;
    }
    if (!p->live_procs && pool_has_work(p) && (p->failed || p->terminating)) {
      fail_queue(p, p->failed ? DBFORK_EINIT : DBFORK_ECANCELED, p->failed ? &p->last_err : NULL);
      continue;
    }
    uv_run(p->loop, UV_RUN_ONCE);
  }
  uv_timer_stop(&p->grace_timer);
}

int dbfork_pool_join(dbfork_pool *p) {
  if (!p) return DBFORK_EINVAL;
  if (p->in_cb) return DBFORK_ESTATE;
  dbfork_pool_close(p);
  if (p->phase == POOL_RUNNING) {
    maybe_drain(p);
    run_until_quiet(p);
    p->phase = POOL_DONE;
  }
  return p->failed ? DBFORK_EINIT : 0;
}

int dbfork_pool_stop(dbfork_pool *p) {
  int i;
  if (!p) return DBFORK_EINVAL;
  uv_mutex_lock(&p->mu);
  set_closed(p);
  p->terminating = 1;
  uv_cond_broadcast(&p->room);
  uv_mutex_unlock(&p->mu);
  if (p->phase != POOL_RUNNING) return 0;
  fail_queue(p, DBFORK_ECANCELED, NULL);
  for (i = 0; i < p->nslots; i++) {
    dbfork__proc *pr = p->slots[i].cur;
    uv_timer_stop(&p->slots[i].respawn_timer);
    p->slots[i].respawn_pending = 0;
    p->slots[i].respawn_after_kills = 0;
    if (pr && !pr->reaped && pr->state != DBFORK_WORKER_EMPTY) {
      pr->state = DBFORK_WORKER_STOPPING;
      /* SIGTERM: the worker finishes the task it runs, runs its finalizers
       * and exits; what it had not started comes back here as cancelled. */
      kill(pr->pid, SIGTERM);
    }
  }
  if (p->live_procs) dbfork__grace_timer(p, p->o->term_grace_ms);
  return 0;
}

int dbfork_pool_terminate(dbfork_pool *p) {
  if (!p) return DBFORK_EINVAL;
  if (p->in_cb) return DBFORK_ESTATE;
  dbfork_pool_stop(p);
  if (p->phase != POOL_RUNNING) return 0;
  run_until_quiet(p);
  p->phase = POOL_DONE;
  return 0;
}

void dbfork_pool_free(dbfork_pool *p) {
  if (!p) return;
  if (p->phase == POOL_RUNNING) dbfork_pool_terminate(p);
  dbfork__loop_close(p);
  dbfork__ctl_close(p);
  uv_mutex_destroy(&p->mu);
  uv_cond_destroy(&p->room);
  dbfork__conf_free(&p->conf);
  munmap(p->shm, (size_t)p->nslots * sizeof *p->shm);
  free(p->slots);
  free(p);
}

const char *dbfork_pool_last_error(const dbfork_pool *p) { return p ? p->last_error : ""; }

/* ---- map: results in input order, bounded memory ---- */
typedef struct map_slot {
  int done;
  int status;
  unsigned int mysql_errno;
  char sqlstate[6];
  char *message;
  void *data;
  size_t len;
  unsigned int attempts;
  int worker_slot;
  long worker_pid;
  unsigned long connection_id;
} map_slot;

typedef struct map_state {
  dbfork_pool *p;
  map_slot *ring;
  size_t window, next_in, next_out, n;
  int oom;
} map_state;

typedef struct map_ticket {
  map_state *m;
  size_t i;
} map_ticket;

static void map_done(const dbfork_result *r, void *ud) {
  map_ticket *tk = ud;
  map_state *m = tk->m;
  map_slot *s = &m->ring[tk->i % m->window];
  s->done = 1;
  s->status = r->status;
  s->mysql_errno = r->mysql_errno;
  memcpy(s->sqlstate, r->sqlstate, sizeof s->sqlstate);
  s->message = r->message[0] ? strdup(r->message) : NULL;
  s->data = NULL;
  s->len = r->len;
  if (r->len) {
    s->data = malloc(r->len);
    if (s->data)
      memcpy(s->data, r->data, r->len);
    else
      m->oom = 1;
  }
  s->attempts = r->attempts;
  s->worker_slot = r->worker_slot;
  s->worker_pid = r->worker_pid;
  s->connection_id = r->connection_id;
  free(tk);
}

int dbfork_map(dbfork_pool *p, size_t n, dbfork_map_input_fn input, dbfork_map_output_fn output,
               void *ud) {
  map_state m;
  int rc = 0, stop = 0, ret;
  if (!p || !input || !output) return DBFORK_EINVAL;
  if (p->phase != POOL_RUNNING || p->in_cb) return DBFORK_ESTATE;
  memset(&m, 0, sizeof m);
  m.p = p;
  m.n = n;
  /* Results wait here until their turn: at most the queue plus every
   * worker's prefetch window can be ahead of the oldest one. */
  m.window = (size_t)p->o->queue_max + (size_t)p->nslots * p->o->prefetch;
  m.ring = calloc(m.window, sizeof *m.ring);
  if (!m.ring) return DBFORK_ENOMEM;
  while (m.next_out < m.next_in || (m.next_in < n && !stop && !rc)) {
    /* Feed while there is room in the queue and in the ring. */
    while (!stop && !rc && m.next_in < n && m.next_in - m.next_out < m.window) {
      const void *data = NULL;
      size_t len = 0;
      map_ticket *tk;
      int src;
      if (p->queue.n >= p->o->queue_max) break;
      src = input(m.next_in, &data, &len, ud);
      if (src) {
        rc = src;
        break;
      }
      tk = malloc(sizeof *tk);
      if (!tk) {
        rc = DBFORK_ENOMEM;
        break;
      }
      tk->m = &m;
      tk->i = m.next_in;
      m.ring[m.next_in % m.window].done = 0;
      src = submit(p, data, len, map_done, tk, 0);
      if (src == DBFORK_EAGAIN) {
        free(tk);
        break;
      }
      if (src) {
        free(tk);
        rc = src;
        break;
      }
      m.next_in++;
    }
    /* Deliver what is ready, in order. */
    while (m.next_out < m.next_in && m.ring[m.next_out % m.window].done) {
      map_slot *s = &m.ring[m.next_out % m.window];
      dbfork_result r;
      memset(&r, 0, sizeof r);
      r.status = s->status;
      r.mysql_errno = s->mysql_errno;
      memcpy(r.sqlstate, s->sqlstate, sizeof r.sqlstate);
      r.message = s->message ? s->message : "";
      r.data = s->data;
      r.len = s->data ? s->len : 0;
      r.attempts = s->attempts;
      r.worker_slot = s->worker_slot;
      r.worker_pid = s->worker_pid;
      r.connection_id = s->connection_id;
      /* Every task taken is reported, also after output() asked to stop:
       * they ran, and the caller must learn how. Their return values no
       * longer matter. */
      ret = output(m.next_out, &r, ud);
      if (ret != 0 && !stop) {
        stop = 1;
        if (!rc) rc = ret < 0 ? ret : DBFORK_ECANCELED;
      }
      free(s->message);
      free(s->data);
      s->message = NULL;
      s->data = NULL;
      s->done = 0;
      m.next_out++;
    }
    if (m.next_out == m.next_in && (m.next_in == n || stop || rc)) break;
    /* Wait for results, or for room in a queue that other submitters filled. */
    if (m.next_out < m.next_in || p->queue.n >= p->o->queue_max) uv_run(p->loop, UV_RUN_ONCE);
  }
  free(m.ring);
  if (m.oom && !rc) rc = DBFORK_ENOMEM;
  return rc;
}

/* ---- stats ---- */

int dbfork_pool_stats_get(dbfork_pool *p, dbfork_pool_stats *ps, dbfork_worker_stats *ws,
                          size_t n) {
  int i;
  if (!p) return DBFORK_EINVAL;
  if (ps) {
    *ps = p->st;
    uv_mutex_lock(&p->mu);
    ps->queued = p->queue.n;
    uv_mutex_unlock(&p->mu);
    ps->in_flight = p->in_flight;
  }
  for (i = 0; ws && i < p->nslots && (size_t)i < n; i++) {
    dbfork__slot *s = &p->slots[i];
    dbfork__proc *pr = s->cur;
    dbfork_worker_stats *w = &ws[i];
    memset(w, 0, sizeof *w);
    w->slot = i;
    w->tasks_ok = s->tasks_ok;
    w->tasks_failed = s->tasks_failed;
    w->tasks_retried = s->tasks_retried;
    w->restarts = s->restarts;
    w->state = DBFORK_WORKER_EMPTY;
    if (pr && !pr->reaped) {
      w->pid = (long)pr->pid;
      w->connection_id = pr->conn_id;
      w->state = pr->state;
      w->rss_bytes = dbfork__rss_bytes(pr->pid);
    }
  }
  return p->nslots;
}

const char *dbfork_worker_state_name(int state) {
  switch (state) {
    case DBFORK_WORKER_EMPTY: return "empty";
    case DBFORK_WORKER_STARTING: return "starting";
    case DBFORK_WORKER_IDLE: return "idle";
    case DBFORK_WORKER_BUSY: return "busy";
    case DBFORK_WORKER_STOPPING: return "stopping";
    default: return "unknown";
  }
}
