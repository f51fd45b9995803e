/*
 * proto.c — the parent<->worker frame codec (format in proto.h).
 *
 * Pure functions over caller buffers: no allocation, no I/O, no globals, so
 * the same code runs in the parent, the worker, the unit tests and the fuzzer.
 */
#include "proto.h"

#include <string.h>

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32); }
static void wr16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}
static void wr32(uint8_t *p, uint32_t v) {
  wr16(p, (uint16_t)v);
  wr16(p + 2, (uint16_t)(v >> 16));
}
static void wr64(uint8_t *p, uint64_t v) {
  wr32(p, (uint32_t)v);
  wr32(p + 4, (uint32_t)(v >> 32));
}

ssize_t dbfork__frame_parse(const void *buf, size_t len, size_t max_payload, dbfork__frame *f) {
  const uint8_t *b = buf;
  if (len < DBFORK__HDR_LEN) return DBFORK__PROTO_INCOMPLETE;
  f->len = rd32(b);
  f->type = b[4];
  f->flags = b[5];
  f->arg = rd16(b + 6);
  f->id = rd64(b + 8);
  /* Reject what can never become valid before waiting for more bytes, so a
   * garbage header is an error at once rather than a stall. */
  if (f->type == 0 || f->type > DBFORK__MSG_TYPE_MAX || f->flags != 0) return DBFORK__PROTO_INVALID;
  if ((size_t)f->len > max_payload) return DBFORK__PROTO_INVALID;
  if (len - DBFORK__HDR_LEN < (size_t)f->len) return DBFORK__PROTO_INCOMPLETE;
  f->payload = b + DBFORK__HDR_LEN;
  return (ssize_t)(DBFORK__HDR_LEN + (size_t)f->len);
}

void dbfork__frame_header(uint8_t out[DBFORK__HDR_LEN], uint8_t type, uint16_t arg, uint64_t id,
                          uint32_t len) {
  wr32(out, len);
  out[4] = type;
  out[5] = 0;
  wr16(out + 6, arg);
  wr64(out + 8, id);
}

size_t dbfork__errbody_size(const dbfork__errbody *e) {
  size_t n = e->msglen > DBFORK__MSG_MSG_MAX ? DBFORK__MSG_MSG_MAX : e->msglen;
  return DBFORK__ERRBODY_FIXED + n;
}

size_t dbfork__errbody_encode(uint8_t *out, size_t cap, const dbfork__errbody *e) {
  size_t n = e->msglen > DBFORK__MSG_MSG_MAX ? DBFORK__MSG_MSG_MAX : e->msglen;
  size_t i;
  if (cap < DBFORK__ERRBODY_FIXED + n) return 0;
  wr32(out, (uint32_t)e->status);
  wr32(out + 4, e->mysql_errno);
  for (i = 0; i < 5; i++) out[8 + i] = (uint8_t)e->sqlstate[i];
  /* sqlstate is NUL padded: stop copying at its end. */
  for (i = 0; i < 5 && e->sqlstate[i]; i++) {
  }
  for (; i < 5; i++) out[8 + i] = 0;
  wr16(out + 13, (uint16_t)n);
  if (n) memcpy(out + DBFORK__ERRBODY_FIXED, e->msg, n);
  return DBFORK__ERRBODY_FIXED + n;
}

int dbfork__errbody_decode(const uint8_t *p, size_t len, dbfork__errbody *e) {
  size_t i;
  if (len < DBFORK__ERRBODY_FIXED) return DBFORK__PROTO_INVALID;
  e->status = (int32_t)rd32(p);
  e->mysql_errno = rd32(p + 4);
  for (i = 0; i < 5; i++) e->sqlstate[i] = (char)p[8 + i];
  e->sqlstate[5] = 0;
  e->msglen = rd16(p + 13);
  if (e->msglen > DBFORK__MSG_MSG_MAX || len != DBFORK__ERRBODY_FIXED + (size_t)e->msglen)
    return DBFORK__PROTO_INVALID;
  e->msg = (const char *)p + DBFORK__ERRBODY_FIXED;
  /* A failure must be a failure: status 0 in an error body is a lie. */
  if (e->status >= 0) return DBFORK__PROTO_INVALID;
  return 0;
}

void dbfork__hello_encode(uint8_t out[DBFORK__HELLO_LEN], const dbfork__hello *h) {
  wr32(out, h->pid);
  wr32(out + 4, (uint32_t)h->slot);
  wr64(out + 8, h->connection_id);
}

int dbfork__hello_decode(const uint8_t *p, size_t len, dbfork__hello *h) {
  if (len != DBFORK__HELLO_LEN) return DBFORK__PROTO_INVALID;
  h->pid = rd32(p);
  h->slot = (int32_t)rd32(p + 4);
  h->connection_id = rd64(p + 8);
  if (h->pid == 0 || h->slot < 0) return DBFORK__PROTO_INVALID;
  return 0;
}

void dbfork__taskbody_prefix(uint8_t out[DBFORK__TASKBODY_FIXED], uint32_t task) {
  wr32(out, task);
}

int dbfork__taskbody_decode(const uint8_t *p, size_t len, uint32_t *task, const uint8_t **bytes,
                            size_t *n) {
  if (len < DBFORK__TASKBODY_FIXED) return DBFORK__PROTO_INVALID;
  *task = rd32(p);
  *bytes = p + DBFORK__TASKBODY_FIXED;
  *n = len - DBFORK__TASKBODY_FIXED;
  return 0;
}
