/*
 * hosts.c — the processes of a job that several processes (on one host or
 * many) share: each one's row in the layer's process table, its heartbeat,
 * and the KILL of the sessions of a process that has gone silent. The
 * layers (load, exec) bring the table; the code is this one.
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
 * marked, or its session gone, was taken for dead: the layer is told
 * (lost()) and stops at once; what it had not committed was rolled back by
 * the server.
 */
#include "job.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HEARTBEAT_MS 1000

static double dead_after(const job_hosts *h) { return h->dead_after > 0 ? h->dead_after : 10; }

static void hlog(job_hosts *h, int level, const char *fmt, ...) DBFORK_PRINTF(3, 4);
static void hlog(job_hosts *h, int level, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  if (!h->log) return;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  h->log(h->ud, level, msg);
}

static int query(job_hosts *h, const char *sql, const char *what) {
  if (!mysql_query(h->m, sql)) return 0;
  snprintf(h->err, sizeof h->err, "%s in %s: %s (MySQL error %u)", what, h->table,
           mysql_error(h->m), mysql_errno(h->m));
  return DBFORK_ESQL;
}

void job_name_id(const char *salt, const char *name, char out[17]) {
  uint64_t h = 14695981039346656037ull;
  const char *parts[2] = {salt, name};
  int k;
  for (k = 0; k < 2; k++) {
    size_t i, n = strlen(parts[k]) + 1;
    for (i = 0; i < n; i++) h = (h ^ (unsigned char)parts[k][i]) * 1099511628211ull;
  }
  snprintf(out, 17, "%016llx", (unsigned long long)h);
}

int job_hosts_begin(job_hosts *h) {
  char host[64] = "", sql[900], eh[130], en[130];
  struct timespec ts;
  if (gethostname(host, sizeof host - 1)) snprintf(host, sizeof host, "unknown");
  clock_gettime(CLOCK_REALTIME, &ts);
  snprintf(h->proc_id, sizeof h->proc_id, "%.60s:%ld:%lld.%06ld", host, (long)getpid(),
           (long long)ts.tv_sec, ts.tv_nsec / 1000);
  mysql_real_escape_string(h->m, eh, host, (unsigned long)strlen(host));
  mysql_real_escape_string(h->m, en, h->name, (unsigned long)strnlen(h->name, 64));
  /* A lock a frozen process holds (the job row, a plan row): wait a second
   * at most, then try again after the next heartbeat's check. */
  if (query(h, "SET SESSION innodb_lock_wait_timeout = 1", "setting the lock wait"))
    return DBFORK_ESQL;
  snprintf(sql, sizeof sql,
           "INSERT INTO %s (job_id, process_id, job_name, host, pid, workers, sessions) VALUES "
           "('%s', '%s', '%s', '%s', %ld, %d, CONNECTION_ID())",
           h->table, h->job_id, h->proc_id, en, eh, (long)getpid(), h->workers);
  return query(h, sql, "recording this process");
}

int job_hosts_worker(MYSQL *m, const char *table, const char *job_id, const char *proc_id) {
  char sql[700];
  snprintf(sql, sizeof sql,
           "UPDATE %s SET sessions = CONCAT(sessions, ',', CONNECTION_ID()) WHERE job_id = '%s' "
           "AND process_id = '%s'",
           table, job_id, proc_id);
  return mysql_query(m, sql) ? DBFORK_ESQL : 0;
}

int job_worker_session_limits(MYSQL *m, double dead_after_s) {
  char sql[200];
  double after = dead_after_s > 0 ? dead_after_s : 10;
  /* A backstop for a host that no live process sees die: the server drops
   * a session whose client is silent this long, and its locks go. */
  snprintf(sql, sizeof sql,
           "SET SESSION wait_timeout = %.0f, net_read_timeout = 30, net_write_timeout = 30",
           after * 6 < 60 ? 60 : after * 6);
  return mysql_query(m, sql) ? DBFORK_ESQL : 0;
}

/* KILLs the sessions in `list` ("12,15,..."), but none of this process's
 * own connection; returns how many were killed. */
static int kill_sessions(job_hosts *h, const char *list) {
  char sql[64];
  const char *p = list;
  unsigned long long mine = mysql_thread_id(h->m);
  int n = 0;
  while (*p) {
    char *end;
    unsigned long long id = strtoull(p, &end, 10);
    if (end == p) break;
    p = *end == ',' ? end + 1 : end;
    if (!id || id == mine) continue;
    snprintf(sql, sizeof sql, "KILL CONNECTION %llu", id);
    if (!mysql_query(h->m, sql))
      n++;
    else if (mysql_errno(h->m) != 1094) /* 1094: no such session, already gone */
      hlog(h, DBFORK_LOG_WARN, "shared job '%s': KILL CONNECTION %llu: %s", h->name, id,
           mysql_error(h->m));
  }
  return n;
}

/* The processes of the job silent for longer than dead_after. */
static void reap(job_hosts *h) {
  char sql[1000];
  MYSQL_RES *r;
  MYSQL_ROW row;
  double after = dead_after(h);
  snprintf(sql, sizeof sql,
           "SELECT process_id, sessions, TIMESTAMPDIFF(MICROSECOND, heartbeat_at, NOW(6)) / 1e6 "
           "FROM %s WHERE job_id = '%s' AND process_id <> '%s' AND ended_at IS NULL AND "
           "killed_by IS NULL AND heartbeat_at < NOW(6) - INTERVAL %.0f MICROSECOND",
           h->table, h->job_id, h->proc_id, after * 1e6);
  if (mysql_query(h->m, sql) || !(r = mysql_store_result(h->m))) return;
  while ((row = mysql_fetch_row(r))) {
    char mark[1200], ep[250];
    int n;
    mysql_real_escape_string(h->m, ep, row[0], (unsigned long)strlen(row[0]));
    snprintf(mark, sizeof mark,
             "UPDATE %s SET killed_by = '%s' WHERE job_id = '%s' AND process_id = '%s' AND "
             "killed_by IS NULL AND ended_at IS NULL AND heartbeat_at < NOW(6) - INTERVAL %.0f "
             "MICROSECOND",
             h->table, h->proc_id, h->job_id, ep, after * 1e6);
    if (mysql_query(h->m, mark) || mysql_affected_rows(h->m) != 1) continue; /* another did */
    n = kill_sessions(h, row[1]);
    h->killed++;
    hlog(h, DBFORK_LOG_WARN,
         "shared job '%s': process %s sent no heartbeat for %s s (--dead-after=%g): its %d "
         "open sessions were KILLed, their chunks roll back and are run here or elsewhere",
         h->name, row[0], row[2] ? row[2] : "?", after, n);
  }
  mysql_free_result(r);
}

static void on_heartbeat(uv_timer_t *t) {
  job_hosts *h = t->data;
  char sql[700];
  uint64_t chunks = 0, rows = 0;
  if (h->taken_for_dead || !h->job || job_stopping(h->job)) return;
  if (h->counts) h->counts(h->ud, &chunks, &rows);
  snprintf(sql, sizeof sql,
           "UPDATE %s SET heartbeat_at = NOW(6), chunks_done = %llu, rows_done = %llu WHERE "
           "job_id = '%s' AND process_id = '%s' AND killed_by IS NULL",
           h->table, (unsigned long long)chunks, (unsigned long long)rows, h->job_id, h->proc_id);
  if (mysql_query(h->m, sql) || mysql_affected_rows(h->m) != 1) {
    /* taken for dead (or this session was killed): nothing more from here */
    int lost = mysql_errno(h->m) != 0;
    snprintf(h->err, sizeof h->err,
             "shared job '%s': this process (%s) was taken for dead by another one of the job "
             "(no heartbeat for --dead-after=%g s: %s); its sessions were KILLed and what it "
             "had not committed was rolled back; the others go on with the job",
             h->name, h->proc_id, dead_after(h), lost ? mysql_error(h->m) : "its row is marked");
    h->taken_for_dead = 1;
    if (h->lost) h->lost(h->ud, h->err);
    return;
  }
  reap(h);
}

void job_hosts_start(job_hosts *h, uv_loop_t *loop) {
  if (h->timer_on) return;
  uv_timer_init(loop, &h->timer);
  h->timer.data = h;
  h->timer_on = 1;
  uv_timer_start(&h->timer, on_heartbeat, HEARTBEAT_MS, HEARTBEAT_MS);
}

int job_hosts_busy(job_hosts *h, unsigned int err) {
  if (!h->m || !h->proc_id[0] || err != 1205) return 0; /* 1205: lock wait timeout */
  reap(h);
  return 1;
}

void job_hosts_end(job_hosts *h, uint64_t chunks, uint64_t rows) {
  char sql[700];
  if (h->timer_on) {
    uv_close((uv_handle_t *)&h->timer, NULL);
    h->timer_on = 0;
  }
  if (!h->m || !h->proc_id[0] || h->taken_for_dead) return;
  snprintf(sql, sizeof sql,
           "UPDATE %s SET ended_at = NOW(6), heartbeat_at = NOW(6), chunks_done = %llu, rows_done "
           "= %llu WHERE job_id = '%s' AND process_id = '%s' AND killed_by IS NULL",
           h->table, (unsigned long long)chunks, (unsigned long long)rows, h->job_id, h->proc_id);
  if (mysql_query(h->m, sql)) { /* the row is a report: its loss is not the job's */
  }
}
