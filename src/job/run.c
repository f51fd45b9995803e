/*
 * run.c — the job runner: the parent side of a job, on the pool's loop.
 *
 * Commands go down (submit a part, stop), events come up (a part's
 * completion, the requeue timer), and every decision about a part is
 * job_decide()'s (policy.c). The runner keeps at most `window` parts in the
 * pool, takes fresh parts from the layer's plan first and requeued ones
 * after them (a lost part goes to the back of the queue), never runs two
 * parts of one chunk at once when anything else can run (their claims would
 * only wait for each other), and reports the end once nothing is in flight
 * and nothing is left — or the job was stopped or failed, in which case the
 * parts still waiting are left for a rerun.
 *
 * The job's phase changes through one function, enter(), which logs the
 * transition.
 */
#include "job.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

enum { PH_NEW, PH_RUNNING, PH_DRAINING, PH_FINISHED };
static const char *const phase_names[] = {"new", "running", "draining", "finished"};

struct job {
  job_config cfg;
  int phase;
  int plan_done;    /* ops->next said the plan has ended */
  int stopping;     /* job_stop or a failure: start nothing more */
  int status;       /* the first failure's code, 0 if none */
  int given_up_any; /* a part was given up: the job ends DBFORK_EINCOMPLETE */
  char err[1024];
  job_part *wait_head, *wait_tail; /* requeued parts, in the order they were sent back */
  job_part *flight;                /* submitted, not ended (for the one-part-per-chunk rule) */
  job_part *held;                  /* taken from the plan or the queue while the pool was full */
  uv_timer_t timer;
  int timer_on, timer_init, timer_closed;
  int freeing;
  unsigned char *buf;
  unsigned seed;
  job_counts n;
};

typedef struct ticket {
  job *j;
  job_part *p;
} ticket;

static void fill(job *j);

static void jlog(job *j, int level, const char *fmt, ...) DBFORK_PRINTF(3, 4);

/* The pool's log callback is not reachable through the public API; the
 * runner's own diagnostics go to the layer through job_error and the
 * ended() callback, and this only keeps the transition log for a debugger
 * or DBFORK_JOB_DEBUG=1. */
static void jlog(job *j, int level, const char *fmt, ...) {
  static int debug = -1;
  va_list ap;
  (void)j;
  (void)level;
  if (debug < 0) {
    const char *e = getenv("DBFORK_JOB_DEBUG");
    debug = e && *e == '1';
  }
  if (!debug) return;
  va_start(ap, fmt);
  fprintf(stderr, "dbfork job: ");
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

static void enter(job *j, int phase) {
  if (j->phase == phase) return;
  jlog(j, DBFORK_LOG_DEBUG, "%s -> %s", phase_names[j->phase], phase_names[phase]);
  j->phase = phase;
  if (phase == PH_FINISHED) {
    int st = j->status;
    if (!st && j->given_up_any) st = DBFORK_EINCOMPLETE;
    if (j->timer_on) {
      uv_timer_stop(&j->timer);
      j->timer_on = 0;
    }
    if (j->cfg.ops->finished) j->cfg.ops->finished(j, st);
  }
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static unsigned rnd(job *j) {
  j->seed = j->seed * 1103515245u + 12345u;
  return j->seed >> 8;
}

job_part *job_part_new(uint64_t chunk, uint64_t part, const void *desc, size_t len) {
  job_part *p = calloc(1, sizeof *p + len);
  if (!p) return NULL;
  p->chunk = chunk;
  p->part = part;
  p->desc_len = len;
  if (len && desc) memcpy(p->desc, desc, len);
  return p;
}

int job_new(job **out, const job_config *cfg) {
  job *j;
  *out = NULL;
  if (!cfg || !cfg->pool || !cfg->ops || !cfg->ops->next || !cfg->ops->encode) return DBFORK_EINVAL;
  j = calloc(1, sizeof *j);
  if (!j) return DBFORK_ENOMEM;
  j->cfg = *cfg;
  job_policy_defaults(&j->cfg.policy);
  if (!j->cfg.window) {
    int w = dbfork_pool_stats_get(cfg->pool, NULL, NULL, 0);
    j->cfg.window = (unsigned)(w > 0 ? 2 * w : 4);
  }
  if (!j->cfg.max_payload) j->cfg.max_payload = 4096;
  j->buf = malloc(j->cfg.max_payload);
  if (!j->buf) {
    free(j);
    return DBFORK_ENOMEM;
  }
  if (uv_timer_init(dbfork_pool_loop(cfg->pool), &j->timer)) {
    free(j->buf);
    free(j);
    return DBFORK_ENOMEM;
  }
  j->timer.data = j;
  j->timer_init = 1;
  j->seed = (unsigned)getpid() ^ (unsigned)now_ms();
  *out = j;
  return 0;
}

void *job_ud(const job *j) { return j->cfg.ud; }
int job_finished(const job *j) { return j->phase == PH_FINISHED; }
int job_stopping(const job *j) { return j->stopping || j->phase == PH_FINISHED; }
const char *job_error(const job *j) { return j->err; }

void job_counts_get(const job *j, job_counts *c) {
  *c = j->n;
  c->in_flight = 0;
  c->waiting = 0;
  {
    const job_part *p;
    for (p = j->flight; p; p = p->next) c->in_flight++;
    for (p = j->wait_head; p; p = p->next) c->waiting++;
  }
}

static int vfail(job *j, int code, const char *fmt, va_list ap) {
  if (!j->status) {
    j->status = code;
    vsnprintf(j->err, sizeof j->err, fmt, ap);
  }
  j->stopping = 1;
  return code;
}

int job_fail(job *j, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfail(j, code, fmt, ap);
  va_end(ap);
  return code;
}

static void list_remove(job_part **head, job_part *p) {
  while (*head && *head != p) head = &(*head)->next;
  if (*head) *head = p->next;
  p->next = NULL;
}

static void wait_push(job *j, job_part *p) {
  p->next = NULL;
  if (j->wait_tail)
    j->wait_tail->next = p;
  else
    j->wait_head = p;
  j->wait_tail = p;
}

static int chunk_busy(const job *j, uint64_t chunk) {
  const job_part *p;
  for (p = j->flight; p; p = p->next)
    if (p->chunk == chunk) return 1;
  return 0;
}

/* The first requeued part that may run now (its delay passed, no other
 * part of its chunk in flight), unlinked; or NULL, with *next_ms the
 * earliest time one may become ready (0: none waits on time). */
static job_part *take_ready(job *j, uint64_t now, uint64_t *next_ms) {
  job_part *p, *prev = NULL;
  *next_ms = 0;
  for (p = j->wait_head; p; prev = p, p = p->next) {
    if (p->not_before_ms > now) {
      if (!*next_ms || p->not_before_ms < *next_ms) *next_ms = p->not_before_ms;
      continue;
    }
    if (chunk_busy(j, p->chunk)) continue;
    if (prev)
      prev->next = p->next;
    else
      j->wait_head = p->next;
    if (j->wait_tail == p) j->wait_tail = prev;
    p->next = NULL;
    return p;
  }
  return NULL;
}

static void on_timer(uv_timer_t *t) {
  job *j = t->data;
  j->timer_on = 0;
  fill(j);
}

static void arm_timer(job *j, uint64_t at, uint64_t now) {
  if (j->timer_on) uv_timer_stop(&j->timer);
  uv_timer_start(&j->timer, on_timer, at > now ? at - now : 0, 0);
  j->timer_on = 1;
}

static void part_ended(const dbfork_result *r, void *ud);

/* Submits p; returns 0, 1 if the pool is full (p is untouched), or fails
 * the job. */
static int submit(job *j, job_part *p) {
  ticket *tk;
  long n = j->cfg.ops->encode(j, p, j->buf, j->cfg.max_payload);
  int rc;
  if (n < 0) {
    job_fail(j, (int)n, "cannot encode chunk %llu part %llu", (unsigned long long)p->chunk,
             (unsigned long long)p->part);
    free(p);
    return -1;
  }
  tk = malloc(sizeof *tk);
  if (!tk) {
    job_fail(j, DBFORK_ENOMEM, "out of memory");
    free(p);
    return -1;
  }
  tk->j = j;
  tk->p = p;
  rc = dbfork_submit(j->cfg.pool, j->buf, (size_t)n, part_ended, tk);
  if (rc == DBFORK_EAGAIN) {
    free(tk);
    return 1;
  }
  if (rc) {
    free(tk);
    free(p);
    if (rc == DBFORK_EINIT)
      job_fail(j, rc, "the workers could not be kept alive: %s",
               dbfork_pool_last_error(j->cfg.pool));
    else if (rc != DBFORK_ECLOSED)
      job_fail(j, rc, "cannot submit a chunk: %s", dbfork_strerror(rc));
    else
      j->stopping = 1;
    return -1;
  }
  p->next = j->flight;
  j->flight = p;
  return 0;
}

static void maybe_finish(job *j) {
  if (j->phase == PH_FINISHED || j->flight) return;
  if (j->stopping || (j->plan_done && !j->wait_head && !j->held)) {
    /* Parts still waiting are left for a rerun; the layer hears of each,
     * as of every part it handed out, so that its counts add up. */
    job_part *p;
    for (p = j->wait_head; p; p = p->next) {
      j->n.cancelled++;
      if (j->cfg.ops->ended) j->cfg.ops->ended(j, p, NULL, JOB_CANCELLED);
    }
    if (j->held) {
      j->n.cancelled++;
      if (j->cfg.ops->ended) j->cfg.ops->ended(j, j->held, NULL, JOB_CANCELLED);
    }
    enter(j, PH_FINISHED);
  }
}

/* Keeps the pool fed: fresh parts of the plan first, then requeued ones. */
static void fill(job *j) {
  uint64_t now = now_ms(), next_ms = 0;
  unsigned inflight = 0;
  const job_part *q;
  if (j->phase != PH_RUNNING && j->phase != PH_DRAINING) return;
  for (q = j->flight; q; q = q->next) inflight++;
  while (!j->stopping && inflight < j->cfg.window) {
    job_part *p = j->held;
    int rc;
    j->held = NULL;
    if (!p && !j->plan_done) {
      rc = j->cfg.ops->next(j, &p);
      if (rc < 0) {
        if (!j->status) job_fail(j, rc, "the plan failed: %s", dbfork_strerror(rc));
        break;
      }
      if (rc == JOB_NEXT_LATER) break;
      if (rc == 0) {
        j->plan_done = 1;
        enter(j, PH_DRAINING);
        continue;
      }
    } else if (!p) {
      p = take_ready(j, now, &next_ms);
      if (!p) break;
    }
    rc = submit(j, p);
    if (rc == 1) {
      j->held = p; /* the pool is full: first in line next time */
      break;
    }
    if (rc < 0) break;
    inflight++;
  }
  if (!j->stopping && j->plan_done && next_ms && !j->timer_on) arm_timer(j, next_ms, now);
  maybe_finish(j);
}

static void release(job *j) {
  if (j->freeing && j->timer_closed && !j->flight) {
    free(j->buf);
    free(j);
  }
}

static void requeue(job *j, job_part *p, unsigned delay_ms) {
  j->n.requeues++;
  j->n.retries++;
  p->failures++;
  p->not_before_ms = now_ms() + delay_ms;
  wait_push(j, p);
}

static void part_ended(const dbfork_result *r, void *ud) {
  ticket *tk = ud;
  job *j = tk->j;
  job_part *p = tk->p, *a = NULL, *b = NULL;
  job_decision d;
  int rc = 0;
  free(tk);
  list_remove(&j->flight, p);
  if (j->freeing) {
    free(p);
    release(j);
    return;
  }
  if (r->attempts > 1) j->n.retries += r->attempts - 1;
  d = job_decide(&j->cfg.policy, r->status, p->failures, job_part_depth(p->part), p->splittable,
                 j->stopping, rnd(j));
  if (d.action != JOB_DONE && d.action != JOB_CANCELLED) p->last_status = r->status;
  if (d.action == JOB_SPLIT) {
    int s = j->cfg.ops->split ? j->cfg.ops->split(j, p, &a, &b) : 1;
    if (s < 0) {
      job_fail(j, s, "cannot split chunk %llu", (unsigned long long)p->chunk);
      d.action = JOB_FAIL;
    } else if (s == 1) {
      /* The layer cannot cut it after all: an unsplittable part. */
      p->splittable = 0;
      d = job_decide(&j->cfg.policy, r->status, p->failures, job_part_depth(p->part), 0,
                     j->stopping, rnd(j));
    }
  }
  jlog(j, DBFORK_LOG_DEBUG, "chunk %llu part %llu: %s -> %s", (unsigned long long)p->chunk,
       (unsigned long long)p->part, r->status ? dbfork_err_name(r->status) : "ok",
       job_action_name(d.action));
  if (j->cfg.ops->ended) rc = j->cfg.ops->ended(j, p, r, d.action);
  switch (d.action) {
    case JOB_DONE:
      if (rc < 0) {
        j->n.failed++;
        job_fail(j, rc, "chunk %llu: its reply could not be read", (unsigned long long)p->chunk);
      } else {
        j->n.done++;
      }
      free(p);
      break;
    case JOB_CANCELLED:
      j->n.cancelled++;
      free(p);
      break;
    case JOB_FAIL:
      j->n.failed++;
      if (!j->status)
        job_fail(j, r->status ? r->status : DBFORK_ETASK, "chunk %llu failed: %s",
                 (unsigned long long)p->chunk, r->message);
      free(p);
      break;
    case JOB_GIVE_UP:
      j->n.given_up++;
      j->given_up_any = 1;
      free(p);
      break;
    case JOB_REQUEUE: requeue(j, p, d.delay_ms); break;
    case JOB_SPLIT:
      j->n.splits++;
      j->n.retries++;
      a->not_before_ms = b->not_before_ms = now_ms() + d.delay_ms;
      wait_push(j, a);
      wait_push(j, b);
      free(p);
      break;
    default: free(p); break;
  }
  fill(j);
}

int job_start(job *j) {
  if (j->phase != PH_NEW) return DBFORK_ESTATE;
  enter(j, PH_RUNNING);
  fill(j);
  return 0;
}

int job_poke(job *j) {
  fill(j);
  return 0;
}

int job_set_window(job *j, unsigned window) {
  if (!window) return DBFORK_EINVAL;
  j->cfg.window = window;
  fill(j);
  return 0;
}

int job_stop(job *j, int pool) {
  if (!j->status) {
    j->status = DBFORK_ECANCELED;
    snprintf(j->err, sizeof j->err, "the job was stopped; a rerun resumes it");
  }
  j->stopping = 1;
  if (pool) dbfork_pool_stop(j->cfg.pool);
  if (j->timer_on) {
    uv_timer_stop(&j->timer);
    j->timer_on = 0;
  }
  if (j->phase == PH_RUNNING || j->phase == PH_DRAINING) maybe_finish(j);
  return 0;
}

static void on_closed(uv_handle_t *h) {
  job *j = h->data;
  j->timer_closed = 1;
  release(j);
}

void job_free(job *j) {
  job_part *p, *n;
  if (!j) return;
  for (p = j->wait_head; p; p = n) {
    n = p->next;
    free(p);
  }
  free(j->held);
  j->held = NULL;
  j->wait_head = j->wait_tail = NULL;
  /* Parts still in the pool are freed by their completions, which the pool
   * delivers (cancelled) when it is stopped or freed: the job stays until
   * then, and until the loop has closed its timer. */
  j->freeing = 1;
  if (j->timer_init) {
    if (!uv_is_closing((uv_handle_t *)&j->timer)) uv_close((uv_handle_t *)&j->timer, on_closed);
  } else {
    j->timer_closed = 1;
    release(j);
  }
}
