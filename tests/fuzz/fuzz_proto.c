/*
 * fuzz_proto.c — libFuzzer target over the parent<->worker wire codec: the
 * input is a byte stream read the way the parent and the worker read their
 * socket (frame after frame), and every frame's body goes through the body
 * decoders and back through the encoders.
 *
 *   cmake -B build-fuzz -DCMAKE_C_COMPILER=clang -DDBFORK_FUZZ=ON
 *   cmake --build build-fuzz --target fuzz_proto
 *   build-fuzz/tests/fuzz/fuzz_proto -max_total_time=60 /tmp/corpus tests/fuzz/corpus_proto
 *
 * Without libFuzzer, fuzz_replay.c turns the same function into a program that
 * replays the corpus (ctest fuzz_proto_replay).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_PAYLOAD 65536

static void fail(const char *what) {
  fprintf(stderr, "fuzz_proto: invariant broken: %s\n", what);
  abort();
}

static void check_body(const dbfork__frame *f) {
  uint8_t out[DBFORK__ERRBODY_FIXED + DBFORK__MSG_MSG_MAX];
  dbfork__errbody e, e2;
  dbfork__hello h, h2;
  const uint8_t *bytes;
  uint32_t task;
  size_t n;

  if (dbfork__taskbody_decode(f->payload, f->len, &task, &bytes, &n) == 0) {
    if (f->len < DBFORK__TASKBODY_FIXED || bytes != f->payload + DBFORK__TASKBODY_FIXED ||
        n != f->len - DBFORK__TASKBODY_FIXED)
      fail("task body bounds");
    dbfork__taskbody_prefix(out, task);
    if (memcmp(out, f->payload, DBFORK__TASKBODY_FIXED) != 0) fail("task body round trip");
  } else if (f->len >= DBFORK__TASKBODY_FIXED) {
    fail("task body refused");
  }

  if (dbfork__errbody_decode(f->payload, f->len, &e) == 0) {
    if (e.status >= 0) fail("error body decoded with status >= 0");
    if (e.msglen > DBFORK__MSG_MSG_MAX) fail("error body message over the limit");
    if (f->len != DBFORK__ERRBODY_FIXED + (size_t)e.msglen) fail("error body length mismatch");
    if (strlen(e.sqlstate) > 5) fail("sqlstate not terminated");
    n = dbfork__errbody_encode(out, sizeof out, &e);
    if (n != dbfork__errbody_size(&e) || n != f->len) fail("error body re-encode length");
    if (dbfork__errbody_decode(out, n, &e2) != 0) fail("re-encoded error body does not decode");
    if (e2.status != e.status || e2.mysql_errno != e.mysql_errno || e2.msglen != e.msglen ||
        strcmp(e2.sqlstate, e.sqlstate) != 0 || memcmp(e2.msg, e.msg, e.msglen) != 0)
      fail("error body round trip");
  }
  if (dbfork__hello_decode(f->payload, f->len, &h) == 0) {
    if (f->len != DBFORK__HELLO_LEN || h.pid == 0 || h.slot < 0) fail("hello accepted");
    dbfork__hello_encode(out, &h);
    if (memcmp(out, f->payload, DBFORK__HELLO_LEN) != 0) fail("hello round trip");
    if (dbfork__hello_decode(out, DBFORK__HELLO_LEN, &h2) != 0 || h2.pid != h.pid ||
        h2.slot != h.slot || h2.connection_id != h.connection_id)
      fail("hello re-decode");
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t off = 0;
  while (off < size) {
    dbfork__frame f;
    uint8_t hdr[DBFORK__HDR_LEN];
    ssize_t rc = dbfork__frame_parse(data + off, size - off, FUZZ_MAX_PAYLOAD, &f);
    if (rc == DBFORK__PROTO_INCOMPLETE || rc == DBFORK__PROTO_INVALID) break;
    if (rc < DBFORK__HDR_LEN || (size_t)rc > size - off) fail("parse consumed a bad length");
    if ((size_t)rc != DBFORK__HDR_LEN + (size_t)f.len || f.len > FUZZ_MAX_PAYLOAD)
      fail("frame length");
    if (f.type == 0 || f.type > DBFORK__MSG_TYPE_MAX || f.flags != 0) fail("bad header accepted");
    if (f.payload != data + off + DBFORK__HDR_LEN) fail("payload pointer");
    /* The header re-encodes to the same bytes. */
    dbfork__frame_header(hdr, f.type, f.arg, f.id, f.len);
    if (memcmp(hdr, data + off, DBFORK__HDR_LEN) != 0) fail("header round trip");
    check_body(&f);
    off += (size_t)rc;
  }
  return 0;
}
