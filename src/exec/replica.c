/*
 * replica.c — the replicas exec watches (dbfork/exec.h, "Replicas"): the
 * parent's own connection to each, and its lag read by column name from
 * whichever status statement the server has. When to read it and what a
 * lag does is throttle.c's.
 */
#include "execint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int exec_replica_connect(dbfork_exec *x, exec_replica *r, char *err, size_t errlen) {
  dbfork_options o = x->po;
  char name[128];
  const exec_dsn *d = &r->d;
  if (r->m) return 0;
  r->stmt = 0;
  snprintf(name, sizeof name, "%s-replica", x->po.program_name);
  o.program_name = name;
  o.database = NULL;
  o.charset = "utf8mb4";
  o.connect_timeout = 2; /* a reconnect blocks the loop: keep it short */
  o.local_infile = 0;
  /* A replica is another server: host, port and socket are the DSN's
   * only; user and password the DSN's, else F's, else the job's. */
  o.host = d->host[0] ? d->host : NULL;
  o.port = d->port;
  o.unix_socket = d->sock[0] ? d->sock : NULL;
  if (!o.host && !o.unix_socket && d->port) o.host = "127.0.0.1";
  if (d->file[0]) {
    o.defaults_file = d->file;
    o.no_defaults = 0;
    o.user = NULL;
    o.password = NULL;
  }
  if (d->has_user) o.user = d->user;
  if (d->has_pass) o.password = d->pass;
  r->last_connect = exec_now();
  if (dbfork_connect(&r->m, &o, err, errlen)) {
    r->m = NULL;
    r->lag = EXEC_LAG_LOST;
    return DBFORK_ECONNECT;
  }
  return 0;
}

static int lost_code(unsigned e) {
  return e == 2006 || e == 2013 || e == 2002 || e == 2003 || e == 2055;
}

static const char *const stmts[] = {NULL, "SHOW ALL SLAVES STATUS", "SHOW REPLICA STATUS",
                                    "SHOW SLAVE STATUS"};

int exec_replica_read(exec_replica *r, char *err, size_t errlen) {
  MYSQL_RES *res = NULL;
  MYSQL_ROW row;
  MYSQL_FIELD *f;
  unsigned i, nf, col = (unsigned)-1;
  int s = r->stmt ? r->stmt : 1, rows = 0, stopped = 0;
  double lag = 0;
  if (!r->m) {
    r->lag = EXEC_LAG_LOST;
    snprintf(err, errlen, "not connected");
    return -1;
  }
  /* The first statement the server knows, remembered: MariaDB has all
   * three, MySQL 8 the last two (SHOW SLAVE STATUS deprecated). */
  for (;; s++) {
    if (!mysql_query(r->m, stmts[s]) && (res = mysql_store_result(r->m)) != NULL) break;
    if (mysql_errno(r->m) != 1064 || r->stmt || s == 3) {
      unsigned e = mysql_errno(r->m);
      snprintf(err, errlen, "%s: %s (MySQL error %u)", stmts[s], mysql_error(r->m), e);
      if (lost_code(e) || !e) {
        dbfork_mysql_close(r->m);
        r->m = NULL;
        r->lag = EXEC_LAG_LOST;
        return -1;
      }
      r->lag = EXEC_LAG_LOST;
      return -2;
    }
  }
  r->stmt = s;
  nf = mysql_num_fields(res);
  f = mysql_fetch_fields(res);
  for (i = 0; i < nf; i++)
    if (!strcmp(f[i].name, "Seconds_Behind_Master") || !strcmp(f[i].name, "Seconds_Behind_Source"))
      col = i;
  if (col == (unsigned)-1) {
    mysql_free_result(res);
    snprintf(err, errlen, "%s has no column Seconds_Behind_Master or Seconds_Behind_Source",
             stmts[s]);
    r->lag = EXEC_LAG_LOST;
    return -2;
  }
  while ((row = mysql_fetch_row(res)) != NULL) {
    rows++;
    if (!row[col])
      stopped = 1;
    else if (strtod(row[col], NULL) > lag)
      lag = strtod(row[col], NULL);
  }
  mysql_free_result(res);
  r->lag = stopped || !rows ? EXEC_LAG_STOPPED : lag;
  if (!rows) snprintf(err, errlen, "%s is empty: the server replicates from nobody", stmts[s]);
  return 0;
}

int exec_replicas_open(dbfork_exec *x) {
  size_t i;
  char err[600];
  for (i = 0; i < x->nreps; i++) {
    exec_replica *r = &x->reps[i];
    int rc;
    if (exec_replica_connect(x, r, err, sizeof err))
      return exec_set_err(x, DBFORK_ECONNECT, "replica %s: cannot connect: %s", r->d.shown, err);
    err[0] = '\0';
    rc = exec_replica_read(r, err, sizeof err);
    if (rc == -1) return exec_set_err(x, DBFORK_ECONNECT, "replica %s: %s", r->d.shown, err);
    if (rc == -2)
      return exec_set_err(
          x, exec_access_denied(r->m ? mysql_errno(r->m) : 0) ? DBFORK_EACCES : DBFORK_ESQL,
          "replica %s: %s", r->d.shown, err);
    if (err[0]) /* no replication at all: not a replica */
      return exec_set_err(x, DBFORK_EINVAL, "replica %s: %s", r->d.shown, err);
    if (r->lag < 0)
      exec_log(x, DBFORK_LOG_INFO,
               "replica %s: replication is stopped (Seconds_Behind_Master is NULL): no chunk "
               "starts until it runs",
               r->d.shown);
    else
      exec_log(x, DBFORK_LOG_INFO, "replica %s: lag %.0f s", r->d.shown, r->lag);
  }
  return 0;
}

void exec_replicas_close(dbfork_exec *x) {
  size_t i;
  for (i = 0; i < x->nreps; i++)
    if (x->reps[i].m) {
      dbfork_mysql_close(x->reps[i].m);
      x->reps[i].m = NULL;
    }
}
