/*
 * exec_wire.c — the chunk and reply codecs of exec_wire.h: pure functions over the
 * caller's buffers.
 */
#include "exec_wire.h"

#include <string.h>

static void put64(unsigned char *p, uint64_t v) {
  int i;
  for (i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint64_t get64(const unsigned char *p) {
  uint64_t v = 0;
  int i;
  for (i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}
static void put32(unsigned char *p, uint32_t v) {
  int i;
  for (i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

size_t exec_chunk_size(const exec_chunk_msg *m) {
  return 4 + 16 + 12 + m->cond_len + m->from_len + m->to_len;
}

size_t exec_chunk_encode(const exec_chunk_msg *m, unsigned char *out, size_t cap) {
  size_t n = exec_chunk_size(m), at = 20, i;
  const char *s[3] = {m->cond, m->key_from, m->key_to};
  size_t l[3] = {m->cond_len, m->from_len, m->to_len};
  if (n > cap || l[0] > UINT32_MAX || l[1] > UINT32_MAX || l[2] > UINT32_MAX) return 0;
  memset(out, 0, 4);
  out[0] = EXEC_WIRE_VERSION;
  put64(out + 4, m->chunk);
  put64(out + 12, m->rows_planned);
  for (i = 0; i < 3; i++) {
    put32(out + at, (uint32_t)l[i]);
    at += 4;
    if (l[i]) memcpy(out + at, s[i], l[i]);
    at += l[i];
  }
  return n;
}

int exec_chunk_decode(exec_chunk_msg *m, const void *buf, size_t len) {
  const unsigned char *p = buf;
  const char **s[3];
  size_t *l[3], at = 20, i;
  if (!p || len < 32 || p[0] != EXEC_WIRE_VERSION) return -1;
  memset(m, 0, sizeof *m);
  s[0] = &m->cond, s[1] = &m->key_from, s[2] = &m->key_to;
  l[0] = &m->cond_len, l[1] = &m->from_len, l[2] = &m->to_len;
  m->chunk = get64(p + 4);
  m->rows_planned = get64(p + 12);
  for (i = 0; i < 3; i++) {
    uint32_t n;
    if (len - at < 4) return -1;
    n = get32(p + at);
    at += 4;
    if (n > len - at) return -1;
    *s[i] = (const char *)p + at;
    *l[i] = n;
    at += n;
  }
  return at == len ? 0 : -1;
}

void exec_reply_encode(const exec_reply *r, unsigned char out[EXEC_REPLY_SIZE]) {
  memset(out, 0, 4);
  out[0] = EXEC_WIRE_VERSION;
  out[1] = (unsigned char)r->flags;
  put64(out + 4, r->rows_matched);
  put64(out + 12, r->rows_affected);
  put64(out + 20, r->duration_us);
}

int exec_reply_decode(exec_reply *r, const void *buf, size_t len) {
  const unsigned char *p = buf;
  if (!p || len != EXEC_REPLY_SIZE || p[0] != EXEC_WIRE_VERSION ||
      (p[1] & ~(unsigned)(EXEC_REPLY_RECOVERED | EXEC_REPLY_ELSEWHERE)))
    return -1;
  r->flags = p[1];
  r->rows_matched = get64(p + 4);
  r->rows_affected = get64(p + 12);
  r->duration_us = get64(p + 20);
  return 0;
}
