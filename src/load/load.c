/*
 * load.c — the loader's public API (dbfork/load.h): options, the load's
 * lifecycle (new, prepare, run or start, stop, free) and its results. The
 * work is elsewhere: setup.c checks, progress.c keeps the tables, plan.c
 * cuts the file, parent.c feeds the job core, worker.c loads.
 *
 * A load's phase changes through load_enter() only: new -> prepared ->
 * running -> ended.
 */

#include "loader.h"

#include <dbfork/abi.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <uv.h>

static const char *const phase_names[] = {"new", "prepared", "running", "ended"};

static void llog(dbfork_load *l, int level, const char *fmt, ...) DBFORK_PRINTF(3, 4);
static void llog(dbfork_load *l, int level, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  if (!l->po.log || level > (l->po.log_level ? l->po.log_level : DBFORK_LOG_INFO)) return;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  l->po.log(level, msg, l->po.log_arg);
}

void load_enter(dbfork_load *l, int phase) {
  if (l->phase == phase) return;
  llog(l, DBFORK_LOG_DEBUG, "load %s: %s -> %s", l->c.t.job_id[0] ? l->c.t.job_id : "(new)",
       phase_names[l->phase], phase_names[phase]);
  l->phase = phase;
  if (phase == LOAD_ENDED) {
    /* A run that loaded the whole file completes its job: a rerun on the
     * same bytes then loads nothing (rerun.c). */
    if (l->status == 0 && l->job && !l->c.no_resume && !l->st.given_up && l->file_hashed &&
        load_job_complete(l))
      llog(l, DBFORK_LOG_WARN, "%s", l->err);
    load_job_unlock(l);
    l->st.done = 1;
    l->st.status = l->status;
    if (l->pool) dbfork_pool_close(l->pool);
    if (l->done) {
      if (l->starting) {
        l->done_pending = 1; /* dbfork_load_start has not returned yet */
      } else {
        l->in_done = 1;
        l->done(l, l->status, l->done_ud);
        l->in_done = 0;
      }
    }
  }
}

int load_set_err(dbfork_load *l, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(l->err, sizeof l->err, fmt, ap);
  va_end(ap);
  return code;
}

const char *load_method_name(int method) {
  return method == METHOD_INSERT ? "insert" : method == METHOD_BULK ? "bulk" : "load-data";
}

/* The sizes of the first release (1.0) of the caller-allocated structs: the
 * smallest a caller may pass (docs/ABI.md). */
#define LOAD_OPTIONS_SIZE_1_0 DBFORK_ABI_SIZE_TO(dbfork_load_options, ud)
#define LOAD_STATS_SIZE_1_0 DBFORK_ABI_SIZE_TO(dbfork_load_stats, status)
#define CONN_OPTIONS_SIZE_1_0 DBFORK_ABI_SIZE_TO(dbfork_options, log_level)
#define STRUCT_SIZE_MAX 65536

/* The name in parentheses: load.h's macro of the same name is not expanded. */
void(dbfork_load_options_init)(dbfork_load_options *o, size_t size) {
  if (!o || size < sizeof o->size) return;
  memset(o, 0, size);
  o->size = size;
}

/* Copies *s into the load's own storage (NULL stays NULL). */
static int own(dbfork_load *l, const char **s) { return job_own(&l->strs, s); }

static int parse_choice(const char *v, const char *const *names, int n, int def) {
  int i;
  if (!v) return def;
  for (i = 0; i < n; i++)
    if (!strcmp(v, names[i])) return i;
  return -1;
}

int dbfork_load_new(dbfork_load **out, const dbfork_options *conn_in,
                    const dbfork_load_options *lo_in) {
  static const char *const methods[] = {"load-data", "insert", "bulk"};
  static const char *const dups[] = {"error", "ignore", "update", "replace"};
  static const char *const bads[] = {"reject", "warn"};
  dbfork_load *l;
  dbfork_options conn_copy, *conn = &conn_copy;
  dbfork_load_options lo_copy, *lo = &lo_copy;
  char err[200];
  csv_dialect d;
  int method, dup, bad;
  if (!out) return DBFORK_EINVAL;
  *out = NULL;
  if (!conn_in || !lo_in) return DBFORK_EINVAL;
  /* Both structs are as long as the caller's headers made them: read that
   * much, not ours (docs/ABI.md). */
  if (job_copy_options(conn, conn_in, CONN_OPTIONS_SIZE_1_0, lo, sizeof *lo, lo_in,
                       LOAD_OPTIONS_SIZE_1_0, "dbfork_load_options", "libdbfork-load"))
    return DBFORK_EINVAL;
  if (!lo->file || !*lo->file) return job_refuse(conn, "load option file: no file given");
  if (!lo->table || !*lo->table) return job_refuse(conn, "load option table: --table is required");
  if ((method = parse_choice(lo->method, methods, 3, METHOD_LOAD_DATA)) < 0)
    return job_refuse(conn, "option --method: '%s' is not load-data, insert or bulk", lo->method);
  if ((dup = parse_choice(lo->on_duplicate, dups, 4, DUP_ERROR)) < 0)
    return job_refuse(conn, "option --on-duplicate: '%s' is not error, ignore, replace or update",
                      lo->on_duplicate);
  if ((bad = parse_choice(lo->bad_values, bads, 2, BAD_REJECT)) < 0)
    return job_refuse(conn, "option --bad-values: '%s' is not reject or warn", lo->bad_values);
  if (dup == DUP_UPDATE && method == METHOD_LOAD_DATA && lo->method)
    return job_refuse(conn,
                      "option --on-duplicate=update needs --method=insert or bulk (LOAD DATA "
                      "can only ignore or replace duplicates)");
  if (lo->batch > 65535) return job_refuse(conn, "option --batch: must be 1..65535");
  if (lo->chunk_size > (1ull << 30))
    return job_refuse(conn, "option --chunk-size: must be 1 byte .. 1G");
  if (csv_dialect_parse(&d, lo->fields_terminated_by, lo->fields_enclosed_by, lo->fields_escaped_by,
                        lo->lines_terminated_by, err, sizeof err))
    return job_refuse(conn, "bad CSV dialect options: %s", err);
  if (job_check_shared(conn, lo->job_name, lo->dead_after)) return DBFORK_EINVAL;
  if (lo->job_name && (lo->restart || lo->reload || lo->truncate || lo->no_resume))
    return job_refuse(conn,
                      "option --job: not with %s (a shared job is its name: to load the file "
                      "again, or into an emptied table, use a new --job name)",
                      lo->restart    ? "--restart"
                      : lo->reload   ? "--reload"
                      : lo->truncate ? "--truncate"
                                     : "--no-resume");
  if (conn->workers < 0 || conn->workers > 4096)
    return job_refuse(conn, "option workers=%d out of range 1..4096", conn->workers);
  if (!(l = calloc(1, sizeof *l))) return DBFORK_ENOMEM;
  l->fd = -1;
  l->po = *conn;
  l->lo = *lo;
  if (job_own_conn(&l->strs, &l->po) || own(l, &l->lo.file) || own(l, &l->lo.table) ||
      own(l, &l->lo.columns) || own(l, &l->lo.fields_terminated_by) ||
      own(l, &l->lo.fields_enclosed_by) || own(l, &l->lo.fields_escaped_by) ||
      own(l, &l->lo.lines_terminated_by) || own(l, &l->lo.method) || own(l, &l->lo.on_duplicate) ||
      own(l, &l->lo.character_set) || own(l, &l->lo.bad_values) || own(l, &l->lo.set) ||
      own(l, &l->lo.progress_table) || own(l, &l->lo.job_name)) {
    dbfork_load_free(l);
    return DBFORK_ENOMEM;
  }
  if (!l->po.program_name) l->po.program_name = "dbfork-load";
  if (!l->po.workers) l->po.workers = 2;
  l->c.d = d;
  if (lo->strict) l->c.d.flags |= CSV_F_STRICT;
  l->c.method = method;
  l->c.method_auto = !lo->method;
  l->c.dup = dup;
  l->c.bad_values = bad;
  l->c.no_resume = lo->no_resume != 0;
  l->c.batch = lo->batch ? lo->batch : 1000;
  l->c.chunk_bytes = lo->chunk_size;
  l->c.skip_lines = lo->skip_lines;
  l->c.max_errors = lo->max_errors;
  l->c.job_shared = lo->job_name != NULL;
  l->st.workers = l->po.workers;
  *out = l;
  return 0;
}

/* The parent's own session: the workers' options under another program
 * name, so that nothing counting (or killing) the workers' sessions by
 * name takes it for one of them. */
int load_connect_parent(dbfork_load *l) {
  dbfork_options o = l->po;
  char name[128], err[600];
  int rc;
  snprintf(name, sizeof name, "%s-parent", l->po.program_name);
  o.program_name = name;
  o.local_infile = 0;
  if (l->m) dbfork_mysql_close(l->m);
  l->m = NULL;
  rc = dbfork_connect(&l->m, &o, err, sizeof err);
  if (rc) return load_set_err(l, rc, "cannot connect to the server: %s", err);
  return 0;
}

/* A UTF-8 byte order mark at the start of the file is not data (for the
 * UTF-8 character sets): the plan starts after it. */
static int skip_bom(dbfork_load *l) {
  unsigned char b[3];
  if (l->c.enc != CSV_ENC_UTF8MB4 && l->c.enc != CSV_ENC_UTF8MB3) return 0;
  if (pread(l->fd, b, 3, 0) == 3 && b[0] == 0xef && b[1] == 0xbb && b[2] == 0xbf)
    l->c.data_start = 3;
  return 0;
}

/* The steps of dbfork_load_prepare; a failure is final (see there). */
static int prepare(dbfork_load *l) {
  load_conf *c = &l->c;
  int rc;
  if ((rc = load_open_file(l))) return rc;
  if (!c->chunk_bytes) {
    /* 4 MiB chunks measured best for big files; smaller files get at least
     * 16 chunks (down to 1 MiB) so no worker idles through a long tail. It
     * depends on the file alone, so a rerun cuts the same chunks. */
    c->chunk_bytes = l->st.file_bytes / 16;
    if (c->chunk_bytes > (4u << 20)) c->chunk_bytes = 4u << 20;
    if (c->chunk_bytes < (1u << 20)) c->chunk_bytes = 1u << 20;
  }
  if ((rc = load_connect_parent(l)) || (rc = load_pick_method(l))) return rc;
  {
    /* A table without a database takes the connection's: the option's, or
     * what the option files gave the session (database= in [client] or
     * [dbfork]), as the mysql tools do. */
    char cur[130];
    if ((rc = load_check_table(l, l->lo.table,
                               job_default_db(l->m, l->po.database, cur, sizeof cur))))
      return rc;
  }
  if ((rc = load_check_charset(l)) || (rc = skip_bom(l)) || (rc = load_build_sql(l))) return rc;
  l->iolen = 1u << 20;
  if (!(l->iobuf = malloc(l->iolen))) return load_set_err(l, DBFORK_ENOMEM, "out of memory");
  load_plan_init(l);
  if ((rc = load_prepare_job(l))) return rc;
  if (l->st.already_loaded) return 0;
  if (l->nprior) {
    l->st.resumed = 1;
    if ((rc = load_verify_prior(l))) return rc;
  }
  if (l->st.rejected_before > c->max_errors)
    return load_set_err(l, DBFORK_ECHANGED,
                        "cannot resume: the chunks an earlier run of this load committed "
                        "rejected %llu rows, more than --max-errors=%llu; rerun with "
                        "--max-errors=%llu or more (or empty the table and rerun with --restart)",
                        (unsigned long long)l->st.rejected_before,
                        (unsigned long long)c->max_errors,
                        (unsigned long long)l->st.rejected_before);
  l->st.parts_before = l->nprior;
  return 0;
}

int dbfork_load_prepare(dbfork_load *l) {
  int rc;
  if (!l) return DBFORK_EINVAL;
  if (l->phase == LOAD_ENDED && l->status && !l->pool) return DBFORK_ESTATE; /* keeps the message */
  if (l->phase != LOAD_NEW) return load_set_err(l, DBFORK_ESTATE, "the load was prepared already");
  rc = prepare(l);
  if (rc) {
    /* Final: the file, the connection and what was read stay as they are
     * until dbfork_load_free; the message in l->err stays the first one. */
    l->status = rc;
    load_enter(l, LOAD_ENDED);
    return rc;
  }
  load_enter(l, LOAD_PREPARED);
  return 0;
}

static int start_workers(dbfork_load *l) {
  dbfork_options o = l->po;
  job_config jc;
  int rc;
  o.task = load_worker_task;
  o.task_arg = l;
  o.init = load_worker_init;
  o.init_arg = l;
  o.on_connect = NULL;
  o.transaction = 1;
  o.local_infile = 1;
  o.charset = "utf8mb4";             /* the SQL's own text; the file's set is c.charset (setup.c) */
  o.prefetch = 1;                    /* parts are big: no worker hoards a queue of them */
  o.queue_max = (unsigned)o.workers; /* the parent cuts just ahead of the workers */
  o.submit_nonblocking = 1;
  if (l->c.no_resume && l->c.max_errors &&
      !(l->c.shared = load_shared_new(2u * (unsigned)o.workers + 8)))
    return load_set_err(l, DBFORK_ENOMEM, "cannot map the shared --max-errors budget");
  if (l->c.job_shared) {
    o.on_connect = load_share_on_connect;
    o.on_connect_arg = l;
    if ((rc = load_share_begin(l))) return rc;
  }
  if ((rc = job_pool_start(&l->pool, &o, l->err, sizeof l->err))) return rc;
  memset(&jc, 0, sizeof jc);
  jc.pool = l->pool;
  jc.ops = &load_job_ops;
  jc.ud = l;
  jc.window = 2u * (unsigned)o.workers;
  /* Without a progress row nothing can tell whether an attempt whose COMMIT
   * outcome is unknown committed: running it again could load it twice. */
  jc.policy.unknown_commit_fails = l->c.no_resume;
  rc = job_new(&l->job, &jc);
  if (rc) return load_set_err(l, rc, "cannot create the job: %s", dbfork_strerror(rc));
  load_enter(l, LOAD_RUNNING);
  load_share_start(l);
  return job_start(l->job);
}

static int begin(dbfork_load *l) {
  int rc;
  if (l->phase == LOAD_NEW && (rc = dbfork_load_prepare(l))) return rc;
  /* Stopped before it ran: the run's answer is the stop's. */
  if (l->phase == LOAD_ENDED && l->status == DBFORK_ECANCELED && !l->pool) return DBFORK_ECANCELED;
  if (l->phase != LOAD_PREPARED) {
    if (l->phase == LOAD_ENDED && l->status && !l->pool) return DBFORK_ESTATE; /* prepare failed */
    return load_set_err(l, DBFORK_ESTATE, "the load ran already");
  }
  if (l->st.already_loaded) {
    /* Nothing to load: no workers either. */
    l->status = 0;
    load_enter(l, LOAD_ENDED);
    return 0;
  }
  return start_workers(l);
}

int dbfork_load_run(dbfork_load *l) {
  int rc;
  if (!l) return DBFORK_EINVAL;
  if (l->po.loop)
    return load_set_err(l, DBFORK_ESTATE,
                        "the load runs on the caller's loop: use dbfork_load_start");
  if ((rc = begin(l))) {
    if (l->phase == LOAD_RUNNING) {
      l->status = rc;
      load_enter(l, LOAD_ENDED);
    }
    return rc;
  }
  if (!l->pool) return l->status; /* already loaded */
  while (l->phase != LOAD_ENDED) dbfork_pool_run(l->pool, 1);
  rc = dbfork_pool_join(l->pool);
  if (!l->status && rc) l->status = l->st.status = rc;
  return l->status;
}

static void on_done_timer(uv_timer_t *t) {
  dbfork_load *l = t->data;
  l->in_done = 1;
  l->done(l, l->status, l->done_ud);
  l->in_done = 0;
}

int dbfork_load_start(dbfork_load *l, dbfork_load_done_fn done, void *ud) {
  int rc;
  if (!l || !done) return DBFORK_EINVAL;
  if (!l->po.loop)
    return load_set_err(l, DBFORK_ESTATE, "no caller's loop in the options: use dbfork_load_run");
  if (l->done) return load_set_err(l, DBFORK_ESTATE, "the load was started already");
  l->done = done;
  l->done_ud = ud;
  l->starting = 1;
  rc = begin(l);
  l->starting = 0;
  if (rc) {
    l->done = NULL;
    l->done_pending = 0;
    return rc;
  }
  if (l->done_pending) {
    /* It ended inside the start (nothing was left to load): the callback
     * still comes from the loop, after this returns. */
    uv_timer_init(l->po.loop, &l->done_timer);
    l->done_timer.data = l;
    l->done_timer_on = 1;
    uv_timer_start(&l->done_timer, on_done_timer, 0, 0);
  }
  return 0;
}

int dbfork_load_stop(dbfork_load *l) {
  if (!l) return DBFORK_EINVAL;
  if (l->phase == LOAD_RUNNING && l->job) {
    job_stop(l->job, 1);
  } else if (l->phase != LOAD_ENDED) {
    l->status = DBFORK_ECANCELED;
    load_set_err(l, DBFORK_ECANCELED, "the load was stopped before it ran");
    if (l->pool) dbfork_pool_stop(l->pool); /* the workers are starting */
    load_enter(l, LOAD_ENDED);
  }
  return 0;
}

int(dbfork_load_stats_get)(dbfork_load *l, dbfork_load_stats *out, size_t out_size) {
  dbfork_load_stats mine, *st = &mine;
  if (!l || !out || out_size < LOAD_STATS_SIZE_1_0 || out_size > STRUCT_SIZE_MAX)
    return DBFORK_EINVAL;
  *st = l->st;
  if (l->job) {
    job_counts n;
    job_counts_get(l->job, &n);
    st->retries = n.retries;
  }
  if (l->pool) job_workers_count(l->pool, &st->workers, &st->workers_busy);
  dbfork_abi_copy_out(out, out_size, st, sizeof *st);
  return 0;
}

const char *dbfork_load_last_error(const dbfork_load *l) { return l ? l->err : ""; }

dbfork_pool *dbfork_load_pool(dbfork_load *l) { return l ? l->pool : NULL; }

void dbfork_load_free(dbfork_load *l) {
  int i;
  if (!l) return;
  if (l->done_timer_on) {
    uv_close((uv_handle_t *)&l->done_timer, NULL);
    uv_run(l->po.loop, UV_RUN_NOWAIT);
  }
  /* A load that ended normally: its workers are leaving (the pool was
   * closed at the end); wait for them, as dbfork_load_run does. */
  if (l->pool && l->phase == LOAD_ENDED) dbfork_pool_join(l->pool);
  job_free(l->job); /* stays until the pool has ended its parts and the loop closed its timer */
  dbfork_pool_free(l->pool);
  if (l->m) dbfork_mysql_close(l->m);
  if (l->fd >= 0) close(l->fd);
  if (l->c.fnames)
    for (i = 0; i < l->c.nfields; i++) free(l->c.fnames[i]);
  free(l->c.fnames);
  free(l->c.ph_field);
  free(l->c.ins_row);
  free(l->c.set_sql);
  load_shared_free(l->c.shared);
  free(l->c.cols_sql);
  free(l->c.ins_head);
  free(l->c.dup_sql);
  free(l->c.load_sql);
  free(l->prior);
  free(l->later);
  free(l->iobuf);
  free(l->ready);
  free(l->multi);
  job_strings_free(&l->strs); /* wiped: no copy of a password left in freed memory */
  free(l);
}
