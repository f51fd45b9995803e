/*
 * worker.c — exec's worker half: one task is one chunk, run in the
 * transaction the pool opened (options.transaction = 1). In it, in order:
 *
 *  1. the claim (job_claim): the chunk's plan row is locked, then its
 *     progress row looked for. If it is there, an earlier attempt whose
 *     COMMIT outcome was unknown did commit (or, in a shared job, another
 *     process did): nothing runs, the counts come from the row (the reply
 *     says "recovered"). In a shared job the lock skips a row another
 *     process holds: nothing runs (the reply says "elsewhere");
 *  2. every statement with {chunk} replaced by the chunk's condition; one
 *     that matches more than max_rows_per_chunk rows fails the chunk;
 *  3. the chunk's progress row. The pool then commits all of it together.
 */
#include "execint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int exec_on_connect(dbfork_worker *w, void *arg) {
  const dbfork_exec *x = arg;
  char sql[200];
  snprintf(sql, sizeof sql, "SET SESSION innodb_lock_wait_timeout = %u", x->c.lock_wait_timeout);
  if (mysql_query(dbfork_worker_mysql(w), sql)) return DBFORK_ESQL;
  if (x->c.shared && job_worker_session_limits(dbfork_worker_mysql(w), x->eo.dead_after))
    return DBFORK_ESQL;
  return exec_hosts_worker(dbfork_worker_mysql(w), &x->c);
}

typedef struct claim_rows {
  int mine;
  exec_reply r;
} claim_rows;

static int claim_row(void *ud, uint64_t chunk, uint64_t part, MYSQL_ROW cols) {
  claim_rows *cr = ud;
  (void)chunk;
  if (part != 1) return 0;
  cr->mine = 1;
  cr->r.rows_matched = cols[0] ? strtoull(cols[0], NULL, 10) : 0;
  cr->r.rows_affected = cols[1] ? strtoull(cols[1], NULL, 10) : 0;
  cr->r.duration_us = (cols[2] ? strtoull(cols[2], NULL, 10) : 0) * 1000;
  return 0;
}

static int reply(dbfork_worker *w, const exec_reply *r) {
  unsigned char buf[EXEC_REPLY_SIZE];
  exec_reply_encode(r, buf);
  return dbfork_worker_reply(w, buf, sizeof buf);
}

/* Rows a statement matched: an UPDATE's "Rows matched", an INSERT ...
 * SELECT's "Records", else the rows it affected. */
static uint64_t matched(MYSQL *m, uint64_t affected) {
  const char *info = mysql_info(m), *p;
  if (info && (p = strstr(info, "Rows matched: "))) return strtoull(p + 14, NULL, 10);
  if (info && (p = strstr(info, "Records: "))) return strtoull(p + 9, NULL, 10);
  return affected;
}

int exec_worker_task(dbfork_worker *w, const void *in, size_t len, void *arg) {
  const dbfork_exec *x = arg;
  const exec_conf *c = &x->c;
  MYSQL *m = dbfork_worker_mysql(w);
  exec_chunk_msg msg;
  claim_rows cr;
  exec_reply r;
  uint64_t t0 = now_us();
  int i, rc;
  if (exec_chunk_decode(&msg, in, len))
    return dbfork_worker_fail(w, DBFORK_EPROTO, 0, NULL, "malformed chunk descriptor");
  memset(&cr, 0, sizeof cr);
  rc = c->shared ? job_claim_shared(w, &c->t, msg.chunk, EXEC_PROGRESS_SELECT, claim_row, &cr)
                 : job_claim(w, &c->t, msg.chunk, EXEC_PROGRESS_SELECT, claim_row, &cr);
  if (rc == JOB_CLAIM_TAKEN && c->shared) {
    memset(&r, 0, sizeof r);
    r.flags = EXEC_REPLY_ELSEWHERE;
    return reply(w, &r);
  }
  if (rc) return rc;
  if (cr.mine) {
    cr.r.flags = EXEC_REPLY_RECOVERED;
    return reply(w, &cr.r);
  }
  memset(&r, 0, sizeof r);
  for (i = 0; i < c->nstmts; i++) {
    char *sql = exec_substitute(c->stmts[i], msg.cond, msg.cond_len);
    MYSQL_RES *res;
    uint64_t aff, mat;
    if (!sql) return dbfork_worker_fail(w, DBFORK_ENOMEM, 0, NULL, "out of memory");
    rc = mysql_real_query(m, sql, (unsigned long)strlen(sql));
    free(sql);
    if (rc)
      return dbfork_worker_fail(w, DBFORK_ESQL, mysql_errno(m), mysql_sqlstate(m),
                                "chunk %llu (keys above %.*s up to %.*s), statement %d: %s",
                                (unsigned long long)msg.chunk, (int)msg.from_len, msg.key_from,
                                (int)msg.to_len, msg.key_to, i + 1, mysql_error(m));
    if ((res = mysql_store_result(m)) != NULL) mysql_free_result(res);
    aff = mysql_affected_rows(m) == (my_ulonglong)-1 ? 0 : (uint64_t)mysql_affected_rows(m);
    mat = matched(m, aff);
    if (c->max_rows_per_chunk && mat > c->max_rows_per_chunk)
      return dbfork_worker_fail(w, DBFORK_ETASK, 0, NULL,
                                "chunk %llu (keys above %.*s up to %.*s), statement %d matched "
                                "%llu rows, more than --max-rows-per-chunk=%llu (%llu keys were "
                                "planned): rolled back",
                                (unsigned long long)msg.chunk, (int)msg.from_len, msg.key_from,
                                (int)msg.to_len, msg.key_to, i + 1, (unsigned long long)mat,
                                (unsigned long long)c->max_rows_per_chunk,
                                (unsigned long long)msg.rows_planned);
    r.rows_affected += aff;
    r.rows_matched += mat;
  }
  r.duration_us = now_us() - t0;
  if (exec_record(w, c, &msg, &r))
    return dbfork_worker_fail(w, DBFORK_ESQL, mysql_errno(m), mysql_sqlstate(m),
                              "chunk %llu: recording its progress row in %s: %s",
                              (unsigned long long)msg.chunk, c->t.progress, mysql_error(m));
  return reply(w, &r);
}
