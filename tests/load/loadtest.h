/*
 * loadtest.h — helpers for the `dbfork load` tests (tests/load/): a
 * deterministic row generator, CSV writers for the two dialects the loader
 * speaks (LOAD DATA's backslash dialect and RFC 4180 with doubled quotes),
 * the expected server-side checksum computed from the generated rows, and a
 * runner for $DBFORK_CLI that captures exit code, stdout and stderr.
 *
 * Every test loads into its own database (ld_<tu_unique_name()>), so the
 * progress table (dbfork_load_progress, created by the loader in the target
 * database) belongs to that test alone.
 *
 * The checksum is the server's view of every column:
 *   COUNT(*), SUM(id), SUM(CRC32(CONCAT_WS('|', id, customer_id, amount,
 *   created_at, IFNULL(note,'<NULL>'))))
 * and the same three numbers are computed here from the rows the test wrote.
 */
#ifndef DBFORK_LOADTEST_H
#define DBFORK_LOADTEST_H

#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ rows */

typedef struct lt_row {
  uint64_t id;
  uint32_t cust;
  int64_t cents; /* amount * 100 */
  char dt[20];   /* YYYY-MM-DD HH:MM:SS */
  char note[48];
  size_t note_len;
  int null; /* note IS NULL */
} lt_row;

static inline uint64_t lt_rand(uint64_t *s) { /* splitmix64 */
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* Notes chosen to exercise every quoting rule: separators, quotes, newlines,
 * CR, tab, backslashes, the words NULL and \N as data, empty strings, UTF-8,
 * leading/trailing blanks. NULL is the entry "(null)". */
static const char *const lt_notes[] = {
    "plain",     "a,b",         "two\nlines", "say \"hi\"",  "(null)",     "",   "back\\slash",
    "tab\there", "caf\xc3\xa9", "NULL",       "\\N",         " padded ",   "\"", ",",
    "cr\rin",    "crlf\r\nin",  "end\\",      "x\"\",\n\\y", "\"quoted\"", "N",
};
#define LT_NNOTES (sizeof lt_notes / sizeof lt_notes[0])

/* Fills rows[0..n) with ids first_id, first_id+1, ... deterministically from
 * seed. `plain` != 0 restricts notes to "n<id>" (for big, fast files). */
static inline void lt_gen(lt_row *rows, size_t n, uint64_t first_id, uint64_t seed, int plain) {
  size_t i;
  for (i = 0; i < n; i++) {
    lt_row *r = &rows[i];
    uint64_t x = lt_rand(&seed);
    time_t t = (time_t)1704067200 + (time_t)(x % (3u * 365u * 86400u)); /* 2024-01-01 + 3y */
    struct tm tm;
    memset(r, 0, sizeof *r);
    r->id = first_id + i;
    r->cust = (uint32_t)(lt_rand(&seed) % 100000u) + 1;
    r->cents = (int64_t)(lt_rand(&seed) % 2000000u) - 200000; /* -2000.00 .. 17999.99 */
    gmtime_r(&t, &tm);
    strftime(r->dt, sizeof r->dt, "%Y-%m-%d %H:%M:%S", &tm);
    if (plain) {
      r->note_len = (size_t)snprintf(r->note, sizeof r->note, "n%llu", (unsigned long long)r->id);
    } else {
      const char *s = lt_notes[lt_rand(&seed) % LT_NNOTES];
      if (!strcmp(s, "(null)")) {
        r->null = 1;
      } else {
        r->note_len = strlen(s);
        memcpy(r->note, s, r->note_len);
      }
    }
  }
}

static inline void lt_amount(int64_t cents, char *buf, size_t len) {
  uint64_t a = (uint64_t)(cents < 0 ? -cents : cents);
  snprintf(buf, len, "%s%llu.%02llu", cents < 0 ? "-" : "", (unsigned long long)(a / 100),
           (unsigned long long)(a % 100));
}

/* ------------------------------------------------------------- checksum */

static inline uint32_t lt_crc32(const void *p, size_t n) {
  static uint32_t table[256];
  static int init;
  const unsigned char *s = p;
  uint32_t c = 0xffffffffu;
  size_t i;
  if (!init) {
    uint32_t k, v;
    int b;
    for (k = 0; k < 256; k++) {
      v = k;
      for (b = 0; b < 8; b++) v = v & 1 ? 0xedb88320u ^ (v >> 1) : v >> 1;
      table[k] = v;
    }
    init = 1;
  }
  for (i = 0; i < n; i++) c = table[(c ^ s[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

typedef struct lt_sum {
  long long count, sum_id, sum_crc;
} lt_sum;

static inline uint32_t lt_row_crc(const lt_row *r) {
  char buf[160], amt[32];
  int n;
  lt_amount(r->cents, amt, sizeof amt);
  n = snprintf(buf, sizeof buf, "%llu|%u|%s|%s|", (unsigned long long)r->id, r->cust, amt, r->dt);
  if (r->null) {
    memcpy(buf + n, "<NULL>", 6);
    n += 6;
  } else {
    memcpy(buf + n, r->note, r->note_len);
    n += (int)r->note_len;
  }
  return lt_crc32(buf, (size_t)n);
}

static inline void lt_sum_add(lt_sum *s, const lt_row *r) {
  s->count++;
  s->sum_id += (long long)r->id;
  s->sum_crc += lt_row_crc(r);
}

static inline lt_sum lt_sum_rows(const lt_row *rows, size_t n) {
  lt_sum s = {0, 0, 0};
  size_t i;
  for (i = 0; i < n; i++) lt_sum_add(&s, &rows[i]);
  return s;
}

#define LT_SUM_SQL                                                                          \
  "SELECT CONCAT_WS(' ', COUNT(*), IFNULL(SUM(id),0), IFNULL(SUM(CRC32(CONCAT_WS('|', id, " \
  "customer_id, amount, created_at, IFNULL(note,'<NULL>')))),0))"

/* The server's view of table t (unquoted name in the test's database). */
#define lt_server_sum(m, t) lt__server_sum(__FILE__, __LINE__, m, t, NULL)
#define lt_server_sum_where(m, t, w) lt__server_sum(__FILE__, __LINE__, m, t, w)
static inline lt_sum lt__server_sum(const char *file, int line, MYSQL *m, const char *t,
                                    const char *where) {
  lt_sum s = {-1, -1, -1};
  char *v = tu__query_str(file, line, m, LT_SUM_SQL " FROM `%s`%s%s", t, where ? " WHERE " : "",
                          where ? where : "");
  if (!v || sscanf(v, "%lld %lld %lld", &s.count, &s.sum_id, &s.sum_crc) != 3)
    tu__fail(file, line, "bad checksum result '%s'", v ? v : "(null)");
  free(v);
  return s;
}

#define CHECK_SUM(got, want)                                                                \
  do {                                                                                      \
    lt_sum lt__g = (got), lt__w = (want);                                                   \
    if (lt__g.count != lt__w.count || lt__g.sum_id != lt__w.sum_id ||                       \
        lt__g.sum_crc != lt__w.sum_crc)                                                     \
      FAIL(                                                                                 \
          "CHECK_SUM(%s, %s): server count=%lld sum(id)=%lld sum(crc)=%lld, expected "      \
          "count=%lld sum(id)=%lld sum(crc)=%lld",                                          \
          #got, #want, lt__g.count, lt__g.sum_id, lt__g.sum_crc, lt__w.count, lt__w.sum_id, \
          lt__w.sum_crc);                                                                   \
  } while (0)

/* ----------------------------------------------------------- CSV writing */

enum { LT_BACKSLASH, LT_RFC };

typedef struct lt_file {
  char *p;
  size_t len, cap;
  uint64_t lines; /* '\n' bytes written so far */
  int dialect, crlf;
  uint64_t nrows;
  /* per data row written with lt_put_row: offset and 1-based physical line */
  uint64_t *row_off, *row_line;
  size_t rows_cap;
} lt_file;

static inline void lt_put(lt_file *f, const void *p, size_t n) {
  size_t i;
  if (f->len + n > f->cap) {
    size_t cap = f->cap ? f->cap : 65536;
    while (cap < f->len + n) cap *= 2;
    f->p = realloc(f->p, cap);
    if (!f->p) FAIL("out of memory");
    f->cap = cap;
  }
  memcpy(f->p + f->len, p, n);
  for (i = 0; i < n; i++) f->lines += ((const char *)p)[i] == '\n';
  f->len += n;
}
static inline void lt_puts(lt_file *f, const char *s) { lt_put(f, s, strlen(s)); }
static inline void lt_eol(lt_file *f) { lt_puts(f, f->crlf ? "\r\n" : "\n"); }

/* The 1-based physical line the next byte goes to. */
static inline uint64_t lt_line(const lt_file *f) { return f->lines + 1; }

static inline void lt_file_init(lt_file *f, int dialect, int crlf) {
  memset(f, 0, sizeof *f);
  f->dialect = dialect;
  f->crlf = crlf;
}

static inline void lt_file_free(lt_file *f) {
  free(f->p);
  free(f->row_off);
  free(f->row_line);
  memset(f, 0, sizeof *f);
}

/* The note field, quoted or not per the dialect's rules; `variant` picks
 * between equivalent spellings (quote always / only when needed, \" or ""). */
static inline void lt_put_note(lt_file *f, const lt_row *r, unsigned variant) {
  size_t i;
  const char *s = r->note;
  size_t n = r->note_len;
  if (f->dialect == LT_BACKSLASH) {
    int quote;
    if (r->null) {
      lt_puts(f, variant & 1 ? "\\N" : "\"\\N\""); /* the server reads both as NULL */
      return;
    }
    /* The word NULL unquoted is SQL NULL when an enclosure is set: quote it. */
    quote = (variant & 2) || (n == 4 && !memcmp(s, "NULL", 4));
    if (quote) lt_puts(f, "\"");
    for (i = 0; i < n; i++) {
      char c = s[i];
      switch (c) {
        case '\\': lt_puts(f, "\\\\"); break;
        case '"':
          if (quote)
            lt_puts(f, variant & 4 ? "\"\"" : "\\\"");
          else
            lt_puts(f, "\\\"");
          break;
        case ',': lt_puts(f, quote ? "," : "\\,"); break;
        case '\n':
          if (quote && (variant & 8))
            lt_puts(f, "\n"); /* raw, inside quotes */
          else if (variant & 64)
            lt_puts(f, "\\\n"); /* escaped raw newline */
          else
            lt_puts(f, "\\n"); /* the \n sequence */
          break;
        case '\r': lt_puts(f, "\\r"); break;
        case '\t': lt_puts(f, variant & 16 ? "\t" : "\\t"); break;
        default: lt_put(f, &c, 1);
      }
    }
    if (quote) lt_puts(f, "\"");
  } else {
    int quote = (variant & 2) != 0;
    if (r->null) {
      lt_puts(f, "NULL");
      return;
    }
    for (i = 0; i < n; i++)
      if (s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r') quote = 1;
    if (n == 4 && !memcmp(s, "NULL", 4)) quote = 1;
    if (quote) lt_puts(f, "\"");
    for (i = 0; i < n; i++) {
      if (s[i] == '"')
        lt_puts(f, "\"\"");
      else
        lt_put(f, &s[i], 1);
    }
    if (quote) lt_puts(f, "\"");
  }
}

/* One record (with its line terminator unless eol == 0). Numbers are quoted
 * on some rows: the server and the parser must both unquote them. */
static inline void lt_put_row(lt_file *f, const lt_row *r, int eol) {
  char buf[128], amt[32];
  unsigned v = (unsigned)(r->id * 2654435761u >> 7);
  int qnum = (v & 32) != 0;
  if (f->nrows == f->rows_cap) {
    f->rows_cap = f->rows_cap ? f->rows_cap * 2 : 1024;
    f->row_off = realloc(f->row_off, f->rows_cap * sizeof *f->row_off);
    f->row_line = realloc(f->row_line, f->rows_cap * sizeof *f->row_line);
    if (!f->row_off || !f->row_line) FAIL("out of memory");
  }
  f->row_off[f->nrows] = f->len;
  f->row_line[f->nrows] = lt_line(f);
  f->nrows++;
  lt_amount(r->cents, amt, sizeof amt);
  if (qnum)
    snprintf(buf, sizeof buf, "\"%llu\",%u,\"%s\",\"%s\",", (unsigned long long)r->id, r->cust, amt,
             r->dt);
  else
    snprintf(buf, sizeof buf, "%llu,%u,%s,%s,", (unsigned long long)r->id, r->cust, amt, r->dt);
  lt_puts(f, buf);
  lt_put_note(f, r, v);
  if (eol) lt_eol(f);
}

static inline void lt_put_header(lt_file *f) {
  lt_puts(f, "id,customer_id,amount,created_at,note");
  lt_eol(f);
}

/* Writes all rows; `last_eol` == 0 leaves the last record unterminated. */
static inline void lt_put_rows(lt_file *f, const lt_row *rows, size_t n, int last_eol) {
  size_t i;
  for (i = 0; i < n; i++) lt_put_row(f, &rows[i], i + 1 < n || last_eol);
}

static inline void lt_write_file(const char *path, const void *p, size_t n) {
  FILE *fp = fopen(path, "wb");
  if (!fp) FAIL("cannot create %s: %s", path, strerror(errno));
  if (n && fwrite(p, 1, n, fp) != n) FAIL("cannot write %s", path);
  if (fclose(fp)) FAIL("cannot write %s", path);
}

#define lt_read_file tu_read_file

/* --------------------------------------------------- per-test workspace */

typedef struct lt_env {
  MYSQL *m;
  char db[80];    /* ld_<unique> */
  char dir[64];   /* a fresh temporary directory */
  char path[200]; /* dir/data.csv */
  int tcp;        /* the CLI connects over TCP to 127.0.0.1 (tu_cli_conn) */
} lt_env;

static char lt__cleanup_dir[64];
static char lt__cleanup_db[80];

static inline void lt__cleanup(void) {
  if (getenv("DBFORK_TEST_KEEP")) return;
  if (lt__cleanup_dir[0]) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", lt__cleanup_dir);
    if (system(cmd)) {
    }
    lt__cleanup_dir[0] = 0;
  }
}

/* Connects, makes a fresh database and temporary directory, and creates the
 * orders table `table` (with or without a primary key) in it. */
static inline void lt_setup(lt_env *e, const char *table, int with_pk) {
  static pid_t owner;
  if (!getenv("DBFORK_CLI")) SKIP("DBFORK_CLI is not set (run through ctest)");
  memset(e, 0, sizeof *e);
  e->m = tu_connect();
  snprintf(e->db, sizeof e->db, "ld_%s", tu_unique_name());
  tu_exec(e->m, "DROP DATABASE IF EXISTS `%s`", e->db);
  tu_exec(e->m, "CREATE DATABASE `%s` CHARACTER SET utf8mb4", e->db);
  if (mysql_select_db(e->m, e->db)) FAIL("USE %s: %s", e->db, mysql_error(e->m));
  snprintf(e->dir, sizeof e->dir, "/tmp/dbfork-load-XXXXXX");
  if (!mkdtemp(e->dir)) FAIL("mkdtemp: %s", strerror(errno));
  snprintf(e->path, sizeof e->path, "%s/data.csv", e->dir);
  snprintf(lt__cleanup_dir, sizeof lt__cleanup_dir, "%s", e->dir);
  snprintf(lt__cleanup_db, sizeof lt__cleanup_db, "%s", e->db);
  if (owner != getpid()) {
    owner = getpid();
    atexit(lt__cleanup);
  }
  if (table)
    tu_exec(e->m,
            "CREATE TABLE `%s` (id BIGINT UNSIGNED NOT NULL%s, customer_id INT UNSIGNED NOT "
            "NULL, amount DECIMAL(12,2) NOT NULL, created_at DATETIME NOT NULL, note "
            "VARCHAR(48) NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
            table, with_pk ? " PRIMARY KEY" : "");
}

static inline void lt_teardown(lt_env *e) {
  tu_exec(e->m, "DROP DATABASE IF EXISTS `%s`", e->db);
  lt__cleanup();
}

/* ------------------------------------------------------ running the CLI */

typedef struct lt_run {
  int rc; /* exit code, or 128 + signal */
  char *out, *err;
  double secs;
} lt_run;

static inline void lt_run_free(lt_run *r) {
  free(r->out);
  free(r->err);
  r->out = r->err = NULL;
}

#define LT_MAXARGS 64

/* argv for `dbfork load FILE --table DB.T <connection> extra...` */
static inline int lt__argv(const lt_env *e, char **argv, char *tablebuf, size_t tlen, char *pwbuf,
                           size_t pwlen, const char *file, const char *table, va_list ap) {
  int n = 0;
  const char *a;
  argv[n++] = getenv("DBFORK_CLI");
  argv[n++] = (char *)"load";
  if (file) argv[n++] = (char *)file;
  if (table) {
    snprintf(tablebuf, tlen, "%s.%s", e->db, table);
    argv[n++] = (char *)"--table";
    argv[n++] = tablebuf;
  }
  n += tu_cli_conn(argv + n, pwbuf, pwlen, e->tcp);
  while ((a = va_arg(ap, const char *)) != NULL) {
    if (n >= LT_MAXARGS - 1) FAIL("too many arguments");
    argv[n++] = (char *)a;
  }
  argv[n] = NULL;
  return n;
}

/* Starts the CLI; stdout/stderr go to dir/out.N and dir/err.N. */
static inline pid_t lt__spawn(const lt_env *e, int seq, char **argv) {
  char out[128], err[128];
  snprintf(out, sizeof out, "%s/out.%d", e->dir, seq);
  snprintf(err, sizeof err, "%s/err.%d", e->dir, seq);
  return tu_spawn(argv, out, err);
}

static int lt__seq;

typedef struct lt_proc {
  pid_t pid;
  int seq;
  long long t0;
  char *argv[LT_MAXARGS];
  char table[256], pw[256];
} lt_proc;

/* Starts `dbfork load FILE --table DB.TABLE <conn> args... NULL` in the
 * background (table NULL: no --table; file NULL: no file argument). */
static inline void lt_start(lt_proc *p, const lt_env *e, const char *file, const char *table, ...) {
  va_list ap;
  memset(p, 0, sizeof *p);
  va_start(ap, table);
  lt__argv(e, p->argv, p->table, sizeof p->table, p->pw, sizeof p->pw, file, table, ap);
  va_end(ap);
  p->seq = ++lt__seq;
  p->t0 = tu_now_ms();
  p->pid = lt__spawn(e, p->seq, p->argv);
}

/* Waits (bounded) for a started CLI and collects its output. */
static inline void lt_wait(lt_proc *p, const lt_env *e, lt_run *r, int timeout_ms) {
  char path[128];
  memset(r, 0, sizeof *r);
  r->rc = tu_wait_exit(p->pid, timeout_ms, "dbfork load");
  r->secs = (double)(tu_now_ms() - p->t0) / 1000.0;
  snprintf(path, sizeof path, "%s/out.%d", e->dir, p->seq);
  r->out = lt_read_file(path, NULL);
  snprintf(path, sizeof path, "%s/err.%d", e->dir, p->seq);
  r->err = lt_read_file(path, NULL);
  if (!r->out) r->out = strdup("");
  if (!r->err) r->err = strdup("");
  if (getenv("DBFORK_TEST_VERBOSE"))
    fprintf(stderr, "---- dbfork load exit %d (%.2f s)\n---- stdout:\n%s---- stderr:\n%s----\n",
            r->rc, r->secs, r->out, r->err);
}

/* Runs `dbfork load ...` to completion (NULL-terminated extra args). */
#define lt_load(r, e, file, table, ...)                  \
  do {                                                   \
    lt_proc lt__p;                                       \
    lt_start(&lt__p, (e), (file), (table), __VA_ARGS__); \
    lt_wait(&lt__p, (e), (r), 60000);                    \
  } while (0)

/* Fails with the CLI's output when the exit code is not `want`. */
#define CHECK_EXIT(r, want)                                                                     \
  do {                                                                                          \
    if ((r)->rc != (want))                                                                      \
      FAIL("dbfork load exited %d, expected %d\n---- stdout:\n%s---- stderr:\n%s----", (r)->rc, \
           (want), (r)->out, (r)->err);                                                         \
  } while (0)

/* ------------------------------------------------------- processes */

#define lt_children tu_children

/* Polls until none of pids[0..n) is alive (not a zombie) or timeout; returns
 * how many are still alive. */
static inline int lt_wait_gone(const long *pids, int n, int timeout_ms) {
  long long t0 = tu_now_ms();
  int alive;
  while ((alive = tu_pids_alive(pids, n)) > 0 && tu_now_ms() - t0 < timeout_ms) tu_sleep_ms(20);
  return alive;
}

/* --------------------------------------------------------------- misc */

/* Sums over the rows[] whose file offsets fall in [lo, hi). */
static inline lt_sum lt_sum_range(const lt_file *f, const lt_row *rows, uint64_t lo, uint64_t hi) {
  lt_sum s = {0, 0, 0};
  uint64_t i;
  for (i = 0; i < f->nrows; i++)
    if (f->row_off[i] >= lo && f->row_off[i] < hi) lt_sum_add(&s, &rows[i]);
  return s;
}

/* The expected checksum of exactly the chunks recorded in the progress
 * table: every row in the table must belong to a committed chunk, and every
 * committed chunk's rows must be there. */
static inline lt_sum lt_sum_committed(MYSQL *m, const lt_file *f, const lt_row *rows) {
  lt_sum s = {0, 0, 0};
  MYSQL_RES *res;
  MYSQL_ROW row;
  if (mysql_query(m, "SELECT byte_offset, byte_len FROM dbfork_load_progress") ||
      !(res = mysql_store_result(m)))
    FAIL("reading dbfork_load_progress: %s", mysql_error(m));
  while ((row = mysql_fetch_row(res))) {
    uint64_t off = strtoull(row[0], NULL, 10), len = strtoull(row[1], NULL, 10);
    lt_sum t = lt_sum_range(f, rows, off, off + len);
    s.count += t.count;
    s.sum_id += t.sum_id;
    s.sum_crc += t.sum_crc;
  }
  mysql_free_result(res);
  return s;
}

#define lt_try_ll tu_try_ll

/* Runs a shell command line; returns its exit status (or -1). */
static inline int lt_sh(const char *fmt, ...) {
  char cmd[2048];
  va_list ap;
  int st;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  fflush(stdout);
  fflush(stderr);
  st = system(cmd);
  return st == -1 || !WIFEXITED(st) ? -1 : WEXITSTATUS(st);
}

/* ----------------------------------------------------- shared set-ups */

/* Writes rows[0..n) (ids from `first`, values from `seed`; plain notes if
 * `plain`) in the backslash dialect to e->path, a header line first if
 * `header`. *f keeps the file's layout (lt_file_free it). */
static inline void lt_write_rows(const lt_env *e, lt_file *f, lt_row *rows, size_t n,
                                 uint64_t first, uint64_t seed, int plain, int header) {
  lt_gen(rows, n, first, seed, plain);
  lt_file_init(f, LT_BACKSLASH, 0);
  if (header) lt_put_header(f);
  lt_put_rows(f, rows, n, 1);
  lt_write_file(e->path, f->p, f->len);
}

/* Another session of the test's, in its database: to hold a table lock
 * that keeps a load waiting (close it with mysql_close). */
static inline MYSQL *lt_holder(const lt_env *e) {
  MYSQL *m = tu_connect();
  if (mysql_select_db(m, e->db)) FAIL("USE %s: %s", e->db, mysql_error(m));
  return m;
}

/* Waits (bounded) until `sql` returns a value > 0; fails naming `what`. */
static inline void lt_wait_for(const lt_env *e, const char *sql, int timeout_ms, const char *what) {
  long long t0 = tu_now_ms();
  while (lt_try_ll(e->m, sql) <= 0) {
    if (tu_now_ms() - t0 > timeout_ms) FAIL("%s: not within %d ms", what, timeout_ms);
    tu_sleep_ms(5);
  }
}

/* > 0 once a load holds its job's lock (the connection id). */
#define LT_JOB_LOCKED \
  "SELECT IFNULL(MAX(IS_USED_LOCK(CONCAT('dbfork_load:', job_key))), 0) FROM dbfork_load_job"

#endif
