/*
 * confwire.c — the pool's configuration on the wire, for workers that are
 * not a fork() of the pool's process (the forkserver's and spawn's): the
 * options struct, its strings and the task table, encoded by the pool for
 * every worker it starts (so nothing is frozen), decoded by the worker.
 * A pure codec over caller buffers; pointers in the options travel as they
 * are, and a method whose worker has another address space (spawn)
 * translates them itself (spawn.c).
 */
#include "internal.h"

#include <string.h>

/* [dbfork_options][ntasks x dbfork_task_def][13 strings][ntasks names],
 * each string as u32 length (UINT32_MAX for NULL) and its bytes. */
#define NSTR 13
static const char **str_field(dbfork_options *o, int i) {
  const char **f[NSTR] = {&o->host,        &o->unix_socket, &o->user,          &o->password,
                          &o->database,    &o->charset,     &o->defaults_file, &o->defaults_group,
                          &o->ssl_mode,    &o->ssl_ca,      &o->ssl_cert,      &o->ssl_key,
                          &o->program_name};
  return f[i];
}

int dbfork__wire_put_str(dbfork__bytes *b, const char *s) {
  uint32_t n = s ? (uint32_t)strlen(s) : UINT32_MAX;
  if (dbfork__bytes_add(b, &n, sizeof n)) return DBFORK_ENOMEM;
  return s ? dbfork__bytes_add(b, s, n) : 0;
}

const char *dbfork__wire_get_str(const uint8_t **p, const uint8_t *end, int *bad) {
  uint32_t n;
  char *s;
  if ((size_t)(end - *p) < sizeof n) return *bad = 1, NULL;
  memcpy(&n, *p, sizeof n);
  *p += sizeof n;
  if (n == UINT32_MAX) return NULL;
  if ((size_t)(end - *p) < n || !(s = malloc((size_t)n + 1))) return *bad = 1, NULL;
  memcpy(s, *p, n);
  s[n] = 0;
  *p += n;
  return s;
}

int dbfork__conf_encode(dbfork__bytes *b, const dbfork_options *o) {
  dbfork_options c = *o;
  unsigned int i;
  int rc = 0;
  rc |= dbfork__bytes_add(b, &c, sizeof c);
  for (i = 0; i < o->ntasks; i++) rc |= dbfork__bytes_add(b, &o->tasks[i], sizeof o->tasks[i]);
  for (i = 0; i < NSTR; i++) rc |= dbfork__wire_put_str(b, *str_field(&c, (int)i));
  for (i = 0; i < o->ntasks; i++) rc |= dbfork__wire_put_str(b, o->tasks[i].name);
  return rc ? DBFORK_ENOMEM : 0;
}

size_t dbfork__conf_decode(dbfork_options *o, const uint8_t *p, size_t len) {
  const uint8_t *start = p, *end = p + len;
  dbfork_task_def *t;
  unsigned int i;
  int bad = 0;
  if (len < sizeof *o) return 0;
  memcpy(o, p, sizeof *o);
  p += sizeof *o;
  if (o->ntasks == 0 || o->ntasks > 65535 || (size_t)(end - p) < o->ntasks * sizeof *t) return 0;
  if (!(t = calloc(o->ntasks, sizeof *t))) return 0;
  memcpy(t, p, o->ntasks * sizeof *t);
  p += o->ntasks * sizeof *t;
  for (i = 0; i < NSTR; i++) *str_field(o, (int)i) = dbfork__wire_get_str(&p, end, &bad);
  for (i = 0; i < o->ntasks; i++) t[i].name = dbfork__wire_get_str(&p, end, &bad);
  o->tasks = t;
  o->loop = NULL; /* the parent's; never the worker's */
  return bad ? 0 : (size_t)(p - start);
}
