/*
 * execint.h — what the files of the exec layer share (not installed):
 *
 *   exec.c     the public API (dbfork/exec.h): options, lifecycle, stats
 *   stmt.c     the statements: split at ';', {chunk} found and replaced (pure)
 *   key.c      the table's key, SQL literals of key values, the chunk
 *              conditions and the boundary query (the plan's SQL)
 *   tables.c   the SQL of exec's own tables (job, plan, progress), their
 *              names, the job's lock, resume
 *   parent.c   the job core's callbacks: chunks cut and handed out, replies
 *              in, chunk size tuning, events up
 *   throttle.c when no chunk may start: Threads_running, the replicas' lag,
 *              the control file; the pause timer
 *   dsn.c      replica DSNs (h=..,P=..) parsed (pure)
 *   tail.c     smaller chunks near the end of the job (pure)
 *   replica.c  the parent's connections to the replicas, their lag read
 *   worker.c   the worker half: claim, statements, progress row
 *   explain.c  the dry run
 *   exec_wire.c  the chunk and reply codecs (exec_wire.h)
 *
 * The layer uses only the public pool API (<dbfork.h>), the job core
 * (src/job/job.h), libuv and the MySQL client library; the build refuses
 * any include of the core's private headers.
 */
#ifndef DBFORK_EXEC_INT_H
#define DBFORK_EXEC_INT_H

#include <dbfork/exec.h>
#include <mysql.h>
#include <stdint.h>
#include <uv.h>

#include "job.h"
#include "exec_wire.h"

#define EXEC_MAX_KEY 16    /* key columns */
#define EXEC_MAX_STMTS 64  /* statements in `sql` */
#define EXEC_TEXT_MAX 1000 /* a readable key range in the progress table */

/* A key value as an SQL literal (integers bare, strings quoted and escaped
 * for utf8mb4, binary as X'..'), and as the user reads it. */
typedef struct exec_tuple {
  int n;
  char *lit[EXEC_MAX_KEY];
} exec_tuple;
void exec_tuple_clear(exec_tuple *t);
int exec_tuple_copy(exec_tuple *dst, const exec_tuple *src); /* 0 or -1 */

/* stmt.c (pure) */
/* Splits sql at the ';' that are outside quotes, backticks and comments
 * into at most max statements (malloc'ed, trimmed, empty ones dropped).
 * Returns how many, or -1 (why set: too many, out of memory). */
int exec_split(const char *sql, char **out, int max, char *why, size_t whylen);
/* 1 if s holds {chunk} outside quotes and comments. */
int exec_has_placeholder(const char *s);
/* s with every {chunk} outside quotes and comments replaced by "(cond)";
 * malloc'ed, or NULL. */
char *exec_substitute(const char *s, const char *cond, size_t cond_len);

/* What a worker needs, set up by the parent before the pool starts and
 * inherited across fork; read-only afterwards. */
typedef struct exec_conf {
  char table[300]; /* `db`.`t` */
  char db_plain[130], table_plain[130];
  char index[140]; /* `PRIMARY` or the chunk column's index, quoted */
  int nkey;
  char kq[EXEC_MAX_KEY][140]; /* key columns quoted */
  char kname[EXEC_MAX_KEY][130];
  int knum[EXEC_MAX_KEY]; /* 1: integer type (bare literal); 2: binary (hex) */
  char *stmts[EXEC_MAX_STMTS];
  int nstmts;
  unsigned lock_wait_timeout;
  uint64_t max_rows_per_chunk;
  job_tables t;        /* plan, progress, job id */
  char jobs[300];      /* the job table, quoted */
  char tdb_plain[130]; /* the database of the exec tables */
  int shared;          /* job_name: claims skip chunks locked by another process */
  char procs[300];     /* the process table, quoted (shared jobs) */
  char proc_id[120];   /* this process's row in it: host:pid:start */
} exec_conf;

enum { EXEC_NEW, EXEC_PREPARED, EXEC_RUNNING, EXEC_ENDED };

#define EXEC_MAX_REPLICAS 64

/* A replica DSN, parsed: "" / 0 for a key not given. */
typedef struct exec_dsn {
  char host[256], sock[256], user[128], pass[256], file[512];
  unsigned port;
  int has_user, has_pass;
  char shown[1400]; /* the DSN as given, with p=... masked */
} exec_dsn;

/* A replica as the parent watches it. */
typedef struct exec_replica {
  exec_dsn d;
  MYSQL *m;   /* NULL while lost */
  int stmt;   /* which status statement works: 0 not known yet, 1 SHOW ALL SLAVES
                 STATUS, 2 SHOW REPLICA STATUS, 3 SHOW SLAVE STATUS */
  double lag; /* the last read: seconds, or EXEC_LAG_* */
  int state;  /* what was logged last: 0 fine, 1 over, 2 stopped, 3 lost */
  double last_connect;
} exec_replica;
#define EXEC_LAG_STOPPED (-1.0) /* Seconds_Behind_Master NULL, or no replication */
#define EXEC_LAG_LOST (-2.0)    /* cannot be reached */

/* A chunk of an earlier run that has a plan row and no progress row. */
typedef struct exec_pending {
  uint64_t chunk, rows_planned;
  exec_tuple from, to; /* from.n == 0: the first chunk */
} exec_pending;

struct dbfork_exec {
  exec_conf c;
  int phase; /* EXEC_*, changed by exec_enter() only */
  dbfork_options po;
  dbfork_exec_options eo;
  job_strings strs; /* the strings of po and the layer's options, owned */
  dbfork_exec_stats st;
  char err[2048];

  MYSQL *m; /* the parent's own connection */
  int locked;
  dbfork_pool *pool;
  job *job;
  int status;
  dbfork_exec_done_fn done;
  void *done_ud;
  int starting, done_pending;
  uv_timer_t done_timer;
  int done_timer_on;
  uv_timer_t pause_timer;
  int pause_timer_init, pause_timer_on;
  double pause_t0;
  double last_load_check;
  int pause_why; /* DBFORK_EXEC_PAUSED_* bits at the last check */

  /* replicas (dsn.c, throttle.c) */
  exec_replica *reps;
  size_t nreps;
  double last_lag_check, lag_t0;

  /* the control file (throttle.c) */
  uv_timer_t ctl_timer;
  int ctl_timer_init, ctl_paused;
  unsigned long long ctl_ino, ctl_size;
  long long ctl_mtime_ns;
  int ctl_seen; /* the file's identity above is set */

  /* the plan */
  exec_tuple until;  /* the last key (until.n == 0: the table was empty) */
  exec_tuple cursor; /* the upper key of the last chunk cut (n == 0: none yet) */
  int plan_end;      /* no key left after the cursor */
  uint64_t next_chunk;
  exec_pending *pend; /* chunks of earlier runs to run again, in order */
  size_t npend, headpend;
  int first_out, first_done;     /* the probe chunk: handed out, committed */
  double rows_next;              /* keys for the next chunk (tuned) */
  double tail_k0;                /* the integer key after this run's first cut ... */
  uint64_t tail_rows0, cut_rows; /* ... keys cut up to then, and since the start */
  int tail_k0_set;
  job_part *ahead;  /* the next fresh chunk, cut ahead (parent.c) */
  double rescan_at; /* job_name: when the plan's unfinished chunks may be looked at again */
  int rescans;
  int want_poke;      /* op_next said later while a cut waited for the job row's lock */
  job_hosts hosts;    /* job_name: this process's row and heartbeat (hosts.c) */
  int taken_for_dead; /* another process of the job marked this one's row and KILLed it */
  uv_timer_t ahead_timer;
  int ahead_timer_init, ahead_timer_on;
  double t_start;
};

/* exec.c */
void exec_enter(dbfork_exec *x, int phase);
void exec_log(dbfork_exec *x, int level, const char *fmt, ...) DBFORK_PRINTF(3, 4);
int exec_set_err(dbfork_exec *x, int code, const char *fmt, ...) DBFORK_PRINTF(3, 4);
double exec_now(void);
/* The first column of the first row as an integer: 0, or -1 (l->err set
 * when what is not NULL). */
int exec_query_u64(dbfork_exec *x, const char *sql, uint64_t *out, const char *what);
/* The server's codes for a missing privilege. */
int exec_access_denied(unsigned int code);

/* key.c */
int exec_find_table(dbfork_exec *x, const char *table_opt, const char *defdb);
int exec_find_key(dbfork_exec *x); /* the key columns, x->c.k* */
/* The current largest key into *t (t->n = 0 if the table is empty), or
 * until_key parsed. 0 or a code (x->err). */
int exec_max_key(dbfork_exec *x, exec_tuple *t);
int exec_parse_until(dbfork_exec *x, const char *s, exec_tuple *t);
/* The condition of a chunk (from excluded, from->n == 0: none; to
 * included), malloc'ed, or NULL. */
char *exec_condition(const exec_conf *c, const exec_tuple *from, const exec_tuple *to);
/* The readable form of a tuple ("" for none), malloc'ed, or NULL. */
char *exec_tuple_text(const exec_tuple *t);
/* Cuts the next chunk after *from (n == 0: from the start), up to
 * x->until, of at most `rows` keys: sets *to and *count and returns 1;
 * returns 0 if no key is left, or < 0 (x->err). */
int exec_cut(dbfork_exec *x, const exec_tuple *from, uint64_t rows, exec_tuple *to,
             uint64_t *count);
/* Hex storage of a tuple's literals ("6c69,27..." ), malloc'ed; and back. */
char *exec_tuple_store(const exec_tuple *t);
int exec_tuple_load(exec_tuple *t, const char *s); /* 0 or -1 */
/* Checks every statement on the first chunk with the server (PREPARE).
 * 0, DBFORK_EINVAL (syntax, unknown names), DBFORK_EACCES, or DBFORK_ESQL. */
int exec_check_statements(dbfork_exec *x);

/* tables.c */
int exec_tables_names(dbfork_exec *x);
int exec_job_id(dbfork_exec *x); /* the job's id, from the table, key and statements */
int exec_tables_prepare(dbfork_exec *x);
int exec_job_lock(dbfork_exec *x);
void exec_job_unlock(dbfork_exec *x);
/* Finds the job's row and what earlier runs did: a new job (its row stored
 * with until), a resume (until from the row, x->pend, the cursor), or one
 * already done. 0 or a code. */
int exec_prepare_job(dbfork_exec *x);
int exec_job_complete(dbfork_exec *x);
/* The job id of a shared job: a hash of its name. */
void exec_name_job_id(const char *name, char out[17]);
/* Shared jobs (job_name). Replaces x->pend with the plan's chunks that have
 * no progress row: 1 if there are some, 0 none, < 0 (x->err). */
int exec_read_unfinished(dbfork_exec *x);
/* Opens the parent's transaction of a cut: the job's row locked, the cursor
 * moved after the last chunk any process cut. 0 or < 0 (x->err). */
int exec_shared_cut_begin(dbfork_exec *x);
/* Commits (1) or rolls back (0) that transaction. 0 or < 0 (x->err). */
int exec_shared_cut_end(dbfork_exec *x, int commit);
/* The job's committed chunks and keys, every process's: into x->st. 0, or
 * DBFORK_ESQL (x->err untouched: a report, not the job's failure). */
int exec_job_totals(dbfork_exec *x);

/* hosts.c: the processes of a shared job. */
/* Names this process and inserts its row (before the workers start). */
int exec_hosts_begin(dbfork_exec *x);
/* In a worker, as it connects: its connection id into the process's row. */
int exec_hosts_worker(MYSQL *m, const exec_conf *c);
/* Starts the heartbeat (and the look for silent processes), every second. */
void exec_hosts_start(dbfork_exec *x);
/* After a failed statement of the cut (err its MySQL error): 1 if it was a
 * lock wait on the job row (after a look for silent processes), else 0. */
int exec_hosts_busy(dbfork_exec *x, unsigned int err);
/* Stops the heartbeat; the row gets ended_at (the job finished). */
void exec_hosts_end(dbfork_exec *x);
int exec_plan_store(dbfork_exec *x, uint64_t chunk, const exec_tuple *from, const exec_tuple *to,
                    uint64_t rows);
/* worker side, in the chunk's transaction */
int exec_record(dbfork_worker *w, const exec_conf *c, const exec_chunk_msg *m, const exec_reply *r);
#define EXEC_PROGRESS_SELECT "rows_matched, rows_affected, duration_ms"

/* parent.c */
extern const job_ops exec_job_ops;

/* throttle.c */
/* 1 while no chunk may start (the pause timer then pokes the job again),
 * 0 to go on, < 0 to stop the job (critical_load). */
int exec_throttled(dbfork_exec *x, job *j);
/* Ends the pause accounting and closes the timers (the job finished). */
void exec_throttle_end(dbfork_exec *x);
/* Closes the parent's timers (pause, control file, cut ahead; no-op when
 * closed); the caller runs the loop once. */
void exec_pause_close(dbfork_exec *x);
/* Starts the control file's timer (no-op without control_file). */
void exec_control_start(dbfork_exec *x);
/* Pause accounting folded into *st (stats_get). */
void exec_throttle_stats(const dbfork_exec *x, dbfork_exec_stats *st);

/* dsn.c */
/* Parses a DSN into *d: 0, or -1 with why (naming the key). Pure. */
int exec_dsn_parse(const char *s, exec_dsn *d, char *why, size_t whylen);

/* tail.c (pure) */
/* The keys of the next chunk near the end: `rows` as tuned, less when
 * keys_left (an estimate; < 0 unknown) is within a few chunks of the
 * `workers` running. */
uint64_t exec_tail_rows(uint64_t rows, double keys_left, int workers);

/* replica.c */
/* Connects to every replica and reads its lag once (prepare): 0, or
 * DBFORK_ECONNECT / DBFORK_EINVAL (not a replica) with x->err naming it. */
int exec_replicas_open(dbfork_exec *x);
/* (Re)connects r: 0 or DBFORK_ECONNECT with the message in err. */
int exec_replica_connect(dbfork_exec *x, exec_replica *r, char *err, size_t errlen);
/* Reads r's lag into r->lag (seconds, EXEC_LAG_STOPPED); 0, or -1 when the
 * connection failed (r->m closed, r->lag = EXEC_LAG_LOST, err set). */
int exec_replica_read(exec_replica *r, char *err, size_t errlen);
void exec_replicas_close(dbfork_exec *x);

/* worker.c */
int exec_on_connect(dbfork_worker *w, void *arg);
int exec_worker_task(dbfork_worker *w, const void *in, size_t len, void *arg);

/* explain.c */
int exec_explain_text(dbfork_exec *x, unsigned chunks, char **text);

#endif /* DBFORK_EXEC_INT_H */
