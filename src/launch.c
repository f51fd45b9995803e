/*
 * launch.c — how a worker process comes to exist: the launcher seam. One
 * function per start strategy, behind one dispatcher (an ops table, like
 * libuv's platform functions or SQLite's sqlite3_vfs). Two strategies are
 * built: fork() from the process that runs the pool (here), and a fork
 * server started early, single-threaded, so safe to fork from
 * (forkserver.c); and spawn, an exec of the program itself whose main()
 * hook enters the worker (spawn.c). What every strategy shares is in the
 * dispatcher.
 */
#include "parent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

/* fork(), the way libuv's uv_spawn does it: every catchable signal blocked
 * across the fork, so that no handler of the host runs in the child before
 * the worker has reset the dispositions (dbfork__worker_main does, then
 * clears the mask); the parent restores its mask at once. */
static int launch_fork(dbfork_pool *p, int slot, dbfork__child *out) {
  int sv[2], close_fds[1], rc;
  sigset_t all, old;
  pid_t pid, me = getpid();
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) return -errno;
  close_fds[0] = dbfork__io_backend_fd(p);
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  /* No control-connection I/O may be half-way through a client-library lock
   * when we fork: the child would inherit the lock held. */
  dbfork__ctl_lock(p->ctl);
  pid = fork();
  if (pid == 0) {
    /* The child. From here on nothing of the parent's loop is touched. */
    dbfork__worker_main(p->o, slot, sv[1], me, &p->shm[slot], close_fds, 1);
  }
  rc = -errno;
  dbfork__ctl_unlock(p->ctl);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  close(sv[1]);
  if (pid < 0) {
    close(sv[0]);
    return rc;
  }
  out->pid = pid;
  out->fd = sv[0];
  out->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (out->pidfd >= 0) fcntl(out->pidfd, F_SETFD, FD_CLOEXEC);
  return 0;
}

/* Threads of this process (entries of /proc/self/task), 0 if unknown. */
static int count_threads(void) {
  DIR *d = opendir("/proc/self/task");
  struct dirent *e;
  int n = 0;
  if (!d) return 0;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

/* fork() copies only the calling thread: a lock another thread holds (an
 * allocator arena, the host's own mutexes, the client library's or
 * OpenSSL's state) stays held forever in the worker. dbfork's own locks are
 * safe (mysql.c's atfork handlers, the control connection held across
 * fork; the pool's mutex is never touched in a worker), the host's are not:
 * say so once per process, as Python 3.12+ does, with the ways out (the
 * forkserver and spawn methods). */
static atomic_int warned_threads;

static int fork_start(dbfork_pool *p) {
  int n = count_threads();
  if (n > 1 && !atomic_exchange(&warned_threads, 1))
    dbfork__log(p, DBFORK_LOG_WARN,
                "start_method fork: this process runs %d threads; a lock another thread "
                "holds at fork() stays held in the worker, which may then hang. Create and "
                "start the pool before the other threads start, or use start_method "
                "forkserver (dbfork_forkserver_start() at the top of main()) or spawn "
                "(dbfork_child_main() at the top of main()) (docs/policies.md, \"Start "
                "methods\")",
                n);
  return 0;
}

const dbfork__launcher dbfork__launch_fork = {"fork", fork_start, launch_fork, NULL};

const dbfork__launcher *dbfork__launcher_for(int start_method, char *why, size_t whylen) {
  if (start_method == DBFORK_START_FORK) return &dbfork__launch_fork;
  if (start_method == DBFORK_START_FORKSERVER) {
    if (dbfork__forkserver_running()) return &dbfork__launch_forkserver;
    snprintf(why, whylen,
             "start_method forkserver: no fork server runs in this process: call "
             "dbfork_forkserver_start() near the top of main(), before any thread starts");
    return NULL;
  }
  if (start_method == DBFORK_START_SPAWN) {
    /* A worker is this program run again: its main() must enter the worker
     * through the hook, and a program that went through the hook itself
     * has it (a spawned worker that still misses it fails its start). */
    if (dbfork__spawn_hooked()) return &dbfork__launch_spawn;
    snprintf(why, whylen,
             "start_method spawn: this program's main() did not call dbfork_child_main(): "
             "make this the first statement of main(): "
             "int rc; if (dbfork_child_main(&argc, &argv, &rc)) return rc;");
    return NULL;
  }
  snprintf(why, whylen, "start_method %d is not implemented in libdbfork %s", start_method,
           dbfork_version());
  return NULL;
}

int dbfork__launch(dbfork_pool *p, int slot, dbfork__child *out) {
  /* The slot's progress page starts over with the new process. */
  p->shm[slot].running = p->shm[slot].done = 0;
  out->pid = 0;
  out->fd = out->pidfd = -1;
  return p->launcher->launch(p, slot, out);
}
