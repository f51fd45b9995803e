/*
 * bulk.c — the third way a part's good records reach the server: MariaDB's
 * array binding. One prepared one-row INSERT (the insert method's, setup.c)
 * is executed for a whole batch at once (STMT_ATTR_ARRAY_SIZE: one
 * COM_STMT_BULK_EXECUTE per batch), its parameters bound column by column
 * as arrays of pointers, lengths and indicators.
 *
 * What makes it cheap on the client is that nothing is copied to bind a
 * value: a field the parser did not have to decode (no escape, no doubled
 * quote: nearly all of them) is bound where it lies in the part's buffer,
 * which stays put for the whole part; only a decoded field (which lives in
 * the parser's scratch until the next record) is copied, into `dec`. NULL
 * (\N, or NULL / empty as the dialect says) is STMT_INDICATOR_NULL.
 *
 * The server's word on a batch decides the rest: each batch runs after a
 * savepoint, and if it fails or leaves any warning at all, it is rolled
 * back to that savepoint and the same rows go through the insert method's
 * path (sink.c: the multi-row INSERT, its reject passes, the warnings'
 * rows mapped to file lines). So whatever the server had to say about a
 * batch, the part ends exactly as with --method insert; the bulk path only
 * takes batches the server accepted silently. A failure the savepoint does
 * not survive (a deadlock, a lost connection) fails the part with the
 * server's error, to be retried as any other.
 */
#include "worker.h"

#include <stdlib.h>
#include <string.h>

#ifdef MARIADB_CLIENT_STMT_BULK_OPERATIONS

int load_bulk_supported(MYSQL *m) {
  unsigned long caps = 0;
  if (mysql_get_server_version(m) < 100200) return 0;
  if (mariadb_get_infov(m, MARIADB_CONNECTION_EXTENDED_SERVER_CAPABILITIES, &caps)) return 0;
  /* Connector/C keeps the extended capabilities shifted down by 32 bits. */
  return (caps & (unsigned long)(MARIADB_CLIENT_STMT_BULK_OPERATIONS >> 32)) != 0;
}

void sink_bulk_close(lw *s) {
  if (s->bstmt) mysql_stmt_close(s->bstmt);
  s->bstmt = NULL;
}

static int alloc_arrays(lw *s) {
  const load_conf *c = s->c;
  size_t nb = (size_t)c->batch * (size_t)c->nph;
  int j, rc;
  if ((rc = sink_insert_alloc(s))) return rc; /* brow, and the fallback's arrays */
  if (s->bbinds) return 0;
  s->bbinds = calloc((size_t)c->nph, sizeof *s->bbinds);
  s->bval = calloc(nb, sizeof *s->bval);
  s->blen = calloc(nb, sizeof *s->blen);
  s->bind = calloc(nb, 1);
  s->bfix = calloc(nb, sizeof *s->bfix);
  s->bfoff = calloc(nb, sizeof *s->bfoff);
  if (!s->bbinds || !s->bval || !s->blen || !s->bind || !s->bfix || !s->bfoff)
    return lw_fail(s, DBFORK_ENOMEM, "out of memory for %zu bound values", nb);
  for (j = 0; j < c->nph; j++) {
    MYSQL_BIND *b = &s->bbinds[j];
    size_t col = (size_t)j * c->batch;
    b->buffer_type = MYSQL_TYPE_STRING;
    b->buffer = (void *)(s->bval + col);
    b->length = s->blen + col;
    b->u.indicator = s->bind + col;
  }
  return 0;
}

static int prepare(lw *s) {
  MYSQL *m = dbfork_worker_mysql(s->w);
  char *sql = sink_insert_sql(s->c, 1);
  if (!sql || !(s->bstmt = mysql_stmt_init(m))) {
    free(sql);
    return lw_fail(s, DBFORK_ENOMEM, "out of memory preparing an INSERT");
  }
  if (mysql_stmt_prepare(s->bstmt, sql, (unsigned long)strlen(sql))) {
    lw_sql_failure(s, mysql_stmt_errno(s->bstmt), mysql_stmt_sqlstate(s->bstmt),
                   mysql_stmt_error(s->bstmt));
    free(sql);
    sink_bulk_close(s);
    return -1;
  }
  free(sql);
  return 0;
}

/* The batch as the insert method holds one (arena, offs, lens, nulls), for
 * its path. */
static int to_insert_batch(lw *s, unsigned n) {
  const load_conf *c = s->c;
  unsigned r;
  int j;
  s->arena.len = 0;
  for (r = 0; r < n; r++)
    for (j = 0; j < c->nph; j++) {
      size_t slot = (size_t)j * c->batch + r, i = (size_t)r * c->nph + (size_t)j;
      int null = s->bind[slot] == STMT_INDICATOR_NULL;
      s->offs[i] = s->arena.len;
      s->lens[i] = null ? 0 : s->blen[slot];
      s->nulls[i] = (load_bool)null;
      if (!null && load_buf_add(&s->arena, s->bval[slot], s->blen[slot]))
        return lw_fail(s, DBFORK_ENOMEM, "out of memory");
    }
  s->rows_in_batch = n;
  return 0;
}

static int query(lw *s, MYSQL *m, const char *sql) {
  if (mysql_query(m, sql)) {
    lw_sql_failure(s, mysql_errno(m), mysql_sqlstate(m), mysql_error(m));
    return -1;
  }
  return 0;
}

/* The rows gathered so far, by one bulk execution if the server takes
 * them silently, else by the insert method's path. 0 or -1 (fail_rc). */
static int flush(lw *s) {
  MYSQL *m = dbfork_worker_mysql(s->w);
  unsigned n = s->rows_in_batch;
  size_t k;
  int failed;
  if (!n) return 0;
  for (k = 0; k < s->nbfix; k++) s->bval[s->bfix[k]] = s->dec.p + s->bfoff[k];
  if (!s->bstmt && prepare(s)) return -1;
  if (query(s, m, "SAVEPOINT dbfork_bulk")) return -1;
  failed = mysql_stmt_attr_set(s->bstmt, STMT_ATTR_ARRAY_SIZE, &n) ||
           mysql_stmt_bind_param(s->bstmt, s->bbinds) || mysql_stmt_execute(s->bstmt);
  if (!failed && !mysql_stmt_warning_count(s->bstmt)) {
    s->inserted += mysql_stmt_affected_rows(s->bstmt);
  } else {
    unsigned int code = mysql_stmt_errno(s->bstmt);
    char state[6], msg[512];
    memcpy(state, mysql_stmt_sqlstate(s->bstmt), sizeof state);
    state[5] = 0;
    snprintf(msg, sizeof msg, "%s", mysql_stmt_error(s->bstmt));
    if (mysql_query(m, "ROLLBACK TO SAVEPOINT dbfork_bulk")) {
      /* The error took the transaction with it (a deadlock), or the
       * connection: the part fails with the server's first word. */
      if (failed) return lw_sql_failure(s, code, state, msg), -1;
      return lw_sql_failure(s, mysql_errno(m), mysql_sqlstate(m), mysql_error(m)), -1;
    }
    if (to_insert_batch(s, n) || sink_flush_batch(s)) return -1;
  }
  s->rows_in_batch = 0;
  s->nbfix = 0;
  s->dec.len = 0;
  return 0;
}

int sink_bulk_row(lw *s, const csv_record *rec) {
  const load_conf *c = s->c;
  const char *lo = s->buf, *hi = s->buf + s->cap;
  unsigned r = s->rows_in_batch;
  int j;
  for (j = 0; j < c->nph; j++) {
    const csv_field *f = &rec->fields[c->ph_field[j]];
    size_t slot = (size_t)j * c->batch + r;
    s->blen[slot] = (unsigned long)f->len;
    if (f->null) {
      s->bind[slot] = STMT_INDICATOR_NULL;
      continue;
    }
    s->bind[slot] = STMT_INDICATOR_NONE;
    if (f->ptr >= lo && f->ptr < hi) {
      s->bval[slot] = f->ptr; /* in place: the part's buffer stays put */
      continue;
    }
    /* Decoded into the parser's scratch, which the next record reuses. */
    s->bfix[s->nbfix] = slot;
    s->bfoff[s->nbfix++] = s->dec.len;
    if (load_buf_add(&s->dec, f->ptr, f->len)) return lw_fail(s, DBFORK_ENOMEM, "out of memory");
  }
  s->brow[r] = s->nlines - 1;
  if (++s->rows_in_batch == c->batch && flush(s)) return -1;
  return 0;
}

int sink_bulk(lw *s, uint64_t *loaded) {
  int r;
  if ((r = alloc_arrays(s))) return r;
  s->nbfix = 0;
  s->dec.len = 0;
  while ((r = lw_next(s)) != CSV_END)
    if (r == LW_FAILED) return s->fail_rc ? s->fail_rc : DBFORK_ESQL;
  if (flush(s)) return s->fail_rc ? s->fail_rc : DBFORK_ESQL;
  *loaded = s->inserted;
  return 0;
}

#else /* not MariaDB Connector/C: no array binding */

int load_bulk_supported(MYSQL *m) {
  (void)m;
  return 0;
}

void sink_bulk_close(lw *s) { (void)s; }

int sink_bulk_row(lw *s, const csv_record *rec) {
  (void)rec;
  return lw_fail(s, DBFORK_ETASK, "--method=bulk needs MariaDB Connector/C");
}

int sink_bulk(lw *s, uint64_t *loaded) {
  (void)loaded;
  return lw_fail(s, DBFORK_ETASK, "--method=bulk needs MariaDB Connector/C");
}

#endif
