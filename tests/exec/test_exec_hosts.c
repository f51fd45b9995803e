/*
 * test_exec_hosts.c — one `dbfork exec` job shared by several processes
 * (--job NAME), each standing in for a host: one plan cut by all of them,
 * claims that skip the chunks another process holds, a process SIGKILLed
 * mid-run whose chunks the others finish, a late joiner, and a joiner with
 * other statements refused. The statement is not idempotent (SET n = n + 1):
 * every row must end with n = 1 exactly, and every chunk of the shared
 * plan must have exactly one progress row.
 *
 * The processes connect over TCP to 127.0.0.1, as remote hosts do (the
 * harness's server listens on a port of its own, tests/server.sh), and the
 * tests check in the processlist that their sessions do.
 */
#include "exectest.h"

#define ROWS 200000
/* 1000 keys a chunk at 20 us a row: about 20 ms a chunk, 200 chunks */
#define SLOW "UPDATE t SET n = n + 1 WHERE {chunk} AND SLEEP(0.00002) = 0"

static void check_exact(et_env *e) {
  CHECK_EQ_INT(tu_query_ll(e->m, "SELECT COUNT(*) FROM t WHERE n = 1"), ROWS);
  CHECK_EQ_INT(tu_query_ll(e->m, "SELECT COUNT(*) FROM t WHERE n <> 1"), 0);
  /* one progress row per chunk of the plan, and the chunks cover the table */
  CHECK_EQ_INT(tu_query_ll(e->m, "SELECT COUNT(*) FROM dbfork_exec_progress"),
               tu_query_ll(e->m, "SELECT COUNT(*) FROM dbfork_exec_plan"));
  CHECK_EQ_INT(tu_query_ll(e->m, "SELECT SUM(rows_affected) FROM dbfork_exec_progress"), ROWS);
  CHECK_EQ_INT(tu_query_ll(e->m,
                           "SELECT COUNT(*) FROM dbfork_exec_job WHERE completed_at IS NOT "
                           "NULL"),
               1);
}

/* `dbfork job args...` to completion. */
static void job_cmd(et_run *r, et_env *e, ...) {
  et_proc p;
  va_list ap;
  va_start(ap, e);
  et_vstart(&p, e, "job", ap);
  va_end(ap);
  et_wait(&p, e, r, 60000);
}

static void start_share(et_proc *p, et_env *e, const char *job) {
  et_start(p, e, "-w2", "--table", "t", "--job", job, "--chunk-rows", "1000", "--json", SLOW, NULL);
}

TEST(test_exec_job_three_processes_share_one_plan_each_row_once) {
  et_env e;
  et_proc p[3];
  et_run r[3];
  long long sum = 0;
  int i;
  et_setup(&e);
  e.tcp = 1;
  et_counter_table(&e, "t", ROWS);
  for (i = 0; i < 3; i++) start_share(&p[i], &e, "backfill-1");
  for (i = 0; i < 3; i++) {
    et_wait(&p[i], &e, &r[i], 120000);
    CHECK_EXIT(&r[i], 0);
    /* every process did a share, and each reports the job's whole */
    CHECK(et_json_num(r[i].out, "chunks_done") > 0);
    CHECK_EQ_INT(et_json_num(r[i].out, "job_chunks_done"), ROWS / 1000);
    CHECK_EQ_INT(et_json_num(r[i].out, "job_rows_done"), ROWS);
    sum += (long long)et_json_num(r[i].out, "chunks_done");
  }
  check_exact(&e);
  CHECK_EQ_INT(sum, ROWS / 1000); /* no chunk counted by two processes */
  /* the chunks ran in the workers of all three */
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(DISTINCT worker_pid) >= 6 FROM dbfork_exec_progress"),
               1);
  for (i = 0; i < 3; i++) et_run_free(&r[i]);
  /* dbfork job: from anywhere, what the tables say */
  job_cmd(&r[0], &e, "status", "backfill-1", "--json", NULL);
  CHECK_EXIT(&r[0], 0);
  CHECK_CONTAINS(r[0].out, "\"chunks_done\":200,\"rows_done\":200000");
  CHECK_EQ_INT(tu_query_ll(e.m,
                           "SELECT COUNT(*) FROM dbfork_exec_process WHERE ended_at IS NOT "
                           "NULL AND chunks_done > 0"),
               3);
  {
    const char *q = r[0].out;
    int ended = 0;
    while ((q = strstr(q, "\"state\":\"ended\""))) ended++, q++;
    CHECK_EQ_INT(ended, 3);
  }
  et_run_free(&r[0]);
  job_cmd(&r[0], &e, "list", NULL);
  CHECK_EXIT(&r[0], 0);
  CHECK_CONTAINS(r[0].out, "backfill-1");
  CHECK_CONTAINS(r[0].out, "completed");
  et_run_free(&r[0]);
  job_cmd(&r[0], &e, "forget", "backfill-1", NULL);
  CHECK_EXIT(&r[0], 0);
  et_run_free(&r[0]);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM dbfork_exec_plan"), 0);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM dbfork_exec_process"), 0);
  job_cmd(&r[0], &e, "status", "backfill-1", NULL);
  CHECK_EXIT(&r[0], 2);
  CHECK_CONTAINS(r[0].err, "no job 'backfill-1'");
  et_run_free(&r[0]);
  et_teardown(&e);
}

TEST(test_exec_job_one_process_sigkilled_the_others_finish_its_chunks) {
  et_env e;
  et_proc p[3];
  et_run r[2];
  long pids[64];
  int i, n, st;
  et_setup(&e);
  e.tcp = 1;
  et_counter_table(&e, "t", ROWS);
  for (i = 0; i < 3; i++) start_share(&p[i], &e, "backfill-2");
  et_wait_for(e.m, "SELECT COUNT(*) FROM dbfork_exec_progress", 40, 60000, "40 chunks committed");
  n = et_children(p[0].pid, pids, 64);
  CHECK(n >= 1);
  tu_check_tcp_sessions(e.m, "dbfork_exec_process", 3);
  kill(p[0].pid, SIGKILL); /* its workers follow (parent death) and their sessions end */
  waitpid(p[0].pid, &st, 0);
  for (i = 1; i < 3; i++) {
    et_wait(&p[i], &e, &r[i - 1], 120000);
    CHECK_EXIT(&r[i - 1], 0);
    CHECK_EQ_INT(et_json_num(r[i - 1].out, "job_rows_done"), ROWS);
  }
  check_exact(&e);
  for (i = 0; i < 2; i++) et_run_free(&r[i]);
  et_teardown(&e);
}

/* A process frozen mid-run (SIGSTOP on it and its workers: their sessions
 * stay open and hold their locks, as a partitioned host's do): after
 * --dead-after another process KILLs its sessions, the others finish the
 * job, and the frozen one, resumed, exits 2 without writing anything. */
TEST(test_exec_job_frozen_process_sessions_killed_the_others_finish) {
  et_env e;
  et_proc p[3];
  et_run r[3];
  pid_t pids[3];
  int i, v;
  long long t_stop, t_marked;
  double killed = 0;
  et_setup(&e);
  e.tcp = 1;
  et_counter_table(&e, "t", ROWS);
  for (i = 0; i < 3; i++) {
    et_start(&p[i], &e, "-w2", "--table", "t", "--job", "backfill-5", "--dead-after", "3",
             "--chunk-rows", "1000", "--json", SLOW, NULL);
    pids[i] = p[i].pid;
  }
  et_wait_for(e.m, "SELECT COUNT(*) FROM dbfork_exec_progress", 30, 60000, "30 chunks committed");
  tu_check_tcp_sessions(e.m, "dbfork_exec_process", 3);
  /* frozen while it holds a claim: the others cannot end the job before
   * they have taken it for dead */
  v = tu_freeze_holding(e.m, "dbfork_exec_process", pids, 3, 30000);
  t_stop = tu_now_ms() - 300;
  et_wait_for(e.m, "SELECT COUNT(*) FROM dbfork_exec_process WHERE killed_by IS NOT NULL", 1, 30000,
              "the frozen process taken for dead");
  t_marked = tu_now_ms();
  /* --dead-after 3 s, heartbeats every second: well within 3 + 3 s */
  CHECK(t_marked - t_stop < 6000);
  for (i = 0; i < 3; i++) {
    if (i == v) continue;
    et_wait(&p[i], &e, &r[i], 120000);
    CHECK_EXIT(&r[i], 0);
    killed += et_json_num(r[i].out, "processes_killed");
  }
  CHECK_EQ_INT(killed, 1);
  /* none of the frozen process's sessions is left on the server */
  CHECK_EQ_INT(tu_query_ll(e.m,
                           "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE "
                           "FIND_IN_SET(ID, (SELECT sessions FROM dbfork_exec_process WHERE "
                           "killed_by IS NOT NULL))"),
               0);
  check_exact(&e);
  tu_signal_tree(pids[v], SIGCONT);
  et_wait(&p[v], &e, &r[v], 60000);
  CHECK_EXIT(&r[v], 2);
  check_exact(&e); /* resumed, it wrote nothing twice */
  for (i = 0; i < 3; i++) et_run_free(&r[i]);
  et_teardown(&e);
}

TEST(test_exec_job_late_joiner_takes_part) {
  et_env e;
  et_proc first, late;
  et_run r1, r2;
  et_setup(&e);
  e.tcp = 1;
  et_counter_table(&e, "t", ROWS);
  start_share(&first, &e, "backfill-3");
  et_wait_for(e.m, "SELECT COUNT(*) FROM dbfork_exec_progress", ROWS / 1000 / 2, 60000,
              "half of the chunks committed");
  start_share(&late, &e, "backfill-3");
  /* while it runs: status says so, forget is refused */
  job_cmd(&r1, &e, "status", "backfill-3", NULL);
  CHECK_EXIT(&r1, 0);
  CHECK_CONTAINS(r1.out, "running");
  et_run_free(&r1);
  job_cmd(&r1, &e, "forget", "backfill-3", NULL);
  CHECK_EXIT(&r1, 2);
  CHECK_CONTAINS(r1.err, "processes running");
  et_run_free(&r1);
  et_wait(&first, &e, &r1, 120000);
  et_wait(&late, &e, &r2, 120000);
  CHECK_EXIT(&r1, 0);
  CHECK_EXIT(&r2, 0);
  CHECK(et_json_num(r2.out, "chunks_done") > 0);
  CHECK_CONTAINS(r2.out, "\"resumed\":true");
  CHECK_EQ_INT((long long)(et_json_num(r1.out, "chunks_done") + et_json_num(r2.out, "chunks_done")),
               ROWS / 1000);
  check_exact(&e);
  et_run_free(&r1);
  et_run_free(&r2);
  et_teardown(&e);
}

TEST(test_exec_job_joiner_with_other_statements_is_refused_changing_nothing) {
  et_env e;
  et_proc first;
  et_run r1, r2;
  et_setup(&e);
  e.tcp = 1;
  et_counter_table(&e, "t", ROWS);
  start_share(&first, &e, "backfill-4");
  et_wait_for(e.m, "SELECT COUNT(*) FROM dbfork_exec_progress", 10, 60000, "10 chunks committed");
  et_exec(&r2, &e, "-w2", "--table", "t", "--job", "backfill-4",
          "UPDATE t SET n = n + 2 WHERE {chunk}", NULL);
  CHECK_EXIT(&r2, 64);
  CHECK_CONTAINS(r2.err, "job 'backfill-4'");
  CHECK_CONTAINS(r2.err, "the statements");
  CHECK_CONTAINS(r2.err, "SET n = n + 1");
  et_wait(&first, &e, &r1, 120000);
  CHECK_EXIT(&r1, 0);
  check_exact(&e); /* n = 1 everywhere: the refused process changed nothing */
  et_run_free(&r1);
  et_run_free(&r2);
  /* a bad name: the option and the column */
  et_exec(&r2, &e, "--table", "t", "--job", "a b", "UPDATE t SET n = n + 1 WHERE {chunk}", NULL);
  CHECK_EXIT(&r2, 64);
  CHECK_CONTAINS(r2.err, "option --job: 'a b' has ' ' at column 2");
  et_run_free(&r2);
  et_teardown(&e);
}
