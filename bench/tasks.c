/*
 * bench/tasks.c — trivial-task throughput and pool start time of dbfork.
 *
 * Built and run by bench/run.sh (see bench/README.md); uses only the public
 * API plus the client library (for the raw-connect reference number).
 *
 *   tasks [options] [what...]     what: map submit batch start recycle machine all
 *                                 (default all)
 *     --socket S --user U --password P --database D   connection (explicit)
 *     --defaults-file F   also read only this option file (else the usual ones)
 *     --no-defaults       read no option file at all
 *     -n N                unbatched tasks per run              (default 1000000)
 *     -k K                items per batched task               (default 1000)
 *     -b B                batched tasks per run                (default 10000)
 *     -r R                throughput runs; the median is kept  (default 3)
 *     -s S                pool starts; the median is kept      (default 30)
 *     --no-start-refs     start: skip the reference figures measured beside
 *                         each start (raw connect, fork+exit, a bare pre-fork),
 *                         so the process's CPU time is the starts' alone
 *     --recycle-tasks T   tasks per recycle run (max_tasks_per_worker=1, so
 *                         every task is a new worker and connection; default 200)
 *     --prefetch P        options.prefetch (default: the library's)
 *     --queue Q           options.queue_max (default: the library's)
 *     --start-method M    fork (default), forkserver (dbfork_forkserver_start()
 *                         is then called first thing in main) or spawn (each
 *                         worker an exec of this program: main() begins with
 *                         the dbfork_child_main() hook)
 *
 * Output: one "RESULT <key> <value> <unit>" line per metric on stdout (what
 * run.sh parses), details on stderr. Every result is checked; a wrong or
 * failed result exits 1.
 */
#define _GNU_SOURCE
#include <dbfork.h>
#include <mysql.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double cpu_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_d);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void die(const char *what, int rc) {
  fprintf(stderr, "tasks: %s: %s (%s)\n", what, dbfork_strerror(rc), dbfork_err_name(rc));
  exit(1);
}

static void on_log(int level, const char *msg, void *arg) {
  (void)arg;
  fprintf(stderr, "tasks: dbfork log[%d]: %s\n", level, msg);
}

/* ---- configuration ---- */
static const char *g_socket, *g_user, *g_password, *g_database, *g_defaults_file;
static int g_no_defaults;
static int g_start_method = DBFORK_START_FORK;
static unsigned int g_prefetch, g_queue;

static void base_options(dbfork_options *o) {
  dbfork_options_init(o);
  o->workers = 2;
  o->unix_socket = g_socket;
  o->user = g_user;
  o->password = g_password;
  o->database = g_database;
  o->defaults_file = g_defaults_file;
  o->no_defaults = g_no_defaults;
  o->start_method = g_start_method;
  o->prefetch = g_prefetch;
  o->queue_max = g_queue;
  o->log = on_log;
  o->log_level = DBFORK_LOG_WARN;
}

/* ---- worker side: timestamps for the start breakdown ----
 * A MAP_SHARED page survives fork shared: workers write when they were
 * forked (pthread_atfork child handler) and when their initializer ran
 * (after the built-in connect). */
typedef struct stamps {
  double forked[2];
  double inited[2];
  double cpu_ms[2]; /* the worker's CPU time (user+sys) until its initializer ran */
  long minflt[2];   /* its minor page faults until then */
  int nforked;
} stamps;
static stamps *g_st;
static volatile int g_stamp_fork;

static void atfork_child(void) {
  if (g_stamp_fork && g_st) {
    int i = __sync_fetch_and_add(&g_st->nforked, 1);
    if (i < 2) g_st->forked[i] = now_s();
  }
}

static int init_stamp(dbfork_worker *w, void *arg) {
  (void)arg;
  int s = dbfork_worker_slot(w);
  struct rusage ru;
  if (g_st && s >= 0 && s < 2) {
    g_st->inited[s] = now_s();
    /* A forked child's rusage starts at zero: this is its whole life so far
     * (post-fork hygiene + the built-in connect). Contention-proof, unlike
     * wall time on a busy machine. */
    getrusage(RUSAGE_SELF, &ru);
    g_st->cpu_ms[s] = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
                      (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
    g_st->minflt[s] = ru.ru_minflt;
  }
  return 0;
}

/* Unbatched: echo the 8-byte number. */
static int task_echo(dbfork_worker *w, const void *in, size_t len, void *arg) {
  (void)arg;
  return dbfork_worker_reply(w, in, len);
}

/* Batched: the payload is K uint64 numbers; reply with 2x+1 of each. */
static int task_batch(dbfork_worker *w, const void *in, size_t len, void *arg) {
  (void)arg;
  uint64_t out[4096];
  const uint8_t *p = in;
  size_t n = len / 8, i, done = 0;
  while (done < n) {
    size_t m = n - done < 4096 ? n - done : 4096;
    memcpy(out, p + done * 8, m * 8);
    for (i = 0; i < m; i++) out[i] = out[i] * 2 + 1;
    int rc = dbfork_worker_reply(w, out, m * 8);
    if (rc) return rc;
    done += m;
  }
  return 0;
}

/* A started pool of base_options() running `task`; max_tasks: options'
 * max_tasks_per_worker (0 = never recycle). */
static dbfork_pool *pool_up(dbfork_task_fn task, dbfork_init_fn init, unsigned max_tasks) {
  dbfork_options o;
  dbfork_pool *p;
  int rc;
  base_options(&o);
  o.task = task;
  o.init = init;
  o.max_tasks_per_worker = max_tasks;
  rc = dbfork_pool_new(&p, &o);
  if (rc) die("dbfork_pool_new", rc);
  rc = dbfork_pool_start(p);
  if (rc) {
    fprintf(stderr, "tasks: start: %s\n", dbfork_pool_last_error(p));
    die("dbfork_pool_start", rc);
  }
  return p;
}

static void pool_down(dbfork_pool *p) {
  int rc = dbfork_pool_join(p);
  if (rc) die("dbfork_pool_join", rc);
  dbfork_pool_free(p);
}

/* ---- (a) unbatched, dbfork_map ---- */
typedef struct echo_ctx {
  uint64_t v;
  size_t bad, got;
  size_t per_slot[2]; /* how the tasks spread over the two workers */
} echo_ctx;

static int echo_in(size_t i, const void **data, size_t *len, void *ud) {
  echo_ctx *c = ud;
  c->v = (uint64_t)i;
  *data = &c->v;
  *len = 8;
  return 0;
}

static int echo_out(size_t i, const dbfork_result *r, void *ud) {
  echo_ctx *c = ud;
  uint64_t v;
  c->got++;
  if (r->worker_slot >= 0 && r->worker_slot < 2) c->per_slot[r->worker_slot]++;
  if (r->status || r->len != 8) {
    c->bad++;
    return 0;
  }
  memcpy(&v, r->data, 8);
  if (v != (uint64_t)i) c->bad++;
  return 0;
}

static double run_map(dbfork_pool *p, size_t n) {
  echo_ctx c;
  double t0, t;
  int rc;
  memset(&c, 0, sizeof c);
  t0 = now_s();
  rc = dbfork_map(p, n, echo_in, echo_out, &c);
  t = now_s() - t0;
  if (rc) die("dbfork_map", rc);
  fprintf(stderr, "tasks: map: worker 0 ran %zu tasks, worker 1 ran %zu\n", c.per_slot[0],
          c.per_slot[1]);
  if (c.bad || c.got != n) {
    fprintf(stderr, "tasks: map: %zu bad results, %zu of %zu delivered\n", c.bad, c.got, n);
    exit(1);
  }
  return (double)n / t;
}

/* ---- (a) unbatched, dbfork_submit (pipelined, completion callbacks) ---- */
static size_t sub_done, sub_bad;

static void sub_cb(const dbfork_result *r, void *ud) {
  uint64_t v;
  sub_done++;
  if (r->status || r->len != 8) {
    sub_bad++;
    return;
  }
  memcpy(&v, r->data, 8);
  if (v != (uint64_t)(uintptr_t)ud) sub_bad++;
}

static double run_submit(dbfork_pool *p, size_t n) {
  size_t i;
  double t0 = now_s(), t;
  sub_done = sub_bad = 0;
  for (i = 0; i < n; i++) {
    uint64_t v = i;
    /* Blocking submit: a full queue runs the pool's loop until there is room. */
    int rc = dbfork_submit(p, &v, 8, sub_cb, (void *)(uintptr_t)i);
    if (rc) die("dbfork_submit", rc);
  }
  while (sub_done < n) dbfork_pool_run(p, 1);
  t = now_s() - t0;
  if (sub_bad) {
    fprintf(stderr, "tasks: submit: %zu bad results\n", sub_bad);
    exit(1);
  }
  return (double)n / t;
}

/* ---- (b) batched, dbfork_map over payloads of K numbers ---- */
typedef struct batch_ctx {
  size_t k;
  uint64_t *buf;
  size_t bad;
} batch_ctx;

static int batch_in(size_t i, const void **data, size_t *len, void *ud) {
  batch_ctx *c = ud;
  size_t j;
  for (j = 0; j < c->k; j++) c->buf[j] = (uint64_t)(i * c->k + j);
  *data = c->buf;
  *len = c->k * 8;
  return 0;
}

static int batch_out(size_t i, const dbfork_result *r, void *ud) {
  batch_ctx *c = ud;
  const uint8_t *d = r->data;
  size_t j;
  if (r->status || r->len != c->k * 8) {
    c->bad++;
    return 0;
  }
  for (j = 0; j < c->k; j++) {
    uint64_t v;
    memcpy(&v, d + j * 8, 8);
    if (v != (uint64_t)(i * c->k + j) * 2 + 1) {
      c->bad++;
      break;
    }
  }
  return 0;
}

static double run_batch(dbfork_pool *p, size_t batches, size_t k) {
  batch_ctx c;
  double t0, t;
  int rc;
  c.k = k;
  c.bad = 0;
  c.buf = malloc(k * 8);
  if (!c.buf) die("malloc", DBFORK_ENOMEM);
  t0 = now_s();
  rc = dbfork_map(p, batches, batch_in, batch_out, &c);
  t = now_s() - t0;
  free(c.buf);
  if (rc) die("dbfork_map (batched)", rc);
  if (c.bad) {
    fprintf(stderr, "tasks: batch: %zu bad batches\n", c.bad);
    exit(1);
  }
  return (double)(batches * k) / t;
}

/* ---- (c) pool start ---- */
static double raw_connect_ms(void) {
  /* The same connection the built-in initializer opens, in this process:
   * what a connect costs by itself. */
  MYSQL *m = mysql_init(NULL);
  double t0 = now_s(), t;
  if (!g_no_defaults) {
    if (g_defaults_file) mysql_options(m, MYSQL_READ_DEFAULT_FILE, g_defaults_file);
    mysql_options(m, MYSQL_READ_DEFAULT_GROUP, "dbfork");
  }
  mysql_options(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
  mysql_options4(m, MYSQL_OPT_CONNECT_ATTR_ADD, "program_name", "dbfork-bench");
  if (!mysql_real_connect(m, NULL, g_user, g_password, g_database, 0, g_socket,
                          CLIENT_MULTI_RESULTS)) {
    fprintf(stderr, "tasks: raw connect: %s\n", mysql_error(m));
    exit(1);
  }
  t = now_s() - t0;
  mysql_close(m);
  return t * 1e3;
}

static double fork_exit_ms(void) {
  /* fork + child _exit + waitpid of this process: the floor of a worker. */
  double t0 = now_s();
  int st;
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  waitpid(pid, &st, 0);
  return (now_s() - t0) * 1e3;
}

/* The floor for any pre-fork design on this machine, without dbfork: fork
 * two children that each open the same connection (mysql_init, options,
 * mysql_real_connect) and report over a pipe; the time until both reported.
 * The children then close and exit (not timed). Their CPU time and faults
 * until connected come back in the report. */
typedef struct floor_rep {
  double cpu_ms;
  long minflt;
} floor_rep;

static MYSQL *floor_connect(void) {
  MYSQL *m = mysql_init(NULL);
  if (!g_no_defaults) {
    if (g_defaults_file) mysql_options(m, MYSQL_READ_DEFAULT_FILE, g_defaults_file);
    mysql_options(m, MYSQL_READ_DEFAULT_GROUP, "dbfork");
  }
  mysql_options(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
  mysql_options4(m, MYSQL_OPT_CONNECT_ATTR_ADD, "program_name", "dbfork-bench-floor");
  if (!mysql_real_connect(m, NULL, g_user, g_password, g_database, 0, g_socket,
                          CLIENT_MULTI_RESULTS)) {
    fprintf(stderr, "tasks: floor connect: %s\n", mysql_error(m));
    _exit(1);
  }
  return m;
}

static double floor_prefork_ms(double *cpu, double *flt) {
  int up[2], down[2], i, st;
  pid_t pid[2];
  floor_rep rep;
  double t0, t;
  char c = 'q';
  if (pipe(up) || pipe(down)) die("pipe", DBFORK_EIO);
  t0 = now_s();
  for (i = 0; i < 2; i++) {
    pid[i] = fork();
    if (pid[i] == 0) {
      struct rusage ru;
      MYSQL *m;
      close(up[0]);
      close(down[1]);
      m = floor_connect();
      getrusage(RUSAGE_SELF, &ru);
      rep.cpu_ms = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
                   (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
      rep.minflt = ru.ru_minflt;
      if (write(up[1], &rep, sizeof rep) != (ssize_t)sizeof rep) _exit(1);
      if (read(down[0], &c, 1) < 0) _exit(1); /* EOF: the parent is done */
      mysql_close(m);
      _exit(0);
    }
  }
  for (i = 0; i < 2; i++) {
    if (read(up[0], &rep, sizeof rep) != (ssize_t)sizeof rep) die("floor child", DBFORK_EIO);
    cpu[i] = rep.cpu_ms;
    flt[i] = (double)rep.minflt;
  }
  t = (now_s() - t0) * 1e3;
  close(down[1]);
  close(up[0]);
  close(up[1]);
  close(down[0]);
  for (i = 0; i < 2; i++) waitpid(pid[i], &st, 0);
  return t;
}

static int g_start_refs = 1; /* --no-start-refs clears it */

static void run_start(int runs) {
  double *tot = calloc((size_t)runs, sizeof *tot), *newt = calloc((size_t)runs, sizeof *newt);
  double *tofork = calloc((size_t)runs, sizeof *tofork);
  double *conn = calloc((size_t)runs, sizeof *conn), *hello = calloc((size_t)runs, sizeof *hello);
  double *raw = calloc((size_t)runs, sizeof *raw), *fk = calloc((size_t)runs, sizeof *fk);
  double *stop = calloc((size_t)runs, sizeof *stop);
  double *pflt = calloc((size_t)runs, sizeof *pflt);
  double *pcpu = calloc((size_t)runs, sizeof *pcpu), *wcpu = calloc((size_t)runs * 2, sizeof *wcpu);
  double *wflt = calloc((size_t)runs * 2, sizeof *wflt);
  double *fl = calloc((size_t)runs, sizeof *fl), *flcpu = calloc((size_t)runs * 2, sizeof *flcpu);
  double *flflt = calloc((size_t)runs * 2, sizeof *flflt);
  int r;
  g_st = mmap(NULL, sizeof *g_st, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (g_st == MAP_FAILED) die("mmap", DBFORK_ENOMEM);
  pthread_atfork(NULL, NULL, atfork_child);
  for (r = 0; r < runs; r++) {
    dbfork_options o;
    dbfork_pool *p;
    double t0, t1, t2, t3, tf, ti, c0;
    struct rusage ru0, ru1;
    int rc, s;
    memset(g_st, 0, sizeof *g_st);
    base_options(&o);
    o.task = task_echo;
    o.init = init_stamp;
    g_stamp_fork = 1;
    getrusage(RUSAGE_SELF, &ru0);
    c0 = cpu_ms();
    t0 = now_s();
    rc = dbfork_pool_new(&p, &o);
    if (rc) die("dbfork_pool_new", rc);
    t1 = now_s();
    rc = dbfork_pool_start(p);
    t2 = now_s();
    pcpu[r] = cpu_ms() - c0;
    getrusage(RUSAGE_SELF, &ru1);
    pflt[r] = (double)(ru1.ru_minflt - ru0.ru_minflt);
    g_stamp_fork = 0;
    if (rc) {
      fprintf(stderr, "tasks: start: %s\n", dbfork_pool_last_error(p));
      die("dbfork_pool_start", rc);
    }
    rc = dbfork_pool_join(p);
    if (rc) die("dbfork_pool_join", rc);
    dbfork_pool_free(p);
    t3 = now_s();
    tot[r] = (t2 - t0) * 1e3;
    newt[r] = (t1 - t0) * 1e3;
    stop[r] = (t3 - t2) * 1e3;
    /* Breakdown: the later of the two workers at each step. */
    tf = ti = 0;
    for (s = 0; s < 2; s++) {
      wcpu[r * 2 + s] = g_st->cpu_ms[s];
      wflt[r * 2 + s] = (double)g_st->minflt[s];
      if (g_st->forked[s] > tf) tf = g_st->forked[s];
      if (g_st->inited[s] > ti) ti = g_st->inited[s];
    }
    tofork[r] = tf ? (tf - t0) * 1e3 : 0;
    conn[r] = tf && ti ? (ti - tf) * 1e3 : 0;
    hello[r] = ti ? (t2 - ti) * 1e3 : 0;
    if (g_start_refs) {
      raw[r] = raw_connect_ms();
      fk[r] = fork_exit_ms();
      fl[r] = floor_prefork_ms(flcpu + r * 2, flflt + r * 2);
    }
  }
  {
    double mn, mx;
    qsort(tot, (size_t)runs, sizeof *tot, cmp_d);
    mn = tot[0];
    mx = tot[runs - 1];
    printf("RESULT start_ms %.3f ms\n", median(tot, runs));
    printf("RESULT start_min_ms %.3f ms\n", mn);
    printf("RESULT start_max_ms %.3f ms\n", mx);
  }
  printf("RESULT start_new_ms %.3f ms\n", median(newt, runs));
  printf("RESULT start_to_2nd_fork_ms %.3f ms\n", median(tofork, runs));
  printf("RESULT start_fork_to_connected_ms %.3f ms\n", median(conn, runs));
  printf("RESULT start_connected_to_return_ms %.3f ms\n", median(hello, runs));
  printf("RESULT start_join_free_ms %.3f ms\n", median(stop, runs));
  printf("RESULT start_parent_cpu_ms %.3f ms\n", median(pcpu, runs));
  printf("RESULT start_parent_minflt %.0f faults\n", median(pflt, runs));
  printf("RESULT start_worker_cpu_ms %.3f ms\n", median(wcpu, runs * 2));
  printf("RESULT start_worker_minflt %.0f faults\n", median(wflt, runs * 2));
  if (!g_start_refs) goto done;
  printf("RESULT floor_start_ms %.3f ms\n", median(fl, runs));
  printf("RESULT floor_worker_cpu_ms %.3f ms\n", median(flcpu, runs * 2));
  printf("RESULT floor_worker_minflt %.0f faults\n", median(flflt, runs * 2));
  printf("RESULT raw_connect_ms %.3f ms\n", median(raw, runs));
  printf("RESULT fork_exit_wait_ms %.3f ms\n", median(fk, runs));
done:
  free(tot), free(newt), free(tofork), free(conn), free(hello), free(raw), free(fk), free(stop);
  free(pflt), free(pcpu), free(wcpu), free(wflt), free(fl), free(flcpu), free(flflt);
}

/* ---- (d) recycle: max_tasks_per_worker=1, every task a new worker ----
 * Each worker runs one task and is replaced, so tasks/s is the cost of a
 * worker's whole life: start (by the start method), connect, one task,
 * finalizer and exit. Checked: every result right, and the pool started
 * (at least) one worker per task. */
static double run_recycle(size_t n) {
  dbfork_pool *p;
  dbfork_pool_stats ps;
  echo_ctx c;
  double t0 = now_s(), t;
  int rc;
  p = pool_up(task_echo, NULL, 1);
  memset(&c, 0, sizeof c);
  rc = dbfork_map(p, n, echo_in, echo_out, &c);
  if (rc) die("dbfork_map", rc);
  t = now_s() - t0;
  rc = dbfork_pool_stats_get(p, &ps, NULL, 0);
  if (rc < 0) die("dbfork_pool_stats_get", rc);
  if (c.bad || c.got != n || ps.workers_started < n) {
    fprintf(stderr, "tasks: recycle: %zu bad results, %zu of %zu delivered, %llu workers started\n",
            c.bad, c.got, n, (unsigned long long)ps.workers_started);
    exit(1);
  }
  pool_down(p);
  return (double)n / t;
}

/* ---- the machine's unit costs, which pool start is made of ---- */
static void run_machine(void) {
  size_t i, pages = 4096, pg = (size_t)sysconf(_SC_PAGESIZE);
  double t0, sc, pf, cow = 0;
  char *m;
  int st, pp[2];
  pid_t pid;
  t0 = now_s();
  for (i = 0; i < 100000; i++) (void)getppid(); /* a real syscall (not vDSO) */
  sc = (now_s() - t0) / 100000 * 1e6;
  m = mmap(NULL, pages * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) die("mmap", DBFORK_ENOMEM);
  t0 = now_s();
  for (i = 0; i < pages; i++) m[i * pg] = 1; /* fresh zero-filled page faults */
  pf = (now_s() - t0) / (double)pages * 1e6;
  if (pipe(pp)) die("pipe", DBFORK_EIO);
  pid = fork();
  if (pid == 0) { /* copy-on-write faults, as a forked worker takes them */
    double c0 = now_s(), v;
    for (i = 0; i < pages; i++) m[i * pg] = 2;
    v = (now_s() - c0) / (double)pages * 1e6;
    if (write(pp[1], &v, sizeof v) != (ssize_t)sizeof v) _exit(1);
    _exit(0);
  }
  if (read(pp[0], &cow, sizeof cow) != (ssize_t)sizeof cow) cow = 0;
  waitpid(pid, &st, 0);
  close(pp[0]);
  close(pp[1]);
  munmap(m, pages * pg);
  printf("RESULT machine_syscall_us %.2f us\n", sc);
  printf("RESULT machine_page_fault_us %.2f us\n", pf);
  printf("RESULT machine_cow_fault_us %.2f us\n", cow);
}

/* ---- main ---- */
static int want(int argc, char **argv, int first, const char *what) {
  int i, any = 0;
  for (i = first; i < argc; i++) {
    any = 1;
    if (!strcmp(argv[i], what) || !strcmp(argv[i], "all")) return 1;
  }
  return !any;
}

int main(int argc, char **argv) {
  size_t n = 1000000, k = 1000, batches = 10000;
  size_t recycle_n = 200;
  int runs = 3, starts = 30, i, r;
  /* A spawned worker (--start-method spawn) becomes the worker here. */
  if (dbfork_child_main(&argc, &argv, &r)) return r;
  for (i = 1; i < argc && argv[i][0] == '-'; i++) {
    const char *a = argv[i];
#define ARG \
  (i + 1 < argc ? argv[++i] : (fprintf(stderr, "tasks: %s needs a value\n", a), exit(2), ""))
    if (!strcmp(a, "--socket"))
      g_socket = ARG;
    else if (!strcmp(a, "--user"))
      g_user = ARG;
    else if (!strcmp(a, "--password"))
      g_password = ARG;
    else if (!strcmp(a, "--database"))
      g_database = ARG;
    else if (!strcmp(a, "--defaults-file"))
      g_defaults_file = ARG;
    else if (!strcmp(a, "--no-defaults"))
      g_no_defaults = 1;
    else if (!strcmp(a, "--start-method")) {
      const char *m = ARG;
      if (!strcmp(m, "forkserver"))
        g_start_method = DBFORK_START_FORKSERVER;
      else if (!strcmp(m, "spawn"))
        g_start_method = DBFORK_START_SPAWN;
      else if (strcmp(m, "fork") != 0)
        fprintf(stderr, "tasks: --start-method %s: fork, forkserver or spawn\n", m), exit(2);
    } else if (!strcmp(a, "-n"))
      n = strtoull(ARG, NULL, 10);
    else if (!strcmp(a, "-k"))
      k = strtoull(ARG, NULL, 10);
    else if (!strcmp(a, "-b"))
      batches = strtoull(ARG, NULL, 10);
    else if (!strcmp(a, "-r"))
      runs = atoi(ARG);
    else if (!strcmp(a, "-s"))
      starts = atoi(ARG);
    else if (!strcmp(a, "--no-start-refs"))
      g_start_refs = 0;
    else if (!strcmp(a, "--recycle-tasks"))
      recycle_n = strtoull(ARG, NULL, 10);
    else if (!strcmp(a, "--prefetch"))
      g_prefetch = (unsigned)atoi(ARG);
    else if (!strcmp(a, "--queue"))
      g_queue = (unsigned)atoi(ARG);
    else {
      fprintf(stderr, "tasks: unknown option %s (see the comment at the top of bench/tasks.c)\n",
              a);
      return 2;
    }
#undef ARG
  }
  if (runs < 1 || starts < 1 || !n || !k || !batches || !recycle_n) {
    fprintf(stderr, "tasks: counts must be positive\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  /* Before any pool or thread: the helper is a fork of the process now. */
  if (g_start_method == DBFORK_START_FORKSERVER && (r = dbfork_forkserver_start()) != 0)
    die("dbfork_forkserver_start", r);

  if (want(argc, argv, i, "map") || want(argc, argv, i, "submit")) {
    dbfork_pool *p = pool_up(task_echo, NULL, 0);
    double *v = calloc((size_t)runs, sizeof *v);
    run_map(p, n / 10 < 10000 ? n / 10 + 1 : 10000); /* warm-up */
    if (want(argc, argv, i, "map")) {
      for (r = 0; r < runs; r++) {
        v[r] = run_map(p, n);
        fprintf(stderr, "tasks: map run %d: %.0f tasks/s\n", r + 1, v[r]);
      }
      printf("RESULT map_tasks_per_s %.0f tasks/s\n", median(v, runs));
    }
    if (want(argc, argv, i, "submit")) {
      for (r = 0; r < runs; r++) {
        v[r] = run_submit(p, n);
        fprintf(stderr, "tasks: submit run %d: %.0f tasks/s\n", r + 1, v[r]);
      }
      printf("RESULT submit_tasks_per_s %.0f tasks/s\n", median(v, runs));
    }
    free(v);
    pool_down(p);
  }
  if (want(argc, argv, i, "batch")) {
    dbfork_pool *p = pool_up(task_batch, NULL, 0);
    double *v = calloc((size_t)runs, sizeof *v);
    run_batch(p, batches / 10 + 1, k); /* warm-up */
    for (r = 0; r < runs; r++) {
      v[r] = run_batch(p, batches, k);
      fprintf(stderr, "tasks: batch run %d: %.0f items/s\n", r + 1, v[r]);
    }
    printf("RESULT batch_items_per_s %.0f items/s\n", median(v, runs));
    printf("RESULT batch_k %zu items\n", k);
    free(v);
    pool_down(p);
  }
  if (want(argc, argv, i, "start")) run_start(starts);
  if (want(argc, argv, i, "recycle")) {
    double *v = calloc((size_t)runs, sizeof *v);
    for (r = 0; r < runs; r++) {
      v[r] = run_recycle(recycle_n);
      fprintf(stderr, "tasks: recycle run %d: %.1f tasks/s\n", r + 1, v[r]);
    }
    printf("RESULT recycle_tasks_per_s %.1f tasks/s\n", median(v, runs));
    free(v);
  }
  if (want(argc, argv, i, "machine")) run_machine();
  return 0;
}
