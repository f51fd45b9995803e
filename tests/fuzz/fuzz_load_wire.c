/*
 * fuzz_load_wire.c — libFuzzer target over the loader's part and reply
 * codecs (src/load/wire.c): every input is read as a reply (head, then
 * entries until the end or an error) and as a part; whatever decodes is
 * encoded again and must decode to the same values.
 *
 * Without libFuzzer, fuzz_replay.c turns this into a program that replays
 * the corpus (ctest fuzz_load_wire.corpus_replays_cleanly).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what) {
  fprintf(stderr, "fuzz_load_wire: invariant broken: %s\n", what);
  abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  load_reply_reader r, r2;
  load_reply_head h, h2;
  load_reply_writer w;
  load_entry e, e2;
  load_part p, p2;
  unsigned char pb[LOAD_PART_SIZE];
  int k, n = 0;

  if (load_part_decode(&p, data, size) == 0) {
    load_part_encode(&p, pb);
    if (load_part_decode(&p2, pb, sizeof pb) || memcmp(&p, &p2, sizeof p))
      fail("part does not round-trip");
    if (memcmp(pb, data, sizeof pb) && !(data[2] || data[3])) fail("part re-encodes differently");
  }

  if (load_reply_open(&r, &h, data, size)) return 0;
  memset(&w, 0, sizeof w);
  load_reply_begin(&w);
  while ((k = load_reply_next(&r, &e)) == 1) {
    if (e.text_len &&
        (e.text < (const char *)data || e.text + e.text_len > (const char *)data + size))
      fail("entry text outside the input");
    if (e.raw_len && (e.raw < (const char *)data || e.raw + e.raw_len > (const char *)data + size))
      fail("entry raw bytes outside the input");
    if (e.column_name_len && (e.column_name < (const char *)data ||
                              e.column_name + e.column_name_len > (const char *)data + size))
      fail("entry column name outside the input");
    if (e.value_len &&
        (e.value < (const char *)data || e.value + e.value_len > (const char *)data + size))
      fail("entry value outside the input");
    if (e.kind == LOAD_ENTRY_REJECT)
      load_reply_reject(&w, &e);
    else if (e.kind == LOAD_ENTRY_WARNING)
      load_reply_warning(&w, e.line, e.text, e.text_len);
    else
      fail("an entry of an unknown kind was returned");
    n++;
  }
  if (k == 0) {
    /* A well-formed reply: re-encoded, it reads the same. */
    h.entries = (uint32_t)n;
    if (load_reply_finish(&w, &h)) fail("re-encoding failed");
    if (load_reply_open(&r2, &h2, w.p, w.len)) fail("re-encoded reply does not open");
    if (h2.chunk != h.chunk || h2.part != h.part || h2.records != h.records ||
        h2.loaded != h.loaded || h2.rejected != h.rejected || h2.warnings != h.warnings ||
        h2.first_line != h.first_line || h2.last_line != h.last_line || h2.entries != h.entries)
      fail("re-encoded head differs");
    load_reply_open(&r, &h, data, size);
    while (load_reply_next(&r, &e) == 1) {
      if (load_reply_next(&r2, &e2) != 1 || e.kind != e2.kind || e.line != e2.line ||
          e.error_line != e2.error_line || e.column != e2.column || e.field != e2.field ||
          e.offset != e2.offset || e.error_offset != e2.error_offset || e.text_len != e2.text_len ||
          (e.text_len && memcmp(e.text, e2.text, e.text_len)) || e.raw_len != e2.raw_len ||
          (e.raw_len && memcmp(e.raw, e2.raw, e.raw_len)) ||
          e.column_name_len != e2.column_name_len ||
          (e.column_name_len && memcmp(e.column_name, e2.column_name, e.column_name_len)) ||
          e.value_len != e2.value_len || (e.value_len && memcmp(e.value, e2.value, e.value_len)))
        fail("re-encoded entry differs");
    }
    if (load_reply_next(&r2, &e2) != 0) fail("re-encoded reply has more entries");
  }
  load_reply_free(&w);
  return 0;
}
