/*
 * main.c — the dbfork command: dispatches to a subcommand. Uses only the
 * public API of libdbfork (plus the MySQL client library for its own
 * connection and the tasks it runs in workers).
 */
#include "common.h"

#include <mysql.h>
#include <string.h>
#include <uv.h>

/* The version line: this command, the library it runs with, and what that
 * library talks to the server with (the client library dbfork was built
 * against is the one linked here too). */
static void print_version(void) {
#ifdef LIBMARIADB
  const char *client = "MariaDB Connector/C";
#else
  const char *client = "MySQL libmysqlclient";
#endif
  printf("dbfork %d.%d.%d (libdbfork %s; %s %s; libuv %s)\n", DBFORK_VERSION_MAJOR,
         DBFORK_VERSION_MINOR, DBFORK_VERSION_PATCH, dbfork_version(), client,
         mysql_get_client_info(), uv_version_string());
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: dbfork COMMAND [options]\n\n"
          "Commands:\n"
          "  load     parallel, transactional, resumable CSV loader (LOAD DATA LOCAL INFILE\n"
          "           or prepared INSERTs), one transaction per chunk\n"
          "  exec     SQL over a table in key-range chunks, in parallel, each chunk exactly\n"
          "           once in its own transaction, throttled, resumable\n"
          "  job      the jobs processes on several hosts share (exec --job): list, status,\n"
          "           forget\n"
          "  demo     parallel transactional insert job over N workers, with a summary of\n"
          "           what the server saw (rows, checksum, sessions, Aborted_clients)\n"
          "  version  print the versions of dbfork, the client library and libuv\n\n"
          "Run 'dbfork COMMAND --help' for a command's options.\n\n"
          "Exit codes: 0 done; 1 done, but input rows were rejected; 2 failed or interrupted;\n"
          "64 bad usage.\n");
}

int main(int argc, char **argv) {
  int rc;
  /* A worker of a pool started with start_method spawn is this program run
   * again: it becomes the worker here, before anything else runs. */
  if (dbfork_child_main(&argc, &argv, &rc)) return rc;
  if (argc < 2) {
    usage(stderr);
    return EXIT_USAGE;
  }
  if (!strcmp(argv[1], "demo")) return cmd_demo(argc - 1, argv + 1);
  if (!strcmp(argv[1], "load")) return cmd_load(argc - 1, argv + 1);
  if (!strcmp(argv[1], "exec")) return cmd_exec(argc - 1, argv + 1);
  if (!strcmp(argv[1], "job")) return cmd_job(argc - 1, argv + 1);
  if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
    print_version();
    return EXIT_OK;
  }
  if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    usage(stdout);
    return EXIT_OK;
  }
  fprintf(stderr, "dbfork: unknown command '%s'\n\n", argv[1]);
  usage(stderr);
  return EXIT_USAGE;
}
