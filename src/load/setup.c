/*
 * setup.c — the parent's checks before anything is written, and the SQL a
 * load runs: the file (a readable regular file), the target table (exists,
 * its columns, a transactional engine), the column list, the INSERT and
 * LOAD DATA statements, and the line terminator of a CRLF file. Each
 * returns 0 or a DBFORK_E* code with a message naming the option (table,
 * columns, lines_terminated_by) or the file.
 */

#include "worker.h" /* load_buf */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

void load_sql_string(MYSQL *m, char *out, const char *in, size_t inlen) {
  out[0] = '\'';
  mysql_real_escape_string(m, out + 1, in, (unsigned long)inlen);
  strcat(out, "'");
}

int load_quote_ident(const char *in, char *out, size_t outlen, char *why, size_t whylen) {
  /* Accept db.table or table; each part 1..64 characters; anything but NUL
   * and control characters; backticks are doubled. */
  const char *dot = NULL, *p;
  size_t o = 0;
  int part = 0;
  if (!in || !*in) {
    snprintf(why, whylen, "empty table name");
    return -1;
  }
  if (strlen(in) > 129) {
    snprintf(why, whylen, "table name '%.40s...' is longer than 64 characters per part", in);
    return -1;
  }
  dot = strchr(in, '.');
  if (dot && strchr(dot + 1, '.')) {
    snprintf(why, whylen, "table name '%s' has more than one dot (use DB.TABLE)", in);
    return -1;
  }
  for (p = in;; p++) {
    if (p == in || (dot && p == dot + 1)) {
      if (o + 1 >= outlen) break;
      out[o++] = '`';
      part = 0;
    }
    if (*p == 0 || p == dot) {
      if (part == 0) {
        snprintf(why, whylen, "table name '%s' has an empty part", in);
        return -1;
      }
      if (o + 2 >= outlen) break;
      out[o++] = '`';
      if (*p == 0) {
        out[o] = 0;
        return 0;
      }
      out[o++] = '.';
      continue;
    }
    if ((unsigned char)*p < 0x20) {
      snprintf(why, whylen, "table name has a control character at position %d", (int)(p - in) + 1);
      return -1;
    }
    if (++part > 64) {
      snprintf(why, whylen, "a part of table name '%.40s' is longer than 64 characters", in);
      return -1;
    }
    if (*p == '`') {
      if (o + 1 >= outlen) break;
      out[o++] = '`';
    }
    if (o + 1 >= outlen) break;
    out[o++] = *p;
  }
  snprintf(why, whylen, "table name too long");
  return -1;
}

int load_quote_column(const char *in, char *out, size_t outlen, char *why, size_t whylen) {
  /* One name, never split: a column may hold dots, quotes, backticks and
   * any other character but NUL. The server's limit is 64 characters (not
   * bytes): count UTF-8 sequences by their lead bytes. */
  const unsigned char *p;
  size_t o = 0, chars = 0;
  if (!in || !*in) {
    snprintf(why, whylen, "empty column name");
    return -1;
  }
  for (p = (const unsigned char *)in; *p; p++) chars += (*p & 0xc0) != 0x80;
  if (chars > 64) {
    snprintf(why, whylen, "column name '%.40s...' is longer than 64 characters", in);
    return -1;
  }
  if (outlen < 3) goto too_long;
  out[o++] = '`';
  for (p = (const unsigned char *)in; *p; p++) {
    if (o + (*p == '`' ? 2 : 1) + 2 > outlen) goto too_long; /* + closing ` and NUL */
    if (*p == '`') out[o++] = '`';
    out[o++] = (char)*p;
  }
  out[o++] = '`';
  out[o] = 0;
  return 0;
too_long:
  snprintf(why, whylen, "column name '%.40s' does not fit in %zu bytes quoted", in, outlen);
  return -1;
}

int load_open_file(dbfork_load *l) {
  struct stat st;
  l->fd = open(l->lo.file, O_RDONLY | O_CLOEXEC);
  if (l->fd < 0 || fstat(l->fd, &st) < 0 || !realpath(l->lo.file, l->c.path))
    return load_set_err(l, DBFORK_EINVAL, "%s: %s", l->lo.file, strerror(errno));
  if (!S_ISREG(st.st_mode))
    return load_set_err(l, DBFORK_EINVAL,
                        "%s: not a regular file (pipes cannot be split in parallel)", l->lo.file);
  l->st.file_bytes = (uint64_t)st.st_size;
  return 0;
}

/* The table's columns in order, or those of the `columns` option checked
 * against them; builds the column list, the INSERT head and the ON
 * DUPLICATE KEY UPDATE clause. Every column name goes through
 * load_quote_column: one name, never split, backticks doubled. */
static int setup_columns(dbfork_load *l, const char *dbname, const char *tname) {
  char sql[1024], e1[300], e2[300], why[200];
  MYSQL_RES *r;
  MYSQL_ROW row;
  load_conf *c = &l->c;
  const char *cols = l->lo.columns;
  char(*names)[LOAD_COLUMN_NAME_MAX + 1] = NULL;
  int *pick = NULL;
  int n = 0, i, k, rc = DBFORK_EINVAL;
  load_buf cl = {0}, head = {0}, dup = {0};
  load_sql_string(l->m, e1, dbname, strlen(dbname));
  load_sql_string(l->m, e2, tname, strlen(tname));
  snprintf(sql, sizeof sql,
           "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA=%s AND "
           "TABLE_NAME=%s ORDER BY ORDINAL_POSITION",
           e1, e2);
  if (mysql_query(l->m, sql) || !(r = mysql_store_result(l->m)))
    return load_set_err(l, DBFORK_ESQL, "cannot read the columns of %s: %s", c->table,
                        mysql_error(l->m));
  if (mysql_num_rows(r) > LOAD_MAX_COLS) {
    load_set_err(l, DBFORK_EINVAL, "option --table: table %s has %llu columns, more than %d",
                 c->table, (unsigned long long)mysql_num_rows(r), LOAD_MAX_COLS);
    mysql_free_result(r);
    return DBFORK_EINVAL;
  }
  names = calloc(LOAD_MAX_COLS, sizeof *names);
  pick = calloc(LOAD_MAX_COLS, sizeof *pick);
  if (!names || !pick) {
    mysql_free_result(r);
    rc = load_set_err(l, DBFORK_ENOMEM, "out of memory");
    goto out;
  }
  while ((row = mysql_fetch_row(r)) && n < LOAD_MAX_COLS) {
    if (!row[0] || strlen(row[0]) > LOAD_COLUMN_NAME_MAX) {
      /* The server never returns one: 64 characters are at most 256 bytes. */
      load_set_err(l, DBFORK_EINVAL, "table %s: column name '%.40s...' is too long", c->table,
                   row[0] ? row[0] : "");
      mysql_free_result(r);
      goto out;
    }
    snprintf(names[n++], sizeof names[0], "%s", row[0]);
  }
  mysql_free_result(r);
  if (!n) {
    load_set_err(l, DBFORK_EINVAL, "option --table: table %s does not exist (or has no columns)",
                 c->table);
    goto out;
  }
  c->ncols = 0;
  if (cols) {
    const char *p = cols;
    while (*p) {
      const char *comma = strchr(p, ',');
      size_t len = comma ? (size_t)(comma - p) : strlen(p);
      for (i = 0; i < n && !(strlen(names[i]) == len && !strncasecmp(names[i], p, len)); i++) {
      }
      if (i == n) {
        load_set_err(l, DBFORK_EINVAL, "option --columns: table %s has no column '%.*s'", c->table,
                     (int)len, p);
        goto out;
      }
      if (c->ncols >= LOAD_MAX_COLS) {
        load_set_err(l, DBFORK_EINVAL, "option --columns: more than %d columns", LOAD_MAX_COLS);
        goto out;
      }
      for (k = 0; k < c->ncols && pick[k] != i; k++) {
      }
      if (k < c->ncols) {
        load_set_err(l, DBFORK_EINVAL, "option --columns: column '%.*s' is named twice", (int)len,
                     p);
        goto out;
      }
      pick[c->ncols++] = i;
      p += len;
      if (*p == ',') p++;
    }
  } else {
    for (i = 0; i < n; i++) pick[c->ncols++] = i;
  }
  if (load_buf_str(&head,
                   c->dup == DUP_REPLACE  ? "REPLACE"
                   : c->dup == DUP_IGNORE ? "INSERT IGNORE"
                                          : "INSERT",
                   " INTO ", c->table, " (", NULL) ||
      load_buf_str(&dup, c->dup == DUP_UPDATE ? " ON DUPLICATE KEY UPDATE " : "", NULL) ||
      load_buf_str(&cl, "", NULL))
    goto oom;
  for (i = 0; i < c->ncols; i++) {
    char q[LOAD_COLUMN_QUOTED_MAX];
    const char *sep = i ? "," : "";
    if (load_quote_column(names[pick[i]], q, sizeof q, why, sizeof why)) {
      load_set_err(l, DBFORK_EINVAL, "%s column %d of %s: %s", cols ? "option --columns:" : "table",
                   i + 1, c->table, why);
      goto out;
    }
    if (load_buf_str(&cl, sep, q, NULL)) goto oom;
    if (c->dup == DUP_UPDATE && load_buf_str(&dup, sep, q, "=VALUES(", q, ")", NULL)) goto oom;
  }
  if (load_buf_str(&head, cl.p, ") VALUES", NULL)) goto oom;
  c->cols_sql = cl.p;
  c->ins_head = head.p;
  c->dup_sql = dup.p;
  cl.p = head.p = dup.p = NULL;
  rc = 0;
  goto out;
oom:
  rc = load_set_err(l, DBFORK_ENOMEM, "out of memory building the column list of %s", c->table);
out:
  free(cl.p);
  free(head.p);
  free(dup.p);
  free(names);
  free(pick);
  return rc;
}

/* A chunk is "loaded and recorded, or neither" only if the table rolls back:
 * on MyISAM, Aria, MEMORY ... a failed chunk keeps the rows it sent, and the
 * rerun loads them again. Refuses any engine the server does not list as
 * transactional (information_schema.ENGINES.TRANSACTIONS = 'YES'), before
 * anything is written. */
static int check_engine(dbfork_load *l, const char *dbname, const char *tname) {
  char sql[1024], e1[300], e2[300];
  MYSQL_RES *r;
  MYSQL_ROW row;
  int rc = DBFORK_EINVAL;
  const char *t = l->c.table;
  load_sql_string(l->m, e1, dbname, strlen(dbname));
  load_sql_string(l->m, e2, tname, strlen(tname));
  snprintf(sql, sizeof sql,
           "SELECT t.TABLE_TYPE, t.ENGINE, e.TRANSACTIONS FROM information_schema.TABLES t LEFT "
           "JOIN information_schema.ENGINES e ON e.ENGINE = t.ENGINE WHERE t.TABLE_SCHEMA=%s AND "
           "t.TABLE_NAME=%s",
           e1, e2);
  if (mysql_query(l->m, sql) || !(r = mysql_store_result(l->m)))
    return load_set_err(l, DBFORK_ESQL, "cannot read the storage engine of %s: %s", t,
                        mysql_error(l->m));
  row = mysql_fetch_row(r);
  if (!row)
    load_set_err(l, rc, "option --table: table %s does not exist", t);
  else if (!row[1])
    load_set_err(l, rc,
                 "option --table: %s is a %s, not a table with a storage engine: load into its "
                 "base table",
                 t, row[0] ? row[0] : "view");
  else if (!row[2] || strcasecmp(row[2], "YES"))
    load_set_err(l, rc,
                 "option --table: table %s uses the %s engine, which has no transactions: a "
                 "chunk that fails could not roll back, and a rerun would load its rows twice. "
                 "Convert it first: ALTER TABLE %s ENGINE=InnoDB",
                 t, row[1], t);
  else
    rc = 0;
  mysql_free_result(r);
  return rc;
}

int load_check_table(dbfork_load *l, const char *arg, const char *defdb) {
  load_conf *c = &l->c;
  const char *dot = strchr(arg, '.');
  char why[300], full[300];
  int rc;
  if (dot) {
    snprintf(c->db_plain, sizeof c->db_plain, "%.*s", (int)(dot - arg), arg);
    snprintf(c->table_plain, sizeof c->table_plain, "%s", dot + 1);
  } else if (defdb) {
    snprintf(c->db_plain, sizeof c->db_plain, "%s", defdb);
    snprintf(c->table_plain, sizeof c->table_plain, "%s", arg);
  } else {
    return load_set_err(l, DBFORK_EINVAL,
                        "option --table: '%s' names no database; use DB.TABLE or -D", arg);
  }
  snprintf(full, sizeof full, "%s.%s", c->db_plain, c->table_plain);
  if (load_quote_ident(full, c->table, sizeof c->table, why, sizeof why) ||
      load_quote_ident(c->db_plain, c->db, sizeof c->db, why, sizeof why))
    return load_set_err(l, DBFORK_EINVAL, "option --table: %s", why);
  if ((rc = setup_columns(l, c->db_plain, c->table_plain)) ||
      (rc = check_engine(l, c->db_plain, c->table_plain)))
    return rc;
  if (c->method == METHOD_INSERT && (uint64_t)c->batch * c->ncols > 65535)
    c->batch = 65535 / (unsigned)c->ncols;
  snprintf(c->t.plan, sizeof c->t.plan, "%s.`dbfork_load_plan`", c->db);
  snprintf(c->t.progress, sizeof c->t.progress, "%s.`dbfork_load_progress`", c->db);
  snprintf(c->jobs, sizeof c->jobs, "%s.`dbfork_load_job`", c->db);
  {
    /* The job: FNV-1a of the real path (with its NUL), then of the quoted
     * table, the same id dbfork 0.1 gave it, so its progress rows resume. */
    uint64_t h = 0xcbf29ce484222325ull;
    const unsigned char *s = (const unsigned char *)c->path;
    size_t i, n = strlen(c->path) + 1;
    for (i = 0; i < n; i++) h = (h ^ s[i]) * 0x100000001b3ull;
    s = (const unsigned char *)c->table;
    n = strlen(c->table);
    for (i = 0; i < n; i++) h = (h ^ s[i]) * 0x100000001b3ull;
    snprintf(c->t.job_id, sizeof c->t.job_id, "%016llx", (unsigned long long)h);
    snprintf(l->st.job_id, sizeof l->st.job_id, "%s", c->t.job_id);
  }
  return 0;
}

int load_build_sql(dbfork_load *l) {
  load_conf *c = &l->c;
  char ft[40], lt[40], enc[8], esc[8];
  char e = (char)c->d.enclosure, s = (char)c->d.escape;
  load_buf b = {0};
  load_sql_string(l->m, ft, (const char *)c->d.field_term, c->d.field_term_len);
  load_sql_string(l->m, lt, (const char *)c->d.line_term, c->d.line_term_len);
  load_sql_string(l->m, enc, &e, c->d.enclosure >= 0 ? 1 : 0);
  load_sql_string(l->m, esc, &s, c->d.escape >= 0 ? 1 : 0);
  if (load_buf_str(&b, "LOAD DATA LOCAL INFILE 'dbfork-chunk' ",
                   c->dup == DUP_REPLACE  ? "REPLACE "
                   : c->dup == DUP_IGNORE ? "IGNORE "
                                          : "",
                   "INTO TABLE ", c->table, " CHARACTER SET utf8mb4 FIELDS TERMINATED BY ", ft,
                   " OPTIONALLY ENCLOSED BY ", enc, " ESCAPED BY ", esc, " LINES TERMINATED BY ",
                   lt, " (", c->cols_sql, ")", NULL)) {
    free(b.p);
    return load_set_err(l, DBFORK_ENOMEM, "out of memory building the LOAD DATA statement");
  }
  c->load_sql = b.p;
  return 0;
}

#define SNIFF_FIRST (64u << 10)
#define SNIFF_MAX (64u << 20)

/* The server has no "\n or \r\n" mode: the load-data method sends it the
 * terminator the file's first record ends with (csv_dialect_sniff_eol).
 * Reads the start of the file, doubling the window up to SNIFF_MAX (or the
 * whole file) until the first record ends in it. Fails if it cannot tell:
 * guessing would tell the server '\n' for a "\r\n" file, merging records and
 * keeping '\r' in values. */
int load_sniff_eol(dbfork_load *l) {
  size_t want = SNIFF_FIRST, have = 0;
  uint64_t size = l->st.file_bytes;
  char *buf = NULL;
  int rc = 0;
  if (!(l->c.d.flags & CSV_F_CRLF) || l->c.method != METHOD_LOAD_DATA) return 0;
  for (;;) {
    char *nb;
    if (want > size) want = (size_t)size;
    nb = realloc(buf, want ? want : 1);
    if (!nb) {
      rc = load_set_err(l, DBFORK_ENOMEM, "%s: out of memory reading the first record", l->lo.file);
      break;
    }
    buf = nb;
    errno = 0;
    while (have < want) {
      ssize_t n = pread(l->fd, buf + have, want - have, (off_t)have);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      have += (size_t)n;
    }
    if (have < want) {
      rc = load_set_err(l, DBFORK_EIO, "%s: reading the first record: %s", l->lo.file,
                        errno ? strerror(errno) : "the file shrank");
      break;
    }
    rc = csv_dialect_sniff_eol(&l->c.d, buf, have, (uint64_t)have == size);
    if (rc != CSV_EINCOMPLETE) {
      rc = rc < 0 ? load_set_err(l, DBFORK_EINVAL, "%s: %s", l->lo.file, csv_strerror(rc)) : 0;
      break;
    }
    if (want >= SNIFF_MAX) {
      rc = load_set_err(l, DBFORK_EINVAL,
                        "%s: the first record does not end within the first %u MiB, so whether "
                        "lines end in \\r\\n or \\n cannot be told: pass "
                        "--lines-terminated-by='\\r\\n' or --lines-terminated-by='\\n' (or use "
                        "--method=insert, which takes both)",
                        l->lo.file, SNIFF_MAX >> 20);
      break;
    }
    want *= 2;
  }
  free(buf);
  return rc;
}
