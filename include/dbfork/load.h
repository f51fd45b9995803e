/*
 * dbfork/load.h — the loader: a CSV file into a table, in parallel, one
 * transaction per chunk, resumable exactly once. This header is the manual
 * of the libdbfork-load library (pkg-config dbfork-load, CMake
 * dbfork::load), which sits on the public pool API of <dbfork.h> and on the
 * MySQL client library, as `dbfork load` does.
 *
 * Model
 * -----
 * A load is made from two sets of options: the connection and pool options
 * (dbfork_options, as for dbfork_pool_new: host, user, option files, TLS,
 * workers, log callback, loop ...) and the load options below (file, table,
 * columns, dialect, method, chunk size, --max-errors ...).
 *
 *   dbfork_load_new()      checks the options (no I/O);
 *   dbfork_load_prepare()  connects, checks the table, finds what an earlier
 *                          run of the same job committed and verifies it
 *                          against the file (blocking);
 *   dbfork_load_run()      starts the workers and loads on the pool's own
 *                          loop until done (blocking); or
 *   dbfork_load_start()    the same on the caller's loop (options.loop), with
 *                          a callback at the end;
 *   dbfork_load_stop()     stops early (a SIGINT watcher calls it);
 *   dbfork_load_stats_get(), dbfork_load_last_error()  what happened;
 *   dbfork_load_free().
 *
 * The file is cut into record-aligned chunks of about chunk_size bytes. The
 * parent sends each worker only a chunk's (offset, length); the worker reads
 * its range itself, validates every record as it streams it to the server
 * (LOAD DATA LOCAL INFILE through a local-infile handler, or prepared
 * multi-row INSERTs), and commits it in one transaction together with one
 * row of its own in the progress table. So a chunk is either loaded and
 * recorded, or neither, whatever kills what when.
 *
 * What is stored is what was validated. For every record the loader
 * accepts, the server stores exactly the fields the loader parsed: the
 * records are sent in the file's character set (character_set, default
 * utf8mb4: LOAD DATA's CHARACTER SET, and the insert method's values), and
 * where the server could read a record differently from the loader's
 * parser (bytes invalid in that character set, a field count that differs
 * from the columns, an unterminated quote), the record is refused instead
 * (a reject, or a failed chunk with max_errors 0). With bad_values
 * "reject" (the default) the same holds for a value the server would
 * truncate, coerce or refuse (an empty DECIMAL, a date that does not
 * exist, a string too long): its record is a reject too, named by file
 * line, column and value, and the chunk is loaded without it in the same
 * transaction. A UTF-8 byte order mark at the start of the file is skipped.
 *
 * Jobs and reruns. A file path and a table are a job (stats.job_id). A
 * rerun of an interrupted job loads only the chunks that are not recorded,
 * after checking that the recorded ones still have the same bytes; if the
 * file changed, prepare fails with DBFORK_ECHANGED naming what changed. A
 * rerun of a completed job on the unchanged file loads nothing
 * (stats.already_loaded); on a changed file it is a new job, which loads
 * the file. restart (forget an interrupted job) and reload (load a
 * completed job again) refuse a table that already holds rows, unless
 * truncate empties it first. Two loads of one job at once: the second
 * fails with DBFORK_EBUSY (the parent's session holds a named lock for the
 * job while it runs, which the server drops when that session ends).
 *
 * One job, many processes. With job_name, any number of processes, on one
 * host or several, load one file (the same bytes, on shared storage or a
 * copy each) into one table together. The job is known by its name. The
 * first process stores the job's row; a later one is refused
 * (DBFORK_EINVAL, naming what differs) if its table, file size, chunk size
 * or the options that decide the rows (columns, set, dialect, skip_lines,
 * method, on_duplicate, character set, bad_values, max_errors) differ, and
 * checks every chunk the job committed so far against its own file (byte
 * range and hash: DBFORK_ECHANGED) and every chunk boundary it cuts
 * against the plan row stored by whoever cut it first (DBFORK_ECHANGED).
 * Every process reads the file and cuts the same chunks; a worker claims a
 * chunk with SELECT ... FOR UPDATE SKIP LOCKED on its plan row in the
 * chunk's own transaction, so the claim, the rows and the progress row
 * commit together or not at all. A chunk another process holds or has
 * committed is skipped and looked at again once the process has cut the
 * whole file (every half second while another process still holds some);
 * the process ends when every chunk is committed, and marks the job
 * complete. A process whose heartbeat (its row in dbfork_load_process,
 * updated every second) is older than dead_after is taken for dead by the
 * first live process to see it, which KILLs its sessions, so the chunks
 * it held roll back and are loaded by the others; a process taken for
 * dead that comes back stops with DBFORK_ECANCELED without writing
 * anything twice. A completed job's name loads nothing again (already
 * loaded); use a new name for new content.
 *
 * Tables. The loader keeps three tables, by default in the target table's
 * database, created if missing (their definitions are in sql/ of the
 * source tree): dbfork_load_job (one row per job: the file, the table, the
 * rejects committed so far, when it completed), dbfork_load_plan (one row
 * per chunk: its byte range; each chunk's transaction locks its row first,
 * which is the claim that keeps two transactions of one chunk from ever
 * both committing) and dbfork_load_progress (one row per committed chunk or
 * part of a chunk). progress_table puts them elsewhere (an account that may
 * only SELECT and INSERT into the target needs that, or no_resume: no
 * loader tables at all, one transaction per chunk, no exactly-once rerun).
 * The target table must be on a transactional engine (InnoDB): a chunk that
 * fails must roll back.
 *
 * Faults. A chunk whose worker dies (crash, SIGKILL, OOM) or loses its
 * connection is retried by the pool (options.max_retries), then goes to the
 * back of the queue with backoff; a chunk that keeps failing that way is
 * split in halves at a record boundary, and the halves are retried, so that
 * a record that kills its worker is cornered in a small line range while
 * every other chunk loads. Only when a part of one record keeps failing does
 * the load give that part up; it goes on with the rest and ends with
 * DBFORK_EINCOMPLETE, reporting the line ranges it could not load through
 * the chunk callback (DBFORK_LOAD_CHUNK_GAVE_UP). A chunk whose COMMIT
 * outcome is unknown (the connection or the worker was lost during COMMIT)
 * is run again: its claim waits until the first attempt's transaction has
 * ended on the server, then finds it committed (its rows are counted, its
 * rejects reported again) or loads it. Any other failure of a chunk (an SQL
 * error, more rejects than max_errors) fails the load: no more chunks are
 * started, those in flight finish, and the failing chunk rolls back.
 *
 * Callbacks. The library never prints and never exits. What a user needs
 * to see reaches the callbacks of dbfork_load_options, on the thread that
 * runs the loop (inside dbfork_load_run, or the caller's uv_run): every
 * rejected record with its file line, column and original bytes; the
 * server's warnings with the file line of the record they name; each chunk
 * as it ends. Pointers passed to a callback are valid during the call only.
 * Diagnostics (worker restarts, retries) go to the log callback of the
 * dbfork_options.
 *
 * Errors. Functions return 0 or a negative DBFORK_E* code (dbfork.h);
 * dbfork_load_last_error() holds a message naming the option, file line,
 * chunk or server error. A function that takes a callback and returns an
 * error never calls that callback.
 *
 * Threads. A dbfork_load is used from one thread, the one that runs its
 * loop; only dbfork_load_stop() may also come from a callback on that loop.
 */
#ifndef DBFORK_LOAD_H
#define DBFORK_LOAD_H

#include <dbfork.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dbfork_load dbfork_load;

/* ---------------------------------------------------------------------------
 * Events passed to the callbacks.
 * ------------------------------------------------------------------------- */

/* A record the loader refused, counted against max_errors and left out of
 * the table: malformed (too few or too many fields, an unterminated quote,
 * a stray quote under strict), bytes invalid in the file's character set,
 * or (bad_values "reject") a value the server would truncate, coerce or
 * refuse. Passed by the library: fields may be added at the end. */
typedef struct dbfork_load_reject {
  const char *file;    /* the file's real path */
  uint64_t line;       /* physical line (1-based) where the record starts */
  uint64_t error_line; /* physical line of the offending byte */
  uint64_t column;     /* its 1-based byte column in that line */
  uint64_t field;      /* 1-based field it is in */
  const char *reason;  /* "line L, column C (field F, byte B): why", NUL-terminated */
  const char *raw;     /* the record's bytes as in the file, terminator included */
  size_t raw_len;
  uint64_t chunk;          /* the chunk it is in */
  uint64_t offset;         /* byte offset of the record in the file */
  uint64_t error_offset;   /* byte offset of the offending byte (a bad value: its field's) */
  int bad_value;           /* 1: the server refused a value (column_name, value) */
  const char *column_name; /* bad_value: the column, NUL-terminated; "" otherwise */
  const char *value;       /* bad_value: the field as parsed (value_len bytes) */
  size_t value_len;
} dbfork_load_reject;

/* A warning the server gave for a chunk's statement (say a value it
 * truncated). Up to 5 are passed per chunk; the chunk event counts all. */
typedef struct dbfork_load_warning {
  const char *file;
  uint64_t line;       /* line of the record the warning names; the chunk's first
                          line when the server names no row */
  const char *message; /* the server's text, NUL-terminated */
  uint64_t chunk;      /* the chunk */
  uint64_t chunk_first_line, chunk_last_line;
} dbfork_load_warning;

/* What happened to a chunk (dbfork_load_chunk.what). */
enum {
  DBFORK_LOAD_CHUNK_DONE = 1, /* committed now (or found committed after an unknown COMMIT
                                 outcome: `recovered` is 1) */
  DBFORK_LOAD_CHUNK_FAILED,   /* failed for good; the load stops (status, message) */
  DBFORK_LOAD_CHUNK_REQUEUED, /* its worker was lost again: it goes to the back of the queue */
  DBFORK_LOAD_CHUNK_SPLIT,    /* it kept failing: split into two halves, retried */
  DBFORK_LOAD_CHUNK_GAVE_UP,  /* a part too small to split kept failing: not loaded; the load
                                 goes on and ends DBFORK_EINCOMPLETE (rerun to retry it) */
  DBFORK_LOAD_CHUNK_CANCELLED /* the load was stopped before it ran */
};

/* A chunk, or a part of one after splits (part 1 is the whole chunk; the
 * halves of part k are 2k and 2k+1). */
typedef struct dbfork_load_chunk {
  int what;        /* DBFORK_LOAD_CHUNK_* */
  uint64_t chunk;  /* 0-based chunk number */
  uint64_t part;   /* 1 = the whole chunk */
  uint64_t offset; /* byte range in the file */
  uint64_t length;
  uint64_t first_line; /* lines of its first and last record */
  uint64_t last_line;
  uint64_t records;      /* records in it (good and rejected) */
  uint64_t loaded;       /* DONE: rows the server took (LOAD DATA: records sent) */
  uint64_t rejected;     /* DONE: records refused */
  uint64_t warnings;     /* DONE: the server's warnings */
  unsigned int attempts; /* failed attempts so far (worker lost, connection lost) */
  int recovered;         /* DONE: found committed after an unknown COMMIT outcome */
  int status;            /* FAILED/REQUEUED/SPLIT/GAVE_UP: the DBFORK_E* class */
  unsigned int mysql_errno;
  const char *sqlstate; /* "" if none */
  const char *message;  /* the failure's detail, names the file and lines; "" if none */
} dbfork_load_chunk;

typedef void (*dbfork_load_reject_fn)(dbfork_load *l, const dbfork_load_reject *r, void *ud);
typedef void (*dbfork_load_warning_fn)(dbfork_load *l, const dbfork_load_warning *w, void *ud);
typedef void (*dbfork_load_chunk_fn)(dbfork_load *l, const dbfork_load_chunk *c, void *ud);
/* dbfork_load_start's completion: status as dbfork_load_run returns it. */
typedef void (*dbfork_load_done_fn)(dbfork_load *l, int status, void *ud);

/* ---------------------------------------------------------------------------
 * Options. Initialise with dbfork_load_options_init(), then set fields.
 * Strings are copied by dbfork_load_new(). NULL or 0 means the default named
 * beside the field. The string options take exactly what `dbfork load`
 * takes on its command line. Fields are only ever appended: the struct
 * carries its size (docs/ABI.md), so a program built against this header
 * keeps working with a later libdbfork-load.
 * ------------------------------------------------------------------------- */
typedef struct dbfork_load_options {
  size_t size;         /* sizeof(dbfork_load_options) in the caller: set by the init macro */
  const char *file;    /* required: a regular file (pipes cannot be split) */
  const char *table;   /* required: "db.table", or "table" with the connection's database */
  const char *columns; /* "a,@v,c": the file's columns in order, "@v" a field read into a
                          variable (skipped, or used by `set`); default all of the table's */

  /* Dialect, as LOAD DATA's options and mysqlimport's, each decoded like an
   * SQL string literal ("\t", "\r\n", "\\"). */
  const char *fields_terminated_by; /* default "," */
  const char *fields_enclosed_by;   /* default "\""; "" for none */
  const char *fields_escaped_by;    /* default "\\"; "" for none (RFC 4180: doubled quotes) */
  const char *lines_terminated_by;  /* default "\n", which also takes "\r\n" (records
                                       may mix both: load-data sends the server "\n") */
  uint64_t skip_lines;              /* header records to skip */
  int strict;                       /* 1: a stray quote in an unquoted field is a bad record */

  const char *method;       /* "load-data" (LOAD DATA LOCAL INFILE), "insert" (prepared
                               multi-row INSERTs) or "bulk" (MariaDB's array binding: one
                               one-row INSERT executed per batch of rows, COM_STMT_BULK_EXECUTE,
                               values bound where they lie in the part's buffer; a batch the
                               server errs or warns about is rolled back to its savepoint and
                               loaded as "insert" loads it, so the rows, rejects and warnings
                               are insert's. Needs MariaDB 10.2 or later and Connector/C:
                               dbfork_load_prepare fails with DBFORK_EINVAL elsewhere).
                               NULL: load-data ("insert" with on_duplicate "update", "bulk"
                               for it where the server has array binding) */
  const char *on_duplicate; /* "error" (default), "ignore", "replace", or "update" (insert
                               and bulk methods only) */
  unsigned int batch;       /* rows per INSERT with the insert method, per execution with
                               bulk; default 1000,
                               at most 65535 (fewer if there are many columns) */
  uint64_t chunk_size;      /* bytes per chunk and transaction; default file size / 16
                               within 1 MiB .. 4 MiB; at most 1 GiB. A rerun must cut
                               the same chunks: use the same value */
  uint64_t max_errors;      /* bad records the whole load may reject, across reruns;
                               default 0: the first one fails its chunk and the load */
  int restart;              /* 1: forget what earlier runs of this job recorded and load
                               the file as a new job; refused if the table holds rows,
                               unless truncate */

  /* Callbacks (each may be NULL) and their user data. A part's rejects and
   * warnings reach on_reject and on_warning once the part has committed,
   * after its DBFORK_LOAD_CHUNK_DONE event. With max_errors 0 a bad record
   * never reaches on_reject: it fails its chunk (DBFORK_LOAD_CHUNK_FAILED,
   * whose message names its file, line and column). */
  dbfork_load_reject_fn on_reject;
  dbfork_load_warning_fn on_warning;
  dbfork_load_chunk_fn on_chunk;
  void *ud;

  /* Added after 1.0 (docs/ABI.md: the struct grows at its end only). */
  const char *character_set;  /* the file's character set, as the server names it: utf8mb4
                                 (default), utf8mb3 (or utf8), ascii, latin1, binary, any
                                 single-byte set, or an EUC set (ujis, euckr, gb2312 ...).
                                 With utf8mb4, utf8mb3 and ascii every record's bytes are
                                 checked: invalid ones make a bad record. Sets whose
                                 multi-byte characters can hold ASCII bytes (sjis, cp932,
                                 gbk, big5, gb18030) and the wide ones (ucs2, utf16, utf32)
                                 are refused: the server would read terminators inside
                                 them differently */
  const char *bad_values;     /* "reject" (default): a value the server would truncate,
                                 coerce or refuse makes its record a bad record (max_errors,
                                 on_reject with column_name and value), the chunk is loaded
                                 without it; "warn": the server stores what it makes of the
                                 value and warns (on_warning), as LOAD DATA does */
  const char *set;            /* "col = expr, ...": LOAD DATA's SET clause, for both
                                 methods; expressions may use the @variables of columns */
  const char *progress_table; /* "db.table" (or "table" in the target's database): the
                                 progress table, its job and plan tables beside it (a name
                                 ending in _progress: the same name with _job and _plan;
                                 otherwise name_job and name_plan). Default
                                 dbfork_load_progress in the target's database */
  int no_resume;              /* 1: no loader tables and no progress rows (no CREATE
                                 privilege needed): one transaction per chunk, a rerun
                                 loads the whole file again; restart and reload are then
                                 refused, truncate still empties the table first */
  int reload;                 /* 1: load a completed job again, as a new job; refused if
                                 the table holds rows, unless truncate */
  int truncate;               /* 1: empty the table first (DELETE, in one transaction with
                                 the start of a new job: as restart or reload) */
  const char *job_name;       /* a job shared by processes on several hosts (see "One job,
                                 many processes" below): 1-64 of A-Z a-z 0-9 _ . -; NULL: a
                                 job of one process. Not with restart, reload, truncate or
                                 no_resume */
  double dead_after;          /* job_name: seconds without a heartbeat after which another
                                 process KILLs a process's sessions; default 10, within
                                 2 .. 3600 */
} dbfork_load_options;

/* Fills *o with the defaults (all zero) and its size. Always call it first,
 * as dbfork_load_options_init(&o): the macro passes the caller's sizeof, so
 * that fields added later get their defaults. NULL is fine (nothing). Options
 * made any other way (= {0}) are refused by dbfork_load_new(). */
DBFORK_EXTERN void dbfork_load_options_init(dbfork_load_options *o, size_t size);
#define dbfork_load_options_init(o) dbfork_load_options_init((o), sizeof *(o))

/* ---------------------------------------------------------------------------
 * Lifecycle.
 * ------------------------------------------------------------------------- */

/* Creates a load from the connection and pool options *conn (as for
 * dbfork_pool_new; task, init, on_connect, transaction, local_infile,
 * prefetch, queue_max and submit_nonblocking are the loader's and are
 * ignored; program_name defaults to "dbfork-load") and the load options *lo.
 * Both are copied: the caller may free them afterwards. No I/O happens:
 * the load options and conn->workers are checked here, the connection
 * options when dbfork_load_prepare() connects.
 * Returns 0 and sets *out; or DBFORK_EINVAL (out, conn or lo is NULL; or a
 * bad or missing option: the log callback of *conn gets a message naming
 * it), DBFORK_ENOMEM, with *out = NULL. Free with dbfork_load_free(). */
DBFORK_EXTERN int dbfork_load_new(dbfork_load **out, const dbfork_options *conn,
                                  const dbfork_load_options *lo);

/* Opens the file and the parent's connection (dbfork_connect), checks the
 * table, its columns, its engine and the character set, takes the job's
 * lock (held until the load is freed), creates the loader's tables if
 * missing, reads what earlier runs of this job recorded and checks every
 * recorded chunk against the file (which reads the file once when there is
 * one). Blocking; call it before the loop runs (not from a callback). Once
 * it succeeded, dbfork_load_stats_get() tells whether the load resumes
 * (`resumed`, `parts_before`; the bytes and chunks of earlier runs are
 * counted as the run cuts the file again), follows a completed job
 * (`previous_job`), or has nothing to do (`already_loaded`: the run then
 * returns 0 at once, without starting workers). dbfork_load_run() and
 * dbfork_load_start() call it if it was not called. A failed prepare is
 * final: the load has ended with that status, later calls return
 * DBFORK_ESTATE, and it is freed with dbfork_load_free().
 * Returns 0, or, with the detail in dbfork_load_last_error():
 *   DBFORK_EINVAL   bad input: NULL; the file is not a readable regular file,
 *                   the table or a column does not exist, the engine has no
 *                   transactions, the server does not know the character set (or it is one
 *                   the loader refuses), restart or reload on a table that
 *                   holds rows without truncate, a connection option is
 *                   invalid (ssl_mode ...)
 *   DBFORK_ECONNECT the parent's connection failed
 *   DBFORK_EBUSY    another run is loading the same job now (the message
 *                   names its connection id)
 *   DBFORK_ECHANGED an interrupted run of this job recorded chunks that
 *                   differ from the file now (the message says what changed:
 *                   restore the file, or empty the table and set restart),
 *                   or committed more rejects than max_errors allows
 *   DBFORK_EACCES   the account may not create or write the loader's tables
 *                   (the message names the privilege, progress_table and
 *                   no_resume)
 *   DBFORK_ESQL     another statement of the loader's own failed
 *   DBFORK_EIO, DBFORK_ENOMEM, DBFORK_ESTATE (called twice or after run). */
DBFORK_EXTERN int dbfork_load_prepare(dbfork_load *l);

/* Starts the workers and loads the file on the pool's own loop, blocking
 * until every chunk has ended and the workers have left. Prepares first if
 * needed. Returns
 *   0                   every record was loaded or rejected within max_errors
 *                       (stats.rejected + stats.rejected_before > 0 tells the
 *                       second case);
 *   DBFORK_EINCOMPLETE  parts of the file that kept losing their worker were
 *                       given up (the chunk callback named their lines); the
 *                       rest is loaded, a rerun loads what is missing;
 *   DBFORK_ECANCELED    dbfork_load_stop() was called (also before the run):
 *                       chunks in flight finished or rolled back, a rerun
 *                       resumes;
 *   DBFORK_EINIT        the workers could not start (last_error says why); or
 *                       what dbfork_pool_new/dbfork_pool_start returned
 *                       otherwise (-errno of fork, DBFORK_ENOMEM);
 *   the class of the first chunk that failed (DBFORK_ESQL, DBFORK_ETASK ...):
 *                       nothing of that chunk was committed, chunks committed
 *                       before stay, a rerun after a fix resumes;
 *   anything dbfork_load_prepare() returns; DBFORK_EINVAL for NULL;
 *   DBFORK_ESTATE if the load runs on a caller's loop (use
 *   dbfork_load_start), ran already, or its prepare failed.
 * The pool's own loop exists only inside this call: to stop on SIGINT, run
 * on a loop of your own with dbfork_load_start() and a uv_signal_t, or call
 * dbfork_load_stop() from a callback of the load.
 * Must not be called from inside a callback. */
DBFORK_EXTERN int dbfork_load_run(dbfork_load *l);

/* The same on the caller's loop (dbfork_options.loop given to
 * dbfork_load_new): prepares if needed and starts the workers (both
 * blocking: dbfork_pool_start runs the loop until the workers are
 * connected), then returns; the load goes on while the caller runs the loop,
 * and `done(l, status, ud)` is called once at the end, on the loop thread,
 * with what dbfork_load_run would return. Free the load after that (not
 * from inside `done`: dbfork_load_free waits for the workers to leave).
 * Returns 0; or an error of prepare, DBFORK_EINIT (or another error of
 * dbfork_pool_new/dbfork_pool_start), DBFORK_ECANCELED (dbfork_load_stop was
 * called, say by a signal watcher, while the workers started),
 * DBFORK_EINVAL (l or done is NULL), DBFORK_ESTATE (not a caller's loop,
 * started already, or its prepare failed), in which case done is never
 * called. */
DBFORK_EXTERN int dbfork_load_start(dbfork_load *l, dbfork_load_done_fn done, void *ud);

/* Stops the load early: no chunk is started any more, chunks not yet
 * running are cancelled, workers finish the chunk they run (COMMIT
 * included) or, after the pool's term_grace_ms, are killed and their chunk
 * rolled back. The run then returns DBFORK_ECANCELED; a rerun resumes.
 * Non-blocking; safe from any callback on the loop thread (a uv_signal_t
 * handler for SIGINT). Returns 0, also when already stopped or done;
 * DBFORK_EINVAL for NULL. */
DBFORK_EXTERN int dbfork_load_stop(dbfork_load *l);

/* Frees the load; stops it first if it runs, and waits for its workers to
 * leave. NULL is fine. Must not be called from inside a callback. On a
 * caller's loop, the pool closes its handles on that loop: run it once more
 * (uv_run(loop, UV_RUN_DEFAULT) returns at once when nothing else is on it)
 * before uv_loop_close(). */
DBFORK_EXTERN void dbfork_load_free(dbfork_load *l);

/* ---------------------------------------------------------------------------
 * Results.
 * ------------------------------------------------------------------------- */

typedef struct dbfork_load_stats {
  char job_id[17];          /* the job: a hash of the file's real path and the table */
  int resumed;              /* 1: an earlier run of this job had committed chunks */
  uint64_t parts_before;    /* chunks or parts of chunks earlier runs committed (set by
                               dbfork_load_prepare) */
  int workers;              /* worker processes */
  int workers_busy;         /* of them, running a chunk now */
  uint64_t file_bytes;      /* size of the file */
  uint64_t bytes_done;      /* bytes of chunks committed by this run */
  uint64_t bytes_before;    /* bytes of chunks committed by earlier runs */
  uint64_t rows_loaded;     /* rows this run loaded (LOAD DATA: records sent) */
  uint64_t records;         /* records this run read, good and rejected */
  uint64_t rejected;        /* records rejected by this run */
  uint64_t rejected_before; /* records rejected by the chunks of earlier runs */
  uint64_t warnings;        /* server warnings */
  uint64_t retries;         /* chunk attempts beyond the first, the pool's retries included */
  uint64_t chunks;          /* chunks of the file found so far (all of them at the end) */
  uint64_t chunks_done;     /* committed by this run */
  uint64_t chunks_before;   /* committed by earlier runs */
  uint64_t chunks_failed;
  uint64_t chunks_cancelled;
  uint64_t requeues; /* parts sent to the back of the queue */
  uint64_t splits;   /* parts split in halves */
  uint64_t given_up; /* parts given up (DBFORK_LOAD_CHUNK_GAVE_UP) */
  int done;          /* 1 once the load has ended */
  int status;        /* then: its result, as dbfork_load_run returns it */

  /* Added after 1.0 (docs/ABI.md: the struct grows at its end only). */
  int already_loaded;        /* 1: the job had completed on the unchanged file: prepare
                                found nothing to load and the run does nothing (reload) */
  char previous_job[17];     /* the completed job of this file and table that this one
                                follows (the file changed, reload or truncate); "" if none */
  char loaded_at[32];        /* when that job completed ("YYYY-MM-DD HH:MM:SS", the
                                server's time), or, already_loaded, this one */
  uint64_t rows_before;      /* rows the job's earlier runs committed (already_loaded: the
                                job's rows) */
  int no_resume;             /* 1: no progress was recorded (options.no_resume) */
  uint64_t chunks_given_up;  /* chunks of which a part was given up */
  uint64_t chunks_elsewhere; /* job_name: chunks this run found committed by another process
                                after it had started (those committed before are
                                chunks_before) */
  uint64_t job_chunks_done;  /* job_name: chunks (or parts) of the job committed by every
                                process, read at the end */
  uint64_t job_rows_done;    /* job_name: records of those */
  uint64_t processes_killed; /* job_name: silent processes whose sessions this run KILLed */
} dbfork_load_stats;

/* Fills *st. Valid at any time after dbfork_load_new (counts are 0 before
 * the run); on the loop thread. Call it as dbfork_load_stats_get(l, &st):
 * the macro passes the caller's sizeof(dbfork_load_stats), and nothing is
 * written past it (docs/ABI.md; fields are only appended). Returns 0, or
 * DBFORK_EINVAL for NULL or a size below the struct of 1.0. */
DBFORK_EXTERN int dbfork_load_stats_get(dbfork_load *l, dbfork_load_stats *st, size_t st_size);
#define dbfork_load_stats_get(l, st) dbfork_load_stats_get((l), (st), sizeof(dbfork_load_stats))

/* The detail of the last error: names the option, the file and line, the
 * chunk, or gives the server's message. "" if none. Owned by the load,
 * valid until the next call on it. */
DBFORK_EXTERN const char *dbfork_load_last_error(const dbfork_load *l);

/* The pool the load runs its workers in (for dbfork_pool_loop and
 * dbfork_pool_stats_get), or NULL before dbfork_load_run/start created it.
 * Owned by the load. */
DBFORK_EXTERN dbfork_pool *dbfork_load_pool(dbfork_load *l);

/* ---------------------------------------------------------------------------
 * Shared loads from anywhere (`dbfork job`). conn: the connection options
 * (as for dbfork_load_new; the pool fields are ignored); progress_db: the
 * database of the load tables under their default names (dbfork_load_job,
 * _plan, _progress, _process), NULL for conn's database. Jobs kept under
 * another progress_table name are not seen here.
 * ------------------------------------------------------------------------- */

/* The loads shared with job_name in that database (name NULL: one line
 * each under a header, or a JSON array: kind "load", name, id, table,
 * chunks committed, live processes (a heartbeat in the last 10 s), state
 * running / stopped / completed), or one job's report (its file, size and
 * chunk size, table, chunks cut and committed, records and bytes done; per
 * process: workers, chunks and rows done, rate, heartbeat age, state
 * running / silent / ended / killed; an ETA from the bytes left and the
 * live processes' rates), as text or with `json` 1 as JSON. *out is
 * malloc'ed (free() it). Returns 0; or, with one line in err: DBFORK_EINVAL
 * (a bad name), DBFORK_ECONNECT, DBFORK_ENOENT (no such job, or no load
 * tables there), DBFORK_ESQL. */
DBFORK_EXTERN int dbfork_load_job_report(const dbfork_options *conn, const char *progress_db,
                                         const char *name, int json, char **out, char *err,
                                         size_t errlen);

/* Forgets shared load `name`: its rows in the four load tables (the rows
 * it loaded stay in the table). Refused (DBFORK_EBUSY) while one of its
 * processes has a heartbeat younger than 10 s. Returns 0, DBFORK_ENOENT,
 * or as dbfork_load_job_report. */
DBFORK_EXTERN int dbfork_load_job_forget(const dbfork_options *conn, const char *progress_db,
                                         const char *name, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif /* DBFORK_LOAD_H */
