/*
 * csv_check.h — the splitting invariants of src/cli/csv.h as one checker,
 * shared by the unit tests (tests/csv/test_csv.c) and the fuzzer
 * (tests/fuzz/fuzz_csv.c). Header-only, file-local functions.
 *
 * The reference is the record parser run over the whole input. The checker
 * asserts that the splitter, fed in pieces of any size and on either its fast
 * or its general path, cuts exactly at the parser's record ends; that its
 * chunks are contiguous, hold whole records, skip exactly the header records,
 * close at the first record end past the target size, and carry the right
 * record counts and line numbers; and that each chunk parsed on its own gives
 * the same records as the whole-file parse.
 */
#ifndef DBFORK_TESTS_CSV_CHECK_H
#define DBFORK_TESTS_CSV_CHECK_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/load/csv.h"

typedef struct {
  csv_chunk *v;
  size_t n, cap;
} chk_chunks;

static int chk_push(void *ud, const csv_chunk *c) {
  chk_chunks *cv = ud;
  if (cv->n == cv->cap) {
    cv->cap = cv->cap ? 2 * cv->cap : 16;
    cv->v = realloc(cv->v, cv->cap * sizeof *cv->v);
    if (!cv->v) abort();
  }
  cv->v[cv->n++] = *c;
  return 0;
}

/* Splits data[0, len) in memory, feeding `step` bytes at a time (0: all). */
static int chk_split(const unsigned char *data, size_t len, const csv_dialect *d,
                     uint64_t chunk_bytes, uint64_t skip, size_t step, chk_chunks *out,
                     csv_split_stats *st) {
  csv_splitter s;
  int rc = 0;
  out->n = 0;
  csv_splitter_init(&s, d, chunk_bytes, skip);
  if (!step) step = len ? len : 1;
  for (size_t off = 0; off < len && !rc; off += step)
    rc = csv_splitter_feed(&s, data + off, len - off < step ? len - off : step, chk_push, out);
  if (!rc) rc = csv_splitter_finish(&s, chk_push, out);
  if (st) csv_splitter_stats(&s, st);
  return rc;
}

static int chk_fail(char *why, size_t whylen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, whylen, fmt, ap);
  va_end(ap);
  return -1;
}

static uint64_t chk_nl(const unsigned char *p, size_t n) {
  uint64_t k = 0;
  for (size_t i = 0; i < n; i++) k += p[i] == '\n';
  return k;
}

static uint64_t chk_col(const unsigned char *p, size_t off) {
  size_t i = off;
  while (i > 0 && p[i - 1] != '\n') i--;
  return off - i + 1;
}

static int chk_same_chunks(const chk_chunks *a, const chk_chunks *b) {
  if (a->n != b->n) return 0;
  for (size_t i = 0; i < a->n; i++) {
    const csv_chunk *x = &a->v[i], *y = &b->v[i];
    if (x->index != y->index || x->off != y->off || x->len != y->len || x->records != y->records ||
        x->first_record != y->first_record || x->first_line != y->first_line ||
        x->first_col != y->first_col || x->no_eol != y->no_eol)
      return 0;
  }
  return 1;
}

/* One parsed record of the reference parse. */
typedef struct {
  size_t off, len;
  size_t nfields;
  size_t first_field; /* index into the flattened field store */
  int bad;            /* enum csv_bad, 0 if good */
} chk_rec;

typedef struct {
  chk_rec *recs;
  size_t nrec;
  /* flattened field values: offsets into vals */
  size_t *foff, *flen;
  int *fnull, *fquoted;
  size_t nf;
  char *vals;
  size_t nvals;
} chk_ref;

static void chk_ref_free(chk_ref *r) {
  free(r->recs);
  free(r->foff);
  free(r->flen);
  free(r->fnull);
  free(r->fquoted);
  free(r->vals);
  memset(r, 0, sizeof *r);
}

/* Parses buf[0, len) record by record (eof at len) and stores every record's
 * extent and fields. Also checks the parser's own line numbers. */
static int chk_reference(const unsigned char *data, size_t len, const csv_dialect *d, chk_ref *r,
                         char *why, size_t whylen) {
  csv_parser p;
  size_t maxf = len + 2, off = 0;
  csv_field *fields = malloc(maxf * sizeof *fields);
  char *scratch = malloc(len + 1);
  memset(r, 0, sizeof *r);
  r->recs = malloc((len + 1) * sizeof *r->recs);
  r->foff = malloc((2 * len + 2) * sizeof(size_t));
  r->flen = malloc((2 * len + 2) * sizeof(size_t));
  r->fnull = malloc((2 * len + 2) * sizeof(int));
  r->fquoted = malloc((2 * len + 2) * sizeof(int));
  r->vals = malloc(len + 1);
  if (!fields || !scratch || !r->recs || !r->foff || !r->flen || !r->fnull || !r->fquoted ||
      !r->vals)
    abort();
  csv_parser_init(&p, d, fields, maxf, scratch, len + 1);
  int ret = 0;
  for (;;) {
    csv_record rec;
    csv_error err;
    int rc = csv_parse_record(&p, data + off, len - off, 1, &rec, &err);
    if (rc == CSV_END) break;
    if (rc != CSV_OK && rc != CSV_EBADREC) {
      ret = chk_fail(why, whylen, "reference parse at %zu: %s", off, csv_strerror(rc));
      break;
    }
    if (rec.raw_len == 0 || rec.raw_len > len - off) {
      ret = chk_fail(why, whylen, "reference parse at %zu: bad extent %zu", off, rec.raw_len);
      break;
    }
    if (rec.line != 1 + chk_nl(data, off)) {
      ret = chk_fail(why, whylen, "record at %zu: line %llu, want %llu", off,
                     (unsigned long long)rec.line, (unsigned long long)(1 + chk_nl(data, off)));
      break;
    }
    if (rec.record != r->nrec + 1) {
      ret = chk_fail(why, whylen, "record at %zu: number %llu, want %zu", off,
                     (unsigned long long)rec.record, r->nrec + 1);
      break;
    }
    if (rc == CSV_EBADREC) {
      if (err.raw_len != rec.raw_len || err.line < rec.line || err.column < 1 || err.field < 1 ||
          err.line > 1 + chk_nl(data, off + rec.raw_len)) {
        ret = chk_fail(why, whylen, "record at %zu: inconsistent error position", off);
        break;
      }
    }
    chk_rec *cr = &r->recs[r->nrec++];
    cr->off = off;
    cr->len = rec.raw_len;
    cr->nfields = rec.nfields;
    cr->first_field = r->nf;
    cr->bad = rc == CSV_EBADREC ? err.kind : 0;
    for (size_t i = 0; i < rec.nfields; i++) {
      if (r->nvals + rec.fields[i].len > len) {
        ret = chk_fail(why, whylen, "record at %zu: decoded values longer than input", off);
        goto out;
      }
      r->foff[r->nf] = r->nvals;
      r->flen[r->nf] = rec.fields[i].len;
      r->fnull[r->nf] = rec.fields[i].null;
      r->fquoted[r->nf] = rec.fields[i].quoted;
      if (rec.fields[i].len) memcpy(r->vals + r->nvals, rec.fields[i].ptr, rec.fields[i].len);
      r->nvals += rec.fields[i].len;
      r->nf++;
    }
    off += rec.raw_len;
  }
  if (!ret && off != len)
    ret = chk_fail(why, whylen, "reference parse consumed %zu of %zu", off, len);
out:
  free(fields);
  free(scratch);
  return ret;
}

typedef struct {
  const chk_ref *ref;
  const unsigned char *chunk;
  size_t rec; /* next reference record expected */
  size_t bytes;
  int fail;
} chk_cmp;

static int chk_cmp_rec(chk_cmp *c, const csv_record *rec, int bad) {
  const chk_ref *r = c->ref;
  if (c->rec >= r->nrec) {
    c->fail = 1;
    return 1;
  }
  const chk_rec *cr = &r->recs[c->rec++];
  if (!cr->bad != !bad || cr->len != rec->raw_len || cr->nfields != rec->nfields) {
    c->fail = 2;
    return 1;
  }
  for (size_t i = 0; i < rec->nfields; i++) {
    size_t k = cr->first_field + i;
    if (r->flen[k] != rec->fields[i].len || r->fnull[k] != rec->fields[i].null ||
        r->fquoted[k] != rec->fields[i].quoted ||
        (r->flen[k] && memcmp(r->vals + r->foff[k], rec->fields[i].ptr, r->flen[k]) != 0)) {
      c->fail = 3;
      return 1;
    }
  }
  return 0;
}

static int chk_ok_cb(void *ud, const csv_record *rec) { return chk_cmp_rec(ud, rec, 0); }

static int chk_bad_cb(void *ud, const csv_error *e) {
  /* csv_parse_chunk does not hand us the fields of a bad record: compare the
   * extent only. */
  chk_cmp *c = ud;
  if (c->rec >= c->ref->nrec || !c->ref->recs[c->rec].bad ||
      c->ref->recs[c->rec].len != e->raw_len || e->raw != (const char *)c->chunk + e->raw_off) {
    c->fail = 4;
    return 1;
  }
  c->rec++;
  return 0;
}

/* The parser's fast path (csv_fast.c) against its general path: every
 * record of the input, parsed both ways with eof and without, must come out
 * the same (return code, extent, fields byte for byte, NULL and quoted
 * flags, line and record numbers, and the position after it). */
static int chk_parser_paths(const unsigned char *data, size_t len, const csv_dialect *dia,
                            char *why, size_t whylen) {
  csv_dialect slow = *dia;
  size_t maxf = len + 2;
  csv_field *fa = malloc(maxf * sizeof *fa), *fb = malloc(maxf * sizeof *fb);
  char *sa = malloc(len + 1), *sb = malloc(len + 1);
  int ret = 0;
  if (!fa || !fb || !sa || !sb) abort();
  slow.flags |= CSV_F_SLOWPATH;
  for (int eof = 0; eof < 2 && !ret; eof++) {
    for (int expect = 0; expect < 2 && !ret; expect++) {
      csv_parser a, b;
      size_t off = 0;
      csv_parser_init(&a, dia, fa, maxf, sa, len + 1);
      csv_parser_init(&b, &slow, fb, maxf, sb, len + 1);
      a.expect_fields = b.expect_fields = expect ? 3 : 0;
      while (!ret) {
        csv_record ra, rb;
        csv_error ea, eb;
        int x = csv_parse_record(&a, data + off, len - off, eof, &ra, &ea);
        int y = csv_parse_record(&b, data + off, len - off, eof, &rb, &eb);
        if (x != y) {
          ret = chk_fail(why, whylen, "parser paths at %zu: fast %d, general %d", off, x, y);
          break;
        }
        if (x != CSV_OK && x != CSV_EBADREC) break;
        if (ra.raw_len != rb.raw_len || ra.term_len != rb.term_len || ra.nfields != rb.nfields ||
            ra.line != rb.line || ra.record != rb.record || a.line != b.line || a.col != b.col ||
            a.record != b.record) {
          ret = chk_fail(why, whylen, "parser paths at %zu: records differ", off);
          break;
        }
        for (size_t k = 0; x == CSV_OK && k < ra.nfields; k++) {
          const csv_field *u = &ra.fields[k], *v = &rb.fields[k];
          if (u->len != v->len || u->null != v->null || u->quoted != v->quoted ||
              u->raw_start != v->raw_start || (u->len && memcmp(u->ptr, v->ptr, u->len))) {
            ret = chk_fail(why, whylen, "parser paths at %zu: field %zu differs", off, k + 1);
            break;
          }
        }
        off += ra.raw_len;
      }
    }
  }
  free(fa);
  free(fb);
  free(sa);
  free(sb);
  return ret;
}

/*
 * Checks every invariant for one (input, dialect, chunk size, skip, feed
 * step). Returns 0, or -1 with a description in why.
 */
static int csv_check_split(const unsigned char *data, size_t len, const csv_dialect *dia,
                           uint64_t chunk_bytes, uint64_t skip, size_t step, char *why,
                           size_t whylen) {
  chk_ref ref;
  chk_chunks a = {0}, b = {0}, one = {0};
  csv_split_stats st;
  csv_dialect slow = *dia;
  int ret = 0;
  uint64_t cb = chunk_bytes ? chunk_bytes : 1;

  slow.flags |= CSV_F_SLOWPATH;
  if (chk_parser_paths(data, len, dia, why, whylen)) return -1;
  if (chk_reference(data, len, dia, &ref, why, whylen)) return -1;

  /* 1. One record per chunk: the splitter's records are the parser's. */
  for (int path = 0; path < 2 && !ret; path++) {
    if (chk_split(data, len, path ? &slow : dia, 1, 0, step, &one, NULL)) {
      ret = chk_fail(why, whylen, "split (1 byte) failed");
      break;
    }
    if (one.n != ref.nrec) {
      ret = chk_fail(why, whylen, "%s path: %zu records, parser has %zu", path ? "slow" : "fast",
                     one.n, ref.nrec);
      break;
    }
    for (size_t i = 0; i < one.n; i++)
      if (one.v[i].off != ref.recs[i].off || one.v[i].len != ref.recs[i].len ||
          one.v[i].records != 1) {
        ret = chk_fail(why, whylen, "%s path: record %zu is [%llu,+%llu), parser says [%zu,+%zu)",
                       path ? "slow" : "fast", i + 1, (unsigned long long)one.v[i].off,
                       (unsigned long long)one.v[i].len, ref.recs[i].off, ref.recs[i].len);
        break;
      }
  }
  if (ret) goto out;

  /* 2. The requested split, fast path with the given step; slow path byte by
   * byte and fast path in one piece must give the same chunks. */
  if (chk_split(data, len, dia, chunk_bytes, skip, step, &a, &st)) {
    ret = chk_fail(why, whylen, "split failed");
    goto out;
  }
  if (chk_split(data, len, &slow, chunk_bytes, skip, 1, &b, NULL) || !chk_same_chunks(&a, &b)) {
    ret = chk_fail(why, whylen, "slow path byte-by-byte differs from fast path");
    goto out;
  }
  if (chk_split(data, len, dia, chunk_bytes, skip, 0, &b, NULL) || !chk_same_chunks(&a, &b)) {
    ret = chk_fail(why, whylen, "one-piece feed differs from step %zu", step);
    goto out;
  }

  size_t nskip = skip < ref.nrec ? (size_t)skip : ref.nrec;
  size_t r = nskip; /* next reference record */
  uint64_t pos = nskip ? ref.recs[nskip - 1].off + ref.recs[nskip - 1].len : 0;
  uint64_t total = 0;
  if (st.records != ref.nrec || st.skipped != nskip || st.bytes != len || st.chunks != a.n) {
    ret = chk_fail(why, whylen, "stats: records %llu skipped %llu bytes %llu chunks %llu",
                   (unsigned long long)st.records, (unsigned long long)st.skipped,
                   (unsigned long long)st.bytes, (unsigned long long)st.chunks);
    goto out;
  }
  /* The file ends inside quotes iff the parser's last record is unterminated. */
  {
    const chk_rec *last = ref.nrec ? &ref.recs[ref.nrec - 1] : NULL;
    int open = last && last->bad == CSV_BAD_UNTERMINATED;
    if (st.open_quote != open || (open && (st.open_quote_off != last->off ||
                                           st.open_quote_line != 1 + chk_nl(data, last->off)))) {
      ret = chk_fail(why, whylen, "open quote reported %d at %llu line %llu, parser says %d",
                     st.open_quote, (unsigned long long)st.open_quote_off,
                     (unsigned long long)st.open_quote_line, open);
      goto out;
    }
  }
  if (st.lines != chk_nl(data, len) + (len && data[len - 1] != '\n')) {
    ret = chk_fail(why, whylen, "stats: %llu lines", (unsigned long long)st.lines);
    goto out;
  }
  for (size_t i = 0; i < a.n; i++) {
    const csv_chunk *c = &a.v[i];
    if (c->index != i || c->off != pos || c->len == 0 || c->records == 0) {
      ret =
          chk_fail(why, whylen, "chunk %zu [%llu,+%llu) not contiguous (expected at %llu)", i,
                   (unsigned long long)c->off, (unsigned long long)c->len, (unsigned long long)pos);
      goto out;
    }
    if (c->first_record != r + 1 || c->first_line != 1 + chk_nl(data, (size_t)c->off) ||
        c->first_col != chk_col(data, (size_t)c->off)) {
      ret = chk_fail(why, whylen, "chunk %zu: first record/line/col %llu/%llu/%llu", i,
                     (unsigned long long)c->first_record, (unsigned long long)c->first_line,
                     (unsigned long long)c->first_col);
      goto out;
    }
    /* Whole records, and closed at the first record end >= chunk_bytes. */
    uint64_t end = c->off + c->len, at = c->off;
    size_t k = 0;
    while (r < ref.nrec && at < end) {
      at += ref.recs[r].len;
      r++;
      k++;
      if (at < end && at - c->off >= cb) {
        ret = chk_fail(why, whylen, "chunk %zu runs past the size boundary", i);
        goto out;
      }
    }
    if (at != end || k != c->records) {
      ret = chk_fail(why, whylen, "chunk %zu [%llu,+%llu) does not hold whole records (%zu/%llu)",
                     i, (unsigned long long)c->off, (unsigned long long)c->len, k,
                     (unsigned long long)c->records);
      goto out;
    }
    if (i + 1 < a.n && c->len < cb) {
      ret = chk_fail(why, whylen, "chunk %zu closed early (%llu < %llu)", i,
                     (unsigned long long)c->len, (unsigned long long)cb);
      goto out;
    }
    if (c->no_eol && (i + 1 != a.n || end != len)) {
      ret = chk_fail(why, whylen, "chunk %zu: no_eol before the end", i);
      goto out;
    }
    total += c->records;
    pos = end;

    /* 3. The chunk parsed on its own gives the reference records. */
    csv_parser p;
    csv_field *fields = malloc((c->len + 2) * sizeof *fields);
    char *scratch = malloc(c->len + 1);
    chk_cmp cmp = {&ref, data + c->off, r - k, 0, 0};
    csv_parse_stats ps;
    if (!fields || !scratch) abort();
    csv_parser_init(&p, dia, fields, c->len + 2, scratch, c->len + 1);
    csv_parser_seek(&p, c);
    int rc = csv_parse_chunk(&p, data + c->off, (size_t)c->len, chk_ok_cb, chk_bad_cb, &cmp, &ps);
    free(fields);
    free(scratch);
    if (rc || cmp.fail || ps.records != c->records || ps.bytes != c->len || cmp.rec != r) {
      ret = chk_fail(why, whylen, "chunk %zu parsed alone differs (rc %d, fail %d, %llu records)",
                     i, rc, cmp.fail, (unsigned long long)ps.records);
      goto out;
    }
    if (p.line != 1 + chk_nl(data, (size_t)end) || p.col != chk_col(data, (size_t)end) ||
        p.record != r + 1) {
      ret = chk_fail(why, whylen, "chunk %zu: parser position after it is %llu:%llu #%llu", i,
                     (unsigned long long)p.line, (unsigned long long)p.col,
                     (unsigned long long)p.record);
      goto out;
    }
  }
  if (total != ref.nrec - nskip || (a.n && pos != len) || r != ref.nrec) {
    ret = chk_fail(why, whylen, "chunks hold %llu records, want %zu; end at %llu of %zu",
                   (unsigned long long)total, ref.nrec - nskip, (unsigned long long)pos, len);
    goto out;
  }
  if (!a.n && ref.nrec > nskip) {
    ret = chk_fail(why, whylen, "no chunks for %zu records", ref.nrec - nskip);
    goto out;
  }

out:
  free(a.v);
  free(b.v);
  free(one.v);
  chk_ref_free(&ref);
  return ret;
}

/* Incremental parsing: for a record that ends before the input does, every
 * strict prefix must be CSV_EINCOMPLETE and every longer window must give the
 * same extent. Checks the records starting in data[0, len). */
static int csv_check_incremental(const unsigned char *data, size_t len, const csv_dialect *d,
                                 char *why, size_t whylen) {
  size_t off = 0, maxf = len + 2;
  csv_field *fields = malloc(maxf * sizeof *fields);
  char *scratch = malloc(len + 1);
  int ret = 0;
  if (!fields || !scratch) abort();
  while (off < len && !ret) {
    csv_parser p;
    csv_record rec;
    csv_error err;
    csv_parser_init(&p, d, fields, maxf, scratch, len + 1);
    int rc = csv_parse_record(&p, data + off, len - off, 1, &rec, &err);
    size_t ext = rec.raw_len;
    if (rc != CSV_OK && rc != CSV_EBADREC) {
      ret = chk_fail(why, whylen, "parse at %zu: %d", off, rc);
      break;
    }
    if (off + ext == len) break; /* ends at EOF: an open window could always grow */
    for (size_t k = 0; k <= len - off && !ret; k++) {
      csv_parser_init(&p, d, fields, maxf, scratch, len + 1);
      int r2 = csv_parse_record(&p, data + off, k, 0, &rec, &err);
      if (k < ext && r2 != CSV_EINCOMPLETE)
        ret = chk_fail(why, whylen, "record at %zu: window %zu < %zu gave %d", off, k, ext, r2);
      else if (k >= ext && (r2 != rc || rec.raw_len != ext))
        ret = chk_fail(why, whylen, "record at %zu: window %zu gave %d/%zu, want %d/%zu", off, k,
                       r2, r2 == CSV_OK || r2 == CSV_EBADREC ? rec.raw_len : 0, rc, ext);
    }
    off += ext;
  }
  free(fields);
  free(scratch);
  return ret;
}

#endif /* DBFORK_TESTS_CSV_CHECK_H */
