/*
 * abi_load_program.c — the loader's caller-allocated structs
 * (dbfork_load_options, dbfork_load_stats) used the way every program uses
 * them, built twice by tests/abi/ against a libdbfork-load whose layout
 * differs from its header's (see abi_program.c for the core's): the
 * older-program build uses include/dbfork/load.h with a library whose
 * structs grew by a field; the newer-program build (ABI_NEWER_PROGRAM) uses
 * the grown header with this library. Either way the options must arrive,
 * nothing past the caller's stats may be written, and a CSV file must load
 * exactly (against the test server). A newer program that sets a field
 * this library does not know is refused. Exits 0, or 1 with the reason.
 */
#include <dbfork.h>
#include <dbfork/load.h>
#include <mysql.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GUARD 0xA5
#define ROWS 500

static int failed;
#define EXPECT(c)                                                         \
  do {                                                                    \
    if (!(c)) {                                                           \
      fprintf(stderr, "abi_load_program:%d: FAILED: %s\n", __LINE__, #c); \
      failed = 1;                                                         \
    }                                                                     \
  } while (0)

static const char *env(const char *name, const char *dflt) {
  const char *v = getenv(name);
  return v && *v ? v : dflt;
}

static int rejects;
static void on_reject(dbfork_load *l, const dbfork_load_reject *r, void *ud) {
  (void)l;
  (void)r;
  (void)ud;
  rejects++;
}

/* A table of each program's own: the two run at the same time (ctest -j),
 * and dropping one another's table made either fail now and then. */
#ifdef ABI_NEWER_PROGRAM
#define TABLE "abi_load_newer"
#else
#define TABLE "abi_load_older"
#endif

int main(void) {
  dbfork_options o;
  struct {
    dbfork_load_options lo;
    unsigned char guard[64];
  } g;
  struct {
    dbfork_load_stats st;
    unsigned char guard[64];
  } s;
  dbfork_load *l = NULL;
  MYSQL *m = NULL;
  char path[] = "/tmp/dbfork-abi-load-XXXXXX", err[512];
  FILE *f;
  int fd, i, rc;
  size_t k;

  dbfork_options_init(&o);
  o.unix_socket = getenv("DBFORK_TEST_SOCKET");
  o.user = env("DBFORK_TEST_USER", "dbfork");
  o.password = env("DBFORK_TEST_PASSWORD", "");
  o.database = env("DBFORK_TEST_DB", "dbfork_test");
  o.no_defaults = 1;
  o.workers = 1;
  if (dbfork_connect(&m, &o, err, sizeof err)) {
    fprintf(stderr, "abi_load_program: %s\n", err);
    return 1;
  }
  if (mysql_query(m, "DROP TABLE IF EXISTS " TABLE) ||
      mysql_query(m, "CREATE TABLE " TABLE " (id INT PRIMARY KEY, v INT) ENGINE=InnoDB")) {
    fprintf(stderr, "abi_load_program: %s\n", mysql_error(m));
    return 1;
  }
  if ((fd = mkstemp(path)) < 0 || !(f = fdopen(fd, "w"))) return 1;
  for (i = 1; i <= ROWS; i++) fprintf(f, "%d,%d\n", i, i * 3);
  fprintf(f, "bad row\n");
  fclose(f);

  memset(&g, GUARD, sizeof g);
  dbfork_load_options_init(&g.lo);
  EXPECT(g.lo.size == sizeof g.lo);
  for (k = 0; k < sizeof g.guard; k++) EXPECT(g.guard[k] == GUARD);
  g.lo.file = path;
  g.lo.table = TABLE;
  g.lo.restart = 1;
  g.lo.max_errors = 1;
  g.lo.on_reject = on_reject; /* the last field of 1.0 before ud: it must arrive */

#ifdef ABI_NEWER_PROGRAM
  /* A field this library does not know, set: refused, not ignored. */
  g.lo.abi_test_added[0] = 1;
  EXPECT(dbfork_load_new(&l, &o, &g.lo) == DBFORK_EINVAL);
  EXPECT(l == NULL);
  g.lo.abi_test_added[0] = 0;
#endif
  rc = dbfork_load_new(&l, &o, &g.lo);
  EXPECT(rc == 0);
  if (rc == 0) {
    rc = dbfork_load_run(l);
    if (rc) fprintf(stderr, "run: %s: %s\n", dbfork_err_name(rc), dbfork_load_last_error(l));
    EXPECT(rc == 0);
    memset(&s, GUARD, sizeof s);
    EXPECT(dbfork_load_stats_get(l, &s.st) == 0);
    for (k = 0; k < sizeof s.guard; k++) EXPECT(s.guard[k] == GUARD);
    EXPECT(s.st.rows_loaded == ROWS);
    EXPECT(s.st.rejected == 1);
    EXPECT(s.st.done == 1 && s.st.status == 0);
#ifdef ABI_NEWER_PROGRAM
    EXPECT(s.st.abi_test_added[0] == 0 && s.st.abi_test_added[1] == 0); /* zeroed */
#endif
    dbfork_load_free(l);
  }
  EXPECT(rejects == 1);
  if (mysql_query(m, "SELECT COUNT(*), SUM(v) FROM " TABLE) == 0) {
    MYSQL_RES *r = mysql_store_result(m);
    MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
    EXPECT(row && atoi(row[0]) == ROWS && atol(row[1]) == 3L * ROWS * (ROWS + 1) / 2);
    if (r) mysql_free_result(r);
  }
  mysql_query(m, "DROP TABLE " TABLE);
  dbfork_mysql_close(m);
  remove(path);
  if (!failed) printf("abi_load_program: ok\n");
  return failed;
}
