/*
 * test_load.c — `dbfork load` ($DBFORK_CLI) against the real server.
 *
 * Every test writes its CSV deterministically, runs the command, and asserts
 * on the server's view: COUNT(*), SUM(id) and SUM(CRC32(all columns))
 * compared with the same numbers computed from the rows the test wrote (see
 * loadtest.h), the progress table, the exit code, and the messages.
 *
 * Crash/interrupt-and-resume tests are in test_load_kill.c (they abort
 * sessions on purpose, so they run serially).
 */
#define _GNU_SOURCE /* memmem */
#include "loadtest.h"

/* ------------------------------------------------------------ dialects */

/* Loads the same file with both methods and several chunk sizes (tiny: many
 * chunks and transactions; default 4M: one) and worker counts; after each
 * load the table must be exactly the file. */
static void dialect_case(int dialect, int crlf, int header, int last_eol, size_t n) {
  lt_env e;
  lt_file f;
  lt_row *rows = calloc(n, sizeof *rows);
  lt_sum want;
  static const char *const methods[] = {"load-data", "insert", "bulk"};
  static const char *const chunks[] = {"1K", "16K", NULL};
  static const char *const workers[] = {"2", "4", "1"};
  int mi, ci;

  lt_setup(&e, "orders", 1);
  lt_gen(rows, n, 1, 42 + (uint64_t)dialect * 2 + (uint64_t)crlf, 0);
  lt_file_init(&f, dialect, crlf);
  if (header) lt_put_header(&f);
  lt_put_rows(&f, rows, n, last_eol);
  lt_write_file(e.path, f.p, f.len);
  want = lt_sum_rows(rows, n);

  for (mi = 0; mi < 3; mi++)
    for (ci = 0; ci < 3; ci++) {
      lt_run r;
      char chunk_opt[32];
      long long nchunks;
      snprintf(chunk_opt, sizeof chunk_opt, "--chunk-size=%s", chunks[ci] ? chunks[ci] : "4M");
      tu_exec(e.m, "TRUNCATE TABLE orders");
      lt_load(&r, &e, e.path, "orders", "--restart", "-q", "--method", methods[mi], chunk_opt,
              "--workers", workers[ci], dialect == LT_RFC ? "--fields-escaped-by=" : "-q",
              header ? "--skip-lines=1" : "-q", NULL);
      CHECK_EXIT(&r, 0);
      CHECK_SUM(lt_server_sum(e.m, "orders"), want);
      /* The progress table accounts for every record, chunk by chunk. */
      CHECK_EQ_INT(tu_query_ll(e.m, "SELECT SUM(records) FROM dbfork_load_progress"), (long long)n);
      nchunks = tu_query_ll(e.m, "SELECT COUNT(*) FROM dbfork_load_progress");
      if (!chunks[ci])
        CHECK_EQ_INT(nchunks, 1);
      else
        CHECK(nchunks > (long long)(f.len / 1024 / (ci == 0 ? 2 : 32)));
      lt_run_free(&r);
    }
  free(rows);
  lt_file_free(&f);
  lt_teardown(&e);
}

/* Backslash dialect (the default): escapes, quoted separators, embedded and
 * escaped newlines, \N, a header, and a last line without newline. */
TEST(backslash_lf_header_noeol) { dialect_case(LT_BACKSLASH, 0, 1, 0, 1500); }

/* Backslash dialect with CRLF line ends. */
TEST(backslash_crlf) { dialect_case(LT_BACKSLASH, 1, 0, 1, 1500); }

/* RFC 4180 (--fields-escaped-by=''): doubled quotes, NULL as the word NULL. */
TEST(rfc_lf) { dialect_case(LT_RFC, 0, 0, 1, 1500); }

/* RFC 4180 with CRLF, a header and no final CRLF. */
TEST(rfc_crlf_header_noeol) { dialect_case(LT_RFC, 1, 1, 0, 1500); }

/* --chunk-size=1: one record per chunk and transaction; a file of one
 * record; an empty file. */
TEST(tiny_chunks_and_tiny_files) {
  lt_env e;
  lt_file f;
  lt_row rows[120];
  lt_run r;
  static const char *const methods[] = {"load-data", "insert", "bulk"};
  int mi;
  lt_setup(&e, "orders", 1);
  lt_gen(rows, 120, 1000, 7, 0);
  lt_file_init(&f, LT_BACKSLASH, 0);
  lt_put_rows(&f, rows, 120, 1);
  lt_write_file(e.path, f.p, f.len);
  for (mi = 0; mi < 3; mi++) {
    tu_exec(e.m, "TRUNCATE TABLE orders");
    lt_load(&r, &e, e.path, "orders", "--restart", "-q", "--chunk-size=1", "--method", methods[mi],
            NULL);
    CHECK_EXIT(&r, 0);
    CHECK_SUM(lt_server_sum(e.m, "orders"), lt_sum_rows(rows, 120));
    CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM dbfork_load_progress"), 120);
    lt_run_free(&r);
  }
  lt_file_free(&f);

  /* one record, no newline */
  for (mi = 0; mi < 3; mi++) {
    lt_file_init(&f, LT_RFC, 0);
    lt_put_rows(&f, rows + 5, 1, 0);
    lt_write_file(e.path, f.p, f.len);
    lt_file_free(&f);
    tu_exec(e.m, "TRUNCATE TABLE orders");
    lt_load(&r, &e, e.path, "orders", "--restart", "-q", "--fields-escaped-by=", "--method",
            methods[mi], NULL);
    CHECK_EXIT(&r, 0);
    CHECK_SUM(lt_server_sum(e.m, "orders"), lt_sum_rows(rows + 5, 1));
    lt_run_free(&r);
  }

  /* an empty file, and a header-only file: nothing to load, success */
  lt_write_file(e.path, "", 0);
  tu_exec(e.m, "TRUNCATE TABLE orders");
  lt_load(&r, &e, e.path, "orders", "--restart", "-q", NULL);
  CHECK_EXIT(&r, 0);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM orders"), 0);
  lt_run_free(&r);
  lt_write_file(e.path, "id,customer_id,amount,created_at,note\n", 38);
  lt_load(&r, &e, e.path, "orders", "--restart", "-q", "--skip-lines=1", NULL);
  CHECK_EXIT(&r, 0);
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM orders"), 0);
  lt_run_free(&r);
  lt_teardown(&e);
}

/* A finished load rerun: nothing is loaded twice. */
TEST(rerun_after_success_loads_nothing) {
  lt_env e;
  lt_file f;
  lt_row rows[800];
  lt_run r;
  lt_setup(&e, "orders", 0); /* no primary key: a duplicate would show */
  lt_gen(rows, 800, 1, 11, 0);
  lt_file_init(&f, LT_BACKSLASH, 0);
  lt_put_rows(&f, rows, 800, 1);
  lt_write_file(e.path, f.p, f.len);
  lt_load(&r, &e, e.path, "orders", "--chunk-size=2K", NULL);
  CHECK_EXIT(&r, 0);
  lt_run_free(&r);
  lt_load(&r, &e, e.path, "orders", "--chunk-size=2K", "--json", NULL);
  CHECK_EXIT(&r, 0);
  CHECK_CONTAINS(r.out, "\"rows_loaded\":0,");
  CHECK_SUM(lt_server_sum(e.m, "orders"), lt_sum_rows(rows, 800));
  lt_run_free(&r);
  lt_file_free(&f);
  lt_teardown(&e);
}

/* ------------------------------------------------------------ bad rows */

typedef struct bad_row {
  const char *raw;       /* as written, terminator included */
  uint64_t line, nlines; /* physical line where it starts, lines it spans */
  const char *reason;    /* expected in the message */
} bad_row;

/* good rows with bad ones after rows 49, 149, 299, 449 (+ optionally an
 * unterminated quote at the very end). */
static size_t write_bad_file(lt_file *f, lt_row *rows, size_t n, bad_row *bad, int unterminated) {
  static const char *const raws[] = {
      "7,8,9.00\n",                                           /* too few */
      "1,2,3.00,2024-01-01 00:00:00,x,extra\n",               /* too many */
      "\n",                                                   /* empty line: too few */
      "5,5,5.00,2024-01-01 00:00:00,\"multi\nline\",extra\n", /* too many, 2 lines */
  };
  static const char *const reasons[] = {"too few fields", "too many fields", "too few fields",
                                        "too many fields"};
  static const size_t after[] = {49, 149, 299, 449};
  size_t i, k = 0, nb = 0;
  lt_file_init(f, LT_BACKSLASH, 0);
  for (i = 0; i < n; i++) {
    lt_put_row(f, &rows[i], 1);
    if (k < 4 && i == after[k]) {
      bad[nb].raw = raws[k];
      bad[nb].line = lt_line(f);
      bad[nb].reason = reasons[k];
      lt_puts(f, raws[k]);
      bad[nb].nlines = lt_line(f) - bad[nb].line;
      nb++;
      k++;
    }
  }
  if (unterminated) {
    bad[nb].raw = "999999,1,1.00,2024-01-01 00:00:00,\"never closed\nmore, text\n";
    bad[nb].line = lt_line(f);
    bad[nb].reason = "unterminated quoted field";
    lt_puts(f, bad[nb].raw);
    bad[nb].nlines = lt_line(f) - bad[nb].line;
    nb++;
  }
  return nb;
}

/* The reject file must hold exactly the bad records, each after a
 * "# FILE: line L, column C (field F): reason" header. */
static void check_reject_file(const char *rpath, const char *csv, const bad_row *bad, size_t nb) {
  size_t len, i, found = 0;
  char *txt = lt_read_file(rpath, &len), *p;
  char prefix[300];
  int *seen = calloc(nb, sizeof *seen);
  if (!txt) FAIL("no reject file %s", rpath);
  snprintf(prefix, sizeof prefix, "# %s: line ", csv);
  p = txt;
  while (*p) {
    char *hdr_end, *next, *raw;
    unsigned long long line;
    size_t rawlen;
    if (strncmp(p, prefix, strlen(prefix)))
      FAIL("reject file %s: expected a '%s...' header at byte %zu:\n%s", rpath, prefix,
           (size_t)(p - txt), txt);
    line = strtoull(p + strlen(prefix), NULL, 10);
    hdr_end = strchr(p, '\n');
    if (!hdr_end) FAIL("reject file: header without newline");
    raw = hdr_end + 1;
    next = strstr(raw, prefix);
    while (next && next[-1] != '\n') next = strstr(next + 1, prefix);
    rawlen = next ? (size_t)(next - raw) : strlen(raw);
    for (i = 0; i < nb; i++) {
      size_t bl = strlen(bad[i].raw);
      if (!seen[i] && rawlen == bl && !memcmp(raw, bad[i].raw, bl)) break;
    }
    if (i == nb)
      FAIL("reject file %s has a row that is not one of the bad rows: '%.*s'\nwhole file:\n%s",
           rpath, (int)rawlen, raw, txt);
    seen[i] = 1;
    found++;
    /* the line number: the record's own line(s) */
    if (line < bad[i].line || line > bad[i].line + (bad[i].nlines ? bad[i].nlines - 1 : 0))
      FAIL("reject file: row from line %llu is reported at line %llu:\n%.*s",
           (unsigned long long)bad[i].line, line, (int)(hdr_end - p), p);
    if (!memmem(p, (size_t)(hdr_end - p), bad[i].reason, strlen(bad[i].reason)))
      FAIL("reject file: header '%.*s' lacks the reason '%s'", (int)(hdr_end - p), p,
           bad[i].reason);
    if (!memmem(p, (size_t)(hdr_end - p), ", column ", 9))
      FAIL("reject file: header '%.*s' lacks the column", (int)(hdr_end - p), p);
    p = raw + rawlen;
  }
  CHECK_EQ_INT(found, nb);
  free(seen);
  free(txt);
}

static void max_errors_case(const char *method, int unterminated) {
  lt_env e;
  lt_file f;
  lt_row rows[600];
  bad_row bad[8];
  size_t nb;
  lt_run r;
  char rpath[256], kopt[32], rej_opt[300];
  lt_setup(&e, "orders", 1);
  lt_gen(rows, 600, 1, 99, 0);
  nb = write_bad_file(&f, rows, 600, bad, unterminated);
  lt_write_file(e.path, f.p, f.len);

  /* exactly K bad rows: exit 1, the good rows all load */
  snprintf(kopt, sizeof kopt, "--max-errors=%zu", nb);
  snprintf(rpath, sizeof rpath, "%s/rejects.txt", e.dir);
  snprintf(rej_opt, sizeof rej_opt, "--reject-file=%s", rpath);
  lt_load(&r, &e, e.path, "orders", "--chunk-size=1K", "--method", method, kopt, rej_opt, NULL);
  CHECK_EXIT(&r, 1);
  CHECK_SUM(lt_server_sum(e.m, "orders"), lt_sum_rows(rows, 600));
  check_reject_file(rpath, e.path, bad, nb);
  {
    char want[64];
    snprintf(want, sizeof want, "rejected       %zu", nb);
    CHECK_CONTAINS(r.out, want);
  }
  lt_run_free(&r);

  /* the default reject file (FILE.rejects), one big chunk */
  tu_exec(e.m, "TRUNCATE TABLE orders");
  lt_load(&r, &e, e.path, "orders", "--restart", "-q", "--method", method, kopt, NULL);
  CHECK_EXIT(&r, 1);
  CHECK_SUM(lt_server_sum(e.m, "orders"), lt_sum_rows(rows, 600));
  snprintf(rpath, sizeof rpath, "%s.rejects", e.path);
  check_reject_file(rpath, e.path, bad, nb);
  lt_run_free(&r);

  /* K - 1: more bad rows than allowed fails the load */
  tu_exec(e.m, "TRUNCATE TABLE orders");
  snprintf(kopt, sizeof kopt, "--max-errors=%zu", nb - 1);
  lt_load(&r, &e, e.path, "orders", "--restart", "-q", "--chunk-size=1K", "--method", method, kopt,
          NULL);
  CHECK_EXIT(&r, 2);
  CHECK_CONTAINS(r.out, "--max-errors");
  lt_run_free(&r);
  lt_file_free(&f);
  lt_teardown(&e);
}

/* Wrong field counts (incl. an empty line and a 2-line record). */
TEST(max_errors_rejects_load_data) { max_errors_case("load-data", 0); }
TEST(max_errors_rejects_insert) { max_errors_case("insert", 0); }
TEST(max_errors_rejects_bulk) { max_errors_case("bulk", 0); }
/* ... plus an unterminated quote on the last record, which runs to EOF. */
TEST(max_errors_unterminated_quote_load_data) { max_errors_case("load-data", 1); }
TEST(max_errors_unterminated_quote_insert) { max_errors_case("insert", 1); }
TEST(max_errors_unterminated_quote_bulk) { max_errors_case("bulk", 1); }

/* Parses "bytes X-Y" from a chunk failure message. */
static void failed_chunk_bytes(const char *msg, uint64_t *lo, uint64_t *hi) {
  const char *p = strstr(msg, "bytes ");
  unsigned long long a, b;
  if (!p || sscanf(p, "bytes %llu-%llu", &a, &b) != 2)
    FAIL("no 'bytes X-Y' in the failure message:\n%s", msg);
  *lo = a;
  *hi = b;
}

/* Without --max-errors, a bad row fails its chunk: exit 2, file/line/column in
 * the message, nothing of that chunk committed, every other committed chunk
 * complete. n rows, the bad one in the middle, chunks of `chunk` bytes: with
 * 1M chunks of 80,000 rows the bad row comes some 800 KB into its chunk,
 * after that much was streamed to the server, which must all roll back. */
static void bad_row_fails_chunk(const char *method, size_t n, const char *chunk) {
  lt_env e;
  lt_file f;
  lt_row *rows = calloc(n, sizeof *rows);
  lt_run r;
  uint64_t bad_off, bad_line, lo, hi;
  char want[512], chunk_opt[64];
  size_t i;
  if (!rows) FAIL("out of memory");
  snprintf(chunk_opt, sizeof chunk_opt, "--chunk-size=%s", chunk);
  lt_setup(&e, "orders", 1);
  lt_gen(rows, n, 1, 5, 0);
  lt_file_init(&f, LT_BACKSLASH, 0);
  lt_put_rows(&f, rows, n / 2, 1);
  bad_off = f.len;
  bad_line = lt_line(&f);
  lt_puts(&f, "9000001,2,3.00,2024-01-01 00:00:00,x,extra\n");
  lt_put_rows(&f, rows + n / 2, n - n / 2, 1);
  lt_write_file(e.path, f.p, f.len);

  lt_load(&r, &e, e.path, "orders", chunk_opt, "--method", method, NULL);
  CHECK_EXIT(&r, 2);
  snprintf(want, sizeof want, "%s: line %llu, column ", e.path, (unsigned long long)bad_line);
  CHECK_CONTAINS(r.err, want);
  CHECK_CONTAINS(r.err, "too many fields");
  failed_chunk_bytes(r.err, &lo, &hi);
  CHECK(lo <= bad_off && bad_off < hi);
  /* nothing of the failed chunk: none of its good rows is in the table (ids
   * follow file order, so the chunk's rows are one id range) */
  {
    uint64_t lo_id = UINT64_MAX, hi_id = 0, inside = 0;
    for (i = 0; i < n; i++)
      if (f.row_off[i] >= lo && f.row_off[i] < hi) {
        if (rows[i].id < lo_id) lo_id = rows[i].id;
        if (rows[i].id > hi_id) hi_id = rows[i].id;
        inside++;
      }
    CHECK(inside > 0);
    CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM orders WHERE id BETWEEN %llu AND %llu",
                             (unsigned long long)lo_id, (unsigned long long)hi_id),
                 0);
    CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM orders WHERE id = 9000001"), 0);
  }
  CHECK_EQ_INT(tu_query_ll(e.m,
                           "SELECT COUNT(*) FROM dbfork_load_progress WHERE byte_offset <= %llu "
                           "AND byte_offset + byte_len > %llu",
                           (unsigned long long)bad_off, (unsigned long long)bad_off),
               0);
  /* what is there is exactly the committed chunks */
  CHECK_SUM(lt_server_sum(e.m, "orders"), lt_sum_committed(e.m, &f, rows));
  lt_run_free(&r);

  /* Fix the row in place (same length: the same chunks): the rerun resumes
   * and loads exactly the rest. */
  memcpy(f.p + bad_off, "9000001,2,3.00,2024-01-01 00:00:00,x_extra\n", 43);
  lt_write_file(e.path, f.p, f.len);
  lt_load(&r, &e, e.path, "orders", chunk_opt, "--method", method, NULL);
  CHECK_EXIT(&r, 0);
  CHECK_CONTAINS(r.err, "resuming");
  {
    lt_sum all = lt_sum_rows(rows, n);
    lt_row fixed;
    memset(&fixed, 0, sizeof fixed);
    fixed.id = 9000001;
    fixed.cust = 2;
    fixed.cents = 300;
    strcpy(fixed.dt, "2024-01-01 00:00:00");
    strcpy(fixed.note, "x_extra");
    fixed.note_len = 7;
    lt_sum_add(&all, &fixed);
    CHECK_SUM(lt_server_sum(e.m, "orders"), all);
  }
  lt_run_free(&r);
  lt_file_free(&f);
  lt_teardown(&e);
  free(rows);
}
TEST(bad_row_fails_its_chunk_load_data) { bad_row_fails_chunk("load-data", 600, "1K"); }
TEST(bad_row_fails_its_big_chunk_load_data) { bad_row_fails_chunk("load-data", 80000, "1M"); }
TEST(bad_row_fails_its_big_chunk_insert) { bad_row_fails_chunk("insert", 80000, "1M"); }
TEST(bad_row_fails_its_chunk_insert) { bad_row_fails_chunk("insert", 600, "1K"); }
TEST(bad_row_fails_its_big_chunk_bulk) { bad_row_fails_chunk("bulk", 80000, "1M"); }
TEST(bad_row_fails_its_chunk_bulk) { bad_row_fails_chunk("bulk", 600, "1K"); }

/* An unterminated quote without --max-errors: exit 2 with its line. */
TEST(unterminated_quote_fails) {
  lt_env e;
  lt_file f;
  lt_row rows[100];
  lt_run r;
  char want[300];
  uint64_t line;
  lt_setup(&e, "orders", 1);
  lt_gen(rows, 100, 1, 3, 1);
  lt_file_init(&f, LT_BACKSLASH, 0);
  lt_put_rows(&f, rows, 100, 1);
  line = lt_line(&f);
  lt_puts(&f, "101,1,1.00,2024-01-01 00:00:00,\"never closed\n");
  lt_write_file(e.path, f.p, f.len);
  lt_load(&r, &e, e.path, "orders", "-q", NULL);
  CHECK_EXIT(&r, 2);
  snprintf(want, sizeof want, "line %llu", (unsigned long long)line);
  CHECK_CONTAINS(r.err, want);
  CHECK_CONTAINS(r.err, e.path);
  /* a single chunk: nothing committed */
  CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM orders"), 0);
  lt_run_free(&r);
  lt_file_free(&f);
  lt_teardown(&e);
}

/* ---------------------------------------------------------- constraints */

/* A duplicate primary key in the file with --on-duplicate=error: the chunk
 * holding it fails, reported with its line range; nothing of it is
 * committed; exit 2. */
static void duplicate_key_case(const char *method) {
  lt_env e;
  lt_file f;
  lt_row rows[600], dup;
  lt_run r;
  uint64_t dup_off, dup_line, lo, hi, first_line = 0, last_line = 0;
  size_t i;
  char want[128];
  lt_setup(&e, "orders", 1);
  lt_gen(rows, 600, 1, 21, 0);
  dup = rows[9];
  lt_file_init(&f, LT_BACKSLASH, 0);
  lt_put_rows(&f, rows, 400, 1);
  dup_off = f.len;
  dup_line = lt_line(&f);
  lt_put_row(&f, &dup, 1); /* id 10 again, after row 400 */
  f.nrows--;               /* not a row of rows[] (row_off bookkeeping) */
  lt_put_rows(&f, rows + 400, 200, 1);
  lt_write_file(e.path, f.p, f.len);

  lt_load(&r, &e, e.path, "orders", "--chunk-size=2K", "--method", method, "--on-duplicate=error",
          NULL);
  CHECK_EXIT(&r, 2);
  CHECK_CONTAINS(r.err, "Duplicate entry");
  failed_chunk_bytes(r.err, &lo, &hi);
  CHECK(lo <= dup_off && dup_off < hi);
  /* the chunk's rows: none committed */
  for (i = 0; i < 600; i++)
    if (f.row_off[i] >= lo && f.row_off[i] < hi) {
      if (!first_line) first_line = f.row_line[i];
      last_line = f.row_line[i];
    }
  if (dup_line < first_line) first_line = dup_line;
  if (dup_line > last_line) last_line = dup_line;
  {
    lt_sum s = {0, 0, 0};
    uint64_t a = UINT64_MAX, b = 0;
    for (i = 0; i < 600; i++)
      if (f.row_off[i] >= lo && f.row_off[i] < hi) {
        if (rows[i].id < a) a = rows[i].id;
        if (rows[i].id > b) b = rows[i].id;
        s.count++;
      }
    CHECK(s.count > 0);
    CHECK_EQ_INT(tu_query_ll(e.m, "SELECT COUNT(*) FROM orders WHERE id BETWEEN %llu AND %llu",
                             (unsigned long long)a, (unsigned long long)b),
                 0);
  }
  CHECK_SUM(lt_server_sum(e.m, "orders"), lt_sum_committed(e.m, &f, rows));
  /* reported with its line range */
  snprintf(want, sizeof want, "lines %llu-%llu", (unsigned long long)first_line,
           (unsigned long long)last_line);
  CHECK_CONTAINS(r.err, want);
  lt_run_free(&r);
  lt_file_free(&f);
  lt_teardown(&e);
}
TEST(duplicate_key_fails_its_chunk_load_data) { duplicate_key_case("load-data"); }
TEST(duplicate_key_fails_its_chunk_insert) { duplicate_key_case("insert"); }
TEST(duplicate_key_fails_its_chunk_bulk) { duplicate_key_case("bulk"); }

/* --on-duplicate ignore / replace / update against rows already in the
 * table: ids 1..200 exist (old values), the file holds ids 101..400. */
TEST(on_duplicate_modes) {
  static const struct {
    const char *method, *mode;
    int file_wins;
  } cases[] = {{"load-data", "ignore", 0}, {"load-data", "replace", 1}, {"insert", "ignore", 0},
               {"insert", "replace", 1},   {"insert", "update", 1},     {"bulk", "ignore", 0},
               {"bulk", "replace", 1},     {"bulk", "update", 1}};
  lt_env e;
  lt_file f;
  lt_row old[200], fresh[300];
  size_t c, i;
  lt_setup(&e, "orders", 1);
  lt_gen(old, 200, 1, 1234, 0);
  lt_gen(fresh, 300, 101, 5678, 0);
  lt_file_init(&f, LT_BACKSLASH, 0);
  lt_put_rows(&f, fresh, 300, 1);
  lt_write_file(e.path, f.p, f.len);
  for (c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    lt_run r;
    char mode[64];
    lt_sum want = {0, 0, 0};
    tu_exec(e.m, "TRUNCATE TABLE orders");
    /* the old rows, with the old values */
    {
      lt_file o;
      char opath[256];
      lt_file_init(&o, LT_BACKSLASH, 0);
      lt_put_rows(&o, old, 200, 1);
      snprintf(opath, sizeof opath, "%s/old.csv", e.dir);
      lt_write_file(opath, o.p, o.len);
      lt_load(&r, &e, opath, "orders", "--restart", "-q", NULL);
      CHECK_EXIT(&r, 0);
      lt_run_free(&r);
      lt_file_free(&o);
    }
    snprintf(mode, sizeof mode, "--on-duplicate=%s", cases[c].mode);
    /* Onto the old rows on purpose: --no-resume (--restart refuses a table
     * that holds rows since issue 11). */
    lt_load(&r, &e, e.path, "orders", "--no-resume", "-q", "--chunk-size=1K", "--method",
            cases[c].method, mode, NULL);
    CHECK_EXIT(&r, 0);
    for (i = 0; i < 200; i++)
      if (!cases[c].file_wins || old[i].id < 101) lt_sum_add(&want, &old[i]);
    for (i = 0; i < 300; i++)
      if (cases[c].file_wins || fresh[i].id > 200) lt_sum_add(&want, &fresh[i]);
    if (want.count != 400) FAIL("test bug");
    {
      lt_sum got = lt_server_sum(e.m, "orders");
      if (got.count != want.count || got.sum_id != want.sum_id || got.sum_crc != want.sum_crc)
        FAIL(
            "--method=%s %s: server count=%lld sum(id)=%lld sum(crc)=%lld, expected %lld %lld "
            "%lld",
            cases[c].method, mode, got.count, got.sum_id, got.sum_crc, want.count, want.sum_id,
            want.sum_crc);
    }
    lt_run_free(&r);
  }
  lt_file_free(&f);
  lt_teardown(&e);
}

/* ------------------------------------------------------------- usage */

/* The database as a string: its tables and each one's checksum. */
static char *db_state(lt_env *e) {
  return tu_query_str(e->m,
                      "SELECT CONCAT(IFNULL(GROUP_CONCAT(TABLE_NAME ORDER BY TABLE_NAME),''), "
                      "'/', (SELECT COUNT(*) FROM orders), '/', (SELECT IFNULL(SUM(CRC32(note)),0) "
                      "FROM orders)) FROM information_schema.TABLES WHERE TABLE_SCHEMA='%s'",
                      e->db);
}

/* Bad usage: exit 64, a message naming the option, nothing executed. */
TEST(bad_usage_exits_64) {
  lt_env e;
  lt_file f;
  lt_row rows[50];
  char *before, *after, hostile1[200], hostile2[200], missing[256];
  size_t i;
  struct {
    const char *file_mode; /* "file", "none", "missing" */
    const char *table;     /* NULL: no --table; "%db" prefix: db-qualified as given */
    const char *a1, *a2;
    const char *names; /* expected in stderr */
  } cases[] = {
      {"file", "orders", "--bogus-option", NULL, "bogus-option"},
      {"file", NULL, NULL, NULL, "--table"},
      {"file", "no_such_table", NULL, NULL, "no_such_table"},
      {"file", "x`; DROP TABLE orders; --", NULL, NULL, "--table"},
      {"file", "orders`; DROP TABLE orders; -- ", NULL, NULL, "--table"},
      {"file", "orders", "--method=bogus", NULL, "--method"},
      {"file", "orders", "--method=load-data", "--on-duplicate=update", "--on-duplicate"},
      {"file", "orders", "--on-duplicate=sometimes", NULL, "--on-duplicate"},
      {"file", "orders", "--chunk-size=12Q", NULL, "--chunk-size"},
      {"file", "orders", "--chunk-size=0", NULL, "--chunk-size"},
      {"file", "orders", "--max-errors=lots", NULL, "--max-errors"},
      {"file", "orders", "--skip-lines=-1", NULL, "--skip-lines"},
      {"file", "orders", "--batch=0", NULL, "--batch"},
      {"file", "orders", "--method=insert", "--batch=70000", "--batch"},
      {"file", "orders", "--workers=0", NULL, "--workers"},
      {"file", "orders", "--columns=id,nosuch", NULL, "--columns"},
      {"file", "orders", "--fields-terminated-by=", NULL, "terminated"},
      {"file", "orders", "--fields-enclosed-by=ab", NULL, "enclosed"},
      {"none", "orders", NULL, NULL, "FILE"},
      {"missing", "orders", NULL, NULL, "no-such.csv"},
  };
  lt_setup(&e, "orders", 1);
  lt_gen(rows, 50, 1, 77, 0);
  lt_file_init(&f, LT_BACKSLASH, 0);
  lt_put_rows(&f, rows, 50, 1);
  lt_write_file(e.path, f.p, f.len);
  tu_exec(e.m,
          "INSERT INTO orders (id, customer_id, amount, created_at, note) VALUES "
          "(99999, 1, 1.00, '2024-01-01', 'canary')");
  tu_exec(e.m, "CREATE TABLE canary (x INT)");
  snprintf(missing, sizeof missing, "%s/no-such.csv", e.dir);
  before = db_state(&e);
  /* db-qualified hostile names, too */
  snprintf(hostile1, sizeof hostile1, "%s`.`orders`; DROP TABLE canary; --", e.db);
  snprintf(hostile2, sizeof hostile2, "%s.orders; DROP TABLE canary", e.db);
  for (i = 0; i < sizeof cases / sizeof cases[0] + 2; i++) {
    lt_run r;
    lt_proc p;
    const char *file = e.path, *names;
    int k = (int)i;
    if (k < (int)(sizeof cases / sizeof cases[0])) {
      if (!strcmp(cases[k].file_mode, "none")) file = NULL;
      if (!strcmp(cases[k].file_mode, "missing")) file = missing;
      lt_start(&p, &e, file, cases[k].table, "-q", cases[k].a1, cases[k].a2, NULL);
      names = cases[k].names;
    } else {
      /* --table given literally (not prefixed by the test's database) */
      lt_start(&p, &e, file, NULL, "-q", "--table",
               k == (int)(sizeof cases / sizeof cases[0]) ? hostile1 : hostile2, NULL);
      names = "--table";
    }
    lt_wait(&p, &e, &r, 30000);
    if (r.rc != 64)
      FAIL("case %d (%s %s %s): exit %d, expected 64\nstdout:\n%s\nstderr:\n%s", k,
           k < (int)(sizeof cases / sizeof cases[0]) && cases[k].table ? cases[k].table : "-",
           k < (int)(sizeof cases / sizeof cases[0]) && cases[k].a1 ? cases[k].a1 : "",
           k < (int)(sizeof cases / sizeof cases[0]) && cases[k].a2 ? cases[k].a2 : "", r.rc, r.out,
           r.err);
    if (!strstr(r.err, names)) FAIL("case %d: stderr does not name '%s':\n%s", k, names, r.err);
    after = db_state(&e);
    if (strcmp(before, after))
      FAIL("case %d changed the database: before '%s', after '%s'", k, before, after);
    free(after);
    lt_run_free(&r);
  }
  free(before);
  lt_file_free(&f);
  lt_teardown(&e);
}

/* A table whose name holds backticks, quotes, dots-free SQL: loads exactly,
 * touches nothing else. */
TEST(hostile_table_name_is_quoted) {
  lt_env e;
  lt_file f;
  lt_row rows[300];
  lt_run r;
  static const char *const name = "o`; DROP TABLE canary; -- '\"";
  static const char *const methods[] = {"load-data", "insert", "bulk"};
  int mi;
  lt_setup(&e, NULL, 0);
  tu_exec(e.m, "CREATE TABLE canary (x INT)");
  tu_exec(e.m,
          "CREATE TABLE `o``; DROP TABLE canary; -- '\"` (id BIGINT UNSIGNED NOT NULL PRIMARY "
          "KEY, customer_id INT UNSIGNED NOT NULL, amount DECIMAL(12,2) NOT NULL, created_at "
          "DATETIME NOT NULL, note VARCHAR(48) NULL) DEFAULT CHARSET=utf8mb4");
  lt_gen(rows, 300, 1, 31, 0);
  lt_file_init(&f, LT_BACKSLASH, 0);
  lt_put_rows(&f, rows, 300, 1);
  lt_write_file(e.path, f.p, f.len);
  for (mi = 0; mi < 3; mi++) {
    tu_exec(e.m, "TRUNCATE TABLE `o``; DROP TABLE canary; -- '\"`");
    lt_load(&r, &e, e.path, name, "--restart", "-q", "--chunk-size=2K", "--method", methods[mi],
            "--on-duplicate", mi ? "update" : "error", NULL);
    CHECK_EXIT(&r, 0);
    CHECK_SUM(lt_server_sum(e.m, "o``; DROP TABLE canary; -- '\""), lt_sum_rows(rows, 300));
    CHECK_EQ_INT(tu_query_ll(e.m,
                             "SELECT COUNT(*) FROM information_schema.TABLES WHERE "
                             "TABLE_SCHEMA='%s' AND TABLE_NAME='canary'",
                             e.db),
                 1);
    lt_run_free(&r);
  }
  lt_file_free(&f);
  lt_teardown(&e);
}

/* ------------------------------------------------------------- --json */

/* Extracts "k1 k2 ..." from a JSON file with python3 (which also validates
 * it: json.tool must accept it). */
static char *json_fields(const char *path, const char *keys) {
  char cmd[1024], out[512];
  FILE *p;
  size_t n;
  if (lt_sh("/usr/bin/python3 -m json.tool '%s' >/dev/null", path) != 0) {
    char *txt = lt_read_file(path, NULL);
    FAIL("--json output is not valid JSON (python3 -m json.tool):\n%s", txt ? txt : "");
  }
  snprintf(cmd, sizeof cmd,
           "/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); "
           "print(\" \".join(str(d.get(k)) for k in sys.argv[2].split()))' '%s' '%s'",
           path, keys);
  p = popen(cmd, "r");
  if (!p) FAIL("popen python3");
  n = fread(out, 1, sizeof out - 1, p);
  pclose(p);
  out[n] = 0;
  if (n && out[n - 1] == '\n') out[n - 1] = 0;
  return strdup(out);
}

static void check_json(lt_env *e, lt_run *r, const char *keys, const char *want) {
  char path[256];
  char *got;
  snprintf(path, sizeof path, "%s/json.out", e->dir);
  lt_write_file(path, r->out, strlen(r->out));
  got = json_fields(path, keys);
  if (strcmp(got, want)) FAIL("--json: %s = '%s', expected '%s'\n%s", keys, got, want, r->out);
  free(got);
}

TEST(json_summary) {
  lt_env e;
  lt_file f;
  lt_row rows[500];
  lt_run r;
  char want[400], path[256], rej[300];
  bad_row bad[8];
  size_t nb;
  lt_setup(&e, "orders", 1);
  lt_gen(rows, 500, 1, 8, 0);
  lt_file_init(&f, LT_BACKSLASH, 0);
  lt_put_rows(&f, rows, 500, 1);
  /* a path with a quote, a backslash and a tab: must be escaped */
  snprintf(path, sizeof path, "%s/we\"ird\\na\tme.csv", e.dir);
  lt_write_file(path, f.p, f.len);
  lt_file_free(&f);

  /* ok */
  lt_load(&r, &e, path, "orders", "--json", "--chunk-size=4K", "--method=insert", NULL);
  CHECK_EXIT(&r, 0);
  snprintf(want, sizeof want, "ok 500 500 0 %s", path);
  check_json(&e, &r, "status rows_loaded records rejected file", want);
  CHECK_SUM(lt_server_sum(e.m, "orders"), lt_sum_rows(rows, 500));
  {
    /* peak memory of the parent and of the largest (reaped) worker: both
     * measured, neither absurd */
    char jpath[256], *got;
    long long parent_kb = 0, worker_kb = 0;
    snprintf(jpath, sizeof jpath, "%s/json.out", e.dir);
    got = json_fields(jpath, "peak_rss_kb worker_peak_rss_kb");
    CHECK_EQ_INT(sscanf(got, "%lld %lld", &parent_kb, &worker_kb), 2);
    free(got);
    CHECK(parent_kb > 1024 && parent_kb < 256 * 1024);
    CHECK(worker_kb > 1024 && worker_kb < 256 * 1024);
  }
  lt_run_free(&r);

  /* rejected rows */
  tu_exec(e.m, "TRUNCATE TABLE orders");
  nb = write_bad_file(&f, rows, 500, bad, 0);
  lt_write_file(e.path, f.p, f.len);
  lt_file_free(&f);
  snprintf(rej, sizeof rej, "--reject-file=%s/rej", e.dir);
  lt_load(&r, &e, e.path, "orders", "--json", "--restart", "--max-errors=10", rej, NULL);
  CHECK_EXIT(&r, 1);
  snprintf(want, sizeof want, "rejected 500 %zu", nb);
  check_json(&e, &r, "status rows_loaded rejected", want);
  lt_run_free(&r);

  /* failed: the error text (with the path's quote) is escaped too. A row of
   * the file is in the table already (--restart twice onto a full table is
   * refused before loading since issue 11; --no-resume loads onto it). */
  tu_exec(e.m, "TRUNCATE TABLE orders");
  tu_exec(e.m,
          "INSERT INTO orders (id, customer_id, amount, created_at) VALUES (%llu, 1, 1, "
          "'2024-01-01')",
          (unsigned long long)rows[0].id);
  lt_load(&r, &e, path, "orders", "--json", "--no-resume", "--on-duplicate=error",
          "--method=insert", NULL);
  CHECK_EXIT(&r, 2);
  check_json(&e, &r, "status rows_loaded", "failed 0");
  CHECK_CONTAINS(r.out, "Duplicate entry");
  lt_run_free(&r);
  lt_teardown(&e);
}
