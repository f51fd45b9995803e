/*
 * job.h — the job core, shared by the layers (the loader now; `dbfork exec`
 * and jobs shared by several hosts later). Internal to the layers: not
 * installed, not a public API yet. It uses only the public pool API
 * (<dbfork.h>), libuv and the MySQL client library, like the layers.
 *
 * A job is a list of chunks, each run as one worker transaction together
 * with the INSERT of its own progress row. Four pieces, kept apart so that
 * claims by several processes can replace the single-process ones without
 * reshaping the rest:
 *
 *  - parts (below): a chunk that keeps failing is split in halves, and the
 *    halves again; a part is named by its number in a binary heap (1 = the
 *    whole chunk, 2k and 2k+1 the halves of k), so a committed part covers
 *    exactly its descendants, whatever boundaries a layer cuts.
 *  - the policy (policy.c): a pure function from a part's failure to what
 *    happens next (done, requeue with backoff, split, give up, fail the
 *    job), tested as a table.
 *  - the runner (run.c): the parent side. It takes fresh parts from the
 *    layer's plan, keeps the pool fed through non-blocking submits, sends a
 *    lost part to the back of the queue with backoff, splits it through the
 *    layer, and knows when the job has ended.
 *  - the tables (sql.c): the plan (one row per chunk, which a chunk's
 *    transaction locks first: the claim), and the progress table (one row
 *    inserted per committed part, never one shared row every chunk updates).
 *    The layer brings its own columns.
 */
#ifndef DBFORK_JOB_H
#define DBFORK_JOB_H

#include <dbfork.h>
#include <mysql.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* ---------------------------------------------------------------- parts */

/* The depth of part k (0 for the whole chunk); k >= 1. */
static inline unsigned job_part_depth(uint64_t k) {
  unsigned d = 0;
  while (k > 1) {
    k >>= 1;
    d++;
  }
  return d;
}

/* 1 if part a is part b or contains it (an ancestor of b). */
static inline int job_part_covers(uint64_t a, uint64_t b) {
  if (!a || !b) return 0;
  while (b > a) b >>= 1;
  return a == b;
}

/* The deepest part the job core ever makes: 2^JOB_PART_MAX_DEPTH parts of
 * one chunk at most, and the part numbers fit in 63 bits. */
#define JOB_PART_MAX_DEPTH 40

/* --------------------------------------------------------------- policy */

/* What to do with a part after an attempt ended. */
enum {
  JOB_DONE = 1, /* committed: count it */
  JOB_REQUEUE,  /* not committed (its worker or connection was lost): to the back of the
                   queue, after `delay_ms` */
  JOB_SPLIT,    /* kept failing: split in halves, which go to the back of the queue */
  JOB_GIVE_UP,  /* kept failing and cannot be split: leave it out; the job goes on */
  JOB_FAIL,     /* a failure another attempt would repeat (SQL error, bad data): the job
                   stops starting parts */
  JOB_CANCELLED /* the job or the pool was stopped before it ran */
};

typedef struct job_policy {
  unsigned requeues_before_split; /* lost attempts of a part before it is split; default 2 */
  unsigned max_attempts;          /* lost attempts of a part that cannot be split before
                                     it is given up; default 6 */
  unsigned max_depth;             /* deepest split; default JOB_PART_MAX_DEPTH */
  unsigned backoff_ms;            /* first requeue delay, doubled per attempt; default 50 */
  unsigned backoff_max_ms;        /* cap; default 2000 */
  int unknown_commit_fails;       /* 1: DBFORK_ECOMMITUNKNOWN fails the job (a job without a
                                     progress table cannot tell whether it committed) */
} job_policy;

typedef struct job_decision {
  int action;        /* JOB_* */
  unsigned delay_ms; /* JOB_REQUEUE and JOB_SPLIT: not before this long */
} job_decision;

/* Fills the defaults for zero fields. */
void job_policy_defaults(job_policy *p);

/* 1 for the completion classes that say the attempt did not commit and a
 * new one may succeed: the worker or its connection was lost, a deadlock or
 * lock wait outlived the pool's retries, a time limit, a failed reconnect.
 * DBFORK_ECOMMITUNKNOWN counts too: the next attempt's claim waits for the
 * first one's transaction to end on the server, and finds it committed or
 * not (unless the policy's unknown_commit_fails says there is no claim). */
int job_status_transient(int status);

/* The decision for a part whose attempt ended with `status` (0 ok, or the
 * completion's DBFORK_E* class). `failures` counts the part's earlier lost
 * attempts (not this one); `depth` is job_part_depth(part); `splittable`
 * says whether the layer can cut it (more than one record); `stopping` that
 * the job is being stopped. `rnd` is a random number for the jitter (pure:
 * the caller draws it). */
job_decision job_decide(const job_policy *p, int status, unsigned failures, unsigned depth,
                        int splittable, int stopping, unsigned rnd);

/* "done", "requeue", ... for logs and tests. */
const char *job_action_name(int action);

/* ----------------------------------------------------------- the runner */

/* A part waiting to run or running. The layer's description of its range
 * (a byte range for the loader, a key range for exec) follows. */
typedef struct job_part {
  struct job_part *next;
  uint64_t chunk;    /* 0-based chunk number */
  uint64_t part;     /* heap number, 1 = the whole chunk */
  unsigned failures; /* lost attempts so far */
  int splittable;    /* set by the layer */
  uint64_t not_before_ms;
  int last_status; /* the class of the last failed attempt */
  size_t desc_len;
  unsigned char desc[];
} job_part;

/* Allocates a part with a copy of desc[0, len) (desc NULL: len zero bytes
 * for the layer to fill); NULL if out of memory. */
job_part *job_part_new(uint64_t chunk, uint64_t part, const void *desc, size_t len);

typedef struct job job;

/* job_ops.next: no part now, ask again later. */
#define JOB_NEXT_LATER 2

/* What a layer plugs into the runner. Every callback runs on the loop
 * thread. */
typedef struct job_ops {
  /* The next fresh part of the plan (the whole chunk, part 1), in plan
   * order: sets *out and returns 1; returns 0 at the end of the plan, or a
   * negative code (job_fail first, for the message); or JOB_NEXT_LATER:
   * nothing may start now (a pause, a probe chunk running alone), and the
   * runner asks again after the next part ended or job_poke(). */
  int (*next)(job *j, job_part **out);
  /* Cuts p in halves at a boundary of the layer's (a record): sets *a and
   * *b (parts 2k, 2k+1) and returns 0; returns 1 if p cannot be cut, or a
   * negative code. */
  int (*split)(job *j, const job_part *p, job_part **a, job_part **b);
  /* The task payload for p: writes at most cap bytes to buf and returns the
   * length, or a negative code. */
  long (*encode)(job *j, const job_part *p, void *buf, size_t cap);
  /* An attempt of p ended: `action` is the policy's decision (JOB_DONE:
   * r->data is the worker's reply). Called before the runner acts on it
   * (for JOB_SPLIT: before the halves exist). The layer counts, reports
   * and, for JOB_DONE, may return a negative code to fail the job instead
   * (say, a reply it cannot read). Every part next() or split() handed out
   * ends here once: one that was waiting when the job stopped comes with
   * JOB_CANCELLED and r NULL. */
  int (*ended)(job *j, const job_part *p, const dbfork_result *r, int action);
  /* The job has ended (nothing in flight, nothing left or stopped):
   * `status` as the run returns it. */
  void (*finished)(job *j, int status);
} job_ops;

typedef struct job_config {
  dbfork_pool *pool; /* started; submits are made non-blocking */
  const job_ops *ops;
  void *ud; /* the layer's, job_ud() */
  job_policy policy;
  unsigned window;    /* parts submitted and not yet ended; default 2 x workers */
  size_t max_payload; /* largest encoded part; default 4096 */
} job_config;

/* Creates a runner; nothing is submitted before job_start. Returns 0 and
 * *out, DBFORK_ENOMEM or DBFORK_EINVAL (NULL pool/ops). */
int job_new(job **out, const job_config *cfg);
/* Starts submitting. Returns 0. The end is reported by ops->finished. */
int job_start(job *j);
/* Stops starting parts; those in flight end as the pool says. With `pool`
 * 1, also dbfork_pool_stop(): queued parts are cancelled and workers told
 * to finish. Returns 0. */
int job_stop(job *j, int pool);
/* Fails the job with a message (the first one is kept): no more parts are
 * started. Returns `code`. */
int job_fail(job *j, int code, const char *fmt, ...) DBFORK_PRINTF(3, 4);
/* Asks the layer's next() again now (after it returned JOB_NEXT_LATER and
 * what held it back has passed). Returns 0. */
int job_poke(job *j);
/* Changes how many parts may be in flight at once (>= 1): more are
 * submitted at once, fewer as parts end. Returns 0 or DBFORK_EINVAL. */
int job_set_window(job *j, unsigned window);
/* 1 once ops->finished was called. */
int job_finished(const job *j);
/* 1 once nothing more is started (job_stop, a failure) or finished. */
int job_stopping(const job *j);
const char *job_error(const job *j); /* the first failure's message, "" if none */
void *job_ud(const job *j);
void job_free(job *j); /* NULL is fine; frees parts not yet run */

typedef struct job_counts {
  uint64_t in_flight, waiting; /* submitted and not ended; requeued and waiting */
  uint64_t done, failed, cancelled, requeues, splits, given_up;
  uint64_t retries; /* attempts beyond the first, the pool's own retries included */
} job_counts;
void job_counts_get(const job *j, job_counts *c);

/* ----------------------------------------------------------- the tables */

/* The names of a job's tables, quoted (`db`.`name`), and its id. */
typedef struct job_tables {
  char plan[300];
  char progress[300];
  char job_id[17];
} job_tables;

/* The claim, in a worker, first thing in a part's transaction: locks the
 * chunk's plan row (SELECT ... FOR UPDATE), so that no two transactions of
 * one chunk ever run at once, even across runs (an earlier run's worker
 * still committing). Then reads the chunk's committed parts, calling
 * row(ud, part, cols) for each with the extra columns `select` (NULL for
 * none) as strings. Returns 0; DBFORK_ESQL with the connection's error
 * (lost connection, lock wait timeout: the pool's policy applies); or
 * DBFORK_ETASK if the chunk has no plan row (dbfork_worker_fail detail). */
typedef int (*job_row_fn)(void *ud, uint64_t chunk, uint64_t part, MYSQL_ROW cols);
int job_claim(dbfork_worker *w, const job_tables *t, uint64_t chunk, const char *select,
              job_row_fn row, void *ud);
/* The same, for a job that several processes share: the plan row is locked
 * with SKIP LOCKED, and a row another transaction holds makes it return
 * JOB_CLAIM_TAKEN at once, reading nothing. */
#define JOB_CLAIM_TAKEN 1
int job_claim_shared(dbfork_worker *w, const job_tables *t, uint64_t chunk, const char *select,
                     job_row_fn row, void *ud);

/* How a claimed part relates to what its chunk has committed (from the
 * rows job_claim read): JOB_CLAIM_FREE (nothing of it is committed),
 * JOB_CLAIM_DONE (exactly this part is), JOB_CLAIM_OVERLAP (a part that
 * contains it or lies inside it is: another run cut the chunk differently
 * meanwhile). */
enum { JOB_CLAIM_FREE = 0, JOB_CLAIM_DONE = 1, JOB_CLAIM_OVERLAP = 2 };
int job_claim_state(uint64_t part, const uint64_t *committed, size_t n);

/* Records a committed part in the worker's transaction: INSERT INTO
 * progress (job_id, chunk_no, part, worker_pid, <cols>) VALUES (..., <vals>),
 * cols and vals being the layer's (already escaped). Returns 0 or
 * DBFORK_ESQL (the connection's error). */
int job_record(dbfork_worker *w, const job_tables *t, uint64_t chunk, uint64_t part,
               const char *cols, const char *vals);

/* Parent: stores the plan row of a chunk. It may be there from an earlier
 * run: then `update` (an ON DUPLICATE KEY UPDATE list, or NULL to keep the
 * row) brings it up to date. cols/vals as for job_record. Returns 0 or
 * DBFORK_ESQL (message in err). */
int job_plan_put(MYSQL *m, const job_tables *t, uint64_t chunk, const char *cols, const char *vals,
                 const char *update, char *err, size_t errlen);

/* Parent: every committed part of the job, in (chunk, part) order, with the
 * extra columns `select`. Returns 0, the callback's non-zero value, or
 * DBFORK_ESQL (message in err). */
int job_progress_scan(MYSQL *m, const job_tables *t, const char *select, job_row_fn row, void *ud,
                      char *err, size_t errlen);

/* Parent: forgets the job's plan and progress (a restart). Returns 0 or
 * DBFORK_ESQL (message in err). */
int job_forget(MYSQL *m, const job_tables *t, char *err, size_t errlen);

/* Runs one statement on the parent's connection, discarding any result.
 * Returns 0 or DBFORK_ESQL with "what: server message (MySQL error N)" in
 * err. */
int job_exec(MYSQL *m, const char *sql, const char *what, char *err, size_t errlen);

/* ------------------------------------------------ what every layer shares */

/* The strings a layer copies out of its caller's options (the caller's may
 * go away once the layer's _new returns). Freed wiped: no copy of a
 * password is left in freed memory. */
typedef struct job_strings {
  char *v[40];
  int n;
} job_strings;

/* Replaces *s with a copy owned by ss (NULL stays NULL). -1 when out of
 * memory or room. */
int job_own(job_strings *ss, const char **s);
/* The same for every string of the connection options. */
int job_own_conn(job_strings *ss, dbfork_options *o);
void job_strings_free(job_strings *ss);

/* Logs the message at ERROR through conn's log callback (when conn and its
 * callback are set) and returns DBFORK_EINVAL: a layer's refusal of its
 * options, before it has an object to keep a message in. */
int job_refuse(const dbfork_options *conn, const char *fmt, ...) DBFORK_PRINTF(2, 3);

/* The options of a job shared by several processes: name (NULL: none)
 * 1-64 of A-Z a-z 0-9 _ . -, dead_after 0 or 2 .. 3600 and only with a
 * name. Returns 0 or job_refuse's DBFORK_EINVAL. */
int job_check_shared(const dbfork_options *conn, const char *name, double dead_after);

/* Copies a layer's two size-first option structs in (docs/ABI.md): the
 * caller's dbfork_options (conn_in, at least conn_min bytes) into *conn and
 * its layer options (opts_in, whose first member is its size_t size, at
 * least opts_min bytes) into opts (opts_size bytes), each as long as the
 * caller's headers made it; both sizes are then set to ours. name is the
 * layer's struct ("dbfork_load_options"), lib the library
 * ("libdbfork-load"), for the messages. Returns 0 or job_refuse's
 * DBFORK_EINVAL. */
int job_copy_options(dbfork_options *conn, const dbfork_options *conn_in, size_t conn_min,
                     void *opts, size_t opts_size, const void *opts_in, size_t opts_min,
                     const char *name, const char *lib);

/* The database a table without one belongs to: dbname when set, else the
 * session's (what the option files gave it, as the mysql tools do), copied
 * into buf; NULL when there is none. */
const char *job_default_db(MYSQL *m, const char *dbname, char *buf, size_t len);

/* Creates and starts the pool of a layer's workers. Returns 0, or the error
 * with "cannot create the pool: ..." / "the workers could not start: ..."
 * in err (a pool closed while starting is DBFORK_ECANCELED). *pool is set
 * whenever it was created (free it, also on failure). */
int job_pool_start(dbfork_pool **pool, const dbfork_options *o, char *err, size_t errlen);

/* How many workers the pool has (*workers) and how many are running a task
 * (*busy). */
void job_workers_count(dbfork_pool *pool, int *workers, int *busy);

/* ------------------------------------------- the processes of a shared job */

/* A job several processes share (a job name, on one host or many): each
 * process's row in the layer's process table (sql/exec_process.sql,
 * sql/load_process.sql: the same columns), a heartbeat about once a
 * second on the parent's connection, and the KILL of the sessions of a
 * process of the job silent for longer than dead_after (hosts.c). */
typedef struct job_hosts {
  /* set by the layer before job_hosts_begin */
  MYSQL *m;          /* the parent's connection (the heartbeat's, the KILLs') */
  char table[300];   /* the process table, quoted */
  char job_id[17];   /* the job */
  const char *name;  /* the job's name, for the row and the messages */
  double dead_after; /* seconds; <= 0: 10 */
  int workers;       /* for the row */
  job *job;          /* the running job: no heartbeat before it is set or once it stops */
  void *ud;
  void (*log)(void *ud, int level, const char *msg);          /* warnings: a KILL done, failed */
  void (*counts)(void *ud, uint64_t *chunks, uint64_t *rows); /* this process's, for its row */
  /* This process was taken for dead (its row marked, or its session
   * killed): the layer stops at once; msg says why. */
  void (*lost)(void *ud, const char *msg);
  /* set here */
  char proc_id[120]; /* this process's row: host:pid:start */
  uint64_t killed;   /* processes whose sessions this one KILLed */
  int taken_for_dead;
  int timer_on;
  uv_timer_t timer;
  char err[512]; /* the last failure */
} job_hosts;

/* The job id of a shared job's name: FNV-1a of salt and name, in hex. */
void job_name_id(const char *salt, const char *name, char out[17]);

/* Inserts this process's row (its connection id as the first session) and
 * bounds the parent's lock waits to 1 s. Returns 0 or DBFORK_ESQL (err). */
int job_hosts_begin(job_hosts *h);
/* Worker, on connecting: appends its connection id to its process's row.
 * Returns 0 or DBFORK_ESQL. */
int job_hosts_worker(MYSQL *m, const char *table, const char *job_id, const char *proc_id);
/* Worker, on connecting: the session's wait_timeout (6 x dead_after, at
 * least 60 s) and net timeouts (30 s), so that the server itself drops the
 * sessions of a host nobody sees die. Returns 0 or DBFORK_ESQL. */
int job_worker_session_limits(MYSQL *m, double dead_after);
/* Starts the heartbeat on the loop. */
void job_hosts_start(job_hosts *h, uv_loop_t *loop);
/* A lock wait of the parent's timed out (err 1205: a frozen process may
 * hold the lock): looks for dead processes now; returns 1 (try again
 * later), or 0 for any other error. */
int job_hosts_busy(job_hosts *h, unsigned int err);
/* Stops the heartbeat and marks the row ended with the final counts. */
void job_hosts_end(job_hosts *h, uint64_t chunks, uint64_t rows);

/* ------------------------------------------- reports from anywhere */

/* What `dbfork job` reads (report.c): one layer's tables ("exec" or
 * "load": dbfork_<layer>_job, _plan, _progress, _process) in one database,
 * on a connection of its own, the text or JSON grown in out. */
typedef struct job_q {
  MYSQL *m;
  const char *layer;
  char db[140]; /* the tables' database, quoted */
  char *err;
  size_t errlen;
  char *out;
  size_t len, cap;
  int oom;
} job_q;

/* A process of a job counts as live with a heartbeat in the last 10 s and
 * neither ended nor killed: SQL over the process table aliased `a`. */
#define JOB_LIVE_SQL(a)                                    \
  a ".ended_at IS NULL AND " a ".killed_by IS NULL AND " a \
    ".heartbeat_at > NOW(6) - "                            \
    "INTERVAL 10 SECOND"

/* Connects with conn, checks name (NULL: none) and that the four tables are
 * in progress_db (NULL: conn's database). Returns 0, or DBFORK_EINVAL,
 * DBFORK_ECONNECT, DBFORK_ENOENT (no such tables), DBFORK_ESQL with err
 * set; job_q_close() it either way. */
int job_q_open(job_q *q, const char *layer, const dbfork_options *conn, const char *progress_db,
               const char *name, char *err, size_t errlen);
void job_q_close(job_q *q);
/* Closes; on rc 0 hands the text to *out (malloc'ed), else frees it. */
int job_q_finish(job_q *q, int rc, char **out);
void job_q_add(job_q *q, const char *fmt, ...) DBFORK_PRINTF(2, 3);
/* Adds s as a JSON string (quoted, escaped). */
void job_q_add_json(job_q *q, const char *s);
/* Sets err to "what: the server's error" and returns code. */
int job_q_fail(job_q *q, int code, const char *what);
/* The job's processes from the process table: a table under a header line
 * (text), or ,"processes":[...] (JSON); *rate sums the live ones' rows/s. */
int job_q_processes(job_q *q, const char *id, int json, double *rate);
/* Every job of the layer that a process shared (one line each under a
 * header, or a JSON array): kind, name, id, the job row's table_col, chunks
 * committed, live processes, state (completed, running, stopped), the job
 * row's started_col; ordered by started_col. */
int job_q_list(job_q *q, const char *table_col, const char *started_col, int json);
/* Deletes the job's rows from the four tables, refused (DBFORK_EBUSY)
 * while one of its processes is live; DBFORK_ENOENT if it had no job row. */
int job_q_forget(job_q *q, const char *name, const char *id);

#endif /* DBFORK_JOB_H */
