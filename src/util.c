/*
 * util.c — small pieces both sides of the fork use: error detail, the
 * always-on assertion, clocks, jitter, and the options copy.
 */
#include "internal.h"

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

void dbfork__panic(const char *file, int line, const char *what) {
  /* No log callback here: we may be in a child whose parent is gone. A line
   * on stderr and an abort is the most useful thing left to do. */
  fprintf(stderr, "dbfork: %s:%d: impossible state: %s (pid %ld)\n", file, line, what,
          (long)getpid());
  abort();
}

void dbfork__err_vset(dbfork__err *e, int code, unsigned int mysql_errno, const char *sqlstate,
                      const char *fmt, va_list ap) {
  e->code = code;
  e->mysql_errno = mysql_errno;
  snprintf(e->sqlstate, sizeof e->sqlstate, "%s", sqlstate ? sqlstate : "");
  if (fmt)
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  else
    snprintf(e->msg, sizeof e->msg, "%s", dbfork_strerror(code));
}

void dbfork__err_set(dbfork__err *e, int code, unsigned int mysql_errno, const char *sqlstate,
                     const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  dbfork__err_vset(e, code, mysql_errno, sqlstate, fmt, ap);
  va_end(ap);
}

uint64_t dbfork__now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void dbfork__sleep_ms(unsigned int ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

unsigned int dbfork__rand(unsigned int n) {
  /* xorshift, reseeded when the pid changes so that forked workers do not
   * all draw the same jitter. */
  static uint64_t state;
  static pid_t seeded_for;
  pid_t me = getpid();
  if (n == 0) return 0;
  if (seeded_for != me) {
    state = ((uint64_t)me << 32) ^ dbfork__now_ms() ^ 0x9e3779b97f4a7c15ull;
    seeded_for = me;
  }
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return (unsigned int)(state % n);
}

int dbfork__bytes_reserve(dbfork__bytes *b, size_t more) {
  size_t cap = b->cap ? b->cap : 4096;
  uint8_t *np;
  if (b->len + more <= b->cap) return 0;
  while (cap < b->len + more) cap *= 2;
  np = realloc(b->p, cap);
  if (!np) return DBFORK_ENOMEM;
  b->p = np;
  b->cap = cap;
  return 0;
}

int dbfork__bytes_add(dbfork__bytes *b, const void *p, size_t n) {
  if (!n) return 0;
  if (dbfork__bytes_reserve(b, n)) return DBFORK_ENOMEM;
  memcpy(b->p + b->len, p, n);
  b->len += n;
  return 0;
}

size_t dbfork__rss_bytes(pid_t pid) {
  char path[64];
  long pages = 0, resident = 0;
  FILE *f;
  if (pid)
    snprintf(path, sizeof path, "/proc/%ld/statm", (long)pid);
  else
    snprintf(path, sizeof path, "/proc/self/statm");
  f = fopen(path, "r");
  if (!f) return 0;
  if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
  fclose(f);
  return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

/* The name in parentheses: dbfork.h's macro of the same name is not expanded. */
void(dbfork_options_init)(dbfork_options *o, size_t size) {
  if (!o || size < sizeof o->size) return;
  memset(o, 0, size);
  o->size = size;
}

static int own_str(dbfork__conf *c, const char **field, int *k) {
  if (!*field) return 0;
  if (*k >= (int)(sizeof c->strs / sizeof c->strs[0])) return DBFORK_ENOMEM;
  c->strs[*k] = strdup(*field);
  if (!c->strs[*k]) return DBFORK_ENOMEM;
  *field = c->strs[(*k)++];
  return 0;
}

/* The task table: the library's own copy, names included. */
static int conf_tasks(dbfork__conf *c, char *why, size_t whylen) {
  dbfork_options *o = &c->o;
  const size_t min = DBFORK__TASK_DEF_SIZE_1_0;
  unsigned int i, j, n = o->ntasks;
  size_t stride;
  if (!o->tasks) {
    c->tasks = calloc(1, sizeof *c->tasks);
    if (!c->tasks) return DBFORK_ENOMEM;
    c->ntasks = 1;
    c->tasks[0].size = sizeof *c->tasks;
    if (!(c->tasks[0].name = strdup("task"))) return DBFORK_ENOMEM;
    c->tasks[0].fn = o->task;
    c->tasks[0].arg = o->task_arg;
    return 0;
  }
  if (o->task) {
    snprintf(why, whylen, "options task and tasks are both set: use one");
    return DBFORK_EINVAL;
  }
  if (n == 0 || n > 65535) {
    snprintf(why, whylen, "option ntasks=%u out of range 1..65535", n);
    return DBFORK_EINVAL;
  }
  /* Every entry was compiled with the same sizeof: the first one's is the
   * table's stride (docs/ABI.md). */
  stride = o->tasks[0].size;
  if (stride < min || stride > DBFORK__STRUCT_SIZE_MAX) {
    snprintf(why, whylen, "tasks[0].size=%zu: write task entries with DBFORK_TASK()", stride);
    return DBFORK_EINVAL;
  }
  c->tasks = calloc(n, sizeof *c->tasks);
  if (!c->tasks) return DBFORK_ENOMEM;
  c->ntasks = n;
  /* Each entry's name is copied as soon as it is checked: the names in
   * c->tasks are always the library's own (conf_free frees them). */
  for (i = 0; i < n; i++) {
    const dbfork_task_def *in = (const void *)((const char *)o->tasks + (size_t)i * stride);
    dbfork_task_def *t = &c->tasks[i];
    const char *name;
    if (in->size != stride || dbfork_abi_copy_in(t, sizeof *t, in, stride) != 0) {
      t->name = NULL;
      snprintf(why, whylen, "tasks[%u]: size %zu, or a field this library does not know", i,
               in->size);
      return DBFORK_EINVAL;
    }
    name = t->name;
    t->name = NULL;
    t->size = sizeof *t;
    if (!name || !*name) {
      snprintf(why, whylen, "tasks[%u] has no name", i);
      return DBFORK_EINVAL;
    }
    for (j = 0; j < i; j++)
      if (!strcmp(c->tasks[j].name, name)) {
        snprintf(why, whylen, "tasks[%u] and tasks[%u] are both named '%s'", j, i, name);
        return DBFORK_EINVAL;
      }
    if (!(t->name = strdup(name))) return DBFORK_ENOMEM;
  }
  return 0;
}

int dbfork__conf_init(dbfork__conf *c, const dbfork_options *in, char *why, size_t whylen) {
  dbfork_options *o = &c->o;
  const char **strs[] = {&o->host,        &o->unix_socket, &o->user,          &o->password,
                         &o->database,    &o->charset,     &o->defaults_file, &o->defaults_group,
                         &o->ssl_mode,    &o->ssl_ca,      &o->ssl_cert,      &o->ssl_key,
                         &o->program_name};
  int k = 0, rc;
  size_t i;
  memset(c, 0, sizeof *c);
  why[0] = 0;
  /* The caller's struct is as long as its program's dbfork.h made it: read
   * that much, not ours (docs/ABI.md). */
  if (in->size < DBFORK__OPTIONS_SIZE_1_0 || in->size > DBFORK__STRUCT_SIZE_MAX) {
    snprintf(why, whylen,
             "options.size=%zu is no dbfork_options size: initialise the options with "
             "dbfork_options_init()",
             in->size);
    return DBFORK_EINVAL;
  }
  if (dbfork_abi_copy_in(o, sizeof *o, in, in->size) != 0) {
    snprintf(why, whylen,
             "the options set a field libdbfork %s does not know (the program was built "
             "against a newer dbfork.h)",
             dbfork_version());
    return DBFORK_EINVAL;
  }
  o->size = sizeof *o;
  if (o->workers < 0 || o->workers > 4096) {
    snprintf(why, whylen, "option workers=%d out of range 1..4096", o->workers);
    return DBFORK_EINVAL;
  }
  if (o->ssl_mode && strcmp(o->ssl_mode, "DISABLED") && strcmp(o->ssl_mode, "PREFERRED") &&
      strcmp(o->ssl_mode, "REQUIRED") && strcmp(o->ssl_mode, "VERIFY_CA") &&
      strcmp(o->ssl_mode, "VERIFY_IDENTITY")) {
    snprintf(why, whylen,
             "option ssl_mode='%s' is not one of DISABLED, PREFERRED, REQUIRED, VERIFY_CA, "
             "VERIFY_IDENTITY",
             o->ssl_mode);
    return DBFORK_EINVAL;
  }
  if (o->start_method < DBFORK_START_FORK || o->start_method > DBFORK_START_SPAWN) {
    snprintf(why, whylen,
             "option start_method=%d is not one of DBFORK_START_FORK (0), "
             "DBFORK_START_FORKSERVER (1), DBFORK_START_SPAWN (2)",
             o->start_method);
    return DBFORK_EINVAL;
  }
  if (o->max_payload > (1u << 30)) {
    snprintf(why, whylen, "option max_payload=%zu above the 1 GiB frame limit", o->max_payload);
    return DBFORK_EINVAL;
  }
  if ((rc = conf_tasks(c, why, whylen)) != 0) {
    if (rc == DBFORK_ENOMEM) snprintf(why, whylen, "out of memory copying the task table");
    dbfork__conf_free(c);
    return rc;
  }
  o->tasks = c->tasks;
  o->ntasks = c->ntasks;
  o->task = NULL;
  o->task_arg = NULL;
  if (!o->workers) o->workers = DBFORK__DEF_WORKERS;
  if (!o->charset) o->charset = "utf8mb4";
  if (!o->defaults_group) o->defaults_group = "dbfork";
  if (!o->program_name) o->program_name = "dbfork";
  if (!o->connect_timeout) o->connect_timeout = DBFORK__DEF_CONNECT_TIMEOUT;
  if (!o->queue_max) o->queue_max = DBFORK__DEF_QUEUE;
  if (!o->prefetch) o->prefetch = DBFORK__DEF_PREFETCH;
  if (!o->max_payload) o->max_payload = DBFORK__DEF_MAX_PAYLOAD;
  if (o->retries_off)
    o->max_retries = 0;
  else if (!o->max_retries)
    o->max_retries = DBFORK__DEF_RETRIES;
  if (!o->retry_backoff_ms) o->retry_backoff_ms = DBFORK__DEF_BACKOFF_MS;
  if (!o->max_start_failures) o->max_start_failures = DBFORK__DEF_START_FAILS;
  if (!o->start_backoff_ms) o->start_backoff_ms = DBFORK__DEF_START_BACKOFF_MS;
  if (!o->idle_ping_ms) o->idle_ping_ms = DBFORK__DEF_IDLE_PING_MS;
  if (!o->term_grace_ms) o->term_grace_ms = DBFORK__DEF_GRACE_MS;
  if (!o->log_level) o->log_level = DBFORK_LOG_INFO;
  for (i = 0; i < sizeof strs / sizeof strs[0]; i++)
    if (own_str(c, strs[i], &k)) {
      dbfork__conf_free(c);
      snprintf(why, whylen, "out of memory copying options");
      return DBFORK_ENOMEM;
    }
  return 0;
}

void dbfork__conf_free(dbfork__conf *c) {
  size_t i;
  for (i = 0; i < sizeof c->strs / sizeof c->strs[0]; i++) {
    /* Passwords leave no copy behind in freed memory. */
    if (c->strs[i]) memset(c->strs[i], 0, strlen(c->strs[i]));
    free(c->strs[i]);
    c->strs[i] = NULL;
  }
  for (i = 0; c->tasks && i < c->ntasks; i++) free((char *)c->tasks[i].name);
  free(c->tasks);
  c->tasks = NULL;
  c->ntasks = 0;
}

/* ---- blocking I/O on a socket to a worker or helper not yet on a loop ---- */
int dbfork__read_full(int fd, void *buf, size_t n) {
  uint8_t *b = buf;
  while (n) {
    ssize_t r = read(fd, b, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    b += r;
    n -= (size_t)r;
  }
  return 0;
}

int dbfork__write_full(int fd, const void *buf, size_t n) {
  const uint8_t *b = buf;
  while (n) {
    ssize_t r = send(fd, b, n, MSG_NOSIGNAL);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    b += r;
    n -= (size_t)r;
  }
  return 0;
}

int dbfork__wait_readable(int fd, unsigned int ms) {
  struct pollfd pf = {fd, POLLIN, 0};
  uint64_t until = dbfork__now_ms() + ms;
  for (;;) {
    uint64_t now = dbfork__now_ms();
    int r = now >= until ? 0 : poll(&pf, 1, (int)(until - now));
    if (r > 0) return 0;
    if (r == 0) return -1;
    if (errno != EINTR) return -1;
  }
}
