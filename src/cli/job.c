/*
 * job.c — `dbfork job list | status NAME | forget NAME`: the jobs shared
 * with `dbfork exec --job` and `dbfork load --job`, seen from any host that
 * can connect (dbfork_exec_job_report / _forget and dbfork_load_job_report
 * / _forget). A name is looked up among both kinds; --kind picks one.
 */
#define _GNU_SOURCE
#include <dbfork/exec.h>
#include <dbfork/load.h>

#include "common.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { OPT_JSON = 5001, OPT_PROGRESS_DB, OPT_KIND, OPT_HELP };

typedef int (*report_fn)(const dbfork_options *, const char *, const char *, int, char **, char *,
                         size_t);
typedef int (*forget_fn)(const dbfork_options *, const char *, const char *, char *, size_t);
static const struct kind {
  const char *name;
  report_fn report;
  forget_fn forget;
} kinds[] = {{"exec", dbfork_exec_job_report, dbfork_exec_job_forget},
             {"load", dbfork_load_job_report, dbfork_load_job_forget}};
#define NKINDS 2

static void usage(FILE *f) {
  fputs(
      "usage: dbfork job list [options]\n"
      "       dbfork job status NAME [options]\n"
      "       dbfork job forget NAME [options]\n\n"
      "The jobs that `dbfork exec --job NAME` and `dbfork load --job NAME` processes\n"
      "share, read from the exec and load tables of the database (-D, or\n"
      "--progress-db as the jobs were given):\n"
      "  list     every shared job: kind (exec, load), name, id, table, chunks\n"
      "           committed, processes running, state\n"
      "  status   one job: its statements (exec) or file (load), chunks cut and\n"
      "           committed, and for each process (host:pid:start) its workers,\n"
      "           chunks and rows done, rate, heartbeat age and state (running,\n"
      "           silent, ended, killed); the ETA\n"
      "  forget   remove the job's rows from the job tables (refused while one of\n"
      "           its processes runs); a load's rows stay in its table\n\n"
      "Options:\n"
      "      --kind=exec|load        only jobs of that kind (needed when an exec job\n"
      "                              and a load job have the same NAME)\n"
      "      --progress-db=DB        where the job tables are (default -D)\n"
      "      --json                  one JSON value on stdout\n"
      "      --help                  this text\n\n"
      "Exit status: 0 done; 2 failed (no such job, the server); 64 bad usage.\n\n",
      f);
  cli_conn_usage(f);
}

/* Every kind's list (or only `kind`'s), as one table or one JSON array:
 * a kind whose tables are not there is left out; none there is an error. */
static int list(const dbfork_options *o, const char *progress_db, int kind, int json, char *err,
                size_t errlen) {
  char *text[NKINDS] = {NULL, NULL}, e[NKINDS][512];
  int k, rc = 0, found = 0, items = 0;
  for (k = 0; k < NKINDS && !rc; k++) {
    if (kind >= 0 && k != kind) continue;
    rc = kinds[k].report(o, progress_db, NULL, json, &text[k], e[k], sizeof e[k]);
    if (rc == DBFORK_ENOENT) {
      snprintf(err, errlen, "%s", e[k]);
      rc = 0;
      continue;
    }
    if (rc) snprintf(err, errlen, "%s", e[k]);
    found++;
  }
  if (!rc && !found) rc = DBFORK_ENOENT; /* err: the last kind's "no tables" */
  if (!rc && json) putchar('[');
  for (k = 0; k < NKINDS && !rc; k++) {
    const char *t = text[k];
    size_t n;
    if (!t) continue;
    if (json) { /* "[a,b]\n": the items only */
      n = strlen(t);
      if (n > 3) printf("%s%.*s", items++ ? "," : "", (int)(n - 3), t + 1);
    } else {
      if (found > 1 && k > 0 && text[0] && (t = strchr(t, '\n'))) t++; /* one header */
      fputs(t, stdout);
    }
  }
  if (!rc && json) puts("]");
  for (k = 0; k < NKINDS; k++) free(text[k]);
  return rc;
}

/* The kind of job `name` (*kind, or the only kind with such a job). */
static int find(const dbfork_options *o, const char *progress_db, const char *name, int *kind,
                char *err, size_t errlen) {
  int k, rc, hit = -1;
  char e[512] = "";
  if (*kind >= 0) return 0;
  for (k = 0; k < NKINDS; k++) {
    char *t = NULL;
    rc = kinds[k].report(o, progress_db, name, 1, &t, e, sizeof e);
    free(t);
    if (rc == DBFORK_ENOENT) continue;
    if (rc) {
      snprintf(err, errlen, "%s", e);
      return rc;
    }
    if (hit >= 0) {
      snprintf(err, errlen,
               "both an exec job and a load job are named '%s': give --kind=exec or "
               "--kind=load",
               name);
      return DBFORK_EINVAL;
    }
    hit = k;
  }
  if (hit < 0) {
    snprintf(err, errlen, "no job '%s' among the exec and load jobs", name);
    return DBFORK_ENOENT;
  }
  *kind = hit;
  return 0;
}

int cmd_job(int argc, char **argv) {
  static const struct option own[] = {{"json", no_argument, NULL, OPT_JSON},
                                      {"progress-db", required_argument, NULL, OPT_PROGRESS_DB},
                                      {"kind", required_argument, NULL, OPT_KIND},
                                      {"help", no_argument, NULL, OPT_HELP},
                                      {NULL, 0, NULL, 0}};
  struct option longopts[CLI_CONN_NLONGOPTS + 5];
  static const char *const groups[] = {"client", "client-server", "client-mariadb", "dbfork", NULL};
  cli_conn c;
  dbfork_options o;
  const char *verb, *name = NULL, *progress_db = NULL;
  char err[1024], *text = NULL;
  int opt, json = 0, rc, ret, kind = -1;
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
      case OPT_KIND:
        for (kind = 0; kind < NKINDS && strcmp(optarg, kinds[kind].name); kind++) {
        }
        if (kind == NKINDS) {
          cli_error("job: --kind=%s: not exec or load", optarg);
          goto usage_err;
        }
        break;
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
  if (!name)
    rc = list(&o, progress_db, kind, json, err, sizeof err);
  else if ((rc = find(&o, progress_db, name, &kind, err, sizeof err)) == 0 &&
           !strcmp(verb, "forget")) {
    rc = kinds[kind].forget(&o, progress_db, name, err, sizeof err);
    if (!rc) printf("%s job %s forgotten\n", kinds[kind].name, name);
  } else if (!rc) {
    rc = kinds[kind].report(&o, progress_db, name, json, &text, err, sizeof err);
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
