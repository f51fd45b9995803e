/*
 * dbfork.h — a pool of pre-forked worker processes in which every worker owns
 * its own MySQL connection.
 *
 * This header is the manual. Every function says what it returns, who owns
 * what, and what happens on error.
 *
 * Model
 * -----
 * The parent creates a pool (dbfork_pool_new), starts it (dbfork_pool_start):
 * N worker processes are forked; in each, before any user code runs, inherited
 * sockets are neutralised (a dead AF_UNIX socket is dup2()-ed over every
 * inherited socket, so a stray use of an inherited MYSQL* fails cleanly and
 * never touches the parent's session), then the built-in initializer opens the
 * worker's own connection, then the user's initializer runs. The parent then
 * submits tasks (byte payloads); each runs in some worker through the user's
 * task function with the worker's MYSQL* at hand; each accepted task ends in
 * exactly one completion callback: ok, failed (with class, MySQL errno,
 * SQLSTATE and message) or cancelled.
 *
 * The parent side runs on a libuv loop: the pool's own (default) or one the
 * caller passes in (dbfork_options.loop). Completion callbacks run on the
 * thread that runs that loop, from inside uv_run(). With the pool's own loop,
 * the loop runs inside the blocking calls (dbfork_pool_start, dbfork_map,
 * dbfork_pool_join, dbfork_pool_terminate, a blocking dbfork_submit) and
 * dbfork_pool_run().
 *
 * Errors
 * ------
 * Functions return 0 (or a non-negative count) on success and a negative
 * DBFORK_E* code on failure; system errors are -errno. A function that takes
 * a callback and returns an error never calls that callback.
 * dbfork_strerror() and dbfork_err_name() describe a code.
 *
 * Workers
 * -------
 * What a new worker does before any user code runs: signal dispositions
 * reset to default (SIGPIPE ignored) and the mask cleared; the parent's
 * event-loop kernel objects (epoll, eventfd, timerfd, signalfd, pidfd
 * descriptors) closed; every other inherited socket replaced by a dead,
 * unconnected AF_UNIX socket (so a stray use of an inherited MYSQL* fails
 * with a clean "lost connection" error and the parent's session never sees
 * a byte); PR_SET_PDEATHSIG(SIGTERM). Regular files and pipes stay open.
 * Every descriptor is examined, however many are open; a worker that cannot
 * list them (/proc/self/fd cannot be opened or read) does not start: it
 * reports a start failure naming /proc/self/fd and the errno, rather than
 * run with the parent's sockets live.
 * Note that Linux delivers the parent-death signal when the *thread* that
 * forked exits: call dbfork_pool_start() (and run the pool's loop) from a
 * thread that lives as long as the pool. The worker also notices the
 * parent's death by EOF on its IPC socket and a getppid() check every second.
 *
 * Threads in the host. fork() copies only the calling thread: a lock that
 * another thread holds at that moment (an allocator arena, the host's own
 * mutexes, the client library's or OpenSSL's state) stays held forever in
 * the worker. Forking is safe when no other thread can hold a lock the worker
 * needs; create and start the pool before the host starts its threads.
 * dbfork's own locks are fork-safe (pthread_atfork), every signal is blocked
 * across fork() so no handler of the host runs in a worker, and a pool
 * started while the process runs more than one thread logs a warning once
 * per process (docs/policies.md, "Start methods"). The forkserver and spawn
 * start methods (options.start_method) avoid the problem.
 *
 * The worker side uses plain blocking calls. Finalizers registered with
 * dbfork_worker_atexit() run, highest priority first and then
 * last-registered first, on every exit path the process survives: drain,
 * recycle, SIGTERM/SIGINT/SIGHUP, parent death, and a failing on_connect or
 * init while the worker starts. The built-in mysql_close() runs after all of
 * them, so user finalizers may still use the connection.
 */
#ifndef DBFORK_H
#define DBFORK_H

#include <errno.h>
#include <mysql.h> /* MYSQL: see below */
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define DBFORK_EXTERN __attribute__((visibility("default")))
#define DBFORK_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define DBFORK_EXTERN
#define DBFORK_PRINTF(a, b)
#endif

#define DBFORK_VERSION_MAJOR 1
#define DBFORK_VERSION_MINOR 0
#define DBFORK_VERSION_PATCH 0
/* The header's version as one number for #if: 0xMMmmpp (1.2.3 is 0x010203). */
#define DBFORK_VERSION_HEX \
  ((DBFORK_VERSION_MAJOR << 16) | (DBFORK_VERSION_MINOR << 8) | DBFORK_VERSION_PATCH)

/* Returns the library's version as "MAJOR.MINOR.PATCH"; a static string.
 * (It may be newer than DBFORK_VERSION_*, the header a program was built
 * with: the library keeps the promises of docs/ABI.md to older programs.) */
DBFORK_EXTERN const char *dbfork_version(void);

/* ---------------------------------------------------------------------------
 * Error codes.
 *
 * One table: XX(NAME, value, message). System errors keep their -errno value
 * so that callers can compare with errno.h; dbfork's own classes live below
 * -30000. Codes are appended, never renumbered.
 *
 * The classes a task completion can carry (dbfork_result.status):
 *   DBFORK_ESQL           the task's SQL failed; mysql_errno/sqlstate/message say why
 *   DBFORK_ETASK          the task function failed without an SQL error
 *   DBFORK_EWORKERLOST    the worker died while running the task, more times than
 *                         max_retries allows; or the task had finished but the worker
 *                         died before its result reached the parent (not retried;
 *                         without transaction=1 results of quick tasks are sent in
 *                         batches while tasks wait in the queue: docs/policies.md)
 *   DBFORK_ECOMMITUNKNOWN the connection was lost, or the worker died, while COMMIT
 *                         was in flight (transaction=1): the transaction may or may
 *                         not have committed; never retried. Resolve it by looking at
 *                         the data (e.g. a row the task writes), then resubmit if absent
 *   DBFORK_ECONNLOST      the connection was lost and the task could not be retried
 *   DBFORK_ECONNECT       the worker could not get a connection back (reconnect before
 *                         a task, or after a lost one, kept failing for 30 s)
 *   DBFORK_ETIMEDOUT      the task exceeded its soft or hard time limit
 *   DBFORK_ECANCELED      the pool was terminated before the task ran to its end
 *   DBFORK_EINIT          no worker could start: the initializer's error is attached
 *   DBFORK_ERETRIES       a retryable error (deadlock, lock wait timeout, lost
 *                         connection) persisted through max_retries attempts
 *
 * Codes of the layers (dbfork/load.h), never a task's class:
 *   DBFORK_ECHANGED       a rerun of a job found its input (file, options) changed
 *                         since an earlier run recorded parts of it
 *   DBFORK_EINCOMPLETE    the job ended, but parts that kept failing were given up
 * ------------------------------------------------------------------------- */
#define DBFORK_ERRNO_MAP(XX)                                                             \
  XX(EPERM, -EPERM, "operation not permitted")                                           \
  XX(ENOENT, -ENOENT, "no such file or directory")                                       \
  XX(EIO, -EIO, "i/o error")                                                             \
  XX(EAGAIN, -EAGAIN, "resource temporarily unavailable (queue full)")                   \
  XX(ENOMEM, -ENOMEM, "not enough memory")                                               \
  XX(EACCES, -EACCES, "permission denied")                                               \
  XX(EBUSY, -EBUSY, "resource busy")                                                     \
  XX(EINVAL, -EINVAL, "invalid argument")                                                \
  XX(EMFILE, -EMFILE, "too many open files")                                             \
  XX(EPIPE, -EPIPE, "broken pipe")                                                       \
  XX(ERANGE, -ERANGE, "result out of range")                                             \
  XX(ENOSYS, -ENOSYS, "function not implemented")                                        \
  XX(ESQL, -30001, "SQL error")                                                          \
  XX(ETASK, -30002, "task failed")                                                       \
  XX(EWORKERLOST, -30003, "worker lost while running the task")                          \
  XX(ECOMMITUNKNOWN, -30004, "connection lost during COMMIT: commit outcome unknown")    \
  XX(ECONNLOST, -30005, "lost connection to the server")                                 \
  XX(ETIMEDOUT, -30006, "task time limit exceeded")                                      \
  XX(ECANCELED, -30007, "task cancelled")                                                \
  XX(EINIT, -30008, "worker initializer failed")                                         \
  XX(ERETRIES, -30009, "retryable error persisted through max_retries attempts")         \
  XX(ECLOSED, -30010, "pool is closed to new tasks")                                     \
  XX(ESTATE, -30011, "call not valid in the pool's current state")                       \
  XX(EPROTO, -30012, "protocol error between parent and worker")                         \
  XX(ETOOBIG, -30013, "payload larger than max_payload")                                 \
  XX(EOWNER, -30014, "MYSQL handle used by a process that did not open it")              \
  XX(ECONNECT, -30015, "cannot connect to the server")                                   \
  XX(ECHANGED, -30016, "the input differs from what an earlier run of the job recorded") \
  XX(EINCOMPLETE, -30017, "parts of the job could not be done and were given up")

typedef enum {
#define DBFORK__XX(name, val, msg) DBFORK_##name = (val),
  DBFORK_ERRNO_MAP(DBFORK__XX)
#undef DBFORK__XX
} dbfork_errno_t;

/* Returns a static, human-readable message for a code; never NULL. Unknown
 * negative codes that are -errno values fall back to strerror's text. */
DBFORK_EXTERN const char *dbfork_strerror(int err);
/* Returns the code's name ("DBFORK_EAGAIN"), or "DBFORK_UNKNOWN"; static. */
DBFORK_EXTERN const char *dbfork_err_name(int err);

/* ---------------------------------------------------------------------------
 * Types.
 * ------------------------------------------------------------------------- */
typedef struct dbfork_pool dbfork_pool;     /* parent side, opaque */
typedef struct dbfork_worker dbfork_worker; /* child side, opaque */
/* MYSQL comes from <mysql.h>, included above rather than declared: its
 * struct tag is st_mysql in MariaDB Connector/C and MYSQL in MySQL 8's
 * libmysqlclient, so no forward declaration fits both. (The client library
 * is a public dependency of dbfork anyway: the API hands out MYSQL*.) */
struct uv_loop_s; /* uv_loop_t from <uv.h> */

/* The outcome of one task, handed to its completion callback. Every pointer
 * in it is owned by the pool and valid only during the callback: copy what
 * you keep. The library allocates it: later versions may append fields
 * (docs/ABI.md), so never make one yourself or copy it by size. */
typedef struct dbfork_result {
  int status;                  /* 0: ok; else a negative DBFORK_E* class (see above) */
  unsigned int mysql_errno;    /* server/client error number, 0 if none */
  char sqlstate[6];            /* NUL-terminated SQLSTATE, "" if none */
  const char *message;         /* NUL-terminated detail, "" if none; never NULL */
  const void *data;            /* the reply the task wrote (dbfork_worker_reply) */
  size_t len;                  /* its length in bytes */
  unsigned int attempts;       /* how many times the task was started (1 = no retry) */
  int worker_slot;             /* slot of the worker that ended it, -1 if none */
  long worker_pid;             /* pid of that worker, 0 if none */
  unsigned long connection_id; /* that worker's server connection id, 0 if none */
  unsigned int task;           /* the task's index in the pool's task table */
} dbfork_result;

/* Completion callback: called exactly once per accepted task, on the loop
 * thread. It may call dbfork_submit() (which then never blocks: it returns
 * DBFORK_EAGAIN when the queue is full). */
typedef void (*dbfork_done_cb)(const dbfork_result *result, void *ud);

/* Runs in the worker after its connection is open. Return 0, or a negative
 * DBFORK_E* code (DBFORK_ESQL picks up mysql_errno/sqlstate/error from the
 * worker's connection; see also dbfork_worker_fail). A failing initializer
 * counts as a start failure of that worker. */
typedef int (*dbfork_init_fn)(dbfork_worker *w, void *arg);

/* Runs one task in the worker. `in`/`len` is the payload (owned by the
 * worker, valid during the call). Write the reply with dbfork_worker_reply().
 * Return 0 on success; DBFORK_ESQL to fail with the connection's current
 * error; any other negative code fails the task with that class. With
 * transaction=1 (the pool wraps each task in START TRANSACTION .. COMMIT),
 * deadlocks (1213), lock wait timeouts (1205) and a connection lost before
 * COMMIT roll back and retry the task; without it nothing is retried inside
 * the worker, because statements before the failing one have already
 * committed (a lost connection then fails DBFORK_ECONNLOST). */
typedef int (*dbfork_task_fn)(dbfork_worker *w, const void *in, size_t len, void *arg);

/* One entry of a pool's table of named tasks (dbfork_options.tasks). Write
 * entries with DBFORK_TASK(name, fn, arg), which sets `size` to this
 * struct's size as your program was compiled (docs/ABI.md): a table stays
 * readable by a later library whose entries have grown. */
typedef struct dbfork_task_def {
  size_t size;       /* sizeof(dbfork_task_def) in the caller; DBFORK_TASK sets it */
  const char *name;  /* required, unique in the table; in logs and failure messages */
  dbfork_task_fn fn; /* runs the task; NULL: a task that does nothing */
  void *arg;         /* fn's last argument */
} dbfork_task_def;
/* Designated in C, so that a later field (appended, docs/ABI.md) gets no
 * -Wmissing-field-initializers warning in programs built with -Wextra. */
#ifdef __cplusplus
#define DBFORK_TASK(name_, fn_, arg_) \
  { sizeof(dbfork_task_def), (name_), (fn_), (arg_) }
#else
#define DBFORK_TASK(name_, fn_, arg_) \
  { .size = sizeof(dbfork_task_def), .name = (name_), .fn = (fn_), .arg = (arg_) }
#endif

/* Log levels and callback. The library never prints; it reports here. */
enum { DBFORK_LOG_ERROR = 1, DBFORK_LOG_WARN = 2, DBFORK_LOG_INFO = 3, DBFORK_LOG_DEBUG = 4 };
typedef void (*dbfork_log_fn)(int level, const char *msg, void *arg);

/* How worker processes come to exist (options.start_method; docs/policies.md,
 * "Start methods", says which to pick when).
 *
 * DBFORK_START_FORK (the default): each worker is fork()ed from the thread
 *   that runs the pool. Safe when no other thread of the process can hold a
 *   lock the worker needs (an allocator arena, a logging mutex, the client
 *   library's or OpenSSL's state, the host's own locks): fork() copies only
 *   the calling thread, and a lock held by another stays held forever in the
 *   worker. dbfork's own locks are fork-safe, every signal is blocked across
 *   fork() so no handler of the host runs in the worker before its hygiene,
 *   and a pool started while the process runs more than one thread logs a
 *   warning (once per process) with the way out.
 * DBFORK_START_FORKSERVER: each worker is forked from a single-threaded
 *   helper that the program started with dbfork_forkserver_start() near the
 *   top of main(), before any thread (no lock can be held there by another
 *   thread). Every request carries the pool's current options (credentials
 *   included: nothing is frozen at the helper's start); the worker is still
 *   the pool process's child (clone with CLONE_PARENT), so exits (pidfd),
 *   signals, KILL of a dead worker's session, limits, recycling and parent
 *   death work as with fork. What the worker inherits is the helper's, not
 *   the pool's: no live descriptor but stdio (the program's sockets at the
 *   call are dead sockets at the same numbers, its other descriptors closed,
 *   a pipe opened after the call is not there), no atfork handler run, and
 *   memory as it was at
 *   the call. So pointers in the options are used as they are: functions are
 *   the same, but data they point to (task_arg, init_arg, on_connect_arg,
 *   the task table's args) must be what it was when the helper was forked —
 *   static data, or data set up before dbfork_forkserver_start(); pass what
 *   changes later in the task payloads. Without that call (or in a process
 *   fork()ed from the one that made it) dbfork_pool_new() fails with
 *   DBFORK_EINVAL and a log line that says to make it. If the helper dies or
 *   does not answer within 10 s, that worker's start fails (DBFORK_EPIPE, "the
 *   fork server is gone") and so does every later one, by the start-failure policy;
 *   dbfork_forkserver_start() then starts a new helper.
 * DBFORK_START_SPAWN: each worker is a fresh exec of the program itself
 *   (posix_spawn of /proc/self/exe, argv[0] only: the program's arguments
 *   may hold secrets) that enters the worker through dbfork_child_main() at
 *   the top of main(). Nothing is inherited: no descriptor but stdio (and
 *   the worker's own two), no lock, no memory, no atfork handler, no signal
 *   disposition; each worker has its own ASLR layout. The worker is the pool
 *   process's child, so exits (pidfd), signals, KILL of a dead worker's
 *   session, limits, recycling and parent death work as with fork. Each
 *   worker is sent the pool's whole configuration when it starts (strings,
 *   credentials, limits: nothing is frozen), but only after its hook has
 *   answered, so a program without it never receives the credentials.
 *   Pointers in the options (init, on_connect, the task table's fn, and
 *   init_arg, on_connect_arg, the task table's arg) are sent as (loaded
 *   module, offset) and rebuilt in the worker, which runs the same program
 *   with the same libraries. So a function must be the program's or a
 *   loaded library's (not generated code, not from a library dlopen()ed
 *   after main() started), and a data pointer must be NULL or point into a
 *   module's static data (a static or global variable, a string literal, a
 *   const table) — and the worker sees that data as the program has it when
 *   its hook runs: initial values, not what the pool's process wrote there
 *   since. Pass what changes at run time in the task payloads.
 *   dbfork_pool_start() fails with DBFORK_EINVAL, and a log line naming
 *   the field, for a pointer into no module (heap, stack, mmap'ed memory).
 *   log and log_arg are the pool's only: a worker never logs. If this
 *   program's main() did not call dbfork_child_main(), dbfork_pool_new()
 *   fails with DBFORK_EINVAL and a log line that says what to add; a
 *   spawned process that does not reach the hook within 5 s (a main() that
 *   calls it only on some paths) is killed and the pool's start fails with
 *   DBFORK_EINIT, the same words in dbfork_pool_last_error(). A start costs
 *   an exec and the dynamic loader (a few ms), and runs the loop's thread
 *   until the new process's hook answers.
 * A method is never replaced by another silently. */
typedef enum dbfork_start_method {
  DBFORK_START_FORK = 0,
  DBFORK_START_FORKSERVER = 1,
  DBFORK_START_SPAWN = 2
} dbfork_start_method;

/* Starts this process's fork server for DBFORK_START_FORKSERVER: a helper
 * process, fork()ed now, that forks every worker of every such pool. Call it
 * near the top of main(), from the thread that lives as long as the process
 * (the main thread), before the program starts threads or opens anything a
 * worker should not see; the helper keeps only stdin, stdout and stderr of
 * the descriptors open now. It ignores SIGINT and SIGHUP, and dies with this
 * process (PR_SET_PDEATHSIG(SIGKILL), which Linux ties to the calling
 * thread, and EOF on its socket): it is never left behind. The workers'
 * parent-death signal is tied to that same thread. Calling it again while
 * the helper runs does nothing; after the helper died it starts a new one
 * (from the process as it is then, threads included). Not to be called in a
 * worker. Returns 0, or -errno if the socketpair or fork() failed. */
DBFORK_EXTERN int dbfork_forkserver_start(void);

/* The main() hook of DBFORK_START_SPAWN. Make it the first statement of
 * main(), before the program starts threads, parses its arguments or opens
 * anything:
 *
 *     int main(int argc, char **argv) {
 *       int rc;
 *       if (dbfork_child_main(&argc, &argv, &rc)) return rc;
 *       ...
 *
 * In the program as the user started it, it records argv[0] (spawned
 * workers run under that name) and that the hook is there, and returns 0,
 * leaving argc and argv as they were. In a process a pool spawned (marked
 * by the environment variable DBFORK_SPAWN_WORKER, which it removes, and
 * by the pool's socket on descriptor 3), it does not return: it receives
 * the pool's configuration and becomes the worker, which ends with _exit()
 * after its finalizers; only if that cannot begin (the pool vanished, a
 * pointer cannot be rebuilt: the pool is told why) does it return 1 with
 * *exit_code = 3, for main() to return. argc and argv may be NULL (argv[0]
 * is then not known and workers run as "dbfork-worker"); exit_code may be
 * NULL. A variable DBFORK_SPAWN_WORKER that does not name this process's
 * parent is removed and ignored. Calling it is harmless in a program that
 * never uses spawn. */
DBFORK_EXTERN int dbfork_child_main(int *argc, char ***argv, int *exit_code);

/* ---------------------------------------------------------------------------
 * Options. Initialise with dbfork_options_init(), then set fields. Strings are
 * copied by dbfork_pool_new(); the caller keeps ownership of its own.
 * A zero numeric field means "the default" named beside it.
 *
 * ABI (docs/ABI.md): the struct starts with its size as the program was
 * compiled, which dbfork_options_init() sets. Fields are only appended; a
 * library that knows more fields than the program gives the rest their
 * defaults, and one that knows fewer refuses only a field it does not know
 * that the program set.
 * ------------------------------------------------------------------------- */
typedef struct dbfork_options {
  size_t size; /* sizeof(dbfork_options) in the caller: set by dbfork_options_init */
  int workers; /* number of worker processes; default 2 */

  /* MySQL connection (any NULL/0 field falls back to the option files and the
   * client library's defaults, as the mysql client does). */
  const char *host;
  unsigned int port;
  const char *unix_socket;
  const char *user;
  const char *password;
  const char *database;
  const char *charset;          /* default "utf8mb4" */
  unsigned int connect_timeout; /* seconds; default 10 */
  const char *defaults_file;    /* read only this option file (--defaults-file). Any
                                   "reconnect" option is overridden: dbfork reconnects
                                   itself (new id to the parent, on_connect run), so the
                                   client library's auto-reconnect is always off */
  const char *defaults_group;   /* group read besides [client]; default "dbfork" */
  int no_defaults;              /* 1: read no option file at all */
  const char *ssl_mode;         /* DISABLED, PREFERRED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY */
  const char *ssl_ca;
  const char *ssl_cert;
  const char *ssl_key;
  const char *program_name; /* connect attribute program_name; default "dbfork" */
  int local_infile;         /* 1: allow LOAD DATA LOCAL INFILE on worker connections */

  /* Worker code. */
  dbfork_init_fn init; /* optional user initializer: once per worker process */
  void *init_arg;
  dbfork_init_fn on_connect; /* optional: after every (re)connect, before init and before
                                the next task: set session state here (SET ..., temporary
                                tables), since a reconnect starts a new session. Failing
                                while the worker starts is a start failure, as for init */
  void *on_connect_arg;
  dbfork_task_fn task; /* the pool's one task (index 0), if tasks is NULL; NULL: no-op */
  void *task_arg;
  const dbfork_task_def *tasks; /* or a table of named tasks, chosen per submit by index
                                   (dbfork_submit_task; dbfork_submit runs index 0);
                                   copied by dbfork_pool_new. Not with `task` */
  unsigned int ntasks;          /* entries in tasks: 1 .. 65535 */

  /* Scheduling and memory bounds. */
  unsigned int queue_max; /* tasks waiting in the parent; default 1024 */
  unsigned int prefetch;  /* tasks in flight per worker; default 32 */
  int submit_nonblocking; /* 1: a full queue makes dbfork_submit return DBFORK_EAGAIN;
                             0 (default): dbfork_submit waits for room */
  size_t max_payload;     /* largest payload or reply in bytes; default 64 MiB */

  /* Policies. */
  int transaction;                   /* 1: wrap each task in BEGIN .. COMMIT/ROLLBACK */
  unsigned int max_retries;          /* retries per task; default 3 (set retries_off to disable) */
  int retries_off;                   /* 1: never retry */
  unsigned int retry_backoff_ms;     /* base of the jittered exponential backoff; default 20 */
  unsigned int max_start_failures;   /* consecutive worker start failures before the pool
                                        fails; default 3 */
  unsigned int start_backoff_ms;     /* base respawn backoff after a start failure; default 100 */
  unsigned int max_tasks_per_worker; /* recycle after this many tasks; 0 = never */
  size_t max_rss_bytes;              /* recycle when the worker's RSS exceeds this; 0 = never */
  unsigned int max_lifetime_ms; /* recycle after this long (plus up to 10% jitter); 0 = never */
  unsigned int idle_ping_ms;    /* ping an idle connection after this long; default 60000 */
  /* Time limits of a task, timed from its start in the worker; each acts when
   * it passes (a hard limit may be below the soft one). docs/policies.md. */
  unsigned int soft_time_limit_ms; /* KILL QUERY the worker's statement; 0 = none */
  unsigned int hard_time_limit_ms; /* SIGKILL the worker and KILL its session; 0 = none;
                                      replies are then never held back for batching */
  unsigned int term_grace_ms;      /* terminate(): SIGTERM, then SIGKILL after; default 2000 */

  /* Loop and diagnostics. */
  struct uv_loop_s *loop; /* run on this loop instead of the pool's own; not owned */
  dbfork_log_fn log;      /* diagnostics; NULL = discard */
  void *log_arg;
  int log_level; /* highest level passed to log; default DBFORK_LOG_INFO */

  /* Added after 1.0 (a program built against 1.0 gets 0, fork). */
  int start_method; /* how workers are started: DBFORK_START_*; default DBFORK_START_FORK */
} dbfork_options;

/* Fills *o with defaults (all zero, which means "the defaults above") and
 * sets o->size. Always call it first. Call it as dbfork_options_init(&o):
 * the macro passes sizeof(dbfork_options) as your program was compiled, and
 * the function writes exactly that many bytes. */
DBFORK_EXTERN void dbfork_options_init(dbfork_options *o, size_t size);
#define dbfork_options_init(o) dbfork_options_init((o), sizeof *(o))

/* ---------------------------------------------------------------------------
 * Pool lifecycle (parent).
 * ------------------------------------------------------------------------- */

/* Creates a pool from *opts (copied; opts may be freed afterwards). Forks
 * nothing yet. Returns 0 and sets *out, or DBFORK_EINVAL (bad option; the log
 * callback names it) / DBFORK_ENOMEM with *out = NULL. Free with
 * dbfork_pool_free(). */
DBFORK_EXTERN int dbfork_pool_new(dbfork_pool **out, const dbfork_options *opts);

/* Forks the workers and runs the loop until every worker has connected and
 * run its initializer. Returns 0; or the first start failure: DBFORK_EINIT
 * with the detail in dbfork_pool_last_error(), after max_start_failures
 * consecutive failures with backoff (never a respawn storm); or -errno if
 * fork/socketpair fail. Must not be called from inside a callback of the
 * pool's loop.
 * If dbfork_pool_stop() or dbfork_pool_close() is called while it waits (from
 * a callback on the loop, e.g. a SIGINT watcher; or close from another
 * thread), it stops waiting for workers to become ready, runs the loop until
 * every worker has left as that call says (tasks accepted meanwhile complete
 * as it says too) and returns DBFORK_ECLOSED; a worker stopped before it was
 * ready is no start failure.
 * It also returns DBFORK_ECLOSED, forking nothing, on a pool closed before
 * start. dbfork_pool_join() (returns 0) and dbfork_pool_free() may follow as
 * usual. */
DBFORK_EXTERN int dbfork_pool_start(dbfork_pool *p);

/* Submits a task: `len` bytes at `in` are copied, so the caller may reuse its
 * buffer at once. `cb` is called exactly once with the outcome, unless this
 * function returns an error, in which case it is never called. Thread-safe.
 * Returns 0; DBFORK_EAGAIN when the queue is full and the pool is
 * nonblocking, or when a blocking submit is made from inside a callback;
 * DBFORK_ECLOSED after close/terminate; DBFORK_ETOOBIG if len > max_payload;
 * DBFORK_EINIT if the pool failed to keep workers alive; DBFORK_ESTATE before
 * start. A blocking submit on the loop thread (the thread that called
 * dbfork_pool_start) runs the pool's own loop while it waits; with a caller's
 * loop (options.loop) a submit on the loop thread never blocks and returns
 * DBFORK_EAGAIN instead; on any other thread it waits until the loop thread
 * makes room. */
DBFORK_EXTERN int dbfork_submit(dbfork_pool *p, const void *in, size_t len, dbfork_done_cb cb,
                                void *ud);

/* dbfork_submit() for the task at index `task` of the pool's task table
 * (dbfork_options.tasks; index 0 is options.task when there is no table).
 * Only the index crosses into the worker, which runs that entry's fn with
 * its arg. Returns what dbfork_submit() returns, or DBFORK_EINVAL if `task`
 * is not an index of the table (cb is then never called). */
DBFORK_EXTERN int dbfork_submit_task(dbfork_pool *p, unsigned int task, const void *in, size_t len,
                                     dbfork_done_cb cb, void *ud);

/* dbfork_map: runs n tasks (the pool's task at index 0: options.task, or
 * tasks[0]) and hands their results back in input order.
 * `input(i, &data, &len, ud)` supplies payload i (0 <= i < n) when the map is
 * ready to send it; the bytes are copied before the next call. Return 0, or
 * a negative code to stop the map. `output(i, result, ud)` is called once per
 * payload taken, strictly in order i = 0, 1, ...; return 0 to go on, or
 * non-zero to stop. Either way of stopping takes no more input, but every
 * task already taken runs to its end and is still passed to output(), once,
 * in order (output's return value is then ignored): when map returns, the
 * tasks that ran are exactly those output() saw. Memory stays bounded by the
 * queue and prefetch windows, however large n is. Blocking; runs the loop.
 * Returns 0 when all n outputs were delivered (check each result's status
 * for task failures); else the first of: input()'s negative code, output()'s
 * negative code (DBFORK_ECANCELED for a positive one), a pool error
 * (DBFORK_ECLOSED, DBFORK_EINIT); or DBFORK_ESTATE / DBFORK_EINVAL /
 * DBFORK_ENOMEM before anything ran. */
typedef int (*dbfork_map_input_fn)(size_t i, const void **data, size_t *len, void *ud);
typedef int (*dbfork_map_output_fn)(size_t i, const dbfork_result *r, void *ud);
DBFORK_EXTERN int dbfork_map(dbfork_pool *p, size_t n, dbfork_map_input_fn input,
                             dbfork_map_output_fn output, void *ud);

/* Runs the pool's own loop, for users of it who submit nonblocking. Mode 0:
 * until no task is queued or in flight (every accepted task has completed;
 * the pool stays open), then returns 0 — at once if none is. Mode 1: one
 * iteration, waiting for an event (UV_RUN_ONCE); mode 2: one iteration
 * without waiting (UV_RUN_NOWAIT); both return uv_run's value (non-zero if
 * the loop still has active handles, which an open pool always has).
 * Completion callbacks run inside it. Returns DBFORK_ESTATE when the pool
 * runs on the caller's loop, or for mode 0 inside a callback. */
DBFORK_EXTERN int dbfork_pool_run(dbfork_pool *p, int mode);

/* The barrier between phases on one open pool: runs the loop (the pool's
 * own or the caller's) until no task is queued or in flight, i.e. until the
 * callback of every task accepted so far has run — tasks other threads
 * submit meanwhile are waited for too. The workers and their sessions stay.
 * Returns 0; DBFORK_EINIT if the pool has failed (the remaining tasks
 * completed DBFORK_EINIT); DBFORK_ESTATE before start, inside a callback,
 * or on a thread other than the loop thread. */
DBFORK_EXTERN int dbfork_pool_wait_idle(dbfork_pool *p);

/* Returns the loop the pool runs on (its own or the caller's). */
DBFORK_EXTERN struct uv_loop_s *dbfork_pool_loop(dbfork_pool *p);

/* Stops accepting tasks; tasks already accepted still run. Non-blocking.
 * When the queue drains, workers are told to run their finalizers and exit.
 * Thread-safe: from a thread other than the loop thread it marks the pool
 * closed (submits fail DBFORK_ECLOSED from then on) and wakes the loop,
 * which does the rest when it runs. Returns 0 (also if already closed). */
DBFORK_EXTERN int dbfork_pool_close(dbfork_pool *p);

/* Closes the pool if not yet closed, then runs the loop until every accepted
 * task has completed and every worker has run its finalizers and exited.
 * Returns 0, or DBFORK_EINIT if the pool failed (completions say which tasks
 * failed). Must not be called from inside a callback. */
DBFORK_EXTERN int dbfork_pool_join(dbfork_pool *p);

/* Stops now: queued tasks complete DBFORK_ECANCELED; workers get SIGTERM,
 * finish the task they run (COMMIT included), run finalizers and exit; the
 * tasks they had not started complete DBFORK_ECANCELED. After term_grace_ms
 * survivors get SIGKILL and their sessions KILL (their running task then
 * completes DBFORK_ECANCELED, or DBFORK_ECOMMITUNKNOWN if COMMIT was in
 * flight). A KILL the server does not answer within a few seconds is given
 * up with a warning in the log, not waited for. Blocking; returns 0. */
DBFORK_EXTERN int dbfork_pool_terminate(dbfork_pool *p);

/* Starts what dbfork_pool_terminate() does and returns at once: queued
 * tasks complete DBFORK_ECANCELED (their callbacks run before this returns),
 * workers get SIGTERM, the grace timer is armed. Safe from inside any
 * callback on the loop thread, e.g. a uv_signal_t handler for SIGINT that the
 * application installs (the library installs none); a blocking call in
 * progress (dbfork_map, dbfork_pool_join) then returns once the workers are
 * gone. Returns 0. */
DBFORK_EXTERN int dbfork_pool_stop(dbfork_pool *p);

/* Frees the pool; terminates it first if workers are still running (which
 * completes their tasks as cancelled). NULL is fine. Must not be called from
 * inside a callback. */
DBFORK_EXTERN void dbfork_pool_free(dbfork_pool *p);

/* The last pool-level error detail (e.g. the initializer's server message),
 * "" if none. Owned by the pool, valid until the next pool call. */
DBFORK_EXTERN const char *dbfork_pool_last_error(const dbfork_pool *p);

/* ---------------------------------------------------------------------------
 * Statistics.
 * ------------------------------------------------------------------------- */
enum {
  DBFORK_WORKER_EMPTY = 0, /* slot has no process */
  DBFORK_WORKER_STARTING,  /* forked, connecting */
  DBFORK_WORKER_IDLE,      /* connected, no task */
  DBFORK_WORKER_BUSY,      /* running tasks */
  DBFORK_WORKER_STOPPING   /* finishing, running finalizers */
};

typedef struct dbfork_worker_stats {
  int slot;
  long pid;                    /* 0 if the slot is empty */
  unsigned long connection_id; /* 0 until connected */
  int state;                   /* DBFORK_WORKER_* */
  uint64_t tasks_ok;
  uint64_t tasks_failed;
  uint64_t tasks_retried; /* retries this slot caused or ran */
  unsigned int restarts;  /* processes started in this slot after the first */
  size_t rss_bytes;       /* resident set size of the process, 0 if unknown */
} dbfork_worker_stats;

typedef struct dbfork_pool_stats {
  uint64_t submitted;
  uint64_t completed_ok;
  uint64_t completed_failed;
  uint64_t cancelled;
  uint64_t retries;
  uint64_t workers_started;   /* forks, including replacements */
  uint64_t workers_lost;      /* died without finalizers */
  uint64_t sessions_killed;   /* KILL <id> issued for lost workers */
  unsigned int queued;        /* waiting in the parent now */
  unsigned int in_flight;     /* sent to workers, not yet completed */
  uint64_t finalizers_failed; /* finalizers that reported a failure (logged) */
} dbfork_pool_stats;

/* Fills *ps (if not NULL) and up to `n` entries of `ws` (if not NULL), one per
 * slot. Returns the number of slots (the worker count), or DBFORK_EINVAL.
 * Loop thread only. Call it as dbfork_pool_stats_get(p, &ps, ws, n): the
 * macro passes the sizes of both structs as your program was compiled; the
 * library writes within them (fields it does not know read 0) and steps
 * through ws by your size (docs/ABI.md). */
DBFORK_EXTERN int dbfork_pool_stats_get(dbfork_pool *p, dbfork_pool_stats *ps, size_t ps_size,
                                        dbfork_worker_stats *ws, size_t ws_size, size_t n);
#define dbfork_pool_stats_get(p, ps, ws, n)                                                      \
  dbfork_pool_stats_get((p), (ps), sizeof(dbfork_pool_stats), (ws), sizeof(dbfork_worker_stats), \
                        (n))

/* Returns a static name for a DBFORK_WORKER_* state. */
DBFORK_EXTERN const char *dbfork_worker_state_name(int state);

/* ---------------------------------------------------------------------------
 * Worker side: call these from the initializer, task function or finalizers,
 * with the dbfork_worker * that callback was given. Given NULL, each one
 * fails: those returning int return DBFORK_EINVAL, dbfork_worker_mysql()
 * returns NULL and dbfork_worker_connection_id() 0. Any other pointer than
 * the one the running callback got (a stale one, or one used in the parent)
 * is undefined behaviour.
 * ------------------------------------------------------------------------- */

/* The worker's own connection. Owned by the worker; closed after the last
 * finalizer. Never NULL inside on_connect/init/task/finalizers (but it may
 * have lost the server: check errors). A task that fails with a lost
 * connection leaves no handle behind (the next task reconnects); if the
 * worker exits before that, it makes one attempt of at most about 2 s to
 * open a new session for its finalizers (running on_connect on it), and if
 * that fails they get an unconnected handle: every call on it fails with a
 * client error (2006 "server has gone away") instead of crashing. The
 * pointer may change between calls: fetch it again rather than keep it. */
DBFORK_EXTERN MYSQL *dbfork_worker_mysql(dbfork_worker *w);

/* The worker's slot (0 .. workers-1), and its server connection id (0 until
 * connected). */
DBFORK_EXTERN int dbfork_worker_slot(const dbfork_worker *w);
DBFORK_EXTERN unsigned long dbfork_worker_connection_id(const dbfork_worker *w);

/* A finalizer: runs in the worker when it exits, with the worker's handle
 * (its connection is still open: dbfork_worker_mysql(w)). Return 0, or a
 * negative DBFORK_E* code to report a failure: DBFORK_ESQL picks up the
 * connection's error, dbfork_worker_fail() sets a detail of its own (and
 * makes it a failure whatever is returned). A failure is reported to the
 * parent, which logs it at DBFORK_LOG_ERROR with the worker's slot and pid
 * and counts it in dbfork_pool_stats.finalizers_failed; the remaining
 * finalizers run all the same. */
typedef int (*dbfork_fini_fn)(dbfork_worker *w, void *arg);

/* Registers fn(w, arg) to run when the worker exits on any path it
 * survives. Higher priority runs first; equal priorities run
 * last-registered first. The built-in mysql_close() runs after every user
 * finalizer. Returns 0, DBFORK_ENOMEM, or DBFORK_EINVAL (w or fn NULL). */
DBFORK_EXTERN int dbfork_worker_atexit(dbfork_worker *w, dbfork_fini_fn fn, void *arg,
                                       int priority);

/* Appends `len` bytes to the current task's reply (delivered as
 * dbfork_result.data). Returns 0, DBFORK_ETOOBIG past max_payload,
 * DBFORK_ENOMEM, or DBFORK_EINVAL (w NULL, or data NULL with len > 0). */
DBFORK_EXTERN int dbfork_worker_reply(dbfork_worker *w, const void *data, size_t len);

/* Sets the failure detail of the current task and returns `code`, so a task
 * can `return dbfork_worker_fail(w, DBFORK_ETASK, 0, NULL, "bad row %d", n);`.
 * mysql_errno/sqlstate (may be NULL) are reported as given. Once called, the
 * task has failed whatever the task function returns (0 included): with
 * transaction=1 its transaction is rolled back, never committed, and its
 * completion carries this failure (a code >= 0 becomes DBFORK_ETASK).
 * Returns DBFORK_EINVAL, recording nothing, if w is NULL. */
DBFORK_EXTERN int dbfork_worker_fail(dbfork_worker *w, int code, unsigned int mysql_errno,
                                     const char *sqlstate, const char *fmt, ...)
    DBFORK_PRINTF(5, 6);

/* 1 when the worker has been asked to stop (SIGTERM, parent gone, recycle),
 * else 0: long tasks may check it and return early. DBFORK_EINVAL (non-zero,
 * so "stop") if w is NULL. */
DBFORK_EXTERN int dbfork_worker_stopping(const dbfork_worker *w);

/* ---------------------------------------------------------------------------
 * MySQL helpers, usable anywhere.
 * ------------------------------------------------------------------------- */

/* Forgets a MYSQL handle inherited across fork() without sending COM_QUIT or
 * a TLS shutdown on its socket: the socket is replaced by a dead one (so the
 * fd number stays taken and the parent's session is untouched), then the
 * handle's memory is released. Use it in a child you forked yourself.
 * NULL is fine. Returns 0 or -errno. */
DBFORK_EXTERN int dbfork_mysql_abandon(MYSQL *m);

/* Opens a connection for the calling process (the parent's own queries)
 * with exactly what a worker of a pool made from *o would use: host, port,
 * socket, user, password, database, charset, the option files ([client] and
 * defaults_group, or defaults_file, or none with no_defaults), TLS,
 * connect_timeout, local_infile, and the connect attributes program_name,
 * dbfork_pid and dbfork_slot (-1: not a worker). The client library's
 * auto-reconnect is off, as on the workers' connections. Transient errors
 * (server starting, too many connections) are retried with backoff for up
 * to connect_timeout seconds; others fail at once. Blocking. *o is only
 * read during the call, and must have been initialised with
 * dbfork_options_init() (docs/ABI.md), as for dbfork_pool_new().
 * Returns 0 and sets *out (owned by the caller: close it with
 * dbfork_mysql_close(); dbfork_mysql_check_owner() knows it); or
 * DBFORK_EINVAL (NULL argument or bad option), DBFORK_ENOMEM, or
 * DBFORK_ECONNECT, with *out = NULL and, if errbuf is not NULL, a
 * NUL-terminated message of at most errlen bytes naming the option or
 * giving the server's error and its MySQL error number. */
DBFORK_EXTERN int dbfork_connect(MYSQL **out, const dbfork_options *o, char *errbuf, size_t errlen);

/* Closes a handle opened by dbfork_connect() (sends COM_QUIT) and forgets
 * its ownership record. NULL is fine. Never use it on a handle inherited
 * across fork: see dbfork_mysql_abandon(). */
DBFORK_EXTERN void dbfork_mysql_close(MYSQL *m);

/* The pid ownership guard. Returns 0 if `m` was opened through dbfork by the
 * calling process; DBFORK_EOWNER if it was opened by another process (it was
 * inherited across fork: using it would speak on the parent's session);
 * DBFORK_EINVAL if dbfork did not open it or m is NULL. */
DBFORK_EXTERN int dbfork_mysql_check_owner(MYSQL *m);

#ifdef __cplusplus
}
#endif
#endif /* DBFORK_H */
