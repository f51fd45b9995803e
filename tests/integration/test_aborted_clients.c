/*
 * Every clean exit path closes the workers' sessions properly: the server's
 * Aborted_clients counter (a session that ended without COM_QUIT) does not
 * move, and no session is left behind. Aborted_clients is global: these tests
 * hold the ctest RESOURCE_LOCK "aborted_clients" (see CMakeLists.txt), and
 * every connection a test opens itself is closed with mysql_close().
 */
#include "itest.h"

#include <poll.h>
#include <sys/prctl.h>

/* A finalizer that records, through the worker's own connection, that this
 * worker ran its finalizers. Per worker process: each has its own copy. */
static struct { const char *table; } fin;

static int record_exit(dbfork_worker *w, void *arg) {
  (void)arg;
  char sql[256];
  snprintf(sql, sizeof sql, "INSERT INTO %s (pid, conn) VALUES (%ld, %lu)", fin.table,
           (long)getpid(), dbfork_worker_connection_id(w));
  (void)mysql_query(dbfork_worker_mysql(w), sql);
  return 0;
}

static int init_record_exit(dbfork_worker *w, void *arg) {
  fin.table = arg;
  return dbfork_worker_atexit(w, record_exit, NULL, 0);
}

static void make_exit_table(MYSQL *mon, const char *table) {
  tu_exec(mon, "DROP TABLE IF EXISTS %s", table);
  tu_exec(mon,
          "CREATE TABLE %s (id INT AUTO_INCREMENT PRIMARY KEY, pid BIGINT NOT NULL, "
          "conn BIGINT UNSIGNED NOT NULL)",
          table);
}

static int stats_ids(dbfork_pool *p, unsigned long *ids, long *pids, int max) {
  dbfork_worker_stats ws[16];
  int n = dbfork_pool_stats_get(p, NULL, ws, 16);
  CHECK(n > 0 && n <= max);
  for (int i = 0; i < n; i++) {
    ids[i] = ws[i].connection_id;
    pids[i] = ws[i].pid;
  }
  return n;
}

TEST(aborted_clients_unchanged_after_close_join) {
  MYSQL *mon = tu_connect();
  long long ac0 = tu_status(mon, "Aborted_clients");
  dbfork_options o;
  it_options(&o, "dbf_ac_close", 2);
  dbfork_pool *pool = NULL;
  CHECK_OK(dbfork_pool_new(&pool, &o));
  CHECK_OK(dbfork_pool_start(pool));
  unsigned long ids[2];
  long pids[2];
  CHECK_EQ_INT(stats_ids(pool, ids, pids, 2), 2);
  enum { N = 50 };
  it_track t[N];
  memset(t, 0, sizeof t);
  for (int i = 0; i < N; i++) CHECK_OK(it_submit_sql(pool, "SELECT SLEEP(0.001)", &t[i]));
  CHECK_OK(dbfork_pool_close(pool));
  CHECK_OK(dbfork_pool_join(pool));
  for (int i = 0; i < N; i++) {
    CHECK_EQ_INT(t[i].calls, 1);
    CHECK_EQ_INT(t[i].status, 0);
  }
  dbfork_pool_free(pool);
  CHECK_EQ_INT(it_wait_ids_gone(mon, ids, 2, 2000), 0);
  CHECK_EQ_INT(tu_pids_alive(pids, 2), 0);
  CHECK_EQ_INT(tu_status(mon, "Aborted_clients"), ac0);
  mysql_close(mon);
}

TEST(aborted_clients_unchanged_after_terminate) {
  MYSQL *mon = tu_connect();
  long long ac0 = tu_status(mon, "Aborted_clients");
  dbfork_options o;
  it_options(&o, "dbf_ac_term", 2);
  dbfork_pool *pool = NULL;
  CHECK_OK(dbfork_pool_new(&pool, &o));
  CHECK_OK(dbfork_pool_start(pool));
  unsigned long ids[2];
  long pids[2];
  CHECK_EQ_INT(stats_ids(pool, ids, pids, 2), 2);
  /* Statements in flight in both workers, more queued behind them. */
  enum { N = 20 };
  it_track t[N];
  memset(t, 0, sizeof t);
  for (int i = 0; i < N; i++) CHECK_OK(it_submit_sql(pool, "SELECT SLEEP(0.3)", &t[i]));
  long long end = tu_now_ms() + 5000;
  while (tu_query_ll(mon,
                     "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID IN (%lu,%lu) "
                     "AND INFO LIKE 'SELECT SLEEP%%'",
                     ids[0], ids[1]) < 2 &&
         tu_now_ms() < end)
    it_drive(pool, 10);
  long long t0 = tu_now_ms();
  CHECK_OK(dbfork_pool_terminate(pool));
  fprintf(stderr, "terminate took %llu ms\n", (unsigned long long)(tu_now_ms() - t0));
  int ok = 0, cancelled = 0;
  for (int i = 0; i < N; i++) {
    CHECK_EQ_INT(t[i].calls, 1);
    if (t[i].status == 0) ok++;
    if (t[i].status == DBFORK_ECANCELED) cancelled++;
  }
  fprintf(stderr, "%d ok, %d cancelled of %d\n", ok, cancelled, N);
  dbfork_pool_free(pool);
  CHECK_EQ_INT(it_wait_ids_gone(mon, ids, 2, 2000), 0);
  CHECK_EQ_INT(tu_pids_alive(pids, 2), 0);
  CHECK_EQ_INT(tu_status(mon, "Aborted_clients"), ac0);
  mysql_close(mon);
}

/* SIGTERM to one worker is a clean exit of that worker: it runs its
 * finalizers (which still reach the server), closes its session with
 * COM_QUIT, is not counted as lost, and the pool keeps completing tasks. The
 * header does not say whether the slot is refilled, so that is not asserted. */
TEST(aborted_clients_unchanged_after_sigterm_to_one_worker) {
  const char *table = "t_ac_sigterm";
  MYSQL *mon = tu_connect();
  make_exit_table(mon, table);
  long long ac0 = tu_status(mon, "Aborted_clients");
  dbfork_options o;
  it_options(&o, "dbf_ac_sigterm", 2);
  o.init = init_record_exit;
  o.init_arg = (void *)table;
  dbfork_pool *pool = NULL;
  CHECK_OK(dbfork_pool_new(&pool, &o));
  CHECK_OK(dbfork_pool_start(pool));
  unsigned long ids[2];
  long pids[2];
  CHECK_EQ_INT(stats_ids(pool, ids, pids, 2), 2);

  CHECK_OK(kill((pid_t)pids[0], SIGTERM));
  long long t0 = tu_now_ms(), end = t0 + 3000;
  while ((tu_pids_alive(&pids[0], 1) != 0 || it_ids_present(mon, &ids[0], 1) != 0) &&
         tu_now_ms() < end)
    it_drive(pool, 20);
  fprintf(stderr, "worker %ld gone after %llu ms\n", pids[0],
          (unsigned long long)(tu_now_ms() - t0));
  CHECK_EQ_INT(tu_pids_alive(&pids[0], 1), 0);
  CHECK_EQ_INT(it_ids_present(mon, &ids[0], 1), 0);
  /* Its finalizer ran and wrote through its connection. */
  CHECK_EQ_INT(tu_query_ll(mon, "SELECT COUNT(*) FROM %s WHERE pid=%ld AND conn=%lu", table,
                           pids[0], ids[0]),
               1);

  /* The pool goes on: every task completes ok. */
  enum { N = 40 };
  it_track t[N];
  memset(t, 0, sizeof t);
  for (int i = 0; i < N; i++) CHECK_OK(it_submit_sql(pool, "SELECT CONNECTION_ID()", &t[i]));
  end = tu_now_ms() + 10000;
  int done;
  do {
    it_drive(pool, 5);
    done = 0;
    for (int i = 0; i < N; i++) done += t[i].calls;
  } while (done < N && tu_now_ms() < end);
  for (int i = 0; i < N; i++) {
    if (t[i].calls != 1 || t[i].status != 0) it_track_print("task after SIGTERM", &t[i]);
    CHECK_EQ_INT(t[i].calls, 1);
    CHECK_EQ_INT(t[i].status, 0);
    CHECK(t[i].pid != pids[0]);
  }

  /* Every session the pool has now (the survivor, a replacement if any). */
  unsigned long ids2[2];
  long pids2[2];
  dbfork_pool_stats ps;
  CHECK_EQ_INT(stats_ids(pool, ids2, pids2, 2), 2);
  CHECK_EQ_INT(dbfork_pool_stats_get(pool, &ps, NULL, 0), 2);
  fprintf(stderr, "after SIGTERM: slot 0 pid %ld conn %lu; workers_started %llu lost %llu\n",
          pids2[0], ids2[0], (unsigned long long)ps.workers_started,
          (unsigned long long)ps.workers_lost);
  CHECK_EQ_INT(ps.workers_lost, 0);

  CHECK_OK(dbfork_pool_join(pool));
  dbfork_pool_free(pool);
  CHECK_EQ_INT(it_wait_ids_gone(mon, ids2, 2, 2000), 0);
  CHECK_EQ_INT(tu_status(mon, "Aborted_clients"), ac0);
  mysql_close(mon);
}

/* What the child that owns the pool reports to the test. */
typedef struct sigkill_report {
  int rc;
  long pids[2];
  unsigned long ids[2];
  char err[256];
} sigkill_report;

static void sigkill_child(int wfd, const char *table) {
  sigkill_report rep;
  memset(&rep, 0, sizeof rep);
  dbfork_options o;
  it_options(&o, "dbf_ac_sigkill", 2);
  o.init = init_record_exit;
  o.init_arg = (void *)table;
  dbfork_pool *pool = NULL;
  rep.rc = dbfork_pool_new(&pool, &o);
  if (rep.rc == 0) rep.rc = dbfork_pool_start(pool);
  if (rep.rc == 0) {
    dbfork_worker_stats ws[2];
    if (dbfork_pool_stats_get(pool, NULL, ws, 2) != 2) rep.rc = -1;
    for (int i = 0; i < 2; i++) {
      rep.pids[i] = ws[i].pid;
      rep.ids[i] = ws[i].connection_id;
    }
  } else {
    snprintf(rep.err, sizeof rep.err, "%s: %s", dbfork_err_name(rep.rc),
             pool ? dbfork_pool_last_error(pool) : "");
  }
  if (write(wfd, &rep, sizeof rep) != (ssize_t)sizeof rep) _exit(3);
  for (;;) pause(); /* until the test SIGKILLs this process */
}

TEST(parent_sigkill_workers_exit) {
  const char *table = "t_ac_sigkill";
  MYSQL *mon = tu_connect();
  make_exit_table(mon, table);
  long long ac0 = tu_status(mon, "Aborted_clients");
  /* The workers outlive their parent; as subreaper this test inherits them
   * and can reap them, so an exited worker does not linger as a zombie. */
  CHECK_OK(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0));

  int fds[2];
  CHECK_OK(pipe(fds));
  pid_t child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    close(fds[0]);
    sigkill_child(fds[1], table);
    _exit(0);
  }
  close(fds[1]);
  sigkill_report rep;
  struct pollfd pfd = {fds[0], POLLIN, 0};
  memset(&rep, 0, sizeof rep);
  rep.rc = -1;
  if (poll(&pfd, 1, 30000) != 1 || read(fds[0], &rep, sizeof rep) != (ssize_t)sizeof rep ||
      rep.rc != 0) {
    fprintf(stderr, "the child's pool did not report a start: %d %s\n", rep.rc, rep.err);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    CHECK(0);
  }
  close(fds[0]);
  fprintf(stderr, "workers %ld (conn %lu), %ld (conn %lu)\n", rep.pids[0], rep.ids[0], rep.pids[1],
          rep.ids[1]);
  CHECK(rep.pids[0] > 0 && rep.pids[1] > 0);
  CHECK_EQ_INT(it_ids_present(mon, rep.ids, 2), 2);

  CHECK_OK(kill(child, SIGKILL));
  int st;
  CHECK_EQ_INT(waitpid(child, &st, 0), child);
  long long t0 = tu_now_ms();
  while (tu_now_ms() - t0 < 2000) {
    it_reap(rep.pids[0]);
    it_reap(rep.pids[1]);
    if (tu_pids_alive(rep.pids, 2) == 0) break;
    tu_sleep_ms(10);
  }
  fprintf(stderr, "%d worker(s) alive %llu ms after the parent's SIGKILL\n",
          tu_pids_alive(rep.pids, 2), (unsigned long long)(tu_now_ms() - t0));
  CHECK_EQ_INT(tu_pids_alive(rep.pids, 2), 0);
  CHECK(tu_now_ms() - t0 <= 2000);

  /* Both ran their finalizers, through their own connections. */
  CHECK_EQ_INT(tu_query_ll(mon,
                           "SELECT COUNT(*) FROM %s WHERE (pid=%ld AND conn=%lu) OR "
                           "(pid=%ld AND conn=%lu)",
                           table, rep.pids[0], rep.ids[0], rep.pids[1], rep.ids[1]),
               2);
  CHECK_EQ_INT(it_wait_ids_gone(mon, rep.ids, 2, 2000), 0);
  CHECK_EQ_INT(tu_sessions(mon, "dbf_ac_sigkill"), 0);
  CHECK_EQ_INT(tu_status(mon, "Aborted_clients"), ac0);
  mysql_close(mon);
}
