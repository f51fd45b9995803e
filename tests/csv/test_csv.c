/*
 * test_csv.c — unit and property tests of the CSV layer (src/cli/csv.h).
 * No server, no processes: csv.c is pure.
 *
 * In the build it is a dbfork_unit_test (tests/CMakeLists.txt): each TEST()
 * becomes the ctest "test_csv.NAME". It also builds on its own, with a
 * minimal stand-in for testutil, e.g. under sanitizers:
 *
 *   gcc -std=gnu11 -DDBFORK_CSV_STANDALONE -fsanitize=address,undefined \
 *       tests/csv/test_csv.c src/cli/csv.c -o /tmp/test_csv && /tmp/test_csv
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "csv_check.h"

#ifndef DBFORK_CSV_STANDALONE
#include "testutil.h"
#else
/* The part of testutil.h this file uses: TEST() registers in source order,
 * CHECK*() and FAIL() print file:line and exit 1; main runs all tests or the
 * named ones. */
static struct {
  const char *id;
  void (*fn)(void);
} tu_tests[64];
static int tu_ntests;
#define TEST(name)                                               \
  static void test_##name(void);                                 \
  __attribute__((constructor)) static void tu_reg_##name(void) { \
    tu_tests[tu_ntests].id = #name;                              \
    tu_tests[tu_ntests++].fn = test_##name;                      \
  }                                                              \
  static void test_##name(void)
#define FAIL(...)                                   \
  do {                                              \
    fprintf(stderr, "%s:%d: ", __FILE__, __LINE__); \
    fprintf(stderr, __VA_ARGS__);                   \
    fputc('\n', stderr);                            \
    exit(1);                                        \
  } while (0)
#define CHECK(cond)                        \
  do {                                     \
    if (!(cond)) FAIL("CHECK(%s)", #cond); \
  } while (0)
#define CHECK_EQ_STR(a, b)                                                \
  do {                                                                    \
    const char *tu_a = (a), *tu_b = (b);                                  \
    if (strcmp(tu_a, tu_b) != 0)                                          \
      FAIL("CHECK_EQ_STR(%s, %s): \"%s\" != \"%s\"", #a, #b, tu_a, tu_b); \
  } while (0)
int main(int argc, char **argv) {
  int ran = 0;
  for (int i = 0; i < tu_ntests; i++) {
    int want = argc < 2;
    for (int k = 1; k < argc; k++) want |= strcmp(argv[k], tu_tests[i].id) == 0;
    if (want) {
      tu_tests[i].fn();
      printf("ok %s\n", tu_tests[i].id);
      ran++;
    }
  }
  return ran ? 0 : 1;
}
#endif

#define CHECK_SPLIT(data, len, d, cb, skip, step)                                              \
  do {                                                                                         \
    char why_[256];                                                                            \
    if (csv_check_split((const unsigned char *)(data), (len), (d), (cb), (skip), (step), why_, \
                        sizeof why_))                                                          \
      FAIL("split invariant (chunk %llu, skip %llu, step %zu): %s", (unsigned long long)(cb),  \
           (unsigned long long)(skip), (size_t)(step), why_);                                  \
  } while (0)

/* ------------------------------------------------------------ helpers */

static csv_dialect dia(const char *ft, const char *enc, const char *esc, const char *lt) {
  csv_dialect d;
  char err[128];
  if (csv_dialect_parse(&d, ft, enc, esc, lt, err, sizeof err)) {
    fprintf(stderr, "bad test dialect: %s\n", err);
    abort();
  }
  return d;
}

static void put_byte(char **o, unsigned char c) {
  if (c >= 0x20 && c < 0x7f && c != '|' && c != '[' && c != ']' && c != '<' && c != '%')
    *(*o)++ = (char)c;
  else
    *o += sprintf(*o, "%%%02X", c);
}

/*
 * Parses a whole input (eof at the end) and renders it as text:
 * "[f1|f2]" per record, <null> for NULL, %HH for unprintable/special bytes,
 * and "!reason@line:col#field" for a bad record.
 */
static const char *render(const csv_dialect *d, const char *in, size_t len, size_t expect) {
  static char out[1 << 16];
  csv_field fields[64];
  char scratch[4096];
  csv_parser p;
  char *o = out;
  size_t off = 0;
  csv_parser_init(&p, d, fields, 64, scratch, sizeof scratch);
  p.expect_fields = expect;
  for (;;) {
    csv_record rec;
    csv_error err;
    int rc = csv_parse_record(&p, in + off, len - off, 1, &rec, &err);
    if (rc == CSV_END) break;
    if (rc == CSV_EBADREC) {
      o += sprintf(o, "!%d@%llu:%llu#%zu", err.kind, (unsigned long long)err.line,
                   (unsigned long long)err.column, err.field);
      off += err.raw_len;
      continue;
    }
    if (rc != CSV_OK) {
      o += sprintf(o, "ERR(%d)", rc);
      break;
    }
    *o++ = '[';
    for (size_t i = 0; i < rec.nfields; i++) {
      if (i) *o++ = '|';
      if (rec.fields[i].null)
        o += sprintf(o, "<null>");
      else
        for (size_t k = 0; k < rec.fields[i].len; k++)
          put_byte(&o, (unsigned char)rec.fields[i].ptr[k]);
    }
    *o++ = ']';
    off += rec.raw_len;
  }
  *o = 0;
  return out;
}
#define R(d, s) render((d), (s), sizeof(s) - 1, 0)

/* Tricky inputs every split test runs over (each with the default dialect
 * and, where it makes sense, others). */
static const char *const tricky[] = {
    "",
    "\n",
    "a",
    "a,b\nc,d",
    "a,b\nc,d\n",
    "h1,h2\n1,\"x,y\"\n2,\"multi\nline\"\n3,\"q\"\"uote\"\n",
    "\"a\nb\",\"c\r\nd\"\r\n\"\",\"\"\"\"\r\n,,\r\n",
    "x\\,y,z\\\nw,\\N,\"\\N\",\"a\\\"b\"\n\\\n",
    "\"unterminated,\nstill\n",
    "\"ab\"c\",d\n\"e\"\"\"\n\"\"\"\"\"\n",
    "1,\"a\"\r\n2,\"b\"\r",
    ",\"\n\",\"\"\n\"\n\"\n",
    "\"\"\"\n\"\n\n\n\"a\"b\"\n",
    "a,\"b\"\"\",\"c\"x\"\n\\",
    /* An escaped separator before a quote: the quote does not open a field. */
    "x\\,\"y\nz\n\\\\,\"w\"\n",
    /* Line terminators that do not end a physical line (";", "\n;"). */
    "a,b;c\n;d,,\"e;\n;f\";g\n;h,,i;",
};

/* ---------------------------------------------------------------- tests */

TEST(dialect_options_decode_and_validate) {
  csv_dialect d;
  char err[128];
  CHECK(csv_dialect_parse(&d, NULL, NULL, NULL, NULL, err, sizeof err) == 0);
  CHECK(d.field_term_len == 1 && d.field_term[0] == ',');
  CHECK(d.line_term_len == 1 && d.line_term[0] == '\n');
  CHECK(d.enclosure == '"' && d.escape == '\\');
  CHECK(d.flags == (CSV_F_CRLF | CSV_F_NULL_WORD));

  CHECK(csv_dialect_parse(&d, "\\t", "", "\\\\", "\\r\\n", err, sizeof err) == 0);
  CHECK(d.field_term_len == 1 && d.field_term[0] == '\t');
  CHECK(d.line_term_len == 2 && memcmp(d.line_term, "\r\n", 2) == 0);
  CHECK(d.enclosure == -1 && d.escape == '\\' && d.flags == 0);

  CHECK(csv_dialect_parse(&d, "||", "'", "", "\\Z\\0", err, sizeof err) == 0);
  CHECK(d.field_term_len == 2 && d.enclosure == '\'' && d.escape == -1);
  CHECK(d.line_term_len == 2 && d.line_term[0] == 032 && d.line_term[1] == 0);

  CHECK(csv_dialect_parse(&d, "12345678", NULL, NULL, NULL, err, sizeof err) == 0);
  CHECK(csv_dialect_parse(&d, "123456789", NULL, NULL, NULL, err, sizeof err) == CSV_EINVAL);
  CHECK(strstr(err, "fields terminated by") != NULL);
  CHECK(csv_dialect_parse(&d, "", NULL, NULL, NULL, err, sizeof err) == CSV_EINVAL);
  CHECK(csv_dialect_parse(&d, NULL, NULL, NULL, "", err, sizeof err) == CSV_EINVAL);
  CHECK(csv_dialect_parse(&d, NULL, "\"\"", NULL, NULL, err, sizeof err) == CSV_EINVAL);
  CHECK(strstr(err, "enclosed by") != NULL);
  CHECK(csv_dialect_parse(&d, NULL, NULL, "ab", NULL, err, sizeof err) == CSV_EINVAL);
  CHECK(csv_dialect_parse(&d, "\\n", NULL, NULL, "\\n", err, sizeof err) == CSV_EINVAL);
  CHECK(csv_dialect_parse(&d, "\"", NULL, NULL, NULL, err, sizeof err) == CSV_EINVAL);
  CHECK(csv_dialect_parse(&d, "\\\\", NULL, NULL, NULL, err, sizeof err) == CSV_EINVAL);
  CHECK(csv_dialect_parse(&d, "\xc3\xa9", NULL, NULL, NULL, err, sizeof err) == CSV_EINVAL);
  CHECK(strstr(err, "ASCII") != NULL);
  /* A lone trailing backslash is a backslash; NULL err buffer is fine. */
  CHECK(csv_dialect_parse(&d, NULL, NULL, "\\", NULL, NULL, 0) == 0 && d.escape == '\\');

  csv_dialect_rfc4180(&d);
  CHECK(d.escape == -1 && d.enclosure == '"' && (d.flags & CSV_F_STRICT) && (d.flags & CSV_F_CRLF));
}

TEST(quoted_fields_keep_separators) {
  csv_dialect d = dia(NULL, NULL, NULL, NULL);
  CHECK_EQ_STR(R(&d, "a,\"b,c\",d\n\"x\ny\",2\n"), "[a|b,c|d][x%0Ay|2]");
  CHECK_EQ_STR(R(&d, "\"a\",\"\",b\n"), "[a||b]");
  /* A quote only opens a field at its start; inside it is data. */
  CHECK_EQ_STR(R(&d, "a\"b,c\"\n"), "[a\"b|c\"]");
}

TEST(quoted_fields_keep_lf_and_crlf_newlines) {
  csv_dialect d = dia(NULL, NULL, NULL, NULL);
  CHECK_EQ_STR(R(&d, "1,\"a\nb\"\n2,\"c\r\nd\"\r\n3,e\r\n"), "[1|a%0Ab][2|c%0D%0Ad][3|e]");
  /* A closing quote before CRLF closes the field. */
  CHECK_EQ_STR(R(&d, "\"x\"\r\n\"y\"\r\n"), "[x][y]");
}

TEST(doubled_quotes_are_one_quote) {
  csv_dialect d = dia(NULL, NULL, NULL, NULL), rfc, dbl = dia(NULL, "\"", "\"", NULL);
  csv_dialect_rfc4180(&rfc);
  CHECK_EQ_STR(R(&d, "\"he said \"\"hi\"\"\",\"\"\"\"\n"), "[he said \"hi\"|\"]");
  CHECK_EQ_STR(R(&rfc, "\"he said \"\"hi\"\"\",\"\"\"\"\n"), "[he said \"hi\"|\"]");
  /* ESCAPED BY '"' ENCLOSED BY '"': doubling only, also outside quotes. */
  CHECK_EQ_STR(R(&dbl, "\"a\"\"b\",c\"\"d,\\n\n"), "[a\"b|c\"d|\\n]");
  /* Lenient (server) mode: a quote not followed by a terminator is data. */
  CHECK_EQ_STR(R(&d, "\"ab\"c\",d\n"), "[ab\"c|d]");
}

TEST(backslash_escapes_decode_like_load_data) {
  csv_dialect d = dia(NULL, NULL, NULL, NULL);
  /* \, keeps the comma; \\ is a backslash; \n \t \0 \Z decode; a backslash
   * before a real newline keeps the newline in the field. */
  CHECK_EQ_STR(R(&d, "a\\,b,c\\\\d,e\\nf\\t\\0\\Z,q\\\nr\n"), "[a,b|c\\d|e%0Af%09%00%1A|q%0Ar]");
  CHECK_EQ_STR(R(&d, "\"in \\\"quotes\\\"\",\"x\\\\\"\n"), "[in \"quotes\"|x\\]");
  /* A quote after an escaped separator does not open a quoted field. */
  CHECK_EQ_STR(R(&d, "x\\,\"y\nz\n\\\\,\"w\"\n"), "[x,\"y][z][\\|w]");
  /* An escaped quote at field start does not open a quoted field. */
  CHECK_EQ_STR(R(&d, "\\\"a,b\\\"\n"), "[\"a|b\"]");
  /* A lone escape at the very end is literal. */
  CHECK_EQ_STR(R(&d, "a,b\\"), "[a|b\\]");
}

TEST(null_is_escape_N_or_unquoted_NULL_word) {
  csv_dialect d = dia(NULL, NULL, NULL, NULL), rfc, noenc = dia("\\t", "", NULL, NULL);
  csv_dialect_rfc4180(&rfc);
  CHECK_EQ_STR(R(&d, "\\N,\"\\N\",NULL,\"NULL\",,\"\",a\\N,\\NN\n"),
               "[<null>|<null>|<null>|NULL|||aN|NN]");
  d.flags |= CSV_F_EMPTY_NULL;
  CHECK_EQ_STR(R(&d, "\\N,\"\\N\",NULL,\"NULL\",,\"\",a\\N\n"),
               "[<null>|<null>|<null>|NULL|<null>||aN]");
  /* No escape: \N is text. The NULL word still needs an enclosure set. */
  CHECK_EQ_STR(R(&rfc, "\\N,NULL,\"NULL\"\n"), "[\\N|<null>|NULL]");
  CHECK_EQ_STR(R(&noenc, "\\N\tNULL\n"), "[<null>|NULL]");
}

TEST(crlf_line_ends_are_stripped) {
  csv_dialect d = dia(NULL, NULL, NULL, NULL), lf = d, exact = dia(NULL, NULL, NULL, "\\r\\n");
  lf.flags &= ~(unsigned)CSV_F_CRLF;
  CHECK_EQ_STR(R(&d, "a,b\r\nc,\"d\"\r\n\r\ne,f\r"), "[a|b][c|d][][e|f]");
  CHECK_EQ_STR(R(&lf, "a,b\r\nc,d\r"), "[a|b%0D][c|d%0D]");
  /* A lone CR inside a field is data; an escaped CR before LF is kept. */
  CHECK_EQ_STR(R(&d, "a\rb,c\\\r\n"), "[a%0Db|c%0D]");
  /* Exact CRLF terminator: a bare LF is data. */
  CHECK_EQ_STR(R(&exact, "a,b\nc\r\nd\r\n"), "[a|b%0Ac][d]");
}

TEST(last_line_without_newline_is_a_record) {
  csv_dialect d = dia(NULL, NULL, NULL, NULL);
  chk_chunks cv = {0};
  CHECK_EQ_STR(R(&d, "a,b\nc,d"), "[a|b][c|d]");
  CHECK(chk_split((const unsigned char *)"a,b\nc,d", 7, &d, 1000, 0, 0, &cv, NULL) == 0);
  CHECK(cv.n == 1 && cv.v[0].len == 7 && cv.v[0].records == 2 && cv.v[0].no_eol == 1);
  CHECK(chk_split((const unsigned char *)"a,b\nc,d", 7, &d, 1, 0, 3, &cv, NULL) == 0);
  CHECK(cv.n == 2 && cv.v[0].no_eol == 0 && cv.v[1].no_eol == 1 && cv.v[1].off == 4);
  CHECK(chk_split((const unsigned char *)"a,b\nc,d\n", 8, &d, 1000, 0, 0, &cv, NULL) == 0);
  CHECK(cv.n == 1 && cv.v[0].no_eol == 0 && cv.v[0].records == 2);
  free(cv.v);
}

TEST(multibyte_terminators_split_fields_and_lines) {
  csv_dialect d = dia("||", NULL, NULL, "##\\n"), tab = dia("\\t", "", NULL, NULL);
  CHECK_EQ_STR(R(&d, "a|b||c|||d##\n\"x||y##\n\"||z##\n"), "[a%7Cb|c|%7Cd][x%7C%7Cy##%0A|z]");
  /* '#' alone, and "##" without '\n', are data. */
  CHECK_EQ_STR(R(&d, "a#b##c##\n"), "[a#b##c]");
  CHECK_EQ_STR(R(&tab, "a\tb,c\t\"d\"\n"), "[a|b,c|\"d\"]");
  /* The line terminator wins over a field terminator sharing its prefix. */
  csv_dialect pre = dia(";;", NULL, NULL, ";\\n");
  CHECK_EQ_STR(R(&pre, "a;;b;\nc;d;\n"), "[a|b][c;d]");
}

TEST(header_records_are_skipped_and_counted) {
  csv_dialect d = dia(NULL, NULL, NULL, NULL);
  const char *in = "h1,\"h\n2\"\na,b\nc,d\n";
  size_t len = strlen(in);
  chk_chunks cv = {0};
  csv_split_stats st;
  CHECK(chk_split((const unsigned char *)in, len, &d, 1 << 20, 1, 0, &cv, &st) == 0);
  CHECK(cv.n == 1);
  CHECK(cv.v[0].off == 9 && cv.v[0].len == len - 9 && cv.v[0].records == 2);
  CHECK(cv.v[0].first_record == 2 && cv.v[0].first_line == 3 && cv.v[0].first_col == 1);
  CHECK(st.records == 3 && st.skipped == 1 && st.lines == 4);
  /* Only a header, with or without a newline; more headers than records. */
  CHECK(chk_split((const unsigned char *)"h1,h2\n", 6, &d, 10, 1, 0, &cv, &st) == 0);
  CHECK(cv.n == 0 && st.records == 1 && st.skipped == 1);
  CHECK(chk_split((const unsigned char *)"h1,h2", 5, &d, 10, 1, 0, &cv, &st) == 0);
  CHECK(cv.n == 0 && st.records == 1);
  CHECK(chk_split((const unsigned char *)"a\nb\n", 4, &d, 10, 5, 0, &cv, &st) == 0);
  CHECK(cv.n == 0 && st.skipped == 2);
  free(cv.v);
}

TEST(empty_input_has_no_records) {
  csv_dialect d = dia(NULL, NULL, NULL, NULL);
  chk_chunks cv = {0};
  csv_split_stats st;
  csv_parser p;
  csv_field f[4];
  csv_record rec;
  csv_error err;
  CHECK(chk_split((const unsigned char *)"", 0, &d, 10, 0, 0, &cv, &st) == 0);
  CHECK(cv.n == 0 && st.records == 0 && st.lines == 0 && st.bytes == 0);
  csv_parser_init(&p, &d, f, 4, NULL, 0);
  CHECK(csv_parse_record(&p, "", 0, 1, &rec, &err) == CSV_END);
  CHECK(csv_parse_record(&p, "", 0, 0, &rec, &err) == CSV_EINCOMPLETE);
  /* An empty line is one record with one empty field. */
  CHECK_EQ_STR(R(&d, "\n\n"), "[][]");
  free(cv.v);
}

TEST(every_chunk_size_cuts_on_record_boundaries) {
  csv_dialect dias[7];
  dias[6] = dia(NULL, NULL, NULL, ";");
  dias[0] = dia(NULL, NULL, NULL, NULL);
  csv_dialect_rfc4180(&dias[1]);
  dias[2] = dia("||", NULL, NULL, "##\\n");
  dias[3] = dia("\\t", "", NULL, "\\r\\n");
  dias[4] = dia(NULL, "\"", "\"", NULL);
  dias[5] = dia(",,", "'", "", "\\n;");
  for (size_t t = 0; t < sizeof tricky / sizeof *tricky; t++) {
    const char *in = tricky[t];
    size_t len = strlen(in);
    for (size_t di = 0; di < 7; di++)
      for (uint64_t cb = 1; cb <= len + 1; cb++)
        for (uint64_t skip = 0; skip < 3; skip++) {
          static const size_t steps[] = {1, 2, 3, 7, 64, 0};
          CHECK_SPLIT(in, len, &dias[di], cb, skip, steps[(cb + skip) % 6]);
        }
  }
}

TEST(malformed_records_report_line_and_column) {
  csv_dialect d = dia(NULL, NULL, NULL, NULL), rfc;
  csv_dialect_rfc4180(&rfc);
  /* "!kind@line:col#field" */
  CHECK_EQ_STR(R(&d, "a,b\nc,\"de\nf\n"), "[a|b]!1@2:3#2");
  CHECK_EQ_STR(R(&rfc, "a,b\"c,d\n"), "!2@1:4#2");
  CHECK_EQ_STR(R(&rfc, "x\n\"ab\"c\",d\n"), "[x]!3@2:5#1");
  /* Without a later closing quote the record runs to EOF: unterminated wins. */
  CHECK_EQ_STR(R(&rfc, "x\n\"ab\"c,d\n"), "[x]!1@2:1#1");
  CHECK_EQ_STR(R(&rfc, "1,\"a\nb\"x\",c\n"), "!3@2:3#2");
  CHECK_EQ_STR(render(&d, "a,b,c\nd,e\nf,g,h,i\n\n", 19, 3), "[a|b|c]!4@2:4#3!5@3:7#4!4@4:1#2");
  /* The same garbage is data in lenient (server) mode. */
  CHECK_EQ_STR(R(&d, "x\n\"ab\"c\",d\n"), "[x][ab\"c|d]");
  /* Column counts bytes from the start of the physical line. */
  CHECK_EQ_STR(R(&rfc, "\"a\nbc\nde\"f\"\n"), "!3@3:4#1");

  /* csv_error_format. */
  csv_parser p;
  csv_field f[8];
  char scratch[64], msg[128];
  csv_record rec;
  csv_error err;
  csv_parser_init(&p, &d, f, 8, scratch, sizeof scratch);
  p.expect_fields = 3;
  CHECK(csv_parse_record(&p, "a,b\n", 4, 1, &rec, &err) == CSV_EBADREC);
  csv_error_format(&err, msg, sizeof msg);
  CHECK_EQ_STR(msg, "line 1, column 4 (field 3): too few fields (2, expected 3)");
  CHECK(p.line == 2 && p.record == 2);
  /* Too many fields for the caller's array is reported, not overflowed. */
  csv_parser_init(&p, &d, f, 2, scratch, sizeof scratch);
  CHECK(csv_parse_record(&p, "a,b,c,d\n", 8, 1, &rec, &err) == CSV_EBADREC);
  CHECK(err.kind == CSV_BAD_TOO_MANY && err.field == 3 && err.got == 4 && rec.nfields == 2);
  /* Scratch too small: nothing consumed. */
  csv_parser_init(&p, &d, f, 8, scratch, 2);
  CHECK(csv_parse_record(&p, "a\\tbc\n", 6, 1, &rec, &err) == CSV_ENOSPC);
  CHECK(p.line == 1 && p.record == 1);
}

typedef struct {
  char rejects[1024];
  size_t rlen;
  uint64_t lines[16], errline[16];
  int n, good;
} reject_ud;

static int on_good(void *ud, const csv_record *rec) {
  (void)rec;
  ((reject_ud *)ud)->good++;
  return 0;
}

static int on_bad(void *ud, const csv_error *e) {
  reject_ud *u = ud;
  memcpy(u->rejects + u->rlen, e->raw, e->raw_len);
  u->rlen += e->raw_len;
  u->lines[u->n] = e->rec_line;
  u->errline[u->n++] = e->line;
  return 0;
}

TEST(chunk_validation_hands_rejects_their_raw_bytes) {
  csv_dialect d = dia(NULL, NULL, NULL, NULL);
  const char *in = "h,h\n1,a\n2,\"b\nc\",x\n3,c\n4\n5,\"d\"\"\"\n";
  size_t len = strlen(in);
  chk_chunks cv = {0};
  csv_field f[8];
  char scratch[256];
  csv_parser p;
  csv_parse_stats ps;
  reject_ud u = {{0}, 0, {0}, {0}, 0, 0};
  CHECK(chk_split((const unsigned char *)in, len, &d, 1 << 20, 1, 0, &cv, NULL) == 0);
  CHECK(cv.n == 1 && cv.v[0].first_line == 2);
  csv_parser_init(&p, &d, f, 8, scratch, sizeof scratch);
  p.expect_fields = 2;
  csv_parser_seek(&p, &cv.v[0]);
  CHECK(csv_parse_chunk(&p, in + cv.v[0].off, cv.v[0].len, on_good, on_bad, &u, &ps) == 0);
  CHECK(ps.records == 5 && ps.bad == 2 && ps.bytes == cv.v[0].len && u.good == 3);
  CHECK(u.n == 2 && u.lines[0] == 3 && u.lines[1] == 6);
  CHECK(u.errline[0] == 4 && u.errline[1] == 6); /* field 3 of record 3 is on line 4 */
  u.rejects[u.rlen] = 0;
  CHECK_EQ_STR(u.rejects, "2,\"b\nc\",x\n4\n");
  free(cv.v);
}

TEST(sniff_eol_switches_to_exact_crlf) {
  csv_dialect d = dia(NULL, NULL, NULL, NULL);
  CHECK(csv_dialect_sniff_eol(&d, "a,\"x\r\ny\"\r\nb\n", 12, 0) == 1);
  CHECK(d.line_term_len == 2 && !(d.flags & CSV_F_CRLF));
  CHECK(csv_dialect_sniff_eol(&d, "a\r\n", 3, 1) == 0); /* no flag any more */
  /* An LF first record: exact "\n" from now on, so a later "x"<CR><LF> reads
   * as the server reads it (the quote does not close). */
  d = dia(NULL, NULL, NULL, NULL);
  CHECK(csv_dialect_sniff_eol(&d, "a,\"x\r\ny\"\nb\r\n", 12, 0) == 0);
  CHECK(d.line_term_len == 1 && !(d.flags & CSV_F_CRLF));
  CHECK_EQ_STR(R(&d, "a,\"x\"\r\nb\",c\n"), "[a|x\"%0D%0Ab|c]");
  d = dia(NULL, NULL, NULL, NULL);
  CHECK(csv_dialect_sniff_eol(&d, "a,\"x\r\n", 6, 0) == CSV_EINCOMPLETE);
  CHECK(d.flags & CSV_F_CRLF);
  CHECK(csv_dialect_sniff_eol(&d, "a,b", 3, 1) == 0 && !(d.flags & CSV_F_CRLF));
  d = dia(NULL, NULL, NULL, NULL);
  CHECK(csv_dialect_sniff_eol(&d, "a,b\r", 4, 1) == 0 && d.line_term_len == 1);
  d = dia(NULL, NULL, NULL, NULL);
  CHECK(csv_dialect_sniff_eol(&d, "", 0, 1) == 0 && !(d.flags & CSV_F_CRLF));
}

static int stop_at_two(void *ud, const csv_chunk *c) {
  (void)c;
  return ++*(int *)ud == 2 ? 7 : 0;
}

TEST(callback_stop_is_sticky) {
  csv_dialect d = dia(NULL, NULL, NULL, NULL);
  csv_splitter s;
  int n = 0;
  csv_splitter_init(&s, &d, 1, 0);
  CHECK(csv_splitter_feed(&s, "a\nb\nc\n", 6, stop_at_two, &n) == 7);
  CHECK(n == 2);
  CHECK(csv_splitter_feed(&s, "d\n", 2, stop_at_two, &n) == 7);
  CHECK(csv_splitter_finish(&s, stop_at_two, &n) == 7 && n == 2);
  csv_splitter_init(&s, &d, 1, 0);
  CHECK(csv_splitter_finish(&s, stop_at_two, &n) == 0);
  CHECK(csv_splitter_feed(&s, "x", 1, stop_at_two, &n) == CSV_ESTATE);
}

TEST(open_quote_at_eof_is_reported_with_its_line) {
  csv_dialect d = dia(NULL, NULL, NULL, NULL);
  const char *in = "a\nb,\"x\ny\"\nc,\"never\nclosed\n";
  chk_chunks cv = {0};
  csv_split_stats st;
  for (size_t step = 1; step <= 4; step++) {
    CHECK(chk_split((const unsigned char *)in, strlen(in), &d, 3, 0, step, &cv, &st) == 0);
    CHECK(st.open_quote == 1 && st.open_quote_off == 10 && st.open_quote_line == 4);
    /* The last chunk still reaches EOF, so nothing is lost. */
    CHECK(cv.n && cv.v[cv.n - 1].off + cv.v[cv.n - 1].len == strlen(in));
  }
  CHECK(chk_split((const unsigned char *)"a,\"b\"", 5, &d, 3, 0, 1, &cv, &st) == 0);
  CHECK(st.open_quote == 0);
  free(cv.v);
}

TEST(split_fd_matches_memory_split) {
  csv_dialect d = dia(NULL, NULL, NULL, NULL);
  char path[] = "/tmp/dbfork_csv_XXXXXX";
  int fd = mkstemp(path);
  const char *in = tricky[5];
  size_t len = strlen(in);
  chk_chunks mem = {0}, file = {0};
  csv_split_stats st;
  char buf[4096];
  CHECK(fd >= 0);
  if (fd < 0) return;
  unlink(path);
  CHECK(write(fd, in, len) == (ssize_t)len);
  CHECK(chk_split((const unsigned char *)in, len, &d, 5, 1, 0, &mem, NULL) == 0);
  static const size_t bufs[] = {1, 3, 16, 4096};
  for (size_t i = 0; i < 4; i++) {
    file.n = 0;
    CHECK(csv_split_fd(fd, &d, 5, 1, buf, bufs[i], chk_push, &file, &st) == 0);
    CHECK(chk_same_chunks(&mem, &file));
    CHECK(st.bytes == len && st.skipped == 1);
  }
  close(fd);
  CHECK(csv_split_fd(fd, &d, 5, 1, buf, sizeof buf, chk_push, &file, NULL) == -EBADF);
  CHECK(csv_split_fd(0, &d, 5, 1, buf, 0, chk_push, &file, NULL) == CSV_EINVAL);
  free(mem.v);
  free(file.v);
}

TEST(incremental_parse_waits_for_whole_record) {
  csv_dialect dias[3];
  dias[0] = dia(NULL, NULL, NULL, NULL);
  dias[1] = dia("||", NULL, NULL, "##\\n");
  csv_dialect_rfc4180(&dias[2]);
  for (size_t t = 0; t < sizeof tricky / sizeof *tricky; t++)
    for (size_t di = 0; di < 3; di++) {
      char why[256];
      if (csv_check_incremental((const unsigned char *)tricky[t], strlen(tricky[t]), &dias[di], why,
                                sizeof why))
        FAIL("incremental, input %zu dialect %zu: %s", t, di, why);
    }
}

/* ------------------------------------------------------ property test */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) {
  uint64_t x = rng_state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return rng_state = x;
}

typedef struct {
  char *buf;
  size_t len, cap;
} sbuf;

static void sb_put(sbuf *b, const void *p, size_t n) {
  if (!b->buf || b->len + n > b->cap) {
    b->cap = (b->len + n) * 2 + 64;
    b->buf = realloc(b->buf, b->cap);
    if (!b->buf) abort();
  }
  if (n) memcpy(b->buf + b->len, p, n);
  b->len += n;
}
static void sb_byte(sbuf *b, int c) {
  unsigned char ch = (unsigned char)c;
  sb_put(b, &ch, 1);
}

typedef struct {
  const char *name;
  csv_dialect d;
  const char *eol; /* what the writer ends records with */
} prop_dialect;

/* Writes one value so that the dialect reads it back exactly. */
static void write_field(sbuf *out, const csv_dialect *d, const char *v, size_t n, int null) {
  int esc_full = d->escape >= 0 && d->escape != d->enclosure;
  if (null) {
    if (esc_full && (d->enclosure < 0 || rnd() % 2)) {
      sb_byte(out, d->escape);
      sb_byte(out, 'N');
    } else {
      sb_put(out, "NULL", 4);
    }
    return;
  }
  int plain = !(n == 4 && memcmp(v, "NULL", 4) == 0);
  for (size_t i = 0; i < n && plain; i++) {
    int c = (unsigned char)v[i];
    if (c == d->field_term[0] || c == d->line_term[0] || c == '\r' || c == d->enclosure ||
        c == d->escape)
      plain = 0;
  }
  if (d->enclosure >= 0 && (!plain || rnd() % 2)) {
    sb_byte(out, d->enclosure);
    for (size_t i = 0; i < n; i++) {
      int c = (unsigned char)v[i];
      if (c == d->enclosure) {
        sb_byte(out, esc_full && rnd() % 2 ? d->escape : d->enclosure);
      } else if (esc_full && c == d->escape) {
        sb_byte(out, d->escape);
      }
      sb_byte(out, c);
    }
    sb_byte(out, d->enclosure);
  } else {
    for (size_t i = 0; i < n; i++) {
      int c = (unsigned char)v[i];
      if (!plain && (c == d->field_term[0] || c == d->line_term[0] || c == '\r' || c == d->escape))
        sb_byte(out, d->escape); /* only reached with an escape (see generator) */
      sb_byte(out, c);
    }
  }
}

typedef struct {
  const sbuf *vals; /* expected values, concatenated */
  const size_t *voff, *vlen;
  const int *vnull;
  const size_t *nf; /* fields per record */
  size_t rec, field, nrec;
  int fail;
} prop_cmp;

static int prop_ok(void *ud, const csv_record *rec) {
  prop_cmp *c = ud;
  if (c->rec >= c->nrec || rec->nfields != c->nf[c->rec]) {
    c->fail = 1;
    return 1;
  }
  for (size_t i = 0; i < rec->nfields; i++, c->field++) {
    const csv_field *f = &rec->fields[i];
    if (f->null != c->vnull[c->field] ||
        (!f->null && (f->len != c->vlen[c->field] ||
                      memcmp(f->ptr, c->vals->buf + c->voff[c->field], f->len) != 0))) {
      c->fail = 2;
      return 1;
    }
  }
  c->rec++;
  return 0;
}

static int prop_bad(void *ud, const csv_error *e) {
  (void)e;
  ((prop_cmp *)ud)->fail = 3;
  return 1;
}

TEST(random_records_round_trip_through_any_split) {
  prop_dialect pd[8];
  pd[0] = (prop_dialect){"mysql", dia(NULL, NULL, NULL, NULL), "\n"};
  pd[1] = (prop_dialect){"mysql-crlf", dia(NULL, NULL, NULL, NULL), "\r\n"};
  pd[2] = (prop_dialect){"rfc4180", {{0}, 0, {0}, 0, 0, 0, 0}, "\r\n"};
  csv_dialect_rfc4180(&pd[2].d);
  pd[3] = (prop_dialect){"tsv", dia("\\t", "", NULL, NULL), "\n"};
  pd[4] = (prop_dialect){"multibyte", dia("||", NULL, NULL, "##\\n"), "##\n"};
  pd[5] = (prop_dialect){"semicolon-crlf", dia(";", "'", "", "\\r\\n"), "\r\n"};
  pd[6] = (prop_dialect){"quote-escape", dia(NULL, "\"", "\"", NULL), "\n"};
  pd[7] = (prop_dialect){"colons", dia("::", "", NULL, NULL), "\n"};
  static const char alphabet[] = "ab,\"\\\n\r|#;':N \tx";

  for (int round = 0; round < 400; round++) {
    prop_dialect *p = &pd[round % 8];
    const csv_dialect *d = &p->d;
    int esc_full = d->escape >= 0 && d->escape != d->enclosure;
    size_t nrec = 1 + rnd() % 120, width = 1 + rnd() % 6;
    int header = rnd() % 3 == 0;
    sbuf file = {0}, vals = {0};
    size_t cap = (nrec + 1) * width;
    size_t *voff = malloc(cap * sizeof *voff), *vlen = malloc(cap * sizeof *vlen);
    int *vnull = malloc(cap * sizeof *vnull);
    size_t *nf = malloc((nrec + 1) * sizeof *nf), k = 0;
    if (!voff || !vlen || !vnull || !nf) abort();
    for (size_t r = 0; r < nrec + (size_t)header; r++) {
      size_t w = rnd() % 8 == 0 ? 1 + rnd() % width : width; /* ragged rows too */
      size_t rec_start = file.len;
      for (size_t f = 0; f < w; f++) {
        char v[16];
        size_t n = rnd() % 13;
        int null = rnd() % 10 == 0;
        for (size_t i = 0; i < n; i++) {
          int c;
          do c = alphabet[rnd() % (sizeof alphabet - 1)];
          while (d->enclosure < 0 && !esc_full &&
                 (memchr(d->field_term, c, d->field_term_len) ||
                  memchr(d->line_term, c, d->line_term_len) || c == '\r'));
          v[i] = (char)c;
        }
        if (null && d->enclosure < 0 && !esc_full) null = 0;
        if (f) sb_put(&file, d->field_term, d->field_term_len);
        write_field(&file, d, v, n, null);
        if (r >= (size_t)header) {
          voff[k] = vals.len;
          vlen[k] = n;
          vnull[k] = null;
          sb_put(&vals, v, n);
          k++;
        }
      }
      if (r >= (size_t)header) nf[r - (size_t)header] = w;
      /* The last record sometimes goes without its terminator (unless it
       * would then be empty, i.e. vanish). */
      if (r + 1 < nrec + (size_t)header || rnd() % 2 || file.len == rec_start)
        sb_put(&file, p->eol, strlen(p->eol));
    }

    /* Split at a random size, fed in random pieces, then parse each chunk. */
    uint64_t cb = 1 + rnd() % (file.len + 1);
    size_t step = 1 + rnd() % 97;
    chk_chunks cv = {0};
    csv_split_stats st;
    prop_cmp cmp = {&vals, voff, vlen, vnull, nf, 0, 0, nrec, 0};
    CHECK(chk_split((const unsigned char *)file.buf, file.len, d, cb, (uint64_t)header, step, &cv,
                    &st) == 0);
    CHECK(st.records == nrec + (size_t)header && st.skipped == (uint64_t)header);
    CHECK(!st.open_quote);
    size_t scap = file.len + 1;
    char *scratch = malloc(scap);
    csv_field fields[16];
    for (size_t i = 0; i < cv.n && !cmp.fail; i++) {
      csv_parser ps;
      csv_parse_stats pst;
      csv_parser_init(&ps, d, fields, 16, scratch, scap);
      csv_parser_seek(&ps, &cv.v[i]);
      CHECK(csv_parse_chunk(&ps, file.buf + cv.v[i].off, cv.v[i].len, prop_ok, prop_bad, &cmp,
                            &pst) == 0 ||
            cmp.fail);
      CHECK(pst.records == cv.v[i].records || cmp.fail);
    }
    if (cmp.fail || cmp.rec != nrec)
      FAIL("round %d (%s, %zu records, chunk %llu): mismatch %d at record %zu", round, p->name,
           nrec, (unsigned long long)cb, cmp.fail, cmp.rec);
    if (round % 4 == 0) CHECK_SPLIT(file.buf, file.len, d, cb, (uint64_t)header, step);
    free(scratch);
    free(cv.v);
    free(file.buf);
    free(vals.buf);
    free(voff);
    free(vlen);
    free(vnull);
    free(nf);
  }
}
