/*
 * exec_cli.h — `dbfork exec`, the command over exec's public API
 * (dbfork/exec.h), by concern:
 *   exec_opts.c    the options and --help
 *   exec.c         the job run on the command's own loop (SIGINT/SIGTERM
 *                  stop it, SIGUSR1/SIGUSR2 change the workers), the exit code
 *   exec_report.c  what a user sees: chunk failures, the progress line, the
 *                  summary or the JSON object
 */
#ifndef DBFORK_CLI_EXEC_H
#define DBFORK_CLI_EXEC_H

#include <dbfork/exec.h>

#include "common.h"

struct uv_loop_s;

typedef struct exec_cli {
  dbfork_exec *x;
  struct uv_loop_s *loop;
  cli_conn c;
  dbfork_exec_options eo;
  const char *replicas[64]; /* --replica, in eo.replicas */
  char table[300];          /* as given, with the default database */
  int dry_run, json, quiet, verbose, tty;
  double t0, last_print;
  char first_error[2048];
  int done, status;
  int started; /* the job was created: stats are there */
  int bar_len;
} exec_cli;

/* exec_opts.c: -1 to go on, or the exit code (EXIT_OK after --help,
 * EXIT_USAGE after a message naming the bad option). */
int exec_opts_parse(exec_cli *e, int argc, char **argv);
void exec_cli_error(exec_cli *e, const char *fmt, ...) DBFORK_PRINTF(2, 3);

/* exec_report.c */
void exec_cli_on_chunk(dbfork_exec *x, const dbfork_exec_chunk *c, void *ud);
void exec_cli_progress(exec_cli *e, int final);
void exec_cli_notes(exec_cli *e);
int exec_cli_summary(exec_cli *e, int status); /* returns the exit code */
int exec_cli_json_early(exec_cli *e, int exit);
/* The exit code for a status: 0 done, 64 bad input, 2 anything else. */
int exec_cli_exit(int status);

#endif
