/*
 * policy.c — what happens to a part of a job after an attempt ended: a pure
 * function of the completion's class and the part's history, so that the
 * whole policy is one table test (tests/unit/test_job_policy.c) and no
 * process is needed to see what it does.
 *
 * The pool has already retried a lost worker's task max_retries times
 * before the job sees the loss; what the job adds is patience at the level
 * of the whole file: a part that loses its worker goes to the back of the
 * queue with a growing delay (other parts load meanwhile), one that keeps
 * losing it is split, so that whatever kills the worker (a record that
 * crashes a parser or a trigger, a chunk too big for a memory limit) ends
 * up cornered in a small part, and only a part that cannot be split further
 * is given up, while the job goes on with the rest.
 */
#include "job.h"

void job_policy_defaults(job_policy *p) {
  if (!p->requeues_before_split) p->requeues_before_split = 2;
  if (!p->max_attempts) p->max_attempts = 6;
  if (!p->max_depth || p->max_depth > JOB_PART_MAX_DEPTH) p->max_depth = JOB_PART_MAX_DEPTH;
  if (!p->backoff_ms) p->backoff_ms = 50;
  if (!p->backoff_max_ms) p->backoff_max_ms = 2000;
}

int job_status_transient(int status) {
  switch (status) {
    case DBFORK_EWORKERLOST:
    case DBFORK_ECONNLOST:
    case DBFORK_ECOMMITUNKNOWN:
    case DBFORK_ERETRIES:
    case DBFORK_ETIMEDOUT:
    case DBFORK_ECONNECT: return 1;
    default: return 0;
  }
}

/* Exponential in the attempts, capped, with jitter in its upper half so
 * that parts lost together do not come back together. */
static unsigned backoff(const job_policy *p, unsigned attempt, unsigned rnd) {
  uint64_t d = p->backoff_ms;
  unsigned i;
  for (i = 1; i < attempt && d < p->backoff_max_ms; i++) d *= 2;
  if (d > p->backoff_max_ms) d = p->backoff_max_ms;
  return (unsigned)(d / 2 + rnd % (d / 2 + 1));
}

job_decision job_decide(const job_policy *pin, int status, unsigned failures, unsigned depth,
                        int splittable, int stopping, unsigned rnd) {
  job_policy p = *pin;
  job_decision d = {JOB_FAIL, 0};
  unsigned attempt = failures + 1; /* this one included */
  job_policy_defaults(&p);
  if (status == 0) {
    d.action = JOB_DONE;
  } else if (status == DBFORK_ECANCELED || (stopping && job_status_transient(status))) {
    d.action = JOB_CANCELLED;
  } else if (!job_status_transient(status) ||
             (status == DBFORK_ECOMMITUNKNOWN && p.unknown_commit_fails)) {
    d.action = JOB_FAIL;
  } else if (splittable && depth < p.max_depth && attempt >= p.requeues_before_split) {
    d.action = JOB_SPLIT;
    d.delay_ms = backoff(&p, 1, rnd);
  } else if ((!splittable || depth >= p.max_depth) && attempt >= p.max_attempts) {
    d.action = JOB_GIVE_UP;
  } else {
    d.action = JOB_REQUEUE;
    d.delay_ms = backoff(&p, attempt, rnd);
  }
  return d;
}

const char *job_action_name(int action) {
  switch (action) {
    case JOB_DONE: return "done";
    case JOB_REQUEUE: return "requeue";
    case JOB_SPLIT: return "split";
    case JOB_GIVE_UP: return "give up";
    case JOB_FAIL: return "fail";
    case JOB_CANCELLED: return "cancelled";
    default: return "?";
  }
}

int job_claim_state(uint64_t part, const uint64_t *committed, size_t n) {
  size_t i;
  int st = JOB_CLAIM_FREE;
  for (i = 0; i < n; i++) {
    if (committed[i] == part) return JOB_CLAIM_DONE;
    if (job_part_covers(committed[i], part) || job_part_covers(part, committed[i]))
      st = JOB_CLAIM_OVERLAP;
  }
  return st;
}
