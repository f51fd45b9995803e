/*
 * layer.c — what the layers (load, exec) do alike around their jobs: the
 * copy of their callers' size-first options and strings, the refusal of a
 * bad option, the default database, starting the workers' pool, counting
 * its busy workers. One piece of code, so that a fix reaches every layer.
 */
#include "job.h"

#include <dbfork/abi.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* No caller's struct is longer than this: a bigger size is garbage. */
#define STRUCT_SIZE_MAX 65536

int job_check_shared(const dbfork_options *conn, const char *name, double dead_after) {
  if (dead_after != 0 && (dead_after < 2 || dead_after > 3600 || dead_after != dead_after))
    return job_refuse(conn, "option --dead-after: %g is not within 2 .. 3600 seconds", dead_after);
  if (dead_after != 0 && !name)
    return job_refuse(conn, "option --dead-after: only for a shared job (--job)");
  if (name) {
    size_t k, len = strlen(name);
    if (len < 1 || len > 64)
      return job_refuse(conn, "option --job: '%s' is not 1 to 64 characters long", name);
    for (k = 0; k < len; k++) {
      char ch = name[k];
      if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '_' || ch == '.' || ch == '-'))
        return job_refuse(conn,
                          "option --job: '%s' has '%c' at column %zu (only A-Z a-z 0-9 _ . -)",
                          name, ch, k + 1);
    }
  }
  return 0;
}

int job_own(job_strings *ss, const char **s) {
  char *c;
  if (!*s) return 0;
  if (ss->n == (int)(sizeof ss->v / sizeof ss->v[0]) || !(c = strdup(*s))) return -1;
  ss->v[ss->n++] = c;
  *s = c;
  return 0;
}

int job_own_conn(job_strings *ss, dbfork_options *o) {
  return job_own(ss, &o->host) || job_own(ss, &o->unix_socket) || job_own(ss, &o->user) ||
                 job_own(ss, &o->password) || job_own(ss, &o->database) ||
                 job_own(ss, &o->charset) || job_own(ss, &o->defaults_file) ||
                 job_own(ss, &o->defaults_group) || job_own(ss, &o->ssl_mode) ||
                 job_own(ss, &o->ssl_ca) || job_own(ss, &o->ssl_cert) || job_own(ss, &o->ssl_key) ||
                 job_own(ss, &o->program_name)
             ? -1
             : 0;
}

void job_strings_free(job_strings *ss) {
  int i;
  for (i = 0; i < ss->n; i++) {
    memset(ss->v[i], 0, strlen(ss->v[i]));
    free(ss->v[i]);
  }
  ss->n = 0;
}

int job_refuse(const dbfork_options *conn, const char *fmt, ...) {
  char msg[700];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (conn && conn->log) conn->log(DBFORK_LOG_ERROR, msg, conn->log_arg);
  return DBFORK_EINVAL;
}

int job_copy_options(dbfork_options *conn, const dbfork_options *conn_in, size_t conn_min,
                     void *opts, size_t opts_size, const void *opts_in, size_t opts_min,
                     const char *name, const char *lib) {
  size_t in_size;
  if (conn_in->size < conn_min || conn_in->size > STRUCT_SIZE_MAX)
    return job_refuse(NULL, "dbfork_options.size=%zu: initialise them with dbfork_options_init()",
                      conn_in->size);
  if (dbfork_abi_copy_in(conn, sizeof *conn, conn_in, conn_in->size))
    return job_refuse(conn_in, "the dbfork_options set a field this %s does not know", lib);
  conn->size = sizeof *conn;
  memcpy(&in_size, opts_in, sizeof in_size);
  if (in_size < opts_min || in_size > STRUCT_SIZE_MAX)
    return job_refuse(conn, "%s.size=%zu: initialise them with %s_init()", name, in_size, name);
  if (dbfork_abi_copy_in(opts, opts_size, opts_in, in_size))
    return job_refuse(conn, "the %s set a field this %s does not know", name, lib);
  memcpy(opts, &opts_size, sizeof opts_size);
  return 0;
}

const char *job_default_db(MYSQL *m, const char *dbname, char *buf, size_t len) {
  MYSQL_RES *r;
  MYSQL_ROW row;
  if (dbname) return dbname;
  if (!len) return NULL;
  buf[0] = 0;
  if (!mysql_query(m, "SELECT DATABASE()") && (r = mysql_store_result(m))) {
    if ((row = mysql_fetch_row(r)) && row[0]) snprintf(buf, len, "%s", row[0]);
    mysql_free_result(r);
  }
  return buf[0] ? buf : NULL;
}

int job_pool_start(dbfork_pool **pool, const dbfork_options *o, char *err, size_t errlen) {
  int rc = dbfork_pool_new(pool, o);
  if (rc) {
    snprintf(err, errlen, "cannot create the pool: %s", dbfork_strerror(rc));
    return rc;
  }
  rc = dbfork_pool_start(*pool);
  if (rc) {
    const char *why = dbfork_pool_last_error(*pool);
    snprintf(err, errlen, "the workers could not start: %s", why[0] ? why : dbfork_strerror(rc));
    return rc == DBFORK_ECLOSED ? DBFORK_ECANCELED : rc;
  }
  return 0;
}

void job_workers_count(dbfork_pool *pool, int *workers, int *busy) {
  dbfork_worker_stats one[64], *ws = one;
  size_t cap = 64;
  int n, k;
  n = dbfork_pool_stats_get(pool, NULL, ws, cap);
  if (n > 64 && (ws = malloc((size_t)n * sizeof *ws)) != NULL) {
    cap = (size_t)n;
    n = dbfork_pool_stats_get(pool, NULL, ws, cap);
  } else if (!ws) {
    ws = one;
  }
  *workers = n;
  *busy = 0;
  for (k = 0; k < n && (size_t)k < cap; k++) *busy += ws[k].state == DBFORK_WORKER_BUSY;
  if (ws != one) free(ws);
}
