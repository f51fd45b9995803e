/*
 * The pool runs on the caller's own uv_loop_t (options.loop): completions
 * arrive from the caller's uv_run() alongside the caller's own handles, and
 * once the pool is freed it leaves the loop as it found it (closable).
 */
#include "itest.h"

#include <uv.h>

enum { N = 100 };

typedef struct loop_ctx {
  uv_loop_t *loop;
  it_track t[N];
  int done;
  int ticks;
  int ticks_at_first;
  int ticks_at_last;
} loop_ctx;

static loop_ctx ctx;

static void on_done(const dbfork_result *r, void *ud) {
  it_track_copy(ud, r);
  if (ctx.done++ == 0) ctx.ticks_at_first = ctx.ticks;
  if (ctx.done == N) {
    ctx.ticks_at_last = ctx.ticks;
    uv_stop(ctx.loop);
  }
}

static void on_tick(uv_timer_t *t) {
  (void)t;
  ctx.ticks++;
}

static void print_handle(uv_handle_t *h, void *arg) {
  (void)arg;
  fprintf(stderr, "handle left on the loop: %s active=%d closing=%d\n",
          uv_handle_type_name(uv_handle_get_type(h)), uv_is_active(h), uv_is_closing(h));
}

TEST(caller_loop_runs_pool) {
  MYSQL *mon = tu_connect();
  /* The test's own table: its @forkserver and @spawn runs may run beside it. */
  char table[96];
  snprintf(table, sizeof table, "t_%s", tu_unique_name());
  tu_exec(mon, "DROP TABLE IF EXISTS `%s`", table);
  tu_exec(mon, "CREATE TABLE `%s` (i INT PRIMARY KEY)", table);

  uv_loop_t loop;
  CHECK_OK(uv_loop_init(&loop));
  ctx.loop = &loop;
  uv_timer_t timer;
  CHECK_OK(uv_timer_init(&loop, &timer));
  CHECK_OK(uv_timer_start(&timer, on_tick, 5, 5));

  dbfork_options o;
  it_options(&o, tu_unique_name(), 2);
  o.loop = &loop;
  dbfork_pool *pool = NULL;
  CHECK_OK(dbfork_pool_new(&pool, &o));
  CHECK(dbfork_pool_loop(pool) == &loop);
  CHECK_ERR(dbfork_pool_run(pool, 2), DBFORK_ESTATE);
  CHECK_OK(dbfork_pool_start(pool));

  for (int i = 0; i < N; i++) {
    char sql[192];
    snprintf(sql, sizeof sql, "INSERT INTO `%s` SELECT %d FROM DUAL WHERE SLEEP(0.01)=0", table, i);
    CHECK_OK(dbfork_submit(pool, sql, strlen(sql), on_done, &ctx.t[i]));
  }
  /* The caller drives its own loop; the last completion stops it. */
  long long t0 = tu_now_ms();
  uv_run(&loop, UV_RUN_DEFAULT);
  fprintf(stderr,
          "%d completions in %llu ms; timer ticks %d (first completion at %d, last at %d)\n",
          ctx.done, (unsigned long long)(tu_now_ms() - t0), ctx.ticks, ctx.ticks_at_first,
          ctx.ticks_at_last);
  CHECK_EQ_INT(ctx.done, N);
  for (int i = 0; i < N; i++) {
    if (ctx.t[i].calls != 1 || ctx.t[i].status != 0) it_track_print("task", &ctx.t[i]);
    CHECK_EQ_INT(ctx.t[i].calls, 1);
    CHECK_EQ_INT(ctx.t[i].status, 0);
  }
  /* The caller's timer kept running between completions on the same loop. */
  CHECK(ctx.ticks_at_last > ctx.ticks_at_first);
  CHECK_EQ_INT(tu_query_ll(mon, "SELECT COUNT(*) FROM `%s`", table), N);

  dbfork_worker_stats ws[2];
  CHECK_EQ_INT(dbfork_pool_stats_get(pool, NULL, ws, 2), 2);
  unsigned long ids[2] = {ws[0].connection_id, ws[1].connection_id};

  /* join runs the caller's loop until the workers are gone, although the
   * caller's timer keeps the loop alive. */
  fprintf(stderr, "joining with the caller's timer still active\n");
  CHECK_OK(dbfork_pool_join(pool));
  dbfork_pool_free(pool);
  CHECK_EQ_INT(it_wait_ids_gone(mon, ids, 2, 2000), 0);

  /* The pool left no handle behind: once the caller closes its own, the loop
   * runs dry and closes. */
  uv_close((uv_handle_t *)&timer, NULL);
  long long end = tu_now_ms() + 2000;
  while (uv_run(&loop, UV_RUN_NOWAIT) != 0 && tu_now_ms() < end) tu_sleep_ms(5);
  int rc = uv_loop_close(&loop);
  if (rc != 0) uv_walk(&loop, print_handle, NULL);
  CHECK_EQ_INT(rc, 0);
  mysql_close(mon);
}
