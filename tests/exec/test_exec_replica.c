/*
 * test_exec_replica.c — `dbfork exec --replica=DSN --max-lag=S` against a
 * real primary and replica: a pair of mariadbd started by replica_pair.sh
 * in the build tree (TCP on 127.0.0.1, free ports; the suite's own server
 * has no networking). Lag is made on purpose: the replica's SQL thread
 * stopped (Seconds_Behind_Master NULL), or blocked on a row the test holds
 * locked on the replica (a growing Seconds_Behind_Master). Every assertion
 * is the servers' view: the progress rows' start times against the lag
 * window, the rows on both servers. If the pair cannot start, the test
 * fails with the reason (never a skip). Bad DSNs and an unreachable
 * replica are checked against the suite's server.
 */
#include "exectest.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define PW "dbfork-test-pw"

typedef struct rp_pair {
  char dir[600];
  int pport, rport;
  MYSQL *p, *r; /* the test's sessions on the primary and the replica */
} rp_pair;

static char rp__dir[600];

/* replica_pair.sh and its folder in the build tree (tests/exec/CMakeLists.txt) */
static const char *rp_script(void) { return RP_SCRIPT; }

static void rp__stop(void) {
  char cmd[1400];
  if (!rp__dir[0]) return;
  snprintf(cmd, sizeof cmd, "bash '%s' stop '%s' >/dev/null 2>&1", rp_script(), rp__dir);
  if (system(cmd)) {
  }
  rp__dir[0] = '\0';
}

static int free_port(void) {
  struct sockaddr_in a;
  socklen_t len = sizeof a;
  int fd = socket(AF_INET, SOCK_STREAM, 0), port;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) ||
      getsockname(fd, (struct sockaddr *)&a, &len))
    FAIL("finding a free port: %s", strerror(errno));
  port = ntohs(a.sin_port);
  close(fd);
  return port;
}

static MYSQL *rp_connect(int port, const char *db) {
  MYSQL *m = mysql_init(NULL);
  unsigned t = 5;
  mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &t);
  if (!mysql_real_connect(m, "127.0.0.1", "dbfork", PW, db, (unsigned)port, NULL, 0))
    FAIL("connecting to 127.0.0.1:%d: %s", port, mysql_error(m));
  return m;
}

/* Starts the pair (fresh data dirs from a template) or fails saying why. */
static void rp_start(rp_pair *pr) {
  const char *sh = rp_script(), *dir = RP_DIR;
  char cmd[2000], log[700];
  int rc;
  memset(pr, 0, sizeof *pr);
  snprintf(pr->dir, sizeof pr->dir, "%s", dir);
  pr->pport = free_port();
  do pr->rport = free_port();
  while (pr->rport == pr->pport);
  snprintf(rp__dir, sizeof rp__dir, "%s", pr->dir);
  atexit(rp__stop);
  snprintf(log, sizeof log, "%s.start.log", pr->dir);
  snprintf(cmd, sizeof cmd, "bash '%s' start '%s' %d %d >'%s' 2>&1", sh, pr->dir, pr->pport,
           pr->rport, log);
  rc = system(cmd);
  if (rc != 0) {
    char *text = tu_read_file(log, NULL);
    FAIL("the replication pair did not start (%s exit %d):\n%s", sh, rc, text ? text : "");
  }
  pr->p = rp_connect(pr->pport, NULL);
  pr->r = rp_connect(pr->rport, NULL);
}

static void rp_stop(rp_pair *pr) {
  mysql_close(pr->p);
  mysql_close(pr->r);
  rp__stop();
}

/* Waits until the replica has applied everything the primary wrote. */
static void rp_caught_up(rp_pair *pr, const char *sql, long long want) {
  et_wait_for(pr->r, sql, want, 60000, "the replica catching up");
}

/* `dbfork exec` on the pair's primary, in the background. */
static void rp_exec_start(et_proc *p, const et_env *e, const rp_pair *pr, ...) {
  va_list ap;
  int n = 0;
  static char port[16];
  memset(p, 0, sizeof *p);
  snprintf(port, sizeof port, "%d", pr->pport);
  p->argv[n++] = getenv("DBFORK_CLI");
  p->argv[n++] = (char *)"exec";
  p->argv[n++] = (char *)"--no-defaults";
  p->argv[n++] = (char *)"-h";
  p->argv[n++] = (char *)"127.0.0.1";
  p->argv[n++] = (char *)"-P";
  p->argv[n++] = port;
  p->argv[n++] = (char *)"-u";
  p->argv[n++] = (char *)"dbfork";
  p->argv[n++] = (char *)"--password=" PW;
  va_start(ap, pr);
  et_spawn(p, e, n, ap);
  va_end(ap);
}

/* The pair's primary as the test's et_env (database rdb, a directory). */
static void rp_env(et_env *e, rp_pair *pr, long rows) {
  memset(e, 0, sizeof *e);
  e->m = pr->p;
  snprintf(e->db, sizeof e->db, "rdb");
  snprintf(e->dir, sizeof e->dir, "/tmp/dbfork-exec-XXXXXX");
  if (!mkdtemp(e->dir)) FAIL("mkdtemp: %s", strerror(errno));
  tu_exec(e->m, "CREATE DATABASE rdb");
  if (mysql_select_db(e->m, "rdb")) FAIL("USE rdb: %s", mysql_error(e->m));
  tu_exec(e->m,
          "CREATE TABLE t (id BIGINT NOT NULL PRIMARY KEY, n INT NOT NULL DEFAULT 0) "
          "ENGINE=InnoDB");
  tu_exec(e->m, "INSERT INTO t (id) SELECT seq FROM seq_1_to_%ld", rows);
  {
    char sql[100];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM rdb.t");
    rp_caught_up(pr, sql, rows);
  }
}

static void rp_env_free(et_env *e) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", e->dir);
  if (!getenv("DBFORK_TEST_KEEP") && system(cmd)) {
  }
}

static long long now_us(MYSQL *m) {
  return tu_query_ll(m, "SELECT UNIX_TIMESTAMP(NOW(6)) * 1000000");
}

static long long seconds_behind(MYSQL *r) {
  MYSQL_RES *res;
  MYSQL_ROW row;
  MYSQL_FIELD *f;
  unsigned i, nf;
  long long v = -1;
  if (mysql_query(r, "SHOW SLAVE STATUS") || !(res = mysql_store_result(r)))
    FAIL("SHOW SLAVE STATUS: %s", mysql_error(r));
  nf = mysql_num_fields(res);
  f = mysql_fetch_fields(res);
  if ((row = mysql_fetch_row(res)) != NULL)
    for (i = 0; i < nf; i++)
      if (!strcmp(f[i].name, "Seconds_Behind_Master")) v = row[i] ? atoll(row[i]) : -1;
  mysql_free_result(res);
  return v;
}

#define CHUNK_START_US "UNIX_TIMESTAMP(committed_at) * 1000000 - duration_ms * 1000"

TEST(test_exec_replica_stopped_pauses_until_replication_runs) {
  rp_pair pr;
  et_env e;
  et_proc p;
  et_run r;
  char dsn1[200], dsn2[900], cnf[700];
  long long t_resume, first;
  FILE *f;
  rp_start(&pr);
  rp_env(&e, &pr, 20000);
  /* one DSN with the password, one reading it from an option file (F=) */
  snprintf(dsn1, sizeof dsn1, "h=127.0.0.1,P=%d,u=dbfork,p=" PW, pr.rport);
  snprintf(cnf, sizeof cnf, "%s/replica.cnf", e.dir);
  if (!(f = fopen(cnf, "w"))) FAIL("%s: %s", cnf, strerror(errno));
  fprintf(f, "[client]\nuser=dbfork\npassword=%s\n", PW);
  fclose(f);
  snprintf(dsn2, sizeof dsn2, "F=%s,h=127.0.0.1,P=%d", cnf, pr.rport);
  tu_exec(pr.r, "STOP SLAVE SQL_THREAD");
  rp_exec_start(&p, &e, &pr, "--table", "t", "--chunk-rows", "1000", "--replica", dsn1, "--replica",
                dsn2, "--json", "UPDATE t SET n = n + 1 WHERE {chunk}", NULL);
  et_wait_for(e.m, "SELECT COUNT(*) FROM rdb.dbfork_exec_job", 1, 30000, "the job's row");
  tu_sleep_ms(2500);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM rdb.dbfork_exec_progress"), 0);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM rdb.t WHERE n <> 0"), 0);
  t_resume = now_us(e.m);
  tu_exec(pr.r, "START SLAVE SQL_THREAD");
  et_wait(&p, &e, &r, 120000);
  CHECK_EXIT(&r, 0);
  CHECK_CONTAINS(r.err, "replication is stopped (Seconds_Behind_Master is NULL");
  CHECK_CONTAINS(r.err, "within --max-lag=1: going on");
  CHECK(strstr(r.err, "p=" PW) == NULL); /* the password is never shown */
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM rdb.t WHERE n <> 1"), 0);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM rdb.t"), 20000);
  /* no chunk started before replication ran again */
  first = tu_query_ll(e.m, "SELECT MIN(" CHUNK_START_US ") FROM rdb.dbfork_exec_progress");
  if (first < t_resume - 20000)
    FAIL("a chunk started %lld ms before replication ran again", (t_resume - first) / 1000);
  CHECK(et_json_num(r.out, "pauses") >= 1);
  CHECK(et_json_num(r.out, "lag_pauses") >= 1);
  CHECK(et_json_num(r.out, "lag_paused_seconds") >= 2.0);
  /* and the replica got every change exactly once */
  rp_caught_up(&pr, "SELECT COUNT(*) FROM rdb.t WHERE n = 1", 20000);
  CHECK_EQ_INT(tu_query_ll(pr.r, "SELECT COUNT(*) FROM rdb.t WHERE n <> 1"), 0);
  et_run_free(&r);
  rp_env_free(&e);
  rp_stop(&pr);
}

TEST(test_exec_replica_lag_pauses_no_chunk_starts_while_lagging) {
  rp_pair pr;
  et_env e;
  et_proc p;
  et_run r;
  char dsn[200];
  long long t_lagging, t_release, c, later, t0;
  rp_start(&pr);
  rp_env(&e, &pr, 40000);
  snprintf(dsn, sizeof dsn, "P=%d", pr.rport); /* P alone: 127.0.0.1, the job's user */
  /* Row 4000 locked on the replica: the chunk that changes it blocks the
   * replica's SQL thread, and its lag grows until the lock goes. */
  tu_exec(pr.r, "BEGIN");
  tu_exec(pr.r, "SELECT id FROM rdb.t WHERE id = 4000 FOR UPDATE");
  /* 200 keys a chunk, 0.25 ms a row: about 50 ms a chunk, 200 chunks */
  rp_exec_start(&p, &e, &pr, "--table", "t", "--chunk-rows", "200", "--replica", dsn, "--max-lag",
                "1", "--json", "UPDATE t SET n = n + 1 WHERE {chunk} AND SLEEP(0.00025) = 0", NULL);
  t0 = tu_now_ms();
  while (seconds_behind(pr.r) < 3) {
    if (tu_now_ms() - t0 > 60000) FAIL("the replica's lag did not reach 3 s within 60 s");
    tu_sleep_ms(20);
  }
  t_lagging = now_us(e.m);
  c = tu_query_ll(e.m, "SELECT COUNT(*) FROM rdb.dbfork_exec_progress");
  if (c >= 200) FAIL("the job ended before the replica lagged: make it longer");
  tu_sleep_ms(2500);
  t_release = now_us(e.m);
  tu_exec(pr.r, "ROLLBACK");
  et_wait(&p, &e, &r, 120000);
  CHECK_EXIT(&r, 0);
  CHECK_CONTAINS(r.err, "is above --max-lag=1: paused");
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM rdb.t WHERE n <> 1"), 0);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM rdb.dbfork_exec_progress"), 200);
  /* While the lag was above 3 s (and the job had read it: 0.5 s at most),
   * until the lock went, no chunk started. */
  {
    char sql[400];
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM rdb.dbfork_exec_progress WHERE " CHUNK_START_US
             " BETWEEN %lld AND %lld",
             t_lagging + 600000, t_release);
    CHECK_EQ_INT(tu_query_ll(e.m, "%s", sql), 0);
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM rdb.dbfork_exec_progress WHERE " CHUNK_START_US " > %lld",
             t_release);
    later = tu_query_ll(e.m, "%s", sql);
    CHECK(later > 0); /* the job went on after the lag */
  }
  CHECK(et_json_num(r.out, "lag_pauses") >= 1);
  CHECK(et_json_num(r.out, "lag_paused_seconds") >= 2.0);
  CHECK(et_json_num(r.out, "pauses") >= 1);
  rp_caught_up(&pr, "SELECT COUNT(*) FROM rdb.t WHERE n = 1", 40000);
  CHECK_EQ_INT(tu_query_ll(pr.r, "SELECT COUNT(*) FROM rdb.t WHERE n <> 1"), 0);
  et_run_free(&r);
  rp_env_free(&e);
  rp_stop(&pr);
}

/* The job's session on the replica killed and its account locked: the
 * replica cannot be reached, so the job waits, reconnecting, and goes on
 * once it can connect again. */
TEST(test_exec_replica_lost_mid_run_pauses_and_reconnects) {
  rp_pair pr;
  et_env e;
  et_proc p;
  et_run r;
  char dsn[200], sql[400];
  long long t_lost, t_back, n_lost;
  rp_start(&pr);
  rp_env(&e, &pr, 40000);
  snprintf(dsn, sizeof dsn, "h=127.0.0.1,P=%d", pr.rport);
  rp_exec_start(&p, &e, &pr, "--table", "t", "--chunk-rows", "200", "--replica", dsn, "--json",
                "UPDATE t SET n = n + 1 WHERE {chunk} AND SLEEP(0.00025) = 0", NULL);
  et_wait_for(e.m, "SELECT COUNT(*) FROM rdb.dbfork_exec_progress", 20, 30000, "20 chunks");
  tu_exec(pr.r, "ALTER USER 'dbfork'@'127.0.0.1' ACCOUNT LOCK");
  {
    MYSQL_RES *res;
    MYSQL_ROW row;
    int killed = 0;
    if (mysql_query(pr.r,
                    "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = 'dbfork' AND ID "
                    "<> CONNECTION_ID()") ||
        !(res = mysql_store_result(pr.r)))
      FAIL("processlist: %s", mysql_error(pr.r));
    while ((row = mysql_fetch_row(res)) != NULL) {
      tu_exec(pr.r, "KILL %s", row[0]);
      killed++;
    }
    mysql_free_result(res);
    CHECK_EQ_INT(killed, 1); /* the job's one session on the replica */
  }
  t_lost = now_us(e.m);
  tu_sleep_ms(3000);
  n_lost = tu_query_ll(e.m, "SELECT COUNT(*) FROM rdb.dbfork_exec_progress");
  CHECK(n_lost < 200);
  t_back = now_us(e.m);
  tu_exec(pr.r, "ALTER USER 'dbfork'@'127.0.0.1' ACCOUNT UNLOCK");
  et_wait(&p, &e, &r, 120000);
  CHECK_EXIT(&r, 0);
  CHECK_CONTAINS(r.err, "paused; reconnecting every 2 s");
  CHECK_CONTAINS(r.err, "going on");
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM rdb.t WHERE n <> 1"), 0);
  snprintf(sql, sizeof sql,
           "SELECT COUNT(*) FROM rdb.dbfork_exec_progress WHERE " CHUNK_START_US
           " BETWEEN %lld AND %lld",
           t_lost + 600000, t_back);
  CHECK_EQ_INT(tu_query_ll(e.m, "%s", sql), 0);
  CHECK(et_json_num(r.out, "lag_paused_seconds") >= 2.0);
  et_run_free(&r);
  rp_env_free(&e);
  rp_stop(&pr);
}

TEST(test_exec_replica_bad_dsn_or_unreachable_is_one_line_naming_it) {
  et_env e;
  et_run r;
  char dsn[200], sock[400];
  int port = free_port();
  et_setup(&e);
  et_counter_table(&e, "t", 1000);
  snprintf(dsn, sizeof dsn, "h=127.0.0.1,P=%d", port);
  et_exec(&r, &e, "--table", "t", "--replica", dsn, "UPDATE t SET n = n + 1 WHERE {chunk}", NULL);
  CHECK_EXIT(&r, 2);
  CHECK_CONTAINS(r.err, "replica h=127.0.0.1,P=");
  CHECK_CONTAINS(r.err, "cannot connect");
  et_run_free(&r);
  et_exec(&r, &e, "--table", "t", "--replica", "h=x,Q=1,p=secret",
          "UPDATE t SET n = n + 1 WHERE {chunk}", NULL);
  CHECK_EXIT(&r, 64);
  CHECK_CONTAINS(r.err, "unknown key Q=");
  CHECK(strstr(r.err, "secret") == NULL);
  et_run_free(&r);
  et_exec(&r, &e, "--table", "t", "--replica", "u=dbfork", "UPDATE t SET n = n + 1 WHERE {chunk}",
          NULL);
  CHECK_EXIT(&r, 64);
  CHECK_CONTAINS(r.err, "names no server");
  et_run_free(&r);
  et_exec(&r, &e, "--table", "t", "--max-lag", "2", "UPDATE t SET n = n + 1 WHERE {chunk}", NULL);
  CHECK_EXIT(&r, 64);
  CHECK_CONTAINS(r.err, "--max-lag: no --replica");
  et_run_free(&r);
  /* the suite's server replicates from nobody: not a replica */
  snprintf(sock, sizeof sock, "S=%s", getenv("DBFORK_TEST_SOCKET"));
  et_exec(&r, &e, "--table", "t", "--replica", sock, "UPDATE t SET n = n + 1 WHERE {chunk}", NULL);
  CHECK_EXIT(&r, 64);
  CHECK_CONTAINS(r.err, "replicates from nobody");
  et_run_free(&r);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM t WHERE n <> 0"), 0);
  et_teardown(&e);
}
