/*
 * test_load_rerun.c — issue 11, point 3: reruns and job identity, against
 * the server. A daily job reruns the same command on the same path:
 *  - a completed job on the unchanged file does nothing and says so, even
 *    after the table was emptied (it used to load 0 rows, exit 0, silently);
 *    --reload loads it again;
 *  - a completed job on changed content is a new job and loads (it used to
 *    exit 2, "cannot resume");
 *  - an interrupted job whose file changed is refused, saying what changed;
 *  - --restart and --reload refuse a table that holds rows unless
 *    --truncate (--restart twice on a table without a key used to double
 *    its rows);
 *  - two loads of one job at once: the second names the first's connection
 *    (it used to fail on a duplicate key).
 * The tables have no primary key where a row loaded twice must show.
 */
#define _GNU_SOURCE
#include "loadtest.h"

TEST(completed_job_rerun_on_the_same_file_is_a_noop_that_says_so) {
  lt_env e;
  lt_file f;
  lt_row rows[600];
  lt_run r;
  char want[400], *job;
  lt_setup(&e, "orders", 0);
  lt_write_rows(&e, &f, rows, 600, 1, 3, 0, 0);
  lt_load(&r, &e, e.path, "orders", "-q", "--chunk-size=4K", NULL);
  CHECK_EXIT(&r, 0);
  lt_run_free(&r);
  job = tu_query_str(e.m, "SELECT job_id FROM dbfork_load_job");
  /* the same command; then other options (the chunks differ, the file does not) */
  lt_load(&r, &e, e.path, "orders", "--chunk-size=4K", NULL);
  CHECK_EXIT(&r, 0);
  snprintf(want, sizeof want, "dbfork load: %s into %s.orders: already loaded on ", e.path, e.db);
  CHECK_CONTAINS(r.err, want);
  snprintf(want, sizeof want, " as job %s: 600 rows; --reload to load it again\n", job);
  CHECK_CONTAINS(r.err, want);
  CHECK_EQ_STR(r.out, "");
  lt_run_free(&r);
  lt_load(&r, &e, e.path, "orders", "--chunk-size=16K", "--method=insert", "--json", NULL);
  CHECK_EXIT(&r, 0);
  CHECK_CONTAINS(r.out, "\"status\":\"already_loaded\"");
  CHECK_CONTAINS(r.out, "\"rows_before\":600,");
  lt_run_free(&r);
  CHECK_SUM(lt_server_sum(e.m, "orders"), lt_sum_rows(rows, 600));
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM dbfork_load_job"), 1);
  free(job);
  lt_file_free(&f);
  lt_teardown(&e);
}

/* TRUNCATE and rerun: the job is loaded (nothing happens, and the message
 * says how to load it again); --reload does, as a new job. */
TEST(emptied_table_rerun_says_already_loaded_and_reload_loads_it_again) {
  lt_env e;
  lt_file f;
  lt_row rows[300];
  lt_run r;
  lt_setup(&e, "orders", 0);
  lt_write_rows(&e, &f, rows, 300, 1, 4, 0, 0);
  lt_load(&r, &e, e.path, "orders", "-q", NULL);
  CHECK_EXIT(&r, 0);
  lt_run_free(&r);
  tu_exec(e.m, "TRUNCATE TABLE orders");
  lt_load(&r, &e, e.path, "orders", NULL);
  CHECK_EXIT(&r, 0);
  CHECK_CONTAINS(r.err, "already loaded on ");
  CHECK_CONTAINS(r.err, "--reload to load it again");
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM orders"), 0);
  lt_run_free(&r);
  lt_load(&r, &e, e.path, "orders", "-q", "--reload", NULL);
  CHECK_EXIT(&r, 0);
  CHECK_SUM(lt_server_sum(e.m, "orders"), lt_sum_rows(rows, 300));
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM dbfork_load_job"), 2);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(DISTINCT job_key) FROM dbfork_load_job"), 1);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT MAX(generation) FROM dbfork_load_job"), 2);
  lt_run_free(&r);
  lt_file_free(&f);
  lt_teardown(&e);
}

/* The daily file: the same path, new content. The rerun is a new job: it
 * loads the new rows, the old ones stay. */
TEST(completed_job_on_changed_content_is_a_new_job_and_loads) {
  lt_env e;
  lt_file f1, f2;
  lt_row day1[400], day2[500];
  lt_run r;
  lt_sum want;
  size_t i;
  lt_setup(&e, "orders", 0);
  lt_write_rows(&e, &f1, day1, 400, 1, 5, 0, 0);
  lt_load(&r, &e, e.path, "orders", "-q", NULL);
  CHECK_EXIT(&r, 0);
  lt_run_free(&r);
  lt_write_rows(&e, &f2, day2, 500, 10001, 6, 0, 0);
  lt_load(&r, &e, e.path, "orders", NULL);
  CHECK_EXIT(&r, 0);
  CHECK_CONTAINS(r.err, " changed since job ");
  CHECK_CONTAINS(r.err, ": loading it as a new job, ");
  CHECK_CONTAINS(r.out, "rows loaded    500\n");
  lt_run_free(&r);
  want = lt_sum_rows(day1, 400);
  for (i = 0; i < 500; i++) lt_sum_add(&want, &day2[i]);
  CHECK_SUM(lt_server_sum(e.m, "orders"), want);
  CHECK_EQ_INT(tu_query_ll(e.m,
                           "SELECT COUNT(*) FROM dbfork_load_job WHERE completed_at IS NOT "
                           "NULL"),
               2);
  /* the second day's job rerun: already loaded */
  lt_load(&r, &e, e.path, "orders", "-q", NULL);
  CHECK_EXIT(&r, 0);
  CHECK_SUM(lt_server_sum(e.m, "orders"), want);
  lt_run_free(&r);
  lt_file_free(&f1);
  lt_file_free(&f2);
  lt_teardown(&e);
}

/* An interrupted job (a bad row failed its chunk after others committed):
 * the file grows, or changes under a committed chunk: refused, saying
 * what, and nothing more is loaded. */
TEST(interrupted_job_whose_file_changed_is_refused_with_what_changed) {
  lt_env e;
  lt_file f;
  lt_row rows[2000];
  lt_run r;
  long long before;
  char want[400];
  size_t i;
  lt_setup(&e, "orders", 0);
  lt_gen(rows, 2000, 1, 8, 1);
  lt_file_init(&f, LT_BACKSLASH, 0);
  for (i = 0; i < 2000; i++) {
    if (i == 1900) lt_puts(&f, "1,2,3\n"); /* too few fields, in a late chunk */
    lt_put_row(&f, &rows[i], 1);
  }
  lt_write_file(e.path, f.p, f.len);
  lt_load(&r, &e, e.path, "orders", "-q", "--chunk-size=4K", "--workers=1", NULL);
  CHECK_EXIT(&r, 2);
  lt_run_free(&r);
  before = tu_query_ll(e.m, "SELECT COUNT(*) FROM orders");
  CHECK(before > 0 && before < 2000);
  /* grown */
  lt_puts(&f, "9999,1,1.00,2024-01-01 00:00:00,x\n");
  lt_write_file(e.path, f.p, f.len);
  lt_load(&r, &e, e.path, "orders", "-q", "--chunk-size=4K", NULL);
  CHECK_EXIT(&r, 2);
  snprintf(want, sizeof want, "%s is %zu bytes now, %zu when its interrupted run started", e.path,
           f.len, f.len - 34);
  CHECK_CONTAINS(r.err, want);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM orders"), before);
  lt_run_free(&r);
  /* the same size, a byte of the first chunk changed */
  f.len -= 34;
  f.p[10] = f.p[10] == '1' ? '2' : '1';
  lt_write_file(e.path, f.p, f.len);
  lt_load(&r, &e, e.path, "orders", "-q", "--chunk-size=4K", NULL);
  CHECK_EXIT(&r, 2);
  CHECK_CONTAINS(r.err, "cannot resume: chunk 0 (from line 1) differs from what an earlier run");
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM orders"), before);
  lt_run_free(&r);
  lt_file_free(&f);
  lt_teardown(&e);
}

/* dbfork 1.0's chunk and file hash (FNV over 8-byte words), as its
 * progress and job rows hold it. */
static uint64_t fnv_1_0(const void *vp, size_t n) {
  const unsigned char *s = vp;
  uint64_t h = 0xcbf29ce484222325ull ^ n;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, s + i, 8);
    h = (h ^ w) * 0x100000001b3ull;
    h ^= h >> 29;
  }
  for (; i < n; i++) h = (h ^ s[i]) * 0x100000001b3ull;
  return h;
}

/* Issue 14 changed the hash to CRC32C: an interrupted job of dbfork 1.0
 * (its progress rows hold the FNV hashes) still resumes exactly, a
 * completed one is still "already loaded", and a changed file is still
 * refused. */
TEST(jobs_hashed_by_dbfork_1_0_still_resume_and_stay_loaded) {
  lt_env e;
  lt_file f;
  lt_row rows[2000];
  lt_run r;
  long long before, parts, k, changed = 0;
  size_t i;
  char was;
  lt_setup(&e, "orders", 0);
  lt_gen(rows, 2000, 1, 8, 1);
  lt_file_init(&f, LT_BACKSLASH, 0);
  for (i = 0; i < 2000; i++) {
    if (i == 1900) lt_puts(&f, "1,2,3\n"); /* too few fields, in a late chunk */
    lt_put_row(&f, &rows[i], 1);
  }
  lt_write_file(e.path, f.p, f.len);
  lt_load(&r, &e, e.path, "orders", "-q", "--chunk-size=4K", "--workers=1", NULL);
  CHECK_EXIT(&r, 2);
  lt_run_free(&r);
  before = tu_query_ll(e.m, "SELECT COUNT(*) FROM orders");
  CHECK(before > 0 && before < 2000);
  /* the progress rows as dbfork 1.0 wrote them */
  parts = tu_query_ll(e.m, "SELECT COUNT(*) FROM dbfork_load_progress");
  CHECK(parts > 1);
  for (k = 0; k < parts; k++) {
    long long off = tu_query_ll(e.m,
                                "SELECT byte_offset FROM dbfork_load_progress ORDER BY "
                                "chunk_no, part LIMIT %lld, 1",
                                k);
    long long len = tu_query_ll(e.m,
                                "SELECT byte_len FROM dbfork_load_progress ORDER BY "
                                "chunk_no, part LIMIT %lld, 1",
                                k);
    uint64_t h = fnv_1_0(f.p + off, (size_t)len);
    changed += tu_query_ll(e.m,
                           "SELECT chunk_hash <> %llu FROM dbfork_load_progress WHERE "
                           "byte_offset = %lld",
                           (unsigned long long)h, off);
    tu_exec(e.m, "UPDATE dbfork_load_progress SET chunk_hash = %llu WHERE byte_offset = %lld",
            (unsigned long long)h, off);
  }
  CHECK_EQ_INT(changed, parts); /* this version hashes otherwise */
  /* a changed byte under a committed chunk: refused on either hash */
  was = f.p[10];
  f.p[10] = was == '1' ? '2' : '1';
  lt_write_file(e.path, f.p, f.len);
  lt_load(&r, &e, e.path, "orders", "-q", "--chunk-size=4K", "--max-errors=1", NULL);
  CHECK_EXIT(&r, 2);
  CHECK_CONTAINS(r.err, "cannot resume: chunk 0 (from line 1) differs from what an earlier run");
  lt_run_free(&r);
  f.p[10] = was;
  lt_write_file(e.path, f.p, f.len);
  /* restored: resumes, every row once */
  lt_load(&r, &e, e.path, "orders", "-q", "--chunk-size=4K", "--max-errors=1", NULL);
  CHECK_EXIT(&r, 1);
  lt_run_free(&r);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM orders"), 2000);
  CHECK_SUM(lt_server_sum(e.m, "orders"), lt_sum_rows(rows, 2000));
  /* completed, its file hash as dbfork 1.0 stored it: already loaded */
  tu_exec(e.m, "UPDATE dbfork_load_job SET file_hash = %llu",
          (unsigned long long)fnv_1_0(f.p, f.len));
  lt_load(&r, &e, e.path, "orders", "--chunk-size=4K", NULL);
  CHECK_EXIT(&r, 0);
  CHECK_CONTAINS(r.err, "already loaded on ");
  lt_run_free(&r);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM orders"), 2000);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM dbfork_load_job"), 1);
  lt_file_free(&f);
  lt_teardown(&e);
}

/* --restart twice on a table without a key: refused the second time (the
 * rows stay as they are), --truncate empties the table as the job starts. */
TEST(restart_and_reload_refuse_a_table_with_rows_unless_truncate) {
  lt_env e;
  lt_file f;
  lt_row rows[300];
  lt_run r;
  char want[300];
  static const char *const fresh[] = {"--restart", "--reload"};
  int k;
  lt_setup(&e, "orders", 0);
  lt_write_rows(&e, &f, rows, 300, 1, 9, 0, 0);
  lt_load(&r, &e, e.path, "orders", "-q", "--restart", NULL); /* empty: fine */
  CHECK_EXIT(&r, 0);
  lt_run_free(&r);
  for (k = 0; k < 2; k++) {
    lt_load(&r, &e, e.path, "orders", "-q", fresh[k], NULL);
    CHECK_EXIT(&r, 64);
    snprintf(want, sizeof want, "dbfork load: option %s: table `%s`.`orders` already holds rows",
             fresh[k], e.db);
    CHECK_CONTAINS(r.err, want);
    CHECK_CONTAINS(r.err, "--truncate");
    CHECK_SUM(lt_server_sum(e.m, "orders"), lt_sum_rows(rows, 300));
    lt_run_free(&r);
    lt_load(&r, &e, e.path, "orders", "-q", fresh[k], "--truncate", NULL);
    CHECK_EXIT(&r, 0);
    CHECK_SUM(lt_server_sum(e.m, "orders"), lt_sum_rows(rows, 300));
    lt_run_free(&r);
  }
  /* mysqlimport's --delete alone: empties the table, loads the file anew */
  tu_exec(e.m,
          "INSERT INTO orders (id, customer_id, amount, created_at) VALUES (77777, 1, 1, "
          "'2024-01-01')");
  lt_load(&r, &e, e.path, "orders", "-q", "--delete", NULL);
  CHECK_EXIT(&r, 0);
  CHECK_SUM(lt_server_sum(e.m, "orders"), lt_sum_rows(rows, 300));
  lt_run_free(&r);
  lt_file_free(&f);
  lt_teardown(&e);
}

/* The connection id of the session whose connect attributes say it is the
 * parent (dbfork-load-parent) of process pid, or 0. */
static long long parent_session(lt_env *e, pid_t pid) {
  char sql[700];
  snprintf(sql, sizeof sql,
           "SELECT IFNULL(MAX(a.PROCESSLIST_ID), 0) FROM "
           "performance_schema.session_connect_attrs a JOIN "
           "performance_schema.session_connect_attrs b ON b.PROCESSLIST_ID = "
           "a.PROCESSLIST_ID WHERE a.ATTR_NAME = 'program_name' AND a.ATTR_VALUE = "
           "'dbfork-load-parent' AND b.ATTR_NAME = 'dbfork_pid' AND b.ATTR_VALUE = '%ld'",
           (long)pid);
  return lt_try_ll(e->m, sql);
}

/* A second load of a job that is running is refused at once, naming the
 * first's connection; the first finishes exactly. The first is held by a
 * table lock of the test's (its workers wait for it), so nothing depends
 * on timing: the test waits for the first to hold the job's lock. */
TEST(two_loads_of_one_job_at_once_the_second_names_the_first) {
  lt_env e;
  lt_file f;
  lt_row rows[500];
  lt_proc p1;
  lt_run r1, r2;
  MYSQL *holder;
  long long conn = 0;
  char want[400];
  lt_setup(&e, "orders", 0);
  lt_write_rows(&e, &f, rows, 500, 1, 10, 0, 0);
  holder = lt_holder(&e);
  tu_exec(holder, "LOCK TABLES orders WRITE");
  lt_start(&p1, &e, e.path, "orders", "-q", NULL);
  lt_wait_for(&e, LT_JOB_LOCKED, 30000, "the first load takes the job's lock");
  conn = parent_session(&e, p1.pid);
  CHECK(conn > 0);
  lt_load(&r2, &e, e.path, "orders", "-q", NULL);
  CHECK_EXIT(&r2, 2);
  snprintf(want, sizeof want, "is being loaded by another run (connection id %lld)", conn);
  CHECK_CONTAINS(r2.err, want);
  CHECK(!strstr(r2.err, "Duplicate"));
  lt_run_free(&r2);
  tu_exec(holder, "UNLOCK TABLES");
  lt_wait(&p1, &e, &r1, 60000);
  CHECK_EXIT(&r1, 0);
  CHECK_SUM(lt_server_sum(e.m, "orders"), lt_sum_rows(rows, 500));
  lt_run_free(&r1);
  mysql_close(holder);
  lt_file_free(&f);
  lt_teardown(&e);
}

/* Loads of different tables in one database, started at once, share the
 * loader's tables there: each one's check of those tables (a rolled-back
 * write of a row no job has) must not deadlock on the others'. A locking
 * read of a missing row takes a gap lock under REPEATABLE READ, and two of
 * them then block each other's INSERT into that gap: one load failed with
 * "cannot write the loader's tables: Deadlock found" in a CI run. Every
 * round is a new job of each table, so the check runs as on a first load. */
#define NPAR 4
#define ROUNDS 6
TEST(loads_of_other_tables_in_one_database_at_once_do_not_deadlock_on_its_tables) {
  lt_env e;
  lt_row rows[200];
  lt_sum want[NPAR];
  int round, i;
  lt_setup(&e, NULL, 0);
  for (i = 0; i < NPAR; i++) {
    char t[16];
    snprintf(t, sizeof t, "orders%d", i);
    tu_exec(e.m,
            "CREATE TABLE `%s` (id BIGINT UNSIGNED NOT NULL, customer_id INT UNSIGNED NOT NULL, "
            "amount DECIMAL(12,2) NOT NULL, created_at DATETIME NOT NULL, note VARCHAR(48) NULL) "
            "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
            t);
    memset(&want[i], 0, sizeof want[i]);
  }
  for (round = 0; round < ROUNDS; round++) {
    lt_proc p[NPAR];
    char path[NPAR][220], table[NPAR][16];
    for (i = 0; i < NPAR; i++) {
      lt_file f;
      lt_gen(rows, 200, (uint64_t)round * 200 + 1, (uint64_t)(round * NPAR + i + 1), 1);
      lt_file_init(&f, LT_BACKSLASH, 0);
      lt_put_rows(&f, rows, 200, 1);
      snprintf(path[i], sizeof path[i], "%s/r%d_%d.csv", e.dir, round, i);
      lt_write_file(path[i], f.p, f.len);
      lt_file_free(&f);
      {
        int k;
        for (k = 0; k < 200; k++) lt_sum_add(&want[i], &rows[k]);
      }
      snprintf(table[i], sizeof table[i], "orders%d", i);
    }
    for (i = 0; i < NPAR; i++) lt_start(&p[i], &e, path[i], table[i], "-q", "-w", "1", NULL);
    for (i = 0; i < NPAR; i++) {
      lt_run r;
      lt_wait(&p[i], &e, &r, 60000);
      CHECK_EXIT(&r, 0);
      lt_run_free(&r);
    }
  }
  for (i = 0; i < NPAR; i++) {
    char t[16];
    snprintf(t, sizeof t, "orders%d", i);
    CHECK_SUM(lt_server_sum(e.m, t), want[i]);
  }
  lt_teardown(&e);
}
