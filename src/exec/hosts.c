/*
 * hosts.c — the processes of a shared job (job_name): each one's row in
 * dbfork_exec_process, its heartbeat, and the KILL of the sessions of a
 * process that has gone silent.
 *
 * The parent inserts its row (its own connection id first) before its
 * workers start; each worker appends its connection id when it connects.
 * About once a second the parent updates its heartbeat (the server's clock:
 * no two hosts' clocks are compared) and looks for processes of the job
 * whose heartbeat is older than dead_after. The first live process to mark
 * such a row (killed_by, set only if still unset and still stale) KILLs
 * every session listed in it: a frozen process (SIGSTOP, a host cut off the
 * network) keeps its sessions open, and with them the locks of the chunks
 * it had claimed; killed, those transactions roll back and the chunks are
 * taken over by the claims of the others. A process that finds its own row
 * marked, or its session gone, was taken for dead: it stops at once (exit
 * 2), and what it had not committed was rolled back by the server.
 */
#include "execint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HEARTBEAT_MS 1000

static int query(dbfork_exec *x, const char *sql, const char *what) {
  if (!mysql_query(x->m, sql)) return 0;
  return exec_set_err(x, DBFORK_ESQL, "%s in %s: %s (MySQL error %u)", what, x->c.procs,
                      mysql_error(x->m), mysql_errno(x->m));
}

int exec_hosts_begin(dbfork_exec *x) {
  char host[64] = "", sql[900], eh[130];
  struct timespec ts;
  if (!x->c.shared) return 0;
  if (gethostname(host, sizeof host - 1)) snprintf(host, sizeof host, "unknown");
  clock_gettime(CLOCK_REALTIME, &ts);
  snprintf(x->c.proc_id, sizeof x->c.proc_id, "%.60s:%ld:%lld.%06ld", host, (long)getpid(),
           (long long)ts.tv_sec, ts.tv_nsec / 1000);
  mysql_real_escape_string(x->m, eh, host, (unsigned long)strlen(host));
  /* the cut's lock on the job row: a frozen process may hold it; wait a
   * second at most, then try again after the next heartbeat's check */
  if (query(x, "SET SESSION innodb_lock_wait_timeout = 1", "setting the lock wait"))
    return DBFORK_ESQL;
  snprintf(sql, sizeof sql,
           "INSERT INTO %s (job_id, process_id, job_name, host, pid, workers, sessions) VALUES "
           "('%s', '%s', '%s', '%s', %ld, %d, CONNECTION_ID())",
           x->c.procs, x->c.t.job_id, x->c.proc_id, x->eo.job_name, eh, (long)getpid(),
           x->eo.max_workers);
  return query(x, sql, "recording this process") ? DBFORK_ESQL : 0;
}

int exec_hosts_worker(MYSQL *m, const exec_conf *c) {
  char sql[700];
  if (!c->shared) return 0;
  snprintf(sql, sizeof sql,
           "UPDATE %s SET sessions = CONCAT(sessions, ',', CONNECTION_ID()) WHERE job_id = '%s' "
           "AND process_id = '%s'",
           c->procs, c->t.job_id, c->proc_id);
  return mysql_query(m, sql) ? DBFORK_ESQL : 0;
}

/* KILLs the sessions in `list` ("12,15,..."), but none of this process's
 * own connection; returns how many were killed. */
static int kill_sessions(dbfork_exec *x, const char *list) {
  char sql[64];
  const char *p = list;
  unsigned long long mine = mysql_thread_id(x->m);
  int n = 0;
  while (*p) {
    char *end;
    unsigned long long id = strtoull(p, &end, 10);
    if (end == p) break;
    p = *end == ',' ? end + 1 : end;
    if (!id || id == mine) continue;
    snprintf(sql, sizeof sql, "KILL CONNECTION %llu", id);
    if (!mysql_query(x->m, sql))
      n++;
    else if (mysql_errno(x->m) != 1094) /* 1094: no such session, already gone */
      exec_log(x, DBFORK_LOG_WARN, "shared job '%s': KILL CONNECTION %llu: %s", x->eo.job_name, id,
               mysql_error(x->m));
  }
  return n;
}

/* The processes of the job silent for longer than dead_after. */
static void reap(dbfork_exec *x) {
  char sql[1000];
  MYSQL_RES *r;
  MYSQL_ROW row;
  double after = x->eo.dead_after > 0 ? x->eo.dead_after : 10;
  snprintf(sql, sizeof sql,
           "SELECT process_id, sessions, TIMESTAMPDIFF(MICROSECOND, heartbeat_at, NOW(6)) / 1e6 "
           "FROM %s WHERE job_id = '%s' AND process_id <> '%s' AND ended_at IS NULL AND "
           "killed_by IS NULL AND heartbeat_at < NOW(6) - INTERVAL %.0f MICROSECOND",
           x->c.procs, x->c.t.job_id, x->c.proc_id, after * 1e6);
  if (mysql_query(x->m, sql) || !(r = mysql_store_result(x->m))) return;
  while ((row = mysql_fetch_row(r))) {
    char mark[1200], ep[250];
    int n;
    mysql_real_escape_string(x->m, ep, row[0], (unsigned long)strlen(row[0]));
    snprintf(mark, sizeof mark,
             "UPDATE %s SET killed_by = '%s' WHERE job_id = '%s' AND process_id = '%s' AND "
             "killed_by IS NULL AND ended_at IS NULL AND heartbeat_at < NOW(6) - INTERVAL %.0f "
             "MICROSECOND",
             x->c.procs, x->c.proc_id, x->c.t.job_id, ep, after * 1e6);
    if (mysql_query(x->m, mark) || mysql_affected_rows(x->m) != 1) continue; /* another did */
    n = kill_sessions(x, row[1]);
    x->st.processes_killed++;
    exec_log(x, DBFORK_LOG_WARN,
             "shared job '%s': process %s sent no heartbeat for %s s (--dead-after=%g): its %d "
             "open sessions were KILLed, their chunks roll back and are run here or elsewhere",
             x->eo.job_name, row[0], row[2] ? row[2] : "?", after, n);
  }
  mysql_free_result(r);
}

static void on_heartbeat(uv_timer_t *t) {
  dbfork_exec *x = t->data;
  char sql[700];
  if (!x->job || job_stopping(x->job)) return;
  snprintf(sql, sizeof sql,
           "UPDATE %s SET heartbeat_at = NOW(6), chunks_done = %llu, rows_done = %llu WHERE "
           "job_id = '%s' AND process_id = '%s' AND killed_by IS NULL",
           x->c.procs, (unsigned long long)x->st.chunks_done, (unsigned long long)x->st.rows_done,
           x->c.t.job_id, x->c.proc_id);
  if (mysql_query(x->m, sql) || mysql_affected_rows(x->m) != 1) {
    /* taken for dead (or this session was killed): nothing more from here */
    int lost = mysql_errno(x->m) != 0;
    exec_set_err(x, DBFORK_ECANCELED,
                 "shared job '%s': this process (%s) was taken for dead by another one of the job "
                 "(no heartbeat for --dead-after=%g s: %s); its sessions were KILLed and what it "
                 "had not committed was rolled back; the others go on with the job",
                 x->eo.job_name, x->c.proc_id, x->eo.dead_after > 0 ? x->eo.dead_after : 10,
                 lost ? mysql_error(x->m) : "its row is marked");
    x->status = DBFORK_ECANCELED;
    x->taken_for_dead = 1;
    job_fail(x->job, DBFORK_ECANCELED, "%s", x->err);
    job_stop(x->job, 1);
    return;
  }
  reap(x);
}

void exec_hosts_start(dbfork_exec *x) {
  if (!x->c.shared || x->hb_timer_init) return;
  uv_timer_init(dbfork_pool_loop(x->pool), &x->hb_timer);
  x->hb_timer.data = x;
  x->hb_timer_init = 1;
  uv_timer_start(&x->hb_timer, on_heartbeat, HEARTBEAT_MS, HEARTBEAT_MS);
}

int exec_hosts_busy(dbfork_exec *x, unsigned int err) {
  if (!x->c.shared || !x->m || err != 1205) return 0; /* lock wait timeout: another holds it */
  reap(x);
  return 1;
}

void exec_hosts_end(dbfork_exec *x) {
  char sql[700];
  if (x->hb_timer_init) {
    uv_close((uv_handle_t *)&x->hb_timer, NULL);
    x->hb_timer_init = 0;
  }
  if (!x->c.shared || !x->m || !x->c.proc_id[0] || x->taken_for_dead) return;
  snprintf(sql, sizeof sql,
           "UPDATE %s SET ended_at = NOW(6), heartbeat_at = NOW(6), chunks_done = %llu, rows_done "
           "= %llu WHERE job_id = '%s' AND process_id = '%s' AND killed_by IS NULL",
           x->c.procs, (unsigned long long)x->st.chunks_done, (unsigned long long)x->st.rows_done,
           x->c.t.job_id, x->c.proc_id);
  if (mysql_query(x->m, sql)) { /* the row is a report: its loss is not the job's */
  }
}
