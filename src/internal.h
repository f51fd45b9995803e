/*
 * internal.h — what the parent side (parent.h and its files), the child side
 * (worker.c) and the database glue (mysql.c) share. Not installed.
 * Internal non-static names carry the dbfork__ prefix.
 */
#ifndef DBFORK_INTERNAL_H
#define DBFORK_INTERNAL_H

#include "dbfork.h"
#include "dbfork/abi.h"
#include "proto.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>

/* Always-on assertion for states that cannot happen (e.g. across the fork
 * boundary): a silent wrong answer is worse than an abort with a message. */
#define DBFORK__CHECK(cond)                                \
  do {                                                     \
    if (!(cond)) dbfork__panic(__FILE__, __LINE__, #cond); \
  } while (0)
void dbfork__panic(const char *file, int line, const char *what) __attribute__((noreturn));

/* Defaults for zero option fields. */
#define DBFORK__DEF_WORKERS 2
#define DBFORK__DEF_QUEUE 1024
#define DBFORK__DEF_PREFETCH 32
#define DBFORK__DEF_MAX_PAYLOAD (64u << 20)
#define DBFORK__DEF_RETRIES 3
#define DBFORK__DEF_BACKOFF_MS 20
#define DBFORK__DEF_START_FAILS 3
#define DBFORK__DEF_START_BACKOFF_MS 100
#define DBFORK__DEF_IDLE_PING_MS 60000
#define DBFORK__DEF_GRACE_MS 2000
#define DBFORK__DEF_CONNECT_TIMEOUT 10
/* How long a worker keeps trying to get its connection back mid-run (a
 * server restart) before it gives up and exits. */
#define DBFORK__RECONNECT_MS 30000
/* Connect, read and write timeout of the parent's control connection (the
 * one that sends KILL): a server that stops answering fails a KILL after
 * this long instead of holding it for as long as TCP takes to give up. */
#define DBFORK__CTL_TIMEOUT_S 2
/* A KILL (or KILL QUERY) whose turn has not come this long after it was
 * asked for is not tried any more. */
#define DBFORK__KILL_DEADLINE_MS 3000

/* The smallest sizes callers may pass (docs/ABI.md): each struct up to its
 * last field of 1.0, the first release with the size-first scheme. Frozen:
 * a field added later comes after these. */
#define DBFORK__OPTIONS_SIZE_1_0 DBFORK_ABI_SIZE_TO(dbfork_options, log_level)
#define DBFORK__POOL_STATS_SIZE_1_0 DBFORK_ABI_SIZE_TO(dbfork_pool_stats, finalizers_failed)
#define DBFORK__WORKER_STATS_SIZE_1_0 DBFORK_ABI_SIZE_TO(dbfork_worker_stats, rss_bytes)
#define DBFORK__TASK_DEF_SIZE_1_0 DBFORK_ABI_SIZE_TO(dbfork_task_def, arg)
/* Larger is no struct of ours: garbage, or an uninitialised size. */
#define DBFORK__STRUCT_SIZE_MAX 65536

/* A failure's detail, carried from the worker to the completion. */
typedef struct dbfork__err {
  int code; /* negative DBFORK_E* */
  unsigned int mysql_errno;
  char sqlstate[6];
  char msg[DBFORK__MSG_MSG_MAX + 1];
} dbfork__err;

void dbfork__err_set(dbfork__err *e, int code, unsigned int mysql_errno, const char *sqlstate,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void dbfork__err_vset(dbfork__err *e, int code, unsigned int mysql_errno, const char *sqlstate,
                      const char *fmt, va_list ap);

/* A growable byte buffer (frames in and out, on both sides of the fork). */
typedef struct dbfork__bytes {
  uint8_t *p;
  size_t len, cap;
} dbfork__bytes;
/* Makes room for `more` bytes after len; 0 or DBFORK_ENOMEM. */
int dbfork__bytes_reserve(dbfork__bytes *b, size_t more);
/* Appends n bytes; 0 or DBFORK_ENOMEM. */
int dbfork__bytes_add(dbfork__bytes *b, const void *p, size_t n);

/* Blocking I/O on a socket (send with MSG_NOSIGNAL): 0, or -1 on error or
 * EOF. wait_readable: 0 once fd is readable (data, EOF or error), -1 after
 * ms without. For workers and helpers not (yet) on the pool's loop. */
int dbfork__read_full(int fd, void *buf, size_t n);
int dbfork__write_full(int fd, const void *buf, size_t n);
int dbfork__wait_readable(int fd, unsigned int ms);

/* Resident set size of a process (0: the caller) in bytes, 0 if unknown. */
size_t dbfork__rss_bytes(pid_t pid);

/* Options with their strings owned by the pool and defaults filled in.
 * o.tasks/o.ntasks always describe a table (the library's own copy, at the
 * library's sizeof): options.task alone becomes a table of one, "task". */
typedef struct dbfork__conf {
  dbfork_options o;
  char *strs[16];         /* the owned copies, freed with the pool */
  dbfork_task_def *tasks; /* the owned task table */
  unsigned int ntasks;
} dbfork__conf;

int dbfork__conf_init(dbfork__conf *c, const dbfork_options *in, char *why, size_t whylen);
void dbfork__conf_free(dbfork__conf *c);

/* ---- confwire.c: the configuration for a worker that is not a fork() of
 * the pool's process (forkserver, spawn) ----
 * encode appends *o (a dbfork__conf's options: o->tasks is the table) to b:
 * 0 or DBFORK_ENOMEM. decode fills *o from p (strings and table malloc'ed,
 * the worker's for its life; o->loop NULL; pointers as the parent had them)
 * and returns the bytes it used, 0 on a malformed payload. Strings on the
 * wire are u32 length (UINT32_MAX: NULL) and bytes; get_str sets *bad on
 * a short buffer or no memory. */
int dbfork__conf_encode(dbfork__bytes *b, const dbfork_options *o);
size_t dbfork__conf_decode(dbfork_options *o, const uint8_t *p, size_t len);
int dbfork__wire_put_str(dbfork__bytes *b, const char *s);
const char *dbfork__wire_get_str(const uint8_t **p, const uint8_t *end, int *bad);

/* ---- mysql.c ---- */
void dbfork__mysql_library_init(void);
/* Opens a connection per the options; connect attributes carry program_name
 * and the slot (-1 for the parent's control connection). Retries transient
 * errors (server not up, too many connections) with backoff until
 * deadline_ms has passed; permanent errors (access denied, unknown database)
 * fail at once. Returns 0 and *out, or fills *err and returns its code. */
int dbfork__mysql_connect(const dbfork_options *o, int slot, unsigned int deadline_ms, MYSQL **out,
                          dbfork__err *err);
/* Fills *err from the handle's last error with the given class. */
void dbfork__mysql_err(MYSQL *m, int code, dbfork__err *err);
/* 1 for errors that mean the connection is gone (2006, 2013, 2055, ...). */
int dbfork__mysql_is_lost(unsigned int mysql_errno);
/* 1 for errors a transaction can be retried after (1213 deadlock, 1205 lock wait). */
int dbfork__mysql_is_retryable(unsigned int mysql_errno);
/* Replaces fd with an unconnected AF_UNIX socket (keeping the number taken);
 * returns 0 or -errno. */
int dbfork__fd_neutralise(int fd);
/* Closes the handle normally (COM_QUIT) and forgets its ownership record. */
void dbfork__mysql_close(MYSQL *m);
uint64_t dbfork__now_ms(void);
void dbfork__sleep_ms(unsigned int ms);
/* A random number in [0, n) from a per-process generator seeded by pid and time. */
unsigned int dbfork__rand(unsigned int n);

/* Per-slot memory shared by the parent and the worker (MAP_SHARED, created
 * before fork); plain stores, no syscall.
 *
 * The worker publishes its progress: the sequence number (1-based, in the
 * order this process received them) of the task it is running and of the
 * last one it finished, and when (dbfork__now_ms) it started the running
 * one — started_ms is stored before running, done after the task. When a
 * worker dies, the parent knows exactly which of its tasks had finished
 * (their replies may still have been in the worker's buffer), which one was
 * running, and which never started; its time limits are charged to the task
 * that is really running, timed from its real start, whatever replies are
 * still on their way.
 *
 * The parent publishes `batch`: 1 while tasks wait in its queue (and no hard
 * time limit is set), when the worker may hold quick tasks' replies back for
 * up to 2 ms to send them together; 0: every reply goes out before the
 * worker starts its next task. */
typedef struct dbfork__shm {
  uint64_t running;
  uint64_t done;
  uint64_t started_ms;
  uint32_t batch;
  char pad[36]; /* one cache line per slot */
} dbfork__shm;

/* ---- worker.c ---- */
/* 1 in a worker asked to stop (SIGTERM/SIGINT/SIGHUP, parent death): long
 * waits such as connect retries give up. Always 0 in the parent. */
int dbfork__stop_requested(void);
/* The child's entry point after fork(); never returns. `keep_fd` is the
 * worker's IPC socket; `parent` the pid that forked it; `close_fds` (n of them) are parent-only
 * descriptors to close (the loop's backend etc.). */
void dbfork__worker_main(const dbfork_options *o, int slot, int ipc_fd, pid_t parent,
                         dbfork__shm *shm, const int *close_fds, int nclose)
    __attribute__((noreturn));

#endif
