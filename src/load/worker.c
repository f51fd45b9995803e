/*
 * worker.c — the loader's worker half: one task is one part of the file,
 * loaded in the transaction the pool opened (options.transaction = 1).
 *
 * In that transaction, in this order:
 *  1. the claim (job_claim): the chunk's plan row is locked, then its
 *     committed parts are read. If this very part is committed (an earlier
 *     attempt's COMMIT outcome was unknown and it did commit), nothing is
 *     loaded: the part is parsed once more to report its rejects, and its
 *     counts come from its progress row;
 *  2. the part is read from the file piece by piece with pread (the parent
 *     never touches these bytes), hashed, and every record validated as it
 *     streams to the server (sink.c); a bad record is left out and reported
 *     with its file line and bytes, or fails the part;
 *  3. the rejects are taken from the job's budget (--max-errors, a row
 *     updated only by parts that have rejects), and the part's progress row
 *     is inserted. The pool then commits: rows, budget and record together.
 */

#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int load_buf_reserve(load_buf *b, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 65536;
    char *np;
    while (cap < b->len + n) cap *= 2;
    np = realloc(b->p, cap);
    if (!np) return -1;
    b->p = np;
    b->cap = cap;
  }
  return 0;
}

int load_buf_add(load_buf *b, const void *p, size_t n) {
  if (!n) return 0; /* b->p may still be NULL: no pointer arithmetic on it */
  if (load_buf_reserve(b, n)) return -1;
  memcpy(b->p + b->len, p, n);
  b->len += n;
  return 0;
}

int load_buf_str(load_buf *b, ...) {
  va_list ap;
  const char *str;
  int rc = 0;
  va_start(ap, b);
  while (!rc && (str = va_arg(ap, const char *)) != NULL) rc = load_buf_add(b, str, strlen(str));
  va_end(ap);
  if (!rc) rc = load_buf_reserve(b, 1);
  if (!rc) b->p[b->len] = 0;
  return rc;
}

/* The worker's state: one per process, made by load_worker_init. The task
 * function has no per-worker argument, so it lives here. */
static lw *W;

/* Reads the next piece of the part and hashes it. */
static int read_more(lw *s) {
  size_t want = s->p.length - s->have;
  if (want > LOAD_READ_STEP) want = LOAD_READ_STEP;
  while (want) {
    ssize_t n = pread(s->fd, s->buf + s->have, want, (off_t)(s->p.offset + s->have));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      lw_fail(s, DBFORK_ETASK, "reading %s at byte %llu: %s", s->c->path,
              (unsigned long long)(s->p.offset + s->have), n < 0 ? strerror(errno) : "file shrank");
      return -1;
    }
    s->have += (size_t)n;
    want -= (size_t)n;
  }
  s->avail = s->have;
  if (s->have < s->p.length) {
    load_hash_words(&s->hx, s->buf, s->have);
    return 0;
  }
  s->hash = load_hash_final(&s->hx, s->buf, s->p.length);
  if (s->p.no_eol) s->avail += load_append_eol(&s->c->d, s->buf, s->p.length);
  return 0;
}

static int on_good(lw *s, const csv_record *rec) {
  if (s->nlines == s->lines_cap) {
    size_t cap = s->lines_cap ? s->lines_cap * 2 : 4096;
    uint64_t *nl = realloc(s->lines, cap * sizeof *nl);
    if (!nl) return lw_fail(s, DBFORK_ENOMEM, "out of memory");
    s->lines = nl;
    s->lines_cap = cap;
  }
  s->lines[s->nlines++] = rec->line;
  s->last_line = rec->line;
  if (s->report_only || s->c->method == METHOD_LOAD_DATA) return 0; /* the stream sends rec->raw */
  return sink_insert_row(s, rec);
}

static int on_bad(lw *s, const csv_error *e) {
  char text[256];
  int n = csv_error_format(e, text, sizeof text);
  /* The raw bytes as they are in the file: not the terminator we appended
   * to a last record that had none. */
  size_t rlen = e->raw_len, avail = (size_t)(s->buf + s->p.length - e->raw);
  const load_conf *c = s->c;
  s->last_line = e->rec_line;
  ++s->rejected;
  if (!s->report_only) {
    if (!c->max_errors) return lw_fail(s, DBFORK_ETASK, "%s: %s", c->path, text);
    /* Give up on the part as soon as it cannot fit in --max-errors any more
     * (load_budget_take decides for good at its end). */
    if (s->rejected + (uint64_t)(s->budget_used > 0 ? s->budget_used : 0) > c->max_errors)
      return lw_fail(s, DBFORK_ETASK,
                     "%s: %s: more than --max-errors=%llu rows rejected in all (this chunk: "
                     "lines %llu-%llu)",
                     c->path, text, (unsigned long long)c->max_errors,
                     (unsigned long long)s->p.first_line, (unsigned long long)e->rec_line);
  }
  if (rlen > avail) rlen = avail;
  load_reply_reject(&s->reply, e->rec_line, e->line, e->column, e->field, text,
                    n > 0 ? (size_t)n : 0, e->raw, rlen);
  return 0;
}

int lw_next(lw *s) {
  csv_record rec;
  csv_error err;
  for (;;) {
    int r = csv_parse_record(&s->parser, s->buf + s->pos, s->avail - s->pos, s->have == s->p.length,
                             &rec, &err);
    switch (r) {
      case CSV_EINCOMPLETE:
        if (read_more(s)) return LW_FAILED;
        continue;
      case CSV_OK: s->pos += rec.raw_len; return on_good(s, &rec) ? LW_FAILED : CSV_OK;
      case CSV_EBADREC: s->pos += err.raw_len; return on_bad(s, &err) ? LW_FAILED : CSV_EBADREC;
      case CSV_END: return CSV_END;
      case CSV_ENOSPC:
        lw_fail(s, DBFORK_ETASK, "%s: a record from line %llu is too large", s->c->path,
                (unsigned long long)s->parser.line);
        return LW_FAILED;
      default:
        lw_fail(s, DBFORK_ETASK, "%s: CSV parser failed (%d) at line %llu", s->c->path, r,
                (unsigned long long)s->parser.line);
        return LW_FAILED;
    }
  }
}

int lw_sql_failure(lw *s, unsigned int code, const char *sqlstate, const char *msg) {
  uint64_t last = s->nlines ? s->lines[s->nlines - 1] : s->p.first_line;
  return s->fail_rc = dbfork_worker_fail(
             s->w, DBFORK_ESQL, code, sqlstate, "%s: lines %llu-%llu: %s", s->c->path,
             (unsigned long long)s->p.first_line, (unsigned long long)last, msg);
}

static int finalize(dbfork_worker *w, void *arg) {
  (void)w;
  sink_close(arg);
  return 0;
}

int load_worker_init(dbfork_worker *w, void *arg) {
  dbfork_load *l = arg;
  lw *s = calloc(1, sizeof *s);
  if (!s) return DBFORK_ENOMEM;
  W = s;
  s->c = &l->c;
  s->fd = open(l->c.path, O_RDONLY | O_CLOEXEC);
  if (s->fd < 0)
    return dbfork_worker_fail(w, DBFORK_ETASK, 0, NULL, "cannot open %s: %s", l->c.path,
                              strerror(errno));
  s->fields = calloc(LOAD_MAX_COLS + 1, sizeof *s->fields);
  if (!s->fields) return DBFORK_ENOMEM;
  /* Prepared statements are closed before the connection (finalizers run
   * before the built-in mysql_close). */
  return dbfork_worker_atexit(w, finalize, s, 0);
}

/* The committed parts of the chunk, as the claim read them. */
typedef struct claim_rows {
  uint64_t parts[64];
  size_t n;
  int overflow;
  uint64_t part;                        /* ours */
  uint64_t records, rejected, warnings; /* ours, if committed */
} claim_rows;

static int claim_row(void *ud, uint64_t chunk, uint64_t part, MYSQL_ROW cols) {
  claim_rows *cr = ud;
  (void)chunk;
  if (cr->n < sizeof cr->parts / sizeof cr->parts[0])
    cr->parts[cr->n++] = part;
  else
    cr->overflow = 1;
  if (part == cr->part) {
    cr->records = cols[0] ? strtoull(cols[0], NULL, 10) : 0;
    cr->rejected = cols[1] ? strtoull(cols[1], NULL, 10) : 0;
    cr->warnings = cols[2] ? strtoull(cols[2], NULL, 10) : 0;
  }
  return 0;
}

/* Sizes the buffers for the part and positions the parser at its start. */
static int begin_part(lw *s) {
  size_t need = (size_t)s->p.length + 16;
  if (need > s->cap) {
    char *np = realloc(s->buf, need);
    if (!np) return lw_fail(s, DBFORK_ENOMEM, "out of memory for a part of %zu bytes", need);
    s->buf = np;
    s->cap = need;
  }
  if (need > s->scratch_cap) {
    free(s->scratch);
    s->scratch_cap = need;
    s->scratch = malloc(need);
    if (!s->scratch) {
      s->scratch_cap = 0;
      return lw_fail(s, DBFORK_ENOMEM, "out of memory for a part of %zu bytes", need);
    }
  }
  s->have = s->avail = s->pos = 0;
  s->emit = s->span_end = 0;
  s->stream_done = 0;
  s->nlines = 0;
  s->rejected = s->warnings = 0;
  s->warn_kept = 0;
  s->last_line = s->p.first_line;
  s->inserted = 0;
  s->rows_in_batch = 0;
  s->arena.len = 0;
  s->fail_rc = 0;
  load_hash_init(&s->hx, (size_t)s->p.length);
  load_chunk_from_part(&s->ck, &s->p);
  csv_parser_init(&s->parser, &s->c->d, s->fields, LOAD_MAX_COLS, s->scratch, s->scratch_cap);
  s->parser.expect_fields = (size_t)s->c->ncols;
  csv_parser_seek(&s->parser, &s->ck);
  return 0;
}

static int reply(lw *s, uint64_t loaded, uint64_t records, int flags) {
  load_reply_head h;
  memset(&h, 0, sizeof h);
  h.flags = flags;
  h.chunk = s->p.chunk;
  h.part = s->p.part;
  h.records = records;
  h.loaded = loaded;
  h.rejected = s->rejected;
  h.warnings = s->warnings;
  h.first_line = s->p.first_line;
  h.last_line = s->nlines ? s->lines[s->nlines - 1] : s->last_line;
  if (load_reply_finish(&s->reply, &h)) return lw_fail(s, DBFORK_ENOMEM, "out of memory");
  return dbfork_worker_reply(s->w, s->reply.p, s->reply.len);
}

/* The part is committed already (by an attempt whose COMMIT outcome the
 * parent could not know): parse it again for the reject entries, take the
 * counts from its progress row. */
static int report_committed(lw *s, const claim_rows *cr) {
  int r;
  s->report_only = 1;
  while ((r = lw_next(s)) != CSV_END)
    if (r == LW_FAILED) break;
  s->report_only = 0;
  if (r == LW_FAILED) return s->fail_rc;
  s->rejected = cr->rejected;
  s->warnings = cr->warnings;
  return reply(s, cr->records, s->p.records, LOAD_REPLY_RECOVERED);
}

int load_worker_task(dbfork_worker *w, const void *in, size_t len, void *arg) {
  lw *s = W;
  const load_conf *c = s->c;
  MYSQL *m = dbfork_worker_mysql(w);
  claim_rows cr;
  uint64_t loaded = 0;
  int rc;
  (void)arg;
  s->w = w;
  if (load_part_decode(&s->p, in, len))
    return dbfork_worker_fail(w, DBFORK_EPROTO, 0, NULL, "malformed part descriptor");
  if (s->stmt && s->stmt_conn != mysql_thread_id(m)) {
    /* The worker reconnected (server restart, killed session): statements
     * prepared on the old session are gone with it. */
    sink_close(s);
  }
  s->stmt_conn = mysql_thread_id(m);
  load_reply_begin(&s->reply);
  if ((rc = begin_part(s))) return rc;

  memset(&cr, 0, sizeof cr);
  cr.part = s->p.part;
  rc = job_claim(w, &c->t, s->p.chunk, LOAD_PROGRESS_SELECT, claim_row, &cr);
  if (rc) return rc;
  switch (cr.overflow ? JOB_CLAIM_OVERLAP : job_claim_state(s->p.part, cr.parts, cr.n)) {
    case JOB_CLAIM_DONE: return report_committed(s, &cr);
    case JOB_CLAIM_OVERLAP:
      return dbfork_worker_fail(w, DBFORK_ETASK, 0, NULL,
                                "%s: chunk %llu (lines from %llu): another run of this job "
                                "committed a part of it cut differently meanwhile; rerun to "
                                "load the rest",
                                c->path, (unsigned long long)s->p.chunk,
                                (unsigned long long)s->p.first_line);
    default: break;
  }
  s->budget_used = c->max_errors ? load_budget_used(w, c) : 0;
  if (s->budget_used < 0) return DBFORK_ESQL;

  rc = c->method == METHOD_LOAD_DATA ? sink_load_data(s, &loaded) : sink_insert(s, &loaded);
  if (rc) return rc;
  if (s->rejected && (rc = load_budget_take(w, c, s->rejected)) != 0) {
    if (rc == DBFORK_ESQL)
      return lw_sql_failure(s, mysql_errno(m), mysql_sqlstate(m), mysql_error(m));
    return lw_fail(s, DBFORK_ETASK,
                   "%s: more than --max-errors=%llu rows rejected in all (this chunk: lines "
                   "%llu-%llu, %llu rejected)",
                   c->path, (unsigned long long)c->max_errors, (unsigned long long)s->p.first_line,
                   (unsigned long long)s->last_line, (unsigned long long)s->rejected);
  }
  rc = load_record_part(w, c, &s->p, s->nlines, s->rejected, s->warnings, s->hash);
  if (rc) return lw_sql_failure(s, mysql_errno(m), mysql_sqlstate(m), mysql_error(m));
  return reply(s, loaded, s->nlines + s->rejected, 0);
}
