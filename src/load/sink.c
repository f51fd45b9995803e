/*
 * sink.c — the two ways a part's good records reach the server.
 *
 * load-data streams them into one LOAD DATA LOCAL INFILE statement through
 * a local-infile handler (no temporary file): the server asks for bytes,
 * the handler parses just enough of the part to hand it a run of good
 * records straight from the part's buffer, leaving bad records out. The
 * statement is fixed per load (setup.c), so the server parses exactly the
 * bytes the parser accepted, with the same dialect.
 *
 * insert binds the fields of each batch of records to a prepared multi-row
 * INSERT (prepared once per connection), and sends a short tail batch as
 * one text INSERT with escaped values.
 *
 * Both collect the server's warnings with the file line of the record they
 * name.
 */
#include "worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Counts the server's warnings of the statement just run and keeps up to
 * LOAD_WARN_KEEP messages per part, each with the file line of the record
 * it names: "at row N" counts from the statement's first row, which is
 * good record number `first` (0-based) of the part. The insert method
 * calls this after every INSERT (the next one clears them), load-data once. */
static void collect_warnings(lw *s, MYSQL *m, size_t first) {
  unsigned int count = mysql_warning_count(m);
  MYSQL_RES *r;
  MYSQL_ROW row;
  char sql[64];
  if (!count) return;
  s->warnings += count;
  if (s->warn_kept >= LOAD_WARN_KEEP) return;
  snprintf(sql, sizeof sql, "SHOW WARNINGS LIMIT %d", LOAD_WARN_KEEP - s->warn_kept);
  if (mysql_query(m, sql) || !(r = mysql_store_result(m))) return;
  while ((row = mysql_fetch_row(r)) && s->warn_kept < LOAD_WARN_KEEP) {
    const char *msg = row[2] ? row[2] : "";
    const char *at = strstr(msg, "at row ");
    uint64_t line = s->p.first_line;
    if (at) {
      unsigned long long rn = strtoull(at + 7, NULL, 10);
      if (rn >= 1 && first + rn <= s->nlines) line = s->lines[first + rn - 1];
    }
    load_reply_warning(&s->reply, line, msg, strlen(msg));
    s->warn_kept++;
  }
  mysql_free_result(r);
}

/* ---- load-data ---- */

static int infile_init(void **ptr, const char *name, void *ud) {
  (void)name;
  *ptr = ud;
  return 0;
}

/* The LOAD DATA LOCAL stream: parses on demand and sends runs of good
 * records straight from the part's buffer; a rejected record is left out. */
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
    if (s->stream_done) break;
    /* Gather a run of consecutive good records worth about one buffer. */
    s->emit = s->span_end = s->pos;
    while (s->span_end - s->emit < len - out) {
      r = lw_next(s);
      if (r == CSV_OK) {
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

int sink_load_data(lw *s, uint64_t *loaded) {
  MYSQL *m = dbfork_worker_mysql(s->w);
  /* One statement streams the whole part; infile_read validates as the
   * server asks for more. (A part of only rejected records loads 0 rows.) */
  mysql_set_local_infile_handler(m, infile_init, infile_read, infile_end, infile_error, s);
  if (mysql_query(m, s->c->load_sql)) {
    if (s->fail_rc) return s->fail_rc; /* our stream failed: detail set */
    return lw_sql_failure(s, mysql_errno(m), mysql_sqlstate(m), mysql_error(m));
  }
  if (!s->stream_done)
    return lw_fail(s, DBFORK_ETASK, "%s: the server stopped reading chunk %llu before its end",
                   s->c->path, (unsigned long long)s->p.chunk);
  *loaded = mysql_affected_rows(m);
  if (s->c->dup == DUP_ERROR && *loaded != s->nlines) return duplicate_failure(s, m, *loaded);
  collect_warnings(s, m, 0);
  return 0;
}

/* ---- insert ---- */

void sink_close(lw *s) {
  if (s->stmt) mysql_stmt_close(s->stmt);
  s->stmt = NULL;
}

/* The INSERT for `rows` rows of placeholders (the full batch). */
static char *insert_sql(const load_conf *c, unsigned rows) {
  load_buf b = {0};
  unsigned r;
  int k;
  if (load_buf_str(&b, c->ins_head, NULL)) goto oom;
  for (r = 0; r < rows; r++) {
    if (load_buf_str(&b, r ? ",(" : " (", NULL)) goto oom;
    for (k = 0; k < c->ncols; k++)
      if (load_buf_str(&b, k ? ",?" : "?", NULL)) goto oom;
    if (load_buf_str(&b, ")", NULL)) goto oom;
  }
  if (load_buf_str(&b, c->dup_sql, NULL)) goto oom;
  return b.p;
oom:
  free(b.p);
  return NULL;
}

static MYSQL_STMT *prepare(lw *s, unsigned rows) {
  MYSQL *m = dbfork_worker_mysql(s->w);
  MYSQL_STMT *st = mysql_stmt_init(m);
  char *sql = insert_sql(s->c, rows);
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

/* A short tail batch goes as one text INSERT with escaped values: a
 * prepared statement for a row count used once would cost a prepare, an
 * execute and a close (three round trips) instead of one. */
static int flush_tail_text(lw *s) {
  const load_conf *c = s->c;
  MYSQL *m = dbfork_worker_mysql(s->w);
  unsigned r;
  int k;
  s->text.len = 0;
  if (load_buf_str(&s->text, c->ins_head, NULL)) goto oom;
  for (r = 0; r < s->rows_in_batch; r++) {
    if (load_buf_add(&s->text, r ? ",(" : " (", 2)) goto oom;
    for (k = 0; k < c->ncols; k++) {
      size_t i = (size_t)r * c->ncols + k;
      if (k && load_buf_add(&s->text, ",", 1)) goto oom;
      if (s->nulls[i]) {
        if (load_buf_add(&s->text, "NULL", 4)) goto oom;
        continue;
      }
      /* Room for the worst case: every byte escaped, plus quotes. */
      if (load_buf_add(&s->text, "'", 1) || load_buf_reserve(&s->text, (size_t)s->lens[i] * 2 + 2))
        goto oom;
      s->text.len +=
          mysql_real_escape_string(m, s->text.p + s->text.len, s->arena.p + s->offs[i], s->lens[i]);
      if (load_buf_add(&s->text, "'", 1)) goto oom;
    }
    if (load_buf_add(&s->text, ")", 1)) goto oom;
  }
  if (load_buf_str(&s->text, c->dup_sql, NULL)) goto oom;
  if (mysql_real_query(m, s->text.p, (unsigned long)s->text.len)) {
    lw_sql_failure(s, mysql_errno(m), mysql_sqlstate(m), mysql_error(m));
    return -1;
  }
  s->inserted += mysql_affected_rows(m);
  collect_warnings(s, m, s->nlines - s->rows_in_batch);
  s->rows_in_batch = 0;
  s->arena.len = 0;
  return 0;
oom:
  lw_fail(s, DBFORK_ENOMEM, "out of memory building an INSERT");
  return -1;
}

/* Executes the rows gathered so far (a full batch, or the tail). */
static int flush_batch(lw *s) {
  const load_conf *c = s->c;
  MYSQL_STMT *st;
  unsigned r, n = s->rows_in_batch;
  int k;
  if (!n) return 0;
  if (n != c->batch) return flush_tail_text(s);
  if (!s->stmt && !(s->stmt = prepare(s, n))) return -1;
  st = s->stmt;
  for (r = 0; r < n; r++)
    for (k = 0; k < c->ncols; k++) {
      size_t i = (size_t)r * c->ncols + k;
      MYSQL_BIND *b = &s->binds[i];
      memset(b, 0, sizeof *b);
      b->buffer_type = MYSQL_TYPE_STRING;
      b->buffer = s->arena.p + s->offs[i];
      b->buffer_length = s->lens[i];
      b->length = &s->lens[i];
      b->is_null = &s->nulls[i];
    }
  if (mysql_stmt_bind_param(st, s->binds) || mysql_stmt_execute(st)) {
    lw_sql_failure(s, mysql_stmt_errno(st), mysql_stmt_sqlstate(st), mysql_stmt_error(st));
    return -1;
  }
  s->inserted += mysql_stmt_affected_rows(st);
  collect_warnings(s, dbfork_worker_mysql(s->w), s->nlines - n);
  s->rows_in_batch = 0;
  s->arena.len = 0;
  return 0;
}

int sink_insert_row(lw *s, const csv_record *rec) {
  const load_conf *c = s->c;
  size_t i;
  for (i = 0; i < rec->nfields; i++) {
    size_t k = (size_t)s->rows_in_batch * c->ncols + i;
    s->offs[k] = s->arena.len;
    s->lens[k] = (unsigned long)rec->fields[i].len;
    s->nulls[k] = (load_bool)rec->fields[i].null;
    if (load_buf_add(&s->arena, rec->fields[i].ptr, rec->fields[i].len))
      return lw_fail(s, DBFORK_ENOMEM, "out of memory");
  }
  if (++s->rows_in_batch == c->batch && flush_batch(s)) return -1;
  return 0;
}

int sink_insert(lw *s, uint64_t *loaded) {
  const load_conf *c = s->c;
  int r;
  if (!s->binds) {
    size_t nb = (size_t)c->batch * c->ncols;
    s->binds = calloc(nb, sizeof *s->binds);
    s->lens = calloc(nb, sizeof *s->lens);
    s->nulls = calloc(nb, sizeof *s->nulls);
    s->offs = calloc(nb, sizeof *s->offs);
    if (!s->binds || !s->lens || !s->nulls || !s->offs)
      return lw_fail(s, DBFORK_ENOMEM, "out of memory for %zu bound values", nb);
  }
  while ((r = lw_next(s)) != CSV_END)
    if (r == LW_FAILED) return s->fail_rc ? s->fail_rc : DBFORK_ESQL;
  if (flush_batch(s)) return s->fail_rc ? s->fail_rc : DBFORK_ESQL;
  *loaded = s->inserted;
  return 0;
}
