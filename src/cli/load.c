/*
 * load.c — `dbfork load`: a parallel, transactional, resumable CSV loader.
 *
 * The parent splits the file into record-aligned byte ranges (csv.h) as it
 * streams through it, and submits only (offset, length) descriptors; each
 * worker pread()s its own range piece by piece, validating and hashing it
 * record by record as it streams it to the server, and loads it in one
 * transaction together with a row in the progress table
 * (sql/load_progress.sql), so a chunk is either loaded and recorded, or
 * neither. A rerun of the same command skips recorded chunks after checking
 * that their bytes did not change (a hash per chunk): exactly once, even
 * after a SIGKILL or a power cut.
 *
 * Methods: load-data streams the chunk's good records into LOAD DATA LOCAL
 * INFILE through a local-infile handler (no temporary file); insert binds
 * them to a prepared multi-row INSERT.
 */
#define _GNU_SOURCE /* strsignal, asprintf, strncasecmp */
#include "common.h"
#include "csv.h"
#include "load_progress_sql.h" /* generated from sql/load_progress.sql */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

enum { METHOD_LOAD_DATA, METHOD_INSERT };
enum { DUP_ERROR, DUP_IGNORE, DUP_UPDATE, DUP_REPLACE };

#define MAX_COLS 1024
#define WARN_KEEP 5 /* warning messages kept per chunk */

/* Everything a worker needs, set up in the parent before the pool starts and
 * inherited across fork (read-only afterwards). The SQL texts are built on
 * the heap: with up to MAX_COLS quoted names of up to CLI_COLUMN_QUOTED_MAX
 * bytes each, no fixed buffer of a sane size holds every legal column list. */
typedef struct job {
  const char *path;
  char table[300]; /* `db`.`t` */
  char db[140];    /* `db` */
  int ncols;
  char *cols_sql; /* `a`,`b`,... */
  char *ins_head; /* INSERT [IGNORE] | REPLACE INTO `db`.`t` (`a`,`b`,...) VALUES */
  char *dup_sql;  /* " ON DUPLICATE KEY UPDATE `a`=VALUES(`a`),..." or "" */
  char *load_sql; /* the LOAD DATA statement: fixed per job */
  csv_dialect d;
  int method, dup;
  unsigned batch;
  uint64_t chunk_bytes, skip_lines;
  uint64_t max_errors;
  /* Rows rejected by the whole load so far: by the chunks earlier runs
   * committed, plus those each worker reserved for its chunk just before
   * the chunk's COMMIT (see reserve_rejects). Shared memory (MAP_SHARED),
   * so that all workers see one count. */
  uint64_t *rejects_total;
  /* What the latest attempt of each chunk reserved of that total, by chunk
   * index (same mapping): a chunk run again takes its earlier reservation
   * back first, whichever worker made it. */
  uint64_t *chunk_reserved;
  uint64_t nchunk_reserved;
  char job_id[17];
} job;

/* ---- the reply a worker sends for a chunk ----
 * fixed part, then entries: u8 kind (1 reject, 2 warning), u64 line,
 * u32 text length, text, u32 raw length, raw bytes (rejects only). */
typedef struct chunk_reply {
  uint64_t index, records, loaded, rejected, warnings, first_line, last_line;
} chunk_reply;

typedef struct wbuf {
  char *p;
  size_t len, cap;
} wbuf;

static int wb_reserve(wbuf *b, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 65536;
    char *np;
    while (cap < b->len + n) cap *= 2;
    np = realloc(b->p, cap);
    if (!np) return -1;
    b->p = np;
    b->cap = cap;
  }
  return 0;
}

static int wb_add(wbuf *b, const void *p, size_t n) {
  if (!n) return 0; /* b->p may still be NULL: no pointer arithmetic on it */
  if (wb_reserve(b, n)) return -1;
  memcpy(b->p + b->len, p, n);
  b->len += n;
  return 0;
}

/* Appends the strings up to a NULL and keeps the buffer NUL-terminated (the
 * NUL is not counted in len). Returns 0 or -1 (out of memory). */
static int wb_str(wbuf *b, ...) {
  va_list ap;
  const char *str;
  int rc = 0;
  va_start(ap, b);
  while (!rc && (str = va_arg(ap, const char *)) != NULL) rc = wb_add(b, str, strlen(str));
  va_end(ap);
  if (!rc) rc = wb_reserve(b, 1);
  if (!rc) b->p[b->len] = 0;
  return rc;
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
  const unsigned char *s = p;
  size_t i;
  for (i = 0; i < n; i++) {
    h ^= s[i];
    h *= 0x100000001b3ull;
  }
  return h;
}
#define FNV_INIT 0xcbf29ce484222325ull

/* A cheap content hash of a chunk: FNV over 8-byte words (bytes at the
 * tail). Recorded with the chunk so that a rerun notices a changed file.
 * Incremental, so that a worker hashes its range as it reads it:
 * hash_init(n), hash_words over consecutive pieces, hash_final. */
typedef struct chunk_hasher {
  uint64_t h;
  size_t done; /* bytes hashed so far: a multiple of 8 until hash_final */
} chunk_hasher;

static void hash_init(chunk_hasher *x, size_t n) {
  x->h = FNV_INIT ^ n;
  x->done = 0;
}

/* Hashes the whole 8-byte words of p[x->done, upto). */
static void hash_words(chunk_hasher *x, const char *p, size_t upto) {
  uint64_t h = x->h;
  size_t i = x->done;
  for (; i + 8 <= upto; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    h = (h ^ w) * 0x100000001b3ull;
    h ^= h >> 29;
  }
  x->h = h;
  x->done = i;
}

/* p[0, n) is the whole chunk. */
static uint64_t hash_final(chunk_hasher *x, const char *p, size_t n) {
  hash_words(x, p, n);
  return fnv1a(x->h, p + x->done, n - x->done);
}

static uint64_t chunk_hash(const char *p, size_t n) {
  chunk_hasher x;
  hash_init(&x, n);
  return hash_final(&x, p, n);
}

/* ======================================================================
 * Worker side
 * ==================================================================== */

typedef struct wstate {
  const job *j;
  int fd;
  /* The chunk, read from the file piece by piece as the parser needs it
   * (never all up front: with load-data, reading, hashing and validating
   * overlap with the server's work on what was already sent). */
  char *chunk;
  size_t chunk_cap;
  size_t have;  /* bytes of the chunk read so far */
  size_t avail; /* bytes the parser may look at: have, + our terminator at the end */
  size_t pos;   /* the next record starts here */
  chunk_hasher hx;
  uint64_t hash; /* set once the whole chunk has been read */
  csv_parser p;
  /* load-data: good bytes [emit, span_end) not yet handed to the server */
  size_t emit, span_end;
  int stream_done;
  int fail_rc; /* why the chunk failed, when the failure is ours (detail set) */
  wbuf reply;
  uint64_t *lines; /* physical line of each good record, for warnings */
  size_t nlines, lines_cap;
  csv_field *fields;
  char *scratch;
  size_t scratch_cap;
  /* insert method */
  MYSQL_STMT *stmt;        /* the full-batch INSERT, prepared once per connection */
  unsigned long stmt_conn; /* connection id the statements were prepared on */
  MYSQL_BIND *binds;
  unsigned long *lens;
  my_bool *nulls;
  wbuf arena;
  wbuf text; /* a tail batch as a text INSERT */
  size_t *offs;
  unsigned rows_in_batch;
  uint64_t inserted;
  const csv_chunk *c;
  dbfork_worker *w;
  uint64_t rejected;
  uint64_t warnings;  /* the server's, for the chunk so far */
  int warn_kept;      /* messages of them in the reply */
  uint64_t last_line; /* where the last record parsed so far starts */
} wstate;

static wstate W;

static void reply_entry(wstate *s, int kind, uint64_t line, const char *text, size_t tlen,
                        const char *raw, size_t rlen) {
  unsigned char k = (unsigned char)kind;
  uint32_t tl = (uint32_t)tlen, rl = (uint32_t)rlen;
  wb_add(&s->reply, &k, 1);
  wb_add(&s->reply, &line, 8);
  wb_add(&s->reply, &tl, 4);
  wb_add(&s->reply, text, tlen);
  wb_add(&s->reply, &rl, 4);
  if (rlen) wb_add(&s->reply, raw, rlen);
}

/* Fails the chunk for a reason of ours (not the server's): the task returns
 * s->fail_rc, whose detail is set. */
#define chunk_fail(s, code, ...) \
  ((s)->fail_rc = dbfork_worker_fail((s)->w, code, 0, NULL, __VA_ARGS__))

/* The last record of the file lacks a terminator: gives the server one, so
 * that it reads the record exactly as the parser did (both read these
 * bytes). Writes at most 1 + CSV_TERM_MAX bytes after buf[len); returns how
 * many. */
static size_t append_eol(const csv_dialect *d, char *buf, size_t len) {
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

#define READ_STEP (256u * 1024) /* pread size: small enough to start streaming at once */

/* Reads the next piece of the chunk and hashes it. */
static int chunk_read_more(wstate *s) {
  const csv_chunk *c = s->c;
  size_t want = c->len - s->have;
  if (want > READ_STEP) want = READ_STEP;
  while (want) {
    ssize_t n = pread(s->fd, s->chunk + s->have, want, (off_t)(c->off + s->have));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      chunk_fail(s, DBFORK_ETASK, "reading %s at byte %llu: %s", s->j->path,
                 (unsigned long long)(c->off + s->have), n < 0 ? strerror(errno) : "file shrank");
      return -1;
    }
    s->have += (size_t)n;
    want -= (size_t)n;
  }
  s->avail = s->have;
  if (s->have < c->len) {
    hash_words(&s->hx, s->chunk, s->have);
    return 0;
  }
  s->hash = hash_final(&s->hx, s->chunk, c->len);
  if (c->no_eol) s->avail += append_eol(&s->j->d, s->chunk, c->len);
  return 0;
}

static int on_good(wstate *s, const csv_record *rec);
static int on_bad(wstate *s, const csv_error *e);

/* Parses the next record of the chunk, reading more of it when needed, and
 * hands it to on_good or on_bad. Returns CSV_OK, CSV_EBADREC (rejected and
 * reported), CSV_END, or CHUNK_FAILED with s->fail_rc set. */
#define CHUNK_FAILED (-1)
static int chunk_next(wstate *s) {
  csv_record rec;
  csv_error err;
  for (;;) {
    int r = csv_parse_record(&s->p, s->chunk + s->pos, s->avail - s->pos, s->have == s->c->len,
                             &rec, &err);
    switch (r) {
      case CSV_EINCOMPLETE:
        if (chunk_read_more(s)) return CHUNK_FAILED;
        continue;
      case CSV_OK: s->pos += rec.raw_len; return on_good(s, &rec) ? CHUNK_FAILED : CSV_OK;
      case CSV_EBADREC: s->pos += err.raw_len; return on_bad(s, &err) ? CHUNK_FAILED : CSV_EBADREC;
      case CSV_END: return CSV_END;
      case CSV_ENOSPC:
        chunk_fail(s, DBFORK_ETASK, "%s: a record from line %llu is too large", s->j->path,
                   (unsigned long long)s->p.line);
        return CHUNK_FAILED;
      default:
        chunk_fail(s, DBFORK_ETASK, "%s: CSV parser failed (%d) at line %llu", s->j->path, r,
                   (unsigned long long)s->p.line);
        return CHUNK_FAILED;
    }
  }
}

static int infile_init(void **ptr, const char *name, void *ud) {
  (void)name;
  *ptr = ud;
  return 0;
}

/* The LOAD DATA LOCAL stream: parses on demand and sends runs of good
 * records straight from the chunk buffer; a rejected record is left out. */
static int infile_read(void *ptr, char *buf, unsigned int len) {
  wstate *s = ptr;
  size_t out = 0;
  while (out < len) {
    size_t n = s->span_end - s->emit;
    int r;
    if (n) {
      if (n > len - out) n = len - out;
      memcpy(buf + out, s->chunk + s->emit, n);
      s->emit += n;
      out += n;
      continue;
    }
    if (s->stream_done) break;
    /* Gather a run of consecutive good records worth about one buffer. */
    s->emit = s->span_end = s->pos;
    while (s->span_end - s->emit < len - out) {
      r = chunk_next(s);
      if (r == CSV_OK) {
        s->span_end = s->pos;
      } else if (r == CSV_EBADREC) {
        if (s->span_end > s->emit) break; /* send the run before it first */
        s->emit = s->span_end = s->pos;
      } else if (r == CSV_END) {
        s->stream_done = 1;
        break;
      } else {
        return -1; /* CHUNK_FAILED: the server gets an empty packet; the query fails */
      }
    }
  }
  return (int)out;
}

static void infile_end(void *ptr) { (void)ptr; }

static int infile_error(void *ptr, char *msg, unsigned int len) {
  (void)ptr;
  snprintf(msg, len, "dbfork: local infile stream failed");
  return 2000;
}

static int worker_close_stmts(dbfork_worker *w, void *arg) {
  wstate *s = arg;
  if (s->stmt) mysql_stmt_close(s->stmt);
  s->stmt = NULL;
  return 0;
}

static int load_init(dbfork_worker *w, void *arg) {
  wstate *s = &W;
  const job *j = arg;
  s->j = j;
  s->fd = open(j->path, O_RDONLY | O_CLOEXEC);
  if (s->fd < 0)
    return dbfork_worker_fail(w, DBFORK_ETASK, 0, NULL, "cannot open %s: %s", j->path,
                              strerror(errno));
  s->fields = calloc(MAX_COLS + 1, sizeof *s->fields);
  if (!s->fields) return DBFORK_ENOMEM;
  /* Prepared statements are closed before the connection (finalizers run
   * before the built-in mysql_close). */
  return dbfork_worker_atexit(w, worker_close_stmts, s, 0);
}

/* The INSERT for `rows` rows of placeholders (the full batch). */
static char *insert_sql(const job *j, unsigned rows) {
  wbuf b = {0};
  unsigned r;
  int c;
  if (wb_str(&b, j->ins_head, NULL)) goto oom;
  for (r = 0; r < rows; r++) {
    if (wb_str(&b, r ? ",(" : " (", NULL)) goto oom;
    for (c = 0; c < j->ncols; c++)
      if (wb_str(&b, c ? ",?" : "?", NULL)) goto oom;
    if (wb_str(&b, ")", NULL)) goto oom;
  }
  if (wb_str(&b, j->dup_sql, NULL)) goto oom;
  return b.p;
oom:
  free(b.p);
  return NULL;
}

static int chunk_sql_failure(wstate *s, unsigned int code, const char *sqlstate, const char *msg);

static MYSQL_STMT *prepare(wstate *s, unsigned rows) {
  MYSQL *m = dbfork_worker_mysql(s->w);
  MYSQL_STMT *st = mysql_stmt_init(m);
  char *sql = insert_sql(s->j, rows);
  if (!st || !sql) {
    free(sql);
    if (st) mysql_stmt_close(st);
    chunk_fail(s, DBFORK_ENOMEM, "out of memory preparing an INSERT");
    return NULL;
  }
  if (mysql_stmt_prepare(st, sql, (unsigned long)strlen(sql))) {
    chunk_sql_failure(s, mysql_stmt_errno(st), mysql_stmt_sqlstate(st), mysql_stmt_error(st));
    mysql_stmt_close(st);
    st = NULL;
  }
  free(sql);
  return st;
}

/* Counts the server's warnings of the statement just run and keeps up to
 * WARN_KEEP messages per chunk, each with the file line of the record it
 * names: "at row N" counts from the statement's first row, which is good
 * record number `first` (0-based) of the chunk. The insert method calls
 * this after every INSERT (the next one clears them), load-data once. */
static void collect_warnings(wstate *s, MYSQL *m, size_t first) {
  unsigned int count = mysql_warning_count(m);
  MYSQL_RES *r;
  MYSQL_ROW row;
  char sql[64];
  if (!count) return;
  s->warnings += count;
  if (s->warn_kept >= WARN_KEEP) return;
  snprintf(sql, sizeof sql, "SHOW WARNINGS LIMIT %d", WARN_KEEP - s->warn_kept);
  if (mysql_query(m, sql) || !(r = mysql_store_result(m))) return;
  while ((row = mysql_fetch_row(r)) && s->warn_kept < WARN_KEEP) {
    const char *msg = row[2] ? row[2] : "";
    const char *at = strstr(msg, "at row ");
    uint64_t line = s->c->first_line;
    if (at) {
      unsigned long long rn = strtoull(at + 7, NULL, 10);
      if (rn >= 1 && first + rn <= s->nlines) line = s->lines[first + rn - 1];
    }
    reply_entry(s, 2, line, msg, strlen(msg), NULL, 0);
    s->warn_kept++;
  }
  mysql_free_result(r);
}

/* Fails the chunk with the server's error, naming the file and the chunk's
 * line range (as a reject names its file and line): what a user needs to
 * find the rows. */
static int chunk_sql_failure(wstate *s, unsigned int code, const char *sqlstate, const char *msg) {
  uint64_t last = s->nlines ? s->lines[s->nlines - 1] : s->c->first_line;
  return s->fail_rc = dbfork_worker_fail(
             s->w, DBFORK_ESQL, code, sqlstate, "%s: lines %llu-%llu: %s", s->j->path,
             (unsigned long long)s->c->first_line, (unsigned long long)last, msg);
}

/* Executes the rows gathered so far (a full batch, or the tail). */
/* A short tail batch goes as one text INSERT with escaped values: a
 * prepared statement for a row count used once would cost a prepare, an
 * execute and a close (three round trips) instead of one. */
static int flush_tail_text(wstate *s) {
  const job *j = s->j;
  MYSQL *m = dbfork_worker_mysql(s->w);
  unsigned r;
  int c;
  s->text.len = 0;
  if (wb_str(&s->text, j->ins_head, NULL)) goto oom;
  for (r = 0; r < s->rows_in_batch; r++) {
    if (wb_add(&s->text, r ? ",(" : " (", 2)) goto oom;
    for (c = 0; c < j->ncols; c++) {
      size_t k = (size_t)r * j->ncols + c;
      if (c && wb_add(&s->text, ",", 1)) goto oom;
      if (s->nulls[k]) {
        if (wb_add(&s->text, "NULL", 4)) goto oom;
        continue;
      }
      /* Room for the worst case: every byte escaped, plus quotes. */
      if (wb_add(&s->text, "'", 1) || wb_reserve(&s->text, (size_t)s->lens[k] * 2 + 2)) goto oom;
      s->text.len +=
          mysql_real_escape_string(m, s->text.p + s->text.len, s->arena.p + s->offs[k], s->lens[k]);
      if (wb_add(&s->text, "'", 1)) goto oom;
    }
    if (wb_add(&s->text, ")", 1)) goto oom;
  }
  if (wb_str(&s->text, j->dup_sql, NULL)) goto oom;
  if (mysql_real_query(m, s->text.p, (unsigned long)s->text.len)) {
    chunk_sql_failure(s, mysql_errno(m), mysql_sqlstate(m), mysql_error(m));
    return -1;
  }
  s->inserted += mysql_affected_rows(m);
  collect_warnings(s, m, s->nlines - s->rows_in_batch);
  s->rows_in_batch = 0;
  s->arena.len = 0;
  return 0;
oom:
  chunk_fail(s, DBFORK_ENOMEM, "out of memory building an INSERT");
  return -1;
}

static int flush_batch(wstate *s) {
  const job *j = s->j;
  MYSQL_STMT *st;
  unsigned r, n = s->rows_in_batch;
  int c;
  if (!n) return 0;
  if (n != j->batch) return flush_tail_text(s);
  if (!s->stmt && !(s->stmt = prepare(s, n))) return -1;
  st = s->stmt;
  for (r = 0; r < n; r++)
    for (c = 0; c < j->ncols; c++) {
      size_t k = (size_t)r * j->ncols + c;
      MYSQL_BIND *b = &s->binds[k];
      memset(b, 0, sizeof *b);
      b->buffer_type = MYSQL_TYPE_STRING;
      b->buffer = s->arena.p + s->offs[k];
      b->buffer_length = s->lens[k];
      b->length = &s->lens[k];
      b->is_null = &s->nulls[k];
    }
  if (mysql_stmt_bind_param(st, s->binds) || mysql_stmt_execute(st)) {
    chunk_sql_failure(s, mysql_stmt_errno(st), mysql_stmt_sqlstate(st), mysql_stmt_error(st));
    return -1;
  }
  s->inserted += mysql_stmt_affected_rows(st);
  collect_warnings(s, dbfork_worker_mysql(s->w), s->nlines - n);
  s->rows_in_batch = 0;
  s->arena.len = 0;
  return 0;
}

static int on_good(wstate *s, const csv_record *rec) {
  const job *j = s->j;
  size_t i;
  if (s->nlines == s->lines_cap) {
    size_t cap = s->lines_cap ? s->lines_cap * 2 : 4096;
    uint64_t *nl = realloc(s->lines, cap * sizeof *nl);
    if (!nl) return chunk_fail(s, DBFORK_ENOMEM, "out of memory");
    s->lines = nl;
    s->lines_cap = cap;
  }
  s->lines[s->nlines++] = rec->line;
  s->last_line = rec->line;
  if (j->method == METHOD_LOAD_DATA) return 0; /* infile_read sends rec->raw */
  for (i = 0; i < rec->nfields; i++) {
    size_t k = (size_t)s->rows_in_batch * j->ncols + i;
    s->offs[k] = s->arena.len;
    s->lens[k] = (unsigned long)rec->fields[i].len;
    s->nulls[k] = (my_bool)rec->fields[i].null;
    if (wb_add(&s->arena, rec->fields[i].ptr, rec->fields[i].len))
      return chunk_fail(s, DBFORK_ENOMEM, "out of memory");
  }
  if (++s->rows_in_batch == j->batch && flush_batch(s)) return -1;
  return 0;
}

static int on_bad(wstate *s, const csv_error *e) {
  char text[256];
  int n = csv_error_format(e, text, sizeof text);
  /* The raw bytes as they are in the file: not the terminator we appended
   * to a last record that had none. */
  size_t rlen = e->raw_len, avail = (size_t)(s->chunk + s->c->len - e->raw);
  const job *j = s->j;
  s->last_line = e->rec_line;
  ++s->rejected;
  if (!j->max_errors) return chunk_fail(s, DBFORK_ETASK, "%s: %s", j->path, text);
  /* Give up on the chunk as soon as it cannot fit in --max-errors any more
   * (reserve_rejects decides for good at its end). */
  if (s->rejected + __atomic_load_n(j->rejects_total, __ATOMIC_SEQ_CST) > j->max_errors)
    return chunk_fail(s, DBFORK_ETASK,
                      "%s: %s: more than --max-errors=%llu rows rejected in all (this chunk: "
                      "lines %llu-%llu)",
                      j->path, text, (unsigned long long)j->max_errors,
                      (unsigned long long)s->c->first_line, (unsigned long long)e->rec_line);
  if (rlen > avail) rlen = avail;
  reply_entry(s, 1, e->rec_line, text, n > 0 ? (size_t)n : 0, e->raw, rlen);
  return 0;
}

static int duplicate_failure(wstate *s, MYSQL *m, uint64_t loaded) {
  MYSQL_RES *r;
  MYSQL_ROW row;
  char msg[512] = "rows were skipped as duplicates";
  unsigned int code = 1062;
  if (!mysql_query(m, "SHOW WARNINGS LIMIT 1") && (r = mysql_store_result(m))) {
    if ((row = mysql_fetch_row(r)) && row[2]) {
      snprintf(msg, sizeof msg, "%s", row[2]);
      code = row[1] ? (unsigned int)strtoul(row[1], NULL, 10) : code;
    }
    mysql_free_result(r);
  }
  snprintf(msg + strlen(msg), sizeof msg - strlen(msg),
           " (%llu of %llu rows would load; --on-duplicate=error)", (unsigned long long)loaded,
           (unsigned long long)s->nlines);
  return chunk_sql_failure(s, code, code == 1062 ? "23000" : "HY000", msg);
}

/* --max-errors K holds for the whole load, not per chunk: at the end of its
 * task, just before the pool's COMMIT, a chunk adds its rejects to the
 * shared total; if that makes more than K, it takes them back and fails
 * (its transaction rolls back, and the parent stops submitting). So the
 * chunks that commit never reject more than K rows in all, and a rerun after
 * fixing the rows loads the rest.
 *
 * A reservation whose COMMIT then fails stays counted until the chunk runs
 * again: every attempt of a chunk first takes back what the chunk's previous
 * attempt reserved (j->chunk_reserved, shared), whichever worker made it —
 * a retry after a lost worker, after a deadlock on COMMIT, or after an
 * unknown COMMIT outcome found it not committed. A chunk never runs in two
 * workers at once. What remains: a chunk that fails for good keeps its
 * reservation for the rest of this run, and the load stops anyway; a rerun
 * starts again from the committed rejects in the progress table. Returns 0,
 * or fails the chunk. */
static uint64_t *chunk_slot(const job *j, uint64_t index) {
  return index < j->nchunk_reserved ? &j->chunk_reserved[index] : NULL;
}

static void unreserve_rejects(wstate *s) {
  uint64_t *slot = chunk_slot(s->j, s->c->index);
  uint64_t old = slot ? __atomic_exchange_n(slot, 0, __ATOMIC_SEQ_CST) : 0;
  if (old) __atomic_fetch_sub(s->j->rejects_total, old, __ATOMIC_SEQ_CST);
}

static int reserve_rejects(wstate *s) {
  const job *j = s->j;
  uint64_t before, *slot = chunk_slot(j, s->c->index);
  if (!s->rejected) return 0;
  before = __atomic_fetch_add(j->rejects_total, s->rejected, __ATOMIC_SEQ_CST);
  if (before + s->rejected > j->max_errors) {
    __atomic_fetch_sub(j->rejects_total, s->rejected, __ATOMIC_SEQ_CST);
    return chunk_fail(s, DBFORK_ETASK,
                      "%s: more than --max-errors=%llu rows rejected in all (this chunk: lines "
                      "%llu-%llu, %llu rejected)",
                      j->path, (unsigned long long)j->max_errors,
                      (unsigned long long)s->c->first_line, (unsigned long long)s->last_line,
                      (unsigned long long)s->rejected);
  }
  if (slot) __atomic_store_n(slot, s->rejected, __ATOMIC_SEQ_CST);
  return 0;
}

static int load_task(dbfork_worker *w, const void *in, size_t len, void *arg) {
  wstate *s = &W;
  const job *j = arg;
  MYSQL *m = dbfork_worker_mysql(w);
  csv_chunk c;
  chunk_reply rep;
  uint64_t loaded = 0;
  char sql[512];
  int r;

  if (len != sizeof c) return dbfork_worker_fail(w, DBFORK_ETASK, 0, NULL, "bad chunk descriptor");
  memcpy(&c, in, sizeof c);
  s->c = &c;
  s->w = w;
  if (s->stmt && s->stmt_conn != mysql_thread_id(m)) {
    /* The worker reconnected (server restart, killed session): statements
     * prepared on the old session are gone with it. */
    worker_close_stmts(w, s);
  }
  s->stmt_conn = mysql_thread_id(m);
  /* An earlier attempt of this chunk (in any worker) may have reserved
   * rejects: it did not commit (a chunk is only run again when it did not). */
  unreserve_rejects(s);
  s->rejected = 0;
  s->warnings = 0;
  s->warn_kept = 0;
  s->last_line = c.first_line;
  s->nlines = 0;
  s->inserted = 0;
  s->rows_in_batch = 0;
  s->arena.len = 0;
  s->reply.len = 0;
  s->fail_rc = 0;
  memset(&rep, 0, sizeof rep);
  wb_add(&s->reply, &rep, sizeof rep); /* placeholder, filled at the end */

  /* Our own range of the file, read as it is parsed (chunk_next): the
   * parent never touched these bytes. */
  if (c.len + 16 > s->chunk_cap) {
    char *np = realloc(s->chunk, c.len + 16);
    if (!np) return DBFORK_ENOMEM;
    s->chunk = np;
    s->chunk_cap = c.len + 16;
  }
  s->have = s->avail = s->pos = 0;
  s->emit = s->span_end = 0;
  s->stream_done = 0;
  hash_init(&s->hx, c.len);
  if (s->scratch_cap < c.len + 16) {
    free(s->scratch);
    s->scratch_cap = c.len + 16;
    s->scratch = malloc(s->scratch_cap);
    if (!s->scratch) return DBFORK_ENOMEM;
  }
  if (j->method == METHOD_INSERT && !s->binds) {
    size_t nb = (size_t)j->batch * j->ncols;
    s->binds = calloc(nb, sizeof *s->binds);
    s->lens = calloc(nb, sizeof *s->lens);
    s->nulls = calloc(nb, sizeof *s->nulls);
    s->offs = calloc(nb, sizeof *s->offs);
    if (!s->binds || !s->lens || !s->nulls || !s->offs) return DBFORK_ENOMEM;
  }
  csv_parser_init(&s->p, &j->d, s->fields, MAX_COLS, s->scratch, s->scratch_cap);
  s->p.expect_fields = (size_t)j->ncols;
  csv_parser_seek(&s->p, &c);

  /* Validate and load record by record. */
  if (j->method == METHOD_LOAD_DATA) {
    /* One statement streams the whole chunk; infile_read validates as the
     * server asks for more. (A chunk of only rejected records loads 0 rows.) */
    mysql_set_local_infile_handler(m, infile_init, infile_read, infile_end, infile_error, s);
    if (mysql_query(m, j->load_sql)) {
      if (s->fail_rc) return s->fail_rc; /* our stream failed: detail set */
      return chunk_sql_failure(s, mysql_errno(m), mysql_sqlstate(m), mysql_error(m));
    }
    if (!s->stream_done)
      return dbfork_worker_fail(w, DBFORK_ETASK, 0, NULL,
                                "%s: the server stopped reading chunk %llu before its end", j->path,
                                (unsigned long long)c.index);
    loaded = mysql_affected_rows(m);
    if (j->dup == DUP_ERROR && loaded != s->nlines) {
      /* With LOCAL the server cannot stop the upload, so it turns
       * duplicate-key errors into warnings and skips the rows. We asked
       * for errors: fail the chunk (the transaction rolls back). */
      return duplicate_failure(s, m, loaded);
    }
    collect_warnings(s, m, 0);
  } else {
    while ((r = chunk_next(s)) != CSV_END)
      if (r == CHUNK_FAILED) return s->fail_rc ? s->fail_rc : DBFORK_ESQL;
    if (flush_batch(s)) return s->fail_rc ? s->fail_rc : DBFORK_ESQL;
    loaded = s->inserted;
  }

  /* 4. Record the chunk in the same transaction as its rows. */
  snprintf(sql, sizeof sql,
           "INSERT INTO %s.dbfork_load_progress (job_id, chunk_no, byte_offset, byte_len, "
           "first_line, records, rejected, warnings, worker_pid, chunk_hash) VALUES ('%s', %llu, "
           "%llu, %llu, %llu, %llu, %llu, %llu, %ld, %llu)",
           j->db, j->job_id, (unsigned long long)c.index, (unsigned long long)c.off,
           (unsigned long long)c.len, (unsigned long long)c.first_line,
           (unsigned long long)s->nlines, (unsigned long long)s->rejected,
           (unsigned long long)s->warnings, (long)getpid(), (unsigned long long)s->hash);
  if (mysql_query(m, sql))
    return chunk_sql_failure(s, mysql_errno(m), mysql_sqlstate(m), mysql_error(m));
  if (reserve_rejects(s)) return s->fail_rc;

  rep.index = c.index;
  rep.records = c.records;
  rep.loaded = loaded;
  rep.rejected = s->rejected;
  rep.warnings = s->warnings;
  rep.first_line = c.first_line;
  rep.last_line = s->nlines ? s->lines[s->nlines - 1] : c.first_line;
  memcpy(s->reply.p, &rep, sizeof rep);
  r = dbfork_worker_reply(w, s->reply.p, s->reply.len);
  if (r) unreserve_rejects(s);
  return r;
}

/* ======================================================================
 * Parent side
 * ==================================================================== */

typedef struct done_chunk {
  uint64_t index, off, len, hash, records;
} done_chunk;

typedef struct loader {
  job j;
  dbfork_pool *pool;
  MYSQL *m;
  int fd;
  uint64_t file_size;
  /* resume */
  done_chunk *done;
  size_t ndone, done_seen;
  int verify_only, mismatch;
  char mismatch_msg[512];
  /* progress */
  uint64_t bytes_done, bytes_skipped, rows_loaded, records, rejected, warnings, retries;
  uint64_t rejected_before; /* by chunks an earlier run of this load committed */
  uint64_t chunks_total, chunks_done, chunks_skipped, chunks_failed, chunks_cancelled;
  uint64_t in_flight;
  double t0, last_print;
  int tty, json, quiet;
  FILE *reject;
  const char *reject_path;
  int stop; /* stop submitting: a chunk failed or too many rejects */
  char first_error[1024];
  int unknown_commits;
  /* Chunks whose COMMIT outcome was unknown and which turned out not to be
   * committed: resubmitted from the main loop, never from inside a
   * completion callback (where a submit cannot wait for room). */
  csv_chunk *redo;
  size_t nredo, capredo;
  char db_plain[130];
} loader;

typedef struct chunk_ticket {
  loader *L;
  csv_chunk c;
} chunk_ticket;

static int done_cmp(const void *a, const void *b) {
  const done_chunk *x = a, *y = b;
  return x->index < y->index ? -1 : x->index > y->index;
}

static const done_chunk *done_find(const loader *L, uint64_t index) {
  done_chunk key;
  key.index = index;
  return L->ndone ? bsearch(&key, L->done, L->ndone, sizeof key, done_cmp) : NULL;
}

static void print_progress(loader *L, int final) {
  double now = cli_now(), el = now - L->t0;
  double frac, rate;
  uint64_t total = L->file_size ? L->file_size : 1;
  char b1[32], b2[32];
  if (L->quiet || L->json) return;
  if (!final && now - L->last_print < (L->tty ? 0.2 : 5.0)) return;
  L->last_print = now;
  frac = (double)(L->bytes_done + L->bytes_skipped) / (double)total;
  if (frac > 1) frac = 1;
  rate = el > 0 ? (double)L->rows_loaded / el : 0;
  if (L->tty) {
    int width = 30, k, filled = (int)(frac * width);
    double eta = frac > 0 && L->bytes_done
                     ? el * (1 - frac) / (frac - (double)L->bytes_skipped / total + 1e-9)
                     : 0;
    dbfork_worker_stats ws[64];
    int nw = dbfork_pool_stats_get(L->pool, NULL, ws, 64), busy = 0;
    for (k = 0; k < nw && k < 64; k++) busy += ws[k].state == DBFORK_WORKER_BUSY;
    fprintf(stderr, "\r[");
    for (k = 0; k < width; k++) fputc(k < filled ? '#' : '.', stderr);
    fprintf(stderr, "] %5.1f%%  %s rows  %s rows/s  ETA %4.0fs  workers %d/%d busy ", frac * 100,
            cli_num(L->rows_loaded, b1, sizeof b1),
            cli_num((unsigned long long)rate, b2, sizeof b2), final ? 0.0 : eta, busy, nw);
    if (final) fputc('\n', stderr);
  } else {
    fprintf(stderr, "dbfork load: %.1f%% of %s bytes, %s rows, %.0f rows/s, %.1f s\n", frac * 100,
            cli_num(L->file_size, b1, sizeof b1), cli_num(L->rows_loaded, b2, sizeof b2), rate, el);
  }
}

/* A rejected record of a committed chunk: to stderr and the reject file. */
static void report_reject(loader *L, const char *text, size_t tl, const char *raw, size_t rl) {
  if (!L->json)
    fprintf(stderr, "%sdbfork load: %s: rejected %.*s\n", L->tty ? "\r" : "", L->j.path, (int)tl,
            text);
  if (L->reject) {
    fprintf(L->reject, "# %s: %.*s\n", L->j.path, (int)tl, text);
    fwrite(raw, 1, rl, L->reject);
    if (rl && raw[rl - 1] != '\n') fputc('\n', L->reject);
    fflush(L->reject);
  }
}

/* Parses a worker's chunk reply: counts, rejects to the reject file,
 * warnings to stderr. */
static void take_reply(loader *L, const dbfork_result *r) {
  chunk_reply rep;
  const char *p = r->data, *end = (const char *)r->data + r->len;
  if (r->len < sizeof rep) return;
  memcpy(&rep, p, sizeof rep);
  p += sizeof rep;
  L->rows_loaded += rep.loaded;
  L->records += rep.records;
  L->rejected += rep.rejected;
  L->warnings += rep.warnings;
  if (rep.warnings && !L->json)
    fprintf(stderr, "%sdbfork load: chunk %llu (lines %llu-%llu): %llu server warning%s\n",
            L->tty ? "\r" : "", (unsigned long long)rep.index, (unsigned long long)rep.first_line,
            (unsigned long long)rep.last_line, (unsigned long long)rep.warnings,
            rep.warnings == 1 ? "" : "s");
  while (p + 17 <= end) {
    unsigned char kind = (unsigned char)p[0];
    uint64_t line;
    uint32_t tl, rl;
    const char *text, *raw;
    memcpy(&line, p + 1, 8);
    memcpy(&tl, p + 9, 4);
    text = p + 13;
    if (text + tl + 4 > end) break;
    memcpy(&rl, text + tl, 4);
    raw = text + tl + 4;
    if (raw + rl > end) break;
    p = raw + rl;
    if (kind == 1) {
      report_reject(L, text, tl, raw, rl);
    } else if (!L->json) {
      fprintf(stderr, "    line %llu: %.*s\n", (unsigned long long)line, (int)tl, text);
    }
  }
}

static int chunk_exists(loader *L, uint64_t index) {
  char sql[256];
  snprintf(sql, sizeof sql,
           "SELECT COUNT(*) FROM %s.dbfork_load_progress WHERE job_id='%s' AND chunk_no=%llu",
           L->j.db, L->j.job_id, (unsigned long long)index);
  return cli_query_ll(L->m, sql) == 1;
}

typedef struct recover_ud {
  loader *L;
  const char *end; /* the chunk's end in the buffer: not our terminator */
  uint64_t found;
} recover_ud;

static int recover_bad(void *ud, const csv_error *e) {
  recover_ud *u = ud;
  char text[256];
  int n = csv_error_format(e, text, sizeof text);
  size_t rlen = e->raw_len, avail = (size_t)(u->end - e->raw);
  if (rlen > avail) rlen = avail;
  report_reject(u->L, text, n > 0 ? (size_t)n : 0, e->raw, rlen);
  u->found++;
  return 0;
}

/* A chunk whose COMMIT outcome was unknown turned out committed: its reply
 * never came, so take its counts from its progress row and find its
 * rejected records again (the same parser over the same bytes) for the
 * reject file. rows_loaded counts the records sent (what the row says). */
static void recover_committed(loader *L, const csv_chunk *c) {
  char sql[512];
  MYSQL_RES *r;
  MYSQL_ROW row;
  uint64_t sent = 0, rejected = 0, warnings = 0;
  snprintf(sql, sizeof sql,
           "SELECT records, rejected, warnings FROM %s.dbfork_load_progress WHERE job_id='%s' AND "
           "chunk_no=%llu",
           L->j.db, L->j.job_id, (unsigned long long)c->index);
  if (!mysql_query(L->m, sql) && (r = mysql_store_result(L->m))) {
    if ((row = mysql_fetch_row(r))) {
      sent = row[0] ? strtoull(row[0], NULL, 10) : 0;
      rejected = row[1] ? strtoull(row[1], NULL, 10) : 0;
      warnings = row[2] ? strtoull(row[2], NULL, 10) : 0;
    }
    mysql_free_result(r);
  }
  L->records += c->records;
  L->rows_loaded += sent;
  L->rejected += rejected;
  L->warnings += warnings;
  if (rejected) {
    size_t cap = (size_t)c->len + 16, got = 0;
    char *buf = malloc(cap), *scratch = malloc(cap);
    csv_field *fields = calloc(MAX_COLS + 1, sizeof *fields);
    recover_ud u = {L, NULL, 0};
    csv_parser p;
    while (buf && got < c->len) {
      ssize_t n = pread(L->fd, buf + got, (size_t)c->len - got, (off_t)(c->off + got));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += (size_t)n;
    }
    if (buf && scratch && fields && got == c->len) {
      size_t len = got + (c->no_eol ? append_eol(&L->j.d, buf, got) : 0);
      u.end = buf + c->len;
      csv_parser_init(&p, &L->j.d, fields, MAX_COLS, scratch, cap);
      p.expect_fields = (size_t)L->j.ncols;
      csv_parser_seek(&p, c);
      csv_parse_chunk(&p, buf, len, NULL, recover_bad, &u, NULL);
    }
    if (u.found != rejected && !L->json)
      fprintf(stderr,
              "%sdbfork load: chunk %llu (from line %llu): %llu rejected rows committed, %llu "
              "found again for the reject file\n",
              L->tty ? "\r" : "", (unsigned long long)c->index, (unsigned long long)c->first_line,
              (unsigned long long)rejected, (unsigned long long)u.found);
    free(buf);
    free(scratch);
    free(fields);
  }
}

static void submit_chunk(loader *L, const csv_chunk *c);

static void chunk_done(const dbfork_result *r, void *ud) {
  chunk_ticket *tk = ud;
  loader *L = tk->L;
  L->in_flight--;
  if (r->attempts > 1) L->retries += r->attempts - 1;
  if (r->status == 0) {
    L->chunks_done++;
    L->bytes_done += tk->c.len;
    take_reply(L, r);
  } else if (r->status == DBFORK_ECANCELED) {
    L->chunks_cancelled++;
  } else if (r->status == DBFORK_ECOMMITUNKNOWN) {
    /* The progress row tells: it was committed with the rows, or neither. */
    if (chunk_exists(L, tk->c.index)) {
      L->chunks_done++;
      L->bytes_done += tk->c.len;
      L->unknown_commits++;
      recover_committed(L, &tk->c);
    } else if (!L->stop) {
      L->unknown_commits++;
      if (L->nredo == L->capredo) {
        size_t cap = L->capredo ? L->capredo * 2 : 16;
        csv_chunk *nr = realloc(L->redo, cap * sizeof *nr);
        if (!nr) {
          L->stop = 1;
          snprintf(L->first_error, sizeof L->first_error, "out of memory");
          free(tk);
          return;
        }
        L->redo = nr;
        L->capredo = cap;
      }
      L->redo[L->nredo++] = tk->c;
    }
  } else {
    char msg[1024];
    L->chunks_failed++;
    snprintf(msg, sizeof msg, "chunk %llu (from line %llu, bytes %llu-%llu) failed: %s",
             (unsigned long long)tk->c.index, (unsigned long long)tk->c.first_line,
             (unsigned long long)tk->c.off, (unsigned long long)(tk->c.off + tk->c.len),
             r->message);
    if (r->mysql_errno)
      snprintf(msg + strlen(msg), sizeof msg - strlen(msg), " (MySQL error %u, SQLSTATE %s)",
               r->mysql_errno, r->sqlstate);
    if (!L->json)
      fprintf(stderr, "%sdbfork load: %s; nothing of it was committed\n", L->tty ? "\r" : "", msg);
    if (!L->first_error[0]) snprintf(L->first_error, sizeof L->first_error, "%s", msg);
    L->stop = 1;
  }
  free(tk);
  print_progress(L, 0);
}

static void submit_chunk(loader *L, const csv_chunk *c) {
  chunk_ticket *tk = malloc(sizeof *tk);
  int rc;
  if (!tk) {
    L->stop = 1;
    return;
  }
  tk->L = L;
  tk->c = *c;
  rc = dbfork_submit(L->pool, &tk->c, sizeof tk->c, chunk_done, tk);
  if (rc) {
    free(tk);
    if (rc != DBFORK_ECLOSED && !L->first_error[0])
      snprintf(L->first_error, sizeof L->first_error, "cannot submit chunk: %s%s%s",
               dbfork_strerror(rc), rc == DBFORK_EINIT ? ": " : "",
               rc == DBFORK_EINIT ? dbfork_pool_last_error(L->pool) : "");
    L->stop = 1;
    return;
  }
  L->in_flight++;
}

static void submit_redo(loader *L) {
  while (L->nredo && !L->stop) submit_chunk(L, &L->redo[--L->nredo]);
}

static uint64_t chunk_hash_fd(int fd, uint64_t off, uint64_t len) {
  char *buf = malloc(len ? len : 1);
  uint64_t got = 0, h;
  if (!buf) return 0;
  while (got < len) {
    ssize_t n = pread(fd, buf + got, len - got, (off_t)(off + got));
    if (n <= 0) break;
    got += (uint64_t)n;
  }
  h = chunk_hash(buf, got);
  free(buf);
  return h;
}

static int on_chunk(void *ud, const csv_chunk *c) {
  loader *L = ud;
  const done_chunk *d = done_find(L, c->index);
  L->chunks_total++;
  if (d) {
    /* Loaded by an earlier run: only if it is the very same bytes. */
    L->done_seen++;
    if (d->off != c->off || d->len != c->len || d->hash != chunk_hash_fd(L->fd, c->off, c->len)) {
      snprintf(L->mismatch_msg, sizeof L->mismatch_msg,
               "chunk %llu (from line %llu) differs from what an earlier run of this load "
               "committed (bytes %llu+%llu then, %llu+%llu now): the file or the options "
               "(--chunk-size, dialect, --skip-lines) changed",
               (unsigned long long)c->index, (unsigned long long)c->first_line,
               (unsigned long long)d->off, (unsigned long long)d->len, (unsigned long long)c->off,
               (unsigned long long)c->len);
      L->mismatch = 1;
      return 1;
    }
    if (!L->verify_only) {
      L->chunks_skipped++;
      L->bytes_skipped += c->len;
    }
    return 0;
  }
  if (L->verify_only) return 0;
  if (L->stop) return 1;
  submit_redo(L);
  submit_chunk(L, c);
  return L->stop ? 1 : 0;
}

static void on_interrupt(uv_signal_t *s, int signum) {
  loader *L = s->data;
  fprintf(stderr,
          "\ndbfork load: %s: stopping; chunks in progress finish, rerun the same "
          "command to resume\n",
          strsignal(signum));
  L->stop = 1;
  dbfork_pool_stop(L->pool);
}

/* ---- setup ---- */
static int split_table(const char *arg, const char *defdb, char *db, size_t dblen, char *t,
                       size_t tlen) {
  const char *dot = strchr(arg, '.');
  if (dot) {
    snprintf(db, dblen, "%.*s", (int)(dot - arg), arg);
    snprintf(t, tlen, "%s", dot + 1);
  } else {
    if (!defdb) return -1;
    snprintf(db, dblen, "%s", defdb);
    snprintf(t, tlen, "%s", arg);
  }
  return 0;
}

static void sql_string(MYSQL *m, char *out, const char *in, size_t inlen) {
  out[0] = '\'';
  mysql_real_escape_string(m, out + 1, in, (unsigned long)inlen);
  strcat(out, "'");
}

/* Reads the table's columns (or checks --columns against them) and builds
 * the column list, the INSERT head and the ON DUPLICATE KEY UPDATE clause.
 * Every column name goes through cli_quote_column: one name, never split,
 * backticks doubled. Prints what went wrong (naming the option or the
 * column) and returns -1. */
static int setup_columns(loader *L, const char *dbname, const char *tname, const char *cols) {
  char sql[1024], e1[300], e2[300], why[200];
  MYSQL_RES *r;
  MYSQL_ROW row;
  job *j = &L->j;
  char(*names)[CLI_COLUMN_NAME_MAX + 1] = NULL;
  int *pick = NULL;
  int n = 0, i, k, rc = -1;
  wbuf cl = {0}, head = {0}, dup = {0};
  sql_string(L->m, e1, dbname, strlen(dbname));
  sql_string(L->m, e2, tname, strlen(tname));
  snprintf(sql, sizeof sql,
           "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA=%s AND "
           "TABLE_NAME=%s ORDER BY ORDINAL_POSITION",
           e1, e2);
  if (mysql_query(L->m, sql) || !(r = mysql_store_result(L->m))) {
    fprintf(stderr, "dbfork load: cannot read the columns of %s: %s\n", j->table,
            mysql_error(L->m));
    return -1;
  }
  if (mysql_num_rows(r) > MAX_COLS) {
    fprintf(stderr, "dbfork load: option --table: table %s has %llu columns, more than %d\n",
            j->table, (unsigned long long)mysql_num_rows(r), MAX_COLS);
    mysql_free_result(r);
    return -1;
  }
  names = calloc(MAX_COLS, sizeof *names);
  pick = calloc(MAX_COLS, sizeof *pick);
  if (!names || !pick) {
    mysql_free_result(r);
    fprintf(stderr, "dbfork load: out of memory\n");
    goto out;
  }
  while ((row = mysql_fetch_row(r)) && n < MAX_COLS) {
    if (!row[0] || strlen(row[0]) > CLI_COLUMN_NAME_MAX) {
      /* The server never returns one: 64 characters are at most 256 bytes. */
      fprintf(stderr, "dbfork load: table %s: column name '%.40s...' is too long\n", j->table,
              row[0] ? row[0] : "");
      mysql_free_result(r);
      goto out;
    }
    snprintf(names[n++], sizeof names[0], "%s", row[0]);
  }
  mysql_free_result(r);
  if (!n) {
    fprintf(stderr, "dbfork load: option --table: table %s does not exist (or has no columns)\n",
            j->table);
    goto out;
  }
  j->ncols = 0;
  if (cols) {
    const char *p = cols;
    while (*p) {
      const char *comma = strchr(p, ',');
      size_t len = comma ? (size_t)(comma - p) : strlen(p);
      for (i = 0; i < n && !(strlen(names[i]) == len && !strncasecmp(names[i], p, len)); i++) {
      }
      if (i == n) {
        fprintf(stderr, "dbfork load: option --columns: table %s has no column '%.*s'\n", j->table,
                (int)len, p);
        goto out;
      }
      if (j->ncols >= MAX_COLS) {
        fprintf(stderr, "dbfork load: option --columns: more than %d columns\n", MAX_COLS);
        goto out;
      }
      for (k = 0; k < j->ncols && pick[k] != i; k++) {
      }
      if (k < j->ncols) {
        fprintf(stderr, "dbfork load: option --columns: column '%.*s' is named twice\n", (int)len,
                p);
        goto out;
      }
      pick[j->ncols++] = i;
      p += len;
      if (*p == ',') p++;
    }
  } else {
    for (i = 0; i < n; i++) pick[j->ncols++] = i;
  }
  if (wb_str(&head,
             j->dup == DUP_REPLACE  ? "REPLACE"
             : j->dup == DUP_IGNORE ? "INSERT IGNORE"
                                    : "INSERT",
             " INTO ", j->table, " (", NULL) ||
      wb_str(&dup, j->dup == DUP_UPDATE ? " ON DUPLICATE KEY UPDATE " : "", NULL) ||
      wb_str(&cl, "", NULL))
    goto oom;
  for (i = 0; i < j->ncols; i++) {
    char q[CLI_COLUMN_QUOTED_MAX];
    const char *sep = i ? "," : "";
    if (cli_quote_column(names[pick[i]], q, sizeof q, why, sizeof why)) {
      fprintf(stderr, "dbfork load: %s column %d of %s: %s\n", cols ? "option --columns:" : "table",
              i + 1, j->table, why);
      goto out;
    }
    if (wb_str(&cl, sep, q, NULL)) goto oom;
    if (j->dup == DUP_UPDATE && wb_str(&dup, sep, q, "=VALUES(", q, ")", NULL)) goto oom;
  }
  if (wb_str(&head, cl.p, ") VALUES", NULL)) goto oom;
  j->cols_sql = cl.p;
  j->ins_head = head.p;
  j->dup_sql = dup.p;
  cl.p = head.p = dup.p = NULL;
  rc = 0;
  goto out;
oom:
  fprintf(stderr, "dbfork load: out of memory building the column list of %s\n", j->table);
out:
  free(cl.p);
  free(head.p);
  free(dup.p);
  free(names);
  free(pick);
  return rc;
}

/* A chunk is "loaded and recorded, or neither" only if the table rolls back:
 * on MyISAM, Aria, MEMORY ... a failed chunk keeps the rows it sent, and the
 * rerun loads them again. Refuses any engine the server does not list as
 * transactional (information_schema.ENGINES.TRANSACTIONS = 'YES'), before
 * anything is written. Prints why and returns -1. */
static int check_engine(loader *L, const char *dbname, const char *tname) {
  char sql[1024], e1[300], e2[300];
  MYSQL_RES *r;
  MYSQL_ROW row;
  int rc = -1;
  sql_string(L->m, e1, dbname, strlen(dbname));
  sql_string(L->m, e2, tname, strlen(tname));
  snprintf(sql, sizeof sql,
           "SELECT t.TABLE_TYPE, t.ENGINE, e.TRANSACTIONS FROM information_schema.TABLES t LEFT "
           "JOIN information_schema.ENGINES e ON e.ENGINE = t.ENGINE WHERE t.TABLE_SCHEMA=%s AND "
           "t.TABLE_NAME=%s",
           e1, e2);
  if (mysql_query(L->m, sql) || !(r = mysql_store_result(L->m))) {
    fprintf(stderr, "dbfork load: cannot read the storage engine of %s: %s\n", L->j.table,
            mysql_error(L->m));
    return -1;
  }
  row = mysql_fetch_row(r);
  if (!row) {
    fprintf(stderr, "dbfork load: option --table: table %s does not exist\n", L->j.table);
  } else if (!row[1]) {
    fprintf(stderr,
            "dbfork load: option --table: %s is a %s, not a table with a storage engine: load "
            "into its base table\n",
            L->j.table, row[0] ? row[0] : "view");
  } else if (!row[2] || strcasecmp(row[2], "YES")) {
    fprintf(stderr,
            "dbfork load: option --table: table %s uses the %s engine, which has no "
            "transactions: a chunk that fails could not roll back, and a rerun would load its "
            "rows twice. Convert it first: ALTER TABLE %s ENGINE=InnoDB\n",
            L->j.table, row[1], L->j.table);
  } else {
    rc = 0;
  }
  mysql_free_result(r);
  return rc;
}

static int build_load_sql(loader *L) {
  job *j = &L->j;
  char ft[40], lt[40], enc[8], esc[8];
  char e = (char)j->d.enclosure, s = (char)j->d.escape;
  wbuf b = {0};
  sql_string(L->m, ft, (const char *)j->d.field_term, j->d.field_term_len);
  sql_string(L->m, lt, (const char *)j->d.line_term, j->d.line_term_len);
  sql_string(L->m, enc, &e, j->d.enclosure >= 0 ? 1 : 0);
  sql_string(L->m, esc, &s, j->d.escape >= 0 ? 1 : 0);
  if (wb_str(&b, "LOAD DATA LOCAL INFILE 'dbfork-chunk' ",
             j->dup == DUP_REPLACE  ? "REPLACE "
             : j->dup == DUP_IGNORE ? "IGNORE "
                                    : "",
             "INTO TABLE ", j->table, " CHARACTER SET utf8mb4 FIELDS TERMINATED BY ", ft,
             " OPTIONALLY ENCLOSED BY ", enc, " ESCAPED BY ", esc, " LINES TERMINATED BY ", lt,
             " (", j->cols_sql, ")", NULL)) {
    free(b.p);
    fprintf(stderr, "dbfork load: out of memory building the LOAD DATA statement\n");
    return -1;
  }
  j->load_sql = b.p;
  return 0;
}

static int load_done_set(loader *L, int restart) {
  char sql[512];
  MYSQL_RES *r;
  MYSQL_ROW row;
  size_t cap = 0;
  /* The schema is sql/load_progress.sql itself, compiled in. */
  if (mysql_select_db(L->m, L->db_plain)) {
    fprintf(stderr, "dbfork load: database %s: %s\n", L->j.db, mysql_error(L->m));
    return -1;
  }
  if (cli_exec(L->m, DBFORK_LOAD_PROGRESS_SQL)) return -1;
  if (restart) {
    snprintf(sql, sizeof sql, "DELETE FROM %s.dbfork_load_progress WHERE job_id='%s'", L->j.db,
             L->j.job_id);
    if (cli_exec(L->m, sql)) return -1;
  }
  snprintf(sql, sizeof sql,
           "SELECT chunk_no, byte_offset, byte_len, chunk_hash, records, rejected FROM "
           "%s.dbfork_load_progress WHERE job_id='%s' ORDER BY chunk_no",
           L->j.db, L->j.job_id);
  if (mysql_query(L->m, sql) || !(r = mysql_store_result(L->m))) {
    fprintf(stderr, "dbfork load: reading the progress table: %s\n", mysql_error(L->m));
    return -1;
  }
  while ((row = mysql_fetch_row(r))) {
    if (L->ndone == cap) {
      cap = cap ? cap * 2 : 256;
      L->done = realloc(L->done, cap * sizeof *L->done);
      if (!L->done) return -1;
    }
    L->done[L->ndone].index = strtoull(row[0], NULL, 10);
    L->done[L->ndone].off = strtoull(row[1], NULL, 10);
    L->done[L->ndone].len = strtoull(row[2], NULL, 10);
    L->done[L->ndone].hash = strtoull(row[3], NULL, 10);
    L->done[L->ndone].records = strtoull(row[4], NULL, 10);
    L->rejected_before += row[5] ? strtoull(row[5], NULL, 10) : 0;
    L->ndone++;
  }
  mysql_free_result(r);
  return 0;
}

#define SNIFF_FIRST (64u << 10)
#define SNIFF_MAX (64u << 20)

/* The server has no "\n or \r\n" mode: the load-data method sends it the
 * terminator the file's first record ends with (csv_dialect_sniff_eol).
 * Reads the start of the file, doubling the window up to SNIFF_MAX (or the
 * whole file) until the first record ends in it. Prints why and returns -1
 * if it cannot tell: guessing would tell the server '\n' for a "\r\n" file,
 * merging records and keeping '\r' in values. */
static int sniff_eol(int fd, const char *path, uint64_t file_size, csv_dialect *d) {
  size_t want = SNIFF_FIRST, have = 0;
  char *buf = NULL;
  int rc;
  for (;;) {
    char *nb;
    if (want > file_size) want = (size_t)file_size;
    nb = realloc(buf, want ? want : 1);
    if (!nb) {
      fprintf(stderr, "dbfork load: %s: out of memory reading the first record\n", path);
      rc = -1;
      break;
    }
    buf = nb;
    errno = 0;
    while (have < want) {
      ssize_t n = pread(fd, buf + have, want - have, (off_t)have);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      have += (size_t)n;
    }
    if (have < want) {
      fprintf(stderr, "dbfork load: %s: reading the first record: %s\n", path,
              errno ? strerror(errno) : "the file shrank");
      rc = -1;
      break;
    }
    rc = csv_dialect_sniff_eol(d, buf, have, (uint64_t)have == file_size);
    if (rc != CSV_EINCOMPLETE) {
      rc = rc < 0 ? -1 : 0;
      if (rc) fprintf(stderr, "dbfork load: %s: %s\n", path, csv_strerror(rc));
      break;
    }
    if (want >= SNIFF_MAX) {
      fprintf(stderr,
              "dbfork load: %s: the first record does not end within the first %u MiB, so "
              "whether lines end in \\r\\n or \\n cannot be told: pass "
              "--lines-terminated-by='\\r\\n' or --lines-terminated-by='\\n' (or use "
              "--method=insert, which takes both)\n",
              path, SNIFF_MAX >> 20);
      rc = -1;
      break;
    }
    want *= 2;
  }
  free(buf);
  return rc;
}

static uint64_t parse_size(const char *opt, const char *s, int *bad) {
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (end == s || s[0] == '-') {
    *bad = 1;
    fprintf(stderr, "dbfork load: option %s: '%s' is not a size (e.g. 4M, 512K, 1G)\n", opt, s);
    return 0;
  }
  switch (*end) {
    case 'k':
    case 'K':
      v <<= 10;
      end++;
      break;
    case 'm':
    case 'M':
      v <<= 20;
      end++;
      break;
    case 'g':
    case 'G':
      v <<= 30;
      end++;
      break;
    default: break;
  }
  if (*end) {
    *bad = 1;
    fprintf(stderr, "dbfork load: option %s: '%s' is not a size (e.g. 4M, 512K, 1G)\n", opt, s);
  }
  return v;
}

static void json_string(const char *v) {
  putchar('"');
  for (; *v; v++) {
    unsigned char ch = (unsigned char)*v;
    if (ch == '"' || ch == '\\')
      printf("\\%c", ch);
    else if (ch < 0x20)
      printf("\\u%04x", ch);
    else
      putchar(ch);
  }
  putchar('"');
}

static void load_usage(FILE *f) {
  fputs(
      "usage: dbfork load FILE --table [DB.]TABLE [options]\n"
      "Loads a CSV file in parallel, one transaction per chunk, resumable exactly once.\n\n"
      "  -t, --table=DB.TABLE       target table (must exist, on a transactional engine\n"
      "                             such as InnoDB)\n"
      "      --columns=a,b,c        file columns, in order (default: all table columns)\n"
      "      --method=M             load-data (default: LOAD DATA LOCAL INFILE) or insert\n"
      "                             (prepared multi-row INSERTs)\n"
      "      --batch=N              rows per INSERT for --method=insert (default 1000)\n"
      "      --on-duplicate=X       error (default), ignore, replace, or update (insert only)\n"
      "      --chunk-size=SIZE      bytes per chunk and transaction (default: file size / 16,\n"
      "                             within 1M..4M; a rerun must use the same value)\n"
      "      --fields-terminated-by=S   default ','\n"
      "      --fields-enclosed-by=C     default '\"' ('' for none)\n"
      "      --fields-escaped-by=C      default '\\\\' ('' for none: RFC 4180 doubled quotes)\n"
      "      --lines-terminated-by=S    default '\\n' (CRLF files are detected)\n"
      "      --skip-lines=N         header records to skip (default 0)\n"
      "      --strict               reject stray quotes in unquoted fields\n"
      "      --max-errors=K         reject up to K malformed rows in all, across reruns\n"
      "                             (default 0); the chunk that finds one more fails and\n"
      "                             the load stops\n"
      "      --reject-file=F        where rejected rows go (default FILE.rejects)\n"
      "      --restart              forget this load's recorded progress (after emptying the\n"
      "                             table yourself)\n"
      "      --json                 print a JSON summary on stdout\n"
      "  -q, --quiet                no progress output\n\n"
      "Exit codes: 0 all rows loaded; 1 loaded, but rows were rejected; 2 the load failed or\n"
      "was interrupted (rerun the same command to resume); 64 bad usage.\n\n",
      f);
  cli_conn_usage(f);
}

int cmd_load(int argc, char **argv) {
  static loader L;
  static struct option longopts[CLI_CONN_NLONGOPTS + 20];
  cli_conn c;
  dbfork_options o;
  const char *table = NULL, *cols = NULL, *ft = NULL, *fe = NULL, *fx = NULL, *lt = NULL;
  const char *method = "load-data", *dup = "error", *reject_path = NULL;
  char dbname[130], tname[130], why[300], err[200], realp[PATH_MAX];
  unsigned long long batch = 1000;
  int opt, bad = 0, restart = 0, strict = 0, chunk_given = 0, rc, ret = EXIT_FAILED;
  char *iobuf = NULL;
  struct stat st;
  csv_split_stats sst;
  uv_signal_t sigint, sigterm;
  int signals_on = 0;

  memset(&c, 0, sizeof c);
  memset(&L, 0, sizeof L);
  L.fd = -1;
  L.j.chunk_bytes = 0; /* default: see below */
  memcpy(longopts, cli_conn_longopts, sizeof cli_conn_longopts);
  {
    static const struct option extra[] = {{"table", required_argument, NULL, 't'},
                                          {"columns", required_argument, NULL, 3001},
                                          {"method", required_argument, NULL, 3002},
                                          {"batch", required_argument, NULL, 3003},
                                          {"on-duplicate", required_argument, NULL, 3004},
                                          {"chunk-size", required_argument, NULL, 3005},
                                          {"fields-terminated-by", required_argument, NULL, 3006},
                                          {"fields-enclosed-by", required_argument, NULL, 3007},
                                          {"fields-escaped-by", required_argument, NULL, 3008},
                                          {"lines-terminated-by", required_argument, NULL, 3009},
                                          {"skip-lines", required_argument, NULL, 3010},
                                          {"max-errors", required_argument, NULL, 3011},
                                          {"reject-file", required_argument, NULL, 3012},
                                          {"restart", no_argument, NULL, 3013},
                                          {"json", no_argument, NULL, 3014},
                                          {"quiet", no_argument, NULL, 'q'},
                                          {"strict", no_argument, NULL, 3015},
                                          {"help", no_argument, NULL, 3016},
                                          {NULL, 0, NULL, 0}};
    memcpy(longopts + CLI_CONN_NLONGOPTS, extra, sizeof extra);
  }
  while ((opt = getopt_long(argc, argv, CLI_CONN_SHORTOPTS "t:q", longopts, NULL)) != -1) {
    int h = cli_conn_opt(&c, opt, optarg, argv);
    if (h < 0) return EXIT_USAGE;
    if (h) continue;
    switch (opt) {
      case 't': table = optarg; break;
      case 'q': L.quiet = 1; break;
      case 3001: cols = optarg; break;
      case 3002: method = optarg; break;
      case 3003: batch = parse_size("--batch", optarg, &bad); break;
      case 3004: dup = optarg; break;
      case 3005:
        L.j.chunk_bytes = parse_size("--chunk-size", optarg, &bad);
        chunk_given = 1;
        break;
      case 3006: ft = optarg; break;
      case 3007: fe = optarg; break;
      case 3008: fx = optarg; break;
      case 3009: lt = optarg; break;
      case 3010: L.j.skip_lines = parse_size("--skip-lines", optarg, &bad); break;
      case 3011: L.j.max_errors = parse_size("--max-errors", optarg, &bad); break;
      case 3012: reject_path = optarg; break;
      case 3013: restart = 1; break;
      case 3014: L.json = 1; break;
      case 3015: strict = 1; break;
      case 3016: load_usage(stdout); return EXIT_OK;
      default: load_usage(stderr); return EXIT_USAGE;
    }
  }
  if (bad) return EXIT_USAGE;
  if (optind != argc - 1) {
    fprintf(stderr,
            optind >= argc ? "dbfork load: no FILE given\n"
                           : "dbfork load: one FILE only (got '%s' too)\n",
            optind < argc ? argv[optind + 1] : "");
    load_usage(stderr);
    return EXIT_USAGE;
  }
  L.j.path = argv[optind];
  if (!table) {
    fprintf(stderr, "dbfork load: --table is required\n");
    return EXIT_USAGE;
  }
  if (!strcmp(method, "load-data"))
    L.j.method = METHOD_LOAD_DATA;
  else if (!strcmp(method, "insert"))
    L.j.method = METHOD_INSERT;
  else {
    fprintf(stderr, "dbfork load: option --method: '%s' is not load-data or insert\n", method);
    return EXIT_USAGE;
  }
  if (!strcmp(dup, "error"))
    L.j.dup = DUP_ERROR;
  else if (!strcmp(dup, "ignore"))
    L.j.dup = DUP_IGNORE;
  else if (!strcmp(dup, "replace"))
    L.j.dup = DUP_REPLACE;
  else if (!strcmp(dup, "update"))
    L.j.dup = DUP_UPDATE;
  else {
    fprintf(stderr,
            "dbfork load: option --on-duplicate: '%s' is not error, ignore, replace or "
            "update\n",
            dup);
    return EXIT_USAGE;
  }
  if (L.j.dup == DUP_UPDATE && L.j.method == METHOD_LOAD_DATA) {
    fprintf(stderr,
            "dbfork load: option --on-duplicate=update needs --method=insert (LOAD DATA "
            "can only ignore or replace duplicates)\n");
    return EXIT_USAGE;
  }
  if (batch == 0 || batch > 65535) {
    fprintf(stderr, "dbfork load: option --batch: must be 1..65535\n");
    return EXIT_USAGE;
  }
  if (chunk_given && (L.j.chunk_bytes < 1 || L.j.chunk_bytes > (1ull << 30))) {
    fprintf(stderr, "dbfork load: option --chunk-size: must be 1 byte .. 1G\n");
    return EXIT_USAGE;
  }
  L.j.batch = (unsigned)batch;
  if (csv_dialect_parse(&L.j.d, ft, fe, fx, lt, err, sizeof err)) {
    fprintf(stderr, "dbfork load: bad CSV dialect options: %s\n", err);
    return EXIT_USAGE;
  }
  if (strict) L.j.d.flags |= CSV_F_STRICT;
  L.fd = open(L.j.path, O_RDONLY | O_CLOEXEC);
  if (L.fd < 0 || fstat(L.fd, &st) < 0 || !realpath(L.j.path, realp)) {
    fprintf(stderr, "dbfork load: %s: %s\n", L.j.path, strerror(errno));
    return EXIT_USAGE;
  }
  if (!S_ISREG(st.st_mode)) {
    fprintf(stderr, "dbfork load: %s: not a regular file (pipes cannot be split in parallel)\n",
            L.j.path);
    return EXIT_USAGE;
  }
  L.j.path = realp;
  L.file_size = (uint64_t)st.st_size;
  if (!chunk_given) {
    /* 4 MiB chunks measured best for big files; smaller files get at least
     * 16 chunks (down to 1 MiB) so no worker idles through a long tail. It
     * depends on the file alone, so a rerun cuts the same chunks. */
    L.j.chunk_bytes = L.file_size / 16;
    if (L.j.chunk_bytes > (4u << 20)) L.j.chunk_bytes = 4u << 20;
    if (L.j.chunk_bytes < (1u << 20)) L.j.chunk_bytes = 1u << 20;
  }
  if (L.j.d.flags & CSV_F_CRLF && L.j.method == METHOD_LOAD_DATA &&
      sniff_eol(L.fd, L.j.path, L.file_size, &L.j.d))
    return EXIT_USAGE;
  if (cli_conn_finish(&c)) return EXIT_USAGE;
  L.tty = isatty(2);
  L.m = cli_connect(&c);
  if (!L.m) goto out;
  if (split_table(table, c.database, dbname, sizeof dbname, tname, sizeof tname)) {
    fprintf(stderr, "dbfork load: option --table: '%s' names no database; use DB.TABLE or -D\n",
            table);
    ret = EXIT_USAGE;
    goto out;
  }
  snprintf(L.db_plain, sizeof L.db_plain, "%s", dbname);
  snprintf(why, sizeof why, "%s.%s", dbname, tname);
  if (cli_quote_ident(why, L.j.table, sizeof L.j.table, err, sizeof err) ||
      cli_quote_ident(dbname, L.j.db, sizeof L.j.db, err, sizeof err)) {
    fprintf(stderr, "dbfork load: option --table: %s\n", err);
    ret = EXIT_USAGE;
    goto out;
  }
  if (setup_columns(&L, dbname, tname, cols) || check_engine(&L, dbname, tname)) {
    ret = EXIT_USAGE;
    goto out;
  }
  if (L.j.method == METHOD_INSERT && (uint64_t)L.j.batch * L.j.ncols > 65535)
    L.j.batch = 65535 / L.j.ncols;
  {
    uint64_t h = fnv1a(FNV_INIT, realp, strlen(realp) + 1);
    h = fnv1a(h, L.j.table, strlen(L.j.table));
    snprintf(L.j.job_id, sizeof L.j.job_id, "%016llx", (unsigned long long)h);
  }
  if (build_load_sql(&L)) goto out;
  if (load_done_set(&L, restart)) goto out;
  if (L.ndone) qsort(L.done, L.ndone, sizeof *L.done, done_cmp); /* L.done may be NULL */
  iobuf = malloc(1u << 20);
  if (!iobuf) goto out;
  if (L.ndone) {
    /* Resuming: check every recorded chunk against the file before loading
     * anything, so a changed file cannot end half-loaded twice. */
    L.verify_only = 1;
    rc = csv_split_fd(L.fd, &L.j.d, L.j.chunk_bytes, L.j.skip_lines, iobuf, 1u << 20, on_chunk, &L,
                      NULL);
    if (L.mismatch || L.done_seen != L.ndone) {
      fprintf(stderr, "dbfork load: cannot resume: %s\n",
              L.mismatch ? L.mismatch_msg
                         : "the progress table records chunks past the end of the file now");
      fprintf(stderr,
              "dbfork load: restore the file and options of the interrupted run, or "
              "empty the table and rerun with --restart\n");
      goto out;
    }
    if (!L.json)
      fprintf(stderr, "dbfork load: resuming job %s: %zu chunk%s already committed\n", L.j.job_id,
              L.ndone, L.ndone == 1 ? "" : "s");
    L.verify_only = 0;
    L.chunks_total = 0;
  }
  if (L.rejected_before > L.j.max_errors) {
    fprintf(stderr,
            "dbfork load: cannot resume: the chunks an earlier run of this load committed "
            "rejected %llu rows, more than --max-errors=%llu; rerun with --max-errors=%llu or "
            "more (or empty the table and rerun with --restart)\n",
            (unsigned long long)L.rejected_before, (unsigned long long)L.j.max_errors,
            (unsigned long long)L.rejected_before);
    goto out;
  }
  /* The whole load's reject count and each chunk's reservation of it, shared
   * with the workers (forked below). Every chunk but the last is at least
   * chunk_bytes long, so there are at most size / chunk_bytes + 1 chunks. */
  L.j.nchunk_reserved = L.file_size / L.j.chunk_bytes + 2;
  L.j.rejects_total = mmap(NULL, (L.j.nchunk_reserved + 1) * sizeof *L.j.rejects_total,
                           PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (L.j.rejects_total == MAP_FAILED) {
    L.j.rejects_total = NULL;
    fprintf(stderr, "dbfork load: mmap: %s\n", strerror(errno));
    goto out;
  }
  *L.j.rejects_total = L.rejected_before;
  L.j.chunk_reserved = L.j.rejects_total + 1;

  cli_conn_pool_options(&c, &o);
  o.task = load_task;
  o.task_arg = &L.j;
  o.init = load_init;
  o.init_arg = &L.j;
  o.transaction = 1;
  o.local_infile = 1;
  o.program_name = "dbfork-load";
  o.prefetch = 1;                    /* chunks are big: no worker hoards a queue of them */
  o.queue_max = (unsigned)c.workers; /* the parent splits just ahead of the workers */
  rc = dbfork_pool_new(&L.pool, &o);
  if (rc) {
    fprintf(stderr, "dbfork load: %s\n", dbfork_strerror(rc));
    goto out;
  }
  L.t0 = L.last_print = cli_now();
  rc = dbfork_pool_start(L.pool);
  if (rc) {
    fprintf(stderr, "dbfork load: the workers could not start: %s\n",
            dbfork_pool_last_error(L.pool));
    goto out;
  }
  uv_signal_init(dbfork_pool_loop(L.pool), &sigint);
  uv_signal_init(dbfork_pool_loop(L.pool), &sigterm);
  sigint.data = sigterm.data = &L;
  uv_signal_start(&sigint, on_interrupt, SIGINT);
  uv_signal_start(&sigterm, on_interrupt, SIGTERM);
  signals_on = 1;
  if (reject_path || L.j.max_errors) {
    char *def = NULL;
    if (!reject_path && asprintf(&def, "%s.rejects", argv[optind]) > 0) reject_path = def;
    /* A resumed load appends: the rows rejected by chunks an earlier run
     * committed are already in the file. */
    L.reject = fopen(reject_path, L.ndone ? "a" : "w");
    L.reject_path = reject_path;
    if (!L.reject) {
      fprintf(stderr, "dbfork load: --reject-file %s: %s\n", reject_path, strerror(errno));
      goto out;
    }
  }

  rc = csv_split_fd(L.fd, &L.j.d, L.j.chunk_bytes, L.j.skip_lines, iobuf, 1u << 20, on_chunk, &L,
                    &sst);
  if (rc < 0 && !L.first_error[0])
    snprintf(L.first_error, sizeof L.first_error, "reading %s: %s", L.j.path, csv_strerror(rc));
  /* A quoted field left open at the end of the file is the last record's
   * problem: the worker that parses it rejects it or fails its chunk. */
  /* Until nothing is in flight: a chunk whose COMMIT outcome was unknown
   * and that did not commit comes back here to be submitted again. */
  while (L.in_flight || (L.nredo && !L.stop)) {
    submit_redo(&L);
    if (L.in_flight) dbfork_pool_run(L.pool, 1);
  }
  rc = dbfork_pool_join(L.pool);
  print_progress(&L, 1);
  if (L.reject) fclose(L.reject);
  L.reject = NULL;
  /* --max-errors is for the whole load, across reruns. The committed chunks
   * cannot exceed it (reserve_rejects): a chunk that would have failed. */
  L.rejected += L.rejected_before;

  {
    double secs = cli_now() - L.t0;
    int ok = !L.first_error[0] && !L.chunks_failed && !L.chunks_cancelled && !L.stop;
    char b1[32];
    /* Peak resident memory: ours, and the largest of the (reaped) workers'.
     * Neither grows with the file: the parent holds descriptors, a worker
     * one chunk. */
    struct rusage ru_self, ru_kids;
    long peak_kb = 0, worker_peak_kb = 0;
    if (getrusage(RUSAGE_SELF, &ru_self) == 0) peak_kb = ru_self.ru_maxrss;
    if (getrusage(RUSAGE_CHILDREN, &ru_kids) == 0) worker_peak_kb = ru_kids.ru_maxrss;
    if (L.json) {
      printf("{\"file\":");
      json_string(L.j.path);
      printf(",\"table\":");
      json_string(why); /* db.table */
      printf(
          ",\"method\":\"%s\",\"workers\":%d,"
          "\"status\":\"%s\",\"rows_loaded\":%llu,\"records\":%llu,\"rejected\":%llu,"
          "\"warnings\":%llu,\"retries\":%llu,\"chunks\":%llu,\"chunks_skipped\":%llu,"
          "\"chunks_failed\":%llu,\"chunks_cancelled\":%llu,\"seconds\":%.3f,"
          "\"rows_per_second\":%.0f,\"peak_rss_kb\":%ld,\"worker_peak_rss_kb\":%ld",
          method, c.workers, ok ? (L.rejected ? "rejected" : "ok") : "failed",
          (unsigned long long)L.rows_loaded, (unsigned long long)L.records,
          (unsigned long long)L.rejected, (unsigned long long)L.warnings,
          (unsigned long long)L.retries, (unsigned long long)L.chunks_total,
          (unsigned long long)L.chunks_skipped, (unsigned long long)L.chunks_failed,
          (unsigned long long)L.chunks_cancelled, secs, secs > 0 ? L.rows_loaded / secs : 0,
          peak_kb, worker_peak_kb);
      if (L.first_error[0]) {
        printf(",\"error\":");
        json_string(L.first_error);
      }
      printf("}\n");
    } else if (!L.quiet || !ok) {
      printf("dbfork load %s into %s.%s (%s, %d workers)\n", L.j.path, dbname, tname, method,
             c.workers);
      printf("  rows loaded    %s\n", cli_num(L.rows_loaded, b1, sizeof b1));
      printf("  rejected       %s", cli_num(L.rejected, b1, sizeof b1));
      if (L.rejected && L.reject_path) printf(" (original rows in %s)", L.reject_path);
      printf("\n");
      printf("  warnings       %llu\n", (unsigned long long)L.warnings);
      printf("  retries        %llu\n", (unsigned long long)L.retries);
      printf(
          "  chunks         %llu (%llu loaded now, %llu by an earlier run, %llu failed, %llu "
          "cancelled)\n",
          (unsigned long long)L.chunks_total, (unsigned long long)L.chunks_done,
          (unsigned long long)L.chunks_skipped, (unsigned long long)L.chunks_failed,
          (unsigned long long)L.chunks_cancelled);
      printf("  time           %.3f s\n", secs);
      printf("  rate           %s rows/s\n",
             cli_num((unsigned long long)(secs > 0 ? L.rows_loaded / secs : 0), b1, sizeof b1));
      printf("  memory         %.1f MB peak (workers: %.1f MB each at most)\n", peak_kb / 1024.0,
             worker_peak_kb / 1024.0);
      if (L.first_error[0]) printf("  error          %s\n", L.first_error);
      if (!ok)
        printf(
            "  the load is incomplete: fix the cause and rerun the same command to "
            "load the rest exactly once\n");
    }
    if (ok && !rc) ret = L.rejected ? EXIT_REJECTED : EXIT_OK;
  }
out:
  if (signals_on) {
    uv_close((uv_handle_t *)&sigint, NULL);
    uv_close((uv_handle_t *)&sigterm, NULL);
  }
  dbfork_pool_free(L.pool);
  if (L.reject) fclose(L.reject);
  if (L.m) mysql_close(L.m);
  if (L.fd >= 0) close(L.fd);
  free(iobuf);
  free(L.done);
  free(L.redo);
  free(L.j.cols_sql);
  free(L.j.ins_head);
  free(L.j.dup_sql);
  free(L.j.load_sql);
  if (L.j.rejects_total)
    munmap(L.j.rejects_total, (L.j.nchunk_reserved + 1) * sizeof *L.j.rejects_total);
  cli_conn_free(&c);
  return ret;
}
