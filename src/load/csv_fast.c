/*
 * csv_fast.c — the record parser's fast path (csv.h, csv_parse_record).
 *
 * Most records of most files need no decoding: unquoted fields, and quoted
 * ones without an escape or a doubled quote inside. For those the fields
 * are pointers into the input, and finding them is finding the next
 * separator, quote or newline, which scan_find does 16 bytes at a time.
 * This path takes exactly those records, in the common dialects (a one-byte
 * field terminator, lines ending in "\n"), and gives back anything else —
 * an escape, a doubled or stray quote, a '\r' under CSV_F_CRLF, a wrong
 * field count, a record that does not end within the buffer — untouched
 * to the general parser in csv.c, which then reads it from its start. So
 * a record either comes out of here exactly as the general parser would
 * make it, or not at all; the tests and the fuzzer compare both paths
 * (CSV_F_SLOWPATH turns this one off).
 */
#include "csv.h"

#include <string.h>

void csv__fast_init(csv_parser *p) {
  const csv_dialect *d = p->d;
  int v[5];
  p->fast = d && d->field_term_len == 1 && d->line_term_len == 1 && d->line_term[0] == '\n' &&
            d->field_term[0] != '\n' && !(d->flags & CSV_F_SLOWPATH);
  if (!p->fast) return;
  v[0] = d->field_term[0];
  v[1] = '\n';
  v[2] = d->enclosure;
  v[3] = d->escape;
  v[4] = (d->flags & CSV_F_CRLF) ? '\r' : -1;
  scan_set_init(&p->set_unq, v, 5);
  v[0] = d->enclosure;
  v[1] = '\n';
  v[2] = d->escape != d->enclosure ? d->escape : -1;
  scan_set_init(&p->set_q, v, 3);
}

int csv__fast_record(csv_parser *p, const uint8_t *b, size_t len, csv_record *rec) {
  const csv_dialect *d = p->d;
  const int encl = d->enclosure, ft = d->field_term[0], crlf = (d->flags & CSV_F_CRLF) != 0;
  const int null_word = (d->flags & CSV_F_NULL_WORD) && encl >= 0;
  const int empty_null = (d->flags & CSV_F_EMPTY_NULL) != 0;
  const size_t limit = p->expect_fields ? p->expect_fields : p->maxfields;
  size_t i = 0, nf = 0, rec_end;
  uint64_t lines = 0;

  if (p->expect_fields > p->maxfields) return 0;
  for (;;) { /* one field per iteration */
    size_t fstart = i, vstart, vend;
    int quoted = 0, c, last = 0;
    csv_field *f;
    if (nf == limit) return 0; /* too many fields: the general parser reports it */
    if (i < len && b[i] == encl) {
      quoted = 1;
      vstart = ++i;
      for (;;) {
        i = scan_find(b, i, len, &p->set_q);
        if (i + 1 >= len) return 0; /* the buffer ends first */
        if (b[i] == '\n') {
          lines++;
          i++;
          continue;
        }
        if (b[i] != encl) return 0; /* an escape */
        break;
      }
      vend = i++;
      c = b[i];
      if (c == '\n') {
        last = 1;
      } else if (c != ft || (crlf && c == '\r')) {
        return 0; /* doubled, literal or strict-bad quote, or "\r" */
      }
    } else {
      vstart = i;
      i = scan_find(b, i, len, &p->set_unq);
      if (i == len) return 0;
      c = b[i];
      vend = i;
      if (c == '\n') {
        last = 1;
      } else if (c != ft || (crlf && c == '\r')) {
        return 0; /* an escape, a quote inside the field, or "\r" */
      }
    }
    f = &p->fields[nf++];
    f->ptr = (const char *)b + vstart;
    f->len = vend - vstart;
    f->quoted = quoted;
    f->raw_start = fstart;
    f->null = !quoted && ((null_word && f->len == 4 && memcmp(f->ptr, "NULL", 4) == 0) ||
                          (empty_null && f->len == 0));
    i++; /* past the terminator */
    if (last) break;
  }
  if (p->expect_fields && nf < p->expect_fields) return 0;
  rec_end = i;
  rec->raw = (const char *)b;
  rec->raw_len = rec_end;
  rec->term_len = 1;
  rec->fields = p->fields;
  rec->nfields = nf;
  rec->line = p->line;
  rec->record = p->record;
  p->line += lines + 1;
  p->col = 1;
  p->record++;
  return 1;
}
