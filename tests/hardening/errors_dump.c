/*
 * errors_dump.c — what docs/errors.md must say, from the code itself:
 *
 *   errors_dump                the error table as the header defines it and as
 *                              the library reports it, one code a line:
 *                              NAME <TAB> value <TAB> message. Exit 1 if
 *                              dbfork_err_name()/dbfork_strerror() disagree
 *                              with DBFORK_ERRNO_MAP.
 *   errors_dump --retry-table  the retry table, in Markdown, computed by the
 *                              decision functions the worker and the parent
 *                              act on (src/fate.c, compiled in).
 *
 * check_docs.sh compares both with docs/errors.md, so the docs cannot say
 * that something is retried when the code does not retry it.
 */
#include <dbfork.h>
#include <stdio.h>
#include <string.h>

#include "fate.h"

enum { ATTEMPTS = 4 }; /* max_retries = 3 */

/* What the worker does with a failed attempt, first and last time. */
static void worker_cell(char *out, size_t n, dbfork__attempt_in in) {
  dbfork__attempt first, last;
  in.max_attempts = ATTEMPTS;
  in.attempts = 1;
  first = dbfork__attempt_decide(&in);
  in.attempts = ATTEMPTS;
  last = dbfork__attempt_decide(&in);
  if (first.action == DBFORK__ATTEMPT_FAIL)
    snprintf(out, n, "`%s`%s, %s retried", dbfork_err_name(first.code),
             first.rollback ? " (rolled back)" : "",
             first.code == DBFORK_ECOMMITUNKNOWN ? "never" : "not");
  else
    snprintf(out, n, "%s, up to `max_retries`; then `%s`",
             first.action == DBFORK__ATTEMPT_RETRY
                 ? "rolled back and retried after a jittered backoff"
                 : "retried on a new connection (the server rolled it back)",
             dbfork_err_name(last.code));
}

/* What the parent does with a task its worker held when it exited. */
static void parent_cell(char *out, size_t n, dbfork__fate_in in) {
  dbfork__fate first, last;
  in.max_retries = ATTEMPTS - 1;
  in.attempts = 0;
  first = dbfork__task_fate(&in);
  in.attempts = ATTEMPTS - 1;
  last = dbfork__task_fate(&in);
  if (first.action == DBFORK__FATE_COMPLETE)
    snprintf(out, n, "`%s`, %s retried", dbfork_err_name(first.code),
             first.code == DBFORK_ECOMMITUNKNOWN ? "never" : "not");
  else if (first.why == DBFORK__FATE_NOT_STARTED)
    snprintf(out, n, "back to the front of the queue, no attempt counted");
  else
    snprintf(out, n, "retried on another worker, up to `max_retries`; then `%s`",
             dbfork_err_name(last.code));
}

static void row(const char *what, const char *with, const char *without) {
  printf("| %s | %s | %s |\n", what, with, without);
}

static void retry_table(void) {
  static const char *none = "— (the pool sends no COMMIT)";
  char a[256], b[256];
  dbfork__attempt_in w;
  dbfork__fate_in f;
  printf("| What happened to the task | With `transaction = 1` | Without |\n");
  printf("| --- | --- | --- |\n");

  memset(&w, 0, sizeof w);
  w.code = DBFORK_ESQL;
  w.retryable = 1;
  w.transaction = 1;
  worker_cell(a, sizeof a, w);
  w.transaction = 0;
  worker_cell(b, sizeof b, w);
  row("deadlock (1213) or lock wait timeout (1205)", a, b);

  memset(&w, 0, sizeof w);
  w.code = DBFORK_ESQL;
  w.lost = 1;
  w.transaction = 1;
  worker_cell(a, sizeof a, w);
  w.transaction = 0;
  worker_cell(b, sizeof b, w);
  row("connection lost while the task ran", a, b);

  memset(&w, 0, sizeof w);
  w.code = DBFORK_ESQL;
  w.lost = 1;
  w.transaction = 1;
  w.in_commit = 1;
  worker_cell(a, sizeof a, w);
  row("connection lost during the pool's COMMIT", a, none);

  memset(&w, 0, sizeof w);
  w.code = DBFORK_ESQL;
  w.transaction = 1;
  worker_cell(a, sizeof a, w);
  w.transaction = 0;
  worker_cell(b, sizeof b, w);
  row("any other SQL error (duplicate key, syntax, ...)", a, b);

  memset(&w, 0, sizeof w);
  w.code = DBFORK_ETASK;
  w.transaction = 1;
  worker_cell(a, sizeof a, w);
  w.transaction = 0;
  worker_cell(b, sizeof b, w);
  row("the task function failed without an SQL error", a, b);

  memset(&f, 0, sizeof f);
  f.running = 1;
  parent_cell(a, sizeof a, f);
  row("its worker died (SIGKILL, OOM, crash) while running it", a, a);

  memset(&f, 0, sizeof f);
  f.running = 1;
  f.committing = 1;
  parent_cell(a, sizeof a, f);
  row("its worker died after announcing the pool's COMMIT", a, none);

  memset(&f, 0, sizeof f);
  f.finished = 1;
  f.committing = 1;
  parent_cell(a, sizeof a, f);
  f.committing = 0;
  parent_cell(b, sizeof b, f);
  row("it finished, but its worker died before the result arrived", a, b);

  memset(&f, 0, sizeof f);
  parent_cell(a, sizeof a, f);
  row("its worker died before starting it", a, a);

  memset(&f, 0, sizeof f);
  f.running = 1;
  f.hard_killed = 1;
  parent_cell(a, sizeof a, f);
  row("it passed `hard_time_limit_ms` (its worker was SIGKILLed)", a, a);

  memset(&f, 0, sizeof f);
  f.stopping = 1;
  parent_cell(a, sizeof a, f);
  row("the pool was terminated before it ran", a, a);
}

int main(int argc, char **argv) {
  int bad = 0;
  if (argc > 1 && !strcmp(argv[1], "--retry-table")) {
    retry_table();
    return 0;
  }
#define XX(name, val, msg)                                                                  \
  printf("DBFORK_%s\t%d\t%s\n", #name, (int)(val), msg);                                    \
  if (strcmp(dbfork_err_name(val), "DBFORK_" #name) || strcmp(dbfork_strerror(val), msg)) { \
    fprintf(stderr, "library disagrees with the header on DBFORK_%s: %s / %s\n", #name,     \
            dbfork_err_name(val), dbfork_strerror(val));                                    \
    bad = 1;                                                                                \
  }
  DBFORK_ERRNO_MAP(XX)
#undef XX
  return bad;
}
