/*
 * test_load_privs.c — issue 11, point 4: least privilege, against the
 * server, with an account of the test's own that may only SELECT and
 * INSERT in the target's database (it used to fail with a 900-character
 * CREATE TABLE dump):
 *  - the load is refused before anything is written, in one line naming
 *    the privilege missing and the two ways out;
 *  - --progress-table=DB.TABLE puts the loader's tables where the account
 *    may create them, and the load resumes and completes there;
 *  - --no-resume needs no table at all and says so in the summary;
 *  - tables someone created that the account may not write are refused
 *    up front too, naming the statement's privilege.
 */
#define _GNU_SOURCE
#include "loadtest.h"

typedef struct account {
  char user[64], pw[80], uopt[100], popt[100], other[100];
} account;

/* An account that may SELECT and INSERT in e's database, and (other) a
 * database of its own where it may do anything. */
static void make_account(lt_env *e, account *a) {
  snprintf(a->user, sizeof a->user, "ld%08x", (unsigned)(tu_now_ms() ^ getpid()));
  snprintf(a->pw, sizeof a->pw, "pw-%s", a->user);
  snprintf(a->uopt, sizeof a->uopt, "--user=%s", a->user);
  snprintf(a->popt, sizeof a->popt, "--password=%s", a->pw);
  snprintf(a->other, sizeof a->other, "%s_own", e->db);
  tu_exec(e->m, "DROP USER IF EXISTS '%s'@'localhost'", a->user);
  tu_exec(e->m, "CREATE USER '%s'@'localhost' IDENTIFIED BY '%s'", a->user, a->pw);
  tu_exec(e->m, "GRANT SELECT, INSERT ON `%s`.* TO '%s'@'localhost'", e->db, a->user);
  tu_exec(e->m, "DROP DATABASE IF EXISTS `%s`", a->other);
  tu_exec(e->m, "CREATE DATABASE `%s`", a->other);
  tu_exec(e->m, "GRANT ALL ON `%s`.* TO '%s'@'localhost'", a->other, a->user);
}

static void drop_account(lt_env *e, account *a) {
  tu_exec(e->m, "DROP USER IF EXISTS '%s'@'localhost'", a->user);
  tu_exec(e->m, "DROP DATABASE IF EXISTS `%s`", a->other);
}

static long long loader_tables(lt_env *e, const char *db) {
  return tu_query_ll(e->m,
                     "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA='%s' AND "
                     "(TABLE_NAME LIKE 'dbfork%%' OR TABLE_NAME LIKE 'loads%%')",
                     db);
}

static void data(lt_env *e, lt_row *rows, size_t n) {
  lt_file f;
  lt_write_rows(e, &f, rows, n, 1, 21, 0, 0);
  lt_file_free(&f);
}

TEST(select_insert_account_gets_one_line_naming_the_privilege_and_the_ways_out) {
  lt_env e;
  account a;
  lt_row rows[200];
  lt_run r;
  char *nl;
  lt_setup(&e, "orders", 0);
  make_account(&e, &a);
  data(&e, rows, 200);
  lt_load(&r, &e, e.path, "orders", "-q", a.uopt, a.popt, NULL);
  CHECK_EXIT(&r, 2);
  CHECK_CONTAINS(r.err, "the account lacks the CREATE privilege on ");
  CHECK_CONTAINS(r.err, "--progress-table=DB.TABLE");
  CHECK_CONTAINS(r.err, "--no-resume");
  nl = strchr(r.err, '\n');
  CHECK(nl && (size_t)(nl - r.err) < 600 && !strstr(r.err, "ENGINE=InnoDB"));
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM orders"), 0);
  CHECK_EQ_INT(loader_tables(&e, e.db), 0);
  lt_run_free(&r);
  drop_account(&e, &a);
  lt_teardown(&e);
}

TEST(progress_table_elsewhere_loads_and_resumes_there) {
  lt_env e;
  account a;
  lt_row rows[500];
  lt_run r;
  char popt[200];
  lt_setup(&e, "orders", 0);
  make_account(&e, &a);
  data(&e, rows, 500);
  snprintf(popt, sizeof popt, "--progress-table=%s.loads_progress", a.other);
  lt_load(&r, &e, e.path, "orders", "-q", a.uopt, a.popt, popt, "--chunk-size=4K", NULL);
  CHECK_EXIT(&r, 0);
  CHECK_SUM(lt_server_sum(e.m, "orders"), lt_sum_rows(rows, 500));
  CHECK_EQ_INT(loader_tables(&e, e.db), 0);
  CHECK_EQ_INT(tu_query_ll(e.m,
                           "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA='%s' "
                           "AND TABLE_NAME IN ('loads_progress', 'loads_plan', 'loads_job')",
                           a.other),
               3);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT SUM(records) FROM `%s`.loads_progress", a.other), 500);
  lt_run_free(&r);
  lt_load(&r, &e, e.path, "orders", a.uopt, a.popt, popt, NULL);
  CHECK_EXIT(&r, 0);
  CHECK_CONTAINS(r.err, "already loaded on ");
  CHECK_SUM(lt_server_sum(e.m, "orders"), lt_sum_rows(rows, 500));
  lt_run_free(&r);
  drop_account(&e, &a);
  lt_teardown(&e);
}

TEST(no_resume_needs_no_table_and_says_so) {
  lt_env e;
  account a;
  lt_row rows[300];
  lt_run r;
  lt_sum twice;
  size_t i;
  lt_setup(&e, "orders", 0);
  make_account(&e, &a);
  data(&e, rows, 300);
  lt_load(&r, &e, e.path, "orders", a.uopt, a.popt, "--no-resume", "--chunk-size=2K", NULL);
  CHECK_EXIT(&r, 0);
  CHECK_CONTAINS(r.out,
                 "progress       not recorded (--no-resume): a rerun loads the whole file "
                 "again\n");
  CHECK_SUM(lt_server_sum(e.m, "orders"), lt_sum_rows(rows, 300));
  CHECK_EQ_INT(loader_tables(&e, e.db), 0);
  CHECK_EQ_INT(loader_tables(&e, a.other), 0);
  lt_run_free(&r);
  /* as said: no record, so the rerun loads the file again */
  lt_load(&r, &e, e.path, "orders", "-q", a.uopt, a.popt, "--no-resume", NULL);
  CHECK_EXIT(&r, 0);
  twice = lt_sum_rows(rows, 300);
  for (i = 0; i < 300; i++) lt_sum_add(&twice, &rows[i]);
  CHECK_SUM(lt_server_sum(e.m, "orders"), twice);
  lt_run_free(&r);
  drop_account(&e, &a);
  lt_teardown(&e);
}

/* The tables exist (an administrator made them) but the account may only
 * SELECT and INSERT there: the statement that needs more is named before
 * anything is loaded. */
TEST(loader_tables_the_account_may_not_write_are_refused_up_front) {
  lt_env e;
  account a;
  lt_row rows[100];
  lt_run r;
  char popt[200];
  lt_setup(&e, "orders", 0);
  make_account(&e, &a);
  data(&e, rows, 100);
  snprintf(popt, sizeof popt, "--progress-table=%s.loads_progress", e.db);
  /* made by the test's own (full) account */
  lt_load(&r, &e, e.path, "orders", "-q", popt, "--restart", NULL);
  CHECK_EXIT(&r, 0);
  lt_run_free(&r);
  tu_exec(e.m, "TRUNCATE TABLE orders");
  lt_load(&r, &e, e.path, "orders", "-q", a.uopt, a.popt, popt, "--reload", NULL);
  CHECK_EXIT(&r, 2);
  CHECK_CONTAINS(r.err, "cannot write the loader's tables: the account lacks the DELETE privilege");
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM orders"), 0);
  lt_run_free(&r);
  drop_account(&e, &a);
  lt_teardown(&e);
}
