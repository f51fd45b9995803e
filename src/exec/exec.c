/*
 * exec.c — exec's public API (dbfork/exec.h): options, the job's lifecycle
 * (new, explain or prepare, run or start, stop, free) and its results. The
 * work is elsewhere: key.c knows the key and the plan's SQL, tables.c the
 * exec tables, parent.c feeds the job core, worker.c runs the chunks.
 *
 * A job's phase changes through exec_enter() only: new -> prepared ->
 * running -> ended.
 */
#include "execint.h"

#include <dbfork/abi.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const phase_names[] = {"new", "prepared", "running", "ended"};

#define EXEC_OPTIONS_SIZE_1_0 DBFORK_ABI_SIZE_TO(dbfork_exec_options, ud)
#define EXEC_STATS_SIZE_1_0 DBFORK_ABI_SIZE_TO(dbfork_exec_stats, status)
#define CONN_OPTIONS_SIZE_1_0 DBFORK_ABI_SIZE_TO(dbfork_options, log_level)
#define STRUCT_SIZE_MAX 65536

void exec_log(dbfork_exec *x, int level, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  if (!x->po.log || level > (x->po.log_level ? x->po.log_level : DBFORK_LOG_INFO)) return;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  x->po.log(level, msg, x->po.log_arg);
}

double exec_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void exec_enter(dbfork_exec *x, int phase) {
  if (x->phase == phase) return;
  exec_log(x, DBFORK_LOG_DEBUG, "exec %s: %s -> %s", x->c.t.job_id[0] ? x->c.t.job_id : "(new)",
           phase_names[x->phase], phase_names[phase]);
  x->phase = phase;
  if (phase == EXEC_ENDED) {
    exec_job_unlock(x);
    x->st.done = 1;
    x->st.status = x->status;
    if (x->pool) dbfork_pool_close(x->pool);
    if (x->done) {
      if (x->starting)
        x->done_pending = 1;
      else
        x->done(x, x->status, x->done_ud);
    }
  }
}

int exec_set_err(dbfork_exec *x, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(x->err, sizeof x->err, fmt, ap);
  va_end(ap);
  return code;
}

int exec_access_denied(unsigned int code) {
  return code == 1142 || code == 1143 || code == 1044 || code == 1227 || code == 1370;
}

int exec_query_u64(dbfork_exec *x, const char *sql, uint64_t *out, const char *what) {
  MYSQL_RES *r;
  MYSQL_ROW row;
  if (mysql_query(x->m, sql) || !(r = mysql_store_result(x->m))) {
    if (what)
      exec_set_err(x, DBFORK_ESQL, "%s: %s (MySQL error %u)", what, mysql_error(x->m),
                   mysql_errno(x->m));
    return DBFORK_ESQL;
  }
  row = mysql_fetch_row(r);
  *out = row && row[0] ? strtoull(row[0], NULL, 10) : 0;
  mysql_free_result(r);
  return 0;
}

void(dbfork_exec_options_init)(dbfork_exec_options *o, size_t size) {
  if (!o || size < sizeof o->size) return;
  memset(o, 0, size);
  o->size = size;
}

static int own(dbfork_exec *x, const char **s) { return job_own(&x->strs, s); }

void dbfork_exec_free(dbfork_exec *x);

int dbfork_exec_new(dbfork_exec **out, const dbfork_options *conn_in,
                    const dbfork_exec_options *eo_in) {
  dbfork_options conn_copy, *conn = &conn_copy;
  dbfork_exec_options eo_copy, *eo = &eo_copy;
  dbfork_exec *x;
  char why[200];
  int i, n;
  if (!out) return DBFORK_EINVAL;
  *out = NULL;
  if (!conn_in || !eo_in) return DBFORK_EINVAL;
  if (job_copy_options(conn, conn_in, CONN_OPTIONS_SIZE_1_0, eo, sizeof *eo, eo_in,
                       EXEC_OPTIONS_SIZE_1_0, "dbfork_exec_options", "libdbfork-exec"))
    return DBFORK_EINVAL;
  if (!eo->table || !*eo->table) return job_refuse(conn, "option --table: it is required");
  if (!eo->sql || !*eo->sql) return job_refuse(conn, "no SQL given");
  if (eo->chunk_time != 0 && (eo->chunk_time < 0.01 || eo->chunk_time > 60))
    return job_refuse(conn, "option --chunk-time: %g is not within 0.01 .. 60 seconds",
                      eo->chunk_time);
  if (eo->chunk_rows > 10000000)
    return job_refuse(conn, "option --chunk-rows: %llu is more than 10000000",
                      (unsigned long long)eo->chunk_rows);
  if (eo->lock_wait_timeout > 1073741824)
    return job_refuse(conn, "option --lock-wait-timeout: %u is out of range 1 .. 1073741824",
                      eo->lock_wait_timeout);
  if (eo->critical_load && eo->max_load && eo->critical_load <= eo->max_load)
    return job_refuse(conn, "option --critical-load=%u: must be above --max-load=%u",
                      eo->critical_load, eo->max_load);
  if (conn->workers < 0 || conn->workers > 4096)
    return job_refuse(conn, "option --workers=%d: out of range 1..4096", conn->workers);
  if (eo->max_workers < 0 || eo->max_workers > 4096)
    return job_refuse(conn, "option --max-workers=%d: out of range 1..4096", eo->max_workers);
  if (eo->nreplicas > EXEC_MAX_REPLICAS)
    return job_refuse(conn, "option --replica: %zu replicas (at most %d)", eo->nreplicas,
                      EXEC_MAX_REPLICAS);
  if (eo->nreplicas && !eo->replicas)
    return job_refuse(conn, "option --replica: nreplicas is %zu but replicas is NULL",
                      eo->nreplicas);
  if (eo->max_lag < 0 || eo->max_lag > 86400 || eo->max_lag != eo->max_lag)
    return job_refuse(conn, "option --max-lag: %g is not within 0 .. 86400 seconds", eo->max_lag);
  if (eo->max_lag > 0 && !eo->nreplicas)
    return job_refuse(conn, "option --max-lag: no --replica given to measure the lag on");
  if (eo->control_file && !*eo->control_file)
    return job_refuse(conn, "option --control-file: empty path");
  if (job_check_shared(conn, eo->job_name, eo->dead_after)) return DBFORK_EINVAL;
  if (!(x = calloc(1, sizeof *x))) return DBFORK_ENOMEM;
  x->po = *conn;
  x->eo = *eo;
  x->eo.replicas = NULL; /* parsed into x->reps below; the caller's array is not kept */
  if (eo->nreplicas && !(x->reps = calloc(eo->nreplicas, sizeof *x->reps))) {
    free(x);
    return DBFORK_ENOMEM;
  }
  for (x->nreps = 0; x->nreps < eo->nreplicas; x->nreps++) {
    const char *dsn = eo->replicas[x->nreps];
    if (!dsn || exec_dsn_parse(dsn, &x->reps[x->nreps].d, why, sizeof why)) {
      char shown[200];
      const char *pw = dsn ? strstr(dsn, "p=") : NULL;
      /* the DSN as given, cut before a password */
      snprintf(shown, sizeof shown, "%.*s%s", dsn ? (int)(pw ? pw - dsn : (int)strlen(dsn)) : 6,
               dsn ? dsn : "(null)", pw ? "p=***..." : "");
      job_refuse(conn, "option --replica=%s: %s", shown, dsn ? why : "NULL");
      dbfork_exec_free(x);
      return DBFORK_EINVAL;
    }
  }
  if (x->nreps && !x->eo.max_lag) x->eo.max_lag = 1.0;
  n = exec_split(eo->sql, x->c.stmts, EXEC_MAX_STMTS, why, sizeof why);
  if (n <= 0) {
    dbfork_exec_free(x);
    return n < 0 ? job_refuse(conn, "the SQL: %s", why) : job_refuse(conn, "no SQL given");
  }
  x->c.nstmts = n;
  for (i = 0; i < n; i++)
    if (!exec_has_placeholder(x->c.stmts[i])) {
      job_refuse(conn,
                 "statement %d of %d (%.80s%s) has no {chunk}: it would run over the whole "
                 "table once per chunk",
                 i + 1, n, x->c.stmts[i], strlen(x->c.stmts[i]) > 80 ? "..." : "");
      dbfork_exec_free(x);
      return DBFORK_EINVAL;
    }
  if (job_own_conn(&x->strs, &x->po) || own(x, &x->eo.table) || own(x, &x->eo.sql) ||
      own(x, &x->eo.chunk_column) || own(x, &x->eo.until_key) || own(x, &x->eo.progress_db) ||
      own(x, &x->eo.control_file) || own(x, &x->eo.job_name)) {
    dbfork_exec_free(x);
    return DBFORK_ENOMEM;
  }
  if (!x->po.program_name) x->po.program_name = "dbfork-exec";
  if (!x->po.workers) x->po.workers = 2;
  if (!x->eo.max_workers) x->eo.max_workers = x->po.workers;
  if (x->eo.max_workers < x->po.workers)
    x->po.workers = x->eo.max_workers; /* never more at once than there are processes */
  x->c.lock_wait_timeout = eo->lock_wait_timeout ? eo->lock_wait_timeout : 5;
  x->c.max_rows_per_chunk = eo->max_rows_per_chunk;
  x->rows_next = eo->chunk_rows ? (double)eo->chunk_rows : 1000;
  x->st.workers = x->eo.max_workers;
  x->st.workers_active = x->po.workers;
  x->st.chunk_rows = (uint64_t)x->rows_next;
  *out = x;
  return 0;
}

/* The parent's own session, under another program name than the
 * workers'. */
static int connect_parent(dbfork_exec *x) {
  dbfork_options o = x->po;
  char name[128], err[600];
  int rc;
  snprintf(name, sizeof name, "%s-parent", x->po.program_name);
  o.program_name = name;
  o.charset = "utf8mb4";
  rc = dbfork_connect(&x->m, &o, err, sizeof err);
  if (rc) return exec_set_err(x, rc, "cannot connect to the server: %s", err);
  return 0;
}

/* What the dry run and prepare share: the connection, the table, the key,
 * the end of the range, the statements checked. */
static int common(dbfork_exec *x) {
  char cur[130];
  int rc;
  if ((rc = connect_parent(x))) return rc;
  if ((rc = exec_find_table(x, x->eo.table, job_default_db(x->m, x->po.database, cur, sizeof cur))))
    return rc;
  if ((rc = exec_find_key(x)) || (rc = exec_tables_names(x)) || (rc = exec_job_id(x))) return rc;
  /* The end of the range as a new job takes it (a resumed one keeps the
   * one it started with: exec_prepare_job), and the statements checked on
   * it, before anything is written. */
  rc = x->eo.until_key ? exec_parse_until(x, x->eo.until_key, &x->until)
                       : exec_max_key(x, &x->until);
  if (rc) return rc;
  return exec_check_statements(x);
}

int dbfork_exec_explain(dbfork_exec *x, unsigned int chunks, char **text) {
  int rc;
  if (text) *text = NULL;
  if (!x || !text) return DBFORK_EINVAL;
  if (x->phase != EXEC_NEW || x->m)
    return exec_set_err(x, DBFORK_ESTATE, "the dry run comes instead of prepare and run");
  if ((rc = common(x))) return rc;
  return exec_explain_text(x, chunks ? chunks : 3, text);
}

static int prepare(dbfork_exec *x) {
  int rc;
  if ((rc = common(x)) || (rc = exec_replicas_open(x)) ||
      (!x->eo.job_name && (rc = exec_job_lock(x))) || (rc = exec_tables_prepare(x)) ||
      (rc = exec_prepare_job(x)))
    return rc;
  return 0;
}

int dbfork_exec_prepare(dbfork_exec *x) {
  int rc;
  if (!x) return DBFORK_EINVAL;
  if (x->phase == EXEC_ENDED && x->status && !x->pool) return DBFORK_ESTATE;
  if (x->phase != EXEC_NEW || x->m)
    return exec_set_err(x, DBFORK_ESTATE, "the job was prepared already");
  rc = prepare(x);
  if (rc) {
    x->status = rc;
    exec_enter(x, EXEC_ENDED);
    return rc;
  }
  exec_enter(x, EXEC_PREPARED);
  return 0;
}

static int start_workers(dbfork_exec *x) {
  dbfork_options o = x->po;
  job_config jc;
  int rc;
  o.workers = x->eo.max_workers;
  o.task = exec_worker_task;
  o.task_arg = x;
  o.init = NULL;
  o.on_connect = exec_on_connect;
  o.on_connect_arg = x;
  o.transaction = 1;
  o.charset = "utf8mb4"; /* the literals of the conditions are utf8mb4, as the parent's */
  o.prefetch = 1;        /* a chunk goes to a worker that is free, none waits behind another */
  o.queue_max = (unsigned)o.workers;
  o.submit_nonblocking = 1;
  if ((rc = exec_hosts_begin(x))) return rc;
  if ((rc = job_pool_start(&x->pool, &o, x->err, sizeof x->err))) return rc;
  memset(&jc, 0, sizeof jc);
  jc.pool = x->pool;
  jc.ops = &exec_job_ops;
  jc.ud = x;
  jc.window = (unsigned)x->st.workers_active;
  /* A chunk is not split: one that keeps losing its worker (SIGKILLs, a
   * restart) is retried whole for longer before it is given up. */
  jc.policy.max_attempts = 30;
  jc.max_payload = 256u * 1024;
  rc = job_new(&x->job, &jc);
  if (rc) return exec_set_err(x, rc, "cannot create the job: %s", dbfork_strerror(rc));
  x->t_start = exec_now();
  exec_enter(x, EXEC_RUNNING);
  exec_control_start(x);
  exec_hosts_start(x);
  return job_start(x->job);
}

static int begin(dbfork_exec *x) {
  int rc;
  if (x->phase == EXEC_NEW && (rc = dbfork_exec_prepare(x))) return rc;
  if (x->phase == EXEC_ENDED && x->status == DBFORK_ECANCELED && !x->pool) return DBFORK_ECANCELED;
  if (x->phase != EXEC_PREPARED) {
    if (x->phase == EXEC_ENDED && x->status && !x->pool) return DBFORK_ESTATE;
    return exec_set_err(x, DBFORK_ESTATE, "the job ran already");
  }
  if (x->st.already_done) {
    x->status = 0;
    exec_enter(x, EXEC_ENDED);
    return 0;
  }
  return start_workers(x);
}

int dbfork_exec_run(dbfork_exec *x) {
  int rc;
  if (!x) return DBFORK_EINVAL;
  if (x->po.loop)
    return exec_set_err(x, DBFORK_ESTATE,
                        "the job runs on the caller's loop: use dbfork_exec_start");
  if ((rc = begin(x))) {
    if (x->phase == EXEC_RUNNING) {
      x->status = rc;
      exec_enter(x, EXEC_ENDED);
    }
    return rc;
  }
  if (!x->pool) return x->status;
  while (x->phase != EXEC_ENDED) dbfork_pool_run(x->pool, 1);
  rc = dbfork_pool_join(x->pool);
  if (!x->status && rc) x->status = x->st.status = rc;
  return x->status;
}

static void on_done_timer(uv_timer_t *t) {
  dbfork_exec *x = t->data;
  x->done(x, x->status, x->done_ud);
}

int dbfork_exec_start(dbfork_exec *x, dbfork_exec_done_fn done, void *ud) {
  int rc;
  if (!x || !done) return DBFORK_EINVAL;
  if (!x->po.loop)
    return exec_set_err(x, DBFORK_ESTATE, "no caller's loop in the options: use dbfork_exec_run");
  if (x->done) return exec_set_err(x, DBFORK_ESTATE, "the job was started already");
  x->done = done;
  x->done_ud = ud;
  x->starting = 1;
  rc = begin(x);
  x->starting = 0;
  if (rc) {
    if (x->phase == EXEC_RUNNING) {
      x->status = rc;
      x->done = NULL;
      exec_enter(x, EXEC_ENDED);
    }
    x->done = NULL;
    x->done_pending = 0;
    return rc;
  }
  if (x->done_pending) {
    uv_timer_init(x->po.loop, &x->done_timer);
    x->done_timer.data = x;
    x->done_timer_on = 1;
    uv_timer_start(&x->done_timer, on_done_timer, 0, 0);
  }
  return 0;
}

int dbfork_exec_stop(dbfork_exec *x) {
  if (!x) return DBFORK_EINVAL;
  if (x->phase == EXEC_RUNNING && x->job) {
    job_stop(x->job, 1);
  } else if (x->phase != EXEC_ENDED) {
    x->status = DBFORK_ECANCELED;
    exec_set_err(x, DBFORK_ECANCELED, "the job was stopped before it ran");
    if (x->pool) dbfork_pool_stop(x->pool);
    exec_enter(x, EXEC_ENDED);
  }
  return 0;
}

int dbfork_exec_set_workers(dbfork_exec *x, int n) {
  if (!x || n < 1 || n > x->eo.max_workers) return DBFORK_EINVAL;
  x->st.workers_active = n;
  if (x->job) job_set_window(x->job, (unsigned)n);
  return 0;
}

int(dbfork_exec_stats_get)(dbfork_exec *x, dbfork_exec_stats *out, size_t out_size) {
  dbfork_exec_stats mine, *st = &mine;
  if (!x || !out || out_size < EXEC_STATS_SIZE_1_0 || out_size > STRUCT_SIZE_MAX)
    return DBFORK_EINVAL;
  *st = x->st;
  if (x->job) {
    job_counts n;
    job_counts_get(x->job, &n);
    st->retries = n.retries;
  }
  exec_throttle_stats(x, st);
  if (x->t_start && st->rows_done) {
    double el = exec_now() - x->t_start, rate = (double)st->rows_done / el;
    double left = (double)st->rows_estimate - (double)(st->rows_done + st->rows_before);
    st->eta_seconds = left > 0 && rate > 0 ? left / rate : 0;
  }
  if (x->pool) job_workers_count(x->pool, &st->workers, &st->workers_busy);
  dbfork_abi_copy_out(out, out_size, st, sizeof *st);
  return 0;
}

const char *dbfork_exec_last_error(const dbfork_exec *x) { return x ? x->err : ""; }

void dbfork_exec_free(dbfork_exec *x) {
  int i;
  size_t k;
  if (!x) return;
  if (x->done_timer_on) {
    uv_close((uv_handle_t *)&x->done_timer, NULL);
    uv_run(x->po.loop, UV_RUN_NOWAIT);
  }
  if (x->pool && x->phase == EXEC_ENDED) dbfork_pool_join(x->pool);
  if (x->pause_timer_init || x->ctl_timer_init || x->ahead_timer_init || x->hosts.timer_on) {
    exec_pause_close(x);
    uv_run(dbfork_pool_loop(x->pool), UV_RUN_NOWAIT);
  }
  free(x->ahead);
  job_free(x->job);
  dbfork_pool_free(x->pool);
  exec_job_unlock(x);
  if (x->m) dbfork_mysql_close(x->m);
  exec_replicas_close(x);
  free(x->reps);
  for (i = 0; i < x->c.nstmts; i++) free(x->c.stmts[i]);
  exec_tuple_clear(&x->until);
  exec_tuple_clear(&x->cursor);
  for (k = 0; k < x->npend; k++) {
    exec_tuple_clear(&x->pend[k].from);
    exec_tuple_clear(&x->pend[k].to);
  }
  free(x->pend);
  job_strings_free(&x->strs);
  free(x);
}
