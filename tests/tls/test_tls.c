/*
 * test_tls.c — the pool and the CLI over TLS, against the throwaway MariaDB
 * of tests/tls/tls_server.sh (fixture "mariadb_tls": its own data dir, TCP on
 * 127.0.0.1 plus a socket, require_secure_transport=ON, users REQUIRE SSL).
 *
 * Each mode is proved on the server's side: every worker session the pool
 * reports shows a TLS version in performance_schema.status_by_thread, and
 * every task sees `SHOW SESSION STATUS LIKE 'Ssl_version'` non-empty on its
 * own connection. A wrong CA fails dbfork_pool_start with DBFORK_EINIT and a
 * message naming the certificate problem; the CLI's --ssl-mode/--ssl-ca
 * behave the same.
 */
#define _GNU_SOURCE /* strcasestr */
#include "dbfork.h"
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <mysql.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { W = 2 };

/* ---- the server's coordinates, from DIR/env written by tls_server.sh ---- */
typedef struct tls_env {
  char host[64], socket[256], user[64], password[64], db[64];
  char ca[512], wrong_ca[512], cert[512], key[512];
  unsigned int port;
} tls_env;

static tls_env E;

static void env_load(void) {
  const char *dir = getenv("DBFORK_TLS_DIR");
  char path[600], line[1024];
  FILE *f;
  if (!dir) SKIP("DBFORK_TLS_DIR not set (run through ctest)");
  snprintf(path, sizeof path, "%s/env", dir);
  f = fopen(path, "r");
  if (!f) FAIL("%s: %s (did tls.server.start run?)", path, strerror(errno));
  memset(&E, 0, sizeof E);
  while (fgets(line, sizeof line, f)) {
    char *eq = strchr(line, '='), *v;
    if (!eq) continue;
    *eq = 0;
    v = eq + 1;
    v[strcspn(v, "\n")] = 0;
#define KV(k, field) \
  if (!strcmp(line, k)) snprintf(E.field, sizeof E.field, "%s", v);
    KV("DBFORK_TLS_HOST", host)
    KV("DBFORK_TLS_SOCKET", socket)
    KV("DBFORK_TLS_USER", user)
    KV("DBFORK_TLS_PASSWORD", password)
    KV("DBFORK_TLS_DB", db)
    KV("DBFORK_TLS_CA", ca)
    KV("DBFORK_TLS_WRONG_CA", wrong_ca)
    KV("DBFORK_TLS_CLIENT_CERT", cert)
    KV("DBFORK_TLS_CLIENT_KEY", key)
#undef KV
    if (!strcmp(line, "DBFORK_TLS_PORT")) E.port = (unsigned int)atoi(v);
  }
  fclose(f);
  CHECK(E.port > 0);
}

/* A monitor connection over TCP with TLS (the server refuses TCP without). */
static MYSQL *monitor(void) {
  MYSQL *m = mysql_init(NULL);
  my_bool yes = 1;
  CHECK(m != NULL);
  mysql_options(m, MYSQL_OPT_SSL_ENFORCE, &yes);
  mysql_options(m, MYSQL_OPT_SSL_CA, E.ca);
  mysql_options4(m, MYSQL_OPT_CONNECT_ATTR_ADD, "program_name", "dbfork-testutil");
  if (!mysql_real_connect(m, E.host, E.user, E.password, E.db, E.port, NULL, 0))
    FAIL("monitor connect: %s", mysql_error(m));
  return m;
}

static long long q_ll(MYSQL *m, const char *sql) {
  MYSQL_RES *r;
  MYSQL_ROW row;
  long long v = -1;
  if (mysql_query(m, sql)) FAIL("%s: %s", sql, mysql_error(m));
  r = mysql_store_result(m);
  CHECK(r != NULL);
  row = mysql_fetch_row(r);
  if (row && row[0]) v = strtoll(row[0], NULL, 10);
  mysql_free_result(r);
  return v;
}

/* The message must name the certificate problem, not just "failed". */
static int names_certificate_problem(const char *msg) {
  return strcasestr(msg, "certificate") != NULL || strcasestr(msg, "self-signed") != NULL ||
         strcasestr(msg, "self signed") != NULL;
}

/* ---- worker side ---- */
static int session_tls(MYSQL *m, char *out, size_t n) {
  MYSQL_RES *r;
  MYSQL_ROW row;
  out[0] = 0;
  if (mysql_query(m, "SHOW SESSION STATUS LIKE 'Ssl_version'")) return DBFORK_ESQL;
  r = mysql_store_result(m);
  if (!r) return DBFORK_ESQL;
  row = mysql_fetch_row(r);
  if (row && row[1]) snprintf(out, n, "%s", row[1]);
  mysql_free_result(r);
  return 0;
}

/* The initializer refuses to start a worker whose own session is not TLS. */
static int init_require_tls(dbfork_worker *w, void *arg) {
  char v[64];
  int rc = session_tls(dbfork_worker_mysql(w), v, sizeof v);
  (void)arg;
  if (rc) return rc;
  if (!v[0]) return dbfork_worker_fail(w, DBFORK_EINIT, 0, NULL, "worker session is not TLS");
  return 0;
}

/* The task replies with its session's Ssl_version. */
static int task_tls_version(dbfork_worker *w, const void *in, size_t len, void *arg) {
  char v[64];
  int rc = session_tls(dbfork_worker_mysql(w), v, sizeof v);
  (void)in, (void)len, (void)arg;
  if (rc) return rc;
  return dbfork_worker_reply(w, v, strlen(v));
}

/* ---- parent side ---- */
static void log_stderr(int level, const char *msg, void *arg) {
  (void)arg;
  fprintf(stderr, "[dbfork %d] %s\n", level, msg);
}

static void tls_options(dbfork_options *o, const char *mode, const char *ca) {
  dbfork_options_init(o);
  o->workers = W;
  o->host = E.host;
  o->port = E.port;
  o->user = E.user;
  o->password = E.password;
  o->database = E.db;
  o->no_defaults = 1;
  o->ssl_mode = mode;
  o->ssl_ca = ca;
  o->program_name = tu_unique_name();
  o->init = init_require_tls;
  o->task = task_tls_version;
  o->max_start_failures = 1;
  o->log = log_stderr;
  o->log_level = DBFORK_LOG_WARN;
}

typedef struct tls_map {
  int ok, tls;
  char version[64];
  unsigned long conn[64];
} tls_map;

static int in_empty(size_t i, const void **data, size_t *len, void *ud) {
  (void)i, (void)ud;
  *data = "";
  *len = 0;
  return 0;
}

static int out_check(size_t i, const dbfork_result *r, void *ud) {
  tls_map *m = ud;
  if (r->status) {
    fprintf(stderr, "task %zu: %s: %s\n", i, dbfork_err_name(r->status), r->message);
    return 0;
  }
  m->ok++;
  if (r->len > 0 && r->len < sizeof m->version) {
    m->tls++;
    memcpy(m->version, r->data, r->len);
    m->version[r->len] = 0;
  }
  if (i < 64) m->conn[i] = r->connection_id;
  return 0;
}

/* Starts a pool with the options, proves every worker session is TLS on the
 * server's side and from inside tasks, then joins. */
static void run_tls_pool(dbfork_options *o) {
  dbfork_pool *pool = NULL;
  dbfork_worker_stats ws[W];
  tls_map res;
  char sql[1024];
  int i, off;
  MYSQL *mon = monitor();

  CHECK_OK(dbfork_pool_new(&pool, o));
  {
    int rc = dbfork_pool_start(pool);
    if (rc) FAIL("dbfork_pool_start: %s: %s", dbfork_err_name(rc), dbfork_pool_last_error(pool));
  }
  CHECK_EQ_INT(dbfork_pool_stats_get(pool, NULL, ws, W), W);

  /* The server's view: each worker's session has a TLS version. */
  off = snprintf(sql, sizeof sql,
                 "SELECT COUNT(*) FROM performance_schema.threads t "
                 "JOIN performance_schema.status_by_thread s ON s.THREAD_ID = t.THREAD_ID "
                 "WHERE s.VARIABLE_NAME = 'Ssl_version' AND s.VARIABLE_VALUE LIKE 'TLS%%' "
                 "AND t.PROCESSLIST_ID IN (0");
  for (i = 0; i < W; i++) {
    CHECK(ws[i].connection_id > 0);
    off += snprintf(sql + off, sizeof sql - (size_t)off, ",%lu", ws[i].connection_id);
  }
  snprintf(sql + off, sizeof sql - (size_t)off, ")");
  CHECK_EQ_INT(q_ll(mon, sql), W);

  /* The tasks' view: their own session says TLS. */
  memset(&res, 0, sizeof res);
  CHECK_OK(dbfork_map(pool, 40, in_empty, out_check, &res));
  fprintf(stderr, "tasks ok %d, on TLS %d, version %s\n", res.ok, res.tls, res.version);
  CHECK_EQ_INT(res.ok, 40);
  CHECK_EQ_INT(res.tls, 40);
  CHECK(strncmp(res.version, "TLS", 3) == 0);
  for (i = 0; i < 40; i++)
    CHECK(res.conn[i] == ws[0].connection_id || res.conn[i] == ws[1].connection_id);

  CHECK_OK(dbfork_pool_join(pool));
  dbfork_pool_free(pool);
  mysql_close(mon);
}

TEST(tls_required_every_worker_session_is_tls) {
  dbfork_options o;
  env_load();
  tls_options(&o, "REQUIRED", NULL);
  run_tls_pool(&o);
}

TEST(tls_verify_ca_every_worker_session_is_tls) {
  dbfork_options o;
  env_load();
  tls_options(&o, "VERIFY_CA", E.ca);
  run_tls_pool(&o);
}

TEST(tls_verify_identity_every_worker_session_is_tls) {
  dbfork_options o;
  env_load();
  /* The server certificate's SAN holds IP:127.0.0.1, the name we connect to. */
  tls_options(&o, "VERIFY_IDENTITY", E.ca);
  run_tls_pool(&o);
}

/* The other side of VERIFY_IDENTITY: the server also listens on 127.0.0.2,
 * a name its certificate does not hold. The chain verifies, the name does
 * not: the start must fail, naming the certificate. (With MariaDB
 * Connector/C, VERIFY_CA verifies the name too; see src/mysql.c set_ssl.) */
TEST(tls_verify_identity_rejects_a_name_not_in_the_certificate) {
  dbfork_options o;
  dbfork_pool *pool = NULL;
  int rc;
  env_load();
  tls_options(&o, "VERIFY_IDENTITY", E.ca);
  o.host = "127.0.0.2";
  CHECK_OK(dbfork_pool_new(&pool, &o));
  rc = dbfork_pool_start(pool);
  fprintf(stderr, "VERIFY_IDENTITY to 127.0.0.2: %s: %s\n", dbfork_err_name(rc),
          dbfork_pool_last_error(pool));
  CHECK_ERR(rc, DBFORK_EINIT);
  if (!names_certificate_problem(dbfork_pool_last_error(pool)))
    FAIL("the error does not name the certificate problem: '%s'", dbfork_pool_last_error(pool));
  dbfork_pool_free(pool);
}

TEST(tls_client_certificate_is_presented) {
  dbfork_options o;
  env_load();
  /* dbfork_x509 (tls_server.sh) requires a client certificate signed by the
   * CA: only ssl_cert/ssl_key get a worker in. */
  tls_options(&o, "VERIFY_CA", E.ca);
  o.user = "dbfork_x509";
  o.password = "x509-pw";
  o.ssl_cert = E.cert;
  o.ssl_key = E.key;
  run_tls_pool(&o);

  /* Without the certificate the same user is refused: start fails fast. */
  {
    dbfork_pool *pool = NULL;
    int rc;
    tls_options(&o, "VERIFY_CA", E.ca);
    o.user = "dbfork_x509";
    o.password = "x509-pw";
    CHECK_OK(dbfork_pool_new(&pool, &o));
    rc = dbfork_pool_start(pool);
    fprintf(stderr, "without a client certificate: %s: %s\n", dbfork_err_name(rc),
            dbfork_pool_last_error(pool));
    CHECK_ERR(rc, DBFORK_EINIT);
    CHECK(strstr(dbfork_pool_last_error(pool), "Access denied") != NULL);
    dbfork_pool_free(pool);
  }
}

TEST(tls_wrong_ca_fails_start_naming_the_certificate) {
  dbfork_options o;
  dbfork_pool *pool = NULL;
  MYSQL *mon;
  long long t0;
  int rc;
  env_load();
  mon = monitor();
  tls_options(&o, "VERIFY_CA", E.wrong_ca);
  o.max_start_failures = 0; /* the default (3): still fast, a TLS failure is permanent */
  CHECK_OK(dbfork_pool_new(&pool, &o));
  t0 = tu_now_ms();
  rc = dbfork_pool_start(pool);
  fprintf(stderr, "wrong CA: %s after %lld ms: %s\n", dbfork_err_name(rc), tu_now_ms() - t0,
          dbfork_pool_last_error(pool));
  CHECK_ERR(rc, DBFORK_EINIT);
  if (!names_certificate_problem(dbfork_pool_last_error(pool)))
    FAIL("the error does not name the certificate problem: '%s'", dbfork_pool_last_error(pool));
  /* No worker got a session in. */
  {
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*) FROM performance_schema.session_connect_attrs WHERE "
             "ATTR_NAME = 'program_name' AND ATTR_VALUE = '%s'",
             o.program_name);
    CHECK_EQ_INT(q_ll(mon, sql), 0);
  }
  dbfork_pool_free(pool);
  mysql_close(mon);
}

TEST(tls_disabled_is_refused_by_the_server) {
  /* The control experiment: the server really refuses a TCP session
   * without TLS, so the passing modes above did negotiate it. */
  dbfork_options o;
  dbfork_pool *pool = NULL;
  int rc;
  env_load();
  tls_options(&o, "DISABLED", NULL);
  o.init = NULL;
  CHECK_OK(dbfork_pool_new(&pool, &o));
  rc = dbfork_pool_start(pool);
  fprintf(stderr, "ssl_mode DISABLED: %s: %s\n", dbfork_err_name(rc), dbfork_pool_last_error(pool));
  CHECK_ERR(rc, DBFORK_EINIT);
  dbfork_pool_free(pool);
}

/* ---- the CLI ---- */

/* Runs argv with MYSQL_PWD set; stdout/stderr go to files. Returns the exit
 * status (or 128+signal), after at most 120 s. */
static int run_cli(char *const argv[], const char *out, const char *err) {
  pid_t pid = fork();
  int st;
  long long end = tu_now_ms() + 120000;
  CHECK(pid >= 0);
  if (pid == 0) {
    int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fo < 0 || fe < 0) _exit(126);
    dup2(fo, 1);
    dup2(fe, 2);
    setenv("MYSQL_PWD", E.password, 1);
    execv(argv[0], argv);
    _exit(127);
  }
  for (;;) {
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) break;
    if (tu_now_ms() > end) {
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      FAIL("%s did not finish in 120 s", argv[0]);
    }
    tu_sleep_ms(20);
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "r");
  char *s = calloc(1, 1 << 16);
  CHECK(f != NULL && s != NULL);
  if (fread(s, 1, (1 << 16) - 1, f) == 0) s[0] = 0;
  fclose(f);
  return s;
}

static void cli_demo(const char *mode, const char *ca, int want_exit, const char *want_in_err) {
  const char *cli = getenv("DBFORK_CLI");
  char port[16], ssl_mode[64], ssl_ca[600], table[128], out[256], err[256];
  char *o, *e;
  int rc;
  if (!cli) SKIP("DBFORK_CLI not set");
  snprintf(port, sizeof port, "--port=%u", E.port);
  snprintf(ssl_mode, sizeof ssl_mode, "--ssl-mode=%s", mode);
  snprintf(ssl_ca, sizeof ssl_ca, "--ssl-ca=%s", ca);
  snprintf(table, sizeof table, "--table=%s.%s", E.db, tu_unique_name());
  snprintf(out, sizeof out, "/tmp/dbfork-tls-%d.out", (int)getpid());
  snprintf(err, sizeof err, "/tmp/dbfork-tls-%d.err", (int)getpid());
  {
    char *argv[] = {(char *)cli,
                    "demo",
                    "--no-defaults",
                    "--host=127.0.0.1",
                    port,
                    "--user=dbfork_tls",
                    ssl_mode,
                    ssl_ca,
                    table,
                    "--rows=3000",
                    "--batch=100",
                    "--workers=2",
                    NULL};
    rc = run_cli(argv, out, err);
  }
  o = slurp(out);
  e = slurp(err);
  fprintf(stderr, "dbfork demo %s %s: exit %d\n--- stdout\n%s--- stderr\n%s---\n", mode, ca, rc, o,
          e);
  CHECK_EQ_INT(rc, want_exit);
  if (want_in_err && !names_certificate_problem(e))
    FAIL("the CLI's error does not name the certificate problem");
  if (want_exit == 0) CHECK(strstr(o, "rows written   3,000") != NULL);
  unlink(out);
  unlink(err);
  free(o);
  free(e);
}

TEST(tls_cli_ssl_mode_verify_ca) {
  env_load();
  cli_demo("VERIFY_CA", E.ca, 0, NULL);
}

TEST(tls_cli_ssl_mode_verify_identity) {
  env_load();
  cli_demo("VERIFY_IDENTITY", E.ca, 0, NULL);
}

TEST(tls_cli_wrong_ca_fails_naming_the_certificate) {
  env_load();
  cli_demo("VERIFY_CA", E.wrong_ca, 2, "certificate");
}
