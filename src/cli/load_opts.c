/*
 * load_opts.c — the options of `dbfork load`: the command line, the
 * [dbfork] and [dbfork-load] groups of the option files (read first, so
 * that the command line wins; an unknown key there is an error naming the
 * file, line and key), mysqlimport's spellings as aliases, and --help.
 */
#define _GNU_SOURCE /* asprintf, strcasecmp */
#include "load_cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
  OPT_COLUMNS = 3001,
  OPT_METHOD,
  OPT_BATCH,
  OPT_ON_DUPLICATE,
  OPT_CHUNK_SIZE,
  OPT_FIELDS_TERMINATED,
  OPT_FIELDS_ENCLOSED,
  OPT_FIELDS_ESCAPED,
  OPT_LINES_TERMINATED,
  OPT_SKIP_LINES,
  OPT_MAX_ERRORS,
  OPT_REJECT_FILE,
  OPT_RESTART,
  OPT_JSON,
  OPT_STRICT,
  OPT_HELP,
  OPT_CHARSET,
  OPT_BAD_VALUES,
  OPT_SET,
  OPT_PROGRESS_TABLE,
  OPT_NO_RESUME,
  OPT_RELOAD,
  OPT_TRUNCATE,
  OPT_REPLACE,
  OPT_IGNORE,
  OPT_LOCAL,
  OPT_JOB,
  OPT_DEAD_AFTER
};

static const struct option load_longopts[] = {
    {"table", required_argument, NULL, 't'},
    {"columns", required_argument, NULL, OPT_COLUMNS},
    {"method", required_argument, NULL, OPT_METHOD},
    {"batch", required_argument, NULL, OPT_BATCH},
    {"on-duplicate", required_argument, NULL, OPT_ON_DUPLICATE},
    {"chunk-size", required_argument, NULL, OPT_CHUNK_SIZE},
    {"fields-terminated-by", required_argument, NULL, OPT_FIELDS_TERMINATED},
    {"fields-enclosed-by", required_argument, NULL, OPT_FIELDS_ENCLOSED},
    {"fields-escaped-by", required_argument, NULL, OPT_FIELDS_ESCAPED},
    {"lines-terminated-by", required_argument, NULL, OPT_LINES_TERMINATED},
    {"skip-lines", required_argument, NULL, OPT_SKIP_LINES},
    {"max-errors", required_argument, NULL, OPT_MAX_ERRORS},
    {"reject-file", required_argument, NULL, OPT_REJECT_FILE},
    {"restart", no_argument, NULL, OPT_RESTART},
    {"json", no_argument, NULL, OPT_JSON},
    {"quiet", no_argument, NULL, 'q'},
    {"strict", no_argument, NULL, OPT_STRICT},
    {"help", no_argument, NULL, OPT_HELP},
    {"character-set", required_argument, NULL, OPT_CHARSET},
    {"bad-values", required_argument, NULL, OPT_BAD_VALUES},
    {"set", required_argument, NULL, OPT_SET},
    {"progress-table", required_argument, NULL, OPT_PROGRESS_TABLE},
    {"no-resume", no_argument, NULL, OPT_NO_RESUME},
    {"reload", no_argument, NULL, OPT_RELOAD},
    {"truncate", no_argument, NULL, OPT_TRUNCATE},
    {"job", required_argument, NULL, OPT_JOB},
    {"dead-after", required_argument, NULL, OPT_DEAD_AFTER},
    /* mysqlimport's spellings */
    {"default-character-set", required_argument, NULL, OPT_CHARSET},
    {"ignore-lines", required_argument, NULL, OPT_SKIP_LINES},
    {"fields-optionally-enclosed-by", required_argument, NULL, OPT_FIELDS_ENCLOSED},
    {"replace", no_argument, NULL, OPT_REPLACE},
    {"ignore", no_argument, NULL, OPT_IGNORE},
    {"delete", no_argument, NULL, OPT_TRUNCATE},
    {"use-threads", required_argument, NULL, 'w'},
    {"local", no_argument, NULL, OPT_LOCAL},
};
#define LOAD_NLONGOPTS (sizeof load_longopts / sizeof load_longopts[0])

static struct option longopts[CLI_CONN_NLONGOPTS + LOAD_NLONGOPTS + 1];

/* Keys of the client library that an option file's [dbfork] group may
 * hold for it (the library reads them; the command does not). */
static const char *const library_keys[] = {"compress",
                                           "default-auth",
                                           "plugin-dir",
                                           "ssl-cipher",
                                           "ssl-crl",
                                           "ssl-crlpath",
                                           "ssl-verify-server-cert",
                                           "tls-version",
                                           "local-infile",
                                           "max-allowed-packet",
                                           "net-buffer-length",
                                           "bind-address",
                                           "character-sets-dir",
                                           "init-command",
                                           "ssl-fp",
                                           "ssl-fplist",
                                           "ssl-passphrase",
                                           "enable-cleartext-plugin",
                                           "reconnect",
                                           "secure-auth",
                                           "multi-results",
                                           "multi-statements",
                                           "report-data-truncation",
                                           NULL};

/* Options the option files may not set: they decide which files are read,
 * or end the command. */
static const char *const file_forbidden[] = {
    "defaults-file", "defaults-extra-file", "no-defaults", "print-defaults", "help", NULL};

void load_cli_error(load_cli *x, const char *fmt, ...) {
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "dbfork load: %s\n", msg);
  if (!x->first_error[0]) snprintf(x->first_error, sizeof x->first_error, "%s", msg);
}

static uint64_t parse_size(load_cli *x, const char *opt, const char *s, int *bad) {
  char *end;
  unsigned long long v;
  errno = 0;
  v = strtoull(s, &end, 10);
  if (end == s || s[0] == '-' || errno) {
    *bad = 1;
    load_cli_error(x, "option %s: '%s' is not a size (e.g. 4M, 512K, 1G)", opt, s);
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
    load_cli_error(x, "option %s: '%s' is not a size (e.g. 4M, 512K, 1G)", opt, s);
  }
  return v;
}

static void load_usage(FILE *f) {
  fputs(
      "usage: dbfork load FILE --table [DB.]TABLE [options]\n"
      "Loads a CSV file in parallel, one transaction per chunk, resumable exactly once.\n\n"
      "  -t, --table=DB.TABLE       target table (must exist, on a transactional engine\n"
      "                             such as InnoDB); DB defaults to -D or database= of an\n"
      "                             option file\n"
      "      --columns=a,@v,c       file columns, in order (default: all table columns);\n"
      "                             @v reads a field into a variable (skips it, or feeds --set)\n"
      "      --set=\"col=expr,...\"   LOAD DATA's SET clause, for both methods\n"
      "      --method=M             load-data (default: LOAD DATA LOCAL INFILE), insert\n"
      "                             (prepared multi-row INSERTs) or bulk (MariaDB >= 10.2:\n"
      "                             array binding, one execution per batch)\n"
      "      --batch=N              rows per INSERT (insert) or execution (bulk); default 1000\n"
      "      --on-duplicate=X       error (default), ignore, replace, or update (insert, bulk)\n"
      "      --chunk-size=SIZE      bytes per chunk and transaction (default: file size / 16,\n"
      "                             within 1M..4M; an interrupted load resumes with the same)\n"
      "      --character-set=NAME   the file's (default utf8mb4; latin1, ascii, binary ...);\n"
      "                             utf8mb4, utf8mb3 and ascii files are checked byte by byte\n"
      "      --fields-terminated-by=S   default ','\n"
      "      --fields-enclosed-by=C     default '\"' ('' for none)\n"
      "      --fields-escaped-by=C      default '\\\\' ('' for none: RFC 4180 doubled quotes)\n"
      "      --lines-terminated-by=S    default '\\n', which takes '\\r\\n' too (mixed)\n"
      "      --skip-lines=N         header records to skip (default 0)\n"
      "      --strict               reject stray quotes in unquoted fields\n"
      "      --bad-values=M         reject (default): a value the server would truncate,\n"
      "                             coerce or refuse makes its row a bad row; warn: the\n"
      "                             server stores what it makes of it, with a warning\n"
      "      --max-errors=K         reject up to K bad rows in all, across reruns (default\n"
      "                             0); the chunk that finds one more fails, the load stops\n"
      "      --reject-file=F        where rejected rows go (default FILE.rejects)\n"
      "      --restart              forget an interrupted load and start it again\n"
      "      --reload               load a completed load's file again, as a new job\n"
      "      --truncate             empty the table first (with --restart or --reload, or\n"
      "                             alone: the file is loaded again as a new job)\n"
      "      --progress-table=DB.T  where the loader's tables go (default\n"
      "                             dbfork_load_progress in the target's database)\n"
      "      --no-resume            no loader tables: one transaction per chunk, no\n"
      "                             exactly-once rerun (like mysqlimport)\n"
      "      --job=NAME             share the load with every process given the same NAME\n"
      "                             (other hosts included, the same file and options):\n"
      "                             each chunk is loaded once, by whoever claims it first\n"
      "      --dead-after=S         with --job: KILL the sessions of a process of the job\n"
      "                             that sent no heartbeat for S seconds (default 10)\n"
      "      --json                 print one JSON object on stdout, whatever happens\n"
      "  -q, --quiet                no progress output\n"
      "  mysqlimport's spellings work too: --ignore-lines, --fields-optionally-enclosed-by,\n"
      "  --replace, --ignore, --delete (= --truncate), --use-threads (= --workers),\n"
      "  --default-character-set (= --character-set), --local (always)\n\n"
      "What is stored is what was checked: for every row dbfork load accepts, the server\n"
      "stores exactly the fields it parsed. A row the server could read differently\n"
      "(bytes invalid in the character set, a wrong field count, an unterminated quote)\n"
      "or whose value it would truncate, coerce or refuse is a bad row: named by file,\n"
      "line, column and byte offset, written to the reject file and counted against\n"
      "--max-errors; the rest of its chunk loads in the same transaction.\n\n"
      "Reruns. The job is the file's path and the table. Rerun an interrupted load with\n"
      "the same command: it loads the rest, exactly once (refused, saying what changed,\n"
      "if the file did). A completed load rerun on the same file does nothing (\"already\n"
      "loaded\"); on a changed file it is a new job and loads. --restart and --reload\n"
      "refuse a table that holds rows, unless --truncate. Two loads of one job at once:\n"
      "the second exits 2.\n\n"
      "Privileges: INSERT on the table (SELECT too with --restart or --reload, DELETE\n"
      "with --truncate or --on-duplicate=replace, UPDATE with update); CREATE once,\n"
      "SELECT, INSERT, UPDATE and DELETE where the loader's tables are (the target's\n"
      "database, or --progress-table); none of these with --no-resume.\n\n"
      "A chunk whose worker keeps dying (a crash, SIGKILL, the OOM killer) goes to the back\n"
      "of the queue, then is split in halves, down to single records; the rest loads, and\n"
      "the lines that could not be loaded are listed at the end (exit 2; rerun to retry).\n\n"
      "Options also come from the [dbfork] and [dbfork-load] groups of the option files\n"
      "(max-errors=10, workers=8 ...; the command line wins).\n\n"
      "Exit codes: 0 all rows loaded (or already loaded); 1 loaded, but rows were rejected;\n"
      "2 the load failed or was interrupted (rerun the same command to resume); 64 bad usage.\n\n",
      f);
  cli_conn_usage(f);
}

/* The long option of that name, or NULL. */
static const struct option *find_opt(const char *name) {
  size_t i;
  for (i = 0; longopts[i].name; i++)
    if (!strcmp(longopts[i].name, name)) return &longopts[i];
  return NULL;
}

static int in_list(const char *const *list, const char *s) {
  for (; *list; list++)
    if (!strcmp(*list, s)) return 1;
  return 0;
}

typedef struct file_opts {
  load_cli *x;
  char **v;
  int n, bad;
} file_opts;

/* An option of [dbfork] or [dbfork-load]: a long option of the command
 * (as --key=value), a key of the client library's (left to it), or an
 * error naming the file, line and key. */
static int take_file_opt(void *ud, const char *file, unsigned line, const char *group,
                         const char *key, const char *value) {
  file_opts *fo = ud;
  const struct option *o = find_opt(key);
  char *arg, **nv;
  if (in_list(library_keys, key)) return 0;
  if (!o || in_list(file_forbidden, key)) {
    load_cli_error(fo->x, "%s:%u: %s option '%s' in [%s]%s", file, line,
                   o ? "forbidden" : "unknown", key, group,
                   o ? " (it may only be given on the command line)"
                     : " (dbfork load --help lists the options)");
    fo->bad = 1;
    return 1;
  }
  if (o->has_arg == required_argument && !value) {
    load_cli_error(fo->x, "%s:%u: option '%s' in [%s] needs a value", file, line, key, group);
    fo->bad = 1;
    return 1;
  }
  if (o->has_arg == no_argument && value) {
    if (!strcasecmp(value, "0") || !strcasecmp(value, "off") || !strcasecmp(value, "false"))
      return 0;
    if (strcasecmp(value, "1") && strcasecmp(value, "on") && strcasecmp(value, "true")) {
      load_cli_error(fo->x, "%s:%u: option '%s' in [%s] takes no value (or 1/0)", file, line, key,
                     group);
      fo->bad = 1;
      return 1;
    }
    value = NULL;
  }
  if ((value ? asprintf(&arg, "--%s=%s", key, value) : asprintf(&arg, "--%s", key)) < 0) return 1;
  if (!(nv = realloc(fo->v, (size_t)(fo->n + 1) * sizeof *nv))) {
    free(arg);
    return 1;
  }
  fo->v = nv;
  fo->v[fo->n++] = arg;
  return 0;
}

/* --no-defaults, --defaults-file and --defaults-extra-file decide which
 * files are read: they are taken from the command line first. */
static void prescan(load_cli *x, int argc, char **argv) {
  int i;
  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--")) break;
    if (!strcmp(a, "--no-defaults")) x->c.no_defaults = 1;
    if (!strncmp(a, "--defaults-file=", 16)) x->c.defaults_file = a + 16;
    if (!strcmp(a, "--defaults-file") && i + 1 < argc) x->c.defaults_file = argv[i + 1];
    if (!strncmp(a, "--defaults-extra-file=", 22)) x->c.defaults_extra_file = a + 22;
    if (!strcmp(a, "--defaults-extra-file") && i + 1 < argc) x->c.defaults_extra_file = argv[i + 1];
    if (!strcmp(a, "--json")) x->json = 1;
  }
}

void load_opts_free(load_cli *x) {
  int i;
  for (i = 0; i < x->nfopts; i++) free(x->fopts[i]);
  free(x->fopts);
  free(x->fargv);
  free(x->def_reject);
  x->fopts = x->fargv = NULL;
  x->nfopts = 0;
  x->def_reject = NULL;
}

int load_opts_parse(load_cli *x, int argc, char **argv) {
  static const char *const groups[] = {"dbfork", "dbfork-load", NULL};
  static const char *const print_groups[] = {"client", "client-server", "client-mariadb",
                                             "dbfork", "dbfork-load",   NULL};
  file_opts fo = {x, NULL, 0, 0};
  unsigned long long batch = 0;
  int opt, bad = 0, i, n;
  memcpy(longopts, cli_conn_longopts, sizeof cli_conn_longopts);
  memcpy(longopts + CLI_CONN_NLONGOPTS, load_longopts, sizeof load_longopts);
  prescan(x, argc, argv);
  if (cli_optfiles_read(&x->c, groups, take_file_opt, &fo) || fo.bad) {
    if (!fo.bad && !x->first_error[0])
      snprintf(x->first_error, sizeof x->first_error, "%s", cli_last_error);
    for (i = 0; i < fo.n; i++) free(fo.v[i]);
    free(fo.v);
    return EXIT_USAGE;
  }
  /* argv[0], the files' options, then the command line's (which win) */
  n = argc + fo.n;
  if (!(x->fargv = calloc((size_t)n + 1, sizeof *x->fargv))) return EXIT_FAILED;
  x->fargv[0] = argv[0];
  for (i = 0; i < fo.n; i++) x->fargv[1 + i] = fo.v[i];
  for (i = 1; i < argc; i++) x->fargv[fo.n + i] = argv[i];
  x->fopts = fo.v;
  x->nfopts = fo.n;
  optind = 1;
  while ((opt = getopt_long(n, x->fargv, CLI_CONN_SHORTOPTS "t:q", longopts, NULL)) != -1) {
    int h = cli_conn_opt(&x->c, opt, optarg, x->fargv);
    if (h < 0) goto usage_err;
    if (h) continue;
    switch (opt) {
      case 't': x->lo.table = optarg; break;
      case 'q': x->quiet = 1; break;
      case OPT_COLUMNS: x->lo.columns = optarg; break;
      case OPT_METHOD: x->lo.method = optarg; break;
      case OPT_BATCH:
        batch = parse_size(x, "--batch", optarg, &bad);
        if (!bad && (batch == 0 || batch > 65535)) {
          load_cli_error(x, "option --batch: must be 1..65535");
          return EXIT_USAGE;
        }
        x->lo.batch = (unsigned)batch;
        break;
      case OPT_ON_DUPLICATE: x->lo.on_duplicate = optarg; break;
      case OPT_REPLACE: x->lo.on_duplicate = "replace"; break;
      case OPT_IGNORE: x->lo.on_duplicate = "ignore"; break;
      case OPT_CHUNK_SIZE:
        x->lo.chunk_size = parse_size(x, "--chunk-size", optarg, &bad);
        if (!bad && x->lo.chunk_size < 1) {
          load_cli_error(x, "option --chunk-size: must be 1 byte .. 1G");
          return EXIT_USAGE;
        }
        break;
      case OPT_FIELDS_TERMINATED: x->lo.fields_terminated_by = optarg; break;
      case OPT_FIELDS_ENCLOSED: x->lo.fields_enclosed_by = optarg; break;
      case OPT_FIELDS_ESCAPED: x->lo.fields_escaped_by = optarg; break;
      case OPT_LINES_TERMINATED: x->lo.lines_terminated_by = optarg; break;
      case OPT_SKIP_LINES: x->lo.skip_lines = parse_size(x, "--skip-lines", optarg, &bad); break;
      case OPT_MAX_ERRORS: x->lo.max_errors = parse_size(x, "--max-errors", optarg, &bad); break;
      case OPT_REJECT_FILE: x->reject_path = optarg; break;
      case OPT_RESTART: x->lo.restart = 1; break;
      case OPT_RELOAD: x->lo.reload = 1; break;
      case OPT_TRUNCATE: x->lo.truncate = 1; break;
      case OPT_NO_RESUME: x->lo.no_resume = 1; break;
      case OPT_JOB: x->lo.job_name = optarg; break;
      case OPT_DEAD_AFTER: {
        char *end;
        errno = 0;
        x->lo.dead_after = strtod(optarg, &end);
        if (end == optarg || *end || errno || !(x->lo.dead_after >= 2) || x->lo.dead_after > 3600) {
          load_cli_error(x, "option --dead-after: '%s' is not a number of seconds within 2 .. 3600",
                         optarg);
          bad = 1;
        }
        break;
      }
      case OPT_JSON: x->json = 1; break;
      case OPT_STRICT: x->lo.strict = 1; break;
      case OPT_CHARSET: x->lo.character_set = optarg; break;
      case OPT_BAD_VALUES: x->lo.bad_values = optarg; break;
      case OPT_SET: x->lo.set = optarg; break;
      case OPT_PROGRESS_TABLE: x->lo.progress_table = optarg; break;
      case OPT_LOCAL: break; /* LOAD DATA LOCAL is the only way the loader sends */
      case OPT_HELP: load_usage(stdout); return EXIT_OK;
      default:
        if (!x->first_error[0])
          snprintf(x->first_error, sizeof x->first_error, "unknown or bad option (%s)",
                   optind > 0 && optind <= n ? x->fargv[optind - 1] : "?");
        load_usage(stderr);
        return EXIT_USAGE;
    }
  }
  if (bad) return EXIT_USAGE;
  if (x->c.print_defaults) {
    cli_print_defaults(&x->c, "dbfork load", print_groups);
    return EXIT_OK;
  }
  if (optind != n - 1) {
    if (optind >= n)
      load_cli_error(x, "no FILE given");
    else
      load_cli_error(x, "one FILE only (got '%s' too)", x->fargv[optind + 1]);
    load_usage(stderr);
    return EXIT_USAGE;
  }
  x->lo.file = x->path = x->fargv[optind];
  if (!x->lo.table) {
    load_cli_error(x, "--table is required");
    return EXIT_USAGE;
  }
  if (cli_conn_finish(&x->c)) goto usage_err;
  return -1;
usage_err:
  if (!x->first_error[0]) snprintf(x->first_error, sizeof x->first_error, "%s", cli_last_error);
  return EXIT_USAGE;
}
