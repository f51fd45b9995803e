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
  uint64_t *lines; /* physical line of each good record, for the server's "at row N" */
  size_t nlines, lines_cap;
  uint64_t rejected, warnings, last_line;
  int warn_kept;
  long long budget_used; /* rejects the job's committed parts used, read at the start */
  int report_only;       /* the part is committed already: find its rejects, load nothing */
  /* load-data: good bytes [emit, span_end) not yet handed to the server */
  size_t emit, span_end;
  int stream_done;
  /* insert */
  MYSQL_STMT *stmt;        /* the full-batch INSERT, prepared once per connection */
  unsigned long stmt_conn; /* the connection it was prepared on */
  MYSQL_BIND *binds;
  unsigned long *lens;
  load_bool *nulls;
  size_t *offs;
  load_buf arena, text;
  unsigned rows_in_batch;
  uint64_t inserted;
} lw;

/* Fails the part for a reason of ours (not the server's): the task returns
 * s->fail_rc, whose detail is set. */
#define lw_fail(s, code, ...) \
  ((s)->fail_rc = dbfork_worker_fail((s)->w, code, 0, NULL, __VA_ARGS__))

/* Parses the next record, reading more of the part when needed, and hands
 * it to the sink (good) or the reject list (bad). Returns CSV_OK,
 * CSV_EBADREC (rejected and reported), CSV_END, or LW_FAILED (fail_rc set). */
#define LW_FAILED (-1)
int lw_next(lw *s);
/* Fails the part with the server's error, naming the file and the part's
 * lines. Returns the code. */
int lw_sql_failure(lw *s, unsigned int code, const char *sqlstate, const char *msg);

/* sink.c */
int sink_load_data(lw *s, uint64_t *loaded); /* 0 or the task's failure code */
int sink_insert(lw *s, uint64_t *loaded);
int sink_insert_row(lw *s, const csv_record *rec); /* buffers a good record; 0 or -1 */
void sink_close(lw *s); /* prepared statements, before the connection closes */

#endif /* DBFORK_LOAD_WORKER_H */
