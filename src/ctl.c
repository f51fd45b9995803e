/*
 * ctl.c — the parent's control connection: the one session that sends KILL
 * <id> for a lost worker's session and KILL QUERY <id> for a soft time
 * limit. Opened lazily with the pool's options, bounded in every step. Its
 * calls block: the adapter runs them on libuv's threadpool, one at a time
 * (the mutex), so the loop never waits for the server.
 */
#include "parent.h"

#include <mysql.h>
#include <string.h>

/* A failure quicker than this was a stale connection (server restarted,
 * wait_timeout), worth one more try on a new one; a slower one timed out. */
#define KILL_STALE_MS 500

struct dbfork__ctl {
  pthread_mutex_t mu;
  MYSQL *m;
};

dbfork__ctl *dbfork__ctl_new(void) {
  dbfork__ctl *c = calloc(1, sizeof *c);
  if (c) pthread_mutex_init(&c->mu, NULL);
  return c;
}

void dbfork__ctl_free(dbfork__ctl *c) {
  if (!c) return;
  if (c->m) dbfork__mysql_close(c->m); /* clean COM_QUIT */
  pthread_mutex_destroy(&c->mu);
  free(c);
}

void dbfork__ctl_lock(dbfork__ctl *c) { pthread_mutex_lock(&c->mu); }
void dbfork__ctl_unlock(dbfork__ctl *c) { pthread_mutex_unlock(&c->mu); }

int dbfork__ctl_kill(dbfork__ctl *c, const dbfork_options *o, unsigned long id, int query_only,
                     uint64_t deadline_ms, char *why, size_t whylen) {
  char sql[64];
  int tries, ok = 0;
  dbfork__err e;
  snprintf(sql, sizeof sql, "KILL %s%lu", query_only ? "QUERY " : "", id);
  pthread_mutex_lock(&c->mu);
  mysql_thread_init();
  snprintf(why, whylen, "not done within %u ms", DBFORK__KILL_DEADLINE_MS);
  for (tries = 0; tries < 2; tries++) {
    uint64_t now = dbfork__now_ms();
    unsigned int err;
    if (now >= deadline_ms) break;
    if (!c->m && dbfork__mysql_connect(o, -1, (unsigned int)(deadline_ms - now), &c->m, &e)) {
      snprintf(why, whylen, "%.150s", e.msg);
      break;
    }
    now = dbfork__now_ms();
    if (mysql_query(c->m, sql) == 0 || (err = mysql_errno(c->m)) == 1094 /* no such id */) {
      ok = 1;
      break;
    }
    snprintf(why, whylen, "%.150s", mysql_error(c->m));
    if (!dbfork__mysql_is_lost(err)) break;
    /* Lost or timed out: closed here, opened again by the next KILL. */
    dbfork__mysql_close(c->m);
    c->m = NULL;
    if (dbfork__now_ms() - now >= KILL_STALE_MS) break;
  }
  mysql_thread_end();
  pthread_mutex_unlock(&c->mu);
  return ok;
}
