/*
 * dbfork/exec.h — exec: one or more SQL statements run over a table in
 * key-range chunks, in parallel, throttled, each chunk exactly once, a
 * rerun resuming where a crash or a stop left it. This header is the manual
 * of the libdbfork-exec library (pkg-config dbfork-exec, CMake
 * dbfork::exec), which sits on the public pool API of <dbfork.h> and on the
 * MySQL client library, as `dbfork exec` does.
 *
 * Model
 * -----
 *   dbfork_exec_new()      checks the options (no I/O);
 *   dbfork_exec_explain()  the plan and the first chunks' SQL with EXPLAIN,
 *                          changing nothing (`dbfork exec --dry-run`);
 *   dbfork_exec_prepare()  connects, finds the key, checks every statement
 *                          on the first chunk with the server (PREPARE: a
 *                          syntax error, an unknown column or a missing
 *                          privilege fails here, before anything runs),
 *                          creates the exec tables if missing and finds what
 *                          an earlier run of the same job committed
 *                          (blocking);
 *   dbfork_exec_run()      starts the workers and runs the job on the pool's
 *                          own loop until done (blocking); or
 *   dbfork_exec_start()    the same on the caller's loop (options.loop), with
 *                          a callback at the end;
 *   dbfork_exec_stop(), dbfork_exec_set_workers()  while it runs;
 *   dbfork_exec_stats_get(), dbfork_exec_last_error()  what happened;
 *   dbfork_exec_free().
 *
 * The statements. `sql` is one or more statements separated by ';', each
 * containing the placeholder {chunk} (a statement without it is refused:
 * it would run once per chunk over the whole table). For each chunk every
 * {chunk} becomes a condition that holds exactly for the rows whose key is
 * in the chunk's range: the table's primary key, composite keys included,
 * compared in key order, or the column `chunk_column` names, which must be
 * the whole of a unique index on NOT NULL columns. A table with neither is
 * refused. The statements must not change the key columns: a row moved
 * into a range that has not run yet would be changed again there. E.g.
 *
 *   UPDATE shop.orders SET total = total * 1.2 WHERE {chunk} AND status = 'open'
 *   INSERT INTO archive.events SELECT * FROM shop.events WHERE {chunk} AND
 *     ts < '2025-01-01'; DELETE FROM shop.events WHERE {chunk} AND ts < '2025-01-01'
 *
 * Chunks. The plan is made as the job goes, from the index: the upper key
 * of the next chunk is the N-th key after the previous chunk's upper key,
 * read by a range scan of N entries of the index from there (no full scan,
 * no OFFSET from the start of the table), one chunk ahead of the workers.
 * N is chunk_rows, or by default tuned as the job goes so that a chunk
 * takes about chunk_time seconds (0.5), from the times of the recent
 * chunks, and smaller near the end so that the workers finish together.
 * The job ends at until_key, by default the largest key when the job first
 * started (kept for its reruns): rows inserted beyond it later are not
 * touched; rows inserted meanwhile inside the range are touched if their
 * chunk had not run yet.
 *
 * Exactly once. Each chunk runs in one worker transaction: first the claim
 * (the chunk's plan row is locked), then every statement, then the INSERT of
 * the chunk's progress row (its key range, rows matched and affected,
 * duration, worker pid, connection id), then COMMIT. So a chunk's changes
 * are committed together with its record or not at all, and a rerun of the
 * same job (the same table, key and statements) after a crash, a SIGKILL of
 * anything or a stop runs only the chunks that are not recorded, with the
 * same key ranges: every row is changed exactly once, also by a statement
 * that is not idempotent (SET n = n + 1). A chunk whose worker or
 * connection is lost is retried (the pool's max_retries, then to the back
 * of the queue with backoff); one whose COMMIT outcome is unknown is run
 * again, and its claim finds whether it committed. Deadlocks and lock wait
 * timeouts (lock_wait_timeout, set in the workers' sessions) are retried
 * per the pool's policy. The first chunk runs alone: if it fails, nothing
 * else has run.
 *
 * Tables. Three tables (four for a shared job: dbfork_exec_process), by
 * default in the target's database, created if missing (their definitions
 * are in sql/ of the source tree):
 * dbfork_exec_job (one row per job: table, key, statements, until key,
 * completion), dbfork_exec_plan (one row per chunk cut: its key
 * range) and dbfork_exec_progress (one row per committed chunk; query it
 * afterwards). `progress_db` puts them in another database.
 *
 * Throttling. With max_load, no chunk starts while the server's
 * Threads_running (which counts the job's own running statements) is above
 * it; with critical_load, the job stops (DBFORK_EBUSY) when it is above
 * that. The number of chunks running at once can be changed while the job
 * runs (dbfork_exec_set_workers), between 1 and the worker processes
 * forked (max_workers).
 *
 * Replicas. With `replicas`, the parent opens a connection of its own to
 * each (in prepare: one that cannot be reached fails prepare with
 * DBFORK_ECONNECT, one that is not a replica with DBFORK_EINVAL, the
 * message naming the DSN) and, at most every 0.5 s while chunks are handed
 * out, reads its lag: Seconds_Behind_Master of SHOW ALL SLAVES STATUS
 * (MariaDB; the largest over its replication connections), or, where that
 * statement does not exist, of SHOW REPLICA STATUS / SHOW SLAVE STATUS,
 * found by column name (Seconds_Behind_Source in MySQL 8.0.22 and later;
 * only MariaDB 10.11 is tested). No chunk starts while a replica's lag is
 * above max_lag, as for max_load (chunks running go on). NULL (replication
 * stopped), no replication any more, and a replica whose connection is lost
 * all count as lagging: the job waits, logging one line (WARN) naming the
 * DSN when that starts and one when it is over, and reconnects at most
 * every 2 s; it never goes on without the replica. Each check blocks the
 * loop for one short query per replica (a reconnect: at most 2 s).
 *
 * A DSN is comma-separated key=value pairs (no value may hold a comma), as
 * the Percona toolkit writes them: h=host, P=port, S=unix socket, u=user, p=password, F=an option
 * file read for the connection (its [client] and defaults_group groups). Host, port and socket are
 * the DSN's only (a replica is another server; P without h or S means h=127.0.0.1, since the client
 * library would use the local socket and ignore the port); user and password are the DSN's, else
 * F's when F is given, else those of *conn; TLS and, without F, the option
 * files are those of *conn. A DSN without h, S, P and F, an unknown key, a
 * repeated key or a pair without '=' is refused by dbfork_exec_new.
 * Messages show the DSN with its password masked.
 *
 * The control file. With `control_file`, the job reads that file about once
 * a second while it runs, when it changed (its size, time or inode): each
 * line is `workers=N` (as dbfork_exec_set_workers), `pause` (no chunk
 * starts, as for max_load, until a line `resume`), `resume`, a comment
 * from '#' or empty; the last of each kind wins. A file that does not exist
 * is fine (nothing changes). A bad line is logged (WARN, "file:line: why")
 * once per change of the file and ignored; nothing in the file stops the
 * job. The library reads it, so `dbfork exec --control-file` and a program
 * linking libdbfork-exec behave alike.
 *
 * One job, many processes. With `job_name`, any number of processes, on
 * one host or several, run one job together against one server (or one
 * cluster): the same name, table, key and statements in each. The job is
 * known by its name (job_id is a hash of it). The first process to arrive
 * stores the job's row (table, key, statements, until key); a later one
 * whose table, key or statements differ is refused (DBFORK_EINVAL, naming
 * what differs), and every one uses the stored until key. The plan is
 * shared: a process cuts the next chunk after the last one any process
 * cut, holding the lock of the job's row for the cut and the plan row's
 * insert only. A worker claims its chunk with SELECT ... FOR UPDATE SKIP
 * LOCKED on the chunk's plan row, inside the chunk's own transaction, so
 * the claim, the work and the progress row commit together or not at all:
 * a chunk another process is running is skipped, one it committed is found
 * by its progress row; both count in chunks_elsewhere. Once no key is left
 * to cut, a process runs, with the same claims, every chunk of the plan
 * that has no progress row (a process that died left them: its sessions'
 * locks ended with it), looks again every half second while others still
 * run some, and ends when every chunk has its progress row, marking the
 * job completed. Every row is changed exactly once, as with one process.
 * The smaller chunks near the end are not cut (how many workers the other
 * processes have is not known). `restart` forgets the job for every
 * process: use it only when none runs. Without job_name, a second process
 * of the same job is refused while one runs (DBFORK_EBUSY).
 * Each process has a row in dbfork_exec_process (host, pid, the connection
 * ids of its sessions, a heartbeat its parent updates every second by the
 * server's clock). A process whose heartbeat is older than dead_after (10 s)
 * is taken for dead by the first live process to see it, which marks its
 * row (killed_by) and KILLs its sessions: the locks a frozen process
 * (SIGSTOP, a host cut off the network) holds go, its open transactions
 * roll back, and its chunks are taken over. That needs the privilege to
 * KILL the other processes' sessions (the same user, or CONNECTION ADMIN);
 * a KILL refused is logged. A process taken for dead that comes back stops
 * (DBFORK_ECANCELED, or the lost session's DBFORK_ESQL) without writing
 * anything twice. dbfork_exec_job_report and dbfork_exec_job_forget (below)
 * read and clear a shared job from anywhere. Loads share a job the same way
 * (dbfork/load.h, "One job, many processes").
 *
 * Errors. Functions return 0 or a negative DBFORK_E* code (dbfork.h);
 * dbfork_exec_last_error() holds one line naming the option, the statement,
 * the chunk or the server's message. The library never prints and never
 * exits; a function that takes a callback and returns an error never calls
 * that callback.
 *
 * Threads. A dbfork_exec is used from one thread, the one that runs its
 * loop; dbfork_exec_stop() and dbfork_exec_set_workers() may also come from
 * a callback on that loop (a uv_signal_t handler).
 */
#ifndef DBFORK_EXEC_H
#define DBFORK_EXEC_H

#include <dbfork.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dbfork_exec dbfork_exec;

/* What happened to a chunk (dbfork_exec_chunk.what). */
enum {
  DBFORK_EXEC_CHUNK_DONE = 1, /* committed now (or found committed after an unknown COMMIT
                                 outcome: `recovered` is 1) */
  DBFORK_EXEC_CHUNK_FAILED,   /* failed for good, rolled back; the job stops */
  DBFORK_EXEC_CHUNK_REQUEUED, /* its worker or connection was lost: to the back of the queue */
  DBFORK_EXEC_CHUNK_GAVE_UP,  /* it kept losing its worker: not run; the job goes on and ends
                                 DBFORK_EINCOMPLETE (rerun to retry it) */
  DBFORK_EXEC_CHUNK_CANCELLED /* the job was stopped before it ran */
};

/* A chunk as it ends. Passed by the library: fields may be added at the
 * end. Strings are valid during the callback only. */
typedef struct dbfork_exec_chunk {
  int what;                    /* DBFORK_EXEC_CHUNK_* */
  uint64_t chunk;              /* 0-based chunk number */
  const char *key_from;        /* the range: keys above this one ("" for the first chunk) */
  const char *key_to;          /* ... up to this one, included; values comma-separated */
  uint64_t rows_planned;       /* keys in the range when it was planned */
  uint64_t rows_matched;       /* DONE: rows the statements matched (UPDATE: found), summed */
  uint64_t rows_affected;      /* DONE: rows they changed, summed over the statements */
  double seconds;              /* DONE: the chunk's time in its worker */
  unsigned long worker_pid;    /* DONE */
  unsigned long connection_id; /* DONE: the worker's session */
  unsigned int attempts;       /* failed attempts so far */
  int recovered;               /* DONE: found committed after an unknown COMMIT outcome */
  int status;                  /* not DONE: the DBFORK_E* class */
  unsigned int mysql_errno;
  const char *sqlstate; /* "" if none */
  const char *message;  /* the failure, with the server's message; "" if none */
} dbfork_exec_chunk;

typedef void (*dbfork_exec_chunk_fn)(dbfork_exec *x, const dbfork_exec_chunk *c, void *ud);
/* dbfork_exec_start's completion: status as dbfork_exec_run returns it. */
typedef void (*dbfork_exec_done_fn)(dbfork_exec *x, int status, void *ud);

/* ---------------------------------------------------------------------------
 * Options. Initialise with dbfork_exec_options_init(), then set fields.
 * Strings are copied by dbfork_exec_new(). 0 or NULL means the default
 * named beside the field. Fields are only ever appended: the struct carries
 * its size (docs/ABI.md).
 * ------------------------------------------------------------------------- */
typedef struct dbfork_exec_options {
  size_t size;              /* set by dbfork_exec_options_init */
  const char *table;        /* required: "db.table", or "table" in the connection's database */
  const char *sql;          /* required: the statements, each with {chunk} */
  const char *chunk_column; /* a column that is the whole of a unique index on NOT NULL
                               columns; default the primary key */
  uint64_t chunk_rows;      /* keys per chunk; default 0: tuned to chunk_time */
  double chunk_time;        /* seconds a chunk should take when chunk_rows is 0; default 0.5,
                               within 0.01 .. 60 */
  const char *until_key;    /* the last key: values in key order, comma-separated (no value
                               may hold a comma); default the largest key when the job first
                               started */
  unsigned int lock_wait_timeout; /* innodb_lock_wait_timeout of the workers' sessions, in
                                     seconds; default 5 */
  uint64_t max_rows_per_chunk;    /* a statement of a chunk that matches more rows than this
                                     fails the chunk (rolled back) and the job; default 0: no
                                     limit */
  const char *progress_db;        /* the database of the exec tables; default the target's */
  int restart;                    /* 1: forget what earlier runs of this job recorded (a
                                     completed job included) and run it again as new */
  unsigned int max_load;          /* start no chunk while Threads_running > this; 0: off */
  unsigned int critical_load;     /* stop the job (DBFORK_EBUSY) when Threads_running > this;
                                     0: off */
  int max_workers;                /* worker processes forked (the most chunks at once that
                                     dbfork_exec_set_workers allows); default the connection
                                     options' workers, which is how many run at first */
  dbfork_exec_chunk_fn on_chunk;  /* each chunk as it ends; may be NULL */
  void *ud;
  /* Appended after 1.0 (older callers' size leaves them 0). */
  const char *const *replicas; /* nreplicas DSNs (see Replicas above), copied */
  size_t nreplicas;            /* at most 64 */
  double max_lag;              /* seconds of replica lag above which no chunk starts;
                                  default 1.0 when replicas are given */
  const char *control_file;    /* a path read about once a second (see The control
                                  file above); NULL: none */
  const char *job_name;        /* a job shared by processes on several hosts (see One
                                  job, many processes above): 1-64 of A-Z a-z 0-9 _ . -;
                                  NULL: a job of one process */
  double dead_after;           /* job_name: seconds without a heartbeat after which another
                                  process KILLs a process's sessions; default 10, within
                                  2 .. 3600 */
} dbfork_exec_options;

/* Fills *o with the defaults (all zero) and its size. Always call it first,
 * as dbfork_exec_options_init(&o): the macro passes the caller's sizeof.
 * NULL is fine (nothing). Options made any other way are refused by
 * dbfork_exec_new(). */
DBFORK_EXTERN void dbfork_exec_options_init(dbfork_exec_options *o, size_t size);
#define dbfork_exec_options_init(o) dbfork_exec_options_init((o), sizeof *(o))

/* ---------------------------------------------------------------------------
 * Lifecycle.
 * ------------------------------------------------------------------------- */

/* Creates a job from the connection and pool options *conn (as for
 * dbfork_pool_new; task, init, on_connect, transaction, prefetch, queue_max
 * and submit_nonblocking are exec's own and ignored; program_name defaults
 * to "dbfork-exec") and the options *eo. Both are copied. No I/O: the
 * statements are split and each checked for {chunk} here.
 * Returns 0 and sets *out; or DBFORK_EINVAL (NULL; a bad or missing option,
 * a statement without {chunk}: the log callback of *conn gets one line
 * naming it), DBFORK_ENOMEM, with *out = NULL. Free with dbfork_exec_free(). */
DBFORK_EXTERN int dbfork_exec_new(dbfork_exec **out, const dbfork_options *conn,
                                  const dbfork_exec_options *eo);

/* The dry run: connects, finds the key and the end of the range, checks the
 * statements with the server as prepare does, and writes into *text
 * (malloc'ed, the caller frees it) the plan and the SQL of the first
 * `chunks` chunks (default 0: 3) with the server's EXPLAIN of each
 * statement. Writes nothing to the server: no tables, no job; use it
 * instead of prepare and run, then free the job. Blocking.
 * Returns 0; or what dbfork_exec_prepare returns for bad input (*text is
 * then NULL; the detail in dbfork_exec_last_error()). */
DBFORK_EXTERN int dbfork_exec_explain(dbfork_exec *x, unsigned int chunks, char **text);

/* Connects (dbfork_connect), checks the table and its key, finds the end of
 * the range, checks every statement on the first chunk with the server
 * (PREPARE, which parses it, resolves its tables and columns and checks the
 * privileges, running nothing), takes the job's lock (held until the job is
 * freed), creates the exec tables if missing and reads what earlier runs of
 * the job recorded. Blocking; call it before the loop runs. Afterwards
 * dbfork_exec_stats_get() tells whether the job resumes (`resumed`,
 * `chunks_before`) or had completed (`already_done`: the run then returns 0
 * at once, without starting workers). Run and start call it if it was not
 * called. A failed prepare is final: later calls return DBFORK_ESTATE.
 * Returns 0, or, with the detail in dbfork_exec_last_error():
 *   DBFORK_EINVAL   bad input: the table or the chunk column does not
 *                   exist, the table has no usable key, until_key has the
 *                   wrong number of values, a statement has a syntax error
 *                   or names an unknown table or column (the server's
 *                   message, naming the statement), a replica DSN names a
 *                   server that replicates from nobody
 *   DBFORK_EACCES   the account lacks a privilege a statement or the exec
 *                   tables need (the server's message)
 *   DBFORK_ECONNECT the parent's connection failed, or one to a replica
 *                   (the message names its DSN)
 *   DBFORK_EBUSY    another run of the same job is running now
 *   DBFORK_ESQL     another statement of exec's own failed
 *   DBFORK_ENOMEM, DBFORK_ESTATE (called twice or after run). */
DBFORK_EXTERN int dbfork_exec_prepare(dbfork_exec *x);

/* Starts the workers and runs the job on the pool's own loop, blocking
 * until every chunk has ended and the workers have left. Prepares first if
 * needed. Returns
 *   0                   every chunk up to the until key committed (now or by
 *                       an earlier run);
 *   DBFORK_EINCOMPLETE  chunks that kept losing their worker were given up
 *                       (the chunk callback named their ranges); a rerun
 *                       runs them;
 *   DBFORK_ECANCELED    dbfork_exec_stop() was called: a rerun resumes;
 *   DBFORK_EBUSY        Threads_running went above critical_load: a rerun
 *                       resumes;
 *   DBFORK_EINIT        the workers could not start (last_error says why);
 *   the class of the first chunk that failed (DBFORK_ESQL, DBFORK_ETASK for
 *                       max_rows_per_chunk ...): nothing of that chunk was
 *                       committed, chunks committed before stay;
 *   anything dbfork_exec_prepare() returns; DBFORK_EINVAL for NULL;
 *   DBFORK_ESTATE if the job runs on a caller's loop (use
 *   dbfork_exec_start), ran already, or its prepare failed.
 * Must not be called from inside a callback. */
DBFORK_EXTERN int dbfork_exec_run(dbfork_exec *x);

/* The same on the caller's loop (dbfork_options.loop given to
 * dbfork_exec_new): prepares if needed and starts the workers (both
 * blocking), then returns; the job goes on while the caller runs the loop,
 * and `done(x, status, ud)` is called once at the end, on the loop thread,
 * with what dbfork_exec_run would return. Free the job after that, not from
 * inside `done`. Returns 0; or an error of prepare, DBFORK_EINIT,
 * DBFORK_EINVAL (x or done NULL), DBFORK_ESTATE (no caller's loop, started
 * already, or its prepare failed), in which case done is never called. */
DBFORK_EXTERN int dbfork_exec_start(dbfork_exec *x, dbfork_exec_done_fn done, void *ud);

/* Stops the job early: no chunk is started any more, workers finish the
 * chunk they run (COMMIT included) or are killed after the pool's
 * term_grace_ms and their chunk rolls back. The run then ends with
 * DBFORK_ECANCELED; a rerun resumes. Non-blocking; safe from any callback
 * on the loop thread. Returns 0, also when already stopped or ended;
 * DBFORK_EINVAL for NULL. */
DBFORK_EXTERN int dbfork_exec_stop(dbfork_exec *x);

/* Sets how many chunks run at once, 1 .. max_workers (the worker processes
 * forked), while the job runs or before: more start at once, fewer as
 * chunks end. A line workers=N in the control file calls it. Safe from any callback on the loop
 * thread. Returns 0, or DBFORK_EINVAL (x NULL, n out of range: nothing changes). */
DBFORK_EXTERN int dbfork_exec_set_workers(dbfork_exec *x, int n);

/* Frees the job; stops it first if it runs, and waits for its workers to
 * leave. NULL is fine. Must not be called from inside a callback. On a
 * caller's loop, run the loop once more before uv_loop_close(). */
DBFORK_EXTERN void dbfork_exec_free(dbfork_exec *x);

/* ---------------------------------------------------------------------------
 * Shared jobs from anywhere (`dbfork job`). conn: the connection options
 * (as for dbfork_exec_new; the pool fields are ignored); progress_db: the
 * database of the exec tables, NULL for conn's database.
 * ------------------------------------------------------------------------- */

/* The jobs shared with job_name in that database (name NULL: one line or
 * JSON object each: kind "exec", name, id, table, chunks committed, live
 * processes, state), or one job's report (its table, statements, chunks cut and
 * committed, keys done; per process: workers, chunks and rows done, rate,
 * heartbeat age, state running / silent / ended / killed; an ETA from the
 * table's row estimate and the live processes' rates), as text or with
 * `json` 1 as JSON. *out is malloc'ed (free() it). Returns 0; or, with one
 * line in err: DBFORK_EINVAL (a bad name), DBFORK_ECONNECT, DBFORK_ENOENT
 * (no such job, or no shared job's tables there), DBFORK_ESQL. */
DBFORK_EXTERN int dbfork_exec_job_report(const dbfork_options *conn, const char *progress_db,
                                         const char *name, int json, char **out, char *err,
                                         size_t errlen);

/* Forgets shared job `name`: its rows in the four exec tables. Refused
 * (DBFORK_EBUSY) while one of its processes has a heartbeat younger than
 * 10 s. Returns 0, DBFORK_ENOENT, or as dbfork_exec_job_report. */
DBFORK_EXTERN int dbfork_exec_job_forget(const dbfork_options *conn, const char *progress_db,
                                         const char *name, char *err, size_t errlen);

/* ---------------------------------------------------------------------------
 * Results.
 * ------------------------------------------------------------------------- */

typedef struct dbfork_exec_stats {
  char job_id[17];        /* a hash of the table, its key and the statements */
  int resumed;            /* 1: an earlier run of this job had committed chunks */
  int already_done;       /* 1: the job had completed: the run does nothing (restart) */
  int workers;            /* worker processes */
  int workers_active;     /* chunks that may run at once (dbfork_exec_set_workers) */
  int workers_busy;       /* workers running a chunk now */
  uint64_t rows_estimate; /* the server's estimate of the table's rows (for the ETA) */
  uint64_t rows_planned;  /* keys in the chunks this run handed out */
  uint64_t rows_done;     /* keys in the chunks this run committed */
  uint64_t rows_before;   /* keys in the chunks earlier runs committed */
  uint64_t rows_matched;  /* by this run's committed chunks, summed over statements */
  uint64_t rows_affected;
  uint64_t chunks;        /* handed out by this run (earlier runs' not included) */
  uint64_t chunks_done;   /* committed by this run */
  uint64_t chunks_before; /* committed by earlier runs */
  uint64_t chunks_failed;
  uint64_t chunks_cancelled;
  uint64_t requeues; /* chunks sent to the back of the queue */
  uint64_t given_up; /* chunks given up (DBFORK_EXEC_CHUNK_GAVE_UP) */
  uint64_t retries;  /* attempts beyond the first, the pool's retries included */
  uint64_t pauses;   /* times the job paused (max_load, max_lag, the control file) */
  double paused_seconds;
  uint64_t threads_running; /* the last Threads_running seen (max_load, critical_load) */
  uint64_t chunk_rows;      /* keys per chunk now (tuned, or chunk_rows) */
  double eta_seconds;       /* estimate from rows_estimate and this run's rate; 0 unknown */
  int done;                 /* 1 once the job has ended */
  int status;               /* then: its result, as dbfork_exec_run returns it */
  /* Appended after 1.0 (copied only as far as the caller's size). */
  int paused;                /* why no chunk starts now: DBFORK_EXEC_PAUSED_* bits, 0 none */
  double replica_lag;        /* the largest replica lag at the last check, seconds; -1 when a
                                replica's replication is stopped or it cannot be reached; 0
                                without replicas */
  uint64_t lag_pauses;       /* times a replica began to lag (a pause for max_lag) */
  double lag_paused_seconds; /* time some replica lagged, while the job ran */
  uint64_t chunks_elsewhere; /* job_name: chunks this run found committed (or being run) by
                                another process when its worker claimed them */
  uint64_t job_chunks_done;  /* job_name: chunks of the job committed by every process, read
                                when the run ended */
  uint64_t job_rows_done;    /* ... and their keys */
  uint64_t processes_killed; /* job_name: silent processes whose sessions this run KILLed */
} dbfork_exec_stats;

/* dbfork_exec_stats.paused */
enum {
  DBFORK_EXEC_PAUSED_LOAD = 1,   /* Threads_running above max_load */
  DBFORK_EXEC_PAUSED_LAG = 2,    /* a replica above max_lag, stopped or lost */
  DBFORK_EXEC_PAUSED_CONTROL = 4 /* `pause` in the control file */
};

/* Fills *st; valid any time after dbfork_exec_new, on the loop thread.
 * Call it as dbfork_exec_stats_get(x, &st): the macro passes the caller's
 * sizeof, and nothing is written past it. Returns 0, or DBFORK_EINVAL for
 * NULL or a size below the struct of 1.0. */
DBFORK_EXTERN int dbfork_exec_stats_get(dbfork_exec *x, dbfork_exec_stats *st, size_t st_size);
#define dbfork_exec_stats_get(x, st) dbfork_exec_stats_get((x), (st), sizeof(dbfork_exec_stats))

/* The detail of the last error, one line; "" if none. Owned by the job,
 * valid until the next call on it. */
DBFORK_EXTERN const char *dbfork_exec_last_error(const dbfork_exec *x);

#ifdef __cplusplus
}
#endif
#endif /* DBFORK_EXEC_H */
