/*
 * The parent hands libuv its pending frames for a worker in pieces:
 * uv_buf_init() takes an unsigned int, and the frames waiting for one
 * worker may legally exceed 4 GiB (prefetch x max_payload). Such a test
 * would need many GiB of memory, so this binary is instead built from the
 * library's own sources with DBFORK__WRITE_PIECE=1000 (tests/integration/
 * CMakeLists.txt): every write to a worker goes out in many pieces, through
 * uv_try_write and through queued uv_write, and every payload must arrive
 * intact, in order.
 */
#include "itest.h"

enum { WORKERS = 2, TASKS = 300 };

static uint64_t fnv1a(const unsigned char *p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

/* Replies with the payload's length and hash. */
static int echo_hash(dbfork_worker *w, const void *in, size_t len, void *arg) {
  char buf[64];
  (void)arg;
  snprintf(buf, sizeof buf, "%zu:%016llx", len, (unsigned long long)fnv1a(in, len));
  return dbfork_worker_reply(w, buf, strlen(buf));
}

TEST(payloads_written_in_pieces_arrive_intact) {
  const char *prog = "dbf_write_pieces";
  MYSQL *mon = tu_connect();
  dbfork_options o;
  dbfork_pool *pool;
  static it_track t[TASKS];
  static char want[TASKS][64];
  unsigned char *buf;
  size_t max = 200000;
  uint64_t seed = 42;

  it_options(&o, prog, WORKERS);
  o.task = echo_hash;
  o.prefetch = 32;
  CHECK_OK(dbfork_pool_new(&pool, &o));
  CHECK_OK(dbfork_pool_start(pool));
  buf = malloc(max);
  CHECK(buf != NULL);
  for (int i = 0; i < TASKS; i++) {
    /* Lengths from 0 to 200000 bytes, not multiples of the piece. */
    size_t len = (size_t)(i * 7919u) % max;
    for (size_t k = 0; k < len; k++) {
      seed = seed * 6364136223846793005ull + 1442695040888963407ull;
      buf[k] = (unsigned char)(seed >> 56);
    }
    snprintf(want[i], sizeof want[i], "%zu:%016llx", len, (unsigned long long)fnv1a(buf, len));
    CHECK_OK(dbfork_submit(pool, buf, len, it_track_cb, &t[i]));
  }
  free(buf);
  CHECK_OK(dbfork_pool_join(pool));
  dbfork_pool_free(pool);
  for (int i = 0; i < TASKS; i++) {
    if (t[i].calls != 1 || t[i].status != 0) it_track_print("task", &t[i]);
    CHECK_EQ_INT(t[i].calls, 1);
    CHECK_OK(t[i].status);
    CHECK_EQ_STR(t[i].reply, want[i]);
  }
  CHECK_EQ_INT(tu_wait_sessions(mon, prog, 0, 5000), 0);
}
