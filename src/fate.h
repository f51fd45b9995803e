/*
 * fate.h — the decisions about a task, as pure functions over plain values:
 * what the worker does after a failed attempt (retry, reconnect and retry,
 * or fail with which class), and what the parent does with each task a
 * worker held when it exited (complete it with which class, or put it back
 * in the queue). No I/O, no allocation, no globals: worker.c and
 * supervise.c act on the answers; tests/unit/test_fate.c checks them as
 * tables; tests/hardening/errors_dump.c prints docs/errors.md's retry table
 * from them, so the table cannot say what the code does not do.
 */
#ifndef DBFORK_FATE_H
#define DBFORK_FATE_H

/* ---- in the worker: after an attempt of a task failed ---- */
typedef struct dbfork__attempt_in {
  int code;                  /* the failure's class (negative DBFORK_E*) */
  int lost;                  /* DBFORK_ESQL, and the error means the connection is gone */
  int retryable;             /* DBFORK_ESQL with deadlock 1213 or lock wait timeout 1205 */
  int transaction;           /* the pool wraps the task in a transaction (transaction=1) */
  int in_commit;             /* the failure came from the pool's own COMMIT */
  unsigned int attempts;     /* attempts made so far, this one included */
  unsigned int max_attempts; /* max_retries + 1 */
  int stopping;              /* the worker was asked to stop */
} dbfork__attempt_in;

enum {
  DBFORK__ATTEMPT_FAIL,           /* the task fails with .code */
  DBFORK__ATTEMPT_RETRY,          /* back off (jittered), then run it again */
  DBFORK__ATTEMPT_RECONNECT_RETRY /* open a new session, then run it again */
};

typedef struct dbfork__attempt {
  int action;   /* DBFORK__ATTEMPT_* */
  int code;     /* FAIL: the completion's class */
  int rollback; /* ROLLBACK the task's transaction first (its session is alive) */
} dbfork__attempt;

dbfork__attempt dbfork__attempt_decide(const dbfork__attempt_in *in);

/* ---- in the parent: a task held by a worker that exited ---- */
typedef struct dbfork__fate_in {
  int finished;          /* the worker had finished it: its reply died with the worker */
  int running;           /* the worker was running it and died without saying goodbye */
  int committing;        /* the worker had announced the pool's COMMIT for it */
  int hard_killed;       /* the pool SIGKILLed the worker for the task's hard time limit */
  int stopping;          /* the pool is terminating */
  unsigned int attempts; /* attempts made before this worker's */
  unsigned int max_retries;
} dbfork__fate_in;

enum {
  DBFORK__FATE_REQUEUE, /* back to the front of the queue */
  DBFORK__FATE_COMPLETE /* completes with .code */
};

/* Why, for the completion's message. */
enum {
  DBFORK__FATE_NOT_STARTED,        /* requeued: the worker never started it */
  DBFORK__FATE_RETRY,              /* requeued: it was running; attempts remain */
  DBFORK__FATE_RESULT_LOST,        /* finished, its result died with the worker */
  DBFORK__FATE_RESULT_LOST_COMMIT, /* finished after its COMMIT, result lost */
  DBFORK__FATE_CANCELLED,          /* the pool is terminating */
  DBFORK__FATE_HARD_LIMIT,         /* killed for the hard time limit */
  DBFORK__FATE_COMMIT_IN_FLIGHT,   /* died while its COMMIT was in flight */
  DBFORK__FATE_WORKER_LOST         /* died running it, max_retries used up */
};

typedef struct dbfork__fate {
  int action;  /* DBFORK__FATE_* */
  int code;    /* COMPLETE: the completion's class */
  int attempt; /* 1: this worker's try counts as an attempt */
  int why;     /* DBFORK__FATE_NOT_STARTED .. */
} dbfork__fate;

dbfork__fate dbfork__task_fate(const dbfork__fate_in *in);

#endif
