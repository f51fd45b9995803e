/*
 * fuzz_exec_wire.c — libFuzzer target over exec's chunk and reply codecs
 * (src/exec/exec_wire.c): every input is read as a chunk and as a reply;
 * whatever decodes is encoded again and must decode to the same values and
 * bytes.
 *
 * Without libFuzzer, fuzz_replay.c turns this into a program that replays
 * the corpus (ctest fuzz_exec_wire.corpus_replays_cleanly).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what) {
  fprintf(stderr, "fuzz_exec_wire: invariant broken: %s\n", what);
  abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  exec_chunk_msg m, m2;
  exec_reply r, r2;
  unsigned char rb[EXEC_REPLY_SIZE];
  if (exec_chunk_decode(&m, data, size) == 0) {
    unsigned char *buf = malloc(size ? size : 1);
    size_t n;
    if (!buf) return 0;
    if (m.cond + m.cond_len > (const char *)data + size ||
        m.key_to + m.to_len > (const char *)data + size)
      fail("a string points past the input");
    n = exec_chunk_encode(&m, buf, size);
    if (n != size) fail("chunk re-encodes to another length");
    if (exec_chunk_decode(&m2, buf, n) || m2.chunk != m.chunk ||
        m2.rows_planned != m.rows_planned || m2.cond_len != m.cond_len ||
        m2.from_len != m.from_len || m2.to_len != m.to_len || memcmp(m2.cond, m.cond, m.cond_len) ||
        memcmp(m2.key_to, m.key_to, m.to_len))
      fail("chunk does not round-trip");
    if (memcmp(buf + 4, data + 4, n - 4)) fail("chunk re-encodes differently");
    free(buf);
  }
  if (exec_reply_decode(&r, data, size) == 0) {
    exec_reply_encode(&r, rb);
    if (exec_reply_decode(&r2, rb, sizeof rb) || r2.flags != r.flags ||
        r2.rows_matched != r.rows_matched || r2.rows_affected != r.rows_affected ||
        r2.duration_us != r.duration_us)
      fail("reply does not round-trip");
  }
  return 0;
}
