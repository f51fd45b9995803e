/*
 * fate.c — the decisions about a task (fate.h): pure functions, the one
 * place the retry policy lives. docs/errors.md's retry table is checked
 * against them (tests/hardening/check_docs.sh).
 */
#include "fate.h"

#include "dbfork.h"

dbfork__attempt dbfork__attempt_decide(const dbfork__attempt_in *in) {
  dbfork__attempt a = {DBFORK__ATTEMPT_FAIL, in->code, 0};
  int out_of_attempts = in->attempts >= in->max_attempts || in->stopping;
  if (in->code == DBFORK_ESQL && in->lost) {
    /* COMMIT went out and its answer did not come back: the transaction may
     * have committed, and a rerun could apply it twice. */
    if (in->in_commit) {
      a.code = DBFORK_ECOMMITUNKNOWN;
      return a;
    }
    /* Without a transaction, statements before the loss may have applied. */
    if (!in->transaction) {
      a.code = DBFORK_ECONNLOST;
      return a;
    }
    /* In a transaction the server rolled everything back: safe to run again
     * on a new session. */
    if (out_of_attempts) {
      a.code = DBFORK_ERETRIES;
      return a;
    }
    a.action = DBFORK__ATTEMPT_RECONNECT_RETRY;
    return a;
  }
  /* However else it failed, what it did in the transaction must go: left
   * open, it would be committed by the next task's START TRANSACTION. */
  a.rollback = in->transaction;
  /* Deadlocks and lock wait timeouts are retried only when the pool owns the
   * transaction: without transaction=1 the statements before the failing
   * one have already committed, and a rerun would apply them twice. */
  if (in->code != DBFORK_ESQL || !in->transaction || !in->retryable) return a;
  if (out_of_attempts) {
    a.code = DBFORK_ERETRIES;
    return a;
  }
  a.action = DBFORK__ATTEMPT_RETRY;
  return a;
}

dbfork__fate dbfork__task_fate(const dbfork__fate_in *in) {
  dbfork__fate f = {DBFORK__FATE_COMPLETE, 0, 0, 0};
  if (in->finished) {
    /* It ran to its end; only its result is gone. Running it again would
     * apply it twice. */
    f.attempt = 1;
    f.code = in->committing ? DBFORK_ECOMMITUNKNOWN : DBFORK_EWORKERLOST;
    f.why = in->committing ? DBFORK__FATE_RESULT_LOST_COMMIT : DBFORK__FATE_RESULT_LOST;
    return f;
  }
  if (in->stopping) {
    f.attempt = in->running;
    f.code = in->running && in->committing ? DBFORK_ECOMMITUNKNOWN : DBFORK_ECANCELED;
    f.why = in->running && in->committing ? DBFORK__FATE_COMMIT_IN_FLIGHT : DBFORK__FATE_CANCELLED;
    return f;
  }
  if (!in->running) {
    f.action = DBFORK__FATE_REQUEUE;
    f.why = DBFORK__FATE_NOT_STARTED;
    return f;
  }
  f.attempt = 1;
  if (in->hard_killed) {
    f.code = DBFORK_ETIMEDOUT;
    f.why = DBFORK__FATE_HARD_LIMIT;
  } else if (in->committing) {
    /* It died between sending COMMIT and reporting: it may have committed
     * (invariant 5: never blindly retried). */
    f.code = DBFORK_ECOMMITUNKNOWN;
    f.why = DBFORK__FATE_COMMIT_IN_FLIGHT;
  } else if (in->attempts + 1 > in->max_retries) {
    f.code = DBFORK_EWORKERLOST;
    f.why = DBFORK__FATE_WORKER_LOST;
  } else {
    f.action = DBFORK__FATE_REQUEUE;
    f.why = DBFORK__FATE_RETRY;
  }
  return f;
}
