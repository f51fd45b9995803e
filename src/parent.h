/*
 * parent.h — the parent side's private structures and the seams between its
 * files. The core (pool.c: lifecycle and the pool's phase; sched.c: queue,
 * submit, scheduling, completions; supervise.c: the worker table, frames,
 * exits, respawns, limits; map.c) makes no libuv call and includes no
 * <uv.h>: it sends commands down to the adapter (loop_uv.c, every libuv
 * call) and the adapter sends events up, in the order they happened (a
 * worker's frames before its exit or its limit timer). How a worker process
 * comes to exist is the launcher's business (launch.c), the KILLs of the
 * control connection are ctl.c's, and the decisions about a task are pure
 * functions (fate.h).
 */
#ifndef DBFORK_PARENT_H
#define DBFORK_PARENT_H

#include "internal.h"

#include <pthread.h>

typedef struct dbfork__task {
  struct dbfork__task *next;
  uint64_t id;
  dbfork_done_cb cb;
  void *ud;
  unsigned int task;     /* index into the pool's task table */
  unsigned int attempts; /* attempts already made (finished or lost) */
  int soft_killed;       /* KILL QUERY was sent for it */
  int hard_killed;       /* its worker was SIGKILLed for it */
  int committing;        /* the worker said COMMIT is on its way to the server */
  uint64_t seq;          /* its sequence number in the worker it was last sent to */
  size_t len;
  uint8_t data[];
} dbfork__task;

typedef struct dbfork__tqueue {
  dbfork__task *head, *tail;
  unsigned int n;
} dbfork__tqueue;

void dbfork__tq_push(dbfork__tqueue *q, dbfork__task *t);
void dbfork__tq_push_front(dbfork__tqueue *q, dbfork__task *t);
dbfork__task *dbfork__tq_pop(dbfork__tqueue *q);

typedef struct dbfork__io dbfork__io;           /* a worker's libuv handles (loop_uv.c) */
typedef struct dbfork__pool_io dbfork__pool_io; /* the pool's libuv handles (loop_uv.c) */
typedef struct dbfork__ctl dbfork__ctl;         /* the control connection (ctl.c) */
typedef struct dbfork__launcher dbfork__launcher;

/* One worker process. It outlives its slot until the adapter has closed its
 * handles (dbfork__ev_released); a slot gets a fresh proc for every process
 * it runs. `state` changes only through dbfork__proc_set_state(). */
typedef struct dbfork__proc {
  dbfork_pool *pool;
  dbfork__io *io;
  int slot;
  pid_t pid;
  int state; /* DBFORK_WORKER_* */
  unsigned long conn_id;
  dbfork__tqueue inflight;
  dbfork__bytes rx;  /* bytes from the worker, not yet parsed (the adapter appends) */
  dbfork__bytes tx;  /* frames to the worker, not yet handed to the adapter's writer */
  uint64_t assigned; /* tasks sent to this process */
  uint64_t done;
  int hello, stop_sent, bye, bye_why, initfail, reaped, detached;
  int exit_status;
} dbfork__proc;

typedef struct dbfork__slot {
  dbfork__proc *cur;
  uint64_t tasks_ok, tasks_failed, tasks_retried;
  unsigned int restarts;
  unsigned int started; /* processes started in this slot */
  int respawn_pending;
  int respawn_after_kills; /* respawn deferred until no KILL is in flight */
  unsigned long last_conn_id;
  long last_pid;
} dbfork__slot;

/* The pool's phase: one state machine, changed only by
 * dbfork__pool_set_phase() on the loop thread (under mu, so that submitting
 * threads read it under mu).
 *   NEW -> RUNNING -> CLOSING -> DRAINING -> DONE     close, join
 *   RUNNING | CLOSING -> FAILED                        start failures
 *   any but DONE -> STOPPING -> DONE                   stop, terminate
 * CLOSING: no new tasks; DRAINING: nothing left to run, every worker was
 * told to stop; FAILED: the queue failed DBFORK_EINIT, no respawn;
 * STOPPING: the queue was cancelled, workers got SIGTERM. */
enum {
  DBFORK__PHASE_NEW,
  DBFORK__PHASE_RUNNING,
  DBFORK__PHASE_CLOSING,
  DBFORK__PHASE_DRAINING,
  DBFORK__PHASE_FAILED,
  DBFORK__PHASE_STOPPING,
  DBFORK__PHASE_DONE
};

struct dbfork_pool {
  dbfork__conf conf;
  const dbfork_options *o; /* = &conf.o */
  struct uv_loop_s *loop;  /* the pool's own or the caller's */
  dbfork__pool_io *io;
  const dbfork__launcher *launcher;
  pthread_mutex_t mu; /* guards queue, phase and result, close_req, st.submitted, next_id */
  pthread_cond_t room;
  pthread_t loop_thread;
  int phase;      /* DBFORK__PHASE_*; written under mu on the loop thread only */
  int result;     /* 0, or DBFORK_EINIT once the pool failed (under mu) */
  int close_req;  /* dbfork_pool_close() from another thread (under mu) */
  int started;    /* dbfork_pool_start() was called */
  int in_cb;      /* > 0 while a user callback runs */
  int need_sched; /* dbfork__schedule() was asked for inside a callback */
  dbfork__tqueue queue;
  uint64_t next_id;
  dbfork__slot *slots;
  int nslots;
  int live_procs;    /* procs not yet reaped */
  int open_procs;    /* procs not yet released by the adapter */
  int pending_kills; /* KILL requests in flight on the threadpool */
  unsigned int in_flight;
  unsigned int consecutive_start_failures;
  dbfork__err last_err;
  char last_error[DBFORK__MSG_MSG_MAX + 64];
  dbfork_pool_stats st;
  dbfork__ctl *ctl;
  dbfork__shm *shm; /* one per slot, shared with the workers */
  int shm_fd;       /* the memfd behind shm (forkserver, spawn: passed on), or -1 */
  int batching;     /* what publish_batching() last told the workers */
};

/* ---- core: pool.c ---- */
void dbfork__log(dbfork_pool *p, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void dbfork__pool_set_phase(dbfork_pool *p, int phase);
int dbfork__on_loop_thread(const dbfork_pool *p);
void dbfork__set_last_error(dbfork_pool *p, const dbfork__err *e);
/* Runs the loop until done(p) holds; fails what can no longer run meanwhile. */
void dbfork__run_until(dbfork_pool *p, int (*done)(const dbfork_pool *p));
int dbfork__has_work(const dbfork_pool *p);  /* a task is queued or in flight */
int dbfork__accepting(const dbfork_pool *p); /* new workers may be started */

/* ---- core: sched.c ---- */
void dbfork__schedule(dbfork_pool *p);
int dbfork__submit(dbfork_pool *p, unsigned int task, const void *in, size_t len, dbfork_done_cb cb,
                   void *ud, int may_block);
/* Calls the task's callback (exactly once) and frees it. */
void dbfork__complete(dbfork_pool *p, dbfork__task *t, const dbfork__proc *pr, int status,
                      const dbfork__err *e, const void *data, size_t len, unsigned int attempts);
void dbfork__complete_code(dbfork_pool *p, dbfork__task *t, const dbfork__proc *pr, int code,
                           const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Completes every queued task with `code` (detail e, or its message). */
void dbfork__fail_queue(dbfork_pool *p, int code, const dbfork__err *e);
/* Puts tasks back at the front of the queue, in their order. */
void dbfork__requeue_front(dbfork_pool *p, dbfork__tqueue *back);
void dbfork__send_stop(dbfork__proc *pr);
void dbfork__proc_send(dbfork__proc *pr, uint8_t type, uint16_t arg, uint64_t id,
                       const void *payload, size_t len); /* queue a frame in pr->tx */
uint64_t dbfork__first_limit_ms(const dbfork_options *o);
int dbfork__queue_full(dbfork_pool *p);
/* When a closed pool has nothing left to do: CLOSING -> DRAINING. */
void dbfork__maybe_drain(dbfork_pool *p);

/* ---- core: supervise.c ---- */
void dbfork__proc_set_state(dbfork__proc *pr, int state);
int dbfork__spawn(dbfork_pool *p, int slot); /* launch a worker into slot */
void dbfork__spawn_or_fail(dbfork_pool *p, int slot);
void dbfork__stop_workers(dbfork_pool *p);      /* SIGTERM every live worker */
void dbfork__stop_idle_workers(dbfork_pool *p); /* STOP to workers without tasks */

/* Events, from the adapter, in the order they happened. Before ev_exit and
 * ev_limit_timer the adapter has appended to pr->rx everything the worker
 * wrote: the core handles those frames first. */
void dbfork__ev_input(dbfork__proc *pr);                 /* bytes appended to pr->rx */
void dbfork__ev_exit(dbfork__proc *pr, int wait_status); /* reaped */
void dbfork__ev_limit_timer(dbfork__proc *pr);
void dbfork__ev_life_timer(dbfork__proc *pr);
void dbfork__ev_released(dbfork__proc *pr); /* handles closed: free it */
void dbfork__ev_respawn_timer(dbfork_pool *p, int slot);
void dbfork__ev_grace_timer(dbfork_pool *p);
void dbfork__ev_kill_done(dbfork_pool *p, unsigned long id, int query_only, int ok,
                          const char *why);
void dbfork__ev_wake(dbfork_pool *p); /* dbfork__io_wake() from some thread */

/* ---- adapter: loop_uv.c (every libuv call) ---- */
int dbfork__io_init(dbfork_pool *p);   /* the loop (own or caller's), pool handles */
void dbfork__io_close(dbfork_pool *p); /* closes pool handles; runs until all are gone */
int dbfork__io_backend_fd(dbfork_pool *p);
int dbfork__io_attach(dbfork__proc *pr, int fd, int pidfd); /* watch a launched worker */
void dbfork__io_flush(dbfork__proc *pr);                    /* hand pr->tx to the writer */
void dbfork__io_release(dbfork__proc *pr);
void dbfork__io_limit_timer(dbfork__proc *pr, uint64_t ms); /* 0 stops it */
void dbfork__io_life_timer(dbfork__proc *pr, uint64_t ms);
void dbfork__io_respawn_timer(dbfork_pool *p, int slot, uint64_t ms); /* 0 stops it */
void dbfork__io_grace_timer(dbfork_pool *p, uint64_t ms);             /* 0 stops it */
int dbfork__io_kill_session(dbfork_pool *p, unsigned long conn_id, int query_only);
void dbfork__io_wake(dbfork_pool *p);         /* any thread */
int dbfork__io_run(dbfork_pool *p, int mode); /* 0 default, 1 once, 2 nowait */

/* ---- the launcher (launch.c): how a worker process comes to exist ----
 * One function per start strategy behind one dispatcher. A strategy makes
 * a process that runs dbfork__worker_main() for `slot` and returns its pid,
 * the parent's end of its IPC socket and, if the kernel has one, a pidfd.
 * Strategies: fork (launch.c), a fork server started early (forkserver.c),
 * spawn = exec of the program with a main() hook (spawn.c). Tasks cross as
 * indexes into the pool's table, never as pointers. */
typedef struct dbfork__child {
  pid_t pid;
  int fd;    /* parent's end of the IPC socket, CLOEXEC */
  int pidfd; /* -1 without pidfd_open */
} dbfork__child;

struct dbfork__launcher {
  const char *name;
  int (*start)(dbfork_pool *p); /* before the first worker; NULL: nothing */
  int (*launch)(dbfork_pool *p, int slot, dbfork__child *out);
  void (*stop)(dbfork_pool *p); /* after the last worker; NULL: nothing */
};
extern const dbfork__launcher dbfork__launch_fork;
extern const dbfork__launcher dbfork__launch_forkserver; /* forkserver.c */
int dbfork__forkserver_running(void);
extern const dbfork__launcher dbfork__launch_spawn; /* spawn.c */
int dbfork__spawn_hooked(void); /* dbfork_child_main() ran in this process, as the program */
/* The launcher for options.start_method, or NULL with why filled in when
 * this library does not implement it (never another method instead). */
const dbfork__launcher *dbfork__launcher_for(int start_method, char *why, size_t whylen);
int dbfork__launch(dbfork_pool *p, int slot, dbfork__child *out);

/* ---- the control connection (ctl.c): KILL and KILL QUERY ---- */
dbfork__ctl *dbfork__ctl_new(void);
void dbfork__ctl_free(dbfork__ctl *c); /* closes the connection cleanly */
/* Held around fork(): no thread may be inside the client library then. */
void dbfork__ctl_lock(dbfork__ctl *c);
void dbfork__ctl_unlock(dbfork__ctl *c);
/* Blocking (runs on the adapter's threadpool): KILL [QUERY] id, given up
 * at deadline_ms. Returns 1 if done (or the id was gone), else 0 with why. */
int dbfork__ctl_kill(dbfork__ctl *c, const dbfork_options *o, unsigned long id, int query_only,
                     uint64_t deadline_ms, char *why, size_t whylen);

#endif
