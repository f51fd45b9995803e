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

static int on_good(lw *s, const csv_record *rec, uint64_t col, size_t pos) {
  lw_rec *r;
  if (s->nlines == s->lines_cap) {
    size_t cap = s->lines_cap ? s->lines_cap * 2 : 4096;
    lw_rec *nr = realloc(s->recs, cap * sizeof *nr);
    if (!nr) return lw_fail(s, DBFORK_ENOMEM, "out of memory");
    s->recs = nr;
    s->lines_cap = cap;
  }
  r = &s->recs[s->nlines++];
  r->line = rec->line;
  r->col = col;
  r->pos = pos;
  r->len = rec->raw_len;
  r->ord = s->ord - 1;
  s->last_line = rec->line;
  if (s->report_only || s->c->method == METHOD_LOAD_DATA) return 0; /* the stream sends rec->raw */
  return s->c->method == METHOD_BULK ? sink_bulk_row(s, rec) : sink_insert_row(s, rec);
}

/* 1 if record `ord` of the part has a value the server refused. */
static int refused(const lw *s, uint64_t ord) {
  size_t lo = 0, hi = s->nbad;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (s->bad[mid] < ord)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < s->nbad && s->bad[lo] == ord;
}

/* A record the parser accepted whose bytes are not valid in the file's
 * character set: the server would read it differently (an invalid UTF-8
 * lead byte makes it take the bytes after it, a separator included, as
 * one character), so it is a bad record. */
static int bad_encoding(lw *s, const csv_record *rec, size_t at, uint64_t col) {
  csv_error e;
  const char *nl = NULL;
  size_t k, f = 0;
  uint64_t lines = 0;
  memset(&e, 0, sizeof e);
  for (k = 0; k < at; k++)
    if (rec->raw[k] == '\n') {
      lines++;
      nl = rec->raw + k;
    }
  for (k = 0; k < rec->nfields; k++)
    if (rec->fields[k].raw_start <= at) f = k;
  e.kind = CSV_BAD_ENCODING;
  e.reason = s->c->enc == CSV_ENC_ASCII     ? "a byte that is not ASCII (--character-set=ascii)"
             : s->c->enc == CSV_ENC_UTF8MB3 ? "bytes that are not utf8mb3 (--character-set)"
                                            : "bytes that are not UTF-8 (--character-set=utf8mb4)";
  e.line = rec->line + lines;
  e.column = nl ? (uint64_t)(rec->raw + at - nl) : col + at;
  e.record = rec->record;
  e.field = f + 1;
  e.raw = rec->raw;
  e.raw_len = rec->raw_len;
  e.rec_line = rec->line;
  e.bad_off = at;
  return lw_reject_record(s, &e);
}

int lw_next(lw *s) {
  csv_record rec;
  csv_error err;
  for (;;) {
    uint64_t col = s->parser.col;
    size_t pos = s->pos, bad;
    int r = csv_parse_record(&s->parser, s->buf + s->pos, s->avail - s->pos, s->have == s->p.length,
                             &rec, &err);
    switch (r) {
      case CSV_EINCOMPLETE:
        if (read_more(s)) return LW_FAILED;
        continue;
      case CSV_OK:
        s->pos += rec.raw_len;
        s->ord++;
        bad = s->c->enc ? csv_check_utf8(rec.raw, rec.raw_len, s->c->enc) : rec.raw_len;
        if (bad < rec.raw_len) {
          if (s->pass) return CSV_EBADREC; /* reported in the first pass */
          return bad_encoding(s, &rec, bad, col) ? LW_FAILED : CSV_EBADREC;
        }
        if (s->nbad && refused(s, s->ord - 1)) return CSV_EBADREC;
        s->last_crlf = rec.term_len == 2 && (s->c->d.flags & CSV_F_CRLF);
        return on_good(s, &rec, col, pos) ? LW_FAILED : CSV_OK;
      case CSV_EBADREC:
        s->pos += err.raw_len;
        s->ord++;
        if (s->pass) return CSV_EBADREC;
        return lw_reject_record(s, &err) ? LW_FAILED : CSV_EBADREC;
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

void lw_rewind(lw *s) {
  s->pos = s->emit = s->span_end = 0;
  s->lf_pending = 0;
  s->stream_done = 0;
  s->nlines = 0;
  s->ord = 0;
  s->pass++;
  csv_parser_seek(&s->parser, &s->ck);
}

int lw_over_budget(lw *s) {
  uint64_t used = s->budget_used > 0 ? (uint64_t)s->budget_used : 0;
  return s->rejected + used > s->c->max_errors;
}

int lw_session(lw *s, MYSQL *m) {
  unsigned long id = mysql_thread_id(m);
  MYSQL_RES *r;
  MYSQL_ROW row;
  if (s->session == id) return 0;
  /* All of a statement's warnings, to find every refused value in one
   * pass (the server's maximum). */
  if (s->c->bad_values == BAD_REJECT && mysql_query(m, "SET SESSION max_error_count = 65535"))
    return DBFORK_ESQL;
  if (s->c->method != METHOD_LOAD_DATA) {
    /* Without strict mode a value that does not fit is a warning naming its
     * row, as in LOAD DATA (LOCAL implies IGNORE): the batch then shows every
     * refused value at once instead of failing at the first. */
    load_buf b = {0};
    char *p, *tok, *save = NULL;
    int rc = 0;
    if (mysql_query(m, "SELECT @@SESSION.sql_mode") || !(r = mysql_store_result(m)))
      return DBFORK_ESQL;
    row = mysql_fetch_row(r);
    p = strdup(row && row[0] ? row[0] : "");
    mysql_free_result(r);
    if (!p) return lw_fail(s, DBFORK_ENOMEM, "out of memory");
    rc = load_buf_str(&b, "SET SESSION sql_mode = '", NULL);
    for (tok = strtok_r(p, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save))
      if (strcmp(tok, "STRICT_TRANS_TABLES") && strcmp(tok, "STRICT_ALL_TABLES"))
        rc = load_buf_str(&b, b.p[b.len - 1] == '\'' ? "" : ",", tok, NULL);
    if (!rc) rc = load_buf_str(&b, "'", NULL);
    free(p);
    if (rc) {
      free(b.p);
      return lw_fail(s, DBFORK_ENOMEM, "out of memory");
    }
    rc = mysql_query(m, b.p);
    free(b.p);
    if (rc) return DBFORK_ESQL;
  }
  s->session = id;
  return 0;
}

int lw_sql_failure(lw *s, unsigned int code, const char *sqlstate, const char *msg) {
  uint64_t last = s->nlines ? s->recs[s->nlines - 1].line : s->p.first_line;
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
  s->vfields = calloc(LOAD_MAX_COLS + 1, sizeof *s->vfields);
  if (!s->fields || !s->vfields) return DBFORK_ENOMEM;
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
  s->lf_pending = 0;
  s->stream_done = 0;
  s->nlines = 0;
  s->ord = 0;
  s->nbad = 0;
  s->pass = 0;
  s->rejected = s->dropped = s->warnings = 0;
  s->warn_kept = 0;
  s->last_line = s->p.first_line;
  s->inserted = 0;
  s->rows_in_batch = 0;
  s->arena.len = 0;
  s->fail_rc = 0;
  load_hash_init(&s->hx, (size_t)s->p.length);
  load_chunk_from_part(&s->ck, &s->p);
  csv_parser_init(&s->parser, &s->c->d, s->fields, LOAD_MAX_COLS, s->scratch, s->scratch_cap);
  s->parser.expect_fields = (size_t)s->c->nfields;
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
  h.last_line = s->nlines ? s->recs[s->nlines - 1].line : s->last_line;
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

/* Takes the part's rejects from the --max-errors budget, in its
 * transaction (the job row) or in the shared map (no_resume). */
static int take_budget(lw *s, MYSQL *m) {
  const load_conf *c = s->c;
  int rc;
  if (!s->rejected) return 0;
  if (c->no_resume)
    rc = load_shared_reserve(c->shared, c->max_errors, s->p.chunk, s->p.part, s->rejected);
  else if ((rc = load_budget_take(s->w, c, s->rejected)) == DBFORK_ESQL)
    return lw_sql_failure(s, mysql_errno(m), mysql_sqlstate(m), mysql_error(m));
  if (rc < 0) return lw_fail(s, DBFORK_ETASK, "the shared --max-errors budget is full");
  if (rc)
    return lw_fail(s, DBFORK_ETASK,
                   "%s: more than --max-errors=%llu rows rejected in all (this chunk: lines "
                   "%llu-%llu, %llu rejected)",
                   c->path, (unsigned long long)c->max_errors, (unsigned long long)s->p.first_line,
                   (unsigned long long)s->last_line, (unsigned long long)s->rejected);
  return 0;
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
  if ((s->stmt || s->bstmt) && s->stmt_conn != mysql_thread_id(m)) {
    /* The worker reconnected (server restart, killed session): statements
     * prepared on the old session are gone with it. */
    sink_close(s);
  }
  s->stmt_conn = mysql_thread_id(m);
  if ((rc = lw_session(s, m))) return rc;
  load_reply_begin(&s->reply);
  if ((rc = begin_part(s))) return rc;

  if (!c->no_resume) {
    memset(&cr, 0, sizeof cr);
    cr.part = s->p.part;
    rc = c->job_shared
             ? job_claim_shared(w, &c->t, s->p.chunk, LOAD_PROGRESS_SELECT, claim_row, &cr)
             : job_claim(w, &c->t, s->p.chunk, LOAD_PROGRESS_SELECT, claim_row, &cr);
    /* A shared job: another process runs the chunk now, or committed it
     * (or a part of it): nothing is loaded; the parent looks at the chunk
     * again once its own plan has ended (share.c). */
    if (rc == JOB_CLAIM_TAKEN && c->job_shared) return reply(s, 0, 0, LOAD_REPLY_ELSEWHERE);
    if (rc) return rc;
    switch (cr.overflow ? JOB_CLAIM_OVERLAP : job_claim_state(s->p.part, cr.parts, cr.n)) {
      case JOB_CLAIM_DONE:
        if (c->job_shared && !s->p.retry) return reply(s, 0, 0, LOAD_REPLY_ELSEWHERE);
        return report_committed(s, &cr);
      case JOB_CLAIM_OVERLAP:
        if (c->job_shared) return reply(s, 0, 0, LOAD_REPLY_ELSEWHERE);
        return dbfork_worker_fail(w, DBFORK_ETASK, 0, NULL,
                                  "%s: chunk %llu (lines from %llu): another run of this job "
                                  "committed a part of it cut differently meanwhile; rerun to "
                                  "load the rest",
                                  c->path, (unsigned long long)s->p.chunk,
                                  (unsigned long long)s->p.first_line);
      default: break;
    }
  }
  if (!c->max_errors)
    s->budget_used = 0;
  else if (c->no_resume)
    s->budget_used = (long long)load_shared_used(c->shared);
  else if ((s->budget_used = load_budget_used(w, c)) < 0)
    return DBFORK_ESQL;

  rc = c->method == METHOD_LOAD_DATA ? sink_load_data(s, &loaded)
       : c->method == METHOD_BULK    ? sink_bulk(s, &loaded)
                                     : sink_insert(s, &loaded);
  if (rc) return rc;
  if ((rc = take_budget(s, m))) return rc;
  if (!c->no_resume && (rc = load_record_part(w, c, &s->p, s->nlines - s->dropped, s->rejected,
                                              s->warnings, s->hash)))
    return lw_sql_failure(s, mysql_errno(m), mysql_sqlstate(m), mysql_error(m));
  return reply(s, loaded, s->nlines - s->dropped + s->rejected, 0);
}
