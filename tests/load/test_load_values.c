/*
 * test_load_values.c — issue 11, points 1 and 2, against the server: what
 * `dbfork load` accepted is exactly what the server stores.
 *
 *  - character sets: a Latin-1 byte in a utf8mb4 file is a bad record (it
 *    used to load as 'Caf?,1.00' with the next columns shifted, exit 0);
 *    --character-set=latin1 stores it as é with both methods; a UTF-8 byte
 *    order mark is skipped; a set the loader cannot read safely is refused;
 *  - bad values: an empty DECIMAL, a date that does not exist, a string too
 *    long become rejects with file line, column name and value, counted
 *    against --max-errors, with both methods, and the rest of their chunk
 *    loads (they used to load as 0.00 and 0000-00-00 with LOAD DATA, and to
 *    fail the whole chunk "at row 2" with INSERT); --bad-values=warn keeps
 *    LOAD DATA's coercion.
 * Each asserts on the rows the server holds (HEX of the values).
 */
#define _GNU_SOURCE /* memmem */
#include "loadtest.h"

static const char *const methods[] = {"load-data", "insert", "bulk"};

static void make_t(lt_env *e) {
  tu_exec(e->m, "DROP TABLE IF EXISTS t");
  tu_exec(e->m,
          "CREATE TABLE t (name VARCHAR(20) NOT NULL, amount DECIMAL(10,2) NOT NULL, d DATE NULL, "
          "note VARCHAR(5) NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4");
}

/* data as the test's file, and --reject-file=DIR/rej (its path in rpath). */
static void file_and_rejects(lt_env *e, const char *data, size_t len, char *rpath, size_t rlen,
                             char *ropt, size_t olen) {
  lt_write_file(e->path, data, len);
  snprintf(rpath, rlen, "%s/rej", e->dir);
  snprintf(ropt, olen, "--reject-file=%s", rpath);
}

static char *rows_hex(lt_env *e) {
  return tu_query_str(e->m,
                      "SELECT IFNULL(GROUP_CONCAT(CONCAT_WS(',', HEX(name), amount, IFNULL(d, "
                      "'N'), IFNULL(note, 'N')) ORDER BY name SEPARATOR ';'), '') FROM t");
}

/* ------------------------------------------------------ character sets */

/* "Caf\xe9" (Latin-1) in a utf8mb4 file: with --max-errors 0 the chunk fails
 * naming the file, line, column and byte offset, and nothing is stored;
 * with --max-errors=1 the record is a reject (in the reject file, as the
 * bytes were) and the next row loads, unshifted. */
TEST(latin1_byte_in_a_utf8mb4_file_is_a_bad_record_not_a_shifted_row) {
  static const char data[] = "Caf\xe9,1.00,2024-01-01,x\nBob,2.00,2024-01-02,y\n";
  lt_env e;
  size_t mi;
  char want[400], rpath[256], ropt[300], *got, *txt;
  lt_setup(&e, NULL, 0);
  file_and_rejects(&e, data, sizeof data - 1, rpath, sizeof rpath, ropt, sizeof ropt);
  for (mi = 0; mi < 3; mi++) {
    lt_run r;
    make_t(&e);
    lt_load(&r, &e, e.path, "t", "-q", "--no-resume", "--method", methods[mi], NULL);
    CHECK_EXIT(&r, 2);
    snprintf(want, sizeof want,
             "%s: line 1, column 4 (field 1, byte 3): bytes that are not UTF-8 "
             "(--character-set=utf8mb4)",
             e.path);
    CHECK_CONTAINS(r.err, want);
    CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM t"), 0);
    lt_run_free(&r);

    lt_load(&r, &e, e.path, "t", "-q", "--no-resume", "--max-errors=1", ropt, "--method",
            methods[mi], NULL);
    CHECK_EXIT(&r, 1);
    got = rows_hex(&e);
    CHECK_EQ_STR(got, "426F62,2.00,2024-01-02,y"); /* Bob, and nothing shifted */
    free(got);
    txt = lt_read_file(rpath, NULL);
    snprintf(want, sizeof want, "# %s: line 1, column 4 (field 1, byte 3): ", e.path);
    CHECK_CONTAINS(txt, want);
    CHECK_CONTAINS(txt, "(--character-set=utf8mb4)\nCaf\xe9,1.00,2024-01-01,x\n");
    free(txt);
    lt_run_free(&r);
  }
  lt_teardown(&e);
}

/* The same file, said to be Latin-1: é is stored (as utf8mb4 C3A9 in the
 * column), with both methods; the alias --default-character-set too. */
TEST(character_set_latin1_stores_the_characters_with_both_methods) {
  static const char data[] = "Caf\xe9,1.00,2024-01-01,x\nBob,2.00,2024-01-02,\xe0\xe8\n";
  lt_env e;
  size_t mi;
  char *got;
  lt_setup(&e, NULL, 0);
  lt_write_file(e.path, data, sizeof data - 1);
  for (mi = 0; mi < 6; mi++) {
    lt_run r;
    make_t(&e);
    lt_load(&r, &e, e.path, "t", "-q", "--no-resume", "--method", methods[mi % 3], "--batch=1",
            mi < 3 ? "--character-set=latin1" : "--default-character-set=latin1", NULL);
    CHECK_EXIT(&r, 0);
    got = rows_hex(&e);
    CHECK_EQ_STR(got, "426F62,2.00,2024-01-02,\xc3\xa0\xc3\xa8;436166C3A9,1.00,2024-01-01,x");
    free(got);
    lt_run_free(&r);
  }
  lt_teardown(&e);
}

/* A UTF-8 byte order mark is not data: the first column of the first row
 * is "id1", not "\xef\xbb\xbfid1" (nor a bad record). */
TEST(utf8_byte_order_mark_is_skipped) {
  static const char data[] =
      "\xef\xbb\xbf"
      "Ann,1.00,2024-01-01,x\nBob,2.00,2024-01-02,y\n";
  lt_env e;
  size_t mi;
  char *got;
  lt_setup(&e, NULL, 0);
  lt_write_file(e.path, data, sizeof data - 1);
  for (mi = 0; mi < 3; mi++) {
    lt_run r;
    make_t(&e);
    lt_load(&r, &e, e.path, "t", "-q", "--no-resume", "--method", methods[mi], NULL);
    CHECK_EXIT(&r, 0);
    got = rows_hex(&e);
    CHECK_EQ_STR(got, "416E6E,1.00,2024-01-01,x;426F62,2.00,2024-01-02,y");
    free(got);
    lt_run_free(&r);
  }
  /* with a header: the header is the first record after the mark */
  lt_write_file(e.path, "\xef\xbb\xbfname,amount,d,note\nAnn,1.00,2024-01-01,x\n", 44);
  make_t(&e);
  {
    lt_run r;
    lt_load(&r, &e, e.path, "t", "-q", "--no-resume", "--skip-lines=1", NULL);
    CHECK_EXIT(&r, 0);
    got = rows_hex(&e);
    CHECK_EQ_STR(got, "416E6E,1.00,2024-01-01,x");
    free(got);
    lt_run_free(&r);
  }
  lt_teardown(&e);
}

/* A set whose characters can hold ASCII bytes, and one the server does not
 * know, are refused before anything is written (exit 64, the option named). */
TEST(character_sets_the_loader_cannot_read_safely_are_refused) {
  lt_env e;
  lt_run r;
  lt_setup(&e, NULL, 0);
  make_t(&e);
  lt_write_file(e.path, "a,1,2024-01-01,x\n", 17);
  lt_load(&r, &e, e.path, "t", "-q", "--character-set=sjis", NULL);
  CHECK_EXIT(&r, 64);
  CHECK_CONTAINS(r.err, "option --character-set: sjis is not supported");
  lt_run_free(&r);
  lt_load(&r, &e, e.path, "t", "-q", "--character-set=klingon", NULL);
  CHECK_EXIT(&r, 64);
  CHECK_CONTAINS(r.err, "option --character-set: the server has no character set 'klingon'");
  lt_run_free(&r);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM t"), 0);
  lt_teardown(&e);
}

/* ---------------------------------------------------------- bad values */

static const char bad_values[] =
    "Ann,1.00,2024-01-01,x\n"       /* line 1: good */
    "Bob,,2024-01-02,y\n"           /* 2: empty DECIMAL */
    "Cid,3.00,2024-02-30,z\n"       /* 3: no such date */
    "Dan,4.00,2024-01-04,long!\n"   /* 4: fits VARCHAR(5) */
    "Eve,5.00,2024-01-05,toolong\n" /* 5: too long */
    "Fay,6.00,2024-01-06,w\n";      /* 6: good */

/* By default a value the server would coerce is a bad row: with both
 * methods, 3 rejects naming line, column and value, the 3 good rows stored
 * exactly (no 0.00, no 0000-00-00, nothing cut). */
TEST(bad_values_are_rejected_with_line_column_and_value_both_methods) {
  lt_env e;
  size_t mi;
  char rpath[256], ropt[300], want[400], *got, *txt;
  lt_setup(&e, NULL, 0);
  file_and_rejects(&e, bad_values, sizeof bad_values - 1, rpath, sizeof rpath, ropt, sizeof ropt);
  for (mi = 0; mi < 6; mi++) {
    lt_run r;
    make_t(&e);
    /* mi 3..5: chunks of one row, and (0..2) a batch of 2 (refusals in a
     * prepared batch and in a text tail; bulk: in a batch it falls back on) */
    lt_load(&r, &e, e.path, "t", "--no-resume", "--max-errors=3", ropt, "--method", methods[mi % 3],
            mi >= 3 ? "--chunk-size=1" : "--batch=2", NULL);
    CHECK_EXIT(&r, 1);
    CHECK_CONTAINS(r.out, "rejected       3 ");
    got = rows_hex(&e);
    CHECK_EQ_STR(got,
                 "416E6E,1.00,2024-01-01,x;44616E,4.00,2024-01-04,long!;466179,6.00,2024-01-06,w");
    free(got);
    txt = lt_read_file(rpath, NULL);
    snprintf(want, sizeof want,
             "# %s: line 2, column 5 (field 2, byte 26): value '' for column amount: ", e.path);
    CHECK_CONTAINS(txt, want);
    CHECK_CONTAINS(txt, "\nBob,,2024-01-02,y\n");
    snprintf(
        want, sizeof want,
        "# %s: line 3, column 10 (field 3, byte 49): value '2024-02-30' for column d: ", e.path);
    CHECK_CONTAINS(txt, want);
    snprintf(
        want, sizeof want,
        "# %s: line 5, column 21 (field 4, byte 108): value 'toolong' for column note: ", e.path);
    CHECK_CONTAINS(txt, want);
    CHECK(!strstr(txt, "at row"));
    free(txt);
    lt_run_free(&r);
  }
  lt_teardown(&e);
}

/* With --max-errors 0 the first bad value fails its chunk with the same
 * words (file, line, column, value), and the chunk leaves nothing behind;
 * with --max-errors=2 the third one fails it. */
TEST(bad_values_count_against_max_errors) {
  lt_env e;
  size_t mi;
  char want[400];
  lt_setup(&e, NULL, 0);
  lt_write_file(e.path, bad_values, sizeof bad_values - 1);
  for (mi = 0; mi < 3; mi++) {
    lt_run r;
    make_t(&e);
    lt_load(&r, &e, e.path, "t", "-q", "--no-resume", "--method", methods[mi], NULL);
    CHECK_EXIT(&r, 2);
    snprintf(want, sizeof want,
             "%s: line 2, column 5 (field 2, byte 26): value '' for column amount", e.path);
    CHECK_CONTAINS(r.err, want);
    CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM t"), 0);
    lt_run_free(&r);
    lt_load(&r, &e, e.path, "t", "-q", "--no-resume", "--max-errors=2", "--method", methods[mi],
            NULL);
    CHECK_EXIT(&r, 2);
    CHECK_CONTAINS(r.err, "more than --max-errors=2 rows rejected in all");
    CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM t"), 0);
    lt_run_free(&r);
  }
  lt_teardown(&e);
}

/* The budget is shared across reruns in a resumable load too: the job's
 * rejected column holds the bad values of the parts that committed. */
TEST(bad_values_in_a_resumable_load_are_recorded_with_their_part) {
  lt_env e;
  lt_run r;
  lt_setup(&e, NULL, 0);
  make_t(&e);
  lt_write_file(e.path, bad_values, sizeof bad_values - 1);
  lt_load(&r, &e, e.path, "t", "-q", "--max-errors=3", "--chunk-size=30", NULL);
  CHECK_EXIT(&r, 1);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM t"), 3);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT rejected FROM dbfork_load_job"), 3);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT SUM(rejected) FROM dbfork_load_progress"), 3);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT SUM(records) FROM dbfork_load_progress"), 3);
  lt_run_free(&r);
  lt_teardown(&e);
}

/* --bad-values=warn: the server's coercion, as LOAD DATA has it, with both
 * methods: 6 rows, 0.00 and 0000-00-00 and "toolo" stored, warnings
 * counted and shown. */
TEST(bad_values_warn_keeps_the_servers_coercion) {
  lt_env e;
  size_t mi;
  char *got;
  lt_setup(&e, NULL, 0);
  lt_write_file(e.path, bad_values, sizeof bad_values - 1);
  for (mi = 0; mi < 3; mi++) {
    lt_run r;
    make_t(&e);
    lt_load(&r, &e, e.path, "t", "--no-resume", "--bad-values=warn", "--method", methods[mi], NULL);
    CHECK_EXIT(&r, 0);
    CHECK_CONTAINS(r.out, "warnings       3\n");
    CHECK_CONTAINS(r.err, "    line 2: ");
    got = rows_hex(&e);
    CHECK_EQ_STR(got,
                 "416E6E,1.00,2024-01-01,x;426F62,0.00,2024-01-02,y;436964,3.00,0000-00-00,z;"
                 "44616E,4.00,2024-01-04,long!;457665,5.00,2024-01-05,toolo;466179,6.00,2024-01-"
                 "06,w");
    free(got);
    lt_run_free(&r);
  }
  lt_teardown(&e);
}

/* NULL into a NOT NULL column: a multi-row INSERT names no row for it
 * (1048), so the batch is tried row by row; LOAD DATA names it (1263). */
TEST(null_into_not_null_is_found_in_a_batch_that_names_no_row) {
  static const char data[] =
      "Ann,1.00,2024-01-01,x\n\\N,2.00,2024-01-02,y\nCid,3.00,2024-01-03,z\n";
  lt_env e;
  size_t mi;
  char want[300], *got;
  lt_setup(&e, NULL, 0);
  lt_write_file(e.path, data, sizeof data - 1);
  for (mi = 0; mi < 3; mi++) {
    lt_run r;
    make_t(&e);
    lt_load(&r, &e, e.path, "t", "-q", "--no-resume", "--max-errors=1", "--method", methods[mi],
            NULL);
    CHECK_EXIT(&r, 1);
    snprintf(want, sizeof want,
             "%s: rejected line 2, column 1 (field 1, byte 22): value NULL for column name",
             e.path);
    CHECK_CONTAINS(r.err, want);
    got = rows_hex(&e);
    CHECK_EQ_STR(got, "416E6E,1.00,2024-01-01,x;436964,3.00,2024-01-03,z");
    free(got);
    lt_run_free(&r);
  }
  lt_teardown(&e);
}

/* --method=bulk binds a value where it lies in the part's buffer unless
 * the parser had to decode it: NULL (\N), an escaped separator, an escaped
 * quote, an escaped tab and an empty quoted string, mixed in one batch
 * with plain values, are stored exactly as load-data and insert store
 * them (batches of 2 and of the default 1000). */
TEST(bulk_stores_nulls_and_escaped_fields_as_the_other_methods) {
  static const char data[] =
      "Ann,1.00,\\N,\\N\n"
      "\"B,b\",2.00,2024-01-02,\"x\\\"y\"\n"
      "C\\,c,3.00,2024-01-03,a\\tb\n"
      "D,4.00,2024-01-04,\"\"\n"
      "E,5.00,\\N,plain\n";
  static const char want[] =
      "416E6E,1.00,N,N;422C62,2.00,2024-01-02,x\"y;432C63,3.00,2024-01-03,"
      "a\tb;44,4.00,2024-01-04,;45,5.00,N,plain";
  lt_env e;
  size_t mi;
  char *got;
  lt_setup(&e, NULL, 0);
  lt_write_file(e.path, data, sizeof data - 1);
  for (mi = 0; mi < 6; mi++) {
    lt_run r;
    make_t(&e);
    lt_load(&r, &e, e.path, "t", "-q", "--no-resume", "--method", methods[mi % 3],
            mi < 3 ? "--batch=2" : "-q", NULL);
    CHECK_EXIT(&r, 0);
    got = rows_hex(&e);
    CHECK_EQ_STR(got, want);
    free(got);
    lt_run_free(&r);
  }
  lt_teardown(&e);
}

/* A refused value in a bulk batch: the batch falls back to the insert
 * method's passes, the reject names its file line, the rest of the batch
 * (before and after it) loads. Line 4 of 5, batch of 1000 (one batch). */
TEST(bulk_batch_with_a_bad_value_rejects_it_at_its_line) {
  static const char data[] =
      "Ann,1.00,2024-01-01,a\n"
      "Bob,2.00,2024-01-02,b\n"
      "Cid,3.00,2024-01-03,c\n"
      "Dan,x,2024-01-04,d\n"
      "Eve,5.00,2024-01-05,e\n";
  lt_env e;
  lt_run r;
  char rpath[256], ropt[300], want[400], *got, *txt;
  lt_setup(&e, NULL, 0);
  file_and_rejects(&e, data, sizeof data - 1, rpath, sizeof rpath, ropt, sizeof ropt);
  make_t(&e);
  lt_load(&r, &e, e.path, "t", "--no-resume", "--max-errors=1", ropt, "--method=bulk", NULL);
  CHECK_EXIT(&r, 1);
  CHECK_CONTAINS(r.out, "rejected       1 ");
  got = rows_hex(&e);
  CHECK_EQ_STR(got,
               "416E6E,1.00,2024-01-01,a;426F62,2.00,2024-01-02,b;436964,3.00,2024-01-03,c;"
               "457665,5.00,2024-01-05,e");
  free(got);
  txt = lt_read_file(rpath, NULL);
  snprintf(want, sizeof want, "# %s: line 4, ", e.path);
  CHECK_CONTAINS(txt, want);
  CHECK_CONTAINS(txt, "value 'x' for column amount");
  CHECK_CONTAINS(txt, "\nDan,x,2024-01-04,d\n");
  free(txt);
  lt_run_free(&r);
  lt_teardown(&e);
}
