/*
 * exec_opts.c — the options of `dbfork exec`: the command line (the
 * connection options as every command takes them, and their option files'
 * [client] and [dbfork] groups) and --help.
 */
#define _GNU_SOURCE
#include "exec_cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum {
  OPT_CHUNK_COLUMN = 4001,
  OPT_CHUNK_ROWS,
  OPT_CHUNK_TIME,
  OPT_UNTIL_KEY,
  OPT_LOCK_WAIT,
  OPT_MAX_ROWS,
  OPT_PROGRESS_DB,
  OPT_RESTART,
  OPT_DRY_RUN,
  OPT_MAX_LOAD,
  OPT_CRITICAL_LOAD,
  OPT_MAX_WORKERS,
  OPT_REPLICA,
  OPT_MAX_LAG,
  OPT_CONTROL_FILE,
  OPT_JOB,
  OPT_DEAD_AFTER,
  OPT_JSON,
  OPT_HELP
};

static const struct option exec_longopts[] = {
    {"table", required_argument, NULL, 't'},
    {"chunk-column", required_argument, NULL, OPT_CHUNK_COLUMN},
    {"chunk-rows", required_argument, NULL, OPT_CHUNK_ROWS},
    {"chunk-time", required_argument, NULL, OPT_CHUNK_TIME},
    {"until-key", required_argument, NULL, OPT_UNTIL_KEY},
    {"lock-wait-timeout", required_argument, NULL, OPT_LOCK_WAIT},
    {"max-rows-per-chunk", required_argument, NULL, OPT_MAX_ROWS},
    {"progress-db", required_argument, NULL, OPT_PROGRESS_DB},
    {"restart", no_argument, NULL, OPT_RESTART},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"max-load", required_argument, NULL, OPT_MAX_LOAD},
    {"critical-load", required_argument, NULL, OPT_CRITICAL_LOAD},
    {"max-workers", required_argument, NULL, OPT_MAX_WORKERS},
    {"replica", required_argument, NULL, OPT_REPLICA},
    {"max-lag", required_argument, NULL, OPT_MAX_LAG},
    {"control-file", required_argument, NULL, OPT_CONTROL_FILE},
    {"job", required_argument, NULL, OPT_JOB},
    {"dead-after", required_argument, NULL, OPT_DEAD_AFTER},
    {"json", no_argument, NULL, OPT_JSON},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, OPT_HELP},
};
#define EXEC_NLONGOPTS (sizeof exec_longopts / sizeof exec_longopts[0])
static struct option longopts[CLI_CONN_NLONGOPTS + EXEC_NLONGOPTS + 1];

void exec_cli_error(exec_cli *e, const char *fmt, ...) {
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (!e->json) fprintf(stderr, "dbfork exec: %s\n", msg);
  if (!e->first_error[0]) snprintf(e->first_error, sizeof e->first_error, "%s", msg);
}

/* An unsigned integer option within [min, max]; sets *bad with a message. */
static unsigned long long num(exec_cli *e, const char *opt, const char *s, unsigned long long min,
                              unsigned long long max, int *bad) {
  char *end;
  unsigned long long v;
  errno = 0;
  v = strtoull(s, &end, 10);
  if (end == s || *end || s[0] == '-' || errno || v < min || v > max) {
    exec_cli_error(e, "option %s: '%s' is not a whole number within %llu .. %llu", opt, s, min,
                   max);
    *bad = 1;
    return 0;
  }
  return v;
}

static void exec_usage(FILE *f) {
  fputs(
      "usage: dbfork exec --table [DB.]TABLE [options] \"SQL\"\n"
      "Runs SQL over a table in key-range chunks, in parallel, each chunk exactly once in\n"
      "its own transaction; rerun the same command to resume after a crash or a stop.\n\n"
      "SQL is one or more statements separated by ';', each with the placeholder {chunk},\n"
      "which becomes a condition on the table's key for each chunk, e.g.\n"
      "  dbfork exec --table shop.orders \\\n"
      "    \"UPDATE shop.orders SET total = total * 1.2 WHERE {chunk} AND status = 'open'\"\n\n"
      "  -t, --table=DB.TABLE        the table chunked (InnoDB); DB defaults to -D\n"
      "      --chunk-column=COL      chunk by COL, a unique index's only column, NOT NULL\n"
      "                              (default: the primary key, composite ones in key order)\n"
      "      --chunk-rows=N          keys per chunk (default: tuned to --chunk-time)\n"
      "      --chunk-time=S          seconds a chunk should take (default 0.5)\n"
      "      --until-key=V[,V...]    the last key (default: the largest key when the job first\n"
      "                              started; rows inserted beyond it are not touched)\n"
      "      --lock-wait-timeout=S   innodb_lock_wait_timeout of the workers (default 5)\n"
      "      --max-rows-per-chunk=N  a statement matching more rows in one chunk fails it\n"
      "                              (rolled back) and stops the job (default: no limit)\n"
      "      --max-load=N            start no chunk while Threads_running > N\n"
      "      --critical-load=N       stop (exit 2, resumable) when Threads_running > N\n"
      "      --max-workers=N         worker processes forked (default -w); SIGUSR1 / SIGUSR2\n"
      "                              run one chunk more / fewer at once, within 1 .. N\n"
      "      --replica=DSN           start no chunk while this replica lags more than\n"
      "                              --max-lag, its replication is stopped or it cannot be\n"
      "                              reached (repeatable). DSN: h=host,P=port,S=socket,\n"
      "                              u=user,p=password,F=option file; u and p default to\n"
      "                              F's, else this command's; P alone means h=127.0.0.1\n"
      "      --max-lag=S             seconds of replica lag allowed (default 1.0), read as\n"
      "                              Seconds_Behind_Master at most every 0.5 s\n"
      "      --control-file=PATH     read about once a second when it changes: a line\n"
      "                              workers=N (as SIGUSR1/SIGUSR2), pause, resume, or a\n"
      "                              # comment; a bad line is logged once and ignored\n"
      "      --job=NAME              share the job with every process given the same NAME\n"
      "                              (other hosts included): they cut one plan and each\n"
      "                              chunk runs once; the same table and SQL are required\n"
      "      --dead-after=S          with --job: KILL the sessions of a process of the job\n"
      "                              that sent no heartbeat for S seconds (default 10)\n"
      "      --progress-db=DB        where exec's tables go (default the table's database)\n"
      "      --restart               forget earlier runs of this job and run it as new\n"
      "      --dry-run               print the plan, the first chunks' SQL and EXPLAIN;\n"
      "                              change nothing\n"
      "      --json                  print one JSON object on stdout, whatever happens\n"
      "  -q, --quiet                 no progress output\n\n"
      "The job is the table, its key and the statements. Each chunk's statements and its\n"
      "row in dbfork_exec_progress (key range, rows matched and changed, duration, worker,\n"
      "connection id) commit in one transaction, so a rerun changes every row exactly once,\n"
      "also with SET n = n + 1. A completed job rerun does nothing (--restart to run it\n"
      "again). The first chunk runs alone; every statement is checked by the server first.\n\n"
      "Privileges: what the statements need; CREATE once, SELECT, INSERT, UPDATE, DELETE\n"
      "where exec's tables are.\n\n"
      "Exit codes: 0 done (or done before); 2 failed or interrupted (rerun to resume);\n"
      "64 bad usage or bad input (no {chunk}, no usable key, a statement the server\n"
      "refuses).\n\n",
      f);
  cli_conn_usage(f);
}

int exec_opts_parse(exec_cli *e, int argc, char **argv) {
  int opt, bad = 0, i;
  for (i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--json")) e->json = 1;
  memcpy(longopts, cli_conn_longopts, sizeof cli_conn_longopts);
  memcpy(longopts + CLI_CONN_NLONGOPTS, exec_longopts, sizeof exec_longopts);
  optind = 1;
  while ((opt = getopt_long(argc, argv, CLI_CONN_SHORTOPTS "t:q", longopts, NULL)) != -1) {
    int h = cli_conn_opt(&e->c, opt, optarg, argv);
    char *end;
    if (h < 0) goto usage_err;
    if (h) continue;
    switch (opt) {
      case 't': e->eo.table = optarg; break;
      case 'q': e->quiet = 1; break;
      case OPT_CHUNK_COLUMN: e->eo.chunk_column = optarg; break;
      case OPT_CHUNK_ROWS:
        e->eo.chunk_rows = num(e, "--chunk-rows", optarg, 1, 10000000, &bad);
        break;
      case OPT_CHUNK_TIME:
        errno = 0;
        e->eo.chunk_time = strtod(optarg, &end);
        if (end == optarg || *end || errno || e->eo.chunk_time < 0.01 || e->eo.chunk_time > 60) {
          exec_cli_error(
              e, "option --chunk-time: '%s' is not a number of seconds within 0.01 .. 60", optarg);
          bad = 1;
        }
        break;
      case OPT_UNTIL_KEY: e->eo.until_key = optarg; break;
      case OPT_LOCK_WAIT:
        e->eo.lock_wait_timeout =
            (unsigned)num(e, "--lock-wait-timeout", optarg, 1, 1073741824, &bad);
        break;
      case OPT_MAX_ROWS:
        e->eo.max_rows_per_chunk = num(e, "--max-rows-per-chunk", optarg, 1, ~0ull >> 1, &bad);
        break;
      case OPT_PROGRESS_DB: e->eo.progress_db = optarg; break;
      case OPT_RESTART: e->eo.restart = 1; break;
      case OPT_DRY_RUN: e->dry_run = 1; break;
      case OPT_MAX_LOAD:
        e->eo.max_load = (unsigned)num(e, "--max-load", optarg, 1, 100000, &bad);
        break;
      case OPT_CRITICAL_LOAD:
        e->eo.critical_load = (unsigned)num(e, "--critical-load", optarg, 1, 100000, &bad);
        break;
      case OPT_MAX_WORKERS:
        e->eo.max_workers = (int)num(e, "--max-workers", optarg, 1, 1024, &bad);
        break;
      case OPT_REPLICA:
        if (e->eo.nreplicas >= sizeof e->replicas / sizeof e->replicas[0]) {
          exec_cli_error(e, "option --replica: more than %zu replicas",
                         sizeof e->replicas / sizeof e->replicas[0]);
          bad = 1;
          break;
        }
        e->replicas[e->eo.nreplicas++] = optarg;
        e->eo.replicas = e->replicas;
        break;
      case OPT_MAX_LAG:
        errno = 0;
        e->eo.max_lag = strtod(optarg, &end);
        if (end == optarg || *end || errno || !(e->eo.max_lag > 0) || e->eo.max_lag > 86400) {
          exec_cli_error(e, "option --max-lag: '%s' is not a number of seconds within 0 .. 86400",
                         optarg);
          bad = 1;
        }
        break;
      case OPT_CONTROL_FILE: e->eo.control_file = optarg; break;
      case OPT_JOB: e->eo.job_name = optarg; break;
      case OPT_DEAD_AFTER:
        errno = 0;
        e->eo.dead_after = strtod(optarg, &end);
        if (end == optarg || *end || errno || !(e->eo.dead_after >= 2) || e->eo.dead_after > 3600) {
          exec_cli_error(e, "option --dead-after: '%s' is not a number of seconds within 2 .. 3600",
                         optarg);
          bad = 1;
        }
        break;
      case OPT_JSON: e->json = 1; break;
      case OPT_HELP: exec_usage(stdout); return EXIT_OK;
      default:
        if (!e->first_error[0])
          snprintf(e->first_error, sizeof e->first_error, "unknown or bad option (%s)",
                   optind > 0 && optind <= argc ? argv[optind - 1] : "?");
        if (!e->json) exec_usage(stderr);
        return EXIT_USAGE;
    }
  }
  if (bad) return EXIT_USAGE;
  if (e->c.print_defaults) {
    static const char *const groups[] = {"client", "client-server", "client-mariadb", "dbfork",
                                         NULL};
    cli_print_defaults(&e->c, "dbfork exec", groups);
    return EXIT_OK;
  }
  if (optind != argc - 1) {
    if (optind >= argc)
      exec_cli_error(e, "no SQL given");
    else
      exec_cli_error(e,
                     "one SQL argument only (got '%s' too): put the statements in one "
                     "argument, separated by ';'",
                     argv[optind + 1]);
    return EXIT_USAGE;
  }
  e->eo.sql = argv[optind];
  if (!e->eo.table) {
    exec_cli_error(e, "option --table: it is required");
    return EXIT_USAGE;
  }
  if (e->eo.max_lag > 0 && !e->eo.nreplicas) {
    exec_cli_error(e, "option --max-lag: no --replica given to measure the lag on");
    return EXIT_USAGE;
  }
  if (e->eo.max_workers && e->c.workers > e->eo.max_workers) {
    exec_cli_error(e, "option --workers=%d: more than --max-workers=%d", e->c.workers,
                   e->eo.max_workers);
    return EXIT_USAGE;
  }
  if (cli_conn_finish(&e->c)) goto usage_err;
  return -1;
usage_err:
  if (!e->first_error[0]) snprintf(e->first_error, sizeof e->first_error, "%s", cli_last_error);
  return EXIT_USAGE;
}
