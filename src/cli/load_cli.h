/*
 * load_cli.h — `dbfork load`, the command over the loader's public API
 * (dbfork/load.h): load.c parses the options and runs the load on the
 * command's own loop (signals included); load_report.c turns the loader's
 * callbacks into what a user sees: the progress bar or periodic lines,
 * rejects on stderr and in the reject file, server warnings, chunk
 * failures, the summary and the JSON object.
 */
#ifndef DBFORK_CLI_LOAD_H
#define DBFORK_CLI_LOAD_H

#include <dbfork/load.h>

#include "common.h"

typedef struct load_cli {
  dbfork_load *l;
  const char *path;   /* FILE as given */
  const char *method; /* "load-data" / "insert" */
  char table[300];    /* db.table as given */
  int workers;
  int tty, json, quiet, verbose;
  FILE *reject;
  const char *reject_path;
  double t0, last_print;
  char first_error[2048];
  int done, status;
  uint64_t gave_up; /* parts given up, listed on stderr as they happen */
} load_cli;

/* The loader's callbacks (dbfork_load_options.on_*), ud = load_cli. */
void load_cli_on_reject(dbfork_load *l, const dbfork_load_reject *r, void *ud);
void load_cli_on_warning(dbfork_load *l, const dbfork_load_warning *w, void *ud);
void load_cli_on_chunk(dbfork_load *l, const dbfork_load_chunk *c, void *ud);

/* The progress line: at most every 0.2 s on a terminal, 5 s otherwise, and
 * once more with final = 1. */
void load_cli_progress(load_cli *x, int final);
/* The summary on stdout (or the JSON object with --json); returns the exit
 * code for the load's status. */
int load_cli_summary(load_cli *x, int status);

#endif
