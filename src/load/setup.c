/*
 * setup.c — the parent's checks before anything is written, and the SQL a
 * load runs: the file (a readable regular file), the target table (exists,
 * its columns, a transactional engine), the column list, the character
 * set, the INSERT and LOAD DATA statements. Each returns 0 or a DBFORK_E*
 * code with a message naming the option (table, columns, character_set) or
 * the file.
 */

#include "worker.h" /* load_buf */

#include <ctype.h>
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

/* The index of the table column named `name` (case-insensitive, as the
 * server compares column names), or -1. */
static int find_col(char (*names)[LOAD_COLUMN_NAME_MAX + 1], int n, const char *name) {
  int i;
  for (i = 0; i < n; i++)
    if (!strcasecmp(names[i], name)) return i;
  return -1;
}

/* The table's columns in order, or the `columns` option's (a column of the
 * table, or an @variable) checked against them, and the `set` option's
 * assignments; builds LOAD DATA's column list and SET clause, the INSERT
 * head, its VALUES row (placeholders as 0x01) and the ON DUPLICATE KEY
 * UPDATE clause. Every column name goes through load_quote_column: one
 * name, never split, backticks doubled. */
static int setup_columns(dbfork_load *l, const char *dbname, const char *tname) {
  char sql[1024], e1[300], e2[300], why[300];
  MYSQL_RES *r;
  MYSQL_ROW row;
  load_conf *c = &l->c;
  char(*names)[LOAD_COLUMN_NAME_MAX + 1] = NULL;
  int *used = NULL;
  int n = 0, i, k, rc = DBFORK_EINVAL, ninsert = 0;
  load_buf cl = {0}, head = {0}, dup = {0}, vrow = {0}, setc = {0};
  load_colspec cs;
  if (load_colspec_parse(&cs, l->lo.columns, l->lo.set, why, sizeof why))
    return load_set_err(l, DBFORK_EINVAL, "%s", why);
  load_sql_string(l->m, e1, dbname, strlen(dbname));
  load_sql_string(l->m, e2, tname, strlen(tname));
  snprintf(sql, sizeof sql,
           "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA=%s AND "
           "TABLE_NAME=%s ORDER BY ORDINAL_POSITION",
           e1, e2);
  if (mysql_query(l->m, sql) || !(r = mysql_store_result(l->m))) {
    load_colspec_free(&cs);
    return load_set_err(l, DBFORK_ESQL, "cannot read the columns of %s: %s", c->table,
                        mysql_error(l->m));
  }
  if (mysql_num_rows(r) > LOAD_MAX_COLS) {
    load_set_err(l, DBFORK_EINVAL, "option --table: table %s has %llu columns, more than %d",
                 c->table, (unsigned long long)mysql_num_rows(r), LOAD_MAX_COLS);
    mysql_free_result(r);
    load_colspec_free(&cs);
    return DBFORK_EINVAL;
  }
  names = calloc(LOAD_MAX_COLS, sizeof *names);
  used = calloc(LOAD_MAX_COLS, sizeof *used);
  if (!names || !used) {
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
  if (!cs.n) { /* the table's columns, in order */
    for (i = 0; i < n; i++)
      if (load_colspec_add(&cs, names[i])) goto oom;
  }
  c->nfields = cs.n;
  if (!(c->fnames = calloc((size_t)cs.n, sizeof *c->fnames)) ||
      !(c->ph_field = calloc((size_t)cs.n, sizeof *c->ph_field)))
    goto oom;
  if (load_buf_str(&head,
                   c->dup == DUP_REPLACE  ? "REPLACE"
                   : c->dup == DUP_IGNORE ? "INSERT IGNORE"
                                          : "INSERT",
                   " INTO ", c->table, " (", NULL) ||
      load_buf_str(&dup, c->dup == DUP_UPDATE ? " ON DUPLICATE KEY UPDATE " : "", NULL) ||
      load_buf_str(&cl, "", NULL) || load_buf_str(&vrow, "(", NULL) ||
      load_buf_str(&setc, "", NULL))
    goto oom;
  for (i = 0; i < cs.n; i++) {
    char q[LOAD_COLUMN_QUOTED_MAX];
    const char *sep = i ? "," : "";
    if (!(c->fnames[i] = strdup(cs.names[i]))) goto oom;
    if (cs.names[i][0] == '@') {
      if (load_buf_str(&cl, sep, cs.names[i], NULL)) goto oom;
      continue;
    }
    if ((k = find_col(names, n, cs.names[i])) < 0) {
      load_set_err(l, DBFORK_EINVAL, "option --columns: table %s has no column '%s'", c->table,
                   cs.names[i]);
      goto out;
    }
    if (used[k]) {
      load_set_err(l, DBFORK_EINVAL, "option --columns: column '%s' is named twice", cs.names[i]);
      goto out;
    }
    used[k] = 1;
    if (load_quote_column(names[k], q, sizeof q, why, sizeof why)) {
      load_set_err(l, DBFORK_EINVAL, "%s column %d of %s: %s",
                   l->lo.columns ? "option --columns:" : "table", i + 1, c->table, why);
      goto out;
    }
    if (load_buf_str(&cl, sep, q, NULL) || load_buf_str(&head, ninsert ? "," : "", q, NULL) ||
        load_buf_str(&vrow, ninsert ? ",\001" : "\001", NULL))
      goto oom;
    if (c->dup == DUP_UPDATE && load_buf_str(&dup, ninsert ? "," : "", q, "=VALUES(", q, ")", NULL))
      goto oom;
    c->ph_field[c->nph++] = i;
    ninsert++;
  }
  for (i = 0; i < cs.nset; i++) {
    char q[LOAD_COLUMN_QUOTED_MAX], *ex;
    if ((k = find_col(names, n, cs.set_col[i])) < 0) {
      load_set_err(l, DBFORK_EINVAL, "option --set: table %s has no column '%s'", c->table,
                   cs.set_col[i]);
      goto out;
    }
    if (used[k]) {
      load_set_err(l, DBFORK_EINVAL,
                   "option --set: column '%s' is a column of the file too (name it in --columns "
                   "as an @variable instead)",
                   cs.set_col[i]);
      goto out;
    }
    used[k] = 1;
    if (load_quote_column(names[k], q, sizeof q, why, sizeof why)) {
      load_set_err(l, DBFORK_EINVAL, "option --set: %s", why);
      goto out;
    }
    if (!(ex = load_expr_placeholders(&cs, cs.set_expr[i], &c->ph_field, &c->nph, why,
                                      sizeof why))) {
      load_set_err(l, DBFORK_EINVAL, "%s", why);
      goto out;
    }
    rc = load_buf_str(&setc, i ? ", " : " SET ", q, " = ", cs.set_expr[i], NULL) ||
         load_buf_str(&head, ninsert ? "," : "", q, NULL) ||
         load_buf_str(&vrow, ninsert ? "," : "", ex, NULL) ||
         (c->dup == DUP_UPDATE &&
          load_buf_str(&dup, ninsert ? "," : "", q, "=VALUES(", q, ")", NULL));
    free(ex);
    if (rc) goto oom;
    rc = DBFORK_EINVAL;
    ninsert++;
  }
  if (!ninsert) {
    load_set_err(l, DBFORK_EINVAL,
                 "option --columns: only @variables and no --set: nothing would be loaded");
    goto out;
  }
  if (load_buf_str(&head, ") VALUES", NULL) || load_buf_str(&vrow, ")", NULL)) goto oom;
  c->cols_sql = cl.p;
  c->ins_head = head.p;
  c->dup_sql = dup.p;
  c->ins_row = vrow.p;
  c->set_sql = setc.p;
  cl.p = head.p = dup.p = vrow.p = setc.p = NULL;
  rc = 0;
  goto out;
oom:
  rc = load_set_err(l, DBFORK_ENOMEM, "out of memory building the column list of %s", c->table);
out:
  free(cl.p);
  free(head.p);
  free(dup.p);
  free(vrow.p);
  free(setc.p);
  free(names);
  free(used);
  load_colspec_free(&cs);
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
  if (c->method != METHOD_LOAD_DATA && (uint64_t)c->batch * (unsigned)c->nph > 65535)
    c->batch = 65535 / (unsigned)c->nph;
  {
    /* The job key: FNV-1a of the real path (with its NUL), then of the
     * quoted table, the id dbfork 0.1 gave the job, so that its progress
     * rows resume; later jobs of the same file and table derive theirs
     * from it (rerun.c). */
    uint64_t h = 0xcbf29ce484222325ull;
    const unsigned char *s = (const unsigned char *)c->path;
    size_t i, n = strlen(c->path) + 1;
    for (i = 0; i < n; i++) h = (h ^ s[i]) * 0x100000001b3ull;
    s = (const unsigned char *)c->table;
    n = strlen(c->table);
    for (i = 0; i < n; i++) h = (h ^ s[i]) * 0x100000001b3ull;
    snprintf(c->job_key, sizeof c->job_key, "%016llx", (unsigned long long)h);
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
                   "INTO TABLE ", c->table, " CHARACTER SET ", c->charset, " FIELDS TERMINATED BY ",
                   ft, " OPTIONALLY ENCLOSED BY ", enc, " ESCAPED BY ", esc,
                   " LINES TERMINATED BY ", lt, " (", c->cols_sql, ")", c->set_sql, NULL)) {
    free(b.p);
    return load_set_err(l, DBFORK_ENOMEM, "out of memory building the LOAD DATA statement");
  }
  c->load_sql = b.p;
  return 0;
}

/* Character sets whose multi-byte characters may hold bytes below 0x80 (a
 * second byte that looks like '\\' or ','), or that are wide: the server
 * reads terminators, quotes and escapes inside their characters, the
 * loader's byte parser cannot, so the two would split records
 * differently. */
static const char *const unsafe_charsets[] = {"big5", "cp932", "gbk",     "gb18030", "sjis",
                                              "ucs2", "utf16", "utf16le", "utf32",   NULL};

int load_check_charset(dbfork_load *l) {
  load_conf *c = &l->c;
  const char *want = l->lo.character_set ? l->lo.character_set : "utf8mb4";
  char sql[256], e[100];
  MYSQL_RES *r;
  MYSQL_ROW row;
  int i, found = 0;
  if (strlen(want) > 32)
    return load_set_err(l, DBFORK_EINVAL, "option --character-set: '%.40s...' is too long", want);
  /* "utf8" is utf8mb3 on MariaDB 10.6 and later and on MySQL. */
  snprintf(c->charset, sizeof c->charset, "%s", !strcasecmp(want, "utf8") ? "utf8mb3" : want);
  for (i = 0; c->charset[i]; i++) c->charset[i] = (char)tolower((unsigned char)c->charset[i]);
  for (i = 0; unsafe_charsets[i]; i++)
    if (!strcmp(c->charset, unsafe_charsets[i]))
      return load_set_err(l, DBFORK_EINVAL,
                          "option --character-set: %s is not supported: its characters can hold "
                          "bytes that look like separators, quotes or escapes, which the server "
                          "reads differently from the loader; convert the file to utf8mb4 "
                          "first (iconv -f %s -t UTF-8)",
                          c->charset, c->charset);
  load_sql_string(l->m, e, c->charset, strlen(c->charset));
  snprintf(sql, sizeof sql,
           "SELECT CHARACTER_SET_NAME FROM information_schema.CHARACTER_SETS WHERE "
           "CHARACTER_SET_NAME = %s",
           e);
  if (mysql_query(l->m, sql) || !(r = mysql_store_result(l->m)))
    return load_set_err(l, DBFORK_ESQL, "cannot read the server's character sets: %s",
                        mysql_error(l->m));
  while ((row = mysql_fetch_row(r))) found = 1;
  mysql_free_result(r);
  if (!found && strcmp(c->charset, "binary"))
    return load_set_err(l, DBFORK_EINVAL,
                        "option --character-set: the server has no character set '%s' (SHOW "
                        "CHARACTER SET lists them)",
                        want);
  c->enc = !strcmp(c->charset, "utf8mb4")   ? CSV_ENC_UTF8MB4
           : !strcmp(c->charset, "utf8mb3") ? CSV_ENC_UTF8MB3
           : !strcmp(c->charset, "ascii")   ? CSV_ENC_ASCII
                                            : 0;
  /* Values of the insert method are sent on the workers' utf8mb4 session:
   * in any other set they are relabelled on the server (CONVERT(... USING)),
   * so the server converts them to the column's set as LOAD DATA does. */
  c->recode = !c->enc;
  return 0;
}

int load_table_has_rows(dbfork_load *l) {
  char sql[400];
  MYSQL_RES *r;
  int any;
  snprintf(sql, sizeof sql, "SELECT 1 FROM %s LIMIT 1", l->c.table);
  if (mysql_query(l->m, sql) || !(r = mysql_store_result(l->m)))
    return load_set_err(l, DBFORK_ESQL, "cannot read table %s: %s (MySQL error %u)", l->c.table,
                        mysql_error(l->m), mysql_errno(l->m));
  any = mysql_num_rows(r) > 0;
  mysql_free_result(r);
  return any;
}

/* Without --method: LOAD_AUTO_BULK's choice where the server does array
 * binding, load-data elsewhere (insert with --on-duplicate=update, which
 * LOAD DATA cannot do). */
#define LOAD_AUTO_BULK 0

int load_pick_method(dbfork_load *l) {
  load_conf *c = &l->c;
  int bulk = load_bulk_supported(l->m);
  if (c->method_auto) {
    if (bulk && (LOAD_AUTO_BULK || c->dup == DUP_UPDATE))
      c->method = METHOD_BULK;
    else if (c->dup == DUP_UPDATE)
      c->method = METHOD_INSERT;
    else
      c->method = METHOD_LOAD_DATA;
    return 0;
  }
  if (c->method == METHOD_BULK && !bulk)
    return load_set_err(l, DBFORK_EINVAL,
                        "option --method=bulk: the server (%s) does not take array binding "
                        "(MariaDB 10.2 or later with MariaDB Connector/C); use load-data or insert",
                        mysql_get_server_info(l->m));
  return 0;
}
