/*
 * tables.c — the SQL of exec's own tables, all of it, and their names:
 *
 *   dbfork_exec_job       one row per job (sql/exec_job.sql)
 *   dbfork_exec_plan      one row per chunk cut (handed out or next), the claim's lock
 *   dbfork_exec_progress  one row per committed chunk (job core + ours)
 *
 * Parent side: create the tables, the job's lock, the job row, what earlier
 * runs did, the plan rows. Worker side, in a chunk's transaction: its
 * progress row.
 */
#include "execint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec_job_sql.h"      /* generated from sql/exec_job.sql */
#include "exec_plan_sql.h"     /* generated from sql/exec_plan.sql */
#include "exec_process_sql.h"  /* generated from sql/exec_process.sql */
#include "exec_progress_sql.h" /* generated from sql/exec_progress.sql */

static int sql_fail(dbfork_exec *x, const char *what, const char *table) {
  unsigned int code = mysql_errno(x->m);
  if (exec_access_denied(code))
    return exec_set_err(x, DBFORK_EACCES,
                        "%s: the account lacks a privilege on %s: %s (MySQL error %u); grant "
                        "CREATE, SELECT, INSERT, UPDATE and DELETE there, or keep exec's tables "
                        "in a database where it has them (--progress-db)",
                        what, table, mysql_error(x->m), code);
  return exec_set_err(x, DBFORK_ESQL, "%s: %s (MySQL error %u)", what, mysql_error(x->m), code);
}

static void quote(const char *in, char *out, size_t len) {
  size_t o = 0;
  out[o++] = '`';
  for (; *in && o + 3 < len; in++) {
    if (*in == '`') out[o++] = '`';
    out[o++] = *in;
  }
  out[o++] = '`';
  out[o] = 0;
}

int exec_tables_names(dbfork_exec *x) {
  exec_conf *c = &x->c;
  char qd[140];
  const char *db = x->eo.progress_db ? x->eo.progress_db : c->db_plain;
  if (!*db || strlen(db) > 64)
    return exec_set_err(x, DBFORK_EINVAL, "option --progress-db: '%s' is not a database name", db);
  snprintf(c->tdb_plain, sizeof c->tdb_plain, "%s", db);
  c->shared = x->eo.job_name != NULL;
  quote(db, qd, sizeof qd);
  snprintf(c->jobs, sizeof c->jobs, "%s.`dbfork_exec_job`", qd);
  snprintf(c->t.plan, sizeof c->t.plan, "%s.`dbfork_exec_plan`", qd);
  snprintf(c->t.progress, sizeof c->t.progress, "%s.`dbfork_exec_progress`", qd);
  snprintf(c->procs, sizeof c->procs, "%s.`dbfork_exec_process`", qd);
  return 0;
}

/* FNV-1a, 64 bits. */
static uint64_t fnv(uint64_t h, const void *p, size_t n) {
  const unsigned char *s = p;
  size_t i;
  for (i = 0; i < n; i++) {
    h ^= s[i];
    h *= 1099511628211ull;
  }
  return h;
}

void exec_name_job_id(const char *name, char out[17]) { job_name_id("job_name", name, out); }

int exec_job_id(dbfork_exec *x) {
  const exec_conf *c = &x->c;
  uint64_t h = 14695981039346656037ull;
  int i;
  if (x->eo.job_name) { /* a shared job: its name; the rest is checked against its row */
    exec_name_job_id(x->eo.job_name, x->c.t.job_id);
    snprintf(x->st.job_id, sizeof x->st.job_id, "%s", x->c.t.job_id);
    return 0;
  }
  h = fnv(h, c->table, strlen(c->table) + 1);
  h = fnv(h, c->index, strlen(c->index) + 1);
  for (i = 0; i < c->nkey; i++) h = fnv(h, c->kq[i], strlen(c->kq[i]) + 1);
  for (i = 0; i < c->nstmts; i++) h = fnv(h, c->stmts[i], strlen(c->stmts[i]) + 1);
  snprintf(x->c.t.job_id, sizeof x->c.t.job_id, "%016llx", (unsigned long long)h);
  snprintf(x->st.job_id, sizeof x->st.job_id, "%s", x->c.t.job_id);
  return 0;
}

/* A definition of sql/ with its default name replaced by `quoted`. */
static char *named(const char *def, const char *dflt, const char *quoted) {
  const char *at = strstr(def, dflt);
  char *out = NULL;
  if (!at) return NULL;
  if (asprintf(&out, "%.*s%s%s", (int)(at - def), def, quoted, at + strlen(dflt)) < 0) return NULL;
  return out;
}

int exec_tables_prepare(dbfork_exec *x) {
  struct {
    const char *def, *name, *quoted;
  } t[4] = {{DBFORK_EXEC_JOB_SQL, "dbfork_exec_job", x->c.jobs},
            {DBFORK_EXEC_PLAN_SQL, "dbfork_exec_plan", x->c.t.plan},
            {DBFORK_EXEC_PROGRESS_SQL, "dbfork_exec_progress", x->c.t.progress},
            {DBFORK_EXEC_PROCESS_SQL, "dbfork_exec_process", x->c.procs}};
  int i;
  for (i = 0; i < (x->c.shared ? 4 : 3); i++) { /* the process table: shared jobs only */
    char *sql = named(t[i].def, t[i].name, t[i].quoted);
    int bad;
    if (!sql) return exec_set_err(x, DBFORK_ENOMEM, "out of memory");
    bad = mysql_query(x->m, sql);
    free(sql);
    if (bad) return sql_fail(x, "creating exec's tables", t[i].quoted);
  }
  return 0;
}

int exec_job_lock(dbfork_exec *x) {
  char sql[256];
  uint64_t got = 0, holder = 0;
  snprintf(sql, sizeof sql, "SELECT IFNULL(GET_LOCK('dbfork_exec:%s', 0), 0)", x->c.t.job_id);
  if (exec_query_u64(x, sql, &got, "taking the job's lock")) return DBFORK_ESQL;
  if (got != 1) {
    snprintf(sql, sizeof sql, "SELECT IFNULL(IS_USED_LOCK('dbfork_exec:%s'), 0)", x->c.t.job_id);
    exec_query_u64(x, sql, &holder, NULL);
    return exec_set_err(x, DBFORK_EBUSY,
                        "job %s (these statements on %s.%s) is running in another session now "
                        "(connection %llu)",
                        x->c.t.job_id, x->c.db_plain, x->c.table_plain, (unsigned long long)holder);
  }
  x->locked = 1;
  return 0;
}

void exec_job_unlock(dbfork_exec *x) {
  char sql[128];
  MYSQL_RES *r;
  if (!x->locked || !x->m) return;
  snprintf(sql, sizeof sql, "SELECT RELEASE_LOCK('dbfork_exec:%s')", x->c.t.job_id);
  if (!mysql_query(x->m, sql) && (r = mysql_store_result(x->m))) mysql_free_result(r);
  x->locked = 0;
}

/* Escaped into a malloc'ed 'literal' for the parent's connection. */
static char *esc(MYSQL *m, const char *s) {
  size_t n = strlen(s);
  char *out = malloc(2 * n + 3);
  unsigned long k;
  if (!out) return NULL;
  out[0] = '\'';
  k = mysql_real_escape_string(m, out + 1, s, (unsigned long)n);
  out[k + 1] = '\'';
  out[k + 2] = 0;
  return out;
}

static int forget(dbfork_exec *x) {
  char sql[600];
  int rc = job_forget(x->m, &x->c.t, x->err, sizeof x->err);
  if (rc) return rc;
  snprintf(sql, sizeof sql, "DELETE FROM %s WHERE job_id='%s'", x->c.jobs, x->c.t.job_id);
  return job_exec(x->m, sql, "forgetting the job", x->err, sizeof x->err);
}

/* The job's table ("db.table"), key columns ("a,b") and statements
 * ("s1; s2") as its row stores them: 0, or DBFORK_ENOMEM (x->err). */
static int job_texts(dbfork_exec *x, char *tab, size_t tablen, char **keys, char **stmts) {
  size_t n = 1;
  int i;
  for (i = 0; i < x->c.nstmts; i++) n += strlen(x->c.stmts[i]) + 2;
  *stmts = calloc(1, n);
  *keys = calloc(1, (size_t)x->c.nkey * 140 + 1);
  if (!*stmts || !*keys) {
    free(*stmts), free(*keys);
    *stmts = *keys = NULL;
    return exec_set_err(x, DBFORK_ENOMEM, "out of memory");
  }
  for (i = 0; i < x->c.nstmts; i++) {
    if (i) strcat(*stmts, "; ");
    strcat(*stmts, x->c.stmts[i]);
  }
  for (i = 0; i < x->c.nkey; i++) {
    if (i) strcat(*keys, ",");
    strcat(*keys, x->c.kname[i]);
  }
  snprintf(tab, tablen, "%s.%s", x->c.db_plain, x->c.table_plain);
  return 0;
}

static int new_job(dbfork_exec *x) {
  char *keys = NULL, *stmts = NULL, *ulits = NULL, *utext = NULL, *e_keys = NULL, *e_st = NULL,
       *e_ut = NULL, *e_tab = NULL, *sql = NULL, tab[300];
  int rc = 0;
  /* x->until: as common() found it (exec.c) */
  if ((rc = job_texts(x, tab, sizeof tab, &keys, &stmts))) return rc;
  ulits = x->until.n ? exec_tuple_store(&x->until) : strdup("");
  utext = exec_tuple_text(&x->until);
  e_keys = esc(x->m, keys);
  e_st = esc(x->m, stmts);
  e_ut = utext ? esc(x->m, utext) : NULL;
  e_tab = esc(x->m, tab);
  if (!ulits || !e_keys || !e_st || !e_ut || !e_tab ||
      asprintf(&sql,
               "INSERT INTO %s (job_id, target, key_columns, statements, until_lits, until_key) "
               "VALUES ('%s', %s, %s, %s, %s%s%s, %s)",
               x->c.jobs, x->c.t.job_id, e_tab, e_keys, e_st, x->until.n ? "'" : "",
               x->until.n ? ulits : "NULL", x->until.n ? "'" : "", e_ut) < 0) {
    sql = NULL;
    rc = exec_set_err(x, DBFORK_ENOMEM, "out of memory");
  } else if (mysql_query(x->m, sql)) {
    rc = sql_fail(x, "storing the job", x->c.jobs);
  }
  free(keys), free(stmts), free(ulits), free(utext), free(e_keys), free(e_st), free(e_ut);
  free(e_tab), free(sql);
  return rc;
}

/* A shared job's row against this process's table, key and statements:
 * 0, or DBFORK_EINVAL naming what differs. */
static int same_job(dbfork_exec *x, const char *target, const char *keycols, const char *stmts) {
  char tab[300], *keys = NULL, *mine = NULL, what[64] = "";
  int rc;
  if ((rc = job_texts(x, tab, sizeof tab, &keys, &mine))) return rc;
  if (strcmp(target, tab)) strcat(what, "the table, ");
  if (strcmp(keycols, keys)) strcat(what, "the key, ");
  if (strcmp(stmts, mine)) strcat(what, "the statements, ");
  free(keys), free(mine);
  if (!what[0]) return 0;
  what[strlen(what) - 2] = 0;
  return exec_set_err(x, DBFORK_EINVAL,
                      "option --job: job '%s' runs \"%s\" on %s by (%s); %s of this process "
                      "differ: run the job's, or name another job",
                      x->eo.job_name, stmts, target, keycols, what);
}

/* Earlier runs' chunks: committed ones counted, the others to run again;
 * the cursor after the last one. */
static void pend_clear(dbfork_exec *x) {
  size_t k;
  for (k = 0; k < x->npend; k++) {
    exec_tuple_clear(&x->pend[k].from);
    exec_tuple_clear(&x->pend[k].to);
  }
  x->npend = x->headpend = 0;
}

/* rescan 0: at the start, earlier runs' committed chunks counted, the
 * others to run again, the cursor after the last chunk. rescan 1: only the
 * chunks without a progress row, to run again (x->pend replaced). */
static int read_plan(dbfork_exec *x, int rescan) {
  char sql[1400];
  MYSQL_RES *r;
  MYSQL_ROW row;
  if (rescan) pend_clear(x);
  snprintf(sql, sizeof sql,
           "SELECT p.chunk_no, IFNULL(p.from_lits, ''), p.to_lits, p.rows_planned, g.chunk_no IS "
           "NOT NULL FROM %s p LEFT JOIN %s g ON g.job_id = p.job_id AND g.chunk_no = p.chunk_no "
           "AND g.part = 1 WHERE p.job_id = '%s' ORDER BY p.chunk_no",
           x->c.t.plan, x->c.t.progress, x->c.t.job_id);
  if (mysql_query(x->m, sql) || !(r = mysql_store_result(x->m)))
    return sql_fail(x, "reading the job's plan", x->c.t.plan);
  while ((row = mysql_fetch_row(r))) {
    uint64_t chunk = strtoull(row[0], NULL, 10), planned = strtoull(row[3], NULL, 10);
    exec_tuple from = {0}, to = {0};
    if (exec_tuple_load(&from, row[1]) || exec_tuple_load(&to, row[2]) || to.n != x->c.nkey ||
        (from.n && from.n != x->c.nkey)) {
      exec_tuple_clear(&from);
      exec_tuple_clear(&to);
      mysql_free_result(r);
      return exec_set_err(x, DBFORK_ECHANGED,
                          "the plan row of chunk %llu of job %s in %s cannot be read (it was "
                          "changed, or the key changed): rerun with --restart",
                          (unsigned long long)chunk, x->c.t.job_id, x->c.t.plan);
    }
    if (row[4][0] == '1') {
      exec_tuple_clear(&from);
      if (rescan) {
        exec_tuple_clear(&to);
        continue;
      }
      x->st.chunks_before++;
      x->st.rows_before += planned;
    } else {
      exec_pending *np = realloc(x->pend, (x->npend + 1) * sizeof *np);
      if (!np) {
        exec_tuple_clear(&from);
        exec_tuple_clear(&to);
        mysql_free_result(r);
        return exec_set_err(x, DBFORK_ENOMEM, "out of memory");
      }
      x->pend = np;
      memset(&np[x->npend], 0, sizeof np[x->npend]); /* realloc'ed: its tuples are garbage */
      np[x->npend].chunk = chunk;
      np[x->npend].rows_planned = planned;
      np[x->npend].from = from;
      if (exec_tuple_copy(&np[x->npend].to, &to)) {
        exec_tuple_clear(&to);
        mysql_free_result(r);
        return exec_set_err(x, DBFORK_ENOMEM, "out of memory");
      }
      x->npend++;
      if (rescan) {
        exec_tuple_clear(&to);
        continue;
      }
    }
    exec_tuple_clear(&x->cursor);
    x->cursor = to;
    x->next_chunk = chunk + 1;
  }
  mysql_free_result(r);
  return 0;
}

int exec_prepare_job(dbfork_exec *x) {
  char sql[600];
  MYSQL_RES *r;
  MYSQL_ROW row;
  int found = 0, completed = 0, rc, raced = 0;
  char *until = NULL;
  if (x->eo.restart && (rc = forget(x))) return rc;
again:
  snprintf(sql, sizeof sql,
           "SELECT until_lits, completed_at IS NOT NULL, target, key_columns, statements FROM %s "
           "WHERE job_id = '%s'",
           x->c.jobs, x->c.t.job_id);
  if (mysql_query(x->m, sql) || !(r = mysql_store_result(x->m)))
    return sql_fail(x, "reading the job", x->c.jobs);
  if ((row = mysql_fetch_row(r))) {
    found = 1;
    completed = row[1] && row[1][0] == '1';
    until = row[0] ? strdup(row[0]) : strdup("");
    if (x->eo.job_name && (rc = same_job(x, row[2], row[3], row[4]))) {
      mysql_free_result(r);
      free(until);
      return rc;
    }
  }
  mysql_free_result(r);
  if (!found) {
    rc = new_job(x);
    /* a shared job: another process stored it first; take its row */
    if (rc == DBFORK_ESQL && x->eo.job_name && mysql_errno(x->m) == 1062 && !raced++) {
      x->err[0] = 0;
      goto again;
    }
    return rc;
  }
  if (!until) return exec_set_err(x, DBFORK_ENOMEM, "out of memory");
  rc = exec_tuple_load(&x->until, until);
  free(until);
  if (rc || (x->until.n && x->until.n != x->c.nkey))
    return exec_set_err(x, DBFORK_ECHANGED,
                        "the job row of %s in %s cannot be read: rerun with --restart",
                        x->c.t.job_id, x->c.jobs);
  if ((rc = read_plan(x, 0))) return rc;
  if (completed) {
    x->st.already_done = 1;
    return 0;
  }
  x->st.resumed = x->st.chunks_before > 0 || x->npend > 0;
  return 0;
}

int exec_job_complete(dbfork_exec *x) {
  char sql[600];
  snprintf(sql, sizeof sql,
           "UPDATE %s SET completed_at = CURRENT_TIMESTAMP(6) WHERE job_id = '%s' AND "
           "completed_at IS NULL",
           x->c.jobs, x->c.t.job_id);
  return job_exec(x->m, sql, "completing the job", x->err, sizeof x->err);
}

int exec_plan_store(dbfork_exec *x, uint64_t chunk, const exec_tuple *from, const exec_tuple *to,
                    uint64_t rows) {
  char *fl = from->n ? exec_tuple_store(from) : NULL, *tl = exec_tuple_store(to);
  char *ft = exec_tuple_text(from), *tt = exec_tuple_text(to);
  char *ef = ft ? esc(x->m, ft) : NULL, *et = tt ? esc(x->m, tt) : NULL, *vals = NULL;
  int rc;
  if ((from->n && !fl) || !tl || !ef || !et ||
      asprintf(&vals, "%s%s%s, '%s', %s, %s, %llu", fl ? "'" : "", fl ? fl : "NULL", fl ? "'" : "",
               tl, ef, et, (unsigned long long)rows) < 0) {
    vals = NULL;
    rc = exec_set_err(x, DBFORK_ENOMEM, "out of memory");
  } else {
    rc = job_plan_put(x->m, &x->c.t, chunk, "from_lits, to_lits, key_from, key_to, rows_planned",
                      vals, NULL, x->err, sizeof x->err);
  }
  free(fl), free(tl), free(ft), free(tt), free(ef), free(et), free(vals);
  return rc;
}

int exec_record(dbfork_worker *w, const exec_conf *c, const exec_chunk_msg *m,
                const exec_reply *r) {
  MYSQL *my = dbfork_worker_mysql(w);
  size_t fl = m->from_len > EXEC_TEXT_MAX ? EXEC_TEXT_MAX : m->from_len;
  size_t tl = m->to_len > EXEC_TEXT_MAX ? EXEC_TEXT_MAX : m->to_len;
  char ef[2 * EXEC_TEXT_MAX + 1], et[2 * EXEC_TEXT_MAX + 1], vals[4 * EXEC_TEXT_MAX + 200];
  mysql_real_escape_string(my, ef, m->key_from, (unsigned long)fl);
  mysql_real_escape_string(my, et, m->key_to, (unsigned long)tl);
  snprintf(vals, sizeof vals, "'%s', '%s', %llu, %llu, %llu, %llu, %lu", ef, et,
           (unsigned long long)m->rows_planned, (unsigned long long)r->rows_matched,
           (unsigned long long)r->rows_affected, (unsigned long long)(r->duration_us / 1000),
           (unsigned long)mysql_thread_id(my));
  return job_record(w, &c->t, m->chunk, 1,
                    "key_from, key_to, rows_planned, rows_matched, rows_affected, duration_ms, "
                    "connection_id",
                    vals);
}

int exec_read_unfinished(dbfork_exec *x) {
  int rc = read_plan(x, 1);
  return rc < 0 ? rc : (int)(x->npend > 0);
}

int exec_shared_cut_begin(dbfork_exec *x) {
  char sql[700];
  MYSQL_RES *r;
  MYSQL_ROW row;
  if (mysql_query(x->m, "BEGIN")) return sql_fail(x, "starting the cut of a shared job", x->c.jobs);
  snprintf(sql, sizeof sql, "SELECT job_id FROM %s WHERE job_id = '%s' FOR UPDATE", x->c.jobs,
           x->c.t.job_id);
  if (mysql_query(x->m, sql) || !(r = mysql_store_result(x->m)))
    return sql_fail(x, "locking the job's row for the cut", x->c.jobs);
  mysql_free_result(r);
  /* the last chunk any process cut */
  snprintf(sql, sizeof sql,
           "SELECT chunk_no, to_lits FROM %s WHERE job_id = '%s' ORDER BY chunk_no DESC LIMIT 1",
           x->c.t.plan, x->c.t.job_id);
  if (mysql_query(x->m, sql) || !(r = mysql_store_result(x->m)))
    return sql_fail(x, "reading the job's plan", x->c.t.plan);
  if ((row = mysql_fetch_row(r)) && strtoull(row[0], NULL, 10) + 1 > x->next_chunk) {
    exec_tuple to = {0};
    if (exec_tuple_load(&to, row[1]) || to.n != x->c.nkey) {
      exec_tuple_clear(&to);
      mysql_free_result(r);
      return exec_set_err(x, DBFORK_ECHANGED,
                          "the plan row of chunk %s of job %s in %s cannot be read (it was "
                          "changed): rerun with --restart",
                          row[0], x->c.t.job_id, x->c.t.plan);
    }
    x->next_chunk = strtoull(row[0], NULL, 10) + 1;
    exec_tuple_clear(&x->cursor);
    x->cursor = to;
  }
  mysql_free_result(r);
  return 0;
}

int exec_shared_cut_end(dbfork_exec *x, int commit) {
  if (mysql_query(x->m, commit ? "COMMIT" : "ROLLBACK") && commit)
    return sql_fail(x, "committing the cut of a shared job", x->c.t.plan);
  return 0;
}

int exec_job_totals(dbfork_exec *x) {
  char sql[600];
  MYSQL_RES *r;
  MYSQL_ROW row;
  snprintf(sql, sizeof sql,
           "SELECT COUNT(*), IFNULL(SUM(rows_planned), 0) FROM %s WHERE job_id = '%s' AND part = 1",
           x->c.t.progress, x->c.t.job_id);
  if (mysql_query(x->m, sql) || !(r = mysql_store_result(x->m)))
    return DBFORK_ESQL; /* a report only: x->err keeps the job's own message */
  if ((row = mysql_fetch_row(r))) {
    x->st.job_chunks_done = strtoull(row[0], NULL, 10);
    x->st.job_rows_done = strtoull(row[1], NULL, 10);
  }
  mysql_free_result(r);
  return 0;
}
