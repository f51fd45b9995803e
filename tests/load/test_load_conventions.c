/*
 * test_load_conventions.c — issue 11, point 5: `dbfork load` keeps the
 * conventions of the mysql tools, against the server. Each test runs the
 * command with an option file of its own (not the harness's --no-defaults
 * connection arguments) and HOME in its directory, so that no user file
 * takes part:
 *  - database= of an option file completes --table T;
 *  - MYSQL_HOST, MYSQL_TCP_PORT and MYSQL_UNIX_PORT; --protocol;
 *    --defaults-extra-file; --print-defaults; an unknown --ssl-mode is
 *    bad usage (64);
 *  - load options in [dbfork-load] (the command line wins), an unknown key
 *    there named with its file and line;
 *  - mysqlimport's spellings;
 *  - --columns with @variables and --set, for both methods.
 */
#define _GNU_SOURCE
#include "loadtest.h"

static const char *const methods[] = {"load-data", "insert", "bulk"};

/* Writes dir/NAME with the test account's [client] group, then `more`. */
static void cnf(const lt_env *e, const char *name, int with_socket, const char *more, char *path,
                size_t len) {
  char body[2048];
  snprintf(path, len, "%s/%s", e->dir, name);
  snprintf(body, sizeof body, "[client]\nuser=%s\npassword=%s\n%s%s%s%s",
           getenv("DBFORK_TEST_USER"), getenv("DBFORK_TEST_PASSWORD"), with_socket ? "socket=" : "",
           with_socket ? getenv("DBFORK_TEST_SOCKET") : "", with_socket ? "\n" : "", more);
  lt_write_file(path, body, strlen(body));
}

/* Runs `dbfork load ARGS... NULL` (no harness connection options), HOME
 * set to the test's directory, with env[] ("NAME=VALUE", NULL-ended) set
 * for the command only. */
static void run(lt_env *e, lt_run *r, const char *const *env, ...) {
  char *argv[LT_MAXARGS];
  const char *a;
  int n = 0, i;
  va_list ap;
  lt_proc p;
  char *saved[8] = {0};
  char names[8][64];
  memset(&p, 0, sizeof p);
  argv[n++] = getenv("DBFORK_CLI");
  argv[n++] = (char *)"load";
  va_start(ap, env);
  while ((a = va_arg(ap, const char *)) != NULL && n < LT_MAXARGS - 1) argv[n++] = (char *)a;
  va_end(ap);
  argv[n] = NULL;
  saved[7] = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
  setenv("HOME", e->dir, 1);
  for (i = 0; env && env[i] && i < 7; i++) {
    const char *eq = strchr(env[i], '=');
    snprintf(names[i], sizeof names[i], "%.*s", (int)(eq - env[i]), env[i]);
    saved[i] = getenv(names[i]) ? strdup(getenv(names[i])) : NULL;
    setenv(names[i], eq + 1, 1);
  }
  p.seq = ++lt__seq;
  p.t0 = tu_now_ms();
  p.pid = lt__spawn(e, p.seq, argv);
  for (i = 0; env && env[i] && i < 7; i++) {
    if (saved[i])
      setenv(names[i], saved[i], 1);
    else
      unsetenv(names[i]);
    free(saved[i]);
  }
  if (saved[7]) setenv("HOME", saved[7], 1);
  free(saved[7]);
  lt_wait(&p, e, r, 60000);
}

static void rows_file(lt_env *e, lt_row *rows, size_t n, int header) {
  lt_file f;
  lt_write_rows(e, &f, rows, n, 1, 31, 0, header);
  lt_file_free(&f);
}

/* database= of an option file completes --table T: the rows go there, and
 * the summary names DB.T. */
TEST(option_file_database_completes_the_table) {
  lt_env e;
  lt_run r;
  lt_row rows[100];
  char path[256], more[200], dfile[300], want[300];
  lt_setup(&e, "orders", 1);
  rows_file(&e, rows, 100, 0);
  snprintf(more, sizeof more, "[dbfork]\ndatabase=%s\n", e.db);
  cnf(&e, "my.cnf", 1, more, path, sizeof path);
  snprintf(dfile, sizeof dfile, "--defaults-file=%s", path);
  run(&e, &r, NULL, e.path, "--table", "orders", dfile, NULL);
  CHECK_EXIT(&r, 0);
  snprintf(want, sizeof want, "into %s.orders (", e.db);
  CHECK_CONTAINS(r.out, want);
  CHECK_SUM(lt_server_sum(e.m, "orders"), lt_sum_rows(rows, 100));
  lt_run_free(&r);
  lt_teardown(&e);
}

/* The environment: MYSQL_UNIX_PORT gives the socket; MYSQL_HOST and
 * MYSQL_TCP_PORT send it to TCP (which the test server does not listen on:
 * the error names them); an option file's socket is not overridden by
 * MYSQL_UNIX_PORT. --protocol=TCP too; PIPE is bad usage. */
TEST(environment_variables_and_protocol_are_honoured) {
  lt_env e;
  lt_run r;
  lt_row rows[50];
  char path[256], dfile[300], sock_env[300], table[200];
  const char *env_unix[] = {sock_env, NULL};
  const char *env_tcp[] = {"MYSQL_HOST=127.0.0.1", "MYSQL_TCP_PORT=9", NULL};
  const char *env_bad_unix[] = {"MYSQL_UNIX_PORT=/nonexistent/mysql.sock", NULL};
  lt_setup(&e, "orders", 1);
  rows_file(&e, rows, 50, 0);
  snprintf(table, sizeof table, "--table=%s.orders", e.db);
  snprintf(sock_env, sizeof sock_env, "MYSQL_UNIX_PORT=%s", getenv("DBFORK_TEST_SOCKET"));
  cnf(&e, "nosock.cnf", 0, "", path, sizeof path);
  snprintf(dfile, sizeof dfile, "--defaults-file=%s", path);
  run(&e, &r, env_unix, e.path, table, dfile, "-q", NULL);
  CHECK_EXIT(&r, 0);
  lt_run_free(&r);
  run(&e, &r, env_tcp, e.path, table, dfile, "-q", "--connect-timeout=1", NULL);
  CHECK_EXIT(&r, 2);
  CHECK_CONTAINS(r.err, "127.0.0.1");
  lt_run_free(&r);
  run(&e, &r, env_unix, e.path, table, dfile, "-q", "--protocol=TCP", "-P", "9",
      "--connect-timeout=1", NULL);
  CHECK_EXIT(&r, 2);
  CHECK_CONTAINS(r.err, "127.0.0.1");
  lt_run_free(&r);
  run(&e, &r, env_unix, e.path, table, dfile, "-q", "--protocol=pipe", NULL);
  CHECK_EXIT(&r, 64);
  CHECK_CONTAINS(r.err, "option --protocol: 'pipe' is not TCP or SOCKET");
  lt_run_free(&r);
  /* the option file's socket wins over MYSQL_UNIX_PORT */
  cnf(&e, "sock.cnf", 1, "", path, sizeof path);
  snprintf(dfile, sizeof dfile, "--defaults-file=%s", path);
  run(&e, &r, env_bad_unix, e.path, table, dfile, "-q", "--protocol=SOCKET", NULL);
  CHECK_EXIT(&r, 0);
  CHECK_CONTAINS(r.err, "already loaded");
  lt_run_free(&r);
  CHECK_SUM(lt_server_sum(e.m, "orders"), lt_sum_rows(rows, 50));
  lt_teardown(&e);
}

/* --defaults-extra-file: its [client] gives the account; --print-defaults
 * shows what the files give (the password masked); an unknown --ssl-mode
 * is bad usage. */
TEST(defaults_extra_file_print_defaults_and_ssl_mode) {
  lt_env e;
  lt_run r;
  lt_row rows[40];
  char path[256], xfile[300], table[200], want[400];
  lt_setup(&e, "orders", 1);
  rows_file(&e, rows, 40, 0);
  snprintf(table, sizeof table, "--table=%s.orders", e.db);
  cnf(&e, "extra.cnf", 1, "[dbfork-load]\nmax-errors=3\n", path, sizeof path);
  snprintf(xfile, sizeof xfile, "--defaults-extra-file=%s", path);
  run(&e, &r, NULL, e.path, table, xfile, "-q", NULL);
  CHECK_EXIT(&r, 0);
  CHECK_SUM(lt_server_sum(e.m, "orders"), lt_sum_rows(rows, 40));
  lt_run_free(&r);
  run(&e, &r, NULL, e.path, table, xfile, "--print-defaults", NULL);
  CHECK_EXIT(&r, 0);
  CHECK_CONTAINS(r.out, "dbfork load would have been started with the following arguments:\n");
  snprintf(want, sizeof want, "--user=%s --password=***** --socket=%s", getenv("DBFORK_TEST_USER"),
           getenv("DBFORK_TEST_SOCKET"));
  CHECK_CONTAINS(r.out, want);
  CHECK_CONTAINS(r.out, "--max-errors=3");
  CHECK(!strstr(r.out, getenv("DBFORK_TEST_PASSWORD")));
  lt_run_free(&r);
  run(&e, &r, NULL, e.path, table, xfile, "--ssl-mode=SOMETIMES", NULL);
  CHECK_EXIT(&r, 64);
  CHECK_CONTAINS(r.err, "option --ssl-mode: 'SOMETIMES' is not DISABLED, PREFERRED, REQUIRED");
  lt_run_free(&r);
  lt_teardown(&e);
}

/* [dbfork-load] holds load options (the command line wins); an unknown key
 * is bad usage naming the file, line and key. */
TEST(load_options_from_the_dbfork_load_group) {
  lt_env e;
  lt_run r;
  lt_file f;
  lt_row rows[100];
  char path[256], dfile[300], table[200], want[400];
  lt_setup(&e, "orders", 1);
  lt_gen(rows, 100, 1, 32, 0);
  lt_file_init(&f, LT_BACKSLASH, 0);
  lt_put_header(&f);
  lt_put_rows(&f, rows, 50, 1);
  lt_puts(&f, "1,2,3\n"); /* too few fields */
  lt_put_rows(&f, rows + 50, 50, 1);
  lt_write_file(e.path, f.p, f.len);
  snprintf(table, sizeof table, "--table=%s.orders", e.db);
  cnf(&e, "load.cnf", 1,
      "[dbfork]\nworkers=3\n[dbfork-load]\nmax_errors=1\nskip-lines=1\nno-resume\n", path,
      sizeof path);
  snprintf(dfile, sizeof dfile, "--defaults-file=%s", path);
  run(&e, &r, NULL, e.path, table, dfile, "--json", NULL);
  CHECK_EXIT(&r, 1);
  CHECK_CONTAINS(r.out, "\"workers\":3,");
  CHECK_SUM(lt_server_sum(e.m, "orders"), lt_sum_rows(rows, 100));
  lt_run_free(&r);
  tu_exec(e.m, "TRUNCATE TABLE orders");
  run(&e, &r, NULL, e.path, table, dfile, "-q", "--max-errors=0", NULL);
  CHECK_EXIT(&r, 2);
  CHECK_CONTAINS(r.err, "too few fields");
  lt_run_free(&r);
  cnf(&e, "bad.cnf", 1, "[dbfork-load]\nmax-errors=1\nmax-eror=2\n", path, sizeof path);
  snprintf(dfile, sizeof dfile, "--defaults-file=%s", path);
  run(&e, &r, NULL, e.path, table, dfile, "-q", NULL);
  CHECK_EXIT(&r, 64);
  snprintf(want, sizeof want, "dbfork load: %s:7: unknown option 'max-eror' in [dbfork-load]",
           path);
  CHECK_CONTAINS(r.err, want);
  lt_run_free(&r);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM orders"), 0);
  lt_file_free(&f);
  lt_teardown(&e);
}

/* mysqlimport's spellings: --ignore-lines, --fields-optionally-enclosed-by,
 * --use-threads, --local, --replace and --ignore (onto rows: --no-resume). */
TEST(mysqlimport_spellings_are_accepted) {
  lt_env e;
  lt_run r;
  lt_row rows[200];
  char *v;
  lt_setup(&e, "orders", 1);
  rows_file(&e, rows, 200, 1);
  lt_load(&r, &e, e.path, "orders", "--json", "--ignore-lines=1",
          "--fields-optionally-enclosed-by=\"", "--use-threads=3", "--local", NULL);
  CHECK_EXIT(&r, 0);
  CHECK_CONTAINS(r.out, "\"workers\":3,");
  CHECK_SUM(lt_server_sum(e.m, "orders"), lt_sum_rows(rows, 200));
  lt_run_free(&r);
  tu_exec(e.m, "UPDATE orders SET note = 'mine' WHERE id = 7");
  lt_load(&r, &e, e.path, "orders", "-q", "--ignore-lines=1", "--no-resume", "--ignore", NULL);
  CHECK_EXIT(&r, 0);
  v = tu_query_str(e.m, "SELECT note FROM orders WHERE id = 7");
  CHECK_EQ_STR(v, "mine");
  free(v);
  lt_run_free(&r);
  lt_load(&r, &e, e.path, "orders", "-q", "--ignore-lines=1", "--no-resume", "--replace", NULL);
  CHECK_EXIT(&r, 0);
  CHECK_SUM(lt_server_sum(e.m, "orders"), lt_sum_rows(rows, 200));
  lt_run_free(&r);
  lt_teardown(&e);
}

/* --columns with @variables (a file column skipped, one fed to --set) and
 * --set, for both methods: the same rows; a value the SET expression
 * refuses is a reject naming its line. */
TEST(columns_with_variables_and_set_for_both_methods) {
  static const char data[] = "1,junk,Ann,31/01/2024\n2,x,Bob,01/02/2024\n3,,Cid,31/02/2024\n";
  lt_env e;
  size_t mi;
  char *v, want[300];
  lt_setup(&e, NULL, 0);
  tu_exec(e.m,
          "CREATE TABLE p (id INT PRIMARY KEY, name VARCHAR(10), born DATE NOT NULL, "
          "upper_name VARCHAR(10)) ENGINE=InnoDB");
  lt_write_file(e.path, data, sizeof data - 1);
  for (mi = 0; mi < 3; mi++) {
    lt_run r;
    tu_exec(e.m, "TRUNCATE TABLE p");
    lt_load(&r, &e, e.path, "p", "--no-resume", "--max-errors=1", "--method", methods[mi],
            "--columns=id,@skip,name,@d",
            "--set=born = STR_TO_DATE(@d, '%d/%m/%Y'), upper_name = CONCAT('<', @skip, '>')", NULL);
    CHECK_EXIT(&r, 1);
    v = tu_query_str(e.m, "SELECT GROUP_CONCAT(CONCAT_WS(':', id, name, born) ORDER BY id) FROM p");
    CHECK_EQ_STR(v, "1:Ann:2024-01-31,2:Bob:2024-02-01");
    free(v);
    v = tu_query_str(e.m, "SELECT upper_name FROM p WHERE id = 2");
    CHECK_EQ_STR(v, "<x>");
    free(v);
    snprintf(want, sizeof want, "%s: rejected line 3, column 1 (byte ", e.path);
    CHECK_CONTAINS(r.err, want);
    lt_run_free(&r);
  }
  lt_teardown(&e);
}
