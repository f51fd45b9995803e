/*
 * The decisions about a task (src/fate.c), as tables: what becomes of each
 * task a worker held when it exited, and what the worker does after a
 * failed attempt. No server, no processes: the same functions supervise.c
 * and worker.c act on, and errors_dump prints docs/errors.md's retry table
 * from.
 */
#include "dbfork.h"
#include "fate.h"
#include "testutil.h"

enum { NO = 0, YES = 1 };

typedef struct fate_row {
  const char *what;
  dbfork__fate_in in; /* finished, running, committing, hard_killed, stopping, attempts, max */
  int action, code, attempt, why;
} fate_row;

#define REQ DBFORK__FATE_REQUEUE
#define END DBFORK__FATE_COMPLETE

/* clang-format off */
static const fate_row fates[] = {
  {"never started: back to the queue, no attempt counted",
   {NO, NO, NO, NO, NO, 0, 3}, REQ, 0, NO, DBFORK__FATE_NOT_STARTED},
  {"never started, an earlier attempt made: still no attempt counted",
   {NO, NO, NO, NO, NO, 2, 3}, REQ, 0, NO, DBFORK__FATE_NOT_STARTED},
  {"running when the worker died: retried",
   {NO, YES, NO, NO, NO, 0, 3}, REQ, 0, YES, DBFORK__FATE_RETRY},
  {"running, the last attempt the bound allows: retried",
   {NO, YES, NO, NO, NO, 2, 3}, REQ, 0, YES, DBFORK__FATE_RETRY},
  {"running, max_retries used up: worker lost",
   {NO, YES, NO, NO, NO, 3, 3}, END, DBFORK_EWORKERLOST, YES, DBFORK__FATE_WORKER_LOST},
  {"running, retries off: worker lost at once",
   {NO, YES, NO, NO, NO, 0, 0}, END, DBFORK_EWORKERLOST, YES, DBFORK__FATE_WORKER_LOST},
  {"running while its COMMIT was in flight: outcome unknown, never retried",
   {NO, YES, YES, NO, NO, 0, 3}, END, DBFORK_ECOMMITUNKNOWN, YES, DBFORK__FATE_COMMIT_IN_FLIGHT},
  {"killed for the hard time limit: timed out, not retried",
   {NO, YES, NO, YES, NO, 0, 3}, END, DBFORK_ETIMEDOUT, YES, DBFORK__FATE_HARD_LIMIT},
  {"hard limit beats an announced COMMIT",
   {NO, YES, YES, YES, NO, 0, 3}, END, DBFORK_ETIMEDOUT, YES, DBFORK__FATE_HARD_LIMIT},
  {"finished, its result lost with the worker: not re-run",
   {YES, NO, NO, NO, NO, 0, 3}, END, DBFORK_EWORKERLOST, YES, DBFORK__FATE_RESULT_LOST},
  {"finished after its COMMIT, result lost: outcome unknown",
   {YES, NO, YES, NO, NO, 0, 3}, END, DBFORK_ECOMMITUNKNOWN, YES, DBFORK__FATE_RESULT_LOST_COMMIT},
  {"finished counts as finished even while the pool stops",
   {YES, NO, NO, NO, YES, 0, 3}, END, DBFORK_EWORKERLOST, YES, DBFORK__FATE_RESULT_LOST},
  {"pool stopping, never started: cancelled, no attempt",
   {NO, NO, NO, NO, YES, 0, 3}, END, DBFORK_ECANCELED, NO, DBFORK__FATE_CANCELLED},
  {"pool stopping, running: cancelled, the attempt counts",
   {NO, YES, NO, NO, YES, 0, 3}, END, DBFORK_ECANCELED, YES, DBFORK__FATE_CANCELLED},
  {"pool stopping, running in its COMMIT: outcome unknown",
   {NO, YES, YES, NO, YES, 0, 3}, END, DBFORK_ECOMMITUNKNOWN, YES, DBFORK__FATE_COMMIT_IN_FLIGHT},
};
/* clang-format on */

TEST(dead_workers_tasks_meet_the_fate_of_the_table) {
  size_t i;
  for (i = 0; i < sizeof fates / sizeof fates[0]; i++) {
    const fate_row *r = &fates[i];
    dbfork__fate f = dbfork__task_fate(&r->in);
    if (f.action != r->action || (r->action == END && f.code != r->code) ||
        f.attempt != r->attempt || f.why != r->why)
      FAIL("row %zu (%s): got action %d code %s attempt %d why %d", i, r->what, f.action,
           dbfork_err_name(f.code), f.attempt, f.why);
  }
}

typedef struct attempt_row {
  const char *what;
  dbfork__attempt_in
      in; /* code, lost, retryable, transaction, in_commit, attempts, max, stopping */
  int action, code, rollback;
} attempt_row;

#define FAIL_ DBFORK__ATTEMPT_FAIL
#define RETRY DBFORK__ATTEMPT_RETRY
#define RECON DBFORK__ATTEMPT_RECONNECT_RETRY
#define ESQL DBFORK_ESQL

/* clang-format off */
static const attempt_row attempts[] = {
  {"deadlock in a transaction: rolled back, retried",
   {ESQL, NO, YES, YES, NO, 1, 4, NO}, RETRY, 0, YES},
  {"deadlock in a transaction, bound reached: retries exhausted",
   {ESQL, NO, YES, YES, NO, 4, 4, NO}, FAIL_, DBFORK_ERETRIES, YES},
  {"deadlock in a transaction, worker stopping: no more retries",
   {ESQL, NO, YES, YES, NO, 1, 4, YES}, FAIL_, DBFORK_ERETRIES, YES},
  {"deadlock without transaction=1: not retried (statements before it committed)",
   {ESQL, NO, YES, NO, NO, 1, 4, NO}, FAIL_, DBFORK_ESQL, NO},
  {"connection lost in a transaction: reconnect and retry",
   {ESQL, YES, NO, YES, NO, 1, 4, NO}, RECON, 0, NO},
  {"connection lost in a transaction, bound reached",
   {ESQL, YES, NO, YES, NO, 4, 4, NO}, FAIL_, DBFORK_ERETRIES, NO},
  {"connection lost during the pool's COMMIT: outcome unknown",
   {ESQL, YES, NO, YES, YES, 1, 4, NO}, FAIL_, DBFORK_ECOMMITUNKNOWN, NO},
  {"connection lost without transaction=1: not retried",
   {ESQL, YES, NO, NO, NO, 1, 4, NO}, FAIL_, DBFORK_ECONNLOST, NO},
  {"other SQL error in a transaction: rolled back, not retried",
   {ESQL, NO, NO, YES, NO, 1, 4, NO}, FAIL_, DBFORK_ESQL, YES},
  {"other SQL error without transaction=1",
   {ESQL, NO, NO, NO, NO, 1, 4, NO}, FAIL_, DBFORK_ESQL, NO},
  {"the task's own failure in a transaction: rolled back, unchanged",
   {DBFORK_ETASK, NO, NO, YES, NO, 1, 4, NO}, FAIL_, DBFORK_ETASK, YES},
  {"retries off: a deadlock fails at once",
   {ESQL, NO, YES, YES, NO, 1, 1, NO}, FAIL_, DBFORK_ERETRIES, YES},
};
/* clang-format on */

TEST(failed_attempts_are_retried_or_failed_as_the_table_says) {
  size_t i;
  for (i = 0; i < sizeof attempts / sizeof attempts[0]; i++) {
    const attempt_row *r = &attempts[i];
    dbfork__attempt a = dbfork__attempt_decide(&r->in);
    if (a.action != r->action || (r->action == FAIL_ && a.code != r->code) ||
        a.rollback != r->rollback)
      FAIL("row %zu (%s): got action %d code %s rollback %d", i, r->what, a.action,
           dbfork_err_name(a.code), a.rollback);
  }
}
