/*
 * load.c — `dbfork load FILE --table DB.TABLE`: the options (load_opts.c)
 * handed to the loader (dbfork/load.h), the load run on the command's own
 * libuv loop so that SIGINT and SIGTERM stop it cleanly, and the exit
 * code. What the user sees is load_report.c's.
 */
#define _GNU_SOURCE /* strsignal, asprintf */
#include "load_cli.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

/* The load's own log callback: an option error (level error, before the
 * load exists) reads like the command's other option errors, and is kept
 * for the summary. */
static load_cli *log_x;
static void load_log(int level, const char *msg, void *arg) {
  if (level == DBFORK_LOG_ERROR && log_x &&
      (!strncmp(msg, "option ", 7) || !strncmp(msg, "bad CSV", 7)))
    load_cli_error(log_x, "%s", msg);
  else if (level == DBFORK_LOG_ERROR && log_x && !strncmp(msg, "load option", 11))
    load_cli_error(log_x, "%s", msg + 5);
  else
    cli_log(level, msg, arg);
}

static void on_signal(uv_signal_t *s, int signum) {
  load_cli *x = s->data;
  fprintf(stderr,
          "\ndbfork load: %s: stopping; chunks in progress finish, rerun the same command to "
          "resume\n",
          strsignal(signum));
  dbfork_load_stop(x->l);
}

static void on_done(dbfork_load *l, int status, void *ud) {
  load_cli *x = ud;
  (void)l;
  x->done = 1;
  x->status = status;
  /* done may come from a timer with nothing else on the loop (a job that
   * was already loaded starts no workers): without a stop, uv_run would
   * go on to wait for I/O that never comes. */
  uv_stop(x->loop);
}

/* The options of the command line, as the loader takes them. */
static void load_options(load_cli *x, dbfork_options *o, uv_loop_t *loop) {
  log_x = x;
  cli_conn_pool_options(&x->c, o);
  o->program_name = "dbfork-load";
  o->log = load_log;
  o->loop = loop;
  x->lo.on_reject = load_cli_on_reject;
  x->lo.on_warning = load_cli_on_warning;
  x->lo.on_chunk = load_cli_on_chunk;
  x->lo.ud = x;
}

/* The table as the user named it, with the default database when it has
 * none (-D, or database= of an option file). */
static void table_name(load_cli *x) {
  const char *db = x->c.database ? x->c.database : cli_optfile_conn(&x->c, "database");
  if (strchr(x->lo.table, '.') || !db)
    snprintf(x->table, sizeof x->table, "%s", x->lo.table);
  else
    snprintf(x->table, sizeof x->table, "%s.%s", db, x->lo.table);
}

static int open_rejects(load_cli *x, const dbfork_load_stats *st) {
  const char *path = x->reject_path;
  if (!path && !x->lo.max_errors) return 0;
  if (!path && asprintf(&x->def_reject, "%s.rejects", x->path) > 0) path = x->def_reject;
  /* A resumed load appends: the rows rejected by chunks an earlier run
   * committed are already in the file. */
  x->reject = path ? fopen(path, st->resumed ? "a" : "w") : NULL;
  x->reject_path = path;
  if (!x->reject) {
    load_cli_error(x, "--reject-file %s: %s", path ? path : "(none)", strerror(errno));
    return -1;
  }
  return 0;
}

int cmd_load(int argc, char **argv) {
  static load_cli x;
  dbfork_options o;
  int rc, ret = EXIT_FAILED, loop_on = 0, signals_on = 0;
  uv_loop_t loop;
  uv_signal_t sigint, sigterm;

  memset(&x, 0, sizeof x);
  dbfork_load_options_init(&x.lo);
  if ((rc = load_opts_parse(&x, argc, argv)) >= 0) {
    ret = rc == EXIT_USAGE ? load_cli_json_early(&x, rc) : rc;
    goto out;
  }
  x.verbose = x.c.verbose;
  x.workers = x.c.workers;
  x.method = x.lo.method ? x.lo.method : "load-data";
  x.job_name = x.lo.job_name;
  table_name(&x);
  x.tty = isatty(2);

  /* The command's own loop: the load runs on it, and so do the signal
   * watchers that stop it. */
  if (uv_loop_init(&loop)) {
    load_cli_error(&x, "cannot create an event loop");
    ret = load_cli_json_early(&x, EXIT_FAILED);
    goto out;
  }
  loop_on = 1;
  x.loop = &loop;
  load_options(&x, &o, &loop);
  rc = dbfork_load_new(&x.l, &o, &x.lo);
  if (rc) {
    if (rc != DBFORK_EINVAL) load_cli_error(&x, "%s", dbfork_strerror(rc));
    ret = load_cli_json_early(&x, rc == DBFORK_EINVAL ? EXIT_USAGE : EXIT_FAILED);
    goto out;
  }
  uv_signal_init(&loop, &sigint);
  uv_signal_init(&loop, &sigterm);
  sigint.data = sigterm.data = &x;
  uv_signal_start(&sigint, on_signal, SIGINT);
  uv_signal_start(&sigterm, on_signal, SIGTERM);
  signals_on = 1;
  x.t0 = x.last_print = cli_now();

  rc = dbfork_load_prepare(x.l);
  if (rc) {
    load_cli_error(&x, "%s", dbfork_load_last_error(x.l));
    ret = load_cli_json_early(&x, rc == DBFORK_EINVAL ? EXIT_USAGE : EXIT_FAILED);
    goto out;
  }
  x.started = 1;
  {
    dbfork_load_stats st;
    dbfork_load_stats_get(x.l, &st);
    load_cli_notes(&x);
    if (!st.already_loaded && open_rejects(&x, &st)) {
      ret = load_cli_json_early(&x, EXIT_FAILED);
      goto out;
    }
  }
  rc = dbfork_load_start(x.l, on_done, &x);
  if (rc) {
    x.status = rc;
  } else {
    while (!x.done) uv_run(&loop, UV_RUN_DEFAULT);
  }
  /* The workers leave once the load has ended; the summary reports their
   * peak memory, which the system knows once they are reaped. */
  if (dbfork_load_pool(x.l)) dbfork_pool_join(dbfork_load_pool(x.l));
  load_cli_progress(&x, 1, x.status);
  if (x.reject) fclose(x.reject);
  x.reject = NULL;
  ret = load_cli_summary(&x, x.status);
out:
  if (x.reject) fclose(x.reject);
  dbfork_load_free(x.l); /* waits for the workers to leave */
  if (signals_on) {
    uv_close((uv_handle_t *)&sigint, NULL);
    uv_close((uv_handle_t *)&sigterm, NULL);
  }
  if (loop_on) {
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }
  load_opts_free(&x);
  cli_conn_free(&x.c);
  return ret;
}
