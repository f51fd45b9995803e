/*
 * fuzz_csv.c — libFuzzer target for the CSV layer (src/cli/csv.h).
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined tests/fuzz/fuzz_csv.c \
 *         src/cli/csv.c -o /tmp/fuzz_csv && /tmp/fuzz_csv tests/fuzz/corpus_csv
 *
 * Input: a 5-byte header choosing the dialect, chunk size, skip count, feed
 * step and expected field count, then the CSV bytes. For every input it
 * asserts the invariants of tests/csv/csv_check.h (the splitter's chunks are
 * record-aligned, contiguous, counted right, identical on the fast and slow
 * paths and for any feed step, and each chunk parses alone to the same
 * records as the whole input), incremental parsing, and that a field-count
 * check never changes record extents. Any violation aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../csv/csv_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fts[8] = {",", "\\t", ";", "||", ",,", "|", "::", "ab"};
static const char *const lts[8] = {"\\n", "\\r\\n", "##\\n", "\\n;", ";", "|\\n", "\\r", "xyz"};
static const char *const encs[4] = {"\"", "'", "", "\""};
static const char *const escs[4] = {"\\\\", "", "\"", "\\\\"};
static const size_t steps[16] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 16, 63, 64, 65, 100, 4096};

static void die(const char *what, const char *why) {
  fprintf(stderr, "fuzz_csv: %s: %s\n", what, why);
  abort();
}

/* The record extents found with a field-count check must be those found
 * without one: validation never moves a boundary. */
static void check_expect(const uint8_t *data, size_t len, const csv_dialect *d, size_t expect) {
  csv_parser a, b;
  size_t maxf = len + 2 + expect;
  csv_field *fa = malloc(maxf * sizeof *fa), *fb = malloc(maxf * sizeof *fb);
  char *sa = malloc(len + 1), *sb = malloc(len + 1);
  size_t off = 0;
  if (!fa || !fb || !sa || !sb) abort();
  csv_parser_init(&a, d, fa, maxf, sa, len + 1);
  csv_parser_init(&b, d, fb, maxf, sb, len + 1);
  b.expect_fields = expect;
  for (;;) {
    csv_record ra, rb;
    csv_error ea, eb;
    int x = csv_parse_record(&a, data + off, len - off, 1, &ra, &ea);
    int y = csv_parse_record(&b, data + off, len - off, 1, &rb, &eb);
    if (x == CSV_END && y == CSV_END) break;
    if ((x != CSV_OK && x != CSV_EBADREC) || (y != CSV_OK && y != CSV_EBADREC))
      die("expect", "unexpected parse status");
    if (ra.raw_len != rb.raw_len) die("expect", "field-count check moved a record boundary");
    if (y == CSV_EBADREC && (eb.kind == CSV_BAD_TOO_FEW || eb.kind == CSV_BAD_TOO_MANY) &&
        ((eb.kind == CSV_BAD_TOO_FEW) != (eb.got < expect)))
      die("expect", "wrong field-count verdict");
    if (x == CSV_OK && y == CSV_OK && ra.nfields != expect)
      die("expect", "accepted a record with the wrong field count");
    off += ra.raw_len;
  }
  free(fa);
  free(fb);
  free(sa);
  free(sb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  csv_dialect d;
  char err[128], why[512];

  if (size < 5) return 0;
  uint8_t h0 = data[0], h1 = data[1], h4 = data[4];
  uint64_t chunk = (uint64_t)data[2] | (uint64_t)data[3] << 8;
  uint64_t skip = h4 & 3;
  size_t step = steps[(h4 >> 2) & 15];
  size_t expect = (size_t)(h4 >> 6);
  data += 5;
  size -= 5;

  if (csv_dialect_parse(&d, fts[h0 & 7], encs[h1 & 3], escs[(h1 >> 2) & 3], lts[(h0 >> 3) & 7], err,
                        sizeof err))
    return 0;
  if (h1 & 0x10) d.flags |= CSV_F_STRICT;
  if (h1 & 0x20) d.flags |= CSV_F_EMPTY_NULL;
  if (h1 & 0x40) d.flags &= ~(unsigned)CSV_F_CRLF;
  if (h1 & 0x80) d.flags &= ~(unsigned)CSV_F_NULL_WORD;
  if (h0 & 0x40) {
    csv_dialect s = d;
    int r = csv_dialect_sniff_eol(&s, data, size, 1);
    if (r < 0 || r > 1) die("sniff", "bad return");
    if (h0 & 0x80) d = s;
  }

  if (csv_check_split(data, size, &d, chunk, skip, step, why, sizeof why)) die("split", why);
  if (size <= 256 && csv_check_incremental(data, size, &d, why, sizeof why))
    die("incremental", why);
  if (expect) check_expect(data, size, &d, expect);
  return 0;
}
