/*
 * test_testutil.c — the harness proves its own assumptions against the real
 * server: helper connections never move Aborted_clients, a forked child never
 * closes its parent's helper connection, sessions are counted by
 * program_name, and the process helpers tell live processes from zombies.
 * (A db test: it lives beside the unit tests because it tests test code.)
 */
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

/* Waits for session `id` to end: the server bumps Aborted_clients when it
 * tears a session down, asynchronously to the client. */
static void settle(MYSQL *m, unsigned long id) {
  if (!tu_wait_session_gone(m, id, 5000)) FAIL("session %lu still there after 5 s", id);
}

/* Forks a child that connects, writes its connection id to the parent,
 * and leaves by exit(0) (clean = 1: exit handlers run) or _exit(0). Returns
 * the child's connection id once the child has been reaped. */
static unsigned long child_connects_and_leaves(int clean) {
  int fds[2], status;
  unsigned long id = 0;
  pid_t pid;
  CHECK(pipe(fds) == 0);
  pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    MYSQL *mine = tu_connect();
    id = mysql_thread_id(mine);
    if (write(fds[1], &id, sizeof id) != (ssize_t)sizeof id) _exit(3);
    if (clean) exit(0); /* no mysql_close: testutil's exit handler must do it */
    _exit(0);           /* no exit handlers: the socket just closes */
  }
  close(fds[1]);
  CHECK(read(fds[0], &id, sizeof id) == (ssize_t)sizeof id);
  close(fds[0]);
  CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  return id;
}

TEST(helper_connections_closed_with_mysql_close_leave_aborted_clients_alone) {
  MYSQL *m = tu_connect(), *c[20];
  unsigned long ids[20];
  long long a0 = tu_status(m, "Aborted_clients");
  int i;
  for (i = 0; i < 20; i++) {
    c[i] = tu_connect();
    ids[i] = mysql_thread_id(c[i]);
    CHECK_EQ_INT(tu_query_ll(c[i], "SELECT %d", i), i);
  }
  for (i = 0; i < 20; i++) mysql_close(c[i]);
  for (i = 0; i < 20; i++) settle(m, ids[i]);
  CHECK_EQ_INT(tu_status(m, "Aborted_clients"), a0);
}

TEST(helper_connection_left_open_is_closed_cleanly_at_exit) {
  MYSQL *m = tu_connect();
  long long a0 = tu_status(m, "Aborted_clients");
  settle(m, child_connects_and_leaves(1));
  CHECK_EQ_INT(tu_status(m, "Aborted_clients"), a0);
}

TEST(forked_child_exit_never_closes_the_parents_helper_connection) {
  MYSQL *m = tu_connect();
  unsigned long id = mysql_thread_id(m);
  long long a0 = tu_status(m, "Aborted_clients");
  int status;
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) exit(0); /* runs exit handlers in the child: m is not its own */
  CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  /* Still our session: a COM_QUIT from the child would have ended it. */
  CHECK_EQ_INT(tu_query_ll(m, "SELECT CONNECTION_ID()"), (long long)id);
  CHECK_EQ_INT(tu_status(m, "Aborted_clients"), a0);
}

/* The counter really counts: a session whose process dies without COM_QUIT
 * bumps it. Serial: it aborts a client on purpose. */
TEST_SERIAL(abnormal_disconnect_moves_aborted_clients) {
  MYSQL *m = tu_connect();
  long long a0 = tu_status(m, "Aborted_clients");
  settle(m, child_connects_and_leaves(0));
  CHECK_EQ_INT(tu_wait_status(m, "Aborted_clients", a0 + 1, 5000), a0 + 1);
}

TEST(sessions_are_counted_by_program_name_without_the_caller) {
  MYSQL *m = tu_connect(), *raw[3];
  dbfork_options o;
  int i;
  tu_options(&o);
  CHECK_EQ_STR(o.program_name, tu_unique_name());
  CHECK_EQ_INT(tu_sessions(m, o.program_name), 0);
  for (i = 0; i < 3; i++) {
    raw[i] = mysql_init(NULL);
    CHECK(raw[i] != NULL);
    mysql_options4(raw[i], MYSQL_OPT_CONNECT_ATTR_ADD, "program_name", o.program_name);
    if (!mysql_real_connect(raw[i], NULL, o.user, o.password, o.database, 0, o.unix_socket, 0))
      FAIL("connect: %s", mysql_error(raw[i]));
  }
  CHECK_EQ_INT(tu_sessions(m, o.program_name), 3);
  for (i = 0; i < 3; i++) mysql_close(raw[i]);
  CHECK_EQ_INT(tu_wait_sessions(m, o.program_name, 0, 5000), 0);
}

TEST(query_helpers_map_sql_null_and_types) {
  MYSQL *m = tu_connect();
  char *s;
  CHECK_EQ_INT(tu_query_ll(m, "SELECT NULL"), -1);
  CHECK_EQ_INT(tu_query_ll(m, "SELECT 1 FROM DUAL WHERE 0"), -1);
  CHECK_EQ_INT(tu_query_ll(m, "SELECT %lld", 9007199254740993LL), 9007199254740993LL);
  CHECK(tu_query_str(m, "SELECT NULL") == NULL);
  s = tu_query_str(m, "SELECT CONCAT('a', '%s')", "b");
  CHECK_EQ_STR(s, "ab");
  free(s);
  tu_exec(m, "CREATE TEMPORARY TABLE t_%s (id INT)", tu_unique_name());
  tu_exec(m, "INSERT INTO t_%s VALUES (1), (2), (3)", tu_unique_name());
  CHECK_EQ_INT(tu_query_ll(m, "SELECT SUM(id) FROM t_%s", tu_unique_name()), 6);
  CHECK(tu_status(m, "Threads_connected") >= 1);
  CHECK_EQ_INT(tu_status(m, "No_such_status_variable"), -1);
}

TEST(pids_alive_counts_live_processes_not_zombies) {
  long pids[3];
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    pause();
    _exit(0);
  }
  pids[0] = (long)getpid();
  pids[1] = (long)pid;
  pids[2] = 0;
  CHECK_EQ_INT(tu_pids_alive(pids, 3), 2);
  kill(pid, SIGKILL);
  /* Not reaped yet: a zombie, which does not count. */
  {
    long long deadline = tu_now_ms() + 5000;
    while (tu_pids_alive(pids, 3) != 1 && tu_now_ms() < deadline) tu_sleep_ms(5);
  }
  CHECK_EQ_INT(tu_pids_alive(pids, 3), 1);
  CHECK(waitpid(pid, NULL, 0) == pid);
  CHECK_EQ_INT(tu_pids_alive(pids, 3), 1);
  CHECK(tu_rss_kb() > 0);
}

TEST(test_environment_names_the_cli_and_the_server_script) {
  const char *cli = getenv("DBFORK_CLI"), *sh = getenv("DBFORK_TEST_SERVER_SH");
  CHECK(cli && access(cli, X_OK) == 0);
  CHECK(sh && access(sh, R_OK) == 0);
  CHECK(getenv("DBFORK_TEST_SERVER_DIR") != NULL);
}
