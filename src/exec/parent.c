/*
 * parent.c — exec's side of the job core (job_ops): chunks are cut from the
 * index as the job goes and handed out, replies come up and become counts
 * and events for the caller's callback. Also here: the chunk size tuned to
 * chunk_time and the probe (the first chunk runs alone); when no chunk may
 * start is throttle.c's.
 */
#include "execint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static dbfork_exec *X_of(job *j) { return job_ud(j); }

/* A part whose description is the encoded chunk message. */
static job_part *make_part(dbfork_exec *x, uint64_t chunk, const exec_tuple *from,
                           const exec_tuple *to, uint64_t rows) {
  char *cond = exec_condition(&x->c, from, to), *ft = exec_tuple_text(from),
       *tt = exec_tuple_text(to);
  job_part *p = NULL;
  exec_chunk_msg m;
  if (cond && ft && tt) {
    m.chunk = chunk;
    m.rows_planned = rows;
    m.cond = cond, m.cond_len = strlen(cond);
    m.key_from = ft, m.from_len = strlen(ft);
    m.key_to = tt, m.to_len = strlen(tt);
    if ((p = job_part_new(chunk, 1, NULL, exec_chunk_size(&m))) != NULL) {
      exec_chunk_encode(&m, p->desc, p->desc_len);
      p->splittable = 0; /* a key range is not split: it is retried whole */
    }
  }
  free(cond);
  free(ft);
  free(tt);
  if (!p) exec_set_err(x, DBFORK_ENOMEM, "out of memory");
  return p;
}

/* Keys left after the cursor, estimated: for a single integer key, the
 * key span left times the density of the keys cut so far by this run;
 * otherwise the server's row estimate less the keys planned. -1 unknown. */
static double keys_left(dbfork_exec *x) {
  if (x->c.nkey == 1 && x->c.knum[0] == 1 && x->cursor.n == 1 && x->until.n == 1) {
    double k = strtod(x->cursor.lit[0], NULL), u = strtod(x->until.lit[0], NULL);
    if (!x->tail_k0_set) {
      x->tail_k0 = k;
      x->tail_rows0 = x->cut_rows;
      x->tail_k0_set = 1;
      return -1;
    }
    if (k <= x->tail_k0 || x->cut_rows <= x->tail_rows0) return -1;
    return (u > k ? u - k : 0) * (double)(x->cut_rows - x->tail_rows0) / (k - x->tail_k0);
  }
  if (!x->st.rows_estimate || x->cursor.n == 0) return -1;
  return (double)x->st.rows_estimate - (double)(x->st.rows_before + x->st.rows_planned);
}

/* Cuts the next fresh chunk at the cursor, stores its plan row and makes its
 * part: 1 and *out, 0 at the end of the plan, CUT_BUSY (a shared job's row
 * stayed locked by another process: try again soon), or a negative code
 * (the job failed with x->err). */
#define CUT_BUSY 2
#define BUSY_RETRY_MS 200

/* A shared job's parent whose session is gone says why that may be. */
static void lost_hint(dbfork_exec *x, unsigned int err) {
  if (err == 2006 || err == 2013 || err == 1927)
    snprintf(x->err + strlen(x->err), sizeof x->err - strlen(x->err),
             "; shared job '%s': another process may have taken this one for dead and KILLed "
             "its sessions (see killed_by in dbfork_exec_process)",
             x->eo.job_name);
}
static int cut_next(dbfork_exec *x, job_part **out) {
  exec_tuple to = {0};
  uint64_t rows, count = 0;
  int rc, code, shared = x->c.shared;
  rows = x->eo.chunk_rows ? x->eo.chunk_rows : (uint64_t)(x->rows_next + 0.5);
  if (rows < 1) rows = 1;
  x->st.chunk_rows = rows;
  if (!x->eo.chunk_rows && !shared) rows = exec_tail_rows(rows, keys_left(x), x->st.workers_active);
  /* a shared job: cut after the last chunk any process cut, under the job
   * row's lock, and store the plan row in the same transaction */
  if (shared && (rc = exec_shared_cut_begin(x))) {
    unsigned err = mysql_errno(x->m);
    exec_shared_cut_end(x, 0);
    if (exec_hosts_busy(x, err)) return CUT_BUSY;
    lost_hint(x, err);
    return job_fail(x->job, rc, "%s", x->err);
  }
  rc = exec_cut(x, &x->cursor, rows, &to, &count);
  if (rc > 0 && (code = exec_plan_store(x, x->next_chunk, &x->cursor, &to, count))) rc = code;
  if (shared && rc >= 0 && (code = exec_shared_cut_end(x, 1))) rc = code;
  if (rc < 0) {
    if (shared) {
      lost_hint(x, mysql_errno(x->m));
      exec_shared_cut_end(x, 0);
    }
    exec_tuple_clear(&to);
    return job_fail(x->job, rc, "%s", x->err);
  }
  if (rc == 0) {
    x->plan_end = 1;
    return 0;
  }
  *out = make_part(x, x->next_chunk, &x->cursor, &to, count);
  x->next_chunk++;
  x->cut_rows += count;
  exec_tuple_clear(&x->cursor);
  x->cursor = to;
  if (!*out) return job_fail(x->job, DBFORK_ENOMEM, "%s", x->err);
  return 1;
}

/* One chunk is cut ahead, on the loop's next turn after a chunk was handed
 * out: the index scan and the plan row of a worker's next chunk then run
 * while the workers run theirs, not while one of them waits for it. */
static void arm_timer(dbfork_exec *x, uint64_t ms);

static void on_ahead_timer(uv_timer_t *t) {
  dbfork_exec *x = t->data;
  job_part *p = NULL;
  x->ahead_timer_on = 0;
  if (!x->job || job_stopping(x->job)) return;
  if (!x->plan_end && !x->ahead) {
    int rc = cut_next(x, &p);
    if (rc == CUT_BUSY) {
      arm_timer(x, BUSY_RETRY_MS);
      return;
    }
    if (rc == 1) x->ahead = p;
  }
  /* op_next said later while the cut waited, or a shared job's next look
   * at the unfinished chunks is due */
  if (x->want_poke || x->plan_end) {
    x->want_poke = 0;
    job_poke(x->job);
  }
}

/* The timer of the cut ahead, or, once the plan has ended, of the next look
 * at a shared job's unfinished chunks: `ms` from now. */
static void arm_timer(dbfork_exec *x, uint64_t ms) {
  if (x->ahead_timer_on) return;
  if (!x->ahead_timer_init) {
    uv_timer_init(dbfork_pool_loop(x->pool), &x->ahead_timer);
    x->ahead_timer.data = x;
    x->ahead_timer_init = 1;
  }
  uv_timer_start(&x->ahead_timer, on_ahead_timer, ms, 0);
  x->ahead_timer_on = 1;
}

static void cut_ahead(dbfork_exec *x) {
  if (!x->ahead && !x->plan_end) arm_timer(x, 0);
}

/* A shared job whose plan has ended: the chunks of the plan without a
 * progress row (another process runs them, or left them when it died) are
 * handed out again, with claims that skip the ones locked elsewhere;
 * looked at again every RESCAN_EVERY s while there are some, once this
 * process runs none. Returns as op_next. */
#define RESCAN_EVERY 0.5
static int next_unfinished(dbfork_exec *x, job *j, job_part **out) {
  job_counts n;
  double now = exec_now();
  int rc;
  job_counts_get(j, &n);
  if (n.in_flight) return JOB_NEXT_LATER; /* asked again when one ends */
  if (n.waiting) return 0; /* this process's requeued chunks first; op_finished looks again */
  if (x->rescans && now < x->rescan_at) {
    arm_timer(x, (uint64_t)((x->rescan_at - now) * 1000) + 1);
    return JOB_NEXT_LATER;
  }
  x->rescans++;
  x->rescan_at = now + RESCAN_EVERY;
  if ((rc = exec_read_unfinished(x)) <= 0) return rc < 0 ? job_fail(j, rc, "%s", x->err) : 0;
  {
    exec_pending *pd = &x->pend[x->headpend++];
    *out = make_part(x, pd->chunk, &pd->from, &pd->to, pd->rows_planned);
  }
  return *out ? 1 : job_fail(j, DBFORK_ENOMEM, "%s", x->err);
}

static int op_next(job *j, job_part **out) {
  dbfork_exec *x = X_of(j);
  int rc;
  /* The first chunk runs alone: a statement that fails on it has changed
   * nothing anywhere else. */
  if (x->first_out && !x->first_done) return JOB_NEXT_LATER;
  if ((rc = exec_throttled(x, j)) < 0) return rc;
  if (rc) return JOB_NEXT_LATER;
  if (x->headpend < x->npend) {
    exec_pending *pd = &x->pend[x->headpend++];
    *out = make_part(x, pd->chunk, &pd->from, &pd->to, pd->rows_planned);
    if (!*out) return job_fail(j, DBFORK_ENOMEM, "%s", x->err);
  } else if (x->ahead) {
    *out = x->ahead;
    x->ahead = NULL;
    cut_ahead(x);
  } else if (x->plan_end) {
    if (!x->c.shared) return 0;
    if ((rc = next_unfinished(x, j, out)) != 1) return rc;
  } else {
    if ((rc = cut_next(x, out)) == CUT_BUSY) {
      x->want_poke = 1;
      arm_timer(x, BUSY_RETRY_MS);
      return JOB_NEXT_LATER;
    }
    if (rc <= 0) {
      if (rc == 0 && x->c.shared) return next_unfinished(x, j, out);
      return rc;
    }
    cut_ahead(x);
  }
  {
    exec_chunk_msg m;
    exec_chunk_decode(&m, (*out)->desc, (*out)->desc_len);
    x->st.chunks++;
    x->st.rows_planned += m.rows_planned;
  }
  if (!x->first_done) x->first_out = 1;
  return 1;
}

static long op_encode(job *j, const job_part *p, void *buf, size_t cap) {
  (void)j;
  if (p->desc_len > cap) return DBFORK_ETOOBIG;
  memcpy(buf, p->desc, p->desc_len);
  return (long)p->desc_len;
}

/* The next chunk's size from this one's time: what would have taken
 * chunk_time at this chunk's rate, moved halfway there, and never more than
 * doubled or cut below a quarter at once. */
static void tune(dbfork_exec *x, uint64_t planned, uint64_t us) {
  double target, rate;
  if (x->eo.chunk_rows || !planned || !us) return;
  rate = (double)planned / ((double)us / 1e6);
  target = rate * (x->eo.chunk_time > 0 ? x->eo.chunk_time : 0.5);
  if (target > 2 * x->rows_next) target = 2 * x->rows_next;
  if (target < x->rows_next / 4) target = x->rows_next / 4;
  x->rows_next = (x->rows_next + target) / 2;
  if (x->rows_next < 10) x->rows_next = 10;
  if (x->rows_next > 1e7) x->rows_next = 1e7;
}

static void event(dbfork_exec *x, const exec_chunk_msg *m, int what, const dbfork_result *r,
                  const exec_reply *rep, unsigned attempts) {
  dbfork_exec_chunk ev;
  char from[EXEC_TEXT_MAX + 1], to[EXEC_TEXT_MAX + 1];
  if (!x->eo.on_chunk) return;
  memset(&ev, 0, sizeof ev);
  snprintf(from, sizeof from, "%.*s", (int)m->from_len, m->key_from);
  snprintf(to, sizeof to, "%.*s", (int)m->to_len, m->key_to);
  ev.what = what;
  ev.chunk = m->chunk;
  ev.key_from = from;
  ev.key_to = to;
  ev.rows_planned = m->rows_planned;
  ev.attempts = attempts;
  ev.sqlstate = "";
  ev.message = "";
  if (rep) {
    ev.rows_matched = rep->rows_matched;
    ev.rows_affected = rep->rows_affected;
    ev.seconds = (double)rep->duration_us / 1e6;
    ev.recovered = (rep->flags & EXEC_REPLY_RECOVERED) != 0;
  }
  if (r) {
    ev.worker_pid = (unsigned long)r->worker_pid;
    ev.connection_id = r->connection_id;
    if (what != DBFORK_EXEC_CHUNK_DONE) {
      ev.status = r->status;
      ev.mysql_errno = r->mysql_errno;
      ev.sqlstate = r->sqlstate;
      ev.message = r->message;
    }
  }
  x->eo.on_chunk(x, &ev, x->eo.ud);
}

static int op_ended(job *j, const job_part *p, const dbfork_result *r, int action) {
  dbfork_exec *x = X_of(j);
  exec_chunk_msg m;
  exec_reply rep;
  if (exec_chunk_decode(&m, p->desc, p->desc_len)) return DBFORK_EPROTO;
  if (action != JOB_REQUEUE && action != JOB_CANCELLED) x->first_done = 1;
  switch (action) {
    case JOB_DONE:
      if (exec_reply_decode(&rep, r->data, r->len)) {
        exec_set_err(x, DBFORK_EPROTO, "chunk %llu: the worker's reply cannot be read",
                     (unsigned long long)m.chunk);
        return DBFORK_EPROTO;
      }
      /* a shared job's chunk locked by another process, or committed by
       * one before this first attempt claimed it */
      if (x->c.shared &&
          ((rep.flags & EXEC_REPLY_ELSEWHERE) ||
           ((rep.flags & EXEC_REPLY_RECOVERED) && !p->failures && r->attempts <= 1))) {
        x->st.chunks_elsewhere++;
        break;
      }
      x->st.chunks_done++;
      x->st.rows_done += m.rows_planned;
      x->st.rows_matched += rep.rows_matched;
      x->st.rows_affected += rep.rows_affected;
      if (!(rep.flags & EXEC_REPLY_RECOVERED)) tune(x, m.rows_planned, rep.duration_us);
      event(x, &m, DBFORK_EXEC_CHUNK_DONE, r, &rep, p->failures);
      break;
    case JOB_REQUEUE:
      x->st.requeues++;
      event(x, &m, DBFORK_EXEC_CHUNK_REQUEUED, r, NULL, p->failures + 1);
      break;
    case JOB_SPLIT: /* not splittable: the policy never says so */
    case JOB_GIVE_UP:
      x->st.given_up++;
      event(x, &m, DBFORK_EXEC_CHUNK_GAVE_UP, r, NULL, p->failures + 1);
      break;
    case JOB_FAIL:
      x->st.chunks_failed++;
      if (!x->status) {
        exec_set_err(x, r->status ? r->status : DBFORK_ETASK, "%s", r->message);
        if (r->mysql_errno)
          snprintf(x->err + strlen(x->err), sizeof x->err - strlen(x->err),
                   " (MySQL error %u, SQLSTATE %s)", r->mysql_errno, r->sqlstate);
        x->status = r->status ? r->status : DBFORK_ETASK;
      }
      event(x, &m, DBFORK_EXEC_CHUNK_FAILED, r, NULL, p->failures + 1);
      break;
    case JOB_CANCELLED:
      x->st.chunks_cancelled++;
      event(x, &m, DBFORK_EXEC_CHUNK_CANCELLED, r, NULL, p->failures);
      break;
    default: break;
  }
  return 0;
}

static void op_finished(job *j, int status) {
  dbfork_exec *x = X_of(j);
  free(x->ahead); /* cut ahead and never handed out: its plan row is run by a rerun */
  x->ahead = NULL;
  exec_throttle_end(x);
  if (status && !x->err[0]) exec_set_err(x, status, "%s", job_error(j));
  if (!status && x->plan_end && x->c.shared) {
    /* complete only when every process's chunks are committed */
    int left = exec_read_unfinished(x);
    if (left < 0)
      status = left;
    else if (left)
      status = exec_set_err(x, DBFORK_EINCOMPLETE,
                            "job '%s': %zu chunks are not committed yet (another process runs "
                            "them, or one of this process's kept failing): run it again to take "
                            "part in them",
                            x->eo.job_name, x->npend);
  }
  if (!status && x->plan_end && exec_job_complete(x)) status = DBFORK_ESQL;
  if (x->c.shared && x->m && !x->taken_for_dead) exec_job_totals(x);
  exec_hosts_end(x);
  x->status = status;
  x->st.status = status;
  exec_enter(x, EXEC_ENDED);
}

const job_ops exec_job_ops = {op_next, NULL, op_encode, op_ended, op_finished};
