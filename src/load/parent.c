/*
 * parent.c — the loader's side of the job core (job_ops): parts go down to
 * the workers, their replies come up and become counts and events for the
 * caller's callbacks. No SQL runs here but the plan row of a chunk, stored
 * before its first part is submitted.
 */

#include "loader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static dbfork_load *L_of(job *j) { return job_ud(j); }

static struct load_multi *multi_find(dbfork_load *l, uint64_t chunk) {
  size_t i;
  for (i = 0; i < l->nmulti; i++)
    if (l->multi[i].chunk == chunk) return &l->multi[i];
  return NULL;
}

static struct load_multi *multi_add(dbfork_load *l, uint64_t chunk, uint64_t open) {
  struct load_multi *m = multi_find(l, chunk);
  if (m) {
    m->open += open;
    return m;
  }
  if (load_grow((void **)&l->multi, &l->capmulti, l->nmulti + 1, sizeof *l->multi)) return NULL;
  m = &l->multi[l->nmulti++];
  m->chunk = chunk;
  m->open = open;
  m->worst = 0;
  return m;
}

/* How a part ended, worst last: a chunk is counted once, when its last
 * open part ends, by the worst ending of its parts, so that the chunk
 * counts of the stats add up to the chunks the run handed out. */
enum { CHUNK_END_OK = 0, CHUNK_END_CANCELLED, CHUNK_END_GAVE_UP, CHUNK_END_FAILED };

static void count_chunk(dbfork_load *l, int worst) {
  switch (worst) {
    case CHUNK_END_OK: l->st.chunks_done++; break;
    case CHUNK_END_CANCELLED: l->st.chunks_cancelled++; break;
    case CHUNK_END_GAVE_UP: l->st.chunks_given_up++; break;
    default: l->st.chunks_failed++; break;
  }
}

/* A part of a chunk has ended. */
static void chunk_part_closed(dbfork_load *l, uint64_t chunk, int end) {
  struct load_multi *m = multi_find(l, chunk);
  if (!m) {
    count_chunk(l, end);
    return;
  }
  if (end > m->worst) m->worst = end;
  if (--m->open) return;
  count_chunk(l, m->worst);
  *m = l->multi[--l->nmulti];
}

static job_part *to_job_part(const load_part *lp) {
  job_part *p = job_part_new(lp->chunk, lp->part, lp, sizeof *lp);
  if (p) p->splittable = lp->records > 1;
  return p;
}

static int op_next(job *j, job_part **out) {
  dbfork_load *l = L_of(j);
  while (l->headpend == l->npend) {
    csv_chunk c;
    int rc = load_plan_next(l, &c), n;
    uint64_t left = 0;
    size_t i;
    if (rc == 0 && l->c.job_shared) {
      /* the plan has ended: what other processes held */
      if ((rc = load_share_tail(l, j)) != 1) return rc;
      break;
    }
    if (rc <= 0) return rc;
    l->st.chunks++;
    n = load_plan_parts(l, &c, l->pend, sizeof l->pend / sizeof l->pend[0]);
    if (n < 0) return n;
    for (i = 0; i < (size_t)n; i++) left += l->pend[i].length;
    l->st.bytes_before += c.len - left;
    if (n == 0) {
      l->st.chunks_before++;
      continue;
    }
    if (n > 1 || l->pend[0].part != 1) {
      if (!multi_add(l, c.index, (uint64_t)n))
        return load_set_err(l, DBFORK_ENOMEM, "out of memory");
    }
    if (!l->c.no_resume && (rc = load_plan_store(l, &c))) return rc;
    l->npend = (size_t)n;
    l->headpend = 0;
  }
  *out = to_job_part(&l->pend[l->headpend++]);
  return *out ? 1 : load_set_err(l, DBFORK_ENOMEM, "out of memory");
}

static int op_split(job *j, const job_part *p, job_part **a, job_part **b) {
  dbfork_load *l = L_of(j);
  load_part lp, la, lb;
  int rc;
  memcpy(&lp, p->desc, sizeof lp);
  rc = load_part_split(l, &lp, &la, &lb);
  if (rc) return rc;
  *a = to_job_part(&la);
  *b = to_job_part(&lb);
  {
    /* One open part of the chunk becomes two. */
    struct load_multi *m = multi_find(l, lp.chunk);
    if (!m) m = multi_add(l, lp.chunk, 1);
    if (!*a || !*b || !m) {
      free(*a);
      free(*b);
      return load_set_err(l, DBFORK_ENOMEM, "out of memory");
    }
    m->open++;
  }
  return 0;
}

static long op_encode(job *j, const job_part *p, void *buf, size_t cap) {
  load_part lp;
  (void)j;
  if (cap < LOAD_PART_SIZE || p->desc_len != sizeof lp) return DBFORK_EINVAL;
  memcpy(&lp, p->desc, sizeof lp);
  lp.part = p->part;
  lp.retry = p->failures > 0;
  load_part_encode(&lp, buf);
  return LOAD_PART_SIZE;
}

static void chunk_event(dbfork_load *l, const load_part *lp, int what, const dbfork_result *r,
                        const load_reply_head *h, unsigned attempts) {
  dbfork_load_chunk ev;
  if (!l->lo.on_chunk) return;
  memset(&ev, 0, sizeof ev);
  ev.what = what;
  ev.chunk = lp->chunk;
  ev.part = lp->part;
  ev.offset = lp->offset;
  ev.length = lp->length;
  ev.first_line = lp->first_line;
  ev.last_line = h ? h->last_line : lp->first_line;
  ev.records = h ? h->records : lp->records;
  ev.attempts = attempts;
  if (h) {
    ev.loaded = h->loaded;
    ev.rejected = h->rejected;
    ev.warnings = h->warnings;
    ev.recovered = (h->flags & LOAD_REPLY_RECOVERED) != 0;
  }
  ev.sqlstate = "";
  ev.message = "";
  if (r && what != DBFORK_LOAD_CHUNK_DONE) {
    ev.status = r->status;
    ev.mysql_errno = r->mysql_errno;
    ev.sqlstate = r->sqlstate;
    ev.message = r->message;
  }
  l->lo.on_chunk(l, &ev, l->lo.ud);
}

/* A committed part's reply: counts, then the events in the order the
 * worker wrote them. */
static int take_reply(dbfork_load *l, const load_part *lp, const dbfork_result *r,
                      unsigned attempts) {
  load_reply_reader rd;
  load_reply_head h;
  load_entry e;
  int k;
  char text[1024], name[LOAD_COLUMN_NAME_MAX + 1];
  if (load_reply_open(&rd, &h, r->data, r->len) || h.chunk != lp->chunk || h.part != lp->part)
    return load_set_err(l, DBFORK_EPROTO, "chunk %llu: the worker's reply cannot be read",
                        (unsigned long long)lp->chunk);
  l->st.rows_loaded += h.loaded;
  l->st.records += h.records;
  l->st.rejected += h.rejected;
  l->st.warnings += h.warnings;
  l->st.bytes_done += lp->length;
  chunk_event(l, lp, DBFORK_LOAD_CHUNK_DONE, r, &h, attempts);
  while ((k = load_reply_next(&rd, &e)) == 1) {
    size_t tl = e.text_len < sizeof text - 1 ? e.text_len : sizeof text - 1;
    size_t nl = e.column_name_len < sizeof name - 1 ? e.column_name_len : sizeof name - 1;
    if (tl) memcpy(text, e.text, tl); /* a warning's column_name is NULL */
    text[tl] = 0;
    if (nl) memcpy(name, e.column_name, nl);
    name[nl] = 0;
    if (e.kind == LOAD_ENTRY_REJECT && l->lo.on_reject) {
      dbfork_load_reject rj;
      rj.file = l->c.path;
      rj.line = e.line;
      rj.error_line = e.error_line;
      rj.column = e.column;
      rj.field = e.field;
      rj.reason = text;
      rj.raw = e.raw;
      rj.raw_len = e.raw_len;
      rj.chunk = lp->chunk;
      l->lo.on_reject(l, &rj, l->lo.ud);
    } else if (e.kind == LOAD_ENTRY_WARNING && l->lo.on_warning) {
      dbfork_load_warning wn;
      wn.file = l->c.path;
      wn.line = e.line;
      wn.message = text;
      wn.chunk = lp->chunk;
      wn.chunk_first_line = h.first_line;
      wn.chunk_last_line = h.last_line;
      l->lo.on_warning(l, &wn, l->lo.ud);
    }
  }
  if (k < 0)
    return load_set_err(l, DBFORK_EPROTO, "chunk %llu: the worker's reply is malformed",
                        (unsigned long long)lp->chunk);
  return 0;
}

static int op_ended(job *j, const job_part *p, const dbfork_result *r, int action) {
  dbfork_load *l = L_of(j);
  load_part lp;
  int rc = 0;
  memcpy(&lp, p->desc, sizeof lp);
  lp.part = p->part;
  /* no_resume: the part's reservation of --max-errors stays if it
   * committed, and is given back if it did not (or will be retried). */
  load_shared_settle(l->c.shared, lp.chunk, lp.part, action == JOB_DONE);
  switch (action) {
    case JOB_DONE:
      if (r->len > 1 && (((const unsigned char *)r->data)[1] & LOAD_REPLY_ELSEWHERE)) {
        /* held or committed by another process: looked at again at the end */
        struct load_multi *m = multi_find(l, lp.chunk);
        if (m && !--m->open) *m = l->multi[--l->nmulti];
        return load_share_later(l, &lp);
      }
      rc = take_reply(l, &lp, r, p->failures);
      chunk_part_closed(l, lp.chunk, rc ? CHUNK_END_FAILED : CHUNK_END_OK);
      break;
    case JOB_REQUEUE:
      l->st.requeues++;
      chunk_event(l, &lp, DBFORK_LOAD_CHUNK_REQUEUED, r, NULL, p->failures + 1);
      break;
    case JOB_SPLIT:
      l->st.splits++;
      chunk_event(l, &lp, DBFORK_LOAD_CHUNK_SPLIT, r, NULL, p->failures + 1);
      break;
    case JOB_GIVE_UP:
      l->st.given_up++;
      chunk_part_closed(l, lp.chunk, CHUNK_END_GAVE_UP);
      chunk_event(l, &lp, DBFORK_LOAD_CHUNK_GAVE_UP, r, NULL, p->failures + 1);
      break;
    case JOB_FAIL:
      chunk_part_closed(l, lp.chunk, CHUNK_END_FAILED);
      if (!l->status) {
        load_set_err(l, r->status ? r->status : DBFORK_ETASK,
                     "chunk %llu (from line %llu, bytes %llu-%llu) failed: %s",
                     (unsigned long long)lp.chunk, (unsigned long long)lp.first_line,
                     (unsigned long long)lp.offset, (unsigned long long)(lp.offset + lp.length),
                     r->message);
        if (r->mysql_errno)
          snprintf(l->err + strlen(l->err), sizeof l->err - strlen(l->err),
                   " (MySQL error %u, SQLSTATE %s)", r->mysql_errno, r->sqlstate);
        l->status = r->status ? r->status : DBFORK_ETASK;
      }
      chunk_event(l, &lp, DBFORK_LOAD_CHUNK_FAILED, r, NULL, p->failures + 1);
      break;
    case JOB_CANCELLED:
      chunk_part_closed(l, lp.chunk, CHUNK_END_CANCELLED);
      chunk_event(l, &lp, DBFORK_LOAD_CHUNK_CANCELLED, r, NULL, p->failures);
      break;
    default: break;
  }
  return rc;
}

static void op_finished(job *j, int status) {
  dbfork_load *l = L_of(j);
  /* Parts a stop left unsent (the rest of a chunk a resume had left in
   * several parts): their chunk ends cancelled. */
  while (l->nmulti) {
    struct load_multi *m = &l->multi[l->nmulti - 1];
    count_chunk(l, m->worst > CHUNK_END_CANCELLED ? m->worst : CHUNK_END_CANCELLED);
    l->nmulti--;
  }
  if (status && !l->err[0]) load_set_err(l, status, "%s", job_error(j));
  if (!status && l->nlater)
    status = load_set_err(l, DBFORK_EINCOMPLETE,
                          "shared job '%s': %zu parts of the file are not committed yet (another "
                          "process runs them, or one of this process's kept failing): run it "
                          "again to take part in them",
                          l->lo.job_name, l->nlater);
  load_share_end(l);
  l->status = status;
  l->st.status = status;
  load_enter(l, LOAD_ENDED);
}

const job_ops load_job_ops = {op_next, op_split, op_encode, op_ended, op_finished};
