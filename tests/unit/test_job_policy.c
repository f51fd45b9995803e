/*
 * test_job_policy.c — the job core's decisions as tables, without processes
 * (src/job/policy.c): what happens to a part after an attempt, by the
 * completion's class and the part's history; the backoff's bounds; the
 * heap numbering of parts and what a committed part covers.
 */
#include "job.h"
#include "testutil.h"

typedef struct row {
  int status;
  unsigned failures, depth;
  int splittable, stopping;
  int action;
} row;

TEST(decision_table_by_class_and_history) {
  static const row t[] = {
      /* committed */
      {0, 0, 0, 1, 0, JOB_DONE},
      {0, 5, 3, 0, 1, JOB_DONE},
      /* cancelled by a stop, or lost while stopping: left for a rerun */
      {DBFORK_ECANCELED, 0, 0, 1, 0, JOB_CANCELLED},
      {DBFORK_EWORKERLOST, 0, 0, 1, 1, JOB_CANCELLED},
      /* what another attempt would repeat fails the job */
      {DBFORK_ESQL, 0, 0, 1, 0, JOB_FAIL},
      {DBFORK_ETASK, 9, 0, 1, 0, JOB_FAIL},
      {DBFORK_EINIT, 0, 0, 1, 0, JOB_FAIL},
      {DBFORK_EPROTO, 0, 0, 1, 0, JOB_FAIL},
      {DBFORK_ESQL, 0, 0, 1, 1, JOB_FAIL},
      /* the first loss of a part: to the back of the queue */
      {DBFORK_EWORKERLOST, 0, 0, 1, 0, JOB_REQUEUE},
      {DBFORK_ECONNLOST, 0, 0, 1, 0, JOB_REQUEUE},
      {DBFORK_ECOMMITUNKNOWN, 0, 0, 1, 0, JOB_REQUEUE},
      {DBFORK_ERETRIES, 0, 0, 1, 0, JOB_REQUEUE},
      {DBFORK_ETIMEDOUT, 0, 0, 1, 0, JOB_REQUEUE},
      {DBFORK_ECONNECT, 0, 0, 1, 0, JOB_REQUEUE},
      /* the second: split, if it can be */
      {DBFORK_EWORKERLOST, 1, 0, 1, 0, JOB_SPLIT},
      {DBFORK_EWORKERLOST, 1, 39, 1, 0, JOB_SPLIT},
      {DBFORK_ECOMMITUNKNOWN, 1, 7, 1, 0, JOB_SPLIT},
      /* one record (or the deepest split): requeued until max_attempts */
      {DBFORK_EWORKERLOST, 1, 0, 0, 0, JOB_REQUEUE},
      {DBFORK_EWORKERLOST, 4, 12, 0, 0, JOB_REQUEUE},
      {DBFORK_EWORKERLOST, 5, 12, 0, 0, JOB_GIVE_UP},
      {DBFORK_EWORKERLOST, 9, 12, 0, 0, JOB_GIVE_UP},
      {DBFORK_EWORKERLOST, 4, JOB_PART_MAX_DEPTH, 1, 0, JOB_REQUEUE},
      {DBFORK_EWORKERLOST, 5, JOB_PART_MAX_DEPTH, 1, 0, JOB_GIVE_UP},
  };
  job_policy p;
  size_t i;
  memset(&p, 0, sizeof p); /* the defaults: split after 2 losses, give up after 6 */
  for (i = 0; i < sizeof t / sizeof t[0]; i++) {
    job_decision d = job_decide(&p, t[i].status, t[i].failures, t[i].depth, t[i].splittable,
                                t[i].stopping, 12345);
    if (d.action != t[i].action)
      FAIL("row %zu (%s, failures %u, depth %u, splittable %d, stopping %d): %s, want %s", i,
           t[i].status ? dbfork_err_name(t[i].status) : "ok", t[i].failures, t[i].depth,
           t[i].splittable, t[i].stopping, job_action_name(d.action), job_action_name(t[i].action));
  }
}

/* A job without a progress table (the loader's no_resume) has no claim to
 * tell whether an attempt whose COMMIT outcome is unknown committed: it
 * fails instead of running the part again; every other class is as above. */
TEST(unknown_commit_fails_the_job_without_claims) {
  job_policy p;
  memset(&p, 0, sizeof p);
  p.unknown_commit_fails = 1;
  CHECK_EQ_INT(job_decide(&p, DBFORK_ECOMMITUNKNOWN, 0, 0, 1, 0, 1).action, JOB_FAIL);
  CHECK_EQ_INT(job_decide(&p, DBFORK_ECOMMITUNKNOWN, 3, 2, 0, 0, 1).action, JOB_FAIL);
  CHECK_EQ_INT(job_decide(&p, DBFORK_ECOMMITUNKNOWN, 0, 0, 1, 1, 1).action, JOB_CANCELLED);
  CHECK_EQ_INT(job_decide(&p, DBFORK_EWORKERLOST, 0, 0, 1, 0, 1).action, JOB_REQUEUE);
  CHECK_EQ_INT(job_decide(&p, 0, 0, 0, 1, 0, 1).action, JOB_DONE);
  p.unknown_commit_fails = 0;
  CHECK_EQ_INT(job_decide(&p, DBFORK_ECOMMITUNKNOWN, 0, 0, 1, 0, 1).action, JOB_REQUEUE);
}

TEST(a_policy_of_its_own_moves_the_thresholds) {
  job_policy p;
  memset(&p, 0, sizeof p);
  p.requeues_before_split = 4;
  p.max_attempts = 2;
  CHECK_EQ_INT(job_decide(&p, DBFORK_EWORKERLOST, 2, 0, 1, 0, 0).action, JOB_REQUEUE);
  CHECK_EQ_INT(job_decide(&p, DBFORK_EWORKERLOST, 3, 0, 1, 0, 0).action, JOB_SPLIT);
  CHECK_EQ_INT(job_decide(&p, DBFORK_EWORKERLOST, 0, 0, 0, 0, 0).action, JOB_REQUEUE);
  CHECK_EQ_INT(job_decide(&p, DBFORK_EWORKERLOST, 1, 0, 0, 0, 0).action, JOB_GIVE_UP);
  p.max_depth = 3;
  CHECK_EQ_INT(job_decide(&p, DBFORK_EWORKERLOST, 3, 3, 1, 0, 0).action, JOB_GIVE_UP);
}

TEST(requeue_delays_grow_with_jitter_and_stay_capped) {
  job_policy p;
  unsigned f, r, prev_max = 0;
  memset(&p, 0, sizeof p);
  p.backoff_ms = 100;
  p.backoff_max_ms = 1000;
  p.max_attempts = 100;
  for (f = 0; f < 10; f++) {
    unsigned lo = ~0u, hi = 0;
    uint64_t base = 100;
    unsigned i;
    for (i = 0; i < f && base < 1000; i++) base *= 2;
    if (base > 1000) base = 1000;
    for (r = 0; r < 5000; r += 7) {
      job_decision d = job_decide(&p, DBFORK_EWORKERLOST, f, 0, 0, 0, r * 2654435761u);
      CHECK_EQ_INT(d.action, JOB_REQUEUE);
      if (d.delay_ms < lo) lo = d.delay_ms;
      if (d.delay_ms > hi) hi = d.delay_ms;
    }
    /* within [base/2, base], and spread over it */
    CHECK(lo >= base / 2);
    CHECK(hi <= base);
    CHECK(hi - lo >= base / 4);
    CHECK(hi >= prev_max);
    prev_max = hi;
  }
  CHECK(prev_max <= 1000);
}

TEST(parts_are_a_heap_and_a_committed_part_covers_its_descendants) {
  uint64_t committed[3];
  CHECK_EQ_INT(job_part_depth(1), 0);
  CHECK_EQ_INT(job_part_depth(2), 1);
  CHECK_EQ_INT(job_part_depth(3), 1);
  CHECK_EQ_INT(job_part_depth(13), 3);
  CHECK_EQ_INT(job_part_depth(1ull << 40), 40);
  CHECK(job_part_covers(1, 1));
  CHECK(job_part_covers(1, 13));
  CHECK(job_part_covers(3, 13)); /* 13 -> 6 -> 3 */
  CHECK(job_part_covers(6, 13));
  CHECK(!job_part_covers(2, 13));
  CHECK(!job_part_covers(7, 13));
  CHECK(!job_part_covers(13, 6));
  CHECK(!job_part_covers(0, 1));
  /* the claim's view of what the chunk has committed */
  CHECK_EQ_INT(job_claim_state(1, NULL, 0), JOB_CLAIM_FREE);
  committed[0] = 2;
  committed[1] = 7;
  CHECK_EQ_INT(job_claim_state(2, committed, 2), JOB_CLAIM_DONE);
  CHECK_EQ_INT(job_claim_state(6, committed, 2), JOB_CLAIM_FREE);     /* sibling of 7 */
  CHECK_EQ_INT(job_claim_state(14, committed, 2), JOB_CLAIM_OVERLAP); /* inside 7 */
  CHECK_EQ_INT(job_claim_state(4, committed, 2), JOB_CLAIM_OVERLAP);  /* inside 2 */
  CHECK_EQ_INT(job_claim_state(1, committed, 2), JOB_CLAIM_OVERLAP);  /* contains both */
  CHECK_EQ_INT(job_claim_state(3, committed, 2), JOB_CLAIM_OVERLAP);  /* contains 7 */
}

TEST(transient_classes_are_the_lost_ones) {
  static const int yes[] = {DBFORK_EWORKERLOST, DBFORK_ECONNLOST, DBFORK_ECOMMITUNKNOWN,
                            DBFORK_ERETRIES,    DBFORK_ETIMEDOUT, DBFORK_ECONNECT};
  static const int no[] = {0,
                           DBFORK_ESQL,
                           DBFORK_ETASK,
                           DBFORK_ECANCELED,
                           DBFORK_EINIT,
                           DBFORK_EPROTO,
                           DBFORK_ENOMEM,
                           DBFORK_EINVAL};
  size_t i;
  for (i = 0; i < sizeof yes / sizeof yes[0]; i++) CHECK(job_status_transient(yes[i]));
  for (i = 0; i < sizeof no / sizeof no[0]; i++) CHECK(!job_status_transient(no[i]));
}
