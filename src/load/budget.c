/*
 * budget.c — the --max-errors budget when there is no job table to keep it
 * (no_resume): one small shared mapping, made by the parent before the
 * pool forks, so that every worker sees it.
 *
 * A worker reserves its part's rejects just before the pool commits the
 * part (load_shared_reserve); the reservation is keyed by (chunk, part), so
 * a retry of the part, in whichever worker, replaces the reservation of
 * the attempt that died. The parent settles it when the part has ended: a
 * committed part's rejects stay used, any other ending gives them back.
 * A process-shared robust mutex guards it: a worker killed while holding
 * it leaves it to the next one (EOWNERDEAD), not locked forever.
 */
#include "loader.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

struct load_shared {
  pthread_mutex_t mu;
  size_t size; /* of the mapping */
  unsigned n;  /* entries */
  uint64_t used;
  struct resv {
    uint64_t chunk, part, rejects;
    int held;
  } e[];
};

struct load_shared *load_shared_new(unsigned entries) {
  size_t size = sizeof(struct load_shared) + (size_t)entries * sizeof(struct resv);
  pthread_mutexattr_t a;
  struct load_shared *s =
      mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (s == MAP_FAILED) return NULL;
  memset(s, 0, size);
  s->size = size;
  s->n = entries;
  if (pthread_mutexattr_init(&a) || pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) ||
      pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) || pthread_mutex_init(&s->mu, &a)) {
    munmap(s, size);
    return NULL;
  }
  pthread_mutexattr_destroy(&a);
  return s;
}

void load_shared_free(struct load_shared *s) {
  if (s) munmap(s, s->size);
}

static void lock(struct load_shared *s) {
  if (pthread_mutex_lock(&s->mu) == EOWNERDEAD) pthread_mutex_consistent(&s->mu);
}

static struct resv *find(struct load_shared *s, uint64_t chunk, uint64_t part) {
  unsigned i;
  for (i = 0; i < s->n; i++)
    if (s->e[i].held && s->e[i].chunk == chunk && s->e[i].part == part) return &s->e[i];
  return NULL;
}

int load_shared_reserve(struct load_shared *s, uint64_t max, uint64_t chunk, uint64_t part,
                        uint64_t n) {
  struct resv *r;
  unsigned i;
  int rc = 0;
  lock(s);
  if ((r = find(s, chunk, part)) != NULL) { /* an earlier attempt's, which did not commit */
    s->used -= r->rejects;
    r->held = 0;
  }
  if (s->used + n > max) {
    rc = 1;
  } else {
    for (i = 0; i < s->n && s->e[i].held; i++) {
    }
    if (i == s->n) {
      rc = -1;
    } else {
      s->e[i].chunk = chunk;
      s->e[i].part = part;
      s->e[i].rejects = n;
      s->e[i].held = 1;
      s->used += n;
    }
  }
  pthread_mutex_unlock(&s->mu);
  return rc;
}

uint64_t load_shared_used(struct load_shared *s) {
  uint64_t v;
  lock(s);
  v = s->used;
  pthread_mutex_unlock(&s->mu);
  return v;
}

void load_shared_settle(struct load_shared *s, uint64_t chunk, uint64_t part, int committed) {
  struct resv *r;
  if (!s) return;
  lock(s);
  if ((r = find(s, chunk, part)) != NULL) {
    if (!committed) s->used -= r->rejects;
    r->held = 0;
  }
  pthread_mutex_unlock(&s->mu);
}
