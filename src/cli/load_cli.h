/*
 * load_cli.h — `dbfork load`, the command over the loader's public API
 * (dbfork/load.h), by concern:
 *   load_opts.c    the options: command line, the [dbfork] and
 *                  [dbfork-load] groups of the option files, mysqlimport's
 *                  spellings, --help
 *   load.c         the load run on the command's own loop (signals
 *                  included), and the exit code
 *   load_report.c  what a user sees: the progress bar or periodic lines,
 *                  rejects on stderr and in the reject file, server
 *                  warnings, chunk failures, the summary and the JSON object
 */
#ifndef DBFORK_CLI_LOAD_H
#define DBFORK_CLI_LOAD_H

#include <dbfork/load.h>

#include "common.h"

struct uv_loop_s;

typedef struct load_cli {
  dbfork_load *l;
  struct uv_loop_s *loop;
  cli_conn c;
  dbfork_load_options lo;
  const char *path;     /* FILE as given */
  const char *method;   /* "load-data" / "insert" */
  const char *job_name; /* --job */
  char table[300];      /* db.table as given (completed by the default database) */
  int workers;
  int tty, json, quiet, verbose;
  FILE *reject;
  const char *reject_path;
  char *def_reject; /* FILE.rejects, owned */
  char **fargv;     /* argv[0], the option files' options, the command line */
  char **fopts;     /* the option files' options (owned) */
  int nfopts;
  double t0, last_print;
  char first_error[2048];
  int done, status;
  int started;      /* the load was created: stats are there */
  int bar_len;      /* characters of the progress bar drawn last */
  uint64_t gave_up; /* parts given up, listed on stderr as they happen */
} load_cli;

/* load_opts.c: parses argv (after the option files' [dbfork] and
 * [dbfork-load] options) into x. Returns -1 to go on, or the exit code
 * (EXIT_OK after --help or --print-defaults, EXIT_USAGE after a message
 * naming the bad option, file and key). */
int load_opts_parse(load_cli *x, int argc, char **argv);
void load_opts_free(load_cli *x);
/* The message of a failure of the command itself (not of the load): on
 * stderr, and kept for the summary and the JSON object. */
void load_cli_error(load_cli *x, const char *fmt, ...) DBFORK_PRINTF(2, 3);

/* The loader's callbacks (dbfork_load_options.on_*), ud = load_cli. */
void load_cli_on_reject(dbfork_load *l, const dbfork_load_reject *r, void *ud);
void load_cli_on_warning(dbfork_load *l, const dbfork_load_warning *w, void *ud);
void load_cli_on_chunk(dbfork_load *l, const dbfork_load_chunk *c, void *ud);

/* The progress line: at most every 0.2 s on a terminal, 5 s otherwise, and
 * once more with final = 1 (status: the load's). On a terminal it fits the
 * terminal's width and is redrawn in place. */
void load_cli_progress(load_cli *x, int final, int status);
/* What a rerun found before the load (already loaded, a new job after a
 * change), on stderr. */
void load_cli_notes(load_cli *x);
/* The summary on stdout (or the JSON object with --json); returns the exit
 * code for the load's status. */
int load_cli_summary(load_cli *x, int status);
/* The JSON object of a command that ends before its load ran (bad usage, a
 * failed prepare): status, error, exit code. Returns exit. */
int load_cli_json_early(load_cli *x, int exit);

#endif
