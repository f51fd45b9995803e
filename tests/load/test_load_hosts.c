/*
 * test_load_hosts.c — one `dbfork load` job shared by several processes
 * (--job NAME), each standing in for a host: every process cuts the same
 * chunks, a worker's claim skips a chunk another process holds, a process
 * SIGKILLed or frozen (SIGSTOP) mid-run leaves its chunks to the others,
 * and a joiner whose file or table differs is refused. The table has no
 * primary key, so a chunk loaded twice would show in the count and the
 * checksum; every chunk of the plan must have exactly one progress row.
 *
 * The processes connect over TCP to 127.0.0.1, as remote hosts do (the
 * harness's server listens on a port of its own, tests/server.sh), and the
 * tests check in the processlist that their sessions do.
 */
#include "loadtest.h"

#include <sys/stat.h>

#define NROWS 120000
#define CHUNK "--chunk-size=32K" /* about 240 chunks */
/* the frozen test's job must outlast a freeze and --dead-after */
#define FROZEN_NROWS (3 * NROWS)

static double json_num(const char *out, const char *key) {
  char pat[64];
  const char *p;
  snprintf(pat, sizeof pat, "\"%s\":", key);
  p = strstr(out, pat);
  return p ? atof(p + strlen(pat)) : -1;
}

static lt_row *setup_file(lt_env *e, lt_sum *want, int nrows) {
  lt_file f;
  lt_row *rows = calloc((size_t)nrows, sizeof *rows);
  lt_setup(e, "orders", 0);
  e->tcp = 1;
  lt_gen(rows, nrows, 1, 77, 0);
  lt_file_init(&f, LT_BACKSLASH, 0);
  lt_put_rows(&f, rows, nrows, 1);
  lt_write_file(e->path, f.p, f.len);
  lt_file_free(&f);
  *want = lt_sum_rows(rows, nrows);
  return rows;
}

/* The table holds the file exactly once; one progress row per plan row. */
static void check_exact(lt_env *e, const lt_sum *want, int nrows) {
  CHECK_SUM(lt_server_sum(e->m, "orders"), *want);
  CHECK_EQ_INT(tu_query_ll(e->m, "SELECT COUNT(*) FROM dbfork_load_progress"),
               tu_query_ll(e->m, "SELECT COUNT(*) FROM dbfork_load_plan"));
  CHECK_EQ_INT(tu_query_ll(e->m, "SELECT COUNT(DISTINCT chunk_no) FROM dbfork_load_progress"),
               tu_query_ll(e->m, "SELECT COUNT(*) FROM dbfork_load_plan"));
  CHECK_EQ_INT(tu_query_ll(e->m, "SELECT SUM(records) FROM dbfork_load_progress"), nrows);
  CHECK_EQ_INT(
      tu_query_ll(e->m, "SELECT COUNT(*) FROM dbfork_load_job WHERE completed_at IS NOT NULL"), 1);
}

/* `dbfork job <conn> -D db args... NULL` to completion. */
static void job_cmd(lt_run *r, lt_env *e, ...) {
  lt_proc p;
  va_list ap;
  char *a;
  int n = 0;
  memset(&p, 0, sizeof p);
  p.argv[n++] = getenv("DBFORK_CLI");
  p.argv[n++] = "job";
  n += tu_cli_conn(p.argv + n, p.pw, sizeof p.pw, e->tcp);
  p.argv[n++] = "-D";
  p.argv[n++] = e->db;
  va_start(ap, e);
  while ((a = va_arg(ap, char *)) && n < LT_MAXARGS - 1) p.argv[n++] = a;
  va_end(ap);
  p.seq = ++lt__seq;
  p.t0 = tu_now_ms();
  p.pid = lt__spawn(e, p.seq, p.argv);
  lt_wait(&p, e, r, 60000);
}

static void start_share(lt_proc *p, lt_env *e, const char *job) {
  lt_start(p, e, e->path, "orders", CHUNK, "-w", "2", "--job", job, "--json", NULL);
}

TEST(test_load_job_three_processes_load_one_file_each_chunk_once) {
  lt_env e;
  lt_sum want;
  lt_row *rows = setup_file(&e, &want, NROWS);
  lt_proc p[3];
  lt_run r[3];
  long long sum = 0, chunks = tu_query_ll(e.m, "SELECT 0");
  int i;
  for (i = 0; i < 3; i++) start_share(&p[i], &e, "orders-1");
  for (i = 0; i < 3; i++) {
    lt_wait(&p[i], &e, &r[i], 120000);
    CHECK_EXIT(&r[i], 0);
    CHECK(json_num(r[i].out, "chunks_loaded") > 0); /* every process did a share */
    CHECK_EQ_INT(json_num(r[i].out, "job_rows_done"), NROWS);
    sum += (long long)json_num(r[i].out, "chunks_loaded");
  }
  chunks = tu_query_ll(e.m, "SELECT COUNT(*) FROM dbfork_load_plan");
  CHECK(chunks > 100);
  CHECK_EQ_INT(sum, chunks); /* no chunk counted by two processes */
  check_exact(&e, &want, NROWS);
  CHECK_EQ_INT(tu_query_ll(e.m,
                           "SELECT COUNT(*) FROM dbfork_load_process WHERE ended_at IS NOT NULL "
                           "AND chunks_done > 0"),
               3);
  for (i = 0; i < 3; i++) lt_run_free(&r[i]);
  /* the same name again: already loaded, nothing twice */
  lt_load(&r[0], &e, e.path, "orders", CHUNK, "--job", "orders-1", "--json", NULL);
  CHECK_EXIT(&r[0], 0);
  CHECK_CONTAINS(r[0].out, "already_loaded");
  lt_run_free(&r[0]);
  check_exact(&e, &want, NROWS);
  /* dbfork job: from anywhere, what the tables say */
  job_cmd(&r[0], &e, "status", "orders-1", "--json", NULL);
  CHECK_EXIT(&r[0], 0);
  CHECK_CONTAINS(r[0].out, "\"kind\":\"load\"");
  CHECK_EQ_INT(json_num(r[0].out, "chunks_done"), chunks);
  CHECK_EQ_INT(json_num(r[0].out, "rows_done"), NROWS);
  {
    struct stat sb;
    CHECK(stat(e.path, &sb) == 0);
    CHECK_EQ_INT(json_num(r[0].out, "bytes_done"), (double)sb.st_size);
  }
  {
    const char *q = r[0].out;
    int ended = 0;
    while ((q = strstr(q, "\"state\":\"ended\""))) ended++, q++;
    CHECK_EQ_INT(ended, 3); /* the rerun that found it loaded left no row */
  }
  lt_run_free(&r[0]);
  job_cmd(&r[0], &e, "list", NULL);
  CHECK_EXIT(&r[0], 0);
  CHECK_CONTAINS(r[0].out, "orders-1");
  CHECK_CONTAINS(r[0].out, "completed");
  lt_run_free(&r[0]);
  job_cmd(&r[0], &e, "forget", "orders-1", "--kind=exec", NULL);
  CHECK_EXIT(&r[0], 2); /* not an exec job */
  lt_run_free(&r[0]);
  job_cmd(&r[0], &e, "forget", "orders-1", NULL);
  CHECK_EXIT(&r[0], 0);
  CHECK_CONTAINS(r[0].out, "load job orders-1 forgotten");
  lt_run_free(&r[0]);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM dbfork_load_plan"), 0);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM dbfork_load_progress"), 0);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM dbfork_load_process"), 0);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM dbfork_load_job"), 0);
  CHECK_SUM(lt_server_sum(e.m, "orders"), want); /* the rows stay */
  job_cmd(&r[0], &e, "status", "orders-1", NULL);
  CHECK_EXIT(&r[0], 2);
  CHECK_CONTAINS(r[0].err, "no job 'orders-1'");
  lt_run_free(&r[0]);
  free(rows);
  lt_teardown(&e);
}

TEST(test_load_job_one_process_sigkilled_the_others_finish_its_chunks) {
  lt_env e;
  lt_sum want;
  lt_row *rows = setup_file(&e, &want, NROWS);
  lt_proc p[3];
  lt_run r[2];
  int i, st;
  for (i = 0; i < 3; i++) start_share(&p[i], &e, "orders-2");
  lt_wait_for(&e, "SELECT COUNT(*) >= 30 FROM dbfork_load_progress", 60000, "30 chunks committed");
  tu_check_tcp_sessions(e.m, "dbfork_load_process", 3);
  kill(p[0].pid, SIGKILL); /* its workers follow (parent death) and their sessions end */
  waitpid(p[0].pid, &st, 0);
  for (i = 1; i < 3; i++) {
    lt_wait(&p[i], &e, &r[i - 1], 120000);
    CHECK_EXIT(&r[i - 1], 0);
    CHECK_EQ_INT(json_num(r[i - 1].out, "job_rows_done"), NROWS);
  }
  check_exact(&e, &want, NROWS);
  for (i = 0; i < 2; i++) lt_run_free(&r[i]);
  free(rows);
  lt_teardown(&e);
}

/* A process frozen mid-run (SIGSTOP on it and its workers: their sessions
 * stay open and hold the plan rows they claimed, as a partitioned host's
 * do): after --dead-after another process KILLs its sessions, the others
 * finish, and the frozen one, resumed, exits 2 having written nothing. */
TEST(test_load_job_frozen_process_sessions_killed_the_others_finish) {
  lt_env e;
  lt_sum want;
  lt_row *rows = setup_file(&e, &want, FROZEN_NROWS);
  lt_proc p[3];
  lt_run r[3];
  pid_t pids[3];
  int i, v;
  long long t_stop, t_marked;
  double killed = 0;
  for (i = 0; i < 3; i++) {
    lt_start(&p[i], &e, e.path, "orders", CHUNK, "-w", "2", "--job", "orders-3", "--dead-after",
             "3", "--json", NULL);
    pids[i] = p[i].pid;
  }
  lt_wait_for(&e, "SELECT COUNT(*) >= 20 FROM dbfork_load_progress", 60000, "20 chunks committed");
  tu_check_tcp_sessions(e.m, "dbfork_load_process", 3);
  /* frozen while it holds a claim: the others cannot end the job before
   * they have taken it for dead */
  v = tu_freeze_holding(e.m, "dbfork_load_process", pids, 3, 30000);
  t_stop = tu_now_ms() - 300;
  lt_wait_for(&e, "SELECT COUNT(*) FROM dbfork_load_process WHERE killed_by IS NOT NULL", 30000,
              "the frozen process taken for dead");
  t_marked = tu_now_ms();
  CHECK(t_marked - t_stop < 6000); /* --dead-after 3 s, heartbeats every second */
  for (i = 0; i < 3; i++) {
    if (i == v) continue;
    lt_wait(&p[i], &e, &r[i], 120000);
    CHECK_EXIT(&r[i], 0);
    killed += json_num(r[i].out, "processes_killed");
  }
  CHECK_EQ_INT(killed, 1);
  CHECK_EQ_INT(tu_query_ll(e.m,
                           "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE "
                           "FIND_IN_SET(ID, (SELECT sessions FROM dbfork_load_process WHERE "
                           "killed_by IS NOT NULL))"),
               0);
  check_exact(&e, &want, FROZEN_NROWS);
  tu_signal_tree(pids[v], SIGCONT);
  lt_wait(&p[v], &e, &r[v], 60000);
  CHECK_EXIT(&r[v], 2);
  check_exact(&e, &want, FROZEN_NROWS); /* resumed, it wrote nothing twice */
  for (i = 0; i < 3; i++) lt_run_free(&r[i]);
  free(rows);
  lt_teardown(&e);
}

TEST(test_load_job_late_joiner_takes_part_and_other_inputs_are_refused) {
  lt_env e;
  lt_sum want;
  lt_row *rows = setup_file(&e, &want, NROWS);
  lt_proc first, late;
  lt_run r1, r2, bad;
  char other[256];
  start_share(&first, &e, "orders-4");
  lt_wait_for(&e, "SELECT COUNT(*) >= 60 FROM dbfork_load_progress", 60000, "60 chunks committed");
  start_share(&late, &e, "orders-4");
  /* a joiner with another file (one byte more) is refused, changing nothing */
  snprintf(other, sizeof other, "%s/other.csv", e.dir);
  CHECK_EQ_INT(lt_sh("cp '%s' '%s' && printf '9,9,9.00,2024-01-01 00:00:00,x\\n' >> '%s'", e.path,
                     other, other),
               0);
  lt_load(&bad, &e, other, "orders", CHUNK, "--job", "orders-4", NULL);
  CHECK_EXIT(&bad, 64);
  CHECK_CONTAINS(bad.err, "the same file");
  lt_run_free(&bad);
  /* and one with other options */
  lt_load(&bad, &e, e.path, "orders", CHUNK, "--job", "orders-4", "--skip-lines", "1", NULL);
  CHECK_EXIT(&bad, 64);
  CHECK_CONTAINS(bad.err, "other options");
  lt_run_free(&bad);
  lt_wait(&first, &e, &r1, 120000);
  lt_wait(&late, &e, &r2, 120000);
  CHECK_EXIT(&r1, 0);
  CHECK_EXIT(&r2, 0);
  CHECK(json_num(r2.out, "chunks_loaded") > 0);
  CHECK_EQ_INT((long long)(json_num(r1.out, "chunks_loaded") + json_num(r2.out, "chunks_loaded")),
               tu_query_ll(e.m, "SELECT COUNT(*) FROM dbfork_load_plan"));
  check_exact(&e, &want, NROWS);
  lt_run_free(&r1);
  lt_run_free(&r2);
  free(rows);
  lt_teardown(&e);
}
