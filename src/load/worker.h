/*
 * worker.h — the loader's worker half, shared by worker.c (claim, read,
 * validate, hash, record) and sink.c (LOAD DATA and INSERT). One state per
 * worker process, made by its initializer.
 */
#ifndef DBFORK_LOAD_WORKER_H
#define DBFORK_LOAD_WORKER_H

#include "loader.h"

/* MYSQL_BIND.is_null's target: my_bool in Connector/C, bool in MySQL 8. */
typedef __typeof__(*((MYSQL_BIND *)0)->is_null) load_bool;

/* A growable byte buffer. */
typedef struct load_buf {
  char *p;
  size_t len, cap;
} load_buf;
int load_buf_reserve(load_buf *b, size_t n); /* room for n more; 0 or -1 */
int load_buf_add(load_buf *b, const void *p, size_t n);
/* Appends the strings up to a NULL, keeping the buffer NUL-terminated (the
 * NUL not counted). 0 or -1. */
int load_buf_str(load_buf *b, ...);

/* A good record of the part as parsed (not a malformed one): what a
 * server complaint about one of its values needs to name it. */
typedef struct lw_rec {
  uint64_t line, col; /* of its first byte */
  size_t pos, len;    /* its bytes in the part's buffer */
  uint64_t ord;       /* its number among the part's records, 0-based */
} lw_rec;

/* A value the server complained about: its row (1-based, of the statement)
 * or 0 if it named none, and the column it named. */
typedef struct lw_badval {
  uint64_t row;
  unsigned int code;
  int error; /* the statement's error (not one of its warnings) */
  char column[LOAD_COLUMN_NAME_MAX + 1];
  char msg[512];
} lw_badval;

typedef struct lw {
  const load_conf *c;
  dbfork_worker *w;
  int fd;
  load_part p;  /* the part being loaded */
  csv_chunk ck; /* the same, as the parser takes it */
  /* The part, read from the file piece by piece as the parser needs it
   * (never all up front: with load-data, reading, hashing and validating
   * overlap with the server's work on what was already sent). */
  char *buf;
  size_t cap;
  size_t have;  /* bytes of the part read so far */
  size_t avail; /* bytes the parser may look at: have, + our terminator at the end */
  size_t pos;   /* the next record starts here */
  load_hasher hx;
  uint64_t hash; /* once the whole part has been read */
  csv_parser parser;
  csv_field *fields;
  char *scratch;
  size_t scratch_cap;
  int fail_rc; /* why the part failed, when the failure is ours (detail set) */
  load_reply_writer reply;
  lw_rec *recs; /* each good record parsed in this pass, for the server's "at row N" */
  size_t nlines, lines_cap;
  uint64_t ord;  /* records parsed in this pass, good and bad */
  uint64_t *bad; /* ords of records with a value the server refused (sorted) */
  size_t nbad, bad_cap;
  int pass; /* load-data: 0, then 1, 2 ... after values were refused */
  uint64_t rejected, warnings, last_line;
  uint64_t dropped; /* insert: records of recs[] left out of their batch (refused values) */
  int warn_kept;
  long long budget_used; /* rejects the job's committed parts used, read at the start */
  int report_only;       /* the part is committed already: find its rejects, load nothing */
  unsigned long session; /* the connection whose session variables are set */
  lw_badval *bv;         /* the values the last statement's warnings refused */
  size_t nbv, bv_cap;
  /* the warnings of the last statement that were not refused values, kept
   * until it is known whether the statement stays */
  char (*wmsg)[512];
  uint64_t *wline;
  size_t nw;
  uint64_t wcount;
  /* a second parser for the value of a refused record */
  csv_parser vp;
  csv_field *vfields;
  char *vscratch;
  size_t vscratch_cap;
  /* load-data: good bytes [emit, span_end) not yet handed to the server,
   * then a '\n' if lf_pending */
  size_t emit, span_end;
  int stream_done, lf_pending;
  int last_crlf; /* the record lw_next returned ends in "\r\n" under CSV_F_CRLF */
  /* insert */
  MYSQL_STMT *stmt;        /* the full-batch INSERT, prepared once per connection */
  unsigned long stmt_conn; /* the connection it was prepared on */
  MYSQL_BIND *binds;
  unsigned long *lens;
  load_bool *nulls;
  size_t *offs;
  size_t *brow; /* the recs[] index of each row of the batch */
  load_buf arena, text;
  unsigned rows_in_batch;
  uint64_t inserted;
  /* bulk (bulk.c): the batch column by column, values in place in buf */
  MYSQL_STMT *bstmt;   /* the one-row INSERT, executed with an array of rows */
  MYSQL_BIND *bbinds;  /* nph: column j's arrays */
  const char **bval;   /* nph x batch: value of row r, column j at [j * batch + r] */
  unsigned long *blen; /* the same, lengths */
  char *bind;          /* the same, STMT_INDICATOR_NONE or _NULL */
  size_t *bfix, nbfix; /* slots whose value was decoded: copied into dec ... */
  size_t *bfoff;       /* ... at these offsets (pointers set when the batch goes) */
  load_buf dec;
} lw;

/* Fails the part for a reason of ours (not the server's): the task returns
 * s->fail_rc, whose detail is set. */
#define lw_fail(s, code, ...) \
  ((s)->fail_rc = dbfork_worker_fail((s)->w, code, 0, NULL, __VA_ARGS__))

/* Parses the next record, reading more of the part when needed, and hands
 * it to the sink (good) or the reject list (bad: malformed, invalid bytes,
 * or a value refused in an earlier pass). Returns CSV_OK, CSV_EBADREC
 * (left out), CSV_END, or LW_FAILED (fail_rc set). */
#define LW_FAILED (-1)
int lw_next(lw *s);
/* Starts the part's records again from its first (load-data's next pass). */
void lw_rewind(lw *s);
/* 1 if a new reject would take the load past --max-errors. */
int lw_over_budget(lw *s);
/* Fails the part with the server's error, naming the file and the part's
 * lines. Returns the code. */
int lw_sql_failure(lw *s, unsigned int code, const char *sqlstate, const char *msg);

/* reject.c: a record left out becomes a reject entry of the reply. */
/* A malformed record or one with invalid bytes (from the parser's error,
 * or from csv_check_utf8 with kind CSV_BAD_ENCODING). 0, or LW_FAILED. */
int lw_reject_record(lw *s, const csv_error *e);
/* Record recs[i], whose value the server refused as bv says. 0, or
 * LW_FAILED (max_errors 0 or past the budget: the part fails, naming it). */
int lw_reject_value(lw *s, size_t i, const lw_badval *bv);
/* The warnings of the statement just run: sorts them into refused values
 * (s->bv, with bad_values "reject") and others (kept in s->wmsg until
 * lw_warnings_keep). Returns how many values were refused, or -1 if the
 * server named no row for one of them. */
int lw_scan_warnings(lw *s, MYSQL *m);
/* The other warnings of the statement stay: counted and passed up, each at
 * the file line of its row: recs[map[row - 1]] (nmap rows), or
 * recs[first + row - 1] without a map. */
void lw_warnings_keep(lw *s, const size_t *map, size_t nmap, size_t first);
/* Session settings of the loader, once per connection (worker.c). */
int lw_session(lw *s, MYSQL *m);

/* sink.c */
int sink_load_data(lw *s, uint64_t *loaded); /* 0 or the task's failure code */
int sink_insert(lw *s, uint64_t *loaded);
int sink_insert_row(lw *s, const csv_record *rec); /* buffers a good record; 0 or -1 */
/* The insert method's batch (rows_in_batch rows in arena/offs/lens/nulls,
 * brow set) executed with its reject passes; 0 or -1 (fail_rc set). */
int sink_flush_batch(lw *s);
/* The insert method's batch arrays, once; 0 or a code (fail_rc set). */
int sink_insert_alloc(lw *s);
/* The INSERT of `rows` rows of placeholders (malloc'ed; NULL: no memory). */
char *sink_insert_sql(const load_conf *c, unsigned rows);

/* bulk.c */
int sink_bulk(lw *s, uint64_t *loaded);
int sink_bulk_row(lw *s, const csv_record *rec);
void sink_bulk_close(lw *s);
void sink_close(lw *s); /* prepared statements, before the connection closes */

#endif /* DBFORK_LOAD_WORKER_H */
