/*
 * Named tasks: a pool with a table of task functions, each chosen per
 * submit by its index, so that two kinds of work need no tag in the
 * payload. Each entry runs with its own arg; the completion says which task
 * it was; an index out of the table is refused and never calls back.
 */
#include "itest.h"

static char table[96];

/* "insert": payload is the id; arg is the table. */
static int insert_id(dbfork_worker *w, const void *in, size_t len, void *arg) {
  char sql[256];
  snprintf(sql, sizeof sql, "INSERT INTO `%s` (id, slot) VALUES (%.*s, %d)", (const char *)arg,
           (int)len, (const char *)in, dbfork_worker_slot(w));
  return mysql_query(dbfork_worker_mysql(w), sql) ? DBFORK_ESQL : 0;
}

/* "count": no payload; arg is the table; replies with its row count. */
static int count_rows(dbfork_worker *w, const void *in, size_t len, void *arg) {
  char sql[256];
  (void)in;
  if (len) return dbfork_worker_fail(w, DBFORK_ETASK, 0, NULL, "count takes no payload");
  snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM `%s`", (const char *)arg);
  return it_sql_task(w, sql, strlen(sql), NULL);
}

/* "tag": replies with its own arg, a string. */
static int reply_arg(dbfork_worker *w, const void *in, size_t len, void *arg) {
  (void)in;
  (void)len;
  return dbfork_worker_reply(w, arg, strlen(arg));
}

typedef struct seen {
  int calls;
  int status;
  unsigned int task;
  char reply[64];
} seen;

static void on_done(const dbfork_result *r, void *ud) {
  seen *s = ud;
  size_t n = r->len < sizeof s->reply - 1 ? r->len : sizeof s->reply - 1;
  s->calls++;
  s->status = r->status;
  s->task = r->task;
  if (n) memcpy(s->reply, r->data, n);
  s->reply[n] = 0;
}

enum { T_INSERT, T_COUNT, T_TAG, T_NOOP };

TEST(tasks_are_chosen_per_submit_by_index) {
  TU_NEEDS_PARENT_MEMORY(
      "the tasks' table name is written at run time (it_spawn has a table by index)");
  MYSQL *m = tu_connect();
  static const char tag[] = "the tag task's own arg";
  dbfork_task_def tasks[] = {
      DBFORK_TASK("insert", insert_id, table),
      DBFORK_TASK("count", count_rows, table),
      DBFORK_TASK("tag", reply_arg, (void *)tag),
      DBFORK_TASK("noop", NULL, NULL),
  };
  dbfork_options o;
  dbfork_pool *p = NULL;
  static seen ins[200], cnt, tg, noop, bad;
  char id[16];
  snprintf(table, sizeof table, "t_%s", tu_unique_name());
  tu_exec(m, "DROP TABLE IF EXISTS `%s`", table);
  tu_exec(m, "CREATE TABLE `%s` (id INT PRIMARY KEY, slot INT NOT NULL) ENGINE=InnoDB", table);
  it_options(&o, tu_unique_name(), 2);
  o.task = NULL;
  o.tasks = tasks;
  o.ntasks = sizeof tasks / sizeof tasks[0];
  CHECK_OK(dbfork_pool_new(&p, &o));
  CHECK_OK(dbfork_pool_start(p));

  for (int i = 0; i < 200; i++) {
    int n = snprintf(id, sizeof id, "%d", i);
    CHECK_OK(dbfork_submit_task(p, T_INSERT, id, (size_t)n, on_done, &ins[i]));
  }
  CHECK_OK(dbfork_pool_wait_idle(p));
  CHECK_OK(dbfork_submit_task(p, T_COUNT, NULL, 0, on_done, &cnt));
  CHECK_OK(dbfork_submit_task(p, T_TAG, NULL, 0, on_done, &tg));
  CHECK_OK(dbfork_submit_task(p, T_NOOP, "ignored", 7, on_done, &noop));
  /* Not an index of the table: refused, and its callback never runs. */
  CHECK_ERR(dbfork_submit_task(p, 4, NULL, 0, on_done, &bad), DBFORK_EINVAL);
  CHECK_ERR(dbfork_submit_task(p, (unsigned)-1, NULL, 0, on_done, &bad), DBFORK_EINVAL);
  CHECK_OK(dbfork_pool_join(p));
  dbfork_pool_free(p);

  for (int i = 0; i < 200; i++) {
    CHECK_EQ_INT(ins[i].calls, 1);
    CHECK_EQ_INT(ins[i].status, 0);
    CHECK_EQ_INT(ins[i].task, T_INSERT);
  }
  CHECK_EQ_INT(cnt.calls, 1);
  CHECK_EQ_INT(cnt.task, T_COUNT);
  CHECK_EQ_STR(cnt.reply, "200");
  CHECK_EQ_INT(tg.calls, 1);
  CHECK_EQ_INT(tg.task, T_TAG);
  CHECK_EQ_STR(tg.reply, tag);
  CHECK_EQ_INT(noop.calls, 1);
  CHECK_EQ_INT(noop.status, 0);
  CHECK_EQ_INT(noop.task, T_NOOP);
  CHECK_EQ_INT(bad.calls, 0);
  /* The server's view: every insert once, from both workers. */
  CHECK_EQ_INT(tu_query_ll(m, "SELECT COUNT(*) FROM `%s`", table), 200);
  CHECK_EQ_INT(tu_query_ll(m, "SELECT SUM(id) FROM `%s`", table), 199 * 200 / 2);
  tu_exec(m, "DROP TABLE `%s`", table);
}

/* dbfork_submit() is index 0: options.task, or the table's first entry. */
TEST(submit_runs_the_first_task) {
  static const char first[] = "first", second[] = "second";
  dbfork_task_def tasks[] = {DBFORK_TASK("a", reply_arg, (void *)first),
                             DBFORK_TASK("b", reply_arg, (void *)second)};
  dbfork_options o;
  dbfork_pool *p = NULL;
  seen s;
  memset(&s, 0, sizeof s);
  it_options(&o, tu_unique_name(), 1);
  o.task = NULL;
  o.tasks = tasks;
  o.ntasks = 2;
  CHECK_OK(dbfork_pool_new(&p, &o));
  CHECK_OK(dbfork_pool_start(p));
  CHECK_OK(dbfork_submit(p, "x", 1, on_done, &s));
  CHECK_OK(dbfork_pool_join(p));
  dbfork_pool_free(p);
  CHECK_EQ_INT(s.calls, 1);
  CHECK_EQ_INT(s.task, 0);
  CHECK_EQ_STR(s.reply, first);
}

/* A table the library cannot use is refused when the pool is made. */
TEST(bad_task_tables_are_refused) {
  dbfork_task_def two[] = {DBFORK_TASK("same", reply_arg, NULL), DBFORK_TASK("same", NULL, NULL)};
  dbfork_task_def unnamed[] = {DBFORK_TASK(NULL, reply_arg, NULL)};
  dbfork_task_def raw[1];
  dbfork_options o;
  dbfork_pool *p = NULL;
  tu_options(&o);
  o.tasks = two;
  o.ntasks = 2;
  CHECK_ERR(dbfork_pool_new(&p, &o), DBFORK_EINVAL); /* duplicate names */
  CHECK(p == NULL);
  o.ntasks = 0;
  CHECK_ERR(dbfork_pool_new(&p, &o), DBFORK_EINVAL); /* an empty table */
  o.tasks = unnamed;
  o.ntasks = 1;
  CHECK_ERR(dbfork_pool_new(&p, &o), DBFORK_EINVAL); /* no name */
  memset(raw, 0, sizeof raw);
  raw[0].name = "raw";
  o.tasks = raw;
  CHECK_ERR(dbfork_pool_new(&p, &o), DBFORK_EINVAL); /* size not set: not DBFORK_TASK() */
  o.tasks = two;
  o.ntasks = 1;
  o.task = reply_arg;
  CHECK_ERR(dbfork_pool_new(&p, &o), DBFORK_EINVAL); /* task and tasks */
  o.task = NULL;
  CHECK_OK(dbfork_pool_new(&p, &o));
  dbfork_pool_free(p);
}
