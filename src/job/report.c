/*
 * report.c — shared jobs seen from anywhere, the part every layer has in
 * common: a connection to the database of a layer's tables (checked to
 * exist), text or JSON grown in memory, the per-process rows of the
 * layer's process table (the same columns for every layer), and forgetting
 * a job (refused while one of its processes has a fresh heartbeat). The
 * layers bring their list and their job's header (src/exec/jobs.c,
 * src/load/jobs.c). Read from the tables only: any host that can connect
 * can ask, while the job runs or afterwards.
 */
#include "job.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void job_q_add(job_q *q, const char *fmt, ...) {
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

void job_q_add_json(job_q *q, const char *s) {
  job_q_add(q, "\"");
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      job_q_add(q, "\\%c", c);
    else if (c < 0x20)
      job_q_add(q, "\\u%04x", c);
    else
      job_q_add(q, "%c", c);
  }
  job_q_add(q, "\"");
}

int job_q_fail(job_q *q, int code, const char *what) {
  snprintf(q->err, q->errlen, "%s: %s (MySQL error %u)", what, mysql_error(q->m),
           mysql_errno(q->m));
  return code;
}

int job_q_open(job_q *q, const char *layer, const dbfork_options *conn, const char *progress_db,
               const char *name, char *err, size_t errlen) {
  char sql[500], cur[130] = "";
  const char *db;
  MYSQL_RES *r;
  MYSQL_ROW row;
  int rc, have = 0;
  memset(q, 0, sizeof *q);
  q->layer = layer;
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
    snprintf(err, errlen, "no database: give the %s tables' database (-D or --progress-db)", layer);
    return DBFORK_EINVAL;
  }
  if (strchr(db, '`') || strchr(db, '\'')) {
    snprintf(err, errlen, "'%s' is not a database name dbfork accepts", db);
    return DBFORK_EINVAL;
  }
  snprintf(q->db, sizeof q->db, "`%s`", db);
  snprintf(sql, sizeof sql,
           "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '%s' AND "
           "TABLE_NAME IN ('dbfork_%s_job', 'dbfork_%s_plan', 'dbfork_%s_progress', "
           "'dbfork_%s_process')",
           db, layer, layer, layer, layer);
  if (mysql_query(q->m, sql) || !(r = mysql_store_result(q->m)))
    return job_q_fail(q, DBFORK_ESQL, "looking for the job tables");
  if ((row = mysql_fetch_row(r))) have = atoi(row[0]);
  mysql_free_result(r);
  if (have < 4) {
    snprintf(err, errlen, "database %s has no shared %s jobs (no dbfork_%s_process table)", db,
             layer, layer);
    return DBFORK_ENOENT;
  }
  return 0;
}

void job_q_close(job_q *q) {
  if (q->m) dbfork_mysql_close(q->m);
  q->m = NULL;
}

int job_q_finish(job_q *q, int rc, char **out) {
  job_q_close(q);
  if (!rc && q->oom) rc = DBFORK_ENOMEM;
  if (rc) {
    free(q->out);
    q->out = NULL;
    return rc;
  }
  *out = q->out ? q->out : strdup("");
  return *out ? 0 : DBFORK_ENOMEM;
}

int job_q_processes(job_q *q, const char *id, int json, double *rate) {
  char sql[900];
  MYSQL_RES *r;
  MYSQL_ROW row;
  int n = 0;
  *rate = 0;
  if (json)
    job_q_add(q, ",\"processes\":[");
  else
    job_q_add(q, "  %-40s %7s %8s %10s %9s %10s  %s\n", "process", "workers", "chunks", "rows",
              "rows/s", "heartbeat", "state");
  snprintf(sql, sizeof sql,
           "SELECT process_id, workers, chunks_done, rows_done, "
           "IFNULL(TIMESTAMPDIFF(MICROSECOND, started_at, IFNULL(ended_at, heartbeat_at)) / 1e6, "
           "0), TIMESTAMPDIFF(MICROSECOND, heartbeat_at, NOW(6)) / 1e6, ended_at IS NOT NULL, "
           "IFNULL(killed_by, '') FROM %s.dbfork_%s_process WHERE job_id = '%s' ORDER BY "
           "started_at",
           q->db, q->layer, id);
  if (mysql_query(q->m, sql) || !(r = mysql_store_result(q->m)))
    return job_q_fail(q, DBFORK_ESQL, "reading the job's processes");
  while ((row = mysql_fetch_row(r))) {
    double secs = atof(row[4]), age = atof(row[5]), rps = secs > 0 ? atof(row[3]) / secs : 0;
    int ended = row[6][0] == '1', live = !ended && !row[7][0] && age < 10;
    const char *state = row[7][0] ? "killed" : ended ? "ended" : live ? "running" : "silent";
    if (live) *rate += rps;
    if (json)
      job_q_add(q,
                "%s{\"process\":\"%s\",\"workers\":%s,\"chunks_done\":%s,\"rows_done\":%s,"
                "\"rows_per_second\":%.0f,\"heartbeat_age\":%.3f,\"state\":\"%s\","
                "\"killed_by\":\"%s\"}",
                n ? "," : "", row[0], row[1], row[2], row[3], rps, age, state, row[7]);
    else
      job_q_add(q, "  %-40s %7s %8s %10s %9.0f %9.1fs  %s%s%s\n", row[0], row[1], row[2], row[3],
                rps, age, state, row[7][0] ? " by " : "", row[7]);
    n++;
  }
  mysql_free_result(r);
  if (json) job_q_add(q, "]");
  return 0;
}

int job_q_forget(job_q *q, const char *name, const char *id) {
  static const char *const tabs[] = {"progress", "plan", "process", "job"};
  char sql[700];
  MYSQL_RES *r;
  MYSQL_ROW row;
  int i, live = 0, rc = 0;
  snprintf(
      sql, sizeof sql,
      "SELECT COUNT(*) FROM %s.dbfork_%s_process a WHERE a.job_id = '%s' AND " JOB_LIVE_SQL("a"),
      q->db, q->layer, id);
  if (mysql_query(q->m, sql) || !(r = mysql_store_result(q->m)))
    return job_q_fail(q, DBFORK_ESQL, "reading the job's processes");
  if ((row = mysql_fetch_row(r))) live = atoi(row[0]);
  mysql_free_result(r);
  if (live) {
    snprintf(q->err, q->errlen,
             "job '%s' has %d processes running (a heartbeat in the last 10 s): stop them first",
             name, live);
    return DBFORK_EBUSY;
  }
  for (i = 0; i < 4; i++) {
    snprintf(sql, sizeof sql, "DELETE FROM %s.dbfork_%s_%s WHERE job_id = '%s'", q->db, q->layer,
             tabs[i], id);
    if (mysql_query(q->m, sql)) return job_q_fail(q, DBFORK_ESQL, "forgetting the job");
    if (i == 3 && mysql_affected_rows(q->m) == 0) {
      snprintf(q->err, q->errlen, "no job '%s' in %s", name, q->db);
      rc = DBFORK_ENOENT;
    }
  }
  return rc;
}

int job_q_list(job_q *q, const char *table_col, const char *started_col, int json) {
  char sql[1600];
  MYSQL_RES *r;
  MYSQL_ROW row;
  int n = 0;
  snprintf(sql, sizeof sql,
           "SELECT p.job_name, j.job_id, j.%s, IFNULL(j.completed_at, ''), "
           "(SELECT COUNT(DISTINCT chunk_no) FROM %s.dbfork_%s_progress g WHERE g.job_id = "
           "j.job_id), (SELECT COUNT(*) FROM %s.dbfork_%s_process a WHERE a.job_id = j.job_id AND " JOB_LIVE_SQL("a") "), j.%s FROM (SELECT job_id, MIN(job_name) job_name FROM "
           "%s.dbfork_%s_process GROUP BY job_id) p JOIN %s.dbfork_%s_job j ON j.job_id = "
           "p.job_id ORDER BY j.%s",
           table_col, q->db, q->layer, q->db, q->layer, started_col, q->db, q->layer, q->db,
           q->layer, started_col);
  if (mysql_query(q->m, sql) || !(r = mysql_store_result(q->m)))
    return job_q_fail(q, DBFORK_ESQL, "reading the jobs");
  if (json)
    job_q_add(q, "[");
  else
    job_q_add(q, "%-5s %-24s %-16s %-28s %8s %5s  %s\n", "kind", "job", "id", "table", "chunks",
              "live", "state");
  while ((row = mysql_fetch_row(r))) {
    const char *state = row[3][0] ? "completed" : atoi(row[5]) ? "running" : "stopped";
    if (json)
      job_q_add(q,
                "%s{\"kind\":\"%s\",\"job\":\"%s\",\"id\":\"%s\",\"table\":\"%s\","
                "\"chunks_done\":%s,\"processes_live\":%s,\"state\":\"%s\",\"started_at\":\"%s\"}",
                n ? "," : "", q->layer, row[0], row[1], row[2], row[4], row[5], state, row[6]);
    else
      job_q_add(q, "%-5s %-24s %-16s %-28s %8s %5s  %s\n", q->layer, row[0], row[1], row[2], row[4],
                row[5], state);
    n++;
  }
  mysql_free_result(r);
  if (json) job_q_add(q, "]\n");
  return 0;
}
