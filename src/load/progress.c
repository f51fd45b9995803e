/*
 * progress.c — the SQL of the loader's own tables, all of it, and their
 * names, computed in one place (load_tables_names: the progress_table
 * option, or the defaults below in the target's database). Their
 * definitions are sql/load_job.sql, sql/load_plan.sql and
 * sql/load_progress.sql, compiled in:
 *
 *   dbfork_load_job       one row per job; `rejected` is the --max-errors
 *                         budget in use (updated only by parts with rejects);
 *                         completion and the file's hash
 *   dbfork_load_plan      one row per chunk, the claim's lock (job core)
 *   dbfork_load_progress  one row per committed part (job core + our columns)
 *
 * Parent side: create or upgrade the tables and check the privileges they
 * need, the job's lock, its rows, what earlier runs committed, the plan
 * rows. Worker side, inside a part's transaction: the budget and the
 * progress row.
 */

#include "loader.h"

#include <errmsg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "load_job_sql.h"      /* generated from sql/load_job.sql */
#include "load_plan_sql.h"     /* generated from sql/load_plan.sql */
#include "load_process_sql.h"  /* generated from sql/load_process.sql */
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

/* The server's codes for a missing privilege. */
static int access_denied(unsigned int code) {
  return code == 1142 || code == 1143 || code == 1044 || code == 1227 || code == 1370;
}

/* A statement on the loader's tables failed: a missing privilege becomes
 * one line that names it and the two ways out; anything else the server's
 * message. */
static int table_fail(dbfork_load *l, const char *what, const char *table) {
  const char *msg = mysql_error(l->m);
  unsigned int code = mysql_errno(l->m);
  char priv[32] = "";
  size_t n = strcspn(msg, " ");
  if (!access_denied(code)) return sql_fail(l, what);
  if (n < sizeof priv && !strncmp(msg + n, " command denied", 15))
    snprintf(priv, sizeof priv, "%.*s", (int)n, msg);
  return load_set_err(l, DBFORK_EACCES,
                      "%s: the account lacks the %s privilege on %s (%s, MySQL error %u); grant "
                      "CREATE, SELECT, INSERT, UPDATE and DELETE there, or keep the loader's "
                      "tables in a database where it has them (--progress-table=DB.TABLE), or "
                      "load without them (--no-resume: no exactly-once rerun)",
                      what, priv[0] ? priv : "needed", table, msg, code);
}

/* ---- names ---- */

int load_tables_names(dbfork_load *l) {
  load_conf *c = &l->c;
  const char *opt = l->lo.progress_table, *dot;
  char base[130], name[140], why[300], full[300];
  size_t n;
  if (!opt) {
    snprintf(c->tdb_plain, sizeof c->tdb_plain, "%s", c->db_plain);
    snprintf(c->tprogress_plain, sizeof c->tprogress_plain, "dbfork_load_progress");
  } else if ((dot = strchr(opt, '.')) != NULL) {
    if ((size_t)(dot - opt) >= sizeof c->tdb_plain || strlen(dot + 1) >= sizeof c->tprogress_plain)
      return load_set_err(l, DBFORK_EINVAL, "option --progress-table: '%s' is too long", opt);
    snprintf(c->tdb_plain, sizeof c->tdb_plain, "%.*s", (int)(dot - opt), opt);
    snprintf(c->tprogress_plain, sizeof c->tprogress_plain, "%s", dot + 1);
  } else {
    if (strlen(opt) >= sizeof c->tprogress_plain)
      return load_set_err(l, DBFORK_EINVAL, "option --progress-table: '%s' is too long", opt);
    snprintf(c->tdb_plain, sizeof c->tdb_plain, "%s", c->db_plain);
    snprintf(c->tprogress_plain, sizeof c->tprogress_plain, "%s", opt);
  }
  /* The siblings: x_progress -> x_job, x_plan; anything else -> name_job,
   * name_plan. */
  n = strlen(c->tprogress_plain);
  if (n > 9 && !strcmp(c->tprogress_plain + n - 9, "_progress"))
    snprintf(base, sizeof base, "%.*s", (int)(n - 9), c->tprogress_plain);
  else
    snprintf(base, sizeof base, "%s", c->tprogress_plain);
  {
    struct {
      char *out;
      size_t len;
      const char *plain, *suffix;
    } t[4] = {{c->t.progress, sizeof c->t.progress, c->tprogress_plain, ""},
              {c->t.plan, sizeof c->t.plan, base, "_plan"},
              {c->jobs, sizeof c->jobs, base, "_job"},
              {c->procs, sizeof c->procs, base, "_process"}};
    int i;
    for (i = 0; i < 4; i++) {
      snprintf(name, sizeof name, "%s%s", t[i].plain, t[i].suffix);
      if (snprintf(full, sizeof full, "%s.%s", c->tdb_plain, name) >= (int)sizeof full) why[0] = 0;
      if (strchr(name, '.') || load_quote_ident(full, t[i].out, t[i].len, why, sizeof why))
        return load_set_err(l, DBFORK_EINVAL, "option --progress-table: %s",
                            strchr(name, '.') ? "use DB.TABLE" : why);
    }
  }
  return 0;
}

/* A definition of sql/ with its table's default name replaced by `quoted`
 * (malloc'ed). */
static char *named(const char *def, const char *dflt, const char *quoted) {
  const char *at = strstr(def, dflt);
  size_t pre, q = strlen(quoted), rest;
  char *out;
  if (!at) return NULL;
  pre = (size_t)(at - def);
  rest = strlen(at + strlen(dflt));
  if (!(out = malloc(pre + q + rest + 1))) return NULL;
  memcpy(out, def, pre);
  memcpy(out + pre, quoted, q);
  memcpy(out + pre + q, at + strlen(dflt), rest + 1);
  return out;
}

/* 1 if table `plain` of the loader's database has column `col`, 0 if not,
 * < 0 on error. */
static int has_column(dbfork_load *l, const char *plain, const char *col) {
  char sql[1024], e1[300], e2[300], e3[140];
  long long has;
  load_sql_string(l->m, e1, l->c.tdb_plain, strlen(l->c.tdb_plain));
  load_sql_string(l->m, e2, plain, strlen(plain));
  load_sql_string(l->m, e3, col, strlen(col));
  snprintf(sql, sizeof sql,
           "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA=%s AND "
           "TABLE_NAME=%s AND COLUMN_NAME=%s",
           e1, e2, e3);
  if (q_ll(l->m, sql, &has)) return sql_fail(l, "reading the columns of the loader's tables");
  return has > 0;
}

/* Tables of earlier versions: a progress table of dbfork 0.1 has no `part`
 * (its rows are whole chunks, which is what part 1 means); a job table of
 * 0.2 has no job_key, generation or completion columns (its jobs are the
 * first of their key, none of them known to be complete). */
static int upgrade(dbfork_load *l) {
  char sql[1024], plain[200];
  int rc;
  if ((rc = has_column(l, l->c.tprogress_plain, "part")) < 0) return rc;
  if (!rc) {
    snprintf(sql, sizeof sql,
             "ALTER TABLE %s ADD COLUMN part BIGINT UNSIGNED NOT NULL DEFAULT 1 AFTER chunk_no, "
             "DROP PRIMARY KEY, ADD PRIMARY KEY (job_id, chunk_no, part)",
             l->c.t.progress);
    if (mysql_query(l->m, sql))
      return table_fail(l, "upgrading the progress table of dbfork 0.1", l->c.t.progress);
  }
  /* the job table's plain name: between the quotes after the dot */
  snprintf(plain, sizeof plain, "%s", strstr(l->c.jobs, "`.`") + 3);
  plain[strlen(plain) - 1] = 0;
  if ((rc = has_column(l, plain, "job_key")) < 0) return rc;
  if (!rc) {
    snprintf(sql, sizeof sql,
             "ALTER TABLE %s ADD COLUMN job_key CHAR(16) NOT NULL DEFAULT '' AFTER job_id, ADD "
             "COLUMN generation INT UNSIGNED NOT NULL DEFAULT 1 AFTER job_key, ADD COLUMN "
             "completed_at TIMESTAMP(6) NULL DEFAULT NULL, ADD COLUMN file_hash BIGINT UNSIGNED "
             "NULL DEFAULT NULL, ADD COLUMN rows_loaded BIGINT UNSIGNED NULL DEFAULT NULL, ADD "
             "KEY job_key (job_key, generation)",
             l->c.jobs);
    if (mysql_query(l->m, sql))
      return table_fail(l, "upgrading the job table of dbfork 0.2", l->c.jobs);
    snprintf(sql, sizeof sql, "UPDATE %s SET job_key = job_id WHERE job_key = ''", l->c.jobs);
    if (mysql_query(l->m, sql)) return table_fail(l, "upgrading the job table", l->c.jobs);
  }
  return 0;
}

/* Runs the statements a load runs on the loader's tables (the parent's and
 * the workers') inside a transaction that is rolled back, so that a missing
 * privilege shows now, in one line, not as a chunk failing later. The rows
 * it touches are of chunk 4294967295, which no job has. READ COMMITTED: the
 * locking read of a row that does not exist then takes no gap lock, so two
 * loads probing the same tables at once (other tables, same database) do
 * not deadlock on each other's gap; should one still meet a deadlock or a
 * lock wait timeout, the probe is run again (a few times), as a worker's
 * chunk would be. 1 is returned for that case only. */
static int probe_once(dbfork_load *l) {
  const load_conf *c = &l->c;
  char sql[1024];
  int rc = 0, i;
  struct {
    const char *fmt, *table;
  } st[] = {
      {"SELECT chunk_no FROM %s WHERE job_id='%s' AND chunk_no=4294967295 FOR UPDATE", c->t.plan},
      {"INSERT INTO %s (job_id, chunk_no, byte_offset, byte_len, first_line, records) VALUES "
       "('%s', 4294967295, 0, 0, 0, 0)",
       c->t.plan},
      {"INSERT INTO %s (job_id, chunk_no, part, byte_offset, byte_len, first_line, records, "
       "worker_pid, chunk_hash) VALUES ('%s', 4294967295, 1, 0, 0, 0, 0, 0, 0)",
       c->t.progress},
      {"DELETE FROM %s WHERE job_id='%s' AND chunk_no=4294967295", c->t.progress},
      {"UPDATE %s SET rejected = rejected WHERE job_id='%s'", c->jobs},
      {"SELECT rejected FROM %s WHERE job_id='%s'", c->jobs},
  };
  if (mysql_query(l->m, "SET TRANSACTION ISOLATION LEVEL READ COMMITTED") ||
      mysql_query(l->m, "START TRANSACTION"))
    return sql_fail(l, "checking the loader's tables");
  for (i = 0; i < (int)(sizeof st / sizeof st[0]) && !rc; i++) {
    MYSQL_RES *r;
    snprintf(sql, sizeof sql, st[i].fmt, st[i].table, c->job_key);
    if (mysql_query(l->m, sql)) {
      unsigned int code = mysql_errno(l->m);
      rc = code == 1213 || code == 1205
               ? 1 /* ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT */
               : table_fail(l, "cannot write the loader's tables", st[i].table);
      if (rc == 1) sql_fail(l, "cannot write the loader's tables"); /* the last one's text */
      break;
    }
    if ((r = mysql_store_result(l->m))) mysql_free_result(r);
  }
  if (mysql_query(l->m, "ROLLBACK") && !rc) rc = sql_fail(l, "checking the loader's tables");
  return rc;
}

static int probe(dbfork_load *l) {
  int rc, tries = 0;
  while ((rc = probe_once(l)) == 1 && ++tries < 5) usleep(20000u << tries);
  return rc == 1 ? DBFORK_ESQL : rc;
}

/* 1 if the loader's table `quoted` (`db`.`name`) exists, 0 if not, < 0 on
 * error. */
static int table_exists(dbfork_load *l, const char *quoted) {
  char plain[200], sql[700], e1[300], e2[300];
  long long n;
  const char *dot = strstr(quoted, "`.`");
  snprintf(plain, sizeof plain, "%s", dot + 3);
  plain[strlen(plain) - 1] = 0;
  /* the plain names: `` inside the quotes is one backquote */
  {
    char *r, *w;
    for (r = w = plain; *r; r++) {
      *w++ = *r;
      if (*r == '`' && r[1] == '`') r++;
    }
    *w = 0;
  }
  load_sql_string(l->m, e1, l->c.tdb_plain, strlen(l->c.tdb_plain));
  load_sql_string(l->m, e2, plain, strlen(plain));
  snprintf(sql, sizeof sql,
           "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA=%s AND TABLE_NAME=%s",
           e1, e2);
  if (q_ll(l->m, sql, &n)) return sql_fail(l, "looking for the loader's tables");
  return n > 0;
}

int load_tables_prepare(dbfork_load *l) {
  load_conf *c = &l->c;
  struct {
    const char *def, *dflt, *quoted;
  } t[4] = {{DBFORK_LOAD_JOB_SQL, "dbfork_load_job", c->jobs},
            {DBFORK_LOAD_PLAN_SQL, "dbfork_load_plan", c->t.plan},
            {DBFORK_LOAD_PROGRESS_SQL, "dbfork_load_progress", c->t.progress},
            {DBFORK_LOAD_PROCESS_SQL, "dbfork_load_process", c->procs}};
  int i, rc;
  for (i = 0; i < (c->job_shared ? 4 : 3); i++) {
    char *sql, what[400];
    /* Created if missing only: an account without CREATE may use tables
     * that someone made for it. */
    if ((rc = table_exists(l, t[i].quoted)) < 0) return rc;
    if (rc) continue;
    if (!(sql = named(t[i].def, t[i].dflt, t[i].quoted)))
      return load_set_err(l, DBFORK_ENOMEM, "out of memory");
    snprintf(what, sizeof what, "cannot create the loader's table %s", t[i].quoted);
    rc = mysql_query(l->m, sql) ? table_fail(l, what, t[i].quoted) : 0;
    free(sql);
    if (rc) {
      if (mysql_errno(l->m) == 1049) /* no such database */
        return load_set_err(l, DBFORK_EINVAL,
                            "option --progress-table: database `%s` does not exist", c->tdb_plain);
      return rc;
    }
  }
  if ((rc = upgrade(l))) return rc;
  return probe(l);
}

/* ---- the job's lock and rows ---- */

int load_job_lock(dbfork_load *l) {
  char sql[200];
  long long got, holder;
  snprintf(sql, sizeof sql, "SELECT GET_LOCK('dbfork_load:%s', 0)", l->c.job_key);
  if (q_ll(l->m, sql, &got)) return sql_fail(l, "taking the job's lock");
  if (got == 1) {
    l->locked = 1;
    return 0;
  }
  snprintf(sql, sizeof sql, "SELECT IS_USED_LOCK('dbfork_load:%s')", l->c.job_key);
  if (q_ll(l->m, sql, &holder)) holder = 0;
  return load_set_err(l, DBFORK_EBUSY,
                      "job %s (%s into %s) is being loaded by another run (connection id %lld); "
                      "wait for it to end, or stop it",
                      l->c.t.job_id[0] ? l->c.t.job_id : l->c.job_key, l->c.path, l->c.table,
                      holder);
}

void load_job_unlock(dbfork_load *l) {
  char sql[200];
  MYSQL_RES *r;
  if (!l->locked || !l->m) return;
  l->locked = 0;
  snprintf(sql, sizeof sql, "SELECT RELEASE_LOCK('dbfork_load:%s')", l->c.job_key);
  if (!mysql_query(l->m, sql) && (r = mysql_store_result(l->m))) mysql_free_result(r);
}

int load_job_find(dbfork_load *l, load_jobrow *j) {
  char sql[700];
  MYSQL_RES *r;
  MYSQL_ROW row;
  memset(j, 0, sizeof *j);
  snprintf(sql, sizeof sql,
           "SELECT job_id, generation, completed_at IS NOT NULL, "
           "IFNULL(DATE_FORMAT(completed_at, '%%Y-%%m-%%d %%H:%%i:%%s'), ''), file_size, "
           "IFNULL(file_hash, 0), IFNULL(rows_loaded, 0), rejected FROM %s WHERE job_key='%s' "
           "ORDER BY generation DESC LIMIT 1",
           l->c.jobs, l->c.job_key);
  if (mysql_query(l->m, sql) || !(r = mysql_store_result(l->m)))
    return table_fail(l, "reading the job table", l->c.jobs);
  if ((row = mysql_fetch_row(r)) != NULL) {
    j->found = 1;
    snprintf(j->id, sizeof j->id, "%s", row[0] ? row[0] : "");
    j->generation = (unsigned)strtoul(row[1], NULL, 10);
    j->completed = row[2] && row[2][0] == '1';
    snprintf(j->completed_at, sizeof j->completed_at, "%s", row[3] ? row[3] : "");
    j->file_size = strtoull(row[4], NULL, 10);
    j->file_hash = strtoull(row[5], NULL, 10);
    j->rows = strtoull(row[6], NULL, 10);
    j->rejected = strtoull(row[7], NULL, 10);
  }
  mysql_free_result(r);
  return 0;
}

int load_job_start(dbfork_load *l, const char *id, unsigned g, const char *forget, int drop_row,
                   int truncate) {
  load_conf *c = &l->c;
  char sql[PATH_MAX * 2 + 2048], e1[PATH_MAX * 2 + 3], e2[620];
  int rc = 0;
  if (mysql_query(l->m, "START TRANSACTION")) return sql_fail(l, "starting the job");
  if (truncate) {
    snprintf(sql, sizeof sql, "DELETE FROM %s", c->table);
    if (mysql_query(l->m, sql)) rc = table_fail(l, "--truncate: cannot empty the table", c->table);
  }
  if (!rc && forget && !c->no_resume) {
    snprintf(sql, sizeof sql, "DELETE FROM %s WHERE job_id='%s'", c->t.progress, forget);
    if (mysql_query(l->m, sql)) rc = table_fail(l, "forgetting a job's progress", c->t.progress);
    snprintf(sql, sizeof sql, "DELETE FROM %s WHERE job_id='%s'", c->t.plan, forget);
    if (!rc && mysql_query(l->m, sql)) rc = table_fail(l, "forgetting a job's plan", c->t.plan);
    snprintf(sql, sizeof sql, "DELETE FROM %s WHERE job_id='%s'", c->jobs, forget);
    if (!rc && drop_row && mysql_query(l->m, sql)) rc = table_fail(l, "forgetting a job", c->jobs);
  }
  if (!rc && !c->no_resume) {
    /* A job that dbfork 0.1 started has progress rows but no job row: its
     * budget in use is what they rejected. */
    load_sql_string(l->m, e1, c->path, strlen(c->path));
    load_sql_string(l->m, e2, c->table, strlen(c->table));
    snprintf(sql, sizeof sql,
             "INSERT INTO %s (job_id, job_key, generation, file, table_name, file_size, "
             "chunk_size, rejected) SELECT '%s', '%s', %u, %s, %s, %llu, %llu, "
             "IFNULL(SUM(rejected), 0) FROM %s WHERE job_id='%s'",
             c->jobs, id, c->job_key, g, e1, e2, (unsigned long long)l->st.file_bytes,
             (unsigned long long)c->chunk_bytes, c->t.progress, id);
    if (mysql_query(l->m, sql)) rc = table_fail(l, "recording the job", c->jobs);
  }
  if (rc) {
    (void)mysql_query(l->m, "ROLLBACK");
    return rc;
  }
  if (mysql_query(l->m, "COMMIT")) return sql_fail(l, "starting the job");
  return 0;
}

/* Lost-connection errors of the parent's session: the server restarted or
 * killed it. The workers reconnect by themselves; the parent does here. */
static int lost(unsigned int e) {
  return e == CR_SERVER_GONE_ERROR || e == CR_SERVER_LOST || e == CR_CONNECTION_ERROR ||
         e == 1927 /* ER_CONNECTION_KILLED */ || e == 1053 /* ER_SERVER_SHUTDOWN */;
}

/* A new session for the parent after its old one was lost; it takes the
 * job's lock again, which went with the old session (another run may have
 * taken it meanwhile: then this run fails with DBFORK_EBUSY). */
static int reconnect(dbfork_load *l) {
  int rc, had = l->locked;
  l->locked = 0;
  if ((rc = load_connect_parent(l))) return rc;
  return had ? load_job_lock(l) : 0;
}

int load_job_complete(dbfork_load *l) {
  const load_conf *c = &l->c;
  char sql[1024];
  snprintf(sql, sizeof sql,
           "UPDATE %s SET completed_at = CURRENT_TIMESTAMP(6), file_hash = %llu, file_size = "
           "%llu, rows_loaded = (SELECT IFNULL(SUM(records), 0) FROM %s WHERE job_id='%s') WHERE "
           "job_id='%s'%s",
           c->jobs, (unsigned long long)l->file_hash, (unsigned long long)l->st.file_bytes,
           c->t.progress, c->t.job_id, c->t.job_id,
           c->job_shared ? " AND completed_at IS NULL" : ""); /* the first process's stays */
  /* The parent's session may have been lost since the last plan row (a
   * server restart): the update is one autocommit statement, safe again. */
  if (mysql_query(l->m, sql) &&
      (!lost(mysql_errno(l->m)) || reconnect(l) || mysql_query(l->m, sql)))
    return table_fail(l, "recording that the job completed", c->jobs);
  return 0;
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
  l->st.rows_before += d->records;
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

int load_plan_store(dbfork_load *l, const csv_chunk *ch) {
  char vals[128];
  int rc, tries;
  if (l->c.job_shared) return load_share_plan(l, ch);
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
    if ((rc = reconnect(l))) return rc;
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
