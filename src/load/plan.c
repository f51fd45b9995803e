/*
 * plan.c — the loader's chunk plan: the file cut into record-aligned chunks
 * as the load goes (the parent never holds more than its read buffer), a
 * part cut in halves when it keeps losing its worker, and, for a resume,
 * the byte range of any part an earlier run committed, checked against the
 * file.
 *
 * Cuts are a function of the file's bytes and the options alone: the
 * chunks are csv_splitter's (chunk_size), and the halves of a part are cut
 * at the first record boundary at or past its middle byte. So a rerun finds
 * every part an earlier run recorded at the same bytes, and a changed file
 * shows as a part whose range or hash differs.
 */

#include "loader.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

size_t load_append_eol(const csv_dialect *d, char *buf, size_t len) {
  size_t n = 0;
  if (d->escape >= 0 && d->escape != d->enclosure) {
    /* A lone escape byte at the very end of the file is literal (the
     * server's LOAD DATA stores "abc\" for 1,abc\<EOF>); followed by our
     * terminator it would escape it instead. An odd run of escape bytes
     * ends in a lone one (the byte before the run is not an escape):
     * double it, which both the parser and the server read as one literal
     * escape byte. (A terminator holding the escape byte after its first
     * byte could fool the count; csv_dialect_parse only forbids it as the
     * first byte.) */
    size_t run = 0;
    while (run < len && (unsigned char)buf[len - 1 - run] == d->escape) run++;
    if (run % 2) buf[len + n++] = (char)d->escape;
  }
  memcpy(buf + len + n, d->line_term, d->line_term_len);
  return n + d->line_term_len;
}

int load_grow(void **arr, size_t *cap, size_t need, size_t elem) {
  size_t n = *cap ? *cap : 16;
  void *np;
  if (need <= *cap) return 0;
  while (n < need) n *= 2;
  if (!(np = realloc(*arr, n * elem))) return -1;
  *arr = np;
  *cap = n;
  return 0;
}

void load_part_from_chunk(load_part *p, const csv_chunk *c) {
  memset(p, 0, sizeof *p);
  p->chunk = c->index;
  p->part = 1;
  p->offset = c->off;
  p->length = c->len;
  p->records = c->records;
  p->first_record = c->first_record;
  p->first_line = c->first_line;
  p->first_col = c->first_col;
  p->no_eol = c->no_eol;
}

void load_chunk_from_part(csv_chunk *c, const load_part *p) {
  memset(c, 0, sizeof *c);
  c->index = p->chunk;
  c->off = p->offset;
  c->len = p->length;
  c->records = p->records;
  c->first_record = p->first_record;
  c->first_line = p->first_line;
  c->first_col = p->first_col;
  c->no_eol = p->no_eol;
}

/* ---- the plan, cut as the load goes ---- */

/* The splitter is fed the file from data_start (past a byte order mark):
 * its offsets are moved back to the file's. */
static int on_plan_chunk(void *ud, const csv_chunk *c) {
  dbfork_load *l = ud;
  csv_chunk *k;
  if (load_grow((void **)&l->ready, &l->capready, l->nready + 1, sizeof *l->ready))
    return DBFORK_ENOMEM;
  k = &l->ready[l->nready++];
  *k = *c;
  k->off += l->c.data_start;
  if (k->first_line == 1) k->first_col += l->c.data_start;
  return 0;
}

/* Starts the plan (again) at the first byte of data. */
static void plan_rewind(dbfork_load *l) {
  csv_splitter_init(&l->sp, &l->c.d, l->c.chunk_bytes, l->c.skip_lines);
  l->read_off = l->c.data_start;
  l->split_eof = 0;
  l->nready = l->headready = 0;
  load_hash_init_kind(&l->fh, (size_t)(l->st.file_bytes - l->c.data_start), l->hash_kind);
  l->file_hashed = 0;
}

void load_plan_init(dbfork_load *l) { plan_rewind(l); }

static ssize_t pread_full(int fd, void *buf, size_t len, uint64_t off) {
  size_t got = 0;
  while (got < len) {
    ssize_t n = pread(fd, (char *)buf + got, len - got, (off_t)(off + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    if (n == 0) break;
    got += (size_t)n;
  }
  return (ssize_t)got;
}

int load_plan_next(dbfork_load *l, csv_chunk *out) {
  while (l->headready == l->nready) {
    ssize_t n;
    int rc;
    l->headready = l->nready = 0;
    if (l->split_eof) return 0;
    n = pread_full(l->fd, l->iobuf, l->iolen, l->read_off);
    if (n < 0)
      return load_set_err(l, DBFORK_EIO, "reading %s at byte %llu: %s", l->c.path,
                          (unsigned long long)l->read_off, strerror(errno));
    if (n == 0) {
      rc = csv_splitter_finish(&l->sp, on_plan_chunk, l);
      l->split_eof = 1;
      if (!l->file_hashed && l->read_off == l->st.file_bytes) { /* nothing after data_start */
        l->file_hash = load_hash_final(&l->fh, (const char *)l->iobuf, 0);
        l->file_hashed = 1;
      }
    } else {
      /* The file's hash, word by word (iolen is a multiple of 8, so only the
       * last read has a tail). */
      l->fh.done = 0;
      if (l->read_off + (uint64_t)n == l->st.file_bytes) {
        l->file_hash = load_hash_final(&l->fh, (const char *)l->iobuf, (size_t)n);
        l->file_hashed = 1;
      } else {
        load_hash_words(&l->fh, (const char *)l->iobuf, (size_t)n);
      }
      rc = csv_splitter_feed(&l->sp, l->iobuf, (size_t)n, on_plan_chunk, l);
      l->read_off += (uint64_t)n;
    }
    if (rc == DBFORK_ENOMEM) return load_set_err(l, rc, "out of memory splitting %s", l->c.path);
    if (rc) return load_set_err(l, DBFORK_EIO, "splitting %s: %s", l->c.path, csv_strerror(rc));
  }
  *out = l->ready[l->headready++];
  return 1;
}

/* ---- halves ---- */

/* Record boundaries of a part as the splitter finds them (one record per
 * chunk): the last one before the middle and the first one at or past it. */
typedef struct cut_search {
  uint64_t mid;
  uint64_t before, before_recs; /* 0: none yet */
  uint64_t after, after_recs;
  int found;
} cut_search;

static int on_record(void *ud, const csv_chunk *c) {
  cut_search *cs = ud;
  uint64_t end = c->off + c->len;
  if (end < cs->mid) {
    cs->before = end;
    cs->before_recs = c->index + 1;
    return 0;
  }
  cs->after = end;
  cs->after_recs = c->index + 1;
  cs->found = 1;
  return 1; /* enough */
}

/* Counts the '\n' bytes of the file in [off, off + len) and the bytes after
 * the last one (for the line and column of the byte after the range). */
static int count_lines(dbfork_load *l, uint64_t off, uint64_t len, uint64_t *nl, uint64_t *tail) {
  uint64_t done = 0;
  *nl = 0;
  *tail = 0;
  while (done < len) {
    size_t want = len - done > l->iolen ? l->iolen : (size_t)(len - done), i;
    ssize_t n = pread_full(l->fd, l->iobuf, want, off + done);
    if (n <= 0 || (size_t)n != want) return -1;
    for (i = 0; i < want; i++) {
      if (l->iobuf[i] == '\n') {
        (*nl)++;
        *tail = 0;
      } else {
        (*tail)++;
      }
    }
    done += want;
  }
  return 0;
}

int load_part_split(dbfork_load *l, const load_part *p, load_part *a, load_part *b) {
  csv_splitter sp;
  cut_search cs;
  uint64_t done = 0, cut, recs, nl, tail;
  int rc = 0;
  if (p->records < 2 || p->length < 2) return 1;
  memset(&cs, 0, sizeof cs);
  cs.mid = p->length / 2;
  csv_splitter_init(&sp, &l->c.d, 1, 0); /* a chunk per record */
  while (!cs.found && done < p->length) {
    size_t want = p->length - done > l->iolen ? l->iolen : (size_t)(p->length - done);
    ssize_t n = pread_full(l->fd, l->iobuf, want, p->offset + done);
    if (n <= 0)
      return load_set_err(l, DBFORK_EIO, "reading %s at byte %llu: %s", l->c.path,
                          (unsigned long long)(p->offset + done),
                          n < 0 ? strerror(errno) : "the file shrank");
    rc = csv_splitter_feed(&sp, l->iobuf, (size_t)n, on_record, &cs);
    if (rc && rc != 1) return load_set_err(l, DBFORK_EIO, "splitting a part: %s", csv_strerror(rc));
    done += (uint64_t)n;
  }
  if (!cs.found) {
    rc = csv_splitter_finish(&sp, on_record, &cs);
    if (rc && rc != 1) return load_set_err(l, DBFORK_EIO, "splitting a part: %s", csv_strerror(rc));
  }
  /* The boundary nearest the middle that leaves both halves a record. */
  if (cs.found && cs.after < p->length && (!cs.before || cs.after - cs.mid <= cs.mid - cs.before)) {
    cut = cs.after;
    recs = cs.after_recs;
  } else if (cs.before) {
    cut = cs.before;
    recs = cs.before_recs;
  } else {
    return 1; /* one record */
  }
  if (recs >= p->records) return 1;
  if (count_lines(l, p->offset, cut, &nl, &tail))
    return load_set_err(l, DBFORK_EIO, "reading %s at byte %llu: %s", l->c.path,
                        (unsigned long long)p->offset, strerror(errno));
  *a = *p;
  *b = *p;
  a->part = 2 * p->part;
  b->part = 2 * p->part + 1;
  a->length = cut;
  a->records = recs;
  a->no_eol = 0;
  b->offset = p->offset + cut;
  b->length = p->length - cut;
  b->records = p->records - recs;
  b->first_record = p->first_record + recs;
  b->first_line = p->first_line + nl;
  b->first_col = nl ? tail + 1 : p->first_col + cut;
  return 0;
}

/* The range of part `part` of the chunk whose whole part is *root: cut down
 * along the path from the root. 0 and *out; 1 if the path does not exist
 * (a part along it cannot be cut); < 0 on a read error. */
static int part_range(dbfork_load *l, const load_part *root, uint64_t part, load_part *out) {
  unsigned depth = job_part_depth(part), d;
  load_part cur = *root, a, b;
  for (d = depth; d > 0; d--) {
    int rc = load_part_split(l, &cur, &a, &b);
    if (rc) return rc;
    cur = (part >> (d - 1)) & 1 ? b : a;
  }
  *out = cur;
  return 0;
}

/* The hash of the file's bytes [off, off + len), as a worker computes it,
 * read in pieces of iolen bytes (a multiple of 8, so that no hashed word
 * straddles two pieces). */
static int hash_range(dbfork_load *l, uint64_t off, uint64_t len, int kind, uint64_t *out) {
  load_hasher x;
  uint64_t done = 0;
  load_hash_init_kind(&x, (size_t)len, kind);
  for (;;) {
    size_t want = len - done > l->iolen ? l->iolen : (size_t)(len - done);
    ssize_t n = want ? pread_full(l->fd, l->iobuf, want, off + done) : 0;
    if (n < 0 || (size_t)n != want) return -1;
    x.done = 0;
    if (done + (uint64_t)n == len) {
      *out = load_hash_final(&x, (const char *)l->iobuf, (size_t)n);
      return 0;
    }
    load_hash_words(&x, (const char *)l->iobuf, (size_t)n);
    done += (uint64_t)n;
  }
}

/* Resume: every part an earlier run committed must have the same bytes now
 * (range and hash), before anything is loaded, so that a changed file
 * cannot end half-loaded twice. Splits the whole file once. */
int load_verify_prior(dbfork_load *l) {
  size_t i = 0, seen = 0;
  csv_chunk c;
  int rc;
  if (!l->nprior) return 0;
  while ((rc = load_plan_next(l, &c)) == 1) {
    load_part root;
    load_part_from_chunk(&root, &c);
    for (; i < l->nprior && l->prior[i].chunk <= c.index; i++) {
      const load_done *d = &l->prior[i];
      load_part want;
      uint64_t h = 0;
      if (d->chunk < c.index) continue; /* not in the plan: caught by the count below */
      seen++;
      rc = part_range(l, &root, d->part, &want);
      if (rc < 0) return rc;
      /* The hash of this version, or of dbfork 1.0 (its jobs resume). */
      if (rc == 0 && want.offset == d->off && want.length == d->len &&
          ((!hash_range(l, d->off, d->len, LOAD_HASH_CRC, &h) && h == d->hash) ||
           (!hash_range(l, d->off, d->len, LOAD_HASH_FNV, &h) && h == d->hash)))
        continue;
      return load_set_err(l, DBFORK_ECHANGED,
                          "cannot resume: chunk %llu (from line %llu) differs from what an earlier "
                          "run of this load committed (bytes %llu+%llu then, %llu+%llu now): the "
                          "file or the options (--chunk-size, dialect, --skip-lines) changed; "
                          "restore the file and options of the interrupted run, or empty the "
                          "table and rerun with --restart",
                          (unsigned long long)c.index, (unsigned long long)c.first_line,
                          (unsigned long long)d->off, (unsigned long long)d->len,
                          (unsigned long long)(rc == 0 ? want.offset : c.off),
                          (unsigned long long)(rc == 0 ? want.length : c.len));
    }
  }
  if (rc < 0) return rc;
  if (seen != l->nprior)
    return load_set_err(l, DBFORK_ECHANGED,
                        "cannot resume: the progress table records chunks past the end of the "
                        "file now; restore the file and options of the interrupted run, or "
                        "empty the table and rerun with --restart");
  /* The load pass cuts the file again from its start. */
  plan_rewind(l);
  return 0;
}

int load_file_hash(dbfork_load *l, int kind, uint64_t *out) {
  csv_chunk c;
  int rc;
  l->hash_kind = kind;
  plan_rewind(l);
  /* The plan reads the file to its end and hashes it on the way. */
  while ((rc = load_plan_next(l, &c)) == 1) {
  }
  if (rc < 0) return rc;
  *out = l->file_hashed ? l->file_hash : 0;
  l->hash_kind = LOAD_HASH_CRC;
  plan_rewind(l);
  return 0;
}

/* For the load pass: the parts of chunk c that no earlier run committed,
 * written to out (at most max); returns how many, or < 0. */
static int uncovered(dbfork_load *l, const load_part *p, size_t lo, size_t hi, load_part *out,
                     size_t max, size_t *n) {
  size_t i;
  int any = 0;
  load_part a, b;
  int rc;
  for (i = lo; i < hi; i++) {
    if (l->prior[i].part == p->part) return 0; /* committed */
    if (job_part_covers(p->part, l->prior[i].part)) any = 1;
  }
  if (!any) {
    if (*n >= max) return load_set_err(l, DBFORK_ENOMEM, "too many uncommitted parts");
    out[(*n)++] = *p;
    return 0;
  }
  rc = load_part_split(l, p, &a, &b);
  if (rc)
    return rc < 0 ? rc
                  : load_set_err(l, DBFORK_ECHANGED,
                                 "cannot resume: a recorded part "
                                 "of chunk %llu cannot be found",
                                 (unsigned long long)p->chunk);
  if ((rc = uncovered(l, &a, lo, hi, out, max, n))) return rc;
  return uncovered(l, &b, lo, hi, out, max, n);
}

int load_plan_parts_of(dbfork_load *l, const load_part *root, load_done *rows, size_t n,
                       load_part *out, size_t max) {
  load_done *keep = l->prior;
  size_t nkeep = l->nprior, i, k = 0;
  int rc;
  for (i = 0; i < n; i++)
    if (job_part_covers(rows[i].part, root->part)) return 0; /* committed, whole or above */
  l->prior = rows;
  l->nprior = n;
  rc = uncovered(l, root, 0, n, out, max, &k);
  l->prior = keep;
  l->nprior = nkeep;
  return rc < 0 ? rc : (int)k;
}

int load_plan_parts(dbfork_load *l, const csv_chunk *c, load_part *out, size_t max) {
  size_t lo = 0, hi, n = 0;
  load_part root;
  int rc;
  load_part_from_chunk(&root, c);
  while (lo < l->nprior && l->prior[lo].chunk < c->index) lo++;
  for (hi = lo; hi < l->nprior && l->prior[hi].chunk == c->index; hi++) {
  }
  if (lo == hi) {
    out[0] = root;
    return 1;
  }
  rc = uncovered(l, &root, lo, hi, out, max, &n);
  return rc < 0 ? rc : (int)n;
}
