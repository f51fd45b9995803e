/*
 * test_load_diff.c — the contract of issue 11, point 1, tested
 * differentially: for every record `dbfork load` accepts, the server stores
 * exactly the fields dbfork parsed.
 *
 * Each case (hostile.h: a seed, a dialect, a file of hostile records) is
 * loaded by `dbfork load` with both methods (small chunks, two workers,
 * --max-errors high) and by one plain LOAD DATA LOCAL INFILE with the same
 * options — of the file without the records dbfork refused, which it
 * names in the reject file (each with the byte offset of what is wrong,
 * and its bytes). A "\n" dialect reads "\r\n" as a line end too (what
 * dbfork load does with --lines-terminated-by='\n', the default): the
 * records the plain load gets end in "\n" then, cut where dbfork's parser
 * (src/load/csv.c) cuts them. Then:
 *   - dbfork's table and the plain load's are the same multiset of rows,
 *     byte for byte (HEX of every column, NULL apart);
 *   - the plain load of what dbfork accepted draws no warning from the
 *     server: nothing dbfork accepted was truncated, coerced or read as
 *     another row;
 *   - the rows in dbfork's table and its rejects add up to the records it
 *     read (its --json summary).
 * A bounded number of cases runs in CI (DBFORK_DIFF_CASES=N for more,
 * DBFORK_DIFF_SEED=S for one); a failure names its seed, and
 * DBFORK_TEST_KEEP=1 keeps its files (data.csv, accepted.csv, rejects.*).
 */
#define _GNU_SOURCE /* memmem */
#include "csv.h"
#include "hostile.h" /* and loadtest.h */

#define RECORDS 60
#define CASES 24

static const char *const methods[] = {"load-data", "insert", "bulk"};

static void make_table(lt_env *e, const char *name) {
  tu_exec(e->m,
          "CREATE TABLE `%s` (a VARBINARY(40) NULL, b VARCHAR(12) CHARACTER SET utf8mb4 NULL, c "
          "TEXT CHARACTER SET utf8mb4 NULL) ENGINE=InnoDB",
          name);
}

/* The rows of a table as one string per row, sorted: the multiset. */
#define ROW_SQL "CONCAT_WS('|', IFNULL(HEX(a), 'N'), IFNULL(HEX(b), 'N'), IFNULL(HEX(c), 'N'))"

/* Up to 5 rows that are in one table more often than in the other, or
 * NULL if none. */
static char *difference(lt_env *e, const char *t1, const char *t2) {
  char *d = tu_query_str(e->m,
                         "SELECT IFNULL(GROUP_CONCAT(CONCAT(h, ' x', n) SEPARATOR '; '), '') FROM "
                         "(SELECT h, SUM(k) n FROM (SELECT " ROW_SQL
                         " h, 1 k FROM `%s` UNION ALL "
                         "SELECT " ROW_SQL
                         " h, -1 k FROM `%s`) u GROUP BY h HAVING n <> 0 LIMIT "
                         "5) x",
                         t1, t2);
  if (d && !*d) {
    free(d);
    return NULL;
  }
  return d;
}

/* The reject file: for each entry "# FILE: line L, column C (field F,
 * byte B): reason" and the record's bytes, the record's range in the file
 * (the bytes as written, found at or before B). Marks removed[] and
 * returns how many entries. */
static size_t rejected_ranges(const hc_case *c, const char *csv, const char *rpath,
                              unsigned char *removed) {
  size_t len, n = 0;
  char *txt = lt_read_file(rpath, &len), *p, prefix[300];
  if (!txt) return 0;
  snprintf(prefix, sizeof prefix, "# %s: line ", csv);
  p = txt;
  while (p < txt + len) {
    char *hdr_end, *raw, *next, *b;
    unsigned long long at;
    size_t rawlen, best = (size_t)-1, blen = 0, k;
    if (strncmp(p, prefix, strlen(prefix)))
      FAIL("seed %llu: reject file: no '%s...' header at byte %zu", (unsigned long long)c->seed,
           prefix, (size_t)(p - txt));
    hdr_end = memchr(p, '\n', (size_t)(txt + len - p));
    if (!hdr_end)
      FAIL("seed %llu: reject file: a header without a newline", (unsigned long long)c->seed);
    b = memmem(p, (size_t)(hdr_end - p), ", byte ", 7);
    if (!b)
      FAIL("seed %llu: reject header without the byte offset: %.*s", (unsigned long long)c->seed,
           (int)(hdr_end - p), p);
    at = strtoull(b + 7, NULL, 10);
    raw = hdr_end + 1;
    next = raw;
    for (;;) { /* the next header at a line start */
      next = memmem(next, (size_t)(txt + len - next), prefix, strlen(prefix));
      if (!next || next[-1] == '\n') break;
      next++;
    }
    rawlen = next ? (size_t)(next - raw) : (size_t)(txt + len - raw);
    /* The bytes as written: every record of a case ends in the line
     * terminator (the last one is plain), and the CLI adds a newline to a
     * record that does not end in one. */
    {
      size_t rl = rawlen - (c->lt[strlen(c->lt) - 1] != '\n' && rawlen ? 1 : 0);
      for (k = 0; k + rl <= c->len; k++)
        if (k <= at && at <= k + rl && !memcmp(c->p + k, raw, rl) &&
            (best == (size_t)-1 || k > best)) {
          best = k;
          blen = rl;
        }
    }
    if (best == (size_t)-1)
      FAIL("seed %llu: rejected bytes not found in the file at byte %llu: %.*s",
           (unsigned long long)c->seed, at, (int)(hdr_end - p), p);
    memset(removed + best, 1, blen);
    n++;
    p = raw + rawlen;
  }
  free(txt);
  return n;
}

/* The records of the file that dbfork did not refuse (their first byte is
 * not in removed[]), each ending in the dialect's terminator ("\n" for a
 * record a "\n" dialect read as ending in "\r\n"). */
static char *accepted_bytes(const hc_case *c, const unsigned char *removed, size_t *olen) {
  csv_dialect d;
  csv_parser p;
  csv_field *fields = calloc(4096, sizeof *fields);
  char *scratch = malloc(c->len + 1), *out = malloc(c->len + 1), err[200];
  size_t off = 0, o = 0;
  if (!fields || !scratch || !out) FAIL("out of memory");
  if (csv_dialect_parse(&d, c->ft_opt, c->enc >= 0 ? c->enc_opt : "", c->esc >= 0 ? c->esc_opt : "",
                        c->lt_opt, err, sizeof err))
    FAIL("seed %llu: dialect: %s", (unsigned long long)c->seed, err);
  csv_parser_init(&p, &d, fields, 4096, scratch, c->len + 1);
  while (off < c->len) {
    csv_record rec;
    csv_error e;
    int r = csv_parse_record(&p, c->p + off, c->len - off, 1, &rec, &e);
    size_t n = r == CSV_OK ? rec.raw_len : r == CSV_EBADREC ? e.raw_len : 0;
    if (!n)
      FAIL("seed %llu: the parser stopped at byte %zu (%d)", (unsigned long long)c->seed, off, r);
    if (!removed[off]) {
      if ((d.flags & CSV_F_CRLF) && rec.term_len == 2) {
        memcpy(out + o, c->p + off, n - 2);
        o += n - 2;
        out[o++] = '\n';
      } else {
        memcpy(out + o, c->p + off, n);
        o += n;
      }
    }
    off += n;
  }
  free(fields);
  free(scratch);
  *olen = o;
  return out;
}

/* LOAD DATA LOCAL INFILE of path into table, with the case's options. */
static void plain_load(lt_env *e, MYSQL *li, const hc_case *c, const char *path, const char *table,
                       long long *warnings) {
  char ft[16], lt[16], enc[8], esc[8], encb = (char)c->enc, escb = (char)c->esc, sql[1024];
  const char *l = c->lt;
  MYSQL_RES *r;
  MYSQL_ROW row;
  mysql_real_escape_string(li, ft, c->ft, (unsigned long)strlen(c->ft));
  mysql_real_escape_string(li, lt, l, (unsigned long)strlen(l));
  mysql_real_escape_string(li, enc, &encb, c->enc >= 0 ? 1 : 0);
  mysql_real_escape_string(li, esc, &escb, c->esc >= 0 ? 1 : 0);
  snprintf(sql, sizeof sql,
           "LOAD DATA LOCAL INFILE '%s' INTO TABLE `%s`.`%s` CHARACTER SET %s FIELDS "
           "TERMINATED BY '%s' OPTIONALLY ENCLOSED BY '%s' ESCAPED BY '%s' LINES TERMINATED BY "
           "'%s' IGNORE 1 LINES (a, b, c)",
           path, e->db, table, c->charset, ft, enc, esc, lt);
  if (mysql_query(li, sql))
    FAIL("seed %llu: %s: %s", (unsigned long long)c->seed, sql, mysql_error(li));
  *warnings = 0;
  if (mysql_query(li, "SHOW WARNINGS") || !(r = mysql_store_result(li))) FAIL("SHOW WARNINGS");
  while ((row = mysql_fetch_row(r))) {
    if (row[0] && strcmp(row[0], "Note")) {
      if (!*warnings)
        fprintf(stderr, "seed %llu: the plain load of what dbfork accepted warned: %s %s\n",
                (unsigned long long)c->seed, row[1] ? row[1] : "", row[2] ? row[2] : "");
      (*warnings)++;
    }
  }
  mysql_free_result(r);
}

static void one_case(lt_env *e, MYSQL *li, uint64_t seed) {
  hc_case c;
  char accepted[256], rpath[256], ropt[300], ft[40], lt[40], enc[32], esc[32], t[32], cs[40];
  unsigned char *removed;
  size_t i, o = 0, nrej[3];
  char *kept, *d;
  int mi;
  long long warnings;
  hc_generate(&c, seed, RECORDS);
  lt_write_file(e->path, c.p, c.len);
  snprintf(ft, sizeof ft, "--fields-terminated-by=%s", c.ft_opt);
  snprintf(lt, sizeof lt, "--lines-terminated-by=%s", c.lt_opt);
  snprintf(enc, sizeof enc, "--fields-enclosed-by=%s", c.enc_opt);
  snprintf(esc, sizeof esc, "--fields-escaped-by=%s", c.esc_opt);
  snprintf(cs, sizeof cs, "--character-set=%s", c.charset);
  removed = calloc(c.len + 1, 1);
  for (mi = 0; mi < 3; mi++) {
    lt_run r;
    unsigned char *rm = calloc(c.len + 1, 1);
    long long records;
    snprintf(t, sizeof t, "d%d", mi);
    tu_exec(e->m, "DROP TABLE IF EXISTS `%s`", t);
    make_table(e, t);
    snprintf(rpath, sizeof rpath, "%s/rejects.%d", e->dir, mi);
    snprintf(ropt, sizeof ropt, "--reject-file=%s", rpath);
    lt_load(&r, e, e->path, t, "--json", "--no-resume", "--max-errors=100000", "--chunk-size=200",
            "--skip-lines=1", "--method", methods[mi], ft, lt, enc, esc, cs, ropt, NULL);
    if (r.rc != 0 && r.rc != 1)
      FAIL("seed %llu --method=%s: exit %d\n%s%s", (unsigned long long)seed, methods[mi], r.rc,
           r.out, r.err);
    nrej[mi] = rejected_ranges(&c, e->path, rpath, rm);
    for (i = 0; i < c.len; i++) removed[i] |= rm[i];
    if (mi && memcmp(rm, removed, c.len))
      FAIL("seed %llu: the two methods refused different records", (unsigned long long)seed);
    records = tu_query_ll(e->m, "SELECT COUNT(*) FROM `%s`", t);
    {
      const char *k = strstr(r.out, "\"records\":");
      if (!k || records + (long long)nrej[mi] != atoll(k + 10))
        FAIL("seed %llu --method=%s: %lld rows + %zu rejects, but dbfork read: %s",
             (unsigned long long)seed, methods[mi], records, nrej[mi], r.out);
    }
    free(rm);
    lt_run_free(&r);
  }
  /* The file without what dbfork refused, loaded plainly. */
  kept = accepted_bytes(&c, removed, &o);
  snprintf(accepted, sizeof accepted, "%s/accepted.csv", e->dir);
  lt_write_file(accepted, kept, o);
  tu_exec(e->m, "DROP TABLE IF EXISTS plain");
  make_table(e, "plain");
  plain_load(e, li, &c, accepted, "plain", &warnings);
  for (mi = 0; mi < 3; mi++) {
    snprintf(t, sizeof t, "d%d", mi);
    if ((d = difference(e, t, "plain")) != NULL)
      FAIL(
          "seed %llu --method=%s: dbfork's rows and the plain LOAD DATA's differ (row: times in "
          "dbfork's minus in the plain load's): %s",
          (unsigned long long)seed, methods[mi], d);
  }
  if (warnings)
    FAIL("seed %llu: the server warned %lld times on rows dbfork accepted",
         (unsigned long long)seed, warnings);
  free(kept);
  free(removed);
  hc_free(&c);
}

/* The records dbfork accepts are stored as it parsed them: each case's
 * tables equal one plain LOAD DATA of the accepted records. */
TEST(accepted_records_are_stored_as_parsed_differential) {
  lt_env e;
  dbfork_options o;
  MYSQL *li;
  char err[512];
  const char *env = getenv("DBFORK_DIFF_CASES"), *one = getenv("DBFORK_DIFF_SEED");
  uint64_t n = env ? strtoull(env, NULL, 10) : CASES, seed;
  lt_setup(&e, NULL, 0);
  tu_options(&o);
  o.database = e.db;
  o.local_infile = 1;
  if (dbfork_connect(&li, &o, err, sizeof err)) FAIL("connect: %s", err);
  if (one)
    one_case(&e, li, strtoull(one, NULL, 10));
  else
    for (seed = 1; seed <= n; seed++) one_case(&e, li, seed);
  dbfork_mysql_close(li);
  lt_teardown(&e);
}
