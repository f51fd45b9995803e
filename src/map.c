/*
 * map.c — dbfork_map: n tasks, results handed to output() in input order,
 * with memory bounded by the queue and the prefetch windows however large n
 * is (results that arrive early wait in a ring of that size).
 */
#include "parent.h"

#include <string.h>

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
  if (!p->started || p->phase == DBFORK__PHASE_DONE || p->in_cb) return DBFORK_ESTATE;
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
      if (dbfork__queue_full(p)) break;
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
      src = dbfork__submit(p, 0, data, len, map_done, tk, 0);
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
    if (m.next_out < m.next_in || dbfork__queue_full(p)) dbfork__io_run(p, 1);
  }
  free(m.ring);
  if (m.oom && !rc) rc = DBFORK_ENOMEM;
  return rc;
}
