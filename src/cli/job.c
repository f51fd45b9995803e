/*
 * job.c — `dbfork job list | status NAME | forget NAME`: the jobs shared
 * with `dbfork exec --job`, seen from any host that can connect (exec's
 * dbfork_exec_job_report and dbfork_exec_job_forget).
 */
#define _GNU_SOURCE
#include <dbfork/exec.h>

#include "common.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { OPT_JSON = 5001, OPT_PROGRESS_DB, OPT_HELP };

static void usage(FILE *f) {
  fputs(
      "usage: dbfork job list [options]\n"
      "       dbfork job status NAME [options]\n"
      "       dbfork job forget NAME [options]\n\n"
      "The jobs that `dbfork exec --job NAME` processes share, read from the exec\n"
      "tables of the database (-D, or --progress-db as the jobs were given):\n"
      "  list     every shared job: name, id, table, chunks committed, processes\n"
      "           running, state\n"
      "  status   one job: its statements, chunks cut and committed, and for each\n"
      "           process (host:pid:start) its workers, chunks and rows done, rate,\n"
      "           heartbeat age and state (running, silent, ended, killed); the ETA\n"
      "  forget   remove the job's rows from the exec tables (refused while one of\n"
      "           its processes runs)\n\n"
      "Options:\n"
      "      --progress-db=DB        where the exec tables are (default -D)\n"
      "      --json                  one JSON value on stdout\n"
      "      --help                  this text\n\n"
      "Exit status: 0 done; 2 failed (no such job, the server); 64 bad usage.\n\n",
      f);
  cli_conn_usage(f);
}

int cmd_job(int argc, char **argv) {
  static const struct option own[] = {{"json", no_argument, NULL, OPT_JSON},
                                      {"progress-db", required_argument, NULL, OPT_PROGRESS_DB},
                                      {"help", no_argument, NULL, OPT_HELP},
                                      {NULL, 0, NULL, 0}};
  struct option longopts[CLI_CONN_NLONGOPTS + 4];
  static const char *const groups[] = {"client", "client-server", "client-mariadb", "dbfork", NULL};
  cli_conn c;
  dbfork_options o;
  const char *verb, *name = NULL, *progress_db = NULL;
  char err[1024], *text = NULL;
  int opt, json = 0, rc, ret;
  memset(&c, 0, sizeof c);
  memcpy(longopts, cli_conn_longopts, sizeof cli_conn_longopts);
  memcpy(longopts + CLI_CONN_NLONGOPTS, own, sizeof own);
  optind = 1;
  while ((opt = getopt_long(argc, argv, CLI_CONN_SHORTOPTS, longopts, NULL)) != -1) {
    int h = cli_conn_opt(&c, opt, optarg, argv);
    if (h < 0) goto usage_err;
    if (h) continue;
    switch (opt) {
      case OPT_JSON: json = 1; break;
      case OPT_PROGRESS_DB: progress_db = optarg; break;
      case OPT_HELP:
        usage(stdout);
        cli_conn_free(&c);
        return EXIT_OK;
      default: usage(stderr); goto usage_err;
    }
  }
  if (c.print_defaults) {
    cli_print_defaults(&c, "dbfork job", groups);
    cli_conn_free(&c);
    return EXIT_OK;
  }
  if (optind >= argc) {
    cli_error("job: list, status NAME or forget NAME (dbfork job --help)");
    goto usage_err;
  }
  verb = argv[optind++];
  if (!strcmp(verb, "status") || !strcmp(verb, "forget")) {
    if (optind != argc - 1) {
      cli_error("job %s: one job NAME", verb);
      goto usage_err;
    }
    name = argv[optind];
  } else if (strcmp(verb, "list") || optind != argc) {
    cli_error("job: '%s' is not list, status NAME or forget NAME", verb);
    goto usage_err;
  }
  if (cli_conn_finish(&c)) goto usage_err;
  dbfork_options_init(&o);
  cli_conn_pool_options(&c, &o);
  o.program_name = "dbfork-job";
  if (!strcmp(verb, "forget")) {
    rc = dbfork_exec_job_forget(&o, progress_db, name, err, sizeof err);
    if (!rc) printf("job %s forgotten\n", name);
  } else {
    rc = dbfork_exec_job_report(&o, progress_db, name, json, &text, err, sizeof err);
    if (!rc) fputs(text, stdout);
    free(text);
  }
  if (rc) cli_error("job %s%s%s: %s", verb, name ? " " : "", name ? name : "", err);
  ret = rc == DBFORK_EINVAL ? EXIT_USAGE : rc ? EXIT_FAILED : EXIT_OK;
  cli_conn_free(&c);
  return ret;
usage_err:
  cli_conn_free(&c);
  return EXIT_USAGE;
}
