/*
 * spawn.c — the spawn start method: every worker is a fresh exec of the
 * program itself (posix_spawn of /proc/self/exe with the program's argv[0])
 * that enters the worker through dbfork_child_main() at the top of main().
 * Nothing is inherited: only stdio, the worker's IPC socket (fd 3) and the
 * pool's progress pages (a memfd, fd 4) survive the exec; the environment
 * carries the marker that the hook recognises and removes; each worker has
 * an address-space layout of its own.
 *
 * Both halves are here, since they speak one small protocol:
 *   worker -> pool  READY {magic, pid}: the hook ran (proof that main() has
 *                   it; until then the pool sends nothing, no credentials)
 *   pool -> worker  head {magic, slot, nslots, comm, len}, then the pool's
 *                   whole current configuration (confwire.c) and the
 *                   translated pointers (below)
 * after which the worker runs dbfork__worker_main(), as a forked one does.
 *
 * Pointers. Addresses differ per process, so each pointer of the options
 * (init, on_connect, the task table's fn, and the args of all three) crosses
 * as (module, offset): the module is the loaded object (dl_iterate_phdr:
 * the program, "" here, or a library by its path) whose PT_LOAD segment
 * holds the address, the offset is from the module's load bias. The worker
 * execs the same program with the same environment, so the same modules are
 * loaded, and module + offset is the same function or static object there.
 * Functions must lie in an executable segment. Data pointers must point
 * into a module's own data (static variables, string literals, const
 * tables); the worker sees that data as the program left it when the hook
 * ran (initial values, and whatever constructors did), never as the pool's
 * process has it later. An address in no module (heap, stack, mmap, JIT
 * code) cannot be rebuilt: dbfork_pool_start() refuses it, naming the field.
 */
#include "parent.h"

#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

#define SPAWN_ENV "DBFORK_SPAWN_WORKER"
#define SPAWN_IPC_FD 3
#define SPAWN_SHM_FD 4
#define SPAWN_MAGIC 0x64626670u /* "dbfp" */
#define SPAWN_MAX (1u << 20)
/* How long a new process may take to reach the hook (exec, the dynamic
 * loader, constructors), and a worker to get its configuration. */
#define SPAWN_READY_MS 5000 /* the messages say "5 s" */
#define SPAWN_CONF_MS 10000

#define SPAWN_HOOK_LINE "int rc; if (dbfork_child_main(&argc, &argv, &rc)) return rc;"

typedef struct spawn_ready {
  uint32_t magic;
  uint32_t pid;
} spawn_ready;

typedef struct spawn_head {
  uint32_t magic;
  int32_t slot;
  int32_t nslots;
  char comm[16]; /* the pool process's name, that the worker takes (not "exe") */
  uint32_t len;  /* payload bytes that follow */
} spawn_head;

/* The hook ran in this process as a program (not as a worker). */
static atomic_int hook_ran;
static char *prog_argv0;

/* ---- modules: where an address lives ---- */
#define MAX_SEGS 16
typedef struct spawn_mod {
  const char *name; /* "" for the program; else the library's path */
  uintptr_t bias;
  int nseg;
  struct {
    uintptr_t lo, hi;
    int exec;
  } seg[MAX_SEGS];
} spawn_mod;

typedef struct spawn_mods {
  spawn_mod *m;
  size_t n, cap;
} spawn_mods;

static int add_mod(struct dl_phdr_info *info, size_t size, void *arg) {
  spawn_mods *ms = arg;
  spawn_mod *m;
  int i;
  (void)size;
  if (ms->n == ms->cap) {
    size_t cap = ms->cap ? ms->cap * 2 : 32;
    spawn_mod *nm = realloc(ms->m, cap * sizeof *nm);
    if (!nm) return 1;
    ms->m = nm;
    ms->cap = cap;
  }
  m = &ms->m[ms->n];
  /* The first object is always the program itself, whatever its name. */
  m->name = ms->n == 0 || !info->dlpi_name ? "" : info->dlpi_name;
  m->bias = (uintptr_t)info->dlpi_addr;
  m->nseg = 0;
  for (i = 0; i < info->dlpi_phnum && m->nseg < MAX_SEGS; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD) continue;
    m->seg[m->nseg].lo = m->bias + ph->p_vaddr;
    m->seg[m->nseg].hi = m->bias + ph->p_vaddr + ph->p_memsz;
    m->seg[m->nseg].exec = (ph->p_flags & PF_X) != 0;
    m->nseg++;
  }
  ms->n++;
  return 0;
}

static int mods_load(spawn_mods *ms) {
  memset(ms, 0, sizeof *ms);
  if (dl_iterate_phdr(add_mod, ms) != 0 || ms->n == 0) {
    free(ms->m);
    return DBFORK_ENOMEM;
  }
  return 0;
}

/* The segment of module m holding address a: 1 exec, 0 data, -1 none. */
static int seg_of(const spawn_mod *m, uintptr_t a) {
  int i;
  for (i = 0; i < m->nseg; i++)
    if (a >= m->seg[i].lo && a < m->seg[i].hi) return m->seg[i].exec;
  return -1;
}

/* ---- the pointers of the options ---- */
enum { PTR_NULL = 0, PTR_CODE = 1, PTR_DATA = 2 };
typedef struct spawn_ptr {
  void *field; /* where the pointer lives in a dbfork_options or task entry */
  int code;    /* a function pointer */
  char what[96];
} spawn_ptr;

/* Lists the translated fields of *o: 4 + 2 per task. Returns the count or
 * DBFORK_ENOMEM; *out is malloc'ed. Function pointers are read and written
 * as object pointers of the same size (POSIX requires it for dlsym). */
static int list_ptrs(dbfork_options *o, dbfork_task_def *tasks, spawn_ptr **out) {
  unsigned int i, n = 4 + 2 * o->ntasks;
  spawn_ptr *v = calloc(n, sizeof *v);
  if (!v) return DBFORK_ENOMEM;
  v[0] = (spawn_ptr){&o->init, 1, "init"};
  v[1] = (spawn_ptr){&o->init_arg, 0, "init_arg"};
  v[2] = (spawn_ptr){&o->on_connect, 1, "on_connect"};
  v[3] = (spawn_ptr){&o->on_connect_arg, 0, "on_connect_arg"};
  for (i = 0; i < o->ntasks; i++) {
    spawn_ptr *f = &v[4 + 2 * i], *a = f + 1;
    f->field = &tasks[i].fn;
    f->code = 1;
    a->field = &tasks[i].arg;
    snprintf(f->what, sizeof f->what, "task %u (\"%.60s\") fn", i, tasks[i].name);
    snprintf(a->what, sizeof a->what, "task %u (\"%.60s\") arg", i, tasks[i].name);
  }
  *out = v;
  return (int)n;
}

static uintptr_t get_ptr(const spawn_ptr *s) {
  void *v;
  memcpy(&v, s->field, sizeof v);
  return (uintptr_t)v;
}

static void set_ptr(const spawn_ptr *s, uintptr_t a) {
  void *v = (void *)a;
  memcpy(s->field, &v, sizeof v);
}

/* Appends the (module, offset) of every pointer of *o to b. 0; or
 * DBFORK_EINVAL with why naming the first field that cannot be rebuilt in
 * another process; or DBFORK_ENOMEM. */
static int encode_ptrs(dbfork__bytes *b, const dbfork_options *in, char *why, size_t whylen) {
  dbfork_options o = *in;
  spawn_mods ms;
  spawn_ptr *v;
  int n, i, rc = 0;
  /* spawn_ptr writes nothing here; the lists want non-const fields */
  if ((n = list_ptrs(&o, (dbfork_task_def *)in->tasks, &v)) < 0) return n;
  if ((rc = mods_load(&ms)) != 0) {
    free(v);
    return rc;
  }
  for (i = 0; i < n && !rc; i++) {
    uintptr_t a = get_ptr(&v[i]);
    uint8_t kind = a ? (v[i].code ? PTR_CODE : PTR_DATA) : PTR_NULL;
    size_t k;
    int seg = -1;
    for (k = 0; a && k < ms.n; k++)
      if ((seg = seg_of(&ms.m[k], a)) >= 0) break;
    if (a && (seg < 0 || (v[i].code && seg != 1))) {
      snprintf(why, whylen,
               "start_method spawn: option %s (%p) %s: a spawned worker cannot rebuild it. "
               "Functions must be the program's or a library's (not JIT code), data pointers "
               "NULL or pointing into a module's static data (docs/policies.md, \"Start "
               "methods\")",
               v[i].what, (void *)a,
               seg < 0 ? "is in no loaded module (heap, stack or mmap'ed memory?)"
                       : "is not in an executable segment");
      rc = DBFORK_EINVAL;
      break;
    }
    rc |= dbfork__bytes_add(b, &kind, 1);
    if (a) {
      uint64_t off = (uint64_t)(a - ms.m[k].bias);
      rc |= dbfork__wire_put_str(b, ms.m[k].name);
      rc |= dbfork__bytes_add(b, &off, sizeof off);
    }
    if (rc && rc != DBFORK_EINVAL) rc = DBFORK_ENOMEM;
  }
  free(ms.m);
  free(v);
  return rc;
}

/* The worker's half: rebuilds every pointer of *o from p. 0, or -1 with why. */
static int decode_ptrs(dbfork_options *o, const uint8_t *p, const uint8_t *end, char *why,
                       size_t whylen) {
  spawn_mods ms;
  spawn_ptr *v;
  int n, i, rc = 0;
  if ((n = list_ptrs(o, (dbfork_task_def *)o->tasks, &v)) < 0 || mods_load(&ms) != 0) {
    if (n >= 0) free(v);
    snprintf(why, whylen, "out of memory");
    return -1;
  }
  for (i = 0; i < n && !rc; i++) {
    uint8_t kind;
    const char *name;
    uint64_t off;
    int bad = 0;
    size_t k;
    if (p >= end) goto malformed;
    kind = *p++;
    if (kind == PTR_NULL) {
      set_ptr(&v[i], 0);
      continue;
    }
    name = dbfork__wire_get_str(&p, end, &bad);
    if (bad || !name || (size_t)(end - p) < sizeof off) {
      free((char *)name);
      goto malformed;
    }
    memcpy(&off, p, sizeof off);
    p += sizeof off;
    for (k = 0; k < ms.n; k++)
      if (!strcmp(ms.m[k].name, name)) break;
    if (k == ms.n || seg_of(&ms.m[k], ms.m[k].bias + (uintptr_t)off) != (kind == PTR_CODE)) {
      snprintf(why, whylen,
               "start_method spawn: option %s (module \"%s\" + 0x%llx) is not in this spawned "
               "worker: %s",
               v[i].what, *name ? name : "the program", (unsigned long long)off,
               k == ms.n ? "the module is not loaded at main() (dlopen()ed later?)"
                         : "no such segment in the module");
      rc = -1;
    } else {
      set_ptr(&v[i], ms.m[k].bias + (uintptr_t)off);
    }
    free((char *)name);
  }
  free(ms.m);
  free(v);
  return rc;
malformed:
  free(ms.m);
  free(v);
  snprintf(why, whylen, "start_method spawn: malformed configuration from the pool");
  return -1;
}

/* ---- the worker's half: the hook ---- */

/* A start failure the pool reports (its INITFAIL frame), then exit. */
static void report_initfail(int fd, const char *msg) {
  uint8_t buf[DBFORK__HDR_LEN + DBFORK__ERRBODY_FIXED + DBFORK__MSG_MSG_MAX];
  dbfork__errbody eb;
  size_t n;
  memset(&eb, 0, sizeof eb);
  eb.status = DBFORK_EINIT;
  eb.msg = msg;
  eb.msglen = (uint16_t)strnlen(msg, DBFORK__MSG_MSG_MAX);
  n = dbfork__errbody_encode(buf + DBFORK__HDR_LEN, sizeof buf - DBFORK__HDR_LEN, &eb);
  dbfork__frame_header(buf, DBFORK__MSG_INITFAIL, 0, 0, (uint32_t)n);
  dbfork__write_full(fd, buf, DBFORK__HDR_LEN + n);
}

/* Gets the configuration and becomes the worker; returns only on failure. */
static void spawned_worker(pid_t parent) {
  static dbfork_options o;
  spawn_ready r = {SPAWN_MAGIC, (uint32_t)getpid()};
  spawn_head h;
  uint8_t *payload = NULL;
  dbfork__shm *shm;
  char why[512];
  size_t used;
  int fd = SPAWN_IPC_FD;
  if (dbfork__write_full(fd, &r, sizeof r) != 0 || dbfork__wait_readable(fd, SPAWN_CONF_MS) != 0 ||
      dbfork__read_full(fd, &h, sizeof h) != 0 || h.magic != SPAWN_MAGIC || h.len > SPAWN_MAX ||
      h.slot < 0 || h.slot >= h.nslots || !(payload = malloc(h.len ? h.len : 1)) ||
      dbfork__read_full(fd, payload, h.len) != 0) {
    free(payload);
    return; /* the pool is gone or is no pool: nobody to tell */
  }
  h.comm[sizeof h.comm - 1] = 0;
  prctl(PR_SET_NAME, h.comm, 0, 0, 0);
  used = dbfork__conf_decode(&o, payload, h.len);
  if (!used || decode_ptrs(&o, payload + used, payload + h.len, why, sizeof why) != 0) {
    if (!used) snprintf(why, sizeof why, "start_method spawn: malformed configuration");
    free(payload);
    report_initfail(fd, why);
    return;
  }
  free(payload);
  o.log = NULL; /* the pool's: the worker never logs */
  o.log_arg = NULL;
  shm = mmap(NULL, (size_t)h.nslots * sizeof *shm, PROT_READ | PROT_WRITE, MAP_SHARED, SPAWN_SHM_FD,
             0);
  if (shm == MAP_FAILED) {
    snprintf(why, sizeof why, "start_method spawn: cannot map the progress pages: %s",
             strerror(errno));
    report_initfail(fd, why);
    return;
  }
  close(SPAWN_SHM_FD);
  dbfork__worker_main(&o, h.slot, fd, parent, &shm[h.slot], NULL, 0);
}

/* The marker is ours if it names our parent and fd 3 is a socket: an
 * environment inherited by some later program of the worker's (it removes
 * the variable, but a copy may have been taken) is not a worker. */
static int our_marker(const char *m, pid_t *parent) {
  struct stat st;
  char *end;
  long fd = strtol(m, &end, 10), pp;
  if (*end != ',' || fd != SPAWN_IPC_FD) return 0;
  pp = strtol(end + 1, &end, 10);
  if (*end || pp <= 0 || pp != (long)getppid()) return 0;
  if (fstat(SPAWN_IPC_FD, &st) != 0 || !S_ISSOCK(st.st_mode)) return 0;
  *parent = (pid_t)pp;
  return 1;
}

int dbfork_child_main(int *argc, char ***argv, int *exit_code) {
  const char *m = getenv(SPAWN_ENV);
  pid_t parent = 0;
  (void)argc;
  if (exit_code) *exit_code = 0;
  if (!m || !our_marker(m, &parent)) {
    if (m) unsetenv(SPAWN_ENV);
    if (!prog_argv0 && argv && *argv && (*argv)[0]) prog_argv0 = strdup((*argv)[0]);
    atomic_store(&hook_ran, 1);
    return 0;
  }
  unsetenv(SPAWN_ENV);
  spawned_worker(parent); /* returns only if the worker could not start */
  if (exit_code) *exit_code = 3;
  return 1;
}

int dbfork__spawn_hooked(void) { return atomic_load(&hook_ran); }

/* ---- the pool's half: the launcher ---- */
static int spawn_start(dbfork_pool *p) {
  dbfork__bytes b = {0};
  char why[512];
  int rc;
  if (p->shm_fd < 0) return DBFORK_ENOMEM;
  /* Every pointer must translate before a process is made for it. */
  if ((rc = encode_ptrs(&b, p->o, why, sizeof why)) != 0) {
    if (rc == DBFORK_EINVAL) {
      dbfork__err e;
      dbfork__err_set(&e, rc, 0, NULL, "%s", why);
      dbfork__set_last_error(p, &e);
      dbfork__log(p, DBFORK_LOG_ERROR, "%s", why);
    }
  }
  free(b.p);
  return rc;
}

/* The environment with the marker: the program's, less any marker of our
 * own parent's. Freed by the caller (the strings are environ's). */
extern char **environ;
static char **marked_env(char *marker) {
  size_t n = 0, k = 0, i;
  char **e;
  while (environ && environ[n]) n++;
  if (!(e = malloc((n + 2) * sizeof *e))) return NULL;
  for (i = 0; i < n; i++)
    if (strncmp(environ[i], SPAWN_ENV "=", sizeof SPAWN_ENV)) e[k++] = environ[i];
  e[k++] = marker;
  e[k] = NULL;
  return e;
}

/* The new process never reached the hook: kill it (it is running the
 * program's own main(), which is not what we asked for) and reap it. */
static void not_hooked(dbfork_pool *p, int slot, pid_t pid, int eof) {
  char how[96], msg[700];
  dbfork__err e;
  int st = 0, i;
  pid_t w = waitpid(pid, &st, WNOHANG);
  /* EOF: it is exiting (or closed fd 3); give its exit a moment to show */
  for (i = 0; eof && w == 0 && i < 100; i++) {
    dbfork__sleep_ms(2);
    w = waitpid(pid, &st, WNOHANG);
  }
  if (w == pid)
    snprintf(how, sizeof how, "it exited (%s %d) without answering",
             WIFSIGNALED(st) ? "signal" : "status",
             WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
  else
    snprintf(how, sizeof how, "%s (killed)",
             eof ? "it closed its socket without answering" : "no answer within 5 s");
  if (w != pid) {
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
  }
  snprintf(msg, sizeof msg,
           "start_method spawn: worker %d (pid %ld, an exec of this program) did not reach "
           "dbfork_child_main(): %s. Make this the first statement of main(): %s",
           slot, (long)pid, how, SPAWN_HOOK_LINE);
  dbfork__err_set(&e, DBFORK_EINIT, 0, NULL, "%s", msg);
  dbfork__set_last_error(p, &e);
  dbfork__log(p, DBFORK_LOG_ERROR, "%s", msg);
}

static int spawn_launch(dbfork_pool *p, int slot, dbfork__child *out) {
  dbfork__bytes b = {0};
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  sigset_t none, all;
  spawn_head h;
  spawn_ready r;
  char marker[64], why[512], *argv[2], **envp = NULL;
  int sv[2] = {-1, -1}, ipc = -1, shm = -1, rc;
  pid_t pid = 0;
  why[0] = 0;
  memset(&h, 0, sizeof h);
  h.magic = SPAWN_MAGIC;
  h.slot = slot;
  h.nslots = p->nslots;
  prctl(PR_GET_NAME, h.comm, 0, 0, 0);
  /* The whole current configuration, built per worker: nothing frozen. */
  if ((rc = dbfork__conf_encode(&b, p->o)) != 0 || (rc = encode_ptrs(&b, p->o, why, sizeof why)))
    goto out;
  if (b.len > SPAWN_MAX) {
    rc = DBFORK_EINVAL;
    goto out;
  }
  h.len = (uint32_t)b.len;
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
    rc = -errno;
    goto out;
  }
  /* Above the numbers they go to, so that no dup2 lands on the other. */
  ipc = fcntl(sv[1], F_DUPFD_CLOEXEC, 10);
  shm = fcntl(p->shm_fd, F_DUPFD_CLOEXEC, 10);
  snprintf(marker, sizeof marker, SPAWN_ENV "=%d,%ld", SPAWN_IPC_FD, (long)getpid());
  if (ipc < 0 || shm < 0 || !(envp = marked_env(marker))) {
    rc = ipc < 0 || shm < 0 ? -errno : DBFORK_ENOMEM;
    goto out;
  }
  argv[0] = prog_argv0 ? prog_argv0 : (char *)"dbfork-worker";
  argv[1] = NULL; /* only argv[0]: the program's arguments may hold secrets */
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, ipc, SPAWN_IPC_FD);
  posix_spawn_file_actions_adddup2(&fa, shm, SPAWN_SHM_FD);
#if defined(__GLIBC__) && __GLIBC_PREREQ(2, 34)
  posix_spawn_file_actions_addclosefrom_np(&fa, SPAWN_SHM_FD + 1);
#endif
  posix_spawnattr_init(&at);
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&at, &none);
  posix_spawnattr_setsigdefault(&at, &all);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  rc = -posix_spawn(&pid, "/proc/self/exe", &fa, &at, argv, envp);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  if (rc) {
    pid = 0;
    goto out;
  }
  close(sv[1]);
  sv[1] = -1;
  /* The hook answers first; only then does the configuration (with the
   * credentials) go out. */
  rc = dbfork__wait_readable(sv[0], SPAWN_READY_MS);
  if (rc != 0 || dbfork__read_full(sv[0], &r, sizeof r) != 0 || r.magic != SPAWN_MAGIC ||
      r.pid != (uint32_t)pid) {
    not_hooked(p, slot, pid, rc == 0);
    pid = 0;
    rc = DBFORK_EINIT;
    goto out;
  }
  if (dbfork__write_full(sv[0], &h, sizeof h) != 0 || dbfork__write_full(sv[0], b.p, b.len) != 0) {
    /* It died at once; its exit is seen, and counted, like any other. */
  }
  out->pid = pid;
  out->fd = sv[0];
  sv[0] = -1;
  out->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (out->pidfd >= 0) fcntl(out->pidfd, F_SETFD, FD_CLOEXEC);
out:
  if (rc == DBFORK_EINVAL && why[0]) dbfork__log(p, DBFORK_LOG_ERROR, "%s", why);
  if (sv[0] >= 0) close(sv[0]);
  if (sv[1] >= 0) close(sv[1]);
  if (ipc >= 0) close(ipc);
  if (shm >= 0) close(shm);
  free(envp);
  free(b.p);
  return rc;
}

const dbfork__launcher dbfork__launch_spawn = {"spawn", spawn_start, spawn_launch, NULL};
