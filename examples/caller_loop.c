/*
 * caller_loop.c — the pool on the application's own libuv loop.
 *
 *   caller_loop [OPTION_FILE]
 *
 * An application that already runs a uv_loop_t (a server, a scheduler) hands
 * it to the pool (options.loop). Completions then arrive from the
 * application's own uv_run(), between its other events — here a timer
 * that ticks every 10 ms while the tasks run. Submitting on the loop thread
 * never blocks with a caller's loop: a full queue returns DBFORK_EAGAIN,
 * and the application submits more from its completion callbacks.
 */
#include <dbfork.h>
#include <mysql.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

enum { N = 200 };

static int task(dbfork_worker *w, const void *in, size_t len, void *arg) {
  MYSQL *m = dbfork_worker_mysql(w);
  char sql[64];
  (void)arg;
  snprintf(sql, sizeof sql, "DO SLEEP(0.002) + %.*s", (int)len, (const char *)in);
  return mysql_query(m, sql) ? DBFORK_ESQL : 0;
}

static struct {
  dbfork_pool *pool;
  uv_timer_t timer;
  int submitted, done, failed, ticks;
} app;

static void submit_more(void);

static void on_done(const dbfork_result *r, void *ud) {
  (void)ud;
  app.done++;
  if (r->status) app.failed++;
  if (app.done == N) {
    uv_close((uv_handle_t *)&app.timer, NULL);
    dbfork_pool_close(app.pool); /* non-blocking: the workers drain and stop */
    /* The pool's handles keep a loop alive while the pool exists: the
     * application says when its own work is done. */
    uv_stop(app.timer.loop);
  } else {
    submit_more();
  }
}

static void submit_more(void) {
  while (app.submitted < N) {
    char in[16];
    int len = snprintf(in, sizeof in, "%d", app.submitted);
    int rc = dbfork_submit(app.pool, in, (size_t)len, on_done, NULL);
    if (rc == DBFORK_EAGAIN) return; /* queue full: on_done will call again */
    if (rc) {
      fprintf(stderr, "submit: %s\n", dbfork_strerror(rc));
      return;
    }
    app.submitted++;
  }
}

static void on_tick(uv_timer_t *t) {
  (void)t;
  app.ticks++;
}

int main(int argc, char **argv) {
  uv_loop_t loop;
  dbfork_options o;
  int rc;

  uv_loop_init(&loop);
  uv_timer_init(&loop, &app.timer);
  uv_timer_start(&app.timer, on_tick, 10, 10);

  dbfork_options_init(&o);
  o.workers = 2;
  o.defaults_file = argc > 1 ? argv[1] : NULL;
  o.task = task;
  o.loop = &loop; /* not owned by the pool */
  o.queue_max = 16;
  rc = dbfork_pool_new(&app.pool, &o);
  if (!rc) rc = dbfork_pool_start(app.pool); /* runs `loop` until the workers are up */
  if (rc) {
    fprintf(stderr, "pool: %s: %s\n", dbfork_strerror(rc),
            app.pool ? dbfork_pool_last_error(app.pool) : "");
    dbfork_pool_free(app.pool);
    return 1;
  }
  submit_more();
  uv_run(&loop, UV_RUN_DEFAULT);   /* the application's loop, as usual */
  rc = dbfork_pool_join(app.pool); /* runs `loop` until the workers have exited */
  dbfork_pool_free(app.pool);      /* leaves `loop` with no handle of the pool's */
  uv_run(&loop, UV_RUN_DEFAULT);   /* let the closed handles' callbacks run */
  if (uv_loop_close(&loop)) fprintf(stderr, "the loop still has handles\n");
  printf("caller_loop: %d of %d tasks done, %d failed, timer ticked %d times meanwhile\n", app.done,
         N, app.failed, app.ticks);
  return rc || app.done != N || app.failed || app.ticks == 0;
}
