/*
 * One worker, one connection: the server sees exactly one session per worker,
 * each the one the pool reports for that worker, named by connect attributes;
 * after join none is left.
 */
#include "itest.h"

enum { W = 3 };

TEST(one_session_per_worker) {
  const char *prog = "dbf_one_session";
  MYSQL *mon = tu_connect();
  CHECK_EQ_INT(tu_sessions(mon, prog), 0);

  dbfork_options o;
  it_options(&o, prog, W);
  dbfork_pool *pool = NULL;
  CHECK_OK(dbfork_pool_new(&pool, &o));
  CHECK_OK(dbfork_pool_start(pool));

  /* After start, every worker is connected: W distinct ids, all on the server. */
  dbfork_worker_stats ws[W];
  CHECK_EQ_INT(dbfork_pool_stats_get(pool, NULL, ws, W), W);
  unsigned long ids[W];
  for (int i = 0; i < W; i++) {
    fprintf(stderr, "slot %d: pid %ld connection %lu state %s\n", ws[i].slot, ws[i].pid,
            ws[i].connection_id, dbfork_worker_state_name(ws[i].state));
    CHECK_EQ_INT(ws[i].slot, i);
    CHECK(ws[i].pid > 0);
    CHECK(ws[i].connection_id > 0);
    ids[i] = ws[i].connection_id;
    for (int j = 0; j < i; j++) CHECK(ids[j] != ids[i]);
  }
  CHECK_EQ_INT(tu_sessions(mon, prog), W);
  CHECK_EQ_INT(it_ids_present(mon, ids, W), W);

  /* Inside tasks: each task's own CONNECTION_ID() is the id its completion
   * reports, one of the pool's, and the server counts W sessions of ours. */
  enum { N = 60 };
  it_track t[N];
  memset(t, 0, sizeof t);
  char count_sql[256];
  snprintf(
      count_sql, sizeof count_sql,
      "SELECT COUNT(DISTINCT a.PROCESSLIST_ID) FROM performance_schema.session_connect_attrs a "
      "JOIN information_schema.PROCESSLIST p ON p.ID = a.PROCESSLIST_ID "
      "WHERE a.ATTR_NAME = 'program_name' AND a.ATTR_VALUE = '%s'",
      prog);
  for (int i = 0; i < N; i++)
    CHECK_OK(it_submit_sql(pool, i % 2 ? count_sql : "SELECT CONNECTION_ID()", &t[i]));
  long long end = tu_now_ms() + 20000;
  int done;
  do {
    dbfork_pool_run(pool, 1);
    done = 0;
    for (int i = 0; i < N; i++) done += t[i].calls;
  } while (done < N && tu_now_ms() < end);
  CHECK_EQ_INT(tu_sessions(mon, prog), W);

  for (int i = 0; i < N; i++) {
    if (t[i].calls != 1 || t[i].status != 0) it_track_print("task", &t[i]);
    CHECK_EQ_INT(t[i].calls, 1);
    CHECK_EQ_INT(t[i].status, 0);
    CHECK(t[i].slot >= 0 && t[i].slot < W);
    CHECK_EQ_INT(t[i].conn_id, ids[t[i].slot]);
    CHECK_EQ_INT(t[i].pid, ws[t[i].slot].pid);
    if (i % 2)
      CHECK_EQ_INT(atoll(t[i].reply), W);
    else
      CHECK_EQ_INT(strtoull(t[i].reply, NULL, 10), t[i].conn_id);
  }

  CHECK_OK(dbfork_pool_join(pool));
  dbfork_pool_free(pool);
  CHECK_EQ_INT(it_wait_ids_gone(mon, ids, W, 2000), 0);
  CHECK_EQ_INT(tu_wait_sessions(mon, prog, 0, 2000), 0);
  mysql_close(mon);
}

/* The server can tell who owns each session: program_name, _pid and the
 * worker slot are connect attributes of every worker's session. */
TEST(worker_sessions_carry_connect_attrs) {
  const char *prog = "dbf_connattrs";
  MYSQL *mon = tu_connect();
  dbfork_options o;
  it_options(&o, prog, 2);
  dbfork_pool *pool = NULL;
  CHECK_OK(dbfork_pool_new(&pool, &o));
  CHECK_OK(dbfork_pool_start(pool));
  dbfork_worker_stats ws[2];
  CHECK_EQ_INT(dbfork_pool_stats_get(pool, NULL, ws, 2), 2);
  unsigned long ids[2] = {ws[0].connection_id, ws[1].connection_id};
  CHECK_EQ_INT(it_ids_present(mon, ids, 2), 2);

  if (tu_query_ll(mon, "SELECT @@performance_schema") == 0) {
    printf(
        "connect attributes not checked: performance_schema is OFF on this server, so "
        "session_connect_attrs is empty\n");
  } else {
    for (int i = 0; i < 2; i++) {
      char *v = tu_query_str(mon,
                             "SELECT ATTR_VALUE FROM performance_schema.session_connect_attrs "
                             "WHERE PROCESSLIST_ID=%lu AND ATTR_NAME='program_name'",
                             ids[i]);
      CHECK(v != NULL);
      CHECK_EQ_STR(v, prog);
      free(v);
      v = tu_query_str(mon,
                       "SELECT ATTR_VALUE FROM performance_schema.session_connect_attrs "
                       "WHERE PROCESSLIST_ID=%lu AND ATTR_NAME='_pid'",
                       ids[i]);
      CHECK(v != NULL);
      CHECK_EQ_INT(atol(v), ws[i].pid);
      free(v);
      /* The header does not name the slot attribute; the design says the
       * slot is one: exactly one attribute named *slot* carrying it. */
      CHECK_EQ_INT(tu_query_ll(mon,
                               "SELECT COUNT(*) FROM performance_schema.session_connect_attrs "
                               "WHERE PROCESSLIST_ID=%lu AND ATTR_NAME LIKE '%%slot%%'",
                               ids[i]),
                   1);
      CHECK_EQ_INT(tu_query_ll(mon,
                               "SELECT ATTR_VALUE FROM performance_schema.session_connect_attrs "
                               "WHERE PROCESSLIST_ID=%lu AND ATTR_NAME LIKE '%%slot%%'",
                               ids[i]),
                   ws[i].slot);
    }
  }
  CHECK_OK(dbfork_pool_join(pool));
  dbfork_pool_free(pool);
  CHECK_EQ_INT(it_wait_ids_gone(mon, ids, 2, 2000), 0);
  mysql_close(mon);
}

/* dbfork_connect opens a session from the pool's options that the server
 * sees with the same connect attributes as a worker's, slot -1, this pid,
 * and the charset asked for; dbfork_mysql_close ends it (gone from the
 * PROCESSLIST); a bad password fails DBFORK_ECONNECT with the server's
 * message, and a bad option DBFORK_EINVAL naming it. */
TEST(dbfork_connect_opens_a_session_with_the_workers_options) {
  const char *prog = "dbf_connect_parent";
  MYSQL *mon = tu_connect(), *m = NULL;
  dbfork_options o;
  char err[512], sql[512];
  long long id;
  it_options(&o, prog, 1);
  o.charset = "latin1";
  CHECK_OK(dbfork_connect(&m, &o, err, sizeof err));
  CHECK(m != NULL);
  CHECK_EQ_INT(dbfork_mysql_check_owner(m), 0);
  id = tu_query_ll(m, "SELECT CONNECTION_ID()");
  CHECK_EQ_INT(tu_sessions(mon, prog), 1);
  snprintf(sql, sizeof sql,
           "SELECT COUNT(*) FROM performance_schema.session_connect_attrs WHERE PROCESSLIST_ID = "
           "%lld AND ((ATTR_NAME = 'dbfork_slot' AND ATTR_VALUE = '-1') OR (ATTR_NAME = "
           "'dbfork_pid' AND ATTR_VALUE = '%ld'))",
           id, (long)getpid());
  CHECK_EQ_INT(tu_query_ll(mon, "%s", sql), 2);
  CHECK_EQ_INT(tu_query_ll(m, "SELECT @@character_set_client = 'latin1'"), 1);
  dbfork_mysql_close(m);
  CHECK_EQ_INT(tu_wait_sessions(mon, prog, 0, 5000), 0);

  it_options(&o, prog, 1);
  o.password = "not-the-password";
  m = (MYSQL *)&o; /* must be reset to NULL on failure */
  CHECK_EQ_INT(dbfork_connect(&m, &o, err, sizeof err), DBFORK_ECONNECT);
  CHECK(m == NULL);
  CHECK_CONTAINS(err, "Access denied");
  CHECK_CONTAINS(err, "MySQL error 1045");

  it_options(&o, prog, 1);
  o.ssl_mode = "SOMETIMES";
  CHECK_EQ_INT(dbfork_connect(&m, &o, err, sizeof err), DBFORK_EINVAL);
  CHECK_CONTAINS(err, "ssl_mode='SOMETIMES'");
  CHECK_EQ_INT(dbfork_connect(NULL, &o, NULL, 0), DBFORK_EINVAL);
  dbfork_mysql_close(NULL);
  mysql_close(mon);
}
