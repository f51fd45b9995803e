/*
 * parent.h — the parent side's private structures, shared by pool.c (the
 * pool's logic: queue, scheduling, policies, completions, public API) and
 * loop_uv.c (every libuv call: worker pipes, exit watches, timers, the
 * control connection's work requests).
 */
#ifndef DBFORK_PARENT_H
#define DBFORK_PARENT_H

#include "internal.h"

#include <uv.h>

typedef struct dbfork__task {
  struct dbfork__task *next;
  uint64_t id;
  dbfork_done_cb cb;
  void *ud;
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

/* One worker process. It outlives its slot until its libuv handles have
 * closed; a slot gets a fresh proc for every process it runs. */
typedef struct dbfork__proc {
  dbfork_pool *pool;
  int slot;
  pid_t pid;
  int pidfd; /* -1 when the kernel has no pidfd_open: then a timer polls waitpid(pid) */
  int state; /* DBFORK_WORKER_* */
  unsigned long conn_id;
  uv_pipe_t pipe;
  uv_poll_t pidpoll;
  uv_timer_t limit_timer; /* soft/hard time limits of the task the worker runs */
  uv_timer_t life_timer;  /* max lifetime */
  uv_timer_t wait_timer;  /* polls waitpid(pid) when there is no pidfd */
  int nhandles;           /* open handles; freed when the last one has closed */
  dbfork__tqueue inflight;
  dbfork__bytes rx, tx, wbuf;
  size_t woff; /* bytes of wbuf already written (it goes out in pieces) */
  int writing;
  uv_write_t wreq;
  uint64_t assigned; /* tasks sent to this process */
  uint64_t done;
  int hello, stop_sent, bye, bye_why, initfail, reaped, detached;
  int exit_status;
} dbfork__proc;

typedef struct dbfork__slot {
  dbfork_pool *pool;
  dbfork__proc *cur;
  uint64_t tasks_ok, tasks_failed, tasks_retried;
  unsigned int restarts;
  unsigned int started; /* processes started in this slot */
  uv_timer_t respawn_timer;
  int respawn_pending;
  int respawn_after_kills; /* respawn deferred until no KILL is in flight */
  unsigned long last_conn_id;
  long last_pid;
} dbfork__slot;

typedef struct dbfork__ctl dbfork__ctl; /* control connection (loop_uv.c) */

enum { POOL_NEW, POOL_RUNNING, POOL_DONE };

struct dbfork_pool {
  dbfork__conf conf;
  const dbfork_options *o; /* = &conf.o */
  uv_loop_t own_loop;
  uv_loop_t *loop;
  uv_async_t async;
  uv_timer_t grace_timer;
  uv_mutex_t mu; /* guards queue, closed, failed for submitting threads */
  uv_cond_t room;
  uv_thread_t loop_thread;
  int phase;
  int closed, terminating, failed, draining;
  int in_cb;      /* > 0 while a user callback runs */
  int need_sched; /* schedule() was asked for inside a callback */
  dbfork__tqueue queue;
  uint64_t next_id;
  dbfork__slot *slots;
  int nslots;
  int live_procs;    /* procs not yet reaped */
  int open_procs;    /* procs not yet freed (handles closing) */
  int pending_kills; /* KILL requests in flight on the threadpool */
  unsigned int in_flight;
  unsigned int consecutive_start_failures;
  dbfork__err last_err;
  char last_error[DBFORK__MSG_MSG_MAX + 64];
  dbfork_pool_stats st;
  dbfork__ctl *ctl;
  dbfork__shm *shm; /* one per slot, shared with the workers */
  int batching;     /* what publish_batching() last told the workers */
  int handles_open; /* pool-level handles not yet closed */
};

/* pool.c, called by loop_uv.c */
void dbfork__on_frame(dbfork__proc *pr, const dbfork__frame *f);
void dbfork__on_proc_exit(dbfork__proc *pr);
void dbfork__on_limit_timer(dbfork__proc *pr);
void dbfork__on_life_timer(dbfork__proc *pr);
void dbfork__on_respawn_timer(dbfork_pool *p, int slot);
void dbfork__on_grace_timer(dbfork_pool *p);
void dbfork__on_kills_done(dbfork_pool *p); /* the last pending KILL finished */
void dbfork__schedule(dbfork_pool *p);
void dbfork__log(dbfork_pool *p, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* loop_uv.c */
int dbfork__loop_init(dbfork_pool *p);
void dbfork__loop_close(dbfork_pool *p); /* closes pool handles and runs the loop until closed */
int dbfork__spawn(dbfork_pool *p, int slot); /* fork a worker into slot */
void dbfork__proc_send(dbfork__proc *pr, uint8_t type, uint16_t arg, uint64_t id,
                       const void *payload, size_t len);      /* queue a frame */
void dbfork__proc_flush(dbfork__proc *pr);                    /* start writing queued frames */
void dbfork__proc_limit_timer(dbfork__proc *pr, uint64_t ms); /* 0 stops it */
void dbfork__proc_life_timer(dbfork__proc *pr, uint64_t ms);
void dbfork__proc_release(dbfork__proc *pr); /* detached and reaped: close handles, free */
void dbfork__respawn_later(dbfork_pool *p, int slot, uint64_t ms);
void dbfork__grace_timer(dbfork_pool *p, uint64_t ms);
void dbfork__kill_session(dbfork_pool *p, unsigned long conn_id, int query_only);
void dbfork__ctl_close(dbfork_pool *p);
void dbfork__proc_drain(dbfork__proc *pr); /* read what is left in the pipe */
void dbfork__wake(dbfork_pool *p);         /* from any thread: run schedule() on the loop */
int dbfork__run(dbfork_pool *p, int mode);

#endif
