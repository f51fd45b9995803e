/*
 * csv.c — dialects, the streaming record-aligned splitter, and the record
 * parser behind `dbfork load` (contracts in csv.h).
 *
 * The splitter and the parser are written separately on purpose: the
 * splitter is tuned for speed (byte-class tables, memchr inside quotes, a
 * backward check instead of tracking every field separator), the parser for
 * clarity. The tests and the fuzzer check that both find the same record
 * boundaries on every input, which is the property the loader relies on.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memrchr, pread */
#endif
#include "csv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *csv_strerror(int rc) {
  switch (rc) {
    case CSV_OK: return "ok";
    case CSV_END: return "no more records";
    case CSV_EINCOMPLETE: return "record continues past the buffer";
    case CSV_EBADREC: return "malformed record";
    case CSV_ENOSPC: return "buffer too small for a record";
    case CSV_EINVAL: return "invalid argument";
    case CSV_ESTATE: return "splitter already finished";
    default: return rc < 0 && rc > -4096 ? strerror(-rc) : "unknown error";
  }
}

/* ---------------------------------------------------------------- dialect */

static void seterr(char *err, size_t errlen, const char *msg, const char *what) {
  if (err && errlen) snprintf(err, errlen, "%s: %s", what, msg);
}

/* Decodes a MySQL-literal-style option string into out[0, max). Returns the
 * length, or -1 if longer than max. */
static int decode_opt(const char *s, uint8_t *out, size_t max) {
  size_t n = 0;
  for (; *s; s++) {
    int c = (unsigned char)*s;
    if (c == '\\' && s[1]) {
      s++;
      switch (*s) {
        case 'n': c = '\n'; break;
        case 't': c = '\t'; break;
        case 'r': c = '\r'; break;
        case '0': c = 0; break;
        case 'b': c = '\b'; break;
        case 'Z': c = 032; break;
        default: c = (unsigned char)*s; break; /* \\ \' \" and anything else: literal */
      }
    }
    if (n == max) return -1;
    out[n++] = (uint8_t)c;
  }
  return (int)n;
}

static int all_ascii(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i] >= 0x80) return 0;
  return 1;
}

int csv_dialect_parse(csv_dialect *d, const char *fields_terminated, const char *enclosed,
                      const char *escaped, const char *lines_terminated, char *err, size_t errlen) {
  uint8_t b[CSV_TERM_MAX];
  int n;

  if (err && errlen) err[0] = '\0';
  memset(d, 0, sizeof *d);

  n = decode_opt(fields_terminated ? fields_terminated : ",", d->field_term, CSV_TERM_MAX);
  if (n <= 0) {
    seterr(err, errlen, n < 0 ? "longer than 8 bytes" : "must not be empty",
           "fields terminated by");
    return CSV_EINVAL;
  }
  d->field_term_len = (uint8_t)n;

  n = decode_opt(lines_terminated ? lines_terminated : "\\n", d->line_term, CSV_TERM_MAX);
  if (n <= 0) {
    seterr(err, errlen, n < 0 ? "longer than 8 bytes" : "must not be empty", "lines terminated by");
    return CSV_EINVAL;
  }
  d->line_term_len = (uint8_t)n;

  n = decode_opt(enclosed ? enclosed : "\"", b, 1);
  if (n < 0) {
    seterr(err, errlen, "must be one byte or empty", "enclosed by");
    return CSV_EINVAL;
  }
  d->enclosure = n ? b[0] : -1;

  n = decode_opt(escaped ? escaped : "\\\\", b, 1);
  if (n < 0) {
    seterr(err, errlen, "must be one byte or empty", "escaped by");
    return CSV_EINVAL;
  }
  d->escape = n ? b[0] : -1;

  if (!all_ascii(d->field_term, d->field_term_len) || !all_ascii(d->line_term, d->line_term_len) ||
      d->enclosure >= 0x80 || d->escape >= 0x80) {
    seterr(err, errlen, "only ASCII bytes are supported", "terminators, enclosure, escape");
    return CSV_EINVAL;
  }
  if (d->field_term_len == d->line_term_len &&
      memcmp(d->field_term, d->line_term, d->field_term_len) == 0) {
    seterr(err, errlen, "must differ from the line terminator", "fields terminated by");
    return CSV_EINVAL;
  }
  if (d->enclosure >= 0 && (d->enclosure == d->field_term[0] || d->enclosure == d->line_term[0])) {
    seterr(err, errlen, "must not start a terminator", "enclosed by");
    return CSV_EINVAL;
  }
  if (d->escape >= 0 && (d->escape == d->field_term[0] || d->escape == d->line_term[0])) {
    seterr(err, errlen, "must not start a terminator", "escaped by");
    return CSV_EINVAL;
  }
  if (d->line_term_len == 1 && d->line_term[0] == '\n' &&
      !memchr(d->field_term, '\r', d->field_term_len) && d->enclosure != '\r' && d->escape != '\r')
    d->flags |= CSV_F_CRLF;
  if (d->enclosure >= 0) d->flags |= CSV_F_NULL_WORD;
  return 0;
}

void csv_dialect_rfc4180(csv_dialect *d) {
  memset(d, 0, sizeof *d);
  d->field_term[0] = ',';
  d->field_term_len = 1;
  d->line_term[0] = '\n';
  d->line_term_len = 1;
  d->enclosure = '"';
  d->escape = -1;
  d->flags = CSV_F_CRLF | CSV_F_STRICT | CSV_F_NULL_WORD;
}

typedef struct {
  uint64_t end;
} sniff_ud;

static int sniff_cb(void *ud, const csv_chunk *c) {
  ((sniff_ud *)ud)->end = c->off + c->len;
  return 1; /* first record found: stop */
}

int csv_dialect_sniff_eol(csv_dialect *d, const void *buf, size_t len, int eof) {
  csv_splitter s;
  sniff_ud u = {0};
  const uint8_t *b = buf;
  int rc;

  if (!(d->flags & CSV_F_CRLF)) return 0;
  csv_splitter_init(&s, d, 1, 0);
  rc = csv_splitter_feed(&s, buf, len, sniff_cb, &u);
  if (rc == 0 && eof) rc = csv_splitter_finish(&s, sniff_cb, &u);
  if (rc == 0 && !eof) return CSV_EINCOMPLETE;
  d->flags &= ~(unsigned)CSV_F_CRLF;
  if (rc && u.end >= 2 && b[u.end - 1] == '\n' && b[u.end - 2] == '\r') {
    d->line_term[0] = '\r';
    d->line_term[1] = '\n';
    d->line_term_len = 2;
    return 1;
  }
  return 0;
}

/* ------------------------------------------------------------- splitting */

enum { ST_FIELD = 0, ST_UNQ = 1, ST_QUOTED = 2 };

/* Is terminator t[0, n) at p, given `avail` >= 1 bytes there? 1 yes, 0 no,
 * -1 cannot tell yet (all available bytes match a proper prefix, not eof). */
static inline int match(const uint8_t *p, size_t avail, const uint8_t *t, size_t n, int eof) {
  size_t k;
  if (p[0] != t[0]) return 0;
  if (n == 1) return 1;
  k = avail < n ? avail : n;
  if (memcmp(p, t, k) != 0) return 0;
  if (k == n) return 1;
  return eof ? 0 : -1;
}

/* Number of '\n' bytes in p[0, n). */
static uint64_t count_nl(const uint8_t *p, size_t n) { return scan_count_nl(p, n); }

/* Counts newlines up to absolute offset `to`; p holds the bytes from `base`,
 * and nl_off >= base. */
static void count_to(csv_splitter *s, const uint8_t *p, uint64_t base, uint64_t to) {
  if (to <= s->nl_off) return;
  const uint8_t *a = p + (s->nl_off - base);
  size_t n = (size_t)(to - s->nl_off);
  uint64_t k = count_nl(a, n);
  if (k) {
    const uint8_t *last = memrchr(a, '\n', n);
    s->nl += k;
    s->line_start = s->nl_off + (uint64_t)(last - a) + 1;
  }
  s->nl_off = to;
}

static void chunk_start(csv_splitter *s, const uint8_t *p, uint64_t base, uint64_t at) {
  count_to(s, p, base, at);
  s->cur.off = at;
  s->cur.len = 0;
  s->cur.records = 0;
  s->cur.first_record = s->records + 1;
  s->cur.first_line = s->nl + 1;
  s->cur.first_col = at - s->line_start + 1;
  s->cur.no_eol = 0;
}

static int emit(csv_splitter *s, const uint8_t *p, uint64_t base, uint64_t end, csv_chunk_cb cb,
                void *ud) {
  s->cur.len = end - s->cur.off;
  s->cur.index = s->nchunks++;
  int rc = cb(ud, &s->cur);
  if (rc) {
    s->rc = rc;
    return rc;
  }
  chunk_start(s, p, base, end);
  return 0;
}

/* A record ended at absolute offset e. */
static int record_end(csv_splitter *s, const uint8_t *p, uint64_t base, uint64_t e, csv_chunk_cb cb,
                      void *ud) {
  s->records++;
  s->rec_start = e;
  s->field_start = e;
  s->state = ST_FIELD;
  if (s->skip_left) {
    s->skip_left--;
    s->skipped++;
    chunk_start(s, p, base, e);
    return 0;
  }
  s->cur.records++;
  if (e - s->cur.off >= s->chunk_bytes) return emit(s, p, base, e, cb, ud);
  return 0;
}

void csv_splitter_init(csv_splitter *s, const csv_dialect *d, uint64_t chunk_bytes,
                       uint64_t skip_records) {
  memset(s, 0, sizeof *s);
  s->d = *d;
  s->chunk_bytes = chunk_bytes ? chunk_bytes : 1;
  s->skip_left = skip_records;
  s->state = ST_FIELD;
  s->cur.first_record = 1;
  s->cur.first_line = 1;
  s->cur.first_col = 1;
  /* When the escape byte is the enclosure byte it only doubles quotes, which
   * never changes where records end: treat it as no escape here. */
  s->esc = (d->escape >= 0 && d->escape != d->enclosure) ? d->escape : -1;
  /* Fast path: with a one-byte field terminator that is no line-terminator
   * byte, an enclosure byte opens a quoted field iff the byte before it is an
   * unescaped field terminator in the same unquoted stretch (or it is the
   * first byte of a record, which the FIELD state sees). So the unquoted scan
   * never has to stop at field terminators, only at quotes, escapes and line
   * ends. */
  s->fast = d->field_term_len == 1 && !memchr(d->line_term, d->field_term[0], d->line_term_len) &&
            !(d->flags & CSV_F_SLOWPATH);
  {
    int v[3] = {s->esc, d->line_term[0], s->fast ? d->enclosure : d->field_term[0]};
    int q[2] = {d->enclosure, s->esc};
    scan_set_init(&s->set_unq, v, 3);
    if (d->enclosure >= 0) scan_set_init(&s->set_q, q, 2);
  }
}

/*
 * Runs the state machine over p[0, n), whose first byte is at s->off.
 * Returns the number of bytes consumed: all of them, or fewer when a
 * decision needs bytes past n (then !eof and at most 9 bytes are left), or
 * when the callback stopped the splitter (s->rc set).
 */
static size_t run(csv_splitter *s, const uint8_t *p, size_t n, int eof, csv_chunk_cb cb, void *ud) {
  const uint64_t base = s->off;
  const int encl = s->d.enclosure, esc = s->esc;
  const uint8_t *lt = s->d.line_term, *ft = s->d.field_term;
  const size_t ltn = s->d.line_term_len, ftn = s->d.field_term_len;
  const int crlf = (s->d.flags & CSV_F_CRLF) != 0;
  size_t i = 0;
  int m;

  while (i < n) {
    if (s->state == ST_FIELD) {
      if (p[i] == encl) {
        s->state = ST_QUOTED;
        i++;
        continue;
      }
      s->state = ST_UNQ;
      s->field_start = base + i;
    }
    if (s->state == ST_UNQ) {
      i = scan_find(p, i, n, &s->set_unq);
      if (i == n) break;
      int c = p[i];
      if (c == esc) {
        if (i + 1 < n) {
          i += 2;
          s->esc_end = base + i;
        } else if (eof) {
          i++;
        } else {
          break;
        }
        continue;
      }
      if (s->fast && c == encl) {
        uint64_t pos = base + i;
        int before = i ? p[i - 1] : s->prev;
        i++;
        if (pos > s->field_start && pos - 1 >= s->esc_end && before == ft[0]) s->state = ST_QUOTED;
        continue;
      }
      if ((m = match(p + i, n - i, lt, ltn, eof)) < 0) break;
      if (m) {
        i += ltn;
        if (record_end(s, p, base, base + i, cb, ud)) break;
        continue;
      }
      if (!s->fast) {
        if ((m = match(p + i, n - i, ft, ftn, eof)) < 0) break;
        if (m) {
          i += ftn;
          s->state = ST_FIELD;
          continue;
        }
      }
      i++;
      continue;
    }
    /* ST_QUOTED: find the next enclosure (or escape) byte. */
    if (esc < 0) {
      const uint8_t *q = memchr(p + i, encl, n - i);
      if (!q) {
        i = n;
        break;
      }
      i = (size_t)(q - p);
    } else {
      i = scan_find(p, i, n, &s->set_q);
      if (i == n) break;
      if (p[i] == esc) {
        if (i + 1 < n)
          i += 2;
        else if (eof)
          i++;
        else
          break;
        continue;
      }
    }
    /* An enclosure byte inside quotes: doubled, closing, or literal. */
    size_t j = i + 1;
    if (j == n) {
      if (!eof) break;
      i = j; /* closes at end of input */
      s->state = ST_UNQ;
      continue;
    }
    if (p[j] == encl) {
      i = j + 1;
      continue;
    }
    if ((m = match(p + j, n - j, lt, ltn, eof)) < 0) break;
    if (m) {
      i = j + ltn;
      if (record_end(s, p, base, base + i, cb, ud)) break;
      continue;
    }
    if (crlf && p[j] == '\r') {
      if (j + 1 == n) {
        if (!eof) break;
        i = n;
        s->state = ST_UNQ;
        continue;
      }
      if (p[j + 1] == '\n') {
        i = j + 2;
        if (record_end(s, p, base, base + i, cb, ud)) break;
        continue;
      }
    }
    if ((m = match(p + j, n - j, ft, ftn, eof)) < 0) break;
    if (m) {
      i = j + ftn;
      s->state = ST_FIELD;
      continue;
    }
    i = j; /* a literal enclosure byte; still quoted */
  }
  if (i) s->prev = p[i - 1];
  /* Remember the line of the current record's start (for the open-quote
   * report) on the way: the same bytes are counted once either way. */
  if (s->rec_start >= base) {
    count_to(s, p, base, s->rec_start);
    s->rec_nl = s->nl;
  }
  count_to(s, p, base, base + i);
  s->off = base + i;
  return i;
}

static void keep(csv_splitter *s, const uint8_t *p, size_t n) {
  if (n > sizeof s->carry) abort(); /* cannot happen: run() leaves at most 9 bytes */
  memcpy(s->carry, p, n);
  s->carry_len = (uint8_t)n;
}

int csv_splitter_feed(csv_splitter *s, const void *vbuf, size_t len, csv_chunk_cb cb, void *ud) {
  const uint8_t *buf = vbuf;
  size_t pos = 0, used;

  if (s->rc) return s->rc;
  if (s->finished) return CSV_ESTATE;
  if (len == 0) return 0;
  if (s->carry_len) {
    /* Finish the decision pending at the end of the last buffer on a small
     * copy: the carried bytes followed by the head of this one. */
    uint8_t tmp[sizeof s->carry + 64];
    size_t cl = s->carry_len, take = len < 64 ? len : 64, tn = cl + take;
    memcpy(tmp, s->carry, cl);
    memcpy(tmp + cl, buf, take);
    s->carry_len = 0;
    used = run(s, tmp, tn, 0, cb, ud);
    if (s->rc) return s->rc;
    if (used < cl) {
      if (take != len) abort(); /* cannot happen: 64 bytes of lookahead always decide */
      keep(s, tmp + used, tn - used);
      return 0;
    }
    pos = used - cl;
  }
  used = run(s, buf + pos, len - pos, 0, cb, ud);
  if (s->rc) return s->rc;
  keep(s, buf + pos + used, len - pos - used);
  return 0;
}

int csv_splitter_finish(csv_splitter *s, csv_chunk_cb cb, void *ud) {
  if (s->rc) return s->rc;
  if (s->finished) return CSV_ESTATE;
  if (s->carry_len) {
    uint8_t tmp[sizeof s->carry];
    size_t cl = s->carry_len;
    memcpy(tmp, s->carry, cl);
    s->carry_len = 0;
    run(s, tmp, cl, 1, cb, ud);
    if (s->rc) return s->rc;
  }
  s->finished = 1;
  if (s->off > s->rec_start) {
    /* The last record has no line terminator. */
    if (s->state == ST_QUOTED) s->finished = 2; /* remembered for csv_splitter_stats */
    if (!s->skip_left) s->cur.no_eol = 1;
    uint64_t open_at = s->rec_start;
    if (record_end(s, NULL, s->off, s->off, cb, ud)) return s->rc;
    s->rec_start = open_at; /* kept for the open-quote report */
  }
  if (s->cur.records && emit(s, NULL, s->off, s->off, cb, ud)) return s->rc;
  return 0;
}

void csv_splitter_stats(const csv_splitter *s, csv_split_stats *st) {
  memset(st, 0, sizeof *st);
  st->bytes = s->off;
  st->records = s->records;
  st->skipped = s->skipped;
  st->chunks = s->nchunks;
  st->lines = s->nl + (s->off > s->line_start ? 1 : 0);
  if (s->finished == 2) {
    st->open_quote = 1;
    st->open_quote_off = s->rec_start;
    st->open_quote_line = s->rec_nl + 1;
  }
}

int csv_split_fd(int fd, const csv_dialect *d, uint64_t chunk_bytes, uint64_t skip_records,
                 void *buf, size_t buflen, csv_chunk_cb cb, void *ud, csv_split_stats *st) {
  csv_splitter s;
  uint64_t off = 0;
  int rc;

  if (!d || !buf || !buflen || !cb) return CSV_EINVAL;
  (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  csv_splitter_init(&s, d, chunk_bytes, skip_records);
  for (;;) {
    ssize_t r = pread(fd, buf, buflen, (off_t)off);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (r == 0) break;
    off += (uint64_t)r;
    if ((rc = csv_splitter_feed(&s, buf, (size_t)r, cb, ud))) return rc;
  }
  rc = csv_splitter_finish(&s, cb, ud);
  if (st) csv_splitter_stats(&s, st);
  return rc;
}

/* --------------------------------------------------------------- parsing */

static const char *const bad_reason[] = {
    "",
    "unterminated quoted field",
    "quote inside an unquoted field",
    "unexpected character after closing quote",
    "too few fields",
    "too many fields",
    "invalid bytes for the character set",
};

int csv_error_format(const csv_error *e, char *buf, size_t len) {
  if (e->kind == CSV_BAD_TOO_FEW || e->kind == CSV_BAD_TOO_MANY)
    return snprintf(buf, len, "line %llu, column %llu (field %zu): %s (%zu, expected %zu)",
                    (unsigned long long)e->line, (unsigned long long)e->column, e->field, e->reason,
                    e->got, e->expected);
  return snprintf(buf, len, "line %llu, column %llu (field %zu): %s", (unsigned long long)e->line,
                  (unsigned long long)e->column, e->field, e->reason);
}

void csv_parser_init(csv_parser *p, const csv_dialect *d, csv_field *fields, size_t maxfields,
                     char *scratch, size_t scratch_len) {
  memset(p, 0, sizeof *p);
  p->d = d;
  p->fields = fields;
  p->maxfields = maxfields;
  p->scratch = scratch;
  p->scratch_len = scratch_len;
  p->line = p->col = p->record = 1;
  memset(p->plain_unq, 1, sizeof p->plain_unq);
  memset(p->plain_q, 1, sizeof p->plain_q);
  if (!d) return;
  /* Exactly the bytes csv_parse_record's loops test for. */
  if (d->escape >= 0) p->plain_unq[d->escape] = p->plain_q[d->escape] = 0;
  if (d->enclosure >= 0) {
    p->plain_q[d->enclosure] = 0;
    if (d->flags & CSV_F_STRICT) p->plain_unq[d->enclosure] = 0;
  }
  if (d->line_term_len) p->plain_unq[d->line_term[0]] = 0;
  if (d->field_term_len) p->plain_unq[d->field_term[0]] = 0;
  if (d->flags & CSV_F_CRLF) p->plain_unq['\r'] = 0;
  csv__fast_init(p);
}

void csv_parser_seek(csv_parser *p, const csv_chunk *c) {
  p->line = c->first_line;
  p->col = c->first_col;
  p->record = c->first_record;
}

static int unescape(int c, int *found_null) {
  switch (c) {
    case 'n': return '\n';
    case 't': return '\t';
    case 'r': return '\r';
    case 'b': return '\b';
    case '0': return 0;
    case 'Z': return 032;
    case 'N': *found_null = 1; return 'N';
    default: return c;
  }
}

/* Line and column of b[pos], for a record starting at (line, col). */
static void locate(const csv_parser *p, const uint8_t *b, size_t pos, uint64_t *line,
                   uint64_t *col) {
  uint64_t k = count_nl(b, pos);
  *line = p->line + k;
  if (k) {
    const uint8_t *last = memrchr(b, '\n', pos);
    *col = (uint64_t)(pos - (size_t)(last - b));
  } else {
    *col = p->col + pos;
  }
}

int csv_parse_record(csv_parser *p, const void *vbuf, size_t len, int eof, csv_record *rec,
                     csv_error *err) {
  const uint8_t *b = vbuf;
  const csv_dialect *d = p->d;
  const int encl = d->enclosure;
  const int esc_full = d->escape >= 0 && d->escape != encl; /* decoding escape */
  const int esc_dbl = d->escape >= 0 && d->escape == encl;  /* only doubles */
  const int esc = d->escape;
  const int strict = (d->flags & CSV_F_STRICT) != 0, crlf = (d->flags & CSV_F_CRLF) != 0;
  const uint8_t *lt = d->line_term, *ft = d->field_term;
  const size_t ltn = d->line_term_len, ftn = d->field_term_len;
  const size_t limit = p->expect_fields ? p->expect_fields : p->maxfields;
  size_t i = 0, nf = 0, sp = 0, rec_end = 0, content_end = 0;
  int bad = 0, m;
  size_t bad_pos = 0, bad_field = 0;

  if (p->expect_fields > p->maxfields) return CSV_EINVAL;
  if (len == 0) return eof ? CSV_END : CSV_EINCOMPLETE;
  if (p->fast && csv__fast_record(p, b, len, rec)) return CSV_OK;

#define NEED_MORE()                   \
  do {                                \
    if (!eof) return CSV_EINCOMPLETE; \
  } while (0)
#define NOTE_BAD(kind, pos) \
  do {                      \
    if (!bad) {             \
      bad = (kind);         \
      bad_pos = (pos);      \
      bad_field = nf + 1;   \
    }                       \
  } while (0)
    /* Switch the value to scratch (copying what was literal so far), then
     * append one decoded byte. */
#define PUT_DECODED(ch)                                              \
  do {                                                               \
    if (!w) {                                                        \
      if (sp + (i - vstart) + 1 > p->scratch_len) return CSV_ENOSPC; \
      w = p->scratch + sp;                                           \
      memcpy(w, b + vstart, i - vstart);                             \
      wlen = i - vstart;                                             \
    } else if (sp + wlen + 1 > p->scratch_len) {                     \
      return CSV_ENOSPC;                                             \
    }                                                                \
    w[wlen++] = (char)(ch);                                          \
  } while (0)
    /* Append the input byte b[i] as it is. */
#define PUT_LITERAL()                                        \
  do {                                                       \
    if (w) {                                                 \
      if (sp + wlen + 1 > p->scratch_len) return CSV_ENOSPC; \
      w[wlen++] = (char)b[i];                                \
    }                                                        \
  } while (0)

    /* The escape byte at b[i]: decode the pair; a lone escape at the very
     * end of the input stays literal. */
#define TAKE_ESCAPE()                               \
  do {                                              \
    if (i + 1 == len) {                             \
      NEED_MORE();                                  \
      PUT_LITERAL();                                \
      i++;                                          \
    } else {                                        \
      PUT_DECODED(unescape(b[i + 1], &found_null)); \
      i += 2;                                       \
    }                                               \
  } while (0)
    /* Skip (or copy, once decoding started) a run of bytes that mean
     * nothing in this state. */
#define PUT_RUN(plain)                                               \
  do {                                                               \
    size_t s0_ = i;                                                  \
    while (i < len && (plain)[b[i]]) i++;                            \
    if (w) {                                                         \
      if (sp + wlen + (i - s0_) > p->scratch_len) return CSV_ENOSPC; \
      memcpy(w + wlen, b + s0_, i - s0_);                            \
      wlen += i - s0_;                                               \
    }                                                                \
  } while (0)

  for (;;) { /* one field per iteration */
    size_t fstart = i, vstart, vend = 0;
    char *w = NULL;
    size_t wlen = 0;
    int quoted = 0, found_null = 0, last = 0;

    if (nf == limit) NOTE_BAD(CSV_BAD_TOO_MANY, fstart);
    if (i < len && encl >= 0 && b[i] == encl) {
      quoted = 1;
      i++;
    }
    vstart = i;
    if (!quoted) {
      for (;;) {
        if (i == len) {
          NEED_MORE();
          vend = rec_end = content_end = i;
          last = 1;
          break;
        }
        if (p->plain_unq[b[i]]) {
          PUT_RUN(p->plain_unq);
          continue;
        }
        int c = b[i];
        if (esc_full && c == esc) {
          TAKE_ESCAPE();
          continue;
        }
        if (esc_dbl && c == esc) {
          if (i + 1 == len) NEED_MORE();
          if (strict) NOTE_BAD(CSV_BAD_QUOTE, i);
          if (i + 1 < len && b[i + 1] == esc) {
            PUT_DECODED(esc);
            i += 2;
          } else {
            PUT_LITERAL();
            i++;
          }
          continue;
        }
        if ((m = match(b + i, len - i, lt, ltn, eof)) < 0) return CSV_EINCOMPLETE;
        if (m) {
          vend = content_end = i;
          rec_end = i + ltn;
          last = 1;
          break;
        }
        if (crlf && c == '\r') {
          if (i + 1 == len) NEED_MORE();
          if (i + 1 == len || b[i + 1] == '\n') {
            vend = content_end = i;
            rec_end = i + 1 == len ? len : i + 2;
            last = 1;
            break;
          }
        }
        if ((m = match(b + i, len - i, ft, ftn, eof)) < 0) return CSV_EINCOMPLETE;
        if (m) {
          vend = i;
          i += ftn;
          break;
        }
        if (strict && c == encl) NOTE_BAD(CSV_BAD_QUOTE, i);
        PUT_LITERAL();
        i++;
      }
    } else {
      for (;;) {
        if (i == len) {
          NEED_MORE();
          /* Unterminated: the most useful report, whatever came before. */
          bad = CSV_BAD_UNTERMINATED;
          bad_pos = fstart;
          bad_field = nf + 1;
          vend = rec_end = content_end = i;
          last = 1;
          break;
        }
        if (p->plain_q[b[i]]) {
          PUT_RUN(p->plain_q);
          continue;
        }
        int c = b[i];
        if (esc_full && c == esc) {
          TAKE_ESCAPE();
          continue;
        }
        if (c == encl) {
          size_t j = i + 1;
          if (j == len) {
            NEED_MORE();
            vend = i;
            rec_end = content_end = len;
            last = 1;
            break;
          }
          if (b[j] == encl) {
            PUT_DECODED(encl);
            i = j + 1;
            continue;
          }
          if ((m = match(b + j, len - j, lt, ltn, eof)) < 0) return CSV_EINCOMPLETE;
          if (m) {
            vend = i;
            content_end = j;
            rec_end = j + ltn;
            last = 1;
            break;
          }
          if (crlf && b[j] == '\r') {
            if (j + 1 == len) NEED_MORE();
            if (j + 1 == len || b[j + 1] == '\n') {
              vend = i;
              content_end = j;
              rec_end = j + 1 == len ? len : j + 2;
              last = 1;
              break;
            }
          }
          if ((m = match(b + j, len - j, ft, ftn, eof)) < 0) return CSV_EINCOMPLETE;
          if (m) {
            vend = i;
            i = j + ftn;
            break;
          }
          if (strict) NOTE_BAD(CSV_BAD_AFTER_QUOTE, j);
          PUT_LITERAL(); /* the server keeps the quote and stays quoted */
          i = j;
          continue;
        }
        PUT_LITERAL();
        i++;
      }
    }

    /* The field [vstart, vend) (or w[0, wlen)) is complete. */
    if (nf < p->maxfields) {
      csv_field *f = &p->fields[nf];
      if (w) {
        f->ptr = w;
        f->len = wlen;
        sp += wlen;
      } else {
        f->ptr = (const char *)b + vstart;
        f->len = vend - vstart;
      }
      f->quoted = quoted;
      f->raw_start = fstart;
      f->null = (found_null && f->len == 1) ||
                (!quoted && (d->flags & CSV_F_NULL_WORD) && encl >= 0 && f->len == 4 &&
                 memcmp(f->ptr, "NULL", 4) == 0) ||
                (!quoted && (d->flags & CSV_F_EMPTY_NULL) && f->len == 0);
    }
    nf++;
    if (last) break;
  }
#undef NEED_MORE
#undef NOTE_BAD
#undef PUT_DECODED
#undef PUT_LITERAL
#undef PUT_RUN
#undef TAKE_ESCAPE

  if (!bad && p->expect_fields && nf < p->expect_fields) {
    bad = CSV_BAD_TOO_FEW;
    bad_pos = content_end;
    bad_field = nf + 1;
  }

  rec->raw = (const char *)b;
  rec->raw_len = rec_end;
  rec->term_len = rec_end - content_end;
  rec->fields = p->fields;
  rec->nfields = nf < p->maxfields ? nf : p->maxfields;
  rec->line = p->line;
  rec->record = p->record;

  if (bad) {
    memset(err, 0, sizeof *err);
    err->kind = bad;
    err->reason = bad_reason[bad];
    locate(p, b, bad_pos, &err->line, &err->column);
    err->record = p->record;
    err->field = bad_field;
    err->got = nf;
    err->expected = limit;
    err->raw = (const char *)b;
    err->raw_off = 0;
    err->raw_len = rec_end;
    err->rec_line = p->line;
    err->bad_off = bad_pos;
  }

  /* Advance to the next record. */
  uint64_t nline, ncol;
  locate(p, b, rec_end, &nline, &ncol);
  p->line = nline;
  p->col = ncol;
  p->record++;
  return bad ? CSV_EBADREC : CSV_OK;
}

int csv_parse_chunk(csv_parser *p, const void *vbuf, size_t len, csv_record_cb ok, csv_bad_cb bad,
                    void *ud, csv_parse_stats *st) {
  const uint8_t *b = vbuf;
  size_t off = 0;
  csv_parse_stats local = {0};
  int rc = 0;

  while (off < len) {
    csv_record rec;
    csv_error err;
    int r = csv_parse_record(p, b + off, len - off, 1, &rec, &err);
    if (r == CSV_OK) {
      local.records++;
      off += rec.raw_len;
      if (ok && (rc = ok(ud, &rec))) break;
    } else if (r == CSV_EBADREC) {
      local.records++;
      local.bad++;
      err.raw_off = off;
      off += err.raw_len;
      if (bad && (rc = bad(ud, &err))) break;
    } else {
      rc = r;
      break;
    }
  }
  local.bytes = off;
  if (st) *st = local;
  return rc;
}

/* ------------------------------------------------------------- encoding */

size_t csv_check_utf8(const void *vp, size_t n, int flavour) {
  const uint8_t *p = vp;
  size_t i = 0;
  while (i < n) {
    uint8_t c = p[i];
    size_t need;
    uint32_t cp;
    if (c < 0x80) {
      uint64_t w;
      while (i + 8 <= n) {
        memcpy(&w, p + i, 8);
        if (w & 0x8080808080808080ull) break;
        i += 8;
      }
      while (i < n && p[i] < 0x80) i++;
      continue;
    }
    if (flavour == CSV_ENC_ASCII) return i;
    if (c >= 0xc2 && c <= 0xdf) {
      need = 1;
      cp = c & 0x1fu;
    } else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      cp = c & 0x0fu;
    } else if (c >= 0xf0 && c <= 0xf4 && flavour == CSV_ENC_UTF8MB4) {
      need = 3;
      cp = c & 0x07u;
    } else {
      return i; /* a continuation byte, 0xc0/0xc1 (overlong), 0xf5.., or too long */
    }
    if (n - i <= need) return i;
    for (size_t k = 1; k <= need; k++) {
      if ((p[i + k] & 0xc0) != 0x80) return i;
      cp = cp << 6 | (p[i + k] & 0x3fu);
    }
    if ((need == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (need == 3 && (cp < 0x10000 || cp > 0x10ffff)))
      return i;
    i += need + 1;
  }
  return n;
}
