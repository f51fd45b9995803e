/*
 * parent.c — exec's side of the job core (job_ops): chunks are cut from the
 * index as the job goes and handed out, replies come up and become counts
 * and events for the caller's callback. Also here: the chunk size tuned to
 * chunk_time, the probe (the first chunk runs alone), and the throttle on
 * Threads_running (max_load, critical_load).
 */
#include "execint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static dbfork_exec *X_of(job *j) { return job_ud(j); }

#define LOAD_CHECK_EVERY 0.1 /* seconds between two reads of Threads_running */
#define PAUSE_RETRY_MS 250

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

static void on_pause_timer(uv_timer_t *t) {
  dbfork_exec *x = t->data;
  x->pause_timer_on = 0;
  if (x->job) job_poke(x->job);
}

void exec_pause_close(dbfork_exec *x) {
  if (x->pause_timer_init) {
    uv_close((uv_handle_t *)&x->pause_timer, NULL);
    x->pause_timer_init = 0;
  }
}

/* SHOW GLOBAL STATUS, which MySQL and MariaDB both have (the status
 * tables are in different schemas). 0, or DBFORK_ESQL with x->err. */
static int threads_running(dbfork_exec *x, uint64_t *out) {
  MYSQL_RES *r;
  MYSQL_ROW row;
  if (mysql_query(x->m, "SHOW GLOBAL STATUS LIKE 'Threads_running'") ||
      !(r = mysql_store_result(x->m)))
    return exec_set_err(x, DBFORK_ESQL, "reading Threads_running: %s (MySQL error %u)",
                        mysql_error(x->m), mysql_errno(x->m));
  row = mysql_fetch_row(r);
  *out = row && row[1] ? strtoull(row[1], NULL, 10) : 0;
  mysql_free_result(r);
  return 0;
}

/* 1 while chunks must wait for the server's load, 0 to go on, < 0 to stop
 * the job (critical_load). */
static int throttled(dbfork_exec *x, job *j) {
  uint64_t running = 0;
  double now = exec_now();
  int over;
  if (!x->eo.max_load && !x->eo.critical_load) return 0;
  if (now - x->last_load_check >= LOAD_CHECK_EVERY || !x->last_load_check) {
    x->last_load_check = now;
    if (threads_running(x, &running)) return job_fail(j, DBFORK_ESQL, "%s", x->err);
    x->st.threads_running = running;
  }
  running = x->st.threads_running;
  if (x->eo.critical_load && running > x->eo.critical_load) {
    exec_set_err(x, DBFORK_EBUSY,
                 "Threads_running is %llu, above --critical-load=%u: stopped; rerun the same "
                 "command to resume",
                 (unsigned long long)running, x->eo.critical_load);
    return job_fail(j, DBFORK_EBUSY, "%s", x->err);
  }
  over = x->eo.max_load && running > x->eo.max_load;
  if (over && !x->pause_t0) {
    x->pause_t0 = now;
    x->st.pauses++;
  } else if (!over && x->pause_t0) {
    x->st.paused_seconds += now - x->pause_t0;
    x->pause_t0 = 0;
  }
  if (over && !x->pause_timer_on) {
    if (!x->pause_timer_init) {
      uv_timer_init(dbfork_pool_loop(x->pool), &x->pause_timer);
      x->pause_timer.data = x;
      x->pause_timer_init = 1;
    }
    uv_timer_start(&x->pause_timer, on_pause_timer, PAUSE_RETRY_MS, 0);
    x->pause_timer_on = 1;
  }
  return over;
}

static int op_next(job *j, job_part **out) {
  dbfork_exec *x = X_of(j);
  exec_tuple to = {0};
  uint64_t rows, count = 0;
  int rc;
  /* The first chunk runs alone: a statement that fails on it has changed
   * nothing anywhere else. */
  if (x->first_out && !x->first_done) return JOB_NEXT_LATER;
  if ((rc = throttled(x, j)) < 0) return rc;
  if (rc) return JOB_NEXT_LATER;
  if (x->headpend < x->npend) {
    exec_pending *pd = &x->pend[x->headpend++];
    *out = make_part(x, pd->chunk, &pd->from, &pd->to, pd->rows_planned);
  } else {
    if (x->plan_end) return 0;
    rows = x->eo.chunk_rows ? x->eo.chunk_rows : (uint64_t)(x->rows_next + 0.5);
    if (rows < 1) rows = 1;
    x->st.chunk_rows = rows;
    rc = exec_cut(x, &x->cursor, rows, &to, &count);
    if (rc < 0) return job_fail(j, rc, "%s", x->err);
    if (rc == 0) {
      x->plan_end = 1;
      return 0;
    }
    if ((rc = exec_plan_store(x, x->next_chunk, &x->cursor, &to, count))) {
      exec_tuple_clear(&to);
      return job_fail(j, rc, "%s", x->err);
    }
    *out = make_part(x, x->next_chunk, &x->cursor, &to, count);
    x->next_chunk++;
    exec_tuple_clear(&x->cursor);
    x->cursor = to;
  }
  if (!*out) return job_fail(j, DBFORK_ENOMEM, "out of memory");
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
  if (x->pause_t0) {
    x->st.paused_seconds += exec_now() - x->pause_t0;
    x->pause_t0 = 0;
  }
  if (x->pause_timer_on) {
    uv_timer_stop(&x->pause_timer);
    x->pause_timer_on = 0;
  }
  exec_pause_close(x); /* now, while the loop runs: the close completes before the free */
  if (status && !x->err[0]) exec_set_err(x, status, "%s", job_error(j));
  if (!status && x->plan_end && exec_job_complete(x)) status = DBFORK_ESQL;
  x->status = status;
  x->st.status = status;
  exec_enter(x, EXEC_ENDED);
}

const job_ops exec_job_ops = {op_next, NULL, op_encode, op_ended, op_finished};
