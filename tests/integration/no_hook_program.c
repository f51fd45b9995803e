/*
 * no_hook_program.c — a program for it_spawn whose main() lacks the spawn
 * hook, or has it on one path only. Prints the pool's log to stdout and
 * exits 0 when the pool refused as it should, else non-zero.
 *
 *   no_hook_program nohook              never calls dbfork_child_main():
 *                                       dbfork_pool_new(spawn) must fail
 *   no_hook_program parent-only MODE    calls it, but its spawned copies do
 *                                       not (they see NO_HOOK_CHILD=MODE and
 *                                       exit at once, or hang): the start
 *                                       must fail, and no child be left
 */
#include "dbfork.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void print_log(int level, const char *msg, void *arg) {
  (void)arg;
  printf("[dbfork %d] %s\n", level, msg);
  fflush(stdout);
}

static void options(dbfork_options *o) {
  dbfork_options_init(o);
  o->unix_socket = getenv("DBFORK_TEST_SOCKET");
  o->user = getenv("DBFORK_TEST_USER");
  o->password = getenv("DBFORK_TEST_PASSWORD");
  o->database = getenv("DBFORK_TEST_DB");
  o->no_defaults = 1;
  o->program_name = "it_spawn_no_hook";
  o->start_method = DBFORK_START_SPAWN;
  o->max_start_failures = 1;
  o->workers = 1;
  o->log = print_log;
}

int main(int argc, char **argv) {
  const char *child = getenv("NO_HOOK_CHILD");
  dbfork_options o;
  dbfork_pool *p = NULL;
  int rc;
  if (child) { /* a spawned copy that runs the program's own main() */
    if (!strcmp(child, "hang")) pause();
    return 0;
  }
  if (argc == 3 && !strcmp(argv[1], "parent-only")) {
    if (dbfork_child_main(&argc, &argv, &rc)) return rc;
    setenv("NO_HOOK_CHILD", argv[2], 1);
    options(&o);
    if ((rc = dbfork_pool_new(&p, &o)) != 0) return 10;
    rc = dbfork_pool_start(p);
    printf("dbfork_pool_start: %s; last error: %s\n", dbfork_err_name(rc),
           dbfork_pool_last_error(p));
    dbfork_pool_free(p);
    if (rc != DBFORK_EINIT) return 11;
    /* The copy that never answered was killed and reaped: no child left. */
    if (waitpid(-1, NULL, WNOHANG) != -1 || errno != ECHILD) return 12;
    return 0;
  }
  if (argc == 2 && !strcmp(argv[1], "nohook")) {
    options(&o);
    rc = dbfork_pool_new(&p, &o);
    return rc == DBFORK_EINVAL && p == NULL ? 0 : 13;
  }
  fprintf(stderr, "usage: %s nohook | parent-only exit|hang\n", argv[0]);
  return 2;
}
