/*
 * exec.c — `dbfork exec --table DB.T "SQL"`: the options (exec_opts.c)
 * handed to exec (dbfork/exec.h), the job run on the command's own libuv
 * loop so that SIGINT and SIGTERM stop it cleanly and SIGUSR1 / SIGUSR2
 * change how many chunks run at once, and the exit code. What the user
 * sees is exec_report.c's.
 */
#define _GNU_SOURCE
#include "exec_cli.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

static exec_cli *log_e;

/* exec's log callback: an option error (before the job exists) reads like
 * the command's other option errors. */
static void exec_log(int level, const char *msg, void *arg) {
  if (level == DBFORK_LOG_ERROR && log_e)
    exec_cli_error(log_e, "%s", msg);
  else
    cli_log(level, msg, arg);
}

static void on_stop(uv_signal_t *s, int signum) {
  exec_cli *e = s->data;
  if (!e->json)
    fprintf(stderr,
            "\ndbfork exec: %s: stopping; chunks running finish, rerun the same command to "
            "resume\n",
            strsignal(signum));
  dbfork_exec_stop(e->x);
}

static void on_workers(uv_signal_t *s, int signum) {
  exec_cli *e = s->data;
  dbfork_exec_stats st;
  int n;
  dbfork_exec_stats_get(e->x, &st);
  n = st.workers_active + (signum == SIGUSR1 ? 1 : -1);
  if (dbfork_exec_set_workers(e->x, n) == 0) {
    if (!e->json && !e->quiet)
      fprintf(stderr, "\ndbfork exec: %s: %d chunk%s at once now\n", strsignal(signum), n,
              n == 1 ? "" : "s");
  }
}

static void on_done(dbfork_exec *x, int status, void *ud) {
  exec_cli *e = ud;
  (void)x;
  e->done = 1;
  e->status = status;
  /* done may come from a timer with nothing else on the loop but the
   * signal watchers (a job that had completed starts no workers): without
   * a stop, uv_run would wait for them. */
  uv_stop(e->loop);
}

static void table_name(exec_cli *e) {
  const char *db = e->c.database ? e->c.database : cli_optfile_conn(&e->c, "database");
  if (strchr(e->eo.table, '.') || !db)
    snprintf(e->table, sizeof e->table, "%s", e->eo.table);
  else
    snprintf(e->table, sizeof e->table, "%s.%s", db, e->eo.table);
}

int cmd_exec(int argc, char **argv) {
  static exec_cli e;
  dbfork_options o;
  uv_loop_t loop;
  uv_signal_t sig[4];
  static const int signums[4] = {SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
  int rc, ret = EXIT_FAILED, loop_on = 0, signals_on = 0, i;

  memset(&e, 0, sizeof e);
  dbfork_exec_options_init(&e.eo);
  if ((rc = exec_opts_parse(&e, argc, argv)) >= 0) {
    ret = rc == EXIT_USAGE ? exec_cli_json_early(&e, rc) : rc;
    goto out;
  }
  e.verbose = e.c.verbose;
  e.tty = isatty(2);
  table_name(&e);
  if (uv_loop_init(&loop)) {
    exec_cli_error(&e, "cannot create an event loop");
    ret = exec_cli_json_early(&e, EXIT_FAILED);
    goto out;
  }
  loop_on = 1;
  e.loop = &loop;
  log_e = &e;
  cli_conn_pool_options(&e.c, &o);
  o.program_name = "dbfork-exec";
  o.log = exec_log;
  o.loop = &loop;
  e.eo.on_chunk = exec_cli_on_chunk;
  e.eo.ud = &e;
  rc = dbfork_exec_new(&e.x, &o, &e.eo);
  log_e = NULL;
  if (rc) {
    if (rc != DBFORK_EINVAL) exec_cli_error(&e, "%s", dbfork_strerror(rc));
    ret = exec_cli_json_early(&e, rc == DBFORK_EINVAL ? EXIT_USAGE : EXIT_FAILED);
    goto out;
  }
  e.t0 = e.last_print = cli_now();
  if (e.dry_run) {
    char *text = NULL;
    rc = dbfork_exec_explain(e.x, 3, &text);
    if (rc) {
      exec_cli_error(&e, "%s", dbfork_exec_last_error(e.x));
      ret = exec_cli_json_early(&e, exec_cli_exit(rc));
      goto out;
    }
    fputs(text, stdout);
    free(text);
    ret = EXIT_OK;
    goto out;
  }
  for (i = 0; i < 4; i++) {
    uv_signal_init(&loop, &sig[i]);
    sig[i].data = &e;
    uv_signal_start(&sig[i], i < 2 ? on_stop : on_workers, signums[i]);
  }
  signals_on = 1;
  rc = dbfork_exec_prepare(e.x);
  if (rc) {
    exec_cli_error(&e, "%s", dbfork_exec_last_error(e.x));
    ret = exec_cli_json_early(&e, exec_cli_exit(rc));
    goto out;
  }
  e.started = 1;
  exec_cli_notes(&e);
  rc = dbfork_exec_start(e.x, on_done, &e);
  if (rc) {
    e.status = rc;
  } else {
    while (!e.done) uv_run(&loop, UV_RUN_ONCE);
  }
  /* A failure is one line on stderr: the failed chunk's (exec_report.c), or
   * the job's. */
  if (e.status && !e.first_error[0]) exec_cli_error(&e, "%s", dbfork_exec_last_error(e.x));
  if (!e.status) exec_cli_progress(&e, 1);
  ret = exec_cli_summary(&e, e.status);
out:
  dbfork_exec_free(e.x); /* waits for the workers to leave */
  if (signals_on)
    for (i = 0; i < 4; i++) uv_close((uv_handle_t *)&sig[i], NULL);
  if (loop_on) {
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }
  cli_conn_free(&e.c);
  return ret;
}
