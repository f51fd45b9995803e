/*
 * jobs.c — shared jobs seen from anywhere: the list of the jobs in a
 * database's exec tables, one job's report (its plan, what is committed,
 * each process with its rate and heartbeat), and forgetting a job. Read
 * from the tables only (dbfork_exec_job, _plan, _progress, _process): any
 * host that can connect can ask, while the job runs or afterwards.
 */
#include "execint.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct jq {
  MYSQL *m;
  char db[140]; /* the exec tables' database, quoted */
  char *err;
  size_t errlen;
  char *out;
  size_t len, cap;
  int oom;
} jq;

static void add(jq *q, const char *fmt, ...) DBFORK_PRINTF(2, 3);
static void add(jq *q, const char *fmt, ...) {
  va_list ap;
  int n;
  if (q->oom) return;
  for (;;) {
    va_start(ap, fmt);
    n = vsnprintf(q->out ? q->out + q->len : NULL, q->out ? q->cap - q->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
      q->oom = 1;
      return;
    }
    if (q->out && q->len + (size_t)n < q->cap) break;
    {
      size_t cap = q->cap ? q->cap * 2 : 1024;
      char *p;
      while (cap <= q->len + (size_t)n) cap *= 2;
      if (!(p = realloc(q->out, cap))) {
        q->oom = 1;
        return;
      }
      q->out = p;
      q->cap = cap;
    }
  }
  q->len += (size_t)n;
}

static int fail(jq *q, int code, const char *what) {
  snprintf(q->err, q->errlen, "%s: %s (MySQL error %u)", what, mysql_error(q->m),
           mysql_errno(q->m));
  return code;
}

/* Connects and checks the name and that the shared-job tables exist. */
static int open_q(jq *q, const dbfork_options *conn, const char *progress_db, const char *name,
                  char *err, size_t errlen) {
  char sql[400], cur[130] = "";
  const char *db;
  MYSQL_RES *r;
  MYSQL_ROW row;
  int rc, have = 0;
  memset(q, 0, sizeof *q);
  q->err = err;
  q->errlen = errlen;
  if (err && errlen) err[0] = 0;
  if (name) {
    size_t k, n = strlen(name);
    for (k = 0; k < n; k++)
      if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-", name[k]))
        break;
    if (!n || n > 64 || k < n) {
      snprintf(err, errlen, "'%s' is not a job name (1-64 of A-Z a-z 0-9 _ . -)", name);
      return DBFORK_EINVAL;
    }
  }
  if ((rc = dbfork_connect(&q->m, conn, err, errlen))) return rc;
  db = progress_db ? progress_db : job_default_db(q->m, conn->database, cur, sizeof cur);
  if (!db || !*db || strlen(db) > 64) {
    snprintf(err, errlen, "no database: give the exec tables' database (-D or --progress-db)");
    return DBFORK_EINVAL;
  }
  if (strchr(db, '`') || strchr(db, '\'')) {
    snprintf(err, errlen, "'%s' is not a database name dbfork accepts", db);
    return DBFORK_EINVAL;
  }
  snprintf(q->db, sizeof q->db, "`%s`", db);
  snprintf(sql, sizeof sql,
           "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '%s' AND "
           "TABLE_NAME IN ('dbfork_exec_job', 'dbfork_exec_plan', 'dbfork_exec_progress', "
           "'dbfork_exec_process')",
           db);
  if (mysql_query(q->m, sql) || !(r = mysql_store_result(q->m)))
    return fail(q, DBFORK_ESQL, "looking for the exec tables");
  if ((row = mysql_fetch_row(r))) have = atoi(row[0]);
  mysql_free_result(r);
  if (have < 4) {
    snprintf(err, errlen, "database %s has no shared exec jobs (no dbfork_exec_process table)", db);
    return DBFORK_ENOENT;
  }
  return 0;
}

static void close_q(jq *q) {
  if (q->m) dbfork_mysql_close(q->m);
  q->m = NULL;
}

static int finish(jq *q, int rc, char **out) {
  close_q(q);
  if (!rc && q->oom) rc = DBFORK_ENOMEM;
  if (rc) {
    free(q->out);
    return rc;
  }
  *out = q->out ? q->out : strdup("");
  return *out ? 0 : DBFORK_ENOMEM;
}

static int list(jq *q, int json) {
  char sql[1600];
  MYSQL_RES *r;
  MYSQL_ROW row;
  int n = 0;
  snprintf(sql, sizeof sql,
           "SELECT p.job_name, j.job_id, j.target, IFNULL(j.completed_at, ''), "
           "(SELECT COUNT(*) FROM %s.dbfork_exec_progress g WHERE g.job_id = j.job_id), "
           "(SELECT COUNT(*) FROM %s.dbfork_exec_process a WHERE a.job_id = j.job_id AND "
           "a.ended_at IS NULL AND a.killed_by IS NULL AND a.heartbeat_at > NOW(6) - INTERVAL 10 "
           "SECOND), j.started_at FROM (SELECT job_id, MIN(job_name) job_name FROM "
           "%s.dbfork_exec_process GROUP BY job_id) p JOIN %s.dbfork_exec_job j ON j.job_id = "
           "p.job_id ORDER BY j.started_at",
           q->db, q->db, q->db, q->db);
  if (mysql_query(q->m, sql) || !(r = mysql_store_result(q->m)))
    return fail(q, DBFORK_ESQL, "reading the jobs");
  if (json)
    add(q, "[");
  else
    add(q, "%-24s %-16s %-28s %8s %5s  %s\n", "job", "id", "table", "chunks", "live", "state");
  while ((row = mysql_fetch_row(r))) {
    const char *state = row[3][0] ? "completed" : atoi(row[5]) ? "running" : "stopped";
    if (json)
      add(q,
          "%s{\"job\":\"%s\",\"id\":\"%s\",\"table\":\"%s\",\"chunks_done\":%s,"
          "\"processes_live\":%s,\"state\":\"%s\",\"started_at\":\"%s\"}",
          n ? "," : "", row[0], row[1], row[2], row[4], row[5], state, row[6]);
    else
      add(q, "%-24s %-16s %-28s %8s %5s  %s\n", row[0], row[1], row[2], row[4], row[5], state);
    n++;
  }
  mysql_free_result(r);
  if (json) add(q, "]\n");
  return 0;
}

static int report(jq *q, const char *name, int json) {
  char id[17], sql[1600];
  MYSQL_RES *r;
  MYSQL_ROW row;
  unsigned long long planned = 0, done = 0, keys = 0, est = 0;
  double rate = 0;
  int n = 0, found = 0;
  char target[300] = "", completed[40] = "", stmts[1200] = "";
  exec_name_job_id(name, id);
  snprintf(sql, sizeof sql,
           "SELECT j.target, IFNULL(j.completed_at, ''), LEFT(j.statements, 1000), "
           "(SELECT COUNT(*) FROM %s.dbfork_exec_plan p WHERE p.job_id = j.job_id), "
           "(SELECT COUNT(*) FROM %s.dbfork_exec_progress g WHERE g.job_id = j.job_id), "
           "(SELECT IFNULL(SUM(rows_planned), 0) FROM %s.dbfork_exec_progress g WHERE g.job_id = "
           "j.job_id), IFNULL((SELECT TABLE_ROWS FROM information_schema.TABLES t WHERE "
           "CONCAT(t.TABLE_SCHEMA, '.', t.TABLE_NAME) = j.target), 0) FROM %s.dbfork_exec_job j "
           "WHERE j.job_id = '%s'",
           q->db, q->db, q->db, q->db, id);
  if (mysql_query(q->m, sql) || !(r = mysql_store_result(q->m)))
    return fail(q, DBFORK_ESQL, "reading the job");
  if ((row = mysql_fetch_row(r))) {
    found = 1;
    snprintf(target, sizeof target, "%s", row[0]);
    snprintf(completed, sizeof completed, "%s", row[1]);
    snprintf(stmts, sizeof stmts, "%s", row[2]);
    planned = strtoull(row[3], NULL, 10);
    done = strtoull(row[4], NULL, 10);
    keys = strtoull(row[5], NULL, 10);
    est = strtoull(row[6], NULL, 10);
  }
  mysql_free_result(r);
  if (!found) {
    snprintf(q->err, q->errlen, "no job '%s' in %s", name, q->db);
    return DBFORK_ENOENT;
  }
  if (json) {
    add(q, "{\"job\":\"%s\",\"id\":\"%s\",\"table\":\"%s\",\"completed_at\":", name, id, target);
    add(q, completed[0] ? "\"%s\"" : "%snull", completed);
    add(q, ",\"chunks_planned\":%llu,\"chunks_done\":%llu,\"rows_done\":%llu,\"processes\":[",
        planned, done, keys);
  } else {
    add(q, "job %s (id %s) on %s: %s\n  statements  %s\n", name, id, target,
        completed[0] ? "completed" : "not completed", stmts);
    add(q, "  chunks      %llu committed of %llu cut; %llu keys done\n", done, planned, keys);
    add(q, "  %-40s %7s %8s %10s %9s %10s  %s\n", "process", "workers", "chunks", "rows", "rows/s",
        "heartbeat", "state");
  }
  snprintf(sql, sizeof sql,
           "SELECT process_id, workers, chunks_done, rows_done, "
           "IFNULL(TIMESTAMPDIFF(MICROSECOND, started_at, IFNULL(ended_at, heartbeat_at)) / 1e6, "
           "0), TIMESTAMPDIFF(MICROSECOND, heartbeat_at, NOW(6)) / 1e6, ended_at IS NOT NULL, "
           "IFNULL(killed_by, '') FROM %s.dbfork_exec_process WHERE job_id = '%s' ORDER BY "
           "started_at",
           q->db, id);
  if (mysql_query(q->m, sql) || !(r = mysql_store_result(q->m)))
    return fail(q, DBFORK_ESQL, "reading the job's processes");
  while ((row = mysql_fetch_row(r))) {
    double secs = atof(row[4]), age = atof(row[5]), rps = secs > 0 ? atof(row[3]) / secs : 0;
    int ended = row[6][0] == '1', live = !ended && !row[7][0] && age < 10;
    const char *state = row[7][0] ? "killed" : ended ? "ended" : live ? "running" : "silent";
    if (live) rate += rps;
    if (json)
      add(q,
          "%s{\"process\":\"%s\",\"workers\":%s,\"chunks_done\":%s,\"rows_done\":%s,"
          "\"rows_per_second\":%.0f,\"heartbeat_age\":%.3f,\"state\":\"%s\",\"killed_by\":\"%s\"}",
          n ? "," : "", row[0], row[1], row[2], row[3], rps, age, state, row[7]);
    else
      add(q, "  %-40s %7s %8s %10s %9.0f %9.1fs  %s%s%s\n", row[0], row[1], row[2], row[3], rps,
          age, state, row[7][0] ? " by " : "", row[7]);
    n++;
  }
  mysql_free_result(r);
  {
    double eta = !completed[0] && rate > 0 && est > keys ? (double)(est - keys) / rate : 0;
    if (json)
      add(q, "],\"eta_seconds\":%.0f}\n", eta);
    else if (!completed[0] && eta > 0)
      add(q, "  eta         %.0f s (from the table's row estimate)\n", eta);
    else if (!completed[0])
      add(q, "  eta         unknown (no process running)\n");
  }
  return 0;
}

int dbfork_exec_job_report(const dbfork_options *conn, const char *progress_db, const char *name,
                           int json, char **out, char *err, size_t errlen) {
  jq q;
  int rc;
  if (!out || !conn || !err || !errlen) return DBFORK_EINVAL;
  *out = NULL;
  if ((rc = open_q(&q, conn, progress_db, name, err, errlen))) {
    close_q(&q);
    return rc;
  }
  rc = name ? report(&q, name, json) : list(&q, json);
  return finish(&q, rc, out);
}

int dbfork_exec_job_forget(const dbfork_options *conn, const char *progress_db, const char *name,
                           char *err, size_t errlen) {
  static const char *const tabs[] = {"dbfork_exec_progress", "dbfork_exec_plan",
                                     "dbfork_exec_process", "dbfork_exec_job"};
  char id[17], sql[700];
  MYSQL_RES *r;
  MYSQL_ROW row;
  jq q;
  int rc, i, live = 0;
  if (!conn || !name || !err || !errlen) return DBFORK_EINVAL;
  if ((rc = open_q(&q, conn, progress_db, name, err, errlen))) {
    close_q(&q);
    return rc;
  }
  exec_name_job_id(name, id);
  snprintf(sql, sizeof sql,
           "SELECT COUNT(*) FROM %s.dbfork_exec_process WHERE job_id = '%s' AND ended_at IS NULL "
           "AND killed_by IS NULL AND heartbeat_at > NOW(6) - INTERVAL 10 SECOND",
           q.db, id);
  if (mysql_query(q.m, sql) || !(r = mysql_store_result(q.m))) {
    rc = fail(&q, DBFORK_ESQL, "reading the job's processes");
    close_q(&q);
    return rc;
  }
  if ((row = mysql_fetch_row(r))) live = atoi(row[0]);
  mysql_free_result(r);
  if (live) {
    snprintf(err, errlen,
             "job '%s' has %d processes running (a heartbeat in the last 10 s): stop them first",
             name, live);
    close_q(&q);
    return DBFORK_EBUSY;
  }
  for (i = 0; i < 4; i++) {
    snprintf(sql, sizeof sql, "DELETE FROM %s.%s WHERE job_id = '%s'", q.db, tabs[i], id);
    if (mysql_query(q.m, sql)) {
      rc = fail(&q, DBFORK_ESQL, "forgetting the job");
      break;
    }
    if (i == 3 && mysql_affected_rows(q.m) == 0) {
      snprintf(err, errlen, "no job '%s' in %s", name, q.db);
      rc = DBFORK_ENOENT;
    }
  }
  close_q(&q);
  return rc;
}
