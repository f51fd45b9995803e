/*
 * test_proto.c — the parent<->worker wire codec (src/proto.c), without
 * processes: round trips, truncation at every length, invalid frames and
 * bodies, and a few hundred thousand random buffers.
 *
 * Buffers under test end exactly at a PROT_NONE guard page, so any read past
 * the end crashes the test even without AddressSanitizer.
 */
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../src/proto.h"
#include "testutil.h"

#define MAXP 4096 /* max_payload used by these tests */

/* ---------------------------------------------------------------------------
 * Guarded buffers: guarded(n) returns n writable bytes followed immediately
 * by an unreadable page. One mapping, reused.
 * ------------------------------------------------------------------------- */
static uint8_t *guard_base;
static size_t guard_span;

static uint8_t *guarded(size_t n) {
  if (!guard_base) {
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    guard_span = ((2 * MAXP + 64) / pg + 1) * pg;
    guard_base =
        mmap(NULL, guard_span + pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(guard_base != MAP_FAILED);
    CHECK(mprotect(guard_base + guard_span, pg, PROT_NONE) == 0);
  }
  CHECK(n <= guard_span);
  return guard_base + guard_span - n;
}

/* Copies src[0..n) into a guarded buffer and returns it. */
static const uint8_t *guarded_copy(const void *src, size_t n) {
  uint8_t *b = guarded(n);
  if (n) memmove(b, src, n); /* src may itself be a guarded buffer */
  return b;
}

/* A deterministic PRNG (xorshift64*), so failures reproduce. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 2685821657736338717ull;
}

/* Builds header + payload into out; returns the total length. */
static size_t make_frame(uint8_t *out, uint8_t type, uint16_t arg, uint64_t id, const void *payload,
                         uint32_t len) {
  dbfork__frame_header(out, type, arg, id, len);
  if (len) memcpy(out + DBFORK__HDR_LEN, payload, len);
  return DBFORK__HDR_LEN + (size_t)len;
}

/* ---------------------------------------------------------------------------
 * Frames.
 * ------------------------------------------------------------------------- */
TEST(header_round_trips_every_type_and_field) {
  static const uint64_t ids[] = {0, 1, 0x0102030405060708ull, UINT64_MAX};
  static const uint16_t args[] = {0, 1, 0x1234, UINT16_MAX};
  static const uint32_t lens[] = {0, 1, 15, 16, 17, 1000, MAXP};
  static uint8_t payload[MAXP], buf[DBFORK__HDR_LEN + MAXP];
  size_t i, a, l;
  uint8_t type;
  for (i = 0; i < sizeof payload; i++) payload[i] = (uint8_t)(i * 31 + 7);

  for (type = 1; type <= DBFORK__MSG_TYPE_MAX; type++)
    for (i = 0; i < sizeof ids / sizeof ids[0]; i++)
      for (a = 0; a < sizeof args / sizeof args[0]; a++)
        for (l = 0; l < sizeof lens / sizeof lens[0]; l++) {
          dbfork__frame f;
          size_t n = make_frame(buf, type, args[a], ids[i], payload, lens[l]);
          const uint8_t *g = guarded_copy(buf, n);
          ssize_t rc = dbfork__frame_parse(g, n, MAXP, &f);
          CHECK_EQ_INT(rc, (long long)n);
          CHECK_EQ_INT(f.type, type);
          CHECK_EQ_INT(f.flags, 0);
          CHECK_EQ_INT(f.arg, args[a]);
          CHECK(f.id == ids[i]);
          CHECK_EQ_INT(f.len, lens[l]);
          CHECK(f.payload == g + DBFORK__HDR_LEN);
          CHECK(memcmp(f.payload, payload, lens[l]) == 0);
        }
}

TEST(header_is_little_endian_on_the_wire) {
  uint8_t h[DBFORK__HDR_LEN];
  static const uint8_t want[DBFORK__HDR_LEN] = {0x04, 0x03, 0x02, 0x01, 2,    0,    0x06, 0x05,
                                                0x0e, 0x0d, 0x0c, 0x0b, 0x0a, 0x09, 0x08, 0x07};
  dbfork__frame_header(h, 2, 0x0506, 0x0708090a0b0c0d0eull, 0x01020304);
  CHECK(memcmp(h, want, sizeof want) == 0);
}

TEST(parse_consumes_exactly_one_frame_of_a_stream) {
  uint8_t buf[256], p1[5] = {1, 2, 3, 4, 5}, p2[3] = {9, 8, 7};
  size_t n1 = make_frame(buf, DBFORK__MSG_TASK, 1, 42, p1, sizeof p1);
  size_t n2 = make_frame(buf + n1, DBFORK__MSG_RESULT, 2, 43, p2, sizeof p2);
  const uint8_t *g = guarded_copy(buf, n1 + n2);
  dbfork__frame f;
  CHECK_EQ_INT(dbfork__frame_parse(g, n1 + n2, MAXP, &f), n1);
  CHECK_EQ_INT(f.id, 42);
  CHECK_EQ_INT(dbfork__frame_parse(g + n1, n2, MAXP, &f), n2);
  CHECK_EQ_INT(f.id, 43);
  CHECK_EQ_INT(f.type, DBFORK__MSG_RESULT);
  CHECK(memcmp(f.payload, p2, sizeof p2) == 0);
}

TEST(truncated_frame_is_incomplete_at_every_length) {
  static uint8_t payload[300], buf[DBFORK__HDR_LEN + 300];
  static const uint32_t lens[] = {0, 1, 16, 300};
  size_t i, k;
  for (i = 0; i < sizeof payload; i++) payload[i] = (uint8_t)rnd();
  for (i = 0; i < sizeof lens / sizeof lens[0]; i++) {
    size_t n = make_frame(buf, DBFORK__MSG_ERROR, 3, 99, payload, lens[i]);
    for (k = 0; k < n; k++) {
      dbfork__frame f;
      const uint8_t *g = guarded_copy(buf, k);
      ssize_t rc = dbfork__frame_parse(g, k, MAXP, &f);
      if (rc != DBFORK__PROTO_INCOMPLETE)
        FAIL("frame of %zu bytes cut to %zu: got %zd, want INCOMPLETE", n, k, rc);
    }
  }
  /* Zero bytes at a NULL pointer, too. */
  {
    dbfork__frame f;
    CHECK_EQ_INT(dbfork__frame_parse(NULL, 0, MAXP, &f), DBFORK__PROTO_INCOMPLETE);
  }
}

static ssize_t parse_header(uint32_t len, uint8_t type, uint8_t flags, size_t max) {
  uint8_t h[DBFORK__HDR_LEN];
  dbfork__frame f;
  dbfork__frame_header(h, type, 0, 1, len);
  h[5] = flags;
  /* Only the header: an invalid one must be rejected without waiting for the payload. */
  return dbfork__frame_parse(guarded_copy(h, sizeof h), sizeof h, max, &f);
}

TEST(invalid_header_is_rejected_at_once) {
  unsigned v;
  CHECK_EQ_INT(parse_header(0, 0, 0, MAXP), DBFORK__PROTO_INVALID);
  for (v = DBFORK__MSG_TYPE_MAX + 1; v <= 255; v++)
    CHECK_EQ_INT(parse_header(0, (uint8_t)v, 0, MAXP), DBFORK__PROTO_INVALID);
  for (v = 1; v <= 255; v++)
    CHECK_EQ_INT(parse_header(0, DBFORK__MSG_TASK, (uint8_t)v, MAXP), DBFORK__PROTO_INVALID);
  CHECK_EQ_INT(parse_header(MAXP + 1, DBFORK__MSG_TASK, 0, MAXP), DBFORK__PROTO_INVALID);
  CHECK_EQ_INT(parse_header(UINT32_MAX, DBFORK__MSG_TASK, 0, MAXP), DBFORK__PROTO_INVALID);
  CHECK_EQ_INT(parse_header(1, DBFORK__MSG_STOP, 0, 0), DBFORK__PROTO_INVALID);
  /* At the limit: valid, just waiting for the payload. */
  CHECK_EQ_INT(parse_header(MAXP, DBFORK__MSG_TASK, 0, MAXP), DBFORK__PROTO_INCOMPLETE);
  CHECK_EQ_INT(parse_header(0, DBFORK__MSG_STOP, 0, 0), DBFORK__HDR_LEN);
}

/* ---------------------------------------------------------------------------
 * Error bodies.
 * ------------------------------------------------------------------------- */
static void errbody_round_trip(int32_t status, uint32_t my_errno, const char *state,
                               const char *msg, uint16_t msglen) {
  static uint8_t buf[DBFORK__ERRBODY_FIXED + DBFORK__MSG_MSG_MAX + 64];
  dbfork__errbody e, d;
  size_t want_len = msglen > DBFORK__MSG_MSG_MAX ? DBFORK__MSG_MSG_MAX : msglen, n;
  const uint8_t *g;
  memset(&e, 0, sizeof e);
  e.status = status;
  e.mysql_errno = my_errno;
  snprintf(e.sqlstate, sizeof e.sqlstate, "%s", state);
  e.msg = msg;
  e.msglen = msglen;

  CHECK_EQ_INT(dbfork__errbody_size(&e), DBFORK__ERRBODY_FIXED + want_len);
  n = dbfork__errbody_encode(buf, sizeof buf, &e);
  CHECK_EQ_INT(n, DBFORK__ERRBODY_FIXED + want_len);
  /* One byte short of room: nothing is written, 0 returned. */
  CHECK_EQ_INT(dbfork__errbody_encode(buf, n - 1, &e), 0);

  g = guarded_copy(buf, n);
  memset(&d, 0x55, sizeof d);
  CHECK_EQ_INT(dbfork__errbody_decode(g, n, &d), 0);
  CHECK_EQ_INT(d.status, status);
  CHECK_EQ_INT(d.mysql_errno, my_errno);
  CHECK_EQ_STR(d.sqlstate, state);
  CHECK_EQ_INT(d.msglen, want_len);
  CHECK(d.msg == (const char *)g + DBFORK__ERRBODY_FIXED);
  CHECK(want_len == 0 || memcmp(d.msg, msg, want_len) == 0);
}

TEST(error_body_round_trips) {
  static char longmsg[DBFORK__MSG_MSG_MAX + 100];
  memset(longmsg, 'x', sizeof longmsg);
  errbody_round_trip(DBFORK_ESQL, 1213, "40001", "Deadlock found", 14);
  errbody_round_trip(DBFORK_ETASK, 0, "", "", 0);
  errbody_round_trip(DBFORK_ECONNLOST, 2013, "HY0", "lost", 4);
  errbody_round_trip(INT32_MIN, UINT32_MAX, "ZZZZZ", longmsg, DBFORK__MSG_MSG_MAX);
  /* Longer than the limit: truncated to DBFORK__MSG_MSG_MAX, still decodes. */
  errbody_round_trip(-1, 1, "HY000", longmsg, DBFORK__MSG_MSG_MAX + 100);
}

TEST(error_body_with_bad_fields_is_invalid) {
  uint8_t buf[DBFORK__ERRBODY_FIXED + 64];
  dbfork__errbody e = {DBFORK_ESQL, 1062, "23000", "dup", 3}, d;
  size_t n = dbfork__errbody_encode(buf, sizeof buf, &e), k;

  /* Too short, at every length: never a read past the end. */
  for (k = 0; k < n; k++)
    CHECK_EQ_INT(dbfork__errbody_decode(guarded_copy(buf, k), k, &d), DBFORK__PROTO_INVALID);
  /* Trailing bytes: msglen disagrees with the body length. */
  buf[n] = 'z';
  CHECK_EQ_INT(dbfork__errbody_decode(guarded_copy(buf, n + 1), n + 1, &d), DBFORK__PROTO_INVALID);
  /* msglen larger than what follows. */
  buf[13] = 200;
  CHECK_EQ_INT(dbfork__errbody_decode(guarded_copy(buf, n), n, &d), DBFORK__PROTO_INVALID);
  buf[13] = 3;
  CHECK_EQ_INT(dbfork__errbody_decode(guarded_copy(buf, n), n, &d), 0);

  /* A "failure" with status >= 0 is a lie. */
  e.status = 0;
  n = dbfork__errbody_encode(buf, sizeof buf, &e);
  CHECK_EQ_INT(dbfork__errbody_decode(guarded_copy(buf, n), n, &d), DBFORK__PROTO_INVALID);
  e.status = 7;
  n = dbfork__errbody_encode(buf, sizeof buf, &e);
  CHECK_EQ_INT(dbfork__errbody_decode(guarded_copy(buf, n), n, &d), DBFORK__PROTO_INVALID);

  /* msglen over the limit, even with the bytes present. */
  {
    static uint8_t big[DBFORK__ERRBODY_FIXED + DBFORK__MSG_MSG_MAX + 1];
    uint16_t over = DBFORK__MSG_MSG_MAX + 1;
    memset(big, 'm', sizeof big);
    e.status = DBFORK_ESQL;
    dbfork__errbody_encode(big, sizeof big, &e);
    big[13] = (uint8_t)over;
    big[14] = (uint8_t)(over >> 8);
    CHECK_EQ_INT(dbfork__errbody_decode(guarded_copy(big, sizeof big), sizeof big, &d),
                 DBFORK__PROTO_INVALID);
  }
}

/* ---------------------------------------------------------------------------
 * Hello bodies.
 * ------------------------------------------------------------------------- */
TEST(hello_body_round_trips) {
  static const dbfork__hello cases[] = {
      {1, 0, 0}, {4194304, 7, 123456789}, {UINT32_MAX, INT32_MAX, UINT64_MAX}};
  size_t i;
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint8_t buf[DBFORK__HELLO_LEN];
    dbfork__hello h;
    dbfork__hello_encode(buf, &cases[i]);
    CHECK_EQ_INT(dbfork__hello_decode(guarded_copy(buf, sizeof buf), sizeof buf, &h), 0);
    CHECK(h.pid == cases[i].pid);
    CHECK(h.slot == cases[i].slot);
    CHECK(h.connection_id == cases[i].connection_id);
  }
}

TEST(hello_body_with_bad_fields_is_invalid) {
  uint8_t buf[DBFORK__HELLO_LEN + 1] = {0};
  dbfork__hello h = {1234, 1, 99}, d;
  size_t k;
  dbfork__hello_encode(buf, &h);
  for (k = 0; k <= DBFORK__HELLO_LEN + 1; k++) {
    if (k == DBFORK__HELLO_LEN) continue;
    CHECK_EQ_INT(dbfork__hello_decode(guarded_copy(buf, k), k, &d), DBFORK__PROTO_INVALID);
  }
  h.pid = 0;
  dbfork__hello_encode(buf, &h);
  CHECK_EQ_INT(dbfork__hello_decode(buf, DBFORK__HELLO_LEN, &d), DBFORK__PROTO_INVALID);
  h.pid = 1;
  h.slot = -1;
  dbfork__hello_encode(buf, &h);
  CHECK_EQ_INT(dbfork__hello_decode(buf, DBFORK__HELLO_LEN, &d), DBFORK__PROTO_INVALID);
}

/* A task body carries the task's index in the pool's table (never a
 * pointer), then the payload, which may be empty. */
TEST(task_body_round_trips_index_and_payload) {
  static const uint32_t indexes[] = {0, 1, 65535, UINT32_MAX};
  uint8_t buf[DBFORK__TASKBODY_FIXED + 5];
  size_t i;
  for (i = 0; i < sizeof indexes / sizeof indexes[0]; i++) {
    const uint8_t *bytes, *in;
    uint32_t task;
    size_t n;
    dbfork__taskbody_prefix(buf, indexes[i]);
    memcpy(buf + DBFORK__TASKBODY_FIXED, "hello", 5);
    in = guarded_copy(buf, sizeof buf);
    CHECK_EQ_INT(dbfork__taskbody_decode(in, sizeof buf, &task, &bytes, &n), 0);
    CHECK(task == indexes[i]);
    CHECK(bytes == in + DBFORK__TASKBODY_FIXED);
    CHECK_EQ_INT(n, 5);
    CHECK(memcmp(bytes, "hello", 5) == 0);
    in = guarded_copy(buf, DBFORK__TASKBODY_FIXED);
    CHECK_EQ_INT(dbfork__taskbody_decode(in, DBFORK__TASKBODY_FIXED, &task, &bytes, &n), 0);
    CHECK_EQ_INT(n, 0);
  }
  CHECK(buf[0] == 0xff && buf[3] == 0xff); /* little-endian, as every field */
}

TEST(task_body_shorter_than_its_index_is_invalid) {
  uint8_t buf[DBFORK__TASKBODY_FIXED] = {1, 0, 0, 0};
  const uint8_t *bytes;
  uint32_t task;
  size_t n, k;
  for (k = 0; k < DBFORK__TASKBODY_FIXED; k++)
    CHECK_EQ_INT(dbfork__taskbody_decode(guarded_copy(buf, k), k, &task, &bytes, &n),
                 DBFORK__PROTO_INVALID);
}

/* ---------------------------------------------------------------------------
 * Garbage.
 * ------------------------------------------------------------------------- */
TEST(random_garbage_never_crashes_or_overreads) {
  static uint8_t buf[DBFORK__HDR_LEN + 256];
  long iter, frames = 0, invalid = 0, incomplete = 0;
  rng_state = 0x243F6A8885A308D3ull; /* fixed seed: failures reproduce */
  for (iter = 0; iter < 300000; iter++) {
    size_t n = (size_t)(rnd() % sizeof buf), i, max = (size_t)(rnd() % 300);
    dbfork__frame f;
    const uint8_t *g;
    ssize_t rc;
    for (i = 0; i < n; i++) buf[i] = (uint8_t)rnd();
    /* Half the time, a plausible header, so the body decoders get exercised. */
    if ((iter & 1) && n >= DBFORK__HDR_LEN) {
      uint32_t len = (uint32_t)(rnd() % (n - DBFORK__HDR_LEN + 1));
      dbfork__frame_header(buf, (uint8_t)(1 + rnd() % DBFORK__MSG_TYPE_MAX), (uint16_t)rnd(), rnd(),
                           len);
      max = 256;
    }
    g = guarded_copy(buf, n);
    rc = dbfork__frame_parse(g, n, max, &f);
    if (rc == DBFORK__PROTO_INVALID) {
      invalid++;
      continue;
    }
    if (rc == DBFORK__PROTO_INCOMPLETE) {
      incomplete++;
      continue;
    }
    CHECK(rc >= DBFORK__HDR_LEN && (size_t)rc <= n);
    CHECK_EQ_INT(rc, DBFORK__HDR_LEN + f.len);
    CHECK(f.len <= max);
    CHECK(f.type >= 1 && f.type <= DBFORK__MSG_TYPE_MAX && f.flags == 0);
    frames++;
    {
      /* Decode the body as every body type, from a buffer ending at the guard. */
      const uint8_t *body = guarded_copy(f.payload, f.len);
      dbfork__errbody e;
      dbfork__hello h;
      if (dbfork__errbody_decode(body, f.len, &e) == 0) {
        CHECK(e.status < 0);
        CHECK(e.msglen <= DBFORK__MSG_MSG_MAX);
        CHECK_EQ_INT(f.len, DBFORK__ERRBODY_FIXED + e.msglen);
        CHECK(strlen(e.sqlstate) <= 5);
      }
      if (dbfork__hello_decode(body, f.len, &h) == 0) CHECK_EQ_INT(f.len, DBFORK__HELLO_LEN);
    }
  }
  /* The generator must have reached every outcome, or the test proves little. */
  CHECK(frames > 1000);
  CHECK(invalid > 1000);
  CHECK(incomplete > 1000);
}
