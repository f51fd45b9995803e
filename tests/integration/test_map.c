/*
 * dbfork_map over 100,000 payloads: every result comes back, in input order,
 * each output called once, computed by the workers; the parent's memory stays
 * bounded by the queue and prefetch windows, not by n.
 */
#include "itest.h"

/* The parent's memory. Under AddressSanitizer, freed blocks sit in its
 * quarantine (up to 256 MB) and VmRSS grows with allocation churn whatever
 * the library holds, so there the live heap as the allocator counts it is
 * measured instead; otherwise VmRSS. Both in KiB. */
/* gcc defines __SANITIZE_ADDRESS__; clang only answers __has_feature. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_MAP_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(TEST_MAP_ASAN)
size_t __sanitizer_get_current_allocated_bytes(void);
#define MEM_WHAT "live heap (ASan allocator)"
static long mem_kb(void) { return (long)(__sanitizer_get_current_allocated_bytes() / 1024); }
#else
#define MEM_WHAT "VmRSS"
static long mem_kb(void) { return tu_rss_kb(); }
#endif

/* The task: reads a little-endian uint64 x, replies x * 3 + 1. */
static int triple_task(dbfork_worker *w, const void *in, size_t len, void *arg) {
  (void)arg;
  uint64_t x;
  if (len != sizeof x) return dbfork_worker_fail(w, DBFORK_ETASK, 0, NULL, "bad length %zu", len);
  memcpy(&x, in, sizeof x);
  x = x * 3 + 1;
  return dbfork_worker_reply(w, &x, sizeof x);
}

typedef struct map_ctx {
  uint64_t buf;
  size_t next;
  size_t outputs;
  size_t bad;
} map_ctx;

static int map_input(size_t i, const void **data, size_t *len, void *ud) {
  map_ctx *c = ud;
  c->buf = (uint64_t)i;
  *data = &c->buf;
  *len = sizeof c->buf;
  return 0;
}

static int map_output(size_t i, const dbfork_result *r, void *ud) {
  map_ctx *c = ud;
  c->outputs++;
  uint64_t y = 0;
  if (r->len == sizeof y) memcpy(&y, r->data, sizeof y);
  if (i != c->next || r->status != 0 || r->len != sizeof y || y != (uint64_t)i * 3 + 1) {
    if (c->bad++ < 5)
      fprintf(stderr, "output i=%zu (expected %zu): status %s len %zu value %llu\n", i, c->next,
              dbfork_err_name(r->status), r->len, (unsigned long long)y);
  }
  c->next = i + 1;
  return 0;
}

static void run_map(dbfork_pool *p, size_t n) {
  map_ctx c;
  memset(&c, 0, sizeof c);
  long long t0 = tu_now_ms();
  CHECK_OK(dbfork_map(p, n, map_input, map_output, &c));
  fprintf(stderr, "map of %zu: %llu ms, %s %ld kB\n", n, (unsigned long long)(tu_now_ms() - t0),
          MEM_WHAT, mem_kb());
  CHECK_EQ_INT(c.bad, 0);
  CHECK_EQ_INT(c.outputs, n);
  CHECK_EQ_INT(c.next, n);
}

TEST(map_100k_in_order_bounded_rss) {
  dbfork_options o;
  it_options(&o, "dbf_map", 2);
  o.task = triple_task;
  dbfork_pool *pool = NULL;
  CHECK_OK(dbfork_pool_new(&pool, &o));
  CHECK_OK(dbfork_pool_start(pool));

  run_map(pool, 10000);
  long rss10k = mem_kb();
  run_map(pool, 100000);
  long rss100k = mem_kb();
  fprintf(stderr, "%s after 10k: %ld kB, after 100k: %ld kB\n", MEM_WHAT, rss10k, rss100k);
  CHECK(rss10k > 0);
  CHECK(rss100k - rss10k < 8 * 1024);

  dbfork_pool_stats ps;
  dbfork_pool_stats_get(pool, &ps, NULL, 0);
  CHECK_EQ_INT(ps.submitted, 110000);
  CHECK_EQ_INT(ps.completed_ok, 110000);
  CHECK_OK(dbfork_pool_join(pool));
  dbfork_pool_free(pool);
}

/* The stop-and-count workload: task i inserts row i; output() stops the map
 * at stop_at (by returning stop_rc), input() at fail_at (by returning
 * DBFORK_ETASK). */
typedef struct stop_ctx {
  char table[96];
  char sql[160];
  size_t inputs;  /* payloads taken by the map */
  size_t outputs; /* output() calls */
  size_t next;    /* the index the next output() must have */
  size_t out_of_order;
  size_t stop_at, fail_at;
  int stop_rc;
} stop_ctx;

static int stop_input(size_t i, const void **data, size_t *len, void *ud) {
  stop_ctx *c = ud;
  if (i == c->fail_at) return DBFORK_ETASK;
  *len = (size_t)snprintf(c->sql, sizeof c->sql, "INSERT INTO `%s` (id) VALUES (%zu)", c->table, i);
  *data = c->sql;
  c->inputs++;
  return 0;
}

static int stop_output(size_t i, const dbfork_result *r, void *ud) {
  stop_ctx *c = ud;
  if (i != c->next || r->status != 0) c->out_of_order++;
  c->next = i + 1;
  c->outputs++;
  return i == c->stop_at ? c->stop_rc : 0;
}

static void run_stopped_map(size_t stop_at, size_t fail_at, int stop_rc, int want_rc) {
  dbfork_options o;
  dbfork_pool *pool = NULL;
  MYSQL *m = tu_connect();
  stop_ctx c;
  memset(&c, 0, sizeof c);
  snprintf(c.table, sizeof c.table, "t_%s", tu_unique_name());
  c.stop_at = stop_at;
  c.fail_at = fail_at;
  c.stop_rc = stop_rc;
  tu_exec(m, "DROP TABLE IF EXISTS `%s`", c.table);
  tu_exec(m, "CREATE TABLE `%s` (id INT PRIMARY KEY) ENGINE=InnoDB", c.table);
  it_options(&o, tu_unique_name(), 2);
  CHECK_OK(dbfork_pool_new(&pool, &o));
  CHECK_OK(dbfork_pool_start(pool));
  int rc = dbfork_map(pool, 20000, stop_input, stop_output, &c);
  fprintf(stderr, "map stopped (%s): %zu taken, %zu reported\n", dbfork_err_name(rc), c.inputs,
          c.outputs);
  /* Every task the map took ran and was reported, once and in order. */
  CHECK(c.inputs < 20000);
  CHECK_EQ_INT(c.out_of_order, 0);
  CHECK_EQ_INT(c.outputs, c.inputs);
  CHECK_EQ_INT(c.next, c.inputs);
  CHECK_ERR(rc, want_rc);
  /* The server's view: exactly the rows of the tasks taken. */
  CHECK_EQ_INT(tu_query_ll(m, "SELECT COUNT(*) FROM `%s`", c.table), (long long)c.inputs);
  CHECK_EQ_INT(tu_query_ll(m, "SELECT COALESCE(MAX(id), -1) FROM `%s`", c.table),
               (long long)c.inputs - 1);
  CHECK_OK(dbfork_pool_join(pool));
  dbfork_pool_free(pool);
  tu_exec(m, "DROP TABLE `%s`", c.table);
}

/* output() returning non-zero stops taking inputs; the tasks already taken
 * (the queue and the workers' windows hold many) still run, and each is
 * reported to output() in order; map returns the code output() gave. */
TEST(map_stopped_by_output_reports_every_task_taken) {
  run_stopped_map(1000, (size_t)-1, DBFORK_ECANCELED, DBFORK_ECANCELED);
}

/* A positive stop value makes the map return DBFORK_ECANCELED. */
TEST(map_stopped_by_positive_output_returns_ecanceled) {
  run_stopped_map(500, (size_t)-1, 1, DBFORK_ECANCELED);
}

/* input() failing stops the map the same way, with input()'s code. */
TEST(map_stopped_by_input_reports_every_task_taken) {
  run_stopped_map((size_t)-1, 1500, 0, DBFORK_ETASK);
}
