/*
 * sql.c — the statements of the job core on a job's plan and progress
 * tables: the claim of a chunk, the record of a committed part, the plan
 * rows, the resume scan, a restart. The layers define the tables (their
 * CREATE statements live in sql/ of the source tree, one file per table)
 * and bring their own columns; the columns every job has are these:
 *
 *   plan:     job_id, chunk_no                        PRIMARY KEY (job_id, chunk_no)
 *   progress: job_id, chunk_no, part, worker_pid      PRIMARY KEY (job_id, chunk_no, part)
 *
 * Why a plan row per chunk: the claim locks it (an exact primary-key match
 * on a row that exists, so InnoDB takes a record lock and no gap lock), and
 * every transaction that works on a chunk takes that lock first. Two of them
 * can then never overlap: the second waits until the first has committed or
 * rolled back, then reads what the first committed. That holds for a retry
 * after an unknown COMMIT outcome (the dead worker's session may still be
 * committing when the retry starts), for a rerun started while a killed
 * run's worker finishes its chunk, and later for processes on several hosts.
 * The read of the committed parts after the lock is a plain consistent read:
 * the transaction's snapshot is taken by its first consistent read, which
 * comes after the lock was granted (START TRANSACTION without WITH
 * CONSISTENT SNAPSHOT), so it sees the earlier transaction's rows.
 */
#include "job.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void set_err(char *err, size_t errlen, const char *what, MYSQL *m) {
  if (err && errlen)
    snprintf(err, errlen, "%s: %s (MySQL error %u)", what, mysql_error(m), mysql_errno(m));
}

int job_exec(MYSQL *m, const char *sql, const char *what, char *err, size_t errlen) {
  MYSQL_RES *r;
  if (mysql_query(m, sql)) {
    set_err(err, errlen, what, m);
    return DBFORK_ESQL;
  }
  r = mysql_store_result(m);
  if (r) mysql_free_result(r);
  return 0;
}

/* Runs a SELECT and calls row() per row (cols = the row from column 2 on,
 * chunk and part being the first two). */
static int scan(MYSQL *m, const char *sql, job_row_fn row, void *ud, int *cbrc) {
  MYSQL_RES *r;
  MYSQL_ROW rw;
  *cbrc = 0;
  if (mysql_query(m, sql) || !(r = mysql_store_result(m))) return DBFORK_ESQL;
  while ((rw = mysql_fetch_row(r))) {
    uint64_t chunk = rw[0] ? strtoull(rw[0], NULL, 10) : 0;
    uint64_t part = rw[1] ? strtoull(rw[1], NULL, 10) : 0;
    if (row && (*cbrc = row(ud, chunk, part, rw + 2)) != 0) break;
  }
  mysql_free_result(r);
  return 0;
}

static int claim(dbfork_worker *w, const job_tables *t, uint64_t chunk, const char *select,
                 job_row_fn row, void *ud, int skip_locked) {
  MYSQL *m = dbfork_worker_mysql(w);
  char sql[1024];
  MYSQL_RES *r;
  int found, cbrc;
  uint64_t exists = 0;
  snprintf(sql, sizeof sql,
           "SELECT chunk_no FROM %s WHERE job_id='%s' AND chunk_no=%llu FOR UPDATE%s", t->plan,
           t->job_id, (unsigned long long)chunk, skip_locked ? " SKIP LOCKED" : "");
  if (mysql_query(m, sql) || !(r = mysql_store_result(m))) return DBFORK_ESQL;
  found = mysql_num_rows(r) == 1;
  mysql_free_result(r);
  if (!found && skip_locked) {
    /* skipped, or not there: a plain read tells which */
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s WHERE job_id='%s' AND chunk_no=%llu",
             t->plan, t->job_id, (unsigned long long)chunk);
    if (mysql_query(m, sql) || !(r = mysql_store_result(m))) return DBFORK_ESQL;
    {
      MYSQL_ROW c = mysql_fetch_row(r);
      exists = c && c[0] ? strtoull(c[0], NULL, 10) : 0;
    }
    mysql_free_result(r);
    if (exists) return JOB_CLAIM_TAKEN;
  }
  if (!found)
    return dbfork_worker_fail(w, DBFORK_ETASK, 0, NULL,
                              "chunk %llu of job %s has no row in %s: the plan was removed "
                              "while the job ran",
                              (unsigned long long)chunk, t->job_id, t->plan);
  snprintf(sql, sizeof sql, "SELECT chunk_no, part%s%s FROM %s WHERE job_id='%s' AND chunk_no=%llu",
           select ? ", " : "", select ? select : "", t->progress, t->job_id,
           (unsigned long long)chunk);
  if (scan(m, sql, row, ud, &cbrc)) return DBFORK_ESQL;
  return cbrc;
}

int job_claim(dbfork_worker *w, const job_tables *t, uint64_t chunk, const char *select,
              job_row_fn row, void *ud) {
  return claim(w, t, chunk, select, row, ud, 0);
}

int job_claim_shared(dbfork_worker *w, const job_tables *t, uint64_t chunk, const char *select,
                     job_row_fn row, void *ud) {
  return claim(w, t, chunk, select, row, ud, 1);
}

int job_record(dbfork_worker *w, const job_tables *t, uint64_t chunk, uint64_t part,
               const char *cols, const char *vals) {
  MYSQL *m = dbfork_worker_mysql(w);
  char *sql = NULL;
  int n, rc = 0;
  n = asprintf(&sql,
               "INSERT INTO %s (job_id, chunk_no, part, worker_pid%s%s) VALUES ('%s', %llu, %llu, "
               "%ld%s%s)",
               t->progress, cols ? ", " : "", cols ? cols : "", t->job_id,
               (unsigned long long)chunk, (unsigned long long)part, (long)getpid(),
               vals ? ", " : "", vals ? vals : "");
  if (n < 0) return DBFORK_ENOMEM;
  if (mysql_real_query(m, sql, (unsigned long)n)) rc = DBFORK_ESQL;
  free(sql);
  return rc;
}

int job_plan_put(MYSQL *m, const job_tables *t, uint64_t chunk, const char *cols, const char *vals,
                 const char *update, char *err, size_t errlen) {
  char *sql = NULL;
  int n, rc;
  n = asprintf(&sql, "INSERT %sINTO %s (job_id, chunk_no%s%s) VALUES ('%s', %llu%s%s)%s%s",
               update ? "" : "IGNORE ", t->plan, cols ? ", " : "", cols ? cols : "", t->job_id,
               (unsigned long long)chunk, vals ? ", " : "", vals ? vals : "",
               update ? " ON DUPLICATE KEY UPDATE " : "", update ? update : "");
  if (n < 0) return DBFORK_ENOMEM;
  rc = job_exec(m, sql, "storing the plan", err, errlen);
  free(sql);
  return rc;
}

int job_progress_scan(MYSQL *m, const job_tables *t, const char *select, job_row_fn row, void *ud,
                      char *err, size_t errlen) {
  char sql[1024];
  int cbrc;
  snprintf(sql, sizeof sql,
           "SELECT chunk_no, part%s%s FROM %s WHERE job_id='%s' ORDER BY chunk_no, part",
           select ? ", " : "", select ? select : "", t->progress, t->job_id);
  if (scan(m, sql, row, ud, &cbrc)) {
    set_err(err, errlen, "reading the progress table", m);
    return DBFORK_ESQL;
  }
  return cbrc;
}

int job_forget(MYSQL *m, const job_tables *t, char *err, size_t errlen) {
  char sql[512];
  int rc;
  snprintf(sql, sizeof sql, "DELETE FROM %s WHERE job_id='%s'", t->progress, t->job_id);
  rc = job_exec(m, sql, "forgetting the job's progress", err, errlen);
  if (rc) return rc;
  snprintf(sql, sizeof sql, "DELETE FROM %s WHERE job_id='%s'", t->plan, t->job_id);
  return job_exec(m, sql, "forgetting the job's plan", err, errlen);
}
