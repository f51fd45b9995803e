/*
 * jobs.c — exec's shared jobs seen from anywhere: the list of the jobs in
 * a database's exec tables, one job's report (its statements, what is
 * committed, each process with its rate and heartbeat), and forgetting a
 * job. Read from the tables only (dbfork_exec_job, _plan, _progress,
 * _process) through the job core's report (src/job/report.c).
 */
#include "execint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int report(job_q *q, const char *name, int json) {
  char id[17], sql[1600];
  MYSQL_RES *r;
  MYSQL_ROW row;
  unsigned long long planned = 0, done = 0, keys = 0, est = 0;
  double rate = 0, eta;
  int found = 0, rc;
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
    return job_q_fail(q, DBFORK_ESQL, "reading the job");
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
    job_q_add(q,
              "{\"kind\":\"exec\",\"job\":\"%s\",\"id\":\"%s\",\"table\":\"%s\",\"completed_at\":",
              name, id, target);
    job_q_add(q, completed[0] ? "\"%s\"" : "%snull", completed);
    job_q_add(q, ",\"chunks_planned\":%llu,\"chunks_done\":%llu,\"rows_done\":%llu", planned, done,
              keys);
  } else {
    job_q_add(q, "exec job %s (id %s) on %s: %s\n  statements  %s\n", name, id, target,
              completed[0] ? "completed" : "not completed", stmts);
    job_q_add(q, "  chunks      %llu committed of %llu cut; %llu keys done\n", done, planned, keys);
  }
  if ((rc = job_q_processes(q, id, json, &rate))) return rc;
  eta = !completed[0] && rate > 0 && est > keys ? (double)(est - keys) / rate : 0;
  if (json)
    job_q_add(q, ",\"eta_seconds\":%.0f}\n", eta);
  else if (!completed[0] && eta > 0)
    job_q_add(q, "  eta         %.0f s (from the table's row estimate)\n", eta);
  else if (!completed[0])
    job_q_add(q, "  eta         unknown (no process running)\n");
  return 0;
}

int dbfork_exec_job_report(const dbfork_options *conn, const char *progress_db, const char *name,
                           int json, char **out, char *err, size_t errlen) {
  job_q q;
  int rc;
  if (!out || !conn || !err || !errlen) return DBFORK_EINVAL;
  *out = NULL;
  if ((rc = job_q_open(&q, "exec", conn, progress_db, name, err, errlen))) {
    job_q_close(&q);
    return rc;
  }
  rc = name ? report(&q, name, json) : job_q_list(&q, "target", "started_at", json);
  return job_q_finish(&q, rc, out);
}

int dbfork_exec_job_forget(const dbfork_options *conn, const char *progress_db, const char *name,
                           char *err, size_t errlen) {
  char id[17];
  job_q q;
  int rc;
  if (!conn || !name || !err || !errlen) return DBFORK_EINVAL;
  if ((rc = job_q_open(&q, "exec", conn, progress_db, name, err, errlen))) {
    job_q_close(&q);
    return rc;
  }
  exec_name_job_id(name, id);
  rc = job_q_forget(&q, name, id);
  job_q_close(&q);
  return rc;
}
