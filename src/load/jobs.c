/*
 * jobs.c — the loader's shared jobs (job_name) seen from anywhere: the
 * list of the jobs in a database's load tables, one job's report (its file
 * and table, what is committed, each process with its rate and heartbeat),
 * and forgetting a job. Read from the default tables (dbfork_load_job,
 * _plan, _progress, _process) through the job core's report
 * (src/job/report.c).
 */
#include "loader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void load_name_job_id(const char *name, char out[17]) { job_name_id("load_job_name", name, out); }

static int report(job_q *q, const char *name, int json) {
  char id[17], sql[1600];
  MYSQL_RES *r;
  MYSQL_ROW row;
  unsigned long long planned = 0, done = 0, records = 0, bytes = 0, size = 0, chunk = 0;
  double rate = 0, eta = 0;
  int found = 0, rc;
  char file[600] = "", target[300] = "", completed[40] = "";
  load_name_job_id(name, id);
  snprintf(sql, sizeof sql,
           "SELECT LEFT(j.file, 500), j.table_name, IFNULL(j.completed_at, ''), j.file_size, "
           "j.chunk_size, (SELECT COUNT(*) FROM %s.dbfork_load_plan p WHERE p.job_id = j.job_id), "
           "(SELECT COUNT(DISTINCT chunk_no) FROM %s.dbfork_load_progress g WHERE g.job_id = "
           "j.job_id), (SELECT IFNULL(SUM(records), 0) FROM %s.dbfork_load_progress g WHERE "
           "g.job_id = j.job_id), (SELECT IFNULL(SUM(byte_len), 0) FROM %s.dbfork_load_progress "
           "g WHERE g.job_id = j.job_id) FROM %s.dbfork_load_job j WHERE j.job_id = '%s'",
           q->db, q->db, q->db, q->db, q->db, id);
  if (mysql_query(q->m, sql) || !(r = mysql_store_result(q->m)))
    return job_q_fail(q, DBFORK_ESQL, "reading the job");
  if ((row = mysql_fetch_row(r))) {
    found = 1;
    snprintf(file, sizeof file, "%s", row[0]);
    snprintf(target, sizeof target, "%s", row[1]);
    snprintf(completed, sizeof completed, "%s", row[2]);
    size = strtoull(row[3], NULL, 10);
    chunk = strtoull(row[4], NULL, 10);
    planned = strtoull(row[5], NULL, 10);
    done = strtoull(row[6], NULL, 10);
    records = strtoull(row[7], NULL, 10);
    bytes = strtoull(row[8], NULL, 10);
  }
  mysql_free_result(r);
  if (!found) {
    snprintf(q->err, q->errlen, "no job '%s' in %s", name, q->db);
    return DBFORK_ENOENT;
  }
  if (json) {
    job_q_add(q, "{\"kind\":\"load\",\"job\":\"%s\",\"id\":\"%s\",\"table\":\"%s\",\"file\":", name,
              id, target);
    job_q_add_json(q, file);
    job_q_add(q, ",\"file_size\":%llu,\"chunk_size\":%llu,\"completed_at\":", size, chunk);
    job_q_add(q, completed[0] ? "\"%s\"" : "%snull", completed);
    job_q_add(q,
              ",\"chunks_planned\":%llu,\"chunks_done\":%llu,\"rows_done\":%llu,"
              "\"bytes_done\":%llu",
              planned, done, records, bytes);
  } else {
    job_q_add(q, "load job %s (id %s) into %s: %s\n  file        %s (%llu bytes, chunks of %llu)\n",
              name, id, target, completed[0] ? "completed" : "not completed", file, size, chunk);
    job_q_add(q,
              "  chunks      %llu committed of %llu cut; %llu records, %llu bytes of the file "
              "done\n",
              done, planned, records, bytes);
  }
  if ((rc = job_q_processes(q, id, json, &rate))) return rc;
  /* the records still to load, from the bytes still to load at the
   * committed chunks' records per byte */
  if (!completed[0] && rate > 0 && bytes > 0 && size > bytes)
    eta = (double)records * (double)(size - bytes) / (double)bytes / rate;
  if (json)
    job_q_add(q, ",\"eta_seconds\":%.0f}\n", eta);
  else if (!completed[0] && eta > 0)
    job_q_add(q, "  eta         %.0f s (from the bytes left and the running processes' rates)\n",
              eta);
  else if (!completed[0])
    job_q_add(q, "  eta         unknown (no process running)\n");
  return 0;
}

int dbfork_load_job_report(const dbfork_options *conn, const char *progress_db, const char *name,
                           int json, char **out, char *err, size_t errlen) {
  job_q q;
  int rc;
  if (!out || !conn || !err || !errlen) return DBFORK_EINVAL;
  *out = NULL;
  if ((rc = job_q_open(&q, "load", conn, progress_db, name, err, errlen))) {
    job_q_close(&q);
    return rc;
  }
  rc = name ? report(&q, name, json) : job_q_list(&q, "table_name", "created_at", json);
  return job_q_finish(&q, rc, out);
}

int dbfork_load_job_forget(const dbfork_options *conn, const char *progress_db, const char *name,
                           char *err, size_t errlen) {
  char id[17];
  job_q q;
  int rc;
  if (!conn || !name || !err || !errlen) return DBFORK_EINVAL;
  if ((rc = job_q_open(&q, "load", conn, progress_db, name, err, errlen))) {
    job_q_close(&q);
    return rc;
  }
  load_name_job_id(name, id);
  rc = job_q_forget(&q, name, id);
  job_q_close(&q);
  return rc;
}
