/*
 * key.c — the table's key and the SQL of the plan: which columns chunk the
 * table (the primary key in its column order, or --chunk-column's unique
 * index), key values as SQL literals, the condition {chunk} becomes, and
 * the boundary query that cuts the next chunk from the index. Also the
 * check of the statements on the first chunk (PREPARE).
 *
 * Why the condition is spelled out: `(a, b) > (x, y)` is what it means,
 * but optimizers have not always made a range scan of a row comparison;
 * `a >= x AND (a > x OR (a = x AND b > y))` is one on every server, with
 * the leading `a >= x` bounding the first column for the range optimizer.
 */
#include "execint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void exec_tuple_clear(exec_tuple *t) {
  int i;
  for (i = 0; i < t->n; i++) free(t->lit[i]);
  t->n = 0;
}

int exec_tuple_copy(exec_tuple *dst, const exec_tuple *src) {
  int i;
  exec_tuple_clear(dst);
  for (i = 0; i < src->n; i++) {
    if (!(dst->lit[i] = strdup(src->lit[i]))) {
      dst->n = i;
      exec_tuple_clear(dst);
      return -1;
    }
  }
  dst->n = src->n;
  return 0;
}

/* `name` with backticks doubled, quoted. */
static void quote_ident(const char *in, char *out, size_t outlen) {
  size_t o = 0;
  if (outlen < 3) return;
  out[o++] = '`';
  for (; *in && o + 3 < outlen; in++) {
    if (*in == '`') out[o++] = '`';
    out[o++] = *in;
  }
  out[o++] = '`';
  out[o] = 0;
}

/* 'in', escaped for the parent's connection, into a malloc'ed literal. */
static char *string_lit(MYSQL *m, const char *in, size_t n) {
  char *out = malloc(2 * n + 3);
  unsigned long k;
  if (!out) return NULL;
  out[0] = '\'';
  k = mysql_real_escape_string(m, out + 1, in, (unsigned long)n);
  out[1 + k] = '\'';
  out[2 + k] = 0;
  return out;
}

static char *lit_of(const exec_conf *c, MYSQL *m, int col, const char *v, size_t n) {
  char *out;
  size_t i;
  if (c->knum[col] == 1) {
    if (!(out = malloc(n + 1))) return NULL;
    memcpy(out, v, n);
    out[n] = 0;
    return out;
  }
  if (c->knum[col] == 2) {
    static const char hx[] = "0123456789ABCDEF";
    if (!(out = malloc(2 * n + 4))) return NULL;
    out[0] = 'X';
    out[1] = '\'';
    for (i = 0; i < n; i++) {
      out[2 + 2 * i] = hx[(unsigned char)v[i] >> 4];
      out[3 + 2 * i] = hx[(unsigned char)v[i] & 15];
    }
    out[2 + 2 * n] = '\'';
    out[3 + 2 * n] = 0;
    return out;
  }
  return string_lit(m, v, n);
}

static int sql_fail(dbfork_exec *x, const char *what) {
  return exec_set_err(x, DBFORK_ESQL, "%s: %s (MySQL error %u)", what, mysql_error(x->m),
                      mysql_errno(x->m));
}

int exec_find_table(dbfork_exec *x, const char *opt, const char *defdb) {
  exec_conf *c = &x->c;
  const char *dot = strchr(opt, '.');
  char e1[300], e2[300], sql[1024];
  uint64_t has = 0, trx = 0;
  if (dot) {
    snprintf(c->db_plain, sizeof c->db_plain, "%.*s", (int)(dot - opt), opt);
    snprintf(c->table_plain, sizeof c->table_plain, "%s", dot + 1);
  } else if (defdb) {
    snprintf(c->db_plain, sizeof c->db_plain, "%s", defdb);
    snprintf(c->table_plain, sizeof c->table_plain, "%s", opt);
  } else {
    return exec_set_err(x, DBFORK_EINVAL,
                        "option --table: '%s' has no database, and the connection has none "
                        "(use DB.TABLE or -D)",
                        opt);
  }
  if (!c->db_plain[0] || !c->table_plain[0] || strlen(c->db_plain) > 64 ||
      strlen(c->table_plain) > 64)
    return exec_set_err(x, DBFORK_EINVAL, "option --table: '%s' is not DB.TABLE", opt);
  {
    char qd[140], qt[140];
    quote_ident(c->db_plain, qd, sizeof qd);
    quote_ident(c->table_plain, qt, sizeof qt);
    snprintf(c->table, sizeof c->table, "%s.%s", qd, qt);
  }
  mysql_real_escape_string(x->m, e1, c->db_plain, (unsigned long)strlen(c->db_plain));
  mysql_real_escape_string(x->m, e2, c->table_plain, (unsigned long)strlen(c->table_plain));
  snprintf(sql, sizeof sql,
           "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA='%s' AND "
           "TABLE_NAME='%s'",
           e1, e2);
  if (exec_query_u64(x, sql, &has, "looking up the table")) return DBFORK_ESQL;
  if (!has)
    return exec_set_err(x, DBFORK_EINVAL, "option --table: table %s.%s does not exist", c->db_plain,
                        c->table_plain);
  snprintf(sql, sizeof sql,
           "SELECT COUNT(*) FROM information_schema.TABLES t JOIN information_schema.ENGINES e "
           "ON e.ENGINE = t.ENGINE WHERE t.TABLE_SCHEMA='%s' AND t.TABLE_NAME='%s' AND "
           "e.TRANSACTIONS='YES'",
           e1, e2);
  if (exec_query_u64(x, sql, &trx, "looking up the table's engine")) return DBFORK_ESQL;
  if (!trx)
    return exec_set_err(x, DBFORK_EINVAL,
                        "option --table: %s.%s is not on a transactional engine (InnoDB): a "
                        "chunk could not be rolled back",
                        c->db_plain, c->table_plain);
  snprintf(sql, sizeof sql,
           "SELECT IFNULL(TABLE_ROWS, 0) FROM information_schema.TABLES WHERE TABLE_SCHEMA='%s' "
           "AND TABLE_NAME='%s'",
           e1, e2);
  if (exec_query_u64(x, sql, &x->st.rows_estimate, "estimating the table's rows"))
    return DBFORK_ESQL;
  return 0;
}

static int type_kind(const char *t) {
  static const char *const num[] = {"tinyint", "smallint", "mediumint", "int",   "integer",
                                    "bigint",  "decimal",  "numeric",   "float", "double",
                                    "real",    "year",     "bit",       NULL};
  static const char *const bin[] = {"binary",     "varbinary", "tinyblob", "blob",
                                    "mediumblob", "longblob",  NULL};
  int i;
  for (i = 0; num[i]; i++)
    if (!strcmp(t, num[i])) return 1;
  for (i = 0; bin[i]; i++)
    if (!strcmp(t, bin[i])) return 2;
  return 0;
}

int exec_find_key(dbfork_exec *x) {
  exec_conf *c = &x->c;
  char e1[300], e2[300], e3[300], sql[2048], index[130] = "";
  MYSQL_RES *r;
  MYSQL_ROW row;
  const char *col = x->eo.chunk_column;
  mysql_real_escape_string(x->m, e1, c->db_plain, (unsigned long)strlen(c->db_plain));
  mysql_real_escape_string(x->m, e2, c->table_plain, (unsigned long)strlen(c->table_plain));
  if (col) {
    if (strlen(col) > 64)
      return exec_set_err(x, DBFORK_EINVAL, "option --chunk-column: '%s' is too long", col);
    mysql_real_escape_string(x->m, e3, col, (unsigned long)strlen(col));
    /* A unique index whose only column is col, the primary key first. */
    snprintf(sql, sizeof sql,
             "SELECT s.INDEX_NAME FROM information_schema.STATISTICS s WHERE "
             "s.TABLE_SCHEMA='%s' AND s.TABLE_NAME='%s' AND s.NON_UNIQUE=0 GROUP BY s.INDEX_NAME "
             "HAVING COUNT(*)=1 AND MAX(s.COLUMN_NAME)='%s' ORDER BY s.INDEX_NAME<>'PRIMARY', "
             "s.INDEX_NAME LIMIT 1",
             e1, e2, e3);
    if (mysql_query(x->m, sql) || !(r = mysql_store_result(x->m)))
      return sql_fail(x, "looking up --chunk-column's index");
    if ((row = mysql_fetch_row(r)) && row[0]) snprintf(index, sizeof index, "%s", row[0]);
    mysql_free_result(r);
    if (!index[0])
      return exec_set_err(x, DBFORK_EINVAL,
                          "option --chunk-column: %s.%s has no unique index on column '%s' "
                          "alone",
                          c->db_plain, c->table_plain, col);
  } else {
    snprintf(index, sizeof index, "PRIMARY");
  }
  mysql_real_escape_string(x->m, e3, index, (unsigned long)strlen(index));
  snprintf(sql, sizeof sql,
           "SELECT s.COLUMN_NAME, c.DATA_TYPE, c.IS_NULLABLE FROM information_schema.STATISTICS "
           "s JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA=s.TABLE_SCHEMA AND "
           "c.TABLE_NAME=s.TABLE_NAME AND c.COLUMN_NAME=s.COLUMN_NAME WHERE s.TABLE_SCHEMA='%s' "
           "AND s.TABLE_NAME='%s' AND s.INDEX_NAME='%s' ORDER BY s.SEQ_IN_INDEX",
           e1, e2, e3);
  if (mysql_query(x->m, sql) || !(r = mysql_store_result(x->m)))
    return sql_fail(x, "reading the table's key");
  c->nkey = 0;
  while ((row = mysql_fetch_row(r))) {
    if (c->nkey == EXEC_MAX_KEY) {
      mysql_free_result(r);
      return exec_set_err(x, DBFORK_EINVAL, "table %s.%s: a key of more than %d columns",
                          c->db_plain, c->table_plain, EXEC_MAX_KEY);
    }
    if (row[2] && !strcmp(row[2], "YES")) {
      mysql_free_result(r);
      return exec_set_err(x, DBFORK_EINVAL,
                          "option --chunk-column: column '%s' of %s.%s may be NULL: it cannot "
                          "chunk the table",
                          row[0], c->db_plain, c->table_plain);
    }
    snprintf(c->kname[c->nkey], sizeof c->kname[0], "%s", row[0]);
    quote_ident(row[0], c->kq[c->nkey], sizeof c->kq[0]);
    c->knum[c->nkey] = type_kind(row[1] ? row[1] : "");
    c->nkey++;
  }
  mysql_free_result(r);
  if (!c->nkey)
    return exec_set_err(x, DBFORK_EINVAL,
                        "table %s.%s has no primary key to chunk it by; name the column of a "
                        "unique index on a NOT NULL column with --chunk-column",
                        c->db_plain, c->table_plain);
  quote_ident(index, c->index, sizeof c->index);
  return 0;
}

/* The key columns, comma-separated, each followed by `suffix`. */
static void key_list(const exec_conf *c, char *out, size_t len, const char *suffix) {
  int i;
  size_t o = 0;
  out[0] = 0;
  for (i = 0; i < c->nkey && o < len; i++)
    o += (size_t)snprintf(out + o, len - o, "%s%s%s", i ? ", " : "", c->kq[i], suffix);
}

/* Reads one row of n key columns (and an optional count after them) into
 * t. 1 if there was a row, 0 if none, or a negative code (x->err). */
static int read_tuple(dbfork_exec *x, const char *sql, exec_tuple *t, uint64_t *count) {
  MYSQL_RES *r;
  MYSQL_ROW row;
  unsigned long *len;
  int i, got = 0;
  exec_tuple_clear(t);
  if (mysql_query(x->m, sql) || !(r = mysql_store_result(x->m)))
    return sql_fail(x, "reading keys from the index");
  if ((row = mysql_fetch_row(r)) && (len = mysql_fetch_lengths(r))) {
    got = 1;
    for (i = 0; i < x->c.nkey; i++) {
      if (!row[i] || !(t->lit[i] = lit_of(&x->c, x->m, i, row[i], len[i]))) {
        t->n = i;
        exec_tuple_clear(t);
        mysql_free_result(r);
        return exec_set_err(x, DBFORK_ENOMEM, "out of memory");
      }
      t->n = i + 1;
    }
    if (count) *count = row[x->c.nkey] ? strtoull(row[x->c.nkey], NULL, 10) : 0;
  }
  mysql_free_result(r);
  return got;
}

int exec_max_key(dbfork_exec *x, exec_tuple *t) {
  char keys[4096], desc[4096], sql[9000];
  key_list(&x->c, keys, sizeof keys, "");
  key_list(&x->c, desc, sizeof desc, " DESC");
  snprintf(sql, sizeof sql, "SELECT %s FROM %s FORCE INDEX (%s) ORDER BY %s LIMIT 1", keys,
           x->c.table, x->c.index, desc);
  {
    int rc = read_tuple(x, sql, t, NULL);
    return rc < 0 ? rc : 0;
  }
}

int exec_parse_until(dbfork_exec *x, const char *s, exec_tuple *t) {
  const char *p = s;
  int i = 0, more = 1;
  exec_tuple_clear(t);
  while (more && i < x->c.nkey) {
    size_t n = strcspn(p, ",");
    if (!(t->lit[i] = lit_of(&x->c, x->m, i, p, n)))
      return exec_set_err(x, DBFORK_ENOMEM, "out of memory");
    t->n = ++i;
    more = p[n] == ',';
    p += n + more;
  }
  if (i != x->c.nkey || more) {
    exec_tuple_clear(t);
    return exec_set_err(x, DBFORK_EINVAL,
                        "option --until-key: '%s' must be %d comma-separated value%s, the key "
                        "(%s%s) in order",
                        s, x->c.nkey, x->c.nkey == 1 ? "" : "s", x->c.kname[0],
                        x->c.nkey > 1 ? ", ..." : "");
  }
  return 0;
}

/* Appends to a growing buffer; 0 or -1. */
typedef struct sbuf {
  char *p;
  size_t len, cap;
  int oom;
} sbuf;
static void sb_add(sbuf *b, const char *s) {
  size_t n = strlen(s);
  if (b->oom) return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 256;
    char *np;
    while (cap < b->len + n + 1) cap *= 2;
    if (!(np = realloc(b->p, cap))) {
      b->oom = 1;
      return;
    }
    b->p = np;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n + 1);
  b->len += n;
}

/* k > from (lower, strict) or k <= to (upper), from column i on. */
static void bound(sbuf *b, const exec_conf *c, const exec_tuple *t, int i, int upper) {
  const char *op = upper ? (i == c->nkey - 1 ? " <= " : " < ") : " > ";
  if (i == c->nkey - 1) {
    sb_add(b, c->kq[i]);
    sb_add(b, op);
    sb_add(b, t->lit[i]);
    return;
  }
  sb_add(b, "(");
  sb_add(b, c->kq[i]);
  sb_add(b, op);
  sb_add(b, t->lit[i]);
  sb_add(b, " OR (");
  sb_add(b, c->kq[i]);
  sb_add(b, " = ");
  sb_add(b, t->lit[i]);
  sb_add(b, " AND ");
  bound(b, c, t, i + 1, upper);
  sb_add(b, "))");
}

char *exec_condition(const exec_conf *c, const exec_tuple *from, const exec_tuple *to) {
  sbuf b = {0};
  if (from && from->n) {
    if (c->nkey > 1) {
      sb_add(&b, c->kq[0]);
      sb_add(&b, " >= ");
      sb_add(&b, from->lit[0]);
      sb_add(&b, " AND ");
    }
    bound(&b, c, from, 0, 0);
    sb_add(&b, " AND ");
  }
  if (c->nkey > 1) {
    sb_add(&b, c->kq[0]);
    sb_add(&b, " <= ");
    sb_add(&b, to->lit[0]);
    sb_add(&b, " AND ");
  }
  bound(&b, c, to, 0, 1);
  if (b.oom) {
    free(b.p);
    return NULL;
  }
  return b.p;
}

char *exec_tuple_text(const exec_tuple *t) {
  sbuf b = {0};
  int i;
  sb_add(&b, "");
  for (i = 0; i < t->n; i++) {
    if (i) sb_add(&b, ",");
    sb_add(&b, t->lit[i]);
  }
  if (b.oom) {
    free(b.p);
    return NULL;
  }
  return b.p;
}

int exec_cut(dbfork_exec *x, const exec_tuple *from, uint64_t rows, exec_tuple *to,
             uint64_t *count) {
  char keys[4096], desc[4096], *cond, *sql = NULL;
  int rc;
  if (!x->until.n) return 0;
  if (rows < 1) rows = 1;
  if (!(cond = exec_condition(&x->c, from, &x->until)))
    return exec_set_err(x, DBFORK_ENOMEM, "out of memory");
  key_list(&x->c, keys, sizeof keys, "");
  key_list(&x->c, desc, sizeof desc, " DESC");
  /* The rows-th key after `from`: a range scan of `rows` entries of the
   * index from `from` on, read in place (LIMIT rows-1, 1 counts from the
   * seek, not from the start of the index; pt-online-schema-change's
   * nibbles do the same). Only when fewer keys are left before `until` is
   * the last of them and their count read (materialised: at most `rows`
   * keys, once per job). */
  rc = asprintf(&sql, "SELECT %s, %llu FROM %s FORCE INDEX (%s) WHERE %s ORDER BY %s LIMIT %llu, 1",
                keys, (unsigned long long)rows, x->c.table, x->c.index, cond, keys,
                (unsigned long long)(rows - 1));
  if (rc < 0) {
    free(cond);
    return exec_set_err(x, DBFORK_ENOMEM, "out of memory");
  }
  rc = read_tuple(x, sql, to, count);
  free(sql);
  if (rc) {
    free(cond);
    return rc;
  }
  rc = asprintf(&sql,
                "SELECT %s, COUNT(*) OVER () FROM (SELECT %s FROM %s FORCE INDEX (%s) WHERE %s "
                "ORDER BY %s LIMIT %llu) dbfork_chunk ORDER BY %s LIMIT 1",
                keys, keys, x->c.table, x->c.index, cond, keys, (unsigned long long)rows, desc);
  free(cond);
  if (rc < 0) return exec_set_err(x, DBFORK_ENOMEM, "out of memory");
  rc = read_tuple(x, sql, to, count);
  free(sql);
  return rc;
}

char *exec_tuple_store(const exec_tuple *t) {
  static const char hx[] = "0123456789abcdef";
  size_t n = 1, o = 0, k;
  int i;
  char *out;
  for (i = 0; i < t->n; i++) n += 2 * strlen(t->lit[i]) + 1;
  if (!(out = malloc(n))) return NULL;
  for (i = 0; i < t->n; i++) {
    if (i) out[o++] = ',';
    for (k = 0; t->lit[i][k]; k++) {
      out[o++] = hx[(unsigned char)t->lit[i][k] >> 4];
      out[o++] = hx[(unsigned char)t->lit[i][k] & 15];
    }
  }
  out[o] = 0;
  return out;
}

static int hexval(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  return -1;
}

int exec_tuple_load(exec_tuple *t, const char *s) {
  exec_tuple_clear(t);
  if (!*s) return 0;
  for (;;) {
    size_t n = strcspn(s, ","), k;
    char *lit;
    if (t->n == EXEC_MAX_KEY || (n & 1) || !(lit = malloc(n / 2 + 1))) goto bad;
    for (k = 0; k < n / 2; k++) {
      int hi = hexval(s[2 * k]), lo = hexval(s[2 * k + 1]);
      if (hi < 0 || lo < 0) {
        free(lit);
        goto bad;
      }
      lit[k] = (char)(hi << 4 | lo);
    }
    lit[n / 2] = 0;
    t->lit[t->n++] = lit;
    if (!s[n]) return 0;
    s += n + 1;
  }
bad:
  exec_tuple_clear(t);
  return -1;
}

int exec_check_statements(dbfork_exec *x) {
  char *cond = x->until.n ? exec_condition(&x->c, NULL, &x->until) : strdup("1 = 0");
  int i, rc = 0;
  if (!cond) return exec_set_err(x, DBFORK_ENOMEM, "out of memory");
  for (i = 0; i < x->c.nstmts && !rc; i++) {
    char *sql = exec_substitute(x->c.stmts[i], cond, strlen(cond));
    MYSQL_STMT *st = mysql_stmt_init(x->m);
    if (!sql || !st) {
      rc = exec_set_err(x, DBFORK_ENOMEM, "out of memory");
    } else if (mysql_stmt_prepare(st, sql, (unsigned long)strlen(sql))) {
      unsigned int code = mysql_stmt_errno(st);
      /* 1295: the statement cannot be prepared (it still runs). */
      if (code != 1295)
        rc = exec_set_err(x,
                          exec_access_denied(code) ? DBFORK_EACCES
                          : code < 2000            ? DBFORK_EINVAL
                                                   : DBFORK_ESQL,
                          "statement %d (%.60s%s): %s (MySQL error %u)", i + 1, x->c.stmts[i],
                          strlen(x->c.stmts[i]) > 60 ? "..." : "", mysql_stmt_error(st), code);
    } else if (mysql_stmt_param_count(st)) {
      rc = exec_set_err(x, DBFORK_EINVAL, "statement %d (%.60s%s): it has a '?' placeholder", i + 1,
                        x->c.stmts[i], strlen(x->c.stmts[i]) > 60 ? "..." : "");
    }
    if (st) mysql_stmt_close(st);
    free(sql);
  }
  free(cond);
  return rc;
}
