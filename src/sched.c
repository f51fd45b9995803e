/*
 * sched.c — the parent's task flow: the bounded queue that submitting
 * threads fill (backpressure), scheduling into each worker's prefetch
 * window, the reply-batching hint to the workers, and completions: exactly
 * one per accepted task.
 */
#include "parent.h"

#include <string.h>

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

/* ---- completions ---- */
void dbfork__complete(dbfork_pool *p, dbfork__task *t, const dbfork__proc *pr, int status,
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
  r.task = t->task;
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

void dbfork__complete_code(dbfork_pool *p, dbfork__task *t, const dbfork__proc *pr, int code,
                           const char *fmt, ...) {
  dbfork__err e;
  va_list ap;
  va_start(ap, fmt);
  dbfork__err_vset(&e, code, 0, NULL, fmt, ap);
  va_end(ap);
  dbfork__complete(p, t, pr, code, &e, NULL, 0, t->attempts);
}

void dbfork__fail_queue(dbfork_pool *p, int code, const dbfork__err *e) {
  for (;;) {
    dbfork__task *t;
    pthread_mutex_lock(&p->mu);
    t = dbfork__tq_pop(&p->queue);
    pthread_cond_broadcast(&p->room);
    pthread_mutex_unlock(&p->mu);
    if (!t) break;
    if (e)
      dbfork__complete(p, t, NULL, code, e, NULL, 0, t->attempts);
    else
      dbfork__complete_code(p, t, NULL, code, NULL);
  }
}

void dbfork__requeue_front(dbfork_pool *p, dbfork__tqueue *back) {
  if (!back->n) return;
  pthread_mutex_lock(&p->mu);
  back->tail->next = p->queue.head;
  p->queue.head = back->head;
  if (!p->queue.tail) p->queue.tail = back->tail;
  p->queue.n += back->n;
  pthread_mutex_unlock(&p->mu);
  back->head = back->tail = NULL;
  back->n = 0;
}

/* ---- frames to workers ---- */
void dbfork__proc_send(dbfork__proc *pr, uint8_t type, uint16_t arg, uint64_t id,
                       const void *payload, size_t len) {
  uint8_t hdr[DBFORK__HDR_LEN];
  dbfork__frame_header(hdr, type, arg, id, (uint32_t)len);
  DBFORK__CHECK(dbfork__bytes_add(&pr->tx, hdr, sizeof hdr) == 0);
  DBFORK__CHECK(dbfork__bytes_add(&pr->tx, payload, len) == 0);
}

/* TASK: the task body is the table index, then the payload. */
static void proc_send_task(dbfork__proc *pr, const dbfork__task *t) {
  uint8_t hdr[DBFORK__HDR_LEN], pre[DBFORK__TASKBODY_FIXED];
  uint16_t arg = (uint16_t)(t->attempts > 0xffff ? 0xffff : t->attempts);
  dbfork__frame_header(hdr, DBFORK__MSG_TASK, arg, t->id,
                       (uint32_t)(DBFORK__TASKBODY_FIXED + t->len));
  dbfork__taskbody_prefix(pre, t->task);
  DBFORK__CHECK(dbfork__bytes_add(&pr->tx, hdr, sizeof hdr) == 0);
  DBFORK__CHECK(dbfork__bytes_add(&pr->tx, pre, sizeof pre) == 0);
  DBFORK__CHECK(dbfork__bytes_add(&pr->tx, t->data, t->len) == 0);
}

void dbfork__send_stop(dbfork__proc *pr) {
  if (pr->stop_sent || pr->detached) return;
  pr->stop_sent = 1;
  dbfork__proc_set_state(pr, DBFORK_WORKER_STOPPING);
  dbfork__proc_send(pr, DBFORK__MSG_STOP, 0, 0, NULL, 0);
  dbfork__io_flush(pr);
}

/* ---- scheduling ---- */
static int proc_accepts(const dbfork_pool *p, const dbfork__proc *pr) {
  if (!pr || !pr->hello || pr->stop_sent || pr->detached || pr->reaped) return 0;
  if (pr->inflight.n >= p->o->prefetch) return 0;
  if (p->o->max_tasks_per_worker && pr->assigned >= p->o->max_tasks_per_worker) return 0;
  return 1;
}

/* The first limit to pass, of those that are set (0: none). */
uint64_t dbfork__first_limit_ms(const dbfork_options *o) {
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

static void send_task(dbfork_pool *p, dbfork__proc *pr, dbfork__task *t) {
  int was_empty = pr->inflight.head == NULL;
  proc_send_task(pr, t);
  dbfork__tq_push(&pr->inflight, t);
  pr->assigned++;
  t->seq = pr->assigned; /* the worker numbers what it receives the same way */
  dbfork__proc_set_state(pr, DBFORK_WORKER_BUSY);
  p->in_flight++;
  /* The limit timer runs while the window holds tasks. None of them can pass
   * a limit sooner than the first limit from now; the timer then re-arms
   * itself from what the worker publishes (dbfork__ev_limit_timer). */
  if (was_empty && dbfork__first_limit_ms(p->o))
    dbfork__io_limit_timer(pr, dbfork__first_limit_ms(p->o));
  /* Recycling by task count: the STOP goes right behind the last task, so
   * the worker finishes exactly max_tasks and then runs its finalizers. */
  if (p->o->max_tasks_per_worker && pr->assigned >= p->o->max_tasks_per_worker)
    dbfork__send_stop(pr);
}

void dbfork__maybe_drain(dbfork_pool *p) {
  int i;
  if (p->phase != DBFORK__PHASE_CLOSING && p->phase != DBFORK__PHASE_FAILED) return;
  if (dbfork__has_work(p)) return;
  if (p->in_cb) {
    p->need_sched = 1; /* after the callback */
    return;
  }
  if (p->phase == DBFORK__PHASE_CLOSING) {
    dbfork__pool_set_phase(p, DBFORK__PHASE_DRAINING);
    return;
  }
  /* A failed pool runs nothing more: the workers that finished what they
   * held leave. */
  for (i = 0; i < p->nslots; i++)
    if (p->slots[i].cur) dbfork__send_stop(p->slots[i].cur);
}

void dbfork__schedule(dbfork_pool *p) {
  int i, moved = 0;
  if (p->in_cb) {
    p->need_sched = 1;
    return;
  }
  p->need_sched = 0;
  pthread_mutex_lock(&p->mu);
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
  if (moved) pthread_cond_broadcast(&p->room);
  publish_batching(p);
  pthread_mutex_unlock(&p->mu);
  for (i = 0; i < p->nslots; i++)
    if (p->slots[i].cur) dbfork__io_flush(p->slots[i].cur);
  dbfork__maybe_drain(p);
}

/* Other threads fill the queue under mu. */
int dbfork__queue_full(dbfork_pool *p) {
  int full;
  pthread_mutex_lock(&p->mu);
  full = p->queue.n >= p->o->queue_max;
  pthread_mutex_unlock(&p->mu);
  return full;
}

/* ---- submit ---- */
static dbfork__task *task_new(unsigned int task, const void *in, size_t len, dbfork_done_cb cb,
                              void *ud) {
  dbfork__task *t = malloc(sizeof *t + len);
  if (!t) return NULL;
  memset(t, 0, sizeof *t);
  t->task = task;
  t->cb = cb;
  t->ud = ud;
  t->len = len;
  if (len) memcpy(t->data, in, len);
  return t;
}

/* Why the pool takes no task now, or 0. Called with mu held. */
static int refusal(const dbfork_pool *p) {
  if (p->phase == DBFORK__PHASE_NEW) return DBFORK_ESTATE;
  if (p->result) return p->result;
  if (p->close_req || p->phase != DBFORK__PHASE_RUNNING) return DBFORK_ECLOSED;
  return 0;
}

int dbfork__submit(dbfork_pool *p, unsigned int task, const void *in, size_t len, dbfork_done_cb cb,
                   void *ud, int may_block) {
  dbfork__task *t;
  int loop_thread = 0, rc;
  if (!p || !cb || (len && !in) || task >= p->o->ntasks) return DBFORK_EINVAL;
  if (len > p->o->max_payload) return DBFORK_ETOOBIG;
  t = task_new(task, in, len, cb, ud);
  if (!t) return DBFORK_ENOMEM;
  pthread_mutex_lock(&p->mu);
  /* The phase, and the loop thread recorded with it at start, are read
   * under mu: the loop thread changes them under mu. */
  if (p->phase != DBFORK__PHASE_NEW) loop_thread = dbfork__on_loop_thread(p);
  for (;;) {
    if ((rc = refusal(p)) != 0) {
      pthread_mutex_unlock(&p->mu);
      free(t);
      return rc;
    }
    if (p->queue.n < p->o->queue_max) break;
    if (!may_block || (loop_thread && (p->in_cb || p->o->loop))) {
      pthread_mutex_unlock(&p->mu);
      free(t);
      return DBFORK_EAGAIN;
    }
    if (loop_thread) {
      /* Our own loop, not inside a callback: run it until there is room. */
      pthread_mutex_unlock(&p->mu);
      dbfork__io_run(p, 1);
      pthread_mutex_lock(&p->mu);
    } else {
      pthread_cond_wait(&p->room, &p->mu);
    }
  }
  t->id = ++p->next_id;
  dbfork__tq_push(&p->queue, t);
  p->st.submitted++;
  pthread_mutex_unlock(&p->mu);
  if (loop_thread)
    dbfork__schedule(p);
  else
    dbfork__io_wake(p);
  return 0;
}
