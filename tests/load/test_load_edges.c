/*
 * test_load_edges.c — `dbfork load` ($DBFORK_CLI) at the edges a review
 * found broken: CRLF after a first record longer than 64 KiB, mixed line ends,
 * --max-errors over the whole load, non-transactional engines, a lone
 * escape at the end of the file, column names that are not plain words,
 * very wide column lists, and server warnings of the insert method.
 *
 * Like test_load.c, every test asserts on the server's view (rows, exact
 * values as HEX(), checksums, the progress table) and on the exit code and
 * the message the user sees.
 */
#define _GNU_SOURCE /* memmem */
#include "loadtest.h"

/* The one value `SELECT expr` returns, as a string ("" for NULL). */
static char *q_str(lt_env *e, const char *sql) {
  char *v = tu_query_str(e->m, "%s", sql);
  return v ? v : strdup("");
}

#define CHECK_QUERY(e, sql, want)                                                          \
  do {                                                                                     \
    char *cq__v = q_str((e), (sql));                                                       \
    if (strcmp(cq__v, (want))) FAIL("%s\n  got  '%s'\n  want '%s'", (sql), cq__v, (want)); \
    free(cq__v);                                                                           \
  } while (0)

/* 1 if the test's database has a progress table (the loader wrote something). */
static long long has_progress_table(lt_env *e) {
  return tu_query_ll(e->m,
                     "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA='%s' AND "
                     "TABLE_NAME='dbfork_load_progress'",
                     e->db);
}

/* ---------------------------------------------------------- CRLF sniff */

/* The load-data method tells the server the line terminator the file's
 * first record ends with. A first record longer than the first read (64 KiB)
 * must not leave the choice undecided: with "\r\n" lines and "\n" told to
 * the server, records merged and '\r' stayed in the values. */
TEST(crlf_detected_past_a_first_record_longer_than_64k) {
  lt_env e;
  lt_run r;
  lt_file f;
  static const char *const dups[] = {"error", "ignore"};
  int i;
  char *big = malloc(70001);
  if (!big) FAIL("out of memory");
  memset(big, 'a', 70000);
  big[70000] = 0;
  lt_setup(&e, NULL, 0);
  tu_exec(e.m, "CREATE TABLE t (id INT PRIMARY KEY, v LONGTEXT) ENGINE=InnoDB");
  lt_file_init(&f, LT_BACKSLASH, 1);
  lt_puts(&f, "1,");
  lt_puts(&f, big);
  lt_puts(&f, "\r\n2,\"quoted\"\r\n3,plain\r\n");
  lt_write_file(e.path, f.p, f.len);
  for (i = 0; i < 2; i++) {
    char dup[40];
    snprintf(dup, sizeof dup, "--on-duplicate=%s", dups[i]);
    tu_exec(e.m, "TRUNCATE TABLE t");
    lt_load(&r, &e, e.path, "t", "-q", "--restart", dup, NULL);
    CHECK_EXIT(&r, 0);
    CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM t"), 3);
    CHECK_QUERY(&e, "SELECT CONCAT(LENGTH(v), ' ', v = REPEAT('a', 70000)) FROM t WHERE id = 1",
                "70000 1");
    CHECK_QUERY(&e, "SELECT HEX(v) FROM t WHERE id = 2", "71756F746564"); /* quoted */
    CHECK_QUERY(&e, "SELECT HEX(v) FROM t WHERE id = 3", "706C61696E");   /* plain */
    lt_run_free(&r);
  }
  lt_file_free(&f);
  free(big);
  lt_teardown(&e);
}

/* A file that mixes LF and CRLF line ends (issue 11: where the server could
 * read a record differently, dbfork makes them agree): with the default
 * --lines-terminated-by='\n' both methods store the same values, none
 * with a '\r' left at its end, the load-data method sending each CRLF
 * record without its '\r' (the server is told "\n"). A '\r' escaped or
 * inside quotes stays. This replaces the sniff of the first record's line
 * end, and the failure when it could not be told within 64 MiB: there is
 * nothing to tell any more. */
TEST(mixed_lf_and_crlf_line_ends_load_the_same_with_both_methods) {
  static const char *const methods[] = {"load-data", "insert", "bulk"};
  static const char data[] =
      "1,crlf\r\n2,lf\n3,\"quoted\"\r\n4,\"in\r\nquotes\"\n5,esc\\\r\n"
      "6,last\r";
  lt_env e;
  size_t mi;
  lt_setup(&e, NULL, 0);
  tu_exec(e.m, "CREATE TABLE t (id INT PRIMARY KEY, v TEXT) ENGINE=InnoDB");
  lt_write_file(e.path, data, sizeof data - 1);
  for (mi = 0; mi < 3; mi++) {
    lt_run r;
    tu_exec(e.m, "TRUNCATE TABLE t");
    lt_load(&r, &e, e.path, "t", "-q", "--restart", "--method", methods[mi], NULL);
    CHECK_EXIT(&r, 0);
    CHECK_QUERY(&e, "SELECT GROUP_CONCAT(CONCAT(id, '=', HEX(v)) ORDER BY id) FROM t",
                "1=63726C66,2=6C66,3=71756F746564,4=696E0D0A71756F746573,5=6573630D,6=6C617374");
    lt_run_free(&r);
  }
  lt_teardown(&e);
}

/* ---------------------------------------------------------- --max-errors */

/* K is the limit for the whole load, not per chunk: 2 bad rows in different
 * chunks with --max-errors=1 must fail the second chunk to find one (and
 * stop the load), not commit everything and then report "incomplete". A
 * rerun after fixing that row finishes, counting the reject an earlier run
 * committed. */
TEST(max_errors_counts_the_whole_load) {
  lt_env e;
  lt_file f;
  lt_row rows[1998];
  lt_run r;
  uint64_t bad_off[2];
  size_t i, k = 0;
  int committed[2], failed;
  char rej[300], rpath[256], want[200];
  lt_setup(&e, "orders", 1);
  lt_gen(rows, 1998, 1, 4242, 1);
  lt_file_init(&f, LT_BACKSLASH, 0);
  for (i = 0; i < 1998; i++) {
    if (lt_line(&f) == 100 || lt_line(&f) == 1500) {
      char raw[80];
      bad_off[k] = f.len;
      snprintf(raw, sizeof raw, "%d,2,3.00,2024-01-01 00:00:00,x,extra\n", 9000001 + (int)k);
      lt_puts(&f, raw);
      k++;
    }
    lt_put_row(&f, &rows[i], 1);
  }
  CHECK_EQ_INT(k, 2);
  CHECK_EQ_INT(f.lines, 2000);
  lt_write_file(e.path, f.p, f.len);
  snprintf(rpath, sizeof rpath, "%s/rejects", e.dir);
  snprintf(rej, sizeof rej, "--reject-file=%s", rpath);

  lt_load(&r, &e, e.path, "orders", "--chunk-size=4K", "--max-errors=1", rej, NULL);
  CHECK_EXIT(&r, 2);
  CHECK_CONTAINS(r.err, "more than --max-errors=1 rows rejected in all (this chunk: lines ");
  CHECK_CONTAINS(r.out, "the load is incomplete");
  /* the failing chunk rolled back: fewer than the 1998 good rows, and exactly
   * the committed chunks' rows */
  CHECK(tu_query_ll(e.m, "SELECT COUNT(*) FROM orders") < 1998);
  CHECK_SUM(lt_server_sum(e.m, "orders"), lt_sum_committed(e.m, &f, rows));
  CHECK(tu_query_ll(e.m, "SELECT IFNULL(SUM(rejected),0) FROM dbfork_load_progress") <= 1);
  for (i = 0; i < 2; i++)
    committed[i] = (int)tu_query_ll(e.m,
                                    "SELECT COUNT(*) FROM dbfork_load_progress WHERE byte_offset "
                                    "<= %llu AND byte_offset + byte_len > %llu",
                                    (unsigned long long)bad_off[i], (unsigned long long)bad_off[i]);
  CHECK(committed[0] + committed[1] <= 1); /* the one that failed is not */
  lt_run_free(&r);

  /* Fix the bad row whose chunk did not commit (same length: same chunks),
   * and rerun: the rest loads, the other bad row stays rejected (1 <= K). */
  failed = committed[0] ? 1 : 0;
  memcpy(f.p + bad_off[failed] + 35, "x_extra", 7);
  lt_write_file(e.path, f.p, f.len);
  lt_load(&r, &e, e.path, "orders", "--chunk-size=4K", "--max-errors=1", rej, NULL);
  CHECK_EXIT(&r, 1);
  CHECK_CONTAINS(r.err, "resuming");
  if (strstr(r.out, "incomplete")) FAIL("a finished load says it is incomplete:\n%s", r.out);
  snprintf(want, sizeof want, "rejected       1");
  CHECK_CONTAINS(r.out, want);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM orders"), 1999);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM orders WHERE id = %d", 9000001 + failed), 1);
  {
    lt_sum all = lt_sum_rows(rows, 1998);
    CHECK_SUM(lt_server_sum_where(e.m, "orders", "id < 9000000"), all);
  }
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT SUM(rejected) FROM dbfork_load_progress"), 1);
  lt_run_free(&r);

  /* The job is complete now: a rerun does nothing (since issue 11), whatever
   * K, and says so. */
  lt_load(&r, &e, e.path, "orders", "--chunk-size=4K", "--max-errors=0", rej, NULL);
  CHECK_EXIT(&r, 0);
  CHECK_CONTAINS(r.err, "already loaded on ");
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM orders"), 1999);
  lt_run_free(&r);
  /* A rerun of an interrupted job with a lower K than the rejects its parts
   * committed is refused up front (the job is made to look interrupted). */
  tu_exec(e.m, "UPDATE dbfork_load_job SET completed_at = NULL");
  lt_load(&r, &e, e.path, "orders", "--chunk-size=4K", "--max-errors=0", rej, NULL);
  CHECK_EXIT(&r, 2);
  CHECK_CONTAINS(r.err,
                 "dbfork load: cannot resume: the chunks an earlier run of this load committed "
                 "rejected 1 rows, more than --max-errors=0");
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM orders"), 1999);
  lt_run_free(&r);
  lt_file_free(&f);
  lt_teardown(&e);
}

/* ------------------------------------------------------------- engines */

/* Without transactions a failed chunk cannot roll back and a rerun loads its
 * rows twice: the loader refuses such a table before it writes anything. */
TEST(non_transactional_engine_is_refused) {
  static const char *const engines[] = {"MyISAM", "Aria", "MEMORY"};
  static const char *const methods[] = {"load-data", "insert", "bulk"};
  lt_env e;
  lt_file f;
  lt_row rows[200];
  lt_run r;
  size_t i, mi;
  lt_setup(&e, NULL, 0);
  lt_gen(rows, 200, 1, 17, 1);
  lt_file_init(&f, LT_BACKSLASH, 0);
  lt_put_rows(&f, rows, 200, 1);
  lt_write_file(e.path, f.p, f.len);
  for (i = 0; i < sizeof engines / sizeof engines[0]; i++) {
    char want[300];
    tu_exec(e.m, "DROP TABLE IF EXISTS orders");
    tu_exec(e.m,
            "CREATE TABLE orders (id BIGINT UNSIGNED NOT NULL PRIMARY KEY, customer_id INT "
            "UNSIGNED NOT NULL, amount DECIMAL(12,2) NOT NULL, created_at DATETIME NOT NULL, "
            "note VARCHAR(48) NULL) ENGINE=%s",
            engines[i]);
    for (mi = 0; mi < 3; mi++) {
      lt_load(&r, &e, e.path, "orders", "-q", "--method", methods[mi], "--chunk-size=1K", NULL);
      CHECK_EXIT(&r, 64);
      snprintf(want, sizeof want,
               "dbfork load: option --table: table `%s`.`orders` uses the %s engine, which has no "
               "transactions",
               e.db, engines[i]);
      CHECK_CONTAINS(r.err, want);
      snprintf(want, sizeof want, "ALTER TABLE `%s`.`orders` ENGINE=InnoDB", e.db);
      CHECK_CONTAINS(r.err, want);
      CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM orders"), 0);
      CHECK_EQ_INT(has_progress_table(&e), 0);
      lt_run_free(&r);
    }
  }
  /* converted, it loads */
  tu_exec(e.m, "ALTER TABLE orders ENGINE=InnoDB");
  lt_load(&r, &e, e.path, "orders", "-q", NULL);
  CHECK_EXIT(&r, 0);
  CHECK_SUM(lt_server_sum(e.m, "orders"), lt_sum_rows(rows, 200));
  lt_run_free(&r);
  lt_file_free(&f);
  lt_teardown(&e);
}

/* ------------------------------------------------- escape at end of file */

/* A last record without a line terminator that ends in a lone escape byte:
 * the server's own LOAD DATA keeps the backslash ("abc\"); appending the
 * terminator must not turn it into an escaped newline. The expected values
 * are what MariaDB's LOAD DATA LOCAL stores for each file. */
TEST(lone_escape_at_end_of_file_is_literal) {
  static const struct {
    const char *data, *hex2, *opt;
  } cases[] = {
      {"1,x\n2,abc\\", "6162635C", NULL},       /* abc\ */
      {"1,x\n2,abc\\\\", "6162635C", NULL},     /* abc\\ -> abc\ */
      {"1,x\n2,abc\\\\\\", "6162635C5C", NULL}, /* abc\\\ -> abc\\ */
      {"1,x\n2,\"abc\\\\\"", "6162635C", NULL}, /* "abc\\" -> abc\ */
      {"1,x\r\n2,abc\\", "6162635C", NULL},     /* CRLF file */
      {"1,x\n2,abc\\", "6162635C", "--fields-enclosed-by="},
      {"1\tx\n2\tabc\\", "6162635C", "--fields-terminated-by=\\t"},
  };
  static const char *const methods[] = {"load-data", "insert", "bulk"};
  static const char *const chunks[] = {"--chunk-size=1", "--chunk-size=1M"};
  lt_env e;
  lt_run r;
  size_t i, mi, ci;
  lt_setup(&e, NULL, 0);
  tu_exec(e.m, "CREATE TABLE t (id INT PRIMARY KEY, v TEXT) ENGINE=InnoDB");
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    lt_write_file(e.path, cases[i].data, strlen(cases[i].data));
    for (mi = 0; mi < 3; mi++)
      for (ci = 0; ci < 2; ci++) {
        char *got;
        tu_exec(e.m, "TRUNCATE TABLE t");
        lt_load(&r, &e, e.path, "t", "-q", "--restart", "--method", methods[mi], chunks[ci],
                cases[i].opt ? cases[i].opt : "-q", NULL);
        CHECK_EXIT(&r, 0);
        got = q_str(&e, "SELECT CONCAT(COUNT(*), ' ', GROUP_CONCAT(HEX(v) ORDER BY id)) FROM t");
        {
          char want[100];
          snprintf(want, sizeof want, "2 78,%s", cases[i].hex2);
          if (strcmp(got, want))
            FAIL("case %zu (%s, %s): the table holds '%s', expected '%s'", i, methods[mi],
                 chunks[ci], got, want);
        }
        free(got);
        lt_run_free(&r);
      }
  }
  lt_teardown(&e);
}

/* ------------------------------------------------------------- columns */

/* Column names are one identifier each: a dot is part of the name, a
 * backtick is doubled, and the limit is 64 characters (a 40-character
 * name of 2-byte letters is 80 bytes and legal). With --on-duplicate=update
 * a hostile name must not rewrite the statement: pasted unquoted,
 * "b`=999 -- x" set b to 999 on every duplicate. */
#define HOSTILE_COL "b`=999 -- x"
#define HOSTILE_COL_Q "`b``=999 -- x`"
TEST(column_names_are_quoted_as_one_identifier) {
  static const char *const methods[] = {"load-data", "insert", "bulk"};
  lt_env e;
  lt_run r;
  char longname[100], cols[1024], *got;
  size_t mi, i;
  static const char data[] = "1,2,3,4,5,6,7\n2,3,4,5,6,7,8\n";
  static const char data2[] = "1,20,30,40,50,60,70\n2,30,40,50,60,70,80\n";
  longname[0] = 0;
  for (i = 0; i < 40; i++) strcat(longname, "\xc3\xa9"); /* é x 40: 80 bytes */
  lt_setup(&e, NULL, 0);
  tu_exec(e.m,
          "CREATE TABLE t (id INT PRIMARY KEY, `a.b` INT, `a..b` INT, `%s` INT, `x``y` INT, b "
          "INT, " HOSTILE_COL_Q " INT) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
          longname);
  lt_write_file(e.path, data, strlen(data));
  for (mi = 0; mi < 3; mi++) {
    tu_exec(e.m, "TRUNCATE TABLE t");
    lt_load(&r, &e, e.path, "t", "-q", "--restart", "--method", methods[mi], NULL);
    CHECK_EXIT(&r, 0);
    got = tu_query_str(
        e.m,
        "SELECT GROUP_CONCAT(CONCAT_WS(',', id, `a.b`, `a..b`, `%s`, `x``y`, b, " HOSTILE_COL_Q
        ") ORDER BY id SEPARATOR ';') FROM t",
        longname);
    CHECK_EQ_STR(got, "1,2,3,4,5,6,7;2,3,4,5,6,7,8");
    free(got);
    lt_run_free(&r);
  }
  /* --columns names them (in another order), with dots and backticks */
  snprintf(cols, sizeof cols, "--columns=id,x`y,a..b,a.b,%s,b," HOSTILE_COL, longname);
  for (mi = 0; mi < 3; mi++) {
    tu_exec(e.m, "TRUNCATE TABLE t");
    lt_load(&r, &e, e.path, "t", "-q", "--restart", "--method", methods[mi], cols, NULL);
    CHECK_EXIT(&r, 0);
    got = tu_query_str(
        e.m,
        "SELECT GROUP_CONCAT(CONCAT_WS(',', id, `x``y`, `a..b`, `a.b`, `%s`, b, " HOSTILE_COL_Q
        ") ORDER BY id SEPARATOR ';') FROM t",
        longname);
    CHECK_EQ_STR(got, "1,2,3,4,5,6,7;2,3,4,5,6,7,8");
    free(got);
    lt_run_free(&r);
  }
  /* --on-duplicate=update: every column takes the file's value, b is not 999 */
  lt_write_file(e.path, data2, strlen(data2));
  for (i = 0; i < 2; i++) { /* a full prepared batch, then text tails; onto the rows on
                               purpose: --no-resume (--restart refuses a table with rows) */
    lt_load(&r, &e, e.path, "t", "-q", "--no-resume", "--method=insert", "--on-duplicate=update",
            i ? "--batch=3" : "--batch=2", NULL);
    CHECK_EXIT(&r, 0);
    got = tu_query_str(
        e.m,
        "SELECT GROUP_CONCAT(CONCAT_WS(',', id, `a.b`, `a..b`, `%s`, `x``y`, b, " HOSTILE_COL_Q
        ") ORDER BY id SEPARATOR ';') FROM t",
        longname);
    CHECK_EQ_STR(got, "1,20,30,40,50,60,70;2,30,40,50,60,70,80");
    free(got);
    lt_run_free(&r);
    tu_exec(e.m, "UPDATE t SET `a.b` = 0, b = 0");
  }
  lt_teardown(&e);
}

/* The injection alone (no dotted names, which failed earlier in the old
 * code): a duplicate updated through the hostile name sets b from the file. */
TEST(on_duplicate_update_quotes_column_names) {
  lt_env e;
  lt_run r;
  int i;
  lt_setup(&e, NULL, 0);
  tu_exec(e.m, "CREATE TABLE t (id INT PRIMARY KEY, b INT, " HOSTILE_COL_Q " INT) ENGINE=InnoDB");
  lt_write_file(e.path, "1,2,3\n", 6);
  for (i = 0; i < 2; i++) { /* the second onto the first's row: --no-resume */
    lt_load(&r, &e, e.path, "t", "-q", "--no-resume", "--method=insert", "--on-duplicate=update",
            NULL);
    CHECK_EXIT(&r, 0);
    lt_run_free(&r);
  }
  CHECK_QUERY(&e, "SELECT CONCAT_WS(',', id, b, " HOSTILE_COL_Q ") FROM t", "1,2,3");
  lt_teardown(&e);
}

/* A column named twice in --columns is refused before anything is written,
 * naming the option and the column. */
TEST(column_named_twice_is_refused) {
  lt_env e;
  lt_run r;
  lt_setup(&e, NULL, 0);
  tu_exec(e.m, "CREATE TABLE t (id INT PRIMARY KEY, `a.b` INT) ENGINE=InnoDB");
  lt_write_file(e.path, "1,2\n", 4);
  lt_load(&r, &e, e.path, "t", "-q", "--columns=a.b,id,A.B", NULL);
  CHECK_EXIT(&r, 64);
  CHECK_CONTAINS(r.err, "option --columns: column 'A.B' is named twice");
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM t"), 0);
  CHECK_EQ_INT(has_progress_table(&e), 0);
  lt_run_free(&r);
  lt_teardown(&e);
}

/* ------------------------------------------------ wide column lists */

/* A column list that does not fit in 64 KiB: 520 columns whose 64-character
 * names are mostly backticks (126 bytes each quoted), as the table's own
 * order and named in --columns (reversed, so the mapping matters). Both
 * methods load exactly. */
static void wide_name(char *name, int c) {
  snprintf(name, 8, "%04d", c);
  memset(name + 4, '`', 60);
  name[64] = 0;
}

static void wide_case(int use_columns) {
  static const char *const methods[] = {"load-data", "insert", "bulk"};
  enum { NCOLS = 520 };
  lt_env e;
  char *create, *opt, *sum, name[80], wantbuf[64];
  lt_file f;
  lt_run r;
  int c, row, mi, k;
  size_t cap = (size_t)NCOLS * 200 + 1024, n = 0, on = 0, sn = 0;
  long long want = 0;
  create = malloc(cap);
  opt = malloc(cap);
  sum = malloc(cap);
  if (!create || !opt || !sum) FAIL("out of memory");
  lt_setup(&e, NULL, 0);
  n += (size_t)snprintf(create + n, cap - n, "CREATE TABLE w (");
  on += (size_t)snprintf(opt + on, cap - on, "--columns=");
  sn += (size_t)snprintf(sum + sn, cap - sn, "SELECT COUNT(*) * 1000000000 + SUM(0");
  for (c = 0; c < NCOLS; c++) {
    wide_name(name, c);
    create[n++] = c ? ',' : ' ';
    sum[sn++] = '+';
    create[n++] = sum[sn++] = '`';
    for (k = 0; k < 64; k++) {
      if (name[k] == '`') create[n++] = sum[sn++] = '`';
      create[n++] = sum[sn++] = name[k];
    }
    create[n++] = sum[sn++] = '`';
    n += (size_t)snprintf(create + n, cap - n, " SMALLINT");
    sn += (size_t)snprintf(sum + sn, cap - sn, "*%d", c + 1);
    /* --columns lists the file's order: table column NCOLS-1-c first */
    wide_name(name, NCOLS - 1 - c);
    on += (size_t)snprintf(opt + on, cap - on, "%s%s", c ? "," : "", name);
  }
  snprintf(create + n, cap - n, ") ENGINE=InnoDB");
  snprintf(sum + sn, cap - sn, ") FROM w");
  tu_exec(e.m, "%s", create);
  /* file column c holds row*10 + c%7; it goes to table column c, or with
   * --columns to table column NCOLS-1-c (weight NCOLS-c in the sum) */
  lt_file_init(&f, LT_BACKSLASH, 0);
  for (row = 1; row <= 3; row++) {
    for (c = 0; c < NCOLS; c++) {
      char v[16];
      snprintf(v, sizeof v, "%s%d", c ? "," : "", row * 10 + c % 7);
      lt_puts(&f, v);
      want += (long long)(row * 10 + c % 7) * (use_columns ? NCOLS - c : c + 1);
    }
    lt_puts(&f, "\n");
  }
  lt_write_file(e.path, f.p, f.len);
  snprintf(wantbuf, sizeof wantbuf, "%lld", 3 * 1000000000LL + want);
  for (mi = 0; mi < 3; mi++) {
    char *got;
    tu_exec(e.m, "TRUNCATE TABLE w");
    lt_load(&r, &e, e.path, "w", "-q", "--restart", "--method", methods[mi],
            use_columns ? opt : "-q", NULL);
    CHECK_EXIT(&r, 0);
    got = tu_query_str(e.m, "%s", sum);
    if (!got || strcmp(got, wantbuf))
      FAIL("%s: checksum %s, expected %s", methods[mi], got ? got : "NULL", wantbuf);
    free(got);
    lt_run_free(&r);
  }
  lt_file_free(&f);
  free(create);
  free(opt);
  free(sum);
  lt_teardown(&e);
}

TEST(wide_table_with_backtick_names_loads) { wide_case(0); }
TEST(wide_column_list_in_columns_option_loads) { wide_case(1); }

/* -------------------------------------------------------------- warnings */

/* The server's warnings of every statement are reported, each at the file
 * line of the row it names: the insert method sends a chunk as several
 * INSERTs (--batch=3: rows 1-3, 4-6, then 7 alone), whose "at row N" counts
 * from that statement's first row. A DECIMAL(5,2) rounding '1.234' is a
 * Note (1265) even in strict mode. Line 1 is a header. */
static void warnings_case(const char *method, const char *rows_bad, long long nwarn,
                          const char *const *want_lines) {
  lt_env e;
  lt_run r;
  lt_file f;
  int i;
  char want[64];
  lt_setup(&e, NULL, 0);
  tu_exec(e.m, "CREATE TABLE t (id INT PRIMARY KEY, v DECIMAL(5,2)) ENGINE=InnoDB");
  lt_file_init(&f, LT_BACKSLASH, 0);
  lt_puts(&f, "id,v\n");
  for (i = 1; i <= 7; i++) {
    char line[40];
    snprintf(line, sizeof line, "%d,%s\n", i, strchr(rows_bad, '0' + i) ? "1.234" : "1.5");
    lt_puts(&f, line);
  }
  lt_write_file(e.path, f.p, f.len);
  lt_load(&r, &e, e.path, "t", "--skip-lines=1", "--method", method, "--batch=3", NULL);
  CHECK_EXIT(&r, 0);
  snprintf(want, sizeof want, "warnings       %lld\n", nwarn);
  CHECK_CONTAINS(r.out, want);
  for (i = 0; want_lines[i]; i++) CHECK_CONTAINS(r.err, want_lines[i]);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM t"), 7);
  lt_run_free(&r);
  lt_file_free(&f);
  lt_teardown(&e);
}

TEST(insert_warnings_of_every_batch_at_their_lines) {
  static const char *const w16[] = {"    line 2: Data truncated for column 'v' at row 1\n",
                                    "    line 7: Data truncated for column 'v' at row 3\n", NULL};
  static const char *const w7[] = {"    line 8: Data truncated for column 'v' at row 1\n", NULL};
  warnings_case("insert", "16", 2, w16);
  warnings_case("insert", "7", 1, w7);
}

TEST(load_data_warnings_at_their_lines) {
  static const char *const w16[] = {"    line 2: Data truncated for column 'v' at row 1\n",
                                    "    line 7: Data truncated for column 'v' at row 6\n", NULL};
  static const char *const w7[] = {"    line 8: Data truncated for column 'v' at row 7\n", NULL};
  warnings_case("load-data", "16", 2, w16);
  warnings_case("load-data", "7", 1, w7);
}

/* -------------------------------------------------------------- messages */

/* A chunk the server fails names the file, as a rejected row does. */
TEST(server_errors_name_the_file) {
  static const char *const methods[] = {"load-data", "insert", "bulk"};
  lt_env e;
  lt_run r;
  size_t mi;
  char want[400];
  lt_setup(&e, NULL, 0);
  tu_exec(e.m, "CREATE TABLE t (id INT PRIMARY KEY, v TEXT) ENGINE=InnoDB");
  lt_write_file(e.path, "1,a\n1,b\n", 8);
  for (mi = 0; mi < 3; mi++) {
    lt_load(&r, &e, e.path, "t", "-q", "--restart", "--method", methods[mi], NULL);
    CHECK_EXIT(&r, 2);
    snprintf(want, sizeof want,
             "dbfork load: chunk 0 (from line 1, bytes 0-8) failed: %s: lines 1-2: Duplicate entry "
             "'1' for key ",
             e.path);
    CHECK_CONTAINS(r.err, want);
    CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM t"), 0);
    lt_run_free(&r);
  }
  lt_teardown(&e);
}
