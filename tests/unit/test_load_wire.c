/*
 * test_load_wire.c — the loader's part and reply codecs (src/load/wire.c),
 * without processes: round trips, the byte layout, truncation at every
 * length, unknown versions and kinds, and random buffers.
 */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "wire.h"

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint64_t rnd(void) {
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return rng * 2685821657736338717ull;
}

TEST(part_round_trips_and_is_little_endian) {
  load_part p, q;
  unsigned char b[LOAD_PART_SIZE];
  memset(&p, 0, sizeof p);
  p.chunk = 0x0102030405060708ull;
  p.part = 13;
  p.offset = 1ull << 40;
  p.length = 4u << 20;
  p.records = 62500;
  p.first_record = 9;
  p.first_line = 123456789;
  p.first_col = 3;
  p.no_eol = 1;
  load_part_encode(&p, b);
  CHECK_EQ_INT(b[0], LOAD_WIRE_VERSION);
  CHECK_EQ_INT(b[1], LOAD_PART_NO_EOL);
  CHECK_EQ_INT(b[4], 0x08); /* chunk, lowest byte first */
  CHECK_EQ_INT(b[11], 0x01);
  CHECK_EQ_INT(b[12], 13);
  CHECK_EQ_INT(load_part_decode(&q, b, sizeof b), 0);
  CHECK(memcmp(&p, &q, sizeof p) == 0);
}

TEST(part_refuses_other_lengths_versions_flags_and_part_zero) {
  load_part p, q;
  unsigned char b[LOAD_PART_SIZE + 1];
  size_t n;
  memset(&p, 0, sizeof p);
  p.part = 1;
  p.length = 10;
  load_part_encode(&p, b);
  for (n = 0; n < LOAD_PART_SIZE; n++) CHECK_EQ_INT(load_part_decode(&q, b, n), -1);
  CHECK_EQ_INT(load_part_decode(&q, b, LOAD_PART_SIZE + 1), -1);
  b[0] = 1; /* version 1 (dbfork 0.2) is refused: both ends are one library */
  CHECK_EQ_INT(load_part_decode(&q, b, LOAD_PART_SIZE), -1);
  b[0] = 3;
  CHECK_EQ_INT(load_part_decode(&q, b, LOAD_PART_SIZE), -1);
  b[0] = LOAD_WIRE_VERSION;
  b[1] = 0x80;
  CHECK_EQ_INT(load_part_decode(&q, b, LOAD_PART_SIZE), -1);
  b[1] = 0;
  p.part = 0;
  load_part_encode(&p, b);
  CHECK_EQ_INT(load_part_decode(&q, b, LOAD_PART_SIZE), -1);
  p.part = 1;
  p.offset = UINT64_MAX;
  p.length = 2; /* the range wraps */
  load_part_encode(&p, b);
  CHECK_EQ_INT(load_part_decode(&q, b, LOAD_PART_SIZE), -1);
}

static void build(load_reply_writer *w, load_reply_head *h) {
  load_entry e;
  memset(h, 0, sizeof *h);
  h->flags = LOAD_REPLY_RECOVERED;
  h->chunk = 7;
  h->part = 3;
  h->records = 1000;
  h->loaded = 998;
  h->rejected = 2;
  h->warnings = 1;
  h->first_line = 5001;
  h->last_line = 6003;
  load_reply_begin(w);
  memset(&e, 0, sizeof e);
  e.line = 5010;
  e.error_line = 5011;
  e.column = 4;
  e.field = 2;
  e.offset = 1ull << 33;
  e.error_offset = (1ull << 33) + 9;
  e.text = "line 5011, column 4 (field 2): x";
  e.text_len = 32;
  e.raw = "a,\"b\nc\n";
  e.raw_len = 7;
  e.column_name = "amount";
  e.column_name_len = 6;
  e.value = "1,5";
  e.value_len = 3;
  load_reply_reject(w, &e);
  load_reply_warning(w, 5500, "Data truncated for column 'note' at row 3", 41);
  memset(&e, 0, sizeof e);
  e.line = e.error_line = 6000;
  e.column = e.field = 1;
  load_reply_reject(w, &e);
  CHECK_EQ_INT(load_reply_finish(w, h), 0);
}

TEST(reply_round_trips_head_and_entries_in_order) {
  load_reply_writer w;
  load_reply_head h, g;
  load_reply_reader r;
  load_entry e;
  memset(&w, 0, sizeof w);
  build(&w, &h);
  CHECK_EQ_INT(load_reply_open(&r, &g, w.p, w.len), 0);
  CHECK(g.flags == h.flags && g.chunk == 7 && g.part == 3 && g.records == 1000 && g.loaded == 998 &&
        g.rejected == 2 && g.warnings == 1 && g.first_line == 5001 && g.last_line == 6003);
  CHECK_EQ_INT(g.entries, 3);
  CHECK_EQ_INT(load_reply_next(&r, &e), 1);
  CHECK_EQ_INT(e.kind, LOAD_ENTRY_REJECT);
  CHECK(e.line == 5010 && e.error_line == 5011 && e.column == 4 && e.field == 2);
  CHECK(e.offset == 1ull << 33 && e.error_offset == (1ull << 33) + 9);
  CHECK(e.text_len == 32 && !memcmp(e.text, "line 5011, column 4 (field 2): x", 32));
  CHECK(e.raw_len == 7 && !memcmp(e.raw, "a,\"b\nc\n", 7));
  CHECK(e.column_name_len == 6 && !memcmp(e.column_name, "amount", 6));
  CHECK(e.value_len == 3 && !memcmp(e.value, "1,5", 3));
  CHECK_EQ_INT(load_reply_next(&r, &e), 1);
  CHECK_EQ_INT(e.kind, LOAD_ENTRY_WARNING);
  CHECK(e.line == 5500 && e.text_len == 41);
  CHECK_EQ_INT(load_reply_next(&r, &e), 1);
  CHECK(e.kind == LOAD_ENTRY_REJECT && e.text_len == 0 && e.raw_len == 0 &&
        e.column_name_len == 0 && e.value_len == 0 && e.offset == 0);
  CHECK_EQ_INT(load_reply_next(&r, &e), 0);
  CHECK_EQ_INT(load_reply_next(&r, &e), 0);
  load_reply_free(&w);
}

TEST(reply_truncated_anywhere_is_refused_never_overread) {
  load_reply_writer w;
  load_reply_head h;
  load_reply_reader r;
  load_entry e;
  size_t n;
  memset(&w, 0, sizeof w);
  build(&w, &h);
  for (n = 0; n < w.len; n++) {
    /* a copy of exactly n bytes, so that a sanitizer sees any read past it */
    unsigned char *c = malloc(n ? n : 1);
    int k = 0, got = 0;
    CHECK(c != NULL);
    memcpy(c, w.p, n);
    if (load_reply_open(&r, &h, c, n) == 0) {
      while ((k = load_reply_next(&r, &e)) == 1) got++;
      CHECK_EQ_INT(k, -1); /* entries were promised and are not all there */
      CHECK(got < 3);
    }
    free(c);
  }
  load_reply_free(&w);
}

TEST(reply_refuses_unknown_versions_kinds_and_trailing_bytes) {
  load_reply_writer w;
  load_reply_head h;
  load_reply_reader r;
  load_entry e;
  unsigned char *c;
  memset(&w, 0, sizeof w);
  build(&w, &h);
  c = malloc(w.len + 1);
  CHECK(c != NULL);
  memcpy(c, w.p, w.len);
  c[0] = 9;
  CHECK_EQ_INT(load_reply_open(&r, &h, c, w.len), -1);
  c[0] = LOAD_WIRE_VERSION;
  c[1] = 0x40;
  CHECK_EQ_INT(load_reply_open(&r, &h, c, w.len), -1);
  c[1] = 0;
  c[72] = 3; /* the first entry's kind */
  CHECK_EQ_INT(load_reply_open(&r, &h, c, w.len), 0);
  CHECK_EQ_INT(load_reply_next(&r, &e), -1);
  c[72] = LOAD_ENTRY_REJECT;
  c[w.len] = 0;
  CHECK_EQ_INT(load_reply_open(&r, &h, c, w.len + 1), 0);
  while (load_reply_next(&r, &e) == 1) {
  }
  CHECK_EQ_INT(load_reply_next(&r, &e), -1); /* a byte after the last entry */
  free(c);
  load_reply_free(&w);
}

TEST(random_buffers_never_crash_the_readers) {
  unsigned char buf[512];
  int round;
  for (round = 0; round < 200000; round++) {
    size_t n = rnd() % sizeof buf, i;
    load_reply_reader r;
    load_reply_head h;
    load_entry e;
    load_part p;
    for (i = 0; i < n; i++) buf[i] = (unsigned char)rnd();
    if (n) buf[0] = round & 1 ? LOAD_WIRE_VERSION : buf[0];
    if (n > 1 && round & 2) buf[1] = 0;
    if (load_reply_open(&r, &h, buf, n) == 0) {
      int k, steps = 0;
      while ((k = load_reply_next(&r, &e)) == 1) {
        CHECK(e.text + e.text_len <= (const char *)buf + n);
        if (e.raw) CHECK(e.raw + e.raw_len <= (const char *)buf + n);
        if (e.column_name) CHECK(e.column_name + e.column_name_len <= (const char *)buf + n);
        if (e.value) CHECK(e.value + e.value_len <= (const char *)buf + n);
        CHECK(++steps <= (int)n);
      }
    }
    (void)load_part_decode(&p, buf, n);
  }
}
