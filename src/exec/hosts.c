/*
 * hosts.c — exec's side of the processes of a shared job (job_name): the
 * job core's job_hosts (src/job/hosts.c: rows, heartbeat, KILL of silent
 * processes) fed with exec's table, counts and stop.
 */
#include "execint.h"

#include <stdio.h>
#include <string.h>

static void hosts_log(void *ud, int level, const char *msg) { exec_log(ud, level, "%s", msg); }

static void hosts_counts(void *ud, uint64_t *chunks, uint64_t *rows) {
  dbfork_exec *x = ud;
  *chunks = x->st.chunks_done;
  *rows = x->st.rows_done;
}

/* Taken for dead: nothing more from here. */
static void hosts_lost(void *ud, const char *msg) {
  dbfork_exec *x = ud;
  exec_set_err(x, DBFORK_ECANCELED, "%s", msg);
  x->status = DBFORK_ECANCELED;
  x->taken_for_dead = 1;
  job_fail(x->job, DBFORK_ECANCELED, "%s", x->err);
  job_stop(x->job, 1);
}

int exec_hosts_begin(dbfork_exec *x) {
  job_hosts *h = &x->hosts;
  if (!x->c.shared) return 0;
  h->m = x->m;
  snprintf(h->table, sizeof h->table, "%s", x->c.procs);
  snprintf(h->job_id, sizeof h->job_id, "%s", x->c.t.job_id);
  h->name = x->eo.job_name;
  h->dead_after = x->eo.dead_after;
  h->workers = x->eo.max_workers;
  h->ud = x;
  h->log = hosts_log;
  h->counts = hosts_counts;
  h->lost = hosts_lost;
  if (job_hosts_begin(h)) return exec_set_err(x, DBFORK_ESQL, "%s", h->err);
  snprintf(x->c.proc_id, sizeof x->c.proc_id, "%s", h->proc_id);
  return 0;
}

int exec_hosts_worker(MYSQL *m, const exec_conf *c) {
  if (!c->shared) return 0;
  return job_hosts_worker(m, c->procs, c->t.job_id, c->proc_id);
}

void exec_hosts_start(dbfork_exec *x) {
  if (!x->c.shared) return;
  x->hosts.job = x->job;
  job_hosts_start(&x->hosts, dbfork_pool_loop(x->pool));
}

int exec_hosts_busy(dbfork_exec *x, unsigned int err) {
  if (!x->c.shared) return 0;
  if (!job_hosts_busy(&x->hosts, err)) return 0;
  x->st.processes_killed = x->hosts.killed;
  return 1;
}

void exec_hosts_end(dbfork_exec *x) {
  x->st.processes_killed = x->hosts.killed;
  job_hosts_end(&x->hosts, x->st.chunks_done, x->st.rows_done);
}
