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

/* One row of the table: a situation, asked of the worker's or the parent's
 * decision function with transaction=1 and without. In the parent, only a
 * transaction=1 task can have announced a COMMIT. */
typedef struct situation {
  const char *what;
  int parent;           /* asked of dbfork__task_fate, else dbfork__attempt_decide */
  int with_only;        /* about the pool's COMMIT: no answer without transaction=1 */
  dbfork__attempt_in w; /* code, lost, retryable (transaction is the column's) */
  dbfork__fate_in f;    /* finished, running, committing, hard_killed, stopping */
} situation;

static const situation situations[] = {
    {"deadlock (1213) or lock wait timeout (1205)", .w = {.code = DBFORK_ESQL, .retryable = 1}},
    {"connection lost while the task ran", .w = {.code = DBFORK_ESQL, .lost = 1}},
    {"connection lost during the pool's COMMIT", .with_only = 1,
     .w = {.code = DBFORK_ESQL, .lost = 1, .in_commit = 1}},
    {"any other SQL error (duplicate key, syntax, ...)", .w = {.code = DBFORK_ESQL}},
    {"the task function failed without an SQL error", .w = {.code = DBFORK_ETASK}},
    {"its worker died (SIGKILL, OOM, crash) while running it", .parent = 1, .f = {.running = 1}},
    {"its worker died after announcing the pool's COMMIT", .parent = 1, .with_only = 1,
     .f = {.running = 1, .committing = 1}},
    {"it finished, but its worker died before the result arrived", .parent = 1,
     .f = {.finished = 1, .committing = 1}},
    {"its worker died before starting it", .parent = 1},
    {"it passed `hard_time_limit_ms` (its worker was SIGKILLed)", .parent = 1,
     .f = {.running = 1, .hard_killed = 1}},
    {"the pool was terminated before it ran", .parent = 1, .f = {.stopping = 1}},
};

static void cell(char *out, size_t n, const situation *s, int transaction) {
  dbfork__attempt_in w = s->w;
  dbfork__fate_in f = s->f;
  if (s->with_only && !transaction) {
    snprintf(out, n, "— (the pool sends no COMMIT)");
  } else if (s->parent) {
    if (!transaction) f.committing = 0;
    parent_cell(out, n, f);
  } else {
    w.transaction = transaction;
    worker_cell(out, n, w);
  }
}

static void retry_table(void) {
  char with[256], without[256];
  size_t i;
  printf("| What happened to the task | With `transaction = 1` | Without |\n");
  printf("| --- | --- | --- |\n");
  for (i = 0; i < sizeof situations / sizeof situations[0]; i++) {
    cell(with, sizeof with, &situations[i], 1);
    cell(without, sizeof without, &situations[i], 0);
    printf("| %s | %s | %s |\n", situations[i].what, with, without);
  }
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
