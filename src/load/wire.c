/*
 * wire.c — the loader's part and reply codecs (formats in wire.h).
 */
#include "wire.h"

#include <stdlib.h>
#include <string.h>

#define HEAD_SIZE (8 + 8 * 8)

static void put64(unsigned char *o, uint64_t v) {
  int i;
  for (i = 0; i < 8; i++) o[i] = (unsigned char)(v >> (8 * i));
}
static void put32(unsigned char *o, uint32_t v) {
  int i;
  for (i = 0; i < 4; i++) o[i] = (unsigned char)(v >> (8 * i));
}
static uint64_t get64(const unsigned char *s) {
  uint64_t v = 0;
  int i;
  for (i = 7; i >= 0; i--) v = v << 8 | s[i];
  return v;
}
static uint32_t get32(const unsigned char *s) {
  return (uint32_t)s[0] | (uint32_t)s[1] << 8 | (uint32_t)s[2] << 16 | (uint32_t)s[3] << 24;
}

void load_part_encode(const load_part *p, unsigned char out[LOAD_PART_SIZE]) {
  const uint64_t v[8] = {p->chunk,   p->part,         p->offset,     p->length,
                         p->records, p->first_record, p->first_line, p->first_col};
  int i;
  out[0] = LOAD_WIRE_VERSION;
  out[1] = (unsigned char)((p->no_eol ? LOAD_PART_NO_EOL : 0) | (p->retry ? LOAD_PART_RETRY : 0));
  out[2] = out[3] = 0;
  for (i = 0; i < 8; i++) put64(out + 4 + 8 * i, v[i]);
}

int load_part_decode(load_part *p, const void *buf, size_t len) {
  const unsigned char *s = buf;
  if (len != LOAD_PART_SIZE || s[0] != LOAD_WIRE_VERSION ||
      (s[1] & ~(LOAD_PART_NO_EOL | LOAD_PART_RETRY)))
    return -1;
  memset(p, 0, sizeof *p); /* padding too: decoded parts compare with memcmp */
  p->no_eol = s[1] & LOAD_PART_NO_EOL;
  p->retry = (s[1] & LOAD_PART_RETRY) != 0;
  p->chunk = get64(s + 4);
  p->part = get64(s + 12);
  p->offset = get64(s + 20);
  p->length = get64(s + 28);
  p->records = get64(s + 36);
  p->first_record = get64(s + 44);
  p->first_line = get64(s + 52);
  p->first_col = get64(s + 60);
  if (!p->part || p->offset + p->length < p->offset) return -1;
  return 0;
}

int load_reply_open(load_reply_reader *r, load_reply_head *h, const void *buf, size_t len) {
  const unsigned char *s = buf;
  if (!buf || len < HEAD_SIZE || s[0] != LOAD_WIRE_VERSION ||
      (s[1] & ~(LOAD_REPLY_RECOVERED | LOAD_REPLY_ELSEWHERE)))
    return -1;
  h->flags = s[1];
  h->entries = get32(s + 4);
  h->chunk = get64(s + 8);
  h->part = get64(s + 16);
  h->records = get64(s + 24);
  h->loaded = get64(s + 32);
  h->rejected = get64(s + 40);
  h->warnings = get64(s + 48);
  h->first_line = get64(s + 56);
  h->last_line = get64(s + 64);
  r->p = s + HEAD_SIZE;
  r->end = s + len;
  r->left = h->entries;
  return 0;
}

/* Takes n bytes from the reader; NULL if fewer are left. */
static const unsigned char *take(load_reply_reader *r, size_t n) {
  const unsigned char *at = r->p;
  if ((size_t)(r->end - r->p) < n) return NULL;
  r->p += n;
  return at;
}

/* A u32 length and that many bytes. */
static int take_bytes(load_reply_reader *r, const char **p, size_t *n) {
  const unsigned char *s = take(r, 4);
  if (!s) return -1;
  *n = get32(s);
  if (!(s = take(r, *n))) return -1;
  *p = (const char *)s;
  return 0;
}

int load_reply_next(load_reply_reader *r, load_entry *e) {
  const unsigned char *s;
  if (!r->left) return r->p == r->end ? 0 : -1;
  memset(e, 0, sizeof *e);
  if (!(s = take(r, 1))) return -1;
  e->kind = s[0];
  if (e->kind == LOAD_ENTRY_REJECT) {
    if (!(s = take(r, 48))) return -1;
    e->line = get64(s);
    e->error_line = get64(s + 8);
    e->column = get64(s + 16);
    e->field = get64(s + 24);
    e->offset = get64(s + 32);
    e->error_offset = get64(s + 40);
    if (take_bytes(r, &e->text, &e->text_len) || take_bytes(r, &e->raw, &e->raw_len) ||
        take_bytes(r, &e->column_name, &e->column_name_len) ||
        take_bytes(r, &e->value, &e->value_len))
      return -1;
  } else if (e->kind == LOAD_ENTRY_WARNING) {
    if (!(s = take(r, 12))) return -1;
    e->line = get64(s);
    e->text_len = get32(s + 8);
    if (!(s = take(r, e->text_len))) return -1;
    e->text = (const char *)s;
  } else {
    return -1;
  }
  r->left--;
  return 1;
}

static unsigned char *room(load_reply_writer *w, size_t n) {
  if (w->oom) return NULL;
  if (w->len + n > w->cap) {
    size_t cap = w->cap ? w->cap : 4096;
    unsigned char *np;
    while (cap < w->len + n) cap *= 2;
    np = realloc(w->p, cap);
    if (!np) {
      w->oom = 1;
      return NULL;
    }
    w->p = np;
    w->cap = cap;
  }
  w->len += n;
  return w->p + w->len - n;
}

void load_reply_begin(load_reply_writer *w) {
  w->len = 0;
  w->entries = 0;
  w->oom = 0;
  room(w, HEAD_SIZE);
}

/* Text and raw bytes longer than 4 GiB cannot occur (a record is at most
 * one chunk, 1 GiB); they are cut rather than mis-framed. */
static uint32_t cap32(size_t n) { return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n; }

/* Writes a u32 length and the bytes at o; returns the bytes written. */
static size_t put_bytes(unsigned char *o, const char *p, uint32_t n) {
  put32(o, n);
  if (n) memcpy(o + 4, p, n);
  return 4 + (size_t)n;
}

void load_reply_reject(load_reply_writer *w, const load_entry *e) {
  uint32_t tl = cap32(e->text_len), rl = cap32(e->raw_len), cl = cap32(e->column_name_len),
           vl = cap32(e->value_len);
  unsigned char *o = room(w, 1 + 48 + 16 + (size_t)tl + rl + cl + vl);
  const uint64_t v[6] = {e->line, e->error_line, e->column, e->field, e->offset, e->error_offset};
  int i;
  if (!o) return;
  *o++ = LOAD_ENTRY_REJECT;
  for (i = 0; i < 6; i++, o += 8) put64(o, v[i]);
  o += put_bytes(o, e->text, tl);
  o += put_bytes(o, e->raw, rl);
  o += put_bytes(o, e->column_name, cl);
  put_bytes(o, e->value, vl);
  w->entries++;
}

void load_reply_warning(load_reply_writer *w, uint64_t line, const char *msg, size_t len) {
  uint32_t tl = cap32(len);
  unsigned char *o = room(w, 1 + 12 + tl);
  if (!o) return;
  o[0] = LOAD_ENTRY_WARNING;
  put64(o + 1, line);
  put32(o + 9, tl);
  if (tl) memcpy(o + 13, msg, tl);
  w->entries++;
}

int load_reply_finish(load_reply_writer *w, const load_reply_head *h) {
  unsigned char *o = w->p;
  const uint64_t v[8] = {h->chunk,    h->part,     h->records,    h->loaded,
                         h->rejected, h->warnings, h->first_line, h->last_line};
  int i;
  if (w->oom || !o || w->len < HEAD_SIZE) return -1;
  o[0] = LOAD_WIRE_VERSION;
  o[1] = (unsigned char)(h->flags & (LOAD_REPLY_RECOVERED | LOAD_REPLY_ELSEWHERE));
  o[2] = o[3] = 0;
  put32(o + 4, w->entries);
  for (i = 0; i < 8; i++) put64(o + 8 + 8 * i, v[i]);
  return 0;
}

void load_reply_free(load_reply_writer *w) {
  free(w->p);
  w->p = NULL;
  w->len = w->cap = 0;
}
