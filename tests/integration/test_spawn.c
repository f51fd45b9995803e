/*
 * The spawn start method (docs/policies.md, "Start methods"): every worker
 * is an exec of this test binary, whose main() (testutil_main.c) calls
 * dbfork_child_main() first. Asserted on what the server and /proc see.
 */
#include "itest.h"

#include <stdint.h>
#include <sys/auxv.h>
#include <sys/personality.h>

/* What a worker says about itself. */
typedef struct where {
  uint64_t ld_base; /* AT_BASE: where the dynamic loader is mapped */
  uint64_t stack;   /* a local's address */
  long pid, ppid;
  char comm[16];
} where;

static int where_task(dbfork_worker *w, const void *in, size_t len, void *arg) {
  where r;
  FILE *f = fopen("/proc/self/comm", "r");
  (void)in;
  (void)len;
  (void)arg;
  memset(&r, 0, sizeof r);
  r.ld_base = getauxval(AT_BASE);
  r.stack = (uint64_t)(uintptr_t)&r;
  r.pid = (long)getpid();
  r.ppid = (long)getppid();
  if (f) {
    if (!fgets(r.comm, sizeof r.comm, f)) r.comm[0] = 0;
    fclose(f);
  }
  r.comm[strcspn(r.comm, "\n")] = 0;
  return dbfork_worker_reply(w, &r, sizeof r);
}

#define NWHERE 4
static where seen[NWHERE];
static int nseen;
static void where_done(const dbfork_result *r, void *ud) {
  (void)ud;
  CHECK_EQ_INT(r->status, 0);
  CHECK_EQ_INT(r->len, sizeof(where));
  if (nseen < NWHERE) memcpy(&seen[nseen++], r->data, sizeof(where));
}

/* NWHERE tasks, each in a process of its own (max_tasks_per_worker=1). */
static void collect_where(int method, const char *prog) {
  dbfork_options o;
  dbfork_pool *p;
  int i;
  it_options(&o, prog, 2);
  o.start_method = method;
  o.task = where_task;
  o.max_tasks_per_worker = 1;
  o.prefetch = 1;
  nseen = 0;
  CHECK_OK(dbfork_pool_new(&p, &o));
  CHECK_OK(dbfork_pool_start(p));
  for (i = 0; i < NWHERE; i++) CHECK_OK(dbfork_submit(p, "x", 1, where_done, NULL));
  CHECK_OK(dbfork_pool_join(p));
  dbfork_pool_free(p);
  CHECK_EQ_INT(nseen, NWHERE);
}

static int aslr_on(void) {
  FILE *f = fopen("/proc/sys/kernel/randomize_va_space", "r");
  int v = 0;
  if (f) {
    if (fscanf(f, "%d", &v) != 1) v = 0;
    fclose(f);
  }
  return v > 0 && !(personality(0xffffffff) & ADDR_NO_RANDOMIZE);
}

/* The control run with fork shows that the probe can tell: a forked worker
 * has the parent's layout exactly. A spawned one has a layout of its own
 * (the loader and the stack elsewhere), is still the pool process's child,
 * and carries the program's name, not "exe". */
TEST(spawned_worker_has_its_own_address_space_layout) {
  MYSQL *m = tu_connect();
  uint64_t my_ld = getauxval(AT_BASE);
  char prog[64], comm[16] = "";
  long long ac0 = tu_status(m, "Aborted_clients");
  FILE *f = fopen("/proc/self/comm", "r");
  int i, distinct = 0;
  if (!aslr_on()) SKIP("address space layout randomisation is off");
  CHECK(f != NULL);
  CHECK(fgets(comm, sizeof comm, f) != NULL);
  fclose(f);
  comm[strcspn(comm, "\n")] = 0;

  snprintf(prog, sizeof prog, "%.40s_fork", tu_unique_name());
  collect_where(DBFORK_START_FORK, prog);
  for (i = 0; i < NWHERE; i++) CHECK_EQ_INT(seen[i].ld_base, my_ld);

  collect_where(DBFORK_START_SPAWN, tu_unique_name());
  for (i = 0; i < NWHERE; i++) {
    fprintf(stderr, "spawned worker %ld: loader at %#llx (parent's %#llx), stack %#llx\n",
            seen[i].pid, (unsigned long long)seen[i].ld_base, (unsigned long long)my_ld,
            (unsigned long long)seen[i].stack);
    CHECK(seen[i].ld_base != my_ld);
    CHECK_EQ_INT(seen[i].ppid, (long)getpid());
    CHECK_EQ_STR(seen[i].comm, comm);
    if (i > 0 && seen[i].ld_base != seen[0].ld_base) distinct++;
  }
  CHECK(distinct > 0); /* and from each other */
  CHECK_EQ_INT(tu_wait_sessions(m, tu_unique_name(), 0, 10000), 0);
  CHECK_EQ_INT(tu_status(m, "Aborted_clients"), ac0);
}

/* A pool of 2 whose workers the server sees as `user`, joined. */
static void two_sessions_of(MYSQL *m, const dbfork_options *o, const char *user) {
  dbfork_pool *p;
  CHECK_OK(dbfork_pool_new(&p, o));
  CHECK_OK(dbfork_pool_start(p));
  CHECK_EQ_INT(
      tu_query_ll(m, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = '%s'", user),
      2);
  CHECK_OK(dbfork_pool_join(p));
  dbfork_pool_free(p);
}

/* The configuration goes to every worker as it starts: a pool made after a
 * password change connects with the new one, and one made with the old
 * password fails (so the credentials are really the ones sent). */
TEST(credentials_changed_between_pools_are_used) {
  MYSQL *m = tu_connect();
  dbfork_options o;
  dbfork_pool *p;
  char user[64], pw1[64], pw2[64];
  snprintf(user, sizeof user, "sp%d", (int)getpid());
  snprintf(pw1, sizeof pw1, "first-%d", (int)getpid());
  snprintf(pw2, sizeof pw2, "second-%d", (int)getpid());
  tu_exec(m, "DROP USER IF EXISTS '%s'@'localhost'", user);
  tu_exec(m, "CREATE USER '%s'@'localhost' IDENTIFIED BY '%s'", user, pw1);
  tu_exec(m, "GRANT ALL ON dbfork_test.* TO '%s'@'localhost'", user);

  it_options(&o, tu_unique_name(), 2);
  o.start_method = DBFORK_START_SPAWN;
  o.user = user;
  o.password = pw1;
  two_sessions_of(m, &o, user);
  CHECK_EQ_INT(tu_wait_sessions(m, tu_unique_name(), 0, 10000), 0);

  tu_exec(m, "ALTER USER '%s'@'localhost' IDENTIFIED BY '%s'", user, pw2);
  o.password = pw2;
  two_sessions_of(m, &o, user);

  o.password = pw1;
  o.max_start_failures = 1;
  o.log = NULL; /* the failure is expected */
  CHECK_OK(dbfork_pool_new(&p, &o));
  CHECK_ERR(dbfork_pool_start(p), DBFORK_EINIT);
  CHECK_CONTAINS(dbfork_pool_last_error(p), "Access denied");
  dbfork_pool_free(p);
  CHECK_EQ_INT(tu_wait_sessions(m, tu_unique_name(), 0, 10000), 0);
  tu_exec(m, "DROP USER '%s'@'localhost'", user);
}

/* ---- pointers: static data is rebuilt, as the program started ---- */
static const char literal_tag[] = "a string literal's bytes";
static char runtime_tag[64] = "as initialised";

static int arg_task(dbfork_worker *w, const void *in, size_t len, void *arg) {
  (void)in;
  (void)len;
  return dbfork_worker_reply(w, arg, strlen(arg));
}

static char replies[2][64];
static void reply_done(const dbfork_result *r, void *ud) {
  char *out = ud;
  CHECK_EQ_INT(r->status, 0);
  snprintf(out, 64, "%.*s", (int)r->len, (const char *)r->data);
}

static char last_error_log[512];
static void keep_log(int level, const char *msg, void *arg) {
  (void)arg;
  if (level == DBFORK_LOG_ERROR) snprintf(last_error_log, sizeof last_error_log, "%s", msg);
  fprintf(stderr, "[dbfork %d] %s\n", level, msg);
}

TEST(static_data_pointers_are_rebuilt_and_heap_ones_refused) {
  MYSQL *m = tu_connect();
  dbfork_options o;
  dbfork_pool *p;
  char *heap = strdup("on the heap");
  dbfork_task_def tasks[] = {DBFORK_TASK("literal", arg_task, (void *)literal_tag),
                             DBFORK_TASK("runtime", arg_task, runtime_tag)};
  /* Written after the program started: the worker sees the initial bytes. */
  snprintf(runtime_tag, sizeof runtime_tag, "written at run time");
  it_options(&o, tu_unique_name(), 1);
  o.start_method = DBFORK_START_SPAWN;
  o.task = NULL;
  o.tasks = tasks;
  o.ntasks = 2;
  CHECK_OK(dbfork_pool_new(&p, &o));
  CHECK_OK(dbfork_pool_start(p));
  CHECK_OK(dbfork_submit_task(p, 0, "", 0, reply_done, replies[0]));
  CHECK_OK(dbfork_submit_task(p, 1, "", 0, reply_done, replies[1]));
  CHECK_OK(dbfork_pool_join(p));
  dbfork_pool_free(p);
  CHECK_EQ_STR(replies[0], literal_tag);
  CHECK_EQ_STR(replies[1], "as initialised");

  tasks[1].arg = heap;
  o.log = keep_log;
  CHECK_OK(dbfork_pool_new(&p, &o));
  CHECK_ERR(dbfork_pool_start(p), DBFORK_EINVAL);
  CHECK_CONTAINS(last_error_log, "option task 1 (\"runtime\") arg");
  CHECK_CONTAINS(last_error_log, "is in no loaded module");
  CHECK_CONTAINS(dbfork_pool_last_error(p), "a spawned worker cannot rebuild it");
  dbfork_pool_free(p);
  free(heap);
  CHECK_EQ_INT(tu_wait_sessions(m, tu_unique_name(), 0, 10000), 0);
}

/* ---- a program without the hook ---- */
static void run_no_hook(const char *mode, const char *child, int *status, char **out) {
  char path[256];
  const char *argv[4] = {IT_SPAWN_NO_HOOK, mode, child, NULL};
  pid_t pid;
  snprintf(path, sizeof path, "/tmp/%s_%s.out", tu_unique_name(), mode);
  pid = tu_spawn((char *const *)argv, path, path);
  *status = tu_wait_exit(pid, 30000, "it_spawn_no_hook");
  *out = tu_read_file(path, NULL);
  CHECK(*out != NULL);
  fprintf(stderr, "%s %s: exit %d: %s\n", mode, child ? child : "", *status, *out);
  unlink(path);
}

TEST(program_without_the_hook_fails_pool_new_and_says_what_to_add) {
  int st;
  char *out;
  run_no_hook("nohook", NULL, &st, &out);
  CHECK_EQ_INT(st, 0);
  CHECK_CONTAINS(out, "did not call dbfork_child_main()");
  CHECK_CONTAINS(out, "int rc; if (dbfork_child_main(&argc, &argv, &rc)) return rc;");
  free(out);
}

/* The program went through the hook, but its spawned copy does not (a hook
 * on some paths only): the copy that exits at once and the copy that
 * hangs both fail the start with what to add, and neither is left behind
 * (the program checks it has no child), nor did either get a session. */
TEST(spawned_copy_that_skips_the_hook_fails_pool_start_and_is_reaped) {
  MYSQL *m = tu_connect();
  static const char *const modes[] = {"exit", "hang"};
  size_t i;
  for (i = 0; i < 2; i++) {
    int st;
    char *out;
    long long t0 = tu_now_ms();
    run_no_hook("parent-only", modes[i], &st, &out);
    CHECK_EQ_INT(st, 0);
    CHECK_CONTAINS(out, "did not reach dbfork_child_main()");
    CHECK_CONTAINS(out, i == 0 ? "without answering" : "no answer within 5 s");
    CHECK_CONTAINS(out, "int rc; if (dbfork_child_main(&argc, &argv, &rc)) return rc;");
    CHECK(tu_now_ms() - t0 < 20000);
    free(out);
  }
  CHECK_EQ_INT(tu_sessions(m, "it_spawn_no_hook"), 0);
}
