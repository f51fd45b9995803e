/*
 * abi_program.c — a program that uses the caller-allocated structs of
 * dbfork.h the way every program does, built twice by tests/abi/ against a
 * library whose layout differs from its header's: the older-program build
 * uses include/dbfork.h with a library whose structs have grown by a field;
 * the newer-program build (ABI_NEWER_PROGRAM) uses the grown header with
 * this library. Either way every field must arrive, nothing past the
 * caller's structs may be written, and the pool must work (against the test
 * server). Exits 0, or 1 with the reason.
 */
#include <dbfork.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GUARD 0xA5

static int failed;
#define EXPECT(c)                                                    \
  do {                                                               \
    if (!(c)) {                                                      \
      fprintf(stderr, "abi_program:%d: FAILED: %s\n", __LINE__, #c); \
      failed = 1;                                                    \
    }                                                                \
  } while (0)

static int guard_intact(const unsigned char *g, size_t n) {
  size_t i;
  for (i = 0; i < n; i++)
    if (g[i] != GUARD) return 0;
  return 1;
}

static int debug_lines;
static void on_log(int level, const char *msg, void *arg) {
  (void)arg;
  if (level == DBFORK_LOG_DEBUG && strstr(msg, "pool: new -> running")) debug_lines++;
}

static int reply_arg(dbfork_worker *w, const void *in, size_t len, void *arg) {
  (void)in;
  (void)len;
  return dbfork_worker_reply(w, arg, strlen(arg));
}

static char replies[2][16];
static int calls;
static void on_done(const dbfork_result *r, void *ud) {
  char *out = ud;
  size_t n = r->len < 15 ? r->len : 15;
  if (r->status) fprintf(stderr, "task: %s: %s\n", dbfork_err_name(r->status), r->message);
  memcpy(out, r->data, n);
  out[n] = 0;
  calls++;
}

static const char *env(const char *name, const char *dflt) {
  const char *v = getenv(name);
  return v && *v ? v : dflt;
}

int main(void) {
  struct {
    dbfork_options o;
    unsigned char guard[64];
  } g;
  struct {
    dbfork_task_def t[2];
    unsigned char guard[64];
  } tasks = {{DBFORK_TASK("a", reply_arg, "a"), DBFORK_TASK("b", reply_arg, "b")}, {0}};
  struct {
    dbfork_pool_stats ps;
    unsigned char guard[64];
  } s;
  struct {
    dbfork_worker_stats ws[2];
    unsigned char guard[64];
  } w;
  dbfork_pool *p = NULL;
  char big[1001];
  size_t k;

  /* Init writes the caller's struct, and nothing past it. */
  memset(&g, GUARD, sizeof g);
  dbfork_options_init(&g.o);
  EXPECT(guard_intact(g.guard, sizeof g.guard));
  EXPECT(g.o.workers == 0 && g.o.log == NULL && g.o.log_level == 0);

  /* Every field, the last one of the caller's layout included, arrives. */
  memset(tasks.guard, GUARD, sizeof tasks.guard);
  g.o.workers = 2;
  g.o.unix_socket = env("DBFORK_TEST_SOCKET", NULL);
  g.o.user = env("DBFORK_TEST_USER", "dbfork");
  g.o.password = env("DBFORK_TEST_PASSWORD", "dbfork-test-pw");
  g.o.database = env("DBFORK_TEST_DB", "dbfork_test");
  g.o.no_defaults = 1;
  g.o.program_name = "dbfork-abi-test";
  g.o.tasks = tasks.t;
  g.o.ntasks = 2;
  g.o.max_payload = 1000;
  g.o.log = on_log;
  g.o.log_level = DBFORK_LOG_DEBUG;
#ifdef ABI_NEWER_PROGRAM
  /* A field this library does not know, set: refused, not ignored. */
  g.o.abi_test_added[0] = 1;
  EXPECT(dbfork_pool_new(&p, &g.o) == DBFORK_EINVAL && p == NULL);
  g.o.abi_test_added[0] = 0;
#endif
  EXPECT(dbfork_pool_new(&p, &g.o) == 0);
  if (!p) return 1;
  memset(big, 'x', sizeof big);
  EXPECT(dbfork_submit(p, big, sizeof big, on_done, replies[0]) == DBFORK_ETOOBIG);
  EXPECT(dbfork_pool_start(p) == 0);
  EXPECT(debug_lines == 1);
  EXPECT(dbfork_submit_task(p, 1, "x", 1, on_done, replies[1]) == 0);
  EXPECT(dbfork_submit_task(p, 0, "x", 1, on_done, replies[0]) == 0);
  EXPECT(dbfork_pool_wait_idle(p) == 0);
  EXPECT(calls == 2 && !strcmp(replies[0], "a") && !strcmp(replies[1], "b"));

  /* Stats are written within the caller's structs, stepping by its size. */
  memset(&s, GUARD, sizeof s);
  memset(&w, GUARD, sizeof w);
  EXPECT(dbfork_pool_stats_get(p, &s.ps, w.ws, 2) == 2);
  EXPECT(guard_intact(s.guard, sizeof s.guard));
  EXPECT(guard_intact(w.guard, sizeof w.guard));
  EXPECT(s.ps.submitted == 2 && s.ps.completed_ok == 2 && s.ps.finalizers_failed == 0);
  for (k = 0; k < 2; k++) {
    EXPECT(w.ws[k].slot == (int)k);
    EXPECT(w.ws[k].pid > 0 && w.ws[k].connection_id > 0);
    EXPECT(w.ws[k].state == DBFORK_WORKER_IDLE);
#ifdef ABI_NEWER_PROGRAM
    /* What this library does not know reads 0, not what was there. */
    EXPECT(w.ws[k].abi_test_added[0] == 0 && w.ws[k].abi_test_added[1] == 0);
#endif
  }
  EXPECT(w.ws[0].pid != w.ws[1].pid);
#ifdef ABI_NEWER_PROGRAM
  EXPECT(s.ps.abi_test_added[0] == 0 && s.ps.abi_test_added[1] == 0);
#endif
  EXPECT(dbfork_pool_join(p) == 0);
  dbfork_pool_free(p);
  printf("abi_program: %s (%s program, libdbfork %s)\n", failed ? "FAILED" : "ok",
#ifdef ABI_NEWER_PROGRAM
         "newer",
#else
         "older",
#endif
         dbfork_version());
  return failed;
}
