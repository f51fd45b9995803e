/*
 * load.c — `dbfork load FILE --table DB.TABLE`: the options of the command
 * line turned into the loader's (dbfork/load.h), the load run on the
 * command's own libuv loop so that SIGINT and SIGTERM stop it cleanly, and
 * the exit code. What the user sees is load_report.c's.
 */
#define _GNU_SOURCE /* strsignal, asprintf */
#include "load_cli.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

static uint64_t parse_size(const char *opt, const char *s, int *bad) {
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (end == s || s[0] == '-') {
    *bad = 1;
    fprintf(stderr, "dbfork load: option %s: '%s' is not a size (e.g. 4M, 512K, 1G)\n", opt, s);
    return 0;
  }
  switch (*end) {
    case 'k':
    case 'K':
      v <<= 10;
      end++;
      break;
    case 'm':
    case 'M':
      v <<= 20;
      end++;
      break;
    case 'g':
    case 'G':
      v <<= 30;
      end++;
      break;
    default: break;
  }
  if (*end) {
    *bad = 1;
    fprintf(stderr, "dbfork load: option %s: '%s' is not a size (e.g. 4M, 512K, 1G)\n", opt, s);
  }
  return v;
}

static void load_usage(FILE *f) {
  fputs(
      "usage: dbfork load FILE --table [DB.]TABLE [options]\n"
      "Loads a CSV file in parallel, one transaction per chunk, resumable exactly once.\n\n"
      "  -t, --table=DB.TABLE       target table (must exist, on a transactional engine\n"
      "                             such as InnoDB)\n"
      "      --columns=a,b,c        file columns, in order (default: all table columns)\n"
      "      --method=M             load-data (default: LOAD DATA LOCAL INFILE) or insert\n"
      "                             (prepared multi-row INSERTs)\n"
      "      --batch=N              rows per INSERT for --method=insert (default 1000)\n"
      "      --on-duplicate=X       error (default), ignore, replace, or update (insert only)\n"
      "      --chunk-size=SIZE      bytes per chunk and transaction (default: file size / 16,\n"
      "                             within 1M..4M; a rerun must use the same value)\n"
      "      --fields-terminated-by=S   default ','\n"
      "      --fields-enclosed-by=C     default '\"' ('' for none)\n"
      "      --fields-escaped-by=C      default '\\\\' ('' for none: RFC 4180 doubled quotes)\n"
      "      --lines-terminated-by=S    default '\\n' (CRLF files are detected)\n"
      "      --skip-lines=N         header records to skip (default 0)\n"
      "      --strict               reject stray quotes in unquoted fields\n"
      "      --max-errors=K         reject up to K malformed rows in all, across reruns\n"
      "                             (default 0); the chunk that finds one more fails and\n"
      "                             the load stops\n"
      "      --reject-file=F        where rejected rows go (default FILE.rejects)\n"
      "      --restart              forget this load's recorded progress (after emptying the\n"
      "                             table yourself)\n"
      "      --json                 print a JSON summary on stdout\n"
      "  -q, --quiet                no progress output\n\n"
      "A chunk whose worker keeps dying (a crash, SIGKILL, the OOM killer) goes to the back\n"
      "of the queue, then is split in halves, down to single records; the rest loads, and\n"
      "the lines that could not be loaded are listed at the end (exit 2; rerun to retry).\n\n"
      "Exit codes: 0 all rows loaded; 1 loaded, but rows were rejected; 2 the load failed or\n"
      "was interrupted (rerun the same command to resume); 64 bad usage.\n\n",
      f);
  cli_conn_usage(f);
}

/* The load's own log callback: an option error (level error, before the
 * load exists) reads like the command's other option errors. */
static void load_log(int level, const char *msg, void *arg) {
  if (level == DBFORK_LOG_ERROR && !strncmp(msg, "option ", 7))
    fprintf(stderr, "dbfork load: %s\n", msg);
  else if (level == DBFORK_LOG_ERROR && !strncmp(msg, "bad CSV", 7))
    fprintf(stderr, "dbfork load: %s\n", msg);
  else if (level == DBFORK_LOG_ERROR && !strncmp(msg, "load option", 11))
    fprintf(stderr, "dbfork load: %s\n", msg + 5);
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
}

int cmd_load(int argc, char **argv) {
  static const struct option extra[] = {{"table", required_argument, NULL, 't'},
                                        {"columns", required_argument, NULL, 3001},
                                        {"method", required_argument, NULL, 3002},
                                        {"batch", required_argument, NULL, 3003},
                                        {"on-duplicate", required_argument, NULL, 3004},
                                        {"chunk-size", required_argument, NULL, 3005},
                                        {"fields-terminated-by", required_argument, NULL, 3006},
                                        {"fields-enclosed-by", required_argument, NULL, 3007},
                                        {"fields-escaped-by", required_argument, NULL, 3008},
                                        {"lines-terminated-by", required_argument, NULL, 3009},
                                        {"skip-lines", required_argument, NULL, 3010},
                                        {"max-errors", required_argument, NULL, 3011},
                                        {"reject-file", required_argument, NULL, 3012},
                                        {"restart", no_argument, NULL, 3013},
                                        {"json", no_argument, NULL, 3014},
                                        {"quiet", no_argument, NULL, 'q'},
                                        {"strict", no_argument, NULL, 3015},
                                        {"help", no_argument, NULL, 3016},
                                        {NULL, 0, NULL, 0}};
  static struct option longopts[CLI_CONN_NLONGOPTS + sizeof extra / sizeof extra[0]];
  static load_cli x;
  cli_conn c;
  dbfork_options o;
  dbfork_load_options lo;
  const char *reject_path = NULL;
  char *def_reject = NULL;
  unsigned long long batch = 0;
  int opt, bad = 0, rc, ret = EXIT_FAILED, loop_on = 0, signals_on = 0;
  uv_loop_t loop;
  uv_signal_t sigint, sigterm;

  memset(&c, 0, sizeof c);
  memset(&x, 0, sizeof x);
  dbfork_load_options_init(&lo);
  memcpy(longopts, cli_conn_longopts, sizeof cli_conn_longopts);
  memcpy(longopts + CLI_CONN_NLONGOPTS, extra, sizeof extra);
  while ((opt = getopt_long(argc, argv, CLI_CONN_SHORTOPTS "t:q", longopts, NULL)) != -1) {
    int h = cli_conn_opt(&c, opt, optarg, argv);
    if (h < 0) return EXIT_USAGE;
    if (h) continue;
    switch (opt) {
      case 't': lo.table = optarg; break;
      case 'q': x.quiet = 1; break;
      case 3001: lo.columns = optarg; break;
      case 3002: lo.method = optarg; break;
      case 3003:
        batch = parse_size("--batch", optarg, &bad);
        if (!bad && (batch == 0 || batch > 65535)) {
          fprintf(stderr, "dbfork load: option --batch: must be 1..65535\n");
          return EXIT_USAGE;
        }
        lo.batch = (unsigned)batch;
        break;
      case 3004: lo.on_duplicate = optarg; break;
      case 3005:
        lo.chunk_size = parse_size("--chunk-size", optarg, &bad);
        if (!bad && lo.chunk_size < 1) {
          fprintf(stderr, "dbfork load: option --chunk-size: must be 1 byte .. 1G\n");
          return EXIT_USAGE;
        }
        break;
      case 3006: lo.fields_terminated_by = optarg; break;
      case 3007: lo.fields_enclosed_by = optarg; break;
      case 3008: lo.fields_escaped_by = optarg; break;
      case 3009: lo.lines_terminated_by = optarg; break;
      case 3010: lo.skip_lines = parse_size("--skip-lines", optarg, &bad); break;
      case 3011: lo.max_errors = parse_size("--max-errors", optarg, &bad); break;
      case 3012: reject_path = optarg; break;
      case 3013: lo.restart = 1; break;
      case 3014: x.json = 1; break;
      case 3015: lo.strict = 1; break;
      case 3016: load_usage(stdout); return EXIT_OK;
      default: load_usage(stderr); return EXIT_USAGE;
    }
  }
  if (bad) return EXIT_USAGE;
  if (optind != argc - 1) {
    fprintf(stderr,
            optind >= argc ? "dbfork load: no FILE given\n"
                           : "dbfork load: one FILE only (got '%s' too)\n",
            optind < argc ? argv[optind + 1] : "");
    load_usage(stderr);
    return EXIT_USAGE;
  }
  lo.file = x.path = argv[optind];
  if (!lo.table) {
    fprintf(stderr, "dbfork load: --table is required\n");
    return EXIT_USAGE;
  }
  if (cli_conn_finish(&c)) return EXIT_USAGE;
  x.verbose = c.verbose;
  x.workers = c.workers;
  x.method = lo.method ? lo.method : "load-data";
  if (strchr(lo.table, '.') || !c.database)
    snprintf(x.table, sizeof x.table, "%s", lo.table);
  else
    snprintf(x.table, sizeof x.table, "%s.%s", c.database, lo.table);
  x.tty = isatty(2);
  lo.on_reject = load_cli_on_reject;
  lo.on_warning = load_cli_on_warning;
  lo.on_chunk = load_cli_on_chunk;
  lo.ud = &x;

  /* The command's own loop: the load runs on it, and so do the signal
   * watchers that stop it. */
  if (uv_loop_init(&loop)) {
    fprintf(stderr, "dbfork load: cannot create an event loop\n");
    goto out;
  }
  loop_on = 1;
  cli_conn_pool_options(&c, &o);
  o.program_name = "dbfork-load";
  o.log = load_log;
  o.loop = &loop;
  rc = dbfork_load_new(&x.l, &o, &lo);
  if (rc) {
    if (rc != DBFORK_EINVAL) fprintf(stderr, "dbfork load: %s\n", dbfork_strerror(rc));
    ret = rc == DBFORK_EINVAL ? EXIT_USAGE : EXIT_FAILED;
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
    fprintf(stderr, "dbfork load: %s\n", dbfork_load_last_error(x.l));
    ret = rc == DBFORK_EINVAL ? EXIT_USAGE : EXIT_FAILED;
    goto out;
  }
  {
    dbfork_load_stats st;
    dbfork_load_stats_get(x.l, &st);
    if (st.resumed && !x.json)
      fprintf(stderr, "dbfork load: resuming job %s: %llu part%s of chunks already committed\n",
              st.job_id, (unsigned long long)st.parts_before, st.parts_before == 1 ? "" : "s");
    if (reject_path || lo.max_errors) {
      if (!reject_path && asprintf(&def_reject, "%s.rejects", x.path) > 0) reject_path = def_reject;
      /* A resumed load appends: the rows rejected by chunks an earlier run
       * committed are already in the file. */
      x.reject = reject_path ? fopen(reject_path, st.resumed ? "a" : "w") : NULL;
      x.reject_path = reject_path;
      if (!x.reject) {
        fprintf(stderr, "dbfork load: --reject-file %s: %s\n", reject_path ? reject_path : "(none)",
                strerror(errno));
        goto out;
      }
    }
  }
  rc = dbfork_load_start(x.l, on_done, &x);
  if (rc) {
    x.status = rc;
  } else {
    while (!x.done) uv_run(&loop, UV_RUN_ONCE);
  }
  /* The workers leave once the load has ended; the summary reports their
   * peak memory, which the system knows once they are reaped. */
  if (dbfork_load_pool(x.l)) dbfork_pool_join(dbfork_load_pool(x.l));
  load_cli_progress(&x, 1);
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
  free(def_reject);
  cli_conn_free(&c);
  return ret;
}
