/*
 * progress.c — the SQL of the loader's own tables, all of it (their
 * definitions are sql/load_job.sql, sql/load_plan.sql and
 * sql/load_progress.sql, compiled in):
 *
 *   dbfork_load_job       one row per job; `rejected` is the --max-errors
 *                         budget in use (updated only by parts with rejects)
 *   dbfork_load_plan      one row per chunk, the claim's lock (job core)
 *   dbfork_load_progress  one row per committed part (job core + our columns)
 *
 * Parent side: create or upgrade the tables, the job row, what earlier runs
 * committed, the plan rows. Worker side, inside a part's transaction: the
 * budget and the progress row.
 */

#include "loader.h"

#include <errmsg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load_job_sql.h"      /* generated from sql/load_job.sql */
#include "load_plan_sql.h"     /* generated from sql/load_plan.sql */
#include "load_progress_sql.h" /* generated from sql/load_progress.sql */

static int q_ll(MYSQL *m, const char *sql, long long *out) {
  MYSQL_RES *r;
  MYSQL_ROW row;
  if (mysql_query(m, sql) || !(r = mysql_store_result(m))) return -1;
  row = mysql_fetch_row(r);
  *out = row && row[0] ? strtoll(row[0], NULL, 10) : 0;
  mysql_free_result(r);
  return 0;
}

static int sql_fail(dbfork_load *l, const char *what) {
  return load_set_err(l, DBFORK_ESQL, "%s: %s (MySQL error %u)", what, mysql_error(l->m),
                      mysql_errno(l->m));
}

/* A progress table made by dbfork 0.1 has no `part`: its rows are whole
 * chunks, which is what part 1 means, so the column is added with that
 * default and the key widened. */
static int upgrade_progress(dbfork_load *l) {
  char sql[1024], e1[300];
  long long has;
  load_sql_string(l->m, e1, l->c.db_plain, strlen(l->c.db_plain));
  snprintf(sql, sizeof sql,
           "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA=%s AND "
           "TABLE_NAME='dbfork_load_progress' AND COLUMN_NAME='part'",
           e1);
  if (q_ll(l->m, sql, &has)) return sql_fail(l, "reading the progress table's columns");
  if (has) return 0;
  snprintf(sql, sizeof sql,
           "ALTER TABLE %s ADD COLUMN part BIGINT UNSIGNED NOT NULL DEFAULT 1 AFTER chunk_no, "
           "DROP PRIMARY KEY, ADD PRIMARY KEY (job_id, chunk_no, part)",
           l->c.t.progress);
  if (mysql_query(l->m, sql)) return sql_fail(l, "upgrading the progress table of dbfork 0.1");
  return 0;
}

int load_tables_prepare(dbfork_load *l) {
  load_conf *c = &l->c;
  char sql[PATH_MAX * 2 + 2048], e1[PATH_MAX * 2 + 3], e2[620];
  int rc;
  /* The definitions name their tables without a database: run them in the
   * target's. */
  if (mysql_select_db(l->m, c->db_plain))
    return load_set_err(l, DBFORK_EINVAL, "option table: database %s: %s", c->db,
                        mysql_error(l->m));
  if ((rc = job_exec(l->m, DBFORK_LOAD_JOB_SQL, "creating dbfork_load_job", l->err,
                     sizeof l->err)) ||
      (rc = job_exec(l->m, DBFORK_LOAD_PLAN_SQL, "creating dbfork_load_plan", l->err,
                     sizeof l->err)) ||
      (rc = job_exec(l->m, DBFORK_LOAD_PROGRESS_SQL, "creating dbfork_load_progress", l->err,
                     sizeof l->err)))
    return rc;
  if ((rc = upgrade_progress(l))) return rc;
  if (l->lo.restart) {
    if ((rc = job_forget(l->m, &c->t, l->err, sizeof l->err))) return rc;
    snprintf(sql, sizeof sql, "DELETE FROM %s WHERE job_id='%s'", c->jobs, c->t.job_id);
    if ((rc = job_exec(l->m, sql, "forgetting the job", l->err, sizeof l->err))) return rc;
  }
  /* The job row; a job that earlier dbfork versions started has progress
   * rows but no job row: its budget in use is what they rejected. */
  load_sql_string(l->m, e1, c->path, strlen(c->path));
  load_sql_string(l->m, e2, c->table, strlen(c->table));
  snprintf(sql, sizeof sql,
           "INSERT IGNORE INTO %s (job_id, file, table_name, file_size, chunk_size, rejected) "
           "SELECT '%s', %s, %s, %llu, %llu, IFNULL(SUM(rejected), 0) FROM %s WHERE job_id='%s'",
           c->jobs, c->t.job_id, e1, e2, (unsigned long long)l->st.file_bytes,
           (unsigned long long)c->chunk_bytes, c->t.progress, c->t.job_id);
  return job_exec(l->m, sql, "recording the job", l->err, sizeof l->err);
}

static int prior_row(void *ud, uint64_t chunk, uint64_t part, MYSQL_ROW cols) {
  dbfork_load *l = ud;
  load_done *d;
  if (load_grow((void **)&l->prior, &l->capprior, l->nprior + 1, sizeof *l->prior))
    return DBFORK_ENOMEM;
  d = &l->prior[l->nprior++];
  d->chunk = chunk;
  d->part = part;
  d->off = strtoull(cols[0], NULL, 10);
  d->len = strtoull(cols[1], NULL, 10);
  d->hash = strtoull(cols[2], NULL, 10);
  d->records = strtoull(cols[3], NULL, 10);
  d->rejected = cols[4] ? strtoull(cols[4], NULL, 10) : 0;
  l->st.rejected_before += d->rejected;
  return 0;
}

int load_read_prior(dbfork_load *l) {
  char sql[512];
  long long n;
  int rc = job_progress_scan(l->m, &l->c.t, "byte_offset, byte_len, chunk_hash, records, rejected",
                             prior_row, l, l->err, sizeof l->err);
  if (rc == DBFORK_ENOMEM) return load_set_err(l, rc, "out of memory reading the progress table");
  if (rc) return rc;
  snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s WHERE job_id='%s'", l->c.t.plan,
           l->c.t.job_id);
  if (q_ll(l->m, sql, &n)) return sql_fail(l, "reading the plan table");
  l->plan_rows = (uint64_t)n;
  return 0;
}

const load_done *load_prior_find(const dbfork_load *l, uint64_t chunk, uint64_t part) {
  size_t lo = 0, hi = l->nprior;
  while (lo < hi) { /* sorted by (chunk, part): ORDER BY in the scan */
    size_t mid = (lo + hi) / 2;
    const load_done *d = &l->prior[mid];
    if (d->chunk < chunk || (d->chunk == chunk && d->part < part))
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < l->nprior && l->prior[lo].chunk == chunk && l->prior[lo].part == part ? &l->prior[lo]
                                                                                    : NULL;
}

/* Lost-connection errors of the parent's session: the server restarted or
 * killed it. The workers reconnect by themselves; the parent does here. */
static int lost(unsigned int e) {
  return e == CR_SERVER_GONE_ERROR || e == CR_SERVER_LOST || e == CR_CONNECTION_ERROR ||
         e == 1927 /* ER_CONNECTION_KILLED */ || e == 1053 /* ER_SERVER_SHUTDOWN */;
}

int load_plan_store(dbfork_load *l, const csv_chunk *ch) {
  char vals[128];
  int rc, tries;
  snprintf(vals, sizeof vals, "%llu, %llu, %llu, %llu", (unsigned long long)ch->off,
           (unsigned long long)ch->len, (unsigned long long)ch->first_line,
           (unsigned long long)ch->records);
  for (tries = 0;; tries++) {
    rc = job_plan_put(l->m, &l->c.t, ch->index, "byte_offset, byte_len, first_line, records", vals,
                      "byte_offset = VALUES(byte_offset), byte_len = VALUES(byte_len), "
                      "first_line = VALUES(first_line), records = VALUES(records)",
                      l->err, sizeof l->err);
    /* The row is written once or not at all (autocommit): writing it again
     * on a new session is safe. dbfork_connect waits up to connect_timeout
     * for a restarting server. */
    if (rc != DBFORK_ESQL || !lost(mysql_errno(l->m)) || tries == 2) return rc;
    if ((rc = load_connect_parent(l))) return rc;
  }
}

long long load_budget_used(dbfork_worker *w, const load_conf *c) {
  MYSQL *m = dbfork_worker_mysql(w);
  char sql[512];
  long long v;
  snprintf(sql, sizeof sql, "SELECT rejected FROM %s WHERE job_id='%s'", c->jobs, c->t.job_id);
  return q_ll(m, sql, &v) ? -1 : v;
}

int load_budget_take(dbfork_worker *w, const load_conf *c, uint64_t rejected) {
  MYSQL *m = dbfork_worker_mysql(w);
  char sql[512];
  snprintf(sql, sizeof sql,
           "UPDATE %s SET rejected = rejected + %llu WHERE job_id='%s' AND rejected + %llu <= "
           "%llu",
           c->jobs, (unsigned long long)rejected, c->t.job_id, (unsigned long long)rejected,
           (unsigned long long)c->max_errors);
  if (mysql_query(m, sql)) return DBFORK_ESQL;
  return mysql_affected_rows(m) == 1 ? 0 : 1;
}

int load_record_part(dbfork_worker *w, const load_conf *c, const load_part *p, uint64_t records,
                     uint64_t rejected, uint64_t warnings, uint64_t hash) {
  char vals[256];
  snprintf(vals, sizeof vals, "%llu, %llu, %llu, %llu, %llu, %llu, %llu",
           (unsigned long long)p->offset, (unsigned long long)p->length,
           (unsigned long long)p->first_line, (unsigned long long)records,
           (unsigned long long)rejected, (unsigned long long)warnings, (unsigned long long)hash);
  return job_record(w, &c->t, p->chunk, p->part,
                    "byte_offset, byte_len, first_line, records, rejected, warnings, chunk_hash",
                    vals);
}
