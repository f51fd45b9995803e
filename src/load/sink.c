/*
 * sink.c — two of the three ways a part's good records reach the server.
 *
 * load-data streams them into one LOAD DATA LOCAL INFILE statement through
 * a local-infile handler (no temporary file): the server asks for bytes,
 * the handler parses just enough of the part to hand it a run of good
 * records straight from the part's buffer, leaving bad records out. The
 * statement is fixed per load (setup.c), so the server parses exactly the
 * bytes the parser accepted, with the same dialect and character set.
 *
 * insert binds the values of each batch of records to a prepared
 * multi-row INSERT (prepared once per connection), and sends a short batch
 * as one text INSERT with escaped values. (bulk.c, the third, falls back
 * to this path for a batch the server had anything to say about.)
 *
 * Values the server refuses (bad_values "reject"): the statement runs
 * after a savepoint; if its warnings (or, for an INSERT, its error) say a
 * value was truncated, coerced or refused, it is rolled back to the
 * savepoint, the records named become rejects (reject.c), and the
 * statement runs again without them — all inside the part's transaction,
 * so the part still commits exactly once. The other warnings are passed up
 * with the file line of the record they name.
 */
#include "worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Passes of a statement before the part gives up on its refused values
 * (each pass takes all the statement's warnings, up to the server's 65535). */
#define MAX_PASSES 32

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static int cmp_row(const void *a, const void *b) {
  const lw_badval *x = a, *y = b;
  return x->row < y->row ? -1 : x->row > y->row;
}

/* Sorts the refused values by row; a row named twice is one reject (the
 * first complaint). Returns how many rows. */
static size_t distinct_rows(lw *s) {
  size_t i, o = 0;
  qsort(s->bv, s->nbv, sizeof *s->bv, cmp_row);
  for (i = 0; i < s->nbv; i++)
    if (!o || s->bv[o - 1].row != s->bv[i].row) s->bv[o++] = s->bv[i];
  return s->nbv = o;
}

static int savepoint(lw *s, MYSQL *m, const char *sql) {
  if (mysql_query(m, sql))
    return lw_sql_failure(s, mysql_errno(m), mysql_sqlstate(m), mysql_error(m));
  return 0;
}

/* ---- load-data ---- */

static int infile_init(void **ptr, const char *name, void *ud) {
  (void)name;
  *ptr = ud;
  return 0;
}

/* The LOAD DATA LOCAL stream: parses on demand and sends runs of good
 * records straight from the part's buffer; a rejected record is left out,
 * and so is the '\r' of a record the parser read as ending in "\r\n" (a
 * "\n" dialect takes both; the server is told "\n"): its run ends before
 * the '\r' and a '\n' follows (lf_pending), so that the server reads the
 * fields the parser read. */
static int infile_read(void *ptr, char *buf, unsigned int len) {
  lw *s = ptr;
  size_t out = 0;
  while (out < len) {
    size_t n = s->span_end - s->emit;
    int r;
    if (n) {
      if (n > len - out) n = len - out;
      memcpy(buf + out, s->buf + s->emit, n);
      s->emit += n;
      out += n;
      continue;
    }
    if (s->lf_pending) {
      buf[out++] = '\n';
      s->lf_pending = 0;
      continue;
    }
    if (s->stream_done) break;
    /* Gather a run of consecutive good records worth about one buffer. */
    s->emit = s->span_end = s->pos;
    while (s->span_end - s->emit < len - out) {
      r = lw_next(s);
      if (r == CSV_OK && s->last_crlf) {
        s->span_end = s->pos - 2;
        s->lf_pending = 1;
        break;
      } else if (r == CSV_OK) {
        s->span_end = s->pos;
      } else if (r == CSV_EBADREC) {
        if (s->span_end > s->emit) break; /* send the run before it first */
        s->emit = s->span_end = s->pos;
      } else if (r == CSV_END) {
        s->stream_done = 1;
        break;
      } else {
        return -1; /* LW_FAILED: the server gets an empty packet; the query fails */
      }
    }
  }
  return (int)out;
}

static void infile_end(void *ptr) { (void)ptr; }

static int infile_error(void *ptr, char *msg, unsigned int len) {
  (void)ptr;
  snprintf(msg, len, "dbfork: local infile stream failed");
  return 2000;
}

/* With LOCAL the server cannot stop the upload, so it turns duplicate-key
 * errors into warnings and skips the rows. We asked for errors: fail the
 * part (the transaction rolls back). */
static int duplicate_failure(lw *s, MYSQL *m, uint64_t loaded) {
  MYSQL_RES *r;
  MYSQL_ROW row;
  char msg[512] = "rows were skipped as duplicates";
  unsigned int code = 1062;
  if (!mysql_query(m, "SHOW WARNINGS LIMIT 1") && (r = mysql_store_result(m))) {
    if ((row = mysql_fetch_row(r)) && row[2]) {
      snprintf(msg, sizeof msg, "%s", row[2]);
      code = row[1] ? (unsigned int)strtoul(row[1], NULL, 10) : code;
    }
    mysql_free_result(r);
  }
  snprintf(msg + strlen(msg), sizeof msg - strlen(msg),
           " (%llu of %llu rows would load; --on-duplicate=error)", (unsigned long long)loaded,
           (unsigned long long)s->nlines);
  return lw_sql_failure(s, code, code == 1062 ? "23000" : "HY000", msg);
}

/* A pass of the LOAD DATA refused values: they become rejects, and the
 * next pass leaves their records out. */
static int refuse_rows(lw *s) {
  size_t i, n = distinct_rows(s);
  for (i = 0; i < n; i++) {
    size_t k = s->bv[i].row ? (size_t)s->bv[i].row - 1 : 0;
    if (k >= s->nlines) continue; /* a row the stream never sent: cannot happen */
    if (load_grow((void **)&s->bad, &s->bad_cap, s->nbad + 1, sizeof *s->bad))
      return lw_fail(s, DBFORK_ENOMEM, "out of memory");
    s->bad[s->nbad++] = s->recs[k].ord;
    if (lw_reject_value(s, k, &s->bv[i])) return -1;
  }
  qsort(s->bad, s->nbad, sizeof *s->bad, cmp_u64);
  return 0;
}

int sink_load_data(lw *s, uint64_t *loaded) {
  MYSQL *m = dbfork_worker_mysql(s->w);
  int reject = s->c->bad_values == BAD_REJECT, k;
  for (;;) {
    /* One statement streams the whole part; infile_read validates as the
     * server asks for more. (A part of only rejected records loads 0 rows.) */
    if (reject && savepoint(s, m, "SAVEPOINT dbfork_part")) return s->fail_rc;
    mysql_set_local_infile_handler(m, infile_init, infile_read, infile_end, infile_error, s);
    if (mysql_query(m, s->c->load_sql)) {
      if (s->fail_rc) return s->fail_rc; /* our stream failed: detail set */
      return lw_sql_failure(s, mysql_errno(m), mysql_sqlstate(m), mysql_error(m));
    }
    if (!s->stream_done)
      return lw_fail(s, DBFORK_ETASK, "%s: the server stopped reading chunk %llu before its end",
                     s->c->path, (unsigned long long)s->p.chunk);
    *loaded = mysql_affected_rows(m);
    if ((k = lw_scan_warnings(s, m)) == 0) break;
    if (k < 0 && s->nlines > 1) {
      char msg[600];
      snprintf(msg, sizeof msg, "the server refused a value without naming its row: %s",
               s->bv[0].msg);
      return lw_sql_failure(s, s->bv[0].code, "HY000", msg);
    }
    if (s->pass + 1 >= MAX_PASSES)
      return lw_fail(s, DBFORK_ETASK,
                     "%s: chunk %llu (lines from %llu): values kept being refused "
                     "after %d passes",
                     s->c->path, (unsigned long long)s->p.chunk,
                     (unsigned long long)s->p.first_line, MAX_PASSES);
    if (savepoint(s, m, "ROLLBACK TO SAVEPOINT dbfork_part") || refuse_rows(s)) return s->fail_rc;
    lw_rewind(s);
  }
  if (s->c->dup == DUP_ERROR && *loaded != s->nlines) return duplicate_failure(s, m, *loaded);
  lw_warnings_keep(s, NULL, 0, 0);
  return 0;
}

/* ---- insert ---- */

void sink_close(lw *s) {
  if (s->stmt) mysql_stmt_close(s->stmt);
  s->stmt = NULL;
  sink_bulk_close(s);
}

/* Appends the VALUES row template with its placeholders as `ph`. */
static int add_row_template(load_buf *b, const char *row, const char *ph) {
  const char *p;
  for (p = row; *p; p++) {
    if (*p == '\001' ? load_buf_str(b, ph, NULL) : load_buf_add(b, p, 1)) return -1;
  }
  return load_buf_str(b, "", NULL);
}

/* The INSERT for `rows` rows of placeholders (the full batch). Values in a
 * set other than utf8mb4's are relabelled: the session is utf8mb4. */
char *sink_insert_sql(const load_conf *c, unsigned rows) {
  load_buf b = {0};
  char ph[80];
  unsigned r;
  if (c->recode)
    snprintf(ph, sizeof ph, "CONVERT(CAST(? AS BINARY) USING %s)", c->charset);
  else
    snprintf(ph, sizeof ph, "?");
  if (load_buf_str(&b, c->ins_head, NULL)) goto oom;
  for (r = 0; r < rows; r++)
    if (load_buf_str(&b, r ? "," : " ", NULL) || add_row_template(&b, c->ins_row, ph)) goto oom;
  if (load_buf_str(&b, c->dup_sql, NULL)) goto oom;
  return b.p;
oom:
  free(b.p);
  return NULL;
}

static MYSQL_STMT *prepare(lw *s, unsigned rows) {
  MYSQL *m = dbfork_worker_mysql(s->w);
  MYSQL_STMT *st = mysql_stmt_init(m);
  char *sql = sink_insert_sql(s->c, rows);
  if (!st || !sql) {
    free(sql);
    if (st) mysql_stmt_close(st);
    lw_fail(s, DBFORK_ENOMEM, "out of memory preparing an INSERT");
    return NULL;
  }
  if (mysql_stmt_prepare(st, sql, (unsigned long)strlen(sql))) {
    lw_sql_failure(s, mysql_stmt_errno(st), mysql_stmt_sqlstate(st), mysql_stmt_error(st));
    mysql_stmt_close(st);
    st = NULL;
  }
  free(sql);
  return st;
}

/* One value as an SQL literal. */
static int add_literal(lw *s, MYSQL *m, size_t i) {
  const char *v = s->arena.p + s->offs[i];
  size_t n = s->lens[i];
  if (s->nulls[i]) return load_buf_add(&s->text, "NULL", 4);
  if (s->c->recode) {
    /* _latin1 X'E9': the bytes, labelled with the file's set */
    if (load_buf_str(&s->text, "_", s->c->charset, " X'", NULL) ||
        load_buf_reserve(&s->text, n * 2 + 2))
      return -1;
    s->text.len += mysql_hex_string(s->text.p + s->text.len, v, (unsigned long)n);
    return load_buf_add(&s->text, "'", 1);
  }
  /* Room for the worst case: every byte escaped, plus quotes. */
  if (load_buf_add(&s->text, "'", 1) || load_buf_reserve(&s->text, n * 2 + 2)) return -1;
  s->text.len += mysql_real_escape_string(m, s->text.p + s->text.len, v, (unsigned long)n);
  return load_buf_add(&s->text, "'", 1);
}

/* Rows [r0, r0 + n) of the batch as one text INSERT: a short batch (a
 * prepared statement for a row count used once would cost a prepare, an
 * execute and a close, three round trips instead of one), or what is left
 * of a batch after refused values. */
static int exec_text(lw *s, MYSQL *m, unsigned r0, unsigned n) {
  const load_conf *c = s->c;
  unsigned r;
  int j;
  s->text.len = 0;
  if (load_buf_str(&s->text, c->ins_head, NULL)) goto oom;
  for (r = r0; r < r0 + n; r++) {
    const char *p;
    if (load_buf_add(&s->text, r > r0 ? "," : " ", 1)) goto oom;
    for (p = c->ins_row, j = 0; *p; p++) {
      if (*p != '\001') {
        if (load_buf_add(&s->text, p, 1)) goto oom;
      } else if (add_literal(s, m, (size_t)r * (size_t)c->nph + (size_t)j++)) {
        goto oom;
      }
    }
  }
  if (load_buf_str(&s->text, c->dup_sql, NULL)) goto oom;
  return mysql_real_query(m, s->text.p, (unsigned long)s->text.len) ? 1 : 0;
oom:
  return lw_fail(s, DBFORK_ENOMEM, "out of memory building an INSERT");
}

/* The full batch through the prepared statement. 0, 1 (the server's
 * error), or LW_FAILED. */
static int exec_prepared(lw *s) {
  const load_conf *c = s->c;
  MYSQL_STMT *st;
  unsigned r, n = s->rows_in_batch;
  int k;
  if (!s->stmt && !(s->stmt = prepare(s, n))) return LW_FAILED;
  st = s->stmt;
  for (r = 0; r < n; r++)
    for (k = 0; k < c->nph; k++) {
      size_t i = (size_t)r * c->nph + k;
      MYSQL_BIND *b = &s->binds[i];
      memset(b, 0, sizeof *b);
      b->buffer_type = MYSQL_TYPE_STRING;
      b->buffer = s->arena.p + s->offs[i];
      b->buffer_length = s->lens[i];
      b->length = &s->lens[i];
      b->is_null = &s->nulls[i];
    }
  if (mysql_stmt_bind_param(st, s->binds) || mysql_stmt_execute(st)) return 1;
  return 0;
}

/* Leaves row r out of the batch. */
static void drop_row(lw *s, unsigned r) {
  size_t per = (size_t)s->c->nph, rest = (size_t)(s->rows_in_batch - r - 1);
  memmove(s->offs + r * per, s->offs + (r + 1) * per, rest * per * sizeof *s->offs);
  memmove(s->lens + r * per, s->lens + (r + 1) * per, rest * per * sizeof *s->lens);
  memmove(s->nulls + r * per, s->nulls + (r + 1) * per, rest * per * sizeof *s->nulls);
  memmove(s->brow + r, s->brow + r + 1, rest * sizeof *s->brow);
  s->rows_in_batch--;
  s->dropped++;
}

/* The server's error for rows [r0, r0 + n): a refused value (a reject:
 * returns 1 and sets *row, 0 if it named none) or a failure (LW_FAILED). */
static int error_value(lw *s, MYSQL *m, MYSQL_STMT *st, unsigned n, uint64_t *row) {
  unsigned int code = st ? mysql_stmt_errno(st) : mysql_errno(m);
  const char *msg = st ? mysql_stmt_error(st) : mysql_error(m);
  lw_badval bv;
  if (s->c->bad_values == BAD_REJECT &&
      load_value_complaint("Error", code, msg, &bv.row, bv.column, sizeof bv.column)) {
    *row = bv.row ? bv.row : n == 1 ? 1 : 0;
    bv.code = code;
    bv.error = 1;
    snprintf(bv.msg, sizeof bv.msg, "%s", msg);
    s->nbv = 0;
    if (load_grow((void **)&s->bv, &s->bv_cap, 1, sizeof *s->bv))
      return lw_fail(s, DBFORK_ENOMEM, "out of memory");
    s->bv[s->nbv++] = bv;
    return 1;
  }
  lw_sql_failure(s, code, st ? mysql_stmt_sqlstate(st) : mysql_sqlstate(m), msg);
  return LW_FAILED;
}

static uint64_t affected(lw *s, MYSQL *m, int prepared) {
  return prepared ? mysql_stmt_affected_rows(s->stmt) : mysql_affected_rows(m);
}

/* Row by row, when the server refused a value of a multi-row INSERT but
 * named no row (a NULL into a NOT NULL column, 1048). */
static int rows_one_by_one(lw *s, MYSQL *m) {
  unsigned r = 0;
  while (r < s->rows_in_batch) {
    uint64_t row;
    int rc, k;
    if (savepoint(s, m, "SAVEPOINT dbfork_row")) return LW_FAILED;
    if ((rc = exec_text(s, m, r, 1)) < 0) return LW_FAILED;
    if (rc) {
      if (error_value(s, m, NULL, 1, &row) < 0) return LW_FAILED;
    } else if ((k = lw_scan_warnings(s, m)) == 0) {
      s->inserted += mysql_affected_rows(m);
      lw_warnings_keep(s, s->brow + r, 1, 0);
      r++;
      continue;
    } else if (savepoint(s, m, "ROLLBACK TO SAVEPOINT dbfork_row")) {
      return LW_FAILED;
    }
    if (lw_reject_value(s, s->brow[r], &s->bv[0])) return LW_FAILED;
    drop_row(s, r);
  }
  return 0;
}

/* Executes the rows gathered so far (a full batch, or the tail), leaving
 * out those whose values the server refuses. */
int sink_flush_batch(lw *s) {
  const load_conf *c = s->c;
  MYSQL *m = dbfork_worker_mysql(s->w);
  int reject = c->bad_values == BAD_REJECT, pass;
  for (pass = 0; s->rows_in_batch; pass++) {
    unsigned n = s->rows_in_batch;
    int prepared = n == c->batch, rc, k;
    uint64_t row = 0;
    size_t i;
    if (reject && savepoint(s, m, "SAVEPOINT dbfork_batch")) return -1;
    rc = prepared ? exec_prepared(s) : exec_text(s, m, 0, n);
    if (rc < 0) return -1;
    if (rc) {
      /* A statement that failed was rolled back by itself. */
      if (error_value(s, m, prepared ? s->stmt : NULL, n, &row) < 0) return -1;
      if (!row || row > n) {
        if (rows_one_by_one(s, m)) return -1;
        break;
      }
      if (lw_reject_value(s, s->brow[row - 1], &s->bv[0])) return -1;
      drop_row(s, (unsigned)row - 1);
      continue;
    }
    if ((k = lw_scan_warnings(s, m)) == 0) {
      s->inserted += affected(s, m, prepared);
      lw_warnings_keep(s, s->brow, n, 0);
      break;
    }
    if (savepoint(s, m, "ROLLBACK TO SAVEPOINT dbfork_batch")) return -1;
    if (k < 0) {
      if (rows_one_by_one(s, m)) return -1;
      break;
    }
    if (pass + 1 >= MAX_PASSES)
      return lw_fail(s, DBFORK_ETASK, "%s: values kept being refused after %d passes", c->path,
                     MAX_PASSES);
    /* The rejects in file order, then the rows out from the last (drop_row
     * moves the rows after the one it drops). */
    distinct_rows(s);
    for (i = 0; i < s->nbv; i++)
      if (s->bv[i].row && s->bv[i].row <= n &&
          lw_reject_value(s, s->brow[s->bv[i].row - 1], &s->bv[i]))
        return -1;
    for (i = s->nbv; i-- > 0;)
      if (s->bv[i].row && s->bv[i].row <= n) drop_row(s, (unsigned)s->bv[i].row - 1);
  }
  s->rows_in_batch = 0;
  s->arena.len = 0;
  return 0;
}

int sink_insert_row(lw *s, const csv_record *rec) {
  const load_conf *c = s->c;
  int j;
  for (j = 0; j < c->nph; j++) {
    const csv_field *f = &rec->fields[c->ph_field[j]];
    size_t k = (size_t)s->rows_in_batch * c->nph + (size_t)j;
    s->offs[k] = s->arena.len;
    s->lens[k] = (unsigned long)f->len;
    s->nulls[k] = (load_bool)f->null;
    if (load_buf_add(&s->arena, f->ptr, f->len)) return lw_fail(s, DBFORK_ENOMEM, "out of memory");
  }
  s->brow[s->rows_in_batch] = s->nlines - 1;
  if (++s->rows_in_batch == c->batch && sink_flush_batch(s)) return -1;
  return 0;
}

int sink_insert_alloc(lw *s) {
  const load_conf *c = s->c;
  size_t nb = (size_t)c->batch * (size_t)c->nph;
  if (s->binds) return 0;
  s->binds = calloc(nb, sizeof *s->binds);
  s->lens = calloc(nb, sizeof *s->lens);
  s->nulls = calloc(nb, sizeof *s->nulls);
  s->offs = calloc(nb, sizeof *s->offs);
  s->brow = calloc(c->batch, sizeof *s->brow);
  if (!s->binds || !s->lens || !s->nulls || !s->offs || !s->brow)
    return lw_fail(s, DBFORK_ENOMEM, "out of memory for %zu bound values", nb);
  return 0;
}

int sink_insert(lw *s, uint64_t *loaded) {
  int r;
  if ((r = sink_insert_alloc(s))) return r;
  while ((r = lw_next(s)) != CSV_END)
    if (r == LW_FAILED) return s->fail_rc ? s->fail_rc : DBFORK_ESQL;
  if (sink_flush_batch(s)) return s->fail_rc ? s->fail_rc : DBFORK_ESQL;
  *loaded = s->inserted;
  return 0;
}
